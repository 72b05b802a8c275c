/*
 * runner.h: the queue runner, one long-lived child of the master
 * (ARCHITECTURE.md). It wakes on new mail (the queue/wakeup FIFO) and on
 * its retry timer, and hands each due message to a short-lived worker
 * process, a few at a time.
 */
#ifndef ISPMAILD_RUNNER_H
#define ISPMAILD_RUNNER_H

#include "conf.h"

/* Outbound deliveries in parallel (one worker per message). */
#define RUNNER_WORKERS_MAX 4
/*
 * Workers one destination (a recipient domain) may hold at once, so that
 * one slow or hostile domain leaves the other workers to the rest of the
 * queue (Postfix's default_destination_concurrency_limit, scaled down).
 * Not applied with relay.smarthost: then every message has the one
 * destination.
 */
#define RUNNER_PER_DESTINATION (RUNNER_WORKERS_MAX / 2)
/* Received: lines beyond which a message is taken to be looping. */
#define RUNNER_HOPS_MAX 30

/* Run until SIGTERM; returns the exit code. */
int runner_run(const struct conf *c);

/* Deliver one queued message now (the worker's job; also for tests). */
int runner_deliver(const struct conf *c, const char *id);

#endif
