/*
 * relaydb.h: the POP-before-SMTP table (SPEC §5): a Berkeley DB hash
 * <state_dir>/relay.db inside a DB environment in state_dir, shared by every
 * forked session. Key: the client address as text ("192.0.2.7",
 * "2001:db8:1:2::/64"); value: "<unix seconds> <user>". No NUL in either.
 * A process that dies in the middle of an operation must not block the
 * others: see relaydb.c for how.
 */
#ifndef ISPMAILD_RELAYDB_H
#define ISPMAILD_RELAYDB_H

#include <stddef.h>
#include <time.h>

struct relaydb;

/* Open (creating if needed) the environment and the database. */
struct relaydb *relaydb_open(const char *state_dir, char *err, size_t errlen);
void relaydb_close(struct relaydb *db);

/* Record (or refresh) key as authorized at now by user. 0 or -1. */
int relaydb_authorize(struct relaydb *db, const char *key, const char *user, time_t now);
/* 1 found (when and user filled, user may be NULL), 0 absent, -1 error. */
int relaydb_lookup(struct relaydb *db, const char *key, time_t *when, char *user, size_t userlen);
/* 1 when present and now - when < ttl, 0 otherwise, -1 error. */
int relaydb_is_authorized(struct relaydb *db, const char *key, time_t now, long ttl);
/* 1 deleted, 0 absent, -1 error. */
int relaydb_delete(struct relaydb *db, const char *key);
/* Remove entries with now - when >= ttl; the count removed or -1. */
long relaydb_expire(struct relaydb *db, time_t now, long ttl);

typedef int (*relaydb_visit_fn)(const char *key, time_t when, const char *user, void *arg);
/* Call fn for each entry (stop early when it returns non-zero). 0 or -1. */
int relaydb_foreach(struct relaydb *db, relaydb_visit_fn fn, void *arg);

const char *relaydb_strerror(const struct relaydb *db);

#endif
