/*
 * intake.h - the frame intake: the only code that turns the hop frames a
 * peer hands over (MSG, CHUNK, END, CUSTODY; docs/hop.md) into store
 * operations, whatever transport carried them: a TCP session
 * (transports/tcp_recv.c), a bundle on a medium
 * (transports/filedrop_import.c), and whatever comes next.  The rules
 * every transport must keep live here once, so that no transport can
 * break them (docs/transports.md):
 *
 *  - who may send what: a message's source must be the authenticated peer
 *    (until relaying defines signed origins); ferry.* queues are reserved
 *    (receipts excepted, and the store takes a receipt only from the node
 *    the message went to); max_message;
 *  - time to live: time in transit is charged within the clock-skew
 *    allowance (intake_medium_ms), so a wrong clock neither expires nor
 *    immortalises messages;
 *  - one writer per message: a partial another transfer owns is not
 *    touched (INTAKE_BUSY; the store enforces it, store.h);
 *  - custody only for what is durable, and length and hash checked
 *    before the commit.
 *
 * Memory: one small payload (at most INTAKE_SMALL_MAX) per message being
 * received; larger ones stream to a store writer.
 *
 * Thread-safety: an intake_rx belongs to one thread at a time (the
 * transport's reader); intake_hash_prefix may run on a thread of its own
 * while the reader leaves that rx alone.
 */
#ifndef FERRY_INTAKE_H
#define FERRY_INTAKE_H

#include <stdint.h>

#include "lib/ferry_msg.h"
#include "store/store.h"
#include "transports/hop.h"

/* Payloads up to this are received in memory and put in one commit. */
#define INTAKE_SMALL_MAX (256u * 1024u)
/* A TTL beyond this (a century) means "never": no clock arithmetic may
 * overflow on a peer's number. */
#define INTAKE_TTL_MAX_MS (100ULL * 366 * 24 * 3600 * 1000)
/* The default clock-skew allowance between two nodes' wall clocks. */
#define INTAKE_SKEW_MS (3600ll * 1000)

enum intake_verdict {
	INTAKE_OK = 0,
	INTAKE_NOT_HERE, /* for another node this one has no route to */
	INTAKE_TOO_BIG,	 /* payload over this node's max_message */
	INTAKE_FORGED,	 /* its source is not the peer that sent it */
	INTAKE_RESERVED, /* a ferry.* queue peers may not send to */
	INTAKE_VERDICTS_ /* count */
};

/* Relaying (docs/routing.md): what this node can do with a message for
 * another node. */
enum intake_route {
	INTAKE_ROUTE_ON = 0,	/* a next hop it has not visited */
	INTAKE_ROUTE_NONE,	/* no route: refused */
	INTAKE_ROUTE_LOOP,	/* every next hop held it: dead here */
	INTAKE_ROUTE_HOP_LIMIT, /* it may visit no other node: dead here */
	INTAKE_ROUTE_SPLIT,	/* a group copy to split here into copies
				 * (docs/groups.md): stored for
				 * STORE_SPLIT_DST */
};

/* The forwarding engine as the intake sees it (agent/engine.c). */
struct intake_router {
	/* m, for another node, has visited path (its source first, the
	 * peer that sent it last) and this node: can it go on? */
	enum intake_route (*route)(const struct ferry_msg *m, const char *path);
	/* A message for node (priority prio) is stored here to go on: tell
	 * its next hops.  Any thread, cheap. */
	void (*kick)(const char *node, unsigned prio);
	/* A message is stored in a local queue here (its own, or dead): wake
	 * the receivers waiting there.  Any thread, cheap; may be NULL. */
	void (*arrived)(const char *queue);
	/* Is peer a next hop of some route here?  It may then take
	 * custody of any outbound message it has not held before. */
	int (*carrier)(const char *peer);
	/* m's origin signature over its payload hash: 1 verified, 0 no key
	 * known for its source, -1 forged. */
	int (*origin_check)(const struct ferry_msg *m, const uint8_t hash[32],
			    const uint8_t sig[64]);
	/* Does local queue take only verified origins from afar? */
	int (*require_verified)(const char *queue);
	/* Where a group copy for member (that visited path) goes from
	 * here: ENGINE_PART_* (< 0) or a key shared by the members whose
	 * copy travels together (agent/engine.h engine_group_key). */
	int (*group_key)(const char *member, const char *path);
	/* A group message waits to be split here (agent/split.c). */
	void (*split_kick)(void);
	/* Is node the [node] site here, a name this node shares with the
	 * other bases of its site?  A message for it is delivered here, as
	 * if for this node (docs/bridge.md, "Two bases").  May be NULL. */
	int (*site)(const char *node);
	unsigned hop_limit; /* [node] hop_limit: for a message without one */
};

/* What the intake needs to know of this node. */
struct intake_node {
	const char *name;     /* this node */
	uint64_t max_message; /* bytes; 0: no limit */
	/* NULL: no relaying (a message for another node is refused) */
	const struct intake_router *router;
};

/*
 * Judge hm, received from the authenticated peer `peer`.  INTAKE_OK, or
 * why not with *why set to a sentence for the log.  A message's path
 * must end with the peer (and start with its source); without a path its
 * source must be the peer.  A message for another node needs a route
 * (me->router); *route (may be NULL) says where it goes: on, or dead
 * here (a loop, the hop limit).  Receipts (to FERRY_RECEIPT_QUEUE) are
 * the only ferry.* queue a peer may send to, and the store takes a
 * receipt only from the node the message went to (store/receipt.c).
 */
enum intake_verdict intake_msg(const struct intake_node *me, const char *peer,
			       const struct hop_msg *hm,
			       enum intake_route *route, const char **why);

/* One peer's inbound stream, as the transport sets it up. */
struct intake {
	struct store *st;
	struct intake_node me;
	const char *peer;  /* the authenticated peer */
	int64_t medium_ms; /* ms in transit, charged to every TTL
			      (intake_medium_ms; 0 on a live link) */
	int check_hash;	   /* verify END's BLAKE2b (a live link); 0
			      where a signature over the carrier covers
			      every byte (a bundle) */
	int hash_resumed;  /* with check_hash: only for a payload resumed
			      from a stored prefix (the peer offered
			      HOP_FEAT_RESUMEHASH); one received whole is
			      covered by the session's AEAD */
	int from_durable;  /* the sender goes on from this node's durable
			      offset (it waits for RESUME: TCP); 0: its
			      CHUNKs start at the MSG's offset and bytes
			      stored already are skipped (a bundle) */
};

/* What became of a MSG (intake_begin). */
enum intake_outcome {
	INTAKE_STREAM = 0, /* its bytes stream to the store from
			      intake_rx_next() */
	INTAKE_SMALL,	   /* kept in memory until its END */
	INTAKE_HAVE,	   /* stored here before: custody is owed; its
			      CHUNKs and END are skipped */
	INTAKE_BUSY,	   /* another transfer owns its partial (one
			      writer per message): offer it, or apply the
			      copy, again later */
	INTAKE_REFUSED,	   /* intake_rx_verdict() says why; skipped, no
			      custody */
	INTAKE_EXPIRED,	   /* its TTL ran out on the way: not stored, no
			      custody owed (its sender dead-letters it) */
	INTAKE_GAP,	   /* a continuation whose earlier part never
			      arrived here: skipped, kept for later */
};

struct intake_rx;

/*
 * A MSG frame (decoded) from in's peer: judge it, and open or resume its
 * store writer.  0 with *out set (free it with intake_rx_free) and
 * *oc saying what to do with its frames; or a store error of this node
 * (FERRY_ENOSPC, FERRY_EQUOTA, FERRY_EIO, FERRY_EDB, FERRY_ENOMEM: the
 * transport stops taking messages for now), or FERRY_EPROTO (the MSG
 * says shorter than what is stored here: a hostile or confused peer).
 */
int intake_begin(const struct intake *in, const struct hop_msg *hm,
		 struct intake_rx **out, enum intake_outcome *oc);

/* A MSG the transport knows to skip with outcome oc (an import whose
 * earlier copy of it waits: INTAKE_BUSY): nothing is stored, its CHUNKs
 * and END are checked for their place only.  0 or FERRY_ENOMEM. */
int intake_skip(const struct intake *in, const struct hop_msg *hm,
		enum intake_outcome oc, struct intake_rx **out);

const struct ferry_msg *intake_rx_msg(const struct intake_rx *rx);
enum intake_verdict intake_rx_verdict(const struct intake_rx *rx,
				      const char **why);
/* The next payload offset a CHUNK must carry. */
uint64_t intake_rx_next(const struct intake_rx *rx);
/* Bytes of it stored here before this transfer (a resumed partial). */
uint64_t intake_rx_durable(const struct intake_rx *rx);
/* 1 when intake_end will compare END's hash with the payload's (a link
 * that checks it, or a resumed partial); 0: END's hash is not read. */
int intake_rx_checks_hash(const struct intake_rx *rx);

/*
 * A resumed partial on a link that checks END's hash: hash the stored
 * prefix (intake_rx_durable bytes), reading the store; may take minutes
 * for GiB, so a transport runs it on a thread of its own.  Stops with
 * FERRY_ECLOSED when *cancel (atomic) becomes non-zero.
 */
int intake_hash_prefix(struct intake_rx *rx, const int *cancel);

/*
 * A CHUNK of rx's message.  0; FERRY_EPROTO when it is out of place
 * (offset, length, id); or a store error (the writer is then suspended
 * at its last durable offset, so a later transfer resumes there).
 */
int intake_chunk(struct intake_rx *rx, const struct hop_chunk *c);

/*
 * rx's END.  FERRY_EPROTO: out of place (id, or the length differs from
 * the MSG); FERRY_ECORRUPT: the bytes received are not the payload
 * (length or hash; nothing stored).  A streamed payload is then
 * committed: 0 (stored), FERRY_EDUPLICATE (it was here: custody is owed
 * all the same), or a store error.  A small one returns 0 and waits for
 * intake_put_async or intake_batch_add.
 */
int intake_end(struct intake_rx *rx, const struct hop_end *e);

/* Done with rx: keep what is durable of an unfinished payload (keep: its
 * partial stays for a later transfer) or drop it. */
void intake_rx_free(struct intake_rx *rx, int keep);

/*
 * Put a small payload (after intake_end) in the store's next group
 * commit; done(result, msg, arg) runs on a store thread after the flush:
 * result 0 (stored), FERRY_EDUPLICATE or FERRY_EBUSY (here already:
 * custody is owed), or why not.  0, or the error done will not be
 * called with.  rx may be freed once this returns.
 */
int intake_put_async(struct intake_rx *rx,
		     void (*done)(int result, const struct ferry_msg *m,
				  void *arg),
		     void *arg);
/* Bytes of memory one intake_put_async of len payload bytes holds. */
size_t intake_put_cost(uint64_t len);

/* 1 while a transfer owns id's partial (one writer per message): a copy
 * kept for later may be applied once it is 0. */
int intake_owned(struct store *st, const uint8_t id[FERRY_ID_LEN]);
/* store_writer_open_route from the first byte: a partial of m's id that
 * no writer owns (a crash left it half-made) is dropped first; one that
 * a transfer owns stays (FERRY_EBUSY).  For a message this node makes
 * again under the same derived id (a group copy, a carried bundle). */
FERRY_MUST_CHECK int intake_writer_anew(struct store *st,
					const struct ferry_msg *m,
					const struct store_route *route,
					struct store_writer **out);

/* Small payloads put together in one commit (a bundle's). */
struct intake_batch;
struct intake_batch *intake_batch_new(const struct intake *in);
/* Add a small payload after its intake_end: 1 when the batch is full
 * (flush it now), 0, or FERRY_ENOMEM. */
int intake_batch_add(struct intake_batch *b, struct intake_rx *rx);
/* Commit what is in b; each(result, msg, arg) for each message, in
 * order, result as for intake_put_async.  0, or a store error of this
 * node (nothing of the batch is then stored). */
int intake_batch_flush(struct intake_batch *b,
		       void (*each)(int result, const struct ferry_msg *m,
				    void *arg),
		       void *arg);
void intake_batch_free(struct intake_batch *b);

/*
 * The peer holds id, which this node sent it (a CUSTODY frame, or a
 * REFUSE "have it"): release this node's copy.  done(result, arg) on a
 * store thread: 0, or FERRY_ENOTFOUND (handed over already) or
 * FERRY_ESTATE (not this peer's to release): nothing happens then.
 */
int intake_custody(const struct intake *in, const uint8_t id[FERRY_ID_LEN],
		   void (*done)(int result, void *arg), void *arg);

/*
 * A carrier that is verified only at its end (a bundle: its signature
 * comes last).  Large payloads that start in it are written to the
 * store during the verifying pass, so they are written once, but stay
 * staged (owned, invisible, not resumable by anybody else) until the
 * carrier verified: intake_stage_done(ok) lets go of them, or drops
 * them if it did not verify.  Everything else (small payloads, CUSTODY,
 * continuations) the caller keeps and gives to the intake after the
 * carrier verified.
 */
struct intake_stage;
struct intake_stage *intake_stage_new(const struct intake *in);
/* 1 when f's bytes went to the store, 0 when the caller keeps f. */
int intake_stage_frame(struct intake_stage *sg, const struct hop_frame *f);
/* A store error met while staging (the carrier is to be tried again
 * later), or 0. */
int intake_stage_error(const struct intake_stage *sg);
/* The carrier verified (ok) or not: let go of what it staged, or drop
 * it; free sg. */
void intake_stage_done(struct intake_stage *sg, int ok);

/*
 * Time in transit of a carrier sealed at created_ms by peer's wall clock,
 * to charge to its messages' TTLs: now - created_ms, corrected by the
 * peer's clock offset measured at the last live contact
 * (intake_clock_seen), never below 0, and never from a clock that was set
 * back (see intake.c).  Records what this carrier shows of the peer's
 * clock.  A peer that never met this node live is presumed within the
 * clock-skew allowance (a carrier from beyond it in the future is
 * refused, intake_created_ok).
 */
int64_t intake_medium_ms(struct store *st, const char *peer,
			 int64_t created_ms);
/* 1 if a carrier sealed at created_ms by peer's clock is not from the
 * future: within skew_ms of now, after the peer's clock offset measured
 * at a live contact (if any) is taken off. */
int intake_created_ok(struct store *st, const char *peer, int64_t created_ms,
		      int64_t skew_ms);
/* A live contact measured peer's clock: its wall clock minus ours. */
void intake_clock_seen(struct store *st, const char *peer, int64_t offset_ms);

#endif
