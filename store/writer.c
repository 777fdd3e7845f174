/*
 * writer.c - accepting messages: in-memory puts, batches, and streamed
 * payloads of any size in bounded memory.
 *
 * A streamed payload is written to its spool file (spool.c), with a record
 * in partials that holds the header and the durable offset.  The file is
 * synced before each transaction that moves the offset, so after a crash
 * the offset never exceeds what the file holds; resume truncates the file
 * to it and goes on.  commit turns the partial into a message atomically.
 *
 * Durable one window behind: every STORE_SYNC_EVERY bytes the writing
 * thread hands the window to the writer's syncer thread (the fdatasync,
 * then the transaction that records the offset) and goes on writing the
 * next one, so the network, the crypto and the disk overlap.  At most one
 * window is in flight (the disk sets the pace, the lag is bounded); every
 * other call waits for it first, and its failure is returned by the next
 * call.  A cut or a crash meanwhile resumes from the last recorded window,
 * as before.
 *
 * States of a streamed message (function of each transition):
 *   (none) --store_writer_open--> PARTIAL --store_writer_commit--> message
 *   PARTIAL --store_writer_suspend--> PARTIAL (durable, writer freed)
 *   PARTIAL --store_writer_resume--> PARTIAL (writer again)
 *   PARTIAL --store_writer_abort, or idle sweep--> (none)
 *
 * One writer per message id: a writer owns its partial from open or
 * resume until commit, suspend or abort, whatever transport it serves
 * (a TCP session, a bundle import, a local client).  Meanwhile open and
 * resume of the same id by anybody else fail with FERRY_EBUSY, the idle
 * sweep leaves the partial alone, and nobody else can drop, truncate or
 * commit it.  A commit also checks that the spool file is still the one
 * this writer wrote and holds exactly the message's length, so nothing
 * is ever committed (and custody never given) for a payload that is not
 * whole (docs/store.md, "One writer per message").
 */
#include "config.h"

#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"
#include "store/store_int.h"

struct store_writer {
	struct store *st;
	struct store_hdr h; /* header; payload_len = durable offset */
	uint8_t *buf;	    /* bytes not yet written to the spool file */
	size_t buf_len;
	uint64_t off;	 /* bytes accepted by write, buffered included */
	uint64_t synced; /* durable offset: synced and recorded */
	uint64_t queued; /* offset of the last window handed to the syncer */
	uint64_t target; /* offset the running WR_CHUNK/WR_SUSPEND records */
	int fd;		 /* the spool file (spool.c), or -1 */
	int failed;	 /* an error was returned: only abort is allowed */
	int owner;	 /* in st->live: owns the partial of its id */
	int staged; /* no durable offset before park (store_writer_staged) */
	struct store_writer *live_next;
	struct store_tap *tap; /* cut-through reader (tap.c), or NULL */

	/* The syncer (started at the first full window), under smu. */
	pthread_t syncer;
	int syncer_started;
	pthread_mutex_t smu;
	pthread_cond_t scv;
	int sync_busy;	  /* a window is queued or being made durable */
	int sync_stop;	  /* writer_free: the thread ends */
	int sync_rc;	  /* its result, returned by the next call */
	uint64_t sync_to; /* the window's end */
	char sync_err[STORE_ERR_MAX];
	/* Page cache given back: [0, dropped) dropped, and the end of the
	 * window synced before the last (syncer thread only). */
	uint64_t dropped, prev_to;
};

static int sync_wait(struct store_writer *w);

/* The writer that owns id's partial, or NULL; under st->wmu. */
static struct store_writer *
owner_of(struct store *st, const uint8_t *id)
{
	for (struct store_writer *o = st->live; o != NULL; o = o->live_next)
		if (memcmp(o->h.info.msg.id, id, FERRY_ID_LEN) == 0)
			return o;
	return NULL;
}

/* Take ownership of id for w: FERRY_EBUSY if another writer has it. */
static int
owner_claim(struct store_writer *w, const uint8_t *id)
{
	struct store *st = w->st;
	int rc = 0;

	pthread_mutex_lock(&st->wmu);
	if (owner_of(st, id) != NULL)
		rc = FERRY_EBUSY;
	else {
		memcpy(w->h.info.msg.id, id, FERRY_ID_LEN);
		w->live_next = st->live;
		st->live = w;
		w->owner = 1;
	}
	pthread_mutex_unlock(&st->wmu);
	return rc;
}

static void
owner_release(struct store_writer *w)
{
	struct store *st = w->st;

	if (!w->owner)
		return;
	pthread_mutex_lock(&st->wmu);
	for (struct store_writer **pp = &st->live; *pp != NULL;
	     pp = &(*pp)->live_next)
		if (*pp == w) {
			*pp = w->live_next;
			break;
		}
	pthread_mutex_unlock(&st->wmu);
	w->owner = 0;
}

/* Is w the owner of its id's partial?  (Always, by construction: a
 * last line of defence for the operations that change the partial.) */
static int
owner_is(struct store_writer *w)
{
	struct store *st = w->st;
	int found;

	pthread_mutex_lock(&st->wmu);
	found = owner_of(st, w->h.info.msg.id) == w;
	pthread_mutex_unlock(&st->wmu);
	return found;
}

int
store_writer_busy(struct store *st, const uint8_t id[FERRY_ID_LEN])
{
	int busy;

	pthread_mutex_lock(&st->wmu);
	busy = owner_of(st, id) != NULL;
	pthread_mutex_unlock(&st->wmu);
	return busy;
}

const struct ferry_msg *
store_writer_msg(const struct store_writer *w)
{
	return &w->h.info.msg;
}

/* Quota and queue checks shared by put and commit. */
static int
check_limits(struct store *st, const struct ferry_msg *m, uint64_t len,
	     int local)
{
	struct store_qent *q;
	uint64_t max_bytes, max_msgs;

	if (st->opts.quota_bytes != 0 &&
	    (st->tot.bytes + len > st->opts.quota_bytes ||
	     len > st->opts.quota_bytes))
		return FERRY_EQUOTA;
	if (!local)
		return 0;
	/* A reply queue with no record is closed: its message goes to dead
	 * (msg_insert), and no cache entry is made for it. */
	if (ferry_queue_is_reply(m->dst_queue) &&
	    store_qget(st, m->dst_queue, 0) == NULL)
		return 0;
	q = store_qget(st, m->dst_queue, 1);
	if (q == NULL)
		return FERRY_ENOMEM;
	max_bytes =
	    q->s.max_bytes ? q->s.max_bytes : st->opts.queue_quota_bytes;
	max_msgs = q->s.max_msgs ? q->s.max_msgs : st->opts.queue_quota_msgs;
	if ((max_bytes != 0 && q->s.bytes + len > max_bytes) ||
	    (max_msgs != 0 && q->s.msgs + 1 > max_msgs))
		return FERRY_EQUEUEQUOTA;
	return 0;
}

/* Where h has been (relaying), and its fate here: route->dead sends it
 * straight into the dead queue (msg_insert). */
static void
hdr_set_route(struct store_hdr *h, const struct store_route *route, int64_t now)
{
	h->info.route = *route;
	h->info.route.dead = STORE_DEAD_NONE;
	if (route->dead != STORE_DEAD_NONE) {
		/* A relay cannot send it on (a loop, the hop limit), or its
		 * origin is forged: it ends here, in dead. */
		h->info.state = STORE_QUEUED;
		snprintf(h->info.queue, sizeof(h->info.queue), "%s",
			 FERRY_DEAD_QUEUE);
		h->info.dead_reason = route->dead;
		h->info.dead_ms = now;
	}
}

static void
hdr_from_msg(struct store *st, struct store_ctx *cx, struct store_hdr *h,
	     const struct ferry_msg *m, const struct store_route *route,
	     uint64_t len)
{
	int local = strcmp(m->dst_node, st->node) == 0;

	memset(h, 0, sizeof(*h));
	h->info.msg = *m;
	h->info.msg.payload_len = len;
	h->info.state = local ? STORE_QUEUED : STORE_OUTBOUND;
	if (local)
		snprintf(h->info.queue, sizeof(h->info.queue), "%s",
			 m->dst_queue);
	h->info.stored_ms = cx->now;
	if (route != NULL)
		hdr_set_route(h, route, cx->now);
}

/* Is reply queue name open now (store_queue_create)? */
static int
reply_open(struct store *st, struct store_ctx *cx, const char *name)
{
	struct store_qent *q = store_qget(st, name, 0);

	return q != NULL && !q->gone &&
	       (q->s.open_until_ms == 0 || cx->now < q->s.open_until_ms);
}

int
msg_insert(struct store *st, struct store_ctx *cx, struct msg_rec *r, int first)
{
	struct store_msg_info *i = &r->h.info;
	int rc, no_waiter = i->dead_reason == STORE_DEAD_LOOP ||
			    i->dead_reason == STORE_DEAD_HOP_LIMIT ||
			    i->dead_reason == STORE_DEAD_FORGED ||
			    i->dead_reason == STORE_DEAD_UNVERIFIED;

	if (i->state == STORE_QUEUED && i->dead_reason == STORE_DEAD_NONE &&
	    ferry_queue_is_reply(i->queue) && !reply_open(st, cx, i->queue)) {
		/* Its requester gave up (or never asked): to dead rather
		 * than into a queue nobody reads. */
		snprintf(i->queue, sizeof(i->queue), "%s", FERRY_DEAD_QUEUE);
		i->dead_reason = STORE_DEAD_NO_WAITER;
		i->dead_ms = cx->now;
		no_waiter = 1;
	}
	r->h.seq = ++st->seq;
	rc = first ? msg_save_new(st, cx, r) : msg_save(st, cx, r);
	if (rc == FERRY_EDUPLICATE) {
		st->seq--; /* nothing was written */
		return rc;
	}
	if (rc != 0 || (rc = msg_pos_add(st, cx, &r->h)) != 0 ||
	    (rc = msg_exp_add(st, cx, &r->h)) != 0 ||
	    (rc = msg_count(st, cx, &r->h, +1)) != 0)
		return rc;
	cx->rows++;
	store_dead_count(cx, i->dead_reason); /* straight into dead */
	if (no_waiter)
		return receipt_emit(st, cx, &r->h, STORE_RCPT_REFUSED);
	if (r->h.info.state == STORE_QUEUED)
		return receipt_emit(st, cx, &r->h, STORE_RCPT_QUEUED);
	if ((r->h.info.msg.flags & FERRY_MSG_TRACK) &&
	    strcmp(r->h.info.msg.src_node, st->node) != 0)
		return receipt_emit(st, cx, &r->h, STORE_RCPT_CUSTODY);
	return 0;
}

static int
put_chunks(struct store *st, struct store_ctx *cx, const uint8_t *id,
	   const uint8_t *p, uint64_t len)
{
	uint8_t key[FERRY_ID_LEN + 4];
	uint32_t idx = 0;

	for (uint64_t off = 0; off < len; off += STORE_CHUNK_BYTES, idx++) {
		uint64_t n = len - off;
		int rc;
		if (n > STORE_CHUNK_BYTES)
			n = STORE_CHUNK_BYTES;
		rec_ckey(key, id, idx);
		rc = store_db_put(st->chunks, cx->txn, key, sizeof(key),
				  p + off, (size_t)n);
		if (rc != 0)
			return store_dberr(cx, rc, "writing a payload chunk");
	}
	return 0;
}

/*
 * What a put looks up before it writes (invariant 3: an id in at most one
 * of msgs, seen, partials): msgs, seen, partials and garbage.  An inline
 * payload's first write is its header, so the msgs lookup is folded into
 * that put (msg_save_new); a new_id (drawn by the caller just now) is not
 * looked for in seen, partials or garbage at all.  A chunked payload, or
 * a receipt absorbed here (it writes only seen), looks up all four first.
 */
static int
put_one(struct store *st, struct store_ctx *cx, const struct store_put_req *q)
{
	/* On the writer thread's stack (8 MiB): no allocation per message
	 * (it was one malloc and free of 7.8 KiB each). */
	struct msg_rec rec, *r = &rec;
	const struct ferry_msg *m = q->msg;
	size_t len = q->len;
	int local, absorb, inl, rc;

	if (m == NULL || (q->payload == NULL && len != 0) ||
	    msg_valid(st, m) != 0)
		return FERRY_EINVAL;
	local = strcmp(m->dst_node, st->node) == 0;
	absorb = local && strcmp(m->dst_queue, FERRY_RECEIPT_QUEUE) == 0;
	inl = len <= STORE_INLINE_MAX;
	if (!inl || absorb)
		rc = msg_known(st, cx, m->id);
	else if (!q->new_id)
		rc = msg_known_elsewhere(st, cx, m->id);
	else
		rc = 0;
	if (rc != 0)
		return rc == 2 ? FERRY_EBUSY : rc == 1 ? FERRY_EDUPLICATE : rc;
	if (absorb)
		return receipt_absorb(st, cx, m, q->route, q->payload, len);
	if ((rc = check_limits(st, m, len, local)) != 0 ||
	    (rc = store_check_space(st, cx, len + 512, m->priority)) != 0) {
		/* A duplicate is answered as one, quota or not: a retry of
		 * a message stored before must hear that it is (a no-op). */
		int known = inl ? store_db_exists(st->msgs, cx->txn, m->id,
						  FERRY_ID_LEN)
				: 0;
		if (known < 0)
			return store_dberr(cx, -known,
					   "looking up a message id");
		return known ? FERRY_EDUPLICATE : rc;
	}
	hdr_from_msg(st, cx, &r->h, m, q->route, len);
	r->h.has_inline = inl;
	r->inl = q->payload;
	r->inl_len = len;
	if (!inl)
		rc = put_chunks(st, cx, m->id, q->payload, len);
	if (rc == 0)
		rc = msg_insert(st, cx, r, inl);
	return rc;
}

int
op_put(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	for (size_t i = 0; i < op->u.put.n; i++) {
		struct store_put_req *q = &op->u.put.reqs[i];
		q->result = put_one(st, cx, q);
		if (q->result == STORE_EABORT)
			return STORE_EABORT;
	}
	return 0;
}

/* As op_put, with the per-message result as the op's result too, so the
 * writer hands it to the callback. */
static int
op_put_async(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	int rc = op_put(st, cx, op);

	if (rc != 0)
		return rc;
	return op->u.put.reqs[0].result;
}

static int
submit_put(struct store *st, struct store_put_req *reqs, size_t n)
{
	struct store_op op;
	int rc;

	memset(&op, 0, sizeof(op));
	op.fn = op_put;
	op.u.put.reqs = reqs;
	op.u.put.n = n;
	for (size_t i = 0; i < n; i++) {
		reqs[i].result = FERRY_EDB;
		if (reqs[i].msg == NULL ||
		    !(reqs[i].msg->flags & FERRY_MSG_TRANSIENT))
			op.sync = 1;
	}
	rc = store_submit(st, &op);
	if (rc != 0) {
		for (size_t i = 0; i < n; i++)
			reqs[i].result = rc;
	}
	return rc;
}

int
store_put_async(struct store *st, struct store_put_req *req, store_done_fn done,
		void *arg)
{
	struct store_op *op;
	int rc;

	if (req == NULL || done == NULL)
		return FERRY_EINVAL;
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return FERRY_ENOMEM;
	op->fn = op_put_async;
	op->u.put.reqs = req;
	op->u.put.n = 1;
	op->sync = req->msg == NULL || !(req->msg->flags & FERRY_MSG_TRANSIENT);
	op->done_fn = done;
	op->done_arg = arg;
	req->result = FERRY_EDB;
	rc = store_submit_async(st, op);
	if (rc != 0)
		free(op);
	return rc;
}

int
store_put(struct store *st, const struct ferry_msg *m, const void *payload,
	  size_t len)
{
	struct store_put_req req = {m, payload, len, 0, NULL, 0};
	int rc = submit_put(st, &req, 1);

	return rc != 0 ? rc : req.result;
}

int
store_put_batch(struct store *st, struct store_put_req *reqs, size_t n)
{
	if (n == 0)
		return 0;
	if (reqs == NULL)
		return FERRY_EINVAL;
	return submit_put(st, reqs, n);
}

/* ---------------------------------------------------------- streaming */

enum { WR_OPEN, WR_CHUNK, WR_COMMIT, WR_SUSPEND, WR_ABORT, WR_RESUME };

static int
partial_save(struct store *st, struct store_ctx *cx, struct store_writer *w)
{
	uint8_t buf[STORE_HDR_MAX];
	size_t n;
	int rc;

	w->h.info.stored_ms = cx->now; /* last activity, for the idle sweep */
	n = rec_hdr_encode(&w->h, NULL, 0, buf, sizeof(buf));
	if (n == 0)
		return store_dberr(cx, EINVAL, "encoding a partial record");
	rc = store_db_put(st->partials, cx->txn, w->h.info.msg.id, FERRY_ID_LEN,
			  buf, n);
	if (rc != 0)
		return store_dberr(cx, rc, "writing a partial record");
	return 0;
}

/* store_check_space counts bytes 2.5 times (Berkeley DB writes them twice
 * and rounds pages); a spool file holds them once. */
#define SPOOL_WINDOW (STORE_SYNC_EVERY * 2 / 5)

/*
 * The durable offset moves to w->off (the caller has written and synced
 * the spool file up to there), after the quota check, and the disk must
 * have room for the next window of STORE_SYNC_EVERY bytes: the file is
 * written before the store can look, so it looks one window ahead.
 */
static int
progress(struct store *st, struct store_ctx *cx, struct store_writer *w)
{
	int rc;

	/* Swept as idle meanwhile (its file unlinked): do not bring the
	 * record back, or a commit would find a partial without a file. */
	rc = store_db_exists(st->partials, cx->txn, w->h.info.msg.id,
			     FERRY_ID_LEN);
	if (rc < 0)
		return store_dberr(cx, -rc, "reading a partial record");
	if (rc == 0)
		return FERRY_ENOTFOUND;
	if (st->opts.quota_bytes != 0 &&
	    st->tot.bytes + w->target > st->opts.quota_bytes)
		return FERRY_EQUOTA;
	/* Two windows ahead: the writing thread is one past the syncer. */
	rc =
	    store_check_space(st, cx, 2 * SPOOL_WINDOW, w->h.info.msg.priority);
	if (rc != 0)
		return rc;
	w->h.info.msg.payload_len = w->target;
	return partial_save(st, cx, w);
}

/* Forget a partial; its spool file (or, for a partial of an older ferry,
 * its chunks) goes through the garbage list, freed after the commit. */
static int
partial_drop(struct store *st, struct store_ctx *cx, const uint8_t *id,
	     uint64_t len)
{
	int rc;

	if ((rc = payload_free(st, cx, id, 1, len + STORE_CHUNK_BYTES)) != 0)
		return rc;
	rc = store_db_del(st->partials, cx->txn, id, FERRY_ID_LEN);
	if (rc != 0 && rc != DB_NOTFOUND)
		return store_dberr(cx, rc, "deleting a partial record");
	return 0;
}

static int
wr_commit(struct store *st, struct store_ctx *cx, struct store_writer *w)
{
	struct msg_rec *r;
	int local, rc;

	rc = store_db_exists(st->partials, cx->txn, w->h.info.msg.id,
			     FERRY_ID_LEN);
	if (rc < 0)
		return store_dberr(cx, -rc, "reading a partial record");
	if (rc == 0)
		return FERRY_ENOTFOUND; /* swept as idle meanwhile */
	w->h.info.msg.payload_len = w->off;
	local = w->h.info.state == STORE_QUEUED &&
		w->h.info.dead_reason == STORE_DEAD_NONE;
	rc = check_limits(st, &w->h.info.msg, w->h.info.msg.payload_len, local);
	if (rc == 0 && st->opts.quota_bytes != 0 &&
	    st->tot.bytes + w->off > st->opts.quota_bytes)
		rc = FERRY_EQUOTA;
	if (rc != 0) {
		int rc2 = partial_drop(st, cx, w->h.info.msg.id, w->off);
		return rc2 != 0 ? rc2 : rc;
	}
	rc =
	    store_db_del(st->partials, cx->txn, w->h.info.msg.id, FERRY_ID_LEN);
	if (rc != 0)
		return store_dberr(cx, rc, "deleting a partial record");
	r = malloc(sizeof(*r));
	if (r == NULL)
		return FERRY_ENOMEM;
	r->h = w->h;
	r->h.has_inline = 0;
	r->h.spooled = 1;
	r->h.info.stored_ms = cx->now;
	r->inl = NULL;
	r->inl_len = 0;
	rc = msg_insert(st, cx, r, 0);
	free(r);
	return rc;
}

static int
wr_resume(struct store *st, struct store_ctx *cx, struct store_writer *w)
{
	uint8_t buf[STORE_HDR_MAX];
	uint8_t id[FERRY_ID_LEN];
	size_t n;
	int rc;

	memcpy(id, w->h.info.msg.id, FERRY_ID_LEN);
	rc = store_db_get(st->partials, cx->txn, id, FERRY_ID_LEN, buf,
			  sizeof(buf), &n, 0);
	if (rc == DB_NOTFOUND)
		return FERRY_ENOTFOUND;
	if (rc != 0)
		return store_dberr(cx, rc, "reading a partial record");
	if (rec_hdr_decode(buf, n, &w->h, NULL, NULL) != 0)
		return FERRY_ECORRUPT;
	if (!w->h.spooled) {
		/* Streamed by an older ferry into chunks: start again. */
		rc = partial_drop(st, cx, id, w->h.info.msg.payload_len);
		return rc != 0 ? rc : FERRY_ENOTFOUND;
	}
	w->off = w->synced = w->queued = w->h.info.msg.payload_len;
	w->buf_len = 0;
	/* Resumed: active again, so the idle sweep leaves it alone. */
	return partial_save(st, cx, w);
}

static int
op_writer(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	struct store_writer *w = op->u.wr.w;
	int rc;

	/* A batch may run again (deadlock, full disk, a neighbour's
	 * failure): start from the writer's state at submission. */
	if (op->u.wr.saved != NULL)
		w->h = *op->u.wr.saved;
	if (!owner_is(w))
		return FERRY_ESTATE; /* never: see owner_claim */
	switch (op->u.wr.kind) {
	case WR_OPEN:
		rc = msg_known(st, cx, w->h.info.msg.id);
		if (rc != 0)
			return rc == 2	 ? FERRY_EBUSY
			       : rc == 1 ? FERRY_EDUPLICATE
					 : rc;
		rc = store_check_space(st, cx, SPOOL_WINDOW,
				       w->h.info.msg.priority);
		if (rc != 0)
			return rc;
		return partial_save(st, cx, w);
	case WR_CHUNK:
	case WR_SUSPEND:
		return progress(st, cx, w);
	case WR_COMMIT:
		return wr_commit(st, cx, w);
	case WR_ABORT:
		if (!w->h.spooled)
			return partial_drop(st, cx, w->h.info.msg.id, w->off);
		/* The caller unlinks the file once this committed; a crash
		 * in between leaves an orphan, removed at the next open. */
		rc = store_db_del(st->partials, cx->txn, w->h.info.msg.id,
				  FERRY_ID_LEN);
		if (rc != 0 && rc != DB_NOTFOUND)
			return store_dberr(cx, rc, "deleting a partial record");
		return 0;
	case WR_RESUME:
		return wr_resume(st, cx, w);
	}
	return FERRY_EINVAL;
}

static int
writer_op(struct store_writer *w, int kind, int sync)
{
	struct store_hdr saved = w->h;
	struct store_op op;
	int rc;

	memset(&op, 0, sizeof(op));
	op.fn = op_writer;
	op.sync = sync;
	op.u.wr.w = w;
	op.u.wr.kind = kind;
	if (kind != WR_RESUME)
		op.u.wr.saved = &saved;
	rc = store_submit(w->st, &op);
	if (rc != 0 && kind != WR_RESUME)
		w->h = saved; /* nothing of it was committed */
	return rc;
}

static struct store_writer *
writer_new(struct store *st)
{
	struct store_writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->buf = malloc(STORE_CHUNK_BYTES);
	if (w->buf == NULL) {
		free(w);
		return NULL;
	}
	w->st = st;
	w->fd = -1;
	pthread_mutex_init(&w->smu, NULL);
	pthread_cond_init(&w->scv, NULL);
	return w;
}

/* Free w; a window still in flight is finished first (the syncer takes
 * the window before it looks at sync_stop). */
static void
writer_free(struct store_writer *w)
{
	if (w->syncer_started) {
		pthread_mutex_lock(&w->smu);
		w->sync_stop = 1;
		pthread_cond_broadcast(&w->scv);
		pthread_mutex_unlock(&w->smu);
		pthread_join(w->syncer, NULL);
	}
	pthread_mutex_destroy(&w->smu);
	pthread_cond_destroy(&w->scv);
	owner_release(w);
	if (w->fd >= 0)
		close(w->fd);
	/* Not committed (or already told so): the tap's reader gives up. */
	tap_update(w->tap, w->off - w->buf_len, STORE_TAP_GONE);
	store_tap_unref(w->tap);
	free(w->buf);
	free(w);
}

/* Drop the partial, then its spool file (the id is free at once). */
static void
abort_op(struct store_writer *w)
{
	(void)sync_wait(w); /* the syncer uses w->h until then */
	if (writer_op(w, WR_ABORT, 0) == 0 && w->h.spooled)
		spool_unlink(w->st, w->h.info.msg.id);
}

/* Write what is buffered to the spool file. */
static int
buf_flush(struct store_writer *w)
{
	int rc;

	if (w->buf_len == 0)
		return 0;
	/* No sync_file_range(2) hint here: on the writing thread it cost
	 * 0.4 ms per 256 KiB (the kernel submits the write-back in the
	 * caller); the syncer's fdatasync does that work off this thread. */
	rc = spool_write(w->fd, w->buf, w->buf_len);
	if (rc == 0) {
		w->buf_len = 0;
		tap_update(w->tap, w->off, STORE_TAP_STREAMING);
	}
	return rc;
}

/* The window up to target, written to the file: sync it, then record it. */
static int
window_durable(struct store_writer *w, int kind, uint64_t target)
{
	int rc;

	if ((rc = spool_sync(w->fd)) != 0)
		return rc;
	w->target = target;
	rc = writer_op(w, kind, 1);
	if (rc == 0)
		w->synced = target;
	return rc;
}

/*
 * A window is on disk: give back the page cache of the one before it
 * (clean pages now).  A large payload would otherwise fill the page cache
 * with its whole size and push out what the rest of the machine uses;
 * and pages given back are reused by the next windows, where fresh ones
 * cost the kernel much more (on this project's VMs, most of the CPU of
 * writing a large payload: docs/store.md, "Payloads").  One window is
 * kept: a reader right behind the writer (cut-through, tap.c) still finds
 * its bytes in memory.
 */
static void
drop_behind(struct store_writer *w, uint64_t to)
{
	uint64_t upto = w->prev_to, keep = tap_keep_from(w->tap, to);

	if (keep < upto)
		upto = keep; /* a cut-through reader has not read it yet */
	if (upto > w->dropped) {
		(void)posix_fadvise(w->fd, (off_t)w->dropped,
				    (off_t)(upto - w->dropped),
				    POSIX_FADV_DONTNEED);
		w->dropped = upto;
	}
	w->prev_to = to;
}

static void *
syncer_main(void *arg)
{
	struct store_writer *w = arg;

	ferry_thread_name("spool-sync");
	pthread_mutex_lock(&w->smu);
	for (;;) {
		uint64_t to;
		int rc;

		while (!w->sync_busy && !w->sync_stop)
			pthread_cond_wait(&w->scv, &w->smu);
		if (!w->sync_busy)
			break;
		to = w->sync_to;
		pthread_mutex_unlock(&w->smu);
		/* A staged payload's window is synced but not recorded
		 * (store_writer_staged): the sync only takes the write-back
		 * off its park or commit. */
		rc = w->staged ? spool_sync(w->fd)
			       : window_durable(w, WR_CHUNK, to);
		if (rc == 0)
			drop_behind(w, to);
		pthread_mutex_lock(&w->smu);
		if (rc != 0)
			snprintf(w->sync_err, sizeof(w->sync_err), "%s",
				 store_last_error());
		w->sync_rc = rc;
		w->sync_busy = 0;
		pthread_cond_broadcast(&w->scv);
	}
	pthread_mutex_unlock(&w->smu);
	return NULL;
}

/* Wait for the window in flight; its result (0 if none). */
static int
sync_wait(struct store_writer *w)
{
	int rc;

	if (!w->syncer_started)
		return 0;
	pthread_mutex_lock(&w->smu);
	while (w->sync_busy)
		pthread_cond_wait(&w->scv, &w->smu);
	rc = w->sync_rc;
	w->sync_rc = 0;
	pthread_mutex_unlock(&w->smu);
	if (rc != 0)
		store_seterr("%s", w->sync_err);
	return rc;
}

/* Make everything accepted so far durable in the file, then record it,
 * on this thread (after the window in flight). */
static int
make_durable(struct store_writer *w, int kind)
{
	int rc;

	if ((rc = sync_wait(w)) != 0 || (rc = buf_flush(w)) != 0)
		return rc;
	rc = window_durable(w, kind, w->off);
	if (rc == 0)
		w->queued = w->off;
	return rc;
}

/* A full window: hand it to the syncer once the previous one is done. */
static int
sync_behind(struct store_writer *w)
{
	int rc;

	if ((rc = sync_wait(w)) != 0 || (rc = buf_flush(w)) != 0)
		return rc;
	if (!w->syncer_started) {
		if (pthread_create(&w->syncer, NULL, syncer_main, w) != 0)
			return make_durable(w, WR_CHUNK); /* inline, then */
		w->syncer_started = 1;
	}
	pthread_mutex_lock(&w->smu);
	w->sync_to = w->off;
	w->sync_busy = 1;
	pthread_cond_broadcast(&w->scv);
	pthread_mutex_unlock(&w->smu);
	w->queued = w->off;
	return 0;
}

int
store_writer_open(struct store *st, const struct ferry_msg *m,
		  struct store_writer **out)
{
	return store_writer_open_route(st, m, NULL, out);
}

int
store_writer_set_route(struct store_writer *w, const struct store_route *route)
{
	int rc;

	if (w == NULL || route == NULL)
		return FERRY_EINVAL;
	if (w->failed)
		return FERRY_ESTATE;
	if ((rc = sync_wait(w)) != 0) {
		w->failed = 1;
		return rc;
	}
	hdr_set_route(&w->h, route, store_now(w->st));
	return 0;
}

int
store_writer_open_route(struct store *st, const struct ferry_msg *m,
			const struct store_route *route,
			struct store_writer **out)
{
	struct store_writer *w;
	struct store_ctx cx;
	int rc;

	*out = NULL;
	if (m == NULL || msg_valid(st, m) != 0)
		return FERRY_EINVAL;
	w = writer_new(st);
	if (w == NULL)
		return FERRY_ENOMEM;
	memset(&cx, 0, sizeof(cx));
	cx.now = store_now(st);
	hdr_from_msg(st, &cx, &w->h, m, route, 0);
	w->h.spooled = 1;
	rc = owner_claim(w, m->id);
	if (rc == 0)
		rc = writer_op(w, WR_OPEN, 0);
	if (rc != 0) {
		writer_free(w);
		return rc;
	}
	/* Only now: the id was checked unknown, so no file of a stored
	 * message can be truncated here. */
	rc = spool_create(st, w->h.info.msg.id, &w->fd);
	if (rc != 0) {
		abort_op(w);
		writer_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int
store_writer_resume(struct store *st, const uint8_t id[FERRY_ID_LEN],
		    struct store_writer **out, uint64_t *offset)
{
	struct store_writer *w;
	int rc;

	*out = NULL;
	w = writer_new(st);
	if (w == NULL)
		return FERRY_ENOMEM;
	rc = owner_claim(w, id);
	if (rc == 0)
		rc = writer_op(w, WR_RESUME, 0);
	if (rc != 0) {
		writer_free(w);
		return rc;
	}
	rc = spool_open_append(st, id, w->off, &w->fd);
	if (rc != 0) {
		/* The file is gone or short: the partial cannot go on. */
		abort_op(w);
		writer_free(w);
		return rc == FERRY_ECORRUPT ? FERRY_ENOTFOUND : rc;
	}
	if (offset != NULL)
		*offset = w->off;
	*out = w;
	return 0;
}

int
store_writer_tap(struct store_writer *w, uint64_t len, struct store_tap **out)
{
	struct store_msg_info info;
	int rc;

	*out = NULL;
	if (w->failed || w->tap != NULL || w->fd < 0 || w->staged)
		return FERRY_ESTATE;
	info = w->h.info;
	info.msg.payload_len = len;
	rc = store_tap_new(w->st, &info, w->off - w->buf_len, &w->tap);
	if (rc != 0)
		return rc;
	store_tap_ref(w->tap);
	*out = w->tap;
	return 0;
}

int
store_writer_prefix(struct store_writer *w, struct store_reader **out)
{
	*out = NULL;
	if (w->failed || sync_wait(w) != 0 || w->off != w->synced)
		return FERRY_ESTATE;
	return store_prefix_reader_open(w->st, w->h.info.msg.id, w->off, out);
}

int
store_writer_write(struct store_writer *w, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int rc;

	if (w->failed)
		return FERRY_ESTATE;
	while (len > 0) {
		size_t room = STORE_CHUNK_BYTES - w->buf_len;
		size_t n = len < room ? len : room;
		if (w->buf_len == 0 && n == STORE_CHUNK_BYTES) {
			/* A whole chunk: straight from the caller's buffer
			 * (a copy less of every byte of a large payload). */
			rc = spool_write(w->fd, p, n);
			if (rc == 0) {
				w->off += n;
				tap_update(w->tap, w->off, STORE_TAP_STREAMING);
			}
		} else {
			memcpy(w->buf + w->buf_len, p, n);
			w->buf_len += n;
			w->off += n;
			rc = 0;
			if (w->buf_len == STORE_CHUNK_BYTES)
				rc = buf_flush(w);
		}
		p += n;
		len -= n;
		if (rc == 0 && w->off - w->queued >= STORE_SYNC_EVERY)
			rc = sync_behind(w);
		if (rc != 0) {
			w->failed = 1;
			return rc;
		}
	}
	return 0;
}

int
store_writer_commit(struct store_writer *w)
{
	int rc;

	if (w->failed) {
		store_writer_abort(w);
		return FERRY_ESTATE;
	}
	if ((rc = sync_wait(w)) != 0) {
		store_writer_abort(w);
		return rc;
	}
	/* Synced even for a transient message: a later flush makes its
	 * commit durable, and the recorded length must be on disk then. */
	rc = buf_flush(w);
	if (rc == 0)
		rc = spool_sync(w->fd);
	if (rc == 0)
		rc = spool_is(w->st, w->h.info.msg.id, w->fd, w->off);
	if (rc == FERRY_ESTATE) {
		/* The name is another file's: forget the partial, but never
		 * unlink that name (an orphan goes at the next open). */
		(void)writer_op(w, WR_ABORT, 0);
		writer_free(w);
		return FERRY_ECORRUPT;
	}
	if (rc == 0)
		rc = writer_op(w, WR_COMMIT,
			       !(w->h.info.msg.flags & FERRY_MSG_TRANSIENT));
	if (rc != 0 && rc != FERRY_ENOTFOUND && rc != FERRY_EQUOTA &&
	    rc != FERRY_EQUEUEQUOTA) {
		/* Nothing was committed: do not leave the payload behind. */
		abort_op(w);
	}
	if (rc == 0 && w->tap != NULL)
		tap_update(w->tap, w->off,
			   w->off == store_tap_info(w->tap)->msg.payload_len
			       ? STORE_TAP_WHOLE
			       : STORE_TAP_GONE);
	writer_free(w);
	return rc;
}

int
store_writer_park(struct store_writer *w)
{
	int rc = w->failed ? FERRY_ESTATE : make_durable(w, WR_SUSPEND);

	(void)sync_wait(w); /* failed: a window may still be in flight */
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	free(w->buf);
	w->buf = NULL;
	w->failed = 1; /* no more writes: release or abort */
	return rc;
}

void
store_writer_staged(struct store_writer *w)
{
	/* The offset recorded every STORE_SYNC_EVERY bytes lets a cut
	 * transfer resume; bytes still to be verified are not worth
	 * resuming from (whoever resumed them would take them as genuine),
	 * and recording them cost a flushed transaction per 8 MiB.  Each
	 * window is still synced behind the writes, on the syncer, without
	 * a record: otherwise the park or commit at the end wrote the whole
	 * payload back at once (0.6 s of a 1 GiB import's 3.1 s here). */
	w->staged = 1;
}

void
store_writer_release(struct store_writer *w)
{
	if (w != NULL)
		writer_free(w);
}

int
store_writer_suspend(struct store_writer *w)
{
	int rc = w->failed ? FERRY_ESTATE : make_durable(w, WR_SUSPEND);

	writer_free(w); /* failed: it lets a window in flight finish first */
	return rc;
}

void
store_writer_abort(struct store_writer *w)
{
	if (w == NULL)
		return;
	abort_op(w);
	writer_free(w);
}
