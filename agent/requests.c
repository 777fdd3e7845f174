/*
 * requests.c - what each local API request does (docs/protocol.md §4).
 *
 * Each handler checks the fields and the caller's rights on the loop
 * thread, then runs the store call as a job and answers from its done()
 * callback.  Payloads move in bounded pieces: a streamed SEND is staged up
 * to two DATA frames and written as the store takes it; a payload going
 * out is read one DATA frame at a time, when the socket has drained.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"

enum req_kind {
	RK_PUT,
	RK_WOPEN,
	RK_WWRITE,
	RK_WCOMMIT,
	RK_WABORT,
	RK_TAKE,
	RK_GET, /* phase 1 of ack, nack, fetch */
	RK_ACK,
	RK_NACK,
	RK_FETCH,
	RK_READ, /* the next piece of an outgoing payload */
	RK_BROWSE,
	RK_QCREATE,
	RK_QLIST,
	RK_QSTATS,
	RK_QPURGE,
	RK_STATUS,
	RK_INFO,
	RK_SUBTAKE, /* a take for a subscription */
	RK_PEERS,
};

struct req_job {
	struct job job;
	struct client *c;
	struct agent *ag;
	enum req_kind kind;
	enum req_kind then; /* RK_GET: what comes next */
	uint32_t reqid;
	int rc;

	struct ferry_msg msg;
	uint8_t *buf; /* payload in or out */
	size_t len;
	struct store_writer *writer;
	struct store_reader *reader; /* owned by the job */
	struct store_reader *borrow; /* RK_READ: the client's */

	char queue[FERRY_QUEUE_MAX + 1];
	int64_t lease_ms;
	int peek;
	uint8_t id[FERRY_ID_LEN];
	uint64_t token, offset;
	uint64_t gen; /* ag->notify_gen when submitted */
	uint32_t limit;
	struct store_queue_limits lim;

	struct store_msg_info info;
	struct store_status status;
	struct store_stats stats;
	struct store_queue_stats qs;
	struct store_msg_info *list;
	struct store_queue_stats *qlist;
	size_t nlist, caplist;
	uint64_t count;
	struct store_put_req put;	/* RK_PUT, run by the store's writer */
	struct link_peer_status *peers; /* RK_PEERS */
	uint64_t *peer_msgs, *peer_bytes;
	size_t npeers;
};

static void job_run(struct job *j);
static int peers_gather(struct store *st, struct req_job *r);
static void done_peers(struct client *c, struct req_job *r);
static void job_done(struct job *j);

static struct req_job *
rj_new(struct client *c, enum req_kind kind, uint32_t reqid)
{
	struct req_job *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->job.run = job_run;
	r->job.done = job_done;
	r->c = c;
	r->ag = c != NULL ? c->ag : NULL;
	r->kind = kind;
	r->reqid = reqid;
	if (r->ag != NULL)
		r->gen = r->ag->notify_gen;
	return r;
}

static void
rj_free(struct req_job *r)
{
	free(r->peers);
	free(r->peer_msgs);
	free(r->peer_bytes);
	free(r->buf);
	free(r->list);
	free(r->qlist);
	free(r);
}

/* Run r for c; c is BUSY until done (unless it is a subscription take). */
static void
rj_submit(struct client *c, struct req_job *r)
{
	client_ref(c);
	if (r->kind != RK_SUBTAKE && r->kind != RK_READ)
		c->state = CS_BUSY;
	jobs_submit(c->ag->jobs, &r->job);
}

/* A job that holds no client: cleanup after a client went away. */
static void
rj_submit_orphan(struct agent *ag, struct req_job *r)
{
	r->c = NULL;
	r->ag = ag;
	jobs_submit(ag->jobs, &r->job);
}

/* Abandon a streamed send whose client is gone or refused. */
static void
orphan_abort(struct agent *ag, struct store_writer *w)
{
	struct req_job *a;

	if (w == NULL || (a = rj_new(NULL, RK_WABORT, 0)) == NULL)
		return;
	a->writer = w;
	rj_submit_orphan(ag, a);
}

/* Give back a message taken for a client that can no longer have it. */
static void
orphan_give_back(struct agent *ag, const struct store_msg_info *info,
		 uint64_t token)
{
	struct req_job *n = rj_new(NULL, RK_NACK, 0);

	if (n == NULL)
		return; /* it returns when its lease runs out */
	memcpy(n->id, info->msg.id, FERRY_ID_LEN);
	n->token = token;
	snprintf(n->queue, sizeof(n->queue), "%s", info->queue);
	rj_submit_orphan(ag, n);
}

static int
fail_nomem(struct client *c, uint32_t reqid)
{
	client_error(c, reqid, FERRY_ENOMEM, "ferryd is out of memory");
	client_idle(c);
	return -1;
}

/* ------------------------------------------------------- store side */

/* arr with room for one more element of elem bytes (r->nlist used),
 * or NULL when out of memory (arr is then still valid). */
static void *
list_grow(struct req_job *r, void *arr, size_t elem)
{
	size_t n;
	void *p;

	if (r->nlist < r->caplist)
		return arr;
	n = r->caplist ? 2 * r->caplist : 16;
	p = realloc(arr, n * elem);
	if (p != NULL)
		r->caplist = n;
	return p;
}

static int
collect_info(const struct store_msg_info *info, void *arg)
{
	struct req_job *r = arg;
	struct store_msg_info *l = list_grow(r, r->list, sizeof(*l));

	if (l == NULL)
		return 1;
	r->list = l;
	r->list[r->nlist++] = *info;
	return 0;
}

static int
collect_queue(const struct store_queue_stats *q, void *arg)
{
	struct req_job *r = arg;
	struct store_queue_stats *l = list_grow(r, r->qlist, sizeof(*l));

	if (l == NULL)
		return 1;
	r->qlist = l;
	r->qlist[r->nlist++] = *q;
	return 0;
}

/* Open the payload of r->info: read it whole when small, else keep a
 * reader for the stream. */
static int
open_payload(struct store *st, struct req_job *r)
{
	uint64_t len = r->info.msg.payload_len;
	int rc;

	rc = store_reader_open(st, r->info.msg.id, &r->reader);
	if (rc != 0)
		return rc;
	if (r->offset != 0 && (rc = store_reader_seek(r->reader, r->offset)))
		return rc;
	if (len - r->offset > FERRY_INLINE_MAX)
		return 0;
	r->buf = malloc(len - r->offset + 1);
	if (r->buf == NULL)
		return FERRY_ENOMEM;
	while (r->len < len - r->offset) {
		size_t n = 0;
		rc = store_reader_read(r->reader, r->buf + r->len,
				       (size_t)(len - r->offset) - r->len, &n);
		if (rc != 0)
			return rc;
		if (n == 0)
			return FERRY_ECORRUPT;
		r->len += n;
	}
	store_reader_close(r->reader);
	r->reader = NULL;
	return 0;
}

/* Forget what open_payload kept of the message r held. */
static void
payload_reset(struct req_job *r)
{
	store_reader_close(r->reader);
	r->reader = NULL;
	free(r->buf);
	r->buf = NULL;
	r->len = 0;
}

/*
 * Take the next message of r->queue whose payload can be read.  One whose
 * payload is damaged (a spool file truncated or lost) would otherwise go
 * back to the head of its queue and block it for ever: it goes to the
 * dead queue instead, as unreadable, and the next one is taken.  In dead
 * itself it moves to the end of dead, so one met again means that only
 * unreadable ones are left: that one is given back and the take fails.
 */
static void
take_readable(struct store *st, struct req_job *r)
{
	uint8_t first[FERRY_ID_LEN];
	char hex[FERRY_ID_HEX_LEN + 1], why[200];
	int moved = 0;

	for (;;) {
		r->rc =
		    store_take(st, r->queue, r->lease_ms, &r->info, &r->token);
		if (r->rc != 0)
			return;
		r->rc = open_payload(st, r);
		if (r->rc == 0)
			return;
		ferry_id_to_hex(r->info.msg.id, hex);
		snprintf(why, sizeof(why), "%s", store_last_error());
		if (r->rc != FERRY_ECORRUPT ||
		    (moved && memcmp(first, r->info.msg.id, FERRY_ID_LEN) == 0))
			break;
		if (store_unreadable(st, r->info.msg.id, r->token) != 0)
			break;
		log_warn("message %s in queue %s: payload unreadable (%s); "
			 "moved to the dead queue as unreadable: ask its "
			 "source (%s) to send it again, and 'ferry ack %s' "
			 "drops it from dead",
			 hex, r->queue, why[0] != '\0' ? why : "damaged",
			 r->info.msg.src_node, hex);
		if (!moved)
			memcpy(first, r->info.msg.id, FERRY_ID_LEN);
		moved = 1;
		payload_reset(r);
	}
	/* Taken but not readable: give it back at once rather than when
	 * the lease runs out. */
	payload_reset(r);
	if (store_nack(st, r->info.msg.id, r->token) != 0)
		log_warn("message %s taken but unreadable, and not given back: "
			 "it returns when its lease runs out",
			 hex);
}

static void
job_run(struct job *j)
{
	struct req_job *r = (struct req_job *)j;
	struct store *st = r->ag->store;

	switch (r->kind) {
	case RK_PUT:
		/* Never run here: put_async hands puts to the store's writer.
		 */
		break;
	case RK_WOPEN:
		r->rc = store_writer_open(st, &r->msg, &r->writer);
		break;
	case RK_WWRITE:
	case RK_WCOMMIT:
		r->rc = store_writer_write(r->writer, r->buf, r->len);
		if (r->rc != 0) {
			store_writer_abort(r->writer);
			r->writer = NULL;
		} else if (r->kind == RK_WCOMMIT) {
			r->rc = store_writer_commit(r->writer);
			r->writer = NULL;
		}
		break;
	case RK_WABORT:
		store_writer_abort(r->writer);
		r->writer = NULL;
		break;
	case RK_TAKE:
	case RK_SUBTAKE:
		if (r->peek) {
			r->rc = store_browse(st, r->queue, 1, collect_info, r);
			if (r->rc == 0 && r->nlist == 0)
				r->rc = FERRY_EEMPTY;
			if (r->rc == 0)
				r->info = r->list[0];
			if (r->rc == 0)
				r->rc = open_payload(st, r);
		} else {
			take_readable(st, r);
		}
		break;
	case RK_GET:
		r->rc = store_get(st, r->id, &r->info);
		if (r->rc == FERRY_ENOTFOUND &&
		    store_status(st, r->id, &r->status) != 0)
			r->status.kind = STORE_ST_UNKNOWN;
		break;
	case RK_ACK:
		r->rc = store_ack(st, r->id, r->token);
		break;
	case RK_NACK:
		r->rc = store_nack(st, r->id, r->token);
		break;
	case RK_FETCH:
		r->rc = open_payload(st, r);
		break;
	case RK_READ: {
		size_t n = 0;
		r->rc = store_reader_read(r->borrow, r->buf, r->len, &n);
		r->len = n;
		break;
	}
	case RK_BROWSE:
		r->rc = store_browse(st, r->queue, r->limit, collect_info, r);
		break;
	case RK_QCREATE:
		r->rc = store_queue_create(st, r->queue, &r->lim);
		break;
	case RK_QLIST:
		r->rc = store_queue_list(st, collect_queue, r);
		break;
	case RK_QSTATS:
		r->rc = store_queue_stats(st, r->queue, &r->qs);
		break;
	case RK_QPURGE:
		r->rc = store_queue_purge(st, r->queue, &r->count);
		break;
	case RK_STATUS:
		r->rc = store_status(st, r->id, &r->status);
		break;
	case RK_INFO:
		r->rc = store_stats(st, &r->stats);
		break;
	case RK_PEERS:
		r->rc = peers_gather(st, r);
		break;
	}
}

/* ------------------------------------------------------------ answers */

static void
put_info(struct ferry_fbuf *b, const struct store_msg_info *i)
{
	ferry_fbuf_msg(b, &i->msg);
	ferry_fbuf_u8(b, FERRY_T_STATE, (uint8_t)i->state);
	if (i->queue[0] != '\0')
		ferry_fbuf_str(b, FERRY_T_QUEUE, i->queue);
	ferry_fbuf_u8(b, FERRY_T_DEAD_REASON, (uint8_t)i->dead_reason);
	ferry_fbuf_u64(b, FERRY_T_DEAD_MS, (uint64_t)i->dead_ms);
	ferry_fbuf_u64(b, FERRY_T_STORED_MS, (uint64_t)i->stored_ms);
	ferry_fbuf_u64(b, FERRY_T_LEASE_UNTIL_MS, (uint64_t)i->lease_until_ms);
	ferry_fbuf_u32(b, FERRY_T_DELIVERIES, i->deliveries);
	if (i->hop_peer[0] != '\0') {
		ferry_fbuf_str(b, FERRY_T_PEER, i->hop_peer);
		ferry_fbuf_u64(b, FERRY_T_HOP_SINCE_MS,
			       (uint64_t)i->hop_since_ms);
	}
}

/* What went wrong, for a client: a full disk says how far off, and
 * which setting. */
static const char *
err_text(struct client *c, int rc, char *buf, size_t cap)
{
	uint64_t avail = 0, reserve;

	if (rc != FERRY_ENOSPC)
		return ferry_strerror(rc);
	reserve = store_reserve(c->ag->store, &avail);
	snprintf(buf, cap,
		 "disk full: %.1f MiB free, %.1f MiB kept in reserve "
		 "(disk_reserve in ferry.conf; urgent messages may use half "
		 "of it)",
		 (double)avail / 1048576.0, (double)reserve / 1048576.0);
	return buf;
}

static void
answer_error(struct client *c, uint32_t reqid, int rc, const char *what)
{
	char why[200];

	client_error(c, reqid, rc, "%s: %s", what,
		     err_text(c, rc, why, sizeof(why)));
}

/* Send MSG for r (a take, peek or fetch), then its payload. */
static void
answer_msg(struct client *c, struct req_job *r, uint32_t reqid)
{
	struct ferry_fbuf b;
	int inline_payload = r->reader == NULL;

	agent_frame(c->ag, &b, FERRY_F_MSG, inline_payload ? FERRY_FL_FIN : 0,
		    reqid);
	put_info(&b, &r->info);
	if (r->token != 0)
		ferry_fbuf_u64(&b, FERRY_T_TOKEN, r->token);
	if (inline_payload)
		ferry_fbuf_bytes(&b, FERRY_T_PAYLOAD, r->buf, r->len);
	client_send(c, &b);
	if (inline_payload || c->state == CS_DEAD)
		return; /* a dead client's reader is closed with the job */
	c->reader = r->reader;
	r->reader = NULL;
	c->out_left = r->info.msg.payload_len - r->offset;
	c->out_reqid = reqid;
	c->state = CS_STREAM_OUT;
	stream_out_next(c);
}

static void
done_subtake(struct client *c, struct req_job *r)
{
	struct ferry_fbuf b;

	c->sub_busy = 0;
	if (c->sub_reqid == 0 || c->state == CS_DEAD ||
	    r->reqid != c->sub_reqid) {
		/* Gone or unsubscribed: give the message back. */
		if (r->rc == 0)
			orphan_give_back(r->ag, &r->info, r->token);
		return;
	}
	if (r->rc == FERRY_EEMPTY) {
		if (c->sub_wanted) {
			c->sub_wanted = 0;
			subscription_push(c);
		}
		return;
	}
	if (r->rc != 0) {
		log_warn("client %llu: subscription to %s: %s",
			 (unsigned long long)c->cid, c->sub_queue,
			 ferry_strerror(r->rc));
		return;
	}
	/* Large payloads are not pushed: the client FETCHes them. */
	agent_frame(c->ag, &b, FERRY_F_MSG,
		    r->reader == NULL ? FERRY_FL_FIN : 0, c->sub_reqid);
	put_info(&b, &r->info);
	ferry_fbuf_u64(&b, FERRY_T_TOKEN, r->token);
	if (r->reader == NULL)
		ferry_fbuf_bytes(&b, FERRY_T_PAYLOAD, r->buf, r->len);
	client_send(c, &b);
	if (c->credit > 0)
		c->credit--;
	subscription_push(c);
}

static void
done_get(struct client *c, struct req_job *r)
{
	struct req_job *n;

	if (r->rc == FERRY_ENOTFOUND && r->status.kind >= STORE_ST_ACKED) {
		/* Not here any more: say what became of it, as status does
		 * (a second ack, say). */
		client_error(c, r->reqid, FERRY_ESTATE,
			     "the message is not here any more: %s (see "
			     "`ferry status`)",
			     r->status.kind == STORE_ST_ACKED
				 ? "acknowledged already"
			     : r->status.kind == STORE_ST_HANDED
				 ? "handed to the next hop"
			     : r->status.kind == STORE_ST_PURGED
				 ? "purged"
				 : "removed from the dead queue");
		client_idle(c);
		return;
	}
	if (r->rc != 0) {
		answer_error(c, r->reqid, r->rc, "no such message");
		client_idle(c);
		return;
	}
	if (r->info.state != STORE_QUEUED && r->info.state != STORE_LEASED) {
		client_error(c, r->reqid, FERRY_ESTATE,
			     "message is on its way to %s, not in a local "
			     "queue",
			     r->info.msg.dst_node);
		client_idle(c);
		return;
	}
	if (!client_allowed(c, POLICY_OP_RECV, r->info.queue)) {
		client_error(c, r->reqid, FERRY_EPERM,
			     "uid %ld may not receive from queue %s",
			     (long)c->uid, r->info.queue);
		client_idle(c);
		return;
	}
	n = rj_new(c, r->then, r->reqid);
	if (n == NULL) {
		fail_nomem(c, r->reqid);
		return;
	}
	memcpy(n->id, r->id, FERRY_ID_LEN);
	n->token = r->token;
	n->offset = r->offset;
	n->info = r->info;
	snprintf(n->queue, sizeof(n->queue), "%s", r->info.queue);
	rj_submit(c, n);
}

static void
done_take(struct client *c, struct req_job *r)
{
	if (r->rc == FERRY_EEMPTY && c->wait_until_ms != 0) {
		if (r->gen != c->ag->notify_gen)
			/* Something arrived while we looked: look again. */
			request_take(c, r->reqid, r->queue, r->lease_ms,
				     r->peek);
		else
			notify_wait(c, r->queue, r->lease_ms, r->peek);
		return;
	}
	c->wait_until_ms = 0;
	if (r->rc != 0) {
		if (r->rc == FERRY_EEMPTY)
			client_error(c, r->reqid, r->rc, "queue %s is empty",
				     r->queue);
		else
			answer_error(c, r->reqid, r->rc, "cannot take");
		client_idle(c);
		return;
	}
	answer_msg(c, r, r->reqid);
	if (c->state == CS_BUSY)
		client_idle(c);
}

static void
done_list(struct client *c, struct req_job *r)
{
	struct ferry_fbuf b;

	if (r->rc != 0) {
		answer_error(c, r->reqid, r->rc, "cannot list");
		client_idle(c);
		return;
	}
	for (size_t i = 0; i < r->nlist; i++) {
		if (r->kind == RK_BROWSE) {
			agent_frame(c->ag, &b, FERRY_F_MSG, FERRY_FL_FIN,
				    r->reqid);
			put_info(&b, &r->list[i]);
		} else {
			const struct store_queue_stats *q = &r->qlist[i];
			if (!client_allowed(c, POLICY_OP_RECV, q->name) &&
			    !client_allowed(c, POLICY_OP_ADMIN, q->name))
				continue;
			agent_frame(c->ag, &b, FERRY_F_QINFO, 0, r->reqid);
			ferry_fbuf_str(&b, FERRY_T_QUEUE, q->name);
			ferry_fbuf_u64(&b, FERRY_T_COUNT, q->msgs);
			ferry_fbuf_u64(&b, FERRY_T_BYTES, q->bytes);
			ferry_fbuf_u64(&b, FERRY_T_LEASED, q->leased);
			ferry_fbuf_u64(&b, FERRY_T_MAX_BYTES, q->max_bytes);
			ferry_fbuf_u64(&b, FERRY_T_MAX_MSGS, q->max_msgs);
		}
		client_send(c, &b);
	}
	agent_frame(c->ag, &b, FERRY_F_END, 0, r->reqid);
	client_send(c, &b);
	client_idle(c);
}

static int status_visible(struct client *c, const struct store_msg_info *i);

static void
done_simple(struct client *c, struct req_job *r)
{
	struct ferry_fbuf b;

	if (r->rc != 0) {
		answer_error(c, r->reqid, r->rc, "refused");
		client_idle(c);
		return;
	}
	/* The store queued an "acked" receipt for the source: send it. */
	if (r->kind == RK_ACK && (r->info.msg.flags & FERRY_MSG_RECEIPT) &&
	    strcmp(r->info.msg.src_node, c->ag->pol.node_name) != 0)
		link_kick(c->ag->link, r->info.msg.src_node,
			  FERRY_PRIO_MAX - 1);
	switch (r->kind) {
	case RK_QSTATS:
		agent_frame(c->ag, &b, FERRY_F_QINFO, 0, r->reqid);
		ferry_fbuf_str(&b, FERRY_T_QUEUE, r->qs.name);
		ferry_fbuf_u64(&b, FERRY_T_COUNT, r->qs.msgs);
		ferry_fbuf_u64(&b, FERRY_T_BYTES, r->qs.bytes);
		ferry_fbuf_u64(&b, FERRY_T_LEASED, r->qs.leased);
		ferry_fbuf_u64(&b, FERRY_T_MAX_BYTES, r->qs.max_bytes);
		ferry_fbuf_u64(&b, FERRY_T_MAX_MSGS, r->qs.max_msgs);
		break;
	case RK_STATUS:
		if (r->status.kind == STORE_ST_PRESENT &&
		    !status_visible(c, &r->status.info)) {
			client_error(c, r->reqid, FERRY_EPERM,
				     "uid %ld may not see the status of a "
				     "message for %s/%s (needs recv or admin "
				     "on its queue, or send to it, in [acl] of "
				     "ferry.conf)",
				     (long)c->uid, r->status.info.msg.dst_node,
				     r->status.info.msg.dst_queue);
			client_idle(c);
			return;
		}
		agent_frame(c->ag, &b, FERRY_F_STATUS_OK, 0, r->reqid);
		ferry_fbuf_u8(&b, FERRY_T_STATUS, (uint8_t)r->status.kind);
		if (r->status.kind == STORE_ST_PRESENT)
			put_info(&b, &r->status.info);
		if (r->status.kind == STORE_ST_DEAD_REMOVED) {
			ferry_fbuf_u8(&b, FERRY_T_DEAD_REASON,
				      (uint8_t)r->status.info.dead_reason);
			ferry_fbuf_u64(&b, FERRY_T_DEAD_MS,
				       (uint64_t)r->status.info.dead_ms);
		}
		if (r->status.kind == STORE_ST_PRESENT &&
		    r->status.exported.at_ms != 0) {
			char m[200];
			snprintf(m, sizeof(m), "%s %.*s",
				 r->status.exported.peer, 120,
				 r->status.exported.medium);
			ferry_fbuf_str(&b, FERRY_T_MEDIUM, m);
			ferry_fbuf_u64(&b, FERRY_T_MEDIUM_MS,
				       (uint64_t)r->status.exported.at_ms);
		}
		ferry_fbuf_u64(&b, FERRY_T_AT_MS, (uint64_t)r->status.at_ms);
		if (r->status.peer[0] != '\0')
			ferry_fbuf_str(&b, FERRY_T_PEER, r->status.peer);
		if (r->status.nreceipts > 0) {
			char rs[512];
			size_t n = 0;
			for (size_t i = 0; i < r->status.nreceipts; i++) {
				const struct store_receipt *e =
				    &r->status.receipts[i];
				int k = snprintf(
				    rs + n, sizeof(rs) - n, "%s %s %lld\n",
				    store_receipt_event_name(e->event), e->node,
				    (long long)e->at_ms);
				if (k < 0 || (size_t)k >= sizeof(rs) - n)
					break;
				n += (size_t)k;
			}
			if (n > 0)
				ferry_fbuf_str(&b, FERRY_T_RECEIPTS, rs);
		}
		break;
	case RK_INFO:
		agent_frame(c->ag, &b, FERRY_F_INFO_OK, 0, r->reqid);
		ferry_fbuf_str(&b, FERRY_T_NODE, c->ag->pol.node_name);
		ferry_fbuf_u32(&b, FERRY_T_VERSION, FERRY_PROTO_VERSION);
		ferry_fbuf_str(&b, FERRY_T_CARD, c->ag->card);
		ferry_fbuf_str(&b, FERRY_T_FINGERPRINT, c->ag->fpr);
		ferry_fbuf_u64(&b, FERRY_T_COUNT, r->stats.msgs);
		ferry_fbuf_u64(&b, FERRY_T_BYTES, r->stats.bytes);
		ferry_fbuf_u64(&b, FERRY_T_OUT_COUNT, r->stats.outbound_msgs);
		ferry_fbuf_u64(&b, FERRY_T_OUT_BYTES, r->stats.outbound_bytes);
		break;
	case RK_QPURGE:
		agent_frame(c->ag, &b, FERRY_F_OK, 0, r->reqid);
		ferry_fbuf_u64(&b, FERRY_T_COUNT, r->count);
		log_info("queue %s purged by uid %ld: %llu messages removed",
			 r->queue, (long)c->uid, (unsigned long long)r->count);
		break;
	case RK_NACK:
		agent_frame(c->ag, &b, FERRY_F_OK, 0, r->reqid);
		notify_queue(c->ag, r->queue);
		break;
	default:
		agent_frame(c->ag, &b, FERRY_F_OK, 0, r->reqid);
		break;
	}
	client_send(c, &b);
	client_idle(c);
}

static void
done_put(struct client *c, struct req_job *r)
{
	struct ferry_fbuf b;
	char hex[FERRY_ID_HEX_LEN + 1];

	ferry_id_to_hex(r->msg.id, hex);
	if (r->rc != 0) {
		if (r->rc == FERRY_ENOSPC || r->rc == FERRY_EQUOTA ||
		    r->rc == FERRY_EQUEUEQUOTA)
			log_warn("refused message %s for %s/%s: %s", hex,
				 r->msg.dst_node, r->msg.dst_queue,
				 ferry_strerror(r->rc));
		char why[200];
		client_error(c, r->reqid, r->rc, "message %s not accepted: %s",
			     hex, err_text(c, r->rc, why, sizeof(why)));
		client_idle(c);
		return;
	}
	agent_frame(c->ag, &b, FERRY_F_OK, 0, r->reqid);
	ferry_fbuf_bytes(&b, FERRY_T_ID, r->msg.id, FERRY_ID_LEN);
	client_send(c, &b);
	log_debug(
	    "accepted %s for %s/%s (%llu bytes, priority %u)", hex,
	    r->msg.dst_node, r->msg.dst_queue,
	    (unsigned long long)(r->kind == RK_PUT ? r->len : c->in_total),
	    r->msg.priority);
	if (strcmp(r->msg.dst_node, c->ag->pol.node_name) == 0)
		notify_queue(c->ag, r->msg.dst_queue);
	else if (policy_peer_find(&c->ag->pol, r->msg.dst_node) == NULL)
		log_warn("message %s for %s/%s waits: no [peer %s] in "
			 "ferry.conf (add one, then restart ferryd)",
			 hex, r->msg.dst_node, r->msg.dst_queue,
			 r->msg.dst_node);
	else
		link_kick(c->ag->link, r->msg.dst_node, r->msg.priority);
	client_idle(c);
}

/* The stream of a SEND: the store refused or failed. */
static void
stream_in_fail(struct client *c, uint32_t reqid, int rc, const char *what)
{
	char why[200];

	client_error(c, reqid, rc, "%s: %s", what,
		     err_text(c, rc, why, sizeof(why)));
	c->in_error = rc;
	orphan_abort(c->ag, c->writer);
	c->writer = NULL;
}

static void
done_stream_in(struct client *c, struct req_job *r)
{
	switch (r->kind) {
	case RK_WOPEN:
		c->state = CS_STREAM_IN;
		c->writer = r->writer;
		r->writer = NULL;
		if (r->rc != 0)
			stream_in_fail(c, r->reqid, r->rc,
				       r->rc == FERRY_EDUPLICATE
					   ? "message refused"
					   : "cannot start the message");
		client_process(c);
		return;
	case RK_WWRITE:
		c->state = CS_STREAM_IN;
		c->writer = r->writer;
		r->writer = NULL;
		if (r->rc != 0)
			stream_in_fail(c, r->reqid, r->rc,
				       "cannot store payload");
		client_process(c);
		return;
	case RK_WCOMMIT:
		c->writer = NULL;
		done_put(c, r);
		return;
	default:
		return;
	}
}

static void
done_read(struct client *c, struct req_job *r)
{
	struct ferry_fbuf b;
	int last;

	c->out_busy = 0;
	if (r->rc != 0 || (r->len == 0 && c->out_left != 0)) {
		log_warn("client %llu: payload read failed: %s",
			 (unsigned long long)c->cid,
			 r->rc ? ferry_strerror(r->rc) : "short payload");
		agent_frame(c->ag, &b, FERRY_F_DATA,
			    FERRY_FL_FIN | FERRY_FL_ABORT, c->out_reqid);
		client_send(c, &b);
		client_cleanup_streams(c);
		client_idle(c);
		return;
	}
	c->out_left -= r->len;
	last = c->out_left == 0;
	agent_frame(c->ag, &b, FERRY_F_DATA, last ? FERRY_FL_FIN : 0,
		    c->out_reqid);
	ferry_fbuf_raw(&b, r->buf, r->len);
	client_send(c, &b);
	if (last) {
		client_cleanup_streams(c);
		client_idle(c);
		return;
	}
	stream_out_next(c);
}

static void
job_done(struct job *j)
{
	struct req_job *r = (struct req_job *)j;
	struct client *c = r->c;

	if (r->job.cancelled) {
		/* Never ran (ferryd stops): only free what it holds. */
		if (r->reader != NULL)
			store_reader_close(r->reader);
		if (c != NULL)
			client_unref(c);
		rj_free(r);
		return;
	}
	if (c == NULL) {
		/* An orphan cleanup job.  A message given back may be what
		 * a waiting client needs. */
		if (r->kind == RK_NACK && r->rc == 0 && r->queue[0] != '\0')
			notify_queue(r->ag, r->queue);
		if (r->reader != NULL)
			store_reader_close(r->reader);
		rj_free(r);
		return;
	}
	if (c->state == CS_DEAD) {
		if (r->kind == RK_SUBTAKE)
			done_subtake(c, r);
		if (r->kind == RK_READ) {
			c->out_busy = 0;
			client_cleanup_streams(c);
		}
		orphan_abort(r->ag, r->writer);
		if (r->reader != NULL)
			store_reader_close(r->reader);
		/* Taken for a client that left: give it back. */
		if (r->kind == RK_TAKE && r->rc == 0 && !r->peek)
			orphan_give_back(r->ag, &r->info, r->token);
		rj_free(r);
		client_unref(c);
		return;
	}
	switch (r->kind) {
	case RK_PUT:
		done_put(c, r);
		break;
	case RK_WOPEN:
	case RK_WWRITE:
	case RK_WCOMMIT:
		done_stream_in(c, r);
		break;
	case RK_WABORT:
		client_error(c, r->reqid, FERRY_EINVAL,
			     "message abandoned by the sender; nothing stored");
		client_idle(c);
		break;
	case RK_TAKE:
	case RK_FETCH:
		done_take(c, r);
		break;
	case RK_SUBTAKE:
		done_subtake(c, r);
		break;
	case RK_GET:
		done_get(c, r);
		break;
	case RK_READ:
		done_read(c, r);
		break;
	case RK_BROWSE:
	case RK_QLIST:
		done_list(c, r);
		break;
	case RK_ACK:
	case RK_NACK:
	case RK_QCREATE:
	case RK_QSTATS:
	case RK_QPURGE:
	case RK_STATUS:
	case RK_INFO:
		done_simple(c, r);
		break;
	case RK_PEERS:
		done_peers(c, r);
		break;
	}
	if (r->reader != NULL)
		store_reader_close(r->reader);
	rj_free(r);
	client_unref(c);
}

/* ----------------------------------------------------- streams */

void
stream_out_next(struct client *c)
{
	struct req_job *r;

	if (c->state != CS_STREAM_OUT || c->out_busy || c->reader == NULL)
		return;
	/* Refill only once the socket has taken most of what we gave. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
	    AGENT_OUTPUT_LOW)
		return;
	r = rj_new(c, RK_READ, c->out_reqid);
	if (r == NULL || (r->buf = malloc(FERRY_DATA_MAX)) == NULL) {
		free(r);
		client_kill(c, "out of memory");
		return;
	}
	r->len = FERRY_DATA_MAX;
	if (r->len > c->out_left)
		r->len = (size_t)c->out_left;
	c->out_busy = 1;
	r->borrow = c->reader; /* the client keeps it; the job borrows it */
	rj_submit(c, r);
}

void
client_cleanup_streams(struct client *c)
{
	if (c->reader != NULL && !c->out_busy) {
		store_reader_close(c->reader);
		c->reader = NULL;
	}
	if (c->writer != NULL && c->state != CS_BUSY) {
		orphan_abort(c->ag, c->writer);
		c->writer = NULL;
	}
}

/* ------------------------------------------------------- dispatch */

/* The store's writer thread says the put is committed. */
static void
put_committed(int result, void *arg)
{
	struct req_job *r = arg;

	r->rc = result;
	jobs_complete(r->ag->jobs, &r->job);
}

/*
 * A put goes straight to the store's writer thread, not through a pool
 * thread: two thread hand-offs fewer per message, and the number of puts
 * in flight (so the size of a group commit) is not bounded by the pool.
 */
static void
put_async(struct client *c, struct req_job *r)
{
	int rc;

	r->put.msg = &r->msg;
	r->put.payload = r->buf;
	r->put.len = r->len;
	client_ref(c);
	c->state = CS_BUSY;
	jobs_track(c->ag->jobs);
	rc = store_put_async(c->ag->store, &r->put, put_committed, r);
	if (rc != 0) {
		/* Not queued: complete it here with the error. */
		r->rc = rc;
		jobs_complete(c->ag->jobs, &r->job);
	}
}

static int
need(struct client *c, const struct ferry_fields *fl, int tag, const char *name)
{
	if (FERRY_HAS(fl, tag))
		return 1;
	client_error(c, c->reqid, FERRY_EINVAL, "%s is missing", name);
	client_idle(c);
	return 0;
}

static int
queue_ok(struct client *c, const char *queue)
{
	char q[80];

	if (ferry_queue_name_valid(queue))
		return 1;
	client_error(
	    c, c->reqid, FERRY_EINVAL, "'%s' is not a valid queue name: %s",
	    ferry_quote(queue, q, sizeof(q)), ferry_queue_name_why(queue));
	client_idle(c);
	return 0;
}

/*
 * May c see the status of a message held here?  Its own kind of user
 * may: one who may receive from its local queue (or administer it), or
 * send to its destination (its sender, in practice); else node-wide
 * admin.  A message no longer here (acked, handed, purged) has no queue
 * left to judge by: its id, which only its sender and receivers learn,
 * is the capability.
 */
static int
status_visible(struct client *c, const struct store_msg_info *i)
{
	char target[FERRY_NODE_MAX + FERRY_QUEUE_MAX + 2];

	if (i->queue[0] != '\0') {
		if (client_allowed(c, POLICY_OP_RECV, i->queue) ||
		    client_allowed(c, POLICY_OP_ADMIN, i->queue))
			return 1;
	}
	snprintf(target, sizeof(target), "%s/%s", i->msg.dst_node,
		 i->msg.dst_queue);
	return client_allowed(c, POLICY_OP_SEND, target) ||
	       client_allowed(c, POLICY_OP_ADMIN, "");
}

static int
allowed(struct client *c, unsigned op, const char *target)
{
	if (client_allowed(c, op, target))
		return 1;
	log_info("refused %s of %s for uid %ld (pid %ld): not allowed by "
		 "[acl] in ferry.conf",
		 policy_op_name(op), target[0] ? target : "the node",
		 (long)c->uid, (long)c->pid);
	client_error(c, c->reqid, FERRY_EPERM,
		     "uid %ld may not %s %s (see [acl] in ferry.conf)",
		     (long)c->uid, policy_op_name(op),
		     target[0] ? target : "the node");
	client_idle(c);
	return 0;
}

static int64_t
lease_of(struct client *c, const struct ferry_fields *fl)
{
	int64_t lease = c->ag->pol.default_lease_ms;

	if (FERRY_HAS(fl, FERRY_T_LEASE_MS) && fl->lease_ms > 0)
		lease = fl->lease_ms > (uint64_t)c->ag->pol.max_lease_ms
			    ? c->ag->pol.max_lease_ms
			    : (int64_t)fl->lease_ms;
	return lease;
}

/* SEND: check, build the message, then put it or start its stream. */
static void
req_send(struct client *c, const struct ferry_frame *f,
	 const struct ferry_fields *fl)
{
	struct agent *ag = c->ag;
	char target[FERRY_NODE_MAX + FERRY_QUEUE_MAX + 2];
	struct req_job *r;
	struct ferry_msg *m;
	int64_t ttl, now = link_now_ms();
	int fin = (f->flags & FERRY_FL_FIN) != 0;

	if (!need(c, fl, FERRY_T_DST_NODE, "destination node") ||
	    !need(c, fl, FERRY_T_DST_QUEUE, "destination queue"))
		return;
	if (!ferry_node_name_valid(fl->dst_node) ||
	    !ferry_queue_name_valid(fl->dst_queue)) {
		client_error(c, c->reqid, FERRY_EINVAL,
			     "'%s/%s' is not a valid NODE/QUEUE address",
			     fl->dst_node, fl->dst_queue);
		client_idle(c);
		return;
	}
	if (ferry_queue_reserved(fl->dst_queue)) {
		client_error(c, c->reqid, FERRY_EPERM,
			     "queue '%s' is reserved for the agent (names "
			     "that begin with '%s' cannot be sent to)",
			     fl->dst_queue, FERRY_RESERVED_PREFIX);
		client_idle(c);
		return;
	}
	snprintf(target, sizeof(target), "%s/%s", fl->dst_node, fl->dst_queue);
	if (!allowed(c, POLICY_OP_SEND, target))
		return;
	if (FERRY_HAS(fl, FERRY_T_PAYLOAD_LEN) &&
	    fl->payload_len > ag->pol.max_message_bytes) {
		client_error(c, c->reqid, FERRY_ETOOBIG,
			     "message of %llu bytes is larger than "
			     "max_message (%llu bytes)",
			     (unsigned long long)fl->payload_len,
			     (unsigned long long)ag->pol.max_message_bytes);
		client_idle(c);
		return;
	}
	if (fin && fl->payload_len_inline > ag->pol.max_message_bytes) {
		client_error(c, c->reqid, FERRY_ETOOBIG,
			     "message of %zu bytes is larger than max_message "
			     "(%llu bytes)",
			     fl->payload_len_inline,
			     (unsigned long long)ag->pol.max_message_bytes);
		client_idle(c);
		return;
	}
	if (fin && FERRY_HAS(fl, FERRY_T_PAYLOAD_LEN) &&
	    fl->payload_len != fl->payload_len_inline) {
		client_error(c, c->reqid, FERRY_EINVAL,
			     "payload length does not match the payload");
		client_idle(c);
		return;
	}
	if (!fin && fl->payload != NULL) {
		client_error(c, c->reqid, FERRY_EPROTO,
			     "a streamed SEND carries its payload in DATA");
		client_idle(c);
		return;
	}
	r = rj_new(c, fin ? RK_PUT : RK_WOPEN, c->reqid);
	if (r == NULL) {
		fail_nomem(c, c->reqid);
		return;
	}
	m = &r->msg;
	ferry_msg_init(m);
	if (FERRY_HAS(fl, FERRY_T_ID))
		memcpy(m->id, fl->id, FERRY_ID_LEN);
	else if (ferry_id_generate(m->id) != 0) {
		rj_free(r);
		client_error(c, c->reqid, FERRY_EIO, "no randomness for an id");
		client_idle(c);
		return;
	}
	snprintf(m->src_node, sizeof(m->src_node), "%s", ag->pol.node_name);
	memcpy(m->dst_node, fl->dst_node, sizeof(m->dst_node));
	memcpy(m->dst_queue, fl->dst_queue, sizeof(m->dst_queue));
	memcpy(m->reply_to, fl->reply_to, sizeof(m->reply_to));
	memcpy(m->correlation, fl->correlation, sizeof(m->correlation));
	if (FERRY_HAS(fl, FERRY_T_PRIORITY))
		m->priority = fl->priority;
	m->flags = fl->flags;
	m->created_ms = now;
	if (!FERRY_HAS(fl, FERRY_T_TTL_MS))
		ttl = ag->pol.default_ttl_ms;
	else if (fl->ttl_ms > (uint64_t)INT64_MAX / 4)
		ttl = 0; /* beyond any clock: never expires */
	else
		ttl = (int64_t)fl->ttl_ms;
	m->expires_ms = ttl > 0 ? now + ttl : 0;
	if (ferry_msg_validate(m) != 0) {
		rj_free(r);
		client_error(c, c->reqid, FERRY_EINVAL,
			     "invalid message: check priority (0-7), flags, "
			     "reply-to");
		client_idle(c);
		return;
	}
	if (fin) {
		r->len = fl->payload_len_inline;
		r->buf = malloc(r->len ? r->len : 1);
		if (r->buf == NULL) {
			rj_free(r);
			fail_nomem(c, c->reqid);
			return;
		}
		if (r->len != 0)
			memcpy(r->buf, fl->payload, r->len);
		put_async(c, r);
		return;
	}
	/* A stream: stage DATA frames until FIN. */
	if (c->stage == NULL && (c->stage = malloc(AGENT_STAGE_MAX)) == NULL) {
		rj_free(r);
		fail_nomem(c, c->reqid);
		return;
	}
	c->in_msg = *m;
	c->stage_len = 0;
	c->in_total = 0;
	c->in_error = 0;
	c->in_declared =
	    FERRY_HAS(fl, FERRY_T_PAYLOAD_LEN) ? fl->payload_len : UINT64_MAX;
	c->in_max = ag->pol.max_message_bytes;
	rj_submit(c, r);
}

void
request_data(struct client *c, const struct ferry_frame *f)
{
	int fin = (f->flags & FERRY_FL_FIN) != 0;
	struct req_job *r;

	if (f->body_len > FERRY_DATA_MAX) {
		client_violation(c, f->reqid, "DATA frame larger than 256 KiB");
		return;
	}
	if (f->reqid != c->reqid) {
		client_error(c, f->reqid, FERRY_EPROTO,
			     "DATA for request %u while %u streams", f->reqid,
			     c->reqid);
		c->in_error = FERRY_EPROTO;
	}
	if (c->in_error != 0) {
		/* Refused already (and answered): drop the rest. */
		if (fin) {
			c->in_error = 0;
			client_idle(c);
		}
		return;
	}
	if (f->flags & FERRY_FL_ABORT) {
		r = rj_new(c, RK_WABORT, c->reqid);
		if (r == NULL) {
			fail_nomem(c, c->reqid);
			return;
		}
		r->writer = c->writer;
		c->writer = NULL;
		rj_submit(c, r);
		return;
	}
	if (c->in_total + f->body_len > c->in_max ||
	    c->in_total + f->body_len > c->in_declared ||
	    (fin && c->in_declared != UINT64_MAX &&
	     c->in_total + f->body_len != c->in_declared)) {
		int too_big = c->in_total + f->body_len > c->in_max;
		stream_in_fail(c, c->reqid,
			       too_big ? FERRY_ETOOBIG : FERRY_EINVAL,
			       too_big ? "larger than max_message"
				       : "payload length differs from the "
					 "declared length");
		if (fin) {
			c->in_error = 0;
			client_idle(c);
		}
		return;
	}
	memcpy(c->stage + c->stage_len, f->body, f->body_len);
	c->stage_len += f->body_len;
	c->in_total += f->body_len;
	if (!fin && c->stage_len < FERRY_DATA_MAX)
		return;
	r = rj_new(c, fin ? RK_WCOMMIT : RK_WWRITE, c->reqid);
	if (r == NULL || (r->buf = malloc(c->stage_len + 1)) == NULL) {
		free(r);
		stream_in_fail(c, c->reqid, FERRY_ENOMEM, "out of memory");
		return;
	}
	memcpy(r->buf, c->stage, c->stage_len);
	r->len = c->stage_len;
	r->msg = c->in_msg;
	r->writer = c->writer;
	c->writer = NULL;
	c->stage_len = 0;
	rj_submit(c, r);
}

/* RECV, or a retry of it by notify.c. */
void
request_take(struct client *c, uint32_t reqid, const char *queue,
	     int64_t lease_ms, int peek)
{
	struct req_job *r = rj_new(c, RK_TAKE, reqid);

	if (r == NULL) {
		fail_nomem(c, reqid);
		return;
	}
	snprintf(r->queue, sizeof(r->queue), "%s", queue);
	r->lease_ms = lease_ms;
	r->peek = peek;
	rj_submit(c, r);
}

void
subscription_push(struct client *c)
{
	struct req_job *r;

	if (c->sub_reqid == 0 || c->credit == 0 || c->state == CS_DEAD)
		return;
	if (c->sub_busy || evbuffer_get_length(bufferevent_get_output(c->bev)) >
			       AGENT_OUTPUT_MAX) {
		/* In flight, or the client is not reading: on_write or the
		 * take's end tries again. */
		c->sub_wanted = 1;
		return;
	}
	r = rj_new(c, RK_SUBTAKE, c->sub_reqid);
	if (r == NULL)
		return;
	snprintf(r->queue, sizeof(r->queue), "%s", c->sub_queue);
	r->lease_ms = c->sub_lease_ms;
	c->sub_busy = 1;
	c->sub_wanted = 0;
	rj_submit(c, r);
}

static void
req_simple(struct client *c, enum req_kind kind, const char *queue)
{
	struct req_job *r = rj_new(c, kind, c->reqid);

	if (r == NULL) {
		fail_nomem(c, c->reqid);
		return;
	}
	if (queue != NULL)
		snprintf(r->queue, sizeof(r->queue), "%s", queue);
	rj_submit(c, r);
}

void
request_dispatch(struct client *c, const struct ferry_frame *f)
{
	struct ferry_fields fl;
	const char *why = NULL;
	struct req_job *r;
	struct ferry_fbuf b;

	if (ferry_fields_parse(f, &fl, &why) != 0) {
		char text[160];
		snprintf(text, sizeof(text), "malformed %s: %s",
			 ferry_frame_type_name(f->type), why);
		client_violation(c, f->reqid, text);
		return;
	}
	if (f->type == FERRY_F_CREDIT) {
		if (f->reqid == c->sub_reqid && c->sub_reqid != 0) {
			uint64_t n = (uint64_t)c->credit + fl.credit;
			c->credit = n > 1000000 ? 1000000 : (uint32_t)n;
			if (c->state != CS_DEAD)
				subscription_push(c);
		}
		return;
	}
	c->reqid = f->reqid;
	c->type = f->type;
	switch (f->type) {
	case FERRY_F_HELLO:
		agent_frame(c->ag, &b, FERRY_F_HELLO_OK, 0, c->reqid);
		ferry_fbuf_u32(&b, FERRY_T_VERSION, FERRY_PROTO_VERSION);
		ferry_fbuf_str(&b, FERRY_T_NODE, c->ag->pol.node_name);
		client_send(c, &b);
		client_idle(c);
		return;
	case FERRY_F_SEND:
		req_send(c, f, &fl);
		return;
	case FERRY_F_RECV: {
		int64_t lease;
		if (!need(c, &fl, FERRY_T_QUEUE, "queue") ||
		    !queue_ok(c, fl.queue) ||
		    !allowed(c, POLICY_OP_RECV, fl.queue))
			return;
		lease = lease_of(c, &fl);
		c->wait_until_ms = 0;
		if (FERRY_HAS(&fl, FERRY_T_WAIT_MS) && fl.wait_ms != 0)
			c->wait_until_ms =
			    fl.wait_ms > INT64_MAX / 4
				? -1
				: link_mono_ms() + (int64_t)fl.wait_ms;
		request_take(c, c->reqid, fl.queue, lease, fl.peek != 0);
		return;
	}
	case FERRY_F_ACK:
	case FERRY_F_NACK:
	case FERRY_F_FETCH:
		if (!need(c, &fl, FERRY_T_ID, "message id"))
			return;
		r = rj_new(c, RK_GET, c->reqid);
		if (r == NULL) {
			fail_nomem(c, c->reqid);
			return;
		}
		r->then = f->type == FERRY_F_ACK    ? RK_ACK
			  : f->type == FERRY_F_NACK ? RK_NACK
						    : RK_FETCH;
		memcpy(r->id, fl.id, FERRY_ID_LEN);
		r->token = fl.token;
		r->offset = fl.offset;
		rj_submit(c, r);
		return;
	case FERRY_F_BROWSE:
		if (!need(c, &fl, FERRY_T_QUEUE, "queue") ||
		    !queue_ok(c, fl.queue) ||
		    !allowed(c, POLICY_OP_RECV, fl.queue))
			return;
		r = rj_new(c, RK_BROWSE, c->reqid);
		if (r == NULL) {
			fail_nomem(c, c->reqid);
			return;
		}
		snprintf(r->queue, sizeof(r->queue), "%s", fl.queue);
		r->limit = fl.limit == 0 || fl.limit > AGENT_BROWSE_MAX
			       ? AGENT_BROWSE_MAX
			       : fl.limit;
		rj_submit(c, r);
		return;
	case FERRY_F_QCREATE:
		if (!need(c, &fl, FERRY_T_QUEUE, "queue") ||
		    !queue_ok(c, fl.queue) ||
		    !allowed(c, POLICY_OP_ADMIN, fl.queue))
			return;
		r = rj_new(c, RK_QCREATE, c->reqid);
		if (r == NULL) {
			fail_nomem(c, c->reqid);
			return;
		}
		snprintf(r->queue, sizeof(r->queue), "%s", fl.queue);
		r->lim.max_bytes = fl.max_bytes;
		r->lim.max_msgs = fl.max_msgs;
		rj_submit(c, r);
		return;
	case FERRY_F_QLIST:
		req_simple(c, RK_QLIST, NULL);
		return;
	case FERRY_F_QSTATS:
	case FERRY_F_QPURGE:
		if (!need(c, &fl, FERRY_T_QUEUE, "queue") ||
		    !queue_ok(c, fl.queue) ||
		    !allowed(c,
			     f->type == FERRY_F_QPURGE ? POLICY_OP_ADMIN
						       : POLICY_OP_RECV,
			     fl.queue))
			return;
		req_simple(c, f->type == FERRY_F_QPURGE ? RK_QPURGE : RK_QSTATS,
			   fl.queue);
		return;
	case FERRY_F_STATUS:
		if (!need(c, &fl, FERRY_T_ID, "message id"))
			return;
		r = rj_new(c, RK_STATUS, c->reqid);
		if (r == NULL) {
			fail_nomem(c, c->reqid);
			return;
		}
		memcpy(r->id, fl.id, FERRY_ID_LEN);
		rj_submit(c, r);
		return;
	case FERRY_F_INFO:
		if (!allowed(c, POLICY_OP_ADMIN, ""))
			return; /* node information: node-wide admin */
		req_simple(c, RK_INFO, NULL);
		return;
	case FERRY_F_PEERS:
		if (!allowed(c, POLICY_OP_ADMIN, ""))
			return;
		req_simple(c, RK_PEERS, NULL);
		return;
	case FERRY_F_EXPORT:
	case FERRY_F_IMPORT:
		request_sneak(c, &fl, f->type == FERRY_F_EXPORT);
		return;
	case FERRY_F_SUBSCRIBE:
		if (!need(c, &fl, FERRY_T_QUEUE, "queue") ||
		    !queue_ok(c, fl.queue) ||
		    !allowed(c, POLICY_OP_RECV, fl.queue))
			return;
		if (c->sub_reqid != 0) {
			client_error(c, c->reqid, FERRY_ESTATE,
				     "already subscribed to %s", c->sub_queue);
			client_idle(c);
			return;
		}
		c->sub_reqid = c->reqid;
		snprintf(c->sub_queue, sizeof(c->sub_queue), "%s", fl.queue);
		c->credit = fl.credit > 1000000 ? 1000000 : fl.credit;
		c->sub_lease_ms = lease_of(c, &fl);
		agent_frame(c->ag, &b, FERRY_F_OK, 0, c->reqid);
		client_send(c, &b);
		client_idle(c);
		return;
	case FERRY_F_UNSUBSCRIBE:
		c->sub_reqid = 0;
		c->credit = 0;
		agent_frame(c->ag, &b, FERRY_F_OK, 0, c->reqid);
		client_send(c, &b);
		client_idle(c);
		return;
	default:
		client_error(c, c->reqid, FERRY_EPROTO,
			     "unknown request type %u", f->type);
		client_idle(c);
		return;
	}
}

/* ------------------------------------------------------------- peers */

static int
count_for_peer(const struct store_msg_info *i, void *arg)
{
	struct req_job *r = arg;

	for (size_t k = 0; k < r->npeers; k++)
		if (strcmp(r->peers[k].name, i->msg.dst_node) == 0) {
			r->peer_msgs[k]++;
			r->peer_bytes[k] += i->msg.payload_len;
			break;
		}
	return 0;
}

/* Pool thread: the link's snapshot, and what waits for each peer (a walk
 * of each peer's part of the outbound side). */
static int
peers_gather(struct store *st, struct req_job *r)
{
	size_t n = link_peers(r->ag->link, NULL, 0);

	if (n == 0)
		return 0;
	r->peers = calloc(n, sizeof(*r->peers));
	r->peer_msgs = calloc(n, sizeof(*r->peer_msgs));
	r->peer_bytes = calloc(n, sizeof(*r->peer_bytes));
	if (r->peers == NULL || r->peer_msgs == NULL || r->peer_bytes == NULL)
		return FERRY_ENOMEM;
	n = link_peers(r->ag->link, r->peers, n);
	r->npeers = n;
	for (size_t i = 0; i < n; i++) {
		struct store_out_pos pos = {{0}, 0};
		int rc = store_out_scan(st, r->peers[i].name, &pos, 0,
					count_for_peer, r);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void
done_peers(struct client *c, struct req_job *r)
{
	struct ferry_fbuf b;

	if (r->rc != 0) {
		answer_error(c, r->reqid, r->rc, "cannot list the peers");
		client_idle(c);
		return;
	}
	for (size_t i = 0; i < r->npeers; i++) {
		const struct link_peer_status *p = &r->peers[i];
		agent_frame(c->ag, &b, FERRY_F_PEER, 0, r->reqid);
		ferry_fbuf_str(&b, FERRY_T_PEER, p->name);
		ferry_fbuf_str(&b, FERRY_T_FINGERPRINT, p->fpr);
		ferry_fbuf_u8(&b, FERRY_T_CONNECTED,
			      p->connected ? (p->inbound ? 2 : 1) : 0);
		if (p->addr[0] != '\0')
			ferry_fbuf_str(&b, FERRY_T_ADDR, p->addr);
		ferry_fbuf_u64(&b, FERRY_T_AT_MS, (uint64_t)p->since_ms);
		ferry_fbuf_u64(&b, FERRY_T_LAST_SEEN_MS,
			       (uint64_t)p->last_seen_ms);
		ferry_fbuf_u64(&b, FERRY_T_NEXT_RETRY_MS,
			       (uint64_t)p->next_retry_ms);
		ferry_fbuf_u64(&b, FERRY_T_BYTES_IN, p->bytes_in);
		ferry_fbuf_u64(&b, FERRY_T_BYTES_OUT, p->bytes_out);
		ferry_fbuf_u64(&b, FERRY_T_MSGS_IN, p->msgs_in);
		ferry_fbuf_u64(&b, FERRY_T_MSGS_OUT, p->msgs_out);
		ferry_fbuf_u64(&b, FERRY_T_OUT_COUNT, r->peer_msgs[i]);
		ferry_fbuf_u64(&b, FERRY_T_OUT_BYTES, r->peer_bytes[i]);
		if (p->last_error[0] != '\0')
			ferry_fbuf_str(&b, FERRY_T_TEXT, p->last_error);
		client_send(c, &b);
	}
	agent_frame(c->ag, &b, FERRY_F_END, 0, r->reqid);
	client_send(c, &b);
	client_idle(c);
}
