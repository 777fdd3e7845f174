/*
 * send_storm.c - a sender that does not stop until ferryd dies under it,
 * and the receiver that checks what survived (agent_kill9.sh).
 *
 *   send_storm send SOCKET NODE/QUEUE IDFILE SEED CLIENT
 *	send messages as fast as ferryd takes them: mostly 1 byte to 4 KiB
 *	in one round trip, one in 40 streamed (64 KiB to 640 KiB).  Each
 *	id ferryd GAVE (the call returned 0) is appended to IDFILE at once.
 *	Every message's correlation "SEED CLIENT SEQ LEN" says what its
 *	payload is (bytes of the pattern of a seed derived from them).
 *	Exit 0 when the connection to ferryd was lost (what we wait for),
 *	1 on any other error.
 *   send_storm pipe SOCKET NODE/QUEUE IDFILE SEED CLIENT
 *	the same with pipelined sends (ferry_send_async, 1 byte to 4 KiB,
 *	a full window in flight): each id a completion GAVE is appended to
 *	IDFILE from its callback; a send answered twice, or never before
 *	the connection ended, is an error.
 *   send_storm drain SOCKET QUEUE NWORKERS
 *	take and ack everything in QUEUE with NWORKERS connections; check
 *	each payload against its correlation; print the ids, one a line.
 *	Exit 1 if a payload is wrong, a call fails, or a message has no
 *	correlation.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/itutil.h"

#define SMALL_MAX   4096u /* < BUF_MAX */
#define STREAM_MIN  (64u * 1024u)
#define STREAM_SPAN (576u * 1024u)
#define BUF_MAX	    (64u * 1024u)

/* The connection is gone: what kill -9 of the agent gives a client. */
static int
lost(int rc)
{
	return rc == FERRY_ECONNECT || rc == FERRY_EPROTO;
}

static int
do_send(const char *sock, const char *dest, const char *idfile, uint64_t seed,
	unsigned client)
{
	struct ferry *c = NULL;
	struct ferry_send_opts o;
	struct it_pattern p;
	char corr[IT_CORR_MAX], hex[FERRY_ID_HEX_LEN + 2];
	uint8_t *buf = malloc(BUF_MAX), id[FERRY_ID_LEN];
	uint64_t x = seed ^ ((uint64_t)client << 32);
	int fd, rc;

	if (buf == NULL)
		it_die(99, "out of memory");
	if ((fd = it_sender_open(sock, idfile, client, &c)) < 0) {
		free(buf);
		return 1;
	}
	ferry_send_opts_init(&o);
	o.correlation = corr;
	for (uint64_t seq = 0;; seq++) {
		size_t len;
		int streamed;

		it_xorshift(&x);
		streamed = x % 40 == 0;
		len = streamed ? STREAM_MIN + (size_t)((x >> 8) % STREAM_SPAN)
			       : 1 + (size_t)((x >> 8) % SMALL_MAX);
		it_patterned_msg(&p, corr, seed, client, seq, len);
		rc = it_send_patterned(c, dest, &o, &p, buf, BUF_MAX, len,
				       streamed, id);
		if (rc != 0) {
			int ret = lost(rc) ? 0 : 1;
			if (ret != 0)
				it_ferry_fail(c, rc,
					      "client %u: send #%" PRIu64,
					      client, seq);
			ferry_close(c);
			close(fd);
			free(buf);
			return ret;
		}
		ferry_id_to_hex(id, hex);
		hex[FERRY_ID_HEX_LEN] = '\n';
		if (it_write_all(fd, hex, FERRY_ID_HEX_LEN + 1) != 0)
			it_die(99, "%s: %s", idfile, strerror(errno));
	}
}

#define PIPE_MAX      4000 /* sends of one pipelining client */
#define PIPE_PAUSE_MS 15   /* after each window's worth */

/* A pipelined send of do_pipe, until its callback has run. */
struct pipe_send {
	uint64_t seq; /* its sequence number; UINT64_MAX: answered */
	int fd;	      /* IDFILE */
	int *failed;  /* set on an error other than the connection's */
	unsigned client;
};

static void
pipe_done(int rc, const uint8_t *id, const char *text, void *arg)
{
	struct pipe_send *ps = arg;
	char hex[FERRY_ID_HEX_LEN + 2];

	if (ps->seq == UINT64_MAX) {
		fprintf(stderr, "client %u: a send answered twice\n",
			ps->client);
		*ps->failed = 1;
		return;
	}
	ps->seq = UINT64_MAX;
	if (rc != 0) {
		if (!lost(rc)) {
			fprintf(stderr, "client %u: pipelined send: %s: %s\n",
				ps->client, ferry_strerror(rc), text);
			*ps->failed = 1;
		}
		return;
	}
	ferry_id_to_hex(id, hex);
	hex[FERRY_ID_HEX_LEN] = '\n';
	if (it_write_all(ps->fd, hex, FERRY_ID_HEX_LEN + 1) != 0)
		it_die(99, "idfile: %s", strerror(errno));
}

static int
do_pipe(const char *sock, const char *dest, const char *idfile, uint64_t seed,
	unsigned client)
{
	struct pipe_send slot[FERRY_SEND_WINDOW];
	struct ferry *c = NULL;
	struct ferry_send_opts o;
	struct it_pattern p;
	char corr[IT_CORR_MAX];
	uint8_t *buf = malloc(SMALL_MAX);
	uint64_t x = seed ^ ((uint64_t)client << 32) ^ 0x5bd1e995u;
	int fd, rc, failed = 0;

	if (buf == NULL)
		it_die(99, "out of memory");
	if ((fd = it_sender_open(sock, idfile, client, &c)) < 0) {
		free(buf);
		return 1;
	}
	for (size_t i = 0; i < FERRY_SEND_WINDOW; i++)
		slot[i].seq = UINT64_MAX;
	ferry_send_opts_init(&o);
	o.correlation = corr;
	/* Paced and capped (PIPE_PAUSE_MS after each window, PIPE_MAX in
	 * all): the kill still finds a window in flight, and the drain
	 * stays short (unpaced, one client sent 10,000 a cycle). */
	for (uint64_t seq = 0; !failed && seq < PIPE_MAX; seq++) {
		struct pipe_send *ps = NULL;
		size_t len;

		if (seq > 0 && seq % FERRY_SEND_WINDOW == 0)
			(void)nanosleep(
			    &(struct timespec){0, PIPE_PAUSE_MS * 1000000L},
			    NULL);
		len = 1 + (size_t)((it_xorshift(&x) >> 8) % SMALL_MAX);
		it_patterned_msg(&p, corr, seed, client, seq, len);
		it_pattern_next(&p, buf, len);
		/* A free slot: one whose answer came (the window is the
		 * library's, so one is free once ferry_send_poll ran). */
		while (ps == NULL) {
			for (size_t i = 0; i < FERRY_SEND_WINDOW; i++)
				if (slot[i].seq == UINT64_MAX) {
					ps = &slot[i];
					break;
				}
			if (ps == NULL && (rc = ferry_send_poll(c, -1)) != 0)
				goto out;
		}
		ps->seq = seq;
		ps->fd = fd;
		ps->failed = &failed;
		ps->client = client;
		rc = ferry_send_async(c, dest, buf, len, &o, pipe_done, ps);
		if (rc != 0) {
			ps->seq = UINT64_MAX;
			goto out;
		}
	}
	rc = ferry_send_flush(c); /* the last window's answers */
out:
	if (rc != 0 && !lost(rc)) {
		it_ferry_fail(c, rc, "client %u: pipelined send", client);
		failed = 1;
	}
	for (size_t i = 0; i < FERRY_SEND_WINDOW; i++)
		if (slot[i].seq != UINT64_MAX) {
			fprintf(stderr,
				"client %u: send #%" PRIu64 " never "
				"answered\n",
				client, slot[i].seq);
			failed = 1;
		}
	ferry_close(c);
	close(fd);
	free(buf);
	return failed;
}

/* Check the payload of one message against its correlation. */
static int
check_one(struct ferry *c, const struct ferry_msg_info *info,
	  struct ferry_stream *s, uint8_t *buf)
{
	char hex[FERRY_ID_HEX_LEN + 1];
	uint64_t seq;
	unsigned client;
	int rc =
	    it_check_patterned(info, s, buf, BUF_MAX, "drain", &client, &seq);

	if (rc < 0) {
		ferry_id_to_hex(info->msg.id, hex);
		it_ferry_fail(c, rc, "drain: payload of %s", hex);
		return 1;
	}
	return rc;
}

static int
drain_one(const char *sock, const char *queue)
{
	struct ferry *c = NULL;
	struct ferry_recv_opts ro;
	uint8_t *buf = malloc(BUF_MAX);
	char line[FERRY_ID_HEX_LEN + 2];
	int rc, ret = 0;

	if (buf == NULL)
		return 99;
	rc = ferry_connect(sock, &c);
	if (rc != 0) {
		it_ferry_fail(NULL, rc, "drain: connect to %s", sock);
		return 1;
	}
	ferry_recv_opts_init(&ro);
	ro.lease_ms = 600000;
	for (;;) {
		struct ferry_msg_info info;
		struct ferry_stream *s = NULL;

		rc = ferry_recv(c, queue, &ro, &info, &s);
		if (rc == FERRY_EEMPTY)
			break;
		if (rc != 0) {
			it_ferry_fail(c, rc, "drain: recv from %s", queue);
			ret = 1;
			break;
		}
		if (check_one(c, &info, s, buf) != 0)
			ret = 1;
		ferry_stream_close(s);
		ferry_id_to_hex(info.msg.id, line);
		line[FERRY_ID_HEX_LEN] = '\n';
		if (it_write_all(1, line, FERRY_ID_HEX_LEN + 1) != 0)
			return 99;
		rc = ferry_ack(c, info.msg.id, info.token);
		if (rc != 0) {
			it_ferry_fail(c, rc, "drain: ack");
			ret = 1;
			break;
		}
	}
	ferry_close(c);
	free(buf);
	return ret;
}

int
main(int argc, char **argv)
{
	uint64_t seed, client, n;

	it_progname(argv[0]);
	if (argc == 7 && strcmp(argv[1], "send") == 0 &&
	    it_parse_u64(argv[5], &seed) == 0 &&
	    it_parse_u64(argv[6], &client) == 0 && client < 100000)
		return do_send(argv[2], argv[3], argv[4], seed,
			       (unsigned)client);
	if (argc == 7 && strcmp(argv[1], "pipe") == 0 &&
	    it_parse_u64(argv[5], &seed) == 0 &&
	    it_parse_u64(argv[6], &client) == 0 && client < 100000)
		return do_pipe(argv[2], argv[3], argv[4], seed,
			       (unsigned)client);
	if (argc == 5 && strcmp(argv[1], "drain") == 0 &&
	    it_parse_u64(argv[4], &n) == 0 && n > 0 && n <= 256)
		return it_drain_forked((unsigned)n, drain_one, argv[2],
				       argv[3]);
	fprintf(stderr,
		"usage: send_storm send SOCKET NODE/QUEUE IDFILE SEED CLIENT\n"
		"       send_storm pipe SOCKET NODE/QUEUE IDFILE SEED CLIENT\n"
		"       send_storm drain SOCKET QUEUE NWORKERS\n");
	return 99;
}
