/*
 * test_window.c - CUnit tests of contact windows (policy/window.c):
 * parsing (tables of good and bad values, with the exact error text),
 * canonical text and its round trip, policy_window_state() at chosen
 * moments and against a minute-by-minute scan, in UTC and in local time
 * (Europe/Berlin) across the daylight-saving changes of 2026, and the
 * transports' helpers (policy_window_outside, policy_window_when).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy/window.h"
#include "tests/unit/testutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MIN_MS	 (60 * 1000LL)
#define HOUR_MS	 (60 * MIN_MS)
#define DAY_MS	 (24 * HOUR_MS)

#define MON (1u << 0)
#define TUE (1u << 1)
#define WED (1u << 2)
#define THU (1u << 3)
#define FRI (1u << 4)
#define SAT (1u << 5)
#define SUN (1u << 6)
#define ALL 0x7fu

/* Milliseconds since 1970 of a UTC date and time. */
static int64_t
utc_ms(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {0};

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return (int64_t)timegm(&tm) * 1000;
}

/* Parse lines[0..n) into w, failing the test on any error. */
static void
parse_set(const char *const *lines, size_t n, struct policy_window *w)
{
	char why[512];

	for (size_t i = 0; i < n; i++) {
		why[0] = '\0';
		if (policy_window_parse(lines[i], &w[i], why, sizeof(why)) !=
		    0) {
			fprintf(stderr, "\nparse '%s': %s\n", lines[i], why);
			CU_FAIL_FATAL("window line refused");
		}
	}
}

/* Wanted: inside or not, and the moment of change. */
#define CHECK(w, n, now, in, change)                                           \
	check_state(__LINE__, w, n, now, in, change)

static void
check_state(int line, const struct policy_window *w, size_t n, int64_t now,
	    int want_in, int64_t want_change)
{
	int64_t change = 0;
	int in = policy_window_state(w, n, now, &change);

	if (in != want_in || change != want_change)
		fprintf(stderr,
			"\nline %d: at %lld: got %d until %lld, wanted %d "
			"until %lld\n",
			line, (long long)now, in, (long long)change, want_in,
			(long long)want_change);
	CU_ASSERT_EQUAL(in, want_in);
	CU_ASSERT_EQUAL(change, want_change);
	CU_ASSERT(change > now);
}

/* ---------------------------------------------------------------- parsing */

struct good_case {
	const char *label;
	const char *in;
	unsigned days, start, end, utc;
	const char *canon; /* policy_window_format's text */
};

static const struct good_case good_cases[] = {
    {"weekdays", "mon-fri 08:00-09:30 UTC", MON | TUE | WED | THU | FRI, 480,
     570, 1, "mon-fri 08:00-09:30 UTC"},
    {"any case, zone left out", "MON-Fri 08:00-09:30", 0x1f, 480, 570, 1,
     "mon-fri 08:00-09:30 UTC"},
    {"daily whole day", "daily 00:00-24:00", ALL, 0, 1440, 1,
     "daily 00:00-24:00 UTC"},
    {"star, crossing midnight, local", "* 22:00-02:00 local", ALL, 1320, 120, 0,
     "daily 22:00-02:00 local"},
    {"DAILY in capitals", "DAILY 10:00-11:00 Local", ALL, 600, 660, 0,
     "daily 10:00-11:00 local"},
    {"wrapping range, end 00:00", "fri-mon 22:00-00:00", FRI | SAT | SUN | MON,
     1320, 1440, 1, "fri-mon 22:00-24:00 UTC"},
    {"list of days and ranges", "mon,wed,fri-sun 12:00-13:00 local",
     MON | WED | FRI | SAT | SUN, 720, 780, 0, "fri-mon,wed 12:00-13:00 local"},
    {"list without Monday", "wed,sat,sun 12:00-13:00", WED | SAT | SUN, 720,
     780, 1, "wed,sat-sun 12:00-13:00 UTC"},
    {"one minute over midnight", "sun 23:59-00:01 utc", SUN, 1439, 1, 1,
     "sun 23:59-00:01 UTC"},
    {"tabs and blanks", "  tue\t 07:00-08:00  \t", TUE, 420, 480, 1,
     "tue 07:00-08:00 UTC"},
    {"two days", "sat,sun 00:00-23:59", SAT | SUN, 0, 1439, 1,
     "sat-sun 00:00-23:59 UTC"},
    {"repeated day", "mon,mon 01:00-02:00", MON, 60, 120, 1,
     "mon 01:00-02:00 UTC"},
    {"long wrapping range", "thu-tue 01:00-02:00", ALL & ~WED, 60, 120, 1,
     "thu-tue 01:00-02:00 UTC"},
    {"whole week as a range", "mon-sun 05:00-06:00", ALL, 300, 360, 1,
     "daily 05:00-06:00 UTC"},
    {"whole week wrapping", "sun-sat 05:00-06:00", ALL, 300, 360, 1,
     "daily 05:00-06:00 UTC"},
    {"overlapping list", "mon-wed,tue-thu 05:00-06:00", MON | TUE | WED | THU,
     300, 360, 1, "mon-thu 05:00-06:00 UTC"},
    {"separate days", "mon,wed,fri 23:00-01:00", MON | WED | FRI, 1380, 60, 1,
     "mon,wed,fri 23:00-01:00 UTC"},
    {"whole day from 00:00 to 00:00", "sat 00:00-24:00", SAT, 0, 1440, 1,
     "sat 00:00-24:00 UTC"},
};

static void
test_parse_good_values(void)
{
	for (size_t i = 0; i < NELEM(good_cases); i++) {
		const struct good_case *c = &good_cases[i];
		struct policy_window w;
		char why[512] = "", text[POLICY_WINDOW_FORMAT_MAX];
		int rc = policy_window_parse(c->in, &w, why, sizeof(why));
		int ok = rc == 0 && w.days == c->days &&
			 w.start_min == c->start && w.end_min == c->end &&
			 w.utc == c->utc;

		if (ok)
			policy_window_format(&w, text, sizeof(text));
		ok = ok && strcmp(text, c->canon) == 0;
		if (!ok)
			fprintf(stderr,
				"\ngood case '%s': rc %d why '%s' days %#x "
				"%u-%u utc %u text '%s'\n",
				c->label, rc, why, w.days, w.start_min,
				w.end_min, w.utc, rc == 0 ? text : "");
		CU_ASSERT(ok);
	}
}

struct bad_case {
	const char *label;
	const char *in;
	const char *why; /* the whole error text */
};

#define SYNTAX                                                                 \
	"write DAYS HH:MM-HH:MM [UTC|local], e.g. mon-fri 08:00-17:00 UTC"

static const struct bad_case bad_cases[] = {
    {"empty", "", "window \"\": empty (" SYNTAX ")"},
    {"blanks only", " \t ", "window \"\": empty (" SYNTAX ")"},
    {"typo in a day", "mon-fro 08:00-09:30",
     "window \"mon-fro 08:00-09:30\": unknown day \"fro\" (use mon..sun, "
     "daily)"},
    {"full day name", "monday 08:00-09:00",
     "window \"monday 08:00-09:00\": unknown day \"monday\" (use mon..sun, "
     "daily)"},
    {"two commas", "mon,,fri 08:00-09:00",
     "window \"mon,,fri 08:00-09:00\": empty day in \"mon,,fri\" (separate "
     "days and ranges with one comma, e.g. mon,wed,fri-sun)"},
    {"trailing comma", "mon, 08:00-09:00",
     "window \"mon, 08:00-09:00\": empty day in \"mon,\" (separate days and "
     "ranges with one comma, e.g. mon,wed,fri-sun)"},
    {"blank after a comma", "mon, tue 08:00-09:00",
     "window \"mon, tue 08:00-09:00\": empty day in \"mon,\" (separate days "
     "and ranges with one comma, e.g. mon,wed,fri-sun)"},
    {"range of three", "mon-wed-fri 08:00-09:00",
     "window \"mon-wed-fri 08:00-09:00\": range \"mon-wed-fri\" has more "
     "than one \"-\" (write FIRST-LAST, e.g. mon-fri)"},
    {"range without end", "mon- 08:00-09:00",
     "window \"mon- 08:00-09:00\": incomplete range \"mon-\" (write "
     "FIRST-LAST, e.g. mon-fri)"},
    {"range of one day", "wed-wed 08:00-09:00",
     "window \"wed-wed 08:00-09:00\": range \"wed-wed\" starts and ends on "
     "the same day (write wed for that day, daily for every day)"},
    {"daily in a list", "mon,daily 08:00-09:00",
     "window \"mon,daily 08:00-09:00\": \"daily\" inside a list of days "
     "(write it alone for every day, or list the days)"},
    {"days only", "mon-fri",
     "window \"mon-fri\": no times after \"mon-fri\" (" SYNTAX ")"},
    {"times only", "08:00-09:00",
     "window \"08:00-09:00\": no days before \"08:00-09:00\" (" SYNTAX
     "; daily for every day)"},
    {"times before days", "08:00-09:00 mon",
     "window \"08:00-09:00 mon\": unknown day \"08:00\" (use mon..sun, "
     "daily)"},
    {"one digit hour", "mon 8:00-09:00",
     "window \"mon 8:00-09:00\": bad time \"8:00\" (write HH:MM with two "
     "digits each, e.g. 08:00)"},
    {"h instead of colon", "mon 08h00-09:00",
     "window \"mon 08h00-09:00\": bad time \"08h00\" (write HH:MM with two "
     "digits each, e.g. 08:00)"},
    {"no end", "mon 08:00",
     "window \"mon 08:00\": no end time in \"08:00\" (write START-END, e.g. "
     "08:00-17:00)"},
    {"blanks around the dash", "mon 08:00 - 09:00",
     "window \"mon 08:00 - 09:00\": no end time in \"08:00\" (write "
     "START-END, e.g. 08:00-17:00)"},
    {"two ranges of times", "mon 08:00-09:00-10:00",
     "window \"mon 08:00-09:00-10:00\": more than one \"-\" in "
     "\"08:00-09:00-10:00\" (write START-END, e.g. 08:00-17:00; one window "
     "per line)"},
    {"hour 25", "mon 25:00-26:00",
     "window \"mon 25:00-26:00\": bad time \"25:00\" (hours 00..23, minutes "
     "00..59; an end may be 24:00)"},
    {"minute 60", "mon 08:60-09:00",
     "window \"mon 08:60-09:00\": bad time \"08:60\" (hours 00..23, minutes "
     "00..59; an end may be 24:00)"},
    {"end after 24:00", "mon 10:00-24:30",
     "window \"mon 10:00-24:30\": bad time \"24:30\" (hours 00..23, minutes "
     "00..59; an end may be 24:00)"},
    {"start at 24:00", "mon 24:00-01:00",
     "window \"mon 24:00-01:00\": a window cannot start at 24:00 (write "
     "00:00 and the next day)"},
    {"start equals end", "mon 08:00-08:00",
     "window \"mon 08:00-08:00\": empty window \"08:00-08:00\": it starts "
     "and ends at the same time (00:00-24:00 is the whole day)"},
    {"midnight to midnight", "daily 00:00-00:00",
     "window \"daily 00:00-00:00\": empty window \"00:00-00:00\": it starts "
     "and ends at the same time (00:00-24:00 is the whole day)"},
    {"unknown zone", "mon 08:00-09:00 CET",
     "window \"mon 08:00-09:00 CET\": unknown zone \"CET\" (write UTC or "
     "local; local is the agent's TZ)"},
    {"word after the zone", "mon 08:00-09:00 UTC extra",
     "window \"mon 08:00-09:00 UTC extra\": unexpected \"extra\" after the "
     "zone (" SYNTAX ")"},
    {"newline", "mon 08:00-09:00\n",
     "window \"mon 08:00-09:00?\": byte 0x0a at offset 15 is not printable "
     "ASCII (write plain text)"},
    {"UTF-8", "mon\xc3\xa9 08:00-09:00",
     "window \"mon?? 08:00-09:00\": byte 0xc3 at offset 3 is not printable "
     "ASCII (write plain text)"},
    {"null", NULL, "window \"\": empty (" SYNTAX ")"},
};

static void
test_parse_bad_values(void)
{
	for (size_t i = 0; i < NELEM(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct policy_window w = {
		    .days = 0x55, .start_min = 7, .end_min = 9, .utc = 1};
		char why[512] = "";
		int rc = policy_window_parse(c->in, &w, why, sizeof(why));
		/* w is left alone; why is one line */
		int ok = rc == FERRY_EINVAL && strcmp(why, c->why) == 0 &&
			 strchr(why, '\n') == NULL && w.days == 0x55 &&
			 w.start_min == 7 && w.end_min == 9 && w.utc == 1;

		if (!ok)
			fprintf(stderr,
				"\nbad case '%s': rc %d\n  got    '%s'\n  "
				"wanted '%s'\n",
				c->label, rc, why, c->why);
		CU_ASSERT(ok);
	}
}

static void
test_parse_length_limit(void)
{
	char in[POLICY_WINDOW_INPUT_MAX + 2], why[512] = "";
	struct policy_window w;

	/* 255 bytes: taken (the rest are trailing blanks) */
	memset(in, ' ', sizeof(in));
	memcpy(in, "mon 08:00-09:00", 15);
	in[POLICY_WINDOW_INPUT_MAX] = '\0';
	CU_ASSERT_EQUAL(policy_window_parse(in, &w, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(w.days, MON);
	/* 256 bytes: refused, quoted by its beginning */
	memset(in, 'x', sizeof(in));
	memcpy(in, "mon 08:00-09:00 ", 16);
	in[POLICY_WINDOW_INPUT_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(policy_window_parse(in, &w, why, sizeof(why)),
			FERRY_EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "window \"mon 08:00-09:00 "
				    "xxxxxxxxxxxxxxxxxxxxx...\": longer than "
				    "255 bytes (one window per line, e.g. "
				    "mon-fri 08:00-17:00 UTC)");
}

static void
test_parse_small_or_no_why(void)
{
	struct policy_window w;
	char why[12];

	memset(why, 'z', sizeof(why));
	CU_ASSERT_EQUAL(policy_window_parse("mon 8-9", &w, why, sizeof(why)),
			FERRY_EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "window \"mon");
	CU_ASSERT_EQUAL(policy_window_parse("mon 8-9", &w, NULL, 0),
			FERRY_EINVAL);
	CU_ASSERT_EQUAL(policy_window_parse("mon 08:00-09:00", NULL, NULL, 0),
			FERRY_EINVAL);
}

/* Field by field: memcmp would compare the padding too. */
static int
same_window(const struct policy_window *a, const struct policy_window *b)
{
	return a->days == b->days && a->start_min == b->start_min &&
	       a->end_min == b->end_min && a->utc == b->utc;
}

/* Every set of days, a few times, both zones: format, parse, same window. */
static void
test_format_round_trip(void)
{
	static const unsigned times[][2] = {
	    {0, 1440}, {0, 1},	     {480, 570}, {1320, 120},
	    {1439, 1}, {1439, 1440}, {1, 1440},	 {720, 1440},
	};

	for (unsigned days = 1; days <= ALL; days++)
		for (size_t t = 0; t < NELEM(times); t++)
			for (unsigned utc = 0; utc <= 1; utc++) {
				struct policy_window w = {
				    .days = (uint8_t)days,
				    .start_min = (uint16_t)times[t][0],
				    .end_min = (uint16_t)times[t][1],
				    .utc = (uint8_t)utc};
				struct policy_window back;
				char text[POLICY_WINDOW_FORMAT_MAX], why[512];
				char again[POLICY_WINDOW_FORMAT_MAX];
				int ok;

				policy_window_format(&w, text, sizeof(text));
				ok = policy_window_parse(text, &back, why,
							 sizeof(why)) == 0 &&
				     same_window(&w, &back);
				ok = ok &&
				     strcmp(policy_window_format(&back, again,
								 sizeof(again)),
					    text) == 0;
				if (!ok)
					fprintf(stderr,
						"\nround trip of '%s' failed\n",
						text);
				CU_ASSERT(ok);
			}
}

static void
test_format_small_buffer(void)
{
	struct policy_window w = {.days = ALL, .start_min = 0, .end_min = 60};
	char out[8];

	CU_ASSERT_PTR_EQUAL(policy_window_format(&w, out, sizeof(out)), out);
	CU_ASSERT_STRING_EQUAL(out, "daily 0");
	CU_ASSERT_PTR_NULL(policy_window_format(&w, NULL, 10));
	CU_ASSERT_PTR_EQUAL(policy_window_format(NULL, out, sizeof(out)), out);
	CU_ASSERT_STRING_EQUAL(out, "");
}

/* -------------------------------------------------------- state, in UTC */

/* 2026-03-02 is a Monday. */
#define MON0(h, mi) utc_ms(2026, 3, 2, h, mi)

static void
test_state_no_windows(void)
{
	struct policy_window w;
	int64_t change = 0;

	CU_ASSERT_EQUAL(policy_window_state(NULL, 0, MON0(12, 0), &change), 1);
	CU_ASSERT_EQUAL(change, INT64_MAX);
	parse_set((const char *const[]){"mon 08:00-09:00"}, 1, &w);
	CHECK(&w, 0, MON0(8, 30), 1, INT64_MAX);
	CU_ASSERT_EQUAL(policy_window_state(&w, 1, MON0(8, 30), NULL), 1);
	CU_ASSERT_EQUAL(policy_window_state(&w, 1, MON0(9, 30), NULL), 0);
}

static void
test_state_start_inside_end_outside(void)
{
	struct policy_window w;

	parse_set((const char *const[]){"mon-fri 08:00-09:30 UTC"}, 1, &w);
	CHECK(&w, 1, MON0(8, 0) - 1, 0, MON0(8, 0));
	CHECK(&w, 1, MON0(8, 0), 1, MON0(9, 30));
	CHECK(&w, 1, MON0(9, 30) - 1, 1, MON0(9, 30));
	CHECK(&w, 1, MON0(9, 30), 0, MON0(8, 0) + DAY_MS);
	CHECK(&w, 1, MON0(0, 0), 0, MON0(8, 0));
	/* Friday after the window, Saturday, Sunday: next Monday */
	CHECK(&w, 1, MON0(9, 30) + 4 * DAY_MS, 0, MON0(8, 0) + 7 * DAY_MS);
	CHECK(&w, 1, MON0(12, 0) + 5 * DAY_MS, 0, MON0(8, 0) + 7 * DAY_MS);
	CHECK(&w, 1, MON0(23, 59) + 6 * DAY_MS, 0, MON0(8, 0) + 7 * DAY_MS);
}

static void
test_state_crossing_midnight(void)
{
	struct policy_window w;
	int64_t fri = MON0(0, 0) + 4 * DAY_MS;

	parse_set((const char *const[]){"fri 22:00-02:00"}, 1, &w);
	CHECK(&w, 1, fri - HOUR_MS, 0, fri + 22 * HOUR_MS);
	CHECK(&w, 1, fri + 22 * HOUR_MS, 1, fri + 26 * HOUR_MS);
	CHECK(&w, 1, fri + 23 * HOUR_MS, 1, fri + 26 * HOUR_MS);
	CHECK(&w, 1, fri + DAY_MS, 1, fri + 26 * HOUR_MS);
	CHECK(&w, 1, fri + 25 * HOUR_MS, 1, fri + 26 * HOUR_MS);
	CHECK(&w, 1, fri + 26 * HOUR_MS, 0, fri + 7 * DAY_MS + 22 * HOUR_MS);
	/* a window ending at 24:00 ends at the next midnight */
	parse_set((const char *const[]){"fri 22:00-24:00"}, 1, &w);
	CHECK(&w, 1, fri + 23 * HOUR_MS, 1, fri + DAY_MS);
	CHECK(&w, 1, fri + DAY_MS, 0, fri + 7 * DAY_MS + 22 * HOUR_MS);
}

static void
test_state_week_wrap(void)
{
	struct policy_window w;
	int64_t sun = MON0(0, 0) + 6 * DAY_MS,
		next_mon = MON0(0, 0) + 7 * DAY_MS;

	/* Sunday night into Monday */
	parse_set((const char *const[]){"sun 22:00-02:00"}, 1, &w);
	CHECK(&w, 1, sun + 23 * HOUR_MS + 30 * MIN_MS, 1,
	      next_mon + 2 * HOUR_MS);
	CHECK(&w, 1, next_mon + HOUR_MS, 1, next_mon + 2 * HOUR_MS);
	CHECK(&w, 1, next_mon + 3 * HOUR_MS, 0,
	      sun + 7 * DAY_MS + 22 * HOUR_MS);
	/* on Monday the week's window is six days away */
	CHECK(&w, 1, MON0(3, 0), 0, sun + 22 * HOUR_MS);
	/* a range that wraps: sat-mon */
	parse_set((const char *const[]){"sat-mon 10:00-11:00"}, 1, &w);
	CHECK(&w, 1, sun + 12 * HOUR_MS, 0, next_mon + 10 * HOUR_MS);
	CHECK(&w, 1, next_mon + 11 * HOUR_MS, 0,
	      next_mon + 5 * DAY_MS + 10 * HOUR_MS);
	CHECK(&w, 1, MON0(10, 30), 1, MON0(11, 0));
	/* Sunday late, Monday's window */
	parse_set((const char *const[]){"mon 00:00-01:00"}, 1, &w);
	CHECK(&w, 1, sun + 23 * HOUR_MS + 59 * MIN_MS, 0, next_mon);
	CHECK(&w, 1, next_mon, 1, next_mon + HOUR_MS);
}

static void
test_state_overlapping_windows_merge(void)
{
	struct policy_window w[5];
	static const char *const lines[] = {
	    "mon 08:00-10:00", "mon 09:00-12:00", "mon 12:00-13:00",
	    "mon 14:00-15:00", "mon 14:10-14:20"};

	parse_set(lines, NELEM(lines), w);
	CHECK(w, 5, MON0(7, 0), 0, MON0(8, 0));
	CHECK(w, 5, MON0(8, 30), 1, MON0(13, 0)); /* overlap, then touch */
	CHECK(w, 5, MON0(9, 30), 1, MON0(13, 0));
	CHECK(w, 5, MON0(12, 0), 1, MON0(13, 0));
	CHECK(w, 5, MON0(13, 0), 0, MON0(14, 0));
	CHECK(w, 5, MON0(14, 15), 1, MON0(15, 0)); /* one inside another */
	/* order of the lines does not matter */
	{
		struct policy_window r[5];

		for (size_t i = 0; i < 5; i++)
			r[i] = w[4 - i];
		CHECK(r, 5, MON0(8, 30), 1, MON0(13, 0));
	}
	/* chained over midnight, day after day */
	parse_set(
	    (const char *const[]){"daily 22:00-24:00", "daily 00:00-06:00"}, 2,
	    w);
	CHECK(w, 2, MON0(23, 0), 1, MON0(6, 0) + DAY_MS);
	CHECK(w, 2, MON0(6, 0), 0, MON0(22, 0));
}

static void
test_state_always_inside(void)
{
	struct policy_window w[2];

	parse_set((const char *const[]){"daily 00:00-24:00"}, 1, w);
	CHECK(w, 1, MON0(12, 0), 1, INT64_MAX);
	parse_set(
	    (const char *const[]){"mon-fri 00:00-24:00", "sat-sun 00:00-24:00"},
	    2, w);
	CHECK(w, 2, MON0(12, 0), 1, INT64_MAX);
	parse_set(
	    (const char *const[]){"daily 06:00-05:00", "daily 05:00-06:00"}, 2,
	    w);
	CHECK(w, 2, MON0(5, 30), 1, INT64_MAX);
	/* all but one minute a week: inside until that minute */
	parse_set((const char *const[]){"daily 00:00-24:00"}, 1, w);
	w[0].days = ALL & ~THU;
	parse_set((const char *const[]){"thu 00:01-24:00"}, 1, w + 1);
	CHECK(w, 2, MON0(12, 0), 1, MON0(0, 0) + 3 * DAY_MS);
}

static void
test_state_odd_windows(void)
{
	/* hand-built windows the parser never makes are ignored */
	struct policy_window w[3] = {
	    {.days = 0, .start_min = 60, .end_min = 120, .utc = 1},
	    {.days = MON, .start_min = 1440, .end_min = 60, .utc = 1},
	    {.days = MON, .start_min = 60, .end_min = 60, .utc = 1},
	};

	CHECK(w, 3, MON0(1, 30), 0, INT64_MAX);
	/* moments outside years 1..9999: as if there were no windows */
	CHECK(w, 3, INT64_MIN, 1, INT64_MAX);
	CHECK(w, 3, INT64_MAX - 1, 1, INT64_MAX);
	/* before 1970 works (1969-12-29 was a Monday) */
	w[0].days = MON;
	CHECK(w, 1, utc_ms(1969, 12, 29, 0, 30), 0, utc_ms(1969, 12, 29, 1, 0));
}

/* ------------------------------------------- state against a minute scan */

/* Is moment t inside w, from the wall clock of each window (naive). */
static int
ref_inside(const struct policy_window *w, size_t n, int64_t t)
{
	int64_t off = 0;
	time_t tt = (time_t)(t / 1000);
	struct tm tm;

	for (size_t i = 0; i < n; i++)
		if (!w[i].utc) {
			if (localtime_r(&tt, &tm) == NULL)
				abort();
			off = tm.tm_gmtoff;
			break;
		}
	for (size_t i = 0; i < n; i++) {
		int64_t wall_min, day;

		wall_min = (t / 1000 + (w[i].utc ? 0 : off)) / 60;
		day = wall_min / 1440;
		for (int64_t d = day - 1; d <= day; d++) {
			int wd = (int)((d + 3) % 7);
			int64_t a = d * 1440 + w[i].start_min;
			int64_t b =
			    (w[i].end_min > w[i].start_min ? d : d + 1) * 1440 +
			    w[i].end_min;

			if ((w[i].days & (1u << wd)) != 0 && a <= wall_min &&
			    wall_min < b)
				return 1;
		}
	}
	return 0;
}

/*
 * policy_window_state at t agrees with the scan: same answer, and the
 * first whole minute after t at which the answer flips is the change.
 */
static int
agrees_with_scan(const struct policy_window *w, size_t n, int64_t t,
		 int64_t limit_ms)
{
	int64_t change = 0, m;
	int in = policy_window_state(w, n, t, &change);
	int want = ref_inside(w, n, t);

	if (in != want || change <= t)
		return 0;
	for (m = (t / MIN_MS + 1) * MIN_MS; m - t <= limit_ms; m += MIN_MS)
		if (ref_inside(w, n, m) != want)
			break;
	if (m - t > limit_ms)
		return change == INT64_MAX || change - t > limit_ms;
	return change == m;
}

static uint32_t rng = 12345;

static uint32_t
next_rand(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 8;
}

/* A random valid window; zone as given. */
static void
rand_window(struct policy_window *w, int utc)
{
	w->days = (uint8_t)(next_rand() % ALL + 1);
	w->start_min = (uint16_t)(next_rand() % 24 * 60 + next_rand() % 4 * 15);
	do
		w->end_min = (uint16_t)(next_rand() % 24 * 60 +
					next_rand() % 4 * 15 + 15);
	while (w->end_min == w->start_min || w->end_min > 1440);
	w->utc = (uint8_t)utc;
}

static void
test_state_matches_minute_scan_utc(void)
{
	int64_t base = MON0(0, 0);

	for (int set = 0; set < 60; set++) {
		struct policy_window w[4];
		size_t n = 1 + next_rand() % 4;

		for (size_t i = 0; i < n; i++)
			rand_window(&w[i], 1);
		for (int k = 0; k < 40; k++) {
			int64_t t =
			    base +
			    (int64_t)(next_rand() % (14 * 1440)) * MIN_MS;

			/* on the minute, and just after it */
			if (k % 2 == 1)
				t += 1 + next_rand() % 59999;
			if (!agrees_with_scan(w, n, t, 15 * DAY_MS)) {
				char text[POLICY_WINDOW_FORMAT_MAX];

				fprintf(stderr,
					"\nat %lld disagree:", (long long)t);
				for (size_t i = 0; i < n; i++)
					fprintf(stderr, " [%s]",
						policy_window_format(
						    &w[i], text, sizeof(text)));
				fprintf(stderr, "\n");
				CU_FAIL("state differs from the minute scan");
				return;
			}
		}
	}
}

/* ------------------------------------------------- state, in local time */

static char *saved_tz;

/*
 * TZ = Europe/Berlin; where tzdata is missing, the POSIX rule that has
 * been Berlin's since 1996 (the same moments in 2026).
 */
static int
setup_berlin(void)
{
	const char *tz = getenv("TZ");

	saved_tz = tz != NULL ? strdup(tz) : NULL;
	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) == 0)
		setenv("TZ", "Europe/Berlin", 1);
	else
		setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	return 0;
}

static int
teardown_berlin(void)
{
	if (saved_tz != NULL)
		setenv("TZ", saved_tz, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved_tz);
	saved_tz = NULL;
	return 0;
}

static long
offset_at(int64_t t_ms)
{
	time_t t = (time_t)(t_ms / 1000);
	struct tm tm;

	CU_ASSERT_FATAL(localtime_r(&t, &tm) != NULL);
	return tm.tm_gmtoff;
}

static void
test_local_zone_is_berlin(void)
{
	/* clocks go forward 2026-03-29 01:00 UTC, back 2026-10-25 01:00 UTC */
	CU_ASSERT_FATAL(offset_at(utc_ms(2026, 3, 29, 0, 59)) == 3600);
	CU_ASSERT_FATAL(offset_at(utc_ms(2026, 3, 29, 1, 0)) == 7200);
	CU_ASSERT_FATAL(offset_at(utc_ms(2026, 10, 25, 0, 59)) == 7200);
	CU_ASSERT_FATAL(offset_at(utc_ms(2026, 10, 25, 1, 0)) == 3600);
}

static void
test_local_dst_spring(void)
{
	struct policy_window w[2];

	/* 08:00 local: 07:00 UTC on Saturday, 06:00 UTC on Sunday */
	parse_set((const char *const[]){"daily 08:00-09:00 local"}, 1, w);
	CHECK(w, 1, utc_ms(2026, 3, 28, 7, 30), 1, utc_ms(2026, 3, 28, 8, 0));
	CHECK(w, 1, utc_ms(2026, 3, 28, 8, 0), 0, utc_ms(2026, 3, 29, 6, 0));
	CHECK(w, 1, utc_ms(2026, 3, 29, 6, 0), 1, utc_ms(2026, 3, 29, 7, 0));
	/* a night window loses the skipped hour */
	parse_set((const char *const[]){"sat 22:00-04:00 local"}, 1, w);
	CHECK(w, 1, utc_ms(2026, 3, 28, 21, 0), 1, utc_ms(2026, 3, 29, 2, 0));
	CHECK(w, 1, utc_ms(2026, 3, 29, 0, 59), 1, utc_ms(2026, 3, 29, 2, 0));
	CHECK(w, 1, utc_ms(2026, 3, 29, 2, 0), 0, utc_ms(2026, 4, 4, 20, 0));
	/* a weekly window, asked about from the week before */
	parse_set((const char *const[]){"sun 12:00-13:00 local"}, 1, w);
	CHECK(w, 1, utc_ms(2026, 3, 25, 12, 0), 0, utc_ms(2026, 3, 29, 10, 0));
	/* Sunday late local time, Monday's window at local midnight */
	parse_set((const char *const[]){"mon 00:00-01:00 local"}, 1, w);
	CHECK(w, 1, utc_ms(2026, 3, 29, 21, 30), 0, utc_ms(2026, 3, 29, 22, 0));
	/* always inside stays always inside */
	parse_set((const char *const[]){"daily 00:00-24:00 local"}, 1, w);
	CHECK(w, 1, utc_ms(2026, 3, 28, 12, 0), 1, INT64_MAX);
	/* UTC and local windows chain: local 12:00 is 11:00 UTC in winter */
	parse_set((const char *const[]){"daily 00:00-12:00 UTC",
					"daily 12:00-24:00 local"},
		  2, w);
	CHECK(w, 2, utc_ms(2026, 3, 2, 10, 0), 1, utc_ms(2026, 3, 2, 23, 0));
	CHECK(w, 2, utc_ms(2026, 3, 2, 23, 0), 0, utc_ms(2026, 3, 3, 0, 0));
	/* in summer: 10:00 UTC; the gap is 22:00-24:00 UTC */
	CHECK(w, 2, utc_ms(2026, 3, 30, 10, 0), 1, utc_ms(2026, 3, 30, 22, 0));
}

static void
test_local_skipped_hour(void)
{
	struct policy_window w;

	/* 02:00-03:00 does not happen on 2026-03-29: next one a week on */
	parse_set((const char *const[]){"sun 02:00-03:00 local"}, 1, &w);
	CHECK(&w, 1, utc_ms(2026, 3, 28, 12, 0), 0, utc_ms(2026, 4, 5, 0, 0));
	CHECK(&w, 1, utc_ms(2026, 3, 29, 1, 0), 0, utc_ms(2026, 4, 5, 0, 0));
	/* 02:30 is skipped: the window opens at the jump, 03:00 CEST */
	parse_set((const char *const[]){"daily 02:30-04:00 local"}, 1, &w);
	CHECK(&w, 1, utc_ms(2026, 3, 29, 1, 0) - 1, 0,
	      utc_ms(2026, 3, 29, 1, 0));
	CHECK(&w, 1, utc_ms(2026, 3, 29, 1, 0), 1, utc_ms(2026, 3, 29, 2, 0));
	/* an end in the skipped hour is the jump too */
	parse_set((const char *const[]){"sun 01:00-02:30 local"}, 1, &w);
	CHECK(&w, 1, utc_ms(2026, 3, 29, 0, 0), 1, utc_ms(2026, 3, 29, 1, 0));
}

static void
test_local_dst_autumn(void)
{
	struct policy_window w;

	/* 2026-10-25: 03:00 CEST (01:00 UTC) becomes 02:00 CET */
	parse_set((const char *const[]){"daily 08:00-09:00 local"}, 1, &w);
	CHECK(&w, 1, utc_ms(2026, 10, 24, 7, 0), 0, utc_ms(2026, 10, 25, 7, 0));
	/* a start in the repeated hour: its first time (CEST) */
	parse_set((const char *const[]){"sun 02:30-03:00 local"}, 1, &w);
	CHECK(&w, 1, utc_ms(2026, 10, 24, 12, 0), 0,
	      utc_ms(2026, 10, 25, 0, 30));
	/* the end is when the clock first shows 03:00: 03:00 CET */
	CHECK(&w, 1, utc_ms(2026, 10, 25, 0, 30), 1,
	      utc_ms(2026, 10, 25, 2, 0));
	CHECK(&w, 1, utc_ms(2026, 10, 25, 1, 15), 1,
	      utc_ms(2026, 10, 25, 2, 0));
	/* an end in the repeated hour: its first time too */
	parse_set((const char *const[]){"sun 01:00-02:30 local"}, 1, &w);
	CHECK(&w, 1, utc_ms(2026, 10, 24, 23, 0), 1,
	      utc_ms(2026, 10, 25, 0, 30));
	CHECK(&w, 1, utc_ms(2026, 10, 25, 1, 15), 0,
	      utc_ms(2026, 10, 31, 23, 0) + HOUR_MS);
}

static void
test_local_matches_minute_scan(void)
{
	/* 2026-03-27 .. 03-31, over the change; fixed and random windows */
	static const char *const fixed[] = {
	    "daily 02:30-04:00 local", "sat-sun 22:00-03:00 local",
	    "sun 01:00-02:30 local",   "mon 00:00-01:00 local",
	    "daily 01:59-02:01 local", "fri-mon 23:00-01:30 UTC",
	};
	int64_t from = utc_ms(2026, 3, 27, 0, 0);

	for (int set = 0; set < 14; set++) {
		struct policy_window w[3];
		size_t n;

		if (set < (int)NELEM(fixed)) {
			n = 1;
			parse_set(&fixed[set], 1, w);
		} else {
			n = 1 + next_rand() % 3;
			for (size_t i = 0; i < n; i++)
				rand_window(&w[i],
					    next_rand() % 3 != 0 ? 0 : 1);
		}
		for (int64_t t = from; t < from + 4 * DAY_MS;
		     t += 47 * MIN_MS) {
			if (!agrees_with_scan(w, n, t, 8 * DAY_MS)) {
				char text[POLICY_WINDOW_FORMAT_MAX];

				fprintf(stderr,
					"\nat %lld disagree:", (long long)t);
				for (size_t i = 0; i < n; i++)
					fprintf(stderr, " [%s]",
						policy_window_format(
						    &w[i], text, sizeof(text)));
				fprintf(stderr, "\n");
				CU_FAIL("state differs from the minute scan");
				return;
			}
		}
	}
}

static void
test_utc_windows_ignore_tz(void)
{
	struct policy_window w;

	parse_set((const char *const[]){"mon-fri 08:00-09:30 UTC"}, 1, &w);
	CHECK(&w, 1, utc_ms(2026, 3, 30, 8, 0), 1, utc_ms(2026, 3, 30, 9, 30));
	CHECK(&w, 1, utc_ms(2026, 3, 28, 8, 0), 0, utc_ms(2026, 3, 30, 8, 0));
}

static void
test_local_follows_tz_changes(void)
{
	struct policy_window w;

	/* a TZ set after the last tzset() counts: policy_window_state reads it
	 */
	parse_set((const char *const[]){"daily 08:00-09:00 local"}, 1, &w);
	CHECK(&w, 1, utc_ms(2026, 3, 2, 12, 0), 0, utc_ms(2026, 3, 3, 7, 0));
	setenv("TZ", "UTC0", 1);
	CHECK(&w, 1, utc_ms(2026, 3, 2, 12, 0), 0, utc_ms(2026, 3, 3, 8, 0));
	teardown_berlin();
	setup_berlin();
	CHECK(&w, 1, utc_ms(2026, 3, 2, 12, 0), 0, utc_ms(2026, 3, 3, 7, 0));
}

/* The transports' question: the state a peer keeps, and the one log
 * line per new opening. */
static void
test_outside_keeps_state_and_says_when_once(void)
{
	struct policy_window w;
	int64_t open_ms = 0;
	char at[POLICY_WINDOW_WHEN_MAX];

	parse_set((const char *const[]){"mon-fri 08:00-09:30 UTC"}, 1, &w);
	/* no windows: inside, and the state says so */
	open_ms = 42;
	CU_ASSERT_EQUAL(
	    policy_window_outside(&w, 0, MON0(12, 0), &open_ms, at, sizeof(at)),
	    0);
	CU_ASSERT_EQUAL(open_ms, 0);
	CU_ASSERT_STRING_EQUAL(at, "");
	/* the first look outside: the opening, and its text */
	CU_ASSERT_EQUAL(
	    policy_window_outside(&w, 1, MON0(7, 0), &open_ms, at, sizeof(at)),
	    1);
	CU_ASSERT_EQUAL(open_ms, MON0(8, 0));
	CU_ASSERT_STRING_EQUAL(at, "2026-03-02 08:00:00 UTC");
	/* the same opening again: nothing new to say */
	CU_ASSERT_EQUAL(
	    policy_window_outside(&w, 1, MON0(7, 30), &open_ms, at, sizeof(at)),
	    1);
	CU_ASSERT_EQUAL(open_ms, MON0(8, 0));
	CU_ASSERT_STRING_EQUAL(at, "");
	/* inside: 0 again */
	CU_ASSERT_EQUAL(
	    policy_window_outside(&w, 1, MON0(8, 0), &open_ms, at, sizeof(at)),
	    0);
	CU_ASSERT_EQUAL(open_ms, 0);
	CU_ASSERT_STRING_EQUAL(at, "");
	/* after it: the next day's, said once; at may be NULL */
	CU_ASSERT_EQUAL(
	    policy_window_outside(&w, 1, MON0(9, 30), &open_ms, at, sizeof(at)),
	    1);
	CU_ASSERT_EQUAL(open_ms, MON0(8, 0) + DAY_MS);
	CU_ASSERT_STRING_EQUAL(at, "2026-03-03 08:00:00 UTC");
	open_ms = 0;
	CU_ASSERT_EQUAL(
	    policy_window_outside(&w, 1, MON0(9, 30), &open_ms, NULL, 0), 1);
	CU_ASSERT_EQUAL(open_ms, MON0(8, 0) + DAY_MS);
}

static void
test_when_text(void)
{
	char out[POLICY_WINDOW_WHEN_MAX], small[8];

	CU_ASSERT_STRING_EQUAL(
	    policy_window_when(MON0(8, 0) + 5999, out, sizeof(out)),
	    "2026-03-02 08:00:05 UTC");
	CU_ASSERT_STRING_EQUAL(policy_window_when(0, out, sizeof(out)), "?");
	CU_ASSERT_STRING_EQUAL(policy_window_when(-1000, out, sizeof(out)),
			       "?");
	CU_ASSERT_STRING_EQUAL(
	    policy_window_when(MON0(8, 0), small, sizeof(small)), "?");
	CU_ASSERT_PTR_NULL(policy_window_when(MON0(8, 0), NULL, 0));
}

static void
add_suites(void)
{
	CU_pSuite s = CU_add_suite("window", NULL, NULL);
	CU_pSuite l =
	    CU_add_suite("window_local", setup_berlin, teardown_berlin);

	if (s == NULL || l == NULL)
		abort();
	TEST_ADD(s, test_parse_good_values);
	TEST_ADD(s, test_parse_bad_values);
	TEST_ADD(s, test_parse_length_limit);
	TEST_ADD(s, test_parse_small_or_no_why);
	TEST_ADD(s, test_format_round_trip);
	TEST_ADD(s, test_format_small_buffer);
	TEST_ADD(s, test_state_no_windows);
	TEST_ADD(s, test_state_start_inside_end_outside);
	TEST_ADD(s, test_state_crossing_midnight);
	TEST_ADD(s, test_state_week_wrap);
	TEST_ADD(s, test_state_overlapping_windows_merge);
	TEST_ADD(s, test_state_always_inside);
	TEST_ADD(s, test_state_odd_windows);
	TEST_ADD(s, test_state_matches_minute_scan_utc);
	TEST_ADD(s, test_outside_keeps_state_and_says_when_once);
	TEST_ADD(s, test_when_text);
	TEST_ADD(l, test_local_zone_is_berlin);
	TEST_ADD(l, test_local_dst_spring);
	TEST_ADD(l, test_local_skipped_hour);
	TEST_ADD(l, test_local_dst_autumn);
	TEST_ADD(l, test_local_matches_minute_scan);
	TEST_ADD(l, test_utc_windows_ignore_tz);
	TEST_ADD(l, test_local_follows_tz_changes);
}

int
main(void)
{
	return test_main("test_window", add_suites);
}
