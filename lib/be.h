/*
 * be.h - big-endian (network order) integers in byte buffers: the one
 * copy every codec and key layout uses (frames, hop records, bundles, the
 * store's keys).
 *
 * ferry_put_beN(p, v) writes the low N bits of v to p[0..N/8-1], most
 * significant byte first; ferry_get_beN(p) reads them back.  p needs no
 * alignment.  The caller checks that the buffer holds N/8 bytes.
 */
#ifndef FERRY_BE_H
#define FERRY_BE_H

#include <stdint.h>

static inline uint16_t
ferry_get_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t
ferry_get_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static inline uint32_t
ferry_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
ferry_get_be64(const uint8_t *p)
{
	return (uint64_t)ferry_get_be32(p) << 32 | ferry_get_be32(p + 4);
}

static inline void
ferry_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
ferry_put_be24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

static inline void
ferry_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
ferry_put_be64(uint8_t *p, uint64_t v)
{
	ferry_put_be32(p, (uint32_t)(v >> 32));
	ferry_put_be32(p + 4, (uint32_t)v);
}

#endif
