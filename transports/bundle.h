/*
 * bundle.h - sealed offline bundles (docs/formats.md): hop frames sealed
 * for one next hop with a Noise K key wrap, a secretstream body and an
 * Ed25519 trailer.  Written and read as streams in bounded memory (one
 * chunk, one frame, and two hand-off buffers of at most 2 MiB; a small
 * bundle gets buffers of its own size).
 *
 * This file does not: choose what goes into a bundle, name or move files,
 * keep sequence numbers, or look peers up; that is transports/filedrop*.c.  It
 * treats every byte it reads as hostile: each length is checked before it
 * is used, and what is allocated from a length in the input (the chunk
 * size, the declared size) is clamped to fixed bounds first.
 *
 * Threads: one object belongs to one thread at a time.  A writer or
 * reader that passes one buffer's worth hashes on a helper thread of its
 * own (started then, joined at the end).
 */
#ifndef FERRY_BUNDLE_H
#define FERRY_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_err.h"
#include "transports/hop.h"
#include "transports/identity.h"

#define BUNDLE_MAGIC	     "FERRYBDL"
#define BUNDLE_VERSION	     1
#define BUNDLE_KIND_HOP	     1
#define BUNDLE_HDR_LEN	     128u
#define BUNDLE_WRAP_LEN	     80u /* Noise K: e || enc(file key) || tag */
#define BUNDLE_SS_HDR_LEN    24u /* secretstream header */
#define BUNDLE_SS_ABYTES     17u /* secretstream bytes added per chunk */
#define BUNDLE_SIG_LEN	     64u
#define BUNDLE_ID_LEN	     16u
#define BUNDLE_CHUNK_DEFAULT 65536u
#define BUNDLE_CHUNK_MIN     4096u
#define BUNDLE_CHUNK_MAX     1048576u
/* Bytes of an empty bundle: header, wrap, stream header, an empty FINAL
 * chunk and the trailer. */
#define BUNDLE_MIN_SIZE                                                        \
	(BUNDLE_HDR_LEN + BUNDLE_WRAP_LEN + BUNDLE_SS_HDR_LEN +                \
	 BUNDLE_SS_ABYTES + BUNDLE_SIG_LEN)
#define BUNDLE_SIGN_LABEL "ferry-bundle-v1"

/* Header flags (docs/formats.md 1.1); a reader refuses any other bit. */
#define BUNDLE_FLAG_ZSTD 0x0001u /* frames may include CHUNKZ */
#define BUNDLE_FLAGS_ALL BUNDLE_FLAG_ZSTD

struct bundle_hdr {
	uint8_t version;
	uint8_t kind;
	uint16_t flags;
	uint32_t chunk; /* plaintext bytes per chunk */
	uint8_t sender[IDENTITY_NODE_ID_LEN];
	uint8_t recipient[IDENTITY_NODE_ID_LEN];
	uint8_t id[BUNDLE_ID_LEN];
	uint64_t seq;
	int64_t created_ms;
	uint64_t size; /* bytes of the whole file */
};

void bundle_hdr_encode(const struct bundle_hdr *h, uint8_t out[BUNDLE_HDR_LEN]);
/* Parse and check a header (step 1 of docs/formats.md 1.5 without the
 * file size).  FERRY_EPROTO with *why set when it is not a bundle of a
 * format this code reads. */
FERRY_MUST_CHECK int bundle_hdr_decode(const uint8_t in[BUNDLE_HDR_LEN],
				       struct bundle_hdr *h, const char **why);

/* The size of a bundle whose frames take plain bytes, with chunk size
 * chunk. */
uint64_t bundle_size_for(uint64_t plain, uint32_t chunk);

/* ------------------------------------------------------------- writer */

struct bundle_writer;

/*
 * Start a bundle in fd (a new, empty, writable file; written from offset
 * 0 with write(2), the header last with pwrite(2)) from me to the node
 * rcpt_id whose X25519 key is rcpt_kx.  chunk 0 means the default.
 * Errors: FERRY_EINVAL, FERRY_ENOMEM, FERRY_EIO (errno kept), FERRY_ENOSPC,
 * FERRY_EPROTO (rcpt_kx of small order).
 */
FERRY_MUST_CHECK int bundle_writer_open(int fd, const struct identity *me,
					const uint8_t rcpt_id[32],
					const uint8_t rcpt_kx[32], uint64_t seq,
					int64_t now_ms, uint32_t chunk,
					struct bundle_writer **out);
/* The same with header flags (BUNDLE_FLAG_*; others: FERRY_EINVAL). */
FERRY_MUST_CHECK int bundle_writer_open_flags(int fd, const struct identity *me,
					      const uint8_t rcpt_id[32],
					      const uint8_t rcpt_kx[32],
					      uint64_t seq, int64_t now_ms,
					      uint32_t chunk, uint16_t flags,
					      struct bundle_writer **out);
/* Append len bytes of frames.  Errors: FERRY_EIO, FERRY_ENOSPC (the
 * writer is then dead: abort it). */
FERRY_MUST_CHECK int bundle_writer_put(struct bundle_writer *w, const void *buf,
				       size_t len);
/* The file's size if it were finished after extra more frame bytes. */
uint64_t bundle_writer_size_after(const struct bundle_writer *w,
				  uint64_t extra);
/*
 * Seal: the FINAL chunk, the trailer, the header.  Does not fsync or
 * close fd.  Fills *hdr (may be NULL).  Frees w whatever the result.
 */
FERRY_MUST_CHECK int bundle_writer_finish(struct bundle_writer *w,
					  struct bundle_hdr *hdr);
/* Give up (wipes the keys); NULL is a no-op.  The file is the caller's. */
void bundle_writer_abort(struct bundle_writer *w);

/* ------------------------------------------------------------- reader */

/* Read up to cap bytes into buf; *n = 0 at the end of the input.
 * Returns 0 or a FERRY_E* code (FERRY_EIO). */
typedef int (*bundle_read_fn)(void *arg, void *buf, size_t cap, size_t *n);

struct bundle_reader;

/*
 * Read and check the header (steps 1 and 2): file_size is the size of the
 * file as stored (UINT64_MAX if unknown), me the reading node.
 * Errors (with bundle_reader_why): FERRY_EPROTO (not a bundle, a newer
 * format), FERRY_ECORRUPT (truncated, or size differs from the header),
 * FERRY_ESTATE (addressed to another node), FERRY_EIO, FERRY_ENOMEM,
 * FERRY_EINVAL.  *out is set even on error (for the why), unless
 * FERRY_ENOMEM/FERRY_EINVAL; free it.
 */
FERRY_MUST_CHECK int bundle_reader_open(bundle_read_fn rd, void *arg,
					uint64_t file_size,
					const struct identity *me,
					struct bundle_reader **out);
const struct bundle_hdr *bundle_reader_hdr(const struct bundle_reader *r);
/*
 * Step 6: open the key wrap with the sender's keys from its card.
 * Errors: FERRY_ECORRUPT (not from that sender, or damaged), FERRY_EINVAL
 * (these keys are not those of the header's sender id), FERRY_EIO.
 */
FERRY_MUST_CHECK int bundle_reader_unwrap(struct bundle_reader *r,
					  const uint8_t sender_sign_pk[32],
					  const uint8_t sender_kx_pk[32]);
/*
 * The next frame (steps 7 and 8 as the stream goes): returns 1 with *f
 * pointing into the reader (valid until the next call), 0 at the end once
 * the FINAL chunk has been read and the signature verified, or an error:
 * FERRY_ECORRUPT (a chunk or the signature does not verify, truncated,
 * data after FINAL, a frame cut short), FERRY_EPROTO (a frame header
 * hop_record_next refuses), FERRY_EIO.  Frame bodies are not decoded.
 */
FERRY_MUST_CHECK int bundle_reader_frame(struct bundle_reader *r,
					 struct hop_frame *f);
/* Why the last call failed: one line for the log and the operator. */
const char *bundle_reader_why(const struct bundle_reader *r);
/* Bytes of the file consumed so far. */
uint64_t bundle_reader_pos(const struct bundle_reader *r);
void bundle_reader_free(struct bundle_reader *r);

#endif
