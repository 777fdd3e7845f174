/*
 * engine.c - the forwarding engine (see engine.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/engine.h"

/* ------------------------------------------------------------ arrivals */

static void
on_arrived(evutil_socket_t fd, short what, void *arg)
{
	struct agent *ag = arg;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) == sizeof(n)) {
		/* Clear first: an arrival from now on wakes us again. */
		__atomic_store_n(&ag->arrival_wake, 0, __ATOMIC_RELEASE);
		notify_all(ag);
	}
}

void
engine_arrived(struct agent *ag, const char *queue)
{
	uint64_t one = 1;

	(void)queue;
	/* One wake-up is enough however many arrive before the loop runs. */
	if (__atomic_exchange_n(&ag->arrival_wake, 1, __ATOMIC_ACQ_REL))
		return;
	if (write(ag->arrival_efd, &one, sizeof(one)) != sizeof(one))
		log_debug("engine: eventfd write failed: %s", strerror(errno));
}

/* --------------------------------------------------------------- kicks */

void
engine_kick(struct agent *ag, const char *node, unsigned prio)
{
	for (size_t i = 0; i < ag->nepeers; i++)
		if (strcmp(ag->epeers[i].name, node) == 0) {
			__atomic_add_fetch(&ag->epeers[i].kicks, 1,
					   __ATOMIC_RELAXED);
			break;
		}
	for (size_t t = 0; ferry_transports[t] != NULL; t++)
		if (ferry_transports[t]->kick != NULL && ag->tstate[t] != NULL)
			ferry_transports[t]->kick(ag->tstate[t], node, prio);
}

uint64_t
engine_kicks(struct agent *ag, const char *node)
{
	for (size_t i = 0; i < ag->nepeers; i++)
		if (strcmp(ag->epeers[i].name, node) == 0)
			return __atomic_load_n(&ag->epeers[i].kicks,
					       __ATOMIC_RELAXED);
	return 0;
}

size_t
engine_peers(struct agent *ag, struct peer_status *out, size_t cap)
{
	for (size_t i = 0; i < ag->nepeers && i < cap; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		snprintf(out[i].name, sizeof(out[i].name), "%s",
			 ag->epeers[i].name);
		for (size_t t = 0; ferry_transports[t] != NULL; t++)
			if (ferry_transports[t]->status != NULL &&
			    ag->tstate[t] != NULL)
				ferry_transports[t]->status(ag->tstate[t],
							    &out[i]);
	}
	return ag->nepeers;
}

/* -------------------------------------------------- what goes next */

struct pick {
	const struct engine_filter *f;
	struct store_msg_info *out;
	size_t cap, n;
};

static int
pick_one(const struct store_msg_info *i, void *arg)
{
	struct pick *p = arg;
	const struct engine_filter *f = p->f;

	if (strcmp(i->msg.dst_node, f->peer) != 0)
		return 0;
	if (i->state == STORE_INFLIGHT && strcmp(i->hop_peer, f->peer) != 0)
		return 0;
	if (i->msg.expires_ms != 0 && i->msg.expires_ms <= f->now_ms)
		return 0; /* the sweep dead-letters it */
	if ((int)i->msg.priority < f->min_priority)
		return 0;
	if (f->skip != NULL && f->skip(i, f->arg))
		return 0;
	p->out[p->n++] = *i;
	return p->n == p->cap;
}

int
engine_next(struct store *st, const struct engine_filter *f,
	    struct store_out_pos *pos, struct store_msg_info *out, size_t cap,
	    size_t *n)
{
	struct pick p = {f, out, cap, 0};
	int rc;

	*n = 0;
	if (cap == 0)
		return 0;
	rc = store_out_scan(st, f->peer, pos, 0, pick_one, &p);
	*n = p.n;
	return rc;
}

/* ------------------------------------------------------- start, stop */

int
engine_start(struct agent *ag)
{
	/* A copy: a reload (SIGHUP) replaces ag->pol on the loop while
	 * transport threads kick. */
	ag->epeers =
	    calloc(ag->pol.npeers ? ag->pol.npeers : 1, sizeof(*ag->epeers));
	if (ag->epeers == NULL)
		return -1;
	for (size_t i = 0; i < ag->pol.npeers; i++)
		snprintf(ag->epeers[i].name, sizeof(ag->epeers[i].name), "%s",
			 ag->pol.peers[i].name);
	ag->nepeers = ag->pol.npeers;
	ag->arrival_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ag->arrival_efd < 0) {
		log_error("cannot create an eventfd: %s", strerror(errno));
		return -1;
	}
	ag->ev_arrival = event_new(ag->base, ag->arrival_efd,
				   EV_READ | EV_PERSIST, on_arrived, ag);
	if (ag->ev_arrival == NULL || event_add(ag->ev_arrival, NULL) != 0)
		return -1;
	for (size_t t = 0; ferry_transports[t] != NULL; t++) {
		if (t == FERRY_TRANSPORTS_MAX) {
			log_error("more than %d transports registered",
				  FERRY_TRANSPORTS_MAX);
			return -1;
		}
		if (ferry_transports[t]->start(ag, &ag->tstate[t]) != 0) {
			log_error("the %s transport did not start",
				  ferry_transports[t]->name);
			return -1;
		}
	}
	return 0;
}

void
engine_stop(struct agent *ag)
{
	size_t n = 0;

	while (ferry_transports[n] != NULL)
		n++;
	while (n-- > 0) {
		if (ag->tstate[n] != NULL)
			ferry_transports[n]->stop(ag, ag->tstate[n]);
		ag->tstate[n] = NULL;
	}
	if (ag->ev_arrival != NULL)
		event_free(ag->ev_arrival);
	ag->ev_arrival = NULL;
	if (ag->arrival_efd >= 0)
		close(ag->arrival_efd);
	ag->arrival_efd = -1;
	free(ag->epeers);
	ag->epeers = NULL;
	ag->nepeers = 0;
}
