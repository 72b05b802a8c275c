/*
 * mailbox.h: mailboxes as an administrator sees them (ispmailctl user
 * quota, user list; later the web's admin page): a user's usage against
 * the quota= of the users file, and changing that quota.
 */
#ifndef ISPMAILD_ADMIN_MAILBOX_H
#define ISPMAILD_ADMIN_MAILBOX_H

#include <stddef.h>

#include "conf.h"
#include "users.h"

struct admin_usage {
	int known;			/* 0: the Maildir could not be read */
	long long bytes, count;
	int has_quota;
	unsigned long long quota;	/* bytes, when has_quota */
};

/*
 * The usage of one user's Maildir: from maildirsize for a user with a
 * quota (counted again when Maildir++ says so), by counting the names for
 * one without (nothing is written for them). 0 always; out->known tells.
 */
int admin_user_usage(const struct conf *c, const struct user *u, struct admin_usage *out);

/*
 * Set (size "10M", "1G", bytes) or remove ("none") a user's quota= in the
 * users file, every other option kept; under the users file's lock. With
 * "none" the old maildirsize goes too (its counts would be stale if a
 * quota came back); with any change the warnings' memory (.quotawarn)
 * goes, so that a new size warns afresh. Logged as "admin action=user-quota
 * user=ADDRESS quota=SIZE by=ACTOR". 0, or -1 with err.
 */
int admin_user_quota_set(const struct conf *c, const char *address, const char *size,
    const char *actor, char *err, size_t errlen);

/*
 * Change one entry of the users file under its lock (load, fn, save
 * atomically): the one way admin/ edits a user (password, quota, forward,
 * vacation); fn gets the entry and the whole file (read only). fn returns 0
 * to save, -1 (with err) to leave the file alone. 0, or -1 with err (also
 * "no such user").
 */
typedef int (*admin_user_change_fn)(const struct users *all, struct user *u, void *arg,
    char *err, size_t errlen);
int admin_user_change(const struct conf *c, const char *address, admin_user_change_fn fn,
    void *arg, char *err, size_t errlen);

/* "12.3M"-style, 1024-based, for people; out of at least 16 bytes. */
void admin_size_format(unsigned long long n, char *out, size_t outlen);

#endif
