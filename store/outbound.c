/*
 * outbound.c - the outbound side: messages for other nodes, their per-hop
 * state and custody.
 *
 * A message for another node waits in oidx (priority descending, then
 * age).  The forwarding engine claims it for a peer (INFLIGHT), records how
 * many payload bytes the peer has stored (hop_offset, kept across a lost
 * link so the transfer resumes there), releases it when the link drops,
 * and hands it over when the peer's custody receipt arrives: only then
 * does the message leave this store, leaving a small "handed to P at T"
 * record for status.
 */
#include "config.h"

#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "lib/util.h"
#include "store/store_int.h"

enum {
	OUT_CLAIM,
	OUT_PROGRESS,
	OUT_RELEASE,
	OUT_CUSTODY,
	OUT_CUSTODY_RELAY,
	OUT_SPLIT
};

static int
op_out(struct store *st, struct store_ctx *cx, struct store_op *op)
{
	struct msg_rec *r = malloc(sizeof(*r));
	struct store_msg_info *i;
	int rc;

	if (r == NULL)
		return FERRY_ENOMEM;
	rc = msg_load(st, cx, op->u.m.id, r);
	if (rc != 0)
		goto out;
	i = &r->h.info;
	if (i->state != STORE_OUTBOUND && i->state != STORE_INFLIGHT) {
		rc = FERRY_ESTATE;
		goto out;
	}
	switch (op->u.m.reason) {
	case OUT_SPLIT: {
		char to[FERRY_NODE_MAX + 1];
		if (strcmp(i->msg.dst_node, STORE_SPLIT_DST) != 0 ||
		    i->route.group[0] == '\0' ||
		    strlen(i->route.group) + 1 > FERRY_NODE_MAX) {
			rc = FERRY_ESTATE;
			goto out;
		}
		snprintf(to, sizeof(to), "@%s", i->route.group);
		rc = msg_remove(st, cx, r, STORE_ST_HANDED, to);
		goto out;
	}
	case OUT_CLAIM:
		if (i->state == STORE_INFLIGHT &&
		    strcmp(i->hop_peer, op->u.m.peer) != 0) {
			rc = FERRY_ESTATE;
			goto out;
		}
		/* The counters do not depend on OUTBOUND vs INFLIGHT, nor
		 * does the oidx key: only the header changes. */
		i->state = STORE_INFLIGHT;
		snprintf(i->hop_peer, sizeof(i->hop_peer), "%s", op->u.m.peer);
		i->hop_since_ms = cx->now;
		break;
	case OUT_PROGRESS:
		if (op->u.m.offset > i->msg.payload_len) {
			rc = FERRY_EINVAL;
			goto out;
		}
		i->hop_offset = op->u.m.offset;
		break;
	case OUT_RELEASE:
		i->state = STORE_OUTBOUND;
		i->hop_peer[0] = '\0';
		i->hop_since_ms = 0;
		break;
	case OUT_CUSTODY:
	case OUT_CUSTODY_RELAY:
		/* Only the hop it was for may take it: its destination, the
		 * peer it is in flight to, or (a relay that some route goes
		 * through) any peer that has not held it before. */
		if (op->u.m.reason == OUT_CUSTODY_RELAY &&
		    strcmp(i->msg.dst_node, st->node) != 0 &&
		    !route_path_has(i->route.path, op->u.m.peer)) {
			rc = msg_remove(st, cx, r, STORE_ST_HANDED,
					op->u.m.peer);
			goto out;
		}
		if (strcmp(i->msg.dst_node, op->u.m.peer) != 0 &&
		    !(i->state == STORE_INFLIGHT &&
		      strcmp(i->hop_peer, op->u.m.peer) == 0)) {
			rc = FERRY_ESTATE;
			goto out;
		}
		rc = msg_remove(st, cx, r, STORE_ST_HANDED, op->u.m.peer);
		goto out;
	}
	rc = msg_save(st, cx, r);
	cx->rows++;
out:
	free(r);
	return rc;
}

static int
submit_out(struct store *st, int kind, const uint8_t *id, const char *peer,
	   uint64_t offset, int sync)
{
	struct store_op op;

	if (id == NULL)
		return FERRY_EINVAL;
	if ((kind == OUT_CLAIM || kind == OUT_CUSTODY) &&
	    (peer == NULL || !ferry_node_name_valid(peer)))
		return FERRY_EINVAL;
	memset(&op, 0, sizeof(op));
	op.fn = op_out;
	op.sync = sync;
	op.u.m.id = id;
	op.u.m.peer = peer;
	op.u.m.offset = offset;
	op.u.m.reason = kind;
	return store_submit(st, &op);
}

int
store_out_claim(struct store *st, const uint8_t id[FERRY_ID_LEN],
		const char *peer)
{
	return submit_out(st, OUT_CLAIM, id, peer, 0, 0);
}

int
store_out_progress(struct store *st, const uint8_t id[FERRY_ID_LEN],
		   uint64_t offset)
{
	return submit_out(st, OUT_PROGRESS, id, NULL, offset, 0);
}

int
store_out_release(struct store *st, const uint8_t id[FERRY_ID_LEN])
{
	return submit_out(st, OUT_RELEASE, id, NULL, 0, 0);
}

int
store_out_split(struct store *st, const uint8_t id[FERRY_ID_LEN])
{
	return submit_out(st, OUT_SPLIT, id, NULL, 0, 1);
}

int
store_out_custody(struct store *st, const uint8_t id[FERRY_ID_LEN],
		  const char *peer)
{
	/* Durable: a custody release lost in a crash would send the
	 * message again (harmless, the peer dedups), but status would lie. */
	return submit_out(st, OUT_CUSTODY, id, peer, 0, 1);
}

/* An async custody op owns copies of what it points to. */
struct custody_op {
	struct store_op op; /* first: the writer frees the op pointer */
	uint8_t id[FERRY_ID_LEN];
	char peer[FERRY_NODE_MAX + 1];
};

int
store_out_custody_async(struct store *st, const uint8_t id[FERRY_ID_LEN],
			const char *peer, int relay, store_done_fn done,
			void *arg)
{
	struct custody_op *c;
	int rc;

	if (id == NULL || done == NULL || peer == NULL ||
	    !ferry_node_name_valid(peer))
		return FERRY_EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return FERRY_ENOMEM;
	memcpy(c->id, id, FERRY_ID_LEN);
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->op.fn = op_out;
	c->op.sync = 1;
	c->op.u.m.id = c->id;
	c->op.u.m.peer = c->peer;
	c->op.u.m.reason = relay ? OUT_CUSTODY_RELAY : OUT_CUSTODY;
	c->op.done_fn = done;
	c->op.done_arg = arg;
	rc = store_submit_async(st, &c->op);
	if (rc != 0)
		free(c);
	return rc;
}
