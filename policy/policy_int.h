/*
 * policy_int.h - helpers shared by the files of policy/ only.
 */
#ifndef FERRY_POLICY_INT_H
#define FERRY_POLICY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

/* Plain decimal count, at most max.  0 or FERRY_EINVAL. */
FERRY_MUST_CHECK int policy_parse_count(const char *s, uint64_t max,
					uint64_t *out);

/*
 * getpwnam_r (is_group 0) or getgrnam_r (1) with a buffer that grows on
 * ERANGE, the uid or gid into *id.  Returns 0, FERRY_ENOTFOUND, FERRY_ENOMEM
 * or FERRY_EIO (the lookup itself failed; its errno value in *sys_err).
 */
FERRY_MUST_CHECK int policy_lookup_id(const char *name, int is_group,
				      unsigned long *id, int *sys_err);

/*
 * Parse the value of an [acl] allow/deny key, "PRINCIPAL OPS PATTERN",
 * into r (line is left to the caller).  Resolves user and group names.
 * Returns 0, FERRY_EINVAL with the reason and its remedy in why, or
 * FERRY_ENOMEM.
 */
FERRY_MUST_CHECK int policy_acl_rule_parse(const char *value, int allow,
					   struct policy_acl_rule *r, char *why,
					   size_t whylen);

#endif
