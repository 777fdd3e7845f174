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
 * Room for one more element in an array of n elements of size bytes that
 * only this function has grown: the array's capacity is n rounded up to a
 * power of two, so it is reallocated (to 2n) only when n is 0 or a power of
 * two.  Loading 1,024 [peer] sections copies the array 10 times, not 1,024
 * (which under AddressSanitizer, whose realloc always moves, took 40 s).
 * Returns the array, maybe moved, or NULL (out of memory; arr untouched).
 */
FERRY_MUST_CHECK void *policy_grow(void *arr, size_t n, size_t size);

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

/*
 * [peer NAME] sections and [node] listen (policy/peers.c).  config.c
 * feeds them line by line; each returns 0, FERRY_EINVAL with the reason
 * and its remedy in why, or FERRY_ENOMEM.  The section being read is always
 * the last peer, p->peers[p->npeers - 1]; seen[] holds the line each of its
 * keys was set on (0: not yet), POLICY_PEER_NKEYS entries, and is owned by
 * the caller.
 */
#define POLICY_PEER_NKEYS 16

/* Append [peer name] (header on line) with the defaults; clears seen[]. */
FERRY_MUST_CHECK int policy_peer_open(struct policy *p, const char *name,
				      int line, int *seen, char *why,
				      size_t whylen);

/* One "key = value" line (on line) of the last peer. */
FERRY_MUST_CHECK int policy_peer_set(struct policy *p, const char *key,
				     const char *value, int line, int *seen,
				     char *why, size_t whylen);

/*
 * The last peer's section ended: required key, retry_min <= retry_max,
 * dial = always with a tcp address, key unique among the peers before it.
 * On error *line is the line to blame.
 */
FERRY_MUST_CHECK int policy_peer_close(struct policy *p, const int *seen,
				       int *line, char *why, size_t whylen);

/* After the whole file: no peer has the node's own name. */
FERRY_MUST_CHECK int policy_peers_finish(const struct policy *p, int *line,
					 char *why, size_t whylen);

/* One [node] "listen = host:port" line; http: an "http_listen =" line. */
FERRY_MUST_CHECK int policy_listen_add(struct policy *p, int http,
				       const char *value, char *why,
				       size_t whylen);

/* One [route] line "pattern = value" (policy/routes.c). */
/* [bridge NAME]: open, then its keys; check: the required ones. */
FERRY_MUST_CHECK int policy_bridge_open(struct policy *p, const char *name,
					int line, char *why, size_t whylen);
FERRY_MUST_CHECK int policy_bridge_set(struct policy *p, const char *key,
				       const char *value, char *why,
				       size_t whylen);
FERRY_MUST_CHECK int policy_bridges_check(const struct policy *p, int *line,
					  char *why, size_t whylen);
/* [node] seal_to = PATTERN[, ...] (several lines add up). */
FERRY_MUST_CHECK int policy_seal_to_add(struct policy *p, const char *value,
					char *why, size_t whylen);
/* [group NAME]: a new group (open), then its members = line (set). */
FERRY_MUST_CHECK int policy_group_open(struct policy *p, const char *name,
				       int line, char *why, size_t whylen);
FERRY_MUST_CHECK int policy_group_set(struct policy *p, const char *key,
				      const char *value, char *why,
				      size_t whylen);
/* Every group has a members line. */
FERRY_MUST_CHECK int policy_groups_check(const struct policy *p, int *line,
					 char *why, size_t whylen);
FERRY_MUST_CHECK int policy_route_add(struct policy *p, const char *pattern,
				      const char *value, int line, char *why,
				      size_t whylen);
/* One [directory] line "name = card" (policy/routes.c). */
FERRY_MUST_CHECK int policy_directory_add(struct policy *p, const char *name,
					  const char *card, int line, char *why,
					  size_t whylen);
/* At the end of the file: every peer a route names is a [peer]. */
FERRY_MUST_CHECK int policy_routes_check(const struct policy *p, int *line,
					 char *why, size_t whylen);

#endif
