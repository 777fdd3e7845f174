/*
 * test_agent_msgid.c - CUnit tests of agent/msgid.c: the derived ids are
 * stored and compared across nodes, so each must stay these bytes.  The
 * vectors were made by the code before msgid.c (split_copy_id in
 * agent/split.c, carry_id in transports/filedrop_carry.c, nats_id in
 * agent/bridge.c) and agree with Python's hashlib.blake2b(digest_size=16).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "agent/msgid.h"
#include "transports/bundle.h"
#include "tests/unit/testutil.h"

/* Is id the 32 hex digits want? */
static int
id_is(const uint8_t id[FERRY_ID_LEN], const char *want)
{
	char hex[FERRY_ID_HEX_LEN + 1];

	ferry_id_to_hex(id, hex);
	return strcmp(hex, want) == 0;
}

static void
test_group_copy(void)
{
	uint8_t group[FERRY_ID_LEN], id[FERRY_ID_LEN];

	for (size_t i = 0; i < sizeof(group); i++)
		group[i] = (uint8_t)(i + 1);
	msgid_group_copy(group, "alpha", id);
	CU_ASSERT(id_is(id, "eb4d17be208ff277b2bb3c8b52b1c601"));
	msgid_group_copy(group, "beta,gamma", id);
	CU_ASSERT(id_is(id, "61581d066a87bf836f48d497d686fba7"));
	msgid_group_copy(group, "", id);
	CU_ASSERT(id_is(id, "b98aa256132bd1471af1031de608ebdc"));
}

static void
test_carried_bundle(void)
{
	struct bundle_hdr h;
	uint8_t id[FERRY_ID_LEN];

	memset(&h, 0, sizeof(h));
	for (size_t i = 0; i < sizeof(h.id); i++)
		h.id[i] = (uint8_t)(0xa0 + i);
	for (size_t i = 0; i < sizeof(h.sender); i++) {
		h.sender[i] = (uint8_t)i;
		h.recipient[i] = (uint8_t)(0xff - i);
	}
	msgid_carried_bundle(&h, id);
	CU_ASSERT(id_is(id, "6c85196820b4a81d78cd947dbf195ebb"));
	/* The rest of the header is no part of it. */
	h.seq = 7;
	h.size = 12345;
	h.created_ms = 1700000000000LL;
	msgid_carried_bundle(&h, id);
	CU_ASSERT(id_is(id, "6c85196820b4a81d78cd947dbf195ebb"));
}

static void
test_nats(void)
{
	uint8_t id[FERRY_ID_LEN];

	msgid_nats("ORDERS", 1, id);
	CU_ASSERT(id_is(id, "fb29f3591b0690fbba203cc64af65ebf"));
	msgid_nats("ORDERS", 0x0102030405060708ull, id);
	CU_ASSERT(id_is(id, "3b2664427dc215cff2643281da8535f0"));
	msgid_nats("", 0, id);
	CU_ASSERT(id_is(id, "23680f114642445ee3758bba9295ac7d"));
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("agent_msgid", NULL, NULL);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_group_copy);
	TEST_ADD(s, test_carried_bundle);
	TEST_ADD(s, test_nats);
}

int
main(void)
{
	return test_main("test_agent_msgid", add_suites);
}
