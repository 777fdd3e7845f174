/*
 * chachapoly.h - the ChaCha20-Poly1305 AEAD of RFC 8439 (96-bit nonce),
 * Noise's ENCRYPT and DECRYPT (docs/noise.md); and libsodium's
 * secretstream, a bundle's body (docs/formats.md 1.3).
 *
 * The bytes are those of libsodium's crypto_aead_chacha20poly1305_ietf_*;
 * libcrypto (OpenSSL 3) computes them, about three times as fast on
 * x86-64 with AVX-512 (docs/noise.md has the figures).  Where libcrypto has
 * no ChaCha20-Poly1305 (a provider configuration without it), libsodium
 * does: same bytes, slower.
 */
#ifndef FERRY_TRANSPORTS_CHACHAPOLY_H
#define FERRY_TRANSPORTS_CHACHAPOLY_H

#include <stddef.h>
#include <stdint.h>

#define CHACHAPOLY_KEY	 32u
#define CHACHAPOLY_NONCE 12u
#define CHACHAPOLY_TAG	 16u

/* Which library: 1 libcrypto (the default where it can), 0 libsodium.
 * For tests and benchmarks, which compare the two; not thread-safe
 * against concurrent seals and opens. */
void chachapoly_use_libcrypto(int yes);
/* "libcrypto" or "libsodium": what the next call will use. */
const char *chachapoly_impl(void);

/* out gets len + CHACHAPOLY_TAG bytes (out may be pt); 0 or FERRY_EINVAL
 * (a library failure, or len past INT_MAX - CHACHAPOLY_TAG). */
int chachapoly_seal(const uint8_t k[CHACHAPOLY_KEY],
		    const uint8_t nonce[CHACHAPOLY_NONCE], const uint8_t *ad,
		    size_t adlen, const uint8_t *pt, size_t len, uint8_t *out);
/* out gets len - CHACHAPOLY_TAG bytes (out may be ct); 0, or
 * FERRY_ECORRUPT when the tag does not verify (out is then zeroed). */
int chachapoly_open(const uint8_t k[CHACHAPOLY_KEY],
		    const uint8_t nonce[CHACHAPOLY_NONCE], const uint8_t *ad,
		    size_t adlen, const uint8_t *ct, size_t len, uint8_t *out);

/*
 * libsodium's crypto_secretstream_xchacha20poly1305 (a bundle's body,
 * docs/formats.md): push and pull with the same state, bytes and rules
 * as crypto_secretstream_xchacha20poly1305_push/_pull, which init_push,
 * init_pull and rekey still set up.  Each message is one RFC 8439 AEAD
 * (key s->k, nonce s->nonce, ad) of a 64-byte block holding the tag then
 * the message: of the block's ciphertext only its first byte is sent.
 * The state then moves on as libsodium's does (the MAC into the inner
 * nonce, the counter up, a rekey on TAG_REKEY or a wrapped counter).
 *
 * push: out gets len + crypto_secretstream_xchacha20poly1305_ABYTES
 * bytes (out must not overlap m); 0 or FERRY_EINVAL.
 * pull: out gets len - ABYTES bytes, *tag the tag; 0, or FERRY_ECORRUPT
 * when it does not authenticate (out zeroed, the state unchanged).
 */
struct crypto_secretstream_xchacha20poly1305_state;
int
chachapoly_stream_push(struct crypto_secretstream_xchacha20poly1305_state *s,
		       uint8_t *out, const uint8_t *m, size_t len,
		       const uint8_t *ad, size_t adlen, uint8_t tag);
int
chachapoly_stream_pull(struct crypto_secretstream_xchacha20poly1305_state *s,
		       uint8_t *out, uint8_t *tag, const uint8_t *c, size_t len,
		       const uint8_t *ad, size_t adlen);

#endif
