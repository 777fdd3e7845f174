/*
 * seal.h - sealed payloads (ferry send --seal; docs/routing.md, "Sealed
 * payloads"): a payload encrypted end to end to its destination's X25519
 * key, so that relays store and forward only ciphertext.
 *
 *   sealed = "FSL1" || eph_pk (32) || chunk 0 || chunk 1 || ...
 *
 * The plaintext is cut into SEAL_CHUNK-byte chunks (the last may be
 * shorter; an empty plaintext is one empty chunk), each sealed with
 * XChaCha20-Poly1305 (SEAL_TAG bytes more).  The ephemeral key is derived
 * from the sender's own X25519 key and the message id, so the same message
 * seals to the same bytes.  Encryption streams through one chunk buffer;
 * decryption starts at any plaintext offset.  Memory only: the caller
 * moves the bytes (the store, a test's buffer).
 */
#ifndef FERRY_AGENT_SEAL_H
#define FERRY_AGENT_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_err.h"
#include "lib/ferry_msg.h"

#define SEAL_MAGIC    "FSL1"
#define SEAL_HEAD_LEN 36u /* magic and eph_pk */
#define SEAL_CHUNK    65536u
#define SEAL_TAG      16u
#define SEAL_KEY_LEN  32u

/* Sealed length of a plaintext of plain bytes; 0 if it would overflow. */
uint64_t seal_sealed_len(uint64_t plain);
/* The plaintext length of a sealed payload of sealed bytes, or
 * FERRY_ECORRUPT if no plaintext seals to that length. */
FERRY_MUST_CHECK int seal_plain_len(uint64_t sealed, uint64_t *plain);

/* Where sealed bytes go: 0 or a negative FERRY_E*. */
typedef int (*seal_out_fn)(void *arg, const uint8_t *p, size_t n);

struct seal_enc;
/*
 * An encryptor of message id's payload to dst_kx_pk, from the node whose
 * X25519 secret key is my_kx_sk.  FERRY_EINVAL for a bad (low order)
 * destination key, FERRY_ENOMEM.
 */
FERRY_MUST_CHECK int seal_enc_new(const uint8_t my_kx_sk[SEAL_KEY_LEN],
				  const uint8_t dst_kx_pk[SEAL_KEY_LEN],
				  const uint8_t id[FERRY_ID_LEN],
				  struct seal_enc **out);
/* The next n bytes of plaintext; whole sealed pieces go to out. */
FERRY_MUST_CHECK int seal_enc_update(struct seal_enc *e, const uint8_t *p,
				     size_t n, seal_out_fn out, void *arg);
/* The end of the plaintext: the final chunk goes to out. */
FERRY_MUST_CHECK int seal_enc_final(struct seal_enc *e, seal_out_fn out,
				    void *arg);
/* Plaintext bytes fed so far. */
uint64_t seal_enc_fed(const struct seal_enc *e);
void seal_enc_free(struct seal_enc *e);

/* Seal a whole payload into *out (malloc'd, *out_len bytes). */
FERRY_MUST_CHECK int seal_buf(const uint8_t my_kx_sk[SEAL_KEY_LEN],
			      const uint8_t dst_kx_pk[SEAL_KEY_LEN],
			      const uint8_t id[FERRY_ID_LEN], const uint8_t *p,
			      size_t n, uint8_t **out, size_t *out_len);

/* Where a decryptor reads sealed bytes: read up to cap bytes at the
 * current offset (0 at the end), seek to an absolute offset. */
struct seal_src {
	int (*read)(void *arg, uint8_t *buf, size_t cap, size_t *n);
	int (*seek)(void *arg, uint64_t off);
	void *arg;
};

struct seal_dec;
/*
 * A decryptor of message id's sealed payload of sealed_len bytes for the
 * node whose X25519 secret key is kx_sk, reading src, positioned at
 * plaintext offset plain_off (its chunk is read and checked now).
 * FERRY_ECORRUPT: not a sealed payload for this key and id, or damaged;
 * FERRY_EINVAL: plain_off past the end.
 */
FERRY_MUST_CHECK int seal_dec_open(const uint8_t kx_sk[SEAL_KEY_LEN],
				   const uint8_t id[FERRY_ID_LEN],
				   uint64_t sealed_len, uint64_t plain_off,
				   const struct seal_src *src,
				   struct seal_dec **out);
/* Up to cap bytes of plaintext; *n == 0 at the end. */
FERRY_MUST_CHECK int seal_dec_read(struct seal_dec *d, uint8_t *buf, size_t cap,
				   size_t *n);
uint64_t seal_dec_plain_len(const struct seal_dec *d);
void seal_dec_free(struct seal_dec *d);

#endif
