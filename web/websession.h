/*
 * websession.h: the web's login sessions, kept on the server because every
 * connection is served by whichever session process is free: a table
 * websession.db in the relay DB's environment in state_dir (relaydb.h's
 * table helpers). Key: SHA-256 of the session id, so the file alone opens
 * no session; value: "<expires> <csrf token> <address>".
 */
#ifndef ISPMAILD_WEBSESSION_H
#define ISPMAILD_WEBSESSION_H

#include <time.h>

#include "relaydb.h"
#include "users.h"

#define WEBSESSION_FILE "websession.db"
/* 32 random bytes in hex, and the NUL. */
#define WEBSESSION_HEX 65

struct websession {
	char id[WEBSESSION_HEX];	/* the cookie's value */
	char csrf[WEBSESSION_HEX];	/* every changing form carries it */
	char address[USERS_ADDRESS_MAX];
	time_t expires;
};

/* 32 bytes from getrandom(2) as 64 hex digits; 0 or -1. */
int websession_random_hex(char out[WEBSESSION_HEX]);

/* A new session for address, valid until now + ttl; 0 or -1. */
int websession_create(struct relaydb *db, const char *address, time_t now, long ttl,
    struct websession *out);
/*
 * The session of cookie value id: 1 found and unexpired (its expiry moved
 * to now + ttl), 0 absent, malformed or expired (then deleted), -1 error.
 */
int websession_get(struct relaydb *db, const char *id, time_t now, long ttl,
    struct websession *out);
/* 1 deleted, 0 absent, -1 error. */
int websession_delete(struct relaydb *db, const char *id);
/*
 * A session's expiry as stored, set to set first unless set < 0 (the
 * tests read and age sessions with it): 1 with *got, 0 absent, -1 error.
 */
int websession_expiry(struct relaydb *db, const char *id, time_t set, time_t *got);
/* End every session of address but keep_id's (a password change); how many, or -1. */
long websession_end_others(struct relaydb *db, const char *address, const char *keep_id);
/* Delete every expired session; how many, or -1. */
long websession_expire(struct relaydb *db, time_t now);

#endif
