/*
 * runner.h: the queue runner, one long-lived child of the master
 * (ARCHITECTURE.md). It wakes on new mail (the queue/wakeup FIFO) and on
 * its retry timer, and hands each due message to a short-lived worker
 * process, a few at a time.
 */
#ifndef ISPMAILD_RUNNER_H
#define ISPMAILD_RUNNER_H

#include <sys/types.h>

#include "conf.h"
#include "srs.h"

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

/*
 * Run until SIGTERM (or the master's death, which PR_SET_PDEATHSIG turns
 * into one); returns the exit code. The runner holds <state_dir>/runner.pid
 * locked, its pid in it, and first stops a stale runner that holds it.
 * srs: the master's SRS secret, for bounces to SRS addresses (NULL: none).
 */
int runner_run(const struct conf *c, const struct srs_secret *srs);

/*
 * In a process just forked from parent: get SIGTERM when parent dies
 * (PR_SET_PDEATHSIG). Returns -1 when parent already died after the fork,
 * before the request took effect: then the caller must exit itself.
 */
int runner_follow_parent(pid_t parent);

/* Deliver one queued message now (the worker's job; also for tests). */
int runner_deliver(const struct conf *c, const char *id);

#endif
