/*
 * policyutil.h - what the policy tests (test_policy_config,
 * test_policy_peers) share: a ferry.conf from a string, and the runner of
 * their tables of cases (label, file text, wanted result, wanted piece of
 * the error text).
 */
#ifndef FERRY_POLICYUTIL_H
#define FERRY_POLICYUTIL_H

#include <stddef.h>

#include "policy/policy.h"

struct policy_case {
	const char *label;
	const char *text;
	int rc;
	const char *err; /* piece of the error text, or NULL */
};

/* Writes text to DIR/ferry.conf and policy_load()s it. */
int test_policy_load_text(const char *dir, const char *text, struct policy *p,
			  char *err, size_t errlen);

/* Loads the text of each case through load and checks its result, its
 * error text (empty when it succeeds) and, when it fails, that
 * kept_nothing(p) holds; each case is one CUnit assertion. */
void test_policy_table(const struct policy_case *cases, size_t ncases,
		       int (*load)(const char *text, struct policy *p,
				   char *err, size_t errlen),
		       int (*kept_nothing)(const struct policy *p));

#endif /* FERRY_POLICYUTIL_H */
