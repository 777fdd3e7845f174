/*
 * intake.c - the frame intake (see intake.h): every hop frame a peer
 * hands over, on any transport, becomes store operations here and
 * nowhere else.
 *
 * A crypto file (BLAKE2b of payloads): sodium.h allowed.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/intake.h"
#include "agent/log.h"
#include "lib/util.h"

#define BATCH_MSGS  256u	/* small messages per commit */
#define BATCH_BYTES (16u << 20) /* their payload bytes */

/*
 * A group copy (docs/groups.md) is split where its members part: at one
 * of them, or where their copies no longer travel together.  1 if hm is
 * to be split here; 0 if it is this node's own copy or goes on whole.
 */
static int
group_split_here(const struct intake_node *me, const struct hop_msg *hm)
{
	const struct intake_router *rt = me->router;
	const char *p = hm->members;
	char name[FERRY_NODE_MAX + 1];
	int first = 0, have = 0;

	if (hm->group[0] == '\0' || hm->members[0] == '\0' || rt == NULL ||
	    rt->group_key == NULL)
		return 0;
	if (strcmp(hm->members, me->name) == 0)
		return 0; /* this node's own copy */
	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		int k;
		if (n > FERRY_NODE_MAX)
			return 1; /* not a valid list (the hop checked it) */
		memcpy(name, p, n);
		name[n] = '\0';
		if (strcmp(name, me->name) == 0)
			return 1;
		k = rt->group_key(name, hm->path);
		if (have && k != first)
			return 1;
		first = k;
		have = 1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* Is a message for node delivered here: for this node, or its site? */
static int
for_here(const struct intake_node *me, const char *node)
{
	const struct intake_router *rt = me->router;

	return strcmp(node, me->name) == 0 ||
	       (rt != NULL && rt->site != NULL && rt->site(node));
}

enum intake_verdict
intake_msg(const struct intake_node *me, const char *peer,
	   const struct hop_msg *hm, enum intake_route *route, const char **why)
{
	const struct ferry_msg *m = &hm->msg;
	enum intake_route r = INTAKE_ROUTE_ON;
	char last[FERRY_NODE_MAX + 1];

	if (hm->path[0] == '\0') {
		if (strcmp(m->src_node, peer) != 0) {
			*why = "its source is not the peer that sent it (a "
			       "peer may only send its own messages, or "
			       "say the path of those it relays)";
			return INTAKE_FORGED;
		}
	} else {
		size_t n = strlen(m->src_node);
		route_path_last(hm->path, last);
		if (strcmp(last, peer) != 0 ||
		    strncmp(hm->path, m->src_node, n) != 0 ||
		    (hm->path[n] != ',' && hm->path[n] != '\0')) {
			*why = "its path does not start with its source and "
			       "end with the peer that sent it";
			return INTAKE_FORGED;
		}
	}
	if (group_split_here(me, hm)) {
		/* Its copies go on from here (or stay): each is judged
		 * when it is made (agent/split.c). */
		r = route_path_has(hm->path, me->name) ? INTAKE_ROUTE_LOOP
						       : INTAKE_ROUTE_SPLIT;
	} else if (!for_here(me, m->dst_node)) {
		unsigned limit;
		if (me->router == NULL) {
			*why = "it is for another node (this node relays "
			       "nothing)";
			return INTAKE_NOT_HERE;
		}
		limit =
		    hm->hop_limit != 0 ? hm->hop_limit : me->router->hop_limit;
		if (route_path_has(hm->path, me->name))
			r = INTAKE_ROUTE_LOOP; /* it came back here */
		else if (route_path_len(hm->path) + 2 > limit ||
			 strlen(hm->path) + 1 + strlen(me->name) >
			     ROUTE_PATH_MAX)
			r = INTAKE_ROUTE_HOP_LIMIT; /* (or its path is full) */
		else
			r = me->router->route(m, hm->path);
		if (r == INTAKE_ROUTE_NONE) {
			*why = "it is for a node this one has no route to";
			return INTAKE_NOT_HERE;
		}
	}
	if (route != NULL)
		*route = r;
	if (ferry_queue_reserved(m->dst_queue) &&
	    strcmp(m->dst_queue, FERRY_RECEIPT_QUEUE) != 0 &&
	    strcmp(m->dst_queue, FERRY_BUNDLE_QUEUE) != 0) {
		*why = "its queue is reserved for the agent (ferry.*)";
		return INTAKE_RESERVED;
	}
	if (me->max_message != 0 && m->payload_len > me->max_message) {
		*why = "it is larger than max_message";
		return INTAKE_TOO_BIG;
	}
	*why = "";
	return INTAKE_OK;
}

/* ------------------------------------------------------------ a message */

struct intake_rx {
	const struct intake *in;
	struct ferry_msg msg;
	struct store_route *route; /* a relayed message's, or NULL */
	int sig_check;		   /* for here, signed: verify at END */
	/* sent to this node's site: delivered here under this node's name,
	 * its origin signature checked over the name it was sent to */
	char site[FERRY_NODE_MAX + 1];
	int check;   /* END's hash is checked (check_hash, and resumed
			if hash_resumed) */
	int hashing; /* hs covers the payload (check or sig_check) */
	uint8_t sig[HOP_SIG_LEN];
	enum intake_outcome oc;
	enum intake_verdict verdict;
	const char *why;
	uint64_t next;	  /* the next CHUNK's offset */
	uint64_t durable; /* stored before this transfer */
	struct store_writer *w;
	uint8_t *buf; /* INTAKE_SMALL */
	crypto_generichash_state hs;
};

/* A message's local expiry: ttl_ms from now, less the time in transit
 * (in->medium_ms); a TTL over a century is "never". */
static int64_t
expiry(const struct intake *in, uint64_t ttl_ms)
{
	int64_t base =
	    ferry_wall_ms() - (in->medium_ms > 0 ? in->medium_ms : 0);

	if (ttl_ms == 0 || ttl_ms > INTAKE_TTL_MAX_MS)
		return 0;
	return base + (int64_t)ttl_ms > base ? base + (int64_t)ttl_ms
					     : base + 1;
}

/* Discard the store's partial copy of id, if there is one and nobody
 * owns it (a transfer in progress keeps it).  1 if it did. */
static int
partial_drop(struct store *st, const uint8_t id[FERRY_ID_LEN])
{
	struct store_writer *w = NULL;
	uint64_t off = 0;

	if (store_writer_resume(st, id, &w, &off) != 0)
		return 0;
	store_writer_abort(w);
	return 1;
}

/*
 * The TTL of m ran out on the way.  Its sender dead-letters it when the
 * TTL runs out there, so it must not be stored here too (a second dead
 * letter) nor be owed custody: drop a partial of it, if any.  Unless it
 * is here already (an earlier carrier brought it in time): then custody
 * is owed as for any duplicate.  1 if so.
 */
static int
expired_known(struct store *st, const struct ferry_msg *m)
{
	struct store_status *ss = malloc(sizeof(*ss));
	int known;

	if (ss == NULL)
		return 1; /* the usual path: the store dead-letters it */
	known =
	    store_status(st, m->id, ss) != 0 || ss->kind != STORE_ST_UNKNOWN;
	free(ss);
	if (!known)
		partial_drop(st, m->id);
	return known;
}

/* What the store keeps of where hm has been: its path (the source
 * alone if the peer sent none), its hop limit, and its fate here (r);
 * *out NULL for a message straight from its source to this node. */
static int
route_make(const struct intake *in, const struct hop_msg *hm,
	   enum intake_route r, struct store_route **out)
{
	struct store_route *sr;

	*out = NULL;
	if (hm->path[0] == '\0' && hm->hop_limit == 0 && !hm->has_sig &&
	    hm->group[0] == '\0' && strcmp(hm->msg.dst_node, in->me.name) == 0)
		return 0;
	sr = calloc(1, sizeof(*sr));
	if (sr == NULL)
		return FERRY_ENOMEM;
	snprintf(sr->path, sizeof(sr->path), "%s",
		 hm->path[0] != '\0' ? hm->path : hm->msg.src_node);
	sr->hop_limit = hm->hop_limit;
	if (hm->has_sig) {
		sr->sig_flags = STORE_ROUTE_SIGNED;
		memcpy(sr->origin_sig, hm->origin_sig, HOP_SIG_LEN);
	}
	if (hm->group[0] != '\0') {
		snprintf(sr->group, sizeof(sr->group), "%s", hm->group);
		memcpy(sr->group_id, hm->group_id, FERRY_ID_LEN);
		snprintf(sr->members, sizeof(sr->members), "%s", hm->members);
	}
	sr->dead = r == INTAKE_ROUTE_LOOP	 ? STORE_DEAD_LOOP
		   : r == INTAKE_ROUTE_HOP_LIMIT ? STORE_DEAD_HOP_LIMIT
						 : STORE_DEAD_NONE;
	*out = sr;
	return 0;
}

/*
 * A message is stored here: its next hops are told if it goes on, its
 * receivers if it stays (in its queue, or in dead).  Whatever carried it
 * (TCP, a stick, HTTP), a RECV that waits, or a subscription, sees it
 * now, not at its next timeout.  A receipt the store queued for its
 * source ("queued", "refused", custody) is kicked on its way too: the
 * senders sleep until kicked (tcp_send.c).
 */
static void
stored(const struct intake *in, const struct ferry_msg *m,
       const struct store_route *route)
{
	const struct intake_router *rt = in->me.router;

	if (rt == NULL)
		return;
	if ((m->flags & (FERRY_MSG_RECEIPT | FERRY_MSG_TRACK)) &&
	    strcmp(m->src_node, in->me.name) != 0)
		rt->kick(m->src_node, FERRY_PRIO_MAX - 1);
	if (route != NULL && route->dead != STORE_DEAD_NONE) {
		if (rt->arrived != NULL)
			rt->arrived(FERRY_DEAD_QUEUE);
	} else if (strcmp(m->dst_node, STORE_SPLIT_DST) == 0) {
		if (rt->split_kick != NULL)
			rt->split_kick();
	} else if (strcmp(m->dst_node, in->me.name) == 0) {
		if (rt->arrived != NULL)
			rt->arrived(m->dst_queue);
	} else if (route != NULL) {
		rt->kick(m->dst_node, m->priority);
	}
}

/*
 * rx's writer: the partial kept under its id resumed (rx->durable: its
 * bytes), else a new one.  A partial longer than the MSG says is another
 * message under this id: a sender's cut-through (docs/session.md §4)
 * leaves one when its local client stops half-way and then sends
 * something shorter under the same chosen id.  The message offered now
 * is the one its sender has; the kept part can never complete it, and
 * kept it would refuse that message for ever.  It goes, as a resumed
 * payload whose END's hash differs does (docs/hop.md §4.5).
 */
static int
rx_writer(const struct intake *in, struct intake_rx *rx)
{
	int rc = store_writer_resume(in->st, rx->msg.id, &rx->w, &rx->durable);

	if (rc == 0 && rx->durable > rx->msg.payload_len) {
		char hex[FERRY_ID_HEX_LEN + 1];
		ferry_id_to_hex(rx->msg.id, hex);
		log_warn("message %s: the %llu bytes kept of it are more than "
			 "the %llu now offered (another message under the "
			 "same id): dropped, received again from the start",
			 hex, (unsigned long long)rx->durable,
			 (unsigned long long)rx->msg.payload_len);
		store_writer_abort(rx->w);
		rx->w = NULL;
		rc = FERRY_ENOTFOUND;
	}
	if (rc == FERRY_ENOTFOUND) {
		rx->durable = 0;
		rc = store_writer_open_route(in->st, &rx->msg, rx->route,
					     &rx->w);
	}
	return rc;
}

int
intake_begin(const struct intake *in, const struct hop_msg *hm,
	     struct intake_rx **out, enum intake_outcome *oc)
{
	struct intake_rx *rx = calloc(1, sizeof(*rx));
	enum intake_route rt = INTAKE_ROUTE_ON;
	int rc;

	*out = NULL;
	if (rx == NULL)
		return FERRY_ENOMEM;
	rx->in = in;
	rx->msg = hm->msg;
	rx->msg.expires_ms = expiry(in, hm->ttl_ms);
	rx->next = hm->offset;
	crypto_generichash_init(&rx->hs, NULL, 0, HOP_HASH_LEN);
	*out = rx;
	rx->verdict = intake_msg(&in->me, in->peer, hm, &rt, &rx->why);
	if (rx->verdict != INTAKE_OK)
		return *oc = rx->oc = INTAKE_REFUSED, 0;
	if (rt == INTAKE_ROUTE_SPLIT)
		snprintf(rx->msg.dst_node, sizeof(rx->msg.dst_node), "%s",
			 STORE_SPLIT_DST);
	else if (strcmp(rx->msg.dst_node, in->me.name) != 0 &&
		 for_here(&in->me, rx->msg.dst_node)) {
		/* For the site: stored here as for this node, so the store,
		 * its queue and the bridge see a local message. */
		snprintf(rx->site, sizeof(rx->site), "%s", rx->msg.dst_node);
		snprintf(rx->msg.dst_node, sizeof(rx->msg.dst_node), "%s",
			 in->me.name);
	}
	if ((rc = route_make(in, hm, rt, &rx->route)) != 0) {
		intake_rx_free(rx, 0);
		*out = NULL;
		return rc;
	}
	rx->sig_check = hm->has_sig && in->me.router != NULL &&
			in->me.router->origin_check != NULL &&
			strcmp(rx->msg.dst_node, in->me.name) == 0;
	if (rx->sig_check)
		memcpy(rx->sig, hm->origin_sig, HOP_SIG_LEN);
	/* Whole from 0 so far; set again once the stored prefix is known. */
	rx->check = in->check_hash && !in->hash_resumed;
	rx->hashing = rx->check || rx->sig_check;
	if (rx->msg.expires_ms != 0 && rx->msg.expires_ms <= ferry_wall_ms() &&
	    !expired_known(in->st, &rx->msg))
		return *oc = rx->oc = INTAKE_EXPIRED, 0;
	if (hm->offset == 0 && hm->msg.payload_len <= INTAKE_SMALL_MAX) {
		rx->buf = malloc(hm->msg.payload_len ? hm->msg.payload_len : 1);
		if (rx->buf == NULL) {
			intake_rx_free(rx, 0);
			*out = NULL;
			return FERRY_ENOMEM;
		}
		return *oc = rx->oc = INTAKE_SMALL, 0;
	}
	rc = rx_writer(in, rx);
	if (rc == FERRY_EDUPLICATE)
		return *oc = rx->oc = INTAKE_HAVE, 0;
	if (rc == FERRY_EBUSY)
		return *oc = rx->oc = INTAKE_BUSY, 0;
	if (rc != 0) {
		rx->w = NULL;
		intake_rx_free(rx, 0);
		*out = NULL;
		return rc;
	}
	if (in->check_hash && rx->durable > 0) {
		/* Resumed: END's hash is what says the stored prefix and
		 * the sender's bytes are one payload. */
		rx->check = 1;
		rx->hashing = 1;
	}
	if (rx->sig_check && !in->check_hash && rx->durable > 0) {
		/* A signature to check and part of it stored before (a
		 * staged or resumed payload): the hash starts with that
		 * part (read back here; a transport that checks END's hash
		 * does this on a thread of its own). */
		static const int no_cancel = 0;
		if (intake_hash_prefix(rx, &no_cancel) != 0)
			rx->sig_check = 0; /* unverified, not refused */
	}
	if (in->from_durable)
		rx->next = rx->durable;
	else if (hm->offset > rx->durable) {
		/* An earlier part never arrived here: keep what is. */
		if (store_writer_suspend(rx->w) != 0)
			rx->durable = 0;
		rx->w = NULL;
		return *oc = rx->oc = INTAKE_GAP, 0;
	}
	return *oc = rx->oc = INTAKE_STREAM, 0;
}

int
intake_skip(const struct intake *in, const struct hop_msg *hm,
	    enum intake_outcome oc, struct intake_rx **out)
{
	struct intake_rx *rx = calloc(1, sizeof(*rx));

	*out = rx;
	if (rx == NULL)
		return FERRY_ENOMEM;
	rx->in = in;
	rx->msg = hm->msg;
	rx->next = hm->offset;
	rx->oc = oc == INTAKE_STREAM || oc == INTAKE_SMALL ? INTAKE_BUSY : oc;
	return 0;
}

const struct ferry_msg *
intake_rx_msg(const struct intake_rx *rx)
{
	return &rx->msg;
}

enum intake_verdict
intake_rx_verdict(const struct intake_rx *rx, const char **why)
{
	if (why != NULL)
		*why = rx->why != NULL ? rx->why : "";
	return rx->verdict;
}

uint64_t
intake_rx_next(const struct intake_rx *rx)
{
	return rx->next;
}

uint64_t
intake_rx_durable(const struct intake_rx *rx)
{
	return rx->durable;
}

int
intake_rx_checks_hash(const struct intake_rx *rx)
{
	return rx->check;
}

int
intake_hash_prefix(struct intake_rx *rx, const int *cancel)
{
	struct store_reader *rd = NULL;
	uint8_t *tmp;
	uint64_t done = 0;
	int rc;

	if (rx->w == NULL)
		return FERRY_ESTATE;
	if ((rc = store_writer_prefix(rx->w, &rd)) != 0)
		return rc;
	tmp = malloc(STORE_CHUNK_BYTES);
	rc = tmp == NULL ? FERRY_ENOMEM : 0;
	while (rc == 0 && done < rx->durable) {
		size_t n;
		if (__atomic_load_n(cancel, __ATOMIC_ACQUIRE)) {
			rc = FERRY_ECLOSED;
			break;
		}
		rc = store_reader_read(rd, tmp, STORE_CHUNK_BYTES, &n);
		if (rc == 0 && n == 0)
			rc = FERRY_ECORRUPT;
		if (rc == 0) {
			crypto_generichash_update(&rx->hs, tmp, n);
			done += n;
		}
	}
	store_reader_close(rd);
	free(tmp);
	return rc;
}

int
intake_chunk(struct intake_rx *rx, const struct hop_chunk *c)
{
	uint64_t skip = 0;
	int rc;

	if (memcmp(c->id, rx->msg.id, FERRY_ID_LEN) != 0 ||
	    c->offset != rx->next || c->len > rx->msg.payload_len - c->offset)
		return FERRY_EPROTO;
	rx->next += c->len;
	if (rx->oc != INTAKE_STREAM && rx->oc != INTAKE_SMALL)
		return 0; /* skipped */
	/* Bytes the store had already (a resumed payload): hashed from the
	 * store when the hash covers the payload (intake_hash_prefix). */
	if (rx->oc == INTAKE_STREAM && c->offset < rx->durable)
		skip = rx->durable - c->offset < c->len
			   ? rx->durable - c->offset
			   : c->len;
	if (rx->hashing && skip < c->len)
		crypto_generichash_update(&rx->hs, c->data + skip,
					  c->len - (size_t)skip);
	if (rx->oc == INTAKE_SMALL) {
		memcpy(rx->buf + c->offset, c->data, c->len);
		return 0;
	}
	if (rx->w == NULL)
		return FERRY_ESTATE; /* a store error stopped it before */
	if (skip < c->len &&
	    (rc = store_writer_write(rx->w, c->data + skip,
				     c->len - (size_t)skip)) != 0) {
		/* Keep what is durable (the writer failed: suspend only
		 * frees it), so a later transfer resumes there. */
		if (store_writer_suspend(rx->w) != 0)
			log_debug("intake: a partial kept at its last durable "
				  "offset");
		rx->w = NULL;
		return rc;
	}
	return 0;
}

/*
 * A message for this node, whole: check its origin's signature over the
 * payload's hash, and what its queue requires (docs/routing.md, "Signed
 * origins").  rx->route says the outcome: verified, or dead (forged; or
 * an unverified origin from afar for a require_verified queue).
 */
static void
origin_judge(struct intake_rx *rx, const uint8_t hash[HOP_HASH_LEN])
{
	const struct intake_router *rt = rx->in->me.router;
	struct store_route *r = rx->route;
	char hex[FERRY_ID_HEX_LEN + 1];
	int v = 0;

	if (r == NULL || rt == NULL ||
	    strcmp(rx->msg.dst_node, rx->in->me.name) != 0)
		return;
	ferry_id_to_hex(rx->msg.id, hex);
	if (rx->sig_check && rx->site[0] != '\0') {
		/* Signed as sent: to the site. */
		struct ferry_msg sent = rx->msg;
		snprintf(sent.dst_node, sizeof(sent.dst_node), "%s", rx->site);
		v = rt->origin_check(&sent, hash, rx->sig);
	} else if (rx->sig_check)
		v = rt->origin_check(&rx->msg, hash, rx->sig);
	if (v == 1) {
		r->sig_flags |= STORE_ROUTE_VERIFIED;
	} else if (v < 0) {
		r->dead = STORE_DEAD_FORGED;
		log_warn("message %s claims to come from %s but its origin "
			 "signature does not verify: forged or damaged on "
			 "the way (it came through %s); moved to dead",
			 hex, rx->msg.src_node, r->path);
	} else if (strcmp(r->path, rx->msg.src_node) != 0 &&
		   strcmp(rx->msg.dst_queue, FERRY_RECEIPT_QUEUE) == 0) {
		/* The store counts it only if verified (receipt.c). */
		log_warn("a receipt from %s came through %s with an origin "
			 "that is not verified (%s): not counted",
			 rx->msg.src_node, r->path,
			 rx->sig_check ? "no card for it: add it to "
					 "[directory]"
				       : "not signed");
	} else if (strcmp(r->path, rx->msg.src_node) != 0 &&
		   rt->require_verified != NULL &&
		   rt->require_verified(rx->msg.dst_queue)) {
		r->dead = STORE_DEAD_UNVERIFIED;
		log_warn("message %s from %s (through %s) for %s: its origin "
			 "is not verified (%s) and the queue requires it; "
			 "moved to dead",
			 hex, rx->msg.src_node, r->path, rx->msg.dst_queue,
			 rx->sig_check ? "no key for it: add it to "
					 "[directory]"
				       : "not signed");
	}
}

int
intake_end(struct intake_rx *rx, const struct hop_end *e)
{
	uint8_t hash[HOP_HASH_LEN];
	uint64_t have;
	int rc;

	if (memcmp(e->id, rx->msg.id, FERRY_ID_LEN) != 0 ||
	    e->total_len != rx->msg.payload_len)
		return FERRY_EPROTO;
	if (rx->oc != INTAKE_STREAM && rx->oc != INTAKE_SMALL)
		return 0;
	have = rx->next > rx->durable ? rx->next : rx->durable;
	if (have != e->total_len)
		return FERRY_ECORRUPT;
	if (rx->hashing)
		crypto_generichash_final(&rx->hs, hash, HOP_HASH_LEN);
	if (rx->check && sodium_memcmp(hash, e->hash, HOP_HASH_LEN) != 0)
		return FERRY_ECORRUPT;
	origin_judge(rx, hash);
	if (rx->oc == INTAKE_SMALL)
		return 0;
	if (rx->w == NULL)
		return FERRY_ESTATE;
	if (rx->route != NULL &&
	    (rc = store_writer_set_route(rx->w, rx->route)) != 0)
		return rc;
	/* The store checks the payload is whole (one writer per message:
	 * the spool file is the one this writer wrote, of this length). */
	rc = store_writer_commit(rx->w);
	rx->w = NULL; /* commit frees it */
	if (rc == 0)
		stored(rx->in, &rx->msg, rx->route);
	return rc;
}

void
intake_rx_free(struct intake_rx *rx, int keep)
{
	if (rx == NULL)
		return;
	if (rx->w != NULL) {
		int rc = 0;
		if (keep)
			rc = store_writer_suspend(rx->w);
		else
			store_writer_abort(rx->w);
		if (rc != 0)
			log_warn("%s: keeping a partial message failed: %s",
				 rx->in->peer, ferry_strerror(rc));
	}
	free(rx->buf);
	free(rx->route);
	free(rx);
}

int
intake_owned(struct store *st, const uint8_t id[FERRY_ID_LEN])
{
	return store_writer_busy(st, id);
}

int
intake_writer_anew(struct store *st, const struct ferry_msg *m,
		   const struct store_route *route, struct store_writer **out)
{
	int rc = store_writer_open_route(st, m, route, out);

	if (rc == FERRY_EBUSY && partial_drop(st, m->id))
		rc = store_writer_open_route(st, m, route, out);
	return rc;
}

/* --------------------------------------------------------- small puts */

struct put {
	const struct intake *in;
	struct store_put_req req;
	struct ferry_msg msg;
	struct store_route *route;
	void (*done)(int result, const struct ferry_msg *m, void *arg);
	void *arg;
	uint8_t *buf;
};

static void
put_done(int result, void *arg)
{
	struct put *p = arg;

	if (result == 0)
		stored(p->in, &p->msg, p->route);
	p->done(result, &p->msg, p->arg);
	free(p->buf);
	free(p->route);
	free(p);
}

size_t
intake_put_cost(uint64_t len)
{
	return sizeof(struct put) + (size_t)len;
}

int
intake_put_async(struct intake_rx *rx,
		 void (*done)(int result, const struct ferry_msg *m, void *arg),
		 void *arg)
{
	struct put *p;
	int rc;

	if (rx->oc != INTAKE_SMALL || rx->buf == NULL)
		return FERRY_ESTATE;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return FERRY_ENOMEM;
	p->in = rx->in;
	p->msg = rx->msg;
	p->done = done;
	p->arg = arg;
	p->buf = rx->buf;     /* handed over */
	p->route = rx->route; /* handed over */
	p->req.msg = &p->msg;
	p->req.route = p->route;
	p->req.payload = p->buf;
	p->req.len = (size_t)rx->msg.payload_len;
	rc = store_put_async(rx->in->st, &p->req, put_done, p);
	if (rc != 0) {
		free(p);
		return rc;
	}
	rx->buf = NULL;
	rx->route = NULL;
	return 0;
}

struct intake_batch {
	const struct intake *in;
	struct ferry_msg msg[BATCH_MSGS];
	uint8_t *buf[BATCH_MSGS];
	struct store_route *route[BATCH_MSGS];
	struct store_put_req reqs[BATCH_MSGS];
	size_t n, bytes;
};

struct intake_batch *
intake_batch_new(const struct intake *in)
{
	struct intake_batch *b = calloc(1, sizeof(*b));

	if (b != NULL)
		b->in = in;
	return b;
}

int
intake_batch_add(struct intake_batch *b, struct intake_rx *rx)
{
	if (rx->oc != INTAKE_SMALL || rx->buf == NULL || b->n == BATCH_MSGS)
		return FERRY_ESTATE;
	b->msg[b->n] = rx->msg;
	b->buf[b->n] = rx->buf; /* handed over */
	b->route[b->n] = rx->route;
	rx->buf = NULL;
	rx->route = NULL;
	b->n++;
	b->bytes += rx->msg.payload_len;
	return b->n == BATCH_MSGS || b->bytes >= BATCH_BYTES;
}

int
intake_batch_flush(struct intake_batch *b,
		   void (*each)(int result, const struct ferry_msg *m,
				void *arg),
		   void *arg)
{
	int rc;

	if (b->n == 0)
		return 0;
	for (size_t i = 0; i < b->n; i++) {
		b->reqs[i].msg = &b->msg[i];
		b->reqs[i].payload = b->buf[i];
		b->reqs[i].len = (size_t)b->msg[i].payload_len;
		b->reqs[i].result = 0;
		b->reqs[i].route = b->route[i];
	}
	rc = store_put_batch(b->in->st, b->reqs, b->n);
	for (size_t i = 0; i < b->n; i++) {
		if (rc == 0 && b->reqs[i].result == 0)
			stored(b->in, &b->msg[i], b->route[i]);
		if (rc == 0)
			each(b->reqs[i].result, &b->msg[i], arg);
		free(b->buf[i]);
		free(b->route[i]);
		b->buf[i] = NULL;
		b->route[i] = NULL;
	}
	b->n = 0;
	b->bytes = 0;
	return rc;
}

void
intake_batch_free(struct intake_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->buf[i]);
		free(b->route[i]);
	}
	free(b);
}

/* ------------------------------------------------------------- custody */

int
intake_custody(const struct intake *in, const uint8_t id[FERRY_ID_LEN],
	       void (*done)(int result, void *arg), void *arg)
{
	int relay = in->me.router != NULL && in->me.router->carrier(in->peer);

	return store_out_custody_async(in->st, id, in->peer, relay, done, arg);
}

/* ------------------------------------------------------------- staging */

/*
 * Large payloads that start in a carrier go straight into the store's
 * partial (uncommitted, invisible) copy during the verifying pass, so
 * they are written once; the caller keeps only their MSG and END.  If the
 * carrier then fails to verify, the partials it started are aborted:
 * nothing of it is stored.  Until then the stage keeps owning them
 * (store_writer_park), so no other transfer (a TCP session) can resume
 * bytes that are not yet known to be genuine.  A continuation (MSG
 * offset > 0) goes through the caller's copy as usual, so a partial made
 * from verified carriers never gets bytes from an unverified one.  A
 * partial that another transfer owns is left alone (one writer per
 * message): its bytes go through the caller's copy, applied later.  A
 * partial of it that nobody owns (a transfer cut earlier, or a pass
 * killed before its carrier verified: its bytes may not be genuine) is
 * dropped only once this carrier has verified, so that an unverified one
 * can discard nothing; its bytes go through the caller's copy too.
 */
struct intake_stage {
	const struct intake *in;
	int on;			  /* the current MSG streams to w */
	struct store_writer *w;	  /* open partial, or NULL */
	uint8_t id[FERRY_ID_LEN]; /* of the current payload */
	uint64_t next, len;
	struct store_writer **parked; /* partials started here, owned */
	size_t nparked, cap;
	uint8_t (*stale)[FERRY_ID_LEN]; /* partials found: dropped if ok */
	size_t nstale, scap;
	int rc; /* a store error: the carrier is tried again later */
	struct hop_zstd *z; /* opens CHUNKZ frames, made on the first */
};

struct intake_stage *
intake_stage_new(const struct intake *in)
{
	struct intake_stage *sg = calloc(1, sizeof(*sg));

	if (sg != NULL)
		sg->in = in;
	return sg;
}

int
intake_stage_error(const struct intake_stage *sg)
{
	return sg->rc;
}

/* The current payload stops (its END, or the carrier's end): keep owning
 * it until the carrier has verified. */
static void
stage_park(struct intake_stage *sg)
{
	int rc;

	if (sg->w == NULL)
		return;
	rc = store_writer_park(sg->w);
	if (rc != 0 && sg->rc == 0)
		sg->rc = rc;
	sg->parked[sg->nparked++] = sg->w; /* room made at open */
	sg->w = NULL;
}

/* Remember id: its earlier partial is dropped once the carrier verifies. */
static void
stage_stale(struct intake_stage *sg, const uint8_t id[FERRY_ID_LEN])
{
	if (sg->nstale == sg->scap) {
		size_t nc = sg->scap == 0 ? 16 : sg->scap * 2;
		void *t = realloc(sg->stale, nc * FERRY_ID_LEN);
		if (t == NULL) {
			sg->rc = FERRY_ENOMEM;
			return;
		}
		sg->stale = t;
		sg->scap = nc;
	}
	memcpy(sg->stale[sg->nstale++], id, FERRY_ID_LEN);
}

static int
stage_msg(struct intake_stage *sg, const struct hop_frame *f)
{
	struct hop_msg hm;
	struct store_route *route = NULL;
	enum intake_route rt = INTAKE_ROUTE_ON;
	const char *why = NULL;
	int rc;

	stage_park(sg); /* no END: it stops in this carrier */
	sg->on = 0;
	if (hop_msg_decode(f, &hm, &why) != 0 || hm.offset != 0 ||
	    hm.msg.payload_len <= INTAKE_SMALL_MAX ||
	    intake_msg(&sg->in->me, sg->in->peer, &hm, &rt, &why) != INTAKE_OK)
		return 0; /* the apply pass says why */
	if (sg->nparked == sg->cap) {
		size_t nc = sg->cap == 0 ? 16 : sg->cap * 2;
		void *t = realloc(sg->parked, nc * sizeof(*sg->parked));
		if (t == NULL) {
			sg->rc = FERRY_ENOMEM;
			return 0;
		}
		sg->parked = t;
		sg->cap = nc;
	}
	if (rt == INTAKE_ROUTE_SPLIT)
		snprintf(hm.msg.dst_node, sizeof(hm.msg.dst_node), "%s",
			 STORE_SPLIT_DST);
	hm.msg.expires_ms = expiry(sg->in, hm.ttl_ms);
	if (hm.msg.expires_ms != 0 && hm.msg.expires_ms <= ferry_wall_ms())
		return 0; /* expired on the way: the apply pass sees to it */
	if (route_make(sg->in, &hm, rt, &route) != 0) {
		sg->rc = FERRY_ENOMEM;
		return 0;
	}
	rc = store_writer_open_route(sg->in->st, &hm.msg, route, &sg->w);
	free(route);
	if (rc != 0) {
		/* EBUSY: a partial of it is here already (see above);
		 * EDUPLICATE and the like: the apply pass sees to it. */
		sg->w = NULL;
		if (rc == FERRY_EBUSY)
			stage_stale(sg, hm.msg.id);
		if (rc == FERRY_ENOSPC || rc == FERRY_EQUOTA)
			sg->rc = rc;
		return 0;
	}
	store_writer_staged(sg->w); /* durable once, when parked */
	memcpy(sg->id, hm.msg.id, FERRY_ID_LEN);
	sg->on = 1;
	sg->next = 0;
	sg->len = hm.msg.payload_len;
	return 0; /* the MSG itself stays with the caller */
}

int
intake_stage_frame(struct intake_stage *sg, const struct hop_frame *f)
{
	struct hop_chunk c;
	const char *why = NULL;
	int rc;

	if (sg->rc != 0)
		return 0;
	if (f->type == HOP_MSG)
		return stage_msg(sg, f);
	if (!sg->on)
		return 0;
	if (f->type == HOP_CHUNKZ) {
		struct hop_chunkz cz;
		if (sg->z == NULL && (sg->z = hop_zstd_new()) == NULL) {
			sg->rc = FERRY_ENOMEM;
			return 0;
		}
		/* A bad one goes to the apply pass, which says so. */
		if (hop_chunkz_decode(f, &cz, &why) != 0 ||
		    hop_chunkz_inflate(sg->z, &cz, &c, &why) != 0) {
			sg->on = 0;
			return 0;
		}
	} else if (f->type == HOP_CHUNK && hop_chunk_decode(f, &c, &why) != 0) {
		sg->on = 0;
		return 0;
	}
	if (f->type == HOP_CHUNK || f->type == HOP_CHUNKZ) {
		if (memcmp(c.id, sg->id, FERRY_ID_LEN) != 0 ||
		    c.offset != sg->next || c.offset + c.len > sg->len) {
			sg->on = 0; /* let the apply pass call it what it is */
			return 0;
		}
		if ((rc = store_writer_write(sg->w, c.data, c.len)) != 0) {
			sg->rc = rc;
			return 0;
		}
		sg->next += c.len;
		return 1;
	}
	if (f->type == HOP_END) {
		/* Durable but not visible: the apply pass commits it. */
		stage_park(sg);
		sg->on = 0;
	}
	return 0;
}

void
intake_stage_done(struct intake_stage *sg, int ok)
{
	if (sg == NULL)
		return;
	if (sg->w != NULL)
		stage_park(sg);
	for (size_t i = 0; i < sg->nparked; i++) {
		if (ok)
			store_writer_release(sg->parked[i]);
		else
			store_writer_abort(sg->parked[i]);
	}
	for (size_t i = 0; ok && i < sg->nstale; i++)
		partial_drop(sg->in->st, sg->stale[i]);
	free(sg->parked);
	free(sg->stale);
	hop_zstd_free(sg->z);
	free(sg);
}

/* --------------------------------------------------------------- clocks */

/*
 * A carrier sealed at created_ms by the peer's clock is here at now by
 * ours.  Its time in transit is now - created_ms + offset, where offset
 * is the peer's clock minus ours:
 *  - measured at the last live contact (TCP HELLO), when there was one;
 *  - else 0 (the clock-skew allowance presumes the clocks agree), or the
 *    lowest offset an earlier carrier proved when that is positive (a
 *    carrier cannot arrive before it was sealed).
 * A carrier sealed, by the peer's clock, before its last contact or
 * carrier was (a clock set back, or a carrier that waited) is charged
 * from that reading instead: a peer's clock cannot run backwards, so
 * transit is never overcharged by a clock that was set back.
 */
int64_t
intake_medium_ms(struct store *st, const char *peer, int64_t created_ms)
{
	int64_t now = ferry_wall_ms(), lb, est = 0, off = 0, last = 0, from, m;
	int64_t noff, nlast;
	int how = STORE_CLOCK_NONE, nhow;

	/* Hostile numbers: nothing to charge, nothing to learn. */
	if (created_ms < now - (int64_t)INTAKE_TTL_MAX_MS ||
	    created_ms > now + (int64_t)INTAKE_TTL_MAX_MS)
		return 0;
	lb = created_ms - now;
	if (store_peer_clock_get(st, peer, &how, &off, &last) != 0 ||
	    off < -(int64_t)INTAKE_TTL_MAX_MS ||
	    off > (int64_t)INTAKE_TTL_MAX_MS ||
	    last < now - (int64_t)INTAKE_TTL_MAX_MS ||
	    last > now + (int64_t)INTAKE_TTL_MAX_MS) {
		how = STORE_CLOCK_NONE;
		off = last = 0;
	}
	if (how == STORE_CLOCK_MEASURED ||
	    (how == STORE_CLOCK_BOUND && off > 0))
		est = off;
	from = how != STORE_CLOCK_NONE && created_ms < last ? last : created_ms;
	/* What this carrier teaches: saved only when it changes the row
	 * (a bundle is judged twice, verified then applied). */
	nhow = how == STORE_CLOCK_MEASURED ? STORE_CLOCK_MEASURED
					   : STORE_CLOCK_BOUND;
	noff = how == STORE_CLOCK_MEASURED ||
		       (how == STORE_CLOCK_BOUND && off > lb)
		   ? off
		   : lb;
	nlast = created_ms > last ? created_ms : last;
	if ((nhow != how || noff != off || nlast != last) &&
	    store_peer_clock_put(st, peer, nhow, noff, nlast) != 0)
		log_debug("%s: its clock offset not saved", peer);
	m = now - from + est;
	return m > 0 ? m : 0;
}

int
intake_created_ok(struct store *st, const char *peer, int64_t created_ms,
		  int64_t skew_ms)
{
	int64_t off = 0, last = 0;
	int how = STORE_CLOCK_NONE;

	if (store_peer_clock_get(st, peer, &how, &off, &last) != 0 ||
	    how != STORE_CLOCK_MEASURED || off < -(int64_t)INTAKE_TTL_MAX_MS ||
	    off > (int64_t)INTAKE_TTL_MAX_MS)
		off = 0;
	if (created_ms > INT64_MAX - (int64_t)INTAKE_TTL_MAX_MS)
		return 0;
	return created_ms - off <= ferry_wall_ms() + skew_ms;
}

void
intake_clock_seen(struct store *st, const char *peer, int64_t offset_ms)
{
	int64_t now = ferry_wall_ms();

	if (offset_ms < -(int64_t)INTAKE_TTL_MAX_MS ||
	    offset_ms > (int64_t)INTAKE_TTL_MAX_MS)
		return;
	if (store_peer_clock_put(st, peer, STORE_CLOCK_MEASURED, offset_ms,
				 now + offset_ms) != 0)
		log_debug("%s: its clock offset not saved", peer);
}
