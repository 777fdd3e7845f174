/*
 * loopback.h - a toy transport whose wire is in process: the far end of
 * each wire is a peer object in this process that encodes hop frames
 * (transports/hop.h) and hands them, record by record, to this node's
 * side, which gives them to the frame intake (agent/intake.h) as TCP and
 * bundle import do.
 *
 * It is the smallest complete example of a transport (docs/transports.md,
 * "Adding a transport") and the wire the intake's unit test drives
 * (tests/unit/test_intake.c).  It is NOT in ferryd's registry
 * (transports/registry.c): ferryd never runs it, and it is built for the
 * tests only.
 *
 * Each wire is one of two kinds, like the two transports ferryd has:
 *  - LOOPBACK_LIVE, like a TCP session: the peer's HELLO measures its
 *    clock (intake_clock_seen), TTLs travel as time left, END's hash is
 *    checked, small payloads are put one by one (intake_put_async), and a
 *    forged source ends the wire;
 *  - LOOPBACK_CARRIER, like a bundle: sealed at a time of the peer's
 *    clock, refused when that is in the future beyond the clock-skew
 *    allowance (intake_created_ok), its time on the medium charged to
 *    every TTL (intake_medium_ms), small payloads put in one commit at
 *    its end (intake_batch_*).
 *
 * Threads: a wire belongs to the thread that opened it; everything here
 * is synchronous (the wire waits for the store's answers).
 */
#ifndef FERRY_LOOPBACK_H
#define FERRY_LOOPBACK_H

#include <stdint.h>

#include "agent/intake.h"
#include "transports/transport.h"

extern const struct transport_ops loopback_transport;

enum loopback_mode {
	LOOPBACK_LIVE = 0,
	LOOPBACK_CARRIER = 1,
};

/* What this node's side made of the last MSG the peer sent. */
struct loopback_result {
	uint8_t id[FERRY_ID_LEN];
	enum intake_outcome oc;
	enum intake_verdict verdict; /* INTAKE_REFUSED: why */
	int rc;	     /* the store's answer: 0 stored, FERRY_EDUPLICATE, ... */
	int custody; /* custody is owed to the peer (stored, or here) */
};

struct loopback_peer;

/*
 * Open a wire from peer `name` (as authenticated: the loopback trusts the
 * caller) to the node of state (what loopback_transport.start made).
 * clock_ms is the peer's wall clock minus ours: a LIVE wire's HELLO shows
 * it; a CARRIER is sealed at now + clock_ms by it.  0 with *out set, or
 * FERRY_ENOMEM; FERRY_EINVAL when a CARRIER is dated in the future
 * beyond the clock-skew allowance (refused whole: nothing of it is
 * applied); FERRY_EPROTO when the HELLO does not decode.
 */
int loopback_peer_open(void *state, const char *name, enum loopback_mode mode,
		       int64_t clock_ms, struct loopback_peer **out);

/*
 * The peer sends one message: its MSG (hm: offset 0), CHUNKs of payload
 * (hm->msg.payload_len bytes) and END, encoded with transports/hop.h into
 * records this node's side walks.  0 (see loopback_peer_result), or what
 * the intake or the store said (FERRY_EPROTO: the wire is closed).
 */
int loopback_peer_send(struct loopback_peer *p, const struct hop_msg *hm,
		       const uint8_t *payload);

/* The peer holds id, which this node sent it: a CUSTODY frame.  0 and
 * *released 1 if this node let go of its copy. */
int loopback_peer_custody(struct loopback_peer *p,
			  const uint8_t id[FERRY_ID_LEN], int *released);

/* The end of the wire (a CARRIER: the end of the bundle, where its small
 * payloads are committed).  0, or the store's error. */
int loopback_peer_end(struct loopback_peer *p);

/* What became of the last MSG; 1 if this node closed the wire (the peer
 * broke the rules: a forged source on a LIVE wire). */
int loopback_peer_result(const struct loopback_peer *p,
			 struct loopback_result *out);

/* Close the wire (a partial in progress is kept, as when a TCP session
 * drops) and free p.  NULL is a no-op. */
void loopback_peer_free(struct loopback_peer *p);

#endif
