/*
 * raw_frames.c - malformed frames on ferryd's control socket
 * (agent_badframes.sh).
 *
 *   raw_frames SOCKET
 *
 * Each bad case runs on a connection of its own, speaking raw bytes
 * (lib/frame.h: u32be length, type, flags, u16be reserved, u32be request
 * id, then u8 tag / u32be length / value fields).  For each the agent
 * must answer ERROR where it can and close that connection promptly --
 * or, for a well-formed request it does not know, answer ERROR and keep
 * the connection.  Meanwhile a libferry client connected from the start
 * sends and receives a message after every case, and an idle raw
 * connection opened at the start must still answer HELLO at the end.
 *
 * One line per case on stdout ("ok - ..." or "FAIL ..."); exit 0 when
 * all passed, 1 otherwise, 99 on a harness error.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/frame.h"
#include "tests/integration/itutil.h"

#define PROMPT_MS 1000 /* an oversized header: closed within this */
#define CLOSE_MS  3000 /* other violations: closed within this */

static const char *sock_path;
static struct ferry *good;
static char node[FERRY_NODE_MAX + 1];
static int failures;

/* ----------------------------------------------------------- building */

struct raw {
	uint8_t b[4096];
	size_t len;
};

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Start a frame; its length is filled in by end(). */
static void
begin(struct raw *r, uint8_t type, uint8_t flags, uint16_t reserved,
      uint32_t reqid)
{
	r->len = 12;
	put32(r->b, 0);
	r->b[4] = type;
	r->b[5] = flags;
	r->b[6] = (uint8_t)(reserved >> 8);
	r->b[7] = (uint8_t)reserved;
	put32(r->b + 8, reqid);
}

static void
field(struct raw *r, uint8_t tag, const void *v, size_t len)
{
	r->b[r->len] = tag;
	put32(r->b + r->len + 1, (uint32_t)len);
	memcpy(r->b + r->len + 5, v, len);
	r->len += 5 + len;
}

static void
field_str(struct raw *r, uint8_t tag, const char *s)
{
	field(r, tag, s, strlen(s));
}

static void
end(struct raw *r)
{
	put32(r->b, (uint32_t)(r->len - 4));
}

/* ------------------------------------------------------------ the wire */

static int
raw_connect(void)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		it_die(99, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		it_die(1, "FAIL cannot connect to %s: %s", sock_path,
		       strerror(errno));
	return fd;
}

static void
raw_write(int fd, const void *p, size_t len)
{
	/* The agent is gone if this fails: a finding, not a harness error. */
	if (send(fd, p, len, MSG_NOSIGNAL) != (ssize_t)len)
		it_die(1, "FAIL cannot send to the agent: %s", strerror(errno));
}

/* An answer frame, as read. */
struct answer {
	uint8_t type;
	uint32_t reqid;
	int32_t code;
	char text[512];
};

/*
 * Read one frame within timeout_ms.  1: a frame in *a; 0: the agent
 * closed the connection; -1: nothing within the time; -2: the agent sent
 * something malformed.
 */
static int
read_answer(int fd, int timeout_ms, struct answer *a)
{
	static uint8_t buf[FERRY_FRAME_MAX + 4];
	size_t have = 0, want = 4;
	int64_t until = it_now_ms() + timeout_ms;

	memset(a, 0, sizeof(*a));
	while (have < want) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int64_t left = until - it_now_ms();
		ssize_t n;

		if (left < 0 || poll(&pfd, 1, (int)left) == 0)
			return -1;
		n = recv(fd, buf + have, want - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ECONNRESET)
			return 0;
		if (n < 0)
			it_die(99, "recv: %s", strerror(errno));
		if (n == 0)
			return have == 0 ? 0 : -2;
		have += (size_t)n;
		if (have == 4) {
			uint32_t len = get32(buf);
			if (len < 8 || len > FERRY_FRAME_MAX)
				return -2;
			want = 4 + len;
		}
	}
	a->type = buf[4];
	a->reqid = get32(buf + 8);
	for (size_t p = 12; p + 5 <= want;) {
		uint8_t tag = buf[p];
		uint32_t len = get32(buf + p + 1);
		if (len > want - p - 5)
			return -2;
		if (tag == FERRY_T_CODE && len == 4)
			a->code = (int32_t)get32(buf + p + 5);
		if (tag == FERRY_T_TEXT && len < sizeof(a->text)) {
			memcpy(a->text, buf + p + 5, len);
			a->text[len] = '\0';
		}
		p += 5 + len;
	}
	return 1;
}

/* ------------------------------------------------------------- checks */

static void report(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s %s: ", ok ? "ok -" : "FAIL", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		failures++;
}

/* The good client still works: a message there and back. */
static void
good_client_works(const char *after)
{
	char want[64], got[64];
	char dest[FERRY_NODE_MAX + 16];
	struct ferry_msg_info info;
	struct ferry_stream *s = NULL;
	size_t n = 0;
	int rc;

	snprintf(want, sizeof(want), "still here after %.40s", after);
	snprintf(dest, sizeof(dest), "%s/rawq", node);
	rc = ferry_send(good, dest, want, strlen(want), NULL, NULL);
	if (rc == 0)
		rc = ferry_recv(good, "rawq", NULL, &info, &s);
	if (rc == 0)
		rc = ferry_stream_read(s, got, sizeof(got) - 1, &n);
	ferry_stream_close(s);
	if (rc == 0)
		rc = ferry_ack(good, info.msg.id, info.token);
	if (rc != 0) {
		report(0, after, "the other client failed afterwards: %s (%s)",
		       ferry_strerror(rc), ferry_last_error(good));
		return;
	}
	got[n] = '\0';
	if (strcmp(got, want) != 0)
		report(0, after, "the other client got '%s'", got);
}

enum expect {
	ERROR_CLOSE, /* ERROR, then the connection closes */
	CLOSE,	     /* the connection closes (ERROR optional) */
	ERROR_STAYS, /* ERROR, the connection still serves HELLO */
};

/*
 * Send bytes on a new connection (then shut our side if shut) and check
 * the agent does what e says, the closing within close_ms.
 */
static void
run_case(const char *name, const void *bytes, size_t len, int shut,
	 enum expect e, int close_ms)
{
	struct answer a;
	int fd = raw_connect(), rc, got_error = 0;
	int64_t t0;
	char what[600] = "";

	raw_write(fd, bytes, len);
	if (shut)
		shutdown(fd, SHUT_WR);
	t0 = it_now_ms();
	rc = read_answer(fd, close_ms, &a);
	if (rc == 1 && a.type == FERRY_F_ERROR) {
		got_error = 1;
		snprintf(what, sizeof(what), "ERROR %d '%s'", a.code, a.text);
		if (a.code != FERRY_EPROTO && e != ERROR_STAYS) {
			report(0, name, "%s: not EPROTO (%d)", what,
			       FERRY_EPROTO);
			goto out;
		}
		rc = read_answer(fd, close_ms, &a);
	} else if (rc == 1) {
		report(0, name, "answered frame type %u, not ERROR", a.type);
		goto out;
	}
	switch (e) {
	case ERROR_CLOSE:
	case CLOSE:
		if (e == ERROR_CLOSE && !got_error) {
			report(0, name, "no ERROR frame before %s",
			       rc == 0 ? "the close" : "the time ran out");
			goto out;
		}
		if (rc == -1) {
			report(0, name, "%s; connection still open after %d ms",
			       got_error ? what : "no answer", close_ms);
			goto out;
		}
		if (rc != 0) {
			report(0, name, "%s, then %s", what,
			       rc == 1 ? "another frame" : "garbage");
			goto out;
		}
		report(1, name, "%s%sclosed after %lld ms", what,
		       got_error ? ", " : "", (long long)(it_now_ms() - t0));
		break;
	case ERROR_STAYS: {
		struct raw h;
		if (!got_error) {
			report(0, name, "no ERROR frame (%s)",
			       rc == 0 ? "closed" : "no answer");
			goto out;
		}
		if (rc != -1 && rc != 1) {
			report(0, name, "%s, then the connection closed", what);
			goto out;
		}
		begin(&h, FERRY_F_HELLO, 0, 0, 99);
		end(&h);
		raw_write(fd, h.b, h.len);
		rc = read_answer(fd, CLOSE_MS, &a);
		if (rc != 1 || a.type != FERRY_F_HELLO_OK || a.reqid != 99) {
			report(0, name, "%s, but HELLO afterwards failed",
			       what);
			goto out;
		}
		report(1, name, "%s; the connection still serves", what);
		break;
	}
	}
out:
	close(fd);
	good_client_works(name);
}

int
main(int argc, char **argv)
{
	struct ferry_node_info ni;
	struct raw r;
	struct answer a;
	int idle, rc;
	static const char http[] = "GET / HTTP/1.1\r\nHost: ferry\r\n\r\n";
	uint8_t b[64];

	it_progname(argv[0]);
	if (argc != 2)
		it_die(99, "usage: raw_frames SOCKET");
	sock_path = argv[1];
	rc = ferry_connect(sock_path, &good);
	if (rc == 0)
		rc = ferry_info(good, &ni);
	if (rc != 0)
		it_die(1, "the good client cannot start: %s",
		       ferry_strerror(rc));
	snprintf(node, sizeof(node), "%s", ni.node);
	idle = raw_connect();

	/* Garbage: its first four bytes make a huge length. */
	run_case("garbage (HTTP)", http, sizeof(http) - 1, 0, ERROR_CLOSE,
		 CLOSE_MS);

	/* A plausible length, then fields that run past the frame. */
	memset(b, 0xff, sizeof(b));
	put32(b, 20);
	b[4] = FERRY_F_HELLO;
	b[5] = b[6] = b[7] = 0;
	put32(b + 8, 7);
	run_case("garbage fields", b, 24, 0, ERROR_CLOSE, CLOSE_MS);

	begin(&r, FERRY_F_HELLO, 0x80, 0, 1);
	end(&r);
	run_case("unknown flag bits", r.b, r.len, 0, ERROR_CLOSE, CLOSE_MS);

	begin(&r, FERRY_F_HELLO, 0, 0x0100, 1);
	end(&r);
	run_case("reserved bytes not zero", r.b, r.len, 0, ERROR_CLOSE,
		 CLOSE_MS);

	put32(b, 4);
	memset(b + 4, 0, 4);
	run_case("length 4 (< 8)", b, 8, 0, ERROR_CLOSE, CLOSE_MS);
	put32(b, 0);
	run_case("length 0", b, 4, 0, ERROR_CLOSE, CLOSE_MS);

	/* Oversized: only the 12-byte header is ever sent; the agent must
	 * refuse it from the length alone, not wait for the body. */
	begin(&r, FERRY_F_SEND, 0, 0, 1);
	put32(r.b, FERRY_FRAME_MAX + 1);
	run_case("length 1 MiB + 1, header only", r.b, 12, 0, ERROR_CLOSE,
		 PROMPT_MS);
	put32(r.b, 0xffffffffu);
	run_case("length 4 GiB - 1, header only", r.b, 12, 0, ERROR_CLOSE,
		 PROMPT_MS);

	/* Truncated, then our side closes: nothing to answer, but the
	 * agent must let go of the connection. */
	begin(&r, FERRY_F_SEND, 0, 0, 1);
	put32(r.b, 100);
	memset(r.b + 12, 0, 20);
	run_case("truncated frame, then close", r.b, 32, 1, CLOSE, CLOSE_MS);
	run_case("truncated header, then close", r.b, 2, 1, CLOSE, CLOSE_MS);

	begin(&r, FERRY_F_RECV, 0, 0, 5);
	field_str(&r, FERRY_T_QUEUE, "rawq");
	field_str(&r, FERRY_T_QUEUE, "rawq");
	end(&r);
	run_case("duplicate field tag", r.b, r.len, 0, ERROR_CLOSE, CLOSE_MS);

	begin(&r, FERRY_F_RECV, 0, 0, 5);
	field(&r, FERRY_T_QUEUE, "raw\0q", 5);
	end(&r);
	run_case("NUL inside a string field", r.b, r.len, 0, ERROR_CLOSE,
		 CLOSE_MS);

	begin(&r, FERRY_F_RECV, 0, 0, 5);
	field_str(&r, FERRY_T_QUEUE, "rawq");
	field(&r, FERRY_T_LEASE_MS, "\0\0\1", 3);
	end(&r);
	run_case("u64 field of 3 bytes", r.b, r.len, 0, ERROR_CLOSE, CLOSE_MS);

	begin(&r, FERRY_F_DATA, 0, 0, 5);
	memcpy(r.b + r.len, "0123456789", 10);
	r.len += 10;
	end(&r);
	run_case("DATA outside a stream", r.b, r.len, 0, ERROR_CLOSE, CLOSE_MS);

	/* A streamed SEND, then a request in the middle of its payload. */
	{
		struct raw r2;
		uint8_t plen[8] = {0, 0, 0, 0, 0, 0, 0, 100};
		begin(&r, FERRY_F_SEND, 0, 0, 5);
		field_str(&r, FERRY_T_DST_NODE, node);
		field_str(&r, FERRY_T_DST_QUEUE, "rawq");
		field(&r, FERRY_T_PAYLOAD_LEN, plen, 8);
		end(&r);
		begin(&r2, FERRY_F_INFO, 0, 0, 6);
		end(&r2);
		memcpy(r.b + r.len, r2.b, r2.len);
		r.len += r2.len;
		run_case("a request inside a payload stream", r.b, r.len, 0,
			 ERROR_CLOSE, CLOSE_MS);
	}

	begin(&r, 50, 0, 0, 8);
	end(&r);
	run_case("unknown request type 50", r.b, r.len, 0, ERROR_STAYS,
		 CLOSE_MS);
	begin(&r, FERRY_F_OK, 0, 0, 8);
	end(&r);
	run_case("an answer type (OK) as a request", r.b, r.len, 0, ERROR_STAYS,
		 CLOSE_MS);

	/* The idle connection was never disturbed. */
	begin(&r, FERRY_F_HELLO, 0, 0, 42);
	end(&r);
	raw_write(idle, r.b, r.len);
	rc = read_answer(idle, CLOSE_MS, &a);
	report(rc == 1 && a.type == FERRY_F_HELLO_OK && a.reqid == 42,
	       "idle connection", "HELLO answered at the end");
	close(idle);
	good_client_works("the end");
	ferry_close(good);
	printf("%d of the cases failed\n", failures);
	return failures == 0 ? 0 : 1;
}
