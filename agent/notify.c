/*
 * notify.c - waking the clients that wait for messages: a RECV with
 * --wait (state WAITING, with a timer) and subscriptions.
 *
 * Whoever makes a message available in a local queue (a put, a nack, a
 * lease running out) calls notify_queue.  Every notify bumps
 * ag->notify_gen, so a take that found the queue empty while a message
 * was arriving looks again instead of waiting (no lost wake-up).  The scan
 * is over all clients: it costs microseconds for thousands of clients, and
 * needs no index to keep true.
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/bridge.h"
#include "lib/util.h"

static void
wake(struct client *c)
{
	notify_cancel(c);
	request_take(c, c->reqid, c->wait_queue, c->wait_lease_ms,
		     c->wait_peek);
}

static void
notify(struct agent *ag, const char *queue)
{
	struct client *c, *next;

	ag->notify_gen++;
	for (c = ag->clients; c != NULL; c = next) {
		next = c->next;
		if (c->state == CS_WAITING &&
		    (queue == NULL || strcmp(c->wait_queue, queue) == 0))
			wake(c);
		if (c->sub_reqid != 0 && c->state != CS_DEAD &&
		    (queue == NULL || strcmp(c->sub_queue, queue) == 0))
			subscription_push(c);
	}
}

void
notify_queue(struct agent *ag, const char *queue)
{
	notify(ag, queue);
	bridge_kick();
}

void
notify_all(struct agent *ag)
{
	notify(ag, NULL);
	bridge_kick();
}

static void
on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd;
	(void)what;
	notify_cancel(c);
	c->wait_until_ms = 0;
	client_error(c, c->reqid, FERRY_EEMPTY,
		     "queue %s stayed empty while waiting", c->wait_queue);
	client_idle(c);
}

void
notify_wait(struct client *c, const char *queue, int64_t lease_ms, int peek)
{
	int64_t left = 0;

	if (c->wait_until_ms > 0) {
		left = c->wait_until_ms - ferry_mono_ms();
		if (left <= 0) {
			c->wait_until_ms = 0;
			client_error(c, c->reqid, FERRY_EEMPTY,
				     "queue %s stayed empty while waiting",
				     queue);
			client_idle(c);
			return;
		}
	}
	snprintf(c->wait_queue, sizeof(c->wait_queue), "%s", queue);
	c->wait_lease_ms = lease_ms;
	c->wait_peek = peek;
	if (left > 0) {
		struct timeval tv = {(time_t)(left / 1000),
				     (suseconds_t)(left % 1000) * 1000};
		if (c->wait_timer == NULL)
			c->wait_timer =
			    evtimer_new(c->ag->base, on_wait_timeout, c);
		if (c->wait_timer == NULL ||
		    evtimer_add(c->wait_timer, &tv) != 0) {
			client_error(c, c->reqid, FERRY_ENOMEM,
				     "cannot wait: out of memory");
			client_idle(c);
			return;
		}
	}
	c->state = CS_WAITING;
	/* CREDIT frames may be buffered: they may pass a wait. */
	client_process(c);
}

void
notify_cancel(struct client *c)
{
	if (c->wait_timer != NULL) {
		event_free(c->wait_timer);
		c->wait_timer = NULL;
	}
}
