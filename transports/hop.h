/*
 * hop.h - the hop frame codec: the frames two nodes exchange inside one
 * decrypted Noise transport record (TCP) or one bundle chunk (file-drop,
 * HTTP).  Byte layout: docs/hop.md; design: DESIGN.md sections 5 and 9.
 *
 *   record = frame+          (at most HOP_PLAIN_MAX bytes; a frame never
 *                             spans two records)
 *   frame  = u8 type, u24be body length, body
 *
 * HELLO, MSG and CLOSE bodies are fields (u8 tag, u16be length, value);
 * REFUSE, CHUNK, END, CUSTODY, RESUME, KEEPALIVE and REKEY have fixed
 * layouts.  Everything here treats its input as hostile: each length is
 * checked against what is left before it is used, nothing is allocated,
 * nothing past the record is read, and any violation is FERRY_EPROTO.
 * Decoded structs point into the record (CHUNK bytes, CUSTODY ids) or
 * hold bounded copies (names), so the record must outlive them.
 *
 * This file does not: encrypt, hash payloads (END carries a BLAKE2b-256
 * computed elsewhere), keep session state, or decide what a frame means
 * for custody; that is the session's job.
 */
#ifndef FERRY_HOP_H
#define FERRY_HOP_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_err.h"
#include "lib/ferry_msg.h"

#define HOP_VERSION	  1
#define HOP_RECORD_MAX	  65535u /* bytes of a Noise transport message */
#define HOP_TAG_LEN	  16u	 /* ChaChaPoly tag of every record */
#define HOP_PLAIN_MAX	  (HOP_RECORD_MAX - HOP_TAG_LEN) /* 65,519 */
#define HOP_RECORD_MIN	  1024u /* smallest max_record a HELLO may offer */
#define HOP_FRAME_HDR	  4u	/* u8 type + u24be length */
#define HOP_HASH_LEN	  32u	/* BLAKE2b-256 of a whole payload */
#define HOP_PATH_MAX	  1023	/* bytes of a MSG's path (ROUTE_PATH_MAX) */
#define HOP_SIG_LEN	  64	/* an origin's Ed25519 signature */
#define HOP_HOP_LIMIT_MAX 64	/* most nodes a message may visit */
/* Bytes a MSG's relaying fields (path, hop_limit, origin_sig) take at
 * most, field headers included. */
#define HOP_RELAY_FIELDS_MAX                                                   \
	(6 * 3 + HOP_PATH_MAX + 1 + HOP_SIG_LEN + FERRY_NODE_MAX +             \
	 FERRY_ID_LEN + HOP_PATH_MAX)
#define HOP_KEEPALIVE_MAX_MS 3600000u /* HELLO keepalive_ms upper bound */
/* The largest payload a MSG carries in itself (tag 19): 16 KiB. */
#define HOP_BODY_MAX	   16384u
#define HOP_CLOSE_TEXT_MAX 255u /* bytes of CLOSE text */

/* Fixed bodies (docs/hop.md section 4). */
#define HOP_REFUSE_LEN	(FERRY_ID_LEN + 1 + 8)		  /* 25 */
#define HOP_CHUNK_HDR	(FERRY_ID_LEN + 8)		  /* 24 + bytes */
#define HOP_END_LEN	(FERRY_ID_LEN + 8 + HOP_HASH_LEN) /* 56 */
#define HOP_RESUME_LEN	(FERRY_ID_LEN + 8)		  /* 24 */
#define HOP_CUSTODY_HDR 2u				  /* u16be count */
/* The most ids one CUSTODY frame can hold in one record: 4,094. */
#define HOP_CUSTODY_MAX                                                        \
	((HOP_PLAIN_MAX - HOP_FRAME_HDR - HOP_CUSTODY_HDR) / FERRY_ID_LEN)

enum hop_type {
	HOP_HELLO = 1,
	HOP_MSG = 2,
	HOP_REFUSE = 3,
	HOP_CHUNK = 4,
	HOP_END = 5,
	HOP_CUSTODY = 6,
	HOP_RESUME = 7,
	HOP_KEEPALIVE = 8,
	HOP_REKEY = 9,
	HOP_CLOSE = 10,
	HOP_CHUNKZ = 11, /* a CHUNK compressed with zstd (section 4.8) */
	HOP_TYPE_MAX_ = 12
};

/* HELLO features (docs/hop.md 3.1, tag 6, a u32 of bits; absent: none):
 * what else the sender reads. */
#define HOP_FEAT_CHUNKZ 0x1u /* CHUNKZ frames */
#define HOP_FEAT_BODY	0x2u /* a MSG carrying its whole payload (tag 19) */
/* END's hash checked only for a payload resumed from an offset: one sent
 * whole in the session (from 0) may end with a zero hash. */
#define HOP_FEAT_RESUMEHASH 0x4u
#define HOP_FEAT_ALL	    (HOP_FEAT_CHUNKZ | HOP_FEAT_BODY | HOP_FEAT_RESUMEHASH)

/* CHUNKZ (docs/hop.md 4.8): 24 + 4 + n bytes; the zstd frame restores
 * orig_len payload bytes, 1..HOP_ZORIG_MAX. */
#define HOP_CHUNKZ_HDR (FERRY_ID_LEN + 8 + 4)
#define HOP_ZORIG_MAX  262144u

/* Why a receiver refuses a MSG before its payload is sent, or (the
 * "full" ones, 6..8) instead of its CUSTODY once it found no room. */
enum hop_refuse_reason {
	HOP_REFUSE_HAVE = 1,	   /* already have it, whole: custody is mine */
	HOP_REFUSE_TOO_BIG = 2,	   /* payload above my limit */
	HOP_REFUSE_NO_ROUTE = 3,   /* I cannot forward to its destination */
	HOP_REFUSE_PARTIAL = 4,	   /* I have a prefix: resume from offset */
	HOP_REFUSE_BUSY = 5,	   /* another transfer of it is being stored
				      here: send it again later */
	HOP_REFUSE_QUEUE_FULL = 6, /* its queue here is at its quota: keep
				      it, offer it again later */
	HOP_REFUSE_STORE_FULL = 7, /* my store is at its store_quota */
	HOP_REFUSE_DISK_FULL = 8,  /* my disk is down to its disk_reserve */
	HOP_REFUSE_MAX_ = 9
};

/* CLOSE codes; unknown codes decode (a newer peer) and mean "other". */
enum hop_close_code {
	HOP_CLOSE_NORMAL = 0,	/* nothing more to say */
	HOP_CLOSE_SHUTDOWN = 1, /* the agent is stopping */
	HOP_CLOSE_PROTO = 2,	/* the peer broke the protocol */
	HOP_CLOSE_IDLE = 3,	/* keep-alives missed */
	HOP_CLOSE_BUSY = 4,	/* too many sessions; try later */
	HOP_CLOSE_VERSION = 5,	/* no common protocol version */
};

/* One frame of a record, as hop_record_next found it. */
struct hop_frame {
	uint8_t type;	     /* enum hop_type */
	const uint8_t *body; /* points into the record */
	size_t len;	     /* bytes of body */
};

struct hop_hello {
	uint8_t version;	       /* 1..255; HOP_VERSION today */
	char node[FERRY_NODE_MAX + 1]; /* the sender's node name */
	uint16_t max_record;	       /* largest record it accepts */
	uint32_t keepalive_ms;	       /* 0 = none; <= HOP_KEEPALIVE_MAX_MS */
	int64_t clock_ms;	       /* its wall clock, for skew warnings */
	uint32_t features;	       /* HOP_FEAT_* it reads (unknown bits:
					  a newer peer, ignored) */
};

/*
 * A message header.  msg.expires_ms is neither sent nor set: a hop carries
 * the remaining TTL (ttl_ms, 0 = never expires), which the receiver turns
 * into a local expiry with its own clock.  offset is where the sender's
 * CHUNKs start (0, or a RESUME/REFUSE offset); at most msg.payload_len.
 */
struct hop_msg {
	struct ferry_msg msg;
	uint64_t ttl_ms;
	uint64_t offset;
	/* Relaying (docs/routing.md), all optional: the nodes that held
	 * it, its source first and the sender last, comma-separated ("":
	 * not sent, the sender is its source); the most nodes it may
	 * visit (0: not sent); the origin's signature. */
	char path[HOP_PATH_MAX + 1];
	uint8_t hop_limit;
	uint8_t has_sig;
	uint8_t origin_sig[HOP_SIG_LEN];
	/* A copy of a group message (docs/groups.md), all three or none:
	 * the group's name, the id its source gave it, and the members it
	 * is for ("" when it is a member's own copy: its destination);
	 * with members, the destination is the first of them. */
	char group[FERRY_NODE_MAX + 1];
	uint8_t group_id[FERRY_ID_LEN];
	char members[HOP_PATH_MAX + 1];
	/* The whole payload in the MSG itself (tag 19; only to a peer whose
	 * HELLO has HOP_FEAT_BODY): no CHUNK nor END follow.  body_len ==
	 * msg.payload_len <= HOP_BODY_MAX, offset 0.  body points into the
	 * record (decoding) or the caller's buffer (encoding). */
	uint8_t has_body;
	const uint8_t *body;
	size_t body_len;
};

/*
 * The bytes an origin signs for m (docs/routing.md, "Signed origins"),
 * under identity_sign's label HOP_ORIGIN_LABEL: id, src_node, dst_node,
 * dst_queue, reply_to, correlation (each string u8 length + bytes),
 * priority, flags (u32be), created_ms, payload_len (u64be) and the
 * BLAKE2b-256 of the payload.  Not the TTL nor the path: they change on
 * the way.  Returns the length (at most HOP_ORIGIN_MAX), 0 if cap is too
 * small.
 */
#define HOP_ORIGIN_LABEL "ferry-origin-v1"
#define HOP_ORIGIN_MAX	 640
size_t hop_origin_bytes(const struct ferry_msg *m,
			const uint8_t hash[HOP_HASH_LEN], uint8_t *out,
			size_t cap);

struct hop_refuse {
	uint8_t id[FERRY_ID_LEN];
	uint8_t reason;	 /* enum hop_refuse_reason */
	uint64_t offset; /* HOP_REFUSE_PARTIAL only; 0 otherwise */
};

struct hop_chunk {
	uint8_t id[FERRY_ID_LEN];
	uint64_t offset;     /* of data[0] in the payload */
	const uint8_t *data; /* points into the record */
	size_t len;	     /* 1..; offset + len does not wrap */
};

/* A CHUNKZ as sent: data is one zstd frame (not yet checked) that must
 * decompress to exactly orig_len bytes, the payload at offset. */
struct hop_chunkz {
	uint8_t id[FERRY_ID_LEN];
	uint64_t offset;     /* of the first original byte */
	uint32_t orig_len;   /* 1..HOP_ZORIG_MAX; offset + it does not wrap */
	const uint8_t *data; /* the zstd frame, points into the record */
	size_t len;	     /* 1.. */
};

struct hop_end {
	uint8_t id[FERRY_ID_LEN];
	uint64_t total_len;
	uint8_t hash[HOP_HASH_LEN]; /* BLAKE2b-256 of the whole payload */
};

struct hop_custody {
	const uint8_t *ids; /* count * FERRY_ID_LEN bytes, in the record */
	size_t count;	    /* 1..HOP_CUSTODY_MAX */
};

struct hop_resume {
	uint8_t id[FERRY_ID_LEN];
	uint64_t offset;
};

struct hop_keepalive {
	int has_time;	 /* 0: empty body */
	int64_t time_ms; /* sender's clock when has_time */
};

struct hop_close {
	uint16_t code;			   /* enum hop_close_code */
	char text[HOP_CLOSE_TEXT_MAX + 1]; /* "" when absent */
};

/*
 * Walk the frames of one decrypted record p[0..len).  *off starts at 0;
 * each call returns 1 and the next frame in *out (advancing *off), 0 at
 * the end of the record, FERRY_EPROTO when the record is longer than
 * HOP_PLAIN_MAX, a header is cut short, a length runs past the record,
 * or the type is unknown.  Only the header is checked: bodies are checked
 * by the decoders below.  FERRY_EINVAL if *off > len (a caller's bug).
 */
FERRY_MUST_CHECK int hop_record_next(const uint8_t *p, size_t len, size_t *off,
				     struct hop_frame *out);

/*
 * Typed decoders.  Each returns 0, FERRY_EPROTO (malformed body: wrong
 * size, missing, duplicate or oversized field, invalid name, priority
 * above 7, unknown flag bits, offset past the payload, ...) or
 * FERRY_EINVAL (f is not of that type: a caller's bug).  why, when not
 * NULL, gets a static reason for the log.  Unknown field tags in HELLO,
 * MSG and CLOSE are skipped, so a newer peer may add fields.
 */
FERRY_MUST_CHECK int hop_hello_decode(const struct hop_frame *f,
				      struct hop_hello *out, const char **why);
FERRY_MUST_CHECK int hop_msg_decode(const struct hop_frame *f,
				    struct hop_msg *out, const char **why);
FERRY_MUST_CHECK int hop_refuse_decode(const struct hop_frame *f,
				       struct hop_refuse *out,
				       const char **why);
FERRY_MUST_CHECK int hop_chunk_decode(const struct hop_frame *f,
				      struct hop_chunk *out, const char **why);
/* The layout only; hop_chunkz_inflate checks and opens the zstd frame. */
FERRY_MUST_CHECK int hop_chunkz_decode(const struct hop_frame *f,
				       struct hop_chunkz *out,
				       const char **why);
FERRY_MUST_CHECK int hop_end_decode(const struct hop_frame *f,
				    struct hop_end *out, const char **why);
FERRY_MUST_CHECK int hop_custody_decode(const struct hop_frame *f,
					struct hop_custody *out,
					const char **why);
FERRY_MUST_CHECK int hop_resume_decode(const struct hop_frame *f,
				       struct hop_resume *out,
				       const char **why);
FERRY_MUST_CHECK int hop_keepalive_decode(const struct hop_frame *f,
					  struct hop_keepalive *out,
					  const char **why);
FERRY_MUST_CHECK int hop_rekey_decode(const struct hop_frame *f,
				      const char **why);
FERRY_MUST_CHECK int hop_close_decode(const struct hop_frame *f,
				      struct hop_close *out, const char **why);

/*
 * Building one record into a caller's buffer of cap bytes (clamped to
 * HOP_PLAIN_MAX; the session passes the peer's max_record - HOP_TAG_LEN).
 * A frame is written whole or not at all.  Errors are sticky: a frame
 * that does not fit sets err to FERRY_ETOOBIG, a field the decoder would
 * refuse (bad name, priority 8, ...) sets FERRY_EINVAL; later puts do
 * nothing and hop_rbuf_end returns the first error.  hop_put_chunk and
 * hop_put_custody instead place what fits and say how much.
 */
struct hop_rbuf {
	uint8_t *p;
	size_t len, cap;
	int err; /* 0 or the first FERRY_E* */
};

void hop_rbuf_init(struct hop_rbuf *b, uint8_t *buf, size_t cap);
/* Bytes still free (0 after an error). */
size_t hop_rbuf_room(const struct hop_rbuf *b);
/* Returns b->err, or 0 and the record's length in *len. */
FERRY_MUST_CHECK int hop_rbuf_end(const struct hop_rbuf *b, size_t *len);

void hop_put_hello(struct hop_rbuf *b, const struct hop_hello *h);
void hop_put_msg(struct hop_rbuf *b, const struct hop_msg *m);
/* Bytes hop_put_msg needs for m (frame header included). */
size_t hop_msg_frame_len(const struct hop_msg *m);
void hop_put_refuse(struct hop_rbuf *b, const struct hop_refuse *r);
/*
 * Append a CHUNK of id at offset with as many of data's len bytes as fit
 * (at least 1) and return that number; 0, with err untouched, when not
 * even one byte fits (send the record, start another).  0 after an error.
 * An offset + len that wraps sets FERRY_EINVAL.
 */
size_t hop_put_chunk(struct hop_rbuf *b, const uint8_t id[FERRY_ID_LEN],
		     uint64_t offset, const void *data, size_t len);
void hop_put_end(struct hop_rbuf *b, const struct hop_end *e);
/* Append one CUSTODY frame with as many of the n ids (n * FERRY_ID_LEN
 * bytes) as fit, up to HOP_CUSTODY_MAX; returns that number, 0 as in
 * hop_put_chunk. */
size_t hop_put_custody(struct hop_rbuf *b, const uint8_t *ids, size_t n);
void hop_put_resume(struct hop_rbuf *b, const struct hop_resume *r);
/* k == NULL or !k->has_time: an empty KEEPALIVE. */
void hop_put_keepalive(struct hop_rbuf *b, const struct hop_keepalive *k);
void hop_put_rekey(struct hop_rbuf *b);
/* text may be NULL or ""; no control bytes, at most HOP_CLOSE_TEXT_MAX. */
void hop_put_close(struct hop_rbuf *b, uint16_t code, const char *text);

/*
 * zstd for CHUNKZ (transports/hop_zstd.c, the one file that includes
 * zstd.h).  One struct hop_zstd per thread that uses it (a session's
 * writer, its reader, an export, an import), reused for every frame: its
 * decompression context and its HOP_ZORIG_MAX buffer are made on first
 * use, so a session that never compresses costs a pointer.  Compression
 * contexts (about 1 MiB each) are the process's, a few shared by all
 * (borrowed for one frame; thread-safe).
 */
struct hop_zstd;

/* NULL when out of memory.  hop_zstd_free(NULL) is a no-op. */
struct hop_zstd *hop_zstd_new(void);
void hop_zstd_free(struct hop_zstd *z);
/* Give the context and the buffer back while the owner is idle; the
 * next use makes them again. */
void hop_zstd_idle(struct hop_zstd *z);
/* Free the shared compression contexts not in use (at exit). */
void hop_zstd_shutdown(void);
/* The HOP_ZORIG_MAX buffer a sender reads payload bytes into before
 * hop_put_chunkz; NULL when out of memory. */
uint8_t *hop_zstd_buf(struct hop_zstd *z);

/*
 * 1 when data[0..len) is small and its bytes so nearly uniform (random,
 * encrypted, already compressed) that a zstd frame of it cannot be at
 * most max_zlen bytes but through long repeats, which such bytes rarely
 * hold: hop_put_chunkz then declines it without trying.  0: try.
 */
int hop_zstd_hopeless(const void *data, size_t len, size_t max_zlen);

/*
 * Append a CHUNKZ of id at offset holding data[0..len) (1..HOP_ZORIG_MAX
 * bytes) compressed at level (1..19), if the zstd frame is at most
 * max_zlen bytes and fits in what b has left.  Returns the frame's zstd
 * bytes (> 0) when placed; 0, with nothing written and err untouched,
 * when it is larger (send the bytes plain, or fewer of them);
 * FERRY_ENOMEM; FERRY_EINVAL (len out of range, wrap, sticky in b).
 */
FERRY_MUST_CHECK int hop_put_chunkz(struct hop_rbuf *b, struct hop_zstd *z,
				    int level, const uint8_t id[FERRY_ID_LEN],
				    uint64_t offset, const void *data,
				    size_t len, size_t max_zlen);

/*
 * Open a decoded CHUNKZ into z's buffer: out gets its id, offset and the
 * orig_len original bytes (out->data points into z, valid until the next
 * call on z).  The zstd frame must be exactly one frame, declare
 * orig_len as its content size and decompress to exactly that many bytes
 * (never more are written: a "bomb" stops at orig_len); otherwise
 * FERRY_EPROTO with a static reason.  FERRY_ENOMEM.
 */
FERRY_MUST_CHECK int hop_chunkz_inflate(struct hop_zstd *z,
					const struct hop_chunkz *cz,
					struct hop_chunk *out,
					const char **why);

/* "HELLO", "MSG", ... or "unknown". */
const char *hop_type_name(uint8_t type);

#endif
