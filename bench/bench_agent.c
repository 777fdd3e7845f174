/*
 * bench_agent.c - how much of the store's speed reaches a client of ferryd.
 *
 * One run, in the directory named on the command line, starts a private
 * ferryd (its own node, identity and socket under the directory) and
 * measures:
 *   1. durable 1 KiB sends through ferryd's socket from 1 and from 16
 *      clients (threads, one connection each), each row between two
 *      store-only rows of the same width: 1 KiB store_put()s from as many
 *      threads into a fresh store, as bench_store's grouped rows do.  The
 *      send row is divided by the mean of the two (shared disks drift;
 *      the agent issue asks for x0.70 or better), and shown with the CPU
 *      ferryd spent in it;
 *   2. pipelined 1 KiB sends from 16 clients (ferry_send_async, a full
 *      window each) between two rows of the store's batched put
 *      (store_put_batch, 100 per call, one thread) into a fresh store,
 *      divided by their mean (issue 15 asks for x0.80); and the batched
 *      put against raw fdatasync'd appends (the latency row's mean);
 *   2b. what the pipelined row stored, taken by 16 consumers (ferry_recv
 *      + payload + ferry_ack, one connection each) for as long as a row
 *      runs, the rest purged: messages a second, against the 16 clients'
 *      durable sends of row 1 (do consumers keep up with senders?);
 *   3. latency with one message in flight: ferry_send's own time, the time
 *      from the send to a receiver blocked in ferry_recv having the payload
 *      (the sender's CLOCK_MONOTONIC time rides in the payload), and
 *      ferry_ack's time; next to the disk's raw fdatasync latency, since a
 *      durable send includes one flush.
 * Then ferryd is stopped with SIGTERM and every file is removed.  Progress
 * goes to stderr row by row; the tables, ferryd's CPU and peak RSS, and a
 * hint at what bounds the numbers go to stdout at the end.  BENCH_QUICK=1
 * makes every row about five times shorter.
 *
 * The program owns ferryd's process (which dies with it: PR_SET_PDEATHSIG)
 * and the files it creates under the directory: node/ (ferry.conf, the
 * identity, the store, the socket, ferryd.log), store-only/ and
 * raw-fsync.dat.  It does not remove the directory itself (make bench
 * does).  Timings are printed, never judged: the exit status says only
 * whether every call succeeded, every acknowledged send was in its queue,
 * and ferryd started and stopped cleanly.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "lib/ferry.h"
#include "store/store.h"

#define BENCH_NODE	   "bench"
#define BENCH_QUEUE	   "q"
#define BENCH_DEST	   BENCH_NODE "/" BENCH_QUEUE
#define BENCH_LAT_QUEUE	   "lat"
#define BENCH_LAT_DEST	   BENCH_NODE "/" BENCH_LAT_QUEUE
#define BENCH_MSG_BYTES	   1024u
#define BENCH_CLIENTS	   16u
#define BENCH_WORKERS	   32u	/* ferryd workers: 16 clients never queue */
#define BENCH_TARGET	   0.70 /* of the store-only figure, from the issue */
#define BENCH_PIPE_TARGET  0.80 /* pipelined, of the batched put (issue 15) */
#define BENCH_BATCH_TARGET 10.0 /* batched put, of raw fdatasync (issue 15) */
#define BENCH_BATCH	   100u
#define BENCH_SECRET_BYTES 32u
#define BENCH_START_MAX_S  15.0 /* ferryd start: store recovery included */
#define BENCH_STOP_MAX_S   15.0 /* ferryd stop after SIGTERM */
#define BENCH_LAT_HANG_S   10.0 /* a message not received by then: a hang */
#define BENCH_POLL_NS	   10000000L
#define BENCH_SOCK_MAX	   107 /* sun_path minus the NUL */
#define BENCH_DETAIL_MAX   256
#define BENCH_LOG_TAIL	   20 /* lines of ferryd.log shown on failure */
#define BENCH_QUICK_DIV	   5u

/* The run's knobs: normal or BENCH_QUICK=1. */
struct bench_cfg {
	char dir[PATH_MAX];    /* absolute (realpath): ferry.conf needs it */
	const char *ferryd;    /* path, or a name looked up in PATH */
	double budget_s;       /* each throughput row */
	uint64_t small_max;    /* cap on messages per throughput row */
	double lat_budget_s;   /* the latency row */
	size_t lat_max;	       /* messages in the latency row */
	double fsync_budget_s; /* the raw fdatasync and store_put rows */
	size_t fsync_max;
	int quick;
};

/* One throughput row. */
struct bench_row {
	const char *label;
	uint64_t count;	    /* messages stored */
	double secs;	    /* wall time of the timed part */
	uint64_t commits;   /* store rows: commits in the timed part */
	uint64_t ops;	    /* store rows: operations in those commits */
	int agent;	    /* through ferryd */
	int pipe;	    /* agent: pipelined sends; store: batched puts */
	int drain;	    /* agent: recv + ack, not sends */
	double agent_cpu_s; /* ferryd's user+system CPU during the row */
	double self_cpu_s;  /* this process's: callers (and store) CPU */
};

/* In the order they run (but the last, which follows ROW_PIPE16): each
 * agent row between two store-only rows of the same width, whose mean it
 * is compared with (shared disks drift). */
enum bench_row_id {
	ROW_STORE1,
	ROW_AGENT1,
	ROW_STORE1_AGAIN,
	ROW_STORE16,
	ROW_AGENT16,
	ROW_STORE16_AGAIN,
	ROW_BATCH,
	ROW_PIPE16,
	ROW_BATCH_AGAIN,
	ROW_DRAIN16, /* runs right after ROW_PIPE16, on what it stored */
	ROW_N
};

/* What an agent row is compared with: its two store-only rows merged. */
struct bench_base {
	double rate;   /* mean of the two ops/s */
	double cpu_us; /* CPU per message over both */
	double opc;    /* ops per commit over both */
	double drift;  /* second ops/s / first */
};

/* One latency row: seconds. */
struct lat_row {
	const char *label;
	size_t n;
	double mean, p50, p99, max;
};

/* In the order they print: each path contains the one before it. */
enum lat_row_id { LAT_FSYNC, LAT_PUT, LAT_SEND, LAT_RECV, LAT_ACK, LAT_N };

/* The private ferryd. */
struct bench_agent {
	pid_t pid; /* -1: not running */
	char node_dir[BENCH_PATH_MAX];
	char conf[BENCH_PATH_MAX];
	char sock[BENCH_PATH_MAX];
	char log[BENCH_PATH_MAX];
	double started_s; /* when the socket first answered */
	double cpu_s;	  /* user+system until just before SIGTERM */
	double alive_s;	  /* wall time from the start to SIGTERM */
	uint64_t hwm_kib; /* VmHWM just before SIGTERM */
	double stop_s;	  /* SIGTERM to exit */
	int exit_status;  /* as waitpid */
};

/* One sending thread: into the store (st) or through ferryd (conn). */
struct send_worker {
	pthread_t thread;
	struct store *st;
	struct ferry *conn;
	const void *payload;
	double budget_s;
	uint64_t max_count;
	pthread_barrier_t *start;
	int pipe;	/* ferry_send_async / store_put_batch */
	uint64_t count; /* out */
	int err;	/* out: 0 or the first failure */
	char detail[BENCH_DETAIL_MAX];
};

/* What the latency sender puts at the start of each payload. */
struct lat_stamp {
	uint64_t seq;
	int64_t sent_ns; /* CLOCK_MONOTONIC */
	uint32_t stop;	 /* 1: the last message, not measured */
};

/* The receiving side of the latency row. */
struct lat_receiver {
	pthread_t thread;
	struct ferry *conn;
	sem_t done;	/* posted after each message is acked */
	double *recv_s; /* per seq: send start to payload in hand */
	double *ack_s;	/* per seq: ferry_ack's time */
	size_t cap;
	uint64_t expect; /* next seq */
	int err;	 /* out */
	char detail[BENCH_DETAIL_MAX];
};

/* The running ferryd, for the failure paths. */
static struct bench_agent *bench_running;

static void agent_abort(void);

static void
nap(void)
{
	struct timespec ts = {0, BENCH_POLL_NS};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static double
self_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		bench_fail_errno("getrusage", "");
	return bench_rusage_cpu_s(&ru);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentiles of v[0..n) (sorted in place). */
static void
lat_summarise(struct lat_row *r, double *v, size_t n)
{
	double sum = 0.0;

	r->n = n;
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	r->mean = sum / (double)n;
	qsort(v, n, sizeof(*v), cmp_double);
	r->p50 = v[(n + 1) / 2 - 1];
	r->p99 = v[(n * 99 + 99) / 100 - 1];
	r->max = v[n - 1];
}

/* ---------------------------------------------------------------- ferryd */

/* Waits up to max_s for ferryd to exit; 1 when it did, status in *st. */
static int
agent_reap(pid_t pid, double max_s, int *st)
{
	double t0 = bench_now_s();

	for (;;) {
		pid_t r = waitpid(pid, st, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return 1; /* not our child any more: nothing to wait */
		if (bench_now_s() - t0 >= max_s)
			return 0;
		nap();
	}
}

/* On a failure: stop ferryd (SIGKILL if SIGTERM does not) and show its log.
 * Its files stay for a look; make bench removes the directory. */
static void
agent_abort(void)
{
	struct bench_agent *ag = bench_running;
	int st;

	if (ag == NULL || ag->pid <= 0)
		return;
	bench_running = NULL;
	(void)kill(ag->pid, SIGTERM);
	if (!agent_reap(ag->pid, BENCH_STOP_MAX_S, &st)) {
		fprintf(stderr,
			"bench_agent: ferryd (pid %ld) did not stop within "
			"%.0f s of SIGTERM; killing it\n",
			(long)ag->pid, BENCH_STOP_MAX_S);
		(void)kill(ag->pid, SIGKILL);
		(void)waitpid(ag->pid, &st, 0);
	}
	ag->pid = -1;
	bench_log_tail(ag->log, BENCH_LOG_TAIL);
}

/* A config value must read back as written (ferry.conf(5): ';' after a
 * blank starts a comment, a line ends a value). */
static void
agent_check_conf_value(const char *s)
{
	if (strchr(s, '\n') != NULL || strchr(s, ';') != NULL ||
	    strchr(s, '#') != NULL)
		bench_failf("%s: a directory with ';', '#' or a newline in "
			    "its name cannot go into ferry.conf; use another",
			    s);
}

/* The node's identity as `ferry init` makes it: 32 random bytes in
 * identity/secret, mode 0600, in a 0700 directory. */
static void
agent_make_identity(const struct bench_agent *ag)
{
	char dir[BENCH_PATH_MAX], path[BENCH_PATH_MAX];
	uint8_t seed[BENCH_SECRET_BYTES];
	size_t got = 0;
	int fd;

	bench_path(dir, ag->node_dir, "identity");
	bench_path(path, dir, "secret");
	if (mkdir(dir, 0700) != 0)
		bench_fail_errno("mkdir", dir);
	while (got < sizeof(seed)) {
		ssize_t n = getrandom(seed + got, sizeof(seed) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			bench_fail_errno("getrandom", "");
		}
		got += (size_t)n;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		bench_fail_errno("open", path);
	bench_write_full(fd, seed, sizeof(seed), path);
	explicit_bzero(seed, sizeof(seed));
	if (close(fd) != 0)
		bench_fail_errno("close", path);
}

static void
agent_write_conf(const struct bench_agent *ag)
{
	FILE *f = fopen(ag->conf, "wex");

	if (f == NULL)
		bench_fail_errno("open", ag->conf);
	fprintf(f,
		"# Written by bench_agent for one benchmark run.\n"
		"[node]\n"
		"name = %s\n"
		"state_dir = %s\n"
		"socket = %s\n"
		"log_level = info\n"
		"\n"
		"[limits]\n"
		"workers = %u\n",
		BENCH_NODE, ag->node_dir, ag->sock, BENCH_WORKERS);
	if (fflush(f) != 0 || ferror(f))
		bench_fail_errno("writing", ag->conf);
	if (fclose(f) != 0)
		bench_fail_errno("closing", ag->conf);
}

/* Makes the node, starts ferryd, waits until its socket answers. */
static void
agent_start(struct bench_agent *ag, const struct bench_cfg *cfg)
{
	struct ferry *c = NULL;
	pid_t parent = getpid();
	double t0;
	int st;

	memset(ag, 0, sizeof(*ag));
	ag->pid = -1;
	bench_path(ag->node_dir, cfg->dir, "node");
	bench_path(ag->conf, ag->node_dir, "ferry.conf");
	bench_path(ag->sock, ag->node_dir, "ferry.sock");
	bench_path(ag->log, ag->node_dir, "ferryd.log");
	if (strlen(ag->sock) > BENCH_SOCK_MAX)
		bench_failf("%s: longer than the %d bytes a unix socket path "
			    "may have; run in a directory with a shorter path "
			    "(BENCH_DIR=...)",
			    ag->sock, BENCH_SOCK_MAX);
	agent_check_conf_value(ag->node_dir);
	if (mkdir(ag->node_dir, 0700) != 0)
		bench_fail_errno("mkdir", ag->node_dir);
	agent_make_identity(ag);
	agent_write_conf(ag);

	fflush(NULL);
	ag->pid = fork();
	if (ag->pid < 0)
		bench_fail_errno("fork", "");
	if (ag->pid == 0) {
		int out = open(ag->log,
			       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (out < 0 || in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(out, 2) < 0)
			_exit(126);
		/* Whatever happens to us, ferryd does not outlive the run. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 ||
		    getppid() != parent)
			_exit(126);
		execlp(cfg->ferryd, "ferryd", "-c", ag->conf, (char *)NULL);
		dprintf(2, "bench_agent: cannot run %s: %s\n", cfg->ferryd,
			strerror(errno));
		_exit(127);
	}
	bench_running = ag;

	t0 = bench_now_s();
	for (;;) {
		if (waitpid(ag->pid, &st, WNOHANG) == ag->pid) {
			ag->pid = -1;
			bench_running = NULL;
			fprintf(stderr,
				"bench_agent: ferryd exited (status %d) "
				"before its socket answered\n",
				WIFEXITED(st) ? WEXITSTATUS(st)
					      : 128 + WTERMSIG(st));
			bench_log_tail(ag->log, BENCH_LOG_TAIL);
			exit(1);
		}
		if (ferry_connect(ag->sock, &c) == 0)
			break;
		if (bench_now_s() - t0 >= BENCH_START_MAX_S)
			bench_failf("ferryd's socket %s did not answer within "
				    "%.0f s",
				    ag->sock, BENCH_START_MAX_S);
		nap();
	}
	ferry_close(c);
	ag->started_s = bench_now_s();
}

/* SIGTERM, then wait: the agent lets running store operations finish. */
static void
agent_stop(struct bench_agent *ag)
{
	double t0;

	ag->cpu_s = bench_proc_cpu_s(ag->pid);
	ag->hwm_kib = bench_proc_hwm_kib(ag->pid);
	ag->alive_s = bench_now_s() - ag->started_s;
	t0 = bench_now_s();
	if (kill(ag->pid, SIGTERM) != 0)
		bench_fail_errno("kill", "ferryd");
	if (!agent_reap(ag->pid, BENCH_STOP_MAX_S, &ag->exit_status))
		bench_failf("ferryd (pid %ld) did not stop within %.0f s of "
			    "SIGTERM",
			    (long)ag->pid, BENCH_STOP_MAX_S);
	ag->stop_s = bench_now_s() - t0;
	ag->pid = -1;
	bench_running = NULL;
	if (!WIFEXITED(ag->exit_status) || WEXITSTATUS(ag->exit_status) != 0) {
		fprintf(stderr, "bench_agent: ferryd stopped with %s %d\n",
			WIFEXITED(ag->exit_status) ? "exit status" : "signal",
			WIFEXITED(ag->exit_status)
			    ? WEXITSTATUS(ag->exit_status)
			    : WTERMSIG(ag->exit_status));
		bench_log_tail(ag->log, BENCH_LOG_TAIL);
	}
}

static struct ferry *
agent_connect(const struct bench_agent *ag)
{
	struct ferry *c = NULL;
	int rc = ferry_connect(ag->sock, &c);

	if (rc != 0)
		bench_fail("ferry_connect", rc, ag->sock);
	return c;
}

/* ------------------------------------------------------------ throughput */

static void
worker_fail(struct send_worker *w, int rc, const char *what)
{
	w->err = rc;
	bench_cell(w->detail, sizeof(w->detail), "%s: %s", what,
		   w->st != NULL ? store_last_error()
				 : ferry_last_error(w->conn));
}

static int
put_one(struct send_worker *w)
{
	struct ferry_msg m;
	int rc;

	ferry_msg_init(&m);
	rc = ferry_id_generate(m.id);
	if (rc != 0) {
		worker_fail(w, rc, "ferry_id_generate");
		return rc;
	}
	memcpy(m.src_node, BENCH_NODE, sizeof(BENCH_NODE));
	memcpy(m.dst_node, BENCH_NODE, sizeof(BENCH_NODE));
	memcpy(m.dst_queue, BENCH_QUEUE, sizeof(BENCH_QUEUE));
	m.created_ms = bench_wall_ms();
	rc = store_put(w->st, &m, w->payload, BENCH_MSG_BYTES);
	if (rc != 0)
		worker_fail(w, rc, "store_put");
	return rc;
}

static int
send_one(struct send_worker *w)
{
	int rc = ferry_send(w->conn, BENCH_DEST, w->payload, BENCH_MSG_BYTES,
			    NULL, NULL);

	if (rc != 0)
		worker_fail(w, rc, "ferry_send");
	return rc;
}

/* A pipelined send answered: count it, or keep the first error. */
static void
pipe_sent(int rc, const uint8_t *id, const char *text, void *arg)
{
	struct send_worker *w = arg;

	(void)id;
	if (rc == 0) {
		w->count++;
	} else if (w->err == 0) {
		w->err = rc;
		bench_cell(w->detail, sizeof(w->detail), "ferry_send_async: %s",
			   text);
	}
}

/* Pipelined sends for the budget, then wait for every answer. */
static void
pipe_run(struct send_worker *w, double t0)
{
	uint64_t n = 0;
	int rc;

	while (n < w->max_count && w->err == 0) {
		rc = ferry_send_async(w->conn, BENCH_DEST, w->payload,
				      BENCH_MSG_BYTES, NULL, pipe_sent, w);
		if (rc != 0) {
			worker_fail(w, rc, "ferry_send_async");
			return;
		}
		n++;
		if (bench_now_s() - t0 >= w->budget_s)
			break;
	}
	rc = ferry_send_flush(w->conn);
	if (rc != 0 && w->err == 0)
		worker_fail(w, rc, "ferry_send_flush");
}

/* Batched puts, BENCH_BATCH per call, for the budget. */
static void
batch_run(struct send_worker *w, double t0)
{
	struct ferry_msg m[BENCH_BATCH];
	struct store_put_req req[BENCH_BATCH];
	int rc;

	while (w->count < w->max_count) {
		for (size_t i = 0; i < BENCH_BATCH; i++) {
			ferry_msg_init(&m[i]);
			if ((rc = ferry_id_generate(m[i].id)) != 0) {
				worker_fail(w, rc, "ferry_id_generate");
				return;
			}
			memcpy(m[i].src_node, BENCH_NODE, sizeof(BENCH_NODE));
			memcpy(m[i].dst_node, BENCH_NODE, sizeof(BENCH_NODE));
			memcpy(m[i].dst_queue, BENCH_QUEUE,
			       sizeof(BENCH_QUEUE));
			m[i].created_ms = bench_wall_ms();
			memset(&req[i], 0, sizeof(req[i]));
			req[i].msg = &m[i];
			req[i].payload = w->payload;
			req[i].len = BENCH_MSG_BYTES;
			req[i].new_id = 1; /* as ferryd's drawn ids */
		}
		rc = store_put_batch(w->st, req, BENCH_BATCH);
		for (size_t i = 0; rc == 0 && i < BENCH_BATCH; i++)
			rc = req[i].result;
		if (rc != 0) {
			worker_fail(w, rc, "store_put_batch");
			return;
		}
		w->count += BENCH_BATCH;
		if (bench_now_s() - t0 >= w->budget_s)
			break;
	}
}

static void *
send_worker_run(void *arg)
{
	struct send_worker *w = arg;
	double t0;
	int rc;

	rc = pthread_barrier_wait(w->start);
	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
		w->err = FERRY_EINVAL;
		bench_cell(w->detail, sizeof(w->detail),
			   "pthread_barrier_wait: %s", strerror(rc));
		return NULL;
	}
	t0 = bench_now_s();
	if (w->pipe) {
		if (w->st != NULL)
			batch_run(w, t0);
		else
			pipe_run(w, t0);
		return NULL;
	}
	while (w->count < w->max_count) {
		if ((w->st != NULL ? put_one(w) : send_one(w)) != 0)
			break;
		w->count++;
		if (bench_now_s() - t0 >= w->budget_s)
			break;
	}
	return NULL;
}

/* Runs nw threads into st (store row) or through ag (agent row). */
static void
bench_sends(const struct bench_cfg *cfg, struct store *st,
	    const struct bench_agent *ag, unsigned nw, struct bench_row *r)
{
	struct send_worker *w = calloc(nw, sizeof(*w));
	void *payload = bench_alloc(BENCH_MSG_BYTES);
	pthread_barrier_t start;
	double t0, cpu0 = 0.0, self0;

	if (w == NULL)
		bench_fail("calloc", FERRY_ENOMEM, "");
	bench_check_pthread(pthread_barrier_init(&start, NULL, nw + 1),
			    "pthread_barrier_init");
	for (unsigned i = 0; i < nw; i++) {
		w[i].st = st;
		w[i].conn = st == NULL ? agent_connect(ag) : NULL;
		w[i].payload = payload;
		w[i].budget_s = cfg->budget_s;
		w[i].max_count =
		    cfg->small_max / nw > 0 ? cfg->small_max / nw : 1;
		w[i].start = &start;
		w[i].pipe = r->pipe;
		bench_check_pthread(
		    pthread_create(&w[i].thread, NULL, send_worker_run, &w[i]),
		    "pthread_create");
	}
	if (st == NULL)
		cpu0 = bench_proc_cpu_s(ag->pid);
	self0 = self_cpu_s();
	{
		int rc = pthread_barrier_wait(&start);
		if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
			bench_check_pthread(rc, "pthread_barrier_wait");
	}
	t0 = bench_now_s();
	for (unsigned i = 0; i < nw; i++)
		bench_check_pthread(pthread_join(w[i].thread, NULL),
				    "pthread_join");
	r->secs = bench_now_s() - t0;
	r->self_cpu_s = self_cpu_s() - self0;
	if (st == NULL) {
		r->agent = 1;
		r->agent_cpu_s = bench_proc_cpu_s(ag->pid) - cpu0;
	}
	bench_check_pthread(pthread_barrier_destroy(&start),
			    "pthread_barrier_destroy");
	for (unsigned i = 0; i < nw; i++) {
		if (w[i].err != 0)
			bench_fail(r->label, w[i].err, w[i].detail);
		r->count += w[i].count;
		ferry_close(w[i].conn);
	}
	free(payload);
	free(w);
}

static void
bench_counters(struct store *st, uint64_t *commits, uint64_t *ops)
{
	struct store_stats s;
	int rc = store_stats(st, &s);

	if (rc != 0)
		bench_fail("store_stats", rc, store_last_error());
	*commits = s.commits;
	*ops = s.ops;
}

/* A fresh store in DIR/store-only (path, BENCH_PATH_MAX bytes), as
 * bench_store's rows have; the caller closes it and removes path. */
static struct store *
store_only_open(const struct bench_cfg *cfg, char *path)
{
	struct store_opts o;
	struct store *st = NULL;
	int rc;

	bench_path(path, cfg->dir, "store-only");
	if (mkdir(path, 0700) != 0)
		bench_fail_errno("mkdir", path);
	store_opts_init(&o);
	o.node_name = BENCH_NODE;
	rc = store_open(path, &o, &st);
	if (rc != 0)
		bench_fail("store_open", rc, store_last_error());
	return st;
}

/* A store-only row: nw threads putting into a fresh store. */
static void
bench_store_row(const struct bench_cfg *cfg, unsigned nw, struct bench_row *r)
{
	char path[BENCH_PATH_MAX];
	struct store *st;
	uint64_t commits0, ops0, commits, ops;

	st = store_only_open(cfg, path);
	bench_counters(st, &commits0, &ops0);
	bench_sends(cfg, st, NULL, nw, r);
	bench_counters(st, &commits, &ops);
	r->commits = commits - commits0;
	r->ops = ops - ops0;
	store_close(st);
	bench_rm_tree(path);
}

/* Checks every acknowledged send is in the queue, then empties it (not
 * timed) so that the next row starts from an empty queue too. */
static void
bench_agent_settle(const struct bench_agent *ag, const struct bench_row *r)
{
	struct ferry *c = agent_connect(ag);
	struct ferry_queue_info qi;
	uint64_t removed = 0;
	int rc;

	rc = ferry_queue_stats(c, BENCH_QUEUE, &qi);
	if (rc != 0)
		bench_fail("ferry_queue_stats", rc, ferry_last_error(c));
	if (qi.msgs != r->count)
		bench_failf("%s: %llu sends acknowledged but queue %s holds "
			    "%llu messages",
			    r->label, (unsigned long long)r->count, BENCH_QUEUE,
			    (unsigned long long)qi.msgs);
	rc = ferry_queue_purge(c, BENCH_QUEUE, &removed);
	if (rc != 0)
		bench_fail("ferry_queue_purge", rc, ferry_last_error(c));
	if (removed != r->count)
		bench_failf("purging %s: %llu removed, %llu expected",
			    BENCH_QUEUE, (unsigned long long)removed,
			    (unsigned long long)r->count);
	ferry_close(c);
}

/* ----------------------------------------------------------------- drain */

/* One consumer: recv, read, ack until the queue is empty or the row's
 * time is up. */
struct drain_worker {
	pthread_t thread;
	struct ferry *conn;
	pthread_barrier_t *start;
	double budget_s;
	uint64_t count; /* out */
	int err;	/* out: 0 or the first failure */
	char detail[BENCH_DETAIL_MAX];
};

static void
drain_fail(struct drain_worker *w, int rc, const char *what)
{
	w->err = rc;
	bench_cell(w->detail, sizeof(w->detail), "%s: %s", what,
		   ferry_last_error(w->conn));
}

static void *
drain_worker_run(void *arg)
{
	struct drain_worker *w = arg;
	uint8_t buf[BENCH_MSG_BYTES];
	struct ferry_recv_opts o;
	double t0;
	int rc;

	rc = pthread_barrier_wait(w->start);
	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
		w->err = FERRY_EINVAL;
		return NULL;
	}
	t0 = bench_now_s();
	ferry_recv_opts_init(&o);
	while (bench_now_s() - t0 < w->budget_s) {
		struct ferry_msg_info info;
		struct ferry_stream *s = NULL;
		size_t len = 0, n = 0;

		rc = ferry_recv(w->conn, BENCH_QUEUE, &o, &info, &s);
		if (rc == FERRY_EEMPTY)
			return NULL;
		if (rc != 0) {
			drain_fail(w, rc, "ferry_recv");
			return NULL;
		}
		do {
			rc = ferry_stream_read(s, buf + len, sizeof(buf) - len,
					       &n);
			len += n;
		} while (rc == 0 && n != 0 && len < sizeof(buf));
		ferry_stream_close(s);
		if (rc != 0 || len != BENCH_MSG_BYTES) {
			drain_fail(w, rc != 0 ? rc : FERRY_ECORRUPT,
				   "ferry_stream_read");
			return NULL;
		}
		rc = ferry_ack(w->conn, info.msg.id, info.token);
		if (rc != 0) {
			drain_fail(w, rc, "ferry_ack");
			return NULL;
		}
		w->count++;
	}
	return NULL;
}

/* Row r: nw consumers take from BENCH_QUEUE, which holds want messages,
 * for the row's time (or until it is empty); the rest is purged.  Every
 * message must be received once or purged. */
static void
bench_drain(const struct bench_cfg *cfg, const struct bench_agent *ag,
	    unsigned nw, uint64_t want, struct bench_row *r)
{
	struct drain_worker *w = calloc(nw, sizeof(*w));
	pthread_barrier_t start;
	struct ferry_queue_info qi;
	struct ferry *c;
	uint64_t removed = 0;
	double t0, cpu0;
	int rc;

	if (w == NULL)
		bench_fail("calloc", FERRY_ENOMEM, "");
	bench_check_pthread(pthread_barrier_init(&start, NULL, nw + 1),
			    "pthread_barrier_init");
	for (unsigned i = 0; i < nw; i++) {
		w[i].conn = agent_connect(ag);
		w[i].start = &start;
		w[i].budget_s = cfg->budget_s;
		bench_check_pthread(
		    pthread_create(&w[i].thread, NULL, drain_worker_run, &w[i]),
		    "pthread_create");
	}
	cpu0 = bench_proc_cpu_s(ag->pid);
	rc = pthread_barrier_wait(&start);
	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
		bench_check_pthread(rc, "pthread_barrier_wait");
	t0 = bench_now_s();
	for (unsigned i = 0; i < nw; i++)
		bench_check_pthread(pthread_join(w[i].thread, NULL),
				    "pthread_join");
	r->secs = bench_now_s() - t0;
	r->agent = 1;
	r->drain = 1;
	r->agent_cpu_s = bench_proc_cpu_s(ag->pid) - cpu0;
	bench_check_pthread(pthread_barrier_destroy(&start),
			    "pthread_barrier_destroy");
	for (unsigned i = 0; i < nw; i++) {
		if (w[i].err != 0)
			bench_fail(r->label, w[i].err, w[i].detail);
		r->count += w[i].count;
		ferry_close(w[i].conn);
	}
	free(w);
	c = agent_connect(ag);
	rc = ferry_queue_stats(c, BENCH_QUEUE, &qi);
	if (rc != 0)
		bench_fail("ferry_queue_stats", rc, ferry_last_error(c));
	if (r->count + qi.msgs != want)
		bench_failf("%s: %llu messages received and %llu left, %llu "
			    "were stored",
			    r->label, (unsigned long long)r->count,
			    (unsigned long long)qi.msgs,
			    (unsigned long long)want);
	rc = ferry_queue_purge(c, BENCH_QUEUE, &removed);
	if (rc != 0)
		bench_fail("ferry_queue_purge", rc, ferry_last_error(c));
	if (removed != qi.msgs)
		bench_failf("purging %s: %llu removed, %llu expected",
			    BENCH_QUEUE, (unsigned long long)removed,
			    (unsigned long long)qi.msgs);
	ferry_close(c);
}

/* --------------------------------------------------------------- latency */

static void
receiver_fail(struct lat_receiver *rv, int rc, const char *what)
{
	rv->err = rc;
	bench_cell(rv->detail, sizeof(rv->detail), "%s: %s", what,
		   ferry_last_error(rv->conn));
}

/* Receives one message; returns 1 after the stop message, -1 on error. */
static int
receive_one(struct lat_receiver *rv, uint8_t *buf)
{
	struct ferry_recv_opts o;
	struct ferry_msg_info info;
	struct ferry_stream *s = NULL;
	struct lat_stamp stamp;
	size_t len = 0, n;
	int64_t got_ns;
	double t0;
	int rc;

	ferry_recv_opts_init(&o);
	o.wait_ms = -1;
	rc = ferry_recv(rv->conn, BENCH_LAT_QUEUE, &o, &info, &s);
	if (rc != 0) {
		receiver_fail(rv, rc, "ferry_recv");
		return -1;
	}
	do {
		rc = ferry_stream_read(s, buf + len, BENCH_MSG_BYTES - len, &n);
		len += n;
	} while (rc == 0 && n != 0 && len < BENCH_MSG_BYTES);
	got_ns = bench_now_ns();
	ferry_stream_close(s);
	if (rc != 0) {
		receiver_fail(rv, rc, "ferry_stream_read");
		return -1;
	}
	memcpy(&stamp, buf, sizeof(stamp));
	if (len != BENCH_MSG_BYTES || info.msg.payload_len != BENCH_MSG_BYTES ||
	    stamp.seq != rv->expect || (!stamp.stop && stamp.seq >= rv->cap)) {
		rv->err = FERRY_ECORRUPT;
		bench_cell(
		    rv->detail, sizeof(rv->detail),
		    "ferry_recv: got %zu of %llu bytes, seq %llu, expected "
		    "%u bytes, seq %llu",
		    len, (unsigned long long)info.msg.payload_len,
		    (unsigned long long)stamp.seq, BENCH_MSG_BYTES,
		    (unsigned long long)rv->expect);
		return -1;
	}
	t0 = bench_now_s();
	rc = ferry_ack(rv->conn, info.msg.id, info.token);
	if (rc != 0) {
		receiver_fail(rv, rc, "ferry_ack");
		return -1;
	}
	if (stamp.stop)
		return 1;
	rv->ack_s[stamp.seq] = bench_now_s() - t0;
	rv->recv_s[stamp.seq] = (double)(got_ns - stamp.sent_ns) / 1e9;
	rv->expect++;
	return 0;
}

static void *
receiver_run(void *arg)
{
	struct lat_receiver *rv = arg;
	uint8_t *buf = malloc(BENCH_MSG_BYTES);
	int rc = 0;

	if (buf == NULL) {
		rv->err = FERRY_ENOMEM;
		bench_cell(rv->detail, sizeof(rv->detail), "malloc");
		rc = -1;
	}
	while (rc == 0) {
		rc = receive_one(rv, buf);
		/* The sender waits for each message: tell it, also on error. */
		if (sem_post(&rv->done) != 0 && rc == 0) {
			rv->err = FERRY_EINVAL;
			bench_cell(rv->detail, sizeof(rv->detail),
				   "sem_post: %s", strerror(errno));
			rc = -1;
		}
	}
	free(buf);
	return NULL;
}

/* Waits for the receiver to finish message seq; a hang is a failure. */
static void
lat_wait(struct lat_receiver *rv, uint64_t seq)
{
	struct timespec until;

	if (clock_gettime(CLOCK_REALTIME, &until) != 0)
		bench_fail_errno("clock_gettime", "CLOCK_REALTIME");
	until.tv_sec += (time_t)BENCH_LAT_HANG_S;
	while (sem_timedwait(&rv->done, &until) != 0) {
		if (errno == EINTR)
			continue;
		if (errno == ETIMEDOUT)
			bench_failf("latency: message %llu sent to %s was not "
				    "received and acked within %.0f s "
				    "(receiver blocked in ferry_recv with "
				    "wait_ms -1)",
				    (unsigned long long)seq, BENCH_LAT_DEST,
				    BENCH_LAT_HANG_S);
		bench_fail_errno("sem_timedwait", "");
	}
	if (rv->err != 0)
		bench_fail("latency receiver", rv->err, rv->detail);
}

static void
lat_send(struct ferry *c, uint8_t *payload, uint64_t seq, uint32_t stop,
	 double *took_s)
{
	struct lat_stamp stamp;
	double t0;
	int rc;

	memset(&stamp, 0, sizeof(stamp));
	stamp.seq = seq;
	stamp.stop = stop;
	stamp.sent_ns = bench_now_ns();
	memcpy(payload, &stamp, sizeof(stamp));
	t0 = bench_now_s();
	rc =
	    ferry_send(c, BENCH_LAT_DEST, payload, BENCH_MSG_BYTES, NULL, NULL);
	if (rc != 0)
		bench_fail("latency: ferry_send", rc, ferry_last_error(c));
	*took_s = bench_now_s() - t0;
}

/*
 * One message in flight: the next is sent only after the receiver has
 * acked the previous one, so every figure is one message's own path and
 * never time spent queued behind another.
 */
static void
bench_latency(const struct bench_cfg *cfg, const struct bench_agent *ag,
	      struct lat_row *rows, double *cpu_s)
{
	struct lat_receiver rv;
	struct ferry *c = agent_connect(ag);
	uint8_t *payload = bench_alloc(BENCH_MSG_BYTES);
	double *send_s = calloc(cfg->lat_max, sizeof(double));
	double t0, cpu0 = bench_proc_cpu_s(ag->pid), stop_took;
	uint64_t n = 0;

	memset(&rv, 0, sizeof(rv));
	rv.cap = cfg->lat_max;
	rv.recv_s = calloc(cfg->lat_max, sizeof(double));
	rv.ack_s = calloc(cfg->lat_max, sizeof(double));
	if (send_s == NULL || rv.recv_s == NULL || rv.ack_s == NULL)
		bench_fail("calloc", FERRY_ENOMEM, "");
	if (sem_init(&rv.done, 0, 0) != 0)
		bench_fail_errno("sem_init", "");
	rv.conn = agent_connect(ag);
	bench_check_pthread(pthread_create(&rv.thread, NULL, receiver_run, &rv),
			    "pthread_create");
	t0 = bench_now_s();
	do {
		lat_send(c, payload, n, 0, &send_s[n]);
		lat_wait(&rv, n);
		n++;
	} while (n < cfg->lat_max && bench_now_s() - t0 < cfg->lat_budget_s);
	lat_send(c, payload, n, 1, &stop_took);
	lat_wait(&rv, n);
	bench_check_pthread(pthread_join(rv.thread, NULL), "pthread_join");
	*cpu_s = bench_proc_cpu_s(ag->pid) - cpu0;
	lat_summarise(&rows[LAT_SEND], send_s, n);
	lat_summarise(&rows[LAT_RECV], rv.recv_s, n);
	lat_summarise(&rows[LAT_ACK], rv.ack_s, n);
	if (sem_destroy(&rv.done) != 0)
		bench_fail_errno("sem_destroy", "");
	ferry_close(rv.conn);
	ferry_close(c);
	free(rv.ack_s);
	free(rv.recv_s);
	free(send_s);
	free(payload);
}

/* The disk's own durable small write: 1 KiB append + fdatasync, each
 * timed; a durable send waits for one of these (the store's log flush). */
static void
bench_raw_fsync(const struct bench_cfg *cfg, struct lat_row *r)
{
	char path[BENCH_PATH_MAX];
	uint8_t *buf = bench_alloc(BENCH_MSG_BYTES);
	double *v = calloc(cfg->fsync_max, sizeof(double));
	double t0 = bench_now_s(), t;
	size_t n = 0;
	int fd;

	if (v == NULL)
		bench_fail("calloc", FERRY_ENOMEM, "");
	bench_path(path, cfg->dir, "raw-fsync.dat");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
		  0600);
	if (fd < 0)
		bench_fail_errno("open", path);
	do {
		t = bench_now_s();
		bench_write_full(fd, buf, BENCH_MSG_BYTES, path);
		if (fdatasync(fd) != 0)
			bench_fail_errno("fdatasync", path);
		v[n++] = bench_now_s() - t;
	} while (n < cfg->fsync_max &&
		 bench_now_s() - t0 < cfg->fsync_budget_s);
	if (close(fd) != 0)
		bench_fail_errno("close", path);
	if (unlink(path) != 0)
		bench_fail_errno("unlink", path);
	lat_summarise(r, v, n);
	free(v);
	free(buf);
}

/* One store_put at a time into a fresh store, each timed: what a durable
 * send would cost without the agent. */
static void
bench_put_latency(const struct bench_cfg *cfg, struct lat_row *r)
{
	char path[BENCH_PATH_MAX];
	struct send_worker w;
	struct store *st;
	double *v = calloc(cfg->fsync_max, sizeof(double));
	double t0 = bench_now_s(), t;
	size_t n = 0;

	if (v == NULL)
		bench_fail("calloc", FERRY_ENOMEM, "");
	st = store_only_open(cfg, path);
	memset(&w, 0, sizeof(w));
	w.st = st;
	w.payload = bench_alloc(BENCH_MSG_BYTES);
	do {
		t = bench_now_s();
		if (put_one(&w) != 0)
			bench_fail(r->label, w.err, w.detail);
		v[n++] = bench_now_s() - t;
	} while (n < cfg->fsync_max &&
		 bench_now_s() - t0 < cfg->fsync_budget_s);
	store_close(st);
	bench_rm_tree(path);
	lat_summarise(r, v, n);
	free((void *)w.payload);
	free(v);
}

/* ---------------------------------------------------------------- output */

static double
row_rate(const struct bench_row *r)
{
	return r->secs > 0.0 ? (double)r->count / r->secs : 0.0;
}

/* CPU of the side that stores: this process for a store_put row (the
 * callers and the store's threads), ferryd for a ferry_send row. */
static double
row_cpu_s(const struct bench_row *r)
{
	return r->agent ? r->agent_cpu_s : r->self_cpu_s;
}

static double
row_cpu_us(const struct bench_row *r)
{
	return r->count > 0 ? 1e6 * row_cpu_s(r) / (double)r->count : 0.0;
}

/* The store-only rows around agent row i, merged. */
static void
row_base(const struct bench_row *rows, int i, struct bench_base *b)
{
	const struct bench_row *s1 = &rows[i - 1], *s2 = &rows[i + 1];
	uint64_t n = s1->count + s2->count, cmt = s1->commits + s2->commits;

	b->rate = (row_rate(s1) + row_rate(s2)) / 2.0;
	b->cpu_us = n > 0 ? 1e6 * (row_cpu_s(s1) + row_cpu_s(s2)) / n : 0.0;
	b->opc = cmt > 0 ? (double)(s1->ops + s2->ops) / (double)cmt : 0.0;
	b->drift = row_rate(s1) > 0.0 ? row_rate(s2) / row_rate(s1) : 1.0;
}

static void
print_header(const struct bench_cfg *cfg)
{
	struct bench_machine m;

	bench_machine(cfg->dir, &m);

	printf("ferry agent benchmark: durable 1 KiB sends through ferryd's "
	       "socket against store_put alone, one run, one filesystem\n");
	printf("machine: %ld CPUs, filesystem %s (0x%lx), %s %s %s\n", m.ncpu,
	       m.fs, m.fs_type, m.u.sysname, m.u.release, m.u.machine);
	printf("dir:     %s\n", cfg->dir);
	printf("budget:  %.1f s or a fixed count per throughput row, %.1f s "
	       "or %zu messages of latency%s; MB = 10^6 bytes\n",
	       cfg->budget_s, cfg->lat_budget_s, cfg->lat_max,
	       cfg->quick ? " (BENCH_QUICK=1)" : "");
	printf("ferryd:  %s, private node '%s', %u workers, default limits; "
	       "clients send to %s\n",
	       cfg->ferryd, BENCH_NODE, BENCH_WORKERS, BENCH_DEST);
	printf("ops/s:   durable messages stored per second (each call "
	       "returned after the flush)\n");
	printf("x store: ops/s / the mean of the store-only rows just before "
	       "and after, with as many threads (target in the issue: x%.2f "
	       "or more)\n",
	       BENCH_TARGET);
	printf("ops/cmt: store operations per group commit (store_stats "
	       "ops/commits; not visible through the socket)\n");
	printf("cpu:     user+system CPU of the storing side in the row, and "
	       "per message: this process for store_put (callers and the "
	       "store's threads), ferryd for ferry_send (clients not "
	       "counted)\n");
	if (m.fs_type == 0x01021994UL || m.fs_type == 0x858458f6UL)
		printf("WARNING: %s keeps nothing across power loss and "
		       "makes fsync free: these numbers say nothing about "
		       "a disk\n",
		       m.fs);
}

static void
print_rows(const struct bench_row *rows)
{
	printf("\n%-34s %8s %6s %10s %7s %8s %7s %7s %8s\n", "throughput", "n",
	       "secs", "ops/s", "MB/s", "x store", "ops/cmt", "cpu", "cpu/msg");
	printf("%-34s %8s %6s %10s %7s %8s %7s %7s %8s\n", "----------", "-",
	       "----", "-----", "----", "-------", "-------", "---", "-------");
	for (int i = 0; i < ROW_N; i++) {
		const struct bench_row *r = &rows[i];
		char x_s[32] = "-", cmt_s[32] = "-", cpu_s[32], per_s[32];
		const char *note = "";
		struct bench_base base;
		double x = 0.0;

		if (r->agent && !r->drain)
			row_base(rows, i, &base);
		if (r->drain && row_rate(&rows[ROW_AGENT16]) > 0.0) {
			x = row_rate(r) / row_rate(&rows[ROW_AGENT16]);
			bench_cell(x_s, sizeof(x_s), "x%.2f", x);
			note = "  (of ferry_send, 16 clients)";
		} else if (r->agent && base.rate > 0.0) {
			x = row_rate(r) / base.rate;
			bench_cell(x_s, sizeof(x_s), "x%.2f", x);
			note = x >= (r->pipe ? BENCH_PIPE_TARGET : BENCH_TARGET)
				   ? "  meets the target"
				   : "  BELOW the target";
		}
		if (r->commits > 0)
			bench_cell(cmt_s, sizeof(cmt_s), "%.1f",
				   (double)r->ops / (double)r->commits);
		bench_cell(cpu_s, sizeof(cpu_s), "%.2f s", row_cpu_s(r));
		bench_cell(per_s, sizeof(per_s), "%.0f us", row_cpu_us(r));
		printf("%-34s %8llu %6.2f %10.1f %7.2f %8s %7s %7s %8s%s\n",
		       r->label, (unsigned long long)r->count, r->secs,
		       row_rate(r), row_rate(r) * BENCH_MSG_BYTES / 1e6, x_s,
		       cmt_s, cpu_s, per_s, note);
	}
}

/* Issue 15's two ratios: pipelined sends against the batched put, and
 * the batched put against raw fdatasync'd appends (1 / their mean). */
static void
print_pipelined(const struct bench_row *rows, const struct lat_row *lat)
{
	struct bench_base b;
	double raw, x;

	row_base(rows, ROW_PIPE16, &b);
	x = b.rate > 0.0 ? row_rate(&rows[ROW_PIPE16]) / b.rate : 0.0;
	printf("\npipelined sends, 16 clients: %.1f msg/s, x%.2f of the "
	       "store's batched put (%.1f msg/s, mean of the rows around "
	       "it): %s x%.2f\n",
	       row_rate(&rows[ROW_PIPE16]), x, b.rate,
	       x >= BENCH_PIPE_TARGET ? "meets" : "SHORT of",
	       BENCH_PIPE_TARGET);
	raw = lat[LAT_FSYNC].mean > 0.0 ? 1.0 / lat[LAT_FSYNC].mean : 0.0;
	x = raw > 0.0 ? b.rate / raw : 0.0;
	printf("store batched put: %.1f msg/s, x%.2f of raw fdatasync'd 1 KiB "
	       "appends (%.1f/s, 1 / their mean latency): %s x%.0f\n",
	       b.rate, x, raw, x >= BENCH_BATCH_TARGET ? "meets" : "SHORT of",
	       BENCH_BATCH_TARGET);
	/* For make bench's closing table (bench_report.sh). */
	bench_aim("pipelined sends", row_rate(&rows[ROW_PIPE16]), "msg/s",
		  b.rate, BENCH_PIPE_TARGET, 1);
	bench_aim("pipelined sends: store batched put", b.rate, "msg/s", raw,
		  BENCH_BATCH_TARGET, 1);
}

static void
print_latency(const struct lat_row *lat)
{
	printf("\n%-34s %8s %10s %10s %10s %10s\n",
	       "latency, one message in flight", "n", "mean", "p50", "p99",
	       "max");
	printf("%-34s %8s %10s %10s %10s %10s\n",
	       "------------------------------", "-", "----", "---", "---",
	       "---");
	for (int i = 0; i < LAT_N; i++)
		printf("%-34s %8zu %7.3f ms %7.3f ms %7.3f ms %7.3f ms\n",
		       lat[i].label, lat[i].n, 1e3 * lat[i].mean,
		       1e3 * lat[i].p50, 1e3 * lat[i].p99, 1e3 * lat[i].max);
}

static void
print_agent(const struct bench_agent *ag, double lat_cpu_s)
{
	printf("\nferryd:  %.2f s CPU (user+system) over %.1f s alive, "
	       "%.2f s of it in the latency rows; peak RSS (VmHWM) "
	       "%.1f MiB\n",
	       ag->cpu_s, ag->alive_s, lat_cpu_s, (double)ag->hwm_kib / 1024.0);
	bench_aim("memory",
		  ag->hwm_kib > 0 ? (double)ag->hwm_kib / 1024.0 : -1.0, "MiB",
		  64.0, 1.0, 0);
	if (WIFEXITED(ag->exit_status))
		printf("         stopped by SIGTERM in %.2f s, exit status "
		       "%d\n",
		       ag->stop_s, WEXITSTATUS(ag->exit_status));
	else
		printf("         stopped by SIGTERM in %.2f s, killed by "
		       "signal %d\n",
		       ag->stop_s, WTERMSIG(ag->exit_status));
}

/* 1 client: what the agent adds per message, and whether its own CPU
 * time explains it or it is waiting (thread hand-offs, the socket). */
static void
hint_one_client(const struct bench_row *rows)
{
	const struct bench_row *a = &rows[ROW_AGENT1];
	struct bench_base s;
	double x, put_us, send_us, add_us, extra_cpu_us;

	row_base(rows, ROW_AGENT1, &s);
	if (s.rate <= 0.0 || row_rate(a) <= 0.0)
		return;
	x = row_rate(a) / s.rate;
	put_us = 1e6 / s.rate;
	send_us = 1e6 / row_rate(a);
	add_us = send_us - put_us;
	extra_cpu_us = row_cpu_us(a) - s.cpu_us;
	printf("  1 client: x%.2f of store_put (%s the x%.2f target): a send "
	       "takes %.0f us against %.0f us for a put; ferryd spends "
	       "%.0f us of CPU per message, the store alone %.0f us",
	       x, x >= BENCH_TARGET ? "meets" : "below", BENCH_TARGET, send_us,
	       put_us, row_cpu_us(a), s.cpu_us);
	if (x >= BENCH_TARGET)
		printf(": the flush, not the agent, bounds it\n");
	else if (extra_cpu_us >= 0.6 * add_us)
		printf(": the agent's own CPU explains most of the %.0f us it "
		       "adds, so its CPU bounds it\n",
		       add_us);
	else
		printf(": of the %.0f us it adds, its extra CPU covers "
		       "%.0f%%; the rest is waiting (hand-offs between the "
		       "loop, a worker and the store writer, the socket round "
		       "trip)\n",
		       add_us,
		       extra_cpu_us > 0.0 ? 100.0 * extra_cpu_us / add_us
					  : 0.0);
}

/* 16 clients: are the CPUs full (clients and agent share them), or does
 * the agent serialise what the store would group? */
static void
hint_sixteen(const struct bench_row *rows)
{
	const struct bench_row *a = &rows[ROW_AGENT16];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double cap = a->secs * (double)(ncpu > 0 ? ncpu : 1);
	double busy = cap > 0.0 ? (a->agent_cpu_s + a->self_cpu_s) / cap : 0.0;
	struct bench_base s;
	double x;

	row_base(rows, ROW_AGENT16, &s);
	if (s.rate <= 0.0 || row_rate(a) <= 0.0)
		return;
	x = row_rate(a) / s.rate;
	printf("  %u clients: x%.2f of store_put from %u threads (%s the "
	       "x%.2f target); ",
	       BENCH_CLIENTS, x, BENCH_CLIENTS,
	       x >= BENCH_TARGET ? "meets" : "below", BENCH_TARGET);
	if (busy >= 0.85)
		printf("the %ld CPUs were %.0f%% busy (ferryd %.2f s, clients "
		       "%.2f s of %.2f s): CPU-bound, clients and agent "
		       "compete for the CPUs\n",
		       ncpu, 100.0 * busy, a->agent_cpu_s, a->self_cpu_s, cap);
	else if (x >= BENCH_TARGET)
		printf("the CPUs were %.0f%% busy, so the group commit (%.1f "
		       "ops/commit store-only) carries through the agent\n",
		       100.0 * busy, s.opc);
	else
		printf("the CPUs were only %.0f%% busy: the agent waits rather "
		       "than computes, and sends share fewer flushes than "
		       "the %.1f ops/commit store_put reaches (are the "
		       "sends serialised before the store?)\n",
		       100.0 * busy, s.opc);
}

/* The store-only figure moved between before and after an agent row:
 * the ratio divides by their mean, and is only as good as it. */
static void
hint_drift(const struct bench_row *rows)
{
	static const int agent_rows[] = {ROW_AGENT1, ROW_AGENT16, ROW_PIPE16};

	for (size_t i = 0; i < 3; i++) {
		struct bench_base s;
		int r = agent_rows[i];

		row_base(rows, r, &s);
		if (s.drift < 0.8 || s.drift > 1.25)
			printf("  careful: store_put went from %.0f/s to "
			       "%.0f/s around '%s'; its ratio (against the "
			       "mean) is that noisy: run again before "
			       "quoting\n",
			       row_rate(&rows[r - 1]), row_rate(&rows[r + 1]),
			       rows[r].label);
	}
}

/* A put against the disk's flush, a send against the put, delivery
 * against the send, and whose the long tail is: the disk's or the agent's. */
static void
hint_latency(const struct lat_row *lat)
{
	const struct lat_row *f = &lat[LAT_FSYNC], *put = &lat[LAT_PUT],
			     *snd = &lat[LAT_SEND], *rcv = &lat[LAT_RECV];
	double k = f->p50 > 0.0 ? put->p50 / f->p50 : 0.0;
	const char *verdict;

	if (k <= 0.0 || snd->p50 <= 0.0 || rcv->p50 <= 0.0)
		return;
	if (k < 0.75)
		verdict = "cheaper than an appending fdatasync (a "
			  "preallocated log, or the disk drifted)";
	else if (k < 1.5)
		verdict = "one flush per commit";
	else
		verdict = "its commit costs more than an appending fdatasync";
	printf("  one store_put takes %.2f ms at the median, x%.2f of a raw "
	       "fdatasync's (%.2f ms): %s\n",
	       1e3 * put->p50, k, 1e3 * f->p50, verdict);
	printf("  one durable ferry_send takes %.2f ms, x%.2f of store_put: "
	       "socket, loop and thread hand-offs add %.0f us (medians)\n",
	       1e3 * snd->p50, snd->p50 / put->p50,
	       1e6 * (snd->p50 - put->p50));
	printf("  a blocked ferry_recv has the payload %.2f ms after the send "
	       "began, %.0f us after ferry_send returns (medians): %s\n",
	       1e3 * rcv->p50, 1e6 * (rcv->p50 - snd->p50),
	       rcv->p50 <= 1.2 * snd->p50
		   ? "delivery adds little to the send"
		   : "waking a waiting receiver costs that much on top "
		     "of the send");
	if (rcv->p99 > 5.0 * rcv->p50) {
		printf("  the tail is long: delivery's p99 is x%.1f its "
		       "median, ",
		       rcv->p99 / rcv->p50);
		if (f->p99 > 0.5 * rcv->p99 / rcv->p50 * f->p50)
			printf("and the raw fdatasync's p99 is x%.1f its own: "
			       "the disk's flush stalls explain it (every "
			       "ratio above is as noisy; run again before "
			       "quoting)\n",
			       f->p99 / f->p50);
		else
			printf("but the raw fdatasync's p99 is only x%.1f its "
			       "own: the stalls are the agent's or the "
			       "scheduler's, not the disk's\n",
			       f->p99 / f->p50);
	}
}

/* ----------------------------------------------------------------- main */

static void
bench_cfg_init(struct bench_cfg *cfg, const char *dir, const char *ferryd)
{
	const char *q = getenv("BENCH_QUICK");

	memset(cfg, 0, sizeof(*cfg));
	if (realpath(dir, cfg->dir) == NULL)
		bench_fail_errno("realpath", dir);
	cfg->ferryd = ferryd;
	cfg->quick = q != NULL && q[0] != '\0' && strcmp(q, "0") != 0;
	cfg->budget_s = 2.5;
	cfg->small_max = 1000000;
	cfg->lat_budget_s = 8.0;
	cfg->lat_max = 2000;
	cfg->fsync_budget_s = 3.0;
	cfg->fsync_max = 200;
	if (cfg->quick) {
		cfg->budget_s /= BENCH_QUICK_DIV;
		cfg->small_max /= BENCH_QUICK_DIV;
		cfg->lat_budget_s /= BENCH_QUICK_DIV;
		cfg->lat_max /= BENCH_QUICK_DIV;
		cfg->fsync_budget_s /= BENCH_QUICK_DIV;
		cfg->fsync_max /= 2;
	}
}

static void
progress_row(const struct bench_row *r)
{
	fprintf(stderr, "bench_agent: %-34s %10.1f ops/s\n", r->label,
		row_rate(r));
}

static void
progress_lat(const struct lat_row *r)
{
	fprintf(stderr, "bench_agent: %-34s p50 %.3f ms (n %zu)\n", r->label,
		1e3 * r->p50, r->n);
}

int
main(int argc, char **argv)
{
	struct bench_cfg cfg;
	struct bench_agent ag;
	struct stat sb;
	struct bench_row rows[ROW_N] = {
	    [ROW_STORE1] = {.label = "store_put 1 KiB, 1 thread"},
	    [ROW_AGENT1] = {.label = "ferry_send 1 KiB, 1 client"},
	    [ROW_STORE1_AGAIN] = {.label = "store_put 1 KiB, 1 thread, again"},
	    [ROW_STORE16] = {.label = "store_put 1 KiB, 16 threads"},
	    [ROW_AGENT16] = {.label = "ferry_send 1 KiB, 16 clients"},
	    [ROW_STORE16_AGAIN] = {.label =
				       "store_put 1 KiB, 16 threads, again"},
	    [ROW_BATCH] = {.label = "store batched put 1 KiB, 100/call",
			   .pipe = 1},
	    [ROW_PIPE16] = {.label = "pipelined 1 KiB sends, 16 clients",
			    .pipe = 1},
	    [ROW_BATCH_AGAIN] = {.label = "store batched put, again",
				 .pipe = 1},
	    [ROW_DRAIN16] = {.label = "recv+ack 1 KiB, 16 consumers"},
	};
	struct lat_row lat[LAT_N] = {
	    [LAT_FSYNC] = {.label = "raw 1 KiB append+fdatasync"},
	    [LAT_PUT] = {.label = "store_put 1 KiB, call to return"},
	    [LAT_SEND] = {.label = "ferry_send 1 KiB, call to return"},
	    [LAT_RECV] = {.label = "send start to ferry_recv payload"},
	    [LAT_ACK] = {.label = "ferry_ack, call to return"},
	};
	double t_start, lat_cpu_s = 0.0;
	int ok;

	bench_util_init("bench_agent", agent_abort);
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: bench_agent DIR [FERRYD]   "
				"(BENCH_QUICK=1 for a short run; FERRYD "
				"defaults to ferryd in PATH)\n");
		return 2;
	}
	if (stat(argv[1], &sb) != 0)
		bench_fail_errno("stat", argv[1]);
	if (!S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "bench_agent: %s: not a directory\n", argv[1]);
		return 2;
	}
	/* A client writing to a ferryd that died gets EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	bench_cfg_init(&cfg, argv[1], argc == 3 ? argv[2] : "ferryd");
	t_start = bench_now_s();

	/* ferryd first: it is forked while this process has one thread,
	 * and sits idle (no CPU) through the store-only rows. */
	agent_start(&ag, &cfg);
	bench_store_row(&cfg, 1, &rows[ROW_STORE1]);
	progress_row(&rows[ROW_STORE1]);
	bench_sends(&cfg, NULL, &ag, 1, &rows[ROW_AGENT1]);
	progress_row(&rows[ROW_AGENT1]);
	bench_agent_settle(&ag, &rows[ROW_AGENT1]);
	bench_store_row(&cfg, 1, &rows[ROW_STORE1_AGAIN]);
	progress_row(&rows[ROW_STORE1_AGAIN]);
	bench_store_row(&cfg, BENCH_CLIENTS, &rows[ROW_STORE16]);
	progress_row(&rows[ROW_STORE16]);
	bench_sends(&cfg, NULL, &ag, BENCH_CLIENTS, &rows[ROW_AGENT16]);
	progress_row(&rows[ROW_AGENT16]);
	bench_agent_settle(&ag, &rows[ROW_AGENT16]);
	bench_store_row(&cfg, BENCH_CLIENTS, &rows[ROW_STORE16_AGAIN]);
	progress_row(&rows[ROW_STORE16_AGAIN]);
	bench_store_row(&cfg, 1, &rows[ROW_BATCH]);
	progress_row(&rows[ROW_BATCH]);
	bench_sends(&cfg, NULL, &ag, BENCH_CLIENTS, &rows[ROW_PIPE16]);
	progress_row(&rows[ROW_PIPE16]);
	bench_drain(&cfg, &ag, BENCH_CLIENTS, rows[ROW_PIPE16].count,
		    &rows[ROW_DRAIN16]);
	progress_row(&rows[ROW_DRAIN16]);
	bench_store_row(&cfg, 1, &rows[ROW_BATCH_AGAIN]);
	progress_row(&rows[ROW_BATCH_AGAIN]);
	/* The yardsticks just before the latency row they explain. */
	bench_raw_fsync(&cfg, &lat[LAT_FSYNC]);
	progress_lat(&lat[LAT_FSYNC]);
	bench_put_latency(&cfg, &lat[LAT_PUT]);
	progress_lat(&lat[LAT_PUT]);
	bench_latency(&cfg, &ag, lat, &lat_cpu_s);
	progress_lat(&lat[LAT_SEND]);
	progress_lat(&lat[LAT_RECV]);
	progress_lat(&lat[LAT_ACK]);
	agent_stop(&ag);
	bench_rm_tree(ag.node_dir);

	print_header(&cfg);
	print_rows(rows);
	print_pipelined(rows, lat);
	print_latency(lat);
	print_agent(&ag, lat_cpu_s);
	printf("\nwhat bounds it:\n");
	hint_one_client(rows);
	hint_sixteen(rows);
	hint_drift(rows);
	hint_latency(lat);
	ok = WIFEXITED(ag.exit_status) && WEXITSTATUS(ag.exit_status) == 0;
	if (!ok)
		printf("  ferryd did not stop cleanly after SIGTERM (see "
		       "above): the run counts as failed\n");
	printf("\nwhole run: %.1f s\n", bench_now_s() - t_start);
	if (fflush(stdout) != 0 || ferror(stdout))
		bench_fail_errno("writing", "stdout");
	return ok ? 0 : 1;
}
