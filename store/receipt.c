/*
 * receipt.c - delivery receipts, made and absorbed by the store inside
 * the writer's transaction (docs/store.md, "Receipts").
 *
 * When a message whose source asked for receipts (FERRY_MSG_RECEIPT)
 * enters its destination queue, is acked there, or is dead-lettered at
 * any hop, the same transaction queues a small receipt message for the
 * source node's FERRY_RECEIPT_QUEUE.  It travels like any message (hop by
 * hop, custody, exactly once).  At the source, put absorbs it: the event
 * is added to the original message's receipts record (shown by status)
 * and the receipt's own id is remembered, so a resent receipt is a
 * duplicate.  Nothing is ever queued in FERRY_RECEIPT_QUEUE.
 *
 * Payload (one line, ASCII, at most 200 bytes):
 *   "ferry-receipt/1 EVENT ID NODE AT_MS\n"
 * EVENT is queued|acked|expired|refused, ID the original id in hex, NODE
 * the reporting node, AT_MS its wall clock.  A malformed or unknown
 * receipt is dropped (and its id remembered): a peer cannot make the
 * store queue anything with it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define RCPT_TTL_MS   (7LL * 24 * 3600 * 1000)
#define RCPT_PRIO     6
#define RCPT_LINE_MAX 200

static const char *const names[] = {"?",       "queued",  "acked", "expired",
				    "refused", "custody", "medium"};

const char *
store_receipt_event_name(unsigned event)
{
	return event < sizeof(names) / sizeof(names[0]) ? names[event] : "?";
}

static int
record(struct store *st, struct store_ctx *cx, const uint8_t *id,
       unsigned event, const char *node, int64_t at_ms)
{
	struct store_rcpt_rec rr;
	uint8_t buf[4096];
	size_t n;
	int rc;

	rc = store_db_get(st->receipts, cx->txn, id, FERRY_ID_LEN, buf,
			  sizeof(buf), &n, 0);
	if (rc == DB_NOTFOUND)
		memset(&rr, 0, sizeof(rr));
	else if (rc != 0)
		return store_dberr(cx, rc, "reading receipts");
	else if (rec_rcpt_decode(buf, n, &rr) != 0)
		memset(&rr, 0, sizeof(rr)); /* damaged: start again */
	for (size_t i = 0; i < rr.n; i++)
		if (rr.r[i].event == event && strcmp(rr.r[i].node, node) == 0)
			return 0; /* known */
	if (rr.n == STORE_RECEIPTS_MAX)
		return 0; /* the first ones are the ones that matter */
	rr.r[rr.n].event = (uint8_t)event;
	rr.r[rr.n].at_ms = at_ms;
	snprintf(rr.r[rr.n].node, sizeof(rr.r[rr.n].node), "%s", node);
	rr.n++;
	n = rec_rcpt_encode(&rr, buf, sizeof(buf));
	if (n == 0)
		return store_dberr(cx, EINVAL, "encoding receipts");
	rc = store_db_put(st->receipts, cx->txn, id, FERRY_ID_LEN, buf, n);
	if (rc != 0)
		return store_dberr(cx, rc, "writing receipts");
	return 0;
}

int
receipt_emit(struct store *st, struct store_ctx *cx, const struct store_hdr *h,
	     unsigned event)
{
	const struct ferry_msg *o = &h->info.msg;
	char hex[FERRY_ID_HEX_LEN + 1], line[RCPT_LINE_MAX];
	/* A copy of a group message reports on the id its source gave
	 * it: the source knows that one (docs/groups.md). */
	const uint8_t *id =
	    h->info.route.group[0] != '\0' ? h->info.route.group_id : o->id;
	struct msg_rec *r;
	int n, rc;

	if (!(o->flags & FERRY_MSG_RECEIPT))
		return 0;
	if (strcmp(o->src_node, st->node) == 0)
		return record(st, cx, id, event, st->node, cx->now);
	ferry_id_to_hex(id, hex);
	n = snprintf(line, sizeof(line), "ferry-receipt/1 %s %s %s %lld\n",
		     store_receipt_event_name(event), hex, st->node,
		     (long long)cx->now);
	if (n < 0 || (size_t)n >= sizeof(line))
		return FERRY_EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return FERRY_ENOMEM;
	ferry_msg_init(&r->h.info.msg);
	if ((rc = ferry_id_generate(r->h.info.msg.id)) != 0) {
		free(r);
		return rc;
	}
	snprintf(r->h.info.msg.src_node, sizeof(r->h.info.msg.src_node), "%s",
		 st->node);
	snprintf(r->h.info.msg.dst_node, sizeof(r->h.info.msg.dst_node), "%s",
		 o->src_node);
	snprintf(r->h.info.msg.dst_queue, sizeof(r->h.info.msg.dst_queue), "%s",
		 FERRY_RECEIPT_QUEUE);
	snprintf(r->h.info.msg.correlation, sizeof(r->h.info.msg.correlation),
		 "%s", hex);
	r->h.info.msg.priority = RCPT_PRIO;
	r->h.info.msg.created_ms = cx->now;
	r->h.info.msg.expires_ms = cx->now + RCPT_TTL_MS;
	r->h.info.msg.payload_len = (uint64_t)n;
	r->h.info.state = STORE_OUTBOUND;
	r->h.info.stored_ms = cx->now;
	r->h.has_inline = 1;
	r->inl = (const uint8_t *)line;
	r->inl_len = (size_t)n;
	rc = msg_insert(st, cx, r, 0);
	free(r);
	return rc;
}

int
receipt_parse(const uint8_t *p, size_t len, unsigned *event,
	      uint8_t id[FERRY_ID_LEN], char node[FERRY_NODE_MAX + 1],
	      int64_t *at)
{
	char line[RCPT_LINE_MAX + 1], ev[16], hex[FERRY_ID_HEX_LEN + 2];
	char nd[FERRY_NODE_MAX + 2];
	long long t;
	int used = 0;

	if (len == 0 || len > RCPT_LINE_MAX || p[len - 1] != '\n' ||
	    memchr(p, '\0', len) != NULL || memchr(p, '\n', len) != p + len - 1)
		return FERRY_EINVAL;
	memcpy(line, p, len);
	line[len] = '\0';
	if (sscanf(line, "ferry-receipt/1 %15s %33s %64s %lld\n%n", ev, hex, nd,
		   &t, &used) != 4 ||
	    (size_t)used != len)
		return FERRY_EINVAL;
	*event = 0;
	for (unsigned i = 1; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(ev, names[i]) == 0)
			*event = i;
	if (*event == 0 || ferry_id_from_hex(hex, id) != 0 ||
	    !ferry_node_name_valid(nd) || t < 0)
		return FERRY_EINVAL;
	memcpy(node, nd, FERRY_NODE_MAX + 1);
	*at = t;
	return 0;
}

/*
 * May `node` report on message id?  Only the node the message went to:
 * its destination while this store still holds it (sent, or on a
 * medium), or the peer it was handed to.  Anybody else (a peer naming an
 * id it never had, a local user sending to ferry.receipts) is ignored.
 * 1 yes, 0 no, or an error.
 */
static int
reporter_ok(struct store *st, struct store_ctx *cx, const uint8_t *id,
	    const char *node, unsigned event)
{
	struct msg_rec *r = malloc(sizeof(*r));
	struct store_seen s;
	uint8_t buf[256];
	size_t n;
	int rc;

	if (r == NULL)
		return FERRY_ENOMEM;
	rc = msg_load(st, cx, id, r);
	if (rc == 0) {
		/* A relay's report (ferry track) may come before the
		 * custody it follows is recorded here. */
		rc = strcmp(r->h.info.msg.dst_node, node) == 0 ||
		     strcmp(r->h.info.msg.dst_node, STORE_SPLIT_DST) == 0 ||
		     strcmp(r->h.info.hop_peer, node) == 0 ||
		     ((r->h.info.msg.flags & FERRY_MSG_TRACK) &&
		      (event == STORE_RCPT_CUSTODY ||
		       event == STORE_RCPT_MEDIUM));
		free(r);
		return rc;
	}
	free(r);
	if (rc == FERRY_ECORRUPT)
		return 0; /* its header is damaged: cannot tell */
	if (rc != FERRY_ENOTFOUND)
		return rc;
	rc = store_db_get(st->seen, cx->txn, id, FERRY_ID_LEN, buf, sizeof(buf),
			  &n, 0);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_dberr(cx, rc, "reading a seen record");
	if (rec_seen_decode(buf, n, &s) != 0)
		return 0;
	/* Split into a group's copies here: every member reports on it
	 * (a member must know its id: it had a copy). */
	if (s.kind == STORE_ST_HANDED && s.peer[0] == '@')
		return 1;
	/* Handed to a relay: its destination reports, and so may a relay
	 * further on that had to dead-letter it (a loop, the hop limit,
	 * no route there). */
	return s.kind == STORE_ST_HANDED &&
	       (strcmp(s.peer, node) == 0 || strcmp(s.dst, node) == 0 ||
		(s.dst[0] != '\0' &&
		 (event == STORE_RCPT_REFUSED || event == STORE_RCPT_EXPIRED ||
		  event == STORE_RCPT_CUSTODY || event == STORE_RCPT_MEDIUM)));
}

/* Did a receipt come from its maker, or through relays with a verified
 * signature of its maker?  (A relay could forge one otherwise.) */
static int
receipt_trusted(const struct ferry_msg *m, const struct store_route *route)
{
	if (route == NULL || route->path[0] == '\0' ||
	    strcmp(route->path, m->src_node) == 0)
		return 1; /* straight from its maker (a peer), or made here */
	return (route->sig_flags & STORE_ROUTE_VERIFIED) != 0 &&
	       route->dead == STORE_DEAD_NONE;
}

int
receipt_absorb(struct store *st, struct store_ctx *cx,
	       const struct ferry_msg *m, const struct store_route *route,
	       const void *payload, size_t len)
{
	struct store_hdr h;
	uint8_t id[FERRY_ID_LEN];
	char node[FERRY_NODE_MAX + 1];
	unsigned event;
	int64_t at;
	int rc;

	if (receipt_parse(payload, len, &event, id, node, &at) == 0 &&
	    strcmp(node, m->src_node) == 0 && receipt_trusted(m, route)) {
		/* Only for messages this node knows, from the node they
		 * went to: nobody can fill the receipts db with ids of their
		 * choosing, nor report on another node's behalf. */
		rc = reporter_ok(st, cx, id, node, event);
		if (rc < 0)
			return rc;
		if (rc == 1 && (rc = record(st, cx, id, event, node, at)) != 0)
			return rc;
	}
	memset(&h, 0, sizeof(h));
	h.info.msg = *m;
	cx->rows++;
	return seen_put(st, cx, &h, STORE_ST_ACKED, NULL);
}

int
receipt_load(struct store *st, const uint8_t *id, struct store_status *out)
{
	struct store_rcpt_rec rr;
	uint8_t buf[4096];
	size_t n;
	int rc;

	rc = store_db_get(st->receipts, NULL, id, FERRY_ID_LEN, buf,
			  sizeof(buf), &n, 0);
	if (rc == DB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_map_dberr(rc);
	if (rec_rcpt_decode(buf, n, &rr) != 0)
		return FERRY_ECORRUPT;
	memcpy(out->receipts, rr.r, sizeof(out->receipts));
	out->nreceipts = rr.n;
	return 0;
}
