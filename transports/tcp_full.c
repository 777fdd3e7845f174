/*
 * tcp_full.c - what a peer has no room for: its REFUSE "queue full",
 * "store full" and "disk full" (docs/hop.md 4.1), remembered per peer so
 * that the messages they concern wait here instead of crossing the link
 * again and again, and so that `ferry why` can say why (struct
 * peer_status.full).
 *
 * A run of refusals, one per full queue of the peer (or one for its whole
 * store or disk), in struct lpeer.full under link.mu:
 *
 *   (none) --refusal (link_full_note)--> held: its messages are not
 *          offered before retry_ms = now + retry_min
 *   held --retry_ms passes (link_full_due kicks the writer)--> one
 *          message offered again, the probe (link_full_holds lets the
 *          first one through, holds the others while it is out)
 *   probing --refusal (link_full_note)--> held, retry_min doubled up to
 *          retry_max; since_ms stays
 *   probing --custody of it (link_full_clear)--> (none): the writer
 *          scans again and the others go
 *   probing --no answer in LINK_FULL_PROBE_MS (a session lost)--> the
 *          next one to go is the probe
 *   any --LINK_FULL_FORGET_MS past retry_ms with no refusal--> (none)
 *          (its messages left by other ways: expired, purged, another
 *          transport)
 *
 * Invariants: (1) a held message stays in the store, outbound, exactly as
 * if it had never been offered: nothing here drops or moves one; (2) an
 * entry only ever delays what it names (a queue of the peer itself, or
 * everything for the peer), never longer than retry_max (and a probe's
 * answer) at a time; (3) while a peer is full, one message at a time
 * crosses the link for it, so a backlog of large ones is not sent in
 * vain at every retry.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "agent/log.h"
#include "transports/tcp_int.h"

static int
full_what(uint8_t reason)
{
	switch (reason) {
	case HOP_REFUSE_QUEUE_FULL:
		return PEER_FULL_QUEUE;
	case HOP_REFUSE_STORE_FULL:
		return PEER_FULL_STORE;
	default:
		return PEER_FULL_DISK;
	}
}

/* An entry past its time: its run has ended without a word. */
static int
full_forgotten(const struct link_full *e, int64_t now)
{
	return now - e->f.retry_ms > LINK_FULL_FORGET_MS;
}

/* Does e hold back m, sent to p?  Its whole store: everything; its disk:
 * what is no more urgent than what it refused (the most urgent may use
 * half of the disk reserve there, store.c); a queue: the messages for
 * that queue of p itself. */
static int
full_matches(const struct link_full *e, const struct lpeer *p,
	     const struct ferry_msg *m)
{
	if (e->f.what == PEER_FULL_DISK)
		return m->priority <= e->f.prio;
	return e->f.what != PEER_FULL_QUEUE ||
	       (strcmp(m->dst_node, p->cfg.name) == 0 &&
		strcmp(m->dst_queue, e->f.queue) == 0);
}

static void
full_remove(struct lpeer *p, size_t i)
{
	p->full[i] = p->full[p->nfull - 1];
	__atomic_store_n(&p->nfull, p->nfull - 1, __ATOMIC_RELAXED);
}

void
link_full_note(struct link *lk, struct lpeer *p, const struct ferry_msg *m,
	       uint8_t reason)
{
	int64_t now = ferry_wall_ms(), backoff;
	int what = full_what(reason), fresh = 0, again = 0;
	const char *queue = "";
	struct link_full *e = NULL;

	/* Only a queue of the peer itself can be full there: one of a node
	 * further on would be that node's to refuse.  Taken as the whole
	 * store, so it waits rather than bouncing. */
	if (what == PEER_FULL_QUEUE && strcmp(m->dst_node, p->cfg.name) != 0)
		what = PEER_FULL_STORE;
	if (what == PEER_FULL_QUEUE)
		queue = m->dst_queue;
	pthread_mutex_lock(&lk->mu);
	for (size_t i = 0; i < p->nfull && e == NULL; i++)
		if (p->full[i].f.what == what &&
		    strcmp(p->full[i].f.queue, queue) == 0)
			e = &p->full[i];
	if (e != NULL && full_forgotten(e, now)) {
		fresh = 1;
	} else if (e == NULL) {
		/* No room for one more: the run whose retry comes first
		 * makes room (its messages go at once, and tell again). */
		if (p->nfull == PEER_FULL_MAX) {
			e = &p->full[0];
			for (size_t i = 1; i < p->nfull; i++)
				if (p->full[i].f.retry_ms < e->f.retry_ms)
					e = &p->full[i];
		} else {
			e = &p->full[p->nfull];
			__atomic_store_n(&p->nfull, p->nfull + 1,
					 __ATOMIC_RELAXED);
		}
		fresh = 1;
	} else if (now >= e->f.retry_ms) {
		/* Offered again and refused again: wait longer. */
		e->backoff_ms = e->backoff_ms * 2 > p->cfg.retry_max_ms
				    ? p->cfg.retry_max_ms
				    : e->backoff_ms * 2;
		e->f.retry_ms = now + e->backoff_ms;
		e->told = 0;
		e->probe_ms = 0;
		again = 1;
	}
	/* else: more of the same round, sent before the first refusal */
	if (fresh) {
		memset(e, 0, sizeof(*e));
		e->f.what = what;
		snprintf(e->f.queue, sizeof(e->f.queue), "%s", queue);
		e->f.since_ms = now;
		e->backoff_ms = p->cfg.retry_min_ms;
		e->f.retry_ms = now + e->backoff_ms;
	}
	if (fresh || m->priority > e->f.prio)
		e->f.prio = m->priority;
	backoff = e->backoff_ms;
	pthread_mutex_unlock(&lk->mu);
	if (!fresh && !again)
		return;
	if (what == PEER_FULL_QUEUE)
		log_info("peer %s: queue %s is %sfull there (its quota): its "
			 "messages wait here; one is offered again in %.1f s",
			 p->cfg.name, queue, again ? "still " : "",
			 (double)backoff / 1000.0);
	else
		log_info(
		    "peer %s: its %s is %sfull (%s): messages for it "
		    "wait here; one is offered again in %.1f s",
		    p->cfg.name, what == PEER_FULL_STORE ? "store" : "disk",
		    again ? "still " : "",
		    what == PEER_FULL_STORE ? "store_quota" : "disk_reserve",
		    (double)backoff / 1000.0);
}

int
link_full_holds(struct link *lk, struct lpeer *p, const struct ferry_msg *m)
{
	int64_t now;
	int held = 0;

	if (__atomic_load_n(&p->nfull, __ATOMIC_RELAXED) == 0)
		return 0;
	now = ferry_wall_ms();
	pthread_mutex_lock(&lk->mu);
	for (size_t i = 0; i < p->nfull && !held; i++) {
		const struct link_full *e = &p->full[i];
		/* Before its retry; after it, while the one message let
		 * through (the probe) has not had its answer. */
		held = full_matches(e, p, m) &&
		       (e->f.retry_ms > now ||
			(e->probe_ms != 0 &&
			 now - e->probe_ms < LINK_FULL_PROBE_MS &&
			 memcmp(e->probe_id, m->id, FERRY_ID_LEN) != 0));
	}
	/* Not held: m is the probe of each run it belongs to. */
	for (size_t i = 0; i < p->nfull && !held; i++)
		if (full_matches(&p->full[i], p, m) &&
		    (p->full[i].probe_ms == 0 ||
		     memcmp(p->full[i].probe_id, m->id, FERRY_ID_LEN) != 0)) {
			p->full[i].probe_ms = now;
			memcpy(p->full[i].probe_id, m->id, FERRY_ID_LEN);
		}
	pthread_mutex_unlock(&lk->mu);
	return held;
}

int
link_full_concerns(struct link *lk, struct lpeer *p, const struct ferry_msg *m)
{
	int hit = 0;

	if (__atomic_load_n(&p->nfull, __ATOMIC_RELAXED) == 0)
		return 0;
	pthread_mutex_lock(&lk->mu);
	for (size_t i = 0; i < p->nfull && !hit; i++)
		hit = full_matches(&p->full[i], p, m);
	pthread_mutex_unlock(&lk->mu);
	return hit;
}

int
link_full_clear(struct link *lk, struct lpeer *p, const struct ferry_msg *m)
{
	struct peer_full gone[PEER_FULL_MAX];
	size_t ngone = 0;

	pthread_mutex_lock(&lk->mu);
	for (size_t i = 0; i < p->nfull;) {
		if (!full_matches(&p->full[i], p, m)) {
			i++;
			continue;
		}
		gone[ngone++] = p->full[i].f;
		full_remove(p, i);
	}
	pthread_mutex_unlock(&lk->mu);
	for (size_t i = 0; i < ngone; i++)
		if (gone[i].what == PEER_FULL_QUEUE)
			log_info("peer %s: queue %s has room again there",
				 p->cfg.name, gone[i].queue);
		else
			log_info("peer %s: its %s has room again", p->cfg.name,
				 gone[i].what == PEER_FULL_STORE ? "store"
								 : "disk");
	return (int)ngone;
}

int
link_full_due(struct link *lk, struct lpeer *p)
{
	int64_t now;
	int due = 0;

	if (__atomic_load_n(&p->nfull, __ATOMIC_RELAXED) == 0)
		return 0;
	now = ferry_wall_ms();
	pthread_mutex_lock(&lk->mu);
	for (size_t i = 0; i < p->nfull;) {
		struct link_full *e = &p->full[i];

		if (full_forgotten(e, now)) {
			full_remove(p, i);
			continue;
		}
		if (!e->told && e->f.retry_ms <= now) {
			e->told = 1;
			due = 1;
		}
		i++;
	}
	pthread_mutex_unlock(&lk->mu);
	return due;
}

void
link_full_status(const struct lpeer *p, struct peer_status *o)
{
	int64_t now = ferry_wall_ms();

	o->nfull = 0;
	for (size_t i = 0; i < p->nfull && o->nfull < PEER_FULL_MAX; i++)
		if (!full_forgotten(&p->full[i], now))
			o->full[o->nfull++] = p->full[i].f;
}
