/*
 * seal.c - sealed payloads: the format, the streaming encryptor and the
 * decryptor that starts at any offset (seal.h; docs/routing.md, "Sealed
 * payloads").
 *
 * Keys:
 *   eph_sk = BLAKE2b-256(key = my_kx_sk,
 *                        "ferry-seal-eph-v1" || id || dst_kx_pk)
 *   eph_pk = X25519(eph_sk, base)
 *   shared = X25519(eph_sk, dst_kx_pk)          (never all zero)
 *   h      = BLAKE2b-512(key = shared,
 *                        "ferry-seal-v1" || eph_pk || dst_kx_pk || id)
 *   key = h[0..32), n0 = h[32..48)
 * Chunk i: XChaCha20-Poly1305 (IETF) under key, nonce n0 || u64be(i),
 * additional data id || u64be(i) || u8(final).  The index in the nonce
 * and the data stops reordering, the final byte stops truncation at a
 * chunk boundary, the id stops moving a payload to another message.
 * eph_sk is a function of the message, not random: a resent message
 * seals to the same bytes, and the sender needs no state to do so.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/seal.h"

#define SEAL_EPH_LABEL "ferry-seal-eph-v1"
#define SEAL_KDF_LABEL "ferry-seal-v1"
#define SEAL_N0_LEN    16u
#define SEAL_AD_LEN    (FERRY_ID_LEN + 8u + 1u)
#define SEAL_FULL      (SEAL_CHUNK + SEAL_TAG)

/* What both directions share; in sodium_malloc() memory (keys). */
struct seal_keys {
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
	uint8_t n0[SEAL_N0_LEN];
	uint8_t id[FERRY_ID_LEN];
	uint8_t eph_pk[SEAL_KEY_LEN];
};

struct seal_enc {
	struct seal_keys k;
	uint8_t buf[SEAL_FULL]; /* the chunk being filled, sealed in place */
	size_t fill;
	uint64_t idx, fed;
	int head_sent, done;
};

struct seal_dec {
	struct seal_keys k;
	uint8_t buf[SEAL_FULL]; /* the chunk being read, opened in place */
	struct seal_src src;
	uint64_t plain_len, nchunks, idx;
	size_t have, pos; /* plaintext bytes in buf, and read of them */
};

static uint64_t
nchunks_of(uint64_t plain)
{
	return plain == 0 ? 1 : plain / SEAL_CHUNK + (plain % SEAL_CHUNK != 0);
}

uint64_t
seal_sealed_len(uint64_t plain)
{
	uint64_t n = nchunks_of(plain);

	if (plain > UINT64_MAX - SEAL_HEAD_LEN - SEAL_TAG * n)
		return 0;
	return SEAL_HEAD_LEN + plain + SEAL_TAG * n;
}

int
seal_plain_len(uint64_t sealed, uint64_t *plain)
{
	uint64_t body, q, r;

	if (sealed < SEAL_HEAD_LEN + SEAL_TAG)
		return FERRY_ECORRUPT;
	body = sealed - SEAL_HEAD_LEN;
	q = body / SEAL_FULL;
	r = body % SEAL_FULL;
	if (r == 0) {
		*plain = q * SEAL_CHUNK; /* every chunk full */
		return 0;
	}
	/* A last short chunk: at least its tag, and empty only when it is
	 * the only chunk (k * SEAL_CHUNK bytes make k full chunks). */
	if (r < SEAL_TAG || (r == SEAL_TAG && q != 0))
		return FERRY_ECORRUPT;
	*plain = q * SEAL_CHUNK + (r - SEAL_TAG);
	return 0;
}

/* key and n0 from shared and the transcript (eph_pk and id set). */
static int
keys_derive(struct seal_keys *k, const uint8_t shared[SEAL_KEY_LEN],
	    const uint8_t dst_pk[SEAL_KEY_LEN])
{
	crypto_generichash_state st;
	uint8_t h[64];

	if (sodium_is_zero(shared, SEAL_KEY_LEN))
		return FERRY_EINVAL;
	if (crypto_generichash_init(&st, shared, SEAL_KEY_LEN, sizeof(h)) !=
		0 ||
	    crypto_generichash_update(&st, (const uint8_t *)SEAL_KDF_LABEL,
				      strlen(SEAL_KDF_LABEL)) != 0 ||
	    crypto_generichash_update(&st, k->eph_pk, SEAL_KEY_LEN) != 0 ||
	    crypto_generichash_update(&st, dst_pk, SEAL_KEY_LEN) != 0 ||
	    crypto_generichash_update(&st, k->id, FERRY_ID_LEN) != 0 ||
	    crypto_generichash_final(&st, h, sizeof(h)) != 0) {
		sodium_memzero(&st, sizeof(st));
		return FERRY_EINVAL;
	}
	memcpy(k->key, h, sizeof(k->key));
	memcpy(k->n0, h + sizeof(k->key), sizeof(k->n0));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(&st, sizeof(st));
	return 0;
}

static void
nonce_ad(const struct seal_keys *k, uint64_t idx, int final,
	 uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES],
	 uint8_t ad[SEAL_AD_LEN])
{
	memcpy(nonce, k->n0, SEAL_N0_LEN);
	memcpy(ad, k->id, FERRY_ID_LEN);
	for (int i = 0; i < 8; i++) {
		uint8_t b = (uint8_t)(idx >> (56 - 8 * i));
		nonce[SEAL_N0_LEN + i] = b;
		ad[FERRY_ID_LEN + i] = b;
	}
	ad[SEAL_AD_LEN - 1] = final ? 1 : 0;
}

/* ---------------------------------------------------------- sealing */

int
seal_enc_new(const uint8_t my_kx_sk[SEAL_KEY_LEN],
	     const uint8_t dst_kx_pk[SEAL_KEY_LEN],
	     const uint8_t id[FERRY_ID_LEN], struct seal_enc **out)
{
	crypto_generichash_state st;
	uint8_t eph_sk[SEAL_KEY_LEN], shared[SEAL_KEY_LEN];
	struct seal_enc *e;
	int rc = FERRY_EINVAL;

	*out = NULL;
	e = sodium_malloc(sizeof(*e));
	if (e == NULL)
		return FERRY_ENOMEM;
	memset(e, 0, sizeof(*e));
	memcpy(e->k.id, id, FERRY_ID_LEN);
	if (crypto_generichash_init(&st, my_kx_sk, SEAL_KEY_LEN,
				    sizeof(eph_sk)) != 0 ||
	    crypto_generichash_update(&st, (const uint8_t *)SEAL_EPH_LABEL,
				      strlen(SEAL_EPH_LABEL)) != 0 ||
	    crypto_generichash_update(&st, id, FERRY_ID_LEN) != 0 ||
	    crypto_generichash_update(&st, dst_kx_pk, SEAL_KEY_LEN) != 0 ||
	    crypto_generichash_final(&st, eph_sk, sizeof(eph_sk)) != 0)
		goto out;
	if (crypto_scalarmult_base(e->k.eph_pk, eph_sk) != 0 ||
	    crypto_scalarmult(shared, eph_sk, dst_kx_pk) != 0)
		goto out; /* a low-order destination key */
	rc = keys_derive(&e->k, shared, dst_kx_pk);
out:
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(eph_sk, sizeof(eph_sk));
	sodium_memzero(shared, sizeof(shared));
	if (rc != 0)
		sodium_free(e);
	else
		*out = e;
	return rc;
}

void
seal_enc_free(struct seal_enc *e)
{
	if (e != NULL)
		sodium_free(e); /* wipes */
}

uint64_t
seal_enc_fed(const struct seal_enc *e)
{
	return e->fed;
}

static int
enc_head(struct seal_enc *e, seal_out_fn out, void *arg)
{
	uint8_t head[SEAL_HEAD_LEN];

	if (e->head_sent)
		return 0;
	memcpy(head, SEAL_MAGIC, 4);
	memcpy(head + 4, e->k.eph_pk, SEAL_KEY_LEN);
	e->head_sent = 1;
	return out(arg, head, sizeof(head));
}

/* Seal the buffered chunk in place and send it on. */
static int
enc_chunk(struct seal_enc *e, int final, seal_out_fn out, void *arg)
{
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	uint8_t ad[SEAL_AD_LEN];
	unsigned long long clen = 0;
	int rc;

	nonce_ad(&e->k, e->idx, final, nonce, ad);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(
		e->buf, &clen, e->buf, e->fill, ad, sizeof(ad), NULL, nonce,
		e->k.key) != 0)
		return FERRY_EINVAL;
	rc = out(arg, e->buf, (size_t)clen);
	sodium_memzero(e->buf, sizeof(e->buf));
	e->fill = 0;
	e->idx++;
	return rc;
}

int
seal_enc_update(struct seal_enc *e, const uint8_t *p, size_t n, seal_out_fn out,
		void *arg)
{
	int rc;

	if (e->done)
		return FERRY_ESTATE;
	if ((rc = enc_head(e, out, arg)) != 0)
		return rc;
	while (n > 0) {
		size_t take;

		/* A full chunk is sealed only once more follows: whether it
		 * is the final one is not known before. */
		if (e->fill == SEAL_CHUNK && (rc = enc_chunk(e, 0, out, arg)))
			return rc;
		take = SEAL_CHUNK - e->fill;
		if (take > n)
			take = n;
		memcpy(e->buf + e->fill, p, take);
		e->fill += take;
		e->fed += take;
		p += take;
		n -= take;
	}
	return 0;
}

int
seal_enc_final(struct seal_enc *e, seal_out_fn out, void *arg)
{
	int rc;

	if (e->done)
		return FERRY_ESTATE;
	if ((rc = enc_head(e, out, arg)) != 0)
		return rc;
	e->done = 1;
	return enc_chunk(e, 1, out, arg);
}

struct mem_out {
	uint8_t *p;
	size_t len, cap;
};

static int
mem_put(void *arg, const uint8_t *p, size_t n)
{
	struct mem_out *m = arg;

	if (n > m->cap - m->len)
		return FERRY_EINVAL; /* our bug: seal_sealed_len disagrees */
	memcpy(m->p + m->len, p, n);
	m->len += n;
	return 0;
}

int
seal_buf(const uint8_t my_kx_sk[SEAL_KEY_LEN],
	 const uint8_t dst_kx_pk[SEAL_KEY_LEN], const uint8_t id[FERRY_ID_LEN],
	 const uint8_t *p, size_t n, uint8_t **out, size_t *out_len)
{
	struct seal_enc *e = NULL;
	struct mem_out m = {0};
	uint64_t len = seal_sealed_len(n);
	int rc;

	*out = NULL;
	*out_len = 0;
	if (len == 0 || len > SIZE_MAX)
		return FERRY_ETOOBIG;
	if ((rc = seal_enc_new(my_kx_sk, dst_kx_pk, id, &e)) != 0)
		return rc;
	m.cap = (size_t)len;
	if ((m.p = malloc(m.cap)) == NULL) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	rc = seal_enc_update(e, p, n, mem_put, &m);
	if (rc == 0)
		rc = seal_enc_final(e, mem_put, &m);
	if (rc == 0 && m.len != m.cap)
		rc = FERRY_EINVAL;
out:
	seal_enc_free(e);
	if (rc != 0) {
		free(m.p);
		return rc;
	}
	*out = m.p;
	*out_len = m.len;
	return 0;
}

/* -------------------------------------------------------- unsealing */

static int
src_full(const struct seal_src *s, uint8_t *buf, size_t len)
{
	while (len > 0) {
		size_t n = 0;
		int rc = s->read(s->arg, buf, len, &n);
		if (rc != 0)
			return rc;
		if (n == 0 || n > len)
			return FERRY_ECORRUPT; /* shorter than its length */
		buf += n;
		len -= n;
	}
	return 0;
}

/* Read and open chunk idx (the source is at its start). */
static int
dec_chunk(struct seal_dec *d, uint64_t idx)
{
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	uint8_t ad[SEAL_AD_LEN];
	unsigned long long mlen = 0;
	int final = idx + 1 == d->nchunks;
	size_t clen = SEAL_FULL;
	int rc;

	if (final)
		clen = (size_t)(d->plain_len - idx * SEAL_CHUNK) + SEAL_TAG;
	d->have = d->pos = 0;
	if ((rc = src_full(&d->src, d->buf, clen)) != 0)
		return rc;
	nonce_ad(&d->k, idx, final, nonce, ad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		d->buf, &mlen, NULL, d->buf, clen, ad, sizeof(ad), nonce,
		d->k.key) != 0)
		return FERRY_ECORRUPT;
	d->idx = idx;
	d->have = (size_t)mlen;
	return 0;
}

int
seal_dec_open(const uint8_t kx_sk[SEAL_KEY_LEN], const uint8_t id[FERRY_ID_LEN],
	      uint64_t sealed_len, uint64_t plain_off,
	      const struct seal_src *src, struct seal_dec **out)
{
	uint8_t head[SEAL_HEAD_LEN], my_pk[SEAL_KEY_LEN];
	uint8_t shared[SEAL_KEY_LEN];
	struct seal_dec *d;
	uint64_t plain, idx;
	int rc;

	*out = NULL;
	if ((rc = seal_plain_len(sealed_len, &plain)) != 0)
		return rc;
	if (plain_off > plain)
		return FERRY_EINVAL;
	if ((d = sodium_malloc(sizeof(*d))) == NULL)
		return FERRY_ENOMEM;
	memset(d, 0, sizeof(*d));
	d->src = *src;
	d->plain_len = plain;
	d->nchunks = nchunks_of(plain);
	memcpy(d->k.id, id, FERRY_ID_LEN);
	if ((rc = d->src.seek(d->src.arg, 0)) != 0 ||
	    (rc = src_full(&d->src, head, sizeof(head))) != 0)
		goto out;
	rc = FERRY_ECORRUPT;
	if (memcmp(head, SEAL_MAGIC, 4) != 0)
		goto out;
	memcpy(d->k.eph_pk, head + 4, SEAL_KEY_LEN);
	if (crypto_scalarmult_base(my_pk, kx_sk) != 0 ||
	    crypto_scalarmult(shared, kx_sk, d->k.eph_pk) != 0 ||
	    keys_derive(&d->k, shared, my_pk) != 0)
		goto out;
	idx = plain_off / SEAL_CHUNK;
	if (idx >= d->nchunks)
		idx = d->nchunks - 1; /* at the very end of full chunks */
	if (idx > 0 && (rc = d->src.seek(d->src.arg,
					 SEAL_HEAD_LEN + idx * SEAL_FULL)) != 0)
		goto out;
	if ((rc = dec_chunk(d, idx)) != 0)
		goto out;
	d->pos = (size_t)(plain_off - idx * SEAL_CHUNK);
out:
	sodium_memzero(shared, sizeof(shared));
	if (rc != 0)
		sodium_free(d);
	else
		*out = d;
	return rc;
}

int
seal_dec_read(struct seal_dec *d, uint8_t *buf, size_t cap, size_t *n)
{
	int rc;

	*n = 0;
	while (cap > 0) {
		size_t take;

		if (d->pos == d->have) {
			if (d->idx + 1 >= d->nchunks)
				break; /* the end */
			if ((rc = dec_chunk(d, d->idx + 1)) != 0)
				return rc;
			continue;
		}
		take = d->have - d->pos;
		if (take > cap)
			take = cap;
		memcpy(buf, d->buf + d->pos, take);
		d->pos += take;
		buf += take;
		cap -= take;
		*n += take;
	}
	return 0;
}

uint64_t
seal_dec_plain_len(const struct seal_dec *d)
{
	return d->plain_len;
}

void
seal_dec_free(struct seal_dec *d)
{
	if (d != NULL)
		sodium_free(d);
}
