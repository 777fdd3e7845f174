/*
 * control.c - the local control socket: listening, accepting, reading
 * frames off each client, writing answers, closing.  What a request means
 * is requests.c's business.
 *
 * Bytes from a client are hostile: a frame's length is checked before
 * anything is read or allocated for it; a malformed frame gets an ERROR
 * frame and closes that client only.  A slow client only fills its own
 * buffers, which are bounded (agent.h, invariant 3).  No user can take
 * the socket from the others: connections are counted per uid, a client
 * that stalls in the middle of a frame is closed after frame_timeout
 * (agent.h, invariant 4), and each refusal or closing is explained to the
 * client in an ERROR frame of request id 0 (docs/protocol.md, section 1).
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/seal.h"
#include "lib/util.h"

static void client_process_frames(struct client *c);
static void client_watch(struct client *c);

/* What a client's io_timer is set for. */
enum { CT_NONE = 0, CT_FRAME, CT_IDLE, CT_LINGER };

/* Kinds of rate-limited warnings (agent_note). */
enum { NOTE_USER = 1, NOTE_ALL, NOTE_FRAME };

/*
 * May a line about (uid, kind) be logged now?  1 yes, with *unlogged the
 * lines held back since the last one; 0 no (this one is counted).  A
 * full table forgets its oldest entry: at worst one line too many.
 */
static int
note_due(struct agent *ag, uid_t uid, int kind, unsigned *unlogged)
{
	int64_t now = ferry_mono_ms();
	struct agent_note *n = NULL, *unused = NULL, *oldest = NULL;

	for (size_t i = 0; i < AGENT_NOTES && n == NULL; i++) {
		struct agent_note *e = &ag->notes[i];
		if (e->kind == kind && e->uid == uid)
			n = e;
		else if (e->kind == 0 && unused == NULL)
			unused = e;
		else if (e->kind != 0 &&
			 (oldest == NULL || e->last_ms < oldest->last_ms))
			oldest = e;
	}
	if (n != NULL && now - n->last_ms < AGENT_NOTE_MS) {
		n->unlogged++;
		return 0;
	}
	if (n == NULL) {
		n = unused != NULL ? unused : oldest;
		n->uid = uid;
		n->kind = kind;
		n->unlogged = 0;
	}
	*unlogged = n->unlogged;
	n->unlogged = 0;
	n->last_ms = now;
	return 1;
}

/* "; N more since the last line" when lines were held back, else "". */
static const char *
unlogged_text(unsigned n, char buf[64])
{
	buf[0] = '\0';
	if (n > 0)
		snprintf(buf, 64, "; %u more since the last line", n);
	return buf;
}

/* "10 s", "1500 ms": a duration from ferry.conf, for messages. */
static const char *
ms_text(int64_t ms, char buf[32])
{
	if (ms % 1000 == 0)
		snprintf(buf, 32, "%lld s", (long long)(ms / 1000));
	else
		snprintf(buf, 32, "%lld ms", (long long)ms);
	return buf;
}

void
agent_frame(struct agent *ag, struct ferry_fbuf *b, uint8_t type, uint8_t flags,
	    uint32_t reqid)
{
	ferry_fbuf_begin(b, ag->scratch, FERRY_FRAME_MAX + 4, type, flags,
			 reqid);
}

void
client_send(struct client *c, struct ferry_fbuf *b)
{
	size_t len;

	if (c->state == CS_DEAD)
		return;
	if (ferry_fbuf_end(b, &len) != 0) {
		log_error("client %llu: an answer did not fit in a frame",
			  (unsigned long long)c->cid);
		return;
	}
	if (bufferevent_write(c->bev, b->p, len) != 0)
		client_kill(c, "cannot queue output");
}

void
client_error(struct client *c, uint32_t reqid, int code, const char *fmt, ...)
{
	struct ferry_fbuf b;
	char text[500];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	agent_frame(c->ag, &b, FERRY_F_ERROR, 0, reqid);
	ferry_fbuf_u32(&b, FERRY_T_CODE, (uint32_t)code);
	ferry_fbuf_str(&b, FERRY_T_TEXT, text);
	client_send(c, &b);
}

int
client_allowed(struct client *c, unsigned op, const char *target)
{
	return policy_acl_check(&c->ag->pol, c->ag->uid, c->uid, c->groups,
				(size_t)c->ngroups, op, target);
}

void
client_ref(struct client *c)
{
	c->refs++;
}

static void
client_free(struct client *c)
{
	struct agent *ag = c->ag;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (ag->clients == c)
		ag->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ag->nclients--;
	if (c->io_timer != NULL)
		event_free(c->io_timer);
	free(c->groups);
	free(c->stage);
	seal_enc_free(c->in_seal);
	free(c);
}

void
client_unref(struct client *c)
{
	if (--c->refs == 0 && c->state == CS_DEAD)
		client_free(c);
}

/* Close the connection now; the struct goes when no job holds it. */
void
client_kill(struct client *c, const char *why)
{
	if (c->state == CS_DEAD)
		return;
	log_debug("client %llu (pid %ld, uid %ld): closed: %s",
		  (unsigned long long)c->cid, (long)c->pid, (long)c->uid, why);
	if (c->io_timer != NULL) {
		event_free(c->io_timer);
		c->io_timer = NULL;
	}
	notify_cancel(c);
	c->sub_reqid = 0;
	c->state = CS_DEAD;
	client_cleanup_streams(c);
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	c->refs++;
	client_unref(c);
}

static void
on_io_timer(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct agent *ag = c->ag;
	char text[200], d[32], more[64];
	unsigned unlogged = 0;

	(void)fd;
	(void)what;
	switch (c->io_timer_kind) {
	case CT_FRAME:
		snprintf(text, sizeof(text),
			 "a frame was begun and nothing more came for %s "
			 "(frame_timeout in ferry.conf)",
			 ms_text(ag->pol.frame_timeout_ms, d));
		if (note_due(ag, c->uid, NOTE_FRAME, &unlogged))
			log_warn("client %llu (pid %ld, uid %ld): %s; closing "
				 "that connection%s",
				 (unsigned long long)c->cid, (long)c->pid,
				 (long)c->uid, text,
				 unlogged_text(unlogged, more));
		break;
	case CT_IDLE:
		snprintf(text, sizeof(text),
			 "idle for %s (idle_timeout in ferry.conf)",
			 ms_text(ag->pol.idle_timeout_ms, d));
		log_debug("client %llu (pid %ld, uid %ld): %s",
			  (unsigned long long)c->cid, (long)c->pid,
			  (long)c->uid, text);
		break;
	default: /* CT_LINGER: the client does not read its last answer */
		client_kill(c, "its last answer was not read");
		return;
	}
	c->io_timer_kind = CT_NONE;
	client_goodbye(c, FERRY_ECLOSED, text);
}

/* Set c's timer to kind, in ms; CT_NONE stops it. */
static void
client_timer_set(struct client *c, int kind, int64_t ms)
{
	struct timeval tv;

	c->io_timer_kind = CT_NONE;
	if (kind == CT_NONE) {
		if (c->io_timer != NULL)
			evtimer_del(c->io_timer);
		return;
	}
	if (c->io_timer == NULL)
		c->io_timer = evtimer_new(c->ag->base, on_io_timer, c);
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (c->io_timer == NULL || evtimer_add(c->io_timer, &tv) != 0) {
		/* Without its timer a client could stall for ever. */
		client_kill(c, "cannot set a timer");
		return;
	}
	c->io_timer_kind = kind;
}

/*
 * Which timer c needs now: frame_timeout while part of a frame waits at
 * the head of its input (restarted by every byte: on_read stops it),
 * idle_timeout while nothing is in flight, none otherwise.  A waiting
 * RECV (WAITING) and a subscription are never idle.
 */
static void
client_watch(struct client *c)
{
	const struct policy *pol = &c->ag->pol;
	struct evbuffer *in;
	uint8_t head[4];
	size_t len, total = 0;
	int want = CT_NONE;

	if (c->state == CS_DEAD || c->closing || c->bev == NULL)
		return;
	in = bufferevent_get_input(c->bev);
	len = evbuffer_get_length(in);
	if (len > 0 && (len < 4 || (evbuffer_copyout(in, head, 4) == 4 &&
				    ferry_frame_size(head, 4, &total) == 0 &&
				    len < total)))
		want = CT_FRAME;
	else if (len == 0 && c->state == CS_IDLE && c->sub_reqid == 0 &&
		 c->puts == 0 && pol->idle_timeout_ms > 0)
		want = CT_IDLE;
	if (want == c->io_timer_kind)
		return;
	client_timer_set(c, want,
			 want == CT_FRAME ? pol->frame_timeout_ms
					  : pol->idle_timeout_ms);
}

void
client_goodbye(struct client *c, int code, const char *text)
{
	if (c->state == CS_DEAD || c->closing)
		return;
	client_ref(c); /* a failed write kills c */
	client_error(c, 0, code, "%s", text);
	if (c->state != CS_DEAD) {
		c->closing = 1;
		bufferevent_disable(c->bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			client_kill(c, text);
		else
			client_timer_set(c, CT_LINGER,
					 c->ag->pol.frame_timeout_ms);
	}
	client_unref(c);
}

/* A protocol violation: say why, then close once it is written. */
void
client_violation(struct client *c, uint32_t reqid, const char *why)
{
	if (c->state == CS_DEAD || c->closing)
		return;
	log_warn("client %llu (pid %ld, uid %ld): protocol error: %s; "
		 "closing that connection",
		 (unsigned long long)c->cid, (long)c->pid, (long)c->uid, why);
	client_error(c, reqid, FERRY_EPROTO, "protocol error: %s", why);
	if (c->state == CS_DEAD)
		return;
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		client_kill(c, "protocol error");
	else
		client_timer_set(c, CT_LINGER, c->ag->pol.frame_timeout_ms);
}

void
client_idle(struct client *c)
{
	if (c->state == CS_DEAD)
		return;
	c->state = CS_IDLE;
	client_process(c);
	if (c->state == CS_IDLE && c->sub_reqid != 0)
		subscription_push(c);
}

/*
 * Parse and hand out the frames buffered, while the client can take them:
 * new requests only when IDLE (while pipelined SENDs are in the store,
 * only more whole SENDs: pipeline_takes), DATA frames when STREAM_IN,
 * CREDIT and UNSUBSCRIBE whenever.
 */
void
client_process(struct client *c)
{
	/* Handlers that answer at once call client_idle, which calls us:
	 * the loop below goes on instead, after the frame is drained. */
	if (c->processing)
		return;
	c->processing = 1;
	client_ref(c);
	client_process_frames(c);
	c->processing = 0;
	if (c->read_held && !c->closing && c->state != CS_DEAD &&
	    c->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) <
		AGENT_INPUT_MAX) {
		c->read_held = 0;
		bufferevent_enable(c->bev, EV_READ);
	}
	client_watch(c);
	client_unref(c);
}

/*
 * With whole SENDs of c in the store (pipelined), may the frame at the
 * head of its input (total bytes) be taken up now?  Only another whole
 * SEND within the window (AGENT_PIPELINE_MAX, _BYTES), so that the
 * sends of one connection share group commits, or a CREDIT; anything
 * else waits until they are all answered, so that every other request
 * is served after the sends before it, as without pipelining.
 */
static int
pipeline_takes(struct client *c, struct evbuffer *in, size_t total)
{
	uint8_t hdr[FERRY_FRAME_HDR];

	if (evbuffer_copyout(in, hdr, sizeof(hdr)) < (ssize_t)sizeof(hdr))
		return 0;
	if (hdr[4] == FERRY_F_CREDIT)
		return 1;
	return hdr[4] == FERRY_F_SEND && (hdr[5] & FERRY_FL_FIN) &&
	       c->puts < AGENT_PIPELINE_MAX &&
	       c->put_bytes + total <= AGENT_PIPELINE_BYTES;
}

static void
client_process_frames(struct client *c)
{
	while (c->state == CS_IDLE || c->state == CS_STREAM_IN ||
	       c->state == CS_WAITING) {
		struct evbuffer *in;
		struct ferry_frame f;
		uint8_t head[4];
		size_t total;
		uint8_t *p;
		int rc;

		if (c->closing || c->bev == NULL)
			return;
		/* A client that does not read its answers gets no new ones
		 * until it does (on_write resumes). */
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
		    AGENT_OUTPUT_MAX)
			return;
		in = bufferevent_get_input(c->bev);
		if (evbuffer_copyout(in, head, 4) < 4)
			return;
		rc = ferry_frame_size(head, 4, &total);
		if (rc != 0) {
			client_violation(c, 0, "frame length out of range");
			return;
		}
		if (evbuffer_get_length(in) < total)
			return;
		if (c->state == CS_WAITING) {
			/* Only CREDIT may overtake a wait: look at the type
			 * before taking the frame. */
			uint8_t hdr[FERRY_FRAME_HDR];
			if (evbuffer_copyout(in, hdr, sizeof(hdr)) <
			    (ssize_t)sizeof(hdr))
				return;
			if (hdr[4] != FERRY_F_CREDIT)
				return;
		} else if (c->state == CS_IDLE && c->puts > 0 &&
			   !pipeline_takes(c, in, total)) {
			return; /* after the sends in flight are answered */
		}
		p = evbuffer_pullup(in, (ssize_t)total);
		if (p == NULL) {
			client_kill(c, "out of memory");
			return;
		}
		if (ferry_frame_decode(p, total, &f) != 0) {
			client_violation(c, 0, "bad frame header");
			return;
		}
		client_ref(c);
		if (c->state == CS_STREAM_IN) {
			if (f.type == FERRY_F_DATA)
				request_data(c, &f);
			else if (f.type == FERRY_F_CREDIT)
				request_dispatch(c, &f);
			else
				client_violation(c, 0,
						 "a request inside a "
						 "payload stream");
		} else if (f.type == FERRY_F_DATA) {
			client_violation(c, 0, "DATA outside a payload stream");
		} else {
			request_dispatch(c, &f);
		}
		if (c->state != CS_DEAD && c->bev != NULL)
			evbuffer_drain(in, total);
		client_unref(c);
	}
}

/*
 * libevent 2.1 reads at most 4,096 bytes a wakeup (EVBUFFER_MAX_READ in
 * its buffer.c; bufferevent_set_max_single_read cannot raise it), so a
 * streamed SEND of 256 KiB DATA frames cost 64 wakeups (epoll_wait,
 * FIONREAD, readv) a frame: 16,400 readv for 64 MiB, with the loop's
 * thread busy for most of a `ferry send` (1.2 s of CPU for 256 MiB) and
 * the CLI and the store waiting for it.  Once woken, take what the
 * socket holds, up to the read watermark, in reads of up to
 * AGENT_SINGLE_READ into one contiguous piece of the input, so that most
 * frames need no copy to be pulled up (259 readv and about 750 reads for
 * 64 MiB).  The input's watermark callback sees these bytes as it sees
 * libevent's own.  EOF and errors are left to the bufferevent's next
 * read, which meets them again.
 */
static void
client_slurp(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	size_t len = evbuffer_get_length(in);

	/* A bufferevent keeps the end of its input frozen but while it reads
	 * itself; thawed for these reads, frozen again after. */
	evbuffer_unfreeze(in, 0);
	while (len < AGENT_INPUT_MAX) {
		struct evbuffer_iovec v;
		size_t want = AGENT_INPUT_MAX - len;
		ssize_t n;
		if (want > AGENT_SINGLE_READ)
			want = AGENT_SINGLE_READ;
		if (evbuffer_reserve_space(in, (ev_ssize_t)want, &v, 1) < 1)
			break;
		if (v.iov_len > want)
			v.iov_len = want;
		n = read(fd, v.iov_base, v.iov_len);
		if (n <= 0) {
			(void)evbuffer_commit_space(in, NULL, 0);
			break;
		}
		v.iov_len = (size_t)n;
		if (evbuffer_commit_space(in, &v, 1) != 0)
			break;
		len += (size_t)n;
		if ((size_t)n < want)
			break; /* the socket is empty */
	}
	evbuffer_freeze(in, 0);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	(void)bev;
	if (!c->closing)
		client_slurp(c);
	/* Bytes came: the frame or idle timer starts again (client_watch). */
	if (!c->closing && c->io_timer_kind != CT_NONE)
		client_timer_set(c, CT_NONE, 0);
	client_ref(c);
	client_process(c);
	/* Still full (the client waits for the store): libevent 2.1 calls
	 * back at once, again and again, while reading is enabled and the
	 * input is at its high watermark (bufferevent_inbuf_wm_check), and
	 * the loop spun through epoll_wait(0) meanwhile: 7,000 turns in
	 * 0.35 s of a 64 MiB send.  Reading is off until client_process
	 * has taken frames. */
	if (!c->closing && c->state != CS_DEAD && c->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) >=
		AGENT_INPUT_MAX &&
	    (bufferevent_get_enabled(c->bev) & EV_READ)) {
		bufferevent_disable(c->bev, EV_READ);
		c->read_held = 1;
	}
	client_unref(c);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	(void)bev;
	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			client_kill(c, "closed after an error");
		return;
	}
	if (c->state == CS_STREAM_OUT) {
		stream_out_next(c);
		return;
	}
	/* The output drained: take up requests and pushes again. */
	client_ref(c);
	client_process(c);
	if (c->state == CS_IDLE && c->sub_reqid != 0)
		subscription_push(c);
	client_unref(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	(void)bev;
	if (what & BEV_EVENT_EOF)
		client_kill(c, "end of connection");
	else if (what & BEV_EVENT_ERROR)
		client_kill(c, strerror(errno));
}

/*
 * The groups of the peer whose credentials are cr, into c: its primary
 * group and the supplementary groups the kernel holds for it
 * (SO_PEERGROUPS, as of its connect), never the passwd and group
 * databases: those may say otherwise than the caller's real credentials
 * (a process that dropped a group, a database changed since its login),
 * and reading them may block the loop (NSS over the network).  A kernel
 * without SO_PEERGROUPS (before Linux 4.13): the primary group only.
 */
static int
peer_groups(struct client *c, int fd, const struct ucred *cr)
{
	socklen_t len = 32 * sizeof(gid_t);

	c->pid = cr->pid;
	c->uid = cr->uid;
	c->gid = cr->gid;
	for (;;) {
		gid_t *g = realloc(c->groups, len + sizeof(gid_t));
		socklen_t got = len;
		if (g == NULL)
			return -1;
		c->groups = g;
		c->groups[0] = cr->gid;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, c->groups + 1,
			       &got) == 0) {
			c->ngroups = 1 + (int)(got / sizeof(gid_t));
			return 0;
		}
		if (errno == ENOPROTOOPT) {
			c->ngroups = 1;
			return 0;
		}
		if (errno != ERANGE || got <= len ||
		    got > 65536 * sizeof(gid_t))
			return -1;
		len = got;
	}
}

/*
 * Tell a connection why it is refused (ERROR ETOOMANY, request id 0) and
 * close it.  The socket is new and non-blocking: its buffer takes the one
 * small frame or nothing is lost but the explanation.
 */
static void
refuse(struct agent *ag, int fd, const char *text)
{
	struct ferry_fbuf b;
	size_t len;

	agent_frame(ag, &b, FERRY_F_ERROR, 0, 0);
	ferry_fbuf_u32(&b, FERRY_T_CODE, (uint32_t)FERRY_ETOOMANY);
	ferry_fbuf_str(&b, FERRY_T_TEXT, text);
	if (ferry_fbuf_end(&b, &len) == 0)
		(void)send(fd, b.p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

/* Connections of uid now open (not DEAD). */
static unsigned
clients_of(const struct agent *ag, uid_t uid)
{
	unsigned n = 0;

	for (const struct client *c = ag->clients; c != NULL; c = c->next)
		if (c->uid == uid && c->state != CS_DEAD)
			n++;
	return n;
}

/*
 * Admit the peer whose credentials are cr under max_clients and
 * max_clients_per_user (root and the agent's own uid are held to the
 * first only), or refuse it: 0 admitted, -1 refused (fd closed).
 */
static int
admit(struct agent *ag, int fd, const struct ucred *cr)
{
	const struct policy *pol = &ag->pol;
	char text[160], more[64];
	unsigned unlogged = 0, mine;

	if (ag->nclients >= pol->max_clients) {
		snprintf(text, sizeof(text),
			 "too many clients: %u connected (max_clients = %u)",
			 ag->nclients, pol->max_clients);
		if (note_due(ag, (uid_t)-1, NOTE_ALL, &unlogged))
			log_warn("%s: refusing new clients (uid %ld, pid %ld "
				 "the latest)%s",
				 text, (long)cr->uid, (long)cr->pid,
				 unlogged_text(unlogged, more));
		refuse(ag, fd, text);
		return -1;
	}
	if (pol->max_clients_per_user == 0 || cr->uid == 0 ||
	    cr->uid == ag->uid)
		return 0;
	mine = clients_of(ag, cr->uid);
	if (mine < pol->max_clients_per_user)
		return 0;
	snprintf(text, sizeof(text),
		 "too many clients from uid %ld (max_clients_per_user = %u)",
		 (long)cr->uid, pol->max_clients_per_user);
	if (note_due(ag, cr->uid, NOTE_USER, &unlogged))
		log_warn("%s: refusing its new connections (pid %ld the "
			 "latest, %u open)%s",
			 text, (long)cr->pid, mine,
			 unlogged_text(unlogged, more));
	refuse(ag, fd, text);
	return -1;
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
	  int salen, void *arg)
{
	struct agent *ag = arg;
	struct client *c;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);

	(void)l;
	(void)sa;
	(void)salen;
	if (ag->stopping) {
		close(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0) {
		log_warn("refusing a client: cannot read its credentials: %s",
			 strerror(errno));
		close(fd);
		return;
	}
	if (admit(ag, fd, &cr) != 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->ag = ag;
	c->cid = ++ag->next_client_id;
	if (peer_groups(c, fd, &cr) != 0) {
		log_warn("refusing a client: cannot read its groups");
		free(c->groups);
		free(c);
		close(fd);
		return;
	}
	c->bev = bufferevent_socket_new(ag->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		free(c->groups);
		free(c);
		close(fd);
		return;
	}
	c->next = ag->clients;
	if (ag->clients != NULL)
		ag->clients->prev = c;
	ag->clients = c;
	ag->nclients++;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, AGENT_INPUT_MAX);
	bufferevent_setwatermark(c->bev, EV_WRITE, AGENT_OUTPUT_LOW, 0);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0) {
		client_kill(c, "cannot enable events");
		return;
	}
	log_debug("client %llu connected (pid %ld, uid %ld)",
		  (unsigned long long)c->cid, (long)c->pid, (long)c->uid);
	client_watch(c);
}

static void
on_listen_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	if (evconnlistener_enable(arg) != 0)
		log_error("cannot listen for clients again");
}

static void
on_listen_error(struct evconnlistener *l, void *arg)
{
	struct timeval tv = {1, 0};
	int e = errno;

	(void)arg;
	/* EMFILE and friends: the pending connection stays, and libevent
	 * would call again at once (a spin and a flood of lines): pause
	 * accepting for a second. */
	log_warn("accepting a client failed: %s%s; not accepting for 1 s",
		 strerror(e),
		 e == EMFILE || e == ENFILE ? " (raise the open files limit: "
					      "LimitNOFILE=, ulimit -n)"
					    : "");
	if (evconnlistener_disable(l) != 0 ||
	    event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT,
			    on_listen_resume, l, &tv) != 0)
		log_error("cannot pause accepting clients");
}

/*
 * The state directory is 0700, so a socket inside it (the default) could
 * be reached by nobody else whatever socket_mode says.  When socket_mode
 * lets the group or others connect, the state directory gets the search
 * bit for them (never read: they can reach the socket by its name and
 * list nothing), and the socket's group when one is set; everything in it
 * that matters stays 0700 or 0600 (the store, the identity, bundles/).
 */
static int
open_state_dir(struct agent *ag, const char *sock, gid_t gid)
{
	const char *dir = ag->pol.state_dir;
	size_t n = strlen(dir);
	struct stat sb;
	mode_t want;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (strncmp(sock, dir, n) != 0 || sock[n] != '/')
		return 0; /* elsewhere: its folder is the operator's */
	if ((ag->pol.socket_mode & 077) == 0)
		return 0;
	if (stat(dir, &sb) != 0) {
		log_error("cannot stat the state directory %s: %s", dir,
			  strerror(errno));
		return -1;
	}
	want = sb.st_mode & 07777;
	if (ag->pol.socket_mode & 070)
		want |= 010;
	if (ag->pol.socket_mode & 07)
		want |= 001;
	if (gid != (gid_t)-1 && sb.st_gid != gid && (want & 010) &&
	    chown(dir, (uid_t)-1, gid) != 0) {
		log_error("cannot give the state directory %s to the socket's "
			  "group: %s",
			  dir, strerror(errno));
		return -1;
	}
	if (want != (sb.st_mode & 07777)) {
		if (chmod(dir, want) != 0) {
			log_error("cannot open the state directory %s for the "
				  "socket (mode %04o): %s",
				  dir, (unsigned)want, strerror(errno));
			return -1;
		}
		log_info("state directory %s is now mode %04o: the socket's %s "
			 "may reach %s (and list nothing)",
			 dir, (unsigned)want,
			 (ag->pol.socket_mode & 07) ? "users" : "group", sock);
	}
	return 0;
}

int
control_open(struct agent *ag)
{
	const char *path = ag->pol.socket_path;
	struct sockaddr_un sa;
	mode_t old;
	gid_t sock_gid = (gid_t)-1;
	int fd, probe;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("socket path %s is too long (max %zu bytes)", path,
			  sizeof(sa.sun_path) - 1);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	/* The socket's directory (/run/ferry for a system service) may be
	 * gone after a reboot: make it, readable by all, like /run. */
	{
		char parent[sizeof(sa.sun_path)];
		char *slash;
		snprintf(parent, sizeof(parent), "%s", path);
		slash = strrchr(parent, '/');
		if (slash != NULL && slash != parent) {
			*slash = '\0';
			if (mkdir(parent, 0755) != 0 && errno != EEXIST) {
				log_error("cannot create %s for the socket: %s",
					  parent, strerror(errno));
				return -1;
			}
		}
	}
	/* A socket file left by a crash is removed; a live one is not. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 &&
	    connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		log_error("another ferryd is listening on %s", path);
		return -1;
	}
	if (probe >= 0)
		close(probe);
	if (unlink(path) != 0 && errno != ENOENT) {
		log_error("cannot remove the old socket %s: %s", path,
			  strerror(errno));
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_error("socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		umask(old);
		log_error("cannot bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (ag->pol.socket_group[0] != '\0') {
		struct group gr, *grp = NULL;
		char buf[4096];
		const char *name = ag->pol.socket_group;
		char *end = NULL;
		unsigned long num = strtoul(name, &end, 10);
		gid_t gid;

		if (getgrnam_r(name, &gr, buf, sizeof(buf), &grp) == 0 &&
		    grp != NULL) {
			gid = grp->gr_gid;
		} else if (end != name && *end == '\0' &&
			   num < (unsigned long)(gid_t)-1) {
			gid = (gid_t)num; /* a number is a gid as it is */
		} else {
			log_error("socket_group '%s' is not a group on this "
				  "system",
				  name);
			goto fail_bound;
		}
		sock_gid = gid;
		if (chown(path, (uid_t)-1, gid) != 0) {
			log_error("cannot give %s to group %s: %s", path, name,
				  strerror(errno));
			goto fail_bound;
		}
	}
	if (chmod(path, ag->pol.socket_mode) != 0) {
		log_error("cannot chmod %s: %s", path, strerror(errno));
		goto fail_bound;
	}
	if (open_state_dir(ag, path, sock_gid) != 0)
		goto fail_bound;
	ag->listener = evconnlistener_new(ag->base, on_accept, ag,
					  LEV_OPT_CLOSE_ON_FREE, 128, fd);
	if (ag->listener == NULL) {
		log_error("cannot listen on %s", path);
		goto fail_bound;
	}
	evconnlistener_set_error_cb(ag->listener, on_listen_error);
	ag->sock_fd = fd;
	log_info("listening on %s (mode %04o%s%s)", path, ag->pol.socket_mode,
		 ag->pol.socket_group[0] ? ", group " : "",
		 ag->pol.socket_group);
	return 0;
fail_bound:
	close(fd);
	(void)unlink(path); /* no half-made socket left behind */
	return -1;
}

void
control_close(struct agent *ag)
{
	if (ag->listener != NULL) {
		evconnlistener_free(ag->listener);
		ag->listener = NULL;
		(void)unlink(ag->pol.socket_path);
	}
}
