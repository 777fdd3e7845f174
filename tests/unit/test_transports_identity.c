/*
 * test_transports_identity.c - CUnit tests of transports/identity.c and
 * transports/base32.c: the C code against vectors computed independently by
 * scripts/gen-identity-vectors (identity_vectors.h), card parsing and its
 * refusals, the secret file's creation and permission checks, and labelled
 * signatures.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/identity_vectors.h"
#include "tests/unit/testutil.h"
#include "transports/base32.h"
#include "transports/identity.h"

#define NVEC (sizeof(identity_vectors) / sizeof(identity_vectors[0]))

/* ------------------------------------------------------------ helpers */

static struct identity *
vec_identity(size_t i)
{
	struct identity *id = NULL;

	CU_ASSERT_FATAL(identity_from_seed(identity_vectors[i].seed, &id) == 0);
	CU_ASSERT_FATAL(id != NULL);
	return id;
}

/* "<dir>/identity/secret" into out. */
static void
secret_path(char *out, size_t cap, const char *dir)
{
	int n = snprintf(out, cap, "%s/identity/secret", dir);

	CU_ASSERT_FATAL(n > 0 && (size_t)n < cap);
}

/* Write len bytes as <dir>/identity/secret with mode. */
static void
write_secret(const char *dir, const uint8_t *buf, size_t len, mode_t mode)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/identity", dir);
	CU_ASSERT_FATAL(mkdir(path, 0700) == 0 || errno == EEXIST);
	secret_path(path, sizeof(path), dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, buf, len) == (ssize_t)len);
	CU_ASSERT_FATAL(close(fd) == 0);
	CU_ASSERT_FATAL(chmod(path, mode) == 0);
}

/* Read <dir>/identity/secret; returns its length (at most cap). */
static size_t
read_secret(const char *dir, uint8_t *buf, size_t cap)
{
	char path[4096];
	ssize_t n;
	int fd;

	secret_path(path, sizeof(path), dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	n = read(fd, buf, cap);
	CU_ASSERT_FATAL(n >= 0);
	CU_ASSERT_FATAL(close(fd) == 0);
	return (size_t)n;
}

/* ------------------------------------------------------------- base32 */

struct b32_case {
	const char *raw;
	const char *enc;
};

/* RFC 4648 section 10, in lower case and without padding. */
static const struct b32_case b32_cases[] = {
    {"", ""},
    {"f", "my"},
    {"fo", "mzxq"},
    {"foo", "mzxw6"},
    {"foob", "mzxw6yq"},
    {"fooba", "mzxw6ytb"},
    {"foobar", "mzxw6ytboi"},
};

static void
test_base32_rfc4648_vectors(void)
{
	char enc[32], upper[32];
	uint8_t dec[16];
	size_t n;

	for (size_t i = 0; i < sizeof(b32_cases) / sizeof(b32_cases[0]); i++) {
		const struct b32_case *c = &b32_cases[i];
		size_t len = strlen(c->raw);

		CU_ASSERT(base32_encode((const uint8_t *)c->raw, len, enc,
					sizeof(enc)) == 0);
		CU_ASSERT_STRING_EQUAL(enc, c->enc);
		CU_ASSERT_EQUAL(strlen(enc), BASE32_ENC_LEN(len));
		CU_ASSERT(base32_decode(c->enc, strlen(c->enc), dec,
					sizeof(dec), &n) == 0);
		CU_ASSERT_EQUAL(n, len);
		CU_ASSERT(memcmp(dec, c->raw, len) == 0);
		/* Upper case reads the same. */
		for (size_t j = 0; j <= strlen(c->enc); j++)
			upper[j] = (char)(c->enc[j] >= 'a' && c->enc[j] <= 'z'
					      ? c->enc[j] - 'a' + 'A'
					      : c->enc[j]);
		CU_ASSERT(base32_decode(upper, strlen(upper), dec, sizeof(dec),
					&n) == 0);
		CU_ASSERT_EQUAL(n, len);
		CU_ASSERT(memcmp(dec, c->raw, len) == 0);
	}
}

struct b32_bad {
	const char *label;
	const char *enc;
};

static const struct b32_bad b32_bad_cases[] = {
    {"padding", "my======"},
    {"one character", "m"},
    {"three characters", "mzx"},
    {"six characters", "mzxw6y"},
    {"trailing bits set", "mz"},
    {"trailing bits set, 7 chars", "mzxw6yr"},
    {"digit 1", "m1"},
    {"digit 8", "m8"},
    {"space", "m y"},
    {"non-ascii", "m\xc3\xa9"},
};

static void
test_base32_rejects_bad_input(void)
{
	uint8_t dec[16];
	size_t n;

	for (size_t i = 0; i < sizeof(b32_bad_cases) / sizeof(b32_bad_cases[0]);
	     i++) {
		const struct b32_bad *c = &b32_bad_cases[i];
		int rc =
		    base32_decode(c->enc, strlen(c->enc), dec, sizeof(dec), &n);

		if (rc != FERRY_EINVAL)
			fprintf(stderr, "base32 case '%s' gave %d\n", c->label,
				rc);
		CU_ASSERT_EQUAL(rc, FERRY_EINVAL);
	}
	CU_ASSERT_EQUAL(base32_span("mzx w", 5), 3);
	CU_ASSERT_EQUAL(base32_span("MZXW6", 5), 5);
}

static void
test_base32_buffer_limits(void)
{
	char enc[11];
	uint8_t dec[6];
	size_t n;

	/* "foobar" needs 10 characters and the NUL. */
	CU_ASSERT(base32_encode((const uint8_t *)"foobar", 6, enc, 10) ==
		  FERRY_EINVAL);
	CU_ASSERT(base32_encode((const uint8_t *)"foobar", 6, enc, 11) == 0);
	CU_ASSERT(base32_decode("mzxw6ytboi", 10, dec, 5, &n) == FERRY_ETOOBIG);
	CU_ASSERT(base32_decode("mzxw6ytboi", 10, dec, 6, &n) == 0);
	CU_ASSERT_EQUAL(n, 6);
}

/* ------------------------------------------- vectors (python3-nacl) */

static void
test_vectors_derived_keys(void)
{
	for (size_t i = 0; i < NVEC; i++) {
		const struct identity_vector *v = &identity_vectors[i];
		struct identity *id = vec_identity(i);

		CU_ASSERT(memcmp(identity_sign_pk(id), v->sign_pk, 32) == 0);
		CU_ASSERT(memcmp(identity_kx_pk(id), v->kx_pk, 32) == 0);
		CU_ASSERT(memcmp(identity_kx_sk(id), v->kx_sk, 32) == 0);
		identity_free(id);
	}
}

static void
test_vectors_node_id_card_fingerprint(void)
{
	for (size_t i = 0; i < NVEC; i++) {
		const struct identity_vector *v = &identity_vectors[i];
		struct identity *id = vec_identity(i);
		uint8_t nid[IDENTITY_NODE_ID_LEN];
		char card[IDENTITY_CARD_MAX];
		char fpr[IDENTITY_FPR_LEN + 1];

		identity_node_id(v->sign_pk, v->kx_pk, nid);
		CU_ASSERT(memcmp(nid, v->node_id, sizeof(nid)) == 0);
		CU_ASSERT(identity_card(id, card, sizeof(card)) == 0);
		CU_ASSERT_STRING_EQUAL(card, v->card);
		CU_ASSERT_EQUAL(strlen(card), IDENTITY_CARD_LEN);
		identity_fingerprint(v->sign_pk, v->kx_pk, fpr);
		CU_ASSERT_STRING_EQUAL(fpr, v->fingerprint);
		CU_ASSERT_EQUAL(strlen(fpr), IDENTITY_FPR_LEN);
		identity_free(id);
	}
}

static void
test_vectors_signatures(void)
{
	for (size_t i = 0; i < NVEC; i++) {
		const struct identity_vector *v = &identity_vectors[i];
		struct identity *id = vec_identity(i);
		uint8_t sig[IDENTITY_SIG_LEN];

		CU_ASSERT(identity_sign(id, v->sig_label, v->msg, v->msg_len,
					sig) == 0);
		CU_ASSERT(memcmp(sig, v->sig, sizeof(sig)) == 0);
		CU_ASSERT(identity_verify(v->sign_pk, v->sig_label, v->msg,
					  v->msg_len, v->sig) == 0);
		identity_free(id);
	}
}

/* --------------------------------------------------------------- cards */

static void
test_card_round_trip(void)
{
	char buf[IDENTITY_CARD_MAX + 16], err[256];
	uint8_t spk[32], kpk[32];

	for (size_t i = 0; i < NVEC; i++) {
		const struct identity_vector *v = &identity_vectors[i];

		memset(spk, 0, sizeof(spk));
		memset(kpk, 0, sizeof(kpk));
		CU_ASSERT(identity_card_parse(v->card, spk, kpk, err,
					      sizeof(err)) == 0);
		CU_ASSERT(memcmp(spk, v->sign_pk, 32) == 0);
		CU_ASSERT(memcmp(kpk, v->kx_pk, 32) == 0);

		/* Pasted with white space around it, or shouted. */
		snprintf(buf, sizeof(buf), " \t%s\r\n", v->card);
		CU_ASSERT(
		    identity_card_parse(buf, spk, kpk, err, sizeof(err)) == 0);
		snprintf(buf, sizeof(buf), "%s", v->card);
		for (char *p = buf; *p != '\0'; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		CU_ASSERT(
		    identity_card_parse(buf, spk, kpk, err, sizeof(err)) == 0);
		CU_ASSERT(memcmp(spk, v->sign_pk, 32) == 0);
		CU_ASSERT(memcmp(kpk, v->kx_pk, 32) == 0);
	}
}

static int
same_letter(char a, char b)
{
	if (a >= 'A' && a <= 'Z')
		a = (char)(a - 'A' + 'a');
	if (b >= 'A' && b <= 'Z')
		b = (char)(b - 'A' + 'a');
	return a == b;
}

/* Every position, every other character: all refused, none accepted. */
static void
test_card_every_single_change_refused(void)
{
	static const char repl[] = "abcdefghijklmnopqrstuvwxyz234567"
				   "0189=-_ .";
	char buf[IDENTITY_CARD_MAX], err[256];
	uint8_t spk[32], kpk[32];
	unsigned tried = 0, accepted = 0;

	for (size_t i = 0; i < NVEC; i++) {
		const char *card = identity_vectors[i].card;

		for (size_t pos = 0; pos < strlen(card); pos++) {
			for (size_t r = 0; r < sizeof(repl) - 1; r++) {
				if (same_letter(repl[r], card[pos]))
					continue;
				snprintf(buf, sizeof(buf), "%s", card);
				buf[pos] = repl[r];
				tried++;
				if (identity_card_parse(buf, spk, kpk, err,
							sizeof(err)) !=
				    FERRY_EINVAL) {
					fprintf(stderr, "accepted: %s\n", buf);
					accepted++;
				}
			}
		}
	}
	CU_ASSERT(tried > 10000);
	CU_ASSERT_EQUAL(accepted, 0);
}

struct card_case {
	const char *label;
	const char *card; /* NULL: built by the test */
	const char *reason;
};

static const struct card_case card_cases[] = {
    {"empty", "", "must start with \"ferry1\""},
    {"white space only", " \n", "must start with \"ferry1\""},
    {"prefix only", "ferry1", "wrong length"},
    {"another tool", "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgp",
     "must start with \"ferry1\""},
    {"version in prefix", "ferry2abcdef", "must start with \"ferry1\""},
    {"space inside", "ferry1ahtn vcpp", "character 11 of the card"},
    {"padding", "ferry1ahtn====", "character 11 of the card"},
};

static void
check_card_refused(const char *label, const char *card, const char *reason)
{
	char err[256];
	uint8_t spk[32], kpk[32];
	int rc;

	err[0] = '\0';
	rc = identity_card_parse(card, spk, kpk, err, sizeof(err));
	if (rc != FERRY_EINVAL || strstr(err, reason) == NULL)
		fprintf(stderr, "card case '%s': rc %d, err '%s'\n", label, rc,
			err);
	CU_ASSERT_EQUAL(rc, FERRY_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, reason));
}

static void
test_card_malformed_refused(void)
{
	const char *card = identity_vectors[0].card;
	char buf[2 * IDENTITY_CARD_MAX];
	size_t len = strlen(card);

	for (size_t i = 0; i < sizeof(card_cases) / sizeof(card_cases[0]); i++)
		check_card_refused(card_cases[i].label, card_cases[i].card,
				   card_cases[i].reason);

	snprintf(buf, sizeof(buf), "%.*s", (int)len - 1, card);
	check_card_refused("one character short", buf, "wrong length");
	snprintf(buf, sizeof(buf), "%sa", card);
	check_card_refused("one character more", buf, "wrong length");
	snprintf(buf, sizeof(buf), "%s%s", card, card + 6);
	check_card_refused("pasted twice", buf, "wrong length");
	snprintf(buf, sizeof(buf), "%s", card);
	buf[10] = buf[10] == 'a' ? 'b' : 'a';
	check_card_refused("typo", buf, "typo in the card?");
	/* 552 bits in 111 characters: the last one carries 3 zero bits. */
	snprintf(buf, sizeof(buf), "%s", card);
	buf[len - 1] = buf[len - 1] == 'b' ? 'c' : 'b';
	check_card_refused("trailing bits", buf, "typo in the card?");
	check_card_refused("version 2", IDENTITY_VECTOR_CARD_V2,
			   "card version 2 is not supported");
}

static void
test_card_buffer_too_small(void)
{
	struct identity *id = vec_identity(0);
	char card[IDENTITY_CARD_MAX];

	CU_ASSERT(identity_card(id, card, IDENTITY_CARD_LEN) == FERRY_EINVAL);
	CU_ASSERT(identity_card(id, card, IDENTITY_CARD_LEN + 1) == 0);
	CU_ASSERT_STRING_EQUAL(card, identity_vectors[0].card);
	identity_free(id);
}

/* ---------------------------------------------------------- signatures */

static void
test_sign_verify_round_trip(void)
{
	struct identity *id = vec_identity(1);
	struct identity *other = vec_identity(2);
	uint8_t msg[100], sig[IDENTITY_SIG_LEN];
	const uint8_t *pk = identity_sign_pk(id);

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	CU_ASSERT(identity_sign(id, "ferry-test-v1", msg, sizeof(msg), sig) ==
		  0);
	CU_ASSERT(identity_verify(pk, "ferry-test-v1", msg, sizeof(msg), sig) ==
		  0);
	/* Another message, a changed signature, another key. */
	msg[50] ^= 1;
	CU_ASSERT(identity_verify(pk, "ferry-test-v1", msg, sizeof(msg), sig) ==
		  FERRY_ECORRUPT);
	msg[50] ^= 1;
	CU_ASSERT(identity_verify(pk, "ferry-test-v1", msg, sizeof(msg) - 1,
				  sig) == FERRY_ECORRUPT);
	sig[0] ^= 0x80;
	CU_ASSERT(identity_verify(pk, "ferry-test-v1", msg, sizeof(msg), sig) ==
		  FERRY_ECORRUPT);
	sig[0] ^= 0x80;
	CU_ASSERT(identity_verify(identity_sign_pk(other), "ferry-test-v1", msg,
				  sizeof(msg), sig) == FERRY_ECORRUPT);
	identity_free(id);
	identity_free(other);
}

static void
test_verify_other_label_fails(void)
{
	struct identity *id = vec_identity(0);
	const uint8_t *pk = identity_sign_pk(id);
	const uint8_t msg[] = "custody receipt 42";
	uint8_t sig[IDENTITY_SIG_LEN];

	CU_ASSERT(
	    identity_sign(id, "ferry-receipt-v1", msg, sizeof(msg), sig) == 0);
	CU_ASSERT(identity_verify(pk, "ferry-receipt-v1", msg, sizeof(msg),
				  sig) == 0);
	CU_ASSERT(identity_verify(pk, "ferry-bundle-v1", msg, sizeof(msg),
				  sig) == FERRY_ECORRUPT);
	CU_ASSERT(identity_verify(pk, "ferry-receipt-v2", msg, sizeof(msg),
				  sig) == FERRY_ECORRUPT);
	identity_free(id);
}

/* The length prefix keeps ("ab", "c") apart from ("a", "bc"). */
static void
test_label_boundary_is_signed(void)
{
	struct identity *id = vec_identity(0);
	const uint8_t *pk = identity_sign_pk(id);
	uint8_t sig[IDENTITY_SIG_LEN];

	CU_ASSERT(identity_sign(id, "ab", (const uint8_t *)"c", 1, sig) == 0);
	CU_ASSERT(identity_verify(pk, "ab", (const uint8_t *)"c", 1, sig) == 0);
	CU_ASSERT(identity_verify(pk, "a", (const uint8_t *)"bc", 2, sig) ==
		  FERRY_ECORRUPT);
	CU_ASSERT(identity_verify(pk, "abc", NULL, 0, sig) == FERRY_ECORRUPT);
	identity_free(id);
}

static void
test_sign_label_limits(void)
{
	struct identity *id = vec_identity(0);
	const uint8_t *pk = identity_sign_pk(id);
	uint8_t sig[IDENTITY_SIG_LEN];
	char label[IDENTITY_LABEL_MAX + 2];

	memset(label, 'x', sizeof(label));
	label[IDENTITY_LABEL_MAX] = '\0';
	CU_ASSERT(identity_sign(id, label, NULL, 0, sig) == 0);
	CU_ASSERT(identity_verify(pk, label, NULL, 0, sig) == 0);
	label[IDENTITY_LABEL_MAX] = 'x';
	label[IDENTITY_LABEL_MAX + 1] = '\0';
	CU_ASSERT(identity_sign(id, label, NULL, 0, sig) == FERRY_EINVAL);
	CU_ASSERT(identity_verify(pk, label, NULL, 0, sig) == FERRY_EINVAL);
	CU_ASSERT(identity_sign(id, "", NULL, 0, sig) == FERRY_EINVAL);
	CU_ASSERT(identity_sign(id, NULL, NULL, 0, sig) == FERRY_EINVAL);
	CU_ASSERT(identity_sign(id, "ferry-test-v1", NULL, 1, sig) ==
		  FERRY_EINVAL);
	identity_free(id);
}

/* ------------------------------------------------------- secret file */

static void
test_generate_then_load(void)
{
	char *dir = test_tmpdir("ident");
	char path[4096], err[512];
	uint8_t seed[64];
	struct identity *id = NULL, *want = NULL;
	struct stat sb;

	CU_ASSERT_FATAL(identity_generate(dir) == 0);
	snprintf(path, sizeof(path), "%s/identity", dir);
	CU_ASSERT_FATAL(stat(path, &sb) == 0);
	CU_ASSERT(S_ISDIR(sb.st_mode));
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0700);
	secret_path(path, sizeof(path), dir);
	CU_ASSERT_FATAL(stat(path, &sb) == 0);
	CU_ASSERT(S_ISREG(sb.st_mode));
	CU_ASSERT_EQUAL(sb.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL(sb.st_size, 32);
	CU_ASSERT_EQUAL(read_secret(dir, seed, sizeof(seed)), 32);

	CU_ASSERT_FATAL(identity_load(dir, &id, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(identity_from_seed(seed, &want) == 0);
	CU_ASSERT(memcmp(identity_sign_pk(id), identity_sign_pk(want), 32) ==
		  0);
	CU_ASSERT(memcmp(identity_kx_pk(id), identity_kx_pk(want), 32) == 0);
	identity_free(id);
	identity_free(want);
	test_rmtree(dir);
}

static void
test_generate_refuses_overwrite(void)
{
	char *dir = test_tmpdir("ident");
	uint8_t before[64], after[64];
	size_t n;

	CU_ASSERT_FATAL(identity_generate(dir) == 0);
	n = read_secret(dir, before, sizeof(before));
	CU_ASSERT_EQUAL(identity_generate(dir), FERRY_EBUSY);
	CU_ASSERT_EQUAL(read_secret(dir, after, sizeof(after)), n);
	CU_ASSERT(memcmp(before, after, n) == 0);
	test_rmtree(dir);
}

static void
test_generate_missing_state_dir(void)
{
	char *dir = test_tmpdir("ident");
	char path[4096];

	snprintf(path, sizeof(path), "%s/nonexistent", dir);
	CU_ASSERT_EQUAL(identity_generate(path), FERRY_ENOTFOUND);
	test_rmtree(dir);
}

static void
test_load_missing(void)
{
	char *dir = test_tmpdir("ident");
	struct identity *id = NULL;
	char err[512];

	CU_ASSERT_EQUAL(identity_load(dir, &id, err, sizeof(err)),
			FERRY_ENOTFOUND);
	CU_ASSERT_PTR_NULL(id);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "identity/secret"));
	test_rmtree(dir);
}

struct mode_case {
	mode_t mode;
	int want;
};

static const struct mode_case mode_cases[] = {
    {0600, 0},		 {0400, 0},	      {0640, FERRY_EPERM},
    {0604, FERRY_EPERM}, {0620, FERRY_EPERM}, {0602, FERRY_EPERM},
    {0660, FERRY_EPERM}, {0644, FERRY_EPERM}, {0610, FERRY_EPERM},
    {0601, FERRY_EPERM}, {0666, FERRY_EPERM},
};

static void
test_load_modes(void)
{
	char *dir = test_tmpdir("ident");
	struct identity *id = NULL;
	char err[512], path[4096];
	int rc;

	secret_path(path, sizeof(path), dir);
	for (size_t i = 0; i < sizeof(mode_cases) / sizeof(mode_cases[0]);
	     i++) {
		write_secret(dir, identity_vectors[0].seed, 32,
			     mode_cases[i].mode);
		rc = identity_load(dir, &id, err, sizeof(err));
		if (rc != mode_cases[i].want)
			fprintf(stderr, "mode %04o: rc %d (%s)\n",
				(unsigned)mode_cases[i].mode, rc, err);
		CU_ASSERT_EQUAL(rc, mode_cases[i].want);
		if (rc == 0) {
			CU_ASSERT(memcmp(identity_sign_pk(id),
					 identity_vectors[0].sign_pk, 32) == 0);
		} else {
			CU_ASSERT_PTR_NULL(id);
			CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "chmod 600"));
		}
		identity_free(id);
		id = NULL;
		CU_ASSERT_FATAL(chmod(path, 0600) == 0);
	}
	test_rmtree(dir);
}

static void
test_load_not_owned_refused(void)
{
	char *dir = test_tmpdir("ident");
	struct identity *id = NULL;
	char err[512], path[4096];

	if (geteuid() != 0) {
		/* Only root can give a file away; as a user, skip. */
		fprintf(stderr, "not root: ownership check not exercised\n");
		test_rmtree(dir);
		return;
	}
	write_secret(dir, identity_vectors[0].seed, 32, 0600);
	secret_path(path, sizeof(path), dir);
	CU_ASSERT_FATAL(chown(path, 1, 1) == 0);
	CU_ASSERT_EQUAL(identity_load(dir, &id, err, sizeof(err)), FERRY_EPERM);
	CU_ASSERT_PTR_NULL(id);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "chmod 600"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	test_rmtree(dir);
}

static void
test_load_wrong_size_corrupt(void)
{
	static const size_t sizes[] = {0, 1, 31, 33, 64};
	char *dir = test_tmpdir("ident");
	struct identity *id = NULL;
	uint8_t buf[64] = {0};
	char err[512];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		write_secret(dir, buf, sizes[i], 0600);
		CU_ASSERT_EQUAL(identity_load(dir, &id, err, sizeof(err)),
				FERRY_ECORRUPT);
		CU_ASSERT_PTR_NULL(id);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "exactly 32"));
	}
	test_rmtree(dir);
}

static void
test_load_not_regular_corrupt(void)
{
	char *dir = test_tmpdir("ident");
	struct identity *id = NULL;
	char err[512], path[4096];

	snprintf(path, sizeof(path), "%s/identity", dir);
	CU_ASSERT_FATAL(mkdir(path, 0700) == 0);
	secret_path(path, sizeof(path), dir);
	CU_ASSERT_FATAL(mkdir(path, 0700) == 0);
	CU_ASSERT_EQUAL(identity_load(dir, &id, err, sizeof(err)),
			FERRY_ECORRUPT);
	CU_ASSERT_PTR_NULL(id);
	/* A directory where the key should be is not overwritten either. */
	CU_ASSERT_EQUAL(identity_generate(dir), FERRY_EBUSY);
	test_rmtree(dir);
}

static void
test_free_null(void)
{
	identity_free(NULL);
	CU_PASS("identity_free(NULL) is a no-op");
}

/* ---------------------------------------------------------------- main */

static void
add_tests(void)
{
	CU_pSuite b32 = CU_add_suite("base32", NULL, NULL);
	CU_pSuite s = CU_add_suite("identity", NULL, NULL);

	if (b32 == NULL || s == NULL)
		abort();
	TEST_ADD(b32, test_base32_rfc4648_vectors);
	TEST_ADD(b32, test_base32_rejects_bad_input);
	TEST_ADD(b32, test_base32_buffer_limits);

	TEST_ADD(s, test_vectors_derived_keys);
	TEST_ADD(s, test_vectors_node_id_card_fingerprint);
	TEST_ADD(s, test_vectors_signatures);
	TEST_ADD(s, test_card_round_trip);
	TEST_ADD(s, test_card_every_single_change_refused);
	TEST_ADD(s, test_card_malformed_refused);
	TEST_ADD(s, test_card_buffer_too_small);
	TEST_ADD(s, test_sign_verify_round_trip);
	TEST_ADD(s, test_verify_other_label_fails);
	TEST_ADD(s, test_label_boundary_is_signed);
	TEST_ADD(s, test_sign_label_limits);
	TEST_ADD(s, test_generate_then_load);
	TEST_ADD(s, test_generate_refuses_overwrite);
	TEST_ADD(s, test_generate_missing_state_dir);
	TEST_ADD(s, test_load_missing);
	TEST_ADD(s, test_load_modes);
	TEST_ADD(s, test_load_not_owned_refused);
	TEST_ADD(s, test_load_wrong_size_corrupt);
	TEST_ADD(s, test_load_not_regular_corrupt);
	TEST_ADD(s, test_free_null);
}

int
main(void)
{
	return test_main("test_transports_identity", add_tests);
}
