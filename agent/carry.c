/*
 * carry.c - a bundle that relays carried to this node (a message for its
 * queue ferry.bundles, made by transports/filedrop_carry.c on the node
 * that found it on a medium) is imported here as if it came on a stick:
 * written into <state>/carried/ferry/<our fingerprint>/ and imported from
 * that folder by the ordinary import (its sender's signature, numbering
 * and replay window decide).  The custody receipts that import writes
 * for the bundle's sender land in the same folder, in the sender's
 * sub-folder, and are carried on to it the same way when this node has
 * a route there.
 *
 * Crash safety: the message is taken under a lease and acked only after
 * the import; a crash in between imports the bundle again, which the
 * replay window refuses (already imported), and the ack follows.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/carry.h"
#include "agent/jobs.h"
#include "agent/log.h"
#include "lib/util.h"
#include "transports/filedrop.h"

#define CARRY_LEASE_MS (3600LL * 1000)

struct carry_job {
	struct job job;
	struct agent *ag;
	struct sneak_job sj;
	uint64_t imported, msgs, refused;
};

/* Loop thread only. */
static struct {
	int busy, again;
} cs;

static int
mkdir_p(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return ferry_errno_code(errno);
}

/* The payload of message i into path (then fsync'd). */
static int
payload_to(struct store *st, const struct store_msg_info *i, const char *path)
{
	struct store_reader *rd = NULL;
	uint8_t *buf = NULL;
	uint64_t done = 0;
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return ferry_errno_code(errno);
	rc = store_reader_open(st, i->msg.id, &rd);
	if (rc == 0 && (buf = malloc(STORE_CHUNK_BYTES)) == NULL)
		rc = FERRY_ENOMEM;
	while (rc == 0 && done < i->msg.payload_len) {
		size_t n = 0;
		rc = store_reader_read(rd, buf, STORE_CHUNK_BYTES, &n);
		if (rc == 0 && n == 0)
			rc = FERRY_ECORRUPT;
		if (rc == 0)
			rc = ferry_write_all(fd, buf, n);
		done += n;
	}
	if (rc == 0 && fdatasync(fd) != 0)
		rc = ferry_errno_code(errno);
	store_reader_close(rd);
	free(buf);
	if (close(fd) != 0 && rc == 0)
		rc = ferry_errno_code(errno);
	if (rc != 0)
		(void)unlink(path);
	return rc;
}

static void
carry_run(struct job *jb)
{
	struct carry_job *c = (struct carry_job *)jb;
	struct sneak_job *sj = &c->sj;
	char dir[SNEAK_PATH_MAX + 64], path[SNEAK_PATH_MAX + 128];
	char hex[FERRY_ID_HEX_LEN + 1];
	struct store_msg_info *i = malloc(sizeof(*i));
	uint64_t token = 0;
	int rc;

	if (i == NULL)
		return;
	for (;;) {
		struct stat sb;
		rc = store_take(sj->st, FERRY_BUNDLE_QUEUE, CARRY_LEASE_MS, i,
				&token);
		if (rc != 0)
			break; /* FERRY_EEMPTY: done */
		ferry_id_to_hex(i->msg.id, hex);
		snprintf(dir, sizeof(dir), "%s/ferry", sj->dir);
		rc = mkdir_p(sj->dir);
		if (rc == 0)
			rc = mkdir_p(dir);
		snprintf(dir, sizeof(dir), "%s/ferry/%s", sj->dir, c->ag->fpr);
		if (rc == 0)
			rc = mkdir_p(dir);
		snprintf(path, sizeof(path), "%s/carried-%s.bundle", dir, hex);
		if (rc == 0)
			rc = payload_to(sj->st, i, path);
		if (rc == 0)
			rc = sneak_run(sj);
		if (rc == 0) {
			c->imported++;
			c->msgs += sj->msgs;
			c->refused += sj->rejected;
			if (sj->slen > 0)
				log_info("carried bundle %s from %s: %s", hex,
					 i->msg.src_node, sj->summary);
		}
		if (rc != 0 || stat(path, &sb) == 0) {
			/* Not imported (a store error, or kept for later):
			 * given back, tried at the next arrival or start. */
			log_warn("carried bundle %s from %s: not imported "
				 "(%s); it waits in %s",
				 hex, i->msg.src_node,
				 rc != 0 ? ferry_strerror(rc)
					 : "kept for later",
				 FERRY_BUNDLE_QUEUE);
			if (store_nack(sj->st, i->msg.id, token) != 0)
				log_debug("carry: nack of %s failed", hex);
			break;
		}
		rc = store_ack(sj->st, i->msg.id, token);
		if (rc != 0)
			log_warn("carried bundle %s: imported, but its ack "
				 "failed (%s): imported again later, which "
				 "its replay window refuses",
				 hex, ferry_strerror(rc));
	}
	free(i);
}

static void
carry_done(struct job *jb)
{
	struct carry_job *c = (struct carry_job *)jb;
	struct agent *ag = c->ag;
	int cancelled = jb->cancelled;

	if (c->imported > 0)
		log_info("imported %llu carried bundle%s (%llu messages, %llu "
			 "bundles refused)",
			 (unsigned long long)c->imported,
			 c->imported == 1 ? "" : "s",
			 (unsigned long long)c->msgs,
			 (unsigned long long)c->refused);
	free(c->sj.peers);
	free(c);
	cs.busy = 0;
	if (cs.again && !cancelled) {
		cs.again = 0;
		carry_poke(ag);
	}
}

void
carry_poke(struct agent *ag)
{
	struct carry_job *c;

	if (ag->stopping || ag->jobs == NULL)
		return;
	if (cs.busy) {
		cs.again = 1;
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->ag = ag;
	c->job.run = carry_run;
	c->job.done = carry_done;
	if (sneak_job_init(ag, &c->sj) != 0) {
		free(c->sj.peers);
		free(c);
		return;
	}
	if (snprintf(c->sj.dir, sizeof(c->sj.dir), "%s/carried",
		     ag->pol.state_dir) >= (int)sizeof(c->sj.dir)) {
		free(c->sj.peers);
		free(c);
		return;
	}
	c->sj.carry_move = 1;
	cs.busy = 1;
	jobs_submit(ag->jobs, &c->job);
}
