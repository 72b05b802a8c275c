/*
 * relay_admin.h: the POP-before-SMTP relay table as an administrator
 * manages it (ispmailctl relay; the web's admin pages call the same
 * functions), on whichever backend relay.backend names (state/state.h): list, authorize an address now, withdraw one, drop what
 * expired. Each change is one log line "admin action=relay-... by=ACTOR".
 * err holds the whole reason, as ispmailctl prints it; nothing here prints.
 */
#ifndef ISPMAILD_ADMIN_RELAY_H
#define ISPMAILD_ADMIN_RELAY_H

#include <stddef.h>
#include <time.h>

#include "conf.h"
#include "state.h"

/* The user recorded for an address an administrator authorized. */
#define ADMIN_RELAY_USER "admin"

struct admin_relay {
	const char *key;	/* "192.0.2.7", "2001:db8:1:2::/64" */
	time_t authorized;	/* when the user last logged in (or an admin added it) */
	long long expires_in;	/* seconds left at now, 0 when expired */
	const char *user;	/* who logged in, ADMIN_RELAY_USER, "" when unknown */
};

/*
 * An address as an administrator types it ("192.0.2.7", "2001:db8:1:2::5",
 * "2001:db8:1:2::/64") -> its relay key (IPv6: the ipv6_prefix network).
 * 0, or -1 with "not an IP address ..." in err.
 */
int admin_relay_key(const struct conf *c, const char *typed, char *key, size_t len,
    char *err, size_t errlen);

/*
 * Call each for every entry (a nonzero return stops the walk). 0, or -1
 * with "relay list: ..." in err.
 */
int admin_relay_list(struct state *st, const struct conf *c, time_t now,
    int (*each)(const struct admin_relay *r, void *arg), void *arg, char *err, size_t errlen);

/* Authorize address (as typed) at now, for relay.authorization_ttl. 0 or -1 with err. */
int admin_relay_add(struct state *st, const struct conf *c, const char *address,
    time_t now, const char *actor, char *err, size_t errlen);

/* Withdraw the authorization of address (as typed). 0, or -1 with err (none there). */
int admin_relay_delete(struct state *st, const struct conf *c, const char *address,
    const char *actor, char *err, size_t errlen);

/*
 * Remove the entries expired at now, then the sending counters that count
 * nothing any more and the old vacation memory (this node's). *removed: the entries removed, -1 when the relay table
 * could not be read. 0, or -1 with err (also when only the counters failed).
 */
int admin_relay_expire(struct state *st, const struct conf *c, time_t now,
    const char *actor, long *removed, char *err, size_t errlen);

#endif
