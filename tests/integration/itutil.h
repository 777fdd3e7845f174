/*
 * itutil.h - what the C helpers of the integration tests share: dying
 * with a message, clocks, deterministic payloads that check themselves,
 * and the "ok"/"FAIL" line discipline the .sh wrappers read.
 *
 * The helpers talk to ferryd only through libferry (lib/ferry.h) or, for
 * raw_frames, through the socket itself.  They print one line per finding
 * on stdout, reasons on stderr, and exit 0 (pass), 1 (fail) or 99 (the
 * harness itself broke: bad arguments, fork failed).
 */
#ifndef FERRY_ITUTIL_H
#define FERRY_ITUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry.h"

#define IT_EXIT_PASS	0
#define IT_EXIT_FAIL	1
#define IT_EXIT_HARNESS 99

/* Print "prog: ..." on stderr and exit with code. */
void it_die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* Set the program name used by it_die and it_fail. */
void it_progname(const char *argv0);

/* A libferry call failed: name it, the code and the agent's words. */
void it_ferry_fail(const struct ferry *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic milliseconds. */
int64_t it_now_ms(void);
void it_sleep_ms(int64_t ms);

/* Whole-string unsigned numbers (with k/M/G suffixes for sizes). */
int it_parse_u64(const char *s, uint64_t *out);

/*
 * A deterministic pseudo-random byte stream (xorshift64*) from a seed:
 * it_pattern_fill writes the bytes at [off, off + len) of the stream
 * into buf, in any order of calls, so a payload can be generated on the
 * way in and checked on the way out without ever being stored.
 */
struct it_pattern {
	uint64_t seed;
	uint64_t pos;	/* offset of the next byte of the stream */
	uint64_t state; /* generator state for the word holding pos */
	uint64_t word;	/* its output */
};

void it_pattern_init(struct it_pattern *p, uint64_t seed);
/* The next len bytes of the stream. */
void it_pattern_next(struct it_pattern *p, uint8_t *buf, size_t len);
/* Compare the next len bytes with buf; returns the offset of the first
 * difference, or UINT64_MAX when all equal. */
uint64_t it_pattern_check(struct it_pattern *p, const uint8_t *buf, size_t len);

/* Is the helper built with AddressSanitizer (then RSS bounds are not
 * ferry's to meet)? */
int it_under_asan(void);

/* Write all of buf to fd (for lines shared between processes). */
int it_write_all(int fd, const void *buf, size_t len);

/* Reap n children: 0 if all exited 0, else 99 if one did, else 1. */
int it_wait_all(unsigned n);
/* Fork n drainers, each exiting with worker(sock, queue), and reap them
 * (it_wait_all). */
int it_drain_forked(unsigned n, int (*worker)(const char *, const char *),
		    const char *sock, const char *queue);

/*
 * Patterned messages (send_storm, kill_sender): the correlation is
 * "SEED CLIENT SEQ LEN" and the payload is LEN bytes of the it_pattern
 * stream of it_payload_seed(SEED, CLIENT, SEQ).
 */
uint64_t it_payload_seed(uint64_t seed, unsigned client, uint64_t seq);
#define IT_CORR_MAX 128 /* bytes of a correlation buffer */
/* Message seq of a sender: its correlation into corr (IT_CORR_MAX
 * bytes), and p at the start of its payload. */
void it_patterned_msg(struct it_pattern *p, char *corr, uint64_t seed,
		      unsigned client, uint64_t seq, size_t len);
/* One step of a sender's xorshift64 (x not 0): sizes and kinds differ
 * from client to client.  The new *x. */
uint64_t it_xorshift(uint64_t *x);
/*
 * A sender's start: IDFILE opened to append to (it_die on failure), then
 * a connection to the agent at sock into *c.  The fd of IDFILE; or -1,
 * said on stderr, if the connection failed (IDFILE is closed).
 */
int it_sender_open(const char *sock, const char *idfile, unsigned client,
		   struct ferry **c);
/* Send len bytes of p to dest with o: in one round trip, or streamed
 * (through buf, buf_len bytes at a time).  The id into id; 0 or the
 * libferry error. */
int it_send_patterned(struct ferry *c, const char *dest,
		      const struct ferry_send_opts *o, struct it_pattern *p,
		      uint8_t *buf, size_t buf_len, size_t len, int streamed,
		      uint8_t *id);
/* Reads s (through buf, buf_len bytes) and checks it against info's
 * correlation; the sender's client and sequence number into *client,
 * *seq.  0; 1 if the message is not what its correlation says (said on
 * stderr after "WHAT: "); or the negative error of reading it, for the
 * caller to report. */
int it_check_patterned(const struct ferry_msg_info *info,
		       struct ferry_stream *s, uint8_t *buf, size_t buf_len,
		       const char *what, unsigned *client, uint64_t *seq);

#endif
