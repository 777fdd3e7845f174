/*
 * store_int.h - private to store/: the environment, the writer thread,
 * record and key encodings.
 *
 * Databases (one file each, all in one transactional environment):
 *   msgs      id -> header record (+ payload when <= STORE_INLINE_MAX)
 *   chunks    id . be32 index -> up to STORE_CHUNK_BYTES of payload
 *   qidx      queue . 0 . (7 - prio) . be64 seq -> id   (available msgs)
 *   lidx      be64 lease_until . id -> ""               (leased msgs)
 *   oidx      (7 - prio) . be64 seq -> id               (outbound msgs)
 *   ondx      dst_node . 0 . (7 - prio) . be64 seq -> id (the same, by
 *             destination: what one peer's session walks)
 *   eidx      be64 expires . id -> ""                   (msgs with a TTL)
 *   seen      id -> seen record (what became of a message that left)
 *   seenx     be64 forget_at . id -> ""
 *   queues    name -> queue record (counters and limits)
 *   partials  id -> header record of a payload being streamed in
 *   garbage   id -> ""  (chunks of a large payload still to be freed)
 *   quarantine id -> damaged header bytes, kept for a human to look at
 *   meta      "schema", "seq", "totals"
 *   receipts  id -> receipts record (receipt.c)
 *   bundles   bundle sequence numbers, replay window, export marks
 *             (sneaker.c)
 *   spool/<hex id>  (files) payloads of streamed messages (spool.c)
 *
 * Invariants (checked by the unit tests):
 *  1. A header in msgs is in exactly one of qidx (QUEUED), lidx (LEASED)
 *     or oidx (OUTBOUND, INFLIGHT), under the key its fields give; an
 *     outbound one is in ondx too.
 *  2. A header with expires_ms != 0 and no dead_reason is in eidx.
 *  3. An id is in at most one of msgs, seen, partials.  An id in any of
 *     them is refused by put ("duplicate") or writer_open ("busy"); a
 *     put marked new_id (an id its caller drew just now, which cannot be
 *     in seen or partials) is refused only if msgs holds it.
 *  4. The queues record of Q counts exactly the headers whose queue is Q;
 *     meta totals count all headers.  Both change in the same transaction
 *     as the headers.
 *  5. Every write runs on the writer thread; a caller is answered after
 *     the commit (and, when the op asked for it, the log flush) that
 *     covers it.
 *
 * Message life (function of each transition):
 *   put ---> QUEUED --store_take--> LEASED --store_ack--> (seen: ACKED,
 *                                   or DEAD_REMOVED for a dead letter)
 *              ^  <--nack / lease runs out (sweep)--'
 *   put ---> OUTBOUND --out_claim--> INFLIGHT --out_custody--> (seen: HANDED)
 *              ^  <------------out_release-----------'
 *   QUEUED/OUTBOUND --expiry (sweep) or dead_letter--> QUEUED in "dead"
 *   LEASED --store_unreadable (payload unreadable)--> QUEUED in "dead"
 */
#ifndef FERRY_STORE_INT_H
#define FERRY_STORE_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include <db.h>

#include "lib/be.h"
#include "store/store.h"

#define STORE_INLINE_MAX      4096u /* payloads up to this live in msgs */
#define STORE_HDR_MAX	      (3712u + STORE_INLINE_MAX)
#define STORE_BATCH_OPS	      512  /* ops in one writer commit at most */
#define STORE_CKPT_OPS	      2048 /* kick the checkpointer after these */
#define STORE_CKPT_IDLE_US    (30LL * 1000 * 1000) /* or this long */
#define STORE_BATCH_ROWS      4096	 /* messages touched in one commit */
#define STORE_SYNC_EVERY      (8u << 20) /* streamed bytes between log flushes */
#define STORE_QKEY_MAX	      (FERRY_QUEUE_MAX + 1 + 1 + 8)
#define STORE_QCACHE_BUCKETS  1024
#define STORE_EMERGENCY_BYTES (8u << 20) /* see emergency_make */
#define STORE_LOG_FILE_BYTES  (16u << 20)
#define STORE_GC_NOW_BYTES                                                     \
	(2u << 20)		   /* payloads up to this are freed at once */
#define STORE_GC_CHUNKS	       32  /* chunks freed per sweep transaction */
#define STORE_SWEEP_DEAD_MAX   128 /* reported per sweep transaction */
#define STORE_SWEEP_ROUNDS     64  /* transactions per store_sweep call */
#define STORE_SWEEP_FREE_BYTES (256u << 20) /* payload freed per call */
#define STORE_COMPACT_EVERY_MS 30000	    /* between compactions, at most */
#define STORE_COMPACT_BUSY_MS  600000	    /* ... while operations go on */
#define STORE_COMPACT_PAGES    2048 /* pages moved per database and call */

/* msgs' page size, for a store created now (Berkeley DB keeps the page
 * size a file was created with: older stores keep 8 KiB).  A leaf split,
 * once every page's worth of new messages, logs the whole page: 32 KiB
 * pages split a quarter as often as 8 KiB ones and waste less of each
 * page, so a 1 KiB message logs 2.8 KiB instead of 3.2 and costs the
 * writer 8-8.2 us instead of 9.7-10 (docs/store.md). */
#define STORE_MSGS_PAGE_BYTES 32768u

/* Internal result: a database call failed; the batch is aborted. */
#define STORE_EABORT (-1000)

struct store_hdr {
	struct store_msg_info info;
	uint64_t seq;	/* position key in qidx / oidx */
	uint64_t token; /* lease token when LEASED */
	int has_inline; /* payload stored in the header record */
	int spooled;	/* payload in the spool file spool/<hex id> */
};

struct store_qent {
	struct store_queue_stats s;
	int in_db; /* a record exists in queues */
	int dirty; /* changed in the running batch */
	int gone;  /* a closed reply queue: its record is deleted at the
		    * end of the batch (batch_finish) */
	struct store_qent *next, *dirty_next;
};

struct store_totals {
	uint64_t msgs, bytes, out_msgs, out_bytes;
};

struct store_ctx; /* one writer batch */
struct store_op;
typedef int (*store_op_fn)(struct store *st, struct store_ctx *cx,
			   struct store_op *op);

struct store_op {
	store_op_fn fn;
	int sync;   /* wants its commit flushed to disk */
	int result; /* out */
	int done;
	int64_t batch_us;      /* the first op of a writer batch: when the
				  writer began it (monotonic); else 0 */
	char err[200];	       /* out: detail for store_last_error() */
	store_done_fn done_fn; /* async: called on the writer thread */
	void *done_arg;
	pthread_cond_t *cv; /* sync: its submitter waits on it (store_submit) */
	struct store_op *next;
	union {
		struct {
			struct store_put_req *reqs;
			size_t n;
		} put;
		struct {
			const uint8_t *id;
			uint64_t token;
			int64_t lease_ms;
			const char *queue;
			const char *peer;
			uint64_t offset;
			int reason;
			const char *text; /* store_nack_dead */
			struct store_msg_info *info;
			uint64_t *token_out;
			struct store_take_req *take; /* async take, or NULL */
			const struct store_queue_limits *lim;
		} m;
		struct {
			struct store_writer *w;
			const struct store_hdr *saved; /* state to start from */
			int kind;
		} wr;
		struct {
			const char *peer; /* or sender */
			const char *medium;
			const uint8_t *bid; /* bundle id, or message id */
			uint64_t seq;
			int64_t at;
			int64_t last;
			uint64_t *seq_out;
		} b;
		struct {
			const char *peer;
			const struct store_peer_stats *stats;
		} ps;
		struct {
			struct store_sweep_stats *stats;
			int more;
			int64_t next; /* the next deadline seen (wall ms) */
			struct store_msg_info *dead; /* dead-lettered */
			size_t ndead;
		} sw;
		struct {
			uint64_t pages_freed; /* returned to the file system */
		} cp;
	} u;
};

struct store_ctx {
	DB_TXN *txn;
	int dberr; /* the Berkeley DB error that aborts the batch */
	int64_t now;
	int free_checked; /* statvfs done in this batch */
	uint64_t free_bytes;
	unsigned rows; /* messages touched so far */
	struct store_qent *dirty;
	/* Messages this batch dead-lettered, by reason: added to the
	 * store's counters once it committed (batch_run). */
	uint32_t dead[STORE_DEAD_LAST_ + 1];
	char errbuf[256];
};

struct store {
	DB_ENV *env;
	DB *msgs, *chunks, *qidx, *lidx, *oidx, *eidx, *seen, *seenx, *queues,
	    *partials, *garbage, *quarantine, *meta, *receipts, *bundles, *ondx;
	uint64_t quarantined; /* damaged records moved aside since open */
	uint64_t reserve;     /* effective disk reserve, see store_open */
	char *dir;
	int lock_fd;
	int spool_fd; /* the spool directory */
	struct store_opts opts;
	char node[FERRY_NODE_MAX + 1];

	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;
	struct store_op *head, *tail;
	int stopping;
	/* committed batches waiting for the flusher's log flush */
	pthread_t flusher;
	int flusher_started, flush_stop;
	pthread_cond_t flush_cv;
	struct store_op *flush_head, *flush_tail;
	size_t flush_n;
	int flushing;			   /* the flusher is in log_flush */
	size_t flush_last_n, flush_prev_n; /* callers served by the last two */
	int64_t flush_us;		   /* running average of a log flush */
	/* The log file the flusher gives the page cache back of, behind
	 * the flushed end (log_drop_behind): its number, a descriptor of
	 * its own (-1: none open) and how far it has given back. */
	int log_fd;
	uint32_t log_fileno;
	/* bundles.db may hold an export mark: set at open if it does, and by
	 * op_exported; never cleared while open (writer thread). */
	int export_marks;
	uint32_t log_dropped;
	/* The checkpointer: a checkpoint (every 8 MiB of log) writes the
	 * dirty pages and fsyncs the files, off the writer's path; kicked
	 * by the writer (ckpt_kick) after STORE_CKPT_OPS operations, or
	 * after a batch STORE_CKPT_IDLE_US after the last kick, under mu. */
	pthread_t ckpt;
	int ckpt_started, ckpt_stop, ckpt_kick;
	size_t ckpt_ops;      /* operations since the last kick */
	int64_t ckpt_kick_us; /* mono_us() of the last kick */
	pthread_cond_t ckpt_cv;
	int broken; /* the environment needs recovery: refuse writes */
	unsigned emergency_used; /* times the emergency space was freed */

	/* Owned by the writer thread. */
	uint64_t seq;
	struct store_totals tot;
	struct store_qent *qcache[STORE_QCACHE_BUCKETS];
	uint64_t token_next;

	/* Read under mu. */
	uint64_t n_commits, n_ops;
	/* The commit-time histogram (store_counters), under mu. */
	uint64_t commit_bucket[STORE_COMMIT_BUCKETS + 1];
	uint64_t commit_sum_us;
	/* Dead-lettered since open, by reason: added by the writer, read by
	 * anyone (atomics). */
	uint64_t dead_total[STORE_DEAD_LAST_ + 1];

	/* The compaction rhythm (store_sweep's thread only): when the last
	 * one ran, n_ops after the last sweep, and whether other operations
	 * ran since (nothing changed: nothing to compact). */
	int64_t compact_mono_ms;
	uint64_t sweep_ops;
	int compact_dirty;

	/* When the sweep is next due (wall ms; INT64_MAX: nothing known):
	 * set by the sweep from the time indexes, lowered by store_due_note
	 * (any writer op), read by anyone (atomics).  due_fn is told when it
	 * is lowered. */
	int64_t due_ms;
	store_due_fn due_fn;
	void *due_arg;

	/* Sizes scaled to the volume at open (store_open, "small volumes"). */
	uint64_t log_file_bytes, emergency_bytes, cache_bytes;

	/* The streamed writers alive now (writer.c): each partial has at
	 * most one, its owner; under wmu. */
	pthread_mutex_t wmu;
	struct store_writer *live;
};

/* A deadline at (wall ms) appeared (a lease, an expiry, work for the
 * sweep: pass the transaction's now): lower due_ms and tell due_fn if it
 * is earlier than what is known.  Any thread; may be early (an aborted
 * batch), never late. */
void store_due_note(struct store *st, int64_t at_ms);

/* store.c: errors, the clock, Berkeley DB helpers, the queue-counter
 * cache, the meta counters and disk space. */
#define STORE_ERR_MAX 512 /* store_last_error()'s buffer, with its NUL */
void store_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void store_clearerr(void);
/* Checks the fast log checksum against Berkeley DB's own, once per
 * process (store/logsum.c); 1 when it is used. */
int store_logsum_check(void);
int store_dberr(struct store_ctx *cx, int rc, const char *what);
int store_map_dberr(int rc);
int64_t store_now(struct store *st);
int store_check_space(struct store *st, struct store_ctx *cx, uint64_t need,
		      int priority);
struct store_qent *store_qget(struct store *st, const char *name, int create);
void store_qdirty(struct store_ctx *cx, struct store_qent *q);
/* Forget q (a closed reply queue whose record is gone): unlink and free
 * it, so that the cache does not grow with every request ever made. */
void store_qdrop(struct store *st, struct store_qent *q);
/* (Re)load q's counters from queues; a Berkeley DB error or EINVAL. */
int store_qload(struct store *st, DB_TXN *t, struct store_qent *q);
void store_qcache_free(struct store *st);
/* The committed totals (zero when none yet); 0 or a Berkeley DB error. */
int store_totals_load(struct store *st, struct store_totals *out);
/* st->seq and st->tot from meta, and back (inside t). */
int store_meta_load(struct store *st);
int store_meta_save(struct store *st, DB_TXN *t);
void store_emergency_refill(struct store *st);
/* Delete the emergency file; 1 if it was there and is gone now. */
int store_emergency_release(struct store *st);
int store_db_get(DB *db, DB_TXN *t, const void *k, size_t klen, void *v,
		 size_t cap, size_t *vlen, uint32_t flags);
int store_db_put(DB *db, DB_TXN *t, const void *k, size_t klen, const void *v,
		 size_t vlen);
int store_db_del(DB *db, DB_TXN *t, const void *k, size_t klen);
/* d reads into buf (cap bytes) for a cursor get: DB_DBT_USERMEM. */
void store_dbt_user(DBT *d, void *buf, size_t cap);
/* d reads nothing (a zero-length partial get): for walking keys only. */
void store_dbt_none(DBT *d);

/* commit.c: the writer and flusher threads (group commit). */
int store_submit(struct store *st, struct store_op *op);
int store_submit_async(struct store *st, struct store_op *op);
/* Start the writer, flusher and checkpoint threads: 0 or FERRY_ENOMEM
 * (what started is marked in st). */
int store_threads_start(struct store *st);
/* Let the writer finish its queue, then the flusher; stop the
 * checkpointer; join all three. */
void store_threads_stop(struct store *st);

/* record.c */
size_t rec_hdr_encode(const struct store_hdr *h, const void *inl,
		      size_t inl_len, uint8_t *buf, size_t cap);
int rec_hdr_decode(const void *buf, size_t len, struct store_hdr *h,
		   const uint8_t **inl, size_t *inl_len);
size_t rec_qkey(uint8_t *k, const char *queue, uint8_t prio, uint64_t seq);
size_t rec_qprefix(uint8_t *k, const char *queue);
void rec_okey(uint8_t k[9], uint8_t prio, uint64_t seq);
void rec_tkey(uint8_t k[8 + FERRY_ID_LEN], int64_t t,
	      const uint8_t id[FERRY_ID_LEN]);
void rec_ckey(uint8_t k[FERRY_ID_LEN + 4], const uint8_t id[FERRY_ID_LEN],
	      uint32_t idx);

struct store_seen {
	enum store_status_kind kind;
	int64_t at_ms;
	int64_t forget_ms;
	char peer[FERRY_NODE_MAX + 1];
	/* STORE_ST_HANDED to a relay: its destination (receipts come from
	 * there), or "" */
	char dst[FERRY_NODE_MAX + 1];
	/* STORE_ST_DEAD_REMOVED: why and since when it was dead */
	enum store_dead_reason dead_reason;
	int64_t dead_ms;
};
size_t rec_seen_encode(const struct store_seen *s, uint8_t *buf, size_t cap);
int rec_seen_decode(const void *buf, size_t len, struct store_seen *s);
struct store_rcpt_rec {
	struct store_receipt r[STORE_RECEIPTS_MAX];
	size_t n;
};
size_t rec_rcpt_encode(const struct store_rcpt_rec *s, uint8_t *buf,
		       size_t cap);
int rec_rcpt_decode(const void *buf, size_t len, struct store_rcpt_rec *s);
size_t rec_queue_encode(const struct store_queue_stats *s, uint8_t *buf,
			size_t cap);
int rec_queue_decode(const void *buf, size_t len, struct store_queue_stats *s);

/* message.c: plumbing shared by every operation on a stored message.
 * Functions taking a ctx run on the writer thread inside its transaction
 * and return 0, a FERRY_E* code, or STORE_EABORT (cx->dberr is set). */
struct msg_rec {
	struct store_hdr h;
	const uint8_t *inl; /* inline payload, points into raw */
	size_t inl_len;
	uint8_t raw[STORE_HDR_MAX];
};
int msg_load(struct store *st, struct store_ctx *cx, const uint8_t *id,
	     struct msg_rec *r);
int msg_save(struct store *st, struct store_ctx *cx, const struct msg_rec *r);
/* msg_save of a header that must not exist yet: FERRY_EDUPLICATE, with
 * nothing written, if one does (the lookup folded into the put). */
int msg_save_new(struct store *st, struct store_ctx *cx,
		 const struct msg_rec *r);
int msg_pos_add(struct store *st, struct store_ctx *cx,
		const struct store_hdr *h);
int msg_pos_del(struct store *st, struct store_ctx *cx,
		const struct store_hdr *h);
int msg_exp_add(struct store *st, struct store_ctx *cx,
		const struct store_hdr *h);
int msg_exp_del(struct store *st, struct store_ctx *cx,
		const struct store_hdr *h);
int msg_count(struct store *st, struct store_ctx *cx, const struct store_hdr *h,
	      int sign);
int msg_remove(struct store *st, struct store_ctx *cx, struct msg_rec *r,
	       enum store_status_kind why, const char *peer);
int msg_dead(struct store *st, struct store_ctx *cx, struct msg_rec *r,
	     enum store_dead_reason reason);
/* Count a message dead-lettered by this batch (store_counters). */
void store_dead_count(struct store_ctx *cx, enum store_dead_reason reason);
/* An index entry (db, key) names a message that is missing or damaged:
 * drop the entry, move a damaged header to quarantine, go on. */
int msg_quarantine(struct store *st, struct store_ctx *cx, DB *db,
		   const void *key, size_t klen, const uint8_t *id);
int chunks_delete(struct store *st, struct store_ctx *cx, const uint8_t *id);
/* Free the chunks of id (len payload bytes): at once when small, else
 * later, in bounded transactions of the sweep (store_gc). */
int payload_free(struct store *st, struct store_ctx *cx, const uint8_t *id,
		 int spooled, uint64_t len);
/* Free up to STORE_GC_CHUNKS chunks of deferred payloads; *more is set
 * when some are left. */
int store_gc(struct store *st, struct store_ctx *cx, int *more,
	     uint64_t *freed);
/* 0 unknown, 1 accepted before (msgs or seen), 2 being streamed in or
 * its old chunks are still being freed. */
int msg_known(struct store *st, struct store_ctx *cx, const uint8_t *id);
/* The same without looking in msgs (0, 1 for seen, 2). */
int msg_known_elsewhere(struct store *st, struct store_ctx *cx,
			const uint8_t *id);
/* ferry_msg_validate, with STORE_SPLIT_DST a valid destination. */
int msg_valid(const struct store *st, const struct ferry_msg *m);
/* Make r (payload already stored) a message: header, indexes, counters;
 * a message entering a local queue may emit a receipt.  first: nothing
 * was written for r yet and msgs was not looked up: its header is put
 * with msg_save_new, and FERRY_EDUPLICATE (nothing written) if the id
 * is there. */
int msg_insert(struct store *st, struct store_ctx *cx, struct msg_rec *r,
	       int first);
/* Remember h's id as gone (why, peer) until its forget time. */
int seen_put(struct store *st, struct store_ctx *cx, const struct store_hdr *h,
	     enum store_status_kind why, const char *peer);
int store_db_exists(DB *db, DB_TXN *t, const void *k, size_t klen);

/* writer.c */
int op_put(struct store *st, struct store_ctx *cx, struct store_op *op);

/* A reader over the first len payload bytes stored under id, whether or
 * not a message record exists (a partial's chunks). */
int store_prefix_reader_open(struct store *st, const uint8_t *id, uint64_t len,
			     struct store_reader **out);

/* spool.c: streamed payloads as plain files (see there). */
int spool_open(struct store *st); /* after the databases: drops orphans */
void spool_close(struct store *st);
int spool_create(struct store *st, const uint8_t *id, int *fd);
int spool_open_append(struct store *st, const uint8_t *id, uint64_t len,
		      int *fd);
int spool_open_read(struct store *st, const uint8_t *id, int *fd);
/* FERRY_ECORRUPT if the file holds fewer than len bytes (it was
 * truncated, or the disk lost data). */
int spool_check_len(int fd, uint64_t len);
int spool_write(int fd, const void *buf, size_t len);
int spool_sync(int fd);
int spool_read(int fd, uint64_t off, void *buf, size_t cap, size_t *n);
/* tap.c: a tap of a partial with avail bytes in its spool file; the
 * writer moves it (a NULL t is ignored). */
int store_tap_new(struct store *st, const struct store_msg_info *info,
		  uint64_t avail, struct store_tap **out);
void tap_update(struct store_tap *t, uint64_t avail, int state);
/* Where the writer's page cache must stay for t's reader, written bytes
 * written so far (UINT64_MAX: anywhere may go). */
uint64_t tap_keep_from(struct store_tap *t, uint64_t written);
int spool_is(struct store *st, const uint8_t *id, int fd, uint64_t len);
void spool_unlink(struct store *st, const uint8_t *id);

/* sneaker.c: drop the export mark of a message leaving the outbound side
 * (inside the writer's transaction). */
int exports_forget(struct store *st, struct store_ctx *cx, const uint8_t *id);

/* receipt.c: receipts made and absorbed inside the writer's transaction,
 * so that a crash can neither lose nor double them. */
/* The message of h changed (event): if its source asked for receipts,
 * queue one for it (or, for a local source, record it at once). */
int receipt_emit(struct store *st, struct store_ctx *cx,
		 const struct store_hdr *h, unsigned event);
/* m is a receipt for this node: record it; 0 when absorbed.  route: how
 * it came (NULL: from its maker directly, or made here); one that came
 * through relays counts only with a verified signature. */
int receipt_absorb(struct store *st, struct store_ctx *cx,
		   const struct ferry_msg *m, const struct store_route *route,
		   const void *payload, size_t len);
/* Parse a receipt payload (hostile bytes from a peer): 0 or
 * FERRY_EINVAL. */
int receipt_parse(const uint8_t *p, size_t len, unsigned *event,
		  uint8_t id[FERRY_ID_LEN], char node[FERRY_NODE_MAX + 1],
		  int64_t *at);
/* Fill st's receipts for id (outside the writer: a plain read). */
int receipt_load(struct store *st, const uint8_t *id, struct store_status *out);

#endif
