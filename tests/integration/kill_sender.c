/*
 * kill_sender.c - a paced sender for a remote node that goes on until its
 * agent dies under it, and the receiver that checks what arrived at the
 * other end (link_kill9.sh).
 *
 *   kill_sender send SOCKET NODE/QUEUE IDFILE SEED CLIENT EVERY KIBPS STOPFILE
 *	send messages to NODE/QUEUE through the agent at SOCKET: 16 bytes
 *	to 4 KiB in one round trip, 10 ms apart, and (EVERY > 0) about one
 *	in EVERY streamed (1 to 6 MiB; the streamed bytes paced to KIBPS
 *	KiB/s on average); priorities 0 to 7 at random, no TTL.  Each id
 *	the agent GAVE (the call returned 0) is appended to IDFILE at once
 *	as "ID CLIENT SEQ".  Every message's correlation "SEED CLIENT SEQ
 *	LEN" says what its payload is.  Exit 0 when the connection to the
 *	agent was lost (what we wait for; noticed while pausing too) or
 *	STOPFILE exists, 1 on any other error.
 *   kill_sender consume SOCKET QUEUE IDFILE STOPFILE
 *	take messages of QUEUE as they come (leases of 5 s), check each
 *	payload against its correlation, ack it, and once the ack is
 *	answered append "ID CLIENT SEQ" to IDFILE.  Exit 0 when the
 *	connection to the agent was lost or STOPFILE exists, 1 if a
 *	payload is wrong or a call fails otherwise.
 *   kill_sender drain SOCKET QUEUE NWORKERS
 *	take and ack everything in QUEUE with NWORKERS connections; check
 *	each payload against its correlation; print "ID CLIENT SEQ", one
 *	message a line, once acked.  Exit 1 if a payload is wrong, a call
 *	fails, or a message has no correlation.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/itutil.h"

#define SMALL_MIN   16u
#define SMALL_SPAN  (4096u - 16u)
#define STREAM_MIN  (1024u * 1024u)
#define STREAM_SPAN (5u * 1024u * 1024u)
#define GAP_MIN_MS  10
#define BUF_MAX	    (64u * 1024u)

/* The connection is gone: what kill -9 of the agent gives a client. */
static int
lost(int rc)
{
	return rc == FERRY_ECONNECT || rc == FERRY_EPROTO ||
	       rc == FERRY_ECLOSED || rc == FERRY_EIO;
}

/* Pause ms; 1 if the agent closed the connection meanwhile (it never
 * speaks unasked, so anything readable is its end). */
static int
pause_ms(struct ferry *c, int64_t ms)
{
	int64_t until = it_now_ms() + ms;

	for (;;) {
		struct pollfd p = {.fd = ferry_fd(c), .events = POLLIN};
		int64_t left = until - it_now_ms();
		int rc;

		if (left <= 0)
			return 0;
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			it_die(99, "poll: %s", strerror(errno));
	}
}

static int
do_send(const char *sock, const char *dest, const char *idfile, uint64_t seed,
	unsigned client, uint64_t every, uint64_t kibps, const char *stopfile)
{
	struct ferry *c = NULL;
	struct ferry_send_opts o;
	struct it_pattern p;
	char corr[IT_CORR_MAX], line[FERRY_ID_HEX_LEN + 64];
	char hex[FERRY_ID_HEX_LEN + 1];
	uint8_t *buf = malloc(BUF_MAX), id[FERRY_ID_LEN];
	uint64_t x = (seed ^ ((uint64_t)client << 32)) | 1u, sent = 0;
	int64_t t0 = it_now_ms();
	int fd, rc, ret = 0;

	if (buf == NULL)
		it_die(99, "out of memory");
	if ((fd = it_sender_open(sock, idfile, client, &c)) < 0) {
		free(buf);
		return 1;
	}
	ferry_send_opts_init(&o);
	o.correlation = corr;
	o.ttl_ms = FERRY_TTL_NONE;
	for (uint64_t seq = 0; access(stopfile, F_OK) != 0; seq++) {
		size_t len;
		int streamed, n;

		it_xorshift(&x);
		streamed = every != 0 && x % every == 0;
		len = streamed ? STREAM_MIN + (size_t)((x >> 8) % STREAM_SPAN)
			       : SMALL_MIN + (size_t)((x >> 8) % SMALL_SPAN);
		o.priority = (int)((x >> 40) % (FERRY_PRIO_MAX + 1));
		it_patterned_msg(&p, corr, seed, client, seq, len);
		rc = it_send_patterned(c, dest, &o, &p, buf, BUF_MAX, len,
				       streamed, id);
		if (rc != 0) {
			if (!lost(rc)) {
				it_ferry_fail(c, rc,
					      "client %u: send #%" PRIu64
					      " (%zu bytes)",
					      client, seq, len);
				ret = 1;
			}
			break;
		}
		ferry_id_to_hex(id, hex);
		n = snprintf(line, sizeof(line), "%s %u %" PRIu64 "\n", hex,
			     client, seq);
		if (n < 0 || (size_t)n >= sizeof(line) ||
		    it_write_all(fd, line, (size_t)n) != 0)
			it_die(99, "%s: %s", idfile, strerror(errno));
		/* Pace: streamed bytes at KIBPS, GAP_MIN_MS between two. */
		int64_t wait = GAP_MIN_MS;
		if (streamed) {
			sent += len;
			wait = t0 + (int64_t)(sent * 1000u / (kibps * 1024u)) -
			       it_now_ms();
			if (wait < GAP_MIN_MS)
				wait = GAP_MIN_MS;
		}
		if (wait > 3000) { /* after a stall: do not catch up */
			t0 += wait - 3000;
			wait = 3000;
		}
		if (pause_ms(c, wait))
			break;
	}
	ferry_close(c);
	close(fd);
	free(buf);
	return ret;
}

/*
 * Take, check and ack messages of queue; each one acked is written to fd
 * as "ID CLIENT SEQ".  stopfile NULL (drain): until the queue is empty,
 * any failure is one.  Else (consume): wait for messages until stopfile
 * exists; a lost connection ends it with 0, a lapsed lease is passed
 * over (the message comes again).
 */
static int
recv_loop(const char *sock, const char *queue, int fd, const char *stopfile)
{
	struct ferry *c = NULL;
	struct ferry_recv_opts ro;
	uint8_t *buf = malloc(BUF_MAX);
	char line[FERRY_ID_HEX_LEN + 64], hex[FERRY_ID_HEX_LEN + 1];
	int rc, n, ret = 0;

	if (buf == NULL)
		return 99;
	rc = ferry_connect(sock, &c);
	if (rc != 0) {
		it_ferry_fail(NULL, rc, "recv: connect to %s", sock);
		free(buf);
		return 1;
	}
	ferry_recv_opts_init(&ro);
	ro.lease_ms = stopfile != NULL ? 5000 : 600000;
	ro.wait_ms = stopfile != NULL ? 250 : 0;
	for (;;) {
		struct ferry_msg_info info;
		struct ferry_stream *s = NULL;
		unsigned client = 0;
		uint64_t seq = 0;

		rc = ferry_recv(c, queue, &ro, &info, &s);
		if (rc == FERRY_EEMPTY || rc == FERRY_ETIMEDOUT) {
			if (stopfile == NULL)
				break;
			if (access(stopfile, F_OK) == 0)
				break;
			continue;
		}
		if (rc == 0) {
			ferry_id_to_hex(info.msg.id, hex);
			rc = it_check_patterned(&info, s, buf, BUF_MAX, "recv",
						&client, &seq);
			ferry_stream_close(s);
			if (rc == 1) {
				ret = 1;
				break;
			}
		}
		if (rc == 0)
			rc = ferry_ack(c, info.msg.id, info.token);
		if (rc == FERRY_ELEASE && stopfile != NULL)
			continue;
		if (rc != 0) {
			if (stopfile == NULL || !lost(rc)) {
				it_ferry_fail(c, rc, "recv from %s", queue);
				ret = 1;
			}
			break;
		}
		n = snprintf(line, sizeof(line), "%s %u %" PRIu64 "\n", hex,
			     client, seq);
		if (n < 0 || (size_t)n >= sizeof(line) ||
		    it_write_all(fd, line, (size_t)n) != 0) {
			ret = 99;
			break;
		}
	}
	ferry_close(c);
	free(buf);
	return ret;
}

static int
drain_one(const char *sock, const char *queue)
{
	return recv_loop(sock, queue, 1, NULL);
}

int
main(int argc, char **argv)
{
	uint64_t seed, client, every, kibps, n;

	it_progname(argv[0]);
	if (argc == 10 && strcmp(argv[1], "send") == 0 &&
	    it_parse_u64(argv[5], &seed) == 0 &&
	    it_parse_u64(argv[6], &client) == 0 && client < 100000 &&
	    it_parse_u64(argv[7], &every) == 0 &&
	    it_parse_u64(argv[8], &kibps) == 0 && kibps > 0 && kibps < 1000000)
		return do_send(argv[2], argv[3], argv[4], seed,
			       (unsigned)client, every, kibps, argv[9]);
	if (argc == 6 && strcmp(argv[1], "consume") == 0) {
		int fd = open(argv[4],
			      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			it_die(99, "%s: %s", argv[4], strerror(errno));
		n = (uint64_t)recv_loop(argv[2], argv[3], fd, argv[5]);
		close(fd);
		return (int)n;
	}
	if (argc == 5 && strcmp(argv[1], "drain") == 0 &&
	    it_parse_u64(argv[4], &n) == 0 && n > 0 && n <= 256)
		return it_drain_forked((unsigned)n, drain_one, argv[2],
				       argv[3]);
	fprintf(stderr,
		"usage: kill_sender send SOCKET NODE/QUEUE IDFILE SEED "
		"CLIENT EVERY KIBPS STOPFILE\n"
		"       kill_sender consume SOCKET QUEUE IDFILE STOPFILE\n"
		"       kill_sender drain SOCKET QUEUE NWORKERS\n");
	return 99;
}
