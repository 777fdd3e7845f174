/*
 * requests_msg.c - the requests that move messages: SEND (whole or
 * streamed in DATA), RECV and its wait, ACK, NACK, FETCH, BROWSE and
 * subscriptions (docs/protocol.md §4).
 *
 * Payloads move in bounded pieces: a streamed SEND is staged up to two
 * DATA frames and written as the store takes it; a payload going out is
 * read one DATA frame at a time, when the socket has drained.  The
 * caller's rights were checked by the table in requests.c before any
 * handler here runs (ACK, NACK and FETCH: once the message's queue is
 * known, in done_get).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/engine.h"
#include "agent/split.h"
#include "lib/util.h"
#include "agent/requests_int.h"

/* Can a message for node leave this node (a peer, or a [route])? */
static int
has_route(const char *node)
{
	char hops[POLICY_ROUTE_PEERS][FERRY_NODE_MAX + 1];
	size_t n = 0;

	return engine_hops(node, NULL, hops, POLICY_ROUTE_PEERS, &n) !=
	       ENGINE_NO_ROUTE;
}

static void put_async(struct client *c, struct req_job *r);
static void ack_async(struct client *c, struct req_job *r);

/* A SEND to @GROUP: r->route gets the group and its members (the group
 * id is the message's, set once it is known).  0, or answered (-1). */
static int
group_route(struct client *c, struct req_job *r, const struct ferry_fields *fl)
{
	struct store_route *rt = calloc(1, sizeof(*rt));
	char why[512];
	int rc;

	if (rt == NULL) {
		rj_free(r);
		fail_nomem(c, c->reqid);
		return -1;
	}
	rc = split_resolve(&c->ag->pol, fl->dst_node + 1, rt->members,
			   sizeof(rt->members), why, sizeof(why));
	if (rc != 0) {
		free(rt);
		rj_free(r);
		if (rc == FERRY_ENOMEM)
			fail_nomem(c, c->reqid);
		else {
			client_error(c, c->reqid, rc, "%s", why);
			client_idle(c);
		}
		return -1;
	}
	snprintf(rt->group, sizeof(rt->group), "%s", fl->dst_node + 1);
	r->route = rt;
	return 0;
}

static int
unseal_read(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	return store_reader_read(arg, buf, cap, n);
}

static int
unseal_seek(void *arg, uint64_t off)
{
	return store_reader_seek(arg, off);
}

/*
 * A sealed payload (--seal) is opened here when this node is its
 * destination: clients read the plaintext, and the header they get says
 * its length.  Elsewhere (a relay's dead queue) it is only ciphertext.
 * The node's name does not change on SIGHUP (main.c refuses that), so
 * the pool thread may compare with it.
 */
static int
unseal_open(struct req_job *r)
{
	struct seal_src src = {unseal_read, unseal_seek, r->reader};
	int rc;

	if (!(r->info.msg.flags & FERRY_MSG_SEALED) ||
	    strcmp(r->info.msg.dst_node, r->ag->pol.node_name) != 0)
		return 0;
	rc =
	    seal_dec_open(identity_kx_sk(r->ag->id), r->info.msg.id,
			  r->info.msg.payload_len, r->offset, &src, &r->unseal);
	if (rc == FERRY_ECORRUPT)
		r->why = "the sealed payload does not open with this node's "
			 "key (damaged, or sealed to another key)";
	if (rc == 0)
		r->info.msg.payload_len = seal_dec_plain_len(r->unseal);
	return rc;
}

static int
payload_read(struct req_job *r, uint8_t *buf, size_t cap, size_t *n)
{
	int rc;

	if (r->unseal == NULL)
		return store_reader_read(r->reader, buf, cap, n);
	rc = seal_dec_read(r->unseal, buf, cap, n);
	if (rc == FERRY_ECORRUPT)
		r->why = "the sealed payload does not open: damaged";
	return rc;
}

/* Open the payload of r->info: read it whole when small, else keep a
 * reader for the stream. */
int
open_payload(struct store *st, struct req_job *r)
{
	uint64_t len;
	int rc;

	rc = store_reader_open(st, r->info.msg.id, &r->reader);
	if (rc != 0)
		return rc;
	if ((rc = unseal_open(r)) != 0)
		return rc;
	len = r->info.msg.payload_len;
	if (r->unseal == NULL && r->offset != 0 &&
	    (rc = store_reader_seek(r->reader, r->offset)))
		return rc;
	if (len - r->offset > FERRY_INLINE_MAX)
		return 0;
	r->buf = malloc(len - r->offset + 1);
	if (r->buf == NULL)
		return FERRY_ENOMEM;
	while (r->len < len - r->offset) {
		size_t n = 0;
		rc = payload_read(r, r->buf + r->len,
				  (size_t)(len - r->offset) - r->len, &n);
		if (rc != 0)
			return rc;
		if (n == 0)
			return FERRY_ECORRUPT;
		r->len += n;
	}
	seal_dec_free(r->unseal);
	r->unseal = NULL;
	store_reader_close(r->reader);
	r->reader = NULL;
	return 0;
}

/* Forget what open_payload kept of the message r held. */
static void
payload_reset(struct req_job *r)
{
	seal_dec_free(r->unseal);
	r->unseal = NULL;
	r->why = NULL;
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
void
take_readable(struct store *st, struct req_job *r)
{
	uint8_t first[FERRY_ID_LEN];
	char hex[FERRY_ID_HEX_LEN + 1], why[200];
	int moved = 0;

	for (;;) {
		if (r->taken) {
			r->taken = 0; /* by take_async: open its payload */
		} else {
			r->rc = store_take(st, r->queue, r->lease_ms, &r->info,
					   &r->token);
			if (r->rc != 0)
				return;
		}
		r->rc = open_payload(st, r);
		if (r->rc == 0)
			return;
		ferry_id_to_hex(r->info.msg.id, hex);
		snprintf(why, sizeof(why), "%s",
			 r->why != NULL ? r->why : store_last_error());
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

/*
 * Resuming a cut stream (docs/protocol.md §4, SEND).  A SEND whose id
 * the client chose maps to an id of its own (scope.c): a partial left
 * under that id is the same client's earlier attempt, cut (a killed
 * `ferry send`, a crash of ferryd).  The same SEND again takes it over:
 * if it is for the same address and not longer than the payload now
 * declared, it is resumed and the first bytes of the new stream are
 * compared with what it holds rather than written again (so a resend
 * costs a read of the stored part, and the payload cannot become a mix
 * of two versions); else it is dropped and the send starts afresh.
 */
int
stream_resume(struct store *st, struct req_job *r)
{
	const struct ferry_msg *p;
	uint64_t off = 0;
	int rc;

	rc = store_writer_resume(st, r->msg.id, &r->writer, &off);
	if (rc == FERRY_ENOTFOUND) /* gone meanwhile, or unresumable */
		return store_writer_open_route(st, &r->msg, r->route,
					       &r->writer);
	if (rc != 0)
		return rc; /* FERRY_EBUSY: another connection streams it */
	p = store_writer_msg(r->writer);
	if (strcmp(p->src_node, r->msg.src_node) != 0) {
		/* Not a local client's: a peer streams under this id (it
		 * could only have learned it).  Leave it alone. */
		rc = store_writer_suspend(r->writer);
		r->writer = NULL;
		return rc != 0 ? rc : FERRY_EBUSY;
	}
	if (strcmp(p->dst_node, r->msg.dst_node) != 0 ||
	    strcmp(p->dst_queue, r->msg.dst_queue) != 0 ||
	    ((p->flags ^ r->msg.flags) & FERRY_MSG_SEALED) ||
	    off > ((r->msg.flags & FERRY_MSG_SEALED) && r->count != UINT64_MAX
		       ? seal_sealed_len(r->count)
		       : r->count)) {
		/* Another message under the same id: the newest wins.  A
		 * sealed one is compared as sealed bytes (its partial holds
		 * them; r->count is the plaintext's declared length). */
		store_writer_abort(r->writer);
		r->writer = NULL;
		return store_writer_open_route(st, &r->msg, r->route,
					       &r->writer);
	}
	if (off > 0 && (rc = store_writer_prefix(r->writer, &r->reader)) != 0) {
		/* Kept as it was for a later try. */
		int rc2 = store_writer_suspend(r->writer);
		r->writer = NULL;
		return rc2 != 0 ? rc2 : rc;
	}
	r->msg = *p; /* its header (created_ms, expiry) as first sent */
	r->offset = off;
	return 0;
}

int
stream_skip(struct req_job *r)
{
	uint8_t tmp[16384];
	const uint8_t *p = r->buf;
	size_t left = (size_t)r->offset;

	while (left > 0) {
		size_t n = 0;
		int rc = store_reader_read(
		    r->reader, tmp, left < sizeof(tmp) ? left : sizeof(tmp),
		    &n);
		if (rc != 0)
			return rc;
		if (n == 0)
			return FERRY_ECORRUPT;
		if (memcmp(tmp, p, n) != 0) {
			r->why =
			    "the payload differs from what the interrupted "
			    "send with this id stored; that part is "
			    "dropped: send again";
			return FERRY_ESTATE;
		}
		p += n;
		left -= n;
	}
	if (r->kind == RK_WCOMMIT && r->count != 0) {
		r->why = "the payload is shorter than what the interrupted "
			 "send with this id stored; that part is dropped: "
			 "send again";
		return FERRY_EINVAL;
	}
	return 0;
}

int
partial_drop_own(struct store *st, struct req_job *r)
{
	struct store_writer *w = NULL;
	int rc;

	rc = store_writer_resume(st, r->msg.id, &w, NULL);
	if (rc == FERRY_ENOTFOUND)
		return 0; /* no partial: the put says why it is busy */
	if (rc != 0)
		return rc; /* FERRY_EBUSY: being streamed now */
	if (strcmp(store_writer_msg(w)->src_node, r->msg.src_node) != 0) {
		/* A peer's (as in stream_resume): not ours to drop. */
		rc = store_writer_suspend(w);
		return rc != 0 ? rc : FERRY_EBUSY;
	}
	store_writer_abort(w);
	return 0;
}

/* client->leases: remember a lease handed out, recall it at its ACK. */
static void
lease_remember(struct client *c, const struct store_msg_info *info,
	       uint64_t token)
{
	struct client_lease *l = &c->leases[c->lease_next];

	c->lease_next = (c->lease_next + 1) % AGENT_LEASE_MEMO;
	memcpy(l->id, info->msg.id, FERRY_ID_LEN);
	l->token = token;
	l->msg_flags = info->msg.flags;
	snprintf(l->queue, sizeof(l->queue), "%s", info->queue);
	snprintf(l->src_node, sizeof(l->src_node), "%s", info->msg.src_node);
}

/* The lease of id under token, as remembered (and forgotten now: an ACK
 * settles it either way), or NULL. */
static struct client_lease *
lease_recall(struct client *c, const uint8_t *id, uint64_t token)
{
	for (unsigned i = 0; token != 0 && i < AGENT_LEASE_MEMO; i++) {
		struct client_lease *l = &c->leases[i];

		if (l->token == token && memcmp(l->id, id, FERRY_ID_LEN) == 0) {
			l->token = 0;
			return l;
		}
	}
	return NULL;
}

/* Send MSG for r (a take, peek or fetch), then its payload. */
static void
answer_msg(struct client *c, struct req_job *r, uint32_t reqid)
{
	struct ferry_fbuf b;
	int inline_payload = r->reader == NULL;

	agent_frame(c->ag, &b, FERRY_F_MSG, inline_payload ? FERRY_FL_FIN : 0,
		    reqid);
	put_info(&b, &r->info, c->ag->pol.node_name);
	if (r->token != 0)
		ferry_fbuf_u64(&b, FERRY_T_TOKEN, r->token);
	if (inline_payload)
		ferry_fbuf_bytes(&b, FERRY_T_PAYLOAD, r->buf, r->len);
	client_send(c, &b);
	if (r->token != 0)
		lease_remember(c, &r->info, r->token);
	if (inline_payload || c->state == CS_DEAD)
		return; /* a dead client's reader is closed with the job */
	c->reader = r->reader;
	r->reader = NULL;
	c->unseal = r->unseal;
	r->unseal = NULL;
	c->out_left = r->info.msg.payload_len - r->offset;
	c->out_reqid = reqid;
	c->state = CS_STREAM_OUT;
	stream_out_next(c);
}

void
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
	put_info(&b, &r->info, c->ag->pol.node_name);
	ferry_fbuf_u64(&b, FERRY_T_TOKEN, r->token);
	if (r->reader == NULL)
		ferry_fbuf_bytes(&b, FERRY_T_PAYLOAD, r->buf, r->len);
	client_send(c, &b);
	if (c->credit > 0)
		c->credit--;
	subscription_push(c);
}

void
done_get(struct client *c, struct req_job *r)
{
	struct req_job *n;

	if (r->rc == FERRY_ENOTFOUND && r->status != NULL &&
	    r->status->kind >= STORE_ST_ACKED) {
		/* Not here any more: say what became of it, as status does
		 * (a second ack, say). */
		client_error(c, r->reqid, FERRY_ESTATE,
			     "the message is not here any more: %s (see "
			     "`ferry status`)",
			     r->status->kind == STORE_ST_ACKED
				 ? "acknowledged already"
			     : r->status->kind == STORE_ST_HANDED
				 ? "handed to the next hop"
			     : r->status->kind == STORE_ST_PURGED
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
	/* The ACL cell of ACK, NACK and FETCH (REQ_ON_MESSAGE). */
	if (!req_allowed_message(c, r->cmd, r->info.queue))
		return;
	n = rj_new(c, r->then, r->reqid);
	if (n == NULL) {
		fail_nomem(c, r->reqid);
		return;
	}
	memcpy(n->id, r->id, FERRY_ID_LEN);
	n->token = r->token;
	n->offset = r->offset;
	n->lease_ms = r->lease_ms;
	n->dead_reason = r->dead_reason;
	memcpy(n->text, r->text, sizeof(n->text));
	n->info = r->info;
	snprintf(n->queue, sizeof(n->queue), "%s", r->info.queue);
	if (n->kind == RK_ACK)
		ack_async(c, n);
	else
		rj_submit(c, n);
}

void
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

/* ACK and NACK, once the store did them. */
void
done_ack(struct client *c, struct req_job *r)
{
	struct ferry_fbuf b;

	if (r->rc != 0) {
		answer_error(c, r->reqid, r->rc, "refused");
		client_idle(c);
		return;
	}
	if (r->kind == RK_NACK && r->dead_reason != 0) {
		char hex[FERRY_ID_HEX_LEN + 1];

		ferry_id_to_hex(r->id, hex);
		log_info("message %s in queue %s moved to the dead queue by "
			 "its consumer (client %llu): %s",
			 hex, r->queue, (unsigned long long)c->cid,
			 store_dead_reason_name(
			     (enum store_dead_reason)r->dead_reason));
	}
	/* The store queued an "acked" (or, dead-lettered, a "refused")
	 * receipt for the source: send it. */
	if ((r->kind == RK_ACK || r->dead_reason != 0) &&
	    (r->info.msg.flags & FERRY_MSG_RECEIPT) &&
	    strcmp(r->info.msg.src_node, c->ag->pol.node_name) != 0)
		engine_kick(c->ag, r->info.msg.src_node, FERRY_PRIO_MAX - 1);
	agent_frame(c->ag, &b, FERRY_F_OK, 0, r->reqid);
	if (r->kind == RK_NACK && r->dead_reason != 0)
		notify_queue(c->ag, FERRY_DEAD_QUEUE);
	else if (r->kind == RK_NACK && r->lease_ms == 0)
		notify_queue(c->ag, r->queue);
	client_send(c, &b);
	client_idle(c);
}

/* Why a put was refused, naming the limit and its value for a quota. */
static const char *
quota_text(struct client *c, const struct req_job *r, char *buf, size_t cap)
{
	const struct policy *p = &c->ag->pol;
	uint64_t mb = 0, mm = 0;
	char q[80];

	if (r->rc == FERRY_EQUOTA) {
		snprintf(buf, cap,
			 "the store is at its quota: store_quota = %.1f MiB "
			 "([limits] in ferry.conf)",
			 (double)p->store_quota_bytes / 1048576.0);
		return buf;
	}
	if (r->rc != FERRY_EQUEUEQUOTA)
		return err_text(c, r->rc, buf, cap);
	char b[48], m[48];

	policy_queue_limits(p, r->msg.dst_queue, &mb, &mm);
	ferry_quote(r->msg.dst_queue, q, sizeof(q));
	if (mb != 0)
		snprintf(b, sizeof(b), "%.1f MiB", (double)mb / 1048576.0);
	else
		snprintf(b, sizeof(b), "no size limit");
	if (mm != 0)
		snprintf(m, sizeof(m), "%llu messages", (unsigned long long)mm);
	else
		snprintf(m, sizeof(m), "no count limit");
	if (snprintf(buf, cap,
		     "queue %s is at its limit: %s, %s ([queue %s] max_bytes / "
		     "max_messages, or [limits] queue_quota / "
		     "queue_max_messages)",
		     q, b, m, q) < 0)
		buf[0] = '\0';
	return buf;
}

/* ERROR EDUPLICATE for a SEND, with the id it was stored under (a
 * client's chosen id is scoped: the one to ask `status` about). */
static void
answer_duplicate(struct client *c, uint32_t reqid,
		 const uint8_t id[FERRY_ID_LEN])
{
	struct ferry_fbuf b;
	char hex[FERRY_ID_HEX_LEN + 1], text[200];

	ferry_id_to_hex(id, hex);
	snprintf(text, sizeof(text),
		 "message %s was accepted before; nothing new was stored", hex);
	agent_frame(c->ag, &b, FERRY_F_ERROR, 0, reqid);
	ferry_fbuf_u32(&b, FERRY_T_CODE, (uint32_t)FERRY_EDUPLICATE);
	ferry_fbuf_str(&b, FERRY_T_TEXT, text);
	ferry_fbuf_bytes(&b, FERRY_T_ID, id, FERRY_ID_LEN);
	client_send(c, &b);
}

/* A pipelined SEND is answered: it leaves c's window. */
static void
put_unpipe(struct client *c, struct req_job *r)
{
	if (r->piped == 0)
		return;
	if (c->puts == 0 || c->put_bytes < r->piped) {
		/* Our bug: the window's count is out of step. */
		log_error("client %llu: pipelined sends miscounted (%u, %zu "
			  "bytes, answering %zu)",
			  (unsigned long long)c->cid, c->puts, c->put_bytes,
			  r->piped);
		abort();
	}
	c->puts--;
	c->put_bytes -= r->piped;
	r->piped = 0;
}

/* A job of kind for r's request that takes over r's message, payload,
 * route and pipelined bytes: a whole SEND of a scoped client tried
 * another way.  NULL when out of memory (the request failed so). */
static struct req_job *
put_pass_on(struct client *c, struct req_job *r, enum req_kind kind)
{
	struct req_job *n = rj_new(c, kind, r->reqid);

	if (n == NULL) {
		fail_nomem(c, r->reqid);
		return NULL;
	}
	n->msg = r->msg;
	n->buf = r->buf;
	n->len = r->len;
	n->route = r->route;
	n->piped = r->piped;
	n->scoped = 1;
	r->buf = NULL;
	r->route = NULL;
	r->piped = 0;
	return n;
}

void
done_put(struct client *c, struct req_job *r)
{
	struct ferry_fbuf b;
	char hex[FERRY_ID_HEX_LEN + 1];

	ferry_id_to_hex(r->msg.id, hex);
	if (r->rc == FERRY_EBUSY && r->kind == RK_PUT && r->scoped &&
	    !r->retried) {
		/* Perhaps the client's own cut stream of this id: a whole
		 * SEND replaces it (stream_resume). */
		struct req_job *n = put_pass_on(c, r, RK_WDROP);
		if (n != NULL)
			rj_submit(c, n);
		return;
	}
	put_unpipe(c, r);
	if (r->rc != 0) {
		if (r->rc == FERRY_ENOSPC || r->rc == FERRY_EQUOTA ||
		    r->rc == FERRY_EQUEUEQUOTA)
			log_warn("refused message %s for %s/%s: %s", hex,
				 r->msg.dst_node, r->msg.dst_queue,
				 ferry_strerror(r->rc));
		char why[512];
		if (r->rc == FERRY_EDUPLICATE)
			answer_duplicate(c, r->reqid, r->msg.id);
		else
			client_error(c, r->reqid, r->rc,
				     "message %s not accepted: %s", hex,
				     quota_text(c, r, why, sizeof(why)));
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
	else if (strcmp(r->msg.dst_node, STORE_SPLIT_DST) == 0)
		split_kick();
	else if (!has_route(r->msg.dst_node))
		log_warn("message %s for %s/%s waits: %s is not a [peer] and "
			 "no [route] line matches it (add one, then send "
			 "ferryd SIGHUP)",
			 hex, r->msg.dst_node, r->msg.dst_queue,
			 r->msg.dst_node);
	else
		engine_kick(c->ag, r->msg.dst_node, r->msg.priority);
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
	stream_in_end(c);
}

void
stream_in_end(struct client *c)
{
	seal_enc_free(c->in_seal);
	c->in_seal = NULL;
	if (c->in_prefix != NULL)
		store_reader_close(c->in_prefix);
	c->in_prefix = NULL;
	c->in_skip = 0;
}

/*
 * Cut-through (docs/session.md §4): a large payload for a peer is sent
 * there while it comes in, if a session is up, instead of after its
 * commit here.  The transfer's END waits for that commit, so the peer
 * never has what this node has not.  Not for a sealed payload (its
 * stored length is not the declared one) nor for one that goes through
 * relays (its origin signature covers the whole payload's hash).
 */
static void
cut_offer(struct client *c)
{
	const struct ferry_msg *m = &c->in_msg;
	struct store_tap *t = NULL;
	char hex[FERRY_ID_HEX_LEN + 1];

	if (c->writer == NULL || c->in_declared == UINT64_MAX ||
	    c->in_declared < AGENT_CUT_MIN || c->in_seal != NULL ||
	    (m->flags & FERRY_MSG_SEALED) ||
	    strcmp(m->dst_node, c->ag->pol.node_name) == 0 ||
	    strcmp(m->dst_node, STORE_SPLIT_DST) == 0)
		return;
	if (store_writer_tap(c->writer, c->in_declared, &t) != 0)
		return; /* it goes once committed, as any message */
	if (engine_cut(c->ag, m->dst_node, t)) {
		ferry_id_to_hex(m->id, hex);
		log_info("message %s for %s/%s: sent to %s while it comes in "
			 "(cut-through)",
			 hex, m->dst_node, m->dst_queue, m->dst_node);
	}
	store_tap_unref(t);
}

void
done_stream_in(struct client *c, struct req_job *r)
{
	switch (r->kind) {
	case RK_WOPEN:
		c->state = CS_STREAM_IN;
		c->writer = r->writer;
		r->writer = NULL;
		if (r->rc == FERRY_EDUPLICATE) {
			answer_duplicate(c, r->reqid, r->msg.id);
			c->in_error = r->rc;
		} else if (r->rc != 0)
			stream_in_fail(c, r->reqid, r->rc,
				       "cannot start the message");
		else if (r->offset > 0) {
			char hex[FERRY_ID_HEX_LEN + 1];
			ferry_id_to_hex(r->msg.id, hex);
			log_info("message %s: the client resends a cut "
				 "stream; %llu bytes stored already are "
				 "compared, not written again",
				 hex, (unsigned long long)r->offset);
			c->in_msg = r->msg;
			c->in_skip = r->offset;
			c->in_prefix = r->reader;
			r->reader = NULL;
		}
		if (r->rc == 0)
			cut_offer(c);
		client_process(c);
		return;
	case RK_WWRITE:
		c->state = CS_STREAM_IN;
		c->writer = r->writer;
		r->writer = NULL;
		c->in_seal = r->seal;
		r->seal = NULL;
		if (c->in_seal != NULL)
			c->in_skip = r->seal_skip; /* what is left to compare */
		if (r->reader != NULL && c->in_skip > 0) {
			c->in_prefix = r->reader; /* more to compare */
			r->reader = NULL;
		}
		if (r->rc != 0 && r->why != NULL) {
			/* The job dropped the partial: say why, in words. */
			client_error(c, r->reqid, r->rc, "%s", r->why);
			c->in_error = r->rc;
			stream_in_end(c);
		} else if (r->rc != 0)
			stream_in_fail(c, r->reqid, r->rc,
				       "cannot store payload");
		client_process(c);
		return;
	case RK_WCOMMIT:
		c->writer = NULL;
		stream_in_end(c);
		if (r->rc != 0 && r->why != NULL) {
			client_error(c, r->reqid, r->rc, "%s", r->why);
			client_idle(c);
			return;
		}
		done_put(c, r);
		return;
	default:
		return;
	}
}

/* The client's own idle partial is dropped: put the message again. */
void
done_wdrop(struct client *c, struct req_job *r)
{
	struct req_job *n;

	if (r->rc != 0) {
		r->kind = RK_PUT;
		r->retried = 1;
		done_put(c, r);
		return;
	}
	n = put_pass_on(c, r, RK_PUT);
	if (n == NULL)
		return;
	n->retried = 1;
	put_async(c, n);
}

void
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
	r->unseal_borrow = c->unseal;
	rj_submit(c, r);
}

void
client_cleanup_streams(struct client *c)
{
	if (c->reader != NULL && !c->out_busy) {
		seal_dec_free(c->unseal);
		c->unseal = NULL;
		store_reader_close(c->reader);
		c->reader = NULL;
	}
	if (c->writer != NULL && c->state != CS_BUSY) {
		orphan_stream(c->ag, c->writer, c->in_scoped);
		c->writer = NULL;
	}
	if (c->state != CS_BUSY)
		stream_in_end(c);
}

/* ------------------------------------------------------- dispatch */

/* The store's writer thread says the put (or ack) is committed. */
static void
put_committed(int result, void *arg)
{
	struct req_job *r = arg;

	r->rc = result;
	jobs_complete(r->ag->jobs, &r->job);
}

/* An ACK, as a put: straight to the store's writer, whose commit answers
 * it, not through a pool thread that would only wait for that commit
 * (with the lease memo, req_by_id: 32 consumers draining 20,000
 * messages, 8.2 -> 4.9 thread switches a recv+ack). */
static void
ack_async(struct client *c, struct req_job *r)
{
	int rc;

	client_ref(c);
	c->state = CS_BUSY;
	jobs_track(c->ag->jobs);
	rc = store_ack_async(c->ag->store, r->id, r->token, put_committed, r);
	if (rc != 0) {
		r->rc = rc;
		jobs_complete(c->ag->jobs, &r->job);
	}
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
	r->put.route = r->route;
	/* An id ferryd drew for this SEND (not the client's, scoped): the
	 * store need not look for it among ids that left (store.h). */
	r->put.new_id = !r->scoped;
	client_ref(c);
	/* A whole SEND leaves c IDLE: more whole SENDs may follow it into
	 * the same group commit (client_process_frames). */
	if (r->piped == 0)
		c->state = CS_BUSY;
	jobs_track(c->ag->jobs);
	rc = store_put_async(c->ag->store, &r->put, put_committed, r);
	if (rc != 0) {
		/* Not queued: complete it here with the error. */
		r->rc = rc;
		jobs_complete(c->ag->jobs, &r->job);
	}
}

/* --seal: the destination's X25519 key into pk; else refused (answered,
 * ended): -1. */
static int
seal_key(struct client *c, const struct ferry_msg *m, uint8_t pk[32])
{
	const char *me = c->ag->pol.node_name;
	char q[80];

	ferry_quote(m->dst_node, q, sizeof(q));
	if (strcmp(m->dst_node, me) == 0) {
		client_error(c, c->reqid, FERRY_EINVAL,
			     "--seal: the message is for this node (%s): "
			     "there is no relay to hide it from; send it "
			     "without --seal",
			     me);
		client_idle(c);
		return -1;
	}
	if (engine_node_kx(m->dst_node, pk) != 0) {
		client_error(c, c->reqid, FERRY_EINVAL,
			     "--seal: the key of %s is not known here: it is "
			     "not a [peer]; add its card to [directory] in "
			     "ferry.conf (`ferry info` on %s prints it), then "
			     "send ferryd SIGHUP",
			     q, q);
		client_idle(c);
		return -1;
	}
	return 0;
}

/* --seal, a whole SEND: r->buf becomes its sealed payload.  Refused
 * (answered, ended): -1. */
static int
seal_inline(struct client *c, struct req_job *r, const uint8_t pk[32])
{
	uint8_t *sealed = NULL;
	size_t len = 0;
	int rc;

	rc = seal_buf(identity_kx_sk(c->ag->id), pk, r->msg.id, r->buf, r->len,
		      &sealed, &len);
	if (rc != 0) {
		client_error(c, c->reqid, rc,
			     "--seal: cannot seal to the key of %s: %s",
			     r->msg.dst_node, ferry_strerror(rc));
		client_idle(c);
		return -1;
	}
	free(r->buf);
	r->buf = sealed;
	r->len = len;
	return 0;
}

/*
 * A SEND refused, and answered, before its stream began.  A streamed
 * one's DATA frames come anyway (a client sends them without waiting):
 * they are dropped until FIN (request_data, in_error), not taken for a
 * protocol violation that closes the connection while the client still
 * writes -- it then saw EPIPE before the refusal, at random (a typo in
 * the node of `ferry send FILE` exited 4 instead of 8 in CI).
 */
static void
send_refused(struct client *c, int fin, int rc)
{
	if (fin) {
		client_idle(c);
		return;
	}
	c->state = CS_STREAM_IN;
	c->in_error = rc;
}

/* The same after a helper (seal_key, group_route, fail_nomem) answered
 * and set the client idle: its frames are still being handed out
 * (client_process), so the next DATA has not been read yet. */
static void
send_refused_after(struct client *c, int fin, int rc)
{
	if (!fin && c->state == CS_IDLE)
		send_refused(c, fin, rc);
}

/* SEND (its address and the ACL are checked): build the message, then
 * put it or start its stream. */
void
req_send(struct client *c, const struct req_cmd *cmd,
	 const struct ferry_frame *f, const struct ferry_fields *fl)
{
	struct agent *ag = c->ag;
	struct req_job *r;
	struct ferry_msg *m;
	int64_t ttl, now = ferry_wall_ms();
	int fin = (f->flags & FERRY_FL_FIN) != 0;
	uint8_t kx_pk[32];

	(void)cmd;
	if (FERRY_HAS(fl, FERRY_T_PAYLOAD_LEN) &&
	    fl->payload_len > ag->pol.max_message_bytes) {
		client_error(c, c->reqid, FERRY_ETOOBIG,
			     "message of %llu bytes is larger than "
			     "max_message (%llu bytes)",
			     (unsigned long long)fl->payload_len,
			     (unsigned long long)ag->pol.max_message_bytes);
		send_refused(c, fin, FERRY_ETOOBIG);
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
	r = rj_request(c, fin ? RK_PUT : RK_WOPEN);
	if (r == NULL) {
		send_refused_after(c, fin, FERRY_ENOMEM);
		return;
	}
	m = &r->msg;
	ferry_msg_init(m);
	if (FERRY_HAS(fl, FERRY_T_ID)) {
		/* Scoped to the caller's uid (scope.c): nobody can take the
		 * id of another user's message, nor of one on its way. */
		scope_client_id(ag, c->uid, fl->id, m->id);
		r->scoped = 1;
	} else if (ferry_id_generate(m->id) != 0) {
		rj_free(r);
		client_error(c, c->reqid, FERRY_EIO, "no randomness for an id");
		send_refused(c, fin, FERRY_EIO);
		return;
	}
	snprintf(m->src_node, sizeof(m->src_node), "%s", ag->pol.node_name);
	if (fl->dst_node[0] == '@') {
		/* A group: its copies are made by the splitter; the message
		 * is checked as one for this node. */
		snprintf(m->dst_node, sizeof(m->dst_node), "%s",
			 ag->pol.node_name);
		if (group_route(c, r, fl) != 0) {
			send_refused_after(c, fin, FERRY_EINVAL);
			return;
		}
	} else {
		memcpy(m->dst_node, fl->dst_node, sizeof(m->dst_node));
	}
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
		send_refused(c, fin, FERRY_EINVAL);
		return;
	}
	if (r->route != NULL) {
		if (m->flags & FERRY_MSG_SEALED) {
			rj_free(r);
			client_error(c, c->reqid, FERRY_EINVAL,
				     "--seal cannot be used with a group (a "
				     "sealed payload opens for one node)");
			send_refused(c, fin, FERRY_EINVAL);
			return;
		}
		memcpy(r->route->group_id, m->id, FERRY_ID_LEN);
		snprintf(m->dst_node, sizeof(m->dst_node), "%s",
			 STORE_SPLIT_DST);
	}
	if (strcmp(m->dst_node, ag->pol.node_name) != 0 && r->route == NULL &&
	    !has_route(m->dst_node) &&
	    !(FERRY_HAS(fl, FERRY_T_HOLD) && fl->hold)) {
		/* A typo in a node name is told at once, not found a week
		 * later in a queue that nobody forwards (no route yet). */
		char q[80];
		/* m is r's: quote it before r goes. */
		ferry_quote(m->dst_node, q, sizeof(q));
		rj_free(r);
		client_error(c, c->reqid, FERRY_ENOROUTE,
			     "%s is neither this node (%s) nor a [peer] in "
			     "ferry.conf, and no [route] line matches it (a "
			     "typo? to keep the message until a route is "
			     "configured: ferry send --hold)",
			     q, ag->pol.node_name);
		send_refused(c, fin, FERRY_ENOROUTE);
		return;
	}
	if (r->route == NULL && strcmp(m->dst_node, ag->pol.node_name) != 0 &&
	    policy_seal_default(&ag->pol, m->dst_node, m->dst_queue))
		m->flags |= FERRY_MSG_SEALED; /* [node] seal_to, [queue] seal */
	if ((m->flags & FERRY_MSG_SEALED) && seal_key(c, m, kx_pk) != 0) {
		rj_free(r);
		send_refused_after(c, fin, FERRY_EINVAL);
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
		if ((m->flags & FERRY_MSG_SEALED) &&
		    seal_inline(c, r, kx_pk) != 0) {
			rj_free(r);
			return;
		}
		r->piped = r->len != 0 ? r->len : 1;
		c->puts++;
		c->put_bytes += r->piped;
		put_async(c, r);
		return;
	}
	/* A stream: stage DATA frames until FIN. */
	if (c->stage == NULL && (c->stage = malloc(AGENT_STAGE_MAX)) == NULL) {
		rj_free(r);
		fail_nomem(c, c->reqid);
		send_refused_after(c, fin, FERRY_ENOMEM);
		return;
	}
	c->in_msg = *m;
	c->stage_len = 0;
	c->in_total = 0;
	c->in_error = 0;
	c->in_declared =
	    FERRY_HAS(fl, FERRY_T_PAYLOAD_LEN) ? fl->payload_len : UINT64_MAX;
	c->in_max = ag->pol.max_message_bytes;
	c->in_scoped = r->scoped;
	stream_in_end(c);
	if ((m->flags & FERRY_MSG_SEALED) &&
	    seal_enc_new(identity_kx_sk(ag->id), kx_pk, m->id, &c->in_seal) !=
		0) {
		rj_free(r);
		client_error(c, c->reqid, FERRY_EINVAL,
			     "--seal: the key of %s cannot be sealed to",
			     c->in_msg.dst_node);
		send_refused(c, fin, FERRY_EINVAL);
		return;
	}
	r->count = c->in_declared; /* a longer partial is not resumed */
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
		r = rj_request(c, RK_WABORT);
		if (r == NULL)
			return;
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
	if (c->stage == NULL && (c->stage = malloc(AGENT_STAGE_MAX)) == NULL) {
		stream_in_fail(c, c->reqid, FERRY_ENOMEM, "out of memory");
		return;
	}
	memcpy(c->stage + c->stage_len, f->body, f->body_len);
	c->stage_len += f->body_len;
	c->in_total += f->body_len;
	if (!fin && c->stage_len < FERRY_DATA_MAX)
		return;
	/* The job takes the stage (stage_len < AGENT_STAGE_MAX) and the
	 * next DATA gets a new one: a copy of 256 KiB a frame less on the
	 * loop's thread. */
	r = rj_new(c, fin ? RK_WCOMMIT : RK_WWRITE, c->reqid);
	if (r == NULL) {
		stream_in_fail(c, c->reqid, FERRY_ENOMEM, "out of memory");
		return;
	}
	r->buf = c->stage;
	c->stage = NULL;
	r->len = c->stage_len;
	r->msg = c->in_msg;
	r->writer = c->writer;
	r->scoped = c->in_scoped;
	r->seal = c->in_seal;
	c->writer = NULL;
	c->in_seal = NULL;
	c->stage_len = 0;
	if (c->in_skip > 0 && r->seal != NULL) {
		/* A resumed sealed stream: every byte is sealed again, and
		 * the first in_skip sealed ones compared (requests_job.c). */
		r->seal_skip = c->in_skip;
		r->reader = c->in_prefix;
		c->in_prefix = NULL;
	} else if (c->in_skip > 0) {
		/* A resumed stream: these bytes are stored already. */
		r->offset = c->in_skip < r->len ? c->in_skip : r->len;
		c->in_skip -= r->offset;
		r->reader = c->in_prefix;
		c->in_prefix = NULL;
		r->count = fin && c->in_skip > 0; /* ends short of it */
	}
	rj_submit(c, r);
}

/* The store's writer thread has leased a message for r (or not). */
static void
take_taken(int result, void *arg)
{
	struct req_job *r = arg;

	r->rc = result;
	if (result == 0) {
		r->info = r->take.info;
		r->token = r->take.token;
	}
	if (result == 0 && r->take.payload_in &&
	    !(r->info.msg.flags & FERRY_MSG_SEALED)) {
		r->len = r->take.payload_len; /* in r->buf */
		jobs_complete(r->ag->jobs, &r->job);
		return;
	}
	free(r->buf);
	r->buf = NULL;
	if (result != 0) {
		jobs_complete(r->ag->jobs, &r->job);
		return;
	}
	/* Chunked, spooled or sealed: a pool thread reads (and opens) it,
	 * and moves it to dead if it cannot (take_readable). */
	r->taken = 1;
	jobs_forward(r->ag->jobs, &r->job);
}

/*
 * A RECV (not a peek) or a subscription's push: the store's writer leases
 * the message and hands back a small payload with it, so most takes need
 * no pool thread (loop -> writer -> loop, as a send).  Other payloads are
 * opened on a pool thread afterwards.
 */
static void
take_async(struct client *c, struct req_job *r)
{
	int rc;

	r->buf = malloc(STORE_TAKE_INLINE);
	if (r->buf == NULL) {
		rj_submit(c, r); /* the pool's way, which needs no buffer */
		return;
	}
	r->take.queue = r->queue;
	r->take.lease_ms = r->lease_ms;
	r->take.payload = r->buf;
	client_ref(c);
	if (r->kind == RK_TAKE)
		c->state = CS_BUSY; /* a subscription's push leaves it as is */
	jobs_track(c->ag->jobs);
	rc = store_take_async(c->ag->store, &r->take, take_taken, r);
	if (rc != 0) {
		free(r->buf);
		r->buf = NULL;
		r->rc = rc;
		jobs_complete(c->ag->jobs, &r->job);
	}
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
	if (peek)
		rj_submit(c, r);
	else
		take_async(c, r);
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
	take_async(c, r);
}

/* ---------------------------------------------------------- handlers */

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

void
req_recv(struct client *c, const struct req_cmd *cmd,
	 const struct ferry_frame *f, const struct ferry_fields *fl)
{
	int64_t lease = lease_of(c, fl);

	(void)cmd;
	(void)f;
	c->wait_until_ms = 0;
	if (FERRY_HAS(fl, FERRY_T_WAIT_MS) && fl->wait_ms != 0)
		c->wait_until_ms = fl->wait_ms > INT64_MAX / 4
				       ? -1
				       : ferry_mono_ms() + (int64_t)fl->wait_ms;
	request_take(c, c->reqid, fl->queue, lease, fl->peek != 0);
}

/*
 * What a NACK asks beyond "back at once" (docs/protocol.md §4): with
 * lease_ms, keep the lease that much longer (a renewal, or a give-back
 * after a delay); with dead_reason, move the message to dead with text.
 * Both need the lease token.  0, or answered and ended: -1.
 */
static int
nack_options(struct client *c, const struct ferry_fields *fl, struct req_job *r)
{
	int dead = FERRY_HAS(fl, FERRY_T_DEAD_REASON);
	int renew = FERRY_HAS(fl, FERRY_T_LEASE_MS) && fl->lease_ms != 0;
	const char *bad = NULL;

	if (!dead && !renew)
		return 0;
	if (dead && renew)
		bad = "a NACK either renews (lease_ms) or dead-letters "
		      "(dead_reason), not both";
	else if (fl->token == 0)
		bad = "renewing or dead-lettering needs the lease token";
	else if (dead && fl->dead_reason != STORE_DEAD_HANDLER_FAILED)
		bad = "a client may dead-letter only with dead_reason 6 "
		      "(handler failed)";
	if (bad != NULL) {
		client_error(c, c->reqid, FERRY_EINVAL, "%s", bad);
		client_idle(c);
		return -1;
	}
	if (dead) {
		r->dead_reason = fl->dead_reason;
		snprintf(r->text, sizeof(r->text), "%s", fl->text);
	} else {
		r->lease_ms = fl->lease_ms > (uint64_t)c->ag->pol.max_lease_ms
				  ? c->ag->pol.max_lease_ms
				  : (int64_t)fl->lease_ms;
	}
	return 0;
}

/* ACK, NACK, FETCH: find the message first (its queue decides the
 * ACL, in done_get), then do what was asked. */
void
req_by_id(struct client *c, const struct req_cmd *cmd,
	  const struct ferry_frame *f, const struct ferry_fields *fl)
{
	struct req_job *r;
	struct client_lease *l;

	if (f->type == FERRY_F_ACK &&
	    (l = lease_recall(c, fl->id, fl->token)) != NULL) {
		/* It was handed to this client with this token: what a GET
		 * would find out (its queue, for the ACL; its flags and
		 * source, for a receipt) is known.  The store checks the
		 * token. */
		if (!req_allowed_message(c, cmd, l->queue))
			return;
		if ((r = rj_request(c, RK_ACK)) == NULL)
			return;
		memcpy(r->id, fl->id, FERRY_ID_LEN);
		r->token = fl->token;
		/* What done_ack reads of the message. */
		r->info.msg.flags = l->msg_flags;
		snprintf(r->info.msg.src_node, sizeof(r->info.msg.src_node),
			 "%s", l->src_node);
		snprintf(r->queue, sizeof(r->queue), "%s", l->queue);
		ack_async(c, r);
		return;
	}
	if ((r = rj_request(c, RK_GET)) == NULL)
		return;
	if (f->type == FERRY_F_NACK && nack_options(c, fl, r) != 0) {
		rj_free(r);
		return;
	}
	r->cmd = cmd;
	r->then = f->type == FERRY_F_ACK    ? RK_ACK
		  : f->type == FERRY_F_NACK ? RK_NACK
					    : RK_FETCH;
	memcpy(r->id, fl->id, FERRY_ID_LEN);
	r->token = fl->token;
	r->offset = fl->offset;
	rj_submit(c, r);
}

void
req_browse(struct client *c, const struct req_cmd *cmd,
	   const struct ferry_frame *f, const struct ferry_fields *fl)
{
	struct req_job *r = rj_request(c, RK_BROWSE);

	(void)cmd;
	(void)f;
	if (r == NULL)
		return;
	snprintf(r->queue, sizeof(r->queue), "%s", fl->queue);
	r->limit = fl->limit == 0 || fl->limit > AGENT_BROWSE_MAX
		       ? AGENT_BROWSE_MAX
		       : fl->limit;
	rj_submit(c, r);
}

void
req_subscribe(struct client *c, const struct req_cmd *cmd,
	      const struct ferry_frame *f, const struct ferry_fields *fl)
{
	struct ferry_fbuf b;

	(void)cmd;
	(void)f;
	if (c->sub_reqid != 0) {
		client_error(c, c->reqid, FERRY_ESTATE,
			     "already subscribed to %s", c->sub_queue);
		client_idle(c);
		return;
	}
	c->sub_reqid = c->reqid;
	snprintf(c->sub_queue, sizeof(c->sub_queue), "%s", fl->queue);
	c->credit = fl->credit > 1000000 ? 1000000 : fl->credit;
	c->sub_lease_ms = lease_of(c, fl);
	agent_frame(c->ag, &b, FERRY_F_OK, 0, c->reqid);
	client_send(c, &b);
	client_idle(c);
}

/* Not a request (a flow row): more pushes for the subscription. */
void
req_credit(struct client *c, const struct req_cmd *cmd,
	   const struct ferry_frame *f, const struct ferry_fields *fl)
{
	(void)cmd;
	if (f->reqid == c->sub_reqid && c->sub_reqid != 0) {
		uint64_t n = (uint64_t)c->credit + fl->credit;
		c->credit = n > 1000000 ? 1000000 : (uint32_t)n;
		if (c->state != CS_DEAD)
			subscription_push(c);
	}
}

void
req_unsubscribe(struct client *c, const struct req_cmd *cmd,
		const struct ferry_frame *f, const struct ferry_fields *fl)
{
	struct ferry_fbuf b;

	(void)cmd;
	(void)f;
	(void)fl;
	c->sub_reqid = 0;
	c->credit = 0;
	agent_frame(c->ag, &b, FERRY_F_OK, 0, c->reqid);
	client_send(c, &b);
	client_idle(c);
}
