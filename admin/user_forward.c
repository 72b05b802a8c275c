/*
 * user_forward.c: setting a user's forward= and keep= (SPEC 12), shared by
 * ispmailctl and the web. Delivery reads them (local/recipient.c).
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "aliases.h"
#include "buf.h"
#include "log.h"
#include "mailbox.h"
#include "sys.h"
#include "user_forward.h"
#include "users.h"

/*
 * A local destination must be someone: a user, an alias, a catch-all of
 * its domain, or postmaster@/abuse@ (always deliverable). 0, or -1 with err.
 */
static int local_dest_known(const struct conf *c, const struct users *u, const char *dest,
    char *err, size_t errlen)
{
	const char *at = strrchr(dest, '@');
	size_t ll = (size_t)(at - dest);
	struct aliases al;
	int known;

	if (users_find(u, dest) != NULL ||
	    (ll == 10 && strncasecmp(dest, "postmaster", 10) == 0) ||
	    (ll == 5 && strncasecmp(dest, "abuse", 5) == 0))
		return 0;
	if (aliases_load(c->aliases_file, &al, err, errlen) != 0)
		return -1;
	known = aliases_find(&al, dest) != NULL || aliases_catchall(&al, at + 1) != NULL;
	aliases_free(&al);
	if (!known) {
		seterr(err, errlen, "bad destination %s: no such local user or alias", dest);
		return -1;
	}
	return 0;
}

/* The destinations as forward= holds them ("a@b c@d"), each checked. */
static int dests_join(const struct conf *c, const struct users *u, const char *const *dests,
    size_t ndest, struct buf *out, char *err, size_t errlen)
{
	for (size_t i = 0; i < ndest; i++) {
		const char *at = strrchr(dests[i], '@');

		if (!users_address_valid(dests[i]) || at == NULL) {
			seterr(err, errlen, "bad destination \"%s\": not a mail address "
			    "(local@domain)", dests[i]);
			return -1;
		}
		if (conf_is_local_domain(c, at + 1, strlen(at + 1)) &&
		    local_dest_known(c, u, dests[i], err, errlen) != 0)
			return -1;
		buf_printf(out, "%s%s", i > 0 ? " " : "", dests[i]);
	}
	return 0;
}

/* forward= and keep= of entry e changed in place; 0, or -1 with err. */
static int forward_options(const struct conf *c, const struct users *u, struct user *e,
    const char *const *dests, size_t ndest, int keep, char *err, size_t errlen)
{
	struct buf list = BUF_INIT;
	int rc = -1;

	if (ndest == 0) {
		(void)users_option_set(e, "forward", NULL);
		(void)users_option_set(e, "keep", NULL);
		return 0;
	}
	if (dests_join(c, u, dests, ndest, &list, err, errlen) != 0)
		goto out;
	if (users_option_set(e, "forward", list.s) != 0) {
		seterr(err, errlen, "the destinations do not fit in the users file's line");
		goto out;
	}
	if (keep != ADMIN_KEEP_UNCHANGED)
		(void)users_option_set(e, "keep", keep ? "yes" : "no");
	rc = 0;
out:
	buf_free(&list);
	return rc;
}

struct forward_arg {
	const struct conf *c;
	const char *const *dests;
	size_t ndest;
	int keep;
};

/* admin_user_change's step: the options set, the destinations checked. */
static int forward_change(const struct users *all, struct user *e, void *arg, char *err,
    size_t errlen)
{
	const struct forward_arg *a = arg;

	return forward_options(a->c, all, e, a->dests, a->ndest, a->keep, err, errlen);
}

int admin_user_forward_set(const struct conf *c, const char *address,
    const char *const *dests, size_t ndest, int keep, const char *actor, char *err,
    size_t errlen)
{
	struct forward_arg a = { c, dests, ndest, keep };
	int rc;

	if (ndest == 0 && keep != ADMIN_KEEP_UNCHANGED) {
		seterr(err, errlen, "--keep needs destinations (none removes keep= too)");
		return -1;
	}
	rc = admin_user_change(c, address, forward_change, &a, err, errlen);
	if (rc == 0)
		log_info("admin action=user-forward user=%s by=%s", log_q(address), log_q(actor));
	return rc;
}
