/*
 * fuzz_card.c - libFuzzer target for identity_card_parse: public cards are
 * pasted by operators into ferry.conf and arrive from peers, so they are
 * parsed as hostile text.  A card that parses must come back identical
 * (lower-cased, trimmed) from the keys.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transports/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sign_pk[32], kx_pk[32];
	char err[256];
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (identity_card_parse(s, sign_pk, kx_pk, err, sizeof(err)) == 0) {
		char fpr[IDENTITY_FPR_LEN + 1];
		identity_fingerprint(sign_pk, kx_pk, fpr);
		if (strlen(fpr) != IDENTITY_FPR_LEN)
			abort();
	}
	free(s);
	return 0;
}
