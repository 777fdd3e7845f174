/*
 * loopback.c - the toy transport of loopback.h: a wire in process.  The
 * peer's end encodes hop frames into records (transports/hop.h) and hands
 * each record to this node's end, which walks its frames and gives them
 * to the intake (agent/intake.h), as tcp_recv.c and filedrop_import.c do.
 * It owns its wires and what the intake gives each (one intake_rx at a
 * time, a batch for a carrier); the store owns everything stored.
 *
 * Unlike TCP it has no RESUME: the peer sends every payload from offset
 * 0 and the intake skips bytes stored here already (from_durable 0), and
 * it answers with results (struct loopback_result), not REFUSE and
 * CUSTODY frames.  Not in ferryd's registry: see loopback.h.
 *
 * A crypto file (END's BLAKE2b of a payload): sodium.h allowed.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "lib/util.h"
#include "transports/loopback.h"

/* The transport: what start made. */
struct loopback {
	struct store *st;
	char node[FERRY_NODE_MAX + 1];
	uint64_t max_message;
	pthread_mutex_t mu;	     /* guards peers and kicks */
	struct loopback_peer *peers; /* open wires */
	uint64_t kicks;
};

struct loopback_peer {
	struct loopback *lb;
	struct loopback_peer *next;
	char name[FERRY_NODE_MAX + 1];
	enum loopback_mode mode;
	/* this node's end */
	struct intake in;
	struct intake_rx *rx; /* the message being received, or NULL */
	enum intake_outcome oc;
	struct intake_batch *batch; /* CARRIER */
	int closed;
	struct loopback_result last;
	uint64_t msgs_in;
	/* the peer's end */
	uint8_t rec[HOP_PLAIN_MAX];
};

/* ------------------------------------------------ the store's answers */

struct lb_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t pending;
	int result;
};

static void
wait_init(struct lb_wait *w)
{
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->pending = 1;
	w->result = 0;
}

static int
wait_done(struct lb_wait *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->pending > 0)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	return w->result;
}

static void
wait_wake(struct lb_wait *w, int result)
{
	pthread_mutex_lock(&w->mu);
	w->result = result;
	w->pending--;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* A small payload's put (intake_put_async), on a store thread. */
static void
put_done(int result, const struct ferry_msg *m, void *arg)
{
	(void)m;
	wait_wake(arg, result);
}

static void
custody_done(int result, void *arg)
{
	wait_wake(arg, result);
}

/* Stored, or here already: custody is owed to the peer. */
static void
stored(struct loopback_peer *p, const uint8_t id[FERRY_ID_LEN], int result)
{
	if (memcmp(id, p->last.id, FERRY_ID_LEN) != 0)
		return; /* an earlier message of the batch */
	p->last.rc = result;
	p->last.custody =
	    result == 0 || result == FERRY_EDUPLICATE || result == FERRY_EBUSY;
	if (result == 0)
		p->msgs_in++;
}

/* Each message of a flushed batch (CARRIER). */
static void
flushed(int result, const struct ferry_msg *m, void *arg)
{
	stored(arg, m->id, result);
}

static int
flush_batch(struct loopback_peer *p)
{
	return p->batch != NULL ? intake_batch_flush(p->batch, flushed, p) : 0;
}

/* ------------------------------------------------------ this node's end */

static void
current_done(struct loopback_peer *p, int keep)
{
	intake_rx_free(p->rx, keep);
	p->rx = NULL;
}

static int
on_msg(struct loopback_peer *p, const struct hop_frame *f)
{
	struct hop_msg hm;
	const char *why = NULL;
	char hex[FERRY_ID_HEX_LEN + 1];
	int rc;

	if (p->rx != NULL || hop_msg_decode(f, &hm, &why) != 0)
		return FERRY_EPROTO; /* one payload at a time */
	ferry_id_to_hex(hm.msg.id, hex);
	memset(&p->last, 0, sizeof(p->last));
	memcpy(p->last.id, hm.msg.id, FERRY_ID_LEN);
	if ((rc = intake_begin(&p->in, &hm, &p->rx, &p->oc)) != 0)
		return rc;
	p->last.oc = p->oc;
	p->last.verdict = intake_rx_verdict(p->rx, &why);
	switch (p->oc) {
	case INTAKE_REFUSED:
		log_warn("loopback: message %s from %s refused: %s", hex,
			 p->name, why);
		if (p->mode == LOOPBACK_LIVE &&
		    p->last.verdict == INTAKE_FORGED) {
			/* As TCP: a peer that claims another's message
			 * breaks the protocol; the wire ends. */
			current_done(p, 0);
			p->closed = 1;
			return FERRY_EPROTO;
		}
		break;
	case INTAKE_EXPIRED:
		log_info("loopback: message %s from %s expired on the way", hex,
			 p->name);
		break;
	case INTAKE_HAVE:
		p->last.custody = 1;
		break;
	default:
		break;
	}
	return 0;
}

static int
on_chunk(struct loopback_peer *p, const struct hop_frame *f)
{
	struct hop_chunk c;
	const char *why = NULL;
	int rc;

	if (p->rx == NULL || hop_chunk_decode(f, &c, &why) != 0)
		return FERRY_EPROTO;
	rc = intake_chunk(p->rx, &c);
	if (rc != 0 && rc != FERRY_EPROTO)
		current_done(p, 1); /* what is durable stays */
	return rc;
}

static int
on_end(struct loopback_peer *p, const struct hop_frame *f)
{
	struct hop_end e;
	const char *why = NULL;
	struct lb_wait w;
	int rc;

	if (p->rx == NULL || hop_end_decode(f, &e, &why) != 0)
		return FERRY_EPROTO;
	/* A carrier's small payloads before it commit first (its order). */
	if (p->oc == INTAKE_STREAM && (rc = flush_batch(p)) != 0) {
		current_done(p, 1);
		return rc;
	}
	rc = intake_end(p->rx, &e);
	if (rc == FERRY_EPROTO || rc == FERRY_ECORRUPT) {
		current_done(p, 0);
		return rc;
	}
	switch (p->oc) {
	case INTAKE_SMALL:
		if (p->mode == LOOPBACK_CARRIER) {
			rc = intake_batch_add(p->batch, p->rx);
			current_done(p, 0);
			if (rc < 0)
				return rc;
			return rc == 1 ? flush_batch(p) : 0;
		}
		wait_init(&w);
		rc = intake_put_async(p->rx, put_done, &w);
		current_done(p, 0);
		if (rc != 0) {
			w.pending = 0;
			(void)wait_done(&w);
			return rc;
		}
		stored(p, e.id, wait_done(&w));
		return 0;
	case INTAKE_STREAM:
		current_done(p, 0); /* committed, or failed: nothing kept */
		stored(p, e.id, rc);
		return rc == FERRY_EDUPLICATE ? 0 : rc;
	default: /* refused, expired, here, busy, gap: said at its MSG */
		current_done(p, p->oc != INTAKE_HAVE);
		return 0;
	}
}

static int
on_custody(struct loopback_peer *p, const struct hop_frame *f, int *released)
{
	struct hop_custody c;
	const char *why = NULL;
	int rc = 0;

	if (hop_custody_decode(f, &c, &why) != 0)
		return FERRY_EPROTO;
	for (size_t i = 0; i < c.count && rc == 0; i++) {
		struct lb_wait w;
		wait_init(&w);
		rc = intake_custody(&p->in, c.ids + i * FERRY_ID_LEN,
				    custody_done, &w);
		if (rc != 0)
			w.pending = 0;
		if (wait_done(&w) == 0 && rc == 0)
			(*released)++;
	}
	return rc;
}

/* This node's end takes one record off the wire. */
static int
take_record(struct loopback_peer *p, const uint8_t *rec, size_t len,
	    int *released)
{
	struct hop_frame f;
	size_t off = 0;
	int rc;

	if (p->closed)
		return FERRY_ECLOSED;
	while ((rc = hop_record_next(rec, len, &off, &f)) == 1) {
		switch (f.type) {
		case HOP_MSG:
			rc = on_msg(p, &f);
			break;
		case HOP_CHUNK:
			rc = on_chunk(p, &f);
			break;
		case HOP_END:
			rc = on_end(p, &f);
			break;
		case HOP_CUSTODY:
			rc = on_custody(p, &f, released);
			break;
		default:
			rc = FERRY_EPROTO; /* HELLO comes first, once */
			break;
		}
		if (rc == FERRY_EPROTO)
			p->closed = 1;
		if (rc != 0)
			return rc;
	}
	return rc;
}

/* A LIVE wire opens with the peer's HELLO: it measures its clock. */
static int
take_hello(struct loopback_peer *p, const uint8_t *rec, size_t len)
{
	struct hop_frame f;
	struct hop_hello h;
	const char *why = NULL;
	size_t off = 0;

	if (hop_record_next(rec, len, &off, &f) != 1 || f.type != HOP_HELLO ||
	    hop_hello_decode(&f, &h, &why) != 0 || off != len ||
	    strcmp(h.node, p->name) != 0)
		return FERRY_EPROTO;
	intake_clock_seen(p->lb->st, p->name, h.clock_ms - ferry_wall_ms());
	return 0;
}

/* ------------------------------------------------------ the peer's end */

/* The peer puts its record on the wire and starts another. */
static int
wire(struct loopback_peer *p, struct hop_rbuf *b)
{
	size_t len = 0;
	int rc, released = 0;

	if ((rc = hop_rbuf_end(b, &len)) != 0)
		return rc;
	rc = take_record(p, p->rec, len, &released);
	hop_rbuf_init(b, p->rec, sizeof(p->rec));
	return rc;
}

int
loopback_peer_open(void *state, const char *name, enum loopback_mode mode,
		   int64_t clock_ms, struct loopback_peer **out)
{
	struct loopback *lb = state;
	struct loopback_peer *p = calloc(1, sizeof(*p));
	struct hop_rbuf b;
	size_t len = 0;
	int rc = 0;

	*out = NULL;
	if (p == NULL)
		return FERRY_ENOMEM;
	p->lb = lb;
	p->mode = mode;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->in.st = lb->st;
	p->in.me.name = lb->node;
	p->in.me.max_message = lb->max_message;
	p->in.peer = p->name;
	p->in.check_hash = mode == LOOPBACK_LIVE;
	p->in.from_durable = 0; /* no RESUME: see the top */
	if (mode == LOOPBACK_LIVE) {
		struct hop_hello h = {.version = HOP_VERSION,
				      .max_record = HOP_RECORD_MAX,
				      .clock_ms = ferry_wall_ms() + clock_ms};
		snprintf(h.node, sizeof(h.node), "%s", name);
		hop_rbuf_init(&b, p->rec, sizeof(p->rec));
		hop_put_hello(&b, &h);
		if ((rc = hop_rbuf_end(&b, &len)) == 0)
			rc = take_hello(p, p->rec, len);
	} else {
		int64_t created_ms = ferry_wall_ms() + clock_ms;
		if (!intake_created_ok(lb->st, name, created_ms,
				       INTAKE_SKEW_MS)) {
			log_warn("loopback: a carrier from %s refused: dated "
				 "%lld s in the future (beyond the clock-skew "
				 "allowance)",
				 name, (long long)(clock_ms / 1000));
			rc = FERRY_EINVAL;
		} else {
			p->in.medium_ms =
			    intake_medium_ms(lb->st, name, created_ms);
			if ((p->batch = intake_batch_new(&p->in)) == NULL)
				rc = FERRY_ENOMEM;
		}
	}
	if (rc != 0) {
		intake_batch_free(p->batch);
		free(p);
		return rc;
	}
	pthread_mutex_lock(&lb->mu);
	p->next = lb->peers;
	lb->peers = p;
	pthread_mutex_unlock(&lb->mu);
	*out = p;
	return 0;
}

int
loopback_peer_send(struct loopback_peer *p, const struct hop_msg *hm,
		   const uint8_t *payload)
{
	uint64_t len = hm->msg.payload_len, off = 0;
	struct hop_end e;
	struct hop_rbuf b;
	int rc;

	hop_rbuf_init(&b, p->rec, sizeof(p->rec));
	hop_put_msg(&b, hm);
	while (off < len) {
		size_t n = hop_put_chunk(&b, hm->msg.id, off, payload + off,
					 (size_t)(len - off));
		if (n == 0 && (rc = wire(p, &b)) != 0)
			return rc;
		off += n;
	}
	memcpy(e.id, hm->msg.id, FERRY_ID_LEN);
	e.total_len = len;
	crypto_generichash(e.hash, HOP_HASH_LEN, payload, len, NULL, 0);
	if (hop_rbuf_room(&b) < HOP_FRAME_HDR + HOP_END_LEN &&
	    (rc = wire(p, &b)) != 0)
		return rc;
	hop_put_end(&b, &e);
	return wire(p, &b);
}

int
loopback_peer_custody(struct loopback_peer *p, const uint8_t id[FERRY_ID_LEN],
		      int *released)
{
	struct hop_rbuf b;
	size_t len = 0;
	int rc;

	*released = 0;
	hop_rbuf_init(&b, p->rec, sizeof(p->rec));
	if (hop_put_custody(&b, id, 1) != 1)
		return FERRY_EINVAL;
	if ((rc = hop_rbuf_end(&b, &len)) != 0)
		return rc;
	return take_record(p, p->rec, len, released);
}

int
loopback_peer_end(struct loopback_peer *p)
{
	if (p->rx != NULL)
		current_done(p, 1); /* cut short: its partial stays */
	return flush_batch(p);
}

int
loopback_peer_result(const struct loopback_peer *p, struct loopback_result *out)
{
	*out = p->last;
	return p->closed;
}

void
loopback_peer_free(struct loopback_peer *p)
{
	struct loopback_peer **pp;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lb->mu);
	for (pp = &p->lb->peers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&p->lb->mu);
	if (p->rx != NULL)
		current_done(p, 1);
	intake_batch_free(p->batch); /* not ended: not committed */
	free(p);
}

/* ------------------------------------------------------ the ops table */

static int
loopback_start(struct agent *ag, void **state)
{
	struct loopback *lb = calloc(1, sizeof(*lb));

	if (lb == NULL) {
		log_error("loopback: out of memory");
		return -1;
	}
	lb->st = ag->store;
	snprintf(lb->node, sizeof(lb->node), "%s", ag->pol.node_name);
	lb->max_message = ag->pol.max_message_bytes;
	pthread_mutex_init(&lb->mu, NULL);
	*state = lb;
	return 0;
}

static void
loopback_stop(struct agent *ag, void *state)
{
	struct loopback *lb = state;

	(void)ag;
	if (lb == NULL)
		return;
	while (lb->peers != NULL)
		loopback_peer_free(lb->peers);
	pthread_mutex_destroy(&lb->mu);
	free(lb);
}

/* Nothing to dial: the peers of a loopback are in this process and pull
 * nothing; counted, so that a test can see the engine's kicks. */
static void
loopback_kick(void *state, const char *node, unsigned prio)
{
	struct loopback *lb = state;

	(void)node;
	(void)prio;
	pthread_mutex_lock(&lb->mu);
	lb->kicks++;
	pthread_mutex_unlock(&lb->mu);
}

static void
loopback_status(void *state, struct peer_status *ps)
{
	struct loopback *lb = state;

	pthread_mutex_lock(&lb->mu);
	for (struct loopback_peer *p = lb->peers; p != NULL; p = p->next) {
		if (strcmp(p->name, ps->name) != 0)
			continue;
		ps->connected = 1;
		snprintf(ps->via, sizeof(ps->via), "loopback");
		ps->msgs_in += p->msgs_in;
	}
	pthread_mutex_unlock(&lb->mu);
}

const struct transport_ops loopback_transport = {
    .name = "loopback",
    .start = loopback_start,
    .stop = loopback_stop,
    .kick = loopback_kick,
    .status = loopback_status,
};
