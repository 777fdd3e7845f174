/*
 * util.c - what the verbs of `ferry` share: usage errors, connecting to
 * ferryd with a message that says what to do next, error reporting and
 * exit codes, human formats (sizes, durations, times), a small JSON
 * writer, base64, the progress bar, and the state directory rules of
 * init and keygen.
 *
 * Owns no state between calls except the progress bar the caller keeps.
 * Does not talk to ferryd beyond ferry_connect(): the verbs do.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "policy/policy.h"

/* ------------------------------------------------------- command line */

/* Length of the synopsis: usage up to its first blank line. */
static size_t
synopsis_len(const char *usage)
{
	const char *blank = strstr(usage, "\n\n");

	return blank != NULL ? (size_t)(blank - usage) : strlen(usage);
}

/* "usage: " and the synopsis, its later lines aligned under the first. */
static void
print_synopsis(FILE *f, const char *usage)
{
	size_t n = synopsis_len(usage), i;

	fputs("usage: ", f);
	for (i = 0; i < n; i++) {
		fputc(usage[i], f);
		if (usage[i] == '\n')
			fputs("       ", f);
	}
	fputc('\n', f);
}

int
cli_help(const struct cli_cmd *cmd)
{
	size_t n = synopsis_len(cmd->usage);

	print_synopsis(stdout, cmd->usage);
	printf("\n%s.\n", cmd->summary);
	if (cmd->usage[n] != '\0')
		printf("\nOptions:\n%s", cmd->usage + n + 2);
	return CLI_EXIT_OK;
}

int
cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ferry %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_synopsis(stderr, cmd->usage);
	fprintf(stderr, "Try 'ferry %s --help'.\n", cmd->name);
	return CLI_EXIT_USAGE;
}

int
cli_bad_option(const struct cli_cmd *cmd, char **argv, int ch)
{
	/* getopt leaves optind just past the word holding the option. */
	const char *word = optind > 0 ? argv[optind - 1] : "?";

	if (ch == ':')
		return cli_usage_error(cmd, "option '%s' needs a value", word);
	if (optopt > 0 && optopt < 256 && (word[0] != '-' || word[1] != '-'))
		return cli_usage_error(cmd, "unknown option '-%c'", optopt);
	return cli_usage_error(cmd, "unknown option '%s'", word);
}

void
cli_getopt_reset(void)
{
	optind = 0;
	opterr = 0;
}

int
cli_plain_getopt(struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc,
		 char **argv, int *json)
{
	static const struct option longopts[] = {
	    {"json", 0, NULL, CLI_OPT_JSON},
	    {"socket", 1, NULL, CLI_OPT_SOCKET},
	    {"help", 0, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	/* Without json, from --socket: --json is an unknown option. */
	const struct option *opts = json != NULL ? longopts : longopts + 1;
	int ch;

	cli_getopt_reset();
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case CLI_OPT_JSON:
			*json = 1;
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
	return -1;
}

int
cli_plain_options(struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc,
		  char **argv, int *json)
{
	int ret = cli_plain_getopt(ctx, cmd, argc, argv, json);

	if (ret < 0 && optind < argc)
		ret = cli_usage_error(cmd, "unexpected argument '%s'",
				      argv[optind]);
	return ret;
}

int
cli_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return FERRY_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return FERRY_EINVAL;
	*out = v;
	return 0;
}

int
cli_parse_duration(const char *s, int64_t unit_ms, int64_t *out_ms)
{
	uint64_t v;

	if (cli_parse_u64(s, &v) == 0) {
		if (v > (uint64_t)INT64_MAX / (uint64_t)unit_ms)
			return FERRY_EINVAL;
		*out_ms = (int64_t)v * unit_ms;
		return 0;
	}
	if (policy_parse_duration_ms(s, out_ms) != 0 || *out_ms < 0)
		return FERRY_EINVAL;
	return 0;
}

int
cli_parse_size(const char *s, uint64_t *out)
{
	if (cli_parse_u64(s, out) == 0)
		return 0;
	if (policy_parse_size(s, out) != 0)
		return FERRY_EINVAL;
	return 0;
}

int
cli_parse_id(const struct cli_cmd *cmd, const char *s, uint8_t id[FERRY_ID_LEN])
{
	if (ferry_id_from_hex(s, id) != 0)
		return cli_usage_error(
		    cmd, "'%s' is not a message id (32 hex digits)", s);
	return 0;
}

/* ---------------------------------------------------- agent and errors */

const char *
cli_socket_path(const struct cli_ctx *ctx)
{
	if (ctx->socket_path != NULL)
		return ctx->socket_path;
	return ferry_default_socket();
}

/*
 * The ferry.conf to suggest when the agent is not running: the one next
 * to the socket if there is one (ferry init puts both in one directory),
 * else the one of the default state directory.  *exists says whether it
 * is there at all, to add "ferry init" to the advice.
 */
static void
guess_conf(const char *socket_path, char *out, size_t cap, int *exists)
{
	const char *slash = strrchr(socket_path, '/');
	struct stat st;
	char dir[PATH_MAX];
	int n;

	*exists = 0;
	if (slash != NULL) {
		n = snprintf(out, cap, "%.*s/ferry.conf",
			     (int)(slash - socket_path), socket_path);
		if (n > 0 && (size_t)n < cap && stat(out, &st) == 0) {
			*exists = 1;
			return;
		}
	}
	if (cli_state_dir(NULL, dir, sizeof(dir)) == 0) {
		n = snprintf(out, cap, "%s/ferry.conf", dir);
		if (n > 0 && (size_t)n < cap) {
			*exists = stat(out, &st) == 0;
			return;
		}
	}
	snprintf(out, cap, "CONF");
}

int
cli_connect(const struct cli_ctx *ctx, struct ferry **out)
{
	const char *path = cli_socket_path(ctx);
	char conf[PATH_MAX + 16];
	int rc, exists;

	*out = NULL;
	rc = ferry_connect(path, out);
	if (rc == 0)
		return 0;
	*out = NULL;
	if (rc == FERRY_EPERM) {
		fprintf(stderr,
			"ferry %s: permission denied on ferryd's socket %s: "
			"run as the agent's user, or join the socket's "
			"group\n",
			ctx->verb, path);
		return CLI_EXIT_PERM;
	}
	if (rc != FERRY_ECONNECT)
		return cli_fail(ctx, NULL, rc, "cannot talk to ferryd at %s",
				path);
	guess_conf(path, conf, sizeof(conf), &exists);
	fprintf(stderr,
		"ferry %s: cannot connect to ferryd at %s: is it running? "
		"start it with: ferryd -c %s\n",
		ctx->verb, path, conf);
	if (!exists)
		fprintf(stderr,
			"ferry %s: no node is set up there yet? create one "
			"with: ferry init\n",
			ctx->verb);
	return CLI_EXIT_CONNECT;
}

int
cli_exit_code(int err)
{
	switch (err) {
	case 0:
		return CLI_EXIT_OK;
	case FERRY_ECONNECT:
		return CLI_EXIT_CONNECT;
	case FERRY_EPERM:
		return CLI_EXIT_PERM;
	case FERRY_ETOOMANY:
		return CLI_EXIT_REFUSED;
	case FERRY_ENOROUTE:
		return CLI_EXIT_NOROUTE;
	default:
		return CLI_EXIT_ERROR;
	}
}

int
cli_fail(const struct cli_ctx *ctx, const struct ferry *c, int err,
	 const char *fmt, ...)
{
	const char *said = c != NULL ? ferry_last_error(c) : "";
	va_list ap;

	/* libferry's words say it all: "ferryd refused the connection:
	 * too many clients from uid N (max_clients_per_user = 64)". */
	if (err == FERRY_ETOOMANY && said != NULL && *said != '\0') {
		fprintf(stderr, "ferry %s: %s\n", ctx->verb, said);
		return cli_exit_code(err);
	}
	fprintf(stderr, "ferry %s: ", ctx->verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	/* The agent's words often repeat ferry_strerror's; say it once. */
	if (said != NULL && *said != '\0' &&
	    strstr(said, ferry_strerror(err)) != NULL)
		fprintf(stderr, " (%s)\n", said);
	else if (said != NULL && *said != '\0')
		fprintf(stderr, " (%s: %s)\n", ferry_strerror(err), said);
	else
		fprintf(stderr, " (%s)\n", ferry_strerror(err));
	return cli_exit_code(err);
}

void
cli_warn(const struct cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ferry %s: ", ctx->verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_flush_stdout(const struct cli_ctx *ctx)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return CLI_EXIT_OK;
	cli_warn(ctx, "cannot write to standard output: %s",
		 errno != 0 ? strerror(errno) : "write error");
	return CLI_EXIT_ERROR;
}

/* ------------------------------------------------------------ formats */

void
cli_format_size(uint64_t bytes, char out[CLI_FMT_MAX])
{
	static const char *const units[] = {"KiB", "MiB", "GiB",
					    "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(out, CLI_FMT_MAX, "%llu B", (unsigned long long)bytes);
		return;
	}
	v /= 1024.0;
	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	snprintf(out, CLI_FMT_MAX, "%.1f %s", v, units[u]);
}

void
cli_format_duration(int64_t ms, char out[CLI_FMT_MAX])
{
	uint64_t v = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	uint64_t s = v / 1000, m = s / 60, h = m / 60, d = h / 24;

	if (v < 1000)
		snprintf(out, CLI_FMT_MAX, "%llums", (unsigned long long)v);
	else if (s < 60)
		snprintf(out, CLI_FMT_MAX, "%llus", (unsigned long long)s);
	else if (m < 60)
		snprintf(out, CLI_FMT_MAX, "%llum %llus", (unsigned long long)m,
			 (unsigned long long)(s % 60));
	else if (h < 24)
		snprintf(out, CLI_FMT_MAX, "%lluh %llum", (unsigned long long)h,
			 (unsigned long long)(m % 60));
	else
		snprintf(out, CLI_FMT_MAX, "%llud %lluh", (unsigned long long)d,
			 (unsigned long long)(h % 24));
}

void
cli_format_time(int64_t ms, char out[CLI_FMT_MAX])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms == 0) {
		snprintf(out, CLI_FMT_MAX, "never");
		return;
	}
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, CLI_FMT_MAX, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, CLI_FMT_MAX, "@%lld ms", (long long)ms);
}

void
cli_format_when(int64_t ms, char out[CLI_FMT_MAX])
{
	char when[CLI_FMT_MAX], rel[CLI_FMT_MAX];
	int64_t now = ferry_wall_ms();

	cli_format_time(ms, when);
	if (ms == 0) {
		snprintf(out, CLI_FMT_MAX, "%s", when);
		return;
	}
	cli_format_duration(ms - now, rel);
	if (ms >= now)
		snprintf(out, CLI_FMT_MAX, "%.40s (in %.24s)", when, rel);
	else
		snprintf(out, CLI_FMT_MAX, "%.40s (%.24s ago)", when, rel);
}

void
cli_format_rfc3339(int64_t ms, char out[CLI_FMT_MAX])
{
	time_t t = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	char base[32];
	struct tm tm;

	if (frac < 0) {
		frac += 1000;
		t -= 1;
	}
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, CLI_FMT_MAX, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(out, CLI_FMT_MAX, "%s.%03dZ", base, frac);
}

void
cli_format_flags(uint32_t flags, char out[CLI_FMT_MAX])
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {{FERRY_MSG_RECEIPT, "receipt"},
		     {FERRY_MSG_TRANSIENT, "transient"},
		     {FERRY_MSG_TRACK, "track"},
		     {FERRY_MSG_SEALED, "sealed"}};
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((flags & names[i].bit) && len < CLI_FMT_MAX) {
			int n = snprintf(out + len, CLI_FMT_MAX - len, "%s%s",
					 len > 0 ? "," : "", names[i].name);
			if (n > 0)
				len += (size_t)n;
		}
	if (out[0] == '\0')
		snprintf(out, CLI_FMT_MAX, "-");
}

/* -------------------------------------------------------------- JSON */

/* Length of the valid UTF-8 sequence at s (RFC 3629), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void
cli_json_escape(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', f);
	while (*p != '\0') {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				fprintf(f, "\\u%04x", *p);
				break;
			}
			n = utf8_len(p);
			if (n == 0) {
				fputs("\\ufffd", f);
				break;
			}
			fwrite(p, 1, n, f);
			p += n - 1;
		}
		p++;
	}
	fputc('"', f);
}

void
cli_json_key(struct cli_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = 0;
	if (key != NULL) {
		cli_json_escape(j->f, key);
		fputc(':', j->f);
	}
}

void
cli_json_begin(struct cli_json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->first[0] = 1;
	fputc('{', f);
}

void
cli_json_end(struct cli_json *j)
{
	while (j->depth > 0)
		cli_json_close(j);
	fputs("}\n", j->f);
}

static void
json_open(struct cli_json *j, const char *key, int c)
{
	cli_json_key(j, key);
	fputc(c, j->f);
	/* Callers nest two or three deep; CLI_JSON_DEPTH is a fence. */
	if (j->depth + 1 < CLI_JSON_DEPTH) {
		j->depth++;
		j->first[j->depth] = 1;
		j->close[j->depth] = c == '[' ? ']' : '}';
	}
}

void
cli_json_object(struct cli_json *j, const char *key)
{
	json_open(j, key, '{');
}

void
cli_json_array(struct cli_json *j, const char *key)
{
	json_open(j, key, '[');
}

void
cli_json_close(struct cli_json *j)
{
	if (j->depth == 0)
		return;
	fputc(j->close[j->depth], j->f);
	j->depth--;
}

void
cli_json_str(struct cli_json *j, const char *key, const char *v)
{
	cli_json_key(j, key);
	cli_json_escape(j->f, v);
}

void
cli_json_u64(struct cli_json *j, const char *key, uint64_t v)
{
	cli_json_key(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void
cli_json_i64(struct cli_json *j, const char *key, int64_t v)
{
	cli_json_key(j, key);
	fprintf(j->f, "%lld", (long long)v);
}

void
cli_json_bool(struct cli_json *j, const char *key, int v)
{
	cli_json_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

void
cli_json_null(struct cli_json *j, const char *key)
{
	cli_json_key(j, key);
	fputs("null", j->f);
}

void
cli_json_time(struct cli_json *j, const char *key, int64_t ms)
{
	char buf[CLI_FMT_MAX];

	if (ms == 0) {
		cli_json_null(j, key);
		return;
	}
	cli_format_rfc3339(ms, buf);
	cli_json_str(j, key, buf);
}

void
cli_json_msg_info(struct cli_json *j, const struct ferry_msg_info *info,
		  int with_token)
{
	char hex[FERRY_ID_HEX_LEN + 1];
	char dst[FERRY_NODE_MAX + FERRY_QUEUE_MAX + 2];
	char token[24];

	ferry_id_to_hex(info->msg.id, hex);
	snprintf(dst, sizeof(dst), "%s/%s", info->msg.dst_node,
		 info->msg.dst_queue);
	cli_json_str(j, "id", hex);
	cli_json_str(j, "src", info->msg.src_node);
	cli_json_str(j, "dst", dst);
	cli_json_str(j, "queue", info->queue);
	cli_json_u64(j, "priority", info->msg.priority);
	cli_json_array(j, "flags");
	if (info->msg.flags & FERRY_MSG_RECEIPT)
		cli_json_str(j, NULL, "receipt");
	if (info->msg.flags & FERRY_MSG_TRANSIENT)
		cli_json_str(j, NULL, "transient");
	if (info->msg.flags & FERRY_MSG_TRACK)
		cli_json_str(j, NULL, "track");
	if (info->msg.flags & FERRY_MSG_SEALED)
		cli_json_str(j, NULL, "sealed");
	cli_json_close(j);
	cli_json_time(j, "created", info->msg.created_ms);
	cli_json_time(j, "expires", info->msg.expires_ms);
	cli_json_u64(j, "size", info->msg.payload_len);
	cli_json_u64(j, "deliveries", info->deliveries);
	if (info->msg.reply_to[0] != '\0')
		cli_json_str(j, "reply_to", info->msg.reply_to);
	else
		cli_json_null(j, "reply_to");
	if (info->msg.correlation[0] != '\0')
		cli_json_str(j, "correlation", info->msg.correlation);
	else
		cli_json_null(j, "correlation");
	if (info->dead_reason != 0) {
		cli_json_str(j, "dead_reason",
			     ferry_dead_reason_name(info->dead_reason));
		cli_json_time(j, "dead_at", info->dead_ms);
		if (info->dead_text[0] != '\0')
			cli_json_str(j, "dead_text", info->dead_text);
	}
	if (with_token) {
		/* A string: JSON numbers lose precision past 2^53. */
		snprintf(token, sizeof(token), "%llu",
			 (unsigned long long)info->token);
		cli_json_str(j, "token", token);
		cli_json_time(j, "lease_until", info->lease_until_ms);
	} else {
		cli_json_null(j, "token");
	}
}

void
cli_base64_write(FILE *f, const uint8_t *data, size_t len)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char out[4];
	size_t i;

	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16 |
			     (uint32_t)data[i + 1] << 8 | data[i + 2];
		out[0] = b64[v >> 18];
		out[1] = b64[(v >> 12) & 63];
		out[2] = b64[(v >> 6) & 63];
		out[3] = b64[v & 63];
		fwrite(out, 1, 4, f);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)data[i] << 16;
		out[0] = b64[v >> 18];
		out[1] = b64[(v >> 12) & 63];
		out[2] = '=';
		out[3] = '=';
		fwrite(out, 1, 4, f);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1]
							   << 8;
		out[0] = b64[v >> 18];
		out[1] = b64[(v >> 12) & 63];
		out[2] = b64[(v >> 6) & 63];
		out[3] = '=';
		fwrite(out, 1, 4, f);
	}
}

/* ----------------------------------------------------------- progress */

#define PROGRESS_EVERY_MS 100
#define PROGRESS_BAR	  24

void
cli_progress_init(struct cli_progress *p, const char *what, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO);
	p->what = what;
	p->total = total;
	p->start_ms = ferry_wall_ms();
}

void
cli_progress_add(struct cli_progress *p, uint64_t n)
{
	char done[CLI_FMT_MAX], total[CLI_FMT_MAX], rate[CLI_FMT_MAX];
	char bar[PROGRESS_BAR + 1];
	int64_t now, spent;
	int known, i, fill;

	p->done += n;
	if (!p->tty)
		return;
	known = p->total != FERRY_LEN_UNKNOWN;
	if ((known ? p->total : p->done) <= CLI_PROGRESS_MIN)
		return;
	now = ferry_wall_ms();
	if (p->shown && now - p->last_ms < PROGRESS_EVERY_MS &&
	    !(known && p->done == p->total))
		return;
	p->last_ms = now;
	spent = now - p->start_ms;
	cli_format_size(p->done, done);
	/* A rate over the first few pieces would be noise. */
	if (spent >= 500) {
		cli_format_size(p->done * 1000 / (uint64_t)spent, total);
		snprintf(rate, sizeof(rate), "%.20s/s", total);
	} else {
		rate[0] = '\0';
	}
	if (known && p->total > 0) {
		fill = (int)(p->done * PROGRESS_BAR / p->total);
		for (i = 0; i < PROGRESS_BAR; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[PROGRESS_BAR] = '\0';
		cli_format_size(p->total, total);
		fprintf(stderr, "\r%s [%s] %3d%% %s / %s  %s\033[K", p->what,
			bar, (int)(p->done * 100 / p->total), done, total,
			rate);
	} else {
		fprintf(stderr, "\r%s %s  %s\033[K", p->what, done, rate);
	}
	p->shown = 1;
}

void
cli_progress_cleanup(struct cli_progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
	p->shown = 0;
}

/* --------------------------------------------------------- state dir */

int
cli_state_dir(const char *dir, char *out, size_t cap)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	struct passwd *pw;
	int n;

	if (dir != NULL)
		n = snprintf(out, cap, "%s", dir);
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, cap, "%s/ferry", xdg);
	else if (geteuid() == 0)
		n = snprintf(out, cap, "/var/lib/ferry");
	else {
		if (home == NULL || home[0] != '/') {
			pw = getpwuid(geteuid());
			if (pw == NULL || pw->pw_dir == NULL)
				return FERRY_ENOTFOUND;
			home = pw->pw_dir;
		}
		n = snprintf(out, cap, "%s/.local/state/ferry", home);
	}
	if (n < 0 || (size_t)n >= cap)
		return FERRY_EINVAL;
	/* "dir/" and "dir" are one directory; keep messages tidy. */
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

int
cli_errno_exit(int err)
{
	return err == EACCES || err == EPERM ? CLI_EXIT_PERM : CLI_EXIT_ERROR;
}

int
cli_mkdir_p(const char *path, int *created)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t len = strlen(path), i;

	*created = 0;
	if (len == 0 || len >= sizeof(buf)) {
		errno = len == 0 ? ENOENT : ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) == 0) {
			if (i == len)
				*created = 1;
		} else if (errno != EEXIST) {
			return -1;
		} else if (stat(buf, &st) != 0) {
			return -1;
		} else if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

int
cli_read_full(int fd, void *buf, size_t len, size_t *got)
{
	char *p = buf;
	ssize_t n;

	*got = 0;
	while (*got < len) {
		n = read(fd, p + *got, len - *got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}
