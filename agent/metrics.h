/*
 * metrics.h - the node's numbers in the Prometheus text exposition
 * format (version 0.0.4): served at /metrics on [node] metrics_listen,
 * and printed by `ferry metrics` (the METRICS request), the same text
 * both ways.
 *
 * Two steps, so that the format can be tested without an agent: a
 * snapshot is gathered (metrics_gather: blocking store reads, on the
 * metrics server's thread or a pool thread, never on the loop), then
 * rendered (metrics_render: no I/O, into a buffer that never grows past
 * METRICS_TEXT_MAX).  Families, names and labels: docs/agent.md
 * "Metrics".
 */
#ifndef FERRY_AGENT_METRICS_H
#define FERRY_AGENT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_err.h"
#include "lib/ferry_msg.h"
#include "store/store.h"
#include "transports/transport.h"

struct agent;

/* Local queues shown one by one, in name order; the others are left out
 * (ferry_queues still counts them).  Reply queues (reply.*, one per
 * request) are summed into the one series queue="reply.*". */
#define METRICS_QUEUES_MAX 1000
/* The whole text at most: with 1,000 queues and 1,024 peers of the
 * longest names it needs about 1.5 MiB.  Past it the text is cut at a
 * line end and says so in a last comment line. */
#define METRICS_TEXT_MAX (2u << 20)
/* The label value standing for every reply queue. */
#define METRICS_REPLY_QUEUES FERRY_REPLY_PREFIX "*"

struct metrics_transport {
	const char *name; /* the transport's table name */
	uint64_t msgs_in, msgs_out;
};

/* What one scrape shows.  metrics_snap_cleanup frees it. */
struct metrics_snap {
	char node[FERRY_NODE_MAX + 1];
	struct store_stats stats;
	struct store_counters counters;
	uint64_t disk_free_bytes; /* UINT64_MAX: unknown */
	uint64_t disk_reserve_bytes;
	struct store_queue_stats *queues; /* at most METRICS_QUEUES_MAX + 1
					     (the reply queues' sum last) */
	size_t nqueues;
	uint64_t queues_total; /* every local queue, shown or not */
	struct peer_status *peers;
	size_t npeers;
	struct metrics_transport transports[FERRY_TRANSPORTS_MAX];
	size_t ntransports;
};

/* The rendered text: buf[0..len) (no NUL counted); truncated when it
 * reached METRICS_TEXT_MAX.  metrics_text_cleanup frees it. */
struct metrics_text {
	char *buf;
	size_t len, cap;
	int truncated;
};

/*
 * Gather s for the agent ag, whose node is called node (a copy: the
 * policy belongs to the loop).  Blocking: store reads, every transport's
 * status and counts.  Any thread but the loop.  0, or a store error
 * (FERRY_EDB, FERRY_EIO) or FERRY_ENOMEM; s is then cleaned up.
 */
FERRY_MUST_CHECK int metrics_gather(struct agent *ag, const char *node,
				    struct metrics_snap *s);
void metrics_snap_cleanup(struct metrics_snap *s);

/*
 * Render s into t (initialised here).  0, or FERRY_ENOMEM (t then
 * empty).  A text that would pass METRICS_TEXT_MAX is cut at a line end
 * (t->truncated) and ends with a comment that says so: still valid.
 */
FERRY_MUST_CHECK int metrics_render(const struct metrics_snap *s,
				    struct metrics_text *t);
void metrics_text_cleanup(struct metrics_text *t);

/* metrics_gather, then metrics_render. */
FERRY_MUST_CHECK int metrics_collect(struct agent *ag, const char *node,
				     struct metrics_text *t);

/*
 * The HTTP server of [node] metrics_listen (libmicrohttpd, one thread of
 * its own): GET or HEAD /metrics, anything else 404 (another path) or
 * 405 (another method).  Start on the loop after the transports; 0 (also
 * when metrics_listen is not set) or -1, logged.  Stop before the
 * transports and the store.
 */
int metrics_start(struct agent *ag);
void metrics_stop(struct agent *ag);

#endif
