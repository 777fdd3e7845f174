/*
 * intake.h - the checks every message received from a peer passes before
 * anything of it is stored, whatever transport carried it (a TCP session,
 * a bundle on a medium).  One place, so that the transports cannot drift
 * apart (DESIGN.md 5; docs/transports.md).
 */
#ifndef FERRY_INTAKE_H
#define FERRY_INTAKE_H

#include <stdint.h>

#include "lib/ferry_msg.h"

enum intake_verdict {
	INTAKE_OK = 0,
	INTAKE_NOT_HERE, /* for another node (no relaying yet) */
	INTAKE_TOO_BIG,	 /* payload over this node's max_message */
	INTAKE_FORGED,	 /* its source is not the peer that sent it */
	INTAKE_RESERVED, /* a ferry.* queue peers may not send to */
	INTAKE_VERDICTS_ /* count */
};

/* What the intake needs to know of this node. */
struct intake_node {
	const char *name;     /* this node */
	uint64_t max_message; /* bytes; 0: no limit */
};

/*
 * Judge m, received from the authenticated peer `peer`.  INTAKE_OK, or
 * why not with *why set to a sentence for the log.  Until relaying
 * defines signed origins, a message's source must be the peer that hands
 * it over; receipts (to FERRY_RECEIPT_QUEUE) are the only ferry.* queue a
 * peer may send to, and the store takes a receipt only from the node the
 * message went to (store/receipt.c).
 */
enum intake_verdict intake_msg(const struct intake_node *me, const char *peer,
			       const struct ferry_msg *m, const char **why);

#endif
