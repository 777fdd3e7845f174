/*
 * filedrop_apply.c - applying the verified local copy of a bundle
 * (<state>/bundles/in/, "ferry-frames/1": the bundle's frames in clear,
 * written by filedrop_import.c's verifying pass) to the store, through
 * the intake (agent/intake.c): small messages in batches, large ones
 * streamed, custody owed to the sender as they commit, CUSTODY frames
 * released.  Copies whose messages another transfer is receiving are
 * kept and applied later (busy, sneak_apply_deferred).
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

/*
 * One writer per message (store.h): a message whose partial another
 * transfer owns (a TCP session receiving it now) is not applied from a
 * bundle; the bundle's local copy is kept in bundles/in and applied
 * again later (sneak_apply_deferred, from the agent's timer, also once
 * at start), when the other transfer has committed it (then it is
 * "already here", custody owed) or let go of it (then it resumes from
 * what that one left).
 * Later bundles of the same run that carry the same message are kept
 * too, so its segments are applied in order.  Under sneak_mu.
 */
#define SNEAK_RETRY_MS 2000
#define SNEAK_BUSY_MAX 64
static struct {
	uint8_t ids[SNEAK_BUSY_MAX][FERRY_ID_LEN];
	size_t n;
	int all; /* more than SNEAK_BUSY_MAX: keep every large one */
} busy;
/* Monotonic ms to apply kept copies again; 0: none.  1 at start: the
 * agent's first tick applies what a run before a restart kept (or had
 * verified but not applied when it was killed). */
static int64_t deferred_at = 1;

static int
busy_has(const uint8_t id[FERRY_ID_LEN])
{
	if (busy.all)
		return 1;
	for (size_t i = 0; i < busy.n; i++)
		if (memcmp(busy.ids[i], id, FERRY_ID_LEN) == 0)
			return 1;
	return 0;
}

static void
busy_add(const uint8_t id[FERRY_ID_LEN])
{
	if (busy_has(id))
		return;
	if (busy.n == SNEAK_BUSY_MAX)
		busy.all = 1;
	else
		memcpy(busy.ids[busy.n++], id, FERRY_ID_LEN);
}

int64_t
sneak_deferred_at(void)
{
	return __atomic_load_n(&deferred_at, __ATOMIC_ACQUIRE);
}

int
sneak_deferred_due(struct store *st)
{
	int64_t at = __atomic_load_n(&deferred_at, __ATOMIC_ACQUIRE);
	int due = 0;

	if (at == 0 || at > ferry_mono_ms())
		return 0;
	/* Only once one of them is free: a copy is not read again and
	 * again while a long transfer goes on. */
	if (pthread_mutex_trylock(&sneak_mu) != 0)
		return 0; /* a run is on: it applies them */
	due = busy.all || busy.n == 0;
	for (size_t i = 0; i < busy.n && !due; i++)
		due = !intake_owned(st, busy.ids[i]);
	pthread_mutex_unlock(&sneak_mu);
	return due;
}

/* A run starts: nothing is awaited any more (under sneak_mu). */
void
sneak_busy_reset(void)
{
	busy.n = 0;
	busy.all = 0;
	__atomic_store_n(&deferred_at, 0, __ATOMIC_RELEASE);
}

/* Reading a local copy back: frames in clear, each checked again. */
struct spool_in {
	int fd;
	uint8_t *buf; /* SPOOL_BUF read-ahead */
	size_t len, off;
	uint8_t frame[HOP_PLAIN_MAX];
};

static int
spool_get(struct spool_in *s, void *p, size_t n, int *eof)
{
	uint8_t *d = p;

	*eof = 0;
	while (n > 0) {
		size_t k;
		if (s->off == s->len) {
			ssize_t got;
			do
				got = read(s->fd, s->buf, SPOOL_BUF);
			while (got < 0 && errno == EINTR);
			if (got < 0)
				return FERRY_EIO;
			if (got == 0) {
				*eof = 1;
				return 0;
			}
			s->len = (size_t)got;
			s->off = 0;
		}
		k = s->len - s->off < n ? s->len - s->off : n;
		memcpy(d, s->buf + s->off, k);
		s->off += k;
		d += k;
		n -= k;
	}
	return 0;
}

/* 1 and the next frame, 0 at the end, FERRY_ECORRUPT if damaged. */
static int
spool_frame(struct spool_in *s, struct hop_frame *f)
{
	size_t body, off = 0;
	int eof, rc;

	if ((rc = spool_get(s, s->frame, HOP_FRAME_HDR, &eof)) != 0)
		return rc;
	if (eof)
		return 0;
	body =
	    (size_t)s->frame[1] << 16 | (size_t)s->frame[2] << 8 | s->frame[3];
	if (body > HOP_PLAIN_MAX - HOP_FRAME_HDR)
		return FERRY_ECORRUPT;
	if ((rc = spool_get(s, s->frame + HOP_FRAME_HDR, body, &eof)) != 0)
		return rc;
	if (eof)
		return FERRY_ECORRUPT;
	return hop_record_next(s->frame, HOP_FRAME_HDR + body, &off, f) == 1
		   ? 1
		   : FERRY_ECORRUPT;
}

/* Open a local copy: its sender, number and creation time. */
static int
spool_open(struct spool_in *s, const char *path,
	   char sender[FERRY_NODE_MAX + 1], uint64_t *seq, int64_t *created)
{
	char line[160], name[FERRY_NODE_MAX + 2];
	size_t n = 0;
	int eof = 0, rc;

	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		return ferry_errno_code(errno);
	s->buf = malloc(SPOOL_BUF);
	if (s->buf == NULL)
		return FERRY_ENOMEM;
	while (n + 1 < sizeof(line)) {
		if ((rc = spool_get(s, line + n, 1, &eof)) != 0)
			return rc;
		if (eof)
			return FERRY_ECORRUPT;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	if (sscanf(line, SPOOL_MAGIC " %64s %" SCNu64 " %" SCNd64, name, seq,
		   created) != 3 ||
	    strlen(name) > FERRY_NODE_MAX)
		return FERRY_ECORRUPT;
	snprintf(sender, FERRY_NODE_MAX + 1, "%s", name);
	return 0;
}

static void
spool_close(struct spool_in *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	s->fd = -1;
	s->buf = NULL;
}

/* What an import applies from one local bundle. */
struct applier {
	struct sneak_job *j;
	const struct sneak_peer *sender;
	int64_t created_ms;
	struct intake in; /* the sender's stream into this node's store */
	/* the payload in progress */
	struct intake_rx *rx;
	enum intake_outcome oc;
	int active;
	struct intake_batch *batch;
	uint8_t owe[256 * FERRY_ID_LEN]; /* ids owed by a flush */
	size_t nowe;
	int flush_rc;
	/* counts */
	uint64_t msgs, bytes, dups, custody, notforme, broken, expired;
	uint64_t refused; /* by the intake (intake.h) */
	uint64_t busy;	  /* kept for later: another transfer has them */

	struct hop_zstd *z; /* opens CHUNKZ frames, made on the first */
};

/* One small message of a flushed batch. */
static void
flushed(int r, const struct ferry_msg *m, void *arg)
{
	struct applier *a = arg;

	if (r == 0 || r == FERRY_EDUPLICATE) {
		memcpy(a->owe + a->nowe * FERRY_ID_LEN, m->id, FERRY_ID_LEN);
		a->nowe++;
		if (r == 0) {
			a->msgs++;
			a->bytes += m->payload_len;
		} else {
			a->dups++;
		}
	} else if (r == FERRY_EBUSY) {
		busy_add(m->id);
		a->busy++; /* see busy */
	} else {
		char hex[FERRY_ID_HEX_LEN + 1];
		ferry_id_to_hex(m->id, hex);
		log_warn("import: message %s not stored: %s", hex,
			 ferry_strerror(r));
		if (r == FERRY_ENOSPC || r == FERRY_EQUOTA || r == FERRY_EIO ||
		    r == FERRY_EDB) {
			if (a->flush_rc == 0)
				a->flush_rc = r; /* retry the bundle later */
		} else {
			a->broken++;
		}
	}
}

static int
flush_batch(struct applier *a)
{
	int rc;

	a->nowe = 0;
	a->flush_rc = 0;
	rc = intake_batch_flush(a->batch, flushed, a);
	if (rc == 0)
		rc = a->flush_rc;
	if (a->nowe > 0) {
		int r = sneak_owed_add(a->j, a->sender->name, a->owe, a->nowe);
		if (r != 0 && rc == 0)
			rc = r;
	}
	return rc;
}

/* The payload in progress stops: keep what is durable of it (keep: for
 * the continuation in the sender's next bundle) or drop it. */
static void
current_done(struct applier *a, int keep)
{
	intake_rx_free(a->rx, keep);
	a->rx = NULL;
	a->active = 0;
}

static int
on_msg(struct applier *a, const struct hop_frame *f)
{
	struct hop_msg hm;
	const char *why = NULL;
	char hex[FERRY_ID_HEX_LEN + 1];
	int rc;

	if (a->active)
		return FERRY_EPROTO; /* one payload at a time */
	if (hop_msg_decode(f, &hm, &why) != 0)
		return FERRY_EPROTO;
	ferry_id_to_hex(hm.msg.id, hex);
	if ((hm.offset != 0 || hm.msg.payload_len > SNEAK_SMALL) &&
	    busy_has(hm.msg.id))
		/* An earlier bundle's copy of it is kept for later: so is
		 * this one, so that its segments are applied in order. */
		rc = intake_skip(&a->in, &hm, a->oc = INTAKE_BUSY, &a->rx);
	else
		rc = intake_begin(&a->in, &hm, &a->rx, &a->oc);
	if (rc != 0) {
		log_warn("import: message %s: %s", hex, ferry_strerror(rc));
		a->broken++;
		return rc == FERRY_ENOSPC || rc == FERRY_EQUOTA ? rc : 0;
	}
	a->active = 1;
	switch (a->oc) {
	case INTAKE_REFUSED:
		if (intake_rx_verdict(a->rx, &why) == INTAKE_NOT_HERE) {
			a->notforme++;
		} else if (hm.offset == 0) {
			log_warn("import: message %s from %s for %s refused: "
				 "%s; not stored, no custody owed",
				 hex, a->sender->name, hm.msg.dst_queue, why);
			a->refused++;
		}
		break;
	case INTAKE_EXPIRED:
		log_info("import: message %s from %s expired on the way (its "
			 "TTL ran out before this import); not stored, no "
			 "custody owed: %s dead-letters it",
			 hex, a->sender->name, a->sender->name);
		break;
	case INTAKE_BUSY:
		/* Being received by another transfer: this copy is kept
		 * and applied later (see busy). */
		busy_add(hm.msg.id);
		a->busy++;
		break;
	case INTAKE_GAP:
		a->broken++; /* an earlier part never arrived here */
		break;
	default:
		break;
	}
	return 0;
}

static int
on_chunk(struct applier *a, const struct hop_frame *f)
{
	struct hop_chunk c;
	const char *why = NULL;
	int rc;

	if (hop_chunk_decode(f, &c, &why) != 0 || !a->active)
		return FERRY_EPROTO;
	rc = intake_chunk(a->rx, &c);
	if (rc != 0 && rc != FERRY_EPROTO)
		current_done(a, 1); /* what is durable stays */
	return rc;
}

/* A compressed CHUNK (docs/hop.md 4.8): taken as the plain one. */
static int
on_chunkz(struct applier *a, const struct hop_frame *f)
{
	struct hop_chunkz cz;
	struct hop_chunk c;
	const char *why = NULL;
	int rc;

	if (hop_chunkz_decode(f, &cz, &why) != 0 || !a->active)
		return FERRY_EPROTO;
	if (a->z == NULL && (a->z = hop_zstd_new()) == NULL)
		return FERRY_ENOMEM;
	if ((rc = hop_chunkz_inflate(a->z, &cz, &c, &why)) != 0) {
		if (rc == FERRY_EPROTO)
			log_error("import: a bad CHUNKZ: %s", why);
		return rc;
	}
	rc = intake_chunk(a->rx, &c);
	if (rc != 0 && rc != FERRY_EPROTO)
		current_done(a, 1); /* what is durable stays */
	return rc;
}

static int
on_end(struct applier *a, const struct hop_frame *f)
{
	struct hop_end e;
	const char *why = NULL;
	uint8_t id[FERRY_ID_LEN];
	uint64_t len;
	int rc = 0;

	if (hop_end_decode(f, &e, &why) != 0 || !a->active)
		return FERRY_EPROTO;
	/* Small ones before it commit first (the order of the bundle). */
	if (a->oc == INTAKE_STREAM && (rc = flush_batch(a)) != 0) {
		current_done(a, 1);
		return rc;
	}
	/* END's hash is not checked (in.check_hash 0): the bundle's AEAD
	 * and signature cover every byte, and offsets and lengths are
	 * checked frame by frame (docs/formats.md 1.3). */
	rc = intake_end(a->rx, &e);
	if (rc == FERRY_ECORRUPT || rc == FERRY_EPROTO)
		return FERRY_EPROTO;
	memcpy(id, e.id, FERRY_ID_LEN);
	len = e.total_len;
	switch (a->oc) {
	case INTAKE_HAVE:
		/* Stored before: custody is owed all the same. */
		current_done(a, 0);
		a->dups++;
		return sneak_owed_add(a->j, a->sender->name, id, 1);
	case INTAKE_EXPIRED:
		current_done(a, 0);
		a->expired++;
		return 0;
	case INTAKE_SMALL:
		rc = intake_batch_add(a->batch, a->rx);
		current_done(a, 0);
		if (rc < 0)
			return rc;
		return rc == 1 ? flush_batch(a) : 0;
	case INTAKE_STREAM:
		current_done(a, 0); /* committed, or failed: nothing kept */
		if (rc == 0 || rc == FERRY_EDUPLICATE) {
			if (rc == 0) {
				a->msgs++;
				a->bytes += len;
			} else {
				a->dups++;
			}
			return sneak_owed_add(a->j, a->sender->name, id, 1);
		}
		log_warn("import: a message from %s not stored: %s",
			 a->sender->name, ferry_strerror(rc));
		a->broken++;
		return rc == FERRY_ENOSPC || rc == FERRY_EQUOTA ? rc : 0;
	default: /* refused, busy, gap: counted at its MSG */
		current_done(a, 1);
		return 0;
	}
}

/* Custody releases of one CUSTODY frame, committed together. */
struct cust_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t pending;
	uint64_t released;
	int err;
};

static void
cust_done(int result, void *arg)
{
	struct cust_wait *w = arg;

	pthread_mutex_lock(&w->mu);
	if (result == 0)
		w->released++;
	else if (result != FERRY_ENOTFOUND && result != FERRY_ESTATE &&
		 w->err == 0)
		w->err = result;
	w->pending--;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int
on_custody(struct applier *a, const struct hop_frame *f)
{
	struct cust_wait w = {PTHREAD_MUTEX_INITIALIZER,
			      PTHREAD_COND_INITIALIZER, 0, 0, 0};
	struct hop_custody c;
	const char *why = NULL;
	int rc = 0;

	if (hop_custody_decode(f, &c, &why) != 0)
		return FERRY_EPROTO;
	/* Asynchronous, so that the store puts them in one commit; an id
	 * that is not here any more (ENOTFOUND) or not the sender's to
	 * release (ESTATE) is ignored. */
	for (size_t i = 0; i < c.count && rc == 0; i++) {
		pthread_mutex_lock(&w.mu);
		w.pending++;
		pthread_mutex_unlock(&w.mu);
		rc = intake_custody(&a->in, c.ids + i * FERRY_ID_LEN, cust_done,
				    &w);
		if (rc != 0) {
			pthread_mutex_lock(&w.mu);
			w.pending--;
			pthread_mutex_unlock(&w.mu);
		}
	}
	pthread_mutex_lock(&w.mu);
	while (w.pending > 0)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	a->custody += w.released;
	return rc != 0 ? rc : w.err;
}

/* Apply a verified local copy to the store.  0: done (delete it). */
int
sneak_apply(struct sneak_job *j, const char *path)
{
	struct applier *a = calloc(1, sizeof(*a));
	struct spool_in *sp = calloc(1, sizeof(*sp));
	char sname[FERRY_NODE_MAX + 1] = "?";
	uint64_t seq = 0;
	struct hop_frame f;
	int rc;

	if (a == NULL || sp == NULL) {
		free(a);
		free(sp);
		return FERRY_ENOMEM;
	}
	sp->fd = -1;
	a->j = j;
	a->in.st = j->st;
	a->in.me.name = j->node;
	a->in.me.max_message = j->max_message;
	a->in.me.router = engine_router();
	a->batch = intake_batch_new(&a->in);
	if (a->batch == NULL) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	rc = spool_open(sp, path, sname, &seq, &a->created_ms);
	if (rc == 0 && (a->sender = sneak_peer_by_name(j, sname)) == NULL) {
		log_warn("import: %s is from %s, no longer a configured peer; "
			 "left in place",
			 path, sname);
		rc = FERRY_ENOTFOUND;
		goto out;
	}
	if (rc == 0) {
		a->in.peer = a->sender->name;
		a->in.medium_ms =
		    intake_medium_ms(j->st, a->sender->name, a->created_ms);
	}
	while (rc == 0 && (rc = spool_frame(sp, &f)) == 1) {
		switch (f.type) {
		case HOP_MSG:
			rc = on_msg(a, &f);
			break;
		case HOP_CHUNK:
			rc = on_chunk(a, &f);
			break;
		case HOP_CHUNKZ:
			rc = on_chunkz(a, &f);
			break;
		case HOP_END:
			rc = on_end(a, &f);
			break;
		case HOP_CUSTODY:
			rc = on_custody(a, &f);
			break;
		default:
			rc = FERRY_EPROTO;
		}
	}
	if (rc == FERRY_EPROTO || rc == FERRY_ECORRUPT)
		log_error("import: %s from %s breaks the format (%s); what it "
			  "held before that point is kept",
			  path, sname,
			  rc == FERRY_ECORRUPT ? "damaged spool file"
					       : "frame out of order");
	if (rc == 0 || rc == FERRY_EPROTO || rc == FERRY_ECORRUPT) {
		int r2 = flush_batch(a);
		if (a->active)
			current_done(a, 1); /* goes on in the next bundle */
		if (rc == FERRY_EPROTO || rc == FERRY_ECORRUPT)
			rc = 0; /* nothing more can come of this file */
		if (r2 != 0)
			rc = r2;
	}
	j->msgs += a->msgs;
	j->bytes += a->bytes;
	if (a->msgs + a->dups + a->custody + a->notforme + a->broken +
		a->expired + a->busy + a->refused >
	    0) {
		char h[32], e[64] = "";
		sneak_human(a->bytes, h, sizeof(h));
		if (a->expired > 0)
			snprintf(e, sizeof(e),
				 ", %" PRIu64
				 " expired on the way (not stored)",
				 a->expired);
		sneak_say(
		    j,
		    "from %s: %" PRIu64 " messages (%s), %" PRIu64
		    " already here, %" PRIu64 " custody receipts%s%s%s%s",
		    sname, a->msgs, h, a->dups, a->custody, e,
		    a->notforme > 0 ? ", some not for this node (relaying "
				      "is not supported yet): left"
				    : "",
		    a->broken > 0 ? ", some damaged or incomplete: see the log"
		    : a->refused > 0
			? ", some refused (source, queue or size): see the log"
			: "",
		    a->busy > 0 ? ", some being received by another transfer "
				  "right now: kept, applied when it is done"
				: "");
	}
	if (rc == 0 && a->busy > 0) {
		/* Keep the local copy: applied again later. */
		__atomic_store_n(&deferred_at, ferry_mono_ms() + SNEAK_RETRY_MS,
				 __ATOMIC_RELEASE);
		rc = FERRY_EBUSY;
	}
out:
	current_done(a, 1);
	intake_batch_free(a->batch);
	spool_close(sp);
	free(sp);
	hop_zstd_free(a->z);
	free(a);
	return rc;
}

/* Local copies verified before a crash or a failed apply: apply them,
 * in name order, which is sender then sequence number. */
static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
sneak_apply_spool(struct sneak_job *j)
{
	char dir[SNEAK_PATH_MAX + 32];
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	struct dirent *e;
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s/bundles/in", j->state_dir);
	d = opendir(dir);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && n < SNEAK_FILES_MAX) {
		char p[SNEAK_PATH_MAX + 320];
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.')
			continue;
		if (l > 5 && strcmp(e->d_name + l - 5, ".part") == 0) {
			/* A copy that was never verified whole. */
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			(void)unlink(p);
			continue;
		}
		if (l < 8 || strcmp(e->d_name + l - 7, ".frames") != 0)
			continue;
		if (n == cap) {
			size_t nc = cap == 0 ? 16 : cap * 2;
			char **t = realloc(names, nc * sizeof(*t));
			if (t == NULL) {
				rc = FERRY_ENOMEM;
				break;
			}
			names = t;
			cap = nc;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			rc = FERRY_ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == 0 && n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		char p[SNEAK_PATH_MAX + 320];
		if (rc == 0) {
			snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
			rc = sneak_apply(j, p);
			if (rc == 0)
				(void)unlink(p);
			else if (rc == FERRY_ENOTFOUND || rc == FERRY_EBUSY)
				rc = 0; /* a peer no longer configured; or kept
					   for later (see busy) */
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* -------------------------------------------------------------- entry */

int
sneak_apply_deferred(struct sneak_job *j)
{
	int rc;

	j->slen = 0;
	j->summary[0] = '\0';
	j->msgs = j->bytes = j->bundles = j->rejected = 0;
	if (pthread_mutex_trylock(&sneak_mu) != 0)
		return j->rc = FERRY_EBUSY; /* a run is on: it applies them */
	sneak_busy_reset();
	rc = sneak_apply_spool(j);
	pthread_mutex_unlock(&sneak_mu);
	if (rc != 0) {
		/* A store error (full disk): try again in a while. */
		sneak_say(j, "bundles kept for later not applied: %s",
			  ferry_strerror(rc));
		__atomic_store_n(&deferred_at,
				 ferry_mono_ms() + 30 * SNEAK_RETRY_MS,
				 __ATOMIC_RELEASE);
	}
	return j->rc = rc;
}
