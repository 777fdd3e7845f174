/*
 * spool.c - the payloads of streamed messages, one plain file each
 * (docs/store.md, "Payloads").
 *
 * Berkeley DB writes every byte twice (log, then page), so a streamed
 * payload went to disk at a third of the disk's rate.  A streamed payload
 * is written instead to spool/<hex id> with plain write(2), and the store
 * records only its durable length, in the same partial record as before:
 *
 *   data -> write(2) -> fdatasync(2) -> then a transaction moves the
 *   partial's durable offset (or turns the partial into a message)
 *
 * so a durable offset never exceeds what the file holds on disk, whatever
 * crashes when.  Resume truncates the file to the durable offset.  A file
 * is unlinked only after the transaction that dropped its message or
 * partial has committed (by the sweep, through the garbage list), and
 * files that belong to nothing are removed at open.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"
#include "store/store_int.h"

static void
spool_name(const uint8_t *id, char out[FERRY_ID_HEX_LEN + 1])
{
	ferry_id_to_hex(id, out);
}

int
spool_create(struct store *st, const uint8_t *id, int *fd)
{
	char name[FERRY_ID_HEX_LEN + 1];

	spool_name(id, name);
	*fd = openat(st->spool_fd, name,
		     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (*fd < 0) {
		store_seterr("cannot create spool/%s: %s", name,
			     strerror(errno));
		return ferry_errno_space_code(errno);
	}
	/* The name must survive a power loss as well as the data. */
	if (fsync(st->spool_fd) != 0) {
		store_seterr("cannot sync the spool directory: %s",
			     strerror(errno));
		close(*fd);
		*fd = -1;
		return FERRY_EIO;
	}
	return 0;
}

int
spool_open_append(struct store *st, const uint8_t *id, uint64_t len, int *fd)
{
	char name[FERRY_ID_HEX_LEN + 1];
	struct stat sb;

	spool_name(id, name);
	*fd = openat(st->spool_fd, name, O_WRONLY | O_CLOEXEC);
	if (*fd < 0) {
		store_seterr("spool/%s: %s", name, strerror(errno));
		return errno == ENOENT ? FERRY_ECORRUPT : FERRY_EIO;
	}
	if (fstat(*fd, &sb) != 0 || (uint64_t)sb.st_size < len) {
		/* Shorter than its durable length: the disk lost data. */
		store_seterr("spool/%s holds less than its recorded %llu bytes",
			     name, (unsigned long long)len);
		close(*fd);
		*fd = -1;
		return FERRY_ECORRUPT;
	}
	/* What lies past the durable offset was never acknowledged. */
	if (ftruncate(*fd, (off_t)len) != 0 ||
	    lseek(*fd, (off_t)len, SEEK_SET) < 0) {
		store_seterr("spool/%s: %s", name, strerror(errno));
		close(*fd);
		*fd = -1;
		return FERRY_EIO;
	}
	return 0;
}

/*
 * Is fd still spool/<id>, holding exactly len bytes?  0; FERRY_ESTATE
 * when the name now belongs to another file (or none), FERRY_ECORRUPT
 * when the file's length is not len (with the reason): nothing may be
 * committed then.
 */
int
spool_is(struct store *st, const uint8_t *id, int fd, uint64_t len)
{
	char name[FERRY_ID_HEX_LEN + 1];
	struct stat mine, there;

	spool_name(id, name);
	if (fstat(fd, &mine) != 0) {
		store_seterr("spool/%s: %s", name, strerror(errno));
		return FERRY_EIO;
	}
	if (fstatat(st->spool_fd, name, &there, AT_SYMLINK_NOFOLLOW) != 0 ||
	    there.st_dev != mine.st_dev || there.st_ino != mine.st_ino) {
		store_seterr("spool/%s is no longer the file this transfer "
			     "wrote",
			     name);
		return FERRY_ESTATE;
	}
	if ((uint64_t)mine.st_size != len) {
		store_seterr("spool/%s holds %llu bytes, the message %llu",
			     name, (unsigned long long)mine.st_size,
			     (unsigned long long)len);
		return FERRY_ECORRUPT;
	}
	return 0;
}

int
spool_open_read(struct store *st, const uint8_t *id, int *fd)
{
	char name[FERRY_ID_HEX_LEN + 1];

	spool_name(id, name);
	*fd = openat(st->spool_fd, name, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		store_seterr("spool/%s: %s", name, strerror(errno));
		return errno == ENOENT ? FERRY_ENOTFOUND : FERRY_EIO;
	}
	return 0;
}

int
spool_check_len(int fd, uint64_t len)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0) {
		store_seterr("a spooled payload: %s", strerror(errno));
		return FERRY_EIO;
	}
	if ((uint64_t)sb.st_size < len) {
		store_seterr("a spooled payload holds %llu of its %llu bytes",
			     (unsigned long long)sb.st_size,
			     (unsigned long long)len);
		return FERRY_ECORRUPT;
	}
	return 0;
}

int
spool_write(int fd, const void *buf, size_t len)
{
	if (ferry_write_all(fd, buf, len) != 0) {
		store_seterr("writing a spooled payload: %s", strerror(errno));
		return ferry_errno_space_code(errno);
	}
	return 0;
}

int
spool_sync(int fd)
{
	if (fdatasync(fd) != 0) {
		store_seterr("syncing a spooled payload: %s", strerror(errno));
		return ferry_errno_space_code(errno);
	}
	return 0;
}

int
spool_read(int fd, uint64_t off, void *buf, size_t cap, size_t *n)
{
	ssize_t r;

	do
		r = pread(fd, buf, cap, (off_t)off);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		store_seterr("reading a spooled payload: %s", strerror(errno));
		return FERRY_EIO;
	}
	*n = (size_t)r;
	return 0;
}

void
spool_unlink(struct store *st, const uint8_t *id)
{
	char name[FERRY_ID_HEX_LEN + 1];

	spool_name(id, name);
	(void)unlinkat(st->spool_fd, name, 0);
}

/* Does id belong to a message, a partial or the garbage list? */
static int
spool_owned(struct store *st, const uint8_t *id)
{
	DB *dbs[] = {st->msgs, st->partials, st->garbage};

	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		int rc = store_db_exists(dbs[i], NULL, id, FERRY_ID_LEN);
		if (rc != 0)
			return rc; /* 1, or an error: keep the file */
	}
	return 0;
}

int
spool_open(struct store *st)
{
	char path[4096];
	DIR *d;
	struct dirent *e;
	int fd;

	snprintf(path, sizeof(path), "%s/spool", st->dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		store_seterr("cannot create %s: %s", path, strerror(errno));
		return FERRY_EIO;
	}
	st->spool_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->spool_fd < 0) {
		store_seterr("cannot open %s: %s", path, strerror(errno));
		return FERRY_EIO;
	}
	/* Files of streams that never got a partial record (a crash
	 * between creating the file and committing), or whose message was
	 * dropped and unlinking was cut short: nothing refers to them. */
	fd = dup(st->spool_fd);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return 0; /* not fatal: they are only wasted space */
	}
	while ((e = readdir(d)) != NULL) {
		uint8_t id[FERRY_ID_LEN];
		if (ferry_id_from_hex(e->d_name, id) != 0)
			continue;
		if (spool_owned(st, id) == 0)
			(void)unlinkat(st->spool_fd, e->d_name, 0);
	}
	closedir(d);
	return 0;
}

void
spool_close(struct store *st)
{
	if (st->spool_fd >= 0)
		close(st->spool_fd);
	st->spool_fd = -1;
}
