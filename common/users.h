/*
 * users.h: the users file (docs/PROTOCOL.md, files):
 * "address:crypt-hash[:options]" per line, written by ispmailctl, read by the
 * sessions. Passwords are checked with crypt(3) (libxcrypt): yescrypt "$y$"
 * by default, "$6$" accepted.
 *
 * '#' comment lines and blank lines are allowed; users_load keeps them
 * (with the entry they stand above) so that users_save writes them back.
 * Addresses compare without regard to case and are kept in lower case.
 */
#ifndef ISPMAILD_USERS_H
#define ISPMAILD_USERS_H

#include <stddef.h>
#include <stdio.h>

#include "conf.h"

#define USERS_ADDRESS_MAX 256
#define USERS_HASH_MAX 512
/* A longer line is an error for users_load and skipped by users_lookup. */
#define USERS_LINE_MAX 4096

struct user {
	char *address;	/* lower case "local@domain" */
	char *hash;
	char *options;	/* "" (or NULL) when none */
	char *comments;	/* comment/blank lines just above it, each with its
			   "\n"; NULL when none */
};

struct users {
	struct user *v;		/* in file order */
	size_t n;
	char *trailer;		/* comment/blank lines after the last entry */
};

/*
 * The options field (docs/PROTOCOL.md): comma-separated key=value, parsed
 * into this; any other option is kept as written, never interpreted.
 */
struct user_options {
	int has_quota;			/* 0: no quota (absent, none or 0) */
	unsigned long long quota;	/* bytes, when has_quota */
	char forward[USERS_LINE_MAX];	/* "a@b c@d", "" when none */
	int keep;			/* a copy stays when forwarding (default 1) */
	int vacation;			/* default 0 */
};

/*
 * Parse options (NULL: all defaults) into o. An option we do not know,
 * or a token without '=', is ignored (users_save writes it back as it
 * is). -1 with the first bad value in err (its default kept in o).
 */
int users_options_parse(const char *options, struct user_options *o, char *err, size_t errlen);
/* "123", "10K", "5M", "2G" (1024-based, any case) in bytes; 0 or -1. */
int users_size_parse(const char *s, unsigned long long *out);
/*
 * Set key=value in an entry's options, in place of the old value or at the
 * end, every other option kept as written; value NULL removes the key.
 * -1 (nothing changed) when the value is bad for a known key.
 */
int users_option_set(struct user *u, const char *key, const char *value);

/*
 * Whole-file read (ispmailctl, ispmaild -t). -1 with "path:line: reason"
 * (or "path: reason") in err; errno is kept from a failed open (ENOENT).
 * *out is empty after an error, and must be freed with users_free after 0.
 */
int users_load(const char *path, struct users *out, char *err, size_t errlen);
void users_free(struct users *u);
const struct user *users_find(const struct users *u, const char *address);
/* Append a copy of the entry (options may be NULL); no duplicate check. */
void users_add(struct users *u, const char *address, const char *hash, const char *options);
/* 1 removed (with the comments above it), 0 when absent. */
int users_remove(struct users *u, const char *address);
/*
 * Atomic rewrite: temp file in the same directory, mode and (as root)
 * owner of the old file (0640 for a new one), fsync, rename, fsync dir.
 * A reader sees the old file or the new one, never a mix.
 */
int users_save(const char *path, const struct users *u, char *err, size_t errlen);
/*
 * Serialise writers (load, change, save) with an flock on "<path>.lock".
 * The fd to hand to users_unlock, or -1 with a reason in err.
 */
int users_lock(const char *path, char *err, size_t errlen);
void users_unlock(int fd);

/*
 * The session's lookup: scan the file for address (any case) and copy its
 * hash out, without loading the rest; malformed and overlong lines are
 * skipped (users_load reports them). 1 found, 0 not found, -1 when the
 * file cannot be read or the hash does not fit.
 */
int users_lookup(const char *path, const char *address, char *hash, size_t hashlen);
/*
 * The session's and delivery's lookup of one user's options (as
 * users_lookup finds the entry): 1 found, 0 not found (defaults in o),
 * -1 when the file cannot be read. A bad value (ispmaild -t reports it)
 * counts as absent.
 */
int users_options(const char *path, const char *address, struct user_options *o);

/*
 * Check a password. Unknown users are checked against a dummy hash of the
 * default kind, so that both answers take the same time. 1 ok, 0 refused,
 * -1 when the users file cannot be read.
 */
int users_authenticate(const char *path, const char *address, const char *password);
/* crypt(3) check of one password against one hash, constant-time compare. */
int users_check_hash(const char *hash, const char *password);
/* New hash with a fresh salt; prefix "$y$" (default when NULL) or "$6$". */
int users_make_hash(const char *password, const char *prefix, char *out, size_t outlen);
/* The hash users_authenticate checks for unknown users (for tests). */
const char *users_dummy_hash(void);

/*
 * The login name a user types, as the address it stands for: lower case, a
 * bare local part means that name in the first local domain
 * (docs/PROTOCOL.md, relay policy), one trailing dot of the domain dropped.
 * -1 when it is not a plausible address (empty, spaces, control bytes, two
 * '@', overlong, bad syntax).
 */
int users_login_address(const struct conf *c, const char *login, char *out, size_t outlen);

/*
 * The addresses we store (users, aliases): "local@domain" under
 * USERS_ADDRESS_MAX, local a dot-atom without '/', '%' or '!' (it names a
 * directory and must not look like a relay trick), domain LDH labels
 * without a trailing dot. Any case. 1 valid, 0 not.
 */
int users_address_valid(const char *address);

/*
 * Read one line of a configuration-like file into line[size] without its
 * LF (a CR before the LF dropped), NUL-terminated, length in *len (a line
 * holding NUL bytes has strlen(line) != *len). 1 a line, 0 end of file,
 * -1 read error (errno), -2 longer than size - 1 (the rest of it is read
 * and thrown away, *len is 0). Shared by users.c and aliases.c.
 */
int users_read_line(FILE *f, char *line, size_t size, size_t *len);
/*
 * Open a users- or aliases-style file; NULL with "path: reason" in err
 * (errno kept).
 */
FILE *users_file_open(const char *path, char *err, size_t errlen);
/*
 * The next line of such a file, counted in *lineno: 1 with the line, 0 at
 * the end, -1 with "path:line: reason" in err (I/O error, overlong line).
 */
int users_file_next(FILE *f, const char *path, char *line, size_t size,
    size_t *len, size_t *lineno, char *err, size_t errlen);

#endif
