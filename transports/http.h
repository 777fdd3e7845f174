/*
 * http.h - the HTTP transport (docs/http.md): a peer that can only make
 * outgoing HTTP(S) requests (NAT, a proxy) exchanges sealed bundles
 * (docs/formats.md) with a node that serves HTTP.  The bundles bring the
 * end-to-end part (pinned keys, encryption, replay windows, custody); this
 * layer adds a signed request header so that nothing is written, listed
 * or served for a caller whose key is not pinned, and resumable uploads
 * and downloads.
 *
 * This file: the parts of the protocol that are pure computation on
 * hostile bytes, shared by the server (http_server.c), the client
 * (http_client.c) and the fuzz target (tests/fuzz/fuzz_http.c): routes,
 * bundle names, the Authorization header, numbers, ranges, the poll
 * answer.  No I/O, no allocation.
 */
#ifndef FERRY_HTTP_H
#define FERRY_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "transports/identity.h"

#define HTTP_LABEL	"ferry-http-v1" /* identity_sign label */
#define HTTP_NONCE_LEN	16
#define HTTP_AUTH_MAX	320		   /* bytes of an Authorization */
#define HTTP_NAME_MAX	100		   /* bytes of a bundle name */
#define HTTP_SKEW_MS	(10LL * 60 * 1000) /* a request's clock window */
#define HTTP_LIST_MAX	1000		   /* names in one poll answer */
#define HTTP_LIST_BYTES (HTTP_LIST_MAX * (HTTP_NAME_MAX + 22) + 16)
#define HTTP_WAIT_MAX_S 3600 /* a poll is held at most this long */
#define HTTP_LIST_MAGIC "ferry-box/1\n"

/* What a request asks for (the path after the last "/v1/"). */
enum http_route_kind {
	HR_POLL = 1, /* GET v1/poll: names waiting for the caller */
	HR_IN,	     /* GET, DELETE v1/in/NAME: a bundle for the caller */
	HR_OUT,	     /* HEAD, PUT v1/out/NAME: a bundle from the caller */
};

struct http_route {
	enum http_route_kind kind;
	char name[HTTP_NAME_MAX + 1];	      /* HR_IN, HR_OUT */
	char signed_path[HTTP_NAME_MAX + 16]; /* "v1/..." as signed */
};

/*
 * The route of an URL path: whatever prefix a reverse proxy mounts ferry
 * under, then "/v1/poll", "/v1/in/NAME" or "/v1/out/NAME".  0, or
 * FERRY_EINVAL (not a ferry route).
 */
int http_route_parse(const char *path, struct http_route *r);

/* A bundle name as export makes them: 1 to HTTP_NAME_MAX bytes of
 * [0-9a-zA-Z_-] then ".bundle" (so no "..", no "/"). */
int http_name_ok(const char *name, size_t len);

/* Header values that are signed with the request (NULL: absent). */
struct http_params {
	const char *offset; /* X-Ferry-Offset */
	const char *size;   /* X-Ferry-Size */
	const char *wait;   /* X-Ferry-Wait */
	const char *range;  /* Range */
};

/* A parsed Authorization: "Ferry v1 FROM TO T NONCE SIG". */
struct http_auth {
	char from[IDENTITY_FPR_LEN + 1]; /* the caller's fingerprint */
	char to[IDENTITY_FPR_LEN + 1];	 /* the node it means to reach */
	int64_t t_ms;			 /* its wall clock, ms */
	uint8_t nonce[HTTP_NONCE_LEN];
	uint8_t sig[IDENTITY_SIG_LEN];
};

/* 0, or FERRY_EINVAL (not that form; any length, any bytes). */
int http_auth_parse(const char *value, struct http_auth *a);

/*
 * Make the Authorization value for a request (to out, cap >=
 * HTTP_AUTH_MAX): a fresh nonce, t_ms, and the signature under
 * HTTP_LABEL of http_auth_text().  0, or FERRY_EINVAL.
 */
int http_auth_make(const struct identity *me, const char *method,
		   const char *signed_path, const char *to_fpr, int64_t t_ms,
		   const struct http_params *pm, char *out, size_t cap);

/* Does a's signature verify with sign_pk for this request?  0, or
 * FERRY_ECORRUPT. */
int http_auth_check(const struct http_auth *a,
		    const uint8_t sign_pk[IDENTITY_PK_LEN], const char *method,
		    const char *signed_path, const struct http_params *pm);

/* The signed text: METHOD, path, from, to, t, nonce in hex and the
 * parameters, one per line.  Its length, or 0 if it does not fit. */
size_t http_auth_text(const char *method, const char *signed_path,
		      const char *from, const char *to, int64_t t_ms,
		      const uint8_t nonce[HTTP_NONCE_LEN],
		      const struct http_params *pm, char *out, size_t cap);

/* A decimal number 0..max, digits only (no sign, space or leading
 * zeros but "0").  0, or FERRY_EINVAL. */
int http_u64_parse(const char *s, uint64_t max, uint64_t *out);

/* "bytes=N-" (the only Range ferry asks for).  0, or FERRY_EINVAL. */
int http_range_parse(const char *s, uint64_t *off);

/*
 * A poll answer: HTTP_LIST_MAGIC, then "NAME SIZE\n" lines (at most
 * HTTP_LIST_MAX, sizes up to max_size).  fn is called for each; a non-0
 * return stops the walk and is returned.  0, or FERRY_EINVAL (any defect:
 * the whole answer is refused).
 */
typedef int (*http_list_fn)(void *arg, const char *name, uint64_t size);
int http_list_parse(const char *body, size_t len, uint64_t max_size,
		    http_list_fn fn, void *arg);

#endif
