/*
 * request.c - request and reply on top of the calls of client.c
 * (docs/protocol.md §4, "Request and reply"; contracts in ferry.h).
 *
 * Owns nothing beyond the caller's struct ferry_request: a reply queue
 * name and a correlation drawn at random, and the deadline.  The reply
 * queue is opened for the timeout plus FERRY_REQUEST_MARGIN_MS, so that
 * a requester that dies without closing it leaves a queue ferryd closes
 * by itself; a reply that comes after the close goes to dead in ferryd,
 * not here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.h"
#include "util.h"

#define REQUEST_CHUNK (64u * 1024u) /* ferry_request's reply pieces */

int
ferry_request_open(struct ferry *c, int64_t timeout_ms,
		   struct ferry_request *rq, struct ferry_send_opts *so)
{
	uint8_t r[FERRY_ID_LEN];
	char hex[FERRY_ID_HEX_LEN + 1];
	int rc;

	memset(rq, 0, sizeof(*rq));
	if (timeout_ms <= 0 || timeout_ms > INT64_MAX / 4 || so == NULL)
		return FERRY_EINVAL;
	/* Wholly random, not an id: nobody may guess a reply queue. */
	if ((rc = ferry_random_bytes(r, sizeof(r))) != 0)
		return rc;
	ferry_id_to_hex(r, hex);
	snprintf(rq->reply_queue, sizeof(rq->reply_queue), "%s%s",
		 FERRY_REPLY_PREFIX, hex);
	if ((rc = ferry_random_bytes(r, sizeof(r))) != 0)
		return rc;
	ferry_id_to_hex(r, rq->correlation);
	rq->deadline_ms = ferry_mono_ms() + timeout_ms;
	rc = ferry_reply_queue_open(c, rq->reply_queue,
				    timeout_ms + FERRY_REQUEST_MARGIN_MS);
	if (rc != 0)
		return rc;
	rq->open = 1;
	so->reply_to = rq->reply_queue;
	so->correlation = rq->correlation;
	return 0;
}

int
ferry_request_wait(struct ferry *c, struct ferry_request *rq,
		   struct ferry_msg_info *info, struct ferry_stream **payload)
{
	struct ferry_recv_opts ro;
	struct ferry_stream *s;
	int64_t left;
	int rc;

	if (payload != NULL)
		*payload = NULL;
	if (!rq->open)
		return FERRY_ESTATE;
	ferry_recv_opts_init(&ro);
	for (;;) {
		left = rq->deadline_ms - ferry_mono_ms();
		if (left <= 0)
			return FERRY_ETIMEDOUT;
		ro.wait_ms = left;
		s = NULL;
		rc = ferry_recv(c, rq->reply_queue, &ro, info, &s);
		if (rc == FERRY_EEMPTY || rc == FERRY_ETIMEDOUT)
			continue; /* the deadline decides */
		if (rc != 0)
			return rc;
		if (strcmp(info->msg.correlation, rq->correlation) == 0) {
			if (payload != NULL)
				*payload = s;
			else
				ferry_stream_close(s);
			return 0;
		}
		/* A stray (another correlation): not ours to answer. */
		ferry_stream_close(s);
		rc = ferry_ack(c, info->msg.id, info->token);
		if (rc != 0)
			return rc;
	}
}

int
ferry_request_close(struct ferry *c, struct ferry_request *rq,
		    const struct ferry_msg_info *reply)
{
	int rc = 0, rc2;

	if (!rq->open)
		return 0;
	if (reply != NULL)
		rc = ferry_ack(c, reply->msg.id, reply->token);
	rc2 = ferry_queue_purge(c, rq->reply_queue, NULL);
	rq->open = 0;
	return rc != 0 ? rc : rc2;
}

int
ferry_request(struct ferry *c, const char *dest, const void *data, size_t len,
	      const struct ferry_send_opts *o, int64_t timeout_ms,
	      struct ferry_msg_info *reply, ferry_write_fn write, void *arg)
{
	struct ferry_request rq;
	struct ferry_send_opts so;
	struct ferry_stream *s = NULL;
	uint8_t *buf = NULL;
	int rc, rc2, got = 0;

	if (o != NULL)
		so = *o;
	else
		ferry_send_opts_init(&so);
	so.id = NULL;
	rc = ferry_request_open(c, timeout_ms, &rq, &so);
	if (rc != 0)
		return rc;
	rc = ferry_send(c, dest, data, len, &so, NULL);
	if (rc == 0)
		rc = ferry_request_wait(c, &rq, reply, &s);
	if (rc == 0) {
		got = 1;
		buf = malloc(REQUEST_CHUNK);
		if (buf == NULL)
			rc = FERRY_ENOMEM;
	}
	while (rc == 0 && s != NULL) {
		size_t n = 0;
		rc = ferry_stream_read(s, buf, REQUEST_CHUNK, &n);
		if (rc != 0 || n == 0)
			break;
		if (write != NULL)
			rc = write(buf, n, arg);
	}
	ferry_stream_close(s);
	free(buf);
	/* A reply that could not be written out is acked all the same:
	 * the queue closes now, so it could not be taken again. */
	rc2 = ferry_request_close(c, &rq, got ? reply : NULL);
	return rc != 0 ? rc : rc2;
}
