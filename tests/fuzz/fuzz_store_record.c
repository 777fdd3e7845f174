/*
 * fuzz_store_record.c - libFuzzer target for the store's record decoders:
 * records come from disk, which can be damaged, so they are parsed as
 * hostile bytes.  A record that decodes must encode back to the same bytes.
 * Also the receipt payload parser (store/receipt.c): its bytes come from
 * peers.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_hdr h;
	struct store_seen s;
	struct store_queue_stats q;
	struct store_rcpt_rec rr;
	unsigned event;
	uint8_t id[FERRY_ID_LEN];
	char node[FERRY_NODE_MAX + 1];
	int64_t at;
	const uint8_t *inl = NULL;
	size_t inl_len = 0;
	uint8_t *copy = malloc(size ? size : 1);
	static uint8_t back[STORE_HDR_MAX];

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (rec_hdr_decode(copy, size, &h, &inl, &inl_len) == 0) {
		size_t n = rec_hdr_encode(&h, inl, inl_len, back, sizeof(back));
		if (n != size || memcmp(back, copy, size) != 0)
			abort();
	}
	(void)rec_seen_decode(copy, size, &s);
	(void)rec_queue_decode(copy, size, &q);
	if (rec_rcpt_decode(copy, size, &rr) == 0) {
		size_t n = rec_rcpt_encode(&rr, back, sizeof(back));
		if (n != size || memcmp(back, copy, size) != 0)
			abort();
	}
	/* A receipt's payload comes from a peer. */
	if (receipt_parse(copy, size, &event, id, node, &at) == 0 &&
	    (event < STORE_RCPT_QUEUED || event > STORE_RCPT_MEDIUM ||
	     !ferry_node_name_valid(node)))
		abort();
	free(copy);
	return 0;
}
