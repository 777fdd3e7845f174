/*
 * test_store_record.c - CUnit tests of the store's record layouts: round
 * trips, and damaged bytes refused (every truncation, every single-byte
 * change that breaks a length or a range) without reading past the buffer.
 * Also the schema check at open.  As a test of the store room it may use
 * the room's private header and Berkeley DB directly.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "tests/unit/testutil.h"

static void
sample(struct store_hdr *h)
{
	memset(h, 0, sizeof(*h));
	test_msg(&h->info.msg, "base", "reports/daily", 5);
	snprintf(h->info.msg.correlation, sizeof(h->info.msg.correlation),
		 "req-17");
	snprintf(h->info.msg.reply_to, sizeof(h->info.msg.reply_to), "answers");
	h->info.msg.flags = FERRY_MSG_RECEIPT;
	h->info.msg.created_ms = 1700000000123LL;
	h->info.msg.expires_ms = 1700000999999LL;
	h->info.msg.payload_len = 5;
	h->info.state = STORE_LEASED;
	snprintf(h->info.queue, sizeof(h->info.queue), "reports/daily");
	h->info.lease_until_ms = 1700000005000LL;
	h->info.deliveries = 3;
	h->seq = 99;
	h->token = 12345;
	h->has_inline = 1;
}

static void
test_header_round_trip(void)
{
	struct store_hdr h, back;
	uint8_t buf[STORE_HDR_MAX];
	const uint8_t *inl;
	size_t n, inl_len;

	sample(&h);
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(rec_hdr_decode(buf, n, &back, &inl, &inl_len), 0);
	CU_ASSERT(memcmp(&back.info.msg, &h.info.msg, sizeof(h.info.msg)) == 0);
	CU_ASSERT_EQUAL(back.info.state, STORE_LEASED);
	CU_ASSERT_EQUAL(back.info.lease_until_ms, h.info.lease_until_ms);
	CU_ASSERT_EQUAL(back.seq, 99);
	CU_ASSERT_EQUAL(back.token, 12345);
	CU_ASSERT_EQUAL(inl_len, 5);
	CU_ASSERT(memcmp(inl, "hello", 5) == 0);
	/* Too small an output buffer is refused, not overrun. */
	CU_ASSERT_EQUAL(rec_hdr_encode(&h, "hello", 5, buf, 20), 0);
}

/* A dead letter's text makes a V2 record (a header without one stays
 * V1, readable by older agents); its longest text fits STORE_HDR_MAX
 * with the largest inline payload and longest names. */
static void
test_header_dead_text(void)
{
	static uint8_t inl[STORE_INLINE_MAX];
	struct store_hdr h, back;
	uint8_t buf[STORE_HDR_MAX];
	size_t n;

	sample(&h);
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(buf[0], 1);
	snprintf(h.info.dead_text, sizeof(h.info.dead_text), "boom\n");
	h.info.dead_reason = STORE_DEAD_HANDLER_FAILED;
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(buf[0], 2);
	CU_ASSERT_EQUAL_FATAL(rec_hdr_decode(buf, n, &back, NULL, NULL), 0);
	CU_ASSERT_STRING_EQUAL(back.info.dead_text, "boom\n");
	CU_ASSERT_EQUAL(back.info.dead_reason, STORE_DEAD_HANDLER_FAILED);
	/* A cut record is refused. */
	CU_ASSERT_EQUAL(rec_hdr_decode(buf, n - 7, &back, NULL, NULL),
			FERRY_ECORRUPT);
	/* The largest record fits. */
	memset(h.info.dead_text, 'e', STORE_DEAD_TEXT_MAX);
	h.info.dead_text[STORE_DEAD_TEXT_MAX] = '\0';
	memset(h.info.msg.correlation, 'c', FERRY_CORR_MAX);
	memset(h.info.msg.reply_to, 'r', FERRY_QUEUE_MAX);
	memset(h.info.msg.dst_queue, 'q', FERRY_QUEUE_MAX);
	memset(h.info.queue, 'q', FERRY_QUEUE_MAX);
	memset(h.info.msg.src_node, 's', FERRY_NODE_MAX);
	memset(h.info.msg.dst_node, 'd', FERRY_NODE_MAX);
	memset(h.info.hop_peer, 'p', FERRY_NODE_MAX);
	h.info.msg.payload_len = sizeof(inl);
	n = rec_hdr_encode(&h, inl, sizeof(inl), buf, sizeof(buf));
	CU_ASSERT(n > 0);
	CU_ASSERT_EQUAL_FATAL(rec_hdr_decode(buf, n, &back, NULL, NULL), 0);
	CU_ASSERT_EQUAL(strlen(back.info.dead_text), STORE_DEAD_TEXT_MAX);
}

static void
test_header_route(void)
{
	static uint8_t inl[STORE_INLINE_MAX];
	struct store_hdr h, back;
	uint8_t buf[STORE_HDR_MAX];
	size_t n, at;

	/* A relayed message keeps its path, hop limit and signature. */
	sample(&h);
	snprintf(h.info.route.path, sizeof(h.info.route.path), "camp,town");
	h.info.route.hop_limit = 9;
	h.info.route.sig_flags = STORE_ROUTE_SIGNED | STORE_ROUTE_VERIFIED;
	memset(h.info.route.origin_sig, 0xab, STORE_ROUTE_SIG_LEN);
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(buf[0], 3);
	CU_ASSERT_EQUAL_FATAL(rec_hdr_decode(buf, n, &back, NULL, NULL), 0);
	CU_ASSERT_STRING_EQUAL(back.info.route.path, "camp,town");
	CU_ASSERT_EQUAL(back.info.route.hop_limit, 9);
	CU_ASSERT_EQUAL(back.info.route.sig_flags,
			STORE_ROUTE_SIGNED | STORE_ROUTE_VERIFIED);
	CU_ASSERT_EQUAL(back.info.route.origin_sig[63], 0xab);
	CU_ASSERT_STRING_EQUAL(back.info.dead_text, "");
	/* A path that is not node names is refused, not believed. */
	at = (size_t)((uint8_t *)memmem(buf, n, "camp,town", 9) - buf);
	buf[at + 4] = ' ';
	CU_ASSERT_EQUAL(rec_hdr_decode(buf, n, &back, NULL, NULL),
			FERRY_ECORRUPT);
	/* Unknown signature flags are refused. */
	h.info.route.sig_flags = 0x80;
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_EQUAL(rec_hdr_decode(buf, n, &back, NULL, NULL),
			FERRY_ECORRUPT);
	/* The largest record, a full path included, fits. */
	h.info.route.sig_flags = STORE_ROUTE_SIGNED;
	memset(h.info.dead_text, 'e', STORE_DEAD_TEXT_MAX);
	h.info.dead_text[STORE_DEAD_TEXT_MAX] = '\0';
	memset(h.info.msg.correlation, 'c', FERRY_CORR_MAX);
	memset(h.info.msg.reply_to, 'r', FERRY_QUEUE_MAX);
	memset(h.info.msg.dst_queue, 'q', FERRY_QUEUE_MAX);
	memset(h.info.queue, 'q', FERRY_QUEUE_MAX);
	memset(h.info.msg.src_node, 's', FERRY_NODE_MAX);
	memset(h.info.msg.dst_node, 'd', FERRY_NODE_MAX);
	memset(h.info.hop_peer, 'p', FERRY_NODE_MAX);
	memset(h.info.route.path, 'n', STORE_PATH_MAX);
	for (size_t i = 63; i < STORE_PATH_MAX; i += 64)
		h.info.route.path[i] = ',';
	h.info.route.path[STORE_PATH_MAX] = '\0';
	h.info.msg.payload_len = sizeof(inl);
	n = rec_hdr_encode(&h, inl, sizeof(inl), buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(rec_hdr_decode(buf, n, &back, NULL, NULL), 0);
	CU_ASSERT_EQUAL(strlen(back.info.route.path), STORE_PATH_MAX);
}

static void
test_header_truncations_refused(void)
{
	struct store_hdr h, back;
	uint8_t buf[STORE_HDR_MAX];
	size_t n;

	sample(&h);
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	for (size_t cut = 0; cut < n; cut++) {
		/* Copy into an exact-size heap block so ASan sees overreads. */
		uint8_t *p = malloc(cut ? cut : 1);
		memcpy(p, buf, cut);
		CU_ASSERT_EQUAL(rec_hdr_decode(p, cut, &back, NULL, NULL),
				FERRY_ECORRUPT);
		free(p);
	}
	/* Trailing garbage is damage too. */
	buf[n] = 0;
	CU_ASSERT_EQUAL(rec_hdr_decode(buf, n + 1, &back, NULL, NULL),
			FERRY_ECORRUPT);
}

static void
test_header_byte_flips_never_overread(void)
{
	struct store_hdr h, back;
	uint8_t buf[STORE_HDR_MAX];
	size_t n;
	int refused = 0;

	sample(&h);
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	for (size_t i = 0; i < n; i++) {
		for (int v = 0; v < 256; v += 51) {
			uint8_t *p = malloc(n);
			const uint8_t *inl = NULL;
			size_t inl_len = 0;
			memcpy(p, buf, n);
			p[i] = (uint8_t)v;
			if (rec_hdr_decode(p, n, &back, &inl, &inl_len) != 0)
				refused++;
			else if (back.has_inline)
				CU_ASSERT(inl != NULL &&
					  inl + inl_len <= p + n);
			free(p);
		}
	}
	CU_ASSERT(refused > 0);
}

static void
test_bad_states_refused(void)
{
	struct store_hdr h, back;
	uint8_t buf[STORE_HDR_MAX];
	size_t n;

	sample(&h);
	h.info.state = 9;
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_EQUAL(rec_hdr_decode(buf, n, &back, NULL, NULL),
			FERRY_ECORRUPT);
	sample(&h);
	h.info.msg.priority = 8;
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_EQUAL(rec_hdr_decode(buf, n, &back, NULL, NULL),
			FERRY_ECORRUPT);
	sample(&h); /* inline length must match payload_len */
	n = rec_hdr_encode(&h, "hell", 4, buf, sizeof(buf));
	CU_ASSERT_EQUAL(rec_hdr_decode(buf, n, &back, NULL, NULL),
			FERRY_ECORRUPT);
}

static void
test_seen_and_queue_records(void)
{
	struct store_seen s = {STORE_ST_HANDED, 5, 6, "relay", "",
			       STORE_DEAD_NONE, 0},
			  sb;
	struct store_seen d = {STORE_ST_DEAD_REMOVED, 7, 8, "", "",
			       STORE_DEAD_EXPIRED,    4};
	struct store_seen far = {STORE_ST_HANDED, 5, 6, "relay", "far",
				 STORE_DEAD_NONE, 0};
	struct store_queue_stats q = {"", 1, 2, 3, 4, 5, 6}, qb;
	uint8_t buf[256];
	size_t n;

	/* Handed to a relay: the destination is kept (its receipts). */
	n = rec_seen_encode(&far, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(rec_seen_decode(buf, n, &sb), 0);
	CU_ASSERT_STRING_EQUAL(sb.peer, "relay");
	CU_ASSERT_STRING_EQUAL(sb.dst, "far");
	CU_ASSERT_EQUAL(rec_seen_decode(buf, n - 1, &sb), FERRY_ECORRUPT);
	buf[n - 1] = ',';
	CU_ASSERT_EQUAL(rec_seen_decode(buf, n, &sb), FERRY_ECORRUPT);

	n = rec_seen_encode(&s, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(rec_seen_decode(buf, n, &sb), 0);
	CU_ASSERT_EQUAL(sb.kind, STORE_ST_HANDED);
	CU_ASSERT_STRING_EQUAL(sb.peer, "relay");
	CU_ASSERT_EQUAL(rec_seen_decode(buf, n - 1, &sb), FERRY_ECORRUPT);
	buf[1] = 77;
	CU_ASSERT_EQUAL(rec_seen_decode(buf, n, &sb), FERRY_ECORRUPT);
	/* A dead letter removed from dead keeps why and since when. */
	n = rec_seen_encode(&d, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(rec_seen_decode(buf, n, &sb), 0);
	CU_ASSERT_EQUAL(sb.kind, STORE_ST_DEAD_REMOVED);
	CU_ASSERT_EQUAL(sb.dead_reason, STORE_DEAD_EXPIRED);
	CU_ASSERT_EQUAL(sb.dead_ms, 4);
	CU_ASSERT_EQUAL(rec_seen_decode(buf, n - 1, &sb), FERRY_ECORRUPT);
	n = rec_queue_encode(&q, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(rec_queue_decode(buf, n, &qb), 0);
	CU_ASSERT_EQUAL(qb.max_msgs, 5);
	CU_ASSERT_EQUAL(qb.open_until_ms, 6);
	CU_ASSERT_EQUAL(rec_queue_decode(buf, n - 1, &qb), FERRY_ECORRUPT);
	/* Version 1 (no open_until_ms) still reads, as 0. */
	buf[0] = 1;
	CU_ASSERT_EQUAL_FATAL(rec_queue_decode(buf, n - 8, &qb), 0);
	CU_ASSERT_EQUAL(qb.max_msgs, 5);
	CU_ASSERT_EQUAL(qb.open_until_ms, 0);
	CU_ASSERT_EQUAL(rec_queue_decode(buf, n, &qb), FERRY_ECORRUPT);
}

/* A copy of a group message keeps its group, the group id and its
 * members: a V4 record, written only when there is a group. */
static void
sample_group(struct store_hdr *h)
{
	sample(h);
	snprintf(h->info.route.group, sizeof(h->info.route.group), "alerts");
	memset(h->info.route.group_id, 0xee, FERRY_ID_LEN);
	snprintf(h->info.route.members, sizeof(h->info.route.members),
		 "base,camp");
}

static void
test_header_group_round_trip(void)
{
	struct store_hdr h, back;
	uint8_t buf[STORE_HDR_MAX];
	const uint8_t *inl;
	size_t n, inl_len;

	/* Without a path, hop limit or signature: V4 all the same. */
	sample_group(&h);
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(buf[0], 4);
	CU_ASSERT_EQUAL_FATAL(rec_hdr_decode(buf, n, &back, &inl, &inl_len), 0);
	CU_ASSERT_STRING_EQUAL(back.info.route.group, "alerts");
	CU_ASSERT(memcmp(back.info.route.group_id, h.info.route.group_id,
			 FERRY_ID_LEN) == 0);
	CU_ASSERT_STRING_EQUAL(back.info.route.members, "base,camp");
	CU_ASSERT_STRING_EQUAL(back.info.route.path, "");
	CU_ASSERT(memcmp(&back.info.msg, &h.info.msg, sizeof(h.info.msg)) == 0);
	CU_ASSERT_EQUAL(inl_len, 5);
	CU_ASSERT(inl != NULL && memcmp(inl, "hello", 5) == 0);

	/* With the route of a relayed message, and a member's own copy
	 * (no members). */
	snprintf(h.info.route.path, sizeof(h.info.route.path), "camp,town");
	h.info.route.hop_limit = 9;
	h.info.route.sig_flags = STORE_ROUTE_SIGNED;
	memset(h.info.route.origin_sig, 0xab, STORE_ROUTE_SIG_LEN);
	h.info.route.members[0] = '\0';
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(buf[0], 4);
	CU_ASSERT_EQUAL_FATAL(rec_hdr_decode(buf, n, &back, NULL, NULL), 0);
	CU_ASSERT_STRING_EQUAL(back.info.route.group, "alerts");
	CU_ASSERT_EQUAL(back.info.route.group_id[15], 0xee);
	CU_ASSERT_STRING_EQUAL(back.info.route.members, "");
	CU_ASSERT_STRING_EQUAL(back.info.route.path, "camp,town");
	CU_ASSERT_EQUAL(back.info.route.hop_limit, 9);
	CU_ASSERT_EQUAL(back.info.route.origin_sig[63], 0xab);

	/* No group: V3 or less, whatever group_id and members hold; the
	 * members are not kept without a group. */
	sample_group(&h);
	h.info.route.group[0] = '\0';
	h.info.route.hop_limit = 3;
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(buf[0], 3);
	CU_ASSERT_EQUAL_FATAL(rec_hdr_decode(buf, n, &back, NULL, NULL), 0);
	CU_ASSERT_STRING_EQUAL(back.info.route.members, "");
	CU_ASSERT_EQUAL(back.info.route.group_id[0], 0);
}

/* Every truncation of a V4 record is refused without an over-read. */
static void
test_header_group_truncations_refused(void)
{
	struct store_hdr h, back;
	uint8_t buf[STORE_HDR_MAX];
	size_t n;

	sample_group(&h);
	snprintf(h.info.route.path, sizeof(h.info.route.path), "camp");
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *p = malloc(cut ? cut : 1);
		memcpy(p, buf, cut);
		CU_ASSERT_EQUAL(rec_hdr_decode(p, cut, &back, NULL, NULL),
				FERRY_ECORRUPT);
		free(p);
	}
	buf[n] = 0;
	CU_ASSERT_EQUAL(rec_hdr_decode(buf, n + 1, &back, NULL, NULL),
			FERRY_ECORRUPT);
}

/* Decode a copy of buf[0..n) with `from` replaced by `to`, as long. */
static int
decode_patched(const uint8_t *buf, size_t n, const char *from, const char *to)
{
	struct store_hdr back;
	uint8_t *p = malloc(n);
	uint8_t *at;
	int rc;

	CU_ASSERT_FATAL(p != NULL);
	memcpy(p, buf, n);
	at = memmem(p, n, from, strlen(from));
	CU_ASSERT_FATAL(at != NULL);
	memcpy(at, to, strlen(from)); /* to may hold a NUL */
	rc = rec_hdr_decode(p, n, &back, NULL, NULL);
	free(p);
	return rc;
}

static void
test_header_group_damage_refused(void)
{
	struct store_hdr h, back;
	uint8_t buf[STORE_HDR_MAX], *p;
	size_t n, at;

	sample_group(&h);
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	/* The names are checked as a hop checks them. */
	CU_ASSERT_EQUAL(decode_patched(buf, n, "alerts", "Alerts"),
			FERRY_ECORRUPT);
	CU_ASSERT_EQUAL(decode_patched(buf, n, "alerts", "al,rts"),
			FERRY_ECORRUPT);
	CU_ASSERT_EQUAL(decode_patched(buf, n, "base,camp", "base,,amp"),
			FERRY_ECORRUPT);
	CU_ASSERT_EQUAL(decode_patched(buf, n, "base,camp", "base,cam,"),
			FERRY_ECORRUPT);
	CU_ASSERT_EQUAL(decode_patched(buf, n, "base,camp", "base,Camp"),
			FERRY_ECORRUPT);
	CU_ASSERT_EQUAL(decode_patched(buf, n, "base,camp", "base\0camp"),
			FERRY_ECORRUPT);
	/* ... and the patch itself is harmless: the same bytes decode. */
	CU_ASSERT_EQUAL(decode_patched(buf, n, "base,camp", "base,camp"), 0);

	/* A V4 record without a group is not one this store wrote
	 * (canonical form: it writes V3 or less then): the group's name
	 * taken out, its length byte 0. */
	p = memmem(buf, n,
		   "\x06"
		   "alerts",
		   7);
	CU_ASSERT_FATAL(p != NULL);
	at = (size_t)(p - buf);
	buf[at] = 0;
	memmove(buf + at + 1, buf + at + 7, n - at - 7);
	n -= 6;
	CU_ASSERT_EQUAL(rec_hdr_decode(buf, n, &back, NULL, NULL),
			FERRY_ECORRUPT);
	/* A V3 record with a group's fields after its route: trailing
	 * bytes to V3, refused too. */
	buf[0] = 3;
	CU_ASSERT_EQUAL(rec_hdr_decode(buf, n, &back, NULL, NULL),
			FERRY_ECORRUPT);

	/* Members as long as a record allows them, and one byte more. */
	sample_group(&h);
	memset(h.info.route.members, 'm', STORE_PATH_MAX);
	h.info.route.members[STORE_PATH_MAX] = '\0';
	for (size_t i = 63; i < STORE_PATH_MAX; i += 64)
		h.info.route.members[i] = ',';
	n = rec_hdr_encode(&h, "hello", 5, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(rec_hdr_decode(buf, n, &back, NULL, NULL), 0);
	CU_ASSERT_EQUAL(strlen(back.info.route.members), STORE_PATH_MAX);
	p = memmem(buf, n, "\xff\x03mmm", 5); /* u16 length 1023 */
	CU_ASSERT_FATAL(p != NULL);
	p[0] = 0x00; /* 1024 */
	p[1] = 0x04;
	CU_ASSERT_EQUAL(rec_hdr_decode(buf, n, &back, NULL, NULL),
			FERRY_ECORRUPT);
}

/* The largest V4 record (every name, the text, the path, the members,
 * the signature and the inline payload at their longest) fits
 * STORE_HDR_MAX. */
static void
test_header_group_largest_fits(void)
{
	static uint8_t inl[STORE_INLINE_MAX];
	static uint8_t buf[STORE_HDR_MAX];
	struct store_hdr h, back;
	size_t n;

	sample_group(&h);
	h.info.route.sig_flags = STORE_ROUTE_SIGNED;
	h.info.route.hop_limit = 64;
	memset(h.info.dead_text, 'e', STORE_DEAD_TEXT_MAX);
	h.info.dead_text[STORE_DEAD_TEXT_MAX] = '\0';
	memset(h.info.msg.correlation, 'c', FERRY_CORR_MAX);
	memset(h.info.msg.reply_to, 'r', FERRY_QUEUE_MAX);
	memset(h.info.msg.dst_queue, 'q', FERRY_QUEUE_MAX);
	memset(h.info.queue, 'q', FERRY_QUEUE_MAX);
	memset(h.info.msg.src_node, 's', FERRY_NODE_MAX);
	memset(h.info.msg.dst_node, 'd', FERRY_NODE_MAX);
	memset(h.info.hop_peer, 'p', FERRY_NODE_MAX);
	memset(h.info.route.group, 'g', FERRY_NODE_MAX);
	for (int k = 0; k < 2; k++) {
		char *s = k == 0 ? h.info.route.path : h.info.route.members;
		memset(s, 'n', STORE_PATH_MAX);
		for (size_t i = 63; i < STORE_PATH_MAX; i += 64)
			s[i] = ',';
		s[STORE_PATH_MAX] = '\0';
	}
	h.info.msg.payload_len = sizeof(inl);
	n = rec_hdr_encode(&h, inl, sizeof(inl), buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(rec_hdr_decode(buf, n, &back, NULL, NULL), 0);
	CU_ASSERT_EQUAL(strlen(back.info.route.group), FERRY_NODE_MAX);
	CU_ASSERT_EQUAL(strlen(back.info.route.members), STORE_PATH_MAX);
	CU_ASSERT_EQUAL(strlen(back.info.route.path), STORE_PATH_MAX);
}

/* A group message split here is remembered as handed to "@GROUP", its
 * destination STORE_SPLIT_DST ("@"), the one name that is not a node's
 * a seen record may keep. */
static void
test_seen_split_dst(void)
{
	static const char *const bad[] = {"@x", "@@", "bad name", "Base",
					  "a,b"};
	struct store_seen s = {STORE_ST_HANDED,
			       5,
			       6,
			       "@alerts",
			       STORE_SPLIT_DST,
			       STORE_DEAD_NONE,
			       0},
			  sb;
	uint8_t buf[256];
	size_t n;

	n = rec_seen_encode(&s, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(rec_seen_decode(buf, n, &sb), 0);
	CU_ASSERT_EQUAL(sb.kind, STORE_ST_HANDED);
	CU_ASSERT_STRING_EQUAL(sb.peer, "@alerts");
	CU_ASSERT_STRING_EQUAL(sb.dst, "@");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(s.dst, sizeof(s.dst), "%s", bad[i]);
		n = rec_seen_encode(&s, buf, sizeof(buf));
		CU_ASSERT_FATAL(n > 0);
		if (rec_seen_decode(buf, n, &sb) != FERRY_ECORRUPT)
			fprintf(stderr, "seen dst '%s' accepted\n", bad[i]);
		CU_ASSERT_EQUAL(rec_seen_decode(buf, n, &sb), FERRY_ECORRUPT);
	}
}

static void
test_key_order_is_delivery_order(void)
{
	uint8_t a[STORE_QKEY_MAX], b[STORE_QKEY_MAX];
	size_t na, nb;

	/* Higher priority sorts first, whatever the sequence. */
	na = rec_qkey(a, "q", 7, 1000);
	nb = rec_qkey(b, "q", 6, 1);
	CU_ASSERT(na == nb && memcmp(a, b, na) < 0);
	/* Same priority: FIFO by sequence, across byte boundaries. */
	na = rec_qkey(a, "q", 3, 255);
	nb = rec_qkey(b, "q", 3, 256);
	CU_ASSERT(memcmp(a, b, na) < 0);
	/* A queue's keys never interleave with a longer name's. */
	na = rec_qkey(a, "q", 0, UINT64_MAX);
	nb = rec_qkey(b, "q2", 7, 0);
	CU_ASSERT(memcmp(a, b, 2) < 0);
}

static void
test_newer_schema_refused(void)
{
	char *dir = NULL;
	struct store *st = test_store_open(&dir, NULL, NULL);
	struct store *again = NULL;
	struct store_opts o;
	DB_ENV *env = NULL;
	DB *db = NULL;
	uint8_t v[4];
	DBT k, d;
	int rc;

	CU_ASSERT_FATAL(st != NULL);
	store_close(st);
	/* Write schema version 2 as a future ferry would. */
	CU_ASSERT_EQUAL_FATAL(db_env_create(&env, 0), 0);
	rc = env->open(env, dir,
		       DB_CREATE | DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK |
			   DB_INIT_MPOOL | DB_RECOVER | DB_PRIVATE,
		       0600);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL_FATAL(db_create(&db, env, 0), 0);
	CU_ASSERT_EQUAL_FATAL(
	    db->open(db, NULL, "meta.db", NULL, DB_BTREE, DB_AUTO_COMMIT, 0600),
	    0);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	ferry_put_be32(v, STORE_SCHEMA_VERSION + 1);
	k.data = "schema";
	k.size = 6;
	d.data = v;
	d.size = 4;
	CU_ASSERT_EQUAL(db->put(db, NULL, &k, &d, DB_AUTO_COMMIT), 0);
	db->close(db, 0);
	env->close(env, 0);

	store_opts_init(&o);
	o.node_name = "here";
	CU_ASSERT_EQUAL(store_open(dir, &o, &again), FERRY_ESCHEMA);
	CU_ASSERT_PTR_NULL(again);
	CU_ASSERT(strstr(store_last_error(), "schema version 2") != NULL);
	test_rmtree(dir);
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("store_record", NULL, NULL);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_header_round_trip);
	TEST_ADD(s, test_header_dead_text);
	TEST_ADD(s, test_header_route);
	TEST_ADD(s, test_header_truncations_refused);
	TEST_ADD(s, test_header_byte_flips_never_overread);
	TEST_ADD(s, test_bad_states_refused);
	TEST_ADD(s, test_seen_and_queue_records);
	TEST_ADD(s, test_header_group_round_trip);
	TEST_ADD(s, test_header_group_truncations_refused);
	TEST_ADD(s, test_header_group_damage_refused);
	TEST_ADD(s, test_header_group_largest_fits);
	TEST_ADD(s, test_seen_split_dst);
	TEST_ADD(s, test_key_order_is_delivery_order);
	TEST_ADD(s, test_newer_schema_refused);
}

int
main(void)
{
	return test_main("test_store_record", add_suites);
}
