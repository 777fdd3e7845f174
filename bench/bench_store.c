/*
 * bench_store.c - how fast the durable store is, next to the raw disk.
 *
 * One run, in the directory named on the command line, measures first what
 * the filesystem itself can do (fdatasync'd 1 KiB appends per second and
 * sequential write bandwidth), then the store doing durable work: 1 KiB
 * puts one per commit, group-committed from 1, 4 and 16 threads, batched
 * 100 per call; 64 KiB puts and 16 MiB streamed puts; take+ack of a
 * pre-filled queue.  Progress goes to stderr row by row; the table goes
 * to stdout at the end, every store row with its ratio to the raw figures
 * (the fsync yardstick is the mean of a measurement at the start and one
 * at the end, since shared disks drift), then a hint at what bounds them.
 *
 * Each store row runs in a fresh store directory that is removed after it,
 * for a bounded time or a fixed count, whichever ends first; BENCH_QUICK=1
 * in the environment makes every row about five times shorter.  The
 * program owns only the files it creates under the directory; it does not
 * remove the directory itself (make bench does).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "lib/ferry_err.h"
#include "lib/ferry_msg.h"
#include "store/store.h"

#define BENCH_NODE	      "bench"
#define BENCH_SMALL_BYTES     1024u
#define BENCH_MEDIUM_BYTES    (64u * 1024u)
#define BENCH_LARGE_BYTES     (16u * 1024u * 1024u)
#define BENCH_PIECE_BYTES     (256u * 1024u)
#define BENCH_SEQ_BLOCK_BYTES (1024u * 1024u)
#define BENCH_SEQ_BYTES	      (1024ull * 1024u * 1024u)
#define BENCH_BATCH	      100u
#define BENCH_LEASE_MS	      30000
#define BENCH_DETAIL_MAX      256
#define BENCH_QUICK_DIV	      5u

/* The run's knobs: normal or BENCH_QUICK=1. */
struct bench_cfg {
	const char *dir;
	double budget_s;	/* each timed row */
	double seq_budget_s;	/* raw sequential writing, before the sync */
	uint64_t seq_bytes;	/* raw sequential size */
	uint64_t small_max;	/* cap on 1 KiB messages per row */
	uint64_t medium_max;	/* cap on 64 KiB messages */
	uint64_t large_max;	/* cap on 16 MiB messages */
	uint64_t take_fill_max; /* cap on the take+ack pre-fill */
	uint64_t take_fill_min;
	int quick;
};

/* One printed row. */
struct bench_row {
	const char *label;
	uint64_t count;	  /* operations completed */
	uint64_t bytes;	  /* payload bytes in them */
	double secs;	  /* wall time of the timed part */
	uint64_t commits; /* store commits in the timed part; 0: not a store */
	uint64_t ops;	  /* store operations in those commits */
	int vs_fsync;	  /* compare ops/s with the raw fsync rate */
	int vs_seq;	  /* compare MB/s with the raw sequential rate */
	int show_rate;	  /* ops/s means something for this row */
	const char *note;
	double cpu_us; /* CPU of the whole process an op; 0: not measured */
};

/* The raw figures every store row is compared with. */
struct bench_raw {
	double fsync_per_s;
	double seq_mb_s;
};

/* The rows, in the order they run and print. */
enum bench_row_id {
	ROW_FSYNC,
	ROW_SEQ,
	ROW_ONE,
	ROW_G1,
	ROW_G4,
	ROW_G16,
	ROW_BATCH,
	ROW_64K,
	ROW_16M,
	ROW_TAKE,
	ROW_AGAIN,
	ROW_N
};

/* One put thread (or the main thread for the single-threaded rows). */
struct put_worker {
	pthread_t thread;
	struct store *st;
	const char *queue;
	const void *payload;
	size_t len;
	double budget_s;
	uint64_t max_count;
	pthread_barrier_t *start; /* NULL: start at once */
	uint64_t count;		  /* out */
	int err;		  /* out: 0 or the first failure */
	char detail[BENCH_DETAIL_MAX];
};

/* ---------------------------------------------------------------- output */

static void
print_ratio(char *out, size_t cap, int show, double num, double den)
{
	if (!show || den <= 0.0)
		bench_cell(out, cap, "-");
	else if (num / den >= 100.0)
		bench_cell(out, cap, "x%.0f", num / den);
	else
		bench_cell(out, cap, "x%.2f", num / den);
}

static void
print_header(const struct bench_cfg *cfg)
{
	struct bench_machine m;

	bench_machine(cfg->dir, &m);

	printf("ferry store benchmark: durable writes against the raw disk, "
	       "one run, one filesystem\n");
	printf("machine: %ld CPUs, filesystem %s (0x%lx), %s %s %s\n", m.ncpu,
	       m.fs, m.fs_type, m.u.sysname, m.u.release, m.u.machine);
	printf("dir:     %s\n", cfg->dir);
	printf("budget:  %.1f s or a fixed count per row%s; "
	       "MB = 10^6 bytes, KiB/MiB = 2^10/2^20\n",
	       cfg->budget_s, cfg->quick ? " (BENCH_QUICK=1)" : "");
	printf("ops/s:   durable operations completed per second "
	       "(messages; take+ack: pairs)\n");
	printf("x fsync: ops/s / raw fdatasync'd 1 KiB appends per s "
	       "(mean of first and last raw row)\n");
	printf("x seq:   MB/s / raw sequential MB/s\n");
	printf("ops/cmt: store operations per group commit "
	       "(store_stats ops/commits)\n");
	if (m.fs_type == 0x01021994UL || m.fs_type == 0x858458f6UL)
		printf("WARNING: %s keeps nothing across power loss and "
		       "makes fsync free: these numbers say nothing about "
		       "a disk\n",
		       m.fs);
	printf("\n%-34s %8s %6s %10s %9s %8s %7s %7s\n", "measurement", "n",
	       "secs", "ops/s", "MB/s", "x fsync", "x seq", "ops/cmt");
	printf("%-34s %8s %6s %10s %9s %8s %7s %7s\n", "-----------", "-",
	       "----", "-----", "----", "-------", "-----", "-------");
	if (fflush(stdout) != 0)
		bench_fail_errno("writing", "stdout");
}

static void
print_row(const struct bench_row *r, const struct bench_raw *raw)
{
	double rate = r->secs > 0.0 ? (double)r->count / r->secs : 0.0;
	double mb_s = r->secs > 0.0 ? (double)r->bytes / r->secs / 1e6 : 0.0;
	char rate_s[32], fs_s[32], seq_s[32], cmt_s[32];

	if (r->show_rate)
		bench_cell(rate_s, sizeof(rate_s), "%.1f", rate);
	else
		bench_cell(rate_s, sizeof(rate_s), "-");
	print_ratio(fs_s, sizeof(fs_s), r->vs_fsync, rate, raw->fsync_per_s);
	print_ratio(seq_s, sizeof(seq_s), r->vs_seq, mb_s, raw->seq_mb_s);
	if (r->commits > 0)
		bench_cell(cmt_s, sizeof(cmt_s), "%.1f",
			   (double)r->ops / (double)r->commits);
	else
		bench_cell(cmt_s, sizeof(cmt_s), "-");
	printf("%-34s %8llu %6.2f %10s %9.2f %8s %7s %7s%s%s\n", r->label,
	       (unsigned long long)r->count, r->secs, rate_s, mb_s, fs_s, seq_s,
	       cmt_s, r->note != NULL ? "  " : "",
	       r->note != NULL ? r->note : "");
	if (fflush(stdout) != 0)
		bench_fail_errno("writing", "stdout");
}

static double
row_rate(const struct bench_row *r)
{
	return r->secs > 0.0 ? (double)r->count / r->secs : 0.0;
}

static double
row_mb_s(const struct bench_row *r)
{
	return r->secs > 0.0 ? (double)r->bytes / r->secs / 1e6 : 0.0;
}

/* ------------------------------------------------------------------ raw */

static void
bench_raw_fsync(const struct bench_cfg *cfg, struct bench_row *r)
{
	char path[BENCH_PATH_MAX];
	uint8_t *buf = bench_alloc(BENCH_SMALL_BYTES);
	double t0, t;
	int fd;

	bench_path(path, cfg->dir, "raw-fsync.dat");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
		  0600);
	if (fd < 0)
		bench_fail_errno("open", path);
	t0 = bench_now_s();
	do {
		bench_write_full(fd, buf, BENCH_SMALL_BYTES, path);
		if (fdatasync(fd) != 0)
			bench_fail_errno("fdatasync", path);
		r->count++;
		t = bench_now_s();
	} while (t - t0 < cfg->budget_s && r->count < cfg->small_max);
	r->secs = t - t0;
	r->bytes = r->count * BENCH_SMALL_BYTES;
	if (close(fd) != 0)
		bench_fail_errno("close", path);
	if (unlink(path) != 0)
		bench_fail_errno("unlink", path);
	free(buf);
}

static void
bench_raw_seq(const struct bench_cfg *cfg, struct bench_row *r)
{
	char path[BENCH_PATH_MAX];
	uint8_t *buf = bench_alloc(BENCH_SEQ_BLOCK_BYTES);
	double t0;
	int fd;

	bench_path(path, cfg->dir, "raw-seq.dat");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		bench_fail_errno("open", path);
	t0 = bench_now_s();
	while (r->bytes < cfg->seq_bytes) {
		bench_write_full(fd, buf, BENCH_SEQ_BLOCK_BYTES, path);
		r->bytes += BENCH_SEQ_BLOCK_BYTES;
		r->count++;
		if (bench_now_s() - t0 >= cfg->seq_budget_s)
			break;
	}
	/* The sync is part of the figure: the page cache is not a disk. */
	if (fdatasync(fd) != 0)
		bench_fail_errno("fdatasync", path);
	r->secs = bench_now_s() - t0;
	if (close(fd) != 0)
		bench_fail_errno("close", path);
	if (unlink(path) != 0)
		bench_fail_errno("unlink", path);
	free(buf);
}

/* ---------------------------------------------------------------- store */

static struct store *
bench_store_open(const struct bench_cfg *cfg, char *path)
{
	struct store_opts o;
	struct store *st = NULL;
	int rc;

	bench_path(path, cfg->dir, "store.XXXXXX");
	if (mkdtemp(path) == NULL)
		bench_fail_errno("mkdtemp", path);
	store_opts_init(&o);
	o.node_name = BENCH_NODE;
	rc = store_open(path, &o, &st);
	if (rc != 0)
		bench_fail("store_open", rc, store_last_error());
	return st;
}

static void
bench_store_close(struct store *st, const char *path)
{
	store_close(st);
	bench_rm_tree(path);
}

static void
bench_stats(struct store *st, uint64_t *commits, uint64_t *ops)
{
	struct store_stats s;
	int rc = store_stats(st, &s);

	if (rc != 0)
		bench_fail("store_stats", rc, store_last_error());
	*commits = s.commits;
	*ops = s.ops;
}

/* Counts the commits and operations of the timed part of a row. */
static void
bench_stats_since(struct store *st, uint64_t commits0, uint64_t ops0,
		  struct bench_row *r)
{
	uint64_t commits, ops;

	bench_stats(st, &commits, &ops);
	r->commits = commits - commits0;
	r->ops = ops - ops0;
}

static int
bench_msg_init(struct ferry_msg *m, const char *queue)
{
	int rc;

	ferry_msg_init(m);
	rc = ferry_id_generate(m->id);
	if (rc != 0)
		return rc;
	if (strlen(BENCH_NODE) > FERRY_NODE_MAX ||
	    strlen(queue) > FERRY_QUEUE_MAX)
		return FERRY_EINVAL;
	memcpy(m->src_node, BENCH_NODE, sizeof(BENCH_NODE));
	memcpy(m->dst_node, BENCH_NODE, sizeof(BENCH_NODE));
	memcpy(m->dst_queue, queue, strlen(queue) + 1);
	m->created_ms = bench_wall_ms();
	return 0;
}

static void
worker_fail(struct put_worker *w, int rc, const char *what)
{
	w->err = rc;
	bench_cell(w->detail, sizeof(w->detail), "%s: %s", what,
		   store_last_error());
}

static void *
put_worker_run(void *arg)
{
	struct put_worker *w = arg;
	struct ferry_msg m;
	double t0;
	int rc;

	if (w->start != NULL) {
		rc = pthread_barrier_wait(w->start);
		if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
			errno = rc;
			bench_fail_errno("pthread_barrier_wait", "");
		}
	}
	t0 = bench_now_s();
	while (w->count < w->max_count) {
		rc = bench_msg_init(&m, w->queue);
		if (rc != 0) {
			worker_fail(w, rc, "ferry_id_generate");
			break;
		}
		rc = store_put(w->st, &m, w->payload, w->len);
		if (rc != 0) {
			worker_fail(w, rc, "store_put");
			break;
		}
		w->count++;
		if (bench_now_s() - t0 >= w->budget_s)
			break;
	}
	return NULL;
}

/* nthreads == 0: one put at a time on this thread. */
static void
bench_puts(const struct bench_cfg *cfg, size_t len, unsigned nthreads,
	   uint64_t max_count, struct bench_row *r)
{
	char path[BENCH_PATH_MAX];
	struct store *st = bench_store_open(cfg, path);
	unsigned nw = nthreads == 0 ? 1 : nthreads;
	struct put_worker *w = calloc(nw, sizeof(*w));
	void *payload = bench_alloc(len);
	pthread_barrier_t start;
	uint64_t commits0, ops0;
	double t0;
	int rc;

	if (w == NULL)
		bench_fail("calloc", FERRY_ENOMEM, "");
	for (unsigned i = 0; i < nw; i++) {
		w[i].st = st;
		w[i].queue = "q1";
		w[i].payload = payload;
		w[i].len = len;
		w[i].budget_s = cfg->budget_s;
		w[i].max_count = max_count / nw > 0 ? max_count / nw : 1;
	}
	bench_stats(st, &commits0, &ops0);
	if (nthreads == 0) {
		t0 = bench_now_s();
		put_worker_run(&w[0]);
	} else {
		rc = pthread_barrier_init(&start, NULL, nw + 1);
		if (rc != 0) {
			errno = rc;
			bench_fail_errno("pthread_barrier_init", "");
		}
		for (unsigned i = 0; i < nw; i++) {
			w[i].start = &start;
			rc = pthread_create(&w[i].thread, NULL, put_worker_run,
					    &w[i]);
			if (rc != 0) {
				errno = rc;
				bench_fail_errno("pthread_create", "");
			}
		}
		rc = pthread_barrier_wait(&start);
		if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
			errno = rc;
			bench_fail_errno("pthread_barrier_wait", "");
		}
		t0 = bench_now_s();
		for (unsigned i = 0; i < nw; i++) {
			rc = pthread_join(w[i].thread, NULL);
			if (rc != 0) {
				errno = rc;
				bench_fail_errno("pthread_join", "");
			}
		}
		rc = pthread_barrier_destroy(&start);
		if (rc != 0) {
			errno = rc;
			bench_fail_errno("pthread_barrier_destroy", "");
		}
	}
	r->secs = bench_now_s() - t0;
	for (unsigned i = 0; i < nw; i++) {
		if (w[i].err != 0)
			bench_fail(r->label, w[i].err, w[i].detail);
		r->count += w[i].count;
	}
	r->bytes = r->count * len;
	bench_stats_since(st, commits0, ops0, r);
	bench_store_close(st, path);
	free(payload);
	free(w);
}

/* Put count 1 KiB messages into queue, BENCH_BATCH per commit. */
static void
bench_fill(struct store *st, const char *queue, uint64_t count,
	   const void *payload)
{
	struct ferry_msg *m = calloc(BENCH_BATCH, sizeof(*m));
	struct store_put_req *req = calloc(BENCH_BATCH, sizeof(*req));
	uint64_t done = 0;
	int rc;

	if (m == NULL || req == NULL)
		bench_fail("calloc", FERRY_ENOMEM, "");
	while (done < count) {
		size_t n = count - done < BENCH_BATCH ? (size_t)(count - done)
						      : BENCH_BATCH;
		for (size_t i = 0; i < n; i++) {
			rc = bench_msg_init(&m[i], queue);
			if (rc != 0)
				bench_fail("ferry_id_generate", rc, "");
			req[i].msg = &m[i];
			req[i].payload = payload;
			req[i].len = BENCH_SMALL_BYTES;
			req[i].result = 1;
			/* Drawn just now, as ferryd draws a local send's. */
			req[i].new_id = 1;
		}
		rc = store_put_batch(st, req, n);
		if (rc != 0)
			bench_fail("store_put_batch", rc, store_last_error());
		for (size_t i = 0; i < n; i++)
			if (req[i].result != 0)
				bench_fail("store_put_batch (one message)",
					   req[i].result, store_last_error());
		done += n;
	}
	free(req);
	free(m);
}

static void
bench_batch(const struct bench_cfg *cfg, struct bench_row *r)
{
	char path[BENCH_PATH_MAX];
	struct store *st = bench_store_open(cfg, path);
	void *payload = bench_alloc(BENCH_SMALL_BYTES);
	uint64_t commits0, ops0;
	struct rusage ru0, ru1;
	double t0;

	bench_stats(st, &commits0, &ops0);
	if (getrusage(RUSAGE_SELF, &ru0) != 0)
		bench_fail_errno("getrusage", "");
	t0 = bench_now_s();
	do {
		bench_fill(st, "q1", BENCH_BATCH, payload);
		r->count += BENCH_BATCH;
		r->secs = bench_now_s() - t0;
	} while (r->secs < cfg->budget_s && r->count < cfg->small_max);
	if (getrusage(RUSAGE_SELF, &ru1) != 0)
		bench_fail_errno("getrusage", "");
	/* Every thread of the process: this caller, the store's writer,
	 * flusher and checkpointer.  Unlike the rate, it hardly moves with
	 * the disk's flush time. */
	r->cpu_us = 1e6 *
		    (bench_rusage_cpu_s(&ru1) - bench_rusage_cpu_s(&ru0)) /
		    (double)r->count;
	r->bytes = r->count * BENCH_SMALL_BYTES;
	bench_stats_since(st, commits0, ops0, r);
	bench_store_close(st, path);
	free(payload);
}

static void
bench_stream(const struct bench_cfg *cfg, struct bench_row *r)
{
	char path[BENCH_PATH_MAX];
	struct store *st = bench_store_open(cfg, path);
	void *piece = bench_alloc(BENCH_PIECE_BYTES);
	struct store_writer *w = NULL;
	struct ferry_msg m;
	uint64_t commits0, ops0;
	double t0;
	int rc;

	bench_stats(st, &commits0, &ops0);
	t0 = bench_now_s();
	do {
		rc = bench_msg_init(&m, "q1");
		if (rc != 0)
			bench_fail("ferry_id_generate", rc, "");
		rc = store_writer_open(st, &m, &w);
		if (rc != 0)
			bench_fail("store_writer_open", rc, store_last_error());
		for (uint32_t off = 0; off < BENCH_LARGE_BYTES;
		     off += BENCH_PIECE_BYTES) {
			rc = store_writer_write(w, piece, BENCH_PIECE_BYTES);
			if (rc != 0) {
				store_writer_abort(w);
				bench_fail("store_writer_write", rc,
					   store_last_error());
			}
		}
		rc = store_writer_commit(w);
		if (rc != 0)
			bench_fail("store_writer_commit", rc,
				   store_last_error());
		r->count++;
		r->bytes += BENCH_LARGE_BYTES;
		r->secs = bench_now_s() - t0;
	} while (r->secs < cfg->budget_s && r->count < cfg->large_max);
	bench_stats_since(st, commits0, ops0, r);
	bench_store_close(st, path);
	free(piece);
}

static void
bench_take_ack(const struct bench_cfg *cfg, double one_flush_per_s,
	       struct bench_row *r)
{
	char path[BENCH_PATH_MAX];
	struct store *st = bench_store_open(cfg, path);
	void *payload = bench_alloc(BENCH_SMALL_BYTES);
	struct store_msg_info info;
	uint64_t commits0, ops0, token, fill;
	double t0;
	int rc;

	/* take commits without a flush, ack with one: fill for the whole
	 * budget at 4x the best one-flush rate seen, since disks drift. */
	fill = (uint64_t)(one_flush_per_s * cfg->budget_s * 4.0);
	if (fill < cfg->take_fill_min)
		fill = cfg->take_fill_min;
	if (fill > cfg->take_fill_max)
		fill = cfg->take_fill_max;
	bench_fill(st, "q-take", fill, payload);

	bench_stats(st, &commits0, &ops0);
	t0 = bench_now_s();
	do {
		rc = store_take(st, "q-take", BENCH_LEASE_MS, &info, &token);
		if (rc == FERRY_EEMPTY) {
			r->note = "(queue drained: raise the pre-fill)";
			break;
		}
		if (rc != 0)
			bench_fail("store_take", rc, store_last_error());
		if (info.msg.payload_len != BENCH_SMALL_BYTES)
			bench_fail("store_take (payload_len)", FERRY_ECORRUPT,
				   "not the 1 KiB that was put");
		rc = store_ack(st, info.msg.id, token);
		if (rc != 0)
			bench_fail("store_ack", rc, store_last_error());
		r->count++;
		r->secs = bench_now_s() - t0;
	} while (r->secs < cfg->budget_s);
	r->secs = bench_now_s() - t0;
	r->bytes = r->count * BENCH_SMALL_BYTES;
	bench_stats_since(st, commits0, ops0, r);
	bench_store_close(st, path);
	free(payload);
}

/* ---------------------------------------------------------------- hints */

/*
 * One line per question: is a small commit one fsync, does grouping or
 * batching amortise it, do big payloads reach the disk's bandwidth; and a
 * warning when the raw fsync rate itself moved during the run (shared or
 * virtual disks do), since every "x fsync" ratio divides by it.
 */
static void
print_hints(const struct bench_raw *raw, const struct bench_row *rows)
{
	const struct bench_row *g16 = &rows[ROW_G16];
	double f = raw->fsync_per_s, s = raw->seq_mb_s;
	double first = row_rate(&rows[ROW_FSYNC]);
	double p1 = f > 0.0 ? row_rate(&rows[ROW_ONE]) / f : 0.0;
	double p16 = f > 0.0 ? row_rate(g16) / f : 0.0;
	double pb = f > 0.0 ? row_rate(&rows[ROW_BATCH]) / f : 0.0;
	double mb_big = s > 0.0 ? row_mb_s(&rows[ROW_16M]) / s : 0.0;
	double opc16 =
	    g16->commits > 0 ? (double)g16->ops / (double)g16->commits : 0.0;
	double drift = first > 0.0 ? row_rate(&rows[ROW_AGAIN]) / first : 1.0;

	printf("\nwhat bounds it:\n");
	if (p1 > 1.33)
		printf("  one put per commit runs x%.2f of raw fsync: the "
		       "store's flush costs less than an appending "
		       "fdatasync (preallocated log?), or does not reach "
		       "the disk\n",
		       p1);
	else if (p1 >= 0.75)
		printf("  one put per commit is fsync-bound: x%.2f of raw "
		       "fsync, one flush per commit, as cheap as the disk "
		       "allows\n",
		       p1);
	else if (p1 > 0.0)
		printf("  one put per commit is fsync-bound and then some: "
		       "x%.2f of raw fsync, about %.1f raw fsyncs per "
		       "commit\n",
		       p1, 1.0 / p1);
	if (p16 < 1.0)
		printf("  16 threads reach x%.2f of raw fsync "
		       "(%.1f ops/commit): still fsync-bound, grouping does "
		       "not pay for the sync\n",
		       p16, opc16);
	else if (opc16 >= 2.0)
		printf("  group commit amortises the sync: 16 threads reach "
		       "x%.1f of raw fsync at %.1f ops/commit\n",
		       p16, opc16);
	else
		printf("  16 threads reach x%.2f of raw fsync but only %.1f "
		       "ops/commit: bound by the writer thread, not the "
		       "sync\n",
		       p16, opc16);
	/* A batch is one flush: x100 if the flush were all it cost. */
	if (pb >= 0.5 * BENCH_BATCH)
		printf("  batches of %u reach x%.1f of raw fsync: near the "
		       "x%u a flush per batch allows, flush-bound\n",
		       BENCH_BATCH, pb, BENCH_BATCH);
	else if (pb > 0.0)
		printf("  batches of %u reach x%.1f of raw fsync, not the x%u "
		       "one flush per batch allows: a %u-message commit "
		       "costs %.1f ms against %.2f ms per raw fsync, so "
		       "the commit's own work bounds it\n",
		       BENCH_BATCH, pb, BENCH_BATCH, BENCH_BATCH,
		       1e3 * BENCH_BATCH / row_rate(&rows[ROW_BATCH]), 1e3 / f);
	if (rows[ROW_BATCH].cpu_us > 0.0)
		printf("  a batched put costs %.1f us of CPU a message, all "
		       "threads (caller, writer, flusher, checkpoints)\n",
		       rows[ROW_BATCH].cpu_us);
	if (mb_big >= 0.5)
		printf("  16 MiB streams reach x%.2f of raw sequential MB/s: "
		       "disk-bandwidth-bound\n",
		       mb_big);
	else
		printf("  16 MiB streams reach x%.2f of raw sequential MB/s: "
		       "bound by store overhead (payload written twice, log "
		       "then pages, caps it near x0.5)\n",
		       mb_big);
	/* Issue 15, aim 1: the batched put against raw appends. */
	bench_aim("pipelined sends: store batched put",
		  rows[ROW_BATCH].secs > 0.0 ? row_rate(&rows[ROW_BATCH])
					     : -1.0,
		  "msg/s", f, 10.0, 1);
	if (drift < 0.8 || drift > 1.25)
		printf("  careful: raw fsync went from %.0f/s to %.0f/s during "
		       "the run; fsync ratios (against the mean) are that "
		       "noisy\n",
		       first, row_rate(&rows[ROW_AGAIN]));
}

/* ----------------------------------------------------------------- main */

static void
bench_cfg_init(struct bench_cfg *cfg, const char *dir)
{
	const char *q = getenv("BENCH_QUICK");

	memset(cfg, 0, sizeof(*cfg));
	cfg->dir = dir;
	cfg->quick = q != NULL && q[0] != '\0' && strcmp(q, "0") != 0;
	cfg->budget_s = 2.5;
	cfg->seq_budget_s = 10.0;
	cfg->seq_bytes = BENCH_SEQ_BYTES;
	cfg->small_max = 1000000;
	cfg->medium_max = 32768; /* 2 GiB */
	cfg->large_max = 64;	 /* 1 GiB */
	cfg->take_fill_max = 200000;
	cfg->take_fill_min = 2000;
	if (cfg->quick) {
		cfg->budget_s /= BENCH_QUICK_DIV;
		cfg->seq_budget_s /= BENCH_QUICK_DIV;
		cfg->seq_bytes = 200ull * BENCH_SEQ_BLOCK_BYTES;
		cfg->small_max /= BENCH_QUICK_DIV;
		cfg->medium_max /= BENCH_QUICK_DIV;
		cfg->large_max = 13;
		cfg->take_fill_max /= BENCH_QUICK_DIV;
		cfg->take_fill_min /= BENCH_QUICK_DIV;
	}
}

/* Prints a row as soon as it is measured, on stderr: the run is long. */
static void
bench_progress(const struct bench_row *r, int i)
{
	fprintf(stderr, "bench_store: [%d/%d] %-34s %10.1f ops/s %9.2f MB/s\n",
		i + 1, ROW_N, r->label, row_rate(r), row_mb_s(r));
}

int
main(int argc, char **argv)
{
	struct bench_cfg cfg;
	struct bench_raw raw;
	struct stat sb;
	struct bench_row rows[ROW_N] = {
	    [ROW_FSYNC] = {.label = "raw 1 KiB append+fdatasync",
			   .vs_fsync = 1,
			   .show_rate = 1},
	    [ROW_SEQ] = {.label = "raw seq write, 1 MiB blocks", .vs_seq = 1},
	    [ROW_ONE] = {.label = "put 1 KiB, one per commit",
			 .vs_fsync = 1,
			 .show_rate = 1},
	    [ROW_G1] = {.label = "put 1 KiB, grouped, 1 thread",
			.vs_fsync = 1,
			.show_rate = 1},
	    [ROW_G4] = {.label = "put 1 KiB, grouped, 4 threads",
			.vs_fsync = 1,
			.show_rate = 1},
	    [ROW_G16] = {.label = "put 1 KiB, grouped, 16 threads",
			 .vs_fsync = 1,
			 .show_rate = 1},
	    [ROW_BATCH] = {.label = "put_batch 1 KiB, 100 per call",
			   .vs_fsync = 1,
			   .vs_seq = 1,
			   .show_rate = 1},
	    [ROW_64K] = {.label = "put 64 KiB, 1 thread",
			 .vs_fsync = 1,
			 .vs_seq = 1,
			 .show_rate = 1},
	    [ROW_16M] = {.label = "writer 16 MiB, 256 KiB pieces",
			 .vs_seq = 1,
			 .show_rate = 1},
	    [ROW_TAKE] = {.label = "take+ack 1 KiB, lease 30 s",
			  .vs_fsync = 1,
			  .show_rate = 1},
	    [ROW_AGAIN] = {.label = "raw 1 KiB append+fdatasync, again",
			   .vs_fsync = 1,
			   .show_rate = 1},
	};
	double t_start, take_rate;

	bench_util_init("bench_store", NULL);
	if (argc != 2) {
		fprintf(stderr, "usage: bench_store DIR   (BENCH_QUICK=1 for "
				"a short run)\n");
		return 2;
	}
	if (stat(argv[1], &sb) != 0)
		bench_fail_errno("stat", argv[1]);
	if (!S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "bench_store: %s: not a directory\n", argv[1]);
		return 2;
	}
	bench_cfg_init(&cfg, argv[1]);
	t_start = bench_now_s();

	bench_raw_fsync(&cfg, &rows[ROW_FSYNC]);
	bench_progress(&rows[ROW_FSYNC], ROW_FSYNC);
	bench_raw_seq(&cfg, &rows[ROW_SEQ]);
	bench_progress(&rows[ROW_SEQ], ROW_SEQ);
	bench_puts(&cfg, BENCH_SMALL_BYTES, 0, cfg.small_max, &rows[ROW_ONE]);
	bench_progress(&rows[ROW_ONE], ROW_ONE);
	bench_puts(&cfg, BENCH_SMALL_BYTES, 1, cfg.small_max, &rows[ROW_G1]);
	bench_progress(&rows[ROW_G1], ROW_G1);
	bench_puts(&cfg, BENCH_SMALL_BYTES, 4, cfg.small_max, &rows[ROW_G4]);
	bench_progress(&rows[ROW_G4], ROW_G4);
	bench_puts(&cfg, BENCH_SMALL_BYTES, 16, cfg.small_max, &rows[ROW_G16]);
	bench_progress(&rows[ROW_G16], ROW_G16);
	bench_batch(&cfg, &rows[ROW_BATCH]);
	bench_progress(&rows[ROW_BATCH], ROW_BATCH);
	bench_puts(&cfg, BENCH_MEDIUM_BYTES, 0, cfg.medium_max, &rows[ROW_64K]);
	bench_progress(&rows[ROW_64K], ROW_64K);
	bench_stream(&cfg, &rows[ROW_16M]);
	bench_progress(&rows[ROW_16M], ROW_16M);
	/* take+ack costs about one flush: size its queue from the fastest
	 * one-flush rate seen so far. */
	take_rate = row_rate(&rows[ROW_FSYNC]);
	if (row_rate(&rows[ROW_ONE]) > take_rate)
		take_rate = row_rate(&rows[ROW_ONE]);
	if (row_rate(&rows[ROW_G1]) > take_rate)
		take_rate = row_rate(&rows[ROW_G1]);
	bench_take_ack(&cfg, take_rate, &rows[ROW_TAKE]);
	bench_progress(&rows[ROW_TAKE], ROW_TAKE);
	bench_raw_fsync(&cfg, &rows[ROW_AGAIN]);
	bench_progress(&rows[ROW_AGAIN], ROW_AGAIN);

	/* The disk's fsync rate drifts on shared and virtual disks: the
	 * yardstick is the mean of the first and last raw measurement. */
	raw.fsync_per_s =
	    (row_rate(&rows[ROW_FSYNC]) + row_rate(&rows[ROW_AGAIN])) / 2;
	raw.seq_mb_s = row_mb_s(&rows[ROW_SEQ]);
	print_header(&cfg);
	for (int i = 0; i < ROW_N; i++)
		print_row(&rows[i], &raw);
	print_hints(&raw, rows);
	printf("\nwhole run: %.1f s\n", bench_now_s() - t_start);
	if (fflush(stdout) != 0 || ferror(stdout))
		bench_fail_errno("writing", "stdout");
	return 0;
}
