/*
 * service.c - telling the service manager how ferryd is (sd_notify(3)):
 * READY=1 once the store is open and the sockets listen, STATUS= with the
 * queue totals, WATCHDOG=1 from the loop, STOPPING=1 at the stop.
 *
 * It owns the watchdog timer (ag->ev_watchdog) and nothing else.  Without
 * NOTIFY_SOCKET (not started by systemd as Type=notify) every call here
 * costs a getenv and sends nothing.  systemd/sd-daemon.h stays in this
 * file.
 *
 * The watchdog is fed by a timer of the event loop, at half the interval
 * systemd asks for: if the loop stops turning (a callback that blocks,
 * a deadlock on the loop thread) the pings stop and systemd restarts the
 * agent.  A store thread stuck in a transaction is not seen here; the
 * loop still turns and clients get their errors or wait.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "agent/agent.h"
#include "lib/util.h"

/* How often the STATUS line is refreshed (by the sweep, sweep.c). */
#define SERVICE_STATUS_MS 10000

#ifdef HAVE_LIBSYSTEMD
static int
service_notify(const char *state)
{
	int rc = sd_notify(0, state);

	if (rc < 0)
		log_debug("sd_notify(%s): %s", state, strerror(-rc));
	return rc;
}
#else
static int
service_notify(const char *state)
{
	(void)state;
	return 0;
}
#endif

int
service_enabled(void)
{
	const char *s = getenv("NOTIFY_SOCKET");

	return s != NULL && s[0] != '\0';
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	(void)service_notify("WATCHDOG=1");
}

/* A watchdog timer at half of WATCHDOG_USEC, when it is meant for us. */
static void
watchdog_start(struct agent *ag)
{
#ifdef HAVE_LIBSYSTEMD
	uint64_t usec = 0;
	struct timeval tv;
	int rc = sd_watchdog_enabled(0, &usec);

	if (rc < 0)
		log_warn("watchdog: WATCHDOG_USEC or WATCHDOG_PID is not "
			 "valid (%s); not sending keep-alives",
			 strerror(-rc));
	if (rc <= 0 || usec == 0)
		return;
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	ag->ev_watchdog = event_new(ag->base, -1, EV_PERSIST, on_watchdog, ag);
	if (ag->ev_watchdog == NULL || event_add(ag->ev_watchdog, &tv) != 0) {
		log_error("watchdog: cannot start its timer; systemd will "
			  "take ferryd for hung");
		return;
	}
	log_info("watchdog: a keep-alive every %" PRIu64 " ms", usec / 1000);
#else
	(void)ag;
#endif
}

void
service_status(struct agent *ag, const struct store_stats *st)
{
	char line[256];

	if (!service_enabled())
		return;
	ag->service_status_ms = ferry_mono_ms();
	snprintf(line, sizeof(line),
		 "STATUS=%" PRIu64 " message%s (%" PRIu64 " bytes) stored, "
		 "%" PRIu64 " (%" PRIu64 " bytes) outbound",
		 st->msgs, st->msgs == 1 ? "" : "s", st->bytes,
		 st->outbound_msgs, st->outbound_bytes);
	(void)service_notify(line);
}

int
service_status_due(const struct agent *ag)
{
	return service_enabled() &&
	       ferry_mono_ms() - ag->service_status_ms >= SERVICE_STATUS_MS;
}

void
service_ready(struct agent *ag)
{
	struct store_stats st;

	if (!service_enabled())
		return;
	/* Before the loop runs: no job is in flight, a read is fine. */
	if (store_stats(ag->store, &st) == 0)
		service_status(ag, &st);
	(void)service_notify("READY=1");
	watchdog_start(ag);
}

void
service_stopping(void)
{
	/* The watchdog timer keeps running until the loop ends: a stop
	 * that waits for store operations is not taken for a hang. */
	if (service_enabled())
		(void)service_notify("STOPPING=1\nSTATUS=stopping");
}

void
service_cleanup(struct agent *ag)
{
	if (ag->ev_watchdog != NULL) {
		event_free(ag->ev_watchdog);
		ag->ev_watchdog = NULL;
	}
}
