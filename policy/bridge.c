/*
 * bridge.c - the [bridge NAME] sections of ferry.conf: a NATS JetStream
 * cluster that local queues drain into and that ferry sends come out of
 * (docs/bridge.md; agent/bridge.c runs them).
 *
 *   [bridge field]
 *   nats     = nats://127.0.0.1:4222, nats://127.0.0.1:4223
 *   stream   = FIELD
 *   queues   = reports*, alerts
 *   subject  = ferry.{node}.{queue}
 *   outbound = ferry.out.>
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy/policy_int.h"

/* NATS names: a stream or durable name has no blanks, '.', '*', '>'. */
static int
nats_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > POLICY_NATS_NAME_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s > '~' || strchr(".*>/\\", *s) != NULL)
			return 0;
	return 1;
}

/* A subject (or filter): tokens of printable characters separated by
 * single dots; in a filter '*' and a last '>' are wildcards. */
static int
subject_valid(const char *s, int filter)
{
	size_t n = strlen(s);
	const char *tok = s;

	if (n == 0 || n >= POLICY_NATS_SUBJECT_MAX)
		return 0;
	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t len = (size_t)(p - tok);
			if (len == 0)
				return 0;
			if (!filter && (memchr(tok, '*', len) != NULL ||
					memchr(tok, '>', len) != NULL))
				return 0;
			if (filter && memchr(tok, '>', len) != NULL &&
			    (len != 1 || *p != '\0'))
				return 0;
			if (*p == '\0')
				return 1;
			tok = p + 1;
		} else if (*p <= ' ' || *p > '~') {
			return 0;
		}
	}
}

int
policy_bridge_open(struct policy *p, const char *name, int line, char *why,
		   size_t whylen)
{
	struct policy_bridge *b, *grown;
	char q[96];

	if (!ferry_node_name_valid(name)) {
		snprintf(why, whylen,
			 "[bridge %s]: a bridge is named like a node (a-z 0-9 "
			 "- _ .)",
			 ferry_quote(name, q, sizeof(q)));
		return FERRY_EINVAL;
	}
	for (size_t i = 0; i < p->nbridges; i++)
		if (strcmp(p->bridges[i].name, name) == 0) {
			snprintf(why, whylen,
				 "[bridge %s] appears twice (merge them)",
				 name);
			return FERRY_EINVAL;
		}
	if (p->nbridges >= POLICY_BRIDGES_MAX) {
		snprintf(why, whylen, "more than %d [bridge] sections",
			 POLICY_BRIDGES_MAX);
		return FERRY_EINVAL;
	}
	grown = policy_grow(p->bridges, p->nbridges, sizeof(*p->bridges));
	if (grown == NULL) {
		snprintf(why, whylen, "out of memory");
		return FERRY_ENOMEM;
	}
	p->bridges = grown;
	b = &p->bridges[p->nbridges++];
	memset(b, 0, sizeof(*b));
	snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(b->subject, sizeof(b->subject), "ferry.{node}.{queue}");
	b->line = line;
	return 0;
}

/* Split value at commas and blanks into up to max items of cap bytes,
 * each checked by ok.  0, or FERRY_EINVAL with why. */
static int
list_set(const char *key, const char *bridge, const char *value, char *items,
	 size_t cap, size_t max, size_t *n, int (*ok)(const char *),
	 const char *what, char *why, size_t whylen)
{
	char buf[POLICY_LINE_MAX + 1], *save = NULL, *tok;
	char q[96];

	*n = 0;
	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (strlen(tok) >= cap || !ok(tok)) {
			snprintf(why, whylen, "[bridge %s] %s: '%s' is not %s",
				 bridge, key, ferry_quote(tok, q, sizeof(q)),
				 what);
			return FERRY_EINVAL;
		}
		if (*n == max) {
			snprintf(why, whylen,
				 "[bridge %s] %s lists more than %zu", bridge,
				 key, max);
			return FERRY_EINVAL;
		}
		snprintf(items + *n * cap, cap, "%s", tok);
		(*n)++;
	}
	if (*n == 0) {
		snprintf(why, whylen, "[bridge %s] %s is empty", bridge, key);
		return FERRY_EINVAL;
	}
	return 0;
}

static int
url_ok(const char *s)
{
	return strncmp(s, "nats://", 7) == 0 && s[7] != '\0' &&
	       strpbrk(s, "\"'\\") == NULL;
}

static int
queue_pattern_ok(const char *s)
{
	for (const char *p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("-_./*?[]!", *p)))
			return 0;
	return strncmp(s, FERRY_RESERVED_PREFIX,
		       strlen(FERRY_RESERVED_PREFIX)) != 0;
}

int
policy_bridge_set(struct policy *p, const char *key, const char *value,
		  char *why, size_t whylen)
{
	struct policy_bridge *b = &p->bridges[p->nbridges - 1];
	char q[96];

	if (strcmp(key, "nats") == 0)
		return list_set(key, b->name, value, b->nats[0],
				sizeof(b->nats[0]), POLICY_NATS_SERVERS,
				&b->nnats, url_ok, "a nats://HOST:PORT URL",
				why, whylen);
	if (strcmp(key, "queues") == 0)
		return list_set(
		    key, b->name, value, b->queues[0], sizeof(b->queues[0]),
		    POLICY_BRIDGE_QUEUES, &b->nqueues, queue_pattern_ok,
		    "a queue name pattern (not ferry.*)", why, whylen);
	if (strcmp(key, "stream") == 0 || strcmp(key, "durable") == 0) {
		char *dst = key[0] == 's' ? b->stream : b->durable;
		if (!nats_name_valid(value)) {
			snprintf(why, whylen,
				 "[bridge %s] %s: '%s' is not a JetStream name "
				 "(no blanks, '.', '*', '>', '/'; at most %d "
				 "bytes)",
				 b->name, key, ferry_quote(value, q, sizeof(q)),
				 POLICY_NATS_NAME_MAX);
			return FERRY_EINVAL;
		}
		snprintf(dst, POLICY_NATS_NAME_MAX + 1, "%s", value);
		return 0;
	}
	if (strcmp(key, "subject") == 0 || strcmp(key, "outbound") == 0) {
		int filter = key[0] == 'o';
		char *dst = filter ? b->outbound : b->subject;
		if (!subject_valid(value, filter)) {
			snprintf(why, whylen,
				 "[bridge %s] %s: '%s' is not a NATS subject%s",
				 b->name, key, ferry_quote(value, q, sizeof(q)),
				 filter ? " filter" : " (no wildcards)");
			return FERRY_EINVAL;
		}
		snprintf(dst, POLICY_NATS_SUBJECT_MAX, "%s", value);
		return 0;
	}
	snprintf(why, whylen,
		 "unknown key '%s' in [bridge %s] (known keys: nats, stream, "
		 "queues, subject, outbound, durable)",
		 ferry_quote(key, q, sizeof(q)), b->name);
	return FERRY_EINVAL;
}

int
policy_bridges_check(const struct policy *p, int *line, char *why,
		     size_t whylen)
{
	for (size_t i = 0; i < p->nbridges; i++) {
		const struct policy_bridge *b = &p->bridges[i];
		const char *miss = b->nnats == 0	  ? "nats"
				   : b->stream[0] == '\0' ? "stream"
				   : b->nqueues == 0 && b->outbound[0] == '\0'
				       ? "queues or outbound"
				       : NULL;
		if (miss != NULL) {
			*line = b->line;
			snprintf(why, whylen,
				 "[bridge %s] needs %s (see ferry.conf(5))",
				 b->name, miss);
			return FERRY_EINVAL;
		}
	}
	return 0;
}
