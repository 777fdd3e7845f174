/*
 * bench_util.h - what bench_store, bench_agent and bench_link share:
 * failing with a message (after the program's own cleanup), table cells,
 * clocks, paths, whole writes, removing a tree, the filesystem's name and
 * the tail of a log.
 *
 * Each program calls bench_util_init() first with its name (the prefix of
 * every message on stderr) and what must be undone before it exits on a
 * failure (stop its ferryd, remove its directory), or NULL.
 */
#ifndef FERRY_BENCH_UTIL_H
#define FERRY_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/utsname.h>

#define BENCH_PATH_MAX 4096

typedef void bench_cleanup_fn(void);

void bench_util_init(const char *prog, bench_cleanup_fn *cleanup);

/* Print "PROG: ..." on stderr, run the cleanup once, exit(1). */
_Noreturn void bench_failf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* "PROG: WHAT PATH: strerror(errno)"; path may be "". */
_Noreturn void bench_fail_errno(const char *what, const char *path);
/* "PROG: WHAT: ferry_strerror(code): DETAIL"; detail may be NULL or "". */
_Noreturn void bench_fail(const char *what, int code, const char *detail);
/* A pthread_* return code: 0, or fail with it as errno. */
void bench_check_pthread(int rc, const char *what);

/* Format into a fixed-size cell; what does not fit is cut off. */
void bench_cell(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* DIR/NAME into out[BENCH_PATH_MAX]; fails when it does not fit. */
void bench_path(char *out, const char *dir, const char *name);

double bench_now_s(void);			    /* CLOCK_MONOTONIC */
int64_t bench_now_ns(void);			    /* CLOCK_MONOTONIC */
int64_t bench_wall_ms(void);			    /* CLOCK_REALTIME */
double bench_rusage_cpu_s(const struct rusage *ru); /* user + system */

/* len bytes of a pattern that is not all zeroes, so no layer can
 * shortcut them; fails when out of memory. */
void *bench_alloc(size_t len);
/* All of buf, or fail naming what. */
void bench_write_full(int fd, const void *buf, size_t len, const char *what);
/*
 * Touch bytes of anonymous memory, then give it back: untimed, before a
 * step that fills the page cache.  On a VM whose host backs the guest's
 * memory lazily and takes freed pages back within seconds (this
 * project's test machines), the first write of 2 GiB into the page
 * cache ran at 0.5 GB/s and the next, right after, at 6.5 GB/s: without
 * this, whichever step came first paid for the memory (bench/README.md).
 */
void bench_warm_memory(uint64_t bytes);
/* Removes path and everything below it: 0, or -1 with errno. */
int bench_rm_tree_quiet(const char *path);
/* The same, failing on an error. */
void bench_rm_tree(const char *path);

/* A process's user+system CPU seconds so far, from /proc/PID/stat. */
double bench_proc_cpu_s(pid_t pid);
/* A process's peak resident set so far (VmHWM), KiB. */
uint64_t bench_proc_hwm_kib(pid_t pid);

/* What a table's header says about the machine and dir's filesystem. */
struct bench_machine {
	struct utsname u;
	long ncpu;
	unsigned long fs_type; /* statfs's f_type */
	const char *fs;	       /* its name, or "unknown" */
};

/* Fills m for dir; fails if uname or statfs does. */
void bench_machine(const char *dir, struct bench_machine *m);
/* A filesystem's name from statfs's f_type, or "unknown". */
const char *bench_fs_name(unsigned long f_type);
/* The last max_lines lines of the log at path, on stderr (nothing if it
 * cannot be read). */
void bench_log_tail(const char *path, size_t max_lines);

/* One aim of issue 15 ("Performance") measured in this run, for `make
 * bench`'s closing table (bench/bench_report.sh): appended as a line to
 * the file $BENCH_AIMS names (nothing when it is unset).  ratio = value /
 * reference; the aim is met when ratio >= target (higher = 1: more is
 * better) or ratio <= target (higher = 0).  A value < 0 or a reference
 * <= 0 means "not measured" (a peer tool missing, a row that failed). */
void bench_aim(const char *aim, double value, const char *unit,
	       double reference, double target, int higher);

#endif /* FERRY_BENCH_UTIL_H */
