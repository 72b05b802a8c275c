/*
 * state.h: what the processes of a node (and, with Redis, the nodes of a
 * cluster) share (SPEC: "More than one machine"; docs/ARCHITECTURE.md,
 * state/): the POP-before-SMTP authorizations, the POP3 mailbox lock
 * across nodes, the outbound rate counters and the greylist, behind one
 * interface with two backends, chosen by relay.backend: the Berkeley DB
 * files of state_dir (state_bdb.c, over common/relaydb.c) and Redis
 * (state_redis.c). The greylist's table goes through state_table_run.
 *
 * Rules for callers:
 * - A handle belongs to one process and one session (or one command); it
 *   opens what it needs at first use. The Redis connection underneath is
 *   the process's one, kept across the sessions it serves.
 * - Errors: -1, and state_strerror() says why. Nothing here logs, but for
 *   a BDB relay.db found unreadable or missing and recreated (a warning,
 *   "relaydb result=recreated").
 * - Keys are relay keys (net_relay_key: "192.0.2.7", "2001:db8:1:2::/64"),
 *   bytes 0x21..0x7e, at most STATE_KEY_MAX.
 */
#ifndef ISPMAILD_STATE_H
#define ISPMAILD_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "relaydb.h"

#define STATE_KEY_MAX RELAYDB_KEY_MAX
#define STATE_USER_MAX RELAYDB_USER_MAX

struct state;

/* A handle for c's backend (c must outlive it); NULL only out of memory. */
struct state *state_new(const struct conf *c);
/* Close what the handle opened (not the process's Redis connection); NULL is fine. */
void state_free(struct state *st);
/* The last error; never NULL. */
const char *state_strerror(const struct state *st);
/* "bdb" or "redis". */
const char *state_backend_name(const struct state *st);

/* ---- the authorizations (POP-before-SMTP) ---- */

/*
 * Record key as authorized by user from now on, for relay.authorization_ttl
 * seconds. 0 or -1.
 */
int state_auth_put(struct state *st, const char *key, const char *user, time_t now);
/*
 * Is key authorized at now? 1 yes (user filled when not NULL; *expires,
 * when not NULL, the second it ends), 0 no, -1 error (the caller cannot
 * tell: it must not relay on it).
 */
int state_auth_get(struct state *st, const char *key, time_t now, char *user,
    size_t userlen, time_t *expires);
/* 1 deleted, 0 absent, -1 error. */
int state_auth_del(struct state *st, const char *key);
/* Remove what has expired at now (Redis expires by itself: 0); count or -1. */
long state_auth_expire(struct state *st, time_t now);

struct state_auth_entry {
	const char *key;
	const char *user;	/* "" when none recorded */
	time_t when;		/* authorized at */
	long left;		/* seconds still valid at now, >= 0 */
};
/*
 * Call fn for each entry (fn's non-zero return stops the walk); fn may
 * call other state functions. BDB lists expired entries too (left 0) until
 * state_auth_expire removes them; Redis has none. 0 or -1.
 */
int state_auth_foreach(struct state *st, time_t now,
    int (*fn)(const struct state_auth_entry *e, void *arg), void *arg);

/*
 * How many entries there are (BDB: expired ones too; Redis: the keys, not
 * read one by one): for ispmailctl status and the metrics. Count or -1.
 */
long state_auth_count(struct state *st);

/* ---- the POP3 mailbox lock across nodes ---- */

/*
 * With Redis, [IN-USE] holds across nodes: a key <prefix>lock:<mailbox>
 * holding the session's token, set only when absent (SET NX PX), renewed
 * by the live session and removed at its end only while it still holds
 * that token (compare-and-delete), so a dead node's lock expires by
 * itself and a late node never removes another's. Its life:
 * limits.command_timeout + STATE_LOCK_MARGIN seconds from the last
 * renewal (a session waits at most command_timeout for a command).
 * With BDB there is nothing to share beyond the Maildir's own flock
 * (maildir_lock): every call succeeds and does nothing.
 */
#define STATE_LOCK_MARGIN 5
#define STATE_TOKEN_MAX 128

/* Take mailbox's lock; token (filled) proves it later. 1 taken, 0 held elsewhere, -1 error. */
int state_lock_take(struct state *st, const char *mailbox, char *token, size_t tokenlen);
/* Extend it if still ours: 1 renewed, 0 not ours any more, -1 error. */
int state_lock_renew(struct state *st, const char *mailbox, const char *token);
/* Remove it if still ours: 1 removed, 0 not ours (left alone), -1 error. */
int state_lock_release(struct state *st, const char *mailbox, const char *token);

/* ---- the outbound rate counters (common/ratelimit.h) ---- */

/*
 * As relaydb_rate_take (relaydb.h), window limits.outbound_window. Redis:
 * each counter is <prefix>rate:<key> holding the same text as rate.db
 * ("<start> <cur> <prev> <noted>", ratelimit.h) with a TTL of two windows,
 * updated in one optimistic transaction (WATCH, MULTI, EXEC, tried again
 * when another node changed a counter meanwhile).
 */
int state_rate_take(struct state *st, struct relaydb_rate *v, size_t n, time_t now);
/* As relaydb_rate_expire (Redis: 0, the TTLs do it); count or -1. */
long state_rate_expire(struct state *st, time_t now);
/* As relaydb_rate_foreach; 0 or -1. */
int state_rate_foreach(struct state *st, relaydb_rate_visit_fn fn, void *arg);
/* As relaydb_rate_reset: 1 deleted, 0 absent, -1. */
int state_rate_reset(struct state *st, const char *key);

/* ---- the failed-login counts (the login pause, common/session.h) ---- */

/*
 * One more failed login of the name hashed name_hash (stats_auth_name_hash)
 * from key: the address's failures on every node, this one included (> 0),
 * forgotten window seconds after its last one; 0 with BDB (each node counts
 * its own in shared memory, stats.h); -1 with state_strerror. Redis: a hash
 * <prefix>authfail:<key>, one field per name hash ("%08x"), so a good login
 * forgets that name's failures only, as the node's own count does;
 * HINCRBY, EXPIRE window and the sum in one script.
 */
long state_authfail_add(struct state *st, const char *key, uint32_t name_hash, long window);
/* Forget that name's failures from key (HDEL; BDB: nothing). 0 or -1. */
int state_authfail_forget(struct state *st, const char *key, uint32_t name_hash);
/*
 * Make the login pause (common/session.c) use these counts: once at start,
 * by the daemon. With BDB they return 0 and the node's own count serves.
 */
void state_authfail_install(void);

/* ---- tables of entries with a life (the greylist, filter/greylist.c) ---- */

/*
 * As relaydb_table_run and relaydb_txn_* (relaydb.h): fn reads and writes
 * entries of table (a name ending in ".db") in one transaction; fn >= 0
 * commits, < 0 aborts; fn may be run again. BDB: the table file in the
 * relay DB's environment. Redis: keys <prefix><table without .db>:<key>
 * (binary), each written with a TTL of ttl seconds (<= 0: none), read
 * under WATCH and written in MULTI/EXEC, tried again when another process
 * changed one meanwhile. Returns fn's value, or -1 with state_strerror.
 */
struct state_txn;
int state_table_run(struct state *st, const char *table, long ttl,
    int (*fn)(struct state_txn *t, void *arg), void *arg);
/* 1 found (*vlen bytes in val; *vlen > vmax: too long, nothing copied), 0 absent, -1. */
int state_txn_get(struct state_txn *t, const void *key, size_t klen, void *val,
    size_t vmax, size_t *vlen);
/* 0 or -1. */
int state_txn_put(struct state_txn *t, const void *key, size_t klen, const void *val,
    size_t vlen);
/* 1 deleted, 0 absent, -1. */
int state_txn_del(struct state_txn *t, const void *key, size_t klen);
/* Each entry of table (values over vmax skipped), copied out first; fn's non-zero stops. */
int state_table_foreach(struct state *st, const char *table, size_t vmax,
    int (*fn)(const char *key, size_t klen, const char *val, size_t vlen, void *arg),
    void *arg);

/*
 * A BDB handle over a relay DB the caller already holds (not closed by
 * state_free): for the callers of the older relaydb-based interfaces.
 * NULL only out of memory.
 */
struct state *state_wrap_relaydb(struct relaydb *db);
/*
 * Use db (held by the caller, not closed by state_free) as st's local
 * relay DB: a process that has one open already must not open a second
 * environment (the web's connection does this).
 */
void state_borrow_relaydb(struct state *st, struct relaydb *db);

/*
 * The local relay DB environment (greylist, the rate counters' listing),
 * opened at first use; NULL with state_strerror() when it cannot be.
 */
struct relaydb *state_relaydb(struct state *st);

#endif
