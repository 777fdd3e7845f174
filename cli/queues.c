/*
 * queues.c - `ferry queues`: list the local queues, create one with
 * limits, or purge one.
 *
 * The list is gathered first and printed after, so that the name column
 * fits the longest name; the number of queues is bounded by the agent.
 */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int queues_run(struct cli_ctx *ctx, int argc, char **argv);

static const char queues_usage[] =
    "ferry queues [list] [--json]\n"
    "ferry queues create NAME [--max-bytes N] [--max-messages N]\n"
    "ferry queues purge NAME [--json]\n"
    "\n"
    "      --json            list: {\"queues\":[...]}; purge:\n"
    "                        {\"queue\":...,\"removed\":N}\n"
    "      --max-bytes N     create: most bytes the queue holds\n"
    "                        (512, 64k, 16M, 2G; 0: the default)\n"
    "      --max-messages N  create: most messages it holds (0:\n"
    "                        the default)\n"
    "      --socket PATH     ferryd's control socket\n"
    "  -h, --help            this help\n"
    "\n"
    "create on an existing queue changes its limits.  purge\n"
    "removes every message of the queue at once, leased or not.\n";

const struct cli_cmd cli_cmd_queues = {
    .name = "queues",
    .usage = queues_usage,
    .summary = "List, create or purge the local queues",
    .run = queues_run,
};

struct queue_list {
	struct ferry_queue_info *q;
	size_t n, cap;
	int oom;
};

static int
collect_one(const struct ferry_queue_info *q, void *arg)
{
	struct queue_list *l = arg;
	struct ferry_queue_info *grown;
	size_t cap;

	if (l->n == l->cap) {
		cap = l->cap != 0 ? l->cap * 2 : 16;
		if (cap > SIZE_MAX / sizeof(*l->q) ||
		    (grown = realloc(l->q, cap * sizeof(*l->q))) == NULL) {
			l->oom = 1;
			return FERRY_ENOMEM;
		}
		l->q = grown;
		l->cap = cap;
	}
	l->q[l->n++] = *q;
	return 0;
}

static void
format_limits(const struct ferry_queue_info *q, char out[2 * CLI_FMT_MAX])
{
	char size[CLI_FMT_MAX];

	cli_format_size(q->max_bytes, size);
	if (q->max_bytes != 0 && q->max_msgs != 0)
		snprintf(out, 2 * CLI_FMT_MAX, "%s, %llu messages", size,
			 (unsigned long long)q->max_msgs);
	else if (q->max_bytes != 0)
		snprintf(out, 2 * CLI_FMT_MAX, "%s", size);
	else if (q->max_msgs != 0)
		snprintf(out, 2 * CLI_FMT_MAX, "%llu messages",
			 (unsigned long long)q->max_msgs);
	else
		snprintf(out, 2 * CLI_FMT_MAX, "-");
}

static int
queues_list(struct cli_ctx *ctx, struct ferry *c, int json)
{
	struct queue_list l = {.q = NULL, .n = 0, .cap = 0, .oom = 0};
	char bytes[CLI_FMT_MAX], limits[2 * CLI_FMT_MAX];
	struct cli_json j;
	size_t i;
	int w = 5, rc, ret = CLI_EXIT_OK;

	rc = ferry_queue_list(c, collect_one, &l);
	if (rc != 0) {
		if (l.oom) {
			cli_warn(ctx, "out of memory");
			ret = CLI_EXIT_ERROR;
		} else {
			ret = cli_fail(ctx, c, rc, "cannot list the queues");
		}
		goto out;
	}
	if (json) {
		cli_json_begin(&j, stdout);
		cli_json_array(&j, "queues");
		for (i = 0; i < l.n; i++) {
			cli_json_object(&j, NULL);
			cli_json_str(&j, "queue", l.q[i].name);
			cli_json_u64(&j, "messages", l.q[i].msgs);
			cli_json_u64(&j, "bytes", l.q[i].bytes);
			cli_json_u64(&j, "leased", l.q[i].leased);
			cli_json_u64(&j, "max_bytes", l.q[i].max_bytes);
			cli_json_u64(&j, "max_messages", l.q[i].max_msgs);
			cli_json_close(&j);
		}
		cli_json_end(&j);
		goto out;
	}
	for (i = 0; i < l.n; i++)
		if (strlen(l.q[i].name) > (size_t)w)
			w = (int)strlen(l.q[i].name);
	printf("%-*s  %8s  %10s  %6s  %s\n", w, "QUEUE", "MESSAGES", "BYTES",
	       "LEASED", "LIMITS");
	for (i = 0; i < l.n; i++) {
		cli_format_size(l.q[i].bytes, bytes);
		format_limits(&l.q[i], limits);
		printf("%-*s  %8llu  %10s  %6llu  %s\n", w, l.q[i].name,
		       (unsigned long long)l.q[i].msgs, bytes,
		       (unsigned long long)l.q[i].leased, limits);
	}
out:
	free(l.q);
	return ret;
}

static int
queues_run(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"max-bytes", 1, NULL, CLI_OPT_MAX_BYTES},
	    {"max-messages", 1, NULL, CLI_OPT_MAX_MESSAGES},
	    {"json", 0, NULL, CLI_OPT_JSON},
	    {"socket", 1, NULL, CLI_OPT_SOCKET},
	    {"help", 0, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *cmd = &cli_cmd_queues;
	const char *sub = "list", *name = NULL;
	uint64_t max_bytes = 0, max_msgs = 0, removed = 0;
	int ch, json = 0, limits = 0, existed, rc, ret;
	char lim[2 * CLI_FMT_MAX];
	struct ferry_queue_info qi;
	struct ferry *c = NULL;
	struct cli_json j;

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case CLI_OPT_MAX_BYTES:
			if (cli_parse_size(optarg, &max_bytes) != 0)
				return cli_usage_error(
				    cmd, "--max-bytes: '%s' is not a size",
				    optarg);
			limits = 1;
			break;
		case CLI_OPT_MAX_MESSAGES:
			if (cli_parse_u64(optarg, &max_msgs) != 0)
				return cli_usage_error(
				    cmd,
				    "--max-messages: '%s' is not a "
				    "number",
				    optarg);
			limits = 1;
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
	if (optind < argc)
		sub = argv[optind++];
	if (strcmp(sub, "list") != 0 && strcmp(sub, "create") != 0 &&
	    strcmp(sub, "purge") != 0)
		return cli_usage_error(cmd,
				       "unknown action '%s' (list, create "
				       "or purge)",
				       sub);
	if (strcmp(sub, "list") == 0) {
		if (optind < argc)
			return cli_usage_error(cmd, "list takes no NAME");
	} else {
		if (optind >= argc)
			return cli_usage_error(cmd,
					       "%s which queue? NAME is "
					       "missing",
					       sub);
		name = argv[optind++];
		if (optind < argc)
			return cli_usage_error(cmd, "one NAME at a time");
		if (!ferry_queue_name_valid(name))
			return cli_usage_error(cmd,
					       "'%s' is not a queue name "
					       "(A-Z a-z 0-9 - _ . /)",
					       name);
	}
	if (limits && strcmp(sub, "create") != 0)
		return cli_usage_error(cmd, "--max-bytes and --max-messages "
					    "go with create");
	if (json && strcmp(sub, "create") == 0)
		return cli_usage_error(cmd, "create prints no --json");

	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK)
		return ret;
	if (strcmp(sub, "list") == 0) {
		ret = queues_list(ctx, c, json);
	} else if (strcmp(sub, "create") == 0) {
		/* create on an existing queue changes its limits: say so. */
		existed = ferry_queue_stats(c, name, &qi) == 0;
		rc = ferry_queue_create(c, name, max_bytes, max_msgs);
		if (rc != 0) {
			ret = cli_fail(ctx, c, rc, "cannot create queue %s",
				       name);
		} else if (ferry_queue_stats(c, name, &qi) == 0) {
			format_limits(&qi, lim);
			printf("%s queue %s (limits: %s)\n",
			       existed ? "changed" : "created", name,
			       strcmp(lim, "-") == 0 ? "none" : lim);
		} else {
			printf("%s queue %s\n", existed ? "changed" : "created",
			       name);
		}
	} else {
		rc = ferry_queue_purge(c, name, &removed);
		if (rc != 0) {
			ret =
			    cli_fail(ctx, c, rc, "cannot purge queue %s", name);
		} else if (json) {
			cli_json_begin(&j, stdout);
			cli_json_str(&j, "queue", name);
			cli_json_u64(&j, "removed", removed);
			cli_json_end(&j);
		} else {
			printf("purged %s: %llu message%s removed\n", name,
			       (unsigned long long)removed,
			       removed == 1 ? "" : "s");
		}
	}
	ferry_close(c);
	return ret;
}
