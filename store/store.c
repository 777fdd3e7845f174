/*
 * store.c - the store's environment, its writer thread and its reads.
 *
 * Owns: the Berkeley DB environment and handles, the directory lock, the
 * writer thread with its queue of operations, the queue-counter cache.
 * Does not own: what each operation does (queue.c, outbound.c, writer.c,
 * expiry.c) nor the byte layouts (record.c).
 *
 * Why a writer thread: Berkeley DB does not group separate commits well
 * (one synchronous commit per put reaches ~7,000/s here, and 16 threads
 * committing separately do no better), while 100 puts per commit reach
 * ~52,000/s.  So callers queue operations; the thread runs everything that
 * queued up during the previous flush in one transaction, flushes the log
 * once, and answers them all (group commit).  A single writer also means
 * writers never deadlock with each other.
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

static __thread char last_error[512];

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
store_opts_init(struct store_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->disk_reserve_bytes = STORE_RESERVE_AUTO;
	o->cache_bytes = 16ull << 20;
	o->seen_retention_ms = 30LL * 24 * 3600 * 1000;
	o->seen_margin_ms = 24LL * 3600 * 1000;
	o->partial_max_idle_ms = 7LL * 24 * 3600 * 1000;
}

static int64_t
real_clock_ms(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* ------------------------------------------------------ queue counters */

static unsigned
qhash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % STORE_QCACHE_BUCKETS;
}

static int
qload(struct store *st, DB_TXN *t, struct store_qent *q)
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
	if (qload(st, NULL, q) != 0) {
		free(q);
		return NULL;
	}
	q->next = st->qcache[b];
	st->qcache[b] = q;
	return (q->in_db || create) ? q : NULL;
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

static void
qcache_free(struct store *st)
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

static int
meta_load(struct store *st)
{
	uint8_t buf[64];
	size_t n;
	int rc;

	rc = store_db_get(st->meta, NULL, "seq", 3, buf, sizeof(buf), &n, 0);
	if (rc == 0 && n == 8)
		st->seq = rec_get_be64(buf);
	else if (rc != DB_NOTFOUND && rc != 0)
		return rc;
	memset(&st->tot, 0, sizeof(st->tot));
	rc = store_db_get(st->meta, NULL, "totals", 6, buf, sizeof(buf), &n, 0);
	if (rc == 0 && n == 32) {
		st->tot.msgs = rec_get_be64(buf);
		st->tot.bytes = rec_get_be64(buf + 8);
		st->tot.out_msgs = rec_get_be64(buf + 16);
		st->tot.out_bytes = rec_get_be64(buf + 24);
	} else if (rc != DB_NOTFOUND && rc != 0) {
		return rc;
	}
	return 0;
}

static int
meta_save(struct store *st, DB_TXN *t)
{
	uint8_t buf[32];
	int rc;

	rec_be64(buf, st->seq);
	rc = store_db_put(st->meta, t, "seq", 3, buf, 8);
	if (rc != 0)
		return rc;
	rec_be64(buf, st->tot.msgs);
	rec_be64(buf + 8, st->tot.bytes);
	rec_be64(buf + 16, st->tot.out_msgs);
	rec_be64(buf + 24, st->tot.out_bytes);
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
static int
emergency_release(struct store *st)
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

/* ------------------------------------------------------- writer thread */

static void
batch_rollback(struct store *st, struct store_ctx *cx)
{
	struct store_qent *q;

	for (q = cx->dirty; q != NULL; q = q->dirty_next) {
		q->dirty = 0;
		if (qload(st, NULL, q) != 0)
			q->in_db = 0;
	}
	cx->dirty = NULL;
	(void)meta_load(st);
}

static int
batch_finish(struct store *st, struct store_ctx *cx)
{
	uint8_t buf[128];
	struct store_qent *q;
	int rc;

	for (q = cx->dirty; q != NULL; q = q->dirty_next) {
		size_t n = rec_queue_encode(&q->s, buf, sizeof(buf));
		rc = store_db_put(st->queues, cx->txn, q->s.name,
				  strlen(q->s.name), buf, n);
		if (rc != 0)
			return store_dberr(cx, rc, "saving queue counters");
	}
	rc = meta_save(st, cx->txn);
	if (rc != 0)
		return store_dberr(cx, rc, "saving store counters");
	return 0;
}

static void
batch_clean(struct store_ctx *cx)
{
	struct store_qent *q;

	for (q = cx->dirty; q != NULL; q = q->dirty_next) {
		q->dirty = 0;
		q->in_db = 1;
	}
	cx->dirty = NULL;
}

/*
 * Run ops (a list of n) in one transaction.  Returns 0 when committed (each
 * op has its result), or the Berkeley DB error that aborted it (no op had
 * any effect).
 */
static int
batch_run(struct store *st, struct store_op *ops, size_t n, int *need_flush)
{
	struct store_ctx cx;
	struct store_op *op;
	int rc, sync = 0;
	size_t i;

	memset(&cx, 0, sizeof(cx));
	cx.now = store_now(st);
	rc = st->env->txn_begin(st->env, NULL, &cx.txn, 0);
	if (rc != 0) {
		store_seterr("cannot begin a transaction: %s", db_strerror(rc));
		return rc;
	}
	for (op = ops, i = 0; op != NULL && i < n; op = op->next, i++) {
		cx.errbuf[0] = '\0';
		op->result = op->fn(st, &cx, op);
		if (op->result == STORE_EABORT || cx.dberr != 0)
			break;
		if (op->result != 0 && cx.errbuf[0] != '\0') {
			size_t len = strnlen(cx.errbuf, sizeof(op->err) - 1);
			memcpy(op->err, cx.errbuf, len);
			op->err[len] = '\0';
		}
		if (op->sync)
			sync = 1;
	}
	if (cx.dberr == 0)
		(void)batch_finish(st, &cx);
	if (cx.dberr != 0) {
		rc = cx.dberr;
		store_seterr("%s", cx.errbuf);
		(void)cx.txn->abort(cx.txn);
		batch_rollback(st, &cx);
		return rc;
	}
	/* The flush is the flusher thread's job (see flusher_main). */
	rc = cx.txn->commit(cx.txn, DB_TXN_NOSYNC);
	if (rc != 0) {
		store_seterr("commit failed: %s", db_strerror(rc));
		batch_rollback(st, &cx);
		return rc;
	}
	batch_clean(&cx);
	if (sync)
		*need_flush = 1;
	/* Keep the log short: checkpoint once 8 MiB of log has piled up,
	 * so that log files (16 MiB each) are removed soon after. */
	(void)st->env->txn_checkpoint(st->env, 8 * 1024, 0, 0);
	return 0;
}

static void
batch_execute(struct store *st, struct store_op *ops, size_t n, int *need_flush)
{
	struct store_op *op;
	size_t i;
	int rc, tries = 0;

	for (;;) {
		rc = batch_run(st, ops, n, need_flush);
		if (rc == ENOSPC && emergency_release(st))
			continue; /* with the emergency space freed */
		if (rc != DB_LOCK_DEADLOCK || ++tries > 50)
			break;
	}
	if (rc == 0)
		return;
	if (rc == DB_RUNRECOVERY) {
		st->broken = 1;
		store_seterr("the database environment failed (%s): restart "
			     "ferryd to run recovery",
			     db_strerror(rc));
	}
	if (n > 1 && !st->broken) {
		/* Find the op at fault: run each alone. */
		for (op = ops, i = 0; i < n; op = op->next, i++)
			batch_execute(st, op, 1, need_flush);
		return;
	}
	for (op = ops, i = 0; i < n; op = op->next, i++) {
		op->result = store_map_dberr(rc);
		size_t len = strnlen(last_error, sizeof(op->err) - 1);
		memcpy(op->err, last_error, len);
		op->err[len] = '\0';
	}
}

/* Answer ops (a list): callbacks first, then the waiting callers. */
static void
ops_complete(struct store *st, struct store_op *ops, size_t n)
{
	struct store_op *op, *next;

	for (op = ops; op != NULL; op = op->next)
		if (op->done_fn != NULL)
			op->done_fn(op->result, op->done_arg);
	pthread_mutex_lock(&st->mu);
	st->n_commits++;
	st->n_ops += n;
	for (op = ops; op != NULL; op = next) {
		next = op->next;
		if (op->done_fn != NULL)
			free(op); /* allocated by store_put_async */
		else
			op->done = 1; /* op may vanish once seen */
	}
	pthread_cond_broadcast(&st->done_cv);
	pthread_mutex_unlock(&st->mu);
}

/*
 * Group commit, pipelined.  The writer commits each batch without a log
 * flush and hands the batches that need one to this thread, then goes on
 * with the next batch at once.  One log_flush here covers every batch
 * committed before it started, and only then are their callers answered.
 * So while the disk flushes, the next batches are already being built:
 * a flush serves everyone who arrived during the previous one.
 */
static void *
flusher_main(void *arg)
{
	struct store *st = arg;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		struct store_op *ops;
		size_t n;
		int rc;

		while (st->flush_head == NULL && !st->flush_stop)
			pthread_cond_wait(&st->flush_cv, &st->mu);
		if (st->flush_head == NULL)
			break;
		/*
		 * Callers that wait for their flush come back at once with
		 * their next write.  When the last two flushes served more
		 * than one caller each, wait a little (at most half a flush)
		 * for those who are about to come back, so that one flush
		 * serves them all instead of every other one serving half.
		 */
		if (st->flush_last_n > 1 && st->flush_prev_n > 1) {
			size_t expect = st->flush_last_n + st->flush_prev_n;
			int64_t wait_us = st->flush_us / 2;
			struct timespec dl;
			if (wait_us > 2000)
				wait_us = 2000;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += (long)(wait_us * 1000);
			dl.tv_sec += dl.tv_nsec / 1000000000;
			dl.tv_nsec %= 1000000000;
			while (st->flush_n < expect && !st->flush_stop &&
			       pthread_cond_timedwait(&st->flush_cv, &st->mu,
						      &dl) == 0)
				;
		}
		ops = st->flush_head;
		n = st->flush_n;
		st->flush_head = st->flush_tail = NULL;
		st->flush_n = 0;
		st->flush_prev_n = st->flush_last_n;
		st->flush_last_n = n;
		st->flushing = 1;
		pthread_mutex_unlock(&st->mu);
		{
			struct timespec t0, t1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			rc = st->env->log_flush(st->env, NULL);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			/* A running average of how long a flush takes. */
			st->flush_us =
			    (st->flush_us * 7 +
			     (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 +
			     (t1.tv_nsec - t0.tv_nsec) / 1000) /
			    8;
		}
		if (rc != 0) {
			/* Nothing of these batches may be called durable. */
			struct store_op *op;
			st->broken = 1;
			store_seterr("flushing the log failed (%s): the store "
				     "needs recovery; restart ferryd",
				     db_strerror(rc));
			for (op = ops; op != NULL; op = op->next) {
				size_t len =
				    strnlen(last_error, sizeof(op->err) - 1);
				if (op->result == 0)
					op->result = store_map_dberr(rc);
				memcpy(op->err, last_error, len);
				op->err[len] = '\0';
			}
		}
		ops_complete(st, ops, n);
		pthread_mutex_lock(&st->mu);
		st->flushing = 0;
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

static void *
writer_main(void *arg)
{
	struct store *st = arg;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		struct store_op *ops, *op, *last;
		size_t n = 0;
		int need_flush = 0;

		while (st->head == NULL && !st->stopping)
			pthread_cond_wait(&st->work_cv, &st->mu);
		if (st->head == NULL)
			break;
		ops = st->head;
		for (op = ops; op != NULL && n < STORE_BATCH_OPS; op = op->next)
			n++;
		/* Detach the first n ops. */
		last = ops;
		for (size_t i = 1; i < n; i++)
			last = last->next;
		st->head = last->next;
		if (st->head == NULL)
			st->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&st->mu);

		if (st->broken) {
			for (op = ops; op != NULL; op = op->next)
				op->result = FERRY_EDB;
		} else {
			batch_execute(st, ops, n, &need_flush);
		}

		pthread_mutex_lock(&st->mu);
		/* A batch that needs no flush still waits behind one that
		 * does, so nobody sees a write before it is durable. */
		if (need_flush || st->flush_head != NULL || st->flushing) {
			if (st->flush_tail != NULL)
				st->flush_tail->next = ops;
			else
				st->flush_head = ops;
			st->flush_tail = last;
			st->flush_n += n;
			pthread_cond_signal(&st->flush_cv);
			continue;
		}
		pthread_mutex_unlock(&st->mu);
		ops_complete(st, ops, n);
		pthread_mutex_lock(&st->mu);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* Put op at the end of the writer's queue; with st->mu held. */
static int
enqueue_locked(struct store *st, struct store_op *op)
{
	op->done = 0;
	op->next = NULL;
	op->result = 0;
	op->err[0] = '\0';
	if (st->stopping)
		return FERRY_ECLOSED;
	if (st->tail != NULL)
		st->tail->next = op;
	else
		st->head = op;
	st->tail = op;
	pthread_cond_signal(&st->work_cv);
	return 0;
}

/* Queue a heap op with a completion callback; freed by the writer. */
int
store_submit_async(struct store *st, struct store_op *op)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = enqueue_locked(st, op);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* Queue op for the writer thread and wait for its result. */
int
store_submit(struct store *st, struct store_op *op)
{
	int rc;

	last_error[0] = '\0';
	pthread_mutex_lock(&st->mu);
	if ((rc = enqueue_locked(st, op)) != 0) {
		pthread_mutex_unlock(&st->mu);
		return rc;
	}
	while (!op->done)
		pthread_cond_wait(&st->done_cv, &st->mu);
	pthread_mutex_unlock(&st->mu);
	if (op->err[0] != '\0')
		memcpy(last_error, op->err, sizeof(op->err));
	return op->result;
}

/* ---------------------------------------------------------- open/close */

static void
env_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	store_seterr("berkeley db: %s", msg);
}

/* Sizes and limits of a fresh environment handle. */
static int
env_config(struct store *st)
{
	int rc;

	st->env->set_errcall(st->env, env_errcall);
	rc =
	    st->env->set_cachesize(st->env, (uint32_t)(st->cache_bytes >> 30),
				   (uint32_t)(st->cache_bytes & 0x3fffffff), 1);
	if (rc == 0)
		rc = st->env->set_lk_detect(st->env, DB_LOCK_DEFAULT);
	/* Berkeley DB wants a log file at least 4 x its log buffer. */
	if (rc == 0)
		rc = st->env->set_lg_bsize(st->env,
					   (uint32_t)(st->log_file_bytes / 4));
	if (rc == 0)
		rc = st->env->set_lg_max(st->env, (uint32_t)st->log_file_bytes);
	if (rc == 0)
		rc = st->env->set_lk_max_locks(st->env, 50000);
	if (rc == 0)
		rc = st->env->set_lk_max_objects(st->env, 50000);
	if (rc == 0)
		rc = st->env->set_lk_max_lockers(st->env, 2000);
	if (rc == 0)
		rc = st->env->set_tx_max(st->env, 1000);
	return rc;
}

static int
db_open(struct store *st, DB **dbp, const char *file, uint32_t pagesize)
{
	DB *db = NULL;
	int rc;

	rc = db_create(&db, st->env, 0);
	if (rc != 0)
		return rc;
	if (pagesize != 0 && (rc = db->set_pagesize(db, pagesize)) != 0)
		goto fail;
	rc = db->open(db, NULL, file, NULL, DB_BTREE,
		      DB_CREATE | DB_AUTO_COMMIT | DB_THREAD, 0600);
	if (rc != 0)
		goto fail;
	*dbp = db;
	return 0;
fail:
	store_seterr("cannot open %s/%s: %s", st->dir, file, db_strerror(rc));
	(void)db->close(db, 0);
	return rc;
}

static int
schema_check(struct store *st)
{
	uint8_t buf[8];
	size_t n;
	uint32_t v;
	int rc;

	rc = store_db_get(st->meta, NULL, "schema", 6, buf, sizeof(buf), &n, 0);
	if (rc == DB_NOTFOUND) {
		rec_be32(buf, STORE_SCHEMA_VERSION);
		rc = store_db_put(st->meta, NULL, "schema", 6, buf, 4);
		if (rc != 0) {
			store_seterr("cannot record the schema version: %s",
				     db_strerror(rc));
			return store_map_dberr(rc);
		}
		return 0;
	}
	if (rc != 0 || n != 4) {
		store_seterr("cannot read the schema version of %s", st->dir);
		return rc != 0 ? store_map_dberr(rc) : FERRY_ECORRUPT;
	}
	v = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	    (uint32_t)buf[2] << 8 | buf[3];
	if (v > STORE_SCHEMA_VERSION) {
		store_seterr("store %s has schema version %u but this ferry "
			     "reads up to %u: upgrade ferry, or move the "
			     "directory aside",
			     st->dir, v, STORE_SCHEMA_VERSION);
		return FERRY_ESCHEMA;
	}
	return 0;
}

static void
store_free(struct store *st)
{
	DB **dbs[] = {
	    &st->msgs,	   &st->chunks,	  &st->qidx,	&st->lidx,
	    &st->oidx,	   &st->eidx,	  &st->seen,	&st->seenx,
	    &st->queues,   &st->partials, &st->garbage, &st->quarantine,
	    &st->receipts, &st->ondx,	  &st->bundles, &st->meta};

	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		if (*dbs[i] != NULL)
			(void)(*dbs[i])->close(*dbs[i], 0);
		*dbs[i] = NULL;
	}
	if (st->env != NULL) {
		if (!st->broken)
			(void)st->env->txn_checkpoint(st->env, 0, 0, 0);
		(void)st->env->close(st->env, 0);
	}
	qcache_free(st);
	spool_close(st);
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->wmu);
	pthread_cond_destroy(&st->work_cv);
	pthread_cond_destroy(&st->done_cv);
	pthread_cond_destroy(&st->flush_cv);
	free(st->dir);
	free(st);
}

/*
 * What the store keeps aside, scaled to the volume it is on (store.h,
 * "small volumes").  The reserve must hold what the store may still write
 * after it stops accepting: every dirty page of the cache, a log file
 * being zero-filled by recovery, and a spare log file.  A smaller setting
 * is raised to that, or a full disk could tear a page.
 */
static void
sizes_for_volume(struct store *st)
{
	uint64_t vol = UINT64_MAX, floor, reserve, cache;
	struct statvfs sv;

	if (statvfs(st->dir, &sv) == 0)
		vol = (uint64_t)sv.f_blocks * sv.f_frsize;
	st->log_file_bytes = STORE_LOG_FILE_BYTES;
	st->emergency_bytes = STORE_EMERGENCY_BYTES;
	cache = st->opts.cache_bytes;
	reserve = st->opts.disk_reserve_bytes;
	if (vol < (1ull << 30)) {
		uint64_t lf = (vol / 32) & ~((1ull << 20) - 1);
		st->log_file_bytes = lf < (1u << 20) ? (1u << 20) : lf;
		if (st->emergency_bytes > vol / 16)
			st->emergency_bytes = vol / 16;
		if (cache > vol / 16)
			cache = vol / 16;
		if (reserve == STORE_RESERVE_AUTO)
			reserve = vol / 8;
	}
	if (reserve == STORE_RESERVE_AUTO)
		reserve = 64ull << 20;
	if (cache < (1u << 20))
		cache = 1u << 20;
	st->cache_bytes = cache;
	floor = cache * 5 / 4 + 2 * st->log_file_bytes;
	st->reserve = reserve > floor ? reserve : floor;
}

uint64_t
store_reserve(struct store *st, uint64_t *free_bytes)
{
	struct statvfs sv;

	if (free_bytes != NULL)
		*free_bytes = statvfs(st->dir, &sv) == 0
				  ? (uint64_t)sv.f_bavail * sv.f_frsize
				  : UINT64_MAX;
	return st->reserve;
}

static int
lock_dir(struct store *st)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/LOCK", st->dir);
	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0) {
		store_seterr("cannot open %s: %s", path, strerror(errno));
		return errno == EACCES ? FERRY_EPERM : FERRY_EIO;
	}
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		store_seterr("store %s is in use by another process (is "
			     "ferryd running?)",
			     st->dir);
		return FERRY_EBUSY;
	}
	return 0;
}

int
store_open(const char *dir, const struct store_opts *o, struct store **out)
{
	struct store *st;
	uint32_t flags;
	int rc, err;

	*out = NULL;
	last_error[0] = '\0';
	if (dir == NULL || o == NULL || o->node_name == NULL ||
	    !ferry_node_name_valid(o->node_name)) {
		store_seterr("store_open: a directory and a valid node name "
			     "are needed");
		return FERRY_EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return FERRY_ENOMEM;
	st->lock_fd = -1;
	st->spool_fd = -1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_mutex_init(&st->wmu, NULL);
	pthread_cond_init(&st->work_cv, NULL);
	pthread_cond_init(&st->done_cv, NULL);
	pthread_cond_init(&st->flush_cv, NULL);
	st->opts = *o;
	if (st->opts.clock_ms == NULL)
		st->opts.clock_ms = real_clock_ms;
	snprintf(st->node, sizeof(st->node), "%s", o->node_name);
	st->opts.node_name = st->node;
	st->dir = strdup(dir);
	if (st->dir == NULL) {
		free(st);
		return FERRY_ENOMEM;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		store_seterr("cannot create %s: %s", dir, strerror(errno));
		err = errno == EACCES ? FERRY_EPERM : FERRY_EIO;
		goto fail;
	}
	if ((err = lock_dir(st)) != 0)
		goto fail;
	sizes_for_volume(st);

	rc = db_env_create(&st->env, 0);
	if (rc != 0)
		goto dbfail;
	if ((rc = env_config(st)) != 0)
		goto dbfail;
	/* DB_PRIVATE: one process (ferryd) owns the store, guarded by the
	 * LOCK file; the region lives in its heap. */
	flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK |
		DB_INIT_MPOOL | DB_THREAD | DB_RECOVER | DB_PRIVATE;
	rc = st->env->open(st->env, dir, flags, 0600);
	if (rc != 0 && emergency_release(st)) {
		/* Recovery writes too: on a full disk, use the emergency
		 * space and try once more with a fresh handle. */
		(void)st->env->close(st->env, 0);
		st->env = NULL;
		last_error[0] = '\0';
		rc = db_env_create(&st->env, 0);
		if (rc == 0)
			rc = env_config(st);
		if (rc == 0)
			rc = st->env->open(st->env, dir, flags, 0600);
	}
	if (rc != 0) {
		struct statvfs sv;
		if (statvfs(dir, &sv) == 0 &&
		    (uint64_t)sv.f_bavail * sv.f_frsize < (1u << 20)) {
			store_seterr("cannot open the store in %s: the disk is "
				     "full (%s); free some space and try again",
				     dir, db_strerror(rc));
			err = FERRY_ENOSPC;
			goto fail;
		}
		if (last_error[0] == '\0')
			store_seterr("cannot open the store in %s: %s", dir,
				     db_strerror(rc));
		goto dbfail;
	}
	rc = st->env->log_set_config(st->env, DB_LOG_AUTO_REMOVE, 1);
	if (rc != 0)
		goto dbfail;
	if ((rc = db_open(st, &st->meta, "meta.db", 0)) != 0)
		goto dbfail;
	if ((err = schema_check(st)) != 0)
		goto fail;
	if ((rc = db_open(st, &st->msgs, "msgs.db", 8192)) != 0 ||
	    (rc = db_open(st, &st->chunks, "chunks.db", 16384)) != 0 ||
	    (rc = db_open(st, &st->qidx, "qidx.db", 0)) != 0 ||
	    (rc = db_open(st, &st->lidx, "lidx.db", 0)) != 0 ||
	    (rc = db_open(st, &st->oidx, "oidx.db", 0)) != 0 ||
	    (rc = db_open(st, &st->eidx, "eidx.db", 0)) != 0 ||
	    (rc = db_open(st, &st->seen, "seen.db", 0)) != 0 ||
	    (rc = db_open(st, &st->seenx, "seenx.db", 0)) != 0 ||
	    (rc = db_open(st, &st->queues, "queues.db", 0)) != 0 ||
	    (rc = db_open(st, &st->partials, "partials.db", 0)) != 0 ||
	    (rc = db_open(st, &st->garbage, "garbage.db", 0)) != 0 ||
	    (rc = db_open(st, &st->quarantine, "quarantine.db", 0)) != 0 ||
	    (rc = db_open(st, &st->receipts, "receipts.db", 0)) != 0 ||
	    (rc = db_open(st, &st->ondx, "ondx.db", 0)) != 0 ||
	    (rc = db_open(st, &st->bundles, "bundles.db", 0)) != 0)
		goto dbfail;
	if ((rc = meta_load(st)) != 0)
		goto dbfail;
	if ((rc = ondx_build(st)) != 0)
		goto dbfail;
	if ((err = spool_open(st)) != 0)
		goto fail;
	{
		/* Lease tokens start at a random odd number, so a token from
		 * before a restart does not match a lease after it. */
		uint8_t rnd[FERRY_ID_LEN];
		if (ferry_id_generate(rnd) == 0)
			memcpy(&st->token_next, rnd, sizeof(st->token_next));
		else
			st->token_next = (uint64_t)real_clock_ms(NULL);
		st->token_next |= 1;
	}

	if (pthread_create(&st->flusher, NULL, flusher_main, st) != 0) {
		store_seterr("cannot start the store's flusher thread");
		err = FERRY_ENOMEM;
		goto fail;
	}
	st->flusher_started = 1;
	if (pthread_create(&st->thread, NULL, writer_main, st) != 0) {
		store_seterr("cannot start the store's writer thread");
		err = FERRY_ENOMEM;
		goto fail;
	}
	st->thread_started = 1;
	emergency_make(st);
	*out = st;
	return 0;
dbfail:
	if (last_error[0] == '\0')
		store_seterr("cannot open the store in %s: %s", dir,
			     db_strerror(rc));
	err = store_map_dberr(rc);
fail : {
	char keep[sizeof(last_error)];
	memcpy(keep, last_error, sizeof(keep));
	if (st->flusher_started) {
		pthread_mutex_lock(&st->mu);
		st->flush_stop = 1;
		pthread_cond_signal(&st->flush_cv);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->flusher, NULL);
	}
	store_free(st);
	memcpy(last_error, keep, sizeof(keep));
}
	return err;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	pthread_mutex_lock(&st->mu);
	st->stopping = 1;
	pthread_cond_signal(&st->work_cv);
	pthread_mutex_unlock(&st->mu);
	if (st->thread_started)
		pthread_join(st->thread, NULL);
	pthread_mutex_lock(&st->mu);
	st->flush_stop = 1;
	pthread_cond_signal(&st->flush_cv);
	pthread_mutex_unlock(&st->mu);
	if (st->flusher_started)
		pthread_join(st->flusher, NULL);
	store_free(st);
}

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
		memset(&k, 0, sizeof(k));
		memset(&v, 0, sizeof(v));
		k.data = kbuf;
		k.ulen = sizeof(kbuf);
		k.flags = DB_DBT_USERMEM;
		v.data = vbuf;
		v.ulen = sizeof(vbuf);
		v.flags = DB_DBT_USERMEM;
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

	if (pos == NULL || node == NULL || !ferry_node_name_valid(node))
		return FERRY_EINVAL;
	return index_walk(st, st->ondx, prefix, rec_qprefix(prefix, node),
			  limit, fn, arg, pos);
}

int
store_out_pos_behind(const struct store_out_pos *pos, const char *node,
		     unsigned prio)
{
	size_t n = strnlen(node, FERRY_NODE_MAX);

	if (pos->len < n + 2 || memcmp(pos->key, node, n) != 0)
		return 0; /* at the start */
	return pos->key[n + 1] > (uint8_t)(FERRY_PRIO_MAX - prio);
}

/*
 * A store written before ondx existed has outbound messages only in oidx:
 * fill ondx from them, in one transaction, at open.  Nothing to do when
 * ondx has entries or oidx has none.
 */
int
ondx_build(struct store *st)
{
	DB_TXN *t = NULL;
	DBC *c = NULL;
	DBT k, v;
	uint8_t kb[16], vb[FERRY_ID_LEN];
	int rc;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	rc = st->ondx->cursor(st->ondx, NULL, &c, 0);
	if (rc == 0) {
		rc = c->get(c, &k, &v, DB_FIRST);
		(void)c->close(c);
		c = NULL;
	}
	if (rc == 0)
		return 0; /* built */
	if (rc != DB_NOTFOUND)
		return rc;
	if ((rc = st->env->txn_begin(st->env, NULL, &t, 0)) != 0)
		return rc;
	if ((rc = st->oidx->cursor(st->oidx, t, &c, 0)) != 0)
		goto out;
	k.data = kb;
	k.ulen = sizeof(kb);
	k.flags = DB_DBT_USERMEM;
	v.data = vb;
	v.ulen = sizeof(vb);
	v.flags = DB_DBT_USERMEM;
	for (rc = c->get(c, &k, &v, DB_FIRST); rc == 0;
	     rc = c->get(c, &k, &v, DB_NEXT)) {
		uint8_t hb[STORE_HDR_MAX], key[STORE_QKEY_MAX];
		struct store_hdr h;
		size_t hn, kl;
		if (v.size != FERRY_ID_LEN)
			continue;
		if (store_db_get(st->msgs, t, vb, FERRY_ID_LEN, hb, sizeof(hb),
				 &hn, 0) != 0 ||
		    rec_hdr_decode(hb, hn, &h, NULL, NULL) != 0)
			continue; /* damaged: the sweep quarantines it */
		kl = rec_qkey(key, h.info.msg.dst_node, h.info.msg.priority,
			      h.seq);
		if ((rc = store_db_put(st->ondx, t, key, kl, vb,
				       FERRY_ID_LEN)) != 0)
			break;
	}
	if (rc == DB_NOTFOUND)
		rc = 0;
out:
	if (c != NULL)
		(void)c->close(c);
	if (rc == 0)
		rc = t->commit(t, 0);
	else
		(void)t->abort(t);
	return rc;
}

/* ondx keys are node . 0 . (7 - priority) . be64 seq (store_int.h). */
void
store_out_pos_priority(struct store_out_pos *pos, const char *node,
		       unsigned prio)
{
	size_t n = strnlen(node, FERRY_NODE_MAX);

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
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = kbuf;
	k.ulen = sizeof(kbuf) - 1;
	k.flags = DB_DBT_USERMEM;
	v.data = vbuf;
	v.ulen = sizeof(vbuf);
	v.flags = DB_DBT_USERMEM;
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
store_stats(struct store *st, struct store_stats *out)
{
	uint8_t buf[64];
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_db_get(st->meta, NULL, "totals", 6, buf, sizeof(buf), &n, 0);
	if (rc == 0 && n == 32) {
		out->msgs = rec_get_be64(buf);
		out->bytes = rec_get_be64(buf + 8);
		out->outbound_msgs = rec_get_be64(buf + 16);
		out->outbound_bytes = rec_get_be64(buf + 24);
	} else if (rc != 0 && rc != DB_NOTFOUND) {
		return store_map_dberr(rc);
	}
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
	}
	return "unknown";
}
