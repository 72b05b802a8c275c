/*
 * state.c: the shared-state handle (state.h): one backend per
 * configuration, relay.backend, every call passed on to it.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "session.h"
#include "state_int.h"

/* Is this handle's backend Redis? */
#define REDIS(st) ((st)->c->relay.backend == RELAY_BACKEND_REDIS)

struct state *state_new(const struct conf *c)
{
	struct state *st = calloc(1, sizeof *st);

	if (st != NULL)
		st->c = c;
	return st;
}

void state_free(struct state *st)
{
	if (st == NULL)
		return;
	if (!st->db_borrowed)
		relaydb_close(st->db);
	free(st);
}

void state_borrow_relaydb(struct state *st, struct relaydb *db)
{
	if (!st->db_borrowed)
		relaydb_close(st->db);
	st->db = db;
	st->db_borrowed = 1;
	st->db_failed = db == NULL;
	if (db == NULL)
		(void)state_fail(st, "no relay DB");
}

struct state *state_wrap_relaydb(struct relaydb *db)
{
	static const struct conf bdb_only;	/* zero: relay.backend bdb */
	struct state *st = state_new(&bdb_only);

	if (st != NULL) {
		st->db = db;
		st->db_borrowed = 1;
		st->db_failed = db == NULL;
		if (db == NULL)
			(void)state_fail(st, "no relay DB");
	}
	return st;
}

int state_fail(struct state *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(st->err, sizeof st->err, fmt, ap);
	va_end(ap);
	return -1;
}

const char *state_strerror(const struct state *st)
{
	return st->err[0] ? st->err : "no error";
}

const char *state_backend_name(const struct state *st)
{
	return st->c->relay.backend == RELAY_BACKEND_REDIS ? "redis" : "bdb";
}

int state_auth_put(struct state *st, const char *key, const char *user, time_t now)
{
	if (REDIS(st))
		return state_redis_auth_put(st, key, user, now);
	return state_bdb_auth_put(st, key, user, now);
}

int state_auth_get(struct state *st, const char *key, time_t now, char *user,
    size_t userlen, time_t *expires)
{
	if (REDIS(st))
		return state_redis_auth_get(st, key, now, user, userlen, expires);
	return state_bdb_auth_get(st, key, now, user, userlen, expires);
}

int state_auth_del(struct state *st, const char *key)
{
	if (REDIS(st))
		return state_redis_auth_del(st, key);
	return state_bdb_auth_del(st, key);
}

long state_auth_expire(struct state *st, time_t now)
{
	if (REDIS(st))
		return 0;	/* each key has its TTL: Redis expires them itself */
	return state_bdb_auth_expire(st, now);
}

int state_auth_foreach(struct state *st, time_t now,
    int (*fn)(const struct state_auth_entry *e, void *arg), void *arg)
{
	if (REDIS(st))
		return state_redis_auth_foreach(st, now, fn, arg);
	return state_bdb_auth_foreach(st, now, fn, arg);
}

/* One more entry counted. */
static int count_one(const struct state_auth_entry *e, void *arg)
{
	(void)e;
	(*(long *)arg)++;
	return 0;
}

long state_auth_count(struct state *st)
{
	long n = 0;

	if (REDIS(st))
		return state_redis_auth_count(st);
	return state_bdb_auth_foreach(st, 0, count_one, &n) == 0 ? n : -1;
}

int state_lock_take(struct state *st, const char *mailbox, char *token, size_t tokenlen)
{
	if (REDIS(st))
		return state_redis_lock_take(st, mailbox, token, tokenlen);
	if (tokenlen > 0)
		token[0] = '\0';
	return 1;
}

int state_lock_renew(struct state *st, const char *mailbox, const char *token)
{
	if (REDIS(st))
		return state_redis_lock_renew(st, mailbox, token);
	return 1;
}

int state_lock_release(struct state *st, const char *mailbox, const char *token)
{
	if (REDIS(st))
		return state_redis_lock_release(st, mailbox, token);
	return 1;
}

long state_authfail_add(struct state *st, const char *key, uint32_t name_hash, long window)
{
	if (REDIS(st))
		return state_redis_authfail_add(st, key, name_hash, window);
	return 0;	/* the node's own count (stats.h) is the only one */
}

int state_authfail_forget(struct state *st, const char *key, uint32_t name_hash)
{
	if (REDIS(st))
		return state_redis_authfail_forget(st, key, name_hash);
	return 0;
}

/* session_authfail's failed: a handle for the call (the connection is the process's). */
static long authfail_failed(const struct conf *c, const char *key, uint32_t name_hash,
    long window, char *err, size_t errlen)
{
	struct state *st;
	long n;

	if (c->relay.backend != RELAY_BACKEND_REDIS)
		return 0;
	if ((st = state_new(c)) == NULL) {
		(void)str_copy(err, errlen, "out of memory");
		return -1;
	}
	n = state_authfail_add(st, key, name_hash, window);
	if (n < 0)
		(void)str_copy(err, errlen, state_strerror(st));
	state_free(st);
	return n;
}

/* session_authfail's succeeded, as authfail_failed. */
static int authfail_succeeded(const struct conf *c, const char *key, uint32_t name_hash,
    char *err, size_t errlen)
{
	struct state *st;
	int r;

	if (c->relay.backend != RELAY_BACKEND_REDIS)
		return 0;
	if ((st = state_new(c)) == NULL) {
		(void)str_copy(err, errlen, "out of memory");
		return -1;
	}
	r = state_authfail_forget(st, key, name_hash);
	if (r < 0)
		(void)str_copy(err, errlen, state_strerror(st));
	state_free(st);
	return r;
}

void state_authfail_install(void)
{
	static const struct session_authfail hook = { authfail_failed, authfail_succeeded };

	session_authfail_set(&hook);
}

int state_rate_take(struct state *st, struct relaydb_rate *v, size_t n, time_t now)
{
	if (REDIS(st))
		return state_redis_rate_take(st, v, n, now);
	return state_bdb_rate_take(st, v, n, now);
}

long state_rate_expire(struct state *st, time_t now)
{
	if (REDIS(st))
		return 0;	/* each counter has its TTL */
	return state_bdb_rate_expire(st, now);
}

int state_rate_foreach(struct state *st, relaydb_rate_visit_fn fn, void *arg)
{
	if (REDIS(st))
		return state_redis_rate_foreach(st, fn, arg);
	return state_bdb_rate_foreach(st, fn, arg);
}

int state_rate_reset(struct state *st, const char *key)
{
	if (REDIS(st))
		return state_redis_rate_reset(st, key);
	return state_bdb_rate_reset(st, key);
}

int state_table_run(struct state *st, const char *table, long ttl,
    int (*fn)(struct state_txn *t, void *arg), void *arg)
{
	if (REDIS(st))
		return state_redis_table_run(st, table, ttl, fn, arg);
	return state_bdb_table_run(st, table, fn, arg);
}

int state_txn_get(struct state_txn *t, const void *key, size_t klen, void *val,
    size_t vmax, size_t *vlen)
{
	if (t->redis != NULL)
		return state_redis_txn_get(t->redis, key, klen, val, vmax, vlen);
	return relaydb_txn_get(t->bdb, key, klen, val, vmax, vlen);
}

int state_txn_put(struct state_txn *t, const void *key, size_t klen, const void *val,
    size_t vlen)
{
	if (t->redis != NULL)
		return state_redis_txn_put(t->redis, key, klen, val, vlen);
	return relaydb_txn_put(t->bdb, key, klen, val, vlen);
}

int state_txn_del(struct state_txn *t, const void *key, size_t klen)
{
	if (t->redis != NULL)
		return state_redis_txn_del(t->redis, key, klen);
	return relaydb_txn_del(t->bdb, key, klen);
}

int state_table_foreach(struct state *st, const char *table, size_t vmax,
    int (*fn)(const char *key, size_t klen, const char *val, size_t vlen, void *arg),
    void *arg)
{
	if (REDIS(st))
		return state_redis_table_foreach(st, table, vmax, fn, arg);
	return state_bdb_table_foreach(st, table, vmax, fn, arg);
}
