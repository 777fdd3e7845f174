/*
 * split.h - group messages: resolving a group's members at the source,
 * and the thread that splits a group message into one copy per next hop
 * (docs/groups.md).
 */
#ifndef FERRY_SPLIT_H
#define FERRY_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ferry_msg.h"
#include "policy/policy.h"

struct agent;

/* Start the splitter (it first splits what a crash left waiting); 0 or
 * -1 (logged).  Stop waits for it. */
int split_start(struct agent *ag);
void split_stop(void);
/* A group message waits to be split (any thread, cheap). */
void split_kick(void);

/*
 * The members of [group group] that this node knows (peers, [directory]
 * nodes, [route] patterns without wildcards, itself), sorted, comma-
 * separated into out (cap bytes).  0; FERRY_ENOROUTE (no such group, or
 * it names no known node) or FERRY_EINVAL (too many names), with a
 * sentence in why; FERRY_ENOMEM.
 */
int split_resolve(const struct policy *p, const char *group, char *out,
		  size_t cap, char *why, size_t whylen);

#endif
