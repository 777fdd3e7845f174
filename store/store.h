/*
 * store.h - the front door of ferry's durable message store.
 *
 * One transactional Berkeley DB environment per node, recovered at open.
 * Nothing outside store/ includes db.h; the rest of ferry sees only this.
 *
 * Threads: every function may be called from any thread.  All writes are
 * executed by the store's own writer thread, which commits whatever has
 * queued up while the previous commit was being flushed (group commit):
 * a caller is answered only after the log flush that covers its write.
 * Reads (get, browse, stats, status, readers) run on the caller's thread.
 *
 * Durability: a call that returned 0 for a persistent message has been
 * fsync'd and survives kill -9 and power loss.  Messages flagged
 * FERRY_MSG_TRANSIENT are committed without waiting for the flush.
 *
 * Delivery order of a queue: priority descending, then FIFO.
 * Time: every time is wall-clock milliseconds from opts.clock_ms.
 */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_err.h"
#include "lib/ferry_msg.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_CHUNK_BYTES    (256u * 1024u) /* payload chunk size on disk */
#define STORE_LEASE_MAX_MS   (12LL * 3600 * 1000)

struct store;
struct store_writer;
struct store_reader;

typedef int64_t (*store_clock_fn)(void *arg);

struct store_opts {
	const char *node_name;	     /* required: messages for it are local */
	uint64_t quota_bytes;	     /* whole store; 0 = unlimited */
	uint64_t queue_quota_bytes;  /* default per queue; 0 = unlimited */
	uint64_t queue_quota_msgs;   /* default per queue; 0 = unlimited */
	uint64_t disk_reserve_bytes; /* refuse new messages below this free;
				      * raised to at least 1.25 x cache +
				      * two log files, what the store may
				      * still write once it refuses;
				      * STORE_RESERVE_AUTO: 64 MiB, or an
				      * eighth of a volume under 1 GiB */
	uint64_t cache_bytes;	     /* Berkeley DB cache */
	int64_t seen_retention_ms;   /* dedup memory for messages without TTL */
	int64_t seen_margin_ms;	     /* kept past a message's expiry */
	int64_t partial_max_idle_ms; /* unfinished streams dropped after */
	store_clock_fn clock_ms;     /* NULL: the real wall clock */
	void *clock_arg;
};

#define STORE_RESERVE_AUTO UINT64_MAX

/* On a volume under 1 GiB the store scales down what it keeps aside, so
 * that a 64 MiB card still takes messages: log files of a 32nd of the
 * volume (1 to 16 MiB), a cache of at most a 16th, an emergency file of
 * at most a 16th (8 MiB), and the automatic reserve an eighth. */

/* Defaults: 16 MiB cache, automatic disk reserve, 30 days seen retention,
 * 1 day seen margin, 7 days partial idle, no quotas, real clock. */
void store_opts_init(struct store_opts *o);

/*
 * Open (creating if needed) the store in directory dir, running recovery.
 * Errors: FERRY_EBUSY (another process has it open), FERRY_ESCHEMA (written
 * by a newer ferry), FERRY_EIO, FERRY_EDB, FERRY_EINVAL.
 * On error *out is NULL and a reason is in store_last_error() of NULL.
 */
FERRY_MUST_CHECK int store_open(const char *dir, const struct store_opts *o,
				struct store **out);

/* Finish queued writes, checkpoint, close.  store_close(NULL) is a no-op. */
void store_close(struct store *st);

/* A human-readable detail of the last error on this thread, or "". */
const char *store_last_error(void);

/* ------------------------------------------------------------------ put */

/*
 * Accept a message with an in-memory payload of len bytes (m->payload_len
 * is ignored and set from len).  A message for opts.node_name goes to the
 * local queue m->dst_queue (created on first use); any other to the
 * outbound side.  Returns 0, FERRY_EDUPLICATE (a no-op: the id was
 * accepted before), FERRY_EQUOTA, FERRY_EQUEUEQUOTA, FERRY_ENOSPC,
 * FERRY_EINVAL, FERRY_EIO, FERRY_EDB.
 */
FERRY_MUST_CHECK int store_put(struct store *st, const struct ferry_msg *m,
			       const void *payload, size_t len);

struct store_put_req {
	const struct ferry_msg *msg;
	const void *payload;
	size_t len;
	int result; /* out: as store_put */
	/* NULL, or where the message has been (a relayed one). */
	const struct store_route *route;
	/* 1: msg->id was drawn by the caller just now (ferry_id_generate,
	 * never given to the store before, never from outside): the store
	 * does not look for it among the ids that left (seen) or are being
	 * streamed in or freed (partials, garbage), where a drawn id cannot
	 * be -- 3 B-tree lookups fewer.  It is still refused
	 * (FERRY_EDUPLICATE) if a message holds it.  0 for any id that came
	 * from a peer, a bundle, a client or a retry. */
	int new_id;
};

/*
 * The same without waiting: done(result, arg) is called once, on the
 * store's writer thread, after the commit (and flush) that covers it; it
 * must not block nor call back into the store.  req and its message and
 * payload must stay valid until then.  Returns 0 when queued, or
 * FERRY_ENOMEM / FERRY_ECLOSED (done is then not called).
 */
typedef void (*store_done_fn)(int result, void *arg);
FERRY_MUST_CHECK int store_put_async(struct store *st,
				     struct store_put_req *req,
				     store_done_fn done, void *arg);

/* Put n messages in one commit; each gets its own result.  Returns 0 when
 * the batch was processed (look at each result), or an error for all. */
FERRY_MUST_CHECK int store_put_batch(struct store *st,
				     struct store_put_req *reqs, size_t n);

/*
 * Streamed put for payloads of any size, in bounded memory.  open refuses
 * a known id (FERRY_EDUPLICATE) or one being streamed (FERRY_EBUSY) before
 * any payload is sent.  write appends; progress is made durable every
 * few MiB and by suspend.  commit makes the message visible atomically and
 * durably, with payload_len = bytes written.  suspend keeps the partial
 * payload for store_writer_resume() (after a broken link or a restart);
 * abort discards it.  commit, suspend and abort free w.
 *
 * One writer per id: from open or resume until commit, suspend or abort,
 * w owns the id's partial; open and resume by anybody else fail with
 * FERRY_EBUSY (try again later), and nothing else changes the partial.
 * commit checks that the stored payload is whole (the spool file is the
 * one w wrote, of the message's length) and fails with FERRY_ECORRUPT,
 * storing nothing, if not.
 */
FERRY_MUST_CHECK int store_writer_open(struct store *st,
				       const struct ferry_msg *m,
				       struct store_writer **out);
/* Replace the route w keeps (before commit): a signature checked at the
 * end of the payload (STORE_ROUTE_VERIFIED), or route->dead set then
 * (the message goes to dead).  0 or FERRY_EINVAL. */
FERRY_MUST_CHECK int store_writer_set_route(struct store_writer *w,
					    const struct store_route *route);
/* The same for a relayed message: route (NULL: none) is kept with it. */
FERRY_MUST_CHECK int store_writer_open_route(struct store *st,
					     const struct ferry_msg *m,
					     const struct store_route *route,
					     struct store_writer **out);
FERRY_MUST_CHECK int store_writer_resume(struct store *st,
					 const uint8_t id[FERRY_ID_LEN],
					 struct store_writer **out,
					 uint64_t *offset);
FERRY_MUST_CHECK int store_writer_write(struct store_writer *w, const void *buf,
					size_t len);
FERRY_MUST_CHECK int store_writer_commit(struct store_writer *w);
/* A reader over the payload bytes already stored durably (right after
 * open or resume), to hash the prefix of a resumed transfer. */
FERRY_MUST_CHECK int store_writer_prefix(struct store_writer *w,
					 struct store_reader **out);
FERRY_MUST_CHECK int store_writer_suspend(struct store_writer *w);
void store_writer_abort(struct store_writer *w);
/* suspend, but w keeps owning the partial (nobody else can resume or
 * drop it) while holding no buffer or file: until release (a plain
 * suspend, done) or abort.  For bytes that are not yet known to be
 * genuine (a bundle whose signature is at its end). */
FERRY_MUST_CHECK int store_writer_park(struct store_writer *w);
void store_writer_release(struct store_writer *w);
/* w's bytes are not yet known to be genuine (a bundle's, staged during
 * the pass that verifies it): write never moves the durable offset, which
 * park (or commit) moves once, at the end.  A crash before then leaves
 * the partial at the offset it had, as if these bytes never came.  Call
 * right after open, before any write. */
void store_writer_staged(struct store_writer *w);
/* 1 if a writer owns id's partial now (it is being received). */
int store_writer_busy(struct store *st, const uint8_t id[FERRY_ID_LEN]);
/*
 * Cut-through (docs/session.md §4): a reader of w's payload while it is
 * being written, for a payload of len bytes (the length its sender
 * declared).  The tap shows the bytes written to the spool file so far
 * and ends WHOLE at a commit of len bytes, GONE otherwise (suspend,
 * abort, a failure, another length).  Bytes read before WHOLE may not
 * be durable yet.  Only while nobody else uses w (between two calls);
 * the caller owns one reference (store_tap_unref), w another.
 */
enum {
	STORE_TAP_STREAMING = 0,
	STORE_TAP_WHOLE = 1,
	STORE_TAP_GONE = -1,
};
struct store_tap;
FERRY_MUST_CHECK int store_writer_tap(struct store_writer *w, uint64_t len,
				      struct store_tap **out);
/* The message's header (msg.payload_len: the declared length). */
const struct store_msg_info *store_tap_info(const struct store_tap *t);
/* Its state, and the payload bytes readable now. */
int store_tap_state(struct store_tap *t, uint64_t *avail);
/* Up to cap bytes at off, no further than the bytes written (*n = 0
 * there). */
FERRY_MUST_CHECK int store_tap_read(struct store_tap *t, uint64_t off,
				    void *buf, size_t cap, size_t *n);
/* wake(arg) runs, under the tap's lock, on the writer's thread, each time
 * more bytes are readable or the tap ends; NULL stops it (after which it
 * runs no more).  wake must not call the tap. */
void store_tap_watch(struct store_tap *t, void (*wake)(void *arg), void *arg);
void store_tap_ref(struct store_tap *t);
void store_tap_unref(struct store_tap *t);

/* The header w writes (after resume: the partial's, with payload_len the
 * durable offset it resumed from). */
const struct ferry_msg *store_writer_msg(const struct store_writer *w);

/* A payload being streamed in, or left half-way (a cut stream, a crash):
 * what store_partials_list shows.  The idle sweep drops it
 * partial_max_idle_ms after last_ms. */
struct store_partial {
	struct ferry_msg msg; /* its header; msg.payload_len: bytes so far */
	int64_t last_ms;      /* last durable progress (or open, resume) */
	int busy;	      /* a writer owns it now: being received */
};
typedef int (*store_partial_fn)(const struct store_partial *p, void *arg);
/* Every partial in id order, at most limit (0: all); fn returns non-zero
 * to stop.  Bytes so far are the durable offset, which moves every
 * 8 MiB and at suspend. */
FERRY_MUST_CHECK int store_partials_list(struct store *st, size_t limit,
					 store_partial_fn fn, void *arg);

/* ----------------------------------------------------------------- read */

enum store_state {
	STORE_QUEUED = 1,   /* in a local queue, available */
	STORE_LEASED = 2,   /* in a local queue, taken under a lease */
	STORE_OUTBOUND = 3, /* waiting for the next hop */
	STORE_INFLIGHT = 4, /* being sent to peer hop_peer since hop_since */
};

enum store_dead_reason {
	STORE_DEAD_NONE = 0,
	STORE_DEAD_EXPIRED = 1,
	STORE_DEAD_NO_ROUTE = 2,
	STORE_DEAD_REJECTED = 3,
	STORE_DEAD_TOO_LARGE = 4,
	STORE_DEAD_UNREADABLE = 5,     /* its stored payload cannot be read */
	STORE_DEAD_HANDLER_FAILED = 6, /* a consumer gave up on it
					* (store_nack_dead) */
	STORE_DEAD_NO_WAITER = 7,      /* for a reply queue that is not
					* open: its requester gave up */
	STORE_DEAD_LOOP = 8,	       /* every next hop has held it already */
	STORE_DEAD_HOP_LIMIT = 9,      /* it visited [node] hop_limit nodes */
	STORE_DEAD_FORGED = 10,	       /* its origin signature is wrong */
	STORE_DEAD_UNVERIFIED = 11,    /* a require_verified queue refused
					* an origin it could not verify */
	STORE_DEAD_LAST_ = STORE_DEAD_UNVERIFIED,
};

/*
 * Where a message has been, for relaying (docs/routing.md).  Empty (all
 * zero) for a message made here and for one from a peer that sent no
 * path (a ferry from before relays: the path is then its source).
 */
#define STORE_PATH_MAX 1023 /* bytes of path, without the NUL */
#define STORE_ROUTE_SIGNED                                                     \
	0x1u			  /* origin_sig holds the origin's             \
				   * signature (docs/routing.md) */
#define STORE_ROUTE_VERIFIED 0x2u /* ... and this node verified it */
#define STORE_ROUTE_SIG_LEN  64
struct store_route {
	/* The nodes that held it before this one, its source first,
	 * comma-separated; "" for a message made here. */
	char path[STORE_PATH_MAX + 1];
	uint8_t hop_limit; /* nodes it may visit; 0: not set */
	uint8_t sig_flags; /* STORE_ROUTE_* */
	uint8_t origin_sig[STORE_ROUTE_SIG_LEN];
	/* put only: store it straight into the dead queue for this reason
	 * (STORE_DEAD_LOOP, STORE_DEAD_HOP_LIMIT), with a "refused"
	 * receipt to its source if it asked. */
	enum store_dead_reason dead;
	/* A copy of a group message (docs/groups.md), or group "": the
	 * group's name (without '@'), the id the source gave the message
	 * (receipts name it), and the members this copy is for (comma-
	 * separated like path; "" for a member's own copy). */
	char group[FERRY_NODE_MAX + 1];
	uint8_t group_id[FERRY_ID_LEN];
	char members[STORE_PATH_MAX + 1];
};
/* The destination of a group message waiting to be split into copies
 * (agent/split.c): it is outbound, and no peer takes it. */
#define STORE_SPLIT_DST "@"
/* route_path_*() in lib/util.h read and check a path. */

/* Words kept with a dead letter (store_nack_dead), NUL excluded. */
#define STORE_DEAD_TEXT_MAX 511

struct store_msg_info {
	struct ferry_msg msg;
	enum store_state state;
	char queue[FERRY_QUEUE_MAX + 1]; /* local queue it sits in, or "" */
	enum store_dead_reason dead_reason;
	int64_t dead_ms;		   /* when it was dead-lettered */
	int64_t stored_ms;		   /* when this node accepted it */
	int64_t lease_until_ms;		   /* STORE_LEASED */
	uint32_t deliveries;		   /* times taken so far */
	char hop_peer[FERRY_NODE_MAX + 1]; /* STORE_INFLIGHT */
	int64_t hop_since_ms;
	uint64_t hop_offset; /* payload bytes the next hop has stored */
	/* A dead letter: the words its consumer gave with it (a handler's
	 * last lines of standard error), or "". */
	char dead_text[STORE_DEAD_TEXT_MAX + 1];
	struct store_route route; /* where it has been (relaying) */
};

/* Header of a stored message.  FERRY_ENOTFOUND if not in the store. */
FERRY_MUST_CHECK int store_get(struct store *st, const uint8_t id[FERRY_ID_LEN],
			       struct store_msg_info *out);

/* Stream a stored payload in bounded memory.  read returns 0 with *n = 0
 * at the end; FERRY_ENOTFOUND if the message left the store meanwhile;
 * FERRY_ECORRUPT if the payload is damaged (open already says so for a
 * spool file that is missing or shorter than the payload). */
FERRY_MUST_CHECK int store_reader_open(struct store *st,
				       const uint8_t id[FERRY_ID_LEN],
				       struct store_reader **out);
FERRY_MUST_CHECK int store_reader_seek(struct store_reader *r, uint64_t offset);
FERRY_MUST_CHECK int store_reader_read(struct store_reader *r, void *buf,
				       size_t cap, size_t *n);
void store_reader_close(struct store_reader *r);

/* Called for each message in order; return non-zero to stop early. */
typedef int (*store_browse_fn)(const struct store_msg_info *info, void *arg);

/* Browse a local queue in delivery order (available messages first, then
 * leased ones are not shown).  Takes nothing.  At most limit (0: all). */
FERRY_MUST_CHECK int store_browse(struct store *st, const char *queue,
				  size_t limit, store_browse_fn fn, void *arg);

/* ---------------------------------------------------------- local queues */

/*
 * Take the next message of queue under a lease of lease_ms.  If not acked
 * before it runs out, the message returns to its place in the queue.
 * Expired messages are dead-lettered instead of delivered.
 * Returns 0 (fills out and *token), FERRY_EEMPTY, FERRY_EINVAL.
 */
FERRY_MUST_CHECK int store_take(struct store *st, const char *queue,
				int64_t lease_ms, struct store_msg_info *out,
				uint64_t *token);

/* store_take_async's request.  The caller's, until done is called. */
#define STORE_TAKE_INLINE 4096u
struct store_take_req {
	const char *queue; /* in */
	int64_t lease_ms;  /* in */
	uint8_t *payload;  /* in: STORE_TAKE_INLINE bytes, the caller's */
	struct store_msg_info info; /* out, as store_take */
	uint64_t token;		    /* out */
	size_t payload_len;	    /* out: bytes in payload when payload_in */
	int payload_in; /* out: 1: the whole payload is in payload (a
			   small one, kept in the message's record); 0:
			   read it with store_reader_open */
};

/* store_take without waiting, and with the payload when it is small:
 * done(result, arg) runs on a store thread once the message is leased
 * (result 0) or not (FERRY_EEMPTY, an error).  Returns 0 (done will be
 * called) or FERRY_EINVAL, FERRY_ENOMEM, FERRY_ECLOSED (it will not). */
FERRY_MUST_CHECK int store_take_async(struct store *st,
				      struct store_take_req *req,
				      store_done_fn done, void *arg);

/* Ack: the message is done and leaves the store (its id is remembered for
 * dedup).  token 0 skips the lease check.  FERRY_ELEASE, FERRY_ENOTFOUND.
 * A dead letter acked out of the dead queue was never delivered: its
 * status becomes STORE_ST_DEAD_REMOVED, not acked, and no "acked" receipt
 * is sent for it. */
FERRY_MUST_CHECK int store_ack(struct store *st, const uint8_t id[FERRY_ID_LEN],
			       uint64_t token);

/* store_ack without waiting: done(result, arg) runs on a store thread
 * once the ack is durable (or failed).  Returns 0 (done will be called)
 * or FERRY_EINVAL, FERRY_ENOMEM, FERRY_ECLOSED (it will not). */
FERRY_MUST_CHECK int store_ack_async(struct store *st,
				     const uint8_t id[FERRY_ID_LEN],
				     uint64_t token, store_done_fn done,
				     void *arg);

/* Nack: give a leased message back to its place in the queue at once. */
FERRY_MUST_CHECK int store_nack(struct store *st,
				const uint8_t id[FERRY_ID_LEN], uint64_t token);

/*
 * A taken message whose payload cannot be read (store_reader_* said
 * FERRY_ECORRUPT): move it, under the lease token, to the end of the dead
 * queue with STORE_DEAD_UNREADABLE, so that it no longer blocks its queue.
 * Its source gets a "refused" receipt if it asked for receipts, as for
 * any dead letter; one taken from dead itself only moves to the end of
 * dead (its source heard of it already).  FERRY_ELEASE, FERRY_ENOTFOUND.
 */
FERRY_MUST_CHECK int store_unreadable(struct store *st,
				      const uint8_t id[FERRY_ID_LEN],
				      uint64_t token);

/*
 * Keep holding a leased message: its lease now ends lease_ms from now
 * (1 ms .. STORE_LEASE_MAX_MS), under the same token.  If it is not acked
 * by then it returns to its place, as for any lease that runs out; so a
 * renewal nobody follows is also a give-back after a delay.  Not durable
 * (a lease lost in a crash returns the message).  FERRY_ELEASE (token 0,
 * not leased, or another lease), FERRY_ENOTFOUND, FERRY_EINVAL.
 */
FERRY_MUST_CHECK int store_renew(struct store *st,
				 const uint8_t id[FERRY_ID_LEN], uint64_t token,
				 int64_t lease_ms);

/*
 * A consumer gives up on a leased message: move it, under the lease
 * token (required), to the end of the dead queue with reason (only
 * STORE_DEAD_HANDLER_FAILED) and text (NULL or at most
 * STORE_DEAD_TEXT_MAX bytes, no NUL), kept with it and shown with its
 * header.  Durable; its source gets a "refused" receipt if it asked for
 * receipts.  FERRY_ELEASE, FERRY_ENOTFOUND, FERRY_EINVAL.
 */
FERRY_MUST_CHECK int store_nack_dead(struct store *st,
				     const uint8_t id[FERRY_ID_LEN],
				     uint64_t token,
				     enum store_dead_reason reason,
				     const char *text);

struct store_queue_limits {
	uint64_t max_bytes; /* 0: the store default */
	uint64_t max_msgs;  /* 0: the store default */
	int64_t open_ms;    /* a reply queue: open for this long from now;
			     * 0: until it is purged */
};

struct store_queue_stats {
	char name[FERRY_QUEUE_MAX + 1];
	uint64_t msgs;	 /* all messages in the queue, leased included */
	uint64_t bytes;	 /* payload bytes */
	uint64_t leased; /* of msgs, how many under a lease */
	uint64_t max_bytes;
	uint64_t max_msgs;
	int64_t open_until_ms; /* a reply queue: open until; 0: no end */
};

/*
 * Create queue (or change its limits).  Queues are also created on first
 * put with the default limits, except reply queues (ferry_queue_is_reply):
 * a reply queue is open only from its create (lim->open_ms, again on
 * every create) until it is purged or open_ms runs out.  A message put
 * for a reply queue that is not open goes to the dead queue with
 * STORE_DEAD_NO_WAITER (and a "refused" receipt if its source asked), so
 * a reply that comes after its requester gave up does not pile up where
 * nobody reads.  Once open_ms has run out, store_sweep moves what is
 * still in it to dead the same way and closes it (when no lease holds a
 * message of it).
 */
FERRY_MUST_CHECK int store_queue_create(struct store *st, const char *queue,
					const struct store_queue_limits *lim);
FERRY_MUST_CHECK int store_queue_stats(struct store *st, const char *queue,
				       struct store_queue_stats *out);
typedef int (*store_queue_fn)(const struct store_queue_stats *s, void *arg);
FERRY_MUST_CHECK int store_queue_list(struct store *st, store_queue_fn fn,
				      void *arg);
/* Remove every message of queue (leased ones too).  *removed may be NULL.
 * A reply queue is closed too: its record goes, and what comes for it
 * later goes to dead (store_queue_create). */
FERRY_MUST_CHECK int store_queue_purge(struct store *st, const char *queue,
				       uint64_t *removed);

/* ------------------------------------------------------------- outbound */

/* Messages for other nodes in forwarding order (priority descending, then
 * oldest first), waiting and in-flight alike. */
FERRY_MUST_CHECK int store_out_browse(struct store *st, size_t limit,
				      store_browse_fn fn, void *arg);

/*
 * A position in the forwarding order, so that a forwarder can go on where
 * it stopped instead of walking what it already has in hand.  Zeroed: the
 * beginning.  store_out_pos_priority moves it to the first message of a
 * priority (a more urgent message arrived).
 */
#define STORE_OUT_POS_MAX (FERRY_NODE_MAX + 1 + 1 + 8)
struct store_out_pos {
	uint8_t key[STORE_OUT_POS_MAX];
	size_t len;
	int all; /* a position among all outbound messages (node NULL) */
};
/* The messages for node, in forwarding order, from just after pos; pos
 * follows each message handed to fn.  Its cost is the messages for node
 * it walks, whatever waits for other nodes.  node NULL: every outbound
 * message (a relay's peer: the caller filters by route), at the cost of
 * walking them all.  A position of the other kind starts again at the
 * beginning. */
FERRY_MUST_CHECK int store_out_scan(struct store *st, const char *node,
				    struct store_out_pos *pos, size_t limit,
				    store_browse_fn fn, void *arg);
/* Move pos to the first message of priority prio for node (pos->all:
 * of any node; node is then ignored). */
void store_out_pos_priority(struct store_out_pos *pos, const char *node,
			    unsigned prio);
/* Has a scan at pos gone past where messages of prio for node start?
 * (Then a new one of that priority would be missed: move back.) */
int store_out_pos_behind(const struct store_out_pos *pos, const char *node,
			 unsigned prio);

/* Mark id as being sent to peer (STORE_INFLIGHT); FERRY_ESTATE if it is
 * in flight to another peer already. */
FERRY_MUST_CHECK int store_out_claim(struct store *st,
				     const uint8_t id[FERRY_ID_LEN],
				     const char *peer);
/* Record that the next hop has stored offset payload bytes. */
FERRY_MUST_CHECK int store_out_progress(struct store *st,
					const uint8_t id[FERRY_ID_LEN],
					uint64_t offset);
/* Back to waiting (link lost); the offset is kept for resume. */
FERRY_MUST_CHECK int store_out_release(struct store *st,
				       const uint8_t id[FERRY_ID_LEN]);
/* The next hop's custody receipt: drop the message, keep a record.
 * FERRY_ESTATE if peer is neither its destination nor the peer it is in
 * flight to (a peer cannot release what was not for it). */
FERRY_MUST_CHECK int store_out_custody(struct store *st,
				       const uint8_t id[FERRY_ID_LEN],
				       const char *peer);

/* The same without waiting: done(result, arg) runs on the store's writer
 * thread after the flush that covers it (see store_put_async).  Many of
 * these share one commit.  Returns 0 when queued.  relay: peer is a next
 * hop of some route here (docs/routing.md), so it may take custody of
 * any outbound message it has not held before, not only of those for it
 * or in flight to it. */
FERRY_MUST_CHECK int store_out_custody_async(struct store *st,
					     const uint8_t id[FERRY_ID_LEN],
					     const char *peer, int relay,
					     store_done_fn done, void *arg);

/* A group message (destination STORE_SPLIT_DST) was split into its
 * copies: it leaves the store, remembered as handed to "@" + its group
 * (receipts for its id then come from any member).  Durable.
 * FERRY_ESTATE if it is not waiting to be split. */
FERRY_MUST_CHECK int store_out_split(struct store *st,
				     const uint8_t id[FERRY_ID_LEN]);

/* --------------------------------------------------------------- status */

enum store_status_kind {
	STORE_ST_UNKNOWN = 0,	   /* never seen, or forgotten */
	STORE_ST_PRESENT = 1,	   /* in the store: see info */
	STORE_ST_ACKED = 2,	   /* delivered and acked here at at_ms */
	STORE_ST_HANDED = 3,	   /* custody handed to peer at at_ms */
	STORE_ST_PURGED = 4,	   /* removed by a purge at at_ms */
	STORE_ST_DEAD_REMOVED = 5, /* a dead letter, acked out of the dead
				    * queue at at_ms (never delivered): why
				    * and since when in info.dead_reason and
				    * info.dead_ms */
};

/* Receipts (FERRY_MSG_RECEIPT): what the destination reported back. */
enum store_receipt_event {
	STORE_RCPT_QUEUED = 1,	/* entered the destination queue */
	STORE_RCPT_ACKED = 2,	/* an application acked it there */
	STORE_RCPT_EXPIRED = 3, /* its TTL ran out at a hop: dead-lettered */
	STORE_RCPT_REFUSED = 4, /* dead-lettered for another reason */
	STORE_RCPT_CUSTODY = 5, /* a relay took custody (FERRY_MSG_TRACK) */
	STORE_RCPT_MEDIUM = 6,	/* a relay put it on a medium (TRACK) */
};
#define STORE_RECEIPTS_MAX 32

struct store_receipt {
	uint8_t event;		       /* enum store_receipt_event */
	int64_t at_ms;		       /* the reporting node's clock */
	char node[FERRY_NODE_MAX + 1]; /* the node that reported */
};

/* Where an exported message is (docs/formats.md 4). */
struct store_export {
	char peer[FERRY_NODE_MAX + 1]; /* the bundle's recipient */
	char medium[128];	       /* label of the medium, or its path */
	int64_t at_ms;
};

struct store_status {
	struct store_receipt receipts[STORE_RECEIPTS_MAX]; /* arrival order */
	size_t nreceipts;
	enum store_status_kind kind;
	struct store_msg_info info; /* STORE_ST_PRESENT */
	int64_t at_ms;
	char peer[FERRY_NODE_MAX + 1]; /* STORE_ST_HANDED */
	struct store_export exported;  /* PRESENT: at_ms 0 if not on one */
};

FERRY_MUST_CHECK int store_status(struct store *st,
				  const uint8_t id[FERRY_ID_LEN],
				  struct store_status *out);

/* ------------------------------------------------------------- bundles */
/* Offline bundles (docs/formats.md 3, 4): sequence numbers, replay. */

/* Reserve the next bundle sequence number for peer, durably (1, 2, ...). */
FERRY_MUST_CHECK int store_bundle_next_seq(struct store *st, const char *peer,
					   uint64_t *seq);

enum store_bundle_verdict {
	STORE_BUNDLE_NEW = 0,	   /* not seen: may be imported */
	STORE_BUNDLE_IMPORTED = 1, /* this bundle was imported before */
	STORE_BUNDLE_OLD = 2,	   /* at or below the low-water mark */
	STORE_BUNDLE_CLONED = 3,   /* same number, another bundle id */
};
#define STORE_BUNDLE_WINDOW 4096

/* What a bundle (sender, seq, bundle id) would be: *verdict. */
FERRY_MUST_CHECK int store_bundle_check(struct store *st, const char *sender,
					uint64_t seq, const uint8_t bid[16],
					int *verdict);
/* Record it as imported, durably.  FERRY_EDUPLICATE if it is not NEW.
 * *closed (may be NULL): numbers given up as gaps (for a log line). */
FERRY_MUST_CHECK int store_bundle_accept(struct store *st, const char *sender,
					 uint64_t seq, const uint8_t bid[16],
					 uint64_t *closed);
/* What this node knows of a peer's wall clock: its offset from ours (the
 * peer's minus this node's, ms), how it is known, and the peer's clock
 * at the last contact or carrier (last_ms; a later one that is earlier
 * shows the clock was set back).  Kept for the TTL charged to time on a
 * medium (agent/intake.c intake_medium_ms). */
enum store_clock_how {
	STORE_CLOCK_NONE = 0,	  /* nothing known */
	STORE_CLOCK_BOUND = 1,	  /* the lowest the carriers seen allow */
	STORE_CLOCK_MEASURED = 2, /* measured at a live contact (TCP) */
};
FERRY_MUST_CHECK int store_peer_clock_get(struct store *st, const char *peer,
					  int *how, int64_t *offset_ms,
					  int64_t *last_ms);
FERRY_MUST_CHECK int store_peer_clock_put(struct store *st, const char *peer,
					  int how, int64_t offset_ms,
					  int64_t last_ms);
/* A peer's counters as `ferry peers` shows them (last contact, bytes and
 * messages both ways, why the last session ended), kept so that a
 * restart does not reset them.  The TCP transport loads them at start and
 * saves them when a session ends and every STORE_PEER_STATS_EVERY_MS
 * while one runs: not durable to the record, at most that much is lost
 * with a crash.  _get of a peer never saved: all zero, 0.  _put is not
 * flushed on its own (the next commit or checkpoint does it). */
#define STORE_PEER_STATS_EVERY_MS 30000
struct store_peer_stats {
	int64_t last_seen_ms; /* wall clock of the last record, 0 never */
	uint64_t bytes_in, bytes_out;
	uint64_t msgs_in, msgs_out;
	char last_error[160];
};
FERRY_MUST_CHECK int store_peer_stats_get(struct store *st, const char *peer,
					  struct store_peer_stats *out);
FERRY_MUST_CHECK int store_peer_stats_put(struct store *st, const char *peer,
					  const struct store_peer_stats *stats);
/* Mark a message as exported to peer on medium at at_ms, until custody,
 * expiry or removal (the caller marks only outbound messages).
 * FERRY_ENOTFOUND if it left the store. */
FERRY_MUST_CHECK int store_out_exported(struct store *st,
					const uint8_t id[FERRY_ID_LEN],
					const char *peer, const char *medium,
					int64_t at_ms);
/* The same; track: the message asked to be tracked (FERRY_MSG_TRACK)
 * and came from elsewhere: a "medium" receipt goes to its source. */
FERRY_MUST_CHECK int store_out_exported_track(struct store *st,
					      const uint8_t id[FERRY_ID_LEN],
					      const char *peer,
					      const char *medium, int64_t at_ms,
					      int track);
FERRY_MUST_CHECK int store_out_export_get(struct store *st,
					  const uint8_t id[FERRY_ID_LEN],
					  struct store_export *out);

/* -------------------------------------------------------------- expiry */

/* Move a message to the dead queue with a reason. */
FERRY_MUST_CHECK int store_dead_letter(struct store *st,
				       const uint8_t id[FERRY_ID_LEN],
				       enum store_dead_reason reason);

typedef void (*store_dead_fn)(const struct store_msg_info *info, void *arg);

/*
 * When store_sweep next has work (wall ms): the earliest lease end,
 * expiry of a queued or outbound message, dedup entry to forget, idle
 * partial stream or reply-queue deadline it found, or its now when it
 * left work for the next call; lowered since by operations that added an
 * earlier one (a new lease, a message with an expiry, a payload to free).
 * INT64_MAX when nothing is due at all.  Any thread.
 */
int64_t store_due_ms(struct store *st);
/*
 * fn(arg) is called whenever store_due_ms() becomes earlier than it was:
 * on the store's writer thread, inside its batch, so it must only wake
 * the caller's thread (write to an eventfd), nothing more.  fn NULL:
 * nobody is told.  Set it before the first store_sweep.
 */
typedef void (*store_due_fn)(void *arg);
void store_set_due_fn(struct store *st, store_due_fn fn, void *arg);

struct store_sweep_stats {
	uint64_t expired;	  /* moved to dead */
	uint64_t leases_returned; /* leases that ran out */
	uint64_t seen_pruned;	  /* dedup entries forgotten */
	uint64_t partials_dropped;
	uint64_t bytes_freed; /* payload of removed large messages */
	uint64_t pages_freed; /* database pages given back to the disk */
};

/*
 * Return leases that ran out, move expired messages to the dead queue
 * (calling fn once for each, which may be NULL), forget old dedup entries
 * and drop stale partial streams.  It also frees the disk space of removed
 * payloads larger than 2 MiB (freed in small transactions here rather
 * than at ack time; until then their id is refused as busy).  Each call
 * does a bounded amount of work (64 transactions, 256 MiB of payload
 * freed); call it from a timer and what is left is done by later calls.
 * A call at least 30 s after the last compaction, with other operations
 * since, also compacts the databases a bounded step, giving the space of
 * removed messages back to the file system, so an emptied store shrinks
 * back towards its size when new.  Call it again by store_due_ms().
 */
FERRY_MUST_CHECK int store_sweep(struct store *st, store_dead_fn fn, void *arg,
				 struct store_sweep_stats *stats);
/* One bounded compaction step of every database (store_sweep does one
 * now and then); *pages_freed: pages given back to the disk. */
FERRY_MUST_CHECK int store_compact(struct store *st, uint64_t *pages_freed);
/* The effective disk reserve (after the raise and the small-volume
 * scaling of store_open), and the free space now (UINT64_MAX if it cannot
 * be read).  For refusals that say why. */
uint64_t store_reserve(struct store *st, uint64_t *free_bytes);

struct store_stats {
	uint64_t msgs;
	uint64_t bytes;
	uint64_t outbound_msgs;
	uint64_t outbound_bytes;
	uint64_t commits; /* writer-thread commits since open */
	uint64_t ops;	  /* operations in them */
	uint64_t quota_bytes;
	uint64_t reserve_bytes; /* effective disk reserve (see store_opts) */
};

FERRY_MUST_CHECK int store_stats(struct store *st, struct store_stats *out);

/*
 * What the writer counts as it goes, for the metrics (agent/metrics.c):
 * how long its commits take and what it dead-lettered, since the store
 * was opened.  A commit is timed from the moment the writer starts a
 * batch to the moment that batch's callers are answered, so it includes
 * the log flush when one of them asked for durability, and the wait
 * behind an earlier batch's flush.  The buckets are fixed: bucket i
 * counts commits that took at most store_commit_bound_us[i] and more
 * than the bound before it; the last one (STORE_COMMIT_BUCKETS) those
 * above every bound.
 */
#define STORE_COMMIT_BUCKETS 14
extern const uint64_t store_commit_bound_us[STORE_COMMIT_BUCKETS];
struct store_counters {
	uint64_t commit_bucket[STORE_COMMIT_BUCKETS + 1]; /* not cumulative */
	uint64_t commits;	/* timed commits: the buckets' sum */
	uint64_t commit_sum_us; /* their time, added up */
	uint64_t dead[STORE_DEAD_LAST_ + 1]; /* messages dead-lettered, by
						reason (a dead letter moved
						within dead is not counted
						again); [0] unused */
};
/* A snapshot of the counters; any thread, never blocks on the disk. */
void store_counters(struct store *st, struct store_counters *out);

const char *store_state_name(enum store_state s);
const char *store_dead_reason_name(enum store_dead_reason r);
/* "queued", "acked", "expired", "refused" or "?" */
const char *store_receipt_event_name(unsigned event);

#endif
