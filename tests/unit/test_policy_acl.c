/*
 * test_policy_acl.c - CUnit tests of [acl] rules (policy/acl.c): parsing
 * one rule, and policy_acl_check() over tables of (label, client, op,
 * target, wanted decision) against a few rule sets.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/unit/testutil.h"

/* snprintf into an array, failing the test on truncation. */
#define FMT(buf, ...)                                                          \
	CU_ASSERT_FATAL(snprintf(buf, sizeof(buf), __VA_ARGS__) <              \
			(int)sizeof(buf))

#define AGENT_UID 999

static char *dir;

static int
setup(void)
{
	dir = test_tmpdir("policy-acl");
	return 0;
}

static int
teardown(void)
{
	test_rmtree(dir);
	dir = NULL;
	return 0;
}

/* Load "[node] name = n" plus acl_text (the [acl] body) into p. */
static int
load_acl(const char *acl_text, struct policy *p, char *err, size_t errlen)
{
	char path[PATH_MAX];
	FILE *f;

	CU_ASSERT_FATAL(snprintf(path, sizeof(path), "%s/ferry.conf", dir) <
			(int)sizeof(path));
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(fprintf(f, "[node]\nname = n\n[acl]\n%s", acl_text) >
			0);
	CU_ASSERT_FATAL(fclose(f) == 0);
	return policy_load(path, p, err, errlen);
}

/* ----------------------------------------------------------- rule parsing */

struct rule_case {
	const char *label;
	const char *line; /* one [acl] line, on line 4 of the file */
	int rc;
	const char *err; /* piece of the error text when rc != 0 */
	int allow, kind;
	unsigned long id;
	unsigned ops;
	const char *pattern;
};

static const struct rule_case rule_cases[] = {
    {"anyone all", "allow = * all *", 0, NULL, 1, POLICY_ANY, 0, POLICY_OP_ALL,
     "*"},
    {"deny", "deny = * send */secret", 0, NULL, 0, POLICY_ANY, 0,
     POLICY_OP_SEND, "*/secret"},
    {"user by name", "allow = user:root send,recv base/*", 0, NULL, 1,
     POLICY_USER, 0, POLICY_OP_SEND | POLICY_OP_RECV, "base/*"},
    {"user by uid", "allow = user:4242 recv inbox", 0, NULL, 1, POLICY_USER,
     4242, POLICY_OP_RECV, "inbox"},
    {"group by name", "allow = group:root admin *", 0, NULL, 1, POLICY_GROUP, 0,
     POLICY_OP_ADMIN, "*"},
    {"group by gid", "allow = group:77 send,admin q?", 0, NULL, 1, POLICY_GROUP,
     77, POLICY_OP_SEND | POLICY_OP_ADMIN, "q?"},
    {"repeated op", "allow = * send,send x", 0, NULL, 1, POLICY_ANY, 0,
     POLICY_OP_SEND, "x"},
    {"tabs and comment", "allow =\t*\tsend\tx\t; why", 0, NULL, 1, POLICY_ANY,
     0, POLICY_OP_SEND, "x"},
    {"unknown user", "allow = user:no-such-user-ferry send *", FERRY_EINVAL,
     "ferry.conf:4: unknown user 'no-such-user-ferry'", 0, 0, 0, 0, NULL},
    {"unknown group", "allow = group:no-such-group-ferry send *", FERRY_EINVAL,
     "ferry.conf:4: unknown group 'no-such-group-ferry'", 0, 0, 0, 0, NULL},
    {"reserved uid", "allow = user:4294967295 send *", FERRY_EINVAL,
     "ferry.conf:4: unknown user '4294967295'", 0, 0, 0, 0, NULL},
    {"empty user", "allow = user: send *", FERRY_EINVAL,
     "ferry.conf:4: bad user name in 'user:'", 0, 0, 0, 0, NULL},
    {"bad principal", "allow = alice send *", FERRY_EINVAL,
     "ferry.conf:4: unknown principal 'alice' (write user:NAME", 0, 0, 0, 0,
     NULL},
    {"bad op", "allow = * write *", FERRY_EINVAL,
     "ferry.conf:4: unknown operation 'write' in 'write'", 0, 0, 0, 0, NULL},
    {"empty op", "allow = * send, *", FERRY_EINVAL,
     "ferry.conf:4: unknown operation '' in 'send,'", 0, 0, 0, 0, NULL},
    {"two fields", "deny = * send", FERRY_EINVAL,
     "ferry.conf:4: expected 'PRINCIPAL OPS PATTERN' (for example 'deny = ", 0,
     0, 0, 0, NULL},
    {"four fields", "allow = * send a b", FERRY_EINVAL,
     "ferry.conf:4: expected 'PRINCIPAL OPS PATTERN'", 0, 0, 0, 0, NULL},
    {"empty", "allow =", FERRY_EINVAL,
     "ferry.conf:4: expected 'PRINCIPAL OPS PATTERN'", 0, 0, 0, 0, NULL},
    {"pattern too long",
     "allow = * send "
     "ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
     "ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
     "pppppppppppppppppppppppppppppppppppppppppppppppppppppp",
     FERRY_EINVAL, "ferry.conf:4: pattern longer than 191 bytes", 0, 0, 0, 0,
     NULL},
};

static void
test_rule_parse_table(void)
{
	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]);
	     i++) {
		const struct rule_case *rc = &rule_cases[i];
		char text[1024], err[1024] = "";
		struct policy p;
		int got, ok;

		FMT(text, "%s\n", rc->line);
		got = load_acl(text, &p, err, sizeof(err));
		ok = got == rc->rc;
		if (ok && got != 0) {
			ok = strstr(err, rc->err) != NULL;
		} else if (ok) {
			const struct policy_acl_rule *r = &p.acl[0];

			ok = p.nacl == 1 && r->allow == rc->allow &&
			     r->kind == rc->kind && r->ops == rc->ops &&
			     strcmp(r->pattern, rc->pattern) == 0 &&
			     r->line == 4;
			if (rc->kind == POLICY_USER)
				ok = ok && r->uid == (uid_t)rc->id;
			if (rc->kind == POLICY_GROUP)
				ok = ok && r->gid == (gid_t)rc->id;
		}
		if (!ok)
			fprintf(stderr, "\nrule case '%s': rc %d err '%s'\n",
				rc->label, got, err);
		CU_ASSERT(ok);
		policy_cleanup(&p);
	}
}

static void
test_rules_keep_file_order(void)
{
	struct policy p;
	char err[1024];

	CU_ASSERT_EQUAL_FATAL(load_acl("deny = * all a\n"
				       "; comment\n"
				       "allow = * all b\n"
				       "[limits]\ncache = 1M\n[acl]\n"
				       "deny = * all c\n",
				       &p, err, sizeof(err)),
			      0);
	CU_ASSERT_EQUAL_FATAL(p.nacl, 3);
	CU_ASSERT_STRING_EQUAL(p.acl[0].pattern, "a");
	CU_ASSERT_EQUAL(p.acl[0].line, 4);
	CU_ASSERT_STRING_EQUAL(p.acl[1].pattern, "b");
	CU_ASSERT_EQUAL(p.acl[1].line, 6);
	CU_ASSERT_STRING_EQUAL(p.acl[2].pattern, "c");
	CU_ASSERT_EQUAL(p.acl[2].line, 10);
	policy_cleanup(&p);
}

/* ---------------------------------------------------------- check tables */

struct check_case {
	const char *label;
	uid_t uid;
	gid_t gids[3];
	size_t ngids;
	unsigned op;
	const char *target;
	int want;
};

static const char rules_brief[] = "allow = user:1001 send,recv base/*\n"
				  "allow = group:200 admin *\n"
				  "deny = * send */secret\n"
				  "allow = * send,recv *\n";

static const struct check_case brief_cases[] = {
    {"user rule", 1001, {100}, 1, POLICY_OP_SEND, "base/x", 1},
    {"first match beats later deny",
     1001,
     {100},
     1,
     POLICY_OP_SEND,
     "base/secret",
     1},
    {"deny for others", 1002, {100}, 1, POLICY_OP_SEND, "base/secret", 0},
    {"deny spans nodes", 1001, {100}, 1, POLICY_OP_SEND, "far/secret", 0},
    {"catch-all send", 1002, {100}, 1, POLICY_OP_SEND, "far/q", 1},
    {"catch-all recv", 1002, {100}, 1, POLICY_OP_RECV, "secret", 1},
    {"admin without group", 1002, {100}, 1, POLICY_OP_ADMIN, "q", 0},
    {"admin via second gid", 1002, {100, 200}, 2, POLICY_OP_ADMIN, "q", 1},
    {"node-wide admin", 1002, {200}, 1, POLICY_OP_ADMIN, "", 1},
    {"no gids", 1002, {0}, 0, POLICY_OP_ADMIN, "q", 0},
    {"root", 0, {0}, 0, POLICY_OP_SEND, "far/secret", 1},
    {"root admin", 0, {0}, 0, POLICY_OP_ADMIN, "", 1},
    {"agent uid", AGENT_UID, {0}, 0, POLICY_OP_SEND, "far/secret", 1},
    {"agent uid admin", AGENT_UID, {0}, 0, POLICY_OP_ADMIN, "q", 1},
    {"two ops at once",
     1001,
     {100},
     1,
     POLICY_OP_SEND | POLICY_OP_RECV,
     "base/x",
     0},
    {"no op", 1001, {100}, 1, 0, "base/x", 0},
    {"unknown op", 0, {0}, 0, 0x8, "base/x", 0},
};

static const char rules_narrow[] = "allow = user:1001 recv inbox\n"
				   "deny = group:300 all *\n"
				   "allow = * send */inbox\n"
				   "allow = * recv job-?\n"
				   "allow = * recv [ab]*\n";

static const struct check_case narrow_cases[] = {
    {"recv allowed", 1001, {100}, 1, POLICY_OP_RECV, "inbox", 1},
    {"recv other queue", 1001, {100}, 1, POLICY_OP_RECV, "outbox", 0},
    {"send to inbox", 1002, {100}, 1, POLICY_OP_SEND, "far/inbox", 1},
    {"star spans slashes", 1002, {100}, 1, POLICY_OP_SEND, "far/base/inbox", 1},
    {"send elsewhere", 1002, {100}, 1, POLICY_OP_SEND, "far/outbox", 0},
    {"group deny first", 1002, {100, 300}, 2, POLICY_OP_SEND, "far/inbox", 0},
    {"user rule before group deny", 1001, {300}, 1, POLICY_OP_RECV, "inbox", 1},
    {"question mark", 1002, {100}, 1, POLICY_OP_RECV, "job-7", 1},
    {"question mark one char", 1002, {100}, 1, POLICY_OP_RECV, "job-17", 0},
    {"bracket", 1002, {100}, 1, POLICY_OP_RECV, "beta", 1},
    {"bracket miss", 1002, {100}, 1, POLICY_OP_RECV, "gamma", 0},
    {"no match denies admin", 1002, {100}, 1, POLICY_OP_ADMIN, "", 0},
    {"deny does not stop root", 0, {300}, 1, POLICY_OP_ADMIN, "x", 1},
    {"deny does not stop agent", AGENT_UID, {300}, 1, POLICY_OP_SEND, "x/y", 1},
};

static const struct check_case open_cases[] = {
    {"anyone sends", 1002, {100}, 1, POLICY_OP_SEND, "far/secret", 1},
    {"anyone receives", 1002, {0}, 0, POLICY_OP_RECV, "q", 1},
    {"anyone administers", 1002, {0}, 0, POLICY_OP_ADMIN, "", 1},
    {"bad op still refused", 1002, {0}, 0, 0x8, "q", 0},
    {"two ops still refused", 0, {0}, 0, POLICY_OP_ALL, "q", 0},
};

static void
run_checks(const char *rules, const struct check_case *cases, size_t n)
{
	struct policy p;
	char err[1024];

	CU_ASSERT_EQUAL_FATAL(load_acl(rules, &p, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		const struct check_case *cc = &cases[i];
		int got = policy_acl_check(&p, AGENT_UID, cc->uid, cc->gids,
					   cc->ngids, cc->op, cc->target);

		if (got != cc->want)
			fprintf(stderr, "\ncheck case '%s': got %d\n",
				cc->label, got);
		CU_ASSERT_EQUAL(got, cc->want);
	}
	policy_cleanup(&p);
}

static void
test_check_first_match_wins(void)
{
	run_checks(rules_brief, brief_cases,
		   sizeof(brief_cases) / sizeof(brief_cases[0]));
}

static void
test_check_no_match_denies(void)
{
	run_checks(rules_narrow, narrow_cases,
		   sizeof(narrow_cases) / sizeof(narrow_cases[0]));
}

static void
test_check_no_rules_allows_all(void)
{
	run_checks("", open_cases, sizeof(open_cases) / sizeof(open_cases[0]));
}

static void
test_check_odd_arguments(void)
{
	struct policy p;
	char err[1024];

	CU_ASSERT_EQUAL_FATAL(load_acl(rules_brief, &p, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(policy_acl_check(&p, AGENT_UID, 1002, NULL, 5,
					 POLICY_OP_SEND, "far/q"),
			1);
	CU_ASSERT_EQUAL(policy_acl_check(&p, AGENT_UID, 1002, NULL, 5,
					 POLICY_OP_ADMIN, "q"),
			0);
	CU_ASSERT_EQUAL(
	    policy_acl_check(&p, AGENT_UID, 0, NULL, 0, POLICY_OP_SEND, NULL),
	    0);
	CU_ASSERT_EQUAL(policy_acl_check(NULL, AGENT_UID, 0, NULL, 0,
					 POLICY_OP_SEND, "a/b"),
			0);
	policy_cleanup(&p);
}

/* A hand-built policy needs no file: policy_acl_check() is pure. */
static void
test_check_hand_built_rules(void)
{
	struct policy_acl_rule rules[2];
	struct policy p;
	gid_t g = 5;

	policy_init(&p);
	memset(rules, 0, sizeof(rules));
	rules[0].allow = 0;
	rules[0].kind = POLICY_GROUP;
	rules[0].gid = 5;
	rules[0].ops = POLICY_OP_RECV;
	FMT(rules[0].pattern, "private/*");
	rules[1].allow = 1;
	rules[1].kind = POLICY_ANY;
	rules[1].ops = POLICY_OP_ALL;
	FMT(rules[1].pattern, "*");
	p.acl = rules;
	p.nacl = 2;
	CU_ASSERT_EQUAL(
	    policy_acl_check(&p, 1, 2, &g, 1, POLICY_OP_RECV, "private/x"), 0);
	CU_ASSERT_EQUAL(
	    policy_acl_check(&p, 1, 2, &g, 1, POLICY_OP_SEND, "n/private/x"),
	    1);
	CU_ASSERT_EQUAL(
	    policy_acl_check(&p, 2, 2, &g, 1, POLICY_OP_RECV, "private/x"), 1);
	CU_ASSERT_STRING_EQUAL(policy_op_name(POLICY_OP_SEND), "send");
	CU_ASSERT_STRING_EQUAL(policy_op_name(POLICY_OP_RECV), "recv");
	CU_ASSERT_STRING_EQUAL(policy_op_name(POLICY_OP_ADMIN), "admin");
	CU_ASSERT_STRING_EQUAL(policy_op_name(POLICY_OP_ALL), "?");
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("policy_acl", setup, teardown);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_rule_parse_table);
	TEST_ADD(s, test_rules_keep_file_order);
	TEST_ADD(s, test_check_first_match_wins);
	TEST_ADD(s, test_check_no_match_denies);
	TEST_ADD(s, test_check_no_rules_allows_all);
	TEST_ADD(s, test_check_odd_arguments);
	TEST_ADD(s, test_check_hand_built_rules);
}

int
main(void)
{
	return test_main("test_policy_acl", add_suites);
}
