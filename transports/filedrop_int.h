/*
 * filedrop_int.h - what the file-drop transport's files share:
 * filedrop.c (one run, progress, paths, owed custody ids),
 * filedrop_export.c, filedrop_import.c and filedrop_watch.c.
 */
#ifndef FERRY_FILEDROP_INT_H
#define FERRY_FILEDROP_INT_H

#include <pthread.h>
#include <stdint.h>

#include "lib/util.h"
#include "transports/filedrop.h"
#include "transports/hop.h"

#define SNEAK_PIECE	  60000u       /* payload bytes per CHUNK frame */
#define SNEAK_IDS_MAX	  65536u       /* messages per bundle file */
#define SNEAK_OWED_MAX	  262144u      /* owed ids carried per export */
#define SNEAK_BATCH_MSGS  256u	       /* small messages per commit */
#define SNEAK_BATCH_BYTES (16u << 20)  /* their payload bytes */
#define SNEAK_MARGIN_MIN  (4ull << 20) /* bytes left free on a medium */
#define SNEAK_FILES_MAX	  100000u      /* bundles looked at per import */
#define SNEAK_SCAN	  256	       /* headers per store scan */
#define SNEAK_FRAME_OVH	  (HOP_FRAME_HDR + HOP_CHUNK_HDR)

/* The local copy of a bundle being imported: a header line
 * "ferry-frames/1 SENDER SEQ CREATED_MS\n", then the bundle's frames in
 * clear as verified (docs/formats.md 1.5), so that applying it costs no
 * cryptography. */
#define SPOOL_MAGIC "ferry-frames/1"
#define SPOOL_BUF   (1u << 20)

/* One run at a time in a process; import's deferred copies too. */
extern pthread_mutex_t sneak_mu;
extern int sneak_stop; /* sneak_cancel_all(); atomic */

/* filedrop.c */
/* A line for the operator in j's summary (and the log). */
void sneak_say(struct sneak_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Progress: what is being done, bytes done (added) of total. */
void sneak_prog(struct sneak_job *j, const char *what, uint64_t add,
		uint64_t total);
/* 1 when the run must stop (the agent stops, or the operator asked). */
int sneak_cancelled(struct sneak_job *j);
int sneak_fsync_dir(const char *path);
/*
 * The medium's folder ferry/ (sub NULL) or ferry/SUB, as a path that no
 * symbolic link can redirect: each level is opened relative to the one
 * above with O_NOFOLLOW (made first, 0755, if create), and the folder is
 * then named /proc/self/fd/N, N kept open until the run ends.  0,
 * FERRY_ENOTFOUND (not there, and !create), FERRY_EPERM (a level is not
 * a real folder: logged), or an errno's code.
 */
int sneak_folder(struct sneak_job *j, const char *sub, int create, char *out,
		 size_t cap);
/* The medium as the operator names it, for messages. */
const char *sneak_shown(const struct sneak_job *j);
const struct sneak_peer *sneak_peer_by_name(const struct sneak_job *j,
					    const char *name);
const struct sneak_peer *sneak_peer_by_id(const struct sneak_job *j,
					  const uint8_t id[32]);
/* n bytes for people: "1.5 GiB". */
void sneak_human(uint64_t n, char *out, size_t cap);
/* Custody ids owed to a peer: <state>/bundles/owed/<peer>. */
void sneak_owed_path(const struct sneak_job *j, const char *peer, char *out,
		     size_t cap);
int sneak_spool_dirs(const struct sneak_job *j);
int sneak_owed_add(struct sneak_job *j, const char *peer, const uint8_t *ids,
		   size_t n);
int sneak_owed_load(struct sneak_job *j, const char *peer, uint8_t **ids,
		    size_t *n);
/* The first n owed ids went out on a medium: forget them. */
int sneak_owed_drop(struct sneak_job *j, const char *peer, size_t n);

/* filedrop_export.c: custody_only: just the receipts (import's answer). */
int sneak_run_export(struct sneak_job *j, int custody_only);

/* filedrop_apply.c */
/* Apply the verified local copy at path.  0: done (delete it);
 * FERRY_EBUSY: kept for later (another transfer has one of its
 * messages). */
int sneak_apply(struct sneak_job *j, const char *path);
/* Apply every local copy left in <state>/bundles/in, in name order. */
int sneak_apply_spool(struct sneak_job *j);
void sneak_busy_reset(void);

/* filedrop_import.c */
int sneak_run_import(struct sneak_job *j, const char *myfpr);
/* Is name a bundle's file name ("*.bundle", any case)? */
int sneak_is_bundle_name(const char *name);
/* filedrop_carry.c: the bundles on the medium for other nodes: carried
 * there if this node knows them and has a route (docs/routing.md 11),
 * else listed as left on the medium. */
void sneak_carry_others(struct sneak_job *j, const char *mine);

#endif
