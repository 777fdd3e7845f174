/*
 * test_store_writer.c - CUnit tests of payloads: sizes around the inline
 * and chunk limits, streamed writes, suspend/resume across a restart,
 * refusal of known ids before any payload, one writer per message id, a
 * commit that checks its payload is whole, and a 1 GiB payload in bounded
 * memory.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/testutil.h"

static char *dir;
static struct store *st;

/* What store_partials_list showed. */
struct partials_seen {
	struct store_partial p[4];
	size_t n;
};

static int
collect_partial(const struct store_partial *p, void *arg)
{
	struct partials_seen *s = arg;

	if (s->n < 4)
		s->p[s->n] = *p;
	s->n++;
	return 0;
}

static int
setup(void)
{
	return test_store_setup(&st, &dir, NULL);
}

static int
teardown(void)
{
	return test_store_teardown(&st, &dir);
}

static uint8_t *
make_payload(const uint8_t id[16], size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	CU_ASSERT_FATAL(p != NULL);
	test_fill(id, 0, p, len);
	return p;
}

static const size_t sizes[] = {
    0,
    1,
    4095,
    4096,
    4097,
    STORE_CHUNK_BYTES - 1,
    STORE_CHUNK_BYTES,
    STORE_CHUNK_BYTES + 1,
    3 * STORE_CHUNK_BYTES + 5,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void
test_put_sizes_read_back(void)
{
	for (size_t i = 0; i < NSIZES; i++) {
		struct ferry_msg m;
		struct store_msg_info info;
		uint8_t *p;

		test_msg(&m, "here", "sizes", 3);
		p = make_payload(m.id, sizes[i]);
		CU_ASSERT_EQUAL(store_put(st, &m, p, sizes[i]), 0);
		free(p);
		CU_ASSERT_EQUAL(store_get(st, m.id, &info), 0);
		CU_ASSERT_EQUAL(info.msg.payload_len, sizes[i]);
		CU_ASSERT(test_payload_ok(st, m.id, sizes[i]));
	}
}

static void
test_writer_sizes_read_back(void)
{
	for (size_t i = 0; i < NSIZES; i++) {
		struct ferry_msg m;
		struct store_writer *w = NULL;
		uint8_t *p;
		size_t off = 0, step = 1000 + 7 * i;

		test_msg(&m, "here", "streamed", 3);
		p = make_payload(m.id, sizes[i]);
		CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
		/* Odd write sizes, so writes straddle chunk edges. */
		while (off < sizes[i]) {
			size_t n =
			    sizes[i] - off < step ? sizes[i] - off : step;
			CU_ASSERT_EQUAL_FATAL(store_writer_write(w, p + off, n),
					      0);
			off += n;
		}
		CU_ASSERT_EQUAL(store_writer_commit(w), 0);
		free(p);
		CU_ASSERT(test_payload_ok(st, m.id, sizes[i]));
	}
}

static void
test_reader_seek(void)
{
	struct ferry_msg m;
	struct store_reader *r = NULL;
	size_t len = 2 * STORE_CHUNK_BYTES + 100, n = 0;
	uint8_t *p, buf[64];
	uint64_t off = STORE_CHUNK_BYTES - 10;

	test_msg(&m, "here", "seek", 3);
	p = make_payload(m.id, len);
	CU_ASSERT_EQUAL_FATAL(store_put(st, &m, p, len), 0);
	CU_ASSERT_EQUAL_FATAL(store_reader_open(st, m.id, &r), 0);
	CU_ASSERT_EQUAL(store_reader_seek(r, off), 0);
	/* A read stops at the chunk edge; the next goes on. */
	CU_ASSERT_EQUAL(store_reader_read(r, buf, sizeof(buf), &n), 0);
	CU_ASSERT_EQUAL(n, 10);
	CU_ASSERT(memcmp(buf, p + off, n) == 0);
	CU_ASSERT_EQUAL(store_reader_read(r, buf, sizeof(buf), &n), 0);
	CU_ASSERT_EQUAL(n, sizeof(buf));
	CU_ASSERT(memcmp(buf, p + off + 10, n) == 0);
	CU_ASSERT_EQUAL(store_reader_seek(r, len + 1), FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_reader_seek(r, len), 0);
	CU_ASSERT_EQUAL(store_reader_read(r, buf, sizeof(buf), &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	store_reader_close(r);
	free(p);
}

static void
test_writer_refuses_known_ids_before_payload(void)
{
	struct ferry_msg m;
	struct store_writer *w = NULL, *w2 = NULL;

	test_msg(&m, "here", "q", 3);
	CU_ASSERT_EQUAL(store_put(st, &m, "x", 1), 0);
	CU_ASSERT_EQUAL(store_writer_open(st, &m, &w), FERRY_EDUPLICATE);
	CU_ASSERT_PTR_NULL(w);
	test_msg(&m, "here", "q", 3);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	CU_ASSERT_EQUAL(store_writer_open(st, &m, &w2), FERRY_EBUSY);
	CU_ASSERT_EQUAL(store_put(st, &m, "x", 1), FERRY_EBUSY);
	store_writer_abort(w);
	/* Aborted: the id is free again and nothing was left behind. */
	CU_ASSERT_EQUAL(store_put(st, &m, "x", 1), 0);
}

static void
test_writer_abort_leaves_nothing(void)
{
	struct ferry_msg m;
	struct store_writer *w = NULL;
	struct store_status s;
	struct store_stats before, after;
	uint8_t *p;

	CU_ASSERT_EQUAL(store_stats(st, &before), 0);
	test_msg(&m, "here", "q", 3);
	p = make_payload(m.id, 3 * STORE_CHUNK_BYTES);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	CU_ASSERT_EQUAL(store_writer_write(w, p, 3 * STORE_CHUNK_BYTES), 0);
	store_writer_abort(w);
	free(p);
	CU_ASSERT_EQUAL(store_status(st, m.id, &s), 0);
	CU_ASSERT_EQUAL(s.kind, STORE_ST_UNKNOWN);
	CU_ASSERT_EQUAL(store_stats(st, &after), 0);
	CU_ASSERT_EQUAL(after.msgs, before.msgs);
	CU_ASSERT_EQUAL(after.bytes, before.bytes);
}

/* What a tap (cut-through) wakes with. */
static void
tap_woken(void *arg)
{
	(*(int *)arg)++;
}

/* Cut-through: a tap shows the bytes written to the spool so far (not
 * those still buffered), reads them as written, wakes its watcher, and
 * ends WHOLE at a commit of the declared length; GONE at an abort, or at
 * a commit of another length. */
static void
test_writer_tap(void)
{
	struct ferry_msg m;
	struct store_writer *w = NULL;
	struct store_tap *t = NULL;
	size_t len = 3 * STORE_CHUNK_BYTES + 100, n = 0;
	uint8_t *p, *back;
	uint64_t avail = 1;
	int woken = 0;

	test_msg(&m, "peer", "q", 3);
	p = make_payload(m.id, len);
	back = malloc(len);
	CU_ASSERT_FATAL(back != NULL);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	CU_ASSERT_EQUAL_FATAL(store_writer_tap(w, len, &t), 0);
	CU_ASSERT_EQUAL(store_tap_info(t)->msg.payload_len, len);
	CU_ASSERT(memcmp(store_tap_info(t)->msg.id, m.id, FERRY_ID_LEN) == 0);
	store_tap_watch(t, tap_woken, &woken);
	CU_ASSERT_EQUAL(store_tap_state(t, &avail), STORE_TAP_STREAMING);
	CU_ASSERT_EQUAL(avail, 0);
	/* Half a chunk stays in the writer's buffer: nothing to read. */
	CU_ASSERT_EQUAL(store_writer_write(w, p, STORE_CHUNK_BYTES / 2), 0);
	CU_ASSERT_EQUAL(store_tap_state(t, &avail), STORE_TAP_STREAMING);
	CU_ASSERT_EQUAL(avail, 0);
	CU_ASSERT_EQUAL(store_tap_read(t, 0, back, len, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	/* The rest of the first chunk and two more (one straight). */
	CU_ASSERT_EQUAL(store_writer_write(w, p + STORE_CHUNK_BYTES / 2,
					   STORE_CHUNK_BYTES / 2),
			0);
	CU_ASSERT_EQUAL(
	    store_writer_write(w, p + STORE_CHUNK_BYTES, 2 * STORE_CHUNK_BYTES),
	    0);
	CU_ASSERT_EQUAL(store_tap_state(t, &avail), STORE_TAP_STREAMING);
	CU_ASSERT_EQUAL(avail, 3 * STORE_CHUNK_BYTES);
	CU_ASSERT(woken >= 2);
	CU_ASSERT_EQUAL(store_tap_read(t, 100, back, len, &n), 0);
	CU_ASSERT_EQUAL(n, 3 * STORE_CHUNK_BYTES - 100);
	CU_ASSERT(memcmp(back, p + 100, n) == 0);
	CU_ASSERT_EQUAL(store_writer_write(w, p + 3 * STORE_CHUNK_BYTES, 100),
			0);
	CU_ASSERT_EQUAL(store_writer_commit(w), 0);
	CU_ASSERT_EQUAL(store_tap_state(t, &avail), STORE_TAP_WHOLE);
	CU_ASSERT_EQUAL(avail, len);
	CU_ASSERT_EQUAL(store_tap_read(t, 0, back, len, &n), 0);
	CU_ASSERT_EQUAL(n, len);
	CU_ASSERT(memcmp(back, p, len) == 0);
	store_tap_watch(t, NULL, NULL);
	store_tap_unref(t);

	/* Aborted: GONE, and the watcher hears of it. */
	test_msg(&m, "peer", "q", 3);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	CU_ASSERT_EQUAL_FATAL(store_writer_tap(w, len, &t), 0);
	store_tap_watch(t, tap_woken, &woken);
	CU_ASSERT_EQUAL(store_writer_write(w, p, STORE_CHUNK_BYTES), 0);
	woken = 0;
	store_writer_abort(w);
	CU_ASSERT_EQUAL(woken, 1);
	CU_ASSERT_EQUAL(store_tap_state(t, &avail), STORE_TAP_GONE);
	store_tap_unref(t);

	/* Committed shorter than declared: stored, but the tap says GONE
	 * (its reader declared another length to the peer). */
	test_msg(&m, "peer", "q", 3);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	CU_ASSERT_EQUAL_FATAL(store_writer_tap(w, len, &t), 0);
	CU_ASSERT_EQUAL(store_writer_write(w, p, STORE_CHUNK_BYTES), 0);
	CU_ASSERT_EQUAL(store_writer_commit(w), 0);
	CU_ASSERT_EQUAL(store_tap_state(t, &avail), STORE_TAP_GONE);
	store_tap_unref(t);
	free(back);
	free(p);
}

/* A cut stream is listed (id, address, bytes so far, last progress, owned
 * or not) until it is resumed and committed; then it is gone. */
static void
test_partials_listed(void)
{
	struct partials_seen seen;
	struct ferry_msg m;
	struct store_writer *w = NULL;
	size_t cut = 3 * STORE_CHUNK_BYTES / 2 + 17;
	uint64_t off = 0;
	uint8_t *p;

	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(store_partials_list(st, 0, collect_partial, &seen), 0);
	CU_ASSERT_EQUAL(seen.n, 0);
	test_msg(&m, "far", "big", 3);
	p = make_payload(m.id, 2 * cut);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	CU_ASSERT_EQUAL(store_writer_write(w, p, cut), 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(store_partials_list(st, 0, collect_partial, &seen), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 1);
	CU_ASSERT(seen.p[0].busy);
	CU_ASSERT_EQUAL(seen.p[0].msg.payload_len, 0); /* not yet durable */
	CU_ASSERT_EQUAL(store_writer_suspend(w), 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(store_partials_list(st, 0, collect_partial, &seen), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 1);
	CU_ASSERT(!seen.p[0].busy);
	CU_ASSERT(memcmp(seen.p[0].msg.id, m.id, FERRY_ID_LEN) == 0);
	CU_ASSERT_STRING_EQUAL(seen.p[0].msg.dst_node, "far");
	CU_ASSERT_STRING_EQUAL(seen.p[0].msg.dst_queue, "big");
	CU_ASSERT_EQUAL(seen.p[0].msg.payload_len, cut);
	CU_ASSERT(seen.p[0].last_ms > 0);
	CU_ASSERT_EQUAL_FATAL(store_writer_resume(st, m.id, &w, &off), 0);
	CU_ASSERT_EQUAL(off, cut);
	CU_ASSERT_STRING_EQUAL(store_writer_msg(w)->dst_queue, "big");
	CU_ASSERT_EQUAL(store_writer_msg(w)->payload_len, cut);
	CU_ASSERT_EQUAL(store_writer_write(w, p + cut, cut), 0);
	CU_ASSERT_EQUAL(store_writer_commit(w), 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(store_partials_list(st, 0, collect_partial, &seen), 0);
	CU_ASSERT_EQUAL(seen.n, 0);
	free(p);
}

/* A staged writer (a bundle's bytes, not yet verified) records no durable
 * offset while it writes, however much; park records it once.  A plain
 * one records it every STORE_SYNC_EVERY bytes (one window behind: past
 * the end of window 2, window 1 is recorded). */
static void
test_staged_writer_durable_at_park(void)
{
	struct partials_seen seen;
	struct ferry_msg m, n;
	struct store_writer *w = NULL, *v = NULL;
	size_t len =
	    (size_t)(8u << 20) + STORE_CHUNK_BYTES + 5; /* past 8 MiB */
	size_t len2 = (size_t)(16u << 20) + 5;		/* past 16 MiB */
	uint8_t *p, *q;

	test_msg(&m, "far", "big", 3);
	test_msg(&n, "far", "big", 4);
	p = make_payload(m.id, len);
	q = make_payload(n.id, len2);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	store_writer_staged(w);
	CU_ASSERT_EQUAL(store_writer_write(w, p, len), 0);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &n, &v), 0);
	CU_ASSERT_EQUAL(store_writer_write(v, q, len2), 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(store_partials_list(st, 0, collect_partial, &seen), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 2);
	for (size_t i = 0; i < 2; i++) {
		int mine = memcmp(seen.p[i].msg.id, m.id, FERRY_ID_LEN) == 0;
		CU_ASSERT(mine ? seen.p[i].msg.payload_len == 0
			       : seen.p[i].msg.payload_len >= (8u << 20));
	}
	CU_ASSERT_EQUAL(store_writer_park(w), 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(store_partials_list(st, 0, collect_partial, &seen), 0);
	for (size_t i = 0; i < seen.n && i < 4; i++) {
		if (memcmp(seen.p[i].msg.id, m.id, FERRY_ID_LEN) == 0) {
			CU_ASSERT_EQUAL(seen.p[i].msg.payload_len, len);
		}
	}
	store_writer_release(w);
	store_writer_abort(v);
	CU_ASSERT_EQUAL_FATAL(store_writer_resume(st, m.id, &w, NULL), 0);
	store_writer_abort(w);
	free(p);
	free(q);
}

static void
test_writer_suspend_resume_after_restart(void)
{
	struct ferry_msg m;
	struct store_writer *w = NULL;
	size_t len = 5 * STORE_CHUNK_BYTES / 2 + 333; /* 2.5 chunks + */
	size_t cut = 3 * STORE_CHUNK_BYTES / 2 + 17;  /* 1.5 chunks + */
	uint64_t off = 0;
	uint8_t *p;

	test_msg(&m, "far", "big", 3);
	p = make_payload(m.id, len);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	CU_ASSERT_EQUAL(store_writer_write(w, p, cut), 0);
	CU_ASSERT_EQUAL(store_writer_suspend(w), 0);
	store_close(st);
	st = test_store_open(&dir, NULL, NULL);
	CU_ASSERT_FATAL(st != NULL);
	CU_ASSERT_EQUAL_FATAL(store_writer_resume(st, m.id, &w, &off), 0);
	CU_ASSERT_EQUAL(off, cut);
	CU_ASSERT_EQUAL(store_writer_write(w, p + off, len - off), 0);
	CU_ASSERT_EQUAL(store_writer_commit(w), 0);
	CU_ASSERT(test_payload_ok(st, m.id, len));
	free(p);
	CU_ASSERT_EQUAL(store_writer_resume(st, m.id, &w, &off),
			FERRY_ENOTFOUND);
}

static void
spool_file(const uint8_t *id, char *path, size_t cap)
{
	char hex[FERRY_ID_HEX_LEN + 1];

	ferry_id_to_hex(id, hex);
	snprintf(path, cap, "%s/spool/%s", dir, hex);
}

static int
file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* The spool file and the store agree after a crash: bytes past the
 * durable offset (written, never recorded) are cut at resume; a file
 * nobody owns is removed at open; a consumed message's file goes with the
 * sweep after its ack. */
static void
test_spool_files_follow_the_store(void)
{
	struct ferry_msg m;
	struct store_writer *w = NULL;
	struct store_msg_info info;
	struct store_sweep_stats ss;
	size_t len = 3 * STORE_CHUNK_BYTES + 5;
	char path[4200], orphan[4200];
	uint64_t off = 0, tok;
	uint8_t *p, junk[1000];
	uint8_t oid[FERRY_ID_LEN];
	FILE *f;

	test_msg(&m, "here", "spooled", 3);
	p = make_payload(m.id, len);
	spool_file(m.id, path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	CU_ASSERT(file_exists(path));
	CU_ASSERT_EQUAL(store_writer_write(w, p, STORE_CHUNK_BYTES), 0);
	CU_ASSERT_EQUAL(store_writer_suspend(w), 0);
	/* A crash after more bytes reached the file but before the store
	 * recorded them: */
	memset(junk, 0xee, sizeof(junk));
	f = fopen(path, "ab");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	CU_ASSERT_EQUAL(fclose(f), 0);
	/* and a file of a stream that never got its partial record: */
	CU_ASSERT_EQUAL_FATAL(ferry_id_generate(oid), 0);
	spool_file(oid, orphan, sizeof(orphan));
	f = fopen(orphan, "wb");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(fclose(f), 0);
	store_close(st);
	st = test_store_open(&dir, NULL, NULL);
	CU_ASSERT_FATAL(st != NULL);
	CU_ASSERT(!file_exists(orphan));
	CU_ASSERT_EQUAL_FATAL(store_writer_resume(st, m.id, &w, &off), 0);
	CU_ASSERT_EQUAL(off, STORE_CHUNK_BYTES);
	CU_ASSERT_EQUAL(store_writer_write(w, p + off, len - off), 0);
	CU_ASSERT_EQUAL(store_writer_commit(w), 0);
	CU_ASSERT(test_payload_ok(st, m.id, len)); /* no junk inside */
	free(p);
	CU_ASSERT_EQUAL_FATAL(store_take(st, "spooled", 1000, &info, &tok), 0);
	CU_ASSERT_EQUAL(store_ack(st, m.id, tok), 0);
	CU_ASSERT(file_exists(path)); /* until the commit is certain */
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, &ss), 0);
	CU_ASSERT(!file_exists(path));

	/* An abort frees the id at once and leaves no file. */
	test_msg(&m, "here", "spooled", 3);
	spool_file(m.id, path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	CU_ASSERT_EQUAL(store_writer_write(w, junk, sizeof(junk)), 0);
	store_writer_abort(w);
	CU_ASSERT(!file_exists(path));
	CU_ASSERT_EQUAL(store_put(st, &m, "x", 1), 0);
}

/* One writer per message id, whatever the transports: while one owns
 * the partial nobody else may open, resume, sweep or drop it; a parked
 * writer keeps it; the data-loss case of two transports (issue 10). */
static void
test_one_writer_per_message(void)
{
	/* static: the store opened here (its clock reads clk) is the one
	 * the next tests use, until the suite's teardown closes it. */
	static struct test_clock clk;
	struct store_opts o;
	struct ferry_msg m;
	struct store_writer *a = NULL, *b = NULL;
	struct store_sweep_stats ss;
	struct store_status stt;
	size_t len = 3 * STORE_CHUNK_BYTES + 7;
	uint64_t off = 0;
	uint8_t *p;

	clk.now_ms = 1000000;
	store_close(st);
	test_rmtree(dir);
	dir = NULL;
	memset(&o, 0, sizeof(o));
	o.partial_max_idle_ms = 1000;
	st = test_store_open(&dir, &clk, &o);
	CU_ASSERT_FATAL(st != NULL);
	test_msg(&m, "here", "one", 3);
	p = make_payload(m.id, len);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &a), 0);
	CU_ASSERT_EQUAL(store_writer_write(a, p, STORE_CHUNK_BYTES), 0);
	CU_ASSERT(store_writer_busy(st, m.id));
	/* A second transport offering the same id is told busy. */
	CU_ASSERT_EQUAL(store_writer_resume(st, m.id, &b, &off), FERRY_EBUSY);
	CU_ASSERT(b == NULL);
	CU_ASSERT_EQUAL(store_writer_open(st, &m, &b), FERRY_EBUSY);
	/* The idle sweep leaves an owned partial alone, however old. */
	clk.now_ms += 1000000;
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, &ss), 0);
	CU_ASSERT_EQUAL(ss.partials_dropped, 0);
	/* The owner lets go: the other resumes from its durable offset
	 * and commits the whole. */
	CU_ASSERT_EQUAL(store_writer_suspend(a), 0);
	CU_ASSERT(!store_writer_busy(st, m.id));
	CU_ASSERT_EQUAL_FATAL(store_writer_resume(st, m.id, &b, &off), 0);
	CU_ASSERT_EQUAL(off, STORE_CHUNK_BYTES);
	CU_ASSERT_EQUAL(store_writer_write(b, p + off, len - off), 0);
	CU_ASSERT_EQUAL(store_writer_commit(b), 0);
	CU_ASSERT(test_payload_ok(st, m.id, len));

	/* Parked: durable, no buffer, still owned; abort drops it. */
	test_msg(&m, "here", "one", 3);
	test_fill(m.id, 0, p, len);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &a), 0);
	CU_ASSERT_EQUAL(store_writer_write(a, p, STORE_CHUNK_BYTES + 5), 0);
	CU_ASSERT_EQUAL(store_writer_park(a), 0);
	CU_ASSERT_EQUAL(store_writer_resume(st, m.id, &b, &off), FERRY_EBUSY);
	store_writer_abort(a);
	CU_ASSERT_EQUAL(store_status(st, m.id, &stt), 0);
	CU_ASSERT_EQUAL(stt.kind, STORE_ST_UNKNOWN);
	/* Parked, then released: resumable where it stopped. */
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &a), 0);
	CU_ASSERT_EQUAL(store_writer_write(a, p, STORE_CHUNK_BYTES + 5), 0);
	CU_ASSERT_EQUAL(store_writer_park(a), 0);
	store_writer_release(a);
	CU_ASSERT_EQUAL_FATAL(store_writer_resume(st, m.id, &b, &off), 0);
	CU_ASSERT_EQUAL(off, STORE_CHUNK_BYTES + 5);
	CU_ASSERT_EQUAL(store_writer_write(b, p + off, len - off), 0);
	CU_ASSERT_EQUAL(store_writer_commit(b), 0);
	CU_ASSERT(test_payload_ok(st, m.id, len));
	free(p);
}

/* A commit never stores a payload that is not whole: the spool file
 * shortened, or replaced by another file of the same name. */
static void
test_commit_checks_the_payload_is_whole(void)
{
	struct ferry_msg m;
	struct store_writer *w = NULL;
	struct store_status stt;
	char path[4200];
	uint8_t *p;
	size_t len = 2 * STORE_CHUNK_BYTES;
	FILE *f;

	for (int replace = 0; replace < 2; replace++) {
		test_msg(&m, "here", "whole", 3);
		p = make_payload(m.id, len);
		spool_file(m.id, path, sizeof(path));
		CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
		CU_ASSERT_EQUAL(store_writer_write(w, p, len), 0);
		if (replace) {
			CU_ASSERT_EQUAL(unlink(path), 0);
			f = fopen(path, "wb");
			CU_ASSERT_FATAL(f != NULL);
			CU_ASSERT_EQUAL(fwrite(p, 1, len, f), len);
			CU_ASSERT_EQUAL(fclose(f), 0);
		} else {
			CU_ASSERT_EQUAL(truncate(path, 100), 0);
		}
		CU_ASSERT_EQUAL(store_writer_commit(w), FERRY_ECORRUPT);
		CU_ASSERT_EQUAL(store_status(st, m.id, &stt), 0);
		CU_ASSERT_EQUAL(stt.kind, STORE_ST_UNKNOWN);
		CU_ASSERT(file_exists(path) == replace); /* not unlinked */
		if (replace)
			CU_ASSERT_EQUAL(unlink(path), 0);
		free(p);
	}
}

static void
test_streamed_queue_quota_refused_at_commit(void)
{
	struct store_queue_limits lim = {.max_bytes = STORE_CHUNK_BYTES};
	struct ferry_msg m;
	struct store_writer *w = NULL;
	struct store_queue_stats qs;
	uint8_t *p;

	CU_ASSERT_EQUAL(store_queue_create(st, "tiny", &lim), 0);
	test_msg(&m, "here", "tiny", 3);
	p = make_payload(m.id, STORE_CHUNK_BYTES + 1);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	CU_ASSERT_EQUAL(store_writer_write(w, p, STORE_CHUNK_BYTES + 1), 0);
	CU_ASSERT_EQUAL(store_writer_commit(w), FERRY_EQUEUEQUOTA);
	free(p);
	CU_ASSERT_EQUAL(store_queue_stats(st, "tiny", &qs), 0);
	CU_ASSERT_EQUAL(qs.msgs, 0);
}

/* Durable one window behind (STORE_SYNC_EVERY bytes a window, made
 * durable by the writer's syncer thread while the next one is written):
 * once a write has passed the end of window 2, window 1 is recorded; a
 * suspend records everything; a restart resumes from there. */
static void
test_writer_durable_one_window_behind(void)
{
	const size_t win = 8u << 20; /* STORE_SYNC_EVERY */
	size_t len = 2 * win + 4097;
	struct partials_seen seen = {.n = 0};
	struct ferry_msg m;
	struct store_writer *w = NULL;
	uint64_t off = 0;
	uint8_t *p;

	test_msg(&m, "far", "windows", 3);
	p = make_payload(m.id, len);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	for (size_t at = 0; at < len; at += 65536)
		CU_ASSERT_EQUAL_FATAL(
		    store_writer_write(w, p + at,
				       len - at < 65536 ? len - at : 65536),
		    0);
	CU_ASSERT_EQUAL(store_partials_list(st, 0, collect_partial, &seen), 0);
	CU_ASSERT_EQUAL_FATAL(seen.n, 1);
	CU_ASSERT(seen.p[0].msg.payload_len == win ||
		  seen.p[0].msg.payload_len == 2 * win);
	CU_ASSERT_EQUAL(store_writer_suspend(w), 0);
	store_close(st);
	st = test_store_open(&dir, NULL, NULL);
	CU_ASSERT_FATAL(st != NULL);
	CU_ASSERT_EQUAL_FATAL(store_writer_resume(st, m.id, &w, &off), 0);
	CU_ASSERT_EQUAL(off, len);
	CU_ASSERT_EQUAL(store_writer_commit(w), 0);
	CU_ASSERT(test_payload_ok(st, m.id, len));
	free(p);
}

/* The store's quota reached in the middle of a stream: the error comes
 * back from a write (a window late at most), what was
 * recorded never passes the quota, and abort leaves nothing. */
static void
test_writer_quota_midway(void)
{
	const size_t win = 8u << 20;
	struct store_opts o = {.quota_bytes = 3 * win / 2};
	struct partials_seen seen = {.n = 0};
	struct ferry_msg m;
	struct store_writer *w = NULL;
	size_t len = 6 * win, at = 0, chunk = 1u << 20;
	uint8_t *p;
	int rc = 0;

	store_close(st);
	st = test_store_open(&dir, NULL, &o);
	CU_ASSERT_FATAL(st != NULL);
	test_msg(&m, "far", "quota", 3);
	p = make_payload(m.id, chunk);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	for (; at < len && rc == 0; at += chunk)
		rc = store_writer_write(w, p, chunk);
	CU_ASSERT_EQUAL(rc, FERRY_EQUOTA); /* window 2 is over the quota */
	if (rc == 0) {
		CU_ASSERT_EQUAL(store_writer_commit(w), FERRY_EQUOTA);
	} else {
		CU_ASSERT(at <= 4 * win); /* refused within two windows */
		CU_ASSERT_EQUAL(
		    store_partials_list(st, 0, collect_partial, &seen), 0);
		CU_ASSERT_EQUAL_FATAL(seen.n, 1);
		CU_ASSERT(seen.p[0].msg.payload_len <= o.quota_bytes);
		store_writer_abort(w);
	}
	seen.n = 0;
	CU_ASSERT_EQUAL(store_partials_list(st, 0, collect_partial, &seen), 0);
	CU_ASSERT_EQUAL(seen.n, 0);
	free(p);
	store_close(st); /* the next tests: no quota */
	st = test_store_open(&dir, NULL, NULL);
	CU_ASSERT_FATAL(st != NULL);
}

/* 1 GiB in, 1 GiB out, while the process stays under 64 MiB resident. */
static long long
file_size(const char *name)
{
	char path[4200];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* An emptied store gives its disk space back: 40 MiB of chunked
 * payloads put, taken and acked, then the sweep (and its compaction)
 * until nothing more is freed: chunks.db shrinks to a small part of
 * what it was (issue 12 item 10). */
static void
test_emptied_store_shrinks(void)
{
	size_t len = 600 * 1024, n = 70;
	struct store_msg_info info;
	struct store_sweep_stats ss;
	uint64_t tok, freed = 0;
	long long full, after;
	uint8_t *p = make_payload((const uint8_t *)"0123456789abcdef", len);

	for (size_t i = 0; i < n; i++) {
		struct ferry_msg m;
		test_msg(&m, "here", "shrink", 3);
		CU_ASSERT_EQUAL_FATAL(store_put(st, &m, p, len), 0);
	}
	free(p);
	full = file_size("chunks.db");
	CU_ASSERT(full > (long long)(n * len));
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_EQUAL_FATAL(
		    store_take(st, "shrink", 1000, &info, &tok), 0);
		CU_ASSERT_EQUAL(store_ack(st, info.msg.id, tok), 0);
	}
	for (int k = 0; k < 200; k++) {
		uint64_t f = 0;
		CU_ASSERT_EQUAL_FATAL(store_sweep(st, NULL, NULL, &ss), 0);
		CU_ASSERT_EQUAL_FATAL(store_compact(st, &f), 0);
		freed += f;
		if (f == 0 && ss.bytes_freed == 0 && k > 2)
			break;
	}
	after = file_size("chunks.db");
	printf("\n    chunks.db: %lld bytes full, %lld emptied (%llu pages "
	       "freed)\n",
	       full, after, (unsigned long long)freed);
	CU_ASSERT(freed > 0);
	CU_ASSERT(after < full / 8);
}

static void
test_1gib_payload_bounded_memory(void)
{
	const uint64_t len = 1ull << 30;
	static uint8_t buf[1 << 20];
	struct ferry_msg m;
	struct store_writer *w = NULL;
	struct store_reader *r = NULL;
	uint64_t off;
	long rss;
	int ok = 1;

	printf("\n    peak RSS before: %ld KiB\n", test_peak_rss_kib());
	test_msg(&m, "here", "huge", 3);
	CU_ASSERT_EQUAL_FATAL(store_writer_open(st, &m, &w), 0);
	for (off = 0; off < len; off += sizeof(buf)) {
		test_fill(m.id, off, buf, sizeof(buf));
		if (store_writer_write(w, buf, sizeof(buf)) != 0) {
			ok = 0;
			break;
		}
	}
	CU_ASSERT_FATAL(ok);
	CU_ASSERT_EQUAL_FATAL(store_writer_commit(w), 0);
	CU_ASSERT_EQUAL_FATAL(store_reader_open(st, m.id, &r), 0);
	for (off = 0; ok;) {
		static uint8_t want[1 << 20];
		size_t n = 0;
		if (store_reader_read(r, buf, sizeof(buf), &n) != 0) {
			ok = 0;
			break;
		}
		if (n == 0)
			break;
		test_fill(m.id, off, want, n);
		if (memcmp(buf, want, n) != 0)
			ok = 0;
		off += n;
	}
	store_reader_close(r);
	CU_ASSERT(ok);
	CU_ASSERT_EQUAL(off, len);
	CU_ASSERT_EQUAL(store_ack(st, m.id, 0), 0);
	rss = test_peak_rss_kib();
	printf("\n    peak RSS after 1 GiB in and out: %ld KiB\n", rss);
#ifdef FERRY_UNDER_ASAN
	/* ASan's shadow memory and quarantine are not ferry's. */
	printf("    RSS bound not checked under AddressSanitizer\n");
#else
	CU_ASSERT(rss > 0 && rss < 64 * 1024);
#endif
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("store_writer", setup, teardown);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_put_sizes_read_back);
	TEST_ADD(s, test_writer_sizes_read_back);
	TEST_ADD(s, test_reader_seek);
	TEST_ADD(s, test_writer_refuses_known_ids_before_payload);
	TEST_ADD(s, test_writer_abort_leaves_nothing);
	TEST_ADD(s, test_writer_tap);
	TEST_ADD(s, test_writer_suspend_resume_after_restart);
	TEST_ADD(s, test_writer_durable_one_window_behind);
	TEST_ADD(s, test_writer_quota_midway);
	TEST_ADD(s, test_partials_listed);
	TEST_ADD(s, test_staged_writer_durable_at_park);
	TEST_ADD(s, test_streamed_queue_quota_refused_at_commit);
	TEST_ADD(s, test_spool_files_follow_the_store);
	TEST_ADD(s, test_one_writer_per_message);
	TEST_ADD(s, test_commit_checks_the_payload_is_whole);
	TEST_ADD(s, test_emptied_store_shrinks);
	TEST_ADD(s, test_1gib_payload_bounded_memory);
}

int
main(void)
{
	return test_main("test_store_writer", add_suites);
}
