/*
 * tcp_recv.c - the receiving half of a TCP hop session (docs/session.md):
 * the reader thread decodes each record's frames; MSG/CHUNK/END go into
 * the store, CUSTODY and REFUSE about what we sent go to the sending half.
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

/* ---------------------------------------------------- receiving half */

struct rx {
	int used;
	int skipping; /* refused: drop its CHUNKs and END */
	int claimed;  /* link_rx_claim'd */
	uint8_t id[FERRY_ID_LEN];
	uint64_t len; /* its payload's */
	uint64_t next_resume;
	struct intake_rx *ir; /* the intake's state of it, or NULL */
	/* A resumed payload's stored prefix is hashed on a thread of its
	 * own (rx_hash_main), so that the reader goes on reading records
	 * meanwhile (minutes, for GiB on a slow disk).  ir belongs to that
	 * thread until hash_done (atomic); the sender sends no CHUNK of it
	 * before the RESUME the thread queues when it is done. */
	pthread_t hasher;
	int hasher_started;
	int hash_done, hash_cancel; /* atomic */
	struct session *s;
};

struct receiver {
	struct session *s;
	struct intake in; /* this session's peer, into this node's store */
	struct rx rx[LINK_RX_MAX];
};

/* Remember id among the last LINK_RECENT_MAX taken from this peer. */
static void
link_recent_add(struct session *s, const uint8_t *id)
{
	pthread_mutex_lock(&s->lk->mu);
	recent_add(s->peer, id);
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

/*
 * The REFUSE that tells the peer this node has no room for a message now
 * (docs/hop.md 4.1), for a store error rc; 0 for other errors.
 */
static uint8_t
full_reason(int rc)
{
	switch (rc) {
	case FERRY_EQUEUEQUOTA:
		return HOP_REFUSE_QUEUE_FULL;
	case FERRY_EQUOTA:
		return HOP_REFUSE_STORE_FULL;
	case FERRY_ENOSPC:
		return HOP_REFUSE_DISK_FULL;
	default:
		return 0;
	}
}

static void
log_full(struct session *s, const struct ferry_msg *m, int rc)
{
	char hex[FERRY_ID_HEX_LEN + 1];

	ferry_id_to_hex(m->id, hex);
	log_info("peer %s: message %s for %s/%s not stored: %s; refused for "
		 "now (the peer keeps it and offers it again later)",
		 s->peer->cfg.name, hex, m->dst_node, m->dst_queue,
		 ferry_strerror(rc));
}

/* A new message from the peer is in the store: count it, wake local
 * receivers, and send a receipt on its way back at once. */
static void
stored(struct session *s, const struct ferry_msg *m)
{
	pthread_mutex_lock(&s->lk->mu);
	s->peer->msgs_in++;
	pthread_mutex_unlock(&s->lk->mu);
	if ((m->flags & (FERRY_MSG_RECEIPT | FERRY_MSG_TRACK)) &&
	    s->lk->on_kick != NULL)
		s->lk->on_kick(m->src_node, FERRY_PRIO_MAX - 1, s->lk->arg);
	if (s->lk->on_local != NULL)
		s->lk->on_local(m->dst_queue, s->lk->arg);
}

static void
put_done(int result, const struct ferry_msg *m, void *arg)
{
	struct session *s = arg;
	/* EBUSY: the id's payload is being freed after an ack here, so it
	 * was stored (and delivered) before: the peer may drop it. */
	int ok =
	    result == 0 || result == FERRY_EDUPLICATE || result == FERRY_EBUSY;
	uint8_t full = ok ? 0 : full_reason(result);

	/* Everything that touches s (or its link and peer) happens before
	 * async drops: at 0, session_run may free s at once. */
	if (result == 0)
		stored(s, m);
	else if (full != 0)
		log_full(s, m, result);
	else if (!ok)
		log_warn("peer %s: message not stored: %s", s->peer->cfg.name,
			 ferry_strerror(result));
	if (ok)
		link_recent_add(s, m->id);
	pthread_mutex_lock(&s->mu);
	if (ok) {
		push_custody(s, m->id);
	} else if (!s->dead && full != 0 &&
		   s->nrefuse < sizeof(s->refuse) / sizeof(s->refuse[0])) {
		/* No room for it here now: the peer keeps it and offers it
		 * again later.  (On the store's thread: no wait for room in
		 * the queue of REFUSEs; when it is full, as below.) */
		struct hop_refuse *r = &s->refuse[s->nrefuse++];
		memcpy(r->id, m->id, FERRY_ID_LEN);
		r->reason = full;
		r->offset = 0;
		pthread_cond_broadcast(&s->cv);
	} else if (!s->dead) {
		/* Not stored: no custody; the peer sends it again in a
		 * later session.  A full store ends this one. */
		s->want_close = 1;
		s->close_code = HOP_CLOSE_BUSY;
		snprintf(s->close_text, sizeof(s->close_text),
			 "cannot store: %s", ferry_strerror(result));
	}
	s->rx_pending -= intake_put_cost(m->payload_len);
	s->async--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
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
take_custody_receipt(struct receiver *rv, const uint8_t *id)
{
	struct session *s = rv->s;
	struct custody_arg *ca;
	struct idnode *n;
	int rc, probe;

	pthread_mutex_lock(&s->mu);
	/* Bounded: a peer cannot queue store operations without limit. */
	while (!s->dead && s->async >= LINK_ASYNC_MAX)
		pthread_cond_wait(&s->cv, &s->mu);
	n = idset_find(s->held, id);
	if (n != NULL && n->custody) {
		pthread_mutex_unlock(&s->mu);
		return 0; /* a duplicate receipt */
	}
	probe = n != NULL && n->probe;
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
	if (probe) {
		/* Offered again after the peer had no room for it: taken, so
		 * there is room again for what waited with it. */
		struct store_msg_info info;
		if (store_get(s->lk->st, id, &info) == 0 &&
		    link_full_clear(s->lk, s->peer, &info.msg) > 0) {
			pthread_mutex_lock(&s->mu);
			s->kick = 1;
			s->kick_prio = FERRY_PRIO_MAX;
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
		}
	}
	ca = malloc(sizeof(*ca));
	rc = ca == NULL ? FERRY_ENOMEM : 0;
	if (ca != NULL) {
		ca->s = s;
		memcpy(ca->id, id, FERRY_ID_LEN);
		rc = intake_custody(&rv->in, id, custody_done, ca);
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
	intake_rx_free(r->ir, keep);
	if (r->claimed)
		link_rx_release(s->lk, r->id);
	memset(r, 0, sizeof(*r));
}

static struct rx *
rx_find(struct receiver *rv, const uint8_t *id)
{
	for (size_t i = 0; i < LINK_RX_MAX; i++)
		if (rv->rx[i].used &&
		    memcmp(rv->rx[i].id, id, FERRY_ID_LEN) == 0)
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
	send_refuse(s, r->id, reason, 0);
	if (r->len > LINK_INLINE_MAX)
		rx_clear(s, r, 0);
	else
		r->skipping = 1;
}

/* Hash the stored prefix of a resumed payload, then queue the RESUME the
 * sender waits for. */
static void *
rx_hash_main(void *arg)
{
	struct rx *r = arg;
	struct session *s = r->s;
	int rc;

	ferry_thread_name("tcp-hash");
	rc = intake_hash_prefix(r->ir, &r->hash_cancel);

	__atomic_store_n(&r->hash_done, 1, __ATOMIC_RELEASE);
	if (rc == 0) {
		queue_resume(s, r->id, intake_rx_durable(r->ir), 1);
	} else if (rc != FERRY_ECLOSED) {
		char hex[FERRY_ID_HEX_LEN + 1];
		ferry_id_to_hex(r->id, hex);
		(void)rx_store_error(s, hex, rc);
	}
	return NULL;
}

static int msg_body(struct receiver *rv, const struct hop_msg *hm);

static int
msg_begin(struct receiver *rv, const struct hop_msg *hm)
{
	struct session *s = rv->s;
	enum intake_outcome oc;
	const char *why = NULL;
	char hex[FERRY_ID_HEX_LEN + 1];
	struct rx *r;
	uint64_t have;
	int rc;

	ferry_id_to_hex(hm->msg.id, hex);
	r = rx_find(rv, hm->msg.id);
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
	memcpy(r->id, hm->msg.id, FERRY_ID_LEN);
	r->len = hm->msg.payload_len;
	if (hm->msg.payload_len <= LINK_INLINE_MAX && hm->offset != 0) {
		/* Small ones are never kept in part: from 0. */
		r->skipping = 1;
		send_refuse(s, hm->msg.id, HOP_REFUSE_PARTIAL, 0);
		return 0;
	}
	if (hm->msg.payload_len > LINK_INLINE_MAX) {
		/* Another session of this peer (a link being replaced)
		 * may still be receiving it: wait a little for it. */
		if (link_rx_claim(s->lk, hm->msg.id) != 0) {
			log_info("peer %s: message %s is still being received "
				 "by another session: asked to send it again "
				 "later",
				 s->peer->cfg.name, hex);
			rx_refuse(s, r, HOP_REFUSE_BUSY);
			return 0;
		}
		r->claimed = 1;
	}
	rc = intake_begin(&rv->in, hm, &r->ir, &oc);
	if (rc == FERRY_EPROTO) {
		mark_dead(s, "MSG %s shorter than its stored part", hex);
		return FERRY_EPROTO;
	}
	if (rc != 0 && full_reason(rc) != 0) {
		/* No room here for it now (a full disk at open): refused
		 * before its payload; the peer offers it again later. */
		log_full(s, &hm->msg, rc);
		rx_refuse(s, r, full_reason(rc));
		return 0;
	}
	if (rc != 0)
		return rx_store_error(s, hex, rc);
	switch (oc) {
	case INTAKE_SMALL:
		return 0;
	case INTAKE_STREAM:
		break;
	case INTAKE_HAVE:
		link_recent_add(s, hm->msg.id);
		rx_refuse(s, r, HOP_REFUSE_HAVE);
		return 0;
	case INTAKE_BUSY:
		/* Another transfer (a bundle being imported) owns its
		 * partial: one writer per message (store.h). */
		log_info("peer %s: message %s is being stored from another "
			 "transfer: asked to send it again later",
			 s->peer->cfg.name, hex);
		rx_refuse(s, r, HOP_REFUSE_BUSY);
		return 0;
	case INTAKE_REFUSED:
		switch (intake_rx_verdict(r->ir, &why)) {
		case INTAKE_FORGED:
			/* Never done by a ferry peer: a protocol violation. */
			log_warn("peer %s: message %s refused: %s (it claims "
				 "%s)",
				 s->peer->cfg.name, hex, why, hm->msg.src_node);
			rx_clear(s, r, 0);
			mark_dead(s, "MSG %s claims another source", hex);
			return FERRY_EPROTO;
		case INTAKE_TOO_BIG:
			log_warn("peer %s: message %s for %s/%s refused: %s",
				 s->peer->cfg.name, hex, hm->msg.dst_node,
				 hm->msg.dst_queue, why);
			rx_refuse(s, r, HOP_REFUSE_TOO_BIG);
			return 0;
		default:
			if (strcmp(hm->msg.dst_node, s->lk->node) == 0)
				log_warn("peer %s: message %s for %s/%s "
					 "refused: %s",
					 s->peer->cfg.name, hex,
					 hm->msg.dst_node, hm->msg.dst_queue,
					 why);
			rx_refuse(s, r, HOP_REFUSE_NO_ROUTE);
			return 0;
		}
	default: /* EXPIRED, GAP: not on a live link (no time in transit,
		    the sender goes on from our offset) */
		rx_refuse(s, r, HOP_REFUSE_NO_ROUTE);
		return 0;
	}
	have = intake_rx_durable(r->ir);
	r->next_resume = have + LINK_RESUME_EVERY;
	if (have > 0) {
		/* Resumed: the hash must cover the prefix stored earlier;
		 * a thread reads it and then queues the RESUME. */
		r->s = s;
		if (pthread_create(&r->hasher, NULL, rx_hash_main, r) != 0) {
			mark_dead(s, "cannot start a thread");
			return FERRY_ENOMEM;
		}
		r->hasher_started = 1;
		log_info("peer %s: resuming message %s at %llu of %llu bytes",
			 s->peer->cfg.name, hex, (unsigned long long)have,
			 (unsigned long long)hm->msg.payload_len);
		return 0;
	}
	/* The answer the sender waits for: go on from what is durable here
	 * (0 for a new message), whatever offset its MSG proposed. */
	queue_resume(s, hm->msg.id, have, 1);
	return 0;
}

static int rx_chunk(struct receiver *rv, const struct hop_chunk *cp);

static int
on_msg(struct receiver *rv, const struct hop_frame *f)
{
	struct hop_msg hm;
	const char *why = NULL;
	int rc;

	if (hop_msg_decode(f, &hm, &why) != 0) {
		mark_dead(rv->s, "bad MSG frame: %s", why);
		return FERRY_EPROTO;
	}
	rc = msg_begin(rv, &hm);
	if (rc != 0 || !hm.has_body)
		return rc;
	return msg_body(rv, &hm);
}

/* Payload bytes of a message announced: from a CHUNK, or a MSG's body. */
static int
rx_chunk(struct receiver *rv, const struct hop_chunk *cp)
{
	struct session *s = rv->s;
	struct hop_chunk c = *cp;
	struct rx *r;
	uint64_t next;
	int rc;

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
	rc = intake_chunk(r->ir, &c);
	if (rc == FERRY_EPROTO) {
		mark_dead(s, "CHUNK out of place");
		return FERRY_EPROTO;
	}
	if (rc != 0) {
		char hex[FERRY_ID_HEX_LEN + 1];
		ferry_id_to_hex(c.id, hex);
		/* The intake kept what is durable, so a later session
		 * resumes there. */
		r->skipping = 1;
		return rx_store_error(s, hex, rc);
	}
	next = intake_rx_next(r->ir);
	if (r->len > LINK_INLINE_MAX && next >= r->next_resume) {
		/* A hint for the sender's resume point (dropped when the
		 * queue is full: the next one will do). */
		r->next_resume = next + LINK_RESUME_EVERY;
		queue_resume(s, c.id, next, 0);
	}
	return 0;
}

static int
on_chunk(struct receiver *rv, const struct hop_frame *f)
{
	struct hop_chunk c;
	const char *why = NULL;

	if (hop_chunk_decode(f, &c, &why) != 0) {
		mark_dead(rv->s, "bad CHUNK frame: %s", why);
		return FERRY_EPROTO;
	}
	return rx_chunk(rv, &c);
}

/* A compressed CHUNK (docs/hop.md 4.8): opened into a bounded buffer,
 * then taken as the plain CHUNK it stands for, so the store keeps the
 * original bytes and the END hash covers them. */
static int
on_chunkz(struct receiver *rv, const struct hop_frame *f)
{
	struct hop_chunkz cz;
	struct hop_chunk c;
	const char *why = NULL;
	int rc;

	if (hop_chunkz_decode(f, &cz, &why) != 0) {
		mark_dead(rv->s, "bad CHUNKZ frame: %s", why);
		return FERRY_EPROTO;
	}
	if (rv->s->zrx == NULL && (rv->s->zrx = hop_zstd_new()) == NULL) {
		mark_dead(rv->s, "out of memory");
		return FERRY_ENOMEM;
	}
	if ((rc = hop_chunkz_inflate(rv->s->zrx, &cz, &c, &why)) != 0) {
		char hex[FERRY_ID_HEX_LEN + 1];
		ferry_id_to_hex(cz.id, hex);
		mark_dead(rv->s, "message %s: bad CHUNKZ at offset %llu: %s",
			  hex, (unsigned long long)cz.offset,
			  rc == FERRY_EPROTO ? why : ferry_strerror(rc));
		return rc;
	}
	return rx_chunk(rv, &c);
}

/* The end of a message's payload: an END, or after a MSG's body. */
static int
rx_end(struct receiver *rv, const struct hop_end *ep)
{
	struct session *s = rv->s;
	struct hop_end e = *ep;
	char hex[FERRY_ID_HEX_LEN + 1];
	struct rx *r;
	int rc;

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
	rc = intake_end(r->ir, &e);
	if (rc == FERRY_EPROTO || rc == FERRY_ECORRUPT) {
		log_error("peer %s: message %s arrived damaged (length or "
			  "hash differs): discarded, it will be sent again",
			  s->peer->cfg.name, hex);
		rx_clear(s, r, 0);
		mark_dead(s, "payload hash mismatch");
		return FERRY_ECORRUPT;
	}
	if (r->len <= LINK_INLINE_MAX && rc == 0) {
		size_t need = intake_put_cost(r->len);
		pthread_mutex_lock(&s->mu);
		while (!s->dead && s->rx_pending + need > LINK_RX_PENDING_MAX &&
		       s->rx_pending > 0)
			pthread_cond_wait(&s->cv, &s->mu);
		s->async++;
		s->rx_pending += need;
		pthread_mutex_unlock(&s->mu);
		rc = intake_put_async(r->ir, put_done, s);
		if (rc != 0) {
			pthread_mutex_lock(&s->mu);
			s->async--;
			s->rx_pending -= need;
			pthread_mutex_unlock(&s->mu);
			rx_clear(s, r, 0);
			return rx_store_error(s, hex, rc);
		}
		rx_clear(s, r, 0);
		return 0;
	}
	if (rc != 0 && rc != FERRY_EDUPLICATE && full_reason(rc) != 0) {
		/* Its commit found no room (its queue's quota, the store's):
		 * nothing of it is kept; the peer keeps it and offers it
		 * again later. */
		log_full(s, intake_rx_msg(r->ir), rc);
		rx_clear(s, r, 0);
		send_refuse(s, e.id, full_reason(rc), 0);
		return 0;
	}
	if (rc != 0 && rc != FERRY_EDUPLICATE) {
		rx_clear(s, r, 0);
		return rx_store_error(s, hex, rc);
	}
	log_info("peer %s: received message %s (%llu bytes) for %s",
		 s->peer->cfg.name, hex, (unsigned long long)r->len,
		 intake_rx_msg(r->ir)->dst_queue);
	link_recent_add(s, e.id);
	pthread_mutex_lock(&s->mu);
	push_custody(s, e.id);
	pthread_mutex_unlock(&s->mu);
	if (rc == 0)
		stored(s, intake_rx_msg(r->ir));
	rx_clear(s, r, 0);
	return 0;
}

static int
on_end(struct receiver *rv, const struct hop_frame *f)
{
	struct hop_end e;
	const char *why = NULL;

	if (hop_end_decode(f, &e, &why) != 0) {
		mark_dead(rv->s, "bad END frame: %s", why);
		return FERRY_EPROTO;
	}
	return rx_end(rv, &e);
}

/* A MSG that carries its whole payload (docs/hop.md, MSG tag 19): its
 * CHUNK and END, as if they had come, unless the MSG was refused. */
static int
msg_body(struct receiver *rv, const struct hop_msg *hm)
{
	struct rx *r = rx_find(rv, hm->msg.id);
	struct hop_chunk c;
	struct hop_end e;
	crypto_generichash_state hs;
	int rc;

	if (r == NULL)
		return 0; /* refused and gone */
	if (r->skipping) {
		rx_clear(rv->s, r, 1); /* no CHUNK nor END will come */
		return 0;
	}
	memcpy(c.id, hm->msg.id, FERRY_ID_LEN);
	c.offset = 0;
	c.data = hm->body;
	c.len = hm->body_len;
	if (c.len > 0 && (rc = rx_chunk(rv, &c)) != 0)
		return rc;
	if ((r = rx_find(rv, hm->msg.id)) != NULL && r->skipping) {
		rx_clear(rv->s, r, 1);
		return 0;
	}
	memcpy(e.id, hm->msg.id, FERRY_ID_LEN);
	e.total_len = hm->body_len;
	memset(e.hash, 0, sizeof(e.hash));
	/* The record's AEAD covers the body: END's hash is worth making
	 * only when intake compares it (never from offset 0 on a link with
	 * RESUMEHASH, the usual case: a BLAKE2b per small message saved). */
	if (r != NULL && r->ir != NULL && intake_rx_checks_hash(r->ir) &&
	    (crypto_generichash_init(&hs, NULL, 0, HOP_HASH_LEN) != 0 ||
	     crypto_generichash_update(&hs, hm->body, hm->body_len) != 0 ||
	     crypto_generichash_final(&hs, e.hash, HOP_HASH_LEN) != 0))
		return FERRY_EINVAL;
	return rx_end(rv, &e);
}

struct receiver *
receiver_new(struct session *s)
{
	struct receiver *rv = calloc(1, sizeof(*rv));

	if (rv == NULL)
		return NULL;
	rv->s = s;
	rv->in.st = s->lk->st;
	rv->in.me.name = s->lk->node;
	rv->in.me.max_message = s->lk->max_message_bytes;
	rv->in.me.router = engine_router();
	rv->in.peer = s->peer->cfg.name;
	rv->in.medium_ms = 0; /* a live link: no time in transit */
	rv->in.check_hash = 1;
	/* Our HELLO offers HOP_FEAT_RESUMEHASH: a payload received whole
	 * in this session needs no hash (an older peer sends one anyway). */
	rv->in.hash_resumed = (HOP_FEAT_ALL & HOP_FEAT_RESUMEHASH) != 0;
	rv->in.from_durable = 1;
	return rv;
}

void
receiver_free(struct receiver *rv)
{
	if (rv == NULL)
		return;
	for (size_t i = 0; i < LINK_RX_MAX; i++)
		if (rv->rx[i].used)
			rx_clear(rv->s, &rv->rx[i], 1);
	hop_zstd_free(rv->s->zrx);
	rv->s->zrx = NULL;
	free(rv);
}

/* One decrypted record; 1 when the peer closed the session. */
int
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
		case HOP_CHUNKZ:
			rc = on_chunkz(rv, &f);
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
				    rv, c.ids + i * FERRY_ID_LEN);
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
			    (rc = take_custody_receipt(rv, r.id)) != 0)
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
