/*
 * ferry.h - libferry, the client library of the ferry message agent.
 *
 * An application connects to the local ferryd over its Unix socket and
 * hands it messages for "node/queue" addresses; ferryd keeps them durably
 * and delivers or forwards them.  Calls block until ferryd answers.  For
 * event loops, ferry_fd() can be polled and ferry_next_msg() called with a
 * timeout of 0 (FERRY_EAGAIN when nothing is there yet).
 *
 * Errors are negative FERRY_E* codes (ferry_err.h); ferry_strerror() names
 * them and ferry_last_error() has the agent's own words for the last one.
 * A connection is used by one thread at a time.
 *
 * Link with `pkg-config --libs ferry`.
 */
#ifndef FERRY_H
#define FERRY_H

#include <stddef.h>
#include <stdint.h>

#include "ferry_err.h"
#include "ferry_msg.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ferry;
struct ferry_stream;

/* FERRY_SOCKET, else the first that exists of $XDG_STATE_HOME/ferry/
 * ferry.sock (or ~/.local/state/ferry/ferry.sock) and the system agent's
 * /run/ferry/ferry.sock; when neither exists, the first for users and the
 * second for root. */
const char *ferry_default_socket(void);

/*
 * Connect (path NULL: ferry_default_socket()).  FERRY_ECONNECT when no
 * agent listens there, FERRY_EPERM when the socket refuses this user.
 *
 * ferryd may still refuse the connection once it has accepted it (too
 * many clients: FERRY_ETOOMANY), or close it later (a frame left half
 * sent, or idle too long: FERRY_ECLOSED); it says so in an ERROR frame of
 * request id 0, which the next call on c returns, its text in
 * ferry_last_error() ("ferryd refused the connection: too many clients
 * from uid 1000 (max_clients_per_user = 64)").  Only ferry_close() is
 * left to do on c then.
 */
FERRY_MUST_CHECK int ferry_connect(const char *path, struct ferry **out);
void ferry_close(struct ferry *c); /* NULL is fine */
int ferry_fd(const struct ferry *c);
/* The agent's text for the last error on c, or "". */
const char *ferry_last_error(const struct ferry *c);

/* ------------------------------------------------------------- sending */

#define FERRY_TTL_DEFAULT (-1) /* the agent's default_ttl */
#define FERRY_TTL_NONE	  0    /* never expires */

struct ferry_send_opts {
	int priority;		 /* 0..7; default FERRY_PRIO_DEFAULT */
	int64_t ttl_ms;		 /* FERRY_TTL_DEFAULT, FERRY_TTL_NONE, or ms */
	uint32_t flags;		 /* FERRY_MSG_*: TRANSIENT, RECEIPT, TRACK,
				    SEALED (docs/routing.md) */
	const char *reply_to;	 /* queue on this node, or NULL */
	const char *correlation; /* or NULL */
	const uint8_t *id;	 /* choose the id (idempotent retry), or NULL */
	int hold; /* a node that is neither this one nor a peer: keep the
		     message until a route appears (else FERRY_ENOROUTE) */
};

void ferry_send_opts_init(struct ferry_send_opts *o);

/* Send len bytes to dest ("node/queue").  Returns after ferryd has
 * committed the message durably (transient: accepted); id_out (may be
 * NULL) gets its id.  FERRY_EDUPLICATE when opts->id was accepted before
 * (nothing new is stored; the message is not lost), and id_out gets the
 * id it was stored under.  An id chosen in opts->id is scoped to the
 * caller's uid: the stored id is derived from it (the same for the same
 * uid and opts->id, another for another uid), so no other user can take
 * it first; ask status about the id returned in id_out. */
FERRY_MUST_CHECK int ferry_send(struct ferry *c, const char *dest,
				const void *data, size_t len,
				const struct ferry_send_opts *o,
				uint8_t id_out[FERRY_ID_LEN]);

/*
 * Pipelined sends: many whole sends in flight on one connection, each
 * still answered only once ferryd has committed it durably (transient:
 * accepted), so that ferryd can commit many of them together.
 *
 * ferry_send_async checks and writes one send (payload at most
 * FERRY_SEND_ASYNC_MAX bytes) and returns; done(arg) is called exactly
 * once later with that send's outcome alone: 0 and the id it was stored
 * under; FERRY_EDUPLICATE and the id (opts->id sent before); or its
 * error, with ferryd's words in text (id NULL).  An error of one send
 * says nothing about the others.  When the connection is lost, each send
 * still in flight gets the connection's error (FERRY_ECONNECT, ...):
 * whether ferryd stored it is not known (send it again under a chosen
 * opts->id to make the retry idempotent).
 *
 * At most FERRY_SEND_WINDOW sends are in flight on c: with the window
 * full, ferry_send_async first waits for the oldest answer.  ferryd reads
 * ahead as many whole sends of one connection (docs/protocol.md §4,
 * "Pipelined sends"), so neither side buffers more than that.
 *
 * done runs inside ferry_send_async, ferry_send_poll, ferry_send_flush,
 * or any other call on c that reads from ferryd (they all wait for the
 * answers of the sends before theirs); it must not call into c.  Returns
 * of ferry_send_async other than 0 mean the send was not made (done is
 * not called): FERRY_EINVAL (address, options), FERRY_ETOOBIG, FERRY_ESTATE
 * (a payload stream is open), or a connection error.  ferry_close drops
 * the sends in flight without calling done: call ferry_send_flush first.
 */
#define FERRY_SEND_WINDOW    64
#define FERRY_SEND_ASYNC_MAX (64u * 1024u)

typedef void (*ferry_sent_fn)(int rc, const uint8_t *id, const char *text,
			      void *arg);

FERRY_MUST_CHECK int ferry_send_async(struct ferry *c, const char *dest,
				      const void *data, size_t len,
				      const struct ferry_send_opts *o,
				      ferry_sent_fn done, void *arg);
/* Hand the answers already here to their callbacks, having waited up to
 * timeout_ms (-1: for ever, 0: not) for one when none is.  0 (also when
 * none came in time), or the connection's error. */
FERRY_MUST_CHECK int ferry_send_poll(struct ferry *c, int timeout_ms);
/* Wait until every send in flight is answered.  0, or the connection's
 * error (each send in flight got it too). */
FERRY_MUST_CHECK int ferry_send_flush(struct ferry *c);
/* Sends in flight on c. */
size_t ferry_send_pending(const struct ferry *c);

#define FERRY_LEN_UNKNOWN UINT64_MAX

/* Streamed send of any size: begin, write as often as needed, end. */
FERRY_MUST_CHECK int ferry_send_begin(struct ferry *c, const char *dest,
				      uint64_t len,
				      const struct ferry_send_opts *o,
				      struct ferry_stream **out);
FERRY_MUST_CHECK int ferry_stream_write(struct ferry_stream *s,
					const void *data, size_t len);
/* Finish; frees s. */
FERRY_MUST_CHECK int ferry_send_end(struct ferry_stream *s,
				    uint8_t id_out[FERRY_ID_LEN]);
/* Give up; nothing is stored; frees s. */
void ferry_send_abort(struct ferry_stream *s);

/* ----------------------------------------------------------- receiving */

struct ferry_recv_opts {
	int64_t lease_ms; /* 0: the agent's default_lease */
	int64_t wait_ms;  /* 0: do not wait; -1: wait for ever */
	int peek;	  /* look at the next message without taking it */
};

void ferry_recv_opts_init(struct ferry_recv_opts *o);

/* Reasons of dead letters (ferry_dead_reason_name); a client may give
 * only FERRY_DEAD_HANDLER_FAILED (ferry_dead_letter). */
#define FERRY_DEAD_HANDLER_FAILED 6
#define FERRY_DEAD_NO_WAITER                                                   \
	7			  /* "no one waiting": for a reply queue       \
				   * that is not open (ferry_request) */
#define FERRY_DEAD_LOOP	      8	  /* a relay's next hops had all held it */
#define FERRY_DEAD_HOP_LIMIT  9	  /* it visited [node] hop_limit nodes */
#define FERRY_DEAD_FORGED     10  /* its origin signature is wrong */
#define FERRY_DEAD_UNVERIFIED 11  /* a require_verified queue refused it */
#define FERRY_DEAD_TEXT_MAX   511 /* bytes, NUL excluded */

enum ferry_msg_state {
	FERRY_STATE_QUEUED = 1,
	FERRY_STATE_LEASED = 2,
	FERRY_STATE_OUTBOUND = 3,
	FERRY_STATE_INFLIGHT = 4,
};

struct ferry_msg_info {
	struct ferry_msg msg;
	uint64_t token; /* lease token: give it to ferry_ack/nack */
	int state;	/* enum ferry_msg_state */
	char queue[FERRY_QUEUE_MAX + 1];
	int dead_reason; /* 0, or why it is in the dead queue */
	int64_t dead_ms, stored_ms, lease_until_ms;
	uint32_t deliveries;
	/* A dead letter: the words its consumer gave (ferry_dead_letter),
	 * or "". */
	char dead_text[FERRY_DEAD_TEXT_MAX + 1];
};

/*
 * The origin of the message last received (ferry_recv) or pushed
 * (ferry_next_msg) on c
 * (FERRY_ORIGIN_*), and, if path is not NULL, the nodes it came through
 * (its source first, comma-separated; "" for one made here or from its
 * source directly) into path (cap bytes).  Relaying: docs/routing.md.
 */
int ferry_last_origin(struct ferry *c, char *path, size_t cap);

/*
 * Take the next message of a local queue under a lease.  info gets its
 * header; if payload is not NULL, *payload is a stream to read the payload
 * with ferry_stream_read (it must be read to its end or closed before the
 * next call on c).  FERRY_EEMPTY when the queue stayed empty.
 */
FERRY_MUST_CHECK int ferry_recv(struct ferry *c, const char *queue,
				const struct ferry_recv_opts *o,
				struct ferry_msg_info *info,
				struct ferry_stream **payload);
/* Read up to cap bytes; *n = 0 at the end. */
FERRY_MUST_CHECK int ferry_stream_read(struct ferry_stream *s, void *buf,
				       size_t cap, size_t *n);
/* Close a payload stream (reading and discarding what is left). */
void ferry_stream_close(struct ferry_stream *s);

/* Done with a message: it leaves the queue.  token 0: by id alone. */
FERRY_MUST_CHECK int ferry_ack(struct ferry *c, const uint8_t id[FERRY_ID_LEN],
			       uint64_t token);
/* Give it back to its place in the queue at once. */
FERRY_MUST_CHECK int ferry_nack(struct ferry *c, const uint8_t id[FERRY_ID_LEN],
				uint64_t token);
/*
 * Keep holding a leased message: its lease now ends lease_ms from now (at
 * most the agent's max_lease), under the same token.  Call it while
 * working on a message longer than its lease.  Not followed by an ack, it
 * is also a give-back after a delay: the message returns to its place
 * when the renewed lease runs out.  FERRY_ELEASE if the lease was lost.
 */
FERRY_MUST_CHECK int ferry_renew(struct ferry *c,
				 const uint8_t id[FERRY_ID_LEN], uint64_t token,
				 int64_t lease_ms);
/*
 * Give up on a leased message: it moves to the dead queue with reason
 * (FERRY_DEAD_HANDLER_FAILED) and text (NULL, or at most
 * FERRY_DEAD_TEXT_MAX bytes of UTF-8), which ferry_recv and ferry_status
 * show in dead_text.  Its source gets a "refused" receipt if it asked.
 */
FERRY_MUST_CHECK int ferry_dead_letter(struct ferry *c,
				       const uint8_t id[FERRY_ID_LEN],
				       uint64_t token, int reason,
				       const char *text);

typedef int (*ferry_browse_fn)(const struct ferry_msg_info *info, void *arg);
/* Headers of the available messages in delivery order (limit 0: all). */
FERRY_MUST_CHECK int ferry_browse(struct ferry *c, const char *queue,
				  size_t limit, ferry_browse_fn fn, void *arg);

/* Push delivery: after subscribe, messages arrive leased, at most credit
 * at a time not yet acked by ferry_credit; read them with
 * ferry_next_msg (timeout_ms 0 for poll() users, -1 to block). */
FERRY_MUST_CHECK int ferry_subscribe(struct ferry *c, const char *queue,
				     uint32_t credit, int64_t lease_ms);
FERRY_MUST_CHECK int ferry_credit(struct ferry *c, uint32_t credit);
FERRY_MUST_CHECK int ferry_next_msg(struct ferry *c, int timeout_ms,
				    struct ferry_msg_info *info,
				    struct ferry_stream **payload);

/* ------------------------------------------------------- request/reply */

/*
 * Request and reply (docs/protocol.md §4, "Request and reply").  A
 * request is a message with reply_to (a reply queue on this node,
 * "reply.<32 hex digits>") and a fresh correlation; the reply is the
 * message that comes into that queue with the same correlation.  A reply
 * queue is open from ferry_request_open to ferry_request_close (or, if
 * the requester dies, until the timeout plus FERRY_REQUEST_MARGIN_MS);
 * ferryd moves whatever comes for it after that to the dead queue with
 * FERRY_DEAD_NO_WAITER.
 *
 * ferry_request() does it all for a payload in memory, streaming the
 * reply's payload to a callback.  The steps, for a request payload
 * streamed with ferry_send_begin:
 *
 *   struct ferry_request rq;
 *   ferry_send_opts_init(&so);
 *   ferry_request_open(c, 30000, &rq, &so);   sets so.reply_to and
 *                                              so.correlation
 *   ferry_send_begin(c, dest, len, &so, &s) ... ferry_send_end(s, id);
 *   ferry_request_wait(c, &rq, &reply, &payload);   read payload to
 *                                                   its end
 *   ferry_request_close(c, &rq, &reply);   acks it, closes the queue
 *
 * ferry_request_close must be called after a successful open whatever
 * happened since (with NULL when there is no reply to ack).
 */
#define FERRY_REQUEST_MARGIN_MS 60000 /* reply queue open past the timeout */

struct ferry_request {
	char reply_queue[FERRY_QUEUE_MAX + 1]; /* "reply.<32 hex digits>" */
	char correlation[FERRY_CORR_MAX + 1];  /* 32 hex digits */
	int64_t deadline_ms;		       /* monotonic clock */
	int open;			       /* the reply queue is open */
};

/* Open (or reopen) reply queue (a name beginning FERRY_REPLY_PREFIX) for
 * open_ms from now (0: until ferry_queue_purge closes it).  Needs the
 * admin right on it.  FERRY_EINVAL if queue is not a reply queue. */
FERRY_MUST_CHECK int ferry_reply_queue_open(struct ferry *c, const char *queue,
					    int64_t open_ms);

/*
 * Start a request that waits up to timeout_ms (> 0) for its reply: draw
 * a reply queue and a correlation into rq, open the queue, and point
 * so->reply_to and so->correlation at them (so stays valid as long as rq
 * does).  Errors of ferry_reply_queue_open; nothing to close then.
 */
FERRY_MUST_CHECK int ferry_request_open(struct ferry *c, int64_t timeout_ms,
					struct ferry_request *rq,
					struct ferry_send_opts *so);
/*
 * Wait for the reply, until rq's deadline: info gets its header and
 * *payload (if payload is not NULL) a stream of its payload, as
 * ferry_recv.  Messages in the queue with another correlation (strays,
 * replies to nothing of ours) are acked and dropped on the way.
 * FERRY_ETIMEDOUT when the deadline passed without a reply.
 */
FERRY_MUST_CHECK int ferry_request_wait(struct ferry *c,
					struct ferry_request *rq,
					struct ferry_msg_info *info,
					struct ferry_stream **payload);
/*
 * End a request: ack reply (NULL: none) and purge, so close, the reply
 * queue; a reply that comes after this goes to the dead queue, "no one
 * waiting".  Returns the first error (the queue is closed anyway when
 * its deadline passes).
 */
FERRY_MUST_CHECK int ferry_request_close(struct ferry *c,
					 struct ferry_request *rq,
					 const struct ferry_msg_info *reply);

/* Where a reply's payload goes: return 0, or a FERRY_E* code to stop. */
typedef int (*ferry_write_fn)(const void *data, size_t len, void *arg);

/*
 * Send len bytes to dest ("node/queue") as a request (o: priority, ttl,
 * flags; its reply_to and correlation are ignored, NULL: defaults) and
 * wait up to timeout_ms for the reply: reply gets its header and write
 * (may be NULL: dropped) its payload, in pieces, in bounded memory.  The
 * reply is acked and the reply queue closed before it returns, on every
 * path.  FERRY_ETIMEDOUT when no reply came in time; errors of
 * ferry_send, ferry_recv, or write's own.
 */
FERRY_MUST_CHECK int
ferry_request(struct ferry *c, const char *dest, const void *data, size_t len,
	      const struct ferry_send_opts *o, int64_t timeout_ms,
	      struct ferry_msg_info *reply, ferry_write_fn write, void *arg);

/* --------------------------------------------------------------- admin */

struct ferry_queue_info {
	char name[FERRY_QUEUE_MAX + 1];
	uint64_t msgs, bytes, leased, max_bytes, max_msgs;
};

FERRY_MUST_CHECK int ferry_queue_create(struct ferry *c, const char *queue,
					uint64_t max_bytes, uint64_t max_msgs);
typedef int (*ferry_queue_fn)(const struct ferry_queue_info *q, void *arg);
FERRY_MUST_CHECK int ferry_queue_list(struct ferry *c, ferry_queue_fn fn,
				      void *arg);
FERRY_MUST_CHECK int ferry_queue_stats(struct ferry *c, const char *queue,
				       struct ferry_queue_info *out);
FERRY_MUST_CHECK int ferry_queue_purge(struct ferry *c, const char *queue,
				       uint64_t *removed);

/* A peer of the node, as `ferry peers` shows it. */
struct ferry_peer_info {
	char name[FERRY_NODE_MAX + 1];
	char fingerprint[32];
	int connected;		      /* 0 no, 1 we dialed, 2 it dialed us */
	char addr[80];		      /* the session's remote address, or "" */
	char via[16];		      /* its transport ("tcp", "http"), or "" */
	int64_t since_ms;	      /* session up since (wall clock), or 0 */
	int64_t last_seen_ms;	      /* the last record from it, or 0 */
	int64_t next_retry_ms;	      /* the next dial, or 0 (none planned) */
	uint64_t bytes_in, bytes_out; /* on the wire since the agent started */
	uint64_t msgs_in, msgs_out;   /* custody taken from / handed to it */
	uint64_t queued_msgs, queued_bytes; /* waiting here for it */
	char last_error[512]; /* why the last session or dial ended */
};

typedef int (*ferry_peer_fn)(const struct ferry_peer_info *p, void *arg);
/* Every [peer] of the agent's ferry.conf, in file order. */
FERRY_MUST_CHECK int ferry_peers(struct ferry *c, ferry_peer_fn fn, void *arg);

/* A payload being streamed in, or left by a cut stream (a send killed
 * half-way, a crash), as `ferry status --partials` shows it.  A send with
 * the same chosen id (ferry_send_opts.id) by the same user resumes it;
 * the agent drops it after partial_idle without progress. */
struct ferry_partial_info {
	uint8_t id[FERRY_ID_LEN];	   /* the id it will be stored under */
	char src_node[FERRY_NODE_MAX + 1]; /* this node: a local send */
	char dst_node[FERRY_NODE_MAX + 1];
	char dst_queue[FERRY_QUEUE_MAX + 1];
	int priority;
	uint64_t bytes;	    /* stored durably so far */
	int64_t created_ms; /* when its send began */
	int64_t last_ms;    /* its last durable progress */
	int receiving;	    /* 1: being received now */
};

typedef int (*ferry_partial_fn)(const struct ferry_partial_info *p, void *arg);
/* The partials the caller may see (all for admin of the node, else those
 * whose address it may send to), in id order. */
FERRY_MUST_CHECK int ferry_partials(struct ferry *c, ferry_partial_fn fn,
				    void *arg);

/* ---------------------------------------------- sneakernet (formats.md) */

/* What an export or import is to do.  Zero it, then set what you need. */
struct ferry_sneak_opts {
	const char *dir;    /* the medium's folder (absolute path) */
	const char *peers;  /* export: peer names, comma-separated; NULL:
			       every peer with something queued */
	uint64_t max_bytes; /* export: 0 = the medium's free space */
	int min_priority;   /* export: 0..7 */
	int again;	    /* export: messages already on a medium too */
	int keep;	    /* import: leave the bundles on the medium */
	uint64_t segment;   /* export: bytes per file; 0 = 1 GiB */
	uint64_t skew_ms;   /* import: clock-skew allowance; 0 = 1 hour */
};

struct ferry_sneak_result {
	int code;	    /* 0, or the FERRY_E* that stopped it early */
	uint64_t msgs;	    /* messages exported or imported */
	uint64_t bytes;	    /* their payload bytes */
	uint64_t bundles;   /* bundle files written or read */
	uint64_t rejected;  /* bundles refused (moved to ferry/rejected/) */
	char summary[8192]; /* lines for the operator */
};

/* Called as the work goes on (about 4 times a second): what, bytes done,
 * bytes in all (0 if unknown).  Return non-zero to... keep going anyway:
 * the value is ignored. */
typedef int (*ferry_progress_fn)(const char *what, uint64_t done,
				 uint64_t total, void *arg);

/*
 * Export the queued messages onto a medium, or import the bundles for
 * this node from one (docs/formats.md, ferry(1)).  Blocks until done;
 * progress (may be NULL) is called meanwhile.  Returns 0 with *res filled
 * (res->code says whether it stopped early), or an error of the request
 * itself: FERRY_EPERM (not admin), FERRY_EINVAL, FERRY_ECONNECT, ...
 */
FERRY_MUST_CHECK int ferry_export(struct ferry *c,
				  const struct ferry_sneak_opts *o,
				  ferry_progress_fn progress, void *arg,
				  struct ferry_sneak_result *res);
FERRY_MUST_CHECK int ferry_import(struct ferry *c,
				  const struct ferry_sneak_opts *o,
				  ferry_progress_fn progress, void *arg,
				  struct ferry_sneak_result *res);

enum ferry_status_kind {
	FERRY_STATUS_UNKNOWN = 0,      /* never seen here, or forgotten */
	FERRY_STATUS_PRESENT = 1,      /* held here: see info */
	FERRY_STATUS_ACKED = 2,	       /* delivered and acked at at_ms */
	FERRY_STATUS_HANDED = 3,       /* handed to peer at at_ms */
	FERRY_STATUS_PURGED = 4,       /* removed by a purge at at_ms */
	FERRY_STATUS_DEAD_REMOVED = 5, /* a dead letter, acked out of the
					* dead queue at at_ms (never
					* delivered): info.dead_reason and
					* info.dead_ms say why and since when */
};

/* A receipt the destination sent back (send with FERRY_MSG_RECEIPT). */
struct ferry_receipt {
	char event[16]; /* "queued", "acked", "expired", "refused" */
	char node[FERRY_NODE_MAX + 1]; /* the node that reported it */
	int64_t at_ms;		       /* its clock */
};
#define FERRY_RECEIPTS_MAX 4

struct ferry_status {
	int kind; /* enum ferry_status_kind */
	struct ferry_msg_info info;
	int64_t at_ms;
	char peer[FERRY_NODE_MAX + 1];
	struct ferry_receipt receipts[FERRY_RECEIPTS_MAX]; /* as they came */
	size_t nreceipts;
	char medium[200];  /* "PEER DIR" if exported on a medium, or "" */
	int64_t medium_ms; /* since when */
};

FERRY_MUST_CHECK int ferry_status(struct ferry *c,
				  const uint8_t id[FERRY_ID_LEN],
				  struct ferry_status *out);

/*
 * ferry track: every report this node has on message id, in arrival
 * order, up to cap into hops (*n): from a relay, "custody" (it took
 * custody) and "medium" (it put it on a medium), for a message sent
 * with FERRY_MSG_TRACK; from its destination "queued", "acked",
 * "refused", "expired".  st (may be NULL) gets what ferry_status gives.
 */
#define FERRY_TRACK_MAX 32
FERRY_MUST_CHECK int ferry_track(struct ferry *c,
				 const uint8_t id[FERRY_ID_LEN],
				 struct ferry_status *st,
				 struct ferry_receipt *hops, size_t cap,
				 size_t *n);

/* One line saying why message id waits at this node (no route, next hop
 * unreachable since T, outside a contact window, on a medium, ...), into
 * out (cap bytes); "" if it does not wait here (or the agent is older).
 * The same request as ferry_status. */
FERRY_MUST_CHECK int ferry_why(struct ferry *c, const uint8_t id[FERRY_ID_LEN],
			       char *out, size_t cap);

struct ferry_node_info {
	char node[FERRY_NODE_MAX + 1];
	char card[160];	      /* public card, for peers' ferry.conf */
	char fingerprint[32]; /* abcd-efgh-ijkl-mnop */
	uint32_t version;     /* protocol version */
	uint64_t msgs, bytes, out_msgs, out_bytes;
};

FERRY_MUST_CHECK int ferry_info(struct ferry *c, struct ferry_node_info *out);

/*
 * The node's metrics in the Prometheus text format, the text that
 * [node] metrics_listen serves at /metrics (docs/protocol.md, METRICS),
 * handed to write in pieces of whole lines (at most 256 KiB each).
 * Needs admin of the node.  0, FERRY_EPERM, the agent's error, or
 * write's own (the rest of the answer is then read and dropped).
 */
FERRY_MUST_CHECK int ferry_metrics(struct ferry *c, ferry_write_fn write,
				   void *arg);

/* "node/queue" into its parts; FERRY_EINVAL if either part is invalid. */
FERRY_MUST_CHECK int ferry_parse_dest(const char *dest,
				      char node[FERRY_NODE_MAX + 1],
				      char queue[FERRY_QUEUE_MAX + 1]);

const char *ferry_state_name(int state);
const char *ferry_dead_reason_name(int reason);

#ifdef __cplusplus
}
#endif

#endif
