/*
 * identity.c - a node's identity (DESIGN.md section 9, docs/identity.md).
 *
 * Owns the secret file <state_dir>/identity/secret (created once, never
 * overwritten, refused when others may read it) and, in memory, the seed and
 * the two secret keys derived from it, kept in one read-only sodium_malloc()
 * block that identity_free() wipes.  Nothing here logs: failures come back
 * as codes plus, where a person must act, one line in the caller's buffer,
 * and no such line ever holds key bytes.
 *
 * Only published constructions, all from libsodium 1.0.18:
 *   sign seed = crypto_kdf_derive_from_key(32, 1, "ferry-id", seed)
 *   kx secret = crypto_kdf_derive_from_key(32, 2, "ferry-id", seed)
 *   Ed25519 pair = crypto_sign_seed_keypair(sign seed)
 *   X25519 public = crypto_scalarmult_base(kx secret)
 * Two independent pairs: no Ed25519 -> X25519 conversion, so the Noise key
 * and the signing key share nothing but their origin.
 *
 * Invariants:
 *   1. A struct identity handed to a caller is complete: both pairs are
 *      derived and its secret block is read-only.
 *   2. Every byte of secret material (seed, derived keys, file contents) is
 *      in sodium_malloc() memory and released with sodium_free(), which
 *      wipes it, on every path.
 *   3. A secret file, once linked under its final name, is never replaced
 *      or rewritten by ferry.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/util.h"
#include "transports/base32.h"
#include "transports/identity.h"

#define IDENTITY_KDF_CTX	"ferry-id" /* exactly crypto_kdf_CONTEXTBYTES */
#define IDENTITY_KDF_SIGN	1	   /* subkey id of the Ed25519 seed */
#define IDENTITY_KDF_KX		2	   /* subkey id of the X25519 secret */
#define IDENTITY_NODE_ID_DOMAIN "ferry-node-id-v1"
#define IDENTITY_CARD_DOMAIN	"ferry-card-v1"
#define IDENTITY_CARD_PREFIX	"ferry1"
#define IDENTITY_CARD_CHECK_LEN 4
/* version || sign_pk || kx_pk || checksum */
#define IDENTITY_CARD_BYTES (1 + 2 * IDENTITY_PK_LEN + IDENTITY_CARD_CHECK_LEN)
#define IDENTITY_FPR_BYTES  10 /* 80 bits: 16 base32 characters */
#define IDENTITY_DIR	    "identity"
#define IDENTITY_FILE	    "secret"
#define IDENTITY_TMP_FILE   "secret.tmp.XXXXXX"

_Static_assert(sizeof(IDENTITY_KDF_CTX) - 1 == crypto_kdf_CONTEXTBYTES,
	       "kdf context must be 8 bytes");
_Static_assert(IDENTITY_SEED_LEN == crypto_kdf_KEYBYTES, "seed size");
_Static_assert(IDENTITY_PK_LEN == crypto_sign_PUBLICKEYBYTES, "sign pk size");
_Static_assert(IDENTITY_SEED_LEN == crypto_sign_SEEDBYTES, "sign seed size");
_Static_assert(IDENTITY_PK_LEN == crypto_scalarmult_BYTES, "kx pk size");
_Static_assert(IDENTITY_SEED_LEN == crypto_scalarmult_SCALARBYTES,
	       "kx sk size");
_Static_assert(IDENTITY_SIG_LEN == crypto_sign_BYTES, "signature size");
_Static_assert(sizeof(IDENTITY_CARD_PREFIX) - 1 +
		       BASE32_ENC_LEN(IDENTITY_CARD_BYTES) ==
		   IDENTITY_CARD_LEN,
	       "IDENTITY_CARD_LEN");
_Static_assert(IDENTITY_CARD_LEN < IDENTITY_CARD_MAX, "IDENTITY_CARD_MAX");
_Static_assert(BASE32_ENC_LEN(IDENTITY_FPR_BYTES) == 16, "fingerprint size");

/* The secret half: one sodium_malloc block, read-only once derived. */
struct identity_secret {
	uint8_t seed[IDENTITY_SEED_LEN];
	uint8_t sign_seed[crypto_sign_SEEDBYTES];
	uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
	uint8_t kx_sk[crypto_scalarmult_SCALARBYTES];
};

struct identity {
	struct identity_secret *sec;
	uint8_t sign_pk[IDENTITY_PK_LEN];
	uint8_t kx_pk[IDENTITY_PK_LEN];
};

/* sodium_init() is idempotent and thread-safe; 1 means "already done". */
static int
identity_sodium_init(void)
{
	return sodium_init() < 0 ? FERRY_EIO : 0;
}

static void identity_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One line into the caller's err buffer; truncation is acceptable. */
static void
identity_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* out = "<state_dir>/<a>" or "<state_dir>/<a>/<b>"; FERRY_EINVAL if long. */
static int
identity_path(char out[PATH_MAX], const char *state_dir, const char *a,
	      const char *b)
{
	int n;

	if (b == NULL)
		n = snprintf(out, PATH_MAX, "%s/%s", state_dir, a);
	else
		n = snprintf(out, PATH_MAX, "%s/%s/%s", state_dir, a, b);
	if (n < 0 || n >= PATH_MAX)
		return FERRY_EINVAL;
	return 0;
}

/* Read until len bytes or end of file; *got says how many came. */
static int
identity_read_full(int fd, uint8_t *buf, size_t len, size_t *got)
{
	*got = 0;
	while (*got < len) {
		ssize_t n = read(fd, buf + *got, len - *got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ferry_errno_code(errno);
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

int
identity_generate(const char *state_dir)
{
	char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX];
	struct stat sb;
	uint8_t *seed = NULL;
	int fd = -1, tmp_made = 0, rc;

	if (state_dir == NULL)
		return FERRY_EINVAL;
	rc = identity_sodium_init();
	if (rc != 0)
		return rc;
	if (identity_path(dir, state_dir, IDENTITY_DIR, NULL) != 0 ||
	    identity_path(path, state_dir, IDENTITY_DIR, IDENTITY_FILE) != 0 ||
	    identity_path(tmp, state_dir, IDENTITY_DIR, IDENTITY_TMP_FILE) != 0)
		return FERRY_EINVAL;

	if (mkdir(dir, 0700) == 0) {
		rc = ferry_fsync_dir(state_dir);
		if (rc != 0)
			goto out;
	} else if (errno != EEXIST) {
		rc = ferry_errno_code(errno);
		goto out;
	}
	/* Cheap early answer; link() below is what makes it race-free. */
	if (lstat(path, &sb) == 0) {
		rc = FERRY_EBUSY;
		goto out;
	}
	if (errno != ENOENT) {
		rc = ferry_errno_code(errno);
		goto out;
	}

	seed = sodium_malloc(IDENTITY_SEED_LEN);
	if (seed == NULL) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	randombytes_buf(seed, IDENTITY_SEED_LEN);

	/* mkostemp creates the file 0600 (less under a strict umask). */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = ferry_errno_code(errno);
		goto out;
	}
	tmp_made = 1;
	if (fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
		rc = ferry_errno_code(errno);
		goto out;
	}
	rc = ferry_write_all(fd, seed, IDENTITY_SEED_LEN);
	if (rc != 0)
		goto out;
	if (fsync(fd) != 0) {
		rc = ferry_errno_code(errno);
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		rc = FERRY_EIO;
		goto out;
	}
	/*
	 * link(2), unlike rename(2), fails with EEXIST instead of replacing
	 * a secret that appeared since the lstat above (invariant 3).
	 */
	if (link(tmp, path) != 0) {
		rc = ferry_errno_code(errno);
		goto out;
	}
	/* From here the secret exists; a failure is reported, not undone. */
	tmp_made = 0;
	if (unlink(tmp) != 0) {
		rc = ferry_errno_code(errno);
		goto out;
	}
	rc = ferry_fsync_dir(dir);
out:
	/* Cleanup of a path that already failed: nothing more to report. */
	if (fd >= 0)
		(void)close(fd);
	if (tmp_made)
		(void)unlink(tmp);
	sodium_free(seed);
	return rc;
}

int
identity_from_seed(const uint8_t seed[IDENTITY_SEED_LEN], struct identity **out)
{
	struct identity *id = NULL;
	struct identity_secret *sec;
	int rc;

	if (out == NULL)
		return FERRY_EINVAL;
	*out = NULL;
	if (seed == NULL)
		return FERRY_EINVAL;
	rc = identity_sodium_init();
	if (rc != 0)
		return rc;
	id = calloc(1, sizeof(*id));
	if (id == NULL)
		return FERRY_ENOMEM;
	id->sec = sodium_malloc(sizeof(*id->sec));
	if (id->sec == NULL) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	sec = id->sec;
	memcpy(sec->seed, seed, IDENTITY_SEED_LEN);
	if (crypto_kdf_derive_from_key(sec->sign_seed, sizeof(sec->sign_seed),
				       IDENTITY_KDF_SIGN, IDENTITY_KDF_CTX,
				       sec->seed) != 0 ||
	    crypto_kdf_derive_from_key(sec->kx_sk, sizeof(sec->kx_sk),
				       IDENTITY_KDF_KX, IDENTITY_KDF_CTX,
				       sec->seed) != 0 ||
	    crypto_sign_seed_keypair(id->sign_pk, sec->sign_sk,
				     sec->sign_seed) != 0) {
		rc = FERRY_EINVAL;
		goto out;
	}
	/* -1 only for an all-zero result, impossible for a clamped scalar. */
	if (crypto_scalarmult_base(id->kx_pk, sec->kx_sk) != 0) {
		rc = FERRY_EINVAL;
		goto out;
	}
	if (sodium_mprotect_readonly(sec) != 0) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	*out = id;
	id = NULL;
	rc = 0;
out:
	identity_free(id);
	return rc;
}

/*
 * The secret file must be a regular file of exactly 32 bytes (else
 * FERRY_ECORRUPT), owned by us and closed to group and others (else
 * FERRY_EPERM, like ssh does for private keys).
 */
static int
identity_check_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat sb;
	int e;

	if (fstat(fd, &sb) != 0) {
		e = errno;
		identity_errf(err, errlen, "%s: %s", path, strerror(e));
		return ferry_errno_code(e);
	}
	if (!S_ISREG(sb.st_mode)) {
		identity_errf(err, errlen, "%s: not a regular file", path);
		return FERRY_ECORRUPT;
	}
	if (sb.st_uid != geteuid()) {
		identity_errf(err, errlen,
			      "%s: owned by uid %lu, not by uid %lu running "
			      "ferry; refusing the key: chown it, then "
			      "chmod 600 %s",
			      path, (unsigned long)sb.st_uid,
			      (unsigned long)geteuid(), path);
		return FERRY_EPERM;
	}
	if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		identity_errf(err, errlen,
			      "%s: mode %04o lets group or others at the "
			      "secret key; refusing it: run chmod 600 %s",
			      path, (unsigned)(sb.st_mode & 07777), path);
		return FERRY_EPERM;
	}
	if (sb.st_size != IDENTITY_SEED_LEN) {
		identity_errf(err, errlen,
			      "%s: %lld bytes, an identity secret has exactly "
			      "%d",
			      path, (long long)sb.st_size, IDENTITY_SEED_LEN);
		return FERRY_ECORRUPT;
	}
	return 0;
}

int
identity_load(const char *state_dir, struct identity **out, char *err,
	      size_t errlen)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t got;
	int fd = -1, rc, e;

	identity_errf(err, errlen, "%s", "");
	if (out == NULL)
		return FERRY_EINVAL;
	*out = NULL;
	if (state_dir == NULL)
		return FERRY_EINVAL;
	rc = identity_sodium_init();
	if (rc != 0) {
		identity_errf(err, errlen, "libsodium failed to initialise");
		return rc;
	}
	if (identity_path(path, state_dir, IDENTITY_DIR, IDENTITY_FILE) != 0) {
		identity_errf(err, errlen, "state directory path too long");
		return FERRY_EINVAL;
	}

	/* O_NONBLOCK: a FIFO planted there must not hang the daemon. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		rc = ferry_errno_code(e);
		if (rc == FERRY_ENOTFOUND)
			identity_errf(err, errlen,
				      "%s: no identity secret (not created "
				      "yet?)",
				      path);
		else
			identity_errf(err, errlen, "%s: %s", path, strerror(e));
		goto out;
	}
	/* Check the file we opened, not the name: no race with a swap. */
	rc = identity_check_file(fd, path, err, errlen);
	if (rc != 0)
		goto out;
	/* One byte more than wanted, to notice a file that grew. */
	buf = sodium_malloc(IDENTITY_SEED_LEN + 1);
	if (buf == NULL) {
		rc = FERRY_ENOMEM;
		identity_errf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	rc = identity_read_full(fd, buf, IDENTITY_SEED_LEN + 1, &got);
	if (rc != 0) {
		identity_errf(err, errlen, "%s: read failed: %s", path,
			      ferry_strerror(rc));
		goto out;
	}
	if (got != IDENTITY_SEED_LEN) {
		rc = FERRY_ECORRUPT;
		identity_errf(err, errlen,
			      "%s: %zu bytes, an identity secret has exactly "
			      "%d",
			      path, got, IDENTITY_SEED_LEN);
		goto out;
	}
	rc = identity_from_seed(buf, out);
	if (rc != 0)
		identity_errf(err, errlen, "%s: cannot derive keys: %s", path,
			      ferry_strerror(rc));
out:
	/* Read-only descriptor: close cannot lose data. */
	if (fd >= 0)
		(void)close(fd);
	sodium_free(buf);
	return rc;
}

void
identity_free(struct identity *id)
{
	if (id == NULL)
		return;
	sodium_free(id->sec); /* wipes, also when read-only; NULL ok */
	free(id);
}

const uint8_t *
identity_sign_pk(const struct identity *id)
{
	return id->sign_pk;
}

const uint8_t *
identity_kx_pk(const struct identity *id)
{
	return id->kx_pk;
}

const uint8_t *
identity_kx_sk(const struct identity *id)
{
	return id->sec->kx_sk;
}

/* digest = BLAKE2b-512(u8 strlen(label) || label || msg), once sodium
 * is ready (what signing and verifying sign). */
static int
identity_digest(const char *label, const uint8_t *msg, size_t len,
		uint8_t digest[crypto_generichash_BYTES_MAX])
{
	crypto_generichash_state st;
	uint8_t label_len;
	size_t n;
	int rc = identity_sodium_init();

	if (rc != 0)
		return rc;
	if (label == NULL || (msg == NULL && len != 0))
		return FERRY_EINVAL;
	n = strnlen(label, IDENTITY_LABEL_MAX + 1);
	if (n == 0 || n > IDENTITY_LABEL_MAX)
		return FERRY_EINVAL;
	label_len = (uint8_t)n;
	if (crypto_generichash_init(&st, NULL, 0,
				    crypto_generichash_BYTES_MAX) != 0 ||
	    crypto_generichash_update(&st, &label_len, 1) != 0 ||
	    crypto_generichash_update(&st, (const uint8_t *)label, n) != 0 ||
	    (len > 0 && crypto_generichash_update(&st, msg, len) != 0) ||
	    crypto_generichash_final(&st, digest,
				     crypto_generichash_BYTES_MAX) != 0)
		return FERRY_EINVAL;
	return 0;
}

int
identity_sign(const struct identity *id, const char *label, const uint8_t *msg,
	      size_t len, uint8_t sig[IDENTITY_SIG_LEN])
{
	uint8_t digest[crypto_generichash_BYTES_MAX];
	int rc;

	if (id == NULL || sig == NULL)
		return FERRY_EINVAL;
	rc = identity_digest(label, msg, len, digest);
	if (rc != 0)
		return rc;
	if (crypto_sign_detached(sig, NULL, digest, sizeof(digest),
				 id->sec->sign_sk) != 0)
		return FERRY_EINVAL;
	return 0;
}

int
identity_verify(const uint8_t sign_pk[IDENTITY_PK_LEN], const char *label,
		const uint8_t *msg, size_t len,
		const uint8_t sig[IDENTITY_SIG_LEN])
{
	uint8_t digest[crypto_generichash_BYTES_MAX];
	int rc;

	if (sign_pk == NULL || sig == NULL)
		return FERRY_EINVAL;
	rc = identity_digest(label, msg, len, digest);
	if (rc != 0)
		return rc;
	if (crypto_sign_verify_detached(sig, digest, sizeof(digest), sign_pk) !=
	    0)
		return FERRY_ECORRUPT;
	return 0;
}

/*
 * BLAKE2b works before sodium_init() (the portable implementation is the
 * default), so the void functions below need no initialisation.  Their
 * calls fail only for out-of-range lengths, which are constants here: a
 * failure is our bug, hence abort().
 */
void
identity_node_id(const uint8_t sign_pk[IDENTITY_PK_LEN],
		 const uint8_t kx_pk[IDENTITY_PK_LEN],
		 uint8_t out[IDENTITY_NODE_ID_LEN])
{
	crypto_generichash_state st;

	if (crypto_generichash_init(&st, NULL, 0, IDENTITY_NODE_ID_LEN) != 0 ||
	    crypto_generichash_update(
		&st, (const uint8_t *)IDENTITY_NODE_ID_DOMAIN,
		sizeof(IDENTITY_NODE_ID_DOMAIN) - 1) != 0 ||
	    crypto_generichash_update(&st, sign_pk, IDENTITY_PK_LEN) != 0 ||
	    crypto_generichash_update(&st, kx_pk, IDENTITY_PK_LEN) != 0 ||
	    crypto_generichash_final(&st, out, IDENTITY_NODE_ID_LEN) != 0)
		abort();
}

/* First 4 bytes of BLAKE2b-256("ferry-card-v1" || version || keys). */
static void
identity_card_check(const uint8_t *body, uint8_t check[IDENTITY_CARD_CHECK_LEN])
{
	crypto_generichash_state st;
	uint8_t h[32];

	if (crypto_generichash_init(&st, NULL, 0, sizeof(h)) != 0 ||
	    crypto_generichash_update(&st,
				      (const uint8_t *)IDENTITY_CARD_DOMAIN,
				      sizeof(IDENTITY_CARD_DOMAIN) - 1) != 0 ||
	    crypto_generichash_update(
		&st, body, IDENTITY_CARD_BYTES - IDENTITY_CARD_CHECK_LEN) !=
		0 ||
	    crypto_generichash_final(&st, h, sizeof(h)) != 0)
		abort();
	memcpy(check, h, IDENTITY_CARD_CHECK_LEN);
}

int
identity_card(const struct identity *id, char *out, size_t cap)
{
	uint8_t raw[IDENTITY_CARD_BYTES];
	size_t plen = sizeof(IDENTITY_CARD_PREFIX) - 1;

	if (id == NULL || out == NULL || cap < IDENTITY_CARD_LEN + 1)
		return FERRY_EINVAL;
	raw[0] = IDENTITY_CARD_VERSION;
	memcpy(raw + 1, id->sign_pk, IDENTITY_PK_LEN);
	memcpy(raw + 1 + IDENTITY_PK_LEN, id->kx_pk, IDENTITY_PK_LEN);
	identity_card_check(raw, raw + IDENTITY_CARD_BYTES -
				     IDENTITY_CARD_CHECK_LEN);
	memcpy(out, IDENTITY_CARD_PREFIX, plen);
	return base32_encode(raw, sizeof(raw), out + plen, cap - plen);
}

static int
identity_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/*
 * Order of checks: prefix, alphabet, length, trailing bits, checksum,
 * version.  The checksum covers the version byte, so a typo there reads
 * "typo in the card?"; only a card whose checksum holds is reported as a
 * version this ferry does not know.
 */
int
identity_card_parse(const char *card, uint8_t sign_pk[IDENTITY_PK_LEN],
		    uint8_t kx_pk[IDENTITY_PK_LEN], char *err, size_t errlen)
{
	uint8_t raw[IDENTITY_CARD_BYTES];
	uint8_t check[IDENTITY_CARD_CHECK_LEN];
	const size_t plen = sizeof(IDENTITY_CARD_PREFIX) - 1;
	const char *start, *end;
	size_t len, span, rawlen;

	identity_errf(err, errlen, "%s", "");
	if (card == NULL || sign_pk == NULL || kx_pk == NULL) {
		identity_errf(err, errlen, "no card");
		return FERRY_EINVAL;
	}
	start = card;
	while (identity_is_space(*start))
		start++;
	end = start + strlen(start);
	while (end > start && identity_is_space(end[-1]))
		end--;
	len = (size_t)(end - start);

	if (len < plen || strncasecmp(start, IDENTITY_CARD_PREFIX, plen) != 0) {
		identity_errf(err, errlen,
			      "not a ferry card: it must start with \"%s\"",
			      IDENTITY_CARD_PREFIX);
		return FERRY_EINVAL;
	}
	span = base32_span(start + plen, len - plen);
	if (span < len - plen) {
		identity_errf(err, errlen,
			      "character %zu of the card is not base32 "
			      "(a-z, 2-7)",
			      plen + span + 1);
		return FERRY_EINVAL;
	}
	if (len != IDENTITY_CARD_LEN) {
		identity_errf(err, errlen,
			      "wrong length: %zu characters, a card has %d "
			      "(cut short or pasted twice?)",
			      len, IDENTITY_CARD_LEN);
		return FERRY_EINVAL;
	}
	if (base32_decode(start + plen, len - plen, raw, sizeof(raw),
			  &rawlen) != 0 ||
	    rawlen != sizeof(raw)) {
		identity_errf(err, errlen,
			      "the last character cannot end a card (typo in "
			      "the card?)");
		return FERRY_EINVAL;
	}
	identity_card_check(raw, check);
	if (memcmp(check, raw + IDENTITY_CARD_BYTES - IDENTITY_CARD_CHECK_LEN,
		   IDENTITY_CARD_CHECK_LEN) != 0) {
		identity_errf(err, errlen,
			      "checksum does not match (typo in the card?)");
		return FERRY_EINVAL;
	}
	if (raw[0] != IDENTITY_CARD_VERSION) {
		identity_errf(err, errlen,
			      "card version %u is not supported (this ferry "
			      "reads version %d)",
			      (unsigned)raw[0], IDENTITY_CARD_VERSION);
		return FERRY_EINVAL;
	}
	memcpy(sign_pk, raw + 1, IDENTITY_PK_LEN);
	memcpy(kx_pk, raw + 1 + IDENTITY_PK_LEN, IDENTITY_PK_LEN);
	return 0;
}

void
identity_fingerprint(const uint8_t sign_pk[IDENTITY_PK_LEN],
		     const uint8_t kx_pk[IDENTITY_PK_LEN],
		     char out[IDENTITY_FPR_LEN + 1])
{
	uint8_t nid[IDENTITY_NODE_ID_LEN];
	char b32[BASE32_ENC_LEN(IDENTITY_FPR_BYTES) + 1];
	size_t n = 0;

	identity_node_id(sign_pk, kx_pk, nid);
	if (base32_encode(nid, IDENTITY_FPR_BYTES, b32, sizeof(b32)) != 0)
		abort(); /* the buffer is sized by the same macro */
	for (size_t i = 0; i < sizeof(b32) - 1; i++) {
		if (i > 0 && i % 4 == 0)
			out[n++] = '-';
		out[n++] = b32[i];
	}
	out[n] = '\0';
}
