/*
 * relaydb.h: the POP-before-SMTP table (docs/PROTOCOL.md, files): a Berkeley
 * DB hash <state_dir>/relay.db inside a DB environment in state_dir, shared
 * by every forked session. Key: the client address as text ("192.0.2.7",
 * "2001:db8:1:2::/64"); value: "<unix seconds> <user>". No NUL in either. A
 * process that dies in the middle of an operation must not block the others:
 * see relaydb.c for how.
 *
 * Rules for callers:
 * - Open the handle in the process that uses it (after fork), at most one
 *   handle per process at a time. A handle inherited across fork() cannot
 *   be used (calls fail); relaydb_close() on it only frees memory.
 * - Every call returns within about RELAYDB_WAIT_SECONDS even when another
 *   process is stuck or died inside the library; -1 then, never a hang.
 * - Errors: -1 (NULL from open) and a message from relaydb_strerror() (or
 *   in err for open). Nothing here logs.
 * - Files (relay.db, rate.db, relay.db.lock, the environment's __db.* and log.*) are
 *   created mode 0600 (less the umask), owned by the caller's user.
 */
#ifndef ISPMAILD_RELAYDB_H
#define ISPMAILD_RELAYDB_H

#include <stddef.h>
#include <time.h>

/* Longest key and user accepted (bytes, without the terminating NUL). */
#define RELAYDB_KEY_MAX 64
#define RELAYDB_USER_MAX 255
/* Bound on the wait for another process's operation. */
#define RELAYDB_WAIT_SECONDS 10

struct relaydb;

/*
 * Open (creating if needed) the environment and the database. A relay.db
 * that Berkeley DB cannot open as a database is moved aside to
 * relay.db.corrupt-<unix time> and replaced by an empty one; a relay.db
 * removed since an earlier open is created empty again. Either way the
 * open succeeds, relaydb_recreated() returns 1 and relaydb_strerror() says
 * what happened, for the caller to log.
 */
struct relaydb *relaydb_open(const char *state_dir, char *err, size_t errlen);
/* Close and free; NULL is fine. */
void relaydb_close(struct relaydb *db);

/*
 * Record (or refresh) key as authorized at now by user. 0 or -1 (also for
 * a key that is empty, longer than RELAYDB_KEY_MAX or has a byte outside
 * 0x21..0x7e, a user longer than RELAYDB_USER_MAX or with a control byte,
 * or now < 0).
 */
int relaydb_authorize(struct relaydb *db, const char *key, const char *user, time_t now);
/*
 * 1 found (when and user filled, user may be NULL), 0 absent, -1 error
 * (including a user buffer too small for the stored user and its NUL).
 */
int relaydb_lookup(struct relaydb *db, const char *key, time_t *when, char *user, size_t userlen);
/* 1 when present and now - when < ttl, 0 otherwise, -1 error. */
int relaydb_is_authorized(struct relaydb *db, const char *key, time_t now, long ttl);
/* 1 deleted, 0 absent, -1 error. */
int relaydb_delete(struct relaydb *db, const char *key);
/*
 * Remove entries with now - when >= ttl, and entries whose value is not
 * "<unix seconds> <user>"; the count removed or -1.
 */
long relaydb_expire(struct relaydb *db, time_t now, long ttl);

typedef int (*relaydb_visit_fn)(const char *key, time_t when, const char *user, void *arg);
/*
 * Call fn for each entry (stop early when it returns non-zero). The entries
 * are copied out first, so fn runs with no lock held and may call other
 * relaydb functions. Malformed entries are skipped. 0 or -1.
 */
int relaydb_foreach(struct relaydb *db, relaydb_visit_fn fn, void *arg);

/*
 * The outbound counters (ratelimit.h): rate.db in the same environment.
 * A take names up to RELAYDB_RATE_KEYS counters ("user:<name>",
 * "addr:<relay key>"; bytes 0x21..0x7e), each with its limit (0 or a NULL
 * key: skipped, not counted). In one transaction: when every counter
 * allows one more, one is counted in each and 1 is returned; otherwise
 * nothing is counted, over is set in each counter that refused, first in
 * those whose refusal is the first in their window (for the one log line),
 * and 0 is returned. count: the counter's value before. -1 on error.
 */
#define RELAYDB_RATE_KEYS 4
#define RELAYDB_RATE_KEY_MAX (5 + RELAYDB_USER_MAX)

struct rate_counter;

struct relaydb_rate {
	const char *key;
	long limit;
	int over;
	int first;
	long count;
};

int relaydb_rate_take(struct relaydb *db, struct relaydb_rate *v, size_t n,
    time_t now, long window);
typedef int (*relaydb_rate_visit_fn)(const char *key, const struct rate_counter *c,
    void *arg);
/* Each counter, copied out first (as relaydb_foreach); 0 or -1. */
int relaydb_rate_foreach(struct relaydb *db, relaydb_rate_visit_fn fn, void *arg);
/* Forget one counter: 1 deleted, 0 absent, -1 error. */
int relaydb_rate_reset(struct relaydb *db, const char *key);
/* Delete the counters that count nothing any more at now; how many, or -1. */
long relaydb_rate_expire(struct relaydb *db, time_t now, long window);

/* The last error, or the note left by relaydb_open (see there); never NULL. */
const char *relaydb_strerror(const struct relaydb *db);
/* 1 when relaydb_open replaced an unreadable or missing relay.db, else 0. */
int relaydb_recreated(const struct relaydb *db);

/*
 * ---- Other tables in the same environment (greylist.db) ----
 * A named hash database beside relay.db, sharing its environment, its
 * operation lock and its recovery: every call below holds the same lock as
 * the relay functions, so a read-modify-write in one relaydb_table_run is
 * atomic against every other process. The database is opened for the call
 * and closed after it, so nothing here outlives a recovery.
 */
struct relaydb_txn;	/* one transaction on one table, inside relaydb_table_run */

/*
 * Run fn in one transaction on table file (a plain name ending in ".db",
 * not relay.db; created when missing). fn returns >= 0 to commit, < 0 to
 * abort; a library error inside fn aborts too and may run fn again (a
 * retry after recovery). Returns fn's value, or -1 with relaydb_strerror.
 */
typedef int (*relaydb_txn_fn)(struct relaydb_txn *t, void *arg);
int relaydb_table_run(struct relaydb *db, const char *file, relaydb_txn_fn fn, void *arg);
/*
 * 1 found (val holds *vlen bytes, no NUL added; a *vlen over vmax means
 * the value was too long and nothing was copied), 0 absent, -1 error.
 */
int relaydb_txn_get(struct relaydb_txn *t, const void *key, size_t klen,
    void *val, size_t vmax, size_t *vlen);
/* 0 or -1. */
int relaydb_txn_put(struct relaydb_txn *t, const void *key, size_t klen,
    const void *val, size_t vlen);
/* 1 deleted, 0 absent, -1 error. */
int relaydb_txn_del(struct relaydb_txn *t, const void *key, size_t klen);

/*
 * Call fn for each entry of table file (values of at most vmax bytes; a
 * longer one is skipped), copied out first as relaydb_foreach does, so fn
 * may call relaydb_table_run. fn's non-zero return stops the walk. 0 or -1.
 */
typedef int (*relaydb_table_visit_fn)(const char *key, size_t klen, const char *val,
    size_t vlen, void *arg);
int relaydb_table_foreach(struct relaydb *db, const char *file, size_t vmax,
    relaydb_table_visit_fn fn, void *arg);

#endif
