/*
 * aliases.h: the aliases file (docs/PROTOCOL.md, files), read whole into a
 * sorted table.
 *
 *   # comment
 *   sales@example.net:   alice@example.net, bob@example.net
 *   info@example.net:    someone@remote.example other@example.net
 *   @example.org:        postmaster@example.net          (catch-all)
 *
 * Destinations are addresses, local or remote, separated by commas and/or
 * spaces (no inline comments: '#' is a valid local-part character).
 *
 * Resolving a recipient is the caller's job, in this order, because a real
 * user wins over the catch-all (docs/PROTOCOL.md, files):
 *   1. aliases_find(address)   an exact alias (it may shadow a user);
 *   2. the users file           a real user;
 *   3. aliases_catchall(domain) the domain's catch-all.
 * Destinations are not expanded further here; a caller that expands an
 * alias pointing at another alias must bound the depth.
 */
#ifndef ISPMAILD_ALIASES_H
#define ISPMAILD_ALIASES_H

#include <stddef.h>

struct alias {
	char *name;	/* "local@domain", or "@domain" for a catch-all; lower case */
	char **dest;	/* ndest >= 1 addresses, domains lower-cased, no duplicates */
	size_t ndest;
	size_t line;	/* line of the file it came from */
};

struct aliases {
	struct alias *v;	/* sorted by name */
	size_t n;
};

/*
 * Read path into *out. A NULL path (no aliases_file configured) is an
 * empty table; a configured file that is missing or unreadable is an error.
 * -1 with "path:line: reason" (or "path: reason") in err, *out left empty.
 */
int aliases_load(const char *path, struct aliases *out, char *err, size_t errlen);
void aliases_free(struct aliases *a);

/* The alias named address (any case, one trailing dot allowed), or NULL. */
const struct alias *aliases_find(const struct aliases *a, const char *address);
/* The catch-all "@domain" of domain (any case, one trailing dot), or NULL. */
const struct alias *aliases_catchall(const struct aliases *a, const char *domain);

#endif
