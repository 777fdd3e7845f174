/*
 * filedrop.c - the file-drop transport: ferry export / import of sealed
 * bundles on a medium (docs/formats.md; the bundle codec is
 * transports/bundle.c).  This file: one run (sneak_run) and what export
 * (filedrop_export.c) and import (filedrop_import.c) share: the job's
 * progress and summary, paths on the medium, and the custody ids owed to
 * each peer.
 *
 * Invariants:
 *  1. Nothing reaches the store from a bundle whose signature has not
 *     verified (the local copy is only applied after a full pass).
 *  2. A message is marked exported, and an owed id forgotten, only after
 *     the bundle carrying it is durable on the medium under its final name.
 *  3. Custody is owed only for what is durable in the store.
 *  4. Memory is bounded: one bundle reader or writer, one frame, one
 *     small-message batch (SNEAK_BATCH_BYTES), SNEAK_IDS_MAX ids.
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

#include "agent/intake.h"
#include "agent/agent.h"
#include "agent/log.h"
#include "transports/filedrop_int.h"
#include "transports/bundle.h"
#include "transports/hop.h"

pthread_mutex_t sneak_mu = PTHREAD_MUTEX_INITIALIZER;
int sneak_stop; /* sneak_cancel_all(); atomic */

void
sneak_cancel_all(void)
{
	__atomic_store_n(&sneak_stop, 1, __ATOMIC_RELEASE);
}

/* One line for the operator's summary, and the log. */
void
sneak_say(struct sneak_job *j, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_info("%s: %s", j->export ? "export" : "import", line);
	n = snprintf(j->summary + j->slen, sizeof(j->summary) - j->slen, "%s\n",
		     line);
	if (n > 0 && j->slen + (size_t)n < sizeof(j->summary))
		j->slen += (size_t)n;
}

void
sneak_prog(struct sneak_job *j, const char *what, uint64_t add, uint64_t total)
{
	if (j->prog == NULL)
		return;
	pthread_mutex_lock(&j->prog->mu);
	if (what != NULL)
		snprintf(j->prog->what, sizeof(j->prog->what), "%s", what);
	j->prog->done += add;
	if (total != 0)
		j->prog->total = total;
	pthread_mutex_unlock(&j->prog->mu);
}

int
sneak_cancelled(struct sneak_job *j)
{
	int c = __atomic_load_n(&sneak_stop, __ATOMIC_ACQUIRE) != 0;

	if (!c && j->prog != NULL) {
		pthread_mutex_lock(&j->prog->mu);
		c = j->prog->cancel;
		pthread_mutex_unlock(&j->prog->mu);
	}
	return c;
}

int
sneak_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return ferry_errno_code(errno);
	/* Some FUSE file systems do not implement fsync on folders. */
	if (fsync(fd) != 0 && errno != EINVAL && errno != ENOSYS &&
	    errno != ENOTSUP)
		rc = ferry_errno_code(errno);
	close(fd);
	return rc;
}

const char *
sneak_shown(const struct sneak_job *j)
{
	return j->shown[0] != '\0' ? j->shown : j->dir;
}

/* One level below dirfd: a real folder, not followed if a link. */
static int
open_level(struct sneak_job *j, int dirfd, const char *name, int create,
	   int *out)
{
	struct stat sb;
	int fd;

	for (size_t i = 0; i < j->nfds; i++)
		if (j->fds[i].parent == dirfd &&
		    strcmp(j->fds[i].name, name) == 0) {
			*out = j->fds[i].fd; /* opened before in this run */
			return 0;
		}
	if (j->nfds == sizeof(j->fds) / sizeof(j->fds[0]) ||
	    strlen(name) >= sizeof(j->fds[0].name))
		return FERRY_ETOOMANY;
	fd = -1;
	if (create && mkdirat(dirfd, name, 0755) != 0 && errno != EEXIST)
		fd = -2; /* errno says why */
	if (fd == -1)
		fd = openat(dirfd, name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (create && e == ENOENT) {
			/* Made a moment ago, and "no such file": fusefat does
			 * this with a folder that lies (or grew) beyond the
			 * first 2 GiB of the medium; say so, not "not found".
			 */
			sneak_say(
			    j,
			    "%s: the medium cannot use the folder %s: its "
			    "driver is faulty (fusefat cannot use a folder "
			    "beyond the first 2 GiB of a FAT medium)",
			    sneak_shown(j), name);
			return FERRY_EIO;
		}
		if ((e == ELOOP || e == ENOTDIR) &&
		    fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			log_warn("%s/%s on the medium is not a folder (a "
				 "symbolic link?): refused",
				 sneak_shown(j), name);
			return FERRY_EPERM;
		}
		return ferry_errno_code(e);
	}
	j->fds[j->nfds].parent = dirfd;
	j->fds[j->nfds].fd = fd;
	snprintf(j->fds[j->nfds].name, sizeof(j->fds[0].name), "%s", name);
	j->nfds++;
	*out = fd;
	return 0;
}

int
sneak_folder(struct sneak_job *j, const char *sub, int create, char *out,
	     size_t cap)
{
	int top, fd, rc;

	if (j->base_fd < 0)
		return FERRY_EIO;
	if ((rc = open_level(j, j->base_fd, "ferry", create, &top)) != 0)
		return rc;
	fd = top;
	if (sub != NULL && (rc = open_level(j, top, sub, create, &fd)) != 0)
		return rc;
	snprintf(out, cap, "/proc/self/fd/%d", fd);
	return 0;
}

/* Open the medium for a run: the client's descriptor, or the path. */
static int
base_open(struct sneak_job *j)
{
	j->nfds = 0;
	if (j->use_fd) {
		j->base_fd = j->dir_fd;
		snprintf(j->dir, sizeof(j->dir), "/proc/self/fd/%d", j->dir_fd);
		return 0;
	}
	j->base_fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return j->base_fd >= 0 ? 0 : ferry_errno_code(errno);
}

static void
base_close(struct sneak_job *j)
{
	for (size_t i = 0; i < j->nfds; i++)
		close(j->fds[i].fd);
	j->nfds = 0;
	if (j->base_fd >= 0 && !j->use_fd)
		close(j->base_fd);
	j->base_fd = -1;
}

const struct sneak_peer *
sneak_peer_by_name(const struct sneak_job *j, const char *name)
{
	for (size_t i = 0; i < j->npeers; i++)
		if (strcmp(j->peers[i].name, name) == 0)
			return &j->peers[i];
	return NULL;
}

const struct sneak_peer *
sneak_peer_by_id(const struct sneak_job *j, const uint8_t id[32])
{
	for (size_t i = 0; i < j->npeers; i++)
		if (sodium_memcmp(j->peers[i].id, id, 32) == 0)
			return &j->peers[i];
	return NULL;
}

void
sneak_human(uint64_t n, char *out, size_t cap)
{
	if (n >= (1ull << 30))
		snprintf(out, cap, "%.2f GiB", (double)n / (1 << 30));
	else if (n >= (1ull << 20))
		snprintf(out, cap, "%.1f MiB", (double)n / (1 << 20));
	else if (n >= 1024)
		snprintf(out, cap, "%.1f KiB", (double)n / 1024);
	else
		snprintf(out, cap, "%" PRIu64 " B", n);
}

/* ----------------------------------------------------------- owed ids */

void
sneak_owed_path(const struct sneak_job *j, const char *peer, char *out,
		size_t cap)
{
	int n = snprintf(out, cap, "%s/bundles/owed/%s", j->state_dir, peer);

	if (n < 0 || (size_t)n >= cap)
		out[0] = '\0'; /* opens fail: never a wrong file */
}

/* A folder of the state directory: this user's only (the local copies
 * hold messages in clear; the state directory may be open for others to
 * reach the socket, agent/control.c).  Tightened if it was made wider. */
static int
private_dir(const char *path)
{
	struct stat sb;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return ferry_errno_code(errno);
	if (lstat(path, &sb) != 0)
		return ferry_errno_code(errno);
	if (!S_ISDIR(sb.st_mode))
		return FERRY_EINVAL;
	if ((sb.st_mode & 077) != 0 && chmod(path, 0700) != 0)
		return ferry_errno_code(errno);
	return 0;
}

int
sneak_spool_dirs(const struct sneak_job *j)
{
	char p[SNEAK_PATH_MAX + 32];
	int rc;

	snprintf(p, sizeof(p), "%s/bundles", j->state_dir);
	if ((rc = private_dir(p)) != 0)
		return rc;
	snprintf(p, sizeof(p), "%s/bundles/owed", j->state_dir);
	if ((rc = private_dir(p)) != 0)
		return rc;
	snprintf(p, sizeof(p), "%s/bundles/in", j->state_dir);
	return private_dir(p);
}

/* Append n custody ids owed to peer, durably (invariant 3: called after
 * the commit that made them durable). */
int
sneak_owed_add(struct sneak_job *j, const char *peer, const uint8_t *ids,
	       size_t n)
{
	char p[SNEAK_PATH_MAX + 96];
	int fd, rc;

	if (n == 0)
		return 0;
	sneak_owed_path(j, peer, p, sizeof(p));
	fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return ferry_errno_code(errno);
	rc = ferry_write_all(fd, ids, n * FERRY_ID_LEN);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = ferry_errno_code(errno);
	close(fd);
	return rc;
}

/* Up to SNEAK_OWED_MAX ids owed to peer (malloc'd, *n of them). */
int
sneak_owed_load(struct sneak_job *j, const char *peer, uint8_t **ids, size_t *n)
{
	char p[SNEAK_PATH_MAX + 96];
	struct stat sb;
	size_t want;
	ssize_t got;
	int fd;

	*ids = NULL;
	*n = 0;
	sneak_owed_path(j, peer, p, sizeof(p));
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : ferry_errno_code(errno);
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return FERRY_EIO;
	}
	want = (size_t)sb.st_size / FERRY_ID_LEN;
	if (want > SNEAK_OWED_MAX)
		want = SNEAK_OWED_MAX;
	if (want == 0) {
		close(fd);
		return 0;
	}
	*ids = malloc(want * FERRY_ID_LEN);
	if (*ids == NULL) {
		close(fd);
		return FERRY_ENOMEM;
	}
	got = pread(fd, *ids, want * FERRY_ID_LEN, 0);
	close(fd);
	if (got < 0) {
		free(*ids);
		*ids = NULL;
		return FERRY_EIO;
	}
	*n = (size_t)got / FERRY_ID_LEN;
	return 0;
}

/* The first n owed ids are on a medium now: drop them. */
int
sneak_owed_drop(struct sneak_job *j, const char *peer, size_t n)
{
	char p[SNEAK_PATH_MAX + 96], tmp[SNEAK_PATH_MAX + 112];
	uint8_t buf[65536];
	int in, out, rc = 0;
	ssize_t got;
	off_t off = (off_t)(n * FERRY_ID_LEN);
	struct stat sb;

	sneak_owed_path(j, peer, p, sizeof(p));
	in = open(p, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return errno == ENOENT ? 0 : ferry_errno_code(errno);
	if (fstat(in, &sb) != 0) {
		close(in);
		return FERRY_EIO;
	}
	if (sb.st_size <= off) {
		close(in);
		return unlink(p) == 0 ? 0 : ferry_errno_code(errno);
	}
	/* More were owed than one export carries: keep the rest. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return ferry_errno_code(errno);
	}
	while (rc == 0 && (got = pread(in, buf, sizeof(buf), off)) > 0) {
		rc = ferry_write_all(out, buf, (size_t)got);
		off += got;
	}
	if (rc == 0 && fdatasync(out) != 0)
		rc = ferry_errno_code(errno);
	close(in);
	close(out);
	if (rc == 0 && rename(tmp, p) != 0)
		rc = ferry_errno_code(errno);
	return rc;
}

/* -------------------------------------------------------------- entry */

int
sneak_run(struct sneak_job *j)
{
	char myfpr[IDENTITY_FPR_LEN + 1];
	struct stat sb;
	int rc;

	j->slen = 0;
	j->summary[0] = '\0';
	j->msgs = j->bytes = j->bundles = j->rejected = j->carried = 0;
	j->seen_sig = j->gone_sig = 0;
	j->listed = 0;
	if (j->skew_ms == 0)
		j->skew_ms = SNEAK_SKEW_MS;
	if ((j->use_fd ? fstat(j->dir_fd, &sb) : stat(j->dir, &sb)) != 0 ||
	    !S_ISDIR(sb.st_mode)) {
		sneak_say(j, "%s is not a folder (is the medium mounted?)",
			  sneak_shown(j));
		return j->rc = FERRY_ENOTFOUND;
	}
	for (size_t i = 0; i < j->nonly; i++)
		if (sneak_peer_by_name(j, j->only[i]) == NULL) {
			sneak_say(j, "%s is not a configured peer", j->only[i]);
			return j->rc = FERRY_EINVAL;
		}
	identity_fingerprint(identity_sign_pk(j->me), identity_kx_pk(j->me),
			     myfpr);
	memcpy(j->fpr, myfpr, sizeof(j->fpr));
	pthread_mutex_lock(&sneak_mu);
	rc = sneak_spool_dirs(j);
	if (rc != 0)
		sneak_say(j, "cannot create %s/bundles: %s", j->state_dir,
			  ferry_strerror(rc));
	else if ((rc = base_open(j)) != 0)
		sneak_say(j, "cannot open %s: %s", sneak_shown(j),
			  ferry_strerror(rc));
	else if (j->export)
		rc = sneak_run_export(j, 0);
	else
		rc = sneak_run_import(j, myfpr);
	base_close(j);
	pthread_mutex_unlock(&sneak_mu);
	if (rc == FERRY_ECLOSED)
		sneak_say(j, "stopped: cancelled");
	return j->rc = rc;
}
