/*
 * fuzz_link.c - libFuzzer target for what ferryd's listener parses from a
 * caller that has proven nothing yet: transports/tcp_link.c handshake_accept,
 * then transports/tcp_session.c read_hello and on_record, with the same library
 * calls in the same order.  Each input is tried two ways:
 *
 *   1. As the caller's bytes on the socket: the 12-byte preamble, a u16be
 *      length and Noise IK message 1, read by a responder with fixed keys
 *      (the first vector of tests/unit/noise_vectors.h: its responder
 *      static and ephemeral keys; the preamble is the prologue, as on the
 *      wire).  The caller's static key is looked up among the configured
 *      peers (one, "alpha": the vector's initiator key); then message 2 is
 *      written, the handshake split, and records (u16be length, transport
 *      message) are opened in turn.  The first must be one HELLO naming
 *      alpha; every frame of every record goes through hop_record_next and
 *      its typed decoder; a REKEY frame rekeys the receiving cipher after
 *      its record, as the session does.  Only inputs that carry a valid
 *      handshake and records sealed for it get past message 1: the seeds,
 *      which scripts/gen-link-corpus makes with dissononce.
 *   2. As the plaintext of a caller's first record: sealed by the
 *      initiator and opened by the listener of one session set up at the
 *      first call, then walked as in 1.  No mutation of a sealed record
 *      survives the AEAD, so this is how mutations reach the decoders
 *      behind it.  Both ciphers advance together, so every input takes the
 *      same path whatever ran before it.
 *
 * Aborts when the code under test breaks a promise: message 1 accepted at
 * a length other than 96 (ferry sends empty payloads) or accepted but then
 * not answered or split, a sealed record that does not open to the same
 * bytes, a frame outside its record, a decoder answering anything but 0
 * or FERRY_EPROTO with a reason, or a decoded HELLO or MSG with values
 * its rules exclude.  Opened records are exact-size heap copies, so ASan
 * sees any read past one.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "transports/tcp.h"
#include "lib/ferry_msg.h"
#include "tests/unit/noise_vectors.h"
#include "transports/hop.h"
#include "transports/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static const struct noise_vector *v = &noise_vectors[0];
/* The one configured peer: [peer alpha] with the vector's initiator key. */
static const char peer_name[] = "alpha";

static struct noise_hs *
listener(void)
{
	struct noise_hs *hs = NULL;

	if (noise_ik_responder_new(v->resp_s_sk, v->resp_s_pk,
				   (const uint8_t *)LINK_PREAMBLE,
				   LINK_PREAMBLE_LEN, &hs) != 0 ||
	    noise_hs_set_ephemeral(hs, v->resp_e_sk) != 0)
		abort();
	return hs;
}

/* A decoder's answer must be 0, or FERRY_EPROTO with a reason.  The
 * reason is read through its address: an argument `why` next to the
 * call that sets it may be evaluated before that call. */
static int
decoded(int rc, const char *const *why)
{
	CHECK(rc == 0 || (rc == FERRY_EPROTO && *why != NULL));
	return rc;
}

/* Decode f with its typed decoder; 0 or FERRY_EPROTO.  A HELLO that
 * decodes is copied to *h. */
static int
decode(const struct hop_frame *f, struct hop_hello *h)
{
	const char *why = NULL;
	int rc;

	switch (f->type) {
	case HOP_HELLO:
		rc = decoded(hop_hello_decode(f, h, &why), &why);
		CHECK(rc != 0 ||
		      (h->version >= 1 && ferry_node_name_valid(h->node) &&
		       h->max_record >= HOP_RECORD_MIN &&
		       h->keepalive_ms <= HOP_KEEPALIVE_MAX_MS));
		return rc;
	case HOP_MSG: {
		struct hop_msg m;
		rc = decoded(hop_msg_decode(f, &m, &why), &why);
		/* What the codec accepts, the message model accepts. */
		CHECK(rc != 0 || (ferry_msg_validate(&m.msg) == 0 &&
				  m.offset <= m.msg.payload_len));
		return rc;
	}
	case HOP_REFUSE: {
		struct hop_refuse r;
		return decoded(hop_refuse_decode(f, &r, &why), &why);
	}
	case HOP_CHUNK: {
		struct hop_chunk c;
		rc = decoded(hop_chunk_decode(f, &c, &why), &why);
		CHECK(rc != 0 || (c.len >= 1 && c.data >= f->body &&
				  c.data + c.len == f->body + f->len &&
				  c.offset + c.len >= c.offset));
		return rc;
	}
	case HOP_END: {
		struct hop_end e;
		return decoded(hop_end_decode(f, &e, &why), &why);
	}
	case HOP_CUSTODY: {
		struct hop_custody c;
		rc = decoded(hop_custody_decode(f, &c, &why), &why);
		CHECK(rc != 0 ||
		      (c.count >= 1 && c.count <= HOP_CUSTODY_MAX &&
		       c.ids == f->body + HOP_CUSTODY_HDR &&
		       HOP_CUSTODY_HDR + c.count * FERRY_ID_LEN == f->len));
		return rc;
	}
	case HOP_RESUME: {
		struct hop_resume r;
		return decoded(hop_resume_decode(f, &r, &why), &why);
	}
	case HOP_KEEPALIVE: {
		struct hop_keepalive k;
		return decoded(hop_keepalive_decode(f, &k, &why), &why);
	}
	case HOP_REKEY:
		return decoded(hop_rekey_decode(f, &why), &why);
	case HOP_CLOSE: {
		struct hop_close c;
		return decoded(hop_close_decode(f, &c, &why), &why);
	}
	case HOP_CHUNKZ: { /* opened in fuzz_hop */
		struct hop_chunkz cz;
		rc = decoded(hop_chunkz_decode(f, &cz, &why), &why);
		CHECK(rc != 0 || (cz.len >= 1 && cz.orig_len >= 1 &&
				  cz.data + cz.len == f->body + f->len));
		return rc;
	}
	default:
		abort(); /* the walker let an unknown type through */
	}
}

/*
 * Walk one opened record and decode every frame.  Returns 0 when the
 * listener would go on reading, -1 when it would end the session: a
 * malformed frame, a first record that is not one HELLO naming the peer
 * (read_hello), a HELLO in a later record, or a CLOSE (on_record).
 * *rekey is set when the record holds a REKEY.
 */
static int
walk(const uint8_t *rec, size_t len, int first, int *rekey)
{
	struct hop_frame f;
	struct hop_hello h = {0};
	size_t off = 0, nframes = 0;
	int rc, go_on = 1;

	while ((rc = hop_record_next(rec, len, &off, &f)) == 1) {
		CHECK(f.body >= rec && f.len <= len &&
		      f.body + f.len <= rec + len && off <= len);
		CHECK(f.type >= HOP_HELLO && f.type < HOP_TYPE_MAX_);
		if (decode(&f, &h) != 0)
			go_on = 0;
		else if (first && (nframes > 0 || f.type != HOP_HELLO ||
				   strcmp(h.node, peer_name) != 0))
			go_on = 0;
		else if (!first && (f.type == HOP_HELLO || f.type == HOP_CLOSE))
			go_on = 0;
		if (f.type == HOP_REKEY)
			*rekey = 1;
		nframes++;
	}
	CHECK(rc == 0 || rc == FERRY_EPROTO);
	CHECK(rc != 0 || off == len);
	return rc == 0 && nframes > 0 && go_on ? 0 : -1;
}

/* Open one sealed record of len bytes into an exact-size copy and walk
 * it; -1 when the listener would end the session there. */
static int
record(struct noise_cipher *rx, const uint8_t *ct, size_t len, int first)
{
	uint8_t *rec;
	size_t pl = 0;
	int rekey = 0, rc;

	if (len < NOISE_TAG + 1) /* read_record: no empty records */
		return -1;
	if ((rec = malloc(len - NOISE_TAG)) == NULL)
		return -1;
	if (noise_decrypt(rx, NULL, 0, ct, len, rec, len - NOISE_TAG, &pl) !=
	    0) {
		free(rec);
		return -1;
	}
	CHECK(pl == len - NOISE_TAG);
	rc = walk(rec, pl, first, &rekey);
	free(rec);
	if (rc == 0 && rekey)
		CHECK(noise_rekey(rx) == 0);
	return rc;
}

/* Take a u16be length off the front of the input. */
static int
take_len(const uint8_t **p, size_t *size, size_t *len)
{
	if (*size < 2)
		return -1;
	*len = (size_t)(*p)[0] << 8 | (*p)[1];
	*p += 2;
	*size -= 2;
	return 0;
}

/* 1: the input as the caller's bytes on the socket. */
static void
as_wire(const uint8_t *p, size_t size)
{
	struct noise_cipher *tx = NULL, *rx = NULL;
	struct noise_hs *hs;
	uint8_t m2[NOISE_IK_MSG2_LEN], rs[NOISE_KEY];
	size_t len = 0, n = 0, pl = 0;

	if (size < LINK_PREAMBLE_LEN ||
	    memcmp(p, LINK_PREAMBLE, LINK_PREAMBLE_LEN) != 0)
		return;
	p += LINK_PREAMBLE_LEN;
	size -= LINK_PREAMBLE_LEN;
	if (take_len(&p, &size, &len) != 0 || len > size)
		return;
	/* The listener reads exactly 96 bytes; any length goes to
	 * noise_hs_read here, which must refuse all but 96 (no payload). */
	hs = listener();
	if (noise_hs_read(hs, p, len, NULL, 0, &pl) != 0) {
		/* A failed step leaves the state dead. */
		CHECK(noise_hs_remote_static(hs, rs) == FERRY_ESTATE);
		noise_hs_free(hs);
		return;
	}
	CHECK(len == NOISE_IK_MSG1_LEN && pl == 0);
	p += len;
	size -= len;
	CHECK(noise_hs_remote_static(hs, rs) == 0);
	if (memcmp(rs, v->init_s_pk, NOISE_KEY) != 0) {
		noise_hs_free(hs); /* no [peer] section has this key */
		return;
	}
	CHECK(noise_hs_write(hs, NULL, 0, m2, sizeof(m2), &n) == 0 &&
	      n == NOISE_IK_MSG2_LEN);
	CHECK(noise_hs_split(hs, &tx, &rx, NULL) == 0);
	noise_hs_free(hs);
	for (int first = 1; take_len(&p, &size, &len) == 0 && len <= size;
	     first = 0) {
		if (record(rx, p, len, first) != 0)
			break;
		p += len;
		size -= len;
	}
	noise_cipher_free(tx);
	noise_cipher_free(rx);
}

/* 2: the session whose caller seals the inputs as plaintext; set up once. */
static struct noise_cipher *seal, *open_;

static void
plain_session(void)
{
	struct noise_hs *ini = NULL, *lis = listener();
	struct noise_cipher *unused_tx = NULL, *unused_rx = NULL;
	uint8_t m1[NOISE_IK_MSG1_LEN], m2[NOISE_IK_MSG2_LEN];
	size_t n = 0, pl = 0;

	if (noise_ik_initiator_new(v->init_s_sk, v->init_s_pk, v->resp_s_pk,
				   (const uint8_t *)LINK_PREAMBLE,
				   LINK_PREAMBLE_LEN, &ini) != 0 ||
	    noise_hs_set_ephemeral(ini, v->init_e_sk) != 0 ||
	    noise_hs_write(ini, NULL, 0, m1, sizeof(m1), &n) != 0 ||
	    noise_hs_read(lis, m1, n, NULL, 0, &pl) != 0 ||
	    noise_hs_write(lis, NULL, 0, m2, sizeof(m2), &n) != 0 ||
	    noise_hs_read(ini, m2, n, NULL, 0, &pl) != 0 ||
	    noise_hs_split(ini, &seal, &unused_rx, NULL) != 0 ||
	    noise_hs_split(lis, &unused_tx, &open_, NULL) != 0)
		abort();
	noise_cipher_free(unused_rx);
	noise_cipher_free(unused_tx);
	noise_hs_free(ini);
	noise_hs_free(lis);
}

static void
as_plaintext(const uint8_t *data, size_t size)
{
	uint8_t *ct, *rec;
	size_t n = 0, pl = 0;
	int rekey = 0;

	if (size == 0 || size > HOP_PLAIN_MAX)
		return; /* no record carries that */
	if (seal == NULL)
		plain_session();
	ct = malloc(size + NOISE_TAG);
	rec = malloc(size);
	if (ct != NULL && rec != NULL) {
		/* Sealed by the caller, opened by the listener: the same
		 * bytes; then the walk decides the rest. */
		CHECK(noise_encrypt(seal, NULL, 0, data, size, ct,
				    size + NOISE_TAG, &n) == 0 &&
		      n == size + NOISE_TAG);
		CHECK(noise_decrypt(open_, NULL, 0, ct, n, rec, size, &pl) ==
			  0 &&
		      pl == size && memcmp(rec, data, size) == 0);
		(void)walk(rec, pl, 1, &rekey);
	}
	free(ct);
	free(rec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_wire(data, size);
	as_plaintext(data, size);
	return 0;
}
