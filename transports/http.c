/*
 * http.c - the HTTP transport's table of operations, its peers and their
 * folders, and the worker thread that runs the server's exports and
 * imports (docs/http.md, transports/http_int.h).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "agent/engine.h"
#include "agent/log.h"
#include "lib/util.h"
#include "transports/http_int.h"

struct http_peer *
http_peer_by_fpr(struct http_state *hs, const char *fpr)
{
	for (size_t i = 0; i < hs->npeers; i++)
		if (strcmp(hs->peers[i].fpr, fpr) == 0)
			return &hs->peers[i];
	return NULL;
}

struct http_peer *
http_peer_by_name(struct http_state *hs, const char *name)
{
	for (size_t i = 0; i < hs->npeers; i++)
		if (strcmp(hs->peers[i].name, name) == 0)
			return &hs->peers[i];
	return NULL;
}

void
http_path(const struct http_peer *hp, const char *sub, char *out, size_t cap)
{
	if (strcmp(sub, "part") == 0)
		snprintf(out, cap, "%s/part", hp->root);
	else
		snprintf(out, cap, "%s/ferry/%s", hp->root, sub);
}

void
http_file(const struct http_peer *hp, const char *sub, const char *name,
	  char *out, size_t cap)
{
	size_t n;

	http_path(hp, sub, out, cap);
	n = strlen(out);
	snprintf(out + n, cap - n, "/%s", name);
}

void
http_set_error(struct http_state *hs, struct http_peer *hp, const char *fmt,
	       ...)
{
	va_list ap;

	pthread_mutex_lock(&hs->mu);
	va_start(ap, fmt);
	vsnprintf(hp->last_error, sizeof(hp->last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&hs->mu);
}

int
http_tcp_state(struct http_state *hs, const char *node, char *why, size_t cap)
{
	struct peer_status ps;

	if (why != NULL && cap > 0)
		why[0] = '\0';
	if (hs->tcp < 0 || hs->ag->tstate[hs->tcp] == NULL ||
	    ferry_transports[hs->tcp]->status == NULL)
		return 0;
	memset(&ps, 0, sizeof(ps));
	snprintf(ps.name, sizeof(ps.name), "%s", node);
	ferry_transports[hs->tcp]->status(hs->ag->tstate[hs->tcp], &ps);
	if (why != NULL && cap > 0)
		snprintf(why, cap, "%s", ps.last_error);
	return ps.connected;
}

int
http_run(struct http_state *hs, struct http_peer *hp, int export,
	 uint64_t *msgs)
{
	struct sneak_job *j = malloc(sizeof(*j));
	int rc;

	if (j == NULL)
		return FERRY_ENOMEM;
	memcpy(j, hs->tmpl, sizeof(*j));
	j->export = export;
	snprintf(j->dir, sizeof(j->dir), "%s", hp->root);
	snprintf(j->shown, sizeof(j->shown), "http:%s", hp->name);
	snprintf(j->only[0], sizeof(j->only[0]), "%s", hp->name);
	j->nonly = 1;
	j->prog = NULL;
	if (export) {
		j->segment = HTTP_SEGMENT;
		j->max_bytes = HTTP_WINDOW;
		j->first_whole = 1;
		j->reoffer_ms = HTTP_REOFFER_MS;
	}
	rc = sneak_run(j);
	if (msgs != NULL)
		*msgs = j->msgs;
	pthread_mutex_lock(&hs->mu);
	if (export)
		hp->msgs_out += j->msgs;
	else
		hp->msgs_in += j->msgs;
	pthread_mutex_unlock(&hs->mu);
	if (rc != 0 && rc != FERRY_ECLOSED)
		http_set_error(hs, hp, "%s: %s", export ? "export" : "import",
			       ferry_strerror(rc));
	free(j);
	return rc;
}

struct box_ent {
	char name[HTTP_NAME_MAX + 1];
	uint64_t size;
	int64_t mtime_ns;
};

static int
box_cmp(const void *a, const void *b)
{
	const struct box_ent *x = a, *y = b;

	if (x->mtime_ns != y->mtime_ns)
		return x->mtime_ns < y->mtime_ns ? -1 : 1;
	return strcmp(x->name, y->name);
}

int
http_box_list(const char *dir, size_t max, http_list_fn fn, void *arg)
{
	struct box_ent *ents;
	size_t n = 0;
	DIR *d;
	struct dirent *de;
	int rc = 0;

	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : ferry_errno_code(errno);
	ents = malloc(max * sizeof(*ents));
	if (ents == NULL) {
		closedir(d);
		return FERRY_ENOMEM;
	}
	while (n < max && (de = readdir(d)) != NULL) {
		struct stat sb;
		size_t len = strlen(de->d_name);

		if (!http_name_ok(de->d_name, len) ||
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) !=
			0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		memcpy(ents[n].name, de->d_name, len + 1);
		ents[n].size = (uint64_t)sb.st_size;
		ents[n].mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 +
				   sb.st_mtim.tv_nsec;
		n++;
	}
	closedir(d);
	qsort(ents, n, sizeof(*ents), box_cmp);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fn(arg, ents[i].name, ents[i].size);
	free(ents);
	return rc;
}

/* ------------------------------------------------------------- worker */

#define HTTP_SWEEP_MS (3600LL * 1000)

/*
 * Part files of transfers nobody finished for [limits] partial_idle (a
 * peer that went away, a bundle the other side dropped): removed, so a
 * peer's abandoned uploads cannot fill the disk.  Not one being written.
 * Under mu.
 */
static void
sweep_parts(struct http_state *hs)
{
	int64_t now = ferry_wall_ms();

	for (size_t i = 0; i < hs->npeers; i++) {
		struct http_peer *hp = &hs->peers[i];
		char dir[SNEAK_PATH_MAX + 64];
		struct dirent *de;
		DIR *d;

		http_path(hp, "part", dir, sizeof(dir));
		d = opendir(dir);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			struct stat sb;
			int busy = 0;

			if (!http_name_ok(de->d_name, strlen(de->d_name)) ||
			    fstatat(dirfd(d), de->d_name, &sb,
				    AT_SYMLINK_NOFOLLOW) != 0 ||
			    !S_ISREG(sb.st_mode) ||
			    now - (int64_t)sb.st_mtim.tv_sec * 1000 <
				hs->partial_idle_ms)
				continue;
			for (int k = 0; k < HTTP_UPLOADS; k++)
				busy |= strcmp(hp->uploads[k], de->d_name) == 0;
			if (!busy && unlinkat(dirfd(d), de->d_name, 0) == 0)
				log_info(
				    "http %s: removed %s/%s, a transfer "
				    "nobody finished for %lld h",
				    hp->name, dir, de->d_name,
				    (long long)(hs->partial_idle_ms / 3600000));
		}
		closedir(d);
	}
}

void
http_worker_ask(struct http_state *hs, struct http_peer *hp, int export)
{
	if (export)
		hp->need_export = 1;
	else
		hp->need_import = 1;
	pthread_cond_signal(&hs->cv);
}

static void *
worker_main(void *arg)
{
	struct http_state *hs = arg;

	ferry_thread_name("http");
	pthread_mutex_lock(&hs->mu);
	while (!hs->stopping) {
		struct http_peer *hp = NULL;
		int64_t due;

		for (size_t i = 0; i < hs->npeers && hp == NULL; i++)
			if (!hs->peers[i].busy && (hs->peers[i].need_import ||
						   hs->peers[i].need_export))
				hp = &hs->peers[i];
		if (hp != NULL) {
			int imp = hp->need_import, exp = hp->need_export;
			uint64_t kicks = engine_kicks(hs->ag, hp->name), n = 0;

			hp->need_import = hp->need_export = 0;
			hp->busy = 1;
			pthread_mutex_unlock(&hs->mu);
			if (imp)
				(void)http_run(hs, hp, 0, &n);
			n = 0;
			if (exp)
				(void)http_run(hs, hp, 1, &n);
			pthread_mutex_lock(&hs->mu);
			hp->busy = 0;
			if (exp) {
				hp->kicks_done = kicks;
				hp->export_ms = ferry_wall_ms();
				hp->export_more = n > 0;
			}
			http_server_wake(hs, hp);
			continue;
		}
		if (hs->swept_mono == 0 ||
		    ferry_mono_ms() - hs->swept_mono > HTTP_SWEEP_MS) {
			hs->swept_mono = ferry_mono_ms();
			sweep_parts(hs);
		}
		due = http_server_expire(hs, ferry_mono_ms());
		{
			struct timespec ts;
			int64_t wait = due < 0 ? 1000 : due - ferry_mono_ms();

			if (wait > 1000)
				wait = 1000;
			if (wait < 1)
				wait = 1;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)(wait % 1000) * 1000000;
			ts.tv_sec +=
			    (time_t)(wait / 1000) + ts.tv_nsec / 1000000000;
			ts.tv_nsec %= 1000000000;
			(void)pthread_cond_timedwait(&hs->cv, &hs->mu, &ts);
		}
	}
	pthread_mutex_unlock(&hs->mu);
	return NULL;
}

/* ------------------------------------------------------------- the ops */

static int
mkdir_private(const char *p)
{
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		return ferry_errno_code(errno);
	return 0;
}

static void http_stop(struct agent *ag, void *state);

static int
http_start(struct agent *ag, void **state)
{
	struct http_state *hs;
	const struct policy *pol = &ag->pol;
	char top[SNEAK_PATH_MAX];
	size_t n = 0;
	int rc;

	*state = NULL;
	for (size_t i = 0; i < pol->npeers; i++)
		n += pol->peers[i].nhttp > 0;
	if (n == 0 && pol->nhttp_listen == 0)
		return 0; /* no HTTP here: nothing runs */
	hs = calloc(1, sizeof(*hs));
	if (hs == NULL)
		return -1;
	hs->ag = ag;
	hs->tcp = -1;
	for (size_t t = 0; ferry_transports[t] != NULL; t++)
		if (strcmp(ferry_transports[t]->name, "tcp") == 0)
			hs->tcp = (int)t;
	pthread_mutex_init(&hs->mu, NULL);
	pthread_cond_init(&hs->cv, NULL);
	hs->disk_reserve = pol->disk_reserve_bytes;
	hs->partial_idle_ms = pol->partial_idle_ms;
	snprintf(hs->myfpr, sizeof(hs->myfpr), "%s", ag->fpr);
	hs->tmpl = calloc(1, sizeof(*hs->tmpl));
	if (hs->tmpl == NULL || sneak_job_init(ag, hs->tmpl) != 0) {
		log_error("http: out of memory");
		http_stop(ag, hs);
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("http: libcurl does not start");
		http_stop(ag, hs);
		return -1;
	}
	if (strlen(pol->state_dir) > SNEAK_PATH_MAX - 256) {
		log_error("http: the state directory's path is too long");
		http_stop(ag, hs);
		return -1;
	}
	if (snprintf(top, sizeof(top), "%s/http", pol->state_dir) >=
		(int)sizeof(top) ||
	    (rc = mkdir_private(top)) != 0) {
		log_error("http: cannot make %s: %s", top, ferry_strerror(rc));
		http_stop(ag, hs);
		return -1;
	}
	/* Every peer: any may call in; those with http = are called. */
	hs->peers = calloc(pol->npeers, sizeof(*hs->peers));
	if (hs->peers == NULL && pol->npeers > 0) {
		http_stop(ag, hs);
		return -1;
	}
	hs->npeers = pol->npeers;
	for (size_t i = 0; i < pol->npeers; i++) {
		struct http_peer *hp = &hs->peers[i];
		const struct policy_peer *pp = &pol->peers[i];
		char sub[SNEAK_PATH_MAX + 64];

		snprintf(hp->name, sizeof(hp->name), "%s", pp->name);
		identity_fingerprint(pp->sign_pk, pp->kx_pk, hp->fpr);
		memcpy(hp->sign_pk, pp->sign_pk, 32);
		/* Requests signed before we started cannot be told from
		 * replays (the ring of nonces is not kept across restarts):
		 * refused, and an honest caller re-signs with our time. */
		hp->nonce_floor = ferry_wall_ms();
		hp->cfg = *pp;
		if (snprintf(hp->root, sizeof(hp->root), "%s/%s", top,
			     pp->name) >= (int)sizeof(hp->root))
			hp->root[0] = '\0'; /* cannot be: checked above */
		http_path(hp, "part", sub, sizeof(sub));
		if ((rc = mkdir_private(hp->root)) != 0 ||
		    (rc = mkdir_private(sub)) != 0) {
			log_error("http: cannot make %s: %s", sub,
				  ferry_strerror(rc));
			http_stop(ag, hs);
			return -1;
		}
	}
	if (pthread_create(&hs->worker, NULL, worker_main, hs) != 0) {
		log_error("http: cannot start a thread");
		http_stop(ag, hs);
		return -1;
	}
	hs->worker_up = 1;
	if (http_server_start(hs) != 0) {
		http_stop(ag, hs);
		return -1;
	}
	for (size_t i = 0; i < hs->npeers; i++) {
		struct http_peer *hp = &hs->peers[i];

		/* Bundles left by the last run: imported now. */
		pthread_mutex_lock(&hs->mu);
		http_worker_ask(hs, hp, 0);
		pthread_mutex_unlock(&hs->mu);
		if (hp->cfg.nhttp > 0 && http_client_start(hs, hp) != 0) {
			http_stop(ag, hs);
			return -1;
		}
	}
	*state = hs;
	return 0;
}

static void
http_stop(struct agent *ag, void *state)
{
	struct http_state *hs = state;

	(void)ag;
	if (hs == NULL)
		return;
	pthread_mutex_lock(&hs->mu);
	hs->stopping = 1;
	pthread_cond_broadcast(&hs->cv);
	pthread_mutex_unlock(&hs->mu);
	for (size_t i = 0; i < hs->npeers; i++)
		http_client_stop(&hs->peers[i]);
	http_server_stop(hs);
	if (hs->worker_up)
		pthread_join(hs->worker, NULL);
	if (hs->tmpl != NULL)
		free(hs->tmpl->peers);
	free(hs->tmpl);
	free(hs->peers);
	pthread_cond_destroy(&hs->cv);
	pthread_mutex_destroy(&hs->mu);
	free(hs);
}

static void
http_kick(void *state, const char *node, unsigned prio)
{
	struct http_state *hs = state;
	struct http_peer *hp = http_peer_by_name(hs, node);

	(void)prio;
	if (hp == NULL)
		return;
	pthread_mutex_lock(&hs->mu);
	if (hp->waiters != NULL)
		http_worker_ask(hs, hp, 1);
	pthread_mutex_unlock(&hs->mu);
	if (hp->client != NULL)
		http_client_kick(hp);
}

static void
http_status(void *state, struct peer_status *p)
{
	struct http_state *hs = state;
	struct http_peer *hp = http_peer_by_name(hs, p->name);
	int64_t now = ferry_wall_ms();

	if (hp == NULL)
		return;
	pthread_mutex_lock(&hs->mu);
	p->bytes_in += hp->bytes_in;
	p->bytes_out += hp->bytes_out;
	p->msgs_in += hp->msgs_in;
	p->msgs_out += hp->msgs_out;
	if (hp->seen_ms > p->last_seen_ms)
		p->last_seen_ms = hp->seen_ms;
	if (p->window_ms == 0 && hp->client != NULL)
		p->window_ms = http_client_window(hp);
	if (!p->connected && hp->up_ms != 0 && now - hp->up_ms < HTTP_LIVE_MS) {
		char tcp[160];

		snprintf(tcp, sizeof(tcp), "%s", p->last_error);
		p->connected = 1;
		snprintf(p->via, sizeof(p->via), "http");
		p->inbound = hp->cfg.nhttp == 0;
		snprintf(p->addr, sizeof(p->addr), "%s", hp->addr);
		p->since_ms = hp->up_ms;
		p->next_retry_ms = 0;
		if (tcp[0] != '\0')
			snprintf(p->last_error, sizeof(p->last_error),
				 "tcp: %.120s (so over http)", tcp);
	} else if (!p->connected && hp->last_error[0] != '\0') {
		char tcp[160];

		snprintf(tcp, sizeof(tcp), "%s", p->last_error);
		if (tcp[0] != '\0')
			snprintf(p->last_error, sizeof(p->last_error),
				 "tcp: %.70s; http: %.70s", tcp,
				 hp->last_error);
		else
			snprintf(p->last_error, sizeof(p->last_error),
				 "http: %.150s", hp->last_error);
	}
	pthread_mutex_unlock(&hs->mu);
}

/* Messages imported from and exported for every peer since ferryd
 * started (http_run counts them). */
static void
http_counts(void *state, uint64_t *msgs_in, uint64_t *msgs_out)
{
	struct http_state *hs = state;

	*msgs_in = *msgs_out = 0;
	if (hs == NULL)
		return;
	pthread_mutex_lock(&hs->mu);
	for (size_t i = 0; i < hs->npeers; i++) {
		*msgs_in += hs->peers[i].msgs_in;
		*msgs_out += hs->peers[i].msgs_out;
	}
	pthread_mutex_unlock(&hs->mu);
}

const struct transport_ops http_transport = {
    .name = "http",
    .start = http_start,
    .stop = http_stop,
    .kick = http_kick,
    .status = http_status,
    .counts = http_counts,
};
