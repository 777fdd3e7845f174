/*
 * fuzz_http.c - libFuzzer target for the HTTP transport's parsers of
 * outside bytes (transports/http_parse.c, docs/http.md): the route of a
 * URL path, the Authorization header and the signed text it covers,
 * decimal header values, Range, and a poll answer.
 *
 * The input is cut at 0xff bytes (a byte none of these grammars allows)
 * into parts:
 *   0  a URL path            http_route_parse
 *   1  an Authorization      http_auth_parse, then http_auth_check
 *                            against a fixed key
 *   2  X-Ferry-Offset        http_u64_parse (and a signed parameter)
 *   3  Range                 http_range_parse (and a signed parameter)
 *   4  a poll answer (bytes, NULs too)  http_list_parse
 *   5  X-Ferry-Size, 6  X-Ferry-Wait   signed parameters, http_u64_parse
 *   7  its first byte picks the method (& 3: GET, HEAD, PUT, DELETE, the
 *      only ones the server authenticates; "0" to "3" in the seeds)
 * A missing or empty part is an absent header (NULL; an empty header
 * value is signed as an absent one, and no number or range is empty).
 *
 * Besides "no crash, no sanitizer report", each parser is held to its
 * contract: what parses comes back byte for byte from the parsed values
 * (one spelling per value, so nothing is accepted that a strict reader
 * would refuse); the decimal and Range parsers agree with a plain
 * reference; a route's signed path is the tail of the URL it came from;
 * every poll-answer name passes http_name_ok; and a request signed with
 * http_auth_make for any parameters it accepts parses and verifies, with
 * a signed text of exactly one line per field (no parameter can add a
 * line).
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ferry_err.h"
#include "transports/http.h"
#include "transports/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PARTS  8
#define UP_MAX (4ull << 30) /* http_int.h's HTTP_UP_MAX */

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_http: %s:%d: %s\n", __FILE__,    \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

static struct identity *
fixed_identity(void)
{
	static struct identity *id;
	uint8_t seed[IDENTITY_SEED_LEN];

	if (id == NULL) {
		for (size_t i = 0; i < sizeof(seed); i++)
			seed[i] = (uint8_t)(i * 7 + 1);
		if (identity_from_seed(seed, &id) != 0)
			abort();
	}
	return id;
}

/* The reference for http_u64_parse: digits only, no leading zero but
 * "0", at most max (compared as digit strings, so no overflow). */
static int
u64_ref(const char *s, size_t n, uint64_t max)
{
	char mx[24];
	size_t ml;

	if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	ml = (size_t)snprintf(mx, sizeof(mx), "%" PRIu64, max);
	return n < ml || (n == ml && memcmp(s, mx, n) <= 0);
}

static void
check_u64(const char *s, uint64_t max)
{
	uint64_t v = 0;
	int rc = http_u64_parse(s, max, &v);

	CHECK(rc == 0 || rc == FERRY_EINVAL);
	CHECK((rc == 0) == u64_ref(s, strlen(s), max));
	if (rc == 0) {
		char back[24];
		snprintf(back, sizeof(back), "%" PRIu64, v);
		CHECK(v <= max && strcmp(back, s) == 0);
	}
}

static void
check_range(const char *s)
{
	uint64_t off = 0;
	size_t n = strlen(s);
	int ref = n >= 8 && strncmp(s, "bytes=", 6) == 0 && s[n - 1] == '-' &&
		  u64_ref(s + 6, n - 7, UINT64_MAX);
	int rc = http_range_parse(s, &off);

	CHECK(rc == 0 || rc == FERRY_EINVAL);
	CHECK((rc == 0) == ref);
	if (rc == 0) {
		char back[32];
		snprintf(back, sizeof(back), "bytes=%" PRIu64 "-", off);
		CHECK(strcmp(back, s) == 0);
	}
}

/* The route; its signed path (or "v1/poll") into sp. */
static void
check_route(const char *path, char *sp, size_t cap)
{
	struct http_route r;
	char want[sizeof(r.signed_path)];
	size_t pl, sl;
	int rc = http_route_parse(path, &r);

	snprintf(sp, cap, "v1/poll");
	CHECK(rc == 0 || rc == FERRY_EINVAL);
	if (rc != 0)
		return;
	pl = strlen(path);
	sl = strlen(r.signed_path);
	CHECK(sl > 0 && sl < pl && path[pl - sl - 1] == '/' &&
	      memcmp(path + pl - sl, r.signed_path, sl) == 0);
	switch (r.kind) {
	case HR_POLL:
		snprintf(want, sizeof(want), "v1/poll");
		break;
	case HR_IN:
	case HR_OUT:
		CHECK(http_name_ok(r.name, strlen(r.name)));
		snprintf(want, sizeof(want), "v1/%s/%s",
			 r.kind == HR_IN ? "in" : "out", r.name);
		break;
	default:
		CHECK(0);
	}
	CHECK(strcmp(want, r.signed_path) == 0);
	snprintf(sp, cap, "%s", r.signed_path);
}

static void
hex(const uint8_t *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

/* A header value http_auth_text signs: absent, or printable ASCII of at
 * most 64 bytes. */
static int
param_ok(const char *v)
{
	size_t n;

	if (v == NULL)
		return 1;
	n = strlen(v);
	if (n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return 0;
	return 1;
}

static void
check_auth(const char *value, const char *method, const char *sp,
	   const struct http_params *pm)
{
	struct identity *id = fixed_identity();
	struct http_auth a, b;
	char back[HTTP_AUTH_MAX + 64], made[HTTP_AUTH_MAX];
	char text[1024], nh[2 * HTTP_NONCE_LEN + 1],
	    sh[2 * IDENTITY_SIG_LEN + 1];
	const char *to = "abcd-efgh-ijkl-mnop";
	int64_t t_ms = 1700000000000LL;
	size_t len, lines = 0;
	int rc = http_auth_parse(value, &a);

	CHECK(rc == 0 || rc == FERRY_EINVAL);
	if (rc == 0) {
		CHECK(strlen(a.from) == IDENTITY_FPR_LEN &&
		      strlen(a.to) == IDENTITY_FPR_LEN && a.t_ms >= 0);
		hex(a.nonce, sizeof(a.nonce), nh);
		hex(a.sig, sizeof(a.sig), sh);
		snprintf(back, sizeof(back), "Ferry v1 %s %s %lld %s %s",
			 a.from, a.to, (long long)a.t_ms, nh, sh);
		CHECK(strcmp(back, value) == 0);
		rc = http_auth_check(&a, identity_sign_pk(id), method, sp, pm);
		CHECK(rc == 0 || rc == FERRY_ECORRUPT);
		to = a.to;
		t_ms = a.t_ms;
	}

	/* What the client makes for these parameters verifies. */
	rc = http_auth_make(id, method, sp, to, t_ms, pm, made, sizeof(made));
	CHECK(rc == 0 || rc == FERRY_EINVAL);
	CHECK((rc == 0) == (param_ok(pm->offset) && param_ok(pm->size) &&
			    param_ok(pm->wait) && param_ok(pm->range)));
	if (rc != 0)
		return;
	CHECK(http_auth_parse(made, &b) == 0);
	CHECK(strcmp(b.to, to) == 0 && b.t_ms == t_ms);
	CHECK(http_auth_check(&b, identity_sign_pk(id), method, sp, pm) == 0);
	len = http_auth_text(method, sp, b.from, b.to, b.t_ms, b.nonce, pm,
			     text, sizeof(text));
	CHECK(len > 0 && len == strlen(text));
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	CHECK(lines == 10);
}

struct walk {
	char buf[HTTP_LIST_BYTES + 64];
	size_t len, calls, stop_at;
	uint64_t max;
};

static int
on_name(void *arg, const char *name, uint64_t size)
{
	struct walk *w = arg;
	int n;

	CHECK(http_name_ok(name, strlen(name)));
	CHECK(size <= w->max);
	w->calls++;
	CHECK(w->calls <= HTTP_LIST_MAX);
	n = snprintf(w->buf + w->len, sizeof(w->buf) - w->len,
		     "%s %" PRIu64 "\n", name, size);
	CHECK(n > 0 && (size_t)n < sizeof(w->buf) - w->len);
	w->len += (size_t)n;
	return w->calls == w->stop_at ? 7 : 0;
}

static void
check_list(const char *body, size_t len)
{
	static struct walk w; /* big: not on the stack */
	size_t m = sizeof(HTTP_LIST_MAGIC) - 1;
	int rc;

	w.calls = 0;
	w.stop_at = 0;
	w.max = HTTP_WAIT_MAX_S * 1000000ull; /* any bound */
	memcpy(w.buf, HTTP_LIST_MAGIC, m);
	w.len = m;
	rc = http_list_parse(body, len, w.max, on_name, &w);
	CHECK(rc == 0 || rc == FERRY_EINVAL);
	if (rc == 0) {
		size_t calls = w.calls;

		/* The answer is exactly what the names and sizes spell. */
		CHECK(w.len == len && memcmp(w.buf, body, len) == 0);
		if (calls > 0) {
			/* A callback's non-0 stops the walk there. */
			w.len = m;
			w.calls = 0;
			w.stop_at = 1 + calls / 2;
			CHECK(http_list_parse(body, len, w.max, on_name, &w) ==
			      7);
			CHECK(w.calls == w.stop_at);
		}
	} else {
		CHECK(w.calls == 0); /* refused before any call */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "HEAD", "PUT", "DELETE"};
	const char *part[PARTS] = {NULL};
	size_t plen[PARTS] = {0}, n = 0, start = 0;
	char *copy, sp[HTTP_NAME_MAX + 16];
	struct http_params pm;
	const char *method;

	if (size > HTTP_LIST_BYTES + 4096)
		return 0;
	copy = malloc(size + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (size_t i = 0; i <= size && n < PARTS; i++)
		if (i == size || (uint8_t)copy[i] == 0xff) {
			copy[i] = '\0';
			part[n] = i > start || n == 4 ? copy + start : NULL;
			plen[n] = i - start;
			n++;
			start = i + 1;
		}
	method = methods[part[7] != NULL ? (uint8_t)part[7][0] & 3 : 0];

	check_route(part[0] != NULL ? part[0] : "", sp, sizeof(sp));
	pm.offset = part[2];
	pm.range = part[3];
	pm.size = part[5];
	pm.wait = part[6];
	for (int i = 2; i < 7; i++) {
		if (part[i] == NULL || i == 3 || i == 4)
			continue;
		check_u64(part[i], UINT64_MAX);
		check_u64(part[i], UP_MAX);
		check_u64(part[i], HTTP_WAIT_MAX_S);
	}
	if (part[3] != NULL)
		check_range(part[3]);
	if (part[1] != NULL)
		check_auth(part[1], method, sp, &pm);
	if (part[4] != NULL)
		check_list(part[4], plen[4]);
	free(copy);
	return 0;
}
