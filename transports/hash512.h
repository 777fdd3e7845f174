/*
 * hash512.h - streaming BLAKE2b-512 (unkeyed, RFC 7693) for bulk data:
 * the digest a bundle's signature covers (docs/formats.md 1.4).
 *
 * The digest is the one libsodium's crypto_generichash(64 bytes, no key)
 * gives; the bytes are hashed by libcrypto (OpenSSL 3), whose BLAKE2b runs
 * at about twice libsodium's speed on x86-64 (docs/formats.md 1.4 has the
 * figures).  Where libcrypto has no BLAKE2b (a provider configuration
 * without it), libsodium hashes: same digest, slower.
 */
#ifndef FERRY_TRANSPORTS_HASH512_H
#define FERRY_TRANSPORTS_HASH512_H

#include <stddef.h>
#include <stdint.h>

#define HASH512_LEN 64u

struct hash512;

/* A new hash; 0, FERRY_ENOMEM.  use_libcrypto = 0 forces libsodium's
 * (tests compare the two). */
int hash512_new(int use_libcrypto, struct hash512 **out);
/* 0, or FERRY_EINVAL when the library fails (then the hash is dead). */
int hash512_update(struct hash512 *h, const void *p, size_t n);
/* The digest of everything updated; the hash cannot be updated after. */
int hash512_final(struct hash512 *h, uint8_t out[HASH512_LEN]);
/* Which library hashes: "libcrypto" or "libsodium". */
const char *hash512_impl(const struct hash512 *h);
void hash512_free(struct hash512 *h);

#endif
