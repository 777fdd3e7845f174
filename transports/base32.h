/*
 * base32.h - RFC 4648 section 6 base32 without padding, written in lower
 * case and read in either case.  Private to transports/ (cards and
 * fingerprints of transports/identity.c); other rooms use identity.h.
 */
#ifndef FERRY_BASE32_H
#define FERRY_BASE32_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_err.h"

/* Characters that encode n bytes (no padding), for constant n. */
#define BASE32_ENC_LEN(n) (((n)*8 + 4) / 5)

/*
 * Encode len bytes of in as lowercase base32 into out, NUL-terminated.
 * Errors: FERRY_EINVAL if cap is below BASE32_ENC_LEN(len) + 1.
 */
FERRY_MUST_CHECK int base32_encode(const uint8_t *in, size_t len, char *out,
				   size_t cap);

/* Number of leading characters of in[0..len) that are base32 letters. */
size_t base32_span(const char *in, size_t len);

/*
 * Decode exactly len characters of in (no padding, either case) into out
 * and set *outlen.  Strict, so that every string has at most one meaning:
 * refuses characters outside the alphabet (also '='), lengths no encoder
 * produces (len % 8 of 1, 3 or 6) and non-zero bits after the last byte.
 * Errors: FERRY_EINVAL for those, FERRY_ETOOBIG if cap is too small.
 */
FERRY_MUST_CHECK int base32_decode(const char *in, size_t len, uint8_t *out,
				   size_t cap, size_t *outlen);

#endif
