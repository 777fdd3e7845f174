/*
 * base32.c - RFC 4648 base32 (section 6 alphabet, no padding).  Holds no
 * state and allocates nothing; see base32.h for the strictness rules.
 */
#include "config.h"

#include <stdint.h>

#include "transports/base32.h"

static const char base32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

/* Value 0..31 of a base32 letter in either case, or -1. */
static int
base32_value(char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

int
base32_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;
	size_t need;

	if (len / 5 > (SIZE_MAX - 16) / 8)
		return FERRY_EINVAL;
	need = len / 5 * 8 + (len % 5 * 8 + 4) / 5;
	if (cap <= need)
		return FERRY_EINVAL;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[n++] = base32_alphabet[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		out[n++] = base32_alphabet[(acc << (5 - bits)) & 31];
	out[n] = '\0';
	return 0;
}

size_t
base32_span(const char *in, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (base32_value(in[i]) < 0)
			break;
	return i;
}

int
base32_decode(const char *in, size_t len, uint8_t *out, size_t cap,
	      size_t *outlen)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;

	*outlen = 0;
	if (len % 8 == 1 || len % 8 == 3 || len % 8 == 6)
		return FERRY_EINVAL;
	if (len / 8 * 5 + len % 8 * 5 / 8 > cap)
		return FERRY_ETOOBIG;
	for (size_t i = 0; i < len; i++) {
		int v = base32_value(in[i]);

		if (v < 0)
			return FERRY_EINVAL;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* Fewer than 5 bits are left; an encoder leaves them zero. */
	if ((acc & ((1u << bits) - 1)) != 0)
		return FERRY_EINVAL;
	*outlen = n;
	return 0;
}
