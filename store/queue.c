/*
 * queue.c - local queues: take under a lease, ack, nack, create, purge.
 *
 * A taken message whose payload turns out unreadable goes to the dead queue
 * (store_unreadable) instead of back to its place, where it would be
 * taken again first, for ever.  A consumer may renew its lease
 * (store_renew: the lidx entry moves to the new end) or give up on the
 * message (store_nack_dead: to dead, with its words kept in the header).
 *
 * A taken message leaves qidx for lidx (keyed by when its lease runs out)
 * and keeps its seq, so nack or a lease that runs out puts it back exactly
 * where it was.  A lease token, fresh for every take, makes sure that a
 * client whose lease ran out cannot ack the message another client took
 * since.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static int
op_take(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	uint8_t prefix[STORE_QKEY_MAX], kbuf[STORE_QKEY_MAX], id[FERRY_ID_LEN];
	const char *queue = op->u.m.queue;
	size_t plen = rec_qprefix(prefix, queue);
	struct msg_rec *r;
	int rc;

	r = malloc(sizeof(*r));
	if (r == NULL)
		return FERRY_ENOMEM;
	for (;;) {
		DBC *c = NULL;
		DBT k, v;

		rc = st->qidx->cursor(st->qidx, cx->txn, &c, 0);
		if (rc != 0) {
			rc = store_dberr(cx, rc, "opening a queue cursor");
			break;
		}
		memcpy(kbuf, prefix, plen);
		store_dbt_user(&k, kbuf, sizeof(kbuf));
		k.size = (uint32_t)plen;
		store_dbt_user(&v, id, sizeof(id));
		rc = c->get(c, &k, &v, DB_SET_RANGE | DB_RMW);
		(void)c->close(c);
		if (rc == DB_NOTFOUND ||
		    (rc == 0 &&
		     (k.size < plen || memcmp(kbuf, prefix, plen) != 0))) {
			rc = FERRY_EEMPTY;
			break;
		}
		if (rc != 0) {
			rc = store_dberr(cx, rc, "reading a queue");
			break;
		}
		if (v.size != FERRY_ID_LEN) {
			rc = store_dberr(cx, EINVAL, "queue index is damaged");
			break;
		}
		rc = msg_load(st, cx, id, r);
		if (rc == FERRY_ENOTFOUND || rc == FERRY_ECORRUPT) {
			/* Damaged data must not block the queue. */
			rc = msg_quarantine(st, cx, st->qidx, kbuf, k.size, id);
			if (rc != 0)
				break;
			continue;
		}
		if (rc != 0)
			break;
		if (r->h.info.dead_reason == STORE_DEAD_NONE &&
		    r->h.info.msg.expires_ms != 0 &&
		    r->h.info.msg.expires_ms <= cx->now) {
			/* Never deliver an expired message. */
			rc = msg_dead(st, cx, r, STORE_DEAD_EXPIRED);
			if (rc != 0)
				break;
			continue;
		}
		if ((rc = msg_pos_del(st, cx, &r->h)) != 0 ||
		    (rc = msg_count(st, cx, &r->h, -1)) != 0)
			break;
		r->h.info.state = STORE_LEASED;
		r->h.info.lease_until_ms = cx->now + op->u.m.lease_ms;
		r->h.info.deliveries++;
		r->h.token = st->token_next;
		st->token_next += 2; /* odd, never 0 */
		if ((rc = msg_count(st, cx, &r->h, +1)) != 0 ||
		    (rc = msg_pos_add(st, cx, &r->h)) != 0 ||
		    (rc = msg_save(st, cx, r)) != 0)
			break;
		cx->rows++;
		*op->u.m.info = r->h.info;
		*op->u.m.token_out = r->h.token;
		/* msg_load sets inl only for a payload kept whole in the
		 * record (of payload_len bytes, or the record is damaged). */
		if (op->u.m.take != NULL && r->inl != NULL &&
		    r->inl_len <= STORE_TAKE_INLINE) {
			memcpy(op->u.m.take->payload, r->inl, r->inl_len);
			op->u.m.take->payload_len = r->inl_len;
			op->u.m.take->payload_in = 1;
		}
		break;
	}
	free(r);
	return rc;
}

int
store_take(struct store *st, const char *queue, int64_t lease_ms,
	   struct store_msg_info *out, uint64_t *token)
{
	struct store_op op;
	uint64_t tok = 0;

	if (queue == NULL || !ferry_queue_name_valid(queue) || lease_ms <= 0 ||
	    lease_ms > STORE_LEASE_MAX_MS || out == NULL)
		return FERRY_EINVAL;
	memset(&op, 0, sizeof(op));
	op.fn = op_take;
	op.u.m.queue = queue;
	op.u.m.lease_ms = lease_ms;
	op.u.m.info = out;
	op.u.m.token_out = token != NULL ? token : &tok;
	/* A lease lost in a crash returns the message: no flush needed. */
	op.sync = 0;
	return store_submit(st, &op);
}

int
store_take_async(struct store *st, struct store_take_req *req,
		 store_done_fn done, void *arg)
{
	struct store_op *op; /* freed by the writer */
	int rc;

	if (req == NULL || done == NULL || req->payload == NULL ||
	    req->queue == NULL || !ferry_queue_name_valid(req->queue) ||
	    req->lease_ms <= 0 || req->lease_ms > STORE_LEASE_MAX_MS)
		return FERRY_EINVAL;
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return FERRY_ENOMEM;
	req->token = 0;
	req->payload_len = 0;
	req->payload_in = 0;
	op->fn = op_take;
	op->sync = 0; /* as store_take */
	op->u.m.queue = req->queue;
	op->u.m.lease_ms = req->lease_ms;
	op->u.m.info = &req->info;
	op->u.m.token_out = &req->token;
	op->u.m.take = req;
	op->done_fn = done;
	op->done_arg = arg;
	rc = store_submit_async(st, op);
	if (rc != 0)
		free(op);
	return rc;
}

/* Load id and check that the caller may settle it with token. */
static int
lease_check(struct store *st, struct store_ctx *cx, const uint8_t *id,
	    uint64_t token, struct msg_rec *r)
{
	int rc = msg_load(st, cx, id, r);

	if (rc != 0)
		return rc;
	if (r->h.info.state != STORE_QUEUED && r->h.info.state != STORE_LEASED)
		return FERRY_ESTATE; /* outbound: not for applications */
	if (token != 0 &&
	    (r->h.info.state != STORE_LEASED || r->h.token != token))
		return FERRY_ELEASE;
	return 0;
}

static int
op_ack(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	struct msg_rec *r = malloc(sizeof(*r));
	int rc;

	if (r == NULL)
		return FERRY_ENOMEM;
	rc = lease_check(st, cx, op->u.m.id, op->u.m.token, r);
	if (rc == 0 && r->h.info.dead_reason != STORE_DEAD_NONE) {
		/* Drained from dead: it was never delivered, so it stays
		 * dead in status and its source hears no "acked". */
		rc = msg_remove(st, cx, r, STORE_ST_DEAD_REMOVED, NULL);
	} else if (rc == 0) {
		rc = msg_remove(st, cx, r, STORE_ST_ACKED, NULL);
		if (rc == 0)
			rc = receipt_emit(st, cx, &r->h, STORE_RCPT_ACKED);
	}
	free(r);
	return rc;
}

static int
op_nack(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	struct msg_rec *r = malloc(sizeof(*r));
	int rc;

	if (r == NULL)
		return FERRY_ENOMEM;
	rc = lease_check(st, cx, op->u.m.id, op->u.m.token, r);
	if (rc == 0 && r->h.info.state != STORE_LEASED)
		rc = FERRY_ELEASE;
	if (rc == 0 && (rc = msg_pos_del(st, cx, &r->h)) == 0 &&
	    (rc = msg_count(st, cx, &r->h, -1)) == 0) {
		r->h.info.state = STORE_QUEUED;
		r->h.info.lease_until_ms = 0;
		r->h.token = 0;
		if ((rc = msg_count(st, cx, &r->h, +1)) == 0 &&
		    (rc = msg_pos_add(st, cx, &r->h)) == 0)
			rc = msg_save(st, cx, r);
		cx->rows++;
	}
	free(r);
	return rc;
}

/* Payload unreadable: to the end of dead (see store_unreadable). */
static int
op_unreadable(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	struct msg_rec *r = malloc(sizeof(*r));
	int rc;

	if (r == NULL)
		return FERRY_ENOMEM;
	rc = lease_check(st, cx, op->u.m.id, op->u.m.token, r);
	if (rc == 0)
		rc = msg_dead(st, cx, r, STORE_DEAD_UNREADABLE);
	free(r);
	return rc;
}

/* Renew: the lease ends lease_ms from now (see store_renew). */
static int
op_renew(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	struct msg_rec *r = malloc(sizeof(*r));
	int rc;

	if (r == NULL)
		return FERRY_ENOMEM;
	rc = lease_check(st, cx, op->u.m.id, op->u.m.token, r);
	if (rc == 0 && r->h.info.state != STORE_LEASED)
		rc = FERRY_ELEASE;
	/* lidx is keyed by the lease's end: move the entry. */
	if (rc == 0 && (rc = msg_pos_del(st, cx, &r->h)) == 0) {
		r->h.info.lease_until_ms = cx->now + op->u.m.lease_ms;
		if ((rc = msg_pos_add(st, cx, &r->h)) == 0)
			rc = msg_save(st, cx, r);
		cx->rows++;
	}
	free(r);
	return rc;
}

/* A consumer gave up: to the end of dead with its words. */
static int
op_nack_dead(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	struct msg_rec *r = malloc(sizeof(*r));
	int rc;

	if (r == NULL)
		return FERRY_ENOMEM;
	rc = lease_check(st, cx, op->u.m.id, op->u.m.token, r);
	if (rc == 0) {
		snprintf(r->h.info.dead_text, sizeof(r->h.info.dead_text), "%s",
			 op->u.m.text != NULL ? op->u.m.text : "");
		rc =
		    msg_dead(st, cx, r, (enum store_dead_reason)op->u.m.reason);
	}
	free(r);
	return rc;
}

static int
submit_id(struct store *st, store_op_fn fn, const uint8_t *id, uint64_t token,
	  int sync)
{
	struct store_op op;

	if (id == NULL)
		return FERRY_EINVAL;
	memset(&op, 0, sizeof(op));
	op.fn = fn;
	op.sync = sync;
	op.u.m.id = id;
	op.u.m.token = token;
	return store_submit(st, &op);
}

int
store_ack(struct store *st, const uint8_t id[FERRY_ID_LEN], uint64_t token)
{
	/* Durable: an ack lost in a crash would deliver the message twice. */
	return submit_id(st, op_ack, id, token, 1);
}

struct ack_op {
	struct store_op op; /* first: the writer frees the op pointer */
	uint8_t id[FERRY_ID_LEN];
};

int
store_ack_async(struct store *st, const uint8_t id[FERRY_ID_LEN],
		uint64_t token, store_done_fn done, void *arg)
{
	struct ack_op *a;
	int rc;

	if (id == NULL || done == NULL)
		return FERRY_EINVAL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return FERRY_ENOMEM;
	memcpy(a->id, id, FERRY_ID_LEN);
	a->op.fn = op_ack;
	a->op.sync = 1; /* as store_ack */
	a->op.u.m.id = a->id;
	a->op.u.m.token = token;
	a->op.done_fn = done;
	a->op.done_arg = arg;
	rc = store_submit_async(st, &a->op);
	if (rc != 0)
		free(a);
	return rc;
}

int
store_nack(struct store *st, const uint8_t id[FERRY_ID_LEN], uint64_t token)
{
	return submit_id(st, op_nack, id, token, 0);
}

int
store_unreadable(struct store *st, const uint8_t id[FERRY_ID_LEN],
		 uint64_t token)
{
	/* Durable, as a dead letter: its receipt commits with it. */
	return submit_id(st, op_unreadable, id, token, 1);
}

int
store_renew(struct store *st, const uint8_t id[FERRY_ID_LEN], uint64_t token,
	    int64_t lease_ms)
{
	struct store_op op;

	if (id == NULL || lease_ms <= 0 || lease_ms > STORE_LEASE_MAX_MS)
		return FERRY_EINVAL;
	if (token == 0)
		return FERRY_ELEASE;
	memset(&op, 0, sizeof(op));
	op.fn = op_renew;
	op.sync = 0; /* as a take: a lease lost in a crash returns it */
	op.u.m.id = id;
	op.u.m.token = token;
	op.u.m.lease_ms = lease_ms;
	return store_submit(st, &op);
}

int
store_nack_dead(struct store *st, const uint8_t id[FERRY_ID_LEN],
		uint64_t token, enum store_dead_reason reason, const char *text)
{
	struct store_op op;

	if (id == NULL || reason != STORE_DEAD_HANDLER_FAILED ||
	    (text != NULL && strlen(text) > STORE_DEAD_TEXT_MAX))
		return FERRY_EINVAL;
	if (token == 0)
		return FERRY_ELEASE;
	memset(&op, 0, sizeof(op));
	op.fn = op_nack_dead;
	op.sync = 1; /* durable, as a dead letter: its receipt commits too */
	op.u.m.id = id;
	op.u.m.token = token;
	op.u.m.reason = reason;
	op.u.m.text = text;
	return store_submit(st, &op);
}

static int
op_qcreate(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	struct store_qent *q = store_qget(st, op->u.m.queue, 1);

	if (q == NULL)
		return FERRY_ENOMEM;
	if (op->u.m.lim != NULL) {
		q->s.max_bytes = op->u.m.lim->max_bytes;
		q->s.max_msgs = op->u.m.lim->max_msgs;
	}
	if (ferry_queue_is_reply(q->s.name)) {
		/* (Re)opened: a purge in this batch closed it before. */
		q->gone = 0;
		q->s.open_until_ms =
		    op->u.m.lim != NULL && op->u.m.lim->open_ms > 0
			? cx->now + op->u.m.lim->open_ms
			: 0;
		if (q->s.open_until_ms != 0)
			store_due_note(st, q->s.open_until_ms);
	}
	store_qdirty(cx, q);
	return 0;
}

int
store_queue_create(struct store *st, const char *queue,
		   const struct store_queue_limits *lim)
{
	struct store_op op;

	if (queue == NULL || !ferry_queue_name_valid(queue))
		return FERRY_EINVAL;
	memset(&op, 0, sizeof(op));
	op.fn = op_qcreate;
	op.sync = 1;
	op.u.m.queue = queue;
	op.u.m.lim = lim;
	return store_submit(st, &op);
}

/* Remove up to STORE_BATCH_ROWS messages of the queue, counted in u.m.token;
 * sets u.m.offset to 1 when the queue is empty. */
static int
op_purge(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	uint8_t prefix[STORE_QKEY_MAX], kbuf[STORE_QKEY_MAX + 16];
	uint8_t id[FERRY_ID_LEN];
	const char *queue = op->u.m.queue;
	size_t plen = rec_qprefix(prefix, queue);
	struct msg_rec *r = malloc(sizeof(*r));
	int rc = 0, pass;

	if (r == NULL)
		return FERRY_ENOMEM;
	op->u.m.offset = 0;
	op->u.m.token = 0; /* removed by this run (a batch may run again) */
	/* Pass 0: available messages (qidx); pass 1: leased ones (lidx). */
	for (pass = 0; pass < 2 && rc == 0; pass++) {
		DB *db = pass == 0 ? st->qidx : st->lidx;
		int done = 0;
		while (!done && rc == 0 && cx->rows < STORE_BATCH_ROWS) {
			DBC *c = NULL;
			DBT k, v;
			int found = 0;

			rc = db->cursor(db, cx->txn, &c, 0);
			if (rc != 0) {
				rc = store_dberr(cx, rc, "opening a cursor");
				break;
			}
			store_dbt_user(&k, kbuf, sizeof(kbuf));
			store_dbt_user(&v, id, sizeof(id));
			if (pass == 0) {
				memcpy(kbuf, prefix, plen);
				k.size = (uint32_t)plen;
				rc = c->get(c, &k, &v, DB_SET_RANGE);
				if (rc == 0 && k.size >= plen &&
				    memcmp(kbuf, prefix, plen) == 0 &&
				    v.size == FERRY_ID_LEN)
					found = 1;
			} else {
				/* lidx holds every queue's leases: find the
				 * first of this queue. */
				rc = c->get(c, &k, &v, DB_FIRST);
				while (rc == 0) {
					if (k.size == 8 + FERRY_ID_LEN) {
						memcpy(id, kbuf + 8,
						       FERRY_ID_LEN);
						/* In our transaction: a read
						 * outside it would wait for
						 * our own locks. */
						if (msg_load(st, cx, id, r) ==
							0 &&
						    strcmp(r->h.info.queue,
							   queue) == 0) {
							found = 1;
							break;
						}
						if (cx->dberr != 0)
							break;
					}
					rc = c->get(c, &k, &v, DB_NEXT);
				}
			}
			(void)c->close(c);
			if (rc != 0 && rc != DB_NOTFOUND) {
				rc = store_dberr(cx, rc, "reading a queue");
				break;
			}
			rc = 0;
			if (!found) {
				done = 1;
				break;
			}
			rc = msg_load(st, cx, id, r);
			if (rc == 0) {
				rc = msg_remove(st, cx, r, STORE_ST_PURGED,
						NULL);
				if (rc == 0)
					op->u.m.token++; /* this run's count */
			} else if (rc == FERRY_ENOTFOUND ||
				   rc == FERRY_ECORRUPT) {
				rc = msg_quarantine(st, cx, db, kbuf, k.size,
						    id);
			}
		}
		if (!done)
			break;
		if (pass == 1)
			op->u.m.offset = 1;
	}
	free(r);
	if (rc == 0 && op->u.m.offset == 1 && ferry_queue_is_reply(queue)) {
		/* Empty now: close it (store_queue_create). */
		struct store_qent *q = store_qget(st, queue, 0);
		if (q != NULL) {
			q->gone = 1;
			store_qdirty(cx, q);
		}
	}
	return rc;
}

int
store_queue_purge(struct store *st, const char *queue, uint64_t *removed)
{
	struct store_op op;
	uint64_t n = 0;
	int rc;

	if (queue == NULL || !ferry_queue_name_valid(queue))
		return FERRY_EINVAL;
	do {
		memset(&op, 0, sizeof(op));
		op.fn = op_purge;
		op.sync = 1;
		op.u.m.queue = queue;
		rc = store_submit(st, &op);
		if (rc == 0)
			n += op.u.m.token;
	} while (rc == 0 && op.u.m.offset == 0);
	if (removed != NULL)
		*removed = n;
	return rc;
}
