/*
 * sweep.c - the expiry timer: the store returns leases that ran out,
 * moves expired messages to the dead queue (each is logged once, here),
 * forgets old dedup entries and drops idle partial payloads.  One sweep
 * runs at a time, as a job.
 *
 * When: not by the clock.  Each sweep leaves in the store when the next
 * one has work (store_due_ms: the earliest lease end, expiry, reply-queue
 * deadline...), and the timer is armed for then; a new lease or message
 * with an earlier deadline lowers it from the store's writer thread,
 * which wakes the loop through sweep_efd to arm the timer sooner.  While
 * work is left over (a bounded sweep did not finish, a payload to free)
 * sweeps come sweep_interval apart, as before; an idle node sweeps every
 * SWEEP_IDLE_MS, a safety net (a deadline nobody noted: a partial stream
 * whose writer let go, a wall clock set back).
 *
 * The same timer refreshes the STATUS= line that systemd shows
 * (service.c): every 10 s under systemd the sweep job also reads the
 * store's totals.
 *
 * The same timer applies the bundles an import kept for later because
 * another transfer was receiving their messages (filedrop_import.c, "busy"),
 * once one of those transfers has let go: while some are kept, it comes
 * every sweep_interval.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/engine.h"
#include "lib/util.h"
#include "transports/filedrop.h"

#define SWEEP_IDLE_MS	  60000 /* the longest sleep, nothing due */
#define SWEEP_STATUS_MS	  10000 /* STATUS= under systemd (service.c) */
#define SWEEP_MIN_WAIT_MS 10	/* a deadline is met this late at most */

static void sweep_arm(struct agent *ag);

struct sweep_job {
	struct job job;
	struct agent *ag;
	int rc;
	struct store_sweep_stats stats;
	int want_totals; /* for STATUS= (service.c) */
	int totals_rc;
	struct store_stats totals;
};

static void
log_dead(const struct store_msg_info *info, void *arg)
{
	char hex[FERRY_ID_HEX_LEN + 1];

	ferry_id_to_hex(info->msg.id, hex);
	/* The store queued a negative receipt for the source: send it. */
	if (arg != NULL && (info->msg.flags & FERRY_MSG_RECEIPT))
		engine_kick((struct agent *)arg, info->msg.src_node,
			    FERRY_PRIO_MAX - 1);
	log_info("message %s for %s/%s expired %lld s after it was sent; "
		 "moved to the dead queue",
		 hex, info->msg.dst_node, info->msg.dst_queue,
		 (long long)((info->dead_ms - info->msg.created_ms) / 1000));
}

static void
sweep_run(struct job *j)
{
	struct sweep_job *s = (struct sweep_job *)j;

	s->rc = store_sweep(s->ag->store, log_dead, s->ag, &s->stats);
	if (s->want_totals)
		s->totals_rc = store_stats(s->ag->store, &s->totals);
}

static void
sweep_done(struct job *j)
{
	struct sweep_job *s = (struct sweep_job *)j;
	struct agent *ag = s->ag;

	ag->sweep_busy = 0;
	if (s->rc != 0)
		log_warn("expiry sweep failed: %s (%s); trying again at the "
			 "next interval",
			 ferry_strerror(s->rc), store_last_error());
	if (s->stats.leases_returned > 0 || s->stats.expired > 0)
		notify_all(ag);
	if (s->stats.partials_dropped > 0)
		log_info("dropped %llu unfinished payloads left idle",
			 (unsigned long long)s->stats.partials_dropped);
	if (s->want_totals && s->totals_rc == 0 && !ag->stopping)
		service_status(ag, &s->totals);
	free(s);
	sweep_arm(ag);
}

struct deferred_job {
	struct job job;
	struct agent *ag;
	struct sneak_job sj;
};

static void
deferred_run(struct job *j)
{
	struct deferred_job *d = (struct deferred_job *)j;

	(void)sneak_apply_deferred(&d->sj);
}

static void
deferred_done(struct job *j)
{
	struct deferred_job *d = (struct deferred_job *)j;

	d->ag->deferred_busy = 0;
	sweep_arm(d->ag);
	if (d->sj.msgs > 0)
		notify_all(d->ag);
	free(d->sj.peers);
	free(d);
}

static void
deferred_start(struct agent *ag)
{
	struct deferred_job *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return;
	if (sneak_job_init(ag, &d->sj) != 0) {
		free(d);
		return;
	}
	d->job.run = deferred_run;
	d->job.done = deferred_done;
	d->ag = ag;
	ag->deferred_busy = 1;
	jobs_submit(ag->jobs, &d->job);
}

static int64_t
sweep_interval_ms(const struct agent *ag)
{
	return ag->pol.sweep_interval_ms > 0 ? ag->pol.sweep_interval_ms : 1000;
}

/*
 * Arm the timer for the store's next deadline: no sooner than
 * SWEEP_MIN_WAIT_MS (sweep_interval for work already due: what a sweep
 * left, or a note of the past), no later than SWEEP_IDLE_MS, or
 * sweep_interval while kept bundles wait.  Loop thread; not while a sweep
 * runs (its end arms it).
 */
static void
sweep_arm(struct agent *ag)
{
	int64_t now = ferry_wall_ms(), due, wait, dat;
	struct timeval tv;

	if (ag->ev_sweep == NULL || ag->stopping || ag->sweep_busy)
		return;
	due = store_due_ms(ag->store);
	if (due <= now)
		wait = sweep_interval_ms(ag);
	else if (due - now > SWEEP_IDLE_MS)
		wait = SWEEP_IDLE_MS;
	else
		wait = due - now;
	if (wait < SWEEP_MIN_WAIT_MS)
		wait = SWEEP_MIN_WAIT_MS;
	dat = sneak_deferred_at();
	if (dat != 0 && wait > sweep_interval_ms(ag))
		wait = sweep_interval_ms(ag);
	if (service_enabled() && wait > SWEEP_STATUS_MS)
		wait = SWEEP_STATUS_MS;
	if (ag->sweep_at_ms != INT64_MAX &&
	    event_pending(ag->ev_sweep, EV_TIMEOUT, NULL) &&
	    ag->sweep_at_ms <= now + wait)
		return; /* armed for sooner already */
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	if (event_add(ag->ev_sweep, &tv) == 0)
		ag->sweep_at_ms = now + wait;
}

/* The store's writer thread: an earlier deadline appeared.  Only a
 * write to the eventfd (never the loop's structures from here). */
static void
sweep_due_wake(void *arg)
{
	struct agent *ag = arg;
	uint64_t one = 1;

	if (write(ag->sweep_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("sweep: cannot wake the loop: eventfd write failed");
}

static void
on_sweep_due(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("sweep: eventfd read failed");
	sweep_arm(arg);
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct agent *ag = arg;
	struct sweep_job *s;

	(void)fd;
	(void)what;
	ag->sweep_at_ms = INT64_MAX;
	if (!ag->deferred_busy && !ag->stopping &&
	    sneak_deferred_due(ag->store))
		deferred_start(ag);
	if (ag->sweep_busy || ag->stopping)
		return;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		sweep_arm(ag); /* try again later */
		return;
	}
	s->job.run = sweep_run;
	s->job.done = sweep_done;
	s->ag = ag;
	s->want_totals = service_status_due(ag);
	ag->sweep_busy = 1;
	jobs_submit(ag->jobs, &s->job);
}

int
sweep_start(struct agent *ag)
{
	int64_t ms = sweep_interval_ms(ag);
	struct timeval tv = {(time_t)(ms / 1000),
			     (suseconds_t)(ms % 1000) * 1000};

	if (ag->ev_sweep == NULL) {
		ag->ev_sweep = evtimer_new(ag->base, on_sweep, ag);
		ag->sweep_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (ag->ev_sweep == NULL || ag->sweep_efd < 0)
			return -1;
		ag->ev_sweep_due =
		    event_new(ag->base, ag->sweep_efd, EV_READ | EV_PERSIST,
			      on_sweep_due, ag);
		if (ag->ev_sweep_due == NULL ||
		    event_add(ag->ev_sweep_due, NULL) != 0)
			return -1;
		store_set_due_fn(ag->store, sweep_due_wake, ag);
	} else {
		return 0; /* SIGHUP: a new interval counts from the next arm */
	}
	/* The first sweep one interval from now finds the deadlines already
	 * in the store. */
	if (event_add(ag->ev_sweep, &tv) != 0)
		return -1;
	ag->sweep_at_ms = ferry_wall_ms() + ms;
	return 0;
}

void
sweep_free(struct agent *ag)
{
	if (ag->ev_sweep != NULL)
		event_free(ag->ev_sweep);
	if (ag->ev_sweep_due != NULL)
		event_free(ag->ev_sweep_due);
	if (ag->sweep_efd >= 0)
		close(ag->sweep_efd);
	ag->ev_sweep = ag->ev_sweep_due = NULL;
	ag->sweep_efd = -1;
}
