/*
 * noise.h - the hop encryption of TCP sessions:
 * Noise_IK_25519_ChaChaPoly_SHA256 (Noise spec rev 34; DESIGN.md section 9,
 * docs/noise.md for the construction and the test vectors).
 *
 * Pure computation: no I/O, no logging, no clock.  The caller frames the
 * handshake messages (2-byte length), checks the remote static key against
 * its pinned peers, and decides when to rekey or to hand-shake again.
 *
 * Owns the handshake secrets (static and ephemeral keys, chaining key,
 * cipher keys) and, after the split, the two transport keys: all of them in
 * sodium_malloc() memory, wiped on every path, never copied out except the
 * public keys and the handshake hash.
 *
 * Life of a handshake (the names of the calls on each arrow):
 *
 *   initiator: noise_ik_initiator_new -> noise_hs_write (message 1)
 *              -> noise_hs_read (message 2) -> noise_hs_split
 *   responder: noise_ik_responder_new -> noise_hs_read (message 1)
 *              -> noise_hs_remote_static (look the caller up)
 *              -> noise_hs_write (message 2) -> noise_hs_split
 *
 * Any failed step wipes the secrets and leaves the state dead: every later
 * call on it returns FERRY_ESTATE, and the caller frees it.
 *
 * Threads: a struct noise_hs or noise_cipher belongs to one thread at a
 * time; distinct objects may be used from distinct threads.
 */
#ifndef FERRY_NOISE_H
#define FERRY_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_err.h"

#define NOISE_MAX_MSG 65535 /* bytes of any Noise message (spec 3) */
#define NOISE_TAG     16    /* bytes of a ChaChaPoly tag */
#define NOISE_KEY     32    /* bytes of a key, public key or hash */
/* IK messages with an empty payload: e || enc(s) || enc(payload), e || tag */
#define NOISE_IK_MSG1_LEN (NOISE_KEY + NOISE_KEY + NOISE_TAG + NOISE_TAG)
#define NOISE_IK_MSG2_LEN (NOISE_KEY + NOISE_TAG)

/* Handshake state (opaque; secrets in sodium_malloc memory). */
struct noise_hs;
/* One direction's CipherState after the split (opaque, likewise). */
struct noise_cipher;

/*
 * A new initiator with static pair (s_sk, s_pk) that knows the responder's
 * static public key rs_pk; the prologue (plen bytes, may be NULL when plen
 * is 0) is mixed into the handshake hash and must be the same on both
 * sides.  s_pk must be the public key of s_sk.
 * Errors: FERRY_EINVAL (NULL argument, s_pk not the key of s_sk),
 * FERRY_ENOMEM, FERRY_EIO (libsodium could not start).
 */
FERRY_MUST_CHECK int noise_ik_initiator_new(const uint8_t s_sk[NOISE_KEY],
					    const uint8_t s_pk[NOISE_KEY],
					    const uint8_t rs_pk[NOISE_KEY],
					    const uint8_t *prologue,
					    size_t plen, struct noise_hs **out);

/* A new responder; as noise_ik_initiator_new without a remote key. */
FERRY_MUST_CHECK int noise_ik_responder_new(const uint8_t s_sk[NOISE_KEY],
					    const uint8_t s_pk[NOISE_KEY],
					    const uint8_t *prologue,
					    size_t plen, struct noise_hs **out);

/*
 * For test vectors only: use e_sk as the ephemeral secret instead of drawing
 * one.  Allowed before this side writes its ephemeral key (initiator:
 * before message 1; responder: before message 2).  Errors: FERRY_EINVAL,
 * FERRY_ESTATE.
 */
FERRY_MUST_CHECK int noise_hs_set_ephemeral(struct noise_hs *hs,
					    const uint8_t e_sk[NOISE_KEY]);

/*
 * Write the next handshake message into out (cap bytes) and set *outlen:
 * message 1 (-> e, es, s, ss) on the initiator, 96 + plen bytes; message 2
 * (<- e, ee, se) on the responder, 48 + plen bytes.  payload (plen bytes,
 * may be NULL when plen is 0) must not overlap out; ferry sends empty ones.
 * Errors: FERRY_ESTATE (wrong turn, or the state is dead), FERRY_EINVAL
 * (NULL argument, cap too small), FERRY_ETOOBIG (message would exceed
 * NOISE_MAX_MSG), FERRY_EPROTO (a Diffie-Hellman result is all zero: the
 * responder's static key rs_pk has small order).  On any error the state
 * is dead.
 */
FERRY_MUST_CHECK int noise_hs_write(struct noise_hs *hs, const uint8_t *payload,
				    size_t plen, uint8_t *out, size_t cap,
				    size_t *outlen);

/*
 * Read the next handshake message (len bytes of outside input) and put its
 * decrypted payload into payload (cap bytes, may be NULL when cap is 0),
 * setting *plen.  Errors: FERRY_ESTATE (wrong turn, or dead), FERRY_EINVAL
 * (NULL argument, payload buffer too small), FERRY_EPROTO (shorter than
 * 96 resp. 48 bytes, longer than NOISE_MAX_MSG, or a remote key of small
 * order), FERRY_ECORRUPT (authentication failed: wrong keys, wrong
 * prologue, damaged message).  On any error the state is dead.
 */
FERRY_MUST_CHECK int noise_hs_read(struct noise_hs *hs, const uint8_t *msg,
				   size_t len, uint8_t *payload, size_t cap,
				   size_t *plen);

/*
 * The remote static public key: on the responder once message 1 has been
 * read (look it up among the pinned peers before writing message 2), on
 * the initiator the key it was given.  Errors: FERRY_ESTATE (not known
 * yet, dead, or split), FERRY_EINVAL.
 */
FERRY_MUST_CHECK int noise_hs_remote_static(const struct noise_hs *hs,
					    uint8_t rs_pk[NOISE_KEY]);

/*
 * After message 2 (written or read): Split() into the two transport
 * ciphers, *send and *recv (initiator: c1 sends, c2 receives; responder
 * the opposite), and copy the handshake hash into h (may be NULL) for
 * channel binding.  The handshake secrets are wiped; later calls on hs
 * return FERRY_ESTATE; free hs and both ciphers separately.
 * Errors: FERRY_ESTATE, FERRY_EINVAL, FERRY_ENOMEM (state then dead).
 */
FERRY_MUST_CHECK int noise_hs_split(struct noise_hs *hs,
				    struct noise_cipher **send,
				    struct noise_cipher **recv,
				    uint8_t h[NOISE_KEY]);

/* Wipe and free; NULL is a no-op. */
void noise_hs_free(struct noise_hs *hs);

/*
 * Encrypt len bytes of pt (may be NULL when len is 0) with associated data
 * ad (adlen bytes, may be NULL when adlen is 0) under the next nonce:
 * out (cap bytes) = ciphertext || tag, *outlen = len + NOISE_TAG.  out may
 * be pt (in place) but must not overlap it otherwise.
 * Errors: FERRY_EINVAL (NULL argument, cap too small), FERRY_ETOOBIG
 * (len + NOISE_TAG above NOISE_MAX_MSG), FERRY_ESTATE (the nonce reached
 * 2^64-1, which Noise reserves; Rekey() keeps the nonce, so only a new
 * handshake helps).
 */
FERRY_MUST_CHECK int noise_encrypt(struct noise_cipher *c, const uint8_t *ad,
				   size_t adlen, const uint8_t *pt, size_t len,
				   uint8_t *out, size_t cap, size_t *outlen);

/*
 * Decrypt one transport message ct (len bytes of outside input) into out
 * (cap bytes; may be ct, in place), *outlen = len - NOISE_TAG.
 * Errors: FERRY_EPROTO (shorter than a tag), FERRY_ETOOBIG (longer than
 * NOISE_MAX_MSG), FERRY_EINVAL, FERRY_ESTATE (nonce exhausted),
 * FERRY_ECORRUPT (authentication failed; out is wiped and the nonce does
 * not advance, but the caller should tear the session down).
 */
FERRY_MUST_CHECK int noise_decrypt(struct noise_cipher *c, const uint8_t *ad,
				   size_t adlen, const uint8_t *ct, size_t len,
				   uint8_t *out, size_t cap, size_t *outlen);

/*
 * Noise Rekey(): k = first 32 bytes of ENCRYPT(k, 2^64-1, empty ad, 32
 * zero bytes).  The nonce is unchanged (spec 4.2, 11.3).  Both sides must
 * rekey at the same point of the stream.  Errors: FERRY_EINVAL.
 */
FERRY_MUST_CHECK int noise_rekey(struct noise_cipher *c);

/* The next nonce c will use (the number of messages so far). */
uint64_t noise_nonce(const struct noise_cipher *c);

/*
 * For tests only (nonce exhaustion, vectors): Noise SetNonce().
 * Errors: FERRY_EINVAL.
 */
FERRY_MUST_CHECK int noise_cipher_set_nonce(struct noise_cipher *c, uint64_t n);

/* Wipe and free; NULL is a no-op. */
void noise_cipher_free(struct noise_cipher *c);

/*
 * Noise_K_25519_ChaChaPoly_SHA256, one message (-> e, es, ss): the key wrap
 * of an offline bundle (docs/formats.md).  Both static keys are known to
 * both sides in advance (pre-messages -> s, <- s).
 *
 * noise_k_seal: the sender (s_sk, s_pk) seals payload (len bytes) for the
 * recipient's static key rs_pk: out = e || enc(payload) || tag, *outlen =
 * 32 + len + 16.  e_sk is NULL (a fresh ephemeral) except for test
 * vectors.  Errors: FERRY_EINVAL, FERRY_ETOOBIG, FERRY_EPROTO (rs_pk has
 * small order), FERRY_ENOMEM, FERRY_EIO.
 *
 * noise_k_open: the recipient (s_sk, s_pk) opens msg (len bytes of outside
 * input) from the sender whose static key is rs_pk.  Errors: FERRY_EPROTO
 * (too short or long, small-order key), FERRY_ECORRUPT (wrong keys, wrong
 * prologue, damaged), FERRY_EINVAL, FERRY_ENOMEM, FERRY_EIO.
 * Every secret is wiped before either returns.
 */
FERRY_MUST_CHECK int
noise_k_seal(const uint8_t s_sk[NOISE_KEY], const uint8_t s_pk[NOISE_KEY],
	     const uint8_t rs_pk[NOISE_KEY], const uint8_t *prologue,
	     size_t plen, const uint8_t e_sk[NOISE_KEY], const uint8_t *payload,
	     size_t len, uint8_t *out, size_t cap, size_t *outlen);
FERRY_MUST_CHECK int noise_k_open(const uint8_t s_sk[NOISE_KEY],
				  const uint8_t s_pk[NOISE_KEY],
				  const uint8_t rs_pk[NOISE_KEY],
				  const uint8_t *prologue, size_t plen,
				  const uint8_t *msg, size_t len,
				  uint8_t *payload, size_t cap, size_t *outlen);

#endif
