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
	int db_borrowed;	/* state_wrap_relaydb: not ours to close */
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
int state_bdb_rate_foreach(struct state *st, relaydb_rate_visit_fn fn, void *arg);
int state_bdb_rate_reset(struct state *st, const char *key);

/* A table transaction: BDB's, or Redis' reads and buffered writes. */
struct state_redis_txn;
struct state_txn {
	struct relaydb_txn *bdb;
	struct state_redis_txn *redis;
};
int state_bdb_table_run(struct state *st, const char *table,
    int (*fn)(struct state_txn *t, void *arg), void *arg);
int state_bdb_table_foreach(struct state *st, const char *table, size_t vmax,
    int (*fn)(const char *key, size_t klen, const char *val, size_t vlen, void *arg),
    void *arg);

/* state_redis.c: Redis, the process's one connection. */
int state_redis_table_run(struct state *st, const char *table, long ttl,
    int (*fn)(struct state_txn *t, void *arg), void *arg);
int state_redis_txn_get(struct state_redis_txn *t, const void *key, size_t klen, void *val,
    size_t vmax, size_t *vlen);
int state_redis_txn_put(struct state_redis_txn *t, const void *key, size_t klen,
    const void *val, size_t vlen);
int state_redis_txn_del(struct state_redis_txn *t, const void *key, size_t klen);
int state_redis_table_foreach(struct state *st, const char *table, size_t vmax,
    int (*fn)(const char *key, size_t klen, const char *val, size_t vlen, void *arg),
    void *arg);
int state_redis_auth_put(struct state *st, const char *key, const char *user, time_t now);
int state_redis_auth_get(struct state *st, const char *key, time_t now, char *user,
    size_t userlen, time_t *expires);
int state_redis_auth_del(struct state *st, const char *key);
long state_redis_auth_count(struct state *st);
int state_redis_auth_foreach(struct state *st, time_t now,
    int (*fn)(const struct state_auth_entry *e, void *arg), void *arg);
int state_redis_rate_take(struct state *st, struct relaydb_rate *v, size_t n, time_t now);
int state_redis_rate_foreach(struct state *st, relaydb_rate_visit_fn fn, void *arg);
int state_redis_rate_reset(struct state *st, const char *key);
long state_redis_authfail_add(struct state *st, const char *key, uint32_t name_hash,
    long window);
int state_redis_authfail_forget(struct state *st, const char *key, uint32_t name_hash);
int state_redis_lock_take(struct state *st, const char *mailbox, char *token,
    size_t tokenlen);
int state_redis_lock_renew(struct state *st, const char *mailbox, const char *token);
int state_redis_lock_release(struct state *st, const char *mailbox, const char *token);

/* ---- state_redis.c's pure parts (tests/unit/test_state.c) ---- */

/* Longest Redis key: prefix (64), kind, ':', relay key. */
#define STATE_REDIS_KEY_MAX (64 + 16 + STATE_KEY_MAX + 1)
/*
 * "<prefix><kind>:<key>" into out: 0, or -1 for a key that is empty,
 * longer than STATE_KEY_MAX, has a byte outside 0x21..0x7e, or does not fit.
 */
int state_redis_key(char *out, size_t outlen, const char *prefix, const char *kind,
    const char *key);
/*
 * A stored authorization, "<unix seconds>[ <user>]" (len bytes, no NUL
 * needed): when, and user (terminated; may be NULL). 0, or -1 when
 * malformed or the user does not fit userlen.
 */
int state_redis_value_parse(const char *v, size_t len, time_t *when, char *user,
    size_t userlen);
/*
 * redis.address: "host:port" or "[v6]:port" -> host, port: 0; a unix
 * socket path -> host: 1; -1 when bad.
 */
int state_redis_address(const char *address, char *host, size_t hostlen, int *port);

#endif
