/*
 * filedrop_watch.c - file-drop endpoints: a peer's `dir =` folder (or a
 * medium left mounted) watched by ferryd, imported from and exported to
 * without an operator, on the agent's event loop and job pool.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/engine.h"
#include "lib/util.h"
#include "transports/filedrop.h"

/*
 * A peer's `dir = PATH` is watched by what the kernel tells, not by the
 * clock (an idle node on a battery must sleep).  Four things wake the
 * agent, each within SNEAK_WATCH_SOON_MS:
 *  - inotify on PATH, PATH/ferry and PATH/ferry/<our fingerprint>, when a
 *    bundle lands in a folder that stays there (a shared folder, a stick
 *    left plugged in), and on PATH's parent while PATH does not exist
 *    (it appears);
 *  - /proc/self/mountinfo, which the kernel reports (POLLPRI, POLLERR) on
 *    every mount and unmount in our namespace: a file system mounted on
 *    PATH is no inotify event on the mount point.  ferryd's libevent
 *    cannot ask for POLLPRI alone (the file is always readable), so it is
 *    asked through an epoll set of its own (mnt_ep), readable only then;
 *  - a kick (engine_kick) for a peer with a dir: messages to export;
 *  - a rescan every SNEAK_WATCH_MS, the safety net for what none of them
 *    sees: changes made by another machine on a network file system, a
 *    full inotify table, a SIGHUP that added the first dir.
 * Each way the agent looks, on a pool thread (a failing stick must not
 * stall the loop), and compares what is there with what it saw last (the
 * device of PATH and the inode of PATH/ferry, the names of the bundles
 * in our folder, messages queued for the peer since), and only on a
 * difference, or every SNEAK_WATCH_FULL_MS while a medium is there, runs
 * an import and then an export for that peer, one run at a time, and
 * logs one line when anything moved.  Names, not the folder's mtime: FAT
 * keeps
 * times in 2-second steps.
 */
#define SNEAK_WATCH_MS	    60000 /* was 2 s, before mount notifications */
#define SNEAK_WATCH_FULL_MS 60000
#define SNEAK_WATCH_SOON_MS 100
/* A bundle still being copied (written to by hand, slowly): looked at
 * again this often until it is whole or SNEAK_SETTLE_MS old. */
#define SNEAK_COPYING_MS 1000

struct dd_seen {
	char dir[1024];
	uint64_t dev, ino;
	uint64_t sig;	 /* sneak_folder_sig() we expect */
	int64_t last_ms; /* when it last ran */
	uint64_t kicks;	 /* engine_kicks() when it last ran */
};

struct dd_watch {
	struct event *timer;  /* the rescan */
	struct event *soon;   /* one look soon after an inotify event */
	struct event *ev_in;  /* reads in_fd */
	int in_fd;	      /* inotify, or -1 */
	int mnt_fd;	      /* /proc/self/mountinfo, or -1 */
	int mnt_ep;	      /* an epoll set: mnt_fd's POLLPRI, or -1 */
	struct event *ev_mnt; /* reads mnt_ep */
	int kick_fd;	      /* eventfd: filedrop_kick (any thread), or -1 */
	struct event *ev_kick;
	/* The peers with a dir, for filedrop_kick: set on the loop at each
	 * look, read by any thread, under mu. */
	pthread_mutex_t mu;
	char names[SNEAK_PEERS_MAX][FERRY_NODE_MAX + 1];
	size_t nnames;
	int busy;    /* a look or a run is going */
	int pending; /* 1 + the index of its peer */
	int again;   /* an event came while busy */
	struct dd_seen seen[SNEAK_PEERS_MAX];
};

/* The one watch of this process (ferryd runs one agent). */
static struct dd_watch *watch;

/* Messages imported and exported by file-drop runs since ferryd started
 * (filedrop_count; atomics: pool threads add, anyone reads). */
static uint64_t dd_msgs_in, dd_msgs_out;

void
filedrop_count(const struct sneak_job *j)
{
	__atomic_add_fetch(j->export ? &dd_msgs_out : &dd_msgs_in, j->msgs,
			   __ATOMIC_RELAXED);
}

static void
filedrop_counts(void *state, uint64_t *msgs_in, uint64_t *msgs_out)
{
	(void)state; /* ferry export and import count without a watch */
	*msgs_in = __atomic_load_n(&dd_msgs_in, __ATOMIC_RELAXED);
	*msgs_out = __atomic_load_n(&dd_msgs_out, __ATOMIC_RELAXED);
}

struct dd_job {
	struct job job;
	struct agent *ag;
	struct sneak_job imp, exp;
	uint64_t sig_after; /* the folder after a run that did not list it */
};

static void
dd_run(struct job *jb)
{
	struct dd_job *d = (struct dd_job *)jb;

	(void)sneak_run(&d->imp);
	filedrop_count(&d->imp);
	if (d->imp.rc == 0 || d->imp.rc == FERRY_ENOTFOUND) {
		(void)sneak_run(&d->exp);
		filedrop_count(&d->exp);
	}
	if (!d->imp.listed)
		d->sig_after = sneak_folder_sig(d->imp.dir, d->ag->fpr);
}

/* A look ms from now (unless one is due sooner), or right after the one
 * running now. */
static void
dd_look_in(struct dd_watch *w, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (w->busy)
		w->again = 1;
	else if (!evtimer_pending(w->soon, NULL))
		(void)evtimer_add(w->soon, &tv);
}

static void
dd_look_soon(struct dd_watch *w)
{
	dd_look_in(w, SNEAK_WATCH_SOON_MS);
}

static void
dd_done(struct job *jb)
{
	struct dd_job *d = (struct dd_job *)jb;
	struct dd_watch *w = watch;

	if (!jb->cancelled && (d->imp.msgs + d->imp.bundles + d->imp.rejected +
				       d->exp.msgs + d->exp.bundles >
				   0 ||
			       d->imp.rc != 0 || d->exp.rc != 0))
		log_info("file-drop %s at %s: imported %llu messages from "
			 "%llu bundles (%llu refused), exported %llu messages "
			 "in %llu bundles%s%s",
			 d->exp.only[0], d->exp.dir,
			 (unsigned long long)d->imp.msgs,
			 (unsigned long long)d->imp.bundles,
			 (unsigned long long)d->imp.rejected,
			 (unsigned long long)d->exp.msgs,
			 (unsigned long long)d->exp.bundles,
			 d->imp.rc != 0 || d->exp.rc != 0 ? "; stopped: " : "",
			 d->imp.rc != 0	  ? ferry_strerror(d->imp.rc)
			 : d->exp.rc != 0 ? ferry_strerror(d->exp.rc)
					  : "");
	if (w != NULL && w->pending > 0) {
		struct dd_seen *s = &w->seen[w->pending - 1];
		/* What our own run took out of our folder is not news; what
		 * somebody put there while it ran is (and so is a bundle
		 * still being copied, which was not counted).  A run that
		 * failed before it listed the folder waits for a change
		 * (not a retry every 2 s). */
		if (d->imp.listed)
			s->sig = d->imp.seen_sig - d->imp.gone_sig;
		else
			s->sig = d->sig_after;
		w->busy = 0;
		w->pending = 0;
		if (w->again) {
			w->again = 0;
			dd_look_soon(w);
		} else if (d->imp.copying > 0) {
			/* Appends to a file are no inotify event we ask for:
			 * look again at a bundle still being copied. */
			dd_look_in(w, SNEAK_COPYING_MS);
		}
	}
	free(d->imp.peers);
	free(d->exp.peers);
	free(d);
}

/* (Re)arm the inotify watches of one dir; failures leave the rescan.
 * (A pool thread: inotify_add_watch is a plain system call.) */
static void
dd_inotify_add(int in_fd, const char *dir, const char *fpr)
{
	char p[SNEAK_PATH_MAX + 128];
	const uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_DELETE |
			      IN_MOVED_FROM | IN_ONLYDIR | IN_DONT_FOLLOW;

	if (in_fd < 0)
		return;
	/* The configured path may be a symbolic link (operator's choice);
	 * what the medium holds is watched without following any. */
	if (inotify_add_watch(in_fd, dir, mask & ~(uint32_t)IN_DONT_FOLLOW) <
		0 &&
	    errno == ENOENT) {
		/* Not there yet: its parent tells when it appears (watching
		 * the same folder again adds nothing). */
		snprintf(p, sizeof(p), "%s", dir);
		(void)inotify_add_watch(in_fd, dirname(p),
					IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
		return;
	}
	snprintf(p, sizeof(p), "%s/ferry", dir);
	(void)inotify_add_watch(in_fd, p, mask);
	snprintf(p, sizeof(p), "%s/ferry/%s", dir, fpr);
	(void)inotify_add_watch(in_fd, p, mask);
}

static void
dd_inotify_read(evutil_socket_t fd, short what, void *arg)
{
	char buf[4096] __attribute__((aligned(8)));

	(void)what;
	(void)arg;
	/* Which one does not matter: the look compares everything. */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	dd_look_soon(watch);
}

/* A mount or unmount somewhere: drain mnt_ep (the POLLPRI is reported
 * once per change) and look. */
static void
dd_mounts_changed(evutil_socket_t fd, short what, void *arg)
{
	struct epoll_event ev[4];

	(void)what;
	(void)arg;
	while (epoll_wait(fd, ev, 4, 0) > 0)
		;
	if (watch != NULL)
		dd_look_soon(watch);
}

/* filedrop_kick's eventfd, on the loop. */
static void
dd_kicked(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	(void)arg;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("file-drop: eventfd read failed");
	if (watch != NULL)
		dd_look_soon(watch);
}

/*
 * A look reads the media (stat, the folder's names, inotify watches) on a
 * pool thread, never on the loop: a slow or failing stick, or a hung
 * network file system, must not stall the local clients.
 */
struct dd_spot {
	size_t peer; /* index in ag->pol.peers when the look began */
	char dir[sizeof(((struct policy_peer *)0)->dir)];
	int there; /* PATH/ferry is a folder */
	uint64_t dev, ino, sig;
};

struct dd_look {
	struct job job;
	struct agent *ag;
	int in_fd;
	size_t n;
	struct dd_spot spot[SNEAK_PEERS_MAX];
};

static void
dd_look_run(struct job *jb)
{
	struct dd_look *l = (struct dd_look *)jb;

	for (size_t k = 0; k < l->n; k++) {
		struct dd_spot *sp = &l->spot[k];
		char path[sizeof(sp->dir) + 8];
		struct stat top, fer;

		dd_inotify_add(l->in_fd, sp->dir, l->ag->fpr);
		snprintf(path, sizeof(path), "%s/ferry", sp->dir);
		if (stat(sp->dir, &top) != 0 || stat(path, &fer) != 0 ||
		    !S_ISDIR(fer.st_mode))
			continue;
		sp->there = 1;
		sp->dev = (uint64_t)top.st_dev;
		sp->ino = (uint64_t)fer.st_ino;
		sp->sig = sneak_folder_sig(sp->dir, l->ag->fpr);
	}
}

/* On the loop: start a run for the first peer whose medium changed (or
 * is due its full rescan).  Returns 1 if one was started. */
static int
dd_decide(struct agent *ag, const struct dd_look *l)
{
	struct dd_watch *w = watch;
	int64_t now_ms = ferry_mono_ms();
	for (size_t k = 0; k < l->n; k++) {
		const struct dd_spot *sp = &l->spot[k];
		const struct policy_peer *p;
		struct dd_seen *s;
		struct dd_job *d;
		int changed;

		if (sp->peer >= ag->pol.npeers ||
		    strcmp(ag->pol.peers[sp->peer].dir, sp->dir) != 0)
			continue; /* reloaded meanwhile */
		p = &ag->pol.peers[sp->peer];
		s = &w->seen[sp->peer];
		if (!sp->there) {
			s->dev = 0; /* nothing mounted: forget */
			continue;
		}
		changed = strcmp(s->dir, sp->dir) != 0 || s->dev != sp->dev ||
			  s->ino != sp->ino || s->sig != sp->sig;
		if (engine_kicks(ag, p->name) != s->kicks)
			changed = 1; /* new messages for the peer */
		if (!changed && now_ms - s->last_ms < SNEAK_WATCH_FULL_MS)
			continue;
		d = calloc(1, sizeof(*d));
		if (d == NULL)
			return 0;
		d->ag = ag;
		d->job.run = dd_run;
		d->job.done = dd_done;
		snprintf(d->imp.dir, sizeof(d->imp.dir), "%s", p->dir);
		snprintf(d->exp.dir, sizeof(d->exp.dir), "%s", p->dir);
		d->imp.patient = 1;
		d->exp.export = 1;
		snprintf(d->exp.only[0], sizeof(d->exp.only[0]), "%s", p->name);
		d->exp.nonly = 1;
		if (sneak_job_init(ag, &d->imp) != 0 ||
		    sneak_job_init(ag, &d->exp) != 0) {
			free(d->imp.peers);
			free(d->exp.peers);
			free(d);
			return 0;
		}
		snprintf(s->dir, sizeof(s->dir), "%s", sp->dir);
		s->dev = sp->dev;
		s->ino = sp->ino;
		s->last_ms = now_ms;
		s->kicks = engine_kicks(ag, p->name);
		w->busy = 1;
		w->pending = (int)sp->peer + 1;
		jobs_submit(ag->jobs, &d->job);
		return 1; /* one at a time */
	}
	return 0;
}

static void
dd_look_done(struct job *jb)
{
	struct dd_look *l = (struct dd_look *)jb;
	struct agent *ag = l->ag;
	struct dd_watch *w = watch;

	if (w != NULL) {
		w->busy = 0;
		if (!jb->cancelled && !ag->stopping && !dd_decide(ag, l) &&
		    w->again) {
			/* An event came while we looked: look again. */
			w->again = 0;
			dd_look_soon(w);
		}
	}
	free(l);
}

/* How many peers have a dir (of the first SNEAK_PEERS_MAX). */
static size_t
dd_peers(const struct agent *ag)
{
	size_t n = 0;

	for (size_t i = 0; i < ag->pol.npeers && i < SNEAK_PEERS_MAX; i++)
		n += ag->pol.peers[i].dir[0] != '\0';
	return n;
}

static void
dd_tick(evutil_socket_t fd, short what, void *arg)
{
	struct agent *ag = arg;
	struct dd_watch *w = watch;
	struct dd_look *l;

	(void)fd;
	(void)what;
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->nnames = 0;
	for (size_t i = 0; i < ag->pol.npeers && i < SNEAK_PEERS_MAX; i++)
		if (ag->pol.peers[i].dir[0] != '\0')
			snprintf(w->names[w->nnames++], sizeof(w->names[0]),
				 "%s", ag->pol.peers[i].name);
	pthread_mutex_unlock(&w->mu);
	if (w->busy || ag->stopping || dd_peers(ag) == 0)
		return;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return;
	l->ag = ag;
	l->in_fd = w->in_fd;
	l->job.run = dd_look_run;
	l->job.done = dd_look_done;
	for (size_t i = 0; i < ag->pol.npeers && i < SNEAK_PEERS_MAX; i++) {
		const struct policy_peer *p = &ag->pol.peers[i];
		if (p->dir[0] == '\0')
			continue;
		l->spot[l->n].peer = i;
		snprintf(l->spot[l->n].dir, sizeof(l->spot[l->n].dir), "%s",
			 p->dir);
		l->n++;
	}
	w->busy = 1;
	jobs_submit(ag->jobs, &l->job);
}

/* The look after an inotify event: if a run is going, after it. */
static void
dd_soon(evutil_socket_t fd, short what, void *arg)
{
	if (watch != NULL && watch->busy)
		watch->again = 1;
	else
		dd_tick(fd, what, arg);
}

/* Watch fd on the loop (cb, *ev) if ok, that is if fd was set up; else
 * warn "no WHAT (errno's reason): THEN N s": the rescan still finds what
 * fd would have told.  0, or -1 if the event could not be made. */
static int
watch_fd(struct agent *ag, int ok, int fd, event_callback_fn cb,
	 struct event **ev, const char *what, const char *then)
{
	if (!ok) {
		log_warn("file-drop: no %s (%s): %s %d s", what,
			 strerror(errno), then, SNEAK_WATCH_MS / 1000);
		return 0;
	}
	*ev = event_new(ag->base, fd, EV_READ | EV_PERSIST, cb, ag);
	if (*ev == NULL || event_add(*ev, NULL) != 0)
		return -1;
	return 0;
}

/* The file-drop transport's start: watch the `dir =` endpoints.  (An
 * operator's ferry export / import runs through sneak_req.c.) */
static int
filedrop_start(struct agent *ag, void **state)
{
	struct timeval tv = {SNEAK_WATCH_MS / 1000,
			     (SNEAK_WATCH_MS % 1000) * 1000};
	struct dd_watch *w;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	watch = w;
	*state = w;
	w->in_fd = w->mnt_fd = w->mnt_ep = w->kick_fd = -1;
	pthread_mutex_init(&w->mu, NULL);
	w->timer = event_new(ag->base, -1, EV_PERSIST, dd_tick, ag);
	w->soon = evtimer_new(ag->base, dd_soon, ag);
	if (w->timer == NULL || w->soon == NULL ||
	    event_add(w->timer, &tv) != 0)
		return -1;
	w->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->kick_fd < 0)
		return -1;
	w->ev_kick = event_new(ag->base, w->kick_fd, EV_READ | EV_PERSIST,
			       dd_kicked, ag);
	if (w->ev_kick == NULL || event_add(w->ev_kick, NULL) != 0)
		return -1;
	/* Only for a config with a dir (a SIGHUP that adds the first one
	 * leaves the rescan alone, which is enough). */
	if (dd_peers(ag) > 0) {
		struct epoll_event pe = {.events = EPOLLPRI};
		int ok;

		dd_tick(-1, 0, ag); /* the names for kicks, and a first look */
		w->mnt_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
		w->mnt_ep = epoll_create1(EPOLL_CLOEXEC);
		ok = w->mnt_fd >= 0 && w->mnt_ep >= 0 &&
		     epoll_ctl(w->mnt_ep, EPOLL_CTL_ADD, w->mnt_fd, &pe) == 0;
		if (watch_fd(ag, ok, w->mnt_ep, dd_mounts_changed, &w->ev_mnt,
			     "mount notifications",
			     "a medium mounted on a dir is seen within") != 0)
			return -1;
		w->in_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (watch_fd(ag, w->in_fd >= 0, w->in_fd, dd_inotify_read,
			     &w->ev_in, "inotify",
			     "folders are looked at every") != 0)
			return -1;
	}
	return 0;
}

static void
filedrop_stop(struct agent *ag, void *state)
{
	struct dd_watch *w = state;

	(void)ag;
	if (w == NULL)
		return;
	if (w->timer != NULL)
		event_free(w->timer);
	if (w->soon != NULL)
		event_free(w->soon);
	if (w->ev_in != NULL)
		event_free(w->ev_in);
	if (w->in_fd >= 0)
		close(w->in_fd);
	if (w->ev_mnt != NULL)
		event_free(w->ev_mnt);
	if (w->mnt_ep >= 0)
		close(w->mnt_ep);
	if (w->mnt_fd >= 0)
		close(w->mnt_fd);
	if (w->ev_kick != NULL)
		event_free(w->ev_kick);
	if (w->kick_fd >= 0)
		close(w->kick_fd);
	pthread_mutex_destroy(&w->mu);
	free(w);
	watch = NULL;
}

/* Any thread: messages for node; a look soon if node has a dir (the look
 * compares engine_kicks(), so a kick that comes during a run is not
 * lost: dd_look_soon looks again after it). */
static void
filedrop_kick(void *state, const char *node, unsigned prio)
{
	struct dd_watch *w = state;
	uint64_t one = 1;
	int ours = 0;

	(void)prio;
	if (w == NULL || w->kick_fd < 0)
		return;
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < w->nnames && !ours; i++)
		ours = strcmp(w->names[i], node) == 0;
	pthread_mutex_unlock(&w->mu);
	if (ours && write(w->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("file-drop: cannot wake the loop (eventfd)");
}

const struct transport_ops filedrop_transport = {
    .name = "filedrop",
    .start = filedrop_start,
    .stop = filedrop_stop,
    .kick = filedrop_kick,
    .status = NULL,
    .counts = filedrop_counts,
};
