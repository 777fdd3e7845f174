/*
 * requests.c - the table of local API requests, and the dispatcher that
 * serves a frame from it (docs/protocol.md §4, [acl] in ferry.conf(5)).
 *
 * One row per request type, the way tmux keeps one entry per command:
 * its name, the fields it cannot do without, the ACL operation and what
 * it is checked against, and the handler.  request_dispatch() checks the
 * fields and applies the ACL cell before it calls the handler, so a
 * handler cannot forget the check, and a request without one is a
 * visible REQ_ON_NONE cell with its reason next to it.  A row with no
 * ACL cell at all (REQ_ON_UNSET) is refused.
 *
 * Three cells can only be judged once the store answered, and say where
 * they are applied: REQ_ON_MESSAGE (the queue a message is in: done_get
 * calls req_allowed_message), REQ_ON_STATUS (status_visible) and
 * REQ_ON_EACH_QUEUE (which queues a QLIST shows: done_list).
 *
 * The handlers live by role: requests_msg.c (messages and their
 * payloads), requests_admin.c (queues and the node), sneak_req.c (EXPORT
 * and IMPORT); requests_job.c carries their store calls.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/requests_int.h"

static void req_hello(struct client *c, const struct req_cmd *cmd,
		      const struct ferry_frame *f,
		      const struct ferry_fields *fl);
static void req_sneak(struct client *c, const struct req_cmd *cmd,
		      const struct ferry_frame *f,
		      const struct ferry_fields *fl);

#define MESSAGE_WHY                                                            \
	"recv on the local queue the message is in, known once the store "     \
	"found it (done_get)"

/*
 * The requests.  A new request type is a new row here (and in
 * docs/protocol.md §4, and in the table of tests/integration/acl_walk.c,
 * which fails for a type ferryd serves and it does not know).
 */
static const struct req_cmd req_table[] = {
    [FERRY_F_HELLO] =
	{
	    .name = "hello",
	    .on = REQ_ON_NONE,
	    .why = "says the protocol version and the node's name, which "
		   "every peer and every user of the node knows anyway",
	    .run = req_hello,
	},
    [FERRY_F_SEND] =
	{
	    .name = "send",
	    .need = {{FERRY_T_DST_NODE, "destination node"},
		     {FERRY_T_DST_QUEUE, "destination queue"}},
	    .op = POLICY_OP_SEND,
	    .on = REQ_ON_ADDRESS,
	    .run = req_send,
	},
    [FERRY_F_RECV] =
	{
	    .name = "recv",
	    .need = {{FERRY_T_QUEUE, "queue"}},
	    .op = POLICY_OP_RECV,
	    .on = REQ_ON_QUEUE,
	    .run = req_recv,
	},
    [FERRY_F_ACK] =
	{
	    .name = "ack",
	    .need = {{FERRY_T_ID, "message id"}},
	    .op = POLICY_OP_RECV,
	    .on = REQ_ON_MESSAGE,
	    .why = MESSAGE_WHY,
	    .run = req_by_id,
	},
    [FERRY_F_NACK] =
	{
	    .name = "nack",
	    .need = {{FERRY_T_ID, "message id"}},
	    .op = POLICY_OP_RECV,
	    .on = REQ_ON_MESSAGE,
	    .why = MESSAGE_WHY,
	    .run = req_by_id,
	},
    [FERRY_F_FETCH] =
	{
	    .name = "fetch",
	    .need = {{FERRY_T_ID, "message id"}},
	    .op = POLICY_OP_RECV,
	    .on = REQ_ON_MESSAGE,
	    .why = MESSAGE_WHY,
	    .run = req_by_id,
	},
    [FERRY_F_BROWSE] =
	{
	    .name = "browse",
	    .need = {{FERRY_T_QUEUE, "queue"}},
	    .op = POLICY_OP_RECV,
	    .on = REQ_ON_QUEUE,
	    .run = req_browse,
	},
    [FERRY_F_SUBSCRIBE] =
	{
	    .name = "subscribe",
	    .need = {{FERRY_T_QUEUE, "queue"}},
	    .op = POLICY_OP_RECV,
	    .on = REQ_ON_QUEUE,
	    .run = req_subscribe,
	},
    [FERRY_F_CREDIT] =
	{
	    .name = "credit",
	    .on = REQ_ON_NONE,
	    .why = "only adds credit to the caller's own subscription, whose "
		   "SUBSCRIBE was checked; never answered",
	    .flow = 1,
	    .run = req_credit,
	},
    [FERRY_F_UNSUBSCRIBE] =
	{
	    .name = "unsubscribe",
	    .on = REQ_ON_NONE,
	    .why = "only ends the caller's own subscription",
	    .run = req_unsubscribe,
	},
    [FERRY_F_QCREATE] =
	{
	    .name = "qcreate",
	    .need = {{FERRY_T_QUEUE, "queue"}},
	    .op = POLICY_OP_ADMIN,
	    .on = REQ_ON_QUEUE,
	    .run = req_qcreate,
	},
    [FERRY_F_QLIST] =
	{
	    .name = "qlist",
	    .op = POLICY_OP_RECV | POLICY_OP_ADMIN,
	    .on = REQ_ON_EACH_QUEUE,
	    .why = "lists only the queues the caller may recv from or "
		   "administer",
	    .run = req_qlist,
	},
    [FERRY_F_QSTATS] =
	{
	    .name = "qstats",
	    .need = {{FERRY_T_QUEUE, "queue"}},
	    .op = POLICY_OP_RECV,
	    .on = REQ_ON_QUEUE,
	    .run = req_qstats,
	},
    [FERRY_F_QPURGE] =
	{
	    .name = "qpurge",
	    .need = {{FERRY_T_QUEUE, "queue"}},
	    .op = POLICY_OP_ADMIN,
	    .on = REQ_ON_QUEUE,
	    .run = req_qpurge,
	},
    [FERRY_F_STATUS] =
	{
	    .name = "status",
	    .need = {{FERRY_T_ID, "message id"}},
	    .op = POLICY_OP_RECV | POLICY_OP_ADMIN | POLICY_OP_SEND,
	    .on = REQ_ON_STATUS,
	    .why = "a message held here: recv or admin on its queue, send to "
		   "its address, or admin of the node (status_visible); one no "
		   "longer here has no queue left to judge by, and its id, "
		   "which only its sender and receivers learn, is the "
		   "capability",
	    .run = req_status,
	},
    [FERRY_F_INFO] =
	{
	    .name = "info",
	    .op = POLICY_OP_ADMIN,
	    .on = REQ_ON_NODE,
	    .run = req_info,
	},
    [FERRY_F_PEERS] =
	{
	    .name = "peers",
	    .op = POLICY_OP_ADMIN,
	    .on = REQ_ON_NODE,
	    .run = req_peers,
	},
    [FERRY_F_PARTIALS] =
	{
	    .name = "partials",
	    .op = POLICY_OP_SEND | POLICY_OP_ADMIN,
	    .on = REQ_ON_EACH_PARTIAL,
	    .why = "lists only the partials the caller may see: every one "
		   "to admin of the node, else those whose address it may "
		   "send to (done_partials)",
	    .run = req_partials,
	},
    [FERRY_F_METRICS] =
	{
	    .name = "metrics",
	    .op = POLICY_OP_ADMIN,
	    .on = REQ_ON_NODE,
	    .run = req_metrics,
	},
    [FERRY_F_EXPORT] =
	{
	    .name = "export",
	    .op = POLICY_OP_ADMIN,
	    .on = REQ_ON_NODE,
	    .deny = "needs admin in [acl] of ferry.conf",
	    .run = req_sneak,
	},
    [FERRY_F_IMPORT] =
	{
	    .name = "import",
	    .op = POLICY_OP_ADMIN,
	    .on = REQ_ON_NODE,
	    .deny = "needs admin in [acl] of ferry.conf",
	    .run = req_sneak,
	},
};

#define REQ_TABLE_LEN (sizeof(req_table) / sizeof(req_table[0]))

/* The row for a frame type, or NULL (DATA, an answer, an unknown type). */
static const struct req_cmd *
req_lookup(uint8_t type)
{
	if (type >= REQ_TABLE_LEN || req_table[type].run == NULL)
		return NULL;
	return &req_table[type];
}

/* ------------------------------------------------------------ checks */

static int
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

/* A SEND's address must be well formed, and not one of the agent's own
 * queues (ferry.*), whatever the ACL says. */
static int
address_ok(struct client *c, const struct ferry_fields *fl)
{
	if (!ferry_dest_node_valid(fl->dst_node) ||
	    !ferry_queue_name_valid(fl->dst_queue)) {
		client_error(c, c->reqid, FERRY_EINVAL,
			     "'%s/%s' is not a valid NODE/QUEUE (or "
			     "@GROUP/QUEUE) address",
			     fl->dst_node, fl->dst_queue);
		client_idle(c);
		return 0;
	}
	if (ferry_queue_reserved(fl->dst_queue)) {
		client_error(c, c->reqid, FERRY_EPERM,
			     "queue '%s' is reserved for the agent (names "
			     "that begin with '%s' cannot be sent to)",
			     fl->dst_queue, FERRY_RESERVED_PREFIX);
		client_idle(c);
		return 0;
	}
	return 1;
}

static void
log_refusal(struct client *c, unsigned op, const char *target)
{
	log_info("refused %s of %s for uid %ld (pid %ld): not allowed by "
		 "[acl] in ferry.conf",
		 policy_op_name(op), target[0] ? target : "the node",
		 (long)c->uid, (long)c->pid);
}

/* May c do cmd's operation on target?  Else refuse it (logged, and
 * answered EPERM), and end the request. */
static int
req_allowed(struct client *c, const struct req_cmd *cmd, const char *target)
{
	if (client_allowed(c, cmd->op, target))
		return 1;
	log_refusal(c, cmd->op, target);
	if (cmd->deny != NULL)
		client_error(c, c->reqid, FERRY_EPERM,
			     "uid %ld may not %s (%s)", (long)c->uid, cmd->name,
			     cmd->deny);
	else
		client_error(c, c->reqid, FERRY_EPERM,
			     "uid %ld may not %s %s (see [acl] in ferry.conf)",
			     (long)c->uid, policy_op_name(cmd->op),
			     target[0] ? target : "the node");
	client_idle(c);
	return 0;
}

int
req_allowed_any(struct client *c, unsigned ops, const char *target)
{
	for (unsigned op = 1; op <= POLICY_OP_ALL; op <<= 1)
		if ((ops & op) && client_allowed(c, op, target))
			return 1;
	return 0;
}

int
req_allowed_message(struct client *c, const struct req_cmd *cmd,
		    const char *queue)
{
	if (cmd != NULL && cmd->on == REQ_ON_MESSAGE &&
	    client_allowed(c, cmd->op, queue))
		return 1;
	log_refusal(c, cmd != NULL ? cmd->op : 0, queue);
	client_error(c, c->reqid, FERRY_EPERM,
		     "uid %ld may not receive from queue %s", (long)c->uid,
		     queue);
	client_idle(c);
	return 0;
}

/*
 * The fields and the ACL cell of cmd, in the order the answers have
 * always had: missing fields, a malformed target, then the ACL.  0 when
 * the request was refused (and answered).
 */
static int
req_check(struct client *c, const struct req_cmd *cmd,
	  const struct ferry_fields *fl)
{
	char target[FERRY_NODE_MAX + FERRY_QUEUE_MAX + 2];

	for (size_t i = 0; i < REQ_NEED_MAX && cmd->need[i].name != NULL; i++)
		if (!req_need(c, fl, cmd->need[i].tag, cmd->need[i].name))
			return 0;
	switch (cmd->on) {
	case REQ_ON_NONE:
	case REQ_ON_MESSAGE:	  /* done_get: req_allowed_message */
	case REQ_ON_STATUS:	  /* done_admin: status_visible */
	case REQ_ON_EACH_QUEUE:	  /* done_list: req_allowed_any */
	case REQ_ON_EACH_PARTIAL: /* done_partials: partial_visible */
		return 1;
	case REQ_ON_NODE:
		return req_allowed(c, cmd, "");
	case REQ_ON_QUEUE:
		return queue_ok(c, fl->queue) && req_allowed(c, cmd, fl->queue);
	case REQ_ON_ADDRESS:
		if (!address_ok(c, fl))
			return 0;
		snprintf(target, sizeof(target), "%s/%s", fl->dst_node,
			 fl->dst_queue);
		return req_allowed(c, cmd, target);
	case REQ_ON_UNSET:
		break;
	}
	log_error("request %s has no ACL cell in the request table: refused",
		  cmd->name);
	client_error(c, c->reqid, FERRY_EPERM,
		     "request %s has no ACL rule in ferryd: refused",
		     cmd->name);
	client_idle(c);
	return 0;
}

/* ---------------------------------------------------------- dispatch */

void
request_dispatch(struct client *c, const struct ferry_frame *f)
{
	struct ferry_fields fl;
	const char *why = NULL;
	const struct req_cmd *cmd;

	if (ferry_fields_parse(f, &fl, &why) != 0) {
		char text[160];
		snprintf(text, sizeof(text), "malformed %s: %s",
			 ferry_frame_type_name(f->type), why);
		client_violation(c, f->reqid, text);
		return;
	}
	cmd = req_lookup(f->type);
	if (cmd == NULL || !cmd->flow) {
		/* A flow-control frame (CREDIT) is not a request: it may
		 * arrive in the middle of another one. */
		c->reqid = f->reqid;
		c->type = f->type;
	}
	if (cmd == NULL) {
		client_error(c, c->reqid, FERRY_EPROTO,
			     "unknown request type %u", f->type);
		client_idle(c);
		return;
	}
	if (!req_check(c, cmd, &fl))
		return;
	cmd->run(c, cmd, f, &fl);
}

/* ------------------------------------------------- the small handlers */

static void
req_hello(struct client *c, const struct req_cmd *cmd,
	  const struct ferry_frame *f, const struct ferry_fields *fl)
{
	struct ferry_fbuf b;

	(void)cmd;
	(void)f;
	(void)fl;
	agent_frame(c->ag, &b, FERRY_F_HELLO_OK, 0, c->reqid);
	ferry_fbuf_u32(&b, FERRY_T_VERSION, FERRY_PROTO_VERSION);
	ferry_fbuf_str(&b, FERRY_T_NODE, c->ag->pol.node_name);
	client_send(c, &b);
	client_idle(c);
}

/* EXPORT and IMPORT run in sneak_req.c (which checks admin again). */
static void
req_sneak(struct client *c, const struct req_cmd *cmd,
	  const struct ferry_frame *f, const struct ferry_fields *fl)
{
	(void)cmd;
	request_sneak(c, fl, f->type == FERRY_F_EXPORT);
}
