/*
 * faultutil.c - helpers of the store fault tests: see faultutil.h.
 */
#include "config.h"

#include <stdio.h>

#include "tests/fault/faultutil.h"

uint64_t
fault_mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t
fault_rng_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ull;
	return fault_mix64(*s);
}

void
fault_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t
fault_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

uint32_t
fault_id_len(const uint8_t id[FERRY_ID_LEN])
{
	return fault_get_be32(id + 8);
}

const char *
fault_id_hex(const uint8_t id[FERRY_ID_LEN])
{
	static char hex[FERRY_ID_HEX_LEN + 1];

	ferry_id_to_hex(id, hex);
	return hex;
}

uint64_t
fault_payload_key(const uint8_t id[FERRY_ID_LEN])
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (size_t i = 0; i < FERRY_ID_LEN; i++) {
		h ^= id[i];
		h *= 0x100000001b3ull;
	}
	return fault_mix64(h);
}

void
fault_payload_fill(uint64_t key, uint64_t off, uint8_t *buf, size_t n)
{
	uint64_t word = fault_mix64(key + (off >> 3));

	for (size_t i = 0; i < n; i++) {
		uint64_t p = off + i;

		if ((p & 7) == 0)
			word = fault_mix64(key + (p >> 3));
		buf[i] = (uint8_t)(word >> (8 * (p & 7)));
	}
}

void
fault_vfail(unsigned *failures, unsigned max_lines, const char *where,
	    const uint8_t *id, const char *fmt, va_list ap)
{
	(*failures)++;
	if (*failures > max_lines)
		return;
	if (id != NULL)
		printf("FAIL: %s: id %s: ", where, fault_id_hex(id));
	else
		printf("FAIL: %s: ", where);
	vprintf(fmt, ap);
	putchar('\n');
	if (*failures == max_lines)
		printf("(further failures are counted, not printed)\n");
	fflush(stdout);
}
