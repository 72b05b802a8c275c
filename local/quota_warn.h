/*
 * quota_warn.h: the 80 % and 95 % quota warnings (SPEC 12; docs/ADMIN.md,
 * "My mailbox is full"). After a copy is counted in a mailbox's
 * maildirsize, a mailbox that has reached a level gets one warning a day
 * per level, written straight into its Maildir (not through SMTP nor the
 * queue) and counted like any message, never refused: a mailbox at its
 * quota still gets told (Dovecot's quota_warning does the same).
 */
#ifndef ISPMAILD_QUOTA_WARN_H
#define ISPMAILD_QUOTA_WARN_H

#include <time.h>

#include "buf.h"
#include "conf.h"
#include "maildir.h"

/* What one warning says. */
struct quota_warning {
	const char *to;			/* the mailbox's address */
	const char *hostname;		/* for the Message-ID */
	int level;			/* 80 or 95 */
	long long bytes;		/* the usage now */
	unsigned long long quota;	/* the limit in bytes */
	time_t now;
};

/*
 * The warning as stored (LF line ends): Return-Path <>, From the
 * postmaster of the mailbox's domain, "Subject: Your mailbox is N% full"
 * (N the level), the usage and quota in words, what to do.
 */
void deliver_quota_warning_text(const struct quota_warning *w, struct buf *out);

/*
 * The warning for address (its Maildir maildir, its quota in bytes), when
 * its usage u (maildirsize's, quota_update_get) has reached 80 % or 95 %
 * and none was sent for that level
 * today: delivered, counted in maildirsize, remembered in .quotawarn and
 * logged ("quota user=... level=80 result=warned"). Failures are logged;
 * the delivery that called it has stored its message either way.
 */
void deliver_quota_warning(const struct conf *c, const char *address,
    const char *maildir, unsigned long long quota, const struct quota_usage *u);

#endif
