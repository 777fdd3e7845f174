/*
 * http_parse.c - the HTTP transport's parsers and request signatures
 * (transports/http.h, docs/http.md).  Everything here reads bytes that
 * came from the network, a proxy or a file: each function bounds what it
 * reads, allocates nothing and never aborts.  A crypto file: sodium.h
 * allowed (the nonce).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "lib/ferry_err.h"
#include "transports/http.h"

static int
fpr_ok(const char *s, size_t len)
{
	if (len != IDENTITY_FPR_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (i % 5 == 4) {
			if (ch != '-')
				return 0;
		} else if (!((ch >= 'a' && ch <= 'z') ||
			     (ch >= '2' && ch <= '7'))) {
			return 0;
		}
	}
	return 1;
}

int
http_name_ok(const char *name, size_t len)
{
	static const char sfx[] = ".bundle";
	size_t base;

	if (name == NULL || len <= sizeof(sfx) - 1 || len > HTTP_NAME_MAX)
		return 0;
	base = len - (sizeof(sfx) - 1);
	if (memcmp(name + base, sfx, sizeof(sfx) - 1) != 0)
		return 0;
	for (size_t i = 0; i < base; i++) {
		char ch = name[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

int
http_route_parse(const char *path, struct http_route *r)
{
	const char *v = NULL, *rest;
	size_t n;

	if (path == NULL || r == NULL)
		return FERRY_EINVAL;
	memset(r, 0, sizeof(*r));
	n = strnlen(path, 4096);
	if (n == 4096 || path[0] != '/')
		return FERRY_EINVAL;
	for (const char *p = path; (p = strstr(p, "/v1/")) != NULL; p++)
		v = p;
	if (v == NULL)
		return FERRY_EINVAL;
	rest = v + 4;
	if (strcmp(rest, "poll") == 0) {
		r->kind = HR_POLL;
	} else if (strncmp(rest, "in/", 3) == 0 ||
		   strncmp(rest, "out/", 4) == 0) {
		const char *name = rest + (rest[0] == 'i' ? 3 : 4);
		size_t len = strlen(name);

		if (!http_name_ok(name, len))
			return FERRY_EINVAL;
		r->kind = rest[0] == 'i' ? HR_IN : HR_OUT;
		memcpy(r->name, name, len + 1);
	} else {
		return FERRY_EINVAL;
	}
	snprintf(r->signed_path, sizeof(r->signed_path), "%s", v + 1);
	return 0;
}

int
http_u64_parse(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return FERRY_EINVAL;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned d;
		if (s[i] < '0' || s[i] > '9' || i >= 20)
			return FERRY_EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return FERRY_EINVAL;
		v = v * 10 + d;
	}
	if (v > max)
		return FERRY_EINVAL;
	*out = v;
	return 0;
}

int
http_range_parse(const char *s, uint64_t *off)
{
	char num[24];
	size_t n;

	if (s == NULL || strncmp(s, "bytes=", 6) != 0)
		return FERRY_EINVAL;
	s += 6;
	n = strnlen(s, sizeof(num));
	if (n < 2 || n >= sizeof(num) || s[n - 1] != '-')
		return FERRY_EINVAL;
	memcpy(num, s, n - 1);
	num[n - 1] = '\0';
	return http_u64_parse(num, UINT64_MAX, off);
}

static int
hex_in(const char *s, size_t len, uint8_t *out, size_t outlen)
{
	if (len != 2 * outlen)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		unsigned d;
		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(d << 4);
		else
			out[i / 2] |= (uint8_t)d;
	}
	return 0;
}

static void
hex_out(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* The next space-separated word of *s (at most max bytes). */
static int
word(const char **s, const char **w, size_t *len, size_t max)
{
	const char *p = *s, *e;
	size_t n = strnlen(p, max + 1);

	e = memchr(p, ' ', n);
	if (e == NULL) {
		if (n > max || n == 0)
			return -1;
		e = p + n;
	}
	if (e == p)
		return -1;
	*w = p;
	*len = (size_t)(e - p);
	*s = *e == ' ' ? e + 1 : e;
	return 0;
}

int
http_auth_parse(const char *value, struct http_auth *a)
{
	const char *s = value, *w;
	size_t len;
	char num[24];
	uint64_t t;

	if (value == NULL || a == NULL ||
	    strnlen(value, HTTP_AUTH_MAX + 1) > HTTP_AUTH_MAX)
		return FERRY_EINVAL;
	memset(a, 0, sizeof(*a));
	if (word(&s, &w, &len, 8) != 0 || len != 5 ||
	    memcmp(w, "Ferry", 5) != 0)
		return FERRY_EINVAL;
	if (word(&s, &w, &len, 8) != 0 || len != 2 || memcmp(w, "v1", 2) != 0)
		return FERRY_EINVAL;
	if (word(&s, &w, &len, IDENTITY_FPR_LEN) != 0 || !fpr_ok(w, len))
		return FERRY_EINVAL;
	memcpy(a->from, w, len);
	if (word(&s, &w, &len, IDENTITY_FPR_LEN) != 0 || !fpr_ok(w, len))
		return FERRY_EINVAL;
	memcpy(a->to, w, len);
	if (word(&s, &w, &len, 19) != 0)
		return FERRY_EINVAL;
	memcpy(num, w, len);
	num[len] = '\0';
	if (http_u64_parse(num, INT64_MAX, &t) != 0)
		return FERRY_EINVAL;
	a->t_ms = (int64_t)t;
	if (word(&s, &w, &len, 2 * HTTP_NONCE_LEN) != 0 ||
	    hex_in(w, len, a->nonce, HTTP_NONCE_LEN) != 0)
		return FERRY_EINVAL;
	if (word(&s, &w, &len, 2 * IDENTITY_SIG_LEN) != 0 ||
	    hex_in(w, len, a->sig, IDENTITY_SIG_LEN) != 0)
		return FERRY_EINVAL;
	/* The signature ends the value: nothing after it, not even the
	 * space word() stepped over. */
	return *s == '\0' && s[-1] != ' ' ? 0 : FERRY_EINVAL;
}

/* A header value as signed: printable ASCII only, at most 64 bytes. */
static const char *
param(const char *v)
{
	if (v == NULL)
		return "";
	for (size_t i = 0; i < 65; i++) {
		if (v[i] == '\0')
			return v;
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return NULL;
	}
	return NULL;
}

size_t
http_auth_text(const char *method, const char *signed_path, const char *from,
	       const char *to, int64_t t_ms,
	       const uint8_t nonce[HTTP_NONCE_LEN],
	       const struct http_params *pm, char *out, size_t cap)
{
	struct http_params none = {0};
	const char *o, *sz, *wt, *rg;
	char hex[2 * HTTP_NONCE_LEN + 1];
	int n;

	if (pm == NULL)
		pm = &none;
	o = param(pm->offset);
	sz = param(pm->size);
	wt = param(pm->wait);
	rg = param(pm->range);
	if (o == NULL || sz == NULL || wt == NULL || rg == NULL ||
	    method == NULL || signed_path == NULL || from == NULL || to == NULL)
		return 0;
	hex_out(nonce, HTTP_NONCE_LEN, hex);
	n = snprintf(out, cap,
		     "%.16s\n%.200s\n%.32s\n%.32s\n%lld\n%s\noffset=%s\n"
		     "size=%s\nwait=%s\nrange=%s\n",
		     method, signed_path, from, to, (long long)t_ms, hex, o, sz,
		     wt, rg);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}

int
http_auth_make(const struct identity *me, const char *method,
	       const char *signed_path, const char *to_fpr, int64_t t_ms,
	       const struct http_params *pm, char *out, size_t cap)
{
	char from[IDENTITY_FPR_LEN + 1], text[1024];
	char nhex[2 * HTTP_NONCE_LEN + 1], shex[2 * IDENTITY_SIG_LEN + 1];
	uint8_t nonce[HTTP_NONCE_LEN], sig[IDENTITY_SIG_LEN];
	size_t len;
	int n;

	identity_fingerprint(identity_sign_pk(me), identity_kx_pk(me), from);
	randombytes_buf(nonce, sizeof(nonce));
	len = http_auth_text(method, signed_path, from, to_fpr, t_ms, nonce, pm,
			     text, sizeof(text));
	if (len == 0 ||
	    identity_sign(me, HTTP_LABEL, (const uint8_t *)text, len, sig) != 0)
		return FERRY_EINVAL;
	hex_out(nonce, sizeof(nonce), nhex);
	hex_out(sig, sizeof(sig), shex);
	n = snprintf(out, cap, "Ferry v1 %s %s %lld %s %s", from, to_fpr,
		     (long long)t_ms, nhex, shex);
	return n < 0 || (size_t)n >= cap ? FERRY_EINVAL : 0;
}

int
http_auth_check(const struct http_auth *a,
		const uint8_t sign_pk[IDENTITY_PK_LEN], const char *method,
		const char *signed_path, const struct http_params *pm)
{
	char text[1024];
	size_t len = http_auth_text(method, signed_path, a->from, a->to,
				    a->t_ms, a->nonce, pm, text, sizeof(text));

	if (len == 0)
		return FERRY_ECORRUPT;
	return identity_verify(sign_pk, HTTP_LABEL, (const uint8_t *)text, len,
			       a->sig) == 0
		   ? 0
		   : FERRY_ECORRUPT;
}

int
http_list_parse(const char *body, size_t len, uint64_t max_size,
		http_list_fn fn, void *arg)
{
	size_t m = sizeof(HTTP_LIST_MAGIC) - 1, pos, count = 0;

	if (body == NULL || len < m || len > HTTP_LIST_BYTES ||
	    memcmp(body, HTTP_LIST_MAGIC, m) != 0)
		return FERRY_EINVAL;
	/* First pass: the whole answer is well formed; then the calls. */
	for (int pass = 0; pass < 2; pass++) {
		for (pos = m, count = 0; pos < len; count++) {
			const char *line = body + pos, *nl, *sp;
			char name[HTTP_NAME_MAX + 1], num[24];
			size_t ll, nl_len;
			uint64_t size;
			int rc;

			nl = memchr(line, '\n', len - pos);
			if (nl == NULL || count == HTTP_LIST_MAX)
				return FERRY_EINVAL;
			ll = (size_t)(nl - line);
			sp = memchr(line, ' ', ll);
			if (sp == NULL)
				return FERRY_EINVAL;
			nl_len = (size_t)(sp - line);
			/* A NUL would end the size early: "5\0x" is no 5. */
			if (!http_name_ok(line, nl_len) ||
			    ll - nl_len - 1 >= sizeof(num) ||
			    memchr(sp + 1, '\0', ll - nl_len - 1) != NULL)
				return FERRY_EINVAL;
			memcpy(name, line, nl_len);
			name[nl_len] = '\0';
			memcpy(num, sp + 1, ll - nl_len - 1);
			num[ll - nl_len - 1] = '\0';
			if (http_u64_parse(num, max_size, &size) != 0)
				return FERRY_EINVAL;
			if (pass == 1 && (rc = fn(arg, name, size)) != 0)
				return rc;
			pos += ll + 1;
		}
	}
	return 0;
}
