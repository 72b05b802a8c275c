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

/* Run until SIGTERM; returns the exit code. */
int runner_run(const struct conf *c);

/* Deliver one queued message now (the worker's job; also for tests). */
int runner_deliver(const struct conf *c, const char *id);

#endif
