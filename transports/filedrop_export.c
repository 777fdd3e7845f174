/*
 * filedrop_export.c - ferry export: per peer, in forwarding order, owed
 * custody ids first, then the messages (MSG, CHUNKs, END), into
 * ferry/<fpr>/<id>.bundle.part files of at most the segment size; each
 * file is fsync'd, renamed and its folder fsync'd before its messages are
 * marked "on medium" and its custody ids stop being owed.
 */

#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/intake.h"
#include "agent/agent.h"
#include "agent/log.h"
#include "agent/engine.h"
#include "transports/filedrop_int.h"
#include "transports/bundle.h"
#include "transports/hop.h"

/* ------------------------------------------------------------- export */

/* A bundle file being written for one peer. */
struct bfile {
	const struct sneak_peer *peer;
	char folder[SNEAK_PATH_MAX + 64];
	char part[SNEAK_PATH_MAX + 128];
	int fd;
	struct bundle_writer *w;
	uint8_t (*ids)[FERRY_ID_LEN]; /* messages ended in this file */
	uint8_t *track;		      /* ... each tracked from elsewhere */
	size_t nids;
	size_t owed; /* owed custody ids it carries */
};

struct exporter {
	struct sneak_job *j;
	struct bfile bf;
	int custody_only; /* import's answer: receipts, counted apart */
	uint64_t budget;  /* bytes this export may still put on the medium */
	uint64_t room;	  /* of which the medium's space alone allows */
	uint64_t segment; /* bytes per file */
	uint8_t frame[HOP_PLAIN_MAX];
	uint8_t piece[SNEAK_PIECE];
	struct hop_zstd *z; /* CHUNKZ, made on first use */
	/* per peer */
	uint64_t msgs, bytes, files, nofit_msgs, nofit_bytes, skipped;
	size_t owed_total;
};

static int
readme(const char *top)
{
	static const char text[] =
	    "This folder belongs to ferry, a store-and-forward message "
	    "agent.\r\n"
	    "The files under it are sealed, signed message bundles on their "
	    "way\r\n"
	    "between ferry nodes; only the node each is addressed to can "
	    "read it.\r\n"
	    "If you found this medium, please return it to its owner. "
	    "Deleting\r\n"
	    "these files loses messages that may not exist anywhere "
	    "else.\r\n";
	char p[SNEAK_PATH_MAX + 128];
	struct stat sb;
	int fd, rc;

	snprintf(p, sizeof(p), "%s/README.txt", top);
	if (lstat(p, &sb) == 0)
		return 0;
	fd =
	    open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : ferry_errno_code(errno);
	rc = ferry_write_all(fd, text, sizeof(text) - 1);
	if (rc == 0 && fsync(fd) != 0)
		rc = ferry_errno_code(errno);
	close(fd);
	return rc;
}

/* Remove the .part files a pulled medium left in folder. */
static void
clean_parts(const char *folder)
{
	DIR *d = opendir(folder);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char p[SNEAK_PATH_MAX + 320];
		if (n > 5 && strcasecmp(e->d_name + n - 5, ".part") == 0) {
			snprintf(p, sizeof(p), "%s/%s", folder, e->d_name);
			if (unlink(p) == 0)
				log_info("export: removed %s, left by an "
					 "interrupted run",
					 p);
		}
	}
	closedir(d);
}

static int
bf_open(struct exporter *x)
{
	struct sneak_job *j = x->j;
	struct bfile *bf = &x->bf;
	uint64_t seq = 0;
	int rc;

	if ((rc = store_bundle_next_seq(j->st, bf->peer->name, &seq)) != 0)
		return rc;
	snprintf(bf->part, sizeof(bf->part), "%s/%016" PRIx64 ".part",
		 bf->folder, seq);
	/* A name left by anyone is removed, never followed. */
	(void)unlink(bf->part);
	bf->fd =
	    open(bf->part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		 0644);
	if (bf->fd < 0) {
		struct stat sb;
		int e = errno;
		/* bf->folder is /proc/self/fd/N (sneak_folder): stat
		 * follows that link to the folder itself. */
		if (e != ENOENT || stat(bf->folder, &sb) != 0 ||
		    !S_ISDIR(sb.st_mode))
			return ferry_errno_code(e);
		/* "No such file" in a folder that is there: fusefat does this
		 * with a folder that lies (or grew) beyond the first 2 GiB of
		 * the medium; say so rather than "not found". */
		sneak_say(
		    j,
		    "%s: the medium cannot create files in this folder: its "
		    "driver is faulty (fusefat cannot use a folder beyond "
		    "the first 2 GiB of a FAT medium)",
		    sneak_shown(j));
		return FERRY_EIO;
	}
	rc = bundle_writer_open_flags(
	    bf->fd, j->me, bf->peer->id, bf->peer->kx_pk, seq, ferry_wall_ms(),
	    0, bf->peer->compress_level != 0 ? BUNDLE_FLAG_ZSTD : 0, &bf->w);
	if (rc != 0) {
		close(bf->fd);
		bf->fd = -1;
		(void)unlink(bf->part);
		return rc;
	}
	bf->nids = 0;
	bf->owed = 0;
	return 0;
}

static void
bf_abort(struct bfile *bf)
{
	if (bf->w != NULL)
		bundle_writer_abort(bf->w);
	bf->w = NULL;
	if (bf->fd >= 0) {
		close(bf->fd);
		(void)unlink(bf->part);
	}
	bf->fd = -1;
}

/* Seal, fsync, rename, fsync the folder; then mark and forget (inv. 2). */
static int
bf_close(struct exporter *x)
{
	struct sneak_job *j = x->j;
	struct bfile *bf = &x->bf;
	struct bundle_hdr h;
	char hex[2 * BUNDLE_ID_LEN + 1], final[SNEAK_PATH_MAX + 128];
	int rc;

	rc = bundle_writer_finish(bf->w, &h);
	bf->w = NULL;
	if (rc == 0 && fsync(bf->fd) != 0)
		rc = ferry_errno_code(errno);
	if (rc != 0) {
		bf_abort(bf);
		return rc;
	}
	close(bf->fd);
	bf->fd = -1;
	{
		/* Read the header back through a new descriptor: a medium
		 * that does not keep what was written must not get the
		 * messages marked as on it.  (fusefat, for one, loses a
		 * rewrite of the first bytes of a small file.) */
		uint8_t want[BUNDLE_HDR_LEN], got[BUNDLE_HDR_LEN];
		int fd = open(bf->part, O_RDONLY | O_CLOEXEC);
		bundle_hdr_encode(&h, want);
		if (fd < 0 ||
		    pread(fd, got, sizeof(got), 0) != (ssize_t)sizeof(got) ||
		    memcmp(want, got, sizeof(got)) != 0) {
			log_error("export: %s does not read back as written: "
				  "the medium or its driver is faulty",
				  bf->part);
			if (fd >= 0)
				close(fd);
			(void)unlink(bf->part);
			return FERRY_EIO;
		}
		close(fd);
	}
	for (size_t i = 0; i < BUNDLE_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", h.id[i]);
	snprintf(final, sizeof(final), "%s/%s.bundle", bf->folder, hex);
	if (rename(bf->part, final) != 0) {
		rc = ferry_errno_code(errno);
		(void)unlink(bf->part);
		return rc;
	}
	if ((rc = sneak_fsync_dir(bf->folder)) != 0)
		return rc;
	x->budget = x->budget > h.size ? x->budget - h.size : 0;
	x->room = x->room > h.size ? x->room - h.size : 0;
	x->files++;
	if (!x->custody_only)
		j->bundles++;
	for (size_t i = 0; i < bf->nids; i++) {
		int r = store_out_exported_track(j->st, bf->ids[i],
						 bf->peer->name, sneak_shown(j),
						 ferry_wall_ms(), bf->track[i]);
		if (r != 0 && r != FERRY_ENOTFOUND)
			log_warn("export: cannot mark a message as on the "
				 "medium: %s (it may be exported again)",
				 ferry_strerror(r));
	}
	if (bf->owed > 0 &&
	    (rc = sneak_owed_drop(j, bf->peer->name, bf->owed)) != 0)
		log_warn("export: cannot forget custody receipts written: %s "
			 "(they will be written again: harmless)",
			 ferry_strerror(rc));
	bf->nids = 0;
	bf->owed = 0;
	return 0;
}

/* Bytes of the medium this file would use after extra more frame bytes. */
static uint64_t
bf_after(const struct exporter *x, uint64_t extra)
{
	return x->bf.w == NULL ? bundle_size_for(extra, BUNDLE_CHUNK_DEFAULT)
			       : bundle_writer_size_after(x->bf.w, extra);
}

static int
put_frame(struct exporter *x, const uint8_t *p, size_t len)
{
	int rc = bundle_writer_put(x->bf.w, p, len);

	if (rc == 0)
		sneak_prog(x->j, NULL, len, 0);
	return rc;
}

static int
put_custody(struct exporter *x, const uint8_t *ids, size_t n)
{
	while (n > 0) {
		struct hop_rbuf b;
		size_t put, len = 0;
		int rc;
		hop_rbuf_init(&b, x->frame, sizeof(x->frame));
		put = hop_put_custody(&b, ids, n);
		if (put == 0 || hop_rbuf_end(&b, &len) != 0)
			return FERRY_EINVAL;
		if ((rc = put_frame(x, x->frame, len)) != 0)
			return rc;
		ids += put * FERRY_ID_LEN;
		n -= put;
	}
	return 0;
}

/* Frame bytes a whole message needs (from offset 0). */
static uint64_t
msg_cost(const struct hop_msg *hm)
{
	uint64_t len = hm->msg.payload_len;
	uint64_t pieces = (len + SNEAK_PIECE - 1) / SNEAK_PIECE;

	return hop_msg_frame_len(hm) + len + pieces * SNEAK_FRAME_OVH +
	       HOP_FRAME_HDR + HOP_END_LEN;
}

/* CHUNKZ in bundles (docs/hop.md 4.8, as tcp_send.c does it): the least
 * payload worth a zstd frame, and how small a sample must get (per
 * 1,000) for the message to be sent compressed. */
#define ZMIN_BYTES    128
#define ZPAY_PERMILLE 900

/*
 * One CHUNKZ of the message at off into x->frame (*flen its length, *got
 * the payload bytes it stands for), as many bytes as the ratio so far
 * (*zpm, zstd bytes per 1,000; 0 before the sample) says fill a frame.
 * 1: made; 0: send a plain CHUNK (the reader is back at off; *zpm 0 and a
 * sample that did not pay: *zpm = UINT_MAX, plain from now on); < 0 an
 * error.
 */
static int
export_chunkz(struct exporter *x, struct store_reader *rd,
	      const uint8_t id[FERRY_ID_LEN], uint64_t off, uint64_t left,
	      unsigned *zpm, size_t *flen, size_t *got)
{
	size_t zroom = sizeof(x->frame) - HOP_FRAME_HDR - HOP_CHUNKZ_HDR;
	size_t want, n, pay;
	struct hop_rbuf b;
	uint8_t *buf;
	int rc;

	if (x->z == NULL && (x->z = hop_zstd_new()) == NULL)
		return FERRY_ENOMEM;
	if ((buf = hop_zstd_buf(x->z)) == NULL)
		return FERRY_ENOMEM;
	for (int tries = 0; tries < 3; tries++) {
		want = *zpm == 0
			   ? SNEAK_PIECE
			   : (size_t)((uint64_t)zroom * ZPAY_PERMILLE / *zpm);
		if (want > HOP_ZORIG_MAX)
			want = HOP_ZORIG_MAX;
		if ((uint64_t)want > left)
			want = (size_t)left;
		if (want < ZMIN_BYTES)
			return 0;
		for (*got = 0; *got < want; *got += n) {
			rc = store_reader_read(rd, buf + *got, want - *got, &n);
			if (rc != 0)
				return rc;
			if (n == 0)
				return FERRY_ECORRUPT;
		}
		pay = (size_t)((uint64_t)*got * ZPAY_PERMILLE / 1000);
		hop_rbuf_init(&b, x->frame, sizeof(x->frame));
		rc = hop_put_chunkz(&b, x->z, x->bf.peer->compress_level, id,
				    off, buf, *got, pay);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			*zpm = (unsigned)((uint64_t)rc * 1000 / *got) + 1;
			return hop_rbuf_end(&b, flen) == 0 ? 1 : FERRY_EINVAL;
		}
		if ((rc = store_reader_seek(rd, off)) != 0)
			return rc;
		if (pay <= zroom) {
			if (*zpm == 0)
				*zpm = UINT_MAX; /* does not compress */
			return 0;
		}
		*zpm *= 2; /* shrank, not into one frame: fewer bytes */
	}
	return 0;
}

/* Write one message; it may span files.  1: did not fit (nothing of it
 * written), 2: not here any more (expired, or handed over by another
 * transport meanwhile), 0: written, or an error. */
static int
export_msg(struct exporter *x, const struct store_msg_info *info)
{
	struct sneak_job *j = x->j;
	struct store_reader *rd = NULL;
	struct hop_msg hm;
	struct hop_end e;
	struct hop_rbuf b;
	uint64_t off = 0, len = info->msg.payload_len, cost, cur, limit;
	int64_t now = ferry_wall_ms();
	size_t flen = 0;
	unsigned zpm = x->bf.peer->compress_level != 0 ? 0 : UINT_MAX;
	int rc;

	memset(&hm, 0, sizeof(hm));
	hm.msg = info->msg;
	if ((rc = engine_hop_fill(&hm, info, j->node, x->bf.peer->name,
				  j->st)) != 0)
		return rc == FERRY_ENOTFOUND ? 2 : rc;
	if (info->msg.expires_ms != 0) {
		if (info->msg.expires_ms <= now)
			return 2; /* the sweep dead-letters it */
		hm.ttl_ms = (uint64_t)(info->msg.expires_ms - now);
	}
	cost = msg_cost(&hm);
	/* A message that does not fit what is left is not started: the
	 * medium gets whole messages, most urgent first.  With first_whole
	 * the first message of a run may exceed max_bytes (not the medium's
	 * space): a window that bounds a folder must not stop a message
	 * larger than the window for ever. */
	cur = x->bf.w != NULL ? bf_after(x, 0) : 0;
	limit = x->j->first_whole && x->msgs == 0 ? x->room : x->budget;
	if (cur > limit || bundle_size_for(cost, BUNDLE_CHUNK_DEFAULT) +
				   (cost / x->segment) * BUNDLE_MIN_SIZE >
			       limit - cur)
		return 1;
	/* Small ones never span files: start a new file instead. */
	if (x->bf.w != NULL &&
	    (x->bf.nids == SNEAK_IDS_MAX ||
	     (bf_after(x, cost) > x->segment &&
	      (len <= SNEAK_SMALL || bf_after(x, 0) > x->segment / 2)))) {
		if ((rc = bf_close(x)) != 0)
			return rc;
	}
	if ((rc = store_reader_open(j->st, info->msg.id, &rd)) != 0)
		return rc == FERRY_ENOTFOUND ? 2 : rc; /* left meanwhile */
	for (;;) {
		if (x->bf.w == NULL && (rc = bf_open(x)) != 0)
			goto out;
		/* MSG, at the start and at each continuation. */
		hm.offset = off;
		hop_rbuf_init(&b, x->frame, sizeof(x->frame));
		hop_put_msg(&b, &hm);
		if ((rc = hop_rbuf_end(&b, &flen)) != 0 ||
		    (rc = put_frame(x, x->frame, flen)) != 0)
			goto out;
		while (off < len) {
			size_t want = len - off > SNEAK_PIECE
					  ? SNEAK_PIECE
					  : (size_t)(len - off);
			size_t got = 0, put;
			/* (a CHUNKZ frame may be up to a record) */
			if (bf_after(x, zpm != UINT_MAX
					    ? HOP_PLAIN_MAX
					    : SNEAK_FRAME_OVH + want) >
				x->segment &&
			    bf_after(x, 0) > BUNDLE_MIN_SIZE + 4096)
				break; /* the file is full: go on in the next */
			if (zpm != UINT_MAX && len - off >= ZMIN_BYTES) {
				rc =
				    export_chunkz(x, rd, hm.msg.id, off,
						  len - off, &zpm, &flen, &got);
				if (rc < 0)
					goto out;
				if (rc == 1) {
					if ((rc = put_frame(x, x->frame,
							    flen)) != 0)
						goto out;
					off += got;
					continue;
				}
				got = 0;
			}
			if ((rc = store_reader_read(rd, x->piece, want,
						    &got)) != 0)
				goto out;
			if (got == 0) {
				rc = FERRY_ECORRUPT;
				goto out;
			}
			hop_rbuf_init(&b, x->frame, sizeof(x->frame));
			put = hop_put_chunk(&b, hm.msg.id, off, x->piece, got);
			if (put != got || (rc = hop_rbuf_end(&b, &flen)) != 0) {
				rc = rc != 0 ? rc : FERRY_EINVAL;
				goto out;
			}
			if ((rc = put_frame(x, x->frame, flen)) != 0)
				goto out;
			off += got;
		}
		if (off == len)
			break;
		if ((rc = bf_close(x)) != 0)
			goto out;
	}
	memset(&e, 0, sizeof(e));
	memcpy(e.id, hm.msg.id, FERRY_ID_LEN);
	e.total_len = len;
	/* e.hash stays zero: in a bundle the AEAD and the signature cover
	 * every byte (docs/formats.md 1.3), so the payload is not hashed. */
	hop_rbuf_init(&b, x->frame, sizeof(x->frame));
	hop_put_end(&b, &e);
	if ((rc = hop_rbuf_end(&b, &flen)) != 0 ||
	    (rc = put_frame(x, x->frame, flen)) != 0)
		goto out;
	x->bf.track[x->bf.nids] = (hm.msg.flags & FERRY_MSG_TRACK) &&
				  strcmp(hm.msg.src_node, j->node) != 0;
	memcpy(x->bf.ids[x->bf.nids++], hm.msg.id, FERRY_ID_LEN);
	x->msgs++;
	x->bytes += len;
out:
	store_reader_close(rd);
	return rc;
}

/* The engine's filter: a message on a medium already waits for its
 * custody there (unless --again). */
static int
on_medium(const struct store_msg_info *i, void *arg)
{
	struct exporter *x = arg;
	struct store_export ex;

	if (x->j->again || store_out_export_get(x->j->st, i->msg.id, &ex) != 0)
		return 0;
	/* Re-offered when no custody came back in time (a lost carrier). */
	if (x->j->reoffer_ms > 0 &&
	    ex.at_ms < ferry_wall_ms() - x->j->reoffer_ms)
		return 0;
	x->skipped++;
	return 1;
}

/* Everything for one peer: owed receipts, then messages.  custody_only:
 * just the receipts (import's answer). */
static int
export_peer(struct exporter *x, const struct sneak_peer *p, int custody_only)
{
	struct sneak_job *j = x->j;
	struct store_out_pos pos;
	struct store_msg_info *list = NULL;
	size_t nlist = 0;
	struct engine_filter f;
	uint8_t *owed = NULL;
	size_t nowed = 0;
	char what[96], h1[32], h2[32];
	int rc;

	memset(&x->bf, 0, sizeof(x->bf));
	x->bf.fd = -1;
	x->bf.peer = p;
	x->msgs = x->bytes = x->files = x->nofit_msgs = x->nofit_bytes = 0;
	x->skipped = 0;
	if ((rc = sneak_owed_load(j, p->name, &owed, &nowed)) != 0)
		return rc;
	if (custody_only && nowed == 0)
		return 0;
	rc = sneak_folder(j, p->fpr, 1, x->bf.folder, sizeof(x->bf.folder));
	if (rc != 0) {
		free(owed);
		return rc;
	}
	clean_parts(x->bf.folder);
	x->bf.ids = malloc((size_t)SNEAK_IDS_MAX * FERRY_ID_LEN);
	x->bf.track = malloc((size_t)SNEAK_IDS_MAX);
	list = malloc(SNEAK_SCAN * sizeof(*list));
	if (x->bf.ids == NULL || x->bf.track == NULL || list == NULL) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	snprintf(what, sizeof(what), "%s %s",
		 custody_only ? "receipts for" : "export to", p->name);
	sneak_prog(j, what, 0, 0);
	if (nowed > 0) {
		if (bundle_size_for(nowed * FERRY_ID_LEN + 4096,
				    BUNDLE_CHUNK_DEFAULT) > x->budget) {
			rc = FERRY_ENOSPC;
			goto out;
		}
		if ((rc = bf_open(x)) != 0 ||
		    (rc = put_custody(x, owed, nowed)) != 0)
			goto out;
		x->bf.owed = nowed;
	}
	memset(&pos, 0, sizeof(pos));
	memset(&f, 0, sizeof(f));
	f.peer = p->name;
	f.min_priority = j->min_priority;
	f.skip = on_medium;
	f.arg = x;
	while (!custody_only) {
		f.now_ms = ferry_wall_ms();
		rc = engine_next(j->st, &f, &pos, list, SNEAK_SCAN, &nlist);
		if (rc != 0)
			goto out;
		if (nlist == 0)
			break;
		for (size_t i = 0; i < nlist; i++) {
			const struct store_msg_info *in = &list[i];
			if (sneak_cancelled(j)) {
				rc = FERRY_ECLOSED;
				goto out;
			}
			rc = export_msg(x, in);
			if (rc == 2) { /* gone meanwhile: nothing to say */
				rc = 0;
				continue;
			}
			if (rc == 1) {
				x->nofit_msgs++;
				x->nofit_bytes += in->msg.payload_len;
				rc = 0;
				continue;
			}
			if (rc != 0)
				goto out;
		}
	}
	if (x->bf.w != NULL)
		rc = bf_close(x);
out:
	if (rc != 0)
		bf_abort(&x->bf);
	if (custody_only) {
		if (rc == 0)
			sneak_say(j, "%s: %zu custody receipts written for %s",
				  p->name, nowed, p->name);
	} else if (x->msgs + x->nofit_msgs + x->skipped + nowed > 0 ||
		   rc != 0) {
		sneak_human(x->bytes, h1, sizeof(h1));
		sneak_human(x->nofit_bytes, h2, sizeof(h2));
		sneak_say(
		    j,
		    "%s: %" PRIu64 " messages, %s in %" PRIu64
		    " bundles; %zu custody receipts; did not fit: %" PRIu64
		    " messages, %s; already on a medium: %" PRIu64 "%s",
		    p->name, x->msgs, h1, x->files, rc == 0 ? nowed : 0,
		    x->nofit_msgs, h2, x->skipped,
		    rc == 0 ? "" : " (stopped early)");
		j->msgs += x->msgs;
		j->bytes += x->bytes;
	}
	free(owed);
	free(list);
	free(x->bf.ids);
	x->bf.ids = NULL;
	free(x->bf.track);
	x->bf.track = NULL;
	return rc;
}

static uint64_t
medium_budget(struct sneak_job *j, uint64_t *room)
{
	struct statvfs sv;
	uint64_t free_b, total, margin, b;

	*room = 0;
	if (fstatvfs(j->base_fd, &sv) != 0)
		return 0;
	free_b = (uint64_t)sv.f_bavail * sv.f_frsize;
	total = (uint64_t)sv.f_blocks * sv.f_frsize;
	margin = total / 50;
	if (margin < SNEAK_MARGIN_MIN)
		margin = SNEAK_MARGIN_MIN;
	b = free_b > margin ? free_b - margin : 0;
	*room = b;
	if (j->max_bytes != 0 && j->max_bytes < b)
		b = j->max_bytes;
	return b;
}

static int
wanted(const struct sneak_job *j, const char *name)
{
	if (j->nonly == 0)
		return 1;
	for (size_t i = 0; i < j->nonly; i++)
		if (strcmp(j->only[i], name) == 0)
			return 1;
	return 0;
}

int
sneak_run_export(struct sneak_job *j, int custody_only)
{
	struct exporter *x = calloc(1, sizeof(*x));
	char p[SNEAK_PATH_MAX + 96], h[32];
	int rc = 0;

	if (x == NULL)
		return FERRY_ENOMEM;
	x->j = j;
	x->custody_only = custody_only;
	x->segment = j->segment != 0 ? j->segment : SNEAK_SEGMENT;
	if ((rc = sneak_folder(j, NULL, 1, p, sizeof(p))) != 0 ||
	    (rc = readme(p)) != 0) {
		sneak_say(j, "cannot write to %s: %s", sneak_shown(j),
			  ferry_strerror(rc));
		free(x);
		return rc;
	}
	if (!custody_only) {
		/* The folder our peers answer in (custody receipts), made now,
		 * before this export's bundles: a new folder lies where the
		 * medium's free space begins, and fusefat cannot use one
		 * beyond the first 2 GiB, so a peer making it after importing
		 * a few GiB could not write its receipts back. */
		(void)sneak_folder(j, j->fpr, 1, p, sizeof(p));
	}
	x->budget = medium_budget(j, &x->room);
	if (!custody_only) {
		struct store_stats ss;
		uint64_t total = x->budget;
		sneak_human(x->budget, h, sizeof(h));
		sneak_say(j, "medium %s: room for %s", sneak_shown(j), h);
		/* The bar: what waits here, or the room if that is less. */
		if (store_stats(j->st, &ss) == 0 && ss.outbound_bytes < total)
			total = ss.outbound_bytes + 1;
		sneak_prog(j, "export", 0, total);
	}
	for (size_t i = 0; i < j->npeers && rc == 0; i++) {
		const struct sneak_peer *pe = &j->peers[i];
		if (!custody_only && !wanted(j, pe->name))
			continue;
		if (custody_only) {
			/* Only senders whose receipts are owed. */
			struct stat sb;
			sneak_owed_path(j, pe->name, p, sizeof(p));
			if (stat(p, &sb) != 0 || sb.st_size == 0)
				continue;
		}
		rc = export_peer(x, pe, custody_only);
		if (rc == FERRY_ENOSPC) {
			sneak_say(j, "the medium is full: stopped at %s",
				  pe->name);
			break;
		}
	}
	if (!custody_only) {
		/* Bundles for this node on the medium: the operator may not
		 * know that an import is due as well. */
		DIR *d;
		struct dirent *e;
		unsigned n = 0;
		if (sneak_folder(j, j->fpr, 0, p, sizeof(p)) == 0 &&
		    (d = opendir(p)) != NULL) {
			while ((e = readdir(d)) != NULL) {
				size_t l = strlen(e->d_name);
				if (l > 7 && strcasecmp(e->d_name + l - 7,
							".bundle") == 0)
					n++;
			}
			closedir(d);
		}
		if (n > 0)
			sneak_say(
			    j,
			    "%u bundles for this node are on the medium: run "
			    "ferry import %s",
			    n, sneak_shown(j));
	}
	hop_zstd_free(x->z);
	free(x);
	return rc;
}
