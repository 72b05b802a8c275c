/*
 * recipient.c: resolving local recipients through the aliases and users
 * files. The order is docs/PROTOCOL.md's: exact alias, real user, catch-all.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "log.h"
#include "recipient.h"
#include "users.h"

static int list_has(char **v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(v[i], s) == 0)
			return 1;
	return 0;
}

static void list_add(char ***v, size_t *n, const char *s)
{
	if (list_has(*v, *n, s))
		return;
	*v = xreallocarray(*v, *n + 1, sizeof **v);
	(*v)[(*n)++] = xstrdup(s);
}

void rcpt_add_remote(struct rcpt_set *set, const char *address)
{
	list_add(&set->remote, &set->nremote, address);
}

void rcpt_set_free(struct rcpt_set *set)
{
	size_t i;

	for (i = 0; i < set->nlocal; i++)
		free(set->local[i]);
	for (i = 0; i < set->nremote; i++)
		free(set->remote[i]);
	free(set->local);
	free(set->remote);
	memset(set, 0, sizeof *set);
}

static int resolve(const struct conf *c, const struct aliases *al,
    const char *address, struct rcpt_set *set, int depth);

/* An alias's destinations: local ones resolved again, remote ones queued. */
static int expand(const struct conf *c, const struct aliases *al,
    const struct alias *a, struct rcpt_set *set, int depth)
{
	size_t i;
	int found = 0;

	for (i = 0; i < a->ndest; i++) {
		const char *d = a->dest[i];
		const char *at = strrchr(d, '@');
		int r;

		if (at == NULL || !conf_is_local_domain(c, at + 1, strlen(at + 1))) {
			rcpt_add_remote(set, d);
			found = 1;
			continue;
		}
		r = resolve(c, al, d, set, depth + 1);
		if (r < 0)
			return -1;
		if (r == 0)
			log_warn("alias name=%s dest=%s reason=\"no such user\"",
			    log_q(a->name), log_q(d));
		found |= r;
	}
	return found;
}

static int resolve(const struct conf *c, const struct aliases *al,
    const char *address, struct rcpt_set *set, int depth)
{
	const struct alias *a;
	const char *at;
	char hash[USERS_HASH_MAX];
	int r;

	if (depth > RECIPIENT_DEPTH_MAX) {
		log_warn("alias name=%s reason=\"nested too deep\"", log_q(address));
		return 0;
	}
	if ((a = aliases_find(al, address)) != NULL)
		return expand(c, al, a, set, depth);
	r = users_lookup(c->users_file, address, hash, sizeof hash);
	if (r < 0)
		return -1;
	if (r == 1) {
		list_add(&set->local, &set->nlocal, address);
		return 1;
	}
	at = strrchr(address, '@');
	if (at != NULL && (a = aliases_catchall(al, at + 1)) != NULL)
		return expand(c, al, a, set, depth);
	return 0;
}

int rcpt_resolve_local(const struct conf *c, const struct aliases *al,
    const char *address, struct rcpt_set *set)
{
	return resolve(c, al, address, set, 0);
}
