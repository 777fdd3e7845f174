/*
 * test_transports_tcp_full.c - CUnit tests of transports/tcp_full.c, what
 * a peer has no room for (REFUSE "queue full", "store full", "disk
 * full"): which messages a run holds back, the one probe let through at
 * its retry, the doubling wait, the end of a run by custody or by
 * silence, the room for PEER_FULL_MAX runs, and what `ferry why` gets.
 * Moments are moved by hand (retry_ms, probe_ms) instead of sleeping.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/log.h"
#include "tests/unit/testutil.h"
#include "transports/tcp_int.h"

static struct link lk;
static struct lpeer peer;

static void
setup(void)
{
	memset(&lk, 0, sizeof(lk));
	memset(&peer, 0, sizeof(peer));
	pthread_mutex_init(&lk.mu, NULL);
	snprintf(peer.cfg.name, sizeof(peer.cfg.name), "b");
	peer.cfg.retry_min_ms = 1000;
	peer.cfg.retry_max_ms = 4000;
}

/* A message for node/queue at priority prio, its id from n. */
static struct ferry_msg
msg(const char *node, const char *queue, unsigned prio, uint8_t n)
{
	struct ferry_msg m;

	memset(&m, 0, sizeof(m));
	memset(m.id, n, sizeof(m.id));
	snprintf(m.src_node, sizeof(m.src_node), "a");
	snprintf(m.dst_node, sizeof(m.dst_node), "%s", node);
	snprintf(m.dst_queue, sizeof(m.dst_queue), "%s", queue);
	m.priority = (uint8_t)prio;
	return m;
}

/* The run's retry has come (as if retry_ms had passed). */
static void
retry_now(size_t i)
{
	peer.full[i].f.retry_ms = ferry_wall_ms() - 1;
}

static void
test_queue_full_holds_that_queue_only(void)
{
	struct ferry_msg in1 = msg("b", "in", 3, 1), in2 = msg("b", "in", 7, 2);
	struct ferry_msg other = msg("b", "other", 3, 3);
	struct ferry_msg relayed = msg("c", "in", 3, 4);
	int64_t t0 = ferry_wall_ms();

	setup();
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &in1), 0);
	link_full_note(&lk, &peer, &in1, HOP_REFUSE_QUEUE_FULL);
	CU_ASSERT_EQUAL_FATAL(peer.nfull, 1);
	CU_ASSERT_EQUAL(peer.full[0].f.what, PEER_FULL_QUEUE);
	CU_ASSERT_STRING_EQUAL(peer.full[0].f.queue, "in");
	CU_ASSERT(peer.full[0].f.since_ms >= t0);
	CU_ASSERT_EQUAL(peer.full[0].f.retry_ms,
			peer.full[0].f.since_ms + 1000);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &in1), 1);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &in2), 1);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &other), 0);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &relayed), 0);
	CU_ASSERT_EQUAL(link_full_concerns(&lk, &peer, &in2), 1);
	CU_ASSERT_EQUAL(link_full_concerns(&lk, &peer, &other), 0);
}

static void
test_one_probe_at_its_retry(void)
{
	struct ferry_msg m1 = msg("b", "in", 3, 1), m2 = msg("b", "in", 3, 2);

	setup();
	link_full_note(&lk, &peer, &m1, HOP_REFUSE_QUEUE_FULL);
	CU_ASSERT_EQUAL(link_full_due(&lk, &peer), 0);
	retry_now(0);
	/* the writer is told once */
	CU_ASSERT_EQUAL(link_full_due(&lk, &peer), 1);
	CU_ASSERT_EQUAL(link_full_due(&lk, &peer), 0);
	/* the first asked goes, and stays let through; the others wait */
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &m2), 0);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &m1), 1);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &m2), 0);
	/* no answer in LINK_FULL_PROBE_MS: another may go */
	peer.full[0].probe_ms -= LINK_FULL_PROBE_MS;
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &m1), 0);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &m2), 1);
}

static void
test_refused_again_waits_longer_same_since(void)
{
	struct ferry_msg m1 = msg("b", "in", 3, 1), m2 = msg("b", "in", 3, 2);
	int64_t since;

	setup();
	link_full_note(&lk, &peer, &m1, HOP_REFUSE_QUEUE_FULL);
	since = peer.full[0].f.since_ms;
	/* more of the same round: nothing changes */
	link_full_note(&lk, &peer, &m2, HOP_REFUSE_QUEUE_FULL);
	CU_ASSERT_EQUAL(peer.nfull, 1);
	CU_ASSERT_EQUAL(peer.full[0].backoff_ms, 1000);
	/* the probe refused: twice as long, then no longer than retry_max */
	for (int64_t want = 2000; want <= 8000; want *= 2) {
		retry_now(0);
		CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &m1), 0);
		link_full_note(&lk, &peer, &m1, HOP_REFUSE_QUEUE_FULL);
		CU_ASSERT_EQUAL(peer.full[0].backoff_ms,
				want > 4000 ? 4000 : want);
		CU_ASSERT(peer.full[0].f.retry_ms > ferry_wall_ms());
		CU_ASSERT_EQUAL(peer.full[0].probe_ms, 0);
		CU_ASSERT_EQUAL(peer.full[0].f.since_ms, since);
		CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &m2), 1);
	}
}

static void
test_custody_ends_the_run(void)
{
	struct ferry_msg in = msg("b", "in", 3, 1), other = msg("b", "x", 3, 2);
	struct ferry_msg q2 = msg("b", "q2", 3, 3);

	setup();
	link_full_note(&lk, &peer, &in, HOP_REFUSE_QUEUE_FULL);
	link_full_note(&lk, &peer, &q2, HOP_REFUSE_QUEUE_FULL);
	CU_ASSERT_EQUAL(link_full_clear(&lk, &peer, &other), 0);
	CU_ASSERT_EQUAL(peer.nfull, 2);
	CU_ASSERT_EQUAL(link_full_clear(&lk, &peer, &in), 1);
	CU_ASSERT_EQUAL_FATAL(peer.nfull, 1);
	CU_ASSERT_STRING_EQUAL(peer.full[0].f.queue, "q2");
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &in), 0);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &q2), 1);
}

static void
test_silence_ends_the_run(void)
{
	struct ferry_msg m = msg("b", "in", 3, 1);
	struct peer_status st;
	int64_t old;

	setup();
	link_full_note(&lk, &peer, &m, HOP_REFUSE_QUEUE_FULL);
	memset(&st, 0, sizeof(st));
	link_full_status(&peer, &st);
	CU_ASSERT_EQUAL(st.nfull, 1);
	/* a minute past its retry with no refusal: not shown, and a new
	 * refusal starts a new run */
	old = peer.full[0].f.since_ms - LINK_FULL_FORGET_MS - 5000;
	peer.full[0].f.since_ms = old;
	peer.full[0].f.retry_ms = old + 1000;
	link_full_status(&peer, &st);
	CU_ASSERT_EQUAL(st.nfull, 0);
	link_full_note(&lk, &peer, &m, HOP_REFUSE_QUEUE_FULL);
	CU_ASSERT_EQUAL(peer.nfull, 1);
	CU_ASSERT(peer.full[0].f.since_ms > old + LINK_FULL_FORGET_MS);
	CU_ASSERT_EQUAL(peer.full[0].backoff_ms, 1000);
	/* forgotten ones go when the writer looks */
	peer.full[0].f.retry_ms = old;
	CU_ASSERT_EQUAL(link_full_due(&lk, &peer), 0);
	CU_ASSERT_EQUAL(peer.nfull, 0);
}

static void
test_store_and_disk_full(void)
{
	struct ferry_msg low = msg("b", "in", 2, 1), mid = msg("c", "x", 3, 2);
	struct ferry_msg urgent = msg("b", "in", 7, 3);
	struct peer_status st;

	setup();
	/* the store: everything for the peer, relayed ones too */
	link_full_note(&lk, &peer, &low, HOP_REFUSE_STORE_FULL);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &mid), 1);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &urgent), 1);
	CU_ASSERT_EQUAL(link_full_clear(&lk, &peer, &mid), 1);
	/* the disk: what is no more urgent than what it refused */
	link_full_note(&lk, &peer, &mid, HOP_REFUSE_DISK_FULL);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &low), 1);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &mid), 1);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &urgent), 0);
	link_full_note(&lk, &peer, &urgent, HOP_REFUSE_DISK_FULL);
	CU_ASSERT_EQUAL(peer.nfull, 1);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &urgent), 1);
	memset(&st, 0, sizeof(st));
	link_full_status(&peer, &st);
	CU_ASSERT_EQUAL_FATAL(st.nfull, 1);
	CU_ASSERT_EQUAL(st.full[0].what, PEER_FULL_DISK);
	CU_ASSERT_EQUAL(st.full[0].prio, 7);
	/* "queue full" for another node's message: taken as the store */
	setup();
	link_full_note(&lk, &peer, &mid, HOP_REFUSE_QUEUE_FULL);
	CU_ASSERT_EQUAL_FATAL(peer.nfull, 1);
	CU_ASSERT_EQUAL(peer.full[0].f.what, PEER_FULL_STORE);
	CU_ASSERT_EQUAL(link_full_holds(&lk, &peer, &low), 1);
}

static void
test_room_for_runs(void)
{
	char q[16];

	setup();
	for (uint8_t i = 0; i < PEER_FULL_MAX + 1; i++) {
		struct ferry_msg m;
		snprintf(q, sizeof(q), "q%u", (unsigned)i);
		m = msg("b", q, 3, i);
		link_full_note(&lk, &peer, &m, HOP_REFUSE_QUEUE_FULL);
		/* the first one's retry comes first */
		if (i == 0)
			peer.full[0].f.retry_ms -= 500;
	}
	CU_ASSERT_EQUAL(peer.nfull, PEER_FULL_MAX);
	for (size_t i = 0; i < peer.nfull; i++)
		CU_ASSERT_STRING_NOT_EQUAL(peer.full[i].f.queue, "q0");
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("tcp_full", NULL, NULL);

	if (s == NULL)
		abort();
	log_set_level(LOG_LVL_WARN);
	TEST_ADD(s, test_queue_full_holds_that_queue_only);
	TEST_ADD(s, test_one_probe_at_its_retry);
	TEST_ADD(s, test_refused_again_waits_longer_same_since);
	TEST_ADD(s, test_custody_ends_the_run);
	TEST_ADD(s, test_silence_ends_the_run);
	TEST_ADD(s, test_store_and_disk_full);
	TEST_ADD(s, test_room_for_runs);
}

int
main(void)
{
	return test_main("test_transports_tcp_full", add_suites);
}
