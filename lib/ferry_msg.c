/*
 * ferry_msg.c - validation and id helpers of the message model.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "ferry_msg.h"

void
ferry_msg_init(struct ferry_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->priority = FERRY_PRIO_DEFAULT;
}

int
ferry_id_generate(uint8_t id[FERRY_ID_LEN])
{
	size_t got = 0;

	while (got < FERRY_ID_LEN) {
		ssize_t n = getrandom(id + got, FERRY_ID_LEN - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return FERRY_EIO;
		}
		got += (size_t)n;
	}
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
