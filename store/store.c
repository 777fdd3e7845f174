/*
 * store.c - what every part of the store shares: the last error, options
 * and the clock, Berkeley DB get/put/del helpers, the queue-counter cache,
 * the meta counters (seq, totals), disk-space checks and the emergency
 * space file, and the names of states.
 *
 * Owns: the queue-counter cache (writer thread only) and the emergency file.
 * Does not own: the environment (env.c), the writer thread (commit.c),
 * reads (read.c), what each operation does (queue.c, outbound.c, writer.c,
 * expiry.c) nor the byte layouts (record.c).
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

static __thread char last_error[STORE_ERR_MAX];

void
store_seterr(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

const char *
store_last_error(void)
{
	return last_error;
}

void
store_clearerr(void)
{
	last_error[0] = '\0';
}

void
store_opts_init(struct store_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->disk_reserve_bytes = STORE_RESERVE_AUTO;
	o->cache_bytes = 16ull << 20;
	o->seen_retention_ms = 30LL * 24 * 3600 * 1000;
	o->seen_margin_ms = 24LL * 3600 * 1000;
	o->partial_max_idle_ms = 7LL * 24 * 3600 * 1000;
}

int64_t
store_now(struct store *st)
{
	return st->opts.clock_ms(st->opts.clock_arg);
}

int
store_map_dberr(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case ENOSPC:
	case EDQUOT:
		return FERRY_ENOSPC;
	case EIO:
		return FERRY_EIO;
	case ENOMEM:
		return FERRY_ENOMEM;
	case DB_NOTFOUND:
	case DB_KEYEMPTY:
		return FERRY_ENOTFOUND;
	default:
		return FERRY_EDB;
	}
}

int
store_dberr(struct store_ctx *cx, int rc, const char *what)
{
	cx->dberr = rc;
	snprintf(cx->errbuf, sizeof(cx->errbuf), "%s: %s", what,
		 db_strerror(rc));
	return STORE_EABORT;
}

/* ---------------------------------------------------------- db helpers */

int
store_db_get(DB *db, DB_TXN *t, const void *k, size_t klen, void *v, size_t cap,
	     size_t *vlen, uint32_t flags)
{
	DBT key, val;
	int rc;

	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	key.data = (void *)k;
	key.size = (uint32_t)klen;
	val.data = v;
	val.ulen = (uint32_t)cap;
	val.flags = DB_DBT_USERMEM;
	rc = db->get(db, t, &key, &val, flags);
	if (rc == 0 && vlen != NULL)
		*vlen = val.size;
	return rc;
}

int
store_db_put(DB *db, DB_TXN *t, const void *k, size_t klen, const void *v,
	     size_t vlen)
{
	DBT key, val;

	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	key.data = (void *)k;
	key.size = (uint32_t)klen;
	val.data = (void *)v;
	val.size = (uint32_t)vlen;
	return db->put(db, t, &key, &val, 0);
}

int
store_db_del(DB *db, DB_TXN *t, const void *k, size_t klen)
{
	DBT key;

	memset(&key, 0, sizeof(key));
	key.data = (void *)k;
	key.size = (uint32_t)klen;
	return db->del(db, t, &key, 0);
}

void
store_dbt_user(DBT *d, void *buf, size_t cap)
{
	memset(d, 0, sizeof(*d));
	d->data = buf;
	d->ulen = (uint32_t)cap;
	d->flags = DB_DBT_USERMEM;
}

void
store_dbt_none(DBT *d)
{
	memset(d, 0, sizeof(*d));
	d->flags = DB_DBT_PARTIAL;
}

/* ------------------------------------------------------ queue counters */

static unsigned
qhash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % STORE_QCACHE_BUCKETS;
}

int
store_qload(struct store *st, DB_TXN *t, struct store_qent *q)
{
	uint8_t buf[128];
	size_t n;
	const char *name = q->s.name;
	int rc;

	rc = store_db_get(st->queues, t, name, strlen(name), buf, sizeof(buf),
			  &n, 0);
	if (rc == DB_NOTFOUND) {
		q->in_db = 0;
		q->s.msgs = q->s.bytes = q->s.leased = 0;
		q->s.max_bytes = q->s.max_msgs = 0;
		q->s.open_until_ms = 0;
		return 0;
	}
	if (rc != 0)
		return rc;
	q->in_db = 1;
	if (rec_queue_decode(buf, n, &q->s) != 0) {
		store_seterr("queue record of '%s' is damaged", name);
		return EINVAL;
	}
	return 0;
}

/*
 * The cached counters of queue name, loaded on first use.  With create 0,
 * NULL when the queue has no record.  Writer thread only.
 */
struct store_qent *
store_qget(struct store *st, const char *name, int create)
{
	unsigned b = qhash(name);
	struct store_qent *q;

	for (q = st->qcache[b]; q != NULL; q = q->next)
		if (strcmp(q->s.name, name) == 0)
			return (q->in_db || create || q->dirty) ? q : NULL;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	snprintf(q->s.name, sizeof(q->s.name), "%s", name);
	if (store_qload(st, NULL, q) != 0 || (!q->in_db && !create)) {
		/* Not cached: a closed reply queue is asked about once per
		 * late reply, and their names are never the same twice. */
		free(q);
		return NULL;
	}
	q->next = st->qcache[b];
	st->qcache[b] = q;
	return (q->in_db || create) ? q : NULL;
}

void
store_qdrop(struct store *st, struct store_qent *q)
{
	struct store_qent **pp = &st->qcache[qhash(q->s.name)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			free(q);
			return;
		}
}

void
store_qdirty(struct store_ctx *cx, struct store_qent *q)
{
	if (!q->dirty) {
		q->dirty = 1;
		q->dirty_next = cx->dirty;
		cx->dirty = q;
	}
}

void
store_qcache_free(struct store *st)
{
	for (unsigned b = 0; b < STORE_QCACHE_BUCKETS; b++) {
		struct store_qent *q = st->qcache[b], *next;
		for (; q != NULL; q = next) {
			next = q->next;
			free(q);
		}
		st->qcache[b] = NULL;
	}
}

/* ------------------------------------------------------------ meta */

int
store_totals_load(struct store *st, struct store_totals *out)
{
	uint8_t buf[64];
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_db_get(st->meta, NULL, "totals", 6, buf, sizeof(buf), &n, 0);
	if (rc == 0 && n == 32) {
		out->msgs = ferry_get_be64(buf);
		out->bytes = ferry_get_be64(buf + 8);
		out->out_msgs = ferry_get_be64(buf + 16);
		out->out_bytes = ferry_get_be64(buf + 24);
	} else if (rc != DB_NOTFOUND && rc != 0) {
		return rc;
	}
	return 0;
}

int
store_meta_load(struct store *st)
{
	uint8_t buf[64];
	size_t n;
	int rc;

	rc = store_db_get(st->meta, NULL, "seq", 3, buf, sizeof(buf), &n, 0);
	if (rc == 0 && n == 8)
		st->seq = ferry_get_be64(buf);
	else if (rc != DB_NOTFOUND && rc != 0)
		return rc;
	return store_totals_load(st, &st->tot);
}

int
store_meta_save(struct store *st, DB_TXN *t)
{
	uint8_t buf[32];
	int rc;

	ferry_put_be64(buf, st->seq);
	rc = store_db_put(st->meta, t, "seq", 3, buf, 8);
	if (rc != 0)
		return rc;
	ferry_put_be64(buf, st->tot.msgs);
	ferry_put_be64(buf + 8, st->tot.bytes);
	ferry_put_be64(buf + 16, st->tot.out_msgs);
	ferry_put_be64(buf + 24, st->tot.out_bytes);
	return store_db_put(st->meta, t, "totals", 6, buf, 32);
}

/* ------------------------------------------------------ disk space */

/*
 * Refuse new data when the file system's free space minus need would fall
 * below the reserve.  Urgent messages may use half of the reserve, so
 * that they still get through when bulk traffic has filled the disk.
 */
int
store_check_space(struct store *st, struct store_ctx *cx, uint64_t need,
		  int priority)
{
	uint64_t reserve = st->reserve;

	if (!cx->free_checked) {
		struct statvfs sv;
		if (statvfs(st->dir, &sv) != 0)
			return 0; /* cannot tell: let the write decide */
		cx->free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
		cx->free_checked = 1;
	}
	if (priority >= FERRY_PRIO_MAX)
		reserve /= 2;
	/* Berkeley DB writes the payload twice (log, then pages), and pages
	 * round it up: count it two and a half times. */
	need = need * 5 / 2;
	if (cx->free_bytes < reserve || cx->free_bytes - reserve < need) {
		snprintf(cx->errbuf, sizeof(cx->errbuf),
			 "disk full: %llu bytes free in %s, reserve %llu",
			 (unsigned long long)cx->free_bytes, st->dir,
			 (unsigned long long)reserve);
		return FERRY_ENOSPC;
	}
	cx->free_bytes -= need;
	return 0;
}

/*
 * Emergency space.  The disk reserve keeps the store itself from filling
 * the disk, but another program can still take the last byte, and then
 * even an ack (which frees space) cannot write its log record.  So the
 * store keeps a preallocated file of STORE_EMERGENCY_BYTES, and deletes it
 * to let a batch that failed with ENOSPC run again: deliveries and custody
 * hand-overs go on, and free space comes back.  The sweep makes the file
 * again once there is room.
 */
static void
emergency_path(const struct store *st, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/emergency.space", st->dir);
}

static void
emergency_make(struct store *st)
{
	struct statvfs sv;
	struct stat sb;
	char path[4096];
	int fd;

	emergency_path(st, path, sizeof(path));
	if (stat(path, &sb) == 0 && (uint64_t)sb.st_size >= st->emergency_bytes)
		return;
	if (statvfs(st->dir, &sv) != 0 || (uint64_t)sv.f_bavail * sv.f_frsize <
					      st->emergency_bytes + st->reserve)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (posix_fallocate(fd, 0, (off_t)st->emergency_bytes) != 0 ||
	    fsync(fd) != 0)
		(void)unlink(path); /* no room after all: try again later */
	close(fd);
}

/* 1 if the emergency file was there and is gone now. */
int
store_emergency_release(struct store *st)
{
	char path[4096];

	emergency_path(st, path, sizeof(path));
	if (unlink(path) != 0)
		return 0;
	st->emergency_used++;
	return 1;
}

void
store_emergency_refill(struct store *st)
{
	emergency_make(st);
}

int
store_stats(struct store *st, struct store_stats *out)
{
	struct store_totals tot;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_totals_load(st, &tot)) != 0)
		return store_map_dberr(rc);
	out->msgs = tot.msgs;
	out->bytes = tot.bytes;
	out->outbound_msgs = tot.out_msgs;
	out->outbound_bytes = tot.out_bytes;
	pthread_mutex_lock(&st->mu);
	out->commits = st->n_commits;
	out->ops = st->n_ops;
	pthread_mutex_unlock(&st->mu);
	out->quota_bytes = st->opts.quota_bytes;
	out->reserve_bytes = st->reserve;
	return 0;
}

const char *
store_state_name(enum store_state s)
{
	switch (s) {
	case STORE_QUEUED:
		return "queued";
	case STORE_LEASED:
		return "leased";
	case STORE_OUTBOUND:
		return "outbound";
	case STORE_INFLIGHT:
		return "in flight";
	}
	return "unknown";
}

const char *
store_dead_reason_name(enum store_dead_reason r)
{
	switch (r) {
	case STORE_DEAD_NONE:
		return "none";
	case STORE_DEAD_EXPIRED:
		return "expired";
	case STORE_DEAD_NO_ROUTE:
		return "no route";
	case STORE_DEAD_REJECTED:
		return "rejected";
	case STORE_DEAD_TOO_LARGE:
		return "too large";
	case STORE_DEAD_UNREADABLE:
		return "unreadable";
	case STORE_DEAD_HANDLER_FAILED:
		return "handler failed";
	case STORE_DEAD_NO_WAITER:
		return "no one waiting";
	case STORE_DEAD_LOOP:
		return "loop";
	case STORE_DEAD_HOP_LIMIT:
		return "hop limit";
	case STORE_DEAD_FORGED:
		return "forged origin";
	case STORE_DEAD_UNVERIFIED:
		return "unverified origin";
	}
	return "unknown";
}
