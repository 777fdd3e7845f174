/*
 * bridge.c - [bridge NAME] (docs/bridge.md): the base hands what arrives
 * to the NATS JetStream cluster the site runs, and takes from it what is
 * to go out, with the C client of Debian's libnats-dev (nats.c).
 *
 * Two threads per bridge, on one connection to the cluster:
 *  - drain: takes each message of the matching local queues under a
 *    lease, publishes it to the stream with Nats-Msg-Id = its ferry id,
 *    and acks it here only after JetStream's publish acknowledgement.  A
 *    crash in between publishes it again once the lease runs out, and the
 *    stream's duplicate window drops the copy: the window must be longer
 *    than the lease and a restart (checked at start: BRIDGE_WINDOW_MIN).
 *  - pull: a durable pull consumer on the outbound filter; each message
 *    becomes a ferry message (for the node and queue its Ferry-To header,
 *    or its subject, names) under an id derived from the stream and its
 *    stream sequence, and is acked in JetStream only after ferry's
 *    durable commit: a redelivery is a duplicate here, acked again.
 * Nothing is dropped when the cluster is down: the drain gives messages
 * back and waits, the pull waits; both try again, 0.5 s doubling to 5 s
 * (one publish or fetch a try: cheap for the cluster).
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "agent/agent.h"
#include "agent/bridge.h"
#include "agent/engine.h"
#include "agent/log.h"
#include "agent/msgid.h"
#include "lib/util.h"

#define BRIDGE_LEASE_MS	     15000  /* a message being published */
#define BRIDGE_WINDOW_MIN_MS 120000 /* the stream's duplicate window */
#define BRIDGE_BATCH	     256    /* messages drained per round */
#define BRIDGE_FETCH	     64	    /* messages pulled per fetch */
#define BRIDGE_FETCH_MS	     5000
#define BRIDGE_ACK_WAIT_MS   10000
#define BRIDGE_PUB_WAIT_MS   5000
#define BRIDGE_RETRY_MIN_MS  500
#define BRIDGE_RETRY_MAX_MS  5000
#define BRIDGE_IDLE_MS	     30000 /* the drain looks anyway this often */

struct bridge {
	struct policy_bridge cfg;
	struct agent *ag;
	struct store *st;
	char me[FERRY_NODE_MAX + 1];
	char durable[POLICY_NATS_NAME_MAX + 1];
	pthread_mutex_t mu; /* nc, js, ready, stop, kicked */
	pthread_cond_t cv;
	natsConnection *nc;
	jsCtx *js;
	int ready; /* connected, and the stream's window checked */
	int stop, kicked;
	pthread_t drain, pull, conn;
	int have_drain, have_pull, have_conn;
	int down_said; /* one log line per outage */
};

static struct bridge *bridges;
static size_t nbridges;

/* Sleep ms or until stopped (or kicked, if wake).  1 if stopped. */
static int
nap(struct bridge *b, int64_t ms, int wake)
{
	struct timespec ts;
	int stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&b->mu);
	while (!b->stop && !(wake && b->kicked))
		if (pthread_cond_timedwait(&b->cv, &b->mu, &ts) != 0)
			break;
	if (wake)
		b->kicked = 0;
	stop = b->stop;
	pthread_mutex_unlock(&b->mu);
	return stop;
}

static int
stopping(struct bridge *b)
{
	int s;

	pthread_mutex_lock(&b->mu);
	s = b->stop;
	pthread_mutex_unlock(&b->mu);
	return s;
}

static const char *
nats_why(natsStatus s, jsErrCode jerr, char *buf, size_t cap)
{
	const char *last = nats_GetLastError(NULL);

	snprintf(buf, cap, "%s%s%s (jetstream error %d)", natsStatus_GetText(s),
		 last != NULL && last[0] != '\0' ? ": " : "",
		 last != NULL ? last : "", (int)jerr);
	return buf;
}

/* ------------------------------------------------------------ connect */

/* Is the stream there, with a long enough duplicate window?  0, or -1
 * (logged). */
static int
stream_check(struct bridge *b, jsCtx *js)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, js, b->cfg.stream, NULL, &jerr);
	char why[256];
	int64_t win_ms;

	if (s != NATS_OK) {
		log_error("bridge %s: stream %s: %s; nothing is bridged until "
			  "it exists (create it with the subjects of "
			  "subject = and outbound = and a duplicate window of "
			  "at least %d s; docs/bridge.md)",
			  b->cfg.name, b->cfg.stream,
			  nats_why(s, jerr, why, sizeof(why)),
			  BRIDGE_WINDOW_MIN_MS / 1000);
		return -1;
	}
	win_ms = si->Config->Duplicates / 1000000;
	jsStreamInfo_Destroy(si);
	if (win_ms < BRIDGE_WINDOW_MIN_MS) {
		log_error("bridge %s: stream %s keeps message ids for "
			  "duplicates %lld ms, shorter than the %d s a "
			  "re-publish after a crash may take: nothing is "
			  "bridged until it is raised (duplicate_window; "
			  "docs/bridge.md)",
			  b->cfg.name, b->cfg.stream, (long long)win_ms,
			  BRIDGE_WINDOW_MIN_MS / 1000);
		return -1;
	}
	return 0;
}

/* Set *flag (b->kicked, b->stop) and wake b's threads (any thread). */
static void
bridge_wake(struct bridge *b, int *flag)
{
	pthread_mutex_lock(&b->mu);
	*flag = 1;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* The client reconnected (on its own thread): what waits goes now. */
static void
on_reconnected(natsConnection *nc, void *arg)
{
	struct bridge *b = arg;

	(void)nc;
	bridge_wake(b, &b->kicked);
}

/* The connection thread: connects (the client reconnects by itself
 * afterwards), checks the stream, and says when the bridge is ready. */
static void *
conn_main(void *arg)
{
	struct bridge *b = arg;
	int64_t wait = BRIDGE_RETRY_MIN_MS;
	const char *urls[POLICY_NATS_SERVERS];
	char why[256];

	ferry_thread_name("bridge-conn");

	for (size_t i = 0; i < b->cfg.nnats; i++)
		urls[i] = b->cfg.nats[i];
	while (!stopping(b)) {
		natsOptions *o = NULL;
		natsConnection *nc = NULL;
		jsCtx *js = NULL;
		jsOptions jo;
		natsStatus s = natsOptions_Create(&o);

		if (s == NATS_OK)
			s = natsOptions_SetServers(o, urls, (int)b->cfg.nnats);
		if (s == NATS_OK)
			s = natsOptions_SetMaxReconnect(o, -1); /* forever */
		if (s == NATS_OK)
			s = natsOptions_SetReconnectWait(o, 500);
		if (s == NATS_OK)
			s = natsOptions_SetTimeout(o, 5000);
		if (s == NATS_OK)
			s = natsOptions_SetReconnectedCB(o, on_reconnected, b);
		if (s == NATS_OK)
			s = natsConnection_Connect(&nc, o);
		natsOptions_Destroy(o);
		if (s == NATS_OK) {
			jsOptions_Init(&jo);
			jo.Wait = BRIDGE_PUB_WAIT_MS;
			s = natsConnection_JetStream(&js, nc, &jo);
		}
		if (s == NATS_OK && stream_check(b, js) == 0) {
			pthread_mutex_lock(&b->mu);
			b->nc = nc;
			b->js = js;
			b->ready = 1;
			pthread_cond_broadcast(&b->cv);
			pthread_mutex_unlock(&b->mu);
			log_info("bridge %s: connected to NATS, stream %s "
				 "checked",
				 b->cfg.name, b->cfg.stream);
			return NULL;
		}
		if (s != NATS_OK)
			log_warn("bridge %s: cannot reach NATS (%s): messages "
				 "wait here; trying again in %lld s",
				 b->cfg.name, nats_why(s, 0, why, sizeof(why)),
				 (long long)wait / 1000);
		jsCtx_Destroy(js);
		natsConnection_Destroy(nc);
		if (nap(b, wait, 0))
			break;
		wait = wait * 2 > BRIDGE_RETRY_MAX_MS ? BRIDGE_RETRY_MAX_MS
						      : wait * 2;
	}
	return NULL;
}

/* Wait until the bridge is ready: 1, or 0 when stopped. */
static int
wait_ready(struct bridge *b)
{
	int ok;

	pthread_mutex_lock(&b->mu);
	while (!b->stop && !b->ready)
		pthread_cond_wait(&b->cv, &b->mu);
	ok = !b->stop;
	pthread_mutex_unlock(&b->mu);
	return ok;
}

/* -------------------------------------------------------------- drain */

/* The subject for a message from node in queue: the template with
 * {node} and {queue} replaced.  0, or -1 if it does not fit. */
static int
subject_for(const struct bridge *b, const char *node, const char *queue,
	    char *out, size_t cap)
{
	const char *t = b->cfg.subject;
	size_t n = 0;

	while (*t != '\0') {
		const char *v = NULL;
		size_t skip = 1, len;
		if (strncmp(t, "{node}", 6) == 0)
			v = node, skip = 6;
		else if (strncmp(t, "{queue}", 7) == 0)
			v = queue, skip = 7;
		len = v != NULL ? strlen(v) : 1;
		if (n + len >= cap)
			return -1;
		memcpy(out + n, v != NULL ? v : t, len);
		n += len;
		t += skip;
	}
	out[n] = '\0';
	return 0;
}

struct qlist {
	const struct bridge *b;
	char (*names)[FERRY_QUEUE_MAX + 1];
	size_t n, cap;
};

static int
queue_pick(const struct store_queue_stats *s, void *arg)
{
	struct qlist *l = arg;

	if (s->msgs - s->leased == 0 || l->n == l->cap)
		return 0;
	for (size_t i = 0; i < l->b->cfg.nqueues; i++)
		if (fnmatch(l->b->cfg.queues[i], s->name, 0) == 0) {
			snprintf(l->names[l->n++], FERRY_QUEUE_MAX + 1, "%s",
				 s->name);
			break;
		}
	return 0;
}

static void
hdr(natsMsg *m, const char *k, const char *v)
{
	if (v[0] != '\0')
		(void)natsMsgHeader_Set(m, k, v);
}

/* Publish one taken message.  0 published (acked here), 1 refused for
 * good (moved to dead), or -1: JetStream did not take it (given back). */
static int
publish_one(struct bridge *b, const struct store_msg_info *i, uint64_t token,
	    jsCtx *js, int64_t max_payload)
{
	char hex[FERRY_ID_HEX_LEN + 1], subj[POLICY_NATS_SUBJECT_MAX + 256];
	char num[32], why[256];
	struct store_reader *rd = NULL;
	uint8_t *buf = NULL;
	uint64_t done = 0;
	natsMsg *m = NULL;
	jsPubAck *pa = NULL;
	jsPubOptions po;
	jsErrCode jerr = 0;
	natsStatus s;
	int rc;

	ferry_id_to_hex(i->msg.id, hex);
	if (max_payload > 0 && i->msg.payload_len > (uint64_t)max_payload) {
		char text[200];
		snprintf(text, sizeof(text),
			 "bridge %s: %llu bytes, more than NATS's "
			 "max_payload (%lld)",
			 b->cfg.name, (unsigned long long)i->msg.payload_len,
			 (long long)max_payload);
		log_error("%s: message %s moved to dead", text, hex);
		return store_nack_dead(b->st, i->msg.id, token,
				       STORE_DEAD_HANDLER_FAILED, text) == 0
			   ? 1
			   : -1;
	}
	if (subject_for(b, i->msg.src_node, i->queue, subj, sizeof(subj)) !=
	    0) {
		if (store_nack(b->st, i->msg.id, token) != 0)
			log_debug("bridge %s: nack of %s failed", b->cfg.name,
				  hex);
		return -1;
	}
	rc = store_reader_open(b->st, i->msg.id, &rd);
	if (rc == 0 && (buf = malloc(i->msg.payload_len + 1)) == NULL)
		rc = FERRY_ENOMEM;
	while (rc == 0 && done < i->msg.payload_len) {
		size_t n = 0;
		rc = store_reader_read(rd, buf + done,
				       (size_t)(i->msg.payload_len - done), &n);
		if (rc == 0 && n == 0)
			rc = FERRY_ECORRUPT;
		done += n;
	}
	store_reader_close(rd);
	if (rc != 0) {
		free(buf);
		if (rc == FERRY_ECORRUPT)
			return store_unreadable(b->st, i->msg.id, token) == 0
				   ? 1
				   : -1;
		if (store_nack(b->st, i->msg.id, token) != 0)
			log_debug("bridge %s: nack of %s failed", b->cfg.name,
				  hex);
		return -1;
	}
	s = natsMsg_Create(&m, subj, NULL, (const char *)buf,
			   (int)i->msg.payload_len);
	free(buf);
	if (s == NATS_OK) {
		(void)natsMsgHeader_Set(m, "Nats-Msg-Id", hex);
		hdr(m, "Ferry-Id", hex);
		hdr(m, "Ferry-Source", i->msg.src_node);
		hdr(m, "Ferry-Queue", i->queue);
		snprintf(num, sizeof(num), "%u", i->msg.priority);
		hdr(m, "Ferry-Priority", num);
		snprintf(num, sizeof(num), "%lld",
			 (long long)i->msg.created_ms);
		hdr(m, "Ferry-Created", num);
		hdr(m, "Ferry-Correlation", i->msg.correlation);
		hdr(m, "Ferry-Reply-To", i->msg.reply_to);
		jsPubOptions_Init(&po);
		po.MsgId = hex;
		po.ExpectStream = b->cfg.stream;
		po.MaxWait = BRIDGE_PUB_WAIT_MS;
		s = js_PublishMsg(&pa, js, m, &po, &jerr);
	}
	natsMsg_Destroy(m);
	if (s != NATS_OK) {
		if (store_nack(b->st, i->msg.id, token) != 0)
			log_debug("bridge %s: nack of %s failed", b->cfg.name,
				  hex);
		if (!b->down_said)
			log_warn("bridge %s: JetStream did not take message "
				 "%s (%s): it stays here and is tried again",
				 b->cfg.name, hex,
				 nats_why(s, jerr, why, sizeof(why)));
		b->down_said = 1;
		return -1;
	}
	if (pa->Duplicate)
		log_debug("bridge %s: %s was in stream %s already (a "
			  "re-publish after a crash)",
			  b->cfg.name, hex, b->cfg.stream);
	jsPubAck_Destroy(pa);
	if (b->down_said)
		log_info("bridge %s: JetStream takes messages again",
			 b->cfg.name);
	b->down_said = 0;
	rc = store_ack(b->st, i->msg.id, token);
	if (rc != 0)
		log_warn("bridge %s: %s is in the stream but its ack here "
			 "failed (%s): it is published again, and the "
			 "stream's window drops the copy",
			 b->cfg.name, hex, ferry_strerror(rc));
	return 0;
}

/* One round over the matching queues: messages published, or -1 when
 * JetStream is not taking them. */
static int
drain_round(struct bridge *b)
{
	struct qlist l = {b, NULL, 0, 256};
	struct store_msg_info *i = malloc(sizeof(*i));
	jsCtx *js;
	int64_t maxp;
	int done = 0, rc = 0;

	l.names = calloc(l.cap, sizeof(*l.names));
	if (i == NULL || l.names == NULL) {
		free(i);
		free(l.names);
		return -1;
	}
	pthread_mutex_lock(&b->mu);
	js = b->js;
	maxp = natsConnection_GetMaxPayload(b->nc);
	pthread_mutex_unlock(&b->mu);
	if (store_queue_list(b->st, queue_pick, &l) != 0)
		l.n = 0;
	for (size_t q = 0; q < l.n && rc >= 0 && done < BRIDGE_BATCH; q++) {
		uint64_t token;
		while (done < BRIDGE_BATCH && !stopping(b) &&
		       store_take(b->st, l.names[q], BRIDGE_LEASE_MS, i,
				  &token) == 0) {
			rc = publish_one(b, i, token, js, maxp);
			if (rc < 0)
				break;
			done++;
		}
	}
	free(i);
	free(l.names);
	return rc < 0 ? -1 : done;
}

static void *
drain_main(void *arg)
{
	struct bridge *b = arg;
	int64_t wait = BRIDGE_RETRY_MIN_MS;

	ferry_thread_name("bridge-drain");
	if (!wait_ready(b))
		return NULL;
	while (!stopping(b)) {
		int n = drain_round(b);
		if (n < 0) {
			/* Woken early when the client reconnects. */
			if (nap(b, wait, 1))
				break;
			wait = wait * 2 > BRIDGE_RETRY_MAX_MS
				   ? BRIDGE_RETRY_MAX_MS
				   : wait * 2;
			continue;
		}
		wait = BRIDGE_RETRY_MIN_MS;
		if (n < BRIDGE_BATCH && nap(b, BRIDGE_IDLE_MS, 1))
			break;
	}
	return NULL;
}

/* --------------------------------------------------------------- pull */

/* Where m goes: its Ferry-To header "node/queue", or its subject past
 * the outbound filter's literal prefix, "node.queue".  0 or -1. */
static int
dest_of(const struct bridge *b, natsMsg *m, char node[FERRY_NODE_MAX + 1],
	char queue[FERRY_QUEUE_MAX + 1])
{
	const char *v = NULL, *subj = natsMsg_GetSubject(m);
	const char *f = b->cfg.outbound, *dot;
	size_t pre = 0;

	if (natsMsgHeader_Get(m, "Ferry-To", &v) == NATS_OK && v != NULL) {
		const char *sl = strchr(v, '/');
		if (sl == NULL || (size_t)(sl - v) > FERRY_NODE_MAX ||
		    strlen(sl + 1) > FERRY_QUEUE_MAX)
			return -1;
		memcpy(node, v, (size_t)(sl - v));
		node[sl - v] = '\0';
		snprintf(queue, FERRY_QUEUE_MAX + 1, "%s", sl + 1);
		return ferry_node_name_valid(node) &&
			       ferry_queue_name_valid(queue) &&
			       !ferry_queue_reserved(queue)
			   ? 0
			   : -1;
	}
	/* The literal tokens before the first wildcard. */
	while (f[pre] != '\0' && f[pre] != '*' && f[pre] != '>')
		pre++;
	if (subj == NULL || strncmp(subj, f, pre) != 0)
		return -1;
	subj += pre;
	dot = strchr(subj, '.');
	if (dot == NULL || (size_t)(dot - subj) > FERRY_NODE_MAX ||
	    strlen(dot + 1) > FERRY_QUEUE_MAX)
		return -1;
	memcpy(node, subj, (size_t)(dot - subj));
	node[dot - subj] = '\0';
	snprintf(queue, FERRY_QUEUE_MAX + 1, "%s", dot + 1);
	return ferry_node_name_valid(node) && ferry_queue_name_valid(queue) &&
		       !ferry_queue_reserved(queue)
		   ? 0
		   : -1;
}

/* Store one pulled message; ack it in JetStream after the commit.
 * 0, or -1 (store full: it comes back later). */
static int
take_one(struct bridge *b, natsMsg *nm)
{
	struct ferry_msg m;
	struct store_route route;
	jsMsgMetaData *meta = NULL;
	const char *v = NULL;
	char hex[FERRY_ID_HEX_LEN + 1], hops[1][FERRY_NODE_MAX + 1];
	size_t nh = 0;
	int rc, local;

	ferry_msg_init(&m);
	memset(&route, 0, sizeof(route));
	if (natsMsg_GetMetaData(&meta, nm) != NATS_OK) {
		(void)natsMsg_Nak(nm, NULL);
		return 0;
	}
	msgid_nats(b->cfg.stream, meta->Sequence.Stream, m.id);
	jsMsgMetaData_Destroy(meta);
	ferry_id_to_hex(m.id, hex);
	if (dest_of(b, nm, m.dst_node, m.dst_queue) != 0) {
		log_error("bridge %s: a message on %s names no ferry "
			  "destination (a Ferry-To: NODE/QUEUE header, or a "
			  "subject ending in NODE.QUEUE): terminated in "
			  "JetStream, not delivered",
			  b->cfg.name, natsMsg_GetSubject(nm));
		(void)natsMsg_Term(nm, NULL);
		return 0;
	}
	snprintf(m.src_node, sizeof(m.src_node), "%s", b->me);
	if (natsMsgHeader_Get(nm, "Ferry-Priority", &v) == NATS_OK &&
	    v != NULL && v[0] >= '0' && v[0] <= '7' && v[1] == '\0')
		m.priority = (uint8_t)(v[0] - '0');
	if (natsMsgHeader_Get(nm, "Ferry-Correlation", &v) == NATS_OK &&
	    v != NULL && strlen(v) <= FERRY_CORR_MAX)
		snprintf(m.correlation, sizeof(m.correlation), "%s", v);
	if (natsMsgHeader_Get(nm, "Ferry-Reply-To", &v) == NATS_OK &&
	    v != NULL && ferry_queue_name_valid(v))
		snprintf(m.reply_to, sizeof(m.reply_to), "%s", v);
	m.created_ms = ferry_wall_ms();
	local = strcmp(m.dst_node, b->me) == 0;
	if (!local &&
	    engine_hops(m.dst_node, NULL, hops, 1, &nh) == ENGINE_NO_ROUTE) {
		/* Kept, where an operator sees it: not lost. */
		route.dead = STORE_DEAD_NO_ROUTE;
		log_warn("bridge %s: %s for %s/%s: no route to %s; put in "
			 "dead",
			 b->cfg.name, hex, m.dst_node, m.dst_queue, m.dst_node);
	}
	{
		struct store_put_req req = {0};
		req.msg = &m;
		req.payload = natsMsg_GetData(nm);
		req.len = (size_t)natsMsg_GetDataLength(nm);
		req.route = route.dead != STORE_DEAD_NONE ? &route : NULL;
		rc = store_put_batch(b->st, &req, 1);
		if (rc == 0)
			rc = req.result;
	}
	if (rc == 0 || rc == FERRY_EDUPLICATE) {
		jsErrCode jerr = 0;
		if (rc == 0 && route.dead == STORE_DEAD_NONE) {
			if (local)
				engine_arrived(b->ag, m.dst_queue);
			else
				engine_kick(b->ag, m.dst_node, m.priority);
		}
		if (natsMsg_AckSync(nm, NULL, &jerr) != NATS_OK)
			log_debug("bridge %s: ack of %s lost: it is "
				  "redelivered and found a duplicate here",
				  b->cfg.name, hex);
		return 0;
	}
	if (rc == FERRY_EINVAL || rc == FERRY_ETOOBIG) {
		log_error("bridge %s: %s for %s/%s refused here (%s): "
			  "terminated in JetStream",
			  b->cfg.name, hex, m.dst_node, m.dst_queue,
			  ferry_strerror(rc));
		(void)natsMsg_Term(nm, NULL);
		return 0;
	}
	log_warn("bridge %s: %s for %s/%s not stored (%s): JetStream "
		 "redelivers it later",
		 b->cfg.name, hex, m.dst_node, m.dst_queue, ferry_strerror(rc));
	(void)natsMsg_NakWithDelay(nm, BRIDGE_RETRY_MAX_MS, NULL);
	return -1;
}

static void *
pull_main(void *arg)
{
	struct bridge *b = arg;
	natsSubscription *sub = NULL;
	int64_t wait = BRIDGE_RETRY_MIN_MS;
	char why[256];

	ferry_thread_name("bridge-pull");

	if (!wait_ready(b))
		return NULL;
	while (!stopping(b)) {
		natsMsgList list = {0};
		jsErrCode jerr = 0;
		natsStatus s = NATS_OK;
		int bad = 0;

		if (sub == NULL) {
			jsSubOptions so;
			jsSubOptions_Init(&so);
			so.Stream = b->cfg.stream;
			so.Config.AckPolicy = js_AckExplicit;
			so.Config.MaxAckPending = 4 * BRIDGE_FETCH;
			/* Fetched by a ferryd killed before its ack: sent
			 * again after this (a duplicate here is acked). */
			so.Config.AckWait =
			    (int64_t)BRIDGE_ACK_WAIT_MS * 1000000;
			s = js_PullSubscribe(&sub, b->js, b->cfg.outbound,
					     b->durable, NULL, &so, &jerr);
		}
		if (s == NATS_OK)
			s = natsSubscription_Fetch(&list, sub, BRIDGE_FETCH,
						   BRIDGE_FETCH_MS, &jerr);
		if (s == NATS_TIMEOUT) {
			wait = BRIDGE_RETRY_MIN_MS;
			continue;
		}
		if (s != NATS_OK) {
			if (stopping(b))
				break;
			log_warn("bridge %s: pull from %s: %s; tried again",
				 b->cfg.name, b->cfg.outbound,
				 nats_why(s, jerr, why, sizeof(why)));
			natsSubscription_Destroy(sub);
			sub = NULL;
			if (nap(b, wait, 0))
				break;
			wait = wait * 2 > BRIDGE_RETRY_MAX_MS
				   ? BRIDGE_RETRY_MAX_MS
				   : wait * 2;
			continue;
		}
		wait = BRIDGE_RETRY_MIN_MS;
		for (int k = 0; k < list.Count; k++)
			if (bad)
				(void)natsMsg_Nak(list.Msgs[k], NULL);
			else if (take_one(b, list.Msgs[k]) != 0)
				bad = 1;
		natsMsgList_Destroy(&list);
		if (bad && nap(b, BRIDGE_RETRY_MAX_MS, 0))
			break;
	}
	natsSubscription_Destroy(sub);
	return NULL;
}

/* ---------------------------------------------------------- start, stop */

void
bridge_kick(void)
{
	for (size_t k = 0; k < nbridges; k++)
		bridge_wake(&bridges[k], &bridges[k].kicked);
}

int
bridge_start(struct agent *ag)
{
	const struct policy *p = &ag->pol;

	if (p->nbridges == 0)
		return 0;
	bridges = calloc(p->nbridges, sizeof(*bridges));
	if (bridges == NULL)
		return -1;
	for (size_t k = 0; k < p->nbridges; k++) {
		struct bridge *b = &bridges[k];
		b->cfg = p->bridges[k];
		b->ag = ag;
		b->st = ag->store;
		snprintf(b->me, sizeof(b->me), "%s", p->node_name);
		if (b->cfg.durable[0] != '\0')
			snprintf(b->durable, sizeof(b->durable), "%s",
				 b->cfg.durable);
		else {
			/* Shared by the bases that bridge one stream: each
			 * outbound message goes out through one of them. */
			snprintf(b->durable, sizeof(b->durable), "ferry_%.57s",
				 b->cfg.name);
			for (char *c = b->durable; *c != '\0'; c++)
				if (*c == '.')
					*c = '_';
		}
		pthread_mutex_init(&b->mu, NULL);
		pthread_cond_init(&b->cv, NULL);
		nbridges++;
		b->have_conn =
		    pthread_create(&b->conn, NULL, conn_main, b) == 0;
		if (b->cfg.nqueues > 0)
			b->have_drain =
			    pthread_create(&b->drain, NULL, drain_main, b) == 0;
		if (b->cfg.outbound[0] != '\0')
			b->have_pull =
			    pthread_create(&b->pull, NULL, pull_main, b) == 0;
		if (!b->have_conn || (b->cfg.nqueues > 0 && !b->have_drain) ||
		    (b->cfg.outbound[0] != '\0' && !b->have_pull)) {
			log_error("bridge %s: cannot start its threads",
				  b->cfg.name);
			return -1;
		}
		log_info("bridge %s: %zu queue pattern%s to stream %s%s%s",
			 b->cfg.name, b->cfg.nqueues,
			 b->cfg.nqueues == 1 ? "" : "s", b->cfg.stream,
			 b->cfg.outbound[0] != '\0' ? ", sends from " : "",
			 b->cfg.outbound);
	}
	return 0;
}

void
bridge_stop(void)
{
	for (size_t k = 0; k < nbridges; k++) {
		struct bridge *b = &bridges[k];
		bridge_wake(b, &b->stop);
		if (b->have_conn)
			pthread_join(b->conn, NULL);
		/* A fetch under way returns at once. */
		if (b->nc != NULL)
			natsConnection_Close(b->nc);
		if (b->have_drain)
			pthread_join(b->drain, NULL);
		if (b->have_pull)
			pthread_join(b->pull, NULL);
		jsCtx_Destroy(b->js);
		natsConnection_Destroy(b->nc);
		pthread_cond_destroy(&b->cv);
		pthread_mutex_destroy(&b->mu);
	}
	free(bridges);
	bridges = NULL;
	if (nbridges > 0)
		nats_Close();
	nbridges = 0;
}
