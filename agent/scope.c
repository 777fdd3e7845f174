/*
 * scope.c - the ids that local clients choose (SEND with an id, `ferry
 * send --id`) are scoped to the caller's uid (docs/protocol.md §4 SEND,
 * docs/store.md "Dedup").
 *
 * The store refuses a known id as a duplicate, whoever sent it, for
 * weeks: that is what makes a retry idempotent.  Were a client's id
 * stored as given, a local user who learned the id of a message on its
 * way (a message coming from a peer, another user's retry) could send
 * something under that id first, and the real message would be dropped
 * as a duplicate.  So the id stored for a client's chosen id K is
 *
 *   BLAKE2b-128(key: scope key, "ferry-client-id-v1" || be32 uid || K)
 *
 * The same uid sending K again gets the same id (a retry is still a
 * duplicate, and a cut stream resumes); another uid gets an unrelated
 * id; and nobody without the node's secret key can aim at an id chosen
 * elsewhere (a random one, or one a peer's node made), since the scope
 * key is derived from the node's signing key: a deterministic Ed25519
 * signature of a fixed label, hashed.  It lives in sodium_malloc()
 * memory and is wiped by scope_cleanup().
 */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/be.h"

#define SCOPE_KEY_LEN	32
#define SCOPE_KEY_LABEL "ferry-client-id-key-v1"
#define SCOPE_DOMAIN	"ferry-client-id-v1"

int
scope_init(struct agent *ag)
{
	uint8_t sig[IDENTITY_SIG_LEN];
	int rc;

	ag->scope_key = sodium_malloc(SCOPE_KEY_LEN);
	if (ag->scope_key == NULL)
		return FERRY_ENOMEM;
	rc = identity_sign(ag->id, SCOPE_KEY_LABEL, NULL, 0, sig);
	if (rc == 0 && crypto_generichash(ag->scope_key, SCOPE_KEY_LEN, sig,
					  sizeof(sig), NULL, 0) != 0)
		rc = FERRY_EIO;
	sodium_memzero(sig, sizeof(sig));
	if (rc != 0) {
		scope_cleanup(ag);
		return rc;
	}
	return 0;
}

void
scope_cleanup(struct agent *ag)
{
	if (ag->scope_key == NULL)
		return;
	sodium_free(ag->scope_key); /* wipes it */
	ag->scope_key = NULL;
}

void
scope_client_id(const struct agent *ag, uid_t uid,
		const uint8_t chosen[FERRY_ID_LEN], uint8_t out[FERRY_ID_LEN])
{
	uint8_t in[sizeof(SCOPE_DOMAIN) - 1 + 4 + FERRY_ID_LEN];

	memcpy(in, SCOPE_DOMAIN, sizeof(SCOPE_DOMAIN) - 1);
	ferry_put_be32(in + sizeof(SCOPE_DOMAIN) - 1, (uint32_t)uid);
	memcpy(in + sizeof(SCOPE_DOMAIN) - 1 + 4, chosen, FERRY_ID_LEN);
	/* Lengths are constants within BLAKE2b's limits: a failure, or no
	 * key (scope_init runs before the socket opens), is our bug. */
	if (ag->scope_key == NULL ||
	    crypto_generichash(out, FERRY_ID_LEN, in, sizeof(in), ag->scope_key,
			       SCOPE_KEY_LEN) != 0) {
		log_error("scope_client_id: no scope key or BLAKE2b failed");
		abort();
	}
}
