/*
 * requests_job.c - the job that carries a local request to the store and
 * back (docs/protocol.md §4).
 *
 * A request handler (requests_msg.c, requests_admin.c) fills a struct
 * req_job on the loop thread; job_run() makes its store call on a pool
 * thread; job_done() answers on the loop thread, or only cleans up when
 * the client has gone.  Also here: what every answer shares (error texts,
 * message headers) and the orphan jobs that give back what a departed
 * client held.  No request is decided here: the table in requests.c is.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/requests_int.h"

static void job_run(struct job *j);

/*
 * Sealed bytes of a streamed SEND to the store.  A resumed sealed stream
 * is sent again whole as plaintext; sealing is deterministic (seal.c), so
 * its first seal_skip sealed bytes are what the partial holds: they are
 * compared with it, not written again.
 */
static int
sealed_out(void *arg, const uint8_t *p, size_t n)
{
	struct req_job *r = arg;
	uint8_t tmp[16384];

	while (n > 0 && r->seal_skip > 0) {
		size_t k = n < sizeof(tmp) ? n : sizeof(tmp), got = 0;
		int rc;

		if (k > r->seal_skip)
			k = (size_t)r->seal_skip;
		rc = store_reader_read(r->reader, tmp, k, &got);
		if (rc != 0)
			return rc;
		if (got == 0)
			return FERRY_ECORRUPT;
		if (memcmp(tmp, p, got) != 0) {
			r->why =
			    "the payload differs from what the interrupted "
			    "send with this id stored; that part is "
			    "dropped: send again";
			return FERRY_ESTATE;
		}
		p += got;
		n -= got;
		r->seal_skip -= got;
	}
	return n > 0 ? store_writer_write(r->writer, p, n) : 0;
}

/* The next bytes of a streamed SEND to the store, sealed first with
 * --seal (and the final chunk at the commit). */
static int
stream_write(struct req_job *r, const uint8_t *p, size_t n)
{
	int rc;

	if (r->seal == NULL)
		return store_writer_write(r->writer, p, n);
	rc = seal_enc_update(r->seal, p, n, sealed_out, r);
	if (rc == 0 && r->kind == RK_WCOMMIT)
		rc = seal_enc_final(r->seal, sealed_out, r);
	if (rc == 0 && r->kind == RK_WCOMMIT && r->seal_skip > 0) {
		r->why = "the payload is shorter than what the interrupted "
			 "send with this id stored; that part is dropped: "
			 "send again";
		rc = FERRY_EINVAL;
	}
	return rc;
}
static void job_done(struct job *j);

struct req_job *
rj_new(struct client *c, enum req_kind kind, uint32_t reqid)
{
	struct req_job *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->job.run = job_run;
	r->job.done = job_done;
	r->c = c;
	r->ag = c != NULL ? c->ag : NULL;
	r->kind = kind;
	r->reqid = reqid;
	if (r->ag != NULL)
		r->gen = r->ag->notify_gen;
	return r;
}

struct req_job *
rj_request(struct client *c, enum req_kind kind)
{
	struct req_job *r = rj_new(c, kind, c->reqid);

	if (r == NULL)
		fail_nomem(c, c->reqid);
	return r;
}

void
rj_free(struct req_job *r)
{
	free(r->peers);
	free(r->peer_msgs);
	free(r->peer_bytes);
	free(r->buf);
	free(r->route);
	free(r->list);
	free(r->qlist);
	free(r->plist);
	free(r->status);
	metrics_text_cleanup(&r->metrics);
	seal_dec_free(r->unseal);
	seal_enc_free(r->seal);
	free(r);
}

/* Run r for c; c is BUSY until done (unless it is a subscription take). */
void
rj_submit(struct client *c, struct req_job *r)
{
	client_ref(c);
	if (r->kind != RK_SUBTAKE && r->kind != RK_READ)
		c->state = CS_BUSY;
	jobs_submit(c->ag->jobs, &r->job);
}

/* A job that holds no client: cleanup after a client went away. */
static void
rj_submit_orphan(struct agent *ag, struct req_job *r)
{
	r->c = NULL;
	r->ag = ag;
	jobs_submit(ag->jobs, &r->job);
}

/* Abandon a streamed send whose client is gone or refused. */
void
orphan_abort(struct agent *ag, struct store_writer *w)
{
	struct req_job *a;

	if (w == NULL || (a = rj_new(NULL, RK_WABORT, 0)) == NULL)
		return;
	a->writer = w;
	rj_submit_orphan(ag, a);
}

void
orphan_stream(struct agent *ag, struct store_writer *w, int scoped)
{
	struct req_job *a;

	if (!scoped) {
		orphan_abort(ag, w);
		return;
	}
	if (w == NULL || (a = rj_new(NULL, RK_WSUSPEND, 0)) == NULL) {
		/* Out of memory: the partial stays as last made durable, and
		 * the writer is lost (never owned again: the sweep drops the
		 * partial in time). */
		return;
	}
	a->writer = w;
	rj_submit_orphan(ag, a);
}

/* Give back a message taken for a client that can no longer have it. */
void
orphan_give_back(struct agent *ag, const struct store_msg_info *info,
		 uint64_t token)
{
	struct req_job *n = rj_new(NULL, RK_NACK, 0);

	if (n == NULL)
		return; /* it returns when its lease runs out */
	memcpy(n->id, info->msg.id, FERRY_ID_LEN);
	n->token = token;
	snprintf(n->queue, sizeof(n->queue), "%s", info->queue);
	rj_submit_orphan(ag, n);
}

int
fail_nomem(struct client *c, uint32_t reqid)
{
	client_error(c, reqid, FERRY_ENOMEM, "ferryd is out of memory");
	client_idle(c);
	return -1;
}

/* ------------------------------------------------------- store side */

/* arr with room for one more element of elem bytes (r->nlist used),
 * or NULL when out of memory (arr is then still valid). */
void *
list_grow(struct req_job *r, void *arr, size_t elem)
{
	size_t n;
	void *p;

	if (r->nlist < r->caplist)
		return arr;
	n = r->caplist ? 2 * r->caplist : 16;
	p = realloc(arr, n * elem);
	if (p != NULL)
		r->caplist = n;
	return p;
}

int
collect_info(const struct store_msg_info *info, void *arg)
{
	struct req_job *r = arg;
	struct store_msg_info *l = list_grow(r, r->list, sizeof(*l));

	if (l == NULL)
		return 1;
	r->list = l;
	r->list[r->nlist++] = *info;
	return 0;
}

static void
job_run(struct job *j)
{
	struct req_job *r = (struct req_job *)j;
	struct store *st = r->ag->store;

	switch (r->kind) {
	case RK_PUT:
		/* Never run here: put_async hands puts to the store's writer.
		 */
		break;
	case RK_WOPEN:
		r->rc =
		    store_writer_open_route(st, &r->msg, r->route, &r->writer);
		if (r->rc == FERRY_EBUSY && r->scoped)
			r->rc = stream_resume(st, r);
		break;
	case RK_WWRITE:
	case RK_WCOMMIT:
		r->rc = stream_skip(r);
		if (r->rc == 0)
			r->rc = stream_write(r, r->buf + r->offset,
					     r->len - r->offset);
		if (r->rc != 0) {
			store_writer_abort(r->writer);
			r->writer = NULL;
		} else if (r->kind == RK_WCOMMIT) {
			r->rc = store_writer_commit(r->writer);
			r->writer = NULL;
		}
		break;
	case RK_WABORT:
		store_writer_abort(r->writer);
		r->writer = NULL;
		break;
	case RK_WSUSPEND:
		r->rc = store_writer_suspend(r->writer);
		r->writer = NULL;
		break;
	case RK_WDROP:
		r->rc = partial_drop_own(st, r);
		break;
	case RK_PARTIALS:
		r->rc = store_partials_list(st, AGENT_BROWSE_MAX,
					    collect_partial, r);
		break;
	case RK_TAKE:
	case RK_SUBTAKE:
		if (r->peek) {
			r->rc = store_browse(st, r->queue, 1, collect_info, r);
			if (r->rc == 0 && r->nlist == 0)
				r->rc = FERRY_EEMPTY;
			if (r->rc == 0)
				r->info = r->list[0];
			if (r->rc == 0)
				r->rc = open_payload(st, r);
		} else {
			take_readable(st, r);
		}
		break;
	case RK_GET:
		r->rc = store_get(st, r->id, &r->info);
		if (r->rc != FERRY_ENOTFOUND)
			break;
		if ((r->status = calloc(1, sizeof(*r->status))) == NULL)
			r->rc = FERRY_ENOMEM;
		else if (store_status(st, r->id, r->status) != 0)
			r->status->kind = STORE_ST_UNKNOWN;
		break;
	case RK_ACK:
		r->rc = store_ack(st, r->id, r->token);
		break;
	case RK_NACK:
		if (r->dead_reason != 0)
			r->rc = store_nack_dead(
			    st, r->id, r->token,
			    (enum store_dead_reason)r->dead_reason, r->text);
		else if (r->lease_ms > 0)
			r->rc = store_renew(st, r->id, r->token, r->lease_ms);
		else
			r->rc = store_nack(st, r->id, r->token);
		break;
	case RK_FETCH:
		r->rc = open_payload(st, r);
		break;
	case RK_READ: {
		size_t n = 0;
		if (r->unseal_borrow != NULL)
			r->rc =
			    seal_dec_read(r->unseal_borrow, r->buf, r->len, &n);
		else
			r->rc =
			    store_reader_read(r->borrow, r->buf, r->len, &n);
		r->len = n;
		break;
	}
	case RK_BROWSE:
		r->rc = store_browse(st, r->queue, r->limit, collect_info, r);
		break;
	case RK_QCREATE:
		r->rc = store_queue_create(st, r->queue, &r->lim);
		break;
	case RK_QLIST:
		r->rc = store_queue_list(st, collect_queue, r);
		break;
	case RK_QSTATS:
		r->rc = store_queue_stats(st, r->queue, &r->qs);
		break;
	case RK_QPURGE:
		r->rc = store_queue_purge(st, r->queue, &r->count);
		break;
	case RK_STATUS:
		if ((r->status = calloc(1, sizeof(*r->status))) == NULL)
			r->rc = FERRY_ENOMEM;
		else
			r->rc = store_status(st, r->id, r->status);
		break;
	case RK_INFO:
		r->rc = store_stats(st, &r->stats);
		break;
	case RK_PEERS:
		r->rc = peers_gather(st, r);
		break;
	case RK_METRICS:
		r->rc = metrics_collect(r->ag, r->node, &r->metrics);
		break;
	}
}

/* ------------------------------------------------------------ answers */

/* Who vouches for i's source (FERRY_ORIGIN_*; docs/routing.md). */
static int
origin_of(const struct store_msg_info *i, const char *me)
{
	const struct store_route *r = &i->route;

	if (i->dead_reason == STORE_DEAD_FORGED)
		return FERRY_ORIGIN_FORGED;
	if (r->path[0] == '\0')
		return strcmp(i->msg.src_node, me) == 0 ? FERRY_ORIGIN_LOCAL
							: FERRY_ORIGIN_PEER;
	if (strcmp(r->path, i->msg.src_node) == 0)
		return FERRY_ORIGIN_PEER;
	return (r->sig_flags & STORE_ROUTE_VERIFIED) ? FERRY_ORIGIN_VERIFIED
						     : FERRY_ORIGIN_UNVERIFIED;
}

void
put_info(struct ferry_fbuf *b, const struct store_msg_info *i, const char *me)
{
	ferry_fbuf_msg(b, &i->msg);
	ferry_fbuf_u8(b, FERRY_T_STATE, (uint8_t)i->state);
	if (i->queue[0] != '\0')
		ferry_fbuf_str(b, FERRY_T_QUEUE, i->queue);
	ferry_fbuf_u8(b, FERRY_T_DEAD_REASON, (uint8_t)i->dead_reason);
	ferry_fbuf_u64(b, FERRY_T_DEAD_MS, (uint64_t)i->dead_ms);
	ferry_fbuf_u64(b, FERRY_T_STORED_MS, (uint64_t)i->stored_ms);
	ferry_fbuf_u64(b, FERRY_T_LEASE_UNTIL_MS, (uint64_t)i->lease_until_ms);
	ferry_fbuf_u32(b, FERRY_T_DELIVERIES, i->deliveries);
	if (i->dead_text[0] != '\0')
		ferry_fbuf_str(b, FERRY_T_TEXT, i->dead_text);
	if (i->hop_peer[0] != '\0') {
		ferry_fbuf_str(b, FERRY_T_PEER, i->hop_peer);
		ferry_fbuf_u64(b, FERRY_T_HOP_SINCE_MS,
			       (uint64_t)i->hop_since_ms);
	}
	ferry_fbuf_u8(b, FERRY_T_ORIGIN, (uint8_t)origin_of(i, me));
	if (i->route.path[0] != '\0' &&
	    strcmp(i->route.path, i->msg.src_node) != 0)
		ferry_fbuf_str(b, FERRY_T_PATH, i->route.path);
}

/* What went wrong, for a client: a full disk says how far off, and
 * which setting. */
const char *
err_text(struct client *c, int rc, char *buf, size_t cap)
{
	uint64_t avail = 0, reserve;

	if (rc != FERRY_ENOSPC)
		return ferry_strerror(rc);
	reserve = store_reserve(c->ag->store, &avail);
	snprintf(buf, cap,
		 "disk full: %.1f MiB free, %.1f MiB kept in reserve "
		 "(disk_reserve in ferry.conf; urgent messages may use half "
		 "of it)",
		 (double)avail / 1048576.0, (double)reserve / 1048576.0);
	return buf;
}

void
answer_error(struct client *c, uint32_t reqid, int rc, const char *what)
{
	char why[200];

	client_error(c, reqid, rc, "%s: %s", what,
		     err_text(c, rc, why, sizeof(why)));
}

static void
job_done(struct job *j)
{
	struct req_job *r = (struct req_job *)j;
	struct client *c = r->c;

	if (r->job.cancelled) {
		/* Never ran (ferryd stops): only free what it holds. */
		if (r->reader != NULL)
			store_reader_close(r->reader);
		if (c != NULL)
			client_unref(c);
		rj_free(r);
		return;
	}
	if (c == NULL) {
		/* An orphan cleanup job.  A message given back may be what
		 * a waiting client needs. */
		if (r->kind == RK_NACK && r->rc == 0 && r->queue[0] != '\0')
			notify_queue(r->ag, r->queue);
		if (r->reader != NULL)
			store_reader_close(r->reader);
		rj_free(r);
		return;
	}
	if (c->state == CS_DEAD) {
		if (r->kind == RK_SUBTAKE)
			done_subtake(c, r);
		if (r->kind == RK_READ) {
			c->out_busy = 0;
			client_cleanup_streams(c);
		}
		orphan_stream(r->ag, r->writer, r->scoped);
		if (r->reader != NULL)
			store_reader_close(r->reader);
		/* Taken for a client that left: give it back. */
		if (r->kind == RK_TAKE && r->rc == 0 && !r->peek)
			orphan_give_back(r->ag, &r->info, r->token);
		rj_free(r);
		client_unref(c);
		return;
	}
	switch (r->kind) {
	case RK_PUT:
		done_put(c, r);
		break;
	case RK_WOPEN:
	case RK_WWRITE:
	case RK_WCOMMIT:
		done_stream_in(c, r);
		break;
	case RK_WABORT:
		stream_in_end(c);
		client_error(c, r->reqid, FERRY_EINVAL,
			     "message abandoned by the sender; nothing stored");
		client_idle(c);
		break;
	case RK_WSUSPEND: /* only ever an orphan */
		break;
	case RK_WDROP:
		done_wdrop(c, r);
		break;
	case RK_PARTIALS:
		done_partials(c, r);
		break;
	case RK_TAKE:
	case RK_FETCH:
		done_take(c, r);
		break;
	case RK_SUBTAKE:
		done_subtake(c, r);
		break;
	case RK_GET:
		done_get(c, r);
		break;
	case RK_READ:
		done_read(c, r);
		break;
	case RK_BROWSE:
	case RK_QLIST:
		done_list(c, r);
		break;
	case RK_ACK:
	case RK_NACK:
		done_ack(c, r);
		break;
	case RK_QCREATE:
	case RK_QSTATS:
	case RK_QPURGE:
	case RK_STATUS:
	case RK_INFO:
		done_admin(c, r);
		break;
	case RK_PEERS:
		done_peers(c, r);
		break;
	case RK_METRICS:
		done_metrics(c, r);
		break;
	}
	if (r->reader != NULL)
		store_reader_close(r->reader);
	rj_free(r);
	client_unref(c);
}
