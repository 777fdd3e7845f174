/*
 * tcp_link.c - see tcp.h: the peer table, dialing with backoff, listening,
 * the Noise IK handshake of both sides, and the simultaneous-dial rule.
 *
 * Wire start of a session (docs/session.md):
 *   caller   -> "ferry-tcp/1\n" (12 bytes, also the Noise prologue)
 *   caller   -> u16be 96, Noise IK message 1 (e, es, s, ss; empty payload)
 *   listener -> u16be 48, Noise IK message 2 (e, ee, se; empty payload)
 *   then records: u16be length, Noise transport message (17..65,535).
 * The listener looks the caller's static key up among its peers and
 * closes at once for an unknown key, before answering.
 *
 * Until the caller's HELLO is in, an inbound connection is unauthenticated
 * (a replayed message 1 decrypts too) and holds one of LINK_HANDSHAKES_MAX
 * slots; see struct hs_slot.  The acceptor owns the slot table: it cuts
 * connections past their due time and drops the oldest for a newcomer,
 * and while all slots are younger than LINK_HS_EVICT_MS it accepts
 * nothing (newcomers wait in the kernel's queue, first come first served,
 * instead of being closed and dialing again at once).
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

void
link_abstime(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void
sockaddr_text(const struct sockaddr *sa, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)sa;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(out, cap, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(out, cap, "[%s]:%u", host, port);
	} else
		snprintf(out, cap, "?");
}

void
sock_tune(int fd)
{
	int one = 1, sndbuf = LINK_SNDBUF, rcvbuf = LINK_RCVBUF;

	/* Bytes queued in the kernel are lost with a cut and delay an
	 * urgent message: keep the queue short (the kernel doubles it).
	 * The same on the receiving side, where a receiver slowed by its
	 * disk would otherwise let the kernel buffer several MiB that a cut
	 * throws away; 1 MiB still fills a 100 Mbit/s link at 80 ms RTT. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ------------------------------------------------------- bookkeeping */

void
track(struct link *lk, struct session *s)
{
	pthread_mutex_lock(&lk->mu);
	s->next_all = lk->sessions;
	lk->sessions = s;
	pthread_mutex_unlock(&lk->mu);
}

void
link_untrack(struct link *lk, struct session *s)
{
	pthread_mutex_lock(&lk->mu);
	hs_slot_drop(lk, s);
	for (struct session **pp = &lk->sessions; *pp != NULL;
	     pp = &(*pp)->next_all)
		if (*pp == s) {
			*pp = s->next_all;
			break;
		}
	pthread_cond_broadcast(&lk->cv);
	pthread_mutex_unlock(&lk->mu);
}

int
link_attach(struct link *lk, struct session *s)
{
	struct lpeer *p = s->peer;
	struct session *old;
	int rc = 0;

	s->lower_started =
	    s->initiator
		? memcmp(lk->node_id, p->node_id, IDENTITY_NODE_ID_LEN) < 0
		: memcmp(p->node_id, lk->node_id, IDENTITY_NODE_ID_LEN) < 0;
	pthread_mutex_lock(&lk->mu);
	old = p->cur;
	if (lk->stopping) {
		rc = FERRY_ECLOSED;
	} else if (old == NULL) {
		p->cur = s;
	} else if (old->lower_started && !s->lower_started) {
		/* Both dialed: the connection the lower node id started
		 * survives, on both sides alike. */
		rc = FERRY_EBUSY;
	} else {
		/* s was started by the lower id, or both by the same side
		 * (the old one is a stale link the peer has given up). */
		p->cur = s;
		session_kill(old, HOP_CLOSE_BUSY,
			     "replaced by a newer session");
	}
	if (rc == 0) {
		s->up_ms = ferry_wall_ms();
		p->last_error[0] = '\0';
		p->backoff_ms = 0;
		p->next_retry_ms = 0;
		p->last_seen_ms = ferry_wall_ms();
	}
	pthread_mutex_unlock(&lk->mu);
	if (rc == FERRY_EBUSY)
		log_info("peer %s: both nodes dialed; keeping the connection "
			 "the lower node id started",
			 p->cfg.name);
	return rc;
}

void
link_detach(struct link *lk, struct session *s)
{
	int held;

	pthread_mutex_lock(&lk->mu);
	if (s->peer->cur == s) {
		s->peer->cur = NULL;
		/* What was in flight may still wait: look again. */
		s->peer->wanted = 1;
	}
	pthread_mutex_lock(&s->mu);
	held = s->held != NULL && s->held->n > 0;
	pthread_mutex_unlock(&s->mu);
	if (held) {
		/* Messages sent without custody back wait here again; another
		 * peer of their route may take them now.  The senders sleep
		 * until kicked (tcp_send.c): wake the other sessions. */
		for (size_t i = 0; i < lk->npeers; i++) {
			struct session *o = lk->peers[i].cur;
			if (o == NULL || o == s)
				continue;
			pthread_mutex_lock(&o->mu);
			o->kick = 1;
			if (o->kick_prio < FERRY_PRIO_MAX)
				o->kick_prio = FERRY_PRIO_MAX;
			pthread_cond_broadcast(&o->cv);
			pthread_mutex_unlock(&o->mu);
		}
	}
	pthread_cond_broadcast(&lk->cv);
	pthread_mutex_unlock(&lk->mu);
}

int
link_rx_claim(struct link *lk, const uint8_t *id)
{
	int64_t until = ferry_mono_ms() + 5000;
	int rc = FERRY_EBUSY;

	pthread_mutex_lock(&lk->mu);
	for (;;) {
		size_t i;
		for (i = 0; i < lk->nrx_busy; i++)
			if (memcmp(lk->rx_busy[i], id, FERRY_ID_LEN) == 0)
				break;
		if (i == lk->nrx_busy &&
		    lk->nrx_busy <
			sizeof(lk->rx_busy) / sizeof(lk->rx_busy[0])) {
			memcpy(lk->rx_busy[lk->nrx_busy++], id, FERRY_ID_LEN);
			rc = 0;
			break;
		}
		if (ferry_mono_ms() >= until || lk->stopping)
			break;
		struct timespec ts;
		link_abstime(&ts, 100);
		pthread_cond_timedwait(&lk->cv, &lk->mu, &ts);
	}
	pthread_mutex_unlock(&lk->mu);
	return rc;
}

void
link_rx_release(struct link *lk, const uint8_t *id)
{
	pthread_mutex_lock(&lk->mu);
	for (size_t i = 0; i < lk->nrx_busy; i++)
		if (memcmp(lk->rx_busy[i], id, FERRY_ID_LEN) == 0) {
			memmove(lk->rx_busy[i], lk->rx_busy[i + 1],
				(lk->nrx_busy - i - 1) * FERRY_ID_LEN);
			lk->nrx_busy--;
			break;
		}
	pthread_cond_broadcast(&lk->cv);
	pthread_mutex_unlock(&lk->mu);
}

/* ---------------------------------------------------------- handshake */

/* Public keys, but compared without early exit all the same. */
int
key_eq(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (size_t i = 0; i < NOISE_KEY; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int
write_hs(int fd, const uint8_t *msg, size_t len, int64_t deadline)
{
	uint8_t buf[2 + NOISE_IK_MSG1_LEN];

	buf[0] = (uint8_t)(len >> 8);
	buf[1] = (uint8_t)len;
	memcpy(buf + 2, msg, len);
	return session_write_full(fd, buf, len + 2, deadline);
}

/* Read a handshake message that must be exactly want bytes long. */
int
read_hs(int fd, uint8_t *msg, size_t want, int64_t deadline)
{
	uint8_t hdr[2];
	int rc;

	if ((rc = session_read_full(fd, hdr, 2, deadline)) != 0)
		return rc;
	if (((size_t)hdr[0] << 8 | hdr[1]) != want)
		return FERRY_EPROTO;
	return session_read_full(fd, msg, want, deadline);
}

const char *
hs_error(int rc)
{
	switch (rc) {
	case FERRY_ETIMEDOUT:
		return "handshake timed out";
	case FERRY_ECLOSED:
		/* All a caller sees of a refusal: the listener may not know
		 * our key, or be shedding a flood of connections. */
		return "closed during the handshake before message 2 (the "
		       "peer's log says why: an unknown key, too many "
		       "connections, or not a ferry node)";
	case FERRY_EPROTO:
		return "not a ferry handshake";
	case FERRY_ECORRUPT:
		return "handshake failed to authenticate (wrong key)";
	default:
		return ferry_strerror(rc);
	}
}

/* Caller side: s->peer is known; on success s has its ciphers. */
static int
handshake_dial(struct session *s)
{
	struct link *lk = s->lk;
	int64_t deadline = ferry_mono_ms() + LINK_HANDSHAKE_MS;
	uint8_t m1[NOISE_IK_MSG1_LEN], m2[NOISE_IK_MSG2_LEN];
	struct noise_hs *hs = NULL;
	size_t n;
	int rc;

	rc = noise_ik_initiator_new(
	    identity_kx_sk(lk->id), identity_kx_pk(lk->id), s->peer->cfg.kx_pk,
	    (const uint8_t *)LINK_PREAMBLE, LINK_PREAMBLE_LEN, &hs);
	if (rc != 0)
		return rc;
	rc = noise_hs_write(hs, NULL, 0, m1, sizeof(m1), &n);
	if (rc == 0 && n != sizeof(m1))
		rc = FERRY_EINVAL;
	if (rc == 0)
		rc = session_write_full(s->fd, LINK_PREAMBLE, LINK_PREAMBLE_LEN,
					deadline);
	if (rc == 0)
		rc = write_hs(s->fd, m1, sizeof(m1), deadline);
	if (rc == 0)
		rc = read_hs(s->fd, m2, sizeof(m2), deadline);
	if (rc == 0 && noise_hs_read(hs, m2, sizeof(m2), NULL, 0, &n) != 0)
		rc = FERRY_ECORRUPT;
	if (rc == 0)
		rc = noise_hs_split(hs, &s->tx, &s->rx, NULL);
	noise_hs_free(hs);
	return rc;
}

/* ------------------------------------------------------------ dialing */

/* Connect to ep within 10 s; the fd, or an error with why filled. */
static int
dial_endpoint(struct link *lk, const struct policy_endpoint *ep, char *addr,
	      size_t addrcap, char *why, size_t whycap)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int fd = -1, rc, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", ep->port);
	rc = getaddrinfo(ep->host, port, &hints, &res);
	if (rc != 0) {
		snprintf(why, whycap, "cannot resolve %s: %s", ep->host,
			 gai_strerror(rc));
		return FERRY_ECONNECT;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int64_t deadline = ferry_mono_ms() + 10000;
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS) {
			/* Wait in short slices, so that a stop is quick. */
			for (;;) {
				struct pollfd p = {.fd = fd, .events = POLLOUT};
				int stop;
				pthread_mutex_lock(&lk->mu);
				stop = lk->stopping;
				pthread_mutex_unlock(&lk->mu);
				if (stop) {
					err = ECANCELED;
					break;
				}
				rc = poll(&p, 1, 200);
				if (rc > 0) {
					socklen_t l = sizeof(err);
					if (getsockopt(fd, SOL_SOCKET, SO_ERROR,
						       &err, &l) != 0)
						err = errno;
					break;
				}
				if (ferry_mono_ms() >= deadline) {
					err = ETIMEDOUT;
					break;
				}
			}
			if (err == 0) {
				sockaddr_text(ai->ai_addr, addr, addrcap);
				break;
			}
		} else
			err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(why, whycap, "cannot connect to %s:%u: %s", ep->host,
			 ep->port, strerror(err ? err : ECONNREFUSED));
		return FERRY_ECONNECT;
	}
	sock_tune(fd);
	return fd;
}

/* Is anything waiting in the store for p, or for a node whose route
 * goes through p?  (A scan; dialers only.) */
static int
queued_for(struct link *lk, const char *name)
{
	struct store_out_pos pos = {{0}, 0, 0};
	struct engine_filter f;
	struct store_msg_info *one = malloc(sizeof(*one));
	size_t n = 0;
	int rc;

	if (one == NULL)
		return 1; /* when in doubt, dial */
	memset(&f, 0, sizeof(f));
	f.peer = name;
	f.now_ms = ferry_wall_ms();
	rc = engine_next(lk->st, &f, &pos, one, 1, &n);
	free(one);
	return rc != 0 || n > 0;
}

static void
backoff(struct link *lk, struct lpeer *p, const char *why)
{
	int64_t b, jitter;
	unsigned r;

	pthread_mutex_lock(&lk->mu);
	b = p->backoff_ms == 0 ? p->cfg.retry_min_ms : p->backoff_ms * 2;
	if (b > p->cfg.retry_max_ms)
		b = p->cfg.retry_max_ms;
	p->backoff_ms = b;
	r = (unsigned)randombytes_uniform(2001); /* 0..2000 */
	jitter = b * (int64_t)p->cfg.retry_jitter_pct / 100;
	b += jitter * ((int64_t)r - 1000) / 1000;
	if (b < 100)
		b = 100;
	p->next_retry_ms = ferry_wall_ms() + b;
	snprintf(p->last_error, sizeof(p->last_error), "%s", why);
	pthread_mutex_unlock(&lk->mu);
	log_info("peer %s: %s; next try in %.1f s", p->cfg.name, why,
		 (double)b / 1000.0);
}

/*
 * [peer] window =: is now outside all of p's windows?  Then *wait is cut
 * to the moment the next opens, and the first look outside says so in
 * the log.  Under lk->mu.
 */
static int
outside_window(struct lpeer *p, int64_t now, int64_t *wait)
{
	char at[POLICY_WINDOW_WHEN_MAX];

	if (!policy_window_outside(p->cfg.windows, p->cfg.nwindows, now,
				   &p->window_ms, at, sizeof(at)))
		return 0;
	if (at[0] != '\0')
		log_info("peer %s: messages wait, outside its contact "
			 "windows (window =); next dial at %s",
			 p->cfg.name, at);
	if (p->window_ms - now < *wait)
		*wait = p->window_ms - now;
	return 1;
}

static void *
dialer_main(void *arg)
{
	struct lpeer *p = arg;
	struct link *lk = NULL;
	int check = 1, saw_session = 0;

	/* The link is the owner of the peer array. */
	lk = (struct link *)p->dialer_link;
	ferry_thread_name("link:%s", p->cfg.name);
	for (;;) {
		if (check) {
			int q = p->cfg.dial == POLICY_DIAL_ALWAYS ||
				queued_for(lk, p->cfg.name);
			pthread_mutex_lock(&lk->mu);
			p->wanted = q;
			pthread_mutex_unlock(&lk->mu);
			check = 0;
		}
		pthread_mutex_lock(&lk->mu);
		int recheck = 0;
		for (;;) {
			int64_t now = ferry_wall_ms(), wait = 60000;
			if (lk->stopping)
				break;
			/* A session the peer dialed has ended: what waits
			 * now?  (Not what waited before it.) */
			if (p->cur != NULL) {
				saw_session = 1;
			} else if (saw_session) {
				saw_session = 0;
				recheck = 1;
				break;
			}
			/* call_every: a call to collect what waits there,
			 * even with nothing to send (and once at start). */
			if (p->cur == NULL && !p->wanted &&
			    p->cfg.call_every_ms > 0) {
				int64_t due =
				    p->last_seen_ms + p->cfg.call_every_ms;
				if (p->last_seen_ms == p->start_seen_ms ||
				    due <= now) {
					p->wanted = 1;
					p->calling = 1;
				} else if (due - now < wait) {
					wait = due - now;
				}
			}
			if (p->cur == NULL && p->wanted &&
			    outside_window(p, now, &wait))
				; /* window = : no dial before it opens */
			else if (p->cur == NULL && p->wanted) {
				if (p->next_retry_ms <= now)
					break;
				wait = p->next_retry_ms - now;
			}
			struct timespec ts;
			link_abstime(&ts, wait > 60000 ? 60000 : wait);
			pthread_cond_timedwait(&lk->cv, &lk->mu, &ts);
		}
		if (lk->stopping) {
			pthread_mutex_unlock(&lk->mu);
			break;
		}
		if (recheck) {
			pthread_mutex_unlock(&lk->mu);
			check = 1;
			continue;
		}
		p->dialing = 1;
		if (p->calling)
			log_info("peer %s: calling to collect what waits there "
				 "(call_every %lld s)",
				 p->cfg.name,
				 (long long)(p->cfg.call_every_ms / 1000));
		p->calling = 0;
		pthread_mutex_unlock(&lk->mu);

		char why[200] = "no endpoint", addr[80] = "";
		int ok = 0;
		for (size_t i = 0; i < p->cfg.ntcp && !ok; i++) {
			int fd = dial_endpoint(lk, &p->cfg.tcp[i], addr,
					       sizeof(addr), why, sizeof(why));
			if (fd < 0)
				continue;
			struct session *s = session_new(lk, fd, 1, addr);
			if (s == NULL) {
				close(fd);
				snprintf(why, sizeof(why), "out of memory");
				continue;
			}
			s->peer = p;
			track(lk, s);
			int rc = handshake_dial(s);
			if (rc != 0) {
				snprintf(why, sizeof(why), "%s (%s)",
					 hs_error(rc), addr);
				link_untrack(lk, s);
				session_free(s);
				continue;
			}
			ok = 1;
			pthread_mutex_lock(&lk->mu);
			p->dialing = 0;
			pthread_mutex_unlock(&lk->mu);
			session_run(s); /* until the session ends */
			ferry_thread_name("link:%s", p->cfg.name);
		}
		pthread_mutex_lock(&lk->mu);
		p->dialing = 0;
		pthread_mutex_unlock(&lk->mu);
		if (!ok)
			backoff(lk, p, why);
		else {
			/* Cut after a working session: dial again soon. */
			pthread_mutex_lock(&lk->mu);
			p->next_retry_ms =
			    ferry_wall_ms() + p->cfg.retry_min_ms;
			pthread_mutex_unlock(&lk->mu);
		}
		check = 1;
	}
	return NULL;
}

/* ------------------------------------------------ counters, kept */

/* The counters `ferry peers` shows, as the store kept them (issue 12
 * item 16): a restart goes on counting from there. */
static void
link_stats_load(struct link *lk, struct lpeer *p)
{
	struct store_peer_stats ps;
	int rc = store_peer_stats_get(lk->st, p->cfg.name, &ps);

	if (rc != 0) {
		log_warn("peer %s: cannot read its counters: %s (counting "
			 "from 0)",
			 p->cfg.name, ferry_strerror(rc));
		return;
	}
	p->last_seen_ms = p->start_seen_ms = ps.last_seen_ms;
	p->bytes_in = ps.bytes_in;
	p->bytes_out = ps.bytes_out;
	p->msgs_in = ps.msgs_in;
	p->msgs_out = ps.msgs_out;
	snprintf(p->last_error, sizeof(p->last_error), "%s", ps.last_error);
}

void
link_stats_save(struct link *lk, struct lpeer *p)
{
	struct store_peer_stats ps;
	int rc;

	memset(&ps, 0, sizeof(ps));
	pthread_mutex_lock(&lk->mu);
	ps.last_seen_ms = p->last_seen_ms;
	ps.bytes_in = p->bytes_in;
	ps.bytes_out = p->bytes_out;
	ps.msgs_in = p->msgs_in;
	ps.msgs_out = p->msgs_out;
	snprintf(ps.last_error, sizeof(ps.last_error), "%s", p->last_error);
	pthread_mutex_unlock(&lk->mu);
	rc = store_peer_stats_put(lk->st, p->cfg.name, &ps);
	if (rc != 0)
		log_debug("peer %s: cannot save its counters: %s", p->cfg.name,
			  ferry_strerror(rc));
}

/* ------------------------------------------------------------- public */

int
link_start(const struct link_opts *o, struct link **out)
{
	const struct policy *pol = o->pol;
	struct link *lk;
	int rc;

	*out = NULL;
	lk = calloc(1, sizeof(*lk));
	if (lk == NULL)
		return FERRY_ENOMEM;
	lk->wake[0] = lk->wake[1] = -1;
	pthread_mutex_init(&lk->mu, NULL);
	pthread_cond_init(&lk->cv, NULL);
	lk->st = o->store;
	lk->id = o->id;
	lk->on_local = o->on_local;
	lk->on_kick = o->on_kick;
	lk->arg = o->arg;
	lk->max_message_bytes = pol->max_message_bytes;
	lk->rekey_bytes = LINK_REKEY_BYTES;
	{
		/* For tests only: exercise Rekey() without sending 1 GiB. */
		const char *e = getenv("FERRY_TEST_REKEY_BYTES");
		if (e != NULL && strtoull(e, NULL, 10) >= 65536)
			lk->rekey_bytes = strtoull(e, NULL, 10);
	}
	snprintf(lk->node, sizeof(lk->node), "%s", pol->node_name);
	identity_node_id(identity_sign_pk(o->id), identity_kx_pk(o->id),
			 lk->node_id);
	if (pol->npeers > 0) {
		lk->peers = calloc(pol->npeers, sizeof(*lk->peers));
		if (lk->peers == NULL) {
			free(lk);
			return FERRY_ENOMEM;
		}
	}
	lk->npeers = pol->npeers;
	for (size_t i = 0; i < pol->npeers; i++) {
		struct lpeer *p = &lk->peers[i];
		p->cfg = pol->peers[i];
		p->dialer_link = lk;
		identity_node_id(p->cfg.sign_pk, p->cfg.kx_pk, p->node_id);
		identity_fingerprint(p->cfg.sign_pk, p->cfg.kx_pk, p->fpr);
		link_stats_load(lk, p);
	}
	lk->sources = hs_sources_new();
	if (lk->sources == NULL) {
		link_stop(lk);
		return FERRY_ENOMEM;
	}
	if (pipe2(lk->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		link_stop(lk);
		return FERRY_EIO;
	}
	for (size_t i = 0; i < pol->nlisten; i++)
		if ((rc = listen_on(lk, &pol->listen[i])) != 0) {
			link_stop(lk);
			return rc;
		}
	if (lk->nlfd > 0) {
		if (pthread_create(&lk->acceptor, NULL, acceptor_main, lk) !=
		    0) {
			link_stop(lk);
			return FERRY_ENOMEM;
		}
		lk->has_acceptor = 1;
	}
	for (size_t i = 0; i < lk->npeers; i++) {
		struct lpeer *p = &lk->peers[i];
		if (p->cfg.ntcp == 0 || p->cfg.dial == POLICY_DIAL_NEVER)
			continue;
		if (pthread_create(&p->dialer, NULL, dialer_main, p) != 0) {
			link_stop(lk);
			return FERRY_ENOMEM;
		}
		p->has_dialer = 1;
	}
	*out = lk;
	return 0;
}

void
link_kick(struct link *lk, const char *node, unsigned prio)
{
	if (lk == NULL)
		return;
	pthread_mutex_lock(&lk->mu);
	for (size_t i = 0; i < lk->npeers; i++) {
		struct lpeer *p = &lk->peers[i];
		if (strcmp(p->cfg.name, node) != 0)
			continue;
		p->wanted = 1;
		if (p->cur != NULL) {
			struct session *s = p->cur;
			pthread_mutex_lock(&s->mu);
			s->kick = 1;
			if ((int)prio > s->kick_prio)
				s->kick_prio = (int)prio;
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
		} else if (p->backoff_ms == 0)
			p->next_retry_ms = 0; /* at once */
		pthread_cond_broadcast(&lk->cv);
	}
	pthread_mutex_unlock(&lk->mu);
}

int
link_cut(struct link *lk, const char *node, struct store_tap *t)
{
	int taken = 0;

	if (lk == NULL)
		return 0;
	/* The session's reference, taken before its lock: a tap's lock is
	 * never taken under a session's (cut_wake takes them the other way
	 * round). */
	store_tap_ref(t);
	pthread_mutex_lock(&lk->mu);
	for (size_t i = 0; i < lk->npeers && !taken; i++) {
		struct lpeer *p = &lk->peers[i];
		struct session *s = p->cur;
		if (strcmp(p->cfg.name, node) != 0 || s == NULL)
			continue;
		pthread_mutex_lock(&s->mu);
		if (!s->dead && !s->want_close && s->peer_synced &&
		    s->ncut < LINK_CUT_MAX) {
			s->cut[s->ncut++] = t;
			s->kick = 1;
			pthread_cond_broadcast(&s->cv);
			taken = 1;
		}
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_unlock(&lk->mu);
	if (!taken)
		store_tap_unref(t); /* not the last: the caller holds one */
	return taken;
}

void
link_status(struct link *lk, struct peer_status *o)
{
	if (lk == NULL)
		return;
	pthread_mutex_lock(&lk->mu);
	for (size_t i = 0; i < lk->npeers; i++) {
		const struct lpeer *p = &lk->peers[i];
		if (strcmp(p->cfg.name, o->name) != 0)
			continue;
		snprintf(o->fpr, sizeof(o->fpr), "%s", p->fpr);
		o->connected = p->cur != NULL;
		if (p->cur != NULL) {
			snprintf(o->via, sizeof(o->via), "tcp");
			o->inbound = !p->cur->initiator;
			snprintf(o->addr, sizeof(o->addr), "%s", p->cur->addr);
			o->since_ms = p->cur->up_ms;
		}
		o->last_seen_ms = p->last_seen_ms;
		o->next_retry_ms = p->cur == NULL && p->wanted && p->has_dialer
				       ? p->next_retry_ms
				       : 0;
		if (o->next_retry_ms != 0 && p->window_ms > o->next_retry_ms)
			o->next_retry_ms = p->window_ms;
		o->window_ms = p->window_ms;
		if (p->cur == NULL && !p->wanted && p->has_dialer &&
		    p->cfg.call_every_ms > 0) /* the next call */
			o->next_retry_ms =
			    p->last_seen_ms != p->start_seen_ms
				? p->last_seen_ms + p->cfg.call_every_ms
				: ferry_wall_ms();
		o->bytes_in = p->bytes_in;
		o->bytes_out = p->bytes_out;
		o->msgs_in = p->msgs_in;
		o->msgs_out = p->msgs_out;
		snprintf(o->last_error, sizeof(o->last_error), "%s",
			 p->last_error);
		link_full_status(p, o);
	}
	pthread_mutex_unlock(&lk->mu);
}

void
link_counts(struct link *lk, uint64_t *msgs_in, uint64_t *msgs_out)
{
	*msgs_in = *msgs_out = 0;
	if (lk == NULL)
		return;
	pthread_mutex_lock(&lk->mu);
	for (size_t i = 0; i < lk->npeers; i++) {
		*msgs_in += lk->peers[i].msgs_in;
		*msgs_out += lk->peers[i].msgs_out;
	}
	pthread_mutex_unlock(&lk->mu);
}

void
link_stop(struct link *lk)
{
	int64_t until;

	if (lk == NULL)
		return;
	pthread_mutex_lock(&lk->mu);
	lk->stopping = 1;
	for (struct session *s = lk->sessions; s != NULL; s = s->next_all)
		session_kill(s, HOP_CLOSE_SHUTDOWN, "agent stopping");
	pthread_cond_broadcast(&lk->cv);
	pthread_mutex_unlock(&lk->mu);
	if (lk->wake[1] >= 0) {
		char c = 1;
		if (write(lk->wake[1], &c, 1) < 0)
			log_warn("link: cannot wake the acceptor");
	}
	if (lk->has_acceptor)
		pthread_join(lk->acceptor, NULL);
	/* Give sessions 2 s to say CLOSE, then cut what is left. */
	until = ferry_mono_ms() + 2000;
	pthread_mutex_lock(&lk->mu);
	while (lk->sessions != NULL && ferry_mono_ms() < until) {
		struct timespec ts;
		link_abstime(&ts, 50);
		pthread_cond_timedwait(&lk->cv, &lk->mu, &ts);
	}
	for (struct session *s = lk->sessions; s != NULL; s = s->next_all)
		(void)shutdown(s->fd, SHUT_RDWR);
	pthread_mutex_unlock(&lk->mu);
	for (size_t i = 0; i < lk->npeers; i++)
		if (lk->peers[i].has_dialer)
			pthread_join(lk->peers[i].dialer, NULL);
	pthread_mutex_lock(&lk->mu);
	while (lk->detached > 0) {
		for (struct session *s = lk->sessions; s != NULL;
		     s = s->next_all)
			(void)shutdown(s->fd, SHUT_RDWR);
		struct timespec ts;
		link_abstime(&ts, 50);
		pthread_cond_timedwait(&lk->cv, &lk->mu, &ts);
	}
	pthread_mutex_unlock(&lk->mu);
	for (size_t i = 0; i < lk->nlfd; i++)
		close(lk->lfd[i]);
	if (lk->wake[0] >= 0)
		close(lk->wake[0]);
	if (lk->wake[1] >= 0)
		close(lk->wake[1]);
	for (size_t i = 0; i < lk->npeers; i++)
		free(lk->peers[i].recent);
	free(lk->peers);
	free(lk->sources);
	pthread_cond_destroy(&lk->cv);
	pthread_mutex_destroy(&lk->mu);
	free(lk);
}

/* ------------------------------------------------- the transport table */

static void
tcp_arrived(const char *queue, void *arg)
{
	engine_arrived(arg, queue);
}

static void
tcp_kicked(const char *node, unsigned prio, void *arg)
{
	engine_kick(arg, node, prio);
}

static int
tcp_start(struct agent *ag, void **state)
{
	struct link_opts lo;
	struct link *lk = NULL;

	memset(&lo, 0, sizeof(lo));
	lo.store = ag->store;
	lo.id = ag->id;
	lo.pol = &ag->pol;
	lo.on_local = tcp_arrived;
	lo.on_kick = tcp_kicked;
	lo.arg = ag;
	if (link_start(&lo, &lk) != 0)
		return -1;
	*state = lk;
	return 0;
}

static void
tcp_stop(struct agent *ag, void *state)
{
	(void)ag;
	link_stop(state);
}

static void
tcp_kick(void *state, const char *node, unsigned prio)
{
	link_kick(state, node, prio);
}

static int
tcp_cut(void *state, const char *node, struct store_tap *t)
{
	return link_cut(state, node, t);
}

static void
tcp_status(void *state, struct peer_status *p)
{
	link_status(state, p);
}

static void
tcp_counts(void *state, uint64_t *msgs_in, uint64_t *msgs_out)
{
	link_counts(state, msgs_in, msgs_out);
}

const struct transport_ops tcp_transport = {
    .name = "tcp",
    .start = tcp_start,
    .stop = tcp_stop,
    .kick = tcp_kick,
    .cut = tcp_cut,
    .status = tcp_status,
    .counts = tcp_counts,
};
