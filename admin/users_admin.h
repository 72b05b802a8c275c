/*
 * users_admin.h: the users an administrator manages (ispmailctl user add,
 * del, passwd, list; the web's admin pages call the same functions, so
 * the two never disagree). Each change is one log line
 * "admin action=user-... user=ADDRESS by=ACTOR". Nothing here prints.
 */
#ifndef ISPMAILD_ADMIN_USERS_H
#define ISPMAILD_ADMIN_USERS_H

#include <stddef.h>
#include <sys/types.h>

#include "conf.h"
#include "mailbox.h"
#include "users.h"

/*
 * The longest password accepted, in bytes (what ispmailctl reads): what
 * crypt(3) hashes, fewer than its CRYPT_MAX_PASSPHRASE_SIZE (512) bytes.
 */
#define ADMIN_PASSWORD_MAX 511

/*
 * What a new password must be. ispmailctl keeps its rules (not empty; an
 * administrator may set what a migrated account had); the web asks more
 * of a customer's choice: 8 characters, no control characters (a client
 * could not type them, POP3 could not carry a CR or LF).
 */
struct admin_password_rules {
	size_t min_chars;	/* UTF-8 characters, not bytes */
	int printable_only;	/* no byte below 0x20, no 0x7f */
};
extern const struct admin_password_rules admin_password_tool;
extern const struct admin_password_rules admin_password_web;

/* 0 when password meets rules, else -1 with the reason in err. */
int admin_password_check(const char *password, const struct admin_password_rules *rules,
    char *err, size_t errlen);

/*
 * An address as an administrator types it ("bob", "Bob@Example.NET.") ->
 * the stored form ("bob@example.net", users_login_address). 0, or -1 with
 * "invalid address ..." in err.
 */
int admin_user_address(const struct conf *c, const char *typed, char *addr, size_t len,
    char *err, size_t errlen);

/*
 * May address be added: a valid address in a local domain that has a
 * Maildir path (copied to maildir when not NULL). The checks of
 * admin_user_add that need no password and touch nothing. 0 or -1 with err.
 */
int admin_user_check(const struct conf *c, const char *address, char *maildir,
    size_t mdlen, char *err, size_t errlen);

/*
 * Add a user with this password (checked against rules, stored as a
 * "$y$" hash): the Maildir first (owned by uid:gid, (uid_t)-1 and
 * (gid_t)-1 leave the owner as is), then the users file under its lock;
 * the first user creates the file root:gid 0640. 0, or -1 with err (the
 * user exists, not a local domain, a symbolic link below maildir_root...).
 */
int admin_user_add(const struct conf *c, const char *address, const char *password,
    const struct admin_password_rules *rules, uid_t uid, gid_t gid, const char *actor,
    char *err, size_t errlen);

/* Remove a user from the users file; the Maildir is left in place. 0 or -1 with err. */
int admin_user_delete(const struct conf *c, const char *address, const char *actor,
    char *err, size_t errlen);

/* A user's new password (checked against rules). 0 or -1 with err. */
int admin_user_password_set(const struct conf *c, const char *address,
    const char *password, const struct admin_password_rules *rules, const char *actor,
    char *err, size_t errlen);

struct admin_user {
	char address[USERS_ADDRESS_MAX];
	char *options;			/* the options field as written, "" when none */
	struct admin_usage use;		/* Maildir usage and quota (mailbox.h) */
};

/*
 * Every user in file order with usage and quota, into a new array (free
 * with admin_user_list_free). 0, or -1 with err (the users file).
 */
int admin_user_list(const struct conf *c, struct admin_user **out, size_t *n,
    char *err, size_t errlen);
void admin_user_list_free(struct admin_user *v, size_t n);

#endif
