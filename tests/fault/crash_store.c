/*
 * crash_store.c - fault test: kill -9 a process in the middle of store
 * commits, recover, and check that nothing it was told is durable was lost.
 *
 * The parent runs this same program with --child: the child opens the store
 * and commits messages as fast as it can (store_put of 1 KiB and of random
 * sizes up to 300 KiB, store_put_batch of 10, now and then a streamed writer
 * of 1-3 MiB).  After every call that returned 0 the child writes the ids to
 * a pipe.  After a random 0-300 ms the parent kills it with SIGKILL, reopens
 * the store (store_open runs recovery) and checks that
 *  1. every id the child reported is present, queued, and its payload reads
 *     back complete and byte for byte right;
 *  2. every other message in the queue (committed but not reported before
 *     the kill) is complete and right too: a commit is all or nothing;
 *  3. browse, the queue counters and the store totals agree;
 *  4. a stream cut by the kill is either absent or resumes where its last
 *     durable byte was, and completes (or aborts) cleanly;
 *  5. messages acked in earlier cycles stay gone.
 * It then acks the oldest messages to keep the store small, closes it and
 * starts the next cycle on the same directory.
 *
 * A payload is a function of its id: the id carries the payload length, and
 * the bytes come from a counter-based generator keyed by the id, so the
 * parent can recompute any message without being told about it.
 *
 * Environment: FERRY_TEST_LONG=1 runs 500 cycles instead of 50;
 * FERRY_TEST_SEED=N repeats a run's choices (not its timing).
 * Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/fault/faultutil.h"
#include "tests/integration/itutil.h"

#define T_PASS	  0
#define T_FAIL	  1
#define T_SKIP	  77
#define T_HARNESS 99

#define NODE		 "crash"
#define QUEUE		 "crash/q"
#define CYCLES_DEFAULT	 50
#define CYCLES_LONG	 500
#define KILL_MAX_MS	 300
#define SMALL_BYTES	 1024u
#define PUT_MAX_BYTES	 (300u * 1024u)
#define BATCH_N		 10
#define STREAM_MIN_BYTES (1u << 20)
#define STREAM_MAX_BYTES (3u << 20)
#define STREAM_PIECE_MAX (128u * 1024u)
#define CHILD_OPS_MAX	 4000	    /* then the child waits to be killed */
#define KEEP_BYTES	 (8u << 20) /* queue bytes kept between cycles */
#define ACKED_CHECK_MAX	 2000	    /* acked ids re-checked per cycle */
#define FAIL_LINES_MAX	 200	    /* failure lines printed at most */
#define IO_BYTES	 (64u * 1024u)
#define FREE_NEEDED	 (1ull << 30) /* skip below this much free space */
/* A report: type, 3 pad, be32 offset, id, 4 pad, be32 length. */
#define REC_BYTES 32
#define LEASE_MS  60000

#define KIND_PUT    1
#define KIND_BATCH  2
#define KIND_STREAM 3

#define REC_STREAM    'S'   /* about to open a writer for this id */
#define REC_COMMIT    'C'   /* this id was committed: the call returned 0 */
#define REC_OPENED    'O'   /* store_open returned 0 (id all zero) */
#define REC_SUSPENDED 'P'   /* suspend made offset bytes of id durable */
#define OPEN_WAIT_MS  20000 /* a child that takes longer to open fails */

/* ------------------------------------------------------------ payloads */

static uint32_t
rng_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(fault_rng_next(s) % n);
}

/*
 * Id layout: be32 cycle, be32 sequence in the cycle, be32 payload length,
 * kind, 3 bytes of the run's salt.  Unique within a run.
 */
static void
id_make(uint8_t id[FERRY_ID_LEN], uint32_t cycle, uint32_t seq, uint32_t len,
	int kind, uint64_t salt)
{
	fault_put_be32(id, cycle);
	fault_put_be32(id + 4, seq);
	fault_put_be32(id + 8, len);
	id[12] = (uint8_t)kind;
	id[13] = (uint8_t)(salt >> 16);
	id[14] = (uint8_t)(salt >> 8);
	id[15] = (uint8_t)salt;
}

/* --------------------------------------------------------------- child */

struct child {
	struct store *st;
	int fd;
	uint32_t cycle;
	uint32_t seq;
	uint64_t rng;
	uint64_t salt;
	uint8_t *bufs; /* BATCH_N payloads of up to PUT_MAX_BYTES */
};

static void
child_die(const char *what, int rc)
{
	fprintf(stderr, "crash_store: child: %s: %s (%s)\n", what,
		ferry_strerror(rc), store_last_error());
	_exit(3);
}

static void
child_report_at(struct child *c, int type, const uint8_t id[FERRY_ID_LEN],
		uint32_t offset)
{
	uint8_t rec[REC_BYTES];
	uint32_t len = fault_id_len(id);

	memset(rec, 0, sizeof(rec));
	rec[0] = (uint8_t)type;
	fault_put_be32(rec + 4, offset);
	memcpy(rec + 8, id, FERRY_ID_LEN);
	fault_put_be32(rec + 28, len);
	/* 32 bytes to a pipe: one atomic write */
	if (it_write_all(c->fd, rec, sizeof(rec)) != 0)
		_exit(4);
}

static void
child_report(struct child *c, int type, const uint8_t id[FERRY_ID_LEN])
{
	child_report_at(c, type, id, 0);
}

static void
child_msg(struct child *c, struct ferry_msg *m, uint32_t len, int kind)
{
	ferry_msg_init(m);
	id_make(m->id, c->cycle, c->seq++, len, kind, c->salt);
	strcpy(m->src_node, NODE);
	strcpy(m->dst_node, NODE);
	strcpy(m->dst_queue, QUEUE);
}

static uint32_t
child_size(struct child *c)
{
	if (rng_below(&c->rng, 100) < 60)
		return SMALL_BYTES;
	return rng_below(&c->rng, PUT_MAX_BYTES + 1);
}

static void
child_put(struct child *c)
{
	struct ferry_msg m;
	uint32_t len = child_size(c);
	int rc;

	child_msg(c, &m, len, KIND_PUT);
	fault_payload_fill(fault_payload_key(m.id), 0, c->bufs, len);
	rc = store_put(c->st, &m, c->bufs, len);
	if (rc != 0)
		child_die("store_put", rc);
	child_report(c, REC_COMMIT, m.id);
}

static void
child_batch(struct child *c)
{
	struct ferry_msg m[BATCH_N];
	struct store_put_req reqs[BATCH_N] = {{0}};
	int rc;

	for (size_t i = 0; i < BATCH_N; i++) {
		uint32_t len = child_size(c);
		uint8_t *buf = c->bufs + i * PUT_MAX_BYTES;

		child_msg(c, &m[i], len, KIND_BATCH);
		fault_payload_fill(fault_payload_key(m[i].id), 0, buf, len);
		reqs[i].msg = &m[i];
		reqs[i].payload = buf;
		reqs[i].len = len;
		reqs[i].result = INT_MIN;
	}
	rc = store_put_batch(c->st, reqs, BATCH_N);
	if (rc != 0)
		child_die("store_put_batch", rc);
	for (size_t i = 0; i < BATCH_N; i++)
		if (reqs[i].result != 0)
			child_die("store_put_batch item", reqs[i].result);
	for (size_t i = 0; i < BATCH_N; i++)
		child_report(c, REC_COMMIT, m[i].id);
}

static void
child_stream(struct child *c)
{
	struct ferry_msg m;
	struct store_writer *w = NULL;
	uint32_t len =
	    STREAM_MIN_BYTES +
	    rng_below(&c->rng, STREAM_MAX_BYTES - STREAM_MIN_BYTES + 1);
	/* Half the streams suspend and resume once on the way. */
	uint64_t key, off = 0, pause_at = UINT64_MAX, roff = 0;
	int rc;

	if (rng_below(&c->rng, 2) == 0)
		pause_at = rng_below(&c->rng, len);
	child_msg(c, &m, len, KIND_STREAM);
	key = fault_payload_key(m.id);
	/* Told before the open, so the parent can look for the partial. */
	child_report(c, REC_STREAM, m.id);
	rc = store_writer_open(c->st, &m, &w);
	if (rc != 0)
		child_die("store_writer_open", rc);
	while (off < len) {
		size_t n = 1 + rng_below(&c->rng, STREAM_PIECE_MAX);

		if (n > len - off)
			n = (size_t)(len - off);
		fault_payload_fill(key, off, c->bufs, n);
		rc = store_writer_write(w, c->bufs, n);
		if (rc != 0)
			child_die("store_writer_write", rc);
		off += n;
		if (off < pause_at)
			continue;
		pause_at = UINT64_MAX;
		rc = store_writer_suspend(w);
		if (rc != 0)
			child_die("store_writer_suspend", rc);
		child_report_at(c, REC_SUSPENDED, m.id, (uint32_t)off);
		rc = store_writer_resume(c->st, m.id, &w, &roff);
		if (rc != 0)
			child_die("store_writer_resume", rc);
		if (roff != off) {
			fprintf(stderr,
				"crash_store: child: id %s: resumed "
				"at %" PRIu64 " after suspend at %" PRIu64 "\n",
				fault_id_hex(m.id), roff, off);
			_exit(3);
		}
	}
	rc = store_writer_commit(w);
	if (rc != 0)
		child_die("store_writer_commit", rc);
	child_report(c, REC_COMMIT, m.id);
}

static int
child_main(const char *dir, const char *seed_s, const char *cycle_s,
	   const char *fd_s)
{
	struct store_opts o;
	struct child c;
	int rc;

	/* Never outlive the parent: a lone child would fill the disk. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		return 2;
	memset(&c, 0, sizeof(c));
	c.rng = strtoull(seed_s, NULL, 10);
	c.salt = c.rng;
	c.cycle = (uint32_t)strtoul(cycle_s, NULL, 10);
	c.fd = (int)strtol(fd_s, NULL, 10);
	c.rng ^= fault_mix64(c.cycle + 1);
	c.bufs = malloc((size_t)BATCH_N * PUT_MAX_BYTES);
	if (c.bufs == NULL)
		return 2;
	store_opts_init(&o);
	o.node_name = NODE;
	o.disk_reserve_bytes = 16u << 20;
	rc = store_open(dir, &o, &c.st);
	if (rc != 0)
		child_die("store_open", rc);
	memset(c.bufs, 0, FERRY_ID_LEN);
	child_report(&c, REC_OPENED, c.bufs);
	for (int i = 0; i < CHILD_OPS_MAX; i++) {
		uint32_t r = rng_below(&c.rng, 100);

		if (r < 70)
			child_put(&c);
		else if (r < 92)
			child_batch(&c);
		else
			child_stream(&c);
	}
	/* Enough for one cycle: wait for the SIGKILL. */
	for (;;)
		pause();
}

/* -------------------------------------------------------------- parent */

struct want {
	uint8_t id[FERRY_ID_LEN];
	int gone; /* acked by the parent */
	int bad;  /* found missing or wrong: reported already */
};

struct idvec {
	uint8_t (*ids)[FERRY_ID_LEN];
	size_t n, cap;
};

struct run {
	const char *dir;
	const char *self;
	uint64_t rng;
	uint64_t seed;
	uint32_t cycle;
	struct want *want; /* reported or completed, not yet acked */
	size_t n_want, cap_want;
	int want_sorted;
	/* The stream opened and not committed when the kill came. */
	uint8_t pend_id[FERRY_ID_LEN];
	int pend;
	uint32_t pend_durable; /* offset a suspend made durable */
	int opened;	       /* the child said its store_open returned */
	struct idvec acked;
	uint8_t *buf, *exp;
	/* counters for the summary */
	unsigned failures;
	uint64_t reported, checked, unreported, resumed, aborted, lost;
	unsigned quiet_cycles, open_kills;
	int64_t recover_ms_max;
};

static void fail(struct run *r, const uint8_t *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct run *r, const uint8_t *id, const char *fmt, ...)
{
	char where[32];
	va_list ap;

	snprintf(where, sizeof(where), "cycle %" PRIu32, r->cycle);
	va_start(ap, fmt);
	fault_vfail(&r->failures, FAIL_LINES_MAX, where, id, fmt, ap);
	va_end(ap);
}

static int
idvec_add(struct idvec *v, const uint8_t id[FERRY_ID_LEN])
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 64;
		void *p = realloc(v->ids, cap * sizeof(*v->ids));

		if (p == NULL)
			return -1;
		v->ids = p;
		v->cap = cap;
	}
	memcpy(v->ids[v->n++], id, FERRY_ID_LEN);
	return 0;
}

static int
want_add(struct run *r, const uint8_t id[FERRY_ID_LEN])
{
	if (r->n_want == r->cap_want) {
		size_t cap = r->cap_want ? 2 * r->cap_want : 256;
		void *p = realloc(r->want, cap * sizeof(*r->want));

		if (p == NULL)
			return -1;
		r->want = p;
		r->cap_want = cap;
	}
	memcpy(r->want[r->n_want].id, id, FERRY_ID_LEN);
	r->want[r->n_want].gone = 0;
	r->want[r->n_want].bad = 0;
	r->n_want++;
	r->want_sorted = 0;
	return 0;
}

static int
want_cmp(const void *a, const void *b)
{
	return memcmp(a, b, FERRY_ID_LEN);
}

static struct want *
want_find(struct run *r, const uint8_t id[FERRY_ID_LEN])
{
	if (r->n_want == 0)
		return NULL; /* want may be NULL: no qsort/bsearch on it */
	if (!r->want_sorted) {
		qsort(r->want, r->n_want, sizeof(*r->want), want_cmp);
		r->want_sorted = 1;
	}
	return bsearch(id, r->want, r->n_want, sizeof(*r->want), want_cmp);
}

/* Drop the acked entries. */
static void
want_compact(struct run *r)
{
	size_t j = 0;

	for (size_t i = 0; i < r->n_want; i++)
		if (!r->want[i].gone)
			r->want[j++] = r->want[i];
	r->n_want = j;
}

/*
 * Read the whole payload of id and compare it with what the generator
 * says.  Returns 0 when it is right; reports and returns -1 otherwise.
 */
static int
verify_payload(struct run *r, struct store *st, const uint8_t *id,
	       uint64_t want_len, const char *what)
{
	struct store_reader *rd = NULL;
	uint64_t key = fault_payload_key(id), off = 0;
	int rc, ret = -1;

	rc = store_reader_open(st, id, &rd);
	if (rc != 0) {
		fail(r, id, "%s: store_reader_open: %s", what,
		     ferry_strerror(rc));
		return -1;
	}
	for (;;) {
		size_t n = 0;

		rc = store_reader_read(rd, r->buf, IO_BYTES, &n);
		if (rc != 0) {
			fail(r, id, "%s: store_reader_read at %" PRIu64 ": %s",
			     what, off, ferry_strerror(rc));
			goto out;
		}
		if (n == 0)
			break;
		if (n > IO_BYTES || off + n > want_len) {
			fail(r, id, "%s: payload longer than %" PRIu64 " bytes",
			     what, want_len);
			goto out;
		}
		fault_payload_fill(key, off, r->exp, n);
		if (memcmp(r->buf, r->exp, n) != 0) {
			size_t i = 0;

			while (r->buf[i] == r->exp[i])
				i++;
			fail(r, id,
			     "%s: payload byte %" PRIu64 " is 0x%02x, want "
			     "0x%02x (length %" PRIu64 ")",
			     what, off + i, r->buf[i], r->exp[i], want_len);
			goto out;
		}
		off += n;
	}
	if (off != want_len) {
		fail(r, id, "%s: payload is %" PRIu64 " bytes, want %" PRIu64,
		     what, off, want_len);
		goto out;
	}
	ret = 0;
out:
	store_reader_close(rd);
	return ret;
}

/* Header and payload of a message that must be queued in QUEUE. */
static int
verify_msg(struct run *r, struct store *st, const uint8_t *id, const char *what)
{
	struct store_msg_info info;
	uint64_t want_len = fault_id_len(id);
	int rc;

	r->checked++;
	rc = store_get(st, id, &info);
	if (rc != 0) {
		fail(r, id, "%s: store_get: %s (%s)", what, ferry_strerror(rc),
		     store_last_error());
		return -1;
	}
	if (memcmp(info.msg.id, id, FERRY_ID_LEN) != 0 ||
	    info.state != STORE_QUEUED || strcmp(info.queue, QUEUE) != 0 ||
	    strcmp(info.msg.dst_queue, QUEUE) != 0) {
		fail(r, id,
		     "%s: header says state %s queue \"%s\", want "
		     "queued in \"%s\"",
		     what, store_state_name(info.state), info.queue, QUEUE);
		return -1;
	}
	if (info.msg.payload_len != want_len) {
		fail(r, id, "%s: payload_len %" PRIu64 ", want %" PRIu64, what,
		     info.msg.payload_len, want_len);
		return -1;
	}
	return verify_payload(r, st, id, want_len, what);
}

/* ------------------------------------------------------ one crash cycle */

static void
take_record(struct run *r, const uint8_t *rec)
{
	const uint8_t *id = rec + 8;

	if (fault_get_be32(rec + 28) != fault_id_len(id))
		fail(r, id,
		     "child reported length %" PRIu32 ", id says %" PRIu32,
		     fault_get_be32(rec + 28), fault_id_len(id));
	if (rec[0] == REC_OPENED) {
		r->opened = 1;
		return;
	}
	if (rec[0] == REC_STREAM) {
		memcpy(r->pend_id, id, FERRY_ID_LEN);
		r->pend = 1;
		r->pend_durable = 0;
		return;
	}
	if (rec[0] == REC_SUSPENDED) {
		r->pend_durable = fault_get_be32(rec + 4);
		return;
	}
	if (id[12] == KIND_STREAM)
		r->pend = 0;
	r->reported++;
	if (want_add(r, id) != 0)
		fail(r, id, "out of memory");
}

/*
 * Read the child's reports until deadline (or EOF when deadline is -1), or
 * with until_open until the child says it has opened the store.
 * Returns 2 when it has, 1 at EOF, 0 at the deadline, -1 on a read error.
 */
static int
read_reports(struct run *r, int fd, int64_t deadline, int until_open,
	     uint8_t *acc, size_t *have)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int timeout = -1;
		ssize_t n;

		if (deadline >= 0) {
			int64_t left = deadline - it_now_ms();

			if (left <= 0)
				return 0;
			timeout = (int)left;
		}
		if (poll(&p, 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p.revents == 0)
			continue;
		n = read(fd, acc + *have, REC_BYTES * 64 - *have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 1;
		*have += (size_t)n;
		while (*have >= REC_BYTES) {
			take_record(r, acc);
			*have -= REC_BYTES;
			memmove(acc, acc + REC_BYTES, *have);
		}
		if (until_open && r->opened)
			return 2;
	}
}

static pid_t
spawn_child(struct run *r, int *rfd)
{
	int p[2];
	pid_t pid;
	char seed_s[32], cycle_s[16], fd_s[16];

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	/* the buffers fit any value: the results need no check */
	(void)snprintf(seed_s, sizeof(seed_s), "%" PRIu64, r->seed);
	(void)snprintf(cycle_s, sizeof(cycle_s), "%" PRIu32, r->cycle);
	(void)snprintf(fd_s, sizeof(fd_s), "%d", p[1]);
	pid = fork();
	if (pid < 0) {
		(void)close(p[0]);
		(void)close(p[1]);
		return -1;
	}
	if (pid == 0) {
		if (fcntl(p[1], F_SETFD, 0) != 0)
			_exit(2);
		execl(r->self, r->self, "--child", r->dir, seed_s, cycle_s,
		      fd_s, (char *)NULL);
		_exit(2);
	}
	if (close(p[1]) != 0) {
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		(void)close(p[0]);
		return -1;
	}
	*rfd = p[0];
	return pid;
}

/* Run the child, kill it, collect its reports.  0, or -1: harness error. */
static int
crash_child(struct run *r)
{
	uint8_t acc[REC_BYTES * 64];
	size_t have = 0;
	int fd = -1, status, eof = 2, ret = -1;
	int64_t delay = rng_below(&r->rng, KILL_MAX_MS + 1);
	/* Mostly count the delay from the child's open, so that the kill
	 * lands among commits; one time in four from its start, so that it
	 * lands in open and recovery too. */
	int from_open = rng_below(&r->rng, 4) != 0;
	pid_t pid;
	uint64_t before = r->reported;

	r->pend = 0;
	r->opened = 0;
	pid = spawn_child(r, &fd);
	if (pid < 0) {
		fprintf(stderr, "crash_store: fork: %s\n", strerror(errno));
		return -1;
	}
	if (from_open) {
		eof = read_reports(r, fd, it_now_ms() + OPEN_WAIT_MS, 1, acc,
				   &have);
		if (eof == 0)
			fail(r, NULL, "child did not open the store in %d ms",
			     OPEN_WAIT_MS);
	}
	if (eof == 2)
		eof = read_reports(r, fd, it_now_ms() + delay, 0, acc, &have);
	if (eof == 1)
		fail(r, NULL, "child ended before it was killed");
	if (eof < 0 || (kill(pid, SIGKILL) != 0 && errno != ESRCH))
		goto out;
	if (!r->opened)
		r->open_kills++;
	if (eof == 0 && read_reports(r, fd, -1, 0, acc, &have) < 0)
		goto out;
	if (have != 0)
		fail(r, NULL, "torn report from the child (%zu bytes)", have);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			goto out;
	if (WIFEXITED(status))
		fail(r, NULL, "child exited with status %d",
		     WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
		fail(r, NULL, "child died of signal %d", WTERMSIG(status));
	if (r->reported == before)
		r->quiet_cycles++;
	ret = 0;
out:
	if (fd >= 0)
		(void)close(fd); /* read side of a pipe: nothing to lose */
	return ret;
}

/* Finish (or abort) a stream the kill cut, from its last durable byte. */
static void
resume_stream(struct run *r, struct store *st, const uint8_t *id)
{
	struct store_writer *w = NULL;
	uint64_t off = 0, len = fault_id_len(id), key = fault_payload_key(id);
	int rc;

	rc = store_writer_resume(st, id, &w, &off);
	if (rc == FERRY_ENOTFOUND || rc == FERRY_EDUPLICATE) {
		struct store_msg_info info;

		if (store_get(st, id, &info) != 0) {
			if (r->pend_durable != 0)
				fail(r, id,
				     "suspended at %" PRIu32 " bytes, "
				     "not resumable after the kill: %s",
				     r->pend_durable, ferry_strerror(rc));
			r->lost++; /* nothing of it was durable yet */
			return;
		}
		/* committed, killed before it could tell us: check it too */
		r->unreported++;
		if (want_add(r, id) != 0)
			fail(r, id, "out of memory");
		return;
	}
	if (rc != 0) {
		fail(r, id, "store_writer_resume: %s (%s)", ferry_strerror(rc),
		     store_last_error());
		return;
	}
	if (off > len || off < r->pend_durable) {
		fail(r, id,
		     "resume offset %" PRIu64 ", want %" PRIu32 "..%" PRIu64
		     " (suspended at %" PRIu32 ")",
		     off, r->pend_durable, len, r->pend_durable);
		store_writer_abort(w);
		return;
	}
	if (rng_below(&r->rng, 4) == 0) {
		store_writer_abort(w);
		r->aborted++;
		rc = store_writer_resume(st, id, &w, &off);
		if (rc == 0) {
			store_writer_abort(w);
			fail(r, id, "stream still resumable after abort");
		} else if (rc != FERRY_ENOTFOUND) {
			fail(r, id, "resume after abort: %s, want %s",
			     ferry_strerror(rc),
			     ferry_strerror(FERRY_ENOTFOUND));
		}
		return;
	}
	while (off < len) {
		size_t n = IO_BYTES;

		if (len - off < n)
			n = (size_t)(len - off);

		fault_payload_fill(key, off, r->exp, n);
		rc = store_writer_write(w, r->exp, n);
		if (rc != 0) {
			fail(r, id, "resumed write at %" PRIu64 ": %s", off,
			     ferry_strerror(rc));
			store_writer_abort(w);
			return;
		}
		off += n;
	}
	rc = store_writer_commit(w);
	if (rc != 0) {
		fail(r, id, "resumed commit: %s", ferry_strerror(rc));
		return;
	}
	r->resumed++;
	if (want_add(r, id) != 0)
		fail(r, id, "out of memory");
}

struct seen {
	struct idvec ids;
	uint64_t *lens;
	size_t cap_lens;
	uint64_t bytes;
	int err;
};

static int
seen_cb(const struct store_msg_info *info, void *arg)
{
	struct seen *s = arg;

	if (s->ids.n == s->cap_lens) {
		size_t cap = s->cap_lens ? 2 * s->cap_lens : 256;
		uint64_t *p = realloc(s->lens, cap * sizeof(*p));

		if (p == NULL) {
			s->err = 1;
			return 1;
		}
		s->lens = p;
		s->cap_lens = cap;
	}
	s->lens[s->ids.n] = info->msg.payload_len;
	s->bytes += info->msg.payload_len;
	if (idvec_add(&s->ids, info->msg.id) != 0) {
		s->err = 1;
		return 1;
	}
	return 0;
}

/* The queue as browse sees it, against the wanted set and the counters. */
static void
check_queue(struct run *r, struct store *st)
{
	struct seen s;
	struct store_queue_stats qs;
	struct store_stats ss;
	size_t hits = 0, n_want = 0;
	int rc;

	for (size_t i = 0; i < r->n_want; i++)
		n_want += !r->want[i].bad;
	memset(&s, 0, sizeof(s));
	rc = store_browse(st, QUEUE, 0, seen_cb, &s);
	if (rc != 0 || s.err) {
		fail(r, NULL, "store_browse: %s", ferry_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < s.ids.n; i++) {
		const uint8_t *id = s.ids.ids[i];
		struct want *w = want_find(r, id);
		int bad = 0;

		if (w != NULL) {
			hits += !w->bad;
			continue;
		}
		/* Committed but never reported: it must be whole all the
		 * same, and stay so in the cycles to come. */
		r->unreported++;
		if (s.lens[i] != fault_id_len(id)) {
			fail(r, id,
			     "unreported message: payload_len %" PRIu64
			     ", id says %" PRIu32 " (torn commit?)",
			     s.lens[i], fault_id_len(id));
			bad = 1;
		} else {
			bad = verify_msg(r, st, id, "unreported message") != 0;
		}
		if (want_add(r, id) != 0) {
			fail(r, id, "out of memory");
			continue;
		}
		r->want[r->n_want - 1].bad = bad;
	}
	if (hits != n_want)
		fail(r, NULL, "browse shows %zu of the %zu reported messages",
		     hits, n_want);
	if (s.ids.n > 1) /* ids is NULL when the store is empty */
		qsort(s.ids.ids, s.ids.n, sizeof(*s.ids.ids), want_cmp);
	for (size_t i = 1; i < s.ids.n; i++)
		if (memcmp(s.ids.ids[i - 1], s.ids.ids[i], FERRY_ID_LEN) == 0)
			fail(r, s.ids.ids[i], "browse shows it twice");
	rc = store_queue_stats(st, QUEUE, &qs);
	if (rc == FERRY_ENOTFOUND && s.ids.n == 0)
		memset(&qs, 0, sizeof(qs));
	else if (rc != 0)
		fail(r, NULL, "store_queue_stats: %s", ferry_strerror(rc));
	if (rc == 0 &&
	    (qs.msgs != s.ids.n || qs.bytes != s.bytes || qs.leased != 0))
		fail(r, NULL,
		     "queue counters say %" PRIu64 " msgs %" PRIu64
		     " bytes %" PRIu64 " leased; browse shows %zu "
		     "msgs %" PRIu64 " bytes",
		     qs.msgs, qs.bytes, qs.leased, s.ids.n, s.bytes);
	rc = store_stats(st, &ss);
	if (rc != 0)
		fail(r, NULL, "store_stats: %s", ferry_strerror(rc));
	else if (ss.msgs != s.ids.n || ss.bytes != s.bytes)
		fail(r, NULL,
		     "store totals say %" PRIu64 " msgs %" PRIu64
		     " bytes; browse shows %zu msgs %" PRIu64 " bytes",
		     ss.msgs, ss.bytes, s.ids.n, s.bytes);
out:
	free(s.ids.ids);
	free(s.lens);
}

/* Ack the oldest messages until the queue holds at most KEEP_BYTES. */
static void
trim_queue(struct run *r, struct store *st)
{
	struct store_queue_stats qs;
	uint64_t bytes;
	int rc;

	rc = store_queue_stats(st, QUEUE, &qs);
	if (rc != 0)
		return; /* reported by check_queue */
	bytes = qs.bytes;
	while (bytes > KEEP_BYTES) {
		struct store_msg_info info;
		uint64_t token = 0;
		struct want *w;

		rc = store_take(st, QUEUE, LEASE_MS, &info, &token);
		if (rc != 0) {
			fail(r, NULL, "store_take: %s", ferry_strerror(rc));
			return;
		}
		rc = store_ack(st, info.msg.id, token);
		if (rc != 0) {
			fail(r, info.msg.id, "store_ack: %s",
			     ferry_strerror(rc));
			return;
		}
		bytes -=
		    info.msg.payload_len < bytes ? info.msg.payload_len : bytes;
		w = want_find(r, info.msg.id);
		if (w != NULL)
			w->gone = 1;
		if (idvec_add(&r->acked, info.msg.id) != 0)
			fail(r, info.msg.id, "out of memory");
	}
	want_compact(r);
}

static void
check_acked(struct run *r, struct store *st)
{
	size_t from =
	    r->acked.n > ACKED_CHECK_MAX ? r->acked.n - ACKED_CHECK_MAX : 0;

	for (size_t i = from; i < r->acked.n; i++) {
		struct store_msg_info info;
		int rc = store_get(st, r->acked.ids[i], &info);

		if (rc != FERRY_ENOTFOUND)
			fail(r, r->acked.ids[i],
			     "acked earlier, store_get now says %s",
			     rc == 0 ? "present" : ferry_strerror(rc));
	}
}

/* One cycle: crash the child, recover, check, trim.  -1: harness error. */
static int
run_cycle(struct run *r)
{
	struct store_opts o;
	struct store *st = NULL;
	int64_t t0;
	int rc;

	if (crash_child(r) != 0)
		return -1;
	store_opts_init(&o);
	o.node_name = NODE;
	o.disk_reserve_bytes = 16u << 20;
	t0 = it_now_ms();
	rc = store_open(r->dir, &o, &st);
	if (it_now_ms() - t0 > r->recover_ms_max)
		r->recover_ms_max = it_now_ms() - t0;
	if (rc != 0) {
		fail(r, NULL, "store_open after kill: %s (%s)",
		     ferry_strerror(rc), store_last_error());
		return 0;
	}
	if (r->pend)
		resume_stream(r, st, r->pend_id);
	/* A message found wrong is reported once, then left alone. */
	for (size_t i = 0; i < r->n_want; i++)
		if (!r->want[i].bad &&
		    verify_msg(r, st, r->want[i].id, "reported committed") != 0)
			r->want[i].bad = 1;
	check_queue(r, st);
	check_acked(r, st);
	trim_queue(r, st);
	store_close(st);
	return 0;
}

/* ------------------------------------------------------------- harness */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (remove(path) != 0 && flag != FTW_DNR) {
		fprintf(stderr, "crash_store: remove %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

static uint64_t dir_bytes_total;

static int
du_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F)
		dir_bytes_total += (uint64_t)sb->st_blocks * 512;
	return 0;
}

static uint64_t
seed_from_env(void)
{
	const char *s = getenv("FERRY_TEST_SEED");
	struct timespec ts;

	if (s != NULL && *s != '\0')
		return strtoull(s, NULL, 10);
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (uint64_t)getpid();
	return fault_mix64((uint64_t)ts.tv_sec * 1000000007ull ^
			   (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32);
}

/* mkdtemp under $TMPDIR or /tmp into path; T_PASS, T_SKIP or T_HARNESS */
static int
make_dir(char *path, size_t cap)
{
	const char *base = getenv("TMPDIR");
	struct statvfs sv;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if ((size_t)snprintf(path, cap, "%s/ferry-crash.XXXXXX", base) >= cap ||
	    mkdtemp(path) == NULL) {
		fprintf(stderr, "crash_store: mkdtemp in %s: %s\n", base,
			strerror(errno));
		path[0] = '\0';
		return T_HARNESS;
	}
	if (statvfs(path, &sv) != 0) {
		fprintf(stderr, "crash_store: statvfs: %s\n", strerror(errno));
		return T_HARNESS;
	}
	if ((uint64_t)sv.f_bavail * sv.f_frsize < FREE_NEEDED) {
		printf("SKIP: crash test needs %llu MiB free in %s\n",
		       FREE_NEEDED >> 20, base);
		return T_SKIP;
	}
	return T_PASS;
}

static void
print_summary(const struct run *r, int64_t ms)
{
	dir_bytes_total = 0;
	if (nftw(r->dir, du_entry, 16, FTW_PHYS) != 0)
		dir_bytes_total = 0;
	printf("crash_store: %s: %" PRIu32 " cycles, %u failures; %" PRIu64
	       " reported commits, %" PRIu64 " message checks, %" PRIu64
	       " unreported commits found whole; cut streams: %" PRIu64
	       " resumed, %" PRIu64 " aborted, %" PRIu64 " absent; %u kills "
	       "during store_open, %u cycles without a reported commit; "
	       "recovery <= %" PRId64 " ms; store %" PRIu64 " MiB; %" PRId64
	       ".%01" PRId64 " s\n",
	       r->failures ? "FAIL" : "PASS", r->cycle, r->failures,
	       r->reported, r->checked, r->unreported, r->resumed, r->aborted,
	       r->lost, r->open_kills, r->quiet_cycles, r->recover_ms_max,
	       dir_bytes_total >> 20, ms / 1000, ms % 1000 / 100);
}

int
main(int argc, char **argv)
{
	char dir[PATH_MAX] = "";
	struct run r;
	const char *lng = getenv("FERRY_TEST_LONG");
	uint32_t cycles = CYCLES_DEFAULT;
	int64_t t0 = it_now_ms();
	int ret;

	if (argc == 6 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2], argv[3], argv[4], argv[5]);
	if (argc != 1) {
		fprintf(stderr, "usage: crash_store\n");
		return T_HARNESS;
	}
	if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
		return T_HARNESS;
	if (lng != NULL && strcmp(lng, "1") == 0)
		cycles = CYCLES_LONG;
	memset(&r, 0, sizeof(r));
	r.seed = seed_from_env();
	r.rng = r.seed;
	r.self = "/proc/self/exe";
	r.dir = dir;
	r.buf = malloc(IO_BYTES);
	r.exp = malloc(IO_BYTES);
	ret = T_HARNESS;
	if (r.buf == NULL || r.exp == NULL)
		goto out;
	ret = make_dir(dir, sizeof(dir));
	if (ret != T_PASS)
		goto out;
	printf("crash_store: %" PRIu32 " cycles, FERRY_TEST_SEED=%" PRIu64 "\n",
	       cycles, r.seed);
	for (r.cycle = 0; r.cycle < cycles; r.cycle++) {
		if (run_cycle(&r) != 0) {
			ret = T_HARNESS;
			goto out;
		}
	}
	print_summary(&r, it_now_ms() - t0);
	ret = r.failures ? T_FAIL : T_PASS;
out:
	if (dir[0] != '\0' &&
	    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && ret == T_PASS)
		ret = T_HARNESS;
	free(r.want);
	free(r.acked.ids);
	free(r.buf);
	free(r.exp);
	return ret;
}
