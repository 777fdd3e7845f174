/*
 * test_seal.c - sealed payloads (agent/seal.c): round trips at chunk
 * boundaries, reading from any offset, and every kind of damage failing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <sodium.h>

#include "agent/seal.h"
#include "tests/unit/testutil.h"

static uint8_t a_sk[32], a_pk[32], b_sk[32], b_pk[32];
static const uint8_t msg_id[FERRY_ID_LEN] = {1, 2,  3,	4,  5,	6,  7,	8,
					     9, 10, 11, 12, 13, 14, 15, 16};

struct mem {
	uint8_t *p;
	size_t len, pos;
};

static int
mem_read(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	struct mem *m = arg;
	size_t k = m->len - m->pos;

	/* Short reads on purpose: the decryptor must loop. */
	if (k > cap)
		k = cap;
	if (k > 7000)
		k = 7000;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	*n = k;
	return 0;
}

static int
mem_seek(void *arg, uint64_t off)
{
	struct mem *m = arg;

	if (off > m->len)
		return FERRY_EINVAL;
	m->pos = (size_t)off;
	return 0;
}

static uint8_t *
plain_of(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	CU_ASSERT_FATAL(p != NULL);
	test_fill(msg_id, 0, p, n);
	return p;
}

/* Decrypt sealed (len bytes) from plain_off with sk; 0 and *out, or the
 * error. */
static int
unseal(const uint8_t *sk, const uint8_t *id, uint8_t *sealed, size_t len,
       uint64_t plain_off, uint8_t **out, size_t *out_len)
{
	struct mem m = {sealed, len, 0};
	struct seal_src src = {mem_read, mem_seek, &m};
	struct seal_dec *d = NULL;
	uint8_t *buf = NULL;
	size_t have = 0;
	int rc;

	*out = NULL;
	*out_len = 0;
	rc = seal_dec_open(sk, id, len, plain_off, &src, &d);
	if (rc != 0)
		return rc;
	buf = malloc(seal_dec_plain_len(d) + 1);
	CU_ASSERT_FATAL(buf != NULL);
	for (;;) {
		size_t n = 0;
		/* odd sizes, to cross chunk ends mid-read */
		rc = seal_dec_read(d, buf + have, 100003, &n);
		if (rc != 0 || n == 0)
			break;
		have += n;
		CU_ASSERT_FATAL(have <= seal_dec_plain_len(d));
	}
	seal_dec_free(d);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*out_len = have;
	return 0;
}

static void
round_trip(size_t n)
{
	uint8_t *plain = plain_of(n), *sealed = NULL, *back = NULL;
	size_t slen = 0, blen = 0;
	uint64_t pl = 0;

	CU_ASSERT_EQUAL_FATAL(
	    seal_buf(a_sk, b_pk, msg_id, plain, n, &sealed, &slen), 0);
	CU_ASSERT_EQUAL(slen, seal_sealed_len(n));
	CU_ASSERT_EQUAL(memcmp(sealed, "FSL1", 4), 0);
	CU_ASSERT_EQUAL(seal_plain_len(slen, &pl), 0);
	CU_ASSERT_EQUAL(pl, n);
	CU_ASSERT_EQUAL(unseal(b_sk, msg_id, sealed, slen, 0, &back, &blen), 0);
	CU_ASSERT_EQUAL(blen, n);
	CU_ASSERT(back != NULL && memcmp(back, plain, n) == 0);
	free(back);
	/* Not the sender's key, nor another id. */
	CU_ASSERT_EQUAL(unseal(a_sk, msg_id, sealed, slen, 0, &back, &blen),
			FERRY_ECORRUPT);
	{
		uint8_t other[FERRY_ID_LEN];
		memcpy(other, msg_id, sizeof(other));
		other[0] ^= 1;
		CU_ASSERT_EQUAL(
		    unseal(b_sk, other, sealed, slen, 0, &back, &blen),
		    FERRY_ECORRUPT);
	}
	free(sealed);
	free(plain);
}

static void
test_round_trips(void)
{
	static const size_t sizes[] = {0,     1,      65535,	      65536,
				       65537, 131072, 3 * 1048576 + 7};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		round_trip(sizes[i]);
}

/* Fed in odd pieces, the stream seals to the same bytes as seal_buf. */
struct grow {
	uint8_t *p;
	size_t len, cap;
};

static int
grow_put(void *arg, const uint8_t *p, size_t n)
{
	struct grow *g = arg;

	CU_ASSERT_FATAL(g->len + n <= g->cap);
	memcpy(g->p + g->len, p, n);
	g->len += n;
	return 0;
}

static void
test_stream_matches_whole(void)
{
	size_t n = 3 * 65536 + 99, pieces[] = {1, 65535, 70000, 3, 100000};
	uint8_t *plain = plain_of(n), *whole = NULL;
	size_t wlen = 0, off = 0, k = 0;
	struct grow g = {NULL, 0, 0};
	struct seal_enc *e = NULL;

	CU_ASSERT_EQUAL_FATAL(
	    seal_buf(a_sk, b_pk, msg_id, plain, n, &whole, &wlen), 0);
	g.cap = wlen;
	g.p = malloc(g.cap);
	CU_ASSERT_FATAL(g.p != NULL);
	CU_ASSERT_EQUAL_FATAL(seal_enc_new(a_sk, b_pk, msg_id, &e), 0);
	while (off < n) {
		size_t take = pieces[k++ % 5];
		if (take > n - off)
			take = n - off;
		CU_ASSERT_EQUAL(
		    seal_enc_update(e, plain + off, take, grow_put, &g), 0);
		off += take;
	}
	CU_ASSERT_EQUAL(seal_enc_fed(e), n);
	CU_ASSERT_EQUAL(seal_enc_final(e, grow_put, &g), 0);
	CU_ASSERT_EQUAL(seal_enc_final(e, grow_put, &g), FERRY_ESTATE);
	seal_enc_free(e);
	CU_ASSERT_EQUAL(g.len, wlen);
	CU_ASSERT(memcmp(g.p, whole, wlen) == 0);
	free(g.p);
	free(whole);
	free(plain);
}

static void
test_deterministic(void)
{
	uint8_t *plain = plain_of(1000), *s1 = NULL, *s2 = NULL, *s3 = NULL;
	size_t l1 = 0, l2 = 0, l3 = 0;
	uint8_t other[FERRY_ID_LEN];

	memcpy(other, msg_id, sizeof(other));
	other[15] ^= 0x80;
	CU_ASSERT_EQUAL(seal_buf(a_sk, b_pk, msg_id, plain, 1000, &s1, &l1), 0);
	CU_ASSERT_EQUAL(seal_buf(a_sk, b_pk, msg_id, plain, 1000, &s2, &l2), 0);
	CU_ASSERT_EQUAL(seal_buf(a_sk, b_pk, other, plain, 1000, &s3, &l3), 0);
	CU_ASSERT(l1 == l2 && memcmp(s1, s2, l1) == 0);
	/* another message: another ephemeral key */
	CU_ASSERT(l1 == l3 && memcmp(s1 + 4, s3 + 4, 32) != 0);
	free(s1);
	free(s2);
	free(s3);
	free(plain);
}

static void
test_offsets(void)
{
	size_t n = 4 * 65536 + 5;
	static const uint64_t offs[] = {
	    0,	    1,	    65535,     65536,	      65537,
	    131072, 200000, 4 * 65536, 4 * 65536 + 4, 4 * 65536 + 5};
	uint8_t *plain = plain_of(n), *sealed = NULL, *back = NULL;
	size_t slen = 0, blen = 0;

	CU_ASSERT_EQUAL_FATAL(
	    seal_buf(a_sk, b_pk, msg_id, plain, n, &sealed, &slen), 0);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		CU_ASSERT_EQUAL(
		    unseal(b_sk, msg_id, sealed, slen, offs[i], &back, &blen),
		    0);
		CU_ASSERT_EQUAL(blen, n - offs[i]);
		CU_ASSERT(back != NULL &&
			  memcmp(back, plain + offs[i], blen) == 0);
		free(back);
	}
	CU_ASSERT_EQUAL(unseal(b_sk, msg_id, sealed, slen, n + 1, &back, &blen),
			FERRY_EINVAL);
	/* An exact multiple of the chunk, read from its very end. */
	free(sealed);
	CU_ASSERT_EQUAL_FATAL(
	    seal_buf(a_sk, b_pk, msg_id, plain, 65536, &sealed, &slen), 0);
	CU_ASSERT_EQUAL(unseal(b_sk, msg_id, sealed, slen, 65536, &back, &blen),
			0);
	CU_ASSERT_EQUAL(blen, 0);
	free(back);
	free(sealed);
	free(plain);
}

static void
test_tamper(void)
{
	size_t n = 2 * 65536 + 300;
	uint8_t *plain = plain_of(n), *sealed = NULL, *back = NULL;
	size_t slen = 0, blen = 0, step;

	CU_ASSERT_EQUAL_FATAL(
	    seal_buf(a_sk, b_pk, msg_id, plain, n, &sealed, &slen), 0);
	/* Every byte of the head and of the chunk edges, a sample of the
	 * rest. */
	for (size_t i = 0; i < slen; i += step) {
		step = i < 64 || (i % (65536 + 16)) < 40 ||
			       (i % (65536 + 16)) > 65536 - 20 || i > slen - 40
			   ? 1
			   : 997;
		sealed[i] ^= 0x20;
		CU_ASSERT_EQUAL(
		    unseal(b_sk, msg_id, sealed, slen, 0, &back, &blen),
		    FERRY_ECORRUPT);
		sealed[i] ^= 0x20;
	}
	free(sealed);
	free(plain);
}

static void
test_truncate_and_reorder(void)
{
	size_t n = 3 * 65536, full = 65536 + 16;
	uint8_t *plain = plain_of(n), *sealed = NULL, *back = NULL, *tmp;
	size_t slen = 0, blen = 0;
	uint64_t pl;

	CU_ASSERT_EQUAL_FATAL(
	    seal_buf(a_sk, b_pk, msg_id, plain, n, &sealed, &slen), 0);
	/* Cut at a chunk boundary: a valid length, but no final chunk. */
	CU_ASSERT_EQUAL(seal_plain_len(slen - full, &pl), 0);
	CU_ASSERT_EQUAL(
	    unseal(b_sk, msg_id, sealed, slen - full, 0, &back, &blen),
	    FERRY_ECORRUPT);
	/* Cut anywhere else. */
	CU_ASSERT_EQUAL(unseal(b_sk, msg_id, sealed, slen - 1, 0, &back, &blen),
			FERRY_ECORRUPT);
	CU_ASSERT_EQUAL(
	    unseal(b_sk, msg_id, sealed, slen - 100, 0, &back, &blen),
	    FERRY_ECORRUPT);
	/* Chunks 0 and 1 swapped. */
	tmp = malloc(full);
	CU_ASSERT_FATAL(tmp != NULL);
	memcpy(tmp, sealed + 36, full);
	memcpy(sealed + 36, sealed + 36 + full, full);
	memcpy(sealed + 36 + full, tmp, full);
	CU_ASSERT_EQUAL(unseal(b_sk, msg_id, sealed, slen, 0, &back, &blen),
			FERRY_ECORRUPT);
	/* ... also when read from chunk 1 on */
	CU_ASSERT_EQUAL(unseal(b_sk, msg_id, sealed, slen, 65536, &back, &blen),
			FERRY_ECORRUPT);
	free(tmp);
	free(sealed);
	free(plain);
}

static void
test_lengths(void)
{
	uint64_t pl = 0;

	CU_ASSERT_EQUAL(seal_sealed_len(0), 52);
	CU_ASSERT_EQUAL(seal_sealed_len(1), 53);
	CU_ASSERT_EQUAL(seal_sealed_len(65536), 36 + 65536 + 16);
	CU_ASSERT_EQUAL(seal_sealed_len(65537), 36 + 65537 + 32);
	CU_ASSERT_EQUAL(seal_sealed_len(UINT64_MAX), 0);
	for (uint64_t n = 0; n < 300000; n += n < 70 ? 1 : 977) {
		CU_ASSERT_EQUAL(seal_plain_len(seal_sealed_len(n), &pl), 0);
		CU_ASSERT_EQUAL(pl, n);
	}
	for (uint64_t s = 0; s < 52; s++)
		CU_ASSERT_EQUAL(seal_plain_len(s, &pl), FERRY_ECORRUPT);
	/* a tag's worth after full chunks, or less than a tag */
	CU_ASSERT_EQUAL(seal_plain_len(36 + 65552 + 16, &pl), FERRY_ECORRUPT);
	CU_ASSERT_EQUAL(seal_plain_len(36 + 65552 + 15, &pl), FERRY_ECORRUPT);
	CU_ASSERT_EQUAL(seal_plain_len(36 + 65552 + 17, &pl), 0);
	CU_ASSERT_EQUAL(pl, 65537);
	CU_ASSERT_EQUAL(seal_plain_len(UINT64_MAX, &pl) == 0 ||
			    seal_plain_len(UINT64_MAX, &pl) == FERRY_ECORRUPT,
			1);
}

static void
test_bad_keys(void)
{
	uint8_t zero[32] = {0}, *out = NULL;
	struct seal_enc *e = NULL;
	size_t n = 0;

	/* A low-order point makes an all-zero shared secret. */
	CU_ASSERT_EQUAL(seal_enc_new(a_sk, zero, msg_id, &e), FERRY_EINVAL);
	CU_ASSERT(e == NULL);
	CU_ASSERT_EQUAL(seal_buf(a_sk, zero, msg_id, zero, 1, &out, &n),
			FERRY_EINVAL);
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("seal", NULL, NULL);

	if (s == NULL || sodium_init() < 0)
		abort();
	crypto_box_keypair(a_pk, a_sk);
	crypto_box_keypair(b_pk, b_sk);
	TEST_ADD(s, test_lengths);
	TEST_ADD(s, test_round_trips);
	TEST_ADD(s, test_stream_matches_whole);
	TEST_ADD(s, test_deterministic);
	TEST_ADD(s, test_offsets);
	TEST_ADD(s, test_tamper);
	TEST_ADD(s, test_truncate_and_reorder);
	TEST_ADD(s, test_bad_keys);
}

int
main(void)
{
	return test_main("test_seal", add_suites);
}
