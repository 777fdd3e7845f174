/*
 * bundle_peer.c - the C side of tests/interop/bundle_interop.py: writes and
 * reads sealed bundles (transports/bundle.c) with identities derived from
 * given seeds, so that another implementation of docs/formats.md
 * (tests/interop/bundlewire.py) can open what ferry seals and the reverse.
 *
 *   bundle_peer write SEED_SENDER SEED_RCPT SEQ FILE [CHUNK] < frames
 *   bundle_peer read SEED_RCPT SEED_SENDER FILE > frames
 *   bundle_peer verdicts SEED_RCPT SEED_SENDER FILE...
 *
 * Seeds are 64 hex digits.  write seals the raw frame bytes on stdin (fed
 * to the writer in pieces of varying sizes) into FILE, created or
 * truncated; CHUNK is the chunk size (default: ferry's).  read opens FILE
 * as the recipient, unwraps it with the sender's keys and writes every
 * frame (header and body) to stdout.  Exit 0, or 1 with one line on stderr
 * (bundle_reader_why for a refused bundle), 2 on bad usage.  verdicts
 * reads each FILE the same way, in one process, and prints one line per
 * file: "ok", or "refused (...): why".
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transports/bundle.h"
#include "transports/identity.h"

static int
usage(void)
{
	fprintf(stderr, "usage: bundle_peer write SEED_SENDER SEED_RCPT SEQ "
			"FILE [CHUNK] < frames\n"
			"       bundle_peer read SEED_RCPT SEED_SENDER FILE > "
			"frames\n");
	return 2;
}

static int
seed_identity(const char *hex, struct identity **out)
{
	uint8_t seed[IDENTITY_SEED_LEN];

	if (strlen(hex) != 2 * IDENTITY_SEED_LEN)
		return -1;
	for (size_t i = 0; i < IDENTITY_SEED_LEN; i++) {
		unsigned int b;
		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -1;
		seed[i] = (uint8_t)b;
	}
	return identity_from_seed(seed, out) == 0 ? 0 : -1;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* All of stdin into *buf (malloc'd), *len bytes. */
static int
slurp_stdin(uint8_t **buf, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	uint8_t *p = malloc(cap);

	if (p == NULL)
		return -1;
	for (;;) {
		size_t got;
		if (n == cap) {
			uint8_t *q = realloc(p, cap * 2);
			if (q == NULL) {
				free(p);
				return -1;
			}
			p = q;
			cap *= 2;
		}
		got = fread(p + n, 1, cap - n, stdin);
		n += got;
		if (got == 0) {
			if (ferror(stdin)) {
				free(p);
				return -1;
			}
			break;
		}
	}
	*buf = p;
	*len = n;
	return 0;
}

static int
do_write(char **argv, int argc)
{
	struct identity *me = NULL, *rcpt = NULL;
	struct bundle_writer *w = NULL;
	uint8_t rcpt_id[IDENTITY_NODE_ID_LEN];
	uint8_t *frames = NULL;
	size_t len = 0, off = 0, step = 1;
	uint64_t seq = 0, chunk = 0;
	int fd = -1, rc, ret = 1;

	if (seed_identity(argv[0], &me) != 0 ||
	    seed_identity(argv[1], &rcpt) != 0 ||
	    parse_u64(argv[2], &seq) != 0 ||
	    (argc > 4 &&
	     (parse_u64(argv[4], &chunk) != 0 || chunk > UINT32_MAX))) {
		ret = usage();
		goto out;
	}
	if (slurp_stdin(&frames, &len) != 0) {
		fprintf(stderr, "bundle_peer: cannot read stdin\n");
		goto out;
	}
	identity_node_id(identity_sign_pk(rcpt), identity_kx_pk(rcpt), rcpt_id);
	fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		fprintf(stderr, "bundle_peer: %s: %s\n", argv[3],
			strerror(errno));
		goto out;
	}
	rc = bundle_writer_open(fd, me, rcpt_id, identity_kx_pk(rcpt), seq,
				1700000000000LL, (uint32_t)chunk, &w);
	if (rc != 0) {
		fprintf(stderr, "bundle_peer: bundle_writer_open: %s\n",
			ferry_strerror(rc));
		goto out;
	}
	/* Pieces of 1, 3, 9, ... bytes: the writer must not care. */
	while (off < len) {
		size_t n = len - off < step ? len - off : step;
		rc = bundle_writer_put(w, frames + off, n);
		if (rc != 0) {
			fprintf(stderr, "bundle_peer: bundle_writer_put: %s\n",
				ferry_strerror(rc));
			bundle_writer_abort(w);
			goto out;
		}
		off += n;
		step = step * 3 % 200003 + 1;
	}
	rc = bundle_writer_finish(w, NULL);
	if (rc != 0) {
		fprintf(stderr, "bundle_peer: bundle_writer_finish: %s\n",
			ferry_strerror(rc));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0 && close(fd) != 0 && ret == 0) {
		fprintf(stderr, "bundle_peer: close: %s\n", strerror(errno));
		ret = 1;
	}
	free(frames);
	identity_free(me);
	identity_free(rcpt);
	return ret;
}

static int
read_fd(void *arg, void *buf, size_t cap, size_t *n)
{
	int fd = *(int *)arg;

	for (;;) {
		ssize_t got = read(fd, buf, cap);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return FERRY_EIO;
		*n = (size_t)got;
		return 0;
	}
}

/* Read one bundle; its frames go to out unless out is NULL.  0, or 1
 * with the reason in why; -1 if out cannot be written. */
static int
read_one(const struct identity *me, const struct identity *sender,
	 const char *path, FILE *out, char *why, size_t whylen)
{
	struct bundle_reader *r = NULL;
	struct hop_frame f;
	struct stat st;
	int fd, rc;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	rc = bundle_reader_open(read_fd, &fd, (uint64_t)st.st_size, me, &r);
	if (rc == 0)
		rc = bundle_reader_unwrap(r, identity_sign_pk(sender),
					  identity_kx_pk(sender));
	while (rc == 0 && (rc = bundle_reader_frame(r, &f)) == 1) {
		uint8_t hdr[HOP_FRAME_HDR] = {f.type, (uint8_t)(f.len >> 16),
					      (uint8_t)(f.len >> 8),
					      (uint8_t)f.len};
		if (out != NULL &&
		    (fwrite(hdr, 1, sizeof(hdr), out) != sizeof(hdr) ||
		     fwrite(f.body, 1, f.len, out) != f.len)) {
			bundle_reader_free(r);
			close(fd);
			return -1;
		}
		rc = 0;
	}
	if (rc != 0)
		snprintf(why, whylen, "refused (%s): %s", ferry_strerror(rc),
			 r != NULL ? bundle_reader_why(r) : "out of memory");
	bundle_reader_free(r);
	close(fd);
	return rc != 0;
}

static int
do_read(char **argv, int argc, int verdicts)
{
	struct identity *me = NULL, *sender = NULL;
	char why[512];
	int ret = 1, rc;

	if (seed_identity(argv[0], &me) != 0 ||
	    seed_identity(argv[1], &sender) != 0) {
		ret = usage();
		goto out;
	}
	if (!verdicts) {
		rc = read_one(me, sender, argv[2], stdout, why, sizeof(why));
		if (rc > 0)
			fprintf(stderr, "bundle_peer: %s\n", why);
		if (rc < 0 || fflush(stdout) != 0)
			fprintf(stderr, "bundle_peer: cannot write stdout\n");
		else
			ret = rc;
		goto out;
	}
	/* verdicts: one line per file, in one process (many files). */
	for (int i = 2; i < argc; i++) {
		rc = read_one(me, sender, argv[i], NULL, why, sizeof(why));
		printf("%s\n", rc == 0 ? "ok" : why);
	}
	ret = fflush(stdout) == 0 ? 0 : 1;
out:
	identity_free(me);
	identity_free(sender);
	return ret;
}

int
main(int argc, char **argv)
{
	if (argc >= 6 && argc <= 7 && strcmp(argv[1], "write") == 0)
		return do_write(argv + 2, argc - 2);
	if (argc == 5 && strcmp(argv[1], "read") == 0)
		return do_read(argv + 2, 3, 0);
	if (argc >= 5 && strcmp(argv[1], "verdicts") == 0)
		return do_read(argv + 2, argc - 2, 1);
	return usage();
}
