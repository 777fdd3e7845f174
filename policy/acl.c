/*
 * acl.c - [acl] rules of ferry.conf: parsing one rule and deciding who may
 * send to, receive from or administer which queue.
 *
 * The decision is pure: the agent hands in the peer credentials it read
 * from the control socket (SO_PEERCRED plus the supplementary groups) and
 * gets a yes or no.  Names are resolved once, at load time, so a rule
 * keeps meaning the same account until the config is reloaded.
 *
 * Invariants:
 *   1. No rules at all: everything is allowed (the socket's mode and group
 *      are the only gate, see ferry.conf(5)).
 *   2. With rules: uid 0 and the agent's own uid are always allowed; then
 *      the first rule in file order whose principal, ops and pattern all
 *      match decides; no match denies.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/policy.h"
#include "policy/policy_int.h"

#define ACL_LOOKUP_BUF_MAX (1024u * 1024u) /* getpw*_r buffer cap */
#define ACL_NAME_MAX	   255

static const struct {
	const char *name;
	unsigned ops;
} acl_ops[] = {
    {"send", POLICY_OP_SEND},
    {"recv", POLICY_OP_RECV},
    {"admin", POLICY_OP_ADMIN},
    {"all", POLICY_OP_ALL},
};

const char *
policy_op_name(unsigned op)
{
	for (size_t i = 0; i < 3; i++)
		if (acl_ops[i].ops == op)
			return acl_ops[i].name;
	return "?";
}

/* Numeric id (not the reserved (id_t)-1); 1 if s was numeric and fits. */
static int
acl_numeric_id(const char *s, unsigned long *out)
{
	uint64_t v;

	if (policy_parse_count(s, UINT32_MAX - 1u, &v) != 0)
		return 0;
	*out = (unsigned long)v;
	return 1;
}

int
policy_lookup_id(const char *name, int is_group, unsigned long *id,
		 int *sys_err)
{
	long hint =
	    sysconf(is_group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	size_t len = hint > 0 ? (size_t)hint : 1024;
	char *buf = NULL;
	int rc = FERRY_EIO;

	for (;;) {
		struct passwd pw, *pwr = NULL;
		struct group gr, *grr = NULL;
		char *nbuf = realloc(buf, len);
		int e;

		if (nbuf == NULL) {
			rc = FERRY_ENOMEM;
			goto out;
		}
		buf = nbuf;
		if (is_group)
			e = getgrnam_r(name, &gr, buf, len, &grr);
		else
			e = getpwnam_r(name, &pw, buf, len, &pwr);
		if (e == ERANGE && len < ACL_LOOKUP_BUF_MAX) {
			len *= 2;
			continue;
		}
		if (e == 0 && (grr != NULL || pwr != NULL)) {
			*id = is_group ? (unsigned long)gr.gr_gid
				       : (unsigned long)pw.pw_uid;
			rc = 0;
		} else if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF ||
			   e == EPERM) {
			/* getpwnam(3): all of these may mean "not found" */
			rc = FERRY_ENOTFOUND;
		} else {
			*sys_err = e;
			rc = FERRY_EIO;
		}
		goto out;
	}
out:
	free(buf);
	return rc;
}

static int
acl_parse_principal(const char *s, struct policy_acl_rule *r, char *why,
		    size_t whylen)
{
	const char *name;
	const char *what;
	unsigned long id = 0;
	int is_group, rc, sys_err = 0;

	if (strcmp(s, "*") == 0) {
		r->kind = POLICY_ANY;
		return 0;
	}
	if (strncmp(s, "user:", 5) == 0) {
		is_group = 0;
		name = s + 5;
		what = "user";
	} else if (strncmp(s, "group:", 6) == 0) {
		is_group = 1;
		name = s + 6;
		what = "group";
	} else {
		snprintf(why, whylen,
			 "unknown principal '%s' (write user:NAME, user:UID, "
			 "group:NAME, group:GID or *)",
			 s);
		return FERRY_EINVAL;
	}
	if (name[0] == '\0' || strlen(name) > ACL_NAME_MAX) {
		snprintf(why, whylen,
			 "bad %s name in '%.*s' (write %s:NAME or %s:%s)", what,
			 ACL_NAME_MAX, s, what, what, is_group ? "GID" : "UID");
		return FERRY_EINVAL;
	}
	if (!acl_numeric_id(name, &id)) {
		rc = policy_lookup_id(name, is_group, &id, &sys_err);
		if (rc == FERRY_ENOTFOUND) {
			snprintf(why, whylen,
				 "unknown %s '%s' (create it, fix the name or "
				 "write the numeric %s)",
				 what, name, is_group ? "gid" : "uid");
			return FERRY_EINVAL;
		}
		if (rc == FERRY_EIO) {
			snprintf(why, whylen,
				 "cannot look up %s '%s': %s (check the "
				 "system's user database)",
				 what, name, strerror(sys_err));
			return FERRY_EINVAL;
		}
		if (rc != 0)
			return rc;
	}
	if (is_group) {
		r->kind = POLICY_GROUP;
		r->gid = (gid_t)id;
	} else {
		r->kind = POLICY_USER;
		r->uid = (uid_t)id;
	}
	return 0;
}

static int
acl_parse_ops(const char *s, unsigned *ops, char *why, size_t whylen)
{
	const char *p = s;

	*ops = 0;
	for (;;) {
		size_t n = strcspn(p, ",");
		size_t i;

		for (i = 0; i < sizeof(acl_ops) / sizeof(acl_ops[0]); i++)
			if (strlen(acl_ops[i].name) == n &&
			    strncmp(acl_ops[i].name, p, n) == 0)
				break;
		if (i == sizeof(acl_ops) / sizeof(acl_ops[0])) {
			snprintf(why, whylen,
				 "unknown operation '%.*s' in '%s' (use send, "
				 "recv, admin or all, separated by commas)",
				 (int)(n > 64 ? 64 : n), p, s);
			return FERRY_EINVAL;
		}
		*ops |= acl_ops[i].ops;
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

int
policy_acl_rule_parse(const char *value, int allow, struct policy_acl_rule *r,
		      char *why, size_t whylen)
{
	char buf[POLICY_LINE_MAX];
	char *fields[3];
	char *q = buf;
	size_t n = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->allow = allow;
	if (strlen(value) >= sizeof(buf))
		n = 4;
	else
		memcpy(buf, value, strlen(value) + 1);
	while (n <= 3) {
		q += strspn(q, " \t");
		if (*q == '\0')
			break;
		if (n == 3) {
			n = 4;
			break;
		}
		fields[n++] = q;
		q += strcspn(q, " \t");
		if (*q != '\0')
			*q++ = '\0';
	}
	if (n != 3) {
		snprintf(why, whylen,
			 "expected 'PRINCIPAL OPS PATTERN' (for example "
			 "'%s = user:alice send,recv */inbox')",
			 allow ? "allow" : "deny");
		return FERRY_EINVAL;
	}
	rc = acl_parse_principal(fields[0], r, why, whylen);
	if (rc != 0)
		return rc;
	rc = acl_parse_ops(fields[1], &r->ops, why, whylen);
	if (rc != 0)
		return rc;
	if (strlen(fields[2]) >= sizeof(r->pattern)) {
		snprintf(why, whylen,
			 "pattern longer than %zu bytes (a target is at most "
			 "NODE/QUEUE; shorten it)",
			 sizeof(r->pattern) - 1);
		return FERRY_EINVAL;
	}
	memcpy(r->pattern, fields[2], strlen(fields[2]) + 1);
	return 0;
}

static int
acl_principal_matches(const struct policy_acl_rule *r, uid_t uid,
		      const gid_t *gids, size_t ngids)
{
	switch (r->kind) {
	case POLICY_ANY:
		return 1;
	case POLICY_USER:
		return r->uid == uid;
	case POLICY_GROUP:
		for (size_t i = 0; i < ngids; i++)
			if (gids[i] == r->gid)
				return 1;
		return 0;
	default:
		return 0;
	}
}

int
policy_acl_check(const struct policy *p, uid_t agent_uid, uid_t uid,
		 const gid_t *gids, size_t ngids, unsigned op,
		 const char *target)
{
	if (p == NULL || target == NULL)
		return 0;
	/* exactly one known bit */
	if (op == 0 || (op & ~POLICY_OP_ALL) != 0 || (op & (op - 1)) != 0)
		return 0;
	if (p->nacl == 0)
		return 1;
	if (uid == 0 || uid == agent_uid)
		return 1;
	if (gids == NULL)
		ngids = 0;
	for (size_t i = 0; i < p->nacl; i++) {
		const struct policy_acl_rule *r = &p->acl[i];

		if ((r->ops & op) == 0)
			continue;
		if (!acl_principal_matches(r, uid, gids, ngids))
			continue;
		if (fnmatch(r->pattern, target, 0) != 0)
			continue;
		return r->allow ? 1 : 0;
	}
	return 0;
}
