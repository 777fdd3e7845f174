/*
 * test_transports_tcp_ids.c - CUnit tests of transports/tcp_ids.c: the
 * id set a TCP session holds (grows from 64 buckets, finds, forgets, and
 * tells a windowed id from another), the ring of custody ids replayed to
 * a peer (grows from nothing, keeps the last LINK_RECENT_MAX oldest
 * first), and page buffers whose pages really go back when idle (mincore
 * says so) and read as zeros after.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "transports/tcp_int.h"

/* Id number n: its last bytes (the bucket hash) collide every 256 ids
 * when collide is set, to exercise long chains. */
static void
mkid(uint8_t id[FERRY_ID_LEN], uint32_t n, int collide)
{
	memset(id, 0, FERRY_ID_LEN);
	id[12] = (uint8_t)(collide ? n % 256 : n);
	id[13] = collide ? 0 : (uint8_t)(n >> 8);
	id[14] = collide ? 0 : (uint8_t)(n >> 16);
	memcpy(id + 4, &n, sizeof(n));
}

static void
test_idset_grows_finds_forgets(void)
{
	struct idset *s = idset_new();
	uint8_t id[FERRY_ID_LEN];
	const uint32_t n = 100000;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(s->nb, IDSET_BUCKETS_MIN);
	for (uint32_t i = 0; i < n; i++) {
		mkid(id, i, i % 2);
		CU_ASSERT_EQUAL_FATAL(idset_add(s, id), 0);
	}
	mkid(id, 7, 1);
	CU_ASSERT_EQUAL(idset_add(s, id), 0); /* again: no second node */
	CU_ASSERT_EQUAL(s->n, n);
	CU_ASSERT(s->nb > IDSET_BUCKETS_MIN);
	CU_ASSERT(s->nb <= IDSET_BUCKETS_MAX);
	for (uint32_t i = 0; i < n; i++) {
		mkid(id, i, i % 2);
		CU_ASSERT_FATAL(idset_has(s, id));
	}
	mkid(id, n + 1, 0);
	CU_ASSERT_FALSE(idset_has(s, id));
	/* Forget every other one; "whole" ids say 2, the rest 1. */
	for (uint32_t i = 0; i < n; i += 2) {
		mkid(id, i, 0);
		idset_find(s, id)->whole = (i % 4 == 0);
		CU_ASSERT_EQUAL(idset_del(s, id), i % 4 == 0 ? 2 : 1);
		CU_ASSERT_EQUAL(idset_del(s, id), 0);
	}
	CU_ASSERT_EQUAL(s->n, n / 2);
	for (uint32_t i = 0; i < n; i++) {
		mkid(id, i, i % 2);
		CU_ASSERT_EQUAL_FATAL(idset_has(s, id), i % 2);
	}
	idset_free(s);
	idset_free(NULL);
}

static void
test_recent_grows_keeps_last_oldest_first(void)
{
	struct lpeer p;
	uint8_t id[FERRY_ID_LEN];

	memset(&p, 0, sizeof(p));
	CU_ASSERT_PTR_NULL(recent_get(&p, 0));
	for (uint32_t i = 0; i < 3; i++) {
		mkid(id, i, 0);
		recent_add(&p, id);
	}
	CU_ASSERT_EQUAL(p.nrecent, 3);
	CU_ASSERT(p.recent_cap < 64); /* a few slots, not 4,094 */
	for (uint32_t i = 0; i < 3; i++) {
		mkid(id, i, 0);
		CU_ASSERT_EQUAL(memcmp(recent_get(&p, i), id, FERRY_ID_LEN), 0);
	}
	CU_ASSERT_PTR_NULL(recent_get(&p, 3));
	/* Past several growths and then past the cap: the last ones stay,
	 * oldest first. */
	const uint32_t total = 3 * LINK_RECENT_MAX + 5;
	for (uint32_t i = 3; i < total; i++) {
		mkid(id, i, 0);
		recent_add(&p, id);
		if (i == 100) {
			CU_ASSERT_EQUAL(p.nrecent, 101);
			for (uint32_t k = 0; k <= 100; k++) {
				mkid(id, k, 0);
				CU_ASSERT_EQUAL(
				    memcmp(recent_get(&p, k), id, FERRY_ID_LEN),
				    0);
			}
		}
	}
	CU_ASSERT_EQUAL(p.nrecent, LINK_RECENT_MAX);
	CU_ASSERT_EQUAL(p.recent_cap, LINK_RECENT_MAX);
	for (uint32_t k = 0; k < LINK_RECENT_MAX; k++) {
		mkid(id, total - LINK_RECENT_MAX + k, 0);
		CU_ASSERT_EQUAL_FATAL(
		    memcmp(recent_get(&p, k), id, FERRY_ID_LEN), 0);
	}
	free(p.recent);
}

/* Resident pages of [p, p + n), by mincore(2). */
static size_t
resident(void *p, size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), np = (n + pg - 1) / pg,
	       r = 0;
	unsigned char *v = malloc(np);

	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_EQUAL_FATAL(mincore(p, n, v), 0);
	for (size_t i = 0; i < np; i++)
		r += v[i] & 1;
	free(v);
	return r;
}

static void
test_pagebuf_gives_pages_back(void)
{
	const size_t n = 2 + HOP_RECORD_MAX;
	uint8_t *p = pagebuf_new(n);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL(resident(p, n), 0);
	memset(p, 0xa5, n);
	CU_ASSERT(resident(p, n) >= n / (size_t)sysconf(_SC_PAGESIZE));
	pagebuf_idle(p, n);
	CU_ASSERT_EQUAL(resident(p, n), 0);
	/* Usable again, as zeros. */
	CU_ASSERT_EQUAL(p[0], 0);
	CU_ASSERT_EQUAL(p[n - 1], 0);
	p[100] = 1;
	CU_ASSERT_EQUAL(p[100], 1);
	pagebuf_free(p, n);
	pagebuf_free(NULL, n);
	pagebuf_idle(NULL, n);
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("tcp_ids", NULL, NULL);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_idset_grows_finds_forgets);
	TEST_ADD(s, test_recent_grows_keeps_last_oldest_first);
	TEST_ADD(s, test_pagebuf_gives_pages_back);
}

int
main(void)
{
	return test_main("test_transports_tcp_ids", add_suites);
}
