/*
 * chachapoly.c - RFC 8439 ChaCha20-Poly1305, and libsodium's secretstream
 * (a bundle's body), through libcrypto, else libsodium (chachapoly.h).
 * A crypto file: sodium.h and openssl/ allowed.
 *
 * Why libcrypto: every byte of a TCP session is sealed once and opened
 * once, on the session's one sending and one receiving thread, and the
 * receiving thread bounds a big message's transfer.  On this project's
 * test machines (2 vCPUs, AMD EPYC with AVX-512) libsodium 1.0.18 seals
 * 64 KiB records at about 1.3 GB/s, OpenSSL 3.0 at about 4.4 GB/s; the
 * AEAD is the same standard construction, byte for byte.
 */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "lib/ferry_err.h"
#include "transports/chachapoly.h"

_Static_assert(CHACHAPOLY_KEY == crypto_aead_chacha20poly1305_ietf_KEYBYTES &&
		   CHACHAPOLY_NONCE ==
		       crypto_aead_chacha20poly1305_ietf_NPUBBYTES &&
		   CHACHAPOLY_TAG == crypto_aead_chacha20poly1305_ietf_ABYTES,
	       "RFC 8439 sizes");

static pthread_once_t cp_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *cp_cipher; /* NULL: libcrypto has none */
static int cp_use = 1;

static void
cp_fetch(void)
{
	cp_cipher = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
}

static const EVP_CIPHER *
cp_evp(void)
{
	(void)pthread_once(&cp_once, cp_fetch);
	return __atomic_load_n(&cp_use, __ATOMIC_RELAXED) ? cp_cipher : NULL;
}

void
chachapoly_use_libcrypto(int yes)
{
	__atomic_store_n(&cp_use, yes != 0, __ATOMIC_RELAXED);
}

const char *
chachapoly_impl(void)
{
	return cp_evp() != NULL ? "libcrypto" : "libsodium";
}

/* One EVP pass: 1 done, 0 the library failed (or, opening, the tag did
 * not verify). */
static int
evp_run(const EVP_CIPHER *ci, int enc, const uint8_t *k, const uint8_t *nonce,
	const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
	uint8_t *out, uint8_t tag[CHACHAPOLY_TAG])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int ok, n = 0, n2 = 0;

	if (ctx == NULL)
		return 0;
	ok = EVP_CipherInit_ex2(ctx, ci, k, nonce, enc, NULL) == 1 &&
	     (adlen == 0 ||
	      EVP_CipherUpdate(ctx, NULL, &n, ad, (int)adlen) == 1) &&
	     (len == 0 || EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1) &&
	     (len == 0 || (size_t)n == len) &&
	     (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG,
					 CHACHAPOLY_TAG, tag) == 1) &&
	     EVP_CipherFinal_ex(ctx, out + len, &n2) == 1 && n2 == 0 &&
	     (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
					  CHACHAPOLY_TAG, tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		ERR_clear_error(); /* the thread's queue: nothing reads it */
	return ok;
}

int
chachapoly_seal(const uint8_t k[CHACHAPOLY_KEY],
		const uint8_t nonce[CHACHAPOLY_NONCE], const uint8_t *ad,
		size_t adlen, const uint8_t *pt, size_t len, uint8_t *out)
{
	const EVP_CIPHER *ci = cp_evp();
	unsigned long long clen = 0;

	if (len > INT_MAX - CHACHAPOLY_TAG || adlen > INT_MAX)
		return FERRY_EINVAL;
	if (ci != NULL)
		return evp_run(ci, 1, k, nonce, ad, adlen, pt, len, out,
			       out + len)
			   ? 0
			   : FERRY_EINVAL;
	if (crypto_aead_chacha20poly1305_ietf_encrypt(
		out, &clen, pt, len, ad, adlen, NULL, nonce, k) != 0 ||
	    clen != (unsigned long long)len + CHACHAPOLY_TAG)
		return FERRY_EINVAL;
	return 0;
}

int
chachapoly_open(const uint8_t k[CHACHAPOLY_KEY],
		const uint8_t nonce[CHACHAPOLY_NONCE], const uint8_t *ad,
		size_t adlen, const uint8_t *ct, size_t len, uint8_t *out)
{
	const EVP_CIPHER *ci = cp_evp();
	unsigned long long mlen = 0;
	uint8_t tag[CHACHAPOLY_TAG];
	int ok;

	if (len < CHACHAPOLY_TAG || len > INT_MAX || adlen > INT_MAX)
		return FERRY_ECORRUPT;
	if (ci != NULL) {
		/* The tag first: out may overlap ct. */
		memcpy(tag, ct + len - CHACHAPOLY_TAG, CHACHAPOLY_TAG);
		ok = evp_run(ci, 0, k, nonce, ad, adlen, ct,
			     len - CHACHAPOLY_TAG, out, tag);
	} else {
		ok = crypto_aead_chacha20poly1305_ietf_decrypt(
			 out, &mlen, NULL, ct, len, ad, adlen, nonce, k) == 0 &&
		     mlen == (unsigned long long)len - CHACHAPOLY_TAG;
	}
	if (!ok) {
		/* libcrypto writes the plaintext before it checks the tag. */
		if (len > CHACHAPOLY_TAG)
			sodium_memzero(out, len - CHACHAPOLY_TAG);
		return FERRY_ECORRUPT;
	}
	return 0;
}

/* ------------------------------------------------------- secretstream */

#define SS_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SS_CTR	  4u /* the state's nonce: a 32-bit counter, then */
#define SS_INONCE 8u /* an inner nonce */

_Static_assert(
    SS_ABYTES == 1 + CHACHAPOLY_TAG &&
	sizeof(((crypto_secretstream_xchacha20poly1305_state *)0)->nonce) ==
	    CHACHAPOLY_NONCE &&
	sizeof(((crypto_secretstream_xchacha20poly1305_state *)0)->k) ==
	    CHACHAPOLY_KEY &&
	SS_CTR + SS_INONCE == CHACHAPOLY_NONCE,
    "libsodium's secretstream layout");

/* Plaintext of the keystream blocks, and the MAC's pads. */
static const uint8_t ss_zeros[64];

/* Raw ChaCha20 and Poly1305, fetched once; NULL: libsodium does it. */
static pthread_once_t ss_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *ss_chacha;
static EVP_MAC *ss_poly;

static void
ss_fetch(void)
{
	ss_chacha = EVP_CIPHER_fetch(NULL, "ChaCha20", NULL);
	ss_poly = EVP_MAC_fetch(NULL, "POLY1305", NULL);
	if (ss_chacha == NULL || ss_poly == NULL) {
		EVP_CIPHER_free(ss_chacha);
		EVP_MAC_free(ss_poly);
		ss_chacha = NULL;
		ss_poly = NULL;
		ERR_clear_error();
	}
}

static int
ss_evp(void)
{
	(void)pthread_once(&ss_once, ss_fetch);
	return ss_chacha != NULL && __atomic_load_n(&cp_use, __ATOMIC_RELAXED);
}

/* After a message: as libsodium's push and pull leave the state. */
static void
ss_next(crypto_secretstream_xchacha20poly1305_state *s,
	const uint8_t mac[CHACHAPOLY_TAG], uint8_t tag)
{
	for (size_t i = 0; i < SS_INONCE; i++)
		s->nonce[SS_CTR + i] ^= mac[i];
	sodium_increment(s->nonce, SS_CTR);
	if ((tag & crypto_secretstream_xchacha20poly1305_TAG_REKEY) != 0 ||
	    sodium_is_zero(s->nonce, SS_CTR))
		crypto_secretstream_xchacha20poly1305_rekey(s);
}

/* The keystream from counter 0 of the state's key and nonce: an EVP
 * ChaCha20 context (its IV is the counter, then the nonce), or NULL. */
static EVP_CIPHER_CTX *
ss_stream(const crypto_secretstream_xchacha20poly1305_state *s)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t iv[16];

	memset(iv, 0, SS_CTR);
	memcpy(iv + SS_CTR, s->nonce, CHACHAPOLY_NONCE);
	if (ctx != NULL &&
	    EVP_CipherInit_ex2(ctx, ss_chacha, s->k, iv, 1, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* n bytes of in XOR the stream into out: 1, or 0 on a library failure. */
static int
ss_xor(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t n)
{
	int got = 0;

	return n == 0 || (EVP_CipherUpdate(ctx, out, &got, in, (int)n) == 1 &&
			  (size_t)got == n);
}

/*
 * libsodium's MAC of a message: Poly1305 (key: the first 32 bytes of the
 * stream, block0) over ad, zeros to a multiple of 16, the tag block's 64
 * ciphertext bytes, the message's c, then (mlen & 15) zeros -- not the
 * pad to 16 that RFC 8439 has, which is why a secretstream message is
 * not simply that AEAD -- and the two lengths, 64-bit little-endian.
 */
static int
ss_mac(const uint8_t block0[64], const uint8_t *ad, size_t adlen,
       const uint8_t cblock[64], const uint8_t *c, size_t mlen,
       uint8_t mac[CHACHAPOLY_TAG])
{
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(ss_poly);
	uint8_t lens[16];
	size_t outl = 0;
	int ok;

	for (size_t i = 0; i < 8; i++) {
		lens[i] = (uint8_t)((uint64_t)adlen >> (8 * i));
		lens[8 + i] = (uint8_t)((64 + (uint64_t)mlen) >> (8 * i));
	}
	ok = ctx != NULL && EVP_MAC_init(ctx, block0, 32, NULL) == 1 &&
	     (adlen == 0 || EVP_MAC_update(ctx, ad, adlen) == 1) &&
	     EVP_MAC_update(ctx, ss_zeros, (0x10 - adlen) & 0xf) == 1 &&
	     EVP_MAC_update(ctx, cblock, 64) == 1 &&
	     (mlen == 0 || EVP_MAC_update(ctx, c, mlen) == 1) &&
	     EVP_MAC_update(ctx, ss_zeros, (0x10 - 64 + mlen) & 0xf) == 1 &&
	     EVP_MAC_update(ctx, lens, sizeof(lens)) == 1 &&
	     EVP_MAC_final(ctx, mac, &outl, CHACHAPOLY_TAG) == 1 &&
	     outl == CHACHAPOLY_TAG;
	EVP_MAC_CTX_free(ctx);
	return ok;
}

int
chachapoly_stream_push(crypto_secretstream_xchacha20poly1305_state *s,
		       uint8_t *out, const uint8_t *m, size_t len,
		       const uint8_t *ad, size_t adlen, uint8_t tag)
{
	uint8_t block0[64], block[64], cblock[64], mac[CHACHAPOLY_TAG];
	unsigned long long clen = 0;
	EVP_CIPHER_CTX *ctx;
	int ok;

	if (s == NULL || out == NULL || (len > 0 && m == NULL) ||
	    (adlen > 0 && ad == NULL) || len > INT_MAX - SS_ABYTES)
		return FERRY_EINVAL;
	if (!ss_evp())
		return crypto_secretstream_xchacha20poly1305_push(
			   s, out, &clen, m, len, ad, adlen, tag) == 0 &&
			       clen == (unsigned long long)len + SS_ABYTES
			   ? 0
			   : FERRY_EINVAL;
	memset(block, 0, sizeof(block));
	block[0] = tag;
	ctx = ss_stream(s);
	ok = ctx != NULL && ss_xor(ctx, block0, ss_zeros, 64) &&
	     ss_xor(ctx, cblock, block, 64) && ss_xor(ctx, out + 1, m, len) &&
	     ss_mac(block0, ad, adlen, cblock, out + 1, len, mac);
	EVP_CIPHER_CTX_free(ctx);
	sodium_memzero(block0, sizeof(block0));
	if (!ok) {
		ERR_clear_error();
		return FERRY_EINVAL;
	}
	out[0] = cblock[0];
	memcpy(out + 1 + len, mac, CHACHAPOLY_TAG);
	ss_next(s, mac, tag);
	return 0;
}

int
chachapoly_stream_pull(crypto_secretstream_xchacha20poly1305_state *s,
		       uint8_t *out, uint8_t *tag, const uint8_t *c, size_t len,
		       const uint8_t *ad, size_t adlen)
{
	uint8_t block0[64], cblock[64], mac[CHACHAPOLY_TAG], t = 0;
	unsigned long long mlen = 0;
	EVP_CIPHER_CTX *ctx;
	size_t plen;
	int ok;

	if (s == NULL || tag == NULL || c == NULL || len < SS_ABYTES ||
	    (adlen > 0 && ad == NULL) || len > INT_MAX)
		return FERRY_ECORRUPT;
	plen = len - SS_ABYTES;
	if (!ss_evp()) {
		if (crypto_secretstream_xchacha20poly1305_pull(
			s, out, &mlen, tag, c, len, ad, adlen) == 0 &&
		    mlen == (unsigned long long)plen)
			return 0;
		if (plen > 0)
			sodium_memzero(out, plen);
		return FERRY_ECORRUPT;
	}
	/* The tag block's ciphertext as the sender's MAC covered it: its
	 * first byte as sent, the rest the keystream (zeros encrypted).
	 * The MAC is checked before anything is decrypted. */
	ctx = ss_stream(s);
	ok = ctx != NULL && ss_xor(ctx, block0, ss_zeros, 64) &&
	     ss_xor(ctx, cblock, ss_zeros, 64);
	if (ok) {
		t = (uint8_t)(cblock[0] ^ c[0]);
		cblock[0] = c[0];
		ok = ss_mac(block0, ad, adlen, cblock, c + 1, plen, mac) &&
		     CRYPTO_memcmp(mac, c + 1 + plen, CHACHAPOLY_TAG) == 0 &&
		     ss_xor(ctx, out, c + 1, plen);
	}
	EVP_CIPHER_CTX_free(ctx);
	sodium_memzero(block0, sizeof(block0));
	if (!ok) {
		ERR_clear_error();
		if (plen > 0)
			sodium_memzero(out, plen);
		return FERRY_ECORRUPT;
	}
	*tag = t;
	ss_next(s, mac, t);
	return 0;
}
