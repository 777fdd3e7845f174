/*
 * ack.c - `ferry ack ID` and `ferry nack ID`: finish or give back a
 * message taken with `ferry recv --no-ack` (or by another client).
 *
 * ack removes the message from its queue; nack puts it back at its place
 * at once instead of waiting for the lease to end.  Both say nothing on
 * success (like rm), and are two verbs of one idea, so they share a file.
 */
#include "config.h"

#include <getopt.h>
#include <string.h>

#include "cli/cli.h"

static int ack_run(struct cli_ctx *ctx, int argc, char **argv);

static const char ack_usage[] =
    "ferry ack ID [--token T]\n"
    "\n"
    "  -t, --token T      the lease token 'ferry recv --no-ack'\n"
    "                     printed; without it the message is\n"
    "                     acked by id alone, whoever holds it\n"
    "      --socket PATH  ferryd's control socket\n"
    "  -h, --help         this help\n";

const struct cli_cmd cli_cmd_ack = {
    .name = "ack",
    .usage = ack_usage,
    .summary = "Finish a leased message: it leaves its queue",
    .run = ack_run,
};

static const char nack_usage[] =
    "ferry nack ID --token T\n"
    "\n"
    "  -t, --token T      the lease token 'ferry recv --no-ack'\n"
    "                     printed\n"
    "      --socket PATH  ferryd's control socket\n"
    "  -h, --help         this help\n";

const struct cli_cmd cli_cmd_nack = {
    .name = "nack",
    .usage = nack_usage,
    .summary = "Give a leased message back to its queue at once",
    .run = ack_run,
};

static int
ack_run(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"token", 1, NULL, 't'},
	    {"socket", 1, NULL, CLI_OPT_SOCKET},
	    {"help", 0, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int nack = strcmp(argv[0], "nack") == 0;
	const struct cli_cmd *cmd = nack ? &cli_cmd_nack : &cli_cmd_ack;
	struct ferry *c = NULL;
	uint8_t id[FERRY_ID_LEN];
	uint64_t token = 0;
	int ch, have_token = 0, rc, ret;

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, ":t:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (cli_parse_u64(optarg, &token) != 0 || token == 0)
				return cli_usage_error(
				    cmd, "--token: '%s' is not a lease token",
				    optarg);
			have_token = 1;
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
		return cli_usage_error(cmd, "which message? ID is missing");
	if (optind + 1 < argc)
		return cli_usage_error(cmd,
				       "one ID at a time ('%s' is one too "
				       "many)",
				       argv[optind + 1]);
	if (cli_parse_id(cmd, argv[optind], id) != 0)
		return CLI_EXIT_USAGE;
	if (nack && !have_token)
		return cli_usage_error(cmd, "--token T is needed: only the "
					    "holder of a lease gives it back");

	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK)
		return ret;
	rc = nack ? ferry_nack(c, id, token) : ferry_ack(c, id, token);
	if (rc != 0)
		ret = cli_fail(ctx, c, rc, "cannot %s %s", cmd->name,
			       argv[optind]);
	ferry_close(c);
	return ret;
}
