/*
 * frame.h - the local API's frame codec, shared by ferryd and libferry.
 *
 * Byte layout (docs/protocol.md, section 2):
 *
 *   u32be length     bytes after this field: 8 + body, at most
 *                    FERRY_FRAME_MAX
 *   u8    type       FERRY_F_*
 *   u8    flags      FERRY_FL_*; unknown bits are an error
 *   u16be reserved   0
 *   u32be request id chosen by the client, echoed by the server
 *   body             DATA: raw payload bytes; all others: fields
 *
 * A field is u8 tag, u32be length, value.  Fixed-size fields must have
 * their exact size, strings hold no NUL and respect their maximum, a tag
 * may appear once, unknown tags are skipped (newer peers may add some).
 * Every decoder here treats its input as hostile: it checks each length
 * against what is left and allocates nothing.
 */
#ifndef FERRY_FRAME_H
#define FERRY_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "ferry_err.h"
#include "ferry_msg.h"

#define FERRY_PROTO_VERSION 1
#define FERRY_FRAME_HDR	    12		    /* length field + 8 */
#define FERRY_FRAME_MAX	    (1024u * 1024u) /* length field's maximum */
#define FERRY_DATA_MAX	    (256u * 1024u)  /* payload bytes per DATA frame */
#define FERRY_INLINE_MAX    (64u * 1024u)   /* payload carried in SEND/MSG */

enum ferry_frame_type {
	/* client to agent */
	FERRY_F_HELLO = 1,
	FERRY_F_SEND = 2,
	FERRY_F_DATA = 3, /* both directions */
	FERRY_F_RECV = 4,
	FERRY_F_ACK = 5,
	FERRY_F_NACK = 6,
	FERRY_F_BROWSE = 7,
	FERRY_F_QCREATE = 8,
	FERRY_F_QLIST = 9,
	FERRY_F_QPURGE = 10,
	FERRY_F_QSTATS = 11,
	FERRY_F_STATUS = 12,
	FERRY_F_INFO = 13,
	FERRY_F_SUBSCRIBE = 14,
	FERRY_F_CREDIT = 15,
	FERRY_F_UNSUBSCRIBE = 16,
	FERRY_F_FETCH = 17,  /* the payload of a message by id, from offset */
	FERRY_F_PEERS = 18,  /* the TCP peers and their sessions */
	FERRY_F_EXPORT = 19, /* write bundles onto a medium (docs/formats.md) */
	FERRY_F_IMPORT = 20, /* read the bundles for this node from a medium */
	FERRY_F_PARTIALS = 21, /* payloads being streamed in, or left cut */
	FERRY_F_METRICS = 22,  /* the node's metrics, Prometheus text */
	/* agent to client */
	FERRY_F_HELLO_OK = 64,
	FERRY_F_OK = 65,
	FERRY_F_ERROR = 66,
	FERRY_F_MSG = 67,
	FERRY_F_QINFO = 68,
	FERRY_F_END = 69,
	FERRY_F_STATUS_OK = 70,
	FERRY_F_INFO_OK = 71,
	FERRY_F_PEER = 72,     /* one peer of a PEERS answer */
	FERRY_F_PROGRESS = 73, /* EXPORT/IMPORT under way: TEXT, BYTES, TOTAL */
	FERRY_F_SEND_FD = 74,  /* EXPORT/IMPORT: send the folder now (one byte
				  with SCM_RIGHTS) */
	FERRY_F_PARTIAL = 75,  /* one partial of a PARTIALS answer */
	FERRY_F_METRICS_TEXT = 76, /* a piece of a METRICS answer: PAYLOAD,
				      whole lines */
};

#define FERRY_FL_FIN   0x01u /* last frame of a payload stream */
#define FERRY_FL_ABORT 0x02u /* DATA: the sender gives the stream up */
#define FERRY_FL_ALL   (FERRY_FL_FIN | FERRY_FL_ABORT)

enum ferry_tag {
	FERRY_T_DST_NODE = 1,	 /* str */
	FERRY_T_DST_QUEUE = 2,	 /* str */
	FERRY_T_PRIORITY = 3,	 /* u8 */
	FERRY_T_TTL_MS = 4,	 /* u64 */
	FERRY_T_FLAGS = 5,	 /* u32 */
	FERRY_T_REPLY_TO = 6,	 /* str */
	FERRY_T_CORRELATION = 7, /* str */
	FERRY_T_PAYLOAD_LEN = 8, /* u64 */
	FERRY_T_PAYLOAD = 9,	 /* bytes */
	FERRY_T_ID = 10,	 /* 16 bytes */
	FERRY_T_QUEUE = 11,	 /* str */
	FERRY_T_LEASE_MS = 12,	 /* u64 */
	FERRY_T_WAIT_MS = 13,	 /* u64 */
	FERRY_T_TOKEN = 14,	 /* u64 */
	FERRY_T_LIMIT = 15,	 /* u32 */
	FERRY_T_CODE = 16, /* u32, a negative FERRY_E* as two's complement */
	FERRY_T_TEXT = 17, /* str */
	FERRY_T_SRC_NODE = 18,	     /* str */
	FERRY_T_CREATED_MS = 19,     /* u64 */
	FERRY_T_EXPIRES_MS = 20,     /* u64 */
	FERRY_T_STATE = 21,	     /* u8 */
	FERRY_T_DEAD_REASON = 22,    /* u8 */
	FERRY_T_DELIVERIES = 23,     /* u32 */
	FERRY_T_COUNT = 24,	     /* u64 */
	FERRY_T_BYTES = 25,	     /* u64 */
	FERRY_T_MAX_BYTES = 26,	     /* u64 */
	FERRY_T_MAX_MSGS = 27,	     /* u64 */
	FERRY_T_LEASED = 28,	     /* u64 */
	FERRY_T_VERSION = 29,	     /* u32 */
	FERRY_T_NODE = 30,	     /* str */
	FERRY_T_CARD = 31,	     /* str */
	FERRY_T_FINGERPRINT = 32,    /* str */
	FERRY_T_CREDIT = 33,	     /* u32 */
	FERRY_T_AT_MS = 34,	     /* u64 */
	FERRY_T_PEER = 35,	     /* str */
	FERRY_T_STATUS = 36,	     /* u8 */
	FERRY_T_HOP_SINCE_MS = 37,   /* u64 */
	FERRY_T_STORED_MS = 38,	     /* u64 */
	FERRY_T_DEAD_MS = 39,	     /* u64 */
	FERRY_T_PEEK = 40,	     /* u8 */
	FERRY_T_OUT_COUNT = 41,	     /* u64 */
	FERRY_T_OUT_BYTES = 42,	     /* u64 */
	FERRY_T_LEASE_UNTIL_MS = 43, /* u64 */
	FERRY_T_OFFSET = 44,	     /* u64 */
	FERRY_T_CONNECTED = 45,	     /* u8: 0 no, 1 dialed, 2 accepted */
	FERRY_T_ADDR = 46,	     /* str: the session's remote address */
	FERRY_T_LAST_SEEN_MS = 47,   /* u64 */
	FERRY_T_NEXT_RETRY_MS = 48,  /* u64 */
	FERRY_T_BYTES_IN = 49,	     /* u64 */
	FERRY_T_BYTES_OUT = 50,	     /* u64 */
	FERRY_T_MSGS_IN = 51,	     /* u64 */
	FERRY_T_MSGS_OUT = 52,	     /* u64 */
	FERRY_T_RECEIPTS = 53,	     /* str: "EVENT NODE AT_MS\n" lines */
	FERRY_T_DIR = 54,	     /* str: a medium's mount point */
	FERRY_T_PEERS = 55,	     /* str: peer names, comma-separated */
	FERRY_T_SUMMARY = 56,	     /* str: lines for the operator */
	FERRY_T_SEGMENT = 57,	     /* u64: bytes per bundle file */
	FERRY_T_TOTAL = 58,	     /* u64: of a PROGRESS */
	FERRY_T_SKEW_MS = 59,	     /* u64: clock-skew allowance */
	FERRY_T_MEDIUM = 60,	     /* str: "PEER MEDIUM" it was exported on */
	FERRY_T_MEDIUM_MS = 61,	     /* u64: when */
	FERRY_T_BUNDLES = 62,	     /* u64: bundle files written or read */
	FERRY_T_REJECTED = 63,	     /* u64: bundles refused */
	FERRY_T_RECEIVING = 64,	     /* u8: 1 a partial is being received */
	FERRY_T_HOLD = 65,	     /* u8: SEND: keep it for an unknown node */
	FERRY_T_VIA = 66,	     /* str: the transport of a live session */
	FERRY_T_WHY = 67,	     /* str: STATUS: why it waits (ferry why) */
	FERRY_T_ORIGIN = 68,	     /* u8: who vouches for its source
				      * (FERRY_ORIGIN_*, ferry.h) */
	FERRY_T_PATH = 69,	     /* str: nodes it came through */
	FERRY_T_MAX_ = 128 /* tags below this; has[] holds a bit each */
};

struct ferry_frame {
	uint8_t type;
	uint8_t flags;
	uint32_t reqid;
	const uint8_t *body;
	size_t body_len;
};

/*
 * Look at the start of a byte stream.  Returns 0 and sets *total (the
 * whole frame's size, header included) once avail >= 4; FERRY_EAGAIN
 * when fewer than 4 bytes are there; FERRY_EPROTO when the length is out
 * of range -- decided before anything is allocated for it.
 */
FERRY_MUST_CHECK int ferry_frame_size(const uint8_t *p, size_t avail,
				      size_t *total);

/* Decode one whole frame of exactly len bytes (as ferry_frame_size told).
 * Checks the header only; fields are checked by ferry_fields_parse. */
FERRY_MUST_CHECK int ferry_frame_decode(const uint8_t *p, size_t len,
					struct ferry_frame *f);

#define FERRY_HAS_WORDS ((FERRY_T_MAX_ + 63) / 64)

/* The fields of a frame, decoded and checked.  has is a bit per tag. */
struct ferry_fields {
	uint64_t has[FERRY_HAS_WORDS]; /* tag t: bit t % 64 of word t / 64 */
	char dst_node[FERRY_NODE_MAX + 1];
	char dst_queue[FERRY_QUEUE_MAX + 1];
	char reply_to[FERRY_QUEUE_MAX + 1];
	char correlation[FERRY_CORR_MAX + 1];
	char queue[FERRY_QUEUE_MAX + 1];
	char src_node[FERRY_NODE_MAX + 1];
	char node[FERRY_NODE_MAX + 1];
	char peer[FERRY_NODE_MAX + 1];
	char text[512];
	char card[160];
	char fingerprint[32];
	char addr[80];
	char via[16];
	char receipts[2048];
	char dir[1024];
	char peers[1024];
	char summary[8192];
	char medium[200];
	char why[512];
	char path[1024];
	uint8_t id[FERRY_ID_LEN];
	uint8_t priority, state, dead_reason, peek, status, connected,
	    receiving, hold, origin;
	uint32_t flags, limit, deliveries, version, credit;
	int32_t code;
	uint64_t ttl_ms, payload_len, lease_ms, wait_ms, token, count, bytes,
	    max_bytes, max_msgs, leased, out_count, out_bytes, offset, bytes_in,
	    bytes_out, msgs_in, msgs_out, segment, total, skew_ms, medium_ms,
	    bundles, rejected;
	int64_t created_ms, expires_ms, at_ms, hop_since_ms, stored_ms, dead_ms,
	    lease_until_ms, last_seen_ms, next_retry_ms;
	const uint8_t *payload; /* points into the frame */
	size_t payload_len_inline;
};

#define FERRY_HAS(fl, tag)                                                     \
	((unsigned)(tag) < FERRY_T_MAX_ &&                                     \
	 (((fl)->has[(unsigned)(tag) / 64] >> ((unsigned)(tag) % 64)) & 1u))

/* Decode the body of f into out.  FERRY_EPROTO with a reason in why
 * (may be NULL) on any malformed, duplicate or oversized field. */
FERRY_MUST_CHECK int ferry_fields_parse(const struct ferry_frame *f,
					struct ferry_fields *out,
					const char **why);

/*
 * Building frames into a caller's buffer of cap bytes.  Errors are sticky:
 * a field that does not fit sets over, and ferry_fbuf_end returns
 * FERRY_ETOOBIG.  Strings longer than their tag allows are the caller's
 * bug and also set over.
 */
struct ferry_fbuf {
	uint8_t *p;
	size_t len, cap;
	int over;
};

void ferry_fbuf_begin(struct ferry_fbuf *b, uint8_t *buf, size_t cap,
		      uint8_t type, uint8_t flags, uint32_t reqid);
void ferry_fbuf_str(struct ferry_fbuf *b, uint8_t tag, const char *s);
void ferry_fbuf_bytes(struct ferry_fbuf *b, uint8_t tag, const void *v,
		      size_t len);
void ferry_fbuf_u8(struct ferry_fbuf *b, uint8_t tag, uint8_t v);
void ferry_fbuf_u32(struct ferry_fbuf *b, uint8_t tag, uint32_t v);
void ferry_fbuf_u64(struct ferry_fbuf *b, uint8_t tag, uint64_t v);
/* Append raw bytes to the body (DATA frames). */
void ferry_fbuf_raw(struct ferry_fbuf *b, const void *v, size_t len);
/* Fill in the length; returns 0 and the frame's size in *len. */
FERRY_MUST_CHECK int ferry_fbuf_end(struct ferry_fbuf *b, size_t *len);

/* The message header fields of m (plus payload length) into b. */
void ferry_fbuf_msg(struct ferry_fbuf *b, const struct ferry_msg *m);
/* Fill m from decoded fields (those present). */
void ferry_fields_to_msg(const struct ferry_fields *f, struct ferry_msg *m);

const char *ferry_frame_type_name(uint8_t type);

#endif
