/*
 * bench_sneak_util.c - the queue loader of bench_sneak.sh and
 * bench_http.sh: N messages of SIZE bytes to DEST through ferryd's
 * socket, as fast as it takes them; and their stopwatches.
 *
 *   bench_sneak_util SOCKET DEST N SIZE THREADS
 *
 * THREADS threads, each on its own connection, ferry_send() their share
 * (durable: each returns after ferryd's store committed it; the threads
 * let the store's group commit share flushes).  Payloads are cut from one
 * 4 MiB buffer of random bytes (getrandom) at a different offset per
 * message, so nothing compresses.  Prints "N SECONDS" on stdout.  Exit 0
 * when every send succeeded, 1 otherwise (the error on stderr).
 *
 *   bench_sneak_util wait SOCKET QUEUE N TIMEOUT_S
 *
 * bench_http.sh's stopwatch: connects to an agent that may still be
 * starting (retrying every 5 ms), then asks for QUEUE's statistics every
 * 20 ms on that one connection (no process per look) until it holds at
 * least N messages.  Prints "READY DONE MSGS BYTES": the wall clock
 * (CLOCK_REALTIME, seconds) when the socket first answered and when the
 * count was reached, so the caller can time from its own start of the
 * agent.  Exit 1 after TIMEOUT_S seconds.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "lib/ferry.h"

#define POOL_BYTES (4u << 20)

static const char *sock, *dest;
static uint64_t nmsgs, next_msg;
static size_t msg_size;
static uint8_t *pool;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int failed;

static void *
sender(void *arg)
{
	struct ferry *c = NULL;
	struct ferry_send_opts o;
	uint64_t i;
	int rc;

	(void)arg;
	rc = ferry_connect(sock, &c);
	if (rc != 0) {
		fprintf(stderr, "bench_sneak_util: connect %s: %s\n", sock,
			ferry_strerror(rc));
		goto fail;
	}
	ferry_send_opts_init(&o);
	for (;;) {
		pthread_mutex_lock(&mu);
		i = next_msg < nmsgs && !failed ? next_msg++ : UINT64_MAX;
		pthread_mutex_unlock(&mu);
		if (i == UINT64_MAX)
			break;
		rc = ferry_send(c, dest,
				pool + (i * 4099u) % (POOL_BYTES - msg_size),
				msg_size, &o, NULL);
		if (rc != 0) {
			fprintf(stderr,
				"bench_sneak_util: send %" PRIu64 ": %s (%s)\n",
				i, ferry_strerror(rc), ferry_last_error(c));
			goto fail;
		}
	}
	ferry_close(c);
	return NULL;
fail:
	ferry_close(c);
	pthread_mutex_lock(&mu);
	failed = 1;
	pthread_mutex_unlock(&mu);
	return NULL;
}

static double
since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static int
do_run(const char *out, char **argv)
{
	struct timespec t0;
	struct rusage ru;
	FILE *f;
	pid_t pid;
	double secs;
	int st, rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("bench_sneak_util: fork");
		return 1;
	}
	if (pid == 0) {
		/* Dies with us: the benchmark's cleanup kills this process. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execvp(argv[0], argv);
		fprintf(stderr, "bench_sneak_util: %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR) {
			perror("bench_sneak_util: wait4");
			return 1;
		}
	secs = since(&t0);
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	f = fopen(out, "w");
	if (f == NULL ||
	    fprintf(f, "%.6f %ld %d\n", secs, ru.ru_maxrss, rc) < 0 ||
	    fclose(f) != 0) {
		perror(out);
		return 1;
	}
	return rc;
}

static double
wall_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
nap_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

static int
do_wait(int argc, char **argv)
{
	struct ferry *c = NULL;
	struct ferry_queue_info qi = {0};
	double ready, deadline;
	uint64_t want;
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: bench_sneak_util wait SOCKET QUEUE N "
				"TIMEOUT_S\n");
		return 2;
	}
	want = strtoull(argv[2], NULL, 10);
	deadline = wall_now() + strtod(argv[3], NULL);
	while ((rc = ferry_connect(argv[0], &c)) != 0) {
		if (wall_now() > deadline) {
			fprintf(stderr, "bench_sneak_util: connect %s: %s\n",
				argv[0], ferry_strerror(rc));
			return 1;
		}
		nap_ms(5);
	}
	ready = wall_now();
	for (;;) {
		/* The queue is made by its first message: not found yet. */
		rc = ferry_queue_stats(c, argv[1], &qi);
		if (rc != 0 && rc != FERRY_ENOTFOUND) {
			fprintf(stderr, "bench_sneak_util: stats of %s: %s\n",
				argv[1], ferry_strerror(rc));
			ferry_close(c);
			return 1;
		}
		if (rc == 0 && qi.msgs >= want)
			break;
		if (wall_now() > deadline) {
			fprintf(stderr,
				"bench_sneak_util: %s holds %" PRIu64
				" of %" PRIu64 " messages after %s s\n",
				argv[1], rc == 0 ? qi.msgs : 0, want, argv[3]);
			ferry_close(c);
			return 1;
		}
		nap_ms(20);
	}
	printf("%.6f %.6f %" PRIu64 " %" PRIu64 "\n", ready, wall_now(),
	       qi.msgs, qi.bytes);
	ferry_close(c);
	return 0;
}

static int uncache_failed;

static int
uncache_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	int fd;

	(void)sb;
	(void)ftw;
	if (type != FTW_F)
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "bench_sneak_util: %s: %s\n", path,
			strerror(errno));
		uncache_failed = 1;
		return 0;
	}
	/* Dirty pages cannot be dropped: write them first. */
	if (fdatasync(fd) != 0 ||
	    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) {
		fprintf(stderr, "bench_sneak_util: %s: %s\n", path,
			strerror(errno));
		uncache_failed = 1;
	}
	close(fd);
	return 0;
}

static int
do_send(int argc, char **argv)
{
	struct timespec t0;
	pthread_t *th;
	unsigned nth, k;
	size_t got = 0;
	ssize_t r;

	if (argc != 5) {
		fprintf(stderr, "usage: bench_sneak_util send SOCKET DEST N "
				"SIZE THREADS\n");
		return 2;
	}
	sock = argv[0];
	dest = argv[1];
	nmsgs = strtoull(argv[2], NULL, 10);
	msg_size = strtoul(argv[3], NULL, 10);
	nth = (unsigned)strtoul(argv[4], NULL, 10);
	if (msg_size == 0 || msg_size > POOL_BYTES / 2 || nth == 0 ||
	    nth > 256) {
		fprintf(stderr, "bench_sneak_util: bad SIZE or THREADS\n");
		return 2;
	}
	pool = malloc(POOL_BYTES);
	th = calloc(nth, sizeof(*th));
	if (pool == NULL || th == NULL) {
		fprintf(stderr, "bench_sneak_util: out of memory\n");
		return 1;
	}
	while (got < POOL_BYTES) {
		r = getrandom(pool + got, POOL_BYTES - got, 0);
		if (r < 0 && errno != EINTR) {
			perror("bench_sneak_util: getrandom");
			return 1;
		}
		if (r > 0)
			got += (size_t)r;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (k = 0; k < nth; k++)
		if (pthread_create(&th[k], NULL, sender, NULL) != 0) {
			fprintf(stderr, "bench_sneak_util: pthread_create\n");
			return 1;
		}
	for (k = 0; k < nth; k++)
		pthread_join(th[k], NULL);
	if (failed)
		return 1;
	printf("%" PRIu64 " %.3f\n", nmsgs, since(&t0));
	free(th);
	free(pool);
	return 0;
}

int
main(int argc, char **argv)
{
	int i;

	if (argc >= 2 && strcmp(argv[1], "send") == 0)
		return do_send(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "wait") == 0)
		return do_wait(argc - 2, argv + 2);
	if (argc >= 4 && strcmp(argv[1], "run") == 0)
		return do_run(argv[2], argv + 3);
	if (argc == 3 && strcmp(argv[1], "warm") == 0) {
		bench_warm_memory(strtoull(argv[2], NULL, 10) << 20);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "uncache") == 0) {
		for (i = 2; i < argc; i++)
			if (nftw(argv[i], uncache_one, 16, FTW_PHYS) != 0) {
				fprintf(stderr, "bench_sneak_util: %s: %s\n",
					argv[i], strerror(errno));
				return 1;
			}
		return uncache_failed;
	}
	fprintf(stderr, "usage: bench_sneak_util send SOCKET DEST N SIZE "
			"THREADS\n"
			"       bench_sneak_util run OUT COMMAND [ARG...]\n"
			"       bench_sneak_util uncache PATH...\n"
			"       bench_sneak_util warm MIB\n"
			"       bench_sneak_util wait SOCKET QUEUE N "
			"TIMEOUT_S\n");
	return 2;
}
