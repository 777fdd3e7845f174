/*
 * client.c - libferry: the blocking client of ferryd's local API.
 *
 * One connection, one request at a time (a request id each); the answer is
 * read before the call returns, except for pipelined sends
 * (ferry_send_async): up to FERRY_SEND_WINDOW of them wait for their
 * answers in c->pipe, and whichever call reads a frame hands an answer
 * of one of them to its callback (read_frame).  Subscription pushes that arrive
 * while a call waits for its answer are queued (at most the credit granted,
 * each at most FERRY_INLINE_MAX of payload) for ferry_next_msg.  Payloads move
 * as streams of DATA frames, so memory stays bounded whatever their size.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "be.h"
#include "ferry.h"
#include "frame.h"
#include "util.h"

struct pushed {
	struct pushed *next;
	size_t len;
	uint8_t frame[]; /* a whole MSG frame */
};

/* A pipelined send waiting for its answer (ferry_send_async). */
struct pipe_slot {
	uint32_t reqid; /* 0: a free slot */
	ferry_sent_fn done;
	void *arg;
};

struct ferry {
	int fd;
	uint32_t next_reqid;
	uint8_t *rbuf; /* FERRY_FRAME_MAX + 4 */
	size_t rlen;   /* bytes buffered */
	size_t rskip;  /* bytes of the frame handed out last, to drop */
	uint8_t *wbuf;
	char err[512];
	uint32_t sub_reqid; /* 0: not subscribed */
	struct pushed *push_head, *push_tail;
	int broken; /* protocol out of step: only close is left */
	struct ferry_stream *busy; /* open payload stream */
	/* The id an EDUPLICATE answer named (the stored id of a SEND). */
	uint8_t dup_id[FERRY_ID_LEN];
	int has_dup_id;
	/* The last message's origin (ferry_last_origin). */
	int origin;
	char path[FERRY_PATH_MAX + 1];
	/* Pipelined sends in flight: FERRY_SEND_WINDOW slots once used. */
	struct pipe_slot *pipe;
	size_t npipe;
};

enum stream_kind { S_SEND, S_MEM, S_DATA };

struct ferry_stream {
	struct ferry *c;
	enum stream_kind kind;
	uint32_t reqid;
	int failed; /* S_SEND: the agent refused it (code) */
	int done;   /* S_DATA: FIN seen */
	/* S_SEND */
	uint8_t *buf;
	size_t buf_len;
	uint64_t sent, declared;
	/* S_MEM / S_DATA: bytes at hand */
	uint8_t *mem;
	size_t mem_len, mem_off;
};

static void
seterr(struct ferry *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

const char *
ferry_last_error(const struct ferry *c)
{
	return c != NULL ? c->err : "";
}

int
ferry_fd(const struct ferry *c)
{
	return c->fd;
}

const char *
ferry_default_socket(void)
{
	static __thread char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *env = getenv("FERRY_SOCKET");
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	struct stat sb;

	if (env != NULL && env[0] != '\0')
		return env;
	if (xdg != NULL && xdg[0] != '\0')
		snprintf(path, sizeof(path), "%s/ferry/ferry.sock", xdg);
	else if (home != NULL && home[0] != '\0')
		snprintf(path, sizeof(path), "%s/.local/state/ferry/ferry.sock",
			 home);
	else
		path[0] = '\0';
	if (path[0] != '\0' && stat(path, &sb) == 0)
		return path;
	if (stat("/run/ferry/ferry.sock", &sb) == 0)
		return "/run/ferry/ferry.sock";
	/* Neither is there yet: root means the system agent. */
	if (path[0] == '\0' || geteuid() == 0)
		return "/run/ferry/ferry.sock";
	return path;
}

int
ferry_connect(const char *path, struct ferry **out)
{
	struct sockaddr_un sa;
	struct ferry *c;
	int fd, err;

	*out = NULL;
	if (path == NULL)
		path = ferry_default_socket();
	if (strlen(path) >= sizeof(sa.sun_path))
		return FERRY_EINVAL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return FERRY_EIO;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (errno == EINTR)
			continue;
		err = errno;
		close(fd);
		return (err == EACCES || err == EPERM) ? FERRY_EPERM
						       : FERRY_ECONNECT;
	}
	{
		/* A streamed SEND writes 256 KiB DATA frames; with the
		 * default 208 KiB a frame never fit in the socket, and ferryd
		 * woke for each piece (CPU of its loop for 256 MiB sent
		 * 0.31/0.46/0.49 s, 0.25/0.22/0.26 s with 1 MiB).  Only a
		 * ceiling: the kernel takes what unread bytes need. */
		int sndbuf = 1 << 20;
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
				 sizeof(sndbuf));
	}
	c = calloc(1, sizeof(*c));
	if (c != NULL) {
		c->rbuf = malloc(FERRY_FRAME_MAX + 4);
		c->wbuf = malloc(FERRY_FRAME_MAX + 4);
	}
	if (c == NULL || c->rbuf == NULL || c->wbuf == NULL) {
		if (c != NULL) {
			free(c->rbuf);
			free(c->wbuf);
			free(c);
		}
		close(fd);
		return FERRY_ENOMEM;
	}
	c->fd = fd;
	*out = c;
	return 0;
}

void
ferry_close(struct ferry *c)
{
	struct pushed *p, *next;

	if (c == NULL)
		return;
	for (p = c->push_head; p != NULL; p = next) {
		next = p->next;
		free(p);
	}
	close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	free(c->pipe);
	free(c);
}

/* ------------------------------------------------------------------ I/O */

static int read_frame(struct ferry *c, int timeout_ms, struct ferry_frame *f);
static void pipe_fail_all(struct ferry *c, int rc);

static int
write_all(struct ferry *c, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			struct ferry_frame f;
			int err = errno, rc;

			if (err == EINTR)
				continue;
			/* ferryd may have said why before it closed (a
			 * refusal at accept): that beats EPIPE. */
			rc = read_frame(c, 0, &f);
			c->broken = 1;
			if (rc != 0 && rc != FERRY_EAGAIN &&
			    rc != FERRY_ECONNECT)
				return rc;
			seterr(c, "lost the connection to ferryd: %s",
			       strerror(err));
			return FERRY_ECONNECT;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A DATA frame of len payload bytes straight from data: its header and
 * the bytes in one sendmsg, no copy into a frame buffer. */
static int
send_data(struct ferry *c, uint8_t flags, uint32_t reqid, const uint8_t *data,
	  size_t len)
{
	uint8_t hdr[FERRY_FRAME_HDR];
	struct ferry_fbuf b;
	size_t done = 0, total = sizeof(hdr) + len;

	if (len > FERRY_DATA_MAX)
		return FERRY_ETOOBIG;
	ferry_fbuf_begin(&b, hdr, sizeof(hdr), FERRY_F_DATA, flags, reqid);
	ferry_put_be32(hdr, (uint32_t)(total - 4));
	while (done < sizeof(hdr)) {
		struct iovec iov[2];
		struct msghdr mh;
		ssize_t n;

		memset(&mh, 0, sizeof(mh));
		iov[0].iov_base = hdr + done;
		iov[0].iov_len = sizeof(hdr) - done;
		iov[1].iov_base = (void *)(uintptr_t)data;
		iov[1].iov_len = len;
		mh.msg_iov = iov;
		mh.msg_iovlen = len > 0 ? 2 : 1;
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* The error path of write_all: what ferryd said. */
			return write_all(c, hdr + done, sizeof(hdr) - done);
		}
		done += (size_t)n;
	}
	/* The header is out; the rest of the payload, if sendmsg stopped
	 * in it. */
	return write_all(c, data + (done - sizeof(hdr)), total - done);
}

static int
send_fbuf(struct ferry *c, struct ferry_fbuf *b)
{
	size_t len;

	if (ferry_fbuf_end(b, &len) != 0) {
		seterr(c, "request too large");
		return FERRY_ETOOBIG;
	}
	return write_all(c, b->p, len);
}

/*
 * An ERROR of request id 0: ferryd's last word before it closes the
 * connection (protocol.md, section 3).  Its code, the text prefixed with
 * what happened to the connection; only close is left.
 */
static int
goodbye(struct ferry *c, const struct ferry_frame *f)
{
	struct ferry_fields fl;
	const char *why = NULL;

	c->broken = 1;
	if (ferry_fields_parse(f, &fl, &why) != 0 || fl.code >= 0 ||
	    fl.code < FERRY_ERR_MIN - 100) {
		seterr(c, "malformed error from ferryd");
		return FERRY_EPROTO;
	}
	seterr(c, "ferryd %s the connection: %s",
	       fl.code == FERRY_ETOOMANY ? "refused" : "closed", fl.text);
	return fl.code;
}

/*
 * read_frame without the pipelined sends' answers.  ferryd's goodbye (an
 * ERROR of request id 0) is returned as its code.
 */
static int
read_frame_raw(struct ferry *c, int timeout_ms, struct ferry_frame *f)
{
	int64_t deadline = timeout_ms < 0 ? -1 : ferry_mono_ms() + timeout_ms;
	size_t total = 0;
	int rc;

	if (c->broken)
		return FERRY_ECONNECT;
	if (c->rskip != 0) {
		memmove(c->rbuf, c->rbuf + c->rskip, c->rlen - c->rskip);
		c->rlen -= c->rskip;
		c->rskip = 0;
	}
	for (;;) {
		ssize_t n;
		rc = ferry_frame_size(c->rbuf, c->rlen, &total);
		if (rc == FERRY_EPROTO) {
			c->broken = 1;
			seterr(c, "ferryd sent a malformed frame");
			return FERRY_EPROTO;
		}
		if (rc == 0 && c->rlen >= total)
			break;
		if (deadline >= 0) {
			struct pollfd pfd = {c->fd, POLLIN, 0};
			int64_t left = deadline - ferry_mono_ms();
			if (left < 0)
				left = 0;
			rc = poll(&pfd, 1, (int)left);
			if (rc < 0 && errno == EINTR)
				continue;
			if (rc == 0)
				return FERRY_EAGAIN;
		}
		n = recv(c->fd, c->rbuf + c->rlen,
			 FERRY_FRAME_MAX + 4 - c->rlen, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			c->broken = 1;
			seterr(c, "ferryd closed the connection");
			return FERRY_ECONNECT;
		}
		c->rlen += (size_t)n;
	}
	if (ferry_frame_decode(c->rbuf, total, f) != 0) {
		c->broken = 1;
		seterr(c, "ferryd sent a malformed frame");
		return FERRY_EPROTO;
	}
	c->rskip = total;
	if (f->reqid == 0 && f->type == FERRY_F_ERROR)
		return goodbye(c, f);
	return 0;
}

/* The slot of the pipelined send with request id reqid, or NULL. */
static struct pipe_slot *
pipe_find(struct ferry *c, uint32_t reqid)
{
	if (c->npipe == 0 || reqid == 0)
		return NULL;
	for (size_t i = 0; i < FERRY_SEND_WINDOW; i++)
		if (c->pipe[i].reqid == reqid)
			return &c->pipe[i];
	return NULL;
}

/* Hand the answer f to the callback of its send p, and free p. */
static int
pipe_complete(struct ferry *c, struct pipe_slot *p, const struct ferry_frame *f)
{
	struct pipe_slot s = *p;
	struct ferry_fields fl;
	const char *why = NULL;
	int rc;

	p->reqid = 0;
	c->npipe--;
	if ((f->type != FERRY_F_OK && f->type != FERRY_F_ERROR) ||
	    ferry_fields_parse(f, &fl, &why) != 0 ||
	    (f->type == FERRY_F_OK && !FERRY_HAS(&fl, FERRY_T_ID)) ||
	    (f->type == FERRY_F_ERROR &&
	     (fl.code >= 0 || fl.code < FERRY_ERR_MIN - 100))) {
		c->broken = 1;
		seterr(c, "malformed answer to a send from ferryd (%s)",
		       ferry_frame_type_name(f->type));
		s.done(FERRY_EPROTO, NULL, c->err, s.arg);
		pipe_fail_all(c, FERRY_EPROTO);
		return FERRY_EPROTO;
	}
	if (f->type == FERRY_F_OK) {
		s.done(0, fl.id, "", s.arg);
		return 0;
	}
	rc = fl.code;
	s.done(rc, FERRY_HAS(&fl, FERRY_T_ID) ? fl.id : NULL, fl.text, s.arg);
	return 0;
}

/* The connection is lost: every send in flight ends with rc (whether
 * ferryd stored it is not known). */
static void
pipe_fail_all(struct ferry *c, int rc)
{
	for (size_t i = 0; c->npipe > 0 && i < FERRY_SEND_WINDOW; i++) {
		struct pipe_slot s = c->pipe[i];
		if (s.reqid == 0)
			continue;
		c->pipe[i].reqid = 0;
		c->npipe--;
		s.done(rc, NULL,
		       c->err[0] != '\0' ? c->err
					 : "lost the connection to ferryd",
		       s.arg);
	}
}

/*
 * Read the next frame (any request id) into f.  It stays valid until the
 * next read.  timeout_ms < 0 waits for ever; FERRY_EAGAIN on timeout.
 * Answers to pipelined sends are handed to their callbacks on the way.
 */
static int
read_frame(struct ferry *c, int timeout_ms, struct ferry_frame *f)
{
	int64_t deadline = timeout_ms < 0 ? -1 : ferry_mono_ms() + timeout_ms;

	for (;;) {
		int64_t left = -1;
		struct pipe_slot *p;
		int rc;

		if (deadline >= 0) {
			left = deadline - ferry_mono_ms();
			if (left < 0)
				left = 0;
		}
		rc = read_frame_raw(c, (int)left, f);
		if (rc != 0) {
			if (rc != FERRY_EAGAIN)
				pipe_fail_all(c, rc);
			return rc;
		}
		p = pipe_find(c, f->reqid);
		if (p == NULL)
			return 0;
		if ((rc = pipe_complete(c, p, f)) != 0)
			return rc;
	}
}

static int
queue_push(struct ferry *c, const struct ferry_frame *f)
{
	size_t len = FERRY_FRAME_HDR + f->body_len;
	struct pushed *p = malloc(sizeof(*p) + len);

	if (p == NULL)
		return FERRY_ENOMEM;
	p->next = NULL;
	p->len = len;
	memcpy(p->frame, f->body - FERRY_FRAME_HDR, len);
	if (c->push_tail != NULL)
		c->push_tail->next = p;
	else
		c->push_head = p;
	c->push_tail = p;
	return 0;
}

/* Read the next frame for reqid, queueing subscription pushes. */
static int
read_reply(struct ferry *c, uint32_t reqid, struct ferry_frame *f)
{
	for (;;) {
		int rc = read_frame(c, -1, f);
		if (rc != 0)
			return rc;
		if (f->reqid == reqid)
			return 0;
		if (c->sub_reqid != 0 && f->reqid == c->sub_reqid &&
		    f->type == FERRY_F_MSG) {
			if ((rc = queue_push(c, f)) != 0)
				return rc;
			continue;
		}
		c->broken = 1;
		seterr(c, "ferryd answered out of turn (%s for request %u)",
		       ferry_frame_type_name(f->type), f->reqid);
		return FERRY_EPROTO;
	}
}

/* An ERROR frame's code and text, or FERRY_EPROTO for other types. */
static int
reply_error(struct ferry *c, const struct ferry_frame *f)
{
	struct ferry_fields fl;
	const char *why = NULL;

	if (f->type != FERRY_F_ERROR) {
		seterr(c, "unexpected %s from ferryd",
		       ferry_frame_type_name(f->type));
		return FERRY_EPROTO;
	}
	if (ferry_fields_parse(f, &fl, &why) != 0 || fl.code >= 0 ||
	    fl.code < FERRY_ERR_MIN - 100) {
		seterr(c, "malformed error from ferryd");
		return FERRY_EPROTO;
	}
	seterr(c, "%s", fl.text);
	if (fl.code == FERRY_EDUPLICATE && FERRY_HAS(&fl, FERRY_T_ID)) {
		memcpy(c->dup_id, fl.id, FERRY_ID_LEN);
		c->has_dup_id = 1;
	}
	return fl.code;
}

/* A SEND answered EDUPLICATE: its stored id into id_out, when the agent
 * named it (ids a client chooses are stored scoped to its uid). */
static int
dup_id_out(struct ferry *c, int rc, uint8_t *id_out)
{
	if (rc == FERRY_EDUPLICATE && c->has_dup_id && id_out != NULL)
		memcpy(id_out, c->dup_id, FERRY_ID_LEN);
	return rc;
}

/* Send b (already begun for reqid) and read the single answer. */
static int
call(struct ferry *c, struct ferry_fbuf *b, uint32_t reqid, uint8_t want,
     struct ferry_fields *out)
{
	struct ferry_frame f;
	const char *why = NULL;
	int rc;

	if (c->busy != NULL) {
		seterr(c, "a payload stream is still open on this connection");
		return FERRY_ESTATE;
	}
	c->err[0] = '\0';
	if ((rc = send_fbuf(c, b)) != 0)
		return rc;
	if ((rc = read_reply(c, reqid, &f)) != 0)
		return rc;
	if (f.type != want)
		return reply_error(c, &f);
	if (out != NULL && ferry_fields_parse(&f, out, &why) != 0) {
		c->broken = 1;
		seterr(c, "malformed %s from ferryd: %s",
		       ferry_frame_type_name(f.type), why);
		return FERRY_EPROTO;
	}
	return 0;
}

static uint32_t
next_reqid(struct ferry *c)
{
	if (++c->next_reqid == 0)
		c->next_reqid = 1;
	return c->next_reqid;
}

static void
begin(struct ferry *c, struct ferry_fbuf *b, uint8_t type, uint8_t flags,
      uint32_t reqid)
{
	ferry_fbuf_begin(b, c->wbuf, FERRY_FRAME_MAX + 4, type, flags, reqid);
}

/* -------------------------------------------------------------- sending */

void
ferry_send_opts_init(struct ferry_send_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->priority = FERRY_PRIO_DEFAULT;
	o->ttl_ms = FERRY_TTL_DEFAULT;
}

int
ferry_parse_dest(const char *dest, char node[FERRY_NODE_MAX + 1],
		 char queue[FERRY_QUEUE_MAX + 1])
{
	const char *slash;
	size_t nlen;

	if (dest == NULL || (slash = strchr(dest, '/')) == NULL)
		return FERRY_EINVAL;
	nlen = (size_t)(slash - dest);
	if (nlen == 0 || nlen > FERRY_NODE_MAX ||
	    strlen(slash + 1) > FERRY_QUEUE_MAX)
		return FERRY_EINVAL;
	memcpy(node, dest, nlen);
	node[nlen] = '\0';
	strcpy(queue, slash + 1);
	if (!ferry_dest_node_valid(node) || !ferry_queue_name_valid(queue))
		return FERRY_EINVAL;
	return 0;
}

static int
send_header(struct ferry *c, struct ferry_fbuf *b, const char *dest,
	    uint64_t len, const struct ferry_send_opts *o, uint8_t flags,
	    uint32_t reqid)
{
	char node[FERRY_NODE_MAX + 1], queue[FERRY_QUEUE_MAX + 1];
	struct ferry_send_opts def;

	if (o == NULL) {
		ferry_send_opts_init(&def);
		o = &def;
	}
	if (ferry_parse_dest(dest, node, queue) != 0) {
		seterr(c, "'%s' is not a NODE/QUEUE address", dest ? dest : "");
		return FERRY_EINVAL;
	}
	if (o->priority < 0 || o->priority > FERRY_PRIO_MAX) {
		seterr(c, "priority must be 0..7");
		return FERRY_EINVAL;
	}
	begin(c, b, FERRY_F_SEND, flags, reqid);
	ferry_fbuf_str(b, FERRY_T_DST_NODE, node);
	ferry_fbuf_str(b, FERRY_T_DST_QUEUE, queue);
	ferry_fbuf_u8(b, FERRY_T_PRIORITY, (uint8_t)o->priority);
	if (o->ttl_ms >= 0)
		ferry_fbuf_u64(b, FERRY_T_TTL_MS, (uint64_t)o->ttl_ms);
	ferry_fbuf_u32(b, FERRY_T_FLAGS, o->flags);
	if (o->reply_to != NULL && o->reply_to[0] != '\0')
		ferry_fbuf_str(b, FERRY_T_REPLY_TO, o->reply_to);
	if (o->correlation != NULL && o->correlation[0] != '\0')
		ferry_fbuf_str(b, FERRY_T_CORRELATION, o->correlation);
	if (o->id != NULL)
		ferry_fbuf_bytes(b, FERRY_T_ID, o->id, FERRY_ID_LEN);
	if (o->hold)
		ferry_fbuf_u8(b, FERRY_T_HOLD, 1);
	if (len != FERRY_LEN_UNKNOWN)
		ferry_fbuf_u64(b, FERRY_T_PAYLOAD_LEN, len);
	if (b->over) {
		seterr(c, "reply-to or correlation too long");
		return FERRY_EINVAL;
	}
	return 0;
}

int
ferry_send(struct ferry *c, const char *dest, const void *data, size_t len,
	   const struct ferry_send_opts *o, uint8_t id_out[FERRY_ID_LEN])
{
	struct ferry_fbuf b;
	struct ferry_fields fl;
	struct ferry_stream *s = NULL;
	uint32_t reqid;
	int rc;

	if (len > FERRY_INLINE_MAX) {
		rc = ferry_send_begin(c, dest, len, o, &s);
		if (rc == 0)
			rc = ferry_stream_write(s, data, len);
		if (rc != 0) {
			if (s != NULL)
				ferry_send_abort(s);
			return rc;
		}
		return ferry_send_end(s, id_out);
	}
	reqid = next_reqid(c);
	rc = send_header(c, &b, dest, len, o, FERRY_FL_FIN, reqid);
	if (rc != 0)
		return rc;
	ferry_fbuf_bytes(&b, FERRY_T_PAYLOAD, data, len);
	c->has_dup_id = 0;
	rc = call(c, &b, reqid, FERRY_F_OK, &fl);
	if (rc == 0 && id_out != NULL)
		memcpy(id_out, fl.id, FERRY_ID_LEN);
	return dup_id_out(c, rc, id_out);
}

/* ------------------------------------------------------ pipelined sends */

_Static_assert(FERRY_SEND_ASYNC_MAX <= FERRY_INLINE_MAX,
	       "a pipelined send is one SEND frame");

/* Wait for answers until at most max sends are in flight (timeout_ms < 0:
 * for ever); FERRY_EAGAIN when the time ran out first. */
static int
pipe_wait(struct ferry *c, size_t max, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : ferry_mono_ms() + timeout_ms;

	while (c->npipe > max) {
		struct ferry_frame f;
		struct pipe_slot *p;
		int64_t left = -1;
		int rc;

		if (deadline >= 0) {
			left = deadline - ferry_mono_ms();
			if (left < 0)
				left = 0;
		}
		rc = read_frame_raw(c, (int)left, &f);
		if (rc != 0) {
			if (rc != FERRY_EAGAIN)
				pipe_fail_all(c, rc);
			return rc;
		}
		p = pipe_find(c, f.reqid);
		if (p != NULL) {
			if ((rc = pipe_complete(c, p, &f)) != 0)
				return rc;
			continue;
		}
		/* A frame that is no answer of a send: only a push of the
		 * subscription may come now. */
		if (c->sub_reqid != 0 && f.reqid == c->sub_reqid &&
		    f.type == FERRY_F_MSG) {
			if ((rc = queue_push(c, &f)) != 0)
				return rc;
			continue;
		}
		c->broken = 1;
		seterr(c, "ferryd answered out of turn (%s for request %u)",
		       ferry_frame_type_name(f.type), f.reqid);
		pipe_fail_all(c, FERRY_EPROTO);
		return FERRY_EPROTO;
	}
	return 0;
}

int
ferry_send_async(struct ferry *c, const char *dest, const void *data,
		 size_t len, const struct ferry_send_opts *o,
		 ferry_sent_fn done, void *arg)
{
	struct ferry_fbuf b;
	struct pipe_slot *slot = NULL;
	uint32_t reqid;
	int rc;

	if (done == NULL || (data == NULL && len != 0))
		return FERRY_EINVAL;
	if (c->busy != NULL) {
		seterr(c, "a payload stream is still open on this connection");
		return FERRY_ESTATE;
	}
	if (len > FERRY_SEND_ASYNC_MAX) {
		seterr(c,
		       "a pipelined send carries at most %u bytes (this "
		       "one %zu): use ferry_send",
		       (unsigned)FERRY_SEND_ASYNC_MAX, len);
		return FERRY_ETOOBIG;
	}
	if (c->pipe == NULL &&
	    (c->pipe = calloc(FERRY_SEND_WINDOW, sizeof(*c->pipe))) == NULL)
		return FERRY_ENOMEM;
	/* The window is full: the oldest answers first. */
	if ((rc = pipe_wait(c, FERRY_SEND_WINDOW - 1, -1)) != 0)
		return rc;
	reqid = next_reqid(c);
	while (reqid == 0 || pipe_find(c, reqid) != NULL)
		reqid = next_reqid(c);
	rc = send_header(c, &b, dest, len, o, FERRY_FL_FIN, reqid);
	if (rc != 0)
		return rc;
	ferry_fbuf_bytes(&b, FERRY_T_PAYLOAD, data, len);
	for (size_t i = 0; i < FERRY_SEND_WINDOW && slot == NULL; i++)
		if (c->pipe[i].reqid == 0)
			slot = &c->pipe[i];
	if (slot == NULL)
		return FERRY_ESTATE; /* cannot be: pipe_wait left one free */
	if ((rc = send_fbuf(c, &b)) != 0) {
		pipe_fail_all(c, rc);
		return rc;
	}
	slot->reqid = reqid;
	slot->done = done;
	slot->arg = arg;
	c->npipe++;
	return 0;
}

int
ferry_send_poll(struct ferry *c, int timeout_ms)
{
	int rc;

	if (c->npipe == 0)
		return 0;
	/* At least one answer, unless the time runs out; then whatever
	 * else is here already. */
	rc = pipe_wait(c, c->npipe - 1, timeout_ms);
	if (rc == 0)
		rc = pipe_wait(c, 0, 0);
	return rc == FERRY_EAGAIN ? 0 : rc;
}

int
ferry_send_flush(struct ferry *c)
{
	return pipe_wait(c, 0, -1);
}

size_t
ferry_send_pending(const struct ferry *c)
{
	return c->npipe;
}

int
ferry_send_begin(struct ferry *c, const char *dest, uint64_t len,
		 const struct ferry_send_opts *o, struct ferry_stream **out)
{
	struct ferry_stream *s;
	struct ferry_fbuf b;
	uint32_t reqid;
	int rc;

	*out = NULL;
	if (c->busy != NULL)
		return FERRY_ESTATE;
	reqid = next_reqid(c);
	rc = send_header(c, &b, dest, len, o, 0, reqid);
	if (rc != 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->buf = malloc(FERRY_DATA_MAX)) == NULL) {
		free(s);
		return FERRY_ENOMEM;
	}
	s->c = c;
	s->kind = S_SEND;
	s->reqid = reqid;
	s->declared = len;
	c->err[0] = '\0';
	c->has_dup_id = 0;
	rc = send_fbuf(c, &b);
	if (rc != 0) {
		free(s->buf);
		free(s);
		return rc;
	}
	c->busy = s;
	*out = s;
	return 0;
}

/* An early ERROR for our stream, if the agent sent one already. */
static int
check_early_error(struct ferry_stream *s)
{
	struct ferry *c = s->c;
	struct ferry_frame f;
	int rc;

	for (;;) {
		rc = read_frame(c, 0, &f);
		if (rc == FERRY_EAGAIN)
			return 0;
		if (rc != 0)
			return rc;
		if (f.reqid == s->reqid) {
			if (f.type != FERRY_F_ERROR) {
				c->broken = 1;
				seterr(c, "ferryd answered a stream before "
					  "its end");
				return FERRY_EPROTO;
			}
			return reply_error(c, &f);
		}
		if (c->sub_reqid != 0 && f.reqid == c->sub_reqid &&
		    f.type == FERRY_F_MSG) {
			if ((rc = queue_push(c, &f)) != 0)
				return rc;
			continue;
		}
		c->broken = 1;
		return FERRY_EPROTO;
	}
}

/* One DATA frame of s's payload, from p (the stream's buffer, or the
 * caller's bytes when a whole frame's worth is there). */
static int
stream_data(struct ferry_stream *s, uint8_t flags, const uint8_t *p, size_t len)
{
	int rc = send_data(s->c, flags, s->reqid, p, len);

	if (rc != 0)
		return rc;
	s->sent += len;
	/* After FIN the answer is the caller's to read (it may be OK). */
	if (flags & FERRY_FL_FIN)
		return 0;
	return check_early_error(s);
}

static int
flush_data(struct ferry_stream *s, uint8_t flags)
{
	uint64_t before = s->sent;
	int rc = stream_data(s, flags, s->buf, s->buf_len);

	if (s->sent != before) /* sent, whatever ferryd answered */
		s->buf_len = 0;
	return rc;
}

int
ferry_stream_write(struct ferry_stream *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (s->kind != S_SEND)
		return FERRY_EINVAL;
	if (s->failed != 0)
		return s->failed;
	if (s->declared != FERRY_LEN_UNKNOWN &&
	    s->sent + s->buf_len + len > s->declared) {
		seterr(s->c, "more payload than the declared %llu bytes",
		       (unsigned long long)s->declared);
		return FERRY_EINVAL;
	}
	while (len > 0) {
		size_t n = FERRY_DATA_MAX - s->buf_len;
		if (s->buf_len == 0 && len >= FERRY_DATA_MAX) {
			/* A whole frame's worth: sent from the caller's
			 * bytes, not copied into the stream's buffer. */
			int rc = stream_data(s, 0, p, FERRY_DATA_MAX);
			if (rc != 0) {
				s->failed = rc;
				return rc;
			}
			p += FERRY_DATA_MAX;
			len -= FERRY_DATA_MAX;
			continue;
		}
		if (n > len)
			n = len;
		memcpy(s->buf + s->buf_len, p, n);
		s->buf_len += n;
		p += n;
		len -= n;
		if (s->buf_len == FERRY_DATA_MAX) {
			int rc = flush_data(s, 0);
			if (rc != 0) {
				s->failed = rc;
				return rc;
			}
		}
	}
	return 0;
}

static void
stream_free(struct ferry_stream *s)
{
	if (s->c->busy == s)
		s->c->busy = NULL;
	free(s->buf);
	free(s->mem);
	free(s);
}

int
ferry_send_end(struct ferry_stream *s, uint8_t id_out[FERRY_ID_LEN])
{
	struct ferry *c = s->c;
	struct ferry_frame f;
	struct ferry_fields fl;
	uint32_t reqid = s->reqid;
	int rc = s->failed;

	if (s->kind != S_SEND)
		return FERRY_EINVAL;
	if (rc != 0) {
		/* The agent refused already: end the stream politely. */
		s->buf_len = 0;
		if (!c->broken)
			(void)flush_data(s, FERRY_FL_FIN | FERRY_FL_ABORT);
		stream_free(s);
		return dup_id_out(c, rc, id_out);
	}
	if (s->declared != FERRY_LEN_UNKNOWN &&
	    s->sent + s->buf_len != s->declared) {
		seterr(c, "payload shorter than the declared %llu bytes",
		       (unsigned long long)s->declared);
		s->buf_len = 0;
		(void)flush_data(s, FERRY_FL_FIN | FERRY_FL_ABORT);
		stream_free(s);
		return FERRY_EINVAL;
	}
	rc = flush_data(s, FERRY_FL_FIN);
	stream_free(s);
	if (rc != 0)
		return rc;
	if ((rc = read_reply(c, reqid, &f)) != 0)
		return rc;
	if (f.type != FERRY_F_OK)
		return dup_id_out(c, reply_error(c, &f), id_out);
	if (ferry_fields_parse(&f, &fl, NULL) != 0)
		return FERRY_EPROTO;
	if (id_out != NULL)
		memcpy(id_out, fl.id, FERRY_ID_LEN);
	return 0;
}

void
ferry_send_abort(struct ferry_stream *s)
{
	struct ferry *c;
	struct ferry_frame f;
	uint32_t reqid;

	if (s == NULL)
		return;
	c = s->c;
	reqid = s->reqid;
	s->buf_len = 0;
	if (!c->broken && s->failed == 0) {
		if (flush_data(s, FERRY_FL_FIN | FERRY_FL_ABORT) == 0) {
			/* The agent answers an aborted stream with ERROR. */
			(void)read_reply(c, reqid, &f);
		}
	} else if (!c->broken) {
		(void)flush_data(s, FERRY_FL_FIN | FERRY_FL_ABORT);
	}
	stream_free(s);
}

/* ------------------------------------------------------------ receiving */

void
ferry_recv_opts_init(struct ferry_recv_opts *o)
{
	memset(o, 0, sizeof(*o));
}

static void
fields_to_info(const struct ferry_fields *fl, struct ferry_msg_info *info)
{
	memset(info, 0, sizeof(*info));
	ferry_fields_to_msg(fl, &info->msg);
	info->token = fl->token;
	info->state = fl->state;
	memcpy(info->queue, fl->queue, sizeof(info->queue));
	info->dead_reason = fl->dead_reason;
	info->dead_ms = fl->dead_ms;
	info->stored_ms = fl->stored_ms;
	info->lease_until_ms = fl->lease_until_ms;
	info->deliveries = fl->deliveries;
	if (fl->dead_reason != 0)
		memcpy(info->dead_text, fl->text, sizeof(info->dead_text));
}

static void
note_origin(struct ferry *c, const struct ferry_fields *fl)
{
	c->origin = fl->origin;
	snprintf(c->path, sizeof(c->path), "%s", fl->path);
}

int
ferry_last_origin(struct ferry *c, char *path, size_t cap)
{
	if (path != NULL && cap > 0)
		snprintf(path, cap, "%s", c->path);
	return c->origin;
}

/* After a MSG frame f: set up the payload stream (or drain it). */
static int
msg_payload(struct ferry *c, const struct ferry_frame *f,
	    const struct ferry_fields *fl, struct ferry_stream **payload)
{
	struct ferry_stream *s;

	if (payload == NULL) {
		/* Not wanted: skip any DATA frames that follow. */
		struct ferry_frame d;
		int done = (f->flags & FERRY_FL_FIN) != 0, rc;
		while (!done) {
			if ((rc = read_reply(c, f->reqid, &d)) != 0)
				return rc;
			if (d.type != FERRY_F_DATA)
				return reply_error(c, &d);
			done = (d.flags & FERRY_FL_FIN) != 0;
		}
		return 0;
	}
	*payload = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return FERRY_ENOMEM;
	s->c = c;
	s->reqid = f->reqid;
	if (f->flags & FERRY_FL_FIN) {
		s->kind = S_MEM;
		s->done = 1;
		s->mem =
		    malloc(fl->payload_len_inline ? fl->payload_len_inline : 1);
		if (s->mem == NULL) {
			free(s);
			return FERRY_ENOMEM;
		}
		if (fl->payload_len_inline != 0)
			memcpy(s->mem, fl->payload, fl->payload_len_inline);
		s->mem_len = fl->payload_len_inline;
	} else {
		s->kind = S_DATA;
		c->busy = s;
	}
	*payload = s;
	return 0;
}

int
ferry_stream_read(struct ferry_stream *s, void *buf, size_t cap, size_t *n)
{
	struct ferry *c = s->c;

	*n = 0;
	if (s->kind == S_SEND)
		return FERRY_EINVAL;
	while (s->mem_off == s->mem_len) {
		struct ferry_frame f;
		int rc;
		if (s->done || s->kind == S_MEM)
			return 0;
		rc = read_reply(c, s->reqid, &f);
		if (rc != 0)
			return rc;
		if (f.type != FERRY_F_DATA) {
			s->done = 1;
			c->busy = NULL;
			return reply_error(c, &f);
		}
		if (f.flags & FERRY_FL_ABORT) {
			s->done = 1;
			c->busy = NULL;
			seterr(c, "ferryd could not read the payload");
			return FERRY_EIO;
		}
		if (f.flags & FERRY_FL_FIN) {
			s->done = 1;
			c->busy = NULL;
		}
		/* Point into the read buffer: valid until the next read. */
		free(s->mem);
		s->mem = NULL;
		s->mem_len = f.body_len;
		s->mem_off = 0;
		if (f.body_len != 0) {
			s->mem = malloc(f.body_len);
			if (s->mem == NULL)
				return FERRY_ENOMEM;
			memcpy(s->mem, f.body, f.body_len);
		}
	}
	*n = s->mem_len - s->mem_off < cap ? s->mem_len - s->mem_off : cap;
	memcpy(buf, s->mem + s->mem_off, *n);
	s->mem_off += *n;
	return 0;
}

void
ferry_stream_close(struct ferry_stream *s)
{
	uint8_t sink[4096];
	size_t n;

	if (s == NULL)
		return;
	if (s->kind == S_SEND) {
		ferry_send_abort(s);
		return;
	}
	while (!s->done && !s->c->broken &&
	       ferry_stream_read(s, sink, sizeof(sink), &n) == 0 && n != 0)
		;
	stream_free(s);
}

int
ferry_recv(struct ferry *c, const char *queue, const struct ferry_recv_opts *o,
	   struct ferry_msg_info *info, struct ferry_stream **payload)
{
	struct ferry_recv_opts def;
	struct ferry_fbuf b;
	struct ferry_frame f;
	struct ferry_fields fl;
	const char *why = NULL;
	uint32_t reqid;
	int rc;

	if (payload != NULL)
		*payload = NULL;
	if (o == NULL) {
		ferry_recv_opts_init(&def);
		o = &def;
	}
	if (c->busy != NULL)
		return FERRY_ESTATE;
	if (queue == NULL || !ferry_queue_name_valid(queue)) {
		seterr(c, "'%s' is not a valid queue name", queue ? queue : "");
		return FERRY_EINVAL;
	}
	reqid = next_reqid(c);
	begin(c, &b, FERRY_F_RECV, 0, reqid);
	ferry_fbuf_str(&b, FERRY_T_QUEUE, queue);
	if (o->lease_ms > 0)
		ferry_fbuf_u64(&b, FERRY_T_LEASE_MS, (uint64_t)o->lease_ms);
	if (o->wait_ms != 0)
		ferry_fbuf_u64(&b, FERRY_T_WAIT_MS,
			       o->wait_ms < 0 ? UINT64_MAX
					      : (uint64_t)o->wait_ms);
	if (o->peek)
		ferry_fbuf_u8(&b, FERRY_T_PEEK, 1);
	c->err[0] = '\0';
	if ((rc = send_fbuf(c, &b)) != 0)
		return rc;
	if ((rc = read_reply(c, reqid, &f)) != 0)
		return rc;
	if (f.type != FERRY_F_MSG)
		return reply_error(c, &f);
	if (ferry_fields_parse(&f, &fl, &why) != 0) {
		c->broken = 1;
		seterr(c, "malformed MSG from ferryd: %s", why);
		return FERRY_EPROTO;
	}
	fields_to_info(&fl, info);
	note_origin(c, &fl);
	return msg_payload(c, &f, &fl, payload);
}

static int
settle(struct ferry *c, uint8_t type, const uint8_t *id, uint64_t token)
{
	struct ferry_fbuf b;
	uint32_t reqid = next_reqid(c);

	begin(c, &b, type, 0, reqid);
	ferry_fbuf_bytes(&b, FERRY_T_ID, id, FERRY_ID_LEN);
	if (token != 0)
		ferry_fbuf_u64(&b, FERRY_T_TOKEN, token);
	return call(c, &b, reqid, FERRY_F_OK, NULL);
}

int
ferry_ack(struct ferry *c, const uint8_t id[FERRY_ID_LEN], uint64_t token)
{
	return settle(c, FERRY_F_ACK, id, token);
}

int
ferry_nack(struct ferry *c, const uint8_t id[FERRY_ID_LEN], uint64_t token)
{
	return settle(c, FERRY_F_NACK, id, token);
}

int
ferry_renew(struct ferry *c, const uint8_t id[FERRY_ID_LEN], uint64_t token,
	    int64_t lease_ms)
{
	struct ferry_fbuf b;
	uint32_t reqid;

	if (token == 0 || lease_ms <= 0)
		return FERRY_EINVAL;
	reqid = next_reqid(c);
	begin(c, &b, FERRY_F_NACK, 0, reqid);
	ferry_fbuf_bytes(&b, FERRY_T_ID, id, FERRY_ID_LEN);
	ferry_fbuf_u64(&b, FERRY_T_TOKEN, token);
	ferry_fbuf_u64(&b, FERRY_T_LEASE_MS, (uint64_t)lease_ms);
	return call(c, &b, reqid, FERRY_F_OK, NULL);
}

int
ferry_dead_letter(struct ferry *c, const uint8_t id[FERRY_ID_LEN],
		  uint64_t token, int reason, const char *text)
{
	struct ferry_fbuf b;
	uint32_t reqid;

	if (token == 0 || reason != FERRY_DEAD_HANDLER_FAILED ||
	    (text != NULL && (strlen(text) > FERRY_DEAD_TEXT_MAX)))
		return FERRY_EINVAL;
	reqid = next_reqid(c);
	begin(c, &b, FERRY_F_NACK, 0, reqid);
	ferry_fbuf_bytes(&b, FERRY_T_ID, id, FERRY_ID_LEN);
	ferry_fbuf_u64(&b, FERRY_T_TOKEN, token);
	ferry_fbuf_u8(&b, FERRY_T_DEAD_REASON, (uint8_t)reason);
	if (text != NULL && text[0] != '\0')
		ferry_fbuf_str(&b, FERRY_T_TEXT, text);
	return call(c, &b, reqid, FERRY_F_OK, NULL);
}

/*
 * A request answered by `item` frames until END: send b (built by the
 * caller with reqid), then hand each item's fields to each(fl, arg) until
 * it returns non-zero (the rest is read and dropped, so the connection
 * stays in step).
 */
typedef int (*list_item_fn)(const struct ferry_fields *fl, void *arg);

static int
list_call(struct ferry *c, struct ferry_fbuf *b, uint32_t reqid, uint8_t item,
	  list_item_fn each, void *arg)
{
	struct ferry_frame f;
	int rc, stop = 0;

	c->err[0] = '\0';
	if ((rc = send_fbuf(c, b)) != 0)
		return rc;
	for (;;) {
		struct ferry_fields fl;
		if ((rc = read_reply(c, reqid, &f)) != 0)
			return rc;
		if (f.type == FERRY_F_END)
			return 0;
		if (f.type != item)
			return reply_error(c, &f);
		if (ferry_fields_parse(&f, &fl, NULL) != 0) {
			c->broken = 1;
			return FERRY_EPROTO;
		}
		if (!stop && each(&fl, arg) != 0)
			stop = 1;
	}
}

struct browse_ctx {
	ferry_browse_fn fn;
	void *arg;
};

static int
browse_item(const struct ferry_fields *fl, void *arg)
{
	struct browse_ctx *bc = arg;
	struct ferry_msg_info info;

	fields_to_info(fl, &info);
	return bc->fn(&info, bc->arg);
}

int
ferry_browse(struct ferry *c, const char *queue, size_t limit,
	     ferry_browse_fn fn, void *arg)
{
	struct browse_ctx bc = {fn, arg};
	struct ferry_fbuf b;
	uint32_t reqid;

	if (c->busy != NULL)
		return FERRY_ESTATE;
	reqid = next_reqid(c);
	begin(c, &b, FERRY_F_BROWSE, 0, reqid);
	ferry_fbuf_str(&b, FERRY_T_QUEUE, queue);
	if (limit != 0)
		ferry_fbuf_u32(&b, FERRY_T_LIMIT,
			       limit > UINT32_MAX ? UINT32_MAX
						  : (uint32_t)limit);
	if (b.over)
		return FERRY_EINVAL;
	return list_call(c, &b, reqid, FERRY_F_MSG, browse_item, &bc);
}

int
ferry_subscribe(struct ferry *c, const char *queue, uint32_t credit,
		int64_t lease_ms)
{
	struct ferry_fbuf b;
	uint32_t reqid;
	int rc;

	if (c->sub_reqid != 0) {
		seterr(c, "already subscribed on this connection");
		return FERRY_ESTATE;
	}
	reqid = next_reqid(c);
	begin(c, &b, FERRY_F_SUBSCRIBE, 0, reqid);
	ferry_fbuf_str(&b, FERRY_T_QUEUE, queue);
	ferry_fbuf_u32(&b, FERRY_T_CREDIT, credit);
	if (lease_ms > 0)
		ferry_fbuf_u64(&b, FERRY_T_LEASE_MS, (uint64_t)lease_ms);
	if (b.over)
		return FERRY_EINVAL;
	c->sub_reqid = reqid; /* pushes may follow the OK at once */
	rc = call(c, &b, reqid, FERRY_F_OK, NULL);
	if (rc != 0)
		c->sub_reqid = 0;
	return rc;
}

int
ferry_credit(struct ferry *c, uint32_t credit)
{
	struct ferry_fbuf b;

	if (c->sub_reqid == 0)
		return FERRY_ESTATE;
	/* No answer: CREDIT is fire-and-forget. */
	begin(c, &b, FERRY_F_CREDIT, 0, c->sub_reqid);
	ferry_fbuf_u32(&b, FERRY_T_CREDIT, credit);
	return send_fbuf(c, &b);
}

/* Fetch the payload of id as a DATA stream. */
static int
fetch(struct ferry *c, const uint8_t *id, struct ferry_stream **payload)
{
	struct ferry_fbuf b;
	struct ferry_frame f;
	struct ferry_fields fl;
	uint32_t reqid = next_reqid(c);
	int rc;

	begin(c, &b, FERRY_F_FETCH, 0, reqid);
	ferry_fbuf_bytes(&b, FERRY_T_ID, id, FERRY_ID_LEN);
	if ((rc = send_fbuf(c, &b)) != 0)
		return rc;
	if ((rc = read_reply(c, reqid, &f)) != 0)
		return rc;
	if (f.type != FERRY_F_MSG)
		return reply_error(c, &f);
	if (ferry_fields_parse(&f, &fl, NULL) != 0)
		return FERRY_EPROTO;
	return msg_payload(c, &f, &fl, payload);
}

int
ferry_next_msg(struct ferry *c, int timeout_ms, struct ferry_msg_info *info,
	       struct ferry_stream **payload)
{
	struct ferry_frame f;
	struct ferry_fields fl;
	struct pushed *p = NULL;
	int rc;

	if (payload != NULL)
		*payload = NULL;
	if (c->sub_reqid == 0)
		return FERRY_ESTATE;
	if (c->busy != NULL)
		return FERRY_ESTATE;
	if (c->push_head != NULL) {
		p = c->push_head;
		c->push_head = p->next;
		if (c->push_head == NULL)
			c->push_tail = NULL;
		rc = ferry_frame_decode(p->frame, p->len, &f);
	} else {
		rc = read_frame(c, timeout_ms, &f);
		if (rc == 0 &&
		    (f.reqid != c->sub_reqid ||
		     (f.type != FERRY_F_MSG && f.type != FERRY_F_ERROR))) {
			c->broken = 1;
			rc = FERRY_EPROTO;
		}
	}
	if (rc == 0 && f.type == FERRY_F_ERROR)
		rc = reply_error(c, &f);
	if (rc == 0 && ferry_fields_parse(&f, &fl, NULL) != 0)
		rc = FERRY_EPROTO;
	if (rc == 0) {
		fields_to_info(&fl, info);
		note_origin(c, &fl);
		if (payload != NULL && !(f.flags & FERRY_FL_FIN) &&
		    fl.payload == NULL)
			rc = fetch(c, info->msg.id, payload);
		else if (payload != NULL)
			rc = msg_payload(c, &f, &fl, payload);
	}
	free(p);
	return rc;
}

/* ---------------------------------------------------------------- admin */

static void
fields_to_queue(const struct ferry_fields *fl, struct ferry_queue_info *q)
{
	memset(q, 0, sizeof(*q));
	memcpy(q->name, fl->queue, sizeof(q->name));
	q->msgs = fl->count;
	q->bytes = fl->bytes;
	q->leased = fl->leased;
	q->max_bytes = fl->max_bytes;
	q->max_msgs = fl->max_msgs;
}

int
ferry_queue_create(struct ferry *c, const char *queue, uint64_t max_bytes,
		   uint64_t max_msgs)
{
	struct ferry_fbuf b;
	uint32_t reqid = next_reqid(c);

	begin(c, &b, FERRY_F_QCREATE, 0, reqid);
	ferry_fbuf_str(&b, FERRY_T_QUEUE, queue);
	ferry_fbuf_u64(&b, FERRY_T_MAX_BYTES, max_bytes);
	ferry_fbuf_u64(&b, FERRY_T_MAX_MSGS, max_msgs);
	if (b.over)
		return FERRY_EINVAL;
	return call(c, &b, reqid, FERRY_F_OK, NULL);
}

int
ferry_reply_queue_open(struct ferry *c, const char *queue, int64_t open_ms)
{
	struct ferry_fbuf b;
	uint32_t reqid;

	if (queue == NULL || !ferry_queue_name_valid(queue) ||
	    !ferry_queue_is_reply(queue) || open_ms < 0) {
		seterr(c, "'%s' is not a reply queue (%s...)",
		       queue ? queue : "", FERRY_REPLY_PREFIX);
		return FERRY_EINVAL;
	}
	reqid = next_reqid(c);
	begin(c, &b, FERRY_F_QCREATE, 0, reqid);
	ferry_fbuf_str(&b, FERRY_T_QUEUE, queue);
	ferry_fbuf_u64(&b, FERRY_T_TTL_MS, (uint64_t)open_ms);
	if (b.over)
		return FERRY_EINVAL;
	return call(c, &b, reqid, FERRY_F_OK, NULL);
}

struct queue_ctx {
	ferry_queue_fn fn;
	void *arg;
};

static int
queue_item(const struct ferry_fields *fl, void *arg)
{
	struct queue_ctx *qc = arg;
	struct ferry_queue_info q;

	fields_to_queue(fl, &q);
	return qc->fn(&q, qc->arg);
}

int
ferry_queue_list(struct ferry *c, ferry_queue_fn fn, void *arg)
{
	struct queue_ctx qc = {fn, arg};
	struct ferry_fbuf b;
	uint32_t reqid;

	if (c->busy != NULL)
		return FERRY_ESTATE;
	reqid = next_reqid(c);
	begin(c, &b, FERRY_F_QLIST, 0, reqid);
	return list_call(c, &b, reqid, FERRY_F_QINFO, queue_item, &qc);
}

int
ferry_queue_stats(struct ferry *c, const char *queue,
		  struct ferry_queue_info *out)
{
	struct ferry_fbuf b;
	struct ferry_fields fl;
	uint32_t reqid = next_reqid(c);
	int rc;

	begin(c, &b, FERRY_F_QSTATS, 0, reqid);
	ferry_fbuf_str(&b, FERRY_T_QUEUE, queue);
	if (b.over)
		return FERRY_EINVAL;
	rc = call(c, &b, reqid, FERRY_F_QINFO, &fl);
	if (rc == 0)
		fields_to_queue(&fl, out);
	return rc;
}

int
ferry_queue_purge(struct ferry *c, const char *queue, uint64_t *removed)
{
	struct ferry_fbuf b;
	struct ferry_fields fl;
	uint32_t reqid = next_reqid(c);
	int rc;

	begin(c, &b, FERRY_F_QPURGE, 0, reqid);
	ferry_fbuf_str(&b, FERRY_T_QUEUE, queue);
	if (b.over)
		return FERRY_EINVAL;
	rc = call(c, &b, reqid, FERRY_F_OK, &fl);
	if (rc == 0 && removed != NULL)
		*removed = fl.count;
	return rc;
}

static void receipts_parse(const char *s, struct ferry_status *out);

/* A STATUS_OK answer's fields into out. */
static void
status_fill(const struct ferry_fields *fl, const uint8_t id[FERRY_ID_LEN],
	    struct ferry_status *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = fl->status;
	if (out->kind == FERRY_STATUS_PRESENT)
		fields_to_info(fl, &out->info);
	else
		memcpy(out->info.msg.id, id, FERRY_ID_LEN);
	if (out->kind == FERRY_STATUS_DEAD_REMOVED) {
		out->info.dead_reason = fl->dead_reason;
		out->info.dead_ms = fl->dead_ms;
	}
	out->at_ms = fl->at_ms;
	memcpy(out->peer, fl->peer, sizeof(out->peer));
	memcpy(out->medium, fl->medium, sizeof(out->medium));
	out->medium_ms = fl->medium_ms;
	receipts_parse(fl->receipts, out);
}

int
ferry_status(struct ferry *c, const uint8_t id[FERRY_ID_LEN],
	     struct ferry_status *out)
{
	struct ferry_fbuf b;
	struct ferry_fields fl;
	uint32_t reqid = next_reqid(c);
	int rc;

	begin(c, &b, FERRY_F_STATUS, 0, reqid);
	ferry_fbuf_bytes(&b, FERRY_T_ID, id, FERRY_ID_LEN);
	rc = call(c, &b, reqid, FERRY_F_STATUS_OK, &fl);
	if (rc != 0)
		return rc;
	status_fill(&fl, id, out);
	return 0;
}

int
ferry_why(struct ferry *c, const uint8_t id[FERRY_ID_LEN], char *out,
	  size_t cap)
{
	struct ferry_fbuf b;
	struct ferry_fields fl;
	uint32_t reqid = next_reqid(c);
	int rc;

	if (out == NULL || cap == 0)
		return FERRY_EINVAL;
	out[0] = '\0';
	begin(c, &b, FERRY_F_STATUS, 0, reqid);
	ferry_fbuf_bytes(&b, FERRY_T_ID, id, FERRY_ID_LEN);
	rc = call(c, &b, reqid, FERRY_F_STATUS_OK, &fl);
	if (rc != 0)
		return rc;
	snprintf(out, cap, "%s", fl.why);
	return 0;
}

/* "EVENT NODE AT_MS\n" lines from the agent into out (cap); bad lines
 * are skipped; beyond cap the latest ones are kept.  Returns how many. */
static size_t
receipt_lines(const char *s, struct ferry_receipt *out, size_t cap)
{
	size_t k = 0;

	while (*s != '\0' && cap > 0) {
		struct ferry_receipt r;
		const char *nl = strchr(s, '\n');
		char line[160];
		long long at;
		size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
		if (n < sizeof(line)) {
			memcpy(line, s, n);
			line[n] = '\0';
			memset(&r, 0, sizeof(r));
			if (sscanf(line, "%15s %63s %lld", r.event, r.node,
				   &at) == 3) {
				r.at_ms = at;
				if (k == cap) {
					memmove(out, out + 1,
						(cap - 1) * sizeof(*out));
					k--;
				}
				out[k++] = r;
			}
		}
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	return k;
}

static void
receipts_parse(const char *s, struct ferry_status *out)
{
	out->nreceipts = receipt_lines(s, out->receipts, FERRY_RECEIPTS_MAX);
}

int
ferry_track(struct ferry *c, const uint8_t id[FERRY_ID_LEN],
	    struct ferry_status *st, struct ferry_receipt *hops, size_t cap,
	    size_t *n)
{
	struct ferry_fbuf b;
	struct ferry_fields fl;
	uint32_t reqid = next_reqid(c);
	int rc;

	if (n == NULL || (hops == NULL && cap > 0))
		return FERRY_EINVAL;
	*n = 0;
	begin(c, &b, FERRY_F_STATUS, 0, reqid);
	ferry_fbuf_bytes(&b, FERRY_T_ID, id, FERRY_ID_LEN);
	rc = call(c, &b, reqid, FERRY_F_STATUS_OK, &fl);
	if (rc != 0)
		return rc;
	if (st != NULL)
		status_fill(&fl, id, st);
	*n = receipt_lines(fl.receipts, hops, cap);
	return 0;
}

int
ferry_info(struct ferry *c, struct ferry_node_info *out)
{
	struct ferry_fbuf b;
	struct ferry_fields fl;
	uint32_t reqid = next_reqid(c);
	int rc;

	begin(c, &b, FERRY_F_INFO, 0, reqid);
	rc = call(c, &b, reqid, FERRY_F_INFO_OK, &fl);
	if (rc != 0)
		return rc;
	memset(out, 0, sizeof(*out));
	memcpy(out->node, fl.node, sizeof(out->node));
	snprintf(out->card, sizeof(out->card), "%s", fl.card);
	snprintf(out->fingerprint, sizeof(out->fingerprint), "%s",
		 fl.fingerprint);
	out->version = fl.version;
	out->msgs = fl.count;
	out->bytes = fl.bytes;
	out->out_msgs = fl.out_count;
	out->out_bytes = fl.out_bytes;
	return 0;
}

struct metrics_ctx {
	ferry_write_fn write;
	void *arg;
	int rc;
};

static int
metrics_item(const struct ferry_fields *fl, void *arg)
{
	struct metrics_ctx *mc = arg;

	if (fl->payload == NULL || fl->payload_len_inline == 0)
		return 0;
	mc->rc = mc->write(fl->payload, fl->payload_len_inline, mc->arg);
	return mc->rc;
}

int
ferry_metrics(struct ferry *c, ferry_write_fn write, void *arg)
{
	struct metrics_ctx mc = {write, arg, 0};
	struct ferry_fbuf b;
	uint32_t reqid;
	int rc;

	if (c == NULL || write == NULL)
		return FERRY_EINVAL;
	if (c->busy != NULL)
		return FERRY_ESTATE;
	reqid = next_reqid(c);
	begin(c, &b, FERRY_F_METRICS, 0, reqid);
	rc = list_call(c, &b, reqid, FERRY_F_METRICS_TEXT, metrics_item, &mc);
	return rc != 0 ? rc : mc.rc;
}

const char *
ferry_state_name(int state)
{
	switch (state) {
	case FERRY_STATE_QUEUED:
		return "queued";
	case FERRY_STATE_LEASED:
		return "leased";
	case FERRY_STATE_OUTBOUND:
		return "outbound";
	case FERRY_STATE_INFLIGHT:
		return "in flight";
	}
	return "unknown";
}

const char *
ferry_dead_reason_name(int reason)
{
	switch (reason) {
	case 0:
		return "";
	case 1:
		return "expired";
	case 2:
		return "no route";
	case 3:
		return "rejected";
	case 4:
		return "too large";
	case 5:
		return "unreadable";
	case FERRY_DEAD_HANDLER_FAILED:
		return "handler failed";
	case FERRY_DEAD_NO_WAITER:
		return "no one waiting";
	case FERRY_DEAD_LOOP:
		return "loop";
	case FERRY_DEAD_HOP_LIMIT:
		return "hop limit";
	case FERRY_DEAD_FORGED:
		return "forged origin";
	case FERRY_DEAD_UNVERIFIED:
		return "unverified origin";
	}
	return "unknown";
}

struct partial_ctx {
	ferry_partial_fn fn;
	void *arg;
};

static int
partial_item(const struct ferry_fields *fl, void *arg)
{
	struct partial_ctx *pc = arg;
	struct ferry_partial_info p;

	memset(&p, 0, sizeof(p));
	memcpy(p.id, fl->id, FERRY_ID_LEN);
	memcpy(p.src_node, fl->src_node, sizeof(p.src_node));
	memcpy(p.dst_node, fl->dst_node, sizeof(p.dst_node));
	memcpy(p.dst_queue, fl->dst_queue, sizeof(p.dst_queue));
	p.priority = fl->priority;
	p.bytes = fl->bytes;
	p.created_ms = fl->created_ms;
	p.last_ms = fl->at_ms;
	p.receiving = fl->receiving != 0;
	return pc->fn(&p, pc->arg);
}

int
ferry_partials(struct ferry *c, ferry_partial_fn fn, void *arg)
{
	struct ferry_fbuf b;
	struct partial_ctx pc = {fn, arg};
	uint32_t reqid;

	if (c->busy != NULL)
		return FERRY_ESTATE;
	reqid = next_reqid(c);
	begin(c, &b, FERRY_F_PARTIALS, 0, reqid);
	return list_call(c, &b, reqid, FERRY_F_PARTIAL, partial_item, &pc);
}

struct peer_ctx {
	ferry_peer_fn fn;
	void *arg;
};

static int
peer_item(const struct ferry_fields *fl, void *arg)
{
	struct peer_ctx *pc = arg;
	struct ferry_peer_info p;

	memset(&p, 0, sizeof(p));
	memcpy(p.name, fl->peer, sizeof(p.name));
	memcpy(p.fingerprint, fl->fingerprint, sizeof(p.fingerprint));
	memcpy(p.addr, fl->addr, sizeof(p.addr));
	memcpy(p.via, fl->via, sizeof(p.via));
	memcpy(p.last_error, fl->text, sizeof(p.last_error));
	p.connected = fl->connected;
	p.since_ms = fl->at_ms;
	p.last_seen_ms = fl->last_seen_ms;
	p.next_retry_ms = fl->next_retry_ms;
	p.bytes_in = fl->bytes_in;
	p.bytes_out = fl->bytes_out;
	p.msgs_in = fl->msgs_in;
	p.msgs_out = fl->msgs_out;
	p.queued_msgs = fl->out_count;
	p.queued_bytes = fl->out_bytes;
	return pc->fn(&p, pc->arg);
}

int
ferry_peers(struct ferry *c, ferry_peer_fn fn, void *arg)
{
	struct peer_ctx pc = {fn, arg};
	struct ferry_fbuf b;
	uint32_t reqid;

	if (c->busy != NULL)
		return FERRY_ESTATE;
	reqid = next_reqid(c);
	begin(c, &b, FERRY_F_PEERS, 0, reqid);
	return list_call(c, &b, reqid, FERRY_F_PEER, peer_item, &pc);
}

/* ------------------------------------------------------------ sneakernet */

static int sneak_wait(struct ferry *c, struct ferry_fbuf *b, uint32_t reqid,
		      int dfd, const struct ferry_sneak_opts *o,
		      ferry_progress_fn progress, void *arg,
		      struct ferry_sneak_result *res);

/* The medium's folder, to ferryd: one byte carrying the descriptor. */
static int
send_dirfd(struct ferry *c, int dfd)
{
	char byte = 0, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&byte, 1};
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	memset(ctl, 0, sizeof(ctl));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl;
	mh.msg_controllen = sizeof(ctl);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &dfd, sizeof(int));
	do
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		c->broken = 1;
		return FERRY_ECONNECT;
	}
	return 0;
}

static int
sneak_call(struct ferry *c, uint8_t type, const struct ferry_sneak_opts *o,
	   ferry_progress_fn progress, void *arg,
	   struct ferry_sneak_result *res)
{
	struct ferry_fbuf b;
	uint32_t reqid, flags = 0;
	int dfd;

	if (c == NULL || o == NULL || o->dir == NULL || res == NULL)
		return FERRY_EINVAL;
	if (c->busy != NULL)
		return FERRY_ESTATE;
	memset(res, 0, sizeof(*res));
	/* The folder goes to ferryd as a descriptor this process opened, so
	 * ferryd never works in a folder its caller could not open
	 * (docs/protocol.md); the path is for the messages. */
	dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		int e = errno;
		snprintf(c->err, sizeof(c->err), "cannot open %s: %s", o->dir,
			 strerror(e));
		return e == ENOENT || e == ENOTDIR ? FERRY_ENOTFOUND
		       : e == EACCES || e == EPERM ? FERRY_EPERM
						   : FERRY_EIO;
	}
	reqid = next_reqid(c);
	begin(c, &b, type, 0, reqid);
	ferry_fbuf_str(&b, FERRY_T_DIR, o->dir);
	if (o->peers != NULL && o->peers[0] != '\0')
		ferry_fbuf_str(&b, FERRY_T_PEERS, o->peers);
	if (o->max_bytes != 0)
		ferry_fbuf_u64(&b, FERRY_T_MAX_BYTES, o->max_bytes);
	if (o->min_priority > 0)
		ferry_fbuf_u8(&b, FERRY_T_PRIORITY, (uint8_t)o->min_priority);
	if (o->again)
		flags |= 1u;
	if (o->keep)
		flags |= 2u;
	flags |= 4u; /* the folder follows as a descriptor */
	ferry_fbuf_u32(&b, FERRY_T_FLAGS, flags);
	if (o->segment != 0)
		ferry_fbuf_u64(&b, FERRY_T_SEGMENT, o->segment);
	if (o->skew_ms != 0)
		ferry_fbuf_u64(&b, FERRY_T_SKEW_MS, o->skew_ms);
	if (b.over) {
		close(dfd);
		return FERRY_EINVAL;
	}
	c->err[0] = '\0';
	int rc = sneak_wait(c, &b, reqid, dfd, o, progress, arg, res);
	close(dfd);
	return rc;
}

static int
sneak_wait(struct ferry *c, struct ferry_fbuf *b, uint32_t reqid, int dfd,
	   const struct ferry_sneak_opts *o, ferry_progress_fn progress,
	   void *arg, struct ferry_sneak_result *res)
{
	struct ferry_frame f;
	int rc;

	(void)o;
	if ((rc = send_fbuf(c, b)) != 0)
		return rc;
	for (;;) {
		struct ferry_fields *fl;
		if ((rc = read_reply(c, reqid, &f)) != 0)
			return rc;
		if (f.type == FERRY_F_SEND_FD) {
			if ((rc = send_dirfd(c, dfd)) != 0)
				return rc;
			continue;
		}
		if (f.type != FERRY_F_PROGRESS && f.type != FERRY_F_OK)
			return reply_error(c, &f);
		fl = malloc(sizeof(*fl));
		if (fl == NULL)
			return FERRY_ENOMEM;
		if (ferry_fields_parse(&f, fl, NULL) != 0) {
			free(fl);
			c->broken = 1;
			return FERRY_EPROTO;
		}
		if (f.type == FERRY_F_PROGRESS) {
			if (progress != NULL)
				(void)progress(fl->text, fl->bytes, fl->total,
					       arg);
			free(fl);
			continue;
		}
		res->code = fl->code;
		res->msgs = fl->count;
		res->bytes = fl->bytes;
		res->bundles = fl->bundles;
		res->rejected = fl->rejected;
		snprintf(res->summary, sizeof(res->summary), "%s", fl->summary);
		free(fl);
		return 0;
	}
}

int
ferry_export(struct ferry *c, const struct ferry_sneak_opts *o,
	     ferry_progress_fn progress, void *arg,
	     struct ferry_sneak_result *res)
{
	return sneak_call(c, FERRY_F_EXPORT, o, progress, arg, res);
}

int
ferry_import(struct ferry *c, const struct ferry_sneak_opts *o,
	     ferry_progress_fn progress, void *arg,
	     struct ferry_sneak_result *res)
{
	return sneak_call(c, FERRY_F_IMPORT, o, progress, arg, res);
}
