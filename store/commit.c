/*
 * commit.c - the writer thread and its queue of operations: group commit.
 *
 * Owns: the writer, flusher and checkpoint threads, the queue of pending
 * operations and the list of batches waiting for a log flush.
 * Does not own: what each operation does (queue.c, outbound.c, writer.c,
 * expiry.c), opening the environment (env.c).
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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"
#include "lib/util.h"

/* ------------------------------------------------------- writer thread */

/* The histogram of store_counters: 250 us to 10 s, roughly 1-2.5-5 steps
 * (a flush on an SSD takes well under a millisecond, on an SD card or a
 * busy disk tens of milliseconds; seconds mean trouble). */
const uint64_t store_commit_bound_us[STORE_COMMIT_BUCKETS] = {
    250,   500,	   1000,   2500,   5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 10000000,
};

void
store_counters(struct store *st, struct store_counters *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->mu);
	memcpy(out->commit_bucket, st->commit_bucket,
	       sizeof(out->commit_bucket));
	out->commit_sum_us = st->commit_sum_us;
	pthread_mutex_unlock(&st->mu);
	for (size_t i = 0; i <= STORE_COMMIT_BUCKETS; i++)
		out->commits += out->commit_bucket[i];
	for (size_t i = 1; i <= STORE_DEAD_LAST_; i++)
		out->dead[i] =
		    __atomic_load_n(&st->dead_total[i], __ATOMIC_RELAXED);
}

void
store_dead_count(struct store_ctx *cx, enum store_dead_reason reason)
{
	if (reason > STORE_DEAD_NONE && reason <= STORE_DEAD_LAST_)
		cx->dead[reason]++;
}

static void
batch_rollback(struct store *st, struct store_ctx *cx)
{
	struct store_qent *q;

	for (q = cx->dirty; q != NULL; q = q->dirty_next) {
		q->dirty = 0;
		q->gone = 0;
		if (store_qload(st, NULL, q) != 0)
			q->in_db = 0;
	}
	cx->dirty = NULL;
	(void)store_meta_load(st);
}

static int
batch_finish(struct store *st, struct store_ctx *cx)
{
	uint8_t buf[128];
	struct store_qent *q;
	int rc;

	for (q = cx->dirty; q != NULL; q = q->dirty_next) {
		size_t n = rec_queue_encode(&q->s, buf, sizeof(buf));
		if (q->gone) {
			/* A closed reply queue: empty, its record goes. */
			rc = store_db_del(st->queues, cx->txn, q->s.name,
					  strlen(q->s.name));
			if (rc == DB_NOTFOUND)
				rc = 0;
		} else {
			rc = store_db_put(st->queues, cx->txn, q->s.name,
					  strlen(q->s.name), buf, n);
		}
		if (rc != 0)
			return store_dberr(cx, rc, "saving queue counters");
	}
	rc = store_meta_save(st, cx->txn);
	if (rc != 0)
		return store_dberr(cx, rc, "saving store counters");
	return 0;
}

static void
batch_clean(struct store *st, struct store_ctx *cx)
{
	struct store_qent *q, *next;

	for (q = cx->dirty; q != NULL; q = next) {
		next = q->dirty_next;
		q->dirty = 0;
		q->in_db = 1;
		if (q->gone)
			store_qdrop(st, q); /* its record went with the batch */
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
	batch_clean(st, &cx);
	for (i = 1; i <= STORE_DEAD_LAST_; i++)
		if (cx.dead[i] != 0)
			__atomic_add_fetch(&st->dead_total[i], cx.dead[i],
					   __ATOMIC_RELAXED);
	if (sync)
		*need_flush = 1;
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
		if (rc == ENOSPC && store_emergency_release(st))
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
		size_t len = strnlen(store_last_error(), sizeof(op->err) - 1);
		memcpy(op->err, store_last_error(), len);
		op->err[len] = '\0';
	}
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One commit of us microseconds into the histogram (under st->mu). */
static void
commit_observe(struct store *st, int64_t us)
{
	size_t b = 0;

	if (us < 0)
		us = 0;
	while (b < STORE_COMMIT_BUCKETS &&
	       (uint64_t)us > store_commit_bound_us[b])
		b++;
	st->commit_bucket[b]++;
	st->commit_sum_us += (uint64_t)us;
}

/* Answer ops (a list of one or more batches): callbacks first, then the
 * waiting callers. */
static void
ops_complete(struct store *st, struct store_op *ops, size_t n)
{
	struct store_op *op, *next;
	int64_t now = 0;

	for (op = ops; op != NULL; op = op->next)
		if (op->done_fn != NULL)
			op->done_fn(op->result, op->done_arg);
	pthread_mutex_lock(&st->mu);
	st->n_commits++;
	st->n_ops += n;
	/* Each batch's first op carries when the writer began it. */
	for (op = ops; op != NULL; op = op->next)
		if (op->batch_us != 0) {
			if (now == 0)
				now = mono_us();
			commit_observe(st, now - op->batch_us);
		}
	/* Each waiter is woken alone, on its own condition variable: one
	 * shared one, broadcast, woke every pool thread waiting on the store
	 * at every commit (16 threads: ~10 wake-ups for nothing per
	 * recv+ack under load). */
	for (op = ops; op != NULL; op = next) {
		next = op->next;
		if (op->done_fn != NULL) {
			free(op); /* allocated by store_put_async */
		} else {
			op->done = 1; /* op may vanish once we unlock */
			pthread_cond_signal(op->cv);
		}
	}
	pthread_mutex_unlock(&st->mu);
}

/*
 * Gives back the page cache of the log behind what is flushed: Berkeley
 * DB writes its log with write(2), so every byte of log takes a fresh
 * page of page cache that nobody reads again (recovery and the rare
 * abort read from the disk).  On a VM, fresh pages are dear: copying
 * the log into them was a quarter of the batched put's CPU.  Given back
 * at once, the next log pages reuse them.  The last LOG_KEEP bytes stay
 * cached: a write into a page that is not cached has to read it first.
 * Best effort: a failure here costs only page cache.  Flusher thread.
 */
#define LOG_KEEP (256u << 10)

static void
log_drop_behind(struct store *st)
{
	DB_LOG_STAT *sp = NULL;
	uint32_t file, end;

	if (st->env->log_stat(st->env, &sp, 0) != 0 || sp == NULL)
		return;
	file = sp->st_disk_file;
	end = sp->st_disk_offset;
	free(sp);
	if (file != st->log_fileno || st->log_fd < 0) {
		char path[PATH_MAX];
		/* The one before: what it had past our last look. */
		if (st->log_fd >= 0) {
			(void)posix_fadvise(st->log_fd, st->log_dropped, 0,
					    POSIX_FADV_DONTNEED);
			close(st->log_fd);
		}
		st->log_fileno = file;
		st->log_dropped = 0;
		snprintf(path, sizeof(path), "%s/log.%010u", st->dir, file);
		st->log_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (st->log_fd < 0)
			return;
	}
	if (end < LOG_KEEP)
		return;
	end = (end - LOG_KEEP) & ~(uint32_t)(LOG_KEEP - 1);
	if (end <= st->log_dropped)
		return;
	(void)posix_fadvise(st->log_fd, st->log_dropped,
			    (off_t)(end - st->log_dropped),
			    POSIX_FADV_DONTNEED);
	st->log_dropped = end;
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

	ferry_thread_name("store-flush");
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
		if (rc == 0)
			log_drop_behind(st);
		if (rc != 0) {
			/* Nothing of these batches may be called durable. */
			struct store_op *op;
			st->broken = 1;
			store_seterr("flushing the log failed (%s): the store "
				     "needs recovery; restart ferryd",
				     db_strerror(rc));
			for (op = ops; op != NULL; op = op->next) {
				size_t len = strnlen(store_last_error(),
						     sizeof(op->err) - 1);
				if (op->result == 0)
					op->result = store_map_dberr(rc);
				memcpy(op->err, store_last_error(), len);
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

/*
 * Keep the log short: once 8 MiB of log has piled up since the last
 * checkpoint, checkpoint, so that log files (16 MiB each) are removed
 * soon after and recovery reads little.  A checkpoint writes every dirty
 * page and fsyncs each file it wrote (measured: 16% of the writer's CPU
 * with 1 KiB puts, and the fsyncs' wait); it ran on the writer after its
 * commits, stalling every caller behind it, and runs here beside it now.
 * Berkeley DB checkpoints while transactions run; durability does not
 * depend on it (a commit is durable once its log is flushed).
 */
static void *
ckpt_main(void *arg)
{
	struct store *st = arg;

	ferry_thread_name("store-ckpt");
	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (!st->ckpt_kick && !st->ckpt_stop)
			pthread_cond_wait(&st->ckpt_cv, &st->mu);
		if (st->ckpt_stop)
			break;
		st->ckpt_kick = 0;
		pthread_mutex_unlock(&st->mu);
		if (!st->broken)
			(void)st->env->txn_checkpoint(st->env, 8 * 1024, 0, 0);
		pthread_mutex_lock(&st->mu);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

static void *
writer_main(void *arg)
{
	struct store *st = arg;

	ferry_thread_name("store");
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
		ops->batch_us = mono_us();

		if (st->broken) {
			for (op = ops; op != NULL; op = op->next)
				op->result = FERRY_EDB;
		} else {
			batch_execute(st, ops, n, &need_flush);
		}

		pthread_mutex_lock(&st->mu);
		/* Not after every batch: an idle node's occasional write
		 * (link statistics, a keep-alive's bookkeeping) would wake
		 * the checkpointer too, for a checkpoint that has nothing to
		 * do below 8 MiB of log (issue 15, aim 6). */
		st->ckpt_ops += n;
		if (!st->ckpt_kick &&
		    (st->ckpt_ops >= STORE_CKPT_OPS ||
		     ops->batch_us - st->ckpt_kick_us >= STORE_CKPT_IDLE_US)) {
			st->ckpt_kick = 1;
			st->ckpt_ops = 0;
			st->ckpt_kick_us = ops->batch_us;
			pthread_cond_signal(&st->ckpt_cv);
		}
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
	op->batch_us = 0;
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
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	int rc;

	store_clearerr();
	op->done_fn = NULL;
	op->cv = &cv;
	pthread_mutex_lock(&st->mu);
	if ((rc = enqueue_locked(st, op)) != 0) {
		pthread_mutex_unlock(&st->mu);
		pthread_cond_destroy(&cv);
		return rc;
	}
	while (!op->done)
		pthread_cond_wait(&cv, &st->mu);
	pthread_mutex_unlock(&st->mu);
	pthread_cond_destroy(&cv);
	if (op->err[0] != '\0')
		store_seterr("%s", op->err);
	return op->result;
}

int
store_threads_start(struct store *st)
{
	if (pthread_create(&st->flusher, NULL, flusher_main, st) != 0) {
		store_seterr("cannot start the store's flusher thread");
		return FERRY_ENOMEM;
	}
	st->flusher_started = 1;
	if (pthread_create(&st->thread, NULL, writer_main, st) != 0) {
		store_seterr("cannot start the store's writer thread");
		return FERRY_ENOMEM;
	}
	st->thread_started = 1;
	if (pthread_create(&st->ckpt, NULL, ckpt_main, st) != 0) {
		store_seterr("cannot start the store's checkpoint thread");
		return FERRY_ENOMEM;
	}
	st->ckpt_started = 1;
	return 0;
}

void
store_threads_stop(struct store *st)
{
	/* The writer first: until it stops it may hand batches on to the
	 * flusher. */
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
	if (st->log_fd >= 0) {
		close(st->log_fd);
		st->log_fd = -1;
	}
	pthread_mutex_lock(&st->mu);
	st->ckpt_stop = 1;
	pthread_cond_signal(&st->ckpt_cv);
	pthread_mutex_unlock(&st->mu);
	if (st->ckpt_started)
		pthread_join(st->ckpt, NULL);
}
