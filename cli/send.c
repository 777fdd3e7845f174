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
    "      --json            print {\"id\":...} instead of the id\n"
    "      --socket PATH     ferryd's control socket\n"
    "  -h, --help            this help\n"
    "\n"
    "Without FILE, or with -, the message is standard input.\n";

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
	int ch, json = 0, dup = 0, prio_set = 0, ret;
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

	ret = input_open(ctx, file, &in);
	if (ret != CLI_EXIT_OK)
		goto out;
	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK)
		goto out;
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
