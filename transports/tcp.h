/*
 * tcp.h - the TCP transport (ferryd's TCP side): listening, dialing peers, and
 * the hop sessions that forward messages (docs/session.md).
 *
 * Threads, not the event loop: each session runs on two threads of its
 * own (a reader that owns the socket's receive side and the receiving
 * half of the protocol, a writer that owns the send side and the sending
 * half), each configured peer has a dialer thread, and one thread accepts
 * connections.  All of them block only on their own socket, on the store
 * (which is thread-safe), or on the link's condition variables, so the
 * agent's event loop never waits for a network peer.  The agent talks to
 * the link through its transport table (tcp_transport, registry.c):
 * kick (a message was queued for a peer) and status (`ferry peers`).
 *
 * Lock order: link.mu before session.mu; neither is held across a store
 * call or a socket call.
 */
#ifndef FERRY_TCP_H
#define FERRY_TCP_H

#include <pthread.h>
#include <stdint.h>

#include "lib/ferry_msg.h"
#include "lib/util.h"
#include "policy/policy.h"
#include "store/store.h"
#include "transports/identity.h"
#include "transports/transport.h"

#define LINK_PREAMBLE	    "ferry-tcp/1\n" /* also the Noise prologue */
#define LINK_PREAMBLE_LEN   12
#define LINK_HANDSHAKE_MS   10000 /* whole handshake, either side */
#define LINK_MSG1_MS	    2000  /* connect to the caller's message 1 */
#define LINK_HANDSHAKES_MAX 16	  /* inbound connections before HELLO */
#define LINK_HS_EVICT_MS    250	  /* none is dropped younger than this */
#define LINK_BACKLOG	    256	  /* listen(2): waiting while slots are full */
#define LINK_WINDOW	    1024  /* messages sent, custody pending */
#define LINK_SENDING_MAX    4	  /* payloads interleaved at once */
#define LINK_INLINE_MAX	    (256u * 1024u) /* received in memory below */
#define LINK_RX_PENDING_MAX (16u << 20)	   /* bytes of async puts in flight */
#define LINK_RX_MAX	    8		   /* messages being received at once */
#define LINK_CUT_MAX	    4 /* cut-through offers waiting for the sender */
#define LINK_CUT_MIN	    (1u << 20) /* least payload sent cut-through */
#define LINK_RESUME_EVERY   (8u << 20) /* RESUME hint every this many bytes */
#define LINK_BUSY_RETRY_MS  2000       /* a MSG refused "busy": offered again */
/* A peer with no room (REFUSE "full", tcp_full.c): a run of refusals ends
 * this long after its retry if no refusal came, and its probe waits this
 * long for an answer before another message is let through. */
#define LINK_FULL_FORGET_MS 60000
#define LINK_FULL_PROBE_MS  10000
#define LINK_SEEK_STEP	    (4u << 20) /* resume prefix hashed per record */
#define LINK_SYNC_WAIT_MS   2000  /* for the peer's first record after HELLO */
#define LINK_WRITE_STALL_MS 60000 /* a write with no keep-alive gives up */
#define LINK_SNDBUF	    (256 * 1024)  /* SO_SNDBUF of a session socket */
#define LINK_RCVBUF	    (1024 * 1024) /* SO_RCVBUF: 1 MiB / RTT at most */
#define LINK_ASYNC_MAX	    8192 /* store operations a session queues */
#define LINK_RECENT_MAX	    4094 /* custody ids replayed: one frame */
#define LINK_REKEY_BYTES    (1ull << 30)
#define LINK_REKEY_RECORDS  (1ull << 20)
#define LINK_REKEY_MS	    (10 * 60 * 1000)
#define LINK_TTL_MAX_MS	    (100ULL * 366 * 24 * 3600 * 1000) /* longer: never */
#define LINK_SESSION_MAX_MS (24LL * 3600 * 1000) /* then a new handshake */

struct link;
struct session;

struct link_opts {
	struct store *store;
	const struct identity *id; /* must outlive the link */
	const struct policy *pol;  /* copied: peers, listen, node name */
	/* Called from any link thread when a message entered a local queue
	 * (to wake local receivers); may be NULL. */
	void (*on_local)(const char *queue, void *arg);
	/* Called from any link thread when a message for node was stored
	 * here (a receipt on its way back): the engine tells the
	 * transports; may be NULL. */
	void (*on_kick)(const char *node, unsigned prio, void *arg);
	void *arg;
};

/* Bind the listen addresses and start the threads.  Errors: the address
 * cannot be bound (the reason is logged), FERRY_ENOMEM. */
int link_start(const struct link_opts *o, struct link **out);
/* Something was queued for node (priority prio): dial or wake its
 * session.  Any thread; cheap; unknown nodes are ignored. */
void link_kick(struct link *lk, const char *node, unsigned prio);
/* Cut-through: send t's payload to node in the session up now, while it
 * is written (tcp_send.c); 1 if taken (with a reference of its own). */
int link_cut(struct link *lk, const char *node, struct store_tap *t);
/* What the link knows of peer p->name, into p (`ferry peers`). */
void link_status(struct link *lk, struct peer_status *p);
/* Messages received from and handed to every peer, since the counters
 * began (they are kept in the store across restarts); any thread. */
void link_counts(struct link *lk, uint64_t *msgs_in, uint64_t *msgs_out);
/* Close every session (CLOSE shutdown), join every thread, free. */
void link_stop(struct link *lk);

#endif
