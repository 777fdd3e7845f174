/*
 * http_client.c - the calling side of the HTTP transport (docs/http.md):
 * one thread per peer with `http =`, driving libcurl's multi interface
 * (never the agent's loop).  It keeps a long poll open on the peer (or,
 * with call_every, polls that often), and meanwhile, whenever something
 * is queued for the peer, exports it to the peer's folder and uploads the
 * bundles at once on a second transfer.  A poll's answer names the
 * bundles waiting there: they are downloaded, imported, and deleted on
 * the peer.  Uploads and downloads resume from the other side's durable
 * offset.  Memory: libcurl's buffers, one poll answer (HTTP_LIST_BYTES);
 * bodies stream from and to files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "lib/util.h"
#include "transports/http_int.h"

#define HC_CONNECT_MS 15000L /* a connection must be up by then */
#define HC_LOW_SPEED  64L    /* bytes/s below which, for ... */
#define HC_LOW_TIME   60L    /* ... this many seconds, a transfer is cut */
#define HC_IDLE_MS    1000   /* looks at TCP's state this often */
#define HC_TRIES      3	     /* 409s in a row before giving up a file */
/* A cut transfer that moved the other side's offset this far forward is
 * resumed at once without counting as a try (less: a try), so a peer
 * that keeps a byte a time cannot keep the client calling in a loop. */
#define HC_PROGRESS (64u << 10)

struct hclient {
	struct http_state *hs;
	struct http_peer *hp;
	pthread_t th;
	int started;
	CURLM *multi;
	int work; /* atomic: something is queued for the peer */
	int stop; /* atomic */
	size_t url;
	int64_t backoff_ms, next_mono, next_call_mono;
	int64_t clock_adj;		/* the peer's clock minus ours */
	int64_t push_mono;		/* the last export and upload */
	char resume[HTTP_NAME_MAX + 1]; /* an upload that was cut */
	struct xfer *poll;		/* the open poll, or NULL */
	int64_t window_ms; /* outside its windows: the next opens then */
};

struct xfer {
	struct hclient *hc;
	CURL *h;
	struct curl_slist *hdrs;
	int fd;	 /* download: the part file; -1 */
	int src; /* upload: the bundle; -1 */
	uint64_t off, size, moved;
	int checked; /* download: the status was looked at */
	long code;
	CURLcode res;
	int done;
	char h_offset[24], h_time[24], h_why[16];
	char *body; /* poll: its answer */
	size_t blen;
	char err[CURL_ERROR_SIZE];
};

/* --------------------------------------------------------- transfers */

static size_t
on_header(char *b, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	static const struct {
		const char *name;
		size_t off;
	} want[] = {
	    {"X-Ferry-Offset:", offsetof(struct xfer, h_offset)},
	    {"X-Ferry-Time:", offsetof(struct xfer, h_time)},
	    {"X-Ferry-Why:", offsetof(struct xfer, h_why)},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t k = strlen(want[i].name), cap, m;
		char *dst;
		const char *v;

		if (len <= k || strncasecmp(b, want[i].name, k) != 0)
			continue;
		dst = (char *)x + want[i].off;
		cap = i == 2 ? sizeof(x->h_why) : sizeof(x->h_offset);
		v = b + k;
		while (v < b + len && *v == ' ')
			v++;
		m = (size_t)(b + len - v);
		while (m > 0 && (v[m - 1] == '\r' || v[m - 1] == '\n' ||
				 v[m - 1] == ' '))
			m--;
		if (m >= cap)
			m = 0; /* too long: not ours */
		memcpy(dst, v, m);
		dst[m] = '\0';
	}
	return len;
}

static size_t
on_body(char *b, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->fd < 0) { /* a poll's answer, or an error's text */
		size_t room = x->body == NULL ? 0 : HTTP_LIST_BYTES - x->blen;
		if (x->body == NULL)
			return len; /* not kept */
		if (len > room)
			return 0; /* oversized: the transfer fails */
		memcpy(x->body + x->blen, b, len);
		x->blen += len;
		return len;
	}
	if (!x->checked) {
		long code = 0;

		x->checked = 1;
		(void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
		if (code == 200 && x->off > 0) {
			/* The range was not honoured: from the start. */
			if (ftruncate(x->fd, 0) != 0 ||
			    lseek(x->fd, 0, SEEK_SET) != 0)
				return 0;
			x->hc->hp->resent += x->off;
			x->off = 0;
		} else if (code != 200 && code != 206) {
			x->fd = -1; /* an error's text: dropped */
			return len;
		}
	}
	if (x->off + x->moved + len > x->size)
		return 0; /* more than announced: refused */
	if (ferry_write_all(x->fd, b, len) != 0)
		return 0;
	x->moved += len;
	return len;
}

static size_t
on_read(char *b, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	ssize_t got;

	do
		got = read(x->src, b, size * n);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return CURL_READFUNC_ABORT;
	x->moved += (size_t)got;
	return (size_t)got;
}

/* libcurl rewinds an upload to send it again on a fresh connection (a
 * kept-alive one the peer or a proxy had closed). */
static int
on_seek(void *arg, curl_off_t offset, int origin)
{
	struct xfer *x = arg;

	if (origin != SEEK_SET || offset < 0 ||
	    lseek(x->src, (off_t)(x->off + (uint64_t)offset), SEEK_SET) < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	x->moved = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static void
xfer_free(struct xfer *x)
{
	if (x == NULL)
		return;
	if (x->h != NULL) {
		(void)curl_multi_remove_handle(x->hc->multi, x->h);
		curl_easy_cleanup(x->h);
	}
	curl_slist_free_all(x->hdrs);
	free(x->body);
	free(x);
}

static void
add_header(struct xfer *x, const char *name, const char *value)
{
	char line[HTTP_AUTH_MAX + 64];
	struct curl_slist *l;

	snprintf(line, sizeof(line), "%s: %s", name, value);
	l = curl_slist_append(x->hdrs, line);
	if (l != NULL)
		x->hdrs = l;
}

/* A transfer of route (v1/...) with method, signed with pm. */
static struct xfer *
xfer_new(struct hclient *hc, const char *method, const char *route,
	 const struct http_params *pm)
{
	struct http_peer *hp = hc->hp;
	const struct policy_peer *cfg = &hp->cfg;
	struct xfer *x = calloc(1, sizeof(*x));
	char url[POLICY_URL_MAX + HTTP_NAME_MAX + 16], auth[HTTP_AUTH_MAX];
	const char *base = cfg->http[hc->url % cfg->nhttp];
	size_t bl = strlen(base);

	if (x == NULL)
		return NULL;
	x->hc = hc;
	x->fd = -1;
	x->src = -1;
	x->h = curl_easy_init();
	if (x->h == NULL ||
	    http_auth_make(hc->hs->ag->id, method, route, hp->fpr,
			   ferry_wall_ms() + hc->clock_adj, pm, auth,
			   sizeof(auth)) != 0) {
		xfer_free(x);
		return NULL;
	}
	snprintf(url, sizeof(url), "%.*s/%s",
		 (int)(bl > 0 && base[bl - 1] == '/' ? bl - 1 : bl), base,
		 route);
	add_header(x, "Authorization", auth);
	if (pm->offset != NULL)
		add_header(x, "X-Ferry-Offset", pm->offset);
	if (pm->size != NULL)
		add_header(x, "X-Ferry-Size", pm->size);
	if (pm->wait != NULL)
		add_header(x, "X-Ferry-Wait", pm->wait);
	if (pm->range != NULL)
		add_header(x, "Range", pm->range);
	/* No "Expect: 100-continue" wait: proxies handle it badly. */
	x->hdrs = curl_slist_append(x->hdrs, "Expect:");
	(void)curl_easy_setopt(x->h, CURLOPT_URL, url);
	(void)curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
	(void)curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST,
			       strcmp(method, "GET") == 0 ? NULL : method);
	if (strcmp(method, "HEAD") == 0)
		(void)curl_easy_setopt(x->h, CURLOPT_NOBODY, 1L);
	(void)curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
	(void)curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
	(void)curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
	(void)curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	(void)curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->err);
	(void)curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, HC_CONNECT_MS);
	(void)curl_easy_setopt(x->h, CURLOPT_TCP_KEEPALIVE, 1L);
	(void)curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(x->h, CURLOPT_HTTP_VERSION,
			       (long)CURL_HTTP_VERSION_2TLS);
	if (cfg->proxy[0] != '\0')
		(void)curl_easy_setopt(x->h, CURLOPT_PROXY, cfg->proxy);
	if (cfg->ca[0] != '\0')
		(void)curl_easy_setopt(x->h, CURLOPT_CAINFO, cfg->ca);
	(void)curl_easy_setopt(x->h, CURLOPT_USERAGENT, "ferry/" VERSION);
	return x;
}

/* Mark the transfers libcurl finished as done, with their results. */
static void
reap(struct hclient *hc)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(hc->multi, &left)) != NULL) {
		struct xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
					(char **)&x);
		if (x == NULL)
			continue;
		x->res = m->data.result;
		(void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->code);
		x->done = 1;
	}
}

/* Run libcurl once: up to timeout_ms waiting, then what finished. */
static void
pump(struct hclient *hc, int timeout_ms)
{
	int running;

	(void)curl_multi_perform(hc->multi, &running);
	reap(hc);
	if (timeout_ms > 0)
		(void)curl_multi_poll(hc->multi, NULL, 0, timeout_ms, NULL);
	(void)curl_multi_perform(hc->multi, &running);
	reap(hc);
}

static void
xfer_start(struct xfer *x)
{
	(void)curl_easy_setopt(x->h, CURLOPT_PRIVATE, (char *)x);
	(void)curl_multi_add_handle(x->hc->multi, x->h);
}

/* Run x to its end (the poll goes on meanwhile).  0, or FERRY_ECLOSED
 * when the agent stops. */
static int
run(struct xfer *x)
{
	struct hclient *hc = x->hc;

	(void)curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_LIMIT, HC_LOW_SPEED);
	(void)curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_TIME, HC_LOW_TIME);
	xfer_start(x);
	while (!x->done) {
		if (__atomic_load_n(&hc->stop, __ATOMIC_ACQUIRE))
			return FERRY_ECLOSED;
		pump(hc, 500);
	}
	return 0;
}

/* What went wrong with x, for the log and `ferry peers`. */
static void
xfer_why(const struct xfer *x, char *out, size_t cap)
{
	if (x->res != CURLE_OK)
		snprintf(out, cap, "%.150s",
			 x->err[0] != '\0' ? x->err
					   : curl_easy_strerror(x->res));
	else if (x->code == 401 && strcmp(x->h_why, "clock") == 0)
		snprintf(out, cap, "our clock is too far off the peer's");
	else if (x->code == 401)
		snprintf(out, cap,
			 "the peer does not accept our key (is our card in "
			 "its [peer] section?)");
	else
		snprintf(out, cap, "HTTP %ld", x->code);
}

/* The peer's clock, from a 401 "clock": sign with it from now on. */
static int
clock_fix(struct hclient *hc, const struct xfer *x)
{
	uint64_t t;

	if (x->code != 401 || strcmp(x->h_why, "clock") != 0 ||
	    http_u64_parse(x->h_time, INT64_MAX, &t) != 0)
		return 0;
	hc->clock_adj = (int64_t)t - ferry_wall_ms();
	if (hc->clock_adj > 60000 || hc->clock_adj < -60000)
		log_warn("http %s: our clock is %lld s off the peer's: "
			 "requests are signed with its time (fix this "
			 "machine's clock)",
			 hc->hp->name, (long long)(-hc->clock_adj / 1000));
	return 1;
}

/* ------------------------------------------------------------- upload */

static int
upload_one(struct hclient *hc, const char *dir, const char *name, uint64_t size)
{
	struct http_peer *hp = hc->hp;
	char path[SNEAK_PATH_MAX + 200], route[HTTP_NAME_MAX + 16];
	char o[24], z[24], why[200];
	uint64_t off = 0, kept = 0;
	int fd, rc = FERRY_EIO;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(route, sizeof(route), "v1/out/%s", name);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : ferry_errno_code(errno);
	for (int tries = 0; tries < HC_TRIES + 2; tries++) {
		struct http_params pm = {0};
		struct xfer *x;
		uint64_t have;

		if (strcmp(hc->resume, name) == 0) {
			/* Cut last time: how much has the peer kept? */
			x = xfer_new(hc, "HEAD", route, &pm);
			if (x == NULL || (rc = run(x)) != 0) {
				xfer_free(x);
				rc = rc != 0 ? rc : FERRY_ENOMEM;
				break;
			}
			if (x->res != CURLE_OK || x->code != 200 ||
			    http_u64_parse(x->h_offset, size, &off) != 0) {
				if (!clock_fix(hc, x)) {
					xfer_why(x, why, sizeof(why));
					http_set_error(hc->hs, hp,
						       "upload %s: %s", name,
						       why);
					xfer_free(x);
					rc = FERRY_EIO;
					break;
				}
				xfer_free(x);
				continue;
			}
			xfer_free(x);
			hc->resume[0] = '\0';
			/* The peer kept more than after the last cut: the
			 * link works, only badly.  Tries count the cuts that
			 * moved nothing, so a long bundle over a link cut
			 * every few MB goes on at once instead of waiting
			 * retry_min, doubling, after every third cut. */
			if (off >= kept + HC_PROGRESS) {
				kept = off;
				tries = 0;
			}
		}
		if (off == size) {
			rc = 0;
			break;
		}
		snprintf(o, sizeof(o), "%llu", (unsigned long long)off);
		snprintf(z, sizeof(z), "%llu", (unsigned long long)size);
		pm.offset = o;
		pm.size = z;
		x = xfer_new(hc, "PUT", route, &pm);
		if (x == NULL || lseek(fd, (off_t)off, SEEK_SET) < 0) {
			xfer_free(x);
			rc = FERRY_ENOMEM;
			break;
		}
		x->src = fd;
		x->off = off;
		(void)curl_easy_setopt(x->h, CURLOPT_UPLOAD, 1L);
		(void)curl_easy_setopt(x->h, CURLOPT_SEEKFUNCTION, on_seek);
		(void)curl_easy_setopt(x->h, CURLOPT_SEEKDATA, x);
		(void)curl_easy_setopt(x->h, CURLOPT_READFUNCTION, on_read);
		(void)curl_easy_setopt(x->h, CURLOPT_READDATA, x);
		(void)curl_easy_setopt(x->h, CURLOPT_INFILESIZE_LARGE,
				       (curl_off_t)(size - off));
		if ((rc = run(x)) != 0) {
			xfer_free(x);
			break;
		}
		pthread_mutex_lock(&hc->hs->mu);
		hp->bytes_out += x->moved;
		pthread_mutex_unlock(&hc->hs->mu);
		if (x->res == CURLE_OK && x->code == 200 &&
		    http_u64_parse(x->h_offset, size, &have) == 0 &&
		    have == size) {
			xfer_free(x);
			rc = 0;
			off = size;
			break;
		}
		if (x->res == CURLE_OK && x->code == 409 &&
		    http_u64_parse(x->h_offset, size, &have) == 0) {
			off = have; /* the peer's durable offset */
			xfer_free(x);
			continue;
		}
		if (clock_fix(hc, x)) {
			xfer_free(x);
			continue;
		}
		xfer_why(x, why, sizeof(why));
		http_set_error(hc->hs, hp, "upload %s: %s", name, why);
		log_info("http %s: upload of %s stopped at %llu of %llu bytes: "
			 "%s (it goes on from the peer's offset)",
			 hp->name, name, (unsigned long long)(off + x->moved),
			 (unsigned long long)size, why);
		snprintf(hc->resume, sizeof(hc->resume), "%s", name);
		rc = FERRY_EIO;
		/* A cut connection: at once, from the peer's offset, on a new
		 * one; an answer of the peer's (4xx, 5xx): later. */
		if (x->res != CURLE_OK && tries < HC_TRIES) {
			xfer_free(x);
			continue;
		}
		xfer_free(x);
		break;
	}
	close(fd);
	if (rc == 0 && off == size && unlink(path) != 0 && errno != ENOENT)
		rc = ferry_errno_code(errno);
	return rc;
}

struct up_walk {
	struct hclient *hc;
	const char *dir;
	int rc;
	size_t n;
};

static int
up_each(void *arg, const char *name, uint64_t size)
{
	struct up_walk *w = arg;

	w->rc = upload_one(w->hc, w->dir, name, size);
	w->n++;
	return w->rc;
}

/* An export on its own thread, so that its first bundles go up while it
 * writes the next ones (a 1 GiB message is 32 bundle files). */
struct exporting {
	struct hclient *hc;
	uint64_t msgs;
	int rc;
	int done; /* atomic */
};

static void *
export_main(void *arg)
{
	struct exporting *e = arg;

	ferry_thread_name("http-export");
	e->rc = http_run(e->hc->hs, e->hc->hp, 1, &e->msgs);
	__atomic_store_n(&e->done, 1, __ATOMIC_RELEASE);
	(void)curl_multi_wakeup(e->hc->multi);
	return NULL;
}

/* Export what waits for the peer and upload it, window by window, each
 * bundle as soon as it is written. */
static int
push(struct hclient *hc)
{
	struct http_peer *hp = hc->hp;
	char dir[SNEAK_PATH_MAX + 64];
	struct up_walk w = {hc, dir, 0, 0};
	int rc;

	http_path(hp, hp->fpr, dir, sizeof(dir));
	for (int round = 0; round < 1000; round++) {
		struct exporting e = {hc, 0, 0, 0};
		pthread_t th;
		int up_rc = 0;

		/* What an earlier run left (cut uploads, receipts) first. */
		w.n = 0;
		rc = http_box_list(dir, HTTP_LIST_MAX, up_each, &w);
		if (rc != 0)
			return rc;
		if (round > 0 && w.n == 0)
			return 0;
		if (__atomic_load_n(&hc->stop, __ATOMIC_ACQUIRE))
			return FERRY_ECLOSED;
		if (pthread_create(&th, NULL, export_main, &e) != 0) {
			export_main(&e);
		} else {
			while (!__atomic_load_n(&e.done, __ATOMIC_ACQUIRE)) {
				w.n = 0;
				if (up_rc == 0)
					up_rc = http_box_list(
					    dir, HTTP_LIST_MAX, up_each, &w);
				if (w.n == 0 || up_rc != 0)
					pump(hc, 50); /* the poll goes on */
			}
			pthread_join(th, NULL);
		}
		if (e.rc != 0)
			return e.rc;
		if (up_rc != 0)
			return up_rc;
		if (e.msgs == 0 && round > 0) {
			w.n = 0;
			return http_box_list(dir, HTTP_LIST_MAX, up_each, &w);
		}
	}
	return 0;
}

/* ------------------------------------------------------------ download */

static int
download_one(struct hclient *hc, const char *name, uint64_t size)
{
	struct http_peer *hp = hc->hp;
	char part[SNEAK_PATH_MAX + 200], dst[SNEAK_PATH_MAX + 200];
	char dir[SNEAK_PATH_MAX + 64], route[HTTP_NAME_MAX + 16];
	char range[40], why[200];
	struct http_params pm = {0};
	struct stat sb;
	struct xfer *x;
	uint64_t off;
	int fd, rc;

	http_file(hp, "part", name, part, sizeof(part));
	http_path(hp, hc->hs->myfpr, dir, sizeof(dir));
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	fd = open(part, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		rc = ferry_errno_code(errno);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	off = (uint64_t)sb.st_size;
	if (off > size) {
		if (ftruncate(fd, 0) != 0) {
			close(fd);
			return ferry_errno_code(errno);
		}
		off = 0;
	}
	if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
		close(fd);
		return ferry_errno_code(errno);
	}
	rc = 0;
	/* A cut that moved HC_PROGRESS bytes or more is resumed at once from
	 * the part file's new length; HC_TRIES tries in a row that moved
	 * less give up (the poll then waits retry_min, doubling). */
	for (int tries = 0; off < size && tries < HC_TRIES; tries++) {
		int cut;
		snprintf(route, sizeof(route), "v1/in/%s", name);
		snprintf(range, sizeof(range), "bytes=%llu-",
			 (unsigned long long)off);
		pm.range = off > 0 ? range : NULL;
		x = xfer_new(hc, "GET", route, &pm);
		if (x == NULL) {
			close(fd);
			return FERRY_ENOMEM;
		}
		x->fd = fd;
		x->off = off;
		x->size = size;
		rc = run(x);
		pthread_mutex_lock(&hc->hs->mu);
		hp->bytes_in += x->moved;
		pthread_mutex_unlock(&hc->hs->mu);
		cut = rc == 0 && x->res != CURLE_OK && x->moved > 0 &&
		      (x->code == 200 || x->code == 206) &&
		      x->off + x->moved < size;
		if (rc == 0 &&
		    (x->res != CURLE_OK || x->off + x->moved != size ||
		     (x->code != 200 && x->code != 206))) {
			if (clock_fix(hc, x)) {
				rc = FERRY_EAGAIN;
			} else {
				xfer_why(x, why, sizeof(why));
				http_set_error(hc->hs, hp, "download %s: %s",
					       name, why);
				rc = x->code == 404 ? FERRY_ENOTFOUND
						    : FERRY_EIO;
			}
		}
		if (cut) {
			/* A try; one that moved HC_PROGRESS does not count. */
			if (x->moved >= HC_PROGRESS)
				tries = -1;
			off = x->off + x->moved;
			rc = FERRY_EIO; /* unless a next try gets the rest */
			xfer_free(x);
			continue;
		}
		xfer_free(x);
		break;
	}
	if (rc == 0 && fdatasync(fd) != 0)
		rc = ferry_errno_code(errno);
	close(fd);
	if (rc == 0) {
		char top[SNEAK_PATH_MAX + 8];

		snprintf(top, sizeof(top), "%.4090s/ferry", hp->root);
		(void)mkdir(top, 0755);
		(void)mkdir(dir, 0755);
		if (rename(part, dst) != 0 || ferry_fsync_dir(dir) != 0)
			rc = ferry_errno_code(errno);
	} else if (rc == FERRY_ENOTFOUND) {
		(void)unlink(part); /* gone there: another poll had it */
	}
	return rc;
}

static int
remove_there(struct hclient *hc, const char *name)
{
	char route[HTTP_NAME_MAX + 16];
	struct http_params pm = {0};
	struct xfer *x;
	int rc;

	snprintf(route, sizeof(route), "v1/in/%s", name);
	x = xfer_new(hc, "DELETE", route, &pm);
	if (x == NULL)
		return FERRY_ENOMEM;
	rc = run(x);
	if (rc == 0 && (x->res != CURLE_OK || x->code / 100 != 2))
		rc = FERRY_EIO;
	xfer_free(x);
	return rc;
}

struct down_walk {
	struct hclient *hc;
	char (*names)[HTTP_NAME_MAX + 1];
	size_t n;
	int rc;
};

static int
down_each(void *arg, const char *name, uint64_t size)
{
	struct down_walk *w = arg;
	int rc = download_one(w->hc, name, size);

	if (rc == 0)
		snprintf(w->names[w->n++], HTTP_NAME_MAX + 1, "%s", name);
	else if (rc != FERRY_ENOTFOUND)
		w->rc = rc;
	return rc == FERRY_ECLOSED ? rc : 0;
}

/* A poll answered with names: fetch, import, remove there. */
static int
fetch(struct hclient *hc, const char *body, size_t len)
{
	struct down_walk w = {hc, NULL, 0, 0};
	uint64_t msgs = 0;
	int rc;

	w.names = malloc((size_t)HTTP_LIST_MAX * sizeof(*w.names));
	if (w.names == NULL)
		return FERRY_ENOMEM;
	rc = http_list_parse(body, len, HTTP_UP_MAX, down_each, &w);
	if (rc == FERRY_EINVAL)
		http_set_error(hc->hs, hc->hp,
			       "the peer's poll answer is malformed (a proxy "
			       "in the way?)");
	if (w.n > 0) {
		(void)http_run(hc->hs, hc->hp, 0, &msgs);
		/* The bundles are durable here: the peer may drop them. */
		for (size_t i = 0; i < w.n && rc == 0; i++)
			rc = remove_there(hc, w.names[i]);
		__atomic_store_n(&hc->work, 1, __ATOMIC_RELEASE); /* receipts */
	}
	free(w.names);
	return rc != 0 ? rc : w.rc;
}

/* ---------------------------------------------------------------- poll */

static void
poll_start(struct hclient *hc, int hold)
{
	struct http_params pm = {0};
	char wait[24];
	struct xfer *x;

	snprintf(wait, sizeof(wait), "%lld",
		 hold ? (long long)(hc->hp->cfg.poll_ms / 1000) : 0LL);
	pm.wait = wait;
	x = xfer_new(hc, "GET", "v1/poll", &pm);
	if (x == NULL)
		return;
	x->body = malloc(HTTP_LIST_BYTES);
	if (x->body == NULL) {
		xfer_free(x);
		return;
	}
	(void)curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS,
			       (long)(hc->hp->cfg.poll_ms + 30000));
	xfer_start(x);
	hc->poll = x;
}

static void
backoff(struct hclient *hc)
{
	const struct policy_peer *cfg = &hc->hp->cfg;
	int64_t b =
	    hc->backoff_ms == 0 ? cfg->retry_min_ms : hc->backoff_ms * 2;

	if (b > cfg->retry_max_ms)
		b = cfg->retry_max_ms;
	hc->backoff_ms = b;
	if (cfg->retry_jitter_pct > 0)
		b += (int64_t)randombytes_uniform(
		    (uint32_t)(b * cfg->retry_jitter_pct / 100 + 1));
	hc->next_mono = ferry_mono_ms() + b;
	hc->url++; /* the next address, if there are several */
}

static void
poll_done(struct hclient *hc)
{
	struct xfer *x = hc->poll;
	struct http_peer *hp = hc->hp;
	char why[200];
	int rc = 0;

	hc->poll = NULL;
	if (x->res == CURLE_OK && (x->code == 200 || x->code == 204)) {
		pthread_mutex_lock(&hc->hs->mu);
		hp->up_ms = ferry_wall_ms();
		hp->seen_ms = hp->up_ms;
		hp->last_error[0] = '\0';
		snprintf(hp->addr, sizeof(hp->addr), "%s",
			 hp->cfg.http[hc->url % hp->cfg.nhttp]);
		pthread_mutex_unlock(&hc->hs->mu);
		hc->backoff_ms = 0;
		if (x->code == 200)
			rc = fetch(hc, x->body, x->blen);
		/* Now and then an export with nothing kicked: what went out
		 * long ago and never got a receipt is offered again. */
		if (ferry_mono_ms() - hc->push_mono > HTTP_EXPORT_MS)
			__atomic_store_n(&hc->work, 1, __ATOMIC_RELEASE);
		if (rc != 0 && rc != FERRY_ECLOSED)
			backoff(hc);
	} else if (!clock_fix(hc, x)) {
		xfer_why(x, why, sizeof(why));
		http_set_error(hc->hs, hp, "%s", why);
		log_info("http %s: %s (next try in %lld ms or so)", hp->name,
			 why,
			 (long long)(hc->backoff_ms == 0 ? hp->cfg.retry_min_ms
							 : hc->backoff_ms * 2));
		backoff(hc);
	}
	xfer_free(x);
}

/* ---------------------------------------------------------------- loop */

/* [peer] window =: is now outside all of the peer's windows?  The first
 * look outside says until when in the log (as the TCP dialer does). */
static int
outside_window(struct hclient *hc)
{
	const struct policy_peer *cfg = &hc->hp->cfg;
	char at[POLICY_WINDOW_WHEN_MAX];

	if (!policy_window_outside(cfg->windows, cfg->nwindows, ferry_wall_ms(),
				   &hc->window_ms, at, sizeof(at)))
		return 0;
	if (at[0] != '\0')
		log_info("http %s: outside its contact windows (window =); "
			 "next call at %s",
			 hc->hp->name, at);
	return 1;
}

int64_t
http_client_window(struct http_peer *hp)
{
	return hp->client != NULL
		   ? __atomic_load_n(&hp->client->window_ms, __ATOMIC_RELAXED)
		   : 0;
}

static void *
client_main(void *arg)
{
	struct hclient *hc = arg;
	struct http_peer *hp = hc->hp;
	const struct policy_peer *cfg = &hp->cfg;
	int metered = cfg->call_every_set && cfg->call_every_ms > 0;

	ferry_thread_name("http:%s", hp->name);
	while (!__atomic_load_n(&hc->stop, __ATOMIC_ACQUIRE)) {
		int64_t now = ferry_mono_ms();
		char why[160];
		int active = 1;

		if (cfg->ntcp > 0 && cfg->dial != POLICY_DIAL_NEVER)
			active = !http_tcp_state(hc->hs, hp->name, why,
						 sizeof(why)) &&
				 why[0] != '\0';
		if (!active) {
			if (hc->poll != NULL) {
				xfer_free(hc->poll);
				hc->poll = NULL;
			}
			pump(hc, HC_IDLE_MS);
			continue;
		}
		if (outside_window(hc)) {
			/* window =: no new call (no poll held, no upload
			 * started) before it opens; what is under way goes
			 * on. */
			if (hc->poll != NULL) {
				xfer_free(hc->poll);
				hc->poll = NULL;
			}
			pump(hc, HC_IDLE_MS);
			continue;
		}
		if (now < hc->next_mono) {
			pump(hc, (int)(hc->next_mono - now > HC_IDLE_MS
					   ? HC_IDLE_MS
					   : hc->next_mono - now));
			continue;
		}
		if (__atomic_exchange_n(&hc->work, 0, __ATOMIC_ACQ_REL)) {
			int rc;

			hc->push_mono = ferry_mono_ms();
			rc = push(hc);
			if (rc != 0 && rc != FERRY_ECLOSED) {
				__atomic_store_n(&hc->work, 1,
						 __ATOMIC_RELEASE);
				backoff(hc);
				continue;
			}
		}
		if (hc->poll == NULL &&
		    (!metered || now >= hc->next_call_mono)) {
			if (metered)
				hc->next_call_mono = now + cfg->call_every_ms;
			poll_start(hc, !metered);
		}
		pump(hc, HC_IDLE_MS);
		if (hc->poll != NULL && hc->poll->done)
			poll_done(hc);
	}
	if (hc->poll != NULL)
		xfer_free(hc->poll);
	hc->poll = NULL;
	return NULL;
}

int
http_client_start(struct http_state *hs, struct http_peer *hp)
{
	struct hclient *hc = calloc(1, sizeof(*hc));

	if (hc == NULL)
		return -1;
	hc->hs = hs;
	hc->hp = hp;
	hc->work = 1; /* what waits since the last run goes at once */
	hc->multi = curl_multi_init();
	if (hc->multi == NULL) {
		free(hc);
		return -1;
	}
	hp->client = hc;
	if (pthread_create(&hc->th, NULL, client_main, hc) != 0) {
		log_error("http %s: cannot start a thread", hp->name);
		curl_multi_cleanup(hc->multi);
		hp->client = NULL;
		free(hc);
		return -1;
	}
	hc->started = 1;
	log_info("http %s: calling %s%s%s", hp->name, hp->cfg.http[0],
		 hp->cfg.proxy[0] != '\0' ? " through " : "", hp->cfg.proxy);
	return 0;
}

void
http_client_kick(struct http_peer *hp)
{
	struct hclient *hc = hp->client;

	__atomic_store_n(&hc->work, 1, __ATOMIC_RELEASE);
	(void)curl_multi_wakeup(hc->multi);
}

void
http_client_stop(struct http_peer *hp)
{
	struct hclient *hc = hp->client;

	if (hc == NULL)
		return;
	__atomic_store_n(&hc->stop, 1, __ATOMIC_RELEASE);
	(void)curl_multi_wakeup(hc->multi);
	if (hc->started)
		pthread_join(hc->th, NULL);
	curl_multi_cleanup(hc->multi);
	hp->client = NULL;
	free(hc);
}
