/*
 * split.c - group messages (docs/groups.md): `ferry send @GROUP/QUEUE`
 * resolves the group's members here, and a thread of its own splits a
 * group message into one copy per next hop, as late as possible: at the
 * source, and again at every relay where the members' ways part.
 *
 * A message waiting to be split is outbound with the destination
 * STORE_SPLIT_DST ("@"), which no peer takes.  Splitting makes its
 * copies (each an ordinary message with a custody of its own, for the
 * first of its members) and then removes it (store_out_split), in that
 * order: a crash in between makes the same copies again, under the same
 * ids (derived from the group id and the members of the copy), which the
 * store refuses as duplicates.  A member's own copy has the id derived
 * from the group id and its name alone, whatever way it came, so a
 * member stores a group message once.
 */
#include "config.h"

#include <fnmatch.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/engine.h"
#include "agent/intake.h"
#include "agent/log.h"
#include "agent/msgid.h"
#include "agent/split.h"
#include "lib/util.h"

#define SPLIT_BATCH	 32	    /* messages split per store walk */
#define SPLIT_RETRY_MS	 30000	    /* after a store error */
#define SPLIT_INLINE_MAX (1u << 20) /* copies put whole, not streamed */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int running, stop, kicked;
	char me[FERRY_NODE_MAX + 1]; /* ag->pol changes on SIGHUP */
} sp = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void
split_kick(void)
{
	pthread_mutex_lock(&sp.mu);
	sp.kicked = 1;
	pthread_cond_signal(&sp.cv);
	pthread_mutex_unlock(&sp.mu);
}

/* ------------------------------------------------------------ resolve */

static int
names_add(char *list, size_t cap, const char *name)
{
	size_t n = strlen(list);

	if (route_path_has(list, name))
		return 0;
	if (n + (n > 0) + strlen(name) >= cap)
		return -1;
	if (n > 0)
		list[n++] = ',';
	snprintf(list + n, cap - n, "%s", name);
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Does name match one of g's patterns? */
static int
member_of(const struct policy_group *g, const char *name)
{
	for (size_t i = 0; i < g->npatterns; i++)
		if (fnmatch(g->patterns[i], name, 0) == 0)
			return 1;
	return 0;
}

/* A [route] pattern without wildcards names one node. */
static int
literal(const char *pattern)
{
	return strpbrk(pattern, "*?[") == NULL;
}

int
split_resolve(const struct policy *p, const char *group, char *out, size_t cap,
	      char *why, size_t whylen)
{
	const struct policy_group *g = policy_group_find(p, group);
	char *cand = NULL, **v = NULL;
	size_t nv = 0, ccap;
	int rc = 0;

	out[0] = '\0';
	if (g == NULL) {
		snprintf(why, whylen,
			 "no [group %s] in ferry.conf (add one with members "
			 "= NODE-PATTERN[, ...], then send ferryd SIGHUP)",
			 group);
		return FERRY_ENOROUTE;
	}
	/* Every node known here, once, sorted: the copies' ids depend on
	 * the order, which must not depend on ferry.conf's. */
	ccap = (p->npeers + p->ndirectory + p->nroutes + 1) *
		   (FERRY_NODE_MAX + 1) +
	       1;
	cand = calloc(1, ccap);
	v = calloc(p->npeers + p->ndirectory + p->nroutes + 1, sizeof(*v));
	if (cand == NULL || v == NULL) {
		free(cand);
		free(v);
		return FERRY_ENOMEM;
	}
	{
		char *w = cand;
#define CAND(name)                                                             \
	do {                                                                   \
		int dup = 0;                                                   \
		for (size_t k_ = 0; k_ < nv && !dup; k_++)                     \
			dup = strcmp(v[k_], (name)) == 0;                      \
		if (!dup && member_of(g, (name))) {                            \
			snprintf(w, FERRY_NODE_MAX + 1, "%s", (name));         \
			v[nv++] = w;                                           \
			w += FERRY_NODE_MAX + 1;                               \
		}                                                              \
	} while (0)
		CAND(p->node_name);
		for (size_t i = 0; i < p->npeers; i++)
			CAND(p->peers[i].name);
		for (size_t i = 0; i < p->ndirectory; i++)
			CAND(p->directory[i].name);
		for (size_t i = 0; i < p->nroutes; i++)
			if (literal(p->routes[i].pattern))
				CAND(p->routes[i].pattern);
#undef CAND
	}
	qsort(v, nv, sizeof(*v), cmp_names);
	for (size_t i = 0; i < nv && rc == 0; i++)
		if (names_add(out, cap, v[i]) != 0) {
			snprintf(why, whylen,
				 "group %s has more members than one message "
				 "can name (%zu bytes of names; split the "
				 "group)",
				 group, cap - 1);
			rc = FERRY_EINVAL;
		}
	if (rc == 0 && nv == 0) {
		snprintf(why, whylen,
			 "group %s has no member this node knows: a member "
			 "must be a [peer], a [directory] node, a [route] "
			 "line without wildcards, or this node",
			 group);
		rc = FERRY_ENOROUTE;
	}
	free(cand);
	free(v);
	return rc;
}

/* -------------------------------------------------------------- split */

struct part {
	int key;
	char members[STORE_PATH_MAX + 1];
};

/* Copy src's payload into a new message (m, route). */
static int
copy_put(struct store *st, const struct store_msg_info *src,
	 const struct ferry_msg *m, const struct store_route *route)
{
	struct store_reader *rd = NULL;
	struct store_writer *w = NULL;
	uint8_t *buf;
	uint64_t done = 0;
	size_t cap = src->msg.payload_len < SPLIT_INLINE_MAX
			 ? (size_t)src->msg.payload_len
			 : STORE_CHUNK_BYTES;
	int rc;

	if ((rc = store_reader_open(st, src->msg.id, &rd)) != 0)
		return rc;
	buf = malloc(cap ? cap : 1);
	if (buf == NULL) {
		store_reader_close(rd);
		return FERRY_ENOMEM;
	}
	if (src->msg.payload_len < SPLIT_INLINE_MAX) {
		struct store_put_req req = {0};
		while (rc == 0 && done < src->msg.payload_len) {
			size_t n = 0;
			rc = store_reader_read(rd, buf + done, cap - done, &n);
			if (rc == 0 && n == 0)
				rc = FERRY_ECORRUPT;
			done += n;
		}
		req.msg = m;
		req.payload = buf;
		req.len = cap;
		req.route = route;
		if (rc == 0)
			rc = store_put_batch(st, &req, 1);
		if (rc == 0)
			rc = req.result;
		goto out;
	}
	rc = intake_writer_anew(st, m, route, &w);
	while (rc == 0 && done < src->msg.payload_len) {
		size_t n = 0;
		rc = store_reader_read(rd, buf, cap, &n);
		if (rc == 0 && n == 0)
			rc = FERRY_ECORRUPT;
		if (rc == 0)
			rc = store_writer_write(w, buf, n);
		done += n;
	}
	if (w != NULL) {
		if (rc == 0)
			rc = store_writer_commit(w);
		else
			store_writer_abort(w);
	}
out:
	store_reader_close(rd);
	free(buf);
	return rc;
}

static int
split_one(struct agent *ag, const struct store_msg_info *i)
{
	const char *me = sp.me;
	const struct store_route *rt = &i->route;
	struct part *parts;
	size_t np = 0, nmembers = route_path_len(rt->members);
	const char *p = rt->members;
	char hex[FERRY_ID_HEX_LEN + 1];
	int made_here = strcmp(i->msg.src_node, me) == 0 && rt->path[0] == 0;
	int rc = 0;

	ferry_id_to_hex(rt->group_id, hex);
	parts = calloc(nmembers ? nmembers : 1, sizeof(*parts));
	if (parts == NULL)
		return FERRY_ENOMEM;
	while (*p != '\0') {
		char name[FERRY_NODE_MAX + 1];
		size_t n = strcspn(p, ","), k;
		int key;
		if (n > FERRY_NODE_MAX)
			break;
		memcpy(name, p, n);
		name[n] = '\0';
		key = engine_group_key(me, name, rt->path);
		if (key == ENGINE_PART_NONE && made_here)
			key = ENGINE_PART_NONE - 100 - (int)np; /* alone */
		for (k = 0; k < np && parts[k].key != key; k++)
			;
		if (k == np)
			parts[np++].key = key;
		if (names_add(parts[k].members, sizeof(parts[k].members),
			      name) != 0) {
			rc = FERRY_EINVAL;
			break;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	for (size_t k = 0; k < np && rc == 0; k++) {
		struct ferry_msg m = i->msg;
		struct store_route r = *rt;
		char first[FERRY_NODE_MAX + 1];

		route_path_first(parts[k].members, first);
		r.sig_flags = 0; /* its signature named the split message */
		memset(r.origin_sig, 0, sizeof(r.origin_sig));
		r.dead = STORE_DEAD_NONE;
		if (parts[k].key == ENGINE_PART_SELF) {
			snprintf(m.dst_node, sizeof(m.dst_node), "%s", me);
			r.members[0] = '\0';
			msgid_group_copy(rt->group_id, me, m.id);
		} else {
			snprintf(m.dst_node, sizeof(m.dst_node), "%s", first);
			memcpy(r.members, parts[k].members, sizeof(r.members));
			msgid_group_copy(rt->group_id, parts[k].members, m.id);
			if (parts[k].key == ENGINE_PART_NONE)
				r.dead = STORE_DEAD_NO_ROUTE;
			else if (parts[k].key == ENGINE_PART_LOOP)
				r.dead = STORE_DEAD_LOOP;
		}
		rc = copy_put(ag->store, i, &m, &r);
		if (rc == FERRY_EDUPLICATE)
			rc = 0; /* made before a crash, or it came already */
		if (rc != 0) {
			log_warn("group message %s for @%s: its copy for %s "
				 "could not be stored (%s); tried again later",
				 hex, rt->group, parts[k].members,
				 ferry_strerror(rc));
			break;
		}
		if (r.dead != STORE_DEAD_NONE)
			log_warn("group message %s for @%s: %s cannot be "
				 "reached from here (%s); their copy went to "
				 "dead",
				 hex, rt->group, parts[k].members,
				 r.dead == STORE_DEAD_LOOP ? "every next hop "
							     "has held it"
							   : "no route");
	}
	if (rc == 0 && (rc = store_out_split(ag->store, i->msg.id)) != 0 &&
	    rc != FERRY_ENOTFOUND)
		log_warn("group message %s for @%s: split, but it could not "
			 "be removed (%s); tried again later",
			 hex, rt->group, ferry_strerror(rc));
	if (rc == FERRY_ENOTFOUND)
		rc = 0;
	if (rc == 0) {
		log_debug("group message %s for @%s: %zu cop%s made here", hex,
			  rt->group, np, np == 1 ? "y" : "ies");
		for (size_t k = 0; k < np; k++) {
			char first[FERRY_NODE_MAX + 1];
			route_path_first(parts[k].members, first);
			if (parts[k].key == ENGINE_PART_SELF)
				engine_arrived(ag, i->msg.dst_queue);
			else if (parts[k].key >= 0)
				engine_kick(ag, first, i->msg.priority);
		}
	}
	free(parts);
	return rc;
}

struct batch {
	struct store_msg_info *v;
	size_t n;
};

static int
collect(const struct store_msg_info *i, void *arg)
{
	struct batch *b = arg;

	if (i->route.group[0] != '\0')
		b->v[b->n++] = *i;
	return b->n == SPLIT_BATCH;
}

/* Split what waits; 0, or a store error (tried again later). */
static int
split_round(struct agent *ag)
{
	struct batch b = {calloc(SPLIT_BATCH, sizeof(*b.v)), 0};
	struct store_out_pos pos;
	int rc = 0, failed = 0;

	if (b.v == NULL)
		return FERRY_ENOMEM;
	/* One that fails (logged) is tried again later; those after it
	 * go on now: the walk goes on from where it is. */
	memset(&pos, 0, sizeof(pos));
	do {
		b.n = 0;
		rc = store_out_scan(ag->store, STORE_SPLIT_DST, &pos,
				    SPLIT_BATCH, collect, &b);
		for (size_t k = 0; k < b.n && rc == 0; k++)
			if (split_one(ag, &b.v[k]) != 0)
				failed = 1;
	} while (rc == 0 && b.n == SPLIT_BATCH);
	free(b.v);
	return rc != 0 ? rc : failed ? FERRY_EIO : 0;
}

static void *
split_main(void *arg)
{
	struct agent *ag = arg;
	int retry = 0;

	ferry_thread_name("split");
	pthread_mutex_lock(&sp.mu);
	for (;;) {
		while (!sp.stop && !sp.kicked) {
			if (retry) {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += SPLIT_RETRY_MS / 1000;
				if (pthread_cond_timedwait(&sp.cv, &sp.mu,
							   &ts) != 0)
					break; /* time to try again */
			} else {
				pthread_cond_wait(&sp.cv, &sp.mu);
			}
		}
		if (sp.stop)
			break;
		sp.kicked = 0;
		pthread_mutex_unlock(&sp.mu);
		retry = split_round(ag) != 0;
		pthread_mutex_lock(&sp.mu);
	}
	pthread_mutex_unlock(&sp.mu);
	return NULL;
}

int
split_start(struct agent *ag)
{
	int rc;

	pthread_mutex_lock(&sp.mu);
	sp.stop = 0;
	sp.kicked = 1; /* what a crash left waiting */
	snprintf(sp.me, sizeof(sp.me), "%s", ag->pol.node_name);
	rc = pthread_create(&sp.thread, NULL, split_main, ag);
	sp.running = rc == 0;
	pthread_mutex_unlock(&sp.mu);
	if (rc != 0)
		log_error("cannot start the group splitter thread");
	return rc == 0 ? 0 : -1;
}

void
split_stop(void)
{
	int running;

	pthread_mutex_lock(&sp.mu);
	sp.stop = 1;
	running = sp.running;
	sp.running = 0;
	pthread_cond_signal(&sp.cv);
	pthread_mutex_unlock(&sp.mu);
	if (running)
		pthread_join(sp.thread, NULL);
}
