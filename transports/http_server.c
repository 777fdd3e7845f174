/*
 * http_server.c - the serving side of the HTTP transport (docs/http.md),
 * embedded in ferryd with libmicrohttpd: one internal poll(2) thread per
 * `http_listen` address, request bodies streamed to the handler (an
 * upload goes to its part file as it arrives: memory per connection is
 * MHD's pool, HTTP_CONN_MEM, whatever the body's size), long polls
 * suspended (no thread per poll) and resumed by the worker (http.c) when
 * bundles are ready or the poll's time is up.
 *
 * Nothing is read, written or listed before the request's signature
 * verified with a pinned peer key; an unauthenticated request gets a
 * plain 401 or 404 and changes nothing.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <microhttpd.h>

#include "agent/agent.h"
#include "agent/engine.h"
#include "agent/log.h"
#include "lib/util.h"
#include "transports/http_int.h"

#define HTTP_CONN_MEM	(32u * 1024u) /* MHD's pool per connection */
#define HTTP_CONNS	1024u	      /* connections per address */
#define HTTP_IDLE_S	30u	      /* a silent connection is closed */
#define HTTP_POLLS_PEER 4	      /* waiting polls per peer */

struct http_server {
	struct MHD_Daemon *d[POLICY_ENDPOINTS_MAX];
	size_t n;
};

enum hmethod { HM_GET = 1, HM_HEAD, HM_PUT, HM_DELETE };

struct hreq {
	struct http_state *hs;
	struct http_peer *hp;
	struct MHD_Connection *con;
	struct http_route rt;
	enum hmethod m;
	int answered; /* a response is queued */
	/* PUT */
	int fd;
	uint64_t off, size, got;
	int slot;    /* hp->uploads index, -1 */
	int refused; /* the body is discarded, then this code answers */
	int code;
	char why[96];
	/* poll */
	struct hreq *next; /* hp->waiters */
	int waiting;	   /* suspended, in hp->waiters */
	int64_t until_mono;
	int asked; /* this poll asked for an export */
};

/* --------------------------------------------------------- answers */

static int
answer_n(struct hreq *r, struct MHD_Connection *con, unsigned code,
	 const char *text, size_t len, const char *hname, const char *hval)
{
	struct MHD_Response *resp;
	char now[24];
	enum MHD_Result ok;

	resp = MHD_create_response_from_buffer(len, (void *)text,
					       MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	snprintf(now, sizeof(now), "%lld", (long long)ferry_wall_ms());
	(void)MHD_add_response_header(resp, "X-Ferry-Time", now);
	(void)MHD_add_response_header(resp, "Content-Type",
				      "text/plain; charset=utf-8");
	(void)MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (hname != NULL)
		(void)MHD_add_response_header(resp, hname, hval);
	ok = MHD_queue_response(con, code, resp);
	MHD_destroy_response(resp);
	if (r != NULL)
		r->answered = 1;
	log_debug("http: answered %u %.*s", code, (int)strcspn(text, "\n"),
		  text);
	return ok;
}

static int
answer(struct hreq *r, struct MHD_Connection *con, unsigned code,
       const char *text, const char *hname, const char *hval)
{
	return answer_n(r, con, code, text, strlen(text), hname, hval);
}

static int
deny(struct hreq *r, struct MHD_Connection *con, const char *why)
{
	/* The reason goes to the log (debug: hostile input is common), the
	 * caller learns nothing but "not authorized". */
	log_debug("http: refused a request: %s", why);
	return answer(r, con, MHD_HTTP_UNAUTHORIZED, "not authorized\n", NULL,
		      NULL);
}

/* ------------------------------------------------------------ auth */

/* Has hp used this nonce?  Remember it if not (under mu).  A request
 * dated no later than one the ring forgot cannot be told from a replay
 * of that one.  (The ring's oldest time is no such bound: requests
 * arrive out of the order they were signed in, so one pushed out may be
 * dated later than some still there.) */
static int
nonce_fresh(struct http_peer *hp, const struct http_auth *a)
{
	struct http_nonce *slot = &hp->nonces[hp->nonce_next];

	if (a->t_ms <= hp->nonce_floor)
		return 2; /* older than what we can tell from a replay */
	for (size_t i = 0; i < HTTP_NONCES; i++) {
		const struct http_nonce *e = &hp->nonces[i];
		if (e->t_ms == a->t_ms &&
		    memcmp(e->n, a->nonce, HTTP_NONCE_LEN) == 0)
			return 0;
	}
	if (slot->t_ms > hp->nonce_floor)
		hp->nonce_floor = slot->t_ms;
	slot->t_ms = a->t_ms;
	memcpy(slot->n, a->nonce, HTTP_NONCE_LEN);
	hp->nonce_next = (hp->nonce_next + 1) % HTTP_NONCES;
	return 1;
}

/* Verify the request; 0 with r->hp set, or an answer was queued. */
static int
authenticate(struct hreq *r, struct MHD_Connection *con, const char *method)
{
	struct http_state *hs = r->hs;
	const char *v;
	struct http_auth a;
	struct http_params pm;
	struct http_peer *hp;
	int64_t now = ferry_wall_ms(), skew;
	int fresh;

	v = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Authorization");
	if (v == NULL || http_auth_parse(v, &a) != 0)
		return deny(r, con, "no or malformed Authorization"), -1;
	if (strcmp(a.to, hs->myfpr) != 0)
		return deny(r, con, "meant for another node"), -1;
	hp = http_peer_by_fpr(hs, a.from);
	if (hp == NULL)
		return deny(r, con, "not a peer's key"), -1;
	pm.offset =
	    MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Ferry-Offset");
	pm.size =
	    MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Ferry-Size");
	pm.wait =
	    MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Ferry-Wait");
	pm.range = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Range");
	if (http_auth_check(&a, hp->sign_pk, method, r->rt.signed_path, &pm) !=
	    0)
		return deny(r, con, "bad signature"), -1;
	skew = a.t_ms - now;
	if (skew > HTTP_SKEW_MS || skew < -HTTP_SKEW_MS) {
		log_info("http: %s's clock is %lld s off ours: it is told "
			 "our time and signs again",
			 hp->name, (long long)(skew / 1000));
		answer(r, con, MHD_HTTP_UNAUTHORIZED, "clock\n", "X-Ferry-Why",
		       "clock");
		return -1;
	}
	pthread_mutex_lock(&hs->mu);
	fresh = nonce_fresh(hp, &a);
	if (fresh == 1) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		    con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		hp->seen_ms = hp->up_ms = now;
		if (ci != NULL && ci->client_addr != NULL &&
		    getnameinfo(ci->client_addr,
				ci->client_addr->sa_family == AF_INET6
				    ? sizeof(struct sockaddr_in6)
				    : sizeof(struct sockaddr_in),
				hp->addr, sizeof(hp->addr), NULL, 0,
				NI_NUMERICHOST) != 0)
			hp->addr[0] = '\0';
	}
	pthread_mutex_unlock(&hs->mu);
	if (fresh == 2) {
		/* Signed before this agent started (or before the oldest
		 * request it remembers): maybe a replay, maybe an honest
		 * caller whose clock is behind ours.  Either way nothing
		 * happens; an honest one signs again with our time. */
		log_debug("http: %s's request is older than we can check for "
			  "a replay: it is told our time",
			  hp->name);
		answer(r, con, MHD_HTTP_UNAUTHORIZED, "clock\n", "X-Ferry-Why",
		       "clock");
		return -1;
	}
	if (!fresh) {
		log_warn("http: a replayed request claiming to be %s was "
			 "refused (someone on the path repeats requests)",
			 hp->name);
		return deny(r, con, "replayed"), -1;
	}
	r->hp = hp;
	return 0;
}

/* ------------------------------------------------------------ poll */

struct list_buf {
	char *buf;
	size_t len, cap, n;
};

static int
list_add(void *arg, const char *name, uint64_t size)
{
	struct list_buf *l = arg;
	int w = snprintf(l->buf + l->len, l->cap - l->len, "%s %llu\n", name,
			 (unsigned long long)size);

	if (w < 0 || (size_t)w >= l->cap - l->len)
		return 1;
	l->len += (size_t)w;
	l->n++;
	return 0;
}

static void
unwait(struct hreq *r)
{
	struct hreq **pp;

	for (pp = &r->hp->waiters; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	r->next = NULL;
	r->waiting = 0;
}

void
http_server_wake(struct http_state *hs, struct http_peer *hp)
{
	(void)hs;
	while (hp->waiters != NULL) {
		struct hreq *r = hp->waiters;
		unwait(r);
		MHD_resume_connection(r->con);
	}
}

int64_t
http_server_expire(struct http_state *hs, int64_t now)
{
	int64_t next = -1;

	for (size_t i = 0; i < hs->npeers; i++) {
		struct http_peer *hp = &hs->peers[i];
		struct hreq **pp = &hp->waiters;

		while (*pp != NULL) {
			struct hreq *r = *pp;
			if (r->until_mono <= now || hs->stopping) {
				*pp = r->next;
				r->next = NULL;
				r->waiting = 0;
				MHD_resume_connection(r->con);
				continue;
			}
			if (next < 0 || r->until_mono < next)
				next = r->until_mono;
			pp = &r->next;
		}
	}
	return next;
}

static int
do_poll(struct hreq *r, struct MHD_Connection *con)
{
	struct http_state *hs = r->hs;
	struct http_peer *hp = r->hp;
	char box[SNEAK_PATH_MAX + 64];
	struct list_buf l;
	int rc, want_export;
	size_t nwait = 0;

	if (r->until_mono == 0) {
		const char *w = MHD_lookup_connection_value(
		    con, MHD_HEADER_KIND, "X-Ferry-Wait");
		uint64_t s = 0;

		if (w != NULL && http_u64_parse(w, HTTP_WAIT_MAX_S, &s) != 0)
			return answer(r, con, MHD_HTTP_BAD_REQUEST,
				      "bad X-Ferry-Wait\n", NULL, NULL);
		r->until_mono = ferry_mono_ms() + (int64_t)s * 1000;
	}
	l.cap = HTTP_LIST_BYTES;
	l.buf = malloc(l.cap);
	if (l.buf == NULL)
		return answer(r, con, MHD_HTTP_SERVICE_UNAVAILABLE,
			      "out of memory\n", NULL, NULL);
	memcpy(l.buf, HTTP_LIST_MAGIC, sizeof(HTTP_LIST_MAGIC) - 1);
	l.len = sizeof(HTTP_LIST_MAGIC) - 1;
	l.n = 0;
	http_path(hp, hp->fpr, box, sizeof(box));
	pthread_mutex_lock(&hs->mu);
	rc = hp->busy ? 0 : http_box_list(box, HTTP_LIST_MAX, list_add, &l);
	if (rc == 0 && l.n > 0) {
		pthread_mutex_unlock(&hs->mu);
		rc = answer_n(r, con, MHD_HTTP_OK, l.buf, l.len, NULL, NULL);
		free(l.buf);
		return rc;
	}
	want_export =
	    !r->asked && (hp->export_ms == 0 || hp->export_more ||
			  engine_kicks(hs->ag, hp->name) != hp->kicks_done ||
			  ferry_wall_ms() - hp->export_ms > HTTP_EXPORT_MS);
	if (hs->stopping ||
	    (!want_export && !hp->busy && ferry_mono_ms() >= r->until_mono)) {
		pthread_mutex_unlock(&hs->mu);
		free(l.buf);
		return answer(r, con, MHD_HTTP_NO_CONTENT, "", NULL, NULL);
	}
	for (struct hreq *w = hp->waiters; w != NULL; w = w->next)
		nwait++;
	if (nwait >= HTTP_POLLS_PEER) {
		/* More polls than a caller keeps: the oldest goes. */
		struct hreq *o = hp->waiters;
		unwait(o);
		o->until_mono = 1;
		o->asked = 1;
		MHD_resume_connection(o->con);
	}
	if (want_export) {
		r->asked = 1;
		http_worker_ask(hs, hp, 1);
	}
	r->waiting = 1;
	r->next = hp->waiters;
	hp->waiters = r;
	MHD_suspend_connection(con);
	pthread_cond_signal(&hs->cv); /* its deadline */
	pthread_mutex_unlock(&hs->mu);
	free(l.buf);
	return MHD_YES;
}

/* ------------------------------------------------- bundles for the peer */

static int
do_get(struct hreq *r, struct MHD_Connection *con)
{
	struct http_peer *hp = r->hp;
	char box[SNEAK_PATH_MAX + 64], clen[64];
	const char *range;
	struct MHD_Response *resp;
	struct stat sb;
	uint64_t off = 0;
	int dfd, fd, ok;
	unsigned code = MHD_HTTP_OK;

	http_path(hp, hp->fpr, box, sizeof(box));
	dfd = open(box, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = dfd < 0
		 ? -1
		 : openat(dfd, r->rt.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0)
		close(dfd);
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		if (fd >= 0)
			close(fd);
		return answer(r, con, MHD_HTTP_NOT_FOUND, "no such bundle\n",
			      NULL, NULL);
	}
	range = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Range");
	if (range != NULL) {
		if (http_range_parse(range, &off) != 0 ||
		    off > (uint64_t)sb.st_size) {
			close(fd);
			snprintf(clen, sizeof(clen), "bytes */%lld",
				 (long long)sb.st_size);
			return answer(r, con, MHD_HTTP_RANGE_NOT_SATISFIABLE,
				      "bad range\n", "Content-Range", clen);
		}
		code = MHD_HTTP_PARTIAL_CONTENT;
	}
	if (r->m == HM_HEAD)
		resp = MHD_create_response_from_buffer(0, (void *)"",
						       MHD_RESPMEM_PERSISTENT);
	else
		resp = MHD_create_response_from_fd_at_offset64(
		    (uint64_t)sb.st_size - off, fd, off);
	if (resp == NULL) {
		close(fd);
		return MHD_NO;
	}
	if (r->m == HM_HEAD)
		close(fd);
	if (code == MHD_HTTP_PARTIAL_CONTENT) {
		snprintf(clen, sizeof(clen), "bytes %llu-%lld/%lld",
			 (unsigned long long)off, (long long)sb.st_size - 1,
			 (long long)sb.st_size);
		(void)MHD_add_response_header(resp, "Content-Range", clen);
	}
	(void)MHD_add_response_header(resp, "Content-Type",
				      "application/octet-stream");
	pthread_mutex_lock(&r->hs->mu);
	hp->bytes_out += (uint64_t)sb.st_size - off;
	pthread_mutex_unlock(&r->hs->mu);
	ok = MHD_queue_response(con, code, resp);
	MHD_destroy_response(resp);
	r->answered = 1;
	return ok;
}

static int
do_delete(struct hreq *r, struct MHD_Connection *con)
{
	char box[SNEAK_PATH_MAX + 64];
	int dfd;

	http_path(r->hp, r->hp->fpr, box, sizeof(box));
	dfd = open(box, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (unlinkat(dfd, r->rt.name, 0) != 0 && errno != ENOENT)
			log_warn("http: cannot remove %s/%s: %s", box,
				 r->rt.name, strerror(errno));
		close(dfd);
	}
	return answer(r, con, MHD_HTTP_NO_CONTENT, "", NULL, NULL);
}

/* --------------------------------------------------- bundles from it */

/* How much of upload name is in its part file (durable: each PUT ends
 * with an fdatasync, a cut one too). */
static uint64_t
upload_have(struct http_peer *hp, const char *name)
{
	char p[SNEAK_PATH_MAX + 200];
	struct stat sb;

	http_file(hp, "part", name, p, sizeof(p));
	if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode))
		return (uint64_t)sb.st_size;
	return 0;
}

static int
do_head_out(struct hreq *r, struct MHD_Connection *con)
{
	char p[SNEAK_PATH_MAX + 200], num[24];
	struct stat sb;
	uint64_t have = upload_have(r->hp, r->rt.name);

	/* The whole bundle arrived already (the answer to its last PUT was
	 * lost): its size, so the caller knows it is done. */
	if (have == 0) {
		http_file(r->hp, r->hs->myfpr, r->rt.name, p, sizeof(p));
		if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
			have = (uint64_t)sb.st_size;
		}
	}
	snprintf(num, sizeof(num), "%llu", (unsigned long long)have);
	return answer(r, con, MHD_HTTP_OK, "", "X-Ferry-Offset", num);
}

static void
upload_release(struct hreq *r)
{
	if (r->fd >= 0) {
		if (fdatasync(r->fd) != 0)
			log_warn("http: cannot sync an upload from %s: %s",
				 r->hp->name, strerror(errno));
		close(r->fd);
		r->fd = -1;
	}
	pthread_mutex_lock(&r->hs->mu);
	if (r->slot >= 0) {
		r->hp->uploads[r->slot][0] = '\0';
		r->hp->upload_req[r->slot] = NULL;
		r->slot = -1;
	}
	pthread_mutex_unlock(&r->hs->mu);
}

/* The headers of a PUT: 0 to take its body, or an answer was queued. */
static int
put_begin(struct hreq *r, struct MHD_Connection *con)
{
	struct http_state *hs = r->hs;
	struct http_peer *hp = r->hp;
	const char *o, *z;
	char p[SNEAK_PATH_MAX + 200], num[24];
	struct statvfs sv;
	struct stat sb;
	int slot = -1;
	uint64_t have;

	o = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Ferry-Offset");
	z = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Ferry-Size");
	if (http_u64_parse(o, HTTP_UP_MAX, &r->off) != 0 ||
	    http_u64_parse(z, HTTP_UP_MAX, &r->size) != 0 || r->off > r->size ||
	    r->size == 0) {
		answer(r, con, MHD_HTTP_BAD_REQUEST,
		       "X-Ferry-Offset and X-Ferry-Size: 0 <= offset <= size "
		       "<= 4 GiB\n",
		       NULL, NULL);
		return -1;
	}
	pthread_mutex_lock(&hs->mu);
	for (int i = 0; i < HTTP_UPLOADS; i++)
		if (strcmp(hp->uploads[i], r->rt.name) == 0) {
			/* The caller uploads one bundle at a time: an older
			 * PUT of this one is a connection that died where we
			 * cannot see it yet (a proxy, NAT).  It takes no more
			 * bytes; this one goes on from what is in the file. */
			struct hreq *old = hp->upload_req[i];

			if (old != NULL) {
				old->refused = 1;
				old->code = MHD_HTTP_CONFLICT;
				snprintf(old->why, sizeof(old->why),
					 "superseded by a newer upload\n");
				old->slot = -1;
			}
			hp->uploads[i][0] = '\0';
			hp->upload_req[i] = NULL;
			if (slot < 0)
				slot = i;
		} else if (slot < 0 && hp->uploads[i][0] == '\0') {
			slot = i;
		}
	if (slot < 0) {
		pthread_mutex_unlock(&hs->mu);
		answer(r, con, MHD_HTTP_TOO_MANY_REQUESTS,
		       "too many uploads at once\n", NULL, NULL);
		return -1;
	}
	snprintf(hp->uploads[slot], sizeof(hp->uploads[slot]), "%s",
		 r->rt.name);
	hp->upload_req[slot] = r;
	r->slot = slot;
	pthread_mutex_unlock(&hs->mu);
	have = upload_have(hp, r->rt.name);
	if (have != r->off) {
		log_debug("http: %s uploads %s from %llu, we have %llu",
			  hp->name, r->rt.name, (unsigned long long)r->off,
			  (unsigned long long)have);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)have);
		answer(r, con, MHD_HTTP_CONFLICT, "offset\n", "X-Ferry-Offset",
		       num);
		upload_release(r);
		return -1;
	}
	http_path(hp, "part", p, sizeof(p));
	if (statvfs(p, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize <
					r->size - r->off + hs->disk_reserve) {
		log_warn("http: an upload from %s waits: the disk is nearly "
			 "full (free space below %llu bytes + the reserve)",
			 hp->name, (unsigned long long)(r->size - r->off));
		answer(r, con, MHD_HTTP_INSUFFICIENT_STORAGE,
		       "no room on the disk\n", NULL, NULL);
		upload_release(r);
		return -1;
	}
	snprintf(p + strlen(p), sizeof(p) - strlen(p), "/%s", r->rt.name);
	r->fd = open(p, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (r->fd < 0 || fstat(r->fd, &sb) != 0 ||
	    (uint64_t)sb.st_size != r->off ||
	    lseek(r->fd, (off_t)r->off, SEEK_SET) < 0) {
		log_error("http: cannot write %s: %s", p, strerror(errno));
		answer(r, con, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot store\n",
		       NULL, NULL);
		upload_release(r);
		return -1;
	}
	return 0;
}

static void
put_data(struct hreq *r, const char *data, size_t n)
{
	if (r->refused)
		return;
	if (n > r->size - r->off - r->got) {
		r->refused = 1;
		r->code = MHD_HTTP_CONTENT_TOO_LARGE;
		snprintf(r->why, sizeof(r->why),
			 "more bytes than X-Ferry-Size\n");
		return;
	}
	if (ferry_write_all(r->fd, data, n) != 0) {
		r->refused = 1;
		r->code = errno == ENOSPC ? MHD_HTTP_INSUFFICIENT_STORAGE
					  : MHD_HTTP_INTERNAL_SERVER_ERROR;
		snprintf(r->why, sizeof(r->why), "cannot store: %s\n",
			 strerror(errno));
		log_error("http: cannot store an upload from %s: %s",
			  r->hp->name, strerror(errno));
		return;
	}
	r->got += n;
}

static int
put_end(struct hreq *r, struct MHD_Connection *con)
{
	struct http_state *hs = r->hs;
	struct http_peer *hp = r->hp;
	char part[SNEAK_PATH_MAX + 200], dst[SNEAK_PATH_MAX + 200], num[24];
	char dir[SNEAK_PATH_MAX + 64];
	uint64_t now = r->off + r->got;
	int rc;

	if (r->fd >= 0 && fdatasync(r->fd) != 0 && !r->refused) {
		r->refused = 1;
		r->code = MHD_HTTP_INTERNAL_SERVER_ERROR;
		snprintf(r->why, sizeof(r->why), "cannot sync: %s\n",
			 strerror(errno));
	}
	pthread_mutex_lock(&hs->mu);
	hp->bytes_in += r->got;
	pthread_mutex_unlock(&hs->mu);
	if (r->refused) {
		upload_release(r);
		return answer(r, con, (unsigned)r->code, r->why, NULL, NULL);
	}
	snprintf(num, sizeof(num), "%llu", (unsigned long long)now);
	if (now < r->size) {
		upload_release(r);
		return answer(r, con, MHD_HTTP_OK, "partial\n",
			      "X-Ferry-Offset", num);
	}
	http_file(hp, "part", r->rt.name, part, sizeof(part));
	http_path(hp, hs->myfpr, dir, sizeof(dir));
	snprintf(dst, sizeof(dst), "%s/ferry", hp->root);
	(void)mkdir(dst, 0755);
	(void)mkdir(dir, 0755);
	snprintf(dst, sizeof(dst), "%s/%s", dir, r->rt.name);
	rc = rename(part, dst);
	if (rc != 0 || ferry_fsync_dir(dir) != 0) {
		log_error("http: cannot move %s into %s: %s", part, dir,
			  strerror(errno));
		upload_release(r);
		return answer(r, con, MHD_HTTP_INTERNAL_SERVER_ERROR,
			      "cannot store\n", NULL, NULL);
	}
	upload_release(r);
	pthread_mutex_lock(&hs->mu);
	http_worker_ask(hs, hp, 0);
	pthread_mutex_unlock(&hs->mu);
	return answer(r, con, MHD_HTTP_OK, "stored\n", "X-Ferry-Offset", num);
}

/* ---------------------------------------------------------- the handler */

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *con, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **con_cls)
{
	struct http_state *hs = cls;
	struct hreq *r = *con_cls;

	(void)version;
	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		if (r == NULL)
			return MHD_NO;
		r->hs = hs;
		r->con = con;
		r->fd = -1;
		r->slot = -1;
		*con_cls = r;
		if (strcmp(method, "GET") == 0)
			r->m = HM_GET;
		else if (strcmp(method, "HEAD") == 0)
			r->m = HM_HEAD;
		else if (strcmp(method, "PUT") == 0)
			r->m = HM_PUT;
		else if (strcmp(method, "DELETE") == 0)
			r->m = HM_DELETE;
		if (http_route_parse(url, &r->rt) != 0)
			return answer(r, con, MHD_HTTP_NOT_FOUND, "not found\n",
				      NULL, NULL);
		if (r->m == 0 || (r->rt.kind == HR_POLL && r->m != HM_GET) ||
		    (r->rt.kind == HR_IN && r->m != HM_GET && r->m != HM_HEAD &&
		     r->m != HM_DELETE) ||
		    (r->rt.kind == HR_OUT && r->m != HM_PUT && r->m != HM_HEAD))
			return answer(r, con, MHD_HTTP_METHOD_NOT_ALLOWED,
				      "method not allowed\n", NULL, NULL);
		if (authenticate(r, con, method) != 0)
			return MHD_YES;
		if (r->m == HM_PUT)
			return put_begin(r, con) == 0 ? MHD_YES : MHD_YES;
	}
	if (r->answered) {
		*upload_data_size = 0; /* a refused body is dropped */
		return MHD_YES;
	}
	if (r->m == HM_PUT) {
		if (*upload_data_size > 0) {
			put_data(r, upload_data, *upload_data_size);
			*upload_data_size = 0;
			return MHD_YES;
		}
		return put_end(r, con);
	}
	if (*upload_data_size > 0) {
		*upload_data_size = 0; /* no body is expected: dropped */
		return MHD_YES;
	}
	switch (r->rt.kind) {
	case HR_POLL:
		return do_poll(r, con);
	case HR_IN:
		return r->m == HM_DELETE ? do_delete(r, con) : do_get(r, con);
	case HR_OUT:
		return do_head_out(r, con);
	}
	return MHD_NO;
}

static void
on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct hreq *r = *con_cls;

	(void)cls;
	(void)con;
	if (r == NULL)
		return;
	log_debug("http: request %s %s ended (%d), %llu bytes in",
		  r->rt.signed_path, r->m == HM_PUT ? "PUT" : "", (int)toe,
		  (unsigned long long)r->got);
	if (r->hp != NULL && r->m == HM_PUT && r->got > 0 && !r->answered) {
		/* Cut mid-body: what arrived is kept, durable, and the peer
		 * goes on from there (HEAD tells it the offset). */
		pthread_mutex_lock(&r->hs->mu);
		r->hp->bytes_in += r->got;
		pthread_mutex_unlock(&r->hs->mu);
	}
	if (r->hp != NULL)
		upload_release(r);
	*con_cls = NULL;
	free(r);
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("http server: %s", line);
}

/* ---------------------------------------------------------- start, stop */

static int
listen_on(const struct policy_endpoint *ep)
{
	char why[160];
	int fd = ferry_listen_tcp(ep->host, ep->port, 256, why, sizeof(why));

	if (fd < 0)
		log_error("http_listen %s:%u: %s", ep->host, ep->port, why);
	return fd;
}

int
http_server_start(struct http_state *hs)
{
	const struct policy *pol = &hs->ag->pol;
	struct http_server *sv;

	if (pol->nhttp_listen == 0)
		return 0;
	sv = calloc(1, sizeof(*sv));
	if (sv == NULL)
		return -1;
	hs->server = sv;
	for (size_t i = 0; i < pol->nhttp_listen; i++) {
		const struct policy_endpoint *ep = &pol->http_listen[i];
		int fd = listen_on(ep);

		if (fd < 0)
			return -1;
		/* poll(2), not epoll: libmicrohttpd 0.9.75's epoll mode
		 * misses the end of a connection whose last bytes and FIN
		 * arrive together (it reads once per edge), so a client
		 * that sends a byte and leaves holds a connection for
		 * HTTP_IDLE_S (tests/integration/http_hostile.sh).  The
		 * logger goes first, or MHD logs the options before it to
		 * stderr. */
		sv->d[sv->n] = MHD_start_daemon(
		    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
		    0, NULL, NULL, on_request, hs, MHD_OPTION_EXTERNAL_LOGGER,
		    on_mhd_log, hs, MHD_OPTION_LISTEN_SOCKET, fd,
		    MHD_OPTION_CONNECTION_LIMIT, HTTP_CONNS,
		    MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_S,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEM,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, hs,
		    MHD_OPTION_END);
		if (sv->d[sv->n] == NULL) {
			log_error("http_listen %s:%u: the HTTP server does not "
				  "start",
				  ep->host, ep->port);
			close(fd);
			return -1;
		}
		sv->n++;
		log_info("http: serving peers on %s:%u", ep->host, ep->port);
	}
	return 0;
}

void
http_server_stop(struct http_state *hs)
{
	struct http_server *sv = hs->server;

	if (sv == NULL)
		return;
	/* Every waiting poll is answered (MHD must not stop with a
	 * suspended connection), then the daemons stop. */
	pthread_mutex_lock(&hs->mu);
	hs->stopping = 1;
	(void)http_server_expire(hs, INT64_MAX);
	pthread_mutex_unlock(&hs->mu);
	for (size_t i = 0; i < sv->n; i++) {
		MHD_socket fd = MHD_quiesce_daemon(sv->d[i]);
		MHD_stop_daemon(sv->d[i]);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	free(sv);
	hs->server = NULL;
}
