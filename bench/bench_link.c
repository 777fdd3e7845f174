/*
 * bench_link.c - two ferryd nodes over loopback TCP, next to NNCP and to
 * the machine's own limits, all in one run.
 *
 * In a private directory (mkdtemp under the directory named on the command
 * line, else $TMPDIR or /tmp) the program measures, one after the other:
 *   - yardsticks: ChaCha20-Poly1305 in memory on one core, and the disk's
 *     sequential write rate (1 MiB writes, one fdatasync, at the start and
 *     at the end of the run);
 *   - for 10,000 messages of 1 KiB, then for one message of 1 GiB:
 *     - ferry, two fresh nodes alpha and beta for each way: (a) the
 *       messages are sent on alpha (libferry, 16 clients) while beta is
 *       down, then beta is started: how long until all are in beta's
 *       queue; (b) both agents up and connected: from the first send on
 *       alpha until all are in beta's queue;
 *     - NNCP (when its commands are in PATH): the same payloads queued
 *       with nncp-exec (small) or nncp-file (big) on alpha, sent with
 *       nncp-call to an nncp-daemon of beta, then nncp-toss on beta;
 *     - raw: the same bytes through one libsodium secretstream over a
 *       loopback TCP socket into a file fsync'd at the end, no store.
 * Every agent and NNCP process's user+system CPU and peak resident memory
 * are kept.  Progress goes to stderr; the table, the ratios and a hint at
 * what bounds the numbers go to stdout at the end.  --quick (or
 * BENCH_QUICK=1) uses 1,000 messages and 128 MiB; BENCH_LINK_MSGS and
 * BENCH_LINK_BIG_MIB set the sizes, BENCH_LINK_NNCP=0 leaves NNCP out
 * (and so do missing NNCP commands).  The 1 GiB part is skipped, with a
 * line that says so, when the filesystem has less than 6 times its size
 * free.
 *
 * The program owns the processes it starts (ferryd with PR_SET_PDEATHSIG
 * SIGTERM, NNCP's commands with SIGKILL: none outlives it) and its
 * directory, which it removes at the end, on failure and on SIGINT,
 * SIGTERM or SIGHUP (BENCH_KEEP=1 keeps it for a look after a failure).
 * Timings are printed, never judged: the exit status says only whether
 * every step worked (every message arrived exactly once, every process
 * exited as expected).
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "lib/ferry.h"
#include "transports/chachapoly.h"
#include "transports/identity.h"

#define BL_MSG_BYTES	   1024u
#define BL_SMALL_N	   10000u
#define BL_BIG_BYTES	   (1ull << 30)
#define BL_QUICK_SMALL_N   1000u
#define BL_QUICK_BIG_BYTES (128ull << 20)
#define BL_FREE_FACTOR	   6u /* free space needed: 6 x the big message */
#define BL_CLIENTS	   16u
#define BL_WORKERS	   32u /* ferryd workers: 16 clients never queue */
#define BL_QUEUE	   "q"
#define BL_DEST		   "beta/" BL_QUEUE
#define BL_CHUNK	   (1u << 20)	/* stream writes, disk writes */
#define BL_POOL		   (4u << 20)	/* random bytes all payloads use */
#define BL_RECORD	   (64u << 10)	/* raw stream: plaintext a record */
#define BL_CRYPTO_MAX	   (1ull << 30) /* crypto yardstick: bytes, or */
#define BL_CRYPTO_S	   2.0		/* seconds, whichever first */
#define BL_AIM		   0.5		/* ferry 1 GiB of min(disk, crypto) */
#define BL_STALL_S	   60.0		/* no progress for this long: a hang */
#define BL_START_MAX_S	   15.0
#define BL_STOP_MAX_S	   15.0
#define BL_CALL_EXIT_S	   60.0 /* nncp-call's exit after the last pkt */
#define BL_POLL_NS	   5000000L
#define BL_PATH_MAX	   BENCH_PATH_MAX
#define BL_SOCK_MAX	   107
#define BL_DETAIL_MAX	   512
#define BL_LOG_TAIL	   15
#define BL_CHILDREN_MAX	   64
#define BL_LOGS_MAX	   4
#define BL_NNCP_ONLINE	   "1" /* nncp-call -onlinedeadline, seconds */
#define BL_NNCP_KEY_MAX	   160
#define BL_NNCP_PAR_MIN	   2u
#define BL_RETRY_MIN	   "10ms" /* alpha redials a down beta this often */
#define BL_RETRY_MAX	   "50ms"

/* The run's settings. */
struct bl_cfg {
	char dir[BL_PATH_MAX]; /* the private directory, absolute */
	const char *ferryd;
	int quick;
	uint64_t small_n;   /* messages of BL_MSG_BYTES */
	uint64_t big_bytes; /* the big message */
	int big;	    /* 0: not enough free space, skipped */
	double free_gib;
	double load0, load1; /* 1-minute load average, start and end */
	long ncpu;
	unsigned nncp_par; /* nncp-exec processes at a time */
	int nncp;	   /* 1: NNCP's commands are in PATH */
	int nncp_off;	   /* BENCH_LINK_NNCP=0: not even looked for */
	char nncp_missing[64];
	char nncp_version[128];
	char dd[BL_PATH_MAX]; /* the NNCP exec handler */
	uint8_t *pool;	      /* BL_POOL random bytes */
};

/* One line of the table. */
struct bl_row {
	const char *label;
	int done;	  /* measured */
	const char *skip; /* why not, or NULL */
	uint64_t n;	  /* messages */
	uint64_t bytes;	  /* payload bytes */
	double secs;
	double cpu_a, cpu_b;   /* user+system seconds, < 0: not shown */
	uint64_t rss_a, rss_b; /* peak resident KiB, 0: not shown */
};

/* Rows of one workload (10,000 x 1 KiB, or 1 x 1 GiB), in print order. */
enum bl_row_id {
	R_FA_QUEUE,
	R_FA_XFER,
	R_FA_TOTAL,
	R_FB_E2E,
	R_NN_QUEUE,
	R_NN_CALL,
	R_NN_TOSS,
	R_NN_TOTAL,
	R_RAW,
	R_N
};

/* What the ferry rows leave for the notes. */
struct bl_ferry_notes {
	double session_after_s; /* (a): beta answering to the session up */
	double drop_s;		/* (a): all at beta to alpha's copies gone */
	double sent_s;		/* (b): first send to the last send back */
	double b_drop_s;	/* (b): all at beta to alpha's copies gone */
	double beta_start_s;	/* (a): beta's start until it answered */
};

struct bl_nncp_notes {
	double call_exit_s; /* nncp-call's exit after its last packet */
	double wall_s;	    /* first queueing to the toss's exit */
};

/* A workload's results. */
struct bl_set {
	const char *title;
	struct bl_row rows[R_N];
	struct bl_ferry_notes fn;
	struct bl_nncp_notes nn;
};

/* A ferry node. */
struct fnode {
	const char *name;
	char dir[BL_PATH_MAX];
	char conf[BL_PATH_MAX];
	char sock[BL_PATH_MAX];
	char log[BL_PATH_MAX];
	char card[IDENTITY_CARD_MAX];
	pid_t pid; /* -1: not running */
	double cpu_s;
	uint64_t hwm_kib;
};

/* An NNCP node: its keys from nncp-cfgnew and its paths. */
struct nnode {
	const char *name;
	char dir[BL_PATH_MAX];
	char cfg[BL_PATH_MAX];
	char spool[BL_PATH_MAX];
	char log[BL_PATH_MAX];
	char out[BL_PATH_MAX]; /* the commands' stdout and stderr */
	char incoming[BL_PATH_MAX];
	char id[BL_NNCP_KEY_MAX], exchpub[BL_NNCP_KEY_MAX],
	    exchprv[BL_NNCP_KEY_MAX], signpub[BL_NNCP_KEY_MAX],
	    signprv[BL_NNCP_KEY_MAX], noisepub[BL_NNCP_KEY_MAX],
	    noiseprv[BL_NNCP_KEY_MAX];
};

/* One sending thread on alpha: small messages [first, first + count), or
 * the big one when big_bytes > 0. */
struct sender {
	pthread_t thread;
	const char *sock;
	const uint8_t *pool;
	uint64_t first, count;
	uint64_t big_bytes;
	pthread_barrier_t *start;
	double end_s; /* out: when the last send returned */
	int err;      /* out */
	char detail[BL_DETAIL_MAX];
};

/* The raw stream's receiving thread. */
struct raw_rx {
	pthread_t thread;
	int lfd;
	char path[BL_PATH_MAX];
	uint64_t bytes;	      /* out: plaintext written */
	double done_s, cpu_s; /* out */
	int err;	      /* out: errno-like */
	char detail[BL_DETAIL_MAX];
};

/* Processes to stop on a failure, and logs to show. */
static struct {
	pid_t pid;
	int sig;
} bl_children[BL_CHILDREN_MAX];
static const char *bl_logs[BL_LOGS_MAX];
static char bl_dir[BL_PATH_MAX];
static volatile sig_atomic_t bl_interrupted;

static void bl_cleanup(void);

/* ------------------------------------------------------------ failures */

static void
on_signal(int sig)
{
	(void)sig;
	bl_interrupted = 1;
}

static void logs_forget(void);

/* Ctrl-C: no log tails, just stop and clean up. */
static void
check_interrupted(void)
{
	if (bl_interrupted) {
		logs_forget();
		bench_failf("interrupted");
	}
}

static void
child_add(pid_t pid, int sig)
{
	for (size_t i = 0; i < BL_CHILDREN_MAX; i++)
		if (bl_children[i].pid <= 0) {
			bl_children[i].pid = pid;
			bl_children[i].sig = sig;
			return;
		}
	(void)kill(pid, SIGKILL);
	bench_failf("more than %d processes at once", BL_CHILDREN_MAX);
}

static void
child_forget(pid_t pid)
{
	for (size_t i = 0; i < BL_CHILDREN_MAX; i++)
		if (bl_children[i].pid == pid)
			bl_children[i].pid = 0;
}

static void
log_watch(size_t slot, const char *path)
{
	if (slot < BL_LOGS_MAX)
		bl_logs[slot] = path;
}

static void
logs_forget(void)
{
	for (size_t i = 0; i < BL_LOGS_MAX; i++)
		bl_logs[i] = NULL;
}

/* On a failure: stop every process (its own signal, SIGKILL after 5 s),
 * show the logs of the step that failed, remove the directory. */
static void
bl_cleanup(void)
{
	const char *keep = getenv("BENCH_KEEP");

	for (size_t i = 0; i < BL_CHILDREN_MAX; i++) {
		pid_t pid = bl_children[i].pid;
		double t0;
		int st;

		if (pid <= 0)
			continue;
		bl_children[i].pid = 0;
		(void)kill(pid, bl_children[i].sig);
		t0 = bench_now_s();
		while (waitpid(pid, &st, WNOHANG) == 0) {
			struct timespec ts = {0, 20000000L};
			if (bench_now_s() - t0 > 5.0) {
				(void)kill(pid, SIGKILL);
				(void)waitpid(pid, &st, 0);
				break;
			}
			(void)nanosleep(&ts, NULL);
		}
	}
	for (size_t i = 0; i < BL_LOGS_MAX; i++)
		if (bl_logs[i] != NULL)
			bench_log_tail(bl_logs[i], BL_LOG_TAIL);
	logs_forget();
	if (bl_dir[0] == '\0')
		return;
	if (keep != NULL && keep[0] != '\0' && strcmp(keep, "0") != 0) {
		fprintf(stderr, "bench_link: BENCH_KEEP is set: %s kept\n",
			bl_dir);
		return;
	}
	if (bench_rm_tree_quiet(bl_dir) != 0)
		fprintf(stderr, "bench_link: removing %s: %s\n", bl_dir,
			strerror(errno));
	bl_dir[0] = '\0';
}

/* ---------------------------------------------------------- utilities */

static double
wall_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		abort();
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
nap(void)
{
	struct timespec ts = {0, BL_POLL_NS};

	check_interrupted();
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		check_interrupted();
}

static void *
bl_alloc(size_t len)
{
	void *p = malloc(len);

	if (p == NULL)
		bench_failf("out of memory (%zu bytes)", len);
	return p;
}

/* 0, or errno; for threads, which must not exit the process. */
static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0, EPIPE at a clean end of file before len bytes, or errno. */
static int
read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n == 0)
			return EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static double
thread_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return 0.0;
	return bench_rusage_cpu_s(&ru);
}

/* The first executable NAME in PATH, into out; 0 if there is none. */
static int
find_in_path(const char *name, char out[BL_PATH_MAX])
{
	const char *path = getenv("PATH");
	const char *p =
	    path != NULL && path[0] != '\0' ? path : "/usr/bin:/bin";

	while (*p != '\0') {
		const char *end = strchr(p, ':');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		int n =
		    snprintf(out, BL_PATH_MAX, "%.*s/%s", (int)len, p, name);

		if (len > 0 && n > 0 && n < BL_PATH_MAX &&
		    access(out, X_OK) == 0)
			return 1;
		p += len;
		if (*p == ':')
			p++;
	}
	out[0] = '\0';
	return 0;
}

/* A TCP port of 127.0.0.1 that was free a moment ago. */
static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		bench_fail_errno("socket", "");
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
		bench_fail_errno("binding a port of", "127.0.0.1");
	if (close(fd) != 0)
		bench_fail_errno("close", "socket");
	return ntohs(a.sin_port);
}

/* 1 when something accepts TCP connections on 127.0.0.1:port. */
static int
port_answers(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok;

	if (fd < 0)
		bench_fail_errno("socket", "");
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	(void)close(fd);
	return ok;
}

static uint64_t
free_bytes(const char *dir)
{
	struct statvfs sv;

	if (statvfs(dir, &sv) != 0)
		bench_fail_errno("statvfs", dir);
	return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
}

static uint64_t
file_size(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		bench_fail_errno("stat", path);
	return (uint64_t)sb.st_size;
}

/* Payload bytes at offset off of the stream of message i: a window into
 * the random pool, different for every message and every chunk. */
static const uint8_t *
pool_at(const uint8_t *pool, uint64_t i, size_t len)
{
	uint64_t span = BL_POOL - len;

	return pool + (i * 4099u * 61u) % span;
}

/* ---------------------------------------------------------- processes */

/*
 * Start argv[0] (looked up in PATH) with stdin from in_fd (-1:
 * /dev/null) and stdout and stderr appended to out (NULL: /dev/null).
 * The child gets deathsig when this thread ends, so nothing outlives the
 * run; only the main thread forks.
 */
static pid_t
spawn(char *const argv[], int in_fd, const char *out, int deathsig)
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		bench_fail_errno("fork", argv[0]);
	if (pid == 0) {
		int o = open(out != NULL ? out : "/dev/null",
			     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int i = in_fd >= 0 ? in_fd
				   : open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (o < 0 || i < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0 ||
		    dup2(o, 2) < 0)
			_exit(126);
		if (prctl(PR_SET_PDEATHSIG, deathsig) != 0 ||
		    getppid() != parent)
			_exit(126);
		execvp(argv[0], argv);
		dprintf(2, "bench_link: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	child_add(pid, deathsig);
	return pid;
}

/* Waits up to max_s for pid; 1 when it exited (status, rusage filled). */
static int
reap(pid_t pid, double max_s, int *st, struct rusage *ru)
{
	double t0 = bench_now_s();

	for (;;) {
		pid_t r = wait4(pid, st, WNOHANG, ru);
		if (r == pid) {
			child_forget(pid);
			return 1;
		}
		if (r < 0 && errno != EINTR)
			bench_fail_errno("waitpid", "");
		if (max_s >= 0.0 && bench_now_s() - t0 >= max_s)
			return 0;
		nap();
	}
}

static void
describe_status(char *out, size_t cap, int st)
{
	if (WIFEXITED(st))
		bench_cell(out, cap, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		bench_cell(out, cap, "signal %d", WTERMSIG(st));
	else
		bench_cell(out, cap, "status 0x%x", (unsigned)st);
}

/* Runs argv to its end (no time limit but Ctrl-C); fails unless it
 * exits 0.  Adds its CPU to *cpu and its peak RSS to *rss (max). */
static void
run_ok(char *const argv[], const char *out, double *cpu, uint64_t *rss)
{
	struct rusage ru;
	char why[64];
	pid_t pid = spawn(argv, -1, out, SIGKILL);
	int st;

	(void)reap(pid, -1.0, &st, &ru);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		describe_status(why, sizeof(why), st);
		if (out != NULL)
			bench_log_tail(out, BL_LOG_TAIL);
		bench_failf("%s failed: %s", argv[0], why);
	}
	if (cpu != NULL)
		*cpu += bench_rusage_cpu_s(&ru);
	if (rss != NULL && (uint64_t)ru.ru_maxrss > *rss)
		*rss = (uint64_t)ru.ru_maxrss;
}

/* --------------------------------------------------------- yardsticks */

/* ChaCha20-Poly1305 (RFC 8439, the Noise cipher) encrypting 64 KiB records
 * in memory on this core, through the function ferry's sessions use
 * (transports/chachapoly.c: libcrypto, else libsodium): MB/s. */
static double
crypto_rate(const struct bl_cfg *cfg)
{
	uint8_t key[CHACHAPOLY_KEY];
	uint8_t nonce[CHACHAPOLY_NONCE];
	uint8_t *ct = bl_alloc(BL_RECORD + CHACHAPOLY_TAG);
	uint64_t done = 0, max = cfg->quick ? BL_CRYPTO_MAX / 4 : BL_CRYPTO_MAX;
	double t0 = bench_now_s(), secs;

	randombytes_buf(key, sizeof(key));
	memset(nonce, 0, sizeof(nonce));
	do {
		memcpy(nonce, &done, sizeof(done));
		if (chachapoly_seal(
			key, nonce, NULL, 0,
			pool_at(cfg->pool, done / BL_RECORD, BL_RECORD),
			BL_RECORD, ct) != 0)
			bench_failf("chachapoly_seal failed");
		done += BL_RECORD;
	} while (done < max && bench_now_s() - t0 < BL_CRYPTO_S);
	secs = bench_now_s() - t0;
	free(ct);
	return secs > 0.0 ? (double)done / secs / 1e6 : 0.0;
}

/* The disk's sequential write: big_bytes in 1 MiB writes, one fdatasync
 * (timed too): MB/s. */
static double
disk_rate(const struct bl_cfg *cfg)
{
	char path[BL_PATH_MAX];
	uint64_t done = 0;
	double t0, secs;
	int fd;

	bench_path(path, cfg->dir, "disk.dat");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		bench_fail_errno("open", path);
	t0 = bench_now_s();
	while (done < cfg->big_bytes) {
		size_t len = cfg->big_bytes - done < BL_CHUNK
				 ? (size_t)(cfg->big_bytes - done)
				 : BL_CHUNK;
		bench_write_full(fd, pool_at(cfg->pool, done / BL_CHUNK, len),
				 len, path);
		done += len;
		check_interrupted();
	}
	if (fdatasync(fd) != 0)
		bench_fail_errno("fdatasync", path);
	secs = bench_now_s() - t0;
	if (close(fd) != 0)
		bench_fail_errno("close", path);
	if (unlink(path) != 0)
		bench_fail_errno("unlink", path);
	return secs > 0.0 ? (double)done / secs / 1e6 : 0.0;
}

/* ------------------------------------------------------------ the raw */

static void
raw_rx_fail(struct raw_rx *rx, int e, const char *what)
{
	rx->err = e != 0 ? e : EPROTO;
	bench_cell(rx->detail, sizeof(rx->detail), "%s: %s", what,
		   strerror(rx->err));
}

/* Accepts one connection, decrypts the stream into a file, fsyncs it. */
static void *
raw_rx_run(void *arg)
{
	struct raw_rx *rx = arg;
	crypto_secretstream_xchacha20poly1305_state st;
	uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	size_t cap = BL_RECORD + crypto_secretstream_xchacha20poly1305_ABYTES;
	uint8_t *ct = malloc(cap), *pt = malloc(BL_RECORD);
	double cpu0 = thread_cpu_s();
	int fd = -1, cfd = -1, e;

	if (ct == NULL || pt == NULL) {
		raw_rx_fail(rx, ENOMEM, "malloc");
		goto out;
	}
	cfd = accept4(rx->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd < 0) {
		raw_rx_fail(rx, errno, "accept");
		goto out;
	}
	fd = open(rx->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		raw_rx_fail(rx, errno, "open");
		goto out;
	}
	/* The key travels in the clear: the stream's cost is what counts. */
	if ((e = read_all(cfd, key, sizeof(key))) != 0 ||
	    (e = read_all(cfd, header, sizeof(header))) != 0) {
		raw_rx_fail(rx, e, "reading the stream header");
		goto out;
	}
	if (crypto_secretstream_xchacha20poly1305_init_pull(&st, header, key) !=
	    0) {
		raw_rx_fail(rx, EPROTO, "init_pull");
		goto out;
	}
	for (;;) {
		uint32_t len;
		unsigned long long plen = 0;
		unsigned char tag = 0;

		if ((e = read_all(cfd, &len, sizeof(len))) != 0) {
			raw_rx_fail(rx, e, "reading a record length");
			goto out;
		}
		if (len > cap ||
		    len < crypto_secretstream_xchacha20poly1305_ABYTES) {
			raw_rx_fail(rx, EPROTO, "record length");
			goto out;
		}
		if ((e = read_all(cfd, ct, len)) != 0) {
			raw_rx_fail(rx, e, "reading a record");
			goto out;
		}
		if (crypto_secretstream_xchacha20poly1305_pull(
			&st, pt, &plen, &tag, ct, len, NULL, 0) != 0) {
			raw_rx_fail(rx, EPROTO, "a record does not decrypt");
			goto out;
		}
		if ((e = write_all(fd, pt, (size_t)plen)) != 0) {
			raw_rx_fail(rx, e, "write");
			goto out;
		}
		rx->bytes += plen;
		if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
			break;
	}
	if (fdatasync(fd) != 0) {
		raw_rx_fail(rx, errno, "fdatasync");
		goto out;
	}
	rx->done_s = bench_now_s();
out:
	if (fd >= 0 && close(fd) != 0 && rx->err == 0)
		raw_rx_fail(rx, errno, "close");
	if (cfd >= 0)
		(void)close(cfd);
	else if (close(rx->lfd) == 0)
		rx->lfd = -1; /* a sender still connecting gets refused */
	rx->cpu_s = thread_cpu_s() - cpu0;
	free(ct);
	free(pt);
	return NULL;
}

/*
 * The physical limit: n messages of len bytes (1 message of big_bytes)
 * through one secretstream over a loopback TCP socket, records of up to
 * 64 KiB plaintext, into a file fsync'd once at the end.
 */
static void
raw_run(const struct bl_cfg *cfg, uint64_t n, uint64_t total, struct bl_row *r)
{
	crypto_secretstream_xchacha20poly1305_state st;
	uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	uint8_t *ct =
	    bl_alloc(BL_RECORD + crypto_secretstream_xchacha20poly1305_ABYTES);
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	struct raw_rx rx;
	uint64_t sent = 0, rec = 0;
	double t0, cpu0;
	int fd;

	memset(&rx, 0, sizeof(rx));
	bench_path(rx.path, cfg->dir, "raw.dat");
	rx.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (rx.lfd < 0)
		bench_fail_errno("socket", "");
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(rx.lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(rx.lfd, (struct sockaddr *)&a, &alen) != 0 ||
	    listen(rx.lfd, 1) != 0)
		bench_fail_errno("listening on", "127.0.0.1");
	bench_check_pthread(pthread_create(&rx.thread, NULL, raw_rx_run, &rx),
			    "pthread_create");

	cpu0 = thread_cpu_s();
	t0 = bench_now_s();
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		bench_fail_errno("socket", "");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		bench_fail_errno("connect", "127.0.0.1");
	crypto_secretstream_xchacha20poly1305_keygen(key);
	if (crypto_secretstream_xchacha20poly1305_init_push(&st, header, key) !=
	    0)
		bench_failf("crypto_secretstream_xchacha20poly1305_init_push "
			    "failed");
	bench_write_full(fd, key, sizeof(key), "raw stream");
	bench_write_full(fd, header, sizeof(header), "raw stream");
	while (sent < total) {
		/* Whole messages per record: 64 of 1 KiB, or 64 KiB of one. */
		size_t len = total - sent < BL_RECORD ? (size_t)(total - sent)
						      : BL_RECORD;
		unsigned long long clen = 0;
		uint32_t len32;
		unsigned char tag =
		    sent + len == total
			? crypto_secretstream_xchacha20poly1305_TAG_FINAL
			: 0;

		if (crypto_secretstream_xchacha20poly1305_push(
			&st, ct, &clen, pool_at(cfg->pool, rec, len), len, NULL,
			0, tag) != 0)
			bench_failf(
			    "crypto_secretstream_xchacha20poly1305_push "
			    "failed");
		len32 = (uint32_t)clen;
		bench_write_full(fd, &len32, sizeof(len32), "raw stream");
		bench_write_full(fd, ct, (size_t)clen, "raw stream");
		sent += len;
		rec++;
	}
	bench_check_pthread(pthread_join(rx.thread, NULL), "pthread_join");
	if (close(fd) != 0 || (rx.lfd >= 0 && close(rx.lfd) != 0))
		bench_fail_errno("close", "raw stream socket");
	if (rx.err != 0)
		bench_failf("raw stream receiver: %s", rx.detail);
	if (rx.bytes != total)
		bench_failf("raw stream: %llu bytes arrived of %llu",
			    (unsigned long long)rx.bytes,
			    (unsigned long long)total);
	if (unlink(rx.path) != 0)
		bench_fail_errno("unlink", rx.path);
	r->done = 1;
	r->n = n;
	r->bytes = total;
	r->secs = rx.done_s - t0;
	r->cpu_a = thread_cpu_s() - cpu0;
	r->cpu_b = rx.cpu_s;
	free(ct);
}

/* -------------------------------------------------------------- ferry */

static void
fnode_init(struct fnode *n, const char *base, const char *name)
{
	struct identity *id = NULL;
	char err[256];
	int rc;

	memset(n, 0, sizeof(*n));
	n->name = name;
	n->pid = -1;
	bench_path(n->dir, base, name);
	bench_path(n->conf, n->dir, "ferry.conf");
	bench_path(n->sock, n->dir, "ferry.sock");
	bench_path(n->log, n->dir, "ferryd.log");
	if (strlen(n->sock) > BL_SOCK_MAX)
		bench_failf(
		    "%s: longer than the %d bytes a unix socket path may "
		    "have; use a directory with a shorter path",
		    n->sock, BL_SOCK_MAX);
	if (strpbrk(n->dir, ";#\n") != NULL)
		bench_failf("%s: a directory with ';', '#' or a newline in its "
			    "name cannot go into ferry.conf; use another",
			    n->dir);
	if (mkdir(n->dir, 0700) != 0)
		bench_fail_errno("mkdir", n->dir);
	rc = identity_generate(n->dir);
	if (rc != 0)
		bench_fail("identity_generate", rc, n->dir);
	rc = identity_load(n->dir, &id, err, sizeof(err));
	if (rc != 0)
		bench_fail("identity_load", rc, err);
	rc = identity_card(id, n->card, sizeof(n->card));
	identity_free(id);
	if (rc != 0)
		bench_fail("identity_card", rc, n->dir);
}

/* alpha dials beta at 127.0.0.1:port (always, or when messages wait);
 * beta listens there and never dials. */
static void
fnode_write_confs(const struct fnode *alpha, const struct fnode *beta, int port,
		  int dial_always)
{
	const struct fnode *nodes[2] = {alpha, beta};

	for (int i = 0; i < 2; i++) {
		const struct fnode *me = nodes[i], *peer = nodes[1 - i];
		FILE *f = fopen(me->conf, "wex");

		if (f == NULL)
			bench_fail_errno("open", me->conf);
		fprintf(f,
			"# Written by bench_link for one benchmark run.\n"
			"[node]\n"
			"name = %s\n"
			"state_dir = %s\n"
			"socket = %s\n"
			"log_level = info\n",
			me->name, me->dir, me->sock);
		if (me == beta)
			fprintf(f, "listen = 127.0.0.1:%d\n", port);
		fprintf(f, "\n[limits]\nworkers = %u\n\n[peer %s]\nkey = %s\n",
			BL_WORKERS, peer->name, peer->card);
		if (me == alpha)
			fprintf(f,
				"tcp = 127.0.0.1:%d\n"
				"dial = %s\n"
				"retry_min = %s\n"
				"retry_max = %s\n"
				"retry_jitter = 0\n",
				port, dial_always ? "always" : "when-needed",
				BL_RETRY_MIN, BL_RETRY_MAX);
		else
			fprintf(f, "dial = never\n");
		if (fflush(f) != 0 || ferror(f))
			bench_fail_errno("writing", me->conf);
		if (fclose(f) != 0)
			bench_fail_errno("closing", me->conf);
	}
}

/* A ferryd that exited: its status and its log, then the run fails. */
static void
fnode_check_alive(struct fnode *n)
{
	char why[64];
	int st;

	if (n->pid <= 0 || waitpid(n->pid, &st, WNOHANG) != n->pid)
		return;
	child_forget(n->pid);
	n->pid = -1;
	describe_status(why, sizeof(why), st);
	bench_failf("ferryd of %s exited (%s); its log is above", n->name, why);
}

/* Starts ferryd and waits until its socket answers; returns the time
 * that took. */
static double
fnode_start(struct fnode *n, const struct bl_cfg *cfg)
{
	char *argv[] = {(char *)cfg->ferryd, "-c", n->conf, NULL};
	struct ferry *c = NULL;
	double t0 = bench_now_s();

	n->pid = spawn(argv, -1, n->log, SIGTERM);
	for (;;) {
		fnode_check_alive(n);
		if (ferry_connect(n->sock, &c) == 0)
			break;
		if (bench_now_s() - t0 >= BL_START_MAX_S)
			bench_failf("ferryd of %s did not answer on %s within "
				    "%.0f s",
				    n->name, n->sock, BL_START_MAX_S);
		nap();
	}
	ferry_close(c);
	return bench_now_s() - t0;
}

/* SIGTERM, wait, keep its CPU and peak RSS; it must exit 0. */
static void
fnode_stop(struct fnode *n)
{
	char why[64];
	int st;

	if (n->pid <= 0)
		return;
	n->cpu_s = bench_proc_cpu_s(n->pid);
	n->hwm_kib = bench_proc_hwm_kib(n->pid);
	if (kill(n->pid, SIGTERM) != 0)
		bench_fail_errno("kill", "ferryd");
	if (!reap(n->pid, BL_STOP_MAX_S, &st, NULL))
		bench_failf(
		    "ferryd of %s did not stop within %.0f s of SIGTERM",
		    n->name, BL_STOP_MAX_S);
	n->pid = -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		describe_status(why, sizeof(why), st);
		bench_failf("ferryd of %s stopped with %s after SIGTERM",
			    n->name, why);
	}
}

static struct ferry *
fnode_connect(const struct fnode *n)
{
	struct ferry *c = NULL;
	int rc = ferry_connect(n->sock, &c);

	if (rc != 0)
		bench_fail("ferry_connect", rc, n->sock);
	return c;
}

static uint64_t
queue_msgs(struct ferry *c, const char *queue)
{
	struct ferry_queue_info qi;
	int rc = ferry_queue_stats(c, queue, &qi);

	if (rc == FERRY_ENOTFOUND)
		return 0;
	if (rc != 0)
		bench_fail("ferry_queue_stats", rc, ferry_last_error(c));
	return qi.msgs;
}

static uint64_t
outbound_msgs(struct ferry *c)
{
	struct ferry_node_info ni;
	int rc = ferry_info(c, &ni);

	if (rc != 0)
		bench_fail("ferry_info", rc, ferry_last_error(c));
	return ni.out_msgs;
}

static int
peer_cb(const struct ferry_peer_info *p, void *arg)
{
	struct ferry_peer_info *out = arg;

	if (strcmp(p->name, "beta") == 0)
		*out = *p;
	return 0;
}

/* What alpha knows of its session to beta. */
static void
alpha_peer(struct ferry *c, struct ferry_peer_info *pi)
{
	int rc;

	memset(pi, 0, sizeof(*pi));
	rc = ferry_peers(c, peer_cb, pi);
	if (rc != 0)
		bench_fail("ferry_peers", rc, ferry_last_error(c));
}

/*
 * Polls beta's queue until it holds want messages; returns when it did.
 * Fails when a ferryd exits, when the count stands still for BL_STALL_S
 * (a stall: alpha's view of the session is shown), or exceeds want.
 */
static double
wait_arrived(struct fnode *alpha, struct fnode *beta, struct ferry *cb,
	     struct ferry *ca, uint64_t want, const char *what)
{
	uint64_t last = 0, got;
	double moved = bench_now_s();

	for (;;) {
		got = queue_msgs(cb, BL_QUEUE);
		if (got == want)
			return bench_now_s();
		if (got > want)
			bench_failf(
			    "%s: beta's queue holds %llu messages, %llu "
			    "were sent",
			    what, (unsigned long long)got,
			    (unsigned long long)want);
		if (got != last) {
			last = got;
			moved = bench_now_s();
		} else if (bench_now_s() - moved >= BL_STALL_S) {
			struct ferry_peer_info pi;
			alpha_peer(ca, &pi);
			bench_failf(
			    "%s: stalled: beta's queue stayed at %llu of "
			    "%llu messages for %.0f s; alpha: connected "
			    "%d, %llu queued for beta, %llu handed over, "
			    "last error '%s'",
			    what, (unsigned long long)got,
			    (unsigned long long)want, BL_STALL_S, pi.connected,
			    (unsigned long long)pi.queued_msgs,
			    (unsigned long long)pi.msgs_out, pi.last_error);
		}
		fnode_check_alive(alpha);
		fnode_check_alive(beta);
		nap();
	}
}

/* Waits until alpha holds no copy for beta (custody receipts done);
 * returns when. */
static double
wait_dropped(struct fnode *alpha, struct ferry *ca, const char *what)
{
	double t0 = bench_now_s();

	while (outbound_msgs(ca) != 0) {
		if (bench_now_s() - t0 >= BL_STALL_S)
			bench_failf("%s: alpha still holds %llu messages for "
				    "beta %.0f s after all arrived",
				    what, (unsigned long long)outbound_msgs(ca),
				    BL_STALL_S);
		fnode_check_alive(alpha);
		nap();
	}
	return bench_now_s();
}

static void
sender_fail(struct sender *s, struct ferry *c, int rc, const char *what)
{
	s->err = rc;
	bench_cell(s->detail, sizeof(s->detail), "%s: %s: %s", what,
		   ferry_strerror(rc), c != NULL ? ferry_last_error(c) : "");
}

static void
sender_big(struct sender *s, struct ferry *c)
{
	struct ferry_stream *st = NULL;
	uint64_t done = 0;
	int rc = ferry_send_begin(c, BL_DEST, s->big_bytes, NULL, &st);

	if (rc != 0) {
		sender_fail(s, c, rc, "ferry_send_begin");
		return;
	}
	while (done < s->big_bytes) {
		size_t len = s->big_bytes - done < BL_CHUNK
				 ? (size_t)(s->big_bytes - done)
				 : BL_CHUNK;
		rc = ferry_stream_write(
		    st, pool_at(s->pool, done / BL_CHUNK, len), len);
		if (rc != 0) {
			sender_fail(s, c, rc, "ferry_stream_write");
			ferry_send_abort(st);
			return;
		}
		done += len;
		if (bl_interrupted) {
			ferry_send_abort(st);
			sender_fail(s, NULL, FERRY_ECLOSED, "interrupted");
			return;
		}
	}
	rc = ferry_send_end(st, NULL);
	if (rc != 0)
		sender_fail(s, c, rc, "ferry_send_end");
}

/* A pipelined send answered: keep the first error. */
static void
sender_sent(int rc, const uint8_t *id, const char *text, void *arg)
{
	struct sender *s = arg;

	(void)id;
	if (rc != 0 && s->err == 0) {
		s->err = rc;
		bench_cell(s->detail, sizeof(s->detail),
			   "ferry_send_async: %s: %s", ferry_strerror(rc),
			   text != NULL ? text : "");
	}
}

static void *
sender_run(void *arg)
{
	struct sender *s = arg;
	struct ferry *c = NULL;
	int rc = ferry_connect(s->sock, &c), brc;

	if (rc != 0)
		sender_fail(s, NULL, rc, "ferry_connect");
	/* Everyone meets at the barrier, connected or not. */
	brc = pthread_barrier_wait(s->start);
	if (brc != 0 && brc != PTHREAD_BARRIER_SERIAL_THREAD && s->err == 0)
		sender_fail(s, NULL, FERRY_EINVAL, "pthread_barrier_wait");
	if (s->err == 0 && s->big_bytes > 0)
		sender_big(s, c);
	/* Small ones pipelined (ferry_send_async, a window of 64 in
	 * flight), each still answered once durable. */
	for (uint64_t i = 0; s->err == 0 && s->big_bytes == 0 && i < s->count;
	     i++) {
		rc = ferry_send_async(
		    c, BL_DEST, pool_at(s->pool, s->first + i, BL_MSG_BYTES),
		    BL_MSG_BYTES, NULL, sender_sent, s);
		if (rc != 0)
			sender_fail(s, c, rc, "ferry_send_async");
		else if (bl_interrupted)
			sender_fail(s, NULL, FERRY_ECLOSED, "interrupted");
	}
	if (s->err == 0 && s->big_bytes == 0 && (rc = ferry_send_flush(c)) != 0)
		sender_fail(s, c, rc, "ferry_send_flush");
	s->end_s = bench_now_s();
	ferry_close(c);
	return NULL;
}

/* Starts the senders (16 for small messages, 1 for the big one); they
 * connect, then all start at once.  Returns the start time. */
static double
senders_start(const struct bl_cfg *cfg, const struct fnode *alpha, int big,
	      struct sender *s, unsigned *nw, pthread_barrier_t *start)
{
	uint64_t next = 0;
	double t0;
	int rc;

	*nw = big ? 1 : BL_CLIENTS;
	bench_check_pthread(pthread_barrier_init(start, NULL, *nw + 1),
			    "pthread_barrier_init");
	for (unsigned i = 0; i < *nw; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		s[i].sock = alpha->sock;
		s[i].pool = cfg->pool;
		s[i].start = start;
		if (big) {
			s[i].big_bytes = cfg->big_bytes;
		} else {
			s[i].first = next;
			s[i].count = cfg->small_n / *nw +
				     (i < cfg->small_n % *nw ? 1 : 0);
			next += s[i].count;
		}
		bench_check_pthread(
		    pthread_create(&s[i].thread, NULL, sender_run, &s[i]),
		    "pthread_create");
	}
	rc = pthread_barrier_wait(start);
	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
		bench_check_pthread(rc, "pthread_barrier_wait");
	t0 = bench_now_s();
	return t0;
}

/* Joins the senders; returns when the last send returned. */
static double
senders_join(struct sender *s, unsigned nw, pthread_barrier_t *start)
{
	double end = 0.0;

	for (unsigned i = 0; i < nw; i++)
		bench_check_pthread(pthread_join(s[i].thread, NULL),
				    "pthread_join");
	bench_check_pthread(pthread_barrier_destroy(start),
			    "pthread_barrier_destroy");
	for (unsigned i = 0; i < nw; i++) {
		if (s[i].err != 0)
			bench_failf("sending on alpha: %s", s[i].detail);
		if (s[i].end_s > end)
			end = s[i].end_s;
	}
	return end;
}

/*
 * One ferry workload on two fresh nodes under DIR/ferry-NAME:
 *   way (a), link_up 0: alpha alone takes every send (row qr), then beta
 *     starts; row xr runs from beta answering to all in its queue;
 *   way (b), link_up 1: both up and connected; row xr runs from the
 *     first send to all in beta's queue.
 * Then alpha must drop every copy (custody receipts) and both agents
 * must stop cleanly.
 */
static void
ferry_run(const struct bl_cfg *cfg, int big, int link_up, struct bl_set *set)
{
	struct bl_row *qr = &set->rows[R_FA_QUEUE];
	struct bl_row *xr = &set->rows[link_up ? R_FB_E2E : R_FA_XFER];
	uint64_t n = big ? 1 : cfg->small_n;
	uint64_t bytes = big ? cfg->big_bytes : n * BL_MSG_BYTES;
	struct sender s[BL_CLIENTS];
	pthread_barrier_t start;
	char base[BL_PATH_MAX], what[64];
	struct fnode alpha, beta;
	struct ferry *ca, *cb;
	struct ferry_peer_info pi;
	unsigned nw = 0;
	double t0, t1, t_all, a0, b0;
	int port = free_port();

	bench_cell(what, sizeof(what), "ferry %s (%s)", big ? "big" : "small",
		   link_up ? "b" : "a");
	fprintf(stderr, "bench_link: %s ...\n", what);
	bench_path(base, cfg->dir, link_up ? "ferry-b" : "ferry-a");
	if (mkdir(base, 0700) != 0)
		bench_fail_errno("mkdir", base);
	fnode_init(&alpha, base, "alpha");
	fnode_init(&beta, base, "beta");
	fnode_write_confs(&alpha, &beta, port, link_up);
	log_watch(0, alpha.log);
	log_watch(1, beta.log);

	if (!link_up) {
		(void)fnode_start(&alpha, cfg);
		ca = fnode_connect(&alpha);
		a0 = bench_proc_cpu_s(alpha.pid);
		t0 = senders_start(cfg, &alpha, big, s, &nw, &start);
		t1 = senders_join(s, nw, &start);
		qr->done = 1;
		qr->n = n;
		qr->bytes = bytes;
		qr->secs = t1 - t0;
		qr->cpu_a = bench_proc_cpu_s(alpha.pid) - a0;
		qr->cpu_b = -1.0;
		qr->rss_a = bench_proc_hwm_kib(alpha.pid);
		if (outbound_msgs(ca) != n)
			bench_failf("%s: alpha holds %llu messages for beta, "
				    "%llu were sent",
				    what, (unsigned long long)outbound_msgs(ca),
				    (unsigned long long)n);
		fprintf(stderr, "bench_link:   queued at alpha: %.2f s\n",
			qr->secs);

		a0 = bench_proc_cpu_s(alpha.pid);
		set->fn.beta_start_s = fnode_start(&beta, cfg);
		t0 = bench_now_s();
		b0 = bench_proc_cpu_s(beta.pid);
		cb = fnode_connect(&beta);
		t_all = wait_arrived(&alpha, &beta, cb, ca, n, what);
		xr->cpu_a = bench_proc_cpu_s(alpha.pid) - a0;
		xr->cpu_b = bench_proc_cpu_s(beta.pid) - b0;
		alpha_peer(ca, &pi);
		/* since_ms is wall clock: into this clock's terms. */
		set->fn.session_after_s =
		    pi.since_ms > 0 ? (double)pi.since_ms / 1e3 -
					  (wall_s() - bench_now_s()) - t0
				    : 0.0;
		set->fn.drop_s = wait_dropped(&alpha, ca, what) - t_all;
	} else {
		double sent_end;

		(void)fnode_start(&beta, cfg);
		(void)fnode_start(&alpha, cfg);
		ca = fnode_connect(&alpha);
		cb = fnode_connect(&beta);
		t0 = bench_now_s();
		for (;;) {
			alpha_peer(ca, &pi);
			if (pi.connected)
				break;
			if (bench_now_s() - t0 >= BL_START_MAX_S)
				bench_failf(
				    "%s: alpha's session to beta not up "
				    "within %.0f s: '%s'",
				    what, BL_START_MAX_S, pi.last_error);
			fnode_check_alive(&alpha);
			fnode_check_alive(&beta);
			nap();
		}
		a0 = bench_proc_cpu_s(alpha.pid);
		b0 = bench_proc_cpu_s(beta.pid);
		t0 = senders_start(cfg, &alpha, big, s, &nw, &start);
		t_all = wait_arrived(&alpha, &beta, cb, ca, n, what);
		sent_end = senders_join(s, nw, &start);
		xr->cpu_a = bench_proc_cpu_s(alpha.pid) - a0;
		xr->cpu_b = bench_proc_cpu_s(beta.pid) - b0;
		set->fn.sent_s = sent_end - t0;
		set->fn.b_drop_s = wait_dropped(&alpha, ca, what) - t_all;
	}
	xr->done = 1;
	xr->n = n;
	xr->bytes = bytes;
	xr->secs = t_all - t0;
	if (queue_msgs(cb, BL_QUEUE) != n)
		bench_failf("%s: beta's queue holds %llu messages after alpha "
			    "dropped its copies, %llu were sent",
			    what, (unsigned long long)queue_msgs(cb, BL_QUEUE),
			    (unsigned long long)n);
	ferry_close(ca);
	ferry_close(cb);
	fnode_stop(&alpha);
	fnode_stop(&beta);
	xr->rss_a = alpha.hwm_kib;
	xr->rss_b = beta.hwm_kib;
	logs_forget();
	bench_rm_tree(base);
	fprintf(stderr, "bench_link:   %s: %.2f s\n",
		link_up ? "end to end" : "transfer", xr->secs);
}

/* --------------------------------------------------------------- NNCP */

/* Reads nncp-cfgnew's output: the first "KEY: VALUE" of each key, which
 * is in its self section. */
static void
nnode_keys(struct nnode *n, const char *gen)
{
	struct {
		const char *key;
		char *out;
	} keys[] = {
	    {"id", n->id},
	    {"exchpub", n->exchpub},
	    {"exchprv", n->exchprv},
	    {"signpub", n->signpub},
	    {"signprv", n->signprv},
	    {"noisepub", n->noisepub},
	    {"noiseprv", n->noiseprv},
	};
	char line[512];
	FILE *f = fopen(gen, "re");

	if (f == NULL)
		bench_fail_errno("open", gen);
	while (fgets(line, sizeof(line), f) != NULL) {
		char key[32], val[BL_NNCP_KEY_MAX];

		if (sscanf(line, " %31[a-z]: %159[A-Z0-9]", key, val) != 2)
			continue;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(key, keys[i].key) == 0 &&
			    keys[i].out[0] == '\0')
				memcpy(keys[i].out, val, strlen(val) + 1);
	}
	fclose(f);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].out[0] == '\0')
			bench_failf("%s: no '%s:' in nncp-cfgnew's output", gen,
				    keys[i].key);
}

/* A path for an hjson string: no quote, backslash or newline. */
static void
nncp_check_path(const char *p)
{
	if (strpbrk(p, "\"\\\n") != NULL)
		bench_failf("%s: a path with a quote, a backslash or a newline "
			    "cannot go into an NNCP configuration; use another",
			    p);
}

static void
nnode_init(struct nnode *n, const char *base, const char *name)
{
	char gen[BL_PATH_MAX];
	char *argv[] = {"nncp-cfgnew", "-nocomments", NULL};
	pid_t pid;
	int st, fd;

	memset(n, 0, sizeof(*n));
	n->name = name;
	bench_path(n->dir, base, name);
	bench_path(n->cfg, n->dir, "nncp.hjson");
	bench_path(n->spool, n->dir, "spool");
	bench_path(n->log, n->dir, "log");
	bench_path(n->out, n->dir, "commands.out");
	bench_path(n->incoming, n->dir, "incoming");
	bench_path(gen, n->dir, "cfgnew.hjson");
	nncp_check_path(n->dir);
	if (mkdir(n->dir, 0700) != 0 || mkdir(n->spool, 0700) != 0 ||
	    mkdir(n->incoming, 0700) != 0)
		bench_fail_errno("mkdir", n->dir);
	/* Its stdout is the configuration: into a file of its own. */
	fd = open(gen, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		bench_fail_errno("open", gen);
	if (close(fd) != 0)
		bench_fail_errno("close", gen);
	pid = spawn(argv, -1, gen, SIGKILL);
	(void)reap(pid, -1.0, &st, NULL);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bench_failf("nncp-cfgnew failed (see %s)", gen);
	nnode_keys(n, gen);
}

/*
 * NNCP's configuration for me, knowing the other node: alpha knows beta's
 * address (port); beta lets alpha run the "sink" handler (dd to
 * /dev/null) and upload files into its incoming directory.
 */
static void
nnode_write_cfg(const struct bl_cfg *cfg, const struct nnode *me,
		const struct nnode *other, int port)
{
	FILE *f = fopen(me->cfg, "wex");

	if (f == NULL)
		bench_fail_errno("open", me->cfg);
	fprintf(f,
		"# Written by bench_link for one benchmark run.\n"
		"{\n"
		"  spool: \"%s\"\n"
		"  log: \"%s\"\n"
		"  noprogress: true\n"
		"  self: {\n"
		"    id: %s\n"
		"    exchpub: %s\n"
		"    exchprv: %s\n"
		"    signpub: %s\n"
		"    signprv: %s\n"
		"    noiseprv: %s\n"
		"    noisepub: %s\n"
		"  }\n"
		"  neigh: {\n"
		"    self: {\n"
		"      id: %s\n"
		"      exchpub: %s\n"
		"      signpub: %s\n"
		"      noisepub: %s\n"
		"    }\n"
		"    %s: {\n"
		"      id: %s\n"
		"      exchpub: %s\n"
		"      signpub: %s\n"
		"      noisepub: %s\n",
		me->spool, me->log, me->id, me->exchpub, me->exchprv,
		me->signpub, me->signprv, me->noiseprv, me->noisepub, me->id,
		me->exchpub, me->signpub, me->noisepub, other->name, other->id,
		other->exchpub, other->signpub, other->noisepub);
	if (port > 0)
		fprintf(f, "      addrs: {lo: \"127.0.0.1:%d\"}\n", port);
	else
		fprintf(f,
			"      exec: {sink: [\"%s\", \"of=/dev/null\", "
			"\"status=none\"]}\n"
			"      incoming: \"%s\"\n",
			cfg->dd, me->incoming);
	fprintf(f, "    }\n  }\n}\n");
	if (fflush(f) != 0 || ferror(f))
		bench_fail_errno("writing", me->cfg);
	if (fclose(f) != 0)
		bench_fail_errno("closing", me->cfg);
}

/* Whole packets in an NNCP spool directory (DIR/spool/NODEID/SUB): regular
 * files without a dot (not .part, .nock, .seen; hdr/ is a directory). */
static uint64_t
spool_count(const struct nnode *n, const char *node_id, const char *sub)
{
	char a[BL_PATH_MAX], b[BL_PATH_MAX];
	struct dirent *e;
	uint64_t count = 0;
	DIR *d;

	bench_path(a, n->spool, node_id);
	bench_path(b, a, sub);
	d = opendir(b);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		bench_fail_errno("opendir", b);
	}
	while ((e = readdir(d)) != NULL)
		if (e->d_type == DT_REG && strchr(e->d_name, '.') == NULL)
			count++;
	if (closedir(d) != 0)
		bench_fail_errno("closedir", b);
	return count;
}

/* small: n nncp-exec, nncp_par at a time, each with one message on a pipe;
 * big: one nncp-file of a file holding the message (written untimed).
 * Returns when the first command started. */
static double
nncp_queue(const struct bl_cfg *cfg, const struct nnode *alpha, int big,
	   struct bl_row *r)
{
	char src[BL_PATH_MAX], why[64];
	uint64_t started = 0, done = 0, n = big ? 1 : cfg->small_n;
	unsigned inflight = 0;
	double t0, cpu = 0.0;
	uint64_t rss = 0;

	if (big) {
		char dst[64];
		char *argv[] = {
		    "nncp-file", "-quiet", "-cfg", (char *)alpha->cfg,
		    src,	 dst,	   NULL};
		uint64_t off = 0;
		int fd;

		bench_path(src, alpha->dir, "big.src");
		bench_cell(dst, sizeof(dst), "beta:big");
		fd = open(src, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			bench_fail_errno("open", src);
		while (off < cfg->big_bytes) {
			size_t len = cfg->big_bytes - off < BL_CHUNK
					 ? (size_t)(cfg->big_bytes - off)
					 : BL_CHUNK;
			bench_write_full(
			    fd, pool_at(cfg->pool, off / BL_CHUNK, len), len,
			    src);
			off += len;
		}
		if (close(fd) != 0)
			bench_fail_errno("close", src);
		t0 = bench_now_s();
		run_ok(argv, alpha->out, &cpu, &rss);
		r->secs = bench_now_s() - t0;
		if (unlink(src) != 0)
			bench_fail_errno("unlink", src);
	} else {
		char *argv[] = {
		    "nncp-exec", "-quiet", "-cfg", (char *)alpha->cfg,
		    "beta",	 "sink",   NULL};

		t0 = bench_now_s();
		while (done < n) {
			struct rusage ru;
			pid_t pid;
			int st;

			while (inflight < cfg->nncp_par && started < n) {
				int p[2];
				if (pipe2(p, O_CLOEXEC) != 0)
					bench_fail_errno("pipe", "");
				pid = spawn(argv, p[0], alpha->out, SIGKILL);
				/* 1 KiB fits in the pipe: never blocks. */
				bench_write_full(
				    p[1],
				    pool_at(cfg->pool, started, BL_MSG_BYTES),
				    BL_MSG_BYTES, "nncp-exec's stdin");
				if (close(p[0]) != 0 || close(p[1]) != 0)
					bench_fail_errno("close", "pipe");
				started++;
				inflight++;
			}
			pid = wait4(-1, &st, 0, &ru);
			if (pid < 0) {
				if (errno == EINTR) {
					check_interrupted();
					continue;
				}
				bench_fail_errno("wait4", "nncp-exec");
			}
			child_forget(pid);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				describe_status(why, sizeof(why), st);
				bench_log_tail(alpha->out, BL_LOG_TAIL);
				bench_failf("nncp-exec failed: %s", why);
			}
			cpu += bench_rusage_cpu_s(&ru);
			if ((uint64_t)ru.ru_maxrss > rss)
				rss = (uint64_t)ru.ru_maxrss;
			inflight--;
			done++;
			if (done % 1000 == 0)
				fprintf(stderr,
					"bench_link:   nncp-exec %llu of "
					"%llu, %.0f/s\n",
					(unsigned long long)done,
					(unsigned long long)n,
					(double)done / (bench_now_s() - t0));
		}
		r->secs = bench_now_s() - t0;
	}
	r->done = 1;
	r->n = n;
	r->bytes = big ? cfg->big_bytes : n * BL_MSG_BYTES;
	r->cpu_a = cpu;
	r->cpu_b = -1.0;
	r->rss_a = rss;
	return t0;
}

/*
 * nncp-daemon on beta, then nncp-call from alpha: the row runs from the
 * call's start until every packet is whole in beta's rx spool (NNCP has
 * fsync'd it and renamed it from .part); nncp-call itself stays online
 * -onlinedeadline 1 s more, noted apart.
 */
static void
nncp_call(const struct nnode *alpha, const struct nnode *beta, int port,
	  uint64_t n, struct bl_row *r, struct bl_nncp_notes *notes)
{
	char bind[32], why[64];
	char *dargv[] = {"nncp-daemon", "-quiet", "-cfg", (char *)beta->cfg,
			 "-bind",	bind,	  NULL};
	char *cargv[] = {
	    "nncp-call",       "-quiet",       "-cfg", (char *)alpha->cfg,
	    "-onlinedeadline", BL_NNCP_ONLINE, "beta", NULL};
	struct rusage ru;
	pid_t daemon, call;
	uint64_t last = 0, got;
	double t0, moved, t_all, d0;
	int st, call_done = 0;

	bench_cell(bind, sizeof(bind), "127.0.0.1:%d", port);
	daemon = spawn(dargv, -1, beta->out, SIGKILL);
	t0 = bench_now_s();
	while (!port_answers(port)) {
		if (waitpid(daemon, &st, WNOHANG) == daemon) {
			child_forget(daemon);
			bench_log_tail(beta->out, BL_LOG_TAIL);
			bench_failf("nncp-daemon exited before it listened");
		}
		if (bench_now_s() - t0 >= BL_START_MAX_S)
			bench_failf("nncp-daemon did not listen on %s within "
				    "%.0f s",
				    bind, BL_START_MAX_S);
		nap();
	}
	d0 = bench_proc_cpu_s(daemon);
	t0 = bench_now_s();
	call = spawn(cargv, -1, alpha->out, SIGKILL);
	moved = t0;
	for (;;) {
		got = spool_count(beta, alpha->id, "rx");
		if (got >= n)
			break;
		if (got != last) {
			last = got;
			moved = bench_now_s();
		} else if (bench_now_s() - moved >= BL_STALL_S) {
			bench_failf(
			    "nncp-call: stalled at %llu of %llu packets "
			    "in beta's rx spool for %.0f s",
			    (unsigned long long)got, (unsigned long long)n,
			    BL_STALL_S);
		}
		if (!call_done && wait4(call, &st, WNOHANG, &ru) == call) {
			child_forget(call);
			call_done = 1;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				describe_status(why, sizeof(why), st);
				bench_log_tail(alpha->out, BL_LOG_TAIL);
				bench_failf("nncp-call failed: %s", why);
			}
		}
		if (waitpid(daemon, &st, WNOHANG) == daemon) {
			child_forget(daemon);
			bench_log_tail(beta->out, BL_LOG_TAIL);
			bench_failf("nncp-daemon exited during the call");
		}
		nap();
	}
	t_all = bench_now_s();
	if (!call_done) {
		if (!reap(call, BL_CALL_EXIT_S, &st, &ru))
			bench_failf("nncp-call still running %.0f s after its "
				    "last packet arrived",
				    BL_CALL_EXIT_S);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			describe_status(why, sizeof(why), st);
			bench_log_tail(alpha->out, BL_LOG_TAIL);
			bench_failf("nncp-call failed: %s", why);
		}
	}
	notes->call_exit_s = bench_now_s() - t_all;
	r->done = 1;
	r->secs = t_all - t0;
	r->cpu_a = bench_rusage_cpu_s(&ru);
	r->rss_a = (uint64_t)ru.ru_maxrss;
	r->cpu_b = bench_proc_cpu_s(daemon) - d0;
	r->rss_b = bench_proc_hwm_kib(daemon);
	if (kill(daemon, SIGTERM) != 0)
		bench_fail_errno("kill", "nncp-daemon");
	if (!reap(daemon, BL_STOP_MAX_S, &st, NULL))
		bench_failf("nncp-daemon did not stop within %.0f s of SIGTERM",
			    BL_STOP_MAX_S);
	if (spool_count(alpha, beta->id, "tx") != 0)
		bench_failf(
		    "nncp-call: alpha still holds %llu packets for beta",
		    (unsigned long long)spool_count(alpha, beta->id, "tx"));
}

/* One NNCP workload on two fresh nodes under DIR/nncp. */
static void
nncp_run(const struct bl_cfg *cfg, int big, struct bl_set *set)
{
	struct bl_row *qr = &set->rows[R_NN_QUEUE];
	struct bl_row *cr = &set->rows[R_NN_CALL];
	struct bl_row *tr = &set->rows[R_NN_TOSS];
	uint64_t n = big ? 1 : cfg->small_n;
	char base[BL_PATH_MAX], got[BL_PATH_MAX];
	char *targv[] = {"nncp-toss", "-quiet", "-cfg", NULL, NULL};
	struct nnode alpha, beta;
	double t0, t_first, cpu = 0.0;
	uint64_t rss = 0;
	int port = free_port();

	fprintf(stderr, "bench_link: nncp %s ...\n", big ? "big" : "small");
	bench_path(base, cfg->dir, "nncp");
	if (mkdir(base, 0700) != 0)
		bench_fail_errno("mkdir", base);
	nnode_init(&alpha, base, "alpha");
	nnode_init(&beta, base, "beta");
	nnode_write_cfg(cfg, &alpha, &beta, port);
	nnode_write_cfg(cfg, &beta, &alpha, 0);
	log_watch(0, alpha.log);
	log_watch(1, beta.log);

	t_first = nncp_queue(cfg, &alpha, big, qr);
	if (spool_count(&alpha, beta.id, "tx") != n)
		bench_failf(
		    "nncp: alpha's tx spool holds %llu packets, %llu "
		    "queued",
		    (unsigned long long)spool_count(&alpha, beta.id, "tx"),
		    (unsigned long long)n);
	fprintf(stderr, "bench_link:   queued at alpha: %.2f s\n", qr->secs);

	cr->n = n;
	cr->bytes = qr->bytes;
	nncp_call(&alpha, &beta, port, n, cr, &set->nn);
	fprintf(stderr, "bench_link:   call: %.2f s\n", cr->secs);

	targv[3] = beta.cfg;
	t0 = bench_now_s();
	run_ok(targv, beta.out, &cpu, &rss);
	tr->done = 1;
	tr->n = n;
	tr->bytes = qr->bytes;
	tr->secs = bench_now_s() - t0;
	set->nn.wall_s = bench_now_s() - t_first;
	tr->cpu_a = -1.0;
	tr->cpu_b = cpu;
	tr->rss_b = rss;
	if (spool_count(&beta, alpha.id, "rx") != 0)
		bench_failf(
		    "nncp-toss left %llu packets in beta's rx spool",
		    (unsigned long long)spool_count(&beta, alpha.id, "rx"));
	if (big) {
		bench_path(got, beta.incoming, "big");
		if (file_size(got) != cfg->big_bytes)
			bench_failf("nncp: %s holds %llu bytes, %llu were sent",
				    got, (unsigned long long)file_size(got),
				    (unsigned long long)cfg->big_bytes);
	}
	fprintf(stderr, "bench_link:   toss: %.2f s\n", tr->secs);
	logs_forget();
	bench_rm_tree(base);
}

/* ------------------------------------------------------------- output */

static double
row_rate(const struct bl_row *r)
{
	return r->done && r->secs > 0.0 ? (double)r->n / r->secs : 0.0;
}

static double
row_mbs(const struct bl_row *r)
{
	return r->done && r->secs > 0.0 ? (double)r->bytes / r->secs / 1e6
					: 0.0;
}

/* A total row: the sum of rows [from, to]. */
static void
row_sum(struct bl_row *t, const struct bl_row *rows, int from, int to)
{
	t->done = 1;
	t->cpu_a = 0.0;
	t->cpu_b = 0.0;
	for (int i = from; i <= to; i++) {
		if (!rows[i].done) {
			t->done = 0;
			t->skip = rows[i].skip;
			return;
		}
		t->n = rows[i].n;
		t->bytes = rows[i].bytes;
		t->secs += rows[i].secs;
		t->cpu_a += rows[i].cpu_a > 0.0 ? rows[i].cpu_a : 0.0;
		t->cpu_b += rows[i].cpu_b > 0.0 ? rows[i].cpu_b : 0.0;
		if (rows[i].rss_a > t->rss_a)
			t->rss_a = rows[i].rss_a;
		if (rows[i].rss_b > t->rss_b)
			t->rss_b = rows[i].rss_b;
	}
}

static void
fmt_cpu(char *out, size_t cap, double v)
{
	if (v < 0.0)
		bench_cell(out, cap, "-");
	else
		bench_cell(out, cap, "%.2f", v);
}

static void
fmt_rss(char *out, size_t cap, uint64_t kib)
{
	if (kib == 0)
		bench_cell(out, cap, "-");
	else
		bench_cell(out, cap, "%.1f", (double)kib / 1024.0);
}

static void
print_set(const struct bl_set *set, int big)
{
	printf("\n%-44s %6s %7s %9s %8s %6s %6s %6s %6s\n", set->title, "n",
	       "secs", "msgs/s", "MB/s", "cpu a", "cpu b", "rss a", "rss b");
	printf("%-44s %6s %7s %9s %8s %6s %6s %6s %6s\n", "--------------", "-",
	       "----", "------", "----", "-----", "-----", "-----", "-----");
	for (int i = 0; i < R_N; i++) {
		const struct bl_row *r = &set->rows[i];
		char ca[16], cb[16], ra[16], rb[16], rate[24];

		if (!r->done) {
			printf("%-44s %s\n", r->label,
			       r->skip != NULL ? r->skip : "not measured");
			continue;
		}
		fmt_cpu(ca, sizeof(ca), r->cpu_a);
		fmt_cpu(cb, sizeof(cb), r->cpu_b);
		fmt_rss(ra, sizeof(ra), r->rss_a);
		fmt_rss(rb, sizeof(rb), r->rss_b);
		if (big)
			bench_cell(rate, sizeof(rate), "-");
		else
			bench_cell(rate, sizeof(rate), "%.1f", row_rate(r));
		printf("%-44s %6llu %7.2f %9s %8.2f %6s %6s %6s %6s\n",
		       r->label, (unsigned long long)r->n, r->secs, rate,
		       row_mbs(r), ca, cb, ra, rb);
	}
}

/* "x1.23", or "-" when either side is missing. */
static void
fmt_ratio(char *out, size_t cap, double a, double b)
{
	if (a > 0.0 && b > 0.0)
		bench_cell(out, cap, "x%.2f", a / b);
	else
		bench_cell(out, cap, "-");
}

/* The ratio lines, in print order: small rows compare messages per
 * second, big rows MB/s. */
static const struct {
	const char *what;
	enum bl_row_id f, o; /* ferry's row, the other's */
	int big;
} ratios[] = {
    {"small, transfer: ferry (a) / nncp call, msgs/s", R_FA_XFER, R_NN_CALL, 0},
    {"small, end to end: ferry (a) total / nncp total", R_FA_TOTAL, R_NN_TOTAL,
     0},
    {"small, end to end: ferry (b) link up / nncp total", R_FB_E2E, R_NN_TOTAL,
     0},
    {"small, queueing: ferry (a) queue / nncp queue", R_FA_QUEUE, R_NN_QUEUE,
     0},
    {"small, transfer: ferry (a) / raw stream", R_FA_XFER, R_RAW, 0},
    {"big, transfer: ferry (a) / nncp call, MB/s", R_FA_XFER, R_NN_CALL, 1},
    {"big, end to end: ferry (a) total / nncp total", R_FA_TOTAL, R_NN_TOTAL,
     1},
    {"big, end to end: ferry (b) link up / nncp total", R_FB_E2E, R_NN_TOTAL,
     1},
    {"big, transfer: ferry (a) / raw stream", R_FA_XFER, R_RAW, 1},
};

static void
print_ratio(const char *what, const struct bl_row *f, const struct bl_row *o,
	    int big)
{
	char x[32];

	if (big)
		fmt_ratio(x, sizeof(x), row_mbs(f), row_mbs(o));
	else
		fmt_ratio(x, sizeof(x), row_rate(f), row_rate(o));
	printf("  %-62s %8s\n", what, x);
}

/* Where the agents' time went in a row: CPU-bound (the two together near
 * the machine's CPUs, or one near a whole CPU) or waiting.  CPU per
 * message for small ones, per GiB for the big one; a side that took no
 * part (beta while alpha queues) is left out. */
static void
hint_transfer(const char *what, const struct bl_row *r, long ncpu, int big)
{
	double a, b, per;

	if (!r->done || r->secs <= 0.0 || r->n == 0 || r->bytes == 0)
		return;
	per =
	    big ? (double)(1ull << 30) / (double)r->bytes : 1e6 / (double)r->n;
	a = r->cpu_a > 0.0 ? r->cpu_a / r->secs : 0.0;
	b = r->cpu_b > 0.0 ? r->cpu_b / r->secs : 0.0;
	printf("  %s: alpha used %.0f%% of a CPU (%.*f %s)", what, 100.0 * a,
	       big ? 1 : 0, r->cpu_a * per,
	       big ? "CPU s per GiB" : "us CPU per message");
	if (r->cpu_b >= 0.0)
		printf(", beta %.0f%% (%.*f)", 100.0 * b, big ? 1 : 0,
		       r->cpu_b * per);
	if (a + b >= 0.85 * (double)ncpu)
		printf(": the %ld CPUs are full, CPU-bound\n", ncpu);
	else if (a >= 0.85 || b >= 0.85)
		printf(": %s is near one whole CPU: its busiest thread may "
		       "bound it\n",
		       a >= b ? "alpha" : "beta");
	else
		printf(": %s mostly waits (flushes, round trips, hand-offs "
		       "between threads, or CPUs taken by other processes)\n",
		       r->cpu_b >= 0.0 ? "neither agent is busy, so each"
				       : "alpha is not busy, so it");
}

static void
print_header(const struct bl_cfg *cfg)
{
	struct bench_machine m;

	bench_machine(cfg->dir, &m);
	printf("ferry link benchmark: alpha -> beta over 127.0.0.1, durable "
	       "on both sides, ferry next to NNCP and the raw limit, one "
	       "run\n");
	printf("machine: %ld CPUs, filesystem %s (0x%lx), %.1f GiB free at "
	       "the start, %s %s %s\n",
	       cfg->ncpu, m.fs, m.fs_type, cfg->free_gib, m.u.sysname,
	       m.u.release, m.u.machine);
	printf("dir:     %s\n", cfg->dir);
	if (cfg->load0 >= 0.0 && cfg->load1 >= 0.0)
		printf("load:    1-minute load average %.1f at the start, %.1f "
		       "at the end%s\n",
		       cfg->load0, cfg->load1,
		       cfg->load0 > 0.5 * (double)cfg->ncpu ||
			       cfg->load1 > 0.5 * (double)cfg->ncpu
			   ? ": other processes took CPU time, the figures "
			     "are noisy"
			   : "");
	printf("sizes:   %llu x %u B messages; one message of %llu MiB%s\n",
	       (unsigned long long)cfg->small_n, BL_MSG_BYTES,
	       (unsigned long long)(cfg->big_bytes >> 20),
	       cfg->quick ? " (quick)" : "");
	printf("ferry:   %s; %u libferry clients on alpha (1 for the big "
	       "message), workers = %u, every other setting default\n",
	       cfg->ferryd, BL_CLIENTS, BL_WORKERS);
	if (cfg->nncp)
		printf("nncp:    %s; %u nncp-exec at a time; exec handler "
		       "'%s of=/dev/null'\n",
		       cfg->nncp_version, cfg->nncp_par, cfg->dd);
	else if (cfg->nncp_off)
		printf("nncp:    not run (BENCH_LINK_NNCP=0)\n");
	else
		printf("nncp:    not installed: apt-get install nncp (%s "
		       "missing); NNCP rows skipped\n",
		       cfg->nncp_missing);
	printf("columns: MB = 10^6 payload bytes; cpu = user+system seconds "
	       "of alpha's / beta's side; rss = their peak resident memory, "
	       "MiB\n");
	if (m.fs_type == 0x01021994UL || m.fs_type == 0x858458f6UL)
		printf("WARNING: %s makes fsync free: these numbers say "
		       "nothing about a disk\n",
		       m.fs);
}

/* Issue 15's aims this benchmark measures (bench_report.sh): aim 2,
 * small messages end to end against transfer alone; aim 3, the big
 * message end to end against the raw secretstream over TCP; aim 7,
 * ferryd's peak RSS over every ferry row. */
static void
emit_aims(const struct bl_set *small, const struct bl_set *big)
{
	uint64_t rss = 0;

	const struct bl_row *se = &small->rows[R_FB_E2E];
	const struct bl_row *be = &big->rows[R_FB_E2E];

	bench_aim("end to end small messages", se->done ? row_rate(se) : -1.0,
		  "msg/s", row_rate(&small->rows[R_FA_XFER]), 0.8, 1);
	bench_aim("big messages over TCP", be->done ? row_mbs(be) : -1.0,
		  "MB/s", row_mbs(&big->rows[R_RAW]), 0.8, 1);
	for (int s = 0; s < 2; s++) {
		const struct bl_set *set = s == 0 ? small : big;
		for (int i = R_FA_QUEUE; i <= R_FB_E2E; i++) {
			if (!set->rows[i].done)
				continue;
			if (set->rows[i].rss_a > rss)
				rss = set->rows[i].rss_a;
			if (set->rows[i].rss_b > rss)
				rss = set->rows[i].rss_b;
		}
	}
	bench_aim("memory", rss > 0 ? (double)rss / 1024.0 : -1.0, "MiB", 64.0,
		  1.0, 0);
}

static void
print_all(const struct bl_cfg *cfg, const struct bl_set *small,
	  const struct bl_set *big, double crypto_mbs, double disk1,
	  double disk2)
{
	double disk = disk1 > 0.0 && disk2 > 0.0 ? (disk1 + disk2) / 2.0 : 0.0;
	double lim = disk > 0.0 && disk < crypto_mbs ? disk : crypto_mbs;
	const struct bl_row *fb = &big->rows[R_FA_XFER];

	print_header(cfg);
	print_set(small, 0);
	print_set(big, 1);

	printf("\n%-44s %s\n", "yardsticks", "MB/s");
	printf("%-44s %s\n", "----------", "----");
	printf("%-44s %.1f\n", "ChaCha20-Poly1305 encrypt, 64 KiB, 1 core",
	       crypto_mbs);
	if (disk > 0.0)
		printf("%-44s %.1f  (%.1f at the start, %.1f at the end)\n",
		       "disk write, 1 MiB blocks + fdatasync", disk, disk1,
		       disk2);
	else
		printf("%-44s %s\n", "disk write, 1 MiB blocks + fdatasync",
		       big->rows[R_RAW].skip);

	printf("\nratios: ferry / the other (above x1: ferry is faster)\n");
	for (size_t i = 0; i < sizeof(ratios) / sizeof(ratios[0]); i++) {
		const struct bl_set *set = ratios[i].big ? big : small;

		print_ratio(ratios[i].what, &set->rows[ratios[i].f],
			    &set->rows[ratios[i].o], ratios[i].big);
	}
	if (fb->done && lim > 0.0) {
		double x = row_mbs(fb) / lim;
		printf("  %-62s    x%.2f  %s the x%.2f aim\n",
		       "big, transfer: ferry (a) / min(disk, crypto)", x,
		       x >= BL_AIM ? "meets" : "BELOW", BL_AIM);
		x = row_mbs(&big->rows[R_FB_E2E]) / lim;
		printf("  %-62s    x%.2f\n",
		       "big, end to end: ferry (b) / min(disk, crypto)", x);
	}

	emit_aims(small, big);

	printf("\nnotes:\n");
	if (small->rows[R_FA_XFER].done)
		printf("  small (a): beta answered %.2f s after its start; "
		       "alpha's session was up %.0f ms after that; alpha "
		       "dropped its last copy %.0f ms after all arrived\n",
		       small->fn.beta_start_s, 1e3 * small->fn.session_after_s,
		       1e3 * small->fn.drop_s);
	if (small->rows[R_FB_E2E].done)
		printf("  small (b): the last send on alpha returned after "
		       "%.2f s of the %.2f s; alpha dropped its last copy "
		       "%.0f ms after all arrived\n",
		       small->fn.sent_s, small->rows[R_FB_E2E].secs,
		       1e3 * small->fn.b_drop_s);
	if (big->rows[R_FA_XFER].done)
		printf("  big (a): beta answered %.2f s after its start; "
		       "session up %.0f ms after that; last copy dropped "
		       "%.0f ms after arrival\n",
		       big->fn.beta_start_s, 1e3 * big->fn.session_after_s,
		       1e3 * big->fn.drop_s);
	if (big->rows[R_FB_E2E].done)
		printf("  big (b): the send on alpha returned after %.2f s of "
		       "the %.2f s\n",
		       big->fn.sent_s, big->rows[R_FB_E2E].secs);
	if (small->rows[R_NN_QUEUE].done)
		printf("  nncp queue: one nncp-exec process per message, "
		       "%.1f ms each (%u at a time), %.1f ms of CPU each\n",
		       1e3 * small->rows[R_NN_QUEUE].secs *
			   (double)cfg->nncp_par /
			   (double)small->rows[R_NN_QUEUE].n,
		       cfg->nncp_par,
		       1e3 * small->rows[R_NN_QUEUE].cpu_a /
			   (double)small->rows[R_NN_QUEUE].n);
	if (small->rows[R_NN_CALL].done)
		printf("  nncp call: nncp-call stayed online %.2f s (small) "
		       "and %.2f s (big) after the last packet arrived "
		       "(-onlinedeadline %s), not counted\n",
		       small->nn.call_exit_s, big->nn.call_exit_s,
		       BL_NNCP_ONLINE);
	if (small->rows[R_NN_TOSS].done)
		printf("  nncp wall clock, first queueing to the toss's exit "
		       "(with nncp-daemon's start and nncp-call's idle "
		       "time): %.2f s small, %.2f s big\n",
		       small->nn.wall_s, big->nn.wall_s);

	printf("\nwhat bounds it:\n");
	hint_transfer("small (a) queue", &small->rows[R_FA_QUEUE], cfg->ncpu,
		      0);
	hint_transfer("small (a) transfer", &small->rows[R_FA_XFER], cfg->ncpu,
		      0);
	hint_transfer("small (b) end to end", &small->rows[R_FB_E2E], cfg->ncpu,
		      0);
	hint_transfer("big (a) queue", &big->rows[R_FA_QUEUE], cfg->ncpu, 1);
	hint_transfer("big (a) transfer", &big->rows[R_FA_XFER], cfg->ncpu, 1);
	if (fb->done && disk > 0.0)
		printf("  big (a): %.1f MB/s is x%.2f of the disk's %.1f and "
		       "x%.2f of one core's ChaCha20-Poly1305 %.1f; beta "
		       "writes each byte to its store%s\n",
		       row_mbs(fb), row_mbs(fb) / disk, disk,
		       row_mbs(fb) / crypto_mbs, crypto_mbs,
		       row_mbs(fb) < 0.4 * lim
			   ? ", and more than half the limit is lost on the "
			     "way: see the CPU line above"
			   : "");
	hint_transfer("big (b) end to end", &big->rows[R_FB_E2E], cfg->ncpu, 1);
}

/* --------------------------------------------------------------- main */

static uint64_t
env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long x;

	if (v == NULL || v[0] == '\0')
		return dflt;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || x == 0)
		bench_failf("%s=%s: not a positive number", name, v);
	return (uint64_t)x;
}

/* NNCP's commands, its version, and the exec handler. */
static void
nncp_probe(struct bl_cfg *cfg)
{
	static const char *const cmds[] = {"nncp-cfgnew", "nncp-exec",
					   "nncp-file",	  "nncp-daemon",
					   "nncp-call",	  "nncp-toss"};
	char path[BL_PATH_MAX], out[BL_PATH_MAX];
	char *argv[] = {"nncp-exec", "-version", NULL};
	FILE *f;

	cfg->nncp = 1;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!find_in_path(cmds[i], path)) {
			cfg->nncp = 0;
			bench_cell(cfg->nncp_missing, sizeof(cfg->nncp_missing),
				   "%s", cmds[i]);
			return;
		}
	if (!find_in_path("dd", cfg->dd)) {
		cfg->nncp = 0;
		bench_cell(cfg->nncp_missing, sizeof(cfg->nncp_missing), "dd");
		return;
	}
	nncp_check_path(cfg->dd);
	bench_path(out, cfg->dir, "nncp-version");
	run_ok(argv, out, NULL, NULL);
	f = fopen(out, "re");
	if (f == NULL)
		bench_fail_errno("open", out);
	if (fgets(cfg->nncp_version, sizeof(cfg->nncp_version), f) == NULL)
		bench_cell(cfg->nncp_version, sizeof(cfg->nncp_version),
			   "NNCP");
	fclose(f);
	cfg->nncp_version[strcspn(cfg->nncp_version, "\n")] = '\0';
	if (unlink(out) != 0)
		bench_fail_errno("unlink", out);
}

static void
set_init(struct bl_set *set, const char *title)
{
	static const char *const labels[R_N] = {
	    [R_FA_QUEUE] = "ferry (a) queue on alpha, beta down",
	    [R_FA_XFER] = "ferry (a) beta up -> all in beta's queue",
	    [R_FA_TOTAL] = "ferry (a) total: queue + transfer",
	    [R_FB_E2E] = "ferry (b) link up: send -> all at beta",
	    [R_NN_QUEUE] = "nncp queue on alpha",
	    [R_NN_CALL] = "nncp call -> all in beta's rx spool",
	    [R_NN_TOSS] = "nncp toss on beta",
	    [R_NN_TOTAL] = "nncp total: queue + call + toss",
	    [R_RAW] = "raw secretstream over TCP, fsync at end",
	};

	memset(set, 0, sizeof(*set));
	set->title = title;
	for (int i = 0; i < R_N; i++) {
		set->rows[i].label = labels[i];
		set->rows[i].cpu_a = -1.0;
		set->rows[i].cpu_b = -1.0;
	}
}

static void
set_skip(struct bl_set *set, int from, int to, const char *why)
{
	for (int i = from; i <= to; i++)
		set->rows[i].skip = why;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_link [--quick] [PARENT [FERRYD]]\n"
			"  PARENT: where the private directory goes (default "
			"$TMPDIR or /tmp)\n"
			"  FERRYD: the agent (default: ferryd in PATH)\n"
			"  env: BENCH_QUICK=1, BENCH_LINK_MSGS=N, "
			"BENCH_LINK_BIG_MIB=N, BENCH_KEEP=1\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static struct bl_set small, big;
	struct bl_cfg cfg;
	struct sigaction sa;
	const char *q = getenv("BENCH_QUICK");
	const char *parent = NULL, *tmp = getenv("TMPDIR");
	char tmpl[BL_PATH_MAX];
	static char skip_big[160], skip_nncp[160];
	double crypto_mbs, disk1 = 0.0, disk2 = 0.0, t_start = bench_now_s();
	int argi = 1;

	bench_util_init("bench_link", bl_cleanup);
	memset(&cfg, 0, sizeof(cfg));
	cfg.quick = q != NULL && q[0] != '\0' && strcmp(q, "0") != 0;
	if (argi < argc && strcmp(argv[argi], "--quick") == 0) {
		cfg.quick = 1;
		argi++;
	}
	if (argi < argc && argv[argi][0] == '-')
		usage();
	if (argi < argc)
		parent = argv[argi++];
	cfg.ferryd = argi < argc ? argv[argi++] : "ferryd";
	if (argi < argc)
		usage();
	if (parent == NULL)
		parent = tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp";

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	if (sigemptyset(&sa.sa_mask) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0)
		bench_fail_errno("sigaction", "");
	/* A client writing to a ferryd that died gets EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		bench_failf("sodium_init failed");

	cfg.small_n = env_u64("BENCH_LINK_MSGS",
			      cfg.quick ? BL_QUICK_SMALL_N : BL_SMALL_N);
	cfg.big_bytes =
	    env_u64("BENCH_LINK_BIG_MIB",
		    (cfg.quick ? BL_QUICK_BIG_BYTES : BL_BIG_BYTES) >> 20)
	    << 20;
	if (getloadavg(&cfg.load0, 1) != 1)
		cfg.load0 = -1.0;
	cfg.ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (cfg.ncpu < 1)
		cfg.ncpu = 1;
	cfg.nncp_par = (unsigned)cfg.ncpu > BL_NNCP_PAR_MIN ? (unsigned)cfg.ncpu
							    : BL_NNCP_PAR_MIN;

	if (snprintf(tmpl, sizeof(tmpl), "%s/bench-link.XXXXXX", parent) >=
	    (int)sizeof(tmpl))
		bench_failf("%s: path too long", parent);
	if (mkdtemp(tmpl) == NULL)
		bench_fail_errno("mkdtemp", tmpl);
	if (realpath(tmpl, cfg.dir) == NULL) {
		int e = errno;
		(void)rmdir(tmpl);
		errno = e;
		bench_fail_errno("realpath", tmpl);
	}
	memcpy(bl_dir, cfg.dir, sizeof(bl_dir));
	cfg.pool = bl_alloc(BL_POOL);
	randombytes_buf(cfg.pool, BL_POOL);
	q = getenv("BENCH_LINK_NNCP");
	cfg.nncp_off = q != NULL && strcmp(q, "0") == 0;
	if (!cfg.nncp_off)
		nncp_probe(&cfg);

	set_init(&small, "10,000 x 1 KiB");
	if (cfg.small_n != BL_SMALL_N || cfg.big_bytes != BL_BIG_BYTES) {
		static char t1[64], t2[64];
		bench_cell(t1, sizeof(t1), "%llu x 1 KiB",
			   (unsigned long long)cfg.small_n);
		bench_cell(t2, sizeof(t2), "1 x %llu MiB",
			   (unsigned long long)(cfg.big_bytes >> 20));
		small.title = t1;
		set_init(&big, t2);
	} else {
		set_init(&big, "1 x 1 GiB");
	}
	if (!cfg.nncp && cfg.nncp_off) {
		bench_cell(skip_nncp, sizeof(skip_nncp),
			   "skipped: BENCH_LINK_NNCP=0");
		set_skip(&small, R_NN_QUEUE, R_NN_TOTAL, skip_nncp);
		set_skip(&big, R_NN_QUEUE, R_NN_TOTAL, skip_nncp);
	} else if (!cfg.nncp) {
		bench_cell(skip_nncp, sizeof(skip_nncp),
			   "skipped: nncp not installed: apt-get install nncp");
		set_skip(&small, R_NN_QUEUE, R_NN_TOTAL, skip_nncp);
		set_skip(&big, R_NN_QUEUE, R_NN_TOTAL, skip_nncp);
		fprintf(stderr, "bench_link: nncp not installed: apt-get "
				"install nncp\n");
	}
	cfg.free_gib = (double)free_bytes(cfg.dir) / (double)(1ull << 30);
	cfg.big = free_bytes(cfg.dir) >= BL_FREE_FACTOR * cfg.big_bytes;
	if (!cfg.big) {
		bench_cell(
		    skip_big, sizeof(skip_big),
		    "skipped: %.1f GiB free, the %llu MiB part needs %.1f",
		    cfg.free_gib, (unsigned long long)(cfg.big_bytes >> 20),
		    (double)(BL_FREE_FACTOR * cfg.big_bytes) /
			(double)(1ull << 30));
		set_skip(&big, 0, R_N - 1, skip_big);
		fprintf(stderr, "bench_link: %s\n", skip_big);
	}

	crypto_mbs = crypto_rate(&cfg);
	fprintf(stderr, "bench_link: ChaCha20-Poly1305: %.0f MB/s\n",
		crypto_mbs);
	if (cfg.big) {
		disk1 = disk_rate(&cfg);
		fprintf(stderr, "bench_link: disk write: %.0f MB/s\n", disk1);
	}

	raw_run(&cfg, cfg.small_n, cfg.small_n * BL_MSG_BYTES,
		&small.rows[R_RAW]);
	ferry_run(&cfg, 0, 0, &small);
	ferry_run(&cfg, 0, 1, &small);
	if (cfg.nncp)
		nncp_run(&cfg, 0, &small);

	if (cfg.big && free_bytes(cfg.dir) < BL_FREE_FACTOR * cfg.big_bytes) {
		bench_cell(
		    skip_big, sizeof(skip_big),
		    "skipped: free space fell below %.1f GiB during the run",
		    (double)(BL_FREE_FACTOR * cfg.big_bytes) /
			(double)(1ull << 30));
		set_skip(&big, 0, R_N - 1, skip_big);
		cfg.big = 0;
		disk1 = 0.0;
	}
	if (cfg.big) {
		raw_run(&cfg, 1, cfg.big_bytes, &big.rows[R_RAW]);
		ferry_run(&cfg, 1, 0, &big);
		ferry_run(&cfg, 1, 1, &big);
		if (cfg.nncp)
			nncp_run(&cfg, 1, &big);
		disk2 = disk_rate(&cfg);
		fprintf(stderr, "bench_link: disk write, again: %.0f MB/s\n",
			disk2);
	}
	if (getloadavg(&cfg.load1, 1) != 1)
		cfg.load1 = -1.0;
	row_sum(&small.rows[R_FA_TOTAL], small.rows, R_FA_QUEUE, R_FA_XFER);
	row_sum(&small.rows[R_NN_TOTAL], small.rows, R_NN_QUEUE, R_NN_TOSS);
	row_sum(&big.rows[R_FA_TOTAL], big.rows, R_FA_QUEUE, R_FA_XFER);
	row_sum(&big.rows[R_NN_TOTAL], big.rows, R_NN_QUEUE, R_NN_TOSS);

	print_all(&cfg, &small, &big, crypto_mbs, disk1, disk2);
	printf("\nwhole run: %.1f s\n", bench_now_s() - t_start);
	if (fflush(stdout) != 0 || ferror(stdout))
		bench_fail_errno("writing", "stdout");
	free(cfg.pool);
	if (rmdir(cfg.dir) != 0)
		bench_rm_tree(cfg.dir);
	bl_dir[0] = '\0';
	return 0;
}
