/*
 * store_smoke.c - a narrated tour of the store for `make smoke`: open a
 * store, put messages of mixed priority, browse, take and ack, expire one
 * to the dead queue, stream a large payload, reopen and show nothing was
 * lost.  Exits non-zero if anything does not behave as narrated.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

static int failures;

#define CHECK(cond, what)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			printf("  FAILED: %s\n", what);                        \
			failures++;                                            \
		}                                                              \
	} while (0)

static int64_t fake_now = 1700000000000LL;

static int64_t
clock_fn(void *arg)
{
	(void)arg;
	return fake_now;
}

static void
msg(struct ferry_msg *m, const char *node, const char *queue, int prio)
{
	ferry_msg_init(m);
	if (ferry_id_generate(m->id) != 0)
		exit(99);
	snprintf(m->src_node, sizeof(m->src_node), "field-07");
	snprintf(m->dst_node, sizeof(m->dst_node), "%s", node);
	snprintf(m->dst_queue, sizeof(m->dst_queue), "%s", queue);
	m->priority = (uint8_t)prio;
}

static int
show(const struct store_msg_info *i, void *arg)
{
	char hex[FERRY_ID_HEX_LEN + 1];

	(void)arg;
	ferry_id_to_hex(i->msg.id, hex);
	printf("    %.8s…  priority %u  %llu bytes\n", hex, i->msg.priority,
	       (unsigned long long)i->msg.payload_len);
	return 0;
}

static void
dead(const struct store_msg_info *i, void *arg)
{
	char hex[FERRY_ID_HEX_LEN + 1];

	(void)arg;
	ferry_id_to_hex(i->msg.id, hex);
	printf("    %.8s… moved to 'dead' (%s)\n", hex,
	       store_dead_reason_name(i->dead_reason));
}

int
main(int argc, char **argv)
{
	struct store_opts o;
	struct store *st = NULL;
	struct ferry_msg m, late, big, remote;
	struct store_msg_info info;
	struct store_sweep_stats ss;
	struct store_queue_stats qs;
	struct store_writer *w = NULL;
	static char buf[1 << 20];
	uint64_t tok;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: store_smoke DIR\n");
		return 99;
	}
	store_opts_init(&o);
	o.node_name = "field-07";
	o.clock_ms = clock_fn;
	printf("1. Opening a store for node 'field-07' in %s\n", argv[1]);
	rc = store_open(argv[1], &o, &st);
	if (rc != 0) {
		printf("  cannot open: %s (%s)\n", ferry_strerror(rc),
		       store_last_error());
		return 1;
	}
	printf("2. Putting three messages for field-07/inbox: bulk (0), "
	       "normal (3), urgent (7)\n");
	for (int p = 0; p <= 7; p += (p == 0 ? 3 : 4)) {
		msg(&m, "field-07", "inbox", p);
		CHECK(store_put(st, &m, "report", 6) == 0, "put");
	}
	printf("   and one for base/reports, which waits on the outbound "
	       "side\n");
	msg(&remote, "base", "reports", 3);
	CHECK(store_put(st, &remote, "to base", 7) == 0, "put remote");
	printf("3. Browsing inbox (delivery order: urgent first):\n");
	CHECK(store_browse(st, "inbox", 0, show, NULL) == 0, "browse");
	printf("4. Taking the first under a 30 s lease, then acking it\n");
	CHECK(store_take(st, "inbox", 30000, &info, &tok) == 0, "take");
	CHECK(info.msg.priority == 7, "urgent first");
	CHECK(store_ack(st, info.msg.id, tok) == 0, "ack");
	printf("5. Sending the same id again is a duplicate, not a copy: %s\n",
	       ferry_strerror(store_put(st, &remote, "to base", 7)));
	printf(
	    "6. A message with a 2 s time-to-live; the clock moves on 3 s\n");
	msg(&late, "field-07", "inbox", 3);
	late.expires_ms = fake_now + 2000;
	CHECK(store_put(st, &late, "stale", 5) == 0, "put ttl");
	fake_now += 3000;
	CHECK(store_sweep(st, dead, NULL, &ss) == 0 && ss.expired == 1,
	      "expiry");
	printf("7. Streaming a 64 MiB payload in 1 MiB pieces\n");
	msg(&big, "field-07", "bulk", 0);
	CHECK(store_writer_open(st, &big, &w) == 0, "writer");
	for (int i = 0; w != NULL && i < 64; i++)
		CHECK(store_writer_write(w, buf, sizeof(buf)) == 0, "write");
	if (w != NULL)
		CHECK(store_writer_commit(w) == 0, "commit");
	printf("8. Closing and reopening (recovery runs at every open)\n");
	store_close(st);
	st = NULL;
	CHECK(store_open(argv[1], &o, &st) == 0, "reopen");
	if (st == NULL)
		return 1;
	CHECK(store_queue_stats(st, "inbox", &qs) == 0 && qs.msgs == 2,
	      "inbox has 2");
	printf("   inbox: %llu messages; ", (unsigned long long)qs.msgs);
	CHECK(store_queue_stats(st, "dead", &qs) == 0 && qs.msgs == 1,
	      "dead has 1");
	printf("dead: %llu; ", (unsigned long long)qs.msgs);
	CHECK(store_queue_stats(st, "bulk", &qs) == 0 && qs.bytes == 64u << 20,
	      "bulk has 64 MiB");
	printf("bulk: %llu bytes\n", (unsigned long long)qs.bytes);
	store_close(st);
	printf(failures ? "smoke: FAILED\n" : "smoke: all as narrated\n");
	return failures ? 1 : 0;
}
