/*
 * fleet_sim.c - many simulated field nodes in one epoll loop (fleet_sim.h):
 * their identities, their hop sessions with one base, what they send and
 * what they take.  A crypto file (payload hashes): sodium.h allowed.
 *
 * Owns every node's keys, socket, buffers and messages; nothing is shared
 * with other threads but the counters (under fleet.mu) and the stop flag.
 * Does not start the base, check its queue or measure it: bench_fleet.c.
 *
 * One node's session, and the function for each step (docs/session.md 2):
 *
 *   IDLE --node_dial--> DIALING --node_connected (preamble, message 1)-->
 *   MSG2 --node_msg2 (split, our HELLO alone)--> HELLO --on_hello--> UP
 *   UP: our first record (replayed CUSTODY, KEEPALIVE) at once; messages
 *       only after the base's first record after its HELLO (synced)
 *   any --node_drop (cut, CLOSE, timeout, protocol error)--> IDLE, and
 *       node_dial again after SIM_RETRY_NS (doubling to SIM_RETRY_MAX_NS
 *       while dials fail)
 *
 * A message the node sends (struct smsg.state):
 *
 *   PENDING --build_record: MSG+CHUNK+END (small)--> SENT
 *   PENDING --build_record: MSG (big, above LINK_INLINE_MAX)--> WAIT_GO
 *   WAIT_GO --on_resume (the base's durable offset)--> STREAM
 *   STREAM --build_record: CHUNKs, then END--> SENT
 *   SENT --on_custody, or REFUSE "have it"--> DONE
 *   any but DONE --node_drop--> PENDING (offered again, same id)
 *   PENDING.. --REFUSE "busy" or "full"--> LATER --tick--> PENDING
 *
 * Invariants:
 *   1. A message is DONE only on the base's word (CUSTODY or REFUSE
 *      "have it"), never on a write; so a cut can only make it offered
 *      again, and the base's store decides it is stored once.
 *   2. No MSG before the base's first record after its HELLO is in
 *      (synced), as ferryd's own writer waits (docs/session.md 5).
 *   3. A node's socket has at most one record waiting in out at a time:
 *      the next is built only when the kernel took the last one.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench/fleet_sim.h"
#include "transports/hop.h"
#include "transports/identity.h"
#include "transports/noise.h"
#include "transports/tcp.h"

#define MS_NS		     1000000LL
#define SIM_TICK_NS	     (10 * MS_NS) /* timers are looked at this often */
#define SIM_HANDSHAKE_NS     (LINK_HANDSHAKE_MS * MS_NS)
#define SIM_RETRY_NS	     (1000 * MS_NS) /* a cut: dial again after this */
#define SIM_RETRY_MAX_NS     (10000 * MS_NS)
#define SIM_BUSY_NS	     (LINK_BUSY_RETRY_MS * MS_NS)
#define SIM_CLOSE_NS	     (2000 * MS_NS) /* CLOSEs flushed within this */
#define SIM_TTL_MS	     (3600u * 1000u)
#define SIM_DOWN_MAX	     8 /* messages from the base kept per node */
#define SIM_DOWN_BYTES_MAX   (64u * 1024u) /* larger from the base: refused */
#define SIM_SMALL_MAX	     (32u * 1024u) /* a small one fits a record */
#define SIM_CUST_MAX	     64 /* CUSTODY ids waiting to go, per node */
#define SIM_RECORDS_PER_TURN 4	/* then other nodes get their turn */
#define SIM_EVENTS	     256
#define SIM_IN_MIN	     4096
#define SIM_NOTES	     10 /* drop and failure lines on stderr */

enum node_state {
	NS_IDLE,    /* waiting for its dial time */
	NS_DIALING, /* connect() in progress */
	NS_MSG2,    /* message 1 sent, waiting for message 2 */
	NS_HELLO,   /* our HELLO sent, waiting for the base's */
	NS_UP,	    /* HELLO exchanged: the session runs */
};

enum msg_state {
	MS_PENDING, /* to offer (MSG) in the next record */
	MS_WAIT_GO, /* big: MSG sent, waiting for the base's RESUME */
	MS_STREAM,  /* big: CHUNKs from off */
	MS_SENT,    /* END sent, waiting for CUSTODY */
	MS_LATER,   /* refused "busy" or "full": offered again at retry_ns */
	MS_DONE,    /* CUSTODY, or REFUSE "have it" */
	MS_FAILED,  /* refused for good ("too big", "no route") */
};

struct smsg {
	struct fleet_sent pub;
	int big;
	int state;
	size_t pool_off; /* its payload: the pool from here */
	uint64_t off;	 /* big: the next byte to send */
	uint8_t hash[HOP_HASH_LEN];
	int64_t created_ms; /* wall clock, for its MSG */
	int64_t retry_ns;
};

/* A message from the base being received (payload in memory: small). */
struct rxmsg {
	int used;
	uint8_t id[FERRY_ID_LEN];
	uint64_t len, got;
	uint8_t *buf;
};

struct down {
	uint8_t id[FERRY_ID_LEN];
	int64_t delay_ns;
};

struct node {
	struct fleet *f;
	unsigned idx;
	char name[FLEET_NAME_MAX + 1];
	struct identity *id;
	int fd;
	int state;	 /* enum node_state */
	uint32_t events; /* what epoll watches for it now */
	struct noise_hs *hs;
	struct noise_cipher *tx, *rx;
	int synced;	/* the base's first record after HELLO is in */
	int first_sent; /* our first record after HELLO is built */
	int closing;	/* 1: CLOSE to send; 2: sent */
	size_t plain_max;
	uint32_t keepalive_ms;
	uint8_t *in; /* an incomplete record or handshake message */
	size_t inlen, incap;
	uint8_t *out; /* what the kernel has not taken yet */
	size_t outlen, outoff;
	int64_t dial_ns, hs_start_ns, last_rx_ns, last_tx_ns;
	int64_t retry_ns; /* the wait before the next dial */
	int64_t up_ns;	  /* the first session's dial-to-HELLO time */
	int64_t next_small_ns, big_ns;
	int ever_up, big_made;
	unsigned seq;
	struct smsg *msgs;
	size_t nmsgs, capmsgs;
	uint8_t cust[SIM_CUST_MAX][FERRY_ID_LEN];
	size_t ncust;
	struct rxmsg rxm[LINK_RX_MAX];
	struct down down[SIM_DOWN_MAX];
	size_t ndown;
};

struct fleet {
	struct fleet_opts o;
	struct node *nodes;
	int ep;
	int64_t start_ns;
	int stopping;
	uint8_t *plain; /* HOP_PLAIN_MAX: one record, to encrypt or decrypted */
	uint8_t *ct;	/* 2 + HOP_RECORD_MAX: one record on the wire */
	int stop;	/* atomic: fleet_stop */
	pthread_mutex_t mu;
	struct fleet_counts pub; /* under mu */
	struct fleet_counts c;	 /* the loop's own */
	unsigned notes;
};

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A random delay in [0, span_ns). */
static int64_t
jitter_ns(int64_t span_ns)
{
	if (span_ns <= 0)
		return 0;
	return (int64_t)((double)randombytes_uniform(1000000u) / 1e6 *
			 (double)span_ns);
}

static void note(struct fleet *f, const struct node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line on stderr for the first SIM_NOTES drops and failures. */
static void
note(struct fleet *f, const struct node *n, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (f->notes < SIM_NOTES)
		fprintf(stderr, "bench_fleet: %s: %s\n", n->name, line);
	else if (f->notes == SIM_NOTES)
		fprintf(stderr, "bench_fleet: (further drops and failures "
				"are only counted)\n");
	f->notes++;
}

static void fail(struct node *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Count a failure (a refusal, a bad frame, a bad payload): the run's
 * "exactly once" verdict fails with it. */
static void
fail(struct node *n, const char *fmt, ...)
{
	struct fleet *f = n->f;
	char line[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (f->c.failures++ == 0)
		snprintf(f->c.first_failure, sizeof(f->c.first_failure),
			 "%s: %.140s", n->name, line);
	note(f, n, "FAILURE: %s", line);
}

/* ------------------------------------------------------------ sockets */

static void
node_watch(struct node *n, int want_out)
{
	uint32_t ev = EPOLLIN | (want_out ? EPOLLOUT : 0);
	struct epoll_event e = {.events = ev, .data.ptr = n};

	if (n->fd < 0 || ev == n->events)
		return;
	if (epoll_ctl(n->f->ep, EPOLL_CTL_MOD, n->fd, &e) == 0)
		n->events = ev;
}

static void node_drop(struct node *n, int failure, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The session is over: close, forget its keys and buffers, make every
 * message without CUSTODY pending again (invariant 1), and plan the next
 * dial.  failure: it ended on a protocol error, not a cut.
 */
static void
node_drop(struct node *n, int failure, const char *fmt, ...)
{
	struct fleet *f = n->f;
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (failure)
		fail(n, "%s", why);
	else if (!f->stopping)
		note(f, n, "session %s: %s",
		     n->state == NS_UP ? "ended" : "not started", why);
	if (n->state == NS_UP) {
		f->c.up--;
		if (!f->stopping)
			f->c.drops++;
		n->retry_ns = SIM_RETRY_NS;
	} else if (n->state != NS_IDLE) {
		if (!f->stopping)
			f->c.dial_fails++;
		n->retry_ns = n->retry_ns == 0 ? SIM_RETRY_NS : 2 * n->retry_ns;
		if (n->retry_ns > SIM_RETRY_MAX_NS)
			n->retry_ns = SIM_RETRY_MAX_NS;
	}
	if (n->fd >= 0) {
		(void)epoll_ctl(f->ep, EPOLL_CTL_DEL, n->fd, NULL);
		(void)close(n->fd);
	}
	n->fd = -1;
	n->events = 0;
	noise_hs_free(n->hs);
	noise_cipher_free(n->tx);
	noise_cipher_free(n->rx);
	n->hs = NULL;
	n->tx = n->rx = NULL;
	free(n->in);
	free(n->out);
	n->in = n->out = NULL;
	n->inlen = n->incap = n->outlen = n->outoff = 0;
	n->synced = n->first_sent = n->closing = 0;
	n->ncust = 0;
	for (size_t i = 0; i < LINK_RX_MAX; i++) {
		free(n->rxm[i].buf);
		memset(&n->rxm[i], 0, sizeof(n->rxm[i]));
	}
	for (size_t i = 0; i < n->nmsgs; i++) {
		struct smsg *m = &n->msgs[i];
		if (m->state == MS_WAIT_GO || m->state == MS_STREAM ||
		    m->state == MS_SENT) {
			m->state = MS_PENDING;
			m->off = 0;
		}
	}
	n->state = NS_IDLE;
	n->dial_ns = now_ns() + n->retry_ns + jitter_ns(n->retry_ns / 4);
}

/* Hand bytes to the kernel; what it does not take waits in n->out.
 * 0, or -1 when the node was dropped. */
static int
node_send(struct node *n, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t w = send(n->fd, p, len, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		node_drop(n, 0, "send: %s",
			  w < 0 ? strerror(errno) : "nothing written");
		return -1;
	}
	if (len > 0) {
		n->out = malloc(len);
		if (n->out == NULL) {
			node_drop(n, 1, "out of memory");
			return -1;
		}
		memcpy(n->out, p, len);
		n->outlen = len;
		n->outoff = 0;
		node_watch(n, 1);
	}
	n->last_tx_ns = now_ns();
	return 0;
}

/* Push what waits in n->out.  0 (all or some of it went, or none could),
 * -1 when the node was dropped. */
static int
node_flush(struct node *n)
{
	while (n->outoff < n->outlen) {
		ssize_t w = send(n->fd, n->out + n->outoff,
				 n->outlen - n->outoff, MSG_NOSIGNAL);
		if (w > 0) {
			n->outoff += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		node_drop(n, 0, "send: %s",
			  w < 0 ? strerror(errno) : "nothing written");
		return -1;
	}
	free(n->out);
	n->out = NULL;
	n->outlen = n->outoff = 0;
	return 0;
}

/* Encrypt len bytes of f->plain as the next record and send it. */
static int
node_send_record(struct node *n, size_t len)
{
	struct fleet *f = n->f;
	size_t ctlen;
	int rc;

	rc = noise_encrypt(n->tx, NULL, 0, f->plain, len, f->ct + 2,
			   HOP_RECORD_MAX, &ctlen);
	if (rc != 0) {
		node_drop(n, 1, "encrypting a record: %s", ferry_strerror(rc));
		return -1;
	}
	f->ct[0] = (uint8_t)(ctlen >> 8);
	f->ct[1] = (uint8_t)ctlen;
	return node_send(n, f->ct, ctlen + 2);
}

/* ------------------------------------------------------------- dialing */

static void
node_dial(struct node *n)
{
	struct fleet *f = n->f;
	struct sockaddr_in a;
	int one = 1, sndbuf = LINK_SNDBUF, rcvbuf = LINK_RCVBUF;
	struct epoll_event e;

	n->hs_start_ns = now_ns();
	n->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (n->fd < 0) {
		n->state = NS_DIALING; /* counted as a failed dial */
		node_drop(n, 0, "socket: %s", strerror(errno));
		return;
	}
	/* As ferryd's own sessions (tcp_link.c, sock_tune). */
	(void)setsockopt(n->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	(void)setsockopt(n->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	(void)setsockopt(n->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	n->state = NS_DIALING;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	if (!f->o.one_source) {
		/* Each node its own address (127.1.x.y: all of 127/8 is
		 * loopback), as field nodes have: the base allows each
		 * source 50 handshakes in a burst, then 20 a second
		 * (docs/session.md 6), so from one address a thousand
		 * nodes would need 50 s to come up. */
		a.sin_addr.s_addr = htonl(0x7f010000u | (n->idx / 250u) << 8 |
					  (n->idx % 250u + 1u));
		if (bind(n->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
			node_drop(n, 0, "bind: %s", strerror(errno));
			return;
		}
	}
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)f->o.port);
	if (connect(n->fd, (struct sockaddr *)&a, sizeof(a)) != 0 &&
	    errno != EINPROGRESS) {
		node_drop(n, 0, "connect: %s", strerror(errno));
		return;
	}
	e.events = EPOLLIN | EPOLLOUT;
	e.data.ptr = n;
	if (epoll_ctl(f->ep, EPOLL_CTL_ADD, n->fd, &e) != 0) {
		node_drop(n, 0, "epoll_ctl: %s", strerror(errno));
		return;
	}
	n->events = e.events;
}

/* Connected: the preamble and Noise IK message 1 (docs/session.md 2). */
static void
node_connected(struct node *n)
{
	struct fleet *f = n->f;
	uint8_t hello[LINK_PREAMBLE_LEN + 2 + NOISE_IK_MSG1_LEN];
	size_t len;
	int err = 0, rc;
	socklen_t el = sizeof(err);

	if (getsockopt(n->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
		err = errno;
	if (err != 0) {
		node_drop(n, 0, "connect: %s", strerror(err));
		return;
	}
	rc = noise_ik_initiator_new(
	    identity_kx_sk(n->id), identity_kx_pk(n->id), f->o.base_kx,
	    (const uint8_t *)LINK_PREAMBLE, LINK_PREAMBLE_LEN, &n->hs);
	if (rc == 0)
		rc = noise_hs_write(n->hs, NULL, 0,
				    hello + LINK_PREAMBLE_LEN + 2,
				    NOISE_IK_MSG1_LEN, &len);
	if (rc != 0 || len != NOISE_IK_MSG1_LEN) {
		node_drop(n, 1, "handshake message 1: %s", ferry_strerror(rc));
		return;
	}
	memcpy(hello, LINK_PREAMBLE, LINK_PREAMBLE_LEN);
	hello[LINK_PREAMBLE_LEN] = 0;
	hello[LINK_PREAMBLE_LEN + 1] = NOISE_IK_MSG1_LEN;
	n->state = NS_MSG2;
	if (node_send(n, hello, sizeof(hello)) == 0 && n->outlen == 0)
		node_watch(n, 0);
}

/* Message 2 is in: split, then our HELLO in a record of its own (the
 * listener acts on nothing else first). */
static void
node_msg2(struct node *n, const uint8_t *m2)
{
	struct fleet *f = n->f;
	struct hop_hello h;
	struct hop_rbuf b;
	size_t plen, len;
	int rc;

	rc = noise_hs_read(n->hs, m2, NOISE_IK_MSG2_LEN, NULL, 0, &plen);
	if (rc == 0)
		rc = noise_hs_split(n->hs, &n->tx, &n->rx, NULL);
	noise_hs_free(n->hs);
	n->hs = NULL;
	if (rc != 0) {
		node_drop(n, 1, "handshake message 2: %s", ferry_strerror(rc));
		return;
	}
	memset(&h, 0, sizeof(h));
	h.version = HOP_VERSION;
	snprintf(h.node, sizeof(h.node), "%s", n->name);
	h.max_record = HOP_RECORD_MAX;
	h.keepalive_ms = f->o.keepalive_ms;
	h.clock_ms = wall_ms();
	hop_rbuf_init(&b, f->plain, HOP_PLAIN_MAX);
	hop_put_hello(&b, &h);
	if (hop_rbuf_end(&b, &len) != 0) {
		node_drop(n, 1, "building HELLO");
		return;
	}
	n->state = NS_HELLO;
	(void)node_send_record(n, len);
}

/* ------------------------------------------------------------ sending */

/* Make a message of len bytes (its payload a window of the pool). */
static void
node_make(struct node *n, int big, size_t len)
{
	struct fleet *f = n->f;
	struct smsg *m;
	size_t span = f->o.pool_len - len;

	if (n->nmsgs == n->capmsgs) {
		size_t cap = n->capmsgs ? 2 * n->capmsgs : 8;
		struct smsg *p = realloc(n->msgs, cap * sizeof(*p));
		if (p == NULL) {
			fail(n, "out of memory");
			return;
		}
		n->msgs = p;
		n->capmsgs = cap;
	}
	m = &n->msgs[n->nmsgs++];
	memset(m, 0, sizeof(*m));
	randombytes_buf(m->pub.id, sizeof(m->pub.id));
	m->pub.len = len;
	m->big = big;
	m->state = MS_PENDING;
	m->pool_off =
	    span == 0 ? 0 : ((size_t)n->idx * 4099u + n->seq * 613u) % span;
	n->seq++;
	crypto_generichash(m->hash, sizeof(m->hash), f->o.pool + m->pool_off,
			   len, NULL, 0);
	m->created_ms = wall_ms();
	f->c.made++;
}

static void
msg_header(const struct node *n, const struct smsg *m, struct hop_msg *hm)
{
	const struct fleet *f = n->f;

	memset(hm, 0, sizeof(*hm));
	ferry_msg_init(&hm->msg);
	memcpy(hm->msg.id, m->pub.id, FERRY_ID_LEN);
	snprintf(hm->msg.src_node, sizeof(hm->msg.src_node), "%s", n->name);
	snprintf(hm->msg.dst_node, sizeof(hm->msg.dst_node), "%s",
		 f->o.base_name);
	snprintf(hm->msg.dst_queue, sizeof(hm->msg.dst_queue), "%s",
		 f->o.queue);
	hm->msg.created_ms = m->created_ms;
	hm->msg.payload_len = m->pub.len;
	hm->ttl_ms = SIM_TTL_MS;
	hm->offset = 0;
}

static void
msg_offered(struct node *n, struct smsg *m, int64_t now)
{
	if (m->pub.offers++ == 0)
		m->pub.sent_ns = now;
	else
		n->f->c.resent++;
}

/* CHUNKs of m from m->off while they fit, then its END if that fits;
 * 1 when the END is in. */
static int
put_chunks(struct node *n, struct smsg *m, struct hop_rbuf *b)
{
	const uint8_t *p = n->f->o.pool + m->pool_off;
	struct hop_end e;

	while (m->off < m->pub.len &&
	       hop_rbuf_room(b) > HOP_FRAME_HDR + HOP_CHUNK_HDR) {
		size_t k = hop_put_chunk(b, m->pub.id, m->off, p + m->off,
					 (size_t)(m->pub.len - m->off));
		if (k == 0)
			break;
		m->off += k;
	}
	if (m->off < m->pub.len ||
	    hop_rbuf_room(b) < HOP_FRAME_HDR + HOP_END_LEN)
		return 0;
	memcpy(e.id, m->pub.id, FERRY_ID_LEN);
	e.total_len = m->pub.len;
	memcpy(e.hash, m->hash, HOP_HASH_LEN);
	hop_put_end(b, &e);
	m->state = MS_SENT;
	return 1;
}

/* The messages' part of the next record: small ones whole first (they
 * overtake a big one between two records, as in ferryd), then the big
 * one's MSG or CHUNKs. */
static void
put_messages(struct node *n, struct hop_rbuf *b, int64_t now)
{
	struct hop_msg hm;

	for (size_t i = 0; i < n->nmsgs; i++) {
		struct smsg *m = &n->msgs[i];
		if (m->big || m->state != MS_PENDING)
			continue;
		msg_header(n, m, &hm);
		if (hop_rbuf_room(b) < hop_msg_frame_len(&hm) + HOP_FRAME_HDR +
					   HOP_CHUNK_HDR + m->pub.len +
					   HOP_FRAME_HDR + HOP_END_LEN)
			return; /* the next record */
		hop_put_msg(b, &hm);
		m->off = 0;
		(void)put_chunks(n, m, b);
		msg_offered(n, m, now);
	}
	for (size_t i = 0; i < n->nmsgs; i++) {
		struct smsg *m = &n->msgs[i];
		if (!m->big)
			continue;
		if (m->state == MS_PENDING) {
			msg_header(n, m, &hm);
			if (hop_rbuf_room(b) < hop_msg_frame_len(&hm))
				return;
			hop_put_msg(b, &hm);
			msg_offered(n, m, now);
			/* Above LINK_INLINE_MAX the base answers with
			 * RESUME: its durable offset, where the CHUNKs
			 * start; below, they follow at once. */
			m->off = 0;
			m->state = m->pub.len > LINK_INLINE_MAX ? MS_WAIT_GO
								: MS_STREAM;
			if (m->state == MS_STREAM)
				(void)put_chunks(n, m, b);
		} else if (m->state == MS_STREAM) {
			(void)put_chunks(n, m, b);
		}
	}
}

/* Build the next record into f->plain; its length, 0 when there is
 * nothing to say. */
static size_t
build_record(struct node *n, int64_t now)
{
	struct fleet *f = n->f;
	struct hop_rbuf b;
	size_t len;

	hop_rbuf_init(&b, f->plain, n->plain_max);
	if (n->ncust > 0) {
		size_t k = hop_put_custody(&b, n->cust[0], n->ncust);
		memmove(n->cust[0], n->cust[k], (n->ncust - k) * FERRY_ID_LEN);
		n->ncust -= k;
	}
	if (!n->first_sent) {
		/* Our first record after HELLO: the receipts replayed
		 * (above) and a KEEPALIVE, as ferryd's writer does. */
		struct hop_keepalive k = {1, wall_ms()};
		hop_put_keepalive(&b, &k);
		n->first_sent = 1;
	}
	if (n->closing == 1) {
		hop_put_close(&b, HOP_CLOSE_NORMAL, "benchmark over");
		n->closing = 2;
	} else if (n->synced && n->closing == 0) {
		put_messages(n, &b, now);
	}
	if (b.len == 0 && n->keepalive_ms != 0 && n->closing == 0 &&
	    now - n->last_tx_ns >= (int64_t)n->keepalive_ms * MS_NS / 3) {
		struct hop_keepalive k = {1, wall_ms()};
		hop_put_keepalive(&b, &k);
	}
	if (hop_rbuf_end(&b, &len) != 0) {
		node_drop(n, 1, "building a record failed");
		return 0;
	}
	return len;
}

/* Something may be due: build and send records while the kernel takes
 * them, up to SIM_RECORDS_PER_TURN (then the other nodes' turn). */
static void
node_pump(struct node *n, int64_t now)
{
	int more = 0;

	if (n->state != NS_UP)
		return;
	if (n->outlen > 0) {
		if (node_flush(n) != 0)
			return;
		if (n->outlen > 0)
			return; /* EPOLLOUT is on */
	}
	for (int turn = 0; turn < SIM_RECORDS_PER_TURN; turn++) {
		size_t len = build_record(n, now);
		if (n->state != NS_UP)
			return; /* dropped */
		if (len == 0)
			break;
		if (node_send_record(n, len) != 0)
			return;
		if (n->outlen > 0)
			return; /* EPOLLOUT is on */
		if (turn + 1 == SIM_RECORDS_PER_TURN)
			more = 1;
	}
	for (size_t i = 0; i < n->nmsgs && !more; i++)
		more = n->msgs[i].state == MS_STREAM;
	/* A big message streams on as the socket takes it. */
	node_watch(n, more);
}

/* ---------------------------------------------------------- receiving */

static struct smsg *
msg_find(struct node *n, const uint8_t *id)
{
	for (size_t i = 0; i < n->nmsgs; i++)
		if (memcmp(n->msgs[i].pub.id, id, FERRY_ID_LEN) == 0)
			return &n->msgs[i];
	return NULL;
}

static void
msg_done(struct node *n, struct smsg *m, int64_t now)
{
	if (m->state == MS_DONE || m->state == MS_FAILED)
		return;
	m->state = MS_DONE;
	m->pub.custody_ns = now;
	n->f->c.custody++;
}

static void
push_custody(struct node *n, const uint8_t *id)
{
	if (n->ncust == SIM_CUST_MAX) {
		fail(n, "more than %d CUSTODY ids waiting", SIM_CUST_MAX);
		return;
	}
	memcpy(n->cust[n->ncust++], id, FERRY_ID_LEN);
}

static struct rxmsg *
rx_find(struct node *n, const uint8_t *id)
{
	for (size_t i = 0; i < LINK_RX_MAX; i++)
		if (n->rxm[i].used &&
		    memcmp(n->rxm[i].id, id, FERRY_ID_LEN) == 0)
			return &n->rxm[i];
	return NULL;
}

static void
rx_clear(struct rxmsg *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* 0, or -1 when the node was dropped. */
static int
on_msg(struct node *n, const struct hop_frame *fr)
{
	struct hop_msg hm;
	const char *why = NULL;
	struct rxmsg *r;

	if (hop_msg_decode(fr, &hm, &why) != 0) {
		node_drop(n, 1, "bad MSG from the base: %s", why);
		return -1;
	}
	if (hm.msg.payload_len > SIM_DOWN_BYTES_MAX || hm.offset != 0) {
		node_drop(n, 1,
			  "the base sent a MSG of %llu bytes from %llu: "
			  "this simulator takes small ones only",
			  (unsigned long long)hm.msg.payload_len,
			  (unsigned long long)hm.offset);
		return -1;
	}
	if ((r = rx_find(n, hm.msg.id)) != NULL)
		rx_clear(r); /* the base starts it again */
	for (size_t i = 0; i < LINK_RX_MAX && r == NULL; i++)
		if (!n->rxm[i].used)
			r = &n->rxm[i];
	if (r == NULL) {
		node_drop(n, 1, "more than %d messages at once from the base",
			  LINK_RX_MAX);
		return -1;
	}
	r->used = 1;
	memcpy(r->id, hm.msg.id, FERRY_ID_LEN);
	r->len = hm.msg.payload_len;
	r->buf = malloc(r->len ? (size_t)r->len : 1);
	if (r->buf == NULL) {
		node_drop(n, 1, "out of memory");
		return -1;
	}
	return 0;
}

static int
on_chunk(struct node *n, const struct hop_frame *fr)
{
	struct hop_chunk c;
	const char *why = NULL;
	struct rxmsg *r;

	if (hop_chunk_decode(fr, &c, &why) != 0) {
		node_drop(n, 1, "bad CHUNK from the base: %s", why);
		return -1;
	}
	r = rx_find(n, c.id);
	if (r == NULL || c.offset != r->got || c.len > r->len - r->got) {
		node_drop(n, 1, "CHUNK out of place from the base");
		return -1;
	}
	memcpy(r->buf + r->got, c.data, c.len);
	r->got += c.len;
	return 0;
}

static int
on_end(struct node *n, const struct hop_frame *fr, int64_t now)
{
	struct hop_end e;
	const char *why = NULL;
	uint8_t hash[HOP_HASH_LEN];
	struct rxmsg *r;
	size_t i;

	if (hop_end_decode(fr, &e, &why) != 0) {
		node_drop(n, 1, "bad END from the base: %s", why);
		return -1;
	}
	r = rx_find(n, e.id);
	if (r == NULL || e.total_len != r->len || r->got != r->len) {
		node_drop(n, 1, "END out of place from the base");
		return -1;
	}
	crypto_generichash(hash, sizeof(hash), r->buf, (size_t)r->len, NULL, 0);
	if (sodium_memcmp(hash, e.hash, sizeof(hash)) != 0) {
		rx_clear(r);
		node_drop(n, 1, "a message from the base arrived damaged");
		return -1;
	}
	for (i = 0; i < n->ndown; i++)
		if (memcmp(n->down[i].id, e.id, FERRY_ID_LEN) == 0)
			break;
	if (i < n->ndown) {
		n->f->c.down_dup++;
	} else if (n->ndown == SIM_DOWN_MAX) {
		fail(n, "more than %d messages from the base", SIM_DOWN_MAX);
	} else {
		struct down *d = &n->down[n->ndown++];
		int64_t sent = 0;
		memcpy(d->id, e.id, FERRY_ID_LEN);
		if (r->len >= 8)
			for (int k = 0; k < 8; k++)
				sent =
				    (int64_t)((uint64_t)sent << 8 | r->buf[k]);
		d->delay_ns = sent > 0 ? now - sent : 0;
		n->f->c.down++;
	}
	rx_clear(r);
	/* Taken (we keep nothing, so at once): the base may drop it. */
	push_custody(n, e.id);
	return 0;
}

static void
on_custody(struct node *n, const struct hop_frame *fr, int64_t now)
{
	struct hop_custody c;
	const char *why = NULL;

	if (hop_custody_decode(fr, &c, &why) != 0) {
		node_drop(n, 1, "bad CUSTODY from the base: %s", why);
		return;
	}
	for (size_t i = 0; i < c.count; i++) {
		/* Unknown ids: replays of receipts for messages the base
		 * took from us in an earlier session. */
		struct smsg *m = msg_find(n, c.ids + i * FERRY_ID_LEN);
		if (m != NULL)
			msg_done(n, m, now);
	}
}

static void
on_refuse(struct node *n, const struct hop_frame *fr, int64_t now)
{
	struct hop_refuse r;
	const char *why = NULL;
	struct smsg *m;

	if (hop_refuse_decode(fr, &r, &why) != 0) {
		node_drop(n, 1, "bad REFUSE from the base: %s", why);
		return;
	}
	if ((m = msg_find(n, r.id)) == NULL)
		return;
	switch (r.reason) {
	case HOP_REFUSE_HAVE:
		msg_done(n, m, now); /* its custody, all the same */
		break;
	case HOP_REFUSE_BUSY:
	case HOP_REFUSE_QUEUE_FULL:
	case HOP_REFUSE_STORE_FULL:
	case HOP_REFUSE_DISK_FULL:
		if (r.reason != HOP_REFUSE_BUSY)
			fail(n,
			     "the base refused a message: no room "
			     "(reason %u)",
			     r.reason);
		m->state = MS_LATER;
		m->off = 0;
		m->retry_ns = now + SIM_BUSY_NS;
		break;
	default:
		fail(n, "the base refused a message for good (reason %u)",
		     r.reason);
		m->state = MS_FAILED;
	}
}

static void
on_resume(struct node *n, const struct hop_frame *fr)
{
	struct hop_resume r;
	const char *why = NULL;
	struct smsg *m;

	if (hop_resume_decode(fr, &r, &why) != 0) {
		node_drop(n, 1, "bad RESUME from the base: %s", why);
		return;
	}
	m = msg_find(n, r.id);
	if (m == NULL || m->state != MS_WAIT_GO)
		return; /* a hint of progress */
	if (r.offset > m->pub.len) {
		node_drop(n, 1, "RESUME past the end of the message");
		return;
	}
	m->off = r.offset;
	m->state = MS_STREAM;
}

/* The base's HELLO, alone in its first record: the session is up. */
static void
on_hello(struct node *n, const uint8_t *rec, size_t len, int64_t now)
{
	struct fleet *f = n->f;
	struct hop_frame fr;
	struct hop_hello h;
	const char *why = NULL;
	size_t off = 0;

	if (hop_record_next(rec, len, &off, &fr) != 1 || fr.type != HOP_HELLO ||
	    hop_hello_decode(&fr, &h, &why) != 0 || off != len) {
		node_drop(n, 1, "the base's first record is not a HELLO");
		return;
	}
	if (strcmp(h.node, f->o.base_name) != 0) {
		node_drop(n, 1, "the base calls itself %s", h.node);
		return;
	}
	n->plain_max = (size_t)h.max_record - NOISE_TAG;
	if (n->plain_max > HOP_PLAIN_MAX)
		n->plain_max = HOP_PLAIN_MAX;
	n->keepalive_ms = f->o.keepalive_ms;
	if (h.keepalive_ms != 0 &&
	    (n->keepalive_ms == 0 || h.keepalive_ms < n->keepalive_ms))
		n->keepalive_ms = h.keepalive_ms;
	n->state = NS_UP;
	n->retry_ns = 0;
	f->c.up++;
	if (!n->ever_up) {
		int64_t left = f->start_ns + (int64_t)(f->o.send_s * 1e9) - now;
		n->ever_up = 1;
		n->up_ns = now - n->hs_start_ns;
		f->c.ever_up++;
		/* Its messages from now on: the first small one within an
		 * interval, the big one before the last quarter of the
		 * sending time (so that all have arrived at its end). */
		n->next_small_ns =
		    now + jitter_ns((int64_t)(f->o.interval_s * 1e9));
		n->big_ns = now + jitter_ns(left - left / 4);
	}
	if (f->c.up == f->o.n && f->c.all_up_s == 0.0)
		f->c.all_up_s = (double)(now - f->start_ns) / 1e9;
}

/* One decrypted record of a session that is up. */
static void
on_record(struct node *n, const uint8_t *rec, size_t len, int64_t now)
{
	struct hop_frame fr;
	size_t off = 0;
	int rc, rekey = 0;

	while ((rc = hop_record_next(rec, len, &off, &fr)) == 1 &&
	       n->state == NS_UP) {
		switch (fr.type) {
		case HOP_MSG:
			(void)on_msg(n, &fr);
			break;
		case HOP_CHUNK:
			(void)on_chunk(n, &fr);
			break;
		case HOP_END:
			(void)on_end(n, &fr, now);
			break;
		case HOP_CUSTODY:
			on_custody(n, &fr, now);
			break;
		case HOP_REFUSE:
			on_refuse(n, &fr, now);
			break;
		case HOP_RESUME:
			on_resume(n, &fr);
			break;
		case HOP_KEEPALIVE:
			break;
		case HOP_REKEY:
			rekey = 1;
			break;
		case HOP_CLOSE: {
			struct hop_close c;
			const char *why = NULL;
			if (hop_close_decode(&fr, &c, &why) != 0)
				c.text[0] = '\0';
			node_drop(n, 0, "closed by the base (code %u: %s)",
				  c.code, c.text);
			return;
		}
		default:
			node_drop(n, 1, "unexpected %s frame from the base",
				  hop_type_name(fr.type));
			return;
		}
	}
	if (n->state != NS_UP)
		return;
	if (rc != 0) {
		node_drop(n, 1, "malformed record from the base");
		return;
	}
	n->synced = 1;
	if (rekey && noise_rekey(n->rx) != 0)
		node_drop(n, 1, "rekey failed");
}

/* Make room for need bytes of input; 0 or -1 (dropped). */
static int
in_reserve(struct node *n, size_t need)
{
	uint8_t *p;

	if (n->incap >= need)
		return 0;
	if (need < SIM_IN_MIN)
		need = SIM_IN_MIN;
	p = realloc(n->in, need);
	if (p == NULL) {
		node_drop(n, 1, "out of memory");
		return -1;
	}
	n->in = p;
	n->incap = need;
	return 0;
}

/* Act on every whole handshake message or record in n->in. */
static void
node_parse(struct node *n, int64_t now)
{
	struct fleet *f = n->f;
	size_t off = 0;

	while (n->state != NS_IDLE && n->inlen - off >= 2) {
		size_t len = (size_t)n->in[off] << 8 | n->in[off + 1];
		if (n->state == NS_MSG2 && len != NOISE_IK_MSG2_LEN) {
			node_drop(n, 1, "message 2 announced as %zu bytes",
				  len);
			return;
		}
		if (len < NOISE_TAG + 1 && n->state != NS_MSG2) {
			node_drop(n, 1, "a record of %zu bytes", len);
			return;
		}
		if (n->inlen - off < 2 + len)
			break;
		if (n->state == NS_MSG2) {
			node_msg2(n, n->in + off + 2);
		} else {
			size_t plen;
			int rc =
			    noise_decrypt(n->rx, NULL, 0, n->in + off + 2, len,
					  f->plain, HOP_PLAIN_MAX, &plen);
			if (rc != 0) {
				node_drop(n, 1,
					  "a record failed authentication");
				return;
			}
			n->last_rx_ns = now;
			if (n->state == NS_HELLO)
				on_hello(n, f->plain, plen, now);
			else
				on_record(n, f->plain, plen, now);
		}
		off += 2 + len;
	}
	if (n->state == NS_IDLE)
		return;
	if (off > 0) {
		memmove(n->in, n->in + off, n->inlen - off);
		n->inlen -= off;
	}
	if (n->inlen >= 2) /* room for the whole of the next one */
		(void)in_reserve(n, 2 + ((size_t)n->in[0] << 8 | n->in[1]));
}

static void
node_readable(struct node *n, int64_t now)
{
	for (;;) {
		ssize_t r;
		if (in_reserve(n, SIM_IN_MIN) != 0)
			return;
		r = recv(n->fd, n->in + n->inlen, n->incap - n->inlen, 0);
		if (r > 0) {
			n->inlen += (size_t)r;
			node_parse(n, now);
			if (n->state == NS_IDLE)
				return;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		node_drop(n, 0, "%s",
			  r == 0 ? "the base closed the connection"
				 : strerror(errno));
		return;
	}
}

/* ----------------------------------------------------------- the loop */

/* Timers of one node. */
static void
node_tick(struct node *n, int64_t now)
{
	struct fleet *f = n->f;
	int64_t send_end = f->start_ns + (int64_t)(f->o.send_s * 1e9);

	switch (n->state) {
	case NS_IDLE:
		if (!f->stopping && now >= n->dial_ns)
			node_dial(n);
		break;
	case NS_DIALING:
	case NS_MSG2:
	case NS_HELLO:
		if (now - n->hs_start_ns > SIM_HANDSHAKE_NS)
			node_drop(n, 0, "no HELLO within %d ms of the dial",
				  LINK_HANDSHAKE_MS);
		break;
	case NS_UP:
		if (n->keepalive_ms != 0 &&
		    now - n->last_rx_ns > (int64_t)n->keepalive_ms * MS_NS)
			node_drop(n, 0, "nothing heard for %u ms",
				  n->keepalive_ms);
		break;
	}
	if (n->ever_up && !f->stopping && now < send_end) {
		while (now >= n->next_small_ns) {
			node_make(n, 0, f->o.small_bytes);
			n->next_small_ns += (int64_t)(f->o.interval_s * 1e9);
		}
		if (!n->big_made && now >= n->big_ns && f->o.big_bytes > 0) {
			node_make(n, 1, f->o.big_bytes);
			n->big_made = 1;
		}
	}
	for (size_t i = 0; i < n->nmsgs; i++)
		if (n->msgs[i].state == MS_LATER && now >= n->msgs[i].retry_ns)
			n->msgs[i].state = MS_PENDING;
	node_pump(n, now);
}

static void
publish(struct fleet *f)
{
	pthread_mutex_lock(&f->mu);
	f->pub = f->c;
	pthread_mutex_unlock(&f->mu);
}

/* Stop: a CLOSE on every session, up to SIM_CLOSE_NS to flush them, then
 * every socket closed. */
static void
fleet_close_all(struct fleet *f)
{
	int64_t until = now_ns() + SIM_CLOSE_NS;
	struct epoll_event ev[SIM_EVENTS];

	f->stopping = 1;
	for (unsigned i = 0; i < f->o.n; i++) {
		struct node *n = &f->nodes[i];
		if (n->state == NS_UP) {
			n->closing = 1;
			node_pump(n, now_ns());
		} else if (n->state != NS_IDLE) {
			node_drop(n, 0, "stopping");
		}
	}
	for (;;) {
		int busy = 0, k;
		for (unsigned i = 0; i < f->o.n; i++) {
			struct node *n = &f->nodes[i];
			busy += n->state == NS_UP &&
				(n->outlen > 0 || n->closing == 1);
		}
		if (busy == 0 || now_ns() >= until)
			break;
		k = epoll_wait(f->ep, ev, SIM_EVENTS, 10);
		for (int j = 0; j < k; j++) {
			struct node *n = ev[j].data.ptr;
			if (n->state == NS_UP && (ev[j].events & EPOLLOUT))
				node_pump(n, now_ns()); /* flush, CLOSE */
		}
	}
	for (unsigned i = 0; i < f->o.n; i++)
		if (f->nodes[i].state != NS_IDLE)
			node_drop(&f->nodes[i], 0, "stopped");
}

int
fleet_run(struct fleet *f)
{
	struct epoll_event ev[SIM_EVENTS];
	int64_t next_tick;

	f->start_ns = now_ns();
	for (unsigned i = 0; i < f->o.n; i++)
		f->nodes[i].dial_ns =
		    f->start_ns + (int64_t)(f->o.spread_s * 1e9 * i / f->o.n);
	next_tick = f->start_ns;
	f->c.running = 1;
	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		int64_t now = now_ns(), wait_ms;
		int k;

		if (now >= next_tick) {
			for (unsigned i = 0; i < f->o.n; i++)
				node_tick(&f->nodes[i], now);
			publish(f);
			next_tick = now + SIM_TICK_NS;
		}
		wait_ms = (next_tick - now_ns()) / MS_NS + 1;
		k = epoll_wait(f->ep, ev, SIM_EVENTS, (int)wait_ms);
		if (k < 0 && errno != EINTR) {
			fprintf(stderr, "bench_fleet: epoll_wait: %s\n",
				strerror(errno));
			return FERRY_EIO;
		}
		now = now_ns();
		for (int j = 0; j < k; j++) {
			struct node *n = ev[j].data.ptr;
			uint32_t e = ev[j].events;
			if (n->state == NS_DIALING) {
				if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
					node_connected(n);
				continue;
			}
			if (n->state != NS_IDLE &&
			    (e & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				node_readable(n, now);
			if (n->state != NS_IDLE && n->outlen > 0 &&
			    (e & EPOLLOUT) && node_flush(n) != 0)
				continue;
			if (n->state == NS_UP)
				node_pump(n, now);
			else if (n->state != NS_IDLE && n->outlen == 0)
				node_watch(n, 0);
		}
	}
	fleet_close_all(f);
	f->c.running = 0;
	publish(f);
	return 0;
}

void
fleet_stop(struct fleet *f)
{
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
}

void
fleet_counts(struct fleet *f, struct fleet_counts *out)
{
	pthread_mutex_lock(&f->mu);
	*out = f->pub;
	pthread_mutex_unlock(&f->mu);
}

/* ---------------------------------------------------------- the fleet */

int
fleet_new(const struct fleet_opts *o, struct fleet **out)
{
	struct fleet *f;
	int rc = 0;

	*out = NULL;
	if (o->n == 0 || o->n > FLEET_NODES_MAX || o->base_kx == NULL ||
	    o->pool == NULL || o->pool_len < o->big_bytes + o->small_bytes ||
	    o->small_bytes > SIM_SMALL_MAX || o->interval_s <= 0.0)
		return FERRY_EINVAL;
	if (sodium_init() < 0)
		return FERRY_EIO;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return FERRY_ENOMEM;
	f->o = *o;
	f->ep = -1;
	pthread_mutex_init(&f->mu, NULL);
	f->nodes = calloc(o->n, sizeof(*f->nodes));
	f->plain = malloc(HOP_PLAIN_MAX);
	f->ct = malloc(2 + HOP_RECORD_MAX);
	if (f->nodes == NULL || f->plain == NULL || f->ct == NULL) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < o->n; i++) {
		struct node *n = &f->nodes[i];
		uint8_t seed[IDENTITY_SEED_LEN];
		n->f = f;
		n->idx = i;
		n->fd = -1;
		snprintf(n->name, sizeof(n->name), "node%04u", i + 1);
		randombytes_buf(seed, sizeof(seed));
		rc = identity_from_seed(seed, &n->id);
		sodium_memzero(seed, sizeof(seed));
		if (rc != 0)
			goto out;
	}
	f->ep = epoll_create1(EPOLL_CLOEXEC);
	if (f->ep < 0)
		rc = FERRY_EIO;
out:
	if (rc != 0) {
		fleet_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

void
fleet_free(struct fleet *f)
{
	if (f == NULL)
		return;
	for (unsigned i = 0; f->nodes != NULL && i < f->o.n; i++) {
		struct node *n = &f->nodes[i];
		if (n->state != NS_IDLE || n->fd >= 0) {
			f->stopping = 1;
			node_drop(n, 0, "freed");
		}
		identity_free(n->id);
		free(n->msgs);
	}
	if (f->ep >= 0)
		(void)close(f->ep);
	free(f->nodes);
	free(f->plain);
	free(f->ct);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

const char *
fleet_node_name(const struct fleet *f, unsigned i)
{
	return i < f->o.n ? f->nodes[i].name : "";
}

int
fleet_node_card(const struct fleet *f, unsigned i, char *out, size_t cap)
{
	if (i >= f->o.n)
		return FERRY_EINVAL;
	return identity_card(f->nodes[i].id, out, cap);
}

int
fleet_each_sent(const struct fleet *f, fleet_sent_fn *fn, void *arg)
{
	for (unsigned i = 0; i < f->o.n; i++)
		for (size_t k = 0; k < f->nodes[i].nmsgs; k++) {
			const struct smsg *m = &f->nodes[i].msgs[k];
			int rc = fn(&m->pub, m->big, arg);
			if (rc != 0)
				return rc;
		}
	return 0;
}

size_t
fleet_node_down(const struct fleet *f, unsigned i, uint8_t (*ids)[FERRY_ID_LEN],
		int64_t *delay_ns, size_t cap)
{
	const struct node *n;

	if (i >= f->o.n)
		return 0;
	n = &f->nodes[i];
	for (size_t k = 0; k < n->ndown && k < cap; k++) {
		memcpy(ids[k], n->down[k].id, FERRY_ID_LEN);
		if (delay_ns != NULL)
			delay_ns[k] = n->down[k].delay_ns;
	}
	return n->ndown;
}

int64_t
fleet_node_up_ns(const struct fleet *f, unsigned i)
{
	return i < f->o.n ? f->nodes[i].up_ns : 0;
}
