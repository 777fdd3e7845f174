/*
 * fleet_sim.h - many simulated field nodes in one thread (bench_fleet):
 * each has its own identity and its own hop session with one real ferryd
 * (the base) over loopback TCP, spoken with the project's own Noise IK
 * (transports/noise.c), hop frame codec (transports/hop.c) and identity
 * code (transports/identity.c), as docs/session.md describes the wire.
 *
 * One epoll loop drives every session: non-blocking sockets, no thread per
 * node, so a thousand nodes cost one thread here.  Each node dials the base
 * at its own moment (spread over a few seconds), runs the handshake and
 * HELLO, sends a small message every interval and one big message, takes
 * the messages the base sends it (answering CUSTODY), answers keep-alives,
 * and dials again after a cut, offering again whatever had no CUSTODY yet
 * (the base's store is the judge of "nothing twice").
 *
 * Not ferryd's session code: that one runs two threads per session on top
 * of a store (transports/tcp_session.c).  The simulator keeps no store:
 * what it sends lives in a pool of random bytes, and what it receives is
 * checked (length, BLAKE2b-256) and counted, then dropped.
 *
 * Threads: fleet_run() runs on one thread of the caller's; fleet_counts()
 * and fleet_stop() may be called from any other, and so may
 * fleet_node_name() and fleet_node_card() (they read only what
 * fleet_new() set); the rest before fleet_run() starts or after it
 * returned.
 */
#ifndef FERRY_BENCH_FLEET_SIM_H
#define FERRY_BENCH_FLEET_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_err.h"
#include "lib/ferry_msg.h"

#define FLEET_NODES_MAX 1024 /* policy.h: POLICY_PEERS_MAX [peer] sections */
#define FLEET_NAME_MAX	15   /* "node0001" */

struct fleet_opts {
	unsigned n;		/* nodes, 1..FLEET_NODES_MAX */
	const char *base_name;	/* the base's node name */
	const uint8_t *base_kx; /* its X25519 public key (32 bytes) */
	int port;		/* it listens on 127.0.0.1:port */
	const char *queue;	/* the base's queue the nodes send to */
	double spread_s;	/* first dials spread over this long */
	double interval_s;	/* a small message this often */
	double send_s;		/* no new message after this (from start) */
	size_t small_bytes;	/* each small message */
	size_t big_bytes;	/* the one big message of each node */
	uint32_t keepalive_ms;	/* offered in HELLO */
	int one_source;		/* 1: every node dials from 127.0.0.1 */
	const uint8_t *pool;	/* payload bytes, pool_len of them */
	size_t pool_len;	/* at least big_bytes + small_bytes */
};

/* What the loop has done so far (fleet_counts). */
struct fleet_counts {
	unsigned up;	     /* sessions up now */
	unsigned ever_up;    /* nodes whose session came up at least once */
	unsigned drops;	     /* sessions that ended before fleet_stop */
	unsigned dial_fails; /* dials or handshakes that failed */
	uint64_t made;	     /* messages made (small and big) */
	uint64_t custody;    /* of them, with the base's CUSTODY (or "have") */
	uint64_t resent;     /* MSGs offered again after a cut or "busy" */
	uint64_t down;	     /* distinct messages from the base */
	uint64_t down_dup;   /* the same one again (after a lost CUSTODY) */
	uint64_t failures;   /* protocol errors, refusals, bad payloads */
	double all_up_s;     /* when every node was up at once, or 0 */
	int running;	     /* the loop is still running */
	char first_failure[160];
};

/* One message a node sent: its id, size, and the monotonic ns of its
 * first MSG and of the CUSTODY (0: none yet). */
struct fleet_sent {
	uint8_t id[FERRY_ID_LEN];
	uint64_t len;
	int64_t sent_ns, custody_ns;
	unsigned offers; /* MSGs sent for it: 1 unless it was offered again */
};

struct fleet;

/*
 * A new fleet of o->n nodes named node0001.., each with an identity drawn
 * from random seeds (identity_from_seed); nothing is connected yet.  o and
 * its buffers must outlive the fleet.  Errors: FERRY_EINVAL, FERRY_ENOMEM,
 * FERRY_EIO (libsodium).
 */
FERRY_MUST_CHECK int fleet_new(const struct fleet_opts *o, struct fleet **out);
/* Close every socket, wipe every key, free; NULL is a no-op. */
void fleet_free(struct fleet *f);

/* Node i's name and its card (IDENTITY_CARD_MAX bytes). */
const char *fleet_node_name(const struct fleet *f, unsigned i);
FERRY_MUST_CHECK int fleet_node_card(const struct fleet *f, unsigned i,
				     char *out, size_t cap);

/*
 * Run the loop until fleet_stop(): dial, hand-shake, send, receive.  On
 * stop every session gets a CLOSE (up to 2 s to flush) and its socket is
 * closed.  0, or FERRY_EIO if epoll itself fails (loop errors about one
 * session count in failures and end that session only).
 */
FERRY_MUST_CHECK int fleet_run(struct fleet *f);
/* Ask the loop to end; any thread. */
void fleet_stop(struct fleet *f);
/* A snapshot of the counters (taken every 10 ms by the loop). */
void fleet_counts(struct fleet *f, struct fleet_counts *out);

/*
 * After fleet_run returned: every message made, with its timings, through
 * fn (return non-zero to stop; that value is returned).  big is 1 for
 * each node's big message.
 */
typedef int fleet_sent_fn(const struct fleet_sent *m, int big, void *arg);
int fleet_each_sent(const struct fleet *f, fleet_sent_fn *fn, void *arg);

/*
 * After fleet_run returned: the messages node i received from the base,
 * into ids (cap of them; returns how many there were), and for each the
 * delay from the send time the base's sender put in its first 8 bytes
 * (CLOCK_MONOTONIC ns; 0 when the payload is shorter) to its END here,
 * into delay_ns (may be NULL).
 */
size_t fleet_node_down(const struct fleet *f, unsigned i,
		       uint8_t (*ids)[FERRY_ID_LEN], int64_t *delay_ns,
		       size_t cap);

/* Node i's dial-to-HELLO time of its first session, ns (0: never up). */
int64_t fleet_node_up_ns(const struct fleet *f, unsigned i);

#endif
