/*
 * ferry_msg.c - validation and id helpers of the message model.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ferry_msg.h"
#include "util.h"

void
ferry_msg_init(struct ferry_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->priority = FERRY_PRIO_DEFAULT;
}

/*
 * Ids are time-ordered, like UUIDv7 (RFC 9562, section 5.7, "method 2"):
 * bytes 0-5 are the Unix time in milliseconds, big-endian, and bytes 6-15
 * are random for the first id a thread draws in a millisecond; each later
 * one of that thread in the same millisecond (or after the clock stepped
 * back) is the thread's last id plus 1 plus a random 48-bit step, so one
 * thread's ids strictly increase and the next is still not guessable
 * (a carry into the time bytes, rare, only makes an id claim a later
 * millisecond).
 *
 * Why: a store files its messages under their id in a B-tree.  Random ids
 * put each new message on a page of its own, anywhere in the tree (a page
 * to find, dirty and write back for every message once the store outgrows
 * its cache); ordered ones all go to the last page (docs/store.md, "What
 * one message costs").  The time an id shows is no secret: the message's
 * created_ms travels with it.
 *
 * Random bytes come from getrandom 240 at a time, kept per thread; a
 * fork's child never uses what its parent drew (fork_gen), or both would
 * draw the same ids.
 */
#define ID_POOL_BYTES 240

struct id_state {
	uint8_t pool[ID_POOL_BYTES];
	size_t left;  /* unused bytes at the end of pool */
	unsigned gen; /* fork_gen when pool was filled */
	uint8_t last[FERRY_ID_LEN];
	int64_t last_ms; /* the time in last (ms); -1: none yet */
};

static __thread struct id_state id_state = {.last_ms = -1};
static unsigned fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void
id_fork_child(void)
{
	__atomic_add_fetch(&fork_gen, 1, __ATOMIC_RELAXED);
}

static void
id_fork_register(void)
{
	(void)pthread_atfork(NULL, NULL, id_fork_child);
}

int
ferry_random_bytes(void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom((uint8_t *)buf + got, len - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return FERRY_EIO;
		}
		got += (size_t)n;
	}
	return 0;
}

/* n (at most ID_POOL_BYTES) random bytes from this thread's pool. */
static int
id_random(struct id_state *s, uint8_t *out, size_t n)
{
	unsigned gen;

	(void)pthread_once(&fork_once, id_fork_register);
	gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
	if (s->gen != gen) {
		s->left = 0; /* drawn by our parent before a fork */
		s->gen = gen;
	}
	if (s->left < n) {
		int rc = ferry_random_bytes(s->pool, sizeof(s->pool));
		if (rc != 0)
			return rc;
		s->left = sizeof(s->pool);
	}
	memcpy(out, s->pool + sizeof(s->pool) - s->left, n);
	memset(s->pool + sizeof(s->pool) - s->left, 0, n); /* used once */
	s->left -= n;
	return 0;
}

int
ferry_id_generate(uint8_t id[FERRY_ID_LEN])
{
	struct id_state *s = &id_state;
	struct timespec ts;
	uint8_t r[10];
	int64_t ms = 0;
	int rc;

	if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec >= 0)
		ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ms &= (int64_t)0xffffffffffff; /* 48 bits: until the year 10889 */
	if ((rc = id_random(s, r, sizeof(r))) != 0)
		return rc;
	if (s->last_ms < 0 || ms > s->last_ms) {
		for (int i = 0; i < 6; i++)
			id[i] = (uint8_t)(ms >> (40 - 8 * i));
		memcpy(id + 6, r, sizeof(r));
	} else {
		/* last + 1 + a 48-bit step: a 128-bit big-endian sum. */
		unsigned carry = 1;
		memcpy(id, s->last, FERRY_ID_LEN);
		for (int i = FERRY_ID_LEN - 1; i >= 0; i--) {
			unsigned add = i >= FERRY_ID_LEN - 6
					   ? r[i - (FERRY_ID_LEN - 6)]
					   : 0;
			unsigned v = id[i] + add + carry;
			id[i] = (uint8_t)v;
			carry = v >> 8;
		}
		ms = s->last_ms;
	}
	memcpy(s->last, id, FERRY_ID_LEN);
	s->last_ms = ms;
	return 0;
}

void
ferry_id_to_hex(const uint8_t id[FERRY_ID_LEN], char out[FERRY_ID_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < FERRY_ID_LEN; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 0xf];
	}
	out[FERRY_ID_HEX_LEN] = '\0';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
ferry_id_from_hex(const char *hex, uint8_t id[FERRY_ID_LEN])
{
	if (hex == NULL || strlen(hex) != FERRY_ID_HEX_LEN)
		return FERRY_EINVAL;
	for (size_t i = 0; i < FERRY_ID_LEN; i++) {
		int hi = hexval((unsigned char)hex[2 * i]);
		int lo = hexval((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return FERRY_EINVAL;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
ferry_node_name_valid(const char *name)
{
	size_t len = strnlen(name, FERRY_NODE_MAX + 1);

	if (len == 0 || len > FERRY_NODE_MAX || name[0] == '.' ||
	    name[0] == '-')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

int
ferry_dest_node_valid(const char *name)
{
	if (name[0] == '@')
		return strnlen(name, FERRY_NODE_MAX + 1) <= FERRY_NODE_MAX &&
		       ferry_node_name_valid(name + 1);
	return ferry_node_name_valid(name);
}

const char *
ferry_quote(const char *in, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (cap < 8) {
		if (cap > 0)
			out[0] = '\0';
		return out;
	}
	for (const unsigned char *p = (const unsigned char *)in; *p != '\0';
	     p++) {
		size_t need = *p >= 0x20 && *p < 0x7f && *p != '\\' ? 1 : 4;
		if (o + need + 4 > cap) {
			memcpy(out + o, "...", 4);
			return out;
		}
		if (need == 1) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return out;
}

const char *
ferry_queue_name_why(const char *name)
{
	size_t len = strnlen(name, FERRY_QUEUE_MAX + 1);

	if (ferry_queue_name_valid(name))
		return NULL;
	if (len == 0)
		return "it is empty";
	if (len > FERRY_QUEUE_MAX)
		return "it is longer than 127 characters";
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.' || c == '/'))
			return "only letters, digits, '-', '_', '.' and '/' "
			       "are allowed";
	}
	return "a part between '/' is empty or '..'";
}

int
ferry_queue_reserved(const char *name)
{
	return strncmp(name, FERRY_RESERVED_PREFIX,
		       sizeof(FERRY_RESERVED_PREFIX) - 1) == 0;
}

int
ferry_queue_is_reply(const char *name)
{
	return strncmp(name, FERRY_REPLY_PREFIX,
		       sizeof(FERRY_REPLY_PREFIX) - 1) == 0;
}

int
ferry_queue_name_valid(const char *name)
{
	size_t len = strnlen(name, FERRY_QUEUE_MAX + 1);
	size_t comp = 0; /* length of the current path component */

	if (len == 0 || len > FERRY_QUEUE_MAX)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		char c = name[i];
		if (c == '/' || c == '\0') {
			if (comp == 0)
				return 0;
			if (comp == 2 && name[i - 1] == '.' &&
			    name[i - 2] == '.')
				return 0;
			comp = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return 0;
		comp++;
	}
	return 1;
}

static int
field_terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

int
ferry_msg_validate(const struct ferry_msg *m)
{
	if (!field_terminated(m->src_node, sizeof(m->src_node)) ||
	    !field_terminated(m->reply_to, sizeof(m->reply_to)) ||
	    !field_terminated(m->dst_node, sizeof(m->dst_node)) ||
	    !field_terminated(m->dst_queue, sizeof(m->dst_queue)) ||
	    !field_terminated(m->correlation, sizeof(m->correlation)))
		return FERRY_EINVAL;
	if (!ferry_node_name_valid(m->src_node) ||
	    !ferry_node_name_valid(m->dst_node) ||
	    !ferry_queue_name_valid(m->dst_queue))
		return FERRY_EINVAL;
	if (m->reply_to[0] != '\0' && !ferry_queue_name_valid(m->reply_to))
		return FERRY_EINVAL;
	if (m->priority > FERRY_PRIO_MAX)
		return FERRY_EINVAL;
	if (m->flags & ~FERRY_MSG_FLAGS_ALL)
		return FERRY_EINVAL;
	if (m->expires_ms < 0)
		return FERRY_EINVAL;
	return 0;
}
