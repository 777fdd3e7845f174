/*
 * flood_client.c - a client that asks and never reads: it pipelines COUNT
 * BROWSE requests for QUEUE on ferryd's socket, never reads an answer,
 * then holds the connection open for HOLD seconds before it closes.
 * agent_flood.sh checks meanwhile that ferryd's memory stays bounded and
 * other clients are served.
 *   flood_client SOCKET QUEUE COUNT HOLD_SECONDS
 * Exit: 0 done (whatever the agent did), 99 harness error.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/frame.h"

int
main(int argc, char **argv)
{
	struct sockaddr_un sa;
	struct timeval tv = {2, 0};
	uint8_t buf[256];
	long count, hold, sent = 0;
	int fd;

	if (argc != 5) {
		fprintf(stderr,
			"usage: flood_client SOCKET QUEUE COUNT HOLD\n");
		return 99;
	}
	count = atol(argv[3]);
	hold = atol(argv[4]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("flood_client: connect");
		return 99;
	}
	/* Stop writing once the agent stops reading for 2 s. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
		return 99;
	for (long i = 0; i < count; i++) {
		struct ferry_fbuf b;
		size_t len, off = 0;

		ferry_fbuf_begin(&b, buf, sizeof(buf), FERRY_F_BROWSE, 0,
				 (uint32_t)(i + 1));
		ferry_fbuf_str(&b, FERRY_T_QUEUE, argv[2]);
		if (ferry_fbuf_end(&b, &len) != 0)
			return 99;
		while (off < len) {
			ssize_t n =
			    send(fd, buf + off, len - off, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				goto held;
			off += (size_t)n;
		}
		sent++;
	}
held:
	printf("flood_client: %ld requests sent, none read; holding %ld s\n",
	       sent, hold);
	fflush(stdout);
	sleep((unsigned)hold);
	close(fd);
	return 0;
}
