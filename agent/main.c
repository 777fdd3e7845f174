/*
 * main.c - ferryd: configuration, start-up, signals, shutdown.
 *
 *   ferryd -c ferry.conf [--daemon] [--syslog] [--pid-file PATH]
 *          [--log-level L]
 *
 * Start-up order: configuration, state directory, identity, store, worker
 * threads, control socket, timers, transports, the metrics server; only
 * then does --daemon let the starting shell go, so a zero exit means the agent
 * is ready, and only then does systemd hear READY=1 (service.c).
 * SIGTERM/SIGINT: stop accepting, let every job in flight commit or roll
 * back, abandon unfinished streamed sends (nothing half-stored), close the
 * store.  SIGHUP: reload ferry.conf; a bad file keeps the old one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/engine.h"
#include "agent/bridge.h"
#include "agent/carry.h"
#include "agent/metrics.h"
#include "agent/split.h"
#include "transports/filedrop.h"
#include "transports/hop.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: ferryd -c FILE [--daemon] [--syslog] [--pid-file PATH] "
		"[--log-level LEVEL]\n"
		"\n"
		"The ferry agent: keeps messages durably and delivers them.\n"
		"\n"
		"  -c, --config FILE    ferry.conf to use (made by `ferry "
		"init`)\n"
		"  -d, --daemon         detach, log to syslog, write a pid "
		"file\n"
		"  -s, --syslog         log to syslog (facility daemon), not "
		"to stderr\n"
		"  -p, --pid-file PATH  pid file (default: pid_file of "
		"ferry.conf)\n"
		"  -l, --log-level L    error, warn, info or debug\n"
		"  -V, --version        print the version\n"
		"  -h, --help           this help\n"
		"\n"
		"See ferryd(8) and ferry.conf(5).\n");
}

static void
store_opts_from_policy(const struct policy *p, struct store_opts *o)
{
	store_opts_init(o);
	o->node_name = p->node_name;
	o->quota_bytes = p->store_quota_bytes;
	o->queue_quota_bytes = p->queue_quota_bytes;
	o->queue_quota_msgs = p->queue_quota_msgs;
	o->disk_reserve_bytes = p->disk_reserve_bytes;
	if (p->cache_bytes != 0)
		o->cache_bytes = p->cache_bytes;
	if (p->partial_idle_ms > 0)
		o->partial_max_idle_ms = p->partial_idle_ms;
}

static void
on_stop_check(evutil_socket_t fd, short what, void *arg)
{
	struct agent *ag = arg;
	static int rounds;

	(void)fd;
	(void)what;
	if (jobs_pending(ag->jobs) == 0 || ++rounds > 200) {
		if (jobs_pending(ag->jobs) != 0)
			log_warn("stopping with %u store operations still "
				 "running",
				 jobs_pending(ag->jobs));
		event_base_loopexit(ag->base, NULL);
	}
}

static void
agent_stop(struct agent *ag, const char *why)
{
	struct client *c, *next;
	struct timeval tv = {0, 50000};

	if (ag->stopping)
		return;
	ag->stopping = 1;
	service_stopping();
	/* A running export or import stops at its next message or bundle:
	 * what it did so far is consistent on the medium and in the store. */
	sneak_cancel_all();
	log_info("%s: stopping (letting %u store operations finish)", why,
		 jobs_pending(ag->jobs));
	control_close(ag);
	if (ag->ev_sweep != NULL)
		event_del(ag->ev_sweep);
	for (c = ag->clients; c != NULL; c = next) {
		next = c->next;
		/* A busy client's job finishes; its answer goes nowhere,
		 * and an unfinished streamed send is abandoned. */
		client_kill(c, "agent stopping");
	}
	ag->ev_stop = event_new(ag->base, -1, EV_PERSIST, on_stop_check, ag);
	if (ag->ev_stop == NULL || event_add(ag->ev_stop, &tv) != 0)
		event_base_loopexit(ag->base, NULL);
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	agent_stop(arg, sig == SIGINT ? "SIGINT" : "SIGTERM");
}

/* Do a and b configure the same peers and listen addresses? */
static int
peers_same(const struct policy *a, const struct policy *b)
{
	if (a->npeers != b->npeers || a->nlisten != b->nlisten ||
	    a->nhttp_listen != b->nhttp_listen)
		return 0;
	for (size_t i = 0; i < a->nhttp_listen; i++)
		if (strcmp(a->http_listen[i].host, b->http_listen[i].host) !=
			0 ||
		    a->http_listen[i].port != b->http_listen[i].port)
			return 0;
	for (size_t i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i].host, b->listen[i].host) != 0 ||
		    a->listen[i].port != b->listen[i].port)
			return 0;
	for (size_t i = 0; i < a->npeers; i++) {
		const struct policy_peer *p = &a->peers[i], *q = &b->peers[i];
		if (strcmp(p->name, q->name) != 0 ||
		    strcmp(p->card, q->card) != 0 || p->ntcp != q->ntcp ||
		    p->dial != q->dial ||
		    p->rate_bytes_per_s != q->rate_bytes_per_s ||
		    p->keepalive_ms != q->keepalive_ms ||
		    p->retry_min_ms != q->retry_min_ms ||
		    p->retry_max_ms != q->retry_max_ms ||
		    p->nhttp != q->nhttp || p->poll_ms != q->poll_ms ||
		    strcmp(p->proxy, q->proxy) != 0 ||
		    strcmp(p->ca, q->ca) != 0 ||
		    p->call_every_ms != q->call_every_ms)
			return 0;
		for (size_t k = 0; k < p->nhttp; k++)
			if (strcmp(p->http[k], q->http[k]) != 0)
				return 0;
		for (size_t k = 0; k < p->ntcp; k++)
			if (strcmp(p->tcp[k].host, q->tcp[k].host) != 0 ||
			    p->tcp[k].port != q->tcp[k].port)
				return 0;
	}
	return 1;
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct agent *ag = arg;
	struct policy np;
	char err[1024];
	int lvl;

	(void)sig;
	(void)what;
	if (policy_load(ag->conf_path, &np, err, sizeof(err)) != 0) {
		log_error("SIGHUP: %s; keeping the configuration in use", err);
		policy_cleanup(&np);
		return;
	}
	if (strcmp(np.node_name, ag->pol.node_name) != 0 ||
	    strcmp(np.state_dir, ag->pol.state_dir) != 0 ||
	    strcmp(np.socket_path, ag->pol.socket_path) != 0 ||
	    np.workers != ag->pol.workers ||
	    np.cache_bytes != ag->pol.cache_bytes)
		log_warn("SIGHUP: name, state_dir, socket, workers and cache "
			 "take effect only at the next start");
	if (!peers_same(&np, &ag->pol))
		log_warn("SIGHUP: [peer] sections and listen addresses take "
			 "effect only at the next start");
	if (strcmp(np.metrics_listen.host, ag->pol.metrics_listen.host) != 0 ||
	    np.metrics_listen.port != ag->pol.metrics_listen.port)
		log_warn("SIGHUP: metrics_listen takes effect only at the next "
			 "start");
	memcpy(np.node_name, ag->pol.node_name, sizeof(np.node_name));
	memcpy(np.state_dir, ag->pol.state_dir, sizeof(np.state_dir));
	memcpy(np.socket_path, ag->pol.socket_path, sizeof(np.socket_path));
	np.workers = ag->pol.workers;
	np.cache_bytes = ag->pol.cache_bytes;
	policy_cleanup(&ag->pol);
	ag->pol = np;
	lvl = log_level_parse(ag->pol.log_level);
	if (lvl >= 0)
		log_set_level((enum log_level)lvl);
	(void)sweep_start(ag);
	if (engine_routes_set(ag) != 0)
		log_error("SIGHUP: out of memory: the routes in use stay");
	else
		engine_kick_all(ag); /* a new route may let messages go */
	split_kick();
	log_info("SIGHUP: configuration reloaded from %s (%zu ACL rules, "
		 "%zu routes)",
		 ag->conf_path, ag->pol.nacl, ag->pol.nroutes);
}

static int
write_pid_file(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_error("cannot write the pid file %s: %s", path,
			  strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_error("pid file %s is locked: another ferryd runs", path);
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || write(fd, buf, (size_t)n) != n) {
		log_error("cannot write the pid file %s: %s", path,
			  strerror(errno));
		close(fd);
		return -1;
	}
	/* Kept open (and locked) until exit. */
	return 0;
}

/* Fork; the parent waits until the child says it is ready. */
/*
 * A base holds a socket per peer session, a file per payload being
 * streamed and the store's files: raise the soft limit of open files to
 * the hard one (a shell's 1,024 runs out near 900 peers; the unit sets
 * LimitNOFILE=).
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_debug("cannot raise the open files limit: %s",
			  strerror(errno));
}

/*
 * One malloc arena, unless MALLOC_ARENA_MAX says otherwise.
 * glibc gives each thread that allocates an arena of its own, up to 8 per
 * core, and each keeps the chunks freed into it.  Berkeley DB's private
 * environment mallocs every cache page, often on one thread and frees it
 * on another: exporting 100,000 queued 10 KiB messages took ferryd from
 * 41 to 72 MiB of RSS with 42 MiB of heap in use at the peak, the rest
 * free chunks held by a dozen arenas.  With two arenas it peaked at
 * 54 MiB in some runs and 72 in others (two of five); with one, at 54 in
 * every run, and the pipelined-send and batched-put rates of bench-agent
 * did not change: glibc's per-thread caches serve small allocations
 * without the arena's lock (docs/agent.md, "Memory").
 */
static void
limit_arenas(void)
{
#ifdef M_ARENA_MAX
	if (getenv("MALLOC_ARENA_MAX") == NULL && mallopt(M_ARENA_MAX, 1) != 1)
		log_debug("cannot limit malloc to one arena: mallopt failed");
#endif
}

static int
daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char c = 1;

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		char why[512];
		ssize_t n;
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(1); /* the child died: its log says why */
		if (c == 0)
			_exit(0);
		/* It failed: say why here too, not only in syslog. */
		n = read(p[0], why, sizeof(why) - 1);
		if (n > 0) {
			why[n] = '\0';
			fprintf(stderr, "ferryd: %s\n", why);
		}
		_exit(1);
	}
	close(p[0]);
	if (setsid() < 0)
		return -1;
	*ready_fd = p[1];
	return 0;
}

static void
detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	(void)dup2(fd, 0);
	(void)dup2(fd, 1);
	(void)dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

static int
apply_queue_limits(struct agent *ag)
{
	for (size_t i = 0; i < ag->pol.nqueues; i++) {
		const struct policy_queue *q = &ag->pol.queues[i];
		struct store_queue_limits lim = {.max_bytes = q->max_bytes,
						 .max_msgs = q->max_msgs};
		int rc = store_queue_create(ag->store, q->name, &lim);
		if (rc != 0) {
			log_error("cannot set the limits of queue %s: %s",
				  q->name, ferry_strerror(rc));
			return -1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"daemon", no_argument, NULL, 'd'},
	    {"syslog", no_argument, NULL, 's'},
	    {"pid-file", required_argument, NULL, 'p'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct agent ag;
	struct store_opts so;
	const char *conf = NULL, *pid_file = NULL, *level = NULL;
	char err[1024], pid_written[POLICY_PATH_MAX] = "";
	int daemon_mode = 0, use_syslog = 0, ready_fd = -1, opt, rc, lvl;

	memset(&ag, 0, sizeof(ag));
	ag.sock_fd = -1;
	ag.sweep_efd = -1;
	ag.arrival_efd = -1;
	ag.exit_code = 1;
	while ((opt = getopt_long(argc, argv, "c:dsp:l:Vh", opts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			daemon_mode = 1;
			break;
		case 's':
			use_syslog = 1;
			break;
		case 'p':
			pid_file = optarg;
			break;
		case 'l':
			level = optarg;
			break;
		case 'V':
			printf("ferryd %s (local API version %d)\n",
			       PACKAGE_VERSION, FERRY_PROTO_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (conf == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(ag.conf_path, sizeof(ag.conf_path), "%s", conf);
	if (policy_load(conf, &ag.pol, err, sizeof(err)) != 0) {
		fprintf(stderr, "ferryd: %s\n", err);
		policy_cleanup(&ag.pol);
		return 1;
	}
	lvl = log_level_parse(level != NULL ? level : ag.pol.log_level);
	if (lvl < 0) {
		fprintf(stderr, "ferryd: unknown log level '%s'\n", level);
		policy_cleanup(&ag.pol);
		return 2;
	}
	log_set_level((enum log_level)lvl);
	raise_nofile();
	limit_arenas();
	if (daemon_mode) {
		if (daemonize(&ready_fd) != 0) {
			fprintf(stderr, "ferryd: cannot detach: %s\n",
				strerror(errno));
			return 1;
		}
		log_use_syslog();
		detach_stdio();
	} else if (use_syslog) {
		log_use_syslog();
	} else {
		/* Under systemd, stderr may be the journal: no time stamps,
		 * and the severity as a <N> prefix. */
		log_use_journal_if_stderr();
	}
	ag.uid = geteuid();
	if (mkdir(ag.pol.state_dir, 0700) != 0 && errno != EEXIST) {
		log_error("cannot create the state directory %s: %s",
			  ag.pol.state_dir, strerror(errno));
		goto out;
	}
	rc = identity_load(ag.pol.state_dir, &ag.id, err, sizeof(err));
	if (rc != 0) {
		log_error("%s%s", err,
			  rc == FERRY_ENOTFOUND
			      ? " (create a node with `ferry init`)"
			      : "");
		goto out;
	}
	if (identity_card(ag.id, ag.card, sizeof(ag.card)) != 0)
		goto out;
	if (scope_init(&ag) != 0) {
		log_error("cannot derive the key for client-chosen ids");
		goto out;
	}
	for (size_t i = 0; i < ag.pol.npeers; i++)
		if (memcmp(ag.pol.peers[i].sign_pk, identity_sign_pk(ag.id),
			   32) == 0) {
			log_error("[peer %s] in %s has this node's own key: "
				  "the card there is this node's (as `ferry "
				  "info` prints it here); put the card that "
				  "`ferry info` prints on %s instead",
				  ag.pol.peers[i].name, ag.conf_path,
				  ag.pol.peers[i].name);
			goto out;
		}
	identity_fingerprint(identity_sign_pk(ag.id), identity_kx_pk(ag.id),
			     ag.fpr);
	{
		char dir[POLICY_PATH_MAX + 8];
		snprintf(dir, sizeof(dir), "%s/store", ag.pol.state_dir);
		store_opts_from_policy(&ag.pol, &so);
		rc = store_open(dir, &so, &ag.store);
		if (rc != 0) {
			log_error("cannot open the store: %s (%s)",
				  ferry_strerror(rc), store_last_error());
			goto out;
		}
	}
	if (apply_queue_limits(&ag) != 0)
		goto out;
	ag.scratch = malloc(FERRY_FRAME_MAX + 4);
	ag.base = event_base_new();
	if (ag.scratch == NULL || ag.base == NULL)
		goto out;
	if (jobs_new(ag.base, ag.pol.workers, &ag.jobs) != 0) {
		log_error("cannot start %u worker threads", ag.pol.workers);
		goto out;
	}
	if (control_open(&ag) != 0)
		goto out;
	ag.ev_term = evsignal_new(ag.base, SIGTERM, on_term, &ag);
	ag.ev_int = evsignal_new(ag.base, SIGINT, on_term, &ag);
	ag.ev_hup = evsignal_new(ag.base, SIGHUP, on_hup, &ag);
	if (ag.ev_term == NULL || ag.ev_int == NULL || ag.ev_hup == NULL ||
	    event_add(ag.ev_term, NULL) != 0 ||
	    event_add(ag.ev_int, NULL) != 0 ||
	    event_add(ag.ev_hup, NULL) != 0 || sweep_start(&ag) != 0 ||
	    engine_start(&ag) != 0 || split_start(&ag) != 0 ||
	    bridge_start(&ag) != 0 || metrics_start(&ag) != 0)
		goto out;
	carry_poke(&ag); /* what a crash left in ferry.bundles */
	if (daemon_mode || pid_file != NULL) {
		const char *pf = pid_file != NULL ? pid_file : ag.pol.pid_file;
		if (write_pid_file(pf) != 0)
			goto out;
		snprintf(pid_written, sizeof(pid_written), "%s", pf);
	}
	log_info("node %s (fingerprint %s) ready, ferryd %s", ag.pol.node_name,
		 ag.fpr, PACKAGE_VERSION);
	if (ready_fd >= 0) {
		char ok = 0;
		if (write(ready_fd, &ok, 1) != 1)
			log_warn("could not tell the starting shell we are "
				 "ready");
		close(ready_fd);
		ready_fd = -1;
	}
	service_ready(&ag);
	event_base_dispatch(ag.base);
	ag.exit_code = 0;
	log_info("stopped cleanly");
out:
	control_close(&ag);
	/* Before the transports and the store it reads. */
	metrics_stop(&ag);
	/* Order: the pool's jobs use the store, and the store's last
	 * async puts report to the pool. */
	jobs_stop(ag.jobs);
	bridge_stop();
	split_stop();
	/* The transports: sessions say CLOSE and hand back what was in
	 * flight. */
	engine_stop(&ag);
	hop_zstd_shutdown(); /* CHUNKZ compression contexts */
	store_close(ag.store);
	ag.store = NULL;
	jobs_free(ag.jobs);
	/* Clients left only by a stop that timed out. */
	while (ag.clients != NULL) {
		struct client *c = ag.clients;
		ag.clients = c->next;
		free(c->groups);
		free(c->stage);
		free(c);
	}
	store_close(ag.store);
	scope_cleanup(&ag);
	identity_free(ag.id);
	if (ag.ev_term)
		event_free(ag.ev_term);
	if (ag.ev_int)
		event_free(ag.ev_int);
	if (ag.ev_hup)
		event_free(ag.ev_hup);
	sweep_free(&ag);
	if (ag.ev_stop)
		event_free(ag.ev_stop);
	service_cleanup(&ag);
	if (ag.base)
		event_base_free(ag.base);
	free(ag.scratch);
	policy_cleanup(&ag.pol);
	if (ready_fd >= 0) {
		const char *why = log_last_error();
		char bad = 1;
		if (write(ready_fd, &bad, 1) == 1 && why[0] != '\0' &&
		    write(ready_fd, why, strlen(why)) < 0)
			ready_fd = -1;
	}
	if (pid_written[0] != '\0')
		(void)unlink(pid_written);
	return ag.exit_code;
}
