/*
 * peers.c - [peer NAME] sections, [node] listen, and TCP addresses
 * ("host:port", "[v6]:port").
 *
 * config.c reads the file and hands each line of a [peer NAME] section
 * here (policy_int.h); this file fills struct policy_peer, checks each
 * section when it ends and the set of peers when the file ends.  The key
 * of a peer is its public card (docs/identity.md), parsed with
 * identity_card_parse().  Nothing here resolves names, opens sockets or
 * acts on a peer: the TCP transport does, from the loaded struct.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/policy.h"
#include "policy/policy_int.h"
#include "transports/identity.h"

/* The card's keys are what struct policy_peer holds. */
_Static_assert(IDENTITY_PK_LEN == 32, "peer keys are 32 bytes");
_Static_assert(IDENTITY_CARD_LEN < sizeof(((struct policy_peer *)0)->card),
	       "a card fits struct policy_peer");

enum peer_key {
	PK_KEY,
	PK_TCP,
	PK_DIAL,
	PK_RETRY_MIN,
	PK_RETRY_MAX,
	PK_RETRY_JITTER,
	PK_KEEPALIVE,
	PK_RATE,
	PK_DIR,
	PK_CALL_EVERY,
	PK_HTTP,
	PK_PROXY,
	PK_CA,
	PK_POLL,
	PK_WINDOW,
	PK_COMPRESS,
};

static const char *const peer_key_names[POLICY_PEER_NKEYS] = {
    [PK_KEY] = "key",
    [PK_TCP] = "tcp",
    [PK_DIAL] = "dial",
    [PK_RETRY_MIN] = "retry_min",
    [PK_RETRY_MAX] = "retry_max",
    [PK_RETRY_JITTER] = "retry_jitter",
    [PK_KEEPALIVE] = "keepalive",
    [PK_RATE] = "rate",
    [PK_DIR] = "dir",
    [PK_CALL_EVERY] = "call_every",
    [PK_HTTP] = "http",
    [PK_PROXY] = "proxy",
    [PK_CA] = "ca",
    [PK_POLL] = "poll",
    [PK_WINDOW] = "window",
    [PK_COMPRESS] = "compress",
};

#define MS_S 1000LL
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)

/* Ranges of the duration keys, in ms, and as the user writes them. */
#define RETRY_MIN_MS	 1LL
#define RETRY_MAX_MS	 (24 * MS_H)
#define RETRY_RANGE	 "1ms..24h"
#define KEEPALIVE_MIN_MS 100LL
#define KEEPALIVE_MAX_MS MS_H
#define KEEPALIVE_RANGE	 "100ms..1h"
#define CALL_MIN_MS	 MS_S
#define CALL_MAX_MS	 (366 * 24 * MS_H)
#define CALL_RANGE	 "1s..366d, or 0 (never)"
#define POLL_MIN_MS	 MS_S
#define POLL_MAX_MS	 MS_H
#define POLL_RANGE	 "1s..1h"

__attribute__((format(printf, 3, 4))) static int
peer_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return FERRY_EINVAL;
}

/* compress = no | auto | LEVEL (ferry.conf(5)). */
static int
peer_set_compress(struct policy_peer *peer, const char *value, char *why,
		  size_t whylen)
{
	char *end = NULL;
	long v;

	if (strcmp(value, "no") == 0) {
		peer->compress_level = 0;
		return 0;
	}
	if (strcmp(value, "auto") == 0) {
		peer->compress_level = POLICY_COMPRESS_AUTO;
		return 0;
	}
	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < 1 ||
	    v > POLICY_COMPRESS_MAX)
		return peer_why(why, whylen,
				"bad compress '%.64s' (no, auto or a zstd "
				"level 1..%d)",
				value, POLICY_COMPRESS_MAX);
	peer->compress_level = (int)v;
	return 0;
}

static void
peer_defaults(struct policy_peer *peer)
{
	memset(peer, 0, sizeof(*peer));
	peer->retry_min_ms = 1 * MS_S;
	peer->retry_max_ms = 5 * MS_M;
	peer->retry_jitter_pct = 20;
	peer->keepalive_ms = 30 * MS_S;
	peer->call_every_ms = -1; /* default: 1 h if it has an address */
	peer->rate_bytes_per_s = 0;
	peer->compress_level = POLICY_COMPRESS_AUTO;
	peer->dial = POLICY_DIAL_WHEN_NEEDED;
	peer->poll_ms = 60 * MS_S;
}

/*
 * A URL of http = or proxy =: SCHEME://HOST[:PORT][/PATH], printable
 * ASCII without spaces, quotes, backslashes or a fragment; http = takes
 * http:// and https:// only (the path is where ferry's endpoint is
 * mounted), proxy = whatever libcurl knows (http, https, socks4, socks5,
 * ...).  libcurl parses it for real when the transport starts.
 */
static int
peer_url_ok(const char *v, int http_only)
{
	const char *p = strstr(v, "://");
	size_t n = strlen(v);

	if (n == 0 || n >= POLICY_URL_MAX || p == NULL || p == v ||
	    p[3] == '\0' || p[3] == '/' || p[3] == ':')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch <= ' ' || ch >= 0x7f || ch == '"' || ch == '\\' ||
		    ch == '#' || ch == '<' || ch == '>')
			return 0;
	}
	for (const char *q = v; q < p; q++)
		if (!isalnum((unsigned char)*q) && *q != '+' && *q != '-' &&
		    *q != '.')
			return 0;
	if (http_only)
		return (p - v == 4 && strncasecmp(v, "http", 4) == 0) ||
		       (p - v == 5 && strncasecmp(v, "https", 5) == 0);
	return 1;
}

const struct policy_peer *
policy_peer_find(const struct policy *p, const char *name)
{
	if (p == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < p->npeers; i++)
		if (strcmp(p->peers[i].name, name) == 0)
			return &p->peers[i];
	return NULL;
}

const struct policy_peer *
policy_peer_by_key(const struct policy *p, const uint8_t kx_pk[32])
{
	if (p == NULL || kx_pk == NULL)
		return NULL;
	for (size_t i = 0; i < p->npeers; i++)
		if (memcmp(p->peers[i].kx_pk, kx_pk, 32) == 0)
			return &p->peers[i];
	return NULL;
}

/* A host name or IPv4 literal: letters, digits, '-', '.', '_'. */
static int
endpoint_name_ok(const char *s, size_t len, size_t *bad)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!isalnum(ch) && ch != '-' && ch != '.' && ch != '_') {
			*bad = i;
			return 0;
		}
	}
	return 1;
}

/* "ADDR" or "ADDR%ZONE" inside brackets (RFC 4291 section 2.2, RFC 6874). */
static int
endpoint_v6_ok(const char *s, size_t len)
{
	char addr[INET6_ADDRSTRLEN + 1];
	struct in6_addr a;
	const char *pct = memchr(s, '%', len);
	size_t alen = pct != NULL ? (size_t)(pct - s) : len;
	size_t bad;

	if (alen == 0 || alen >= sizeof(addr))
		return 0;
	if (pct != NULL) {
		size_t zlen = len - alen - 1;

		/* an interface name: IFNAMSIZ - 1 bytes at most */
		if (zlen == 0 || zlen > 15 ||
		    !endpoint_name_ok(pct + 1, zlen, &bad))
			return 0;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	return inet_pton(AF_INET6, addr, &a) == 1;
}

#define EP_HINT "write host:port, e.g. base.example.org:7700 or [::1]:7700"

int
policy_endpoint_parse(const char *s, struct policy_endpoint *ep, char *why,
		      size_t whylen)
{
	const char *host, *port;
	size_t hlen, bad = 0;
	uint64_t num;

	if (s == NULL || ep == NULL || s[0] == '\0')
		return peer_why(why, whylen, "empty address (" EP_HINT ")");
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL)
			return peer_why(why, whylen,
					"no ']' after the IPv6 address in "
					"'%.300s' (write [ADDRESS]:PORT, e.g. "
					"[::1]:7700)",
					s);
		host = s + 1;
		hlen = (size_t)(close - host);
		if (close[1] != ':')
			return peer_why(why, whylen,
					"no :PORT after ']' in '%.300s' (write "
					"[ADDRESS]:PORT, e.g. [::1]:7700)",
					s);
		port = close + 2;
		if (!endpoint_v6_ok(host, hlen))
			return peer_why(why, whylen,
					"bad IPv6 address '%.*s' in '%.300s' "
					"(write a literal such as ::1 or "
					"fe80::1%%eth0 in brackets)",
					(int)(hlen > 300 ? 300 : hlen), host,
					s);
	} else {
		const char *colon = strrchr(s, ':');

		if (colon == NULL)
			return peer_why(why, whylen,
					"no :PORT in '%.300s' (" EP_HINT ")",
					s);
		if (strchr(s, ':') != colon)
			return peer_why(why, whylen,
					"IPv6 address without brackets in "
					"'%.300s' (write [ADDRESS]:PORT, e.g. "
					"[::1]:7700)",
					s);
		host = s;
		hlen = (size_t)(colon - s);
		port = colon + 1;
		if (hlen == 0)
			return peer_why(why, whylen,
					"no host in '%.300s' (" EP_HINT
					"; 0.0.0.0 or [::] listen on every "
					"address)",
					s);
		if (hlen > POLICY_HOST_MAX)
			return peer_why(why, whylen,
					"host longer than %d bytes in "
					"'%.64s...' (use a shorter name)",
					POLICY_HOST_MAX, s);
		if (!endpoint_name_ok(host, hlen, &bad))
			return peer_why(
			    why, whylen,
			    "bad character '%c' in host '%.*s' (a host is a "
			    "name or an IPv4 address of a-z 0-9 - . _)",
			    isprint((unsigned char)host[bad]) ? host[bad] : '?',
			    (int)(hlen > 300 ? 300 : hlen), host);
	}
	if (policy_parse_count(port, 65535, &num) != 0 || num == 0)
		return peer_why(why, whylen,
				"bad port '%.16s' in '%.300s' (use 1..65535)",
				port, s);
	memcpy(ep->host, host, hlen);
	ep->host[hlen] = '\0';
	ep->port = (uint16_t)num;
	return 0;
}

/* Parse value as an address and append it to eps unless full or repeated. */
static int
endpoint_add(struct policy_endpoint *eps, size_t *n, const char *key,
	     const char *value, char *why, size_t whylen)
{
	struct policy_endpoint ep;
	int rc;

	rc = policy_endpoint_parse(value, &ep, why, whylen);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < *n; i++)
		if (eps[i].port == ep.port &&
		    strcasecmp(eps[i].host, ep.host) == 0)
			return peer_why(why, whylen,
					"%s address '%.300s' given twice "
					"(remove one of them)",
					key, value);
	if (*n == POLICY_ENDPOINTS_MAX)
		return peer_why(why, whylen,
				"more than %d %s addresses (keep the %d that "
				"matter most)",
				POLICY_ENDPOINTS_MAX, key,
				POLICY_ENDPOINTS_MAX);
	eps[(*n)++] = ep;
	return 0;
}

int
policy_listen_add(struct policy *p, int http, const char *value, char *why,
		  size_t whylen)
{
	const char *key = http ? "http_listen" : "listen";

	if (value[0] == '\0')
		return peer_why(why, whylen,
				"empty value for %s (give host:port or "
				"remove the line)",
				key);
	if (http)
		return endpoint_add(p->http_listen, &p->nhttp_listen, key,
				    value, why, whylen);
	return endpoint_add(p->listen, &p->nlisten, key, value, why, whylen);
}

int
policy_peer_open(struct policy *p, const char *name, int line, int *seen,
		 char *why, size_t whylen)
{
	const struct policy_peer *old;
	struct policy_peer *grown;

	if (!ferry_node_name_valid(name))
		return peer_why(why, whylen,
				"bad peer name '%.64s' (a peer is named by its "
				"node name: 1-%d of a-z 0-9 - _ ., not "
				"starting with '-' or '.')",
				name, FERRY_NODE_MAX);
	old = policy_peer_find(p, name);
	if (old != NULL)
		return peer_why(why, whylen,
				"duplicate [peer %s] (first on line %d; keep "
				"one section per peer)",
				name, old->line);
	if (p->npeers == POLICY_PEERS_MAX)
		return peer_why(why, whylen,
				"more than %d [peer NAME] sections (route "
				"through fewer peers)",
				POLICY_PEERS_MAX);
	grown = policy_grow(p->peers, p->npeers, sizeof(*grown));
	if (grown == NULL) {
		peer_why(why, whylen, "out of memory");
		return FERRY_ENOMEM;
	}
	p->peers = grown;
	peer_defaults(&grown[p->npeers]);
	memcpy(grown[p->npeers].name, name, strlen(name) + 1);
	grown[p->npeers].line = line;
	p->npeers++;
	for (size_t i = 0; i < POLICY_PEER_NKEYS; i++)
		seen[i] = 0;
	return 0;
}

static int
peer_set_key(struct policy_peer *peer, const char *value, char *why,
	     size_t whylen)
{
	char reason[256];
	size_t len;

	if (identity_card_parse(value, peer->sign_pk, peer->kx_pk, reason,
				sizeof(reason)) != 0)
		return peer_why(why, whylen,
				"bad key for [peer %s]: %s (copy the card "
				"printed by ferry info on %s)",
				peer->name, reason, peer->name);
	/* inih trimmed the value and the card parsed: it is one card long */
	len = strlen(value);
	if (len >= sizeof(peer->card))
		return peer_why(why, whylen, "key is too long");
	for (size_t i = 0; i <= len; i++)
		peer->card[i] = (char)tolower((unsigned char)value[i]);
	return 0;
}

static int
peer_set_duration(const char *key, const char *value, int64_t min, int64_t max,
		  const char *range, int64_t *out, char *why, size_t whylen)
{
	int64_t ms;

	if (policy_parse_duration_ms(value, &ms) != 0)
		return peer_why(why, whylen,
				"bad duration '%.64s' for %s (write a number "
				"of seconds or a number with ms, s, m, h or d, "
				"e.g. 30s)",
				value, key);
	if (ms < min || ms > max)
		return peer_why(why, whylen,
				"%s %.64s is out of range (use %s)", key, value,
				range);
	*out = ms;
	return 0;
}

static int
peer_set_jitter(struct policy_peer *peer, const char *value, char *why,
		size_t whylen)
{
	char num[8];
	size_t len = strlen(value);
	uint64_t pct;

	/* "20" or "20%" */
	if (len > 0 && value[len - 1] == '%')
		len--;
	if (len == 0 || len >= sizeof(num))
		return peer_why(why, whylen,
				"bad retry_jitter '%.64s' (write a percentage "
				"0..100, e.g. 20)",
				value);
	memcpy(num, value, len);
	num[len] = '\0';
	if (policy_parse_count(num, 100, &pct) != 0)
		return peer_why(why, whylen,
				"bad retry_jitter '%.64s' (write a percentage "
				"0..100, e.g. 20)",
				value);
	peer->retry_jitter_pct = (unsigned)pct;
	return 0;
}

static int
peer_set_dial(struct policy_peer *peer, const char *value, char *why,
	      size_t whylen)
{
	if (strcmp(value, "always") == 0)
		peer->dial = POLICY_DIAL_ALWAYS;
	else if (strcmp(value, "when-needed") == 0)
		peer->dial = POLICY_DIAL_WHEN_NEEDED;
	else if (strcmp(value, "never") == 0)
		peer->dial = POLICY_DIAL_NEVER;
	else
		return peer_why(why, whylen,
				"bad dial '%.64s' (use always, when-needed or "
				"never)",
				value);
	return 0;
}

int
policy_peer_set(struct policy *p, const char *key, const char *value, int line,
		int *seen, char *why, size_t whylen)
{
	struct policy_peer *peer = &p->peers[p->npeers - 1];
	size_t k;

	for (k = 0; k < POLICY_PEER_NKEYS; k++)
		if (strcmp(peer_key_names[k], key) == 0)
			break;
	if (k == POLICY_PEER_NKEYS)
		return peer_why(why, whylen,
				"unknown key '%.64s' in [peer NAME] (known "
				"keys: key, tcp, dial, retry_min, retry_max, "
				"retry_jitter, keepalive, rate, dir, "
				"call_every, http, proxy, ca, poll, "
				"window or compress)",
				key);
	if (value[0] == '\0')
		return peer_why(why, whylen,
				"empty value for %s (give a value or remove "
				"the line%s)",
				key, k == PK_KEY ? "" : " to keep the default");
	if (k != PK_TCP && k != PK_HTTP && k != PK_WINDOW && seen[k] != 0)
		return peer_why(why, whylen,
				"duplicate key '%s' (first set on line %d; "
				"keep one of them)",
				key, seen[k]);
	seen[k] = line;
	switch ((enum peer_key)k) {
	case PK_KEY:
		return peer_set_key(peer, value, why, whylen);
	case PK_TCP:
		return endpoint_add(peer->tcp, &peer->ntcp, "tcp", value, why,
				    whylen);
	case PK_DIAL:
		return peer_set_dial(peer, value, why, whylen);
	case PK_RETRY_MIN:
		return peer_set_duration(key, value, RETRY_MIN_MS, RETRY_MAX_MS,
					 RETRY_RANGE, &peer->retry_min_ms, why,
					 whylen);
	case PK_RETRY_MAX:
		return peer_set_duration(key, value, RETRY_MIN_MS, RETRY_MAX_MS,
					 RETRY_RANGE, &peer->retry_max_ms, why,
					 whylen);
	case PK_RETRY_JITTER:
		return peer_set_jitter(peer, value, why, whylen);
	case PK_KEEPALIVE:
		return peer_set_duration(key, value, KEEPALIVE_MIN_MS,
					 KEEPALIVE_MAX_MS, KEEPALIVE_RANGE,
					 &peer->keepalive_ms, why, whylen);
	case PK_RATE:
		if (policy_parse_size(value, &peer->rate_bytes_per_s) != 0)
			return peer_why(why, whylen,
					"bad rate '%.64s' (bytes per second: a "
					"number with an optional K, M, G or T "
					"suffix, e.g. 1M; 0 = unlimited)",
					value);
		return 0;
	case PK_COMPRESS:
		return peer_set_compress(peer, value, why, whylen);
	case PK_CALL_EVERY:
		peer->call_every_set = 1;
		if (strcmp(value, "0") == 0) {
			peer->call_every_ms = 0;
			return 0;
		}
		return peer_set_duration(key, value, CALL_MIN_MS, CALL_MAX_MS,
					 CALL_RANGE, &peer->call_every_ms, why,
					 whylen);
	case PK_WINDOW:
		if (peer->nwindows == POLICY_WINDOWS_MAX)
			return peer_why(why, whylen,
					"more than %d window lines in one "
					"[peer] section",
					POLICY_WINDOWS_MAX);
		if (policy_window_parse(value, &peer->windows[peer->nwindows],
					why, whylen) != 0)
			return FERRY_EINVAL;
		peer->nwindows++;
		return 0;
	case PK_HTTP:
		if (!peer_url_ok(value, 1))
			return peer_why(
			    why, whylen,
			    "bad http '%.64s' (a URL of the peer's "
			    "ferry endpoint: http://host:port/ferry "
			    "or https://host/ferry)",
			    value);
		if (peer->nhttp == POLICY_ENDPOINTS_MAX)
			return peer_why(why, whylen,
					"more than %d http lines in one [peer] "
					"section (keep the best %d)",
					POLICY_ENDPOINTS_MAX,
					POLICY_ENDPOINTS_MAX);
		snprintf(peer->http[peer->nhttp++], POLICY_URL_MAX, "%s",
			 value);
		return 0;
	case PK_PROXY:
		if (!peer_url_ok(value, 0))
			return peer_why(why, whylen,
					"bad proxy '%.64s' (a URL such as "
					"http://proxy.example.org:3128)",
					value);
		snprintf(peer->proxy, sizeof(peer->proxy), "%s", value);
		return 0;
	case PK_CA:
		if (value[0] != '/' || strlen(value) >= sizeof(peer->ca))
			return peer_why(why, whylen,
					"bad ca '%.64s' (an absolute path to a "
					"PEM file of the CA certificates to "
					"trust for this peer's https)",
					value);
		snprintf(peer->ca, sizeof(peer->ca), "%s", value);
		return 0;
	case PK_POLL:
		return peer_set_duration(key, value, POLL_MIN_MS, POLL_MAX_MS,
					 POLL_RANGE, &peer->poll_ms, why,
					 whylen);
	case PK_DIR:
		if (value[0] != '/' || strlen(value) >= sizeof(peer->dir))
			return peer_why(why, whylen,
					"bad dir '%.64s' (an absolute path "
					"where a medium for this peer is "
					"mounted, e.g. /media/ferry)",
					value);
		snprintf(peer->dir, sizeof(peer->dir), "%s", value);
		return 0;
	}
	abort(); /* our bug: a key without a case */
}

int
policy_peer_close(struct policy *p, const int *seen, int *line, char *why,
		  size_t whylen)
{
	struct policy_peer *peer = &p->peers[p->npeers - 1];

	/* A peer this node can dial is called at least hourly, so that what
	 * waits there for us comes even when we have nothing to send. */
	if (peer->call_every_ms < 0)
		peer->call_every_ms =
		    peer->ntcp > 0 && peer->dial != POLICY_DIAL_NEVER ? MS_H
								      : 0;
	if ((seen[PK_PROXY] != 0 || seen[PK_CA] != 0 || seen[PK_POLL] != 0) &&
	    peer->nhttp == 0) {
		*line = seen[PK_PROXY] != 0 ? seen[PK_PROXY]
			: seen[PK_CA] != 0  ? seen[PK_CA]
					    : seen[PK_POLL];
		return peer_why(why, whylen,
				"[peer %s] has proxy, ca or poll but no http "
				"= URL (add http = http://host:port/ferry, or "
				"remove the line)",
				peer->name);
	}
	if (seen[PK_KEY] == 0) {
		*line = peer->line;
		return peer_why(why, whylen,
				"[peer %s] needs key = <card printed by ferry "
				"info on %s>",
				peer->name, peer->name);
	}
	if (peer->retry_min_ms > peer->retry_max_ms) {
		*line = seen[PK_RETRY_MIN] > seen[PK_RETRY_MAX]
			    ? seen[PK_RETRY_MIN]
			    : seen[PK_RETRY_MAX];
		return peer_why(why, whylen,
				"retry_min (%lld ms) is longer than retry_max "
				"(%lld ms) in [peer %s] (shorten retry_min or "
				"raise retry_max)",
				(long long)peer->retry_min_ms,
				(long long)peer->retry_max_ms, peer->name);
	}
	if (peer->dial == POLICY_DIAL_ALWAYS && peer->ntcp == 0) {
		*line = seen[PK_DIAL];
		return peer_why(why, whylen,
				"dial = always in [peer %s] needs an address "
				"(add tcp = host:port, or use dial = never if "
				"the peer dials in)",
				peer->name);
	}
	for (size_t i = 0; i + 1 < p->npeers; i++) {
		const struct policy_peer *o = &p->peers[i];

		if (memcmp(o->sign_pk, peer->sign_pk, 32) == 0 ||
		    memcmp(o->kx_pk, peer->kx_pk, 32) == 0) {
			*line = seen[PK_KEY];
			return peer_why(why, whylen,
					"[peer %s] has the same key as [peer "
					"%s] on line %d (one node, one "
					"section: fix the card or remove a "
					"section)",
					peer->name, o->name, o->line);
		}
	}
	return 0;
}

int
policy_peers_finish(const struct policy *p, int *line, char *why, size_t whylen)
{
	const struct policy_peer *self = policy_peer_find(p, p->node_name);

	if (self != NULL) {
		*line = self->line;
		return peer_why(why, whylen,
				"[peer %s] has this node's own name (a peer is "
				"another node: fix the name or remove the "
				"section)",
				self->name);
	}
	return 0;
}
