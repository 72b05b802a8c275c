/*
 * user_forward.h: a user's forwarding (SPEC 12) as ispmailctl user forward
 * and the web's pages change it: the forward= and keep= options of
 * the users file, every other option kept as written.
 */
#ifndef ISPMAILD_ADMIN_USER_FORWARD_H
#define ISPMAILD_ADMIN_USER_FORWARD_H

#include <stddef.h>

#include "conf.h"

/* keep argument of admin_user_forward_set: leave keep= as it is. */
#define ADMIN_KEEP_UNCHANGED (-1)

/*
 * Set address's forward= to dests (ndest >= 1) and, when keep is 0 or 1,
 * keep= to no or yes; with ndest 0 (ispmailctl's "none") remove both
 * (keep then must be ADMIN_KEEP_UNCHANGED). Each destination must be an
 * address we store (users_address_valid); one in a local domain must be
 * a user, an alias or covered by a catch-all, so that a typo does not
 * lose mail. Under the users file's lock; logged as "admin
 * action=user-forward user=ADDRESS by=ACTOR". 0, or -1 with a reason for
 * people in err (one that starts "bad destination" is about dests).
 */
int admin_user_forward_set(const struct conf *c, const char *address,
    const char *const *dests, size_t ndest, int keep, const char *actor, char *err,
    size_t errlen);

#endif
