/*
 * jobs.c - see jobs.h.  Completions travel back through one eventfd.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "agent/jobs.h"
#include "agent/log.h"
#include "lib/util.h"

struct jobs {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *ready_head, *ready_tail;
	struct job *done_head, *done_tail;
	pthread_t *threads;
	unsigned nthreads;
	unsigned nstarted; /* under mu: names the workers pool-0, pool-1.. */
	unsigned pending;  /* loop thread only */
	int stopping;
	int woken; /* under mu: efd written since run_done took the list */
	int efd;
	struct event *ev;
};

static void
list_add(struct job **head, struct job **tail, struct job *j)
{
	j->next = NULL;
	if (*tail != NULL)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

/*
 * A finished job for the loop (js->mu held).  The eventfd is written
 * once until the loop takes the list (run_done clears woken as it does),
 * not once per job: one write per batch of completions, not per message.
 */
static void
done_add(struct jobs *js, struct job *j)
{
	uint64_t one = 1;

	list_add(&js->done_head, &js->done_tail, j);
	if (js->woken)
		return;
	if (write(js->efd, &one, sizeof(one)) == sizeof(one) || errno == EAGAIN)
		js->woken = 1; /* EAGAIN: the counter is full, a wake is owed */
	else
		log_error("jobs: cannot wake the loop: eventfd write failed");
}

static void *
worker(void *arg)
{
	struct jobs *js = arg;

	pthread_mutex_lock(&js->mu);
	ferry_thread_name("pool-%u", js->nstarted++);
	for (;;) {
		struct job *j;

		while (js->ready_head == NULL && !js->stopping)
			pthread_cond_wait(&js->cv, &js->mu);
		if (js->ready_head == NULL)
			break;
		j = js->ready_head;
		js->ready_head = j->next;
		if (js->ready_head == NULL)
			js->ready_tail = NULL;
		pthread_mutex_unlock(&js->mu);
		j->run(j);
		pthread_mutex_lock(&js->mu);
		done_add(js, j);
	}
	pthread_mutex_unlock(&js->mu);
	return NULL;
}

static void
run_done(struct jobs *js)
{
	struct job *list, *next;

	pthread_mutex_lock(&js->mu);
	list = js->done_head;
	js->done_head = js->done_tail = NULL;
	js->woken = 0;
	pthread_mutex_unlock(&js->mu);
	for (; list != NULL; list = next) {
		next = list->next;
		js->pending--;
		list->done(list);
	}
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("jobs: eventfd read failed");
	run_done(arg);
}

int
jobs_new(struct event_base *base, unsigned n, struct jobs **out)
{
	struct jobs *js = calloc(1, sizeof(*js));

	*out = NULL;
	if (js == NULL)
		return -1;
	pthread_mutex_init(&js->mu, NULL);
	pthread_cond_init(&js->cv, NULL);
	js->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	js->threads = calloc(n, sizeof(*js->threads));
	if (js->efd < 0 || js->threads == NULL)
		goto fail;
	js->ev = event_new(base, js->efd, EV_READ | EV_PERSIST, on_wake, js);
	if (js->ev == NULL || event_add(js->ev, NULL) != 0)
		goto fail;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&js->threads[i], NULL, worker, js) != 0)
			break;
		js->nthreads++;
	}
	if (js->nthreads == 0)
		goto fail;
	*out = js;
	return 0;
fail:
	jobs_free(js);
	return -1;
}

void
jobs_forward(struct jobs *js, struct job *j)
{
	pthread_mutex_lock(&js->mu);
	list_add(&js->ready_head, &js->ready_tail, j);
	pthread_cond_signal(&js->cv);
	pthread_mutex_unlock(&js->mu);
}

void
jobs_submit(struct jobs *js, struct job *j)
{
	jobs_forward(js, j);
	js->pending++;
}

void
jobs_track(struct jobs *js)
{
	js->pending++;
}

void
jobs_complete(struct jobs *js, struct job *j)
{
	pthread_mutex_lock(&js->mu);
	done_add(js, j);
	pthread_mutex_unlock(&js->mu);
}

unsigned
jobs_pending(const struct jobs *js)
{
	return js->pending;
}

void
jobs_stop(struct jobs *js)
{
	if (js == NULL || js->nthreads == 0)
		return;
	pthread_mutex_lock(&js->mu);
	js->stopping = 1;
	pthread_cond_broadcast(&js->cv);
	pthread_mutex_unlock(&js->mu);
	for (unsigned i = 0; i < js->nthreads; i++)
		pthread_join(js->threads[i], NULL);
	js->nthreads = 0;
}

void
jobs_free(struct jobs *js)
{
	if (js == NULL)
		return;
	jobs_stop(js);
	/* done() callbacks may submit more jobs; with no thread left they
	 * are cancelled, and their done() frees them. */
	for (int round = 0; round < 1000; round++) {
		struct job *j;
		run_done(js);
		pthread_mutex_lock(&js->mu);
		j = js->ready_head;
		js->ready_head = js->ready_tail = NULL;
		pthread_mutex_unlock(&js->mu);
		if (j == NULL)
			break;
		while (j != NULL) {
			struct job *next = j->next;
			j->cancelled = 1;
			js->pending--;
			j->done(j);
			j = next;
		}
	}
	if (js->ev != NULL)
		event_free(js->ev);
	if (js->efd >= 0)
		close(js->efd);
	free(js->threads);
	pthread_mutex_destroy(&js->mu);
	pthread_cond_destroy(&js->cv);
	free(js);
}
