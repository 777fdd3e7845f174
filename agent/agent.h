/*
 * agent.h - ferryd's internals shared by the files of agent/.
 *
 * One libevent loop owns every piece of state here; blocking store calls
 * run as jobs (jobs.h) and come back to the loop.  The policy is read and
 * replaced (SIGHUP) on the loop thread only; jobs get copies of what they
 * need, never a pointer into it.
 *
 * A client connection (control.c) handles one request at a time, in the
 * order they arrive.  Its states (function of each transition):
 *
 *   IDLE --dispatch (requests.c)--> BUSY (a job in flight)
 *   BUSY --job done--> IDLE, or STREAM_IN / STREAM_OUT / WAITING
 *   STREAM_IN  (SEND payload: DATA frames until FIN; send_data)
 *   STREAM_OUT (RECV/FETCH payload: DATA frames as the socket drains;
 *               stream_out_next)
 *   WAITING    (RECV --wait: until a message, or the timer; notify.c)
 *   any --EOF, error or protocol violation--> DEAD (freed when no job
 *               holds it: client_unref)
 *   IDLE, STREAM_IN, WAITING, BUSY with half a frame buffered for
 *               frame_timeout, or IDLE unsubscribed with nothing buffered
 *               for idle_timeout --ERROR (request id 0)--> DEAD
 *               (on_io_timer, client_goodbye)
 *
 * Invariants:
 *  1. At most one job in flight per client, except the subscription's
 *     push job, which has its own flag (sub_busy).
 *  2. A client with refs > 0 is not freed; a job done() on a DEAD client
 *     only cleans up.
 *  3. Memory per client is bounded: the input buffer by the read high
 *     watermark, the SEND staging buffer by FERRY_DATA_MAX * 2, the output
 *     by one frame of a stream at a time (write low watermark).
 *  4. Connections are bounded: max_clients in all, max_clients_per_user
 *     for each uid but root and the agent's own (on_accept); a refused
 *     one is told why (ERROR ETOOMANY, request id 0) and closed at once,
 *     without a struct client.  A waiting RECV or a subscription is never
 *     closed for being silent.
 */
#ifndef FERRY_AGENT_H
#define FERRY_AGENT_H

#include <stdint.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "agent/jobs.h"
#include "agent/log.h"
#include "lib/frame.h"
#include "policy/policy.h"
#include "store/store.h"
#include "transports/identity.h"
#include "transports/transport.h"

struct seal_enc;
struct seal_dec;
struct metrics_server;

#define AGENT_INPUT_MAX	  (2u * (FERRY_FRAME_MAX + 4)) /* read watermark */
#define AGENT_OUTPUT_LOW  (512u * 1024u)  /* refill streams below this */
#define AGENT_SINGLE_READ (1024u * 1024u) /* a read(2) of a client, at most */
#define AGENT_OUTPUT_MAX  (4u << 20)	  /* no new requests or pushes above */
#define AGENT_STAGE_MAX	  (2u * FERRY_DATA_MAX)
#define AGENT_LEASE_MEMO  4u	 /* leases a client is remembered to hold */
#define AGENT_BROWSE_MAX  10000u /* headers per browse answer */
/* A streamed SEND of at least this many declared bytes to a peer with a
 * session up goes cut-through (engine_cut): sent while it comes in. */
#define AGENT_CUT_MIN (1u << 20)
/* Pipelined sends (docs/protocol.md §4): whole SENDs of one connection
 * taken up while earlier ones wait for their commit, at most this many
 * and this many payload bytes at once; more wait in the socket. */
#define AGENT_PIPELINE_MAX   64u
#define AGENT_PIPELINE_BYTES (1024u * 1024u)

struct client;

/*
 * Rate limit of the control socket's warnings (control.c): one line per
 * uid and kind per AGENT_NOTE_MS, the rest counted into the next line.
 */
#define AGENT_NOTES   32
#define AGENT_NOTE_MS (60 * 1000)

struct agent_note {
	uid_t uid;
	int kind; /* 0: unused slot */
	int64_t last_ms;
	unsigned unlogged;
};

struct agent {
	struct event_base *base;
	char conf_path[POLICY_PATH_MAX];
	struct policy pol;
	struct store *store;
	struct identity *id;
	uint8_t *scope_key; /* scope.c: sodium_malloc()'d */
	char card[IDENTITY_CARD_MAX];
	char fpr[IDENTITY_FPR_LEN + 1];
	struct jobs *jobs;
	struct evconnlistener *listener;
	struct event *ev_term, *ev_int, *ev_hup, *ev_sweep, *ev_stop;
	struct event *ev_watchdog; /* service.c: systemd's watchdog */
	int64_t service_status_ms; /* service.c: last STATUS= sent */
	struct client *clients;	   /* doubly linked */
	unsigned nclients;
	uint64_t next_client_id;
	uid_t uid;
	int stopping;
	int sweep_busy;
	/* sweep.c: the store's "earlier deadline" eventfd, its event, and
	 * the wall time the sweep timer is armed for (INT64_MAX: not) */
	int sweep_efd;
	struct event *ev_sweep_due;
	int64_t sweep_at_ms;
	int deferred_busy;   /* sweep.c: a job applies kept bundles */
	uint64_t notify_gen; /* bumped by every notify: no lost wake-ups */
	int exit_code;
	int sock_fd;
	uint8_t *scratch; /* FERRY_FRAME_MAX + 4, loop thread only */
	/* the forwarding engine (engine.c) */
	void *tstate[FERRY_TRANSPORTS_MAX]; /* each transport's own */
	struct engine_peer {
		char name[FERRY_NODE_MAX + 1];
		uint64_t kicks; /* engine_kick named it (atomic) */
	} * epeers;		/* the configured peers, copied */
	size_t nepeers;
	int arrival_efd;	  /* transports: "a local queue got one" */
	int arrival_wake;	  /* a write to it is pending (atomic) */
	int carry_wake;		  /* a carried bundle arrived (atomic) */
	struct event *ev_arrival; /* reads arrival_efd on the loop */
	struct metrics_server *metrics; /* metrics.c: [node] metrics_listen */
	struct agent_note notes[AGENT_NOTES]; /* control.c, loop thread */
};

enum client_state {
	CS_IDLE = 0,
	CS_BUSY,
	CS_STREAM_IN,
	CS_STREAM_OUT,
	CS_WAITING,
	CS_DEAD,
};

struct client {
	struct agent *ag;
	struct client *prev, *next;
	struct bufferevent *bev;
	uint64_t cid; /* for logs */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int ngroups;
	enum client_state state;
	int refs;
	int closing;	/* close once the output is flushed */
	int processing; /* inside client_process: no recursion */
	int read_held;	/* reading off while the input is full (on_read) */

	/* control.c: the one timer watching the connection (client_watch):
	 * a frame begun and not finished (frame_timeout), nothing in flight
	 * (idle_timeout), or a last answer not read while closing. */
	struct event *io_timer;
	int io_timer_kind;

	/* the request being served */
	uint32_t reqid;
	uint8_t type;
	/* Whole SENDs in the store, not yet answered (pipelined: the state
	 * stays IDLE, and only more whole SENDs are taken up meanwhile) and
	 * their payload bytes; at most AGENT_PIPELINE_MAX/_BYTES. */
	unsigned puts;
	size_t put_bytes;

	/* STREAM_IN: a streamed SEND */
	struct store_writer *writer;
	struct ferry_msg in_msg;
	uint8_t *stage;
	size_t stage_len;
	uint64_t in_total, in_declared, in_max;
	int in_error;  /* refused: discard DATA until FIN, then answer */
	int in_scoped; /* the id is the client's (scope.c): a stream cut by
			  a disconnect is suspended, not dropped, and the
			  same SEND again resumes it */
	/* A resumed stream: the next in_skip bytes of DATA are compared with
	 * what the partial holds (in_prefix reads it), not written again. */
	uint64_t in_skip;
	struct store_reader *in_prefix;
	/* --seal: seals the DATA before the store has it (seal.h); a
	 * write job holds it while it runs */
	struct seal_enc *in_seal;

	/* STREAM_OUT: a payload going out */
	struct store_reader *reader;
	struct seal_dec *unseal; /* a sealed payload for this node: reads
				    reader through it (seal.h) */
	uint64_t out_left;
	uint32_t out_reqid;
	int out_busy; /* a read job is in flight */

	/* WAITING: a RECV with --wait */
	struct event *wait_timer;
	int64_t wait_until_ms; /* monotonic; -1: for ever */
	char wait_queue[FERRY_QUEUE_MAX + 1];
	int64_t wait_lease_ms;
	int wait_peek;

	/* subscription */
	uint32_t sub_reqid; /* 0: none */
	char sub_queue[FERRY_QUEUE_MAX + 1];
	uint32_t credit;
	int64_t sub_lease_ms;
	int sub_busy;	/* a take for the subscription is in flight */
	int sub_wanted; /* something may have arrived meanwhile */

	/* The last leases handed to this client (RECV, a subscription's
	 * MSG): an ACK of one of them needs no lookup of its message first
	 * (req_by_id); the store still checks the token, the ACL the queue. */
	struct client_lease {
		uint8_t id[FERRY_ID_LEN];
		uint64_t token; /* 0: a free slot */
		uint32_t msg_flags;
		char queue[FERRY_QUEUE_MAX + 1];
		char src_node[FERRY_NODE_MAX + 1];
	} leases[AGENT_LEASE_MEMO];
	unsigned lease_next; /* the slot the next lease takes */
};

/* control.c */
int control_open(struct agent *ag);
void control_close(struct agent *ag);
void client_ref(struct client *c);
void client_unref(struct client *c);
void client_kill(struct client *c, const char *why);
/* Answer ERROR (EPROTO, why), then close once it is written. */
void client_violation(struct client *c, uint32_t reqid, const char *why);
/* Answer ERROR (code, text) with request id 0, then close once it is
 * written (or after frame_timeout if the client does not read it). */
void client_goodbye(struct client *c, int code, const char *text);
/* Queue a frame built in b (begun with agent_frame). */
void client_send(struct client *c, struct ferry_fbuf *b);
void client_error(struct client *c, uint32_t reqid, int code, const char *fmt,
		  ...) __attribute__((format(printf, 4, 5)));
/* The request is answered: parse what is buffered next. */
void client_idle(struct client *c);
/* Parse and hand out buffered frames as the state allows. */
void client_process(struct client *c);
void agent_frame(struct agent *ag, struct ferry_fbuf *b, uint8_t type,
		 uint8_t flags, uint32_t reqid);
int client_allowed(struct client *c, unsigned op, const char *target);

/* requests.c */
void request_dispatch(struct client *c, const struct ferry_frame *f);
void request_data(struct client *c, const struct ferry_frame *f);
void stream_out_next(struct client *c);
void request_take(struct client *c, uint32_t reqid, const char *queue,
		  int64_t lease_ms, int peek);
void client_cleanup_streams(struct client *c);

/* sneak_req.c: EXPORT / IMPORT (transports/filedrop.c) */
struct sneak_job;
struct sneak_peer;
void request_sneak(struct client *c, const struct ferry_fields *fl, int export);
int sneak_job_init(const struct agent *ag, struct sneak_job *sj);
/* notify.c */
void notify_queue(struct agent *ag, const char *queue);
void notify_all(struct agent *ag);
void notify_wait(struct client *c, const char *queue, int64_t lease_ms,
		 int peek);
void notify_cancel(struct client *c);
void subscription_push(struct client *c);

/* sweep.c: the sweep runs when the store says it has work
 * (store_due_ms), at most sweep_interval apart while work is left, and
 * at least every SWEEP_IDLE_MS.  sweep_start (again at SIGHUP) arms it;
 * sweep_free after store_close. */
int sweep_start(struct agent *ag);
void sweep_free(struct agent *ag);

/* service.c: sd_notify(3) to systemd; each does nothing without
 * NOTIFY_SOCKET. */
int service_enabled(void);
/* READY=1 with a first STATUS=, and the watchdog timer if systemd asks
 * for keep-alives (WATCHDOG_USEC, WATCHDOG_PID).  Call once the store is
 * open and every socket listens. */
void service_ready(struct agent *ag);
/* Is a new STATUS= due (every 10 s)?  The sweep then reads the totals
 * on its job's thread and calls service_status on the loop. */
int service_status_due(const struct agent *ag);
void service_status(struct agent *ag, const struct store_stats *st);
void service_stopping(void);
/* Free the watchdog timer. */
void service_cleanup(struct agent *ag);

/* scope.c: the ids local clients choose, scoped to their uid */
FERRY_MUST_CHECK int scope_init(struct agent *ag);
void scope_cleanup(struct agent *ag);
/* The id stored for the id a client of uid chose (SEND with an id). */
void scope_client_id(const struct agent *ag, uid_t uid,
		     const uint8_t chosen[FERRY_ID_LEN],
		     uint8_t out[FERRY_ID_LEN]);

#endif
