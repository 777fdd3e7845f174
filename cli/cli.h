/*
 * cli.h - the front door of cli/, the `ferry` command.
 *
 * ferry.c parses the global options and dispatches to one struct cli_cmd
 * per verb (cli/<verb>.c).  util.c holds what the verbs share: option
 * errors, connecting with a clear message, error reporting and the exit
 * code it implies, human and JSON output, size/duration/time formatting
 * and the progress bar.  The verbs talk to ferryd only through libferry
 * (lib/ferry.h); init and keygen work on the state directory directly,
 * through policy/ and transports/identity.h, and need no agent.
 *
 * Output discipline: results go to stdout (human text by default, one
 * JSON object per line with --json), everything else (errors, hints,
 * progress) goes to stderr.  stdout errors are caught by cli_flush_stdout()
 * before anything irreversible (an ack) and once more at exit.
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/ferry.h"
#include "lib/util.h"

/* Exit codes: part of the interface (docs/ferry.1, EXIT STATUS). */
#define CLI_EXIT_OK	 0 /* done */
#define CLI_EXIT_ERROR	 1 /* the agent refused, or an I/O error */
#define CLI_EXIT_USAGE	 2 /* bad command line */
#define CLI_EXIT_EMPTY	 3 /* recv: the queue was empty, nothing done */
#define CLI_EXIT_CONNECT 4 /* cannot connect to ferryd */
#define CLI_EXIT_PERM	 5 /* permission denied */
#define CLI_EXIT_REFUSED 6 /* ferryd refused the connection: too many */
#define CLI_EXIT_TIMEOUT 7 /* request: no reply in time */
#define CLI_EXIT_NOROUTE 8 /* send: no route to that node (see --hold) */

/* Long-only options have values above any character.  Every verb takes
 * --help, and --socket where it connects. */
enum cli_opt {
	CLI_OPT_SOCKET = 256,
	CLI_OPT_JSON,
	CLI_OPT_TRANSIENT,
	CLI_OPT_REPLY_TO,
	CLI_OPT_CORRELATION,
	CLI_OPT_ID,
	CLI_OPT_HOLD,
	CLI_OPT_TRACK,
	CLI_OPT_SEAL,
	CLI_OPT_PARTIALS,
	CLI_OPT_PEEK,
	CLI_OPT_NO_ACK,
	CLI_OPT_FORCE_CONFIG,
	CLI_OPT_MAX_BYTES,
	CLI_OPT_MAX_MESSAGES,
	CLI_OPT_RETRY_DELAY,
	CLI_OPT_GRACE,
	CLI_OPT_LINES,
};

/* State shared by the verbs of one run. */
struct cli_ctx {
	const char *socket_path; /* --socket; NULL: ferry_default_socket() */
	const char *verb;	 /* for messages: "ferry <verb>: ..." */
};

typedef int (*cli_run_fn)(struct cli_ctx *ctx, int argc, char **argv);

/*
 * One verb.  usage is the synopsis (one or more lines starting with
 * "ferry "), a blank line, then the options, one per line; usage errors
 * print the synopsis only, --help prints everything.  run gets argv[0] =
 * the verb and returns a CLI_EXIT_* code.
 */
struct cli_cmd {
	const char *name;
	const char *usage;
	const char *summary; /* one line, no final period */
	cli_run_fn run;
};

extern const struct cli_cmd cli_cmd_send;
extern const struct cli_cmd cli_cmd_recv;
extern const struct cli_cmd cli_cmd_ack;
extern const struct cli_cmd cli_cmd_nack;
extern const struct cli_cmd cli_cmd_consume;
extern const struct cli_cmd cli_cmd_request;
extern const struct cli_cmd cli_cmd_queues;
extern const struct cli_cmd cli_cmd_status;
extern const struct cli_cmd cli_cmd_why;
extern const struct cli_cmd cli_cmd_track;
extern const struct cli_cmd cli_cmd_info;
extern const struct cli_cmd cli_cmd_peers;
extern const struct cli_cmd cli_cmd_metrics;
extern const struct cli_cmd cli_cmd_export;
extern const struct cli_cmd cli_cmd_import;
extern const struct cli_cmd cli_cmd_init;
extern const struct cli_cmd cli_cmd_keygen;

/* info.c: the node summary of `ferry info` (full) and `ferry status`
 * without an id (counters only), human or JSON, on stdout. */
void info_print(const struct cli_ctx *ctx, const struct ferry_node_info *ni,
		int json, int full);

/* ------------------------------------------------------- command line */

/* Print the full help of cmd on stdout; returns CLI_EXIT_OK. */
int cli_help(const struct cli_cmd *cmd);

/* Print "ferry <verb>: <why>", the synopsis and a --help hint on stderr;
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* After getopt_long returned '?' or ':' (optstring starting with ':'):
 * name the offending option; returns CLI_EXIT_USAGE. */
int cli_bad_option(const struct cli_cmd *cmd, char **argv, int ch);

/* Reset getopt for a verb's own argv (GNU: optind 0 reinitialises). */
void cli_getopt_reset(void);
/* The options of a verb that has none but --socket, --help and, when
 * json is not NULL, --json (*json set to 1).  -1 to go on, with optind
 * at the first argument; else the exit code (help shown, a usage error). */
int cli_plain_getopt(struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc,
		     char **argv, int *json);
/* The same for a verb that takes no arguments either. */
int cli_plain_options(struct cli_ctx *ctx, const struct cli_cmd *cmd, int argc,
		      char **argv, int *json);

/* Whole-string decimal numbers; FERRY_EINVAL otherwise. */
FERRY_MUST_CHECK int cli_parse_u64(const char *s, uint64_t *out);
/* A duration: plain digits count in unit_ms (1000: seconds), anything
 * else goes to policy_parse_duration_ms ("30s", "15m", "2h", "7d"). */
FERRY_MUST_CHECK int cli_parse_duration(const char *s, int64_t unit_ms,
					int64_t *out_ms);
/* A byte count: plain digits, or policy_parse_size ("10M", "2G"). */
FERRY_MUST_CHECK int cli_parse_size(const char *s, uint64_t *out);
/* A message id of 32 hex digits, with a usage error naming it. */
FERRY_MUST_CHECK int cli_parse_id(const struct cli_cmd *cmd, const char *s,
				  uint8_t id[FERRY_ID_LEN]);

/* ---------------------------------------------------- agent and errors */

/* The socket this run uses: --socket, else ferry_default_socket(). */
const char *cli_socket_path(const struct cli_ctx *ctx);

/*
 * Connect to ferryd.  On failure prints why, with the next step
 * ("start it with: ferryd -c CONF"), and returns CLI_EXIT_CONNECT or
 * CLI_EXIT_PERM; *out is NULL.  0 on success.
 */
int cli_connect(const struct cli_ctx *ctx, struct ferry **out);

/* Exit code for a FERRY_E* code (ECONNECT 4, EPERM 5, ETOOMANY 6,
 * others 1). */
int cli_exit_code(int err);

/*
 * Report a failed libferry call: "ferry <verb>: <what> (<strerror>:
 * <agent's words>)" on stderr, c may be NULL.  A refused connection
 * (FERRY_ETOOMANY) is not about <what>: "ferry <verb>: ferryd refused the
 * connection: too many clients from uid N (max_clients_per_user = 64)".
 * Returns cli_exit_code(err).
 */
int cli_fail(const struct cli_ctx *ctx, const struct ferry *c, int err,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "ferry <verb>: <message>" on stderr (errno-style errors, notes). */
void cli_warn(const struct cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Flush stdout; on a write error report it and return CLI_EXIT_ERROR. */
int cli_flush_stdout(const struct cli_ctx *ctx);

/* ------------------------------------------------------------ formats */

#define CLI_FMT_MAX 80 /* enough for every cli_format_* result */

/* "0 B", "512 B", "4.1 KiB", "12.0 MiB" */
void cli_format_size(uint64_t bytes, char out[CLI_FMT_MAX]);
/* "250ms", "12s", "5m 3s", "2h 5m", "3d 4h" (negative: as positive) */
void cli_format_duration(int64_t ms, char out[CLI_FMT_MAX]);
/* Local time "2024-05-01 14:03:22"; 0 gives "never". */
void cli_format_time(int64_t ms, char out[CLI_FMT_MAX]);
/* cli_format_time plus " (in 2h 5m)" or " (5m 3s ago)" */
void cli_format_when(int64_t ms, char out[CLI_FMT_MAX]);
/* RFC 3339 UTC with milliseconds: "2024-05-01T12:03:22.123Z" */
void cli_format_rfc3339(int64_t ms, char out[CLI_FMT_MAX]);
/* "receipt,transient", or "-" */
void cli_format_flags(uint32_t flags, char out[CLI_FMT_MAX]);

/* -------------------------------------------------------------- JSON */

#define CLI_JSON_DEPTH 8

/*
 * A small writer of one JSON value per line on f: objects and arrays
 * nest up to CLI_JSON_DEPTH; key is NULL inside arrays.  Strings are
 * escaped (RFC 8259 section 7); bytes that are not valid UTF-8 are
 * written as U+FFFD, so the output is always valid JSON.  Write errors
 * are left in ferror(f) for cli_flush_stdout().
 */
struct cli_json {
	FILE *f;
	int depth;
	int first[CLI_JSON_DEPTH];  /* nothing written at this level yet */
	char close[CLI_JSON_DEPTH]; /* '}' or ']' */
};

void cli_json_begin(struct cli_json *j, FILE *f); /* writes "{" */
void cli_json_end(struct cli_json *j);		  /* writes "}\n" */
void cli_json_object(struct cli_json *j, const char *key);
void cli_json_array(struct cli_json *j, const char *key);
void cli_json_close(struct cli_json *j); /* ends an object or array */
void cli_json_str(struct cli_json *j, const char *key, const char *v);
void cli_json_u64(struct cli_json *j, const char *key, uint64_t v);
void cli_json_i64(struct cli_json *j, const char *key, int64_t v);
void cli_json_bool(struct cli_json *j, const char *key, int v);
void cli_json_null(struct cli_json *j, const char *key);
/* RFC 3339 string, or null for 0 ("never"). */
void cli_json_time(struct cli_json *j, const char *key, int64_t ms);
/* The key, then the caller writes the raw value itself (base64). */
void cli_json_key(struct cli_json *j, const char *key);
/* The header fields of a message: id, src, dst, queue, priority, flags,
 * created, expires, size, deliveries, reply_to, correlation, dead_reason,
 * dead_at and dead_text when set (dead letters only), token and
 * lease_until (with_token), else token null. */
void cli_json_msg_info(struct cli_json *j, const struct ferry_msg_info *info,
		       int with_token);
/* Write s as an escaped JSON string on f. */
void cli_json_escape(FILE *f, const char *s);

/* Standard base64 (RFC 4648 section 4) of len bytes; len % 3 != 0 only
 * for the last piece. */
void cli_base64_write(FILE *f, const uint8_t *data, size_t len);

/* ----------------------------------------------------------- progress */

#define CLI_PROGRESS_MIN (1024u * 1024u) /* shown above 1 MiB */

/* A one-line progress bar on stderr, only when stderr is a terminal and
 * the payload is larger than CLI_PROGRESS_MIN. */
struct cli_progress {
	int tty;	  /* stderr is a terminal */
	int shown;	  /* something is on the line */
	const char *what; /* "sending", "receiving" */
	uint64_t total;	  /* FERRY_LEN_UNKNOWN if unknown */
	uint64_t done;
	int64_t start_ms, last_ms;
};

void cli_progress_init(struct cli_progress *p, const char *what,
		       uint64_t total);
void cli_progress_add(struct cli_progress *p, uint64_t n);
/* Clear the line. */
void cli_progress_cleanup(struct cli_progress *p);

/* --------------------------------------------------------- state dir */

/*
 * The state directory of init and keygen: dir if not NULL, else
 * $XDG_STATE_HOME/ferry, else /var/lib/ferry for root, else
 * ~/.local/state/ferry.  FERRY_EINVAL if it does not fit in cap,
 * FERRY_ENOTFOUND if no home directory is known.
 */
FERRY_MUST_CHECK int cli_state_dir(const char *dir, char *out, size_t cap);

/* keygen.c: create <dir>/identity/secret unless it exists (*created
 * says which), load it and give its card (CLI_CARD_MAX bytes) and
 * fingerprint (CLI_FPR_MAX bytes).  Reports failures itself and returns
 * a CLI_EXIT_* code. */
#define CLI_CARD_MAX 160
#define CLI_FPR_MAX  32
int keygen_identity(const struct cli_ctx *ctx, const char *dir, int *created,
		    char card[CLI_CARD_MAX], char fpr[CLI_FPR_MAX]);

/* Exit code for an errno value: EACCES and EPERM give CLI_EXIT_PERM. */
int cli_errno_exit(int err);

/* mkdir -p with mode 0700 for what it creates; *created set to 1 if the
 * last component was made.  -1 with errno on failure. */
int cli_mkdir_p(const char *path, int *created);

/* Read until len bytes or end of file; *got is the count. */
int cli_read_full(int fd, void *buf, size_t len, size_t *got);

#endif
