/*
 * fault_proxy.c - a TCP proxy on 127.0.0.1 that damages what it forwards,
 * for the link fault tests (link_faults.sh, link_security.sh).  Plain
 * libc: it knows nothing of ferry, it only counts, cuts and flips bytes.
 *
 *   fault_proxy --target PORT [--listen PORT] [--port-file FILE]
 *		 [--cut-random MIN:MAX] [--max-cuts N] [--seed S] [--rst]
 *		 [--flip OFFSET|random:MIN:MAX] [--flip-mask M] [--flip-conn K]
 *		 [--record FILE] [--record-conn K] [--stats FILE]
 *		 [--max-conns N]
 *	Accept on 127.0.0.1:PORT (0 or absent: a free port, chosen by the
 *	kernel), connect each accepted connection to 127.0.0.1:TARGET and
 *	forward both ways, several connections at once (at most N, 64 by
 *	default; more are closed at once and counted as "rejected").  The
 *	port listened on is printed on stdout (one line) and, with
 *	--port-file, written to FILE (atomically) once accepting.  A
 *	half-close is forwarded as a half-close.  Runs until SIGTERM, SIGINT
 *	or SIGHUP, then writes the stats a last time and exits 0.
 *	SIGUSR1 mutes the server: from then on what any connection's server
 *	sends is read and dropped (the client hears nothing more, while its
 *	own bytes still reach the server: a link that fails one way, e.g.
 *	custody acknowledgements that never come back); SIGUSR2 unmutes.
 *
 *	--cut-random MIN:MAX  each connection gets a random budget in
 *		[MIN, MAX] (uniform, from the seed); once that many bytes have
 *		passed, counting both directions together, nothing more is
 *		read, what was read is delivered (2 s at most), and both sides
 *		are closed: a FIN each, or an RST where the kernel still holds
 *		bytes the proxy did not read; --rst makes it an RST always.  A
 *		connection that ends by itself before its budget is not a cut.
 *	--max-cuts N  after N cuts, forward transparently (also the
 *		connections open at that moment).  Default: no limit.
 *	--seed S  seeds every random choice (default: from the clock and
 *		the pid); the seed is printed on stderr and in the stats, so
 *		that a run can be repeated.
 *	--flip OFFSET  XOR the byte at OFFSET (0-based) of the client to
 *		server stream of connection K (--flip-conn, default 1: the
 *		first) with M (--flip-mask, default 0xff).  random:MIN:MAX
 *		picks OFFSET in [MIN, MAX] from the seed.  Other connections
 *		pass untouched.
 *	--record FILE  write the client to server bytes of connection K
 *		(--record-conn, default 1) to FILE, as the client sent them
 *		(before any flip), as they pass.
 *	--stats FILE  counters, one "name value" a line, rewritten
 *		atomically (a temporary file renamed over FILE) on every
 *		connection event and at most every 100 ms while bytes pass:
 *		port, seed, connections (accepted and connected to the
 *		target), active, cuts, flips, flip_offset, c2s_bytes and
 *		s2c_bytes (read from each side, all connections),
 *		s2c_dropped (read from servers while muted, not passed on),
 *		muted (1 once a SIGUSR1 took effect, 0 after SIGUSR2),
 *		upstream_failures (the target refused), rejected, done (1 in
 *		the last version, written at exit).
 *
 *   fault_proxy --replay FILE --to PORT [--timeout MS]
 *	Connect to 127.0.0.1:PORT, send the bytes of FILE (a --record), read
 *	and count whatever comes back, then wait for the server to close,
 *	at most MS ms (default 5000) after the last byte went out or the
 *	server stopped reading.  Prints "replay: sent N of M bytes, received
 *	R bytes, ended by eof|reset|timeout" on stdout.  Exit 0 once
 *	connected (whatever the server did), 1 if the connection or FILE
 *	failed.
 *
 * Exit status: 0 as above, 1 on a runtime error (a socket or file call
 * failed), 2 on a usage error.  Memory is bounded: two 64 KiB buffers per
 * connection, read from a side only while the buffer towards the other
 * has room.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "tests/integration/itutil.h"

#define BUF_SIZE	  (64u * 1024u)
#define CONNS_MAX	  256u
#define CONNS_DEFAULT	  64u
#define STATS_EVERY_MS	  100
#define DRAIN_MS	  2000 /* a cut delivers what it read within this */
#define REPLAY_TIMEOUT_MS 5000

static const char *prog = "fault_proxy";

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* splitmix64: small, and every seed is a good one. */
static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static uint64_t
rng_range(uint64_t lo, uint64_t hi)
{
	uint64_t span = hi - lo + 1;

	return span == 0 ? rng_next() : lo + rng_next() % span;
}

/* A whole-string unsigned number (decimal, or hex with 0x). */
static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int base = 10;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
			return -1;
	}
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* "MIN:MAX" with MIN <= MAX. */
static int
parse_range(const char *s, uint64_t *lo, uint64_t *hi)
{
	char buf[64];
	char *colon;

	if (strlen(s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, strlen(s) + 1);
	colon = strchr(buf, ':');
	if (colon == NULL)
		return -1;
	*colon = '\0';
	if (parse_u64(buf, lo) != 0 || parse_u64(colon + 1, hi) != 0)
		return -1;
	return *lo <= *hi ? 0 : -1;
}

static int
port_ok(uint64_t p, int zero_ok)
{
	return p <= 65535 && (zero_ok || p > 0);
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return -1;
	return 0;
}

static void
loopback(struct sockaddr_in *a, unsigned port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Replace path with text, atomically (a temporary file renamed). */
static int
write_file_atomic(const char *path, const char *text)
{
	char tmp[4096];
	int fd, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (it_write_all(fd, text, strlen(text)) != 0) {
		int e = errno;
		(void)close(fd);
		(void)unlink(tmp);
		errno = e;
		return -1;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		(void)unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------ proxy */

struct opts {
	unsigned listen_port, target_port;
	const char *port_file, *stats_file, *record_file;
	int cut;
	uint64_t cut_min, cut_max;
	uint64_t max_cuts; /* UINT64_MAX: no limit */
	int rst;
	int flip;
	uint64_t flip_off;
	unsigned flip_mask;
	uint64_t flip_conn, record_conn;
	unsigned max_conns;
	uint64_t seed;
};

/* One direction of a connection: bytes read from one side, waiting to be
 * written to the other. */
struct dir {
	uint8_t buf[BUF_SIZE];
	size_t off, len;
	uint64_t bytes; /* read from the source so far */
	int eof;	/* the source said EOF */
	int shut;	/* ... and it was passed on (shutdown) */
};

struct conn {
	uint64_t num; /* 1-based, in accept order */
	int cfd, sfd; /* client, server (target) */
	int connecting;
	struct dir up;	 /* client to server */
	struct dir down; /* server to client */
	uint64_t budget; /* cut after this many bytes both ways; 0: never */
	int cutting;
	int64_t cut_deadline;
	int flip; /* a flip is pending in this connection's up stream */
	int record;
};

struct proxy {
	struct opts o;
	int lfd;
	unsigned port;
	struct conn *c[CONNS_MAX];
	unsigned nconns;
	int rec_fd;
	/* counters */
	uint64_t accepted, connections, cuts, flips, c2s, s2c, s2c_dropped;
	int muted; /* mute_s2c as last noted */
	uint64_t upstream_failures, rejected;
	int stats_dirty;
	int64_t stats_ms;
};

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t mute_s2c; /* SIGUSR1 sets, SIGUSR2 clears */
static int sig_pipe[2] = {-1, -1};     /* wakes poll: no lost signal */

static void
on_signal(int sig)
{
	int e = errno;

	if (sig == SIGUSR1 || sig == SIGUSR2)
		mute_s2c = sig == SIGUSR1;
	else
		stop_signal = sig;
	if (write(sig_pipe[1], "", 1) < 0) {
		/* full: poll wakes anyway */
	}
	errno = e;
}

static void
stats_write(struct proxy *px, int done)
{
	char text[1024];
	char flip_off[32] = "-";

	if (px->o.stats_file == NULL)
		return;
	if (px->o.flip)
		snprintf(flip_off, sizeof(flip_off), "%" PRIu64,
			 px->o.flip_off);
	snprintf(text, sizeof(text),
		 "port %u\nseed %" PRIu64 "\nconnections %" PRIu64
		 "\nactive %u\ncuts %" PRIu64 "\nflips %" PRIu64
		 "\nflip_offset %s\nc2s_bytes %" PRIu64 "\ns2c_bytes %" PRIu64
		 "\ns2c_dropped %" PRIu64 "\nupstream_failures %" PRIu64
		 "\nrejected %" PRIu64 "\nmuted %d\ndone %d\n",
		 px->port, px->o.seed, px->connections, px->nconns, px->cuts,
		 px->flips, flip_off, px->c2s, px->s2c, px->s2c_dropped,
		 px->upstream_failures, px->rejected, px->muted, done);
	if (write_file_atomic(px->o.stats_file, text) != 0)
		it_die(1, "%s: %s", px->o.stats_file, strerror(errno));
	px->stats_dirty = 0;
	px->stats_ms = it_now_ms();
}

static void
conn_free(struct proxy *px, unsigned i, int rst)
{
	struct conn *c = px->c[i];

	if (rst) {
		struct linger l = {1, 0};
		/* best effort: an RST instead of a FIN */
		(void)setsockopt(c->cfd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		if (c->sfd >= 0)
			(void)setsockopt(c->sfd, SOL_SOCKET, SO_LINGER, &l,
					 sizeof(l));
	}
	if (close(c->cfd) != 0)
		note("conn %" PRIu64 ": close: %s", c->num, strerror(errno));
	if (c->sfd >= 0 && close(c->sfd) != 0)
		note("conn %" PRIu64 ": close: %s", c->num, strerror(errno));
	if (c->record && px->rec_fd >= 0) {
		if (close(px->rec_fd) != 0)
			it_die(1, "%s: %s", px->o.record_file, strerror(errno));
		px->rec_fd = -1;
	}
	free(c);
	px->c[i] = px->c[--px->nconns];
	px->c[px->nconns] = NULL;
	stats_write(px, 0);
}

static void
do_accept(struct proxy *px)
{
	struct sockaddr_in a;
	struct conn *c;
	int fd, sfd, one = 1;

	fd = accept(px->lfd, NULL, NULL);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			note("accept: %s", strerror(errno));
		if (errno == EMFILE || errno == ENFILE)
			(void)poll(NULL, 0, 100);
		return;
	}
	px->accepted++;
	if (px->nconns >= px->o.max_conns) {
		px->rejected++;
		note("conn %" PRIu64 ": rejected: %u connections open",
		     px->accepted, px->nconns);
		(void)close(fd);
		stats_write(px, 0);
		return;
	}
	c = calloc(1, sizeof(*c));
	sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c == NULL || sfd < 0 || set_nonblock(fd) != 0 ||
	    set_nonblock(sfd) != 0) {
		note("conn %" PRIu64 ": %s", px->accepted,
		     c == NULL ? "out of memory" : strerror(errno));
		free(c);
		(void)close(fd);
		if (sfd >= 0)
			(void)close(sfd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->num = px->accepted;
	c->cfd = fd;
	c->sfd = sfd;
	loopback(&a, px->o.target_port);
	if (connect(sfd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (errno != EINPROGRESS) {
			px->upstream_failures++;
			note("conn %" PRIu64 ": cannot connect to port %u: %s",
			     c->num, px->o.target_port, strerror(errno));
			(void)close(fd);
			(void)close(sfd);
			free(c);
			stats_write(px, 0);
			return;
		}
		c->connecting = 1;
	}
	if (px->o.cut && px->cuts < px->o.max_cuts)
		c->budget = rng_range(px->o.cut_min, px->o.cut_max);
	c->flip = px->o.flip && c->num == px->o.flip_conn;
	if (px->o.record_file != NULL && c->num == px->o.record_conn) {
		px->rec_fd =
		    open(px->o.record_file,
			 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (px->rec_fd < 0)
			it_die(1, "%s: %s", px->o.record_file, strerror(errno));
		c->record = 1;
	}
	px->c[px->nconns++] = c;
	if (!c->connecting)
		px->connections++;
	if (c->budget != 0)
		note("conn %" PRIu64 ": cut after %" PRIu64 " bytes", c->num,
		     c->budget);
	stats_write(px, 0);
}

/* How much may still be read on c before its cut (SIZE_MAX: any). */
static size_t
budget_left(const struct proxy *px, const struct conn *c)
{
	uint64_t used = c->up.bytes + c->down.bytes;

	if (c->budget == 0 || px->cuts >= px->o.max_cuts)
		return SIZE_MAX;
	return used >= c->budget ? 0 : (size_t)(c->budget - used);
}

/* Read from fd into d; 0 ok (or nothing now), -1 the connection broke. */
static int
dir_read(struct proxy *px, struct conn *c, struct dir *d, int fd, int is_up)
{
	size_t room, left;
	ssize_t n;

	if (d->off > 0 && d->off == d->len)
		d->off = d->len = 0;
	if (d->off > 0 && d->len > BUF_SIZE / 2) {
		memmove(d->buf, d->buf + d->off, d->len - d->off);
		d->len -= d->off;
		d->off = 0;
	}
	room = BUF_SIZE - d->len;
	left = budget_left(px, c);
	if (left < room)
		room = left;
	if (room == 0 || d->eof)
		return 0;
	n = recv(fd, d->buf + d->len, room, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		if (errno != ECONNRESET)
			note("conn %" PRIu64 ": recv: %s", c->num,
			     strerror(errno));
		return -1;
	}
	if (n == 0) {
		d->eof = 1;
		return 0;
	}
	if (is_up && c->record && px->rec_fd >= 0 &&
	    it_write_all(px->rec_fd, d->buf + d->len, (size_t)n) != 0)
		it_die(1, "%s: %s", px->o.record_file, strerror(errno));
	if (!is_up && mute_s2c) {
		/* Muted: read, counted, not passed on. */
		d->bytes += (uint64_t)n;
		px->s2c_dropped += (uint64_t)n;
		px->stats_dirty = 1;
		return 0;
	}
	if (is_up && c->flip && px->o.flip_off >= d->bytes &&
	    px->o.flip_off < d->bytes + (uint64_t)n) {
		size_t at = d->len + (size_t)(px->o.flip_off - d->bytes);
		uint8_t was = d->buf[at];
		d->buf[at] ^= (uint8_t)px->o.flip_mask;
		c->flip = 0;
		px->flips++;
		note("conn %" PRIu64 ": flipped byte %" PRIu64
		     " of the client's stream (0x%02x -> 0x%02x)",
		     c->num, px->o.flip_off, was, d->buf[at]);
		px->stats_dirty = 1;
		stats_write(px, 0);
	}
	d->len += (size_t)n;
	d->bytes += (uint64_t)n;
	if (is_up)
		px->c2s += (uint64_t)n;
	else
		px->s2c += (uint64_t)n;
	px->stats_dirty = 1;
	if (budget_left(px, c) == 0 && !c->cutting) {
		c->cutting = 1;
		c->cut_deadline = it_now_ms() + DRAIN_MS;
	}
	return 0;
}

/* Write what d holds to fd, then pass its EOF on; -1 when broken. */
static int
dir_write(struct conn *c, struct dir *d, int fd)
{
	while (d->off < d->len) {
		ssize_t n =
		    send(fd, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			if (errno != EPIPE && errno != ECONNRESET)
				note("conn %" PRIu64 ": send: %s", c->num,
				     strerror(errno));
			return -1;
		}
		d->off += (size_t)n;
	}
	d->off = d->len = 0; /* all written: the whole buffer is free */
	if (d->eof && !d->shut && !c->cutting) {
		if (shutdown(fd, SHUT_WR) != 0 && errno != ENOTCONN) {
			note("conn %" PRIu64 ": shutdown: %s", c->num,
			     strerror(errno));
			return -1;
		}
		d->shut = 1;
	}
	return 0;
}

/* Handle the poll results of connection i; 1 when it was closed. */
static int
conn_step(struct proxy *px, unsigned i, short crev, short srev)
{
	struct conn *c = px->c[i];
	int bad = 0;

	if (c->connecting && srev != 0) {
		int err = 0;
		socklen_t l = sizeof(err);
		if (getsockopt(c->sfd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
			err = errno;
		if (err != 0) {
			px->upstream_failures++;
			note("conn %" PRIu64 ": cannot connect to port %u: %s",
			     c->num, px->o.target_port, strerror(err));
			conn_free(px, i, 0);
			return 1;
		}
		c->connecting = 0;
		px->connections++;
		px->stats_dirty = 1;
		srev = 0; /* look again at the next poll */
	}
	if (!c->cutting && (crev & (POLLIN | POLLHUP | POLLERR)) != 0)
		bad |= dir_read(px, c, &c->up, c->cfd, 1);
	if (!c->connecting && !c->cutting &&
	    (srev & (POLLIN | POLLHUP | POLLERR)) != 0)
		bad |= dir_read(px, c, &c->down, c->sfd, 0);
	if (!bad && !c->connecting)
		bad |= dir_write(c, &c->up, c->sfd);
	if (!bad)
		bad |= dir_write(c, &c->down, c->cfd);
	if (bad) {
		/* A reset on one side is passed on as a reset. */
		note("conn %" PRIu64 ": broken after %" PRIu64 " + %" PRIu64
		     " bytes",
		     c->num, c->up.bytes, c->down.bytes);
		conn_free(px, i, 1);
		return 1;
	}
	if (c->cutting) {
		int drained =
		    c->up.off == c->up.len && c->down.off == c->down.len;
		if (px->cuts >= px->o.max_cuts) {
			/* the last cut happened elsewhere: go on */
			c->cutting = 0;
			c->budget = 0;
			return 0;
		}
		if (drained || it_now_ms() >= c->cut_deadline) {
			px->cuts++;
			note("conn %" PRIu64 ": cut %" PRIu64 " after %" PRIu64
			     " + %" PRIu64 " bytes%s",
			     c->num, px->cuts, c->up.bytes, c->down.bytes,
			     drained ? "" : " (not all delivered)");
			conn_free(px, i, px->o.rst);
			return 1;
		}
		return 0;
	}
	if (c->up.shut && c->down.shut) {
		conn_free(px, i, 0);
		return 1;
	}
	return 0;
}

static short
client_events(const struct conn *c)
{
	short ev = 0;

	if (!c->cutting && !c->up.eof && c->up.len - c->up.off < BUF_SIZE)
		ev |= POLLIN;
	if (c->down.off < c->down.len)
		ev |= POLLOUT;
	return ev;
}

static short
server_events(const struct conn *c)
{
	short ev = 0;

	if (c->connecting)
		return POLLOUT;
	if (!c->cutting && !c->down.eof && c->down.len - c->down.off < BUF_SIZE)
		ev |= POLLIN;
	if (c->up.off < c->up.len)
		ev |= POLLOUT;
	return ev;
}

static void
listen_on(struct proxy *px)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	int one = 1;

	px->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (px->lfd < 0)
		it_die(1, "socket: %s", strerror(errno));
	if (setsockopt(px->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) !=
	    0)
		it_die(1, "SO_REUSEADDR: %s", strerror(errno));
	loopback(&a, px->o.listen_port);
	if (bind(px->lfd, (struct sockaddr *)&a, sizeof(a)) != 0)
		it_die(1, "bind 127.0.0.1:%u: %s", px->o.listen_port,
		       strerror(errno));
	if (listen(px->lfd, 64) != 0)
		it_die(1, "listen: %s", strerror(errno));
	if (set_nonblock(px->lfd) != 0)
		it_die(1, "fcntl: %s", strerror(errno));
	if (getsockname(px->lfd, (struct sockaddr *)&a, &l) != 0)
		it_die(1, "getsockname: %s", strerror(errno));
	px->port = ntohs(a.sin_port);
}

static int
run_proxy(struct opts *o)
{
	static struct proxy px;
	struct pollfd pf[2 + 2 * CONNS_MAX];
	struct sigaction sa;
	char line[32];

	if (pipe(sig_pipe) != 0 || set_nonblock(sig_pipe[0]) != 0 ||
	    set_nonblock(sig_pipe[1]) != 0 ||
	    fcntl(sig_pipe[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(sig_pipe[1], F_SETFD, FD_CLOEXEC) != 0)
		it_die(1, "pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGTERM, &sa, NULL) ||
	    sigaction(SIGINT, &sa, NULL) || sigaction(SIGHUP, &sa, NULL) ||
	    sigaction(SIGUSR1, &sa, NULL) || sigaction(SIGUSR2, &sa, NULL))
		it_die(1, "sigaction: %s", strerror(errno));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		it_die(1, "sigaction: %s", strerror(errno));
	px.o = *o;
	px.rec_fd = -1;
	listen_on(&px);
	note("listening on 127.0.0.1:%u, forwarding to port %u, seed %" PRIu64
	     "%s",
	     px.port, o->target_port, o->seed, o->cut ? "" : ", no cuts");
	if (o->flip)
		note("will flip byte %" PRIu64 " of connection %" PRIu64
		     " with 0x%02x",
		     o->flip_off, o->flip_conn, o->flip_mask);
	stats_write(&px, 0);
	snprintf(line, sizeof(line), "%u\n", px.port);
	if (o->port_file != NULL && write_file_atomic(o->port_file, line) != 0)
		it_die(1, "%s: %s", o->port_file, strerror(errno));
	if (fputs(line, stdout) == EOF || fflush(stdout) != 0)
		it_die(1, "stdout: %s", strerror(errno));

	while (!stop_signal) {
		unsigned n = 0, owner[CONNS_MAX];
		int64_t now = it_now_ms();
		int timeout = -1, rc;

		pf[n++] = (struct pollfd){
		    .fd = px.lfd,
		    .events = px.nconns < o->max_conns ? POLLIN : 0};
		pf[n++] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
		for (unsigned i = 0; i < px.nconns; i++) {
			struct conn *c = px.c[i];
			short ce = client_events(c), se = server_events(c);
			/* No events: leave the fd out, or a hang-up it has
			 * already reported would wake us in a loop. */
			owner[i] = n;
			pf[n++] = (struct pollfd){.fd = ce ? c->cfd : -1,
						  .events = ce};
			pf[n++] = (struct pollfd){.fd = se ? c->sfd : -1,
						  .events = se};
			if (c->cutting)
				timeout = 50;
		}
		if (px.stats_dirty) {
			int64_t left = px.stats_ms + STATS_EVERY_MS - now;
			if (left <= 0)
				stats_write(&px, 0);
			else if (timeout < 0 || left < timeout)
				timeout = (int)left;
		}
		rc = poll(pf, n, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			it_die(1, "poll: %s", strerror(errno));
		}
		/* Walk backwards: conn_free moves the last one into i. */
		for (unsigned i = px.nconns; i-- > 0;) {
			unsigned k = owner[i];
			(void)conn_step(&px, i, pf[k].revents,
					pf[k + 1].revents);
		}
		if (pf[1].revents & POLLIN) {
			char sink[64];
			while (read(sig_pipe[0], sink, sizeof(sink)) > 0)
				;
		}
		if (px.muted != mute_s2c) {
			px.muted = mute_s2c;
			note("%s", px.muted ? "muted: what servers send is "
					      "dropped"
					    : "unmuted");
			stats_write(&px, 0);
		}
		if (pf[0].revents & POLLIN)
			do_accept(&px);
	}
	note("signal %d: %" PRIu64 " connections, %" PRIu64 " cuts, %" PRIu64
	     " flips, %" PRIu64 " bytes to the server, %" PRIu64
	     " to the client",
	     (int)stop_signal, px.connections, px.cuts, px.flips, px.c2s,
	     px.s2c);
	while (px.nconns > 0)
		conn_free(&px, px.nconns - 1, 0);
	stats_write(&px, 1);
	if (close(px.lfd) != 0)
		it_die(1, "close: %s", strerror(errno));
	return 0;
}

/* ----------------------------------------------------------- replay */

static int
run_replay(const char *file, unsigned port, int64_t timeout_ms)
{
	static uint8_t buf[BUF_SIZE], sink[BUF_SIZE];
	struct sockaddr_in a;
	struct stat st;
	size_t off = 0, len = 0;
	uint64_t sent = 0, got = 0, total;
	int64_t idle_since;
	const char *end = "timeout";
	int fd, sfd, file_eof = 0;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0)
		it_die(1, "%s: %s", file, strerror(errno));
	total = (uint64_t)st.st_size;
	sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sfd < 0)
		it_die(1, "socket: %s", strerror(errno));
	loopback(&a, port);
	if (connect(sfd, (struct sockaddr *)&a, sizeof(a)) != 0)
		it_die(1, "connect to 127.0.0.1:%u: %s", port, strerror(errno));
	if (set_nonblock(sfd) != 0)
		it_die(1, "fcntl: %s", strerror(errno));
	idle_since = it_now_ms();
	for (;;) {
		struct pollfd p = {.fd = sfd, .events = POLLIN};
		int64_t left;
		int rc;

		if (off == len && !file_eof) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				it_die(1, "%s: %s", file, strerror(errno));
			off = 0;
			len = (size_t)n;
			file_eof = n == 0;
		}
		if (off < len)
			p.events |= POLLOUT;
		left = idle_since + timeout_ms - it_now_ms();
		if (left <= 0)
			break;
		rc = poll(&p, 1, (int)left);
		if (rc < 0 && errno != EINTR)
			it_die(1, "poll: %s", strerror(errno));
		if (rc <= 0)
			continue;
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(sfd, sink, sizeof(sink), 0);
			if (n == 0) {
				end = "eof";
				break;
			}
			if (n < 0 && errno == ECONNRESET) {
				end = "reset";
				break;
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				it_die(1, "recv: %s", strerror(errno));
			if (n > 0)
				got += (uint64_t)n;
		}
		if ((p.revents & POLLOUT) && off < len) {
			ssize_t n =
			    send(sfd, buf + off, len - off, MSG_NOSIGNAL);
			if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
				end = "reset";
				break;
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				it_die(1, "send: %s", strerror(errno));
			if (n > 0) {
				off += (size_t)n;
				sent += (uint64_t)n;
				idle_since = it_now_ms();
			}
		}
	}
	printf("replay: sent %" PRIu64 " of %" PRIu64
	       " bytes, received %" PRIu64 " bytes, ended by %s\n",
	       sent, total, got, end);
	if (fflush(stdout) != 0)
		it_die(1, "stdout: %s", strerror(errno));
	if (close(sfd) != 0 || close(fd) != 0)
		it_die(1, "close: %s", strerror(errno));
	return 0;
}

/* ------------------------------------------------------------- main */

static void
usage(void)
{
	fprintf(stderr,
		"usage: %s --target PORT [--listen PORT] [--port-file FILE]\n"
		"\t[--cut-random MIN:MAX] [--max-cuts N] [--seed S] [--rst]\n"
		"\t[--flip OFFSET|random:MIN:MAX] [--flip-mask M] "
		"[--flip-conn K]\n"
		"\t[--record FILE] [--record-conn K] [--stats FILE] "
		"[--max-conns N]\n"
		"       %s --replay FILE --to PORT [--timeout MS]\n"
		"(see the head of fault_proxy.c)\n",
		prog, prog);
	exit(2);
}

int
main(int argc, char **argv)
{
	struct opts o;
	const char *replay = NULL, *flip_arg = NULL;
	uint64_t v, to_port = 0, timeout = REPLAY_TIMEOUT_MS;
	int have_target = 0, have_seed = 0;

	it_progname(prog);
	memset(&o, 0, sizeof(o));
	o.max_cuts = UINT64_MAX;
	o.flip_mask = 0xff;
	o.flip_conn = o.record_conn = 1;
	o.max_conns = CONNS_DEFAULT;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--rst") == 0) {
			o.rst = 1;
			continue;
		}
		if (val == NULL)
			usage();
		if (strcmp(a, "--target") == 0) {
			if (parse_u64(val, &v) != 0 || !port_ok(v, 0))
				usage();
			o.target_port = (unsigned)v;
			have_target = 1;
		} else if (strcmp(a, "--listen") == 0) {
			if (parse_u64(val, &v) != 0 || !port_ok(v, 1))
				usage();
			o.listen_port = (unsigned)v;
		} else if (strcmp(a, "--port-file") == 0) {
			o.port_file = val;
		} else if (strcmp(a, "--cut-random") == 0) {
			if (parse_range(val, &o.cut_min, &o.cut_max) != 0 ||
			    o.cut_min == 0)
				usage();
			o.cut = 1;
		} else if (strcmp(a, "--max-cuts") == 0) {
			if (parse_u64(val, &o.max_cuts) != 0)
				usage();
		} else if (strcmp(a, "--seed") == 0) {
			if (parse_u64(val, &o.seed) != 0)
				usage();
			have_seed = 1;
		} else if (strcmp(a, "--flip") == 0) {
			flip_arg = val;
		} else if (strcmp(a, "--flip-mask") == 0) {
			if (parse_u64(val, &v) != 0 || v == 0 || v > 255)
				usage();
			o.flip_mask = (unsigned)v;
		} else if (strcmp(a, "--flip-conn") == 0) {
			if (parse_u64(val, &o.flip_conn) != 0 ||
			    o.flip_conn == 0)
				usage();
		} else if (strcmp(a, "--record") == 0) {
			o.record_file = val;
		} else if (strcmp(a, "--record-conn") == 0) {
			if (parse_u64(val, &o.record_conn) != 0 ||
			    o.record_conn == 0)
				usage();
		} else if (strcmp(a, "--stats") == 0) {
			o.stats_file = val;
		} else if (strcmp(a, "--max-conns") == 0) {
			if (parse_u64(val, &v) != 0 || v == 0 || v > CONNS_MAX)
				usage();
			o.max_conns = (unsigned)v;
		} else if (strcmp(a, "--replay") == 0) {
			replay = val;
		} else if (strcmp(a, "--to") == 0) {
			if (parse_u64(val, &to_port) != 0 ||
			    !port_ok(to_port, 0))
				usage();
		} else if (strcmp(a, "--timeout") == 0) {
			if (parse_u64(val, &timeout) != 0 || timeout == 0 ||
			    timeout > 3600000)
				usage();
		} else {
			usage();
		}
		i++;
	}
	if (replay != NULL) {
		if (to_port == 0 || have_target)
			usage();
		return run_replay(replay, (unsigned)to_port, (int64_t)timeout);
	}
	if (!have_target || to_port != 0)
		usage();
	if (!have_seed)
		o.seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
	rng_state = o.seed;
	if (flip_arg != NULL) {
		uint64_t lo, hi;
		if (strncmp(flip_arg, "random:", 7) == 0) {
			if (parse_range(flip_arg + 7, &lo, &hi) != 0)
				usage();
			/* its own stream, so that cuts do not move it */
			uint64_t keep = rng_state;
			rng_state = o.seed ^ 0x5bd1e995u;
			o.flip_off = rng_range(lo, hi);
			rng_state = keep;
		} else if (parse_u64(flip_arg, &o.flip_off) != 0) {
			usage();
		}
		o.flip = 1;
	}
	return run_proxy(&o);
}
