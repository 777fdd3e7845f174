/*
 * sneak.c - `ferry export` and `ferry import`: bundles on a medium (a USB
 * stick, a folder) through ferryd (docs/formats.md).  ferryd does the
 * work; this shows its progress and prints its summary.
 */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static int export_run(struct cli_ctx *ctx, int argc, char **argv);
static int import_run(struct cli_ctx *ctx, int argc, char **argv);

static const char export_usage[] =
    "ferry export DIR [--peer NAME]... [--max-bytes SIZE]\n"
    "                 [--min-priority N] [--again] [--segment SIZE]\n"
    "\n"
    "      --peer NAME        only for this peer (repeatable); default:\n"
    "                         every peer with something queued\n"
    "      --max-bytes SIZE   write at most SIZE (k, M, G suffixes);\n"
    "                         default: the medium's free space less a\n"
    "                         margin (2%, at least 4 MiB)\n"
    "      --min-priority N   only messages of priority N (0..7) or above\n"
    "      --again            also messages already on a medium (it was\n"
    "                         lost); the receiver drops duplicates\n"
    "      --segment SIZE     bytes per bundle file (default 1G; FAT)\n"
    "  -q, --quiet            no progress bar\n"
    "      --socket PATH      ferryd's control socket\n"
    "  -h, --help             this help\n"
    "\n"
    "Writes sealed bundles under DIR/ferry/<peer fingerprint>/, most\n"
    "urgent messages first, until the medium is full.  The messages stay\n"
    "here, \"on medium DIR\", until the peer's custody receipt comes back\n"
    "(by a later import, or a TCP session).\n";

static const char import_usage[] =
    "ferry import DIR [--keep] [--skew DURATION]\n"
    "\n"
    "      --keep             leave the imported bundles on the medium\n"
    "      --skew DURATION    clock-skew allowance for bundles dated in\n"
    "                         the future (default 1h)\n"
    "  -q, --quiet            no progress bar\n"
    "      --socket PATH      ferryd's control socket\n"
    "  -h, --help             this help\n"
    "\n"
    "Verifies and stores every bundle for this node under DIR/ferry/,\n"
    "then writes custody receipts for their senders back onto DIR.\n"
    "Refused bundles are moved to DIR/ferry/rejected/ with a .txt saying\n"
    "why.  Bundles for other nodes are left in place and listed.\n";

const struct cli_cmd cli_cmd_export = {
    .name = "export",
    .usage = export_usage,
    .summary = "Write queued messages onto a medium (USB stick, folder)",
    .run = export_run,
};

const struct cli_cmd cli_cmd_import = {
    .name = "import",
    .usage = import_usage,
    .summary = "Read the bundles for this node from a medium",
    .run = import_run,
};

enum {
	OPT_PEER = CLI_OPT_MAX_MESSAGES + 100,
	OPT_MIN_PRIO,
	OPT_AGAIN,
	OPT_SEGMENT,
	OPT_KEEP,
	OPT_SKEW,
};

struct bar {
	int tty;
	int shown;
};

static int
show_progress(const char *what, uint64_t done, uint64_t total, void *arg)
{
	struct bar *b = arg;
	char d[CLI_FMT_MAX], t[CLI_FMT_MAX];
	int width = 30, fill = 0;

	if (!b->tty)
		return 0;
	cli_format_size(done, d);
	if (total != 0) {
		cli_format_size(total, t);
		fill = done >= total ? width : (int)(done * width / total);
		fprintf(stderr, "\r%-24.24s [%.*s%*s] %s of %s ", what, fill,
			"##############################", width - fill, "", d,
			t);
	} else {
		fprintf(stderr, "\r%-24.24s %s ", what, d);
	}
	b->shown = 1;
	return 0;
}

static int
sneak(struct cli_ctx *ctx, int export, struct ferry_sneak_opts *o, int quiet)
{
	struct ferry_sneak_result *res = calloc(1, sizeof(*res));
	struct bar bar = {!quiet && isatty(2), 0};
	struct ferry *c = NULL;
	char abs[PATH_MAX];
	int rc, ret;

	if (res == NULL) {
		cli_warn(ctx, "out of memory");
		return CLI_EXIT_ERROR;
	}
	if (realpath(o->dir, abs) == NULL) {
		cli_warn(ctx, "%s: not found (is the medium mounted?)", o->dir);
		free(res);
		return CLI_EXIT_ERROR;
	}
	o->dir = abs;
	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK) {
		free(res);
		return ret;
	}
	rc = export ? ferry_export(c, o, show_progress, &bar, res)
		    : ferry_import(c, o, show_progress, &bar, res);
	if (bar.shown)
		fprintf(stderr, "\r%78s\r", "");
	if (rc != 0) {
		ret = cli_fail(ctx, c, rc,
			       export ? "export failed" : "import failed");
		goto out;
	}
	fputs(res->summary, stdout);
	printf("%s %llu messages (%llu bytes), %llu bundles%s\n",
	       export ? "exported" : "imported", (unsigned long long)res->msgs,
	       (unsigned long long)res->bytes, (unsigned long long)res->bundles,
	       res->rejected > 0 ? ", some refused: see DIR/ferry/rejected/"
				 : "");
	ret = cli_flush_stdout(ctx);
	if (res->code != 0) {
		cli_warn(ctx, "stopped early: %s", ferry_strerror(res->code));
		ret = cli_exit_code(res->code);
	}
out:
	ferry_close(c);
	free(res);
	return ret;
}

static int
export_run(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"peer", 1, NULL, OPT_PEER},
	    {"max-bytes", 1, NULL, CLI_OPT_MAX_BYTES},
	    {"min-priority", 1, NULL, OPT_MIN_PRIO},
	    {"again", 0, NULL, OPT_AGAIN},
	    {"segment", 1, NULL, OPT_SEGMENT},
	    {"quiet", 0, NULL, 'q'},
	    {"socket", 1, NULL, CLI_OPT_SOCKET},
	    {"help", 0, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *cmd = &cli_cmd_export;
	struct ferry_sneak_opts o;
	char peers[1024] = "";
	uint64_t v;
	int ch, quiet = 0;

	memset(&o, 0, sizeof(o));
	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_PEER:
			if (strlen(peers) + strlen(optarg) + 2 >
				sizeof(peers) ||
			    strchr(optarg, ',') != NULL || optarg[0] == '\0')
				return cli_usage_error(cmd, "bad --peer '%s'",
						       optarg);
			if (peers[0] != '\0')
				strcat(peers, ",");
			strcat(peers, optarg);
			break;
		case CLI_OPT_MAX_BYTES:
			if (cli_parse_size(optarg, &o.max_bytes) != 0 ||
			    o.max_bytes == 0)
				return cli_usage_error(
				    cmd, "bad --max-bytes '%s'", optarg);
			break;
		case OPT_MIN_PRIO:
			if (cli_parse_u64(optarg, &v) != 0 || v > 7)
				return cli_usage_error(
				    cmd, "--min-priority is 0..7, not '%s'",
				    optarg);
			o.min_priority = (int)v;
			break;
		case OPT_AGAIN:
			o.again = 1;
			break;
		case OPT_SEGMENT:
			if (cli_parse_size(optarg, &o.segment) != 0 ||
			    o.segment < (1u << 20) ||
			    o.segment > (4ull << 30) - 1)
				return cli_usage_error(
				    cmd, "--segment is 1M to 4G-1, not '%s'",
				    optarg);
			break;
		case 'q':
			quiet = 1;
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
	if (optind + 1 != argc)
		return cli_usage_error(cmd, "export takes one folder (DIR)");
	o.dir = argv[optind];
	o.peers = peers;
	return sneak(ctx, 1, &o, quiet);
}

static int
import_run(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"keep", 0, NULL, OPT_KEEP}, {"skew", 1, NULL, OPT_SKEW},
	    {"quiet", 0, NULL, 'q'},	 {"socket", 1, NULL, CLI_OPT_SOCKET},
	    {"help", 0, NULL, 'h'},	 {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *cmd = &cli_cmd_import;
	struct ferry_sneak_opts o;
	int64_t ms;
	int ch, quiet = 0;

	memset(&o, 0, sizeof(o));
	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_KEEP:
			o.keep = 1;
			break;
		case OPT_SKEW:
			if (cli_parse_duration(optarg, 1000, &ms) != 0 ||
			    ms <= 0)
				return cli_usage_error(cmd, "bad --skew '%s'",
						       optarg);
			o.skew_ms = (uint64_t)ms;
			break;
		case 'q':
			quiet = 1;
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
	if (optind + 1 != argc)
		return cli_usage_error(cmd, "import takes one folder (DIR)");
	o.dir = argv[optind];
	return sneak(ctx, 0, &o, quiet);
}
