/*
 * routes.c - the [route] section of ferry.conf: which peers carry a
 * message for a node that is not a peer, and the [directory] of nodes
 * known by their cards only (docs/routing.md).
 *
 *   [route]
 *   base-* = town, ship-2     ; any of them, the soonest contact first
 *   *      = camp             ; the default route
 *
 * Lines are kept in file order; the first whose pattern (fnmatch(3),
 * over node names) matches wins.  A peer needs no route: a message for
 * a peer goes to it directly, whatever [route] says.
 */
#include "config.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy/policy_int.h"
#include "transports/identity.h"

/* A pattern: the characters of node names and the shell's wildcards. */
static int
pattern_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > FERRY_NODE_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      strchr("-_.*?[]!", *s) != NULL))
			return 0;
	return 1;
}

int
policy_route_add(struct policy *p, const char *pattern, const char *value,
		 int line, char *why, size_t whylen)
{
	struct policy_route *r, *grown;
	char buf[POLICY_LINE_MAX + 1], *save = NULL, *tok;
	char q[96];

	if (!pattern_valid(pattern)) {
		snprintf(why, whylen,
			 "route pattern '%s' is not a node name pattern (use "
			 "a-z 0-9 - _ . and the wildcards * ? [...], at most "
			 "%d bytes)",
			 ferry_quote(pattern, q, sizeof(q)), FERRY_NODE_MAX);
		return FERRY_EINVAL;
	}
	for (size_t i = 0; i < p->nroutes; i++)
		if (strcmp(p->routes[i].pattern, pattern) == 0) {
			snprintf(why, whylen,
				 "route '%s' repeats line %d (keep one: the "
				 "first matching line wins)",
				 pattern, p->routes[i].line);
			return FERRY_EINVAL;
		}
	if (p->nroutes >= POLICY_ROUTES_MAX) {
		snprintf(why, whylen, "more than %d [route] lines",
			 POLICY_ROUTES_MAX);
		return FERRY_EINVAL;
	}
	grown = policy_grow(p->routes, p->nroutes, sizeof(*p->routes));
	if (grown == NULL) {
		snprintf(why, whylen, "out of memory");
		return FERRY_ENOMEM;
	}
	p->routes = grown;
	r = &p->routes[p->nroutes];
	memset(r, 0, sizeof(*r));
	snprintf(r->pattern, sizeof(r->pattern), "%s", pattern);
	r->line = line;
	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (!ferry_node_name_valid(tok)) {
			snprintf(why, whylen,
				 "route '%s': '%s' is not a node name (list "
				 "the peers that carry these messages: PEER, "
				 "PEER...)",
				 pattern, ferry_quote(tok, q, sizeof(q)));
			return FERRY_EINVAL;
		}
		for (size_t i = 0; i < r->npeers; i++)
			if (strcmp(r->peers[i], tok) == 0) {
				snprintf(why, whylen,
					 "route '%s' names peer %s twice",
					 pattern, tok);
				return FERRY_EINVAL;
			}
		if (r->npeers == POLICY_ROUTE_PEERS) {
			snprintf(why, whylen,
				 "route '%s' names more than %d peers", pattern,
				 POLICY_ROUTE_PEERS);
			return FERRY_EINVAL;
		}
		snprintf(r->peers[r->npeers++], sizeof(r->peers[0]), "%s", tok);
	}
	if (r->npeers == 0) {
		snprintf(why, whylen,
			 "route '%s' names no peer (write PATTERN = PEER[, "
			 "PEER...])",
			 pattern);
		return FERRY_EINVAL;
	}
	p->nroutes++;
	return 0;
}

int
policy_seal_to_add(struct policy *p, const char *value, char *why,
		   size_t whylen)
{
	char buf[POLICY_LINE_MAX + 1], *save = NULL, *tok;
	char q[96];
	size_t before = p->nseal_to;

	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (!pattern_valid(tok)) {
			snprintf(why, whylen,
				 "seal_to: '%s' is not a node name pattern "
				 "(a-z 0-9 - _ . and the wildcards * ? [...])",
				 ferry_quote(tok, q, sizeof(q)));
			return FERRY_EINVAL;
		}
		if (p->nseal_to == POLICY_SEAL_PATTERNS) {
			snprintf(why, whylen,
				 "seal_to lists more than %d patterns",
				 POLICY_SEAL_PATTERNS);
			return FERRY_EINVAL;
		}
		snprintf(p->seal_to[p->nseal_to++], sizeof(p->seal_to[0]), "%s",
			 tok);
	}
	if (p->nseal_to == before) {
		snprintf(why, whylen,
			 "seal_to lists no node (write seal_to = "
			 "NODE-PATTERN[, ...])");
		return FERRY_EINVAL;
	}
	return 0;
}

int
policy_seal_default(const struct policy *p, const char *node, const char *queue)
{
	const struct policy_queue *q;

	for (size_t i = 0; i < p->nseal_to; i++)
		if (fnmatch(p->seal_to[i], node, 0) == 0)
			return 1;
	q = policy_queue_find(p, queue);
	return q != NULL && q->seal;
}

int
policy_group_open(struct policy *p, const char *name, int line, char *why,
		  size_t whylen)
{
	struct policy_group *g, *grown;
	char q[96];

	/* "@" and the name make a destination node (ferry_dest_node_valid). */
	if (!ferry_node_name_valid(name) || strlen(name) >= FERRY_NODE_MAX) {
		snprintf(why, whylen,
			 "[group %s]: a group name is spelled like a node "
			 "name (a-z 0-9 - _ ., at most %d bytes); it is sent "
			 "to as @NAME/QUEUE",
			 ferry_quote(name, q, sizeof(q)), FERRY_NODE_MAX - 1);
		return FERRY_EINVAL;
	}
	if (policy_group_find(p, name) != NULL) {
		snprintf(why, whylen, "[group %s] appears twice (merge them)",
			 name);
		return FERRY_EINVAL;
	}
	if (p->ngroups >= POLICY_GROUPS_MAX) {
		snprintf(why, whylen, "more than %d [group] sections",
			 POLICY_GROUPS_MAX);
		return FERRY_EINVAL;
	}
	grown = policy_grow(p->groups, p->ngroups, sizeof(*p->groups));
	if (grown == NULL) {
		snprintf(why, whylen, "out of memory");
		return FERRY_ENOMEM;
	}
	p->groups = grown;
	g = &p->groups[p->ngroups++];
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->line = line;
	return 0;
}

int
policy_group_set(struct policy *p, const char *key, const char *value,
		 char *why, size_t whylen)
{
	struct policy_group *g = &p->groups[p->ngroups - 1];
	char buf[POLICY_LINE_MAX + 1], *save = NULL, *tok;
	char q[96];

	if (strcmp(key, "members") != 0) {
		snprintf(why, whylen,
			 "unknown key '%s' in [group %s] (the only key is "
			 "members = PATTERN[, PATTERN...])",
			 ferry_quote(key, q, sizeof(q)), g->name);
		return FERRY_EINVAL;
	}
	if (g->npatterns > 0) {
		snprintf(why, whylen,
			 "[group %s] has two members lines (list every "
			 "pattern on one)",
			 g->name);
		return FERRY_EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (!pattern_valid(tok)) {
			snprintf(why, whylen,
				 "[group %s]: member '%s' is not a node name "
				 "pattern (a-z 0-9 - _ . and the wildcards * "
				 "? [...])",
				 g->name, ferry_quote(tok, q, sizeof(q)));
			return FERRY_EINVAL;
		}
		if (g->npatterns == POLICY_GROUP_PATTERNS) {
			snprintf(why, whylen,
				 "[group %s] lists more than %d patterns",
				 g->name, POLICY_GROUP_PATTERNS);
			return FERRY_EINVAL;
		}
		snprintf(g->patterns[g->npatterns++], sizeof(g->patterns[0]),
			 "%s", tok);
	}
	if (g->npatterns == 0) {
		snprintf(why, whylen,
			 "[group %s]: members lists nobody (write members = "
			 "NODE-PATTERN[, ...])",
			 g->name);
		return FERRY_EINVAL;
	}
	return 0;
}

int
policy_groups_check(const struct policy *p, int *line, char *why, size_t whylen)
{
	for (size_t i = 0; i < p->ngroups; i++)
		if (p->groups[i].npatterns == 0) {
			*line = p->groups[i].line;
			snprintf(why, whylen,
				 "[group %s] has no members line (add "
				 "members = NODE-PATTERN[, ...])",
				 p->groups[i].name);
			return FERRY_EINVAL;
		}
	return 0;
}

const struct policy_group *
policy_group_find(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->ngroups; i++)
		if (strcmp(p->groups[i].name, name) == 0)
			return &p->groups[i];
	return NULL;
}

int
policy_routes_check(const struct policy *p, int *line, char *why, size_t whylen)
{
	for (size_t i = 0; i < p->nroutes; i++) {
		const struct policy_route *r = &p->routes[i];
		for (size_t j = 0; j < r->npeers; j++) {
			int found = 0;
			for (size_t k = 0; k < p->npeers && !found; k++)
				found =
				    strcmp(p->peers[k].name, r->peers[j]) == 0;
			if (!found) {
				*line = r->line;
				snprintf(why, whylen,
					 "route '%s' goes through %s, which "
					 "is not a [peer] (a route names the "
					 "peers that carry the messages: add "
					 "[peer %s] or fix the name)",
					 r->pattern, r->peers[j], r->peers[j]);
				return FERRY_EINVAL;
			}
		}
	}
	return 0;
}

int
policy_directory_add(struct policy *p, const char *name, const char *card,
		     int line, char *why, size_t whylen)
{
	struct policy_node_card *d, *grown;
	char reason[160], q[96];

	if (!ferry_node_name_valid(name)) {
		snprintf(why, whylen,
			 "[directory] '%s' is not a node name (write NAME = "
			 "CARD, the card printed by ferry info on NAME)",
			 ferry_quote(name, q, sizeof(q)));
		return FERRY_EINVAL;
	}
	for (size_t i = 0; i < p->ndirectory; i++)
		if (strcmp(p->directory[i].name, name) == 0) {
			snprintf(why, whylen,
				 "[directory] %s repeats line %d (keep one)",
				 name, p->directory[i].line);
			return FERRY_EINVAL;
		}
	if (p->ndirectory >= POLICY_PEERS_MAX * 16) {
		snprintf(why, whylen, "more than %d [directory] lines",
			 POLICY_PEERS_MAX * 16);
		return FERRY_EINVAL;
	}
	grown = policy_grow(p->directory, p->ndirectory, sizeof(*p->directory));
	if (grown == NULL) {
		snprintf(why, whylen, "out of memory");
		return FERRY_ENOMEM;
	}
	p->directory = grown;
	d = &p->directory[p->ndirectory];
	memset(d, 0, sizeof(*d));
	if (identity_card_parse(card, d->sign_pk, d->kx_pk, reason,
				sizeof(reason)) != 0) {
		snprintf(why, whylen,
			 "bad card for [directory] %s: %s (copy the card "
			 "printed by ferry info on %s)",
			 name, reason, name);
		return FERRY_EINVAL;
	}
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->line = line;
	p->ndirectory++;
	return 0;
}

const struct policy_node_card *
policy_directory_find(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->ndirectory; i++)
		if (strcmp(p->directory[i].name, name) == 0)
			return &p->directory[i];
	return NULL;
}

const struct policy_route *
policy_route_find(const struct policy *p, const char *node)
{
	for (size_t i = 0; i < p->nroutes; i++)
		if (fnmatch(p->routes[i].pattern, node, 0) == 0)
			return &p->routes[i];
	return NULL;
}
