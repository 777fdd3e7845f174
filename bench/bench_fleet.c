/*
 * bench_fleet.c - N simulated field nodes on one real ferryd base (issue
 * 16, "1,000 field nodes on one base").
 *
 *   bench_fleet [--smoke] [PARENT [FERRYD]]
 *
 * For each N of FLEET_N (default "100 500 1000"), in a fresh directory
 * under PARENT ($TMPDIR or /tmp), the program starts a base ferryd (node
 * "base", listening on 127.0.0.1, one [peer] section per simulated node
 * holding its card, every other setting at its default) and runs N
 * simulated nodes in this process (fleet_sim.c: one thread, one epoll
 * loop, each node its own identity and hop session).  Each node dials the
 * base (the dials spread over FLEET_SPREAD_S), sends a 1 KiB message to
 * base/q every FLEET_INTERVAL_S and one 1 MiB message during the first
 * three quarters of the sending time (FLEET_SECS), and takes the one
 * message the base sends it (a thread of this program, through libferry,
 * `ferry send nodeNNNN/q` as an operator would).  After the sending time
 * the run waits until every message has its CUSTODY and the base's
 * outbound queue is empty, measures FLEET_IDLE_S of idleness with every
 * session up, stops the nodes and checks the base's queue q: every
 * message each node sent in it exactly once, nothing else.
 *
 * Measured, per N: the base's peak resident memory (VmHWM) and threads
 * (/proc/PID/status, sampled every 100 ms), its file descriptors, its CPU
 * (/proc/PID/stat utime+stime) per message carried and when idle, the
 * sessions up at the end of the sending time (the nodes' view and the
 * base's, `ferry peers`), and latencies: a node's send (the record with
 * its MSG written to the socket) to the base's CUSTODY, which the base
 * gives only once the message is durable in its store, i.e. in queue q;
 * the base's ferry_send to the node's END.  Progress goes to stderr, the
 * tables to stdout; FLEET_JSON=FILE also writes the figures as JSON.
 *
 * --smoke (make check: tests/integration/link_fleet.sh): N = 20 for 4 s,
 * a message a second from each node and a big one of 300 KiB (above
 * LINK_INLINE_MAX, so it takes the RESUME path), whatever the environment
 * says; exit 1 unless every session came up and every message arrived
 * exactly once.  Timings are printed, never judged.
 *
 * The program owns the ferryd it starts (PR_SET_PDEATHSIG: it never
 * outlives the run) and its directory, removed at the end, on failure and
 * on SIGINT or SIGTERM (BENCH_KEEP=1 keeps it after a failure).
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench/bench_util.h"
#include "bench/fleet_sim.h"
#include "lib/ferry.h"
#include "transports/identity.h"

#define FL_NS_MAX      8
#define FL_QUEUE       "q"
#define FL_BASE	       "base"
#define FL_SMALL       1024u
#define FL_BIG	       (1024u * 1024u)
#define FL_POOL	       (4u << 20)
#define FL_SOCK_MAX    107
#define FL_START_MAX_S 15.0
#define FL_STOP_MAX_S  60.0
#define FL_DRAIN_MAX_S 90.0 /* after the sending time: all in, or fail */
#define FL_SAMPLE_NS   100000000LL
#define FL_FDS_SPARE   256 /* descriptors beyond one per node */
#define FL_LOG_TAIL    20
/* Issue 16's aims at N = 1,000. */
#define FL_AIM_N       1000u
#define FL_AIM_P99_MS  1000.0
#define FL_AIM_RSS_MIB 256.0

struct fl_cfg {
	const char *ferryd;
	char dir[BENCH_PATH_MAX];
	unsigned ns[FL_NS_MAX];
	size_t nns;
	double secs, spread_s, interval_s, idle_s;
	size_t small_bytes, big_bytes;
	int one_source, smoke;
	unsigned long base_nofile; /* FLEET_BASE_NOFILE, 0: ours */
	const char *json;
	uint8_t *pool;
	long ncpu;
};

/* The base's resident memory by kind (/proc/PID/smaps), KiB. */
struct smaps_sum {
	uint64_t stacks;  /* anonymous mappings of a thread stack's size */
	uint64_t malloc;  /* [heap] and other anonymous ones of 1 MiB+:
			     malloc's main heap and per-thread arenas */
	uint64_t anon;	  /* smaller anonymous ones (big malloc blocks,
			     sodium_malloc'd keys, ...) */
	uint64_t file;	  /* file-backed: libraries, the store's files */
	unsigned nstacks; /* stacks */
};

/* The figures of one N. */
struct fl_result {
	unsigned n;
	unsigned up_end, base_up_end, ever_up, drops, dial_fails;
	double all_up_s;
	uint64_t made, custody, resent, failures;
	uint64_t down_sent, down_failed, down_rx, down_dup, down_missing;
	uint64_t in_queue, missing, twice, unknown;
	int exactly_once;
	char why[200];
	double run_s, cpu_s, cpu_idle_s, idle_s, sim_cpu_s, stop_s;
	uint64_t rss0_kib, hwm_kib, rss_kib;
	unsigned threads0, threads_peak, threads_end;
	unsigned fds_end;
	double cpu_dial_s;    /* the base's CPU until every node was up */
	struct smaps_sum mem; /* where its resident memory was at the end */
	double p50_ms, p99_ms, max_ms;	 /* small: send to CUSTODY */
	double big_p50_ms, big_p99_ms;	 /* big: its MSG to CUSTODY */
	double down_p50_ms, down_p99_ms; /* base's send to the END */
	double hs_p50_ms, hs_p99_ms;	 /* dial to the base's HELLO */
	uint64_t n_small, n_big, n_down_lat;
};

/* The base of one run. */
struct fl_base {
	char dir[BENCH_PATH_MAX], conf[BENCH_PATH_MAX];
	char sock[BENCH_PATH_MAX], log[BENCH_PATH_MAX];
	uint8_t kx[IDENTITY_PK_LEN];
	int port;
	pid_t pid;
};

/* The thread that sends one message from the base to each node. */
struct fl_down {
	const struct fl_cfg *cfg;
	struct fleet *fleet;
	const struct fl_base *base;
	unsigned n;
	uint8_t (*ids)[FERRY_ID_LEN]; /* what ferry_send returned, per node */
	int *ok;
	uint64_t sent, failed;
	char first_error[200];
	int done; /* atomic: every send returned (then sent, failed hold) */
};

static volatile sig_atomic_t fl_interrupted;
static char fl_dir[BENCH_PATH_MAX];
static pid_t fl_pid = -1;
static const char *fl_log;

/* ------------------------------------------------------------ failures */

static void
on_signal(int sig)
{
	(void)sig;
	fl_interrupted = 1;
}

static void
fl_cleanup(void)
{
	const char *keep = getenv("BENCH_KEEP");

	if (fl_pid > 0) {
		double t0 = bench_now_s();
		int st;
		(void)kill(fl_pid, SIGTERM);
		while (waitpid(fl_pid, &st, WNOHANG) == 0) {
			struct timespec ts = {0, 20000000L};
			if (bench_now_s() - t0 > 10.0) {
				(void)kill(fl_pid, SIGKILL);
				(void)waitpid(fl_pid, &st, 0);
				break;
			}
			(void)nanosleep(&ts, NULL);
		}
		fl_pid = -1;
	}
	if (fl_log != NULL && !fl_interrupted)
		bench_log_tail(fl_log, FL_LOG_TAIL);
	fl_log = NULL;
	if (fl_dir[0] == '\0')
		return;
	if (keep != NULL && keep[0] != '\0' && strcmp(keep, "0") != 0) {
		fprintf(stderr, "bench_fleet: BENCH_KEEP is set: %s kept\n",
			fl_dir);
		return;
	}
	if (bench_rm_tree_quiet(fl_dir) != 0)
		fprintf(stderr, "bench_fleet: removing %s: %s\n", fl_dir,
			strerror(errno));
	fl_dir[0] = '\0';
}

static void
check_interrupted(void)
{
	if (fl_interrupted)
		bench_failf("interrupted");
}

static void
nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	check_interrupted();
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		check_interrupted();
}

/* ----------------------------------------------------------- settings */

static double
env_double(const char *name, double def, double min, double max)
{
	const char *v = getenv(name);
	char *end;
	double d;

	if (v == NULL || v[0] == '\0')
		return def;
	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || *end != '\0' || !(d >= min && d <= max))
		bench_failf("%s=%s: a number from %g to %g, please", name, v,
			    min, max);
	return d;
}

static void
parse_ns(struct fl_cfg *cfg, const char *list)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	cfg->nns = 0;
	for (char *t = strtok_r(buf, " ,", &save); t != NULL;
	     t = strtok_r(NULL, " ,", &save)) {
		char *end;
		unsigned long v = strtoul(t, &end, 10);
		if (*end != '\0' || v < 1 || v > FLEET_NODES_MAX)
			bench_failf("FLEET_N: %s is not a count from 1 to %d",
				    t, FLEET_NODES_MAX);
		if (cfg->nns == FL_NS_MAX)
			bench_failf("FLEET_N: at most %d counts", FL_NS_MAX);
		cfg->ns[cfg->nns++] = (unsigned)v;
	}
	if (cfg->nns == 0)
		bench_failf("FLEET_N: no count in \"%s\"", list);
}

/* --------------------------------------------------------------- /proc */

/* A "Name: value" line of /proc/PID/status (the first number). */
static uint64_t
proc_status(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	unsigned long long v = 0;
	FILE *f;

	bench_cell(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		bench_fail_errno("open", path);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			v = strtoull(line + fl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static unsigned
proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	bench_cell(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * Sum the Rss of pid's mappings by kind.  A thread stack is an
 * anonymous read-write mapping of exactly stack_kib (glibc's default
 * thread stack: RLIMIT_STACK, which the base inherits from us).
 */
static void
proc_smaps(pid_t pid, uint64_t stack_kib, struct smaps_sum *out)
{
	char path[64], line[512];
	enum { K_NONE, K_STACK, K_MALLOC, K_ANON, K_FILE } kind = K_NONE;
	FILE *f;

	memset(out, 0, sizeof(*out));
	bench_cell(path, sizeof(path), "/proc/%ld/smaps", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long long a, b, rss;
		char perm[8], name[256];
		int k;

		name[0] = '\0';
		k = sscanf(line, "%llx-%llx %7s %*s %*s %*s %255s", &a, &b,
			   perm, name);
		if (k >= 3 && strchr(line, '-') < strchr(line, ' ')) {
			uint64_t kib = (b - a) >> 10;
			if (name[0] != '\0' && strcmp(name, "[heap]") != 0)
				kind = name[0] == '[' ? K_NONE : K_FILE;
			else if (name[0] != '\0')
				kind = K_MALLOC;
			else if (strcmp(perm, "rw-p") == 0 && kib == stack_kib)
				kind = K_STACK;
			else if (kib >= 1024)
				kind = K_MALLOC;
			else
				kind = K_ANON;
			if (kind == K_STACK)
				out->nstacks++;
			continue;
		}
		if (sscanf(line, "Rss: %llu kB", &rss) != 1)
			continue;
		switch (kind) {
		case K_STACK:
			out->stacks += rss;
			break;
		case K_MALLOC:
			out->malloc += rss;
			break;
		case K_ANON:
			out->anon += rss;
			break;
		case K_FILE:
			out->file += rss;
			break;
		default:
			break;
		}
	}
	fclose(f);
}

static double
thread_cpu_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0.0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ the base */

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
	(void)close(fd);
	return ntohs(a.sin_port);
}

static void
base_init(struct fl_base *b, const char *parent)
{
	struct identity *id = NULL;
	char err[256];
	int rc;

	memset(b, 0, sizeof(*b));
	b->pid = -1;
	bench_path(b->dir, parent, FL_BASE);
	bench_path(b->conf, b->dir, "ferry.conf");
	bench_path(b->sock, b->dir, "ferry.sock");
	bench_path(b->log, b->dir, "ferryd.log");
	if (strlen(b->sock) > FL_SOCK_MAX)
		bench_failf("%s: longer than the %d bytes a unix socket path "
			    "may have; use a directory with a shorter path",
			    b->sock, FL_SOCK_MAX);
	if (strpbrk(b->dir, ";#\n") != NULL)
		bench_failf("%s: a directory with ';', '#' or a newline in "
			    "its name cannot go into ferry.conf",
			    b->dir);
	if (mkdir(b->dir, 0700) != 0)
		bench_fail_errno("mkdir", b->dir);
	if ((rc = identity_generate(b->dir)) != 0)
		bench_fail("identity_generate", rc, b->dir);
	if ((rc = identity_load(b->dir, &id, err, sizeof(err))) != 0)
		bench_fail("identity_load", rc, err);
	memcpy(b->kx, identity_kx_pk(id), IDENTITY_PK_LEN);
	identity_free(id);
	b->port = free_port();
}

/* ferry.conf: the base listens, and knows every node by its card. */
static void
base_write_conf(const struct fl_base *b, const struct fleet *fleet, unsigned n)
{
	FILE *f = fopen(b->conf, "wex");
	char card[IDENTITY_CARD_MAX];
	int rc;

	if (f == NULL)
		bench_fail_errno("open", b->conf);
	fprintf(f,
		"# Written by bench_fleet for one run: %u simulated nodes.\n"
		"[node]\n"
		"name = %s\n"
		"state_dir = %s\n"
		"socket = %s\n"
		"listen = 127.0.0.1:%d\n",
		n, FL_BASE, b->dir, b->sock, b->port);
	for (unsigned i = 0; i < n; i++) {
		if ((rc = fleet_node_card(fleet, i, card, sizeof(card))) != 0)
			bench_fail("identity_card", rc, "");
		fprintf(f, "\n[peer %s]\nkey = %s\ndial = never\n",
			fleet_node_name(fleet, i), card);
	}
	if (fflush(f) != 0 || ferror(f))
		bench_fail_errno("writing", b->conf);
	if (fclose(f) != 0)
		bench_fail_errno("closing", b->conf);
}

static void
describe_status(char *out, size_t cap, int st)
{
	if (WIFEXITED(st))
		bench_cell(out, cap, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		bench_cell(out, cap, "signal %d", WTERMSIG(st));
	else
		bench_cell(out, cap, "status 0x%x", st);
}

static void
base_check_alive(struct fl_base *b)
{
	char why[64];
	int st;

	if (b->pid <= 0 || waitpid(b->pid, &st, WNOHANG) != b->pid)
		return;
	b->pid = fl_pid = -1;
	describe_status(why, sizeof(why), st);
	bench_failf("the base's ferryd exited (%s); its log is below", why);
}

/* The base's log says it listens for peers. */
static int
base_listening(const struct fl_base *b)
{
	char line[512];
	int found = 0;
	FILE *f = fopen(b->log, "re");

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, "listening for peers on") != NULL;
	fclose(f);
	return found;
}

static void
base_start(struct fl_base *b, const struct fl_cfg *cfg)
{
	char *argv[] = {(char *)cfg->ferryd, "-c", b->conf, NULL};
	pid_t parent = getpid();
	struct ferry *c = NULL;
	double t0 = bench_now_s();

	fflush(NULL);
	b->pid = fork();
	if (b->pid < 0)
		bench_fail_errno("fork", cfg->ferryd);
	if (b->pid == 0) {
		int o = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			     0600);
		int i = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (o < 0 || i < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0 ||
		    dup2(o, 2) < 0)
			_exit(126);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 ||
		    getppid() != parent)
			_exit(126);
		if (cfg->base_nofile > 0) {
			/* To see what the base does without enough. */
			struct rlimit rl;
			if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
				_exit(126);
			rl.rlim_cur = cfg->base_nofile;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
				_exit(126);
		}
		execvp(argv[0], argv);
		dprintf(2, "bench_fleet: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	fl_pid = b->pid;
	fl_log = b->log;
	for (;;) {
		base_check_alive(b);
		if (ferry_connect(b->sock, &c) == 0)
			break;
		if (bench_now_s() - t0 >= FL_START_MAX_S)
			bench_failf("the base did not answer on %s within "
				    "%.0f s",
				    b->sock, FL_START_MAX_S);
		nap_ms(20);
	}
	ferry_close(c);
	/* Its socket may answer before its TCP listener is bound. */
	while (!base_listening(b)) {
		base_check_alive(b);
		if (bench_now_s() - t0 >= FL_START_MAX_S)
			bench_failf("the base did not listen on 127.0.0.1:%d "
				    "within %.0f s",
				    b->port, FL_START_MAX_S);
		nap_ms(20);
	}
}

/* SIGTERM; it must exit 0.  Returns how long it took. */
static double
base_stop(struct fl_base *b)
{
	double t0 = bench_now_s();
	char why[64];
	int st;

	if (kill(b->pid, SIGTERM) != 0)
		bench_fail_errno("kill", "ferryd");
	for (;;) {
		pid_t r = waitpid(b->pid, &st, WNOHANG);
		if (r == b->pid)
			break;
		if (r < 0 && errno != EINTR)
			bench_fail_errno("waitpid", "ferryd");
		if (bench_now_s() - t0 > FL_STOP_MAX_S)
			bench_failf("the base did not stop within %.0f s of "
				    "SIGTERM",
				    FL_STOP_MAX_S);
		nap_ms(20);
	}
	b->pid = fl_pid = -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		describe_status(why, sizeof(why), st);
		bench_failf("the base stopped with %s after SIGTERM", why);
	}
	fl_log = NULL;
	return bench_now_s() - t0;
}

static struct ferry *
base_connect(const struct fl_base *b)
{
	struct ferry *c = NULL;
	int rc = ferry_connect(b->sock, &c);

	if (rc != 0)
		bench_fail("ferry_connect", rc, b->sock);
	return c;
}

struct peers_sum {
	unsigned connected;
	uint64_t queued;
};

static int
peers_cb(const struct ferry_peer_info *p, void *arg)
{
	struct peers_sum *s = arg;

	s->connected += p->connected != 0;
	s->queued += p->queued_msgs;
	return 0;
}

static struct peers_sum
base_peers(struct ferry *c)
{
	struct peers_sum s = {0, 0};
	int rc = ferry_peers(c, peers_cb, &s);

	if (rc != 0)
		bench_fail("ferry_peers", rc, ferry_last_error(c));
	return s;
}

/* ------------------------------------------------------- base -> nodes */

static void *
down_main(void *arg)
{
	struct fl_down *d = arg;
	const struct fl_cfg *cfg = d->cfg;
	struct ferry *c = NULL;
	struct fleet_counts fc;
	uint8_t payload[FL_SMALL];
	double t0 = bench_now_s(), start;
	int rc;

	/* After the dials (or when every node is up), spread as they were. */
	do {
		struct timespec ts = {0, 50000000L};
		fleet_counts(d->fleet, &fc);
		if (fl_interrupted)
			return NULL;
		(void)nanosleep(&ts, NULL);
	} while (fc.ever_up < d->n &&
		 bench_now_s() - t0 < cfg->spread_s + 10.0);
	if ((rc = ferry_connect(d->base->sock, &c)) != 0) {
		snprintf(d->first_error, sizeof(d->first_error),
			 "ferry_connect: %s", ferry_strerror(rc));
		d->failed = d->n;
		__atomic_store_n(&d->done, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	memcpy(payload, cfg->pool, sizeof(payload));
	start = bench_now_s();
	for (unsigned i = 0; i < d->n && !fl_interrupted; i++) {
		char dest[FERRY_NODE_MAX + FERRY_QUEUE_MAX + 2];
		double at = start + cfg->spread_s * i / d->n;
		int64_t t;
		while (bench_now_s() < at) {
			struct timespec ts = {0, 2000000L};
			(void)nanosleep(&ts, NULL);
		}
		snprintf(dest, sizeof(dest), "%s/%s",
			 fleet_node_name(d->fleet, i), FL_QUEUE);
		/* The node measures the delay from this moment. */
		t = bench_now_ns();
		for (int k = 0; k < 8; k++)
			payload[k] = (uint8_t)((uint64_t)t >> (56 - 8 * k));
		rc = ferry_send(c, dest, payload, cfg->small_bytes, NULL,
				d->ids[i]);
		if (rc == 0) {
			d->ok[i] = 1;
			d->sent++;
		} else {
			if (d->failed++ == 0)
				bench_cell(
				    d->first_error, sizeof(d->first_error),
				    "ferry_send %s: %s: %s", dest,
				    ferry_strerror(rc), ferry_last_error(c));
		}
	}
	ferry_close(c);
	__atomic_store_n(&d->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* -------------------------------------------------------- the checks */

/* Sent ids, for matching the base's queue: open addressing. */
struct idtab {
	uint8_t (*id)[FERRY_ID_LEN];
	unsigned *seen; /* times found in the base's queue; UINT_MAX: empty */
	size_t cap;
};

static size_t
idtab_slot(const struct idtab *t, const uint8_t *id)
{
	size_t h = ((size_t)id[0] | (size_t)id[1] << 8 | (size_t)id[2] << 16 |
		    (size_t)id[3] << 24) &
		   (t->cap - 1);

	while (t->seen[h] != UINT_MAX &&
	       memcmp(t->id[h], id, FERRY_ID_LEN) != 0)
		h = (h + 1) & (t->cap - 1);
	return h;
}

struct collect {
	struct idtab *t;
	double *small, *big;
	size_t nsmall, nbig;
	uint64_t without_custody;
};

static int
collect_sent(const struct fleet_sent *m, int big, void *arg)
{
	struct collect *c = arg;
	size_t h = idtab_slot(c->t, m->id);

	memcpy(c->t->id[h], m->id, FERRY_ID_LEN);
	c->t->seen[h] = 0;
	if (m->custody_ns == 0 || m->sent_ns == 0)
		c->without_custody++;
	else if (big)
		c->big[c->nbig++] = (double)(m->custody_ns - m->sent_ns) / 1e6;
	else
		c->small[c->nsmall++] =
		    (double)(m->custody_ns - m->sent_ns) / 1e6;
	return 0;
}

struct browse {
	struct idtab *t;
	uint64_t found, unknown;
};

static int
browse_cb(const struct ferry_msg_info *info, void *arg)
{
	struct browse *b = arg;
	size_t h = idtab_slot(b->t, info->msg.id);

	b->found++;
	if (b->t->seen[h] == UINT_MAX)
		b->unknown++;
	else
		b->t->seen[h]++;
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank; 0 for no values. */
static double
pct(double *v, size_t n, double q)
{
	size_t k;

	if (n == 0)
		return 0.0;
	qsort(v, n, sizeof(*v), cmp_double);
	k = (size_t)ceil(q * (double)n);
	return v[k == 0 ? 0 : k - 1];
}

/* Every message the nodes sent in the base's queue once, nothing else;
 * every message the base sent at its node once. */
static void
verify(const struct fl_cfg *cfg, struct fleet *fleet, struct ferry *c,
       const struct fl_down *d, struct fl_result *r)
{
	struct idtab t;
	struct collect col;
	struct browse br;
	size_t cap = 16;
	double *hs;
	int rc;

	while (cap < 2 * r->made + 16)
		cap *= 2;
	t.cap = cap;
	t.id = calloc(cap, FERRY_ID_LEN);
	t.seen = malloc(cap * sizeof(*t.seen));
	col.small = calloc(r->made + 1, sizeof(double));
	col.big = calloc(r->made + 1, sizeof(double));
	hs = calloc(r->n, sizeof(double));
	if (t.id == NULL || t.seen == NULL || col.small == NULL ||
	    col.big == NULL || hs == NULL)
		bench_failf("out of memory");
	for (size_t i = 0; i < cap; i++)
		t.seen[i] = UINT_MAX;
	col.t = &t;
	col.nsmall = col.nbig = 0;
	col.without_custody = 0;
	(void)fleet_each_sent(fleet, collect_sent, &col);

	br.t = &t;
	br.found = br.unknown = 0;
	if ((rc = ferry_browse(c, FL_QUEUE, 0, browse_cb, &br)) != 0)
		bench_fail("ferry_browse", rc, ferry_last_error(c));
	r->in_queue = br.found;
	r->unknown = br.unknown;
	r->missing = r->twice = 0;
	for (size_t i = 0; i < cap; i++) {
		if (t.seen[i] == 0)
			r->missing++;
		else if (t.seen[i] != UINT_MAX && t.seen[i] > 1)
			r->twice++;
	}

	/* Down: each node holds exactly the id the base's send returned. */
	r->down_missing = 0;
	r->n_down_lat = 0;
	{
		double *dl = calloc(r->n + 1, sizeof(double));
		if (dl == NULL)
			bench_failf("out of memory");
		for (unsigned i = 0; i < r->n; i++) {
			uint8_t ids[8][FERRY_ID_LEN];
			int64_t delay[8];
			size_t k = fleet_node_down(fleet, i, ids, delay, 8);
			int got = 0;
			for (size_t j = 0; j < k && j < 8; j++)
				if (d->ok[i] && memcmp(ids[j], d->ids[i],
						       FERRY_ID_LEN) == 0) {
					got = 1;
					if (delay[j] > 0)
						dl[r->n_down_lat++] =
						    (double)delay[j] / 1e6;
				}
			if (d->ok[i] && (!got || k != 1))
				r->down_missing++;
			hs[i] = (double)fleet_node_up_ns(fleet, i) / 1e6;
		}
		r->down_p50_ms = pct(dl, r->n_down_lat, 0.50);
		r->down_p99_ms = pct(dl, r->n_down_lat, 0.99);
		free(dl);
	}
	r->hs_p50_ms = pct(hs, r->n, 0.50);
	r->hs_p99_ms = pct(hs, r->n, 0.99);
	r->n_small = col.nsmall;
	r->n_big = col.nbig;
	r->p50_ms = pct(col.small, col.nsmall, 0.50);
	r->p99_ms = pct(col.small, col.nsmall, 0.99);
	r->max_ms = pct(col.small, col.nsmall, 1.0);
	r->big_p50_ms = pct(col.big, col.nbig, 0.50);
	r->big_p99_ms = pct(col.big, col.nbig, 0.99);

	r->exactly_once = 0;
	if (col.without_custody > 0)
		bench_cell(r->why, sizeof(r->why),
			   "%llu messages without CUSTODY",
			   (unsigned long long)col.without_custody);
	else if (r->missing > 0 || r->twice > 0 || r->unknown > 0)
		bench_cell(r->why, sizeof(r->why),
			   "base queue: %llu missing, %llu twice, %llu "
			   "unknown",
			   (unsigned long long)r->missing,
			   (unsigned long long)r->twice,
			   (unsigned long long)r->unknown);
	else if (r->in_queue != r->made)
		bench_cell(r->why, sizeof(r->why),
			   "base queue holds %llu, %llu were sent",
			   (unsigned long long)r->in_queue,
			   (unsigned long long)r->made);
	else if (d->failed > 0)
		bench_cell(r->why, sizeof(r->why), "%llu sends failed: %s",
			   (unsigned long long)d->failed, d->first_error);
	else if (r->down_missing > 0)
		bench_cell(r->why, sizeof(r->why),
			   "%llu nodes without their message from the base "
			   "(or with another)",
			   (unsigned long long)r->down_missing);
	else if (r->failures > 0)
		bench_cell(r->why, sizeof(r->why), "%llu failures",
			   (unsigned long long)r->failures);
	else
		r->exactly_once = 1;
	(void)cfg;
	free(t.id);
	free(t.seen);
	free(col.small);
	free(col.big);
	free(hs);
}

/* ------------------------------------------------------------- one run */

struct sim_thread {
	struct fleet *fleet;
	int rc;
	double cpu_s;
};

static void *
sim_main(void *arg)
{
	struct sim_thread *s = arg;

	s->rc = fleet_run(s->fleet);
	s->cpu_s = thread_cpu_s();
	return NULL;
}

/* A thread stack's size in KiB, as glibc picks it: RLIMIT_STACK, or
 * 8 MiB when that is unlimited (x86_64's ARCH_STACK_DEFAULT_SIZE is
 * larger, but the limit is rarely unlimited). */
static uint64_t
stack_kib(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_STACK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 8192;
	return (uint64_t)rl.rlim_cur >> 10;
}

static void
sample(const struct fl_base *b, struct fl_result *r)
{
	unsigned t = (unsigned)proc_status(b->pid, "Threads");

	if (t > r->threads_peak)
		r->threads_peak = t;
}

static void
run_one(const struct fl_cfg *cfg, unsigned n, struct fl_result *r)
{
	char sub[BENCH_PATH_MAX], label[32];
	struct fleet_opts o;
	struct fleet *fleet = NULL;
	struct fl_base base;
	struct fl_down d;
	struct sim_thread st;
	struct fleet_counts fc;
	struct ferry *c;
	struct peers_sum ps;
	pthread_t sim_t, down_t;
	double t0, cpu0, drain0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->n = n;
	bench_cell(label, sizeof(label), "n%u", n);
	bench_path(sub, cfg->dir, label);
	if (mkdir(sub, 0700) != 0)
		bench_fail_errno("mkdir", sub);
	base_init(&base, sub);

	memset(&o, 0, sizeof(o));
	o.n = n;
	o.base_name = FL_BASE;
	o.base_kx = base.kx;
	o.port = base.port;
	o.queue = FL_QUEUE;
	o.spread_s = cfg->spread_s;
	o.interval_s = cfg->interval_s;
	o.send_s = cfg->secs;
	o.small_bytes = cfg->small_bytes;
	o.big_bytes = cfg->big_bytes;
	o.keepalive_ms = 30000;
	o.one_source = cfg->one_source;
	o.pool = cfg->pool;
	o.pool_len = FL_POOL;
	if ((rc = fleet_new(&o, &fleet)) != 0)
		bench_fail("fleet_new", rc, "");
	base_write_conf(&base, fleet, n);
	base_start(&base, cfg);
	r->threads0 = (unsigned)proc_status(base.pid, "Threads");
	r->rss0_kib = proc_status(base.pid, "VmRSS");
	fprintf(stderr,
		"bench_fleet: N = %u: base up (%u threads, %llu MiB); "
		"nodes dial over %.0f s, send for %.0f s\n",
		n, r->threads0, (unsigned long long)(r->rss0_kib >> 10),
		cfg->spread_s, cfg->secs);

	memset(&d, 0, sizeof(d));
	d.cfg = cfg;
	d.fleet = fleet;
	d.base = &base;
	d.n = n;
	d.ids = calloc(n, FERRY_ID_LEN);
	d.ok = calloc(n, sizeof(*d.ok));
	if (d.ids == NULL || d.ok == NULL)
		bench_failf("out of memory");
	st.fleet = fleet;
	st.rc = 0;
	c = base_connect(&base);
	t0 = bench_now_s();
	cpu0 = bench_proc_cpu_s(base.pid);
	bench_check_pthread(pthread_create(&sim_t, NULL, sim_main, &st),
			    "pthread_create");
	bench_check_pthread(pthread_create(&down_t, NULL, down_main, &d),
			    "pthread_create");

	/* The sending time, sampling the base. */
	{
		double next_note = t0 + 5.0;
		while (bench_now_s() - t0 < cfg->secs) {
			base_check_alive(&base);
			sample(&base, r);
			if (r->cpu_dial_s == 0.0) {
				fleet_counts(fleet, &fc);
				if (fc.all_up_s > 0.0)
					r->cpu_dial_s =
					    bench_proc_cpu_s(base.pid) - cpu0;
			}
			if (bench_now_s() >= next_note) {
				fleet_counts(fleet, &fc);
				fprintf(
				    stderr,
				    "bench_fleet:   %4.0f s: %u up, "
				    "%llu of %llu messages in, base: %u "
				    "threads, %llu MiB\n",
				    bench_now_s() - t0, fc.up,
				    (unsigned long long)fc.custody,
				    (unsigned long long)fc.made,
				    r->threads_peak,
				    (unsigned long long)(proc_status(base.pid,
								     "VmRSS") >>
							 10));
				next_note += 5.0;
			}
			nap_ms(FL_SAMPLE_NS / 1000000);
		}
	}
	fleet_counts(fleet, &fc);
	r->up_end = fc.up;
	ps = base_peers(c);
	r->base_up_end = ps.connected;
	r->fds_end = proc_fds(base.pid);

	/* Drain: every message in, every message out. */
	drain0 = bench_now_s();
	for (;;) {
		base_check_alive(&base);
		sample(&base, r);
		fleet_counts(fleet, &fc);
		if (fc.custody + fc.failures >= fc.made &&
		    __atomic_load_n(&d.done, __ATOMIC_ACQUIRE) &&
		    fc.down >= d.sent) {
			ps = base_peers(c);
			if (ps.queued == 0)
				break;
		}
		if (bench_now_s() - drain0 > FL_DRAIN_MAX_S) {
			fprintf(stderr,
				"bench_fleet: N = %u: after %.0f s, %llu of "
				"%llu messages in, %llu of %llu out\n",
				n, FL_DRAIN_MAX_S,
				(unsigned long long)fc.custody,
				(unsigned long long)fc.made,
				(unsigned long long)fc.down,
				(unsigned long long)__atomic_load_n(
				    &d.sent, __ATOMIC_RELAXED));
			break;
		}
		nap_ms(FL_SAMPLE_NS / 1000000);
	}
	bench_check_pthread(pthread_join(down_t, NULL), "pthread_join");
	r->run_s = bench_now_s() - t0;
	r->cpu_s = bench_proc_cpu_s(base.pid) - cpu0;

	/* Idle, every session up: what the sessions cost by themselves. */
	if (cfg->idle_s > 0.0) {
		double i0 = bench_now_s(), c0 = bench_proc_cpu_s(base.pid);
		while (bench_now_s() - i0 < cfg->idle_s) {
			sample(&base, r);
			nap_ms(FL_SAMPLE_NS / 1000000);
		}
		r->idle_s = bench_now_s() - i0;
		r->cpu_idle_s = bench_proc_cpu_s(base.pid) - c0;
	}
	sample(&base, r);
	r->threads_end = (unsigned)proc_status(base.pid, "Threads");
	r->hwm_kib = proc_status(base.pid, "VmHWM");
	r->rss_kib = proc_status(base.pid, "VmRSS");
	proc_smaps(base.pid, stack_kib(), &r->mem);

	fleet_stop(fleet);
	bench_check_pthread(pthread_join(sim_t, NULL), "pthread_join");
	if (st.rc != 0)
		bench_fail("the simulated nodes' loop", st.rc, "");
	fleet_counts(fleet, &fc);
	r->sim_cpu_s = st.cpu_s;
	r->ever_up = fc.ever_up;
	r->drops = fc.drops;
	r->dial_fails = fc.dial_fails;
	r->all_up_s = fc.all_up_s;
	r->made = fc.made;
	r->custody = fc.custody;
	r->resent = fc.resent;
	r->failures = fc.failures;
	r->down_sent = d.sent;
	r->down_failed = d.failed;
	r->down_rx = fc.down;
	r->down_dup = fc.down_dup;
	verify(cfg, fleet, c, &d, r);
	if (!r->exactly_once && fc.first_failure[0] != '\0')
		fprintf(stderr, "bench_fleet: N = %u: first failure: %s\n", n,
			fc.first_failure);
	ferry_close(c);
	r->stop_s = base_stop(&base);
	fleet_free(fleet);
	free(d.ids);
	free(d.ok);
	bench_rm_tree(sub);
	fprintf(stderr,
		"bench_fleet: N = %u: %u of %u up, %llu messages in, "
		"exactly once: %s; base %llu MiB, %u threads; p99 %.0f ms\n",
		n, r->up_end, n, (unsigned long long)r->in_queue,
		r->exactly_once ? "yes" : r->why,
		(unsigned long long)(r->hwm_kib >> 10), r->threads_peak,
		r->p99_ms);
}

/* ------------------------------------------------------------ printing */

static double
mib(uint64_t kib)
{
	return (double)kib / 1024.0;
}

static uint64_t
carried(const struct fl_result *r)
{
	return r->made + r->down_sent;
}

static void
print_tables(const struct fl_cfg *cfg, const struct fl_result *res, size_t nres)
{
	struct bench_machine m;
	double load = -1.0;

	bench_machine(cfg->dir, &m);
	if (getloadavg(&load, 1) != 1)
		load = -1.0;
	printf("ferry fleet benchmark: N simulated field nodes, one ferryd "
	       "base, loopback TCP\n");
	printf("machine: %ld CPUs (nodes and base share them), filesystem "
	       "%s, %s %s; load %.1f at the end\n",
	       m.ncpu, m.fs, m.u.sysname, m.u.release, load);
	printf("each node: own identity and Noise IK session; a %zu B "
	       "message every %g s for %g s, one big one of %zu KiB, one %zu "
	       "B message back from the base\n",
	       cfg->small_bytes, cfg->interval_s, cfg->secs,
	       cfg->big_bytes >> 10, cfg->small_bytes);
	printf("dials spread over %.1f s, from %s; the base: every setting "
	       "default, one [peer] per node\n",
	       cfg->spread_s,
	       cfg->one_source ? "127.0.0.1 (FLEET_ONE_SOURCE)"
			       : "one loopback address per node");
	if (m.fs_type == 0x01021994UL || m.fs_type == 0x858458f6UL)
		printf("WARNING: %s makes fsync free\n", m.fs);

	printf("\nsessions and the base's resources\n");
	printf("%6s %6s %6s %6s %8s %8s %6s %9s %9s %8s %6s %8s %9s %9s\n", "N",
	       "up", "base", "drops", "all up", "msgs", "down", "exactly",
	       "rss MiB", "threads", "fds", "cpu s", "cpu/msg", "idle cpu");
	printf("%6s %6s %6s %6s %8s %8s %6s %9s %9s %8s %6s %8s %9s %9s\n", "",
	       "nodes", "view", "", "after", "in q", "", "once", "peak", "peak",
	       "", "run", "ms", "% core");
	for (size_t i = 0; i < nres; i++) {
		const struct fl_result *r = &res[i];
		char allup[16];
		if (r->all_up_s > 0.0)
			bench_cell(allup, sizeof(allup), "%.1f s", r->all_up_s);
		else
			bench_cell(allup, sizeof(allup), "never");
		printf("%6u %6u %6u %6u %8s %8llu %6llu %9s %9.0f %8u %6u "
		       "%8.1f %9.2f %8.1f%%\n",
		       r->n, r->up_end, r->base_up_end, r->drops, allup,
		       (unsigned long long)r->in_queue,
		       (unsigned long long)r->down_rx,
		       r->exactly_once ? "yes" : "NO", mib(r->hwm_kib),
		       r->threads_peak, r->fds_end, r->cpu_s,
		       carried(r) ? r->cpu_s * 1e3 / (double)carried(r) : 0.0,
		       r->idle_s > 0.0 ? 100.0 * r->cpu_idle_s / r->idle_s
				       : 0.0);
	}
	printf("\nlatency, ms: small and big from the node's send (its MSG "
	       "written) to the base's CUSTODY, which comes once the message "
	       "is durable in queue q; down from the base's ferry_send to "
	       "the node's END\n");
	printf("%6s %8s %8s %8s %10s %10s %10s %10s %10s %10s\n", "N", "small",
	       "small", "small", "big", "big", "down", "down", "dial to",
	       "dial to");
	printf("%6s %8s %8s %8s %10s %10s %10s %10s %10s %10s\n", "", "p50",
	       "p99", "max", "p50", "p99", "p50", "p99", "HELLO p50", "p99");
	for (size_t i = 0; i < nres; i++) {
		const struct fl_result *r = &res[i];
		printf("%6u %8.1f %8.1f %8.1f %10.1f %10.1f %10.1f %10.1f "
		       "%10.1f %10.1f\n",
		       r->n, r->p50_ms, r->p99_ms, r->max_ms, r->big_p50_ms,
		       r->big_p99_ms, r->down_p50_ms, r->down_p99_ms,
		       r->hs_p50_ms, r->hs_p99_ms);
	}
	printf("\nnotes\n");
	for (size_t i = 0; i < nres; i++) {
		const struct fl_result *r = &res[i];
		const struct smaps_sum *mm = &r->mem;
		double per_thr =
		    ((double)r->threads_peak - (double)r->threads0) /
		    (double)r->n;
		double per_kib =
		    ((double)r->hwm_kib - (double)r->rss0_kib) / (double)r->n;
		printf("N = %u: %llu messages up (%llu small, %llu big), %llu "
		       "down, in %.0f s; %llu offered again, %u failed dials, "
		       "%llu duplicates down\n",
		       r->n, (unsigned long long)r->made,
		       (unsigned long long)r->n_small,
		       (unsigned long long)r->n_big,
		       (unsigned long long)r->down_sent, r->run_s,
		       (unsigned long long)r->resent, r->dial_fails,
		       (unsigned long long)r->down_dup);
		printf("  base threads: %u before the first dial, %u at the "
		       "peak: %.2f per session\n",
		       r->threads0, r->threads_peak, per_thr);
		printf("  base memory: %.0f MiB before the first dial, peak "
		       "%.0f MiB: %.0f KiB per session over the first\n",
		       mib(r->rss0_kib), mib(r->hwm_kib), per_kib);
		printf("  at the end %.0f MiB resident: thread stacks %.0f MiB "
		       "(%u, %.0f KiB each), malloc heap and arenas %.0f MiB, "
		       "other anonymous %.0f MiB, files %.0f MiB\n",
		       mib(r->rss_kib), mib(mm->stacks), mm->nstacks,
		       mm->nstacks ? (double)mm->stacks / mm->nstacks : 0.0,
		       mib(mm->malloc), mib(mm->anon), mib(mm->file));
		printf(
		    "  base cpu: %.1f s in %.0f s (%.0f%% of a core), %.2f s "
		    "of it until every node was up (%.2f ms per session "
		    "and its first messages); idle with %u sessions "
		    "%.1f%% of a core; the nodes' thread %.1f s; the base "
		    "stopped in %.1f s\n",
		    r->cpu_s, r->run_s,
		    r->run_s > 0 ? 100.0 * r->cpu_s / r->run_s : 0.0,
		    r->cpu_dial_s, r->cpu_dial_s * 1e3 / (double)r->n,
		    r->base_up_end,
		    r->idle_s > 0.0 ? 100.0 * r->cpu_idle_s / r->idle_s : 0.0,
		    r->sim_cpu_s, r->stop_s);
		if (!r->exactly_once)
			printf("  NOT exactly once: %s\n", r->why);
	}
	if (nres > 1 && res[nres - 1].n != res[0].n)
		printf(
		    "configured peers alone: %.0f KiB each (the base's "
		    "memory before the first dial, N = %u against %u)\n",
		    ((double)res[nres - 1].rss0_kib - (double)res[0].rss0_kib) /
			((double)res[nres - 1].n - (double)res[0].n),
		    res[nres - 1].n, res[0].n);
	for (size_t i = 0; i < nres; i++) {
		const struct fl_result *r = &res[i];
		if (r->n != FL_AIM_N)
			continue;
		printf("\naims at N = %u (issue 16): all sessions up: %s "
		       "(%u); every message exactly once: %s; p99 under "
		       "%.0f ms: %s (%.0f); RSS under %.0f MiB: %s (%.0f)\n",
		       FL_AIM_N, r->up_end == r->n ? "met" : "MISSED",
		       r->up_end, r->exactly_once ? "met" : "MISSED",
		       FL_AIM_P99_MS,
		       r->p99_ms < FL_AIM_P99_MS ? "met" : "MISSED", r->p99_ms,
		       FL_AIM_RSS_MIB,
		       mib(r->hwm_kib) < FL_AIM_RSS_MIB ? "met" : "MISSED",
		       mib(r->hwm_kib));
	}
}

static void
write_json(const struct fl_cfg *cfg, const struct fl_result *res, size_t nres)
{
	FILE *f;

	if (cfg->json == NULL || cfg->json[0] == '\0')
		return;
	f = fopen(cfg->json, "we");
	if (f == NULL)
		bench_fail_errno("open", cfg->json);
	fprintf(f,
		"{\"bench\":\"fleet\",\"secs\":%.0f,\"interval_s\":%.0f,"
		"\"spread_s\":%.0f,\"small_bytes\":%zu,\"big_bytes\":%zu,"
		"\"cpus\":%ld,\"runs\":[",
		cfg->secs, cfg->interval_s, cfg->spread_s, cfg->small_bytes,
		cfg->big_bytes, cfg->ncpu);
	for (size_t i = 0; i < nres; i++) {
		const struct fl_result *r = &res[i];
		fprintf(f,
			"%s\n{\"n\":%u,\"up\":%u,\"base_up\":%u,\"drops\":%u,"
			"\"all_up_s\":%.2f,\"msgs\":%llu,\"in_queue\":%llu,"
			"\"down\":%llu,\"exactly_once\":%s,"
			"\"rss_peak_kib\":%llu,\"rss_before_kib\":%llu,"
			"\"threads_peak\":%u,\"threads_before\":%u,"
			"\"fds\":%u,\"cpu_s\":%.2f,\"cpu_per_msg_ms\":%.3f,"
			"\"idle_cpu_pct\":%.2f,\"p50_ms\":%.2f,"
			"\"p99_ms\":%.2f,\"max_ms\":%.2f,"
			"\"big_p50_ms\":%.1f,\"big_p99_ms\":%.1f,"
			"\"down_p50_ms\":%.2f,\"down_p99_ms\":%.2f,"
			"\"dial_p50_ms\":%.2f,\"dial_p99_ms\":%.2f,"
			"\"sim_cpu_s\":%.2f,\"cpu_dial_s\":%.2f,"
			"\"rss_stacks_kib\":%llu,\"rss_malloc_kib\":%llu,"
			"\"rss_anon_kib\":%llu,\"rss_file_kib\":%llu}",
			i ? "," : "", r->n, r->up_end, r->base_up_end, r->drops,
			r->all_up_s, (unsigned long long)r->made,
			(unsigned long long)r->in_queue,
			(unsigned long long)r->down_rx,
			r->exactly_once ? "true" : "false",
			(unsigned long long)r->hwm_kib,
			(unsigned long long)r->rss0_kib, r->threads_peak,
			r->threads0, r->fds_end, r->cpu_s,
			carried(r) ? r->cpu_s * 1e3 / (double)carried(r) : 0.0,
			r->idle_s > 0.0 ? 100.0 * r->cpu_idle_s / r->idle_s
					: 0.0,
			r->p50_ms, r->p99_ms, r->max_ms, r->big_p50_ms,
			r->big_p99_ms, r->down_p50_ms, r->down_p99_ms,
			r->hs_p50_ms, r->hs_p99_ms, r->sim_cpu_s, r->cpu_dial_s,
			(unsigned long long)r->mem.stacks,
			(unsigned long long)r->mem.malloc,
			(unsigned long long)r->mem.anon,
			(unsigned long long)r->mem.file);
	}
	fprintf(f, "\n]}\n");
	if (fflush(f) != 0 || ferror(f) || fclose(f) != 0)
		bench_fail_errno("writing", cfg->json);
}

/* --------------------------------------------------------------- main */

/* Room for every socket: the nodes' here, the sessions' in the base
 * (which inherits this limit). */
static void
raise_nofile(unsigned nmax)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)nmax + FL_FDS_SPARE;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		bench_fail_errno("getrlimit", "RLIMIT_NOFILE");
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
		bench_failf("%u nodes need %llu file descriptors here and in "
			    "the base; the hard limit is %llu (ulimit -Hn)",
			    nmax, (unsigned long long)need,
			    (unsigned long long)rl.rlim_max);
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		bench_fail_errno("setrlimit", "RLIMIT_NOFILE");
}

/* The smoke test's fixed settings, or the benchmark's from the
 * environment. */
static void
settings(struct fl_cfg *cfg, int quick)
{
	const char *v;

	cfg->small_bytes = FL_SMALL;
	if (cfg->smoke) {
		parse_ns(cfg, "20");
		cfg->secs = 4.0;
		cfg->spread_s = 0.5;
		cfg->interval_s = 1.0;
		cfg->idle_s = 0.0;
		cfg->big_bytes = 300u * 1024u; /* above LINK_INLINE_MAX */
		return;
	}
	v = getenv("FLEET_N");
	parse_ns(cfg, v != NULL && v[0] != '\0' ? v : "100 500 1000");
	cfg->secs = env_double("FLEET_SECS", quick ? 20.0 : 40.0, 2.0, 3600.0);
	cfg->spread_s = env_double("FLEET_SPREAD_S", 5.0, 0.0, 600.0);
	cfg->interval_s = env_double("FLEET_INTERVAL_S", 10.0, 0.01, 3600.0);
	cfg->idle_s = env_double("FLEET_IDLE_S", 5.0, 0.0, 600.0);
	cfg->big_bytes = (size_t)env_double("FLEET_BIG_KIB", FL_BIG >> 10, 0.0,
					    (double)(FL_POOL >> 11)) *
			 1024u;
	v = getenv("FLEET_ONE_SOURCE");
	cfg->one_source = v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
	cfg->json = getenv("FLEET_JSON");
	cfg->base_nofile =
	    (unsigned long)env_double("FLEET_BASE_NOFILE", 0.0, 0.0, 1048576.0);
}

static void
usage(void)
{
	fprintf(
	    stderr,
	    "usage: bench_fleet [--smoke] [PARENT [FERRYD]]\n"
	    "  PARENT: where the private directory goes (default $TMPDIR "
	    "or /tmp)\n"
	    "  FERRYD: the agent (default: ferryd in PATH)\n"
	    "  env: FLEET_N=\"100 500 1000\", FLEET_SECS=40, "
	    "FLEET_SPREAD_S=5,\n"
	    "       FLEET_INTERVAL_S=10, FLEET_IDLE_S=5, FLEET_BIG_KIB=1024, "
	    "FLEET_ONE_SOURCE=1,\n"
	    "       FLEET_BASE_NOFILE=N, FLEET_JSON=FILE, BENCH_QUICK=1, "
	    "BENCH_KEEP=1\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static struct fl_result res[FL_NS_MAX];
	struct fl_cfg cfg;
	struct sigaction sa;
	const char *parent = NULL, *tmp = getenv("TMPDIR"), *v;
	char tmpl[BENCH_PATH_MAX];
	unsigned nmax = 0;
	int argi = 1, quick, bad = 0;

	bench_util_init("bench_fleet", fl_cleanup);
	memset(&cfg, 0, sizeof(cfg));
	if (argi < argc && strcmp(argv[argi], "--smoke") == 0) {
		cfg.smoke = 1;
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
	v = getenv("BENCH_QUICK");
	quick = v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	if (sigemptyset(&sa.sa_mask) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0)
		bench_fail_errno("sigaction", "");
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		bench_failf("sodium_init failed");

	settings(&cfg, quick);
	cfg.ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	for (size_t i = 0; i < cfg.nns; i++)
		if (cfg.ns[i] > nmax)
			nmax = cfg.ns[i];
	raise_nofile(nmax);

	if (snprintf(tmpl, sizeof(tmpl), "%s/bench-fleet.XXXXXX", parent) >=
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
	memcpy(fl_dir, cfg.dir, sizeof(fl_dir));
	cfg.pool = malloc(FL_POOL);
	if (cfg.pool == NULL)
		bench_failf("out of memory");
	randombytes_buf(cfg.pool, FL_POOL);

	for (size_t i = 0; i < cfg.nns; i++) {
		run_one(&cfg, cfg.ns[i], &res[i]);
		bad |= !res[i].exactly_once || res[i].ever_up != res[i].n;
	}
	print_tables(&cfg, res, cfg.nns);
	write_json(&cfg, res, cfg.nns);
	if (fflush(stdout) != 0 || ferror(stdout))
		bench_fail_errno("writing", "stdout");
	free(cfg.pool);
	if (rmdir(cfg.dir) != 0)
		bench_rm_tree(cfg.dir);
	fl_dir[0] = '\0';
	/* The benchmark reports; the smoke test judges. */
	return cfg.smoke && bad ? 1 : 0;
}
