/*
 * info.c - `ferry info`: who this node is (name, card, fingerprint) and
 * what it holds, as ferryd reports it.
 *
 * info_print() is shared with `ferry status` without an id, which shows
 * the counters only.
 */
#include "config.h"

#include "cli/cli.h"
#include "transports/base32.h"
#include "transports/identity.h"

static int info_run(struct cli_ctx *ctx, int argc, char **argv);

static const char info_usage[] =
    "ferry info [--json]\n"
    "\n"
    "      --json         one JSON object\n"
    "      --socket PATH  ferryd's control socket\n"
    "  -h, --help         this help\n";

const struct cli_cmd cli_cmd_info = {
    .name = "info",
    .usage = info_usage,
    .summary = "Show the node's name, card, fingerprint and counters",
    .run = info_run,
};

void
info_print(const struct cli_ctx *ctx, const struct ferry_node_info *ni,
	   int json, int full)
{
	char bytes[CLI_FMT_MAX], out_bytes[CLI_FMT_MAX], hop_key[64] = "";
	char err[128];
	uint8_t sign_pk[IDENTITY_PK_LEN], kx_pk[IDENTITY_PK_LEN];
	struct cli_json j;

	/* The X25519 key peers see in the handshake, in the form ferryd
	 * logs when it refuses an unknown one. */
	if (identity_card_parse(ni->card, sign_pk, kx_pk, err, sizeof(err)) !=
		0 ||
	    base32_encode(kx_pk, sizeof(kx_pk), hop_key, sizeof(hop_key)) < 0)
		snprintf(hop_key, sizeof(hop_key), "?");

	if (json) {
		cli_json_begin(&j, stdout);
		cli_json_str(&j, "node", ni->node);
		if (full) {
			cli_json_str(&j, "fingerprint", ni->fingerprint);
			cli_json_str(&j, "card", ni->card);
			cli_json_str(&j, "hop_key", hop_key);
			cli_json_u64(&j, "protocol", ni->version);
			cli_json_str(&j, "version", PACKAGE_VERSION);
			cli_json_str(&j, "socket", cli_socket_path(ctx));
		}
		cli_json_u64(&j, "messages", ni->msgs);
		cli_json_u64(&j, "bytes", ni->bytes);
		cli_json_u64(&j, "outbound_messages", ni->out_msgs);
		cli_json_u64(&j, "outbound_bytes", ni->out_bytes);
		cli_json_end(&j);
		return;
	}
	cli_format_size(ni->bytes, bytes);
	cli_format_size(ni->out_bytes, out_bytes);
	printf("node         %s\n", ni->node);
	if (full) {
		printf("fingerprint  %s\n", ni->fingerprint);
		printf("card         %s\n", ni->card);
		printf("hop key      %s\n", hop_key);
		printf("protocol     %lu\n", (unsigned long)ni->version);
		printf("version      ferry %s\n", PACKAGE_VERSION);
		printf("socket       %s\n", cli_socket_path(ctx));
	}
	printf("stored       %llu message%s, %s\n",
	       (unsigned long long)ni->msgs, ni->msgs == 1 ? "" : "s", bytes);
	printf("outbound     %llu message%s, %s\n",
	       (unsigned long long)ni->out_msgs, ni->out_msgs == 1 ? "" : "s",
	       out_bytes);
}

static int
info_run(struct cli_ctx *ctx, int argc, char **argv)
{
	struct ferry_node_info ni;
	struct ferry *c = NULL;
	int json = 0, rc, ret;

	ret = cli_plain_options(ctx, &cli_cmd_info, argc, argv, &json);
	if (ret >= 0)
		return ret;
	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK)
		return ret;
	rc = ferry_info(c, &ni);
	if (rc != 0)
		ret = cli_fail(ctx, c, rc, "cannot ask ferryd who it is");
	else
		info_print(ctx, &ni, json, 1);
	ferry_close(c);
	return ret;
}
