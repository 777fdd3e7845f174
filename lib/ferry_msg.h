/*
 * ferry_msg.h - the message model shared by the agent, the store and clients.
 *
 * A message is an id, a source, a destination node/queue, a priority, times,
 * flags, optional reply-to and correlation id, and a payload of 0 bytes to
 * many GiB.  The payload never lives in this struct: it is streamed.
 * Names are NUL-terminated and validated by ferry_msg_validate().
 */
#ifndef FERRY_MSG_H
#define FERRY_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "ferry_err.h"

#define FERRY_ID_LEN	   16
#define FERRY_NODE_MAX	   63  /* bytes of a node name, without the NUL */
#define FERRY_QUEUE_MAX	   127 /* bytes of a queue name, without the NUL */
#define FERRY_CORR_MAX	   127 /* bytes of a correlation id */
#define FERRY_PRIO_MAX	   7   /* 7 urgent ... 0 bulk */
#define FERRY_PRIO_DEFAULT 3
#define FERRY_ID_HEX_LEN   (2 * FERRY_ID_LEN)

/* Message flags. */
#define FERRY_MSG_TRANSIENT 0x1u /* not fsync'd: may be lost on a crash */
#define FERRY_MSG_RECEIPT   0x2u /* the source wants delivery receipts */
#define FERRY_MSG_TRACK                                                        \
	0x4u /* ... and one from every relay on the way                        \
	      * (ferry track; docs/routing.md) */
#define FERRY_MSG_SEALED                                                       \
	0x8u /* the payload is sealed to the destination's key by the          \
	      * sending ferryd (ferry send --seal; docs/routing.md) */
#define FERRY_MSG_FLAGS_ALL                                                    \
	(FERRY_MSG_TRANSIENT | FERRY_MSG_RECEIPT | FERRY_MSG_TRACK |           \
	 FERRY_MSG_SEALED)

/* The queue every node has for messages that could not be delivered. */
#define FERRY_DEAD_QUEUE "dead"
/* Receipts travel as messages to this queue of the source node, where
 * the store absorbs them into the status of the message (docs/store.md);
 * nothing is ever queued there. */
#define FERRY_RECEIPT_QUEUE "ferry.receipts"
/* Where a bundle carried by relays for this node lands, to be imported
 * (docs/routing.md, "Carried bundles"). */
#define FERRY_BUNDLE_QUEUE "ferry.bundles"
/* Queues named "ferry." + anything belong to the agent: no local client
 * may send to one, and peers only to FERRY_RECEIPT_QUEUE. */
#define FERRY_RESERVED_PREFIX "ferry."
int ferry_queue_reserved(const char *name);
/* Queues named "reply." + anything are reply queues (docs/protocol.md,
 * "Request and reply"): each is opened by the one requester who waits on
 * it (QCREATE with ttl_ms) and closed by its purge; a message for one
 * that is not open goes to dead, "no one waiting", instead of into it. */
#define FERRY_REPLY_PREFIX "reply."
int ferry_queue_is_reply(const char *name);

/* Copy untrusted text (a name from a medium, a client or a peer) into
 * out for a log line or an error message: printable ASCII as is, '\\'
 * and anything else as \xHH, cut with "..." to fit cap (at least 8).
 * Returns out. */
const char *ferry_quote(const char *in, char *out, size_t cap);
/* Why name is not a valid queue name (which rule), or NULL if it is. */
const char *ferry_queue_name_why(const char *name);

/* Who vouches for a received message's source (ferry_last_origin). */
#define FERRY_ORIGIN_UNKNOWN	0 /* an agent from before relays */
#define FERRY_ORIGIN_LOCAL	1 /* made on this node */
#define FERRY_ORIGIN_PEER	2 /* from its source, a peer, directly */
#define FERRY_ORIGIN_VERIFIED	3 /* through relays, its signature checked */
#define FERRY_ORIGIN_UNVERIFIED 4 /* through relays, not signed or no key */
#define FERRY_ORIGIN_FORGED	5 /* its signature does not verify (dead) */
#define FERRY_PATH_MAX		1023

struct ferry_msg {
	uint8_t id[FERRY_ID_LEN];
	char src_node[FERRY_NODE_MAX + 1];
	char reply_to[FERRY_QUEUE_MAX + 1]; /* queue on src_node, or "" */
	char dst_node[FERRY_NODE_MAX + 1];
	char dst_queue[FERRY_QUEUE_MAX + 1];
	char correlation[FERRY_CORR_MAX + 1]; /* free text, or "" */
	uint8_t priority;		      /* 0..FERRY_PRIO_MAX */
	uint32_t flags;			      /* FERRY_MSG_* */
	int64_t created_ms;		      /* wall clock, informational */
	int64_t expires_ms;		      /* local wall clock; 0 = never */
	uint64_t payload_len;
};

/* Zero m and set the default priority. */
void ferry_msg_init(struct ferry_msg *m);

/* Draw a new message id: 6 bytes of Unix milliseconds (big-endian), then
 * 80 bits that are random, or for a thread's next id in the same
 * millisecond its last id plus 1 plus a random 48-bit step: time-ordered
 * like a UUIDv7, so that a store files new messages at the end of its
 * index, and one thread's ids strictly increase.  0 or FERRY_EIO (no
 * randomness from the kernel). */
FERRY_MUST_CHECK int ferry_id_generate(uint8_t id[FERRY_ID_LEN]);

/* Lower-case hex of id into out (FERRY_ID_HEX_LEN + 1 bytes). */
void ferry_id_to_hex(const uint8_t id[FERRY_ID_LEN],
		     char out[FERRY_ID_HEX_LEN + 1]);

/* Parse exactly 32 hex digits; FERRY_EINVAL otherwise. */
FERRY_MUST_CHECK int ferry_id_from_hex(const char *hex,
				       uint8_t id[FERRY_ID_LEN]);

/*
 * Node names: 1..63 of [a-z0-9-_.], not starting with '.' or '-'.
 * Queue names: 1..127 of [A-Za-z0-9-_./], no empty path component, no "..".
 */
int ferry_node_name_valid(const char *name);
int ferry_queue_name_valid(const char *name);
/* A destination node as a client writes it: a node name, or '@' and a
 * group's name (docs/groups.md), 1..63 bytes in all. */
int ferry_dest_node_valid(const char *name);

/*
 * Check every field of m: names, priority, flags, NUL termination.
 * Returns 0 or FERRY_EINVAL.
 */
FERRY_MUST_CHECK int ferry_msg_validate(const struct ferry_msg *m);

#endif
