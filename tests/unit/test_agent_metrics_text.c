/*
 * test_agent_metrics_text.c - CUnit tests of agent/metrics_text.c: a
 * snapshot rendered as Prometheus text (HELP and TYPE before each
 * family's samples, cumulative histogram buckets, escaped label values)
 * and the cap: a snapshot far too big is cut at a line end, below
 * METRICS_TEXT_MAX, with a last comment line.  promtool itself checks
 * real scrapes in tests/integration/agent_metrics.sh.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/metrics.h"
#include "tests/unit/testutil.h"

/* A NUL-terminated copy of t's text (the test frees it). */
static char *
text_of(const struct metrics_text *t)
{
	char *s = malloc(t->len + 1);

	CU_ASSERT_FATAL(s != NULL);
	memcpy(s, t->buf, t->len);
	s[t->len] = '\0';
	return s;
}

/* Is line (without its '\n') one of the lines of s? */
static int
has_line(const char *s, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = s; p != NULL && *p != '\0';) {
		const char *e = strchr(p, '\n');
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p);

		if (len == n && memcmp(p, line, n) == 0)
			return 1;
		p = e != NULL ? e + 1 : NULL;
	}
	return 0;
}

static void
small_snap(struct metrics_snap *s)
{
	static struct store_queue_stats queues[2];
	static struct peer_status peers[1];

	memset(s, 0, sizeof(*s));
	memset(queues, 0, sizeof(queues));
	memset(peers, 0, sizeof(peers));
	snprintf(s->node, sizeof(s->node), "alpha");
	s->stats.msgs = 7;
	s->stats.bytes = 700;
	s->counters.commit_bucket[0] = 1;
	s->counters.commit_bucket[2] = 2;
	s->counters.commit_bucket[STORE_COMMIT_BUCKETS] = 1;
	s->counters.commit_sum_us = 12001182;
	s->counters.dead[STORE_DEAD_EXPIRED] = 4;
	s->disk_free_bytes = UINT64_MAX; /* unknown: no series */
	s->disk_reserve_bytes = 64;
	snprintf(queues[0].name, sizeof(queues[0].name), "dead");
	queues[0].msgs = 4;
	snprintf(queues[1].name, sizeof(queues[1].name), "a\"b\\c\nd");
	queues[1].msgs = 3;
	queues[1].bytes = 30;
	queues[1].leased = 1;
	s->queues = queues;
	s->nqueues = 2;
	s->queues_total = 2;
	snprintf(peers[0].name, sizeof(peers[0].name), "beta");
	peers[0].connected = 1;
	peers[0].last_seen_ms = 1700000000999;
	peers[0].bytes_out = 123;
	peers[0].msgs_out = 3;
	s->peers = peers;
	s->npeers = 1;
	s->transports[0].name = "tcp";
	s->transports[0].msgs_out = 3;
	s->ntransports = 1;
}

static void
test_render_lines(void)
{
	struct metrics_snap s;
	struct metrics_text t;
	char *x;

	small_snap(&s);
	CU_ASSERT_EQUAL_FATAL(metrics_render(&s, &t), 0);
	CU_ASSERT_EQUAL(t.truncated, 0);
	CU_ASSERT(t.len > 0 && t.buf[t.len - 1] == '\n');
	x = text_of(&t);
	CU_ASSERT(has_line(x, "ferry_build_info{version=\"" PACKAGE_VERSION
			      "\",node=\"alpha\"} 1"));
	CU_ASSERT(has_line(x, "# TYPE ferry_store_messages gauge"));
	CU_ASSERT(has_line(x, "ferry_store_messages 7"));
	CU_ASSERT(has_line(x, "ferry_disk_reserve_bytes 64"));
	CU_ASSERT(strstr(x, "ferry_disk_free_bytes") == NULL);
	CU_ASSERT(has_line(x, "ferry_queue_messages{queue=\"dead\"} 4"));
	CU_ASSERT(
	    has_line(x, "ferry_queue_messages{queue=\"a\\\"b\\\\c\\nd\"} 3"));
	CU_ASSERT(has_line(
	    x, "ferry_queue_leased_messages{queue=\"a\\\"b\\\\c\\nd\"} 1"));
	CU_ASSERT(
	    has_line(x, "ferry_dead_letters_total{reason=\"expired\"} 4"));
	CU_ASSERT(
	    has_line(x, "ferry_dead_letters_total{reason=\"no_route\"} 0"));
	CU_ASSERT(has_line(
	    x, "ferry_dead_letters_total{reason=\"unverified_origin\"} 0"));
	CU_ASSERT(has_line(x, "ferry_peer_up{peer=\"beta\"} 1"));
	CU_ASSERT(has_line(x, "ferry_peer_last_seen_timestamp_seconds{peer="
			      "\"beta\"} 1700000000"));
	CU_ASSERT(
	    has_line(x, "ferry_peer_sent_bytes_total{peer=\"beta\"} 123"));
	CU_ASSERT(has_line(
	    x, "ferry_messages_handed_over_total{transport=\"tcp\"} 3"));
	/* Cumulative buckets; +Inf and _count are every commit. */
	CU_ASSERT(
	    has_line(x, "ferry_store_commit_seconds_bucket{le=\"0.00025\"} 1"));
	CU_ASSERT(
	    has_line(x, "ferry_store_commit_seconds_bucket{le=\"0.0005\"} 1"));
	CU_ASSERT(
	    has_line(x, "ferry_store_commit_seconds_bucket{le=\"0.001\"} 3"));
	CU_ASSERT(
	    has_line(x, "ferry_store_commit_seconds_bucket{le=\"10\"} 3"));
	CU_ASSERT(
	    has_line(x, "ferry_store_commit_seconds_bucket{le=\"+Inf\"} 4"));
	CU_ASSERT(has_line(x, "ferry_store_commit_seconds_count 4"));
	CU_ASSERT(has_line(x, "ferry_store_commit_seconds_sum 12.001182"));
	free(x);
	metrics_text_cleanup(&t);
	CU_ASSERT_PTR_NULL(t.buf);
}

/* Every sample line comes after the HELP and TYPE of its family, and a
 * family's lines are together. */
static void
test_families_before_samples(void)
{
	struct metrics_snap s;
	struct metrics_text t;
	char *x, fam[128] = "", seen[64][128];
	size_t nseen = 0;

	small_snap(&s);
	CU_ASSERT_EQUAL_FATAL(metrics_render(&s, &t), 0);
	x = text_of(&t);
	for (char *line = strtok(x, "\n"); line != NULL;
	     line = strtok(NULL, "\n")) {
		size_t n;

		if (strncmp(line, "# HELP ", 7) == 0) {
			n = strcspn(line + 7, " ");
			CU_ASSERT_FATAL(n < sizeof(fam));
			memcpy(fam, line + 7, n);
			fam[n] = '\0';
			for (size_t i = 0; i < nseen; i++)
				CU_ASSERT(strcmp(seen[i], fam) != 0);
			CU_ASSERT_FATAL(nseen < 64);
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", fam);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			CU_ASSERT(strncmp(line + 7, fam, strlen(fam)) == 0);
			continue;
		}
		/* A sample: its name is the family's, or the family's with
		 * a histogram suffix. */
		CU_ASSERT(fam[0] != '\0' &&
			  strncmp(line, fam, strlen(fam)) == 0);
	}
	CU_ASSERT(nseen >= 20);
	free(x);
	metrics_text_cleanup(&t);
}

/* Far more than fits: cut below the cap at a line end, said in a last
 * comment, never a half line. */
static void
test_cut_at_the_cap(void)
{
	struct metrics_snap s;
	struct metrics_text t;
	size_t n = 20000;
	const char *last;

	memset(&s, 0, sizeof(s));
	snprintf(s.node, sizeof(s.node), "alpha");
	s.queues = calloc(n, sizeof(*s.queues));
	CU_ASSERT_FATAL(s.queues != NULL);
	for (size_t i = 0; i < n; i++) {
		memset(s.queues[i].name, 'q', FERRY_QUEUE_MAX);
		snprintf(s.queues[i].name + FERRY_QUEUE_MAX - 8, 9, "%08zu", i);
		s.queues[i].msgs = UINT64_MAX;
	}
	s.nqueues = s.queues_total = n;
	CU_ASSERT_EQUAL_FATAL(metrics_render(&s, &t), 0);
	CU_ASSERT_EQUAL(t.truncated, 1);
	CU_ASSERT(t.len <= METRICS_TEXT_MAX);
	CU_ASSERT(t.len > METRICS_TEXT_MAX / 2);
	CU_ASSERT_FATAL(t.len > 1 && t.buf[t.len - 1] == '\n');
	last = t.buf + t.len - 2;
	while (last > t.buf && last[-1] != '\n')
		last--;
	CU_ASSERT(strncmp(last, "# cut here", 10) == 0);
	/* The line before it is a whole sample. */
	CU_ASSERT(last[-1] == '\n');
	free(s.queues);
	metrics_text_cleanup(&t);
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("agent_metrics_text", NULL, NULL);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_render_lines);
	TEST_ADD(s, test_families_before_samples);
	TEST_ADD(s, test_cut_at_the_cap);
}

int
main(void)
{
	return test_main("test_agent_metrics_text", add_suites);
}
