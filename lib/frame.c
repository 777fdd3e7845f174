/*
 * frame.c - encoder and decoder of local API frames (docs/protocol.md).
 *
 * The decoder is the first code to see bytes from a local client: every
 * length is checked against what is left before it is used, nothing is
 * allocated, and any violation is FERRY_EPROTO with a reason.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "be.h"
#include "frame.h"

int
ferry_frame_size(const uint8_t *p, size_t avail, size_t *total)
{
	uint32_t len;

	if (avail < 4)
		return FERRY_EAGAIN;
	len = ferry_get_be32(p);
	if (len < FERRY_FRAME_HDR - 4 || len > FERRY_FRAME_MAX)
		return FERRY_EPROTO;
	*total = (size_t)len + 4;
	return 0;
}

int
ferry_frame_decode(const uint8_t *p, size_t len, struct ferry_frame *f)
{
	size_t total;

	if (ferry_frame_size(p, len, &total) != 0 || total != len)
		return FERRY_EPROTO;
	f->type = p[4];
	f->flags = p[5];
	if ((f->flags & ~FERRY_FL_ALL) != 0 || p[6] != 0 || p[7] != 0)
		return FERRY_EPROTO;
	f->reqid = ferry_get_be32(p + 8);
	f->body = p + FERRY_FRAME_HDR;
	f->body_len = len - FERRY_FRAME_HDR;
	return 0;
}

/* K_NONE: a tag below FERRY_T_MAX_ that no field uses yet (skipped). */
enum kind { K_NONE, K_STR, K_U8, K_U32, K_U64, K_ID, K_BYTES };

struct tagdef {
	enum kind kind;
	size_t off; /* into struct ferry_fields */
	size_t max; /* strings: buffer size (NUL included) */
};

#define STR(field)                                                             \
	{                                                                      \
		K_STR, offsetof(struct ferry_fields, field),                   \
		    sizeof(((struct ferry_fields *)0)->field)                  \
	}
#define NUM(k, field)                                                          \
	{                                                                      \
		k, offsetof(struct ferry_fields, field), 0                     \
	}

static const struct tagdef tags[FERRY_T_MAX_] = {
    [FERRY_T_DST_NODE] = STR(dst_node),
    [FERRY_T_DST_QUEUE] = STR(dst_queue),
    [FERRY_T_PRIORITY] = NUM(K_U8, priority),
    [FERRY_T_TTL_MS] = NUM(K_U64, ttl_ms),
    [FERRY_T_FLAGS] = NUM(K_U32, flags),
    [FERRY_T_REPLY_TO] = STR(reply_to),
    [FERRY_T_CORRELATION] = STR(correlation),
    [FERRY_T_PAYLOAD_LEN] = NUM(K_U64, payload_len),
    [FERRY_T_PAYLOAD] = {K_BYTES, 0, 0},
    [FERRY_T_ID] = {K_ID, offsetof(struct ferry_fields, id), 0},
    [FERRY_T_QUEUE] = STR(queue),
    [FERRY_T_LEASE_MS] = NUM(K_U64, lease_ms),
    [FERRY_T_WAIT_MS] = NUM(K_U64, wait_ms),
    [FERRY_T_TOKEN] = NUM(K_U64, token),
    [FERRY_T_LIMIT] = NUM(K_U32, limit),
    [FERRY_T_CODE] = NUM(K_U32, code),
    [FERRY_T_TEXT] = STR(text),
    [FERRY_T_SRC_NODE] = STR(src_node),
    [FERRY_T_CREATED_MS] = NUM(K_U64, created_ms),
    [FERRY_T_EXPIRES_MS] = NUM(K_U64, expires_ms),
    [FERRY_T_STATE] = NUM(K_U8, state),
    [FERRY_T_DEAD_REASON] = NUM(K_U8, dead_reason),
    [FERRY_T_DELIVERIES] = NUM(K_U32, deliveries),
    [FERRY_T_COUNT] = NUM(K_U64, count),
    [FERRY_T_BYTES] = NUM(K_U64, bytes),
    [FERRY_T_MAX_BYTES] = NUM(K_U64, max_bytes),
    [FERRY_T_MAX_MSGS] = NUM(K_U64, max_msgs),
    [FERRY_T_LEASED] = NUM(K_U64, leased),
    [FERRY_T_VERSION] = NUM(K_U32, version),
    [FERRY_T_NODE] = STR(node),
    [FERRY_T_CARD] = STR(card),
    [FERRY_T_FINGERPRINT] = STR(fingerprint),
    [FERRY_T_CREDIT] = NUM(K_U32, credit),
    [FERRY_T_AT_MS] = NUM(K_U64, at_ms),
    [FERRY_T_PEER] = STR(peer),
    [FERRY_T_STATUS] = NUM(K_U8, status),
    [FERRY_T_HOP_SINCE_MS] = NUM(K_U64, hop_since_ms),
    [FERRY_T_STORED_MS] = NUM(K_U64, stored_ms),
    [FERRY_T_DEAD_MS] = NUM(K_U64, dead_ms),
    [FERRY_T_PEEK] = NUM(K_U8, peek),
    [FERRY_T_OUT_COUNT] = NUM(K_U64, out_count),
    [FERRY_T_OUT_BYTES] = NUM(K_U64, out_bytes),
    [FERRY_T_LEASE_UNTIL_MS] = NUM(K_U64, lease_until_ms),
    [FERRY_T_OFFSET] = NUM(K_U64, offset),
    [FERRY_T_CONNECTED] = NUM(K_U8, connected),
    [FERRY_T_ADDR] = STR(addr),
    [FERRY_T_LAST_SEEN_MS] = NUM(K_U64, last_seen_ms),
    [FERRY_T_NEXT_RETRY_MS] = NUM(K_U64, next_retry_ms),
    [FERRY_T_BYTES_IN] = NUM(K_U64, bytes_in),
    [FERRY_T_BYTES_OUT] = NUM(K_U64, bytes_out),
    [FERRY_T_MSGS_IN] = NUM(K_U64, msgs_in),
    [FERRY_T_MSGS_OUT] = NUM(K_U64, msgs_out),
    [FERRY_T_RECEIPTS] = STR(receipts),
    [FERRY_T_DIR] = STR(dir),
    [FERRY_T_PEERS] = STR(peers),
    [FERRY_T_SUMMARY] = STR(summary),
    [FERRY_T_SEGMENT] = NUM(K_U64, segment),
    [FERRY_T_TOTAL] = NUM(K_U64, total),
    [FERRY_T_SKEW_MS] = NUM(K_U64, skew_ms),
    [FERRY_T_MEDIUM] = STR(medium),
    [FERRY_T_MEDIUM_MS] = NUM(K_U64, medium_ms),
    [FERRY_T_WHY] = STR(why),
    [FERRY_T_ORIGIN] = NUM(K_U8, origin),
    [FERRY_T_PATH] = STR(path),
    [FERRY_T_BUNDLES] = NUM(K_U64, bundles),
    [FERRY_T_REJECTED] = NUM(K_U64, rejected),
    [FERRY_T_RECEIVING] = NUM(K_U8, receiving),
    [FERRY_T_HOLD] = NUM(K_U8, hold),
    [FERRY_T_VIA] = STR(via),
};

static int
fail(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return FERRY_EPROTO;
}

int
ferry_fields_parse(const struct ferry_frame *f, struct ferry_fields *out,
		   const char **why)
{
	const uint8_t *p = f->body, *end = f->body + f->body_len;

	memset(out, 0, sizeof(*out));
	if (f->type == FERRY_F_DATA)
		return fail(why, "DATA frames carry no fields");
	while (p < end) {
		uint8_t tag;
		uint32_t len;
		const struct tagdef *d;
		uint8_t *dst;

		if ((size_t)(end - p) < 5)
			return fail(why, "truncated field header");
		tag = p[0];
		len = ferry_get_be32(p + 1);
		p += 5;
		if (len > (size_t)(end - p))
			return fail(why, "field longer than the frame");
		if (tag == 0 || tag >= FERRY_T_MAX_ ||
		    tags[tag].kind == K_NONE) {
			p += len; /* a newer client's field: skip it */
			continue;
		}
		if (FERRY_HAS(out, tag))
			return fail(why, "duplicate field");
		out->has[tag / 64] |= (uint64_t)1 << (tag % 64);
		d = &tags[tag];
		dst = (uint8_t *)out + d->off;
		switch (d->kind) {
		case K_STR:
			if (len >= d->max)
				return fail(why, "string field too long");
			if (memchr(p, '\0', len) != NULL)
				return fail(why, "NUL inside a string field");
			memcpy(dst, p, len);
			dst[len] = '\0';
			break;
		case K_U8:
			if (len != 1)
				return fail(why, "u8 field of wrong size");
			*dst = p[0];
			break;
		case K_U32: {
			uint32_t v;
			if (len != 4)
				return fail(why, "u32 field of wrong size");
			v = ferry_get_be32(p);
			memcpy(dst, &v, 4);
			break;
		}
		case K_U64: {
			uint64_t v;
			if (len != 8)
				return fail(why, "u64 field of wrong size");
			v = ferry_get_be64(p);
			memcpy(dst, &v, 8);
			break;
		}
		case K_ID:
			if (len != FERRY_ID_LEN)
				return fail(why, "id field of wrong size");
			memcpy(dst, p, FERRY_ID_LEN);
			break;
		case K_BYTES:
			out->payload = p;
			out->payload_len_inline = len;
			break;
		case K_NONE: /* skipped above */
			break;
		}
		p += len;
	}
	return 0;
}

void
ferry_fbuf_begin(struct ferry_fbuf *b, uint8_t *buf, size_t cap, uint8_t type,
		 uint8_t flags, uint32_t reqid)
{
	b->p = buf;
	b->cap = cap;
	b->len = FERRY_FRAME_HDR;
	b->over = cap < FERRY_FRAME_HDR;
	if (b->over)
		return;
	memset(buf, 0, FERRY_FRAME_HDR);
	buf[4] = type;
	buf[5] = flags;
	ferry_put_be32(buf + 8, reqid);
}

static uint8_t *
room(struct ferry_fbuf *b, size_t n)
{
	uint8_t *p;

	if (b->over || n > b->cap - b->len) {
		b->over = 1;
		return NULL;
	}
	p = b->p + b->len;
	b->len += n;
	return p;
}

static uint8_t *
field(struct ferry_fbuf *b, uint8_t tag, size_t len)
{
	uint8_t *p;

	if (len > UINT32_MAX) {
		b->over = 1;
		return NULL;
	}
	p = room(b, 5 + len);
	if (p == NULL)
		return NULL;
	p[0] = tag;
	ferry_put_be32(p + 1, (uint32_t)len);
	return p + 5;
}

void
ferry_fbuf_str(struct ferry_fbuf *b, uint8_t tag, const char *s)
{
	size_t n = strlen(s);
	uint8_t *p;

	if (tag >= FERRY_T_MAX_ || tags[tag].kind != K_STR ||
	    n >= tags[tag].max) {
		b->over = 1;
		return;
	}
	p = field(b, tag, n);
	if (p != NULL)
		memcpy(p, s, n);
}

void
ferry_fbuf_bytes(struct ferry_fbuf *b, uint8_t tag, const void *v, size_t len)
{
	uint8_t *p = field(b, tag, len);

	if (p != NULL && len != 0)
		memcpy(p, v, len);
}

void
ferry_fbuf_u8(struct ferry_fbuf *b, uint8_t tag, uint8_t v)
{
	uint8_t *p = field(b, tag, 1);

	if (p != NULL)
		p[0] = v;
}

void
ferry_fbuf_u32(struct ferry_fbuf *b, uint8_t tag, uint32_t v)
{
	uint8_t *p = field(b, tag, 4);

	if (p != NULL)
		ferry_put_be32(p, v);
}

void
ferry_fbuf_u64(struct ferry_fbuf *b, uint8_t tag, uint64_t v)
{
	uint8_t *p = field(b, tag, 8);

	if (p != NULL)
		ferry_put_be64(p, v);
}

void
ferry_fbuf_raw(struct ferry_fbuf *b, const void *v, size_t len)
{
	uint8_t *p = room(b, len);

	if (p != NULL && len != 0)
		memcpy(p, v, len);
}

int
ferry_fbuf_end(struct ferry_fbuf *b, size_t *len)
{
	if (b->over || b->len - 4 > FERRY_FRAME_MAX)
		return FERRY_ETOOBIG;
	ferry_put_be32(b->p, (uint32_t)(b->len - 4));
	*len = b->len;
	return 0;
}

void
ferry_fbuf_msg(struct ferry_fbuf *b, const struct ferry_msg *m)
{
	ferry_fbuf_bytes(b, FERRY_T_ID, m->id, FERRY_ID_LEN);
	ferry_fbuf_str(b, FERRY_T_SRC_NODE, m->src_node);
	ferry_fbuf_str(b, FERRY_T_DST_NODE, m->dst_node);
	ferry_fbuf_str(b, FERRY_T_DST_QUEUE, m->dst_queue);
	if (m->reply_to[0] != '\0')
		ferry_fbuf_str(b, FERRY_T_REPLY_TO, m->reply_to);
	if (m->correlation[0] != '\0')
		ferry_fbuf_str(b, FERRY_T_CORRELATION, m->correlation);
	ferry_fbuf_u8(b, FERRY_T_PRIORITY, m->priority);
	ferry_fbuf_u32(b, FERRY_T_FLAGS, m->flags);
	ferry_fbuf_u64(b, FERRY_T_CREATED_MS, (uint64_t)m->created_ms);
	ferry_fbuf_u64(b, FERRY_T_EXPIRES_MS, (uint64_t)m->expires_ms);
	ferry_fbuf_u64(b, FERRY_T_PAYLOAD_LEN, m->payload_len);
}

void
ferry_fields_to_msg(const struct ferry_fields *f, struct ferry_msg *m)
{
	ferry_msg_init(m);
	memcpy(m->id, f->id, FERRY_ID_LEN);
	memcpy(m->src_node, f->src_node, sizeof(m->src_node));
	memcpy(m->dst_node, f->dst_node, sizeof(m->dst_node));
	memcpy(m->dst_queue, f->dst_queue, sizeof(m->dst_queue));
	memcpy(m->reply_to, f->reply_to, sizeof(m->reply_to));
	memcpy(m->correlation, f->correlation, sizeof(m->correlation));
	if (FERRY_HAS(f, FERRY_T_PRIORITY))
		m->priority = f->priority;
	m->flags = f->flags;
	m->created_ms = f->created_ms;
	m->expires_ms = f->expires_ms;
	m->payload_len = f->payload_len;
}

const char *
ferry_frame_type_name(uint8_t type)
{
	switch (type) {
	case FERRY_F_HELLO:
		return "HELLO";
	case FERRY_F_SEND:
		return "SEND";
	case FERRY_F_DATA:
		return "DATA";
	case FERRY_F_RECV:
		return "RECV";
	case FERRY_F_ACK:
		return "ACK";
	case FERRY_F_NACK:
		return "NACK";
	case FERRY_F_BROWSE:
		return "BROWSE";
	case FERRY_F_QCREATE:
		return "QCREATE";
	case FERRY_F_QLIST:
		return "QLIST";
	case FERRY_F_QPURGE:
		return "QPURGE";
	case FERRY_F_QSTATS:
		return "QSTATS";
	case FERRY_F_STATUS:
		return "STATUS";
	case FERRY_F_INFO:
		return "INFO";
	case FERRY_F_SUBSCRIBE:
		return "SUBSCRIBE";
	case FERRY_F_CREDIT:
		return "CREDIT";
	case FERRY_F_UNSUBSCRIBE:
		return "UNSUBSCRIBE";
	case FERRY_F_FETCH:
		return "FETCH";
	case FERRY_F_EXPORT:
		return "EXPORT";
	case FERRY_F_IMPORT:
		return "IMPORT";
	case FERRY_F_PROGRESS:
		return "PROGRESS";
	case FERRY_F_SEND_FD:
		return "SEND_FD";
	case FERRY_F_PEERS:
		return "PEERS";
	case FERRY_F_PEER:
		return "PEER";
	case FERRY_F_PARTIALS:
		return "PARTIALS";
	case FERRY_F_PARTIAL:
		return "PARTIAL";
	case FERRY_F_METRICS:
		return "METRICS";
	case FERRY_F_METRICS_TEXT:
		return "METRICS_TEXT";
	case FERRY_F_HELLO_OK:
		return "HELLO_OK";
	case FERRY_F_OK:
		return "OK";
	case FERRY_F_ERROR:
		return "ERROR";
	case FERRY_F_MSG:
		return "MSG";
	case FERRY_F_QINFO:
		return "QINFO";
	case FERRY_F_END:
		return "END";
	case FERRY_F_STATUS_OK:
		return "STATUS_OK";
	case FERRY_F_INFO_OK:
		return "INFO_OK";
	}
	return "unknown";
}
