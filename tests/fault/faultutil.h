/*
 * faultutil.h - what the store fault tests (crash_store, diskfull_store)
 * share: a seeded generator, big-endian fields of the test's message ids,
 * and payloads computed from an id, so a checker can verify any byte of a
 * message without having kept it.
 */
#ifndef FERRY_FAULTUTIL_H
#define FERRY_FAULTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_msg.h"

/* The splitmix64 finaliser: a well-mixed 64-bit function of x. */
uint64_t fault_mix64(uint64_t x);
/* splitmix64: the choices of a test, reproducible from a seed. */
uint64_t fault_rng_next(uint64_t *s);

void fault_put_be32(uint8_t *p, uint32_t v);
uint32_t fault_get_be32(const uint8_t *p);

/* Both tests put the payload length at bytes 8..11 of their ids. */
uint32_t fault_id_len(const uint8_t id[FERRY_ID_LEN]);
/* The id in hex, in a static buffer (the next call overwrites it). */
const char *fault_id_hex(const uint8_t id[FERRY_ID_LEN]);

/* The seed of a message's payload, from its id. */
uint64_t fault_payload_key(const uint8_t id[FERRY_ID_LEN]);
/* Bytes [off, off + n) of the payload of the message keyed key. */
void fault_payload_fill(uint64_t key, uint64_t off, uint8_t *buf, size_t n);

/* Counts a failure in *failures and, for the first max_lines, prints it on
 * stdout: "FAIL: WHERE: id ID: " (no id part when id is NULL), then fmt;
 * after the last one printed, a line saying the rest are only counted. */
void fault_vfail(unsigned *failures, unsigned max_lines, const char *where,
		 const uint8_t *id, const char *fmt, va_list ap);

#endif /* FERRY_FAULTUTIL_H */
