/*
 * http_int.h - what the HTTP transport's files share: http.c (the table
 * of operations, the peers' folders, the worker that imports and exports
 * for the server), http_server.c (libmicrohttpd) and http_client.c
 * (libcurl).  docs/http.md says how it works.
 *
 * Each peer with HTTP has one folder, <state>/http/<name>/, laid out like
 * a medium (docs/formats.md): ferry/<peer fpr>/ holds the bundles for
 * the peer (export writes them, the peer downloads or we upload them),
 * ferry/<our fpr>/ the bundles from it (uploads or downloads land there,
 * import takes them), and part/ what is half transferred, so a cut
 * transfer goes on from its durable offset.  The file-drop code
 * (sneak_run) does every export and import: the HTTP transport adds no
 * frame intake of its own.
 */
#ifndef FERRY_HTTP_INT_H
#define FERRY_HTTP_INT_H

#include <pthread.h>
#include <stdint.h>

#include "policy/policy.h"
#include "transports/filedrop.h"
#include "transports/http.h"
#include "transports/transport.h"

#define HTTP_SEGMENT	(32ull << 20)	   /* bytes per bundle file */
#define HTTP_WINDOW	(128ull << 20)	   /* bytes per export run */
#define HTTP_REOFFER_MS (30LL * 60 * 1000) /* no custody: export again */
#define HTTP_UP_MAX	(4ull << 30)	   /* bytes of one upload */
#define HTTP_UPLOADS	8		   /* at once, per peer */
#define HTTP_NONCES	1024		   /* remembered, per peer */
#define HTTP_EXPORT_MS	(5LL * 60 * 1000)  /* a poll exports at least */
#define HTTP_LIVE_MS	(90LL * 1000)	   /* seen: "connected" */

struct hreq;	/* http_server.c: one request */
struct hclient; /* http_client.c: one peer's caller */

struct http_nonce {
	int64_t t_ms;
	uint8_t n[HTTP_NONCE_LEN];
};

struct http_peer {
	char name[FERRY_NODE_MAX + 1];
	char fpr[IDENTITY_FPR_LEN + 1];
	uint8_t sign_pk[32];
	char root[SNEAK_PATH_MAX]; /* <state>/http/<name> */
	struct policy_peer cfg;	   /* a copy: urls, proxy, ca, poll, tcp */

	/* Everything below under http_state.mu. */
	/* server: the worker's orders and the polls waiting */
	int need_export, need_import, busy;
	uint64_t kicks_done; /* engine_kicks() before the last export */
	int64_t export_ms;   /* wall clock of the last export, 0 none */
	int export_more;     /* it exported messages: more may wait (its
				window was full), so export again */
	struct hreq *waiters;
	char uploads[HTTP_UPLOADS][HTTP_NAME_MAX + 1]; /* in progress */
	struct hreq *upload_req[HTTP_UPLOADS];	       /* by whom */
	struct http_nonce nonces[HTTP_NONCES];	       /* a ring */
	size_t nonce_next;
	int64_t nonce_floor; /* the latest t_ms the ring let go */
	/* client */
	struct hclient *client;
	/* `ferry peers` */
	int64_t seen_ms, up_ms; /* wall clock: a request verified / ok */
	uint64_t bytes_in, bytes_out, resent;
	uint64_t msgs_in, msgs_out; /* imported, exported */
	char addr[80];
	char last_error[160];
};

struct http_state {
	struct agent *ag;
	struct sneak_job *tmpl; /* store, identity, node, state dir, peers */
	struct http_peer *peers;
	size_t npeers;
	char myfpr[IDENTITY_FPR_LEN + 1];
	uint64_t disk_reserve;
	int64_t partial_idle_ms; /* a part file untouched this long goes */
	int64_t swept_mono;	 /* when part files were last looked at */
	int tcp; /* index of the tcp transport in ferry_transports, or -1 */
	pthread_mutex_t mu;
	pthread_cond_t cv; /* the worker's */
	pthread_t worker;
	int worker_up, stopping;
	void *server; /* http_server.c */
};

/* http.c */
struct http_peer *http_peer_by_fpr(struct http_state *hs, const char *fpr);
struct http_peer *http_peer_by_name(struct http_state *hs, const char *name);
/* <root>/ferry/<fpr>, <root>/part: into out. */
void http_path(const struct http_peer *hp, const char *sub, char *out,
	       size_t cap);
/* The file name in that folder: <folder>/<name>. */
void http_file(const struct http_peer *hp, const char *sub, const char *name,
	       char *out, size_t cap);
/* An export (export = 1) or import for hp, on the calling thread (never
 * the loop).  The run's counts go to *msgs. */
int http_run(struct http_state *hs, struct http_peer *hp, int export,
	     uint64_t *msgs);
/* The names of the bundles in folder dir, oldest first (at most max):
 * fn(arg, name, size) for each. */
int http_box_list(const char *dir, size_t max, http_list_fn fn, void *arg);
/* The server's worker: export or import for hp soon (under mu). */
void http_worker_ask(struct http_state *hs, struct http_peer *hp, int export);
/* Is the tcp transport connected to node, and if not, why (its last
 * error, "" if it has not failed)? */
int http_tcp_state(struct http_state *hs, const char *node, char *why,
		   size_t cap);
void http_set_error(struct http_state *hs, struct http_peer *hp,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* http_server.c: on the loop thread. */
int http_server_start(struct http_state *hs);
void http_server_stop(struct http_state *hs);
/* New bundles for hp (an export, an import's receipts): answer the polls
 * waiting (under mu). */
void http_server_wake(struct http_state *hs, struct http_peer *hp);
/* The earliest deadline of a waiting poll (monotonic ms), or -1; and
 * answer those whose time is up (under mu). */
int64_t http_server_expire(struct http_state *hs, int64_t now_mono);

/* http_client.c */
int http_client_start(struct http_state *hs, struct http_peer *hp);
void http_client_kick(struct http_peer *hp);
/* Outside the peer's contact windows: when the next opens (0 inside, or
 * no window =, or no caller).  Any thread. */
int64_t http_client_window(struct http_peer *hp);
void http_client_stop(struct http_peer *hp);

#endif
