/*
 * bench_http_sign.c - bench_http.sh's key to the base's HTTP server for
 * its raw reference (curl uploading the same bytes): the Authorization
 * value of one upload request, as the field node's ferryd would sign it
 * (docs/http.md 2, "Authentication of each request").
 *
 *   bench_http_sign STATE_DIR TO_FPR NAME SIZE
 *
 * Loads the identity of the node at STATE_DIR and prints, on one line,
 * the value for "PUT v1/out/NAME" with X-Ferry-Offset 0 and X-Ferry-Size
 * SIZE, addressed to the node whose fingerprint is TO_FPR, dated now.
 * The server refuses an unsigned request (401) before it reads a body,
 * so without this curl would measure nothing.  Exit 0, 1 on an error
 * (on stderr), 2 on a usage error.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/ferry_err.h"
#include "transports/http.h"
#include "transports/identity.h"

int
main(int argc, char **argv)
{
	struct identity *me = NULL;
	struct http_params pm = {0};
	struct timespec now;
	char route[HTTP_NAME_MAX + 16], auth[HTTP_AUTH_MAX], err[512];
	uint64_t size;
	int64_t now_ms;
	int rc;

	if (argc != 5) {
		fprintf(stderr,
			"usage: bench_http_sign STATE_DIR TO_FPR NAME SIZE\n");
		return 2;
	}
	/* As the server will check them (http_name_ok returns 1 if ok). */
	if (!http_name_ok(argv[3], strlen(argv[3])) ||
	    http_u64_parse(argv[4], UINT64_MAX, &size) != 0) {
		fprintf(stderr,
			"bench_http_sign: NAME must be [0-9a-zA-Z_-]+.bundle "
			"and SIZE a plain number\n");
		return 2;
	}
	rc = identity_load(argv[1], &me, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "bench_http_sign: %s (%s)\n", err,
			ferry_strerror(rc));
		return 1;
	}
	snprintf(route, sizeof(route), "v1/out/%s", argv[3]);
	pm.offset = "0";
	pm.size = argv[4];
	clock_gettime(CLOCK_REALTIME, &now);
	now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	rc = http_auth_make(me, "PUT", route, argv[2], now_ms, &pm, auth,
			    sizeof(auth));
	identity_free(me);
	if (rc != 0) {
		fprintf(stderr, "bench_http_sign: cannot sign: %s\n",
			ferry_strerror(rc));
		return 1;
	}
	printf("%s\n", auth);
	return 0;
}
