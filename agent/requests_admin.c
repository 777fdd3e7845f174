/*
 * requests_admin.c - the requests about queues and the node rather than
 * one message's payload: QCREATE, QLIST, QSTATS, QPURGE, STATUS, INFO,
 * PEERS, PARTIALS and METRICS (docs/protocol.md §4), and the BROWSE and
 * QLIST lists.
 *
 * The caller's rights were checked by the table in requests.c; what is
 * left here is what can only be judged once the store answered: which
 * queues a QLIST shows, and whether a STATUS may show its message.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/engine.h"
#include "agent/requests_int.h"
#include "lib/util.h"

int
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

int
collect_partial(const struct store_partial *p, void *arg)
{
	struct req_job *r = arg;
	struct store_partial *l = list_grow(r, r->plist, sizeof(*l));

	if (l == NULL)
		return 1;
	r->plist = l;
	r->plist[r->nlist++] = *p;
	return 0;
}

/* May c see partial p?  (The ACL cell of PARTIALS, REQ_ON_EACH_PARTIAL.)
 * Its sender may, as for the status of a message: whoever may send to
 * its address; and the node's admin. */
static int
partial_visible(struct client *c, const struct store_partial *p)
{
	char target[FERRY_NODE_MAX + FERRY_QUEUE_MAX + 2];

	snprintf(target, sizeof(target), "%s/%s", p->msg.dst_node,
		 p->msg.dst_queue);
	return client_allowed(c, POLICY_OP_SEND, target) ||
	       client_allowed(c, POLICY_OP_ADMIN, "");
}

void
done_partials(struct client *c, struct req_job *r)
{
	struct ferry_fbuf b;

	if (r->rc != 0) {
		answer_error(c, r->reqid, r->rc, "cannot list partials");
		client_idle(c);
		return;
	}
	for (size_t i = 0; i < r->nlist; i++) {
		const struct store_partial *p = &r->plist[i];
		if (r->cmd == NULL || r->cmd->on != REQ_ON_EACH_PARTIAL ||
		    !partial_visible(c, p))
			continue;
		agent_frame(c->ag, &b, FERRY_F_PARTIAL, 0, r->reqid);
		ferry_fbuf_bytes(&b, FERRY_T_ID, p->msg.id, FERRY_ID_LEN);
		ferry_fbuf_str(&b, FERRY_T_SRC_NODE, p->msg.src_node);
		ferry_fbuf_str(&b, FERRY_T_DST_NODE, p->msg.dst_node);
		ferry_fbuf_str(&b, FERRY_T_DST_QUEUE, p->msg.dst_queue);
		ferry_fbuf_u8(&b, FERRY_T_PRIORITY, p->msg.priority);
		ferry_fbuf_u64(&b, FERRY_T_BYTES, p->msg.payload_len);
		ferry_fbuf_u64(&b, FERRY_T_CREATED_MS,
			       (uint64_t)p->msg.created_ms);
		ferry_fbuf_u64(&b, FERRY_T_AT_MS, (uint64_t)p->last_ms);
		ferry_fbuf_u8(&b, FERRY_T_RECEIVING, p->busy ? 1 : 0);
		client_send(c, &b);
	}
	agent_frame(c->ag, &b, FERRY_F_END, 0, r->reqid);
	client_send(c, &b);
	client_idle(c);
}

void
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
			put_info(&b, &r->list[i], c->ag->pol.node_name);
		} else {
			const struct store_queue_stats *q = &r->qlist[i];
			/* The ACL cell of QLIST (REQ_ON_EACH_QUEUE). */
			if (r->cmd == NULL || r->cmd->on != REQ_ON_EACH_QUEUE ||
			    !req_allowed_any(c, r->cmd->op, q->name))
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

static int status_visible(struct client *c, const struct req_cmd *cmd,
			  const struct store_msg_info *i);

/* What hop p has no room for that holds back message i (it refused it,
 * or others like it, for want of room), or NULL. */
static const struct peer_full *
why_full(const struct peer_status *p, const struct store_msg_info *i)
{
	for (size_t k = 0; k < p->nfull && k < PEER_FULL_MAX; k++) {
		const struct peer_full *f = &p->full[k];
		int hit;

		if (f->what == PEER_FULL_QUEUE)
			hit = strcmp(i->msg.dst_node, p->name) == 0 &&
			      strcmp(i->msg.dst_queue, f->queue) == 0;
		else if (f->what == PEER_FULL_DISK)
			hit = i->msg.priority <= f->prio;
		else
			hit = 1;
		if (hit)
			return f;
	}
	return NULL;
}

/* "next hop B refused it for now: queue Q is full there (since T); next
 * try at T" into out; snprintf's result. */
static int
why_full_text(const char *hop, const struct peer_full *f, char *out, size_t cap)
{
	char what[FERRY_QUEUE_MAX + 64], t1[POLICY_WINDOW_WHEN_MAX],
	    t2[POLICY_WINDOW_WHEN_MAX];

	if (f->what == PEER_FULL_QUEUE)
		snprintf(what, sizeof(what), "queue %s is full there",
			 f->queue);
	else if (f->what == PEER_FULL_STORE)
		snprintf(what, sizeof(what),
			 "its store is full (its store_quota)");
	else
		snprintf(what, sizeof(what),
			 "its disk is full (down to its disk_reserve)");
	return snprintf(out, cap,
			"next hop %s refused it for now: %s (since "
			"%s); %s %s",
			hop, what,
			policy_window_when(f->since_ms, t1, sizeof(t1)),
			f->retry_ms > ferry_wall_ms() ? "next try at"
						      : "offered again since",
			policy_window_when(f->retry_ms, t2, sizeof(t2)));
}

/* Why one next hop has not taken message i yet, appended to out at *n. */
static void
why_hop(struct agent *ag, const char *hop, const struct store_msg_info *i,
	char *out, size_t cap, size_t *n)
{
	struct peer_status *ps =
	    calloc(ag->nepeers ? ag->nepeers : 1, sizeof(*ps));
	size_t np = 0;
	char t1[POLICY_WINDOW_WHEN_MAX];
	int k;

	if (ps != NULL)
		np = engine_peers(ag, ps, ag->nepeers);
	for (size_t j = 0; ps != NULL && j < np && j < ag->nepeers; j++) {
		const struct peer_status *p = &ps[j];
		const struct peer_full *f;
		if (strcmp(p->name, hop) != 0)
			continue;
		if ((f = why_full(p, i)) != NULL)
			k = why_full_text(hop, f, out + *n, cap - *n);
		else if (p->connected)
			k = snprintf(out + *n, cap - *n,
				     "next hop %s is connected (%s): it goes "
				     "when what is more urgent or older has "
				     "gone",
				     hop, p->via);
		else if (p->window_ms != 0)
			k = snprintf(
			    out + *n, cap - *n,
			    "outside the contact windows of next hop "
			    "%s: next at %s",
			    hop,
			    policy_window_when(p->window_ms, t1, sizeof(t1)));
		else if (p->last_error[0] != '\0')
			k = snprintf(out + *n, cap - *n,
				     "next hop %s unreachable (last error: "
				     "%s)%s%s",
				     hop, p->last_error,
				     p->next_retry_ms ? "; next try at " : "",
				     p->next_retry_ms
					 ? policy_window_when(p->next_retry_ms,
							      t1, sizeof(t1))
					 : "");
		else
			k = snprintf(out + *n, cap - *n,
				     "next hop %s not connected (it calls in, "
				     "or a stick carries it)%s%s",
				     hop,
				     p->next_retry_ms ? "; next call at " : "",
				     p->next_retry_ms
					 ? policy_window_when(p->next_retry_ms,
							      t1, sizeof(t1))
					 : "");
		if (k > 0 && (size_t)k < cap - *n)
			*n += (size_t)k;
		break;
	}
	free(ps);
}

/*
 * `ferry why`: one line saying why message i waits here (docs/routing.md).
 * On the loop thread.
 */
static void
why_text(struct agent *ag, const struct store_status *st, char *out, size_t cap)
{
	const struct store_msg_info *i = &st->info;
	char hops[POLICY_ROUTE_PEERS][FERRY_NODE_MAX + 1],
	    t1[POLICY_WINDOW_WHEN_MAX];
	size_t nh = 0, n = 0;
	int r;

	out[0] = '\0';
	if (st->kind != STORE_ST_PRESENT)
		return;
	if (i->dead_reason != STORE_DEAD_NONE) {
		snprintf(out, cap, "it is in dead (%s): it goes nowhere",
			 store_dead_reason_name(i->dead_reason));
		return;
	}
	if (i->state == STORE_QUEUED) {
		snprintf(out, cap,
			 "it is in queue %s here: it waits for a receiver",
			 i->queue);
		return;
	}
	if (i->state == STORE_LEASED) {
		snprintf(out, cap,
			 "a receiver took it from %s and has not acked it "
			 "(lease until %s)",
			 i->queue,
			 policy_window_when(i->lease_until_ms, t1, sizeof(t1)));
		return;
	}
	if (i->state == STORE_INFLIGHT) {
		snprintf(out, cap,
			 "it is being sent to %s since %s (%llu of %llu "
			 "bytes there)",
			 i->hop_peer,
			 policy_window_when(i->hop_since_ms, t1, sizeof(t1)),
			 (unsigned long long)i->hop_offset,
			 (unsigned long long)i->msg.payload_len);
		return;
	}
	if (strcmp(i->msg.dst_node, STORE_SPLIT_DST) == 0) {
		snprintf(out, cap,
			 "a message for group @%s: it waits to be split into "
			 "copies for %.200s (see the log if it stays)",
			 i->route.group, i->route.members);
		return;
	}
	if (st->exported.at_ms != 0) {
		snprintf(out, cap, "on a medium for %s since %s (%s)",
			 st->exported.peer,
			 policy_window_when(st->exported.at_ms, t1, sizeof(t1)),
			 st->exported.medium);
		return;
	}
	r = engine_hops(i->msg.dst_node, i->route.path, hops,
			POLICY_ROUTE_PEERS, &nh);
	if (r == ENGINE_NO_ROUTE) {
		snprintf(out, cap,
			 "no route to %s: it is not a [peer] and no [route] "
			 "line matches it (add one, then send ferryd SIGHUP)",
			 i->msg.dst_node);
		return;
	}
	if (r == ENGINE_LOOP) {
		snprintf(out, cap,
			 "every next hop of the route to %s has held it "
			 "already (a loop: fix [route])",
			 i->msg.dst_node);
		return;
	}
	for (size_t h = 0; h < nh && n + 2 < cap; h++) {
		if (h > 0) {
			out[n++] = ';';
			out[n++] = ' ';
			out[n] = '\0';
		}
		why_hop(ag, hops[h], i, out, cap, &n);
	}
}

/* QCREATE, QSTATS, QPURGE, STATUS, INFO: one answer frame. */
void
done_admin(struct client *c, struct req_job *r)
{
	struct ferry_fbuf b;

	if (r->rc != 0) {
		answer_error(c, r->reqid, r->rc, "refused");
		client_idle(c);
		return;
	}
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
		/* The ACL cell of STATUS (REQ_ON_STATUS). */
		if (r->status->kind == STORE_ST_PRESENT &&
		    !status_visible(c, r->cmd, &r->status->info)) {
			client_error(c, r->reqid, FERRY_EPERM,
				     "uid %ld may not see the status of a "
				     "message for %s/%s (needs recv or admin "
				     "on its queue, or send to it, in [acl] of "
				     "ferry.conf)",
				     (long)c->uid, r->status->info.msg.dst_node,
				     r->status->info.msg.dst_queue);
			client_idle(c);
			return;
		}
		agent_frame(c->ag, &b, FERRY_F_STATUS_OK, 0, r->reqid);
		ferry_fbuf_u8(&b, FERRY_T_STATUS, (uint8_t)r->status->kind);
		if (r->status->kind == STORE_ST_PRESENT)
			put_info(&b, &r->status->info, c->ag->pol.node_name);
		if (r->status->kind == STORE_ST_DEAD_REMOVED) {
			ferry_fbuf_u8(&b, FERRY_T_DEAD_REASON,
				      (uint8_t)r->status->info.dead_reason);
			ferry_fbuf_u64(&b, FERRY_T_DEAD_MS,
				       (uint64_t)r->status->info.dead_ms);
		}
		if (r->status->kind == STORE_ST_PRESENT &&
		    r->status->exported.at_ms != 0) {
			char m[200];
			snprintf(m, sizeof(m), "%s %.*s",
				 r->status->exported.peer, 120,
				 r->status->exported.medium);
			ferry_fbuf_str(&b, FERRY_T_MEDIUM, m);
			ferry_fbuf_u64(&b, FERRY_T_MEDIUM_MS,
				       (uint64_t)r->status->exported.at_ms);
		}
		ferry_fbuf_u64(&b, FERRY_T_AT_MS, (uint64_t)r->status->at_ms);
		if (r->status->peer[0] != '\0')
			ferry_fbuf_str(&b, FERRY_T_PEER, r->status->peer);
		if (r->status->kind == STORE_ST_PRESENT) {
			char why[512];
			why_text(c->ag, r->status, why, sizeof(why));
			if (why[0] != '\0')
				ferry_fbuf_str(&b, FERRY_T_WHY, why);
		}
		if (r->status->nreceipts > 0) {
			char rs[4096];
			size_t n = 0;
			for (size_t i = 0; i < r->status->nreceipts; i++) {
				const struct store_receipt *e =
				    &r->status->receipts[i];
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
	default: /* RK_QCREATE */
		agent_frame(c->ag, &b, FERRY_F_OK, 0, r->reqid);
		break;
	}
	client_send(c, &b);
	client_idle(c);
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
status_visible(struct client *c, const struct req_cmd *cmd,
	       const struct store_msg_info *i)
{
	char target[FERRY_NODE_MAX + FERRY_QUEUE_MAX + 2];

	if (cmd == NULL || cmd->on != REQ_ON_STATUS)
		return 0;
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

/* Pool thread: the transports' snapshot, and what waits for each peer (a walk
 * of each peer's part of the outbound side). */
int
peers_gather(struct store *st, struct req_job *r)
{
	size_t n = engine_peers(r->ag, NULL, 0);

	if (n == 0)
		return 0;
	r->peers = calloc(n, sizeof(*r->peers));
	r->peer_msgs = calloc(n, sizeof(*r->peer_msgs));
	r->peer_bytes = calloc(n, sizeof(*r->peer_bytes));
	if (r->peers == NULL || r->peer_msgs == NULL || r->peer_bytes == NULL)
		return FERRY_ENOMEM;
	n = engine_peers(r->ag, r->peers, n);
	r->npeers = n;
	for (size_t i = 0; i < n; i++) {
		struct store_out_pos pos = {{0}, 0, 0};
		int rc = store_out_scan(st, r->peers[i].name, &pos, 0,
					count_for_peer, r);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void
done_peers(struct client *c, struct req_job *r)
{
	struct ferry_fbuf b;

	if (r->rc != 0) {
		answer_error(c, r->reqid, r->rc, "cannot list the peers");
		client_idle(c);
		return;
	}
	for (size_t i = 0; i < r->npeers; i++) {
		const struct peer_status *p = &r->peers[i];
		agent_frame(c->ag, &b, FERRY_F_PEER, 0, r->reqid);
		ferry_fbuf_str(&b, FERRY_T_PEER, p->name);
		ferry_fbuf_str(&b, FERRY_T_FINGERPRINT, p->fpr);
		ferry_fbuf_u8(&b, FERRY_T_CONNECTED,
			      p->connected ? (p->inbound ? 2 : 1) : 0);
		if (p->addr[0] != '\0')
			ferry_fbuf_str(&b, FERRY_T_ADDR, p->addr);
		if (p->via[0] != '\0')
			ferry_fbuf_str(&b, FERRY_T_VIA, p->via);
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

/* ----------------------------------------------------------- metrics */

/* The text of /metrics in METRICS_TEXT frames of whole lines, at most
 * FERRY_DATA_MAX bytes each, then END. */
void
done_metrics(struct client *c, struct req_job *r)
{
	const struct metrics_text *t = &r->metrics;
	struct ferry_fbuf b;
	size_t off = 0;

	if (r->rc != 0) {
		answer_error(c, r->reqid, r->rc, "cannot gather the metrics");
		client_idle(c);
		return;
	}
	while (off < t->len) {
		size_t n = t->len - off;

		if (n > FERRY_DATA_MAX) {
			/* Back to the end of a line (lines are short). */
			n = FERRY_DATA_MAX;
			while (n > 0 && t->buf[off + n - 1] != '\n')
				n--;
			if (n == 0)
				n = FERRY_DATA_MAX;
		}
		agent_frame(c->ag, &b, FERRY_F_METRICS_TEXT, 0, r->reqid);
		ferry_fbuf_bytes(&b, FERRY_T_PAYLOAD, t->buf + off, n);
		client_send(c, &b);
		off += n;
	}
	agent_frame(c->ag, &b, FERRY_F_END, 0, r->reqid);
	client_send(c, &b);
	client_idle(c);
}

/* ---------------------------------------------------------- handlers */

/* A job of kind for c on queue (NULL: none). */
static void
admin_job(struct client *c, const struct req_cmd *cmd, enum req_kind kind,
	  const char *queue)
{
	struct req_job *r = rj_request(c, kind);

	if (r == NULL)
		return;
	r->cmd = cmd;
	if (queue != NULL)
		snprintf(r->queue, sizeof(r->queue), "%s", queue);
	rj_submit(c, r);
}

void
req_qcreate(struct client *c, const struct req_cmd *cmd,
	    const struct ferry_frame *f, const struct ferry_fields *fl)
{
	struct req_job *r = rj_request(c, RK_QCREATE);

	(void)cmd;
	(void)f;
	if (r == NULL)
		return;
	snprintf(r->queue, sizeof(r->queue), "%s", fl->queue);
	r->lim.max_bytes = fl->max_bytes;
	r->lim.max_msgs = fl->max_msgs;
	/* A reply queue's time to stay open (docs/protocol.md §4). */
	if (FERRY_HAS(fl, FERRY_T_TTL_MS))
		r->lim.open_ms = fl->ttl_ms > (uint64_t)INT64_MAX / 4
				     ? 0
				     : (int64_t)fl->ttl_ms;
	rj_submit(c, r);
}

void
req_qlist(struct client *c, const struct req_cmd *cmd,
	  const struct ferry_frame *f, const struct ferry_fields *fl)
{
	(void)f;
	(void)fl;
	admin_job(c, cmd, RK_QLIST, NULL);
}

void
req_qstats(struct client *c, const struct req_cmd *cmd,
	   const struct ferry_frame *f, const struct ferry_fields *fl)
{
	(void)f;
	admin_job(c, cmd, RK_QSTATS, fl->queue);
}

void
req_qpurge(struct client *c, const struct req_cmd *cmd,
	   const struct ferry_frame *f, const struct ferry_fields *fl)
{
	(void)f;
	admin_job(c, cmd, RK_QPURGE, fl->queue);
}

void
req_status(struct client *c, const struct req_cmd *cmd,
	   const struct ferry_frame *f, const struct ferry_fields *fl)
{
	struct req_job *r = rj_request(c, RK_STATUS);

	(void)f;
	if (r == NULL)
		return;
	r->cmd = cmd;
	memcpy(r->id, fl->id, FERRY_ID_LEN);
	rj_submit(c, r);
}

void
req_info(struct client *c, const struct req_cmd *cmd,
	 const struct ferry_frame *f, const struct ferry_fields *fl)
{
	(void)f;
	(void)fl;
	admin_job(c, cmd, RK_INFO, NULL);
}

void
req_peers(struct client *c, const struct req_cmd *cmd,
	  const struct ferry_frame *f, const struct ferry_fields *fl)
{
	(void)f;
	(void)fl;
	admin_job(c, cmd, RK_PEERS, NULL);
}

void
req_partials(struct client *c, const struct req_cmd *cmd,
	     const struct ferry_frame *f, const struct ferry_fields *fl)
{
	(void)f;
	(void)fl;
	admin_job(c, cmd, RK_PARTIALS, NULL);
}

/* METRICS: gathered on a pool thread (store reads), with a copy of the
 * node's name (the policy is the loop's). */
void
req_metrics(struct client *c, const struct req_cmd *cmd,
	    const struct ferry_frame *f, const struct ferry_fields *fl)
{
	struct req_job *r = rj_request(c, RK_METRICS);

	(void)f;
	(void)fl;
	if (r == NULL)
		return;
	r->cmd = cmd;
	snprintf(r->node, sizeof(r->node), "%s", c->ag->pol.node_name);
	rj_submit(c, r);
}
