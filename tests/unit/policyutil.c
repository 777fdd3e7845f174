/*
 * policyutil.c - helpers of the policy tests: see policyutil.h.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tests/unit/policyutil.h"
#include "tests/unit/testutil.h"

int
test_policy_load_text(const char *dir, const char *text, struct policy *p,
		      char *err, size_t errlen)
{
	char path[PATH_MAX];
	FILE *f;

	CU_ASSERT_FATAL(snprintf(path, sizeof(path), "%s/ferry.conf", dir) <
			(int)sizeof(path));
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(fputs(text, f) != EOF);
	CU_ASSERT_FATAL(fclose(f) == 0);
	return policy_load(path, p, err, errlen);
}

void
test_policy_table(const struct policy_case *cases, size_t ncases,
		  int (*load)(const char *text, struct policy *p, char *err,
			      size_t errlen),
		  int (*kept_nothing)(const struct policy *p))
{
	for (size_t i = 0; i < ncases; i++) {
		const struct policy_case *lc = &cases[i];
		struct policy p;
		char err[1024] = "untouched";
		int rc = load(lc->text, &p, err, sizeof(err));
		int ok = rc == lc->rc;

		if (lc->err != NULL)
			ok = ok && strstr(err, lc->err) != NULL;
		else
			ok = ok && err[0] == '\0';
		if (rc != 0)
			ok = ok && kept_nothing(&p);
		if (!ok)
			fprintf(stderr,
				"\nload case '%s': rc %d (want %d) err "
				"'%s' (want '%s')\n",
				lc->label, rc, lc->rc, err,
				lc->err != NULL ? lc->err : "");
		CU_ASSERT(ok);
		policy_cleanup(&p);
	}
}
