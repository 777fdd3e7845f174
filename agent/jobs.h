/*
 * jobs.h - a pool of threads that run blocking store calls for the event
 * loop.  A job's run() executes on a pool thread; its done() runs later on
 * the loop thread, in the order jobs finish.  The loop never blocks on the
 * store, and concurrent jobs let the store group their commits.
 */
#ifndef FERRY_JOBS_H
#define FERRY_JOBS_H

#include <event2/event.h>

struct job;
typedef void (*job_fn)(struct job *j);

struct job {
	job_fn run;  /* pool thread */
	job_fn done; /* loop thread */
	struct job *next;
	int cancelled; /* done() without run(): the pool was stopped */
};

struct jobs;

/* Start n threads; completions are delivered on base. */
int jobs_new(struct event_base *base, unsigned n, struct jobs **out);
void jobs_submit(struct jobs *js, struct job *j);
/*
 * For work run elsewhere (the store's own writer thread): jobs_track on
 * the loop thread when it starts, jobs_complete from any thread when it
 * is done; j->done then runs on the loop thread as for a pool job.
 */
void jobs_track(struct jobs *js);
void jobs_complete(struct jobs *js, struct job *j);
/* A tracked job whose work elsewhere is done but that has more for a pool
 * thread (its run()), from any thread; done() follows as for any job. */
void jobs_forward(struct jobs *js, struct job *j);
/* Jobs submitted and not yet done. */
unsigned jobs_pending(const struct jobs *js);
/* Let the threads finish every queued job, then join them.  Jobs
 * submitted afterwards are not run: jobs_free cancels them. */
void jobs_stop(struct jobs *js);
/* Stop if needed, run the done() callbacks still due (those of jobs that
 * never ran with cancelled set), free. */
void jobs_free(struct jobs *js);

#endif
