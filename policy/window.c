/*
 * window.c - contact windows: parsing one `window =` value, formatting it
 * back, and deciding whether a moment lies inside a set of windows.
 *
 * Grammar of a value (blanks are spaces or tabs, day names and the zone
 * in any case):
 *
 *   window = DAYS BLANKS TIMES [BLANKS ZONE]
 *   DAYS   = "daily" | "*" | ITEM *("," ITEM)
 *   ITEM   = DAY | DAY "-" DAY         ; a range may wrap: fri-mon
 *   DAY    = "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun"
 *   TIMES  = HH ":" MM "-" HH ":" MM   ; start 00:00..23:59, end ..24:00
 *   ZONE   = "UTC" | "local"           ; default UTC
 *
 * Strict like units.c: a value that is almost right is refused with the
 * reason and what to write instead, never guessed at.  Nothing here
 * allocates; the state computation reads the clock rules (localtime_r)
 * and nothing else.  The transports' question (policy_window_outside)
 * and the text of a moment (policy_window_when) are here too, so that
 * TCP, HTTP and `ferry why` say the same thing the same way.
 *
 * Moments are counted in a "wall clock" timeline too: seconds since
 * 1970-01-01 00:00 as if the clock never changed offset.  A UTC window's
 * wall clock is UTC itself; a local window's wall times are mapped to
 * moments by window_local_moment().
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "policy/window.h"

#define WINDOW_SYNTAX                                                          \
	"write DAYS HH:MM-HH:MM [UTC|local], e.g. mon-fri 08:00-17:00 UTC"
#define WINDOW_ALL_DAYS 0x7fu
#define WINDOW_DAY_MIN	1440
#define WINDOW_DAY_S	86400LL

/*
 * policy_window_state() looks this far ahead.  A run of windows that
 * covers more than two weeks without a break covers every moment: a wall
 * time left out once a week comes back at most 7 days later, and can
 * vanish into a skipped hour only once in a row.  For the same reason the
 * next window to open is at most 14 days away.
 */
#define WINDOW_HORIZON_DAYS 15
#define WINDOW_HORIZON_MS   (WINDOW_HORIZON_DAYS * WINDOW_DAY_S * 1000)

/* Years 1..9999: the moments the clock rules are asked about. */
#define WINDOW_MIN_MS (-62135596800000LL)
#define WINDOW_MAX_MS 253402300800000LL

static const char window_day_names[7][4] = {"mon", "tue", "wed", "thu",
					    "fri", "sat", "sun"};

/* ---------------------------------------------------------------- parsing */

struct window_parse {
	char echo[POLICY_WINDOW_INPUT_MAX + 1]; /* the value, for messages */
	char *why;
	size_t whylen;
};

/* `window "VALUE": ` and the formatted reason into why; FERRY_EINVAL. */
__attribute__((format(printf, 2, 3))) static int
window_why(const struct window_parse *wp, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	if (wp->why == NULL || wp->whylen == 0)
		return FERRY_EINVAL;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(wp->why, wp->whylen, "window \"%s\": %s", wp->echo, what);
	return FERRY_EINVAL;
}

static int
window_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * The value as messages quote it: without outer blanks, unprintable bytes
 * as '?', cut after 40 bytes if it is too long to be taken at all.
 */
static void
window_echo(struct window_parse *wp, const char *s, size_t len)
{
	size_t n = 0;
	int cut = 0;

	while (len > 0 && window_blank(*s)) {
		s++;
		len--;
	}
	while (len > 0 && window_blank(s[len - 1]))
		len--;
	if (len > POLICY_WINDOW_INPUT_MAX) {
		len = 40;
		cut = 1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		wp->echo[n++] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
	}
	if (cut)
		memcpy(wp->echo + n - 3, "...", 3);
	wp->echo[n] = '\0';
}

/* Index (0 = mon) of the day named by s[0..len), or -1. */
static int
window_day(const char *s, size_t len)
{
	if (len != 3)
		return -1;
	for (int d = 0; d < 7; d++)
		if (strncasecmp(s, window_day_names[d], 3) == 0)
			return d;
	return -1;
}

/* A token quoted in a message: at most this many bytes of it. */
#define TOK(len) (int)((len) > 40 ? 40 : (len))

/* One DAY or DAY-DAY of the list field, item[0..len), into *mask. */
static int
window_parse_item(const struct window_parse *wp, const char *field,
		  const char *item, size_t len, unsigned *mask)
{
	const char *dash = memchr(item, '-', len);
	const char *last;
	size_t flen, llen;
	int first_d, last_d;

	if (len == 0)
		return window_why(
		    wp,
		    "empty day in \"%s\" (separate days and "
		    "ranges with one comma, e.g. mon,wed,fri-sun)",
		    field);
	if ((len == 5 && strncasecmp(item, "daily", 5) == 0) ||
	    (len == 1 && item[0] == '*'))
		return window_why(wp,
				  "\"%.*s\" inside a list of days (write it "
				  "alone for every day, or list the days)",
				  (int)len, item);
	if (dash == NULL) {
		first_d = window_day(item, len);
		if (first_d < 0)
			return window_why(wp,
					  "unknown day \"%.*s\" (use mon..sun, "
					  "daily)",
					  TOK(len), item);
		*mask |= 1u << first_d;
		return 0;
	}
	flen = (size_t)(dash - item);
	last = dash + 1;
	llen = len - flen - 1;
	if (memchr(last, '-', llen) != NULL)
		return window_why(wp,
				  "range \"%.*s\" has more than one \"-\" "
				  "(write FIRST-LAST, e.g. mon-fri)",
				  TOK(len), item);
	if (flen == 0 || llen == 0)
		return window_why(
		    wp,
		    "incomplete range \"%.*s\" (write FIRST-LAST, "
		    "e.g. mon-fri)",
		    TOK(len), item);
	first_d = window_day(item, flen);
	if (first_d < 0)
		return window_why(wp,
				  "unknown day \"%.*s\" (use mon..sun, daily)",
				  TOK(flen), item);
	last_d = window_day(last, llen);
	if (last_d < 0)
		return window_why(wp,
				  "unknown day \"%.*s\" (use mon..sun, daily)",
				  TOK(llen), last);
	if (first_d == last_d)
		return window_why(wp,
				  "range \"%.*s\" starts and ends on the same "
				  "day (write %s for that day, daily for every "
				  "day)",
				  TOK(len), item, window_day_names[first_d]);
	for (int d = first_d;; d = (d + 1) % 7) {
		*mask |= 1u << d;
		if (d == last_d)
			break;
	}
	return 0;
}

static int
window_parse_days(const struct window_parse *wp, const char *field,
		  uint8_t *days)
{
	unsigned mask = 0;
	const char *p = field;
	int rc;

	if (strcasecmp(field, "daily") == 0 || strcmp(field, "*") == 0) {
		*days = WINDOW_ALL_DAYS;
		return 0;
	}
	for (;;) {
		size_t len = strcspn(p, ",");

		rc = window_parse_item(wp, field, p, len, &mask);
		if (rc != 0)
			return rc;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	*days = (uint8_t)mask;
	return 0;
}

/*
 * "HH:MM", exactly two digits each, s[0..len), into minutes after 00:00.
 * Returns 0, -1 (not HH:MM) or -2 (out of range; 24:00 is in range).
 */
static int
window_clock(const char *s, size_t len, unsigned *min)
{
	unsigned h, m;

	if (len != 5 || s[2] != ':')
		return -1;
	for (size_t i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -1;
	h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
	m = (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return -2;
	*min = h * 60 + m;
	return 0;
}

static int
window_parse_time(const struct window_parse *wp, const char *s, size_t len,
		  unsigned *min)
{
	switch (window_clock(s, len, min)) {
	case 0:
		return 0;
	case -1:
		return window_why(wp,
				  "bad time \"%.*s\" (write HH:MM with two "
				  "digits each, e.g. 08:00)",
				  TOK(len), s);
	default:
		return window_why(wp,
				  "bad time \"%.*s\" (hours 00..23, minutes "
				  "00..59; an end may be 24:00)",
				  TOK(len), s);
	}
}

static int
window_parse_times(const struct window_parse *wp, const char *field,
		   struct policy_window *w)
{
	const char *dash = strchr(field, '-');
	unsigned start, end;
	int rc;

	if (dash == NULL)
		return window_why(wp,
				  "no end time in \"%s\" (write START-END, "
				  "e.g. 08:00-17:00)",
				  field);
	if (strchr(dash + 1, '-') != NULL)
		return window_why(wp,
				  "more than one \"-\" in \"%s\" (write "
				  "START-END, e.g. 08:00-17:00; one window "
				  "per line)",
				  field);
	rc = window_parse_time(wp, field, (size_t)(dash - field), &start);
	if (rc != 0)
		return rc;
	rc = window_parse_time(wp, dash + 1, strlen(dash + 1), &end);
	if (rc != 0)
		return rc;
	if (start == WINDOW_DAY_MIN)
		return window_why(wp, "a window cannot start at 24:00 (write "
				      "00:00 and the next day)");
	if (start == end)
		return window_why(
		    wp,
		    "empty window \"%s\": it starts and ends at "
		    "the same time (00:00-24:00 is the whole day)",
		    field);
	w->start_min = (uint16_t)start;
	w->end_min = (uint16_t)(end == 0 ? WINDOW_DAY_MIN : end);
	return 0;
}

int
policy_window_parse(const char *s, struct policy_window *w, char *why,
		    size_t whylen)
{
	struct window_parse wp = {.why = why, .whylen = whylen};
	struct policy_window out = {0};
	char buf[POLICY_WINDOW_INPUT_MAX + 1];
	char *field[4];
	size_t len, nfield = 0;
	char *p;
	int rc;

	if (s == NULL)
		s = "";
	len = strnlen(s, POLICY_WINDOW_INPUT_MAX + 1);
	window_echo(&wp, s, len);
	if (len > POLICY_WINDOW_INPUT_MAX)
		return window_why(&wp,
				  "longer than %d bytes (one window per line, "
				  "e.g. mon-fri 08:00-17:00 UTC)",
				  POLICY_WINDOW_INPUT_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c > 0x7e)
			return window_why(&wp,
					  "byte 0x%02x at offset %zu is not "
					  "printable ASCII (write plain text)",
					  c, i);
	}
	if (w == NULL)
		return window_why(&wp, "nowhere to store the window");
	memcpy(buf, s, len + 1);
	for (p = buf; nfield < 4;) {
		while (window_blank(*p))
			p++;
		if (*p == '\0')
			break;
		field[nfield++] = p;
		while (*p != '\0' && !window_blank(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	if (nfield == 0)
		return window_why(&wp, "empty (" WINDOW_SYNTAX ")");
	if (nfield == 1 && field[0][0] >= '0' && field[0][0] <= '9')
		return window_why(&wp,
				  "no days before \"%s\" (" WINDOW_SYNTAX
				  "; daily for every day)",
				  field[0]);
	if (nfield == 1)
		return window_why(
		    &wp, "no times after \"%s\" (" WINDOW_SYNTAX ")", field[0]);
	rc = window_parse_days(&wp, field[0], &out.days);
	if (rc != 0)
		return rc;
	rc = window_parse_times(&wp, field[1], &out);
	if (rc != 0)
		return rc;
	out.utc = 1;
	if (nfield >= 3) {
		if (strcasecmp(field[2], "local") == 0)
			out.utc = 0;
		else if (strcasecmp(field[2], "utc") != 0)
			return window_why(
			    &wp,
			    "unknown zone \"%.40s\" (write UTC or "
			    "local; local is the agent's TZ)",
			    field[2]);
	}
	if (nfield == 4)
		return window_why(&wp,
				  "unexpected \"%.40s\" after the zone "
				  "(" WINDOW_SYNTAX ")",
				  field[3]);
	*w = out;
	return 0;
}

/* ------------------------------------------------------------- formatting */

const char *
policy_window_format(const struct policy_window *w, char *out, size_t cap)
{
	unsigned mask, first = 0;
	char days[40] = "";
	size_t n = 0;

	if (out == NULL || cap == 0)
		return out;
	if (w == NULL) {
		out[0] = '\0';
		return out;
	}
	mask = w->days & WINDOW_ALL_DAYS;
	if (mask == WINDOW_ALL_DAYS)
		snprintf(days, sizeof(days), "daily");
	else if (mask == 0)
		snprintf(days, sizeof(days), "none");
	/* Monday first, unless Monday ends a run that wraps: "fri-mon". */
	if ((mask & 1u) != 0 && mask != WINDOW_ALL_DAYS)
		while ((mask & (1u << ((first + 6) % 7))) != 0)
			first = (first + 6) % 7;
	for (unsigned i = 0; i < 7 && mask != WINDOW_ALL_DAYS;) {
		unsigned d = (first + i) % 7, j = i;

		if ((mask & (1u << d)) == 0) {
			i++;
			continue;
		}
		while (j + 1 < 7 && (mask & (1u << ((first + j + 1) % 7))) != 0)
			j++;
		n += (size_t)snprintf(days + n, sizeof(days) - n, "%s%s",
				      n > 0 ? "," : "", window_day_names[d]);
		if (j > i)
			n +=
			    (size_t)snprintf(days + n, sizeof(days) - n, "-%s",
					     window_day_names[(first + j) % 7]);
		i = j + 1;
	}
	snprintf(out, cap, "%s %02u:%02u-%02u:%02u %s", days,
		 (unsigned)w->start_min / 60, (unsigned)w->start_min % 60,
		 (unsigned)w->end_min / 60, (unsigned)w->end_min % 60,
		 w->utc ? "UTC" : "local");
	return out;
}

/* ------------------------------------------------------------------ state */

static int64_t
window_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The local clock's offset from UTC at moment t_s, in seconds. */
static int64_t
window_gmtoff(int64_t t_s)
{
	time_t t = (time_t)t_s;
	struct tm tm;

	if ((int64_t)t != t_s || localtime_r(&t, &tm) == NULL)
		return 0;
	return tm.tm_gmtoff;
}

/*
 * The earliest moment at which the local clock shows wall_s or later: the
 * first of two moments showing it when clocks go back, the moment of the
 * jump when clocks go forward over it.
 */
static int64_t
window_local_moment(int64_t wall_s)
{
	int64_t offs[6], best = INT64_MAX, lo = INT64_MAX, hi = INT64_MIN;
	size_t n = 0;

	/* Offsets in force around wall_s: the candidates. */
	for (int k = -1; k <= 1; k++) {
		int64_t o = window_gmtoff(wall_s + k * WINDOW_DAY_S);
		size_t i = 0;

		while (i < n && offs[i] != o)
			i++;
		if (i == n)
			offs[n++] = o;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t u = wall_s - offs[i], o = window_gmtoff(u);
		size_t j = 0;

		if (o == offs[i] && u < best)
			best = u;
		while (j < n && offs[j] != o)
			j++;
		if (j == n && n < sizeof(offs) / sizeof(offs[0]))
			offs[n++] = o;
		lo = u < lo ? u : lo;
		hi = u > hi ? u : hi;
	}
	if (best != INT64_MAX)
		return best;
	/*
	 * Skipped: the clock shows less than wall_s at lo (the moment under
	 * the later, larger offset) and more at hi; find where it jumps.
	 */
	if (lo + window_gmtoff(lo) >= wall_s || hi + window_gmtoff(hi) < wall_s)
		return hi;
	while (lo + 1 < hi) {
		int64_t mid = lo + (hi - lo) / 2;

		if (mid + window_gmtoff(mid) >= wall_s)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

static int
window_valid(const struct policy_window *w)
{
	return (w->days & WINDOW_ALL_DAYS) != 0 &&
	       w->start_min < WINDOW_DAY_MIN && w->end_min >= 1 &&
	       w->end_min <= WINDOW_DAY_MIN && w->start_min != w->end_min;
}

/* The day (in w's clock, days since 1970-01-01) that moment t_ms is on. */
static int64_t
window_day_of(const struct policy_window *w, int64_t t_ms)
{
	int64_t t_s = window_floor_div(t_ms, 1000);

	if (!w->utc)
		t_s += window_gmtoff(t_s);
	return window_floor_div(t_s, WINDOW_DAY_S);
}

/*
 * The span [*start_ms, *end_ms) of w that opens on day (days since
 * 1970-01-01 in w's clock).  0 if w does not open that day or the span is
 * empty (it lies in a skipped hour).
 */
static int
window_span(const struct policy_window *w, int64_t day, int64_t *start_ms,
	    int64_t *end_ms)
{
	/* 1970-01-01 was a Thursday, day 3 counting from Monday. */
	int64_t wday = day + 3 - 7 * window_floor_div(day + 3, 7);
	int64_t s, e;

	if ((w->days & (1u << wday)) == 0)
		return 0;
	s = day * WINDOW_DAY_S + w->start_min * 60;
	e = (w->end_min > w->start_min ? day : day + 1) * WINDOW_DAY_S +
	    w->end_min * 60;
	if (!w->utc) {
		s = window_local_moment(s);
		e = window_local_moment(e);
	}
	if (s >= e)
		return 0;
	*start_ms = s * 1000;
	*end_ms = e * 1000;
	return 1;
}

/*
 * The latest end of the spans that cover t_ms, or INT64_MIN if none
 * does.  A span covering t opens on its day or the day before; two more
 * days for clocks that go back over midnight.
 */
static int64_t
window_cover_end(const struct policy_window *w, size_t n, int64_t t_ms)
{
	int64_t best = INT64_MIN;

	for (size_t i = 0; i < n; i++) {
		int64_t day;

		if (!window_valid(&w[i]))
			continue;
		day = window_day_of(&w[i], t_ms);
		for (int64_t d = day - 2; d <= day + 1; d++) {
			int64_t s, e;

			if (window_span(&w[i], d, &s, &e) && s <= t_ms &&
			    t_ms < e && e > best)
				best = e;
		}
	}
	return best;
}

/* The first start after t_ms within the horizon, or INT64_MAX. */
static int64_t
window_next_start(const struct policy_window *w, size_t n, int64_t t_ms)
{
	int64_t best = INT64_MAX;

	for (size_t i = 0; i < n; i++) {
		int64_t day;

		if (!window_valid(&w[i]))
			continue;
		day = window_day_of(&w[i], t_ms);
		for (int64_t d = day - 1; d <= day + WINDOW_HORIZON_DAYS; d++) {
			int64_t s, e;

			if (window_span(&w[i], d, &s, &e) && s > t_ms &&
			    s < best)
				best = s;
		}
	}
	return best;
}

int
policy_window_state(const struct policy_window *w, size_t n, int64_t now_ms,
		    int64_t *change_ms)
{
	int64_t change, end;

	if (w == NULL || n == 0 || now_ms < WINDOW_MIN_MS ||
	    now_ms >= WINDOW_MAX_MS) {
		if (change_ms != NULL)
			*change_ms = INT64_MAX;
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (!w[i].utc) {
			tzset();
			break;
		}
	end = window_cover_end(w, n, now_ms);
	if (end == INT64_MIN) {
		if (change_ms != NULL)
			*change_ms = window_next_start(w, n, now_ms);
		return 0;
	}
	/* Inside: follow the chain of overlapping or touching spans. */
	do {
		change = end;
		if (change - now_ms > WINDOW_HORIZON_MS) {
			change = INT64_MAX;
			break;
		}
		end = window_cover_end(w, n, change);
	} while (end != INT64_MIN);
	if (change_ms != NULL)
		*change_ms = change;
	return 1;
}

/* ------------------------------------------------------------ transports */

int
policy_window_outside(const struct policy_window *w, size_t n, int64_t now_ms,
		      int64_t *open_ms, char *at, size_t cap)
{
	int64_t change = INT64_MAX;

	if (at != NULL && cap > 0)
		at[0] = '\0';
	if (n == 0 || policy_window_state(w, n, now_ms, &change) == 1) {
		__atomic_store_n(open_ms, 0, __ATOMIC_RELAXED);
		return 0;
	}
	if (__atomic_exchange_n(open_ms, change, __ATOMIC_RELAXED) != change &&
	    at != NULL && cap > 0)
		policy_window_when(change, at, cap);
	return 1;
}

const char *
policy_window_when(int64_t ms, char *out, size_t cap)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (out == NULL || cap == 0)
		return out;
	if (ms <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, cap, "?");
	return out;
}
