/*
 * fuzz_seal.c - libFuzzer target for the decryptor of sealed payloads
 * (agent/seal.c): a relay or a damaged disk may hand the destination any
 * bytes under the sealed flag, so its length and format checks meet
 * hostile input.  Byte 0 picks a mode:
 *   even: the rest is a sealed payload, opened from an offset taken from
 *         bytes 1-2; it must not open (nobody sealed it), nor crash;
 *   odd:  the rest is a plaintext, sealed with fixed keys, then bytes 1-4
 *         choose one byte to flip (or none); it must open to the same
 *         plaintext unflipped, and must not open flipped.
 * For every length, seal_plain_len and seal_sealed_len must agree.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *p;
	size_t len, pos;
};

static int
mem_read(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	struct mem *m = arg;
	size_t k = m->len - m->pos;

	if (k > cap)
		k = cap;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	*n = k;
	return 0;
}

static int
mem_seek(void *arg, uint64_t off)
{
	struct mem *m = arg;

	if (off > m->len)
		return FERRY_EINVAL;
	m->pos = (size_t)off;
	return 0;
}

/* Open p (len bytes) from off: 0 and the plaintext in *out, or an error. */
static int
open_all(const uint8_t sk[32], const uint8_t id[FERRY_ID_LEN], const uint8_t *p,
	 size_t len, uint64_t off, uint8_t **out, size_t *out_len)
{
	struct mem m = {p, len, 0};
	struct seal_src src = {mem_read, mem_seek, &m};
	struct seal_dec *d = NULL;
	uint8_t *buf;
	size_t have = 0, n;
	int rc;

	*out = NULL;
	*out_len = 0;
	if ((rc = seal_dec_open(sk, id, len, off, &src, &d)) != 0)
		return rc;
	if ((buf = malloc(len + 1)) == NULL)
		abort();
	do {
		rc = seal_dec_read(d, buf + have, 5000, &n);
		have += n;
		if (have > len)
			abort(); /* more plaintext than ciphertext */
	} while (rc == 0 && n > 0);
	seal_dec_free(d);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*out_len = have;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t a_sk[32], b_sk[32], b_pk[32];
	static const uint8_t id[FERRY_ID_LEN] = "fuzz-seal-id-01";
	static int ready;
	uint64_t plain = 0;
	uint8_t *out = NULL, *sealed = NULL;
	size_t out_len = 0, slen = 0;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		memset(a_sk, 0x11, sizeof(a_sk));
		memset(b_sk, 0x22, sizeof(b_sk));
		crypto_scalarmult_base(b_pk, b_sk);
		ready = 1;
	}
	if (seal_plain_len(size, &plain) == 0 && seal_sealed_len(plain) != size)
		abort();
	if (size < 5)
		return 0;
	if ((data[0] & 1) == 0) {
		uint64_t off = (uint64_t)data[1] << 8 | data[2];
		if (open_all(b_sk, id, data + 3, size - 3, off, &out,
			     &out_len) == 0)
			abort(); /* forged without the key */
		return 0;
	}
	if (seal_buf(a_sk, b_pk, id, data + 5, size - 5, &sealed, &slen) != 0)
		abort();
	{
		uint32_t at = (uint32_t)data[1] << 24 |
			      (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 |
			      data[4];
		int flip = at < slen;

		if (flip)
			sealed[at] ^= 0x01;
		if (open_all(b_sk, id, sealed, slen, 0, &out, &out_len) == 0) {
			if (flip || out_len != size - 5 ||
			    memcmp(out, data + 5, out_len) != 0)
				abort();
		} else if (!flip) {
			abort();
		}
	}
	free(out);
	free(sealed);
	return 0;
}
