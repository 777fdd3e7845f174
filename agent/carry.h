/*
 * carry.h - bundles carried by relays to this node (docs/routing.md
 * section 11): imported from the queue ferry.bundles as from a stick.
 */
#ifndef FERRY_CARRY_H
#define FERRY_CARRY_H

struct agent;

/* Something may wait in ferry.bundles: import it on a pool thread (one
 * run at a time; a poke during a run makes another).  Loop thread. */
void carry_poke(struct agent *ag);

#endif
