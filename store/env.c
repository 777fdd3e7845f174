/*
 * env.c - opening and closing the store: the directory lock, the Berkeley
 * DB environment (with recovery) and its databases, the schema check,
 * sizes scaled to the volume, and the one-time fill of ondx.
 *
 * Owns: the environment and database handles, the LOCK file descriptor.
 * Does not own: the threads it starts and stops (commit.c), the spool
 * directory (spool.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"
#include "store/store_int.h"

static int64_t
real_clock_ms(void *arg)
{
	(void)arg;
	return ferry_wall_ms();
}

/* ---------------------------------------------------------- open/close */

static void
env_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	store_seterr("berkeley db: %s", msg);
}

/* Sizes and limits of a fresh environment handle. */
static int
env_config(struct store *st)
{
	int rc;

	st->env->set_errcall(st->env, env_errcall);
	rc =
	    st->env->set_cachesize(st->env, (uint32_t)(st->cache_bytes >> 30),
				   (uint32_t)(st->cache_bytes & 0x3fffffff), 1);
	if (rc == 0)
		rc = st->env->set_lk_detect(st->env, DB_LOCK_DEFAULT);
	/* Berkeley DB wants a log file at least 4 x its log buffer. */
	if (rc == 0)
		rc = st->env->set_lg_bsize(st->env,
					   (uint32_t)(st->log_file_bytes / 4));
	if (rc == 0)
		rc = st->env->set_lg_max(st->env, (uint32_t)st->log_file_bytes);
	if (rc == 0)
		rc = st->env->set_lk_max_locks(st->env, 50000);
	if (rc == 0)
		rc = st->env->set_lk_max_objects(st->env, 50000);
	if (rc == 0)
		rc = st->env->set_lk_max_lockers(st->env, 2000);
	if (rc == 0)
		rc = st->env->set_tx_max(st->env, 1000);
	return rc;
}

/* Does bundles.db hold an export mark ('x' row)?  Until one is written,
 * a message leaving needs no lookup of its mark (exports_forget). */
static int
export_marks_look(struct store *st)
{
	DBC *c = NULL;
	DBT k, v;
	uint8_t x = 'x';
	int rc = st->bundles->cursor(st->bundles, NULL, &c, 0);

	if (rc != 0)
		return rc;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = &x;
	k.size = 1;
	v.flags = DB_DBT_PARTIAL; /* the key is enough */
	rc = c->get(c, &k, &v, DB_SET_RANGE);
	if (rc == 0)
		st->export_marks = k.size >= 1 && ((uint8_t *)k.data)[0] == 'x';
	else if (rc == DB_NOTFOUND)
		rc = 0;
	c->close(c);
	return rc;
}

static int
db_open(struct store *st, DB **dbp, const char *file, uint32_t pagesize)
{
	DB *db = NULL;
	int rc;

	rc = db_create(&db, st->env, 0);
	if (rc != 0)
		return rc;
	if (pagesize != 0 && (rc = db->set_pagesize(db, pagesize)) != 0)
		goto fail;
	rc = db->open(db, NULL, file, NULL, DB_BTREE,
		      DB_CREATE | DB_AUTO_COMMIT | DB_THREAD, 0600);
	if (rc != 0)
		goto fail;
	*dbp = db;
	return 0;
fail:
	store_seterr("cannot open %s/%s: %s", st->dir, file, db_strerror(rc));
	(void)db->close(db, 0);
	return rc;
}

static int
schema_check(struct store *st)
{
	uint8_t buf[8];
	size_t n;
	uint32_t v;
	int rc;

	rc = store_db_get(st->meta, NULL, "schema", 6, buf, sizeof(buf), &n, 0);
	if (rc == DB_NOTFOUND) {
		ferry_put_be32(buf, STORE_SCHEMA_VERSION);
		rc = store_db_put(st->meta, NULL, "schema", 6, buf, 4);
		if (rc != 0) {
			store_seterr("cannot record the schema version: %s",
				     db_strerror(rc));
			return store_map_dberr(rc);
		}
		return 0;
	}
	if (rc != 0 || n != 4) {
		store_seterr("cannot read the schema version of %s", st->dir);
		return rc != 0 ? store_map_dberr(rc) : FERRY_ECORRUPT;
	}
	v = ferry_get_be32(buf);
	if (v > STORE_SCHEMA_VERSION) {
		store_seterr("store %s has schema version %u but this ferry "
			     "reads up to %u: upgrade ferry, or move the "
			     "directory aside",
			     st->dir, v, STORE_SCHEMA_VERSION);
		return FERRY_ESCHEMA;
	}
	return 0;
}

static void
store_free(struct store *st)
{
	DB **dbs[] = {
	    &st->msgs,	   &st->chunks,	  &st->qidx,	&st->lidx,
	    &st->oidx,	   &st->eidx,	  &st->seen,	&st->seenx,
	    &st->queues,   &st->partials, &st->garbage, &st->quarantine,
	    &st->receipts, &st->ondx,	  &st->bundles, &st->meta};

	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		if (*dbs[i] != NULL)
			(void)(*dbs[i])->close(*dbs[i], 0);
		*dbs[i] = NULL;
	}
	if (st->env != NULL) {
		if (!st->broken)
			(void)st->env->txn_checkpoint(st->env, 0, 0, 0);
		(void)st->env->close(st->env, 0);
	}
	store_qcache_free(st);
	spool_close(st);
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->wmu);
	pthread_cond_destroy(&st->work_cv);
	pthread_cond_destroy(&st->flush_cv);
	pthread_cond_destroy(&st->ckpt_cv);
	free(st->dir);
	free(st);
}

/*
 * What the store keeps aside, scaled to the volume it is on (store.h,
 * "small volumes").  The reserve must hold what the store may still write
 * after it stops accepting: every dirty page of the cache, a log file
 * being zero-filled by recovery, and a spare log file.  A smaller setting
 * is raised to that, or a full disk could tear a page.
 */
static void
sizes_for_volume(struct store *st)
{
	uint64_t vol = UINT64_MAX, floor, reserve, cache;
	struct statvfs sv;

	if (statvfs(st->dir, &sv) == 0)
		vol = (uint64_t)sv.f_blocks * sv.f_frsize;
	st->log_file_bytes = STORE_LOG_FILE_BYTES;
	st->emergency_bytes = STORE_EMERGENCY_BYTES;
	cache = st->opts.cache_bytes;
	reserve = st->opts.disk_reserve_bytes;
	if (vol < (1ull << 30)) {
		uint64_t lf = (vol / 32) & ~((1ull << 20) - 1);
		st->log_file_bytes = lf < (1u << 20) ? (1u << 20) : lf;
		if (st->emergency_bytes > vol / 16)
			st->emergency_bytes = vol / 16;
		if (cache > vol / 16)
			cache = vol / 16;
		if (reserve == STORE_RESERVE_AUTO)
			reserve = vol / 8;
	}
	if (reserve == STORE_RESERVE_AUTO)
		reserve = 64ull << 20;
	if (cache < (1u << 20))
		cache = 1u << 20;
	st->cache_bytes = cache;
	floor = cache * 5 / 4 + 2 * st->log_file_bytes;
	st->reserve = reserve > floor ? reserve : floor;
}

uint64_t
store_reserve(struct store *st, uint64_t *free_bytes)
{
	struct statvfs sv;

	if (free_bytes != NULL)
		*free_bytes = statvfs(st->dir, &sv) == 0
				  ? (uint64_t)sv.f_bavail * sv.f_frsize
				  : UINT64_MAX;
	return st->reserve;
}

static int
lock_dir(struct store *st)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/LOCK", st->dir);
	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0) {
		store_seterr("cannot open %s: %s", path, strerror(errno));
		return errno == EACCES ? FERRY_EPERM : FERRY_EIO;
	}
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		store_seterr("store %s is in use by another process (is "
			     "ferryd running?)",
			     st->dir);
		return FERRY_EBUSY;
	}
	return 0;
}

/*
 * A store written before ondx existed has outbound messages only in oidx:
 * fill ondx from them, in one transaction, at open.  Nothing to do when
 * ondx has entries or oidx has none.
 */
static int
ondx_build(struct store *st)
{
	DB_TXN *t = NULL;
	DBC *c = NULL;
	DBT k, v;
	uint8_t kb[16], vb[FERRY_ID_LEN];
	int rc;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	rc = st->ondx->cursor(st->ondx, NULL, &c, 0);
	if (rc == 0) {
		rc = c->get(c, &k, &v, DB_FIRST);
		(void)c->close(c);
		c = NULL;
	}
	if (rc == 0)
		return 0; /* built */
	if (rc != DB_NOTFOUND)
		return rc;
	if ((rc = st->env->txn_begin(st->env, NULL, &t, 0)) != 0)
		return rc;
	if ((rc = st->oidx->cursor(st->oidx, t, &c, 0)) != 0)
		goto out;
	store_dbt_user(&k, kb, sizeof(kb));
	store_dbt_user(&v, vb, sizeof(vb));
	for (rc = c->get(c, &k, &v, DB_FIRST); rc == 0;
	     rc = c->get(c, &k, &v, DB_NEXT)) {
		uint8_t hb[STORE_HDR_MAX], key[STORE_QKEY_MAX];
		struct store_hdr h;
		size_t hn, kl;
		if (v.size != FERRY_ID_LEN)
			continue;
		if (store_db_get(st->msgs, t, vb, FERRY_ID_LEN, hb, sizeof(hb),
				 &hn, 0) != 0 ||
		    rec_hdr_decode(hb, hn, &h, NULL, NULL) != 0)
			continue; /* damaged: the sweep quarantines it */
		kl = rec_qkey(key, h.info.msg.dst_node, h.info.msg.priority,
			      h.seq);
		if ((rc = store_db_put(st->ondx, t, key, kl, vb,
				       FERRY_ID_LEN)) != 0)
			break;
	}
	if (rc == DB_NOTFOUND)
		rc = 0;
out:
	if (c != NULL)
		(void)c->close(c);
	if (rc == 0)
		rc = t->commit(t, 0);
	else
		(void)t->abort(t);
	return rc;
}

int
store_open(const char *dir, const struct store_opts *o, struct store **out)
{
	struct store *st;
	uint32_t flags;
	int rc, err;

	*out = NULL;
	store_clearerr();
	if (dir == NULL || o == NULL || o->node_name == NULL ||
	    !ferry_node_name_valid(o->node_name)) {
		store_seterr("store_open: a directory and a valid node name "
			     "are needed");
		return FERRY_EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return FERRY_ENOMEM;
	st->lock_fd = -1;
	st->spool_fd = -1;
	st->log_fd = -1;
	(void)store_logsum_check();
	pthread_mutex_init(&st->mu, NULL);
	st->due_ms = INT64_MAX; /* nothing known before the first sweep */
	/* No compaction in the first STORE_COMPACT_EVERY_MS (a start under
	 * traffic, or a backlog going out), and then not while busy. */
	st->compact_mono_ms = ferry_mono_ms();
	pthread_mutex_init(&st->wmu, NULL);
	pthread_cond_init(&st->work_cv, NULL);
	pthread_cond_init(&st->flush_cv, NULL);
	pthread_cond_init(&st->ckpt_cv, NULL);
	st->opts = *o;
	if (st->opts.clock_ms == NULL)
		st->opts.clock_ms = real_clock_ms;
	snprintf(st->node, sizeof(st->node), "%s", o->node_name);
	st->opts.node_name = st->node;
	st->dir = strdup(dir);
	if (st->dir == NULL) {
		free(st);
		return FERRY_ENOMEM;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		store_seterr("cannot create %s: %s", dir, strerror(errno));
		err = errno == EACCES ? FERRY_EPERM : FERRY_EIO;
		goto fail;
	}
	if ((err = lock_dir(st)) != 0)
		goto fail;
	sizes_for_volume(st);

	rc = db_env_create(&st->env, 0);
	if (rc != 0)
		goto dbfail;
	if ((rc = env_config(st)) != 0)
		goto dbfail;
	/* DB_PRIVATE: one process (ferryd) owns the store, guarded by the
	 * LOCK file; the region lives in its heap. */
	flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK |
		DB_INIT_MPOOL | DB_THREAD | DB_RECOVER | DB_PRIVATE;
	rc = st->env->open(st->env, dir, flags, 0600);
	if (rc != 0 && store_emergency_release(st)) {
		/* Recovery writes too: on a full disk, use the emergency
		 * space and try once more with a fresh handle. */
		(void)st->env->close(st->env, 0);
		st->env = NULL;
		store_clearerr();
		rc = db_env_create(&st->env, 0);
		if (rc == 0)
			rc = env_config(st);
		if (rc == 0)
			rc = st->env->open(st->env, dir, flags, 0600);
	}
	if (rc != 0) {
		struct statvfs sv;
		if (statvfs(dir, &sv) == 0 &&
		    (uint64_t)sv.f_bavail * sv.f_frsize < (1u << 20)) {
			store_seterr("cannot open the store in %s: the disk is "
				     "full (%s); free some space and try again",
				     dir, db_strerror(rc));
			err = FERRY_ENOSPC;
			goto fail;
		}
		if (store_last_error()[0] == '\0')
			store_seterr("cannot open the store in %s: %s", dir,
				     db_strerror(rc));
		goto dbfail;
	}
	rc = st->env->log_set_config(st->env, DB_LOG_AUTO_REMOVE, 1);
	if (rc != 0)
		goto dbfail;
	if ((rc = db_open(st, &st->meta, "meta.db", 0)) != 0)
		goto dbfail;
	if ((err = schema_check(st)) != 0)
		goto fail;
	if ((rc = db_open(st, &st->msgs, "msgs.db", STORE_MSGS_PAGE_BYTES)) !=
		0 ||
	    (rc = db_open(st, &st->chunks, "chunks.db", 16384)) != 0 ||
	    (rc = db_open(st, &st->qidx, "qidx.db", 0)) != 0 ||
	    (rc = db_open(st, &st->lidx, "lidx.db", 0)) != 0 ||
	    (rc = db_open(st, &st->oidx, "oidx.db", 0)) != 0 ||
	    (rc = db_open(st, &st->eidx, "eidx.db", 0)) != 0 ||
	    (rc = db_open(st, &st->seen, "seen.db", 0)) != 0 ||
	    (rc = db_open(st, &st->seenx, "seenx.db", 0)) != 0 ||
	    (rc = db_open(st, &st->queues, "queues.db", 0)) != 0 ||
	    (rc = db_open(st, &st->partials, "partials.db", 0)) != 0 ||
	    (rc = db_open(st, &st->garbage, "garbage.db", 0)) != 0 ||
	    (rc = db_open(st, &st->quarantine, "quarantine.db", 0)) != 0 ||
	    (rc = db_open(st, &st->receipts, "receipts.db", 0)) != 0 ||
	    (rc = db_open(st, &st->ondx, "ondx.db", 0)) != 0 ||
	    (rc = db_open(st, &st->bundles, "bundles.db", 0)) != 0)
		goto dbfail;
	if ((rc = store_meta_load(st)) != 0)
		goto dbfail;
	if ((rc = ondx_build(st)) != 0)
		goto dbfail;
	if ((rc = export_marks_look(st)) != 0)
		goto dbfail;
	if ((err = spool_open(st)) != 0)
		goto fail;
	{
		/* Lease tokens start at a random odd number, so a token from
		 * before a restart does not match a lease after it. */
		uint8_t rnd[8];
		if (ferry_random_bytes(rnd, sizeof(rnd)) == 0)
			memcpy(&st->token_next, rnd, sizeof(st->token_next));
		else
			st->token_next = (uint64_t)real_clock_ms(NULL);
		st->token_next |= 1;
	}

	if ((err = store_threads_start(st)) != 0)
		goto fail;
	store_emergency_refill(st);
	*out = st;
	return 0;
dbfail:
	if (store_last_error()[0] == '\0')
		store_seterr("cannot open the store in %s: %s", dir,
			     db_strerror(rc));
	err = store_map_dberr(rc);
fail : {
	char keep[STORE_ERR_MAX];
	snprintf(keep, sizeof(keep), "%s", store_last_error());
	store_threads_stop(st);
	store_free(st);
	store_seterr("%s", keep);
}
	return err;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	store_threads_stop(st);
	store_free(st);
}
