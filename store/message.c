/*
 * message.c - the plumbing every operation on a stored message shares:
 * loading and saving headers, keeping the indexes and counters true to
 * them (invariants 1, 2 and 4 of store_int.h), removing and dead-lettering.
 *
 * Everything here runs on the writer thread inside the batch transaction.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/store_int.h"

int
store_db_exists(DB *db, DB_TXN *t, const void *k, size_t klen)
{
	DBT key, val;
	uint8_t dummy;
	int rc;

	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	key.data = (void *)k;
	key.size = (uint32_t)klen;
	val.data = &dummy;
	val.ulen = 1;
	val.dlen = 0;
	val.doff = 0;
	val.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
	rc = db->get(db, t, &key, &val, 0);
	if (rc == 0)
		return 1;
	if (rc == DB_NOTFOUND)
		return 0;
	return rc > 0 ? -rc : rc;
}

int
msg_known_elsewhere(struct store *st, struct store_ctx *cx, const uint8_t *id)
{
	int rc;

	rc = store_db_exists(st->seen, cx->txn, id, FERRY_ID_LEN);
	if (rc == 0) {
		rc = store_db_exists(st->partials, cx->txn, id, FERRY_ID_LEN);
		if (rc == 0)
			rc = store_db_exists(st->garbage, cx->txn, id,
					     FERRY_ID_LEN);
		if (rc == 1)
			return 2;
	}
	if (rc < 0)
		return store_dberr(cx, -rc, "looking up a message id");
	return rc;
}

int
msg_known(struct store *st, struct store_ctx *cx, const uint8_t *id)
{
	int rc;

	rc = store_db_exists(st->msgs, cx->txn, id, FERRY_ID_LEN);
	if (rc < 0)
		return store_dberr(cx, -rc, "looking up a message id");
	if (rc == 1)
		return 1;
	return msg_known_elsewhere(st, cx, id);
}

int
msg_valid(const struct store *st, const struct ferry_msg *m)
{
	struct ferry_msg c;

	if (strcmp(m->dst_node, STORE_SPLIT_DST) != 0)
		return ferry_msg_validate(m);
	c = *m;
	snprintf(c.dst_node, sizeof(c.dst_node), "%s", st->node);
	return ferry_msg_validate(&c);
}

int
msg_load(struct store *st, struct store_ctx *cx, const uint8_t *id,
	 struct msg_rec *r)
{
	size_t n;
	int rc;

	rc = store_db_get(st->msgs, cx->txn, id, FERRY_ID_LEN, r->raw,
			  sizeof(r->raw), &n, DB_RMW);
	if (rc == DB_NOTFOUND)
		return FERRY_ENOTFOUND;
	if (rc != 0)
		return store_dberr(cx, rc, "reading a message header");
	if (rec_hdr_decode(r->raw, n, &r->h, &r->inl, &r->inl_len) != 0) {
		snprintf(cx->errbuf, sizeof(cx->errbuf),
			 "message header is damaged");
		return FERRY_ECORRUPT;
	}
	return 0;
}

/* msg_save, with the header written with flags (DB_NOOVERWRITE: an
 * existing one is FERRY_EDUPLICATE, nothing written). */
static int
msg_save_flags(struct store *st, struct store_ctx *cx, const struct msg_rec *r,
	       uint32_t flags)
{
	uint8_t buf[STORE_HDR_MAX];
	DBT k, v;
	size_t n;
	int rc;

	n = rec_hdr_encode(&r->h, r->inl, r->inl_len, buf, sizeof(buf));
	if (n == 0)
		return store_dberr(cx, EINVAL, "encoding a message header");
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)r->h.info.msg.id;
	k.size = FERRY_ID_LEN;
	v.data = buf;
	v.size = (uint32_t)n;
	rc = st->msgs->put(st->msgs, cx->txn, &k, &v, flags);
	if (rc == DB_KEYEXIST && (flags & DB_NOOVERWRITE))
		return FERRY_EDUPLICATE;
	if (rc != 0)
		return store_dberr(cx, rc, "writing a message header");
	return 0;
}

int
msg_save(struct store *st, struct store_ctx *cx, const struct msg_rec *r)
{
	return msg_save_flags(st, cx, r, 0);
}

int
msg_save_new(struct store *st, struct store_ctx *cx, const struct msg_rec *r)
{
	return msg_save_flags(st, cx, r, DB_NOOVERWRITE);
}

static int
has_expiry(const struct store_hdr *h)
{
	return h->info.msg.expires_ms != 0 &&
	       h->info.dead_reason == STORE_DEAD_NONE;
}

/* The position key of h: qidx, lidx or oidx by its state. */
static DB *
pos_key(struct store *st, const struct store_hdr *h, uint8_t *k, size_t *klen)
{
	const struct store_msg_info *i = &h->info;

	switch (i->state) {
	case STORE_QUEUED:
		*klen = rec_qkey(k, i->queue, i->msg.priority, h->seq);
		return st->qidx;
	case STORE_LEASED:
		rec_tkey(k, i->lease_until_ms, i->msg.id);
		*klen = 8 + FERRY_ID_LEN;
		return st->lidx;
	case STORE_OUTBOUND:
	case STORE_INFLIGHT:
		rec_okey(k, i->msg.priority, h->seq);
		*klen = 9;
		return st->oidx;
	}
	return NULL;
}

int
msg_pos_add(struct store *st, struct store_ctx *cx, const struct store_hdr *h)
{
	uint8_t k[STORE_QKEY_MAX + 16];
	size_t klen = 0;
	DB *db = pos_key(st, h, k, &klen);
	int rc;

	/* A lease to return, or an expiry the sweep may act on now that
	 * the message is queued again (not while leased or in flight). */
	if (db == st->lidx)
		store_due_note(st, h->info.lease_until_ms);
	else if (has_expiry(h) && h->info.state != STORE_INFLIGHT)
		store_due_note(st, h->info.msg.expires_ms);
	if (db == st->lidx)
		rc = store_db_put(db, cx->txn, k, klen, "", 0);
	else
		rc = store_db_put(db, cx->txn, k, klen, h->info.msg.id,
				  FERRY_ID_LEN);
	if (rc == 0 && db == st->oidx) {
		klen = rec_qkey(k, h->info.msg.dst_node, h->info.msg.priority,
				h->seq);
		rc = store_db_put(st->ondx, cx->txn, k, klen, h->info.msg.id,
				  FERRY_ID_LEN);
	}
	if (rc != 0)
		return store_dberr(cx, rc, "writing a queue index");
	return 0;
}

int
msg_pos_del(struct store *st, struct store_ctx *cx, const struct store_hdr *h)
{
	uint8_t k[STORE_QKEY_MAX + 16];
	size_t klen = 0;
	DB *db = pos_key(st, h, k, &klen);
	int rc = store_db_del(db, cx->txn, k, klen);

	if ((rc == 0 || rc == DB_NOTFOUND) && db == st->oidx) {
		klen = rec_qkey(k, h->info.msg.dst_node, h->info.msg.priority,
				h->seq);
		rc = store_db_del(st->ondx, cx->txn, k, klen);
	}
	if (rc != 0 && rc != DB_NOTFOUND)
		return store_dberr(cx, rc, "updating a queue index");
	return 0;
}

int
msg_exp_add(struct store *st, struct store_ctx *cx, const struct store_hdr *h)
{
	uint8_t k[8 + FERRY_ID_LEN];
	int rc;

	if (!has_expiry(h))
		return 0;
	rec_tkey(k, h->info.msg.expires_ms, h->info.msg.id);
	rc = store_db_put(st->eidx, cx->txn, k, sizeof(k), "", 0);
	if (rc != 0)
		return store_dberr(cx, rc, "writing the expiry index");
	return 0;
}

int
msg_exp_del(struct store *st, struct store_ctx *cx, const struct store_hdr *h)
{
	uint8_t k[8 + FERRY_ID_LEN];
	int rc;

	if (!has_expiry(h))
		return 0;
	rec_tkey(k, h->info.msg.expires_ms, h->info.msg.id);
	rc = store_db_del(st->eidx, cx->txn, k, sizeof(k));
	if (rc != 0 && rc != DB_NOTFOUND)
		return store_dberr(cx, rc, "updating the expiry index");
	return 0;
}

static void
add_u64(uint64_t *v, uint64_t d, int sign)
{
	if (sign > 0)
		*v += d;
	else
		*v = *v >= d ? *v - d : 0;
}

int
msg_count(struct store *st, struct store_ctx *cx, const struct store_hdr *h,
	  int sign)
{
	const struct store_msg_info *i = &h->info;
	uint64_t len = i->msg.payload_len;

	add_u64(&st->tot.msgs, 1, sign);
	add_u64(&st->tot.bytes, len, sign);
	if (i->state == STORE_OUTBOUND || i->state == STORE_INFLIGHT) {
		add_u64(&st->tot.out_msgs, 1, sign);
		add_u64(&st->tot.out_bytes, len, sign);
	} else {
		struct store_qent *q = store_qget(st, i->queue, 1);
		if (q == NULL)
			return store_dberr(cx, ENOMEM, "queue counters");
		add_u64(&q->s.msgs, 1, sign);
		add_u64(&q->s.bytes, len, sign);
		if (i->state == STORE_LEASED)
			add_u64(&q->s.leased, 1, sign);
		store_qdirty(cx, q);
	}
	return 0;
}

/*
 * Delete up to limit (0: no limit) chunks of id's payload inside cx's
 * transaction; what names the work in an error.  *n counts the chunks
 * deleted, *all is 1 when none is left.  0 or STORE_EABORT.
 */
static int
chunks_delete_some(struct store *st, struct store_ctx *cx, const uint8_t *id,
		   unsigned limit, const char *what, unsigned *n, int *all)
{
	DBC *c = NULL;
	DBT k, v;
	uint8_t kbuf[FERRY_ID_LEN + 4];
	int rc, rc2;

	*n = 0;
	*all = 0;
	rc = st->chunks->cursor(st->chunks, cx->txn, &c, 0);
	if (rc != 0)
		return store_dberr(cx, rc, "opening a payload cursor");
	rec_ckey(kbuf, id, 0);
	store_dbt_user(&k, kbuf, sizeof(kbuf));
	k.size = sizeof(kbuf);
	/* Keys only: do not read the chunk data back. */
	store_dbt_none(&v);
	rc = c->get(c, &k, &v, DB_SET_RANGE);
	while (rc == 0 && k.size == sizeof(kbuf) &&
	       memcmp(kbuf, id, FERRY_ID_LEN) == 0 &&
	       (limit == 0 || *n < limit)) {
		rc = c->del(c, 0);
		if (rc != 0)
			break;
		(*n)++;
		rc = c->get(c, &k, &v, DB_NEXT);
	}
	rc2 = c->close(c);
	if (rc != 0 && rc != DB_NOTFOUND)
		return store_dberr(cx, rc, what);
	if (rc2 != 0)
		return store_dberr(cx, rc2, what);
	*all = limit == 0 || *n < limit || rc == DB_NOTFOUND ||
	       k.size != sizeof(kbuf) || memcmp(kbuf, id, FERRY_ID_LEN) != 0;
	return 0;
}

int
chunks_delete(struct store *st, struct store_ctx *cx, const uint8_t *id)
{
	unsigned n;
	int all;

	return chunks_delete_some(st, cx, id, 0, "deleting a payload", &n,
				  &all);
}

/*
 * Deleting a large payload inside the caller's transaction would log every
 * freed page (Berkeley DB logs overflow pages it frees), so acking a 1 GiB
 * message would write 1 GiB of log at once -- and could not happen at all
 * on a full disk.  Large payloads are put in garbage and freed by the
 * sweep in small transactions; their id stays "busy" until then.
 */
int
payload_free(struct store *st, struct store_ctx *cx, const uint8_t *id,
	     int spooled, uint64_t len)
{
	int rc;

	/* A spool file is unlinked only once this transaction committed:
	 * by the sweep, through the garbage list. */
	if (len <= STORE_GC_NOW_BYTES && !spooled)
		return chunks_delete(st, cx, id);
	rc = store_db_put(st->garbage, cx->txn, id, FERRY_ID_LEN, "", 0);
	if (rc != 0)
		return store_dberr(cx, rc, "queueing a payload to free");
	store_due_note(st, cx->now); /* its id is busy until then */
	return 0;
}

int
store_gc(struct store *st, struct store_ctx *cx, int *more, uint64_t *freed)
{
	uint8_t id[FERRY_ID_LEN];
	unsigned n;
	DBT k, v;
	int rc, all;

	{
		DBC *g = NULL;
		rc = st->garbage->cursor(st->garbage, cx->txn, &g, 0);
		if (rc != 0)
			return store_dberr(cx, rc, "opening a cursor");
		store_dbt_user(&k, id, sizeof(id));
		store_dbt_none(&v);
		rc = g->get(g, &k, &v, DB_FIRST);
		(void)g->close(g);
		if (rc == DB_NOTFOUND)
			return 0;
		if (rc != 0 || k.size != FERRY_ID_LEN)
			return store_dberr(cx, rc ? rc : EINVAL,
					   "reading the garbage list");
	}
	/* Its message or partial is gone for good (the garbage entry was
	 * committed with its removal): its spool file may go, if any.  If
	 * this transaction fails, the next sweep unlinks again. */
	spool_unlink(st, id);
	rc = chunks_delete_some(st, cx, id, STORE_GC_CHUNKS,
				"freeing a payload", &n, &all);
	if (rc != 0)
		return rc;
	*freed += (uint64_t)n * STORE_CHUNK_BYTES;
	cx->rows += n;
	if (all) {
		/* This payload is gone: its id may be used again. */
		rc = store_db_del(st->garbage, cx->txn, id, FERRY_ID_LEN);
		if (rc != 0 && rc != DB_NOTFOUND)
			return store_dberr(cx, rc, "updating the garbage list");
	}
	*more = 1;
	return 0;
}

int
seen_put(struct store *st, struct store_ctx *cx, const struct store_hdr *h,
	 enum store_status_kind why, const char *peer)
{
	struct store_seen s;
	uint8_t buf[256], k[8 + FERRY_ID_LEN];
	size_t n;
	int rc;

	memset(&s, 0, sizeof(s));
	s.kind = why;
	s.at_ms = cx->now;
	if (h->info.msg.expires_ms != 0)
		s.forget_ms =
		    (h->info.msg.expires_ms > cx->now ? h->info.msg.expires_ms
						      : cx->now) +
		    st->opts.seen_margin_ms;
	else
		s.forget_ms = cx->now + st->opts.seen_retention_ms;
	if (peer != NULL)
		snprintf(s.peer, sizeof(s.peer), "%s", peer);
	if (why == STORE_ST_HANDED && peer != NULL &&
	    strcmp(peer, h->info.msg.dst_node) != 0)
		snprintf(s.dst, sizeof(s.dst), "%s", h->info.msg.dst_node);
	if (why == STORE_ST_DEAD_REMOVED) {
		s.dead_reason = h->info.dead_reason;
		s.dead_ms = h->info.dead_ms;
	}
	n = rec_seen_encode(&s, buf, sizeof(buf));
	rc = store_db_put(st->seen, cx->txn, h->info.msg.id, FERRY_ID_LEN, buf,
			  n);
	if (rc == 0) {
		rec_tkey(k, s.forget_ms, h->info.msg.id);
		rc = store_db_put(st->seenx, cx->txn, k, sizeof(k), "", 0);
	}
	if (rc != 0)
		return store_dberr(cx, rc, "remembering a message id");
	return 0;
}

int
msg_remove(struct store *st, struct store_ctx *cx, struct msg_rec *r,
	   enum store_status_kind why, const char *peer)
{
	int rc;

	if ((rc = msg_pos_del(st, cx, &r->h)) != 0 ||
	    (rc = msg_exp_del(st, cx, &r->h)) != 0 ||
	    (rc = exports_forget(st, cx, r->h.info.msg.id)) != 0)
		return rc;
	if (!r->h.has_inline &&
	    (rc = payload_free(st, cx, r->h.info.msg.id, r->h.spooled,
			       r->h.info.msg.payload_len)) != 0)
		return rc;
	rc = store_db_del(st->msgs, cx->txn, r->h.info.msg.id, FERRY_ID_LEN);
	if (rc != 0)
		return store_dberr(cx, rc, "deleting a message header");
	if ((rc = msg_count(st, cx, &r->h, -1)) != 0)
		return rc;
	cx->rows++;
	return seen_put(st, cx, &r->h, why, peer);
}

int
msg_dead(struct store *st, struct store_ctx *cx, struct msg_rec *r,
	 enum store_dead_reason reason)
{
	struct store_msg_info *i = &r->h.info;
	int was_dead = i->dead_reason != STORE_DEAD_NONE;
	int rc;

	if ((rc = msg_pos_del(st, cx, &r->h)) != 0 ||
	    (rc = msg_exp_del(st, cx, &r->h)) != 0 ||
	    (rc = exports_forget(st, cx, i->msg.id)) != 0 ||
	    (rc = msg_count(st, cx, &r->h, -1)) != 0)
		return rc;
	i->state = STORE_QUEUED;
	snprintf(i->queue, sizeof(i->queue), "%s", FERRY_DEAD_QUEUE);
	i->dead_reason = reason;
	i->dead_ms = cx->now;
	i->lease_until_ms = 0;
	i->hop_peer[0] = '\0';
	r->h.token = 0;
	r->h.seq = ++st->seq;
	cx->rows++;
	if ((rc = msg_count(st, cx, &r->h, +1)) != 0 ||
	    (rc = msg_pos_add(st, cx, &r->h)) != 0 ||
	    (rc = msg_save(st, cx, r)) != 0)
		return rc;
	if (was_dead)
		return 0; /* moved within dead: its receipt went before */
	store_dead_count(cx, reason);
	return receipt_emit(st, cx, &r->h,
			    reason == STORE_DEAD_EXPIRED ? STORE_RCPT_EXPIRED
							 : STORE_RCPT_REFUSED);
}

int
msg_quarantine(struct store *st, struct store_ctx *cx, DB *db, const void *key,
	       size_t klen, const uint8_t *id)
{
	uint8_t raw[STORE_HDR_MAX];
	size_t n = 0;
	int rc;

	rc = store_db_del(db, cx->txn, key, klen);
	if (rc != 0 && rc != DB_NOTFOUND)
		return store_dberr(cx, rc, "dropping a stray index entry");
	rc = store_db_get(st->msgs, cx->txn, id, FERRY_ID_LEN, raw, sizeof(raw),
			  &n, DB_RMW);
	if (rc == 0 || rc == DB_BUFFER_SMALL) {
		/* Damaged: keep its bytes aside, never delete them. */
		if (rc == DB_BUFFER_SMALL)
			n = 0;
		rc = store_db_put(st->quarantine, cx->txn, id, FERRY_ID_LEN,
				  raw, n);
		if (rc == 0)
			rc = store_db_del(st->msgs, cx->txn, id, FERRY_ID_LEN);
		if (rc != 0)
			return store_dberr(cx, rc, "quarantining a record");
	} else if (rc != DB_NOTFOUND) {
		return store_dberr(cx, rc, "reading a damaged record");
	}
	st->quarantined++;
	return 0;
}
