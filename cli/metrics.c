/*
 * metrics.c - `ferry metrics`: the node's metrics in the Prometheus text
 * format, as ferryd renders them: the same text /metrics serves on
 * [node] metrics_listen (the METRICS request, docs/protocol.md), written
 * to stdout as it comes.
 */
#include "config.h"

#include <stdio.h>

#include "cli/cli.h"

static int metrics_run(struct cli_ctx *ctx, int argc, char **argv);

static const char metrics_usage[] =
    "ferry metrics\n"
    "\n"
    "      --socket PATH  ferryd's control socket\n"
    "  -h, --help         this help\n"
    "\n"
    "Prints the Prometheus text that [node] metrics_listen\n"
    "serves at /metrics (needs admin of the node).\n";

const struct cli_cmd cli_cmd_metrics = {
    .name = "metrics",
    .usage = metrics_usage,
    .summary = "Print the node's metrics (Prometheus text format)",
    .run = metrics_run,
};

/* To stdout; a failed write stops the answer (arg: set then). */
static int
write_out(const void *data, size_t len, void *arg)
{
	if (fwrite(data, 1, len, stdout) == len)
		return 0;
	*(int *)arg = 1;
	return FERRY_EIO;
}

static int
metrics_run(struct cli_ctx *ctx, int argc, char **argv)
{
	struct ferry *c = NULL;
	int rc, ret, out_failed = 0;

	ret = cli_plain_options(ctx, &cli_cmd_metrics, argc, argv, NULL);
	if (ret >= 0)
		return ret;
	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK)
		return ret;
	rc = ferry_metrics(c, write_out, &out_failed);
	if (out_failed)
		ret = cli_flush_stdout(ctx); /* reports the write error */
	else if (rc != 0)
		ret = cli_fail(ctx, c, rc, "cannot get the metrics");
	else
		ret = cli_flush_stdout(ctx);
	ferry_close(c);
	return ret;
}
