/*
 * ratelimits.h: the outbound sending limits as an administrator sees them
 * (ispmailctl ratelimit; later the web's admin page): the counters in the
 * shared state (state.h: the relay DB's rate table, or Redis) with their
 * limits, and lifting one.
 */
#ifndef ISPMAILD_ADMIN_RATELIMITS_H
#define ISPMAILD_ADMIN_RATELIMITS_H

#include <stddef.h>
#include <time.h>

#include "conf.h"
#include "state.h"

struct admin_rate {
	const char *kind;	/* "user" or "address" */
	const char *name;	/* the user, or the client address (relay key) */
	long count;		/* over the last outbound_window seconds, at now */
	long limit;		/* the limit that applies, 0 when off */
};

/*
 * Call each for every counter that still counts something at now, in the
 * table's order; a nonzero return stops the walk. 0, or -1 (the
 * error in state_strerror()).
 */
int admin_ratelimit_list(struct state *st, const struct conf *c, time_t now,
    int (*each)(const struct admin_rate *r, void *arg), void *arg);

/*
 * Forget the counter of who: an IP address (IPv6: its ipv6_prefix network,
 * as the relay DB keys it) or a user's address. 1 reset, 0 when there was
 * none, -1 with err.
 */
int admin_ratelimit_reset(struct state *st, const struct conf *c, const char *who,
    char *err, size_t errlen);

#endif
