/*
 * sneaker.c - the store's part of offline bundles (docs/formats.md 3, 4):
 * per-peer sequence numbers of bundles written, the replay window of
 * bundles read, and the "on medium M since T" mark of exported messages.
 *
 * bundles.db keys:
 *   'n' peer                  -> be64 last sequence number used for peer
 *   'l' sender                -> be64 low-water mark (all <= it are done)
 *   'a' sender 0 be64 seq     -> bundle id (16) || be64 accepted_ms, for
 *                                the STORE_BUNDLE_WINDOW numbers below the
 *                                highest accepted (older ones are <= 'l')
 *   'x' message id            -> be64 at_ms || peer 0 medium 0
 *   'k' peer                  -> u8 how || be64 offset_ms || be64 last_ms:
 *                                what this node knows of the peer's wall
 *                                clock (store_peer_clock_put)
 *   'p' peer                  -> u8 1 || be64 last_seen_ms || be64 bytes_in
 *                                || be64 bytes_out || be64 msgs_in ||
 *                                be64 msgs_out || last_error (0..159
 *                                bytes, no NUL): the peer's counters
 *                                (store_peer_stats_put)
 * An 'x' row goes with its message: msg_remove and msg_dead drop it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define KEY_MAX (1 + FERRY_NODE_MAX + 1 + 8)

static size_t
key_name(uint8_t *k, char kind, const char *name)
{
	size_t n = strlen(name);

	k[0] = (uint8_t)kind;
	memcpy(k + 1, name, n);
	return 1 + n;
}

static size_t
key_accepted(uint8_t *k, const char *sender, uint64_t seq)
{
	size_t n = key_name(k, 'a', sender);

	k[n++] = 0;
	ferry_put_be64(k + n, seq);
	return n + 8;
}

/* A u64 row, 0 when missing. */
static int
get_u64(struct store *st, DB_TXN *t, const uint8_t *k, size_t klen, uint64_t *v)
{
	uint8_t buf[8];
	size_t n = 0;
	int rc = store_db_get(st->bundles, t, k, klen, buf, sizeof(buf), &n,
			      t != NULL ? DB_RMW : 0);

	*v = 0;
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (n != 8)
		return FERRY_ECORRUPT;
	*v = ferry_get_be64(buf);
	return 0;
}

static int
op_next_seq(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	uint8_t k[KEY_MAX], buf[8];
	size_t kl = key_name(k, 'n', op->u.b.peer);
	uint64_t v;
	int rc;

	if ((rc = get_u64(st, cx->txn, k, kl, &v)) != 0)
		return rc > 0 ? store_dberr(cx, rc, "reading a sequence") : rc;
	ferry_put_be64(buf, v + 1);
	if ((rc = store_db_put(st->bundles, cx->txn, k, kl, buf, 8)) != 0)
		return store_dberr(cx, rc, "saving a sequence number");
	*op->u.b.seq_out = v + 1;
	cx->rows++;
	return 0;
}

int
store_bundle_next_seq(struct store *st, const char *peer, uint64_t *seq)
{
	struct store_op op;

	if (st == NULL || seq == NULL || peer == NULL ||
	    !ferry_node_name_valid(peer))
		return FERRY_EINVAL;
	memset(&op, 0, sizeof(op));
	op.fn = op_next_seq;
	op.sync = 1; /* never reuse a number after a crash */
	op.u.b.peer = peer;
	op.u.b.seq_out = seq;
	return store_submit(st, &op);
}

static int
check(struct store *st, DB_TXN *t, const char *sender, uint64_t seq,
      const uint8_t bid[16], int *verdict)
{
	uint8_t k[KEY_MAX], buf[32];
	size_t kl, n = 0;
	uint64_t lw;
	int rc;

	kl = key_name(k, 'l', sender);
	if ((rc = get_u64(st, t, k, kl, &lw)) != 0)
		return rc > 0 ? store_map_dberr(rc) : rc;
	kl = key_accepted(k, sender, seq);
	rc = store_db_get(st->bundles, t, k, kl, buf, sizeof(buf), &n, 0);
	if (rc == 0) {
		*verdict = n >= 16 && memcmp(buf, bid, 16) == 0
			       ? STORE_BUNDLE_IMPORTED
			       : STORE_BUNDLE_CLONED;
		return 0;
	}
	if (rc != DB_NOTFOUND)
		return store_map_dberr(rc);
	*verdict = seq <= lw ? STORE_BUNDLE_OLD : STORE_BUNDLE_NEW;
	return 0;
}

int
store_bundle_check(struct store *st, const char *sender, uint64_t seq,
		   const uint8_t bid[16], int *verdict)
{
	if (st == NULL || sender == NULL || bid == NULL || verdict == NULL ||
	    !ferry_node_name_valid(sender) || seq == 0)
		return FERRY_EINVAL;
	return check(st, NULL, sender, seq, bid, verdict);
}

/* Move the low-water mark over what is contiguous, and close the gaps
 * that fall more than STORE_BUNDLE_WINDOW below the highest accepted
 * number (seq), so that at most that many rows stay per sender. */
static int
advance(struct store *st, struct store_ctx *cx, const char *sender,
	uint64_t seq, uint64_t *closed)
{
	uint8_t k[KEY_MAX], lk[KEY_MAX], buf[8];
	size_t kl, lkl = key_name(lk, 'l', sender);
	uint64_t lw;
	int rc;

	if ((rc = get_u64(st, cx->txn, lk, lkl, &lw)) != 0)
		return rc > 0 ? store_dberr(cx, rc, "reading a mark") : rc;
	/* Rows more than the window below seq go; so do gaps there. */
	if (seq > STORE_BUNDLE_WINDOW) {
		uint64_t low = seq - STORE_BUNDLE_WINDOW, gone = 0;
		DBC *c = NULL;
		DBT key, val;
		uint8_t kb[KEY_MAX];
		size_t plen = key_accepted(k, sender, 0) - 8;

		memcpy(kb, k, plen);
		memset(kb + plen, 0, 8);
		if ((rc = st->bundles->cursor(st->bundles, cx->txn, &c, 0)) !=
		    0)
			return store_dberr(cx, rc, "closing gaps");
		memset(&key, 0, sizeof(key));
		memset(&val, 0, sizeof(val));
		key.data = kb;
		key.size = (uint32_t)(plen + 8);
		key.ulen = sizeof(kb);
		key.flags = DB_DBT_USERMEM;
		val.flags = DB_DBT_PARTIAL;
		rc = c->get(c, &key, &val, DB_SET_RANGE);
		while (rc == 0 && key.size == plen + 8 &&
		       memcmp(kb, k, plen) == 0 &&
		       ferry_get_be64(kb + plen) <= low) {
			if (ferry_get_be64(kb + plen) > lw)
				gone++;
			if ((rc = c->del(c, 0)) != 0)
				break;
			rc = c->get(c, &key, &val, DB_NEXT);
		}
		(void)c->close(c);
		if (rc != 0 && rc != DB_NOTFOUND)
			return store_dberr(cx, rc, "closing gaps");
		if (low > lw) {
			*closed = low - lw - gone;
			lw = low;
		}
	}
	/* Contiguous numbers above the mark are done. */
	for (;;) {
		kl = key_accepted(k, sender, lw + 1);
		rc = store_db_exists(st->bundles, cx->txn, k, kl);
		if (rc < 0)
			return store_dberr(cx, -rc, "moving a mark");
		if (rc == 0)
			break;
		lw++;
	}
	ferry_put_be64(buf, lw);
	if ((rc = store_db_put(st->bundles, cx->txn, lk, lkl, buf, 8)) != 0)
		return store_dberr(cx, rc, "saving a mark");
	return 0;
}

static int
op_accept(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	uint8_t k[KEY_MAX], v[24];
	size_t kl;
	int verdict = 0, rc;

	rc = check(st, cx->txn, op->u.b.peer, op->u.b.seq, op->u.b.bid,
		   &verdict);
	if (rc != 0)
		return rc;
	if (verdict != STORE_BUNDLE_NEW)
		return FERRY_EDUPLICATE;
	kl = key_accepted(k, op->u.b.peer, op->u.b.seq);
	memcpy(v, op->u.b.bid, 16);
	ferry_put_be64(v + 16, (uint64_t)cx->now);
	if ((rc = store_db_put(st->bundles, cx->txn, k, kl, v, sizeof(v))) != 0)
		return store_dberr(cx, rc, "saving a bundle number");
	cx->rows++;
	return advance(st, cx, op->u.b.peer, op->u.b.seq, op->u.b.seq_out);
}

int
store_bundle_accept(struct store *st, const char *sender, uint64_t seq,
		    const uint8_t bid[16], uint64_t *closed)
{
	struct store_op op;
	uint64_t dummy = 0;

	if (st == NULL || sender == NULL || bid == NULL || seq == 0 ||
	    !ferry_node_name_valid(sender))
		return FERRY_EINVAL;
	memset(&op, 0, sizeof(op));
	op.fn = op_accept;
	op.sync = 1;
	op.u.b.peer = sender;
	op.u.b.seq = seq;
	op.u.b.bid = bid;
	op.u.b.seq_out = closed != NULL ? closed : &dummy;
	if (closed != NULL)
		*closed = 0;
	return store_submit(st, &op);
}

/* ------------------------------------------------------------ exports */

static int
op_exported(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	uint8_t k[1 + FERRY_ID_LEN], v[8 + FERRY_NODE_MAX + 1 + 128];
	size_t pl = strlen(op->u.b.peer), ml = strlen(op->u.b.medium);
	int rc;

	/* Only a message still waiting here can be on a medium. */
	rc = store_db_exists(st->msgs, cx->txn, op->u.b.bid, FERRY_ID_LEN);
	if (rc == 0)
		return FERRY_ENOTFOUND;
	if (rc < 0)
		return store_dberr(cx, -rc, "looking a message up");
	st->export_marks = 1;
	k[0] = 'x';
	memcpy(k + 1, op->u.b.bid, FERRY_ID_LEN);
	ferry_put_be64(v, (uint64_t)op->u.b.at);
	memcpy(v + 8, op->u.b.peer, pl + 1);
	memcpy(v + 8 + pl + 1, op->u.b.medium, ml + 1);
	rc = store_db_put(st->bundles, cx->txn, k, sizeof(k), v,
			  8 + pl + 1 + ml + 1);
	if (rc != 0)
		return store_dberr(cx, rc, "marking a message exported");
	cx->rows++;
	if (op->u.b.seq != 0) {
		/* Tracked, from elsewhere: its source hears it is on a
		 * medium here (docs/routing.md, ferry track). */
		struct msg_rec *r = malloc(sizeof(*r));
		if (r == NULL)
			return FERRY_ENOMEM;
		rc = msg_load(st, cx, op->u.b.bid, r);
		if (rc == 0 && strcmp(r->h.info.msg.src_node, st->node) != 0)
			rc = receipt_emit(st, cx, &r->h, STORE_RCPT_MEDIUM);
		free(r);
		if (rc == FERRY_ECORRUPT)
			rc = 0; /* the sweep quarantines it */
	}
	return rc;
}

int
store_out_exported(struct store *st, const uint8_t id[FERRY_ID_LEN],
		   const char *peer, const char *medium, int64_t at_ms)
{
	return store_out_exported_track(st, id, peer, medium, at_ms, 0);
}

int
store_out_exported_track(struct store *st, const uint8_t id[FERRY_ID_LEN],
			 const char *peer, const char *medium, int64_t at_ms,
			 int track)
{
	struct store_op op;

	if (st == NULL || id == NULL || peer == NULL || medium == NULL ||
	    !ferry_node_name_valid(peer) || strlen(medium) > 127)
		return FERRY_EINVAL;
	memset(&op, 0, sizeof(op));
	op.fn = op_exported;
	op.sync = 0; /* the bundle's own fsync comes after; a lost mark only
			means the message may be exported again */
	op.u.b.peer = peer;
	op.u.b.medium = medium;
	op.u.b.bid = id;
	op.u.b.at = at_ms;
	op.u.b.seq = track != 0; /* FERRY_MSG_TRACK: tell its source */
	return store_submit(st, &op);
}

int
store_out_export_get(struct store *st, const uint8_t id[FERRY_ID_LEN],
		     struct store_export *out)
{
	uint8_t k[1 + FERRY_ID_LEN], v[8 + FERRY_NODE_MAX + 1 + 128 + 1];
	size_t n = 0, pl;
	int rc;

	memset(out, 0, sizeof(*out));
	k[0] = 'x';
	memcpy(k + 1, id, FERRY_ID_LEN);
	rc = store_db_get(st->bundles, NULL, k, sizeof(k), v, sizeof(v) - 1, &n,
			  0);
	if (rc == DB_NOTFOUND)
		return FERRY_ENOTFOUND;
	if (rc != 0)
		return store_map_dberr(rc);
	if (n < 8 + 2)
		return FERRY_ECORRUPT;
	v[n] = 0;
	out->at_ms = (int64_t)ferry_get_be64(v);
	pl = strnlen((const char *)v + 8, n - 8);
	if (pl > FERRY_NODE_MAX || 8 + pl + 1 > n)
		return FERRY_ECORRUPT;
	memcpy(out->peer, v + 8, pl + 1);
	snprintf(out->medium, sizeof(out->medium), "%s",
		 (const char *)v + 8 + pl + 1);
	return 0;
}

int
exports_forget(struct store *st, struct store_ctx *cx, const uint8_t *id)
{
	uint8_t k[1 + FERRY_ID_LEN];
	int rc;

	if (!st->export_marks) /* none was ever made: nothing to look up */
		return 0;
	k[0] = 'x';
	memcpy(k + 1, id, FERRY_ID_LEN);
	rc = store_db_del(st->bundles, cx->txn, k, sizeof(k));
	if (rc != 0 && rc != DB_NOTFOUND)
		return store_dberr(cx, rc, "forgetting an export mark");
	return 0;
}

/* ---------------------------------------------------- a peer's clock */

static int
op_clock_put(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	uint8_t k[KEY_MAX], buf[17];
	size_t kl = key_name(k, 'k', op->u.b.peer);
	int rc;

	buf[0] = (uint8_t)op->u.b.seq;
	ferry_put_be64(buf + 1, (uint64_t)op->u.b.at);
	ferry_put_be64(buf + 9, (uint64_t)op->u.b.last);
	if ((rc = store_db_put(st->bundles, cx->txn, k, kl, buf, 17)) != 0)
		return store_dberr(cx, rc, "saving a peer's clock offset");
	cx->rows++;
	return 0;
}

int
store_peer_clock_put(struct store *st, const char *peer, int how,
		     int64_t offset_ms, int64_t last_ms)
{
	struct store_op op;

	if (st == NULL || peer == NULL || !ferry_node_name_valid(peer) ||
	    (how != STORE_CLOCK_BOUND && how != STORE_CLOCK_MEASURED))
		return FERRY_EINVAL;
	memset(&op, 0, sizeof(op));
	op.fn = op_clock_put;
	op.u.b.peer = peer;
	op.u.b.seq = (uint64_t)how;
	op.u.b.at = offset_ms;
	op.u.b.last = last_ms;
	return store_submit(st, &op);
}

int
store_peer_clock_get(struct store *st, const char *peer, int *how,
		     int64_t *offset_ms, int64_t *last_ms)
{
	uint8_t k[KEY_MAX], buf[17];
	size_t kl, n = 0;
	int rc;

	if (st == NULL || peer == NULL || how == NULL || offset_ms == NULL ||
	    last_ms == NULL || !ferry_node_name_valid(peer))
		return FERRY_EINVAL;
	*how = STORE_CLOCK_NONE;
	*offset_ms = *last_ms = 0;
	kl = key_name(k, 'k', peer);
	rc = store_db_get(st->bundles, NULL, k, kl, buf, sizeof(buf), &n, 0);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_map_dberr(rc);
	if (n != 17 ||
	    (buf[0] != STORE_CLOCK_BOUND && buf[0] != STORE_CLOCK_MEASURED))
		return FERRY_ECORRUPT;
	*how = buf[0];
	*offset_ms = (int64_t)ferry_get_be64(buf + 1);
	*last_ms = (int64_t)ferry_get_be64(buf + 9);
	return 0;
}

/* ----------------------------------------------- a peer's counters */

#define STATS_FIXED (1 + 5 * 8)

static int
op_stats_put(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	const struct store_peer_stats *ps = op->u.ps.stats;
	uint8_t k[KEY_MAX], buf[STATS_FIXED + sizeof(ps->last_error)];
	size_t kl = key_name(k, 'p', op->u.ps.peer);
	size_t el = strnlen(ps->last_error, sizeof(ps->last_error) - 1);
	int rc;

	buf[0] = 1;
	ferry_put_be64(buf + 1, (uint64_t)ps->last_seen_ms);
	ferry_put_be64(buf + 9, ps->bytes_in);
	ferry_put_be64(buf + 17, ps->bytes_out);
	ferry_put_be64(buf + 25, ps->msgs_in);
	ferry_put_be64(buf + 33, ps->msgs_out);
	memcpy(buf + STATS_FIXED, ps->last_error, el);
	rc = store_db_put(st->bundles, cx->txn, k, kl, buf, STATS_FIXED + el);
	if (rc != 0)
		return store_dberr(cx, rc, "saving a peer's counters");
	cx->rows++;
	return 0;
}

int
store_peer_stats_put(struct store *st, const char *peer,
		     const struct store_peer_stats *stats)
{
	struct store_op op;

	if (st == NULL || peer == NULL || stats == NULL ||
	    !ferry_node_name_valid(peer))
		return FERRY_EINVAL;
	memset(&op, 0, sizeof(op));
	op.fn = op_stats_put;
	op.u.ps.peer = peer;
	op.u.ps.stats = stats;
	return store_submit(st, &op);
}

int
store_peer_stats_get(struct store *st, const char *peer,
		     struct store_peer_stats *out)
{
	uint8_t k[KEY_MAX], buf[STATS_FIXED + sizeof(out->last_error)];
	size_t kl, n = 0;
	int rc;

	if (st == NULL || peer == NULL || out == NULL ||
	    !ferry_node_name_valid(peer))
		return FERRY_EINVAL;
	memset(out, 0, sizeof(*out));
	kl = key_name(k, 'p', peer);
	rc = store_db_get(st->bundles, NULL, k, kl, buf, sizeof(buf), &n, 0);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_map_dberr(rc);
	if (n < STATS_FIXED || n >= sizeof(buf) || buf[0] != 1)
		return FERRY_ECORRUPT;
	out->last_seen_ms = (int64_t)ferry_get_be64(buf + 1);
	out->bytes_in = ferry_get_be64(buf + 9);
	out->bytes_out = ferry_get_be64(buf + 17);
	out->msgs_in = ferry_get_be64(buf + 25);
	out->msgs_out = ferry_get_be64(buf + 33);
	memcpy(out->last_error, buf + STATS_FIXED, n - STATS_FIXED);
	out->last_error[n - STATS_FIXED] = '\0';
	return 0;
}
