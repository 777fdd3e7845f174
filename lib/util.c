/*
 * util.c - small system helpers shared by every room (see util.h): errno
 * mapping, write_all, fsync of a directory, clocks, thread names.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ferry_msg.h"
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

int
ferry_listen_tcp(const char *host, unsigned port, int backlog, char *why,
		 size_t whylen)
{
	struct addrinfo hints, *res = NULL;
	char service[8];
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0) {
		snprintf(why, whylen, "%s", gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC,
		    res->ai_protocol);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (res->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) !=
		 0) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
	    listen(fd, backlog) != 0) {
		snprintf(why, whylen, "%s (is another program using the port?)",
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
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

void
ferry_thread_name(const char *fmt, ...)
{
	char name[16]; /* TASK_COMM_LEN, with its NUL */
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	(void)pthread_setname_np(pthread_self(), name);
}

int64_t
ferry_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* ------------------------------------------------------- route paths */

int
route_path_valid(const char *path)
{
	char name[FERRY_NODE_MAX + 1];
	size_t len = strnlen(path, ROUTE_PATH_MAX + 1);

	if (len > ROUTE_PATH_MAX)
		return 0;
	while (*path != '\0') {
		const char *end = strchr(path, ',');
		size_t n = end != NULL ? (size_t)(end - path) : strlen(path);
		if (n == 0 || n > FERRY_NODE_MAX)
			return 0;
		memcpy(name, path, n);
		name[n] = '\0';
		if (!ferry_node_name_valid(name))
			return 0;
		if (end == NULL)
			break;
		path = end + 1;
		if (*path == '\0')
			return 0; /* a trailing comma */
	}
	return 1;
}

int
route_path_has(const char *path, const char *node)
{
	size_t n = strlen(node);

	while (*path != '\0') {
		const char *end = strchr(path, ',');
		size_t len = end != NULL ? (size_t)(end - path) : strlen(path);
		if (len == n && memcmp(path, node, n) == 0)
			return 1;
		if (end == NULL)
			break;
		path = end + 1;
	}
	return 0;
}

size_t
route_path_len(const char *path)
{
	size_t n;

	if (*path == '\0')
		return 0;
	for (n = 1; *path != '\0'; path++)
		n += *path == ',';
	return n;
}

void
route_path_first(const char *path, char *out)
{
	size_t n = strcspn(path, ",");

	if (n > FERRY_NODE_MAX)
		n = 0; /* not a valid path: nothing */
	memcpy(out, path, n);
	out[n] = '\0';
}

void
route_path_last(const char *path, char *out)
{
	const char *last = strrchr(path, ',');

	last = last != NULL ? last + 1 : path;
	snprintf(out, FERRY_NODE_MAX + 1, "%s", last);
}

int
route_path_append(const char *path, const char *node, char *out, size_t cap)
{
	int n = *path != '\0' ? snprintf(out, cap, "%s,%s", path, node)
			      : snprintf(out, cap, "%s", node);

	return n < 0 || (size_t)n >= cap || (size_t)n > ROUTE_PATH_MAX ? -1 : 0;
}
