/*
 * registry.c - the transports ferryd runs, in the order they start (and
 * the reverse of the order they stop).  A new transport adds its line
 * here; see docs/transports.md.
 */
#include "config.h"

#include "transports/transport.h"

extern const struct transport_ops tcp_transport;      /* tcp_link.c */
extern const struct transport_ops filedrop_transport; /* filedrop_watch.c */
extern const struct transport_ops http_transport;     /* http.c */

const struct transport_ops *const ferry_transports[] = {
    &tcp_transport,
    &filedrop_transport,
    &http_transport,
    NULL,
};
