/*
 * peers.c - `ferry peers`: every [peer] of the node with the state of its
 * TCP session, traffic counters and what waits for it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int peers_run(struct cli_ctx *ctx, int argc, char **argv);

static const char peers_usage[] =
    "ferry peers [--json]\n"
    "\n"
    "      --json         {\"peers\":[...]}, one object per peer\n"
    "      --socket PATH  ferryd's control socket\n"
    "  -h, --help         this help\n"
    "\n"
    "For each [peer] of ferry.conf: connected or not (and who\n"
    "dialed), last seen, next dial, bytes each way, messages\n"
    "handed over each way, and messages and bytes queued for it.\n";

const struct cli_cmd cli_cmd_peers = {
    .name = "peers",
    .usage = peers_usage,
    .summary = "Show the peers and their sessions (TCP, HTTP)",
    .run = peers_run,
};

struct peer_list {
	struct ferry_peer_info *p;
	size_t n, cap;
	int oom;
};

static int
collect_peer(const struct ferry_peer_info *p, void *arg)
{
	struct peer_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap != 0 ? l->cap * 2 : 8;
		struct ferry_peer_info *g;
		if (cap > SIZE_MAX / sizeof(*l->p) ||
		    (g = realloc(l->p, cap * sizeof(*l->p))) == NULL) {
			l->oom = 1;
			return FERRY_ENOMEM;
		}
		l->p = g;
		l->cap = cap;
	}
	l->p[l->n++] = *p;
	return 0;
}

static const char *
state_name(int connected)
{
	return connected == 1	? "connected (dialed)"
	       : connected == 2 ? "connected (accepted)"
				: "not connected";
}

static void
print_json(const struct peer_list *l)
{
	struct cli_json j;

	cli_json_begin(&j, stdout);
	cli_json_array(&j, "peers");
	for (size_t i = 0; i < l->n; i++) {
		const struct ferry_peer_info *p = &l->p[i];
		cli_json_object(&j, NULL);
		cli_json_str(&j, "peer", p->name);
		cli_json_str(&j, "fingerprint", p->fingerprint);
		cli_json_bool(&j, "connected", p->connected != 0);
		if (p->connected)
			cli_json_str(&j, "dialed_by",
				     p->connected == 1 ? "us" : "peer");
		if (p->via[0] != '\0')
			cli_json_str(&j, "via", p->via);
		if (p->addr[0] != '\0')
			cli_json_str(&j, "address", p->addr);
		if (p->since_ms != 0)
			cli_json_time(&j, "since", p->since_ms);
		if (p->last_seen_ms != 0)
			cli_json_time(&j, "last_seen", p->last_seen_ms);
		if (p->next_retry_ms != 0)
			cli_json_time(&j, "next_retry", p->next_retry_ms);
		cli_json_u64(&j, "bytes_in", p->bytes_in);
		cli_json_u64(&j, "bytes_out", p->bytes_out);
		cli_json_u64(&j, "messages_in", p->msgs_in);
		cli_json_u64(&j, "messages_out", p->msgs_out);
		cli_json_u64(&j, "queued_messages", p->queued_msgs);
		cli_json_u64(&j, "queued_bytes", p->queued_bytes);
		if (p->last_error[0] != '\0')
			cli_json_str(&j, "last_error", p->last_error);
		cli_json_close(&j);
	}
	cli_json_end(&j);
}

static void
print_text(const struct peer_list *l)
{
	char a[CLI_FMT_MAX], b[CLI_FMT_MAX];

	if (l->n == 0) {
		printf("no peers ([peer NAME] sections of ferry.conf)\n");
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct ferry_peer_info *p = &l->p[i];
		printf("%s%s  %s\n", i > 0 ? "\n" : "", p->name,
		       p->fingerprint);
		printf("  state       %s", state_name(p->connected));
		if (p->via[0] != '\0')
			printf(" over %s", p->via);
		if (p->addr[0] != '\0')
			printf(" %s", p->addr);
		if (p->since_ms != 0) {
			cli_format_when(p->since_ms, a);
			printf(" since %s", a);
		}
		printf("\n");
		cli_format_when(p->last_seen_ms, a);
		printf("  last seen   %s\n", p->last_seen_ms ? a : "never");
		if (!p->connected) {
			cli_format_when(p->next_retry_ms, a);
			if (p->next_retry_ms != 0)
				printf("  next dial   %s\n", a);
			else if (p->queued_msgs > 0)
				printf("  next dial   none: waits for %s to "
				       "call (this node does not dial it)\n",
				       p->name);
			else
				printf("  next dial   none planned (nothing "
				       "waits, or it dials us)\n");
		}
		cli_format_size(p->bytes_in, a);
		cli_format_size(p->bytes_out, b);
		printf("  traffic     %s in, %s out; messages %llu in, %llu "
		       "out\n",
		       a, b, (unsigned long long)p->msgs_in,
		       (unsigned long long)p->msgs_out);
		cli_format_size(p->queued_bytes, a);
		printf("  queued      %llu messages, %s\n",
		       (unsigned long long)p->queued_msgs, a);
		if (p->last_error[0] != '\0')
			printf("  last event  %s\n", p->last_error);
	}
}

static int
peers_run(struct cli_ctx *ctx, int argc, char **argv)
{
	struct peer_list l = {NULL, 0, 0, 0};
	struct ferry *c = NULL;
	int json = 0, rc, ret;

	ret = cli_plain_options(ctx, &cli_cmd_peers, argc, argv, &json);
	if (ret >= 0)
		return ret;
	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK)
		return ret;
	rc = ferry_peers(c, collect_peer, &l);
	if (rc != 0) {
		if (l.oom) {
			cli_warn(ctx, "out of memory");
			ret = CLI_EXIT_ERROR;
		} else
			ret = cli_fail(ctx, c, rc, "cannot list the peers");
		goto out;
	}
	if (json)
		print_json(&l);
	else
		print_text(&l);
	ret = cli_flush_stdout(ctx);
out:
	free(l.p);
	ferry_close(c);
	return ret;
}
