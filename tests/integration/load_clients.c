/*
 * load_clients.c - many concurrent libferry clients (agent_concurrency.sh).
 *
 *   load_clients send SOCKET NODE/PREFIX NQUEUES NCLIENTS NMSGS [SIZE]
 *	fork NCLIENTS processes, each with its own connection, released
 *	together.  Client C sends NMSGS messages of SIZE bytes (default
 *	100) to NODE/PREFIX/QQ, QQ = C % NQUEUES in two digits.  Message S
 *	of client C has the correlation "client CCC seq SSSSS" and a body
 *	of the same words, a space, and '.' up to SIZE.
 *   load_clients browse SOCKET QUEUE
 *	print the correlation of every message of QUEUE, one a line.
 *   load_clients drain SOCKET QUEUE NWORKERS
 *	fork NWORKERS receivers that take and ack until QUEUE is empty,
 *	check each body against its correlation, and print the
 *	correlations, one a line.
 *
 * Exit 0 when every call succeeded and every body was right, 1 otherwise,
 * 99 on a harness error.  Timings go to stderr (informational only).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/itutil.h"

#define BODY_MAX 4096

static int
client_send(const char *sock, const char *dest, unsigned nqueues, unsigned me,
	    unsigned nmsgs, size_t size, int gate)
{
	struct ferry_send_opts o;
	struct ferry *c = NULL;
	char body[BODY_MAX], corr[64], to[256];
	char go;
	int rc, n;

	snprintf(to, sizeof(to), "%s/%02u", dest, me % nqueues);
	/* Connect first, then wait at the gate: all start together. */
	rc = ferry_connect(sock, &c);
	if (rc != 0) {
		it_ferry_fail(NULL, rc, "client %u: connect to %s", me, sock);
		return 1;
	}
	if (read(gate, &go, 1) < 0)
		return 99;
	ferry_send_opts_init(&o);
	o.correlation = corr;
	for (unsigned s = 0; s < nmsgs; s++) {
		snprintf(corr, sizeof(corr), "client %03u seq %05u", me, s);
		n = snprintf(body, sizeof(body), "%s ", corr);
		memset(body + n, '.', size - (size_t)n);
		rc = ferry_send(c, to, body, size, &o, NULL);
		if (rc != 0) {
			it_ferry_fail(c, rc, "client %u: send #%u", me, s);
			ferry_close(c);
			return 1;
		}
	}
	ferry_close(c);
	return 0;
}

static int
run_send(const char *sock, const char *dest, unsigned nqueues,
	 unsigned nclients, unsigned nmsgs, size_t size)
{
	int gate[2], rc;
	int64_t t0, ms;
	double n = (double)nclients * nmsgs;

	if (pipe(gate) != 0)
		it_die(99, "pipe: %s", strerror(errno));
	for (unsigned i = 0; i < nclients; i++) {
		pid_t pid = fork();
		if (pid < 0)
			it_die(99, "fork: %s", strerror(errno));
		if (pid == 0) {
			close(gate[1]);
			_exit(client_send(sock, dest, nqueues, i, nmsgs, size,
					  gate[0]));
		}
	}
	close(gate[0]);
	it_sleep_ms(200); /* let them connect */
	t0 = it_now_ms();
	close(gate[1]); /* go */
	rc = it_wait_all(nclients);
	ms = it_now_ms() - t0;
	fprintf(stderr,
		"load_clients: %u clients sent %.0f messages in %lld ms "
		"(%.0f msg/s)\n",
		nclients, n, (long long)ms,
		ms > 0 ? n * 1000.0 / (double)ms : 0.0);
	return rc;
}

struct browse_out {
	FILE *f;
	int bad;
};

static int
browse_one(const struct ferry_msg_info *info, void *arg)
{
	struct browse_out *b = arg;

	if (info->msg.correlation[0] == '\0') {
		char hex[FERRY_ID_HEX_LEN + 1];
		ferry_id_to_hex(info->msg.id, hex);
		fprintf(stderr, "browse: message %s has no correlation\n", hex);
		b->bad = 1;
	}
	fprintf(b->f, "%s\n", info->msg.correlation);
	return 0;
}

static int
run_browse(const char *sock, const char *queue)
{
	struct browse_out b = {stdout, 0};
	struct ferry *c = NULL;
	int rc;

	rc = ferry_connect(sock, &c);
	if (rc != 0) {
		it_ferry_fail(NULL, rc, "browse: connect to %s", sock);
		return 1;
	}
	rc = ferry_browse(c, queue, 0, browse_one, &b);
	if (rc != 0 && rc != FERRY_EEMPTY) {
		it_ferry_fail(c, rc, "browse %s", queue);
		b.bad = 1;
	}
	ferry_close(c);
	if (fflush(stdout) != 0)
		return 99;
	return b.bad;
}

/* Is body (len bytes) "CORR ...." for this message? */
static int
body_ok(const struct ferry_msg_info *info, const char *body, size_t len)
{
	size_t n = strlen(info->msg.correlation);

	return len == info->msg.payload_len && n > 0 && len > n &&
	       memcmp(body, info->msg.correlation, n) == 0 && body[n] == ' ' &&
	       strspn(body + n + 1, ".") == len - n - 1;
}

/* One receiver: take, check, print, ack until empty. */
static int
drain_one(const char *sock, const char *queue)
{
	struct ferry *c = NULL;
	struct ferry_recv_opts ro;
	char out[4096];
	size_t out_len = 0;
	int rc, ret = 0;

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
		char body[BODY_MAX + 1];
		size_t len = 0, n;

		rc = ferry_recv(c, queue, &ro, &info, &s);
		if (rc == FERRY_EEMPTY)
			break;
		if (rc != 0) {
			it_ferry_fail(c, rc, "drain: recv from %s", queue);
			ret = 1;
			break;
		}
		for (;;) {
			rc = ferry_stream_read(s, body + len, BODY_MAX - len,
					       &n);
			if (rc != 0 || n == 0)
				break;
			len += n;
		}
		ferry_stream_close(s);
		if (rc != 0) {
			it_ferry_fail(c, rc, "drain: payload");
			ret = 1;
			break;
		}
		body[len] = '\0';
		if (!body_ok(&info, body, len)) {
			char hex[FERRY_ID_HEX_LEN + 1];
			ferry_id_to_hex(info.msg.id, hex);
			fprintf(stderr,
				"drain: message %s (%s) has a bad body of %zu "
				"bytes: %.40s\n",
				hex, info.msg.correlation, len, body);
			ret = 1;
		}
		n = strlen(info.msg.correlation) + 1;
		if (out_len + n > sizeof(out)) {
			if (it_write_all(1, out, out_len) != 0)
				return 99;
			out_len = 0;
		}
		memcpy(out + out_len, info.msg.correlation, n - 1);
		out[out_len + n - 1] = '\n';
		out_len += n;
		rc = ferry_ack(c, info.msg.id, info.token);
		if (rc != 0) {
			it_ferry_fail(c, rc, "drain: ack");
			ret = 1;
			break;
		}
	}
	if (out_len > 0 && it_write_all(1, out, out_len) != 0)
		ret = 99;
	ferry_close(c);
	return ret;
}

static int
run_drain(const char *sock, const char *queue, unsigned nworkers)
{
	int64_t t0 = it_now_ms();
	int rc;

	rc = it_drain_forked(nworkers, drain_one, sock, queue);
	fprintf(stderr, "load_clients: %u receivers drained %s in %lld ms\n",
		nworkers, queue, (long long)(it_now_ms() - t0));
	return rc;
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: load_clients send SOCKET NODE/PREFIX NQUEUES NCLIENTS "
		"NMSGS [SIZE]\n"
		"       load_clients browse SOCKET QUEUE\n"
		"       load_clients drain SOCKET QUEUE NWORKERS\n");
	exit(99);
}

int
main(int argc, char **argv)
{
	uint64_t q, a, b, size = 100;

	it_progname(argv[0]);
	if ((argc == 7 || argc == 8) && strcmp(argv[1], "send") == 0) {
		if (it_parse_u64(argv[4], &q) != 0 || q == 0 || q > 100 ||
		    it_parse_u64(argv[5], &a) != 0 || a == 0 || a > 10000 ||
		    it_parse_u64(argv[6], &b) != 0 || b > 99999 ||
		    (argc == 8 && it_parse_u64(argv[7], &size) != 0) ||
		    size < 32 || size > BODY_MAX)
			usage();
		return run_send(argv[2], argv[3], (unsigned)q, (unsigned)a,
				(unsigned)b, (size_t)size);
	}
	if (argc == 4 && strcmp(argv[1], "browse") == 0)
		return run_browse(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "drain") == 0) {
		if (it_parse_u64(argv[4], &a) != 0 || a == 0 || a > 1000)
			usage();
		return run_drain(argv[2], argv[3], (unsigned)a);
	}
	usage();
}
