/*
 * consume.c - `ferry consume QUEUE -- CMD [ARGS...]`: run CMD once per
 * message of a local queue, its payload on standard input and its
 * header in the environment; exit status 0 acks, another gives the
 * message back for a later try, and after --max-deliveries tries it goes
 * to `dead` ("handler failed") with the last lines the handler wrote to
 * standard error.
 *
 * Each of the --parallel slots is a thread with two connections to
 * ferryd: one takes messages and streams their payloads (RECV, then DATA
 * read a piece at a time into the handler's stdin pipe, so memory stays
 * bounded whatever the size), the other renews the lease while the
 * handler runs and settles the message at the end (ACK; NACK renewing it
 * for the retry delay, which gives it back when that runs out; NACK to
 * dead).  Renewals are what let a handler run longer than the lease: the
 * lease is short (--lease, default 60 s) and renewed every third of it,
 * so a consume that dies loses its messages to nobody: they return when
 * their lease runs out, within --lease.
 *
 * With --reply, a message that has a reply-to gets the handler's
 * standard output as its reply (docs/protocol.md §4, "Request and
 * reply"): sent to <its source>/<its reply-to> with its correlation on a
 * third connection, streamed as the handler writes it (the first
 * CONSUME_CHUNK bytes are held back, so a short reply goes in one
 * round trip), committed only when the handler exits 0, and abandoned
 * (nothing stored) when it fails: a failed handler does not reply.  The
 * reply is committed before the request is acked, so a crash in between
 * sends it twice rather than never; requesters take the first.
 *
 * Signals: the main thread takes SIGTERM and SIGINT (blocked everywhere,
 * collected with sigtimedwait); slots stop taking messages and finish
 * the one they have, up to --grace, then their handlers are killed
 * (SIGTERM, then SIGKILL 2 s later) and the messages given back at once.
 * Handlers run in their own process group (a ^C at the terminal reaches
 * consume, not them) and get SIGKILL if consume dies (PR_SET_PDEATHSIG):
 * no handler runs on for a message that another consumer may take.
 *
 * State: each slot owns its connections, handler and message; the
 * threads share only the stop and kill flags and the exit code (atomics).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define CONSUME_CHUNK	       (256u * 1024u)
#define CONSUME_TAIL	       4096u /* stderr bytes kept per handler */
#define CONSUME_PARALLEL_MAX   30    /* 2 connections each: < 64 per uid */
#define CONSUME_PARALLEL_REPLY 20    /* --reply: 3 each */
#define CONSUME_WAIT_MS	       1000  /* a RECV's wait: how soon stop is seen */
#define CONSUME_POLL_MS	       100
#define CONSUME_KILL_MS	       2000 /* SIGTERM to SIGKILL of a handler */
#define CONSUME_DELAY_MAX_MS   (3600 * 1000LL)

extern char **environ;

static int consume_run(struct cli_ctx *ctx, int argc, char **argv);

static const char consume_usage[] =
    "ferry consume QUEUE [options] -- CMD [ARGS...]\n"
    "\n"
    "  -j, --parallel N        run up to N handlers at once (default\n"
    "                          1, at most 30)\n"
    "  -r, --reply             the handler's standard output is\n"
    "                          the reply to a message that has a\n"
    "                          reply-to (not when it fails; at\n"
    "                          most 20 --parallel)\n"
    "  -k, --max-deliveries K  after K failed deliveries, move the\n"
    "                          message to dead (default 5)\n"
    "      --retry-delay DUR   give a failed message back after DUR,\n"
    "                          doubled at each try (default 1s, at\n"
    "                          most 1h)\n"
    "  -l, --lease DUR         lease renewed while a handler runs; a\n"
    "                          crashed consume's messages return\n"
    "                          after it (default 60s)\n"
    "      --grace DUR         on SIGTERM or SIGINT, wait that long\n"
    "                          for running handlers (default 30s)\n"
    "      --socket PATH       ferryd's control socket\n"
    "  -h, --help              this help\n"
    "\n"
    "CMD gets the payload on standard input and FERRY_ID, FERRY_SRC,\n"
    "FERRY_QUEUE, FERRY_PRIORITY, FERRY_CORRELATION, FERRY_REPLY_TO and\n"
    "FERRY_DELIVERIES in its environment.  Exit status 0 acks the\n"
    "message; any other gives it back for a later try.\n";

const struct cli_cmd cli_cmd_consume = {
    .name = "consume",
    .usage = consume_usage,
    .summary = "Run a command for each message of a queue",
    .run = consume_run,
};

struct consume_opts {
	const struct cli_ctx *ctx;
	const char *queue;
	char **cmd; /* NULL-terminated */
	unsigned parallel;
	int reply; /* --reply */
	uint32_t max_deliveries;
	int64_t lease_ms, grace_ms, delay_ms;
};

/* What the threads share. */
static atomic_int consume_stopping; /* take no new message */
static atomic_int consume_killing;  /* grace is over: kill handlers */
static atomic_int consume_rc;	    /* first error's exit code */
static atomic_int consume_running;  /* slots not finished */

/* One slot: a thread, its connections, its handler. */
struct slot {
	const struct consume_opts *o;
	pthread_t thread;
	int started;
	struct ferry *data, *ctl;
	uint8_t *buf; /* CONSUME_CHUNK */
	/* --reply: the reply being sent (reply_begin .. reply_finish) */
	struct ferry *rep;	 /* its connection */
	uint8_t *rbuf;		 /* CONSUME_CHUNK: held back */
	size_t rlen;		 /* bytes in rbuf */
	struct ferry_stream *rs; /* streaming, once rbuf filled up */
	int rfailed;		 /* could not be sent: drop the rest */
	char rdest[FERRY_NODE_MAX + 1 + FERRY_QUEUE_MAX + 1];
	char tail[CONSUME_TAIL];
	size_t tail_len;
};

/* The outcome of one handler. */
struct run_result {
	int status;    /* waitpid's */
	int killed;    /* by us: grace over */
	int lease_ok;  /* the lease was never lost */
	int stream_ok; /* the payload was read to its end */
	int replying;  /* its stdout is the reply (slot's r*) */
};

static int64_t
now_ms(void)
{
	return ferry_mono_ms();
}

static void
fail_with(int rc)
{
	int zero = 0;

	(void)atomic_compare_exchange_strong(&consume_rc, &zero, rc);
	atomic_store(&consume_stopping, 1);
}

/* ------------------------------------------------------------ handler */

static int
env_add(char **env, size_t *n, const char *name, const char *value)
{
	size_t len = strlen(name) + strlen(value) + 2;

	env[*n] = malloc(len);
	if (env[*n] == NULL)
		return -1;
	snprintf(env[*n], len, "%s=%s", name, value);
	(*n)++;
	return 0;
}

static const char *const env_names[] = {
    "FERRY_ID",		 "FERRY_SRC",	   "FERRY_QUEUE",      "FERRY_PRIORITY",
    "FERRY_CORRELATION", "FERRY_REPLY_TO", "FERRY_DELIVERIES", "FERRY_SOCKET",
};
#define N_ENV (sizeof(env_names) / sizeof(env_names[0]))

static int
env_ours(const char *kv)
{
	for (size_t i = 0; i < N_ENV; i++) {
		size_t n = strlen(env_names[i]);
		if (strncmp(kv, env_names[i], n) == 0 && kv[n] == '=')
			return 1;
	}
	return 0;
}

static void
env_free(char **env)
{
	if (env == NULL)
		return;
	for (size_t i = 0; env[i] != NULL; i++)
		if (env_ours(env[i]))
			free(env[i]);
	free(env);
}

/* The handler's environment: ours, with the message's header.  Built
 * before fork: the child of a threaded process may not allocate. */
static char **
env_build(const struct consume_opts *o, const struct ferry_msg_info *info)
{
	char hex[FERRY_ID_HEX_LEN + 1], num[24];
	size_t n = 0, cap = N_ENV + 1;
	char **env;

	for (char **e = environ; *e != NULL; e++)
		cap++;
	env = calloc(cap, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (char **e = environ; *e != NULL; e++)
		if (!env_ours(*e))
			env[n++] = *e;
	ferry_id_to_hex(info->msg.id, hex);
	if (env_add(env, &n, "FERRY_ID", hex) != 0 ||
	    env_add(env, &n, "FERRY_SRC", info->msg.src_node) != 0 ||
	    env_add(env, &n, "FERRY_QUEUE", info->queue) != 0)
		goto fail;
	snprintf(num, sizeof(num), "%u", (unsigned)info->msg.priority);
	if (env_add(env, &n, "FERRY_PRIORITY", num) != 0 ||
	    env_add(env, &n, "FERRY_CORRELATION", info->msg.correlation) != 0 ||
	    env_add(env, &n, "FERRY_REPLY_TO", info->msg.reply_to) != 0)
		goto fail;
	snprintf(num, sizeof(num), "%lu", (unsigned long)info->deliveries);
	if (env_add(env, &n, "FERRY_DELIVERIES", num) != 0 ||
	    env_add(env, &n, "FERRY_SOCKET", cli_socket_path(o->ctx)) != 0)
		goto fail;
	env[n] = NULL;
	return env;
fail:
	env[n] = NULL;
	env_free(env);
	return NULL;
}

/*
 * Start the handler: stdin from *in_w's pipe, stderr into *err_r's, in a
 * process group of its own, killed if we die.  Only async-signal-safe
 * calls between fork and exec.  Returns its pid, or -1 (errno).
 */
static pid_t
handler_start(char **cmd, char **env, int *in_w, int *err_r, int *out_r)
{
	int in[2] = {-1, -1}, err[2] = {-1, -1}, out[2] = {-1, -1};
	pid_t parent = getpid(), pid;
	sigset_t none;

	sigemptyset(&none);
	if (pipe2(in, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(err, O_CLOEXEC) != 0)
		goto fail;
	if (out_r != NULL && pipe2(out, O_CLOEXEC) != 0)
		goto fail;
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid == 0) {
		static const char msg[] = "ferry consume: cannot run ";
		const char *why;

		(void)setpgid(0, 0);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127); /* consume died already */
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		(void)signal(SIGPIPE, SIG_DFL);
		if (dup2(in[0], 0) < 0 || dup2(err[1], 2) < 0 ||
		    (out[1] >= 0 && dup2(out[1], 1) < 0))
			_exit(127);
		execvpe(cmd[0], cmd, env);
		why = strerror(errno);
		(void)!write(2, msg, sizeof(msg) - 1);
		(void)!write(2, cmd[0], strlen(cmd[0]));
		(void)!write(2, ": ", 2);
		(void)!write(2, why, strlen(why));
		(void)!write(2, "\n", 1);
		_exit(127);
	}
	(void)close(in[0]);
	(void)close(err[1]);
	(void)fcntl(in[1], F_SETFL, O_NONBLOCK);
	(void)fcntl(err[0], F_SETFL, O_NONBLOCK);
	*in_w = in[1];
	*err_r = err[0];
	if (out_r != NULL) {
		(void)close(out[1]);
		(void)fcntl(out[0], F_SETFL, O_NONBLOCK);
		*out_r = out[0];
	}
	return pid;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			(void)close(in[i]);
		if (err[i] >= 0)
			(void)close(err[i]);
		if (out[i] >= 0)
			(void)close(out[i]);
	}
	return -1;
}

/* Keep the last CONSUME_TAIL bytes the handler wrote to stderr, and
 * pass them on to ours. */
static void
tail_add(struct slot *sl, const char *p, size_t n)
{
	(void)!fwrite(p, 1, n, stderr);
	if (n >= CONSUME_TAIL) {
		memcpy(sl->tail, p + n - CONSUME_TAIL, CONSUME_TAIL);
		sl->tail_len = CONSUME_TAIL;
		return;
	}
	if (sl->tail_len + n > CONSUME_TAIL) {
		size_t drop = sl->tail_len + n - CONSUME_TAIL;
		memmove(sl->tail, sl->tail + drop, sl->tail_len - drop);
		sl->tail_len -= drop;
	}
	memcpy(sl->tail + sl->tail_len, p, n);
	sl->tail_len += n;
}

/* The last lines of the tail that fit in a dead letter's text, from the
 * start of a line when there is more than one. */
static void
tail_text(const struct slot *sl, char out[FERRY_DEAD_TEXT_MAX + 1])
{
	size_t start = 0, n;

	if (sl->tail_len > FERRY_DEAD_TEXT_MAX) {
		start = sl->tail_len - FERRY_DEAD_TEXT_MAX;
		for (size_t i = start; i + 1 < sl->tail_len; i++)
			if (sl->tail[i] == '\n') {
				start = i + 1;
				break;
			}
	}
	n = sl->tail_len - start;
	memcpy(out, sl->tail + start, n);
	out[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (out[i] == '\0')
			out[i] = '?';
}

/* Drain what the handler wrote to stderr; 1 at its end. */
static int
err_drain(struct slot *sl, int fd)
{
	char b[4096];
	ssize_t n;

	for (;;) {
		n = read(fd, b, sizeof(b));
		if (n > 0) {
			tail_add(sl, b, (size_t)n);
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : 1;
	}
}

/* ------------------------------------------------------------- reply */

static void
reply_begin(struct slot *sl, const struct ferry_msg_info *info)
{
	snprintf(sl->rdest, sizeof(sl->rdest), "%s/%s", info->msg.src_node,
		 info->msg.reply_to);
	sl->rlen = 0;
	sl->rs = NULL;
	sl->rfailed = 0;
}

/* The reply's send options: to the request's correlation, at its
 * priority. */
static void
reply_opts(const struct ferry_msg_info *info, struct ferry_send_opts *so)
{
	ferry_send_opts_init(so);
	so->priority = info->msg.priority;
	so->correlation = info->msg.correlation;
}

/* Pass rbuf on once it is full: the reply is longer than CONSUME_CHUNK,
 * so it streams. */
static void
reply_flush(struct slot *sl, const struct ferry_msg_info *info)
{
	struct ferry_send_opts so;
	char hex[FERRY_ID_HEX_LEN + 1];
	int rc = 0;

	if (sl->rfailed || sl->rlen < CONSUME_CHUNK)
		return;
	if (sl->rs == NULL) {
		reply_opts(info, &so);
		rc = ferry_send_begin(sl->rep, sl->rdest, FERRY_LEN_UNKNOWN,
				      &so, &sl->rs);
		if (rc != 0)
			sl->rs = NULL;
	}
	if (rc == 0)
		rc = ferry_stream_write(sl->rs, sl->rbuf, sl->rlen);
	sl->rlen = 0;
	if (rc != 0) {
		ferry_id_to_hex(info->msg.id, hex);
		(void)cli_fail(sl->o->ctx, sl->rep, rc,
			       "cannot send the reply to %s (to %s)", hex,
			       sl->rdest);
		if (sl->rs != NULL)
			ferry_send_abort(sl->rs);
		sl->rs = NULL;
		sl->rfailed = 1;
	}
}

/* Read what the handler wrote to stdout into the reply; 1 at its end. */
static int
out_drain(struct slot *sl, const struct ferry_msg_info *info, int fd)
{
	ssize_t n;

	for (;;) {
		reply_flush(sl, info);
		if (sl->rfailed)
			sl->rlen = 0; /* read on, and drop */
		n = read(fd, sl->rbuf + sl->rlen, CONSUME_CHUNK - sl->rlen);
		if (n > 0) {
			sl->rlen += (size_t)n;
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : 1;
	}
}

/* The handler is done: commit the reply (ok) or abandon it.  0, or -1
 * when it could not be sent. */
static int
reply_finish(struct slot *sl, const struct ferry_msg_info *info, int ok)
{
	struct ferry_send_opts so;
	char hex[FERRY_ID_HEX_LEN + 1];
	int rc;

	if (!ok || sl->rfailed) {
		if (sl->rs != NULL)
			ferry_send_abort(sl->rs); /* nothing is stored */
		sl->rs = NULL;
		return ok ? -1 : 0;
	}
	if (sl->rs == NULL) {
		reply_opts(info, &so);
		rc = ferry_send(sl->rep, sl->rdest, sl->rbuf, sl->rlen, &so,
				NULL);
	} else {
		rc = sl->rlen > 0
			 ? ferry_stream_write(sl->rs, sl->rbuf, sl->rlen)
			 : 0;
		if (rc != 0)
			ferry_send_abort(sl->rs);
		else
			rc = ferry_send_end(sl->rs, NULL);
		sl->rs = NULL;
	}
	if (rc != 0) {
		ferry_id_to_hex(info->msg.id, hex);
		(void)cli_fail(sl->o->ctx, sl->rep, rc,
			       "cannot send the reply to %s (to %s)", hex,
			       sl->rdest);
		return -1;
	}
	return 0;
}

/*
 * Run the handler for one message: stream the payload s into its stdin,
 * collect its stderr, renew the lease, wait for it.  s is closed here.
 */
static int
handler_run(struct slot *sl, const struct ferry_msg_info *info,
	    struct ferry_stream *s, struct run_result *res)
{
	const struct consume_opts *o = sl->o;
	char **env = NULL, hex[FERRY_ID_HEX_LEN + 1];
	int in_w = -1, err_r = -1, out_r = -1, stream_done = s == NULL;
	int exited = 0, rc;
	size_t have = 0, off = 0;
	int64_t next_renew, kill_at = 0;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->lease_ok = 1;
	res->stream_ok = 1;
	res->replying = o->reply && info->msg.reply_to[0] != '\0';
	sl->tail_len = 0;
	ferry_id_to_hex(info->msg.id, hex);
	env = env_build(o, info);
	if (env == NULL) {
		cli_warn(o->ctx, "out of memory");
		ferry_stream_close(s);
		return -1;
	}
	if (res->replying)
		reply_begin(sl, info);
	pid = handler_start(o->cmd, env, &in_w, &err_r,
			    res->replying ? &out_r : NULL);
	env_free(env);
	if (pid < 0) {
		cli_warn(o->ctx, "cannot start %s: %s", o->cmd[0],
			 strerror(errno));
		ferry_stream_close(s);
		return -1;
	}
	next_renew = now_ms() + o->lease_ms / 3;
	while (!exited || err_r >= 0 || out_r >= 0) {
		struct pollfd pf[3];
		nfds_t np = 0;
		int st;

		/* The next piece of the payload, or the end of it. */
		if (!stream_done && have == off) {
			size_t n = 0;
			rc = ferry_stream_read(s, sl->buf, CONSUME_CHUNK, &n);
			if (rc != 0) {
				(void)cli_fail(o->ctx, sl->data, rc,
					       "cannot read the payload of %s",
					       hex);
				res->stream_ok = 0;
				stream_done = 1;
				ferry_stream_close(s);
				s = NULL;
				if (!exited)
					(void)kill(-pid, SIGKILL);
			} else if (n == 0) {
				stream_done = 1;
				ferry_stream_close(s);
				s = NULL;
			}
			have = n;
			off = 0;
			if (in_w < 0) /* the handler stopped reading */
				have = 0;
		}
		if (in_w >= 0 && stream_done && have == off) {
			(void)close(in_w);
			in_w = -1;
		}
		if (in_w >= 0 && have > off) {
			pf[np].fd = in_w;
			pf[np].events = POLLOUT;
			pf[np++].revents = 0;
		}
		if (err_r >= 0) {
			pf[np].fd = err_r;
			pf[np].events = POLLIN;
			pf[np++].revents = 0;
		}
		if (out_r >= 0) {
			pf[np].fd = out_r;
			pf[np].events = POLLIN;
			pf[np++].revents = 0;
		}
		if (exited && np == 0)
			break;
		/* Dropping the rest of a payload: do not wait.  Stderr
		 * closed: the handler is about to end; look again soon. */
		rc = poll(pf, np,
			  in_w < 0 && !stream_done ? 0
			  : err_r < 0		   ? 10
						   : CONSUME_POLL_MS);
		if (rc < 0 && errno != EINTR) {
			cli_warn(o->ctx, "poll: %s", strerror(errno));
			break;
		}
		if (in_w >= 0 && have > off) {
			ssize_t w = write(in_w, sl->buf + off, have - off);
			if (w > 0) {
				off += (size_t)w;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				/* EPIPE: it is done with its input; the
				 * rest of the payload is read and dropped. */
				(void)close(in_w);
				in_w = -1;
				have = off = 0;
			}
		}
		if (err_r >= 0 && err_drain(sl, err_r)) {
			(void)close(err_r);
			err_r = -1;
		}
		if (out_r >= 0 && out_drain(sl, info, out_r)) {
			(void)close(out_r);
			out_r = -1;
		}
		if (!exited && waitpid(pid, &st, WNOHANG) == pid) {
			exited = 1;
			res->status = st;
			/* What it wrote is in the pipe now; a child it left
			 * behind holding stderr is not waited for. */
			if (err_r >= 0) {
				(void)err_drain(sl, err_r);
				(void)close(err_r);
				err_r = -1;
			}
			if (out_r >= 0) {
				(void)out_drain(sl, info, out_r);
				(void)close(out_r);
				out_r = -1;
			}
		}
		if (exited && !stream_done && in_w < 0) {
			/* Keep the connection in step: drop the rest. */
			ferry_stream_close(s);
			s = NULL;
			stream_done = 1;
		}
		if (!exited && now_ms() >= next_renew && res->lease_ok) {
			rc = ferry_renew(sl->ctl, info->msg.id, info->token,
					 o->lease_ms);
			if (rc != 0) {
				(void)cli_fail(o->ctx, sl->ctl, rc,
					       "cannot renew the lease of %s; "
					       "it may go to another consumer",
					       hex);
				res->lease_ok = 0;
			}
			next_renew = now_ms() + o->lease_ms / 3;
		}
		if (!exited && atomic_load(&consume_killing)) {
			if (kill_at == 0) {
				cli_warn(o->ctx,
					 "grace time over: stopping the "
					 "handler of %s (pid %ld)",
					 hex, (long)pid);
				(void)kill(-pid, SIGTERM);
				kill_at = now_ms() + CONSUME_KILL_MS;
				res->killed = 1;
			} else if (now_ms() >= kill_at) {
				(void)kill(-pid, SIGKILL);
			}
		}
	}
	if (in_w >= 0)
		(void)close(in_w);
	if (err_r >= 0)
		(void)close(err_r);
	if (out_r >= 0)
		(void)close(out_r);
	if (!exited) {
		int st;
		(void)kill(-pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		res->status = st;
	}
	ferry_stream_close(s);
	return 0;
}

/* ------------------------------------------------------------ settle */

static void
describe_status(int st, char *out, size_t cap)
{
	if (WIFEXITED(st))
		snprintf(out, cap, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(out, cap, "killed by signal %d", WTERMSIG(st));
	else
		snprintf(out, cap, "status %d", st);
}

/* The delay before try n + 1: retry_delay doubled n - 1 times. */
static int64_t
retry_delay(const struct consume_opts *o, uint32_t n)
{
	int64_t d = o->delay_ms;

	for (uint32_t i = 1; i < n && d < CONSUME_DELAY_MAX_MS; i++)
		d *= 2;
	return d > CONSUME_DELAY_MAX_MS ? CONSUME_DELAY_MAX_MS : d;
}

/* Ack, give back for later, or give up, as the handler's end says. */
static void
settle(struct slot *sl, const struct ferry_msg_info *info,
       const struct run_result *res)
{
	const struct consume_opts *o = sl->o;
	char hex[FERRY_ID_HEX_LEN + 1], how[64], when[CLI_FMT_MAX];
	char text[FERRY_DEAD_TEXT_MAX + 1];
	int64_t delay;
	int rc, ok;

	ferry_id_to_hex(info->msg.id, hex);
	describe_status(res->status, how, sizeof(how));
	ok = !res->killed && res->stream_ok && WIFEXITED(res->status) &&
	     WEXITSTATUS(res->status) == 0;
	if (res->replying && reply_finish(sl, info, ok) != 0) {
		/* Handled, but the reply did not go: the handler runs
		 * again for it later (a reply half sent is not stored). */
		rc = ferry_nack(sl->ctl, info->msg.id, info->token);
		if (rc != 0)
			(void)cli_fail(o->ctx, sl->ctl, rc,
				       "could not give %s back; it returns "
				       "when its lease runs out",
				       hex);
		return;
	}
	if (res->killed || !res->stream_ok) {
		/* Not its fault: back at once, no delay. */
		rc = ferry_nack(sl->ctl, info->msg.id, info->token);
		if (rc != 0)
			(void)cli_fail(o->ctx, sl->ctl, rc,
				       "could not give %s back; it returns "
				       "when its lease runs out",
				       hex);
		return;
	}
	if (WIFEXITED(res->status) && WEXITSTATUS(res->status) == 0) {
		rc = ferry_ack(sl->ctl, info->msg.id, info->token);
		if (rc != 0)
			(void)cli_fail(o->ctx, sl->ctl, rc,
				       "%s was handled but not acked: it may "
				       "be handled again",
				       hex);
		return;
	}
	if (info->deliveries >= o->max_deliveries) {
		tail_text(sl, text);
		rc = ferry_dead_letter(sl->ctl, info->msg.id, info->token,
				       FERRY_DEAD_HANDLER_FAILED, text);
		if (rc != 0)
			(void)cli_fail(o->ctx, sl->ctl, rc,
				       "%s: handler failed (%s) and could not "
				       "be moved to dead; it returns when its "
				       "lease runs out",
				       hex, how);
		else
			cli_warn(o->ctx,
				 "%s: handler failed (%s) at delivery %lu of "
				 "%lu: moved to dead",
				 hex, how, (unsigned long)info->deliveries,
				 (unsigned long)o->max_deliveries);
		return;
	}
	delay = retry_delay(o, info->deliveries);
	cli_format_duration(delay, when);
	/* Renewed for the delay and let go: it returns when that ends. */
	rc = ferry_renew(sl->ctl, info->msg.id, info->token, delay);
	if (rc != 0)
		(void)cli_fail(o->ctx, sl->ctl, rc,
			       "%s: handler failed (%s); could not delay its "
			       "retry",
			       hex, how);
	else
		cli_warn(o->ctx,
			 "%s: handler failed (%s) at delivery %lu of %lu: "
			 "retried in %s",
			 hex, how, (unsigned long)info->deliveries,
			 (unsigned long)o->max_deliveries, when);
}

/* -------------------------------------------------------------- slots */

/* Put a message we will not handle back at once. */
static void
give_back(struct slot *sl, const struct ferry_msg_info *info)
{
	char hex[FERRY_ID_HEX_LEN + 1];
	int rc;

	rc = ferry_nack(sl->ctl, info->msg.id, info->token);
	if (rc != 0) {
		ferry_id_to_hex(info->msg.id, hex);
		(void)cli_fail(sl->o->ctx, sl->ctl, rc,
			       "could not give %s back; it returns when its "
			       "lease runs out",
			       hex);
	}
}

static void *
slot_main(void *arg)
{
	struct slot *sl = arg;
	const struct consume_opts *o = sl->o;
	struct ferry_recv_opts ro;
	struct ferry_msg_info info;
	struct ferry_stream *s;
	struct run_result res;
	int rc;

	ferry_recv_opts_init(&ro);
	ro.lease_ms = o->lease_ms;
	ro.wait_ms = CONSUME_WAIT_MS;
	while (!atomic_load(&consume_stopping)) {
		s = NULL;
		rc = ferry_recv(sl->data, o->queue, &ro, &info, &s);
		if (rc == FERRY_EEMPTY || rc == FERRY_ETIMEDOUT)
			continue;
		if (rc != 0) {
			fail_with(cli_fail(o->ctx, sl->data, rc,
					   "cannot receive from %s", o->queue));
			break;
		}
		if (atomic_load(&consume_stopping)) {
			/* Taken as we stopped: not ours to start. */
			ferry_stream_close(s);
			give_back(sl, &info);
			break;
		}
		if (handler_run(sl, &info, s, &res) != 0) {
			give_back(sl, &info);
			fail_with(CLI_EXIT_ERROR);
			break;
		}
		settle(sl, &info, &res);
	}
	atomic_fetch_sub(&consume_running, 1);
	return NULL;
}

/* -------------------------------------------------------------- run */

static int
parse_dur(const struct cli_cmd *cmd, const char *opt, const char *s,
	  int64_t *out)
{
	if (cli_parse_duration(s, 1000, out) != 0 || *out <= 0)
		return cli_usage_error(
		    cmd, "%s: '%s' is not a duration above 0", opt, s);
	return 0;
}

static int
consume_parse(struct cli_ctx *ctx, int argc, char **argv,
	      struct consume_opts *o)
{
	static const struct option longopts[] = {
	    {"parallel", 1, NULL, 'j'},
	    {"reply", 0, NULL, 'r'},
	    {"max-deliveries", 1, NULL, 'k'},
	    {"retry-delay", 1, NULL, CLI_OPT_RETRY_DELAY},
	    {"lease", 1, NULL, 'l'},
	    {"grace", 1, NULL, CLI_OPT_GRACE},
	    {"socket", 1, NULL, CLI_OPT_SOCKET},
	    {"help", 0, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *cmd = &cli_cmd_consume;
	int ch, nopt = argc, rc;
	uint64_t v;

	/* Everything after "--" is the handler's, untouched. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			nopt = i;
			break;
		}
	cli_getopt_reset();
	while ((ch = getopt_long(nopt, argv, ":j:k:l:rh", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'j':
			if (cli_parse_u64(optarg, &v) != 0 || v == 0 ||
			    v > CONSUME_PARALLEL_MAX)
				return cli_usage_error(
				    cmd, "--parallel: '%s' is not 1 to %d",
				    optarg, CONSUME_PARALLEL_MAX);
			o->parallel = (unsigned)v;
			break;
		case 'r':
			o->reply = 1;
			break;
		case 'k':
			if (cli_parse_u64(optarg, &v) != 0 || v == 0 ||
			    v > UINT32_MAX)
				return cli_usage_error(
				    cmd,
				    "--max-deliveries: '%s' is not a number "
				    "above 0",
				    optarg);
			o->max_deliveries = (uint32_t)v;
			break;
		case CLI_OPT_RETRY_DELAY:
			if ((rc = parse_dur(cmd, "--retry-delay", optarg,
					    &o->delay_ms)) != 0)
				return rc;
			break;
		case 'l':
			if ((rc = parse_dur(cmd, "--lease", optarg,
					    &o->lease_ms)) != 0)
				return rc;
			if (o->lease_ms < 300)
				return cli_usage_error(
				    cmd, "--lease: at least 300ms, not '%s'",
				    optarg);
			break;
		case CLI_OPT_GRACE:
			if (cli_parse_duration(optarg, 1000, &o->grace_ms) != 0)
				return cli_usage_error(
				    cmd, "--grace: '%s' is not a duration",
				    optarg);
			break;
		case CLI_OPT_SOCKET:
			ctx->socket_path = optarg;
			break;
		case 'h':
			(void)cli_help(cmd);
			return -1; /* done: exit 0 */
		default:
			return cli_bad_option(cmd, argv, ch);
		}
	}
	if (o->reply && o->parallel > CONSUME_PARALLEL_REPLY)
		return cli_usage_error(cmd,
				       "--parallel: at most %d with --reply "
				       "(three connections each)",
				       CONSUME_PARALLEL_REPLY);
	if (optind >= nopt)
		return cli_usage_error(cmd, "which queue?");
	if (optind + 1 < nopt)
		return cli_usage_error(cmd,
				       "unexpected '%s' (the command "
				       "comes after --)",
				       argv[optind + 1]);
	o->queue = argv[optind];
	if (!ferry_queue_name_valid(o->queue))
		return cli_usage_error(cmd, "'%s' is not a valid queue name",
				       o->queue);
	if (nopt >= argc - 1)
		return cli_usage_error(cmd, "which command? (ferry consume "
					    "QUEUE -- CMD [ARGS...])");
	o->cmd = argv + nopt + 1;
	return 0;
}

/* Wait for the slots; on the first signal stop taking messages, on the
 * second or when grace runs out kill the handlers. */
static void
consume_wait(const struct consume_opts *o, const sigset_t *sigs)
{
	struct timespec ts = {0, CONSUME_POLL_MS * 1000000L};
	char grace[CLI_FMT_MAX];
	int64_t deadline = 0;
	int sig;

	while (atomic_load(&consume_running) > 0) {
		sig = sigtimedwait(sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			if (deadline == 0) {
				cli_format_duration(o->grace_ms, grace);
				cli_warn(o->ctx,
					 "stopping: no new message is taken; "
					 "running handlers have %s to finish",
					 grace);
				atomic_store(&consume_stopping, 1);
				deadline = now_ms() + o->grace_ms;
			} else {
				atomic_store(&consume_killing, 1);
			}
		}
		if (atomic_load(&consume_stopping) && deadline == 0)
			deadline = now_ms() + o->grace_ms; /* a slot failed */
		if (deadline != 0 && now_ms() >= deadline)
			atomic_store(&consume_killing, 1);
	}
}

static int
consume_run(struct cli_ctx *ctx, int argc, char **argv)
{
	struct consume_opts o = {
	    .ctx = ctx,
	    .parallel = 1,
	    .max_deliveries = 5,
	    .lease_ms = 60 * 1000,
	    .grace_ms = 30 * 1000,
	    .delay_ms = 1000,
	};
	struct slot *slots = NULL;
	sigset_t sigs, old;
	int rc;

	rc = consume_parse(ctx, argc, argv, &o);
	if (rc != 0)
		return rc < 0 ? CLI_EXIT_OK : rc;
	slots = calloc(o.parallel, sizeof(*slots));
	if (slots == NULL) {
		cli_warn(ctx, "out of memory");
		return CLI_EXIT_ERROR;
	}
	atomic_store(&consume_stopping, 0);
	atomic_store(&consume_killing, 0);
	atomic_store(&consume_rc, 0);
	for (unsigned i = 0; i < o.parallel; i++) {
		slots[i].o = &o;
		if ((rc = cli_connect(ctx, &slots[i].data)) != 0 ||
		    (rc = cli_connect(ctx, &slots[i].ctl)) != 0)
			goto out;
		if (o.reply && ((rc = cli_connect(ctx, &slots[i].rep)) != 0))
			goto out;
		slots[i].buf = malloc(CONSUME_CHUNK);
		if (o.reply)
			slots[i].rbuf = malloc(CONSUME_CHUNK);
		if (slots[i].buf == NULL ||
		    (o.reply && slots[i].rbuf == NULL)) {
			cli_warn(ctx, "out of memory");
			rc = CLI_EXIT_ERROR;
			goto out;
		}
	}
	/* Signals go to the main thread only, through sigtimedwait; the
	 * slots inherit the mask (handlers get it cleared). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &sigs, &old) != 0) {
		cli_warn(ctx, "cannot block signals");
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	atomic_store(&consume_running, (int)o.parallel);
	for (unsigned i = 0; i < o.parallel; i++) {
		if (pthread_create(&slots[i].thread, NULL, slot_main,
				   &slots[i]) != 0) {
			cli_warn(ctx, "cannot start a thread");
			atomic_fetch_sub(&consume_running,
					 (int)(o.parallel - i));
			fail_with(CLI_EXIT_ERROR);
			break;
		}
		slots[i].started = 1;
	}
	consume_wait(&o, &sigs);
	for (unsigned i = 0; i < o.parallel; i++)
		if (slots[i].started)
			(void)pthread_join(slots[i].thread, NULL);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	rc = atomic_load(&consume_rc);
out:
	for (unsigned i = 0; i < o.parallel; i++) {
		ferry_close(slots[i].data);
		ferry_close(slots[i].ctl);
		ferry_close(slots[i].rep);
		free(slots[i].buf);
		free(slots[i].rbuf);
	}
	free(slots);
	return rc;
}
