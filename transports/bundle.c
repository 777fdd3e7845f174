/*
 * bundle.c - sealed offline bundles (docs/formats.md, bundle.h).
 *
 * Invariants:
 *  1. Secrets (file key, body key, secretstream states) live only in
 *     sodium_malloc memory and are wiped on every path out.
 *  2. A reader never hands out a frame before the chunk holding its last
 *     byte has been authenticated, and never says "end" (0) before the
 *     FINAL chunk and the signature verified.
 *  3. Memory is fixed at open: one chunk, one frame, one I/O buffer;
 *     nothing is sized from the input beyond the header's chunk size,
 *     which is bounded by BUNDLE_CHUNK_MAX.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/be.h"
#include "lib/util.h"
#include "transports/bundle.h"
#include "transports/chachapoly.h"
#include "transports/hash512.h"
#include "transports/noise.h"

#define BUNDLE_KDF_CTX	 "ferrybdy"
#define BUNDLE_OUTBUF	 (1u << 20) /* writer: bytes gathered per write(2) */
#define BUNDLE_INBUF	 (1u << 18) /* reader: bytes asked per read */
#define BUNDLE_FRAME_MAX HOP_PLAIN_MAX

_Static_assert(BUNDLE_SS_HDR_LEN ==
		   crypto_secretstream_xchacha20poly1305_HEADERBYTES,
	       "secretstream header");
_Static_assert(BUNDLE_SS_ABYTES == crypto_secretstream_xchacha20poly1305_ABYTES,
	       "secretstream abytes");
_Static_assert(BUNDLE_WRAP_LEN == NOISE_KEY + NOISE_KEY + NOISE_TAG, "wrap");
_Static_assert(sizeof(BUNDLE_KDF_CTX) - 1 == crypto_kdf_CONTEXTBYTES, "ctx");

/* The secrets of one bundle, in one sodium_malloc block (invariant 1). */
struct bundle_secrets {
	uint8_t file_key[32];
	uint8_t body_key[32];
	crypto_secretstream_xchacha20poly1305_state ss;
};

void
bundle_hdr_encode(const struct bundle_hdr *h, uint8_t out[BUNDLE_HDR_LEN])
{
	memset(out, 0, BUNDLE_HDR_LEN);
	memcpy(out, BUNDLE_MAGIC, 8);
	out[8] = h->version;
	out[9] = h->kind;
	ferry_put_be16(out + 10, h->flags);
	ferry_put_be32(out + 12, h->chunk);
	memcpy(out + 16, h->sender, 32);
	memcpy(out + 48, h->recipient, 32);
	memcpy(out + 80, h->id, BUNDLE_ID_LEN);
	ferry_put_be64(out + 96, h->seq);
	ferry_put_be64(out + 104, (uint64_t)h->created_ms);
	ferry_put_be64(out + 112, h->size);
}

int
bundle_hdr_decode(const uint8_t in[BUNDLE_HDR_LEN], struct bundle_hdr *h,
		  const char **why)
{
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	memset(h, 0, sizeof(*h));
	if (memcmp(in, BUNDLE_MAGIC, 8) != 0) {
		*why = "not a ferry bundle (bad magic)";
		return FERRY_EPROTO;
	}
	h->version = in[8];
	h->kind = in[9];
	h->flags = ferry_get_be16(in + 10);
	h->chunk = ferry_get_be32(in + 12);
	memcpy(h->sender, in + 16, 32);
	memcpy(h->recipient, in + 48, 32);
	memcpy(h->id, in + 80, BUNDLE_ID_LEN);
	h->seq = ferry_get_be64(in + 96);
	h->created_ms = (int64_t)ferry_get_be64(in + 104);
	h->size = ferry_get_be64(in + 112);
	if (h->version != BUNDLE_VERSION) {
		*why = "bundle format version not supported (newer ferry?)";
		return FERRY_EPROTO;
	}
	if (h->kind != BUNDLE_KIND_HOP) {
		*why = "unknown bundle kind (newer ferry?)";
		return FERRY_EPROTO;
	}
	if ((h->flags & ~BUNDLE_FLAGS_ALL) != 0) {
		*why = "unknown bundle flags (newer ferry?)";
		return FERRY_EPROTO;
	}
	if (h->chunk < BUNDLE_CHUNK_MIN || h->chunk > BUNDLE_CHUNK_MAX) {
		*why = "bundle chunk size out of range";
		return FERRY_EPROTO;
	}
	if (h->seq == 0) {
		*why = "bundle sequence number 0";
		return FERRY_EPROTO;
	}
	if (!sodium_is_zero(in + 120, 8)) {
		*why = "bundle header reserved bytes not zero";
		return FERRY_EPROTO;
	}
	if (h->size < BUNDLE_MIN_SIZE) {
		*why = "bundle size in the header is below the minimum";
		return FERRY_EPROTO;
	}
	return 0;
}

uint64_t
bundle_size_for(uint64_t plain, uint32_t chunk)
{
	uint64_t nchunks = plain == 0 ? 1 : (plain + chunk - 1) / chunk;

	return BUNDLE_HDR_LEN + BUNDLE_WRAP_LEN + BUNDLE_SS_HDR_LEN + plain +
	       nchunks * BUNDLE_SS_ABYTES + BUNDLE_SIG_LEN;
}

/* ------------------------------------------------------------- writer */

/*
 * Reader and writer each start a helper thread (with its mutex and
 * condition) once a bundle passes one buffer, and stop it at the end.
 */
static int
helper_start(pthread_t *thr, pthread_mutex_t *mu, pthread_cond_t *cv,
	     void *(*fn)(void *), void *arg)
{
	if (pthread_mutex_init(mu, NULL) != 0)
		return FERRY_ENOMEM;
	if (pthread_cond_init(cv, NULL) != 0) {
		pthread_mutex_destroy(mu);
		return FERRY_ENOMEM;
	}
	if (pthread_create(thr, NULL, fn, arg) != 0) {
		pthread_mutex_destroy(mu);
		pthread_cond_destroy(cv);
		return FERRY_ENOMEM;
	}
	return 0;
}

/* Set *quit under mu, wake the helper, join it, destroy mu and cv. */
static void
helper_stop(pthread_t thr, pthread_mutex_t *mu, pthread_cond_t *cv, int *quit)
{
	pthread_mutex_lock(mu);
	*quit = 1;
	pthread_cond_broadcast(cv);
	pthread_mutex_unlock(mu);
	pthread_join(thr, NULL);
	pthread_mutex_destroy(mu);
	pthread_cond_destroy(cv);
}

/*
 * The writer runs on two threads once its output passes one buffer: a
 * helper thread hashes (BLAKE2b-512) each full output buffer while the
 * caller's writes it, then seals chunks into the other one.  (The helper
 * used to write too: hashing and the page-cache copy of write(2) were
 * 72 % of an export's samples on the helper against 28 % for reading and
 * sealing on the caller; now about 41 against 56.)  A bundle that fits in
 * one buffer is hashed and written by the caller.  The hash state belongs
 * to the helper while a buffer is in flight; the caller touches it only
 * after w_drain, and reuses a buffer only once its hash is done.
 */
struct bundle_writer {
	int fd;
	const struct identity *me;
	struct bundle_hdr hdr;
	struct bundle_secrets *sec;
	struct hash512 *hash; /* BLAKE2b-512 of wrap..chunks */
	uint8_t *chunk;	      /* hdr.chunk plaintext bytes */
	size_t fill;	      /* of chunk */
	uint8_t *out;	      /* being filled: outcap bytes */
	size_t outcap;	      /* small at first, BUNDLE_OUTCAP once
				 a bundle outgrows it */
	uint8_t *spare;	      /* the other one */
	size_t outlen;
	size_t skip;	/* bytes at out's start not hashed (the header) */
	uint64_t pos;	/* bytes of the file produced (header included) */
	uint64_t plain; /* frame bytes put */
	int flushed;	/* some bytes were handed to the helper */
	int dead;
	/* the helper thread */
	pthread_t thr;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const uint8_t *job; /* a buffer to hash, or NULL */
	size_t job_len, job_skip;
	int quit;
	int err;	  /* the helper's first error */
	uint64_t written; /* bytes written by w_flush */
	uint64_t dropped; /* page cache given back below this offset */
};

/* A bundle's bytes stay in the page cache this far behind the writer. */
#define BUNDLE_KEEP (16u << 20)

#define BUNDLE_OUTCAP (BUNDLE_OUTBUF + BUNDLE_CHUNK_MAX + BUNDLE_SS_ABYTES)

static int
w_write(int fd, const uint8_t *p, size_t len)
{
	if (ferry_write_all(fd, p, len) != 0)
		return ferry_errno_space_code(errno);
	return 0;
}

static void *
w_helper(void *arg)
{
	struct bundle_writer *w = arg;

	ferry_thread_name("bundle-write");
	pthread_mutex_lock(&w->mu);
	for (;;) {
		const uint8_t *buf;
		size_t len, skip;
		int rc = 0;
		while (w->job == NULL && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->job == NULL)
			break;
		buf = w->job;
		len = w->job_len;
		skip = w->job_skip;
		pthread_mutex_unlock(&w->mu);
		if (w->err == 0 && len > skip)
			rc = hash512_update(w->hash, buf + skip, len - skip);
		pthread_mutex_lock(&w->mu);
		if (rc != 0 && w->err == 0)
			w->err = rc;
		w->job = NULL;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Wait until the helper is idle; its first error, if any. */
static int
w_drain(struct bundle_writer *w)
{
	int rc;

	if (!w->started)
		return 0;
	pthread_mutex_lock(&w->mu);
	while (w->job != NULL)
		pthread_cond_wait(&w->cv, &w->mu);
	rc = w->err;
	pthread_mutex_unlock(&w->mu);
	if (rc != 0)
		w->dead = 1;
	return rc;
}

/* The helper and the second buffer, at the first flush: a bundle that
 * fits in one buffer (most: a message or some receipts) never needs
 * them. */
static int
w_start(struct bundle_writer *w)
{
	int rc;

	w->spare = malloc(BUNDLE_OUTCAP);
	if (w->spare == NULL)
		return FERRY_ENOMEM;
	rc = helper_start(&w->thr, &w->mu, &w->cv, w_helper, w);
	w->started = rc == 0;
	return rc;
}

/* Hand the output buffer to the helper to hash, write it meanwhile, and
 * go on with the other one (whose hash w_drain waited for). */
static int
w_flush(struct bundle_writer *w)
{
	uint8_t *t;
	int rc;

	if (w->outlen == 0)
		return 0;
	if (!w->started && (rc = w_start(w)) != 0) {
		w->dead = 1;
		return rc;
	}
	if ((rc = w_drain(w)) != 0)
		return rc;
	pthread_mutex_lock(&w->mu);
	w->job = w->out;
	w->job_len = w->outlen;
	w->job_skip = w->skip;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if ((rc = w_write(w->fd, w->out, w->outlen)) != 0) {
		w->dead = 1;
		return rc;
	}
	/* Start write-back now, so that the caller's final fsync finds
	 * little left to do (a hint: errors show at that fsync; some file
	 * systems ignore it). */
	(void)sync_file_range(w->fd, (off64_t)w->written, (off64_t)w->outlen,
			      SYNC_FILE_RANGE_WRITE);
	w->written += w->outlen;
	/* And give back the page cache of what is written back by now,
	 * BUNDLE_KEEP behind: nobody reads it here, and fresh page-cache
	 * pages are dear (a quarter of an export's CPU went into copying
	 * into them); given back, the next writes reuse them.  A large
	 * export also no longer fills memory with the medium's dirty
	 * pages.  Where the file system cannot (some FUSE ones), nothing
	 * is dropped. */
	if (w->written >= w->dropped + 2 * (uint64_t)BUNDLE_KEEP) {
		uint64_t to = (w->written - BUNDLE_KEEP) & ~(uint64_t)4095;
		if (sync_file_range(
			w->fd, (off64_t)w->dropped, (off64_t)(to - w->dropped),
			SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
			    SYNC_FILE_RANGE_WAIT_AFTER) == 0)
			(void)posix_fadvise(w->fd, (off_t)w->dropped,
					    (off_t)(to - w->dropped),
					    POSIX_FADV_DONTNEED);
		w->dropped = to;
	}
	t = w->out;
	w->out = w->spare;
	w->spare = t;
	w->outlen = 0;
	w->skip = 0;
	w->flushed = 1;
	return 0;
}

/* Room for need more bytes in out: grown to BUNDLE_OUTCAP once (before
 * any flush, so both buffers are that size once the helper runs), then
 * made by a flush. */
static int
w_room(struct bundle_writer *w, size_t need)
{
	if (w->outlen + need <= w->outcap)
		return 0;
	if (w->outcap < BUNDLE_OUTCAP) {
		uint8_t *t = realloc(w->out, BUNDLE_OUTCAP);
		if (t == NULL) {
			w->dead = 1;
			return FERRY_ENOMEM;
		}
		w->out = t;
		w->outcap = BUNDLE_OUTCAP;
		if (w->outlen + need <= w->outcap)
			return 0;
	}
	return w_flush(w);
}

/* Append to the file (buffered; hashed by the helper, but the header). */
static int
w_emit(struct bundle_writer *w, const void *p, size_t len)
{
	int rc;

	if ((rc = w_room(w, len)) != 0)
		return rc;
	memcpy(w->out + w->outlen, p, len);
	w->outlen += len;
	w->pos += len;
	return 0;
}

/* Seal the chunk buffer into the output buffer. */
static int
w_seal(struct bundle_writer *w, uint8_t tag)
{
	size_t clen = w->fill + BUNDLE_SS_ABYTES;
	int rc;

	if ((rc = w_room(w, clen)) != 0)
		return rc;
	if (chachapoly_stream_push(&w->sec->ss, w->out + w->outlen, w->chunk,
				   w->fill, NULL, 0, tag) != 0)
		return FERRY_EINVAL;
	w->outlen += clen;
	w->pos += clen;
	sodium_memzero(w->chunk, w->fill);
	w->fill = 0;
	return w->outlen >= BUNDLE_OUTBUF ? w_flush(w) : 0;
}

static void
w_free(struct bundle_writer *w)
{
	if (w == NULL)
		return;
	if (w->started)
		helper_stop(w->thr, &w->mu, &w->cv, &w->quit);
	sodium_free(w->sec);
	if (w->chunk != NULL) {
		/* Each sealed chunk was wiped; this is what is left. */
		sodium_memzero(w->chunk, w->fill);
		free(w->chunk);
	}
	free(w->out);
	free(w->spare);
	hash512_free(w->hash);
	free(w);
}

int
bundle_writer_open(int fd, const struct identity *me, const uint8_t rcpt_id[32],
		   const uint8_t rcpt_kx[32], uint64_t seq, int64_t now_ms,
		   uint32_t chunk, struct bundle_writer **out)
{
	return bundle_writer_open_flags(fd, me, rcpt_id, rcpt_kx, seq, now_ms,
					chunk, 0, out);
}

int
bundle_writer_open_flags(int fd, const struct identity *me,
			 const uint8_t rcpt_id[32], const uint8_t rcpt_kx[32],
			 uint64_t seq, int64_t now_ms, uint32_t chunk,
			 uint16_t flags, struct bundle_writer **out)
{
	struct bundle_writer *w = NULL;
	uint8_t prologue[BUNDLE_HDR_LEN], wrap[BUNDLE_WRAP_LEN];
	uint8_t sshdr[BUNDLE_SS_HDR_LEN];
	size_t wlen = 0;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (fd < 0 || me == NULL || rcpt_id == NULL || rcpt_kx == NULL ||
	    out == NULL || seq == 0 || (flags & ~BUNDLE_FLAGS_ALL) != 0)
		return FERRY_EINVAL;
	if (chunk == 0)
		chunk = BUNDLE_CHUNK_DEFAULT;
	if (chunk < BUNDLE_CHUNK_MIN || chunk > BUNDLE_CHUNK_MAX)
		return FERRY_EINVAL;
	if (sodium_init() < 0)
		return FERRY_EIO;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return FERRY_ENOMEM;
	w->fd = fd;
	w->me = me;
	w->sec = sodium_malloc(sizeof(*w->sec));
	w->chunk = malloc(chunk);
	/* Room for the header, one sealed chunk and the signature; most
	 * bundles (a message, some receipts) never need more. */
	w->outcap = 2 * (size_t)chunk + 4096;
	if (w->outcap > BUNDLE_OUTCAP)
		w->outcap = BUNDLE_OUTCAP;
	w->out = malloc(w->outcap);
	if (w->sec == NULL || w->chunk == NULL || w->out == NULL) {
		rc = FERRY_ENOMEM;
		goto fail;
	}
	w->hdr.version = BUNDLE_VERSION;
	w->hdr.kind = BUNDLE_KIND_HOP;
	w->hdr.flags = flags;
	w->hdr.chunk = chunk;
	identity_node_id(identity_sign_pk(me), identity_kx_pk(me),
			 w->hdr.sender);
	memcpy(w->hdr.recipient, rcpt_id, 32);
	randombytes_buf(w->hdr.id, BUNDLE_ID_LEN);
	w->hdr.seq = seq;
	w->hdr.created_ms = now_ms;
	w->hdr.size = 0; /* the prologue has size 0 */
	bundle_hdr_encode(&w->hdr, prologue);
	randombytes_buf(w->sec->file_key, sizeof(w->sec->file_key));
	rc = noise_k_seal(identity_kx_sk(me), identity_kx_pk(me), rcpt_kx,
			  prologue, sizeof(prologue), NULL, w->sec->file_key,
			  sizeof(w->sec->file_key), wrap, sizeof(wrap), &wlen);
	if (rc != 0)
		goto fail;
	if (wlen != BUNDLE_WRAP_LEN) {
		rc = FERRY_ESTATE;
		goto fail;
	}
	if (crypto_kdf_derive_from_key(w->sec->body_key,
				       sizeof(w->sec->body_key), 1,
				       BUNDLE_KDF_CTX, w->sec->file_key) != 0 ||
	    crypto_secretstream_xchacha20poly1305_init_push(
		&w->sec->ss, sshdr, w->sec->body_key) != 0) {
		rc = FERRY_EINVAL;
		goto fail;
	}
	if ((rc = hash512_new(1, &w->hash)) != 0)
		goto fail;
	sodium_memzero(w->sec->file_key, sizeof(w->sec->file_key));
	sodium_memzero(w->sec->body_key, sizeof(w->sec->body_key));
	/* The header is rewritten with its size at the end. */
	w->skip = BUNDLE_HDR_LEN;
	if ((rc = w_emit(w, prologue, sizeof(prologue))) != 0 ||
	    (rc = w_emit(w, wrap, sizeof(wrap))) != 0 ||
	    (rc = w_emit(w, sshdr, sizeof(sshdr))) != 0)
		goto fail;
	*out = w;
	return 0;
fail:
	w_free(w);
	return rc;
}

int
bundle_writer_put(struct bundle_writer *w, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int rc;

	if (w == NULL || (buf == NULL && len > 0))
		return FERRY_EINVAL;
	if (w->dead)
		return FERRY_ESTATE;
	while (len > 0) {
		size_t n;
		if (w->fill == w->hdr.chunk) {
			/* More follows: this one is not the last. */
			if ((rc = w_seal(
				 w,
				 crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)) !=
			    0) {
				w->dead = 1;
				return rc;
			}
		}
		n = w->hdr.chunk - w->fill;
		if (n > len)
			n = len;
		memcpy(w->chunk + w->fill, p, n);
		w->fill += n;
		w->plain += n;
		p += n;
		len -= n;
	}
	return 0;
}

uint64_t
bundle_writer_size_after(const struct bundle_writer *w, uint64_t extra)
{
	return bundle_size_for(w->plain + extra, w->hdr.chunk);
}

int
bundle_writer_finish(struct bundle_writer *w, struct bundle_hdr *hdr)
{
	uint8_t signed_part[BUNDLE_HDR_LEN + 64], sig[BUNDLE_SIG_LEN];
	size_t off = 0;
	int rc, small;

	if (w == NULL)
		return FERRY_EINVAL;
	if (w->dead) {
		rc = FERRY_ESTATE;
		goto out;
	}
	if ((rc = w_seal(w, crypto_secretstream_xchacha20poly1305_TAG_FINAL)) !=
	    0)
		goto out;
	small = !w->flushed;
	if (small) {
		/* All of it is still in the buffer: hash it here, and write
		 * it with its header in one sequential write.  (Some FUSE FAT
		 * drivers lose a rewrite of the first bytes of a small
		 * file.) */
		if ((rc = hash512_update(w->hash, w->out + w->skip,
					 w->outlen - w->skip)) != 0)
			goto out;
	} else if ((rc = w_flush(w)) != 0 || (rc = w_drain(w)) != 0) {
		goto out;
	}
	w->hdr.size = w->pos + BUNDLE_SIG_LEN;
	bundle_hdr_encode(&w->hdr, signed_part);
	if ((rc = hash512_final(w->hash, signed_part + BUNDLE_HDR_LEN)) != 0)
		goto out;
	if ((rc = identity_sign(w->me, BUNDLE_SIGN_LABEL, signed_part,
				sizeof(signed_part), sig)) != 0)
		goto out;
	if (small) {
		/* Grows out if need be; never flushes (out is below
		 * BUNDLE_OUTBUF here, and BUNDLE_OUTCAP leaves room). */
		if ((rc = w_room(w, sizeof(sig))) != 0)
			goto out;
		if (w->flushed) {
			rc = FERRY_ESTATE;
			goto out;
		}
		memcpy(w->out, signed_part, BUNDLE_HDR_LEN);
		memcpy(w->out + w->outlen, sig, sizeof(sig));
		w->outlen += sizeof(sig);
		rc = w_write(w->fd, w->out, w->outlen);
		goto done;
	}
	if ((rc = w_write(w->fd, sig, sizeof(sig))) != 0)
		goto out;
	while (off < BUNDLE_HDR_LEN) {
		ssize_t n = pwrite(w->fd, signed_part + off,
				   BUNDLE_HDR_LEN - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? ferry_errno_space_code(errno) : FERRY_EIO;
			goto out;
		}
		off += (size_t)n;
	}
done:
	if (rc == 0 && hdr != NULL)
		*hdr = w->hdr;
out:
	w_free(w);
	return rc;
}

void
bundle_writer_abort(struct bundle_writer *w)
{
	w_free(w);
}

/* ------------------------------------------------------------- reader */

struct bundle_reader {
	bundle_read_fn rd;
	void *arg;
	const struct identity *me;
	struct bundle_hdr hdr;
	uint8_t hdr_raw[BUNDLE_HDR_LEN];
	struct bundle_secrets *sec;
	struct hash512 *hash; /* BLAKE2b-512 of wrap..chunks */
	uint64_t pos;	      /* bytes consumed from the input */
	uint64_t body_end;    /* offset where the trailer starts */
	uint8_t *in;	      /* in_cap bytes of read-ahead */
	size_t in_cap, in_len, in_off;
	int in_eof;
	uint8_t *ct; /* one sealed chunk */
	uint8_t *pt; /* its plaintext */
	size_t pt_len, pt_off;
	int final;	     /* the FINAL chunk has been read */
	uint8_t sign_pk[32]; /* the sender's, from its card */
	int unwrapped;
	int done; /* signature verified: end */
	int dead;
	uint8_t *frame; /* BUNDLE_FRAME_MAX: the frame being gathered */
	size_t flen;
	/* The most bytes pt and frame ever held: wiped at the end (not the
	 * whole buffers, which a small bundle never touches). */
	size_t pt_hi, frame_hi;
	char why[200];
	/* Hashing (BLAKE2b-512, the slower half) runs on a helper thread,
	 * started once a bundle passes R_HASH_CAP bytes: the bytes to hash
	 * gather in hbuf, which is handed over whole; the hash state belongs
	 * to the helper while a buffer is in flight. */
	uint8_t *hbuf, *hspare; /* hcap bytes each */
	size_t hcap, hlen;
	pthread_t thr;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const uint8_t *job;
	size_t job_len;
	int quit;
};

#define R_HASH_CAP (2u * BUNDLE_CHUNK_MAX)

static void *
r_helper(void *arg)
{
	struct bundle_reader *r = arg;

	ferry_thread_name("bundle-read");
	pthread_mutex_lock(&r->mu);
	for (;;) {
		const uint8_t *buf;
		size_t len;
		while (r->job == NULL && !r->quit)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->job == NULL)
			break;
		buf = r->job;
		len = r->job_len;
		pthread_mutex_unlock(&r->mu);
		/* A failure kills the hash: h_final's digest then fails. */
		(void)hash512_update(r->hash, buf, len);
		pthread_mutex_lock(&r->mu);
		r->job = NULL;
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static void
h_drain(struct bundle_reader *r)
{
	if (!r->started)
		return;
	pthread_mutex_lock(&r->mu);
	while (r->job != NULL)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

/* Hand hbuf to the helper (started on first use); 0 or FERRY_ENOMEM. */
static int
h_flush(struct bundle_reader *r)
{
	uint8_t *t;

	if (r->hlen == 0)
		return 0;
	if (!r->started) {
		int rc;
		r->hspare = malloc(r->hcap);
		if (r->hspare == NULL)
			return FERRY_ENOMEM;
		if ((rc = helper_start(&r->thr, &r->mu, &r->cv, r_helper, r)) !=
		    0)
			return rc;
		r->started = 1;
	}
	h_drain(r);
	pthread_mutex_lock(&r->mu);
	r->job = r->hbuf;
	r->job_len = r->hlen;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	t = r->hbuf;
	r->hbuf = r->hspare;
	r->hspare = t;
	r->hlen = 0;
	return 0;
}

/* Add n bytes (n <= hcap) to the signed hash, in file order. */
static int
h_add(struct bundle_reader *r, const uint8_t *p, size_t n)
{
	int rc;

	if (r->hlen + n > r->hcap && (rc = h_flush(r)) != 0)
		return rc;
	memcpy(r->hbuf + r->hlen, p, n);
	r->hlen += n;
	return 0;
}

/* Everything added is in the hash: write the digest. */
static int
h_final(struct bundle_reader *r, uint8_t out[64])
{
	if (r->started) {
		int rc = h_flush(r);
		if (rc != 0)
			return rc;
		h_drain(r);
	} else if (r->hlen > 0 &&
		   hash512_update(r->hash, r->hbuf, r->hlen) != 0) {
		return FERRY_EINVAL;
	}
	r->hlen = 0;
	return hash512_final(r->hash, out);
}

static int __attribute__((format(printf, 3, 4)))
r_fail(struct bundle_reader *r, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	r->dead = 1;
	return rc;
}

/* Exactly len bytes, or FERRY_ECORRUPT at the end of the input. */
static int
r_read(struct bundle_reader *r, void *buf, size_t len, const char *what)
{
	uint8_t *p = buf;

	while (len > 0) {
		size_t n;
		if (r->in_off == r->in_len) {
			int rc;
			if (r->in_eof)
				return r_fail(r, FERRY_ECORRUPT,
					      "truncated: the file ends at "
					      "byte %llu, inside the %s",
					      (unsigned long long)r->pos, what);
			r->in_off = r->in_len = 0;
			rc = r->rd(r->arg, r->in, r->in_cap, &r->in_len);
			if (rc != 0)
				return r_fail(r, rc,
					      "cannot read the bundle: %s",
					      ferry_strerror(rc));
			if (r->in_len > r->in_cap)
				return r_fail(r, FERRY_EINVAL,
					      "read callback overran");
			if (r->in_len == 0)
				r->in_eof = 1;
			continue;
		}
		n = r->in_len - r->in_off;
		if (n > len)
			n = len;
		memcpy(p, r->in + r->in_off, n);
		r->in_off += n;
		r->pos += n;
		p += n;
		len -= n;
	}
	return 0;
}

int
bundle_reader_open(bundle_read_fn rd, void *arg, uint64_t file_size,
		   const struct identity *me, struct bundle_reader **out)
{
	struct bundle_reader *r;
	uint8_t my_id[IDENTITY_NODE_ID_LEN];
	const char *why = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (rd == NULL || me == NULL || out == NULL)
		return FERRY_EINVAL;
	if (sodium_init() < 0)
		return FERRY_EIO;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return FERRY_ENOMEM;
	r->rd = rd;
	r->arg = arg;
	r->me = me;
	/* A small bundle (most are: one message, some receipts) gets
	 * buffers of its size, not megabytes. */
	r->in_cap = BUNDLE_INBUF;
	if (file_size < BUNDLE_INBUF)
		r->in_cap = file_size < BUNDLE_HDR_LEN ? BUNDLE_HDR_LEN
						       : (size_t)file_size;
	r->in = malloc(r->in_cap);
	r->frame = malloc(BUNDLE_FRAME_MAX);
	if (r->in == NULL || r->frame == NULL) {
		bundle_reader_free(r);
		return FERRY_ENOMEM;
	}
	*out = r;
	if (file_size != UINT64_MAX && file_size < BUNDLE_HDR_LEN)
		return r_fail(r, FERRY_ECORRUPT,
			      "truncated: %llu bytes, shorter than a header",
			      (unsigned long long)file_size);
	if ((rc = r_read(r, r->hdr_raw, BUNDLE_HDR_LEN, "header")) != 0)
		return rc;
	if ((rc = bundle_hdr_decode(r->hdr_raw, &r->hdr, &why)) != 0)
		return r_fail(r, rc, "%s", why);
	if (file_size != UINT64_MAX && file_size != r->hdr.size)
		return r_fail(r, FERRY_ECORRUPT,
			      "%s: the file has %llu bytes, its header says "
			      "%llu",
			      file_size < r->hdr.size ? "truncated"
						      : "longer than written",
			      (unsigned long long)file_size,
			      (unsigned long long)r->hdr.size);
	identity_node_id(identity_sign_pk(me), identity_kx_pk(me), my_id);
	if (sodium_memcmp(my_id, r->hdr.recipient, sizeof(my_id)) != 0)
		return r_fail(r, FERRY_ESTATE,
			      "addressed to another node, not this one");
	r->body_end = r->hdr.size - BUNDLE_SIG_LEN;
	return 0;
}

const struct bundle_hdr *
bundle_reader_hdr(const struct bundle_reader *r)
{
	return &r->hdr;
}

int
bundle_reader_unwrap(struct bundle_reader *r, const uint8_t sender_sign_pk[32],
		     const uint8_t sender_kx_pk[32])
{
	uint8_t prologue[BUNDLE_HDR_LEN], wrap[BUNDLE_WRAP_LEN];
	uint8_t sshdr[BUNDLE_SS_HDR_LEN], sender_id[IDENTITY_NODE_ID_LEN];
	size_t klen = 0;
	int rc;

	if (r == NULL || sender_sign_pk == NULL || sender_kx_pk == NULL)
		return FERRY_EINVAL;
	if (r->dead || r->unwrapped)
		return FERRY_ESTATE;
	identity_node_id(sender_sign_pk, sender_kx_pk, sender_id);
	memcpy(r->sign_pk, sender_sign_pk, sizeof(r->sign_pk));
	if (sodium_memcmp(sender_id, r->hdr.sender, sizeof(sender_id)) != 0)
		return r_fail(r, FERRY_EINVAL, "keys are not the sender's");
	r->sec = sodium_malloc(sizeof(*r->sec));
	r->ct = malloc(r->hdr.chunk + BUNDLE_SS_ABYTES);
	r->pt = malloc(r->hdr.chunk);
	/* Room for the largest single h_add (a sealed chunk), at most
	 * R_HASH_CAP; a header that lies about the size only makes the
	 * hand-offs smaller until the signature refuses it. */
	r->hcap = R_HASH_CAP;
	if (r->hdr.size < R_HASH_CAP)
		r->hcap = r->hdr.size;
	if (r->hcap < (size_t)r->hdr.chunk + BUNDLE_SS_ABYTES)
		r->hcap = (size_t)r->hdr.chunk + BUNDLE_SS_ABYTES;
	r->hbuf = malloc(r->hcap);
	if (r->sec == NULL || r->ct == NULL || r->pt == NULL || r->hbuf == NULL)
		return r_fail(r, FERRY_ENOMEM, "out of memory");
	if ((rc = r_read(r, wrap, sizeof(wrap), "key wrap")) != 0 ||
	    (rc = r_read(r, sshdr, sizeof(sshdr), "stream header")) != 0)
		return rc;
	memcpy(prologue, r->hdr_raw, BUNDLE_HDR_LEN);
	memset(prologue + 112, 0, 8);
	rc = noise_k_open(identity_kx_sk(r->me), identity_kx_pk(r->me),
			  sender_kx_pk, prologue, sizeof(prologue), wrap,
			  sizeof(wrap), r->sec->file_key,
			  sizeof(r->sec->file_key), &klen);
	if (rc != 0 || klen != sizeof(r->sec->file_key))
		return r_fail(r, FERRY_ECORRUPT,
			      "the key wrap does not open: damaged, altered "
			      "header, or not sealed by this sender for this "
			      "node");
	if (crypto_kdf_derive_from_key(r->sec->body_key,
				       sizeof(r->sec->body_key), 1,
				       BUNDLE_KDF_CTX, r->sec->file_key) != 0 ||
	    crypto_secretstream_xchacha20poly1305_init_pull(
		&r->sec->ss, sshdr, r->sec->body_key) != 0)
		return r_fail(r, FERRY_ECORRUPT, "bad stream header");
	if ((rc = hash512_new(1, &r->hash)) != 0)
		return r_fail(r, rc, "cannot start the bundle's hash: %s",
			      ferry_strerror(rc));
	if ((rc = h_add(r, wrap, sizeof(wrap))) != 0 ||
	    (rc = h_add(r, sshdr, sizeof(sshdr))) != 0)
		return r_fail(r, rc, "cannot hash the stream header: %s",
			      ferry_strerror(rc));
	sodium_memzero(r->sec->file_key, sizeof(r->sec->file_key));
	sodium_memzero(r->sec->body_key, sizeof(r->sec->body_key));
	if (r->pos > r->body_end || r->body_end - r->pos < BUNDLE_SS_ABYTES)
		return r_fail(r, FERRY_EPROTO, "bundle too short for a chunk");
	r->unwrapped = 1;
	return 0;
}

/* Read, authenticate and open the next chunk into pt. */
static int
r_chunk(struct bundle_reader *r)
{
	uint64_t rem = r->body_end - r->pos;
	size_t clen = r->hdr.chunk + BUNDLE_SS_ABYTES;
	unsigned char tag = 0;
	int rc;

	if (rem < clen)
		clen = (size_t)rem;
	if (clen < BUNDLE_SS_ABYTES)
		return r_fail(r, FERRY_ECORRUPT,
			      "a chunk of %zu bytes at byte %llu is cut short",
			      clen, (unsigned long long)r->pos);
	if ((rc = r_read(r, r->ct, clen, "chunks")) != 0)
		return rc;
	if (h_add(r, r->ct, clen) != 0)
		return r_fail(r, FERRY_ENOMEM, "out of memory");
	if (chachapoly_stream_pull(&r->sec->ss, r->pt, &tag, r->ct, clen, NULL,
				   0) != 0)
		return r_fail(r, FERRY_ECORRUPT,
			      "the chunk ending at byte %llu does not "
			      "authenticate: damaged or altered",
			      (unsigned long long)r->pos);
	if (r->pos == r->body_end) {
		if (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL)
			return r_fail(r, FERRY_ECORRUPT,
				      "truncated: the last chunk is not "
				      "marked final");
		r->final = 1;
	} else if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
		return r_fail(r, FERRY_ECORRUPT,
			      "a chunk at byte %llu is marked final or "
			      "unknown before the end",
			      (unsigned long long)r->pos);
	}
	r->pt_len = clen - BUNDLE_SS_ABYTES;
	if (r->pt_len > r->pt_hi)
		r->pt_hi = r->pt_len;
	r->pt_off = 0;
	return 0;
}

/* After FINAL: the trailer, nothing after it, the signature. */
static int
r_trailer(struct bundle_reader *r)
{
	uint8_t signed_part[BUNDLE_HDR_LEN + 64], sig[BUNDLE_SIG_LEN];
	uint8_t extra;
	int rc;

	if ((rc = r_read(r, sig, sizeof(sig), "signature")) != 0)
		return rc;
	/* Anything after the trailer is damage. */
	if (r->in_off < r->in_len)
		return r_fail(r, FERRY_ECORRUPT, "data after the signature");
	if (!r->in_eof) {
		size_t n = 0;
		rc = r->rd(r->arg, &extra, 1, &n);
		if (rc != 0)
			return r_fail(r, rc, "cannot read the bundle: %s",
				      ferry_strerror(rc));
		if (n != 0)
			return r_fail(r, FERRY_ECORRUPT,
				      "data after the signature");
	}
	memcpy(signed_part, r->hdr_raw, BUNDLE_HDR_LEN);
	if (h_final(r, signed_part + BUNDLE_HDR_LEN) != 0)
		return r_fail(r, FERRY_ENOMEM, "out of memory");
	if (identity_verify(r->sign_pk, BUNDLE_SIGN_LABEL, signed_part,
			    sizeof(signed_part), sig) != 0)
		return r_fail(r, FERRY_ECORRUPT,
			      "the signature does not verify: altered or "
			      "forged");
	r->done = 1;
	return 0;
}

int
bundle_reader_frame(struct bundle_reader *r, struct hop_frame *f)
{
	size_t need, off = 0;
	int rc;

	if (r == NULL || f == NULL)
		return FERRY_EINVAL;
	if (r->dead || !r->unwrapped)
		return FERRY_ESTATE;
	if (r->done)
		return 0;
	r->flen = 0;
	need = HOP_FRAME_HDR;
	for (;;) {
		size_t n;
		if (r->flen == HOP_FRAME_HDR && need == HOP_FRAME_HDR) {
			size_t body = (size_t)ferry_get_be24(r->frame + 1);
			if (body > BUNDLE_FRAME_MAX - HOP_FRAME_HDR)
				return r_fail(r, FERRY_EPROTO,
					      "a frame of %zu bytes is larger "
					      "than any frame",
					      body);
			need = HOP_FRAME_HDR + body;
		}
		if (r->flen == need)
			break;
		if (r->pt_off == r->pt_len) {
			if (r->final) {
				if (r->flen != 0)
					return r_fail(r, FERRY_ECORRUPT,
						      "the last frame is cut "
						      "short");
				if ((rc = r_trailer(r)) != 0)
					return rc;
				return 0;
			}
			if ((rc = r_chunk(r)) != 0)
				return rc;
			continue;
		}
		n = r->pt_len - r->pt_off;
		if (n > need - r->flen)
			n = need - r->flen;
		memcpy(r->frame + r->flen, r->pt + r->pt_off, n);
		r->flen += n;
		if (r->flen > r->frame_hi)
			r->frame_hi = r->flen;
		r->pt_off += n;
	}
	rc = hop_record_next(r->frame, r->flen, &off, f);
	if (rc != 1)
		return r_fail(r, FERRY_EPROTO, "malformed frame (type %u)",
			      r->frame[0]);
	return 1;
}

const char *
bundle_reader_why(const struct bundle_reader *r)
{
	return r == NULL ? "" : r->why;
}

uint64_t
bundle_reader_pos(const struct bundle_reader *r)
{
	return r->pos;
}

void
bundle_reader_free(struct bundle_reader *r)
{
	if (r == NULL)
		return;
	if (r->started)
		helper_stop(r->thr, &r->mu, &r->cv, &r->quit);
	free(r->hbuf);
	free(r->hspare);
	sodium_free(r->sec);
	if (r->pt != NULL) {
		sodium_memzero(r->pt, r->pt_hi); /* what ever held clear */
		free(r->pt);
	}
	free(r->ct);
	free(r->in);
	if (r->frame != NULL) {
		sodium_memzero(r->frame, r->frame_hi);
		free(r->frame);
	}
	hash512_free(r->hash);
	free(r);
}
