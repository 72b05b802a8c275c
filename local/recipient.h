/*
 * recipient.h: where a local recipient's mail goes (docs/PROTOCOL.md, files):
 * an exact alias first, then a real user, then the domain's catch-all; alias
 * destinations are followed (bounded) and may be remote, in which case they
 * go through the queue.
 */
#ifndef ISPMAILD_RECIPIENT_H
#define ISPMAILD_RECIPIENT_H

#include <stddef.h>

#include "aliases.h"
#include "conf.h"

/* Aliases pointing at aliases are followed this deep, no deeper. */
#define RECIPIENT_DEPTH_MAX 8

struct rcpt_set {
	char **local;		/* mailbox addresses, lower case, unique */
	size_t nlocal;
	char **remote;		/* remote addresses, unique */
	size_t nremote;
};

/*
 * Add where address (a lower-case local address) delivers to set.
 * 1 when it names at least one destination, 0 when nobody is there
 * (the 550 5.1.1 case), -1 when the users file cannot be read.
 */
int rcpt_resolve_local(const struct conf *c, const struct aliases *al,
    const char *address, struct rcpt_set *set);
/* Add a remote address (deduplicated). */
void rcpt_add_remote(struct rcpt_set *set, const char *address);
void rcpt_set_free(struct rcpt_set *set);

#endif
