/*
 * policy.h - the front door of ferry's policy: ferry.conf and the
 * decisions made from it.
 *
 * policy_load() reads one INI file (libinih) into a plain struct policy;
 * everything else here is pure computation on that struct.  The only I/O
 * this room does is reading the config file and resolving user and group
 * names (getpwnam_r/getgrnam_r).  It owns no sockets, no files of the
 * store and no threads; every function may be called from any thread, on
 * distinct structs.  The format is documented in ferry.conf(5).
 */
#ifndef FERRY_POLICY_H
#define FERRY_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/ferry_err.h"
#include "lib/ferry_msg.h"
#include "policy/window.h"

/* Operations an ACL rule grants or refuses. */
#define POLICY_OP_SEND	0x1u /* put messages into a queue (node/queue) */
#define POLICY_OP_RECV	0x2u /* take/peek/ack/nack/subscribe, local queue */
#define POLICY_OP_ADMIN 0x4u /* create/purge queues, info, others' status */
#define POLICY_OP_ALL	(POLICY_OP_SEND | POLICY_OP_RECV | POLICY_OP_ADMIN)

/* Principal kinds of an ACL rule. */
#define POLICY_ANY   0
#define POLICY_USER  1
#define POLICY_GROUP 2

/* Explicit caps on what a config file can make us allocate. */
#define POLICY_ACL_MAX	       4096 /* rules in [acl] */
#define POLICY_QUEUES_MAX      4096 /* [queue NAME] sections */
#define POLICY_LINE_MAX	       8192 /* bytes of one line of ferry.conf */
#define POLICY_PATH_MAX	       4096 /* bytes of a path, with the NUL */
#define POLICY_SOCKET_PATH_MAX 107  /* sun_path minus the NUL */
#define POLICY_LEASE_MAX_MS    (12LL * 3600 * 1000) /* the store's cap */
#define POLICY_PEERS_MAX       1024		    /* [peer NAME] sections */
#define POLICY_ENDPOINTS_MAX   8    /* tcp = lines of a peer, listen = lines */
#define POLICY_HOST_MAX	       255  /* bytes of an endpoint's host */
#define POLICY_URL_MAX	       512  /* bytes of an http = or proxy = URL */
#define POLICY_ROUTES_MAX      4096 /* [route] lines */
#define POLICY_ROUTE_PEERS     8    /* peers of one route line */
#define POLICY_HOP_LIMIT       16   /* [node] hop_limit default */

/* [peer NAME] dial: when ferryd opens a TCP session to the peer itself. */
#define POLICY_DIAL_NEVER	0 /* never: the peer dials in */
#define POLICY_DIAL_WHEN_NEEDED 1 /* while messages wait for it (default) */
#define POLICY_DIAL_ALWAYS	2 /* keep a session up at all times */

struct policy_acl_rule {
	int allow;    /* 1 allow, 0 deny */
	int kind;     /* POLICY_ANY, POLICY_USER, POLICY_GROUP */
	uid_t uid;    /* POLICY_USER */
	gid_t gid;    /* POLICY_GROUP */
	unsigned ops; /* POLICY_OP_* bits */
	char pattern[FERRY_QUEUE_MAX + FERRY_NODE_MAX + 2]; /* fnmatch(3) */
	int line; /* line of ferry.conf, for messages */
};

/*
 * Limits of one queue named in a [queue NAME] section.  After
 * policy_load() both fields are effective: a key the section leaves out
 * is copied from [limits] (queue_quota, queue_max_messages).  0 means
 * unlimited.
 */
struct policy_queue {
	char name[FERRY_QUEUE_MAX + 1];
	uint64_t max_bytes;
	uint64_t max_msgs;
	unsigned require_verified; /* 1: only verified origins from afar */
	unsigned seal; /* 1: what this node sends to a queue of this name on
			* another node is sealed (--seal) by default */
};

/* A [directory] line, "NAME = CARD": a node that is not a peer (nothing
 * dials it), known by its card so that its signed messages verify and
 * --seal can encrypt to it (docs/routing.md). */
struct policy_node_card {
	char name[FERRY_NODE_MAX + 1];
	uint8_t sign_pk[32];
	uint8_t kx_pk[32];
	int line;
};

/*
 * One TCP address: "host:port", an IPv6 literal in brackets
 * ("[::1]:7700").  host is stored without the brackets: a name, an IPv4
 * literal or an IPv6 literal (with an optional "%zone"), 1 to
 * POLICY_HOST_MAX bytes; port is 1..65535.  Names are not resolved here.
 */
struct policy_endpoint {
	char host[POLICY_HOST_MAX + 1];
	uint16_t port;
};

/*
 * A [peer NAME] section: a node this one exchanges messages with over
 * TCP.  Loaded and checked by policy_load(); ferryd's link
 * (transports/tcp_link.c) acts on it.
 */
/* compress = auto: zstd's level 3, where it is fast (hundreds of MB/s
 * on one core) and already near its best ratio for text. */
#define POLICY_COMPRESS_AUTO 3
#define POLICY_COMPRESS_MAX  19

struct policy_peer {
	char name[FERRY_NODE_MAX + 1]; /* NAME, ferry_node_name_valid */
	uint8_t sign_pk[32];	       /* Ed25519, from key = CARD */
	uint8_t kx_pk[32];	       /* X25519, from key = CARD */
	char card[160];		       /* the card as written, lowercased */
	struct policy_endpoint tcp[POLICY_ENDPOINTS_MAX]; /* preference order */
	size_t ntcp;		   /* 0: the peer can only dial in */
	int64_t retry_min_ms;	   /* default 1 s; <= retry_max_ms */
	int64_t retry_max_ms;	   /* default 5 min */
	unsigned retry_jitter_pct; /* default 20, 0..100 */
	int64_t keepalive_ms;	   /* default 30 s: dead link after this */
	uint64_t rate_bytes_per_s; /* 0 = unlimited (default) */
	int compress_level;	   /* zstd level 1..19 for CHUNKZ, 0 = no;
				      default ("auto") POLICY_COMPRESS_AUTO */
	int dial;		   /* POLICY_DIAL_*, default WHEN_NEEDED */
	int64_t call_every_ms;	   /* dial at least this often, even with
				      nothing to send, to collect what waits
				      there; 0 never; default 1 h with a tcp
				      address (-1 until the section ends) */
	int call_every_set;	   /* written in the section (HTTP: calls
				      only that often, no poll held open) */
	char dir[1024];		   /* file-drop: a medium mounted here, or "" */
	/* HTTP (transports/http_client.c): the peer's URLs, preference
	 * order ("http://host:port/ferry", https:// too); 0: none */
	char http[POLICY_ENDPOINTS_MAX][POLICY_URL_MAX];
	size_t nhttp;
	char proxy[POLICY_URL_MAX]; /* "" = libcurl's environment */
	char ca[1024];		    /* https: CA file, "" = system CAs */
	int64_t poll_ms;	    /* a poll held open at most; 60 s */
	/* window = lines: dial only inside one (none: any time) */
	struct policy_window windows[POLICY_WINDOWS_MAX];
	size_t nwindows;
	int line; /* line of the [peer NAME] header */
};

/*
 * A [route] line, "PATTERN = PEER[, PEER...]": a message for a node
 * that is not a peer and matches PATTERN (fnmatch(3)) goes to any of
 * these peers (docs/routing.md).  The first matching line wins.
 */
struct policy_route {
	char pattern[FERRY_NODE_MAX + 1];
	char peers[POLICY_ROUTE_PEERS][FERRY_NODE_MAX + 1];
	size_t npeers;
	int line;
};

/*
 * A [group NAME] section, "members = PATTERN[, PATTERN...]": `ferry send
 * @NAME/QUEUE` makes one copy for every node that matches a pattern and
 * that this node knows (a peer, a [directory] node, a [route] pattern
 * without wildcards, or itself) when the message is sent
 * (docs/groups.md).
 */
#define POLICY_GROUPS_MAX     256
#define POLICY_GROUP_PATTERNS 64
struct policy_group {
	char name[FERRY_NODE_MAX + 1];
	char patterns[POLICY_GROUP_PATTERNS][FERRY_NODE_MAX + 1];
	size_t npatterns;
	int line;
};

#define POLICY_SEAL_PATTERNS 64

/*
 * A [bridge NAME] section (docs/bridge.md): local queues drained into a
 * NATS JetStream stream, and a pull consumer whose messages become
 * ferry sends.
 */
#define POLICY_BRIDGES_MAX	8
#define POLICY_NATS_SERVERS	8
#define POLICY_BRIDGE_QUEUES	32
#define POLICY_NATS_NAME_MAX	64
#define POLICY_NATS_SUBJECT_MAX 256
struct policy_bridge {
	char name[FERRY_NODE_MAX + 1];
	char nats[POLICY_NATS_SERVERS][POLICY_URL_MAX]; /* cluster seeds */
	size_t nnats;
	char stream[POLICY_NATS_NAME_MAX + 1];
	char queues[POLICY_BRIDGE_QUEUES][FERRY_QUEUE_MAX + 1]; /* patterns */
	size_t nqueues;
	/* {node}: the message's source node, {queue}: its queue */
	char subject[POLICY_NATS_SUBJECT_MAX];
	char outbound[POLICY_NATS_SUBJECT_MAX]; /* filter, or "" */
	char durable[POLICY_NATS_NAME_MAX + 1]; /* "": ferry_<name> */
	int line;
};

struct policy {
	char node_name[FERRY_NODE_MAX + 1];
	/* [node] site = NAME: a name this node shares with the other bases
	 * of its site; a message from a peer addressed to it is delivered
	 * here as if to node_name (docs/bridge.md, "Two bases"); "": none */
	char site[FERRY_NODE_MAX + 1];
	/* [node] seal_to = PATTERN[, ...]: messages for matching nodes are
	 * sealed by default (docs/routing.md section 9) */
	char seal_to[POLICY_SEAL_PATTERNS][FERRY_NODE_MAX + 1];
	size_t nseal_to;
	unsigned hop_limit; /* nodes a message may visit; default 16 */
	char state_dir[POLICY_PATH_MAX];   /* default: the config's directory */
	char socket_path[POLICY_PATH_MAX]; /* default: <state_dir>/ferry.sock */
	char socket_group[64];		   /* "" = the agent's primary group */
	unsigned socket_mode;		   /* default 0660, subset of 0777 */
	char pid_file[POLICY_PATH_MAX];	   /* default: <state_dir>/ferryd.pid */
	char log_level[16];		   /* error|warn|info|debug */
	uint64_t store_quota_bytes;	   /* 0 = unlimited */
	uint64_t queue_quota_bytes;	   /* 0 = unlimited */
	uint64_t queue_quota_msgs;	   /* 0 = unlimited */
	uint64_t disk_reserve_bytes;	   /* default 64 MiB */
	uint64_t cache_bytes;		   /* default 16 MiB */
	uint64_t max_message_bytes;	   /* default 16 GiB */
	int64_t default_ttl_ms;		   /* 0 = never expire (default) */
	int64_t default_lease_ms;	   /* default 30 s */
	int64_t max_lease_ms;		   /* default 12 h */
	int64_t sweep_interval_ms;	   /* default 1 s */
	int64_t partial_idle_ms;	   /* default 7 d */
	unsigned max_clients;		   /* default 1024 */
	unsigned max_clients_per_user;	   /* default 64, 0 = no cap */
	int64_t frame_timeout_ms;	   /* default 10 s */
	int64_t idle_timeout_ms;	   /* 0 = never (default) */
	unsigned workers;		   /* store threads, default 16 */
	struct policy_endpoint listen[POLICY_ENDPOINTS_MAX]; /* none default */
	size_t nlisten;
	/* HTTP (transports/http_server.c): where peers call in; none */
	struct policy_endpoint http_listen[POLICY_ENDPOINTS_MAX];
	size_t nhttp_listen;
	/* [node] metrics_listen: where /metrics is served
	 * (agent/metrics.c); port 0: nowhere (the default) */
	struct policy_endpoint metrics_listen;
	struct policy_acl_rule *acl; /* file order */
	size_t nacl;
	struct policy_queue *queues; /* file order of first appearance */
	size_t nqueues;
	struct policy_peer *peers; /* file order */
	size_t npeers;
	struct policy_route *routes; /* [route], file order */
	size_t nroutes;
	struct policy_node_card *directory; /* [directory], file order */
	size_t ndirectory;
	struct policy_group *groups; /* [group NAME], file order */
	size_t ngroups;
	struct policy_bridge *bridges; /* [bridge NAME], file order */
	size_t nbridges;
};

/*
 * Fill p with the defaults of every key; no file is read.  The paths and
 * the node name are left empty (policy_load() derives them).  p owns no
 * memory afterwards, so policy_cleanup() is optional but harmless.
 */
void policy_init(struct policy *p);

/*
 * Parse the config file at path into p (policy_init() is done first).
 * Relative paths in the file are relative to the file's directory; the
 * paths in p come out absolute (under realpath(3) of that directory).
 *
 * Returns 0, or:
 *   FERRY_EIO     the file or its directory cannot be read (errno text
 *                 in err);
 *   FERRY_EINVAL  the file is wrong: unknown section or key, bad value,
 *                 duplicate single-valued key, missing [node] name,
 *                 unknown user or group, syntax error, a [peer NAME]
 *                 without key, with a bad card, named like this node,
 *                 or repeating another peer's name or key;
 *   FERRY_ENOMEM  out of memory.
 * On error err (when errlen > 0) holds one line "PATH:LINE: what is wrong
 * (what to do)" (or "PATH: ..." when no line is to blame) and p is left
 * cleaned up (as after policy_init()).  The first error stops the parse.
 * On success the caller owns p's arrays: call policy_cleanup().
 */
FERRY_MUST_CHECK int policy_load(const char *path, struct policy *p, char *err,
				 size_t errlen);

/* Free the ACL, queue and peer arrays and re-init p.  Safe after
 * policy_init(). */
void policy_cleanup(struct policy *p);

/*
 * May the client uid (member of gids[0..ngids), which should include its
 * primary group) perform op on target?  1 allowed, 0 denied.
 *
 * op is exactly one POLICY_OP_* bit (anything else is denied).  target is
 * "node/queue" for POLICY_OP_SEND, a local queue name for RECV and ADMIN,
 * and "" for node-wide ADMIN.  With no rules at all everyone is allowed
 * (the socket's mode and group are the gate).  Otherwise uid 0 and
 * agent_uid are always allowed, then the rules are tried in file order and
 * the first whose principal, ops and pattern (fnmatch(3), flags 0, so '*'
 * spans '/') all match decides; no match denies.
 */
FERRY_MUST_CHECK int policy_acl_check(const struct policy *p, uid_t agent_uid,
				      uid_t uid, const gid_t *gids,
				      size_t ngids, unsigned op,
				      const char *target);

/* The [queue NAME] entry for name, or NULL. */
const struct policy_queue *policy_queue_find(const struct policy *p,
					     const char *name);

/*
 * The effective limits of queue name (0 = unlimited): its [queue NAME]
 * section if any, otherwise [limits] queue_quota and queue_max_messages.
 */
void policy_queue_limits(const struct policy *p, const char *name,
			 uint64_t *max_bytes, uint64_t *max_msgs);

/* The [peer NAME] entry for name, or NULL. */
/* node's [directory] line, or NULL. */
const struct policy_node_card *policy_directory_find(const struct policy *p,
						     const char *name);
/* Is a message from this node for node/queue sealed by default ([node]
 * seal_to, [queue NAME] seal)? */
int policy_seal_default(const struct policy *p, const char *node,
			const char *queue);
/* [group name], or NULL. */
const struct policy_group *policy_group_find(const struct policy *p,
					     const char *name);
/* The first [route] line whose pattern matches node, or NULL. */
const struct policy_route *policy_route_find(const struct policy *p,
					     const char *node);

const struct policy_peer *policy_peer_find(const struct policy *p,
					   const char *name);

/*
 * The peer whose card holds the X25519 key kx_pk (as a Noise handshake
 * reveals it), or NULL.  Keys are unique among peers after policy_load().
 */
const struct policy_peer *policy_peer_by_key(const struct policy *p,
					     const uint8_t kx_pk[32]);

/*
 * Parse "host:port" or "[v6]:port" (see struct policy_endpoint) into ep.
 * Returns 0, or FERRY_EINVAL with the reason and its remedy in why (whylen
 * bytes, may be 0); ep is untouched on error.
 */
FERRY_MUST_CHECK int policy_endpoint_parse(const char *s,
					   struct policy_endpoint *ep,
					   char *why, size_t whylen);

/*
 * Sizes: "0", "512", "64k", "64K", "16M", "2G", "1T" (powers of 1024;
 * K, M, G, T in either case, optionally followed by "B" or "iB"; a bare
 * number may end in "B").  Durations: "500ms", "30s", "2m", "2h", "7d"; a
 * plain number is seconds.  No sign, no fraction, no spaces.  Return 0 or
 * FERRY_EINVAL (garbage, overflow); *out is untouched on error.
 */
FERRY_MUST_CHECK int policy_parse_size(const char *s, uint64_t *out);
FERRY_MUST_CHECK int policy_parse_duration_ms(const char *s, int64_t *out);

/* The name of one POLICY_OP_* bit ("send", "recv", "admin"), or "?". */
const char *policy_op_name(unsigned op);

/*
 * The commented default ferry.conf written by `ferry init`: every key with
 * a line of explanation, commented out with its default; only [node] name
 * and state_dir are set.  state_dir may be NULL or "" (then the default,
 * the config file's directory, is kept).  Loading the text gives exactly
 * policy_init()'s values plus the name and the paths derived from
 * state_dir.  Returns a malloc'd string the caller frees, or NULL when
 * node_name is not a valid node name, state_dir cannot be written as a
 * value (control characters, " ;", surrounding blanks, too long), or
 * memory runs out.
 */
FERRY_MUST_CHECK char *policy_default_conf(const char *node_name,
					   const char *state_dir);

#endif
