/*
 * link_int.h - what link.c (peers, dialing, listening, handshakes) and
 * session.c (one hop session after its handshake) share.
 */
#ifndef FERRY_LINK_INT_H
#define FERRY_LINK_INT_H

#include <pthread.h>
#include <stdint.h>

#include "agent/link.h"
#include "transports/hop.h"
#include "transports/noise.h"

/* One [peer NAME] section and its live state; under link.mu. */
struct lpeer {
	uint64_t kicks; /* messages queued for it (link_kick) */
	struct policy_peer cfg;
	uint8_t node_id[IDENTITY_NODE_ID_LEN];
	char fpr[IDENTITY_FPR_LEN + 1];
	struct link *dialer_link;
	pthread_t dialer;
	int has_dialer;
	struct session *cur; /* the session in use, or NULL */
	int wanted;	     /* messages may wait for it */
	int dialing;
	int64_t backoff_ms; /* 0: not backing off */
	int64_t next_retry_ms;
	int64_t last_seen_ms;
	uint64_t bytes_in, bytes_out, msgs_in, msgs_out;
	char last_error[160];
	/* The last ids this node took custody of from the peer: replayed
	 * in CUSTODY at the start of each session, since a receipt lost
	 * with a link would make the peer send the message again. */
	uint8_t (*recent)[FERRY_ID_LEN]; /* LINK_RECENT_MAX */
	size_t nrecent, recent_head;
};

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
	unsigned detached;   /* inbound session threads alive */
	unsigned handshakes; /* inbound handshakes running */
	struct session *sessions;
	/* ids some session is receiving into a store writer right now */
	uint8_t rx_busy[64][FERRY_ID_LEN];
	size_t nrx_busy;
	void (*on_local)(const char *queue, void *arg);
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

	/* negotiated in HELLO */
	size_t plain_max;
	uint32_t keepalive_ms;
	int64_t last_rx_mono, last_tx_mono;
	uint64_t rate; /* bytes/s, 0 unlimited */
};

/* link.c */
/* Apply the simultaneous-dial rule: 0 if s is now the peer's session,
 * FERRY_EBUSY if s lost and must close. */
int link_attach(struct link *lk, struct session *s);
void link_detach(struct link *lk, struct session *s);
/* The CLOCK_REALTIME deadline ms from now, for pthread_cond_timedwait. */
void link_abstime(struct timespec *ts, int64_t ms);
/* Take s off the list link_stop walks (before freeing it). */
void link_untrack(struct link *lk, struct session *s);
/* Claim id for receiving into a store writer; waits up to 5 s while
 * another session holds it.  0 or FERRY_EBUSY. */
int link_rx_claim(struct link *lk, const uint8_t *id);
void link_rx_release(struct link *lk, const uint8_t *id);

/* session.c */
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

#endif
