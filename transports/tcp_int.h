/*
 * tcp_int.h - what the TCP transport's files share: tcp_link.c (peers,
 * dialing, listening, handshakes), tcp_session.c (record I/O and one
 * session's life), tcp_send.c (its sending half) and tcp_recv.c (its
 * receiving half).
 */
#ifndef FERRY_TCP_INT_H
#define FERRY_TCP_INT_H

#include <pthread.h>
#include <sys/socket.h>
#include <stdint.h>

#include "transports/tcp.h"
#include "transports/hop.h"
#include "transports/noise.h"

/* One [peer NAME] section and its live state; under link.mu. */
struct lpeer {
	struct policy_peer cfg;
	uint8_t node_id[IDENTITY_NODE_ID_LEN];
	char fpr[IDENTITY_FPR_LEN + 1];
	struct link *dialer_link;
	pthread_t dialer;
	int has_dialer;
	struct session *cur; /* the session in use, or NULL */
	int wanted;	     /* messages may wait for it */
	int dialing;
	int calling;	    /* this dial is a call_every call (for the log) */
	int64_t backoff_ms; /* 0: not backing off */
	int64_t next_retry_ms;
	int64_t window_ms; /* outside its windows: the next opens then;
			      0 inside (or no window =) */
	int64_t last_seen_ms;
	/* last_seen_ms as kept from the last run: nothing seen since start
	 * while they are equal (call_every calls once at start) */
	int64_t start_seen_ms;
	uint64_t bytes_in, bytes_out, msgs_in, msgs_out;
	char last_error[160];
	/* The last ids this node took custody of from the peer: replayed
	 * in CUSTODY at the start of each session, since a receipt lost
	 * with a link would make the peer send the message again. */
	/* A ring, grown on demand up to LINK_RECENT_MAX (NULL until the
	 * first: most of a base's 1,000 peers need a few slots). */
	uint8_t (*recent)[FERRY_ID_LEN];
	size_t nrecent, recent_head, recent_cap;
	/* What the peer has no room for (its REFUSE "queue full", "store
	 * full", "disk full"): those messages wait here (tcp_full.c). */
	struct link_full {
		struct peer_full f;
		int64_t backoff_ms; /* retry_min_ms, doubling to retry_max_ms */
		int64_t probe_ms;   /* wall clock: one let through, 0 none */
		uint8_t probe_id[FERRY_ID_LEN]; /* that one */
		int told; /* the writer saw retry_ms pass */
	} full[PEER_FULL_MAX];
	size_t nfull; /* written under link.mu; read as a hint without */
};

/*
 * An inbound connection before its HELLO is in holds one of
 * LINK_HANDSHAKES_MAX slots (oldest first).  It must deliver message 1
 * within LINK_MSG1_MS of the accept and its HELLO within
 * LINK_HANDSHAKE_MS; the acceptor cuts it at due_ms otherwise, and when
 * every slot is taken it drops the oldest (at least LINK_HS_EVICT_MS
 * old) for the newcomer.  Under link.mu.
 */
struct hs_slot {
	struct session *s;
	int64_t since_ms; /* monotonic: accepted */
	int64_t due_ms;	  /* monotonic: message 1, then HELLO, by then */
};

/* Why the link cut a connection before its HELLO (session.hs_cut). */
enum {
	LINK_CUT_NONE,
	LINK_CUT_LATE,	  /* message 1 or HELLO not in by due_ms */
	LINK_CUT_EVICTED, /* the oldest when every slot was taken */
};

struct hs_source; /* per-source token bucket (link.c) */

struct link {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* dialers and link_stop wait here */
	struct store *st;
	const struct identity *id;
	char node[FERRY_NODE_MAX + 1];
	uint8_t node_id[IDENTITY_NODE_ID_LEN];
	uint64_t max_message_bytes;
	uint64_t rekey_bytes; /* LINK_REKEY_BYTES; tests may lower it */
	struct lpeer *peers;
	size_t npeers;
	int lfd[POLICY_ENDPOINTS_MAX];
	size_t nlfd;
	int wake[2]; /* wakes the acceptor at stop */
	pthread_t acceptor;
	int has_acceptor;
	int stopping;
	unsigned detached; /* inbound session threads alive */
	struct hs_slot hs[LINK_HANDSHAKES_MAX];
	size_t nhs;
	struct hs_source *sources; /* LINK_HS_SOURCES buckets */
	int acceptor_paced;	   /* waits for a slot: wake it */
	struct hs_note {
		int64_t last_ms;
		unsigned more;
	} notes[8]; /* rate-limited handshake log lines, by kind */
	struct session *sessions;
	/* ids some session is receiving into a store writer right now */
	uint8_t rx_busy[64][FERRY_ID_LEN];
	size_t nrx_busy;
	void (*on_local)(const char *queue, void *arg);
	void (*on_kick)(const char *node, unsigned prio, void *arg);
	void *arg;
};

struct session {
	struct link *lk;
	struct lpeer *peer; /* set by the handshake */
	struct session *next_all;
	int fd;
	int initiator;
	int lower_started; /* started by the node with the lower id */
	char addr[80];
	uint8_t src[9]; /* inbound: the source's bucket (IPv6: its /64) */
	int hs_slot;	/* inbound: holds a slot until its HELLO is in */
	int hs_cut;	/* LINK_CUT_*: the link cut it (under link.mu) */
	int hs_m1;	/* inbound: message 1 arrived */
	int hs_quiet;	/* why it did not start is logged already */
	struct noise_cipher *tx, *rx;
	int64_t up_ms;

	pthread_mutex_t mu;
	pthread_cond_t cv; /* the writer waits here; so do async waits */
	int dead;
	char why[200];
	int want_close;
	uint16_t close_code;
	char close_text[HOP_CLOSE_TEXT_MAX + 1];
	int kick;
	int kick_prio;
	int peer_synced; /* the peer's first record after HELLO is in */
	/* receiver side -> writer: frames to send */
	uint8_t *cust; /* ids for CUSTODY */
	size_t ncust, cust_cap;
	struct hop_refuse refuse[32];
	size_t nrefuse;
	struct hop_resume resume[32];
	size_t nresume;
	/* sender side: REFUSEs the peer sent, for the writer to act on */
	struct hop_refuse peer_refuse[64];
	size_t npeer_refuse;
	struct hop_resume peer_go[64]; /* RESUMEs the peer sent */
	size_t npeer_go;
	/* sender side: ids this session handles, until custody */
	struct idset *held;
	size_t window;	     /* ids sent whole, custody pending */
	unsigned async;	     /* store callbacks not yet run */
	uint64_t rx_pending; /* bytes of async puts in flight */
	/* Cut-through offers (link_cut) for the writer to start; each
	 * holds a reference. */
	struct store_tap *cut[LINK_CUT_MAX];
	size_t ncut;
	int cut_news; /* a tap moved (tcp_send.c, cut_wake) */

	/* negotiated in HELLO */
	size_t plain_max;
	uint32_t keepalive_ms;
	uint32_t peer_features; /* HOP_FEAT_* its HELLO offered */
	/* The reader's zstd context for CHUNKZ (made on the first one,
	 * given back with the read buffers when quiet, freed with the
	 * receiver). */
	struct hop_zstd *zrx;
	int64_t last_rx_mono, last_tx_mono;
	uint64_t rate; /* bytes/s, 0 unlimited */
};

/* Ids a session holds (being sent, or custody pending): chained hash. */
struct idnode {
	uint8_t id[FERRY_ID_LEN];
	int whole;   /* sent whole (END): counts in the window */
	int custody; /* the peer's receipt is being committed */
	int probe;   /* offered again while the peer was full for it: its
			custody says there is room (link_full_clear) */
	struct idnode *next;
};

/* Buckets: a power of two, from IDSET_BUCKETS_MIN, four times more when
 * the chains pass two ids on average, up to IDSET_BUCKETS_MAX.  A base
 * with 1,000 mostly idle sessions keeps 1,000 small tables, not 1,000
 * tables of 32 KiB. */
#define IDSET_BUCKETS_MIN 64u
#define IDSET_BUCKETS_MAX 65536u

struct idset {
	struct idnode **b;
	size_t nb; /* buckets */
	size_t n;
};

/* An empty set; NULL when out of memory. */
struct idset *idset_new(void);

/* Buffered reading of length-prefixed records; reader thread only. */
struct rdbuf {
	uint8_t *p;
	size_t len, off, cap;
	uint8_t *plain; /* the decrypted record (HOP_PLAIN_MAX) */
	int dirty;	/* p or plain have pages in use */
};

/* Big per-session buffers (records in and out, ~384 KiB a session) sit
 * in pages of their own, given back to the kernel when the session goes
 * quiet (pagebuf_idle) and faulted in again, zeroed, at the next use.  A
 * base whose 1,000 sessions each carried one large message must not keep
 * 1,000 x 384 KiB resident (docs/agent.md "Memory").  NULL when out of
 * memory; pagebuf_free(NULL, n) does nothing. */
void *pagebuf_new(size_t n);
void pagebuf_idle(void *p, size_t n);
void pagebuf_free(void *p, size_t n);

/* Writer side: encrypt and send one record (rate limited). */
struct wrstate {
	uint8_t *ct; /* 2 + HOP_RECORD_MAX */
	uint64_t bytes_since_rekey, records_since_rekey;
	int64_t rekey_mono;
	int64_t start_mono;
	double tokens;
	int64_t tokens_mono;
};

/* tcp_link.c */
/* Apply the simultaneous-dial rule: 0 if s is now the peer's session,
 * FERRY_EBUSY if s lost and must close. */
int link_attach(struct link *lk, struct session *s);
void link_detach(struct link *lk, struct session *s);
/* The CLOCK_REALTIME deadline ms from now, for pthread_cond_timedwait. */
void link_abstime(struct timespec *ts, int64_t ms);
/* Take s off the list link_stop walks (before freeing it). */
void link_untrack(struct link *lk, struct session *s);
/* Inbound: the peer's HELLO is in, release the handshake slot.  0, or
 * FERRY_ECLOSED if the link cut the connection meanwhile. */
int link_hs_done(struct session *s);
/* Inbound: the HELLO did not come (rc from reading it).  Logs why, rate
 * limited, and sets s->hs_quiet, when the cause is a cut or a timeout;
 * otherwise leaves the logging to the caller. */
void link_hs_failed(struct session *s, int rc);
/* Claim id for receiving into a store writer; waits up to 5 s while
 * another session holds it.  0 or FERRY_EBUSY. */
int link_rx_claim(struct link *lk, const uint8_t *id);
void link_rx_release(struct link *lk, const uint8_t *id);
/* Keep p's counters in the store (store_peer_stats_put): when a session
 * ends and every STORE_PEER_STATS_EVERY_MS while one runs.  Session
 * threads only (a store commit). */
void link_stats_save(struct link *lk, struct lpeer *p);

/* tcp_full.c: what p has no room for (docs/session.md, "Refusals").
 * Each takes lk->mu; call them holding no session's mu. */
/* p refused m with reason (HOP_REFUSE_*_FULL): hold back what it
 * concerns, longer at each refusal of a message offered again. */
void link_full_note(struct link *lk, struct lpeer *p, const struct ferry_msg *m,
		    uint8_t reason);
/* Is m held back for p now (before its retry, or while another is the
 * probe)?  When not, m becomes the probe of the runs it belongs to. */
int link_full_holds(struct link *lk, struct lpeer *p,
		    const struct ferry_msg *m);
/* Does a run of refusals concern m (held back or not)?  Then its custody
 * ends that run (link_full_clear). */
int link_full_concerns(struct link *lk, struct lpeer *p,
		       const struct ferry_msg *m);
/* p took custody of m: what concerned m has room again.  Returns how
 * many runs ended (then scan again: what they held may go). */
int link_full_clear(struct link *lk, struct lpeer *p,
		    const struct ferry_msg *m);
/* 1 once for each run whose retry time has come: the writer scans from
 * the top again, so that those messages go at once. */
int link_full_due(struct link *lk, struct lpeer *p);
/* The runs of p, as `ferry why` shows them, into o (under lk->mu). */
void link_full_status(const struct lpeer *p, struct peer_status *o);

/* tcp_link.c: shared with tcp_accept.c */
int key_eq(const uint8_t *a, const uint8_t *b);
/* Handshake messages: u16be length and body, with a deadline. */
int write_hs(int fd, const uint8_t *msg, size_t len, int64_t deadline);
int read_hs(int fd, uint8_t *msg, size_t want, int64_t deadline);
const char *hs_error(int rc);
void sockaddr_text(const struct sockaddr *sa, char *out, size_t cap);
/* Socket options of a session (buffers, no delay, keep-alive). */
void sock_tune(int fd);
/* Put s on the list link_stop walks. */
void track(struct link *lk, struct session *s);

/* tcp_accept.c */
/* The per-source token buckets of a link (free with free()). */
struct hs_source *hs_sources_new(void);
void *acceptor_main(void *arg);
int listen_on(struct link *lk, const struct policy_endpoint *ep);
/* Release s's handshake slot, if it holds one (under link.mu). */
void hs_slot_drop(struct link *lk, struct session *s);

/* tcp_session.c */
struct session *session_new(struct link *lk, int fd, int initiator,
			    const char *addr);
/* Exchange HELLOs, attach to the peer, run both halves until the session
 * ends, clean up and free s.  Called on the thread that did the
 * handshake; returns when everything of s is gone. */
void session_run(struct session *s);
/* Ask s to end: CLOSE with code, then shut the socket.  Any thread. */
void session_kill(struct session *s, uint16_t code, const char *text);
/* Free a session that never ran (handshake failed). */
void session_free(struct session *s);
/* Read/write exactly n bytes with a deadline (monotonic ms, -1: none).
 * 0, FERRY_ETIMEDOUT, FERRY_ECLOSED (EOF), FERRY_EIO. */
int session_read_full(int fd, void *buf, size_t n, int64_t deadline);
int session_write_full(int fd, const void *buf, size_t n, int64_t deadline);

/* tcp_session.c: shared by both halves */
struct idnode *idset_find(const struct idset *s, const uint8_t *id);
int idset_has(const struct idset *s, const uint8_t *id);
int idset_add(struct idset *s, const uint8_t *id);
int idset_del(struct idset *s, const uint8_t *id);
void idset_free(struct idset *s);

/* tcp_ids.c: p's ring of custody ids (under the link's mu).  recent_add
 * keeps the last LINK_RECENT_MAX; recent_get(p, i) is the i-th oldest
 * (i < p->nrecent), NULL past the end. */
void recent_add(struct lpeer *p, const uint8_t *id);
const uint8_t *recent_get(const struct lpeer *p, size_t i);
/* Drop id from s's held set (under s->mu). */
void held_forget(struct session *s, const uint8_t *id);
/* Wait for ev on fd until deadline (monotonic ms, -1: none). */
int wait_fd(int fd, short ev, int64_t deadline);
/* The next record, decrypted into plain (HOP_PLAIN_MAX). */
int read_record(struct session *s, struct rdbuf *b, uint8_t *plain,
		size_t *len);
/* Encrypt and send one record, rate limited, rekeying when due. */
int write_record(struct session *s, struct wrstate *w, const uint8_t *plain,
		 size_t len);
/* The session is over: say why (the first reason stays), wake both
 * threads and shut the socket. */
void mark_dead(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* tcp_send.c */
/* The writer thread (arg: the session). */
void *writer_main(void *arg);
/* This node's HELLO into b. */
void hello_put(struct session *s, struct hop_rbuf *b);

/* tcp_recv.c */
struct receiver;
struct receiver *receiver_new(struct session *s);
/* Keep what is durable of every message being received, free rv. */
void receiver_free(struct receiver *rv);
/* One decrypted record; 1 when the peer closed the session. */
int on_record(struct receiver *rv, const uint8_t *rec, size_t len, int *rekey);

#endif
