/*
 * engine.h - the forwarding engine: the only code that decides what goes
 * next to which peer, in priority order, and which transports are told
 * to carry it (docs/transports.md).  It starts and stops the transports
 * of the registry (transports/transport.h).
 *
 * Today a message's next hop is its destination node (no relaying yet),
 * and every transport that can reach that peer is told; the first to
 * hand the message over takes custody, and the other finds it gone (the
 * store gives custody once, and the receiver stores a message once).
 */
#ifndef FERRY_ENGINE_H
#define FERRY_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "transports/transport.h"

struct agent;

/* Start every registered transport, in order.  0, or -1 (logged). */
int engine_start(struct agent *ag);
/* Stop them, in reverse order (transport_ops.stop says when). */
void engine_stop(struct agent *ag);

/* A message for node, priority prio, was queued here: tell every
 * transport (any thread; cheap). */
void engine_kick(struct agent *ag, const char *node, unsigned prio);
/* How many times engine_kick named node (any thread). */
uint64_t engine_kicks(struct agent *ag, const char *node);
/* A transport stored a message into a local queue: wake local receivers
 * on the loop (any thread; one wake-up for many arrivals). */
void engine_arrived(struct agent *ag, const char *queue);
/* Up to cap configured peers as `ferry peers` shows them, each filled by
 * every transport; returns how many peers there are (any thread). */
size_t engine_peers(struct agent *ag, struct peer_status *out, size_t cap);

/* Which messages a transport wants next for one peer. */
struct engine_filter {
	const char *peer; /* the next hop */
	int min_priority; /* 0..7: less urgent ones wait */
	int64_t now_ms;	  /* expired ones are passed by (the sweep
			     dead-letters them) */
	/* The transport's own reasons to pass one by (a session holds it,
	 * it is on a medium already); NULL: none. */
	int (*skip)(const struct store_msg_info *i, void *arg);
	void *arg;
};

/*
 * Up to cap messages for f->peer in forwarding order (the most urgent
 * first, then the oldest) from just after *pos, into out (*n of them);
 * *pos follows.  A message in flight to another peer is passed by.  0 or
 * a store error.  *n < cap: nothing more after *pos now.
 */
int engine_next(struct store *st, const struct engine_filter *f,
		struct store_out_pos *pos, struct store_msg_info *out,
		size_t cap, size_t *n);

#endif
