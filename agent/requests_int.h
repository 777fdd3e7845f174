/*
 * requests_int.h - what the request files of agent/ share, and nothing
 * else includes: the job that carries a request to the store and back
 * (requests_job.c), and the handlers and answers of each role
 * (requests_msg.c, requests_admin.c) that requests.c and job_done()
 * call.
 */
#ifndef FERRY_AGENT_REQUESTS_INT_H
#define FERRY_AGENT_REQUESTS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/metrics.h"
#include "agent/seal.h"

/* What the ACL cell of a request is checked against (struct req_cmd). */
enum req_on {
	REQ_ON_UNSET = 0,  /* no cell: the request is refused (a table bug) */
	REQ_ON_NONE,	   /* no check: .why says why that is safe */
	REQ_ON_NODE,	   /* the node as a whole: target "" */
	REQ_ON_QUEUE,	   /* the local queue in FERRY_T_QUEUE (a valid name) */
	REQ_ON_ADDRESS,	   /* "NODE/QUEUE" of dst_node, dst_queue (valid, and
			      not a reserved ferry.* queue) */
	REQ_ON_MESSAGE,	   /* the local queue of the message FERRY_T_ID names;
			      after the store lookup: req_allowed_message */
	REQ_ON_STATUS,	   /* STATUS: who may see a message (status_visible) */
	REQ_ON_EACH_QUEUE, /* QLIST: each queue shown if any bit of .op
			      allows it (req_allowed_any) */
	REQ_ON_EACH_PARTIAL, /* PARTIALS: each partial shown to admin of the
				node or whoever may send to its address
				(done_partials) */
};

#define REQ_NEED_MAX 2

struct req_cmd;
typedef void (*req_run_fn)(struct client *c, const struct req_cmd *cmd,
			   const struct ferry_frame *f,
			   const struct ferry_fields *fl);

/* One row of the request table (requests.c). */
struct req_cmd {
	const char *name; /* lower case, as in logs and refusals */
	struct {
		int tag; /* FERRY_T_* */
		const char *name;
	} need[REQ_NEED_MAX]; /* required fields, checked in this order */
	unsigned op;	      /* POLICY_OP_* bits; 0 with REQ_ON_NONE */
	enum req_on on;
	const char *why;  /* REQ_ON_NONE: why no check is safe; deferred
			     cells: where and how they are judged */
	const char *deny; /* NULL: the usual refusal; else its reason */
	int flow;	  /* not a request: no answer, and it does not become
			     the client's current request (CREDIT) */
	req_run_fn run;	  /* called once the fields and the ACL passed */
};

enum req_kind {
	RK_PUT,
	RK_WOPEN,
	RK_WWRITE,
	RK_WCOMMIT,
	RK_WABORT,
	RK_TAKE,
	RK_GET, /* phase 1 of ack, nack, fetch */
	RK_ACK,
	RK_NACK,
	RK_FETCH,
	RK_READ, /* the next piece of an outgoing payload */
	RK_BROWSE,
	RK_QCREATE,
	RK_QLIST,
	RK_QSTATS,
	RK_QPURGE,
	RK_STATUS,
	RK_INFO,
	RK_SUBTAKE, /* a take for a subscription */
	RK_PEERS,
	RK_WSUSPEND, /* keep a cut stream's partial for a resume */
	RK_WDROP,    /* drop the idle partial of a client's id (a resend) */
	RK_PARTIALS,
	RK_METRICS, /* the text of /metrics (metrics.c) */
};

struct req_job {
	struct job job;
	struct client *c;
	struct agent *ag;
	enum req_kind kind;
	enum req_kind then; /* RK_GET: what comes next */
	uint32_t reqid;
	int rc;
	const struct req_cmd *cmd; /* its row, for a deferred ACL cell */

	struct ferry_msg msg;
	uint8_t *buf; /* payload in or out */
	size_t len;
	struct store_writer *writer;
	struct store_reader *reader;	/* owned by the job */
	struct store_reader *borrow;	/* RK_READ: the client's */
	struct seal_dec *unseal;	/* reads reader; owned by the job */
	struct seal_dec *unseal_borrow; /* RK_READ: the client's */
	struct seal_enc *seal; /* RK_WWRITE, RK_WCOMMIT: the client's, held
				  while the job runs (freed with it) */
	uint64_t seal_skip;    /* ... resumed: sealed bytes still to compare
				  with what reader reads, not to write */

	char queue[FERRY_QUEUE_MAX + 1];
	int64_t lease_ms; /* take; NACK: renew the lease instead (0: no) */
	int peek;
	int taken; /* RK_TAKE: leased by store_take_async; the pool thread
		      only opens its payload (take_readable) */
	struct store_take_req take; /* RK_TAKE without a pool thread */
	int dead_reason;	    /* NACK: to dead with this reason (0: no) */
	char text[STORE_DEAD_TEXT_MAX + 1]; /* NACK to dead: kept */
	uint8_t id[FERRY_ID_LEN];
	uint64_t token, offset;
	uint64_t gen;	 /* ag->notify_gen when submitted */
	int scoped;	 /* SEND: the id is a client's choice (scope.c) */
	int retried;	 /* RK_PUT: put again after RK_WDROP */
	size_t piped;	 /* RK_PUT of a whole SEND: its payload bytes,
			    counted in c->puts and c->put_bytes until
			    answered; 0: not counted */
	const char *why; /* a refusal's reason, when rc alone does not say */
	struct store_partial *plist; /* RK_PARTIALS */
	uint32_t limit;
	struct store_queue_limits lim;

	struct store_msg_info info;
	struct store_status *status; /* RK_STATUS, a RK_GET not found: 6 KiB,
					made by the job (not in every one) */
	struct store_stats stats;
	struct store_queue_stats qs;
	struct store_msg_info *list;
	struct store_queue_stats *qlist;
	size_t nlist, caplist;
	uint64_t count;
	struct store_put_req put;  /* RK_PUT, run by the store's writer */
	struct store_route *route; /* SEND to a group: its members */
	struct peer_status *peers; /* RK_PEERS */
	uint64_t *peer_msgs, *peer_bytes;
	size_t npeers;
	char node[FERRY_NODE_MAX + 1]; /* RK_METRICS: a copy of the name */
	struct metrics_text metrics;   /* RK_METRICS: the answer */
};

/* requests_job.c: the job's life, and what every answer shares */
struct req_job *rj_new(struct client *c, enum req_kind kind, uint32_t reqid);
/* A job of kind for c's request c->reqid; NULL when out of memory, and
 * the request was failed so (fail_nomem). */
struct req_job *rj_request(struct client *c, enum req_kind kind);
void rj_free(struct req_job *r);
/* Run r for c; c is BUSY until done (unless it is a subscription take). */
void rj_submit(struct client *c, struct req_job *r);
/* Abandon a streamed send whose client is gone or refused. */
void orphan_abort(struct agent *ag, struct store_writer *w);
/* A stream whose client went away: suspended if the client chose its id
 * (it can resume with the same SEND), else abandoned. */
void orphan_stream(struct agent *ag, struct store_writer *w, int scoped);
/* Give back a message taken for a client that can no longer have it. */
void orphan_give_back(struct agent *ag, const struct store_msg_info *info,
		      uint64_t token);
/* Answer ENOMEM and end the request; returns -1. */
int fail_nomem(struct client *c, uint32_t reqid);
/* arr with room for one more element of elem bytes (r->nlist used),
 * or NULL when out of memory (arr is then still valid). */
void *list_grow(struct req_job *r, void *arr, size_t elem);
int collect_info(const struct store_msg_info *info, void *arg);
/* i's header fields; me: this node's name (for its origin). */
void put_info(struct ferry_fbuf *b, const struct store_msg_info *i,
	      const char *me);
const char *err_text(struct client *c, int rc, char *buf, size_t cap);
void answer_error(struct client *c, uint32_t reqid, int rc, const char *what);

/* requests_msg.c: pool thread */
int open_payload(struct store *st, struct req_job *r);
void take_readable(struct store *st, struct req_job *r);
/* A SEND of a client's id whose partial is left from a cut stream. */
int stream_resume(struct store *st, struct req_job *r);
/* Compare the r->offset bytes of r->buf the partial holds already. */
int stream_skip(struct req_job *r);
/* A whole SEND of a client's id: drop its own idle partial. */
int partial_drop_own(struct store *st, struct req_job *r);
/* requests_msg.c: loop thread, from job_done() */
void done_put(struct client *c, struct req_job *r);
void done_stream_in(struct client *c, struct req_job *r);
void done_take(struct client *c, struct req_job *r);
void done_subtake(struct client *c, struct req_job *r);
void done_get(struct client *c, struct req_job *r);
void done_ack(struct client *c, struct req_job *r);
void done_read(struct client *c, struct req_job *r);
void done_wdrop(struct client *c, struct req_job *r);
/* The streamed SEND is over: forget what a resume kept. */
void stream_in_end(struct client *c);
/* requests_msg.c: handlers (req_run_fn) */
void req_send(struct client *c, const struct req_cmd *cmd,
	      const struct ferry_frame *f, const struct ferry_fields *fl);
void req_recv(struct client *c, const struct req_cmd *cmd,
	      const struct ferry_frame *f, const struct ferry_fields *fl);
void req_by_id(struct client *c, const struct req_cmd *cmd,
	       const struct ferry_frame *f, const struct ferry_fields *fl);
void req_browse(struct client *c, const struct req_cmd *cmd,
		const struct ferry_frame *f, const struct ferry_fields *fl);
void req_subscribe(struct client *c, const struct req_cmd *cmd,
		   const struct ferry_frame *f, const struct ferry_fields *fl);
void req_credit(struct client *c, const struct req_cmd *cmd,
		const struct ferry_frame *f, const struct ferry_fields *fl);
void req_unsubscribe(struct client *c, const struct req_cmd *cmd,
		     const struct ferry_frame *f,
		     const struct ferry_fields *fl);

/* requests_admin.c: pool thread */
int collect_queue(const struct store_queue_stats *q, void *arg);
int collect_partial(const struct store_partial *p, void *arg);
int peers_gather(struct store *st, struct req_job *r);
/* requests_admin.c: loop thread, from job_done() */
void done_list(struct client *c, struct req_job *r);
void done_admin(struct client *c, struct req_job *r);
void done_peers(struct client *c, struct req_job *r);
void done_partials(struct client *c, struct req_job *r);
void done_metrics(struct client *c, struct req_job *r);
/* requests_admin.c: handlers (req_run_fn) */
void req_qcreate(struct client *c, const struct req_cmd *cmd,
		 const struct ferry_frame *f, const struct ferry_fields *fl);
void req_qlist(struct client *c, const struct req_cmd *cmd,
	       const struct ferry_frame *f, const struct ferry_fields *fl);
void req_qstats(struct client *c, const struct req_cmd *cmd,
		const struct ferry_frame *f, const struct ferry_fields *fl);
void req_qpurge(struct client *c, const struct req_cmd *cmd,
		const struct ferry_frame *f, const struct ferry_fields *fl);
void req_status(struct client *c, const struct req_cmd *cmd,
		const struct ferry_frame *f, const struct ferry_fields *fl);
void req_info(struct client *c, const struct req_cmd *cmd,
	      const struct ferry_frame *f, const struct ferry_fields *fl);
void req_peers(struct client *c, const struct req_cmd *cmd,
	       const struct ferry_frame *f, const struct ferry_fields *fl);
void req_partials(struct client *c, const struct req_cmd *cmd,
		  const struct ferry_frame *f, const struct ferry_fields *fl);
void req_metrics(struct client *c, const struct req_cmd *cmd,
		 const struct ferry_frame *f, const struct ferry_fields *fl);

/* requests.c: the ACL cells judged once the store answered */
/* Does any POLICY_OP_* bit of ops allow target?  Answers nothing. */
int req_allowed_any(struct client *c, unsigned ops, const char *target);
/* May c do cmd (a REQ_ON_MESSAGE row) on a message in queue?  Else
 * refuse it (logged, answered EPERM) and end the request: 0.  A NULL
 * cmd is refused. */
int req_allowed_message(struct client *c, const struct req_cmd *cmd,
			const char *queue);

#endif
