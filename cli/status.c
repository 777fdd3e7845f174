/*
 * status.c - `ferry status [ID]`: where one message is, as far as this
 * node knows, or without an id the node's counters.
 *
 * The answer is one word for scripts (JSON "status") and one sentence for
 * people: queued in Q, leased until T, outbound waiting, in flight to P
 * since T, handed to P at T, acked at T, purged at T, dead (why), dead
 * (why) and removed from dead at T, or unknown.  Unknown is an answer, not an
 * error: exit status 0.
 *
 * With --partials: the payloads being streamed in or left by a cut stream
 * (id, bytes so far, age), so a send killed half-way is not invisible
 * until partial_idle drops it.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int status_run(struct cli_ctx *ctx, int argc, char **argv);

static const char status_usage[] =
    "ferry status [ID] [--json]\n"
    "ferry status --partials [--json]\n"
    "\n"
    "      --partials     the payloads being received, or left by\n"
    "                     a cut send: id, bytes so far, age (a\n"
    "                     send with the same --id resumes one)\n"
    "      --json         one JSON object\n"
    "      --socket PATH  ferryd's control socket\n"
    "  -h, --help         this help\n"
    "\n"
    "Without ID: how many messages the node stores and has\n"
    "outbound.\n";

static int why_run(struct cli_ctx *ctx, int argc, char **argv);

static const char why_usage[] =
    "ferry why ID [--json]\n"
    "\n"
    "      --json         one JSON object\n"
    "      --socket PATH  ferryd's control socket\n"
    "  -h, --help         this help\n"
    "\n"
    "One line saying why the message waits at this node: no route\n"
    "to its node, its next hop unreachable (and the last error),\n"
    "outside the next hop's contact window (next at T), on a medium\n"
    "since T, in a queue waiting for a receiver.  A message that does\n"
    "not wait here: what ferry status says.\n";

static int track_run(struct cli_ctx *ctx, int argc, char **argv);

static const char track_usage[] =
    "ferry track ID [--json]\n"
    "\n"
    "      --json         one JSON object\n"
    "      --socket PATH  ferryd's control socket\n"
    "  -h, --help         this help\n"
    "\n"
    "Where a message went, hop by hop, as this node (its source) heard:\n"
    "handed to the first relay, custody taken by each relay and put on a\n"
    "medium there (for a message sent with --track), queued and acked\n"
    "at its destination (with --receipt or --track).\n";

const struct cli_cmd cli_cmd_track = {
    .name = "track",
    .usage = track_usage,
    .summary = "Show a message's way, hop by hop",
    .run = track_run,
};

const struct cli_cmd cli_cmd_why = {
    .name = "why",
    .usage = why_usage,
    .summary = "Say why a message waits here",
    .run = why_run,
};

const struct cli_cmd cli_cmd_status = {
    .name = "status",
    .usage = status_usage,
    .summary = "Show where a message is, or the node's counters",
    .run = status_run,
};

/* The one-word status of st (JSON "status"). */
static const char *
status_word(const struct ferry_status *st)
{
	switch (st->kind) {
	case FERRY_STATUS_PRESENT:
		if (st->info.dead_reason != 0)
			return "dead";
		switch (st->info.state) {
		case FERRY_STATE_QUEUED:
			return "queued";
		case FERRY_STATE_LEASED:
			return "leased";
		case FERRY_STATE_OUTBOUND:
			return "outbound";
		case FERRY_STATE_INFLIGHT:
			return "inflight";
		}
		return ferry_state_name(st->info.state);
	case FERRY_STATUS_ACKED:
		return "acked";
	case FERRY_STATUS_HANDED:
		return "handed";
	case FERRY_STATUS_PURGED:
		return "purged";
	case FERRY_STATUS_DEAD_REMOVED:
		return "dead";
	default:
		return "unknown";
	}
}

/* The sentence of st, after "ID: ". */
static void
status_sentence(const struct ferry_status *st, char *out, size_t cap)
{
	const struct ferry_msg_info *i = &st->info;
	char at[CLI_FMT_MAX], until[CLI_FMT_MAX];

	cli_format_when(st->at_ms, at);
	cli_format_when(i->lease_until_ms, until);
	switch (st->kind) {
	case FERRY_STATUS_PRESENT:
		if (i->dead_reason != 0) {
			cli_format_when(i->dead_ms, at);
			snprintf(out, cap, "dead in %s since %s: %s", i->queue,
				 at, ferry_dead_reason_name(i->dead_reason));
			return;
		}
		switch (i->state) {
		case FERRY_STATE_QUEUED:
			snprintf(out, cap, "queued in %s", i->queue);
			return;
		case FERRY_STATE_LEASED:
			snprintf(out, cap, "leased in %s until %s", i->queue,
				 until);
			return;
		case FERRY_STATE_OUTBOUND:
			if (st->medium_ms != 0) {
				const char *sp = strchr(st->medium, ' ');
				char since[CLI_FMT_MAX];
				cli_format_when(st->medium_ms, since);
				snprintf(out, cap,
					 "outbound to %s, on medium %s since "
					 "%s (waiting for custody)",
					 i->msg.dst_node,
					 sp != NULL ? sp + 1 : st->medium,
					 since);
				return;
			}
			snprintf(out, cap, "outbound to %s, waiting for a hop",
				 i->msg.dst_node);
			return;
		case FERRY_STATE_INFLIGHT:
			if (st->at_ms != 0)
				snprintf(out, cap, "in flight to %s since %s",
					 st->peer[0] != '\0' ? st->peer : "?",
					 at);
			else
				snprintf(out, cap, "in flight to %s",
					 st->peer[0] != '\0' ? st->peer : "?");
			return;
		}
		snprintf(out, cap, "%s", ferry_state_name(i->state));
		return;
	case FERRY_STATUS_ACKED:
		snprintf(out, cap, "acked at %s", at);
		return;
	case FERRY_STATUS_HANDED:
		snprintf(out, cap, "handed to %s at %s",
			 st->peer[0] != '\0' ? st->peer : "?", at);
		return;
	case FERRY_STATUS_PURGED:
		snprintf(out, cap, "purged at %s", at);
		return;
	case FERRY_STATUS_DEAD_REMOVED:
		cli_format_when(i->dead_ms, until);
		snprintf(out, cap,
			 "dead since %s: %s; removed from dead at %s (never "
			 "delivered)",
			 until, ferry_dead_reason_name(i->dead_reason), at);
		return;
	default:
		snprintf(out, cap, "unknown here (never seen, or forgotten)");
	}
}

static void
status_print(const struct ferry_status *st, const char *hex, int json)
{
	const struct ferry_msg_info *i = &st->info;
	char line[512], when[CLI_FMT_MAX], size[CLI_FMT_MAX];
	char flags[CLI_FMT_MAX];
	struct cli_json j;

	if (json) {
		cli_json_begin(&j, stdout);
		cli_json_str(&j, "id", hex);
		cli_json_str(&j, "status", status_word(st));
		cli_json_time(&j, "at", st->at_ms);
		if (st->peer[0] != '\0')
			cli_json_str(&j, "peer", st->peer);
		else
			cli_json_null(&j, "peer");
		if (st->medium_ms != 0) {
			const char *sp = strchr(st->medium, ' ');
			cli_json_str(&j, "medium", sp != NULL ? sp + 1 : "");
			cli_json_time(&j, "medium_at", st->medium_ms);
		}
		if (st->kind == FERRY_STATUS_DEAD_REMOVED) {
			cli_json_str(&j, "dead_reason",
				     ferry_dead_reason_name(i->dead_reason));
			cli_json_time(&j, "dead_at", i->dead_ms);
		}
		if (st->nreceipts > 0) {
			cli_json_array(&j, "receipts");
			for (size_t k = 0; k < st->nreceipts; k++) {
				cli_json_object(&j, NULL);
				cli_json_str(&j, "event",
					     st->receipts[k].event);
				cli_json_str(&j, "node", st->receipts[k].node);
				cli_json_time(&j, "at", st->receipts[k].at_ms);
				cli_json_close(&j);
			}
			cli_json_close(&j);
		}
		if (st->kind == FERRY_STATUS_PRESENT) {
			cli_json_time(&j, "stored", i->stored_ms);
			if (i->state == FERRY_STATE_LEASED)
				cli_json_time(&j, "lease_until",
					      i->lease_until_ms);
			cli_json_object(&j, "message");
			cli_json_msg_info(&j, i, 0);
			cli_json_close(&j);
		}
		cli_json_end(&j);
		return;
	}
	status_sentence(st, line, sizeof(line));
	printf("%s: %s\n", hex, line);
	for (size_t k = 0; k < st->nreceipts; k++) {
		cli_format_when(st->receipts[k].at_ms, when);
		printf("  receipt     %s at %s, %s\n", st->receipts[k].event,
		       st->receipts[k].node, when);
	}
	if (st->kind != FERRY_STATUS_PRESENT)
		return;
	printf("  to          %s/%s\n", i->msg.dst_node, i->msg.dst_queue);
	printf("  from        %s\n", i->msg.src_node);
	cli_format_size(i->msg.payload_len, size);
	cli_format_flags(i->msg.flags, flags);
	printf("  size        %s\n", size);
	printf("  priority    %u\n", (unsigned)i->msg.priority);
	printf("  flags       %s\n", flags);
	cli_format_when(i->msg.created_ms, when);
	printf("  created     %s\n", when);
	cli_format_when(i->msg.expires_ms, when);
	printf("  expires     %s\n", when);
	printf("  deliveries  %lu\n", (unsigned long)i->deliveries);
	if (i->msg.reply_to[0] != '\0')
		printf("  reply-to    %s\n", i->msg.reply_to);
	if (i->msg.correlation[0] != '\0')
		printf("  correlation %s\n", i->msg.correlation);
	if (i->dead_text[0] != '\0') {
		/* A handler's last lines of standard error: indent each. */
		const char *p = i->dead_text, *nl;
		printf("  dead text\n");
		while (*p != '\0') {
			nl = strchr(p, '\n');
			printf("    %.*s\n",
			       (int)(nl != NULL ? nl - p : (int)strlen(p)), p);
			p = nl != NULL ? nl + 1 : p + strlen(p);
		}
	}
}

struct partials_out {
	struct cli_json j;
	int json;
	size_t n;
	int64_t now_ms;
};

static int
partial_print(const struct ferry_partial_info *p, void *arg)
{
	struct partials_out *po = arg;
	char hex[FERRY_ID_HEX_LEN + 1], size[CLI_FMT_MAX], age[CLI_FMT_MAX];
	char idle[CLI_FMT_MAX];

	ferry_id_to_hex(p->id, hex);
	po->n++;
	if (po->json) {
		cli_json_object(&po->j, NULL);
		cli_json_str(&po->j, "id", hex);
		cli_json_str(&po->j, "dst_node", p->dst_node);
		cli_json_str(&po->j, "dst_queue", p->dst_queue);
		cli_json_str(&po->j, "src_node", p->src_node);
		cli_json_u64(&po->j, "bytes", p->bytes);
		cli_json_time(&po->j, "created", p->created_ms);
		cli_json_time(&po->j, "last_progress", p->last_ms);
		cli_json_i64(&po->j, "age_ms",
			     po->now_ms > p->created_ms
				 ? po->now_ms - p->created_ms
				 : 0);
		cli_json_i64(&po->j, "idle_ms",
			     po->now_ms > p->last_ms ? po->now_ms - p->last_ms
						     : 0);
		cli_json_bool(&po->j, "receiving", p->receiving);
		cli_json_close(&po->j);
		return 0;
	}
	if (po->n == 1)
		printf("%-32s  %10s  %8s  %8s  %s\n", "ID", "SO FAR", "AGE",
		       "IDLE", "TO");
	cli_format_size(p->bytes, size);
	cli_format_duration(po->now_ms - p->created_ms, age);
	if (p->receiving)
		snprintf(idle, sizeof(idle), "%s", "receiving");
	else
		cli_format_duration(po->now_ms - p->last_ms, idle);
	printf("%-32s  %10s  %8s  %8s  %s/%s\n", hex, size, age, idle,
	       p->dst_node, p->dst_queue);
	return 0;
}

static int
partials_run(struct cli_ctx *ctx, struct ferry *c, int json)
{
	struct partials_out po;
	int rc;

	memset(&po, 0, sizeof(po));
	po.json = json;
	po.now_ms = ferry_wall_ms();
	if (json) {
		cli_json_begin(&po.j, stdout);
		cli_json_array(&po.j, "partials");
	}
	rc = ferry_partials(c, partial_print, &po);
	if (rc != 0) {
		if (json)
			printf("\n");
		return cli_fail(ctx, c, rc, "cannot list the partials");
	}
	if (json) {
		cli_json_close(&po.j);
		cli_json_end(&po.j);
	} else if (po.n == 0) {
		printf("no partial payloads\n");
	}
	return cli_flush_stdout(ctx);
}

static int
status_run(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", 0, NULL, CLI_OPT_JSON},
	    {"partials", 0, NULL, CLI_OPT_PARTIALS},
	    {"socket", 1, NULL, CLI_OPT_SOCKET},
	    {"help", 0, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *cmd = &cli_cmd_status;
	int partials = 0;
	struct ferry_node_info ni;
	struct ferry_status st;
	struct ferry *c = NULL;
	uint8_t id[FERRY_ID_LEN];
	const char *hex = NULL;
	int ch, json = 0, rc, ret;

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case CLI_OPT_JSON:
			json = 1;
			break;
		case CLI_OPT_PARTIALS:
			partials = 1;
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
	if (optind < argc) {
		hex = argv[optind++];
		if (cli_parse_id(cmd, hex, id) != 0)
			return CLI_EXIT_USAGE;
	}
	if (optind < argc)
		return cli_usage_error(cmd,
				       "one ID at a time ('%s' is one too "
				       "many)",
				       argv[optind]);
	if (partials && hex != NULL)
		return cli_usage_error(cmd, "--partials takes no ID");

	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK)
		return ret;
	if (partials) {
		ret = partials_run(ctx, c, json);
	} else if (hex == NULL) {
		rc = ferry_info(c, &ni);
		if (rc != 0)
			ret = cli_fail(ctx, c, rc,
				       "cannot ask for the "
				       "node's counters");
		else
			info_print(ctx, &ni, json, 0);
	} else {
		memset(&st, 0, sizeof(st));
		rc = ferry_status(c, id, &st);
		if (rc == FERRY_ENOTFOUND) {
			/* Some agents may say "not found" for unknown. */
			memset(&st, 0, sizeof(st));
			st.kind = FERRY_STATUS_UNKNOWN;
			rc = 0;
		}
		if (rc != 0) {
			ret = cli_fail(ctx, c, rc, "cannot ask about %s", hex);
		} else {
			char lower[FERRY_ID_HEX_LEN + 1];

			ferry_id_to_hex(id, lower);
			status_print(&st, lower, json);
		}
	}
	ferry_close(c);
	return ret;
}

/* `ferry why|track ID [--json] [--socket PATH]`: the id into id, --json
 * into *json; 1 to go on, or 0 to exit with *code (help, a usage
 * error). */
static int
one_id_args(struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc,
	    char **argv, uint8_t id[FERRY_ID_LEN], int *json, int *code)
{
	*json = 0;
	*code = cli_plain_getopt(ctx, cmd, argc, argv, json);
	if (*code >= 0)
		return 0;
	if (optind + 1 != argc) {
		*code = cli_usage_error(cmd, "give one message ID");
		return 0;
	}
	if (cli_parse_id(cmd, argv[optind], id) != 0) {
		*code = CLI_EXIT_USAGE;
		return 0;
	}
	return 1;
}

static int
why_run(struct cli_ctx *ctx, int argc, char **argv)
{
	struct ferry_status st;
	struct ferry *c = NULL;
	uint8_t id[FERRY_ID_LEN];
	char why[512], lower[FERRY_ID_HEX_LEN + 1];
	int json = 0, rc, ret;

	if (!one_id_args(ctx, &cli_cmd_why, argc, argv, id, &json, &ret))
		return ret;
	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK)
		return ret;
	rc = ferry_why(c, id, why, sizeof(why));
	if (rc == 0 && why[0] == '\0') {
		/* It does not wait here: say where it is. */
		memset(&st, 0, sizeof(st));
		rc = ferry_status(c, id, &st);
		if (rc == FERRY_ENOTFOUND) {
			memset(&st, 0, sizeof(st));
			st.kind = FERRY_STATUS_UNKNOWN;
			rc = 0;
		}
		if (rc == 0) {
			ferry_id_to_hex(id, lower);
			status_print(&st, lower, json);
		}
	} else if (rc == 0) {
		ferry_id_to_hex(id, lower);
		if (json) {
			struct cli_json j;
			cli_json_begin(&j, stdout);
			cli_json_str(&j, "id", lower);
			cli_json_str(&j, "why", why);
			cli_json_end(&j);
		} else {
			printf("%s: %s\n", lower, why);
		}
	}
	if (rc != 0)
		ret = cli_fail(ctx, c, rc, "cannot ask about %s", argv[optind]);
	ferry_close(c);
	return ret;
}

static int
track_run(struct cli_ctx *ctx, int argc, char **argv)
{
	struct ferry_receipt hops[FERRY_TRACK_MAX];
	struct ferry_status st;
	struct ferry *c = NULL;
	uint8_t id[FERRY_ID_LEN];
	char lower[FERRY_ID_HEX_LEN + 1], when[CLI_FMT_MAX];
	size_t n = 0;
	int json = 0, rc, ret;

	if (!one_id_args(ctx, &cli_cmd_track, argc, argv, id, &json, &ret))
		return ret;
	ret = cli_connect(ctx, &c);
	if (ret != CLI_EXIT_OK)
		return ret;
	memset(&st, 0, sizeof(st));
	rc = ferry_track(c, id, &st, hops, FERRY_TRACK_MAX, &n);
	if (rc == FERRY_ENOTFOUND) {
		memset(&st, 0, sizeof(st));
		st.kind = FERRY_STATUS_UNKNOWN;
		rc = 0;
	}
	if (rc != 0) {
		ret = cli_fail(ctx, c, rc, "cannot ask about %s", argv[optind]);
		ferry_close(c);
		return ret;
	}
	ferry_id_to_hex(id, lower);
	if (json) {
		struct cli_json j;
		cli_json_begin(&j, stdout);
		cli_json_str(&j, "id", lower);
		cli_json_str(&j, "status", status_word(&st));
		if (st.peer[0] != '\0')
			cli_json_str(&j, "handed_to", st.peer);
		cli_json_array(&j, "hops");
		for (size_t i = 0; i < n; i++) {
			cli_json_object(&j, NULL);
			cli_json_str(&j, "event", hops[i].event);
			cli_json_str(&j, "node", hops[i].node);
			cli_json_time(&j, "at", hops[i].at_ms);
			cli_json_close(&j);
		}
		cli_json_close(&j);
		cli_json_end(&j);
	} else {
		status_print(&st, lower, 0);
		for (size_t i = 0; i < n; i++) {
			cli_format_when(hops[i].at_ms, when);
			printf("  %-8s at %s, %s\n", hops[i].event,
			       hops[i].node, when);
		}
	}
	ferry_close(c);
	return ret;
}
