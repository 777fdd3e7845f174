/*
 * request.c - `ferry request NODE/QUEUE [FILE|-]`: send a request, wait
 * for its reply and write the reply's payload to standard output.
 *
 * The steps are libferry's (ferry_request_open, _wait, _close; ferry.h
 * and docs/protocol.md §4, "Request and reply"): a fresh reply queue on
 * this node and a fresh correlation, the request sent with both, the
 * reply taken from that queue.  Both payloads stream in REQUEST_CHUNK
 * pieces, so memory does not grow with either.  The reply queue is
 * closed on every path after it was opened; on a timeout that is what
 * sends a late reply to dead ("no one waiting").
 *
 * Exit status: 0 with the reply written out, CLI_EXIT_TIMEOUT when none
 * came in time, the usual codes otherwise.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

#define REQUEST_CHUNK (256u * 1024u)

static int request_run(struct cli_ctx *ctx, int argc, char **argv);

static const char request_usage[] =
    "ferry request NODE/QUEUE [FILE|-] [options]\n"
    "\n"
    "  -T, --timeout DURATION  wait that long for the reply (default\n"
    "                          30s; plain digits are seconds)\n"
    "  -p, --priority N        0 (bulk) to 7 (urgent); default 3\n"
    "  -t, --ttl DURATION      the request's time to live (default:\n"
    "                          the agent's default_ttl)\n"
    "      --socket PATH       ferryd's control socket\n"
    "  -h, --help              this help\n"
    "\n"
    "Without FILE, or with -, the request is standard input.  The\n"
    "reply's payload goes to standard output.  Exit status 7: no\n"
    "reply came in time (a later one goes to dead, \"no one\n"
    "waiting\").\n";

const struct cli_cmd cli_cmd_request = {
    .name = "request",
    .usage = request_usage,
    .summary = "Send a request to QUEUE on NODE and print its reply",
    .run = request_run,
};

/* Send the request read from fd, in pieces. */
static int
request_send(struct cli_ctx *ctx, struct ferry *c, const char *dest, int fd,
	     const char *name, const struct ferry_send_opts *so, uint8_t *buf)
{
	struct ferry_stream *s = NULL;
	size_t n;
	int rc, eof;

	if (cli_read_full(fd, buf, REQUEST_CHUNK, &n) != 0)
		goto rerr;
	eof = n < REQUEST_CHUNK;
	if (eof) {
		rc = ferry_send(c, dest, buf, n, so, NULL);
		if (rc != 0)
			return cli_fail(ctx, c, rc, "cannot send %s to %s",
					name, dest);
		return CLI_EXIT_OK;
	}
	rc = ferry_send_begin(c, dest, FERRY_LEN_UNKNOWN, so, &s);
	while (rc == 0) {
		rc = ferry_stream_write(s, buf, n);
		if (rc != 0 || eof)
			break;
		if (cli_read_full(fd, buf, REQUEST_CHUNK, &n) != 0) {
			ferry_send_abort(s);
			goto rerr;
		}
		eof = n < REQUEST_CHUNK;
	}
	if (rc != 0) {
		if (s != NULL)
			ferry_send_abort(s);
		return cli_fail(ctx, c, rc, "cannot send %s to %s", name, dest);
	}
	rc = ferry_send_end(s, NULL);
	if (rc != 0)
		return cli_fail(ctx, c, rc, "cannot send %s to %s", name, dest);
	return CLI_EXIT_OK;
rerr:
	cli_warn(ctx, "cannot read %s: %s", name, strerror(errno));
	return CLI_EXIT_ERROR;
}

/* Write the reply's payload s (closed here) to standard output. */
static int
reply_write(struct cli_ctx *ctx, struct ferry *c, struct ferry_stream *s,
	    const struct ferry_msg_info *info, uint8_t *buf)
{
	uint64_t total = 0;
	size_t n;
	int rc;

	for (;;) {
		n = 0;
		if (s != NULL &&
		    (rc = ferry_stream_read(s, buf, REQUEST_CHUNK, &n)) != 0) {
			ferry_stream_close(s);
			return cli_fail(ctx, c, rc,
					"cannot read the reply's payload");
		}
		if (n == 0)
			break;
		total += n;
		if (fwrite(buf, 1, n, stdout) != n) {
			cli_warn(ctx, "cannot write to standard output: %s",
				 strerror(errno));
			ferry_stream_close(s);
			return CLI_EXIT_ERROR;
		}
	}
	ferry_stream_close(s);
	if (total != info->msg.payload_len) {
		cli_warn(ctx, "the reply ended after %llu of %llu bytes",
			 (unsigned long long)total,
			 (unsigned long long)info->msg.payload_len);
		return CLI_EXIT_ERROR;
	}
	return cli_flush_stdout(ctx);
}

static int
request_run(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"timeout", 1, NULL, 'T'}, {"priority", 1, NULL, 'p'},
	    {"ttl", 1, NULL, 't'},     {"socket", 1, NULL, CLI_OPT_SOCKET},
	    {"help", 0, NULL, 'h'},    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *cmd = &cli_cmd_request;
	char node[FERRY_NODE_MAX + 1], queue[FERRY_QUEUE_MAX + 1];
	char wait[CLI_FMT_MAX];
	struct ferry_send_opts so;
	struct ferry_request rq;
	struct ferry_msg_info reply;
	struct ferry_stream *s = NULL;
	struct ferry *c = NULL;
	const char *dest, *file = NULL, *name = "standard input";
	int64_t timeout_ms = 30 * 1000;
	int ch, fd = STDIN_FILENO, ret, rc, got = 0;
	uint8_t *buf = NULL;
	uint64_t v;
	struct stat st;

	memset(&rq, 0, sizeof(rq));
	ferry_send_opts_init(&so);
	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, ":T:p:t:h", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'T':
			if (cli_parse_duration(optarg, 1000, &timeout_ms) !=
				0 ||
			    timeout_ms <= 0)
				return cli_usage_error(
				    cmd,
				    "--timeout: '%s' is not a duration "
				    "above 0 (30s, 5m, 2h)",
				    optarg);
			break;
		case 'p':
			if (cli_parse_u64(optarg, &v) != 0 ||
			    v > FERRY_PRIO_MAX)
				return cli_usage_error(
				    cmd, "priority must be 0 to %d, not '%s'",
				    FERRY_PRIO_MAX, optarg);
			so.priority = (int)v;
			break;
		case 't':
			if (cli_parse_duration(optarg, 1000, &so.ttl_ms) != 0)
				return cli_usage_error(
				    cmd, "--ttl: '%s' is not a duration",
				    optarg);
			break;
		case CLI_OPT_SOCKET:
			ctx->socket_path = optarg;
			break;
		case 'h':
			return cli_help(cmd);
		default:
			return cli_bad_option(cmd, argv, ch);
		}
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "to whom? NODE/QUEUE is missing");
	dest = argv[optind++];
	if (optind < argc)
		file = argv[optind++];
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected '%s'", argv[optind]);
	if (ferry_parse_dest(dest, node, queue) != 0)
		return cli_usage_error(cmd, "'%s' is not NODE/QUEUE", dest);

	if (file != NULL && strcmp(file, "-") != 0) {
		name = file;
		fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 || fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
			cli_warn(ctx, "cannot read %s: %s", file,
				 fd < 0 ? strerror(errno) : "a directory");
			ret = CLI_EXIT_ERROR;
			goto out;
		}
	} else if (isatty(fd)) {
		cli_warn(ctx, "reading the request from the terminal; end it "
			      "with Ctrl-D");
	}
	buf = malloc(REQUEST_CHUNK);
	if (buf == NULL) {
		cli_warn(ctx, "out of memory");
		ret = CLI_EXIT_ERROR;
		goto out;
	}
	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK)
		goto out;
	rc = ferry_request_open(c, timeout_ms, &rq, &so);
	if (rc != 0) {
		ret = cli_fail(ctx, c, rc, "cannot open a reply queue");
		goto out;
	}
	ret = request_send(ctx, c, dest, fd, name, &so, buf);
	if (ret != CLI_EXIT_OK)
		goto out;
	rc = ferry_request_wait(c, &rq, &reply, &s);
	if (rc == FERRY_ETIMEDOUT) {
		cli_format_duration(timeout_ms, wait);
		cli_warn(ctx, "no reply from %s within %s", dest, wait);
		ret = CLI_EXIT_TIMEOUT;
		goto out;
	}
	if (rc != 0) {
		ret = cli_fail(ctx, c, rc, "cannot wait for the reply in %s",
			       rq.reply_queue);
		goto out;
	}
	got = 1;
	ret = reply_write(ctx, c, s, &reply, buf);
out:
	if (rq.open) {
		/* Acked even if it could not be written: the queue closes
		 * now, nobody could take it again. */
		rc = ferry_request_close(c, &rq, got ? &reply : NULL);
		if (rc != 0 && ret == CLI_EXIT_OK)
			ret = cli_fail(ctx, c, rc, "cannot close %s",
				       rq.reply_queue);
	}
	if (fd != STDIN_FILENO && fd >= 0)
		(void)close(fd);
	free(buf);
	ferry_close(c);
	return ret;
}
