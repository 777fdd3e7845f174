/*
 * fuzz_bundle.c - libFuzzer target for sealed bundles (transports/bundle.c,
 * docs/formats.md 1.5): the input is a bundle file that node B reads with
 * the input's length as the file size, unwrapped with A's keys (A and B
 * from fixed seeds, as in tests/unit/test_transports_bundle.c), its frames
 * read to the end and each decoded with the hop decoder of its type.
 * Aborts if the reader says "end" for a stream that is not whole frames,
 * hands out a frame larger than any frame, or gives a code it does not
 * document.
 *
 * The seeds (tests/fuzz/corpus/bundle) are real bundles from A to B,
 * written by FERRY_GEN_BUNDLE_CORPUS=dir tests/unit/test_transports_bundle:
 * without them nothing gets past the key wrap, and even with them only
 * the header, the sizes and the cuts can be mutated into anything that is
 * read further (a changed chunk does not authenticate).  So an input that
 * does not start with the magic is used the other way round too: as the
 * frame bytes of a bundle that A seals for B with 4 KiB chunks and B reads
 * back.  That puts hostile frame streams through the reader's gathering of
 * frames across chunks, and what comes back must be exactly the input's
 * whole frames, with the end only when the input is nothing else.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transports/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static struct identity *ida, *idb;
static uint8_t b_id[IDENTITY_NODE_ID_LEN];
static int sealed_fd = -1; /* scratch file for the sealed round trip */

static void
init_once(void)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	char path[] = "/tmp/fuzz_bundle.XXXXXX";

	if (ida != NULL)
		return;
	memset(seed, 'A', sizeof(seed));
	CHECK(identity_from_seed(seed, &ida) == 0);
	memset(seed, 'B', sizeof(seed));
	CHECK(identity_from_seed(seed, &idb) == 0);
	identity_node_id(identity_sign_pk(idb), identity_kx_pk(idb), b_id);
	sealed_fd = mkstemp(path);
	CHECK(sealed_fd >= 0);
	unlink(path);
}

struct mem_in {
	const uint8_t *p;
	size_t len, off;
};

static int
mem_read(void *arg, void *buf, size_t cap, size_t *n)
{
	struct mem_in *in = arg;
	size_t k = in->len - in->off;

	if (k > cap)
		k = cap;
	memcpy(buf, in->p + in->off, k);
	in->off += k;
	*n = k;
	return 0;
}

static int
fd_read(void *arg, void *buf, size_t cap, size_t *n)
{
	ssize_t got = read(*(int *)arg, buf, cap);

	if (got < 0)
		return FERRY_EIO;
	*n = (size_t)got;
	return 0;
}

static void
decode_frame(const struct hop_frame *f)
{
	struct hop_hello h;
	struct hop_msg m;
	struct hop_refuse rf;
	struct hop_chunk c;
	struct hop_chunkz cz;
	struct hop_end e;
	struct hop_custody cu;
	struct hop_resume rs;
	struct hop_keepalive k;
	struct hop_close cl;
	int rc = FERRY_EINVAL;

	CHECK(f->len <= HOP_PLAIN_MAX - HOP_FRAME_HDR);
	switch (f->type) {
	case HOP_HELLO:
		rc = hop_hello_decode(f, &h, NULL);
		break;
	case HOP_MSG:
		rc = hop_msg_decode(f, &m, NULL);
		break;
	case HOP_REFUSE:
		rc = hop_refuse_decode(f, &rf, NULL);
		break;
	case HOP_CHUNK:
		rc = hop_chunk_decode(f, &c, NULL);
		if (rc == 0)
			CHECK(c.data + c.len == f->body + f->len);
		break;
	case HOP_END:
		rc = hop_end_decode(f, &e, NULL);
		break;
	case HOP_CUSTODY:
		rc = hop_custody_decode(f, &cu, NULL);
		break;
	case HOP_RESUME:
		rc = hop_resume_decode(f, &rs, NULL);
		break;
	case HOP_KEEPALIVE:
		rc = hop_keepalive_decode(f, &k, NULL);
		break;
	case HOP_REKEY:
		rc = hop_rekey_decode(f, NULL);
		break;
	case HOP_CLOSE:
		rc = hop_close_decode(f, &cl, NULL);
		break;
	case HOP_CHUNKZ: /* opened in fuzz_hop */
		rc = hop_chunkz_decode(f, &cz, NULL);
		CHECK(rc != 0 || (cz.len >= 1 && cz.orig_len >= 1 &&
				  cz.data + cz.len == f->body + f->len));
		break;
	default:
		abort(); /* the reader let an unknown type through */
	}
	CHECK(rc == 0 || rc == FERRY_EPROTO);
}

/* Read a bundle as B from A to the end; returns the reader's last code
 * and, in *got, the bytes of the frames it handed out (when cmp is not
 * NULL, they must be cmp's first bytes). */
static int
read_bundle(bundle_read_fn rd, void *arg, uint64_t file_size,
	    const uint8_t *cmp, size_t cmp_len, size_t *got)
{
	struct bundle_reader *r = NULL;
	struct hop_frame f;
	int rc;

	*got = 0;
	rc = bundle_reader_open(rd, arg, file_size, idb, &r);
	CHECK(rc == 0 || rc == FERRY_EPROTO || rc == FERRY_ECORRUPT ||
	      rc == FERRY_ESTATE);
	CHECK(r != NULL);
	if (rc == 0)
		rc = bundle_reader_unwrap(r, identity_sign_pk(ida),
					  identity_kx_pk(ida));
	while (rc == 0 && (rc = bundle_reader_frame(r, &f)) == 1) {
		if (cmp != NULL) {
			CHECK(*got + HOP_FRAME_HDR + f.len <= cmp_len);
			CHECK(cmp[*got] == f.type);
			CHECK(f.len ==
			      ((size_t)cmp[*got + 1] << 16 |
			       (size_t)cmp[*got + 2] << 8 | cmp[*got + 3]));
			CHECK(f.len == 0 || memcmp(cmp + *got + HOP_FRAME_HDR,
						   f.body, f.len) == 0);
		}
		*got += HOP_FRAME_HDR + f.len;
		decode_frame(&f);
		rc = 0;
	}
	CHECK(rc == 0 || rc == FERRY_EPROTO || rc == FERRY_ECORRUPT ||
	      rc == FERRY_EINVAL || rc == FERRY_ESTATE);
	CHECK(rc == 0 || bundle_reader_why(r)[0] != '\0');
	if (rc == 0)
		CHECK(file_size == UINT64_MAX ||
		      bundle_reader_pos(r) == file_size);
	bundle_reader_free(r);
	return rc;
}

/* What B must make of frame bytes p[0..len): the end (0) after whole
 * frames, FERRY_EPROTO for an oversized or unknown frame, FERRY_ECORRUPT
 * for one cut by the end; *whole = bytes of the frames before. */
static int
expect_frames(const uint8_t *p, size_t len, size_t *whole)
{
	size_t off = 0;

	for (;;) {
		size_t body;
		*whole = off;
		if (off == len)
			return 0;
		if (len - off < HOP_FRAME_HDR)
			return FERRY_ECORRUPT;
		body = (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 |
		       p[off + 3];
		if (body > HOP_PLAIN_MAX - HOP_FRAME_HDR)
			return FERRY_EPROTO;
		if (body > len - off - HOP_FRAME_HDR)
			return FERRY_ECORRUPT;
		if (p[off] == 0 || p[off] >= HOP_TYPE_MAX_)
			return FERRY_EPROTO;
		off += HOP_FRAME_HDR + body;
	}
}

static void
sealed_round_trip(const uint8_t *p, size_t len)
{
	struct bundle_writer *w = NULL;
	size_t whole = 0, got = 0;
	int want, rc;

	CHECK(ftruncate(sealed_fd, 0) == 0);
	CHECK(lseek(sealed_fd, 0, SEEK_SET) == 0);
	CHECK(bundle_writer_open(sealed_fd, ida, b_id, identity_kx_pk(idb), 1,
				 0, BUNDLE_CHUNK_MIN, &w) == 0);
	CHECK(bundle_writer_put(w, p, len) == 0);
	CHECK(bundle_writer_finish(w, NULL) == 0);
	CHECK(lseek(sealed_fd, 0, SEEK_SET) == 0);
	want = expect_frames(p, len, &whole);
	rc = read_bundle(fd_read, &sealed_fd,
			 bundle_size_for(len, BUNDLE_CHUNK_MIN), p, len, &got);
	CHECK(rc == want);
	CHECK(got == whole);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so ASan catches any read past the input. */
	uint8_t *copy = malloc(size ? size : 1);
	struct mem_in in = {0};
	size_t got = 0;

	if (copy == NULL)
		return 0;
	init_once();
	if (size != 0)
		memcpy(copy, data, size);
	in.p = copy;
	in.len = size;
	(void)read_bundle(mem_read, &in, size, NULL, 0, &got);
	if (size < 8 || memcmp(copy, BUNDLE_MAGIC, 8) != 0)
		sealed_round_trip(copy, size);
	free(copy);
	return 0;
}
