/*
 * push_subscriber.c - push delivery in libferry's non-blocking mode
 * (agent_subscribe.sh): ferry_subscribe, then poll() on ferry_fd() and
 * ferry_next_msg() with a timeout of 0, ferry_ack and ferry_credit.
 *
 *   push_subscriber SOCKET QUEUE
 *
 * QUEUE must be an empty local queue.  With a credit of 3:
 *  1. ten messages sent (on a second connection) after subscribing
 *     arrive pushed, in order; while no credit is returned exactly
 *     three arrive, and at no time are more than three outstanding;
 *  2. with credit returned after each ack, all ten arrive;
 *  3. a message sent while credit is available arrives within 2 s;
 *  4. a 3 MiB message arrives too (its payload fetched), byte for byte;
 *  5. ferry_next_msg(timeout 0) never blocks: FERRY_EAGAIN at once;
 *  6. the queue is empty at the end.
 * One line per finding; exit 0 pass, 1 fail, 99 harness error.
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/itutil.h"

#define CREDIT	 3
#define NMSGS	 10
#define BIG_LEN	 (3u * 1024u * 1024u + 17u)
#define BIG_SEED 4242u

static struct ferry *sub, *snd;
static const char *queue;
static char node[FERRY_NODE_MAX + 1];
static int failures;
static unsigned outstanding, max_outstanding;

static void
check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok -" : "FAIL", what);
	fflush(stdout);
	if (!ok)
		failures++;
}

static void
send_small(const char *body)
{
	char dest[FERRY_NODE_MAX + FERRY_QUEUE_MAX + 2];
	int rc;

	snprintf(dest, sizeof(dest), "%s/%s", node, queue);
	rc = ferry_send(snd, dest, body, strlen(body), NULL, NULL);
	if (rc != 0) {
		it_ferry_fail(snd, rc, "send");
		exit(1);
	}
}

/* A pushed message and its payload (small ones only). */
struct got {
	struct ferry_msg_info info;
	char body[64];
};

/*
 * Take the messages that arrive within wait_ms, never blocking but in
 * poll(): appends to g[*n] (up to cap), and returns early once *n reaches
 * enough.  Returns how many arrived.
 */
static unsigned
collect(struct got *g, unsigned *n, unsigned cap, unsigned enough, int wait_ms)
{
	unsigned before = *n;
	int64_t until = it_now_ms() + wait_ms;

	for (;;) {
		struct ferry_msg_info info;
		struct ferry_stream *s = NULL;
		struct pollfd pfd;
		int64_t t0 = it_now_ms(), left;
		int rc = ferry_next_msg(sub, 0, &info, &s);

		if (rc == 0) {
			size_t len = 0, k;
			if (it_now_ms() - t0 > 200 &&
			    info.msg.payload_len < 65536)
				check(0, "ferry_next_msg(0) blocked for a "
					 "small message");
			if (*n >= cap) {
				check(0, "more messages than were sent");
				ferry_stream_close(s);
				return *n - before;
			}
			g[*n].info = info;
			while (s != NULL && len < sizeof(g[*n].body) - 1 &&
			       ferry_stream_read(s, g[*n].body + len,
						 sizeof(g[*n].body) - 1 - len,
						 &k) == 0 &&
			       k > 0)
				len += k;
			g[*n].body[len] = '\0';
			ferry_stream_close(s);
			(*n)++;
			if (++outstanding > max_outstanding)
				max_outstanding = outstanding;
			if (*n >= enough)
				return *n - before;
			continue;
		}
		if (rc != FERRY_EAGAIN) {
			it_ferry_fail(sub, rc, "ferry_next_msg");
			exit(1);
		}
		if (it_now_ms() - t0 > 100)
			check(0,
			      "ferry_next_msg(0) blocked with nothing there");
		left = until - it_now_ms();
		if (left <= 0)
			return *n - before;
		pfd.fd = ferry_fd(sub);
		pfd.events = POLLIN;
		pfd.revents = 0;
		(void)poll(&pfd, 1, (int)left);
	}
}

static void
ack_and_credit(const struct got *g)
{
	int rc = ferry_ack(sub, g->info.msg.id, g->info.token);

	if (rc == 0)
		rc = ferry_credit(sub, 1);
	if (rc != 0) {
		it_ferry_fail(sub, rc, "ack or credit");
		exit(1);
	}
	outstanding--;
}

static void
big_message(void)
{
	char dest[FERRY_NODE_MAX + FERRY_QUEUE_MAX + 2];
	struct ferry_stream *s = NULL;
	struct ferry_msg_info info;
	struct it_pattern p;
	uint8_t *buf = malloc(BIG_LEN);
	uint8_t id[FERRY_ID_LEN];
	uint64_t got = 0;
	int64_t until;
	int rc;

	if (buf == NULL)
		it_die(99, "out of memory");
	snprintf(dest, sizeof(dest), "%s/%s", node, queue);
	it_pattern_init(&p, BIG_SEED);
	it_pattern_next(&p, buf, BIG_LEN);
	rc = ferry_send(snd, dest, buf, BIG_LEN, NULL, id);
	if (rc != 0) {
		it_ferry_fail(snd, rc, "sending 3 MiB");
		exit(1);
	}
	until = it_now_ms() + 10000;
	for (;;) {
		struct pollfd pfd = {ferry_fd(sub), POLLIN, 0};
		rc = ferry_next_msg(sub, 0, &info, &s);
		if (rc != FERRY_EAGAIN)
			break;
		if (it_now_ms() > until)
			break;
		(void)poll(&pfd, 1, 100);
	}
	if (rc != 0) {
		it_ferry_fail(sub, rc, "the 3 MiB message did not arrive");
		failures++;
		free(buf);
		return;
	}
	check(memcmp(info.msg.id, id, FERRY_ID_LEN) == 0 &&
		  info.msg.payload_len == BIG_LEN,
	      "a 3 MiB message arrives pushed");
	it_pattern_init(&p, BIG_SEED);
	for (;;) {
		size_t n = 0;
		rc = ferry_stream_read(s, buf, 1024 * 1024, &n);
		if (rc != 0 || n == 0)
			break;
		if (it_pattern_check(&p, buf, n) != UINT64_MAX) {
			rc = FERRY_ECORRUPT;
			break;
		}
		got += n;
	}
	ferry_stream_close(s);
	check(rc == 0 && got == BIG_LEN,
	      "its payload is fetched, byte for byte");
	rc = ferry_ack(sub, info.msg.id, info.token);
	check(rc == 0, "and acked");
	if (rc == 0)
		rc = ferry_credit(sub, 1);
	free(buf);
}

int
main(int argc, char **argv)
{
	struct ferry_node_info ni;
	struct ferry_queue_info qi;
	struct got g[NMSGS + 1];
	unsigned n = 0, i, in_order = 1;
	char body[64];
	int64_t t0;
	int rc;

	it_progname(argv[0]);
	if (argc != 3)
		it_die(99, "usage: push_subscriber SOCKET QUEUE");
	queue = argv[2];
	if ((rc = ferry_connect(argv[1], &sub)) != 0 ||
	    (rc = ferry_connect(argv[1], &snd)) != 0 ||
	    (rc = ferry_info(snd, &ni)) != 0)
		it_die(1, "cannot start: %s", ferry_strerror(rc));
	snprintf(node, sizeof(node), "%s", ni.node);

	rc = ferry_subscribe(sub, queue, CREDIT, 60000);
	if (rc != 0) {
		it_ferry_fail(sub, rc, "subscribe to %s", queue);
		return 1;
	}
	check(1, "subscribed with a credit of 3");
	t0 = it_now_ms();
	rc = ferry_next_msg(sub, 0, &g[0].info, NULL);
	check(rc == FERRY_EAGAIN && it_now_ms() - t0 < 100,
	      "ferry_next_msg(0) on an empty queue: FERRY_EAGAIN at once");

	/* 1. no credit returned: exactly CREDIT arrive */
	for (i = 0; i < NMSGS; i++) {
		snprintf(body, sizeof(body), "push %u", i);
		send_small(body);
	}
	collect(g, &n, NMSGS, NMSGS, 1500);
	printf("# %u pushed without credit returned\n", n);
	check(n == CREDIT, "exactly the credit's worth arrive while no "
			   "credit is returned");

	/* 2. ack and return credit: the rest arrive */
	for (i = 0; i < n; i++)
		ack_and_credit(&g[i]);
	t0 = it_now_ms();
	while (n < NMSGS && it_now_ms() - t0 < 10000) {
		unsigned from = n;
		collect(g, &n, NMSGS, NMSGS, 200);
		for (i = from; i < n; i++)
			ack_and_credit(&g[i]);
	}
	check(n == NMSGS, "all ten arrive as credit is returned");
	for (i = 0; i < n; i++) {
		snprintf(body, sizeof(body), "push %u", i);
		if (strcmp(g[i].body, body) != 0 ||
		    g[i].info.lease_until_ms == 0)
			in_order = 0;
	}
	check(in_order, "in the order sent, each leased");
	printf("# at most %u outstanding\n", max_outstanding);
	check(max_outstanding <= CREDIT, "never more outstanding than the "
					 "credit");

	/* 3. a message arrives promptly while credit is available */
	send_small("before"); /* warm: the first push after a pause */
	n = 0;
	collect(g, &n, 1, 1, 2000);
	if (n == 1)
		ack_and_credit(&g[0]);
	t0 = it_now_ms();
	send_small("prompt");
	printf("# the send took %lld ms\n", (long long)(it_now_ms() - t0));
	n = 0;
	collect(g, &n, 1, 1, 5000);
	printf("# pushed %lld ms after the send\n",
	       (long long)(it_now_ms() - t0));
	check(n == 1 && strcmp(g[0].body, "prompt") == 0 &&
		  it_now_ms() - t0 < 2000,
	      "a message sent while credit is available arrives within 2 s");
	if (n == 1)
		ack_and_credit(&g[0]);

	/* 4. a large one */
	big_message();

	/* 6. nothing left behind */
	rc = ferry_queue_stats(snd, queue, &qi);
	check(rc == 0 && qi.msgs == 0 && qi.leased == 0,
	      "the queue is empty at the end");
	ferry_close(sub);
	ferry_close(snd);
	printf("%d checks failed\n", failures);
	return failures == 0 ? 0 : 1;
}
