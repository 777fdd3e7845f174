/*
 * tcp_accept.c - the TCP transport's listening side: bound sockets, the
 * acceptor thread, the Noise IK handshake of the listener, handshake
 * slots (an unauthenticated caller holds one until its HELLO is in; the
 * oldest is dropped for a newcomer) and per-source rate limits (IPv6 by
 * /64), with rate-limited log lines (docs/session.md).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "agent/agent.h"
#include "agent/engine.h"
#include "transports/tcp_int.h"
#include "agent/log.h"
#include "transports/base32.h"

#include <sodium.h>

static int hs_allowed(struct link *lk, const uint8_t *src);
static void hs_note(struct link *lk, int kind, int warn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Kinds of rate-limited handshake log lines (link.notes). */
enum {
	NOTE_SOURCE,
	NOTE_EVICTED,
	NOTE_NO_MSG1,
	NOTE_CLOSED_EARLY,
	NOTE_NO_HELLO,
	NOTE_HELLO_EVICTED,
	NOTE_HELLO_CLOSED,
};

/* Listener side: finds s->peer from the caller's key. */
static int
handshake_accept(struct session *s, int64_t since_ms)
{
	struct link *lk = s->lk;
	int64_t deadline = since_ms + LINK_MSG1_MS;
	uint8_t pre[LINK_PREAMBLE_LEN], m1[NOISE_IK_MSG1_LEN];
	uint8_t m2[NOISE_IK_MSG2_LEN], rs[NOISE_KEY];
	struct noise_hs *hs = NULL;
	size_t n;
	int rc;

	rc = session_read_full(s->fd, pre, sizeof(pre), deadline);
	if (rc != 0)
		return rc;
	if (memcmp(pre, LINK_PREAMBLE, LINK_PREAMBLE_LEN) != 0) {
		log_warn("connection from %s: not a ferry node or another "
			 "protocol version: closed",
			 s->addr);
		return FERRY_EPROTO;
	}
	if ((rc = read_hs(s->fd, m1, sizeof(m1), deadline)) != 0) {
		if (rc == FERRY_EPROTO)
			log_warn("connection from %s: handshake message 1 is "
				 "not 96 bytes: not a ferry node of this "
				 "version, or damaged on the way: closed",
				 s->addr);
		return rc;
	}
	/* Message 1 is in: the X25519 work starts here, so the source's
	 * budget is charged here (an idle connection costs none). */
	pthread_mutex_lock(&lk->mu);
	s->hs_m1 = 1;
	for (size_t i = 0; i < lk->nhs; i++)
		if (lk->hs[i].s == s)
			lk->hs[i].due_ms = since_ms + LINK_HANDSHAKE_MS;
	int ok = hs_allowed(lk, s->src);
	pthread_mutex_unlock(&lk->mu);
	if (!ok) {
		hs_note(lk, NOTE_SOURCE, 1,
			"connection from %s: too many handshakes from this "
			"address; refusing it for a while",
			s->addr);
		return FERRY_EBUSY;
	}
	deadline = since_ms + LINK_HANDSHAKE_MS;
	rc = noise_ik_responder_new(
	    identity_kx_sk(lk->id), identity_kx_pk(lk->id),
	    (const uint8_t *)LINK_PREAMBLE, LINK_PREAMBLE_LEN, &hs);
	if (rc != 0)
		return rc;
	if (noise_hs_read(hs, m1, sizeof(m1), NULL, 0, &n) != 0) {
		log_warn("connection from %s: handshake does not decrypt (it "
			 "was made for another node's key): closed",
			 s->addr);
		noise_hs_free(hs);
		return FERRY_ECORRUPT;
	}
	if ((rc = noise_hs_remote_static(hs, rs)) != 0) {
		noise_hs_free(hs);
		return rc;
	}
	pthread_mutex_lock(&lk->mu);
	for (size_t i = 0; i < lk->npeers; i++)
		if (key_eq(lk->peers[i].cfg.kx_pk, rs))
			s->peer = &lk->peers[i];
	pthread_mutex_unlock(&lk->mu);
	if (s->peer == NULL) {
		char b32[64];
		if (base32_encode(rs, sizeof(rs), b32, sizeof(b32)) < 0)
			snprintf(b32, sizeof(b32), "?");
		log_warn("connection from %s: unknown hop key %s (no [peer] "
			 "section has its card; `ferry info` on a node shows "
			 "its hop key): refused before any message; add "
			 "the peer's card to ferry.conf to trust it",
			 s->addr, b32);
		noise_hs_free(hs);
		return FERRY_EPERM;
	}
	rc = noise_hs_write(hs, NULL, 0, m2, sizeof(m2), &n);
	if (rc == 0 && n != sizeof(m2))
		rc = FERRY_EINVAL;
	if (rc == 0)
		rc = write_hs(s->fd, m2, sizeof(m2), deadline);
	if (rc == 0)
		rc = noise_hs_split(hs, &s->tx, &s->rx, NULL);
	noise_hs_free(hs);
	return rc;
}

/* ---------------------------------------------------------- accepting */

/* Log one line of a kind at most every 10 s, counting the rest. */
static void
hs_note(struct link *lk, int kind, int warn, const char *fmt, ...)
{
	struct hs_note *n = &lk->notes[kind];
	int64_t now = ferry_mono_ms();
	unsigned more = 0;
	char line[400], tail[64] = "";
	va_list ap;

	pthread_mutex_lock(&lk->mu);
	if (n->last_ms != 0 && now - n->last_ms < 10000) {
		n->more++;
		pthread_mutex_unlock(&lk->mu);
		return;
	}
	more = n->more;
	n->more = 0;
	n->last_ms = now;
	pthread_mutex_unlock(&lk->mu);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (more > 0)
		snprintf(tail, sizeof(tail),
			 " (and %u more like it in the last 10 s)", more);
	if (warn)
		log_warn("%s%s", line, tail);
	else
		log_info("%s%s", line, tail);
}

/* Take s out of the slot table; under lk->mu. */
void
hs_slot_drop(struct link *lk, struct session *s)
{
	if (!s->hs_slot)
		return;
	for (size_t i = 0; i < lk->nhs; i++)
		if (lk->hs[i].s == s) {
			memmove(&lk->hs[i], &lk->hs[i + 1],
				(lk->nhs - i - 1) * sizeof(lk->hs[0]));
			lk->nhs--;
			break;
		}
	s->hs_slot = 0;
	if (lk->acceptor_paced && lk->wake[1] >= 0) {
		char c = 0;
		lk->acceptor_paced = 0;
		if (write(lk->wake[1], &c, 1) < 0) {
			/* full: the acceptor is awake anyway */
		}
	}
}

/* The acceptor cuts s (still in the table); under lk->mu.  Its thread
 * sees EOF and reports why from s->hs_cut. */
static void
hs_cut(struct link *lk, struct session *s, int why)
{
	s->hs_cut = why;
	(void)shutdown(s->fd, SHUT_RDWR);
	hs_slot_drop(lk, s);
}

int
link_hs_done(struct session *s)
{
	struct link *lk = s->lk;
	int rc = 0;

	pthread_mutex_lock(&lk->mu);
	if (s->hs_cut != LINK_CUT_NONE)
		rc = FERRY_ECLOSED;
	hs_slot_drop(lk, s);
	pthread_mutex_unlock(&lk->mu);
	return rc;
}

void
link_hs_failed(struct session *s, int rc)
{
	struct link *lk = s->lk;
	int cut;

	pthread_mutex_lock(&lk->mu);
	cut = s->hs_cut;
	pthread_mutex_unlock(&lk->mu);
	if (cut == LINK_CUT_EVICTED)
		hs_note(lk, NOTE_HELLO_EVICTED, 1,
			"peer %s (%s): dropped before its HELLO: too many "
			"unauthenticated connections (%d; the oldest goes)",
			s->peer->cfg.name, s->addr, LINK_HANDSHAKES_MAX);
	else if (cut == LINK_CUT_LATE || rc == FERRY_ETIMEDOUT)
		hs_note(lk, NOTE_NO_HELLO, 1,
			"peer %s (%s): no HELLO within %d s of connecting "
			"(a replayed message 1, or a stalled peer): closed",
			s->peer->cfg.name, s->addr, LINK_HANDSHAKE_MS / 1000);
	else if (rc == FERRY_ECLOSED)
		hs_note(lk, NOTE_HELLO_CLOSED, 0,
			"peer %s (%s): closed before its HELLO arrived (a "
			"replayed message 1, or the peer gave up)",
			s->peer->cfg.name, s->addr);
	else
		return;
	s->hs_quiet = 1;
}

/* Why an inbound handshake failed, when the caller did not say it. */
static void
accept_failed(struct session *s, int rc)
{
	struct link *lk = s->lk;
	int cut, m1;

	pthread_mutex_lock(&lk->mu);
	cut = s->hs_cut;
	m1 = s->hs_m1;
	pthread_mutex_unlock(&lk->mu);
	if (cut == LINK_CUT_EVICTED)
		hs_note(lk, NOTE_EVICTED, 1,
			"connection from %s: dropped: too many unauthenticated "
			"connections (%d waiting for message 1 or HELLO; the "
			"oldest goes)",
			s->addr, LINK_HANDSHAKES_MAX);
	else if (!m1 && (cut == LINK_CUT_LATE || rc == FERRY_ETIMEDOUT))
		hs_note(lk, NOTE_NO_MSG1, 0,
			"connection from %s: handshake cut before message 1 "
			"arrived (due within %.1f s of connecting)",
			s->addr, LINK_MSG1_MS / 1000.0);
	else if (!m1 && rc == FERRY_ECLOSED)
		hs_note(lk, NOTE_CLOSED_EARLY, 0,
			"connection from %s: closed by the other side before "
			"message 1 arrived (not a ferry node?)",
			s->addr);
	else
		log_info("connection from %s: %s", s->addr, hs_error(rc));
}

struct inbound {
	struct session *s;
	int64_t since_ms;
};

static void *
inbound_main(void *arg)
{
	struct inbound *in = arg;
	struct session *s = in->s;
	struct link *lk = s->lk;
	int rc;

	ferry_thread_name("tcp-in");

	rc = handshake_accept(s, in->since_ms);
	free(in);
	if (rc != 0) {
		/* Refusals that said why already (the key, the version, the
		 * source's budget) are not repeated. */
		if (rc != FERRY_EPERM && rc != FERRY_EPROTO &&
		    rc != FERRY_ECORRUPT && rc != FERRY_EBUSY)
			accept_failed(s, rc);
		link_untrack(lk, s);
		session_free(s);
	} else
		session_run(s); /* releases the slot at HELLO */
	pthread_mutex_lock(&lk->mu);
	lk->detached--;
	pthread_cond_broadcast(&lk->cv);
	pthread_mutex_unlock(&lk->mu);
	return NULL;
}

/*
 * Handshakes cost four X25519 operations each, so a source gets at most
 * LINK_HS_BURST of them, refilled at one per LINK_HS_EVERY_MS (a token
 * bucket per source, for the last LINK_HS_SOURCES sources seen), charged
 * when message 1 is in.  A source is an IPv4 address or an IPv6 /64 (one
 * host usually has a whole /64).  A peer that reconnects normally never
 * notices.  Under link.mu.
 */
#define LINK_HS_SOURCES	 256
#define LINK_HS_BURST	 50.0
#define LINK_HS_EVERY_MS 50.0

struct hs_source {
	uint8_t src[9];
	double tokens;
	int64_t at;
	int used;
};

struct hs_source *
hs_sources_new(void)
{
	return calloc(LINK_HS_SOURCES, sizeof(struct hs_source));
}

static void
hs_source_key(const struct sockaddr_storage *ss, uint8_t *src)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0,    0,
					     0, 0, 0, 0, 0xff, 0xff};

	memset(src, 0, 9);
	if (ss->ss_family == AF_INET) {
		src[0] = 4;
		memcpy(src + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const uint8_t *a =
		    ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
			src[0] = 4;
			memcpy(src + 1, a + 12, 4);
		} else {
			src[0] = 6;
			memcpy(src + 1, a, 8);
		}
	}
}

static int
hs_allowed(struct link *lk, const uint8_t *src)
{
	struct hs_source *tab = lk->sources, *slot = NULL, *oldest = NULL;
	int64_t now = ferry_mono_ms();

	for (size_t i = 0; i < LINK_HS_SOURCES; i++) {
		struct hs_source *h = &tab[i];
		if (h->used && memcmp(h->src, src, sizeof(h->src)) == 0) {
			slot = h;
			break;
		}
		/* Otherwise reuse a free slot, or the least recent one. */
		if (oldest == NULL ||
		    (oldest->used && (!h->used || h->at < oldest->at)))
			oldest = h;
	}
	if (slot == NULL) {
		slot = oldest;
		memcpy(slot->src, src, sizeof(slot->src));
		slot->tokens = LINK_HS_BURST;
		slot->at = now;
		slot->used = 1;
	}
	slot->tokens += (double)(now - slot->at) / LINK_HS_EVERY_MS;
	if (slot->tokens > LINK_HS_BURST)
		slot->tokens = LINK_HS_BURST;
	slot->at = now;
	if (slot->tokens < 1.0)
		return 0;
	slot->tokens -= 1.0;
	return 1;
}

/* Cut what is past due; how long the acceptor may sleep (ms, -1: no
 * limit) and whether it must leave the listening sockets alone because
 * every slot is taken by connections too young to drop.  Under lk->mu. */
static int64_t
hs_tick(struct link *lk, int *paced)
{
	int64_t now = ferry_mono_ms(), wait = -1;

	for (size_t i = 0; i < lk->nhs;) {
		if (lk->hs[i].due_ms <= now) {
			hs_cut(lk, lk->hs[i].s, LINK_CUT_LATE);
			continue;
		}
		if (wait < 0 || lk->hs[i].due_ms - now < wait)
			wait = lk->hs[i].due_ms - now;
		i++;
	}
	*paced = 0;
	if (lk->nhs >= LINK_HANDSHAKES_MAX) {
		int64_t age = now - lk->hs[0].since_ms;
		if (age < LINK_HS_EVICT_MS) {
			*paced = 1;
			if (wait < 0 || LINK_HS_EVICT_MS - age < wait)
				wait = LINK_HS_EVICT_MS - age;
		}
	}
	lk->acceptor_paced = *paced;
	return wait;
}

/* Give the accepted fd a session, a slot (dropping the oldest if need
 * be) and a thread.  Closes fd on failure. */
static void
accept_one(struct link *lk, int fd, const struct sockaddr_storage *ss)
{
	struct inbound *in = calloc(1, sizeof(*in));
	struct session *s = NULL;
	pthread_attr_t at;
	pthread_t t;
	char addr[80];
	int ok = 0;

	sockaddr_text((const struct sockaddr *)ss, addr, sizeof(addr));
	if (in != NULL)
		s = session_new(lk, fd, 0, addr);
	if (s == NULL) {
		log_warn("connection from %s: out of memory: closed", addr);
		free(in);
		close(fd);
		return;
	}
	sock_tune(fd);
	hs_source_key(ss, s->src);
	in->s = s;
	in->since_ms = ferry_mono_ms();
	pthread_mutex_lock(&lk->mu);
	if (!lk->stopping) {
		if (lk->nhs >= LINK_HANDSHAKES_MAX)
			hs_cut(lk, lk->hs[0].s, LINK_CUT_EVICTED);
		lk->hs[lk->nhs++] = (struct hs_slot){
		    .s = s,
		    .since_ms = in->since_ms,
		    .due_ms = in->since_ms + LINK_MSG1_MS,
		};
		s->hs_slot = 1;
		s->next_all = lk->sessions;
		lk->sessions = s;
		lk->detached++;
		ok = 1;
	}
	pthread_mutex_unlock(&lk->mu);
	if (!ok) {
		session_free(s);
		free(in);
		return;
	}
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, inbound_main, in) != 0) {
		log_warn("connection from %s: cannot start a thread: closed",
			 addr);
		link_untrack(lk, s);
		session_free(s);
		free(in);
		pthread_mutex_lock(&lk->mu);
		lk->detached--;
		pthread_cond_broadcast(&lk->cv);
		pthread_mutex_unlock(&lk->mu);
	}
	pthread_attr_destroy(&at);
}

void *
acceptor_main(void *arg)
{
	struct link *lk = arg;
	struct pollfd pf[POLICY_ENDPOINTS_MAX + 1];

	ferry_thread_name("tcp-accept");

	for (;;) {
		size_t n = 0;
		int64_t wait;
		int paced, stop;

		pthread_mutex_lock(&lk->mu);
		wait = hs_tick(lk, &paced);
		stop = lk->stopping;
		pthread_mutex_unlock(&lk->mu);
		if (stop)
			break;
		if (!paced)
			for (size_t i = 0; i < lk->nlfd; i++)
				pf[n++] = (struct pollfd){.fd = lk->lfd[i],
							  .events = POLLIN};
		pf[n++] = (struct pollfd){.fd = lk->wake[0], .events = POLLIN};
		if (poll(pf, n, wait < 0 ? -1 : (int)wait + 1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("listening: poll failed: %s",
				  strerror(errno));
			break;
		}
		if (pf[n - 1].revents != 0) {
			char buf[64];
			while (read(lk->wake[0], buf, sizeof(buf)) > 0)
				; /* a slot came free, or stop */
		}
		for (size_t i = 0; i + 1 < n; i++) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			int fd;

			if (pf[i].revents == 0)
				continue;
			fd = accept4(lk->lfd[i], (struct sockaddr *)&ss, &sl,
				     SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno == EMFILE || errno == ENFILE) {
					log_warn("out of file descriptors: "
						 "not accepting for 1 s");
					sleep(1);
				}
				continue;
			}
			accept_one(lk, fd, &ss);
			/* One at a time: the next may have to wait. */
			break;
		}
	}
	return NULL;
}

int
listen_on(struct link *lk, const struct policy_endpoint *ep)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int rc, fd = -1, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", ep->port);
	rc = getaddrinfo(ep->host, port, &hints, &res);
	if (rc != 0) {
		log_error("listen = %s:%u: cannot resolve: %s", ep->host,
			  ep->port, gai_strerror(rc));
		return FERRY_EINVAL;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
				 sizeof(one));
		if (ai->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
					 sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, LINK_BACKLOG) == 0)
			break;
		rc = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		log_error("listen = %s:%u: cannot listen: %s (is another agent "
			  "using the port?)",
			  ep->host, ep->port, strerror(rc ? rc : EADDRINUSE));
		return FERRY_EIO;
	}
	lk->lfd[lk->nlfd++] = fd;
	log_info("listening for peers on %s:%u", ep->host, ep->port);
	return 0;
}
