/*
 * util.h - small system helpers every room used to write for itself:
 * errno to ferry error codes, writing a whole buffer, making names in a
 * directory durable, the two clocks in milliseconds, and thread names.
 *
 * Not installed: part of libferrycore (and of libferry, which the client
 * code links alone).  Nothing here allocates or logs.
 */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ferry_err.h"

/*
 * The ferry error code for errno value e, for file and directory work:
 * ENOSPC, EDQUOT, EFBIG -> FERRY_ENOSPC; ENOENT, ENOTDIR ->
 * FERRY_ENOTFOUND; EACCES, EPERM, EROFS -> FERRY_EPERM; ENOMEM ->
 * FERRY_ENOMEM; ENAMETOOLONG -> FERRY_EINVAL; EEXIST -> FERRY_EBUSY;
 * anything else FERRY_EIO.
 */
int ferry_errno_code(int e);

/*
 * The ferry error code for a failed data write or sync, where the only
 * thing a caller can act on is a full disk: ENOSPC, EDQUOT, EFBIG ->
 * FERRY_ENOSPC, anything else FERRY_EIO.
 */
int ferry_errno_space_code(int e);

/*
 * Write all len bytes of buf to fd, going on after EINTR and short writes.
 * 0, or ferry_errno_code() of the failure (a write of 0 bytes counts as
 * EIO); errno is left set, so the caller may log strerror(errno) or map
 * it otherwise.  For plain files and pipes; sockets have their own loop
 * in the client.
 */
int ferry_write_all(int fd, const void *buf, size_t len) FERRY_MUST_CHECK;

/*
 * fsync directory path, so that names created or renamed in it survive a
 * crash.  0, or ferry_errno_code() of what failed (open or fsync; a
 * failed close is FERRY_EIO); errno is left set.
 */
int ferry_fsync_dir(const char *path) FERRY_MUST_CHECK;

/*
 * A TCP socket listening on host:port, backlog deep: on the first address
 * getaddrinfo gives (passive, numeric port), SO_REUSEADDR, IPv6 only on
 * an IPv6 address, close-on-exec.  The fd; or -1 with why (whylen bytes)
 * saying what failed: the name's resolution, or the socket's (its errno,
 * "is another program using the port?").  For ferryd's HTTP servers.
 */
int ferry_listen_tcp(const char *host, unsigned port, int backlog, char *why,
		     size_t whylen);

/* Fill buf with len random bytes from the kernel (getrandom), for names
 * and tokens that must be wholly unguessable (message ids are not: see
 * ferry_id_generate).  0 or FERRY_EIO.  In ferry_msg.c, next to ids. */
int ferry_random_bytes(void *buf, size_t len) FERRY_MUST_CHECK;

/* The wall clock (CLOCK_REALTIME) in ms since the epoch; 0 if unreadable.
 * For timestamps that leave the process (created_ms, expiries). */
int64_t ferry_wall_ms(void);

/* The monotonic clock (CLOCK_MONOTONIC) in ms; 0 if unreadable.  For
 * timeouts and durations: it never jumps with the wall clock. */
int64_t ferry_mono_ms(void);

/*
 * Name the calling thread (printf-style; cut to the kernel's 15 bytes),
 * so that top -H, /proc/PID/task/TID/comm, gdb and bench/bench_idle.sh
 * say which thread is which.  Best effort: a failure changes nothing.
 * ferryd's main thread keeps the process name ("ferryd"), which ps and
 * pgrep match on.
 */
void ferry_thread_name(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * A relayed message's path (docs/routing.md): the nodes that held it,
 * its source first, as node names separated by ',' (no spaces), at most
 * ROUTE_PATH_MAX bytes; "" is the empty path.
 */
#define ROUTE_PATH_MAX 1023
/* 1 if path is "" or valid node names separated by single commas, at
 * most ROUTE_PATH_MAX bytes; 0 otherwise. */
int route_path_valid(const char *path);
/* Is node one of path's names? */
int route_path_has(const char *path, const char *node);
/* How many names path holds. */
size_t route_path_len(const char *path);
/* The first name of path into out (FERRY_NODE_MAX + 1 bytes); "" if
 * none. */
void route_path_first(const char *path, char *out);
/* The last name of path into out (FERRY_NODE_MAX + 1 bytes); "" if none. */
void route_path_last(const char *path, char *out);
/* path + "," + node (or node alone) into out of cap bytes: 0, or -1 if
 * it does not fit. */
int route_path_append(const char *path, const char *node, char *out,
		      size_t cap);

#endif
