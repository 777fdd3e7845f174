/*
 * fuzz_noise.c - libFuzzer target for transports/noise.c: the bytes of a
 * TCP peer reach noise_hs_read and noise_decrypt before anything else, so
 * each input is tried three ways, with the fixed keys of the first vector
 * in tests/unit/noise_vectors.h:
 *   1. as message 1 to a responder (then, if it passes, message 2 is
 *      written and the split done);
 *   2. as message 2 to an initiator that sent the vector's message 1;
 *   3. as a stream of transport records (u16 big-endian length, bytes) to
 *      the responder's receiving cipher of the vector's session; a record
 *      of length 0 stands for Rekey() on that cipher.
 * Nothing may crash, leak, or accept a message that then fails to split.
 * Seeds (tests/fuzz/corpus/noise) are the vector's messages.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/noise_vectors.h"
#include "transports/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct noise_vector *v = &noise_vectors[0];

static struct noise_hs *
responder(void)
{
	struct noise_hs *hs = NULL;

	if (noise_ik_responder_new(v->resp_s_sk, v->resp_s_pk,
				   (const uint8_t *)v->prologue,
				   v->prologue_len, &hs) != 0 ||
	    noise_hs_set_ephemeral(hs, v->resp_e_sk) != 0)
		abort();
	return hs;
}

/* An initiator that has written the vector's message 1. */
static struct noise_hs *
initiator(void)
{
	uint8_t m1[NOISE_MAX_MSG];
	struct noise_hs *hs = NULL;
	size_t n = 0;

	if (noise_ik_initiator_new(v->init_s_sk, v->init_s_pk, v->resp_s_pk,
				   (const uint8_t *)v->prologue,
				   v->prologue_len, &hs) != 0 ||
	    noise_hs_set_ephemeral(hs, v->init_e_sk) != 0 ||
	    noise_hs_write(hs, (const uint8_t *)v->payload1,
			   strlen(v->payload1), m1, sizeof(m1), &n) != 0)
		abort();
	return hs;
}

static void
split_or_abort(struct noise_hs *hs)
{
	struct noise_cipher *s = NULL, *r = NULL;

	if (noise_hs_split(hs, &s, &r, NULL) != 0)
		abort();
	noise_cipher_free(s);
	noise_cipher_free(r);
}

static void
as_msg1(const uint8_t *data, size_t size, uint8_t *buf)
{
	struct noise_hs *hs = responder();
	uint8_t rs[NOISE_KEY];
	size_t pl = 0, n = 0;

	if (noise_hs_read(hs, data, size, buf, NOISE_MAX_MSG, &pl) == 0) {
		if (noise_hs_remote_static(hs, rs) != 0 ||
		    noise_hs_write(hs, NULL, 0, buf, NOISE_MAX_MSG, &n) != 0)
			abort();
		split_or_abort(hs);
	} else if (noise_hs_remote_static(hs, rs) != FERRY_ESTATE) {
		abort(); /* a failed step leaves the state dead */
	}
	noise_hs_free(hs);
}

static void
as_msg2(const uint8_t *data, size_t size, uint8_t *buf)
{
	struct noise_hs *hs = initiator();
	size_t pl = 0;

	if (noise_hs_read(hs, data, size, buf, NOISE_MAX_MSG, &pl) == 0)
		split_or_abort(hs);
	noise_hs_free(hs);
}

static void
as_records(const uint8_t *data, size_t size, uint8_t *buf)
{
	struct noise_hs *hr = responder();
	struct noise_cipher *s = NULL, *r = NULL;
	size_t pl = 0, n = 0;

	if (noise_hs_read(hr, v->msg1, v->msg1_len, buf, NOISE_MAX_MSG, &pl) !=
		0 ||
	    noise_hs_write(hr, (const uint8_t *)v->payload2,
			   strlen(v->payload2), buf, NOISE_MAX_MSG, &n) != 0 ||
	    noise_hs_split(hr, &s, &r, NULL) != 0)
		abort();
	while (size >= 2) {
		size_t len = (size_t)data[0] << 8 | data[1];
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		if (len == 0) {
			if (noise_rekey(r) != 0)
				abort();
			continue;
		}
		if (noise_decrypt(r, (const uint8_t *)v->ad, strlen(v->ad),
				  data, len, buf, NOISE_MAX_MSG, &pl) != 0)
			break;
		data += len;
		size -= len;
	}
	noise_cipher_free(s);
	noise_cipher_free(r);
	noise_hs_free(hr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(NOISE_MAX_MSG);

	if (buf == NULL)
		return 0;
	as_msg1(data, size, buf);
	as_msg2(data, size, buf);
	as_records(data, size, buf);
	free(buf);
	return 0;
}
