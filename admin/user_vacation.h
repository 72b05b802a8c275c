/*
 * user_vacation.h: a user's vacation reply as an administrator (ispmailctl
 * user vacation) and the user's own web page set it: the message in
 * the Maildir's .vacation.msg (local/vacation.h reads it at delivery) and
 * vacation=yes|no in the users file.
 */
#ifndef ISPMAILD_ADMIN_USER_VACATION_H
#define ISPMAILD_ADMIN_USER_VACATION_H

#include <stddef.h>

#include "buf.h"
#include "conf.h"

/*
 * Vacation on: msg (header lines, of which only Subject: is taken, an
 * empty line, the body; CRLF or LF; UTF-8; text without a header line is
 * all body) is checked, written to the Maildir's .vacation.msg with LF
 * line ends (a temporary file renamed over it, fsynced, owned like the
 * Maildir), then vacation=yes is set in the users file, every other option
 * kept, under its lock. Off: vacation=no; the message stays for next time.
 * Logged as "admin action=user-vacation user=ADDRESS state=on|off by=ACTOR".
 * 0, or -1 with err (nothing changed in the users file).
 */
int admin_user_vacation_set(const struct conf *c, const char *address, int on,
    const char *msg, size_t len, const char *actor, char *err, size_t errlen);

/*
 * The checks admin_user_vacation_set makes of msg before it touches
 * anything: 0, or -1 with the reason (for people) in err. A page uses it
 * to tell a message it must refuse from a server that failed.
 */
int admin_vacation_check(const char *msg, size_t len, char *err, size_t errlen);

/*
 * For a page: whether vacation is on, and the message as stored ("" when
 * there is none). 0, or -1 with err (no such user, unreadable file).
 */
int admin_user_vacation_get(const struct conf *c, const char *address, int *on,
    struct buf *msg, char *err, size_t errlen);

#endif
