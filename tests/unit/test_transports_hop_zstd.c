/*
 * test_transports_hop_zstd.c - CUnit tests of CHUNKZ (transports/hop_zstd.c
 * and its layout decoder in hop.c, docs/hop.md 4.8): round trips, the
 * sender's "does not pay" and "does not fit", the pre-check that spares
 * zstd small random inputs, and hostile frames: a zstd
 * frame whose content size lies about orig_len, a bomb (declared small,
 * decompresses big: stops at orig_len), two frames in one, garbage, and
 * every truncation (exact-size heap copies, so ASan sees over-reads).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/testutil.h"
#include "transports/hop.h"

static uint8_t rec[HOP_PLAIN_MAX];
static uint8_t text[HOP_ZORIG_MAX];
static const uint8_t id[FERRY_ID_LEN] = {1, 2,	3,  4,	5,  6,	7,  8,
					 9, 10, 11, 12, 13, 14, 15, 16};

/* n bytes of log lines: they compress to about a quarter. */
static void
fill_text(uint8_t *p, size_t n)
{
	size_t off = 0;
	unsigned i = 0;
	char line[128];

	while (off < n) {
		int k = snprintf(line, sizeof(line),
				 "%u,1764924%06u.%03u,sensor-%03u,%u.%03u,ok\n",
				 i, i * 7 % 999983, i * 13 % 1000, i * 31 % 64,
				 18 + i % 5, i * 97 % 1000);
		size_t take = (size_t)k < n - off ? (size_t)k : n - off;
		memcpy(p + off, line, take);
		off += take;
		i++;
	}
}

/* xorshift bytes: do not compress. */
static void
fill_random(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		p[i] = (uint8_t)seed;
	}
}

/* One CHUNKZ of text[0..n) at offset into rec; its record length. */
static size_t
make_frame(struct hop_zstd *z, uint64_t offset, size_t n)
{
	struct hop_rbuf b;
	size_t len = 0;
	int rc;

	hop_rbuf_init(&b, rec, sizeof(rec));
	rc = hop_put_chunkz(&b, z, 3, id, offset, text, n, HOP_PLAIN_MAX);
	CU_ASSERT(rc > 0);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), 0);
	return len;
}

/* Walk rec[0..len) (an exact-size copy) as one CHUNKZ and open it. */
static int
open_frame(struct hop_zstd *z, const uint8_t *r, size_t len,
	   struct hop_chunk *out, const char **why)
{
	uint8_t *copy = malloc(len);
	struct hop_frame f;
	struct hop_chunkz cz;
	size_t off = 0;
	int rc;

	CU_ASSERT_FATAL(copy != NULL);
	memcpy(copy, r, len);
	rc = hop_record_next(copy, len, &off, &f);
	if (rc != 1) {
		free(copy);
		return rc == 0 ? FERRY_EPROTO : rc;
	}
	rc = hop_chunkz_decode(&f, &cz, why);
	if (rc == 0)
		rc = hop_chunkz_inflate(z, &cz, out, why);
	/* out->data points into z, not into the copy. */
	free(copy);
	return rc;
}

static void
test_chunkz_round_trip(void)
{
	struct hop_zstd *z = hop_zstd_new();
	struct hop_chunk c;
	const char *why = NULL;
	size_t sizes[] = {1, 128, 65491, HOP_ZORIG_MAX};

	CU_ASSERT_FATAL(z != NULL);
	fill_text(text, sizeof(text));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = make_frame(z, 1000 * i, sizes[i]);
		CU_ASSERT_EQUAL(rec[0], HOP_CHUNKZ);
		if (sizes[i] >= 65491)
			CU_ASSERT(len < sizes[i] / 3); /* it did compress */
		CU_ASSERT_EQUAL_FATAL(open_frame(z, rec, len, &c, &why), 0);
		CU_ASSERT_EQUAL(c.offset, 1000 * i);
		CU_ASSERT_EQUAL(c.len, sizes[i]);
		CU_ASSERT(memcmp(c.id, id, FERRY_ID_LEN) == 0);
		CU_ASSERT(memcmp(c.data, text, sizes[i]) == 0);
	}
	/* Idle gives the contexts back; the next use makes them again. */
	hop_zstd_idle(z);
	CU_ASSERT_EQUAL(open_frame(z, rec, make_frame(z, 5, 4096), &c, &why),
			0);
	CU_ASSERT_EQUAL(c.len, 4096);
	hop_zstd_free(z);
	hop_zstd_free(NULL);
}

/* Random bytes do not shrink to 90 %: nothing is written, err stays 0,
 * and the record goes on (a plain CHUNK fits after). */
static void
test_chunkz_does_not_pay(void)
{
	struct hop_zstd *z = hop_zstd_new();
	struct hop_rbuf b;
	uint8_t buf[70000];
	size_t len = 1;

	fill_random(buf, sizeof(buf), 7);
	hop_rbuf_init(&b, rec, sizeof(rec));
	CU_ASSERT_EQUAL(hop_put_chunkz(&b, z, 3, id, 0, buf, 60000, 54000), 0);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(b.err, 0);
	CU_ASSERT_EQUAL(hop_put_chunk(&b, id, 0, buf, 100), 100);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), 0);
	CU_ASSERT_EQUAL(len, HOP_FRAME_HDR + HOP_CHUNK_HDR + 100);
	hop_zstd_free(z);
}

/* The pre-check that spares zstd small inputs of nearly uniform bytes:
 * random ones are declined without a try (a frame would not pay anyway),
 * anything with a skewed histogram is tried and compresses; inputs too
 * small for the estimate, too big to need it, or a max_zlen an entropy
 * coder could meet are always tried. */
static void
test_chunkz_hopeless(void)
{
	struct hop_zstd *z = hop_zstd_new();
	struct hop_rbuf b;
	uint8_t buf[20000];
	int declined = 0;

	for (uint32_t seed = 1; seed <= 200; seed++) {
		fill_random(buf, 1024, seed * 2654435761u);
		declined += hop_zstd_hopeless(buf, 1024, 921);
	}
	CU_ASSERT_EQUAL(declined, 200);
	fill_random(buf, sizeof(buf), 5);
	CU_ASSERT_EQUAL(hop_zstd_hopeless(buf, 255, 229), 0);
	CU_ASSERT_EQUAL(hop_zstd_hopeless(buf, 16385, 14746), 0);
	CU_ASSERT_EQUAL(hop_zstd_hopeless(buf, 4096, 3943), 0);
	CU_ASSERT_EQUAL(hop_zstd_hopeless(buf, 4096, 3686), 1);
	hop_rbuf_init(&b, rec, sizeof(rec));
	CU_ASSERT_EQUAL(hop_put_chunkz(&b, z, 3, id, 0, buf, 1024, 921), 0);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(b.err, 0);
	/* Text, and 64 random bytes repeated: skewed histograms, tried. */
	fill_text(text, 1024);
	CU_ASSERT_EQUAL(hop_zstd_hopeless(text, 1024, 921), 0);
	CU_ASSERT(hop_put_chunkz(&b, z, 3, id, 0, text, 1024, 921) > 0);
	for (size_t i = 64; i < 1024; i++)
		buf[i] = buf[i % 64];
	CU_ASSERT_EQUAL(hop_zstd_hopeless(buf, 1024, 921), 0);
	CU_ASSERT(hop_put_chunkz(&b, z, 3, id, 1024, buf, 1024, 921) > 0);
	hop_zstd_free(z);
}

/* Text that compresses, but not into a small record: 0, nothing written;
 * and out-of-range lengths are a caller's bug (sticky EINVAL). */
static void
test_chunkz_does_not_fit(void)
{
	struct hop_zstd *z = hop_zstd_new();
	struct hop_rbuf b;

	fill_text(text, sizeof(text));
	hop_rbuf_init(&b, rec, 2048);
	CU_ASSERT_EQUAL(
	    hop_put_chunkz(&b, z, 3, id, 0, text, HOP_ZORIG_MAX, 1 << 20), 0);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(b.err, 0);
	CU_ASSERT_EQUAL(hop_put_chunkz(&b, z, 3, id, 0, text, 0, 1000),
			FERRY_EINVAL);
	hop_rbuf_init(&b, rec, sizeof(rec));
	CU_ASSERT_EQUAL(
	    hop_put_chunkz(&b, z, 3, id, 0, text, HOP_ZORIG_MAX + 1, 1 << 20),
	    FERRY_EINVAL);
	hop_rbuf_init(&b, rec, sizeof(rec));
	CU_ASSERT_EQUAL(
	    hop_put_chunkz(&b, z, 3, id, UINT64_MAX - 5, text, 10, 1 << 20),
	    FERRY_EINVAL);
	hop_zstd_free(z);
}

/* Where a zstd frame keeps its content size (RFC 8878 3.1.1.1), and how
 * many bytes it takes; 0 when absent. */
static size_t
fcs_at(const uint8_t *zf, size_t *size)
{
	uint8_t fhd = zf[4];
	unsigned flag = fhd >> 6, single = (fhd >> 5) & 1;
	size_t did[] = {0, 1, 2, 4}, fcs[] = {0, 2, 4, 8};

	*size = flag == 0 ? (single ? 1 : 0) : fcs[flag];
	return 5 + (single ? 0 : 1) + did[fhd & 3];
}

static void
put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

struct zcase {
	const char *label;
	size_t orig;	  /* bytes compressed */
	uint32_t set_len; /* CHUNKZ orig_len written over it, 0: keep */
	uint64_t set_fcs; /* zstd content size written over it, 0: keep */
	const char *want; /* the reason */
};

static void
test_chunkz_hostile(void)
{
	static const struct zcase cases[] = {
	    {"orig_len says less than the frame", 4096, 1000, 0,
	     "CHUNKZ zstd frame size is not orig_len"},
	    {"orig_len says more than the frame", 4096, 8192, 0,
	     "CHUNKZ zstd frame size is not orig_len"},
	    {"orig_len 0", 4096, 0xffffffffu, 0,
	     "CHUNKZ original length out of range"},
	    /* A bomb: 256 KiB of text that says it is 1,000 bytes, and a
	     * CHUNKZ that agrees: decompression stops at 1,000. */
	    {"bomb: frame and orig_len both lie", HOP_ZORIG_MAX, 1000, 1000,
	     "CHUNKZ zstd frame does not decompress"},
	    {"frame says fewer bytes than it holds", 4096, 4000, 4000,
	     "CHUNKZ zstd frame does not decompress"},
	};
	struct hop_zstd *z = hop_zstd_new();
	struct hop_chunk c;

	fill_text(text, sizeof(text));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct zcase *k = &cases[i];
		const char *why = NULL;
		size_t len = make_frame(z, 0, k->orig), fsz;
		uint8_t *zf = rec + HOP_FRAME_HDR + HOP_CHUNKZ_HDR;
		uint32_t olen = k->set_len == 0xffffffffu ? 0 : k->set_len;

		if (k->set_len != 0) {
			/* orig_len, u32be after id and offset */
			uint8_t *p = rec + HOP_FRAME_HDR + FERRY_ID_LEN + 8;
			p[0] = (uint8_t)(olen >> 24);
			p[1] = (uint8_t)(olen >> 16);
			p[2] = (uint8_t)(olen >> 8);
			p[3] = (uint8_t)olen;
		}
		if (k->set_fcs != 0) {
			size_t at = fcs_at(zf, &fsz);
			CU_ASSERT_FATAL(fsz == 2 || fsz == 4 || fsz == 8);
			/* a 2-byte field holds the size - 256 */
			put_le(zf + at, k->set_fcs - (fsz == 2 ? 256 : 0), fsz);
		}
		int rc = open_frame(z, rec, len, &c, &why);
		if (rc != FERRY_EPROTO || why == NULL ||
		    strcmp(why, k->want) != 0)
			fprintf(stderr, "case '%s': rc %d, why '%s'\n",
				k->label, rc, why ? why : "(null)");
		CU_ASSERT_EQUAL(rc, FERRY_EPROTO);
		CU_ASSERT(why != NULL && strcmp(why, k->want) == 0);
	}
	/* The context is fine for the next frame after each failure. */
	size_t len = make_frame(z, 0, 4096);
	const char *why = NULL;
	CU_ASSERT_EQUAL(open_frame(z, rec, len, &c, &why), 0);
	hop_zstd_free(z);
}

/* Two frames where one belongs; garbage; no content size. */
static void
test_chunkz_not_one_frame(void)
{
	struct hop_zstd *z = hop_zstd_new();
	struct hop_chunk c;
	const char *why = NULL;
	uint8_t two[HOP_PLAIN_MAX];
	size_t len, zlen;

	fill_text(text, sizeof(text));
	len = make_frame(z, 0, 2048);
	zlen = len - HOP_FRAME_HDR - HOP_CHUNKZ_HDR;
	/* The same frame twice: 4,096 bytes, declared as 2,048 twice. */
	memcpy(two, rec, len);
	memcpy(two + len, rec + HOP_FRAME_HDR + HOP_CHUNKZ_HDR, zlen);
	two[1] = 0;
	two[2] = (uint8_t)((HOP_CHUNKZ_HDR + 2 * zlen) >> 8);
	two[3] = (uint8_t)(HOP_CHUNKZ_HDR + 2 * zlen);
	CU_ASSERT_EQUAL(open_frame(z, two, len + zlen, &c, &why), FERRY_EPROTO);
	CU_ASSERT_STRING_EQUAL(why, "CHUNKZ holds other than one zstd frame");
	/* Garbage after a valid header. */
	memcpy(two, rec, len);
	fill_random(two + HOP_FRAME_HDR + HOP_CHUNKZ_HDR, zlen, 3);
	CU_ASSERT_EQUAL(open_frame(z, two, len, &c, &why), FERRY_EPROTO);
	/* No bytes at all after the fields. */
	memcpy(two, rec, HOP_FRAME_HDR + HOP_CHUNKZ_HDR);
	two[1] = 0;
	two[2] = 0;
	two[3] = HOP_CHUNKZ_HDR;
	CU_ASSERT_EQUAL(
	    open_frame(z, two, HOP_FRAME_HDR + HOP_CHUNKZ_HDR, &c, &why),
	    FERRY_EPROTO);
	CU_ASSERT_STRING_EQUAL(why, "CHUNKZ without bytes");
	/* Every truncation of a good frame is refused, never over-read. */
	for (size_t cut = 1; cut < len; cut++) {
		uint8_t *copy = malloc(cut + 1);
		struct hop_frame f;
		struct hop_chunkz cz;
		size_t off = 0;
		int rc;

		memcpy(copy, rec, cut);
		if (cut >= HOP_FRAME_HDR) {
			/* The frame header agrees with the cut length. */
			size_t body = cut - HOP_FRAME_HDR;
			copy[1] = (uint8_t)(body >> 16);
			copy[2] = (uint8_t)(body >> 8);
			copy[3] = (uint8_t)body;
		}
		rc = hop_record_next(copy, cut, &off, &f);
		if (rc == 1 && (rc = hop_chunkz_decode(&f, &cz, &why)) == 0)
			rc = hop_chunkz_inflate(z, &cz, &c, &why);
		CU_ASSERT(rc != 0 && rc != 1);
		free(copy);
	}
	hop_zstd_free(z);
}

/* Threads share the few compression contexts (more threads than the
 * pool holds: some wait); each opens what it made. */
static void *
pool_worker(void *arg)
{
	static uint8_t recs[8][HOP_PLAIN_MAX];
	uint8_t *r = recs[(size_t)arg];
	struct hop_zstd *z = hop_zstd_new();
	long bad = 0;

	for (int i = 0; i < 50 && z != NULL; i++) {
		struct hop_rbuf b;
		struct hop_frame f;
		struct hop_chunkz cz;
		struct hop_chunk c;
		size_t len = 0, off = 0, n = 4096 + 1000 * (size_t)arg;

		hop_rbuf_init(&b, r, HOP_PLAIN_MAX);
		if (hop_put_chunkz(&b, z, 3, id, (uint64_t)i, text, n,
				   HOP_PLAIN_MAX) <= 0 ||
		    hop_rbuf_end(&b, &len) != 0 ||
		    hop_record_next(r, len, &off, &f) != 1 ||
		    hop_chunkz_decode(&f, &cz, NULL) != 0 ||
		    hop_chunkz_inflate(z, &cz, &c, NULL) != 0 || c.len != n ||
		    memcmp(c.data, text, n) != 0)
			bad++;
	}
	hop_zstd_free(z);
	return (void *)bad;
}

static void
test_chunkz_shared_contexts(void)
{
	pthread_t t[8];

	fill_text(text, sizeof(text));
	for (size_t i = 0; i < 8; i++)
		CU_ASSERT_FATAL(
		    pthread_create(&t[i], NULL, pool_worker, (void *)i) == 0);
	for (size_t i = 0; i < 8; i++) {
		void *bad = NULL;
		CU_ASSERT_FATAL(pthread_join(t[i], &bad) == 0);
		CU_ASSERT_PTR_NULL(bad);
	}
	hop_zstd_shutdown();
}

static void
test_hello_features_round_trip(void)
{
	struct hop_hello h = {.version = 1,
			      .max_record = 65535,
			      .keepalive_ms = 30000,
			      .clock_ms = 12345,
			      .features = HOP_FEAT_CHUNKZ},
			 got;
	struct hop_rbuf b;
	struct hop_frame f;
	size_t len = 0, off = 0;
	const char *why = NULL;

	strcpy(h.node, "alpha");
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_hello(&b, &h);
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	CU_ASSERT_EQUAL_FATAL(hop_record_next(rec, len, &off, &f), 1);
	CU_ASSERT_EQUAL_FATAL(hop_hello_decode(&f, &got, &why), 0);
	CU_ASSERT_EQUAL(got.features, HOP_FEAT_CHUNKZ);
	/* Without features (an older peer): 0, and the field is left out. */
	h.features = 0;
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_hello(&b, &h);
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	off = 0;
	CU_ASSERT_EQUAL_FATAL(hop_record_next(rec, len, &off, &f), 1);
	CU_ASSERT_EQUAL_FATAL(hop_hello_decode(&f, &got, &why), 0);
	CU_ASSERT_EQUAL(got.features, 0);
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("transports_hop_zstd", NULL, NULL);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_chunkz_round_trip);
	TEST_ADD(s, test_chunkz_does_not_pay);
	TEST_ADD(s, test_chunkz_hopeless);
	TEST_ADD(s, test_chunkz_does_not_fit);
	TEST_ADD(s, test_chunkz_hostile);
	TEST_ADD(s, test_chunkz_not_one_frame);
	TEST_ADD(s, test_chunkz_shared_contexts);
	TEST_ADD(s, test_hello_features_round_trip);
}

int
main(void)
{
	int rc = test_main("test_transports_hop_zstd", add_suites);

	hop_zstd_shutdown();
	return rc;
}
