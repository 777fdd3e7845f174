/*
 * metrics.c - what /metrics shows, gathered, and the HTTP server of
 * [node] metrics_listen that serves it (docs/agent.md "Metrics").
 *
 * Owns: the metrics server (one libmicrohttpd daemon with its own poll
 * thread) and, for the length of one scrape, the snapshot it gathers.
 * Does not own anything it reads: the store's counters (store.h), each
 * transport's status and counts (transport.h, through engine_peers), the
 * queue records.  It never touches the loop's state: the node's name is
 * copied at start, and every read it makes is one that any thread may
 * make.  So a scrape, which reads the disk, blocks only the metrics
 * thread (or the pool thread of a `ferry metrics`), never the loop.
 *
 * Unauthenticated, like most exporters: it shows counts and the names of
 * queues and peers, and changes nothing.  metrics_listen defaults to
 * nowhere, and a port alone binds 127.0.0.1; to scrape from elsewhere
 * put a proxy with authentication in front (ferry.conf(5)).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "agent/agent.h"
#include "agent/engine.h"
#include "agent/metrics.h"
#include "lib/util.h"

#define METRICS_CONNS	 16	     /* connections at once */
#define METRICS_IDLE_S	 10	     /* a silent connection is closed */
#define METRICS_CONN_MEM (16u << 10) /* MHD's pool per connection */
#define METRICS_TYPE	 "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_WARN_MS	 (60 * 1000) /* one warning a minute at most */

struct metrics_server {
	struct agent *ag;
	struct MHD_Daemon *d;
	char node[FERRY_NODE_MAX + 1];
	char where[POLICY_HOST_MAX + 16]; /* host:port, for logs */
	int64_t warned_ms; /* the last warning (the server's thread only) */
	unsigned unwarned; /* scrapes that went wrong since, not logged */
};

/* ------------------------------------------------------------ gather */

struct queue_walk {
	struct metrics_snap *s;
	struct store_queue_stats reply; /* every reply queue, summed */
	uint64_t nreply;
};

static int
queue_seen(const struct store_queue_stats *q, void *arg)
{
	struct queue_walk *w = arg;
	struct metrics_snap *s = w->s;

	s->queues_total++;
	if (ferry_queue_is_reply(q->name)) {
		w->nreply++;
		w->reply.msgs += q->msgs;
		w->reply.bytes += q->bytes;
		w->reply.leased += q->leased;
		return 0;
	}
	if (s->nqueues < METRICS_QUEUES_MAX)
		s->queues[s->nqueues++] = *q;
	return 0;
}

int
metrics_gather(struct agent *ag, const char *node, struct metrics_snap *s)
{
	struct queue_walk w;
	size_t n;
	int rc;

	memset(s, 0, sizeof(*s));
	snprintf(s->node, sizeof(s->node), "%s", node);
	if ((rc = store_stats(ag->store, &s->stats)) != 0)
		goto out;
	store_counters(ag->store, &s->counters);
	s->disk_reserve_bytes = store_reserve(ag->store, &s->disk_free_bytes);

	/* One more than shown: the reply queues' sum. */
	s->queues = calloc(METRICS_QUEUES_MAX + 1, sizeof(*s->queues));
	if (s->queues == NULL) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	memset(&w, 0, sizeof(w));
	w.s = s;
	if ((rc = store_queue_list(ag->store, queue_seen, &w)) != 0)
		goto out;
	if (w.nreply > 0) {
		snprintf(w.reply.name, sizeof(w.reply.name), "%s",
			 METRICS_REPLY_QUEUES);
		s->queues[s->nqueues++] = w.reply;
	}

	n = engine_peers(ag, NULL, 0);
	if (n > 0) {
		s->peers = calloc(n, sizeof(*s->peers));
		if (s->peers == NULL) {
			rc = FERRY_ENOMEM;
			goto out;
		}
		s->npeers = engine_peers(ag, s->peers, n);
		if (s->npeers > n)
			s->npeers = n;
	}

	for (size_t t = 0; ferry_transports[t] != NULL &&
			   s->ntransports < FERRY_TRANSPORTS_MAX;
	     t++) {
		const struct transport_ops *o = ferry_transports[t];
		struct metrics_transport *mt;

		if (o->counts == NULL)
			continue;
		mt = &s->transports[s->ntransports++];
		mt->name = o->name;
		o->counts(ag->tstate[t], &mt->msgs_in, &mt->msgs_out);
	}
	return 0;
out:
	metrics_snap_cleanup(s);
	return rc;
}

void
metrics_snap_cleanup(struct metrics_snap *s)
{
	if (s == NULL)
		return;
	free(s->queues);
	free(s->peers);
	memset(s, 0, sizeof(*s));
}

int
metrics_collect(struct agent *ag, const char *node, struct metrics_text *t)
{
	struct metrics_snap s;
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = metrics_gather(ag, node, &s)) != 0)
		return rc;
	rc = metrics_render(&s, t);
	metrics_snap_cleanup(&s);
	return rc;
}

/* ------------------------------------------------------------- serve */

static enum MHD_Result
answer_text(struct MHD_Connection *con, unsigned code, const char *text,
	    const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
					    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(r, "Content-Type",
				      "text/plain; charset=utf-8");
	if (allow != NULL)
		(void)MHD_add_response_header(r, "Allow", allow);
	ok = MHD_queue_response(con, code, r);
	MHD_destroy_response(r);
	return ok;
}

/* Is a warning due?  Scrapes come every few seconds: one line a minute,
 * counting the ones it did not log. */
static int
warn_due(struct metrics_server *ms, unsigned *skipped)
{
	int64_t now = ferry_wall_ms();

	if (ms->warned_ms != 0 && now - ms->warned_ms < METRICS_WARN_MS &&
	    now >= ms->warned_ms) {
		ms->unwarned++;
		return 0;
	}
	ms->warned_ms = now;
	*skipped = ms->unwarned;
	ms->unwarned = 0;
	return 1;
}

/* One scrape: gathered and rendered here, on the server's thread. */
static enum MHD_Result
answer_metrics(struct metrics_server *ms, struct MHD_Connection *con)
{
	struct metrics_text t;
	struct MHD_Response *r;
	enum MHD_Result ok;
	unsigned skipped = 0;
	int rc;

	rc = metrics_collect(ms->ag, ms->node, &t);
	if (rc != 0) {
		if (warn_due(ms, &skipped))
			log_warn("metrics: cannot gather them for a scrape of "
				 "%s: %s (answered 503; %u more not logged)",
				 ms->where, ferry_strerror(rc), skipped);
		return answer_text(con, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "cannot gather the metrics now (see "
				   "ferryd's log)\n",
				   NULL);
	}
	if (t.truncated && warn_due(ms, &skipped))
		log_warn("metrics: the text was cut at %zu bytes "
			 "(METRICS_TEXT_MAX; %u more not logged)",
			 t.len, skipped);
	/* MHD frees the buffer with free() once it is sent. */
	r = MHD_create_response_from_buffer(t.len, t.buf,
					    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		metrics_text_cleanup(&t);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, "Content-Type", METRICS_TYPE);
	(void)MHD_add_response_header(r, "Cache-Control", "no-store");
	ok = MHD_queue_response(con, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ok;
}

/* libmicrohttpd's access handler.  A request body (a POST) is never
 * read: the answer is queued at the first call, and MHD closes the
 * connection after it. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *con, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **con_cls)
{
	struct metrics_server *ms = cls;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (url == NULL || strcmp(url, "/metrics") != 0)
		return answer_text(con, MHD_HTTP_NOT_FOUND,
				   "not found: the metrics are at /metrics\n",
				   NULL);
	if (method == NULL || (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
			       strcmp(method, MHD_HTTP_METHOD_HEAD) != 0))
		return answer_text(con, MHD_HTTP_METHOD_NOT_ALLOWED,
				   "only GET and HEAD\n", "GET, HEAD");
	return answer_metrics(ms, con);
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("metrics server: %s", line);
}

/* A listening socket on ep, or -1 (logged). */
static int
listen_on(const struct policy_endpoint *ep, const char *where)
{
	char why[160];
	int fd = ferry_listen_tcp(ep->host, ep->port, 16, why, sizeof(why));

	if (fd < 0)
		log_error("metrics_listen %s: %s", where, why);
	return fd;
}

int
metrics_start(struct agent *ag)
{
	const struct policy_endpoint *ep = &ag->pol.metrics_listen;
	struct metrics_server *ms;
	int fd;

	if (ep->port == 0)
		return 0;
	ms = calloc(1, sizeof(*ms));
	if (ms == NULL) {
		log_error("metrics: out of memory");
		return -1;
	}
	ms->ag = ag;
	snprintf(ms->node, sizeof(ms->node), "%s", ag->pol.node_name);
	snprintf(ms->where, sizeof(ms->where),
		 strchr(ep->host, ':') != NULL ? "[%s]:%u" : "%s:%u", ep->host,
		 ep->port);
	if ((fd = listen_on(ep, ms->where)) < 0) {
		free(ms);
		return -1;
	}
	/* poll(2), as the HTTP transport (transports/http_server.c): one
	 * thread; a scrape is gathered on it, one at a time. */
	ms->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, ms, MHD_OPTION_EXTERNAL_LOGGER,
	    on_mhd_log, ms, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONNS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_IDLE_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_CONN_MEM,
	    MHD_OPTION_END);
	if (ms->d == NULL) {
		log_error("metrics_listen %s: the metrics server does not "
			  "start",
			  ms->where);
		close(fd);
		free(ms);
		return -1;
	}
	ag->metrics = ms;
	log_info("metrics: serving http://%s/metrics (unauthenticated)",
		 ms->where);
	return 0;
}

void
metrics_stop(struct agent *ag)
{
	struct metrics_server *ms = ag->metrics;
	MHD_socket fd;

	if (ms == NULL)
		return;
	fd = MHD_quiesce_daemon(ms->d);
	MHD_stop_daemon(ms->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	free(ms);
	ag->metrics = NULL;
}
