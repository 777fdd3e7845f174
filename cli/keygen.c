/*
 * keygen.c - `ferry keygen`: make sure the node has an identity and show
 * its public card and fingerprint.
 *
 * Works on the state directory directly (transports/identity.h), without
 * ferryd.  An existing secret is never replaced: identity_generate()
 * refuses, and we only read it.  keygen_identity() is shared with init.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>

#include "cli/cli.h"
#include "transports/identity.h"

_Static_assert(IDENTITY_CARD_MAX <= CLI_CARD_MAX, "CLI_CARD_MAX");
_Static_assert(IDENTITY_FPR_LEN + 1 <= CLI_FPR_MAX, "CLI_FPR_MAX");

static int keygen_run(struct cli_ctx *ctx, int argc, char **argv);

static const char keygen_usage[] =
    "ferry keygen [--dir DIR] [--json]\n"
    "\n"
    "  -d, --dir DIR  the state directory (default:\n"
    "                 $XDG_STATE_HOME/ferry, else\n"
    "                 ~/.local/state/ferry; for root\n"
    "                 /var/lib/ferry)\n"
    "      --json     one JSON object: dir, secret, created,\n"
    "                 card, fingerprint\n"
    "  -h, --help     this help\n"
    "\n"
    "An existing identity is kept and shown, never replaced.\n";

const struct cli_cmd cli_cmd_keygen = {
    .name = "keygen",
    .usage = keygen_usage,
    .summary = "Create the node's identity if missing; show its card",
    .run = keygen_run,
};

int
keygen_identity(const struct cli_ctx *ctx, const char *dir, int *created,
		char card[CLI_CARD_MAX], char fpr[CLI_FPR_MAX])
{
	struct identity *id = NULL;
	char err[512];
	int rc;

	*created = 0;
	rc = identity_generate(dir);
	if (rc == 0)
		*created = 1;
	else if (rc != FERRY_EBUSY)
		return cli_fail(ctx, NULL, rc,
				"cannot create the identity in %s", dir);
	err[0] = '\0';
	rc = identity_load(dir, &id, err, sizeof(err));
	if (rc != 0) {
		if (err[0] != '\0')
			cli_warn(ctx, "%s", err);
		else
			(void)cli_fail(ctx, NULL, rc,
				       "cannot load the identity in %s", dir);
		return cli_exit_code(rc);
	}
	rc = identity_card(id, card, CLI_CARD_MAX);
	if (rc == 0)
		identity_fingerprint(identity_sign_pk(id), identity_kx_pk(id),
				     fpr);
	identity_free(id);
	if (rc != 0)
		return cli_fail(ctx, NULL, rc, "cannot write the card");
	return CLI_EXIT_OK;
}

static int
keygen_run(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dir", 1, NULL, 'd'},
	    {"json", 0, NULL, CLI_OPT_JSON},
	    {"help", 0, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *cmd = &cli_cmd_keygen;
	char dir[PATH_MAX], secret[PATH_MAX + 32];
	char card[CLI_CARD_MAX], fpr[CLI_FPR_MAX];
	const char *opt_dir = NULL;
	int ch, json = 0, made_dir, created, ret;
	struct cli_json j;

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, ":d:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			opt_dir = optarg;
			break;
		case CLI_OPT_JSON:
			json = 1;
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
	if (cli_state_dir(opt_dir, dir, sizeof(dir)) != 0) {
		cli_warn(ctx, "no state directory: give one with --dir DIR");
		return CLI_EXIT_USAGE;
	}
	if (cli_mkdir_p(dir, &made_dir) != 0) {
		cli_warn(ctx, "cannot create %s: %s", dir, strerror(errno));
		return cli_errno_exit(errno);
	}
	ret = keygen_identity(ctx, dir, &created, card, fpr);
	if (ret != CLI_EXIT_OK)
		return ret;
	snprintf(secret, sizeof(secret), "%s/identity/secret", dir);
	if (json) {
		cli_json_begin(&j, stdout);
		cli_json_str(&j, "dir", dir);
		cli_json_str(&j, "secret", secret);
		cli_json_bool(&j, "created", created);
		cli_json_str(&j, "card", card);
		cli_json_str(&j, "fingerprint", fpr);
		cli_json_end(&j);
	} else {
		if (created)
			printf("created identity %s (keep it secret; back it "
			       "up)\n",
			       secret);
		else
			printf("identity exists: %s (kept)\n", secret);
		printf("card         %s\n", card);
		printf("fingerprint  %s\n", fpr);
	}
	return CLI_EXIT_OK;
}
