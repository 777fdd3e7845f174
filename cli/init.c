/*
 * init.c - `ferry init`: set up a node in a state directory, without root
 * and without ferryd: the directory (0700), the identity, and a commented
 * ferry.conf from policy_default_conf().
 *
 * Safe to run twice: the identity is never replaced and an existing
 * ferry.conf is kept unless --force-config (which keeps the old one as
 * ferry.conf.bak).  The config is written to a temporary name, fsync'd and
 * renamed, so a crash leaves the old file or the new one, never half.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "policy/policy.h"

static int init_run(struct cli_ctx *ctx, int argc, char **argv);

static const char init_usage[] =
    "ferry init [--name NAME] [--dir DIR] [--force-config]\n"
    "\n"
    "  -n, --name NAME     the node's name: 1 to 63 of a-z 0-9\n"
    "                      - _ . (default: the host name)\n"
    "  -d, --dir DIR       the state directory (default:\n"
    "                      $XDG_STATE_HOME/ferry, else\n"
    "                      ~/.local/state/ferry; for root\n"
    "                      /var/lib/ferry)\n"
    "      --force-config  replace an existing ferry.conf (the\n"
    "                      old one is kept as ferry.conf.bak)\n"
    "  -h, --help          this help\n"
    "\n"
    "Creates DIR (mode 0700), DIR/identity/secret (0600) and\n"
    "DIR/ferry.conf, keeping what exists.  Needs no agent and\n"
    "no root.\n";

const struct cli_cmd cli_cmd_init = {
    .name = "init",
    .usage = init_usage,
    .summary = "Set up a node: state directory, identity, ferry.conf",
    .run = init_run,
};

/* The host name made into a node name: lower case, other characters
 * turned into '-', no leading '.' or '-'; "node" if nothing is left. */
static void
default_name(char out[FERRY_NODE_MAX + 1])
{
	char host[256];
	size_t i, n = 0;
	int ch;

	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0' && n < FERRY_NODE_MAX; i++) {
		ch = tolower((unsigned char)host[i]);
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.'))
			ch = '-';
		if (n == 0 && (ch == '-' || ch == '.'))
			continue;
		out[n++] = (char)ch;
	}
	out[n] = '\0';
	if (!ferry_node_name_valid(out))
		snprintf(out, FERRY_NODE_MAX + 1, "node");
}

/* Write text to path through path.tmp; keep an old path as path.bak. */
/*
 * A system service keeps its state in /var/lib/ferry and its socket where
 * ferry looks for a system agent, /run/ferry/ferry.sock: set it in the
 * text (the line is the same length or shorter, so it fits in place).
 */
static void
system_socket(char *text)
{
	static const char want[] = "socket = /run/ferry/ferry.sock";
	char *line = strstr(text, "\n#socket = ");
	char *end;

	if (line == NULL)
		return;
	line++;
	end = strchr(line, '\n');
	if (end == NULL || (size_t)(end - line) < sizeof(want) - 1)
		return;
	memcpy(line, want, sizeof(want) - 1);
	memset(line + sizeof(want) - 1, ' ',
	       (size_t)(end - line) - (sizeof(want) - 1));
}

static int
write_conf(struct cli_ctx *ctx, const char *dir, const char *path,
	   const char *text, int replace)
{
	char tmp[PATH_MAX + 32], bak[PATH_MAX + 32];
	int fd, err, n, ret = CLI_EXIT_ERROR;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp) ||
	    snprintf(bak, sizeof(bak), "%s.bak", path) != n) {
		cli_warn(ctx, "%s: path too long", path);
		return CLI_EXIT_ERROR;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		err = errno;
		cli_warn(ctx, "cannot create %s: %s", tmp, strerror(err));
		return cli_errno_exit(err);
	}
	if (ferry_write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
		cli_warn(ctx, "cannot write %s: %s", tmp, strerror(errno));
		(void)close(fd);
		goto out;
	}
	if (close(fd) != 0) {
		cli_warn(ctx, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (replace) {
		if (unlink(bak) != 0 && errno != ENOENT) {
			cli_warn(ctx, "cannot remove %s: %s", bak,
				 strerror(errno));
			goto out;
		}
		if (link(path, bak) != 0 && errno != ENOENT) {
			cli_warn(ctx, "cannot keep %s as %s: %s", path, bak,
				 strerror(errno));
			goto out;
		}
	}
	if (rename(tmp, path) != 0) {
		cli_warn(ctx, "cannot rename %s to %s: %s", tmp, path,
			 strerror(errno));
		goto out;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		cli_warn(ctx, "cannot sync %s: %s", dir, strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		return CLI_EXIT_ERROR;
	}
	(void)close(fd);
	return CLI_EXIT_OK;
out:
	(void)unlink(tmp);
	return ret;
}

/*
 * After init: read the config back the way ferryd will, to name the
 * node it really sets up and the socket the agent will listen on.
 */
static void
print_next_steps(struct cli_ctx *ctx, const char *conf)
{
	struct policy p;
	char err[512];
	const char *def;

	policy_init(&p);
	if (policy_load(conf, &p, err, sizeof(err)) != 0) {
		cli_warn(ctx, "%s", err);
		cli_warn(ctx, "fix it, then start the agent: ferryd -c %s",
			 conf);
		return;
	}
	printf("\nnode %s is ready.  Next, start the agent:\n"
	       "  ferryd -c %s\n"
	       "then check it with: ferry info\n",
	       p.node_name, conf);
	def = ferry_default_socket();
	if (def == NULL || strcmp(def, p.socket_path) != 0)
		printf("Its socket will be %s; point ferry at it with:\n"
		       "  export FERRY_SOCKET=%s\n",
		       p.socket_path, p.socket_path);
	printf("Peers list this node in their ferry.conf by its card.\n");
	policy_cleanup(&p);
}

static int
init_run(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"name", 1, NULL, 'n'},
	    {"dir", 1, NULL, 'd'},
	    {"force-config", 0, NULL, CLI_OPT_FORCE_CONFIG},
	    {"help", 0, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *cmd = &cli_cmd_init;
	char given[PATH_MAX], dir[PATH_MAX], conf[PATH_MAX + 16];
	char name[FERRY_NODE_MAX + 1], card[CLI_CARD_MAX], fpr[CLI_FPR_MAX];
	const char *opt_dir = NULL, *opt_name = NULL;
	int ch, force = 0, made_dir, created, exists, ret;
	char *text = NULL;
	struct stat st;

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, ":n:d:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			opt_name = optarg;
			break;
		case 'd':
			opt_dir = optarg;
			break;
		case CLI_OPT_FORCE_CONFIG:
			force = 1;
			break;
		case 'h':
			return cli_help(cmd);
		default:
			return cli_bad_option(cmd, argv, ch);
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'",
				       argv[optind]);
	if (opt_name != NULL) {
		if (!ferry_node_name_valid(opt_name))
			return cli_usage_error(
			    cmd,
			    "'%s' is not a node name: 1 to %d of a-z 0-9 - "
			    "_ . , not starting with - or .",
			    opt_name, FERRY_NODE_MAX);
		snprintf(name, sizeof(name), "%s", opt_name);
	} else {
		default_name(name);
	}
	if (cli_state_dir(opt_dir, given, sizeof(given)) != 0) {
		cli_warn(ctx, "no state directory: give one with --dir DIR");
		return CLI_EXIT_USAGE;
	}

	/* The directory: made 0700, then named absolutely, because the
	 * config records it and ferryd may start elsewhere. */
	if (cli_mkdir_p(given, &made_dir) != 0) {
		ret = cli_errno_exit(errno);
		cli_warn(ctx, "cannot create %s: %s", given, strerror(errno));
		return ret;
	}
	if (realpath(given, dir) == NULL) {
		ret = cli_errno_exit(errno);
		cli_warn(ctx, "%s: %s", given, strerror(errno));
		return ret;
	}
	if (made_dir)
		printf("created %s (mode 0700)\n", dir);
	else if (stat(dir, &st) == 0 && (st.st_mode & 077) != 0)
		cli_warn(ctx,
			 "%s is open to other users (mode %03o); "
			 "consider: chmod 700 %s",
			 dir, (unsigned)(st.st_mode & 0777), dir);

	ret = keygen_identity(ctx, dir, &created, card, fpr);
	if (ret != CLI_EXIT_OK)
		return ret;
	if (created)
		printf("created %s/identity/secret (mode 0600: keep it secret, "
		       "back it up)\n",
		       dir);
	else
		printf("kept the identity in %s/identity/secret\n", dir);

	snprintf(conf, sizeof(conf), "%s/ferry.conf", dir);
	exists = lstat(conf, &st) == 0;
	if (exists && !force) {
		printf("kept %s (--force-config replaces it)\n", conf);
		if (opt_name != NULL)
			cli_warn(ctx,
				 "--name %s is not applied to the kept "
				 "ferry.conf",
				 opt_name);
	} else {
		text = policy_default_conf(name, dir);
		if (text == NULL) {
			cli_warn(ctx,
				 "cannot write a config for node '%s' in "
				 "%s (a directory name with control "
				 "characters or ';'?)",
				 name, dir);
			return CLI_EXIT_ERROR;
		}
		if (strcmp(dir, "/var/lib/ferry") == 0)
			system_socket(text);
		ret = write_conf(ctx, dir, conf, text, exists);
		free(text);
		if (ret != CLI_EXIT_OK)
			return ret;
		if (exists)
			printf("replaced %s (the old one is %s.bak)\n", conf,
			       conf);
		else
			printf("created %s for node %s\n", conf, name);
	}

	printf("\ncard         %s\nfingerprint  %s\n", card, fpr);
	print_next_steps(ctx, conf);
	return CLI_EXIT_OK;
}
