/*
 * noise_peer.c - the C side of tests/interop/noise_interop.py: one Noise IK
 * handshake and an echo session over stdin/stdout, so that another Noise
 * implementation (dissononce) can talk to transports/noise.c.
 *
 *   noise_peer initiator S_SK S_PK RS_PK PROLOGUE
 *   noise_peer responder S_SK S_PK PROLOGUE
 *
 * Arguments are hex.  Every message in either direction is a frame: a u16
 * big-endian length, then the bytes (ferry's TCP framing).  After the
 * handshake the peer writes two clear frames, the handshake hash and the
 * remote static key, then answers each record with the reversed plaintext;
 * after answering "rekey" it calls Rekey() on both its ciphers; an empty
 * frame ends the session.  Exit 0 on a clean end, 1 on any refusal.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transports/noise.h"

static int
hex_decode(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(s);

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int b;
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (uint8_t)b;
	}
	*len = n / 2;
	return 0;
}

static int
key_arg(const char *s, uint8_t out[NOISE_KEY])
{
	size_t n = 0;

	return hex_decode(s, out, NOISE_KEY, &n) == 0 && n == NOISE_KEY ? 0
									: -1;
}

static int
frame_read(uint8_t *buf, size_t cap, size_t *len)
{
	uint8_t hdr[2];

	if (fread(hdr, 1, 2, stdin) != 2)
		return -1;
	*len = (size_t)hdr[0] << 8 | hdr[1];
	if (*len > cap || fread(buf, 1, *len, stdin) != *len)
		return -1;
	return 0;
}

static int
frame_write(const uint8_t *buf, size_t len)
{
	uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};

	if (len > NOISE_MAX_MSG || fwrite(hdr, 1, 2, stdout) != 2 ||
	    fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
		return -1;
	return 0;
}

static int
echo(struct noise_cipher *send, struct noise_cipher *recv)
{
	static uint8_t in[NOISE_MAX_MSG], pt[NOISE_MAX_MSG], rev[NOISE_MAX_MSG];
	static uint8_t out[NOISE_MAX_MSG];
	size_t len = 0, pl = 0, n = 0;

	for (;;) {
		if (frame_read(in, sizeof(in), &len) != 0)
			return -1;
		if (len == 0)
			return 0;
		if (noise_decrypt(recv, NULL, 0, in, len, pt, sizeof(pt),
				  &pl) != 0)
			return -1;
		for (size_t i = 0; i < pl; i++)
			rev[i] = pt[pl - 1 - i];
		if (noise_encrypt(send, NULL, 0, rev, pl, out, sizeof(out),
				  &n) != 0 ||
		    frame_write(out, n) != 0)
			return -1;
		if (pl == 5 && memcmp(pt, "rekey", 5) == 0 &&
		    (noise_rekey(send) != 0 || noise_rekey(recv) != 0))
			return -1;
	}
}

int
main(int argc, char **argv)
{
	static uint8_t buf[NOISE_MAX_MSG], prologue[256];
	uint8_t s_sk[NOISE_KEY], s_pk[NOISE_KEY], rs[NOISE_KEY], h[NOISE_KEY];
	struct noise_cipher *send = NULL, *recv = NULL;
	struct noise_hs *hs = NULL;
	size_t plen = 0, len = 0, pl = 0;
	int initiator, rc = 1;

	if (argc < 2)
		return 2;
	initiator = strcmp(argv[1], "initiator") == 0;
	if (argc != (initiator ? 6 : 5) || key_arg(argv[2], s_sk) != 0 ||
	    key_arg(argv[3], s_pk) != 0 ||
	    (initiator && key_arg(argv[4], rs) != 0) ||
	    hex_decode(argv[argc - 1], prologue, sizeof(prologue), &plen) != 0)
		return 2;
	if (initiator) {
		if (noise_ik_initiator_new(s_sk, s_pk, rs, prologue, plen,
					   &hs) != 0 ||
		    noise_hs_write(hs, NULL, 0, buf, sizeof(buf), &len) != 0 ||
		    frame_write(buf, len) != 0 ||
		    frame_read(buf, sizeof(buf), &len) != 0 ||
		    noise_hs_read(hs, buf, len, NULL, 0, &pl) != 0)
			goto out;
	} else {
		if (noise_ik_responder_new(s_sk, s_pk, prologue, plen, &hs) !=
			0 ||
		    frame_read(buf, sizeof(buf), &len) != 0 ||
		    noise_hs_read(hs, buf, len, NULL, 0, &pl) != 0 ||
		    noise_hs_write(hs, NULL, 0, buf, sizeof(buf), &len) != 0 ||
		    frame_write(buf, len) != 0)
			goto out;
	}
	if (noise_hs_remote_static(hs, rs) != 0 ||
	    noise_hs_split(hs, &send, &recv, h) != 0 ||
	    frame_write(h, sizeof(h)) != 0 || frame_write(rs, sizeof(rs)) != 0)
		goto out;
	rc = echo(send, recv) == 0 ? 0 : 1;
out:
	noise_cipher_free(send);
	noise_cipher_free(recv);
	noise_hs_free(hs);
	return rc;
}
