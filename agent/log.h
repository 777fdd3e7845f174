/*
 * log.h - ferryd's logging: one line per event, to stderr (with a time
 * stamp) in the foreground, to the journal under systemd, or to syslog as
 * a daemon or with --syslog.  Safe to call from
 * any thread.  Never log payloads or keys.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* "error", "warn", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *name);
void log_set_level(enum log_level lvl);
/* Switch to syslog (ident "ferryd", facility daemon). */
void log_use_syslog(void);
/* If stderr is systemd's journal stream ($JOURNAL_STREAM names its device
 * and inode), write lines with a "<N>" priority prefix and no time stamp
 * from now on, and return 1; else change nothing and return 0. */
int log_use_journal_if_stderr(void);

/* The last error line logged (for --daemon's parent), or "". */
const char *log_last_error(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
