/*
 * engine.c - the forwarding engine (see engine.h).
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/agent.h"
#include "agent/engine.h"
#include "agent/carry.h"
#include "agent/split.h"
#include "lib/util.h"
#include "transports/identity.h"

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
		if (__atomic_exchange_n(&ag->carry_wake, 0, __ATOMIC_ACQ_REL))
			carry_poke(ag);
		notify_all(ag);
	}
}

void
engine_arrived(struct agent *ag, const char *queue)
{
	uint64_t one = 1;

	if (queue != NULL && strcmp(queue, FERRY_BUNDLE_QUEUE) == 0)
		__atomic_store_n(&ag->carry_wake, 1, __ATOMIC_RELEASE);
	/* One wake-up is enough however many arrive before the loop runs. */
	if (__atomic_exchange_n(&ag->arrival_wake, 1, __ATOMIC_ACQ_REL))
		return;
	if (write(ag->arrival_efd, &one, sizeof(one)) != sizeof(one))
		log_debug("engine: eventfd write failed: %s", strerror(errno));
}

/* -------------------------------------------------------------- routes */

/*
 * The routes in use: a copy of [route] and of the peers' names, which a
 * SIGHUP replaces on the loop while transport threads read them.  One
 * engine per process (one agent), so the transports and the intake
 * reach it without a pointer to the agent.
 */
struct known_key {
	char name[FERRY_NODE_MAX + 1];
	uint8_t sign_pk[32];
	uint8_t kx_pk[32]; /* X25519: what --seal encrypts to */
};

static struct {
	pthread_rwlock_t lock;
	struct policy_route *r;
	size_t n;
	char (*peers)[FERRY_NODE_MAX + 1];
	size_t npeers;
	/* keys of peers and [directory] nodes: origins, --seal */
	struct known_key *keys;
	size_t nkeys;
	/* [queue NAME] require_verified = yes */
	char (*strict)[FERRY_QUEUE_MAX + 1];
	size_t nstrict;
	unsigned hop_limit;
	struct agent *ag;
	char me[FERRY_NODE_MAX + 1];   /* this node */
	char site[FERRY_NODE_MAX + 1]; /* [node] site, or "" */
} routes = {.lock = PTHREAD_RWLOCK_INITIALIZER};

static int
is_peer_locked(const char *node)
{
	for (size_t i = 0; i < routes.npeers; i++)
		if (strcmp(routes.peers[i], node) == 0)
			return 1;
	return 0;
}

static const struct policy_route *
route_find_locked(const char *node)
{
	if (node[0] == '@')
		return NULL; /* a group message to split: no peer takes it */
	for (size_t i = 0; i < routes.n; i++)
		if (fnmatch(routes.r[i].pattern, node, 0) == 0)
			return &routes.r[i];
	return NULL;
}

static void router_limit(unsigned n);

int
engine_routes_set(struct agent *ag)
{
	const struct policy *p = &ag->pol;
	struct policy_route *r = NULL;
	char(*peers)[FERRY_NODE_MAX + 1] = NULL;
	char(*strict)[FERRY_QUEUE_MAX + 1] = NULL;
	struct known_key *keys = NULL;
	size_t nkeys = p->npeers + p->ndirectory, nstrict = 0;

	r = calloc(p->nroutes ? p->nroutes : 1, sizeof(*r));
	peers = calloc(p->npeers ? p->npeers : 1, sizeof(*peers));
	keys = calloc(nkeys ? nkeys : 1, sizeof(*keys));
	strict = calloc(p->nqueues ? p->nqueues : 1, sizeof(*strict));
	if (r == NULL || peers == NULL || keys == NULL || strict == NULL) {
		free(r);
		free(peers);
		free(keys);
		free(strict);
		return FERRY_ENOMEM;
	}
	if (p->nroutes > 0)
		memcpy(r, p->routes, p->nroutes * sizeof(*r));
	for (size_t i = 0; i < p->npeers; i++) {
		memcpy(peers[i], p->peers[i].name, sizeof(peers[i]));
		memcpy(keys[i].name, p->peers[i].name, sizeof(keys[i].name));
		memcpy(keys[i].sign_pk, p->peers[i].sign_pk, 32);
		memcpy(keys[i].kx_pk, p->peers[i].kx_pk, 32);
	}
	for (size_t i = 0; i < p->ndirectory; i++) {
		struct known_key *k = &keys[p->npeers + i];
		memcpy(k->name, p->directory[i].name, sizeof(k->name));
		memcpy(k->sign_pk, p->directory[i].sign_pk, 32);
		memcpy(k->kx_pk, p->directory[i].kx_pk, 32);
	}
	for (size_t i = 0; i < p->nqueues; i++)
		if (p->queues[i].require_verified)
			memcpy(strict[nstrict++], p->queues[i].name,
			       sizeof(strict[0]));
	pthread_rwlock_wrlock(&routes.lock);
	free(routes.r);
	free(routes.peers);
	free(routes.keys);
	free(routes.strict);
	routes.r = r;
	routes.n = p->nroutes;
	routes.peers = peers;
	routes.npeers = p->npeers;
	routes.keys = keys;
	routes.nkeys = nkeys;
	routes.strict = strict;
	routes.nstrict = nstrict;
	routes.hop_limit = p->hop_limit ? p->hop_limit : POLICY_HOP_LIMIT;
	routes.ag = ag;
	snprintf(routes.me, sizeof(routes.me), "%s", p->node_name);
	snprintf(routes.site, sizeof(routes.site), "%s", p->site);
	router_limit(routes.hop_limit);
	pthread_rwlock_unlock(&routes.lock);
	return 0;
}

static void
routes_clear(void)
{
	pthread_rwlock_wrlock(&routes.lock);
	free(routes.r);
	free(routes.peers);
	free(routes.keys);
	free(routes.strict);
	routes.r = NULL;
	routes.peers = NULL;
	routes.keys = NULL;
	routes.strict = NULL;
	routes.n = routes.npeers = routes.nkeys = routes.nstrict = 0;
	routes.ag = NULL;
	pthread_rwlock_unlock(&routes.lock);
}

int
engine_hops(const char *node, const char *path, char out[][FERRY_NODE_MAX + 1],
	    size_t cap, size_t *n)
{
	const struct policy_route *r;
	int rc = ENGINE_NO_ROUTE;

	*n = 0;
	pthread_rwlock_rdlock(&routes.lock);
	if (is_peer_locked(node)) {
		rc = ENGINE_DIRECT;
		if (cap > 0)
			snprintf(out[(*n)++], FERRY_NODE_MAX + 1, "%s", node);
	} else if ((r = route_find_locked(node)) != NULL) {
		rc = ENGINE_LOOP;
		for (size_t i = 0; i < r->npeers; i++) {
			if (path != NULL && route_path_has(path, r->peers[i]))
				continue;
			rc = ENGINE_ROUTED;
			if (*n < cap)
				snprintf(out[(*n)++], FERRY_NODE_MAX + 1, "%s",
					 r->peers[i]);
		}
	}
	pthread_rwlock_unlock(&routes.lock);
	return rc;
}

int
engine_group_key(const char *me, const char *member, const char *path)
{
	int key = ENGINE_PART_NONE;

	if (strcmp(member, me) == 0)
		return ENGINE_PART_SELF;
	pthread_rwlock_rdlock(&routes.lock);
	for (size_t i = 0; i < routes.npeers; i++)
		if (strcmp(routes.peers[i], member) == 0) {
			key = route_path_has(path, member) ? ENGINE_PART_LOOP
							   : (int)i;
			break;
		}
	if (key == ENGINE_PART_NONE) {
		for (size_t i = 0; i < routes.n; i++) {
			const struct policy_route *r = &routes.r[i];
			if (fnmatch(r->pattern, member, 0) != 0)
				continue;
			key = ENGINE_PART_LOOP;
			for (size_t j = 0; j < r->npeers; j++)
				if (!route_path_has(path, r->peers[j]))
					key = (int)(routes.npeers + i);
			break;
		}
	}
	pthread_rwlock_unlock(&routes.lock);
	return key;
}

int
engine_carrier(const char *peer)
{
	int yes = 0;

	pthread_rwlock_rdlock(&routes.lock);
	for (size_t i = 0; i < routes.n && !yes; i++)
		for (size_t j = 0; j < routes.r[i].npeers && !yes; j++)
			yes = strcmp(routes.r[i].peers[j], peer) == 0;
	pthread_rwlock_unlock(&routes.lock);
	return yes;
}

/* Is peer a next hop of a message for node that visited path? */
static int
hop_of_locked(const char *node, const char *path, const char *peer)
{
	const struct policy_route *r;

	if (strcmp(node, peer) == 0)
		return 1;
	if (is_peer_locked(node) || route_path_has(path, peer))
		return 0;
	r = route_find_locked(node);
	for (size_t i = 0; r != NULL && i < r->npeers; i++)
		if (strcmp(r->peers[i], peer) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------- the intake's view */

static enum intake_route
router_route(const struct ferry_msg *m, const char *path)
{
	char hops[POLICY_ROUTE_PEERS][FERRY_NODE_MAX + 1];
	size_t n;

	switch (engine_hops(m->dst_node, path, hops, POLICY_ROUTE_PEERS, &n)) {
	case ENGINE_DIRECT:
		return route_path_has(path, m->dst_node) ? INTAKE_ROUTE_LOOP
							 : INTAKE_ROUTE_ON;
	case ENGINE_ROUTED:
		return INTAKE_ROUTE_ON;
	case ENGINE_LOOP:
		return INTAKE_ROUTE_LOOP;
	}
	return INTAKE_ROUTE_NONE;
}

int
engine_origin_check(const struct ferry_msg *m, const uint8_t hash[32],
		    const uint8_t sig[64])
{
	uint8_t bytes[HOP_ORIGIN_MAX], pk[32];
	size_t n;
	int found = 0;

	pthread_rwlock_rdlock(&routes.lock);
	for (size_t i = 0; i < routes.nkeys && !found; i++)
		if (strcmp(routes.keys[i].name, m->src_node) == 0) {
			memcpy(pk, routes.keys[i].sign_pk, sizeof(pk));
			found = 1;
		}
	pthread_rwlock_unlock(&routes.lock);
	if (!found)
		return 0;
	n = hop_origin_bytes(m, hash, bytes, sizeof(bytes));
	if (n == 0)
		return -1;
	return identity_verify(pk, HOP_ORIGIN_LABEL, bytes, n, sig) == 0 ? 1
									 : -1;
}

int
engine_node_by_fpr(const char *fpr, char name[FERRY_NODE_MAX + 1])
{
	char f[IDENTITY_FPR_LEN + 1];
	int found = 0;

	pthread_rwlock_rdlock(&routes.lock);
	for (size_t i = 0; i < routes.nkeys && !found; i++) {
		identity_fingerprint(routes.keys[i].sign_pk,
				     routes.keys[i].kx_pk, f);
		if (strcasecmp(f, fpr) == 0) {
			snprintf(name, FERRY_NODE_MAX + 1, "%s",
				 routes.keys[i].name);
			found = 1;
		}
	}
	pthread_rwlock_unlock(&routes.lock);
	return found ? 0 : FERRY_ENOTFOUND;
}

int
engine_node_kx(const char *node, uint8_t pk[32])
{
	int found = 0;

	pthread_rwlock_rdlock(&routes.lock);
	for (size_t i = 0; i < routes.nkeys && !found; i++)
		if (strcmp(routes.keys[i].name, node) == 0) {
			memcpy(pk, routes.keys[i].kx_pk, 32);
			found = 1;
		}
	pthread_rwlock_unlock(&routes.lock);
	return found ? 0 : FERRY_ENOTFOUND;
}

static int
router_strict(const char *queue)
{
	int yes = 0;

	pthread_rwlock_rdlock(&routes.lock);
	for (size_t i = 0; i < routes.nstrict && !yes; i++)
		yes = strcmp(routes.strict[i], queue) == 0;
	pthread_rwlock_unlock(&routes.lock);
	return yes;
}

static void
router_kick(const char *node, unsigned prio)
{
	struct agent *ag;

	pthread_rwlock_rdlock(&routes.lock);
	ag = routes.ag;
	pthread_rwlock_unlock(&routes.lock);
	if (ag != NULL)
		engine_kick(ag, node, prio);
}

static int
router_group_key(const char *member, const char *path)
{
	char me[FERRY_NODE_MAX + 1] = "";

	pthread_rwlock_rdlock(&routes.lock);
	if (routes.ag != NULL)
		snprintf(me, sizeof(me), "%s", routes.me);
	pthread_rwlock_unlock(&routes.lock);
	return engine_group_key(me, member, path);
}

static void
router_arrived(const char *queue)
{
	struct agent *ag;

	pthread_rwlock_rdlock(&routes.lock);
	ag = routes.ag;
	pthread_rwlock_unlock(&routes.lock);
	if (ag != NULL)
		engine_arrived(ag, queue);
}

static int
router_site(const char *node)
{
	int yes;

	pthread_rwlock_rdlock(&routes.lock);
	yes = routes.site[0] != '\0' && strcmp(node, routes.site) == 0;
	pthread_rwlock_unlock(&routes.lock);
	return yes;
}

static struct intake_router router = {
    .route = router_route,
    .group_key = router_group_key,
    .split_kick = split_kick,
    .site = router_site,
    .kick = router_kick,
    .arrived = router_arrived,
    .carrier = engine_carrier,
    .origin_check = engine_origin_check,
    .require_verified = router_strict,
    .hop_limit = POLICY_HOP_LIMIT,
};

static void
router_limit(unsigned n)
{
	__atomic_store_n(&router.hop_limit, n, __ATOMIC_RELAXED);
}

const struct intake_router *
engine_router(void)
{
	return &router;
}

unsigned
engine_hop_limit(void)
{
	unsigned n;

	pthread_rwlock_rdlock(&routes.lock);
	n = routes.hop_limit ? routes.hop_limit : POLICY_HOP_LIMIT;
	pthread_rwlock_unlock(&routes.lock);
	return n;
}

/* BLAKE2b-256 of id's stored payload (len bytes). */
static int
payload_hash(struct store *st, const uint8_t *id, uint64_t len,
	     uint8_t out[HOP_HASH_LEN])
{
	crypto_generichash_state hs;
	struct store_reader *rd = NULL;
	uint8_t *buf;
	uint64_t done = 0;
	int rc;

	if ((rc = store_reader_open(st, id, &rd)) != 0)
		return rc;
	buf = malloc(STORE_CHUNK_BYTES);
	rc = buf == NULL ? FERRY_ENOMEM : 0;
	crypto_generichash_init(&hs, NULL, 0, HOP_HASH_LEN);
	while (rc == 0 && done < len) {
		size_t n = 0;
		rc = store_reader_read(rd, buf, STORE_CHUNK_BYTES, &n);
		if (rc == 0 && n == 0)
			rc = FERRY_ECORRUPT;
		if (rc == 0) {
			crypto_generichash_update(&hs, buf, n);
			done += n;
		}
	}
	store_reader_close(rd);
	free(buf);
	if (rc == 0)
		crypto_generichash_final(&hs, out, HOP_HASH_LEN);
	return rc;
}

int
engine_hop_fill(struct hop_msg *hm, const struct store_msg_info *i,
		const char *me, const char *peer, struct store *st)
{
	int relayed = i->route.path[0] != '\0';
	int onward = strcmp(i->msg.dst_node, peer) != 0;

	if (relayed || onward) {
		/* The intake kept room for this node's name (intake_msg). */
		if (route_path_append(i->route.path, me, hm->path,
				      sizeof(hm->path)) != 0)
			hm->path[0] = '\0';
	}
	if (i->route.group[0] != '\0') {
		memcpy(hm->group, i->route.group, sizeof(hm->group));
		memcpy(hm->group_id, i->route.group_id, FERRY_ID_LEN);
		memcpy(hm->members, i->route.members, sizeof(hm->members));
	}
	if (i->route.hop_limit != 0)
		hm->hop_limit = i->route.hop_limit;
	else if (onward)
		hm->hop_limit = (uint8_t)engine_hop_limit();
	if (i->route.sig_flags & STORE_ROUTE_SIGNED) {
		memcpy(hm->origin_sig, i->route.origin_sig, HOP_SIG_LEN);
		hm->has_sig = 1;
	} else if (onward && strcmp(i->msg.src_node, me) == 0) {
		/* Made here, going through relays: signed now, so that its
		 * destination can tell it is ours (Ed25519 is deterministic:
		 * every attempt sends the same signature). */
		uint8_t hash[HOP_HASH_LEN], bytes[HOP_ORIGIN_MAX];
		struct agent *ag;
		size_t n;
		int rc = payload_hash(st, i->msg.id, i->msg.payload_len, hash);

		if (rc != 0)
			return rc;
		n = hop_origin_bytes(&i->msg, hash, bytes, sizeof(bytes));
		pthread_rwlock_rdlock(&routes.lock);
		ag = routes.ag;
		rc = ag == NULL || n == 0
			 ? FERRY_ECLOSED
			 : identity_sign(ag->id, HOP_ORIGIN_LABEL, bytes, n,
					 hm->origin_sig);
		pthread_rwlock_unlock(&routes.lock);
		if (rc != 0)
			return rc;
		hm->has_sig = 1;
	}
	return 0;
}

/* --------------------------------------------------------------- kicks */

static void
kick_peer(struct agent *ag, const char *peer, unsigned prio)
{
	for (size_t i = 0; i < ag->nepeers; i++)
		if (strcmp(ag->epeers[i].name, peer) == 0) {
			__atomic_add_fetch(&ag->epeers[i].kicks, 1,
					   __ATOMIC_RELAXED);
			break;
		}
	for (size_t t = 0; ferry_transports[t] != NULL; t++)
		if (ferry_transports[t]->kick != NULL && ag->tstate[t] != NULL)
			ferry_transports[t]->kick(ag->tstate[t], peer, prio);
}

void
engine_kick(struct agent *ag, const char *node, unsigned prio)
{
	char hops[POLICY_ROUTE_PEERS][FERRY_NODE_MAX + 1];
	size_t n = 0;

	/* A peer, or every peer of its route (which of them carries it
	 * is decided by who takes it first).  No route: it waits. */
	(void)engine_hops(node, NULL, hops, POLICY_ROUTE_PEERS, &n);
	for (size_t i = 0; i < n; i++)
		kick_peer(ag, hops[i], prio);
}

int
engine_cut(struct agent *ag, const char *node, struct store_tap *t)
{
	for (size_t t_i = 0; ferry_transports[t_i] != NULL; t_i++)
		if (ferry_transports[t_i]->cut != NULL &&
		    ag->tstate[t_i] != NULL &&
		    ferry_transports[t_i]->cut(ag->tstate[t_i], node, t))
			return 1;
	return 0;
}

void
engine_kick_all(struct agent *ag)
{
	for (size_t i = 0; i < ag->nepeers; i++)
		kick_peer(ag, ag->epeers[i].name, 0);
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
	int all; /* walking every outbound message: filter by route */
};

static int
pick_one(const struct store_msg_info *i, void *arg)
{
	struct pick *p = arg;
	const struct engine_filter *f = p->f;

	if (!p->all && strcmp(i->msg.dst_node, f->peer) != 0)
		return 0;
	if (p->all && !hop_of_locked(i->msg.dst_node, i->route.path, f->peer))
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
	struct pick p = {f, out, cap, 0, 0};
	int rc;

	*n = 0;
	if (cap == 0)
		return 0;
	/* A peer that no route goes through gets only its own messages:
	 * a walk of those alone.  One that routes go through walks every
	 * outbound message, in the same order, keeping its hops'. */
	pthread_rwlock_rdlock(&routes.lock);
	for (size_t i = 0; i < routes.n && !p.all; i++)
		for (size_t j = 0; j < routes.r[i].npeers && !p.all; j++)
			p.all = strcmp(routes.r[i].peers[j], f->peer) == 0;
	rc = store_out_scan(st, p.all ? NULL : f->peer, pos, 0, pick_one, &p);
	pthread_rwlock_unlock(&routes.lock);
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
	if (engine_routes_set(ag) != 0)
		return -1;
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
	routes_clear();
}
