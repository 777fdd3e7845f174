/*
 * sweep.c - the expiry timer: every sweep_interval the store returns
 * leases that ran out, moves expired messages to the dead queue (each is
 * logged once, here), forgets old dedup entries and drops idle partial
 * payloads.  One sweep runs at a time, as a job.
 *
 * The same timer refreshes the STATUS= line that systemd shows
 * (service.c): every 10 s the sweep job also reads the store's totals.
 *
 * The same timer applies the bundles an import kept for later because
 * another transfer was receiving their messages (filedrop_import.c, "busy"),
 * once one of those transfers has let go.
 */
#include "config.h"

#include <stdlib.h>

#include "agent/agent.h"
#include "agent/engine.h"
#include "transports/filedrop.h"

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

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct agent *ag = arg;
	struct sweep_job *s;

	(void)fd;
	(void)what;
	if (!ag->deferred_busy && !ag->stopping &&
	    sneak_deferred_due(ag->store))
		deferred_start(ag);
	if (ag->sweep_busy || ag->stopping)
		return;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return;
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
	int64_t ms =
	    ag->pol.sweep_interval_ms > 0 ? ag->pol.sweep_interval_ms : 1000;
	struct timeval tv = {(time_t)(ms / 1000),
			     (suseconds_t)(ms % 1000) * 1000};

	if (ag->ev_sweep == NULL)
		ag->ev_sweep =
		    event_new(ag->base, -1, EV_PERSIST, on_sweep, ag);
	if (ag->ev_sweep == NULL)
		return -1;
	return event_add(ag->ev_sweep, &tv);
}
