/*
 * metrics_text.c - a metrics snapshot as Prometheus text (exposition
 * format 0.0.4: a HELP and a TYPE line per family, then its samples,
 * label values escaped; https://prometheus.io/docs/instrumenting/
 * exposition_formats/).
 *
 * Owns only the text it builds.  No I/O, no locks: what it renders was
 * gathered by metrics.c.  The buffer grows by doubling and never past
 * METRICS_TEXT_MAX; a line that would pass it is dropped, and so is
 * every line after it, so the text stays whole lines (each family's
 * lines together) and ends with a comment saying it was cut.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/metrics.h"

#define TEXT_FIRST 16384 /* the first allocation */
#define TEXT_LINE  1024	 /* a line at most (label values are names) */
#define TEXT_TAIL  128	 /* kept for the "cut" comment */

static void text_line(struct metrics_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append one line (fmt has its '\n'); drop it, and all after it, once
 * the text would pass METRICS_TEXT_MAX - TEXT_TAIL. */
static void
text_line(struct metrics_text *t, const char *fmt, ...)
{
	char line[TEXT_LINE];
	va_list ap;
	int n;

	if (t->truncated)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    t->len + (size_t)n > METRICS_TEXT_MAX - TEXT_TAIL) {
		t->truncated = 1;
		return;
	}
	while (t->len + (size_t)n > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : TEXT_FIRST;
		char *p;

		if (cap > METRICS_TEXT_MAX)
			cap = METRICS_TEXT_MAX;
		p = realloc(t->buf, cap);
		if (p == NULL) {
			t->truncated = 1; /* what is there stays whole */
			return;
		}
		t->buf = p;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, line, (size_t)n);
	t->len += (size_t)n;
}

/* v as a label value: '\', '"' and newline escaped, anything else not
 * printable shown as '?' (names are checked where they come in; this is
 * for a damaged store record). */
static const char *
label(const char *v, char *out, size_t cap)
{
	size_t n = 0;

	for (; *v != '\0' && n + 3 < cap; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '\\' || c == '"') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
	}
	out[n] = '\0';
	return out;
}

static void
family(struct metrics_text *t, const char *name, const char *type,
       const char *help)
{
	text_line(t, "# HELP %s %s\n", name, help);
	text_line(t, "# TYPE %s %s\n", name, type);
}

static void
one(struct metrics_text *t, const char *name, const char *type,
    const char *help, uint64_t v)
{
	family(t, name, type, help);
	text_line(t, "%s %llu\n", name, (unsigned long long)v);
}

/* The reason's name as a label value: "no route" -> "no_route". */
static const char *
reason_label(enum store_dead_reason r, char *out, size_t cap)
{
	snprintf(out, cap, "%s", store_dead_reason_name(r));
	for (char *p = out; *p != '\0'; p++)
		if (*p == ' ')
			*p = '_';
	return out;
}

static void
render_store(struct metrics_text *t, const struct metrics_snap *s)
{
	const struct store_counters *k = &s->counters;
	uint64_t cum = 0;

	one(t, "ferry_store_messages", "gauge",
	    "Messages held in the store: local queues, dead and outbound.",
	    s->stats.msgs);
	one(t, "ferry_store_bytes", "gauge", "Payload bytes held in the store.",
	    s->stats.bytes);
	one(t, "ferry_store_outbound_messages", "gauge",
	    "Messages waiting here for other nodes (in flight included).",
	    s->stats.outbound_msgs);
	one(t, "ferry_store_outbound_bytes", "gauge",
	    "Payload bytes waiting here for other nodes.",
	    s->stats.outbound_bytes);
	one(t, "ferry_store_quota_bytes", "gauge",
	    "store_quota of ferry.conf (0: unlimited).", s->stats.quota_bytes);
	one(t, "ferry_store_commits_total", "counter",
	    "Commits of the store's writer since ferryd started.",
	    s->stats.commits);
	one(t, "ferry_store_operations_total", "counter",
	    "Write operations in those commits.", s->stats.ops);
	family(t, "ferry_store_commit_seconds", "histogram",
	       "Time from the writer taking a batch to its callers being "
	       "answered, log flush included.");
	for (size_t i = 0; i < STORE_COMMIT_BUCKETS; i++) {
		cum += k->commit_bucket[i];
		text_line(t,
			  "ferry_store_commit_seconds_bucket{le=\"%g\"} %llu\n",
			  (double)store_commit_bound_us[i] / 1e6,
			  (unsigned long long)cum);
	}
	cum += k->commit_bucket[STORE_COMMIT_BUCKETS];
	text_line(t, "ferry_store_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
		  (unsigned long long)cum);
	text_line(t, "ferry_store_commit_seconds_sum %llu.%06llu\n",
		  (unsigned long long)(k->commit_sum_us / 1000000),
		  (unsigned long long)(k->commit_sum_us % 1000000));
	text_line(t, "ferry_store_commit_seconds_count %llu\n",
		  (unsigned long long)cum);
	if (s->disk_free_bytes != UINT64_MAX)
		one(t, "ferry_disk_free_bytes", "gauge",
		    "Free space for ferryd on the store's file system.",
		    s->disk_free_bytes);
	one(t, "ferry_disk_reserve_bytes", "gauge",
	    "disk_reserve in use: new sends are refused below it.",
	    s->disk_reserve_bytes);
}

static void
render_queues(struct metrics_text *t, const struct metrics_snap *s)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} fams[] = {
	    {"ferry_queue_messages",
	     "Messages in a local queue, leased ones included (reply.* is "
	     "every reply queue).",
	     offsetof(struct store_queue_stats, msgs)},
	    {"ferry_queue_bytes", "Payload bytes in a local queue.",
	     offsetof(struct store_queue_stats, bytes)},
	    {"ferry_queue_leased_messages",
	     "Messages of a local queue taken under a lease, not yet acked.",
	     offsetof(struct store_queue_stats, leased)},
	};
	char q[2 * FERRY_QUEUE_MAX + 8];

	one(t, "ferry_queues", "gauge",
	    "Local queues, including those not shown one by one.",
	    s->queues_total);
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(t, fams[f].name, "gauge", fams[f].help);
		for (size_t i = 0; i < s->nqueues; i++) {
			const struct store_queue_stats *qs = &s->queues[i];
			uint64_t v;

			memcpy(&v, (const char *)qs + fams[f].off, sizeof(v));
			text_line(t, "%s{queue=\"%s\"} %llu\n", fams[f].name,
				  label(qs->name, q, sizeof(q)),
				  (unsigned long long)v);
		}
	}
}

static void
render_dead(struct metrics_text *t, const struct metrics_snap *s)
{
	char r[64];

	family(t, "ferry_dead_letters_total", "counter",
	       "Messages moved to the dead queue since ferryd started, by "
	       "reason.");
	for (int i = 1; i <= STORE_DEAD_LAST_; i++)
		text_line(t, "ferry_dead_letters_total{reason=\"%s\"} %llu\n",
			  reason_label((enum store_dead_reason)i, r, sizeof(r)),
			  (unsigned long long)s->counters.dead[i]);
}

static void
render_peers(struct metrics_text *t, const struct metrics_snap *s)
{
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
	    {"ferry_peer_up", "gauge",
	     "1 while a session with the peer is up (any transport)."},
	    {"ferry_peer_last_seen_timestamp_seconds", "gauge",
	     "When the peer was last heard from (Unix time; 0: never)."},
	    {"ferry_peer_received_bytes_total", "counter",
	     "Bytes received from the peer on the wire."},
	    {"ferry_peer_sent_bytes_total", "counter",
	     "Bytes sent to the peer on the wire."},
	    {"ferry_peer_received_messages_total", "counter",
	     "Messages taken into custody from the peer."},
	    {"ferry_peer_handed_over_messages_total", "counter",
	     "Messages handed over to the peer."},
	};
	char p[2 * FERRY_NODE_MAX + 8];

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(t, fams[f].name, fams[f].type, fams[f].help);
		for (size_t i = 0; i < s->npeers; i++) {
			const struct peer_status *ps = &s->peers[i];
			uint64_t v = 0;

			switch (f) {
			case 0:
				v = ps->connected ? 1 : 0;
				break;
			case 1:
				v = ps->last_seen_ms > 0
					? (uint64_t)ps->last_seen_ms / 1000
					: 0;
				break;
			case 2:
				v = ps->bytes_in;
				break;
			case 3:
				v = ps->bytes_out;
				break;
			case 4:
				v = ps->msgs_in;
				break;
			default:
				v = ps->msgs_out;
				break;
			}
			text_line(t, "%s{peer=\"%s\"} %llu\n", fams[f].name,
				  label(ps->name, p, sizeof(p)),
				  (unsigned long long)v);
		}
	}
}

static void
render_transports(struct metrics_text *t, const struct metrics_snap *s)
{
	family(t, "ferry_messages_received_total", "counter",
	       "Messages received from peers, by transport.");
	for (size_t i = 0; i < s->ntransports; i++)
		text_line(t,
			  "ferry_messages_received_total{transport=\"%s\"} "
			  "%llu\n",
			  s->transports[i].name,
			  (unsigned long long)s->transports[i].msgs_in);
	family(t, "ferry_messages_handed_over_total", "counter",
	       "Messages handed over to peers (custody taken, or written "
	       "onto a medium or into an HTTP box for them), by transport.");
	for (size_t i = 0; i < s->ntransports; i++)
		text_line(t,
			  "ferry_messages_handed_over_total{transport=\"%s\"} "
			  "%llu\n",
			  s->transports[i].name,
			  (unsigned long long)s->transports[i].msgs_out);
}

int
metrics_render(const struct metrics_snap *s, struct metrics_text *t)
{
	char node[2 * FERRY_NODE_MAX + 8];

	memset(t, 0, sizeof(*t));
	family(t, "ferry_build_info", "gauge",
	       "Always 1: the ferry version and the node's name.");
	text_line(t, "ferry_build_info{version=\"%s\",node=\"%s\"} 1\n",
		  PACKAGE_VERSION, label(s->node, node, sizeof(node)));
	render_store(t, s);
	render_queues(t, s);
	render_dead(t, s);
	render_peers(t, s);
	render_transports(t, s);
	if (t->buf == NULL) {
		t->truncated = 0;
		return FERRY_ENOMEM;
	}
	if (t->truncated) {
		/* TEXT_TAIL was kept for this; the buffer may not have it. */
		static const char cut[] = "# cut here: the rest would pass "
					  "METRICS_TEXT_MAX or find no "
					  "memory\n";
		if (t->cap - t->len < sizeof(cut) - 1) {
			char *p = realloc(t->buf, t->len + sizeof(cut));
			if (p != NULL) {
				t->buf = p;
				t->cap = t->len + sizeof(cut);
			}
		}
		if (t->cap - t->len >= sizeof(cut) - 1) {
			memcpy(t->buf + t->len, cut, sizeof(cut) - 1);
			t->len += sizeof(cut) - 1;
		}
	}
	return 0;
}

void
metrics_text_cleanup(struct metrics_text *t)
{
	if (t == NULL)
		return;
	free(t->buf);
	memset(t, 0, sizeof(*t));
}
