/*
 * test_transports_http.c - the HTTP transport's parsers and request
 * signatures (transports/http_parse.c, docs/http.md 2): routes behind any
 * prefix, bundle names, numbers and ranges, the poll answer, and an
 * Authorization that verifies only for exactly the request it was made
 * for.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ferry_err.h"
#include "tests/unit/testutil.h"
#include "transports/http.h"

static void
test_routes(void)
{
	static const struct {
		const char *path;
		int ok;
		enum http_route_kind kind;
		const char *name, *signed_path;
	} cases[] = {
	    {"/ferry/v1/poll", 1, HR_POLL, "", "v1/poll"},
	    {"/v1/poll", 1, HR_POLL, "", "v1/poll"},
	    {"/a/v1/b/v1/poll", 1, HR_POLL, "", "v1/poll"},
	    {"/ferry/v1/in/0a1b.bundle", 1, HR_IN, "0a1b.bundle",
	     "v1/in/0a1b.bundle"},
	    {"/ferry/v1/out/x_y-Z.bundle", 1, HR_OUT, "x_y-Z.bundle",
	     "v1/out/x_y-Z.bundle"},
	    {"/ferry/v1/poll/", 0, 0, NULL, NULL},
	    {"/ferry/v1/in/../x.bundle", 0, 0, NULL, NULL},
	    {"/ferry/v1/in/a/b.bundle", 0, 0, NULL, NULL},
	    {"/ferry/v1/in/.bundle", 0, 0, NULL, NULL},
	    {"/ferry/v1/in/a.bundlex", 0, 0, NULL, NULL},
	    {"/ferry/v1/in/a.b.bundle", 0, 0, NULL, NULL},
	    {"/ferry/v1/queues", 0, 0, NULL, NULL},
	    {"/ferry/v2/poll", 0, 0, NULL, NULL},
	    {"ferry/v1/poll", 0, 0, NULL, NULL},
	    {"", 0, 0, NULL, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_route r;
		int rc = http_route_parse(cases[i].path, &r);

		if ((rc == 0) != cases[i].ok)
			printf("route '%s': rc %d\n", cases[i].path, rc);
		CU_ASSERT_EQUAL(rc == 0, cases[i].ok);
		if (rc != 0 || !cases[i].ok)
			continue;
		CU_ASSERT_EQUAL(r.kind, cases[i].kind);
		CU_ASSERT_STRING_EQUAL(r.name, cases[i].name);
		CU_ASSERT_STRING_EQUAL(r.signed_path, cases[i].signed_path);
	}
	/* A name one byte over the limit. */
	{
		char path[300], name[HTTP_NAME_MAX + 2];
		struct http_route r;

		memset(name, 'a', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		memcpy(name + sizeof(name) - 1 - 7, ".bundle", 7);
		snprintf(path, sizeof(path), "/v1/in/%s", name);
		CU_ASSERT_EQUAL(http_route_parse(path, &r), FERRY_EINVAL);
		snprintf(path, sizeof(path), "/v1/in/%s", name + 1);
		CU_ASSERT_EQUAL(http_route_parse(path, &r), 0);
	}
}

static void
test_numbers_and_ranges(void)
{
	uint64_t v = 7;

	CU_ASSERT_EQUAL(http_u64_parse("0", 10, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(http_u64_parse("18446744073709551615", UINT64_MAX, &v),
			0);
	CU_ASSERT_EQUAL(v, UINT64_MAX);
	CU_ASSERT_EQUAL(http_u64_parse("18446744073709551616", UINT64_MAX, &v),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(http_u64_parse("11", 10, &v), FERRY_EINVAL);
	CU_ASSERT_EQUAL(http_u64_parse("01", 10, &v), FERRY_EINVAL);
	CU_ASSERT_EQUAL(http_u64_parse("+1", 10, &v), FERRY_EINVAL);
	CU_ASSERT_EQUAL(http_u64_parse(" 1", 10, &v), FERRY_EINVAL);
	CU_ASSERT_EQUAL(http_u64_parse("", 10, &v), FERRY_EINVAL);
	CU_ASSERT_EQUAL(http_u64_parse(NULL, 10, &v), FERRY_EINVAL);
	CU_ASSERT_EQUAL(http_range_parse("bytes=123-", &v), 0);
	CU_ASSERT_EQUAL(v, 123);
	CU_ASSERT_EQUAL(http_range_parse("bytes=1-2", &v), FERRY_EINVAL);
	CU_ASSERT_EQUAL(http_range_parse("bytes=-5", &v), FERRY_EINVAL);
	CU_ASSERT_EQUAL(http_range_parse("bytes=-", &v), FERRY_EINVAL);
	CU_ASSERT_EQUAL(http_range_parse("items=1-", &v), FERRY_EINVAL);
}

struct seen {
	char names[4][HTTP_NAME_MAX + 1];
	uint64_t sizes[4];
	size_t n;
};

static int
collect(void *arg, const char *name, uint64_t size)
{
	struct seen *s = arg;

	if (s->n == 4)
		return 1;
	snprintf(s->names[s->n], sizeof(s->names[s->n]), "%s", name);
	s->sizes[s->n++] = size;
	return 0;
}

static int
parse_list(const char *body, uint64_t max, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return http_list_parse(body, strlen(body), max, collect, s);
}

static void
test_poll_answer(void)
{
	struct seen s;

	CU_ASSERT_EQUAL(parse_list("ferry-box/1\n", 100, &s), 0);
	CU_ASSERT_EQUAL(s.n, 0);
	CU_ASSERT_EQUAL(
	    parse_list("ferry-box/1\na.bundle 5\nb-c.bundle 0\n", 100, &s), 0);
	CU_ASSERT_EQUAL(s.n, 2);
	CU_ASSERT_STRING_EQUAL(s.names[1], "b-c.bundle");
	CU_ASSERT_EQUAL(s.sizes[0], 5);
	/* Any defect refuses the whole answer, before any call. */
	CU_ASSERT_EQUAL(
	    parse_list("ferry-box/1\na.bundle 5\nb.bundle\n", 100, &s),
	    FERRY_EINVAL);
	CU_ASSERT_EQUAL(s.n, 0);
	CU_ASSERT_EQUAL(parse_list("ferry-box/1\na.bundle 101\n", 100, &s),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(parse_list("ferry-box/1\na.bundle 5", 100, &s),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(parse_list("ferry-box/1\n../a.bundle 5\n", 100, &s),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(parse_list("ferry-box/2\n", 100, &s), FERRY_EINVAL);
	CU_ASSERT_EQUAL(parse_list("", 100, &s), FERRY_EINVAL);
}

static struct identity *
ident(uint8_t fill)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	struct identity *id = NULL;

	memset(seed, fill, sizeof(seed));
	CU_ASSERT_FATAL(identity_from_seed(seed, &id) == 0);
	return id;
}

static void
test_auth_round_trip(void)
{
	struct identity *a = ident(1), *b = ident(2);
	char to[IDENTITY_FPR_LEN + 1], from[IDENTITY_FPR_LEN + 1];
	char hdr[HTTP_AUTH_MAX], h2[HTTP_AUTH_MAX];
	struct http_params pm = {"10", "20", NULL, NULL}, other = pm;
	struct http_auth au, au2;

	identity_fingerprint(identity_sign_pk(b), identity_kx_pk(b), to);
	identity_fingerprint(identity_sign_pk(a), identity_kx_pk(a), from);
	CU_ASSERT_EQUAL_FATAL(http_auth_make(a, "PUT", "v1/out/x.bundle", to,
					     1234567, &pm, hdr, sizeof(hdr)),
			      0);
	CU_ASSERT_EQUAL_FATAL(http_auth_parse(hdr, &au), 0);
	CU_ASSERT_STRING_EQUAL(au.from, from);
	CU_ASSERT_STRING_EQUAL(au.to, to);
	CU_ASSERT_EQUAL(au.t_ms, 1234567);
	CU_ASSERT_EQUAL(http_auth_check(&au, identity_sign_pk(a), "PUT",
					"v1/out/x.bundle", &pm),
			0);
	/* Anything else: another key, method, path, parameter, time. */
	CU_ASSERT_EQUAL(http_auth_check(&au, identity_sign_pk(b), "PUT",
					"v1/out/x.bundle", &pm),
			FERRY_ECORRUPT);
	CU_ASSERT_EQUAL(http_auth_check(&au, identity_sign_pk(a), "HEAD",
					"v1/out/x.bundle", &pm),
			FERRY_ECORRUPT);
	CU_ASSERT_EQUAL(http_auth_check(&au, identity_sign_pk(a), "PUT",
					"v1/out/y.bundle", &pm),
			FERRY_ECORRUPT);
	other.offset = "0";
	CU_ASSERT_EQUAL(http_auth_check(&au, identity_sign_pk(a), "PUT",
					"v1/out/x.bundle", &other),
			FERRY_ECORRUPT);
	other = pm;
	other.range = "bytes=0-";
	CU_ASSERT_EQUAL(http_auth_check(&au, identity_sign_pk(a), "PUT",
					"v1/out/x.bundle", &other),
			FERRY_ECORRUPT);
	au2 = au;
	au2.t_ms++;
	CU_ASSERT_EQUAL(http_auth_check(&au2, identity_sign_pk(a), "PUT",
					"v1/out/x.bundle", &pm),
			FERRY_ECORRUPT);
	/* Two headers for the same request differ (fresh nonces). */
	CU_ASSERT_EQUAL(http_auth_make(a, "PUT", "v1/out/x.bundle", to, 1234567,
				       &pm, h2, sizeof(h2)),
			0);
	CU_ASSERT(strcmp(hdr, h2) != 0);
	/* A parameter with a control character cannot be signed. */
	other = pm;
	other.size = "1\n2";
	CU_ASSERT_EQUAL(http_auth_make(a, "PUT", "v1/out/x.bundle", to, 1,
				       &other, h2, sizeof(h2)),
			FERRY_EINVAL);
	identity_free(a);
	identity_free(b);
}

static void
test_auth_malformed(void)
{
	static const char *const bad[] = {
	    "",
	    "Ferry",
	    "Basic dXNlcjpwYXNz",
	    "Ferry v2 aaaa-aaaa-aaaa-aaaa aaaa-aaaa-aaaa-aaaa 1 "
	    "00000000000000000000000000000000 00",
	    "Ferry v1 aaaa-aaaa-aaaa-aaa aaaa-aaaa-aaaa-aaaa 1 "
	    "00000000000000000000000000000000 00",
	    "Ferry v1 AAAA-aaaa-aaaa-aaaa aaaa-aaaa-aaaa-aaaa 1 "
	    "00000000000000000000000000000000 00",
	    "Ferry  v1 aaaa-aaaa-aaaa-aaaa aaaa-aaaa-aaaa-aaaa 1 "
	    "00000000000000000000000000000000 00",
	    "Ferry v1 aaaa-aaaa-aaaa-aaaa aaaa-aaaa-aaaa-aaaa -1 "
	    "00000000000000000000000000000000 00",
	};
	struct http_auth a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(http_auth_parse(bad[i], &a), FERRY_EINVAL);
	CU_ASSERT_EQUAL(http_auth_parse(NULL, &a), FERRY_EINVAL);
	{
		char *big = malloc(HTTP_AUTH_MAX * 4);

		CU_ASSERT_FATAL(big != NULL);
		memset(big, 'a', HTTP_AUTH_MAX * 4 - 1);
		big[HTTP_AUTH_MAX * 4 - 1] = '\0';
		memcpy(big, "Ferry v1 ", 9);
		CU_ASSERT_EQUAL(http_auth_parse(big, &a), FERRY_EINVAL);
		free(big);
	}
}

static void
add_tests(void)
{
	CU_pSuite s = CU_add_suite("transports_http", NULL, NULL);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_routes);
	TEST_ADD(s, test_numbers_and_ranges);
	TEST_ADD(s, test_poll_answer);
	TEST_ADD(s, test_auth_round_trip);
	TEST_ADD(s, test_auth_malformed);
}

int
main(void)
{
	return test_main("test_transports_http", add_tests);
}
