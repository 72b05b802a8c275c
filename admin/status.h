/*
 * status.h: one snapshot of the server for ispmailctl status and the
 * Prometheus metrics service: the shared counters, the queue (size,
 * oldest), the relay table's size.
 */
#ifndef ISPMAILD_STATUS_H
#define ISPMAILD_STATUS_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "conf.h"
#include "stats.h"

struct status {
	int have_stats;			/* the daemon's stats file was readable */
	struct stats_shm stats;		/* a copy */
	int running;			/* the master's pid answers kill(0) */
	size_t queue_messages;
	time_t queue_oldest;		/* arrival of the oldest, 0 if empty */
	long relay_entries;		/* -1 when the relay DB could not be read */
	const char *state_backend;	/* "bdb" or "redis" (relay.backend) */
	char state_error[256];		/* why the shared state could not be read, "" */
	time_t now;
};

/* Fill st; reading the relay DB is skipped when with_relay is 0. */
void status_collect(const struct conf *c, int with_relay, struct status *st);
/* Human-readable, for ispmailctl status. */
void status_text(const struct status *st, struct buf *out);
/* The Prometheus text exposition format (version 0.0.4). */
void status_prometheus(const struct status *st, struct buf *out);

#endif
