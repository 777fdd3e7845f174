/*
 * log.c - see log.h.
 *
 * Three ways out: stderr with a UTC time stamp (a terminal, a test's log
 * file), stderr as systemd's journal stream (no time stamp, the journal
 * has its own; the severity as an sd-daemon(3) "<N>" prefix, which
 * journald turns into the entry's priority), or syslog(3).
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "agent/log.h"

static enum log_level level = LOG_LVL_INFO;
static int to_syslog;
static int to_journal;
static char last_error_line[1024];
static pthread_mutex_t last_mu = PTHREAD_MUTEX_INITIALIZER;

const char *
log_last_error(void)
{
	return last_error_line; /* read once the other threads are gone */
}

int
log_level_parse(const char *name)
{
	static const char *names[] = {"error", "warn", "info", "debug"};

	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

void
log_set_level(enum log_level lvl)
{
	level = lvl;
}

void
log_use_syslog(void)
{
	openlog("ferryd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	to_syslog = 1;
}

/*
 * systemd sets JOURNAL_STREAM to "DEV:INODE" (decimal) of the stream it
 * connected stdout and stderr to; stderr is the journal only while it is
 * still that very file (systemd.exec(5), "$JOURNAL_STREAM"): a shell that
 * redirected it elsewhere leaves the variable behind.
 */
int
log_use_journal_if_stderr(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;
	char tail;

	if (env == NULL || sscanf(env, "%llu:%llu%c", &dev, &ino, &tail) != 2 ||
	    fstat(2, &sb) != 0)
		return 0;
	if ((unsigned long long)sb.st_dev != dev ||
	    (unsigned long long)sb.st_ino != ino)
		return 0;
	to_journal = 1;
	return 1;
}

static void
vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	static const char *tags[] = {"error", "warn", "info", "debug"};
	static const int prios[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char line[1024];

	if (lvl > level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (lvl == LOG_LVL_ERROR) {
		pthread_mutex_lock(&last_mu);
		memcpy(last_error_line, line, sizeof(line));
		pthread_mutex_unlock(&last_mu);
	}
	if (to_syslog) {
		syslog(prios[lvl], "%s", line);
	} else if (to_journal) {
		/* <3> err, <4> warning, <6> info, <7> debug: the values of
		 * syslog(3), as sd-daemon.h's SD_ERR and friends. */
		fprintf(stderr, "<%d>%s\n", prios[lvl], line);
	} else {
		struct timespec ts;
		struct tm tm;
		char stamp[32];
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		/* One write per line, so lines of threads do not mix. */
		fprintf(stderr, "%s.%03ldZ ferryd %s: %s\n", stamp,
			ts.tv_nsec / 1000000, tags[lvl], line);
	}
}

#define LOG_FN(name, lvl)                                                      \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		vlog(lvl, fmt, ap);                                            \
		va_end(ap);                                                    \
	}

LOG_FN(log_error, LOG_LVL_ERROR)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)
