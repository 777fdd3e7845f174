/*
 * filedrop_carry.c - bundles on a medium for another node (docs/routing.md
 * section 11, "Carried bundles").  An import also looks at the folders of
 * other nodes on the medium: a bundle for a node this one knows (a peer,
 * or a [directory] card) and has a route to is stored here, whole and
 * still sealed, as a message for that node's queue ferry.bundles, and goes
 * there by the routes like any message (TCP, HTTP, another medium).  Its
 * destination imports it as if from a stick (agent/carry.c): the bundle's
 * own signature, numbering and replay window decide, so a relay can
 * neither read, forge nor replay what it carries, and a bundle that
 * reaches its node both ways (carried, and on the stick itself) is
 * imported once.
 *
 * The medium keeps its copy (the stick may still go to its node); a
 * folder of ferryd's own (carry_move) gives it up once it is stored.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/engine.h"
#include "agent/intake.h"
#include "agent/log.h"
#include "agent/msgid.h"
#include "transports/bundle.h"
#include "transports/filedrop_int.h"

#define CARRY_PRIO 5 /* what it holds is unknown here: above the default */

/* Store the bundle file fd (size bytes, header h) as a message for node.
 * 0 stored, 1 stored before, or an error. */
static int
carry_store(struct sneak_job *j, int fd, const struct bundle_hdr *h,
	    uint64_t size, const char *node)
{
	struct ferry_msg m;
	struct store_writer *w = NULL;
	uint64_t done = 0;
	uint8_t *buf;
	int rc;

	ferry_msg_init(&m);
	msgid_carried_bundle(h, m.id);
	snprintf(m.src_node, sizeof(m.src_node), "%s", j->node);
	snprintf(m.dst_node, sizeof(m.dst_node), "%s", node);
	snprintf(m.dst_queue, sizeof(m.dst_queue), "%s", FERRY_BUNDLE_QUEUE);
	m.priority = CARRY_PRIO;
	m.created_ms = ferry_wall_ms();
	m.payload_len = size;
	rc = intake_writer_anew(j->st, &m, NULL, &w);
	if (rc == FERRY_EDUPLICATE)
		return 1;
	if (rc != 0)
		return rc;
	buf = malloc(STORE_CHUNK_BYTES);
	if (buf == NULL) {
		store_writer_abort(w);
		return FERRY_ENOMEM;
	}
	while (rc == 0 && done < size) {
		size_t want = size - done < STORE_CHUNK_BYTES
				  ? (size_t)(size - done)
				  : STORE_CHUNK_BYTES;
		ssize_t n = pread(fd, buf, want, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) /* shorter than its header said: changed */
			rc = n < 0 ? ferry_errno_code(errno) : FERRY_ECORRUPT;
		else if ((rc = store_writer_write(w, buf, (size_t)n)) == 0)
			done += (uint64_t)n;
	}
	free(buf);
	if (rc != 0) {
		store_writer_abort(w);
		return rc;
	}
	return store_writer_commit(w);
}

/* One bundle of folder (for node): carried if it is whole.  1 if it was
 * stored (now or before). */
static int
carry_one(struct sneak_job *j, int dfd, const char *fname, const char *node,
	  const char *shown)
{
	uint8_t raw[BUNDLE_HDR_LEN];
	struct bundle_hdr h;
	const char *why = NULL;
	struct stat sb;
	int fd, rc;

	fd = openat(dfd, fname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    pread(fd, raw, sizeof(raw), 0) != (ssize_t)sizeof(raw) ||
	    bundle_hdr_decode(raw, &h, &why) != 0 ||
	    (uint64_t)sb.st_size != h.size ||
	    (j->max_message != 0 && h.size > j->max_message)) {
		/* Not (yet) a whole bundle: its node judges it, if the
		 * medium ever gets there. */
		close(fd);
		return 0;
	}
	if (!j->carry_move) {
		/* This node's own bundle on a medium is carried by the
		 * medium: only ferryd's own folder sends it by the routes. */
		uint8_t me[IDENTITY_NODE_ID_LEN];
		identity_node_id(identity_sign_pk(j->me), identity_kx_pk(j->me),
				 me);
		if (sodium_memcmp(me, h.sender, sizeof(me)) == 0) {
			close(fd);
			return 0;
		}
	}
	rc = carry_store(j, fd, &h, h.size, node);
	close(fd);
	if (rc < 0) {
		sneak_say(j,
			  "cannot store %s/%s to carry it to %s: %s (left "
			  "on the medium)",
			  shown, fname, node, ferry_strerror(rc));
		return 0;
	}
	if (rc == 0)
		engine_router()->kick(node, CARRY_PRIO);
	if (j->carry_move && unlinkat(dfd, fname, 0) != 0)
		log_warn("carry: cannot remove %s/%s once stored: %s", shown,
			 fname, strerror(errno));
	return 1;
}

void
sneak_carry_others(struct sneak_job *j, const char *mine)
{
	char top[SNEAK_PATH_MAX + 16];
	DIR *d;
	struct dirent *e;

	if (sneak_folder(j, NULL, 0, top, sizeof(top)) != 0 ||
	    (d = opendir(top)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[SNEAK_PATH_MAX + 300], node[FERRY_NODE_MAX + 1];
		char q[80]; /* a name from the medium: hostile */
		char hops[1][FERRY_NODE_MAX + 1];
		size_t nh = 0;
		unsigned n = 0, carried = 0;
		int fd, known, routed = 0;
		DIR *sd;
		struct dirent *se;

		if (e->d_name[0] == '.' || strcasecmp(e->d_name, mine) == 0 ||
		    strcasecmp(e->d_name, "rejected") == 0 ||
		    strcasecmp(e->d_name, "README.txt") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", top, e->d_name);
		/* Names only, and never through a link. */
		fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if ((sd = fdopendir(fd)) == NULL) {
			close(fd);
			continue;
		}
		known = engine_node_by_fpr(e->d_name, node) == 0 &&
			strcmp(node, j->node) != 0;
		if (known)
			routed = engine_hops(node, NULL, hops, 1, &nh) !=
				 ENGINE_NO_ROUTE;
		while ((se = readdir(sd)) != NULL) {
			if (!sneak_is_bundle_name(se->d_name))
				continue;
			n++;
			if (routed && !sneak_cancelled(j))
				carried += (unsigned)carry_one(
				    j, dirfd(sd), se->d_name, node, p);
		}
		closedir(sd);
		j->carried += carried;
		if (carried > 0)
			sneak_say(j,
				  "carried %u bundle%s for %s (stored here to "
				  "go on by the routes)",
				  carried, carried == 1 ? "" : "s", node);
		if (n > carried)
			sneak_say(
			    j, "left on the medium: %u bundles for %s%s%s%s",
			    n - carried, ferry_quote(e->d_name, q, sizeof(q)),
			    known ? " = " : "", known ? node : "",
			    known && !routed ? " (no route to it here)"
			    : known	     ? ""
					     : " (a node not known here)");
	}
	closedir(d);
}
