/*
 * testutil.c - see testutil.h.
 */
#include "config.h"

#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/testutil.h"

int64_t
test_clock_fn(void *arg)
{
	return ((struct test_clock *)arg)->now_ms;
}

char *
test_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if (asprintf(&p, "%s/ferry-%s-XXXXXX", base, tag) < 0)
		abort();
	if (mkdtemp(p) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return p;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
test_rmtree(char *path)
{
	if (path == NULL)
		return;
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
}

struct store *
test_store_open(char **dir, struct test_clock *clk,
		const struct store_opts *base)
{
	struct store_opts o;
	struct store *st = NULL;
	int rc;

	if (base != NULL)
		o = *base;
	else
		store_opts_init(&o);
	o.node_name = "here";
	o.disk_reserve_bytes = 1 << 20;
	if (clk != NULL) {
		o.clock_ms = test_clock_fn;
		o.clock_arg = clk;
	}
	if (*dir == NULL)
		*dir = test_tmpdir("store");
	rc = store_open(*dir, &o, &st);
	if (rc != 0) {
		fprintf(stderr, "store_open %s: %s (%s)\n", *dir,
			ferry_strerror(rc), store_last_error());
		return NULL;
	}
	return st;
}

int
test_store_setup(struct store **st, char **dir, struct test_clock *clk)
{
	if (clk != NULL)
		clk->now_ms = TEST_CLOCK_START_MS;
	*dir = NULL;
	*st = test_store_open(dir, clk, NULL);
	return *st == NULL;
}

int
test_store_teardown(struct store **st, char **dir)
{
	store_close(*st);
	*st = NULL;
	test_rmtree(*dir);
	*dir = NULL;
	return 0;
}

void
test_msg(struct ferry_msg *m, const char *node, const char *queue, int prio)
{
	ferry_msg_init(m);
	if (ferry_id_generate(m->id) != 0)
		abort();
	snprintf(m->src_node, sizeof(m->src_node), "here");
	snprintf(m->dst_node, sizeof(m->dst_node), "%s", node);
	snprintf(m->dst_queue, sizeof(m->dst_queue), "%s", queue);
	m->priority = (uint8_t)prio;
}

void
test_fill(const uint8_t id[16], uint64_t off, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t x = off + i;
		buf[i] = (uint8_t)(id[x % 16] ^ (x * 131) ^ (x >> 9));
	}
}

int
test_payload_ok(struct store *st, const uint8_t id[16], uint64_t len)
{
	static uint8_t got[100000], want[100000];
	struct store_reader *r = NULL;
	uint64_t off = 0;
	int ok = 1;

	if (store_reader_open(st, id, &r) != 0)
		return 0;
	for (;;) {
		size_t n = 0;
		if (store_reader_read(r, got, sizeof(got), &n) != 0) {
			ok = 0;
			break;
		}
		if (n == 0)
			break;
		test_fill(id, off, want, n);
		if (memcmp(got, want, n) != 0) {
			ok = 0;
			break;
		}
		off += n;
	}
	store_reader_close(r);
	return ok && off == len;
}

long
test_peak_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int
test_main(const char *name, void (*add_fn)(void))
{
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	add_fn();
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	printf("%s: %u tests, %u failed assertions\n", name,
	       CU_get_number_of_tests_run(), CU_get_number_of_failures());
	CU_cleanup_registry();
	return fails == 0 ? 0 : 1;
}
