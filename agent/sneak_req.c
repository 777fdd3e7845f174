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
#include <sys/socket.h>
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
	struct event *ev_fd; /* waits for the folder's descriptor */
};

static void
sr_run(struct job *jb)
{
	struct sneak_req *r = (struct sneak_req *)jb;

	(void)sneak_run(&r->sj);
	filedrop_count(&r->sj);
}

static void
sr_free(struct sneak_req *r)
{
	if (r->tick != NULL)
		event_free(r->tick);
	if (r->ev_fd != NULL)
		event_free(r->ev_fd);
	if (r->sj.use_fd)
		close(r->sj.dir_fd);
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
		p[i].compress_level = pp->compress_level;
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

/*
 * Could the client write into the folder sb describes, by its own
 * credentials (owner, group, others bits; root may)?  ferryd writes there
 * with its own rights: it must not do for a client what the client could
 * not (a confused deputy).
 */
static int
client_may_write(const struct client *c, const struct stat *sb)
{
	if (c->uid == 0)
		return 1;
	if (sb->st_uid == c->uid)
		return (sb->st_mode & 0300) == 0300;
	if (sb->st_gid == c->gid)
		return (sb->st_mode & 0030) == 0030;
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == sb->st_gid)
			return (sb->st_mode & 0030) == 0030;
	return (sb->st_mode & 0003) == 0003;
}

static void
sr_start(struct sneak_req *r)
{
	client_ref(r->c);
	r->c->state = CS_BUSY;
	jobs_submit(r->ag->jobs, &r->job);
}

/* Refuse r (not started yet) and let the client go on. */
static void
sr_refuse(struct sneak_req *r, int code, const char *why)
{
	struct client *c = r->c;

	if (c->state != CS_DEAD) {
		client_error(c, r->reqid, code, "%s", why);
		client_idle(c);
	}
	sr_free(r);
}

/* The client's one byte with the folder's descriptor (SCM_RIGHTS). */
static void
on_dirfd(evutil_socket_t fd, short what, void *arg)
{
	struct sneak_req *r = arg;
	struct client *c = r->c;
	char byte, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&byte, 1};
	struct msghdr mh;
	struct cmsghdr *cm;
	struct stat sb;
	const char *verb = r->sj.export ? "export" : "import";
	char why[SNEAK_PATH_MAX + 160];
	int dfd = -1;
	ssize_t n;

	client_unref(c); /* taken while waiting */
	if (c->state == CS_DEAD) {
		sr_free(r);
		return;
	}
	bufferevent_enable(c->bev, EV_READ);
	if (what & EV_TIMEOUT) {
		snprintf(why, sizeof(why),
			 "%s: the folder's descriptor did not come", verb);
		sr_refuse(r, FERRY_ETIMEDOUT, why);
		return;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof(ctl);
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	for (cm = n == 1 ? CMSG_FIRSTHDR(&mh) : NULL; cm != NULL;
	     cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&dfd, CMSG_DATA(cm), sizeof(int));
	if (dfd < 0 || (mh.msg_flags & MSG_CTRUNC)) {
		if (dfd >= 0)
			close(dfd);
		snprintf(why, sizeof(why),
			 "%s: expected the folder's descriptor", verb);
		sr_refuse(r, FERRY_EPROTO, why);
		return;
	}
	r->sj.dir_fd = dfd;
	r->sj.use_fd = 1;
	if (fstat(dfd, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(why, sizeof(why), "%s is not a folder", r->sj.shown);
		sr_refuse(r, FERRY_EINVAL, why);
		return;
	}
	if (!client_may_write(c, &sb)) {
		log_warn("uid %ld may not write into %s: its %s refused",
			 (long)c->uid, r->sj.shown, verb);
		snprintf(why, sizeof(why),
			 "you may not write into %s (ferryd writes there for "
			 "you only what you could write yourself)",
			 r->sj.shown);
		sr_refuse(r, FERRY_EPERM, why);
		return;
	}
	sr_start(r);
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
	snprintf(r->sj.shown, sizeof(r->sj.shown), "%s", fl->dir);
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
	if (fl->flags & 4u) {
		/* The folder comes as a descriptor the client opened: ask
		 * for it, and read nothing else meanwhile. */
		struct ferry_fbuf b;
		struct timeval wait = {10, 0};
		r->ev_fd = event_new(c->ag->base, bufferevent_getfd(c->bev),
				     EV_READ, on_dirfd, r);
		if (r->ev_fd == NULL || event_add(r->ev_fd, &wait) != 0) {
			sr_free(r);
			client_error(c, c->reqid, FERRY_ENOMEM,
				     "out of memory");
			client_idle(c);
			return;
		}
		bufferevent_disable(c->bev, EV_READ);
		c->read_held = 0; /* on_dirfd turns reading on again */
		client_ref(c);
		c->state = CS_BUSY;
		agent_frame(c->ag, &b, FERRY_F_SEND_FD, 0, r->reqid);
		client_send(c, &b);
		return;
	}
	if (c->uid != 0 && c->uid != c->ag->uid) {
		/* A path alone: ferryd would work there with its own rights
		 * for a caller who may not. */
		sr_free(r);
		client_error(c, c->reqid, FERRY_EPERM,
			     "%s: pass the folder as a descriptor (a path "
			     "alone is taken from root and ferryd's own user "
			     "only)",
			     export ? "export" : "import");
		client_idle(c);
		return;
	}
	sr_start(r);
}
