/*
 * itutil.c - shared helpers of the integration tests' C programs
 * (see itutil.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/itutil.h"

static const char *prog = "it";

void
it_progname(const char *argv0)
{
	const char *s = strrchr(argv0, '/');

	prog = s != NULL ? s + 1 : argv0;
}

void
it_die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

void
it_ferry_fail(const struct ferry *c, int rc, const char *fmt, ...)
{
	const char *agent = c != NULL ? ferry_last_error(c) : "";
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s%s%s\n", ferry_strerror(rc),
		agent[0] != '\0' ? ": " : "", agent);
}

int64_t
it_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
it_sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
it_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	uint64_t mul = 1;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1024;
		end++;
		break;
	case 'M':
		mul = 1024 * 1024;
		end++;
		break;
	case 'G':
		mul = 1024 * 1024 * 1024;
		end++;
		break;
	default:
		return -1;
	}
	if (*end != '\0' || (v != 0 && mul > UINT64_MAX / v))
		return -1;
	*out = (uint64_t)v * mul;
	return 0;
}

/* splitmix64: each 8-byte word of a pattern is a hash of (seed, index),
 * so any offset can be produced without generating what comes before. */
static uint64_t
mix(uint64_t seed, uint64_t index)
{
	uint64_t z = seed + (index + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
it_pattern_init(struct it_pattern *p, uint64_t seed)
{
	memset(p, 0, sizeof(*p));
	p->seed = seed;
	p->state = UINT64_MAX; /* no word computed yet */
}

static uint8_t
pattern_byte(struct it_pattern *p)
{
	uint64_t w = p->pos / 8;

	if (p->state != w) {
		p->state = w;
		p->word = mix(p->seed, w);
	}
	return (uint8_t)(p->word >> (8 * (p->pos++ % 8)));
}

void
it_pattern_next(struct it_pattern *p, uint8_t *buf, size_t len)
{
	size_t i = 0;

	while (i < len && p->pos % 8 != 0)
		buf[i++] = pattern_byte(p);
	for (; len - i >= 8; i += 8) {
		uint64_t w = mix(p->seed, p->pos / 8);
		for (int k = 0; k < 8; k++)
			buf[i + k] = (uint8_t)(w >> (8 * k));
		p->pos += 8;
	}
	while (i < len)
		buf[i++] = pattern_byte(p);
}

uint64_t
it_pattern_check(struct it_pattern *p, const uint8_t *buf, size_t len)
{
	uint8_t tmp[4096];
	size_t done = 0;

	while (done < len) {
		size_t n = len - done < sizeof(tmp) ? len - done : sizeof(tmp);
		uint64_t at = p->pos;
		it_pattern_next(p, tmp, n);
		if (memcmp(tmp, buf + done, n) != 0) {
			for (size_t k = 0; k < n; k++)
				if (tmp[k] != buf[done + k])
					return at + k;
		}
		done += n;
	}
	return UINT64_MAX;
}

int
it_under_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return 1;
#else
	return 0;
#endif
#else
	return 0;
#endif
}

int
it_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
it_wait_all(unsigned n)
{
	int bad = 0, st;

	for (unsigned i = 0; i < n; i++) {
		if (wait(&st) < 0)
			return 99;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 99)
			bad = 99;
		else if ((!WIFEXITED(st) || WEXITSTATUS(st) != 0) && bad == 0)
			bad = 1;
	}
	return bad;
}

int
it_drain_forked(unsigned n, int (*worker)(const char *, const char *),
		const char *sock, const char *queue)
{
	for (unsigned i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			it_die(99, "fork: %s", strerror(errno));
		if (pid == 0)
			_exit(worker(sock, queue));
	}
	return it_wait_all(n);
}

uint64_t
it_payload_seed(uint64_t seed, unsigned client, uint64_t seq)
{
	return seed * 1000003u + (uint64_t)client * 7919u + seq * 2654435761u;
}

void
it_patterned_msg(struct it_pattern *p, char *corr, uint64_t seed,
		 unsigned client, uint64_t seq, size_t len)
{
	snprintf(corr, IT_CORR_MAX, "%" PRIu64 " %u %" PRIu64 " %zu", seed,
		 client, seq, len);
	it_pattern_init(p, it_payload_seed(seed, client, seq));
}

uint64_t
it_xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

int
it_sender_open(const char *sock, const char *idfile, unsigned client,
	       struct ferry **c)
{
	int fd, rc;

	fd = open(idfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		it_die(99, "%s: %s", idfile, strerror(errno));
	rc = ferry_connect(sock, c);
	if (rc != 0) {
		it_ferry_fail(NULL, rc, "client %u: connect to %s", client,
			      sock);
		close(fd);
		return -1;
	}
	return fd;
}

int
it_send_patterned(struct ferry *c, const char *dest,
		  const struct ferry_send_opts *o, struct it_pattern *p,
		  uint8_t *buf, size_t buf_len, size_t len, int streamed,
		  uint8_t *id)
{
	struct ferry_stream *s = NULL;
	size_t done = 0;
	int rc;

	if (!streamed) {
		it_pattern_next(p, buf, len);
		return ferry_send(c, dest, buf, len, o, id);
	}
	rc = ferry_send_begin(c, dest, len, o, &s);
	while (rc == 0 && done < len) {
		size_t n = len - done < buf_len ? len - done : buf_len;
		it_pattern_next(p, buf, n);
		rc = ferry_stream_write(s, buf, n);
		done += n;
	}
	if (s != NULL && rc != 0)
		ferry_send_abort(s);
	else if (s != NULL)
		rc = ferry_send_end(s, id);
	return rc;
}

int
it_check_patterned(const struct ferry_msg_info *info, struct ferry_stream *s,
		   uint8_t *buf, size_t buf_len, const char *what,
		   unsigned *client, uint64_t *seq)
{
	char hex[FERRY_ID_HEX_LEN + 1];
	uint64_t seed, got = 0;
	size_t len;
	struct it_pattern p;
	int rc;

	ferry_id_to_hex(info->msg.id, hex);
	if (sscanf(info->msg.correlation, "%" SCNu64 " %u %" SCNu64 " %zu",
		   &seed, client, seq, &len) != 4) {
		fprintf(stderr, "%s: %s has no sender correlation ('%s')\n",
			what, hex, info->msg.correlation);
		return 1;
	}
	if (info->msg.payload_len != len) {
		fprintf(stderr, "%s: %s (%s) has %" PRIu64 " bytes\n", what,
			hex, info->msg.correlation, info->msg.payload_len);
		return 1;
	}
	it_pattern_init(&p, it_payload_seed(seed, *client, *seq));
	for (;;) {
		size_t n = 0;
		uint64_t at;

		rc = ferry_stream_read(s, buf, buf_len, &n);
		if (rc != 0)
			return rc;
		if (n == 0)
			break;
		if (got + n > len) {
			fprintf(stderr, "%s: %s (%s): payload too long\n", what,
				hex, info->msg.correlation);
			return 1;
		}
		at = it_pattern_check(&p, buf, n);
		if (at != UINT64_MAX) {
			fprintf(stderr,
				"%s: %s (%s): payload differs at byte "
				"%" PRIu64 "\n",
				what, hex, info->msg.correlation, at);
			return 1;
		}
		got += n;
	}
	if (got != len) {
		fprintf(stderr, "%s: %s (%s): payload ends at %" PRIu64 "\n",
			what, hex, info->msg.correlation, got);
		return 1;
	}
	return 0;
}
