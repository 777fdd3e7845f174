/*
 * record.c - byte layouts of the store's keys and records.
 *
 * Records are versioned, little-endian, with length-prefixed strings.
 * Stored bytes are treated as possibly damaged: every decoder checks every
 * length against the buffer and returns FERRY_ECORRUPT, never reads past it.
 * Keys are big-endian so that Berkeley DB's byte order is the wanted order.
 */
#include "config.h"

#include <string.h>

#include "lib/util.h"
#include "store/store_int.h"

#define REC_HDR_V1 1
#define REC_HDR_V2 2 /* V1 + a dead letter's text (u16 length) */
#define REC_HDR_V3                                                             \
	3 /* V2 (text may be empty) + the route: u16 length                    \
	   * and path, u8 hop_limit, u8 sig_flags, and a                       \
	   * 64-byte signature if STORE_ROUTE_SIGNED */
#define REC_HDR_V4                                                             \
	4 /* V3 + a group copy's group (u8 length + name), its 16-byte         \
	   * group id and members (u16 length + names) */
#define REC_SEEN_V1 1
#define REC_SEEN_V2                                                            \
	2 /* V1 + the destination of a message handed to a                     \
	   * relay */
#define REC_QUEUE_V1 1
#define REC_QUEUE_V2 2 /* + open_until_ms (reply queues) */
#define REC_RCPT_V1  1

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int over;
};

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	int bad;
};

static void
w_bytes(struct wbuf *w, const void *v, size_t n)
{
	if (w->over || n > w->cap - w->len) {
		w->over = 1;
		return;
	}
	memcpy(w->p + w->len, v, n);
	w->len += n;
}

static void
w_u8(struct wbuf *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void
w_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4];

	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	w_bytes(w, b, 4);
}

static void
w_u64(struct wbuf *w, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	w_bytes(w, b, 8);
}

static void
w_str(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	if (n > 255) {
		w->over = 1;
		return;
	}
	w_u8(w, (uint8_t)n);
	w_bytes(w, s, n);
}

static const uint8_t *
r_bytes(struct rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || n > r->len - r->off) {
		r->bad = 1;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint8_t
r_u8(struct rbuf *r)
{
	const uint8_t *p = r_bytes(r, 1);

	return p ? p[0] : 0;
}

static uint32_t
r_u32(struct rbuf *r)
{
	const uint8_t *p = r_bytes(r, 4);
	uint32_t v = 0;

	if (p == NULL)
		return 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t
r_u64(struct rbuf *r)
{
	const uint8_t *p = r_bytes(r, 8);
	uint64_t v = 0;

	if (p == NULL)
		return 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Read a string into dst of cap bytes (NUL included). */
static void
r_str(struct rbuf *r, char *dst, size_t cap)
{
	size_t n = r_u8(r);
	const uint8_t *p = r_bytes(r, n);

	if (p == NULL || n >= cap || memchr(p, '\0', n) != NULL) {
		r->bad = 1;
		dst[0] = '\0';
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

size_t
rec_hdr_encode(const struct store_hdr *h, const void *inl, size_t inl_len,
	       uint8_t *buf, size_t cap)
{
	const struct store_msg_info *i = &h->info;
	const struct ferry_msg *m = &i->msg;
	struct wbuf w = {buf, 0, cap, 0};

	const struct store_route *rt = &i->route;
	int v4 = rt->group[0] != '\0';
	int v3 = v4 || rt->path[0] != '\0' || rt->hop_limit != 0 ||
		 rt->sig_flags != 0;

	/* V1 unless there is a text or a route: records without them stay
	 * readable by a ferryd from before V2, V3 and V4. */
	w_u8(&w, v4			   ? REC_HDR_V4
		 : v3			   ? REC_HDR_V3
		 : i->dead_text[0] != '\0' ? REC_HDR_V2
					   : REC_HDR_V1);
	w_bytes(&w, m->id, FERRY_ID_LEN);
	w_u8(&w, (uint8_t)i->state);
	w_u8(&w, m->priority);
	w_u8(&w, (uint8_t)i->dead_reason);
	w_u8(&w, h->has_inline ? 1 : h->spooled ? 2 : 0);
	w_u32(&w, m->flags);
	w_u32(&w, i->deliveries);
	w_u64(&w, (uint64_t)m->created_ms);
	w_u64(&w, (uint64_t)m->expires_ms);
	w_u64(&w, (uint64_t)i->stored_ms);
	w_u64(&w, (uint64_t)i->dead_ms);
	w_u64(&w, (uint64_t)i->lease_until_ms);
	w_u64(&w, (uint64_t)i->hop_since_ms);
	w_u64(&w, m->payload_len);
	w_u64(&w, h->seq);
	w_u64(&w, h->token);
	w_u64(&w, i->hop_offset);
	w_str(&w, m->src_node);
	w_str(&w, m->reply_to);
	w_str(&w, m->dst_node);
	w_str(&w, m->dst_queue);
	w_str(&w, m->correlation);
	w_str(&w, i->queue);
	w_str(&w, i->hop_peer);
	if (v3 || i->dead_text[0] != '\0') {
		size_t n = strnlen(i->dead_text, sizeof(i->dead_text));
		w_u8(&w, (uint8_t)(n & 0xff));
		w_u8(&w, (uint8_t)(n >> 8));
		w_bytes(&w, i->dead_text, n);
	}
	if (v3) {
		size_t n = strnlen(rt->path, sizeof(rt->path));
		w_u8(&w, (uint8_t)(n & 0xff));
		w_u8(&w, (uint8_t)(n >> 8));
		w_bytes(&w, rt->path, n);
		w_u8(&w, rt->hop_limit);
		w_u8(&w, rt->sig_flags);
		if (rt->sig_flags & STORE_ROUTE_SIGNED)
			w_bytes(&w, rt->origin_sig, sizeof(rt->origin_sig));
	}
	if (v4) {
		size_t n = strnlen(rt->members, sizeof(rt->members));
		w_str(&w, rt->group);
		w_bytes(&w, rt->group_id, sizeof(rt->group_id));
		w_u8(&w, (uint8_t)(n & 0xff));
		w_u8(&w, (uint8_t)(n >> 8));
		w_bytes(&w, rt->members, n);
	}
	if (h->has_inline) {
		w_u32(&w, (uint32_t)inl_len);
		w_bytes(&w, inl, inl_len);
	}
	return w.over ? 0 : w.len;
}

int
rec_hdr_decode(const void *buf, size_t len, struct store_hdr *h,
	       const uint8_t **inl, size_t *inl_len)
{
	struct store_msg_info *i = &h->info;
	struct ferry_msg *m = &i->msg;
	struct rbuf r = {buf, len, 0, 0};
	const uint8_t *p;
	uint8_t state, reason, version;

	memset(h, 0, sizeof(*h));
	version = r_u8(&r);
	if (version < REC_HDR_V1 || version > REC_HDR_V4)
		return FERRY_ECORRUPT;
	p = r_bytes(&r, FERRY_ID_LEN);
	if (p != NULL)
		memcpy(m->id, p, FERRY_ID_LEN);
	state = r_u8(&r);
	m->priority = r_u8(&r);
	reason = r_u8(&r);
	h->has_inline = r_u8(&r);
	m->flags = r_u32(&r);
	i->deliveries = r_u32(&r);
	m->created_ms = (int64_t)r_u64(&r);
	m->expires_ms = (int64_t)r_u64(&r);
	i->stored_ms = (int64_t)r_u64(&r);
	i->dead_ms = (int64_t)r_u64(&r);
	i->lease_until_ms = (int64_t)r_u64(&r);
	i->hop_since_ms = (int64_t)r_u64(&r);
	m->payload_len = r_u64(&r);
	h->seq = r_u64(&r);
	h->token = r_u64(&r);
	i->hop_offset = r_u64(&r);
	r_str(&r, m->src_node, sizeof(m->src_node));
	r_str(&r, m->reply_to, sizeof(m->reply_to));
	r_str(&r, m->dst_node, sizeof(m->dst_node));
	r_str(&r, m->dst_queue, sizeof(m->dst_queue));
	r_str(&r, m->correlation, sizeof(m->correlation));
	r_str(&r, i->queue, sizeof(i->queue));
	r_str(&r, i->hop_peer, sizeof(i->hop_peer));
	if (version >= REC_HDR_V2) {
		size_t n = r_u8(&r);
		n |= (size_t)r_u8(&r) << 8;
		p = r_bytes(&r, n);
		if (p == NULL || (n == 0 && version == REC_HDR_V2) ||
		    n >= sizeof(i->dead_text) || memchr(p, '\0', n) != NULL)
			r.bad = 1;
		else
			memcpy(i->dead_text, p, n);
	}
	if (version >= REC_HDR_V3) {
		struct store_route *rt = &i->route;
		size_t n = r_u8(&r);
		n |= (size_t)r_u8(&r) << 8;
		p = r_bytes(&r, n);
		if (p == NULL || n >= sizeof(rt->path) ||
		    memchr(p, '\0', n) != NULL) {
			r.bad = 1;
		} else {
			memcpy(rt->path, p, n);
			if (!route_path_valid(rt->path))
				r.bad = 1;
		}
		rt->hop_limit = r_u8(&r);
		rt->sig_flags = r_u8(&r);
		if (rt->sig_flags &
		    ~(STORE_ROUTE_SIGNED | STORE_ROUTE_VERIFIED))
			r.bad = 1;
		/* V3 is written only with a route to keep: one without is
		 * not a record this store wrote (canonical form). */
		if (version == REC_HDR_V3 && rt->path[0] == '\0' &&
		    rt->hop_limit == 0 && rt->sig_flags == 0)
			r.bad = 1;
		if (rt->sig_flags & STORE_ROUTE_SIGNED) {
			p = r_bytes(&r, sizeof(rt->origin_sig));
			if (p != NULL)
				memcpy(rt->origin_sig, p,
				       sizeof(rt->origin_sig));
		}
	}
	if (version == REC_HDR_V4) {
		struct store_route *rt = &i->route;
		size_t n;
		r_str(&r, rt->group, sizeof(rt->group));
		p = r_bytes(&r, sizeof(rt->group_id));
		if (p != NULL)
			memcpy(rt->group_id, p, sizeof(rt->group_id));
		n = r_u8(&r);
		n |= (size_t)r_u8(&r) << 8;
		p = r_bytes(&r, n);
		if (p == NULL || n >= sizeof(rt->members) ||
		    memchr(p, '\0', n) != NULL)
			r.bad = 1;
		else
			memcpy(rt->members, p, n);
		/* V4 only with a group; the names are checked as a hop
		 * checks them. */
		if (!r.bad && (!ferry_node_name_valid(rt->group) ||
			       !route_path_valid(rt->members)))
			r.bad = 1;
	}
	if (inl != NULL)
		*inl = NULL;
	if (inl_len != NULL)
		*inl_len = 0;
	if (h->has_inline == 1) {
		uint32_t n = r_u32(&r);
		p = r_bytes(&r, n);
		if (p != NULL && n != m->payload_len)
			r.bad = 1;
		if (inl != NULL)
			*inl = p;
		if (inl_len != NULL)
			*inl_len = n;
	} else if (h->has_inline == 2) {
		h->has_inline = 0;
		h->spooled = 1;
	} else if (h->has_inline != 0) {
		r.bad = 1;
	}
	if (r.bad || r.off != r.len || state < STORE_QUEUED ||
	    state > STORE_INFLIGHT || reason > STORE_DEAD_LAST_ ||
	    m->priority > FERRY_PRIO_MAX)
		return FERRY_ECORRUPT;
	i->state = (enum store_state)state;
	i->dead_reason = (enum store_dead_reason)reason;
	return 0;
}

size_t
rec_qprefix(uint8_t *k, const char *queue)
{
	size_t n = strlen(queue);

	memcpy(k, queue, n);
	k[n] = 0;
	return n + 1;
}

size_t
rec_qkey(uint8_t *k, const char *queue, uint8_t prio, uint64_t seq)
{
	size_t n = rec_qprefix(k, queue);

	k[n] = (uint8_t)(FERRY_PRIO_MAX - prio);
	ferry_put_be64(k + n + 1, seq);
	return n + 9;
}

void
rec_okey(uint8_t k[9], uint8_t prio, uint64_t seq)
{
	k[0] = (uint8_t)(FERRY_PRIO_MAX - prio);
	ferry_put_be64(k + 1, seq);
}

void
rec_tkey(uint8_t k[8 + FERRY_ID_LEN], int64_t t, const uint8_t id[FERRY_ID_LEN])
{
	ferry_put_be64(k, t < 0 ? 0 : (uint64_t)t);
	memcpy(k + 8, id, FERRY_ID_LEN);
}

void
rec_ckey(uint8_t k[FERRY_ID_LEN + 4], const uint8_t id[FERRY_ID_LEN],
	 uint32_t idx)
{
	memcpy(k, id, FERRY_ID_LEN);
	ferry_put_be32(k + FERRY_ID_LEN, idx);
}

size_t
rec_seen_encode(const struct store_seen *s, uint8_t *buf, size_t cap)
{
	struct wbuf w = {buf, 0, cap, 0};

	w_u8(&w, s->dst[0] != '\0' ? REC_SEEN_V2 : REC_SEEN_V1);
	w_u8(&w, (uint8_t)s->kind);
	w_u64(&w, (uint64_t)s->at_ms);
	w_u64(&w, (uint64_t)s->forget_ms);
	w_str(&w, s->peer);
	if (s->kind == STORE_ST_DEAD_REMOVED) {
		w_u8(&w, (uint8_t)s->dead_reason);
		w_u64(&w, (uint64_t)s->dead_ms);
	}
	if (s->dst[0] != '\0')
		w_str(&w, s->dst);
	return w.over ? 0 : w.len;
}

int
rec_seen_decode(const void *buf, size_t len, struct store_seen *s)
{
	struct rbuf r = {buf, len, 0, 0};
	uint8_t kind, version;

	memset(s, 0, sizeof(*s));
	version = r_u8(&r);
	if (version != REC_SEEN_V1 && version != REC_SEEN_V2)
		return FERRY_ECORRUPT;
	kind = r_u8(&r);
	s->at_ms = (int64_t)r_u64(&r);
	s->forget_ms = (int64_t)r_u64(&r);
	r_str(&r, s->peer, sizeof(s->peer));
	if (kind == STORE_ST_DEAD_REMOVED) {
		uint8_t reason = r_u8(&r);
		if (reason == STORE_DEAD_NONE || reason > STORE_DEAD_LAST_)
			r.bad = 1;
		s->dead_reason = (enum store_dead_reason)reason;
		s->dead_ms = (int64_t)r_u64(&r);
	}
	if (version == REC_SEEN_V2) {
		r_str(&r, s->dst, sizeof(s->dst));
		if (!r.bad && !ferry_node_name_valid(s->dst) &&
		    strcmp(s->dst, STORE_SPLIT_DST) != 0)
			r.bad = 1;
	}
	if (r.bad || r.off != r.len || kind < STORE_ST_ACKED ||
	    kind > STORE_ST_DEAD_REMOVED)
		return FERRY_ECORRUPT;
	s->kind = (enum store_status_kind)kind;
	return 0;
}

size_t
rec_queue_encode(const struct store_queue_stats *s, uint8_t *buf, size_t cap)
{
	struct wbuf w = {buf, 0, cap, 0};

	w_u8(&w, REC_QUEUE_V2);
	w_u64(&w, s->msgs);
	w_u64(&w, s->bytes);
	w_u64(&w, s->leased);
	w_u64(&w, s->max_bytes);
	w_u64(&w, s->max_msgs);
	w_u64(&w, (uint64_t)s->open_until_ms);
	return w.over ? 0 : w.len;
}

int
rec_queue_decode(const void *buf, size_t len, struct store_queue_stats *s)
{
	struct rbuf r = {buf, len, 0, 0};

	uint8_t v = r_u8(&r);

	if (v != REC_QUEUE_V1 && v != REC_QUEUE_V2)
		return FERRY_ECORRUPT;
	s->msgs = r_u64(&r);
	s->bytes = r_u64(&r);
	s->leased = r_u64(&r);
	s->max_bytes = r_u64(&r);
	s->max_msgs = r_u64(&r);
	s->open_until_ms = v == REC_QUEUE_V2 ? (int64_t)r_u64(&r) : 0;
	if (s->open_until_ms < 0)
		return FERRY_ECORRUPT;
	if (r.bad || r.off != r.len)
		return FERRY_ECORRUPT;
	return 0;
}

size_t
rec_rcpt_encode(const struct store_rcpt_rec *s, uint8_t *buf, size_t cap)
{
	struct wbuf w = {buf, 0, cap, 0};

	w_u8(&w, REC_RCPT_V1);
	w_u8(&w, (uint8_t)s->n);
	for (size_t i = 0; i < s->n && i < STORE_RECEIPTS_MAX; i++) {
		w_u8(&w, s->r[i].event);
		w_u64(&w, (uint64_t)s->r[i].at_ms);
		w_str(&w, s->r[i].node);
	}
	return w.over ? 0 : w.len;
}

int
rec_rcpt_decode(const void *buf, size_t len, struct store_rcpt_rec *s)
{
	struct rbuf r = {buf, len, 0, 0};

	memset(s, 0, sizeof(*s));
	if (r_u8(&r) != REC_RCPT_V1)
		return FERRY_ECORRUPT;
	s->n = r_u8(&r);
	if (s->n > STORE_RECEIPTS_MAX)
		return FERRY_ECORRUPT;
	for (size_t i = 0; i < s->n; i++) {
		s->r[i].event = r_u8(&r);
		s->r[i].at_ms = (int64_t)r_u64(&r);
		r_str(&r, s->r[i].node, sizeof(s->r[i].node));
	}
	if (r.bad || r.off != r.len)
		return FERRY_ECORRUPT;
	return 0;
}
