/*
 * send.c - `ferry send NODE/QUEUE [FILE|-]`: hand a message to ferryd and
 * print its id once ferryd has committed it.
 *
 * The payload streams from the file or standard input in pieces of
 * SEND_CHUNK bytes, so memory does not grow with the message.  A payload
 * that turns out to be small (below SEND_SMALL_MAX, end of input within
 * the first piece) goes in one ferry_send() round trip.  The length is
 * declared when it is known (a regular file, or input that ended within
 * the first piece), else FERRY_LEN_UNKNOWN.  A regular file that changes
 * size while it is read is refused: nothing is stored.
 *
 * A streamed payload always goes under an id of the sender's choosing:
 * --id, or one drawn here and printed on standard error before the first
 * byte goes ("resume with --id HEX").  A send cut half-way (killed, or
 * ferryd stopped) leaves its partial payload with ferryd (`ferry status
 * --partials`); the same command with that --id resumes it rather than
 * storing a second copy.
 *
 * --lines sends each line of the input as a message of its own, many in
 * flight at once (ferry_send_async), and prints their ids in input
 * order; at most FERRY_SEND_WINDOW lines are held for that.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

#define SEND_CHUNK     (256u * 1024u)
#define SEND_SMALL_MAX (64u * 1024u)

static int send_run(struct cli_ctx *ctx, int argc, char **argv);

static const char send_usage[] =
    "ferry send NODE/QUEUE [FILE|-] [options]\n"
    "\n"
    "  -p, --priority N      0 (bulk) to 7 (urgent); default 3\n"
    "  -u, --urgent          the same as --priority 7\n"
    "  -t, --ttl DURATION    give up if not delivered in time:\n"
    "                        90s, 15m, 2h, 7d, plain seconds,\n"
    "                        or 0 / never (default: the agent's\n"
    "                        default_ttl)\n"
    "  -r, --receipt         ask for delivery receipts\n"
    "      --track           ... and a report from every relay on the\n"
    "                        way (ferry track ID shows them)\n"
    "      --seal            encrypt the payload end to end to the\n"
    "                        destination's key (relays see only\n"
    "                        ciphertext; needs its card)\n"
    "      --transient       faster, not fsync'd: may be lost in\n"
    "                        a crash\n"
    "      --reply-to QUEUE  the queue on this node for replies\n"
    "      --correlation X   free text for matching replies\n"
    "                        (up to 127 bytes)\n"
    "      --id HEX          choose the id (32 hex digits); the\n"
    "                        same id again stores nothing new\n"
    "      --hold            keep it even for a node that is neither\n"
    "                        this one nor a [peer] (else refused:\n"
    "                        a typo is told at once)\n"
    "      --lines           one message per line of the input\n"
    "                        (without its newline, at most 64 KiB),\n"
    "                        many in flight at once; prints their\n"
    "                        ids in input order and names each line\n"
    "                        that was not sent\n"
    "      --json            print {\"id\":...} instead of the id\n"
    "                        (--lines: one object a line, with\n"
    "                        \"line\" and \"id\" or \"error\")\n"
    "      --socket PATH     ferryd's control socket\n"
    "  -h, --help            this help\n"
    "\n"
    "Without FILE, or with -, the message is standard input.\n"
    "Exit status with --lines: 0 when every line was sent, else that\n"
    "of the first failure.\n";

const struct cli_cmd cli_cmd_send = {
    .name = "send",
    .usage = send_usage,
    .summary = "Send FILE or standard input to QUEUE on NODE and "
	       "print its id",
    .run = send_run,
};

/* Where the payload comes from. */
struct send_input {
	const char *name; /* for messages: the file, or "standard input" */
	int fd;
	int close_fd;
	uint64_t len; /* FERRY_LEN_UNKNOWN unless a regular file */
};

static int
input_open(struct cli_ctx *ctx, const char *file, struct send_input *in)
{
	struct stat st;
	off_t pos;

	in->close_fd = 0;
	in->len = FERRY_LEN_UNKNOWN;
	if (file == NULL || strcmp(file, "-") == 0) {
		in->name = "standard input";
		in->fd = STDIN_FILENO;
		if (isatty(in->fd))
			cli_warn(ctx, "reading the message from the terminal; "
				      "end it with Ctrl-D");
	} else {
		in->name = file;
		in->fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (in->fd < 0) {
			cli_warn(ctx, "cannot open %s: %s", file,
				 strerror(errno));
			return CLI_EXIT_ERROR;
		}
		in->close_fd = 1;
	}
	if (fstat(in->fd, &st) != 0) {
		cli_warn(ctx, "cannot stat %s: %s", in->name, strerror(errno));
		return CLI_EXIT_ERROR;
	}
	if (S_ISDIR(st.st_mode)) {
		cli_warn(ctx, "%s is a directory", in->name);
		return CLI_EXIT_ERROR;
	}
	if (S_ISREG(st.st_mode)) {
		/* `ferry send q < file` may start past the beginning. */
		pos = lseek(in->fd, 0, SEEK_CUR);
		if (pos >= 0 && pos <= st.st_size)
			in->len = (uint64_t)(st.st_size - pos);
	}
	return CLI_EXIT_OK;
}

static void
input_close(struct send_input *in)
{
	if (in->close_fd && in->fd >= 0)
		(void)close(in->fd);
	in->fd = -1;
}

/* Fill buf from the input; *eof once the input has ended. */
static int
input_read(struct cli_ctx *ctx, struct send_input *in, void *buf, size_t *n,
	   int *eof)
{
	if (cli_read_full(in->fd, buf, SEND_CHUNK, n) != 0) {
		cli_warn(ctx, "cannot read %s: %s", in->name, strerror(errno));
		return CLI_EXIT_ERROR;
	}
	*eof = *n < SEND_CHUNK;
	return CLI_EXIT_OK;
}

/*
 * Send what in holds.  Returns a CLI_EXIT_* code; on success id holds the
 * message id and *dup is 1 when ferryd had it already (--id retry).
 */
static int
send_payload(struct cli_ctx *ctx, struct ferry *c, const char *dest,
	     struct send_input *in, const struct ferry_send_opts *o,
	     uint8_t id[FERRY_ID_LEN], int *dup)
{
	struct ferry_stream *s = NULL;
	struct cli_progress prog;
	struct ferry_send_opts so = *o;
	uint8_t key[FERRY_ID_LEN];
	char hex[FERRY_ID_HEX_LEN + 1];
	uint64_t total, len;
	uint8_t *buf = NULL;
	size_t n;
	int rc, eof, ret = CLI_EXIT_ERROR;

	*dup = 0;
	/* What a duplicate answer of an older ferryd (no id in it) leaves. */
	memset(id, 0, FERRY_ID_LEN);
	if (o->id != NULL)
		memcpy(id, o->id, FERRY_ID_LEN);
	buf = malloc(SEND_CHUNK);
	if (buf == NULL) {
		cli_warn(ctx, "out of memory");
		goto out;
	}
	if (input_read(ctx, in, buf, &n, &eof) != CLI_EXIT_OK)
		goto out;
	total = n;
	if (in->len != FERRY_LEN_UNKNOWN &&
	    (total > in->len || (eof && total != in->len)))
		goto changed;

	if (eof && n < SEND_SMALL_MAX) {
		rc = ferry_send(c, dest, buf, n, o, id);
		goto sent;
	}

	len = in->len != FERRY_LEN_UNKNOWN ? in->len
	      : eof			   ? (uint64_t)n
					   : FERRY_LEN_UNKNOWN;
	if (so.id == NULL) {
		/* So that a cut send can be resumed: say the id first. */
		if (ferry_id_generate(key) != 0) {
			cli_warn(ctx, "no randomness for an id");
			goto out;
		}
		so.id = key;
		ferry_id_to_hex(key, hex);
		cli_warn(ctx,
			 "sending %s under --id %s (if it is cut, the same "
			 "command with --id %s resumes it)",
			 in->name, hex, hex);
	}
	rc = ferry_send_begin(c, dest, len, &so, &s);
	if (rc != 0) {
		s = NULL;
		goto sent;
	}
	cli_progress_init(&prog, "sending", len);
	for (;;) {
		rc = ferry_stream_write(s, buf, n);
		if (rc == FERRY_EDUPLICATE) {
			/* Refused at its start (a retry of an --id sent
			 * before): end the stream, and it is a duplicate. */
			cli_progress_cleanup(&prog);
			rc = ferry_send_end(s, id);
			s = NULL;
			goto sent;
		}
		if (rc != 0) {
			cli_progress_cleanup(&prog);
			ret = cli_fail(ctx, c, rc, "cannot send %s to %s",
				       in->name, dest);
			goto out;
		}
		cli_progress_add(&prog, n);
		if (eof)
			break;
		if (input_read(ctx, in, buf, &n, &eof) != CLI_EXIT_OK) {
			cli_progress_cleanup(&prog);
			goto out;
		}
		total += n;
		if (in->len != FERRY_LEN_UNKNOWN &&
		    (total > in->len || (eof && total != in->len))) {
			cli_progress_cleanup(&prog);
			goto changed;
		}
	}
	cli_progress_cleanup(&prog);
	rc = ferry_send_end(s, id);
	s = NULL;
sent:
	if (rc == FERRY_EDUPLICATE && so.id != NULL) {
		/* id: the stored id ferryd named (ferry_send sets it). */
		*dup = 1;
		rc = 0;
	}
	if (rc != 0) {
		ret = cli_fail(ctx, c, rc, "cannot send %s to %s", in->name,
			       dest);
		goto out;
	}
	ret = CLI_EXIT_OK;
	goto out;
changed:
	cli_warn(ctx, "%s changed size while it was read; nothing was sent",
		 in->name);
out:
	if (s != NULL)
		ferry_send_abort(s);
	free(buf);
	return ret;
}

/* ------------------------------------------------------------ --lines */

enum { LINE_FREE = 0, LINE_PENDING, LINE_DONE };

/* A line sent, until its answer is printed (in input order). */
struct line_slot {
	uint64_t line; /* 1-based */
	int state;
	int rc;
	uint8_t id[FERRY_ID_LEN];
	int has_id;
	char text[256];
};

struct lines_run {
	struct cli_ctx *ctx;
	struct line_slot slot[FERRY_SEND_WINDOW];
	uint64_t next_print; /* the next line to print */
	uint64_t sent, failed;
	int first_rc; /* of the first line that failed */
	int json;
};

static void
line_done(int rc, const uint8_t *id, const char *text, void *arg)
{
	struct line_slot *s = arg;

	s->state = LINE_DONE;
	s->rc = rc;
	s->has_id = id != NULL;
	if (id != NULL)
		memcpy(s->id, id, FERRY_ID_LEN);
	snprintf(s->text, sizeof(s->text), "%s", text != NULL ? text : "");
}

/* Print the answers that are next in input order. */
static void
lines_print(struct lines_run *lr)
{
	for (;;) {
		struct line_slot *s =
		    &lr->slot[lr->next_print % FERRY_SEND_WINDOW];
		char hex[FERRY_ID_HEX_LEN + 1] = "";
		struct cli_json j;
		int dup;

		if (s->state != LINE_DONE || s->line != lr->next_print)
			return;
		dup = s->rc == FERRY_EDUPLICATE && s->has_id;
		if (s->has_id)
			ferry_id_to_hex(s->id, hex);
		if (s->rc == 0 || dup) {
			lr->sent++;
			if (lr->json) {
				cli_json_begin(&j, stdout);
				cli_json_u64(&j, "line", s->line);
				cli_json_str(&j, "id", hex);
				cli_json_bool(&j, "duplicate", dup);
				cli_json_end(&j);
			} else {
				printf("%s\n", hex);
			}
		} else {
			lr->failed++;
			if (lr->first_rc == 0)
				lr->first_rc = s->rc;
			fprintf(stderr,
				"ferry %s: line %llu not sent: %s%s%s\n",
				lr->ctx->verb, (unsigned long long)s->line,
				ferry_strerror(s->rc), s->text[0] ? ": " : "",
				s->text);
			if (lr->json) {
				cli_json_begin(&j, stdout);
				cli_json_u64(&j, "line", s->line);
				cli_json_str(&j, "error",
					     ferry_strerror(s->rc));
				cli_json_str(&j, "text", s->text);
				cli_json_end(&j);
			}
		}
		s->state = LINE_FREE;
		lr->next_print++;
	}
}

/* The next line of f into buf (cap bytes; *len, without its newline);
 * *toolong when it did not fit (the rest of it is skipped).  0 at the
 * end of the input, 1 with a line, -1 on a read error. */
static int
line_read(FILE *f, char *buf, size_t cap, size_t *len, int *toolong)
{
	int ch, any = 0;

	*len = 0;
	*toolong = 0;
	while ((ch = getc_unlocked(f)) != EOF) {
		any = 1;
		if (ch == '\n')
			return 1;
		if (*len < cap)
			buf[(*len)++] = (char)ch;
		else
			*toolong = 1;
	}
	if (ferror(f))
		return -1;
	return any ? 1 : 0;
}

/* --lines: each line of in is a message.  A CLI_EXIT_* code. */
static int
send_lines(struct cli_ctx *ctx, struct ferry *c, const char *dest,
	   struct send_input *in, const struct ferry_send_opts *o, int json)
{
	struct lines_run *lr = calloc(1, sizeof(*lr));
	char *buf = malloc(FERRY_SEND_ASYNC_MAX);
	FILE *f = NULL;
	uint64_t n = 0;
	int ret = CLI_EXIT_ERROR, rc = 0, got, lost = 0;

	if (lr == NULL || buf == NULL) {
		cli_warn(ctx, "out of memory");
		goto out;
	}
	lr->ctx = ctx;
	lr->json = json;
	lr->next_print = 1;
	f = fdopen(dup(in->fd), "r");
	if (f == NULL) {
		cli_warn(ctx, "cannot read %s: %s", in->name, strerror(errno));
		goto out;
	}
	for (;;) {
		struct line_slot *s;
		size_t len;
		int toolong;

		got = line_read(f, buf, FERRY_SEND_ASYNC_MAX, &len, &toolong);
		if (got <= 0)
			break;
		n++;
		/* Hold no more than a window of lines for printing. */
		while (n - lr->next_print >= FERRY_SEND_WINDOW && rc == 0) {
			rc = ferry_send_poll(c, -1);
			lines_print(lr);
		}
		if (rc != 0) {
			lost = 1;
			break;
		}
		s = &lr->slot[n % FERRY_SEND_WINDOW];
		s->line = n;
		s->state = LINE_PENDING;
		if (toolong) {
			line_done(FERRY_ETOOBIG, NULL,
				  "the line is longer than 64 KiB", s);
		} else {
			rc = ferry_send_async(c, dest, buf, len, o, line_done,
					      s);
			if (rc == FERRY_ECONNECT || rc == FERRY_EPROTO ||
			    rc == FERRY_ECLOSED || rc == FERRY_ETOOMANY) {
				s->state = LINE_FREE;
				n--;
				lost = 1;
				break;
			}
			if (rc != 0)
				line_done(rc, NULL, ferry_last_error(c), s);
			rc = 0;
		}
		lines_print(lr);
	}
	if (got < 0) {
		cli_warn(ctx, "cannot read %s: %s", in->name, strerror(errno));
		lr->failed++;
	}
	if (ferry_send_flush(c) != 0)
		lost = 1;
	lines_print(lr);
	if (lost) {
		ret = cli_fail(ctx, c, rc != 0 ? rc : FERRY_ECONNECT,
			       "lost ferryd after line %llu; the lines after "
			       "it were not sent",
			       (unsigned long long)n);
		goto out;
	}
	if (lr->failed > 0) {
		cli_warn(ctx, "%llu of %llu lines not sent",
			 (unsigned long long)lr->failed, (unsigned long long)n);
		ret = lr->first_rc != 0 ? cli_exit_code(lr->first_rc)
					: CLI_EXIT_ERROR;
		(void)cli_flush_stdout(ctx);
		goto out;
	}
	ret = cli_flush_stdout(ctx);
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	free(lr);
	return ret;
}

static int
send_run(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"priority", 1, NULL, 'p'},
	    {"urgent", 0, NULL, 'u'},
	    {"ttl", 1, NULL, 't'},
	    {"receipt", 0, NULL, 'r'},
	    {"track", 0, NULL, CLI_OPT_TRACK},
	    {"seal", 0, NULL, CLI_OPT_SEAL},
	    {"transient", 0, NULL, CLI_OPT_TRANSIENT},
	    {"reply-to", 1, NULL, CLI_OPT_REPLY_TO},
	    {"correlation", 1, NULL, CLI_OPT_CORRELATION},
	    {"id", 1, NULL, CLI_OPT_ID},
	    {"json", 0, NULL, CLI_OPT_JSON},
	    {"lines", 0, NULL, CLI_OPT_LINES},
	    {"hold", 0, NULL, CLI_OPT_HOLD},
	    {"socket", 1, NULL, CLI_OPT_SOCKET},
	    {"help", 0, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *cmd = &cli_cmd_send;
	struct send_input in = {.name = NULL, .fd = -1, .close_fd = 0};
	struct ferry_send_opts o;
	struct ferry *c = NULL;
	char node[FERRY_NODE_MAX + 1], queue[FERRY_QUEUE_MAX + 1];
	char hex[FERRY_ID_HEX_LEN + 1];
	uint8_t want_id[FERRY_ID_LEN], id[FERRY_ID_LEN];
	const char *dest, *file = NULL;
	int ch, json = 0, dup = 0, prio_set = 0, lines = 0, ret;
	uint64_t v;
	struct cli_json j;

	ferry_send_opts_init(&o);
	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, ":p:ut:rh", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'p':
			if (cli_parse_u64(optarg, &v) != 0 ||
			    v > FERRY_PRIO_MAX)
				return cli_usage_error(
				    cmd, "priority must be 0 to %d, not '%s'",
				    FERRY_PRIO_MAX, optarg);
			if (prio_set && o.priority != (int)v)
				return cli_usage_error(
				    cmd, "--priority and --urgent disagree");
			o.priority = (int)v;
			prio_set = 1;
			break;
		case 'u':
			if (prio_set && o.priority != FERRY_PRIO_MAX)
				return cli_usage_error(
				    cmd, "--priority and --urgent disagree");
			o.priority = FERRY_PRIO_MAX;
			prio_set = 1;
			break;
		case 't':
			if (strcmp(optarg, "never") == 0 ||
			    strcmp(optarg, "none") == 0)
				o.ttl_ms = FERRY_TTL_NONE;
			else if (cli_parse_duration(optarg, 1000, &o.ttl_ms) !=
				 0)
				return cli_usage_error(
				    cmd,
				    "'%s' is not a duration (90s, 15m, "
				    "2h, 7d, 0 or never)",
				    optarg);
			break;
		case 'r':
			o.flags |= FERRY_MSG_RECEIPT;
			break;
		case CLI_OPT_TRACK:
			o.flags |= FERRY_MSG_RECEIPT | FERRY_MSG_TRACK;
			break;
		case CLI_OPT_SEAL:
			o.flags |= FERRY_MSG_SEALED;
			break;
		case CLI_OPT_HOLD:
			o.hold = 1;
			break;
		case CLI_OPT_TRANSIENT:
			o.flags |= FERRY_MSG_TRANSIENT;
			break;
		case CLI_OPT_REPLY_TO:
			if (!ferry_queue_name_valid(optarg))
				return cli_usage_error(
				    cmd, "'%s' is not a queue name", optarg);
			o.reply_to = optarg;
			break;
		case CLI_OPT_CORRELATION:
			if (strlen(optarg) > FERRY_CORR_MAX)
				return cli_usage_error(
				    cmd,
				    "--correlation is longer than %d "
				    "bytes",
				    FERRY_CORR_MAX);
			o.correlation = optarg;
			break;
		case CLI_OPT_ID:
			if (cli_parse_id(cmd, optarg, want_id) != 0)
				return CLI_EXIT_USAGE;
			o.id = want_id;
			break;
		case CLI_OPT_JSON:
			json = 1;
			break;
		case CLI_OPT_LINES:
			lines = 1;
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
		return cli_usage_error(cmd, "where to? NODE/QUEUE is missing");
	dest = argv[optind++];
	if (optind < argc)
		file = argv[optind++];
	if (optind < argc)
		return cli_usage_error(cmd,
				       "one FILE at a time ('%s' is one "
				       "too many)",
				       argv[optind]);
	if (ferry_parse_dest(dest, node, queue) != 0)
		return cli_usage_error(
		    cmd,
		    "'%s' is not NODE/QUEUE (node: a-z 0-9 - _ . ; queue: "
		    "A-Z a-z 0-9 - _ . /)",
		    dest);

	if (lines && o.id != NULL)
		return cli_usage_error(cmd, "--id names one message; --lines "
					    "sends many");

	ret = input_open(ctx, file, &in);
	if (ret != CLI_EXIT_OK)
		goto out;
	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK)
		goto out;
	if (lines) {
		ret = send_lines(ctx, c, dest, &in, &o, json);
		goto out;
	}
	ret = send_payload(ctx, c, dest, &in, &o, id, &dup);
	if (ret != CLI_EXIT_OK)
		goto out;

	ferry_id_to_hex(id, hex);
	if (dup)
		cli_warn(ctx, "%s was accepted before; nothing new was stored",
			 hex);
	if (json) {
		cli_json_begin(&j, stdout);
		cli_json_str(&j, "id", hex);
		cli_json_bool(&j, "duplicate", dup);
		cli_json_end(&j);
	} else {
		printf("%s\n", hex);
	}
	ret = cli_flush_stdout(ctx);
out:
	input_close(&in);
	ferry_close(c);
	return ret;
}
