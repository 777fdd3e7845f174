/*
 * tap.c - cut-through (docs/session.md §4, "Cut-through"): a reader of a
 * local payload while it is still being streamed in.
 *
 * The writer (writer.c) moves the tap's offset after each write to the
 * spool file and ends the tap at its commit (whole) or when it stops
 * (suspend, abort, a failure).  A TCP session's sender reads the bytes
 * written so far through a descriptor of its own, and sends the END of
 * the message only once the tap says "whole", that is after the local
 * commit: nothing reaches a peer's commit that is not committed here.
 * Bytes read before that may not be durable yet; if the writer stops,
 * the sender gives up the transfer, and what the peer kept of it is a
 * partial that a later transfer resumes only after a hash check of its
 * prefix (docs/hop.md §4.3).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "store/store_int.h"

/* The writer keeps the page cache of at most this much unread payload
 * for a reader that follows (tap_keep_from). */
#define TAP_KEEP (64u << 20)

struct store_tap {
	pthread_mutex_t mu;
	int refs;
	int fd; /* the spool file, read-only */
	struct store_msg_info info;
	uint64_t avail;	  /* bytes in the spool file */
	uint64_t rd_hi;	  /* read up to here */
	uint64_t dropped; /* page cache given back below */
	int state;	  /* STORE_TAP_* */
	void (*wake)(void *arg);
	void *wake_arg;
};

int
store_tap_new(struct store *st, const struct store_msg_info *info,
	      uint64_t avail, struct store_tap **out)
{
	struct store_tap *t = calloc(1, sizeof(*t));
	int rc;

	*out = NULL;
	if (t == NULL)
		return FERRY_ENOMEM;
	rc = spool_open_read(st, info->msg.id, &t->fd);
	if (rc != 0) {
		free(t);
		return rc;
	}
	pthread_mutex_init(&t->mu, NULL);
	t->refs = 1;
	t->info = *info;
	t->avail = avail;
	t->state = STORE_TAP_STREAMING;
	*out = t;
	return 0;
}

void
store_tap_ref(struct store_tap *t)
{
	pthread_mutex_lock(&t->mu);
	t->refs++;
	pthread_mutex_unlock(&t->mu);
}

void
store_tap_unref(struct store_tap *t)
{
	int last;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	last = --t->refs == 0;
	pthread_mutex_unlock(&t->mu);
	if (!last)
		return;
	close(t->fd);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

const struct store_msg_info *
store_tap_info(const struct store_tap *t)
{
	return &t->info;
}

int
store_tap_state(struct store_tap *t, uint64_t *avail)
{
	int state;

	pthread_mutex_lock(&t->mu);
	state = t->state;
	*avail = t->avail;
	pthread_mutex_unlock(&t->mu);
	return state;
}

int
store_tap_read(struct store_tap *t, uint64_t off, void *buf, size_t cap,
	       size_t *n)
{
	uint64_t avail, drop = 0, to = 0;
	int rc;

	*n = 0;
	pthread_mutex_lock(&t->mu);
	avail = t->avail;
	pthread_mutex_unlock(&t->mu);
	if (off >= avail || cap == 0)
		return 0;
	if ((uint64_t)cap > avail - off)
		cap = (size_t)(avail - off);
	if ((rc = spool_read(t->fd, off, buf, cap, n)) != 0)
		return rc;
	/* The page cache behind the reader goes back, as a store reader's
	 * does (read.c); the writer keeps what is ahead (tap_keep_from). */
	pthread_mutex_lock(&t->mu);
	if (off + *n > t->rd_hi)
		t->rd_hi = off + *n;
	if (t->rd_hi >= t->dropped + 2 * (uint64_t)STORE_SYNC_EVERY) {
		drop = t->dropped;
		to = t->rd_hi - STORE_SYNC_EVERY;
		t->dropped = to;
	}
	pthread_mutex_unlock(&t->mu);
	if (to > drop)
		(void)posix_fadvise(t->fd, (off_t)drop, (off_t)(to - drop),
				    POSIX_FADV_DONTNEED);
	return 0;
}

uint64_t
tap_keep_from(struct store_tap *t, uint64_t written)
{
	uint64_t from = UINT64_MAX;

	if (t == NULL)
		return from;
	pthread_mutex_lock(&t->mu);
	/* Only while a reader follows, and not more than TAP_KEEP behind
	 * the writer: a reader that slow reads from the disk. */
	if (t->wake != NULL && written - t->rd_hi <= TAP_KEEP)
		from = t->rd_hi;
	pthread_mutex_unlock(&t->mu);
	return from;
}

void
store_tap_watch(struct store_tap *t, void (*wake)(void *arg), void *arg)
{
	pthread_mutex_lock(&t->mu);
	t->wake = wake;
	t->wake_arg = arg;
	pthread_mutex_unlock(&t->mu);
}

/* The writer's side: avail moved, or the tap ends (state). */
void
tap_update(struct store_tap *t, uint64_t avail, int state)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	if (t->state == STORE_TAP_STREAMING) {
		t->avail = avail;
		t->state = state;
		if (t->wake != NULL)
			t->wake(t->wake_arg);
	}
	pthread_mutex_unlock(&t->mu);
}
