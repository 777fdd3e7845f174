/*
 * noise.c - Noise_IK_25519_ChaChaPoly_SHA256 handshakes and transport
 * ciphers (Noise spec rev 34; DESIGN.md section 9, docs/noise.md).
 *
 * Owns the handshake state and the two CipherStates a handshake splits into.
 * Every secret (static and ephemeral keys, chaining key, cipher keys, DH
 * results, HKDF outputs and the HMAC state that holds them) lives inside the
 * one sodium_malloc() block of its object, so nothing secret is left on the
 * stack; the blocks are wiped on every failure and on free.  Does no I/O,
 * no framing and no logging, and does not decide whom to trust: the caller
 * looks up the remote static key.
 *
 * The spec's objects map onto this file as follows:
 *   CipherState (5.1)    - the k/n/has_key fields of struct noise_hs during
 *                          the handshake, struct noise_cipher afterwards;
 *   SymmetricState (5.2) - ck and h of struct noise_hs, noise_mix_hash(),
 *                          noise_mix_key(), noise_encrypt_and_hash(),
 *                          noise_decrypt_and_hash(), noise_hs_split();
 *   HandshakeState (5.3) - struct noise_hs, noise_hs_write(), noise_hs_read()
 *                          with the IK pattern (7.5) written out in
 *                          noise_write_msg1() ... noise_read_msg2().
 * Functions (spec 4, 12): DH = crypto_scalarmult (X25519; an all-zero result,
 * which libsodium also reports as -1, refuses the handshake), ENCRYPT =
 * ChaCha20-Poly1305 of RFC 8439 (chachapoly.c: libcrypto's, else
 * libsodium's crypto_aead_chacha20poly1305_ietf) with a 96-bit nonce of 32
 * zero bits and the 64-bit counter little-endian (12.3), HASH =
 * crypto_hash_sha256,
 * HMAC-HASH = crypto_auth_hmacsha256 and HKDF as in spec 4.3.
 *
 * Handshake steps (field step; the function that moves along each arrow):
 *
 *   initiator: WRITE1 --noise_hs_write--> READ2 --noise_hs_read--> DONE
 *   responder: READ1 --noise_hs_read--> WRITE2 --noise_hs_write--> DONE
 *   DONE --noise_hs_split--> SPLIT
 *   any step --a failed call (noise_hs_kill)--> DEAD
 *
 * Invariants:
 *   1. In DEAD and SPLIT every byte of the block but step is zero, and
 *      every call but noise_hs_free returns FERRY_ESTATE.
 *   2. The static and ephemeral secrets are wiped as soon as message 2 is
 *      done (DONE keeps only ck and h).
 *   3. A CipherState never uses nonce 2^64-1 for a message (spec 5.1): it
 *      is reserved for Rekey().
 *   4. A failed decryption leaves the nonce where it was and the output
 *      buffer zeroed.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "transports/chachapoly.h"
#include "transports/noise.h"

#define NOISE_PROTOCOL_NAME "Noise_IK_25519_ChaChaPoly_SHA256"
#define NOISE_NONCE_MAX	    UINT64_MAX /* reserved for Rekey() */

/* The name is exactly HASHLEN bytes, so h starts as the name (spec 5.2). */
_Static_assert(sizeof(NOISE_PROTOCOL_NAME) - 1 == crypto_hash_sha256_BYTES,
	       "protocol name must be HASHLEN bytes");
_Static_assert(NOISE_KEY == crypto_scalarmult_BYTES &&
		   NOISE_KEY == crypto_scalarmult_SCALARBYTES &&
		   NOISE_KEY == CHACHAPOLY_KEY &&
		   NOISE_KEY == crypto_auth_hmacsha256_BYTES,
	       "key sizes");
_Static_assert(NOISE_TAG == CHACHAPOLY_TAG, "tag size");
_Static_assert(CHACHAPOLY_NONCE == 12, "nonce size");

enum noise_step {
	NOISE_STEP_DEAD = 0, /* a zeroed block is dead (invariant 1) */
	NOISE_STEP_WRITE1,   /* initiator, fresh */
	NOISE_STEP_READ1,    /* responder, fresh */
	NOISE_STEP_READ2,    /* initiator, message 1 written */
	NOISE_STEP_WRITE2,   /* responder, message 1 read */
	NOISE_STEP_DONE,     /* message 2 done: split allowed */
	NOISE_STEP_SPLIT,    /* split: nothing left */
};

struct noise_hs {
	enum noise_step step;
	int initiator;
	int e_set;   /* e_sk/e_pk hold an ephemeral pair */
	int rs_set;  /* rs holds the remote static key */
	int has_key; /* the handshake CipherState has a key */
	uint64_t n;
	uint8_t k[NOISE_KEY];
	uint8_t ck[NOISE_KEY];
	uint8_t h[NOISE_KEY];
	uint8_t s_sk[NOISE_KEY];
	uint8_t s_pk[NOISE_KEY];
	uint8_t e_sk[NOISE_KEY];
	uint8_t e_pk[NOISE_KEY];
	uint8_t rs[NOISE_KEY];
	uint8_t re[NOISE_KEY];
	/* scratch for secrets in flight, so that none lands on the stack */
	uint8_t dh[NOISE_KEY];
	uint8_t temp_key[NOISE_KEY];
	uint8_t out1[NOISE_KEY];
	uint8_t out2[NOISE_KEY];
	crypto_auth_hmacsha256_state hmac;
	crypto_hash_sha256_state sha;
};

struct noise_cipher {
	uint64_t n;
	uint8_t k[NOISE_KEY];
	uint8_t scratch[NOISE_KEY + NOISE_TAG]; /* Rekey() output */
};

/* ---------------------------------------------------------- primitives */

/* Noise's ChaChaPoly nonce: 32 zero bits, then n little-endian (12.3). */
static void
noise_nonce_bytes(uint8_t out[12], uint64_t n)
{
	memset(out, 0, 4);
	for (int i = 0; i < 8; i++)
		out[4 + i] = (uint8_t)(n >> (8 * i));
}

/* ENCRYPT(k, n, ad, pt): out gets len + NOISE_TAG bytes. */
static int
noise_seal(const uint8_t k[NOISE_KEY], uint64_t n, const uint8_t *ad,
	   size_t adlen, const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t nonce[CHACHAPOLY_NONCE];

	noise_nonce_bytes(nonce, n);
	return chachapoly_seal(k, nonce, ad, adlen, pt, len, out);
}

/* DECRYPT(k, n, ad, ct): out gets len - NOISE_TAG bytes, zeroed on error. */
static int
noise_open(const uint8_t k[NOISE_KEY], uint64_t n, const uint8_t *ad,
	   size_t adlen, const uint8_t *ct, size_t len, uint8_t *out)
{
	uint8_t nonce[CHACHAPOLY_NONCE];

	noise_nonce_bytes(nonce, n);
	return chachapoly_open(k, nonce, ad, adlen, ct, len, out);
}

/* HMAC-HASH(key, a || b) into out; the state is wiped afterwards. */
static int
noise_hmac(crypto_auth_hmacsha256_state *st, const uint8_t key[NOISE_KEY],
	   const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
	   uint8_t out[NOISE_KEY])
{
	int rc = 0;

	if (crypto_auth_hmacsha256_init(st, key, NOISE_KEY) != 0 ||
	    crypto_auth_hmacsha256_update(st, a, alen) != 0 ||
	    crypto_auth_hmacsha256_update(st, b, blen) != 0 ||
	    crypto_auth_hmacsha256_final(st, out) != 0)
		rc = FERRY_EINVAL;
	sodium_memzero(st, sizeof(*st));
	return rc;
}

/*
 * HKDF(ck, ikm, 2) (spec 4.3) into hs->out1, hs->out2:
 * temp_key = HMAC(ck, ikm), out1 = HMAC(temp_key, 0x01),
 * out2 = HMAC(temp_key, out1 || 0x02).
 */
static int
noise_hkdf2(struct noise_hs *hs, const uint8_t *ikm, size_t ikmlen)
{
	static const uint8_t one = 0x01, two = 0x02;
	int rc;

	if ((rc = noise_hmac(&hs->hmac, hs->ck, ikm, ikmlen, NULL, 0,
			     hs->temp_key)) != 0 ||
	    (rc = noise_hmac(&hs->hmac, hs->temp_key, &one, 1, NULL, 0,
			     hs->out1)) != 0 ||
	    (rc = noise_hmac(&hs->hmac, hs->temp_key, hs->out1, NOISE_KEY, &two,
			     1, hs->out2)) != 0) {
		sodium_memzero(hs->temp_key, sizeof(hs->temp_key));
		return rc;
	}
	sodium_memzero(hs->temp_key, sizeof(hs->temp_key));
	return 0;
}

/* ------------------------------------------------------ SymmetricState */

/* MixHash(data): h = HASH(h || data). */
static int
noise_mix_hash(struct noise_hs *hs, const uint8_t *data, size_t len)
{
	int rc = 0;

	if (crypto_hash_sha256_init(&hs->sha) != 0 ||
	    crypto_hash_sha256_update(&hs->sha, hs->h, NOISE_KEY) != 0 ||
	    crypto_hash_sha256_update(&hs->sha, data, len) != 0 ||
	    crypto_hash_sha256_final(&hs->sha, hs->h) != 0)
		rc = FERRY_EINVAL;
	sodium_memzero(&hs->sha, sizeof(hs->sha));
	return rc;
}

/* MixKey(ikm): ck, k = HKDF(ck, ikm, 2); n = 0. */
static int
noise_mix_key(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	int rc = noise_hkdf2(hs, ikm, len);

	if (rc == 0) {
		memcpy(hs->ck, hs->out1, NOISE_KEY);
		memcpy(hs->k, hs->out2, NOISE_KEY);
		hs->n = 0;
		hs->has_key = 1;
	}
	sodium_memzero(hs->out1, sizeof(hs->out1));
	sodium_memzero(hs->out2, sizeof(hs->out2));
	return rc;
}

/*
 * MixKey(DH(sk, pk)).  The result of a public key of small order is all
 * zero (libsodium returns -1 for it); either way the handshake is refused,
 * as the spec allows (12.1) and DESIGN.md requires.
 */
static int
noise_mix_dh(struct noise_hs *hs, const uint8_t sk[NOISE_KEY],
	     const uint8_t pk[NOISE_KEY])
{
	int rc;

	if (crypto_scalarmult(hs->dh, sk, pk) != 0 ||
	    sodium_is_zero(hs->dh, sizeof(hs->dh))) {
		sodium_memzero(hs->dh, sizeof(hs->dh));
		return FERRY_EPROTO;
	}
	rc = noise_mix_key(hs, hs->dh, sizeof(hs->dh));
	sodium_memzero(hs->dh, sizeof(hs->dh));
	return rc;
}

/* EncryptAndHash(pt) into out (len + NOISE_TAG bytes once keyed). */
static int
noise_encrypt_and_hash(struct noise_hs *hs, const uint8_t *pt, size_t len,
		       uint8_t *out, size_t *outlen)
{
	int rc;

	if (!hs->has_key) {
		if (len > 0)
			memmove(out, pt, len);
		*outlen = len;
		return noise_mix_hash(hs, out, len);
	}
	if (hs->n == NOISE_NONCE_MAX)
		return FERRY_ESTATE;
	if ((rc = noise_seal(hs->k, hs->n, hs->h, NOISE_KEY, pt, len, out)) !=
	    0)
		return rc;
	hs->n++;
	*outlen = len + NOISE_TAG;
	return noise_mix_hash(hs, out, *outlen);
}

/* DecryptAndHash(ct) into out (len - NOISE_TAG bytes once keyed). */
static int
noise_decrypt_and_hash(struct noise_hs *hs, const uint8_t *ct, size_t len,
		       uint8_t *out)
{
	int rc;

	if (!hs->has_key) {
		if (len > 0)
			memmove(out, ct, len);
		return noise_mix_hash(hs, ct, len);
	}
	if (len < NOISE_TAG)
		return FERRY_EPROTO;
	if (hs->n == NOISE_NONCE_MAX)
		return FERRY_ESTATE;
	if ((rc = noise_open(hs->k, hs->n, hs->h, NOISE_KEY, ct, len, out)) !=
	    0)
		return rc;
	hs->n++;
	return noise_mix_hash(hs, ct, len);
}

/* ------------------------------------------------------ HandshakeState */

/* A failed step: wipe everything, leave the state dead (invariant 1). */
static void
noise_hs_kill(struct noise_hs *hs)
{
	sodium_memzero(hs, sizeof(*hs));
	hs->step = NOISE_STEP_DEAD;
}

/* Message 2 is done: only ck and h are needed from here (invariant 2). */
static void
noise_hs_finish(struct noise_hs *hs)
{
	sodium_memzero(hs->s_sk, sizeof(hs->s_sk));
	sodium_memzero(hs->e_sk, sizeof(hs->e_sk));
	sodium_memzero(hs->k, sizeof(hs->k));
	hs->has_key = 0;
	hs->e_set = 0;
	hs->step = NOISE_STEP_DONE;
}

/* Token e on the writing side: draw (or take the fixed) pair, send e.pk. */
static int
noise_write_e(struct noise_hs *hs, uint8_t out[NOISE_KEY])
{
	if (!hs->e_set) {
		randombytes_buf(hs->e_sk, sizeof(hs->e_sk));
		if (crypto_scalarmult_base(hs->e_pk, hs->e_sk) != 0)
			return FERRY_EINVAL;
		hs->e_set = 1;
	}
	memcpy(out, hs->e_pk, NOISE_KEY);
	return noise_mix_hash(hs, hs->e_pk, NOISE_KEY);
}

/* -> e, es, s, ss, then the payload. */
static int
noise_write_msg1(struct noise_hs *hs, const uint8_t *payload, size_t plen,
		 uint8_t *out, size_t *outlen)
{
	size_t n = 0;
	int rc;

	if ((rc = noise_write_e(hs, out)) != 0 ||
	    (rc = noise_mix_dh(hs, hs->e_sk, hs->rs)) != 0 ||
	    (rc = noise_encrypt_and_hash(hs, hs->s_pk, NOISE_KEY,
					 out + NOISE_KEY, &n)) != 0)
		return rc;
	if (n != NOISE_KEY + NOISE_TAG)
		return FERRY_ESTATE;
	if ((rc = noise_mix_dh(hs, hs->s_sk, hs->rs)) != 0 ||
	    (rc = noise_encrypt_and_hash(hs, payload, plen, out + NOISE_KEY + n,
					 &n)) != 0)
		return rc;
	*outlen = NOISE_IK_MSG1_LEN - NOISE_TAG + n;
	return 0;
}

/* <- e, ee, se, then the payload. */
static int
noise_write_msg2(struct noise_hs *hs, const uint8_t *payload, size_t plen,
		 uint8_t *out, size_t *outlen)
{
	size_t n = 0;
	int rc;

	if ((rc = noise_write_e(hs, out)) != 0 ||
	    (rc = noise_mix_dh(hs, hs->e_sk, hs->re)) != 0 ||
	    (rc = noise_mix_dh(hs, hs->e_sk, hs->rs)) != 0 ||
	    (rc = noise_encrypt_and_hash(hs, payload, plen, out + NOISE_KEY,
					 &n)) != 0)
		return rc;
	*outlen = NOISE_KEY + n;
	return 0;
}

/* Read side of -> e, es, s, ss (msg at least NOISE_IK_MSG1_LEN bytes). */
static int
noise_read_msg1(struct noise_hs *hs, const uint8_t *msg, size_t len,
		uint8_t *payload)
{
	const uint8_t *p = msg;
	int rc;

	memcpy(hs->re, p, NOISE_KEY);
	p += NOISE_KEY;
	if ((rc = noise_mix_hash(hs, hs->re, NOISE_KEY)) != 0 ||
	    (rc = noise_mix_dh(hs, hs->s_sk, hs->re)) != 0 ||
	    (rc = noise_decrypt_and_hash(hs, p, NOISE_KEY + NOISE_TAG,
					 hs->rs)) != 0)
		return rc;
	p += NOISE_KEY + NOISE_TAG;
	hs->rs_set = 1;
	if ((rc = noise_mix_dh(hs, hs->s_sk, hs->rs)) != 0)
		return rc;
	return noise_decrypt_and_hash(hs, p, len - (size_t)(p - msg), payload);
}

/* Read side of <- e, ee, se (msg at least NOISE_IK_MSG2_LEN bytes). */
static int
noise_read_msg2(struct noise_hs *hs, const uint8_t *msg, size_t len,
		uint8_t *payload)
{
	int rc;

	memcpy(hs->re, msg, NOISE_KEY);
	if ((rc = noise_mix_hash(hs, hs->re, NOISE_KEY)) != 0 ||
	    (rc = noise_mix_dh(hs, hs->e_sk, hs->re)) != 0 ||
	    (rc = noise_mix_dh(hs, hs->s_sk, hs->re)) != 0)
		return rc;
	return noise_decrypt_and_hash(hs, msg + NOISE_KEY, len - NOISE_KEY,
				      payload);
}

static int
noise_hs_new(int initiator, const uint8_t *s_sk, const uint8_t *s_pk,
	     const uint8_t *rs_pk, const uint8_t *prologue, size_t plen,
	     struct noise_hs **out)
{
	struct noise_hs *hs = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || s_sk == NULL || s_pk == NULL ||
	    (initiator && rs_pk == NULL) || (prologue == NULL && plen > 0))
		return FERRY_EINVAL;
	if (sodium_init() < 0)
		return FERRY_EIO;
	hs = sodium_malloc(sizeof(*hs));
	if (hs == NULL)
		return FERRY_ENOMEM;
	sodium_memzero(hs, sizeof(*hs));
	memcpy(hs->s_sk, s_sk, NOISE_KEY);
	memcpy(hs->s_pk, s_pk, NOISE_KEY);
	/* A static pair that does not match would fail only at the peer. */
	if (crypto_scalarmult_base(hs->dh, hs->s_sk) != 0 ||
	    sodium_memcmp(hs->dh, hs->s_pk, NOISE_KEY) != 0) {
		rc = FERRY_EINVAL;
		goto out;
	}
	sodium_memzero(hs->dh, sizeof(hs->dh));
	hs->initiator = initiator;
	/* InitializeSymmetric: h = name (HASHLEN bytes), ck = h, k empty. */
	memcpy(hs->h, NOISE_PROTOCOL_NAME, NOISE_KEY);
	memcpy(hs->ck, hs->h, NOISE_KEY);
	if ((rc = noise_mix_hash(hs, prologue, plen)) != 0)
		goto out;
	/* Pre-message of IK: <- s. */
	if (initiator) {
		memcpy(hs->rs, rs_pk, NOISE_KEY);
		hs->rs_set = 1;
		rc = noise_mix_hash(hs, hs->rs, NOISE_KEY);
	} else {
		rc = noise_mix_hash(hs, hs->s_pk, NOISE_KEY);
	}
	if (rc != 0)
		goto out;
	hs->step = initiator ? NOISE_STEP_WRITE1 : NOISE_STEP_READ1;
	*out = hs;
	hs = NULL;
out:
	noise_hs_free(hs);
	return rc;
}

int
noise_ik_initiator_new(const uint8_t s_sk[NOISE_KEY],
		       const uint8_t s_pk[NOISE_KEY],
		       const uint8_t rs_pk[NOISE_KEY], const uint8_t *prologue,
		       size_t plen, struct noise_hs **out)
{
	return noise_hs_new(1, s_sk, s_pk, rs_pk, prologue, plen, out);
}

int
noise_ik_responder_new(const uint8_t s_sk[NOISE_KEY],
		       const uint8_t s_pk[NOISE_KEY], const uint8_t *prologue,
		       size_t plen, struct noise_hs **out)
{
	return noise_hs_new(0, s_sk, s_pk, NULL, prologue, plen, out);
}

int
noise_hs_set_ephemeral(struct noise_hs *hs, const uint8_t e_sk[NOISE_KEY])
{
	if (hs == NULL)
		return FERRY_EINVAL;
	if (e_sk == NULL) {
		noise_hs_kill(hs);
		return FERRY_EINVAL;
	}
	if (hs->step != NOISE_STEP_WRITE1 && hs->step != NOISE_STEP_READ1 &&
	    hs->step != NOISE_STEP_WRITE2) {
		noise_hs_kill(hs);
		return FERRY_ESTATE;
	}
	memcpy(hs->e_sk, e_sk, NOISE_KEY);
	if (crypto_scalarmult_base(hs->e_pk, hs->e_sk) != 0) {
		noise_hs_kill(hs);
		return FERRY_EINVAL;
	}
	hs->e_set = 1;
	return 0;
}

int
noise_hs_write(struct noise_hs *hs, const uint8_t *payload, size_t plen,
	       uint8_t *out, size_t cap, size_t *outlen)
{
	size_t overhead = 0;
	int rc;

	if (hs == NULL)
		return FERRY_EINVAL;
	if (hs->step != NOISE_STEP_WRITE1 && hs->step != NOISE_STEP_WRITE2) {
		rc = FERRY_ESTATE;
		goto fail;
	}
	overhead = hs->step == NOISE_STEP_WRITE1 ? NOISE_IK_MSG1_LEN
						 : NOISE_IK_MSG2_LEN;
	if (out == NULL || outlen == NULL || (payload == NULL && plen > 0)) {
		rc = FERRY_EINVAL;
		goto fail;
	}
	if (plen > NOISE_MAX_MSG - overhead) {
		rc = FERRY_ETOOBIG;
		goto fail;
	}
	if (cap < overhead + plen) {
		rc = FERRY_EINVAL;
		goto fail;
	}
	if (hs->step == NOISE_STEP_WRITE1)
		rc = noise_write_msg1(hs, payload, plen, out, outlen);
	else
		rc = noise_write_msg2(hs, payload, plen, out, outlen);
	if (rc != 0) {
		sodium_memzero(out, overhead + plen); /* half a message */
		goto fail;
	}
	if (hs->step == NOISE_STEP_WRITE1)
		hs->step = NOISE_STEP_READ2;
	else
		noise_hs_finish(hs);
	return 0;
fail:
	noise_hs_kill(hs);
	return rc;
}

int
noise_hs_read(struct noise_hs *hs, const uint8_t *msg, size_t len,
	      uint8_t *payload, size_t cap, size_t *plen)
{
	size_t overhead = 0;
	int rc;

	if (hs == NULL)
		return FERRY_EINVAL;
	if (hs->step != NOISE_STEP_READ1 && hs->step != NOISE_STEP_READ2) {
		rc = FERRY_ESTATE;
		goto fail;
	}
	overhead = hs->step == NOISE_STEP_READ1 ? NOISE_IK_MSG1_LEN
						: NOISE_IK_MSG2_LEN;
	if (msg == NULL || plen == NULL || (payload == NULL && cap > 0)) {
		rc = FERRY_EINVAL;
		goto fail;
	}
	/* Outside bytes: lengths first (spec 3: at most 65535 bytes). */
	if (len < overhead || len > NOISE_MAX_MSG) {
		rc = FERRY_EPROTO;
		goto fail;
	}
	if (cap < len - overhead) {
		rc = FERRY_EINVAL;
		goto fail;
	}
	if (hs->step == NOISE_STEP_READ1)
		rc = noise_read_msg1(hs, msg, len, payload);
	else
		rc = noise_read_msg2(hs, msg, len, payload);
	if (rc != 0) {
		if (len > overhead)
			sodium_memzero(payload, len - overhead);
		goto fail;
	}
	*plen = len - overhead;
	if (hs->step == NOISE_STEP_READ1)
		hs->step = NOISE_STEP_WRITE2;
	else
		noise_hs_finish(hs);
	return 0;
fail:
	noise_hs_kill(hs);
	return rc;
}

int
noise_hs_remote_static(const struct noise_hs *hs, uint8_t rs_pk[NOISE_KEY])
{
	if (hs == NULL || rs_pk == NULL)
		return FERRY_EINVAL;
	if (!hs->rs_set || hs->step == NOISE_STEP_DEAD ||
	    hs->step == NOISE_STEP_SPLIT)
		return FERRY_ESTATE;
	memcpy(rs_pk, hs->rs, NOISE_KEY);
	return 0;
}

static struct noise_cipher *
noise_cipher_new(const uint8_t k[NOISE_KEY])
{
	struct noise_cipher *c = sodium_malloc(sizeof(*c));

	if (c == NULL)
		return NULL;
	sodium_memzero(c, sizeof(*c));
	memcpy(c->k, k, NOISE_KEY);
	return c;
}

int
noise_hs_split(struct noise_hs *hs, struct noise_cipher **send,
	       struct noise_cipher **recv, uint8_t h[NOISE_KEY])
{
	struct noise_cipher *c1 = NULL, *c2 = NULL;
	int rc;

	if (send != NULL)
		*send = NULL;
	if (recv != NULL)
		*recv = NULL;
	if (hs == NULL)
		return FERRY_EINVAL;
	if (hs->step != NOISE_STEP_DONE) {
		rc = FERRY_ESTATE;
		goto out;
	}
	if (send == NULL || recv == NULL) {
		rc = FERRY_EINVAL;
		goto out;
	}
	/* Split(): k1, k2 = HKDF(ck, zerolen, 2) (spec 5.2). */
	if ((rc = noise_hkdf2(hs, NULL, 0)) != 0)
		goto out;
	c1 = noise_cipher_new(hs->out1);
	c2 = noise_cipher_new(hs->out2);
	if (c1 == NULL || c2 == NULL) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	if (h != NULL)
		memcpy(h, hs->h, NOISE_KEY);
	*send = hs->initiator ? c1 : c2;
	*recv = hs->initiator ? c2 : c1;
	c1 = c2 = NULL;
	rc = 0;
out:
	noise_cipher_free(c1);
	noise_cipher_free(c2);
	noise_hs_kill(hs);
	if (rc == 0)
		hs->step = NOISE_STEP_SPLIT;
	return rc;
}

void
noise_hs_free(struct noise_hs *hs)
{
	if (hs == NULL)
		return;
	sodium_memzero(hs, sizeof(*hs));
	sodium_free(hs);
}

/* ---------------------------------------------------- transport ciphers */

int
noise_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
	      const uint8_t *pt, size_t len, uint8_t *out, size_t cap,
	      size_t *outlen)
{
	int rc;

	if (c == NULL || out == NULL || outlen == NULL ||
	    (pt == NULL && len > 0) || (ad == NULL && adlen > 0))
		return FERRY_EINVAL;
	if (len > NOISE_MAX_MSG - NOISE_TAG)
		return FERRY_ETOOBIG;
	if (cap < len + NOISE_TAG)
		return FERRY_EINVAL;
	if (c->n == NOISE_NONCE_MAX)
		return FERRY_ESTATE;
	if ((rc = noise_seal(c->k, c->n, ad, adlen, pt, len, out)) != 0)
		return rc;
	c->n++;
	*outlen = len + NOISE_TAG;
	return 0;
}

int
noise_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
	      const uint8_t *ct, size_t len, uint8_t *out, size_t cap,
	      size_t *outlen)
{
	int rc;

	if (c == NULL || ct == NULL || outlen == NULL ||
	    (ad == NULL && adlen > 0))
		return FERRY_EINVAL;
	if (len < NOISE_TAG)
		return FERRY_EPROTO;
	if (len > NOISE_MAX_MSG)
		return FERRY_ETOOBIG;
	if (cap < len - NOISE_TAG || (out == NULL && len > NOISE_TAG))
		return FERRY_EINVAL;
	if (c->n == NOISE_NONCE_MAX)
		return FERRY_ESTATE;
	if ((rc = noise_open(c->k, c->n, ad, adlen, ct, len, out)) != 0)
		return rc; /* invariant 4: n stays */
	c->n++;
	*outlen = len - NOISE_TAG;
	return 0;
}

int
noise_rekey(struct noise_cipher *c)
{
	int rc;

	if (c == NULL)
		return FERRY_EINVAL;
	/* REKEY(k) = ENCRYPT(k, maxnonce, zerolen, zeros)[:32] (spec 4.2) */
	sodium_memzero(c->scratch, sizeof(c->scratch));
	rc = noise_seal(c->k, NOISE_NONCE_MAX, NULL, 0, c->scratch, NOISE_KEY,
			c->scratch);
	if (rc == 0)
		memcpy(c->k, c->scratch, NOISE_KEY);
	sodium_memzero(c->scratch, sizeof(c->scratch));
	return rc;
}

uint64_t
noise_nonce(const struct noise_cipher *c)
{
	return c == NULL ? 0 : c->n;
}

int
noise_cipher_set_nonce(struct noise_cipher *c, uint64_t n)
{
	if (c == NULL)
		return FERRY_EINVAL;
	c->n = n;
	return 0;
}

void
noise_cipher_free(struct noise_cipher *c)
{
	if (c == NULL)
		return;
	sodium_memzero(c, sizeof(*c));
	sodium_free(c);
}

/* ------------------------------------------------------------- Noise K */

#define NOISE_K_PROTOCOL_NAME "Noise_K_25519_ChaChaPoly_SHA256"

/*
 * A K state: protocol name (31 bytes, zero-padded to HASHLEN), prologue,
 * then the pre-messages -> s (initiator's static) and <- s (responder's).
 */
static int
noise_k_start(struct noise_hs **out, const uint8_t *s_sk,
	      const uint8_t *init_pk, const uint8_t *resp_pk,
	      const uint8_t *prologue, size_t plen)
{
	struct noise_hs *hs;
	int rc;

	*out = NULL;
	if (sodium_init() < 0)
		return FERRY_EIO;
	hs = sodium_malloc(sizeof(*hs));
	if (hs == NULL)
		return FERRY_ENOMEM;
	sodium_memzero(hs, sizeof(*hs));
	memcpy(hs->s_sk, s_sk, NOISE_KEY);
	memcpy(hs->h, NOISE_K_PROTOCOL_NAME, sizeof(NOISE_K_PROTOCOL_NAME) - 1);
	memcpy(hs->ck, hs->h, NOISE_KEY);
	if ((rc = noise_mix_hash(hs, prologue, plen)) != 0 ||
	    (rc = noise_mix_hash(hs, init_pk, NOISE_KEY)) != 0 ||
	    (rc = noise_mix_hash(hs, resp_pk, NOISE_KEY)) != 0) {
		noise_hs_free(hs);
		return rc;
	}
	hs->step = NOISE_STEP_WRITE1;
	*out = hs;
	return 0;
}

int
noise_k_seal(const uint8_t s_sk[NOISE_KEY], const uint8_t s_pk[NOISE_KEY],
	     const uint8_t rs_pk[NOISE_KEY], const uint8_t *prologue,
	     size_t plen, const uint8_t e_sk[NOISE_KEY], const uint8_t *payload,
	     size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	struct noise_hs *hs = NULL;
	size_t n = 0;
	int rc;

	if (s_sk == NULL || s_pk == NULL || rs_pk == NULL || out == NULL ||
	    outlen == NULL || (prologue == NULL && plen > 0) ||
	    (payload == NULL && len > 0))
		return FERRY_EINVAL;
	if (len > NOISE_MAX_MSG - NOISE_KEY - NOISE_TAG)
		return FERRY_ETOOBIG;
	if (cap < NOISE_KEY + len + NOISE_TAG)
		return FERRY_EINVAL;
	if ((rc = noise_k_start(&hs, s_sk, s_pk, rs_pk, prologue, plen)) != 0)
		return rc;
	memcpy(hs->rs, rs_pk, NOISE_KEY);
	if (e_sk != NULL) {
		memcpy(hs->e_sk, e_sk, NOISE_KEY);
		if (crypto_scalarmult_base(hs->e_pk, hs->e_sk) != 0) {
			rc = FERRY_EINVAL;
			goto out;
		}
		hs->e_set = 1;
	}
	/* -> e, es, ss, then the payload. */
	if ((rc = noise_write_e(hs, out)) != 0 ||
	    (rc = noise_mix_dh(hs, hs->e_sk, hs->rs)) != 0 ||
	    (rc = noise_mix_dh(hs, hs->s_sk, hs->rs)) != 0 ||
	    (rc = noise_encrypt_and_hash(hs, payload, len, out + NOISE_KEY,
					 &n)) != 0)
		goto out;
	*outlen = NOISE_KEY + n;
out:
	noise_hs_free(hs);
	return rc;
}

int
noise_k_open(const uint8_t s_sk[NOISE_KEY], const uint8_t s_pk[NOISE_KEY],
	     const uint8_t rs_pk[NOISE_KEY], const uint8_t *prologue,
	     size_t plen, const uint8_t *msg, size_t len, uint8_t *payload,
	     size_t cap, size_t *outlen)
{
	struct noise_hs *hs = NULL;
	int rc;

	if (s_sk == NULL || s_pk == NULL || rs_pk == NULL || msg == NULL ||
	    outlen == NULL || (prologue == NULL && plen > 0))
		return FERRY_EINVAL;
	if (len < NOISE_KEY + NOISE_TAG || len > NOISE_MAX_MSG)
		return FERRY_EPROTO;
	if (cap < len - NOISE_KEY - NOISE_TAG || (payload == NULL && cap > 0))
		return FERRY_EINVAL;
	if ((rc = noise_k_start(&hs, s_sk, rs_pk, s_pk, prologue, plen)) != 0)
		return rc;
	memcpy(hs->rs, rs_pk, NOISE_KEY);
	memcpy(hs->re, msg, NOISE_KEY);
	if ((rc = noise_mix_hash(hs, hs->re, NOISE_KEY)) != 0 ||
	    (rc = noise_mix_dh(hs, hs->s_sk, hs->re)) != 0 ||
	    (rc = noise_mix_dh(hs, hs->s_sk, hs->rs)) != 0 ||
	    (rc = noise_decrypt_and_hash(hs, msg + NOISE_KEY, len - NOISE_KEY,
					 payload)) != 0)
		goto out;
	*outlen = len - NOISE_KEY - NOISE_TAG;
out:
	noise_hs_free(hs);
	return rc;
}
