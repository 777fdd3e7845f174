/*
 * test_store_queue.c - CUnit tests of local queues, dedup, expiry, quotas,
 * the outbound side and status, through store/store.h only.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store_int.h" /* receipt_parse */
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

static void
put_local(struct ferry_msg *m, const char *queue, int prio, const char *body)
{
	test_msg(m, "here", queue, prio);
	CU_ASSERT_EQUAL_FATAL(store_put(st, m, body, strlen(body)), 0);
}

struct collect {
	struct store_msg_info infos[64];
	size_t n;
};

static int
collect_fn(const struct store_msg_info *info, void *arg)
{
	struct collect *c = arg;

	if (c->n < 64)
		c->infos[c->n++] = *info;
	return 0;
}

/* store_ack_async's completion: its result, once, from a store thread. */
struct ack_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls, result;
};

static void
ack_done(int result, void *arg)
{
	struct ack_wait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->calls++;
	w->result = result;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* The result, once ack_done was called (exactly once). */
static int
ack_wait_result(struct ack_wait *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->calls == 0)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	CU_ASSERT_EQUAL(w->calls, 1);
	return w->result;
}

static int
ack_async_wait(const uint8_t *id, uint64_t tok)
{
	struct ack_wait w = {PTHREAD_MUTEX_INITIALIZER,
			     PTHREAD_COND_INITIALIZER, 0, 0};

	CU_ASSERT_EQUAL_FATAL(store_ack_async(st, id, tok, ack_done, &w), 0);
	return ack_wait_result(&w);
}

static int
take_async_wait(const char *queue, uint8_t *payload, struct store_take_req *req)
{
	struct ack_wait w = {PTHREAD_MUTEX_INITIALIZER,
			     PTHREAD_COND_INITIALIZER, 0, 0};

	memset(req, 0, sizeof(*req));
	req->queue = queue;
	req->lease_ms = 30000;
	req->payload = payload;
	CU_ASSERT_EQUAL_FATAL(store_take_async(st, req, ack_done, &w), 0);
	return ack_wait_result(&w);
}

/* A RECV's take without a pool thread: leased as by store_take, a small
 * payload handed back with it, a big one left to store_reader_open. */
static void
test_take_async(void)
{
	static uint8_t payload[STORE_TAKE_INLINE], big[3 * STORE_TAKE_INLINE];
	struct store_take_req req;
	struct store_msg_info info;
	struct store_reader *rd = NULL;
	struct ferry_msg a, b;
	uint64_t tok_b;
	size_t n = 0;

	FRESH();
	put_local(&a, "inbox", 3, "small one");
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	test_msg(&b, "here", "inbox", 3);
	CU_ASSERT_EQUAL_FATAL(store_put(st, &b, big, sizeof(big)), 0);
	memset(&req, 0, sizeof(req));
	CU_ASSERT_EQUAL(store_take_async(st, &req, ack_done, NULL),
			FERRY_EINVAL);

	CU_ASSERT_EQUAL(take_async_wait("inbox", payload, &req), 0);
	CU_ASSERT(memcmp(req.info.msg.id, a.id, 16) == 0);
	CU_ASSERT_EQUAL(req.info.state, STORE_LEASED);
	CU_ASSERT(req.token != 0);
	CU_ASSERT_EQUAL(req.payload_in, 1);
	CU_ASSERT_EQUAL(req.payload_len, 9);
	CU_ASSERT(memcmp(payload, "small one", 9) == 0);
	/* Leased as by store_take: hidden, and acked with its token. */
	CU_ASSERT_EQUAL(store_get(st, a.id, &info), 0);
	CU_ASSERT_EQUAL(info.state, STORE_LEASED);

	CU_ASSERT_EQUAL(take_async_wait("inbox", payload, &req), 0);
	CU_ASSERT(memcmp(req.info.msg.id, b.id, 16) == 0);
	CU_ASSERT_EQUAL(req.payload_in, 0);
	CU_ASSERT_EQUAL(req.info.msg.payload_len, sizeof(big));
	tok_b = req.token;
	CU_ASSERT_EQUAL_FATAL(store_reader_open(st, b.id, &rd), 0);
	{
		static uint8_t got[sizeof(big)];
		size_t off = 0;

		do {
			CU_ASSERT_EQUAL_FATAL(
			    store_reader_read(rd, got + off, sizeof(got) - off,
					      &n),
			    0);
			off += n;
		} while (n != 0 && off < sizeof(got));
		CU_ASSERT_EQUAL(off, sizeof(big));
		CU_ASSERT(memcmp(got, big, sizeof(big)) == 0);
	}
	store_reader_close(rd);

	/* Both leased: nothing more, and nothing written to payload. */
	payload[0] = 0x5a;
	CU_ASSERT_EQUAL(take_async_wait("inbox", payload, &req), FERRY_EEMPTY);
	CU_ASSERT_EQUAL(req.payload_in, 0);
	CU_ASSERT_EQUAL(payload[0], 0x5a);
	CU_ASSERT_EQUAL(store_ack(st, b.id, tok_b + 2), FERRY_ELEASE);
	CU_ASSERT_EQUAL(store_ack(st, b.id, tok_b), 0);
}

/* The ACK a client sends goes to the store without a pool thread
 * (agent/requests_msg.c, ack_async): same checks, same result. */
static void
test_ack_async(void)
{
	struct ferry_msg a, b;
	struct store_msg_info info;
	struct store_status s;
	uint64_t tok = 0;

	FRESH();
	put_local(&a, "inbox", 3, "one");
	put_local(&b, "inbox", 3, "two");
	CU_ASSERT_EQUAL(store_ack_async(st, a.id, 0, NULL, NULL), FERRY_EINVAL);
	CU_ASSERT_EQUAL_FATAL(store_take(st, "inbox", 30000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, a.id, 16) == 0);
	CU_ASSERT_EQUAL(ack_async_wait(a.id, tok + 1), FERRY_ELEASE);
	CU_ASSERT_EQUAL(store_get(st, a.id, &info), 0);
	CU_ASSERT_EQUAL(ack_async_wait(a.id, tok), 0);
	CU_ASSERT_EQUAL(store_get(st, a.id, &info), FERRY_ENOTFOUND);
	CU_ASSERT_EQUAL(store_status(st, a.id, &s), 0);
	CU_ASSERT_EQUAL(s.kind, STORE_ST_ACKED);
	CU_ASSERT_EQUAL(ack_async_wait(a.id, tok), FERRY_ENOTFOUND);
	/* The other one is still there, queued. */
	CU_ASSERT_EQUAL(store_get(st, b.id, &info), 0);
	CU_ASSERT_EQUAL(info.state, STORE_QUEUED);
}

static void
test_put_take_ack_roundtrip(void)
{
	struct ferry_msg m;
	struct store_msg_info info;
	struct store_status s;
	uint64_t tok = 0;
	char buf[64];
	size_t n = 0;
	struct store_reader *r = NULL;

	FRESH();
	put_local(&m, "inbox", 3, "hello");
	CU_ASSERT_EQUAL(store_take(st, "inbox", 30000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, m.id, 16) == 0);
	CU_ASSERT_EQUAL(info.state, STORE_LEASED);
	CU_ASSERT_EQUAL(info.deliveries, 1);
	CU_ASSERT_EQUAL(info.msg.payload_len, 5);
	CU_ASSERT(tok != 0);
	CU_ASSERT_EQUAL_FATAL(store_reader_open(st, m.id, &r), 0);
	CU_ASSERT_EQUAL(store_reader_read(r, buf, sizeof(buf), &n), 0);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT(memcmp(buf, "hello", 5) == 0);
	store_reader_close(r);
	/* Nothing else to take while it is leased. */
	CU_ASSERT_EQUAL(store_take(st, "inbox", 30000, &info, &tok),
			FERRY_EEMPTY);
	CU_ASSERT_EQUAL(store_ack(st, m.id, tok), 0);
	CU_ASSERT_EQUAL(store_get(st, m.id, &info), FERRY_ENOTFOUND);
	CU_ASSERT_EQUAL(store_status(st, m.id, &s), 0);
	CU_ASSERT_EQUAL(s.kind, STORE_ST_ACKED);
	CU_ASSERT_EQUAL(store_ack(st, m.id, tok), FERRY_ENOTFOUND);
}

static void
test_priority_then_fifo_order(void)
{
	static const int prios[] = {0, 3, 7, 3, 0, 7, 5};
	struct ferry_msg m[7];
	struct collect c;
	struct store_msg_info info;
	uint64_t tok;
	/* wanted order: 7(2), 7(5), 5(6), 3(1), 3(3), 0(0), 0(4) */
	static const int want[] = {2, 5, 6, 1, 3, 0, 4};

	FRESH();
	for (int i = 0; i < 7; i++)
		put_local(&m[i], "q", prios[i], "x");
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_browse(st, "q", 0, collect_fn, &c), 0);
	CU_ASSERT_EQUAL_FATAL(c.n, 7);
	for (int i = 0; i < 7; i++)
		CU_ASSERT(memcmp(c.infos[i].msg.id, m[want[i]].id, 16) == 0);
	/* Browsing took nothing. */
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL(store_browse(st, "q", 3, collect_fn, &c), 0);
	CU_ASSERT_EQUAL(c.n, 3);
	for (int i = 0; i < 7; i++) {
		CU_ASSERT_EQUAL_FATAL(store_take(st, "q", 1000, &info, &tok),
				      0);
		CU_ASSERT(memcmp(info.msg.id, m[want[i]].id, 16) == 0);
	}
}

static void
test_lease_expiry_returns_message(void)
{
	struct ferry_msg a, b;
	struct store_msg_info info;
	struct store_sweep_stats ss;
	uint64_t tok, tok2;

	FRESH();
	put_local(&a, "q", 3, "a");
	put_local(&b, "q", 3, "b");
	CU_ASSERT_EQUAL(store_take(st, "q", 5000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, a.id, 16) == 0);
	clk.now_ms += 4999;
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, &ss), 0);
	CU_ASSERT_EQUAL(ss.leases_returned, 0);
	clk.now_ms += 1;
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, &ss), 0);
	CU_ASSERT_EQUAL(ss.leases_returned, 1);
	/* Back at its place: before b. */
	CU_ASSERT_EQUAL(store_take(st, "q", 5000, &info, &tok2), 0);
	CU_ASSERT(memcmp(info.msg.id, a.id, 16) == 0);
	CU_ASSERT_EQUAL(info.deliveries, 2);
	/* The old lease's token no longer settles it. */
	CU_ASSERT_EQUAL(store_ack(st, a.id, tok), FERRY_ELEASE);
	CU_ASSERT_EQUAL(store_ack(st, a.id, tok2), 0);
}

/* A renewed lease ends later, under the same token; not acked, the
 * message returns when the renewed lease runs out (a delayed give-back). */
static void
test_renew_moves_lease_end(void)
{
	struct ferry_msg a;
	struct store_msg_info info;
	struct store_sweep_stats ss;
	uint64_t tok, tok2;

	FRESH();
	put_local(&a, "q", 3, "a");
	CU_ASSERT_EQUAL_FATAL(store_take(st, "q", 1000, &info, &tok), 0);
	CU_ASSERT_EQUAL(store_renew(st, a.id, tok + 2, 5000), FERRY_ELEASE);
	CU_ASSERT_EQUAL(store_renew(st, a.id, 0, 5000), FERRY_ELEASE);
	CU_ASSERT_EQUAL(store_renew(st, a.id, tok, 0), FERRY_EINVAL);
	clk.now_ms += 900;
	CU_ASSERT_EQUAL_FATAL(store_renew(st, a.id, tok, 5000), 0);
	CU_ASSERT_EQUAL(store_get(st, a.id, &info), 0);
	CU_ASSERT_EQUAL(info.lease_until_ms, clk.now_ms + 5000);
	clk.now_ms += 4999; /* past the first lease, not the renewed one */
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, &ss), 0);
	CU_ASSERT_EQUAL(ss.leases_returned, 0);
	CU_ASSERT_EQUAL(store_take(st, "q", 1000, &info, &tok2), FERRY_EEMPTY);
	clk.now_ms += 1;
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, &ss), 0);
	CU_ASSERT_EQUAL(ss.leases_returned, 1);
	CU_ASSERT_EQUAL(store_renew(st, a.id, tok, 5000), FERRY_ELEASE);
	CU_ASSERT_EQUAL_FATAL(store_take(st, "q", 1000, &info, &tok2), 0);
	CU_ASSERT_EQUAL(info.deliveries, 2);
	/* Renewed, the same token still acks it. */
	CU_ASSERT_EQUAL(store_renew(st, a.id, tok2, 3000), 0);
	CU_ASSERT_EQUAL(store_ack(st, a.id, tok2), 0);
}

/* A consumer gives up: the message goes to dead with its words, which
 * survive a reopen of the store. */
static void
test_nack_dead_keeps_text(void)
{
	struct ferry_msg a;
	struct store_msg_info info;
	uint64_t tok;
	char big[STORE_DEAD_TEXT_MAX + 2];

	FRESH();
	put_local(&a, "q", 3, "a");
	CU_ASSERT_EQUAL_FATAL(store_take(st, "q", 1000, &info, &tok), 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(
	    store_nack_dead(st, a.id, tok, STORE_DEAD_HANDLER_FAILED, big),
	    FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_nack_dead(st, a.id, tok, STORE_DEAD_EXPIRED, ""),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(
	    store_nack_dead(st, a.id, tok + 2, STORE_DEAD_HANDLER_FAILED, "x"),
	    FERRY_ELEASE);
	CU_ASSERT_EQUAL_FATAL(store_nack_dead(st, a.id, tok,
					      STORE_DEAD_HANDLER_FAILED,
					      "line 1\nboom: no such file\n"),
			      0);
	store_close(st);
	st = test_store_open(&dir, &clk, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_EQUAL_FATAL(store_get(st, a.id, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.queue, "dead");
	CU_ASSERT_EQUAL(info.dead_reason, STORE_DEAD_HANDLER_FAILED);
	CU_ASSERT_STRING_EQUAL(store_dead_reason_name(info.dead_reason),
			       "handler failed");
	CU_ASSERT_STRING_EQUAL(info.dead_text, "line 1\nboom: no such file\n");
	CU_ASSERT_EQUAL_FATAL(store_take(st, "dead", 1000, &info, &tok), 0);
	CU_ASSERT_STRING_EQUAL(info.dead_text, "line 1\nboom: no such file\n");
}

static void
test_nack_returns_to_place(void)
{
	struct ferry_msg a, b;
	struct store_msg_info info;
	struct store_queue_stats qs;
	uint64_t tok;

	FRESH();
	put_local(&a, "q", 3, "a");
	put_local(&b, "q", 3, "b");
	CU_ASSERT_EQUAL(store_take(st, "q", 5000, &info, &tok), 0);
	CU_ASSERT_EQUAL(store_queue_stats(st, "q", &qs), 0);
	CU_ASSERT_EQUAL(qs.leased, 1);
	CU_ASSERT_EQUAL(store_nack(st, a.id, tok + 2), FERRY_ELEASE);
	CU_ASSERT_EQUAL(store_nack(st, a.id, tok), 0);
	CU_ASSERT_EQUAL(store_nack(st, a.id, tok), FERRY_ELEASE);
	CU_ASSERT_EQUAL(store_queue_stats(st, "q", &qs), 0);
	CU_ASSERT_EQUAL(qs.leased, 0);
	CU_ASSERT_EQUAL(qs.msgs, 2);
	CU_ASSERT_EQUAL(store_take(st, "q", 5000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, a.id, 16) == 0);
}

static void
test_ack_by_id_without_token(void)
{
	struct ferry_msg a;

	FRESH();
	put_local(&a, "q", 3, "a");
	CU_ASSERT_EQUAL(store_ack(st, a.id, 0), 0);
	CU_ASSERT_EQUAL(store_ack(st, a.id, 0), FERRY_ENOTFOUND);
}

static void
test_duplicate_put_is_noop(void)
{
	struct ferry_msg m;
	struct store_queue_stats qs;
	struct store_msg_info info;
	uint64_t tok;

	FRESH();
	put_local(&m, "q", 3, "one");
	CU_ASSERT_EQUAL(store_put(st, &m, "two", 3), FERRY_EDUPLICATE);
	CU_ASSERT_EQUAL(store_queue_stats(st, "q", &qs), 0);
	CU_ASSERT_EQUAL(qs.msgs, 1);
	CU_ASSERT_EQUAL(qs.bytes, 3);
	/* Still a duplicate after it was delivered and acked. */
	CU_ASSERT_EQUAL(store_take(st, "q", 1000, &info, &tok), 0);
	CU_ASSERT_EQUAL(store_ack(st, m.id, tok), 0);
	CU_ASSERT_EQUAL(store_put(st, &m, "one", 3), FERRY_EDUPLICATE);
	CU_ASSERT_EQUAL(store_take(st, "q", 1000, &info, &tok), FERRY_EEMPTY);
	/* And after a restart. */
	store_close(st);
	st = test_store_open(&dir, &clk, NULL);
	CU_ASSERT_FATAL(st != NULL);
	CU_ASSERT_EQUAL(store_put(st, &m, "one", 3), FERRY_EDUPLICATE);
}

/* A put marked new_id (an id the caller drew) skips the lookups of ids
 * that left, never the message that holds it: one from outside with the
 * same id is still refused, whole, and the first stays as it was. */
static void
test_new_id_put_still_refuses_stored_id(void)
{
	struct ferry_msg m;
	struct store_put_req req[2] = {{0}};
	struct store_queue_stats qs;
	struct store_msg_info info;
	struct store_reader *rd = NULL;
	uint64_t tok;
	uint8_t buf[8];
	size_t n = 0;

	FRESH();
	test_msg(&m, "here", "q", 3);
	req[0].msg = &m;
	req[0].payload = "one";
	req[0].len = 3;
	req[0].new_id = 1;
	req[1] = req[0];
	req[1].payload = "other";
	req[1].len = 5;
	/* The same id twice in one batch: the second is refused. */
	CU_ASSERT_EQUAL(store_put_batch(st, req, 2), 0);
	CU_ASSERT_EQUAL(req[0].result, 0);
	CU_ASSERT_EQUAL(req[1].result, FERRY_EDUPLICATE);
	/* And in a later one, marked new or not. */
	CU_ASSERT_EQUAL(store_put_batch(st, &req[1], 1), 0);
	CU_ASSERT_EQUAL(req[1].result, FERRY_EDUPLICATE);
	CU_ASSERT_EQUAL(store_put(st, &m, "two", 3), FERRY_EDUPLICATE);
	CU_ASSERT_EQUAL(store_queue_stats(st, "q", &qs), 0);
	CU_ASSERT_EQUAL(qs.msgs, 1);
	CU_ASSERT_EQUAL(qs.bytes, 3);
	CU_ASSERT_EQUAL(store_take(st, "q", 1000, &info, &tok), 0);
	CU_ASSERT_EQUAL_FATAL(store_reader_open(st, m.id, &rd), 0);
	CU_ASSERT_EQUAL(store_reader_read(rd, buf, sizeof(buf), &n), 0);
	store_reader_close(rd);
	CU_ASSERT(n == 3 && memcmp(buf, "one", 3) == 0);
	/* Once it left, an id from outside is looked up in seen. */
	CU_ASSERT_EQUAL(store_ack(st, m.id, tok), 0);
	CU_ASSERT_EQUAL(store_put(st, &m, "one", 3), FERRY_EDUPLICATE);
	/* After a restart (recovery), the same. */
	store_close(st);
	st = test_store_open(&dir, &clk, NULL);
	CU_ASSERT_FATAL(st != NULL);
	CU_ASSERT_EQUAL(store_put(st, &m, "one", 3), FERRY_EDUPLICATE);
}

/* A batch of new_id puts committed, then the process is killed (-9):
 * after recovery the same messages put again, as a client's retry
 * (new_id 0) or even marked new_id, are duplicates, and nothing else
 * changed. */
static void
test_reput_after_kill_is_duplicate(void)
{
	enum { N = 8 };
	struct ferry_msg m[N];
	struct store_put_req req[N] = {{0}};
	struct store_queue_stats qs;
	int status;
	pid_t pid;

	teardown();
	clk.now_ms = TEST_CLOCK_START_MS;
	dir = test_tmpdir("store");
	for (int i = 0; i < N; i++) {
		test_msg(&m[i], "here", "q", 3);
		req[i].msg = &m[i];
		req[i].payload = "kill";
		req[i].len = 4;
		req[i].new_id = 1;
	}
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct store *cs = test_store_open(&dir, &clk, NULL);
		if (cs == NULL || store_put_batch(cs, req, N) != 0)
			_exit(2);
		for (int i = 0; i < N; i++)
			if (req[i].result != 0)
				_exit(3);
		(void)kill(getpid(), SIGKILL); /* no close, no checkpoint */
		_exit(4);
	}
	CU_ASSERT_EQUAL_FATAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT_FATAL(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	st = test_store_open(&dir, &clk, NULL);
	CU_ASSERT_FATAL(st != NULL);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < N; i++) {
			req[i].new_id = pass;
			req[i].result = 0;
		}
		CU_ASSERT_EQUAL(store_put_batch(st, req, N), 0);
		for (int i = 0; i < N; i++)
			CU_ASSERT_EQUAL(req[i].result, FERRY_EDUPLICATE);
	}
	CU_ASSERT_EQUAL(store_queue_stats(st, "q", &qs), 0);
	CU_ASSERT_EQUAL(qs.msgs, N);
	CU_ASSERT_EQUAL(qs.bytes, 4 * N);
}

/* The msgs lookup of an inline put is folded into its header's put, after
 * the quota checks: a duplicate must still be answered as a duplicate
 * (a retry is a no-op), not as over quota. */
static void
test_duplicate_answered_before_quota(void)
{
	struct store_queue_limits lim = {.max_msgs = 1};
	struct ferry_msg m, m2;

	FRESH();
	CU_ASSERT_EQUAL(store_queue_create(st, "one", &lim), 0);
	put_local(&m, "one", 3, "abc");
	CU_ASSERT_EQUAL(store_put(st, &m, "abc", 3), FERRY_EDUPLICATE);
	test_msg(&m2, "here", "one", 3);
	CU_ASSERT_EQUAL(store_put(st, &m2, "abc", 3), FERRY_EQUEUEQUOTA);
}

/* msgs.db of a new store has STORE_MSGS_PAGE_BYTES pages; a store whose
 * msgs.db was made with 8 KiB pages (before issue 15) keeps them, and
 * works: put, reopen, take, ack. */
static void
test_msgs_page_size_new_and_kept(void)
{
	DB_ENV *env = NULL;
	DB *db = NULL;
	struct ferry_msg m;
	struct store_msg_info info;
	uint64_t tok;
	uint32_t pg = 0;

	FRESH();
	CU_ASSERT_EQUAL(st->msgs->get_pagesize(st->msgs, &pg), 0);
	CU_ASSERT_EQUAL(pg, STORE_MSGS_PAGE_BYTES);

	teardown();
	clk.now_ms = TEST_CLOCK_START_MS;
	dir = test_tmpdir("store");
	CU_ASSERT_EQUAL_FATAL(db_env_create(&env, 0), 0);
	CU_ASSERT_EQUAL_FATAL(env->open(env, dir,
					DB_CREATE | DB_INIT_TXN | DB_INIT_LOG |
					    DB_INIT_LOCK | DB_INIT_MPOOL |
					    DB_PRIVATE,
					0600),
			      0);
	CU_ASSERT_EQUAL_FATAL(db_create(&db, env, 0), 0);
	CU_ASSERT_EQUAL_FATAL(db->set_pagesize(db, 8192), 0);
	CU_ASSERT_EQUAL_FATAL(db->open(db, NULL, "msgs.db", NULL, DB_BTREE,
				       DB_CREATE | DB_AUTO_COMMIT, 0600),
			      0);
	CU_ASSERT_EQUAL(db->close(db, 0), 0);
	CU_ASSERT_EQUAL(env->txn_checkpoint(env, 0, 0, DB_FORCE), 0);
	CU_ASSERT_EQUAL(env->close(env, 0), 0);

	st = test_store_open(&dir, &clk, NULL);
	CU_ASSERT_FATAL(st != NULL);
	CU_ASSERT_EQUAL(st->msgs->get_pagesize(st->msgs, &pg), 0);
	CU_ASSERT_EQUAL(pg, 8192);
	put_local(&m, "q", 3, "kept");
	store_close(st);
	st = test_store_open(&dir, &clk, NULL);
	CU_ASSERT_FATAL(st != NULL);
	CU_ASSERT_EQUAL(store_put(st, &m, "kept", 4), FERRY_EDUPLICATE);
	CU_ASSERT_EQUAL(store_take(st, "q", 1000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, m.id, FERRY_ID_LEN) == 0);
	CU_ASSERT_EQUAL(store_ack(st, m.id, tok), 0);
}

static void
test_seen_forgotten_after_retention(void)
{
	struct ferry_msg m;
	struct store_sweep_stats ss;
	struct store_opts o;

	teardown();
	store_opts_init(&o);
	o.seen_retention_ms = 60000;
	clk.now_ms = TEST_CLOCK_START_MS;
	st = test_store_open(&dir, &clk, &o);
	CU_ASSERT_FATAL(st != NULL);
	put_local(&m, "q", 3, "one");
	CU_ASSERT_EQUAL(store_ack(st, m.id, 0), 0);
	clk.now_ms += 59999;
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, &ss), 0);
	CU_ASSERT_EQUAL(ss.seen_pruned, 0);
	CU_ASSERT_EQUAL(store_put(st, &m, "one", 3), FERRY_EDUPLICATE);
	clk.now_ms += 1;
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, &ss), 0);
	CU_ASSERT_EQUAL(ss.seen_pruned, 1);
	CU_ASSERT_EQUAL(store_put(st, &m, "one", 3), 0);
}

static int dead_calls;

static void
count_dead(const struct store_msg_info *info, void *arg)
{
	(void)arg;
	CU_ASSERT_EQUAL(info->dead_reason, STORE_DEAD_EXPIRED);
	CU_ASSERT_STRING_EQUAL(info->queue, FERRY_DEAD_QUEUE);
	dead_calls++;
}

static void
test_expiry_moves_to_dead(void)
{
	struct ferry_msg a, b, c;
	struct store_msg_info info;
	struct store_sweep_stats ss;
	struct store_queue_stats qs;
	struct collect col;
	uint64_t tok;

	FRESH();
	test_msg(&a, "here", "q", 3);
	a.expires_ms = clk.now_ms + 1000;
	CU_ASSERT_EQUAL(store_put(st, &a, "a", 1), 0);
	test_msg(&b, "here", "q", 3);
	b.expires_ms = clk.now_ms + 5000;
	CU_ASSERT_EQUAL(store_put(st, &b, "b", 1), 0);
	test_msg(&c, "far", "q", 3); /* outbound expires too */
	c.expires_ms = clk.now_ms + 1000;
	CU_ASSERT_EQUAL(store_put(st, &c, "c", 1), 0);
	clk.now_ms += 1000;
	dead_calls = 0;
	CU_ASSERT_EQUAL(store_sweep(st, count_dead, NULL, &ss), 0);
	CU_ASSERT_EQUAL(ss.expired, 2);
	CU_ASSERT_EQUAL(dead_calls, 2);
	/* Logged once: a second sweep finds nothing new. */
	CU_ASSERT_EQUAL(store_sweep(st, count_dead, NULL, &ss), 0);
	CU_ASSERT_EQUAL(ss.expired, 0);
	CU_ASSERT_EQUAL(dead_calls, 2);
	CU_ASSERT_EQUAL(store_get(st, a.id, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.queue, "dead");
	CU_ASSERT_EQUAL(info.dead_reason, STORE_DEAD_EXPIRED);
	CU_ASSERT_EQUAL(info.dead_ms, clk.now_ms);
	CU_ASSERT_EQUAL(store_queue_stats(st, "dead", &qs), 0);
	CU_ASSERT_EQUAL(qs.msgs, 2);
	CU_ASSERT_EQUAL(store_queue_stats(st, "q", &qs), 0);
	CU_ASSERT_EQUAL(qs.msgs, 1);
	memset(&col, 0, sizeof(col));
	CU_ASSERT_EQUAL(store_out_browse(st, 0, collect_fn, &col), 0);
	CU_ASSERT_EQUAL(col.n, 0);
	/* Dead messages can be received from the dead queue, and do not
	 * expire again. */
	clk.now_ms += 100000;
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, &ss), 0);
	CU_ASSERT_EQUAL(ss.expired, 1); /* b */
	/* FIFO by dead-letter time: a and c (same sweep) before b. */
	CU_ASSERT_EQUAL(store_take(st, "dead", 1000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, b.id, 16) != 0);
	CU_ASSERT_EQUAL(store_take(st, "dead", 1000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, b.id, 16) != 0);
	CU_ASSERT_EQUAL(store_take(st, "dead", 1000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, b.id, 16) == 0);
}

static void
test_take_never_delivers_expired(void)
{
	struct ferry_msg a, b;
	struct store_msg_info info;
	struct collect col;
	uint64_t tok;

	FRESH();
	test_msg(&a, "here", "q", 7);
	a.expires_ms = clk.now_ms + 10;
	CU_ASSERT_EQUAL(store_put(st, &a, "a", 1), 0);
	put_local(&b, "q", 0, "b");
	clk.now_ms += 10;
	memset(&col, 0, sizeof(col));
	CU_ASSERT_EQUAL(store_browse(st, "q", 0, collect_fn, &col), 0);
	CU_ASSERT_EQUAL(col.n, 1);
	CU_ASSERT_EQUAL(store_take(st, "q", 1000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, b.id, 16) == 0);
	CU_ASSERT_EQUAL(store_get(st, a.id, &info), 0);
	CU_ASSERT_EQUAL(info.dead_reason, STORE_DEAD_EXPIRED);
}

static void
test_dead_letter_reason(void)
{
	struct ferry_msg a;
	struct store_msg_info info;

	FRESH();
	test_msg(&a, "nowhere", "q", 3);
	CU_ASSERT_EQUAL(store_put(st, &a, "a", 1), 0);
	CU_ASSERT_EQUAL(store_dead_letter(st, a.id, STORE_DEAD_NO_ROUTE), 0);
	CU_ASSERT_EQUAL(store_get(st, a.id, &info), 0);
	CU_ASSERT_EQUAL(info.state, STORE_QUEUED);
	CU_ASSERT_STRING_EQUAL(info.queue, "dead");
	CU_ASSERT_EQUAL(info.dead_reason, STORE_DEAD_NO_ROUTE);
	CU_ASSERT_STRING_EQUAL(store_dead_reason_name(info.dead_reason),
			       "no route");
	CU_ASSERT_EQUAL(store_dead_letter(st, a.id, STORE_DEAD_REJECTED),
			FERRY_ESTATE);
	CU_ASSERT_EQUAL(store_dead_letter(st, a.id, STORE_DEAD_NONE),
			FERRY_EINVAL);
}

/* store_counters: every commit timed once, into one bucket; dead letters
 * counted by reason once (not again when moved within dead), and only
 * what committed. */
static void
test_counters_commits_and_dead_letters(void)
{
	struct ferry_msg a, b;
	struct store_counters k;
	uint64_t sum = 0;

	FRESH();
	store_counters(st, &k);
	CU_ASSERT_EQUAL(k.commits, 0);
	CU_ASSERT_EQUAL(k.dead[STORE_DEAD_NO_ROUTE], 0);
	test_msg(&a, "nowhere", "q", 3);
	test_msg(&b, "nowhere", "q", 3);
	CU_ASSERT_EQUAL(store_put(st, &a, "a", 1), 0);
	CU_ASSERT_EQUAL(store_put(st, &b, "b", 1), 0);
	CU_ASSERT_EQUAL(store_dead_letter(st, a.id, STORE_DEAD_NO_ROUTE), 0);
	CU_ASSERT_EQUAL(store_dead_letter(st, a.id, STORE_DEAD_REJECTED),
			FERRY_ESTATE);
	CU_ASSERT_EQUAL(store_dead_letter(st, b.id, STORE_DEAD_TOO_LARGE), 0);
	store_counters(st, &k);
	CU_ASSERT(k.commits >= 4);
	for (size_t i = 0; i <= STORE_COMMIT_BUCKETS; i++)
		sum += k.commit_bucket[i];
	CU_ASSERT_EQUAL(sum, k.commits);
	CU_ASSERT_EQUAL(k.dead[STORE_DEAD_NO_ROUTE], 1);
	CU_ASSERT_EQUAL(k.dead[STORE_DEAD_TOO_LARGE], 1);
	CU_ASSERT_EQUAL(k.dead[STORE_DEAD_REJECTED], 0);
	for (size_t i = 1; i < STORE_COMMIT_BUCKETS; i++)
		CU_ASSERT(store_commit_bound_us[i] >
			  store_commit_bound_us[i - 1]);
}

static void
test_queue_quotas(void)
{
	struct store_queue_limits lim = {.max_bytes = 10, .max_msgs = 3};
	struct ferry_msg m[5];
	struct store_queue_stats qs;

	FRESH();
	CU_ASSERT_EQUAL(store_queue_create(st, "small", &lim), 0);
	test_msg(&m[0], "here", "small", 3);
	CU_ASSERT_EQUAL(store_put(st, &m[0], "123456", 6), 0);
	test_msg(&m[1], "here", "small", 3);
	CU_ASSERT_EQUAL(store_put(st, &m[1], "12345", 5), FERRY_EQUEUEQUOTA);
	CU_ASSERT_EQUAL(store_put(st, &m[1], "1234", 4), 0);
	test_msg(&m[2], "here", "small", 3);
	CU_ASSERT_EQUAL(store_put(st, &m[2], "", 0), 0);
	test_msg(&m[3], "here", "small", 3);
	CU_ASSERT_EQUAL(store_put(st, &m[3], "", 0), FERRY_EQUEUEQUOTA);
	CU_ASSERT_EQUAL(store_queue_stats(st, "small", &qs), 0);
	CU_ASSERT_EQUAL(qs.msgs, 3);
	CU_ASSERT_EQUAL(qs.bytes, 10);
	CU_ASSERT_EQUAL(qs.max_bytes, 10);
	/* Refused messages were not remembered: they may come again. */
	CU_ASSERT_EQUAL(store_ack(st, m[0].id, 0), 0);
	CU_ASSERT_EQUAL(store_put(st, &m[3], "", 0), 0);
	/* Other queues are not limited. */
	test_msg(&m[4], "here", "big", 3);
	CU_ASSERT_EQUAL(store_put(st, &m[4], "0123456789abc", 13), 0);
}

static void
test_store_quota(void)
{
	struct store_opts o;
	struct ferry_msg a, b, c;
	static char big[600];

	teardown();
	store_opts_init(&o);
	o.quota_bytes = 1000;
	st = test_store_open(&dir, &clk, &o);
	CU_ASSERT_FATAL(st != NULL);
	test_msg(&a, "here", "q", 3);
	CU_ASSERT_EQUAL(store_put(st, &a, big, 600), 0);
	test_msg(&b, "far", "q", 3);
	CU_ASSERT_EQUAL(store_put(st, &b, big, 600), FERRY_EQUOTA);
	CU_ASSERT_EQUAL(store_put(st, &b, big, 400), 0);
	test_msg(&c, "here", "q2", 3);
	CU_ASSERT_EQUAL(store_put(st, &c, big, 1), FERRY_EQUOTA);
	CU_ASSERT_STRING_EQUAL(ferry_strerror(FERRY_EQUOTA),
			       "store quota exceeded");
	/* What is stored is intact. */
	CU_ASSERT(store_ack(st, a.id, 0) == 0);
	CU_ASSERT_EQUAL(store_put(st, &c, big, 1), 0);
}

static void
test_purge_removes_all(void)
{
	struct ferry_msg m;
	struct store_msg_info info;
	struct store_queue_stats qs;
	struct store_stats ss;
	uint64_t tok, n = 0;

	FRESH();
	for (int i = 0; i < 5000; i++) {
		test_msg(&m, "here", "bulk", i % 8);
		CU_ASSERT_EQUAL_FATAL(store_put(st, &m, "xyz", 3), 0);
	}
	put_local(&m, "other", 3, "keep");
	CU_ASSERT_EQUAL(store_take(st, "bulk", 10000, &info, &tok), 0);
	CU_ASSERT_EQUAL(store_queue_purge(st, "bulk", &n), 0);
	CU_ASSERT_EQUAL(n, 5000);
	CU_ASSERT_EQUAL(store_queue_stats(st, "bulk", &qs), 0);
	CU_ASSERT_EQUAL(qs.msgs, 0);
	CU_ASSERT_EQUAL(qs.leased, 0);
	CU_ASSERT_EQUAL(qs.bytes, 0);
	CU_ASSERT_EQUAL(store_take(st, "bulk", 1000, &info, &tok),
			FERRY_EEMPTY);
	CU_ASSERT_EQUAL(store_stats(st, &ss), 0);
	CU_ASSERT_EQUAL(ss.msgs, 1);
	CU_ASSERT_EQUAL(store_take(st, "other", 1000, &info, &tok), 0);
}

static int
list_fn(const struct store_queue_stats *s, void *arg)
{
	int *seen = arg;

	if (strcmp(s->name, "a") == 0 && s->msgs == 2)
		seen[0]++;
	if (strcmp(s->name, "b/c") == 0 && s->msgs == 1 && s->bytes == 3)
		seen[1]++;
	return 0;
}

static void
test_queue_list_and_stats(void)
{
	struct ferry_msg m;
	int seen[2] = {0, 0};
	struct store_queue_stats qs;

	FRESH();
	put_local(&m, "a", 3, "1");
	put_local(&m, "a", 3, "2");
	put_local(&m, "b/c", 3, "333");
	CU_ASSERT_EQUAL(store_queue_list(st, list_fn, seen), 0);
	CU_ASSERT_EQUAL(seen[0], 1);
	CU_ASSERT_EQUAL(seen[1], 1);
	CU_ASSERT_EQUAL(store_queue_stats(st, "nope", &qs), FERRY_ENOTFOUND);
	CU_ASSERT_EQUAL(store_queue_stats(st, "../x", &qs), FERRY_EINVAL);
}

static void
test_invalid_messages_refused(void)
{
	struct ferry_msg m;

	FRESH();
	test_msg(&m, "here", "q", 3);
	m.priority = 8;
	CU_ASSERT_EQUAL(store_put(st, &m, "x", 1), FERRY_EINVAL);
	test_msg(&m, "here", "bad queue", 3);
	CU_ASSERT_EQUAL(store_put(st, &m, "x", 1), FERRY_EINVAL);
	test_msg(&m, "Bad-Node", "q", 3);
	CU_ASSERT_EQUAL(store_put(st, &m, "x", 1), FERRY_EINVAL);
	test_msg(&m, "here", "q", 3);
	CU_ASSERT_EQUAL(store_put(st, &m, NULL, 1), FERRY_EINVAL);
	m.flags = 0x80;
	CU_ASSERT_EQUAL(store_put(st, &m, "x", 1), FERRY_EINVAL);
}

static void
test_batch_per_item_results(void)
{
	struct ferry_msg m[4];
	struct store_put_req reqs[4] = {{0}};
	struct store_queue_stats qs;

	FRESH();
	for (int i = 0; i < 4; i++) {
		test_msg(&m[i], "here", "q", 3);
		reqs[i].msg = &m[i];
		reqs[i].payload = "abc";
		reqs[i].len = 3;
	}
	m[2] = m[0];	   /* a duplicate inside the batch */
	m[3].priority = 9; /* invalid */
	CU_ASSERT_EQUAL(store_put_batch(st, reqs, 4), 0);
	CU_ASSERT_EQUAL(reqs[0].result, 0);
	CU_ASSERT_EQUAL(reqs[1].result, 0);
	CU_ASSERT_EQUAL(reqs[2].result, FERRY_EDUPLICATE);
	CU_ASSERT_EQUAL(reqs[3].result, FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_queue_stats(st, "q", &qs), 0);
	CU_ASSERT_EQUAL(qs.msgs, 2);
}

static void
test_outbound_claim_progress_custody(void)
{
	struct ferry_msg bulk, urgent, mine;
	struct collect col;
	struct store_msg_info info;
	struct store_status s;
	struct store_stats ss;

	FRESH();
	test_msg(&bulk, "base", "reports", 0);
	CU_ASSERT_EQUAL(store_put(st, &bulk, "bulk", 4), 0);
	test_msg(&urgent, "base", "alerts", 7);
	CU_ASSERT_EQUAL(store_put(st, &urgent, "urgent", 6), 0);
	put_local(&mine, "q", 3, "local");
	memset(&col, 0, sizeof(col));
	CU_ASSERT_EQUAL(store_out_browse(st, 0, collect_fn, &col), 0);
	CU_ASSERT_EQUAL_FATAL(col.n, 2);
	CU_ASSERT(memcmp(col.infos[0].msg.id, urgent.id, 16) == 0);
	CU_ASSERT(memcmp(col.infos[1].msg.id, bulk.id, 16) == 0);
	CU_ASSERT_EQUAL(col.infos[0].state, STORE_OUTBOUND);
	CU_ASSERT_EQUAL(store_stats(st, &ss), 0);
	CU_ASSERT_EQUAL(ss.outbound_msgs, 2);
	CU_ASSERT_EQUAL(ss.outbound_bytes, 10);
	CU_ASSERT_EQUAL(ss.msgs, 3);
	/* Applications cannot take or ack outbound messages. */
	CU_ASSERT_EQUAL(store_ack(st, bulk.id, 0), FERRY_ESTATE);

	CU_ASSERT_EQUAL(store_out_claim(st, bulk.id, "base"), 0);
	CU_ASSERT_EQUAL(store_out_claim(st, bulk.id, "relay"), FERRY_ESTATE);
	CU_ASSERT_EQUAL(store_out_progress(st, bulk.id, 3), 0);
	CU_ASSERT_EQUAL(store_out_progress(st, bulk.id, 5), FERRY_EINVAL);
	CU_ASSERT_EQUAL(store_get(st, bulk.id, &info), 0);
	CU_ASSERT_EQUAL(info.state, STORE_INFLIGHT);
	CU_ASSERT_STRING_EQUAL(info.hop_peer, "base");
	CU_ASSERT_EQUAL(info.hop_since_ms, clk.now_ms);
	CU_ASSERT_EQUAL(info.hop_offset, 3);
	CU_ASSERT_EQUAL(store_out_release(st, bulk.id), 0);
	CU_ASSERT_EQUAL(store_get(st, bulk.id, &info), 0);
	CU_ASSERT_EQUAL(info.state, STORE_OUTBOUND);
	CU_ASSERT_EQUAL(info.hop_offset, 3); /* kept for resume */
	/* Neither its destination nor the hop it is in flight to. */
	CU_ASSERT_EQUAL(store_out_custody(st, bulk.id, "mallory"),
			FERRY_ESTATE);
	CU_ASSERT_EQUAL(store_out_claim(st, bulk.id, "relay"), 0);
	clk.now_ms += 42;
	CU_ASSERT_EQUAL(store_out_custody(st, bulk.id, "relay"), 0);
	CU_ASSERT_EQUAL(store_status(st, bulk.id, &s), 0);
	CU_ASSERT_EQUAL(s.kind, STORE_ST_HANDED);
	CU_ASSERT_STRING_EQUAL(s.peer, "relay");
	CU_ASSERT_EQUAL(s.at_ms, clk.now_ms);
	CU_ASSERT_EQUAL(store_put(st, &bulk, "bulk", 4), FERRY_EDUPLICATE);
	CU_ASSERT_EQUAL(store_out_claim(st, mine.id, "base"), FERRY_ESTATE);
	CU_ASSERT_EQUAL(store_stats(st, &ss), 0);
	CU_ASSERT_EQUAL(ss.outbound_msgs, 1);
}

static void
test_reopen_keeps_order_and_counters(void)
{
	struct ferry_msg m[20];
	struct store_msg_info info;
	struct store_queue_stats qs;
	uint64_t tok;

	FRESH();
	for (int i = 0; i < 20; i++)
		put_local(&m[i], "q", i % 2 ? 7 : 1, "payload");
	store_close(st);
	st = test_store_open(&dir, &clk, NULL);
	CU_ASSERT_FATAL(st != NULL);
	CU_ASSERT_EQUAL(store_queue_stats(st, "q", &qs), 0);
	CU_ASSERT_EQUAL(qs.msgs, 20);
	CU_ASSERT_EQUAL(qs.bytes, 140);
	for (int i = 0; i < 20; i++) {
		int want = i < 10 ? 2 * i + 1 : 2 * (i - 10);
		CU_ASSERT_EQUAL_FATAL(store_take(st, "q", 1000, &info, &tok),
				      0);
		CU_ASSERT(memcmp(info.msg.id, m[want].id, 16) == 0);
	}
}

uint32_t __ham_func4(DB *dbp, const void *key, uint32_t len);

/* The log checksum ferry puts in place of Berkeley DB's (store/logsum.c)
 * is in use, and gives the library's sums: random lengths up to 70,000
 * bytes at every alignment, against the library's own function.  A
 * different sum would make recovery refuse the log. */
static void
test_log_checksum_is_the_librarys(void)
{
	typedef uint32_t (*sum_fn)(DB *, const void *, uint32_t);
	void *sym = dlsym(RTLD_NEXT, "__ham_func4");
	sum_fn lib;
	enum { MAX = 70000 };
	uint8_t *buf = malloc(MAX + 64);
	uint32_t len[2000];

	FRESH(); /* libdb loaded, the check made */
	CU_ASSERT_FATAL(buf != NULL);
	/* On Debian, libdb is a shared library: the check must pass. */
	CU_ASSERT_EQUAL(store_logsum_check(), 1);
	CU_ASSERT_FATAL(sym != NULL);
	memcpy(&lib, &sym, sizeof(lib));
	CU_ASSERT_FATAL(getrandom(buf, MAX + 64, 0) == MAX + 64);
	CU_ASSERT_FATAL(getrandom(len, sizeof(len), 0) == sizeof(len));
	for (size_t i = 0; i < 2000; i++) {
		uint32_t n = i < 300 ? (uint32_t)i : len[i] % MAX;
		const uint8_t *p = buf + i % 64;
		if (__ham_func4(NULL, p, n) != lib(NULL, p, n)) {
			CU_FAIL("a log checksum differs from the library's");
			break;
		}
	}
	free(buf);
}

static void
test_second_open_is_busy(void)
{
	struct store *other = NULL;
	struct store_opts o;

	FRESH();
	store_opts_init(&o);
	o.node_name = "here";
	CU_ASSERT_EQUAL(store_open(dir, &o, &other), FERRY_EBUSY);
	CU_ASSERT_PTR_NULL(other);
	CU_ASSERT(strstr(store_last_error(), "in use") != NULL);
}

static void
test_transient_message_accepted(void)
{
	struct ferry_msg m;
	struct store_msg_info info;

	FRESH();
	test_msg(&m, "here", "q", 3);
	m.flags = FERRY_MSG_TRANSIENT;
	CU_ASSERT_EQUAL(store_put(st, &m, "t", 1), 0);
	CU_ASSERT_EQUAL(store_get(st, m.id, &info), 0);
	CU_ASSERT_EQUAL(info.msg.flags, FERRY_MSG_TRANSIENT);
}

/* store_out_scan walks one destination's messages in forwarding order,
 * resumes after its position, and can be moved back for an urgent one. */
static void
test_out_scan_by_destination(void)
{
	struct ferry_msg m[6];
	static const char *dst[6] = {"base",  "relay", "base",
				     "relay", "base",  "base"};
	static const int prio[6] = {3, 7, 0, 3, 7, 3};
	struct store_out_pos pos = {{0}, 0, 0};
	struct collect col;
	struct ferry_msg late;

	FRESH();
	for (int i = 0; i < 6; i++) {
		test_msg(&m[i], dst[i], "q", prio[i]);
		CU_ASSERT_EQUAL_FATAL(store_put(st, &m[i], "x", 1), 0);
	}
	memset(&col, 0, sizeof(col));
	CU_ASSERT_EQUAL(store_out_scan(st, "base", &pos, 2, collect_fn, &col),
			0);
	CU_ASSERT_EQUAL_FATAL(col.n, 2);			  /* limit */
	CU_ASSERT(memcmp(col.infos[0].msg.id, m[4].id, 16) == 0); /* 7 */
	CU_ASSERT(memcmp(col.infos[1].msg.id, m[0].id, 16) == 0); /* 3, old */
	memset(&col, 0, sizeof(col));
	CU_ASSERT_EQUAL(store_out_scan(st, "base", &pos, 0, collect_fn, &col),
			0);
	CU_ASSERT_EQUAL_FATAL(col.n, 2); /* from where it stopped */
	CU_ASSERT(memcmp(col.infos[0].msg.id, m[5].id, 16) == 0);
	CU_ASSERT(memcmp(col.infos[1].msg.id, m[2].id, 16) == 0); /* 0 */
	memset(&col, 0, sizeof(col));
	CU_ASSERT_EQUAL(store_out_scan(st, "base", &pos, 0, collect_fn, &col),
			0);
	CU_ASSERT_EQUAL(col.n, 0); /* at the end; nothing of relay's */
	/* A new urgent message sorts before the position. */
	CU_ASSERT(store_out_pos_behind(&pos, "base", 7));
	CU_ASSERT(!store_out_pos_behind(&pos, "base", 0));
	test_msg(&late, "base", "q", 7);
	CU_ASSERT_EQUAL_FATAL(store_put(st, &late, "y", 1), 0);
	store_out_pos_priority(&pos, "base", 7);
	memset(&col, 0, sizeof(col));
	CU_ASSERT_EQUAL(store_out_scan(st, "base", &pos, 0, collect_fn, &col),
			0);
	CU_ASSERT_EQUAL_FATAL(col.n, 5);
	CU_ASSERT(memcmp(col.infos[1].msg.id, late.id, 16) == 0);
	memset(&col, 0, sizeof(col));
	pos.len = 0;
	CU_ASSERT_EQUAL(store_out_scan(st, "relay", &pos, 0, collect_fn, &col),
			0);
	CU_ASSERT_EQUAL_FATAL(col.n, 2);
	CU_ASSERT(memcmp(col.infos[0].msg.id, m[1].id, 16) == 0);
	/* Custody takes it out of the destination's walk too. */
	CU_ASSERT_EQUAL(store_out_custody(st, m[1].id, "relay"), 0);
	memset(&col, 0, sizeof(col));
	pos.len = 0;
	CU_ASSERT_EQUAL(store_out_scan(st, "relay", &pos, 0, collect_fn, &col),
			0);
	CU_ASSERT_EQUAL(col.n, 1);
	CU_ASSERT_EQUAL(
	    store_out_scan(st, "Bad Node", &pos, 0, collect_fn, &col),
	    FERRY_EINVAL);
}

/* Find the one outbound receipt for orig (correlation = its hex). */
struct rcpt_find {
	char hex[FERRY_ID_HEX_LEN + 1];
	struct store_msg_info info;
	int n;
};

static int
rcpt_find_fn(const struct store_msg_info *i, void *arg)
{
	struct rcpt_find *f = arg;

	if (strcmp(i->msg.dst_queue, FERRY_RECEIPT_QUEUE) == 0 &&
	    strcmp(i->msg.correlation, f->hex) == 0) {
		f->info = *i;
		f->n++;
	}
	return 0;
}

static size_t
read_payload(const uint8_t *id, char *buf, size_t cap)
{
	struct store_reader *r;
	size_t n = 0;

	CU_ASSERT_EQUAL_FATAL(store_reader_open(st, id, &r), 0);
	CU_ASSERT_EQUAL(store_reader_read(r, buf, cap - 1, &n), 0);
	buf[n] = '\0';
	store_reader_close(r);
	return n;
}

/* A message from "far" with FERRY_MSG_RECEIPT: entering the queue and the
 * ack each queue a receipt for far in the same transaction; a receipt for
 * a message of ours is absorbed into its status, once. */
static void
test_receipts_made_and_absorbed(void)
{
	struct ferry_msg m, out, rc;
	struct store_status ss;
	struct store_msg_info info;
	struct rcpt_find f;
	char line[256];
	uint64_t tok;
	int len;

	FRESH();
	test_msg(&m, "here", "in", 3);
	snprintf(m.src_node, sizeof(m.src_node), "far");
	m.flags = FERRY_MSG_RECEIPT;
	CU_ASSERT_EQUAL_FATAL(store_put(st, &m, "x", 1), 0);
	memset(&f, 0, sizeof(f));
	ferry_id_to_hex(m.id, f.hex);
	CU_ASSERT_EQUAL(store_out_browse(st, 0, rcpt_find_fn, &f), 0);
	CU_ASSERT_EQUAL_FATAL(f.n, 1);
	CU_ASSERT_STRING_EQUAL(f.info.msg.dst_node, "far");
	CU_ASSERT_STRING_EQUAL(f.info.msg.src_node, "here");
	CU_ASSERT_EQUAL(f.info.msg.priority, 6);
	CU_ASSERT(f.info.msg.expires_ms > clk.now_ms);
	read_payload(f.info.msg.id, line, sizeof(line));
	CU_ASSERT(strncmp(line, "ferry-receipt/1 queued ", 23) == 0);
	CU_ASSERT(strstr(line, f.hex) != NULL);

	CU_ASSERT_EQUAL_FATAL(store_take(st, "in", 1000, &info, &tok), 0);
	CU_ASSERT_EQUAL_FATAL(store_ack(st, m.id, tok), 0);
	memset(&f, 0, sizeof(f));
	ferry_id_to_hex(m.id, f.hex);
	CU_ASSERT_EQUAL(store_out_browse(st, 0, rcpt_find_fn, &f), 0);
	CU_ASSERT_EQUAL(f.n, 2); /* queued, acked */
	CU_ASSERT_EQUAL(store_queue_stats(st, FERRY_RECEIPT_QUEUE,
					  &(struct store_queue_stats){0}),
			FERRY_ENOTFOUND);

	/* Our own message, handed to far; far's receipts come back. */
	test_msg(&out, "far", "in", 3);
	out.flags = FERRY_MSG_RECEIPT;
	CU_ASSERT_EQUAL_FATAL(store_put(st, &out, "y", 1), 0);
	CU_ASSERT_EQUAL_FATAL(store_out_claim(st, out.id, "far"), 0);
	CU_ASSERT_EQUAL_FATAL(store_out_custody(st, out.id, "far"), 0);
	ferry_id_to_hex(out.id, f.hex);
	test_msg(&rc, "here", FERRY_RECEIPT_QUEUE, 6);
	snprintf(rc.src_node, sizeof(rc.src_node), "far");
	len = snprintf(line, sizeof(line),
		       "ferry-receipt/1 queued %s far 1700000000123\n", f.hex);
	CU_ASSERT_EQUAL_FATAL(store_put(st, &rc, line, (size_t)len), 0);
	CU_ASSERT_EQUAL(store_put(st, &rc, line, (size_t)len),
			FERRY_EDUPLICATE); /* sent twice: once */
	CU_ASSERT_EQUAL_FATAL(store_status(st, out.id, &ss), 0);
	CU_ASSERT_EQUAL(ss.kind, STORE_ST_HANDED);
	CU_ASSERT_EQUAL_FATAL(ss.nreceipts, 1);
	CU_ASSERT_EQUAL(ss.receipts[0].event, STORE_RCPT_QUEUED);
	CU_ASSERT_STRING_EQUAL(ss.receipts[0].node, "far");
	CU_ASSERT_EQUAL(ss.receipts[0].at_ms, 1700000000123LL);
	/* The same event again under another receipt id: still one. */
	test_msg(&rc, "here", FERRY_RECEIPT_QUEUE, 6);
	CU_ASSERT_EQUAL(store_put(st, &rc, line, (size_t)len), 0);
	CU_ASSERT_EQUAL_FATAL(store_status(st, out.id, &ss), 0);
	CU_ASSERT_EQUAL(ss.nreceipts, 1);

	/* A receipt for an id this store never knew is dropped; garbage is
	 * dropped too; neither is queued anywhere. */
	test_msg(&rc, "here", FERRY_RECEIPT_QUEUE, 6);
	len = snprintf(line, sizeof(line),
		       "ferry-receipt/1 acked 00112233445566778899aabbccddeeff "
		       "far 1\n");
	CU_ASSERT_EQUAL(store_put(st, &rc, line, (size_t)len), 0);
	CU_ASSERT_EQUAL(
	    store_status(st,
			 (const uint8_t *)"\x00\x11\x22\x33"
					  "\x44\x55\x66\x77\x88\x99\xaa"
					  "\xbb\xcc\xdd\xee\xff",
			 &ss),
	    0);
	CU_ASSERT_EQUAL(ss.nreceipts, 0);
	test_msg(&rc, "here", FERRY_RECEIPT_QUEUE, 6);
	CU_ASSERT_EQUAL(store_put(st, &rc, "garbage", 7), 0);
	CU_ASSERT_EQUAL(store_queue_stats(st, FERRY_RECEIPT_QUEUE,
					  &(struct store_queue_stats){0}),
			FERRY_ENOTFOUND);
}

/* A group message waiting to be split (agent/split.c): destination
 * STORE_SPLIT_DST, a route naming its group, its members and the id its
 * source gave it (its own, at the source). */
static void
put_group(struct ferry_msg *m, struct store_route *rt, const char *group,
	  const char *members)
{
	struct store_put_req req;

	test_msg(m, STORE_SPLIT_DST, "alerts/in", 5);
	m->flags = FERRY_MSG_RECEIPT;
	memset(rt, 0, sizeof(*rt));
	snprintf(rt->group, sizeof(rt->group), "%s", group);
	memcpy(rt->group_id, m->id, FERRY_ID_LEN);
	snprintf(rt->members, sizeof(rt->members), "%s", members);
	memset(&req, 0, sizeof(req));
	req.msg = m;
	req.payload = "alert";
	req.len = 5;
	req.route = rt;
	CU_ASSERT_EQUAL_FATAL(store_put_batch(st, &req, 1), 0);
	CU_ASSERT_EQUAL_FATAL(req.result, 0);
}

/* A receipt line from node for id, as it comes to ferry.receipts. */
static void
put_receipt(const char *node, const char *event, const uint8_t *id)
{
	struct ferry_msg rc;
	char hex[FERRY_ID_HEX_LEN + 1], line[256];
	int len;

	ferry_id_to_hex(id, hex);
	test_msg(&rc, "here", FERRY_RECEIPT_QUEUE, 6);
	snprintf(rc.src_node, sizeof(rc.src_node), "%s", node);
	len = snprintf(line, sizeof(line), "ferry-receipt/1 %s %s %s %lld\n",
		       event, hex, node, (long long)clk.now_ms);
	CU_ASSERT_EQUAL_FATAL(store_put(st, &rc, line, (size_t)len), 0);
}

/* Outbound, in no local queue, found under "@"; store_out_split removes
 * it, remembered as handed to "@GROUP"; only such a message splits. */
static void
test_group_split(void)
{
	struct ferry_msg g, plain, copy, lone;
	struct store_route rt;
	struct store_msg_info info;
	struct store_out_pos pos;
	struct store_status ss;
	struct store_stats sst;
	struct collect col;

	FRESH();
	put_group(&g, &rt, "alerts", "base,m1");
	CU_ASSERT_EQUAL_FATAL(store_get(st, g.id, &info), 0);
	CU_ASSERT_EQUAL(info.state, STORE_OUTBOUND);
	CU_ASSERT_STRING_EQUAL(info.queue, "");
	CU_ASSERT_STRING_EQUAL(info.msg.dst_node, STORE_SPLIT_DST);
	CU_ASSERT_STRING_EQUAL(info.route.group, "alerts");
	CU_ASSERT_STRING_EQUAL(info.route.members, "base,m1");
	CU_ASSERT(memcmp(info.route.group_id, g.id, FERRY_ID_LEN) == 0);
	CU_ASSERT_EQUAL(
	    store_queue_stats(st, "alerts/in", &(struct store_queue_stats){0}),
	    FERRY_ENOTFOUND);
	memset(&pos, 0, sizeof(pos));
	memset(&col, 0, sizeof(col));
	CU_ASSERT_EQUAL(
	    store_out_scan(st, STORE_SPLIT_DST, &pos, 0, collect_fn, &col), 0);
	CU_ASSERT_EQUAL_FATAL(col.n, 1);
	CU_ASSERT(memcmp(col.infos[0].msg.id, g.id, FERRY_ID_LEN) == 0);

	/* Ordinary outbound messages are not split: not one for a node,
	 * nor one for "@" without a group (nothing to name it by). */
	test_msg(&plain, "base", "q", 3);
	CU_ASSERT_EQUAL_FATAL(store_put(st, &plain, "p", 1), 0);
	CU_ASSERT_EQUAL(store_out_split(st, plain.id), FERRY_ESTATE);
	CU_ASSERT_EQUAL(store_get(st, plain.id, &info), 0);
	CU_ASSERT_EQUAL(info.state, STORE_OUTBOUND);
	/* A group's copy for base is an ordinary message too. */
	test_msg(&copy, "base", "alerts/in", 5);
	{
		struct store_route crt = rt;
		struct store_put_req req = {&copy, "c", 1, 0, &crt, 0};
		CU_ASSERT_EQUAL_FATAL(store_put_batch(st, &req, 1), 0);
		CU_ASSERT_EQUAL_FATAL(req.result, 0);
	}
	CU_ASSERT_EQUAL(store_out_split(st, copy.id), FERRY_ESTATE);
	CU_ASSERT_EQUAL(store_get(st, copy.id, &info), 0);
	test_msg(&lone, STORE_SPLIT_DST, "q", 3);
	CU_ASSERT_EQUAL_FATAL(store_put(st, &lone, "l", 1), 0);
	CU_ASSERT_EQUAL(store_out_split(st, lone.id), FERRY_ESTATE);
	CU_ASSERT_EQUAL(store_get(st, lone.id, &info), 0);
	/* Nor one whose group would not fit "@NAME": a hop and ferry.conf
	 * refuse such names (62 bytes at most), else it would wait for
	 * ever. */
	{
		struct ferry_msg big;
		struct store_route brt;
		char name[FERRY_NODE_MAX + 1];
		memset(name, 'g', FERRY_NODE_MAX);
		name[FERRY_NODE_MAX] = '\0';
		put_group(&big, &brt, name, "base,m1");
		CU_ASSERT_EQUAL(store_out_split(st, big.id), FERRY_ESTATE);
		CU_ASSERT_EQUAL(store_get(st, big.id, &info), 0);
	}

	clk.now_ms += 7;
	CU_ASSERT_EQUAL_FATAL(store_out_split(st, g.id), 0);
	CU_ASSERT_EQUAL(store_get(st, g.id, &info), FERRY_ENOTFOUND);
	CU_ASSERT_EQUAL_FATAL(store_status(st, g.id, &ss), 0);
	CU_ASSERT_EQUAL(ss.kind, STORE_ST_HANDED);
	CU_ASSERT_STRING_EQUAL(ss.peer, "@alerts");
	CU_ASSERT_EQUAL(ss.at_ms, clk.now_ms);
	/* Split once: again it is gone (the splitter takes that as done). */
	CU_ASSERT_EQUAL(store_out_split(st, g.id), FERRY_ENOTFOUND);
	CU_ASSERT_EQUAL(store_put(st, &g, "alert", 5), FERRY_EDUPLICATE);
	CU_ASSERT_EQUAL(store_stats(st, &sst), 0);
	CU_ASSERT_EQUAL(sst.outbound_msgs, 4); /* plain, copy, lone, big */
	memset(&pos, 0, sizeof(pos));
	memset(&col, 0, sizeof(col));
	CU_ASSERT_EQUAL(
	    store_out_scan(st, STORE_SPLIT_DST, &pos, 0, collect_fn, &col), 0);
	CU_ASSERT_EQUAL(col.n, 2); /* lone and big */
}

/* Any member reports on a group message split here (it had a copy, and
 * receipts of a copy name the group id); nobody reports on an id this
 * store never knew, and only its destination on an ordinary message. */
static void
test_group_split_receipts(void)
{
	struct ferry_msg g, plain;
	struct store_route rt;
	struct store_status ss;
	const uint8_t unknown[FERRY_ID_LEN] = {0x5a, 1, 2, 3};

	FRESH();
	put_group(&g, &rt, "alerts", "base,m1");
	/* Before the split too: its members are not known yet. */
	put_receipt("m1", "custody", g.id);
	CU_ASSERT_EQUAL_FATAL(store_status(st, g.id, &ss), 0);
	CU_ASSERT_EQUAL(ss.kind, STORE_ST_PRESENT);
	CU_ASSERT_EQUAL(ss.nreceipts, 1);
	CU_ASSERT_EQUAL_FATAL(store_out_split(st, g.id), 0);

	clk.now_ms += 5;
	put_receipt("m1", "queued", g.id);
	clk.now_ms += 5;
	put_receipt("base", "acked", g.id);
	CU_ASSERT_EQUAL_FATAL(store_status(st, g.id, &ss), 0);
	CU_ASSERT_EQUAL(ss.kind, STORE_ST_HANDED);
	CU_ASSERT_EQUAL_FATAL(ss.nreceipts, 3);
	CU_ASSERT_EQUAL(ss.receipts[1].event, STORE_RCPT_QUEUED);
	CU_ASSERT_STRING_EQUAL(ss.receipts[1].node, "m1");
	CU_ASSERT_EQUAL(ss.receipts[1].at_ms, clk.now_ms - 5);
	CU_ASSERT_EQUAL(ss.receipts[2].event, STORE_RCPT_ACKED);
	CU_ASSERT_STRING_EQUAL(ss.receipts[2].node, "base");

	/* An id nobody sent: m1's report is dropped. */
	put_receipt("m1", "queued", unknown);
	CU_ASSERT_EQUAL_FATAL(store_status(st, unknown, &ss), 0);
	CU_ASSERT_EQUAL(ss.kind, STORE_ST_UNKNOWN);
	CU_ASSERT_EQUAL(ss.nreceipts, 0);
	/* An ordinary message for base: m1 may not report on it. */
	test_msg(&plain, "base", "q", 3);
	plain.flags = FERRY_MSG_RECEIPT;
	CU_ASSERT_EQUAL_FATAL(store_put(st, &plain, "p", 1), 0);
	put_receipt("m1", "queued", plain.id);
	CU_ASSERT_EQUAL_FATAL(store_status(st, plain.id, &ss), 0);
	CU_ASSERT_EQUAL(ss.kind, STORE_ST_PRESENT);
	CU_ASSERT_EQUAL(ss.nreceipts, 0);
	/* ... nor once it was handed to base. */
	CU_ASSERT_EQUAL_FATAL(store_out_claim(st, plain.id, "base"), 0);
	CU_ASSERT_EQUAL_FATAL(store_out_custody(st, plain.id, "base"), 0);
	put_receipt("m1", "acked", plain.id);
	CU_ASSERT_EQUAL_FATAL(store_status(st, plain.id, &ss), 0);
	CU_ASSERT_EQUAL(ss.kind, STORE_ST_HANDED);
	CU_ASSERT_EQUAL(ss.nreceipts, 0);
	put_receipt("base", "acked", plain.id);
	CU_ASSERT_EQUAL_FATAL(store_status(st, plain.id, &ss), 0);
	CU_ASSERT_EQUAL(ss.nreceipts, 1);
}

/* A group copy for this node reports, to its source, on the id the
 * source gave the group message, not on the copy's own id. */
static void
test_group_copy_receipt_names_group_id(void)
{
	struct ferry_msg c;
	struct store_route rt;
	struct store_put_req req;
	struct rcpt_find f;
	char line[256];

	FRESH();
	test_msg(&c, "here", "alerts/in", 5);
	snprintf(c.src_node, sizeof(c.src_node), "far");
	c.flags = FERRY_MSG_RECEIPT;
	memset(&rt, 0, sizeof(rt));
	snprintf(rt.path, sizeof(rt.path), "far");
	snprintf(rt.group, sizeof(rt.group), "alerts");
	memset(rt.group_id, 0x3c, FERRY_ID_LEN);
	memset(&req, 0, sizeof(req));
	req.msg = &c;
	req.payload = "alert";
	req.len = 5;
	req.route = &rt;
	CU_ASSERT_EQUAL_FATAL(store_put_batch(st, &req, 1), 0);
	CU_ASSERT_EQUAL_FATAL(req.result, 0);
	memset(&f, 0, sizeof(f));
	ferry_id_to_hex(rt.group_id, f.hex);
	CU_ASSERT_EQUAL(store_out_browse(st, 0, rcpt_find_fn, &f), 0);
	CU_ASSERT_EQUAL_FATAL(f.n, 1);
	CU_ASSERT_STRING_EQUAL(f.info.msg.dst_node, "far");
	read_payload(f.info.msg.id, line, sizeof(line));
	CU_ASSERT(strncmp(line, "ferry-receipt/1 queued ", 23) == 0);
	CU_ASSERT(strstr(line, f.hex) != NULL);
	/* None names the copy's id. */
	memset(&f, 0, sizeof(f));
	ferry_id_to_hex(c.id, f.hex);
	CU_ASSERT_EQUAL(store_out_browse(st, 0, rcpt_find_fn, &f), 0);
	CU_ASSERT_EQUAL(f.n, 0);
}

/* The receipt line parser: exact form only. */
static void
test_receipt_parse(void)
{
	static const char *bad[] = {
	    "",
	    "ferry-receipt/1 queued 00112233445566778899aabbccddeeff b 1",
	    "ferry-receipt/2 queued 00112233445566778899aabbccddeeff b 1\n",
	    "ferry-receipt/1 eaten 00112233445566778899aabbccddeeff b 1\n",
	    "ferry-receipt/1 queued 00112233445566778899aabbccddeef b 1\n",
	    "ferry-receipt/1 queued 00112233445566778899aabbccddeeff B 1\n",
	    "ferry-receipt/1 queued 00112233445566778899aabbccddeeff b -1\n",
	    "ferry-receipt/1 queued 00112233445566778899aabbccddeeff b 1\nx",
	    "ferry-receipt/1 queued 00112233445566778899aabbccddeeff b x\n",
	};
	const char *good =
	    "ferry-receipt/1 refused 00112233445566778899aabbccddeeff b-2 7\n";
	uint8_t id[FERRY_ID_LEN];
	char node[FERRY_NODE_MAX + 1];
	unsigned ev;
	int64_t at;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(receipt_parse((const uint8_t *)bad[i],
					      strlen(bad[i]), &ev, id, node,
					      &at),
				FERRY_EINVAL);
	CU_ASSERT_EQUAL_FATAL(receipt_parse((const uint8_t *)good, strlen(good),
					    &ev, id, node, &at),
			      0);
	CU_ASSERT_EQUAL(ev, STORE_RCPT_REFUSED);
	CU_ASSERT_STRING_EQUAL(node, "b-2");
	CU_ASSERT_EQUAL(at, 7);
	CU_ASSERT_EQUAL(id[15], 0xff);
	/* an embedded NUL */
	CU_ASSERT_EQUAL(
	    receipt_parse((const uint8_t *)"ferry\0", 6, &ev, id, node, &at),
	    FERRY_EINVAL);
}

/* A dead letter acked out of dead was never delivered: its status stays
 * dead with its reason, and its source hears no "acked" receipt. */
static void
test_dead_letter_acked_stays_dead(void)
{
	struct ferry_msg a;
	struct store_msg_info info;
	struct store_status ss;
	struct rcpt_find f;
	uint64_t tok;

	FRESH();
	test_msg(&a, "here", "q", 3);
	snprintf(a.src_node, sizeof(a.src_node), "far");
	a.flags = FERRY_MSG_RECEIPT;
	CU_ASSERT_EQUAL_FATAL(store_put(st, &a, "a", 1), 0);
	clk.now_ms += 5;
	CU_ASSERT_EQUAL_FATAL(store_dead_letter(st, a.id, STORE_DEAD_REJECTED),
			      0);
	clk.now_ms += 5;
	CU_ASSERT_EQUAL_FATAL(store_take(st, "dead", 1000, &info, &tok), 0);
	CU_ASSERT_EQUAL_FATAL(store_ack(st, a.id, tok), 0);
	CU_ASSERT_EQUAL_FATAL(store_status(st, a.id, &ss), 0);
	CU_ASSERT_EQUAL(ss.kind, STORE_ST_DEAD_REMOVED);
	CU_ASSERT_EQUAL(ss.at_ms, clk.now_ms);
	CU_ASSERT_EQUAL(ss.info.dead_reason, STORE_DEAD_REJECTED);
	CU_ASSERT_EQUAL(ss.info.dead_ms, clk.now_ms - 5);
	/* Receipts for far: queued, refused; no acked. */
	memset(&f, 0, sizeof(f));
	ferry_id_to_hex(a.id, f.hex);
	CU_ASSERT_EQUAL(store_out_browse(st, 0, rcpt_find_fn, &f), 0);
	CU_ASSERT_EQUAL(f.n, 2);
	/* A message acked from its own queue is acked, as before. */
	put_local(&a, "q", 3, "b");
	CU_ASSERT_EQUAL_FATAL(store_take(st, "q", 1000, &info, &tok), 0);
	CU_ASSERT_EQUAL_FATAL(store_ack(st, a.id, tok), 0);
	CU_ASSERT_EQUAL_FATAL(store_status(st, a.id, &ss), 0);
	CU_ASSERT_EQUAL(ss.kind, STORE_ST_ACKED);
}

/* A taken message whose payload is unreadable goes to the end of dead
 * under its lease; taken from dead, it moves to the end of dead. */
static void
test_unreadable_to_dead(void)
{
	struct ferry_msg a, b;
	struct store_msg_info info;
	uint64_t tok;

	FRESH();
	put_local(&a, "q", 3, "a");
	put_local(&b, "q", 3, "b");
	CU_ASSERT_EQUAL_FATAL(store_take(st, "q", 1000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, a.id, 16) == 0);
	CU_ASSERT_EQUAL(store_unreadable(st, a.id, tok + 2), FERRY_ELEASE);
	CU_ASSERT_EQUAL_FATAL(store_unreadable(st, a.id, tok), 0);
	CU_ASSERT_EQUAL(store_get(st, a.id, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.queue, "dead");
	CU_ASSERT_EQUAL(info.dead_reason, STORE_DEAD_UNREADABLE);
	CU_ASSERT_STRING_EQUAL(store_dead_reason_name(info.dead_reason),
			       "unreadable");
	CU_ASSERT_EQUAL_FATAL(store_take(st, "q", 1000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, b.id, 16) == 0);
	CU_ASSERT_EQUAL(store_ack(st, b.id, tok), 0);
	/* b dead too, then a taken from dead and found unreadable again:
	 * it goes behind b. */
	put_local(&b, "q", 3, "b");
	CU_ASSERT_EQUAL(store_dead_letter(st, b.id, STORE_DEAD_EXPIRED), 0);
	CU_ASSERT_EQUAL_FATAL(store_take(st, "dead", 1000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, a.id, 16) == 0);
	CU_ASSERT_EQUAL_FATAL(store_unreadable(st, a.id, tok), 0);
	CU_ASSERT_EQUAL_FATAL(store_take(st, "dead", 1000, &info, &tok), 0);
	CU_ASSERT(memcmp(info.msg.id, b.id, 16) == 0);
}

/* Custody for a message the sender dead-lettered meanwhile (its TTL ran
 * out while it was on a medium) does not bring it back: still dead. */
static void
test_custody_after_dead_letter(void)
{
	struct ferry_msg a;
	struct store_status ss;

	FRESH();
	test_msg(&a, "far", "q", 3);
	a.expires_ms = clk.now_ms + 1000;
	CU_ASSERT_EQUAL_FATAL(store_put(st, &a, "a", 1), 0);
	CU_ASSERT_EQUAL(
	    store_out_exported(st, a.id, "far", "/media/stick", clk.now_ms), 0);
	clk.now_ms += 2000;
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, NULL), 0);
	CU_ASSERT_EQUAL(store_out_custody(st, a.id, "far"), FERRY_ESTATE);
	CU_ASSERT_EQUAL_FATAL(store_status(st, a.id, &ss), 0);
	CU_ASSERT_EQUAL(ss.kind, STORE_ST_PRESENT);
	CU_ASSERT_STRING_EQUAL(ss.info.queue, "dead");
	CU_ASSERT_EQUAL(ss.info.dead_reason, STORE_DEAD_EXPIRED);
	CU_ASSERT_EQUAL(ss.exported.at_ms, 0);
}

/* Count the messages of queue (available ones). */
static size_t
queue_count(const char *queue)
{
	struct collect c;

	memset(&c, 0, sizeof(c));
	if (store_browse(st, queue, 0, collect_fn, &c) != 0)
		return 0;
	return c.n;
}

/* Reply queues in the writer's queue cache. */
static size_t
reply_cached(void)
{
	size_t n = 0;

	for (unsigned b = 0; b < STORE_QCACHE_BUCKETS; b++)
		for (struct store_qent *q = st->qcache[b]; q != NULL;
		     q = q->next)
			n += ferry_queue_is_reply(q->s.name);
	return n;
}

static void
test_reply_queue_open_until_purged_or_timed_out(void)
{
	struct store_queue_limits lim = {.open_ms = 1000};
	struct store_queue_stats qs;
	struct ferry_msg m;
	struct store_msg_info info;
	uint64_t n = 0;

	FRESH();
	/* Never opened: a reply goes to dead, not into the queue. */
	put_local(&m, "reply.aa", 3, "late");
	CU_ASSERT_EQUAL(queue_count("reply.aa"), 0);
	CU_ASSERT_EQUAL(store_get(st, m.id, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.queue, "dead");
	CU_ASSERT_EQUAL(info.dead_reason, STORE_DEAD_NO_WAITER);
	CU_ASSERT_STRING_EQUAL(store_dead_reason_name(info.dead_reason),
			       "no one waiting");
	CU_ASSERT_EQUAL(store_queue_stats(st, "reply.aa", &qs),
			FERRY_ENOTFOUND);
	/* Open: it is queued there. */
	CU_ASSERT_EQUAL(store_queue_create(st, "reply.bb", &lim), 0);
	put_local(&m, "reply.bb", 3, "in time");
	CU_ASSERT_EQUAL(queue_count("reply.bb"), 1);
	/* Purged: closed, its record gone, the next one is dead. */
	CU_ASSERT_EQUAL(store_queue_purge(st, "reply.bb", &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(store_queue_stats(st, "reply.bb", &qs),
			FERRY_ENOTFOUND);
	put_local(&m, "reply.bb", 3, "after the purge");
	CU_ASSERT_EQUAL(queue_count("reply.bb"), 0);
	CU_ASSERT_EQUAL(store_get(st, m.id, &info), 0);
	CU_ASSERT_EQUAL(info.dead_reason, STORE_DEAD_NO_WAITER);
	/* Open for 1 s: after that, dead too. */
	CU_ASSERT_EQUAL(store_queue_create(st, "reply.cc", &lim), 0);
	clk.now_ms += 1000;
	put_local(&m, "reply.cc", 3, "too late");
	CU_ASSERT_EQUAL(queue_count("reply.cc"), 0);
	CU_ASSERT_EQUAL(store_get(st, m.id, &info), 0);
	CU_ASSERT_EQUAL(info.dead_reason, STORE_DEAD_NO_WAITER);
	/* Other queues still appear on first use. */
	put_local(&m, "replies", 3, "ordinary");
	CU_ASSERT_EQUAL(queue_count("replies"), 1);
	CU_ASSERT_EQUAL(queue_count("dead"), 3);
	/* Closed reply queues leave nothing in the writer's cache (one
	 * entry per request ever made would grow for ever). */
	CU_ASSERT_EQUAL(reply_cached(), 1); /* reply.cc: timed out, open */
	CU_ASSERT_EQUAL(store_queue_purge(st, "reply.cc", &n), 0);
	CU_ASSERT_EQUAL(reply_cached(), 0);
	/* A reply in time whose requester died (no purge): once the queue
	 * times out, the sweep moves it to dead and closes the queue. */
	CU_ASSERT_EQUAL(store_queue_create(st, "reply.dd", &lim), 0);
	put_local(&m, "reply.dd", 3, "nobody took me");
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, NULL), 0);
	CU_ASSERT_EQUAL(queue_count("reply.dd"), 1); /* still open */
	clk.now_ms += 1000;
	CU_ASSERT_EQUAL(store_sweep(st, NULL, NULL, NULL), 0);
	CU_ASSERT_EQUAL(queue_count("reply.dd"), 0);
	CU_ASSERT_EQUAL(store_get(st, m.id, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.queue, "dead");
	CU_ASSERT_EQUAL(info.dead_reason, STORE_DEAD_NO_WAITER);
	CU_ASSERT_EQUAL(store_queue_stats(st, "reply.dd", &qs),
			FERRY_ENOTFOUND);
	CU_ASSERT_EQUAL(reply_cached(), 0);
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("store_queue", setup, teardown);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_put_take_ack_roundtrip);
	TEST_ADD(s, test_priority_then_fifo_order);
	TEST_ADD(s, test_lease_expiry_returns_message);
	TEST_ADD(s, test_nack_returns_to_place);
	TEST_ADD(s, test_renew_moves_lease_end);
	TEST_ADD(s, test_nack_dead_keeps_text);
	TEST_ADD(s, test_ack_by_id_without_token);
	TEST_ADD(s, test_duplicate_put_is_noop);
	TEST_ADD(s, test_new_id_put_still_refuses_stored_id);
	TEST_ADD(s, test_duplicate_answered_before_quota);
	TEST_ADD(s, test_reput_after_kill_is_duplicate);
	TEST_ADD(s, test_msgs_page_size_new_and_kept);
	TEST_ADD(s, test_seen_forgotten_after_retention);
	TEST_ADD(s, test_expiry_moves_to_dead);
	TEST_ADD(s, test_take_never_delivers_expired);
	TEST_ADD(s, test_dead_letter_reason);
	TEST_ADD(s, test_counters_commits_and_dead_letters);
	TEST_ADD(s, test_dead_letter_acked_stays_dead);
	TEST_ADD(s, test_unreadable_to_dead);
	TEST_ADD(s, test_custody_after_dead_letter);
	TEST_ADD(s, test_queue_quotas);
	TEST_ADD(s, test_store_quota);
	TEST_ADD(s, test_ack_async);
	TEST_ADD(s, test_take_async);
	TEST_ADD(s, test_purge_removes_all);
	TEST_ADD(s, test_reply_queue_open_until_purged_or_timed_out);
	TEST_ADD(s, test_queue_list_and_stats);
	TEST_ADD(s, test_invalid_messages_refused);
	TEST_ADD(s, test_batch_per_item_results);
	TEST_ADD(s, test_outbound_claim_progress_custody);
	TEST_ADD(s, test_reopen_keeps_order_and_counters);
	TEST_ADD(s, test_second_open_is_busy);
	TEST_ADD(s, test_log_checksum_is_the_librarys);
	TEST_ADD(s, test_transient_message_accepted);
	TEST_ADD(s, test_receipts_made_and_absorbed);
	TEST_ADD(s, test_out_scan_by_destination);
	TEST_ADD(s, test_receipt_parse);
	TEST_ADD(s, test_group_split);
	TEST_ADD(s, test_group_split_receipts);
	TEST_ADD(s, test_group_copy_receipt_names_group_id);
}

int
main(void)
{
	return test_main("test_store_queue", add_suites);
}
