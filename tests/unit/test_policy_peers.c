/*
 * test_policy_peers.c - CUnit tests of [peer NAME] sections, [node] listen
 * and TCP addresses (policy/peers.c, through policy_load()).  Tables of
 * cases: label, file text, wanted result, wanted piece of the error text.
 * The keys are real cards of two identities derived from fixed seeds; in
 * the texts "@A" and "@B" stand for their cards, "@U" for A's card in upper
 * case and "@T" for A's card with a typo.
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/unit/policyutil.h"
#include "tests/unit/testutil.h"
#include "transports/identity.h"

#define FMT(buf, ...)                                                          \
	CU_ASSERT_FATAL(snprintf(buf, sizeof(buf), __VA_ARGS__) <              \
			(int)sizeof(buf))

static char *dir;
static struct identity *id_a, *id_b;
static char card_a[IDENTITY_CARD_MAX], card_b[IDENTITY_CARD_MAX];
static char card_u[IDENTITY_CARD_MAX], card_t[IDENTITY_CARD_MAX];

static int
setup(void)
{
	uint8_t seed[IDENTITY_SEED_LEN];

	dir = test_tmpdir("peers");
	memset(seed, 0x01, sizeof(seed));
	if (identity_from_seed(seed, &id_a) != 0)
		return 1;
	memset(seed, 0x02, sizeof(seed));
	if (identity_from_seed(seed, &id_b) != 0)
		return 1;
	if (identity_card(id_a, card_a, sizeof(card_a)) != 0 ||
	    identity_card(id_b, card_b, sizeof(card_b)) != 0)
		return 1;
	for (size_t i = 0; i <= strlen(card_a); i++)
		card_u[i] = (char)toupper((unsigned char)card_a[i]);
	memcpy(card_t, card_a, sizeof(card_t));
	card_t[20] = card_t[20] == 'a' ? 'b' : 'a';
	return 0;
}

static int
teardown(void)
{
	identity_free(id_a);
	identity_free(id_b);
	id_a = id_b = NULL;
	test_rmtree(dir);
	dir = NULL;
	return 0;
}

/* text with @A, @B, @U, @T replaced by the cards, into a malloc'd string */
static char *
expand(const char *text)
{
	size_t cap = strlen(text) * 40 + 1, n = 0;
	char *out = malloc(cap);

	CU_ASSERT_FATAL(out != NULL);
	for (const char *s = text; *s != '\0'; s++) {
		const char *card = NULL;

		if (s[0] == '@') {
			card = s[1] == 'A'   ? card_a
			       : s[1] == 'B' ? card_b
			       : s[1] == 'U' ? card_u
			       : s[1] == 'T' ? card_t
					     : NULL;
		}
		if (card != NULL) {
			memcpy(out + n, card, strlen(card));
			n += strlen(card);
			s++;
		} else {
			out[n++] = *s;
		}
	}
	out[n] = '\0';
	return out;
}

static int
load_text(const char *text, struct policy *p, char *err, size_t errlen)
{
	char *full = expand(text);
	int rc = test_policy_load_text(dir, full, p, err, errlen);

	free(full);
	return rc;
}

/* ------------------------------------------------------------ load table */

#define N  "[node]\nname = a\n"
#define PB N "[peer b]\nkey = @A\n"

/* A host name of 255 bytes. */
#define H50  "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"
#define H255 H50 H50 H50 H50 H50 "hhhhh"

static const struct policy_case load_cases[] = {
    {"one peer", PB, 0, NULL},
    {"peer before node", "[peer b]\nkey = @A\n[node]\nname = a\n", 0, NULL},
    {"two peers", PB "[peer c]\nkey = @B\n", 0, NULL},
    {"upper-case card", N "[peer b]\nkey = @U\n", 0, NULL},
    {"spaced header", N "[ peer \t b ]\nkey = @A\n", 0, NULL},
    {"every key",
     PB "tcp = b.example.org:7700\ntcp = [::1]:7701\ntcp = 10.0.0.2:1\n"
	"dial = always\nretry_min = 500ms\nretry_max = 1h\n"
	"retry_jitter = 0\nkeepalive = 100ms\nrate = 1M\n",
     0, NULL},
    {"jitter with percent", PB "retry_jitter = 100%\n", 0, NULL},
    {"retry_min equals retry_max", PB "retry_min = 2m\nretry_max = 2m\n", 0,
     NULL},
    {"dial never without tcp", PB "dial = never\n", 0, NULL},
    {"dial never with tcp", PB "dial = never\ntcp = h:1\n", 0, NULL},
    {"ipv6 zone", PB "tcp = [fe80::1%eth0]:7700\n", 0, NULL},
    {"ipv4-mapped v6", PB "tcp = [::ffff:10.0.0.1]:7700\n", 0, NULL},
    {"host of 255 bytes", PB "tcp = " H255 ":7700\n", 0, NULL},
    {"port 65535", PB "tcp = h:65535\n", 0, NULL},
    {"eight tcp",
     PB "tcp = h:1\ntcp = h:2\ntcp = h:3\ntcp = h:4\ntcp = h:5\n"
	"tcp = h:6\ntcp = h:7\ntcp = h:8\n",
     0, NULL},
    {"same host other port", PB "tcp = h:1\ntcp = h:2\n", 0, NULL},
    {"listen", N "listen = 0.0.0.0:7700\nlisten = [::]:7700\n", 0, NULL},
    {"listen after other node keys", N "log_level = debug\nlisten = h:1\n", 0,
     NULL},
    {"peer then other sections", PB "[limits]\ncache = 1M\n[acl]\n", 0, NULL},
    {"http keys",
     PB "http = http://b.example.org:7780/ferry\nhttp = https://[::1]/f\n"
	"proxy = http://proxy:3128\nca = /etc/ssl/ca.pem\npoll = 30s\n",
     0, NULL},
    {"http_listen", N "http_listen = 127.0.0.1:7780\nhttp_listen = [::1]:1\n",
     0, NULL},
    {"http without path", PB "http = http://b:7780\n", 0, NULL},
    {"socks proxy", PB "http = http://b/\nproxy = socks5h://p:1080\n", 0, NULL},

    /* http */
    {"http ftp", PB "http = ftp://b/ferry\n", FERRY_EINVAL,
     "ferry.conf:5: bad http 'ftp://b/ferry' (a URL of the peer's ferry "
     "endpoint"},
    {"http no scheme", PB "http = b:7780/ferry\n", FERRY_EINVAL,
     "ferry.conf:5: bad http 'b:7780/ferry'"},
    {"http space", PB "http = http://b/a b\n", FERRY_EINVAL,
     "ferry.conf:5: bad http"},
    {"http no host", PB "http = http:///ferry\n", FERRY_EINVAL,
     "ferry.conf:5: bad http"},
    {"http nine",
     PB "http = http://h/1\nhttp = http://h/2\nhttp = http://h/3\n"
	"http = http://h/4\nhttp = http://h/5\nhttp = http://h/6\n"
	"http = http://h/7\nhttp = http://h/8\nhttp = http://h/9\n",
     FERRY_EINVAL, "ferry.conf:13: more than 8 http lines"},
    {"proxy without http", PB "proxy = http://p:3128\n", FERRY_EINVAL,
     "ferry.conf:5: [peer b] has proxy, ca or poll but no http"},
    {"poll too long", PB "http = http://b/\npoll = 2h\n", FERRY_EINVAL,
     "ferry.conf:6: poll 2h is out of range (use 1s..1h)"},
    {"ca relative", PB "http = http://b/\nca = ca.pem\n", FERRY_EINVAL,
     "ferry.conf:6: bad ca 'ca.pem'"},
    {"http_listen no port", N "http_listen = 127.0.0.1\n", FERRY_EINVAL,
     "ferry.conf:3: no :PORT in '127.0.0.1'"},

    /* key */
    {"no key", N "[peer b]\ntcp = h:1\n", FERRY_EINVAL,
     "ferry.conf:3: [peer b] needs key = <card printed by ferry info on b>"},
    {"no key, section follows", N "[peer b]\ntcp = h:1\n[limits]\n",
     FERRY_EINVAL, "ferry.conf:3: [peer b] needs key = <card printed"},
    {"empty peer at end", N "[peer b]\n", FERRY_EINVAL,
     "ferry.conf:3: [peer b] needs key ="},
    {"empty key", N "[peer b]\nkey =\n", FERRY_EINVAL,
     "ferry.conf:4: empty value for key (give a value or remove the line)"},
    {"not a card", N "[peer b]\nkey = hello\n", FERRY_EINVAL,
     "ferry.conf:4: bad key for [peer b]: not a ferry card: it must start "
     "with \"ferry1\" (copy the card printed by ferry info on b)"},
    {"card typo", N "[peer b]\nkey = @T\n", FERRY_EINVAL,
     "ferry.conf:4: bad key for [peer b]: checksum does not match (typo in "
     "the card?)"},
    {"card cut short", N "[peer b]\nkey = ferry1aaaa\n", FERRY_EINVAL,
     "ferry.conf:4: bad key for [peer b]: wrong length"},
    {"card pasted twice", N "[peer b]\nkey = @A@A\n", FERRY_EINVAL,
     "ferry.conf:4: bad key for [peer b]: character 123 of the card is not "
     "base32"},
    {"card bad character", N "[peer b]\nkey = ferry1!!\n", FERRY_EINVAL,
     "ferry.conf:4: bad key for [peer b]: character 7 of the card is not "
     "base32"},
    {"duplicate key line", PB "key = @B\n", FERRY_EINVAL,
     "ferry.conf:5: duplicate key 'key' (first set on line 4;"},
    {"same card twice", PB "[peer c]\ntcp = h:1\nkey = @A\n", FERRY_EINVAL,
     "ferry.conf:7: [peer c] has the same key as [peer b] on line 3"},
    {"same card other case", PB "[peer c]\nkey = @U\n", FERRY_EINVAL,
     "ferry.conf:6: [peer c] has the same key as [peer b]"},

    /* names */
    {"duplicate peer", PB "[peer c]\nkey = @B\n[peer b]\n", FERRY_EINVAL,
     "ferry.conf:7: duplicate [peer b] (first on line 3;"},
    {"own name", N "[peer a]\nkey = @A\n", FERRY_EINVAL,
     "ferry.conf:3: [peer a] has this node's own name"},
    {"own name, node later", "[peer a]\nkey = @A\n[node]\nname = a\n",
     FERRY_EINVAL, "ferry.conf:1: [peer a] has this node's own name"},
    {"bad peer name", N "[peer Base!]\n", FERRY_EINVAL,
     "ferry.conf:3: bad peer name 'Base!'"},
    {"peer without name", N "[peer]\n", FERRY_EINVAL,
     "ferry.conf:3: [peer] without a name (write [peer NAME]"},
    {"peerless word", N "[peers b]\n", FERRY_EINVAL,
     "ferry.conf:3: unknown section [peers b] (sections are [node], "
     "[limits], [queue NAME], [peer NAME], [route], [directory], "
     "[group NAME] and [acl])"},
    {"directory bad card", N "[directory]\nz = nope\n", FERRY_EINVAL,
     "ferry.conf:4: bad card for [directory] z"},
    {"directory bad name", N "[directory]\nZ! = nope\n", FERRY_EINVAL,
     "ferry.conf:4: [directory] 'Z!' is not a node name"},

    /* [route] */
    {"route to a non-peer", PB "[route]\n* = c\n", FERRY_EINVAL,
     "ferry.conf:6: route '*' goes through c, which is not a [peer]"},
    {"route before its peer is fine, bad pattern", N "[route]\nBase = b\n",
     FERRY_EINVAL,
     "ferry.conf:4: route pattern 'Base' is not a node name pattern"},
    {"route without peers", PB "[route]\nx = ,\n", FERRY_EINVAL,
     "ferry.conf:6: route 'x' names no peer"},
    {"route repeats a peer", PB "[route]\nx = b, b\n", FERRY_EINVAL,
     "ferry.conf:6: route 'x' names peer b twice"},
    {"route repeated", PB "[route]\nx = b\nx = b\n", FERRY_EINVAL,
     "ferry.conf:7: route 'x' repeats line 6"},
    {"route bad peer name", PB "[route]\nx = B!\n", FERRY_EINVAL,
     "ferry.conf:6: route 'x': 'B!' is not a node name"},
    {"hop limit 0", N "hop_limit = 0\n", FERRY_EINVAL,
     "ferry.conf:3: hop_limit"},

    /* keys */
    {"unknown key", PB "host = h\n", FERRY_EINVAL,
     "ferry.conf:5: unknown key 'host' in [peer NAME] (known keys: key, "
     "tcp,"},
    {"node key in peer", PB "name = b\n", FERRY_EINVAL,
     "ferry.conf:5: unknown key 'name' in [peer NAME]"},
    {"duplicate dial", PB "dial = never\ndial = always\n", FERRY_EINVAL,
     "ferry.conf:6: duplicate key 'dial' (first set on line 5;"},
    {"empty tcp", PB "tcp =\n", FERRY_EINVAL,
     "ferry.conf:5: empty value for tcp (give a value or remove the line "
     "to keep the default)"},
    {"bad dial", PB "dial = sometimes\n", FERRY_EINVAL,
     "ferry.conf:5: bad dial 'sometimes' (use always, when-needed or never)"},
    {"dial always without tcp", PB "dial = always\n", FERRY_EINVAL,
     "ferry.conf:5: dial = always in [peer b] needs an address"},
    {"retry_min above retry_max", PB "retry_min = 10m\nretry_max = 2m\n",
     FERRY_EINVAL,
     "ferry.conf:6: retry_min (600000 ms) is longer than retry_max "
     "(120000 ms) in [peer b]"},
    {"retry_min above default max", PB "retry_min = 10m\n", FERRY_EINVAL,
     "ferry.conf:5: retry_min (600000 ms) is longer than retry_max"},
    {"retry_min zero", PB "retry_min = 0\n", FERRY_EINVAL,
     "ferry.conf:5: retry_min 0 is out of range (use 1ms..24h)"},
    {"retry_max too long", PB "retry_max = 25h\n", FERRY_EINVAL,
     "ferry.conf:5: retry_max 25h is out of range (use 1ms..24h)"},
    {"retry_max garbage", PB "retry_max = soon\n", FERRY_EINVAL,
     "ferry.conf:5: bad duration 'soon' for retry_max"},
    {"keepalive too short", PB "keepalive = 50ms\n", FERRY_EINVAL,
     "ferry.conf:5: keepalive 50ms is out of range (use 100ms..1h)"},
    {"keepalive too long", PB "keepalive = 2h\n", FERRY_EINVAL,
     "ferry.conf:5: keepalive 2h is out of range"},
    {"jitter above 100", PB "retry_jitter = 101\n", FERRY_EINVAL,
     "ferry.conf:5: bad retry_jitter '101' (write a percentage 0..100"},
    {"jitter negative", PB "retry_jitter = -5\n", FERRY_EINVAL,
     "ferry.conf:5: bad retry_jitter '-5'"},
    {"jitter only percent", PB "retry_jitter = %\n", FERRY_EINVAL,
     "ferry.conf:5: bad retry_jitter '%'"},
    {"rate fraction", PB "rate = 1.5M\n", FERRY_EINVAL,
     "ferry.conf:5: bad rate '1.5M' (bytes per second"},
    {"compress 0", PB "compress = 0\n", FERRY_EINVAL,
     "ferry.conf:5: bad compress '0' (no, auto or a zstd level 1..19)"},
    {"compress 20", PB "compress = 20\n", FERRY_EINVAL,
     "ferry.conf:5: bad compress '20'"},
    {"compress yes", PB "compress = yes\n", FERRY_EINVAL,
     "ferry.conf:5: bad compress 'yes'"},

    /* addresses */
    {"no port", PB "tcp = b.example.org\n", FERRY_EINVAL,
     "ferry.conf:5: no :PORT in 'b.example.org' (write host:port"},
    {"port zero", PB "tcp = h:0\n", FERRY_EINVAL,
     "ferry.conf:5: bad port '0' in 'h:0' (use 1..65535)"},
    {"port too big", PB "tcp = h:65536\n", FERRY_EINVAL,
     "ferry.conf:5: bad port '65536'"},
    {"port empty", PB "tcp = h:\n", FERRY_EINVAL, "ferry.conf:5: bad port ''"},
    {"port signed", PB "tcp = h:+80\n", FERRY_EINVAL,
     "ferry.conf:5: bad port '+80'"},
    {"no host", PB "tcp = :7700\n", FERRY_EINVAL,
     "ferry.conf:5: no host in ':7700'"},
    {"v6 without brackets", PB "tcp = ::1:7700\n", FERRY_EINVAL,
     "ferry.conf:5: IPv6 address without brackets in '::1:7700'"},
    {"v6 without ]", PB "tcp = [::1:7700\n", FERRY_EINVAL,
     "ferry.conf:5: no ']' after the IPv6 address"},
    {"v6 without port", PB "tcp = [::1]\n", FERRY_EINVAL,
     "ferry.conf:5: no :PORT after ']' in '[::1]'"},
    {"v6 port glued", PB "tcp = [::1]7700\n", FERRY_EINVAL,
     "ferry.conf:5: no :PORT after ']'"},
    {"v6 bad literal", PB "tcp = [zz::1]:7700\n", FERRY_EINVAL,
     "ferry.conf:5: bad IPv6 address 'zz::1' in '[zz::1]:7700'"},
    {"v6 empty", PB "tcp = []:7700\n", FERRY_EINVAL,
     "ferry.conf:5: bad IPv6 address ''"},
    {"v6 name in brackets", PB "tcp = [b.example.org]:7700\n", FERRY_EINVAL,
     "ferry.conf:5: bad IPv6 address 'b.example.org'"},
    {"v6 empty zone", PB "tcp = [fe80::1%]:7700\n", FERRY_EINVAL,
     "ferry.conf:5: bad IPv6 address 'fe80::1%'"},
    {"host of 256 bytes", PB "tcp = h" H255 ":7700\n", FERRY_EINVAL,
     "ferry.conf:5: host longer than 255 bytes"},
    {"host with slash", PB "tcp = http://h:80\n", FERRY_EINVAL,
     "ferry.conf:5: IPv6 address without brackets"},
    {"host with blank", PB "tcp = b host:80\n", FERRY_EINVAL,
     "ferry.conf:5: bad character ' ' in host 'b host'"},
    {"host with at", PB "tcp = u@h:80\n", FERRY_EINVAL,
     "ferry.conf:5: bad character '@' in host 'u@h'"},
    {"tcp twice", PB "tcp = h:1\ntcp = H:1\n", FERRY_EINVAL,
     "ferry.conf:6: tcp address 'H:1' given twice (remove one of them)"},
    {"nine tcp",
     PB "tcp = h:1\ntcp = h:2\ntcp = h:3\ntcp = h:4\ntcp = h:5\n"
	"tcp = h:6\ntcp = h:7\ntcp = h:8\ntcp = h:9\n",
     FERRY_EINVAL, "ferry.conf:13: more than 8 tcp addresses"},

    /* listen */
    {"listen empty", N "listen =\n", FERRY_EINVAL,
     "ferry.conf:3: empty value for listen"},
    {"listen no port", N "listen = 0.0.0.0\n", FERRY_EINVAL,
     "ferry.conf:3: no :PORT in '0.0.0.0'"},
    {"listen twice", N "listen = h:1\nlisten = h:1\n", FERRY_EINVAL,
     "ferry.conf:4: listen address 'h:1' given twice"},
    {"nine listen",
     N "listen = h:1\nlisten = h:2\nlisten = h:3\nlisten = h:4\n"
       "listen = h:5\nlisten = h:6\nlisten = h:7\nlisten = h:8\n"
       "listen = h:9\n",
     FERRY_EINVAL, "ferry.conf:11: more than 8 listen addresses"},
    {"listen in limits", N "[limits]\nlisten = h:1\n", FERRY_EINVAL,
     "ferry.conf:4: unknown key 'listen' in [limits]"},
    {"listen in peer", PB "listen = h:1\n", FERRY_EINVAL,
     "ferry.conf:5: unknown key 'listen' in [peer NAME]"},
    {"unknown node key lists listen", N "lsiten = h:1\n", FERRY_EINVAL,
     "log_level, metrics_listen, listen or http_listen)"},
};

/* A refused file leaves no peers and no listen addresses behind. */
static int
kept_nothing(const struct policy *p)
{
	return p->peers == NULL && p->npeers == 0 && p->nlisten == 0;
}

static void
test_load_table(void)
{
	test_policy_table(load_cases,
			  sizeof(load_cases) / sizeof(load_cases[0]), load_text,
			  kept_nothing);
}

/* --------------------------------------------------------- values, lookup */

static void
test_defaults(void)
{
	struct policy p;
	const struct policy_peer *b;
	char err[1024];

	CU_ASSERT_EQUAL_FATAL(load_text(PB, &p, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(p.npeers, 1);
	CU_ASSERT_EQUAL(p.nlisten, 0);
	b = policy_peer_find(&p, "b");
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_STRING_EQUAL(b->name, "b");
	CU_ASSERT_EQUAL(b->ntcp, 0);
	CU_ASSERT_EQUAL(b->retry_min_ms, 1000);
	CU_ASSERT_EQUAL(b->retry_max_ms, 5 * 60 * 1000);
	CU_ASSERT_EQUAL(b->retry_jitter_pct, 20);
	CU_ASSERT_EQUAL(b->keepalive_ms, 30 * 1000);
	CU_ASSERT_EQUAL(b->rate_bytes_per_s, 0);
	CU_ASSERT_EQUAL(b->compress_level, POLICY_COMPRESS_AUTO);
	CU_ASSERT_EQUAL(b->dial, POLICY_DIAL_WHEN_NEEDED);
	CU_ASSERT_EQUAL(b->line, 3);
	CU_ASSERT_STRING_EQUAL(b->card, card_a);
	CU_ASSERT(memcmp(b->sign_pk, identity_sign_pk(id_a), 32) == 0);
	CU_ASSERT(memcmp(b->kx_pk, identity_kx_pk(id_a), 32) == 0);
	policy_cleanup(&p);
	CU_ASSERT_PTR_NULL(p.peers);
	CU_ASSERT_EQUAL(p.npeers, 0);
}

static void
test_every_value(void)
{
	static const char text[] =
	    "[node]\nname = a\nlisten = 0.0.0.0:7700\nlisten = [::1]:7701\n"
	    "[peer b]\nkey = @U\n"
	    "tcp = B.example.org:7700\ntcp = [fe80::1%eth0]:7701\n"
	    "tcp = 10.0.0.2:1\n"
	    "dial = always\nretry_min = 500ms\nretry_max = 1h\n"
	    "retry_jitter = 35%\nkeepalive = 2m\nrate = 1M\ncompress = 9\n"
	    "[peer c]\nkey = @B\ndial = never\ncompress = no\n";
	const struct policy_peer *b, *c;
	struct policy p;
	char err[1024];

	CU_ASSERT_EQUAL_FATAL(load_text(text, &p, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(p.nlisten, 2);
	CU_ASSERT_STRING_EQUAL(p.listen[0].host, "0.0.0.0");
	CU_ASSERT_EQUAL(p.listen[0].port, 7700);
	CU_ASSERT_STRING_EQUAL(p.listen[1].host, "::1");
	CU_ASSERT_EQUAL(p.listen[1].port, 7701);
	CU_ASSERT_EQUAL_FATAL(p.npeers, 2);
	b = &p.peers[0];
	c = &p.peers[1];
	CU_ASSERT_STRING_EQUAL(b->name, "b");
	CU_ASSERT_STRING_EQUAL(b->card, card_a); /* lower-cased */
	CU_ASSERT_EQUAL_FATAL(b->ntcp, 3);
	CU_ASSERT_STRING_EQUAL(b->tcp[0].host, "B.example.org");
	CU_ASSERT_EQUAL(b->tcp[0].port, 7700);
	CU_ASSERT_STRING_EQUAL(b->tcp[1].host, "fe80::1%eth0");
	CU_ASSERT_EQUAL(b->tcp[1].port, 7701);
	CU_ASSERT_STRING_EQUAL(b->tcp[2].host, "10.0.0.2");
	CU_ASSERT_EQUAL(b->tcp[2].port, 1);
	CU_ASSERT_EQUAL(b->dial, POLICY_DIAL_ALWAYS);
	CU_ASSERT_EQUAL(b->retry_min_ms, 500);
	CU_ASSERT_EQUAL(b->retry_max_ms, 3600 * 1000);
	CU_ASSERT_EQUAL(b->retry_jitter_pct, 35);
	CU_ASSERT_EQUAL(b->keepalive_ms, 120 * 1000);
	CU_ASSERT_EQUAL(b->rate_bytes_per_s, 1u << 20);
	CU_ASSERT_EQUAL(b->line, 5);
	CU_ASSERT_STRING_EQUAL(c->name, "c");
	CU_ASSERT_EQUAL(c->dial, POLICY_DIAL_NEVER);
	CU_ASSERT_EQUAL(c->ntcp, 0);
	CU_ASSERT_EQUAL(c->line, 17);
	CU_ASSERT_EQUAL(b->compress_level, 9);
	CU_ASSERT_EQUAL(c->compress_level, 0);

	/* lookups */
	CU_ASSERT_PTR_EQUAL(policy_peer_find(&p, "b"), b);
	CU_ASSERT_PTR_EQUAL(policy_peer_find(&p, "c"), c);
	CU_ASSERT_PTR_NULL(policy_peer_find(&p, "a"));
	CU_ASSERT_PTR_NULL(policy_peer_find(&p, "B"));
	CU_ASSERT_PTR_NULL(policy_peer_find(&p, ""));
	CU_ASSERT_PTR_EQUAL(policy_peer_by_key(&p, identity_kx_pk(id_a)), b);
	CU_ASSERT_PTR_EQUAL(policy_peer_by_key(&p, identity_kx_pk(id_b)), c);
	/* the signing key is not the key-exchange key */
	CU_ASSERT_PTR_NULL(policy_peer_by_key(&p, identity_sign_pk(id_a)));
	{
		uint8_t other[32];

		memcpy(other, identity_kx_pk(id_a), 32);
		other[31] ^= 1;
		CU_ASSERT_PTR_NULL(policy_peer_by_key(&p, other));
	}
	policy_cleanup(&p);
	CU_ASSERT_PTR_NULL(policy_peer_find(&p, "b"));
	CU_ASSERT_PTR_NULL(policy_peer_by_key(&p, identity_kx_pk(id_a)));
}

static void
test_lookup_without_peers(void)
{
	struct policy p;

	policy_init(&p);
	CU_ASSERT_PTR_NULL(policy_peer_find(&p, "b"));
	CU_ASSERT_PTR_NULL(policy_peer_by_key(&p, identity_kx_pk(id_a)));
	CU_ASSERT_PTR_NULL(policy_peer_find(NULL, "b"));
	CU_ASSERT_PTR_NULL(policy_peer_by_key(NULL, identity_kx_pk(id_a)));
	policy_cleanup(&p);
}

/* POLICY_PEERS_MAX sections load; one more is refused on its header. */
static void
test_peers_max(void)
{
	size_t cap = (POLICY_PEERS_MAX + 1) * 160 + 64, n = 0;
	char *text = malloc(cap), err[1024];
	struct policy p;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	n += (size_t)snprintf(text + n, cap - n, "[node]\nname = a\n");
	for (size_t i = 0; i <= POLICY_PEERS_MAX; i++) {
		uint8_t seed[IDENTITY_SEED_LEN] = {0};
		struct identity *id = NULL;
		char card[IDENTITY_CARD_MAX];

		seed[0] = (uint8_t)i;
		seed[1] = (uint8_t)(i >> 8);
		seed[2] = 0x5a;
		CU_ASSERT_FATAL(identity_from_seed(seed, &id) == 0);
		CU_ASSERT_FATAL(identity_card(id, card, sizeof(card)) == 0);
		identity_free(id);
		n += (size_t)snprintf(text + n, cap - n,
				      "[peer p%zu]\nkey = %s\n", i, card);
		CU_ASSERT_FATAL(n < cap);
		if (i + 1 == POLICY_PEERS_MAX) {
			CU_ASSERT_EQUAL(load_text(text, &p, err, sizeof(err)),
					0);
			CU_ASSERT_EQUAL(p.npeers, POLICY_PEERS_MAX);
			policy_cleanup(&p);
		}
	}
	rc = load_text(text, &p, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, FERRY_EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "ferry.conf:2051: more than 1024 "
					   "[peer NAME] sections"));
	policy_cleanup(&p);
	free(text);
}

/* ------------------------------------------------------------ default file */

/* The default file names the peer keys; uncommented with a real card, its
 * example loads with the documented defaults. */
static void
test_default_conf_example(void)
{
	char *text = policy_default_conf("a", NULL), *full = NULL, *s;
	const char *want[] = {
	    "#listen = ",	 "#[peer base]\n",	  "#key = ",
	    "#tcp = ",		 "#dial = when-needed\n", "#retry_min = 1s\n",
	    "#retry_max = 5m\n", "#retry_jitter = 20\n",  "#keepalive = 30s\n",
	    "#rate = 0\n"};
	const char *placeholder = "<card printed by ferry info on base>";
	const struct policy_peer *b;
	struct policy p;
	char err[1024];
	size_t cap;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (strstr(text, want[i]) == NULL)
			fprintf(stderr, "\nmissing '%s'\n", want[i]);
		CU_ASSERT_PTR_NOT_NULL(strstr(text, want[i]));
	}
	/* as written: no peer, no listen */
	CU_ASSERT_EQUAL_FATAL(load_text(text, &p, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(p.npeers, 0);
	CU_ASSERT_EQUAL(p.nlisten, 0);
	policy_cleanup(&p);

	/* uncomment the [peer base] example up to its blank line, card "@A" */
	cap = strlen(text) + 8;
	full = malloc(cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(full);
	s = strstr(text, "#[peer base]\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (char *t = s; *t != '\0' && strncmp(t, "\n\n", 2) != 0; t++)
		if (t[0] == '#' && (t == s || t[-1] == '\n'))
			t[0] = ' ';
	s = strstr(text, placeholder);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_FATAL(snprintf(full, cap, "%.*s@A%s", (int)(s - text), text,
				 s + strlen(placeholder)) < (int)cap);
	CU_ASSERT_EQUAL_FATAL(load_text(full, &p, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(p.npeers, 1);
	b = policy_peer_find(&p, "base");
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(b->ntcp, 1);
	CU_ASSERT_STRING_EQUAL(b->tcp[0].host, "base.example.org");
	CU_ASSERT_EQUAL(b->tcp[0].port, 7700);
	CU_ASSERT_EQUAL(b->nhttp, 1);
	CU_ASSERT_STRING_EQUAL(b->http[0], "https://base.example.org/ferry");
	CU_ASSERT_STRING_EQUAL(b->proxy, "http://proxy.example.org:3128");
	CU_ASSERT_EQUAL(b->poll_ms, 60 * 1000);
	CU_ASSERT_EQUAL(b->dial, POLICY_DIAL_WHEN_NEEDED);
	CU_ASSERT_EQUAL(b->retry_min_ms, 1000);
	CU_ASSERT_EQUAL(b->retry_max_ms, 300 * 1000);
	CU_ASSERT_EQUAL(b->retry_jitter_pct, 20);
	CU_ASSERT_EQUAL(b->keepalive_ms, 30 * 1000);
	CU_ASSERT_EQUAL(b->rate_bytes_per_s, 0);
	CU_ASSERT_PTR_EQUAL(policy_peer_by_key(&p, identity_kx_pk(id_a)), b);
	policy_cleanup(&p);
	free(full);
	free(text);
}

/* ---------------------------------------------------- policy_endpoint_parse */

struct ep_case {
	const char *in;
	int rc;
	const char *host;
	unsigned port;
};

static const struct ep_case ep_cases[] = {
    {"h:1", 0, "h", 1},
    {"base.example.org:7700", 0, "base.example.org", 7700},
    {"127.0.0.1:65535", 0, "127.0.0.1", 65535},
    {"[::1]:7700", 0, "::1", 7700},
    {"[::]:7700", 0, "::", 7700},
    {"[2001:db8::1]:80", 0, "2001:db8::1", 80},
    {"[fe80::1%eth0]:80", 0, "fe80::1%eth0", 80},
    {"h:007", 0, "h", 7},
    {"", FERRY_EINVAL, NULL, 0},
    {"h", FERRY_EINVAL, NULL, 0},
    {"h:", FERRY_EINVAL, NULL, 0},
    {"h:0", FERRY_EINVAL, NULL, 0},
    {"h:65536", FERRY_EINVAL, NULL, 0},
    {"h:99999999999999999999999", FERRY_EINVAL, NULL, 0},
    {"h:-1", FERRY_EINVAL, NULL, 0},
    {"h:1 ", FERRY_EINVAL, NULL, 0},
    {"h :1", FERRY_EINVAL, NULL, 0},
    {":1", FERRY_EINVAL, NULL, 0},
    {"::1", FERRY_EINVAL, NULL, 0},
    {"[::1]", FERRY_EINVAL, NULL, 0},
    {"[::1]:", FERRY_EINVAL, NULL, 0},
    {"[::1", FERRY_EINVAL, NULL, 0},
    {"[1.2.3.4]:1", FERRY_EINVAL, NULL, 0},
    {"[::1%]:1", FERRY_EINVAL, NULL, 0},
    {"[::1%a/b]:1", FERRY_EINVAL, NULL, 0},
    {"[::1%abcdefghijklmnop]:1", FERRY_EINVAL, NULL, 0},
    {"[::1]:1:2", FERRY_EINVAL, NULL, 0},
    {"h\n:1", FERRY_EINVAL, NULL, 0},
};

static void
test_endpoint_parse_table(void)
{
	for (size_t i = 0; i < sizeof(ep_cases) / sizeof(ep_cases[0]); i++) {
		const struct ep_case *ec = &ep_cases[i];
		struct policy_endpoint ep;
		char why[512] = "";
		int rc, ok;

		memset(&ep, 0x55, sizeof(ep));
		rc = policy_endpoint_parse(ec->in, &ep, why, sizeof(why));
		ok = rc == ec->rc;
		if (ok && rc == 0)
			ok = strcmp(ep.host, ec->host) == 0 &&
			     ep.port == ec->port;
		if (ok && rc != 0)
			ok = why[0] != '\0' && strchr(why, '(') != NULL &&
			     ep.port == 0x5555;
		if (!ok)
			fprintf(stderr,
				"\nendpoint case '%s': rc %d why '%s'\n",
				ec->in, rc, why);
		CU_ASSERT(ok);
	}
	{
		struct policy_endpoint ep;

		CU_ASSERT_EQUAL(policy_endpoint_parse(NULL, &ep, NULL, 0),
				FERRY_EINVAL);
		CU_ASSERT_EQUAL(policy_endpoint_parse("h:1", NULL, NULL, 0),
				FERRY_EINVAL);
		CU_ASSERT_EQUAL(policy_endpoint_parse("h", &ep, NULL, 0),
				FERRY_EINVAL);
	}
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("policy_peers", setup, teardown);
	CU_pSuite e = CU_add_suite("policy_endpoint", NULL, NULL);

	if (s == NULL || e == NULL)
		abort();
	TEST_ADD(s, test_load_table);
	TEST_ADD(s, test_defaults);
	TEST_ADD(s, test_every_value);
	TEST_ADD(s, test_lookup_without_peers);
	TEST_ADD(s, test_peers_max);
	TEST_ADD(s, test_default_conf_example);
	TEST_ADD(e, test_endpoint_parse_table);
}

int
main(void)
{
	return test_main("test_policy_peers", add_suites);
}
