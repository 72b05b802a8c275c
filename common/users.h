/*
 * users.h: the users file (SPEC §5): "address:crypt-hash[:options]" per
 * line, written by ispmailctl, read by the sessions. Passwords are checked
 * with crypt(3) (libxcrypt): yescrypt "$y$" by default, "$6$" accepted.
 */
#ifndef ISPMAILD_USERS_H
#define ISPMAILD_USERS_H

#include <stddef.h>

#include "conf.h"

#define USERS_ADDRESS_MAX 256
#define USERS_HASH_MAX 512

struct user {
	char *address;	/* lower case "local@domain" */
	char *hash;
	char *options;	/* "" when none */
};

struct users {
	struct user *v;
	size_t n;
};

/* Whole-file read (ispmailctl, aliases checks). -1 with a reason in err. */
int users_load(const char *path, struct users *out, char *err, size_t errlen);
void users_free(struct users *u);
const struct user *users_find(const struct users *u, const char *address);
/* Atomic rewrite: temp file in the same directory, fsync, rename, fsync dir. */
int users_save(const char *path, const struct users *u, char *err, size_t errlen);

/*
 * The session's lookup: scan the file for address and copy its hash out,
 * without loading the rest. 1 found, 0 not found, -1 file error.
 */
int users_lookup(const char *path, const char *address, char *hash, size_t hashlen);

/*
 * Check a password. Unknown users are checked against a dummy hash of the
 * same kind, so that both answers take the same time. 1 ok, 0 refused,
 * -1 when the users file cannot be read.
 */
int users_authenticate(const char *path, const char *address, const char *password);
/* crypt(3) check of one password against one hash, constant-time compare. */
int users_check_hash(const char *hash, const char *password);
/* New hash with a fresh salt; prefix "$y$" (default when NULL) or "$6$". */
int users_make_hash(const char *password, const char *prefix, char *out, size_t outlen);

/*
 * The login name a user types, as the address it stands for: lower case,
 * a bare local part means that name in the first local domain (SPEC §3).
 * -1 when it is not a plausible address.
 */
int users_login_address(const struct conf *c, const char *login, char *out, size_t outlen);

#endif
