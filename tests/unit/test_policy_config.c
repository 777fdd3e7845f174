/*
 * test_policy_config.c - CUnit tests of ferry.conf loading (policy/config.c)
 * and of sizes and durations (policy/units.c).  Tables of cases: label,
 * file text, wanted result, wanted piece of the error text.  Every config
 * is written into a fresh temporary directory.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/policy.h"
#include "tests/unit/policyutil.h"
#include "tests/unit/testutil.h"

/* snprintf into an array, failing the test on truncation. */
#define FMT(buf, ...)                                                          \
	CU_ASSERT_FATAL(snprintf(buf, sizeof(buf), __VA_ARGS__) <              \
			(int)sizeof(buf))

static char *dir;
static char realdir[PATH_MAX];

static int
setup(void)
{
	dir = test_tmpdir("policy");
	if (realpath(dir, realdir) == NULL)
		return 1;
	return 0;
}

static int
teardown(void)
{
	test_rmtree(dir);
	dir = NULL;
	return 0;
}

/* Write text (len bytes) to DIR/name; the path goes into path. */
static void
write_file(const char *name, const char *text, size_t len, char *path,
	   size_t pathlen)
{
	FILE *f;

	CU_ASSERT_FATAL(snprintf(path, pathlen, "%s/%s", dir, name) <
			(int)pathlen);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(fwrite(text, 1, len, f) == len);
	CU_ASSERT_FATAL(fclose(f) == 0);
}

static int
load_text(const char *text, struct policy *p, char *err, size_t errlen)
{
	return test_policy_load_text(dir, text, p, err, errlen);
}

/* Every field of a and b but the arrays are equal. */
static int
same_scalars(const struct policy *a, const struct policy *b)
{
	return strcmp(a->node_name, b->node_name) == 0 &&
	       strcmp(a->state_dir, b->state_dir) == 0 &&
	       strcmp(a->socket_path, b->socket_path) == 0 &&
	       strcmp(a->socket_group, b->socket_group) == 0 &&
	       a->socket_mode == b->socket_mode &&
	       strcmp(a->pid_file, b->pid_file) == 0 &&
	       strcmp(a->log_level, b->log_level) == 0 &&
	       a->store_quota_bytes == b->store_quota_bytes &&
	       a->queue_quota_bytes == b->queue_quota_bytes &&
	       a->queue_quota_msgs == b->queue_quota_msgs &&
	       a->disk_reserve_bytes == b->disk_reserve_bytes &&
	       a->cache_bytes == b->cache_bytes &&
	       a->max_message_bytes == b->max_message_bytes &&
	       a->default_ttl_ms == b->default_ttl_ms &&
	       a->default_lease_ms == b->default_lease_ms &&
	       a->max_lease_ms == b->max_lease_ms &&
	       a->sweep_interval_ms == b->sweep_interval_ms &&
	       a->max_clients == b->max_clients && a->workers == b->workers &&
	       a->max_clients_per_user == b->max_clients_per_user &&
	       a->frame_timeout_ms == b->frame_timeout_ms &&
	       a->idle_timeout_ms == b->idle_timeout_ms && a->nacl == b->nacl &&
	       a->nqueues == b->nqueues && a->nlisten == b->nlisten &&
	       strcmp(a->metrics_listen.host, b->metrics_listen.host) == 0 &&
	       a->metrics_listen.port == b->metrics_listen.port &&
	       a->npeers == b->npeers;
}

/* ------------------------------------------------------------ load table */

#define N "[node]\nname = a\n"

static const struct policy_case load_cases[] = {
    {"minimal", N, 0, NULL},
    {"colon separator", "[node]\nname: a\n", 0, NULL},
    {"inline comment", "[node]\nname = a ; this node\n", 0, NULL},
    {"comments and blanks", "; c\n# c\n\n[node]\n  name = a\n", 0, NULL},
    {"crlf", "[node]\r\nname = a\r\n[limits]\r\ncache = 1M\r\n", 0, NULL},
    {"bom", "\xef\xbb\xbf[node]\nname = a\n", 0, NULL},
    {"no final newline", "[node]\nname = a", 0, NULL},
    {"section repeated", N "[limits]\ncache=1M\n[node]\nlog_level=debug\n", 0,
     NULL},
    {"spaced section", "[ node ]\nname = a\n", 0, NULL},
    {"section comment", "[node] ; the node\nname = a\n", 0, NULL},
    {"empty acl", N "[acl]\n", 0, NULL},
    {"empty socket_group", N "socket_group =\n", 0, NULL},
    {"group by number", N "socket_group = 4242\n", 0, NULL},
    {"group by name", N "socket_group = root\n", 0, NULL},
    {"all durations",
     N "[limits]\ndefault_ttl=7d\ndefault_lease=500ms\n"
       "max_lease=2h\nsweep_interval=2m\n",
     0, NULL},

    {"empty file", "", FERRY_EINVAL,
     "ferry.conf: [node] name is required (add"},
    {"missing name", "[limits]\ncache = 1M\n", FERRY_EINVAL,
     "ferry.conf: [node] name is required"},
    {"unknown section", N "[bogus]\n", FERRY_EINVAL,
     "ferry.conf:3: unknown section [bogus] (sections are"},
    {"unknown section before keys", "[pier x]\nname = a\n", FERRY_EINVAL,
     "ferry.conf:1: unknown section [pier x]"},
    {"section without bracket", "[node\nname = a\n", FERRY_EINVAL,
     "ferry.conf:1: section header without ']'"},
    {"text after section", "[node] x\nname = a\n", FERRY_EINVAL,
     "ferry.conf:1: text after the section header"},
    {"unknown node key", N "nmae = b\n", FERRY_EINVAL,
     "ferry.conf:3: unknown key 'nmae' in [node] (known keys: name, "
     "state_dir"},
    {"unknown limits key", N "[limits]\nquota = 1G\n", FERRY_EINVAL,
     "ferry.conf:4: unknown key 'quota' in [limits]"},
    {"unknown queue key", N "[queue q]\nmax_size = 1G\n", FERRY_EINVAL,
     "ferry.conf:4: unknown key 'max_size' in [queue NAME] (known keys: "
     "max_bytes, max_messages, require_verified or seal)"},
    {"require_verified bad", N "[queue q]\nrequire_verified = maybe\n",
     FERRY_EINVAL,
     "ferry.conf:4: bad require_verified 'maybe' (write yes or no)"},
    {"unknown acl key", N "[acl]\npermit = * all *\n", FERRY_EINVAL,
     "ferry.conf:4: unknown key 'permit' in [acl] (use allow or deny)"},
    {"node key in limits", N "[limits]\nname = b\n", FERRY_EINVAL,
     "ferry.conf:4: unknown key 'name' in [limits]"},
    {"key outside section", "name = a\n", FERRY_EINVAL,
     "ferry.conf:1: key 'name' outside any section"},
    {"no equals", N "cache 1M\n", FERRY_EINVAL,
     "ferry.conf:3: expected 'key = value'"},
    {"continuation line", N "   more\n", FERRY_EINVAL,
     "ferry.conf:3: expected 'key = value'"},
    {"duplicate key", N "name = b\n", FERRY_EINVAL,
     "ferry.conf:3: duplicate key 'name' (first set on line 2;"},
    {"duplicate over sections",
     N "[limits]\ncache = 1M\n[node]\n[limits]\ncache = 2M\n", FERRY_EINVAL,
     "ferry.conf:7: duplicate key 'cache' (first set on "
     "line 4;"},
    {"duplicate queue key",
     N "[queue q]\nmax_bytes = 1M\n[queue r]\nmax_bytes = 1M\n"
       "[queue q]\nmax_bytes = 2M\n",
     FERRY_EINVAL,
     "ferry.conf:8: duplicate key 'max_bytes' (first set on "
     "line 4;"},
    {"line numbers after comments",
     "; one\n\n# three\n[node]\n\tname = a\n"
     "; six\n\tbogus = 1\n",
     FERRY_EINVAL, "ferry.conf:7: unknown key 'bogus'"},
    {"line numbers after long line",
     "[node]\nname = a\n; "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
     "oops = 1\n",
     FERRY_EINVAL, "ferry.conf:4: unknown key 'oops'"},
    {"empty value", N "[limits]\ncache =\n", FERRY_EINVAL,
     "ferry.conf:4: empty value for cache"},
    {"bad node name", "[node]\nname = Field!\n", FERRY_EINVAL,
     "ferry.conf:2: bad node name 'Field!'"},
    {"bad log level", N "log_level = loud\n", FERRY_EINVAL,
     "ferry.conf:3: bad log_level 'loud' (use error, warn, info or debug)"},
    {"metrics_listen no port", N "metrics_listen = 127.0.0.1\n", FERRY_EINVAL,
     "ferry.conf:3: metrics_listen: no :PORT in '127.0.0.1'"},
    {"metrics_listen port 0", N "metrics_listen = 0\n", FERRY_EINVAL,
     "ferry.conf:3: metrics_listen: bad port '0'"},
    {"metrics_listen port too big", N "metrics_listen = 65536\n", FERRY_EINVAL,
     "ferry.conf:3: metrics_listen: bad port '65536'"},
    {"metrics_listen v6 without brackets", N "metrics_listen = ::1:9108\n",
     FERRY_EINVAL, "ferry.conf:3: metrics_listen: IPv6 address without"},
    {"metrics_listen twice", N "metrics_listen = 9108\nmetrics_listen = 9109\n",
     FERRY_EINVAL, "ferry.conf:4: duplicate key 'metrics_listen'"},
    {"socket_mode 1777", N "socket_mode = 1777\n", FERRY_EINVAL,
     "ferry.conf:3: socket_mode 1777 has bits outside 0777"},
    {"socket_mode not octal", N "socket_mode = 0668\n", FERRY_EINVAL,
     "ferry.conf:3: bad socket_mode '0668'"},
    {"socket_mode letters", N "socket_mode = rw\n", FERRY_EINVAL,
     "ferry.conf:3: bad socket_mode 'rw'"},
    {"unknown socket_group", N "socket_group = no-such-group-ferry\n",
     FERRY_EINVAL, "ferry.conf:3: unknown group 'no-such-group-ferry'"},
    {"size garbage", N "[limits]\nstore_quota = 10X\n", FERRY_EINVAL,
     "ferry.conf:4: bad size '10X' for store_quota"},
    {"size fraction", N "[limits]\nqueue_quota = 1.5G\n", FERRY_EINVAL,
     "ferry.conf:4: bad size '1.5G' for queue_quota"},
    {"size negative", N "[limits]\ncache = -1\n", FERRY_EINVAL,
     "ferry.conf:4: bad size '-1' for cache"},
    {"size overflow", N "[limits]\ndisk_reserve = 16777216T\n", FERRY_EINVAL,
     "ferry.conf:4: bad size '16777216T' for disk_reserve"},
    {"size space", N "[limits]\ncache = 16 M\n", FERRY_EINVAL,
     "ferry.conf:4: bad size '16 M' for cache"},
    {"max_message zero", N "[limits]\nmax_message = 0\n", FERRY_EINVAL,
     "ferry.conf:4: max_message 0 is out of range"},
    {"queue size garbage", N "[queue q]\nmax_bytes = lots\n", FERRY_EINVAL,
     "ferry.conf:4: bad size 'lots' for max_bytes"},
    {"count with suffix", N "[limits]\nqueue_max_messages = 10k\n",
     FERRY_EINVAL, "ferry.conf:4: bad number '10k' for queue_max_messages"},
    {"duration unit", N "[limits]\ndefault_ttl = 7w\n", FERRY_EINVAL,
     "ferry.conf:4: bad duration '7w' for default_ttl"},
    {"duration fraction", N "[limits]\ndefault_ttl = 1.5h\n", FERRY_EINVAL,
     "ferry.conf:4: bad duration '1.5h'"},
    {"duration overflow", N "[limits]\ndefault_ttl = 106751991167301d\n",
     FERRY_EINVAL, "ferry.conf:4: bad duration '106751991167301d'"},
    {"lease zero", N "[limits]\ndefault_lease = 0\n", FERRY_EINVAL,
     "ferry.conf:4: default_lease 0 is out of range (use 1ms..12h)"},
    {"max_lease too long", N "[limits]\nmax_lease = 13h\n", FERRY_EINVAL,
     "ferry.conf:4: max_lease 13h is out of range (use 1ms..12h)"},
    {"lease above max", N "[limits]\ndefault_lease = 2h\nmax_lease = 1h\n",
     FERRY_EINVAL,
     "ferry.conf:5: default_lease (7200000 ms) is longer "
     "than max_lease (3600000 ms)"},
    {"workers zero", N "[limits]\nworkers = 0\n", FERRY_EINVAL,
     "ferry.conf:4: workers 0 is out of range (use 1..256)"},
    {"workers 257", N "[limits]\nworkers = 257\n", FERRY_EINVAL,
     "ferry.conf:4: workers 257 is out of range"},
    {"max_clients huge", N "[limits]\nmax_clients = 99999999999\n",
     FERRY_EINVAL, "ferry.conf:4: max_clients 99999999999 is out of range"},
    {"max_clients_per_user 65537", N "[limits]\nmax_clients_per_user = 65537\n",
     FERRY_EINVAL,
     "ferry.conf:4: max_clients_per_user 65537 is out of range (use 0..65536)"},
    {"frame_timeout zero", N "[limits]\nframe_timeout = 0\n", FERRY_EINVAL,
     "ferry.conf:4: frame_timeout 0 is out of range (use 1ms..1h)"},
    {"frame_timeout 2h", N "[limits]\nframe_timeout = 2h\n", FERRY_EINVAL,
     "ferry.conf:4: frame_timeout 2h is out of range (use 1ms..1h)"},
    {"idle_timeout bad", N "[limits]\nidle_timeout = soon\n", FERRY_EINVAL,
     "ferry.conf:4: bad duration 'soon' for idle_timeout"},
    {"bad queue name", N "[queue ../x]\n", FERRY_EINVAL,
     "ferry.conf:3: bad queue name '../x'"},
    {"queue without name", N "[queue]\n", FERRY_EINVAL,
     "ferry.conf:3: [queue] without a name"},
    {"acl syntax", N "[acl]\nallow = * send\n", FERRY_EINVAL,
     "ferry.conf:4: expected 'PRINCIPAL OPS PATTERN'"},
    {"acl unknown user", N "[acl]\nallow = user:no-such-user-ferry send *\n",
     FERRY_EINVAL, "ferry.conf:4: unknown user 'no-such-user-ferry'"},
    {"socket too long",
     N "socket = /"
       "sssssssssssssssssssssssssssssssssssssssssssss"
       "sssssssssssssssssssssssssssssssssssssssssssss"
       "ssssssssssssssssss.sock\n",
     FERRY_EINVAL, "ferry.conf:3: socket path '/sss"},
    {"first error wins", N "[limits]\ncache = x\nworkers = 0\n", FERRY_EINVAL,
     "ferry.conf:4: bad size 'x' for cache"},

    /* [group NAME] (docs/groups.md) */
    {"group", N "[group alerts]\nmembers = m*, base\n", 0, NULL},
    {"two groups", N "[group a]\nmembers = x\n[group b]\nmembers = x, y\n", 0,
     NULL},
    {"group without members", N "[group alerts]\n", FERRY_EINVAL,
     "ferry.conf:3: [group alerts] has no members line (add members = "},
    {"group without members, another after",
     N "[group a]\n[group b]\nmembers = x\n", FERRY_EINVAL,
     "ferry.conf:3: [group a] has no members line"},
    {"group members twice", N "[group alerts]\nmembers = a\nmembers = b\n",
     FERRY_EINVAL,
     "ferry.conf:5: [group alerts] has two members lines (list every pattern "
     "on one)"},
    {"group bad pattern", N "[group alerts]\nmembers = m*, Base\n",
     FERRY_EINVAL,
     "ferry.conf:4: [group alerts]: member 'Base' is not a node name "
     "pattern"},
    {"group pattern with slash", N "[group alerts]\nmembers = a/b\n",
     FERRY_EINVAL,
     "ferry.conf:4: [group alerts]: member 'a/b' is not a node name pattern"},
    {"group members nobody", N "[group alerts]\nmembers = ,\n", FERRY_EINVAL,
     "ferry.conf:4: [group alerts]: members lists nobody"},
    {"group members empty", N "[group alerts]\nmembers =\n", FERRY_EINVAL,
     "ferry.conf:4: [group alerts]: members lists nobody"},
    {"group bad name", N "[group Alerts!]\nmembers = a\n", FERRY_EINVAL,
     "ferry.conf:3: [group Alerts!]: a group name is spelled like a node "
     "name"},
    {"group without name", N "[group]\nmembers = a\n", FERRY_EINVAL,
     "ferry.conf:3: [group ]: a group name is spelled like a node name"},
    {"group name of 62 bytes",
     N "[group "
       "gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg]"
       "\nmembers = a\n",
     0, NULL},
    {"group name of 63 bytes",
     N "[group "
       "ggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg]"
       "\nmembers = a\n",
     FERRY_EINVAL, "at most 62 bytes); it is sent to as @NAME/QUEUE"},
    {"group name of 64 bytes",
     N "[group "
       "gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg]"
       "\nmembers = a\n",
     FERRY_EINVAL, "ferry.conf:3: [group ggg"},
    {"group unknown key", N "[group alerts]\nmember = a\n", FERRY_EINVAL,
     "ferry.conf:4: unknown key 'member' in [group alerts] (the only key is "
     "members"},
    {"group twice",
     N "[group alerts]\nmembers = a\n[group alerts]\nmembers = b\n",
     FERRY_EINVAL, "ferry.conf:5: [group alerts] appears twice (merge them)"},
};

/* A refused file leaves no ACL, no queues and no groups behind. */
static int
kept_nothing(const struct policy *p)
{
	return p->acl == NULL && p->nacl == 0 && p->queues == NULL &&
	       p->nqueues == 0 && p->groups == NULL && p->ngroups == 0;
}

static void
test_load_table(void)
{
	test_policy_table(load_cases,
			  sizeof(load_cases) / sizeof(load_cases[0]), load_text,
			  kept_nothing);
}

/* ------------------------------------------------------- single behaviours */

static const char full_conf[] = "; a full ferry.conf\n"
				"[node]\n"
				"name = field-07\n"
				"state_dir = /var/lib/ferry\n"
				"socket = /run/ferry/ferry.sock\n"
				"socket_group = root\n"
				"socket_mode = 0600\n"
				"pid_file = /run/ferry/ferryd.pid\n"
				"log_level = debug\n"
				"[limits]\n"
				"store_quota = 10G\n"
				"queue_quota = 1G\n"
				"queue_max_messages = 100000\n"
				"disk_reserve = 128MiB\n"
				"cache = 32M\n"
				"max_message = 1T\n"
				"default_ttl = 7d\n"
				"default_lease = 45s\n"
				"max_lease = 2h\n"
				"sweep_interval = 250ms\n"
				"max_clients = 64\n"
				"workers = 4\n"
				"[queue base/inbox]\n"
				"max_bytes = 100M\n"
				"max_messages = 1000\n"
				"[queue reports]\n"
				"max_messages = 5\n"
				"[acl]\n"
				"allow = user:root send,recv base/*\n"
				"allow = group:root admin *\n"
				"deny = * send */secret\n"
				"allow = * send,recv *\n";

static void
test_full_config_values(void)
{
	struct policy p;
	char err[1024];

	CU_ASSERT_EQUAL_FATAL(load_text(full_conf, &p, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(p.node_name, "field-07");
	CU_ASSERT_STRING_EQUAL(p.state_dir, "/var/lib/ferry");
	CU_ASSERT_STRING_EQUAL(p.socket_path, "/run/ferry/ferry.sock");
	CU_ASSERT_STRING_EQUAL(p.socket_group, "root");
	CU_ASSERT_EQUAL(p.socket_mode, 0600);
	CU_ASSERT_STRING_EQUAL(p.pid_file, "/run/ferry/ferryd.pid");
	CU_ASSERT_STRING_EQUAL(p.log_level, "debug");
	CU_ASSERT_EQUAL(p.store_quota_bytes, 10ull << 30);
	CU_ASSERT_EQUAL(p.queue_quota_bytes, 1ull << 30);
	CU_ASSERT_EQUAL(p.queue_quota_msgs, 100000);
	CU_ASSERT_EQUAL(p.disk_reserve_bytes, 128ull << 20);
	CU_ASSERT_EQUAL(p.cache_bytes, 32ull << 20);
	CU_ASSERT_EQUAL(p.max_message_bytes, 1ull << 40);
	CU_ASSERT_EQUAL(p.default_ttl_ms, 7LL * 86400 * 1000);
	CU_ASSERT_EQUAL(p.default_lease_ms, 45000);
	CU_ASSERT_EQUAL(p.max_lease_ms, 2LL * 3600 * 1000);
	CU_ASSERT_EQUAL(p.sweep_interval_ms, 250);
	CU_ASSERT_EQUAL(p.max_clients, 64);
	CU_ASSERT_EQUAL(p.workers, 4);
	CU_ASSERT_EQUAL_FATAL(p.nqueues, 2);
	CU_ASSERT_STRING_EQUAL(p.queues[0].name, "base/inbox");
	CU_ASSERT_EQUAL(p.queues[0].max_bytes, 100ull << 20);
	CU_ASSERT_EQUAL(p.queues[0].max_msgs, 1000);
	CU_ASSERT_STRING_EQUAL(p.queues[1].name, "reports");
	CU_ASSERT_EQUAL(p.queues[1].max_bytes, 1ull << 30); /* inherited */
	CU_ASSERT_EQUAL(p.queues[1].max_msgs, 5);
	CU_ASSERT_EQUAL_FATAL(p.nacl, 4);
	CU_ASSERT_EQUAL(p.acl[0].allow, 1);
	CU_ASSERT_EQUAL(p.acl[0].kind, POLICY_USER);
	CU_ASSERT_EQUAL(p.acl[0].uid, 0);
	CU_ASSERT_EQUAL(p.acl[0].ops, POLICY_OP_SEND | POLICY_OP_RECV);
	CU_ASSERT_STRING_EQUAL(p.acl[0].pattern, "base/*");
	CU_ASSERT_EQUAL(p.acl[0].line, 29);
	CU_ASSERT_EQUAL(p.acl[1].kind, POLICY_GROUP);
	CU_ASSERT_EQUAL(p.acl[1].gid, 0);
	CU_ASSERT_EQUAL(p.acl[1].ops, POLICY_OP_ADMIN);
	CU_ASSERT_EQUAL(p.acl[2].allow, 0);
	CU_ASSERT_EQUAL(p.acl[2].kind, POLICY_ANY);
	CU_ASSERT_STRING_EQUAL(p.acl[2].pattern, "*/secret");
	CU_ASSERT_EQUAL(p.acl[3].line, 32);
	policy_cleanup(&p);
	CU_ASSERT_PTR_NULL(p.acl);
	CU_ASSERT_PTR_NULL(p.queues);
}

static void
test_init_defaults(void)
{
	struct policy p;

	policy_init(&p);
	CU_ASSERT_STRING_EQUAL(p.node_name, "");
	CU_ASSERT_STRING_EQUAL(p.state_dir, "");
	CU_ASSERT_STRING_EQUAL(p.socket_group, "");
	CU_ASSERT_EQUAL(p.socket_mode, 0660);
	CU_ASSERT_STRING_EQUAL(p.log_level, "info");
	CU_ASSERT_EQUAL(p.store_quota_bytes, 0);
	CU_ASSERT_EQUAL(p.queue_quota_bytes, 0);
	CU_ASSERT_EQUAL(p.queue_quota_msgs, 0);
	CU_ASSERT_EQUAL(p.disk_reserve_bytes, UINT64_MAX); /* auto */
	CU_ASSERT_EQUAL(p.cache_bytes, 16ull << 20);
	CU_ASSERT_EQUAL(p.max_message_bytes, 16ull << 30);
	CU_ASSERT_EQUAL(p.default_ttl_ms, 0);
	CU_ASSERT_EQUAL(p.default_lease_ms, 30000);
	CU_ASSERT_EQUAL(p.max_lease_ms, 12LL * 3600 * 1000);
	CU_ASSERT_EQUAL(p.sweep_interval_ms, 1000);
	CU_ASSERT_EQUAL(p.partial_idle_ms, 7LL * 24 * 3600 * 1000);
	CU_ASSERT_EQUAL(p.max_clients, 1024);
	CU_ASSERT_EQUAL(p.max_clients_per_user, 64);
	CU_ASSERT_EQUAL(p.frame_timeout_ms, 10000);
	CU_ASSERT_EQUAL(p.idle_timeout_ms, 0);
	CU_ASSERT_EQUAL(p.workers, 16);
	CU_ASSERT_PTR_NULL(p.acl);
	CU_ASSERT_PTR_NULL(p.queues);
	policy_cleanup(&p);
	policy_cleanup(&p);
	policy_cleanup(NULL);
}

static void
test_default_paths_follow_config_dir(void)
{
	struct policy p;
	char err[1024], want[PATH_MAX + 32];

	CU_ASSERT_EQUAL_FATAL(load_text(N, &p, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(p.state_dir, realdir);
	FMT(want, "%s/ferry.sock", realdir);
	CU_ASSERT_STRING_EQUAL(p.socket_path, want);
	FMT(want, "%s/ferryd.pid", realdir);
	CU_ASSERT_STRING_EQUAL(p.pid_file, want);
	policy_cleanup(&p);
}

/* [node] metrics_listen: host:port, [v6]:port, a port alone on the
 * loopback, empty or absent for none. */
static void
test_metrics_listen(void)
{
	static const struct {
		const char *line, *host;
		unsigned port;
	} cases[] = {
	    {"", "", 0},
	    {"metrics_listen =\n", "", 0},
	    {"metrics_listen = 9108\n", "127.0.0.1", 9108},
	    {"metrics_listen = 0.0.0.0:9108\n", "0.0.0.0", 9108},
	    {"metrics_listen = [::1]:9\n", "::1", 9},
	    {"metrics_listen = localhost:65535\n", "localhost", 65535},
	};
	struct policy p;
	char err[1024], text[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FMT(text, N "%s", cases[i].line);
		CU_ASSERT_EQUAL_FATAL(load_text(text, &p, err, sizeof(err)), 0);
		CU_ASSERT_STRING_EQUAL(p.metrics_listen.host, cases[i].host);
		CU_ASSERT_EQUAL(p.metrics_listen.port, cases[i].port);
		policy_cleanup(&p);
	}
}

static void
test_relative_paths_resolved(void)
{
	struct policy p;
	char err[1024], want[PATH_MAX + 32];

	CU_ASSERT_EQUAL_FATAL(load_text(N "state_dir = ./state/\n"
					  "pid_file = run//ferryd.pid\n"
					  "[limits]\n",
					&p, err, sizeof(err)),
			      0);
	FMT(want, "%s/state", realdir);
	CU_ASSERT_STRING_EQUAL(p.state_dir, want);
	/* socket follows state_dir, pid_file is relative to the file */
	FMT(want, "%s/state/ferry.sock", realdir);
	CU_ASSERT_STRING_EQUAL(p.socket_path, want);
	FMT(want, "%s/run/ferryd.pid", realdir);
	CU_ASSERT_STRING_EQUAL(p.pid_file, want);
	policy_cleanup(&p);

	CU_ASSERT_EQUAL_FATAL(load_text(N "state_dir = /srv//ferry/./x/\n"
					  "socket = ../ferry.sock\n",
					&p, err, sizeof(err)),
			      0);
	CU_ASSERT_STRING_EQUAL(p.state_dir, "/srv/ferry/x");
	CU_ASSERT_STRING_EQUAL(p.pid_file, "/srv/ferry/x/ferryd.pid");
	FMT(want, "%s/../ferry.sock", realdir);
	CU_ASSERT_STRING_EQUAL(p.socket_path, want);
	policy_cleanup(&p);
}

static void
test_relative_config_path(void)
{
	char cwd[PATH_MAX], path[PATH_MAX], err[1024], want[PATH_MAX + 32];
	struct policy p;
	int rc;

	static const char text[] = N "state_dir = s\n";

	write_file("ferry.conf", text, strlen(text), path, sizeof(path));
	CU_ASSERT_FATAL(getcwd(cwd, sizeof(cwd)) != NULL);
	CU_ASSERT_FATAL(chdir(dir) == 0);
	rc = policy_load("ferry.conf", &p, err, sizeof(err));
	CU_ASSERT_FATAL(chdir(cwd) == 0);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	FMT(want, "%s/s", realdir);
	CU_ASSERT_STRING_EQUAL(p.state_dir, want);
	policy_cleanup(&p);
}

static void
test_unreadable_file(void)
{
	char path[PATH_MAX], err[1024];
	struct policy p;

	FMT(path, "%s/absent.conf", dir);
	CU_ASSERT_EQUAL(policy_load(path, &p, err, sizeof(err)), FERRY_EIO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "absent.conf: cannot open: No such "
					   "file or directory"));
	/* a directory opens but cannot be read */
	CU_ASSERT_EQUAL(policy_load(dir, &p, err, sizeof(err)), FERRY_EIO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "read error: Is a directory"));
	CU_ASSERT_EQUAL(policy_load("", &p, err, sizeof(err)), FERRY_EINVAL);
	CU_ASSERT_EQUAL(policy_load(NULL, &p, NULL, 0), FERRY_EINVAL);
	CU_ASSERT_EQUAL(policy_load(path, &p, NULL, 0), FERRY_EIO);
}

static void
test_nul_byte_refused(void)
{
	static const char text[] = "[node]\nname = a\0b\n";
	char path[PATH_MAX], err[1024];
	struct policy p;

	write_file("nul.conf", text, sizeof(text) - 1, path, sizeof(path));
	CU_ASSERT_EQUAL(policy_load(path, &p, err, sizeof(err)), FERRY_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "nul.conf:2: NUL byte"));
}

static void
test_long_lines(void)
{
	char text[POLICY_LINE_MAX + 256], want[PATH_MAX + 400], err[1024];
	char longdir[301], pattern[191];
	struct policy p;

	/* values longer than inih's 200-byte line buffer come through whole */
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[sizeof(longdir) - 1] = '\0';
	memset(pattern, 'p', sizeof(pattern) - 1);
	pattern[sizeof(pattern) - 1] = '\0';
	pattern[0] = '*';
	FMT(text,
	    "[node]\nname = a\nstate_dir = %s   ; long\nsocket = s.sock\n"
	    "[acl]\nallow    =    *    send,recv,admin    %s   ; c\n",
	    longdir, pattern);
	CU_ASSERT_EQUAL_FATAL(load_text(text, &p, err, sizeof(err)), 0);
	FMT(want, "%s/%s", realdir, longdir);
	CU_ASSERT_STRING_EQUAL(p.state_dir, want);
	CU_ASSERT_EQUAL_FATAL(p.nacl, 1);
	CU_ASSERT_STRING_EQUAL(p.acl[0].pattern, pattern);
	CU_ASSERT_EQUAL(p.acl[0].ops, POLICY_OP_ALL);
	CU_ASSERT_EQUAL(p.acl[0].line, 6);
	policy_cleanup(&p);

	/* a long line without '=' */
	FMT(text, "[node]\nname = a\n%s\n", longdir);
	CU_ASSERT_EQUAL(load_text(text, &p, err, sizeof(err)), FERRY_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "ferry.conf:3: expected 'key = "));

	/* a long queue name in a section header (inih keeps 50 bytes) */
	FMT(text, "[node]\nname = a\n[queue %.100s]\nmax_messages = 3\n",
	    longdir);
	CU_ASSERT_EQUAL_FATAL(load_text(text, &p, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(p.nqueues, 1);
	CU_ASSERT_EQUAL(strlen(p.queues[0].name), 100);
	CU_ASSERT_EQUAL(p.queues[0].max_msgs, 3);
	policy_cleanup(&p);

	/* exactly POLICY_LINE_MAX bytes, then one more */
	memcpy(text, "[node]\nname = a\n; ", 18);
	memset(text + 18, 'x', POLICY_LINE_MAX - 2);
	text[16 + POLICY_LINE_MAX] = '\n';
	text[17 + POLICY_LINE_MAX] = '\0';
	CU_ASSERT_EQUAL(load_text(text, &p, err, sizeof(err)), 0);
	policy_cleanup(&p);

	memcpy(text, "[node]\nname = a\n; ", 18);
	memset(text + 18, 'x', POLICY_LINE_MAX);
	text[18 + POLICY_LINE_MAX] = '\n';
	text[19 + POLICY_LINE_MAX] = '\0';
	CU_ASSERT_EQUAL(load_text(text, &p, err, sizeof(err)), FERRY_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "ferry.conf:3: line longer than"));
}

static void
test_queue_limits_inherit(void)
{
	struct policy p;
	char err[1024];
	uint64_t b = 1, m = 1;

	/* [limits] after the queue sections still feeds them */
	CU_ASSERT_EQUAL_FATAL(load_text(N "[queue a]\nmax_messages = 0\n"
					  "[queue b]\nmax_bytes = 5K\n"
					  "[queue c]\n"
					  "[limits]\nqueue_quota = 1G\n"
					  "queue_max_messages = 77\n",
					&p, err, sizeof(err)),
			      0);
	CU_ASSERT_EQUAL_FATAL(p.nqueues, 3);
	policy_queue_limits(&p, "a", &b, &m);
	CU_ASSERT_EQUAL(b, 1ull << 30);
	CU_ASSERT_EQUAL(m, 0); /* set to unlimited explicitly */
	policy_queue_limits(&p, "b", &b, &m);
	CU_ASSERT_EQUAL(b, 5120);
	CU_ASSERT_EQUAL(m, 77);
	policy_queue_limits(&p, "c", &b, &m);
	CU_ASSERT_EQUAL(b, 1ull << 30);
	CU_ASSERT_EQUAL(m, 77);
	policy_queue_limits(&p, "elsewhere", &b, &m);
	CU_ASSERT_EQUAL(b, 1ull << 30);
	CU_ASSERT_EQUAL(m, 77);
	CU_ASSERT_PTR_NOT_NULL(policy_queue_find(&p, "c"));
	CU_ASSERT_PTR_NULL(policy_queue_find(&p, "elsewhere"));
	policy_cleanup(&p);
}

static void
check_roundtrip(const char *node, const char *state, const char *want_state)
{
	char *text = policy_default_conf(node, state);
	char err[1024], want[PATH_MAX + 64];
	struct policy p, d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	if (load_text(text, &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "\ndefault conf: %s\n%s", err, text);
		CU_FAIL("default conf does not load");
		free(text);
		return;
	}
	policy_init(&d);
	FMT(d.node_name, "%s", node);
	FMT(d.state_dir, "%s", want_state);
	FMT(want, "%s/ferry.sock", want_state);
	FMT(d.socket_path, "%s", want);
	FMT(want, "%s/ferryd.pid", want_state);
	FMT(d.pid_file, "%s", want);
	CU_ASSERT(same_scalars(&p, &d));
	policy_cleanup(&p);

	/* every key appears uncommented or commented with its default */
	{
		static const char *const keys[] = {
		    "name = ",
		    "state_dir = ",
		    "socket = ",
		    "socket_group =",
		    "socket_mode = 0660",
		    "pid_file = ",
		    "log_level = info",
		    "store_quota = 0",
		    "queue_quota = 0",
		    "queue_max_messages = 0",
		    "disk_reserve = auto",
		    "cache = 16M",
		    "max_message = 16G",
		    "default_ttl = 0",
		    "default_lease = 30s",
		    "max_lease = 12h",
		    "sweep_interval = 1s",
		    "partial_idle = 7d",
		    "max_clients = 1024",
		    "max_clients_per_user = 64",
		    "frame_timeout = 10s",
		    "idle_timeout = 0",
		    "workers = 16",
		    "max_bytes = ",
		    "max_messages = ",
		    "listen = ",
		    "[peer base]",
		    "[acl]",
		    "allow = ",
		};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strstr(text, keys[i]) == NULL)
				fprintf(stderr, "\nmissing '%s'\n", keys[i]);
			CU_ASSERT_PTR_NOT_NULL(strstr(text, keys[i]));
		}
	}
	free(text);
}

/* Keys of the [node] listen and [peer base] examples: no defaults to
 * uncomment (test_policy_peers.c loads the example). */
static int
peer_example_key(const char *s)
{
	static const char *const keys[] = {
	    "listen =",	   "key =",	    "tcp =",	      "dial =",
	    "retry_min =", "retry_max =",   "retry_jitter =", "keepalive =",
	    "rate =",	   "http_listen =", "http =",	      "proxy =",
	    "poll =",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strncmp(s, keys[i], strlen(keys[i])) == 0)
			return 1;
	return 0;
}

/* [group NAME]: its patterns in file order, found by name. */
static void
test_groups_parsed(void)
{
	struct policy p;
	const struct policy_group *g;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(load_text(N "[group alerts]\n"
					  "members = m*, base\n"
					  "[group all]\n"
					  "members =\t*\n",
					&p, err, sizeof(err)),
			      0);
	CU_ASSERT_EQUAL(p.ngroups, 2);
	g = policy_group_find(&p, "alerts");
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_STRING_EQUAL(g->name, "alerts");
	CU_ASSERT_EQUAL_FATAL(g->npatterns, 2);
	CU_ASSERT_STRING_EQUAL(g->patterns[0], "m*");
	CU_ASSERT_STRING_EQUAL(g->patterns[1], "base");
	CU_ASSERT_EQUAL(g->line, 3);
	g = policy_group_find(&p, "all");
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_EQUAL(g->npatterns, 1);
	CU_ASSERT_STRING_EQUAL(g->patterns[0], "*");
	CU_ASSERT_PTR_NULL(policy_group_find(&p, "m1"));
	CU_ASSERT_PTR_NULL(policy_group_find(&p, "@alerts"));
	policy_cleanup(&p);
	CU_ASSERT_EQUAL(p.ngroups, 0);
	CU_ASSERT_PTR_NULL(p.groups);
}

/* Sealing by default: [node] seal_to patterns (lines add up) and
 * [queue NAME] seal; a bad pattern is refused with its line. */
static void
test_seal_default(void)
{
	struct policy p;
	char err[512];

	CU_ASSERT_EQUAL_FATAL(load_text(N "seal_to = base, camp-*\n"
					  "seal_to = ship-2\n"
					  "[queue secrets]\nseal = yes\n"
					  "[queue plain]\nmax_messages = 5\n",
					&p, err, sizeof(err)),
			      0);
	CU_ASSERT_EQUAL(p.nseal_to, 3);
	CU_ASSERT(policy_seal_default(&p, "base", "q"));
	CU_ASSERT(policy_seal_default(&p, "camp-7", "q"));
	CU_ASSERT(policy_seal_default(&p, "ship-2", "plain"));
	CU_ASSERT(!policy_seal_default(&p, "ship-3", "q"));
	CU_ASSERT(!policy_seal_default(&p, "town", "plain"));
	CU_ASSERT(policy_seal_default(&p, "town", "secrets"));
	policy_cleanup(&p);
	CU_ASSERT_EQUAL(load_text(N "seal_to = Base!\n", &p, err, sizeof(err)),
			FERRY_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ":3: seal_to: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a node name pattern"));
	CU_ASSERT_EQUAL(load_text(N "seal_to =\n", &p, err, sizeof(err)),
			FERRY_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "lists no node"));
}

/* A members line names POLICY_GROUP_PATTERNS patterns at most. */
static void
test_group_patterns_max(void)
{
	char text[4096], err[512];
	struct policy p;
	size_t n;

	for (int extra = 0; extra < 2; extra++) {
		n = (size_t)snprintf(text, sizeof(text),
				     N "[group big]\nmembers = ");
		for (int i = 0; i < POLICY_GROUP_PATTERNS + extra; i++)
			n += (size_t)snprintf(text + n, sizeof(text) - n,
					      "%sn%d", i ? ", " : "", i);
		CU_ASSERT_FATAL(n + 2 < sizeof(text));
		strcat(text, "\n");
		if (extra == 0) {
			CU_ASSERT_EQUAL(load_text(text, &p, err, sizeof(err)),
					0);
			CU_ASSERT_EQUAL(p.ngroups, 1);
			CU_ASSERT_EQUAL(p.groups[0].npatterns,
					POLICY_GROUP_PATTERNS);
		} else {
			CU_ASSERT_EQUAL(load_text(text, &p, err, sizeof(err)),
					FERRY_EINVAL);
			CU_ASSERT(strstr(err, "[group big] lists more than 64 "
					      "patterns") != NULL);
			CU_ASSERT(kept_nothing(&p));
		}
		policy_cleanup(&p);
	}
}

static void
test_default_conf_roundtrip(void)
{
	char want[PATH_MAX + 32];

	check_roundtrip("field-07", "/var/lib/ferry", "/var/lib/ferry");
	check_roundtrip("field-07", "/var/lib/ferry/", "/var/lib/ferry");
	check_roundtrip("n", NULL, realdir);
	check_roundtrip("n", "", realdir);
	FMT(want, "%s/state", realdir);
	check_roundtrip("n", "state", want);
	/* uncommenting every default changes nothing */
	{
		char *text = policy_default_conf("n", NULL);
		struct policy p, d;
		char err[1024];

		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		for (char *s = strstr(text, "\n#"); s != NULL;
		     s = strstr(s + 1, "\n#")) {
			/* keys, not prose: "#key =" */
			size_t k = strspn(s + 2, "abcdefghijklmnopqrstuvwxyz_");

			if (k > 0 && strncmp(s + 2 + k, " =", 2) == 0 &&
			    strncmp(s + 2, "max_bytes", 9) != 0 &&
			    strncmp(s + 2, "max_messages", 12) != 0 &&
			    strncmp(s + 2, "require_verified", 16) != 0 &&
			    strncmp(s + 2, "seal =", 6) != 0 &&
			    strncmp(s + 2, "allow", 5) != 0 &&
			    strncmp(s + 2, "deny", 4) != 0 &&
			    !peer_example_key(s + 2))
				s[1] = ' ';
		}
		CU_ASSERT_EQUAL(load_text(text, &p, err, sizeof(err)), 0);
		policy_init(&d);
		FMT(d.node_name, "n");
		FMT(d.state_dir, "%s", realdir);
		FMT(d.socket_path, "%s/ferry.sock", realdir);
		FMT(d.pid_file, "%s/ferryd.pid", realdir);
		CU_ASSERT(same_scalars(&p, &d));
		policy_cleanup(&p);
		free(text);
	}
	CU_ASSERT_PTR_NULL(policy_default_conf("Bad Name", NULL));
	CU_ASSERT_PTR_NULL(policy_default_conf(NULL, NULL));
	CU_ASSERT_PTR_NULL(policy_default_conf("n", "/a\nname = evil"));
	CU_ASSERT_PTR_NULL(policy_default_conf("n", "/a ;b"));
	CU_ASSERT_PTR_NULL(policy_default_conf("n", " /a"));
}

/* ------------------------------------------------------------------ units */

struct size_case {
	const char *label;
	const char *in;
	int rc;
	uint64_t want;
};

static const struct size_case size_cases[] = {
    {"zero", "0", 0, 0},
    {"bytes", "512", 0, 512},
    {"bytes B", "512B", 0, 512},
    {"k", "64k", 0, 64 << 10},
    {"K", "64K", 0, 64 << 10},
    {"KB", "64KB", 0, 64 << 10},
    {"KiB", "64KiB", 0, 64 << 10},
    {"M", "16M", 0, 16ull << 20},
    {"m", "16m", 0, 16ull << 20},
    {"G", "2G", 0, 2ull << 30},
    {"GiB", "2GiB", 0, 2ull << 30},
    {"T", "1T", 0, 1ull << 40},
    {"leading zeros", "007", 0, 7},
    {"max", "18446744073709551615", 0, UINT64_MAX},
    {"largest T", "16777215T", 0, 16777215ull << 40},
    {"overflow T", "16777216T", FERRY_EINVAL, 0},
    {"overflow digits", "18446744073709551616", FERRY_EINVAL, 0},
    {"empty", "", FERRY_EINVAL, 0},
    {"unit only", "M", FERRY_EINVAL, 0},
    {"negative", "-1", FERRY_EINVAL, 0},
    {"plus", "+1", FERRY_EINVAL, 0},
    {"fraction", "1.5G", FERRY_EINVAL, 0},
    {"space", "1 G", FERRY_EINVAL, 0},
    {"trailing space", "1G ", FERRY_EINVAL, 0},
    {"peta", "1P", FERRY_EINVAL, 0},
    {"bits", "1Kb", FERRY_EINVAL, 0},
    {"i without B", "1Ki", FERRY_EINVAL, 0},
    {"iB without prefix", "1iB", FERRY_EINVAL, 0},
    {"double suffix", "1KK", FERRY_EINVAL, 0},
    {"trailing garbage", "1GBx", FERRY_EINVAL, 0},
    {"hex", "0x10", FERRY_EINVAL, 0},
};

struct duration_case {
	const char *label;
	const char *in;
	int rc;
	int64_t want;
};

static const struct duration_case duration_cases[] = {
    {"zero", "0", 0, 0},
    {"plain seconds", "30", 0, 30000},
    {"ms", "500ms", 0, 500},
    {"s", "30s", 0, 30000},
    {"m", "2m", 0, 120000},
    {"h", "2h", 0, 7200000},
    {"d", "7d", 0, 7LL * 86400000},
    {"zero ms", "0ms", 0, 0},
    {"max ms", "9223372036854775807ms", 0, INT64_MAX},
    {"overflow ms", "9223372036854775808ms", FERRY_EINVAL, 0},
    {"overflow s", "9223372036854776s", FERRY_EINVAL, 0},
    {"overflow d", "106751991167301d", FERRY_EINVAL, 0},
    {"largest d", "106751991167d", 0, 106751991167LL * 86400000},
    {"empty", "", FERRY_EINVAL, 0},
    {"unit only", "s", FERRY_EINVAL, 0},
    {"negative", "-5s", FERRY_EINVAL, 0},
    {"fraction", "1.5s", FERRY_EINVAL, 0},
    {"space", "5 s", FERRY_EINVAL, 0},
    {"upper case", "5S", FERRY_EINVAL, 0},
    {"weeks", "1w", FERRY_EINVAL, 0},
    {"us", "5us", FERRY_EINVAL, 0},
    {"word", "5sec", FERRY_EINVAL, 0},
    {"two units", "1h30m", FERRY_EINVAL, 0},
};

static void
test_parse_size_table(void)
{
	for (size_t i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]);
	     i++) {
		const struct size_case *sc = &size_cases[i];
		uint64_t got = 12345;
		int rc = policy_parse_size(sc->in, &got);
		int ok = rc == sc->rc && got == (rc == 0 ? sc->want : 12345);

		if (!ok)
			fprintf(stderr, "\nsize case '%s': rc %d got %llu\n",
				sc->label, rc, (unsigned long long)got);
		CU_ASSERT(ok);
	}
	CU_ASSERT_EQUAL(policy_parse_size(NULL, NULL), FERRY_EINVAL);
}

static void
test_parse_duration_table(void)
{
	for (size_t i = 0;
	     i < sizeof(duration_cases) / sizeof(duration_cases[0]); i++) {
		const struct duration_case *dc = &duration_cases[i];
		int64_t got = 12345;
		int rc = policy_parse_duration_ms(dc->in, &got);
		int ok = rc == dc->rc && got == (rc == 0 ? dc->want : 12345);

		if (!ok)
			fprintf(stderr,
				"\nduration case '%s': rc %d got %lld\n",
				dc->label, rc, (long long)got);
		CU_ASSERT(ok);
	}
	CU_ASSERT_EQUAL(policy_parse_duration_ms(NULL, NULL), FERRY_EINVAL);
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("policy_config", setup, teardown);
	CU_pSuite u = CU_add_suite("policy_units", NULL, NULL);

	if (s == NULL || u == NULL)
		abort();
	TEST_ADD(s, test_load_table);
	TEST_ADD(s, test_full_config_values);
	TEST_ADD(s, test_init_defaults);
	TEST_ADD(s, test_default_paths_follow_config_dir);
	TEST_ADD(s, test_metrics_listen);
	TEST_ADD(s, test_relative_paths_resolved);
	TEST_ADD(s, test_relative_config_path);
	TEST_ADD(s, test_unreadable_file);
	TEST_ADD(s, test_nul_byte_refused);
	TEST_ADD(s, test_long_lines);
	TEST_ADD(s, test_queue_limits_inherit);
	TEST_ADD(s, test_groups_parsed);
	TEST_ADD(s, test_seal_default);
	TEST_ADD(s, test_group_patterns_max);
	TEST_ADD(s, test_default_conf_roundtrip);
	TEST_ADD(u, test_parse_size_table);
	TEST_ADD(u, test_parse_duration_table);
}

int
main(void)
{
	return test_main("test_policy_config", add_suites);
}
