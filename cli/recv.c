/*
 * recv.c - `ferry recv QUEUE`: take messages from a local queue and write
 * their payloads out.
 *
 * A message is taken under a lease, written out completely (stdout
 * flushed, or a file fsync'd and renamed into place), and only then
 * acked: a crash or a write error in between leaves it in the queue,
 * given back at once with a nack where the connection still allows, else
 * when its lease ends.  So recv delivers at least once; a receiver that
 * must not see a message twice keys on its id.
 *
 * --no-ack stops before the ack and shows the lease token for an explicit
 * `ferry ack`; --peek looks without taking (with --count N > 1, at the
 * headers of the next N).  Memory stays bounded: payloads stream in
 * RECV_CHUNK pieces, except the base64 of --json, which is refused above
 * RECV_JSON_MAX.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

#define RECV_CHUNK    (256u * 1024u)
#define RECV_JSON_MAX (1024u * 1024u) /* payload_b64 only below this */

static int recv_run(struct cli_ctx *ctx, int argc, char **argv);

static const char recv_usage[] =
    "ferry recv QUEUE [options]\n"
    "\n"
    "  -w, --wait[=SECS]  wait for a message: for ever, or up to\n"
    "                     SECS\n"
    "  -n, --count N      receive up to N messages (default 1;\n"
    "                     0: until the queue is empty)\n"
    "      --peek         show the next message without taking\n"
    "                     it; with --count N, list the headers\n"
    "                     of the next N\n"
    "  -o, --out DIR      write each payload to DIR/ID, not to\n"
    "                     standard output, and print its name\n"
    "      --json         one JSON object per message (payload\n"
    "                     as payload_b64 below 1 MiB, or the\n"
    "                     path with --out)\n"
    "  -l, --lease SECS   hold the message that long (default:\n"
    "                     the agent's default_lease)\n"
    "      --no-ack       leave it leased; print its id and\n"
    "                     token for 'ferry ack ID --token T'\n"
    "      --socket PATH  ferryd's control socket\n"
    "  -h, --help         this help\n"
    "\n"
    "A message is acked only once its payload is written out.\n"
    "Exit status 3: the queue was empty (no message at all).\n";

const struct cli_cmd cli_cmd_recv = {
    .name = "recv",
    .usage = recv_usage,
    .summary = "Take messages from a queue and write their payloads",
    .run = recv_run,
};

struct recv_req {
	const char *queue;
	struct ferry_recv_opts ro;
	uint64_t count; /* 0: until the queue is empty */
	int json, no_ack;
	const char *out_dir; /* NULL: stdout */
};

/* A received payload, once it is out. */
struct recv_out {
	char path[PATH_MAX]; /* --out: the file written */
	uint8_t *data;	     /* --json without --out: the payload */
	size_t len;
};

/* ------------------------------------------------------------ payload */

/* Read s to its end into fd (or stdout's FILE when fd < 0). */
static int
copy_stream(struct cli_ctx *ctx, struct ferry *c, struct ferry_stream *s,
	    const struct ferry_msg_info *info, int fd, const char *to)
{
	struct cli_progress prog;
	uint64_t total = 0;
	uint8_t *buf;
	size_t n;
	int rc, ret = CLI_EXIT_ERROR;

	buf = malloc(RECV_CHUNK);
	if (buf == NULL) {
		cli_warn(ctx, "out of memory");
		return CLI_EXIT_ERROR;
	}
	cli_progress_init(&prog, "receiving", info->msg.payload_len);
	for (;;) {
		n = 0;
		if (s != NULL) {
			rc = ferry_stream_read(s, buf, RECV_CHUNK, &n);
			if (rc != 0) {
				cli_progress_cleanup(&prog);
				ret = cli_fail(ctx, c, rc,
					       "cannot read the payload");
				goto out;
			}
		}
		if (n == 0)
			break;
		total += n;
		if (fd >= 0 ? ferry_write_all(fd, buf, n) != 0
			    : fwrite(buf, 1, n, stdout) != n) {
			cli_progress_cleanup(&prog);
			cli_warn(ctx, "cannot write to %s: %s", to,
				 strerror(errno));
			goto out;
		}
		cli_progress_add(&prog, n);
	}
	cli_progress_cleanup(&prog);
	if (total != info->msg.payload_len) {
		cli_warn(ctx, "the payload ended after %llu of %llu bytes",
			 (unsigned long long)total,
			 (unsigned long long)info->msg.payload_len);
		goto out;
	}
	ret = CLI_EXIT_OK;
out:
	free(buf);
	return ret;
}

/* --out: DIR/.ID.part, fsync, rename to DIR/ID, fsync DIR. */
static int
write_file(struct cli_ctx *ctx, struct ferry *c, struct ferry_stream *s,
	   const struct recv_req *r, const struct ferry_msg_info *info,
	   struct recv_out *o)
{
	char hex[FERRY_ID_HEX_LEN + 1], tmp[PATH_MAX];
	int fd = -1, n, ret = CLI_EXIT_ERROR;

	ferry_id_to_hex(info->msg.id, hex);
	n = snprintf(o->path, sizeof(o->path), "%s/%s", r->out_dir, hex);
	if (n < 0 || (size_t)n >= sizeof(o->path))
		goto toolong;
	n = snprintf(tmp, sizeof(tmp), "%s/.%s.part", r->out_dir, hex);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		goto toolong;
	/* The id is unique: a .part left by a crashed run is ours. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0666);
	if (fd < 0) {
		cli_warn(ctx, "cannot create %s: %s", tmp, strerror(errno));
		return CLI_EXIT_ERROR;
	}
	ret = copy_stream(ctx, c, s, info, fd, tmp);
	if (ret != CLI_EXIT_OK)
		goto out;
	ret = CLI_EXIT_ERROR;
	if (fsync(fd) != 0) {
		cli_warn(ctx, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	n = close(fd);
	fd = -1;
	if (n != 0) {
		cli_warn(ctx, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, o->path) != 0) {
		cli_warn(ctx, "cannot rename %s to %s: %s", tmp, o->path,
			 strerror(errno));
		goto out;
	}
	if (ferry_fsync_dir(r->out_dir) != 0) {
		cli_warn(ctx, "cannot sync %s: %s", r->out_dir,
			 strerror(errno));
		return CLI_EXIT_ERROR;
	}
	return CLI_EXIT_OK;
out:
	if (fd >= 0)
		(void)close(fd);
	(void)unlink(tmp);
	return ret;
toolong:
	cli_warn(ctx, "%s: path too long", r->out_dir);
	return CLI_EXIT_ERROR;
}

/* --json without --out: the whole payload (below RECV_JSON_MAX). */
static int
read_payload(struct cli_ctx *ctx, struct ferry *c, struct ferry_stream *s,
	     const struct ferry_msg_info *info, struct recv_out *o)
{
	size_t want = (size_t)info->msg.payload_len, n;
	int rc;

	/* One byte of room past the end catches a payload that is longer
	 * than its header said. */
	o->data = malloc(want + 1);
	if (o->data == NULL) {
		cli_warn(ctx, "out of memory");
		return CLI_EXIT_ERROR;
	}
	o->len = 0;
	while (s != NULL && o->len <= want) {
		rc = ferry_stream_read(s, o->data + o->len, want + 1 - o->len,
				       &n);
		if (rc != 0)
			return cli_fail(ctx, c, rc, "cannot read the payload");
		if (n == 0)
			break;
		o->len += n;
	}
	if (o->len != want) {
		cli_warn(ctx, "the payload has %s%zu bytes, not %zu",
			 o->len > want ? "more than " : "", o->len, want);
		return CLI_EXIT_ERROR;
	}
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------- output */

/* Put a taken message back at once (it would come back anyway when its
 * lease ends). */
static void
give_back(struct cli_ctx *ctx, struct ferry *c,
	  const struct ferry_msg_info *info)
{
	char hex[FERRY_ID_HEX_LEN + 1];
	int rc;

	ferry_id_to_hex(info->msg.id, hex);
	rc = ferry_nack(c, info->msg.id, info->token);
	if (rc == 0)
		cli_warn(ctx, "%s was put back in %s", hex, info->queue);
	else
		(void)cli_fail(ctx, c, rc,
			       "could not put %s back; it returns to %s when "
			       "its lease ends",
			       hex, info->queue);
}

/*
 * One message taken (or peeked) with its payload stream s: write it out,
 * say so, ack it.  s is closed here on every path.
 */
/* Who vouches for the message's source, and the relays it came
 * through (docs/routing.md). */
static void
json_origin(struct cli_json *j, struct ferry *c)
{
	static const char *const names[] = {"unknown",	"local",      "peer",
					    "verified", "unverified", "forged"};
	char via[FERRY_PATH_MAX + 1];
	int o = ferry_last_origin(c, via, sizeof(via));

	cli_json_str(j, "origin",
		     o >= 0 && o <= FERRY_ORIGIN_FORGED ? names[o] : "unknown");
	if (via[0] != '\0')
		cli_json_str(j, "via", via);
}

static int
recv_deliver(struct cli_ctx *ctx, struct ferry *c, const struct recv_req *r,
	     const struct ferry_msg_info *info, struct ferry_stream *s)
{
	int taken = !r->ro.peek, ret;
	char hex[FERRY_ID_HEX_LEN + 1], size[CLI_FMT_MAX];
	char until[CLI_FMT_MAX];
	struct recv_out o;
	struct cli_json j;

	memset(&o, 0, sizeof(o));
	ferry_id_to_hex(info->msg.id, hex);
	if (r->json && r->out_dir == NULL &&
	    info->msg.payload_len >= RECV_JSON_MAX) {
		cli_format_size(info->msg.payload_len, size);
		cli_warn(ctx,
			 "%s is %s: too big for --json without --out; use "
			 "--out DIR",
			 hex, size);
		ret = CLI_EXIT_ERROR;
		goto fail;
	}
	if (r->out_dir != NULL)
		ret = write_file(ctx, c, s, r, info, &o);
	else if (r->json)
		ret = read_payload(ctx, c, s, info, &o);
	else
		ret = copy_stream(ctx, c, s, info, -1, "standard output");
	if (ret != CLI_EXIT_OK)
		goto fail;
	ferry_stream_close(s);
	s = NULL;

	if (r->json) {
		cli_json_begin(&j, stdout);
		cli_json_msg_info(&j, info, taken);
		json_origin(&j, c);
		cli_json_bool(&j, "acked", taken && !r->no_ack);
		if (r->out_dir != NULL) {
			cli_json_str(&j, "path", o.path);
		} else {
			cli_json_key(&j, "payload_b64");
			fputc('"', stdout);
			cli_base64_write(stdout, o.data, o.len);
			fputc('"', stdout);
		}
		cli_json_end(&j);
	} else if (r->out_dir != NULL) {
		printf("%s\n", o.path);
	}
	ret = cli_flush_stdout(ctx);
	if (ret != CLI_EXIT_OK)
		goto fail;
	free(o.data);
	o.data = NULL;

	if (!taken)
		return CLI_EXIT_OK;
	if (r->no_ack) {
		if (!r->json) {
			cli_format_when(info->lease_until_ms, until);
			fprintf(stderr,
				"ferry recv: %s leased until %s; ack with: "
				"ferry ack %s --token %llu\n",
				hex, until, hex,
				(unsigned long long)info->token);
		}
		return CLI_EXIT_OK;
	}
	ret = ferry_ack(c, info->msg.id, info->token);
	if (ret != 0)
		return cli_fail(ctx, c, ret,
				"%s was written out but not acked: it may be "
				"delivered again",
				hex);
	return CLI_EXIT_OK;
fail:
	free(o.data);
	ferry_stream_close(s);
	if (taken)
		give_back(ctx, c, info);
	return ret;
}

/* --------------------------------------------------------------- peek */

struct browse_state {
	int json;
	uint64_t n;
};

static int
browse_one(const struct ferry_msg_info *info, void *arg)
{
	struct browse_state *b = arg;
	char hex[FERRY_ID_HEX_LEN + 1], size[CLI_FMT_MAX], age[CLI_FMT_MAX];
	struct cli_json j;

	if (b->json) {
		cli_json_begin(&j, stdout);
		cli_json_msg_info(&j, info, 0);
		cli_json_end(&j);
	} else {
		if (b->n == 0)
			printf("%-32s  %4s  %10s  %8s  %5s  %s\n", "ID", "PRIO",
			       "SIZE", "AGE", "DELIV", "FROM");
		ferry_id_to_hex(info->msg.id, hex);
		cli_format_size(info->msg.payload_len, size);
		cli_format_duration(ferry_wall_ms() - info->msg.created_ms,
				    age);
		printf("%-32s  %4u  %10s  %8s  %5lu  %s\n", hex,
		       (unsigned)info->msg.priority, size, age,
		       (unsigned long)info->deliveries, info->msg.src_node);
	}
	b->n++;
	return 0;
}

static int
recv_browse(struct cli_ctx *ctx, struct ferry *c, const struct recv_req *r)
{
	struct browse_state b = {.json = r->json, .n = 0};
	int rc;

	rc = ferry_browse(c, r->queue, (size_t)r->count, browse_one, &b);
	if (rc == FERRY_EEMPTY || (rc == 0 && b.n == 0)) {
		cli_warn(ctx, "%s is empty", r->queue);
		return CLI_EXIT_EMPTY;
	}
	if (rc != 0)
		return cli_fail(ctx, c, rc, "cannot look into %s", r->queue);
	return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- run */

/*
 * --json without --out: look at the next message's header before taking
 * it, so that a message too big to inline is refused without counting as
 * a delivery.  ferry_browse sends headers only (a peek would send the
 * whole payload), but cannot wait: on an empty queue the check is left
 * to recv_deliver, which gives a too big message back.  Returns 0 or
 * CLI_EXIT_ERROR.
 */
struct first_header {
	int seen;
	struct ferry_msg_info info;
};

static int
first_one(const struct ferry_msg_info *info, void *arg)
{
	struct first_header *h = arg;

	if (!h->seen)
		h->info = *info;
	h->seen = 1;
	return 0;
}

static int
json_size_check(struct cli_ctx *ctx, struct ferry *c, const struct recv_req *r)
{
	struct first_header h;
	char hex[FERRY_ID_HEX_LEN + 1], size[CLI_FMT_MAX];

	memset(&h, 0, sizeof(h));
	if (ferry_browse(c, r->queue, 1, first_one, &h) != 0 || !h.seen ||
	    h.info.msg.payload_len < RECV_JSON_MAX)
		return 0;
	ferry_id_to_hex(h.info.msg.id, hex);
	cli_format_size(h.info.msg.payload_len, size);
	cli_warn(ctx,
		 "%s is %s: too big for --json without --out; use --out DIR "
		 "(it stays in %s)",
		 hex, size, r->queue);
	return CLI_EXIT_ERROR;
}

static int
recv_loop(struct cli_ctx *ctx, struct ferry *c, const struct recv_req *r)
{
	struct ferry_msg_info info;
	struct ferry_stream *s;
	char wait[CLI_FMT_MAX];
	uint64_t got = 0;
	int rc;

	while (r->count == 0 || got < r->count) {
		s = NULL;
		if (r->json && r->out_dir == NULL &&
		    json_size_check(ctx, c, r) != 0)
			return CLI_EXIT_ERROR;
		rc = ferry_recv(c, r->queue, &r->ro, &info, &s);
		if (rc == FERRY_EEMPTY || rc == FERRY_ETIMEDOUT) {
			if (got > 0)
				break;
			if (r->ro.wait_ms > 0) {
				cli_format_duration(r->ro.wait_ms, wait);
				cli_warn(ctx, "%s stayed empty for %s",
					 r->queue, wait);
			} else {
				cli_warn(ctx, "%s is empty", r->queue);
			}
			return CLI_EXIT_EMPTY;
		}
		if (rc != 0)
			return cli_fail(ctx, c, rc, "cannot receive from %s",
					r->queue);
		rc = recv_deliver(ctx, c, r, &info, s);
		if (rc != CLI_EXIT_OK)
			return rc;
		got++;
		/* A peek shows the same message every time. */
		if (r->ro.peek)
			break;
	}
	return CLI_EXIT_OK;
}

static int
recv_run(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"wait", 2, NULL, 'w'},
	    {"count", 1, NULL, 'n'},
	    {"peek", 0, NULL, CLI_OPT_PEEK},
	    {"out", 1, NULL, 'o'},
	    {"lease", 1, NULL, 'l'},
	    {"no-ack", 0, NULL, CLI_OPT_NO_ACK},
	    {"json", 0, NULL, CLI_OPT_JSON},
	    {"socket", 1, NULL, CLI_OPT_SOCKET},
	    {"help", 0, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *cmd = &cli_cmd_recv;
	struct recv_req r;
	struct ferry *c = NULL;
	struct stat st;
	int ch, count_set = 0, ret;

	memset(&r, 0, sizeof(r));
	ferry_recv_opts_init(&r.ro);
	r.count = 1;
	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, ":w::n:o:l:h", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'w':
			if (optarg == NULL)
				r.ro.wait_ms = -1;
			else if (cli_parse_duration(optarg, 1000,
						    &r.ro.wait_ms) != 0)
				return cli_usage_error(
				    cmd, "--wait=SECS: '%s' is not a duration",
				    optarg);
			break;
		case 'n':
			if (cli_parse_u64(optarg, &r.count) != 0)
				return cli_usage_error(
				    cmd, "--count: '%s' is not a number",
				    optarg);
			count_set = 1;
			break;
		case CLI_OPT_PEEK:
			r.ro.peek = 1;
			break;
		case 'o':
			r.out_dir = optarg;
			break;
		case 'l':
			if (cli_parse_duration(optarg, 1000, &r.ro.lease_ms) !=
				0 ||
			    r.ro.lease_ms == 0)
				return cli_usage_error(
				    cmd,
				    "--lease: '%s' is not a duration "
				    "above 0",
				    optarg);
			break;
		case CLI_OPT_NO_ACK:
			r.no_ack = 1;
			break;
		case CLI_OPT_JSON:
			r.json = 1;
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
		return cli_usage_error(cmd, "which queue? QUEUE is missing");
	r.queue = argv[optind++];
	if (optind < argc)
		return cli_usage_error(cmd,
				       "one QUEUE at a time ('%s' is one "
				       "too many)",
				       argv[optind]);
	if (!ferry_queue_name_valid(r.queue))
		return cli_usage_error(cmd,
				       "'%s' is not a queue name (A-Z a-z 0-9 "
				       "- _ . /)",
				       r.queue);
	if (r.ro.peek && r.no_ack)
		return cli_usage_error(cmd, "--peek takes nothing, so there "
					    "is nothing to --no-ack");
	if (r.ro.peek && count_set && r.count != 1 && r.out_dir != NULL)
		return cli_usage_error(cmd, "--peek --count N lists headers "
					    "only; it writes no --out files");
	/* Checked before a message is taken, not after. */
	if (r.out_dir != NULL) {
		if (stat(r.out_dir, &st) != 0) {
			cli_warn(ctx, "--out %s: %s", r.out_dir,
				 strerror(errno));
			return CLI_EXIT_ERROR;
		}
		if (!S_ISDIR(st.st_mode) || access(r.out_dir, W_OK) != 0) {
			cli_warn(ctx, "--out %s: %s", r.out_dir,
				 S_ISDIR(st.st_mode) ? strerror(errno)
						     : "not a directory");
			return CLI_EXIT_ERROR;
		}
	}

	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK)
		return ret;
	if (r.ro.peek && r.count != 1)
		ret = recv_browse(ctx, c, &r);
	else
		ret = recv_loop(ctx, c, &r);
	ferry_close(c);
	return ret;
}
