/*
 * identity.h - a node's identity: one secret seed, the two key pairs derived
 * from it, the public card operators exchange, the node id and the human
 * fingerprint, and labelled Ed25519 signatures (DESIGN.md section 9,
 * docs/identity.md for the byte layouts).
 *
 * Owns the seed and the secret keys, which live in sodium_malloc() memory,
 * are wiped by identity_free() and are never logged or copied out except
 * through identity_kx_sk() for the Noise code.  Does not speak Noise, seal
 * bundles or keep peer keys: those are the callers' business.
 *
 * Threads: a loaded struct identity is read-only and may be shared between
 * threads; every function may be called from any thread.
 */
#ifndef FERRY_IDENTITY_H
#define FERRY_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_err.h"

#define IDENTITY_SEED_LEN     32
#define IDENTITY_PK_LEN	      32
#define IDENTITY_SIG_LEN      64
#define IDENTITY_NODE_ID_LEN  32
#define IDENTITY_LABEL_MAX    255 /* bytes of a signing label */
#define IDENTITY_CARD_VERSION 1
#define IDENTITY_CARD_LEN     117 /* strlen of a version 1 card */
#define IDENTITY_CARD_MAX     128 /* buffer that holds any card and its NUL */
#define IDENTITY_FPR_LEN      19  /* "abcd-efgh-ijkl-mnop" */

/* Opaque: seed and secret keys in sodium_malloc memory. */
struct identity;

/*
 * Create <state_dir>/identity/secret holding 32 random bytes: the directory
 * with mode 0700 if it is missing, the file with mode 0600.  The bytes go
 * to a temporary file in the same directory, which is fsync'd, then linked
 * to "secret" (link(2) refuses to replace an existing name, rename(2) would
 * not) and removed; the directory is fsync'd last.
 * Errors: FERRY_EBUSY if a secret exists already (a key is never
 * overwritten), FERRY_ENOTFOUND if state_dir does not exist, FERRY_EPERM,
 * FERRY_ENOSPC, FERRY_ENOMEM, FERRY_EINVAL (path too long), FERRY_EIO.
 */
FERRY_MUST_CHECK int identity_generate(const char *state_dir);

/*
 * Load <state_dir>/identity/secret into a new *out (free with
 * identity_free).  On failure *out is NULL and err (errlen bytes, may be 0)
 * holds one line naming the path and what to do.
 * Errors: FERRY_EPERM if the file grants any permission to group or others
 * or is not owned by the effective user (the message says "chmod 600"), or
 * cannot be opened for lack of permission; FERRY_ENOTFOUND if it is
 * missing; FERRY_ECORRUPT if it is not a regular file of exactly 32 bytes;
 * FERRY_ENOMEM, FERRY_EINVAL (path too long), FERRY_EIO.
 */
FERRY_MUST_CHECK int identity_load(const char *state_dir, struct identity **out,
				   char *err, size_t errlen);

/* For tests and vectors: derive an identity from a given seed. */
FERRY_MUST_CHECK int identity_from_seed(const uint8_t seed[IDENTITY_SEED_LEN],
					struct identity **out);

/* Wipe and free; NULL is a no-op. */
void identity_free(struct identity *id);

/* The Ed25519 public key (32 bytes), valid while id lives. */
const uint8_t *identity_sign_pk(const struct identity *id);
/* The X25519 public key (32 bytes), valid while id lives. */
const uint8_t *identity_kx_pk(const struct identity *id);
/*
 * The X25519 secret (32 bytes, unclamped: X25519 clamps it), for the Noise
 * code only.  Points into read-only sodium_malloc memory owned by id; never
 * copy it anywhere that is not wiped.
 */
const uint8_t *identity_kx_sk(const struct identity *id);

/*
 * Sign msg (len bytes; msg may be NULL when len is 0) under label: an
 * Ed25519 signature of BLAKE2b-512(u8 strlen(label) || label || msg), so a
 * signature made for one kind of object never verifies as another.
 * label is a fixed ASCII name such as "ferry-bundle-v1", 1 to
 * IDENTITY_LABEL_MAX bytes.  Errors: FERRY_EINVAL.
 */
FERRY_MUST_CHECK int identity_sign(const struct identity *id, const char *label,
				   const uint8_t *msg, size_t len,
				   uint8_t sig[IDENTITY_SIG_LEN]);

/*
 * Check sig over msg under label with sign_pk.  Returns 0 if it verifies,
 * FERRY_ECORRUPT if it does not (wrong key, label, message or signature),
 * FERRY_EINVAL for a bad label.
 */
FERRY_MUST_CHECK int identity_verify(const uint8_t sign_pk[IDENTITY_PK_LEN],
				     const char *label, const uint8_t *msg,
				     size_t len,
				     const uint8_t sig[IDENTITY_SIG_LEN]);

/* Node id: BLAKE2b-256("ferry-node-id-v1" || sign_pk || kx_pk). */
void identity_node_id(const uint8_t sign_pk[IDENTITY_PK_LEN],
		      const uint8_t kx_pk[IDENTITY_PK_LEN],
		      uint8_t out[IDENTITY_NODE_ID_LEN]);

/*
 * The public card, one line of IDENTITY_CARD_LEN characters plus a NUL:
 * "ferry1" + lowercase RFC 4648 base32 without padding of
 *   version (1 byte, 1) || sign_pk || kx_pk || checksum (4 bytes),
 * the checksum being the first 4 bytes of
 * BLAKE2b-256("ferry-card-v1" || version || sign_pk || kx_pk).
 * Errors: FERRY_EINVAL if cap is below IDENTITY_CARD_LEN + 1.
 */
FERRY_MUST_CHECK int identity_card(const struct identity *id, char *out,
				   size_t cap);

/*
 * Parse a card: surrounding white space is ignored, the prefix and the
 * base32 are case-insensitive.  On FERRY_EINVAL, err (errlen bytes, may be
 * 0) gives the reason: wrong prefix, a character that is not base32 (with
 * its position), wrong length, unsupported version, or a checksum mismatch
 * ("typo in the card?").  Outside bytes: never aborts.
 */
FERRY_MUST_CHECK int identity_card_parse(const char *card,
					 uint8_t sign_pk[IDENTITY_PK_LEN],
					 uint8_t kx_pk[IDENTITY_PK_LEN],
					 char *err, size_t errlen);

/*
 * Fingerprint: the first 80 bits of the node id in lowercase base32, 16
 * characters in groups of 4: "abcd-efgh-ijkl-mnop", NUL-terminated.
 */
void identity_fingerprint(const uint8_t sign_pk[IDENTITY_PK_LEN],
			  const uint8_t kx_pk[IDENTITY_PK_LEN],
			  char out[IDENTITY_FPR_LEN + 1]);

#endif
