/*
 * hold_clients.c - raw connections to ferryd's control socket that hog,
 * stall or idle, for agent_clients.sh.
 *
 *   hold_clients hold SOCKET N
 *	open N connections one after another, each asking HELLO; tell
 *	on stdout how each was answered:
 *	  "admitted A refused R silent S" then, for the first refusal,
 *	  "refusal CODE TEXT"; then "ready", and keep the admitted ones
 *	  open until stdin ends (or the process is killed).
 *   hold_clients half SOCKET SECS
 *	send the first 6 bytes of a HELLO frame and nothing more; wait up
 *	to SECS for ferryd to close the connection.
 *   hold_clients idle SOCKET SECS
 *	ask HELLO, read the answer, then say nothing; wait up to SECS for
 *	ferryd to close the connection.
 *   half and idle print "closed after MS ms: CODE TEXT" (the ERROR frame
 *   ferryd sent last, or "no error frame") or "still open after SECS s".
 * Exit: 0 done (hold), closed (half, idle); 1 still open; 99 harness
 * error.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/frame.h"

#define HOLD_MAX 4096

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
dial(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("hold_clients: connect");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static size_t
hello(uint8_t *buf, size_t cap)
{
	struct ferry_fbuf b;
	size_t len = 0;

	ferry_fbuf_begin(&b, buf, cap, FERRY_F_HELLO, 0, 1);
	ferry_fbuf_u32(&b, FERRY_T_VERSION, FERRY_PROTO_VERSION);
	if (ferry_fbuf_end(&b, &len) != 0)
		return 0;
	return len;
}

/*
 * Read one frame within timeout_ms into buf: 1 a frame, 0 the connection
 * ended (or was reset) first, -1 nothing within the time.
 */
static int
read_frame(int fd, uint8_t *buf, size_t cap, int timeout_ms,
	   struct ferry_frame *f)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t have = 0, total = 0;

	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (have >= 4 && ferry_frame_size(buf, have, &total) == 0 &&
		    have >= total)
			return ferry_frame_decode(buf, total, f) == 0 ? 1 : 0;
		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = recv(fd, buf + have, cap - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		have += (size_t)n;
		if (have == cap)
			return 0;
	}
}

static void
describe(const struct ferry_frame *f, char *out, size_t cap)
{
	struct ferry_fields fl;
	const char *why = NULL;

	if (f->type != FERRY_F_ERROR || ferry_fields_parse(f, &fl, &why) != 0) {
		snprintf(out, cap, "%s frame", ferry_frame_type_name(f->type));
		return;
	}
	snprintf(out, cap, "%d %s", fl.code, fl.text);
}

static int
hold(const char *path, long n)
{
	static int fds[HOLD_MAX];
	static uint8_t buf[FERRY_FRAME_MAX + 4];
	char first[600] = "";
	long admitted = 0, refused = 0, silent = 0;
	size_t len = hello(buf, sizeof(buf));
	uint8_t req[64];

	if (n < 1 || n > HOLD_MAX || len == 0 || len > sizeof(req))
		return 99;
	memcpy(req, buf, len);
	for (long i = 0; i < n; i++) {
		struct ferry_frame f;
		int fd = dial(path), rc;

		if (fd < 0)
			return 99;
		if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
			/* Closed before we could ask: the answer may be
			 * waiting all the same. */
		}
		rc = read_frame(fd, buf, sizeof(buf), 5000, &f);
		if (rc == 1 && f.type == FERRY_F_HELLO_OK) {
			fds[admitted++] = fd;
			continue;
		}
		if (rc == 1) {
			refused++;
			if (first[0] == '\0')
				describe(&f, first, sizeof(first));
		} else {
			silent++;
		}
		close(fd);
	}
	printf("admitted %ld refused %ld silent %ld\n", admitted, refused,
	       silent);
	if (first[0] != '\0')
		printf("refusal %s\n", first);
	printf("ready\n");
	fflush(stdout);
	while (read(0, buf, 1) > 0)
		;
	for (long i = 0; i < admitted; i++)
		close(fds[i]);
	return 0;
}

static int
stall(const char *path, int idle, long secs)
{
	static uint8_t buf[FERRY_FRAME_MAX + 4];
	struct ferry_frame f;
	char said[600] = "no error frame";
	size_t len = hello(buf, sizeof(buf));
	int64_t t0;
	int fd = dial(path), rc;

	if (fd < 0 || len == 0)
		return 99;
	if (idle) {
		if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len ||
		    read_frame(fd, buf, sizeof(buf), 5000, &f) != 1 ||
		    f.type != FERRY_F_HELLO_OK) {
			fprintf(stderr, "hold_clients: HELLO not answered\n");
			return 99;
		}
	} else if (send(fd, buf, 6, MSG_NOSIGNAL) != 6) {
		perror("hold_clients: send");
		return 99;
	}
	t0 = now_ms();
	rc = read_frame(fd, buf, sizeof(buf), (int)(secs * 1000), &f);
	if (rc < 0) {
		printf("still open after %ld s\n", secs);
		return 1;
	}
	if (rc == 1) {
		describe(&f, said, sizeof(said));
		/* The close follows the ERROR frame. */
		while (read_frame(fd, buf, sizeof(buf), 2000, &f) == 1)
			;
	}
	printf("closed after %lld ms: %s\n", (long long)(now_ms() - t0), said);
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "hold") == 0)
		return hold(argv[2], atol(argv[3]));
	if (argc == 4 && strcmp(argv[1], "half") == 0)
		return stall(argv[2], 0, atol(argv[3]));
	if (argc == 4 && strcmp(argv[1], "idle") == 0)
		return stall(argv[2], 1, atol(argv[3]));
	fprintf(stderr, "usage: hold_clients hold SOCKET N\n"
			"       hold_clients half|idle SOCKET SECS\n");
	return 99;
}
