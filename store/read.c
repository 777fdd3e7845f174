/*
 * read.c - reads outside the writer thread: a message's header and
 * status, payload readers, walks of the indexes (browse, outbound scan)
 * and queue counters.
 *
 * Reads use no transaction (or DB_READ_COMMITTED cursors) and retry on
 * deadlock, so they never wait for the writer's batch.  Owns nothing
 * beyond the store_reader handles it gives out.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

/* ----------------------------------------------------------------- reads */

int
store_get(struct store *st, const uint8_t id[FERRY_ID_LEN],
	  struct store_msg_info *out)
{
	uint8_t buf[STORE_HDR_MAX];
	struct store_hdr h;
	size_t n;
	int rc, tries = 0;

	do {
		rc = store_db_get(st->msgs, NULL, id, FERRY_ID_LEN, buf,
				  sizeof(buf), &n, 0);
	} while (rc == DB_LOCK_DEADLOCK && ++tries < 100);
	if (rc != 0)
		return store_map_dberr(rc);
	if (rec_hdr_decode(buf, n, &h, NULL, NULL) != 0) {
		store_seterr("message header is damaged");
		return FERRY_ECORRUPT;
	}
	*out = h.info;
	return 0;
}

int
store_status(struct store *st, const uint8_t id[FERRY_ID_LEN],
	     struct store_status *out)
{
	uint8_t buf[256];
	struct store_seen s;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = receipt_load(st, id, out)) != 0)
		return rc;
	rc = store_get(st, id, &out->info);
	if (rc == 0) {
		out->kind = STORE_ST_PRESENT;
		rc = store_out_export_get(st, id, &out->exported);
		return rc == FERRY_ENOTFOUND ? 0 : rc;
	}
	if (rc != FERRY_ENOTFOUND)
		return rc;
	rc = store_db_get(st->seen, NULL, id, FERRY_ID_LEN, buf, sizeof(buf),
			  &n, 0);
	if (rc == DB_NOTFOUND) {
		out->kind = STORE_ST_UNKNOWN;
		return 0;
	}
	if (rc != 0)
		return store_map_dberr(rc);
	if (rec_seen_decode(buf, n, &s) != 0)
		return FERRY_ECORRUPT;
	out->kind = s.kind;
	out->at_ms = s.at_ms;
	memcpy(out->peer, s.peer, sizeof(out->peer));
	if (s.kind == STORE_ST_DEAD_REMOVED) {
		memcpy(out->info.msg.id, id, FERRY_ID_LEN);
		snprintf(out->info.queue, sizeof(out->info.queue), "%s",
			 FERRY_DEAD_QUEUE);
		out->info.dead_reason = s.dead_reason;
		out->info.dead_ms = s.dead_ms;
	}
	return 0;
}

struct store_reader {
	struct store *st;
	uint8_t id[FERRY_ID_LEN];
	uint64_t len, off;
	int fd;	      /* a spooled payload's file, or -1 */
	uint8_t *inl; /* inline payload copy, or NULL */
	uint8_t *chunk;
	uint32_t chunk_idx; /* index held in chunk, or UINT32_MAX */
	size_t chunk_len;
	uint64_t dropped; /* a spool file's page cache given back below */
};

int
store_reader_open(struct store *st, const uint8_t id[FERRY_ID_LEN],
		  struct store_reader **out)
{
	uint8_t buf[STORE_HDR_MAX];
	struct store_reader *r;
	struct store_hdr h;
	const uint8_t *inl;
	size_t n, inl_len;
	int rc;

	*out = NULL;
	rc = store_db_get(st->msgs, NULL, id, FERRY_ID_LEN, buf, sizeof(buf),
			  &n, 0);
	if (rc != 0)
		return store_map_dberr(rc);
	if (rec_hdr_decode(buf, n, &h, &inl, &inl_len) != 0)
		return FERRY_ECORRUPT;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return FERRY_ENOMEM;
	r->st = st;
	r->fd = -1;
	memcpy(r->id, id, FERRY_ID_LEN);
	r->len = h.info.msg.payload_len;
	r->chunk_idx = UINT32_MAX;
	if (h.spooled) {
		rc = spool_open_read(st, id, &r->fd);
		if (rc == FERRY_ENOTFOUND &&
		    store_db_get(st->msgs, NULL, id, FERRY_ID_LEN, buf,
				 sizeof(buf), &n, 0) == 0) {
			/* Its message is still here: the file was lost. */
			store_seterr("the spool file of a stored message is "
				     "missing");
			rc = FERRY_ECORRUPT;
		}
		if (rc == 0)
			rc = spool_check_len(r->fd, r->len);
		if (rc != 0) {
			if (r->fd >= 0)
				close(r->fd);
			free(r);
			return rc;
		}
	} else if (h.has_inline) {
		r->inl = malloc(inl_len ? inl_len : 1);
		if (r->inl == NULL) {
			free(r);
			return FERRY_ENOMEM;
		}
		memcpy(r->inl, inl, inl_len);
	}
	*out = r;
	return 0;
}

int
store_reader_seek(struct store_reader *r, uint64_t offset)
{
	if (offset > r->len)
		return FERRY_EINVAL;
	r->off = offset;
	if (offset < r->dropped)
		r->dropped = offset; /* read again: dropped again behind */
	return 0;
}

int
store_reader_read(struct store_reader *r, void *buf, size_t cap, size_t *n)
{
	uint8_t key[FERRY_ID_LEN + 4];
	uint32_t idx;
	size_t in_chunk, take;
	int rc, tries = 0;

	*n = 0;
	if (r->off >= r->len || cap == 0)
		return 0;
	if (r->fd >= 0) {
		int rc2;
		if ((uint64_t)cap > r->len - r->off)
			cap = (size_t)(r->len - r->off);
		rc2 = spool_read(r->fd, r->off, buf, cap, n);
		if (rc2 == 0 && *n == 0) {
			store_seterr("a spooled payload is shorter than its "
				     "recorded length");
			return FERRY_ECORRUPT;
		}
		r->off += *n;
		/* Read once, front to back: its page cache goes back
		 * behind the reader, a window at a time, as the writer's
		 * does (writer.c, drop_behind). */
		if (r->off >= r->dropped + 2 * (uint64_t)STORE_SYNC_EVERY) {
			uint64_t to = r->off - STORE_SYNC_EVERY;
			(void)posix_fadvise(r->fd, (off_t)r->dropped,
					    (off_t)(to - r->dropped),
					    POSIX_FADV_DONTNEED);
			r->dropped = to;
		}
		return rc2;
	}
	if (r->inl != NULL) {
		take = (size_t)(r->len - r->off) < cap
			   ? (size_t)(r->len - r->off)
			   : cap;
		memcpy(buf, r->inl + r->off, take);
		r->off += take;
		*n = take;
		return 0;
	}
	idx = (uint32_t)(r->off / STORE_CHUNK_BYTES);
	if (idx != r->chunk_idx) {
		if (r->chunk == NULL) {
			r->chunk = malloc(STORE_CHUNK_BYTES);
			if (r->chunk == NULL)
				return FERRY_ENOMEM;
		}
		rec_ckey(key, r->id, idx);
		do {
			rc = store_db_get(r->st->chunks, NULL, key, sizeof(key),
					  r->chunk, STORE_CHUNK_BYTES,
					  &r->chunk_len, 0);
		} while (rc == DB_LOCK_DEADLOCK && ++tries < 100);
		if (rc != 0) {
			r->chunk_idx = UINT32_MAX;
			if (rc == DB_NOTFOUND)
				store_seterr("payload chunk %u is missing (the "
					     "message left the store?)",
					     idx);
			return store_map_dberr(rc);
		}
		r->chunk_idx = idx;
	}
	in_chunk = (size_t)(r->off % STORE_CHUNK_BYTES);
	if (in_chunk >= r->chunk_len) {
		store_seterr("payload chunk %u is short", idx);
		return FERRY_ECORRUPT;
	}
	take = r->chunk_len - in_chunk;
	if (take > cap)
		take = cap;
	if (take > r->len - r->off)
		take = (size_t)(r->len - r->off);
	memcpy(buf, r->chunk + in_chunk, take);
	r->off += take;
	*n = take;
	return 0;
}

int
store_prefix_reader_open(struct store *st, const uint8_t *id, uint64_t len,
			 struct store_reader **out)
{
	struct store_reader *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return FERRY_ENOMEM;
	r->st = st;
	memcpy(r->id, id, FERRY_ID_LEN);
	r->len = len;
	r->chunk_idx = UINT32_MAX;
	rc = spool_open_read(st, id, &r->fd);
	if (rc != 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void
store_reader_close(struct store_reader *r)
{
	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->inl);
	free(r->chunk);
	free(r);
}

/*
 * Walk index db from key start while keys begin with prefix (plen bytes),
 * calling fn with the message of each id.  The cursor is closed while fn
 * runs, so fn may call into the store.
 */
static int
index_walk(struct store *st, DB *db, const uint8_t *prefix, size_t plen,
	   size_t limit, store_browse_fn fn, void *arg,
	   struct store_out_pos *pos)
{
	uint8_t last[STORE_QKEY_MAX + 16];
	size_t last_len = 0, seen = 0;
	int have_last = 0, stop = 0;
	uint8_t ids[64][FERRY_ID_LEN];
	uint8_t keys[64][STORE_OUT_POS_MAX];
	size_t klens[64];

	if (pos != NULL && pos->len != 0 && pos->len <= STORE_OUT_POS_MAX) {
		memcpy(last, pos->key, pos->len);
		last_len = pos->len;
		have_last = 1;
	}

	while (!stop) {
		DBC *c = NULL;
		DBT k, v;
		uint8_t kbuf[STORE_QKEY_MAX + 16], vbuf[64];
		uint8_t round_last[STORE_QKEY_MAX + 16];
		size_t nids = 0, round_len = last_len;
		int rc, round_have = have_last;

		/* Where this round starts, to start again after a deadlock. */
		memcpy(round_last, last, last_len);
		rc = db->cursor(db, NULL, &c, DB_READ_COMMITTED);
		if (rc != 0)
			return store_map_dberr(rc);
		store_dbt_user(&k, kbuf, sizeof(kbuf));
		store_dbt_user(&v, vbuf, sizeof(vbuf));
		if (have_last) {
			memcpy(kbuf, last, last_len);
			k.size = (uint32_t)last_len;
			rc = c->get(c, &k, &v, DB_SET_RANGE);
		} else if (plen != 0) {
			memcpy(kbuf, prefix, plen);
			k.size = (uint32_t)plen;
			rc = c->get(c, &k, &v, DB_SET_RANGE);
		} else {
			rc = c->get(c, &k, &v, DB_FIRST);
		}
		if (rc == 0 && have_last && k.size == last_len &&
		    memcmp(kbuf, last, last_len) == 0)
			rc = c->get(c, &k, &v, DB_NEXT);
		while (rc == 0 && nids < 64) {
			if (k.size < plen ||
			    (plen != 0 && memcmp(kbuf, prefix, plen) != 0)) {
				stop = 1;
				break;
			}
			if (v.size == FERRY_ID_LEN) {
				size_t kl = k.size < STORE_OUT_POS_MAX
						? k.size
						: STORE_OUT_POS_MAX;
				memcpy(keys[nids], kbuf, kl);
				klens[nids] = kl;
				memcpy(ids[nids++], vbuf, FERRY_ID_LEN);
			}
			memcpy(last, kbuf, k.size);
			last_len = k.size;
			have_last = 1;
			rc = c->get(c, &k, &v, DB_NEXT);
		}
		(void)c->close(c);
		if (rc == DB_LOCK_DEADLOCK) {
			memcpy(last, round_last, round_len);
			last_len = round_len;
			have_last = round_have;
			continue;
		}
		if (rc != 0 && rc != DB_NOTFOUND)
			return store_map_dberr(rc);
		if (rc == DB_NOTFOUND)
			stop = 1;
		for (size_t i = 0; i < nids; i++) {
			struct store_msg_info info;
			if (pos != NULL) {
				memcpy(pos->key, keys[i], klens[i]);
				pos->len = klens[i];
			}
			if (store_get(st, ids[i], &info) != 0)
				continue; /* left meanwhile */
			if (fn(&info, arg) != 0 ||
			    (limit != 0 && ++seen >= limit)) {
				stop = 1;
				break;
			}
		}
	}
	return 0;
}

struct browse_filter {
	store_browse_fn fn;
	void *arg;
	int64_t now;
};

static int
skip_expired(const struct store_msg_info *info, void *arg)
{
	struct browse_filter *f = arg;

	if (info->dead_reason == STORE_DEAD_NONE && info->msg.expires_ms != 0 &&
	    info->msg.expires_ms <= f->now)
		return 0;
	return f->fn(info, f->arg);
}

int
store_browse(struct store *st, const char *queue, size_t limit,
	     store_browse_fn fn, void *arg)
{
	uint8_t prefix[STORE_QKEY_MAX];
	struct browse_filter f = {fn, arg, store_now(st)};

	if (!ferry_queue_name_valid(queue))
		return FERRY_EINVAL;
	return index_walk(st, st->qidx, prefix, rec_qprefix(prefix, queue),
			  limit, skip_expired, &f, NULL);
}

int
store_out_browse(struct store *st, size_t limit, store_browse_fn fn, void *arg)
{
	return index_walk(st, st->oidx, NULL, 0, limit, fn, arg, NULL);
}

int
store_out_scan(struct store *st, const char *node, struct store_out_pos *pos,
	       size_t limit, store_browse_fn fn, void *arg)
{
	uint8_t prefix[STORE_QKEY_MAX];

	if (pos == NULL || (node != NULL && !ferry_node_name_valid(node) &&
			    strcmp(node, STORE_SPLIT_DST) != 0))
		return FERRY_EINVAL;
	if (pos->all != (node == NULL)) {
		pos->len = 0; /* the other kind: from the beginning */
		pos->all = node == NULL;
	}
	if (node == NULL)
		return index_walk(st, st->oidx, NULL, 0, limit, fn, arg, pos);
	return index_walk(st, st->ondx, prefix, rec_qprefix(prefix, node),
			  limit, fn, arg, pos);
}

int
store_out_pos_behind(const struct store_out_pos *pos, const char *node,
		     unsigned prio)
{
	size_t n;

	if (pos->all) /* oidx keys: (7 - priority) . be64 seq */
		return pos->len >= 1 &&
		       pos->key[0] > (uint8_t)(FERRY_PRIO_MAX - prio);
	n = strnlen(node, FERRY_NODE_MAX);
	if (pos->len < n + 2 || memcmp(pos->key, node, n) != 0)
		return 0; /* at the start */
	return pos->key[n + 1] > (uint8_t)(FERRY_PRIO_MAX - prio);
}

/* ondx keys are node . 0 . (7 - priority) . be64 seq (store_int.h). */
void
store_out_pos_priority(struct store_out_pos *pos, const char *node,
		       unsigned prio)
{
	size_t n;

	if (pos->all) {
		pos->key[0] =
		    (uint8_t)(FERRY_PRIO_MAX -
			      (prio > FERRY_PRIO_MAX ? FERRY_PRIO_MAX : prio));
		pos->len = 1;
		return;
	}
	n = strnlen(node, FERRY_NODE_MAX);
	memcpy(pos->key, node, n);
	pos->key[n] = 0;
	pos->key[n + 1] =
	    (uint8_t)(FERRY_PRIO_MAX -
		      (prio > FERRY_PRIO_MAX ? FERRY_PRIO_MAX : prio));
	pos->len = n + 2;
}

int
store_queue_stats(struct store *st, const char *queue,
		  struct store_queue_stats *out)
{
	uint8_t buf[128];
	size_t n;
	int rc;

	if (!ferry_queue_name_valid(queue))
		return FERRY_EINVAL;
	memset(out, 0, sizeof(*out));
	rc = store_db_get(st->queues, NULL, queue, strlen(queue), buf,
			  sizeof(buf), &n, 0);
	if (rc != 0)
		return store_map_dberr(rc);
	if (rec_queue_decode(buf, n, out) != 0)
		return FERRY_ECORRUPT;
	snprintf(out->name, sizeof(out->name), "%s", queue);
	return 0;
}

int
store_queue_list(struct store *st, store_queue_fn fn, void *arg)
{
	DBC *c = NULL;
	DBT k, v;
	uint8_t kbuf[FERRY_QUEUE_MAX + 1], vbuf[128];
	int rc;

	rc = st->queues->cursor(st->queues, NULL, &c, DB_READ_COMMITTED);
	if (rc != 0)
		return store_map_dberr(rc);
	store_dbt_user(&k, kbuf, sizeof(kbuf) - 1);
	store_dbt_user(&v, vbuf, sizeof(vbuf));
	/* Queue records are few and small: collect, then call fn without
	 * holding the cursor. */
	{
		struct store_queue_stats *all = NULL;
		size_t n = 0, cap = 0;
		while ((rc = c->get(c, &k, &v, DB_NEXT)) == 0) {
			struct store_queue_stats s;
			memset(&s, 0, sizeof(s));
			if (rec_queue_decode(vbuf, v.size, &s) != 0)
				continue;
			memcpy(s.name, kbuf, k.size);
			s.name[k.size] = '\0';
			if (n == cap) {
				size_t nc = cap ? 2 * cap : 16;
				void *p = realloc(all, nc * sizeof(*all));
				if (p == NULL) {
					rc = ENOMEM;
					break;
				}
				all = p;
				cap = nc;
			}
			all[n++] = s;
		}
		(void)c->close(c);
		if (rc == DB_NOTFOUND) {
			rc = 0;
			for (size_t i = 0; i < n; i++)
				if (fn(&all[i], arg) != 0)
					break;
		}
		free(all);
	}
	return store_map_dberr(rc);
}

int
store_partials_list(struct store *st, size_t limit, store_partial_fn fn,
		    void *arg)
{
	struct store_partial *all = NULL;
	size_t n = 0, cap = 0;
	uint8_t kbuf[FERRY_ID_LEN], vbuf[STORE_HDR_MAX];
	DBC *c = NULL;
	DBT k, v;
	int rc;

	rc = st->partials->cursor(st->partials, NULL, &c, DB_READ_COMMITTED);
	if (rc != 0)
		return store_map_dberr(rc);
	store_dbt_user(&k, kbuf, sizeof(kbuf));
	store_dbt_user(&v, vbuf, sizeof(vbuf));
	/* Collect, then call fn without holding the cursor (fn may be
	 * slow; the writer thread must not wait for it). */
	while ((limit == 0 || n < limit) &&
	       (rc = c->get(c, &k, &v, DB_NEXT)) == 0) {
		struct store_hdr h;
		if (k.size != FERRY_ID_LEN ||
		    rec_hdr_decode(vbuf, v.size, &h, NULL, NULL) != 0)
			continue; /* the sweep drops a damaged one */
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 16;
			void *p = realloc(all, nc * sizeof(*all));
			if (p == NULL) {
				rc = ENOMEM;
				break;
			}
			all = p;
			cap = nc;
		}
		memset(&all[n], 0, sizeof(all[n]));
		all[n].msg = h.info.msg;
		memcpy(all[n].msg.id, kbuf, FERRY_ID_LEN);
		all[n].last_ms = h.info.stored_ms;
		n++;
	}
	(void)c->close(c);
	if (rc == DB_NOTFOUND || (limit != 0 && n == limit && rc == 0)) {
		rc = 0;
		for (size_t i = 0; i < n; i++) {
			all[i].busy = store_writer_busy(st, all[i].msg.id);
			if (fn(&all[i], arg) != 0)
				break;
		}
	}
	free(all);
	return store_map_dberr(rc);
}
