/*
 * test_intake.c - the frame intake (agent/intake.c) driven through the
 * loopback transport (transports/loopback.c), a real struct
 * transport_ops whose wire is in process.  Every case of
 * tests/intake_cases.txt (the table tests/interop/intake_interop.py runs
 * against ferryd over TCP and bundles) runs twice, each in a fresh store:
 * over a LIVE wire (as TCP: the HELLO measures the sender's clock) and
 * over a CARRIER (as a bundle: dated by the sender's clock, time on the
 * medium charged).  A case whose sender never met this node live runs
 * over the carrier only.  What is checked: the outcome the intake gave,
 * custody, what the store holds (store_stats, store_status), the payload,
 * and for a TTL the expiry, within the clock-skew allowance of now + TTL.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/agent.h"
#include "agent/intake.h"
#include "lib/util.h"
#include "tests/unit/testutil.h"
#include "transports/loopback.h"

#define CASES_MAX 64
#define PEER	  "alpha" /* the sender ("peer" in the table) */

struct icase {
	int line;
	char name[160];
	char src[FERRY_NODE_MAX + 1];
	char queue[FERRY_QUEUE_MAX + 1];
	uint64_t size;			  /* not a receipt */
	char rcpt_to[FERRY_NODE_MAX + 1]; /* a receipt: "" if not */
	char rcpt_by[FERRY_NODE_MAX + 1];
	uint64_t ttl_ms;
	int64_t clock_ms;
	int live; /* contact: the sender meets this node live first */
	char expect[24];
};

static struct icase cases[CASES_MAX];
static size_t ncases;
static uint64_t max_message;

/* ------------------------------------------------------------ the table */

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static int
parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return -1;
	if (*end == 'K') {
		v *= 1024;
		end++;
	}
	*out = v;
	return *end == '\0' ? 0 : -1;
}

/* "0", or a signed N with a unit s, m, h, d, y (365 days). */
static int
parse_ms(const char *s, int64_t *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	int64_t unit;

	if (end == s)
		return -1;
	switch (*end) {
	case '\0':
		unit = v == 0 ? 0 : -1;
		break;
	case 's':
		unit = 1000;
		break;
	case 'm':
		unit = 60 * 1000;
		break;
	case 'h':
		unit = 3600 * 1000;
		break;
	case 'd':
		unit = 86400 * 1000;
		break;
	case 'y':
		unit = 365LL * 86400 * 1000;
		break;
	default:
		unit = -1;
	}
	if (unit < 0 || (*end != '\0' && end[1] != '\0'))
		return -1;
	*out = v * unit;
	return 0;
}

static int
parse_case(char *line, struct icase *c)
{
	char *col[8], *save = NULL, *tok;
	int64_t ttl = 0;
	size_t n = 0;

	for (tok = strtok_r(line, "|", &save); tok != NULL;
	     tok = strtok_r(NULL, "|", &save)) {
		if (n == 8)
			return -1;
		col[n++] = trim(tok);
	}
	if (n != 8)
		return -1;
	snprintf(c->name, sizeof(c->name), "%s", col[0]);
	snprintf(c->src, sizeof(c->src), "%s",
		 strcmp(col[1], "peer") == 0 ? PEER : col[1]);
	snprintf(c->queue, sizeof(c->queue), "%s", col[2]);
	if (strncmp(col[3], "receipt ", 8) == 0) {
		if (sscanf(col[3] + 8, "%32s %32s", c->rcpt_to, c->rcpt_by) !=
		    2)
			return -1;
	} else if (parse_size(col[3], &c->size) != 0) {
		return -1;
	}
	if (strcmp(col[4], "-") != 0 &&
	    (parse_ms(col[4], &ttl) != 0 || ttl <= 0))
		return -1;
	c->ttl_ms = (uint64_t)ttl;
	if (parse_ms(col[5], &c->clock_ms) != 0)
		return -1;
	if (strcmp(col[6], "live") != 0 && strcmp(col[6], "none") != 0)
		return -1;
	c->live = strcmp(col[6], "live") == 0;
	snprintf(c->expect, sizeof(c->expect), "%s", col[7]);
	return 0;
}

static int
load_cases(void)
{
	const char *top = getenv("top_srcdir");
	char path[4096], line[512];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/tests/intake_cases.txt",
		 top != NULL && top[0] != '\0' ? top : ".");
	if ((f = fopen(path, "r")) == NULL) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *hash = strchr(line, '#');
		n++;
		if (hash != NULL)
			*hash = '\0';
		s = trim(line);
		if (*s == '\0')
			continue;
		if (strchr(s, '|') == NULL) {
			char *eq = strchr(s, '=');
			if (eq != NULL) {
				*eq = '\0';
				if (strcmp(trim(s), "max_message") == 0 &&
				    parse_size(trim(eq + 1), &max_message) == 0)
					continue;
			}
		} else if (ncases < CASES_MAX &&
			   parse_case(s, &cases[ncases]) == 0) {
			cases[ncases++].line = n;
			continue;
		}
		fprintf(stderr, "%s:%d: not a case nor a setting\n", path, n);
		fclose(f);
		return -1;
	}
	fclose(f);
	return ncases > 0 && max_message > 0 ? 0 : -1;
}

/* ------------------------------------------------------- one case, once */

struct node {
	char *dir;
	struct store *st;
	struct agent ag;
	void *lb; /* the loopback transport's state */
};

static int
node_open(struct node *n)
{
	memset(n, 0, sizeof(*n));
	/* The real clock: the intake reads it (its TTLs, the carrier's
	 * dates), and so must the store. */
	if ((n->st = test_store_open(&n->dir, NULL, NULL)) == NULL)
		return -1;
	n->ag.store = n->st;
	policy_init(&n->ag.pol);
	snprintf(n->ag.pol.node_name, sizeof(n->ag.pol.node_name), "here");
	n->ag.pol.max_message_bytes = max_message;
	return loopback_transport.start(&n->ag, &n->lb);
}

static void
node_close(struct node *n)
{
	loopback_transport.stop(&n->ag, n->lb);
	policy_cleanup(&n->ag.pol);
	store_close(n->st);
	test_rmtree(n->dir);
}

static uint64_t
stored_msgs(struct store *st)
{
	struct store_stats s;

	CU_ASSERT_FATAL(store_stats(st, &s) == 0);
	return s.msgs;
}

static int
acked_receipts(struct store *st, const uint8_t id[FERRY_ID_LEN])
{
	struct store_status *ss = calloc(1, sizeof(*ss));
	int n = 0;

	CU_ASSERT_FATAL(ss != NULL);
	CU_ASSERT_FATAL(store_status(st, id, ss) == 0);
	for (size_t i = 0; i < ss->nreceipts; i++)
		n += ss->receipts[i].event == STORE_RCPT_ACKED;
	free(ss);
	return n;
}

static enum store_status_kind
status_of(struct store *st, const uint8_t id[FERRY_ID_LEN],
	  struct store_msg_info *info)
{
	struct store_status *ss = calloc(1, sizeof(*ss));
	enum store_status_kind k;

	CU_ASSERT_FATAL(ss != NULL);
	CU_ASSERT_FATAL(store_status(st, id, ss) == 0);
	k = ss->kind;
	if (info != NULL)
		*info = ss->info;
	free(ss);
	return k;
}

/* A check of one run: counted by CUnit, said with the case's label. */
static int run_failed;
#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		CU_ASSERT(cond);                                               \
		if (!(cond)) {                                                 \
			run_failed = 1;                                        \
			fprintf(stderr, "  not ok: %s: %s: ", label, #cond);   \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, "\n");                                 \
		}                                                              \
	} while (0)

static void
run_case(const struct icase *c, enum loopback_mode mode)
{
	const char *label_mode = mode == LOOPBACK_LIVE ? "live" : "carrier";
	char label[256];
	struct node n;
	struct loopback_peer *p = NULL;
	struct loopback_result res = {0};
	struct hop_msg hm;
	struct store_msg_info info;
	uint8_t target[FERRY_ID_LEN], *payload = NULL;
	char hex[FERRY_ID_HEX_LEN + 1];
	uint64_t before;
	int64_t sent_ms;
	int rc, closed;

	snprintf(label, sizeof(label), "%s: line %d: %s", label_mode, c->line,
		 c->name);
	CU_ASSERT_FATAL(node_open(&n) == 0);

	memset(&hm, 0, sizeof(hm));
	ferry_msg_init(&hm.msg);
	CU_ASSERT_FATAL(ferry_id_generate(hm.msg.id) == 0);
	snprintf(hm.msg.src_node, sizeof(hm.msg.src_node), "%s", c->src);
	snprintf(hm.msg.dst_node, sizeof(hm.msg.dst_node), "here");
	snprintf(hm.msg.dst_queue, sizeof(hm.msg.dst_queue), "%s", c->queue);
	hm.msg.priority = 3;
	hm.msg.created_ms = ferry_wall_ms() + c->clock_ms;
	hm.ttl_ms = c->ttl_ms;
	if (c->rcpt_to[0] != '\0') {
		/* A message of this node's to report on. */
		struct ferry_msg t;
		char line[200];
		test_msg(&t, c->rcpt_to, "in", 3);
		t.flags |= FERRY_MSG_RECEIPT;
		CU_ASSERT_FATAL(store_put(n.st, &t, "x", 1) == 0);
		memcpy(target, t.id, FERRY_ID_LEN);
		ferry_id_to_hex(t.id, hex);
		snprintf(line, sizeof(line),
			 "ferry-receipt/1 acked %s %s %" PRId64 "\n", hex,
			 c->rcpt_by, ferry_wall_ms());
		hm.msg.payload_len = strlen(line);
		payload = (uint8_t *)strdup(line);
	} else {
		hm.msg.payload_len = c->size;
		payload = malloc(c->size ? c->size : 1);
		test_fill(hm.msg.id, 0, payload, (size_t)c->size);
	}
	CU_ASSERT_FATAL(payload != NULL);
	before = stored_msgs(n.st);
	run_failed = 0;

	if (mode == LOOPBACK_CARRIER && c->live && c->clock_ms != 0) {
		/* This node learns the sender's clock the way it does:
		 * live (a wire that only says HELLO). */
		CU_ASSERT_FATAL(loopback_peer_open(n.lb, PEER, LOOPBACK_LIVE,
						   c->clock_ms, &p) == 0);
		loopback_peer_free(p);
	}
	sent_ms = ferry_wall_ms();
	rc = loopback_peer_open(n.lb, PEER, mode, c->clock_ms, &p);
	if (strcmp(c->expect, "future") == 0) {
		CHECK(rc == FERRY_EINVAL, "the carrier was opened (%s)",
		      ferry_strerror(rc));
		goto stored_nothing;
	}
	CU_ASSERT_FATAL(rc == 0);
	rc = loopback_peer_send(p, &hm, payload);
	if (rc == 0)
		rc = loopback_peer_end(p);
	closed = loopback_peer_result(p, &res);

	if (strcmp(c->expect, "forged") == 0) {
		if (mode == LOOPBACK_LIVE)
			CHECK(rc == FERRY_EPROTO && closed,
			      "%s, wire %s, not ended", ferry_strerror(rc),
			      closed ? "closed" : "open");
		else
			CHECK(rc == 0 && !closed, "%s", ferry_strerror(rc));
		CHECK(res.oc == INTAKE_REFUSED && res.verdict == INTAKE_FORGED,
		      "outcome %d, verdict %d", res.oc, res.verdict);
		goto stored_nothing;
	}
	CHECK(rc == 0 && !closed, "%s, wire %s", ferry_strerror(rc),
	      closed ? "closed" : "open");
	if (strcmp(c->expect, "reserved") == 0 ||
	    strcmp(c->expect, "too-big") == 0) {
		enum intake_verdict want =
		    c->expect[0] == 'r' ? INTAKE_RESERVED : INTAKE_TOO_BIG;
		CHECK(res.oc == INTAKE_REFUSED && res.verdict == want,
		      "outcome %d, verdict %d", res.oc, res.verdict);
		goto stored_nothing;
	}
	/* stored, receipt-counted, receipt-ignored: taken, custody owed */
	CHECK(res.rc == 0 && res.custody, "outcome %d, %s, custody %d", res.oc,
	      ferry_strerror(res.rc), res.custody);
	CHECK(res.oc == (hm.msg.payload_len <= INTAKE_SMALL_MAX
			     ? INTAKE_SMALL
			     : INTAKE_STREAM),
	      "outcome %d", res.oc);
	if (strcmp(c->expect, "stored") == 0) {
		CHECK(stored_msgs(n.st) == before + 1,
		      "%" PRIu64 " messages, not %" PRIu64, stored_msgs(n.st),
		      before + 1);
		CHECK(status_of(n.st, hm.msg.id, &info) == STORE_ST_PRESENT,
		      "not in the store");
		if (run_failed)
			goto out; /* nothing more to look at */
		CHECK(strcmp(info.queue, c->queue) == 0, "in queue '%s'",
		      info.queue);
		CHECK(test_payload_ok(n.st, hm.msg.id, hm.msg.payload_len),
		      "the payload differs");
		if (c->ttl_ms != 0) {
			/* Its TTL from now on this node's clock, whatever
			 * the sender's clock says. */
			int64_t off = info.msg.expires_ms -
				      (sent_ms + (int64_t)c->ttl_ms);
			CHECK(info.msg.expires_ms != 0 &&
				  off >= -INTAKE_SKEW_MS &&
				  off <= INTAKE_SKEW_MS,
			      "expires %" PRId64 " ms from now, not %" PRIu64
			      " within the skew allowance",
			      info.msg.expires_ms - sent_ms, c->ttl_ms);
		} else {
			CHECK(info.msg.expires_ms == 0,
			      "expires %" PRId64 " ms from now, not never",
			      info.msg.expires_ms - sent_ms);
		}
	} else {
		int want = strcmp(c->expect, "receipt-counted") == 0;
		CU_ASSERT_FATAL(want ||
				strcmp(c->expect, "receipt-ignored") == 0);
		CHECK(acked_receipts(n.st, target) == want,
		      "%d acked receipts, not %d", acked_receipts(n.st, target),
		      want);
		CHECK(stored_msgs(n.st) == before, "a receipt was queued");
	}
	goto out;

stored_nothing:
	CHECK(!res.custody, "custody owed");
	CHECK(stored_msgs(n.st) == before, "%" PRIu64 " messages, not %" PRIu64,
	      stored_msgs(n.st), before);
	CHECK(status_of(n.st, hm.msg.id, NULL) == STORE_ST_UNKNOWN,
	      "its status is known");
out:
	fprintf(stderr, "  %s %s: %s\n", run_failed ? "not ok" : "ok", label,
		c->expect);
	loopback_peer_free(p);
	free(payload);
	node_close(&n);
}

static void
test_intake_cases_live(void)
{
	/* A live wire always meets this node live, and dates nothing: only a
	 * carrier can be from the future. */
	for (size_t i = 0; i < ncases; i++)
		if (cases[i].live && strcmp(cases[i].expect, "future") != 0)
			run_case(&cases[i], LOOPBACK_LIVE);
}

static void
test_intake_cases_carrier(void)
{
	for (size_t i = 0; i < ncases; i++)
		run_case(&cases[i], LOOPBACK_CARRIER);
}

/* The table has the cases the issue asks for (a table that lost them
 * would pass for nothing). */
static void
test_intake_cases_table(void)
{
	const char *want[] = {"forged", "reserved",	   "too-big",
			      "future", "receipt-counted", "receipt-ignored"};
	int neg = 0, pos = 0;

	for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
		int seen = 0;
		for (size_t i = 0; i < ncases; i++)
			seen |= strcmp(cases[i].expect, want[w]) == 0;
		CU_ASSERT(seen);
	}
	for (size_t i = 0; i < ncases; i++) {
		neg |= cases[i].live && cases[i].ttl_ms != 0 &&
		       cases[i].clock_ms <= -365LL * 86400 * 1000;
		pos |= cases[i].live && cases[i].ttl_ms != 0 &&
		       cases[i].clock_ms >= 365LL * 86400 * 1000;
	}
	CU_ASSERT(neg && pos);
}

/* The transport's other operations: status shows an open wire, kick is
 * harmless (nothing to dial). */
static void
test_loopback_ops(void)
{
	struct node n;
	struct loopback_peer *p = NULL;
	struct peer_status ps;
	int released = -1;
	uint8_t id[FERRY_ID_LEN];

	CU_ASSERT_FATAL(node_open(&n) == 0);
	memset(&ps, 0, sizeof(ps));
	snprintf(ps.name, sizeof(ps.name), PEER);
	loopback_transport.status(n.lb, &ps);
	CU_ASSERT(!ps.connected);
	CU_ASSERT_FATAL(loopback_peer_open(n.lb, PEER, LOOPBACK_LIVE, 0, &p) ==
			0);
	loopback_transport.status(n.lb, &ps);
	CU_ASSERT(ps.connected && strcmp(ps.via, "loopback") == 0);
	loopback_transport.kick(n.lb, PEER, 3);
	/* CUSTODY for an id this node never sent: nothing released. */
	CU_ASSERT_FATAL(ferry_id_generate(id) == 0);
	CU_ASSERT(loopback_peer_custody(p, id, &released) == 0);
	CU_ASSERT(released == 0);
	/* stop closes the wires still open */
	node_close(&n);
}

/* ------------------------------------------- END's hash (HOP_FEAT_RESUMEHASH)
 */

#define HR_LEN (1u << 20) /* streamed (above INTAKE_SMALL_MAX) */
#define HR_CUT (300u * 1024u)

/* Feed [from, to) of m's payload (test_fill) to rx in 64 KiB CHUNKs. */
static int
hr_chunks(struct intake_rx *rx, const struct ferry_msg *m, uint64_t from,
	  uint64_t to)
{
	static uint8_t buf[65536];
	int rc = 0;

	for (uint64_t off = from; off < to && rc == 0; off += sizeof(buf)) {
		struct hop_chunk c;
		size_t n =
		    to - off < sizeof(buf) ? (size_t)(to - off) : sizeof(buf);
		test_fill(m->id, off, buf, n);
		memcpy(c.id, m->id, FERRY_ID_LEN);
		c.offset = off;
		c.data = buf;
		c.len = n;
		rc = intake_chunk(rx, &c);
	}
	return rc;
}

/* END of m: its true hash, or a zero one. */
static int
hr_end(struct intake_rx *rx, const struct ferry_msg *m, int true_hash)
{
	static uint8_t buf[65536];
	crypto_generichash_state hs;
	struct hop_end e;

	memset(&e, 0, sizeof(e));
	memcpy(e.id, m->id, FERRY_ID_LEN);
	e.total_len = HR_LEN;
	if (true_hash) {
		crypto_generichash_init(&hs, NULL, 0, HOP_HASH_LEN);
		for (uint64_t off = 0; off < HR_LEN; off += sizeof(buf)) {
			test_fill(m->id, off, buf, sizeof(buf));
			crypto_generichash_update(&hs, buf, sizeof(buf));
		}
		crypto_generichash_final(&hs, e.hash, HOP_HASH_LEN);
	}
	return intake_end(rx, &e);
}

static int
hr_begin(const struct intake *in, const struct ferry_msg *m,
	 struct intake_rx **rx, uint64_t offset)
{
	struct hop_msg hm;
	enum intake_outcome oc;
	int rc;

	memset(&hm, 0, sizeof(hm));
	hm.msg = *m;
	hm.offset = offset;
	rc = intake_begin(in, &hm, rx, &oc);
	CU_ASSERT_EQUAL(oc, INTAKE_STREAM);
	return rc;
}

/*
 * A live link that checks END's hash only for a resumed payload: one
 * received whole from 0 is stored with a zero hash (the session's AEAD
 * covered every byte); one resumed from a stored prefix is refused with
 * a zero or wrong hash and stored with the true one (its prefix hashed
 * back from the store).  Without hash_resumed (an older ferry), a zero
 * hash is refused even for a whole payload.
 */
static void
test_end_hash_resumed_only(void)
{
	struct store *st;
	char *dir = NULL;
	struct intake in;
	struct intake_rx *rx = NULL;
	struct ferry_msg m;
	static const int no_cancel = 0;

	st = test_store_open(&dir, NULL, NULL);
	CU_ASSERT_FATAL(st != NULL);
	memset(&in, 0, sizeof(in));
	in.st = st;
	in.me.name = "beta";
	in.peer = "alpha";
	in.check_hash = 1;
	in.hash_resumed = 1;
	in.from_durable = 1;

	/* Whole from 0: a zero hash is fine. */
	test_msg(&m, "beta", "in", 3);
	snprintf(m.src_node, sizeof(m.src_node), "alpha");
	m.payload_len = HR_LEN;
	CU_ASSERT_EQUAL_FATAL(hr_begin(&in, &m, &rx, 0), 0);
	CU_ASSERT_EQUAL(hr_chunks(rx, &m, 0, HR_LEN), 0);
	CU_ASSERT_EQUAL(hr_end(rx, &m, 0), 0);
	intake_rx_free(rx, 0);
	CU_ASSERT(test_payload_ok(st, m.id, HR_LEN));

	/* Cut at HR_CUT, kept; resumed: a zero hash is refused. */
	test_msg(&m, "beta", "in", 3);
	snprintf(m.src_node, sizeof(m.src_node), "alpha");
	m.payload_len = HR_LEN;
	CU_ASSERT_EQUAL_FATAL(hr_begin(&in, &m, &rx, 0), 0);
	CU_ASSERT_EQUAL(hr_chunks(rx, &m, 0, HR_CUT), 0);
	intake_rx_free(rx, 1);
	CU_ASSERT_EQUAL_FATAL(hr_begin(&in, &m, &rx, 0), 0);
	CU_ASSERT_EQUAL(intake_rx_durable(rx), HR_CUT);
	CU_ASSERT_EQUAL(intake_hash_prefix(rx, &no_cancel), 0);
	CU_ASSERT_EQUAL(hr_chunks(rx, &m, HR_CUT, HR_LEN), 0);
	CU_ASSERT_EQUAL(hr_end(rx, &m, 0), FERRY_ECORRUPT);
	intake_rx_free(rx, 1);
	/* Again, with the true hash: stored. */
	CU_ASSERT_EQUAL_FATAL(hr_begin(&in, &m, &rx, 0), 0);
	CU_ASSERT_EQUAL(intake_hash_prefix(rx, &no_cancel), 0);
	CU_ASSERT_EQUAL(hr_chunks(rx, &m, intake_rx_durable(rx), HR_LEN), 0);
	CU_ASSERT_EQUAL(hr_end(rx, &m, 1), 0);
	intake_rx_free(rx, 0);
	CU_ASSERT(test_payload_ok(st, m.id, HR_LEN));

	/* An intake that checks every END: a zero hash is refused. */
	in.hash_resumed = 0;
	test_msg(&m, "beta", "in", 3);
	snprintf(m.src_node, sizeof(m.src_node), "alpha");
	m.payload_len = HR_LEN;
	CU_ASSERT_EQUAL_FATAL(hr_begin(&in, &m, &rx, 0), 0);
	CU_ASSERT_EQUAL(hr_chunks(rx, &m, 0, HR_LEN), 0);
	CU_ASSERT_EQUAL(hr_end(rx, &m, 0), FERRY_ECORRUPT);
	intake_rx_free(rx, 0);

	store_close(st);
	test_rmtree(dir);
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("intake", NULL, NULL);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_intake_cases_table);
	TEST_ADD(s, test_intake_cases_live);
	TEST_ADD(s, test_intake_cases_carrier);
	TEST_ADD(s, test_loopback_ops);
	TEST_ADD(s, test_end_hash_resumed_only);
}

int
main(void)
{
	if (load_cases() != 0)
		return 99;
	return test_main("test_intake", add_suites);
}
