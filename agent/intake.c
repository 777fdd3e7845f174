/*
 * intake.c - the checks every message received from a peer passes (see
 * intake.h).  Called by the TCP receiver (transports/tcp_recv.c on_msg) and by the
 * bundle import (transports/filedrop_import.c, both the verifying pass and the apply pass);
 * a new transport calls it too, before its first store operation.
 */
#include "config.h"

#include <string.h>

#include "agent/intake.h"

enum intake_verdict
intake_msg(const struct intake_node *me, const char *peer,
	   const struct ferry_msg *m, const char **why)
{
	if (strcmp(m->dst_node, me->name) != 0) {
		*why = "it is for another node (relaying is not supported "
		       "yet)";
		return INTAKE_NOT_HERE;
	}
	if (strcmp(m->src_node, peer) != 0) {
		*why = "its source is not the peer that sent it (a peer may "
		       "only send its own messages)";
		return INTAKE_FORGED;
	}
	if (ferry_queue_reserved(m->dst_queue) &&
	    strcmp(m->dst_queue, FERRY_RECEIPT_QUEUE) != 0) {
		*why = "its queue is reserved for the agent (ferry.*)";
		return INTAKE_RESERVED;
	}
	if (me->max_message != 0 && m->payload_len > me->max_message) {
		*why = "it is larger than max_message";
		return INTAKE_TOO_BIG;
	}
	*why = "";
	return INTAKE_OK;
}
