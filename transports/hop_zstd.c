/*
 * hop_zstd.c - CHUNKZ, a CHUNK whose bytes are one zstd frame
 * (docs/hop.md 4.8): compressing one into a record, and opening one into
 * a bounded buffer.  The only file that includes zstd.h.
 *
 * Each CHUNKZ is compressed alone (no history across chunks), so its
 * offset and length stay in the original payload's bytes: RESUME, the
 * END hash and a bundle's partial payloads work as with plain CHUNKs,
 * and a cut link resumes exactly where the receiver's durable copy ends.
 *
 * Owns: per struct hop_zstd, a decompression context and one
 * HOP_ZORIG_MAX buffer, both made on first use and given back by
 * hop_zstd_idle; and the process's few compression contexts (ZPOOL_MAX),
 * borrowed for one frame at a time.  A level-3 context for 256 KiB
 * inputs is about 1 MiB (its hash and chain tables), against 96 KiB to
 * decompress: one per session would cost a base with 1,000 busy peers a
 * GiB, so sessions share a pool no larger than the cores can keep busy.
 * Does not: decide whether compressing pays (the sender's job), hash, or
 * know about sessions.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "lib/be.h"
#include "transports/hop.h"

/* Decompression never needs a window past the largest original chunk:
 * refusing larger ones bounds the context's memory (2^18 = 256 KiB). */
#define ZWINDOW_LOG_MAX 18
_Static_assert((1u << ZWINDOW_LOG_MAX) >= HOP_ZORIG_MAX,
	       "the window covers a whole chunk");

struct hop_zstd {
	ZSTD_DCtx *dc;
	uint8_t *buf; /* HOP_ZORIG_MAX */
};

/* The compression contexts: made as needed up to ZPOOL_MAX, then a
 * compressor waits (one frame takes well under a millisecond). */
#define ZPOOL_MAX 4
static pthread_mutex_t zpool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t zpool_cv = PTHREAD_COND_INITIALIZER;
static ZSTD_CCtx *zpool_free[ZPOOL_MAX];
static size_t zpool_nfree, zpool_made;

static ZSTD_CCtx *
cc_get(void)
{
	ZSTD_CCtx *cc = NULL;

	pthread_mutex_lock(&zpool_mu);
	while (zpool_nfree == 0 && zpool_made == ZPOOL_MAX)
		pthread_cond_wait(&zpool_cv, &zpool_mu);
	if (zpool_nfree > 0) {
		cc = zpool_free[--zpool_nfree];
		pthread_mutex_unlock(&zpool_mu);
		return cc;
	}
	zpool_made++;
	pthread_mutex_unlock(&zpool_mu);
	if ((cc = ZSTD_createCCtx()) == NULL) {
		pthread_mutex_lock(&zpool_mu);
		zpool_made--;
		pthread_cond_signal(&zpool_cv);
		pthread_mutex_unlock(&zpool_mu);
	}
	return cc;
}

static void
cc_put(ZSTD_CCtx *cc)
{
	pthread_mutex_lock(&zpool_mu);
	zpool_free[zpool_nfree++] = cc;
	pthread_cond_signal(&zpool_cv);
	pthread_mutex_unlock(&zpool_mu);
}

void
hop_zstd_shutdown(void)
{
	pthread_mutex_lock(&zpool_mu);
	while (zpool_nfree > 0) {
		ZSTD_freeCCtx(zpool_free[--zpool_nfree]);
		zpool_made--;
	}
	pthread_mutex_unlock(&zpool_mu);
}

struct hop_zstd *
hop_zstd_new(void)
{
	return calloc(1, sizeof(struct hop_zstd));
}

void
hop_zstd_idle(struct hop_zstd *z)
{
	if (z == NULL)
		return;
	ZSTD_freeDCtx(z->dc);
	free(z->buf);
	z->dc = NULL;
	z->buf = NULL;
}

void
hop_zstd_free(struct hop_zstd *z)
{
	hop_zstd_idle(z);
	free(z);
}

uint8_t *
hop_zstd_buf(struct hop_zstd *z)
{
	if (z->buf == NULL)
		z->buf = malloc(HOP_ZORIG_MAX);
	return z->buf;
}

/*
 * Whether a small input's bytes are so nearly uniform that a zstd frame
 * cannot be at most max_zlen bytes, judged without trying: trying costs
 * 2-4 us for 1 KiB however well the data compresses, as much as the rest
 * of sending a small message.  Only zstd's entropy stage sees the byte
 * histogram; by it, n bytes of Shannon entropy H bits each need n*H/8
 * bytes, and H is at least the collision (Renyi-2) entropy
 * H2 = -log2(sum p^2), here estimated without bias from the counts c:
 * sum p^2 ~ sum c(c-1) / (n(n-1)).  H2 >= HOPELESS_BITS means no entropy
 * coder gets the input under max_zlen; only repeated strings could, and
 * nearly uniform bytes (encrypted, already compressed or random data)
 * rarely have them.  Uniform random bytes give H2 ~ 8 (1 KiB of them is
 * judged hopeless with overwhelming odds); text 4-6, base64 6.
 */
#define HOPELESS_MIN  256u   /* fewer bytes: the estimate is too loose */
#define HOPELESS_MAX  16384u /* more: zstd's own raw-block path is cheap */
#define HOPELESS_BITS 7.7    /* 2^7.7 = 207.9 */
#define HOPELESS_INV  208u

int
hop_zstd_hopeless(const void *data, size_t len, size_t max_zlen)
{
	const uint8_t *p = data;
	uint32_t c[256];
	uint64_t pairs = 0;

	if (len < HOPELESS_MIN || len > HOPELESS_MAX ||
	    (double)max_zlen * 8 >= (double)len * HOPELESS_BITS)
		return 0;
	memset(c, 0, sizeof(c));
	for (size_t i = 0; i < len; i++)
		c[p[i]]++;
	for (size_t k = 0; k < 256; k++)
		pairs += (uint64_t)c[k] * c[k];
	pairs -= len; /* sum c(c-1): ordered pairs of equal bytes */
	/* sum p^2 <= 2^-HOPELESS_BITS */
	return pairs * HOPELESS_INV <= (uint64_t)len * (len - 1);
}

int
hop_put_chunkz(struct hop_rbuf *b, struct hop_zstd *z, int level,
	       const uint8_t id[FERRY_ID_LEN], uint64_t offset,
	       const void *data, size_t len, size_t max_zlen)
{
	size_t room, cap, zlen;
	ZSTD_CCtx *cc;
	uint8_t *p;

	if (b->err != 0)
		return b->err;
	if (len == 0 || len > HOP_ZORIG_MAX || len > UINT64_MAX - offset) {
		b->err = FERRY_EINVAL;
		return FERRY_EINVAL;
	}
	room = b->cap - b->len;
	if (room <= HOP_FRAME_HDR + HOP_CHUNKZ_HDR)
		return 0;
	cap = room - HOP_FRAME_HDR - HOP_CHUNKZ_HDR;
	if (cap > max_zlen)
		cap = max_zlen;
	if (cap == 0 || hop_zstd_hopeless(data, len, cap))
		return 0;
	(void)z; /* compression contexts come from the pool */
	if ((cc = cc_get()) == NULL)
		return FERRY_ENOMEM;
	/* The content size goes in the frame (the receiver checks it
	 * against orig_len before decompressing); no checksum: the record
	 * or bundle chunk is authenticated and END hashes the payload. */
	if (ZSTD_isError(ZSTD_CCtx_reset(cc, ZSTD_reset_session_only)) ||
	    ZSTD_isError(
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(
		ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 0)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog,
						ZWINDOW_LOG_MAX))) {
		cc_put(cc);
		return FERRY_EINVAL;
	}
	p = b->p + b->len;
	/* Straight into the record: "does not fit" is zstd's
	 * dstSize_tooSmall, nothing is copied twice. */
	zlen = ZSTD_compress2(cc, p + HOP_FRAME_HDR + HOP_CHUNKZ_HDR, cap, data,
			      len);
	cc_put(cc);
	if (ZSTD_isError(zlen) || zlen == 0)
		return 0;
	p[0] = HOP_CHUNKZ;
	ferry_put_be24(p + 1, (uint32_t)(HOP_CHUNKZ_HDR + zlen));
	memcpy(p + HOP_FRAME_HDR, id, FERRY_ID_LEN);
	ferry_put_be64(p + HOP_FRAME_HDR + FERRY_ID_LEN, offset);
	ferry_put_be32(p + HOP_FRAME_HDR + FERRY_ID_LEN + 8, (uint32_t)len);
	b->len += HOP_FRAME_HDR + HOP_CHUNKZ_HDR + zlen;
	return (int)zlen;
}

static int
zfail(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return FERRY_EPROTO;
}

int
hop_chunkz_inflate(struct hop_zstd *z, const struct hop_chunkz *cz,
		   struct hop_chunk *out, const char **why)
{
	unsigned long long declared;
	size_t n;

	if (cz->orig_len == 0 || cz->orig_len > HOP_ZORIG_MAX || cz->len == 0)
		return zfail(why, "CHUNKZ original length out of range");
	/* Cheapest first, nothing decompressed yet: one whole frame that
	 * says it holds exactly orig_len bytes. */
	declared = ZSTD_getFrameContentSize(cz->data, cz->len);
	if (declared == ZSTD_CONTENTSIZE_ERROR)
		return zfail(why, "CHUNKZ bytes are not a zstd frame");
	if (declared == ZSTD_CONTENTSIZE_UNKNOWN)
		return zfail(why, "CHUNKZ zstd frame without a content size");
	if (declared != cz->orig_len)
		return zfail(why, "CHUNKZ zstd frame size is not orig_len");
	n = ZSTD_findFrameCompressedSize(cz->data, cz->len);
	if (ZSTD_isError(n) || n != cz->len)
		return zfail(why, "CHUNKZ holds other than one zstd frame");
	if (hop_zstd_buf(z) == NULL)
		return FERRY_ENOMEM;
	if (z->dc == NULL) {
		if ((z->dc = ZSTD_createDCtx()) == NULL)
			return FERRY_ENOMEM;
		if (ZSTD_isError(ZSTD_DCtx_setParameter(
			z->dc, ZSTD_d_windowLogMax, ZWINDOW_LOG_MAX))) {
			ZSTD_freeDCtx(z->dc);
			z->dc = NULL;
			return FERRY_ENOMEM;
		}
	}
	/* The destination holds orig_len bytes and no more: a frame that
	 * lied (a "bomb") fails with dstSize_tooSmall, never writes past. */
	n = ZSTD_decompressDCtx(z->dc, z->buf, cz->orig_len, cz->data, cz->len);
	if (ZSTD_isError(n)) {
		/* A failed frame leaves the context mid-frame: start the
		 * next one clean. */
		(void)ZSTD_DCtx_reset(z->dc, ZSTD_reset_session_only);
		return zfail(why, "CHUNKZ zstd frame does not decompress");
	}
	if (n != cz->orig_len)
		return zfail(why, "CHUNKZ decompresses to other than orig_len");
	memcpy(out->id, cz->id, FERRY_ID_LEN);
	out->offset = cz->offset;
	out->data = z->buf;
	out->len = n;
	return 0;
}
