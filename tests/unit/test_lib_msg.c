/*
 * test_lib_msg.c - CUnit tests of the message model: name rules, field
 * validation, id hex round trips.  Tables of cases: label, input, wanted.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/be.h"
#include "lib/frame.h"
#include "lib/util.h"
#include "tests/unit/testutil.h"

struct name_case {
	const char *label;
	const char *name;
	int valid;
};

static const struct name_case node_cases[] = {
    {"plain", "base", 1},
    {"digits and punctuation", "field-07_a.b", 1},
    {"empty", "", 0},
    {"upper case", "Base", 0},
    {"leading dot", ".base", 0},
    {"leading dash", "-base", 0},
    {"slash", "a/b", 0},
    {"space", "a b", 0},
    {"63 bytes",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1},
    {"64 bytes",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
    {"non-ascii", "b\xc3\xa4se", 0},
};

static const struct name_case queue_cases[] = {
    {"plain", "reports", 1},
    {"path", "base/reports/daily", 1},
    {"mixed case", "Inbox.2", 1},
    {"empty", "", 0},
    {"leading slash", "/reports", 0},
    {"trailing slash", "reports/", 0},
    {"double slash", "a//b", 0},
    {"dot dot", "a/../b", 0},
    {"lone dot dot", "..", 0},
    {"dots inside a name", "a..b", 1},
    {"space", "a b", 0},
    {"newline", "a\nb", 0},
};

/* Destinations as clients write them: a node, or '@' and a group's name,
 * 63 bytes in all (docs/groups.md). */
static const struct name_case dest_cases[] = {
    {"node", "base", 1},
    {"group", "@a", 1},
    {"group with punctuation", "@alerts-7_b.c", 1},
    {"@ alone", "@", 0},
    {"@@", "@@a", 0},
    {"group upper case", "@A", 0},
    {"group leading dash", "@-a", 0},
    {"@ inside", "a@b", 0},
    {"@ at the end", "a@", 0},
    {"group with a comma", "@a,b", 0},
    {"empty", "", 0},
    {"node of 63 bytes",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1},
    {"node of 64 bytes",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
    {"group of 63 bytes with its @",
     "@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1},
    {"group of 64 bytes with its @",
     "@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
    {"group of 65 bytes with its @",
     "@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
};

static void
test_dest_nodes(void)
{
	for (size_t i = 0; i < sizeof(dest_cases) / sizeof(dest_cases[0]);
	     i++) {
		int got = ferry_dest_node_valid(dest_cases[i].name);
		if (got != dest_cases[i].valid)
			fprintf(stderr, "dest case '%s' failed\n",
				dest_cases[i].label);
		CU_ASSERT_EQUAL(got, dest_cases[i].valid);
	}
	/* A group is not a node: the node rule still refuses it. */
	CU_ASSERT(!ferry_node_name_valid("@a"));
}

static const struct {
	const char *path, *first;
} first_cases[] = {
    {"base,camp,town", "base"},
    {"base", "base"},
    {"", ""},
    {"base,", "base"},
    {",base", ""},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,b",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,b",
     ""}, /* not a valid path: nothing */
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ""},
};

static void
test_route_path_first(void)
{
	for (size_t i = 0; i < sizeof(first_cases) / sizeof(first_cases[0]);
	     i++) {
		/* Exactly FERRY_NODE_MAX + 1 bytes: ASan sees an overrun. */
		char *out = malloc(FERRY_NODE_MAX + 1);

		CU_ASSERT_FATAL(out != NULL);
		memset(out, 'x', FERRY_NODE_MAX + 1);
		route_path_first(first_cases[i].path, out);
		if (strcmp(out, first_cases[i].first) != 0)
			fprintf(stderr, "first of '%s': '%s'\n",
				first_cases[i].path, out);
		CU_ASSERT_STRING_EQUAL(out, first_cases[i].first);
		free(out);
	}
}

static void
test_node_names(void)
{
	for (size_t i = 0; i < sizeof(node_cases) / sizeof(node_cases[0]);
	     i++) {
		int got = ferry_node_name_valid(node_cases[i].name);
		if (got != node_cases[i].valid)
			fprintf(stderr, "node case '%s' failed\n",
				node_cases[i].label);
		CU_ASSERT_EQUAL(got, node_cases[i].valid);
	}
}

static void
test_queue_names(void)
{
	char long_name[200];

	for (size_t i = 0; i < sizeof(queue_cases) / sizeof(queue_cases[0]);
	     i++) {
		int got = ferry_queue_name_valid(queue_cases[i].name);
		if (got != queue_cases[i].valid)
			fprintf(stderr, "queue case '%s' failed\n",
				queue_cases[i].label);
		CU_ASSERT_EQUAL(got, queue_cases[i].valid);
	}
	memset(long_name, 'q', sizeof(long_name));
	long_name[FERRY_QUEUE_MAX] = '\0';
	CU_ASSERT(ferry_queue_name_valid(long_name));
	long_name[FERRY_QUEUE_MAX] = 'q';
	long_name[FERRY_QUEUE_MAX + 1] = '\0';
	CU_ASSERT(!ferry_queue_name_valid(long_name));
}

static void
test_msg_validate(void)
{
	struct ferry_msg m;

	test_msg(&m, "base", "reports", 3);
	CU_ASSERT_EQUAL(ferry_msg_validate(&m), 0);
	m.priority = 8;
	CU_ASSERT_EQUAL(ferry_msg_validate(&m), FERRY_EINVAL);
	test_msg(&m, "base", "reports", 3);
	snprintf(m.reply_to, sizeof(m.reply_to), "answers");
	CU_ASSERT_EQUAL(ferry_msg_validate(&m), 0);
	snprintf(m.reply_to, sizeof(m.reply_to), "bad//reply");
	CU_ASSERT_EQUAL(ferry_msg_validate(&m), FERRY_EINVAL);
	test_msg(&m, "base", "reports", 3);
	m.expires_ms = -1;
	CU_ASSERT_EQUAL(ferry_msg_validate(&m), FERRY_EINVAL);
	test_msg(&m, "base", "reports", 3);
	memset(m.correlation, 'c', sizeof(m.correlation)); /* no NUL */
	CU_ASSERT_EQUAL(ferry_msg_validate(&m), FERRY_EINVAL);
	test_msg(&m, "base", "reports", 3);
	m.flags = FERRY_MSG_FLAGS_ALL;
	CU_ASSERT_EQUAL(ferry_msg_validate(&m), 0);
	m.flags = 0x100;
	CU_ASSERT_EQUAL(ferry_msg_validate(&m), FERRY_EINVAL);
}

/* The time in an id's first 6 bytes (ms, big-endian). */
static int64_t
id_ms(const uint8_t id[FERRY_ID_LEN])
{
	int64_t ms = 0;

	for (int i = 0; i < 6; i++)
		ms = ms << 8 | id[i];
	return ms;
}

static void
test_id_generate_time_ordered(void)
{
	enum { N = 20000 };
	static uint8_t ids[N][FERRY_ID_LEN];
	int64_t t0 = ferry_wall_ms(), t1;
	int tails_same = 0;

	for (int i = 0; i < N; i++)
		CU_ASSERT_EQUAL_FATAL(ferry_id_generate(ids[i]), 0);
	t1 = ferry_wall_ms();
	for (int i = 0; i < N; i++) {
		/* The time of the draw, and one thread's ids increase. */
		CU_ASSERT(id_ms(ids[i]) >= t0 && id_ms(ids[i]) <= t1);
		if (i > 0) {
			CU_ASSERT(memcmp(ids[i - 1], ids[i], FERRY_ID_LEN) < 0);
			/* The last bytes (a hash for tcp_ids.c) vary. */
			tails_same +=
			    memcmp(ids[i - 1] + 12, ids[i] + 12, 4) == 0;
		}
	}
	CU_ASSERT_EQUAL(tails_same, 0);
}

/* A fork's child draws its own random bytes: parent and child, drawing in
 * a new millisecond each (so both take 80 fresh random bits), differ. */
static void
test_id_generate_fork_child_differs(void)
{
	uint8_t first[FERRY_ID_LEN], mine[FERRY_ID_LEN], its[FERRY_ID_LEN];
	int fds[2], status;
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(ferry_id_generate(first), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	usleep(3000);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		uint8_t id[FERRY_ID_LEN];
		int ok = ferry_id_generate(id) == 0 &&
			 write(fds[1], id, sizeof(id)) == (ssize_t)sizeof(id);
		_exit(ok ? 0 : 1);
	}
	CU_ASSERT_EQUAL_FATAL(ferry_id_generate(mine), 0);
	CU_ASSERT_EQUAL(read(fds[0], its, sizeof(its)), (ssize_t)sizeof(its));
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fds[0]);
	close(fds[1]);
	CU_ASSERT(memcmp(mine + 6, its + 6, FERRY_ID_LEN - 6) != 0);
}

static void
test_id_hex_round_trip(void)
{
	uint8_t id[16], back[16];
	char hex[FERRY_ID_HEX_LEN + 1];

	CU_ASSERT_EQUAL_FATAL(ferry_id_generate(id), 0);
	ferry_id_to_hex(id, hex);
	CU_ASSERT_EQUAL(strlen(hex), 32);
	CU_ASSERT_EQUAL(ferry_id_from_hex(hex, back), 0);
	CU_ASSERT(memcmp(id, back, 16) == 0);
	CU_ASSERT_EQUAL(
	    ferry_id_from_hex("00112233445566778899AABBCCDDEEFF", back), 0);
	CU_ASSERT_EQUAL(back[15], 0xff);
	CU_ASSERT_EQUAL(ferry_id_from_hex("0011", back), FERRY_EINVAL);
	CU_ASSERT_EQUAL(
	    ferry_id_from_hex("0011223344556677889900112233445g", back),
	    FERRY_EINVAL);
	CU_ASSERT_EQUAL(ferry_id_from_hex(NULL, back), FERRY_EINVAL);
}

static void
test_strerror_names_every_code(void)
{
	for (int c = 0; c >= FERRY_ERR_MIN; c--)
		CU_ASSERT(strcmp(ferry_strerror(c), "unknown error") != 0);
	CU_ASSERT_STRING_EQUAL(ferry_strerror(-999), "unknown error");
}

/* Untrusted names quoted for logs and errors: nothing that could start
 * a new line or a terminal sequence gets through, and long ones are cut;
 * the queue-name rule that failed is named. */
static void
test_quote_and_why(void)
{
	char out[32];

	CU_ASSERT_STRING_EQUAL(ferry_quote("plain-name", out, sizeof(out)),
			       "plain-name");
	CU_ASSERT_STRING_EQUAL(ferry_quote("a\nb\033[2J\\", out, sizeof(out)),
			       "a\\x0ab\\x1b[2J\\x5c");
	ferry_quote("0123456789012345678901234567890123456789", out,
		    sizeof(out));
	CU_ASSERT(strlen(out) < sizeof(out));
	CU_ASSERT(strcmp(out + strlen(out) - 3, "...") == 0);
	CU_ASSERT_PTR_NULL(ferry_queue_name_why("reports/daily"));
	CU_ASSERT_PTR_NOT_NULL(ferry_queue_name_why(""));
	CU_ASSERT(strstr(ferry_queue_name_why("a b"), "only letters") != NULL);
	CU_ASSERT(strstr(ferry_queue_name_why("a//b"), "empty") != NULL);
	CU_ASSERT(strstr(ferry_queue_name_why("a/../b"), "..") != NULL);
}

/* A raw field: tag, be32 length, value. */
static size_t
raw_field(uint8_t *p, uint8_t tag, const void *v, uint32_t len)
{
	p[0] = tag;
	ferry_put_be32(p + 1, len);
	memcpy(p + 5, v, len);
	return 5 + (size_t)len;
}

/* The fields' bit set holds every tag below FERRY_T_MAX_ (more than 64):
 * tags past the last known one are skipped, not refused, and FERRY_HAS
 * tells them apart from the known ones. */
static void
test_frame_fields_past_64(void)
{
	uint8_t body[256], eight[8] = {0, 0, 0, 0, 0, 0, 0, 42};
	struct ferry_frame f;
	struct ferry_fields fl;
	const char *why = NULL;
	size_t n = 0;

	CU_ASSERT(FERRY_T_MAX_ > 64);
	CU_ASSERT(FERRY_HAS_WORDS * 64 >= FERRY_T_MAX_);
	n += raw_field(body + n, FERRY_T_BYTES, eight, 8);
	n += raw_field(body + n, 100, "newer", 5);	    /* unused tag */
	n += raw_field(body + n, FERRY_T_MAX_ - 1, "x", 1); /* the last */
	n += raw_field(body + n, 200, "later", 5);	    /* past the table */
	n += raw_field(body + n, FERRY_T_REJECTED, eight, 8);
	n += raw_field(body + n, FERRY_T_RECEIVING, "\1", 1); /* tag 64 */
	memset(&f, 0, sizeof(f));
	f.type = FERRY_F_INFO_OK;
	f.body = body;
	f.body_len = n;
	CU_ASSERT_EQUAL(ferry_fields_parse(&f, &fl, &why), 0);
	CU_ASSERT_EQUAL(fl.bytes, 42);
	CU_ASSERT_EQUAL(fl.rejected, 42);
	CU_ASSERT(FERRY_HAS(&fl, FERRY_T_BYTES));
	CU_ASSERT(FERRY_HAS(&fl, FERRY_T_REJECTED));
	CU_ASSERT(FERRY_HAS(&fl, FERRY_T_RECEIVING));
	CU_ASSERT_EQUAL(fl.receiving, 1);
	CU_ASSERT(!FERRY_HAS(&fl, FERRY_T_RECEIVING - 64)); /* word 0 */
	CU_ASSERT(!FERRY_HAS(&fl, 100));
	CU_ASSERT(!FERRY_HAS(&fl, FERRY_T_MAX_ - 1));
	CU_ASSERT(!FERRY_HAS(&fl, 200));
	CU_ASSERT(!FERRY_HAS(&fl, FERRY_T_COUNT));
	/* A known tag twice is still refused, past 63 too. */
	f.body_len = n + raw_field(body + n, FERRY_T_RECEIVING, "\1", 1);
	CU_ASSERT_EQUAL(ferry_fields_parse(&f, &fl, &why), FERRY_EPROTO);
	n += raw_field(body + n, FERRY_T_BYTES, eight, 8);
	f.body_len = n;
	CU_ASSERT_EQUAL(ferry_fields_parse(&f, &fl, &why), FERRY_EPROTO);
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("lib_msg", NULL, NULL);

	if (s == NULL)
		abort();
	TEST_ADD(s, test_node_names);
	TEST_ADD(s, test_queue_names);
	TEST_ADD(s, test_dest_nodes);
	TEST_ADD(s, test_route_path_first);
	TEST_ADD(s, test_quote_and_why);
	TEST_ADD(s, test_msg_validate);
	TEST_ADD(s, test_id_hex_round_trip);
	TEST_ADD(s, test_id_generate_time_ordered);
	TEST_ADD(s, test_id_generate_fork_child_differs);
	TEST_ADD(s, test_strerror_names_every_code);
	TEST_ADD(s, test_frame_fields_past_64);
}

int
main(void)
{
	return test_main("test_lib_msg", add_suites);
}
