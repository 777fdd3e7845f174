/*
 * sneak_req.c - the local API's EXPORT and IMPORT requests: run
 * sneak_run() (transports/filedrop.c) on a pool thread, send PROGRESS frames
 * from a loop timer while it works, and OK with the summary when it is done.
 *
 * The job holds a reference on the client (invariant 2 of agent.h); a
 * client that goes away cancels the run at its next boundary (a message
 * or a bundle), which leaves the medium and the store consistent.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "transports/filedrop.h"

#define PROGRESS_MS 250

struct sneak_req {
	struct job job;
	struct client *c;
	struct agent *ag;
	uint32_t reqid;
	struct event *tick;
	struct sneak_progress prog;
	struct sneak_job sj;
};

static void
sr_run(struct job *jb)
{
	struct sneak_req *r = (struct sneak_req *)jb;

	(void)sneak_run(&r->sj);
}

static void
sr_free(struct sneak_req *r)
{
	if (r->tick != NULL)
		event_free(r->tick);
	pthread_mutex_destroy(&r->prog.mu);
	free(r->sj.peers);
	free(r);
}

static void
sr_done(struct job *jb)
{
	struct sneak_req *r = (struct sneak_req *)jb;
	struct client *c = r->c;
	struct ferry_fbuf b;

	if (c->state != CS_DEAD) {
		if (jb->cancelled || (r->sj.rc != 0 && r->sj.slen == 0)) {
			client_error(
			    c, r->reqid,
			    jb->cancelled ? FERRY_ECLOSED : r->sj.rc,
			    "%s failed: %s", r->sj.export ? "export" : "import",
			    ferry_strerror(jb->cancelled ? FERRY_ECLOSED
							 : r->sj.rc));
		} else {
			/* The summary is the answer, even after an error. */
			agent_frame(r->ag, &b, FERRY_F_OK, 0, r->reqid);
			ferry_fbuf_u32(&b, FERRY_T_CODE, (uint32_t)r->sj.rc);
			ferry_fbuf_u64(&b, FERRY_T_COUNT, r->sj.msgs);
			ferry_fbuf_u64(&b, FERRY_T_BYTES, r->sj.bytes);
			ferry_fbuf_u64(&b, FERRY_T_BUNDLES, r->sj.bundles);
			ferry_fbuf_u64(&b, FERRY_T_REJECTED, r->sj.rejected);
			ferry_fbuf_str(&b, FERRY_T_SUMMARY, r->sj.summary);
			client_send(c, &b);
		}
		client_idle(c);
	}
	client_unref(c);
	sr_free(r);
}

static void
sr_tick(evutil_socket_t fd, short what, void *arg)
{
	struct sneak_req *r = arg;
	struct client *c = r->c;
	struct ferry_fbuf b;
	char text[96];
	uint64_t done, total;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&r->prog.mu);
	if (c->state == CS_DEAD)
		r->prog.cancel = 1;
	memcpy(text, r->prog.what, sizeof(text));
	done = r->prog.done;
	total = r->prog.total;
	pthread_mutex_unlock(&r->prog.mu);
	if (c->state == CS_DEAD || text[0] == '\0')
		return;
	/* Progress is advisory: skip it while the client is slow to read. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 65536)
		return;
	agent_frame(r->ag, &b, FERRY_F_PROGRESS, 0, r->reqid);
	ferry_fbuf_str(&b, FERRY_T_TEXT, text);
	ferry_fbuf_u64(&b, FERRY_T_BYTES, done);
	ferry_fbuf_u64(&b, FERRY_T_TOTAL, total);
	client_send(c, &b);
}

/* Copy the configured peers for a job (no pointer into the policy). */
static int
sneak_peers_copy(const struct agent *ag, struct sneak_peer **out, size_t *n)
{
	const struct policy *pol = &ag->pol;
	struct sneak_peer *p;

	*out = NULL;
	*n = 0;
	if (pol->npeers == 0)
		return 0;
	p = calloc(pol->npeers, sizeof(*p));
	if (p == NULL)
		return FERRY_ENOMEM;
	for (size_t i = 0; i < pol->npeers; i++) {
		const struct policy_peer *pp = &pol->peers[i];
		snprintf(p[i].name, sizeof(p[i].name), "%s", pp->name);
		memcpy(p[i].sign_pk, pp->sign_pk, 32);
		memcpy(p[i].kx_pk, pp->kx_pk, 32);
		identity_node_id(pp->sign_pk, pp->kx_pk, p[i].id);
		identity_fingerprint(pp->sign_pk, pp->kx_pk, p[i].fpr);
	}
	*out = p;
	*n = pol->npeers;
	return 0;
}

/* Fill the parts of a job that come from the agent. */
int
sneak_job_init(const struct agent *ag, struct sneak_job *sj)
{
	sj->st = ag->store;
	sj->me = ag->id;
	sj->max_message = ag->pol.max_message_bytes;
	snprintf(sj->node, sizeof(sj->node), "%s", ag->pol.node_name);
	snprintf(sj->state_dir, sizeof(sj->state_dir), "%s", ag->pol.state_dir);
	return sneak_peers_copy(ag, &sj->peers, &sj->npeers);
}

void
request_sneak(struct client *c, const struct ferry_fields *fl, int export)
{
	struct sneak_req *r;
	struct timeval tv = {0, PROGRESS_MS * 1000};
	const char *p;

	if (!client_allowed(c, POLICY_OP_ADMIN, "")) {
		client_error(c, c->reqid, FERRY_EPERM,
			     "uid %ld may not %s (needs admin in [acl] of "
			     "ferry.conf)",
			     (long)c->uid, export ? "export" : "import");
		client_idle(c);
		return;
	}
	if (!FERRY_HAS(fl, FERRY_T_DIR) || fl->dir[0] != '/') {
		client_error(c, c->reqid, FERRY_EINVAL,
			     "%s needs the medium's folder as an absolute "
			     "path",
			     export ? "export" : "import");
		client_idle(c);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL || pthread_mutex_init(&r->prog.mu, NULL) != 0) {
		free(r);
		client_error(c, c->reqid, FERRY_ENOMEM, "out of memory");
		client_idle(c);
		return;
	}
	r->c = c;
	r->ag = c->ag;
	r->reqid = c->reqid;
	r->job.run = sr_run;
	r->job.done = sr_done;
	r->sj.export = export;
	r->sj.prog = &r->prog;
	snprintf(r->sj.dir, sizeof(r->sj.dir), "%s", fl->dir);
	r->sj.max_bytes = fl->max_bytes;
	r->sj.min_priority = FERRY_HAS(fl, FERRY_T_PRIORITY) ? fl->priority : 0;
	r->sj.again = (fl->flags & 1u) != 0;
	r->sj.keep = (fl->flags & 2u) != 0;
	r->sj.segment = fl->segment;
	r->sj.skew_ms =
	    (int64_t)(fl->skew_ms > (1ull << 40) ? (1ull << 40) : fl->skew_ms);
	if (r->sj.segment != 0 &&
	    (r->sj.segment < (1u << 20) || r->sj.segment > (4ull << 30) - 1)) {
		sr_free(r);
		client_error(c, c->reqid, FERRY_EINVAL,
			     "segment size must be 1 MiB to 4 GiB - 1");
		client_idle(c);
		return;
	}
	for (p = fl->peers; *p != '\0' && r->sj.nonly < SNEAK_PEERS_MAX;) {
		size_t n = strcspn(p, ",");
		if (n > 0 && n <= FERRY_NODE_MAX) {
			memcpy(r->sj.only[r->sj.nonly], p, n);
			r->sj.only[r->sj.nonly++][n] = '\0';
		}
		p += n;
		if (*p == ',')
			p++;
	}
	if (sneak_job_init(c->ag, &r->sj) != 0) {
		sr_free(r);
		client_error(c, c->reqid, FERRY_ENOMEM, "out of memory");
		client_idle(c);
		return;
	}
	r->tick = event_new(c->ag->base, -1, EV_PERSIST, sr_tick, r);
	if (r->tick == NULL || event_add(r->tick, &tv) != 0) {
		sr_free(r);
		client_error(c, c->reqid, FERRY_ENOMEM, "out of memory");
		client_idle(c);
		return;
	}
	client_ref(c);
	c->state = CS_BUSY;
	jobs_submit(c->ag->jobs, &r->job);
}
