/*
 * transport.h - what every transport offers the agent: one table of
 * operations (struct transport_ops), registered in one place
 * (transports/registry.c).  Adding a transport is a new
 * transports/<name>*.c with its table, one line in the registry, and its
 * files in transports/local.mk; no other transport is touched
 * (docs/transports.md).
 *
 * A transport moves hop frames (docs/hop.md) between this node and its
 * peers.  It authenticates each peer by its pinned key before looking at
 * anything the peer sends, hands every frame it receives to the intake
 * (agent/intake.h: the only code that turns frames into store
 * operations), and takes what to send from the forwarding engine
 * (agent/engine.h: the only code that decides what goes next to which
 * peer, in priority order).
 */
#ifndef FERRY_TRANSPORT_H
#define FERRY_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_msg.h"
#include "transports/identity.h"

struct store_tap;

struct agent;

/*
 * What a peer has no room for now (it refused messages with REFUSE
 * "queue full", "store full" or "disk full", docs/hop.md 4.1): the
 * messages it concerns wait here and are offered again at retry_ms.
 */
enum peer_full_what {
	PEER_FULL_QUEUE = 1, /* queue (of the peer) is at its quota */
	PEER_FULL_STORE,     /* its store is at its store_quota */
	PEER_FULL_DISK,	     /* its disk is down to its disk_reserve */
};
#define PEER_FULL_MAX 8 /* full queues remembered per peer */
struct peer_full {
	int what;			 /* enum peer_full_what */
	char queue[FERRY_QUEUE_MAX + 1]; /* PEER_FULL_QUEUE: which */
	int64_t since_ms;		 /* wall clock: first refused */
	int64_t retry_ms;		 /* wall clock: offered again then */
	unsigned prio; /* PEER_FULL_DISK: what waits is no more urgent (the
			  most urgent may use half the reserve there) */
};

/* A peer as `ferry peers` shows it; each transport fills its part. */
struct peer_status {
	char name[FERRY_NODE_MAX + 1];
	char fpr[IDENTITY_FPR_LEN + 1];
	char via[16];	       /* the transport of the live session, or "" */
	int connected;	       /* a live session is up */
	int inbound;	       /* the session was opened by the peer */
	char addr[80];	       /* the session's remote address, or "" */
	int64_t since_ms;      /* wall clock: session up since */
	int64_t last_seen_ms;  /* wall clock of the last record, 0 never */
	int64_t next_retry_ms; /* wall clock of the next call, 0 none */
	int64_t window_ms;     /* outside its contact windows: the next
				  opens then (tcp); 0 inside or none */
	uint64_t bytes_in, bytes_out; /* on the wire, all sessions */
	uint64_t msgs_in, msgs_out;   /* custody taken / handed over */
	char last_error[160];
	struct peer_full full[PEER_FULL_MAX]; /* what it has no room for */
	size_t nfull;
};

struct transport_ops {
	const char *name; /* "tcp", "filedrop": for logs and `ferry peers` */
	/*
	 * Start, on the agent's loop thread, after the store, the job pool
	 * and the control socket are up: bind, start threads or watchers.
	 * *state is the transport's own, given back to every other
	 * operation.  0, or -1 with the reason logged (ferryd does not
	 * start).
	 */
	int (*start)(struct agent *ag, void **state);
	/*
	 * Stop and free what start made: close sessions so that nothing in
	 * flight is lost (what a peer has not taken custody of stays
	 * queued).  On the loop thread, after the loop and the job pool
	 * stopped, before the store closes.  state may be NULL.
	 */
	void (*stop)(struct agent *ag, void *state);
	/*
	 * Something was queued for node with priority prio: carry it when
	 * this transport can (dial, wake a session).  Any thread; cheap;
	 * nodes it has no way to reach are ignored.  May be NULL: the
	 * transport polls engine_kicks() instead.
	 */
	void (*kick)(void *state, const char *node, unsigned prio);
	/*
	 * Cut-through (docs/session.md §4): a local client is streaming in
	 * a large payload for the peer node (t, store_writer_tap): if a
	 * session with node is up now, send it while it comes in.  1 if
	 * taken (the transport keeps its own reference), else 0.  Loop
	 * thread; cheap.  May be NULL.
	 */
	int (*cut)(void *state, const char *node, struct store_tap *t);
	/*
	 * Fill what this transport knows of peer p->name into p (only the
	 * fields it knows; a live session sets connected and via).  Any
	 * thread.  May be NULL.
	 */
	void (*status)(void *state, struct peer_status *p);
	/*
	 * Messages this transport has handed over to peers (they took
	 * custody, or it wrote them onto a medium for them) and received
	 * from them (stored here), all peers together: the metrics of
	 * agent/metrics.c.  They only grow while ferryd runs.  Any thread;
	 * cheap.  state may be NULL (the transport did not start).  May be
	 * NULL: nothing is counted.
	 */
	void (*counts)(void *state, uint64_t *msgs_in, uint64_t *msgs_out);
};

/* The transports ferryd runs, in the order they start (registry.c). */
extern const struct transport_ops *const ferry_transports[];
#define FERRY_TRANSPORTS_MAX 8

#endif
