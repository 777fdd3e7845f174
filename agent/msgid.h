/*
 * msgid.h - message ids that several nodes derive alike from what names
 * a message (a group message's copy, a carried bundle, a NATS message),
 * so that each node stores such a message once whichever way it came.
 * They are stored and compared across nodes: their bytes never change
 * (tests/unit/test_agent_msgid.c holds them).
 */
#ifndef FERRY_AGENT_MSGID_H
#define FERRY_AGENT_MSGID_H

#include <stdint.h>

#include "lib/ferry_msg.h"

struct bundle_hdr;

/* The copy of group message group_id for members (one name: a member's
 * own copy) (docs/groups.md, "Crash safety"). */
void msgid_group_copy(const uint8_t group_id[FERRY_ID_LEN], const char *members,
		      uint8_t out[FERRY_ID_LEN]);
/* The message that carries bundle h: the same on every relay that
 * carries it (docs/routing.md, "Carried bundles"). */
void msgid_carried_bundle(const struct bundle_hdr *h,
			  uint8_t out[FERRY_ID_LEN]);
/* JetStream message seq of stream, taken by the bridge: a redelivery is
 * a duplicate (docs/bridge.md). */
void msgid_nats(const char *stream, uint64_t seq, uint8_t out[FERRY_ID_LEN]);

#endif
