/*
 * state_int.h: the handle behind state.h and the two backends' entry
 * points, for state/ alone.
 */
#ifndef ISPMAILD_STATE_INT_H
#define ISPMAILD_STATE_INT_H

#include "state.h"

struct state {
	const struct conf *c;
	struct relaydb *db;	/* the local relay DB, opened at first use */
	int db_failed;		/* its open failed: not tried again */
	char err[256];
};

/* Fill st->err; returns -1. */
int state_fail(struct state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* state_bdb.c: relaydb.c (the handle opened at first use, st->db). */
int state_bdb_auth_put(struct state *st, const char *key, const char *user, time_t now);
int state_bdb_auth_get(struct state *st, const char *key, time_t now, char *user,
    size_t userlen, time_t *expires);
int state_bdb_auth_del(struct state *st, const char *key);
long state_bdb_auth_expire(struct state *st, time_t now);
int state_bdb_auth_foreach(struct state *st, time_t now,
    int (*fn)(const struct state_auth_entry *e, void *arg), void *arg);
int state_bdb_rate_take(struct state *st, struct relaydb_rate *v, size_t n, time_t now);
long state_bdb_rate_expire(struct state *st, time_t now);

#endif
