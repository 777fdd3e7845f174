/*
 * tcp_send.c - the sending half of a TCP hop session (docs/session.md):
 * the writer thread picks messages for the peer in forwarding order,
 * interleaves at most LINK_SENDING_MAX payloads record by record, acts on
 * the peer's REFUSE and RESUME, and sends what the receiving half asks for
 * (CUSTODY, REFUSE, RESUME).
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

#include "agent/engine.h"
#include "agent/intake.h"
#include "agent/log.h"
#include "transports/tcp_int.h"

#define HASH_STATE crypto_generichash_state

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
	/* Cut-through (a local payload still being written: link_cut):
	 * read through the tap at rpos instead of rd; END only once the tap
	 * says the local commit is done. */
	struct store_tap *tap;
	uint64_t rpos;
	int whole_seen; /* the tap said WHOLE: claimed then */

	/* CHUNKZ: 0 to sample, 1 on, -1 sent plain; and zstd bytes per
	 * 1,000 payload bytes so far. */
	int zmode;
	unsigned zpermille;
	struct store_reader *rd;
	int hash; /* hs kept: for END (not sent whole from 0, or an older
		     peer: HOP_FEAT_RESUMEHASH) */
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

	struct hop_zstd *z; /* CHUNKZ: made on first use */
	/* Refused "busy": held (not offered) until their time comes. */
	struct later {
		uint8_t id[FERRY_ID_LEN];
		int64_t at; /* ferry_mono_ms() */
		int prio;
	} later[2 * LINK_RX_MAX];
	size_t nlater;
};

/* The engine's filter: what this session holds already (being sent, or
 * custody pending) is not picked again, nor what the peer has no room
 * for yet (tcp_full.c). */
static int
held_here(const struct store_msg_info *i, void *arg)
{
	struct session *s = arg;
	int held;

	pthread_mutex_lock(&s->mu);
	held = idset_has(s->held, i->msg.id);
	pthread_mutex_unlock(&s->mu);
	return held || link_full_holds(s->lk, s->peer, &i->msg);
}

static int
refill(struct sender *sd)
{
	struct engine_filter f = {sd->s->peer->cfg.name, 0, ferry_wall_ms(),
				  held_here, sd->s};
	int rc;

	sd->icand = 0;
	rc = engine_next(sd->s->lk->st, &f, &sd->pos, sd->cand,
			 sizeof(sd->cand) / sizeof(sd->cand[0]), &sd->ncand);
	if (rc != 0)
		return rc;
	sd->exhausted = sd->ncand == 0;
	return 0;
}

/* Payload bytes of x at its read position: the stored message's, or what
 * its tap has written so far (*n = 0 at the end of either). */
static int
src_read(struct xfer *x, void *buf, size_t cap, size_t *n)
{
	int rc;

	if (x->tap == NULL)
		return store_reader_read(x->rd, buf, cap, n);
	rc = store_tap_read(x->tap, x->rpos, buf, cap, n);
	if (rc == 0)
		x->rpos += *n;
	return rc;
}

static int
src_seek(struct xfer *x, uint64_t off)
{
	if (x->tap == NULL)
		return store_reader_seek(x->rd, off);
	x->rpos = off;
	return 0;
}

/* How far x's payload can be read now: all of it, or for a tap the
 * bytes written so far. */
static uint64_t
src_avail(struct xfer *x)
{
	uint64_t len = x->info.msg.payload_len, avail;

	if (x->tap == NULL)
		return len;
	if (store_tap_state(x->tap, &avail) == STORE_TAP_WHOLE)
		return len;
	return avail < len ? avail : len;
}

/* The tap's writer thread: more bytes, or the end (under the tap's lock;
 * the session outlives it: xfer_drop stops it first). */
static void
cut_wake(void *arg)
{
	struct session *s = arg;

	pthread_mutex_lock(&s->mu);
	s->cut_news = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void
xfer_drop(struct sender *sd, struct xfer *x, int release)
{
	struct session *s = sd->s;

	store_reader_close(x->rd);
	x->rd = NULL;
	if (x->tap != NULL) {
		store_tap_watch(x->tap, NULL, NULL);
		store_tap_unref(x->tap);
		x->tap = NULL;
	}
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
	/* From 0, to a peer that checks END's hash only after a resume:
	 * no hash (the session's AEAD covers every byte sent). */
	int hash = off > 0 || !(sd->s->peer_features & HOP_FEAT_RESUMEHASH);
	int rc;

	if (x->rd == NULL && x->tap == NULL) {
		rc = store_reader_open(sd->s->lk->st, x->info.msg.id, &x->rd);
		if (rc != 0)
			return rc;
		crypto_generichash_init(&x->hs, NULL, 0, HOP_HASH_LEN);
		x->off = 0;
	} else if (off < x->off || (hash && !x->hash)) {
		if ((rc = src_seek(x, 0)) != 0)
			return rc;
		crypto_generichash_init(&x->hs, NULL, 0, HOP_HASH_LEN);
		x->off = 0;
	}
	x->hash = hash;
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

/* Hash x on towards its seek_to, at most *budget bytes; 0 or an error.
 * A tap's bytes not written yet are waited for (the tap wakes us). */
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
		rc = src_read(x, sd->tmp, want, &n);
		if (rc != 0)
			return rc;
		if (n == 0 && x->tap != NULL)
			return 0;
		if (n == 0)
			return FERRY_ECORRUPT;
		crypto_generichash_update(&x->hs, sd->tmp, n); /* off > 0 */
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
	int64_t now = ferry_wall_ms();
	int rc, probe;

	if (x == NULL)
		return FERRY_EBUSY;
	memset(x, 0, sizeof(*x));
	x->info = *info;
	if (info->msg.expires_ms != 0) {
		if (info->msg.expires_ms <= now)
			return FERRY_ESTATE;
		x->ttl_ms = (uint64_t)(info->msg.expires_ms - now);
	}
	probe = link_full_concerns(s->lk, s->peer, &info->msg);
	pthread_mutex_lock(&s->mu);
	rc = idset_add(s->held, info->msg.id);
	if (rc == 0 && probe) {
		struct idnode *n = idset_find(s->held, info->msg.id);
		if (n != NULL)
			n->probe = 1;
	}
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

/* A tap's transfer has something to send: bytes not sent yet, or its END
 * (once the local commit is done). */
static int
cut_ready(struct xfer *x)
{
	uint64_t avail;
	int state = store_tap_state(x->tap, &avail);

	if (x->off < x->info.msg.payload_len)
		return state == STORE_TAP_WHOLE || avail > x->off;
	return state == STORE_TAP_WHOLE;
}

/* The most urgent transfer, oldest first among equals. */
static struct xfer *
xfer_pick(struct sender *sd)
{
	struct xfer *best = NULL;

	for (size_t i = 0; i < LINK_RX_MAX; i++) {
		struct xfer *x = &sd->x[i];
		if (!x->used || x->wait_go || x->seeking ||
		    (x->tap != NULL && !x->need_msg && !cut_ready(x)))
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

/*
 * Cut-through (docs/session.md §4): start sending t's payload, a local
 * message still being written, if a transfer slot is free as start_more
 * would use it; else it goes the usual way once committed.  Takes the
 * offer's reference.
 */
static void
cut_start(struct sender *sd, struct store_tap *t)
{
	struct session *s = sd->s;
	const struct store_msg_info *info = store_tap_info(t);
	struct xfer *x = xfer_slot(sd);
	int64_t now = ferry_wall_ms();
	uint64_t avail;
	int minprio, held, rc;
	size_t n = nsending(sd, &minprio), window;
	char hex[FERRY_ID_HEX_LEN + 1];

	pthread_mutex_lock(&s->mu);
	window = s->window;
	held = idset_has(s->held, info->msg.id);
	pthread_mutex_unlock(&s->mu);
	if (x == NULL || held || n >= LINK_RX_MAX ||
	    window + n >= LINK_WINDOW ||
	    (n >= LINK_SENDING_MAX && info->msg.priority <= minprio) ||
	    store_tap_state(t, &avail) != STORE_TAP_STREAMING ||
	    (info->msg.expires_ms != 0 && info->msg.expires_ms <= now)) {
		store_tap_unref(t);
		return;
	}
	memset(x, 0, sizeof(*x));
	x->info = *info;
	if (info->msg.expires_ms != 0)
		x->ttl_ms = (uint64_t)(info->msg.expires_ms - now);
	pthread_mutex_lock(&s->mu);
	rc = idset_add(s->held, info->msg.id);
	pthread_mutex_unlock(&s->mu);
	if (rc != 0) {
		store_tap_unref(t);
		return;
	}
	x->used = 1;
	x->seq = sd->next_seq++;
	x->tap = t;
	crypto_generichash_init(&x->hs, NULL, 0, HOP_HASH_LEN);
	(void)xfer_seek(sd, x, 0, 1); /* a tap's: no reader to open */
	store_tap_watch(t, cut_wake, s);
	ferry_id_to_hex(info->msg.id, hex);
	log_debug("peer %s: message %s goes while it is written here "
		  "(cut-through, %llu bytes)",
		  s->peer->cfg.name, hex,
		  (unsigned long long)info->msg.payload_len);
}

/* The tap transfers' news: one whose local commit is done is claimed as
 * any large message (`ferry status`); one whose local sender stopped
 * before the end is given up.  0, or FERRY_ECLOSED when a given-up
 * transfer had begun: the session must end, so that the peer stops
 * waiting for its bytes and keeps what it has as a partial. */
static int
cuts_step(struct sender *sd)
{
	struct session *s = sd->s;

	for (size_t i = 0; i < LINK_RX_MAX; i++) {
		struct xfer *x = &sd->x[i];
		uint64_t avail;
		int state, rc;
		char hex[FERRY_ID_HEX_LEN + 1];

		if (!x->used || x->tap == NULL)
			continue;
		state = store_tap_state(x->tap, &avail);
		ferry_id_to_hex(x->info.msg.id, hex);
		if (state == STORE_TAP_GONE) {
			int begun = !x->need_msg;
			pthread_mutex_lock(&s->mu);
			held_forget(s, x->info.msg.id);
			pthread_mutex_unlock(&s->mu);
			xfer_drop(sd, x, 0);
			if (begun) {
				mark_dead(s,
					  "message %s was being sent while it "
					  "was written here, and its local "
					  "sender stopped before the end",
					  hex);
				return FERRY_ECLOSED;
			}
			continue;
		}
		if (state == STORE_TAP_WHOLE && !x->whole_seen) {
			x->whole_seen = 1;
			rc = store_out_claim(s->lk->st, x->info.msg.id,
					     s->peer->cfg.name);
			if (rc == 0)
				x->claimed = 1;
			else if (rc != FERRY_ESTATE)
				log_debug("peer %s: claiming %s: %s",
					  s->peer->cfg.name, hex,
					  ferry_strerror(rc));
		}
	}
	return 0;
}

/* x is sent whole: it counts in the window until its custody. */
static void
xfer_sent_whole(struct sender *sd, struct xfer *x)
{
	struct session *s = sd->s;

	pthread_mutex_lock(&s->mu);
	struct idnode *n = idset_find(s->held, x->info.msg.id);
	if (n != NULL && !n->whole) {
		n->whole = 1;
		s->window++;
	}
	pthread_mutex_unlock(&s->mu);
	xfer_drop(sd, x, 0); /* claimed stays claimed until custody */
}

/* The whole payload of x (len bytes, small) into buf. */
static int
body_read(struct xfer *x, uint8_t *buf, size_t len)
{
	size_t got = 0, n = 0;
	int rc;

	while (got < len) {
		rc = src_read(x, buf + got, len - got, &n);
		if (rc != 0)
			return rc;
		if (n == 0)
			return FERRY_ECORRUPT; /* shorter than its length */
		got += n;
	}
	return 0;
}

/* CHUNKZ (docs/hop.md 4.8): the least payload worth a zstd frame, the
 * least room left in a record worth one more, and how small a sample
 * must get (per 1,000) for a message to be sent compressed. */
#define ZMIN_BYTES    128
#define ZMIN_ROOM     1024
#define ZPAY_PERMILLE 900

/*
 * Place one CHUNKZ of x at x->off with as many payload bytes as the
 * ratio so far says compress into what b has left.  The first one is
 * the sample: a plain CHUNK's worth that must shrink to 90 %, else the
 * message goes plain (already compressed data costs one try).  Nothing
 * is hashed or counted unless placed; the reader goes back otherwise.
 * 1: placed; 0: send plain bytes now; 2: record full enough, send it.
 */
static int
chunkz_emit(struct sender *sd, struct xfer *x, struct hop_rbuf *b)
{
	struct session *s = sd->s;
	int level = s->peer->cfg.compress_level;
	uint64_t left = src_avail(x) - x->off;
	size_t room = hop_rbuf_room(b), zroom, want, got, n, pay;
	uint8_t *buf;
	int rc;

	if (x->zmode < 0 || level == 0 ||
	    !(s->peer_features & HOP_FEAT_CHUNKZ) || left < ZMIN_BYTES)
		return 0;
	if (room < HOP_FRAME_HDR + HOP_CHUNKZ_HDR + ZMIN_ROOM)
		return x->zmode > 0 ? 2 : 0;
	zroom = room - HOP_FRAME_HDR - HOP_CHUNKZ_HDR;
	if (sd->z == NULL && (sd->z = hop_zstd_new()) == NULL)
		return FERRY_ENOMEM;
	if ((buf = hop_zstd_buf(sd->z)) == NULL)
		return FERRY_ENOMEM;
	for (int tries = 0; tries < 3; tries++) {
		want = x->zmode == 0 ? zroom
				     : (size_t)((uint64_t)zroom *
						ZPAY_PERMILLE / x->zpermille);
		if (want > HOP_ZORIG_MAX)
			want = HOP_ZORIG_MAX;
		if ((uint64_t)want > left)
			want = (size_t)left;
		if (want < ZMIN_BYTES)
			return 0;
		for (got = 0; got < want; got += n) {
			rc = src_read(x, buf + got, want - got, &n);
			if (rc != 0)
				return rc;
			if (n == 0)
				return FERRY_ECORRUPT;
		}
		pay = (size_t)((uint64_t)got * ZPAY_PERMILLE / 1000);
		rc = hop_put_chunkz(b, sd->z, level, x->info.msg.id, x->off,
				    buf, got, pay);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			if (x->hash)
				crypto_generichash_update(&x->hs, buf, got);
			x->off += got;
			x->zmode = 1;
			x->zpermille =
			    (unsigned)((uint64_t)rc * 1000 / got) + 1;
			return 1;
		}
		if ((rc = src_seek(x, x->off)) != 0)
			return rc;
		if (pay <= zroom) {
			/* Did not shrink enough. */
			if (x->zmode == 0) {
				char hex[FERRY_ID_HEX_LEN + 1];
				ferry_id_to_hex(x->info.msg.id, hex);
				log_debug("peer %s: message %s does not "
					  "compress (a %zu-byte sample): "
					  "sent plain",
					  s->peer->cfg.name, hex, got);
				x->zmode = -1;
			}
			return 0;
		}
		/* Shrank, but not into the room: fewer bytes. */
		x->zpermille *= 2;
	}
	return 0;
}

/* Put frames of x into b; 1 when x is finished (END written), 0 when b
 * is full, 2 when x waits for the receiver's RESUME, 3 when a tap's
 * transfer waits for more bytes or for the local commit. */
static int
xfer_emit(struct sender *sd, struct xfer *x, struct hop_rbuf *b)
{
	struct session *s = sd->s;
	uint64_t len = x->info.msg.payload_len, avail;
	int rc;

	if (x->need_msg) {
		struct hop_msg hm;
		memset(&hm, 0, sizeof(hm));
		hm.msg = x->info.msg;
		hm.ttl_ms = x->ttl_ms;
		hm.offset = x->off;
		/* Small: the payload in the MSG itself, no CHUNK nor END
		 * (docs/hop.md, tag 19): 88 bytes less a message on the
		 * wire, two frames less to parse. */
		size_t need = hop_msg_frame_len(&hm) + HOP_RELAY_FIELDS_MAX;
		int body = x->off == 0 && len <= HOP_BODY_MAX &&
			   (s->peer_features & HOP_FEAT_BODY) != 0 &&
			   need + len <= s->plain_max;
		/* Room for the largest relaying fields first: filling them
		 * may sign (a read of the payload), not to be done twice. */
		if (hop_rbuf_room(b) < need + (body ? (size_t)len : 0))
			return 0;
		rc = engine_hop_fill(&hm, &x->info, s->lk->node,
				     s->peer->cfg.name, s->lk->st);
		if (rc != 0)
			return rc;
		if (body && x->zmode == 0 && len >= ZMIN_BYTES &&
		    s->peer->cfg.compress_level != 0 &&
		    (s->peer_features & HOP_FEAT_CHUNKZ) != 0) {
			/* Compressible (text): MSG, CHUNKZ and END beat the
			 * body.  Tried first; if the sample does not shrink,
			 * the MSG is taken back and sent with its body. */
			size_t mark = b->len;
			hop_put_msg(b, &hm);
			x->need_msg = 0;
			rc = chunkz_emit(sd, x, b);
			if (rc < 0)
				return rc;
			if (rc != 0 || x->zmode >= 0)
				goto chunks;
			b->len = mark;
			x->need_msg = 1;
		}
		if (body) {
			rc = body_read(x, sd->tmp, (size_t)len);
			if (rc != 0)
				return rc;
			hm.has_body = 1;
			hm.body = sd->tmp;
			hm.body_len = (size_t)len;
			hop_put_msg(b, &hm);
			x->need_msg = 0;
			x->off = len;
			xfer_sent_whole(sd, x);
			return 1;
		}
		hop_put_msg(b, &hm);
		x->need_msg = 0;
		if (len > LINK_INLINE_MAX) {
			/* The receiver says where to go on from (RESUME):
			 * nothing is streamed that it already holds. */
			x->wait_go = 1;
			return 2;
		}
	}
chunks:
	avail = src_avail(x);
	while (x->off < avail &&
	       hop_rbuf_room(b) > HOP_FRAME_HDR + HOP_CHUNK_HDR + 256) {
		if ((rc = chunkz_emit(sd, x, b)) < 0)
			return rc;
		if (rc == 1)
			continue;
		if (rc == 2)
			break;
		size_t room = hop_rbuf_room(b) - HOP_FRAME_HDR - HOP_CHUNK_HDR;
		size_t n = 0, got = 0;
		if ((uint64_t)room > avail - x->off)
			room = (size_t)(avail - x->off);
		while (got < room) {
			rc = src_read(x, sd->tmp + got, room - got, &n);
			if (rc != 0)
				return rc;
			if (n == 0)
				break;
			got += n;
		}
		if (got == 0)
			return FERRY_ECORRUPT;
		if (x->hash)
			crypto_generichash_update(&x->hs, sd->tmp, got);
		if (hop_put_chunk(b, x->info.msg.id, x->off, sd->tmp, got) !=
		    got)
			return FERRY_EINVAL;
		x->off += got;
	}
	if (x->tap != NULL && x->off == avail && !cut_ready(x))
		return 3; /* all written so far is sent */
	if (x->off < len)
		return 0;
	if (hop_rbuf_room(b) < HOP_FRAME_HDR + HOP_END_LEN)
		return 0;
	struct hop_end e;
	memcpy(e.id, x->info.msg.id, FERRY_ID_LEN);
	e.total_len = len;
	if (x->hash)
		crypto_generichash_final(&x->hs, e.hash, HOP_HASH_LEN);
	else
		memset(e.hash, 0, sizeof(e.hash));
	hop_put_end(b, &e);
	xfer_sent_whole(sd, x);
	return 1;
}

/*
 * The peer has no room for it now (its queue, its store or its disk is
 * full; usually found at its commit, after END, in place of CUSTODY): it
 * stays here, outbound, and waits with whatever else that concerns until
 * the peer may have room (tcp_full.c).
 */
static void
refused_full(struct sender *sd, struct xfer *x, const struct hop_refuse *r)
{
	struct session *s = sd->s;
	struct store_msg_info info;
	char hex[FERRY_ID_HEX_LEN + 1];
	int rc;

	ferry_id_to_hex(r->id, hex);
	if (x != NULL) {
		link_full_note(s->lk, s->peer, &x->info.msg, r->reason);
		xfer_drop(sd, x, 1);
	} else if (store_get(s->lk->st, r->id, &info) == 0) {
		link_full_note(s->lk, s->peer, &info.msg, r->reason);
		/* Claimed (a large one) until custody: back to waiting, so
		 * that `ferry why` says why it waits. */
		if (info.state == STORE_INFLIGHT &&
		    strcmp(info.hop_peer, s->peer->cfg.name) == 0) {
			rc = store_out_release(s->lk->st, r->id);
			if (rc != 0 && rc != FERRY_ENOTFOUND &&
			    rc != FERRY_ESTATE)
				log_warn("peer %s: cannot release message %s: "
					 "%s",
					 s->peer->cfg.name, hex,
					 ferry_strerror(rc));
		}
	}
	log_debug("peer %s has no room for message %s now: it waits here",
		  s->peer->cfg.name, hex);
	pthread_mutex_lock(&s->mu);
	held_forget(s, r->id);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
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
			l->at = ferry_mono_ms() + LINK_BUSY_RETRY_MS;
			l->prio = prio;
		} else {
			held_forget(s, r->id); /* no room: at the next scan */
		}
		pthread_mutex_unlock(&s->mu);
		return;
	}
	if (r->reason == HOP_REFUSE_QUEUE_FULL ||
	    r->reason == HOP_REFUSE_STORE_FULL ||
	    r->reason == HOP_REFUSE_DISK_FULL) {
		refused_full(sd, x, r);
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
		if (x->seeking && (x->tap == NULL || src_avail(x) > x->off))
			more = 1; /* a tap's waits for its bytes */
	}
	return more;
}

/* Messages refused "busy" whose time has come: offered again (the scan
 * is kicked at their priority). */
static void
later_due(struct sender *sd)
{
	struct session *s = sd->s;
	int64_t now = ferry_mono_ms();
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

void
hello_put(struct session *s, struct hop_rbuf *b)
{
	struct hop_hello h;

	memset(&h, 0, sizeof(h));
	h.version = HOP_VERSION;
	snprintf(h.node, sizeof(h.node), "%s", s->lk->node);
	h.max_record = HOP_RECORD_MAX;
	h.keepalive_ms = (uint32_t)s->peer->cfg.keepalive_ms;
	h.clock_ms = ferry_wall_ms();
	h.features = HOP_FEAT_ALL;
	hop_put_hello(b, &h);
}

/*
 * How long an idle sender sleeps on its condition variable.  Everything
 * that gives it work signals it: a kick for the peer (a new outbound
 * message, a route change, a receipt queued by the engine), custody,
 * refusals and RESUMEs to say, a close.  So the wait ends only at the
 * next real deadline: the keep-alive due (a third of the keep-alive
 * time), a message refused "busy" offered again (later_due), the
 * peer's first record after HELLO (LINK_SYNC_WAIT_MS), a "full" peer's
 * retry (tcp_full.c: looked at every second while one is recorded).  A
 * re-scan every LINK_RESCAN_MS stays as a safety net for anything the
 * store queues for the peer without a kick: receipts are kicked where
 * their message is stored (intake.c, tcp_recv.c) and by the sweep that
 * dead-letters one, but a path that forgets would otherwise leave its
 * message waiting until the next kick for that peer.
 */
#define LINK_RESCAN_MS 30000
static int64_t
idle_wait_ms(struct sender *sd, int64_t now, int64_t ka, int synced,
	     int64_t start_mono)
{
	struct session *s = sd->s;
	int64_t wait = LINK_RESCAN_MS;

	if (ka != 0 && ka - (now - s->last_tx_mono) < wait)
		wait = ka - (now - s->last_tx_mono);
	for (size_t i = 0; i < sd->nlater; i++)
		if (sd->later[i].at - now < wait)
			wait = sd->later[i].at - now;
	if (!synced && start_mono + LINK_SYNC_WAIT_MS - now < wait)
		wait = start_mono + LINK_SYNC_WAIT_MS - now;
	if (__atomic_load_n(&s->peer->nfull, __ATOMIC_RELAXED) != 0 &&
	    wait > 1000)
		wait = 1000;
	return wait < 1 ? 1 : wait;
}

void *
writer_main(void *arg)
{
	struct session *s = arg;
	struct sender *sd = calloc(1, sizeof(*sd));
	struct wrstate w;
	uint8_t *plain = pagebuf_new(HOP_PLAIN_MAX);
	int rc = 0, closing = 0, first_sent = 0, synced = 0, seeking = 0;
	int dirty = 0; /* plain, ct or tmp have pages in use */
	int64_t stats_saved = ferry_mono_ms();

	ferry_thread_name("tcp-send:%s", s->peer->cfg.name);
	memset(&w, 0, sizeof(w));
	w.ct = pagebuf_new(2 + HOP_RECORD_MAX);
	w.rekey_mono = w.tokens_mono = w.start_mono = ferry_mono_ms();
	if (sd != NULL)
		sd->tmp = pagebuf_new(HOP_PLAIN_MAX);
	if (sd == NULL || plain == NULL || w.ct == NULL || sd->tmp == NULL) {
		mark_dead(s, "out of memory");
		goto out;
	}
	sd->s = s;
	while (!closing) {
		struct hop_rbuf b;
		struct hop_refuse pref[64];
		struct hop_resume go[64];
		struct store_tap *cut[LINK_CUT_MAX];
		size_t npref = 0, ngo = 0, ncut = 0, len = 0;
		int kick = 0, kick_prio = -1;

		hop_rbuf_init(&b, plain, s->plain_max);
		if (ferry_mono_ms() - stats_saved >=
		    STORE_PEER_STATS_EVERY_MS) {
			/* `ferry peers` survives a restart (not per record:
			 * a store commit). */
			link_stats_save(s->lk, s->peer);
			stats_saved = ferry_mono_ms();
		}
		if (sd->nlater > 0)
			later_due(sd);
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
		ncut = s->ncut;
		memcpy(cut, s->cut, ncut * sizeof(cut[0]));
		s->ncut = 0;
		s->cut_news = 0;
		/* A fresh handshake (new ephemeral keys) every 24 hours: the
		 * caller closes and dials again at once. */
		if (s->initiator && !s->want_close &&
		    ferry_mono_ms() - w.start_mono >= LINK_SESSION_MAX_MS) {
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
		for (size_t i = 0; i < ncut; i++)
			cut_start(sd, cut[i]);
		if (cuts_step(sd) != 0)
			goto out;
		/* After the RESUMEs: one that starts a seek hashes now, not
		 * after the idle wait below (a third of the keep-alive time,
		 * 10 s by default, when nothing else woke the writer). */
		seeking = seeks_step(sd);
		if (link_full_due(s->lk, s->peer)) {
			/* What waited for room there goes now: from the
			 * top, whatever its priority. */
			kick = 1;
			kick_prio = FERRY_PRIO_MAX;
		}
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
			struct hop_keepalive k = {1, ferry_wall_ms()};
			if (hop_rbuf_room(&b) >= HOP_FRAME_HDR + 8)
				hop_put_keepalive(&b, &k);
			first_sent = 1;
		}
		if (!synced &&
		    ferry_mono_ms() - w.start_mono >= LINK_SYNC_WAIT_MS)
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
				int tapped = x->tap != NULL;
				ferry_id_to_hex(x->info.msg.id, hex);
				log_warn("peer %s: reading message %s: %s; "
					 "skipped for this session",
					 s->peer->cfg.name, hex,
					 ferry_strerror(rc));
				xfer_drop(sd, x, 1);
				if (!tapped)
					continue;
				/* Begun: the peer waits for its bytes. */
				mark_dead(s, "reading message %s: %s", hex,
					  ferry_strerror(rc));
				goto out;
			}
			if (rc == 0)
				break; /* the record is full */
			/* 1: finished; 2: waits for the receiver's RESUME;
			 * 3: a tap's, waits for its bytes or commit */
		}
		if (hop_rbuf_end(&b, &len) != 0) {
			mark_dead(s, "building a record failed");
			break;
		}
		if (len == 0) {
			int64_t now = ferry_mono_ms();
			int64_t ka = s->keepalive_ms / 3;
			if (ka != 0 && now - s->last_tx_mono >= ka) {
				struct hop_keepalive k = {1, ferry_wall_ms()};
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
				int64_t wait = idle_wait_ms(sd, now, ka, synced,
							    w.start_mono);
				link_abstime(&ts, wait);
				if (dirty) {
					/* Idle: the buffers' pages go back
					 * (tcp_int.h, pagebuf_new). */
					pagebuf_idle(plain, HOP_PLAIN_MAX);
					pagebuf_idle(w.ct, 2 + HOP_RECORD_MAX);
					pagebuf_idle(sd->tmp, HOP_PLAIN_MAX);
					hop_zstd_idle(sd->z);
					dirty = 0;
				}
				pthread_mutex_lock(&s->mu);
				if (!s->dead && !s->kick && s->ncust == 0 &&
				    s->nrefuse == 0 && s->nresume == 0 &&
				    s->npeer_refuse == 0 && s->npeer_go == 0 &&
				    s->ncut == 0 && !s->cut_news &&
				    !s->want_close)
					pthread_cond_timedwait(&s->cv, &s->mu,
							       &ts);
				/* A timeout looks again, from the top: the
				 * store may have queued something without
				 * a kick (LINK_RESCAN_MS, above). */
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
		     ferry_mono_ms() - w.rekey_mono >= LINK_REKEY_MS) &&
		    hop_rbuf_room(&b) >= HOP_FRAME_HDR && !closing) {
			hop_put_rekey(&b);
			if (hop_rbuf_end(&b, &len) != 0) {
				mark_dead(s, "building a record failed");
				break;
			}
			rekey = 1;
		}
		dirty = 1;
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
			w.rekey_mono = ferry_mono_ms();
		}
	}
	if (closing)
		mark_dead(s, "closed by this node (%s)", s->close_text);
out:
	if (sd != NULL) {
		for (size_t i = 0; i < LINK_RX_MAX; i++)
			if (sd->x[i].used)
				xfer_drop(sd, &sd->x[i], 1);
		pagebuf_free(sd->tmp, HOP_PLAIN_MAX);
		hop_zstd_free(sd->z);
		free(sd);
	}
	pagebuf_free(plain, HOP_PLAIN_MAX);
	pagebuf_free(w.ct, 2 + HOP_RECORD_MAX);
	return NULL;
}
