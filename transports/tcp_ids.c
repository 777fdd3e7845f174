/*
 * tcp_ids.c - the TCP sessions' small containers: the set of ids a
 * session holds (idset: being sent, or custody pending), the ring of
 * custody ids replayed to a peer at each session's start (recent), and
 * the page buffers records are read and written through (pagebuf).
 *
 * All three start small and grow with use, or give their pages back when
 * idle: a base carries 1,000 peers and sessions, most of them quiet most
 * of the time (issue 16's aim: 1,000 field nodes in 256 MiB; measured in
 * bench/bench_fleet).  None of them locks: their owners do.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "transports/tcp_int.h"

/* ------------------------------------------------------ page buffers */

void *
pagebuf_new(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void
pagebuf_idle(void *p, size_t n)
{
	/* Private anonymous pages: the next touch finds a zero page.  A
	 * failure only keeps them resident. */
	if (p != NULL)
		(void)madvise(p, n, MADV_DONTNEED);
}

void
pagebuf_free(void *p, size_t n)
{
	if (p != NULL)
		(void)munmap(p, n);
}

/* ------------------------------------------------------------ id set */

static size_t
id_bucket(const struct idset *s, const uint8_t *id)
{
	/* Ids end in random bytes (ferry_id_generate; scoped ids are
	 * BLAKE2b outputs): their last bytes are a fine hash.  Not the
	 * first: those are a time (milliseconds), the same for ids drawn
	 * within a minute. */
	uint32_t h = (uint32_t)id[12] | (uint32_t)id[13] << 8 |
		     (uint32_t)id[14] << 16 | (uint32_t)id[15] << 24;
	return h & (s->nb - 1);
}

struct idset *
idset_new(void)
{
	struct idset *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->nb = IDSET_BUCKETS_MIN;
	s->b = calloc(s->nb, sizeof(*s->b));
	if (s->b == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

/* Four times the buckets; on ENOMEM the chains just grow longer. */
static void
idset_grow(struct idset *s)
{
	size_t onb = s->nb;
	struct idnode **ob = s->b, **nbk;

	if (onb >= IDSET_BUCKETS_MAX ||
	    (nbk = calloc(onb * 4, sizeof(*nbk))) == NULL)
		return;
	s->b = nbk;
	s->nb = onb * 4;
	for (size_t i = 0; i < onb; i++)
		while (ob[i] != NULL) {
			struct idnode *n = ob[i];
			size_t h = id_bucket(s, n->id);
			ob[i] = n->next;
			n->next = nbk[h];
			nbk[h] = n;
		}
	free(ob);
}

struct idnode *
idset_find(const struct idset *s, const uint8_t *id)
{
	for (struct idnode *n = s->b[id_bucket(s, id)]; n != NULL; n = n->next)
		if (memcmp(n->id, id, FERRY_ID_LEN) == 0)
			return n;
	return NULL;
}

int
idset_has(const struct idset *s, const uint8_t *id)
{
	return idset_find(s, id) != NULL;
}

int
idset_add(struct idset *s, const uint8_t *id)
{
	struct idnode *n;
	size_t h;

	if (idset_has(s, id))
		return 0;
	if (s->n >= 2 * s->nb)
		idset_grow(s);
	h = id_bucket(s, id);
	n = malloc(sizeof(*n));
	if (n == NULL)
		return FERRY_ENOMEM;
	memcpy(n->id, id, FERRY_ID_LEN);
	n->whole = n->custody = 0;
	n->next = s->b[h];
	s->b[h] = n;
	s->n++;
	return 0;
}

/* 0: not there; 1: removed; 2: removed, and it counted in the window. */
int
idset_del(struct idset *s, const uint8_t *id)
{
	for (struct idnode **pp = &s->b[id_bucket(s, id)]; *pp != NULL;
	     pp = &(*pp)->next) {
		struct idnode *n = *pp;
		if (memcmp(n->id, id, FERRY_ID_LEN) == 0) {
			int whole = n->whole;
			*pp = n->next;
			free(n);
			s->n--;
			return whole ? 2 : 1;
		}
	}
	return 0;
}

void
idset_free(struct idset *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nb; i++)
		while (s->b[i] != NULL) {
			struct idnode *n = s->b[i];
			s->b[i] = n->next;
			free(n);
		}
	free(s->b);
	free(s);
}

/* ------------------------------------------------- custody replayed */

void
recent_add(struct lpeer *p, const uint8_t *id)
{
	if (p->nrecent == p->recent_cap && p->recent_cap < LINK_RECENT_MAX) {
		/* Full below the cap: twice the room, oldest first.  Out of
		 * memory, the ring just wraps sooner. */
		size_t cap = p->recent_cap == 0 ? 32 : 2 * p->recent_cap;
		uint8_t(*r)[FERRY_ID_LEN];
		if (cap > LINK_RECENT_MAX)
			cap = LINK_RECENT_MAX;
		r = malloc(cap * FERRY_ID_LEN);
		if (r != NULL) {
			for (size_t i = 0; i < p->nrecent; i++)
				memcpy(r[i],
				       p->recent[(p->recent_head + i) %
						 p->recent_cap],
				       FERRY_ID_LEN);
			free(p->recent);
			p->recent = r;
			p->recent_cap = cap;
			p->recent_head = p->nrecent;
		}
	}
	if (p->recent_cap > 0) {
		memcpy(p->recent[p->recent_head], id, FERRY_ID_LEN);
		p->recent_head = (p->recent_head + 1) % p->recent_cap;
		if (p->nrecent < p->recent_cap)
			p->nrecent++;
	}
}

const uint8_t *
recent_get(const struct lpeer *p, size_t i)
{
	if (i >= p->nrecent)
		return NULL;
	return p->recent[(p->recent_head + p->recent_cap - p->nrecent + i) %
			 p->recent_cap];
}
