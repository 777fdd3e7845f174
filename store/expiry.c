/*
 * expiry.c - time-driven work: leases that ran out, messages past their
 * expiry (to the dead queue), dedup entries past their retention, partial
 * streams left idle, reply queues past their deadline (closed, what waits
 * in them to dead), and explicit dead-lettering.
 *
 * The sweep works through the time-ordered indexes (lidx, eidx, seenx) from
 * their start up to now, in bounded transactions, so its cost is the work
 * due, not the size of the store; reply queues are found by their records
 * (the "reply." range of queues), so that costs one read per open one.
 *
 * Each sweep ends by noting when the next one has work (store_due_ms):
 * the first keys of the same indexes after now, the earliest idle
 * partial and reply-queue deadline it read.  Writer operations that add
 * an earlier deadline lower it (store_due_note), so the agent sleeps
 * until then instead of sweeping by the clock (agent/sweep.c).
 */
#include "config.h"

#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "store/store_int.h"
#include "lib/util.h"

static int
op_dead(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	struct msg_rec *r = malloc(sizeof(*r));
	int rc;

	if (r == NULL)
		return FERRY_ENOMEM;
	rc = msg_load(st, cx, op->u.m.id, r);
	if (rc == 0 && r->h.info.dead_reason != STORE_DEAD_NONE)
		rc = FERRY_ESTATE; /* dead already */
	if (rc == 0)
		rc =
		    msg_dead(st, cx, r, (enum store_dead_reason)op->u.m.reason);
	free(r);
	return rc;
}

int
store_dead_letter(struct store *st, const uint8_t id[FERRY_ID_LEN],
		  enum store_dead_reason reason)
{
	struct store_op op;

	if (id == NULL || reason <= STORE_DEAD_NONE ||
	    reason > STORE_DEAD_LAST_)
		return FERRY_EINVAL;
	memset(&op, 0, sizeof(op));
	op.fn = op_dead;
	op.sync = 1;
	op.u.m.id = id;
	op.u.m.reason = reason;
	return store_submit(st, &op);
}

/*
 * The first key of time index db at or after from_ms: its time into *t
 * (INT64_MAX if none), and with id non-NULL its id (byte 8 on) too.
 * Returns 1 found, 0 none, or STORE_EABORT.  A key of the wrong size is
 * damage for a caller that takes the entry (id); for one that only wants
 * the time, as if there were none.
 */
static int
time_first(struct store_ctx *cx, DB *db, int64_t from_ms, int64_t *t,
	   uint8_t *id)
{
	uint8_t kbuf[8 + FERRY_ID_LEN];
	DBC *c = NULL;
	DBT k, v;
	int rc;

	*t = INT64_MAX;
	rc = db->cursor(db, cx->txn, &c, 0);
	if (rc != 0)
		return store_dberr(cx, rc, "opening a cursor");
	memset(kbuf, 0, sizeof(kbuf));
	ferry_put_be64(kbuf, (uint64_t)(from_ms < 0 ? 0 : from_ms));
	store_dbt_user(&k, kbuf, sizeof(kbuf));
	k.size = sizeof(kbuf);
	store_dbt_none(&v);
	rc = c->get(c, &k, &v, DB_SET_RANGE);
	(void)c->close(c);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_dberr(cx, rc, "reading a time index");
	if (k.size != sizeof(kbuf))
		return id != NULL
			   ? store_dberr(cx, EINVAL, "time index is damaged")
			   : 0;
	*t = (int64_t)ferry_get_be64(kbuf);
	if (id != NULL)
		memcpy(id, kbuf + 8, FERRY_ID_LEN);
	return 1;
}

/* The first entry of time index db that is due (<= now).  1 found, 0
 * none due, or STORE_EABORT. */
static int
first_due(struct store_ctx *cx, DB *db, int64_t *t, uint8_t *id)
{
	int rc = time_first(cx, db, 0, t, id);

	return rc == 1 && *t > cx->now ? 0 : rc;
}

/* The time of the first key of db at or after after_ms (INT64_MAX if
 * none) into *t.  0 or STORE_EABORT. */
static int
first_from(struct store_ctx *cx, DB *db, int64_t after_ms, int64_t *t)
{
	int rc = time_first(cx, db, after_ms, t, NULL);

	return rc < 0 ? rc : 0;
}

static void
next_min(struct store_op *op, int64_t t)
{
	if (t < op->u.sw.next)
		op->u.sw.next = t;
}

/* When the next sweep has work: what the indexes hold after now (an
 * expired message that is leased or in flight stays in eidx until it
 * comes back, which notes it again), or now when this one left some. */
static int
sweep_next(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	int64_t t;
	int rc;

	if (op->u.sw.more) {
		op->u.sw.next = cx->now;
		return 0;
	}
	if ((rc = first_from(cx, st->lidx, 0, &t)) != 0)
		return rc;
	next_min(op, t);
	if ((rc = first_from(cx, st->eidx, cx->now + 1, &t)) != 0)
		return rc;
	next_min(op, t);
	if ((rc = first_from(cx, st->seenx, 0, &t)) != 0)
		return rc;
	next_min(op, t);
	return 0;
}

static int
del_tkey(struct store_ctx *cx, DB *db, int64_t t, const uint8_t *id)
{
	uint8_t k[8 + FERRY_ID_LEN];
	int rc;

	rec_tkey(k, t, id);
	rc = store_db_del(db, cx->txn, k, sizeof(k));
	if (rc != 0 && rc != DB_NOTFOUND)
		return store_dberr(cx, rc, "updating a time index");
	return 0;
}

/* Leases that ran out go back to their place in the queue. */
static int
sweep_leases(struct store *st, struct store_ctx *cx, struct store_op *op,
	     struct msg_rec *r)
{
	uint8_t id[FERRY_ID_LEN];
	int64_t t;
	int rc;

	while (cx->rows < STORE_BATCH_ROWS) {
		rc = first_due(cx, st->lidx, &t, id);
		if (rc <= 0)
			return rc;
		rc = msg_load(st, cx, id, r);
		if (rc == STORE_EABORT)
			return rc;
		if (rc != 0 || r->h.info.state != STORE_LEASED ||
		    r->h.info.lease_until_ms != t) {
			/* A stray index entry: drop it. */
			if ((rc = del_tkey(cx, st->lidx, t, id)) != 0)
				return rc;
			continue;
		}
		if ((rc = msg_pos_del(st, cx, &r->h)) != 0 ||
		    (rc = msg_count(st, cx, &r->h, -1)) != 0)
			return rc;
		r->h.info.state = STORE_QUEUED;
		r->h.info.lease_until_ms = 0;
		r->h.token = 0;
		if ((rc = msg_count(st, cx, &r->h, +1)) != 0 ||
		    (rc = msg_pos_add(st, cx, &r->h)) != 0 ||
		    (rc = msg_save(st, cx, r)) != 0)
			return rc;
		cx->rows++;
		op->u.sw.stats->leases_returned++;
	}
	op->u.sw.more = 1;
	return 0;
}

/*
 * Messages past their expiry go to the dead queue.  Leased and in-flight
 * ones are left for now: the holder may still ack, and take refuses an
 * expired message when the lease returns it.  They stay in eidx, so the
 * sweep looks again next time.
 */
static int
sweep_expired(struct store *st, struct store_ctx *cx, struct store_op *op,
	      struct msg_rec *r)
{
	uint8_t kbuf[8 + FERRY_ID_LEN];
	DBC *c = NULL;
	DBT k, v;
	int rc;

	rc = st->eidx->cursor(st->eidx, cx->txn, &c, 0);
	if (rc != 0)
		return store_dberr(cx, rc, "opening a cursor");
	store_dbt_user(&k, kbuf, sizeof(kbuf));
	store_dbt_none(&v);
	rc = c->get(c, &k, &v, DB_FIRST);
	while (rc == 0 && cx->rows < STORE_BATCH_ROWS) {
		if (k.size != sizeof(kbuf) ||
		    (int64_t)ferry_get_be64(kbuf) > cx->now)
			break;
		rc = msg_load(st, cx, kbuf + 8, r);
		if (rc == STORE_EABORT)
			break;
		if (rc != 0) {
			/* Stray entry (no such message): drop it. */
			rc = c->del(c, 0);
			if (rc != 0)
				break;
		} else if (r->h.info.state == STORE_QUEUED ||
			   r->h.info.state == STORE_OUTBOUND) {
			/* msg_dead removes the eidx entry under the cursor */
			if (op->u.sw.ndead == STORE_SWEEP_DEAD_MAX) {
				op->u.sw.more = 1;
				break;
			}
			rc = msg_dead(st, cx, r, STORE_DEAD_EXPIRED);
			if (rc != 0)
				break;
			op->u.sw.stats->expired++;
			op->u.sw.dead[op->u.sw.ndead++] = r->h.info;
		}
		rc = c->get(c, &k, &v, DB_NEXT);
	}
	if (rc == 0 && cx->rows >= STORE_BATCH_ROWS)
		op->u.sw.more = 1;
	(void)c->close(c);
	if (rc == STORE_EABORT)
		return rc;
	if (rc != 0 && rc != DB_NOTFOUND)
		return store_dberr(cx, rc, "sweeping expired messages");
	return 0;
}

static int
sweep_seen(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	uint8_t id[FERRY_ID_LEN];
	int64_t t;
	int rc;

	while (cx->rows < STORE_BATCH_ROWS) {
		rc = first_due(cx, st->seenx, &t, id);
		if (rc <= 0)
			return rc;
		if ((rc = del_tkey(cx, st->seenx, t, id)) != 0)
			return rc;
		rc = store_db_del(st->seen, cx->txn, id, FERRY_ID_LEN);
		if (rc != 0 && rc != DB_NOTFOUND)
			return store_dberr(cx, rc, "pruning seen ids");
		rc = store_db_del(st->receipts, cx->txn, id, FERRY_ID_LEN);
		if (rc != 0 && rc != DB_NOTFOUND)
			return store_dberr(cx, rc, "pruning receipts");
		cx->rows++;
		op->u.sw.stats->seen_pruned++;
	}
	op->u.sw.more = 1;
	return 0;
}

/* Partial streams idle for longer than partial_max_idle_ms are dropped. */
static int
sweep_partials(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	uint8_t kbuf[FERRY_ID_LEN], vbuf[STORE_HDR_MAX];
	uint8_t victims[16][FERRY_ID_LEN];
	uint64_t lens[16];
	size_t nv = 0;
	DBC *c = NULL;
	DBT k, v;
	int rc;

	rc = st->partials->cursor(st->partials, cx->txn, &c, 0);
	if (rc != 0)
		return store_dberr(cx, rc, "opening a cursor");
	store_dbt_user(&k, kbuf, sizeof(kbuf));
	store_dbt_user(&v, vbuf, sizeof(vbuf));
	while (nv < 16 && (rc = c->get(c, &k, &v, DB_NEXT)) == 0) {
		struct store_hdr h;
		if (k.size != FERRY_ID_LEN || store_writer_busy(st, kbuf))
			continue; /* a writer owns it: not idle */
		if (rec_hdr_decode(vbuf, v.size, &h, NULL, NULL) != 0) {
			lens[nv] = UINT64_MAX - STORE_CHUNK_BYTES;
			memcpy(victims[nv++], kbuf, FERRY_ID_LEN);
		} else if (h.info.stored_ms + st->opts.partial_max_idle_ms <=
			   cx->now) {
			lens[nv] = h.info.msg.payload_len;
			memcpy(victims[nv++], kbuf, FERRY_ID_LEN);
		} else {
			next_min(op, h.info.stored_ms +
					 st->opts.partial_max_idle_ms);
		}
	}
	(void)c->close(c);
	if (rc != 0 && rc != DB_NOTFOUND)
		return store_dberr(cx, rc, "reading partial records");
	for (size_t i = 0; i < nv; i++) {
		/* Through the garbage list: its chunks, or its spool file
		 * (unlinked after this commits). */
		if ((rc = payload_free(st, cx, victims[i], 1,
				       lens[i] + STORE_CHUNK_BYTES)) != 0)
			return rc;
		rc = store_db_del(st->partials, cx->txn, victims[i],
				  FERRY_ID_LEN);
		if (rc != 0 && rc != DB_NOTFOUND)
			return store_dberr(cx, rc, "dropping a partial");
		op->u.sw.stats->partials_dropped++;
		cx->rows++;
	}
	if (nv == 16)
		op->u.sw.more = 1;
	return 0;
}

#define SWEEP_REPLY_QUEUES 8 /* reply queues closed per round */

/* Move the available messages of queue to dead, "no one waiting"; 1 if
 * some are left for the next round, 0, or an error. */
static int
reply_drain(struct store *st, struct store_ctx *cx, const char *queue,
	    struct msg_rec *r)
{
	uint8_t prefix[STORE_QKEY_MAX], kbuf[STORE_QKEY_MAX];
	uint8_t id[FERRY_ID_LEN];
	size_t plen = rec_qprefix(prefix, queue);
	int rc;

	while (cx->rows < STORE_BATCH_ROWS) {
		DBC *c = NULL;
		DBT k, v;

		rc = st->qidx->cursor(st->qidx, cx->txn, &c, 0);
		if (rc != 0)
			return store_dberr(cx, rc, "opening a queue cursor");
		memcpy(kbuf, prefix, plen);
		store_dbt_user(&k, kbuf, sizeof(kbuf));
		k.size = (uint32_t)plen;
		store_dbt_user(&v, id, sizeof(id));
		rc = c->get(c, &k, &v, DB_SET_RANGE);
		(void)c->close(c);
		if (rc == DB_NOTFOUND ||
		    (rc == 0 &&
		     (k.size < plen || memcmp(kbuf, prefix, plen) != 0)))
			return 0;
		if (rc != 0 || v.size != FERRY_ID_LEN)
			return store_dberr(cx, rc ? rc : EINVAL,
					   "reading a reply queue");
		rc = msg_load(st, cx, id, r);
		if (rc == FERRY_ENOTFOUND || rc == FERRY_ECORRUPT)
			rc = msg_quarantine(st, cx, st->qidx, kbuf, k.size, id);
		else if (rc == 0)
			rc = msg_dead(st, cx, r, STORE_DEAD_NO_WAITER);
		if (rc != 0)
			return rc;
	}
	return 1;
}

/*
 * Reply queues past their open_until_ms and never purged (their
 * requester died): what waits in them goes to dead, "no one waiting",
 * and each closes once it is empty (a leased message holds it open
 * until its lease returns it).  Found by the cache entries' deadlines,
 * from the records' names: the records of one batch may be behind it.
 */
static int
sweep_replies(struct store *st, struct store_ctx *cx, struct store_op *op,
	      struct msg_rec *r)
{
	char names[SWEEP_REPLY_QUEUES][FERRY_QUEUE_MAX + 1];
	uint8_t kbuf[FERRY_QUEUE_MAX + 1], vbuf[128];
	size_t plen = sizeof(FERRY_REPLY_PREFIX) - 1, nn = 0;
	DBC *c = NULL;
	DBT k, v;
	int rc;

	rc = st->queues->cursor(st->queues, cx->txn, &c, 0);
	if (rc != 0)
		return store_dberr(cx, rc, "opening a cursor");
	memcpy(kbuf, FERRY_REPLY_PREFIX, plen);
	store_dbt_user(&k, kbuf, sizeof(kbuf) - 1);
	k.size = (uint32_t)plen;
	store_dbt_user(&v, vbuf, sizeof(vbuf));
	rc = c->get(c, &k, &v, DB_SET_RANGE);
	while (rc == 0 && nn < SWEEP_REPLY_QUEUES) {
		struct store_queue_stats s;
		if (k.size < plen || memcmp(kbuf, FERRY_REPLY_PREFIX, plen))
			break;
		if (rec_queue_decode(vbuf, v.size, &s) == 0 &&
		    s.open_until_ms != 0 && s.open_until_ms <= cx->now) {
			memcpy(names[nn], kbuf, k.size);
			names[nn++][k.size] = '\0';
		} else if (s.open_until_ms > cx->now) {
			next_min(op, s.open_until_ms);
		}
		rc = c->get(c, &k, &v, DB_NEXT);
	}
	(void)c->close(c);
	if (rc != 0 && rc != DB_NOTFOUND)
		return store_dberr(cx, rc, "reading reply queues");
	if (nn == SWEEP_REPLY_QUEUES)
		op->u.sw.more = 1;
	for (size_t i = 0; i < nn; i++) {
		struct store_qent *q = store_qget(st, names[i], 0);
		if (q == NULL || q->gone || q->s.open_until_ms == 0 ||
		    q->s.open_until_ms > cx->now)
			continue; /* reopened or closed in this batch */
		rc = reply_drain(st, cx, names[i], r);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			op->u.sw.more = 1;
			break;
		}
		if (q->s.msgs == 0) {
			q->gone = 1;
			store_qdirty(cx, q);
		}
	}
	return 0;
}

static int
op_sweep(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	struct msg_rec *r = malloc(sizeof(*r));
	int rc;

	if (r == NULL)
		return FERRY_ENOMEM;
	op->u.sw.more = 0;
	op->u.sw.next = INT64_MAX;
	op->u.sw.ndead = 0;
	memset(op->u.sw.stats, 0, sizeof(*op->u.sw.stats));
	rc = sweep_leases(st, cx, op, r);
	if (rc == 0)
		rc = sweep_expired(st, cx, op, r);
	if (rc == 0)
		rc = sweep_seen(st, cx, op);
	if (rc == 0)
		rc = sweep_partials(st, cx, op);
	if (rc == 0)
		rc = sweep_replies(st, cx, op, r);
	if (rc == 0 && cx->rows < STORE_BATCH_ROWS) {
		int more = 0;
		rc = store_gc(st, cx, &more, &op->u.sw.stats->bytes_freed);
		if (more)
			op->u.sw.more = 1;
	}
	if (rc == 0)
		rc = sweep_next(st, cx, op);
	if (rc == 0)
		__atomic_store_n(&st->due_ms, op->u.sw.next, __ATOMIC_RELEASE);
	free(r);
	return rc;
}

/*
 * Move up to STORE_COMPACT_PAGES pages of each database towards its
 * start and give the free pages at its end back to the file system
 * (Berkeley DB never shrinks a file by itself: a store that once held
 * 100 MiB kept 100 MiB of files).  One bounded step per call.
 */
static int
op_compact(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	DB *dbs[] = {st->chunks, st->msgs,    st->qidx,	    st->lidx,
		     st->oidx,	 st->eidx,    st->seen,	    st->seenx,
		     st->ondx,	 st->garbage, st->partials, st->receipts};

	op->u.cp.pages_freed = 0;
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		DB_COMPACT c;
		int rc;
		memset(&c, 0, sizeof(c));
		c.compact_pages = STORE_COMPACT_PAGES;
		rc = dbs[i]->compact(dbs[i], cx->txn, NULL, NULL, &c,
				     DB_FREE_SPACE, NULL);
		if (rc != 0)
			return store_dberr(cx, rc, "compacting a database");
		op->u.cp.pages_freed += c.compact_pages_truncated;
	}
	return 0;
}

int
store_compact(struct store *st, uint64_t *pages_freed)
{
	struct store_op op;
	int rc;

	memset(&op, 0, sizeof(op));
	op.fn = op_compact;
	op.sync = 0; /* nothing to lose: redone by a later call */
	rc = store_submit(st, &op);
	if (pages_freed != NULL)
		*pages_freed = rc == 0 ? op.u.cp.pages_freed : 0;
	/* Moving pages wrote log: a checkpoint lets the log files that
	 * recovery no longer needs go now, not after 8 MiB more. */
	if (rc == 0 && op.u.cp.pages_freed > 0)
		(void)st->env->txn_checkpoint(st->env, 0, 0, DB_FORCE);
	return rc;
}

int64_t
store_due_ms(struct store *st)
{
	return __atomic_load_n(&st->due_ms, __ATOMIC_ACQUIRE);
}

void
store_set_due_fn(struct store *st, store_due_fn fn, void *arg)
{
	st->due_arg = arg;
	__atomic_store_n(&st->due_fn, fn, __ATOMIC_RELEASE);
}

void
store_due_note(struct store *st, int64_t at_ms)
{
	int64_t cur = __atomic_load_n(&st->due_ms, __ATOMIC_ACQUIRE);
	store_due_fn fn;

	while (at_ms < cur)
		if (__atomic_compare_exchange_n(&st->due_ms, &cur, at_ms, 0,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			fn = __atomic_load_n(&st->due_fn, __ATOMIC_ACQUIRE);
			if (fn != NULL)
				fn(st->due_arg);
			return;
		}
}

int
store_sweep(struct store *st, store_dead_fn fn, void *arg,
	    struct store_sweep_stats *stats)
{
	struct store_sweep_stats total, round;
	struct store_msg_info *dead;
	struct store_op op;
	unsigned rounds = 0;
	int64_t since;
	int rc, busy;

	memset(&total, 0, sizeof(total));
	/* Anything else done since the last sweep? (Compaction follows.) */
	pthread_mutex_lock(&st->mu);
	busy = st->n_ops != st->sweep_ops;
	if (busy)
		st->compact_dirty = 1;
	pthread_mutex_unlock(&st->mu);
	dead = calloc(STORE_SWEEP_DEAD_MAX, sizeof(*dead));
	if (dead == NULL)
		return FERRY_ENOMEM;
	do {
		memset(&op, 0, sizeof(op));
		op.fn = op_sweep;
		op.sync = 0; /* redone after a crash */
		op.u.sw.stats = &round;
		op.u.sw.dead = dead;
		rc = store_submit(st, &op);
		if (rc != 0)
			break;
		total.expired += round.expired;
		total.leases_returned += round.leases_returned;
		total.seen_pruned += round.seen_pruned;
		total.partials_dropped += round.partials_dropped;
		total.bytes_freed += round.bytes_freed;
		/* Reported after the commit, so each message exactly once. */
		for (size_t i = 0; fn != NULL && i < op.u.sw.ndead; i++)
			fn(&dead[i], arg);
		/* Bounded work per call, so that a stop never waits long:
		 * what is left waits for the next call. */
	} while (op.u.sw.more && ++rounds < STORE_SWEEP_ROUNDS &&
		 total.bytes_freed < STORE_SWEEP_FREE_BYTES);
	free(dead);
	/* Only this thread calls store_sweep (one sweep at a time).  A store
	 * nobody changed has nothing to give back: an idle node does not
	 * compact every minute.  Nor one in the middle of a burst: a step
	 * moves records (each logged twice, bytes and all) in one
	 * transaction that the writer's puts wait behind, and what a
	 * draining backlog frees is worth giving back once it has drained:
	 * at the first sweep that no other operation preceded, or every
	 * STORE_COMPACT_BUSY_MS under steady traffic. */
	since = ferry_mono_ms() - st->compact_mono_ms;
	if (rc == 0 && st->compact_dirty && since >= STORE_COMPACT_EVERY_MS &&
	    (!busy || since >= STORE_COMPACT_BUSY_MS)) {
		rc = store_compact(st, &total.pages_freed);
		st->compact_mono_ms = ferry_mono_ms();
		st->compact_dirty = 0;
	}
	pthread_mutex_lock(&st->mu);
	st->sweep_ops = st->n_ops;
	pthread_mutex_unlock(&st->mu);
	store_emergency_refill(st);
	if (stats != NULL)
		*stats = total;
	return rc;
}
