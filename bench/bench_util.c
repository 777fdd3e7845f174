/*
 * bench_util.c - helpers shared by the benchmark programs: see
 * bench_util.h.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "lib/ferry_err.h"

static const char *bench_prog = "bench";
static bench_cleanup_fn *bench_cleanup;

static const struct {
	unsigned long magic;
	const char *name;
} fs_names[] = {
    {0xef53UL, "ext2/3/4"},  {0x58465342UL, "xfs"},
    {0x9123683eUL, "btrfs"}, {0x01021994UL, "tmpfs"},
    {0x858458f6UL, "ramfs"}, {0x794c7630UL, "overlayfs"},
    {0x2fc12fc1UL, "zfs"},   {0x6969UL, "nfs"},
    {0xf2f52010UL, "f2fs"},  {0x65735546UL, "fuse"},
    {0x01021997UL, "9p"},    {0x4d44UL, "vfat"},
    {0x5346544eUL, "ntfs"},  {0x73717368UL, "squashfs"},
    {0xff534d42UL, "cifs"},  {0xca451a4eUL, "bcachefs"},
};

void
bench_util_init(const char *prog, bench_cleanup_fn *cleanup)
{
	bench_prog = prog;
	bench_cleanup = cleanup;
}

_Noreturn void
bench_failf(const char *fmt, ...)
{
	bench_cleanup_fn *cleanup = bench_cleanup;
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	/* Once: a failure inside the cleanup must not start it again. */
	bench_cleanup = NULL;
	if (cleanup != NULL)
		cleanup();
	exit(1);
}

_Noreturn void
bench_fail_errno(const char *what, const char *path)
{
	int e = errno;

	bench_failf("%s%s%s: %s", what, path[0] != '\0' ? " " : "", path,
		    strerror(e));
}

_Noreturn void
bench_fail(const char *what, int code, const char *detail)
{
	bench_failf("%s: %s%s%s", what, ferry_strerror(code),
		    detail != NULL && detail[0] != '\0' ? ": " : "",
		    detail != NULL ? detail : "");
}

void
bench_check_pthread(int rc, const char *what)
{
	if (rc != 0) {
		errno = rc;
		bench_fail_errno(what, "");
	}
}

void
bench_cell(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (n < 0 && cap > 0)
		out[0] = '\0';
}

void
bench_path(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, BENCH_PATH_MAX, "%s/%s", dir, name);

	if (n < 0 || n >= BENCH_PATH_MAX)
		bench_failf("path too long: %s/%s", dir, name);
}

double
bench_now_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		abort(); /* cannot fail with a valid clock id */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t
bench_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		abort();
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
bench_wall_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		abort();
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double
bench_rusage_cpu_s(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
	       (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

void *
bench_alloc(size_t len)
{
	uint8_t *p = malloc(len);

	if (p == NULL)
		bench_fail("malloc", FERRY_ENOMEM, "");
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131u + 7u);
	return p;
}

void
bench_warm_memory(uint64_t bytes)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t n = (size_t)bytes;
	uint8_t *p;

	if (n == 0 || pg <= 0)
		return;
	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return; /* a warm-up only: the step runs anyway */
	for (size_t i = 0; i < n; i += (size_t)pg)
		p[i] = 1;
	(void)munmap(p, n);
}

void
bench_write_full(int fd, const void *buf, size_t len, const char *what)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			bench_fail_errno("write", what);
		}
		p += n;
		len -= (size_t)n;
	}
}

static int
rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

int
bench_rm_tree_quiet(const char *path)
{
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
bench_rm_tree(const char *path)
{
	if (bench_rm_tree_quiet(path) != 0)
		bench_fail_errno("removing", path);
}

double
bench_proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long ut = 0, st = 0;
	const char *p;
	size_t n;
	FILE *f;

	bench_cell(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		bench_fail_errno("open", path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold blanks and ')': fields follow the last. */
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 1,
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		   &ut, &st) != 2)
		bench_failf("%s: cannot read utime and stime", path);
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

uint64_t
bench_proc_hwm_kib(pid_t pid)
{
	char path[64], line[256];
	unsigned long long kib = 0;
	int found = 0;
	FILE *f;

	bench_cell(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		bench_fail_errno("open", path);
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = sscanf(line, "VmHWM: %llu kB", &kib) == 1;
	fclose(f);
	if (!found)
		bench_failf("%s: no VmHWM line", path);
	return kib;
}

void
bench_machine(const char *dir, struct bench_machine *m)
{
	struct statfs sf;

	if (uname(&m->u) != 0)
		bench_fail_errno("uname", "");
	if (statfs(dir, &sf) != 0)
		bench_fail_errno("statfs", dir);
	m->ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	m->fs_type = (unsigned long)sf.f_type;
	m->fs = bench_fs_name(m->fs_type);
}

const char *
bench_fs_name(unsigned long f_type)
{
	for (size_t i = 0; i < sizeof(fs_names) / sizeof(fs_names[0]); i++)
		if (f_type == fs_names[i].magic)
			return fs_names[i].name;
	return "unknown";
}

void
bench_log_tail(const char *path, size_t max_lines)
{
	char **lines = calloc(max_lines, sizeof(*lines));
	char buf[1024];
	size_t n = 0;
	FILE *f;

	if (lines == NULL || max_lines == 0) {
		free(lines);
		return;
	}
	f = fopen(path, "re");
	if (f == NULL) {
		free(lines);
		return;
	}
	while (fgets(buf, sizeof(buf), f) != NULL) {
		free(lines[n % max_lines]);
		lines[n % max_lines] = strdup(buf);
		n++;
	}
	fclose(f);
	fprintf(stderr, "%s: the end of %s:\n", bench_prog, path);
	for (size_t i = n > max_lines ? n - max_lines : 0; i < n; i++)
		if (lines[i % max_lines] != NULL)
			fprintf(stderr, "  | %s", lines[i % max_lines]);
	for (size_t i = 0; i < max_lines; i++)
		free(lines[i]);
	free(lines);
}

void
bench_aim(const char *aim, double value, const char *unit, double reference,
	  double target, int higher)
{
	const char *path = getenv("BENCH_AIMS");
	FILE *f;

	if (path == NULL || path[0] == '\0')
		return;
	f = fopen(path, "a");
	if (f == NULL) {
		fprintf(stderr, "bench: %s: %s (aim %s not recorded)\n", path,
			strerror(errno), aim);
		return;
	}
	/* aim, value, unit, reference, target, sense: bench_report.sh */
	if (value < 0.0 || reference <= 0.0)
		fprintf(f, "%s\t-\t%s\t-\t%g\t%s\n", aim, unit, target,
			higher ? ">=" : "<=");
	else
		fprintf(f, "%s\t%.6g\t%s\t%.6g\t%g\t%s\n", aim, value, unit,
			reference, target, higher ? ">=" : "<=");
	if (fclose(f) != 0)
		fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
}
