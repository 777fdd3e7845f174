/*
 * config.c - ferry.conf: defaults, loading, and the commented default file
 * that `ferry init` writes.
 *
 * The format is INI as read by libinih (ini_parse_stream), documented in
 * ferry.conf(5).  One table, config_keys[], names every single-valued key
 * with its section, type, range, default and one line of help; loading,
 * duplicate detection, error messages and policy_default_conf() all walk
 * it, so a new key is one row (plus its field, its policy_init() default
 * and its paragraph in ferry.conf.5).  Multi-valued keys ([acl] rules,
 * [node] listen) and [peer NAME] sections are handed to acl.c and peers.c.
 *
 * libinih is fed through config_reader(), which sees every physical line
 * before inih does.  It exists because Debian's libinih is built without
 * line numbers for the handler (INI_HANDLER_LINENO 0), with 200-byte lines
 * and 50-byte section names, with continuation lines, and without a call
 * for empty sections.  So the reader:
 *   - counts lines (inih calls the handler for a line right after reading
 *     it, so the reader's count is the handler's line);
 *   - strips leading blanks, which turns continuation lines off;
 *   - reads sections itself (any length, [queue NAME] and [peer NAME]
 *     included), checks them and hands inih a short stand-in;
 *   - refuses lines inih would misparse, with a message saying why;
 *   - for a key line longer than inih's buffer, splits it itself the way
 *     inih does and hands over only "key=" (config_handler() then takes
 *     the value from the reader);
 *   - stops the parse (returns NULL) at the first error.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "policy/policy.h"
#include "policy/policy_int.h"

enum config_sect {
	SECT_NONE,
	SECT_NODE,
	SECT_LIMITS,
	SECT_QUEUE,
	SECT_ACL,
	SECT_PEER,
	SECT_ROUTE,
	SECT_DIRECTORY,
	SECT_GROUP,
	SECT_BRIDGE,
};

enum config_kind {
	KIND_NODE_NAME, /* char[], ferry_node_name_valid */
	KIND_PATH,	/* char[POLICY_PATH_MAX], made absolute */
	KIND_GROUP,	/* char[], "" or an existing group */
	KIND_MODE,	/* unsigned, octal, subset of 0777 */
	KIND_LEVEL,	/* char[], error|warn|info|debug */
	KIND_SIZE,	/* uint64_t, policy_parse_size */
	KIND_DURATION,	/* int64_t, policy_parse_duration_ms */
	KIND_COUNT,	/* uint64_t, plain number */
	KIND_UINT,	/* unsigned, plain number */
	KIND_BOOL,	/* unsigned 0/1: yes|no, true|false, on|off, 1|0 */
	KIND_ENDPOINT,	/* struct policy_endpoint, host:port or a port alone
			   (on 127.0.0.1); empty: none (port 0) */
};

struct config_key {
	enum config_sect sect;
	const char *name;
	enum config_kind kind;
	size_t off;	   /* in struct policy, or struct policy_queue */
	size_t size;	   /* of the field */
	uint64_t min, max; /* numeric kinds (durations in ms) */
	const char *range; /* min..max as the user writes them */
	const char *def;   /* default as written; NULL: derived */
	const char *help;  /* one line for the default file */
};

#define PF(field)                                                              \
	offsetof(struct policy, field), sizeof(((struct policy *)0)->field)
#define QF(field)                                                              \
	offsetof(struct policy_queue, field),                                  \
	    sizeof(((struct policy_queue *)0)->field)
#define MS_H (3600ull * 1000)

static const struct config_key config_keys[] = {
    {SECT_NODE, "name", KIND_NODE_NAME, PF(node_name), 0, 0, NULL, NULL,
     "Name of this node: 1-63 of a-z 0-9 - _ . (required)."},
    {SECT_NODE, "state_dir", KIND_PATH, PF(state_dir), 0, 0, NULL, ".",
     "Directory of the store (default: this file's directory)."},
    {SECT_NODE, "socket", KIND_PATH, PF(socket_path), 0, 0, NULL, NULL,
     "Control socket for local clients (default: STATE_DIR/ferry.sock)."},
    {SECT_NODE, "socket_group", KIND_GROUP, PF(socket_group), 0, 0, NULL, "",
     "Group owning the socket (empty: ferryd's primary group)."},
    {SECT_NODE, "socket_mode", KIND_MODE, PF(socket_mode), 0, 0777,
     "0000..0777", "0660", "Permission bits of the socket: who may connect."},
    {SECT_NODE, "pid_file", KIND_PATH, PF(pid_file), 0, 0, NULL, NULL,
     "File holding ferryd's process id (default: STATE_DIR/ferryd.pid)."},
    {SECT_NODE, "site", KIND_NODE_NAME, PF(site), 0, 0, NULL, "",
     "A name shared with the other bases of a site: what peers send "
     "to it is delivered here (docs/bridge.md)."},
    {SECT_NODE, "hop_limit", KIND_UINT, PF(hop_limit), 1, 64, "1..64", "16",
     "Most nodes a message may visit on its way (a loop guard)."},
    {SECT_NODE, "log_level", KIND_LEVEL, PF(log_level), 0, 0, NULL, "info",
     "Least severe messages logged: error, warn, info or debug."},
    {SECT_NODE, "metrics_listen", KIND_ENDPOINT, PF(metrics_listen), 0, 0, NULL,
     "",
     "Where Prometheus scrapes /metrics, host:port or a port alone for "
     "127.0.0.1, e.g. 9108 (empty: nowhere).  Unauthenticated: keep it on "
     "loopback."},
    {SECT_LIMITS, "store_quota", KIND_SIZE, PF(store_quota_bytes), 0,
     UINT64_MAX, NULL, "0",
     "Most bytes all stored messages may take (0 = unlimited)."},
    {SECT_LIMITS, "queue_quota", KIND_SIZE, PF(queue_quota_bytes), 0,
     UINT64_MAX, NULL, "0",
     "Most bytes of one queue unless [queue NAME] says (0 = unlimited)."},
    {SECT_LIMITS, "queue_max_messages", KIND_COUNT, PF(queue_quota_msgs), 0,
     UINT64_MAX, NULL, "0",
     "Most messages in one queue unless [queue NAME] says (0 = unlimited)."},
    {SECT_LIMITS, "disk_reserve", KIND_SIZE, PF(disk_reserve_bytes), 0,
     UINT64_MAX, NULL, "auto",
     "Free disk space to keep; new sends are refused below it (auto: "
     "64M, or an eighth of a volume under 1G)."},
    {SECT_LIMITS, "cache", KIND_SIZE, PF(cache_bytes), 0, UINT64_MAX, NULL,
     "16M", "Memory for the store's database cache."},
    {SECT_LIMITS, "max_message", KIND_SIZE, PF(max_message_bytes), 1,
     UINT64_MAX, "1..16E", "16G", "Largest message accepted."},
    {SECT_LIMITS, "default_ttl", KIND_DURATION, PF(default_ttl_ms), 0,
     INT64_MAX, NULL, "0",
     "Lifetime of a message whose sender set none (0 = never expires)."},
    {SECT_LIMITS, "default_lease", KIND_DURATION, PF(default_lease_ms), 1,
     12 * MS_H, "1ms..12h", "30s",
     "How long a taken message stays hidden before it comes back."},
    {SECT_LIMITS, "max_lease", KIND_DURATION, PF(max_lease_ms), 1, 12 * MS_H,
     "1ms..12h", "12h", "Longest lease a client may ask for."},
    {SECT_LIMITS, "sweep_interval", KIND_DURATION, PF(sweep_interval_ms), 1,
     MS_H, "1ms..1h", "1s",
     "How often expired messages and leases are looked for."},
    {SECT_LIMITS, "partial_idle", KIND_DURATION, PF(partial_idle_ms), 1000,
     366 * 24 * MS_H, "1s..366d", "7d",
     "How long an unfinished payload (a transfer cut, a send stopped) is "
     "kept for a resume before it is dropped."},
    {SECT_LIMITS, "max_clients", KIND_UINT, PF(max_clients), 1, 65536,
     "1..65536", "1024", "Most local clients connected at once."},
    {SECT_LIMITS, "max_clients_per_user", KIND_UINT, PF(max_clients_per_user),
     0, 65536, "0..65536", "64",
     "Most connections of one uid (not root nor ferryd's own; 0 = no cap)."},
    {SECT_LIMITS, "frame_timeout", KIND_DURATION, PF(frame_timeout_ms), 1, MS_H,
     "1ms..1h", "10s",
     "A client that stops in the middle of a frame is closed after this."},
    {SECT_LIMITS, "idle_timeout", KIND_DURATION, PF(idle_timeout_ms), 0,
     INT64_MAX, NULL, "0",
     "A client with nothing in flight is closed after this (0 = never)."},
    {SECT_LIMITS, "workers", KIND_UINT, PF(workers), 1, 256, "1..256", "16",
     "Store worker threads."},
    {SECT_QUEUE, "max_bytes", KIND_SIZE, QF(max_bytes), 0, UINT64_MAX, NULL,
     "100M", "Most bytes of this queue (0 = unlimited)."},
    {SECT_QUEUE, "max_messages", KIND_COUNT, QF(max_msgs), 0, UINT64_MAX, NULL,
     "1000", "Most messages in this queue (0 = unlimited)."},
    {SECT_QUEUE, "require_verified", KIND_BOOL, QF(require_verified), 0, 1,
     NULL, "no",
     "Refuse (to dead) a message from another node whose origin is not "
     "verified (docs/routing.md)."},
    {SECT_QUEUE, "seal", KIND_BOOL, QF(seal), 0, 1, NULL, "no",
     "Seal (end to end, as ferry send --seal) what this node sends to a "
     "queue of this name on another node."},
};

#define CONFIG_NKEYS  (sizeof(config_keys) / sizeof(config_keys[0]))
#define CONFIG_QKEY0  (CONFIG_NKEYS - 4) /* first SECT_QUEUE row */
#define CONFIG_NQKEYS 4

static const char *const config_sect_names[] = {
    [SECT_NONE] = "",	      [SECT_NODE] = "node",
    [SECT_LIMITS] = "limits", [SECT_QUEUE] = "queue",
    [SECT_ACL] = "acl",	      [SECT_PEER] = "peer",
    [SECT_ROUTE] = "route",   [SECT_DIRECTORY] = "directory",
    [SECT_GROUP] = "group",   [SECT_BRIDGE] = "bridge",
};

struct config_ctx {
	const char *path;	   /* as given, for messages */
	char dir[POLICY_PATH_MAX]; /* realpath of the file's directory */
	FILE *f;
	struct policy *p;
	int lineno;
	enum config_sect sect;
	size_t queue;			   /* current [queue NAME] */
	int key_line[CONFIG_NKEYS];	   /* line a key was set on, or 0 */
	int *queue_lines;		   /* CONFIG_NQKEYS per queue */
	int peer_lines[POLICY_PEER_NKEYS]; /* of the current [peer NAME] */
	const char *long_value;		   /* value of an over-long line */
	char line[POLICY_LINE_MAX + 1];
	int rc;		/* first error, or 0 */
	char msg[1024]; /* its text, "PATH:LINE: ..." */
};

void
policy_init(struct policy *p)
{
	memset(p, 0, sizeof(*p));
	p->socket_mode = 0660;
	p->hop_limit = POLICY_HOP_LIMIT;
	snprintf(p->log_level, sizeof(p->log_level), "info");
	p->disk_reserve_bytes = UINT64_MAX; /* auto (STORE_RESERVE_AUTO) */
	p->cache_bytes = 16ull << 20;
	p->max_message_bytes = 16ull << 30;
	p->default_ttl_ms = 0;
	p->default_lease_ms = 30 * 1000;
	p->max_lease_ms = 12 * 3600 * 1000LL;
	p->sweep_interval_ms = 1000;
	p->partial_idle_ms = 7LL * 24 * 3600 * 1000;
	p->max_clients = 1024;
	p->max_clients_per_user = 64;
	p->frame_timeout_ms = 10 * 1000;
	p->idle_timeout_ms = 0;
	p->workers = 16;
}

void
policy_cleanup(struct policy *p)
{
	if (p == NULL)
		return;
	free(p->acl);
	free(p->queues);
	free(p->peers);
	free(p->routes);
	free(p->directory);
	free(p->groups);
	free(p->bridges);
	policy_init(p);
}

const struct policy_queue *
policy_queue_find(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->nqueues; i++)
		if (strcmp(p->queues[i].name, name) == 0)
			return &p->queues[i];
	return NULL;
}

void
policy_queue_limits(const struct policy *p, const char *name,
		    uint64_t *max_bytes, uint64_t *max_msgs)
{
	const struct policy_queue *q = policy_queue_find(p, name);

	*max_bytes = q != NULL ? q->max_bytes : p->queue_quota_bytes;
	*max_msgs = q != NULL ? q->max_msgs : p->queue_quota_msgs;
}

/* Record the first error: line > 0 gives "PATH:LINE: ", else "PATH: ". */
__attribute__((format(printf, 4, 5))) static int
config_fail(struct config_ctx *c, int line, int rc, const char *fmt, ...)
{
	char what[768];
	va_list ap;

	if (c->rc != 0)
		return c->rc;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(c->msg, sizeof(c->msg), "%s:%d: %s", c->path, line,
			 what);
	else
		snprintf(c->msg, sizeof(c->msg), "%s: %s", c->path, what);
	c->rc = rc;
	return rc;
}

/*
 * dir + "/" + rel (or rel alone when absolute) into out, without empty
 * and "." components or a trailing slash.  ".." is kept: only the kernel
 * knows where it leads past a symlink.
 */
static int
config_path_join(char *out, size_t outlen, const char *dir, const char *rel)
{
	const char *parts[2] = {rel[0] == '/' ? NULL : dir, rel};
	size_t n = 0;

	for (size_t i = 0; i < 2; i++) {
		const char *s = parts[i];

		while (s != NULL && *s != '\0') {
			size_t len;

			s += strspn(s, "/");
			len = strcspn(s, "/");
			if (len == 0 || (len == 1 && s[0] == '.')) {
				s += len;
				continue;
			}
			if (n + 1 + len + 1 > outlen)
				return FERRY_EINVAL;
			out[n++] = '/';
			memcpy(out + n, s, len);
			n += len;
			s += len;
		}
	}
	if (n == 0) {
		if (outlen < 2)
			return FERRY_EINVAL;
		out[n++] = '/';
	}
	out[n] = '\0';
	return 0;
}

static const struct config_key *
config_key_find(enum config_sect sect, const char *name, size_t *idx)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		if (config_keys[i].sect == sect &&
		    strcmp(config_keys[i].name, name) == 0) {
			*idx = i;
			return &config_keys[i];
		}
	}
	return NULL;
}

/* "a, b or c": the keys of sect, for "unknown key" messages. */
static void
config_key_list(enum config_sect sect, char *buf, size_t len)
{
	size_t n = 0, total = 0, seen = 0;

	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		total += config_keys[i].sect == sect;
	total += 2 * (sect == SECT_NODE); /* listen, http_listen: not in
					     the table */
	buf[0] = '\0';
	for (size_t i = 0; i <= CONFIG_NKEYS + 1 && n < len; i++) {
		const char *name;
		int w;

		if (i == CONFIG_NKEYS && sect == SECT_NODE)
			name = "listen";
		else if (i == CONFIG_NKEYS + 1 && sect == SECT_NODE)
			name = "http_listen";
		else if (i < CONFIG_NKEYS && config_keys[i].sect == sect)
			name = config_keys[i].name;
		else
			continue;
		seen++;
		w = snprintf(buf + n, len - n, "%s%s",
			     seen == 1	     ? ""
			     : seen == total ? " or "
					     : ", ",
			     name);
		if (w < 0)
			return;
		n += (size_t)w;
	}
}

static int
config_set_group(struct config_ctx *c, const struct config_key *k,
		 const char *value, char *field)
{
	unsigned long id;
	uint64_t num;
	int rc, sys_err = 0;

	if (strlen(value) >= k->size)
		return config_fail(c, c->lineno, FERRY_EINVAL,
				   "%s is longer than %zu bytes (use a shorter "
				   "group name or the numeric gid)",
				   k->name, k->size - 1);
	if (value[0] != '\0' &&
	    policy_parse_count(value, UINT32_MAX - 1u, &num) != 0) {
		rc = policy_lookup_id(value, 1, &id, &sys_err);
		if (rc == FERRY_ENOTFOUND)
			return config_fail(c, c->lineno, FERRY_EINVAL,
					   "unknown group '%s' for %s (create "
					   "the group or fix the name)",
					   value, k->name);
		if (rc == FERRY_EIO)
			return config_fail(
			    c, c->lineno, FERRY_EINVAL,
			    "cannot look up group '%s': %s "
			    "(check the system's group database)",
			    value, strerror(sys_err));
		if (rc != 0)
			return config_fail(c, c->lineno, rc, "out of memory");
	}
	memcpy(field, value, strlen(value) + 1);
	return 0;
}

/* host:port, [v6]:port, or a port alone, which means 127.0.0.1 (the
 * safe place for what is served unauthenticated); "" turns it off. */
static int
config_set_endpoint(struct config_ctx *c, const struct config_key *k,
		    const char *value, void *field)
{
	struct policy_endpoint ep;
	char buf[32], why[512];
	size_t len = strlen(value);
	int rc;

	memset(&ep, 0, sizeof(ep));
	if (len > 0 && len <= 5 && strspn(value, "0123456789") == len) {
		snprintf(buf, sizeof(buf), "127.0.0.1:%s", value);
		value = buf;
	}
	if (value[0] != '\0') {
		rc = policy_endpoint_parse(value, &ep, why, sizeof(why));
		if (rc != 0)
			return config_fail(c, c->lineno, rc, "%s: %s", k->name,
					   why);
	}
	memcpy(field, &ep, sizeof(ep));
	return 0;
}

static int
config_set_number(struct config_ctx *c, const struct config_key *k,
		  const char *value, void *field)
{
	uint64_t u = 0;
	int64_t d = 0;
	int rc;

	switch (k->kind) {
	case KIND_SIZE:
		if (strcmp(k->name, "disk_reserve") == 0 &&
		    strcmp(value, "auto") == 0) {
			u = UINT64_MAX; /* the store picks (store.h) */
			rc = 0;
			break;
		}
		rc = policy_parse_size(value, &u);
		if (rc != 0)
			return config_fail(c, c->lineno, FERRY_EINVAL,
					   "bad size '%s' for %s (write a "
					   "number with an optional K, M, G or "
					   "T suffix, e.g. 64M)",
					   value, k->name);
		break;
	case KIND_DURATION:
		rc = policy_parse_duration_ms(value, &d);
		if (rc != 0)
			return config_fail(c, c->lineno, FERRY_EINVAL,
					   "bad duration '%s' for %s (write a "
					   "number of seconds or a number with "
					   "ms, s, m, h or d, e.g. 30s)",
					   value, k->name);
		u = (uint64_t)d;
		break;
	case KIND_MODE: {
		size_t len = strlen(value);

		if (len == 0 || len > 4 || strspn(value, "01234567") != len)
			return config_fail(
			    c, c->lineno, FERRY_EINVAL,
			    "bad %s '%s' (write octal permission "
			    "bits, e.g. 0660)",
			    k->name, value);
		u = strtoul(value, NULL, 8);
		break;
	}
	default:
		rc = policy_parse_count(value, UINT64_MAX, &u);
		if (rc != 0)
			return config_fail(c, c->lineno, FERRY_EINVAL,
					   "bad number '%s' for %s (write "
					   "decimal digits only)",
					   value, k->name);
		break;
	}
	if (u < k->min || u > k->max) {
		if (k->kind == KIND_MODE)
			return config_fail(c, c->lineno, FERRY_EINVAL,
					   "%s %s has bits outside 0777 (only "
					   "permission bits are allowed, e.g. "
					   "0660)",
					   k->name, value);
		return config_fail(c, c->lineno, FERRY_EINVAL,
				   "%s %s is out of range (use %s)", k->name,
				   value, k->range != NULL ? k->range : "?");
	}
	switch (k->kind) {
	case KIND_SIZE:
	case KIND_COUNT:
		*(uint64_t *)field = u;
		break;
	case KIND_DURATION:
		*(int64_t *)field = d;
		break;
	default:
		*(unsigned *)field = (unsigned)u;
		break;
	}
	return 0;
}

static int
config_set(struct config_ctx *c, const struct config_key *k, const char *value,
	   void *base)
{
	char *field = (char *)base + k->off;

	if (value[0] == '\0' && k->kind != KIND_GROUP &&
	    k->kind != KIND_ENDPOINT &&
	    !(k->kind == KIND_NODE_NAME && k->def != NULL))
		return config_fail(c, c->lineno, FERRY_EINVAL,
				   "empty value for %s (give a value or "
				   "remove the line to keep the default)",
				   k->name);
	switch (k->kind) {
	case KIND_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 ||
		    strcmp(value, "on") == 0 || strcmp(value, "1") == 0)
			*(unsigned *)field = 1;
		else if (strcmp(value, "no") == 0 ||
			 strcmp(value, "false") == 0 ||
			 strcmp(value, "off") == 0 || strcmp(value, "0") == 0)
			*(unsigned *)field = 0;
		else
			return config_fail(c, c->lineno, FERRY_EINVAL,
					   "bad %s '%s' (write yes or no)",
					   k->name, value);
		return 0;
	case KIND_NODE_NAME:
		if (value[0] == '\0' && k->def != NULL) {
			/* an optional one (site): empty is none */
			*(char *)field = '\0';
			return 0;
		}
		if (!ferry_node_name_valid(value))
			return config_fail(c, c->lineno, FERRY_EINVAL,
					   "bad node name '%.64s' (use 1-%d of "
					   "a-z 0-9 - _ ., not starting with "
					   "'-' or '.')",
					   value, FERRY_NODE_MAX);
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case KIND_PATH:
		if (config_path_join(field, k->size, c->dir, value) != 0)
			return config_fail(c, c->lineno, FERRY_EINVAL,
					   "%s path is longer than %zu bytes "
					   "once made absolute (use a shorter "
					   "path)",
					   k->name, k->size - 1);
		return 0;
	case KIND_GROUP:
		return config_set_group(c, k, value, field);
	case KIND_ENDPOINT:
		return config_set_endpoint(c, k, value, field);
	case KIND_LEVEL:
		if (strcmp(value, "error") != 0 && strcmp(value, "warn") != 0 &&
		    strcmp(value, "info") != 0 && strcmp(value, "debug") != 0)
			return config_fail(c, c->lineno, FERRY_EINVAL,
					   "bad %s '%s' (use error, warn, info "
					   "or debug)",
					   k->name, value);
		memcpy(field, value, strlen(value) + 1);
		return 0;
	default:
		return config_set_number(c, k, value, field);
	}
}

static int
config_acl_add(struct config_ctx *c, int allow, const char *value)
{
	struct policy *p = c->p;
	struct policy_acl_rule r, *grown;
	char why[512];
	int rc;

	if (p->nacl == POLICY_ACL_MAX)
		return config_fail(c, c->lineno, FERRY_EINVAL,
				   "more than %d ACL rules (merge rules with "
				   "patterns)",
				   POLICY_ACL_MAX);
	rc = policy_acl_rule_parse(value, allow, &r, why, sizeof(why));
	if (rc == FERRY_ENOMEM)
		return config_fail(c, c->lineno, rc, "out of memory");
	if (rc != 0)
		return config_fail(c, c->lineno, rc, "%s", why);
	r.line = c->lineno;
	grown = policy_grow(p->acl, p->nacl, sizeof(*grown));
	if (grown == NULL)
		return config_fail(c, c->lineno, FERRY_ENOMEM, "out of memory");
	p->acl = grown;
	p->acl[p->nacl++] = r;
	return 0;
}

/* Called by inih for each key line, right after config_reader() read it. */
static int
config_handler(void *user, const char *section, const char *name,
	       const char *value)
{
	struct config_ctx *c = user;
	const struct config_key *k;
	char known[256], why[640];
	size_t idx = 0;
	int *seen, rc;
	void *base;

	(void)section; /* the reader tracks sections, see the file comment */
	if (c->rc != 0)
		return 0;
	if (c->long_value != NULL)
		value = c->long_value;
	switch (c->sect) {
	case SECT_NONE:
		config_fail(c, c->lineno, FERRY_EINVAL,
			    "key '%.64s' outside any section (put it under "
			    "[node], [limits], [queue NAME], [peer NAME] or "
			    "[acl])",
			    name);
		return 0;
	case SECT_PEER:
		rc = policy_peer_set(c->p, name, value, c->lineno,
				     c->peer_lines, why, sizeof(why));
		if (rc != 0)
			config_fail(c, c->lineno, rc, "%s", why);
		return rc == 0;
	case SECT_NODE:
		if (strcmp(name, "seal_to") == 0) {
			rc = policy_seal_to_add(c->p, value, why, sizeof(why));
			if (rc != 0)
				config_fail(c, c->lineno, rc, "%s", why);
			return rc == 0;
		}
		if (strcmp(name, "listen") != 0 &&
		    strcmp(name, "http_listen") != 0)
			break;
		rc = policy_listen_add(c->p, name[0] == 'h', value, why,
				       sizeof(why));
		if (rc != 0)
			config_fail(c, c->lineno, rc, "%s", why);
		return rc == 0;
	case SECT_BRIDGE:
		rc = policy_bridge_set(c->p, name, value, why, sizeof(why));
		if (rc != 0)
			config_fail(c, c->lineno, rc, "%s", why);
		return rc == 0;
	case SECT_GROUP:
		rc = policy_group_set(c->p, name, value, why, sizeof(why));
		if (rc != 0)
			config_fail(c, c->lineno, rc, "%s", why);
		return rc == 0;
	case SECT_ROUTE:
	case SECT_DIRECTORY:
		rc = c->sect == SECT_ROUTE
			 ? policy_route_add(c->p, name, value, c->lineno, why,
					    sizeof(why))
			 : policy_directory_add(c->p, name, value, c->lineno,
						why, sizeof(why));
		if (rc != 0)
			config_fail(c, c->lineno, rc, "%s", why);
		return rc == 0;
	case SECT_ACL:
		if (strcmp(name, "allow") == 0 || strcmp(name, "deny") == 0)
			return config_acl_add(c, name[0] == 'a', value) == 0;
		config_fail(c, c->lineno, FERRY_EINVAL,
			    "unknown key '%.64s' in [acl] (use allow or deny)",
			    name);
		return 0;
	default:
		break;
	}
	k = config_key_find(c->sect, name, &idx);
	if (k == NULL) {
		config_key_list(c->sect, known, sizeof(known));
		config_fail(c, c->lineno, FERRY_EINVAL,
			    "unknown key '%.64s' in [%s%s] (known keys: %s)",
			    name, config_sect_names[c->sect],
			    c->sect == SECT_QUEUE ? " NAME" : "", known);
		return 0;
	}
	if (c->sect == SECT_QUEUE) {
		seen = &c->queue_lines[c->queue * CONFIG_NQKEYS +
				       (idx - CONFIG_QKEY0)];
		base = &c->p->queues[c->queue];
	} else {
		seen = &c->key_line[idx];
		base = c->p;
	}
	if (*seen != 0) {
		config_fail(c, c->lineno, FERRY_EINVAL,
			    "duplicate key '%s' (first set on line %d; keep "
			    "one of them)",
			    name, *seen);
		return 0;
	}
	*seen = c->lineno;
	return config_set(c, k, value, base) == 0;
}

/* Find or append the [queue NAME] entry; c->queue is its index. */
static int
config_queue_open(struct config_ctx *c, const char *name)
{
	struct policy *p = c->p;
	struct policy_queue *q;
	int *lines;

	if (!ferry_queue_name_valid(name))
		return config_fail(c, c->lineno, FERRY_EINVAL,
				   "bad queue name '%.128s' (use 1-%d of "
				   "A-Z a-z 0-9 - _ . /, no empty component, "
				   "no '..')",
				   name, FERRY_QUEUE_MAX);
	for (size_t i = 0; i < p->nqueues; i++) {
		if (strcmp(p->queues[i].name, name) == 0) {
			c->queue = i;
			return 0;
		}
	}
	if (p->nqueues == POLICY_QUEUES_MAX)
		return config_fail(c, c->lineno, FERRY_EINVAL,
				   "more than %d [queue NAME] sections (set "
				   "the common limits in [limits])",
				   POLICY_QUEUES_MAX);
	q = policy_grow(p->queues, p->nqueues, sizeof(*q));
	if (q == NULL)
		return config_fail(c, c->lineno, FERRY_ENOMEM, "out of memory");
	p->queues = q;
	lines = policy_grow(c->queue_lines, p->nqueues,
			    CONFIG_NQKEYS * sizeof(*lines));
	if (lines == NULL)
		return config_fail(c, c->lineno, FERRY_ENOMEM, "out of memory");
	c->queue_lines = lines;
	memset(&q[p->nqueues], 0, sizeof(*q));
	memcpy(q[p->nqueues].name, name, strlen(name) + 1);
	for (size_t j = 0; j < CONFIG_NQKEYS; j++)
		lines[p->nqueues * CONFIG_NQKEYS + j] = 0;
	c->queue = p->nqueues++;
	return 0;
}

/* The [peer NAME] being read ended (next section or end of file). */
static int
config_peer_close(struct config_ctx *c)
{
	char why[640];
	int line = 0, rc;

	rc = policy_peer_close(c->p, c->peer_lines, &line, why, sizeof(why));
	if (rc != 0)
		return config_fail(c, line, rc, "%s", why);
	return 0;
}

/* s starts after '['; sets c->sect. */
static int
config_section(struct config_ctx *c, char *s)
{
	char *end = strchr(s, ']');
	char *rest, why[640];
	int rc;

	if (c->sect == SECT_PEER && config_peer_close(c) != 0)
		return c->rc;
	if (end == NULL)
		return config_fail(c, c->lineno, FERRY_EINVAL,
				   "section header without ']' (write "
				   "[node], [limits], [queue NAME], "
				   "[peer NAME] or [acl])");
	rest = end + 1;
	rest += strspn(rest, " \t");
	if (*rest != '\0' && *rest != ';' && *rest != '#')
		return config_fail(c, c->lineno, FERRY_EINVAL,
				   "text after the section header (remove it "
				   "or start a comment with ';')");
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	s += strspn(s, " \t");
	if (strcmp(s, "node") == 0) {
		c->sect = SECT_NODE;
	} else if (strcmp(s, "limits") == 0) {
		c->sect = SECT_LIMITS;
	} else if (strcmp(s, "acl") == 0) {
		c->sect = SECT_ACL;
	} else if (strcmp(s, "route") == 0) {
		c->sect = SECT_ROUTE;
	} else if (strcmp(s, "directory") == 0) {
		c->sect = SECT_DIRECTORY;
	} else if (strncmp(s, "queue", 5) == 0 &&
		   (s[5] == '\0' || s[5] == ' ' || s[5] == '\t')) {
		s += 5;
		s += strspn(s, " \t");
		if (*s == '\0')
			return config_fail(c, c->lineno, FERRY_EINVAL,
					   "[queue] without a name (write "
					   "[queue NAME])");
		c->sect = SECT_QUEUE;
		return config_queue_open(c, s);
	} else if (strncmp(s, "bridge", 6) == 0 &&
		   (s[6] == '\0' || s[6] == ' ' || s[6] == '\t')) {
		s += 6;
		s += strspn(s, " \t");
		rc = policy_bridge_open(c->p, s, c->lineno, why, sizeof(why));
		if (rc != 0)
			return config_fail(c, c->lineno, rc, "%s", why);
		c->sect = SECT_BRIDGE;
	} else if (strncmp(s, "group", 5) == 0 &&
		   (s[5] == '\0' || s[5] == ' ' || s[5] == '\t')) {
		s += 5;
		s += strspn(s, " \t");
		rc = policy_group_open(c->p, s, c->lineno, why, sizeof(why));
		if (rc != 0)
			return config_fail(c, c->lineno, rc, "%s", why);
		c->sect = SECT_GROUP;
	} else if (strncmp(s, "peer", 4) == 0 &&
		   (s[4] == '\0' || s[4] == ' ' || s[4] == '\t')) {
		s += 4;
		s += strspn(s, " \t");
		if (*s == '\0')
			return config_fail(c, c->lineno, FERRY_EINVAL,
					   "[peer] without a name (write "
					   "[peer NAME], NAME being the peer's "
					   "node name)");
		rc = policy_peer_open(c->p, s, c->lineno, c->peer_lines, why,
				      sizeof(why));
		if (rc != 0)
			return config_fail(c, c->lineno, rc, "%s", why);
		c->sect = SECT_PEER;
	} else {
		return config_fail(
		    c, c->lineno, FERRY_EINVAL,
		    "unknown section [%.64s] (sections are "
		    "[node], [limits], [queue NAME], "
		    "[peer NAME], [route], [directory], [group NAME] and "
		    "[acl])",
		    s);
	}
	return 0;
}

/*
 * First '=' or ':' of s, or the start of an inline comment (';' after a
 * blank), or the end: libinih's find_chars_or_comment().
 */
static char *
config_find_sep(char *s, const char *chars)
{
	int was_space = 0;

	while (*s != '\0' && (chars == NULL || strchr(chars, *s) == NULL) &&
	       !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

static char *
config_trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* A key line: check it the way inih will read it, and hand it over. */
static char *
config_key_line(struct config_ctx *c, char *s, char *str, int num)
{
	char *sep = config_find_sep(s, "=:");
	char *key, *value;
	size_t len = strlen(s);

	if (*sep != '=' && *sep != ':') {
		config_fail(c, c->lineno, FERRY_EINVAL,
			    "expected 'key = value' or a [section] (comments "
			    "start with ';' or '#')");
		return NULL;
	}
	if (len + 2 <= (size_t)num) {
		memcpy(str, s, len);
		str[len] = '\n';
		str[len + 1] = '\0';
		return str;
	}
	/* Too long for inih's buffer: split it here, hand over "key=". */
	*sep = '\0';
	key = config_trim(s);
	value = sep + 1;
	*config_find_sep(value, NULL) = '\0';
	value = config_trim(value);
	if (strlen(key) + 3 > (size_t)num) {
		config_fail(c, c->lineno, FERRY_EINVAL,
			    "unknown key '%.64s...' (check the spelling)", key);
		return NULL;
	}
	c->long_value = value;
	snprintf(str, (size_t)num, "%s=\n", key);
	return str;
}

/*
 * Read one physical line into c->line (without the newline).  Returns 1, 0
 * at the end of the file, or negative after recording an error.
 */
static int
config_read_line(struct config_ctx *c)
{
	size_t n = 0;
	int ch;

	for (;;) {
		ch = getc(c->f);
		if (ch == EOF) {
			if (ferror(c->f))
				return config_fail(c, c->lineno + 1, FERRY_EIO,
						   "read error: %s (check the "
						   "file)",
						   strerror(errno));
			if (n == 0)
				return 0;
			break;
		}
		if (ch == '\n')
			break;
		if (ch == '\0')
			return config_fail(
			    c, c->lineno + 1, FERRY_EINVAL,
			    "NUL byte (ferry.conf must be text)");
		if (n == POLICY_LINE_MAX)
			return config_fail(c, c->lineno + 1, FERRY_EINVAL,
					   "line longer than %d bytes (shorten "
					   "it)",
					   POLICY_LINE_MAX);
		c->line[n++] = (char)ch;
	}
	if (n > 0 && c->line[n - 1] == '\r')
		n--;
	c->line[n] = '\0';
	c->lineno++;
	return 1;
}

/* libinih's ini_reader: one line per call, see the file comment. */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_ctx *c = stream;
	char *s;
	int rc;

	c->long_value = NULL;
	if (c->rc != 0)
		return NULL;
	if (num < 8) {
		/* inih built with a silly INI_MAX_LINE: refuse, don't guess */
		config_fail(c, c->lineno + 1, FERRY_EINVAL,
			    "libinih line buffer of %d bytes is too small "
			    "(rebuild libinih)",
			    num);
		return NULL;
	}
	rc = config_read_line(c);
	if (rc <= 0)
		return NULL;
	s = c->line;
	if (c->lineno == 1 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	s += strspn(s, " \t\f\v");
	if (*s == '\0' || *s == ';' || *s == '#') {
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	if (*s == '[') {
		if (config_section(c, s + 1) != 0)
			return NULL;
		snprintf(str, (size_t)num, "[%s]\n",
			 config_sect_names[c->sect]);
		return str;
	}
	return config_key_line(c, s, str, num);
}

/* After the last line: required keys, derived paths, cross-checks. */
static int
config_finish(struct config_ctx *c)
{
	struct policy *p = c->p;
	size_t i_sock = 0, i_state = 0, i_dl = 0, i_ml = 0, i_qb = 0;
	char why[640];
	int line = 0;

	if (c->sect == SECT_PEER && config_peer_close(c) != 0)
		return c->rc;
	if (policy_routes_check(p, &line, why, sizeof(why)) != 0 ||
	    policy_groups_check(p, &line, why, sizeof(why)) != 0 ||
	    policy_bridges_check(p, &line, why, sizeof(why)) != 0)
		return config_fail(c, line, FERRY_EINVAL, "%s", why);
	if (p->node_name[0] == '\0')
		return config_fail(c, 0, FERRY_EINVAL,
				   "[node] name is required (add 'name = NODE' "
				   "under [node])");
	if (strcmp(p->site, p->node_name) == 0)
		return config_fail(c, 0, FERRY_EINVAL,
				   "[node] site is this node's own name (the "
				   "site is the name the bases share)");
	if (config_key_find(SECT_NODE, "socket", &i_sock) == NULL ||
	    config_key_find(SECT_NODE, "state_dir", &i_state) == NULL ||
	    config_key_find(SECT_LIMITS, "default_lease", &i_dl) == NULL ||
	    config_key_find(SECT_LIMITS, "max_lease", &i_ml) == NULL ||
	    config_key_find(SECT_QUEUE, "max_bytes", &i_qb) == NULL)
		abort(); /* our bug: the table lost a row */
	if (p->state_dir[0] == '\0')
		memcpy(p->state_dir, c->dir, strlen(c->dir) + 1);
	if (p->socket_path[0] == '\0' &&
	    config_path_join(p->socket_path, sizeof(p->socket_path),
			     p->state_dir, "ferry.sock") != 0)
		return config_fail(c, c->key_line[i_state], FERRY_EINVAL,
				   "state_dir is too long to hold ferry.sock "
				   "(use a shorter path)");
	if (p->pid_file[0] == '\0' &&
	    config_path_join(p->pid_file, sizeof(p->pid_file), p->state_dir,
			     "ferryd.pid") != 0)
		return config_fail(c, c->key_line[i_state], FERRY_EINVAL,
				   "state_dir is too long to hold ferryd.pid "
				   "(use a shorter path)");
	if (strlen(p->socket_path) > POLICY_SOCKET_PATH_MAX) {
		line = c->key_line[i_sock] != 0 ? c->key_line[i_sock]
						: c->key_line[i_state];
		return config_fail(c, line, FERRY_EINVAL,
				   "socket path '%s' is longer than %d bytes, "
				   "too long for a unix socket (set a shorter "
				   "[node] socket)",
				   p->socket_path, POLICY_SOCKET_PATH_MAX);
	}
	if (p->default_lease_ms > p->max_lease_ms) {
		line = c->key_line[i_dl] > c->key_line[i_ml]
			   ? c->key_line[i_dl]
			   : c->key_line[i_ml];
		return config_fail(c, line, FERRY_EINVAL,
				   "default_lease (%lld ms) is longer than "
				   "max_lease (%lld ms) (shorten default_lease "
				   "or raise max_lease)",
				   (long long)p->default_lease_ms,
				   (long long)p->max_lease_ms);
	}
	if (policy_peers_finish(p, &line, why, sizeof(why)) != 0)
		return config_fail(c, line, FERRY_EINVAL, "%s", why);
	for (size_t i = 0; i < p->nqueues; i++) {
		const int *lines = &c->queue_lines[i * CONFIG_NQKEYS];

		if (lines[0] == 0)
			p->queues[i].max_bytes = p->queue_quota_bytes;
		if (lines[1] == 0)
			p->queues[i].max_msgs = p->queue_quota_msgs;
	}
	return 0;
}

/* realpath(3) of the directory holding path into c->dir. */
static int
config_dir(struct config_ctx *c, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = NULL, *real = NULL;
	int rc = 0;

	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return config_fail(c, 0, FERRY_ENOMEM, "out of memory");
	real = realpath(dir, NULL);
	if (real == NULL) {
		rc = config_fail(c, 0, FERRY_EIO,
				 "cannot resolve its directory: %s (check the "
				 "path)",
				 strerror(errno));
		goto out;
	}
	if (strlen(real) >= sizeof(c->dir)) {
		rc = config_fail(c, 0, FERRY_EINVAL,
				 "directory path too long (move the file)");
		goto out;
	}
	memcpy(c->dir, real, strlen(real) + 1);
out:
	free(real);
	free(dir);
	return rc;
}

int
policy_load(const char *path, struct policy *p, char *err, size_t errlen)
{
	struct config_ctx *c = NULL;
	int rc, irc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (p != NULL)
		policy_init(p);
	if (p == NULL || path == NULL || path[0] == '\0') {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "no config file given");
		return FERRY_EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory", path);
		return FERRY_ENOMEM;
	}
	c->path = path;
	c->p = p;
	c->sect = SECT_NONE;
	c->f = fopen(path, "re");
	if (c->f == NULL) {
		config_fail(c, 0, FERRY_EIO,
			    "cannot open: %s (check the path and its "
			    "permissions)",
			    strerror(errno));
		goto out;
	}
	if (config_dir(c, path) != 0)
		goto out;
	irc = ini_parse_stream(config_reader, c, config_handler, c);
	if (c->rc != 0)
		goto out;
	if (irc == -2) {
		config_fail(c, 0, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (irc != 0) {
		/* the reader lets through only what inih accepts */
		config_fail(c, irc, FERRY_EINVAL,
			    "syntax error (expected 'key = value' or a "
			    "[section])");
		goto out;
	}
	(void)config_finish(c);
out:
	if (c->f != NULL && fclose(c->f) != 0 && c->rc == 0)
		config_fail(c, 0, FERRY_EIO, "close: %s", strerror(errno));
	rc = c->rc;
	if (rc != 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s", c->msg);
		policy_cleanup(p);
	}
	free(c->queue_lines);
	free(c);
	return rc;
}

/* A state_dir that survives being written as a value and read back. */
static int
config_value_writable(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= POLICY_PATH_MAX)
		return 0;
	if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (iscntrl((unsigned char)s[i]))
			return 0;
		if (s[i] == ';' && i > 0 && isspace((unsigned char)s[i - 1]))
			return 0;
	}
	return 1;
}

static int
config_write_key(FILE *f, const struct config_key *k, const char *node,
		 const char *state)
{
	const char *base = state != NULL ? state : "";
	const char *slash =
	    base[0] != '\0' && base[strlen(base) - 1] != '/' ? "/" : "";

	if (fprintf(f, "# %s\n", k->help) < 0)
		return -1;
	if (k->kind == KIND_NODE_NAME && strcmp(k->name, "name") == 0)
		return fprintf(f, "name = %s\n", node) < 0 ? -1 : 0;
	if (strcmp(k->name, "state_dir") == 0 && state != NULL)
		return fprintf(f, "state_dir = %s\n", state) < 0 ? -1 : 0;
	if (strcmp(k->name, "socket") == 0)
		return fprintf(f, "#socket = %s%sferry.sock\n", base, slash) < 0
			   ? -1
			   : 0;
	if (strcmp(k->name, "pid_file") == 0)
		return fprintf(f, "#pid_file = %s%sferryd.pid\n", base, slash) <
			       0
			   ? -1
			   : 0;
	return fprintf(f, "#%s =%s%s\n", k->name, k->def[0] != '\0' ? " " : "",
		       k->def) < 0
		   ? -1
		   : 0;
}

static int
config_write_default(FILE *f, const char *node, const char *state)
{
	static const char head[] =
	    "# ferry.conf - configuration of ferryd, the ferry agent.\n"
	    "# See ferry.conf(5).  Lines starting with '#' or ';' are "
	    "comments;\n"
	    "# each commented-out key shows its default.  Sizes: 512, 64K, "
	    "16M, 2G, 1T\n"
	    "# (powers of 1024).  Durations: 500ms, 30s, 2m, 2h, 7d (a plain "
	    "number\n"
	    "# is seconds).  Relative paths are relative to this file's "
	    "directory.\n";
	static const char acl[] =
	    "\n"
	    "# Who may do what through the socket.  \"allow|deny = PRINCIPAL "
	    "OPS PATTERN\":\n"
	    "# PRINCIPAL is user:NAME, user:UID, group:NAME, group:GID or *; "
	    "OPS is a\n"
	    "# comma list of send, recv, admin or all; PATTERN is a glob "
	    "matched against\n"
	    "# NODE/QUEUE for send and QUEUE for recv and admin.  First match "
	    "wins; with\n"
	    "# rules, no match denies (root and ferryd's user are always "
	    "allowed); with\n"
	    "# no rules, whoever can open the socket may do everything.\n"
	    "[acl]\n"
	    "#allow = group:ferry send,recv *\n"
	    "#deny = * all *\n";
	static const char listen[] =
	    "# Address for TCP sessions from peers, host:port; may be "
	    "repeated (none:\n"
	    "# peers cannot dial in).  0.0.0.0 and [::] listen on every "
	    "address.\n"
	    "#listen = 0.0.0.0:7700\n"
	    "# Address where peers call in over HTTP, host:port; may be "
	    "repeated (put\n"
	    "# nginx in front for TLS: ferry.conf(5)).\n"
	    "#http_listen = 127.0.0.1:7780\n";
	static const char peer[] =
	    "\n"
	    "# A node this one exchanges messages with over TCP, named by its "
	    "node name.\n"
	    "# key (required) is the card `ferry info` prints on that node. "
	    " tcp may be\n"
	    "# repeated, best first; without it the peer can only dial in.  "
	    "The other\n"
	    "# keys show their defaults; rate is bytes per second (0 = "
	    "unlimited).\n"
	    "# Over HTTP(S), used when TCP cannot connect (NAT, a proxy): "
	    "http is the\n"
	    "# peer's URL (may be repeated), proxy else libcurl's "
	    "http_proxy/https_proxy\n"
	    "# variables, poll how long one poll is held open.\n"
	    "#[peer base]\n"
	    "#key = <card printed by ferry info on base>\n"
	    "#tcp = base.example.org:7700\n"
	    "#dial = when-needed\n"
	    "#retry_min = 1s\n"
	    "#retry_max = 5m\n"
	    "#retry_jitter = 20\n"
	    "#keepalive = 30s\n"
	    "#rate = 0\n"
	    "#http = https://base.example.org/ferry\n"
	    "#proxy = http://proxy.example.org:3128\n"
	    "#poll = 60s\n";
	enum config_sect sect = SECT_NONE;

	if (fputs(head, f) == EOF)
		return -1;
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->sect != sect) {
			if (sect == SECT_NODE && fputs(listen, f) == EOF)
				return -1;
			sect = k->sect;
			if (sect == SECT_QUEUE) {
				if (fputs("\n# Limits of one queue; keys left "
					  "out come from [limits].\n"
					  "#[queue inbox]\n",
					  f) == EOF)
					return -1;
			} else if (fprintf(f, "\n[%s]\n",
					   config_sect_names[sect]) < 0) {
				return -1;
			}
		}
		if (config_write_key(f, k, node, state) != 0)
			return -1;
	}
	if (fputs(peer, f) == EOF)
		return -1;
	return fputs(acl, f) == EOF ? -1 : 0;
}

char *
policy_default_conf(const char *node_name, const char *state_dir)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int bad;

	if (node_name == NULL || !ferry_node_name_valid(node_name))
		return NULL;
	if (state_dir != NULL && state_dir[0] == '\0')
		state_dir = NULL;
	if (state_dir != NULL && !config_value_writable(state_dir))
		return NULL;
	f = open_memstream(&text, &len);
	if (f == NULL)
		return NULL;
	bad = config_write_default(f, node_name, state_dir) != 0;
	if (fclose(f) != 0)
		bad = 1;
	if (bad) {
		free(text);
		return NULL;
	}
	return text;
}
