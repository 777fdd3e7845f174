/*
 * request_client.c - libferry's one-call ferry_request (cli_request.sh).
 *
 *   request_client SOCKET NODE/QUEUE TIMEOUT_MS TEXT
 *
 * Sends TEXT as a request and writes the reply's payload to standard
 * output, through the write callback, in pieces.  Then checks that the
 * reply queue was closed (no reply.* queue listed).  Exit 0 with a
 * reply, 7 on FERRY_ETIMEDOUT, 1 on anything else, 99 harness error.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ferry.h"

static int
to_stdout(const void *data, size_t len, void *arg)
{
	size_t *total = arg;

	*total += len;
	return fwrite(data, 1, len, stdout) == len ? 0 : FERRY_EIO;
}

static int
count_reply_queues(const struct ferry_queue_info *q, void *arg)
{
	unsigned *n = arg;

	if (ferry_queue_is_reply(q->name))
		(*n)++;
	return 0;
}

int
main(int argc, char **argv)
{
	struct ferry_msg_info reply;
	struct ferry *c = NULL;
	size_t total = 0;
	unsigned open = 0;
	long timeout_ms;
	int rc;

	if (argc != 5 || (timeout_ms = strtol(argv[3], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: request_client SOCKET NODE/QUEUE "
				"TIMEOUT_MS TEXT\n");
		return 99;
	}
	if ((rc = ferry_connect(argv[1], &c)) != 0) {
		fprintf(stderr, "request_client: connect: %s\n",
			ferry_strerror(rc));
		return 99;
	}
	rc = ferry_request(c, argv[2], argv[4], strlen(argv[4]), NULL,
			   timeout_ms, &reply, to_stdout, &total);
	if (rc == 0 && total != reply.msg.payload_len) {
		fprintf(stderr, "request_client: %zu of %llu bytes\n", total,
			(unsigned long long)reply.msg.payload_len);
		rc = FERRY_EIO;
	}
	if (ferry_queue_list(c, count_reply_queues, &open) != 0 || open != 0) {
		fprintf(stderr, "request_client: %u reply queues left open\n",
			open);
		rc = rc != 0 ? rc : FERRY_ESTATE;
	}
	if (rc != 0 && rc != FERRY_ETIMEDOUT)
		fprintf(stderr, "request_client: %s (%s)\n", ferry_strerror(rc),
			ferry_last_error(c));
	ferry_close(c);
	return rc == 0 ? 0 : rc == FERRY_ETIMEDOUT ? 7 : 1;
}
