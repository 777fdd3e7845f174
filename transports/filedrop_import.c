/*
 * filedrop_import.c - ferry import: every bundle in ferry/<my fpr>/ is
 * checked (header, sender, sequence, clock) and copied into
 * <state>/bundles/in/ while it is verified end to end (key wrap, every
 * chunk, signature); only then is its number recorded, the medium's copy
 * removed, and the local copy applied to the store.  Custody ids owed to
 * the sender are appended durably to <state>/bundles/owed/<peer> as the
 * messages commit, and written back to the medium as bundles at the end.
 * A refused bundle goes to ferry/rejected/ with a .txt saying why.
 */

#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/engine.h"
#include "agent/intake.h"
#include "agent/agent.h"
#include "agent/log.h"
#include "transports/filedrop_int.h"
#include "transports/bundle.h"
#include "transports/hop.h"

/* ------------------------------------------------------------- import */

struct cand {
	char name[300];
	const struct sneak_peer *sender;
	uint64_t seq;
	uint64_t size;
	int young; /* patient, and written to a moment ago */
};

static int
cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c = strcmp(x->sender->name, y->sender->name);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int
sneak_is_bundle_name(const char *name)
{
	size_t l = strlen(name);

	return l > 7 && strcasecmp(name + l - 7, ".bundle") == 0;
}

uint64_t
sneak_name_sig(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a final mix */

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

uint64_t
sneak_folder_sig(const char *dir, const char *fpr)
{
	char p[SNEAK_PATH_MAX + 64];
	uint64_t sig = 0;
	DIR *d;
	struct dirent *e;

	snprintf(p, sizeof(p), "%s/ferry/%s", dir, fpr);
	d = opendir(p);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (sneak_is_bundle_name(e->d_name))
			sig += sneak_name_sig(e->d_name);
	closedir(d);
	return sig;
}

/* Move a refused bundle aside with a .txt saying why (never deleted). */
static void
reject(struct sneak_job *j, const char *folder, const char *name,
       const char *why)
{
	char rdir[SNEAK_PATH_MAX + 32], from[SNEAK_PATH_MAX + 400];
	char to[SNEAK_PATH_MAX + 400], txt[SNEAK_PATH_MAX + 420];
	struct stat sb;
	int fd;

	j->rejected++;
	sneak_say(j, "refused %s: %s (moved to ferry/rejected/)", name, why);
	if (sneak_folder(j, "rejected", 1, rdir, sizeof(rdir)) != 0)
		return;
	snprintf(from, sizeof(from), "%s/%s", folder, name);
	snprintf(to, sizeof(to), "%s/%s", rdir, name);
	for (int k = 1; lstat(to, &sb) == 0 && k < 1000; k++)
		snprintf(to, sizeof(to), "%s/%d-%s", rdir, k, name);
	/* The reason first, then the bundle: a crash in between never
	 * leaves a refused bundle without its reason. */
	snprintf(txt, sizeof(txt), "%s.txt", to);
	(void)unlink(txt);
	fd = open(txt, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd >= 0) {
		/* The reason is a courtesy: the bundle is moved aside
		 * whether it can be written or not. */
		if (ferry_write_all(fd, why, strlen(why)) != 0 ||
		    ferry_write_all(fd, "\r\n", 2) != 0)
			log_debug("import: cannot write %s", txt);
		(void)fsync(fd);
		close(fd);
	}
	if (rename(from, to) != 0) {
		log_warn("import: cannot move %s aside: %s", from,
			 strerror(errno));
		(void)unlink(txt);
		return;
	}
	if (sneak_is_bundle_name(name))
		j->gone_sig += sneak_name_sig(name);
	(void)sneak_fsync_dir(rdir);
	(void)sneak_fsync_dir(folder);
}

/*
 * The reader's input: a file on the medium, read once, in order.  The
 * kernel's own read-ahead (128 KiB by default) left the import thread
 * waiting for the medium on most reads (0.77 s of 2.6 s for 256 MiB under
 * strace); the next SRC_AHEAD bytes are asked for (POSIX_FADV_WILLNEED,
 * which starts the reads and returns) whenever the reader comes within
 * half of that of what was asked, so the medium works while this thread
 * decrypts and writes.  The pages are the kernel's, not this process's.
 */
#define SRC_AHEAD (16u << 20)

struct src {
	int in;
	struct sneak_job *j;
	uint64_t off;	/* bytes read */
	uint64_t ahead; /* bytes asked for */
};

static int
src_read(void *arg, void *buf, size_t cap, size_t *n)
{
	struct src *t = arg;
	ssize_t got;

	if (t->off + SRC_AHEAD / 2 >= t->ahead) {
		(void)posix_fadvise(t->in, (off_t)t->ahead, SRC_AHEAD,
				    POSIX_FADV_WILLNEED);
		t->ahead += SRC_AHEAD;
	}
	do
		got = read(t->in, buf, cap);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return FERRY_EIO;
	*n = (size_t)got;
	t->off += (uint64_t)got;
	sneak_prog(t->j, NULL, (uint64_t)got, 0);
	return 0;
}

/* The local copy (SPOOL_MAGIC, filedrop_int.h): written here. */

struct spool_out {
	int fd;
	uint8_t *buf;
	size_t len;
	int rc;
};

static void
spool_put(struct spool_out *o, const void *p, size_t n)
{
	if (o->rc != 0)
		return;
	if (o->len + n > SPOOL_BUF) {
		o->rc = ferry_write_all(o->fd, o->buf, o->len);
		o->len = 0;
		if (o->rc != 0)
			return;
	}
	if (n > SPOOL_BUF) {
		o->rc = ferry_write_all(o->fd, p, n);
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* Steps 1-8 on a bundle file, with its frames written to out. */
static int
verify(struct sneak_job *j, int fd, int out, uint64_t size,
       const struct sneak_peer *sender, char *why, size_t whylen)
{
	struct src t = {fd, j, 0, 0};
	struct spool_out o = {out, NULL, 0, 0};
	struct intake in;
	struct intake_stage *sg = NULL;
	struct bundle_reader *r = NULL;
	struct hop_frame f;
	char line[160];
	int rc;

	memset(&in, 0, sizeof(in));
	in.st = j->st;
	in.me.name = j->node;
	in.me.max_message = j->max_message;
	in.me.router = engine_router();
	in.peer = sender->name;
	o.buf = malloc(SPOOL_BUF);
	if (o.buf == NULL)
		return FERRY_ENOMEM;
	rc = bundle_reader_open(src_read, &t, size, j->me, &r);
	if (rc == 0)
		rc = bundle_reader_unwrap(r, sender->sign_pk, sender->kx_pk);
	if (rc == 0) {
		const struct bundle_hdr *h = bundle_reader_hdr(r);
		int n;
		in.medium_ms =
		    intake_medium_ms(j->st, sender->name, h->created_ms);
		if ((sg = intake_stage_new(&in)) == NULL)
			rc = FERRY_ENOMEM;
		n = snprintf(line, sizeof(line),
			     "%s %s %" PRIu64 " %" PRId64 "\n", SPOOL_MAGIC,
			     sender->name, h->seq, h->created_ms);
		spool_put(&o, line, (size_t)n);
	}
	while (rc == 0 && (rc = bundle_reader_frame(r, &f)) == 1) {
		uint8_t hdr[HOP_FRAME_HDR];
		rc = 0;
		if (intake_stage_frame(sg, &f))
			continue;
		hdr[0] = f.type;
		hdr[1] = (uint8_t)(f.len >> 16);
		hdr[2] = (uint8_t)(f.len >> 8);
		hdr[3] = (uint8_t)f.len;
		spool_put(&o, hdr, sizeof(hdr));
		spool_put(&o, f.body, f.len);
		rc = 0;
	}
	if (rc == 0 && intake_stage_error(sg) != 0) {
		rc = intake_stage_error(sg);
		snprintf(why, whylen, "cannot store: %s", ferry_strerror(rc));
	} else if (rc != 0) {
		snprintf(why, whylen, "%s", bundle_reader_why(r));
	} else {
		if (o.rc == 0 && o.len > 0)
			o.rc = ferry_write_all(out, o.buf, o.len);
		if (o.rc != 0) {
			rc = o.rc;
			snprintf(why, whylen, "cannot write into the spool: %s",
				 ferry_strerror(rc));
		}
	}
	intake_stage_done(sg, rc == 0);
	bundle_reader_free(r);
	free(o.buf);
	return rc;
}

/* Steps 1-5 on a header; returns 0 (go on), 1 (skip quietly), or -1
 * (refuse, why set). */
static int
precheck(struct sneak_job *j, const struct bundle_hdr *h, uint64_t size,
	 const struct sneak_peer **sender, char *why, size_t whylen)
{
	uint8_t my_id[IDENTITY_NODE_ID_LEN];
	int verdict = 0, rc;

	if (size != h->size) {
		snprintf(why, whylen,
			 "%s: the file has %" PRIu64 " bytes, its header says "
			 "%" PRIu64,
			 size < h->size ? "truncated" : "longer than written",
			 size, h->size);
		return -1;
	}
	identity_node_id(identity_sign_pk(j->me), identity_kx_pk(j->me), my_id);
	if (sodium_memcmp(my_id, h->recipient, sizeof(my_id)) != 0) {
		snprintf(why, whylen, "addressed to another node's key");
		return -1;
	}
	*sender = sneak_peer_by_id(j, h->sender);
	if (*sender == NULL) {
		snprintf(why, whylen,
			 "from an unknown sender (not a configured peer)");
		return -1;
	}
	rc =
	    store_bundle_check(j->st, (*sender)->name, h->seq, h->id, &verdict);
	if (rc != 0) {
		snprintf(why, whylen, "cannot check its number: %s",
			 ferry_strerror(rc));
		return 1;
	}
	switch (verdict) {
	case STORE_BUNDLE_IMPORTED:
		if (j->keep)
			return 1;
		snprintf(why, whylen,
			 "already imported (bundle %" PRIu64 " from %s)",
			 h->seq, (*sender)->name);
		return -1;
	case STORE_BUNDLE_OLD:
		snprintf(why, whylen,
			 "a replay: bundle %" PRIu64
			 " from %s is older than those imported",
			 h->seq, (*sender)->name);
		return -1;
	case STORE_BUNDLE_CLONED:
		log_warn("import: %s sent two different bundles numbered "
			 "%" PRIu64 ": cloned or restored identity?",
			 (*sender)->name, h->seq);
		snprintf(why, whylen,
			 "number %" PRIu64 " from %s was used by another "
			 "bundle: cloned or restored identity?",
			 h->seq, (*sender)->name);
		return -1;
	default:
		break;
	}
	if (!intake_created_ok(j->st, (*sender)->name, h->created_ms,
			       j->skew_ms)) {
		snprintf(why, whylen,
			 "dated %" PRId64 " s in the future (beyond the "
			 "clock-skew allowance: check the clocks)",
			 (h->created_ms - ferry_wall_ms()) / 1000);
		return -1;
	}
	return 0;
}

/* A file modified within the last SNEAK_SETTLE_MS (either way: clocks
 * of media differ) may still be being copied onto the medium. */
static int
being_copied(const struct stat *sb)
{
	int64_t m =
	    (int64_t)sb->st_mtim.tv_sec * 1000 + sb->st_mtim.tv_nsec / 1000000;
	int64_t d = ferry_wall_ms() - m;

	return d < SNEAK_SETTLE_MS && d > -SNEAK_SETTLE_MS;
}

/* Patient: leave a bundle that may still be being copied for a later
 * look (not counted as seen, so the next look tries again). */
static void
still_copying(struct sneak_job *j, const char *name)
{
	j->seen_sig -= sneak_name_sig(name);
	j->copying++;
	sneak_say(j, "%s is still being copied there: looked at again shortly",
		  name);
}

/* Verify-and-copy one bundle of the medium, record it, remove it from the
 * medium, apply the copy. */
static int
import_one(struct sneak_job *j, const char *folder, const struct cand *c)
{
	char src[SNEAK_PATH_MAX + 400], part[SNEAK_PATH_MAX + 200];
	char local[SNEAK_PATH_MAX + 200], why[256], spool[SNEAK_PATH_MAX + 32];
	uint8_t raw[BUNDLE_HDR_LEN];
	struct bundle_hdr h;
	const struct sneak_peer *sender = NULL;
	const char *w = NULL;
	struct stat sb;
	int in, out, rc, pc;
	uint64_t closed = 0;

	snprintf(src, sizeof(src), "%s/%s", folder, c->name);
	in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (in < 0)
		return 0; /* gone meanwhile */
	if (fstat(in, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		/* Replaced by something else since it was listed. */
		close(in);
		reject(j, folder, c->name, "not a regular file");
		return 0;
	}
	if (pread(in, raw, sizeof(raw), 0) != (ssize_t)sizeof(raw) ||
	    bundle_hdr_decode(raw, &h, &w) != 0) {
		close(in);
		reject(j, folder, c->name, w != NULL ? w : "truncated header");
		return 0;
	}
	pc = precheck(j, &h, c->size, &sender, why, sizeof(why));
	if (pc != 0) {
		close(in);
		if (pc < 0)
			reject(j, folder, c->name, why);
		return 0;
	}
	snprintf(spool, sizeof(spool), "%s/bundles/in", j->state_dir);
	snprintf(local, sizeof(local), "%s/%s.%016" PRIx64 ".frames", spool,
		 sender->name, h.seq);
	if (snprintf(part, sizeof(part), "%s.part", local) >= (int)sizeof(part))
		return FERRY_EINVAL;
	out = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = ferry_errno_code(errno);
		close(in);
		sneak_say(j, "cannot copy %s into %s: %s", c->name, spool,
			  ferry_strerror(rc));
		return rc;
	}
	rc = verify(j, in, out, c->size, sender, why, sizeof(why));
	close(in);
	if (rc == 0 && fdatasync(out) != 0)
		rc = ferry_errno_code(errno);
	close(out);
	if (rc == FERRY_ECORRUPT || rc == FERRY_EPROTO || rc == FERRY_ESTATE ||
	    rc == FERRY_EINVAL) {
		(void)unlink(part);
		if (c->young) /* a copier that set the size first */
			still_copying(j, c->name);
		else
			reject(j, folder, c->name, why);
		return 0;
	}
	if (rc != 0) {
		(void)unlink(part);
		sneak_say(j, "cannot read %s: %s (left on the medium)", c->name,
			  why[0] != '\0' ? why : ferry_strerror(rc));
		return rc == FERRY_EIO ? 0 : rc;
	}
	if (rename(part, local) != 0 || sneak_fsync_dir(spool) != 0) {
		rc = ferry_errno_code(errno);
		(void)unlink(part);
		return rc;
	}
	/* The copy is durable and verified: the number is taken. */
	rc = store_bundle_accept(j->st, sender->name, h.seq, h.id, &closed);
	if (rc != 0 && rc != FERRY_EDUPLICATE) {
		(void)unlink(local);
		return rc;
	}
	if (closed > 0)
		log_warn("import: gave up waiting for %" PRIu64
			 " bundles from %s older than number %" PRIu64,
			 closed, sender->name, h.seq);
	j->bundles++;
	if (!j->keep) {
		if (unlink(src) != 0)
			log_warn("import: cannot remove %s from the medium: "
				 "%s (a second import refuses it as a replay)",
				 src, strerror(errno));
		else {
			j->gone_sig += sneak_name_sig(c->name);
			(void)sneak_fsync_dir(folder);
		}
	}
	rc = sneak_apply(j, local);
	if (rc == 0)
		(void)unlink(local);
	return rc == FERRY_EBUSY ? 0 : rc; /* kept for later (see busy) */
}

int
sneak_run_import(struct sneak_job *j, const char *myfpr)
{
	char folder[SNEAK_PATH_MAX + 64];
	struct cand *cands = NULL;
	size_t ncand = 0, cap = 0;
	uint64_t total = 0;
	DIR *d;
	struct dirent *e;
	int rc = 0;

	/* What an earlier run verified but did not finish applying, or kept
	 * for later. */
	sneak_busy_reset();
	if ((rc = sneak_apply_spool(j)) != 0)
		return rc;
	rc = sneak_folder(j, myfpr, 0, folder, sizeof(folder));
	d = rc == 0 ? opendir(folder) : NULL;
	if (rc == FERRY_EPERM) {
		sneak_say(j,
			  "ferry/%s on %s is not a real folder (a symbolic "
			  "link?): not followed",
			  myfpr, sneak_shown(j));
		return rc;
	}
	rc = 0;
	if (d == NULL) {
		sneak_say(j, "no bundles for this node on %s", sneak_shown(j));
		j->listed = 1;
	} else {
		while ((e = readdir(d)) != NULL && ncand < SNEAK_FILES_MAX) {
			char p[SNEAK_PATH_MAX + 400];
			uint8_t raw[BUNDLE_HDR_LEN];
			struct bundle_hdr h;
			struct stat sb;
			const char *w = "truncated header";
			int fd, hdr_ok, young;
			if (!sneak_is_bundle_name(e->d_name))
				continue;
			j->seen_sig += sneak_name_sig(e->d_name);
			snprintf(p, sizeof(p), "%s/%s", folder, e->d_name);
			/* O_NONBLOCK: a FIFO or a device named like a
			 * bundle must not block the open (it is refused
			 * below as not a regular file). */
			fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
					 O_NONBLOCK);
			if (fd < 0) {
				if (errno == ELOOP)
					reject(j, folder, e->d_name,
					       "a symbolic link, not a bundle");
				continue;
			}
			if (fstat(fd, &sb) != 0) {
				close(fd);
				continue; /* left for a later run */
			}
			if (!S_ISREG(sb.st_mode)) {
				close(fd);
				reject(j, folder, e->d_name,
				       "not a regular file");
				continue;
			}
			hdr_ok = pread(fd, raw, sizeof(raw), 0) ==
				     (ssize_t)sizeof(raw) &&
				 bundle_hdr_decode(raw, &h, &w) == 0;
			close(fd);
			young = j->patient && being_copied(&sb);
			if (young && (hdr_ok ? (uint64_t)sb.st_size < h.size
					     : sb.st_size < BUNDLE_HDR_LEN)) {
				still_copying(j, e->d_name);
				continue;
			}
			if (!hdr_ok) {
				reject(j, folder, e->d_name, w);
				continue;
			}
			if (ncand == cap) {
				size_t nc = cap == 0 ? 64 : cap * 2;
				struct cand *t =
				    realloc(cands, nc * sizeof(*t));
				if (t == NULL) {
					rc = FERRY_ENOMEM;
					break;
				}
				cands = t;
				cap = nc;
			}
			snprintf(cands[ncand].name, sizeof(cands[ncand].name),
				 "%s", e->d_name);
			cands[ncand].sender = sneak_peer_by_id(j, h.sender);
			cands[ncand].seq = h.seq;
			cands[ncand].size = (uint64_t)sb.st_size;
			cands[ncand].young = young;
			if (cands[ncand].sender == NULL) {
				reject(j, folder, e->d_name,
				       "from an unknown sender (not a "
				       "configured peer)");
				continue;
			}
			total += (uint64_t)sb.st_size;
			ncand++;
		}
		closedir(d);
		j->listed = rc == 0;
	}
	if (rc == 0 && ncand > 0) {
		qsort(cands, ncand, sizeof(*cands), cand_cmp);
		sneak_prog(j, "import", 0, total);
		for (size_t i = 0; i < ncand && rc == 0; i++) {
			if (sneak_cancelled(j)) {
				rc = FERRY_ECLOSED;
				break;
			}
			rc = import_one(j, folder, &cands[i]);
		}
	}
	free(cands);
	if (rc == 0) {
		/* Receipts back for each sender, on the same medium. */
		int saved = j->export;
		j->export = 1;
		rc = sneak_run_export(j, 1);
		j->export = saved;
		if (rc != 0)
			sneak_say(j,
				  "custody receipts not written to the medium: "
				  "%s (they are kept for the next export)",
				  ferry_strerror(rc));
		rc = 0;
	}
	sneak_carry_others(j, myfpr);
	return rc;
}
