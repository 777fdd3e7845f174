/*
 * ferry.c - main() of the `ferry` command: global options, the table of
 * verbs and the dispatch to one of them.
 *
 * Every verb lives in cli/<verb>.c and is listed once in cli_cmds below;
 * `ferry help` and `ferry VERB --help` print what the table says.  This
 * file owns nothing but the command line up to the verb.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int help_run(struct cli_ctx *ctx, int argc, char **argv);

static const struct cli_cmd cli_cmd_help = {
    .name = "help",
    .usage = "ferry help [COMMAND]",
    .summary = "Show the commands, or the options of one",
    .run = help_run,
};

/* In the order `ferry help` lists them. */
static const struct cli_cmd *const cli_cmds[] = {
    &cli_cmd_send,    &cli_cmd_recv,	&cli_cmd_ack,	 &cli_cmd_nack,
    &cli_cmd_consume, &cli_cmd_request, &cli_cmd_queues, &cli_cmd_status,
    &cli_cmd_why,     &cli_cmd_track,	&cli_cmd_info,	 &cli_cmd_peers,
    &cli_cmd_metrics, &cli_cmd_export,	&cli_cmd_import, &cli_cmd_init,
    &cli_cmd_keygen,  &cli_cmd_help,
};

#define N_CMDS (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

static const struct cli_cmd *
find_cmd(const char *name)
{
	for (size_t i = 0; i < N_CMDS; i++)
		if (strcmp(cli_cmds[i]->name, name) == 0)
			return cli_cmds[i];
	return NULL;
}

static void
print_main_usage(FILE *f)
{
	fprintf(f, "usage: ferry [--socket PATH] COMMAND [ARGS...]\n"
		   "       ferry help [COMMAND] | --help | --version\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < N_CMDS; i++)
		fprintf(f, "  %-8s %s\n", cli_cmds[i]->name,
			cli_cmds[i]->summary);
	fprintf(f,
		"\n"
		"Global options:\n"
		"  --socket PATH  ferryd's control socket (default: "
		"$FERRY_SOCKET, else\n"
		"                 $XDG_STATE_HOME/ferry/ferry.sock or "
		"/run/ferry/ferry.sock)\n"
		"  -h, --help     this help; 'ferry COMMAND --help' for a "
		"command's options\n"
		"  -V, --version  print the version\n"
		"\n"
		"Exit status: 0 done, 1 error, 2 usage error, 3 queue empty, "
		"4 cannot connect\nto ferryd, 5 permission denied.  "
		"See ferry(1).\n");
}

static int
help_run(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_cmd *cmd;

	(void)ctx;
	if (argc < 2) {
		print_main_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (argc > 2)
		return cli_usage_error(&cli_cmd_help, "too many arguments");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cli_help(&cli_cmd_help);
	cmd = find_cmd(argv[1]);
	if (cmd == NULL)
		return cli_usage_error(&cli_cmd_help, "unknown command '%s'",
				       argv[1]);
	return cli_help(cmd);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", 1, NULL, CLI_OPT_SOCKET},
	    {"help", 0, NULL, 'h'},
	    {"version", 0, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_ctx ctx = {.socket_path = NULL, .verb = ""};
	const struct cli_cmd *cmd;
	int ch, rc, flush_rc;

	/* A reader that goes away (`ferry recv q | head`) must give us
	 * EPIPE, so that recv gives the message back instead of dying
	 * between taking it and saying so. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("ferry: signal");
		return CLI_EXIT_ERROR;
	}

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case CLI_OPT_SOCKET:
			ctx.socket_path = optarg;
			break;
		case 'h':
			print_main_usage(stdout);
			return cli_flush_stdout(&ctx);
		case 'V':
			printf("ferry %s\n", PACKAGE_VERSION);
			return cli_flush_stdout(&ctx);
		case ':':
			fprintf(stderr, "ferry: option '%s' needs a value\n",
				argv[optind - 1]);
			return CLI_EXIT_USAGE;
		default:
			fprintf(stderr,
				"ferry: unknown option '%s'\n"
				"Try 'ferry --help'.\n",
				argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		print_main_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	cmd = find_cmd(argv[optind]);
	if (cmd == NULL) {
		fprintf(stderr,
			"ferry: unknown command '%s'\n"
			"Try 'ferry help'.\n",
			argv[optind]);
		return CLI_EXIT_USAGE;
	}
	ctx.verb = cmd->name;
	rc = cmd->run(&ctx, argc - optind, argv + optind);
	if (rc != CLI_EXIT_OK) {
		/* Already reported; a second complaint would be noise. */
		(void)fflush(stdout);
		return rc;
	}
	flush_rc = cli_flush_stdout(&ctx);
	return flush_rc;
}
