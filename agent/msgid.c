/*
 * msgid.c - derived message ids (msgid.h): each is BLAKE2b-128 of a
 * label (with its NUL) and the parts that name the message, in order:
 *
 *   group copy      "ferry-group-copy-v1" || group id || members
 *   carried bundle  "ferry-carried-bundle-v1" || bundle id || sender's
 *                   node id || recipient's node id
 *   NATS message    "ferry-nats-v1" || stream || NUL || u64be(seq)
 *
 * A crypto file: sodium.h allowed.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include <sodium.h>

#include "agent/msgid.h"
#include "lib/be.h"
#include "transports/bundle.h"

#define MSGID_GROUP_COPY     "ferry-group-copy-v1"
#define MSGID_CARRIED_BUNDLE "ferry-carried-bundle-v1"
#define MSGID_NATS	     "ferry-nats-v1"

struct msgid_part {
	const void *p;
	size_t len;
};

static void
msgid_derive(const char *label, const struct msgid_part *parts, size_t n,
	     uint8_t out[FERRY_ID_LEN])
{
	crypto_generichash_state hs;

	crypto_generichash_init(&hs, NULL, 0, FERRY_ID_LEN);
	crypto_generichash_update(&hs, (const uint8_t *)label,
				  strlen(label) + 1);
	for (size_t k = 0; k < n; k++)
		crypto_generichash_update(&hs, parts[k].p, parts[k].len);
	crypto_generichash_final(&hs, out, FERRY_ID_LEN);
}

void
msgid_group_copy(const uint8_t group_id[FERRY_ID_LEN], const char *members,
		 uint8_t out[FERRY_ID_LEN])
{
	const struct msgid_part parts[] = {
	    {group_id, FERRY_ID_LEN},
	    {members, strlen(members)},
	};

	msgid_derive(MSGID_GROUP_COPY, parts, 2, out);
}

void
msgid_carried_bundle(const struct bundle_hdr *h, uint8_t out[FERRY_ID_LEN])
{
	const struct msgid_part parts[] = {
	    {h->id, sizeof(h->id)},
	    {h->sender, sizeof(h->sender)},
	    {h->recipient, sizeof(h->recipient)},
	};

	msgid_derive(MSGID_CARRIED_BUNDLE, parts, 3, out);
}

void
msgid_nats(const char *stream, uint64_t seq, uint8_t out[FERRY_ID_LEN])
{
	uint8_t be[8];
	const struct msgid_part parts[] = {
	    {stream, strlen(stream) + 1},
	    {be, sizeof(be)},
	};

	ferry_put_be64(be, seq);
	msgid_derive(MSGID_NATS, parts, 2, out);
}
