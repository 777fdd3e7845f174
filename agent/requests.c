/*
 * requests.c - local API requests: from a frame to its handler
 * (docs/protocol.md §4).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/requests_int.h"

int
req_need(struct client *c, const struct ferry_fields *fl, int tag,
	 const char *name)
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

int
req_allowed(struct client *c, unsigned op, const char *target)
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
		if (!req_need(c, &fl, FERRY_T_QUEUE, "queue") ||
		    !queue_ok(c, fl.queue) ||
		    !req_allowed(c, POLICY_OP_RECV, fl.queue))
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
		if (!req_need(c, &fl, FERRY_T_ID, "message id"))
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
		if (!req_need(c, &fl, FERRY_T_QUEUE, "queue") ||
		    !queue_ok(c, fl.queue) ||
		    !req_allowed(c, POLICY_OP_RECV, fl.queue))
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
		if (!req_need(c, &fl, FERRY_T_QUEUE, "queue") ||
		    !queue_ok(c, fl.queue) ||
		    !req_allowed(c, POLICY_OP_ADMIN, fl.queue))
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
		if (!req_need(c, &fl, FERRY_T_QUEUE, "queue") ||
		    !queue_ok(c, fl.queue) ||
		    !req_allowed(c,
				 f->type == FERRY_F_QPURGE ? POLICY_OP_ADMIN
							   : POLICY_OP_RECV,
				 fl.queue))
			return;
		req_simple(c, f->type == FERRY_F_QPURGE ? RK_QPURGE : RK_QSTATS,
			   fl.queue);
		return;
	case FERRY_F_STATUS:
		if (!req_need(c, &fl, FERRY_T_ID, "message id"))
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
		if (!req_allowed(c, POLICY_OP_ADMIN, ""))
			return; /* node information: node-wide admin */
		req_simple(c, RK_INFO, NULL);
		return;
	case FERRY_F_PEERS:
		if (!req_allowed(c, POLICY_OP_ADMIN, ""))
			return;
		req_simple(c, RK_PEERS, NULL);
		return;
	case FERRY_F_EXPORT:
	case FERRY_F_IMPORT:
		request_sneak(c, &fl, f->type == FERRY_F_EXPORT);
		return;
	case FERRY_F_SUBSCRIBE:
		if (!req_need(c, &fl, FERRY_T_QUEUE, "queue") ||
		    !queue_ok(c, fl.queue) ||
		    !req_allowed(c, POLICY_OP_RECV, fl.queue))
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
