/*
 * test_store_sneaker.c - CUnit tests of the store's part of offline
 * bundles (store/sneaker.c, docs/formats.md 3 and 4): per-peer sequence
 * numbers, the replay window of accepted bundles, and export marks,
 * through store/store.h only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/testutil.h"

static struct test_clock clk;
static char *dir;
static struct store *st;

static int
setup(void)
{
	return test_store_setup(&st, &dir, &clk);
}

static int
teardown(void)
{
	return test_store_teardown(&st, &dir);
}

/* Each test gets a fresh store. */
#define FRESH() TEST_FRESH(setup, teardown)

/* Close and open the same store again. */
#define REOPEN()                                                               \
	do {                                                                   \
		store_close(st);                                               \
		st = test_store_open(&dir, &clk, NULL);                        \
		CU_ASSERT_PTR_NOT_NULL_FATAL(st);                              \
	} while (0)

/* A bundle id derived from (tag, seq): distinct per argument pair. */
static void
bid_make(uint8_t bid[16], int tag, uint64_t seq)
{
	memset(bid, 0, 16);
	bid[0] = (uint8_t)tag;
	for (int i = 0; i < 8; i++)
		bid[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
}

static int
verdict_of(const char *sender, uint64_t seq, int tag)
{
	uint8_t bid[16];
	int v = -1;

	bid_make(bid, tag, seq);
	CU_ASSERT_EQUAL_FATAL(store_bundle_check(st, sender, seq, bid, &v), 0);
	return v;
}

static int
accept_one(const char *sender, uint64_t seq, int tag, uint64_t *closed)
{
	uint8_t bid[16];

	bid_make(bid, tag, seq);
	return store_bundle_accept(st, sender, seq, bid, closed);
}

/* ------------------------------------------------------ sequence numbers */

static void
test_next_seq_per_peer_and_durable(void)
{
	uint64_t s = 0;

	FRESH();
	for (uint64_t want = 1; want <= 3; want++) {
		CU_ASSERT_EQUAL(store_bundle_next_seq(st, "base", &s), 0);
		CU_ASSERT_EQUAL(s, want);
	}
	/* Another peer has its own numbers. */
	CU_ASSERT_EQUAL(store_bundle_next_seq(st, "relay", &s), 0);
	CU_ASSERT_EQUAL(s, 1);
	CU_ASSERT_EQUAL(store_bundle_next_seq(st, "relay", &s), 0);
	CU_ASSERT_EQUAL(s, 2);
	/* A peer whose name extends another's is still another peer. */
	CU_ASSERT_EQUAL(store_bundle_next_seq(st, "base2", &s), 0);
	CU_ASSERT_EQUAL(s, 1);
	/* Never reused after a reopen. */
	REOPEN();
	CU_ASSERT_EQUAL(store_bundle_next_seq(st, "base", &s), 0);
	CU_ASSERT_EQUAL(s, 4);
	CU_ASSERT_EQUAL(store_bundle_next_seq(st, "relay", &s), 0);
	CU_ASSERT_EQUAL(s, 3);
	CU_ASSERT_EQUAL(store_bundle_next_seq(st, "base2", &s), 0);
	CU_ASSERT_EQUAL(s, 2);
	CU_ASSERT_EQUAL(store_bundle_next_seq(st, "fresh", &s), 0);
	CU_ASSERT_EQUAL(s, 1);
	/* Bad arguments. */
	CU_ASSERT_EQUAL(store_bundle_next_seq(st, "Bad Node", &s),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_bundle_next_seq(st, "", &s), FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_bundle_next_seq(st, NULL, &s), FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_bundle_next_seq(st, "base", NULL), FERRY_EINVAL);
}

/* ------------------------------------------------------- check / accept */

static void
test_check_accept_verdicts(void)
{
	uint8_t bid[16], other[16];
	uint64_t closed = 99;
	int v = -1;

	FRESH();
	bid_make(bid, 1, 7);
	bid_make(other, 2, 7);
	CU_ASSERT_EQUAL(store_bundle_check(st, "base", 7, bid, &v), 0);
	CU_ASSERT_EQUAL(v, STORE_BUNDLE_NEW);
	CU_ASSERT_EQUAL(store_bundle_accept(st, "base", 7, bid, &closed), 0);
	CU_ASSERT_EQUAL(closed, 0);
	CU_ASSERT_EQUAL(store_bundle_check(st, "base", 7, bid, &v), 0);
	CU_ASSERT_EQUAL(v, STORE_BUNDLE_IMPORTED);
	/* Same number, another bundle: a cloned or restored identity. */
	CU_ASSERT_EQUAL(store_bundle_check(st, "base", 7, other, &v), 0);
	CU_ASSERT_EQUAL(v, STORE_BUNDLE_CLONED);
	/* Only NEW bundles can be accepted. */
	CU_ASSERT_EQUAL(store_bundle_accept(st, "base", 7, bid, NULL),
			FERRY_EDUPLICATE);
	CU_ASSERT_EQUAL(store_bundle_accept(st, "base", 7, other, NULL),
			FERRY_EDUPLICATE);
	CU_ASSERT_EQUAL(store_bundle_check(st, "base", 7, bid, &v), 0);
	CU_ASSERT_EQUAL(v, STORE_BUNDLE_IMPORTED);
	/* Neighbours are untouched. */
	CU_ASSERT_EQUAL(verdict_of("base", 6, 1), STORE_BUNDLE_NEW);
	CU_ASSERT_EQUAL(verdict_of("base", 8, 1), STORE_BUNDLE_NEW);
	/* Bad arguments. */
	CU_ASSERT_EQUAL(store_bundle_check(st, "base", 0, bid, &v),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_bundle_check(st, "Bad Node", 1, bid, &v),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_bundle_check(st, "base", 1, NULL, &v),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_bundle_check(st, "base", 1, bid, NULL),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_bundle_accept(st, "base", 0, bid, NULL),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_bundle_accept(st, "-x", 1, bid, NULL),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_bundle_accept(st, "base", 1, NULL, NULL),
			FERRY_EINVAL);
}

static void
test_out_of_order_accepts(void)
{
	static const uint64_t order[] = {3, 1, 2};

	FRESH();
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(verdict_of("base", order[i], 1),
				STORE_BUNDLE_NEW);
		CU_ASSERT_EQUAL(accept_one("base", order[i], 1, NULL), 0);
	}
	for (uint64_t s = 1; s <= 3; s++) {
		int v = verdict_of("base", s, 1);

		CU_ASSERT(v == STORE_BUNDLE_IMPORTED || v == STORE_BUNDLE_OLD);
		CU_ASSERT_EQUAL(accept_one("base", s, 1, NULL),
				FERRY_EDUPLICATE);
	}
	CU_ASSERT_EQUAL(verdict_of("base", 4, 1), STORE_BUNDLE_NEW);
	/* A gap stays open while it is inside the window. */
	CU_ASSERT_EQUAL(accept_one("base", 10, 1, NULL), 0);
	CU_ASSERT_EQUAL(verdict_of("base", 5, 1), STORE_BUNDLE_NEW);
	CU_ASSERT_EQUAL(accept_one("base", 5, 1, NULL), 0);
	CU_ASSERT_EQUAL(verdict_of("base", 5, 1), STORE_BUNDLE_IMPORTED);
}

/* ----------------------------------------------------------------- window */

static void
test_window_closes_gaps(void)
{
	const uint64_t hi = 5000, low = hi - STORE_BUNDLE_WINDOW; /* 904 */
	uint64_t closed = 0;
	int v;

	FRESH();
	CU_ASSERT_EQUAL(accept_one("base", 1, 1, &closed), 0);
	CU_ASSERT_EQUAL(closed, 0);
	CU_ASSERT_EQUAL(accept_one("base", hi, 1, &closed), 0);
	/* Given up: 2 .. low, never accepted (1 was). */
	CU_ASSERT_EQUAL(closed, low - 1);
	CU_ASSERT_EQUAL(closed, 903);
	/* At or below the mark: OLD, accepted or not. */
	CU_ASSERT_EQUAL(verdict_of("base", 1, 1), STORE_BUNDLE_OLD);
	CU_ASSERT_EQUAL(verdict_of("base", 2, 1), STORE_BUNDLE_OLD);
	CU_ASSERT_EQUAL(verdict_of("base", 500, 1), STORE_BUNDLE_OLD);
	CU_ASSERT_EQUAL(verdict_of("base", low, 1), STORE_BUNDLE_OLD);
	CU_ASSERT_EQUAL(accept_one("base", 2, 1, NULL), FERRY_EDUPLICATE);
	CU_ASSERT_EQUAL(accept_one("base", low, 1, NULL), FERRY_EDUPLICATE);
	/* Inside the window: still open. */
	CU_ASSERT_EQUAL(verdict_of("base", low + 1, 1), STORE_BUNDLE_NEW);
	CU_ASSERT_EQUAL(verdict_of("base", 4000, 1), STORE_BUNDLE_NEW);
	CU_ASSERT_EQUAL(accept_one("base", 4000, 1, &closed), 0);
	CU_ASSERT_EQUAL(closed, 0);
	CU_ASSERT_EQUAL(verdict_of("base", 4000, 1), STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of("base", hi, 1), STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of("base", hi, 2), STORE_BUNDLE_CLONED);
	CU_ASSERT_EQUAL(verdict_of("base", hi + 1, 1), STORE_BUNDLE_NEW);
	/* Moving up again: the new mark is 6000 - 4096 = 1904, and all of
	 * 905 .. 1904 were gaps. */
	CU_ASSERT_EQUAL(accept_one("base", 6000, 1, &closed), 0);
	CU_ASSERT_EQUAL(closed, 6000 - STORE_BUNDLE_WINDOW - low);
	/* 4000 and 5000 are still inside the window: IMPORTED. */
	CU_ASSERT_EQUAL(verdict_of("base", 4000, 1), STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of("base", hi, 1), STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of("base", 1904, 1), STORE_BUNDLE_OLD);
	CU_ASSERT_EQUAL(verdict_of("base", 1905, 1), STORE_BUNDLE_NEW);
	/* Accepted numbers inside the closed range are not counted as
	 * gaps: 4000 and 5000 are below 9500 - 4096 = 5404. */
	CU_ASSERT_EQUAL(accept_one("base", 9500, 1, &closed), 0);
	CU_ASSERT_EQUAL(closed, (9500 - STORE_BUNDLE_WINDOW) - 1904 - 2);
	v = verdict_of("base", 4000, 1);
	CU_ASSERT_EQUAL(v, STORE_BUNDLE_OLD);
	CU_ASSERT_EQUAL(verdict_of("base", 6000, 1), STORE_BUNDLE_IMPORTED);
	/* The marks survive a reopen. */
	REOPEN();
	CU_ASSERT_EQUAL(verdict_of("base", 5404, 1), STORE_BUNDLE_OLD);
	CU_ASSERT_EQUAL(verdict_of("base", 5405, 1), STORE_BUNDLE_NEW);
	CU_ASSERT_EQUAL(verdict_of("base", 6000, 1), STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of("base", 9500, 1), STORE_BUNDLE_IMPORTED);
}

static long long
file_size(const char *name)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &sb) != 0)
		return -1;
	return (long long)sb.st_size;
}

/* Sequential accepts far past the window keep a bounded set of rows:
 * bundles.db stops growing once the window is full. */
static void
test_window_rows_bounded(void)
{
	/* A long sender name makes unbounded rows visible in the size. */
	const char *sender =
	    "a-rather-long-sender-name-to-make-each-row-big-0123456789abcdef";
	const uint64_t n = 3 * STORE_BUNDLE_WINDOW;
	uint64_t closed = 0, total = 0;
	long long sz2 = 0, sz3;

	FRESH();
	CU_ASSERT_EQUAL_FATAL(strlen(sender), FERRY_NODE_MAX);
	for (uint64_t s = 1; s <= n; s++) {
		int rc = accept_one(sender, s, 3, &closed);

		CU_ASSERT_EQUAL_FATAL(rc, 0);
		total += closed;
		if (s == 2 * STORE_BUNDLE_WINDOW) {
			REOPEN(); /* flushes the file */
			sz2 = file_size("bundles.db");
		}
	}
	CU_ASSERT_EQUAL(total, 0); /* nothing was ever missing */
	CU_ASSERT_EQUAL(verdict_of(sender, 1, 3), STORE_BUNDLE_OLD);
	CU_ASSERT_EQUAL(verdict_of(sender, n - STORE_BUNDLE_WINDOW, 3),
			STORE_BUNDLE_OLD);
	CU_ASSERT_EQUAL(verdict_of(sender, n - STORE_BUNDLE_WINDOW + 1, 3),
			STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of(sender, n, 3), STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of(sender, n + 1, 3), STORE_BUNDLE_NEW);
	REOPEN();
	sz3 = file_size("bundles.db");
	/* ~4096 rows of ~100 bytes each.  Unpruned, the file would grow by
	 * half from 2 to 3 windows' worth of numbers. */
	CU_ASSERT(sz2 > 0);
	CU_ASSERT(sz3 <= sz2 + sz2 / 5);
	CU_ASSERT(sz3 < 1536 * 1024);
	if (sz3 > sz2 + sz2 / 5 || sz3 >= 1536 * 1024)
		fprintf(stderr, "\nbundles.db: %lld then %lld bytes\n", sz2,
			sz3);
}

static void
test_senders_independent(void)
{
	uint64_t closed = 0;

	FRESH();
	CU_ASSERT_EQUAL(accept_one("a", 1, 1, NULL), 0);
	CU_ASSERT_EQUAL(accept_one("a", 2, 1, NULL), 0);
	CU_ASSERT_EQUAL(verdict_of("b", 1, 1), STORE_BUNDLE_NEW);
	CU_ASSERT_EQUAL(verdict_of("b", 2, 1), STORE_BUNDLE_NEW);
	CU_ASSERT_EQUAL(accept_one("b", 1, 2, NULL), 0);
	CU_ASSERT_EQUAL(verdict_of("b", 1, 2), STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of("a", 1, 1), STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of("a", 1, 2), STORE_BUNDLE_CLONED);
	/* Closing "a"'s gaps leaves "b" and "ab" (a prefix) alone. */
	CU_ASSERT_EQUAL(accept_one("a", 10000, 1, &closed), 0);
	CU_ASSERT_EQUAL(closed, 10000 - STORE_BUNDLE_WINDOW - 2);
	CU_ASSERT_EQUAL(verdict_of("a", 100, 1), STORE_BUNDLE_OLD);
	CU_ASSERT_EQUAL(verdict_of("b", 100, 1), STORE_BUNDLE_NEW);
	CU_ASSERT_EQUAL(verdict_of("b", 1, 2), STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of("ab", 100, 1), STORE_BUNDLE_NEW);
	CU_ASSERT_EQUAL(accept_one("ab", 3, 1, NULL), 0);
	CU_ASSERT_EQUAL(accept_one("ab", 9000, 1, &closed), 0);
	CU_ASSERT_EQUAL(closed, 9000 - STORE_BUNDLE_WINDOW - 1);
	CU_ASSERT_EQUAL(verdict_of("a", 10000, 1), STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of("a", 6000, 1), STORE_BUNDLE_NEW);
	CU_ASSERT_EQUAL(verdict_of("b", 1, 2), STORE_BUNDLE_IMPORTED);
	/* Sequence numbers of the sending side are yet another thing. */
	{
		uint64_t s = 0;

		CU_ASSERT_EQUAL(store_bundle_next_seq(st, "a", &s), 0);
		CU_ASSERT_EQUAL(s, 1);
	}
}

static void
test_accept_durable(void)
{
	FRESH();
	CU_ASSERT_EQUAL(accept_one("base", 1, 1, NULL), 0);
	CU_ASSERT_EQUAL(accept_one("base", 3, 1, NULL), 0);
	REOPEN();
	CU_ASSERT_EQUAL(verdict_of("base", 1, 1), STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of("base", 3, 1), STORE_BUNDLE_IMPORTED);
	CU_ASSERT_EQUAL(verdict_of("base", 3, 2), STORE_BUNDLE_CLONED);
	CU_ASSERT_EQUAL(verdict_of("base", 2, 1), STORE_BUNDLE_NEW);
	CU_ASSERT_EQUAL(accept_one("base", 3, 1, NULL), FERRY_EDUPLICATE);
	CU_ASSERT_EQUAL(accept_one("base", 2, 1, NULL), 0);
	REOPEN();
	for (uint64_t s = 1; s <= 3; s++) {
		int v = verdict_of("base", s, 1);

		CU_ASSERT(v == STORE_BUNDLE_IMPORTED || v == STORE_BUNDLE_OLD);
	}
	CU_ASSERT_EQUAL(verdict_of("base", 4, 1), STORE_BUNDLE_NEW);
}

/* ---------------------------------------------------------- export marks */

static void
put_out(struct ferry_msg *m, const char *node, int64_t expires_ms)
{
	test_msg(m, node, "q", 3);
	m->expires_ms = expires_ms;
	CU_ASSERT_EQUAL_FATAL(store_put(st, m, "body", 4), 0);
}

static void
test_export_mark_and_custody(void)
{
	struct ferry_msg m, other;
	struct store_export ex;
	struct store_status s;
	int64_t t;

	FRESH();
	put_out(&m, "base", 0);
	put_out(&other, "base", 0);
	CU_ASSERT_EQUAL(store_out_export_get(st, m.id, &ex), FERRY_ENOTFOUND);
	CU_ASSERT_EQUAL(store_status(st, m.id, &s), 0);
	CU_ASSERT_EQUAL(s.kind, STORE_ST_PRESENT);
	CU_ASSERT_EQUAL(s.exported.at_ms, 0);

	t = clk.now_ms - 5;
	CU_ASSERT_EQUAL(store_out_exported(st, m.id, "base", "stick-1", t), 0);
	memset(&ex, 0x55, sizeof(ex));
	CU_ASSERT_EQUAL(store_out_export_get(st, m.id, &ex), 0);
	CU_ASSERT_STRING_EQUAL(ex.peer, "base");
	CU_ASSERT_STRING_EQUAL(ex.medium, "stick-1");
	CU_ASSERT_EQUAL(ex.at_ms, t);
	CU_ASSERT_EQUAL(store_status(st, m.id, &s), 0);
	CU_ASSERT_EQUAL(s.kind, STORE_ST_PRESENT);
	CU_ASSERT_STRING_EQUAL(s.exported.peer, "base");
	CU_ASSERT_STRING_EQUAL(s.exported.medium, "stick-1");
	CU_ASSERT_EQUAL(s.exported.at_ms, t);
	/* The other message is not marked. */
	CU_ASSERT_EQUAL(store_out_export_get(st, other.id, &ex),
			FERRY_ENOTFOUND);

	/* Exported again (--again): the newer mark replaces the old. */
	CU_ASSERT_EQUAL(
	    store_out_exported(st, m.id, "base", "/media/usb0", t + 100), 0);
	CU_ASSERT_EQUAL(store_out_export_get(st, m.id, &ex), 0);
	CU_ASSERT_STRING_EQUAL(ex.medium, "/media/usb0");
	CU_ASSERT_EQUAL(ex.at_ms, t + 100);

	/* A clean reopen keeps the mark. */
	REOPEN();
	CU_ASSERT_EQUAL(store_out_export_get(st, m.id, &ex), 0);
	CU_ASSERT_STRING_EQUAL(ex.medium, "/media/usb0");

	/* Custody ends it. */
	CU_ASSERT_EQUAL(store_out_custody(st, m.id, "base"), 0);
	CU_ASSERT_EQUAL(store_out_export_get(st, m.id, &ex), FERRY_ENOTFOUND);
	CU_ASSERT_EQUAL(store_status(st, m.id, &s), 0);
	CU_ASSERT_EQUAL(s.kind, STORE_ST_HANDED);
	CU_ASSERT_EQUAL(s.exported.at_ms, 0);
	CU_ASSERT_EQUAL(s.exported.medium[0], '\0');
	/* It left the store: it cannot be marked any more. */
	CU_ASSERT_EQUAL(store_out_exported(st, m.id, "base", "stick-1", t),
			FERRY_ENOTFOUND);
	CU_ASSERT_EQUAL(store_out_export_get(st, m.id, &ex), FERRY_ENOTFOUND);
}

static void
test_export_mark_gone_on_expiry(void)
{
	struct ferry_msg m, keep;
	struct store_export ex;
	struct store_status s;
	struct store_sweep_stats ss;

	FRESH();
	put_out(&m, "base", clk.now_ms + 1000);
	put_out(&keep, "base", 0);
	CU_ASSERT_EQUAL(store_out_exported(st, m.id, "base", "stick", 1), 0);
	CU_ASSERT_EQUAL(store_out_exported(st, keep.id, "base", "stick", 1), 0);
	CU_ASSERT_EQUAL(store_out_export_get(st, m.id, &ex), 0);
	clk.now_ms += 1000;
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, &ss), 0);
	CU_ASSERT_EQUAL(ss.expired, 1);
	CU_ASSERT_EQUAL(store_status(st, m.id, &s), 0);
	CU_ASSERT_EQUAL(s.kind, STORE_ST_PRESENT);
	CU_ASSERT_STRING_EQUAL(s.info.queue, "dead");
	CU_ASSERT_EQUAL(s.exported.at_ms, 0);
	CU_ASSERT_EQUAL(store_out_export_get(st, m.id, &ex), FERRY_ENOTFOUND);
	/* The unexpired one keeps its mark. */
	CU_ASSERT_EQUAL(store_out_export_get(st, keep.id, &ex), 0);
	CU_ASSERT_STRING_EQUAL(ex.medium, "stick");
}

static void
test_export_mark_bad_args(void)
{
	struct ferry_msg m;
	struct store_export ex;
	uint8_t unknown[FERRY_ID_LEN];
	char medium[200];

	FRESH();
	put_out(&m, "base", 0);
	CU_ASSERT_EQUAL_FATAL(ferry_id_generate(unknown), 0);
	CU_ASSERT_EQUAL(store_out_exported(st, unknown, "base", "stick", 1),
			FERRY_ENOTFOUND);
	CU_ASSERT_EQUAL(store_out_export_get(st, unknown, &ex),
			FERRY_ENOTFOUND);
	CU_ASSERT_EQUAL(store_out_exported(st, m.id, "Bad Node", "stick", 1),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_out_exported(st, m.id, "", "stick", 1),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_out_exported(st, m.id, NULL, "stick", 1),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_out_exported(st, m.id, "base", NULL, 1),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_out_exported(st, NULL, "base", "stick", 1),
			FERRY_EINVAL);
	memset(medium, 'm', sizeof(medium));
	medium[128] = '\0'; /* 128 bytes: too long */
	CU_ASSERT_EQUAL(store_out_exported(st, m.id, "base", medium, 1),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_out_export_get(st, m.id, &ex), FERRY_ENOTFOUND);
	/* 127 bytes and a 63-byte peer name: the largest that fit. */
	medium[127] = '\0';
	CU_ASSERT_EQUAL(store_out_exported(st, m.id,
					   "a-rather-long-sender-name-to-make-"
					   "each-row-big-0123456789abcdef",
					   medium, 7),
			0);
	CU_ASSERT_EQUAL(store_out_export_get(st, m.id, &ex), 0);
	CU_ASSERT_EQUAL(strlen(ex.medium), 127);
	CU_ASSERT_STRING_EQUAL(ex.medium, medium);
	CU_ASSERT_EQUAL(strlen(ex.peer), FERRY_NODE_MAX);
	CU_ASSERT_EQUAL(ex.at_ms, 7);
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("store_sneaker", setup, teardown);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_next_seq_per_peer_and_durable);
	TEST_ADD(s, test_check_accept_verdicts);
	TEST_ADD(s, test_out_of_order_accepts);
	TEST_ADD(s, test_window_closes_gaps);
	TEST_ADD(s, test_window_rows_bounded);
	TEST_ADD(s, test_senders_independent);
	TEST_ADD(s, test_accept_durable);
	TEST_ADD(s, test_export_mark_and_custody);
	TEST_ADD(s, test_export_mark_gone_on_expiry);
	TEST_ADD(s, test_export_mark_bad_args);
}

int
main(void)
{
	/* Thousands of durable commits: on tmpfs, where fdatasync costs
	 * nothing, when there is one (what is tested is the bookkeeping,
	 * not the disk); FERRY_TEST_DISK=1 keeps $TMPDIR. */
	if (getenv("FERRY_TEST_DISK") == NULL && access("/dev/shm", W_OK) == 0)
		(void)setenv("TMPDIR", "/dev/shm", 1);
	return test_main("test_store_sneaker", add_suites);
}
