/*
 * bridge.h - [bridge NAME]: local queues drained into a NATS JetStream
 * stream, and a pull consumer whose messages become ferry sends
 * (docs/bridge.md).
 */
#ifndef FERRY_BRIDGE_H
#define FERRY_BRIDGE_H

struct agent;

/* Start every [bridge] of ag->pol (its threads connect and wait for the
 * cluster by themselves): 0, or -1 (logged).  Bridges are not reloaded
 * by SIGHUP.  Stop joins them. */
int bridge_start(struct agent *ag);
void bridge_stop(void);
/* A local queue got a message: the drains look now (any thread). */
void bridge_kick(void);

#endif
