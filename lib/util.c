/*
 * util.c - small system helpers shared by every room (see util.h): errno
 * mapping, write_all, fsync of a directory, clocks.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int
ferry_errno_code(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return FERRY_ENOSPC;
	case ENOENT:
	case ENOTDIR:
		return FERRY_ENOTFOUND;
	case EACCES:
	case EPERM:
	case EROFS:
		return FERRY_EPERM;
	case ENOMEM:
		return FERRY_ENOMEM;
	case ENAMETOOLONG:
		return FERRY_EINVAL;
	case EEXIST:
		return FERRY_EBUSY;
	default:
		return FERRY_EIO;
	}
}

int
ferry_errno_space_code(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EFBIG ? FERRY_ENOSPC
							: FERRY_EIO;
}

int
ferry_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ferry_errno_code(errno);
		if (n == 0) {
			errno = EIO;
			return FERRY_EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
ferry_fsync_dir(const char *path)
{
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ferry_errno_code(errno);
	if (fsync(fd) != 0)
		rc = ferry_errno_code(errno);
	if (close(fd) != 0 && rc == 0) {
		errno = EIO;
		rc = FERRY_EIO;
	}
	return rc;
}

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
ferry_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

int64_t
ferry_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}
