/*
 * session.c - one hop session over TCP after its Noise handshake
 * (docs/session.md): HELLO exchange, then both directions at once.
 *
 * The reader thread (the one that did the handshake) owns the receive
 * cipher and the receiving half: MSG/CHUNK/END into the store, CUSTODY
 * and REFUSE from the peer about what we sent.  The writer thread owns the
 * send cipher and the sending half: it picks messages for the peer in
 * forwarding order, interleaves at most LINK_SENDING_MAX payloads record
 * by record (the most urgent first, so an urgent message overtakes a
 * large one between two records), and sends what the reader asks for
 * (CUSTODY, REFUSE, RESUME).  They share only what is under s->mu.
 *
 * Exactly once: the receiver answers CUSTODY only after the commit (and
 * flush) that holds the message; the sender drops its copy only then.  A
 * duplicate (the same id again after a lost CUSTODY) is recognised by the
 * store and answered with CUSTODY too.  Anything lost with a link is sent
 * again; a streamed payload goes on from the receiver's durable offset.
 *
 * A crypto file (BLAKE2b of payloads): sodium.h allowed.
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

#include "agent/link_int.h"
#include "agent/intake.h"
#include "agent/log.h"

#define CUST_MAX   8192u /* custody ids waiting to be sent */
#define HASH_STATE crypto_generichash_state

/* ------------------------------------------------------------ id set */

/* Ids a session holds (being sent, or custody pending): chained hash. */
struct idnode {
	uint8_t id[FERRY_ID_LEN];
	int whole;   /* sent whole (END): counts in the window */
	int custody; /* the peer's receipt is being committed */
	struct idnode *next;
};

#define IDSET_BUCKETS 4096u

struct idset {
	struct idnode *b[IDSET_BUCKETS];
	size_t n;
};

static unsigned
id_bucket(const uint8_t *id)
{
	/* Ids are random: their first bytes are a fine hash. */
	return ((unsigned)id[0] | (unsigned)id[1] << 8) % IDSET_BUCKETS;
}

static struct idnode *
idset_find(const struct idset *s, const uint8_t *id)
{
	for (struct idnode *n = s->b[id_bucket(id)]; n != NULL; n = n->next)
		if (memcmp(n->id, id, FERRY_ID_LEN) == 0)
			return n;
	return NULL;
}

static int
idset_has(const struct idset *s, const uint8_t *id)
{
	return idset_find(s, id) != NULL;
}

static int
idset_add(struct idset *s, const uint8_t *id)
{
	struct idnode *n;
	unsigned h = id_bucket(id);

	if (idset_has(s, id))
		return 0;
	n = malloc(sizeof(*n));
	if (n == NULL)
		return FERRY_ENOMEM;
	memcpy(n->id, id, FERRY_ID_LEN);
	n->whole = n->custody = 0;
	n->next = s->b[h];
	s->b[h] = n;
	s->n++;
	return 0;
}

/* 0: not there; 1: removed; 2: removed, and it counted in the window. */
static int
idset_del(struct idset *s, const uint8_t *id)
{
	for (struct idnode **pp = &s->b[id_bucket(id)]; *pp != NULL;
	     pp = &(*pp)->next) {
		struct idnode *n = *pp;
		if (memcmp(n->id, id, FERRY_ID_LEN) == 0) {
			int whole = n->whole;
			*pp = n->next;
			free(n);
			s->n--;
			return whole ? 2 : 1;
		}
	}
	return 0;
}

/* Forget id, keeping the session's window count right; under s->mu. */
static void
held_forget(struct session *s, const uint8_t *id)
{
	if (idset_del(s->held, id) == 2 && s->window > 0)
		s->window--;
}

static void
idset_free(struct idset *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < IDSET_BUCKETS; i++)
		while (s->b[i] != NULL) {
			struct idnode *n = s->b[i];
			s->b[i] = n->next;
			free(n);
		}
	free(s);
}

/* ------------------------------------------------------------- socket */

static int
wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = ev};
	int timeout = -1, rc;

	if (deadline >= 0) {
		int64_t left = deadline - link_mono_ms();
		if (left <= 0)
			return FERRY_ETIMEDOUT;
		timeout = left > 1000000 ? 1000000 : (int)left;
	}
	rc = poll(&p, 1, timeout);
	if (rc < 0)
		return errno == EINTR ? 0 : FERRY_EIO;
	if (rc == 0)
		return deadline >= 0 && link_mono_ms() >= deadline
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

/* Buffered reading of length-prefixed records; reader thread only. */
struct rdbuf {
	uint8_t *p;
	size_t len, off, cap;
};

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
			deadline = link_mono_ms() + s->keepalive_ms;
			if (until >= 0 && until < deadline)
				deadline = until;
		}
		int rc = wait_fd(s->fd, POLLIN, deadline);
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
static int
read_record(struct session *s, struct rdbuf *b, uint8_t *plain, size_t *len)
{
	int64_t until = -1;
	size_t n;
	int rc;

	if ((rc = rd_fill(s, b, 2, -1)) != 0)
		return rc;
	if (s->keepalive_ms != 0)
		until = link_mono_ms() + 2 * (int64_t)s->keepalive_ms;
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
	s->last_rx_mono = link_mono_ms();
	pthread_mutex_lock(&s->lk->mu);
	s->peer->bytes_in += n + 2;
	s->peer->last_seen_ms = link_now_ms();
	pthread_mutex_unlock(&s->lk->mu);
	return 0;
}

/* Writer side: encrypt and send one record (rate limited). */
struct wrstate {
	uint8_t *ct; /* 2 + HOP_RECORD_MAX */
	uint64_t bytes_since_rekey, records_since_rekey;
	int64_t rekey_mono;
	int64_t start_mono;
	double tokens;
	int64_t tokens_mono;
};

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
		int64_t now = link_mono_ms();
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

static int
write_record(struct session *s, struct wrstate *w, const uint8_t *plain,
	     size_t len)
{
	size_t ctlen;
	int64_t deadline = -1;
	int rc;

	rc = noise_encrypt(s->tx, NULL, 0, plain, len, w->ct + 2,
			   HOP_RECORD_MAX, &ctlen);
	if (rc != 0)
		return rc;
	w->ct[0] = (uint8_t)(ctlen >> 8);
	w->ct[1] = (uint8_t)ctlen;
	rate_wait(s, w, ctlen + 2);
	/* A peer that stops reading is as dead as one that stops talking. */
	if (s->keepalive_ms != 0)
		deadline = link_mono_ms() + s->keepalive_ms;
	rc = session_write_full(s->fd, w->ct, ctlen + 2, deadline);
	if (rc != 0)
		return rc;
	s->last_tx_mono = link_mono_ms();
	w->bytes_since_rekey += ctlen + 2;
	w->records_since_rekey++;
	pthread_mutex_lock(&s->lk->mu);
	s->peer->bytes_out += ctlen + 2;
	pthread_mutex_unlock(&s->lk->mu);
	return 0;
}

/* ------------------------------------------------------- ending */

static void mark_dead(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
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

/* ------------------------------------------------------ sending half */

struct xfer {
	int used;
	struct store_msg_info info;
	uint64_t off; /* next byte to send */
	uint64_t ttl_ms;
	int need_msg;
	int wait_go; /* large: MSG sent, waiting for the receiver's RESUME */
	/* Going on from the receiver's offset: the payload hash must first
	 * cover the bytes before it, read again from the store.  Done a
	 * step at a time between records (seeks_step), so that a
	 * multi-GiB prefix on a slow disk does not stop keep-alives and
	 * other traffic.  While seeking, off counts the bytes hashed. */
	int seeking;
	int seek_then_msg; /* when there: a MSG first (else CHUNKs) */
	uint64_t seek_to;
	int claimed;  /* store_out_claim'd: release at the end */
	uint64_t seq; /* start order, for ties */
	struct store_reader *rd;
	HASH_STATE hs;
};

struct sender {
	struct session *s;
	struct xfer x[LINK_RX_MAX];
	uint64_t next_seq;
	struct store_out_pos pos;
	struct store_msg_info cand[64];
	size_t ncand, icand;
	int exhausted; /* the last scan found nothing more */
	uint8_t *tmp;  /* HOP_PLAIN_MAX */
	/* Refused "busy": held (not offered) until their time comes. */
	struct later {
		uint8_t id[FERRY_ID_LEN];
		int64_t at; /* link_mono_ms() */
		int prio;
	} later[2 * LINK_RX_MAX];
	size_t nlater;
};

struct scan_ctx {
	struct sender *sd;
	int64_t now;
};

static int
scan_one(const struct store_msg_info *i, void *arg)
{
	struct scan_ctx *c = arg;
	struct session *s = c->sd->s;
	int held;

	if (strcmp(i->msg.dst_node, s->peer->cfg.name) != 0)
		return 0;
	if (i->state == STORE_INFLIGHT &&
	    strcmp(i->hop_peer, s->peer->cfg.name) != 0)
		return 0;
	if (i->msg.expires_ms != 0 && i->msg.expires_ms <= c->now)
		return 0; /* the sweep dead-letters it */
	pthread_mutex_lock(&s->mu);
	held = idset_has(s->held, i->msg.id);
	pthread_mutex_unlock(&s->mu);
	if (held)
		return 0;
	c->sd->cand[c->sd->ncand++] = *i;
	return c->sd->ncand == sizeof(c->sd->cand) / sizeof(c->sd->cand[0]);
}

static int
refill(struct sender *sd)
{
	struct scan_ctx c = {sd, link_now_ms()};
	int rc;

	sd->ncand = sd->icand = 0;
	rc = store_out_scan(sd->s->lk->st, sd->s->peer->cfg.name, &sd->pos, 0,
			    scan_one, &c);
	if (rc != 0)
		return rc;
	sd->exhausted = sd->ncand == 0;
	return 0;
}

static void
xfer_drop(struct sender *sd, struct xfer *x, int release)
{
	struct session *s = sd->s;

	store_reader_close(x->rd);
	x->rd = NULL;
	if (release && x->claimed) {
		int rc = store_out_release(s->lk->st, x->info.msg.id);
		if (rc != 0 && rc != FERRY_ENOTFOUND && rc != FERRY_ESTATE)
			log_warn("peer %s: cannot release a message: %s",
				 s->peer->cfg.name, ferry_strerror(rc));
	}
	x->used = 0;
}

/*
 * Go on with x from offset off (then a MSG first if then_msg, else
 * CHUNKs at once): the hash must cover the first off bytes.  Invariant
 * outside a seek: x->hs covers [0, x->off) and the reader is at x->off.
 * Going forward hashes on from there, going back starts from 0; the
 * hashing itself is done by seeks_step, a bounded step per record.
 */
static int
xfer_seek(struct sender *sd, struct xfer *x, uint64_t off, int then_msg)
{
	int rc;

	if (x->rd == NULL) {
		rc = store_reader_open(sd->s->lk->st, x->info.msg.id, &x->rd);
		if (rc != 0)
			return rc;
		crypto_generichash_init(&x->hs, NULL, 0, HOP_HASH_LEN);
		x->off = 0;
	} else if (off < x->off) {
		if ((rc = store_reader_seek(x->rd, 0)) != 0)
			return rc;
		crypto_generichash_init(&x->hs, NULL, 0, HOP_HASH_LEN);
		x->off = 0;
	}
	x->seek_to = off;
	x->seek_then_msg = then_msg;
	x->seeking = 1;
	x->wait_go = 0;
	if (x->off == off) {
		x->seeking = 0;
		x->need_msg = then_msg;
	}
	return 0;
}

/* Hash x on towards its seek_to, at most *budget bytes; 0 or an error. */
static int
xfer_seek_step(struct sender *sd, struct xfer *x, uint64_t *budget)
{
	while (x->off<x->seek_to && * budget> 0) {
		uint64_t left = x->seek_to - x->off;
		size_t want = HOP_PLAIN_MAX, n;
		int rc;
		if (left < want)
			want = (size_t)left;
		if (*budget < want)
			want = (size_t)*budget;
		rc = store_reader_read(x->rd, sd->tmp, want, &n);
		if (rc != 0)
			return rc;
		if (n == 0)
			return FERRY_ECORRUPT;
		crypto_generichash_update(&x->hs, sd->tmp, n);
		x->off += n;
		*budget -= n < *budget ? n : *budget;
	}
	if (x->off == x->seek_to) {
		x->seeking = 0;
		x->need_msg = x->seek_then_msg;
	}
	return 0;
}

static struct xfer *
xfer_slot(struct sender *sd)
{
	for (size_t i = 0; i < LINK_RX_MAX; i++)
		if (!sd->x[i].used)
			return &sd->x[i];
	return NULL;
}

static size_t
nsending(const struct sender *sd, int *minprio)
{
	size_t n = 0;

	*minprio = FERRY_PRIO_MAX + 1;
	for (size_t i = 0; i < LINK_RX_MAX; i++)
		if (sd->x[i].used) {
			n++;
			if (sd->x[i].info.msg.priority < *minprio)
				*minprio = sd->x[i].info.msg.priority;
		}
	return n;
}

/* Give up on x for this session (it stays outbound for the next). */
static void
xfer_abandon(struct sender *sd, struct xfer *x, uint64_t off, int rc)
{
	struct session *s = sd->s;
	char hex[FERRY_ID_HEX_LEN + 1];

	ferry_id_to_hex(x->info.msg.id, hex);
	log_warn("peer %s: cannot go on with %s at %llu: %s", s->peer->cfg.name,
		 hex, (unsigned long long)off, ferry_strerror(rc));
	pthread_mutex_lock(&s->mu);
	held_forget(s, x->info.msg.id);
	pthread_mutex_unlock(&s->mu);
	xfer_drop(sd, x, 1);
}

/* Begin sending info; 0, or an error for this message only (it is
 * skipped).  Its MSG proposes offset 0: for a large payload the receiver
 * answers with its own durable offset (RESUME) and the sender goes on from
 * there (apply_resume); a small one always goes whole. */
static int
xfer_start(struct sender *sd, const struct store_msg_info *info)
{
	struct session *s = sd->s;
	struct xfer *x = xfer_slot(sd);
	int64_t now = link_now_ms();
	int rc;

	if (x == NULL)
		return FERRY_EBUSY;
	if (strcmp(info->msg.dst_node, s->peer->cfg.name) != 0)
		return FERRY_ESTATE; /* not for this peer (no relaying yet) */
	memset(x, 0, sizeof(*x));
	x->info = *info;
	if (info->msg.expires_ms != 0) {
		if (info->msg.expires_ms <= now)
			return FERRY_ESTATE;
		x->ttl_ms = (uint64_t)(info->msg.expires_ms - now);
	}
	pthread_mutex_lock(&s->mu);
	rc = idset_add(s->held, info->msg.id);
	pthread_mutex_unlock(&s->mu);
	if (rc != 0)
		return rc;
	x->used = 1;
	x->seq = sd->next_seq++;
	/* Large payloads are claimed, so that `ferry status` shows where
	 * they are going; small ones are done before it would matter. */
	if (info->msg.payload_len > LINK_INLINE_MAX) {
		rc =
		    store_out_claim(s->lk->st, info->msg.id, s->peer->cfg.name);
		if (rc == 0)
			x->claimed = 1;
		else if (rc != FERRY_ESTATE)
			goto fail;
	}
	if ((rc = xfer_seek(sd, x, 0, 1)) != 0)
		goto fail;
	return 0;
fail:
	pthread_mutex_lock(&s->mu);
	held_forget(s, info->msg.id);
	pthread_mutex_unlock(&s->mu);
	xfer_drop(sd, x, 1);
	return rc;
}

static struct xfer *
xfer_find(struct sender *sd, const uint8_t *id)
{
	for (size_t i = 0; i < LINK_RX_MAX; i++)
		if (sd->x[i].used &&
		    memcmp(sd->x[i].info.msg.id, id, FERRY_ID_LEN) == 0)
			return &sd->x[i];
	return NULL;
}

/* The most urgent transfer, oldest first among equals. */
static struct xfer *
xfer_pick(struct sender *sd)
{
	struct xfer *best = NULL;

	for (size_t i = 0; i < LINK_RX_MAX; i++) {
		struct xfer *x = &sd->x[i];
		if (!x->used || x->wait_go || x->seeking)
			continue;
		if (best == NULL ||
		    x->info.msg.priority > best->info.msg.priority ||
		    (x->info.msg.priority == best->info.msg.priority &&
		     x->seq < best->seq))
			best = x;
	}
	return best;
}

/* Start new transfers while there is room; an urgent one may exceed
 * LINK_SENDING_MAX (up to the receiver's LINK_RX_MAX) to overtake. */
static int
start_more(struct sender *sd)
{
	struct session *s = sd->s;
	int rc;

	for (;;) {
		int minprio;
		size_t n = nsending(sd, &minprio);
		size_t window;

		pthread_mutex_lock(&s->mu);
		window = s->window;
		pthread_mutex_unlock(&s->mu);
		if (n >= LINK_RX_MAX || window + n >= LINK_WINDOW)
			return 0;
		if (sd->icand == sd->ncand) {
			if (sd->exhausted)
				return 0;
			if ((rc = refill(sd)) != 0)
				return rc;
			if (sd->ncand == 0)
				return 0;
		}
		const struct store_msg_info *c = &sd->cand[sd->icand];
		if (n >= LINK_SENDING_MAX && c->msg.priority <= minprio)
			return 0;
		sd->icand++;
		rc = xfer_start(sd, c);
		if (rc == FERRY_ENOTFOUND || rc == FERRY_ESTATE)
			continue; /* gone or expired meanwhile */
		if (rc != 0) {
			char hex[FERRY_ID_HEX_LEN + 1];
			ferry_id_to_hex(c->msg.id, hex);
			log_warn("peer %s: cannot send message %s: %s",
				 s->peer->cfg.name, hex, ferry_strerror(rc));
			if (rc == FERRY_ENOMEM || rc == FERRY_EDB)
				return rc;
		}
	}
}

/* Put frames of x into b; 1 when x is finished (END written). */
static int
xfer_emit(struct sender *sd, struct xfer *x, struct hop_rbuf *b)
{
	struct session *s = sd->s;
	uint64_t len = x->info.msg.payload_len;
	int rc;

	if (x->need_msg) {
		struct hop_msg hm;
		memset(&hm, 0, sizeof(hm));
		hm.msg = x->info.msg;
		hm.ttl_ms = x->ttl_ms;
		hm.offset = x->off;
		if (hop_rbuf_room(b) < hop_msg_frame_len(&hm))
			return 0;
		hop_put_msg(b, &hm);
		x->need_msg = 0;
		if (len > LINK_INLINE_MAX) {
			/* The receiver says where to go on from (RESUME):
			 * nothing is streamed that it already holds. */
			x->wait_go = 1;
			return 2;
		}
	}
	while (x->off < len &&
	       hop_rbuf_room(b) > HOP_FRAME_HDR + HOP_CHUNK_HDR + 256) {
		size_t room = hop_rbuf_room(b) - HOP_FRAME_HDR - HOP_CHUNK_HDR;
		size_t n = 0, got = 0;
		if ((uint64_t)room > len - x->off)
			room = (size_t)(len - x->off);
		while (got < room) {
			rc = store_reader_read(x->rd, sd->tmp + got, room - got,
					       &n);
			if (rc != 0)
				return rc;
			if (n == 0)
				break;
			got += n;
		}
		if (got == 0)
			return FERRY_ECORRUPT;
		crypto_generichash_update(&x->hs, sd->tmp, got);
		if (hop_put_chunk(b, x->info.msg.id, x->off, sd->tmp, got) !=
		    got)
			return FERRY_EINVAL;
		x->off += got;
	}
	if (x->off < len)
		return 0;
	if (hop_rbuf_room(b) < HOP_FRAME_HDR + HOP_END_LEN)
		return 0;
	struct hop_end e;
	memcpy(e.id, x->info.msg.id, FERRY_ID_LEN);
	e.total_len = len;
	crypto_generichash_final(&x->hs, e.hash, HOP_HASH_LEN);
	hop_put_end(b, &e);
	pthread_mutex_lock(&s->mu);
	struct idnode *n = idset_find(s->held, e.id);
	if (n != NULL && !n->whole) {
		n->whole = 1;
		s->window++;
	}
	pthread_mutex_unlock(&s->mu);
	xfer_drop(sd, x, 0); /* claimed stays claimed until custody */
	return 1;
}

/* The peer refused something we sent. */
static void
apply_refuse(struct sender *sd, const struct hop_refuse *r)
{
	struct session *s = sd->s;
	struct xfer *x = xfer_find(sd, r->id);
	char hex[FERRY_ID_HEX_LEN + 1];
	int rc;

	ferry_id_to_hex(r->id, hex);
	/* Only for what this session sent: a peer may not dead-letter or
	 * pull any other message by naming its id. */
	pthread_mutex_lock(&s->mu);
	int ours = x != NULL || idset_has(s->held, r->id);
	pthread_mutex_unlock(&s->mu);
	if (!ours)
		return;
	if (r->reason == HOP_REFUSE_HAVE) {
		/* The reader took it as a custody receipt; stop sending. */
		if (x != NULL)
			xfer_drop(sd, x, 0);
		return;
	}
	if (r->reason == HOP_REFUSE_BUSY) {
		/* Being stored there by another transfer: offer it again in
		 * a while (held until then, so the scan skips it). */
		int prio = x != NULL ? x->info.msg.priority : FERRY_PRIO_MAX;
		log_info("peer %s is storing message %s from another transfer: "
			 "offered again in %d s",
			 s->peer->cfg.name, hex, LINK_BUSY_RETRY_MS / 1000);
		if (x != NULL)
			xfer_drop(sd, x, 1);
		pthread_mutex_lock(&s->mu);
		if (sd->nlater < sizeof(sd->later) / sizeof(sd->later[0])) {
			struct later *l = &sd->later[sd->nlater++];
			memcpy(l->id, r->id, FERRY_ID_LEN);
			l->at = link_mono_ms() + LINK_BUSY_RETRY_MS;
			l->prio = prio;
		} else {
			held_forget(s, r->id); /* no room: at the next scan */
		}
		pthread_mutex_unlock(&s->mu);
		return;
	}
	if (r->reason == HOP_REFUSE_PARTIAL) {
		struct store_msg_info info;
		log_debug("peer %s holds %llu bytes of %s: resuming there",
			  s->peer->cfg.name, (unsigned long long)r->offset,
			  hex);
		if (x != NULL) {
			if ((rc = xfer_seek(sd, x, r->offset, 1)) != 0)
				xfer_abandon(sd, x, r->offset, rc);
			return;
		}
		/* Sent whole already: start it again from there. */
		if (store_get(s->lk->st, r->id, &info) != 0)
			return;
		pthread_mutex_lock(&s->mu);
		held_forget(s, r->id);
		pthread_mutex_unlock(&s->mu);
		rc = xfer_start(sd, &info);
		if (rc != 0 && rc != FERRY_EBUSY)
			log_warn("peer %s: cannot resume %s: %s",
				 s->peer->cfg.name, hex, ferry_strerror(rc));
		return;
	}
	/* Too big, or no route: the message cannot go this way. */
	log_warn("peer %s refused message %s (%s): moved to the dead queue",
		 s->peer->cfg.name, hex,
		 r->reason == HOP_REFUSE_TOO_BIG ? "too big" : "no route");
	if (x != NULL)
		xfer_drop(sd, x, 1);
	rc = store_out_release(s->lk->st, r->id);
	(void)rc;
	rc = store_dead_letter(s->lk->st, r->id,
			       r->reason == HOP_REFUSE_TOO_BIG
				   ? STORE_DEAD_TOO_LARGE
				   : STORE_DEAD_NO_ROUTE);
	if (rc != 0 && rc != FERRY_ENOTFOUND)
		log_warn("peer %s: cannot dead-letter %s: %s",
			 s->peer->cfg.name, hex, ferry_strerror(rc));
	pthread_mutex_lock(&s->mu);
	held_forget(s, r->id);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* One bounded step of every transfer that hashes its way to a resume
 * offset (xfer_seek); 1 if one still has to go on. */
static int
seeks_step(struct sender *sd)
{
	uint64_t budget = LINK_SEEK_STEP;
	int more = 0;

	for (size_t i = 0; i < LINK_RX_MAX; i++) {
		struct xfer *x = &sd->x[i];
		int rc;
		if (!x->used || !x->seeking)
			continue;
		rc = budget > 0 ? xfer_seek_step(sd, x, &budget) : 0;
		if (rc != 0) {
			xfer_abandon(sd, x, x->seek_to, rc);
			continue;
		}
		if (x->seeking)
			more = 1;
	}
	return more;
}

/* Messages refused "busy" whose time has come: offered again (the scan
 * is kicked at their priority). */
static void
later_due(struct sender *sd)
{
	struct session *s = sd->s;
	int64_t now = link_mono_ms();
	size_t i = 0;

	pthread_mutex_lock(&s->mu);
	while (i < sd->nlater) {
		struct later *l = &sd->later[i];
		if (l->at > now) {
			i++;
			continue;
		}
		held_forget(s, l->id);
		s->kick = 1;
		if (l->prio > s->kick_prio)
			s->kick_prio = l->prio;
		*l = sd->later[--sd->nlater];
	}
	pthread_mutex_unlock(&s->mu);
}

/* The receiver's RESUME: where to go on from (the answer to a large
 * MSG), or how far it has come (a hint, every few MiB).  Kept as the
 * message's hop offset for the next session either way. */
static void
apply_resume(struct sender *sd, const struct hop_resume *r)
{
	struct session *s = sd->s;
	struct xfer *x = xfer_find(sd, r->id);
	int rc;

	if (x != NULL && x->wait_go) {
		rc = r->offset > x->info.msg.payload_len
			 ? FERRY_EPROTO
			 : xfer_seek(sd, x, r->offset, 0);
		if (rc != 0) {
			xfer_abandon(sd, x, r->offset, rc);
			return;
		}
		if (r->offset > 0) {
			char hex[FERRY_ID_HEX_LEN + 1];
			ferry_id_to_hex(r->id, hex);
			log_info(
			    "peer %s holds %llu of %llu bytes of %s: "
			    "going on from there",
			    s->peer->cfg.name, (unsigned long long)r->offset,
			    (unsigned long long)x->info.msg.payload_len, hex);
		}
		/* CHUNKs from there once the hash covers what is before
		 * (xfer_seek: no MSG again, the receiver expects CHUNKs). */
	}
	rc = store_out_progress(s->lk->st, r->id, r->offset);
	if (rc != 0 && rc != FERRY_ENOTFOUND && rc != FERRY_ESTATE &&
	    rc != FERRY_EINVAL)
		log_debug("peer %s: recording progress: %s", s->peer->cfg.name,
			  ferry_strerror(rc));
}

static void
hello_put(struct session *s, struct hop_rbuf *b)
{
	struct hop_hello h;

	memset(&h, 0, sizeof(h));
	h.version = HOP_VERSION;
	snprintf(h.node, sizeof(h.node), "%s", s->lk->node);
	h.max_record = HOP_RECORD_MAX;
	h.keepalive_ms = (uint32_t)s->peer->cfg.keepalive_ms;
	h.clock_ms = link_now_ms();
	hop_put_hello(b, &h);
}

static void *
writer_main(void *arg)
{
	struct session *s = arg;
	struct sender *sd = calloc(1, sizeof(*sd));
	struct wrstate w;
	uint8_t *plain = malloc(HOP_PLAIN_MAX);
	int rc = 0, closing = 0, first_sent = 0, synced = 0, seeking = 0;

	memset(&w, 0, sizeof(w));
	w.ct = malloc(2 + HOP_RECORD_MAX);
	w.rekey_mono = w.tokens_mono = w.start_mono = link_mono_ms();
	if (sd != NULL)
		sd->tmp = malloc(HOP_PLAIN_MAX);
	if (sd == NULL || plain == NULL || w.ct == NULL || sd->tmp == NULL) {
		mark_dead(s, "out of memory");
		goto out;
	}
	sd->s = s;
	while (!closing) {
		struct hop_rbuf b;
		struct hop_refuse pref[64];
		struct hop_resume go[64];
		size_t npref = 0, ngo = 0, len = 0;
		int kick = 0, kick_prio = -1;

		hop_rbuf_init(&b, plain, s->plain_max);
		if (sd->nlater > 0)
			later_due(sd);
		seeking = seeks_step(sd);
		pthread_mutex_lock(&s->mu);
		if (s->dead) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		/* What the reader asks us to say, first. */
		if (s->ncust > 0) {
			size_t n = hop_put_custody(&b, s->cust, s->ncust);
			memmove(s->cust, s->cust + n * FERRY_ID_LEN,
				(s->ncust - n) * FERRY_ID_LEN);
			s->ncust -= n;
			pthread_cond_broadcast(&s->cv);
		}
		while (s->nrefuse > 0 &&
		       hop_rbuf_room(&b) >= HOP_FRAME_HDR + HOP_REFUSE_LEN) {
			hop_put_refuse(&b, &s->refuse[0]);
			memmove(s->refuse, s->refuse + 1,
				--s->nrefuse * sizeof(s->refuse[0]));
			pthread_cond_broadcast(&s->cv);
		}
		while (s->nresume > 0 &&
		       hop_rbuf_room(&b) >= HOP_FRAME_HDR + HOP_RESUME_LEN) {
			hop_put_resume(&b, &s->resume[0]);
			memmove(s->resume, s->resume + 1,
				--s->nresume * sizeof(s->resume[0]));
		}
		npref = s->npeer_refuse;
		memcpy(pref, s->peer_refuse, npref * sizeof(pref[0]));
		s->npeer_refuse = 0;
		ngo = s->npeer_go;
		memcpy(go, s->peer_go, ngo * sizeof(go[0]));
		s->npeer_go = 0;
		/* A fresh handshake (new ephemeral keys) every 24 hours: the
		 * caller closes and dials again at once. */
		if (s->initiator && !s->want_close &&
		    link_mono_ms() - w.start_mono >= LINK_SESSION_MAX_MS) {
			s->want_close = 1;
			s->close_code = HOP_CLOSE_NORMAL;
			snprintf(s->close_text, sizeof(s->close_text),
				 "24 hours old: new handshake");
		}
		kick = s->kick;
		kick_prio = s->kick_prio;
		s->kick = 0;
		s->kick_prio = -1;
		synced = s->peer_synced;
		if (s->want_close &&
		    hop_rbuf_room(&b) >=
			HOP_FRAME_HDR + 3 + 2 + 3 + HOP_CLOSE_TEXT_MAX) {
			hop_put_close(&b, s->close_code, s->close_text);
			closing = 1;
		}
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);

		for (size_t i = 0; i < npref; i++)
			apply_refuse(sd, &pref[i]);
		for (size_t i = 0; i < ngo; i++)
			apply_resume(sd, &go[i]);
		if (kick) {
			/* New messages: look again; a more urgent one than
			 * the scan position restarts the scan there. */
			sd->exhausted = 0;
			if (kick_prio >= 0 &&
			    store_out_pos_behind(&sd->pos, s->peer->cfg.name,
						 (unsigned)kick_prio)) {
				store_out_pos_priority(&sd->pos,
						       s->peer->cfg.name,
						       (unsigned)kick_prio);
				sd->ncand = sd->icand = 0;
			}
		}
		if (!first_sent) {
			/* The first record after HELLO: replayed receipts
			 * (above) and a KEEPALIVE, so the peer knows they are
			 * all in. */
			struct hop_keepalive k = {1, link_now_ms()};
			if (hop_rbuf_room(&b) >= HOP_FRAME_HDR + 8)
				hop_put_keepalive(&b, &k);
			first_sent = 1;
		}
		if (!synced &&
		    link_mono_ms() - w.start_mono >= LINK_SYNC_WAIT_MS)
			synced = 1; /* do not wait for ever */
		while (!closing && synced) {
			struct xfer *x;
			if ((rc = start_more(sd)) != 0) {
				mark_dead(s, "reading the store: %s",
					  ferry_strerror(rc));
				goto out;
			}
			x = xfer_pick(sd);
			if (x == NULL)
				break;
			rc = xfer_emit(sd, x, &b);
			if (rc == FERRY_ENOTFOUND) {
				/* Left the store meanwhile (the peer had
				 * it, or it expired). */
				xfer_drop(sd, x, 0);
				continue;
			}
			if (rc < 0) {
				char hex[FERRY_ID_HEX_LEN + 1];
				ferry_id_to_hex(x->info.msg.id, hex);
				log_warn("peer %s: reading message %s: %s; "
					 "skipped for this session",
					 s->peer->cfg.name, hex,
					 ferry_strerror(rc));
				xfer_drop(sd, x, 1);
				continue;
			}
			if (rc == 0)
				break; /* the record is full */
			/* 1: finished; 2: waits for the receiver's RESUME */
		}
		if (hop_rbuf_end(&b, &len) != 0) {
			mark_dead(s, "building a record failed");
			break;
		}
		if (len == 0) {
			int64_t now = link_mono_ms();
			int64_t ka = s->keepalive_ms / 3;
			if (ka != 0 && now - s->last_tx_mono >= ka) {
				struct hop_keepalive k = {1, link_now_ms()};
				hop_put_keepalive(&b, &k);
				if (hop_rbuf_end(&b, &len) != 0) {
					mark_dead(s,
						  "building a record failed");
					break;
				}
			} else if (seeking) {
				continue; /* hash on at once */
			} else {
				/* Nothing to say: wait for news. */
				struct timespec ts;
				int64_t wait =
				    ka != 0 ? ka - (now - s->last_tx_mono)
					    : 1000;
				if (wait > 1000)
					wait = 1000; /* re-scan now and then */
				if (wait < 1)
					wait = 1;
				link_abstime(&ts, wait);
				pthread_mutex_lock(&s->mu);
				if (!s->dead && !s->kick && s->ncust == 0 &&
				    s->nrefuse == 0 && s->nresume == 0 &&
				    s->npeer_refuse == 0 && s->npeer_go == 0 &&
				    !s->want_close)
					pthread_cond_timedwait(&s->cv, &s->mu,
							       &ts);
				/* A timeout looks again, from the top: the
				 * store may have queued something (a
				 * receipt) without telling us. */
				if (!s->kick && sd->exhausted) {
					s->kick = 1;
					s->kick_prio = FERRY_PRIO_MAX;
				}
				pthread_mutex_unlock(&s->mu);
				continue;
			}
		}
		/* Rekey on volume, record count or age (DESIGN.md 9). */
		int rekey = 0;
		if ((w.bytes_since_rekey >= s->lk->rekey_bytes ||
		     w.records_since_rekey + 1 >= LINK_REKEY_RECORDS ||
		     link_mono_ms() - w.rekey_mono >= LINK_REKEY_MS) &&
		    hop_rbuf_room(&b) >= HOP_FRAME_HDR && !closing) {
			hop_put_rekey(&b);
			if (hop_rbuf_end(&b, &len) != 0) {
				mark_dead(s, "building a record failed");
				break;
			}
			rekey = 1;
		}
		if ((rc = write_record(s, &w, plain, len)) != 0) {
			mark_dead(s, "%s",
				  rc == FERRY_ETIMEDOUT
				      ? "the peer stopped reading"
				      : "link cut while sending");
			break;
		}
		if (rekey) {
			if (noise_rekey(s->tx) != 0) {
				mark_dead(s, "rekey failed");
				break;
			}
			log_info("peer %s: sending key renewed (Noise Rekey) "
				 "after %llu bytes, %llu records",
				 s->peer->cfg.name,
				 (unsigned long long)w.bytes_since_rekey,
				 (unsigned long long)w.records_since_rekey);
			w.bytes_since_rekey = w.records_since_rekey = 0;
			w.rekey_mono = link_mono_ms();
		}
	}
	if (closing)
		mark_dead(s, "closed by this node (%s)", s->close_text);
out:
	if (sd != NULL) {
		for (size_t i = 0; i < LINK_RX_MAX; i++)
			if (sd->x[i].used)
				xfer_drop(sd, &sd->x[i], 1);
		free(sd->tmp);
		free(sd);
	}
	free(plain);
	free(w.ct);
	return NULL;
}

/* ---------------------------------------------------- receiving half */

struct rx {
	int used;
	int skipping; /* refused: drop its CHUNKs and END */
	int claimed;  /* link_rx_claim'd */
	struct ferry_msg msg;
	uint64_t off, next_resume;
	struct store_writer *w;
	uint8_t *buf; /* inline payload */
	HASH_STATE hs;
	/* A resumed payload's stored prefix is hashed on a thread of its
	 * own (rx_hash_main), so that the reader goes on reading records
	 * meanwhile (minutes, for GiB on a slow disk).  hs belongs to that
	 * thread until hash_done (atomic); the sender sends no CHUNK of it
	 * before the RESUME the thread queues when it is done. */
	pthread_t hasher;
	int hasher_started;
	int hash_done, hash_cancel; /* atomic */
	struct store_reader *hash_rd;
	struct session *s;
};

struct receiver {
	struct session *s;
	struct rx rx[LINK_RX_MAX];
};

/* An async put of a received message, freed by its callback. */
struct rx_put {
	struct store_put_req req;
	struct ferry_msg msg;
	struct session *s;
	uint8_t payload[];
};

/* Remember id among the last LINK_RECENT_MAX taken from this peer. */
static void
recent_add(struct session *s, const uint8_t *id)
{
	struct lpeer *p = s->peer;

	pthread_mutex_lock(&s->lk->mu);
	memcpy(p->recent[p->recent_head], id, FERRY_ID_LEN);
	p->recent_head = (p->recent_head + 1) % LINK_RECENT_MAX;
	if (p->nrecent < LINK_RECENT_MAX)
		p->nrecent++;
	pthread_mutex_unlock(&s->lk->mu);
}

static void
push_custody(struct session *s, const uint8_t *id)
{
	/* under s->mu */
	if (s->ncust < s->cust_cap) {
		memcpy(s->cust + s->ncust * FERRY_ID_LEN, id, FERRY_ID_LEN);
		s->ncust++;
	}
	pthread_cond_broadcast(&s->cv);
}

static void
put_done(int result, void *arg)
{
	struct rx_put *p = arg;
	struct session *s = p->s;
	/* EBUSY: the id's payload is being freed after an ack here, so it
	 * was stored (and delivered) before: the peer may drop it. */
	int ok =
	    result == 0 || result == FERRY_EDUPLICATE || result == FERRY_EBUSY;

	/* Everything that touches s (or its link and peer) happens before
	 * async drops: at 0, session_run may free s at once. */
	if (result == 0) {
		pthread_mutex_lock(&s->lk->mu);
		s->peer->msgs_in++;
		pthread_mutex_unlock(&s->lk->mu);
		if (p->msg.flags & FERRY_MSG_RECEIPT)
			link_kick(s->lk, p->msg.src_node, FERRY_PRIO_MAX - 1);
		if (s->lk->on_local != NULL)
			s->lk->on_local(p->msg.dst_queue, s->lk->arg);
	} else if (!ok)
		log_warn("peer %s: message not stored: %s", s->peer->cfg.name,
			 ferry_strerror(result));
	if (ok)
		recent_add(s, p->msg.id);
	pthread_mutex_lock(&s->mu);
	if (ok)
		push_custody(s, p->msg.id);
	else if (!s->dead) {
		/* Not stored: no custody; the peer sends it again in a
		 * later session.  A full store ends this one. */
		s->want_close = 1;
		s->close_code = HOP_CLOSE_BUSY;
		snprintf(s->close_text, sizeof(s->close_text),
			 "cannot store: %s", ferry_strerror(result));
	}
	s->rx_pending -= p->msg.payload_len + sizeof(*p);
	s->async--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	free(p);
}

struct custody_arg {
	struct session *s;
	uint8_t id[FERRY_ID_LEN];
};

static void
custody_done(int result, void *arg)
{
	struct custody_arg *ca = arg;
	struct session *s = ca->s;

	/* ENOTFOUND: handed over already (a duplicate receipt).  Only now
	 * may the id leave the held set: before the commit the message is
	 * still in the forwarding order and would be picked again. */
	if (result == 0) {
		pthread_mutex_lock(&s->lk->mu);
		s->peer->msgs_out++;
		pthread_mutex_unlock(&s->lk->mu);
	}
	/* The last touch of s: at async 0, session_run may free it. */
	pthread_mutex_lock(&s->mu);
	held_forget(s, ca->id);
	s->async--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	free(ca);
}

/* The peer holds id: drop our copy (async), then forget it. */
static int
take_custody_receipt(struct session *s, const uint8_t *id)
{
	struct custody_arg *ca;
	struct idnode *n;
	int rc;

	pthread_mutex_lock(&s->mu);
	/* Bounded: a peer cannot queue store operations without limit. */
	while (!s->dead && s->async >= LINK_ASYNC_MAX)
		pthread_cond_wait(&s->cv, &s->mu);
	n = idset_find(s->held, id);
	if (n != NULL && n->custody) {
		pthread_mutex_unlock(&s->mu);
		return 0; /* a duplicate receipt */
	}
	if (n == NULL) {
		/* Not sent in this session: a receipt replayed from an
		 * earlier one (lost with its link).  Held until the commit,
		 * so that the forwarding walk skips it meanwhile; the store
		 * checks the message is this peer's (else: ENOTFOUND or
		 * ESTATE, and nothing happens). */
		if (idset_add(s->held, id) != 0 ||
		    (n = idset_find(s->held, id)) == NULL) {
			pthread_mutex_unlock(&s->mu);
			return FERRY_ENOMEM;
		}
	}
	n->custody = 1;
	s->async++;
	pthread_mutex_unlock(&s->mu);
	ca = malloc(sizeof(*ca));
	rc = ca == NULL ? FERRY_ENOMEM : 0;
	if (ca != NULL) {
		ca->s = s;
		memcpy(ca->id, id, FERRY_ID_LEN);
		rc = store_out_custody_async(s->lk->st, id, s->peer->cfg.name,
					     custody_done, ca);
	}
	if (rc != 0) {
		free(ca);
		pthread_mutex_lock(&s->mu);
		s->async--;
		held_forget(s, id);
		pthread_mutex_unlock(&s->mu);
	}
	return rc;
}

static void
send_refuse(struct session *s, const uint8_t *id, uint8_t reason,
	    uint64_t offset)
{
	pthread_mutex_lock(&s->mu);
	while (!s->dead &&
	       s->nrefuse == sizeof(s->refuse) / sizeof(s->refuse[0]))
		pthread_cond_wait(&s->cv, &s->mu);
	if (!s->dead) {
		struct hop_refuse *r = &s->refuse[s->nrefuse++];
		memcpy(r->id, id, FERRY_ID_LEN);
		r->reason = reason;
		r->offset = offset;
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Stop and join r's prefix hasher, if it runs. */
static void
rx_hash_stop(struct rx *r)
{
	if (!r->hasher_started)
		return;
	__atomic_store_n(&r->hash_cancel, 1, __ATOMIC_RELEASE);
	pthread_join(r->hasher, NULL);
	r->hasher_started = 0;
}

/* 1 while r's prefix is still being hashed: no CHUNK or END may come. */
static int
rx_hashing(struct rx *r)
{
	return r->hasher_started &&
	       !__atomic_load_n(&r->hash_done, __ATOMIC_ACQUIRE);
}

static void
rx_clear(struct session *s, struct rx *r, int keep)
{
	rx_hash_stop(r); /* before its writer goes: it reads the prefix */
	if (r->w != NULL) {
		int rc = 0;
		if (keep)
			rc = store_writer_suspend(r->w);
		else
			store_writer_abort(r->w);
		if (rc != 0)
			log_warn("peer %s: keeping a partial message failed: "
				 "%s",
				 s->peer->cfg.name, ferry_strerror(rc));
		r->w = NULL;
	}
	if (r->claimed)
		link_rx_release(s->lk, r->msg.id);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static struct rx *
rx_find(struct receiver *rv, const uint8_t *id)
{
	for (size_t i = 0; i < LINK_RX_MAX; i++)
		if (rv->rx[i].used &&
		    memcmp(rv->rx[i].msg.id, id, FERRY_ID_LEN) == 0)
			return &rv->rx[i];
	return NULL;
}

/* The receiver's answer to a store error: ends the session for errors of
 * this node (full disk), refuses for errors of the message. */
static int
rx_store_error(struct session *s, const char *hex, int rc)
{
	log_warn("peer %s: cannot store message %s: %s", s->peer->cfg.name, hex,
		 ferry_strerror(rc));
	session_kill(s, HOP_CLOSE_BUSY, "cannot store now");
	return rc;
}

/* Queue a RESUME for the writer; must: wait for room (an answer the
 * sender waits for), else drop it when the queue is full (a hint). */
static void
queue_resume(struct session *s, const uint8_t *id, uint64_t off, int must)
{
	pthread_mutex_lock(&s->mu);
	while (must && !s->dead &&
	       s->nresume == sizeof(s->resume) / sizeof(s->resume[0]))
		pthread_cond_wait(&s->cv, &s->mu);
	if (!s->dead && s->nresume < sizeof(s->resume) / sizeof(s->resume[0])) {
		struct hop_resume *h = &s->resume[s->nresume++];
		memcpy(h->id, id, FERRY_ID_LEN);
		h->offset = off;
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Refuse the MSG in r.  A large payload's sender waits for our RESUME
 * and sends nothing more of it after a REFUSE, so its slot is free at
 * once; a small one's CHUNKs and END are on their way: skip them. */
static void
rx_refuse(struct session *s, struct rx *r, uint8_t reason)
{
	send_refuse(s, r->msg.id, reason, 0);
	if (r->msg.payload_len > LINK_INLINE_MAX)
		rx_clear(s, r, 0);
	else
		r->skipping = 1;
}

/* Hash the stored prefix of a resumed payload (r->off bytes), then
 * queue the RESUME the sender waits for. */
static void *
rx_hash_main(void *arg)
{
	struct rx *r = arg;
	struct session *s = r->s;
	uint8_t *tmp = malloc(STORE_CHUNK_BYTES);
	uint64_t done = 0;
	int rc = tmp == NULL ? FERRY_ENOMEM : 0;

	while (rc == 0 && done < r->off) {
		size_t n;
		if (__atomic_load_n(&r->hash_cancel, __ATOMIC_ACQUIRE)) {
			rc = FERRY_ECLOSED;
			break;
		}
		rc = store_reader_read(r->hash_rd, tmp, STORE_CHUNK_BYTES, &n);
		if (rc == 0 && n == 0)
			rc = FERRY_ECORRUPT;
		if (rc == 0) {
			crypto_generichash_update(&r->hs, tmp, n);
			done += n;
		}
	}
	store_reader_close(r->hash_rd);
	r->hash_rd = NULL;
	free(tmp);
	__atomic_store_n(&r->hash_done, 1, __ATOMIC_RELEASE);
	if (rc == 0) {
		queue_resume(s, r->msg.id, r->off, 1);
	} else if (rc != FERRY_ECLOSED) {
		char hex[FERRY_ID_HEX_LEN + 1];
		ferry_id_to_hex(r->msg.id, hex);
		(void)rx_store_error(s, hex, rc);
	}
	return NULL;
}

static int
on_msg(struct receiver *rv, const struct hop_frame *f)
{
	struct session *s = rv->s;
	struct intake_node me;
	struct hop_msg hm;
	const char *why = NULL;
	char hex[FERRY_ID_HEX_LEN + 1];
	struct rx *r;
	int rc;

	if (hop_msg_decode(f, &hm, &why) != 0) {
		mark_dead(s, "bad MSG frame: %s", why);
		return FERRY_EPROTO;
	}
	ferry_id_to_hex(hm.msg.id, hex);
	r = rx_find(rv, hm.msg.id);
	if (r != NULL)
		rx_clear(s, r, 1); /* the sender starts it again */
	for (size_t i = 0; i < LINK_RX_MAX && r == NULL; i++)
		if (!rv->rx[i].used)
			r = &rv->rx[i];
	if (r == NULL) {
		mark_dead(s, "more than %d messages at once", LINK_RX_MAX);
		return FERRY_EPROTO;
	}
	r->used = 1;
	r->msg = hm.msg;
	/* A TTL beyond LINK_TTL_MAX_MS (a century) means "never": no clock
	 * arithmetic may overflow on a peer's number. */
	r->msg.expires_ms = hm.ttl_ms != 0 && hm.ttl_ms <= LINK_TTL_MAX_MS
				? link_now_ms() + (int64_t)hm.ttl_ms
				: 0;
	me.name = s->lk->node;
	me.max_message = s->lk->max_message_bytes;
	switch (intake_msg(&me, s->peer->cfg.name, &hm.msg, &why)) {
	case INTAKE_OK:
		break;
	case INTAKE_FORGED:
		/* Never done by a ferry peer: a protocol violation. */
		log_warn("peer %s: message %s refused: %s (it claims %s)",
			 s->peer->cfg.name, hex, why, hm.msg.src_node);
		r->used = 0;
		mark_dead(s, "MSG %s claims another source", hex);
		return FERRY_EPROTO;
	case INTAKE_TOO_BIG:
		log_warn("peer %s: message %s for %s/%s refused: %s",
			 s->peer->cfg.name, hex, hm.msg.dst_node,
			 hm.msg.dst_queue, why);
		rx_refuse(s, r, HOP_REFUSE_TOO_BIG);
		return 0;
	default:
		if (strcmp(hm.msg.dst_node, s->lk->node) == 0)
			log_warn("peer %s: message %s for %s/%s refused: %s",
				 s->peer->cfg.name, hex, hm.msg.dst_node,
				 hm.msg.dst_queue, why);
		rx_refuse(s, r, HOP_REFUSE_NO_ROUTE);
		return 0;
	}
	crypto_generichash_init(&r->hs, NULL, 0, HOP_HASH_LEN);
	if (hm.msg.payload_len <= LINK_INLINE_MAX) {
		if (hm.offset != 0) {
			/* Small ones are never kept in part: from 0. */
			r->skipping = 1;
			send_refuse(s, hm.msg.id, HOP_REFUSE_PARTIAL, 0);
			return 0;
		}
		r->buf = malloc(hm.msg.payload_len ? hm.msg.payload_len : 1);
		if (r->buf == NULL) {
			mark_dead(s, "out of memory");
			return FERRY_ENOMEM;
		}
		return 0;
	}
	if (link_rx_claim(s->lk, hm.msg.id) != 0) {
		log_info("peer %s: message %s is still being received by "
			 "another session: asked to send it again later",
			 s->peer->cfg.name, hex);
		rx_refuse(s, r, HOP_REFUSE_BUSY);
		return 0;
	}
	r->claimed = 1;
	uint64_t have = 0;
	rc = store_writer_resume(s->lk->st, hm.msg.id, &r->w, &have);
	if (rc == FERRY_ENOTFOUND) {
		have = 0;
		rc = store_writer_open(s->lk->st, &r->msg, &r->w);
	}
	if (rc == FERRY_EDUPLICATE) {
		recent_add(s, hm.msg.id);
		rx_refuse(s, r, HOP_REFUSE_HAVE);
		return 0;
	}
	if (rc == FERRY_EBUSY) {
		/* Another transfer (a bundle being imported) owns its
		 * partial: one writer per message (store.h). */
		log_info("peer %s: message %s is being stored from another "
			 "transfer: asked to send it again later",
			 s->peer->cfg.name, hex);
		rx_refuse(s, r, HOP_REFUSE_BUSY);
		return 0;
	}
	if (rc != 0)
		return rx_store_error(s, hex, rc);
	if (have > hm.msg.payload_len) {
		/* The MSG says shorter than what is stored: not the same
		 * message, or a hostile peer. */
		if (store_writer_suspend(r->w) != 0)
			log_debug("peer %s: partial %s kept", s->peer->cfg.name,
				  hex);
		r->w = NULL;
		mark_dead(s, "MSG %s shorter than its stored part", hex);
		return FERRY_EPROTO;
	}
	r->off = have;
	r->next_resume = have + LINK_RESUME_EVERY;
	if (have > 0) {
		/* Resumed: the hash must cover the prefix stored earlier;
		 * a thread reads it and then queues the RESUME. */
		rc = store_writer_prefix(r->w, &r->hash_rd);
		if (rc != 0)
			return rx_store_error(s, hex, rc);
		r->s = s;
		if (pthread_create(&r->hasher, NULL, rx_hash_main, r) != 0) {
			store_reader_close(r->hash_rd);
			r->hash_rd = NULL;
			mark_dead(s, "cannot start a thread");
			return FERRY_ENOMEM;
		}
		r->hasher_started = 1;
		log_info("peer %s: resuming message %s at %llu of %llu bytes",
			 s->peer->cfg.name, hex, (unsigned long long)have,
			 (unsigned long long)hm.msg.payload_len);
		return 0;
	}
	/* The answer the sender waits for: go on from what is durable here
	 * (0 for a new message), whatever offset its MSG proposed. */
	queue_resume(s, hm.msg.id, have, 1);
	return 0;
}

static int
on_chunk(struct receiver *rv, const struct hop_frame *f)
{
	struct session *s = rv->s;
	struct hop_chunk c;
	const char *why = NULL;
	struct rx *r;
	int rc;

	if (hop_chunk_decode(f, &c, &why) != 0) {
		mark_dead(s, "bad CHUNK frame: %s", why);
		return FERRY_EPROTO;
	}
	r = rx_find(rv, c.id);
	if (r == NULL) {
		mark_dead(s, "CHUNK of a message not announced");
		return FERRY_EPROTO;
	}
	if (r->skipping)
		return 0;
	if (rx_hashing(r)) {
		mark_dead(s, "CHUNK before the RESUME it must wait for");
		return FERRY_EPROTO;
	}
	if (c.offset != r->off || c.len > r->msg.payload_len - r->off) {
		mark_dead(s, "CHUNK out of place");
		return FERRY_EPROTO;
	}
	crypto_generichash_update(&r->hs, c.data, c.len);
	if (r->buf != NULL) {
		memcpy(r->buf + r->off, c.data, c.len);
	} else if ((rc = store_writer_write(r->w, c.data, c.len)) != 0) {
		char hex[FERRY_ID_HEX_LEN + 1];
		ferry_id_to_hex(c.id, hex);
		/* Keep what is durable (the writer failed: suspend only
		 * frees it), so a later session resumes there. */
		if (store_writer_suspend(r->w) != 0)
			log_debug("peer %s: partial %s kept at its last "
				  "durable offset",
				  s->peer->cfg.name, hex);
		r->w = NULL;
		r->skipping = 1;
		return rx_store_error(s, hex, rc);
	}
	r->off += c.len;
	if (r->w != NULL && r->off >= r->next_resume) {
		/* A hint for the sender's resume point (dropped when the
		 * queue is full: the next one will do). */
		r->next_resume = r->off + LINK_RESUME_EVERY;
		queue_resume(s, c.id, r->off, 0);
	}
	return 0;
}

static int
on_end(struct receiver *rv, const struct hop_frame *f)
{
	struct session *s = rv->s;
	struct hop_end e;
	const char *why = NULL;
	uint8_t hash[HOP_HASH_LEN];
	char hex[FERRY_ID_HEX_LEN + 1];
	struct rx *r;
	int rc;

	if (hop_end_decode(f, &e, &why) != 0) {
		mark_dead(s, "bad END frame: %s", why);
		return FERRY_EPROTO;
	}
	r = rx_find(rv, e.id);
	if (r == NULL) {
		mark_dead(s, "END of a message not announced");
		return FERRY_EPROTO;
	}
	if (r->skipping) {
		rx_clear(s, r, 1);
		return 0;
	}
	if (rx_hashing(r)) {
		mark_dead(s, "END before the RESUME it must wait for");
		return FERRY_EPROTO;
	}
	ferry_id_to_hex(e.id, hex);
	crypto_generichash_final(&r->hs, hash, HOP_HASH_LEN);
	if (e.total_len != r->msg.payload_len || r->off != e.total_len ||
	    sodium_memcmp(hash, e.hash, HOP_HASH_LEN) != 0) {
		log_error("peer %s: message %s arrived damaged (length or "
			  "hash differs): discarded, it will be sent again",
			  s->peer->cfg.name, hex);
		rx_clear(s, r, 0);
		mark_dead(s, "payload hash mismatch");
		return FERRY_ECORRUPT;
	}
	if (r->buf != NULL) {
		struct rx_put *p;
		size_t need = sizeof(*p) + (size_t)r->msg.payload_len;
		pthread_mutex_lock(&s->mu);
		while (!s->dead && s->rx_pending + need > LINK_RX_PENDING_MAX &&
		       s->rx_pending > 0)
			pthread_cond_wait(&s->cv, &s->mu);
		pthread_mutex_unlock(&s->mu);
		p = malloc(need);
		if (p == NULL) {
			mark_dead(s, "out of memory");
			return FERRY_ENOMEM;
		}
		p->msg = r->msg;
		p->s = s;
		memcpy(p->payload, r->buf, (size_t)r->msg.payload_len);
		p->req.msg = &p->msg;
		p->req.payload = p->payload;
		p->req.len = (size_t)r->msg.payload_len;
		pthread_mutex_lock(&s->mu);
		s->async++;
		s->rx_pending += need;
		pthread_mutex_unlock(&s->mu);
		rc = store_put_async(s->lk->st, &p->req, put_done, p);
		if (rc != 0) {
			pthread_mutex_lock(&s->mu);
			s->async--;
			s->rx_pending -= need;
			pthread_mutex_unlock(&s->mu);
			free(p);
			rx_clear(s, r, 0);
			return rx_store_error(s, hex, rc);
		}
		rx_clear(s, r, 0);
		return 0;
	}
	rc = store_writer_commit(r->w);
	r->w = NULL; /* commit frees it */
	if (rc != 0 && rc != FERRY_EDUPLICATE) {
		rx_clear(s, r, 0);
		return rx_store_error(s, hex, rc);
	}
	log_info("peer %s: received message %s (%llu bytes) for %s",
		 s->peer->cfg.name, hex, (unsigned long long)r->msg.payload_len,
		 r->msg.dst_queue);
	recent_add(s, e.id);
	pthread_mutex_lock(&s->mu);
	push_custody(s, e.id);
	pthread_mutex_unlock(&s->mu);
	if (rc == 0) {
		pthread_mutex_lock(&s->lk->mu);
		s->peer->msgs_in++;
		pthread_mutex_unlock(&s->lk->mu);
		if (r->msg.flags & FERRY_MSG_RECEIPT)
			link_kick(s->lk, r->msg.src_node, FERRY_PRIO_MAX - 1);
		if (s->lk->on_local != NULL)
			s->lk->on_local(r->msg.dst_queue, s->lk->arg);
	}
	rx_clear(s, r, 0);
	return 0;
}

/* One decrypted record; 1 when the peer closed the session. */
static int
on_record(struct receiver *rv, const uint8_t *rec, size_t len, int *rekey)
{
	struct session *s = rv->s;
	struct hop_frame f;
	size_t off = 0;
	const char *why = NULL;
	int rc;

	while ((rc = hop_record_next(rec, len, &off, &f)) == 1) {
		switch (f.type) {
		case HOP_MSG:
			rc = on_msg(rv, &f);
			break;
		case HOP_CHUNK:
			rc = on_chunk(rv, &f);
			break;
		case HOP_END:
			rc = on_end(rv, &f);
			break;
		case HOP_CUSTODY: {
			struct hop_custody c;
			if (hop_custody_decode(&f, &c, &why) != 0) {
				mark_dead(s, "bad CUSTODY frame: %s", why);
				return FERRY_EPROTO;
			}
			for (size_t i = 0; i < c.count; i++)
				(void)take_custody_receipt(
				    s, c.ids + i * FERRY_ID_LEN);
			rc = 0;
			break;
		}
		case HOP_REFUSE: {
			struct hop_refuse r;
			if (hop_refuse_decode(&f, &r, &why) != 0) {
				mark_dead(s, "bad REFUSE frame: %s", why);
				return FERRY_EPROTO;
			}
			if (r.reason == HOP_REFUSE_HAVE &&
			    (rc = take_custody_receipt(s, r.id)) != 0)
				break;
			pthread_mutex_lock(&s->mu);
			while (!s->dead &&
			       s->npeer_refuse == sizeof(s->peer_refuse) /
						      sizeof(s->peer_refuse[0]))
				pthread_cond_wait(&s->cv, &s->mu);
			if (!s->dead)
				s->peer_refuse[s->npeer_refuse++] = r;
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
			rc = 0;
			break;
		}
		case HOP_RESUME: {
			struct hop_resume r;
			if (hop_resume_decode(&f, &r, &why) != 0) {
				mark_dead(s, "bad RESUME frame: %s", why);
				return FERRY_EPROTO;
			}
			/* The writer acts on it (apply_resume). */
			pthread_mutex_lock(&s->mu);
			while (!s->dead &&
			       s->npeer_go ==
				   sizeof(s->peer_go) / sizeof(s->peer_go[0]))
				pthread_cond_wait(&s->cv, &s->mu);
			if (!s->dead)
				s->peer_go[s->npeer_go++] = r;
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
			rc = 0;
			break;
		}
		case HOP_KEEPALIVE: {
			struct hop_keepalive k;
			rc = hop_keepalive_decode(&f, &k, &why);
			if (rc != 0) {
				mark_dead(s, "bad KEEPALIVE frame: %s", why);
				return FERRY_EPROTO;
			}
			break;
		}
		case HOP_REKEY:
			if (hop_rekey_decode(&f, &why) != 0) {
				mark_dead(s, "bad REKEY frame: %s", why);
				return FERRY_EPROTO;
			}
			*rekey = 1;
			rc = 0;
			break;
		case HOP_CLOSE: {
			struct hop_close c;
			if (hop_close_decode(&f, &c, &why) != 0) {
				mark_dead(s, "bad CLOSE frame: %s", why);
				return FERRY_EPROTO;
			}
			mark_dead(s, "closed by the peer (code %u%s%s)", c.code,
				  c.text[0] ? ": " : "", c.text);
			return 1;
		}
		default:
			mark_dead(s, "unexpected %s frame",
				  hop_type_name(f.type));
			return FERRY_EPROTO;
		}
		if (rc != 0)
			return rc;
	}
	if (rc != 0) {
		mark_dead(s, "malformed record");
		return FERRY_EPROTO;
	}
	return 0;
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
	s->held = calloc(1, sizeof(*s->held));
	if (s->cust == NULL || s->held == NULL ||
	    pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s->cust);
		free(s->held);
		free(s);
		return NULL;
	}
	if (pthread_cond_init(&s->cv, NULL) != 0) {
		pthread_mutex_destroy(&s->mu);
		free(s->cust);
		free(s->held);
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
	s->keepalive_ms = (uint32_t)s->peer->cfg.keepalive_ms;
	if (h.keepalive_ms != 0 &&
	    (s->keepalive_ms == 0 || h.keepalive_ms < s->keepalive_ms))
		s->keepalive_ms = h.keepalive_ms;
	int64_t skew = h.clock_ms - link_now_ms();
	if (skew > 300000 || skew < -300000)
		log_warn("peer %s: its clock is %lld s %s ours (TTLs travel "
			 "as time left, so nothing breaks)",
			 s->peer->cfg.name, (long long)(skew / 1000),
			 skew > 0 ? "ahead of" : "behind");
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
	struct receiver *rv = calloc(1, sizeof(*rv));
	struct rdbuf rb = {0};
	uint8_t *plain = malloc(HOP_PLAIN_MAX);
	pthread_t wt;
	int has_writer = 0, rc, attached = 0;

	rb.cap = 2 * (2 + HOP_RECORD_MAX);
	rb.p = malloc(rb.cap);
	s->rate = s->peer->cfg.rate_bytes_per_s;
	s->keepalive_ms = LINK_HANDSHAKE_MS;
	s->plain_max = HOP_PLAIN_MAX;
	s->last_rx_mono = s->last_tx_mono = link_mono_ms();
	if (rv == NULL || plain == NULL || rb.p == NULL) {
		log_error("peer %s: out of memory", s->peer->cfg.name);
		goto out;
	}
	rv->s = s;
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
		size_t k = (s->peer->recent_head + LINK_RECENT_MAX -
			    s->peer->nrecent + i) %
			   LINK_RECENT_MAX;
		memcpy(s->cust + s->ncust * FERRY_ID_LEN, s->peer->recent[k],
		       FERRY_ID_LEN);
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
	if (rv != NULL)
		for (size_t i = 0; i < LINK_RX_MAX; i++)
			if (rv->rx[i].used)
				rx_clear(s, &rv->rx[i], 1);
	/* Store callbacks still hold s. */
	pthread_mutex_lock(&s->mu);
	while (s->async > 0)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
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
		link_detach(s->lk, s);
	} else if (s->hs_quiet) {
		/* link_hs_failed said why */
	} else if (alarming(s->why))
		log_warn("peer %s (%s): session not started: %s",
			 s->peer->cfg.name, s->addr, s->why);
	else
		log_info("peer %s (%s): session not started: %s",
			 s->peer->cfg.name, s->addr, s->why);
	free(rb.p);
	free(plain);
	free(rv);
	link_untrack(s->lk, s);
	session_free(s);
}
