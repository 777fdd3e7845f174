/*
 * test_transports_hop.c - CUnit tests of the hop frame codec
 * (transports/hop.c, docs/hop.md): round trips of every frame type,
 * several frames per record, records filled exactly, every truncation
 * refused without over-reads (exact-size heap copies, so ASan sees them),
 * and tables of hostile inputs.
 *
 * FERRY_GEN_HOP_CORPUS=dir writes the group seeds of the fuzz corpus
 * instead (msg_group and msg_group_own, tests/fuzz/corpus/hop).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tests/unit/testutil.h"
#include "transports/hop.h"

static uint8_t rec[HOP_PLAIN_MAX];

static void
sample_id(uint8_t id[FERRY_ID_LEN], uint8_t seed)
{
	for (int i = 0; i < FERRY_ID_LEN; i++)
		id[i] = (uint8_t)(seed + 17 * i);
}

static struct hop_msg
sample_msg(void)
{
	struct hop_msg hm;

	memset(&hm, 0, sizeof(hm));
	ferry_msg_init(&hm.msg);
	sample_id(hm.msg.id, 1);
	strcpy(hm.msg.src_node, "field-07");
	strcpy(hm.msg.dst_node, "base");
	strcpy(hm.msg.dst_queue, "reports/daily");
	strcpy(hm.msg.reply_to, "acks");
	strcpy(hm.msg.correlation, "batch 42 / \xc3\xa4");
	hm.msg.priority = 7;
	hm.msg.flags = FERRY_MSG_RECEIPT;
	hm.msg.created_ms = -5; /* a clock before 1970 still round-trips */
	hm.msg.payload_len = 1000000;
	hm.ttl_ms = 86400000;
	hm.offset = 4096;
	return hm;
}

static struct hop_hello
sample_hello(void)
{
	struct hop_hello h;

	memset(&h, 0, sizeof(h));
	h.version = HOP_VERSION;
	strcpy(h.node, "base");
	h.max_record = 65535;
	h.keepalive_ms = 30000;
	h.clock_ms = 1732550000123;
	return h;
}

/* One record holding one frame of the given type; returns its length. */
static size_t
build_one(uint8_t type, uint8_t *buf, size_t cap)
{
	struct hop_rbuf b;
	uint8_t id[FERRY_ID_LEN], ids[3 * FERRY_ID_LEN];
	static const uint8_t data[100] = {1, 2, 3};
	size_t len = 0;

	sample_id(id, 9);
	hop_rbuf_init(&b, buf, cap);
	switch (type) {
	case HOP_HELLO: {
		struct hop_hello h = sample_hello();
		hop_put_hello(&b, &h);
		break;
	}
	case HOP_MSG: {
		struct hop_msg m = sample_msg();
		hop_put_msg(&b, &m);
		break;
	}
	case HOP_REFUSE: {
		struct hop_refuse r = {.reason = HOP_REFUSE_PARTIAL,
				       .offset = 777};
		memcpy(r.id, id, FERRY_ID_LEN);
		hop_put_refuse(&b, &r);
		break;
	}
	case HOP_CHUNK:
		CU_ASSERT_EQUAL(hop_put_chunk(&b, id, 5, data, sizeof(data)),
				sizeof(data));
		break;
	case HOP_END: {
		struct hop_end e = {.total_len = 123456};
		memcpy(e.id, id, FERRY_ID_LEN);
		memset(e.hash, 0xab, sizeof(e.hash));
		hop_put_end(&b, &e);
		break;
	}
	case HOP_CUSTODY:
		for (size_t i = 0; i < 3; i++)
			sample_id(ids + i * FERRY_ID_LEN, (uint8_t)(30 + i));
		CU_ASSERT_EQUAL(hop_put_custody(&b, ids, 3), 3);
		break;
	case HOP_RESUME: {
		struct hop_resume r = {.offset = 65536};
		memcpy(r.id, id, FERRY_ID_LEN);
		hop_put_resume(&b, &r);
		break;
	}
	case HOP_KEEPALIVE: {
		struct hop_keepalive k = {.has_time = 1, .time_ms = 99};
		hop_put_keepalive(&b, &k);
		break;
	}
	case HOP_REKEY:
		hop_put_rekey(&b);
		break;
	case HOP_CLOSE:
		hop_put_close(&b, HOP_CLOSE_SHUTDOWN, "agent stopping");
		break;
	}
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	return len;
}

/* Decode f with the decoder of its type. */
static int
decode_any(const struct hop_frame *f)
{
	struct hop_hello h;
	struct hop_msg m;
	struct hop_refuse rf;
	struct hop_chunk c;
	struct hop_end e;
	struct hop_custody cu;
	struct hop_resume rs;
	struct hop_keepalive k;
	struct hop_close cl;

	switch (f->type) {
	case HOP_HELLO:
		return hop_hello_decode(f, &h, NULL);
	case HOP_MSG:
		return hop_msg_decode(f, &m, NULL);
	case HOP_REFUSE:
		return hop_refuse_decode(f, &rf, NULL);
	case HOP_CHUNK:
		return hop_chunk_decode(f, &c, NULL);
	case HOP_END:
		return hop_end_decode(f, &e, NULL);
	case HOP_CUSTODY:
		return hop_custody_decode(f, &cu, NULL);
	case HOP_RESUME:
		return hop_resume_decode(f, &rs, NULL);
	case HOP_KEEPALIVE:
		return hop_keepalive_decode(f, &k, NULL);
	case HOP_REKEY:
		return hop_rekey_decode(f, NULL);
	case HOP_CLOSE:
		return hop_close_decode(f, &cl, NULL);
	}
	return FERRY_EINVAL;
}

/* The single frame of a record; fails the test if there is not one. */
static struct hop_frame
only_frame(const uint8_t *p, size_t len)
{
	struct hop_frame f;
	size_t off = 0;

	memset(&f, 0, sizeof(f));
	CU_ASSERT_EQUAL(hop_record_next(p, len, &off, &f), 1);
	CU_ASSERT_EQUAL(hop_record_next(p, len, &off, &f), 0);
	return f;
}

static void
test_hello_round_trip(void)
{
	struct hop_hello h = sample_hello(), got;
	size_t len = build_one(HOP_HELLO, rec, sizeof(rec));
	struct hop_frame f;
	size_t off = 0;

	CU_ASSERT_EQUAL_FATAL(hop_record_next(rec, len, &off, &f), 1);
	CU_ASSERT_EQUAL(f.type, HOP_HELLO);
	CU_ASSERT_EQUAL_FATAL(hop_hello_decode(&f, &got, NULL), 0);
	CU_ASSERT_EQUAL(got.version, h.version);
	CU_ASSERT_STRING_EQUAL(got.node, h.node);
	CU_ASSERT_EQUAL(got.max_record, h.max_record);
	CU_ASSERT_EQUAL(got.keepalive_ms, h.keepalive_ms);
	CU_ASSERT_EQUAL(got.clock_ms, h.clock_ms);
	CU_ASSERT_STRING_EQUAL(hop_type_name(f.type), "HELLO");
}

static void
check_msg_equal(const struct hop_msg *a, const struct hop_msg *b)
{
	CU_ASSERT(memcmp(a->msg.id, b->msg.id, FERRY_ID_LEN) == 0);
	CU_ASSERT_STRING_EQUAL(a->msg.src_node, b->msg.src_node);
	CU_ASSERT_STRING_EQUAL(a->msg.dst_node, b->msg.dst_node);
	CU_ASSERT_STRING_EQUAL(a->msg.dst_queue, b->msg.dst_queue);
	CU_ASSERT_STRING_EQUAL(a->msg.reply_to, b->msg.reply_to);
	CU_ASSERT_STRING_EQUAL(a->msg.correlation, b->msg.correlation);
	CU_ASSERT_EQUAL(a->msg.priority, b->msg.priority);
	CU_ASSERT_EQUAL(a->msg.flags, b->msg.flags);
	CU_ASSERT_EQUAL(a->msg.created_ms, b->msg.created_ms);
	CU_ASSERT_EQUAL(a->msg.payload_len, b->msg.payload_len);
	CU_ASSERT_EQUAL(a->ttl_ms, b->ttl_ms);
	CU_ASSERT_EQUAL(a->offset, b->offset);
}

/* Build m alone in a record, decode it into *got, compare. */
static void
msg_round_trip(const struct hop_msg *m, struct hop_msg *got)
{
	struct hop_rbuf b;
	struct hop_frame f;
	size_t len;

	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, m);
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	CU_ASSERT_EQUAL(len, hop_msg_frame_len(m));
	f = only_frame(rec, len);
	CU_ASSERT_EQUAL_FATAL(hop_msg_decode(&f, got, NULL), 0);
	check_msg_equal(m, got);
}

static void
test_msg_round_trip(void)
{
	struct hop_msg m = sample_msg(), got;
	struct hop_frame f;
	size_t len;

	len = build_one(HOP_MSG, rec, sizeof(rec));
	CU_ASSERT_EQUAL(len, hop_msg_frame_len(&m));
	f = only_frame(rec, len);
	CU_ASSERT_EQUAL_FATAL(hop_msg_decode(&f, &got, NULL), 0);
	check_msg_equal(&m, &got);
	CU_ASSERT_EQUAL(got.msg.expires_ms, 0); /* not carried: ttl_ms is */

	/* Without the optional fields; TTL 0 means "never expires". */
	m.msg.reply_to[0] = '\0';
	m.msg.correlation[0] = '\0';
	m.msg.priority = 0;
	m.msg.payload_len = 0;
	m.offset = 0;
	m.ttl_ms = 0;
	msg_round_trip(&m, &got);
}

static void
test_refuse_round_trip(void)
{
	static const uint8_t reasons[] = {
	    HOP_REFUSE_HAVE,	   HOP_REFUSE_TOO_BIG,	HOP_REFUSE_NO_ROUTE,
	    HOP_REFUSE_PARTIAL,	   HOP_REFUSE_BUSY,	HOP_REFUSE_QUEUE_FULL,
	    HOP_REFUSE_STORE_FULL, HOP_REFUSE_DISK_FULL};

	for (size_t i = 0; i < sizeof(reasons); i++) {
		struct hop_refuse r = {.reason = reasons[i]}, got;
		struct hop_rbuf b;
		struct hop_frame f;
		size_t len;

		sample_id(r.id, (uint8_t)i);
		if (r.reason == HOP_REFUSE_PARTIAL)
			r.offset = UINT64_MAX;
		hop_rbuf_init(&b, rec, sizeof(rec));
		hop_put_refuse(&b, &r);
		CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
		CU_ASSERT_EQUAL(len, HOP_FRAME_HDR + HOP_REFUSE_LEN);
		f = only_frame(rec, len);
		CU_ASSERT_EQUAL_FATAL(hop_refuse_decode(&f, &got, NULL), 0);
		CU_ASSERT(memcmp(got.id, r.id, FERRY_ID_LEN) == 0);
		CU_ASSERT_EQUAL(got.reason, r.reason);
		CU_ASSERT_EQUAL(got.offset, r.offset);
	}
}

static void
test_chunk_round_trip(void)
{
	uint8_t id[FERRY_ID_LEN], data[300];
	struct hop_rbuf b;
	struct hop_chunk c;
	struct hop_frame f;
	size_t len;

	sample_id(id, 3);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	hop_rbuf_init(&b, rec, sizeof(rec));
	CU_ASSERT_EQUAL(hop_put_chunk(&b, id, 1u << 20, data, sizeof(data)),
			sizeof(data));
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	f = only_frame(rec, len);
	CU_ASSERT_EQUAL_FATAL(hop_chunk_decode(&f, &c, NULL), 0);
	CU_ASSERT(memcmp(c.id, id, FERRY_ID_LEN) == 0);
	CU_ASSERT_EQUAL(c.offset, 1u << 20);
	CU_ASSERT_EQUAL(c.len, sizeof(data));
	CU_ASSERT(memcmp(c.data, data, sizeof(data)) == 0);
	CU_ASSERT(c.data > rec && c.data < rec + len); /* points in */
}

static void
test_end_round_trip(void)
{
	struct hop_end got;
	size_t len = build_one(HOP_END, rec, sizeof(rec));
	struct hop_frame f = only_frame(rec, len);
	uint8_t id[FERRY_ID_LEN], hash[HOP_HASH_LEN];

	sample_id(id, 9);
	memset(hash, 0xab, sizeof(hash));
	CU_ASSERT_EQUAL(len, HOP_FRAME_HDR + HOP_END_LEN);
	CU_ASSERT_EQUAL_FATAL(hop_end_decode(&f, &got, NULL), 0);
	CU_ASSERT(memcmp(got.id, id, FERRY_ID_LEN) == 0);
	CU_ASSERT_EQUAL(got.total_len, 123456);
	CU_ASSERT(memcmp(got.hash, hash, HOP_HASH_LEN) == 0);
}

static void
test_custody_round_trip(void)
{
	struct hop_custody got;
	size_t len = build_one(HOP_CUSTODY, rec, sizeof(rec));
	struct hop_frame f = only_frame(rec, len);

	CU_ASSERT_EQUAL_FATAL(hop_custody_decode(&f, &got, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(got.count, 3);
	for (size_t i = 0; i < 3; i++) {
		uint8_t id[FERRY_ID_LEN];
		sample_id(id, (uint8_t)(30 + i));
		CU_ASSERT(
		    memcmp(got.ids + i * FERRY_ID_LEN, id, FERRY_ID_LEN) == 0);
	}
}

static void
test_resume_round_trip(void)
{
	struct hop_resume got;
	size_t len = build_one(HOP_RESUME, rec, sizeof(rec));
	struct hop_frame f = only_frame(rec, len);
	uint8_t id[FERRY_ID_LEN];

	sample_id(id, 9);
	CU_ASSERT_EQUAL_FATAL(hop_resume_decode(&f, &got, NULL), 0);
	CU_ASSERT(memcmp(got.id, id, FERRY_ID_LEN) == 0);
	CU_ASSERT_EQUAL(got.offset, 65536);
}

static void
test_keepalive_round_trip(void)
{
	struct hop_keepalive k = {.has_time = 1, .time_ms = -1}, got;
	struct hop_rbuf b;
	struct hop_frame f;
	size_t len;

	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_keepalive(&b, &k);
	hop_put_keepalive(&b, NULL);
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	CU_ASSERT_EQUAL(len, 2 * HOP_FRAME_HDR + 8);
	CU_ASSERT_EQUAL_FATAL(hop_record_next(rec, len, &(size_t){0}, &f), 1);
	CU_ASSERT_EQUAL_FATAL(hop_keepalive_decode(&f, &got, NULL), 0);
	CU_ASSERT_EQUAL(got.has_time, 1);
	CU_ASSERT_EQUAL(got.time_ms, -1);
	f = only_frame(rec + HOP_FRAME_HDR + 8, HOP_FRAME_HDR);
	CU_ASSERT_EQUAL_FATAL(hop_keepalive_decode(&f, &got, NULL), 0);
	CU_ASSERT_EQUAL(got.has_time, 0);
}

static void
test_rekey_round_trip(void)
{
	size_t len = build_one(HOP_REKEY, rec, sizeof(rec));
	struct hop_frame f = only_frame(rec, len);

	CU_ASSERT_EQUAL(len, HOP_FRAME_HDR);
	CU_ASSERT_EQUAL(f.type, HOP_REKEY);
	CU_ASSERT_EQUAL(hop_rekey_decode(&f, NULL), 0);
}

static void
test_close_round_trip(void)
{
	struct hop_close got;
	struct hop_rbuf b;
	struct hop_frame f;
	char longest[HOP_CLOSE_TEXT_MAX + 1];
	size_t len = build_one(HOP_CLOSE, rec, sizeof(rec));

	f = only_frame(rec, len);
	CU_ASSERT_EQUAL_FATAL(hop_close_decode(&f, &got, NULL), 0);
	CU_ASSERT_EQUAL(got.code, HOP_CLOSE_SHUTDOWN);
	CU_ASSERT_STRING_EQUAL(got.text, "agent stopping");

	memset(longest, 'x', HOP_CLOSE_TEXT_MAX);
	longest[HOP_CLOSE_TEXT_MAX] = '\0';
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_close(&b, 65535, NULL);
	hop_put_close(&b, HOP_CLOSE_PROTO, longest);
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	{
		size_t off = 0;
		CU_ASSERT_EQUAL_FATAL(hop_record_next(rec, len, &off, &f), 1);
		CU_ASSERT_EQUAL_FATAL(hop_close_decode(&f, &got, NULL), 0);
		CU_ASSERT_EQUAL(got.code, 65535); /* unknown codes decode */
		CU_ASSERT_STRING_EQUAL(got.text, "");
		CU_ASSERT_EQUAL_FATAL(hop_record_next(rec, len, &off, &f), 1);
		CU_ASSERT_EQUAL_FATAL(hop_close_decode(&f, &got, NULL), 0);
		CU_ASSERT_STRING_EQUAL(got.text, longest);
	}
}

static void
test_several_frames_in_one_record(void)
{
	struct hop_hello h = sample_hello(), gh;
	struct hop_msg m = sample_msg(), gm;
	struct hop_end e = {.total_len = 5}, ge;
	struct hop_chunk gc;
	struct hop_custody gcu;
	struct hop_rbuf b;
	struct hop_frame f;
	static const uint8_t want[] = {HOP_HELLO, HOP_MSG,     HOP_CHUNK,
				       HOP_END,	  HOP_CUSTODY, HOP_KEEPALIVE,
				       HOP_REKEY, HOP_CLOSE};
	size_t len, off = 0, n = 0;
	int rc;

	memcpy(e.id, m.msg.id, FERRY_ID_LEN);
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_hello(&b, &h);
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL(hop_put_chunk(&b, m.msg.id, 4096, "hello", 5), 5);
	hop_put_end(&b, &e);
	CU_ASSERT_EQUAL(hop_put_custody(&b, m.msg.id, 1), 1);
	hop_put_keepalive(&b, NULL);
	hop_put_rekey(&b);
	hop_put_close(&b, HOP_CLOSE_NORMAL, "bye");
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);

	while ((rc = hop_record_next(rec, len, &off, &f)) == 1) {
		CU_ASSERT_FATAL(n < sizeof(want));
		CU_ASSERT_EQUAL(f.type, want[n]);
		CU_ASSERT_EQUAL(decode_any(&f), 0);
		n++;
		if (f.type == HOP_HELLO)
			CU_ASSERT(hop_hello_decode(&f, &gh, NULL) == 0 &&
				  strcmp(gh.node, "base") == 0);
		if (f.type == HOP_MSG) {
			CU_ASSERT_EQUAL(hop_msg_decode(&f, &gm, NULL), 0);
			check_msg_equal(&m, &gm);
		}
		if (f.type == HOP_CHUNK)
			CU_ASSERT(hop_chunk_decode(&f, &gc, NULL) == 0 &&
				  gc.len == 5 &&
				  memcmp(gc.data, "hello", 5) == 0);
		if (f.type == HOP_END)
			CU_ASSERT(hop_end_decode(&f, &ge, NULL) == 0 &&
				  ge.total_len == 5);
		if (f.type == HOP_CUSTODY)
			CU_ASSERT(hop_custody_decode(&f, &gcu, NULL) == 0 &&
				  gcu.count == 1);
	}
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(n, sizeof(want));
	CU_ASSERT_EQUAL(off, len);
}

static void
test_chunk_fills_record_exactly(void)
{
	static uint8_t data[2 * HOP_PLAIN_MAX];
	static const size_t caps[] = {HOP_PLAIN_MAX, 1024, 29};
	uint8_t id[FERRY_ID_LEN];

	sample_id(id, 5);
	memset(data, 0x5a, sizeof(data));
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		struct hop_rbuf b;
		struct hop_frame f;
		struct hop_chunk c;
		size_t n, len, off = 0, total = 0;
		uint64_t at = 0;
		int rc;

		hop_rbuf_init(&b, rec, caps[i]);
		if (caps[i] >= 200)
			hop_put_rekey(&b); /* something before the chunk */
		n = hop_put_chunk(&b, id, 0, data, sizeof(data));
		CU_ASSERT(n > 0);
		CU_ASSERT_EQUAL(hop_rbuf_room(&b), 0);
		/* Full: nothing more fits, and that is no error. */
		CU_ASSERT_EQUAL(hop_put_chunk(&b, id, n, data, 1), 0);
		CU_ASSERT_EQUAL(hop_put_custody(&b, id, 1), 0);
		CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
		CU_ASSERT_EQUAL(len, caps[i]);
		while ((rc = hop_record_next(rec, len, &off, &f)) == 1) {
			if (f.type != HOP_CHUNK)
				continue;
			CU_ASSERT_EQUAL_FATAL(hop_chunk_decode(&f, &c, NULL),
					      0);
			CU_ASSERT_EQUAL(c.offset, at);
			at += c.len;
			total += c.len;
		}
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_EQUAL(total, n);
	}
	/* A record of HOP_PLAIN_MAX holds one chunk of 65,491 bytes. */
	{
		struct hop_rbuf b;
		hop_rbuf_init(&b, rec, (size_t)1 << 20); /* clamped */
		CU_ASSERT_EQUAL(hop_put_chunk(&b, id, 0, data, sizeof(data)),
				HOP_PLAIN_MAX - HOP_FRAME_HDR - HOP_CHUNK_HDR);
	}
	/* Too little room for a byte: 0, and the record stays usable. */
	{
		struct hop_rbuf b;
		size_t len;
		hop_rbuf_init(&b, rec, HOP_FRAME_HDR + HOP_CHUNK_HDR);
		CU_ASSERT_EQUAL(hop_put_chunk(&b, id, 0, data, 10), 0);
		hop_put_rekey(&b);
		CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), 0);
		CU_ASSERT_EQUAL(len, HOP_FRAME_HDR);
	}
}

static void
test_custody_fills_record(void)
{
	static uint8_t ids[(HOP_CUSTODY_MAX + 10) * FERRY_ID_LEN];
	struct hop_rbuf b;
	struct hop_custody c;
	struct hop_frame f;
	size_t n, len;

	for (size_t i = 0; i < sizeof(ids); i++)
		ids[i] = (uint8_t)i;
	hop_rbuf_init(&b, rec, sizeof(rec));
	n = hop_put_custody(&b, ids, HOP_CUSTODY_MAX + 10);
	CU_ASSERT_EQUAL(n, HOP_CUSTODY_MAX);
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	f = only_frame(rec, len);
	CU_ASSERT_EQUAL_FATAL(hop_custody_decode(&f, &c, NULL), 0);
	CU_ASSERT_EQUAL(c.count, HOP_CUSTODY_MAX);
	CU_ASSERT(memcmp(c.ids, ids, n * FERRY_ID_LEN) == 0);

	/* 100 bytes of room: (100 - 6) / 16 = 5 ids. */
	hop_rbuf_init(&b, rec, 100);
	CU_ASSERT_EQUAL(hop_put_custody(&b, ids, 50), 5);
	CU_ASSERT_EQUAL(hop_put_custody(&b, ids, 50), 0);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), 0);
	CU_ASSERT_EQUAL(len, HOP_FRAME_HDR + HOP_CUSTODY_HDR + 5 * 16);
}

/* Whether a frame of type t cut to a body of k bytes (length field fixed
 * up) is still a valid frame. */
static int
cut_still_valid(uint8_t t, size_t k)
{
	switch (t) {
	case HOP_CHUNK:
		return k > HOP_CHUNK_HDR;
	case HOP_KEEPALIVE:
		return k == 0;
	case HOP_CLOSE:
		return k == 5; /* just after the code field */
	}
	return 0;
}

static void
test_every_truncation_refused(void)
{
	for (uint8_t t = 1; t < HOP_TYPE_MAX_; t++) {
		size_t len = build_one(t, rec, sizeof(rec));

		/* The record cut short: the walker refuses it. */
		for (size_t cut = 0; cut < len; cut++) {
			uint8_t *copy = malloc(cut ? cut : 1);
			struct hop_frame f;
			size_t off = 0;
			int rc;

			CU_ASSERT_FATAL(copy != NULL);
			memcpy(copy, rec, cut);
			rc = hop_record_next(copy, cut, &off, &f);
			CU_ASSERT_EQUAL(rc, cut == 0 ? 0 : FERRY_EPROTO);
			if (rc != (cut == 0 ? 0 : FERRY_EPROTO))
				fprintf(stderr, "%s cut at %zu walked\n",
					hop_type_name(t), cut);
			free(copy);
		}
		/* The frame's body cut short with a matching length: the
		 * walker accepts it, the typed decoder refuses it. */
		for (size_t k = 0; k + HOP_FRAME_HDR < len; k++) {
			size_t n = HOP_FRAME_HDR + k;
			uint8_t *copy = malloc(n);
			struct hop_frame f;
			size_t off = 0;
			int rc, want;

			CU_ASSERT_FATAL(copy != NULL);
			memcpy(copy, rec, n);
			copy[1] = (uint8_t)(k >> 16);
			copy[2] = (uint8_t)(k >> 8);
			copy[3] = (uint8_t)k;
			CU_ASSERT_EQUAL_FATAL(
			    hop_record_next(copy, n, &off, &f), 1);
			rc = decode_any(&f);
			want = cut_still_valid(t, k) ? 0 : FERRY_EPROTO;
			if (rc != want)
				fprintf(stderr, "%s body cut to %zu: %d\n",
					hop_type_name(t), k, rc);
			CU_ASSERT_EQUAL(rc, want);
			free(copy);
		}
	}
}

struct raw_case {
	const char *label;
	const uint8_t *rec;
	size_t len;
	int walk_rc; /* of the first hop_record_next */
	int decode_rc;
};

#define RAW(label, walk, dec, ...)                                             \
	{                                                                      \
		label, (const uint8_t[]){__VA_ARGS__},                         \
		    sizeof((const uint8_t[]){__VA_ARGS__}), walk, dec          \
	}

static const struct raw_case raw_cases[] = {
    RAW("type 0", FERRY_EPROTO, 0, 0, 0, 0, 0),
    RAW("type 12", FERRY_EPROTO, 0, 12, 0, 0, 0),
    RAW("type 255", FERRY_EPROTO, 0, 255, 0, 0, 0),
    RAW("length past the record", FERRY_EPROTO, 0, HOP_REKEY, 0, 0, 1),
    RAW("length 2^24-1", FERRY_EPROTO, 0, HOP_CHUNK, 0xff, 0xff, 0xff, 1),
    RAW("header cut", FERRY_EPROTO, 0, HOP_REKEY, 0, 0),
    RAW("REKEY with a body", 1, FERRY_EPROTO, HOP_REKEY, 0, 0, 1, 0),
    RAW("KEEPALIVE of 4 bytes", 1, FERRY_EPROTO, HOP_KEEPALIVE, 0, 0, 4, 0, 0,
	0, 0),
    RAW("CUSTODY count 0", 1, FERRY_EPROTO, HOP_CUSTODY, 0, 0, 2, 0, 0),
    RAW("CUSTODY count 2, one id", 1, FERRY_EPROTO, HOP_CUSTODY, 0, 0, 18, 0, 2,
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
    RAW("CUSTODY count above the maximum", 1, FERRY_EPROTO, HOP_CUSTODY, 0, 0,
	2, 0xff, 0xff),
    RAW("CUSTODY odd tail", 1, FERRY_EPROTO, HOP_CUSTODY, 0, 0, 19, 0, 1, 1, 2,
	3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17),
    RAW("REFUSE reason 0", 1, FERRY_EPROTO, HOP_REFUSE, 0, 0, 25, 1, 2, 3, 4, 5,
	6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    RAW("REFUSE reason 9", 1, FERRY_EPROTO, HOP_REFUSE, 0, 0, 25, 1, 2, 3, 4, 5,
	6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 9, 0, 0, 0, 0, 0, 0, 0, 0),
    RAW("REFUSE QUEUE_FULL with an offset", 1, FERRY_EPROTO, HOP_REFUSE, 0, 0,
	25, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 6, 0, 0, 0,
	0, 0, 0, 0, 1),
    RAW("REFUSE BUSY with an offset", 1, FERRY_EPROTO, HOP_REFUSE, 0, 0, 25, 1,
	2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 5, 0, 0, 0, 0, 0, 0,
	0, 1),
    RAW("REFUSE HAVE with an offset", 1, FERRY_EPROTO, HOP_REFUSE, 0, 0, 25, 1,
	2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1, 0, 0, 0, 0, 0, 0,
	0, 1),
    RAW("CHUNK offset wraps", 1, FERRY_EPROTO, HOP_CHUNK, 0, 0, 26, 1, 2, 3, 4,
	5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 'a', 'b'),
    RAW("CHUNK ending at 2^64-1 exactly", 1, 0, HOP_CHUNK, 0, 0, 25, 1, 2, 3, 4,
	5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xfe, 'a'),
    RAW("CLOSE without code", 1, FERRY_EPROTO, HOP_CLOSE, 0, 0, 0),
    RAW("CLOSE code of 1 byte", 1, FERRY_EPROTO, HOP_CLOSE, 0, 0, 4, 1, 0, 1,
	0),
    RAW("CLOSE duplicate code", 1, FERRY_EPROTO, HOP_CLOSE, 0, 0, 10, 1, 0, 2,
	0, 0, 1, 0, 2, 0, 0),
    RAW("CLOSE text with a newline", 1, FERRY_EPROTO, HOP_CLOSE, 0, 0, 10, 1, 0,
	2, 0, 0, 2, 0, 2, 'a', '\n'),
    RAW("CLOSE text with NUL", 1, FERRY_EPROTO, HOP_CLOSE, 0, 0, 10, 1, 0, 2, 0,
	0, 2, 0, 2, 'a', 0),
    RAW("CLOSE empty text", 1, FERRY_EPROTO, HOP_CLOSE, 0, 0, 8, 1, 0, 2, 0, 0,
	2, 0, 0),
    RAW("CLOSE field tag 0", 1, FERRY_EPROTO, HOP_CLOSE, 0, 0, 8, 1, 0, 2, 0, 0,
	0, 0, 0),
    RAW("CLOSE field length past the frame", 1, FERRY_EPROTO, HOP_CLOSE, 0, 0,
	8, 1, 0, 2, 0, 0, 9, 0, 1),
    RAW("CLOSE unknown field skipped", 1, 0, HOP_CLOSE, 0, 0, 9, 1, 0, 2, 0, 0,
	9, 0, 1, 'z'),
    RAW("HELLO empty", 1, FERRY_EPROTO, HOP_HELLO, 0, 0, 0),
    RAW("MSG empty", 1, FERRY_EPROTO, HOP_MSG, 0, 0, 0),
};

static void
test_raw_cases(void)
{
	for (size_t i = 0; i < sizeof(raw_cases) / sizeof(raw_cases[0]); i++) {
		const struct raw_case *c = &raw_cases[i];
		uint8_t *copy = malloc(c->len);
		struct hop_frame f;
		size_t off = 0;
		int rc, drc = 0;

		CU_ASSERT_FATAL(copy != NULL);
		memcpy(copy, c->rec, c->len);
		rc = hop_record_next(copy, c->len, &off, &f);
		if (rc == 1)
			drc = decode_any(&f);
		if (rc != c->walk_rc || (rc == 1 && drc != c->decode_rc))
			fprintf(stderr, "raw case '%s' failed: %d %d\n",
				c->label, rc, drc);
		CU_ASSERT_EQUAL(rc, c->walk_rc);
		if (rc == 1)
			CU_ASSERT_EQUAL(drc, c->decode_rc);
		free(copy);
	}
}

static void
test_record_limits(void)
{
	static uint8_t big[HOP_PLAIN_MAX + 1];
	struct hop_frame f;
	size_t off = 0;

	/* A record longer than a Noise message allows is refused whole. */
	big[0] = HOP_REKEY;
	CU_ASSERT_EQUAL(hop_record_next(big, sizeof(big), &off, &f),
			FERRY_EPROTO);
	off = 0;
	CU_ASSERT_EQUAL(hop_record_next(big, 4, &off, &f), 1);
	off = 5;
	CU_ASSERT_EQUAL(hop_record_next(big, 4, &off, &f), FERRY_EINVAL);
	off = 0;
	CU_ASSERT_EQUAL(hop_record_next(big, 0, &off, &f), 0);
	/* A decoder handed another type's frame: a caller's bug. */
	f.type = HOP_REKEY;
	f.body = big;
	f.len = 0;
	CU_ASSERT_EQUAL(hop_chunk_decode(&f, &(struct hop_chunk){0}, NULL),
			FERRY_EINVAL);
	CU_ASSERT_STRING_EQUAL(hop_type_name(0), "unknown");
}

/* Replace the first occurrence of from (same length as to) in p[0..len). */
static int
patch(uint8_t *p, size_t len, const void *from, const void *to, size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(p + i, from, n) == 0) {
			memcpy(p + i, to, n);
			return 1;
		}
	return 0;
}

struct patch_case {
	const char *label;
	uint8_t type;
	const char *from, *to;
	size_t n;
};

static const struct patch_case patch_cases[] = {
    {"MSG src upper case", HOP_MSG, "field-07", "Field-07", 8},
    {"MSG src leading dash", HOP_MSG, "field-07", "-ield-07", 8},
    {"MSG dst node with slash", HOP_MSG,
     "\x03\x00\x04"
     "base",
     "\x03\x00\x04"
     "ba/e",
     7},
    {"MSG dst queue double slash", HOP_MSG, "reports/daily", "reports//aily",
     13},
    {"MSG dst queue dot dot", HOP_MSG, "reports/daily", "reports/../ly", 13},
    {"MSG reply-to with space", HOP_MSG, "acks", "a ks", 4},
    {"MSG NUL inside a name", HOP_MSG, "field-07", "fiel\0-07", 8},
    {"MSG priority 8", HOP_MSG, "\x07\x00\x01\x07", "\x07\x00\x01\x08", 4},
    {"MSG priority 255", HOP_MSG, "\x07\x00\x01\x07", "\x07\x00\x01\xff", 4},
    {"MSG priority of 2 bytes", HOP_MSG, "\x07\x00\x01\x07\x08",
     "\x07\x00\x02\x07\x08", 5},
    {"MSG unknown flag", HOP_MSG, "\x08\x00\x04\x00\x00\x00\x02",
     "\x08\x00\x04\x00\x00\x01\x02", 7},
    {"MSG duplicate field", HOP_MSG, "\x05\x00\x04", "\x02\x00\x04", 3},
    {"MSG required field renamed", HOP_MSG, "\x0c\x00\x08", "\x0d\x00\x08", 3},
    {"MSG offset past payload", HOP_MSG,
     "\x0c\x00\x08\x00\x00\x00\x00\x00\x00\x10\x00",
     "\x0c\x00\x08\x00\x00\x00\x00\x00\x10\x00\x00", 11},
    {"MSG id of 15 bytes", HOP_MSG, "\x01\x00\x10", "\x01\x00\x0f", 3},
    {"HELLO node upper case", HOP_HELLO, "base", "BASE", 4},
    {"HELLO node leading dot", HOP_HELLO, "base", ".ase", 4},
    {"HELLO version 0", HOP_HELLO, "\x01\x00\x01\x01", "\x01\x00\x01\x00", 4},
    {"HELLO max_record 1023", HOP_HELLO, "\x03\x00\x02\xff\xff",
     "\x03\x00\x02\x03\xff", 5},
    {"HELLO keepalive above an hour", HOP_HELLO, "\x04\x00\x04\x00\x00\x75\x30",
     "\x04\x00\x04\x00\x36\xee\x81", 7},
    {"HELLO clock missing", HOP_HELLO, "\x05\x00\x08", "\x06\x00\x08", 3},
};

static void
test_patched_fields_refused(void)
{
	for (size_t i = 0; i < sizeof(patch_cases) / sizeof(patch_cases[0]);
	     i++) {
		const struct patch_case *c = &patch_cases[i];
		size_t len = build_one(c->type, rec, sizeof(rec));
		uint8_t *copy = malloc(len);
		struct hop_frame f;
		const char *why = NULL;
		int rc = 0;

		CU_ASSERT_FATAL(copy != NULL);
		memcpy(copy, rec, len);
		CU_ASSERT(patch(copy, len, c->from, c->to, c->n));
		f = only_frame(copy, len);
		if (c->type == HOP_MSG) {
			struct hop_msg m;
			rc = hop_msg_decode(&f, &m, &why);
		} else {
			struct hop_hello h;
			rc = hop_hello_decode(&f, &h, &why);
		}
		if (rc != FERRY_EPROTO)
			fprintf(stderr, "patch case '%s' accepted\n", c->label);
		CU_ASSERT_EQUAL(rc, FERRY_EPROTO);
		CU_ASSERT_PTR_NOT_NULL(why);
		free(copy);
	}
}

/* A MSG carrying its payload (tag 19), and HELLO's features (tag 6). */
static void
test_msg_body_and_features(void)
{
	static uint8_t body[HOP_BODY_MAX + 1];
	struct hop_msg m = sample_msg(), got;
	struct hop_hello h = sample_hello(), hg;
	struct hop_rbuf b;
	struct hop_frame f;
	size_t len;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7 + 1);
	m.offset = 0;
	m.msg.payload_len = 1024;
	m.has_body = 1;
	m.body = body;
	m.body_len = 1024;
	msg_round_trip(&m, &got);
	CU_ASSERT_EQUAL(got.has_body, 1);
	CU_ASSERT_EQUAL_FATAL(got.body_len, 1024);
	CU_ASSERT_EQUAL(memcmp(got.body, body, 1024), 0);
	/* Empty payloads too; the largest body. */
	m.msg.payload_len = m.body_len = 0;
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	f = only_frame(rec, len);
	CU_ASSERT_EQUAL_FATAL(hop_msg_decode(&f, &got, NULL), 0);
	CU_ASSERT_EQUAL(got.has_body, 1);
	CU_ASSERT_EQUAL(got.body_len, 0);
	m.msg.payload_len = m.body_len = HOP_BODY_MAX;
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	/* Not the whole payload, above 16 KiB, or resumed: the builder
	 * refuses, and so does the decoder (a payload_len patched). */
	const struct {
		uint64_t payload_len, offset;
		size_t body_len;
	} bad[] = {{2048, 0, 1024},
		   {HOP_BODY_MAX + 1, 0, HOP_BODY_MAX + 1},
		   {1024, 512, 1024}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.msg.payload_len = bad[i].payload_len;
		m.offset = bad[i].offset;
		m.body_len = bad[i].body_len;
		hop_rbuf_init(&b, rec, sizeof(rec));
		hop_put_msg(&b, &m);
		CU_ASSERT_NOT_EQUAL(hop_rbuf_end(&b, &len), 0);
	}
	m.msg.payload_len = m.body_len = 1024;
	m.offset = 0;
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	uint8_t pl[8] = {0, 0, 0, 0, 0, 0, 4, 0},
		pl2[8] = {0, 0, 0, 0, 0, 0, 8, 0};
	uint8_t pat[3 + 8], pat2[3 + 8];
	pat[0] = pat2[0] = 11; /* MSG_T_PAYLOAD_LEN */
	pat[1] = pat2[1] = 0;
	pat[2] = pat2[2] = 8;
	memcpy(pat + 3, pl, 8);
	memcpy(pat2 + 3, pl2, 8);
	CU_ASSERT_FATAL(patch(rec, len, pat, pat2, sizeof(pat)));
	f = only_frame(rec, len);
	CU_ASSERT_EQUAL(hop_msg_decode(&f, &got, NULL), FERRY_EPROTO);

	/* HELLO: features travel; without them (an older ferry) none. */
	h.features = HOP_FEAT_BODY | 0x80000000u;
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_hello(&b, &h);
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	f = only_frame(rec, len);
	CU_ASSERT_EQUAL_FATAL(hop_hello_decode(&f, &hg, NULL), 0);
	CU_ASSERT_EQUAL(hg.features, HOP_FEAT_BODY | 0x80000000u);
	h.features = 0;
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_hello(&b, &h);
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	f = only_frame(rec, len);
	CU_ASSERT_EQUAL_FATAL(hop_hello_decode(&f, &hg, NULL), 0);
	CU_ASSERT_EQUAL(hg.features, 0);
}

static void
test_unknown_fields_skipped(void)
{
	struct hop_msg m = sample_msg(), got;
	size_t len = build_one(HOP_MSG, rec, sizeof(rec));
	struct hop_frame f;

	/* Rename reply-to (optional) to tag 200: skipped, reply-to "". */
	CU_ASSERT_FATAL(patch(rec, len, "\x05\x00\x04", "\xc8\x00\x04", 3));
	f = only_frame(rec, len);
	CU_ASSERT_EQUAL_FATAL(hop_msg_decode(&f, &got, NULL), 0);
	m.msg.reply_to[0] = '\0';
	check_msg_equal(&m, &got);
}

static void
test_builder_refuses_what_decoder_refuses(void)
{
	struct hop_msg m;
	struct hop_hello h;
	struct hop_rbuf b;
	size_t len;

	m = sample_msg();
	m.msg.priority = 8;
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_EINVAL);

	m = sample_msg();
	strcpy(m.msg.dst_node, "Base");
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_EINVAL);

	m = sample_msg();
	m.offset = m.msg.payload_len + 1;
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_EINVAL);

	h = sample_hello();
	h.max_record = 100;
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_hello(&b, &h);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_EINVAL);

	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_close(&b, 0, "two\nlines");
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_EINVAL);

	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_refuse(
	    &b, &(struct hop_refuse){.reason = HOP_REFUSE_HAVE, .offset = 1});
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_EINVAL);

	hop_rbuf_init(&b, rec, sizeof(rec));
	CU_ASSERT_EQUAL(hop_put_chunk(&b, m.msg.id, UINT64_MAX, "ab", 2), 0);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_EINVAL);
}

static void
test_builder_overflow_is_sticky(void)
{
	struct hop_msg m = sample_msg();
	struct hop_rbuf b;
	size_t len;

	hop_rbuf_init(&b, rec, hop_msg_frame_len(&m) - 1);
	hop_put_rekey(&b);
	CU_ASSERT_EQUAL(b.len, HOP_FRAME_HDR);
	hop_put_msg(&b, &m); /* does not fit: nothing written */
	CU_ASSERT_EQUAL(b.len, HOP_FRAME_HDR);
	hop_put_rekey(&b); /* would fit, but the error is sticky */
	CU_ASSERT_EQUAL(b.len, HOP_FRAME_HDR);
	CU_ASSERT_EQUAL(hop_rbuf_room(&b), 0);
	CU_ASSERT_EQUAL(hop_put_chunk(&b, m.msg.id, 0, "x", 1), 0);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_ETOOBIG);

	/* Exactly the message's size fits. */
	hop_rbuf_init(&b, rec, hop_msg_frame_len(&m));
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), 0);
	CU_ASSERT_EQUAL(len, hop_msg_frame_len(&m));
}

/* ------------------------------------------------------- group copies */

/* A copy of a group message (docs/groups.md) for base and camp: it goes
 * to base, its first member. */
static struct hop_msg
sample_group_msg(void)
{
	struct hop_msg hm = sample_msg();

	strcpy(hm.group, "alerts");
	sample_id(hm.group_id, 50);
	strcpy(hm.members, "base,camp");
	return hm;
}

static void
check_group_equal(const struct hop_msg *a, const struct hop_msg *b)
{
	check_msg_equal(a, b);
	CU_ASSERT_STRING_EQUAL(a->group, b->group);
	CU_ASSERT(memcmp(a->group_id, b->group_id, FERRY_ID_LEN) == 0);
	CU_ASSERT_STRING_EQUAL(a->members, b->members);
}

/* hm as the one frame of a record in rec; the record's length. */
static size_t
build_msg(const struct hop_msg *hm)
{
	struct hop_rbuf b;
	size_t len = 0;

	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, hm);
	CU_ASSERT_EQUAL_FATAL(hop_rbuf_end(&b, &len), 0);
	CU_ASSERT_EQUAL(len, hop_msg_frame_len(hm));
	return len;
}

/* The same with whole fields (tag, u16be length, value) appended to the
 * frame, its length fixed up: what a peer's encoder could send. */
static size_t
build_msg_plus(const struct hop_msg *hm, const uint8_t *extra, size_t n)
{
	size_t len = build_msg(hm), body;

	CU_ASSERT_FATAL(len + n <= sizeof(rec));
	memcpy(rec + len, extra, n);
	body = len + n - HOP_FRAME_HDR;
	rec[1] = (uint8_t)(body >> 16);
	rec[2] = (uint8_t)(body >> 8);
	rec[3] = (uint8_t)body;
	return len + n;
}

/* Decode the record rec[0..len) from an exact-size copy (ASan sees any
 * over-read); rc, and the reason in *why. */
static int
decode_copy(size_t len, struct hop_msg *out, const char **why)
{
	uint8_t *copy = malloc(len);
	struct hop_frame f;
	int rc;

	CU_ASSERT_FATAL(copy != NULL);
	memcpy(copy, rec, len);
	*why = NULL;
	f = only_frame(copy, len);
	rc = hop_msg_decode(&f, out, why);
	free(copy);
	return rc;
}

static void
test_msg_group_round_trip(void)
{
	struct hop_msg m = sample_group_msg(), got;
	const char *why;
	size_t len, plain;

	/* Members: the destination is the first of them. */
	len = build_msg(&m);
	CU_ASSERT_EQUAL_FATAL(decode_copy(len, &got, &why), 0);
	check_group_equal(&m, &got);
	CU_ASSERT_STRING_EQUAL(got.group, "alerts");
	CU_ASSERT_STRING_EQUAL(got.members, "base,camp");

	/* One member left: the destination alone. */
	strcpy(m.members, "base");
	len = build_msg(&m);
	CU_ASSERT_EQUAL_FATAL(decode_copy(len, &got, &why), 0);
	check_group_equal(&m, &got);

	/* A member's own copy: group and id, no members, and any
	 * destination. */
	m.members[0] = '\0';
	strcpy(m.msg.dst_node, "camp");
	len = build_msg(&m);
	CU_ASSERT_EQUAL_FATAL(decode_copy(len, &got, &why), 0);
	check_group_equal(&m, &got);
	CU_ASSERT_STRING_EQUAL(got.members, "");

	/* With the relaying fields too. */
	m = sample_group_msg();
	strcpy(m.path, "field-07,town");
	m.hop_limit = 9;
	m.has_sig = 1;
	memset(m.origin_sig, 0xcd, HOP_SIG_LEN);
	len = build_msg(&m);
	CU_ASSERT_EQUAL_FATAL(decode_copy(len, &got, &why), 0);
	check_group_equal(&m, &got);
	CU_ASSERT_STRING_EQUAL(got.path, "field-07,town");
	CU_ASSERT_EQUAL(got.hop_limit, 9);
	CU_ASSERT(got.has_sig && got.origin_sig[HOP_SIG_LEN - 1] == 0xcd);

	/* Without a group nothing of it is sent, whatever group_id holds:
	 * the frame of a plain MSG, which decodes with none. */
	m = sample_msg();
	plain = build_msg(&m);
	sample_id(m.group_id, 50);
	len = build_msg(&m);
	CU_ASSERT_EQUAL(len, plain);
	CU_ASSERT_EQUAL_FATAL(decode_copy(len, &got, &why), 0);
	CU_ASSERT_STRING_EQUAL(got.group, "");
	CU_ASSERT_STRING_EQUAL(got.members, "");
	CU_ASSERT_EQUAL(got.group_id[1], 0);
	/* ... and group + id + members cost exactly their fields. */
	m = sample_group_msg();
	CU_ASSERT_EQUAL(hop_msg_frame_len(&m),
			plain + 3 * 3 + strlen("alerts") + FERRY_ID_LEN +
			    strlen("base,camp"));
}

/* The largest relaying fields (path, hop limit, signature, group, group
 * id, members) take HOP_RELAY_FIELDS_MAX bytes at most: a sender keeps
 * that much room before it fills them in (transports/tcp_send.c). */
static void
test_msg_relay_fields_max(void)
{
	struct hop_msg m = sample_msg(), bare, got;
	const char *why;
	char *p;
	size_t len;

	memset(m.msg.dst_node, 'a', FERRY_NODE_MAX);
	m.msg.dst_node[FERRY_NODE_MAX] = '\0';
	bare = m;
	/* 16 names of 63 bytes and 15 commas: 1,023 bytes. */
	for (int k = 0; k < 2; k++) {
		p = k == 0 ? m.path : m.members;
		for (int i = 0; i < 16; i++) {
			if (i > 0)
				*p++ = ',';
			memset(p, 'a' + i, FERRY_NODE_MAX);
			p += FERRY_NODE_MAX;
		}
		*p = '\0';
	}
	CU_ASSERT_EQUAL_FATAL(strlen(m.members), HOP_PATH_MAX);
	m.hop_limit = HOP_HOP_LIMIT_MAX;
	m.has_sig = 1;
	/* The longest group name: '@' and it make a node-sized name. */
	memset(m.group, 'g', FERRY_NODE_MAX - 1);
	m.group[FERRY_NODE_MAX - 1] = '\0';
	memset(m.group_id, 0x77, FERRY_ID_LEN);
	CU_ASSERT(hop_msg_frame_len(&m) - hop_msg_frame_len(&bare) <=
		  HOP_RELAY_FIELDS_MAX);
	len = build_msg(&m);
	CU_ASSERT_EQUAL_FATAL(decode_copy(len, &got, &why), 0);
	check_group_equal(&m, &got);
}

#define FIELDS(...)                                                            \
	(const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
#define ID16 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16

/* Fields appended to a MSG without a group (base 0) or to
 * sample_group_msg() (base 1). */
struct group_raw_case {
	const char *label;
	int base;
	const uint8_t *extra;
	size_t n;
	const char *why; /* a piece of the decoder's reason */
};

static const struct group_raw_case group_raw_cases[] = {
    {"members without a group", 0, FIELDS(18, 0, 4, 'b', 'a', 's', 'e'),
     "members without a group"},
    {"members and an id, no group", 0,
     FIELDS(17, 0, 16, ID16, 18, 0, 4, 'b', 'a', 's', 'e'),
     "group without its id, or an id alone"},
    {"group without its id", 0, FIELDS(16, 0, 2, 'g', 'r'),
     "group without its id"},
    {"group and members without the id", 0,
     FIELDS(16, 0, 2, 'g', 'r', 18, 0, 4, 'b', 'a', 's', 'e'),
     "group without its id"},
    {"an id without its group", 0, FIELDS(17, 0, 16, ID16), "an id alone"},
    {"group id of 15 bytes", 0,
     FIELDS(16, 0, 2, 'g', 'r', 17, 0, 15, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	    12, 13, 14, 15),
     "wrong size"},
    {"group id of 17 bytes", 0, FIELDS(16, 0, 2, 'g', 'r', 17, 0, 17, ID16, 17),
     "wrong size"},
    {"empty group", 0, FIELDS(16, 0, 0, 17, 0, 16, ID16), "empty string"},
    {"empty members", 0, FIELDS(16, 0, 2, 'g', 'r', 17, 0, 16, ID16, 18, 0, 0),
     "empty string"},
    {"an unknown field after them", 1, FIELDS(0xc8, 0, 1, 'x'), NULL},
    {"group twice", 1, FIELDS(16, 0, 2, 'g', 'r'), "duplicate field"},
    {"group id twice", 1, FIELDS(17, 0, 16, ID16), "duplicate field"},
    {"members twice", 1, FIELDS(18, 0, 4, 'b', 'a', 's', 'e'),
     "duplicate field"},
};

static void
test_msg_group_raw_refused(void)
{
	for (size_t i = 0;
	     i < sizeof(group_raw_cases) / sizeof(group_raw_cases[0]); i++) {
		const struct group_raw_case *c = &group_raw_cases[i];
		struct hop_msg m = c->base ? sample_group_msg() : sample_msg();
		struct hop_msg got;
		const char *why;
		size_t len = build_msg_plus(&m, c->extra, c->n);
		int rc = decode_copy(len, &got, &why);
		int want = c->why != NULL ? FERRY_EPROTO : 0;

		if (rc != want ||
		    (c->why != NULL && (why == NULL || !strstr(why, c->why))))
			fprintf(stderr, "group case '%s': %d (%s)\n", c->label,
				rc, why != NULL ? why : "no reason");
		CU_ASSERT_EQUAL(rc, want);
		if (c->why != NULL) {
			CU_ASSERT(why != NULL && strstr(why, c->why) != NULL);
		} else {
			check_group_equal(&m, &got);
		}
	}
}

/* Fields of sample_group_msg() changed in place (same length). */
struct group_patch_case {
	const char *label;
	const char *from, *to;
	size_t n;
	const char *why; /* a piece of the decoder's reason */
};

static const struct group_patch_case group_patch_cases[] = {
    {"destination not the first member", "base,camp", "camp,base", 9,
     "destination is not its first member"},
    {"destination not a member", "base,camp", "bass,camp", 9,
     "destination is not its first member"},
    {"group name upper case", "alerts", "Alerts", 6, "group name invalid"},
    {"group name with @", "alerts", "@lerts", 6, "group name invalid"},
    {"group name with a comma", "alerts", "al,rts", 6, "group name invalid"},
    {"members trailing comma", "base,camp", "base,cam,", 9, "members invalid"},
    {"members leading comma", "base,camp", ",ase,camp", 9, "members invalid"},
    {"members empty name", "base,camp", "base,,amp", 9, "members invalid"},
    {"members upper case", "base,camp", "base,Camp", 9, "members invalid"},
    {"members with a space", "base,camp", "base, amp", 9, "members invalid"},
    {"members with NUL", "base,camp", "base\0camp", 9, "NUL inside"},
};

static void
test_msg_group_patched_refused(void)
{
	for (size_t i = 0;
	     i < sizeof(group_patch_cases) / sizeof(group_patch_cases[0]);
	     i++) {
		const struct group_patch_case *c = &group_patch_cases[i];
		struct hop_msg m = sample_group_msg(), got;
		const char *why;
		size_t len = build_msg(&m);
		int rc;

		CU_ASSERT(patch(rec, len, c->from, c->to, c->n));
		rc = decode_copy(len, &got, &why);
		if (rc != FERRY_EPROTO || why == NULL ||
		    strstr(why, c->why) == NULL)
			fprintf(stderr, "group patch '%s': %d (%s)\n", c->label,
				rc, why != NULL ? why : "no reason");
		CU_ASSERT_EQUAL(rc, FERRY_EPROTO);
		CU_ASSERT(why != NULL && strstr(why, c->why) != NULL);
	}
}

/* The encoder refuses what the decoder would: nothing is written. */
static void
test_msg_group_builder_refuses(void)
{
	struct hop_msg m;
	struct hop_rbuf b;
	size_t len;

	m = sample_msg(); /* members without a group */
	strcpy(m.members, "base");
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_EINVAL);

	m = sample_group_msg(); /* the destination second */
	strcpy(m.members, "camp,base");
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_EINVAL);

	m = sample_group_msg();
	strcpy(m.group, "Alerts");
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_EINVAL);

	m = sample_group_msg();
	strcpy(m.members, "base,");
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_EINVAL);

	m = sample_group_msg(); /* not terminated */
	memset(m.group, 'g', sizeof(m.group));
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, &m);
	CU_ASSERT_EQUAL(hop_rbuf_end(&b, &len), FERRY_EINVAL);
}

/* A group name is sent to as "@NAME" and remembered as handed to
 * "@NAME" (store_out_split): with the '@' it fits a node name, so 62
 * bytes at most. */
static void
test_msg_group_name_length(void)
{
	static const size_t lens[] = {1, FERRY_NODE_MAX - 1, FERRY_NODE_MAX,
				      FERRY_NODE_MAX + 1};
	uint8_t extra[3 + FERRY_NODE_MAX + 1 + 3 + FERRY_ID_LEN];

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct hop_msg m = sample_msg(), got;
		const char *why;
		size_t n = 0, len;
		int rc, want = lens[i] < FERRY_NODE_MAX ? 0 : FERRY_EPROTO;

		extra[n++] = 16;
		extra[n++] = 0;
		extra[n++] = (uint8_t)lens[i];
		memset(extra + n, 'g', lens[i]);
		n += lens[i];
		extra[n++] = 17;
		extra[n++] = 0;
		extra[n++] = FERRY_ID_LEN;
		memset(extra + n, 0x42, FERRY_ID_LEN);
		n += FERRY_ID_LEN;
		len = build_msg_plus(&m, extra, n);
		rc = decode_copy(len, &got, &why);
		if (rc != want)
			fprintf(stderr, "group name of %zu bytes: %d (%s)\n",
				lens[i], rc, why != NULL ? why : "no reason");
		CU_ASSERT_EQUAL(rc, want);
		if (rc == 0) {
			CU_ASSERT_EQUAL(strlen(got.group), lens[i]);
			CU_ASSERT_EQUAL(got.group_id[FERRY_ID_LEN - 1], 0x42);
			CU_ASSERT_STRING_EQUAL(got.members, "");
		}
	}
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("transports_hop", NULL, NULL);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_hello_round_trip);
	TEST_ADD(s, test_msg_round_trip);
	TEST_ADD(s, test_refuse_round_trip);
	TEST_ADD(s, test_chunk_round_trip);
	TEST_ADD(s, test_end_round_trip);
	TEST_ADD(s, test_custody_round_trip);
	TEST_ADD(s, test_resume_round_trip);
	TEST_ADD(s, test_keepalive_round_trip);
	TEST_ADD(s, test_rekey_round_trip);
	TEST_ADD(s, test_close_round_trip);
	TEST_ADD(s, test_several_frames_in_one_record);
	TEST_ADD(s, test_chunk_fills_record_exactly);
	TEST_ADD(s, test_custody_fills_record);
	TEST_ADD(s, test_every_truncation_refused);
	TEST_ADD(s, test_raw_cases);
	TEST_ADD(s, test_record_limits);
	TEST_ADD(s, test_patched_fields_refused);
	TEST_ADD(s, test_unknown_fields_skipped);
	TEST_ADD(s, test_msg_body_and_features);
	TEST_ADD(s, test_builder_refuses_what_decoder_refuses);
	TEST_ADD(s, test_builder_overflow_is_sticky);
	TEST_ADD(s, test_msg_group_round_trip);
	TEST_ADD(s, test_msg_relay_fields_max);
	TEST_ADD(s, test_msg_group_raw_refused);
	TEST_ADD(s, test_msg_group_patched_refused);
	TEST_ADD(s, test_msg_group_builder_refuses);
	TEST_ADD(s, test_msg_group_name_length);
}

/* ------------------------------------------------------ corpus seeds */

static int
seed_write(const char *dir, const char *name, const struct hop_msg *hm)
{
	char path[4096];
	struct hop_rbuf b;
	size_t len = 0;
	FILE *f;
	int bad;

	/* Outside a CUnit run: no CU_ASSERT here. */
	hop_rbuf_init(&b, rec, sizeof(rec));
	hop_put_msg(&b, hm);
	if (hop_rbuf_end(&b, &len) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		return 1;
	}
	bad = fwrite(rec, 1, len, f) != len;
	bad |= fclose(f) != 0;
	return bad;
}

/* The group seeds of tests/fuzz/corpus/hop: a copy for two members that
 * came through a relay, and a member's own copy. */
static int
gen_seeds(const char *dir)
{
	struct hop_msg m = sample_group_msg();
	int bad = 0;

	strcpy(m.path, "field-07,town");
	m.hop_limit = 9;
	bad |= seed_write(dir, "msg_group", &m);
	m = sample_group_msg();
	m.members[0] = '\0';
	strcpy(m.msg.dst_node, "camp");
	bad |= seed_write(dir, "msg_group_own", &m);
	return bad;
}

int
main(void)
{
	const char *dir = getenv("FERRY_GEN_HOP_CORPUS");

	if (dir != NULL && dir[0] != '\0')
		return gen_seeds(dir);
	return test_main("test_transports_hop", add_suites);
}
