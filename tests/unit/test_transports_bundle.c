/*
 * test_transports_bundle.c - CUnit tests of sealed offline bundles
 * (transports/bundle.c, docs/formats.md): round trips through a file,
 * every byte flipped and every truncation refused without handing out a
 * frame from a chunk that did not authenticate, wrong recipients and
 * senders, bundles re-signed by the wrong key or over another header,
 * chunks swapped, dropped or mis-tagged, frame streams cut or malformed,
 * header decoding, and a 64 MiB bundle read in bounded memory.
 *
 * FERRY_GEN_BUNDLE_CORPUS=dir writes the fuzz seeds instead (small valid
 * bundles from A to B, tests/fuzz/corpus/bundle); tests/fuzz/fuzz_bundle.c
 * derives the same identities from the same seeds.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tests/unit/testutil.h"
#include "transports/bundle.h"
#include "transports/hash512.h"
#include "transports/noise.h"

#define CHUNK	   4096u
#define CREATED_MS 1732550000123LL
#define OFF_SEQ	   96  /* header: sequence number */
#define OFF_SIZE   112 /* header: size */
#define OFF_BODY   (BUNDLE_HDR_LEN + BUNDLE_WRAP_LEN + BUNDLE_SS_HDR_LEN)
#define CT_LEN	   (CHUNK + BUNDLE_SS_ABYTES) /* a sealed full chunk */

/* Sender A, recipient B, third node C: fixed seeds, as in fuzz_bundle.c. */
static struct identity *ida, *idb, *idc;
static char *tmp;

/* ------------------------------------------------------------ helpers */

struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static void
bytes_add(struct bytes *b, const void *p, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (b->p == NULL)
			abort();
		b->cap = cap;
	}
	if (len > 0)
		memcpy(b->p + b->len, p, len);
	b->len += len;
}

static void
bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int
ids_init(void)
{
	uint8_t seed[IDENTITY_SEED_LEN];

	memset(seed, 'A', sizeof(seed));
	if (identity_from_seed(seed, &ida) != 0)
		return -1;
	memset(seed, 'B', sizeof(seed));
	if (identity_from_seed(seed, &idb) != 0)
		return -1;
	memset(seed, 'C', sizeof(seed));
	if (identity_from_seed(seed, &idc) != 0)
		return -1;
	return 0;
}

static void
ids_free(void)
{
	identity_free(ida);
	identity_free(idb);
	identity_free(idc);
	ida = idb = idc = NULL;
}

static void
node_id(const struct identity *id, uint8_t out[IDENTITY_NODE_ID_LEN])
{
	identity_node_id(identity_sign_pk(id), identity_kx_pk(id), out);
}

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Append the record built in b (one frame) to out. */
static void
take_rbuf(struct bytes *out, const struct hop_rbuf *b)
{
	size_t len = 0;

	if (hop_rbuf_end(b, &len) != 0)
		abort();
	bytes_add(out, b->p, len);
}

/*
 * MSG, its payload in CHUNKs of at most piece bytes, and END (unless
 * with_end is 0: the payload goes on in a later bundle).
 */
static void
add_message(struct bytes *out, uint8_t seed, size_t payload_len, size_t piece,
	    int with_end)
{
	static uint8_t rec[HOP_PLAIN_MAX];
	struct hop_rbuf b;
	struct hop_msg m;
	struct hop_end e;
	uint8_t *payload = malloc(payload_len ? payload_len : 1);

	if (payload == NULL)
		abort();
	memset(&m, 0, sizeof(m));
	ferry_msg_init(&m.msg);
	for (int i = 0; i < FERRY_ID_LEN; i++)
		m.msg.id[i] = (uint8_t)(seed + 31 * i);
	strcpy(m.msg.src_node, "field-07");
	strcpy(m.msg.dst_node, "base");
	strcpy(m.msg.dst_queue, "reports/daily");
	m.msg.created_ms = CREATED_MS - 1000;
	m.msg.payload_len = payload_len;
	m.ttl_ms = 86400000;
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, &m);
	take_rbuf(out, &b);
	test_fill(m.msg.id, 0, payload, payload_len);
	for (size_t off = 0; off < payload_len;) {
		size_t n =
		    payload_len - off < piece ? payload_len - off : piece;
		hop_rbuf_init(&b, rec, sizeof(rec));
		if (hop_put_chunk(&b, m.msg.id, off, payload + off, n) != n)
			abort();
		take_rbuf(out, &b);
		off += n;
	}
	if (with_end) {
		memset(&e, 0, sizeof(e));
		memcpy(e.id, m.msg.id, FERRY_ID_LEN);
		e.total_len = payload_len;
		crypto_generichash(e.hash, sizeof(e.hash), payload, payload_len,
				   NULL, 0);
		hop_rbuf_init(&b, rec, sizeof(rec));
		hop_put_end(&b, &e);
		take_rbuf(out, &b);
	}
	free(payload);
}

static void
add_custody(struct bytes *out, size_t n)
{
	static uint8_t rec[HOP_PLAIN_MAX];
	uint8_t ids[8 * FERRY_ID_LEN];
	struct hop_rbuf b;

	if (n > 8)
		abort();
	for (size_t i = 0; i < sizeof(ids); i++)
		ids[i] = (uint8_t)(0xc0 + i);
	hop_rbuf_init(&b, rec, sizeof(rec));
	if (hop_put_custody(&b, ids, n) != n)
		abort();
	take_rbuf(out, &b);
}

/* About 88 KiB of frames: many 4 KiB chunks, frames across chunks, one
 * frame (65,515-byte body) across 16 of them, a payload left open. */
static void
big_stream(struct bytes *out)
{
	add_message(out, 1, 20000, 6000, 1);
	add_custody(out, 3);
	add_message(out, 2, 10, 10, 1);
	add_message(out, 3, HOP_PLAIN_MAX - HOP_FRAME_HDR - HOP_CHUNK_HDR,
		    HOP_PLAIN_MAX, 1);
	add_message(out, 4, 100000, 1000, 0);
}

/* About 5 KiB: two chunks of 4 KiB, for the exhaustive tests. */
static void
small_stream(struct bytes *out)
{
	add_message(out, 5, 5000, 2000, 1);
	add_custody(out, 2);
}

/*
 * Seal plain as a bundle from -> to in a new file under tmp (put in
 * uneven pieces); returns its path (free it), fills *hdr.
 */
static char *
write_bundle(const struct identity *from, const struct identity *to,
	     uint64_t seq, uint32_t chunk, const uint8_t *plain, size_t len,
	     struct bundle_hdr *hdr)
{
	static const size_t pieces[] = {1, 4095, 4097, 3, 65536, 100000};
	uint8_t to_id[IDENTITY_NODE_ID_LEN];
	struct bundle_writer *w = NULL;
	char *path = malloc(strlen(tmp) + 16);
	size_t off = 0;
	int fd;

	if (path == NULL)
		abort();
	sprintf(path, "%s/b.XXXXXX", tmp);
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	node_id(to, to_id);
	CU_ASSERT_EQUAL_FATAL(bundle_writer_open(fd, from, to_id,
						 identity_kx_pk(to), seq,
						 CREATED_MS, chunk, &w),
			      0);
	for (size_t i = 0; off < len; i++) {
		size_t n = pieces[i % 6];
		if (n > len - off)
			n = len - off;
		CU_ASSERT_EQUAL_FATAL(bundle_writer_put(w, plain + off, n), 0);
		off += n;
	}
	CU_ASSERT_EQUAL(
	    bundle_writer_size_after(w, 0),
	    bundle_size_for(len, chunk ? chunk : BUNDLE_CHUNK_DEFAULT));
	CU_ASSERT_EQUAL_FATAL(bundle_writer_finish(w, hdr), 0);
	CU_ASSERT_EQUAL(close(fd), 0);
	return path;
}

/* The whole file (free it). */
static uint8_t *
slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY);

	CU_ASSERT_FATAL(fd >= 0 && fstat(fd, &st) == 0);
	p = malloc((size_t)st.st_size + 1);
	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_FATAL(read(fd, p, (size_t)st.st_size) == st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/* A bundle A->B of plain, in memory (free it). */
static uint8_t *
make_bundle(const struct bytes *plain, uint32_t chunk, size_t *len)
{
	char *path =
	    write_bundle(ida, idb, 5, chunk, plain->p, plain->len, NULL);
	uint8_t *p = slurp(path, len);

	unlink(path);
	free(path);
	return p;
}

struct mem_in {
	const uint8_t *p;
	size_t len, off;
	size_t step;	/* most bytes per read, 0: as asked */
	size_t fail_at; /* FERRY_EIO once off reaches it (0: never) */
};

static int
mem_read(void *arg, void *buf, size_t cap, size_t *n)
{
	struct mem_in *in = arg;
	size_t k = in->len - in->off;

	if (in->fail_at != 0 && in->off >= in->fail_at)
		return FERRY_EIO;
	if (k > cap)
		k = cap;
	if (in->step != 0 && k > in->step)
		k = in->step;
	memcpy(buf, in->p + in->off, k);
	in->off += k;
	*n = k;
	return 0;
}

static int
fd_read(void *arg, void *buf, size_t cap, size_t *n)
{
	int fd = *(int *)arg;

	for (;;) {
		ssize_t got = read(fd, buf, cap);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return FERRY_EIO;
		*n = (size_t)got;
		return 0;
	}
}

/* What one read of a bundle gave. */
struct got {
	int rc;		     /* 0: the end (signature verified); or the error */
	int stage;	     /* where it stopped: 1 open, 2 unwrap, 3 frames */
	struct bytes frames; /* the frames returned, re-encoded */
	size_t nframes;
	struct bundle_hdr hdr;
	uint64_t pos;
	char why[200];
};

static void
read_with(bundle_read_fn rd, void *arg, uint64_t file_size,
	  const struct identity *me, const uint8_t *sign_pk,
	  const uint8_t *kx_pk, struct got *g)
{
	struct bundle_reader *r = NULL;
	struct hop_frame f;
	int rc;

	memset(g, 0, sizeof(*g));
	g->stage = 1;
	rc = bundle_reader_open(rd, arg, file_size, me, &r);
	if (rc == 0) {
		g->hdr = *bundle_reader_hdr(r);
		g->stage = 2;
		rc = bundle_reader_unwrap(r, sign_pk, kx_pk);
	}
	if (rc == 0) {
		g->stage = 3;
		while ((rc = bundle_reader_frame(r, &f)) == 1) {
			uint8_t h[HOP_FRAME_HDR] = {
			    f.type, (uint8_t)(f.len >> 16),
			    (uint8_t)(f.len >> 8), (uint8_t)f.len};
			bytes_add(&g->frames, h, sizeof(h));
			bytes_add(&g->frames, f.body, f.len);
			g->nframes++;
		}
		/* The end stays the end; an error stays an error. */
		CU_ASSERT_EQUAL(bundle_reader_frame(r, &f),
				rc == 0 ? 0 : FERRY_ESTATE);
	}
	g->rc = rc;
	if (r != NULL) {
		snprintf(g->why, sizeof(g->why), "%s", bundle_reader_why(r));
		g->pos = bundle_reader_pos(r);
	}
	bundle_reader_free(r);
}

/* Read buf (an exact-size heap copy, so ASan sees any over-read) as B,
 * with A's keys. */
static void
read_mem(const uint8_t *buf, size_t len, uint64_t file_size, size_t step,
	 struct got *g)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct mem_in in = {.len = len, .step = step};

	CU_ASSERT_FATAL(copy != NULL);
	if (len > 0)
		memcpy(copy, buf, len);
	in.p = copy;
	read_with(mem_read, &in, file_size, idb, identity_sign_pk(ida),
		  identity_kx_pk(ida), g);
	free(copy);
}

/* Codes a refusal may have, as a mask over -rc. */
#define M(code) (1u << -(code))
#define REFUSALS                                                               \
	(M(FERRY_EPROTO) | M(FERRY_ECORRUPT) | M(FERRY_ESTATE) |               \
	 M(FERRY_EINVAL))

/*
 * A refused read: an error in codes (never the end), a reason, and only
 * whole frames of the original stream, in order, from chunks that
 * authenticated: at most limit bytes of it.  Quiet unless it fails.
 */
static int
refused_ok(const struct got *g, const struct bytes *plain, unsigned codes,
	   size_t limit, const char *what, size_t at)
{
	int ok = g->rc < 0 && g->rc >= FERRY_ERR_MIN &&
		 (M(g->rc) & codes) != 0 && g->why[0] != '\0' &&
		 g->frames.len <= limit && g->frames.len <= plain->len &&
		 (g->frames.len == 0 ||
		  memcmp(g->frames.p, plain->p, g->frames.len) == 0);

	if (!ok)
		fprintf(stderr,
			"\n  %s at %zu: rc %d (%s) at stage %d, %zu frame "
			"bytes (limit %zu): %s\n",
			what, at, g->rc, ferry_strerror(g->rc), g->stage,
			g->frames.len, limit, g->why);
	return ok;
}

/* Re-sign a bundle in memory as by would: header || BLAKE2b-512 of
 * everything between the header and the trailer (docs/formats.md 1.4). */
static void
resign(uint8_t *buf, size_t len, const struct identity *by)
{
	uint8_t signed_part[BUNDLE_HDR_LEN + 64];

	memcpy(signed_part, buf, BUNDLE_HDR_LEN);
	crypto_generichash(signed_part + BUNDLE_HDR_LEN, 64,
			   buf + BUNDLE_HDR_LEN,
			   len - BUNDLE_HDR_LEN - BUNDLE_SIG_LEN, NULL, 0);
	CU_ASSERT_EQUAL_FATAL(identity_sign(by, BUNDLE_SIGN_LABEL, signed_part,
					    sizeof(signed_part),
					    buf + len - BUNDLE_SIG_LEN),
			      0);
}

/* Plaintext bytes before the chunk holding file offset off. */
static size_t
plain_before(size_t off, size_t size, size_t plain_len)
{
	if (off < OFF_BODY)
		return 0;
	if (off >= size - BUNDLE_SIG_LEN)
		return plain_len;
	return (off - OFF_BODY) / CT_LEN * CHUNK;
}

/* What a flipped byte at off may be refused as (the file size known). */
static unsigned
flip_codes(size_t off)
{
	if (off < 10)
		return M(FERRY_EPROTO); /* magic, version, kind */
	if (off < 12) /* flags: unknown, or the zstd flag and the prologue */
		return M(FERRY_EPROTO) | M(FERRY_ECORRUPT);
	if (off < 16) /* chunk size: out of range, or the wrap's prologue */
		return M(FERRY_EPROTO) | M(FERRY_ECORRUPT);
	if (off < 48)
		return M(FERRY_EINVAL); /* sender: not the keys given */
	if (off < 80)
		return M(FERRY_ESTATE); /* recipient: not this node */
	if (off < 120) /* id, seq (1 -> 0), time, size (< minimum) */
		return M(FERRY_EPROTO) | M(FERRY_ECORRUPT);
	if (off < BUNDLE_HDR_LEN)
		return M(FERRY_EPROTO); /* reserved */
	return M(FERRY_ECORRUPT);
}

/* -------------------------------------------------------------- tests */

static void
check_round_trip(const struct bytes *plain, uint32_t chunk, uint64_t seq)
{
	uint8_t a_id[IDENTITY_NODE_ID_LEN], b_id[IDENTITY_NODE_ID_LEN];
	uint32_t c = chunk ? chunk : BUNDLE_CHUNK_DEFAULT;
	struct bundle_hdr wh;
	struct got g;
	struct stat st;
	char *path =
	    write_bundle(ida, idb, seq, chunk, plain->p, plain->len, &wh);
	int fd = open(path, O_RDONLY);

	CU_ASSERT_FATAL(fd >= 0 && fstat(fd, &st) == 0);
	read_with(fd_read, &fd, (uint64_t)st.st_size, idb,
		  identity_sign_pk(ida), identity_kx_pk(ida), &g);
	close(fd);
	node_id(ida, a_id);
	node_id(idb, b_id);
	CU_ASSERT_EQUAL(g.rc, 0);
	if (g.rc != 0)
		fprintf(stderr, "\n  round trip: %s\n", g.why);
	CU_ASSERT_EQUAL(g.frames.len, plain->len);
	CU_ASSERT(plain->len == 0 ||
		  (g.frames.len == plain->len &&
		   memcmp(g.frames.p, plain->p, plain->len) == 0));
	CU_ASSERT_EQUAL(g.pos, (uint64_t)st.st_size);
	CU_ASSERT_EQUAL((uint64_t)st.st_size, bundle_size_for(plain->len, c));
	CU_ASSERT_EQUAL(wh.size, (uint64_t)st.st_size);
	CU_ASSERT_EQUAL(g.hdr.size, (uint64_t)st.st_size);
	CU_ASSERT_EQUAL(g.hdr.version, BUNDLE_VERSION);
	CU_ASSERT_EQUAL(g.hdr.kind, BUNDLE_KIND_HOP);
	CU_ASSERT_EQUAL(g.hdr.flags, 0);
	CU_ASSERT_EQUAL(g.hdr.chunk, c);
	CU_ASSERT_EQUAL(g.hdr.seq, seq);
	CU_ASSERT_EQUAL(g.hdr.created_ms, CREATED_MS);
	CU_ASSERT(memcmp(g.hdr.sender, a_id, sizeof(a_id)) == 0);
	CU_ASSERT(memcmp(g.hdr.recipient, b_id, sizeof(b_id)) == 0);
	CU_ASSERT(memcmp(g.hdr.id, wh.id, BUNDLE_ID_LEN) == 0);
	CU_ASSERT(!sodium_is_zero(wh.id, BUNDLE_ID_LEN));
	CU_ASSERT_EQUAL(wh.seq, seq);
	unlink(path);
	free(path);
	bytes_free(&g.frames);
}

static void
test_round_trip_many_chunks(void)
{
	struct bytes plain = {0};
	struct got g;
	size_t off, n = 0;

	big_stream(&plain);
	CU_ASSERT(plain.len > 20 * CHUNK);
	check_round_trip(&plain, CHUNK, 7);
	check_round_trip(&plain, 0, 1); /* default chunk size */
	check_round_trip(&plain, BUNDLE_CHUNK_MAX, UINT64_MAX);
	/* The same frames, in order, whatever the read sizes. */
	read_mem(plain.p, 0, 0, 0, &g); /* an empty file */
	CU_ASSERT_EQUAL(g.rc, FERRY_ECORRUPT);
	bytes_free(&g.frames);
	{
		size_t len;
		uint8_t *buf = make_bundle(&plain, CHUNK, &len);
		static const size_t steps[] = {1, 7, 4113, 65537};
		for (size_t i = 0; i < 4; i++) {
			read_mem(buf, len, len, steps[i], &g);
			CU_ASSERT_EQUAL(g.rc, 0);
			CU_ASSERT(g.frames.len == plain.len &&
				  memcmp(g.frames.p, plain.p, plain.len) == 0);
			bytes_free(&g.frames);
		}
		free(buf);
	}
	/* The frames came back as the builder made them. */
	for (off = 0; off < plain.len; n++)
		off += HOP_FRAME_HDR + (size_t)get_be(plain.p + off + 1, 3);
	CU_ASSERT_EQUAL(off, plain.len);
	CU_ASSERT(n > 100);
	bytes_free(&plain);
}

static void
test_round_trip_empty_and_exact(void)
{
	static uint8_t rec[HOP_PLAIN_MAX];
	struct bytes plain = {0};
	uint8_t id[FERRY_ID_LEN] = {9};
	uint8_t *data = calloc(1, 3 * CHUNK);
	struct hop_rbuf b;
	size_t len;

	CU_ASSERT_FATAL(data != NULL);
	check_round_trip(&plain, CHUNK, 1); /* no frames at all */
	CU_ASSERT_EQUAL(bundle_size_for(0, CHUNK), BUNDLE_MIN_SIZE);
	/* One frame of exactly one chunk, then exactly three chunks. */
	for (size_t k = 1; k <= 3; k += 2) {
		size_t n = k * CHUNK - HOP_FRAME_HDR - HOP_CHUNK_HDR;
		plain.len = 0;
		hop_rbuf_init(&b, rec, sizeof(rec));
		CU_ASSERT_EQUAL(hop_put_chunk(&b, id, 0, data, n), n);
		CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), 0);
		bytes_add(&plain, rec, len);
		CU_ASSERT_EQUAL_FATAL(plain.len, k * CHUNK);
		check_round_trip(&plain, CHUNK, 2);
		CU_ASSERT_EQUAL(bundle_size_for(plain.len, CHUNK),
				BUNDLE_MIN_SIZE + k * CHUNK + (k - 1) * 17);
	}
	free(data);
	bytes_free(&plain);
}

/* Every byte flipped (XOR 0x01 and 0x80) in turn: refused, and no frame
 * from the chunk that holds it or after it. */
static void
test_every_byte_flip_refused(void)
{
	static const uint8_t masks[] = {0x01, 0x80};
	struct bytes plain = {0};
	size_t len, bad = 0;
	uint8_t *buf;
	struct got g;

	small_stream(&plain);
	buf = make_bundle(&plain, CHUNK, &len);
	CU_ASSERT(len > CHUNK + OFF_BODY && len < 3 * CHUNK);
	for (size_t m = 0; m < 2; m++) {
		for (size_t i = 0; i < len; i++) {
			unsigned codes = flip_codes(i);
			buf[i] ^= masks[m];
			read_mem(buf, len, len, 0, &g);
			buf[i] ^= masks[m];
			if (!refused_ok(&g, &plain, codes,
					plain_before(i, len, plain.len), "flip",
					i))
				bad++;
			/* A bad signature costs nothing but the end. */
			if (i >= len - BUNDLE_SIG_LEN &&
			    (g.frames.len != plain.len || g.stage != 3))
				bad++;
			bytes_free(&g.frames);
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	/* And with the size unknown, the size field is the signature's. */
	for (size_t i = OFF_SIZE; i < OFF_SIZE + 8; i++) {
		for (size_t m = 0; m < 2; m++) {
			buf[i] ^= masks[m];
			read_mem(buf, len, UINT64_MAX, 0, &g);
			buf[i] ^= masks[m];
			CU_ASSERT(refused_ok(&g, &plain, REFUSALS, plain.len,
					     "size flip, size unknown", i));
			bytes_free(&g.frames);
		}
	}
	free(buf);
	bytes_free(&plain);
}

/* Cut at every length: refused with the size passed and without. */
static void
test_every_truncation_refused(void)
{
	struct bytes plain = {0};
	size_t len, bad = 0;
	uint8_t *buf;
	struct got g;

	small_stream(&plain);
	buf = make_bundle(&plain, CHUNK, &len);
	for (size_t cut = 0; cut < len; cut++) {
		unsigned codes = M(FERRY_ECORRUPT) | M(FERRY_EPROTO);
		read_mem(buf, cut, cut, 0, &g);
		if (!refused_ok(&g, &plain, codes, 0, "cut, size known", cut) ||
		    g.stage != 1)
			bad++;
		bytes_free(&g.frames);
		read_mem(buf, cut, UINT64_MAX, 0, &g);
		/* Whole chunks before the cut may give their frames. */
		if (!refused_ok(&g, &plain, codes,
				plain_before(cut, len, plain.len),
				"cut, size unknown", cut))
			bad++;
		bytes_free(&g.frames);
	}
	CU_ASSERT_EQUAL(bad, 0);
	/* The reason says what it is. */
	read_mem(buf, len - 1, len - 1, 0, &g);
	CU_ASSERT(strstr(g.why, "truncated") != NULL);
	bytes_free(&g.frames);
	read_mem(buf, len - 1, UINT64_MAX, 0, &g);
	CU_ASSERT(strstr(g.why, "truncated") != NULL);
	bytes_free(&g.frames);
	free(buf);
	bytes_free(&plain);
}

static void
test_appended_bytes_refused(void)
{
	static const size_t extra[] = {1, 17, CT_LEN, 100000};
	struct bytes plain = {0};
	size_t len;
	uint8_t *buf, *longer;
	struct got g;

	small_stream(&plain);
	buf = make_bundle(&plain, CHUNK, &len);
	longer = calloc(1, len + 100000);
	CU_ASSERT_FATAL(longer != NULL);
	memcpy(longer, buf, len);
	for (size_t i = 0; i < 4; i++) {
		read_mem(longer, len + extra[i], len + extra[i], 0, &g);
		CU_ASSERT(refused_ok(&g, &plain, M(FERRY_ECORRUPT), 0,
				     "appended, size known", extra[i]));
		CU_ASSERT(strstr(g.why, "longer") != NULL);
		bytes_free(&g.frames);
		/* Size unknown: every frame, but never the end. */
		read_mem(longer, len + extra[i], UINT64_MAX, 0, &g);
		CU_ASSERT(refused_ok(&g, &plain, M(FERRY_ECORRUPT), plain.len,
				     "appended, size unknown", extra[i]));
		CU_ASSERT(strstr(g.why, "after the signature") != NULL);
		CU_ASSERT_EQUAL(g.frames.len, plain.len);
		bytes_free(&g.frames);
		/* One byte at a time, so the extra byte comes after EOF
		 * was not yet seen. */
		read_mem(longer, len + extra[i], UINT64_MAX, 1, &g);
		CU_ASSERT(refused_ok(&g, &plain, M(FERRY_ECORRUPT), plain.len,
				     "appended, bytewise", extra[i]));
		bytes_free(&g.frames);
	}
	/* The original, size unknown, read byte by byte: fine. */
	read_mem(buf, len, UINT64_MAX, 1, &g);
	CU_ASSERT_EQUAL(g.rc, 0);
	bytes_free(&g.frames);
	free(longer);
	free(buf);
	bytes_free(&plain);
}

static void
test_wrong_recipient_and_sender(void)
{
	struct bytes plain = {0};
	uint8_t a_id[IDENTITY_NODE_ID_LEN];
	struct mem_in in = {0};
	size_t len;
	uint8_t *buf;
	char *path;
	struct got g;

	small_stream(&plain);
	/* A -> C, read by B: not addressed to it. */
	path = write_bundle(ida, idc, 3, CHUNK, plain.p, plain.len, NULL);
	buf = slurp(path, &len);
	read_mem(buf, len, len, 0, &g);
	CU_ASSERT_EQUAL(g.rc, FERRY_ESTATE);
	CU_ASSERT_EQUAL(g.stage, 1);
	CU_ASSERT(strstr(g.why, "another node") != NULL);
	bytes_free(&g.frames);
	/* C reads it fine. */
	in.p = buf;
	in.len = len;
	read_with(mem_read, &in, len, idc, identity_sign_pk(ida),
		  identity_kx_pk(ida), &g);
	CU_ASSERT_EQUAL(g.rc, 0);
	CU_ASSERT(g.frames.len == plain.len &&
		  memcmp(g.frames.p, plain.p, plain.len) == 0);
	bytes_free(&g.frames);
	free(buf);
	unlink(path);
	free(path);

	/* C -> B, read by B expecting A: the keys are not the sender's. */
	path = write_bundle(idc, idb, 3, CHUNK, plain.p, plain.len, NULL);
	buf = slurp(path, &len);
	read_mem(buf, len, len, 0, &g);
	CU_ASSERT_EQUAL(g.rc, FERRY_EINVAL);
	CU_ASSERT_EQUAL(g.stage, 2);
	CU_ASSERT_EQUAL(g.frames.len, 0);
	CU_ASSERT(g.why[0] != '\0');
	bytes_free(&g.frames);
	/* A's signing key with C's kx key: still not a node id. */
	in = (struct mem_in){.p = buf, .len = len};
	read_with(mem_read, &in, len, idb, identity_sign_pk(ida),
		  identity_kx_pk(idc), &g);
	CU_ASSERT_EQUAL(g.rc, FERRY_EINVAL);
	bytes_free(&g.frames);
	/* C's bundle claiming to be A's (and re-signed by A, as if A's
	 * signing key were stolen but not its kx key): the wrap is C's. */
	node_id(ida, a_id);
	memcpy(buf + 16, a_id, sizeof(a_id));
	resign(buf, len, ida);
	read_mem(buf, len, len, 0, &g);
	CU_ASSERT_EQUAL(g.rc, FERRY_ECORRUPT);
	CU_ASSERT_EQUAL(g.stage, 2);
	CU_ASSERT_EQUAL(g.frames.len, 0);
	CU_ASSERT(strstr(g.why, "key wrap") != NULL);
	bytes_free(&g.frames);
	free(buf);
	unlink(path);
	free(path);
	bytes_free(&plain);
}

/* Signed by the recipient (who can open the wrap, K being what it is), or
 * by the sender over another header: refused. */
static void
test_forged_signatures_refused(void)
{
	struct bytes plain = {0};
	size_t len;
	uint8_t *buf, *orig;
	struct got g;

	small_stream(&plain);
	buf = make_bundle(&plain, CHUNK, &len);
	orig = malloc(len);
	CU_ASSERT_FATAL(orig != NULL);
	memcpy(orig, buf, len);
	/* The test's signing matches the writer's (Ed25519 is
	 * deterministic): docs/formats.md 1.4 is what the code does. */
	resign(buf, len, ida);
	CU_ASSERT(memcmp(buf, orig, len) == 0);
	/* B's signature: every frame (they authenticate under the body
	 * key B can derive) but never the end. */
	resign(buf, len, idb);
	read_mem(buf, len, len, 0, &g);
	CU_ASSERT(refused_ok(&g, &plain, M(FERRY_ECORRUPT), plain.len,
			     "signed by B", 0));
	CU_ASSERT(strstr(g.why, "signature") != NULL);
	CU_ASSERT_EQUAL(g.stage, 3);
	bytes_free(&g.frames);
	/* A's valid signature over a header with another seq or time: the
	 * wrap's prologue binds the header. */
	for (size_t field = OFF_SEQ; field <= OFF_SEQ + 8; field += 8) {
		memcpy(buf, orig, len);
		put_be(buf + field, get_be(buf + field, 8) + 1, 8);
		resign(buf, len, ida);
		read_mem(buf, len, len, 0, &g);
		CU_ASSERT_EQUAL(g.rc, FERRY_ECORRUPT);
		CU_ASSERT_EQUAL(g.stage, 2);
		CU_ASSERT_EQUAL(g.frames.len, 0);
		CU_ASSERT(strstr(g.why, "key wrap") != NULL);
		bytes_free(&g.frames);
	}
	/* The bundle id too (a replay under a new id). */
	memcpy(buf, orig, len);
	buf[80] ^= 0x55;
	resign(buf, len, ida);
	read_mem(buf, len, len, 0, &g);
	CU_ASSERT_EQUAL(g.rc, FERRY_ECORRUPT);
	CU_ASSERT_EQUAL(g.stage, 2);
	bytes_free(&g.frames);
	free(orig);
	free(buf);
	bytes_free(&plain);
}

/* Remove or reorder sealed chunks (re-signed by A, with the size fixed,
 * so only the secretstream can tell). */
static void
test_reordered_chunks_refused(void)
{
	struct bytes plain = {0};
	size_t len, nfull;
	uint8_t *buf, *work, *tmpc;
	struct got g;

	big_stream(&plain);
	buf = make_bundle(&plain, CHUNK, &len);
	nfull = plain.len / CHUNK; /* MESSAGE chunks; then the FINAL */
	CU_ASSERT_FATAL(nfull >= 4 && plain.len % CHUNK != 0);
	work = malloc(len + CT_LEN);
	tmpc = malloc(CT_LEN);
	CU_ASSERT_FATAL(work != NULL && tmpc != NULL);

	/* Swap chunks k and k + 1. */
	for (size_t k = 0; k + 1 < nfull; k += 2) {
		uint8_t *a, *b;
		memcpy(work, buf, len);
		a = work + OFF_BODY + k * CT_LEN;
		b = a + CT_LEN;
		memcpy(tmpc, a, CT_LEN);
		memcpy(a, b, CT_LEN);
		memcpy(b, tmpc, CT_LEN);
		resign(work, len, ida);
		read_mem(work, len, len, 0, &g);
		CU_ASSERT(refused_ok(&g, &plain, M(FERRY_ECORRUPT), k * CHUNK,
				     "swapped chunk", k));
		CU_ASSERT(strstr(g.why, "authenticate") != NULL);
		bytes_free(&g.frames);
	}
	/* Drop chunk 1 (size fixed). */
	memcpy(work, buf, OFF_BODY + CT_LEN);
	memcpy(work + OFF_BODY + CT_LEN, buf + OFF_BODY + 2 * CT_LEN,
	       len - OFF_BODY - 2 * CT_LEN);
	put_be(work + OFF_SIZE, len - CT_LEN, 8);
	resign(work, len - CT_LEN, ida);
	read_mem(work, len - CT_LEN, len - CT_LEN, 0, &g);
	CU_ASSERT(refused_ok(&g, &plain, M(FERRY_ECORRUPT), CHUNK,
			     "dropped chunk", 1));
	CU_ASSERT(strstr(g.why, "authenticate") != NULL);
	bytes_free(&g.frames);
	/* Chunk 1 twice. */
	memcpy(work, buf, OFF_BODY + 2 * CT_LEN);
	memcpy(work + OFF_BODY + 2 * CT_LEN, buf + OFF_BODY + CT_LEN,
	       len - OFF_BODY - CT_LEN);
	put_be(work + OFF_SIZE, len + CT_LEN, 8);
	resign(work, len + CT_LEN, ida);
	read_mem(work, len + CT_LEN, len + CT_LEN, 0, &g);
	CU_ASSERT(refused_ok(&g, &plain, M(FERRY_ECORRUPT), 2 * CHUNK,
			     "repeated chunk", 1));
	bytes_free(&g.frames);
	/* Drop the FINAL chunk: the last one left is not marked final. */
	{
		size_t end = OFF_BODY + nfull * CT_LEN;
		memcpy(work, buf, end);
		memcpy(work + end, buf + len - BUNDLE_SIG_LEN, BUNDLE_SIG_LEN);
		put_be(work + OFF_SIZE, end + BUNDLE_SIG_LEN, 8);
		resign(work, end + BUNDLE_SIG_LEN, ida);
		read_mem(work, end + BUNDLE_SIG_LEN, end + BUNDLE_SIG_LEN, 0,
			 &g);
		CU_ASSERT(refused_ok(&g, &plain, M(FERRY_ECORRUPT),
				     (nfull - 1) * CHUNK, "dropped final",
				     nfull));
		CU_ASSERT(strstr(g.why, "final") != NULL);
		bytes_free(&g.frames);
	}
	free(tmpc);
	free(work);
	free(buf);
	bytes_free(&plain);
}

/*
 * Seal plain as A -> B the way bundle.c does, but with tags[i] on chunk
 * i (nchunks of CHUNK bytes, the last one shorter or equal), which the
 * writer would never do.  Returns the bundle (free it).
 */
static uint8_t *
seal_tagged(const struct bytes *plain, size_t nchunks, const uint8_t *tags,
	    size_t *len)
{
	crypto_secretstream_xchacha20poly1305_state ss;
	uint8_t prologue[BUNDLE_HDR_LEN], file_key[32], body_key[32];
	size_t size =
	    OFF_BODY + plain->len + nchunks * BUNDLE_SS_ABYTES + BUNDLE_SIG_LEN;
	uint8_t *buf = malloc(size);
	struct bundle_hdr h;
	size_t wlen = 0, pos = OFF_BODY;

	CU_ASSERT_FATAL(buf != NULL && nchunks > 0 &&
			plain->len <= nchunks * CHUNK &&
			(nchunks == 1 || plain->len > (nchunks - 1) * CHUNK));
	memset(&h, 0, sizeof(h));
	h.version = BUNDLE_VERSION;
	h.kind = BUNDLE_KIND_HOP;
	h.chunk = CHUNK;
	node_id(ida, h.sender);
	node_id(idb, h.recipient);
	randombytes_buf(h.id, sizeof(h.id));
	h.seq = 1;
	h.created_ms = CREATED_MS;
	bundle_hdr_encode(&h, prologue); /* size 0 */
	randombytes_buf(file_key, sizeof(file_key));
	CU_ASSERT_EQUAL_FATAL(
	    noise_k_seal(identity_kx_sk(ida), identity_kx_pk(ida),
			 identity_kx_pk(idb), prologue, sizeof(prologue), NULL,
			 file_key, sizeof(file_key), buf + BUNDLE_HDR_LEN,
			 BUNDLE_WRAP_LEN, &wlen),
	    0);
	CU_ASSERT_EQUAL_FATAL(wlen, BUNDLE_WRAP_LEN);
	crypto_kdf_derive_from_key(body_key, sizeof(body_key), 1, "ferrybdy",
				   file_key);
	crypto_secretstream_xchacha20poly1305_init_push(
	    &ss, buf + BUNDLE_HDR_LEN + BUNDLE_WRAP_LEN, body_key);
	for (size_t i = 0; i < nchunks; i++) {
		size_t n = i + 1 < nchunks ? CHUNK : plain->len - i * CHUNK;
		crypto_secretstream_xchacha20poly1305_push(&ss, buf + pos, NULL,
							   plain->p + i * CHUNK,
							   n, NULL, 0, tags[i]);
		pos += n + BUNDLE_SS_ABYTES;
	}
	h.size = size;
	bundle_hdr_encode(&h, buf);
	resign(buf, size, ida);
	*len = size;
	return buf;
}

/* Chunk tags: MESSAGE until the last, FINAL on it, and nothing else. */
static void
test_chunk_tags_checked(void)
{
	enum {
		MSG = crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
		PUSH = crypto_secretstream_xchacha20poly1305_TAG_PUSH,
		REKEY = crypto_secretstream_xchacha20poly1305_TAG_REKEY,
		FIN = crypto_secretstream_xchacha20poly1305_TAG_FINAL,
	};
	static const struct {
		uint8_t tags[3];
		size_t limit; /* frame bytes that may come out */
		const char *why;
	} cases[] = {
	    {{MSG, MSG, FIN}, SIZE_MAX, NULL},
	    {{FIN, MSG, FIN}, 0, "before the end"},
	    {{MSG, FIN, FIN}, CHUNK, "before the end"},
	    {{MSG, PUSH, FIN}, CHUNK, "before the end"},
	    {{MSG, REKEY, FIN}, CHUNK, "before the end"},
	    {{MSG, MSG, MSG}, 2 * CHUNK, "not marked final"},
	    {{MSG, MSG, PUSH}, 2 * CHUNK, "not marked final"},
	};
	struct bytes plain = {0};
	struct got g;

	add_message(&plain, 6, 10000, 3000, 1);
	CU_ASSERT_FATAL(plain.len > 2 * CHUNK && plain.len < 3 * CHUNK);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		uint8_t *buf = seal_tagged(&plain, 3, cases[i].tags, &len);
		read_mem(buf, len, len, 0, &g);
		if (cases[i].why == NULL) {
			/* The hand-made sealer makes what the writer makes. */
			CU_ASSERT_EQUAL(g.rc, 0);
			CU_ASSERT(g.frames.len == plain.len &&
				  memcmp(g.frames.p, plain.p, plain.len) == 0);
		} else {
			CU_ASSERT(refused_ok(&g, &plain, M(FERRY_ECORRUPT),
					     cases[i].limit, "chunk tags", i));
			CU_ASSERT(strstr(g.why, cases[i].why) != NULL);
		}
		bytes_free(&g.frames);
		free(buf);
	}
	bytes_free(&plain);
}

/* Frame bytes that are not whole frames, sealed properly: the frames
 * before them come out, then the refusal (never the end). */
static void
test_bad_frame_streams_refused(void)
{
	static const struct {
		const char *label;
		uint8_t tail[8];
		size_t n;
		int rc;
		const char *why;
	} cases[] = {
	    {"header cut", {HOP_CUSTODY, 0, 0}, 3, FERRY_ECORRUPT, "cut"},
	    {"body cut",
	     {HOP_CUSTODY, 0, 0, 100, 0, 1},
	     6,
	     FERRY_ECORRUPT,
	     "cut"},
	    {"type 0", {0, 0, 0, 1, 7}, 5, FERRY_EPROTO, "malformed"},
	    {"type 12", {12, 0, 0, 0}, 4, FERRY_EPROTO, "malformed"},
	    {"too long", {HOP_CHUNK, 0, 0xff, 0xec}, 4, FERRY_EPROTO, "larger"},
	    {"2^24 - 1",
	     {HOP_CHUNK, 0xff, 0xff, 0xff},
	     4,
	     FERRY_EPROTO,
	     "larger"},
	};
	struct bytes plain = {0};
	struct got g;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Before it, whole frames ending inside a chunk and at a
		 * chunk's end (the tail then starts the next chunk). */
		for (size_t at_end = 0; at_end < 2; at_end++) {
			struct bytes stream = {0};
			size_t len, whole;
			uint8_t *buf;
			char *path;
			plain.len = 0;
			add_message(&plain, 7, at_end ? 4000 : 5000, 2000, 1);
			if (at_end) {
				/* Pad to exactly two chunks with one CHUNK. */
				static uint8_t rec[HOP_PLAIN_MAX], zero[CHUNK];
				struct hop_rbuf b;
				size_t n = 2 * CHUNK - plain.len -
					   HOP_FRAME_HDR - HOP_CHUNK_HDR;
				hop_rbuf_init(&b, rec, sizeof(rec));
				CU_ASSERT_EQUAL_FATAL(
				    hop_put_chunk(&b, zero, 0, zero, n), n);
				take_rbuf(&plain, &b);
				CU_ASSERT_EQUAL_FATAL(plain.len, 2 * CHUNK);
			}
			whole = plain.len;
			bytes_add(&stream, plain.p, plain.len);
			bytes_add(&stream, cases[i].tail, cases[i].n);
			path = write_bundle(ida, idb, 1, CHUNK, stream.p,
					    stream.len, NULL);
			buf = slurp(path, &len);
			read_mem(buf, len, len, 0, &g);
			CU_ASSERT(refused_ok(&g, &plain, M(cases[i].rc), whole,
					     cases[i].label, at_end));
			CU_ASSERT_EQUAL(g.frames.len, whole);
			CU_ASSERT(strstr(g.why, cases[i].why) != NULL);
			bytes_free(&g.frames);
			free(buf);
			unlink(path);
			free(path);
			bytes_free(&stream);
		}
	}
	bytes_free(&plain);
}

static void
test_header_decode(void)
{
	struct {
		const char *label;
		size_t off, n;
		uint64_t value;
		int rc;
	} cases[] = {
	    {"valid", 0, 0, 0, 0},
	    {"bad magic", 0, 1, 'f', FERRY_EPROTO},
	    {"magic last byte", 7, 1, 'l', FERRY_EPROTO},
	    {"version 0", 8, 1, 0, FERRY_EPROTO},
	    {"version 2", 8, 1, 2, FERRY_EPROTO},
	    {"kind 0", 9, 1, 0, FERRY_EPROTO},
	    {"kind 2", 9, 1, 2, FERRY_EPROTO},
	    {"flags 1 (zstd)", 10, 2, BUNDLE_FLAG_ZSTD, 0},
	    {"flags 2", 10, 2, 2, FERRY_EPROTO},
	    {"flags 0x8000", 10, 2, 0x8000, FERRY_EPROTO},
	    {"chunk 0", 12, 4, 0, FERRY_EPROTO},
	    {"chunk 4095", 12, 4, 4095, FERRY_EPROTO},
	    {"chunk 4096", 12, 4, 4096, 0},
	    {"chunk 1048576", 12, 4, 1048576, 0},
	    {"chunk 1048577", 12, 4, 1048577, FERRY_EPROTO},
	    {"chunk 2^32-1", 12, 4, 0xffffffff, FERRY_EPROTO},
	    {"seq 0", 96, 8, 0, FERRY_EPROTO},
	    {"seq max", 96, 8, UINT64_MAX, 0},
	    {"size below minimum", 112, 8, BUNDLE_MIN_SIZE - 1, FERRY_EPROTO},
	    {"size minimum", 112, 8, BUNDLE_MIN_SIZE, 0},
	    {"reserved first", 120, 1, 1, FERRY_EPROTO},
	    {"reserved last", 127, 1, 0x80, FERRY_EPROTO},
	};
	struct bundle_hdr h, got;
	uint8_t raw[BUNDLE_HDR_LEN], mod[BUNDLE_HDR_LEN];

	memset(&h, 0, sizeof(h));
	h.version = BUNDLE_VERSION;
	h.kind = BUNDLE_KIND_HOP;
	h.chunk = BUNDLE_CHUNK_DEFAULT;
	node_id(ida, h.sender);
	node_id(idb, h.recipient);
	memset(h.id, 0x5a, sizeof(h.id));
	h.seq = 42;
	h.created_ms = -1; /* a clock before 1970 round-trips */
	h.size = 1000000;
	bundle_hdr_encode(&h, raw);
	CU_ASSERT(memcmp(raw, BUNDLE_MAGIC, 8) == 0);
	CU_ASSERT_EQUAL(get_be(raw + 112, 8), 1000000);
	CU_ASSERT_EQUAL_FATAL(bundle_hdr_decode(raw, &got, NULL), 0);
	CU_ASSERT(got.version == h.version && got.kind == h.kind &&
		  got.flags == 0 && got.chunk == h.chunk && got.seq == h.seq &&
		  got.created_ms == -1 && got.size == h.size &&
		  memcmp(got.sender, h.sender, 32) == 0 &&
		  memcmp(got.recipient, h.recipient, 32) == 0 &&
		  memcmp(got.id, h.id, sizeof(h.id)) == 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;
		struct bundle_reader *r = NULL;
		struct mem_in in = {.p = mod, .len = sizeof(mod)};
		int rc;
		memcpy(mod, raw, sizeof(mod));
		if (cases[i].n > 0)
			put_be(mod + cases[i].off, cases[i].value,
			       (int)cases[i].n);
		rc = bundle_hdr_decode(mod, &got, &why);
		if (rc != cases[i].rc)
			fprintf(stderr, "\n  %s: %d\n", cases[i].label, rc);
		CU_ASSERT_EQUAL(rc, cases[i].rc);
		if (rc == 0)
			continue;
		CU_ASSERT(why != NULL && why[0] != '\0');
		/* The reader says the same, whatever the size. */
		rc = bundle_reader_open(mem_read, &in, UINT64_MAX, idb, &r);
		CU_ASSERT_EQUAL(rc, cases[i].rc);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_STRING_EQUAL(bundle_reader_why(r), why);
		bundle_reader_free(r);
	}
}

static void
test_api_misuse(void)
{
	struct bytes plain = {0};
	uint8_t b_id[IDENTITY_NODE_ID_LEN];
	struct bundle_reader *r = NULL;
	struct bundle_writer *w = NULL;
	struct hop_frame f;
	struct mem_in in = {0};
	size_t len;
	uint8_t *buf;
	struct got g;
	int fd;

	node_id(idb, b_id);
	fd = open("/dev/null", O_WRONLY);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(bundle_writer_open(fd, ida, b_id, identity_kx_pk(idb),
					   0, CREATED_MS, CHUNK, &w),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(bundle_writer_open(fd, ida, b_id, identity_kx_pk(idb),
					   1, CREATED_MS, CHUNK - 1, &w),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(bundle_writer_open(fd, ida, b_id, identity_kx_pk(idb),
					   1, CREATED_MS, BUNDLE_CHUNK_MAX + 1,
					   &w),
			FERRY_EINVAL);
	CU_ASSERT_PTR_NULL(w);
	CU_ASSERT_EQUAL(bundle_writer_open(-1, ida, b_id, identity_kx_pk(idb),
					   1, CREATED_MS, CHUNK, &w),
			FERRY_EINVAL);
	close(fd);
	bundle_writer_abort(NULL);
	bundle_reader_free(NULL);

	small_stream(&plain);
	buf = make_bundle(&plain, CHUNK, &len);
	in = (struct mem_in){.p = buf, .len = len};
	CU_ASSERT_EQUAL_FATAL(bundle_reader_open(mem_read, &in, len, idb, &r),
			      0);
	CU_ASSERT_EQUAL(bundle_reader_frame(r, &f), FERRY_ESTATE);
	CU_ASSERT_EQUAL(
	    bundle_reader_unwrap(r, identity_sign_pk(ida), identity_kx_pk(ida)),
	    0);
	CU_ASSERT_EQUAL(
	    bundle_reader_unwrap(r, identity_sign_pk(ida), identity_kx_pk(ida)),
	    FERRY_ESTATE);
	bundle_reader_free(r);
	/* The read callback fails half way: its error, never the end. */
	for (size_t at = 1; at < len; at += 997) {
		in = (struct mem_in){
		    .p = buf, .len = len, .step = 500, .fail_at = at};
		read_with(mem_read, &in, len, idb, identity_sign_pk(ida),
			  identity_kx_pk(ida), &g);
		CU_ASSERT(refused_ok(&g, &plain, M(FERRY_EIO),
				     plain_before(at + 499, len, plain.len),
				     "read error", at));
		bytes_free(&g.frames);
	}
	free(buf);
	bytes_free(&plain);
}

/* 64 MiB of CHUNK frames, written and read as streams: the reader's
 * memory does not grow with the bundle.  Runs first, while the peak RSS
 * is still the harness's. */
static void
test_bounded_memory(void)
{
	static uint8_t rec[HOP_PLAIN_MAX], want[HOP_PLAIN_MAX];
	const size_t per = HOP_PLAIN_MAX - HOP_FRAME_HDR - HOP_CHUNK_HDR;
	const uint64_t total = 64ull << 20;
	uint8_t id[FERRY_ID_LEN] = {0x77}, b_id[IDENTITY_NODE_ID_LEN];
	struct bundle_writer *w = NULL;
	struct bundle_reader *r = NULL;
	struct rusage ru0, ru1;
	struct hop_frame f;
	struct hop_rbuf b;
	struct stat st;
	uint64_t off = 0, plain = 0, frames = 0;
	char *path = malloc(strlen(tmp) + 16);
	int fd, rc, bad = 0;

	CU_ASSERT_FATAL(path != NULL);
	CU_ASSERT_FATAL(getrusage(RUSAGE_SELF, &ru0) == 0);
	sprintf(path, "%s/big.XXXXXX", tmp);
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	node_id(idb, b_id);
	CU_ASSERT_EQUAL_FATAL(bundle_writer_open(fd, ida, b_id,
						 identity_kx_pk(idb), 9,
						 CREATED_MS, 0, &w),
			      0);
	while (off < total) {
		size_t len = 0;
		for (size_t i = 0; i < per; i++)
			want[i] = (uint8_t)((off + i) * 7 + ((off + i) >> 16));
		hop_rbuf_init(&b, rec, sizeof(rec));
		CU_ASSERT_EQUAL_FATAL(hop_put_chunk(&b, id, off, want, per),
				      per);
		CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
		CU_ASSERT_EQUAL_FATAL(bundle_writer_put(w, rec, len), 0);
		off += per;
		plain += len;
	}
	CU_ASSERT_EQUAL_FATAL(bundle_writer_finish(w, NULL), 0);
	CU_ASSERT_FATAL(lseek(fd, 0, SEEK_SET) == 0 && fstat(fd, &st) == 0);
	CU_ASSERT_EQUAL((uint64_t)st.st_size,
			bundle_size_for(plain, BUNDLE_CHUNK_DEFAULT));
	CU_ASSERT_EQUAL_FATAL(
	    bundle_reader_open(fd_read, &fd, (uint64_t)st.st_size, idb, &r), 0);
	CU_ASSERT_EQUAL_FATAL(
	    bundle_reader_unwrap(r, identity_sign_pk(ida), identity_kx_pk(ida)),
	    0);
	off = 0;
	while ((rc = bundle_reader_frame(r, &f)) == 1) {
		struct hop_chunk c;
		if (f.type != HOP_CHUNK ||
		    hop_chunk_decode(&f, &c, NULL) != 0 || c.offset != off ||
		    c.len != per) {
			bad++;
			break;
		}
		for (size_t i = 0; i < per; i++)
			want[i] = (uint8_t)((off + i) * 7 + ((off + i) >> 16));
		if (memcmp(c.data, want, per) != 0)
			bad++;
		off += per;
		frames++;
	}
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(off >= total);
	CU_ASSERT_EQUAL(bundle_reader_pos(r), (uint64_t)st.st_size);
	bundle_reader_free(r);
	CU_ASSERT_FATAL(getrusage(RUSAGE_SELF, &ru1) == 0);
	/* ru_maxrss is in KiB on Linux. */
	printf("\n  64 MiB bundle, %llu frames: peak RSS %ld -> %ld KiB\n",
	       (unsigned long long)frames, ru0.ru_maxrss, ru1.ru_maxrss);
	CU_ASSERT(ru1.ru_maxrss - ru0.ru_maxrss < 16 * 1024);
	close(fd);
	unlink(path);
	free(path);
}

/* ------------------------------------------------------ corpus writer */

static int
gen_one(const char *dir, const char *name, const struct bytes *plain)
{
	char path[4096];
	uint8_t b_id[IDENTITY_NODE_ID_LEN];
	struct bundle_writer *w = NULL;
	struct bundle_reader *r = NULL;
	struct hop_frame f;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	node_id(idb, b_id);
	rc = bundle_writer_open(fd, ida, b_id, identity_kx_pk(idb), 1,
				CREATED_MS, CHUNK, &w);
	if (rc == 0)
		rc = bundle_writer_put(w, plain->p, plain->len);
	if (rc == 0)
		rc = bundle_writer_finish(w, NULL);
	else
		bundle_writer_abort(w);
	if (close(fd) != 0 || rc != 0) {
		fprintf(stderr, "%s: %s\n", path, ferry_strerror(rc));
		return 1;
	}
	/* A seed is only worth having if B reads it to the end. */
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 1;
	rc = bundle_reader_open(fd_read, &fd,
				bundle_size_for(plain->len, CHUNK), idb, &r);
	if (rc == 0)
		rc = bundle_reader_unwrap(r, identity_sign_pk(ida),
					  identity_kx_pk(ida));
	while (rc == 0 && (rc = bundle_reader_frame(r, &f)) == 1)
		rc = 0;
	if (rc != 0)
		fprintf(stderr, "%s: %s\n", path, bundle_reader_why(r));
	bundle_reader_free(r);
	close(fd);
	return rc != 0;
}

/* Small valid bundles A -> B for tests/fuzz/corpus/bundle. */
static int
gen_corpus(const char *dir)
{
	struct bytes p = {0};
	int bad = 0;

	if (ids_init() != 0)
		return 1;
	bad |= gen_one(dir, "empty.bundle", &p);
	add_message(&p, 11, 300, 300, 1);
	bad |= gen_one(dir, "msg_chunk_end.bundle", &p);
	p.len = 0;
	add_custody(&p, 3);
	bad |= gen_one(dir, "custody.bundle", &p);
	p.len = 0;
	add_message(&p, 12, 9000, 2500, 1);
	add_custody(&p, 1);
	bad |= gen_one(dir, "three_chunks.bundle", &p);
	p.len = 0;
	add_message(&p, 13, 12000, 1200, 0);
	bad |= gen_one(dir, "open_payload.bundle", &p);
	bytes_free(&p);
	ids_free();
	return bad;
}

/* ---------------------------------------------------------------- main */

static int
suite_init(void)
{
	if (ids_init() != 0)
		return -1;
	tmp = test_tmpdir("bundle");
	return 0;
}

static int
suite_clean(void)
{
	test_rmtree(tmp);
	tmp = NULL;
	ids_free();
	return 0;
}

/* The signed digest (docs/formats.md 1.4) is BLAKE2b-512 whichever library
 * hashes: libcrypto's equals libsodium's crypto_generichash for any
 * length fed in any pieces, and matches RFC 7693's "abc" vector. */
static void
test_hash512_same_digest(void)
{
	static const size_t lens[] = {0,   1,	63,   64,    65,      127,
				      128, 129, 1000, 65553, 3u << 20};
	static const size_t steps[] = {1, 7, 128, 4096, SIZE_MAX};
	static const char abc512[] =
	    "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
	    "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923";
	uint8_t *data = malloc(3u << 20), want[HASH512_LEN], got[HASH512_LEN];
	char hex[2 * HASH512_LEN + 1];
	struct hash512 *h;

	CU_ASSERT_PTR_NOT_NULL_FATAL(data);
	randombytes_buf(data, 3u << 20);
	for (int lc = 1; lc >= 0; lc--) {
		CU_ASSERT_EQUAL_FATAL(hash512_new(lc, &h), 0);
		CU_ASSERT_STRING_EQUAL(hash512_impl(h),
				       lc ? "libcrypto" : "libsodium");
		CU_ASSERT_EQUAL(hash512_update(h, "abc", 3), 0);
		CU_ASSERT_EQUAL(hash512_final(h, got), 0);
		sodium_bin2hex(hex, sizeof(hex), got, sizeof(got));
		CU_ASSERT_STRING_EQUAL(hex, abc512);
		/* Final ends it: no more updates, no second digest. */
		CU_ASSERT_EQUAL(hash512_update(h, "x", 1), FERRY_EINVAL);
		CU_ASSERT_EQUAL(hash512_final(h, got), FERRY_EINVAL);
		hash512_free(h);
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			crypto_generichash(want, sizeof(want), data, lens[i],
					   NULL, 0);
			for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]);
			     s++) {
				size_t off = 0, step = steps[s];
				if (lens[i] > 70000 && step < 4096)
					continue;
				CU_ASSERT_EQUAL_FATAL(hash512_new(lc, &h), 0);
				while (off < lens[i]) {
					size_t n = lens[i] - off < step
						       ? lens[i] - off
						       : step;
					CU_ASSERT_EQUAL(
					    hash512_update(h, data + off, n),
					    0);
					off += n;
				}
				CU_ASSERT_EQUAL(hash512_final(h, got), 0);
				CU_ASSERT(memcmp(got, want, sizeof(want)) == 0);
				hash512_free(h);
			}
		}
	}
	hash512_free(NULL);
	free(data);
}

static void
add_suites(void)
{
	CU_pSuite s =
	    CU_add_suite("transports_bundle", suite_init, suite_clean);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_bounded_memory);
	TEST_ADD(s, test_round_trip_many_chunks);
	TEST_ADD(s, test_round_trip_empty_and_exact);
	TEST_ADD(s, test_every_byte_flip_refused);
	TEST_ADD(s, test_every_truncation_refused);
	TEST_ADD(s, test_appended_bytes_refused);
	TEST_ADD(s, test_wrong_recipient_and_sender);
	TEST_ADD(s, test_forged_signatures_refused);
	TEST_ADD(s, test_reordered_chunks_refused);
	TEST_ADD(s, test_chunk_tags_checked);
	TEST_ADD(s, test_bad_frame_streams_refused);
	TEST_ADD(s, test_header_decode);
	TEST_ADD(s, test_api_misuse);
	TEST_ADD(s, test_hash512_same_digest);
}

int
main(void)
{
	const char *dir = getenv("FERRY_GEN_BUNDLE_CORPUS");

	if (dir != NULL && dir[0] != '\0')
		return gen_corpus(dir);
	return test_main("test_transports_bundle", add_suites);
}
