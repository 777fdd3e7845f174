/*
 * fuzz_hop.c - libFuzzer target for the hop frame codec (transports/hop.c):
 * the input is one decrypted record; walk it with hop_record_next, decode
 * every frame with its typed decoder, re-encode what decoded and check
 * that the encoder accepts it and that it decodes to the same thing
 * (fixed layouts: to the same bytes).  Aborts on any disagreement.
 * A CHUNKZ that opens (hop_zstd.c, into a bounded buffer) must give
 * exactly orig_len bytes, and those bytes compressed again must open to
 * the same.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transports/hop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[HOP_PLAIN_MAX];
static struct hop_zstd *z;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

/* Re-encoded record: exactly one frame, of the given type. */
static struct hop_frame
reread(const struct hop_rbuf *b, uint8_t type)
{
	struct hop_frame g;
	size_t len = 0, off = 0;

	CHECK(hop_rbuf_end(b, &len) == 0);
	CHECK(hop_record_next(out, len, &off, &g) == 1);
	CHECK(g.type == type && off == len);
	return g;
}

static void
same_bytes(const struct hop_frame *f, const struct hop_rbuf *b)
{
	struct hop_frame g = reread(b, f->type);

	CHECK(g.len == f->len);
	CHECK(f->len == 0 || memcmp(g.body, f->body, f->len) == 0);
}

static void
same_msg(const struct hop_msg *a, const struct hop_msg *c)
{
	CHECK(memcmp(a->msg.id, c->msg.id, FERRY_ID_LEN) == 0);
	CHECK(strcmp(a->msg.src_node, c->msg.src_node) == 0);
	CHECK(strcmp(a->msg.dst_node, c->msg.dst_node) == 0);
	CHECK(strcmp(a->msg.dst_queue, c->msg.dst_queue) == 0);
	CHECK(strcmp(a->msg.reply_to, c->msg.reply_to) == 0);
	CHECK(strcmp(a->msg.correlation, c->msg.correlation) == 0);
	CHECK(a->msg.priority == c->msg.priority &&
	      a->msg.flags == c->msg.flags &&
	      a->msg.created_ms == c->msg.created_ms &&
	      a->msg.payload_len == c->msg.payload_len &&
	      a->ttl_ms == c->ttl_ms && a->offset == c->offset);
	CHECK(strcmp(a->path, c->path) == 0 && a->hop_limit == c->hop_limit &&
	      a->has_sig == c->has_sig &&
	      (!a->has_sig ||
	       memcmp(a->origin_sig, c->origin_sig, HOP_SIG_LEN) == 0));
	CHECK(strcmp(a->group, c->group) == 0 &&
	      memcmp(a->group_id, c->group_id, FERRY_ID_LEN) == 0 &&
	      strcmp(a->members, c->members) == 0);
}

static void
one_frame(const struct hop_frame *f)
{
	struct hop_rbuf b;
	struct hop_frame g;

	hop_rbuf_init(&b, out, sizeof(out));
	switch (f->type) {
	case HOP_HELLO: {
		struct hop_hello h, h2;
		if (hop_hello_decode(f, &h, NULL) != 0)
			return;
		hop_put_hello(&b, &h);
		g = reread(&b, HOP_HELLO);
		CHECK(hop_hello_decode(&g, &h2, NULL) == 0);
		CHECK(h.version == h2.version && strcmp(h.node, h2.node) == 0 &&
		      h.max_record == h2.max_record &&
		      h.keepalive_ms == h2.keepalive_ms &&
		      h.clock_ms == h2.clock_ms && h.features == h2.features);
		break;
	}
	case HOP_MSG: {
		struct hop_msg m, m2;
		if (hop_msg_decode(f, &m, NULL) != 0)
			return;
		hop_put_msg(&b, &m);
		g = reread(&b, HOP_MSG);
		CHECK(g.len + HOP_FRAME_HDR == hop_msg_frame_len(&m));
		CHECK(hop_msg_decode(&g, &m2, NULL) == 0);
		same_msg(&m, &m2);
		break;
	}
	case HOP_REFUSE: {
		struct hop_refuse r;
		if (hop_refuse_decode(f, &r, NULL) != 0)
			return;
		hop_put_refuse(&b, &r);
		same_bytes(f, &b);
		break;
	}
	case HOP_CHUNK: {
		struct hop_chunk c;
		if (hop_chunk_decode(f, &c, NULL) != 0)
			return;
		CHECK(c.data >= f->body && c.data + c.len == f->body + f->len);
		CHECK(hop_put_chunk(&b, c.id, c.offset, c.data, c.len) ==
		      c.len);
		same_bytes(f, &b);
		break;
	}
	case HOP_END: {
		struct hop_end e;
		if (hop_end_decode(f, &e, NULL) != 0)
			return;
		hop_put_end(&b, &e);
		same_bytes(f, &b);
		break;
	}
	case HOP_CUSTODY: {
		struct hop_custody c;
		if (hop_custody_decode(f, &c, NULL) != 0)
			return;
		CHECK(hop_put_custody(&b, c.ids, c.count) == c.count);
		same_bytes(f, &b);
		break;
	}
	case HOP_RESUME: {
		struct hop_resume r;
		if (hop_resume_decode(f, &r, NULL) != 0)
			return;
		hop_put_resume(&b, &r);
		same_bytes(f, &b);
		break;
	}
	case HOP_KEEPALIVE: {
		struct hop_keepalive k;
		if (hop_keepalive_decode(f, &k, NULL) != 0)
			return;
		hop_put_keepalive(&b, &k);
		same_bytes(f, &b);
		break;
	}
	case HOP_REKEY:
		if (hop_rekey_decode(f, NULL) != 0)
			return;
		hop_put_rekey(&b);
		same_bytes(f, &b);
		break;
	case HOP_CLOSE: {
		struct hop_close c, c2;
		if (hop_close_decode(f, &c, NULL) != 0)
			return;
		hop_put_close(&b, c.code, c.text);
		g = reread(&b, HOP_CLOSE);
		CHECK(hop_close_decode(&g, &c2, NULL) == 0);
		CHECK(c.code == c2.code && strcmp(c.text, c2.text) == 0);
		break;
	}
	case HOP_CHUNKZ: {
		struct hop_chunkz cz, cz2;
		struct hop_chunk c, c2;
		uint8_t id[FERRY_ID_LEN];
		uint64_t offset;
		size_t n;
		int zlen;
		if (hop_chunkz_decode(f, &cz, NULL) != 0)
			return;
		CHECK(cz.data + cz.len == f->body + f->len);
		if (z == NULL)
			CHECK((z = hop_zstd_new()) != NULL);
		if (hop_chunkz_inflate(z, &cz, &c, NULL) != 0)
			return;
		CHECK(c.len == cz.orig_len && c.offset == cz.offset &&
		      memcmp(c.id, cz.id, FERRY_ID_LEN) == 0);
		/* c.data lives in z: keep what the next call needs. */
		memcpy(id, c.id, FERRY_ID_LEN);
		offset = c.offset;
		n = c.len;
		zlen = hop_put_chunkz(&b, z, 1, id, offset, c.data, n,
				      HOP_PLAIN_MAX);
		CHECK(zlen >= 0);
		if (zlen == 0)
			return; /* did not fit a record again: fine */
		g = reread(&b, HOP_CHUNKZ);
		CHECK(hop_chunkz_decode(&g, &cz2, NULL) == 0);
		CHECK(cz2.orig_len == n && cz2.offset == offset);
		CHECK(hop_chunkz_inflate(z, &cz2, &c2, NULL) == 0);
		CHECK(c2.len == n);
		break;
	}
	default:
		abort(); /* the walker let an unknown type through */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so ASan catches any read past the record. */
	uint8_t *rec = malloc(size ? size : 1);
	struct hop_frame f;
	size_t off = 0;
	int rc;

	if (rec == NULL)
		return 0;
	if (size != 0)
		memcpy(rec, data, size);
	while ((rc = hop_record_next(rec, size, &off, &f)) == 1) {
		CHECK(f.body >= rec && f.body + f.len <= rec + size);
		one_frame(&f);
	}
	CHECK(rc == 0 || rc == FERRY_EPROTO);
	CHECK(rc != 0 || off == size);
	free(rec);
	return 0;
}
