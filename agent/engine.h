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

#include "agent/intake.h"
#include "store/store.h"
#include "transports/transport.h"

struct agent;

/* Start every registered transport, in order.  0, or -1 (logged). */
int engine_start(struct agent *ag);
/* Stop them, in reverse order (transport_ops.stop says when). */
void engine_stop(struct agent *ag);

/* A message for node, priority prio, was queued here: tell every
 * transport about each of its next hops: node itself if it is a peer,
 * else the peers of its route (any thread; cheap). */
void engine_kick(struct agent *ag, const char *node, unsigned prio);
/* Every peer (the routes changed: what waited may go now). */
void engine_kick_all(struct agent *ag);
/* Cut-through: a transport with a session up to the peer node sends the
 * payload t taps while it is written (transport_ops.cut); 1 if one took
 * it.  Loop thread. */
int engine_cut(struct agent *ag, const char *node, struct store_tap *t);

/* Routes (docs/routing.md).  Copy [route] and the peers' names from
 * ag->pol: at start and after a SIGHUP (on the loop).  0 or
 * FERRY_ENOMEM (the old ones stay). */
int engine_routes_set(struct agent *ag);

enum engine_route {
	ENGINE_NO_ROUTE = 0, /* not a peer, no [route] line matches */
	ENGINE_DIRECT,	     /* a peer: it goes there */
	ENGINE_ROUTED,	     /* through the peers of a route */
	ENGINE_LOOP,	     /* a route, but all its peers are in path */
};
/*
 * The next hops of a message for node that has visited path (NULL or ""
 * for one made here), up to cap of them into out (*n), in the route's
 * order.  Returns enum engine_route.  Any thread.
 */
int engine_hops(const char *node, const char *path,
		char out[][FERRY_NODE_MAX + 1], size_t cap, size_t *n);
/*
 * Group copies (docs/groups.md): where the copy for member, having
 * visited path, goes from this node (me): ENGINE_PART_SELF,
 * ENGINE_PART_NONE (no route), ENGINE_PART_LOOP (every next hop visited
 * it), or a key >= 0, the same for the members whose copies travel
 * together (one peer, or one [route] line).  Any thread.
 */
#define ENGINE_PART_SELF (-1)
#define ENGINE_PART_NONE (-2)
#define ENGINE_PART_LOOP (-3)
int engine_group_key(const char *me, const char *member, const char *path);
/* The name of the node (a peer, or a [directory] card) whose
 * fingerprint (identity_fingerprint) is fpr, compared without case:
 * 0, or FERRY_ENOTFOUND.  Any thread. */
int engine_node_by_fpr(const char *fpr, char name[FERRY_NODE_MAX + 1]);
/* Is peer a next hop of some [route] line?  Any thread. */
int engine_carrier(const char *peer);
/* [node] hop_limit in use. */
unsigned engine_hop_limit(void);
/* The relaying fields of the MSG that carries i from this node (me) to
 * peer: its path with this node last, its hop limit, its origin's
 * signature (made now, reading its payload from st, for a message made
 * here that goes through relays).  0, or a store error (it is skipped
 * this time). */
int engine_hop_fill(struct hop_msg *hm, const struct store_msg_info *i,
		    const char *me, const char *peer, struct store *st);
/* The X25519 key of node (a peer's or a [directory] card's), for
 * --seal: 0, or FERRY_ENOTFOUND.  Any thread. */
int engine_node_kx(const char *node, uint8_t pk[32]);
/* Check m's origin signature over its payload hash: 1 verified, 0 its
 * source's key is not known here (not a peer, not in [directory]), -1
 * forged or damaged.  Any thread. */
int engine_origin_check(const struct ferry_msg *m, const uint8_t hash[32],
			const uint8_t sig[64]);
/* The intake's view of the engine (struct intake_node.router). */
const struct intake_router *engine_router(void);
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
