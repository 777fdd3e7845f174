/*
 * big_message.c - one huge message streamed in and out through libferry
 * (agent_bigmsg.sh), generated from a seed on the way in and checked
 * against it on the way out: nothing of it is ever stored by the test.
 *
 *   big_message send SOCKET NODE/QUEUE SIZE SEED [HOLD GOFILE]
 *	stream SIZE bytes (k, M, G suffixes) with the declared length;
 *	print the id.  With HOLD: stop after HOLD bytes until GOFILE
 *	exists (link_cut.sh: what happens while a payload comes in).
 *	BIG_MESSAGE_ID in the environment (32 hex digits) chooses the id:
 *	the same again resumes a cut send.
 *   big_message recv SOCKET QUEUE SIZE SEED ID
 *	take the next message of QUEUE under a long lease; it must be ID,
 *	SIZE bytes, every byte as generated; then ack it.
 *   big_message asan
 *	exit 0 if this program (hence the build) uses AddressSanitizer.
 *
 * Exit 0 pass, 1 fail, 99 harness error.  Throughput goes to stderr.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/itutil.h"

#define CHUNK (1024u * 1024u)

static void
rate(const char *what, uint64_t bytes, int64_t t0)
{
	int64_t ms = it_now_ms() - t0;

	fprintf(stderr, "big_message: %s %llu MiB in %lld ms (%.0f MiB/s)\n",
		what, (unsigned long long)(bytes >> 20), (long long)ms,
		ms > 0 ? (double)(bytes >> 20) * 1000.0 / (double)ms : 0.0);
}

static int
do_send(const char *sock, const char *dest, uint64_t size, uint64_t seed,
	uint64_t hold, const char *go)
{
	struct ferry *c = NULL;
	struct ferry_stream *s = NULL;
	struct ferry_send_opts o;
	struct it_pattern p;
	uint8_t id[FERRY_ID_LEN], chosen[FERRY_ID_LEN];
	char hex[FERRY_ID_HEX_LEN + 1];
	uint8_t *buf = malloc(CHUNK);
	uint64_t done = 0;
	int64_t t0 = it_now_ms();
	int rc;

	if (buf == NULL)
		it_die(99, "out of memory");
	rc = ferry_connect(sock, &c);
	if (rc != 0) {
		it_ferry_fail(NULL, rc, "connect to %s", sock);
		return 1;
	}
	ferry_send_opts_init(&o);
	if (getenv("BIG_MESSAGE_ID") != NULL) {
		if (ferry_id_from_hex(getenv("BIG_MESSAGE_ID"), chosen) != 0)
			it_die(99, "BIG_MESSAGE_ID: 32 hex digits");
		o.id = chosen;
	}
	rc = ferry_send_begin(c, dest, size, &o, &s);
	if (rc != 0) {
		it_ferry_fail(c, rc, "send_begin");
		return 1;
	}
	it_pattern_init(&p, seed);
	while (done < size) {
		size_t n = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
		if (go != NULL && done < hold && hold - done < n)
			n = (size_t)(hold - done);
		while (go != NULL && done == hold && access(go, F_OK) != 0)
			it_sleep_ms(10);
		it_pattern_next(&p, buf, n);
		rc = ferry_stream_write(s, buf, n);
		if (rc != 0) {
			it_ferry_fail(c, rc, "stream_write at %llu",
				      (unsigned long long)done);
			ferry_send_abort(s);
			return 1;
		}
		done += n;
	}
	rc = ferry_send_end(s, id);
	if (rc != 0) {
		it_ferry_fail(c, rc, "send_end");
		return 1;
	}
	rate("sent", size, t0);
	ferry_id_to_hex(id, hex);
	printf("%s\n", hex);
	ferry_close(c);
	free(buf);
	return fflush(stdout) == 0 ? 0 : 99;
}

static int
do_recv(const char *sock, const char *queue, uint64_t size, uint64_t seed,
	const char *want)
{
	struct ferry *c = NULL;
	struct ferry_stream *s = NULL;
	struct ferry_recv_opts ro;
	struct ferry_msg_info info;
	struct it_pattern p;
	char hex[FERRY_ID_HEX_LEN + 1];
	uint8_t *buf = malloc(CHUNK);
	uint64_t done = 0, bad;
	int64_t t0 = it_now_ms();
	int rc;

	if (buf == NULL)
		it_die(99, "out of memory");
	rc = ferry_connect(sock, &c);
	if (rc != 0) {
		it_ferry_fail(NULL, rc, "connect to %s", sock);
		return 1;
	}
	ferry_recv_opts_init(&ro);
	ro.lease_ms = 3600 * 1000; /* reading 2 GiB may take minutes */
	rc = ferry_recv(c, queue, &ro, &info, &s);
	if (rc != 0) {
		it_ferry_fail(c, rc, "recv from %s", queue);
		return 1;
	}
	ferry_id_to_hex(info.msg.id, hex);
	if (strcmp(hex, want) != 0) {
		fprintf(stderr, "big_message: got message %s, wanted %s\n", hex,
			want);
		return 1;
	}
	if (info.msg.payload_len != size) {
		fprintf(stderr, "big_message: %s has %llu bytes, wanted %llu\n",
			hex, (unsigned long long)info.msg.payload_len,
			(unsigned long long)size);
		return 1;
	}
	it_pattern_init(&p, seed);
	for (;;) {
		size_t n = 0;
		rc = ferry_stream_read(s, buf, CHUNK, &n);
		if (rc != 0) {
			it_ferry_fail(c, rc, "reading the payload at %llu",
				      (unsigned long long)done);
			return 1;
		}
		if (n == 0)
			break;
		if (done + n > size) {
			fprintf(stderr,
				"big_message: payload longer than "
				"%llu bytes\n",
				(unsigned long long)size);
			return 1;
		}
		bad = it_pattern_check(&p, buf, n);
		if (bad != UINT64_MAX) {
			fprintf(stderr,
				"big_message: payload differs at byte %llu\n",
				(unsigned long long)bad);
			return 1;
		}
		done += n;
	}
	ferry_stream_close(s);
	if (done != size) {
		fprintf(stderr,
			"big_message: payload ended after %llu of "
			"%llu bytes\n",
			(unsigned long long)done, (unsigned long long)size);
		return 1;
	}
	rate("received and checked", size, t0);
	t0 = it_now_ms();
	rc = ferry_ack(c, info.msg.id, info.token);
	if (rc != 0) {
		it_ferry_fail(c, rc, "ack");
		return 1;
	}
	fprintf(stderr, "big_message: acked in %lld ms\n",
		(long long)(it_now_ms() - t0));
	ferry_close(c);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	uint64_t size, seed;

	it_progname(argv[0]);
	if (argc == 2 && strcmp(argv[1], "asan") == 0)
		return it_under_asan() ? 0 : 1;
	if (argc < 6 || it_parse_u64(argv[4], &size) != 0 ||
	    it_parse_u64(argv[5], &seed) != 0)
		goto usage;
	if (argc == 6 && strcmp(argv[1], "send") == 0)
		return do_send(argv[2], argv[3], size, seed, 0, NULL);
	if (argc == 8 && strcmp(argv[1], "send") == 0) {
		uint64_t hold;
		if (it_parse_u64(argv[6], &hold) != 0 || hold > size)
			it_die(99, "bad HOLD: %s", argv[6]);
		return do_send(argv[2], argv[3], size, seed, hold, argv[7]);
	}
	if (argc == 7 && strcmp(argv[1], "recv") == 0)
		return do_recv(argv[2], argv[3], size, seed, argv[6]);
usage:
	fprintf(stderr, "usage: big_message send SOCKET NODE/QUEUE SIZE SEED\n"
			"       big_message recv SOCKET QUEUE SIZE SEED ID\n"
			"       big_message asan\n");
	return 99;
}
