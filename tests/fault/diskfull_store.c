/*
 * diskfull_store.c - fault test: the store on a disk that runs full.
 *
 * Mounts a 128 MiB tmpfs on DIR inside a private mount namespace, so the
 * mount vanishes with this process even if it crashes, puts a ballast file
 * there and opens a store beside it with a 4 MiB disk reserve and an 8 MiB
 * cache.  Then, phase by phase:
 *  1. puts of 1-64 KiB until one fails: it must fail with FERRY_ENOSPC and
 *     no crash; further puts and a batch fail the same way and leave
 *     nothing behind; a message can still be taken and acked (a full disk
 *     refuses new messages but keeps delivering);
 *  2. everything committed is present and intact, also after store_close
 *     and store_open while the disk is still full;
 *  3. with the ballast deleted, puts succeed again, all intact;
 *  4. a streamed writer of 16+ MiB runs into the full disk: a write or the
 *     commit fails with FERRY_ENOSPC, nothing of the stream is visible or
 *     resumable after the abort, and the store stays usable;
 *  5. with no reserve at all (disk_reserve_bytes 0) the disk itself runs
 *     out under the store: the put fails with FERRY_ENOSPC, nothing is
 *     lost, and once space is back puts succeed without a restart.
 *
 * Payloads are a function of their id (which carries the length), as in
 * crash_store.c, so every message can be checked byte for byte.
 *
 * Usage: diskfull_store DIR (an empty directory; diskfull_store.sh makes
 * and removes it).  Needs root (CAP_SYS_ADMIN) for the mount.
 * Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/fault/faultutil.h"
#include "tests/integration/itutil.h"

#define T_PASS	  0
#define T_FAIL	  1
#define T_SKIP	  77
#define T_HARNESS 99

#define NODE	       "full"
#define QUEUE	       "full/q"
#define TMPFS_MIB      192 /* the store's reserve (>= 42 MiB here) and room */
#define TMPFS_OPTS     "size=192m,mode=0700"
#define BALLAST_BYTES  (48u << 20)
#define RESERVE_BYTES  (4u << 20)
#define CACHE_BYTES    (8u << 20)
#define MSG_MIN_BYTES  1024u
#define MSG_MAX_BYTES  (64u * 1024u)
#define FILL_MAX_BYTES (256ull << 20) /* a put must fail well before */
#define REFILL_MSGS    30	      /* puts that must work again */
#define STREAM_BYTES   (20u << 20)    /* more than a 16 MiB stream */
#define STREAM_ROOM    (8u << 20)     /* free above the reserve for it */
#define ROOM_BYTES     (4u << 20) /* above the reserve, once space is freed */
#define STREAM_PIECE   (64u * 1024u)
#define IO_BYTES       (64u * 1024u)
#define BATCH_N	       3
#define FAIL_LINES_MAX 100

#define P_FILL	    1
#define P_REFILL    3
#define P_STREAM    4
#define P_NORESERVE 5

/* ------------------------------------------------------------ payloads */

/* Id layout: be32 phase, be32 sequence, be32 payload length, 4 salt. */
static void
id_make(uint8_t id[FERRY_ID_LEN], uint32_t phase, uint32_t seq, uint32_t len,
	uint32_t salt)
{
	fault_put_be32(id, phase);
	fault_put_be32(id + 4, seq);
	fault_put_be32(id + 8, len);
	fault_put_be32(id + 12, salt);
}

/* ---------------------------------------------------------------- test */

struct test {
	char mnt[PATH_MAX];
	char dir[PATH_MAX]; /* the store */
	char ballast[PATH_MAX];
	struct store *st;
	uint64_t rng;
	uint32_t salt;
	uint32_t seq;
	int phase;
	uint8_t (*ids)[FERRY_ID_LEN]; /* committed, not acked */
	size_t n_ids, cap_ids;
	uint8_t *buf, *exp;
	uint8_t *batch;			 /* BATCH_N payloads */
	uint8_t leased_id[FERRY_ID_LEN]; /* taken, but the ack failed */
	int leased;
	uint64_t reserve;	      /* disk_reserve_bytes of the open store */
	uint64_t bad_msgs, bad_bytes; /* found wrong, dropped from ids */
	unsigned failures;
	int harness; /* the harness itself failed: exit 99 */
};

static void fail(struct test *t, const uint8_t *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct test *t, const uint8_t *id, const char *fmt, ...)
{
	char where[32];
	va_list ap;

	snprintf(where, sizeof(where), "phase %d", t->phase);
	va_start(ap, fmt);
	fault_vfail(&t->failures, FAIL_LINES_MAX, where, id, fmt, ap);
	va_end(ap);
}

static void note(struct test *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
note(struct test *t, const char *fmt, ...)
{
	va_list ap;

	printf("diskfull_store: phase %d: ", t->phase);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void
harness(struct test *t, const char *what, int err)
{
	fprintf(stderr, "diskfull_store: %s: %s\n", what, strerror(err));
	t->harness = 1;
}

static uint64_t
fs_free(struct test *t)
{
	struct statvfs sv;

	if (statvfs(t->mnt, &sv) != 0) {
		harness(t, "statvfs", errno);
		return 0;
	}
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* KiB the store's files take on the tmpfs, for the notes. */
static uint64_t
store_kib(struct test *t)
{
	struct dirent *e;
	uint64_t bytes = 0;
	DIR *d = opendir(t->dir);

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		struct stat sb;

		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) ==
			0 &&
		    S_ISREG(sb.st_mode))
			bytes += (uint64_t)sb.st_blocks * 512;
	}
	if (closedir(d) != 0)
		return 0;
	return bytes >> 10;
}

static int
ids_add(struct test *t, const uint8_t id[FERRY_ID_LEN])
{
	if (t->n_ids == t->cap_ids) {
		size_t cap = t->cap_ids ? 2 * t->cap_ids : 256;
		void *p = realloc(t->ids, cap * sizeof(*t->ids));

		if (p == NULL) {
			harness(t, "realloc", ENOMEM);
			return -1;
		}
		t->ids = p;
		t->cap_ids = cap;
	}
	memcpy(t->ids[t->n_ids++], id, FERRY_ID_LEN);
	return 0;
}

static void
ids_del(struct test *t, const uint8_t id[FERRY_ID_LEN])
{
	for (size_t i = 0; i < t->n_ids; i++) {
		if (memcmp(t->ids[i], id, FERRY_ID_LEN) == 0) {
			memmove(t->ids[i], t->ids[i + 1],
				(t->n_ids - i - 1) * sizeof(*t->ids));
			t->n_ids--;
			return;
		}
	}
}

/*
 * Write ballast until it holds bytes more (0: until the disk is full).
 * Returns the bytes written, or -1 with t->harness set.
 */
static int64_t
ballast_add(struct test *t, uint64_t bytes)
{
	uint8_t block[64 * 1024];
	int64_t done = 0;
	int fd;

	memset(block, 0xa5, sizeof(block));
	fd = open(t->ballast, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		harness(t, "open ballast", errno);
		return -1;
	}
	while (bytes == 0 || (uint64_t)done < bytes) {
		size_t n = sizeof(block);
		ssize_t w;

		if (bytes != 0 && bytes - (uint64_t)done < n)
			n = (size_t)(bytes - (uint64_t)done);
		w = write(fd, block, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == ENOSPC)
			break;
		if (w < 0) {
			harness(t, "write ballast", errno);
			(void)close(fd);
			return -1;
		}
		done += w;
	}
	if (close(fd) != 0) {
		harness(t, "close ballast", errno);
		return -1;
	}
	return done;
}

static int
ballast_remove(struct test *t)
{
	if (unlink(t->ballast) != 0 && errno != ENOENT) {
		harness(t, "unlink ballast", errno);
		return -1;
	}
	return 0;
}

/* The reserve the store really keeps (it raises a small setting). */
static uint64_t
reserve_eff(struct test *t)
{
	struct store_stats ss;

	if (t->st != NULL && store_stats(t->st, &ss) == 0 &&
	    ss.reserve_bytes > t->reserve)
		return ss.reserve_bytes;
	return t->reserve;
}

/*
 * Close and open the store again.  Should the open fail, free the ballast
 * and try once more, to tell "cannot open on a full disk" from "lost".
 */
static int
store_reopen(struct test *t, uint64_t reserve)
{
	struct store_opts o;
	int rc;

	store_close(t->st);
	t->st = NULL;
	store_opts_init(&o);
	o.node_name = NODE;
	o.disk_reserve_bytes = reserve;
	o.cache_bytes = CACHE_BYTES;
	t->reserve = reserve;
	rc = store_open(t->dir, &o, &t->st);
	if (rc == 0)
		return 0;
	fail(t, NULL,
	     "store_open: %s (%s); %" PRIu64 " KiB free, store "
	     "files %" PRIu64 " KiB",
	     ferry_strerror(rc), store_last_error(), fs_free(t) >> 10,
	     store_kib(t));
	if (access(t->ballast, F_OK) != 0 || ballast_remove(t) != 0)
		return rc;
	rc = store_open(t->dir, &o, &t->st);
	if (rc != 0)
		fail(t, NULL, "store_open with the ballast gone: %s (%s)",
		     ferry_strerror(rc), store_last_error());
	else
		note(t,
		     "store_open works with the ballast gone (%" PRIu64
		     " KiB free)",
		     fs_free(t) >> 10);
	return rc;
}

static void
msg_make(struct test *t, struct ferry_msg *m, uint32_t len)
{
	ferry_msg_init(m);
	id_make(m->id, (uint32_t)t->phase, t->seq++, len, t->salt);
	strcpy(m->src_node, NODE);
	strcpy(m->dst_node, NODE);
	strcpy(m->dst_queue, QUEUE);
}

static uint32_t
msg_size(struct test *t)
{
	return MSG_MIN_BYTES + (uint32_t)(fault_rng_next(&t->rng) %
					  (MSG_MAX_BYTES - MSG_MIN_BYTES + 1));
}

/* One put of len bytes; on success the id joins the committed set. */
static int
put_one(struct test *t, uint32_t len, uint8_t id[FERRY_ID_LEN])
{
	struct ferry_msg m;
	int rc;

	msg_make(t, &m, len);
	memcpy(id, m.id, FERRY_ID_LEN);
	fault_payload_fill(fault_payload_key(m.id), 0, t->buf, len);
	rc = store_put(t->st, &m, t->buf, len);
	if (rc == 0 && ids_add(t, m.id) != 0)
		return FERRY_ENOMEM;
	return rc;
}

static int
verify_payload(struct test *t, const uint8_t *id, uint64_t len)
{
	struct store_reader *rd = NULL;
	uint64_t key = fault_payload_key(id), off = 0;
	int rc, ret = -1;

	rc = store_reader_open(t->st, id, &rd);
	if (rc != 0) {
		fail(t, id, "store_reader_open: %s", ferry_strerror(rc));
		return -1;
	}
	for (;;) {
		size_t n = 0;

		rc = store_reader_read(rd, t->buf, IO_BYTES, &n);
		if (rc != 0) {
			fail(t, id, "store_reader_read at %" PRIu64 ": %s", off,
			     ferry_strerror(rc));
			goto out;
		}
		if (n == 0)
			break;
		if (n > IO_BYTES || off + n > len) {
			fail(t, id, "payload longer than %" PRIu64, len);
			goto out;
		}
		fault_payload_fill(key, off, t->exp, n);
		if (memcmp(t->buf, t->exp, n) != 0) {
			size_t k = 0, zeros = 0, diff = 0;

			while (t->buf[k] == t->exp[k])
				k++;
			for (size_t x = k; x < n; x++) {
				diff += t->buf[x] != t->exp[x];
				zeros += t->buf[x] != t->exp[x] && !t->buf[x];
			}
			fail(t, id,
			     "payload of %" PRIu64 " bytes is wrong from byte "
			     "%" PRIu64 " (%zu of the next %zu bytes differ, "
			     "%zu of them are 0)",
			     len, off + k, diff, n - k, zeros);
			goto out;
		}
		off += n;
	}
	if (off != len) {
		fail(t, id, "payload is %" PRIu64 " bytes, want %" PRIu64, off,
		     len);
		goto out;
	}
	ret = 0;
out:
	store_reader_close(rd);
	return ret;
}

/* One committed message: present, queued (or leased), complete, right. */
static int
verify_one(struct test *t, const uint8_t *id, const char *when, int *present)
{
	struct store_msg_info info;
	int rc, leased_ok;

	*present = 0;
	rc = store_get(t->st, id, &info);
	if (rc != 0) {
		fail(t, id, "%s: store_get: %s", when, ferry_strerror(rc));
		return -1;
	}
	*present = 1;
	/* taken, and then the ack failed: it keeps its lease */
	leased_ok = t->leased && memcmp(id, t->leased_id, FERRY_ID_LEN) == 0;
	if ((info.state != STORE_QUEUED &&
	     !(leased_ok && info.state == STORE_LEASED)) ||
	    info.msg.payload_len != fault_id_len(id)) {
		fail(t, id,
		     "%s: state %s, payload_len %" PRIu64
		     ", want queued, %" PRIu32,
		     when, store_state_name(info.state), info.msg.payload_len,
		     fault_id_len(id));
		return -1;
	}
	return verify_payload(t, id, fault_id_len(id));
}

/*
 * Every committed message, and the queue counters.  A message found wrong
 * is reported once and then dropped from the committed set (its bytes
 * still count while its header is there).
 */
static void
verify_all(struct test *t, const char *when)
{
	unsigned before = t->failures;
	struct store_queue_stats qs;
	uint64_t bytes = 0, msgs = 0;
	size_t j = 0;
	int rc;

	for (size_t i = 0; i < t->n_ids; i++) {
		int present;

		rc = verify_one(t, t->ids[i], when, &present);
		if (rc == 0) {
			memmove(t->ids[j++], t->ids[i], FERRY_ID_LEN);
			bytes += fault_id_len(t->ids[i]);
		} else if (present) {
			t->bad_msgs++;
			t->bad_bytes += fault_id_len(t->ids[i]);
		}
	}
	t->n_ids = j;
	msgs = t->n_ids + t->bad_msgs;
	bytes += t->bad_bytes;
	rc = store_queue_stats(t->st, QUEUE, &qs);
	if (rc != 0)
		fail(t, NULL, "%s: store_queue_stats: %s", when,
		     ferry_strerror(rc));
	else if (qs.msgs != msgs || qs.bytes != bytes)
		fail(t, NULL,
		     "%s: queue counters say %" PRIu64 " msgs %" PRIu64
		     " bytes, want %" PRIu64 " msgs %" PRIu64 " bytes",
		     when, qs.msgs, qs.bytes, msgs, bytes);
	if (t->failures == before)
		note(t, "%s: all %zu messages intact", when, t->n_ids);
}

/* A refused id must have left nothing behind. */
static void
check_absent(struct test *t, const uint8_t *id, const char *what)
{
	struct store_msg_info info;
	int rc = store_get(t->st, id, &info);

	if (rc != FERRY_ENOTFOUND)
		fail(t, id, "%s: store_get says %s, want %s", what,
		     rc == 0 ? "present" : ferry_strerror(rc),
		     ferry_strerror(FERRY_ENOTFOUND));
}

/* Put until a put fails; returns its code (0 if none did). */
static int
fill_store(struct test *t, uint32_t fixed_len, uint64_t *put_bytes,
	   size_t *puts)
{
	uint8_t id[FERRY_ID_LEN];
	int rc = 0;

	*put_bytes = 0;
	*puts = 0;
	while (*put_bytes < FILL_MAX_BYTES) {
		uint32_t len = fixed_len ? fixed_len : msg_size(t);

		rc = put_one(t, len, id);
		if (rc != 0) {
			check_absent(t, id, "the refused put");
			if (rc != FERRY_ENOSPC)
				fail(t, id,
				     "put of %" PRIu32 " bytes with %" PRIu64
				     " KiB free: %s (%s), want "
				     "%s",
				     len, fs_free(t) >> 10, ferry_strerror(rc),
				     store_last_error(),
				     ferry_strerror(FERRY_ENOSPC));
			return rc;
		}
		*put_bytes += len;
		(*puts)++;
	}
	fail(t, NULL,
	     "%" PRIu64 " MiB put into a %d MiB file system and no "
	     "put failed",
	     *put_bytes >> 20, TMPFS_MIB);
	return 0;
}

/* A batch on the full disk: every message refused, none left behind. */
static void
batch_refused(struct test *t)
{
	struct ferry_msg m[BATCH_N];
	struct store_put_req reqs[BATCH_N] = {{0}};
	int rc;

	for (size_t i = 0; i < BATCH_N; i++) {
		uint8_t *p = t->batch + i * MSG_MAX_BYTES;

		msg_make(t, &m[i], MSG_MAX_BYTES);
		fault_payload_fill(fault_payload_key(m[i].id), 0, p,
				   MSG_MAX_BYTES);
		reqs[i].msg = &m[i];
		reqs[i].payload = p;
		reqs[i].len = MSG_MAX_BYTES;
		reqs[i].result = INT_MIN;
	}
	rc = store_put_batch(t->st, reqs, BATCH_N);
	for (size_t i = 0; i < BATCH_N; i++) {
		int res = rc != 0 ? rc : reqs[i].result;

		if (res != FERRY_ENOSPC)
			fail(t, m[i].id,
			     "batch put on a full disk: %s, want %s",
			     ferry_strerror(res), ferry_strerror(FERRY_ENOSPC));
		if (res == 0 && ids_add(t, m[i].id) != 0)
			return;
		if (res != 0)
			check_absent(t, m[i].id, "a refused batch put");
	}
}

/*
 * Phase 1: put random sizes until refused, then 1 KiB until refused too;
 * after that the store must go on refusing, and keep delivering.
 */
static void
phase_fill(struct test *t)
{
	struct store_msg_info info;
	uint8_t id[FERRY_ID_LEN];
	uint64_t put_bytes, small_bytes, token = 0;
	size_t puts, small;
	int rc;

	t->phase = P_FILL;
	if (ballast_add(t, BALLAST_BYTES) < 0)
		return;
	if (fill_store(t, 0, &put_bytes, &puts) != FERRY_ENOSPC ||
	    fill_store(t, MSG_MIN_BYTES, &small_bytes, &small) != FERRY_ENOSPC)
		return;
	note(t,
	     "%zu puts (%" PRIu64 " KiB) and %zu of 1 KiB before "
	     "FERRY_ENOSPC; %" PRIu64 " KiB free, store files %" PRIu64 " KiB",
	     puts, put_bytes >> 10, small, fs_free(t) >> 10, store_kib(t));
	rc = put_one(t, MSG_MIN_BYTES, id);
	if (rc != FERRY_ENOSPC)
		fail(t, id, "1 KiB put after a refused one: %s, want %s",
		     ferry_strerror(rc), ferry_strerror(FERRY_ENOSPC));
	if (rc != 0)
		check_absent(t, id, "the refused put");
	batch_refused(t);
	verify_all(t, "full");
	/* Delivering out must go on while the disk is full. */
	rc = store_take(t->st, QUEUE, 60000, &info, &token);
	if (rc == 0) {
		memcpy(t->leased_id, info.msg.id, FERRY_ID_LEN);
		t->leased = 1;
		rc = store_ack(t->st, info.msg.id, token);
	}
	if (rc != 0) {
		fail(t, NULL,
		     "take and ack on a full disk: %s (%s); %" PRIu64
		     " KiB free, store files %" PRIu64 " KiB",
		     ferry_strerror(rc), store_last_error(), fs_free(t) >> 10,
		     store_kib(t));
		return;
	}
	t->leased = 0;
	ids_del(t, info.msg.id);
	check_absent(t, info.msg.id, "acked on a full disk");
}

/*
 * With the ballast gone there must be room again, and puts must succeed
 * on the same handle.  Returns -1 when there was no room to try.
 */
static int
refill(struct test *t, const char *after)
{
	uint8_t id[FERRY_ID_LEN];
	uint64_t free_b;

	if (ballast_remove(t) != 0)
		return -1;
	free_b = fs_free(t);
	if (free_b < reserve_eff(t) + ROOM_BYTES) {
		fail(t, NULL,
		     "%s: only %" PRIu64 " KiB free with the ballast "
		     "gone: the store's files took %" PRIu64 " KiB",
		     after, free_b >> 10, store_kib(t));
		return -1;
	}
	for (int i = 0; i < REFILL_MSGS; i++) {
		int rc = put_one(t, msg_size(t), id);

		if (rc != 0) {
			fail(t, id,
			     "%s: put with %" PRIu64 " KiB free: %s "
			     "(%s)",
			     after, free_b >> 10, ferry_strerror(rc),
			     store_last_error());
			return 0;
		}
	}
	note(t, "%s: %d puts succeed again", after, REFILL_MSGS);
	return 0;
}

/* Phases 2 and 3: reopen while full, then free space and put again. */
static void
phase_reopen_refill(struct test *t)
{
	t->phase = 2;
	if (store_reopen(t, RESERVE_BYTES) != 0)
		return;
	verify_all(t, "reopened while full");
	t->phase = P_REFILL;
	if (refill(t, "ballast deleted") == 0)
		verify_all(t, "space freed");
}

/* Write the stream; 0 if all of it was accepted and committed. */
static int
stream_run(struct test *t, struct ferry_msg *m, uint64_t *done,
	   const char **where)
{
	struct store_writer *w = NULL;
	uint64_t key = fault_payload_key(m->id);
	int rc;

	*done = 0;
	*where = "store_writer_open";
	rc = store_writer_open(t->st, m, &w);
	if (rc != 0)
		return rc;
	*where = "store_writer_write";
	while (*done < STREAM_BYTES) {
		fault_payload_fill(key, *done, t->buf, STREAM_PIECE);
		rc = store_writer_write(w, t->buf, STREAM_PIECE);
		if (rc != 0) {
			store_writer_abort(w);
			return rc;
		}
		*done += STREAM_PIECE;
	}
	*where = "store_writer_commit";
	return store_writer_commit(w);
}

/* Phase 4: a large stream runs into the full disk. */
static void
phase_stream(struct test *t)
{
	struct store_writer *w = NULL;
	struct ferry_msg m;
	uint64_t free_b, done = 0, off = 0;
	const char *where = "";
	int rc;

	t->phase = P_STREAM;
	free_b = fs_free(t);
	if (free_b > reserve_eff(t) + STREAM_ROOM &&
	    ballast_add(t, free_b - reserve_eff(t) - STREAM_ROOM) < 0)
		return;
	free_b = fs_free(t);
	msg_make(t, &m, STREAM_BYTES);
	rc = stream_run(t, &m, &done, &where);
	if (rc == 0) {
		fail(t, m.id,
		     "a %u MiB stream was committed with %" PRIu64 " KiB free",
		     STREAM_BYTES >> 20, free_b >> 10);
		if (ids_add(t, m.id) != 0)
			return;
	} else {
		note(t, "%s failed after %" PRIu64 " KiB: %s (%s)", where,
		     done >> 10, ferry_strerror(rc), store_last_error());
		if (rc != FERRY_ENOSPC)
			fail(t, m.id, "%s on a full disk: %s, want %s", where,
			     ferry_strerror(rc), ferry_strerror(FERRY_ENOSPC));
		else if (done == 0 &&
			 free_b >= reserve_eff(t) + STREAM_ROOM / 2)
			fail(t, m.id,
			     "stream refused at once with %" PRIu64 " KiB free",
			     free_b >> 10);
		check_absent(t, m.id, "the failed stream");
		rc = store_writer_resume(t->st, m.id, &w, &off);
		if (rc != FERRY_ENOTFOUND) {
			fail(t, m.id,
			     "resume after the failed stream: %s, "
			     "want %s",
			     rc == 0 ? "resumable" : ferry_strerror(rc),
			     ferry_strerror(FERRY_ENOTFOUND));
			if (rc == 0)
				store_writer_abort(w);
		}
	}
	verify_all(t, "stream refused");
	if (refill(t, "after the stream") < 0)
		return;
	if (store_reopen(t, RESERVE_BYTES) != 0)
		return;
	verify_all(t, "after the stream, reopened");
}

/*
 * Phase 5: no reserve, so the file system itself runs out under Berkeley
 * DB.  The put must still fail with FERRY_ENOSPC and the store must take
 * puts again once space is back, without a restart.
 */
static void
phase_noreserve(struct test *t)
{
	uint64_t put_bytes;
	size_t puts;
	int rc;

	t->phase = P_NORESERVE;
	if (store_reopen(t, 0) != 0)
		return;
	if (ballast_add(t, BALLAST_BYTES) < 0)
		return;
	rc = fill_store(t, 0, &put_bytes, &puts);
	note(t,
	     "%zu puts (%" PRIu64 " KiB) before %s, %" PRIu64 " KiB free, "
	     "store files %" PRIu64 " KiB",
	     puts, put_bytes >> 10, ferry_strerror(rc), fs_free(t) >> 10,
	     store_kib(t));
	if (rc == 0)
		return;
	verify_all(t, "full, no reserve");
	if (refill(t, "no reserve, ballast deleted") < 0)
		return;
	if (store_reopen(t, RESERVE_BYTES) != 0)
		return;
	verify_all(t, "no reserve, reopened");
}

/* ------------------------------------------------------------- harness */

/* A private tmpfs on t->mnt.  T_PASS, T_SKIP or T_HARNESS. */
static int
mount_tmpfs(struct test *t)
{
	if (geteuid() != 0) {
		printf("SKIP: disk-full test needs root to mount a tmpfs\n");
		return T_SKIP;
	}
	/* A mount namespace of our own: the tmpfs dies with us. */
	if (unshare(CLONE_NEWNS) != 0) {
		if (errno == EPERM) {
			printf("SKIP: disk-full test needs root to mount a "
			       "tmpfs (unshare: %s)\n",
			       strerror(errno));
			return T_SKIP;
		}
		harness(t, "unshare(CLONE_NEWNS)", errno);
		return T_HARNESS;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		harness(t, "make / private", errno);
		return T_HARNESS;
	}
	if (mount("tmpfs", t->mnt, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  TMPFS_OPTS) != 0) {
		if (errno == EPERM) {
			printf("SKIP: disk-full test needs root to mount a "
			       "tmpfs (mount: %s)\n",
			       strerror(errno));
			return T_SKIP;
		}
		harness(t, "mount tmpfs", errno);
		return T_HARNESS;
	}
	return T_PASS;
}

static int
setup(struct test *t, const char *dir)
{
	struct timespec ts;
	int ret;

	if ((size_t)snprintf(t->mnt, sizeof(t->mnt), "%s", dir) >=
		sizeof(t->mnt) ||
	    (size_t)snprintf(t->dir, sizeof(t->dir), "%s/store", dir) >=
		sizeof(t->dir) ||
	    (size_t)snprintf(t->ballast, sizeof(t->ballast), "%s/ballast",
			     dir) >= sizeof(t->ballast)) {
		fprintf(stderr, "diskfull_store: %s: path too long\n", dir);
		return T_HARNESS;
	}
	t->buf = malloc(IO_BYTES > MSG_MAX_BYTES ? IO_BYTES : MSG_MAX_BYTES);
	t->exp = malloc(IO_BYTES);
	t->batch = malloc((size_t)BATCH_N * MSG_MAX_BYTES);
	if (t->buf == NULL || t->exp == NULL || t->batch == NULL) {
		harness(t, "malloc", ENOMEM);
		return T_HARNESS;
	}
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
		harness(t, "clock_gettime", errno);
		return T_HARNESS;
	}
	t->rng = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20;
	t->salt = (uint32_t)fault_rng_next(&t->rng);
	ret = mount_tmpfs(t);
	if (ret != T_PASS)
		return ret;
	return store_reopen(t, RESERVE_BYTES) == 0 ? T_PASS : T_FAIL;
}

int
main(int argc, char **argv)
{
	struct test t;
	int64_t t0 = it_now_ms();
	int ret;

	if (argc != 2) {
		fprintf(stderr, "usage: diskfull_store DIR\n");
		return T_HARNESS;
	}
	if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
		return T_HARNESS;
	memset(&t, 0, sizeof(t));
	ret = setup(&t, argv[1]);
	if (ret == T_PASS) {
		phase_fill(&t);
		if (!t.harness && t.st != NULL)
			phase_reopen_refill(&t);
		if (!t.harness && t.st != NULL)
			phase_stream(&t);
		if (!t.harness && t.st != NULL)
			phase_noreserve(&t);
		store_close(t.st);
		t.st = NULL;
		printf("diskfull_store: %s: %u failures, %zu messages at the "
		       "end, %" PRId64 " ms\n",
		       t.failures  ? "FAIL"
		       : t.harness ? "ERROR"
				   : "PASS",
		       t.failures, t.n_ids, it_now_ms() - t0);
		ret = t.harness ? T_HARNESS : t.failures ? T_FAIL : T_PASS;
	} else if (ret == T_FAIL) {
		printf("diskfull_store: FAIL: the store does not open on a "
		       "fresh tmpfs\n");
	}
	store_close(t.st);
	if (t.mnt[0] != '\0' && umount2(t.mnt, MNT_DETACH) != 0 &&
	    errno != EINVAL && ret == T_PASS)
		ret = T_HARNESS;
	free(t.ids);
	free(t.buf);
	free(t.exp);
	free(t.batch);
	return ret;
}
