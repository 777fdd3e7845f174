/*
 * acl_walk.c - every request type, as a user with few rights
 * (agent_acl.sh, part d).
 *
 *   acl_walk SOCKET NODE ID_MINE ID_OTHERS
 *
 * Run as a user whose only right in [acl] is "send NODE/inbox".  ID_MINE
 * is a message it sent to NODE/inbox (still queued), ID_OTHERS one root
 * sent to NODE/other.  Each case of the table below sends one request
 * on a connection of its own and checks the answer: the one the ACL
 * allows, or ERROR EPERM.
 *
 * Then the whole request type space (1-63, lib/frame.h: answers start at
 * 64) is walked: a type with a case here must be served by ferryd, and
 * a type ferryd serves (anything but "unknown request type") must have a
 * case here.  So a new request type in ferryd's table (agent/requests.c)
 * fails this test until someone writes down what the ACL says of it.
 *
 * One line per case on stdout ("ok - ..." or "FAIL ..."); exit 0 when
 * all passed, 1 otherwise, 99 on a harness error.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/frame.h"
#include "tests/integration/itutil.h"

#define ANSWER_MS  5000
#define SILENCE_MS 500 /* a frame that gets no answer: none in this time */
#define TYPE_FIRST 1
#define TYPE_LAST  63 /* answers are 64 and up */
#define WALK_BUF   4096
#define WALK_QUEUE "inbox" /* the user may send here, nothing else */
#define WALK_REQID 7

static const char *sock_path;
static const char *node;
static uint8_t id_mine[FERRY_ID_LEN], id_others[FERRY_ID_LEN];
static int failures;

enum want {
	W_ANSWER, /* allowed: answered with the frame .answer */
	W_EPERM,  /* refused by the ACL: ERROR EPERM */
	W_SILENT, /* never answered (CREDIT); the connection stays usable */
	W_CLOSED, /* not a request here: ERROR EPROTO and closed (DATA) */
};

struct walk_case {
	uint8_t type;
	const char *label;
	enum want want;
	uint8_t answer; /* W_ANSWER */
	void (*fields)(struct ferry_fbuf *b);
};

static void
f_none(struct ferry_fbuf *b)
{
	(void)b;
}

static void
f_queue(struct ferry_fbuf *b)
{
	ferry_fbuf_str(b, FERRY_T_QUEUE, WALK_QUEUE);
}

static void
f_new_queue(struct ferry_fbuf *b)
{
	ferry_fbuf_str(b, FERRY_T_QUEUE, "walk");
}

static void
f_subscribe(struct ferry_fbuf *b)
{
	ferry_fbuf_str(b, FERRY_T_QUEUE, WALK_QUEUE);
	ferry_fbuf_u32(b, FERRY_T_CREDIT, 1);
}

static void
f_credit(struct ferry_fbuf *b)
{
	ferry_fbuf_u32(b, FERRY_T_CREDIT, 1);
}

static void
f_send_to(struct ferry_fbuf *b, const char *queue)
{
	ferry_fbuf_str(b, FERRY_T_DST_NODE, node);
	ferry_fbuf_str(b, FERRY_T_DST_QUEUE, queue);
	ferry_fbuf_bytes(b, FERRY_T_PAYLOAD, "walk", 4);
}

static void
f_send_mine(struct ferry_fbuf *b)
{
	f_send_to(b, WALK_QUEUE);
}

static void
f_send_other(struct ferry_fbuf *b)
{
	f_send_to(b, "other");
}

static void
f_id_mine(struct ferry_fbuf *b)
{
	ferry_fbuf_bytes(b, FERRY_T_ID, id_mine, FERRY_ID_LEN);
}

static void
f_id_mine_token(struct ferry_fbuf *b)
{
	ferry_fbuf_bytes(b, FERRY_T_ID, id_mine, FERRY_ID_LEN);
	ferry_fbuf_u64(b, FERRY_T_TOKEN, 1);
}

static void
f_id_others(struct ferry_fbuf *b)
{
	ferry_fbuf_bytes(b, FERRY_T_ID, id_others, FERRY_ID_LEN);
}

static void
f_dir(struct ferry_fbuf *b)
{
	ferry_fbuf_str(b, FERRY_T_DIR, "/nonexistent/ferry-walk");
}

/*
 * What the ACL says of each request for this user (ferry.conf(5), [acl];
 * docs/protocol.md §1 and §4).  Keep it in step with the table in
 * agent/requests.c.
 */
static const struct walk_case cases[] = {
    {FERRY_F_HELLO, "HELLO (no ACL: version and node name)", W_ANSWER,
     FERRY_F_HELLO_OK, f_none},
    {FERRY_F_SEND, "SEND to NODE/inbox (send allowed)", W_ANSWER, FERRY_F_OK,
     f_send_mine},
    {FERRY_F_SEND, "SEND to NODE/other", W_EPERM, 0, f_send_other},
    {FERRY_F_DATA, "DATA outside a stream (not a request)", W_CLOSED, 0,
     f_none},
    {FERRY_F_RECV, "RECV inbox", W_EPERM, 0, f_queue},
    {FERRY_F_ACK, "ACK of a message in inbox", W_EPERM, 0, f_id_mine},
    {FERRY_F_NACK, "NACK of a message in inbox", W_EPERM, 0, f_id_mine_token},
    {FERRY_F_BROWSE, "BROWSE inbox", W_EPERM, 0, f_queue},
    {FERRY_F_QCREATE, "QCREATE walk", W_EPERM, 0, f_new_queue},
    {FERRY_F_QLIST, "QLIST (answered; shows no queue)", W_ANSWER, FERRY_F_END,
     f_none},
    {FERRY_F_QPURGE, "QPURGE inbox", W_EPERM, 0, f_queue},
    {FERRY_F_QSTATS, "QSTATS inbox", W_EPERM, 0, f_queue},
    {FERRY_F_STATUS, "STATUS of its own message (may send there)", W_ANSWER,
     FERRY_F_STATUS_OK, f_id_mine},
    {FERRY_F_STATUS, "STATUS of a message in NODE/other", W_EPERM, 0,
     f_id_others},
    {FERRY_F_INFO, "INFO", W_EPERM, 0, f_none},
    {FERRY_F_SUBSCRIBE, "SUBSCRIBE inbox", W_EPERM, 0, f_subscribe},
    {FERRY_F_CREDIT, "CREDIT (no ACL: own subscription, no answer)", W_SILENT,
     0, f_credit},
    {FERRY_F_UNSUBSCRIBE, "UNSUBSCRIBE (no ACL: own subscription)", W_ANSWER,
     FERRY_F_OK, f_none},
    {FERRY_F_FETCH, "FETCH of a message in inbox", W_EPERM, 0, f_id_mine},
    {FERRY_F_PEERS, "PEERS", W_EPERM, 0, f_none},
    {FERRY_F_EXPORT, "EXPORT", W_EPERM, 0, f_dir},
    {FERRY_F_IMPORT, "IMPORT", W_EPERM, 0, f_dir},
    {FERRY_F_PARTIALS, "PARTIALS (answered; only those it may send)", W_ANSWER,
     FERRY_F_END, f_none},
    {FERRY_F_METRICS, "METRICS", W_EPERM, 0, f_none},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failures++;
}

/* ------------------------------------------------------------ the wire */

static int
walk_connect(void)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		it_die(IT_EXIT_HARNESS, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		it_die(IT_EXIT_FAIL, "FAIL cannot connect to %s: %s", sock_path,
		       strerror(errno));
	return fd;
}

static void
walk_send(int fd, uint8_t type, uint32_t reqid,
	  void (*fields)(struct ferry_fbuf *b))
{
	uint8_t buf[WALK_BUF];
	struct ferry_fbuf b;
	size_t len;

	ferry_fbuf_begin(&b, buf, sizeof(buf), type, FERRY_FL_FIN, reqid);
	fields(&b);
	if (ferry_fbuf_end(&b, &len) != 0)
		it_die(IT_EXIT_HARNESS, "a request does not fit in a frame");
	if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		it_die(IT_EXIT_FAIL, "FAIL cannot send to the agent: %s",
		       strerror(errno));
}

static int
read_full(int fd, uint8_t *p, size_t len, int timeout_ms)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t n;
		int rc = poll(&pfd, 1, timeout_ms);
		if (rc == 0)
			return -1;
		if (rc < 0)
			return errno == EINTR ? -1 : 0;
		n = recv(fd, p + got, len - got, 0);
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	return 1;
}

/* An answer frame, as read. */
struct answer {
	uint8_t type;
	uint32_t reqid;
	struct ferry_fields fl;
};

/*
 * Read one frame within timeout_ms.  1: a frame in *a; 0: the agent
 * closed the connection; -1: nothing within the time; -2: malformed.
 */
static int
walk_read(int fd, struct answer *a, int timeout_ms)
{
	static uint8_t buf[FERRY_FRAME_MAX + 4];
	struct ferry_frame f;
	size_t total;
	const char *why = NULL;
	int rc = read_full(fd, buf, 4, timeout_ms);

	if (rc != 1)
		return rc;
	if (ferry_frame_size(buf, 4, &total) != 0 || total < FERRY_FRAME_HDR)
		return -2;
	if ((rc = read_full(fd, buf + 4, total - 4, ANSWER_MS)) != 1)
		return rc == -1 ? -2 : rc;
	if (ferry_frame_decode(buf, total, &f) != 0 ||
	    ferry_fields_parse(&f, &a->fl, &why) != 0)
		return -2;
	a->type = f.type;
	a->reqid = f.reqid;
	return 1;
}

static const char *
describe(const struct answer *a, char *buf, size_t cap)
{
	if (a->type == FERRY_F_ERROR)
		snprintf(buf, cap, "ERROR %d '%s'", (int)a->fl.code,
			 a->fl.text);
	else
		snprintf(buf, cap, "%s", ferry_frame_type_name(a->type));
	return buf;
}

/* ------------------------------------------------------------ the walk */

static void
run_case(const struct walk_case *k)
{
	struct answer a;
	char d[600];
	int fd = walk_connect(), rc;

	walk_send(fd, k->type, WALK_REQID, k->fields);
	rc = walk_read(fd, &a, k->want == W_SILENT ? SILENCE_MS : ANSWER_MS);
	switch (k->want) {
	case W_SILENT:
		if (rc == 1) {
			fail("%s: answered %s, expected nothing", k->label,
			     describe(&a, d, sizeof(d)));
			break;
		}
		/* Still there: a HELLO behind it is answered. */
		walk_send(fd, FERRY_F_HELLO, WALK_REQID + 1, f_none);
		if (walk_read(fd, &a, ANSWER_MS) != 1 ||
		    a.type != FERRY_F_HELLO_OK)
			fail("%s: %s", k->label,
			     "the connection no longer answers HELLO");
		else
			printf("ok - %s: no answer, connection usable\n",
			       k->label);
		break;
	case W_CLOSED:
		if (rc != 1 || a.type != FERRY_F_ERROR ||
		    a.fl.code != FERRY_EPROTO) {
			fail("%s: %s, expected ERROR EPROTO", k->label,
			     rc == 1 ? describe(&a, d, sizeof(d))
				     : "no answer");
			break;
		}
		if (walk_read(fd, &a, ANSWER_MS) != 0)
			fail("%s: %s", k->label, "connection not closed");
		else
			printf("ok - %s: ERROR EPROTO, closed\n", k->label);
		break;
	case W_EPERM:
		if (rc != 1 || a.type != FERRY_F_ERROR ||
		    a.fl.code != FERRY_EPERM || a.reqid != WALK_REQID)
			fail("%s: %s, expected ERROR EPERM", k->label,
			     rc == 1 ? describe(&a, d, sizeof(d))
				     : "no answer");
		else
			printf("ok - %s: refused (%s)\n", k->label, a.fl.text);
		break;
	case W_ANSWER:
		if (rc != 1 || a.type != k->answer || a.reqid != WALK_REQID)
			fail("%s: %s, not the answer the ACL allows", k->label,
			     rc == 1 ? describe(&a, d, sizeof(d))
				     : "no answer");
		else
			printf("ok - %s: %s\n", k->label,
			       ferry_frame_type_name(a.type));
		break;
	}
	close(fd);
}

static int
has_case(uint8_t type)
{
	for (size_t i = 0; i < NCASES; i++)
		if (cases[i].type == type)
			return 1;
	return 0;
}

/* Does ferryd serve type at all?  A bare frame of it, on a fresh
 * connection: anything but "unknown request type" says yes. */
static int
served(uint8_t type)
{
	struct answer a;
	int fd = walk_connect(), rc, yes;

	walk_send(fd, type, WALK_REQID, f_none);
	rc = walk_read(fd, &a, type == FERRY_F_CREDIT ? SILENCE_MS : ANSWER_MS);
	yes =
	    !(rc == 1 && a.type == FERRY_F_ERROR && a.fl.code == FERRY_EPROTO &&
	      strstr(a.fl.text, "unknown request type") != NULL);
	close(fd);
	return yes;
}

int
main(int argc, char **argv)
{
	char name[32];

	it_progname(argv[0]);
	if (argc != 5)
		it_die(IT_EXIT_HARNESS,
		       "usage: acl_walk SOCKET NODE ID_MINE ID_OTHERS");
	sock_path = argv[1];
	node = argv[2];
	if (ferry_id_from_hex(argv[3], id_mine) != 0 ||
	    ferry_id_from_hex(argv[4], id_others) != 0)
		it_die(IT_EXIT_HARNESS, "ids are 32 hex digits");

	for (size_t i = 0; i < NCASES; i++)
		run_case(&cases[i]);

	for (unsigned t = TYPE_FIRST; t <= TYPE_LAST; t++) {
		int known = has_case((uint8_t)t), serves;
		if (t == FERRY_F_DATA)
			continue; /* a stream's frame, walked above */
		serves = served((uint8_t)t);
		snprintf(name, sizeof(name), "type %u (%s)", t,
			 ferry_frame_type_name((uint8_t)t));
		if (serves && !known)
			fail("%s: ferryd serves it, and acl_walk has no case "
			     "for it: %s",
			     name,
			     "add one saying what the ACL allows this user");
		else if (!serves && known)
			fail("%s: %s", name,
			     "acl_walk has a case, ferryd does not know it");
	}
	printf("%s - the request types 1-%d walked\n", failures ? "FAIL" : "ok",
	       TYPE_LAST);
	return failures ? IT_EXIT_FAIL : IT_EXIT_PASS;
}
