/*
 * tcp_session.c - one hop session over TCP after its Noise handshake
 * (docs/session.md): record I/O, rekeying, the HELLO exchange, and the
 * session's life from attach to detach.  The sending half is
 * tcp_send.c, the receiving half tcp_recv.c.
 *
 * The reader thread (the one that did the handshake) owns the receive
 * cipher and the receiving half: MSG/CHUNK/END into the store (through
 * the intake, agent/intake.c), CUSTODY and REFUSE from the peer about
 * what we sent.  The writer thread owns the send cipher and the sending
 * half: it picks messages for the peer in forwarding order, interleaves at
 * most LINK_SENDING_MAX payloads record by record (the most urgent first,
 * so an urgent message overtakes a large one between two records), and
 * sends what the reader asks for (CUSTODY, REFUSE, RESUME).  They share
 * only what is under s->mu.
 *
 * Exactly once: the receiver answers CUSTODY only after the commit (and
 * flush) that holds the message; the sender drops its copy only then.  A
 * duplicate (the same id again after a lost CUSTODY) is recognised by the
 * store and answered with CUSTODY too.  Anything lost with a link is sent
 * again; a streamed payload goes on from the receiver's durable offset.
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/intake.h"
#include "agent/log.h"
#include "transports/tcp_int.h"

#define CUST_MAX 8192u /* custody ids waiting to be sent */
/* A reader with nothing buffered and nothing arriving for this long gives
 * its buffers' pages back (pagebuf_idle). */
#define SESSION_IDLE_MS 50

/* Forget id, keeping the session's window count right; under s->mu. */
void
held_forget(struct session *s, const uint8_t *id)
{
	if (idset_del(s->held, id) == 2 && s->window > 0)
		s->window--;
}

/* ------------------------------------------------------------- socket */

int
wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = ev};
	int timeout = -1, rc;

	if (deadline >= 0) {
		int64_t left = deadline - ferry_mono_ms();
		if (left <= 0)
			return FERRY_ETIMEDOUT;
		timeout = left > 1000000 ? 1000000 : (int)left;
	}
	rc = poll(&p, 1, timeout);
	if (rc < 0)
		return errno == EINTR ? 0 : FERRY_EIO;
	if (rc == 0)
		return deadline >= 0 && ferry_mono_ms() >= deadline
			   ? FERRY_ETIMEDOUT
			   : 0;
	return 0;
}

int
session_read_full(int fd, void *buf, size_t n, int64_t deadline)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (r == 0)
			return FERRY_ECLOSED;
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET)
			return FERRY_ECLOSED; /* a cut, not an I/O error */
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return FERRY_EIO;
		int rc = wait_fd(fd, POLLIN, deadline);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
session_write_full(int fd, const void *buf, size_t n, int64_t deadline)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == EPIPE || errno == ECONNRESET
				   ? FERRY_ECLOSED
				   : FERRY_EIO;
		int rc = wait_fd(fd, POLLOUT, deadline);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------ records */

static int
rd_fill(struct session *s, struct rdbuf *b, size_t need, int64_t until)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len - b->off >= need)
		return 0;
	if (b->off + need > b->cap) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	while (b->len - b->off < need) {
		ssize_t r =
		    recv(s->fd, b->p + b->len, b->cap - b->len, MSG_DONTWAIT);
		if (r > 0) {
			b->len += (size_t)r;
			b->dirty = 1;
			continue;
		}
		if (r == 0)
			return FERRY_ECLOSED;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return FERRY_EIO;
		/* Nothing within the keep-alive time, or a record that does
		 * not complete in twice that (a length that lies): dead. */
		int64_t deadline = -1;
		if (s->keepalive_ms != 0) {
			deadline = ferry_mono_ms() + s->keepalive_ms;
			if (until >= 0 && until < deadline)
				deadline = until;
		}
		int rc;
		if (b->dirty && b->len == 0) {
			/* Between records: quiet for a moment, the buffers'
			 * pages go back (pagebuf_idle). */
			int64_t soon = ferry_mono_ms() + SESSION_IDLE_MS;
			rc = wait_fd(s->fd, POLLIN,
				     deadline >= 0 && deadline < soon ? deadline
								      : soon);
			if (rc == FERRY_ETIMEDOUT &&
			    (deadline < 0 || ferry_mono_ms() < deadline)) {
				pagebuf_idle(b->p, b->cap);
				pagebuf_idle(b->plain, HOP_PLAIN_MAX);
				hop_zstd_idle(s->zrx);
				b->dirty = 0;
				continue;
			}
		} else
			rc = wait_fd(s->fd, POLLIN, deadline);
		if (rc != 0)
			return rc;
		pthread_mutex_lock(&s->mu);
		rc = s->dead;
		pthread_mutex_unlock(&s->mu);
		if (rc)
			return FERRY_ECLOSED;
	}
	return 0;
}

/* Read and decrypt one record into plain; *len its length. */
int
read_record(struct session *s, struct rdbuf *b, uint8_t *plain, size_t *len)
{
	int64_t until = -1;
	size_t n;
	int rc;

	if ((rc = rd_fill(s, b, 2, -1)) != 0)
		return rc;
	if (s->keepalive_ms != 0)
		until = ferry_mono_ms() + 2 * (int64_t)s->keepalive_ms;
	n = (size_t)b->p[b->off] << 8 | b->p[b->off + 1];
	b->off += 2;
	if (n < NOISE_TAG + 1)
		return FERRY_EPROTO;
	if ((rc = rd_fill(s, b, n, until)) != 0)
		return rc;
	rc = noise_decrypt(s->rx, NULL, 0, b->p + b->off, n, plain,
			   HOP_PLAIN_MAX, len);
	b->off += n;
	if (rc != 0)
		return FERRY_ECORRUPT;
	s->last_rx_mono = ferry_mono_ms();
	pthread_mutex_lock(&s->lk->mu);
	s->peer->bytes_in += n + 2;
	s->peer->last_seen_ms = ferry_wall_ms();
	pthread_mutex_unlock(&s->lk->mu);
	return 0;
}

/* Token bucket: wait until n bytes may go; never holds a lock while
 * sleeping, wakes early when the session dies. */
static void
rate_wait(struct session *s, struct wrstate *w, size_t n)
{
	double burst;

	if (s->rate == 0)
		return;
	burst = (double)s->rate / 10.0;
	if (burst < 2.0 * HOP_RECORD_MAX)
		burst = 2.0 * HOP_RECORD_MAX;
	for (;;) {
		int64_t now = ferry_mono_ms();
		w->tokens +=
		    (double)(now - w->tokens_mono) * (double)s->rate / 1000.0;
		w->tokens_mono = now;
		if (w->tokens > burst)
			w->tokens = burst;
		if (w->tokens >= (double)n)
			break;
		int64_t ms = (int64_t)(((double)n - w->tokens) * 1000.0 /
				       (double)s->rate) +
			     1;
		struct timespec ts;
		link_abstime(&ts, ms);
		pthread_mutex_lock(&s->mu);
		if (!s->dead)
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		int dead = s->dead;
		pthread_mutex_unlock(&s->mu);
		if (dead)
			return;
	}
	w->tokens -= (double)n;
}

int
write_record(struct session *s, struct wrstate *w, const uint8_t *plain,
	     size_t len)
{
	size_t ctlen;
	int64_t deadline;
	int rc;

	rc = noise_encrypt(s->tx, NULL, 0, plain, len, w->ct + 2,
			   HOP_RECORD_MAX, &ctlen);
	if (rc != 0)
		return rc;
	w->ct[0] = (uint8_t)(ctlen >> 8);
	w->ct[1] = (uint8_t)ctlen;
	rate_wait(s, w, ctlen + 2);
	/* A peer that stops reading is as dead as one that stops talking;
	 * without keep-alives (a peer may ask for none), a write still
	 * gives up after LINK_WRITE_STALL_MS, so that no reader waiting for
	 * this writer can wait for ever. */
	deadline = ferry_mono_ms() + (s->keepalive_ms != 0
					  ? (int64_t)s->keepalive_ms
					  : (int64_t)LINK_WRITE_STALL_MS);
	rc = session_write_full(s->fd, w->ct, ctlen + 2, deadline);
	if (rc != 0)
		return rc;
	s->last_tx_mono = ferry_mono_ms();
	w->bytes_since_rekey += ctlen + 2;
	w->records_since_rekey++;
	pthread_mutex_lock(&s->lk->mu);
	s->peer->bytes_out += ctlen + 2;
	pthread_mutex_unlock(&s->lk->mu);
	return 0;
}

/* ------------------------------------------------------- ending */

void
mark_dead(struct session *s, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->mu);
	if (!s->dead) {
		s->dead = 1;
		va_start(ap, fmt);
		vsnprintf(s->why, sizeof(s->why), fmt, ap);
		va_end(ap);
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	/* Unblock the other thread's socket call. */
	(void)shutdown(s->fd, SHUT_RDWR);
}

void
session_kill(struct session *s, uint16_t code, const char *text)
{
	pthread_mutex_lock(&s->mu);
	if (!s->want_close) {
		s->want_close = 1;
		s->close_code = code;
		snprintf(s->close_text, sizeof(s->close_text), "%s",
			 text != NULL ? text : "");
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------- the session */

struct session *
session_new(struct link *lk, int fd, int initiator, const char *addr)
{
	struct session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->lk = lk;
	s->fd = fd;
	s->initiator = initiator;
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	s->kick_prio = -1;
	s->cust_cap = CUST_MAX;
	s->cust = malloc(CUST_MAX * FERRY_ID_LEN);
	s->held = idset_new();
	if (s->cust == NULL || s->held == NULL ||
	    pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s->cust);
		idset_free(s->held);
		free(s);
		return NULL;
	}
	if (pthread_cond_init(&s->cv, NULL) != 0) {
		pthread_mutex_destroy(&s->mu);
		free(s->cust);
		idset_free(s->held);
		free(s);
		return NULL;
	}
	return s;
}

void
session_free(struct session *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	noise_cipher_free(s->tx);
	noise_cipher_free(s->rx);
	idset_free(s->held);
	for (size_t i = 0; i < s->ncut; i++)
		store_tap_unref(s->cut[i]);
	free(s->cust);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Send our HELLO in a record of its own. */
static int
send_hello(struct session *s)
{
	uint8_t plain[256];
	struct hop_rbuf b;
	struct wrstate w;
	size_t len;
	uint8_t ct[2 + 256 + NOISE_TAG];
	int rc;

	memset(&w, 0, sizeof(w));
	w.ct = ct;
	hop_rbuf_init(&b, plain, sizeof(plain));
	hello_put(s, &b);
	if ((rc = hop_rbuf_end(&b, &len)) != 0)
		return rc;
	return write_record(s, &w, plain, len);
}

/* Read the peer's HELLO, the first frame of its first record. */
static int
read_hello(struct session *s, struct rdbuf *rb, uint8_t *plain)
{
	struct hop_frame f;
	struct hop_hello h;
	const char *why = NULL;
	size_t len, off = 0;
	int rc;

	rc = read_record(s, rb, plain, &len);
	if (rc != 0) {
		/* A listener's slot was cut, or the caller never followed
		 * up: say so rather than "link cut". */
		if (!s->initiator)
			link_hs_failed(s, rc);
		return rc;
	}
	if (hop_record_next(plain, len, &off, &f) != 1 || f.type != HOP_HELLO ||
	    hop_hello_decode(&f, &h, &why) != 0 || off != len) {
		log_warn("peer %s (%s): the first record is not a HELLO%s%s: "
			 "closed",
			 s->peer->cfg.name, s->addr, why ? ": " : "",
			 why ? why : "");
		return FERRY_EPROTO;
	}
	if (strcmp(h.node, s->peer->cfg.name) != 0) {
		log_warn("peer %s (%s) calls itself \"%s\": its key is "
			 "configured for %s; closed (fix the [peer] section)",
			 s->peer->cfg.name, s->addr, h.node, s->peer->cfg.name);
		return FERRY_EPROTO;
	}
	s->plain_max = (size_t)h.max_record - NOISE_TAG;
	if (s->plain_max > HOP_PLAIN_MAX)
		s->plain_max = HOP_PLAIN_MAX;
	s->peer_features = h.features;
	s->keepalive_ms = (uint32_t)s->peer->cfg.keepalive_ms;
	if (h.keepalive_ms != 0 &&
	    (s->keepalive_ms == 0 || h.keepalive_ms < s->keepalive_ms))
		s->keepalive_ms = h.keepalive_ms;
	int64_t skew = h.clock_ms - ferry_wall_ms();
	if (skew > 300000 || skew < -300000)
		log_warn("peer %s: its clock is %lld s %s ours (TTLs travel "
			 "as time left, and time on a medium is charged "
			 "by this offset)",
			 s->peer->cfg.name, (long long)(skew / 1000),
			 skew > 0 ? "ahead of" : "behind");
	/* Kept for the time a bundle from it spends on a medium (its
	 * clock, corrected by this, against ours: agent/intake.c). */
	intake_clock_seen(s->lk->st, s->peer->cfg.name, skew);
	return 0;
}

/* Why a session ended, worth a warning (tampering, a broken peer)? */
static int
alarming(const char *why)
{
	return strstr(why, "authentication") != NULL ||
	       strstr(why, "protocol") != NULL || strstr(why, "bad ") != NULL ||
	       strstr(why, "damaged") != NULL || strstr(why, "HELLO") != NULL;
}

void
session_run(struct session *s)
{
	struct receiver *rv = receiver_new(s);
	struct rdbuf rb = {0};
	uint8_t *plain = pagebuf_new(HOP_PLAIN_MAX);
	pthread_t wt;
	int has_writer = 0, rc, attached = 0;

	ferry_thread_name("tcp-recv:%s", s->peer->cfg.name);
	rb.cap = 2 * (2 + HOP_RECORD_MAX);
	rb.p = pagebuf_new(rb.cap);
	rb.plain = plain;
	s->rate = s->peer->cfg.rate_bytes_per_s;
	s->keepalive_ms = LINK_HANDSHAKE_MS;
	s->plain_max = HOP_PLAIN_MAX;
	s->last_rx_mono = s->last_tx_mono = ferry_mono_ms();
	if (rv == NULL || plain == NULL || rb.p == NULL) {
		log_error("peer %s: out of memory", s->peer->cfg.name);
		goto out;
	}
	/* The caller speaks first; the listener only after the caller's
	 * first record proved it completed the handshake (DESIGN.md 9). */
	if (s->initiator && (rc = send_hello(s)) != 0)
		goto cut;
	if ((rc = read_hello(s, &rb, plain)) != 0)
		goto cut;
	/* Authenticated: the listener's handshake slot goes free. */
	if ((rc = link_hs_done(s)) != 0)
		goto cut;
	if (!s->initiator && (rc = send_hello(s)) != 0)
		goto cut;
	if (link_attach(s->lk, s) != 0) {
		/* The other connection of a simultaneous dial won. */
		struct wrstate w;
		uint8_t pl[64], ct[2 + 64 + NOISE_TAG];
		struct hop_rbuf b;
		size_t len;
		memset(&w, 0, sizeof(w));
		w.ct = ct;
		hop_rbuf_init(&b, pl, sizeof(pl));
		hop_put_close(&b, HOP_CLOSE_BUSY, "duplicate session");
		if (hop_rbuf_end(&b, &len) == 0)
			(void)write_record(s, &w, pl, len);
		goto out;
	}
	attached = 1;
	/* Receipts this node sent the peer lately, again: any of them lost
	 * with the last link would make the peer send its message again.
	 * They go first, and each side sends no message before the other's
	 * first record after HELLO is in (writer_main). */
	pthread_mutex_lock(&s->lk->mu);
	for (size_t i = 0; i < s->peer->nrecent && s->ncust < s->cust_cap;
	     i++) {
		memcpy(s->cust + s->ncust * FERRY_ID_LEN,
		       recent_get(s->peer, i), FERRY_ID_LEN);
		s->ncust++;
	}
	pthread_mutex_unlock(&s->lk->mu);
	log_info("peer %s: session up (%s, %s, keep-alive %u ms)",
		 s->peer->cfg.name, s->addr,
		 s->initiator ? "dialed" : "accepted", s->keepalive_ms);
	if (pthread_create(&wt, NULL, writer_main, s) != 0) {
		log_error("peer %s: cannot start a thread", s->peer->cfg.name);
		goto out;
	}
	has_writer = 1;
	for (;;) {
		size_t len;
		int rekey = 0;
		rc = read_record(s, &rb, plain, &len);
		if (rc != 0)
			goto cut;
		rc = on_record(rv, plain, len, &rekey);
		if (rc != 0) {
			/* Say why (a store refusal asked for CLOSE), not
			 * "ended". */
			char text[sizeof(s->close_text)];
			int closing;
			pthread_mutex_lock(&s->mu);
			closing = s->want_close;
			memcpy(text, s->close_text, sizeof(text));
			pthread_mutex_unlock(&s->mu);
			if (closing)
				mark_dead(s, "closed by this node (%s)", text);
			else
				mark_dead(s, "stopped reading: %s",
					  ferry_strerror(rc));
			break;
		}
		if (!s->peer_synced) {
			/* Its replayed receipts are in: our messages may go. */
			pthread_mutex_lock(&s->mu);
			s->peer_synced = 1;
			s->kick = 1;
			s->kick_prio = FERRY_PRIO_MAX;
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
		}
		if (rekey && noise_rekey(s->rx) != 0) {
			mark_dead(s, "rekey failed");
			break;
		}
	}
	goto out;
cut:
	switch (rc) {
	case FERRY_ECLOSED:
		mark_dead(s, "link cut (closed or reset without CLOSE)");
		break;
	case FERRY_ETIMEDOUT:
		mark_dead(s, "nothing heard for %u ms: link dead",
			  s->keepalive_ms);
		break;
	case FERRY_ECORRUPT:
		mark_dead(s, "a record failed authentication (tampering or "
			     "corruption on the link)");
		break;
	case FERRY_EPROTO:
		mark_dead(s, "protocol violation");
		break;
	default:
		mark_dead(s, "link error: %s", ferry_strerror(rc));
	}
out:
	mark_dead(s, "ended");
	if (has_writer)
		pthread_join(wt, NULL);
	/* Store callbacks still hold s, and the puts in flight the
	 * receiver's intake (agent/intake.c put_done): wait for them
	 * before freeing either (ASan found stored() reading a freed
	 * receiver after a kill -9 of the peer). */
	pthread_mutex_lock(&s->mu);
	while (s->async > 0)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	receiver_free(rv); /* keeps what is durable */
	rv = NULL;
	if (attached) {
		/* Tampering and protocol breaches deserve an operator's
		 * eye; cuts and closes are routine. */
		if (alarming(s->why))
			log_warn("peer %s: session ended: %s",
				 s->peer->cfg.name, s->why);
		else
			log_info("peer %s: session ended: %s",
				 s->peer->cfg.name, s->why);
		pthread_mutex_lock(&s->lk->mu);
		snprintf(s->peer->last_error, sizeof(s->peer->last_error),
			 "%.150s", s->why);
		pthread_mutex_unlock(&s->lk->mu);
		link_stats_save(s->lk, s->peer);
		link_detach(s->lk, s);
	} else if (s->hs_quiet) {
		/* link_hs_failed said why */
	} else if (alarming(s->why))
		log_warn("peer %s (%s): session not started: %s",
			 s->peer->cfg.name, s->addr, s->why);
	else
		log_info("peer %s (%s): session not started: %s",
			 s->peer->cfg.name, s->addr, s->why);
	pagebuf_free(rb.p, rb.cap);
	pagebuf_free(plain, HOP_PLAIN_MAX);
	link_untrack(s->lk, s);
	session_free(s);
}
