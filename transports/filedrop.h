/*
 * filedrop.h - the file-drop transport (sneakernet): ferry export / import of
 * sealed bundles on a medium (a USB stick, a folder), docs/formats.md.
 *
 * sneak_run() does the whole of one export or import on the calling
 * thread (a job thread; never the event loop), in bounded memory: one
 * message header list of one scan window, one bundle reader or writer,
 * one small-message batch.  Only one runs at a time in a process (a
 * mutex): exports and imports of the same node never interleave.
 *
 * It uses only what it is given: the store, the identity, copies of the
 * peers' names and keys, and the state directory.
 */
#ifndef FERRY_FILEDROP_H
#define FERRY_FILEDROP_H

#include <pthread.h>
#include <stdint.h>

#include "lib/ferry_msg.h"
#include "store/store.h"
#include "transports/identity.h"

#define SNEAK_PEERS_MAX 64
#define SNEAK_PATH_MAX	4096
#define SNEAK_SUMMARY	8192
#define SNEAK_SEGMENT	(1ull << 30)	/* default bytes per file */
#define SNEAK_SKEW_MS	(3600ll * 1000) /* default clock-skew allowance */
#define SNEAK_SMALL	(256u * 1024u)	/* payloads put in one batch */
#define SNEAK_SETTLE_MS (30 * 1000)	/* see sneak_job.patient */

struct sneak_peer {
	char name[FERRY_NODE_MAX + 1];
	uint8_t sign_pk[32], kx_pk[32];
	uint8_t id[IDENTITY_NODE_ID_LEN];
	char fpr[IDENTITY_FPR_LEN + 1];
	int compress_level; /* [peer] compress: zstd level, 0 = plain */
};

struct sneak_progress {
	pthread_mutex_t mu;
	char what[96]; /* "export to base", "import from ship", ... */
	uint64_t done, total;
	int cancel; /* set by the agent: stop at the next boundary */
};

struct sneak_job {
	/* in */
	int export;		  /* 1: export, 0: import */
	char dir[SNEAK_PATH_MAX]; /* the medium's mount point */
	int dir_fd;		  /* with use_fd: the folder itself, opened
				     by the client (SCM_RIGHTS); without:
				     dir is the operator's (`dir =`) */
	int use_fd;
	char shown[SNEAK_PATH_MAX]; /* how the operator names it ("":
				       dir) */
	char only[SNEAK_PEERS_MAX][FERRY_NODE_MAX + 1]; /* --peer; none: all */
	size_t nonly;
	uint64_t max_bytes;   /* 0: no limit but the medium's space */
	int min_priority;     /* 0..7 */
	int again;	      /* export messages already on a medium too */
	int keep;	      /* import: leave the bundles on the medium */
	int carry_move;	      /* import: a bundle for another node, once
				 stored to be carried there, leaves the
				 folder (ferryd's own; a medium keeps it) */
	int patient;	      /* import: a bundle modified less than
				 SNEAK_SETTLE_MS ago that is shorter than
				 its size (or than a header), or does not
				 verify, is still being copied there: leave
				 it for a later run (the watcher); 0: refuse
				 it (ferry import) */
	uint64_t segment;     /* bytes per bundle file; 0: default */
	int first_whole;      /* export: the run's first message may exceed
				 max_bytes (the medium's room still bounds
				 it): HTTP's window */
	int64_t reoffer_ms;   /* export: a message put on a medium longer
				 ago than this without custody coming back
				 is exported again; 0: never (unless
				 again) */
	uint64_t max_message; /* import: larger ones are refused; 0: any */
	int64_t skew_ms;      /* 0: default */
	struct store *st;
	const struct identity *me;
	char node[FERRY_NODE_MAX + 1];
	char fpr[IDENTITY_FPR_LEN + 1]; /* set by sneak_run */
	char state_dir[SNEAK_PATH_MAX];
	struct sneak_peer *peers; /* the configured peers */
	size_t npeers;
	struct sneak_progress *prog; /* may be NULL */
	/* out */
	int rc;			     /* 0, or the first fatal FERRY_E* */
	uint64_t msgs, bytes;	     /* exported or imported */
	uint64_t bundles, rejected;  /* files written or read; refused */
	uint64_t carried;	     /* import: bundles for other nodes
					stored here to be carried there */
	char summary[SNEAK_SUMMARY]; /* lines for the operator */
	size_t slen;
	/* import: sneak_name_sig() sums of the bundles this run listed in
	 * our folder, and of those it took out of it (imported or moved to
	 * rejected/); what is left there is seen_sig - gone_sig plus what
	 * somebody else put there meanwhile */
	uint64_t seen_sig, gone_sig;
	int listed;  /* import: the folder was listed (the sums mean it) */
	int copying; /* import: bundles left as still being copied */
	/* the run's folders on the medium, opened level by level without
	 * following a symbolic link (sneak_folder); closed at the end */
	struct sneak_dirfd {
		int parent, fd;
		char name[IDENTITY_FPR_LEN + 16];
	} fds[SNEAK_PEERS_MAX + 8];
	size_t nfds;
	int base_fd;
};

/* A 64-bit hash of one file name; a folder's signature is the sum over
 * the *.bundle names in it (order-free, and a name can be subtracted). */
uint64_t sneak_name_sig(const char *name);

/* The signature of DIR/ferry/FPR now (0 if it is not there or empty).
 * Names, not the folder's mtime: FAT keeps that in 2-second steps. */
uint64_t sneak_folder_sig(const char *dir, const char *fpr);

/* Run j (export or import); fills j's out fields.  Returns j->rc. */
int sneak_run(struct sneak_job *j);

/* A file-drop run (the watcher's, or an operator's ferry export or
 * import) moved msgs messages: count them for the transport's counts op
 * (any thread).  HTTP's runs count as HTTP's, not here. */
void filedrop_count(const struct sneak_job *j);

/* An import kept the local copies of bundles whose messages another
 * transfer was receiving at the time (one writer per message): 1 when
 * it is time to apply them again (one of those transfers let go), with
 * sneak_apply_deferred (only the store, the state dir, the identity and
 * the peers of j are used). */
int sneak_deferred_due(struct store *st);
/* When kept bundles are next to be tried (ferry_mono_ms()), 0 if none
 * are kept: the sweep looks that often while some are. */
int64_t sneak_deferred_at(void);
int sneak_apply_deferred(struct sneak_job *j);

/* The agent is stopping: every run stops at its next boundary, and runs
 * started later do nothing (FERRY_ECLOSED). */
void sneak_cancel_all(void);

#endif
