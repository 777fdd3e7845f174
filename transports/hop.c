/*
 * hop.c - encoder and decoder of hop frames (docs/hop.md).
 *
 * The decoders are the first code to see what a peer sent once Noise (or
 * a bundle's secretstream) has authenticated it -- authenticated is not
 * well-formed: every length is checked against what is left before it is
 * used, nothing is allocated, and any violation is FERRY_EPROTO with a
 * reason.  The encoder refuses to write what the decoder would refuse, so
 * both sides share one notion of a valid frame (msg_check, hello_check,
 * text_ok).
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "lib/be.h"
#include "lib/util.h"
#include "transports/hop.h"

/* Field tags (docs/hop.md section 3). */
enum {
	HELLO_T_VERSION = 1,	  /* u8 */
	HELLO_T_NODE = 2,	  /* node name */
	HELLO_T_MAX_RECORD = 3,	  /* u16 */
	HELLO_T_KEEPALIVE_MS = 4, /* u32 */
	HELLO_T_CLOCK_MS = 5,	  /* u64, two's complement */
	HELLO_T_FEATURES = 6,	  /* u32, optional: HOP_FEAT_* */
	HELLO_T_MAX_ = 7,
};

enum {
	MSG_T_ID = 1,		/* 16 bytes */
	MSG_T_SRC_NODE = 2,	/* node name */
	MSG_T_DST_NODE = 3,	/* node name */
	MSG_T_DST_QUEUE = 4,	/* queue name */
	MSG_T_REPLY_TO = 5,	/* queue name, optional */
	MSG_T_CORRELATION = 6,	/* free text without NUL, optional */
	MSG_T_PRIORITY = 7,	/* u8 */
	MSG_T_FLAGS = 8,	/* u32 */
	MSG_T_CREATED_MS = 9,	/* u64, two's complement */
	MSG_T_TTL_MS = 10,	/* u64, remaining; 0 = never expires */
	MSG_T_PAYLOAD_LEN = 11, /* u64 */
	MSG_T_OFFSET = 12,	/* u64 */
	MSG_T_PATH = 13,	/* node names, comma-separated, optional */
	MSG_T_HOP_LIMIT = 14,	/* u8 1..64, optional */
	MSG_T_ORIGIN_SIG = 15,	/* 64 bytes, optional */
	MSG_T_GROUP = 16,	/* node name, optional (a group copy) */
	MSG_T_GROUP_ID = 17,	/* 16 bytes, with MSG_T_GROUP */
	MSG_T_MEMBERS = 18,	/* node names, comma-separated, optional */
	MSG_T_BODY = 19,	/* the whole payload, optional */
	MSG_T_MAX_ = 20,
};

enum {
	CLOSE_T_CODE = 1, /* u16 */
	CLOSE_T_TEXT = 2, /* text, optional */
	CLOSE_T_MAX_ = 3,
};

#define TLV_HDR 3u /* u8 tag + u16be length */

#define HELLO_REQUIRED                                                         \
	(1u << HELLO_T_VERSION | 1u << HELLO_T_NODE |                          \
	 1u << HELLO_T_MAX_RECORD | 1u << HELLO_T_KEEPALIVE_MS |               \
	 1u << HELLO_T_CLOCK_MS)
#define MSG_REQUIRED                                                           \
	(1u << MSG_T_ID | 1u << MSG_T_SRC_NODE | 1u << MSG_T_DST_NODE |        \
	 1u << MSG_T_DST_QUEUE | 1u << MSG_T_PRIORITY | 1u << MSG_T_FLAGS |    \
	 1u << MSG_T_CREATED_MS | 1u << MSG_T_TTL_MS |                         \
	 1u << MSG_T_PAYLOAD_LEN | 1u << MSG_T_OFFSET)

static int
fail(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return FERRY_EPROTO;
}

/* ---- shared validity rules (decoder and encoder) ---- */

/* CLOSE text: printable bytes only, so a peer cannot forge log lines. */
static int
text_ok(const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static const char *
hello_check(const struct hop_hello *h)
{
	if (h->version == 0)
		return "HELLO version 0";
	if (memchr(h->node, '\0', sizeof(h->node)) == NULL ||
	    !ferry_node_name_valid(h->node))
		return "HELLO node name invalid";
	if (h->max_record < HOP_RECORD_MIN)
		return "HELLO max_record below 1024";
	if (h->keepalive_ms > HOP_KEEPALIVE_MAX_MS)
		return "HELLO keepalive_ms above one hour";
	return NULL;
}

static const char *
msg_check(const struct hop_msg *hm)
{
	const struct ferry_msg *m = &hm->msg;

	if (memchr(m->src_node, '\0', sizeof(m->src_node)) == NULL ||
	    memchr(m->dst_node, '\0', sizeof(m->dst_node)) == NULL ||
	    memchr(m->dst_queue, '\0', sizeof(m->dst_queue)) == NULL ||
	    memchr(m->reply_to, '\0', sizeof(m->reply_to)) == NULL ||
	    memchr(m->correlation, '\0', sizeof(m->correlation)) == NULL)
		return "MSG string not terminated";
	if (!ferry_node_name_valid(m->src_node))
		return "MSG source node name invalid";
	if (!ferry_node_name_valid(m->dst_node))
		return "MSG destination node name invalid";
	if (!ferry_queue_name_valid(m->dst_queue))
		return "MSG destination queue name invalid";
	if (m->reply_to[0] != '\0' && !ferry_queue_name_valid(m->reply_to))
		return "MSG reply-to queue name invalid";
	if (m->priority > FERRY_PRIO_MAX)
		return "MSG priority above 7";
	if ((m->flags & ~FERRY_MSG_FLAGS_ALL) != 0)
		return "MSG unknown flag bits";
	if (hm->offset > m->payload_len)
		return "MSG offset past the payload";
	if (memchr(hm->path, '\0', sizeof(hm->path)) == NULL ||
	    !route_path_valid(hm->path))
		return "MSG path invalid";
	if (hm->hop_limit > HOP_HOP_LIMIT_MAX)
		return "MSG hop limit above 64";
	if (hm->has_body &&
	    (hm->body_len > HOP_BODY_MAX || hm->body_len != m->payload_len ||
	     hm->offset != 0 || (hm->body == NULL && hm->body_len > 0)))
		return "MSG body not the whole payload (or above 16 KiB)";
	if (memchr(hm->group, '\0', sizeof(hm->group)) == NULL ||
	    memchr(hm->members, '\0', sizeof(hm->members)) == NULL)
		return "MSG string not terminated";
	if (hm->group[0] == '\0' && hm->members[0] != '\0')
		return "MSG members without a group";
	if (hm->group[0] != '\0') {
		char first[FERRY_NODE_MAX + 1];
		/* Sent to and remembered (store_out_split) as "@NAME", a
		 * node-sized name: 62 bytes at most without its '@'. */
		if (!ferry_node_name_valid(hm->group) ||
		    strlen(hm->group) >= FERRY_NODE_MAX)
			return "MSG group name invalid";
		if (!route_path_valid(hm->members))
			return "MSG members invalid";
		route_path_first(hm->members, first);
		if (first[0] != '\0' && strcmp(first, m->dst_node) != 0)
			return "MSG destination is not its first member";
	}
	return NULL;
}

/* ---- record walking ---- */

int
hop_record_next(const uint8_t *p, size_t len, size_t *off,
		struct hop_frame *out)
{
	size_t left, body;

	if (*off > len)
		return FERRY_EINVAL;
	if (len > HOP_PLAIN_MAX)
		return FERRY_EPROTO;
	left = len - *off;
	if (left == 0)
		return 0;
	if (left < HOP_FRAME_HDR)
		return FERRY_EPROTO;
	p += *off;
	if (p[0] == 0 || p[0] >= HOP_TYPE_MAX_)
		return FERRY_EPROTO;
	body = ferry_get_be24(p + 1);
	if (body > left - HOP_FRAME_HDR)
		return FERRY_EPROTO;
	out->type = p[0];
	out->body = p + HOP_FRAME_HDR;
	out->len = body;
	*off += HOP_FRAME_HDR + body;
	return 1;
}

/* ---- fields ---- */

struct tlv {
	uint8_t tag;
	const uint8_t *v;
	size_t len;
};

/* The next field of [*p, end): 1, 0 at the end, FERRY_EPROTO. */
static int
tlv_next(const uint8_t **p, const uint8_t *end, struct tlv *t, const char **why)
{
	size_t left = (size_t)(end - *p);

	if (left == 0)
		return 0;
	if (left < TLV_HDR)
		return fail(why, "truncated field header");
	t->tag = (*p)[0];
	t->len = ferry_get_be16(*p + 1);
	if (t->tag == 0)
		return fail(why, "field tag 0");
	if (t->len > left - TLV_HDR)
		return fail(why, "field longer than the frame");
	t->v = *p + TLV_HDR;
	*p += TLV_HDR + t->len;
	return 1;
}

/* Known tags may appear once; unknown ones (a newer peer's) are skipped. */
static int
tlv_seen(uint32_t *seen, uint8_t tag, uint8_t max, const char **why)
{
	if (tag >= max)
		return 0;
	if ((*seen >> tag) & 1u)
		return fail(why, "duplicate field");
	*seen |= 1u << tag;
	return 1;
}

/* Copy a string field into dst[cap]: 1..cap-1 bytes, no NUL. */
static int
tlv_str(const struct tlv *t, char *dst, size_t cap, const char **why)
{
	if (t->len == 0)
		return fail(why, "empty string field");
	if (t->len >= cap)
		return fail(why, "string field too long");
	if (memchr(t->v, '\0', t->len) != NULL)
		return fail(why, "NUL inside a string field");
	memcpy(dst, t->v, t->len);
	dst[t->len] = '\0';
	return 0;
}

static int
tlv_size(const struct tlv *t, size_t want, const char **why)
{
	if (t->len != want)
		return fail(why, "fixed-size field of wrong size");
	return 0;
}

static int
want_type(const struct hop_frame *f, uint8_t type)
{
	return f->type == type ? 0 : FERRY_EINVAL;
}

int
hop_hello_decode(const struct hop_frame *f, struct hop_hello *out,
		 const char **why)
{
	const uint8_t *p = f->body, *end = f->body + f->len;
	const char *bad;
	uint32_t seen = 0;
	struct tlv t;
	int rc;

	if (want_type(f, HOP_HELLO) != 0)
		return FERRY_EINVAL;
	memset(out, 0, sizeof(*out));
	while ((rc = tlv_next(&p, end, &t, why)) == 1) {
		rc = tlv_seen(&seen, t.tag, HELLO_T_MAX_, why);
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		switch (t.tag) {
		case HELLO_T_VERSION:
			rc = tlv_size(&t, 1, why);
			if (rc == 0)
				out->version = t.v[0];
			break;
		case HELLO_T_NODE:
			rc = tlv_str(&t, out->node, sizeof(out->node), why);
			break;
		case HELLO_T_MAX_RECORD:
			rc = tlv_size(&t, 2, why);
			if (rc == 0)
				out->max_record = ferry_get_be16(t.v);
			break;
		case HELLO_T_KEEPALIVE_MS:
			rc = tlv_size(&t, 4, why);
			if (rc == 0)
				out->keepalive_ms = ferry_get_be32(t.v);
			break;
		case HELLO_T_CLOCK_MS:
			rc = tlv_size(&t, 8, why);
			if (rc == 0)
				out->clock_ms = (int64_t)ferry_get_be64(t.v);
			break;
		case HELLO_T_FEATURES:
			rc = tlv_size(&t, 4, why);
			if (rc == 0)
				out->features = ferry_get_be32(t.v);
			break;
		}
		if (rc != 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	if ((seen & HELLO_REQUIRED) != HELLO_REQUIRED)
		return fail(why, "HELLO lacks a required field");
	if ((bad = hello_check(out)) != NULL)
		return fail(why, bad);
	return 0;
}

static int
msg_field(const struct tlv *t, struct hop_msg *out, const char **why)
{
	struct ferry_msg *m = &out->msg;
	int rc = 0;

	switch (t->tag) {
	case MSG_T_ID:
		rc = tlv_size(t, FERRY_ID_LEN, why);
		if (rc == 0)
			memcpy(m->id, t->v, FERRY_ID_LEN);
		break;
	case MSG_T_SRC_NODE:
		rc = tlv_str(t, m->src_node, sizeof(m->src_node), why);
		break;
	case MSG_T_DST_NODE:
		rc = tlv_str(t, m->dst_node, sizeof(m->dst_node), why);
		break;
	case MSG_T_DST_QUEUE:
		rc = tlv_str(t, m->dst_queue, sizeof(m->dst_queue), why);
		break;
	case MSG_T_REPLY_TO:
		rc = tlv_str(t, m->reply_to, sizeof(m->reply_to), why);
		break;
	case MSG_T_CORRELATION:
		rc = tlv_str(t, m->correlation, sizeof(m->correlation), why);
		break;
	case MSG_T_PRIORITY:
		rc = tlv_size(t, 1, why);
		if (rc == 0)
			m->priority = t->v[0];
		break;
	case MSG_T_FLAGS:
		rc = tlv_size(t, 4, why);
		if (rc == 0)
			m->flags = ferry_get_be32(t->v);
		break;
	case MSG_T_CREATED_MS:
		rc = tlv_size(t, 8, why);
		if (rc == 0)
			m->created_ms = (int64_t)ferry_get_be64(t->v);
		break;
	case MSG_T_TTL_MS:
		rc = tlv_size(t, 8, why);
		if (rc == 0)
			out->ttl_ms = ferry_get_be64(t->v);
		break;
	case MSG_T_PAYLOAD_LEN:
		rc = tlv_size(t, 8, why);
		if (rc == 0)
			m->payload_len = ferry_get_be64(t->v);
		break;
	case MSG_T_OFFSET:
		rc = tlv_size(t, 8, why);
		if (rc == 0)
			out->offset = ferry_get_be64(t->v);
		break;
	case MSG_T_PATH:
		rc = tlv_str(t, out->path, sizeof(out->path), why);
		break;
	case MSG_T_HOP_LIMIT:
		rc = tlv_size(t, 1, why);
		if (rc == 0 && t->v[0] == 0)
			rc = fail(why, "MSG hop limit 0");
		if (rc == 0)
			out->hop_limit = t->v[0];
		break;
	case MSG_T_ORIGIN_SIG:
		rc = tlv_size(t, HOP_SIG_LEN, why);
		if (rc == 0) {
			memcpy(out->origin_sig, t->v, HOP_SIG_LEN);
			out->has_sig = 1;
		}
		break;
	case MSG_T_GROUP:
		rc = tlv_str(t, out->group, sizeof(out->group), why);
		break;
	case MSG_T_GROUP_ID:
		rc = tlv_size(t, FERRY_ID_LEN, why);
		if (rc == 0)
			memcpy(out->group_id, t->v, FERRY_ID_LEN);
		break;
	case MSG_T_MEMBERS:
		rc = tlv_str(t, out->members, sizeof(out->members), why);
		break;
	case MSG_T_BODY:
		out->has_body = 1;
		out->body = t->v;
		out->body_len = t->len;
		break;
	}
	return rc;
}

int
hop_msg_decode(const struct hop_frame *f, struct hop_msg *out, const char **why)
{
	const uint8_t *p = f->body, *end = f->body + f->len;
	const char *bad;
	uint32_t seen = 0;
	struct tlv t;
	int rc;

	if (want_type(f, HOP_MSG) != 0)
		return FERRY_EINVAL;
	memset(out, 0, sizeof(*out));
	while ((rc = tlv_next(&p, end, &t, why)) == 1) {
		rc = tlv_seen(&seen, t.tag, MSG_T_MAX_, why);
		if (rc < 0)
			return rc;
		if (rc == 1 && (rc = msg_field(&t, out, why)) != 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	if ((seen & MSG_REQUIRED) != MSG_REQUIRED)
		return fail(why, "MSG lacks a required field");
	if (((seen >> MSG_T_GROUP) & 1u) != ((seen >> MSG_T_GROUP_ID) & 1u))
		return fail(why, "MSG group without its id, or an id alone");
	if ((bad = msg_check(out)) != NULL)
		return fail(why, bad);
	return 0;
}

int
hop_close_decode(const struct hop_frame *f, struct hop_close *out,
		 const char **why)
{
	const uint8_t *p = f->body, *end = f->body + f->len;
	uint32_t seen = 0;
	struct tlv t;
	int rc;

	if (want_type(f, HOP_CLOSE) != 0)
		return FERRY_EINVAL;
	memset(out, 0, sizeof(*out));
	while ((rc = tlv_next(&p, end, &t, why)) == 1) {
		rc = tlv_seen(&seen, t.tag, CLOSE_T_MAX_, why);
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		if (t.tag == CLOSE_T_CODE) {
			if ((rc = tlv_size(&t, 2, why)) != 0)
				return rc;
			out->code = ferry_get_be16(t.v);
		} else {
			if ((rc = tlv_str(&t, out->text, sizeof(out->text),
					  why)) != 0)
				return rc;
			if (!text_ok(t.v, t.len))
				return fail(why, "CLOSE text not printable");
		}
	}
	if (rc < 0)
		return rc;
	if (((seen >> CLOSE_T_CODE) & 1u) == 0)
		return fail(why, "CLOSE lacks its code");
	return 0;
}

/* ---- fixed layouts ---- */

int
hop_refuse_decode(const struct hop_frame *f, struct hop_refuse *out,
		  const char **why)
{
	if (want_type(f, HOP_REFUSE) != 0)
		return FERRY_EINVAL;
	if (f->len != HOP_REFUSE_LEN)
		return fail(why, "REFUSE of wrong size");
	memcpy(out->id, f->body, FERRY_ID_LEN);
	out->reason = f->body[FERRY_ID_LEN];
	out->offset = ferry_get_be64(f->body + FERRY_ID_LEN + 1);
	if (out->reason == 0 || out->reason >= HOP_REFUSE_MAX_)
		return fail(why, "REFUSE reason unknown");
	if (out->reason != HOP_REFUSE_PARTIAL && out->offset != 0)
		return fail(why, "REFUSE offset without PARTIAL");
	return 0;
}

int
hop_chunk_decode(const struct hop_frame *f, struct hop_chunk *out,
		 const char **why)
{
	if (want_type(f, HOP_CHUNK) != 0)
		return FERRY_EINVAL;
	if (f->len <= HOP_CHUNK_HDR)
		return fail(why, "CHUNK without bytes");
	memcpy(out->id, f->body, FERRY_ID_LEN);
	out->offset = ferry_get_be64(f->body + FERRY_ID_LEN);
	out->data = f->body + HOP_CHUNK_HDR;
	out->len = f->len - HOP_CHUNK_HDR;
	if (out->len > UINT64_MAX - out->offset)
		return fail(why, "CHUNK offset + length wraps");
	return 0;
}

int
hop_chunkz_decode(const struct hop_frame *f, struct hop_chunkz *out,
		  const char **why)
{
	if (want_type(f, HOP_CHUNKZ) != 0)
		return FERRY_EINVAL;
	if (f->len <= HOP_CHUNKZ_HDR)
		return fail(why, "CHUNKZ without bytes");
	memcpy(out->id, f->body, FERRY_ID_LEN);
	out->offset = ferry_get_be64(f->body + FERRY_ID_LEN);
	out->orig_len = ferry_get_be32(f->body + FERRY_ID_LEN + 8);
	out->data = f->body + HOP_CHUNKZ_HDR;
	out->len = f->len - HOP_CHUNKZ_HDR;
	if (out->orig_len == 0 || out->orig_len > HOP_ZORIG_MAX)
		return fail(why, "CHUNKZ original length out of range");
	if (out->orig_len > UINT64_MAX - out->offset)
		return fail(why, "CHUNKZ offset + length wraps");
	return 0;
}

int
hop_end_decode(const struct hop_frame *f, struct hop_end *out, const char **why)
{
	if (want_type(f, HOP_END) != 0)
		return FERRY_EINVAL;
	if (f->len != HOP_END_LEN)
		return fail(why, "END of wrong size");
	memcpy(out->id, f->body, FERRY_ID_LEN);
	out->total_len = ferry_get_be64(f->body + FERRY_ID_LEN);
	memcpy(out->hash, f->body + FERRY_ID_LEN + 8, HOP_HASH_LEN);
	return 0;
}

int
hop_custody_decode(const struct hop_frame *f, struct hop_custody *out,
		   const char **why)
{
	size_t count;

	if (want_type(f, HOP_CUSTODY) != 0)
		return FERRY_EINVAL;
	if (f->len < HOP_CUSTODY_HDR)
		return fail(why, "CUSTODY without a count");
	count = ferry_get_be16(f->body);
	if (count == 0)
		return fail(why, "CUSTODY of no ids");
	if (count > HOP_CUSTODY_MAX)
		return fail(why, "CUSTODY count above the record's room");
	if (f->len - HOP_CUSTODY_HDR != count * FERRY_ID_LEN)
		return fail(why, "CUSTODY count disagrees with its length");
	out->ids = f->body + HOP_CUSTODY_HDR;
	out->count = count;
	return 0;
}

int
hop_resume_decode(const struct hop_frame *f, struct hop_resume *out,
		  const char **why)
{
	if (want_type(f, HOP_RESUME) != 0)
		return FERRY_EINVAL;
	if (f->len != HOP_RESUME_LEN)
		return fail(why, "RESUME of wrong size");
	memcpy(out->id, f->body, FERRY_ID_LEN);
	out->offset = ferry_get_be64(f->body + FERRY_ID_LEN);
	return 0;
}

int
hop_keepalive_decode(const struct hop_frame *f, struct hop_keepalive *out,
		     const char **why)
{
	if (want_type(f, HOP_KEEPALIVE) != 0)
		return FERRY_EINVAL;
	if (f->len != 0 && f->len != 8)
		return fail(why, "KEEPALIVE of wrong size");
	out->has_time = f->len == 8;
	out->time_ms = out->has_time ? (int64_t)ferry_get_be64(f->body) : 0;
	return 0;
}

int
hop_rekey_decode(const struct hop_frame *f, const char **why)
{
	if (want_type(f, HOP_REKEY) != 0)
		return FERRY_EINVAL;
	if (f->len != 0)
		return fail(why, "REKEY with a body");
	return 0;
}

/* ---- building ---- */

void
hop_rbuf_init(struct hop_rbuf *b, uint8_t *buf, size_t cap)
{
	b->p = buf;
	b->len = 0;
	b->cap = cap > HOP_PLAIN_MAX ? HOP_PLAIN_MAX : cap;
	b->err = 0;
}

size_t
hop_rbuf_room(const struct hop_rbuf *b)
{
	return b->err != 0 ? 0 : b->cap - b->len;
}

int
hop_rbuf_end(const struct hop_rbuf *b, size_t *len)
{
	if (b->err != 0)
		return b->err;
	*len = b->len;
	return 0;
}

static void
set_err(struct hop_rbuf *b, int err)
{
	if (b->err == 0)
		b->err = err;
}

/* Reserve a whole frame of body_len bytes and write its header; NULL (and
 * a sticky error) when it does not fit. */
static uint8_t *
frame(struct hop_rbuf *b, uint8_t type, size_t body_len)
{
	uint8_t *p;

	if (b->err != 0)
		return NULL;
	if (body_len > b->cap - b->len ||
	    HOP_FRAME_HDR > b->cap - b->len - body_len) {
		set_err(b, FERRY_ETOOBIG);
		return NULL;
	}
	p = b->p + b->len;
	p[0] = type;
	ferry_put_be24(p + 1, (uint32_t)body_len);
	b->len += HOP_FRAME_HDR + body_len;
	return p + HOP_FRAME_HDR;
}

static uint8_t *
tlv_put(uint8_t *p, uint8_t tag, const void *v, size_t len)
{
	p[0] = tag;
	ferry_put_be16(p + 1, (uint16_t)len);
	if (len != 0)
		memcpy(p + TLV_HDR, v, len);
	return p + TLV_HDR + len;
}

static uint8_t *
tlv_u8(uint8_t *p, uint8_t tag, uint8_t v)
{
	return tlv_put(p, tag, &v, 1);
}

static uint8_t *
tlv_u16(uint8_t *p, uint8_t tag, uint16_t v)
{
	uint8_t be[2];

	ferry_put_be16(be, v);
	return tlv_put(p, tag, be, 2);
}

static uint8_t *
tlv_u32(uint8_t *p, uint8_t tag, uint32_t v)
{
	uint8_t be[4];

	ferry_put_be32(be, v);
	return tlv_put(p, tag, be, 4);
}

static uint8_t *
tlv_u64(uint8_t *p, uint8_t tag, uint64_t v)
{
	uint8_t be[8];

	ferry_put_be64(be, v);
	return tlv_put(p, tag, be, 8);
}

static uint8_t *
tlv_str_put(uint8_t *p, uint8_t tag, const char *s)
{
	return tlv_put(p, tag, s, strlen(s));
}

static size_t
hello_body_len(const struct hop_hello *h)
{
	return 5 * TLV_HDR + 1 + strlen(h->node) + 2 + 4 + 8 +
	       (h->features != 0 ? TLV_HDR + 4 : 0);
}

void
hop_put_hello(struct hop_rbuf *b, const struct hop_hello *h)
{
	uint8_t *p;

	if (b->err == 0 && hello_check(h) != NULL) {
		set_err(b, FERRY_EINVAL);
		return;
	}
	if ((p = frame(b, HOP_HELLO, hello_body_len(h))) == NULL)
		return;
	p = tlv_u8(p, HELLO_T_VERSION, h->version);
	p = tlv_str_put(p, HELLO_T_NODE, h->node);
	p = tlv_u16(p, HELLO_T_MAX_RECORD, h->max_record);
	p = tlv_u32(p, HELLO_T_KEEPALIVE_MS, h->keepalive_ms);
	p = tlv_u64(p, HELLO_T_CLOCK_MS, (uint64_t)h->clock_ms);
	if (h->features != 0)
		(void)tlv_u32(p, HELLO_T_FEATURES, h->features);
}

static size_t
msg_body_len(const struct hop_msg *hm)
{
	const struct ferry_msg *m = &hm->msg;
	size_t n = 10 * TLV_HDR + FERRY_ID_LEN + strlen(m->src_node) +
		   strlen(m->dst_node) + strlen(m->dst_queue) + 1 + 4 + 4 * 8;

	if (m->reply_to[0] != '\0')
		n += TLV_HDR + strlen(m->reply_to);
	if (m->correlation[0] != '\0')
		n += TLV_HDR + strlen(m->correlation);
	if (hm->path[0] != '\0')
		n += TLV_HDR + strlen(hm->path);
	if (hm->hop_limit != 0)
		n += TLV_HDR + 1;
	if (hm->has_sig)
		n += TLV_HDR + HOP_SIG_LEN;
	if (hm->group[0] != '\0')
		n += 2 * TLV_HDR + strlen(hm->group) + FERRY_ID_LEN;
	if (hm->members[0] != '\0')
		n += TLV_HDR + strlen(hm->members);
	if (hm->has_body)
		n += TLV_HDR + hm->body_len;
	return n;
}

size_t
hop_msg_frame_len(const struct hop_msg *m)
{
	return HOP_FRAME_HDR + msg_body_len(m);
}

void
hop_put_msg(struct hop_rbuf *b, const struct hop_msg *hm)
{
	const struct ferry_msg *m = &hm->msg;
	uint8_t *p;

	if (b->err == 0 && msg_check(hm) != NULL) {
		set_err(b, FERRY_EINVAL);
		return;
	}
	if ((p = frame(b, HOP_MSG, msg_body_len(hm))) == NULL)
		return;
	p = tlv_put(p, MSG_T_ID, m->id, FERRY_ID_LEN);
	p = tlv_str_put(p, MSG_T_SRC_NODE, m->src_node);
	p = tlv_str_put(p, MSG_T_DST_NODE, m->dst_node);
	p = tlv_str_put(p, MSG_T_DST_QUEUE, m->dst_queue);
	if (m->reply_to[0] != '\0')
		p = tlv_str_put(p, MSG_T_REPLY_TO, m->reply_to);
	if (m->correlation[0] != '\0')
		p = tlv_str_put(p, MSG_T_CORRELATION, m->correlation);
	p = tlv_u8(p, MSG_T_PRIORITY, m->priority);
	p = tlv_u32(p, MSG_T_FLAGS, m->flags);
	p = tlv_u64(p, MSG_T_CREATED_MS, (uint64_t)m->created_ms);
	p = tlv_u64(p, MSG_T_TTL_MS, hm->ttl_ms);
	p = tlv_u64(p, MSG_T_PAYLOAD_LEN, m->payload_len);
	p = tlv_u64(p, MSG_T_OFFSET, hm->offset);
	if (hm->path[0] != '\0')
		p = tlv_str_put(p, MSG_T_PATH, hm->path);
	if (hm->hop_limit != 0)
		p = tlv_u8(p, MSG_T_HOP_LIMIT, hm->hop_limit);
	if (hm->has_sig)
		p = tlv_put(p, MSG_T_ORIGIN_SIG, hm->origin_sig, HOP_SIG_LEN);
	if (hm->group[0] != '\0') {
		p = tlv_str_put(p, MSG_T_GROUP, hm->group);
		p = tlv_put(p, MSG_T_GROUP_ID, hm->group_id, FERRY_ID_LEN);
	}
	if (hm->members[0] != '\0')
		p = tlv_str_put(p, MSG_T_MEMBERS, hm->members);
	if (hm->has_body)
		(void)tlv_put(p, MSG_T_BODY, hm->body, hm->body_len);
}

void
hop_put_refuse(struct hop_rbuf *b, const struct hop_refuse *r)
{
	uint8_t *p;

	if (b->err == 0 &&
	    (r->reason == 0 || r->reason >= HOP_REFUSE_MAX_ ||
	     (r->reason != HOP_REFUSE_PARTIAL && r->offset != 0))) {
		set_err(b, FERRY_EINVAL);
		return;
	}
	if ((p = frame(b, HOP_REFUSE, HOP_REFUSE_LEN)) == NULL)
		return;
	memcpy(p, r->id, FERRY_ID_LEN);
	p[FERRY_ID_LEN] = r->reason;
	ferry_put_be64(p + FERRY_ID_LEN + 1, r->offset);
}

size_t
hop_put_chunk(struct hop_rbuf *b, const uint8_t id[FERRY_ID_LEN],
	      uint64_t offset, const void *data, size_t len)
{
	size_t room, n;
	uint8_t *p;

	if (b->err != 0 || len == 0)
		return 0;
	room = b->cap - b->len;
	if (room <= HOP_FRAME_HDR + HOP_CHUNK_HDR)
		return 0;
	n = room - HOP_FRAME_HDR - HOP_CHUNK_HDR;
	if (n > len)
		n = len;
	if (n > UINT64_MAX - offset) {
		set_err(b, FERRY_EINVAL);
		return 0;
	}
	p = frame(b, HOP_CHUNK, HOP_CHUNK_HDR + n);
	memcpy(p, id, FERRY_ID_LEN);
	ferry_put_be64(p + FERRY_ID_LEN, offset);
	memcpy(p + HOP_CHUNK_HDR, data, n);
	return n;
}

void
hop_put_end(struct hop_rbuf *b, const struct hop_end *e)
{
	uint8_t *p = frame(b, HOP_END, HOP_END_LEN);

	if (p == NULL)
		return;
	memcpy(p, e->id, FERRY_ID_LEN);
	ferry_put_be64(p + FERRY_ID_LEN, e->total_len);
	memcpy(p + FERRY_ID_LEN + 8, e->hash, HOP_HASH_LEN);
}

size_t
hop_put_custody(struct hop_rbuf *b, const uint8_t *ids, size_t n)
{
	size_t room, fit;
	uint8_t *p;

	if (b->err != 0 || n == 0)
		return 0;
	room = b->cap - b->len;
	if (room < HOP_FRAME_HDR + HOP_CUSTODY_HDR + FERRY_ID_LEN)
		return 0;
	fit = (room - HOP_FRAME_HDR - HOP_CUSTODY_HDR) / FERRY_ID_LEN;
	if (fit > n)
		fit = n;
	if (fit > HOP_CUSTODY_MAX)
		fit = HOP_CUSTODY_MAX;
	p = frame(b, HOP_CUSTODY, HOP_CUSTODY_HDR + fit * FERRY_ID_LEN);
	ferry_put_be16(p, (uint16_t)fit);
	memcpy(p + HOP_CUSTODY_HDR, ids, fit * FERRY_ID_LEN);
	return fit;
}

void
hop_put_resume(struct hop_rbuf *b, const struct hop_resume *r)
{
	uint8_t *p = frame(b, HOP_RESUME, HOP_RESUME_LEN);

	if (p == NULL)
		return;
	memcpy(p, r->id, FERRY_ID_LEN);
	ferry_put_be64(p + FERRY_ID_LEN, r->offset);
}

void
hop_put_keepalive(struct hop_rbuf *b, const struct hop_keepalive *k)
{
	int timed = k != NULL && k->has_time;
	uint8_t *p = frame(b, HOP_KEEPALIVE, timed ? 8 : 0);

	if (p != NULL && timed)
		ferry_put_be64(p, (uint64_t)k->time_ms);
}

void
hop_put_rekey(struct hop_rbuf *b)
{
	(void)frame(b, HOP_REKEY, 0);
}

void
hop_put_close(struct hop_rbuf *b, uint16_t code, const char *text)
{
	size_t n = text != NULL ? strlen(text) : 0;
	uint8_t *p;

	if (b->err == 0 &&
	    (n > HOP_CLOSE_TEXT_MAX || !text_ok((const uint8_t *)text, n))) {
		set_err(b, FERRY_EINVAL);
		return;
	}
	p = frame(b, HOP_CLOSE, TLV_HDR + 2 + (n != 0 ? TLV_HDR + n : 0));
	if (p == NULL)
		return;
	p = tlv_u16(p, CLOSE_T_CODE, code);
	if (n != 0)
		(void)tlv_put(p, CLOSE_T_TEXT, text, n);
}

const char *
hop_type_name(uint8_t type)
{
	switch (type) {
	case HOP_HELLO:
		return "HELLO";
	case HOP_MSG:
		return "MSG";
	case HOP_REFUSE:
		return "REFUSE";
	case HOP_CHUNK:
		return "CHUNK";
	case HOP_END:
		return "END";
	case HOP_CUSTODY:
		return "CUSTODY";
	case HOP_RESUME:
		return "RESUME";
	case HOP_KEEPALIVE:
		return "KEEPALIVE";
	case HOP_REKEY:
		return "REKEY";
	case HOP_CLOSE:
		return "CLOSE";
	case HOP_CHUNKZ:
		return "CHUNKZ";
	}
	return "unknown";
}

/* ---- origin signatures ---- */

static uint8_t *
origin_str(uint8_t *p, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap - 1);

	*p++ = (uint8_t)n;
	memcpy(p, s, n);
	return p + n;
}

size_t
hop_origin_bytes(const struct ferry_msg *m, const uint8_t hash[HOP_HASH_LEN],
		 uint8_t *out, size_t cap)
{
	uint8_t *p = out;

	if (cap < HOP_ORIGIN_MAX)
		return 0;
	memcpy(p, m->id, FERRY_ID_LEN);
	p += FERRY_ID_LEN;
	p = origin_str(p, m->src_node, sizeof(m->src_node));
	p = origin_str(p, m->dst_node, sizeof(m->dst_node));
	p = origin_str(p, m->dst_queue, sizeof(m->dst_queue));
	p = origin_str(p, m->reply_to, sizeof(m->reply_to));
	p = origin_str(p, m->correlation, sizeof(m->correlation));
	*p++ = m->priority;
	ferry_put_be32(p, m->flags);
	p += 4;
	ferry_put_be64(p, (uint64_t)m->created_ms);
	p += 8;
	ferry_put_be64(p, m->payload_len);
	p += 8;
	memcpy(p, hash, HOP_HASH_LEN);
	p += HOP_HASH_LEN;
	return (size_t)(p - out);
}
