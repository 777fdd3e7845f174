/*
 * window.h - contact windows: "mon-fri 08:00-09:30 UTC", the weekly
 * times at which ferry may talk to a peer.
 *
 * A window is parsed once from one `window =` line (policy_window_parse)
 * and then only computed on: policy_window_state() says whether a moment
 * lies inside any of a peer's windows and when that answer changes next.
 * policy_window_outside() is the question a transport asks before it
 * calls a peer, and policy_window_when() the text of a moment as ferry
 * prints it (logs, `ferry why`).  Nothing here allocates, logs or keeps
 * state of its own; every function may be called from any thread.  The
 * grammar is at the top of window.c; it goes into ferry.conf(5) with the
 * first key that uses it.
 */
#ifndef FERRY_POLICY_WINDOW_H
#define FERRY_POLICY_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_err.h"

#define POLICY_WINDOWS_MAX	 16  /* window lines per peer */
#define POLICY_WINDOW_INPUT_MAX	 255 /* bytes of one `window =` value */
#define POLICY_WINDOW_FORMAT_MAX 64  /* policy_window_format's out, NUL too */
#define POLICY_WINDOW_WHEN_MAX	 40  /* policy_window_when's out, NUL too */

/*
 * One weekly window.  The day bits name the days on which the window
 * opens; a window whose end is before its start crosses midnight and its
 * part after midnight belongs to the next day ("sun 22:00-02:00" ends on
 * Monday at 02:00).
 */
struct policy_window {
	uint8_t days;	    /* bit 0 = Monday ... bit 6 = Sunday */
	uint16_t start_min; /* minutes after 00:00, 0..1439 */
	uint16_t end_min;   /* 1..1440; end < start: crosses midnight */
	uint8_t utc;	    /* 1: times are UTC; 0: local time (TZ) */
};

/*
 * Parse one `window =` value, "DAYS HH:MM-HH:MM [UTC|local]", into w.
 * DAYS is daily, *, a day (mon..sun, any case), a range (mon-fri, fri-mon
 * wraps) or a comma list of days and ranges; blanks separate the parts;
 * the zone defaults to UTC.  The start is 00:00..23:59, the end
 * 00:00..24:00 (00:00 and 24:00 both mean the midnight that ends the day).
 * Returns 0, or FERRY_EINVAL with the reason and its remedy in why (one
 * line, e.g. `window "mon-fro 08:00-09:30": unknown day "fro" (use
 * mon..sun, daily)`); w is written only on success.  Values longer than
 * POLICY_WINDOW_INPUT_MAX bytes are refused.
 */
FERRY_MUST_CHECK int policy_window_parse(const char *s, struct policy_window *w,
					 char *why, size_t whylen);

/*
 * Is now_ms (ms since 1970, UTC) inside any of the n windows w[0..n-1]?
 * Returns 1 inside, 0 outside, and puts into *change_ms (if not NULL) the
 * moment that answer changes: inside, the end of the run of windows that
 * covers now (overlapping or touching windows merge: inside until no
 * window covers the moment); outside, the start of the next window to
 * open.  *change_ms > now_ms always; INT64_MAX when the answer never
 * changes: n == 0 (no windows: always inside), windows that cover every
 * moment, windows with no days (never inside), or now_ms outside the
 * years 1..9999 (treated as no windows).
 *
 * Local windows follow the TZ in effect (tzset() is called here).  Wall
 * times map to the earliest moment the local clock shows that time or
 * later: a time skipped when clocks go forward means the moment of the
 * jump, a time that occurs twice when clocks go back means its first
 * occurrence.  A window that lies wholly in a skipped hour is empty that
 * day.
 */
int policy_window_state(const struct policy_window *w, size_t n, int64_t now_ms,
			int64_t *change_ms);

/*
 * The canonical text of w into out (cap bytes, truncated if smaller than
 * POLICY_WINDOW_FORMAT_MAX), e.g. "mon-fri 08:00-09:30 UTC",
 * "fri-mon 22:00-24:00 local", "daily 00:00-24:00 UTC".  Parsing it gives
 * w back.  Returns out.
 */
const char *policy_window_format(const struct policy_window *w, char *out,
				 size_t cap);

/*
 * Before a transport calls a peer whose windows are w[0..n-1]: is now_ms
 * outside all of them?  Returns 1 outside, 0 inside (n == 0: always
 * inside).
 *
 * *open_ms is the peer's window state as `ferry why` and `ferry peers`
 * show it (struct peer_status.window_ms): set to the moment the next
 * window opens while outside, 0 inside.  It is read and written with
 * relaxed atomics, so another thread may read it without the caller's
 * lock.  When it changes to a new opening (the first look outside, or
 * the next window to wait for), that moment's policy_window_when() text
 * goes into at (cap bytes, POLICY_WINDOW_WHEN_MAX is enough) for the
 * caller's one log line; otherwise at is "".  at may be NULL.
 */
int policy_window_outside(const struct policy_window *w, size_t n,
			  int64_t now_ms, int64_t *open_ms, char *at,
			  size_t cap);

/*
 * A moment (ms since 1970) as ferry prints one, "2026-03-02 08:00:00 UTC",
 * into out (cap bytes, POLICY_WINDOW_WHEN_MAX is enough); "?" for 0, a
 * negative moment, or one the C library cannot show.  Returns out.
 */
const char *policy_window_when(int64_t ms, char *out, size_t cap);

#endif
