/*
 * test_transports_noise.c - CUnit tests of transports/noise.c: the C code
 * against vectors computed by Debian's python3-dissononce
 * (scripts/gen-noise-vectors, noise_vectors.h), round trips with random
 * keys, and the refusals: wrong keys and prologues, every bit of both
 * handshake messages, every byte of a transport message, replays,
 * truncations, small-order public keys, calls out of order, nonce
 * exhaustion.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sodium.h>

#include "tests/unit/noise_vectors.h"
#include "tests/unit/testutil.h"
#include "transports/identity.h"
#include "transports/chachapoly.h"
#include "transports/noise.h"

#define NVEC	 (sizeof(noise_vectors) / sizeof(noise_vectors[0]))
#define NLOW	 (sizeof(noise_low_order) / sizeof(noise_low_order[0]))
#define PROLOGUE "ferry-tcp-v1 noise-ik"
#define SS_AB	 crypto_secretstream_xchacha20poly1305_ABYTES

/* ------------------------------------------------------------ helpers */

/* A node with random keys (its X25519 pair is the Noise static pair). */
static struct identity *
rand_identity(void)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	struct identity *id = NULL;

	CU_ASSERT_FATAL(getrandom(seed, sizeof(seed), 0) ==
			(ssize_t)sizeof(seed));
	CU_ASSERT_FATAL(identity_from_seed(seed, &id) == 0);
	return id;
}

static struct noise_hs *
new_initiator(const struct identity *me, const uint8_t *rs_pk)
{
	struct noise_hs *hs = NULL;

	CU_ASSERT_FATAL(noise_ik_initiator_new(identity_kx_sk(me),
					       identity_kx_pk(me), rs_pk,
					       (const uint8_t *)PROLOGUE,
					       strlen(PROLOGUE), &hs) == 0);
	return hs;
}

static struct noise_hs *
new_responder(const struct identity *me)
{
	struct noise_hs *hs = NULL;

	CU_ASSERT_FATAL(noise_ik_responder_new(identity_kx_sk(me),
					       identity_kx_pk(me),
					       (const uint8_t *)PROLOGUE,
					       strlen(PROLOGUE), &hs) == 0);
	return hs;
}

/* One side's ciphers after a handshake. */
struct side {
	struct noise_cipher *send;
	struct noise_cipher *recv;
	uint8_t h[NOISE_KEY];
};

static void
side_free(struct side *s)
{
	noise_cipher_free(s->send);
	noise_cipher_free(s->recv);
	memset(s, 0, sizeof(*s));
}

/* A full handshake between ini and resp with empty payloads. */
static void
handshake(const struct identity *ini, const struct identity *resp,
	  struct side *i, struct side *r)
{
	uint8_t m1[NOISE_IK_MSG1_LEN], m2[NOISE_IK_MSG2_LEN], rs[NOISE_KEY];
	struct noise_hs *hi = new_initiator(ini, identity_kx_pk(resp));
	struct noise_hs *hr = new_responder(resp);
	size_t n = 0, pl = 1;

	CU_ASSERT_FATAL(noise_hs_write(hi, NULL, 0, m1, sizeof(m1), &n) == 0);
	CU_ASSERT_FATAL(n == NOISE_IK_MSG1_LEN);
	CU_ASSERT_FATAL(noise_hs_read(hr, m1, n, NULL, 0, &pl) == 0);
	CU_ASSERT_FATAL(pl == 0);
	CU_ASSERT_FATAL(noise_hs_remote_static(hr, rs) == 0);
	CU_ASSERT_FATAL(memcmp(rs, identity_kx_pk(ini), NOISE_KEY) == 0);
	CU_ASSERT_FATAL(noise_hs_write(hr, NULL, 0, m2, sizeof(m2), &n) == 0);
	CU_ASSERT_FATAL(n == NOISE_IK_MSG2_LEN);
	pl = 1;
	CU_ASSERT_FATAL(noise_hs_read(hi, m2, n, NULL, 0, &pl) == 0);
	CU_ASSERT_FATAL(pl == 0);
	CU_ASSERT_FATAL(noise_hs_split(hi, &i->send, &i->recv, i->h) == 0);
	CU_ASSERT_FATAL(noise_hs_split(hr, &r->send, &r->recv, r->h) == 0);
	CU_ASSERT_FATAL(memcmp(i->h, r->h, NOISE_KEY) == 0);
	noise_hs_free(hi);
	noise_hs_free(hr);
}

/* The message 1 and message 2 of a fixed handshake, and the keys. */
struct fixed {
	struct identity *ini, *resp;
	uint8_t e_i[NOISE_KEY], e_r[NOISE_KEY];
	uint8_t m1[NOISE_IK_MSG1_LEN], m2[NOISE_IK_MSG2_LEN];
};

/* An initiator with the fixed ephemeral, message 1 written. */
static struct noise_hs *
fixed_initiator(const struct fixed *f)
{
	uint8_t m1[NOISE_IK_MSG1_LEN];
	struct noise_hs *hi = new_initiator(f->ini, identity_kx_pk(f->resp));
	size_t n = 0;

	CU_ASSERT_FATAL(noise_hs_set_ephemeral(hi, f->e_i) == 0);
	CU_ASSERT_FATAL(noise_hs_write(hi, NULL, 0, m1, sizeof(m1), &n) == 0);
	CU_ASSERT_FATAL(memcmp(m1, f->m1, sizeof(m1)) == 0);
	return hi;
}

static void
fixed_init(struct fixed *f)
{
	struct noise_hs *hi, *hr;
	size_t n = 0, pl = 0;

	memset(f, 0, sizeof(*f));
	f->ini = rand_identity();
	f->resp = rand_identity();
	CU_ASSERT_FATAL(getrandom(f->e_i, NOISE_KEY, 0) == NOISE_KEY);
	CU_ASSERT_FATAL(getrandom(f->e_r, NOISE_KEY, 0) == NOISE_KEY);
	hi = new_initiator(f->ini, identity_kx_pk(f->resp));
	CU_ASSERT_FATAL(noise_hs_set_ephemeral(hi, f->e_i) == 0);
	CU_ASSERT_FATAL(noise_hs_write(hi, NULL, 0, f->m1, sizeof(f->m1), &n) ==
			0);
	hr = new_responder(f->resp);
	CU_ASSERT_FATAL(noise_hs_set_ephemeral(hr, f->e_r) == 0);
	CU_ASSERT_FATAL(noise_hs_read(hr, f->m1, n, NULL, 0, &pl) == 0);
	CU_ASSERT_FATAL(noise_hs_write(hr, NULL, 0, f->m2, sizeof(f->m2), &n) ==
			0);
	noise_hs_free(hi);
	noise_hs_free(hr);
}

static void
fixed_cleanup(struct fixed *f)
{
	identity_free(f->ini);
	identity_free(f->resp);
}

/* ------------------------------------------------------------ vectors */

static void
run_vector(const struct noise_vector *v)
{
	const uint8_t *pro = (const uint8_t *)v->prologue;
	const char *p1 = v->payload1, *p2 = v->payload2;
	size_t adlen = strlen(v->ad), n = 0, pl = 0;
	const uint8_t *ad = (const uint8_t *)v->ad;
	struct noise_hs *hi = NULL, *hr = NULL;
	struct side i = {0}, r = {0};
	uint8_t buf[256], out[256], rs[NOISE_KEY];

	CU_ASSERT_FATAL(noise_ik_initiator_new(v->init_s_sk, v->init_s_pk,
					       v->resp_s_pk, pro,
					       v->prologue_len, &hi) == 0);
	CU_ASSERT_FATAL(noise_ik_responder_new(v->resp_s_sk, v->resp_s_pk, pro,
					       v->prologue_len, &hr) == 0);
	CU_ASSERT_FATAL(noise_hs_set_ephemeral(hi, v->init_e_sk) == 0);
	CU_ASSERT_FATAL(noise_hs_set_ephemeral(hr, v->resp_e_sk) == 0);

	/* message 1, byte for byte, and its payload */
	CU_ASSERT_FATAL(noise_hs_write(hi, (const uint8_t *)p1, strlen(p1), buf,
				       sizeof(buf), &n) == 0);
	CU_ASSERT_EQUAL_FATAL(n, v->msg1_len);
	CU_ASSERT(memcmp(buf, v->msg1, n) == 0);
	CU_ASSERT_FATAL(noise_hs_read(hr, v->msg1, v->msg1_len, out,
				      sizeof(out), &pl) == 0);
	CU_ASSERT(pl == strlen(p1) && memcmp(out, p1, pl) == 0);
	CU_ASSERT_FATAL(noise_hs_remote_static(hr, rs) == 0);
	CU_ASSERT(memcmp(rs, v->init_s_pk, NOISE_KEY) == 0);

	/* message 2 */
	CU_ASSERT_FATAL(noise_hs_write(hr, (const uint8_t *)p2, strlen(p2), buf,
				       sizeof(buf), &n) == 0);
	CU_ASSERT_EQUAL_FATAL(n, v->msg2_len);
	CU_ASSERT(memcmp(buf, v->msg2, n) == 0);
	CU_ASSERT_FATAL(noise_hs_read(hi, v->msg2, v->msg2_len, out,
				      sizeof(out), &pl) == 0);
	CU_ASSERT(pl == strlen(p2) && memcmp(out, p2, pl) == 0);

	/* handshake hash */
	CU_ASSERT_FATAL(noise_hs_split(hi, &i.send, &i.recv, i.h) == 0);
	CU_ASSERT_FATAL(noise_hs_split(hr, &r.send, &r.recv, r.h) == 0);
	CU_ASSERT(memcmp(i.h, v->h, NOISE_KEY) == 0);
	CU_ASSERT(memcmp(r.h, v->h, NOISE_KEY) == 0);

	/* transport both ways; Rekey() on all four ciphers before [2] */
	for (int k = 0; k < NOISE_VECTOR_NTR; k++) {
		size_t li = strlen(v->pt_i[k]), lr = strlen(v->pt_r[k]);

		if (k == 2) {
			CU_ASSERT(noise_rekey(i.send) == 0);
			CU_ASSERT(noise_rekey(i.recv) == 0);
			CU_ASSERT(noise_rekey(r.send) == 0);
			CU_ASSERT(noise_rekey(r.recv) == 0);
			CU_ASSERT(noise_nonce(i.send) == 2); /* kept */
		}
		CU_ASSERT_FATAL(noise_encrypt(i.send, ad, adlen,
					      (const uint8_t *)v->pt_i[k], li,
					      buf, sizeof(buf), &n) == 0);
		CU_ASSERT(n == li + NOISE_TAG);
		CU_ASSERT(memcmp(buf, v->ct_i[k], n) == 0);
		CU_ASSERT(noise_decrypt(r.recv, ad, adlen, v->ct_i[k], n, out,
					sizeof(out), &pl) == 0);
		CU_ASSERT(pl == li && memcmp(out, v->pt_i[k], li) == 0);

		CU_ASSERT_FATAL(noise_encrypt(r.send, ad, adlen,
					      (const uint8_t *)v->pt_r[k], lr,
					      buf, sizeof(buf), &n) == 0);
		CU_ASSERT(memcmp(buf, v->ct_r[k], n) == 0);
		CU_ASSERT(noise_decrypt(i.recv, ad, adlen, v->ct_r[k], n, out,
					sizeof(out), &pl) == 0);
		CU_ASSERT(pl == lr && memcmp(out, v->pt_r[k], lr) == 0);
	}

	/* the last usable nonce, then none */
	CU_ASSERT(noise_cipher_set_nonce(i.send, UINT64_MAX - 1) == 0);
	CU_ASSERT(noise_cipher_set_nonce(r.recv, UINT64_MAX - 1) == 0);
	n = strlen(v->pt_last);
	CU_ASSERT_FATAL(noise_encrypt(i.send, ad, adlen,
				      (const uint8_t *)v->pt_last, n, buf,
				      sizeof(buf), &n) == 0);
	CU_ASSERT(memcmp(buf, v->ct_last, n) == 0);
	CU_ASSERT(noise_decrypt(r.recv, ad, adlen, v->ct_last, n, out,
				sizeof(out), &pl) == 0);
	CU_ASSERT(pl == strlen(v->pt_last));
	CU_ASSERT(noise_nonce(i.send) == UINT64_MAX);
	CU_ASSERT_EQUAL(
	    noise_encrypt(i.send, NULL, 0, NULL, 0, buf, sizeof(buf), &n),
	    FERRY_ESTATE);
	CU_ASSERT_EQUAL(noise_decrypt(r.recv, ad, adlen, v->ct_last,
				      NOISE_TAG + strlen(v->pt_last), out,
				      sizeof(out), &pl),
			FERRY_ESTATE);
	side_free(&i);
	side_free(&r);
	noise_hs_free(hi);
	noise_hs_free(hr);
}

static void
test_vectors_match_dissononce(void)
{
	for (size_t k = 0; k < NVEC; k++)
		run_vector(&noise_vectors[k]);
}

/* The fixed keys give the same public keys as Python's X25519. */
static void
test_vectors_static_pairs_match(void)
{
	struct noise_hs *hs = NULL;
	const struct noise_vector *v = &noise_vectors[0];

	/* A pair that does not belong together is refused at once. */
	CU_ASSERT_EQUAL(
	    noise_ik_responder_new(v->init_s_sk, v->resp_s_pk, NULL, 0, &hs),
	    FERRY_EINVAL);
	CU_ASSERT_PTR_NULL(hs);
	CU_ASSERT(noise_ik_responder_new(v->resp_s_sk, v->resp_s_pk, NULL, 0,
					 &hs) == 0);
	noise_hs_free(hs);
}

/* ---------------------------------------------------------- handshake */

static void
test_round_trip_random_keys(void)
{
	struct identity *a = rand_identity(), *b = rand_identity();
	struct side i = {0}, r = {0};
	uint8_t buf[NOISE_MAX_MSG], out[NOISE_MAX_MSG], msg[1000];
	size_t n = 0, pl = 0;

	handshake(a, b, &i, &r);
	for (int k = 0; k < 10; k++) {
		size_t len = (size_t)k * 97;
		memset(msg, 'a' + k, len);
		CU_ASSERT_FATAL(noise_encrypt(i.send, NULL, 0, msg, len, buf,
					      sizeof(buf), &n) == 0);
		CU_ASSERT_FATAL(noise_decrypt(r.recv, NULL, 0, buf, n, out,
					      sizeof(out), &pl) == 0);
		CU_ASSERT(pl == len && memcmp(out, msg, len) == 0);
		CU_ASSERT_FATAL(noise_encrypt(r.send, NULL, 0, msg, len, buf,
					      sizeof(buf), &n) == 0);
		CU_ASSERT_FATAL(noise_decrypt(i.recv, NULL, 0, buf, n, out,
					      sizeof(out), &pl) == 0);
		CU_ASSERT(pl == len && memcmp(out, msg, len) == 0);
	}
	CU_ASSERT(noise_nonce(i.send) == 10 && noise_nonce(i.recv) == 10);
	CU_ASSERT(noise_nonce(r.send) == 10 && noise_nonce(r.recv) == 10);
	/* each direction has its own key */
	CU_ASSERT_FATAL(
	    noise_encrypt(i.send, NULL, 0, msg, 8, buf, sizeof(buf), &n) == 0);
	CU_ASSERT_EQUAL(
	    noise_decrypt(i.recv, NULL, 0, buf, n, out, sizeof(out), &pl),
	    FERRY_ECORRUPT);
	/* a second handshake between the same nodes has a fresh hash */
	{
		struct side i2 = {0}, r2 = {0};
		handshake(a, b, &i2, &r2);
		CU_ASSERT(memcmp(i.h, i2.h, NOISE_KEY) != 0);
		side_free(&i2);
		side_free(&r2);
	}
	side_free(&i);
	side_free(&r);
	identity_free(a);
	identity_free(b);
}

/* IK: the initiator's es uses rs, so a wrong rs fails on message 1. */
static void
test_wrong_responder_key_fails(void)
{
	struct identity *a = rand_identity(), *b = rand_identity();
	struct identity *c = rand_identity();
	struct noise_hs *hi = new_initiator(a, identity_kx_pk(c));
	struct noise_hs *hr = new_responder(b);
	uint8_t m1[NOISE_IK_MSG1_LEN], m2[NOISE_IK_MSG2_LEN], rs[NOISE_KEY];
	size_t n = 0, pl = 0;

	CU_ASSERT_FATAL(noise_hs_write(hi, NULL, 0, m1, sizeof(m1), &n) == 0);
	CU_ASSERT_EQUAL(noise_hs_read(hr, m1, n, NULL, 0, &pl), FERRY_ECORRUPT);
	/* dead: nothing learnt, nothing more to do */
	CU_ASSERT_EQUAL(noise_hs_remote_static(hr, rs), FERRY_ESTATE);
	CU_ASSERT_EQUAL(noise_hs_write(hr, NULL, 0, m2, sizeof(m2), &n),
			FERRY_ESTATE);
	noise_hs_free(hi);
	noise_hs_free(hr);
	identity_free(a);
	identity_free(b);
	identity_free(c);
}

static void
test_wrong_prologue_fails(void)
{
	struct identity *a = rand_identity(), *b = rand_identity();
	struct noise_hs *hi = new_initiator(a, identity_kx_pk(b));
	struct noise_hs *hr = NULL;
	uint8_t m1[NOISE_IK_MSG1_LEN];
	size_t n = 0, pl = 0;

	CU_ASSERT_FATAL(noise_ik_responder_new(
			    identity_kx_sk(b), identity_kx_pk(b),
			    (const uint8_t *)"ferry-tcp-v2", 12, &hr) == 0);
	CU_ASSERT_FATAL(noise_hs_write(hi, NULL, 0, m1, sizeof(m1), &n) == 0);
	CU_ASSERT_EQUAL(noise_hs_read(hr, m1, n, NULL, 0, &pl), FERRY_ECORRUPT);
	noise_hs_free(hi);
	noise_hs_free(hr);
	identity_free(a);
	identity_free(b);
}

/*
 * Every bit of message 1 matters: e is hashed into h, which authenticates
 * the encrypted s (so even bit 255 of e, which X25519 ignores, fails the
 * tag); the encrypted s and the payload tag are AEAD output.
 */
static void
test_msg1_every_bit_flip_fails(void)
{
	struct fixed f;
	int fails = 0;

	fixed_init(&f);
	for (size_t bit = 0; bit < 8 * sizeof(f.m1); bit++) {
		struct noise_hs *hr = new_responder(f.resp);
		uint8_t m[NOISE_IK_MSG1_LEN], rs[NOISE_KEY];
		size_t pl = 0;
		int rc;

		memcpy(m, f.m1, sizeof(m));
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		rc = noise_hs_read(hr, m, sizeof(m), NULL, 0, &pl);
		if (rc == FERRY_ECORRUPT || rc == FERRY_EPROTO)
			fails++;
		CU_ASSERT_EQUAL(noise_hs_remote_static(hr, rs), FERRY_ESTATE);
		noise_hs_free(hr);
	}
	CU_ASSERT_EQUAL(fails, 8 * NOISE_IK_MSG1_LEN);
	fixed_cleanup(&f);
}

/* Message 2: e is hashed into h, the AD of the payload tag. */
static void
test_msg2_every_bit_flip_fails(void)
{
	struct fixed f;
	int fails = 0;

	fixed_init(&f);
	for (size_t bit = 0; bit < 8 * sizeof(f.m2); bit++) {
		struct noise_hs *hi = fixed_initiator(&f);
		struct noise_cipher *s = NULL, *r = NULL;
		uint8_t m[NOISE_IK_MSG2_LEN];
		size_t pl = 0;
		int rc;

		memcpy(m, f.m2, sizeof(m));
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		rc = noise_hs_read(hi, m, sizeof(m), NULL, 0, &pl);
		if (rc == FERRY_ECORRUPT || rc == FERRY_EPROTO)
			fails++;
		CU_ASSERT_EQUAL(noise_hs_split(hi, &s, &r, NULL), FERRY_ESTATE);
		CU_ASSERT_PTR_NULL(s);
		noise_hs_free(hi);
	}
	CU_ASSERT_EQUAL(fails, 8 * NOISE_IK_MSG2_LEN);
	/* and the unflipped message still completes */
	{
		struct noise_hs *hi = fixed_initiator(&f);
		size_t pl = 0;
		CU_ASSERT(noise_hs_read(hi, f.m2, sizeof(f.m2), NULL, 0, &pl) ==
			  0);
		noise_hs_free(hi);
	}
	fixed_cleanup(&f);
}

static void
test_handshake_truncations_fail(void)
{
	static uint8_t big[NOISE_MAX_MSG + 1];
	struct fixed f;
	size_t pl = 0;

	fixed_init(&f);
	/* too short: refused before any work; one extra byte: a bad tag */
	for (size_t len = 0; len <= sizeof(f.m1) + 1; len++) {
		struct noise_hs *hr = new_responder(f.resp);
		uint8_t m[NOISE_IK_MSG1_LEN + 1], p[1];
		int want = len < sizeof(f.m1)	 ? FERRY_EPROTO
			   : len == sizeof(f.m1) ? 0
						 : FERRY_ECORRUPT;

		memcpy(m, f.m1, sizeof(f.m1));
		m[sizeof(f.m1)] = 0;
		CU_ASSERT_EQUAL(noise_hs_read(hr, m, len, p, sizeof(p), &pl),
				want);
		noise_hs_free(hr);
	}
	for (size_t len = 0; len <= sizeof(f.m2) + 1; len++) {
		struct noise_hs *hi = fixed_initiator(&f);
		uint8_t m[NOISE_IK_MSG2_LEN + 1], p[1];
		int want = len < sizeof(f.m2)	 ? FERRY_EPROTO
			   : len == sizeof(f.m2) ? 0
						 : FERRY_ECORRUPT;

		memcpy(m, f.m2, sizeof(f.m2));
		m[sizeof(f.m2)] = 0;
		CU_ASSERT_EQUAL(noise_hs_read(hi, m, len, p, sizeof(p), &pl),
				want);
		noise_hs_free(hi);
	}
	/* above the Noise limit */
	{
		struct noise_hs *hr = new_responder(f.resp);
		memcpy(big, f.m1, sizeof(f.m1));
		CU_ASSERT_EQUAL(
		    noise_hs_read(hr, big, sizeof(big), big, sizeof(big), &pl),
		    FERRY_EPROTO);
		noise_hs_free(hr);
	}
	fixed_cleanup(&f);
}

/* Copy p into a key, optionally with bit 255 set (X25519 ignores it). */
static void
low_point(uint8_t out[NOISE_KEY], size_t k, int high)
{
	memcpy(out, noise_low_order[k], NOISE_KEY);
	if (high)
		out[31] |= 0x80;
}

/* A small-order e gives DH results of zero: refused (EPROTO), never tried
 * as a key. */
static void
test_low_order_ephemeral_refused(void)
{
	struct fixed f;

	fixed_init(&f);
	for (size_t k = 0; k < NLOW; k++) {
		for (int high = 0; high < 2; high++) {
			uint8_t m1[NOISE_IK_MSG1_LEN], m2[NOISE_IK_MSG2_LEN];
			struct noise_hs *hr = new_responder(f.resp);
			struct noise_hs *hi = fixed_initiator(&f);
			size_t pl = 0;

			memcpy(m1, f.m1, sizeof(m1));
			low_point(m1, k, high);
			CU_ASSERT_EQUAL(
			    noise_hs_read(hr, m1, sizeof(m1), NULL, 0, &pl),
			    FERRY_EPROTO);
			memcpy(m2, f.m2, sizeof(m2));
			low_point(m2, k, high);
			CU_ASSERT_EQUAL(
			    noise_hs_read(hi, m2, sizeof(m2), NULL, 0, &pl),
			    FERRY_EPROTO);
			noise_hs_free(hr);
			noise_hs_free(hi);
		}
	}
	fixed_cleanup(&f);
}

/* A small-order responder key on the initiator: message 1 is not sent. */
static void
test_low_order_static_refused(void)
{
	struct identity *a = rand_identity();
	uint8_t m1[NOISE_IK_MSG1_LEN], zero[NOISE_IK_MSG1_LEN] = {0};

	for (size_t k = 0; k < NLOW; k++) {
		struct noise_hs *hi = new_initiator(a, noise_low_order[k]);
		size_t n = 0;

		memset(m1, 0xaa, sizeof(m1));
		CU_ASSERT_EQUAL(noise_hs_write(hi, NULL, 0, m1, sizeof(m1), &n),
				FERRY_EPROTO);
		CU_ASSERT(memcmp(m1, zero, sizeof(m1)) == 0); /* wiped */
		noise_hs_free(hi);
	}
	identity_free(a);
}

static void
test_calls_out_of_order_refused(void)
{
	struct identity *a = rand_identity(), *b = rand_identity();
	uint8_t m1[NOISE_IK_MSG1_LEN], m2[NOISE_IK_MSG2_LEN], rs[NOISE_KEY];
	uint8_t e[NOISE_KEY] = {1};
	struct noise_cipher *s = NULL, *r = NULL;
	struct noise_hs *hi, *hr;
	size_t n = 0, pl = 0;

	memset(m1, 0, sizeof(m1));
	memset(m2, 0, sizeof(m2));
	/* initiator reads first; responder writes first; early splits */
	hi = new_initiator(a, identity_kx_pk(b));
	CU_ASSERT_EQUAL(noise_hs_read(hi, m2, sizeof(m2), NULL, 0, &pl),
			FERRY_ESTATE);
	CU_ASSERT_EQUAL(noise_hs_write(hi, NULL, 0, m1, sizeof(m1), &n),
			FERRY_ESTATE); /* dead after the failure */
	noise_hs_free(hi);
	hr = new_responder(b);
	CU_ASSERT_EQUAL(noise_hs_remote_static(hr, rs), FERRY_ESTATE);
	CU_ASSERT_EQUAL(noise_hs_write(hr, NULL, 0, m2, sizeof(m2), &n),
			FERRY_ESTATE);
	noise_hs_free(hr);
	hi = new_initiator(a, identity_kx_pk(b));
	CU_ASSERT_EQUAL(noise_hs_split(hi, &s, &r, NULL), FERRY_ESTATE);
	noise_hs_free(hi);

	/* a turn taken twice; the ephemeral fixed too late */
	hi = new_initiator(a, identity_kx_pk(b));
	CU_ASSERT_FATAL(noise_hs_write(hi, NULL, 0, m1, sizeof(m1), &n) == 0);
	CU_ASSERT_EQUAL(noise_hs_set_ephemeral(hi, e), FERRY_ESTATE);
	noise_hs_free(hi);
	hi = new_initiator(a, identity_kx_pk(b));
	CU_ASSERT_FATAL(noise_hs_write(hi, NULL, 0, m1, sizeof(m1), &n) == 0);
	CU_ASSERT_EQUAL(noise_hs_write(hi, NULL, 0, m1, sizeof(m1), &n),
			FERRY_ESTATE);
	noise_hs_free(hi);

	/* after the split: nothing but free */
	hi = new_initiator(a, identity_kx_pk(b));
	hr = new_responder(b);
	CU_ASSERT_FATAL(noise_hs_write(hi, NULL, 0, m1, sizeof(m1), &n) == 0);
	CU_ASSERT_FATAL(noise_hs_read(hr, m1, n, NULL, 0, &pl) == 0);
	CU_ASSERT_EQUAL(noise_hs_read(hr, m1, n, NULL, 0, &pl), FERRY_ESTATE);
	noise_hs_free(hr);
	hr = new_responder(b);
	CU_ASSERT_FATAL(noise_hs_read(hr, m1, n, NULL, 0, &pl) == 0);
	CU_ASSERT_FATAL(noise_hs_write(hr, NULL, 0, m2, sizeof(m2), &n) == 0);
	CU_ASSERT_FATAL(noise_hs_split(hr, &s, &r, NULL) == 0);
	CU_ASSERT_EQUAL(noise_hs_split(hr, &s, &r, NULL), FERRY_ESTATE);
	CU_ASSERT_PTR_NULL(s); /* out-parameters cleared on failure */
	CU_ASSERT_EQUAL(noise_hs_remote_static(hr, rs), FERRY_ESTATE);
	CU_ASSERT_EQUAL(noise_hs_write(hr, NULL, 0, m2, sizeof(m2), &n),
			FERRY_ESTATE);
	noise_hs_free(hi);
	noise_hs_free(hr);
	identity_free(a);
	identity_free(b);
}

static void
test_handshake_limits_and_arguments(void)
{
	static uint8_t big[NOISE_MAX_MSG + 1];
	struct identity *a = rand_identity(), *b = rand_identity();
	uint8_t m1[NOISE_IK_MSG1_LEN + 4], p[4];
	struct noise_hs *hi, *hr = NULL;
	size_t n = 0, pl = 0;

	CU_ASSERT_EQUAL(noise_ik_initiator_new(identity_kx_sk(a),
					       identity_kx_pk(a), NULL, NULL, 0,
					       &hi),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(noise_ik_responder_new(identity_kx_sk(a),
					       identity_kx_pk(a), NULL, 3, &hr),
			FERRY_EINVAL);
	/* payload too big for a Noise message; buffer too small */
	hi = new_initiator(a, identity_kx_pk(b));
	CU_ASSERT_EQUAL(noise_hs_write(hi, big,
				       NOISE_MAX_MSG - NOISE_IK_MSG1_LEN + 1,
				       big, sizeof(big), &n),
			FERRY_ETOOBIG);
	noise_hs_free(hi);
	hi = new_initiator(a, identity_kx_pk(b));
	CU_ASSERT_EQUAL(
	    noise_hs_write(hi, NULL, 0, m1, NOISE_IK_MSG1_LEN - 1, &n),
	    FERRY_EINVAL);
	noise_hs_free(hi);
	/* the largest message 1 goes through */
	hi = new_initiator(a, identity_kx_pk(b));
	hr = new_responder(b);
	CU_ASSERT_FATAL(noise_hs_write(hi, big,
				       NOISE_MAX_MSG - NOISE_IK_MSG1_LEN, big,
				       sizeof(big), &n) == 0);
	CU_ASSERT_EQUAL(n, NOISE_MAX_MSG);
	CU_ASSERT(noise_hs_read(hr, big, n, big, sizeof(big), &pl) == 0);
	CU_ASSERT_EQUAL(pl, NOISE_MAX_MSG - NOISE_IK_MSG1_LEN);
	noise_hs_free(hi);
	noise_hs_free(hr);
	/* a payload that does not fit the reader's buffer */
	hi = new_initiator(a, identity_kx_pk(b));
	hr = new_responder(b);
	CU_ASSERT_FATAL(noise_hs_write(hi, (const uint8_t *)"four", 4, m1,
				       sizeof(m1), &n) == 0);
	CU_ASSERT_EQUAL(noise_hs_read(hr, m1, n, p, 3, &pl), FERRY_EINVAL);
	noise_hs_free(hi);
	noise_hs_free(hr);
	noise_hs_free(NULL);
	identity_free(a);
	identity_free(b);
}

/* ---------------------------------------------------------- transport */

struct session {
	struct identity *a, *b;
	struct side i, r;
};

static void
session_open(struct session *s)
{
	memset(s, 0, sizeof(*s));
	s->a = rand_identity();
	s->b = rand_identity();
	handshake(s->a, s->b, &s->i, &s->r);
}

static void
session_close(struct session *s)
{
	side_free(&s->i);
	side_free(&s->r);
	identity_free(s->a);
	identity_free(s->b);
}

static void
test_transport_every_byte_flip_fails(void)
{
	uint8_t ct[64 + NOISE_TAG], m[sizeof(ct)], out[64], zero[64] = {0};
	uint8_t pt[64];
	struct session s;
	size_t n = 0, pl = 0;

	session_open(&s);
	memset(pt, 'x', sizeof(pt));
	CU_ASSERT_FATAL(noise_encrypt(s.i.send, NULL, 0, pt, sizeof(pt), ct,
				      sizeof(ct), &n) == 0);
	for (size_t k = 0; k < sizeof(ct); k++) {
		memcpy(m, ct, sizeof(m));
		m[k] ^= 0xff;
		memset(out, 0x55, sizeof(out));
		CU_ASSERT_EQUAL(noise_decrypt(s.r.recv, NULL, 0, m, n, out,
					      sizeof(out), &pl),
				FERRY_ECORRUPT);
		CU_ASSERT(memcmp(out, zero, sizeof(out)) == 0);
		CU_ASSERT(noise_nonce(s.r.recv) == 0);
	}
	/* wrong associated data */
	CU_ASSERT_EQUAL(noise_decrypt(s.r.recv, (const uint8_t *)"ad", 2, ct, n,
				      out, sizeof(out), &pl),
			FERRY_ECORRUPT);
	CU_ASSERT(noise_decrypt(s.r.recv, NULL, 0, ct, n, out, sizeof(out),
				&pl) == 0);
	CU_ASSERT(pl == sizeof(pt) && memcmp(out, pt, pl) == 0);
	session_close(&s);
}

static void
test_transport_replay_and_reorder_fail(void)
{
	uint8_t c0[8 + NOISE_TAG], c1[8 + NOISE_TAG], out[8];
	struct session s;
	size_t n0 = 0, n1 = 0, pl = 0;

	session_open(&s);
	CU_ASSERT_FATAL(noise_encrypt(s.i.send, NULL, 0,
				      (const uint8_t *)"record-0", 8, c0,
				      sizeof(c0), &n0) == 0);
	CU_ASSERT_FATAL(noise_encrypt(s.i.send, NULL, 0,
				      (const uint8_t *)"record-1", 8, c1,
				      sizeof(c1), &n1) == 0);
	/* out of order: record 1 at nonce 0 */
	CU_ASSERT_EQUAL(
	    noise_decrypt(s.r.recv, NULL, 0, c1, n1, out, sizeof(out), &pl),
	    FERRY_ECORRUPT);
	CU_ASSERT(noise_decrypt(s.r.recv, NULL, 0, c0, n0, out, sizeof(out),
				&pl) == 0);
	/* replay: record 0 again at nonce 1 */
	CU_ASSERT_EQUAL(
	    noise_decrypt(s.r.recv, NULL, 0, c0, n0, out, sizeof(out), &pl),
	    FERRY_ECORRUPT);
	CU_ASSERT(noise_decrypt(s.r.recv, NULL, 0, c1, n1, out, sizeof(out),
				&pl) == 0);
	CU_ASSERT(memcmp(out, "record-1", 8) == 0);
	CU_ASSERT_EQUAL(
	    noise_decrypt(s.r.recv, NULL, 0, c1, n1, out, sizeof(out), &pl),
	    FERRY_ECORRUPT);
	session_close(&s);
}

static void
test_transport_truncations_fail(void)
{
	uint8_t ct[40 + NOISE_TAG], out[40];
	struct session s;
	size_t n = 0, pl = 0;

	session_open(&s);
	memset(ct, 7, sizeof(ct));
	CU_ASSERT_FATAL(noise_encrypt(s.i.send, NULL, 0, ct, 40, ct, sizeof(ct),
				      &n) == 0); /* in place */
	for (size_t len = 0; len < n; len++)
		CU_ASSERT_EQUAL(noise_decrypt(s.r.recv, NULL, 0, ct, len, out,
					      sizeof(out), &pl),
				len < NOISE_TAG ? FERRY_EPROTO
						: FERRY_ECORRUPT);
	CU_ASSERT(noise_nonce(s.r.recv) == 0);
	CU_ASSERT(noise_decrypt(s.r.recv, NULL, 0, ct, n, ct, sizeof(ct),
				&pl) == 0); /* in place */
	session_close(&s);
}

static void
test_transport_limits(void)
{
	static uint8_t buf[NOISE_MAX_MSG + 1];
	struct session s;
	size_t n = 0, pl = 0;

	session_open(&s);
	CU_ASSERT_EQUAL(noise_encrypt(s.i.send, NULL, 0, buf,
				      NOISE_MAX_MSG - NOISE_TAG + 1, buf,
				      sizeof(buf), &n),
			FERRY_ETOOBIG);
	CU_ASSERT_EQUAL(noise_encrypt(s.i.send, NULL, 0, buf, 10, buf,
				      10 + NOISE_TAG - 1, &n),
			FERRY_EINVAL);
	CU_ASSERT_FATAL(noise_encrypt(s.i.send, NULL, 0, buf,
				      NOISE_MAX_MSG - NOISE_TAG, buf,
				      sizeof(buf), &n) == 0);
	CU_ASSERT_EQUAL(n, NOISE_MAX_MSG);
	CU_ASSERT_EQUAL(
	    noise_decrypt(s.r.recv, NULL, 0, buf, n + 1, buf, sizeof(buf), &pl),
	    FERRY_ETOOBIG);
	CU_ASSERT_EQUAL(noise_decrypt(s.r.recv, NULL, 0, buf, n, buf, 100, &pl),
			FERRY_EINVAL);
	CU_ASSERT(noise_decrypt(s.r.recv, NULL, 0, buf, n, buf, sizeof(buf),
				&pl) == 0);
	CU_ASSERT_EQUAL(pl, NOISE_MAX_MSG - NOISE_TAG);
	/* an empty record is a tag alone */
	CU_ASSERT_FATAL(noise_encrypt(s.r.send, NULL, 0, NULL, 0, buf,
				      sizeof(buf), &n) == 0);
	CU_ASSERT_EQUAL(n, NOISE_TAG);
	CU_ASSERT(noise_decrypt(s.i.recv, NULL, 0, buf, n, NULL, 0, &pl) == 0);
	CU_ASSERT_EQUAL(pl, 0);
	session_close(&s);
}

/* Rekey() changes the key, keeps the nonce; both sides must do it. */
static void
test_rekey_both_sides(void)
{
	uint8_t ct[5 + NOISE_TAG], out[5];
	struct session s;
	size_t n = 0, pl = 0;

	session_open(&s);
	CU_ASSERT_FATAL(noise_encrypt(s.i.send, NULL, 0,
				      (const uint8_t *)"hello", 5, ct,
				      sizeof(ct), &n) == 0);
	CU_ASSERT(noise_decrypt(s.r.recv, NULL, 0, ct, n, out, sizeof(out),
				&pl) == 0);
	CU_ASSERT(noise_rekey(s.i.send) == 0);
	CU_ASSERT(noise_nonce(s.i.send) == 1);
	CU_ASSERT_FATAL(noise_encrypt(s.i.send, NULL, 0,
				      (const uint8_t *)"hello", 5, ct,
				      sizeof(ct), &n) == 0);
	CU_ASSERT_EQUAL(
	    noise_decrypt(s.r.recv, NULL, 0, ct, n, out, sizeof(out), &pl),
	    FERRY_ECORRUPT);
	CU_ASSERT(noise_rekey(s.r.recv) == 0);
	CU_ASSERT(noise_decrypt(s.r.recv, NULL, 0, ct, n, out, sizeof(out),
				&pl) == 0);
	CU_ASSERT(memcmp(out, "hello", 5) == 0);
	session_close(&s);
}

/* Nonce 2^64-1 is reserved; Rekey() does not bring a nonce back. */
static void
test_nonce_exhaustion(void)
{
	uint8_t ct[NOISE_TAG], out[1];
	struct session s;
	size_t n = 0, pl = 0;

	session_open(&s);
	CU_ASSERT(noise_cipher_set_nonce(s.i.send, UINT64_MAX - 1) == 0);
	CU_ASSERT(noise_cipher_set_nonce(s.r.recv, UINT64_MAX - 1) == 0);
	CU_ASSERT_FATAL(
	    noise_encrypt(s.i.send, NULL, 0, NULL, 0, ct, sizeof(ct), &n) == 0);
	CU_ASSERT_EQUAL(
	    noise_encrypt(s.i.send, NULL, 0, NULL, 0, ct, sizeof(ct), &n),
	    FERRY_ESTATE);
	CU_ASSERT(noise_rekey(s.i.send) == 0);
	CU_ASSERT(noise_nonce(s.i.send) == UINT64_MAX);
	CU_ASSERT_EQUAL(
	    noise_encrypt(s.i.send, NULL, 0, NULL, 0, ct, sizeof(ct), &n),
	    FERRY_ESTATE);
	CU_ASSERT(noise_decrypt(s.r.recv, NULL, 0, ct, sizeof(ct), out,
				sizeof(out), &pl) == 0);
	CU_ASSERT_EQUAL(noise_decrypt(s.r.recv, NULL, 0, ct, sizeof(ct), out,
				      sizeof(out), &pl),
			FERRY_ESTATE);
	CU_ASSERT_EQUAL(noise_rekey(NULL), FERRY_EINVAL);
	CU_ASSERT(noise_nonce(NULL) == 0);
	noise_cipher_free(NULL);
	session_close(&s);
}

/* ENCRYPT and DECRYPT give the same bytes whichever library computes
 * them (chachapoly.c: libcrypto, else libsodium): each opens the other's,
 * any flipped byte is refused with the output zeroed, in place too, and
 * RFC 8439 2.8.2's tag comes out of both.  The vector tests above run on
 * the default, libcrypto. */
static void
test_chachapoly_libraries_agree(void)
{
	static const size_t lens[] = {0,  1,  15, 16,	17,
				      63, 64, 65, 1000, 65519};
	static const size_t adlens[] = {0, 1, 32, 100};
	static const char sunscreen[] =
	    "Ladies and Gentlemen of the class of '99: If I could offer you "
	    "only one tip for the future, sunscreen would be it.";
	static const uint8_t rfc_tag[CHACHAPOLY_TAG] = {
	    0x1a, 0xe1, 0x0b, 0x59, 0x4f, 0x09, 0xe2, 0x6a,
	    0x7e, 0x90, 0x2e, 0xcb, 0xd0, 0x60, 0x06, 0x91};
	static const uint8_t rfc_nonce[CHACHAPOLY_NONCE] = {
	    0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47};
	static const uint8_t rfc_ad[12] = {0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1,
					   0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7};
	static uint8_t pt[65519], ad[100], a[65535], b[65535], o[65519];
	uint8_t k[CHACHAPOLY_KEY], nonce[CHACHAPOLY_NONCE];
	size_t slen = sizeof(sunscreen) - 1;

	CU_ASSERT_FATAL(getrandom(pt, sizeof(pt), 0) == (ssize_t)sizeof(pt));
	CU_ASSERT_FATAL(getrandom(ad, sizeof(ad), 0) == (ssize_t)sizeof(ad));
	CU_ASSERT_FATAL(getrandom(k, sizeof(k), 0) == (ssize_t)sizeof(k));
	CU_ASSERT_FATAL(getrandom(nonce, sizeof(nonce), 0) ==
			(ssize_t)sizeof(nonce));
	CU_ASSERT_STRING_EQUAL(chachapoly_impl(), "libcrypto");
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (size_t j = 0; j < sizeof(adlens) / sizeof(adlens[0]);
		     j++) {
			size_t n = lens[i], al = adlens[j];
			chachapoly_use_libcrypto(1);
			CU_ASSERT_EQUAL(
			    chachapoly_seal(k, nonce, ad, al, pt, n, a), 0);
			chachapoly_use_libcrypto(0);
			CU_ASSERT_STRING_EQUAL(chachapoly_impl(), "libsodium");
			CU_ASSERT_EQUAL(
			    chachapoly_seal(k, nonce, ad, al, pt, n, b), 0);
			CU_ASSERT(memcmp(a, b, n + CHACHAPOLY_TAG) == 0);
			for (int lc = 0; lc <= 1; lc++) {
				chachapoly_use_libcrypto(lc);
				memset(o, 0xee, sizeof(o));
				CU_ASSERT_EQUAL(
				    chachapoly_open(k, nonce, ad, al, a,
						    n + CHACHAPOLY_TAG, o),
				    0);
				CU_ASSERT(n == 0 || memcmp(o, pt, n) == 0);
				/* A flipped byte: refused, nothing left. */
				a[(n + CHACHAPOLY_TAG) / 2] ^= 0x01;
				memset(o, 0xee, sizeof(o));
				CU_ASSERT_EQUAL(
				    chachapoly_open(k, nonce, ad, al, a,
						    n + CHACHAPOLY_TAG, o),
				    FERRY_ECORRUPT);
				CU_ASSERT(n == 0 ||
					  (o[0] == 0 && o[n - 1] == 0));
				a[(n + CHACHAPOLY_TAG) / 2] ^= 0x01;
				if (al > 0) {
					ad[0] ^= 0x80;
					CU_ASSERT_EQUAL(
					    chachapoly_open(k, nonce, ad, al, a,
							    n + CHACHAPOLY_TAG,
							    o),
					    FERRY_ECORRUPT);
					ad[0] ^= 0x80;
				}
				/* In place, both ways. */
				memcpy(b, pt, n);
				CU_ASSERT_EQUAL(
				    chachapoly_seal(k, nonce, ad, al, b, n, b),
				    0);
				CU_ASSERT(memcmp(a, b, n + CHACHAPOLY_TAG) ==
					  0);
				CU_ASSERT_EQUAL(
				    chachapoly_open(k, nonce, ad, al, b,
						    n + CHACHAPOLY_TAG, b),
				    0);
				CU_ASSERT(n == 0 || memcmp(b, pt, n) == 0);
			}
			CU_ASSERT_EQUAL(chachapoly_open(k, nonce, ad, al, a,
							CHACHAPOLY_TAG - 1, o),
					FERRY_ECORRUPT);
		}
	for (int lc = 0; lc <= 1; lc++) {
		uint8_t rk[CHACHAPOLY_KEY];
		for (int i = 0; i < (int)sizeof(rk); i++)
			rk[i] = (uint8_t)(0x80 + i);
		chachapoly_use_libcrypto(lc);
		CU_ASSERT_EQUAL(
		    chachapoly_seal(rk, rfc_nonce, rfc_ad, sizeof(rfc_ad),
				    (const uint8_t *)sunscreen, slen, a),
		    0);
		CU_ASSERT(memcmp(a + slen, rfc_tag, CHACHAPOLY_TAG) == 0);
	}
	chachapoly_use_libcrypto(1);
}

/* A bundle's secretstream through chachapoly_stream_push/_pull gives
 * libsodium's bytes and state: one stream of many messages (every tag,
 * lengths around the 64-byte block and the 16-byte pad, with and without
 * ad, a REKEY in the middle) pushed by libsodium, by libcrypto and by
 * the stream functions with libcrypto off: the same ciphertexts; each is
 * pulled by the other library with the tags back; a flipped byte, a
 * wrong ad or a message out of order is refused with the output zeroed
 * and the state unchanged (the right message still opens after). */
static void
test_chachapoly_stream_matches_libsodium(void)
{
	static const size_t lens[] = {0,   1,	  15, 16, 17,	 47,
				      48,  63,	  64, 65, 1000,	 4096,
				      100, 65536, 1,  0,  70000, 3};
	enum { N = sizeof(lens) / sizeof(lens[0]), MAXL = 70000 };
	static uint8_t pt[MAXL], ref[N][MAXL + SS_AB], got[MAXL + SS_AB];
	static uint8_t out[MAXL];
	crypto_secretstream_xchacha20poly1305_state s0, s1, s2, p;
	uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	uint8_t hdr[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	uint8_t ad[21], tags[N], tag;

	CU_ASSERT_FATAL(getrandom(pt, sizeof(pt), 0) == (ssize_t)sizeof(pt));
	CU_ASSERT_FATAL(getrandom(key, sizeof(key), 0) == (ssize_t)sizeof(key));
	CU_ASSERT_FATAL(getrandom(ad, sizeof(ad), 0) == (ssize_t)sizeof(ad));
	CU_ASSERT_FATAL(crypto_secretstream_xchacha20poly1305_init_push(
			    &s0, hdr, key) == 0);
	s1 = s2 = s0;
	for (size_t i = 0; i < N; i++) {
		unsigned long long clen = 0;
		size_t n = lens[i], al = i % 3 == 1 ? sizeof(ad) : 0;
		tags[i] =
		    i == N - 1 ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
		    : i == 7   ? crypto_secretstream_xchacha20poly1305_TAG_REKEY
		    : i % 5 == 4
			? crypto_secretstream_xchacha20poly1305_TAG_PUSH
			: crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
		CU_ASSERT_EQUAL(
		    crypto_secretstream_xchacha20poly1305_push(
			&s0, ref[i], &clen, pt, n, al ? ad : NULL, al, tags[i]),
		    0);
		CU_ASSERT_EQUAL(clen, n + SS_AB);
		chachapoly_use_libcrypto(1);
		CU_ASSERT_EQUAL(
		    chachapoly_stream_push(&s1, got, pt, n, ad, al, tags[i]),
		    0);
		CU_ASSERT(memcmp(got, ref[i], n + SS_AB) == 0);
		chachapoly_use_libcrypto(0);
		CU_ASSERT_EQUAL(
		    chachapoly_stream_push(&s2, got, pt, n, ad, al, tags[i]),
		    0);
		CU_ASSERT(memcmp(got, ref[i], n + SS_AB) == 0);
	}
	CU_ASSERT(memcmp(&s0, &s1, sizeof(s0)) == 0);
	for (int lc = 0; lc <= 1; lc++) {
		chachapoly_use_libcrypto(lc);
		CU_ASSERT_FATAL(crypto_secretstream_xchacha20poly1305_init_pull(
				    &p, hdr, key) == 0);
		for (size_t i = 0; i < N; i++) {
			size_t n = lens[i], al = i % 3 == 1 ? sizeof(ad) : 0;
			crypto_secretstream_xchacha20poly1305_state keep = p;
			/* Damaged: refused, zeroed, the state as it was. */
			ref[i][(n + SS_AB) / 2] ^= 0x10;
			memset(out, 0xee, n);
			CU_ASSERT_EQUAL(
			    chachapoly_stream_pull(&p, out, &tag, ref[i],
						   n + SS_AB, ad, al),
			    FERRY_ECORRUPT);
			CU_ASSERT(n == 0 || (out[0] == 0 && out[n - 1] == 0));
			CU_ASSERT(memcmp(&keep, &p, sizeof(p)) == 0);
			ref[i][(n + SS_AB) / 2] ^= 0x10;
			if (i + 1 < N)
				CU_ASSERT_EQUAL(
				    chachapoly_stream_pull(
					&p, out, &tag, ref[i + 1],
					lens[i + 1] + SS_AB, ad,
					(i + 1) % 3 == 1 ? sizeof(ad) : 0),
				    FERRY_ECORRUPT);
			if (al > 0)
				CU_ASSERT_EQUAL(chachapoly_stream_pull(
						    &p, out, &tag, ref[i],
						    n + SS_AB, ad, al - 1),
						FERRY_ECORRUPT);
			tag = 0xee;
			CU_ASSERT_EQUAL(
			    chachapoly_stream_pull(&p, out, &tag, ref[i],
						   n + SS_AB, ad, al),
			    0);
			CU_ASSERT_EQUAL(tag, tags[i]);
			CU_ASSERT(n == 0 || memcmp(out, pt, n) == 0);
		}
		CU_ASSERT(memcmp(&p, &s0, sizeof(p)) == 0);
		CU_ASSERT_EQUAL(chachapoly_stream_pull(&p, out, &tag, ref[0],
						       SS_AB - 1, NULL, 0),
				FERRY_ECORRUPT);
	}
	chachapoly_use_libcrypto(1);
}

/* ---------------------------------------------------------------- main */

static void
add_tests(void)
{
	CU_pSuite v = CU_add_suite("noise vectors", NULL, NULL);
	CU_pSuite h = CU_add_suite("noise handshake", NULL, NULL);
	CU_pSuite t = CU_add_suite("noise transport", NULL, NULL);

	if (v == NULL || h == NULL || t == NULL)
		abort();
	TEST_ADD(v, test_vectors_match_dissononce);
	TEST_ADD(v, test_vectors_static_pairs_match);
	TEST_ADD(h, test_round_trip_random_keys);
	TEST_ADD(h, test_wrong_responder_key_fails);
	TEST_ADD(h, test_wrong_prologue_fails);
	TEST_ADD(h, test_msg1_every_bit_flip_fails);
	TEST_ADD(h, test_msg2_every_bit_flip_fails);
	TEST_ADD(h, test_handshake_truncations_fail);
	TEST_ADD(h, test_low_order_ephemeral_refused);
	TEST_ADD(h, test_low_order_static_refused);
	TEST_ADD(h, test_calls_out_of_order_refused);
	TEST_ADD(h, test_handshake_limits_and_arguments);
	TEST_ADD(t, test_transport_every_byte_flip_fails);
	TEST_ADD(t, test_transport_replay_and_reorder_fail);
	TEST_ADD(t, test_transport_truncations_fail);
	TEST_ADD(t, test_transport_limits);
	TEST_ADD(t, test_rekey_both_sides);
	TEST_ADD(t, test_nonce_exhaustion);
	TEST_ADD(t, test_chachapoly_libraries_agree);
	TEST_ADD(t, test_chachapoly_stream_matches_libsodium);
}

int
main(void)
{
	return test_main("test_transports_noise", add_tests);
}
