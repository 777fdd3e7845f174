/*
 * testutil.h - helpers for ferry's CUnit tests: temporary directories, a
 * fake clock, deterministic payloads, and a main() that exits non-zero on
 * any failure (CU_basic_run_tests() itself reports success regardless).
 */
#ifndef FERRY_TESTUTIL_H
#define FERRY_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <CUnit/Basic.h>

#include "store/store.h"

#if defined(__SANITIZE_ADDRESS__)
#define FERRY_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FERRY_UNDER_ASAN 1
#endif
#endif

struct test_clock {
	int64_t now_ms;
};

int64_t test_clock_fn(void *arg);

/* mkdtemp under $TMPDIR (or /tmp); aborts the test program on failure. */
char *test_tmpdir(const char *tag);
/* rm -rf path and free it. */
void test_rmtree(char *path);

/* Open a store in a fresh temp dir with node "here" and the fake clock. */
struct store *test_store_open(char **dir, struct test_clock *clk,
			      const struct store_opts *base);

/* The fake clock's time at the start of each store test. */
#define TEST_CLOCK_START_MS 1700000000000LL

/* Setup of a store suite or test: a fresh store in *dir (made here),
 * on clk (NULL: the real clock) set to TEST_CLOCK_START_MS.  0, or 1 if
 * it cannot be opened (CUnit's setup convention). */
int test_store_setup(struct store **st, char **dir, struct test_clock *clk);
/* Its teardown: closes *st and removes *dir; 0. */
int test_store_teardown(struct store **st, char **dir);

/* Inside a test: tear the suite's store down and set up a fresh one. */
#define TEST_FRESH(setup_fn, teardown_fn)                                      \
	do {                                                                   \
		teardown_fn();                                                 \
		CU_ASSERT_FATAL(setup_fn() == 0);                              \
	} while (0)

/* A message from "here" to node/queue with a fresh id. */
void test_msg(struct ferry_msg *m, const char *node, const char *queue,
	      int prio);

/* Deterministic payload bytes for (id, offset). */
void test_fill(const uint8_t id[16], uint64_t off, uint8_t *buf, size_t len);
/* Read the whole payload of id and compare with test_fill; 1 if equal. */
int test_payload_ok(struct store *st, const uint8_t id[16], uint64_t len);

/* Peak resident set size of this process in KiB (VmHWM). */
long test_peak_rss_kib(void);

/* Register suites with add_fn, run them all, return the exit status. */
int test_main(const char *name, void (*add_fn)(void));

#define TEST_ADD(suite, fn)                                                    \
	do {                                                                   \
		if (CU_add_test(suite, #fn, fn) == NULL)                       \
			abort();                                               \
	} while (0)

#endif
