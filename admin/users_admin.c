/*
 * users_admin.c: users as an administrator manages them (admin/users_admin.h):
 * the users file (common/users.c, always changed under its lock) and the
 * Maildirs, for ispmailctl and the web alike. Errors go back in err, each
 * change goes to the log once; the caller prints.
 */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mailbox.h"
#include "maildir.h"
#include "sys.h"
#include "users_admin.h"

_Static_assert(ADMIN_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE,
    "a password accepted must be one crypt(3) can hash");

const struct admin_password_rules admin_password_tool = { 1, 0 };
const struct admin_password_rules admin_password_web = { 8, 1 };

/*
 * Length and bytes: characters are counted the UTF-8 way (a continuation
 * byte 10xxxxxx is part of the character before it), so "passwört" is 8.
 */
int admin_password_check(const char *password, const struct admin_password_rules *rules,
    char *err, size_t errlen)
{
	size_t len = strlen(password), chars = 0;

	if (len == 0) {
		seterr(err, errlen, "empty password");
		return -1;
	}
	if (len > ADMIN_PASSWORD_MAX) {
		seterr(err, errlen, "password longer than %d bytes", ADMIN_PASSWORD_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)password[i];

		if (rules->printable_only && (ch < 0x20 || ch == 0x7f)) {
			seterr(err, errlen, "password contains a control character");
			return -1;
		}
		if ((ch & 0xc0) != 0x80)
			chars++;
	}
	if (chars < rules->min_chars) {
		seterr(err, errlen, "password shorter than %zu characters", rules->min_chars);
		return -1;
	}
	return 0;
}

int admin_user_address(const struct conf *c, const char *typed, char *addr, size_t len,
    char *err, size_t errlen)
{
	if (users_login_address(c, typed, addr, len) == -1) {
		seterr(err, errlen, "invalid address %s", log_q(typed));
		return -1;
	}
	return 0;
}

int admin_user_check(const struct conf *c, const char *address, char *maildir,
    size_t mdlen, char *err, size_t errlen)
{
	char addr[USERS_ADDRESS_MAX], path[PATH_MAX];
	const char *domain;

	if (admin_user_address(c, address, addr, sizeof addr, err, errlen) == -1)
		return -1;
	domain = strchr(addr, '@') + 1;
	if (!conf_is_local_domain(c, domain, strlen(domain))) {
		seterr(err, errlen, "%s is not a local domain (domains in %s)", domain, c->path);
		return -1;
	}
	if (maildir_path_for(c->maildir_root, addr, path, sizeof path) == -1) {
		seterr(err, errlen, "no Maildir path for %s: %s", addr, strerror(errno));
		return -1;
	}
	if (maildir != NULL && str_copy(maildir, mdlen, path) == -1) {
		seterr(err, errlen, "no Maildir path for %s: %s", addr, strerror(ENAMETOOLONG));
		return -1;
	}
	return 0;
}

/* The password checked and hashed the default way ("$y$"). */
static int password_hash(const char *password, const struct admin_password_rules *rules,
    char *hash, size_t hashlen, char *err, size_t errlen)
{
	if (admin_password_check(password, rules, err, errlen) == -1)
		return -1;
	if (users_make_hash(password, "$y$", hash, hashlen) == -1) {
		seterr(err, errlen, "cannot hash the password: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The first user add finds no file: make it root:gid 0640 (as root). */
static int usersfile_create(const char *path, gid_t gid, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);

	if (fd == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((gid != (gid_t)-1 && fchown(fd, 0, gid) == -1) || fchmod(fd, 0640) == -1) {
		int e = errno;

		(void)close(fd);
		(void)unlink(path);
		seterr(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	if (close(fd) == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The Maildir of a new user; "<domain>/<local>" (its last two parts) is
 * walked below maildir_root without following a link.
 */
static int user_maildir_make(const struct conf *c, const char *addr, const char *maildir,
    uid_t uid, gid_t gid, char *err, size_t errlen)
{
	char bad[PATH_MAX];

	/* "<domain>/<local>" is as long as "<local>@<domain>". */
	if (maildir_make_at(c->maildir_root, maildir + strlen(maildir) - strlen(addr),
	    uid, gid, bad, sizeof bad) == 0)
		return 0;
	if (errno == ELOOP)
		seterr(err, errlen, "%s: refused: %s in maildir_root is a symbolic link "
		    "(nothing below maildir_root may be one)", maildir, log_q(bad));
	else
		seterr(err, errlen, "%s: %s", maildir, strerror(errno));
	return -1;
}

/* Under the lock: the file (made if missing), no such user yet, Maildir, save. */
static int user_add_locked(const struct conf *c, const char *addr, const char *hash,
    const char *maildir, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct users u;
	struct stat st;
	int rc = -1;

	if (stat(c->users_file, &st) == -1 && errno == ENOENT &&
	    usersfile_create(c->users_file, gid, err, errlen) == -1)
		return -1;
	if (users_load(c->users_file, &u, err, errlen) == -1)
		return -1;
	if (users_find(&u, addr) != NULL)
		seterr(err, errlen, "user %s already exists", addr);
	/* The Maildir first: a user must never exist without one. */
	else if (user_maildir_make(c, addr, maildir, uid, gid, err, errlen) == 0) {
		users_add(&u, addr, hash, NULL);
		rc = users_save(c->users_file, &u, err, errlen);
	}
	users_free(&u);
	return rc;
}

int admin_user_add(const struct conf *c, const char *address, const char *password,
    const struct admin_password_rules *rules, uid_t uid, gid_t gid, const char *actor,
    char *err, size_t errlen)
{
	char addr[USERS_ADDRESS_MAX], maildir[PATH_MAX], hash[USERS_HASH_MAX];
	int lock, rc;

	if (admin_user_address(c, address, addr, sizeof addr, err, errlen) == -1 ||
	    admin_user_check(c, addr, maildir, sizeof maildir, err, errlen) == -1 ||
	    password_hash(password, rules, hash, sizeof hash, err, errlen) == -1)
		return -1;
	if ((lock = users_lock(c->users_file, err, errlen)) == -1)
		return -1;
	rc = user_add_locked(c, addr, hash, maildir, uid, gid, err, errlen);
	users_unlock(lock);
	explicit_bzero(hash, sizeof hash);
	if (rc == 0)
		log_info("admin action=user-add user=%s by=%s", log_q(addr), log_q(actor));
	return rc;
}

int admin_user_delete(const struct conf *c, const char *address, const char *actor,
    char *err, size_t errlen)
{
	char addr[USERS_ADDRESS_MAX];
	struct users u;
	int lock, rc = -1;

	if (admin_user_address(c, address, addr, sizeof addr, err, errlen) == -1)
		return -1;
	if ((lock = users_lock(c->users_file, err, errlen)) == -1)
		return -1;
	if (users_load(c->users_file, &u, err, errlen) == -1)
		goto out_unlock;
	if (!users_remove(&u, addr))
		seterr(err, errlen, "no such user %s", addr);
	else
		rc = users_save(c->users_file, &u, err, errlen);
	users_free(&u);
out_unlock:
	users_unlock(lock);
	if (rc == 0)
		log_info("admin action=user-delete user=%s by=%s", log_q(addr), log_q(actor));
	return rc;
}

/* The entry's hash replaced, everything else kept. */
static int hash_set(const struct users *all, struct user *e, void *arg, char *err,
    size_t errlen)
{
	(void)all;
	(void)err;
	(void)errlen;
	free(e->hash);
	e->hash = xstrdup(arg);
	return 0;
}

int admin_user_password_set(const struct conf *c, const char *address,
    const char *password, const struct admin_password_rules *rules, const char *actor,
    char *err, size_t errlen)
{
	char addr[USERS_ADDRESS_MAX], hash[USERS_HASH_MAX];
	int rc;

	if (admin_user_address(c, address, addr, sizeof addr, err, errlen) == -1 ||
	    password_hash(password, rules, hash, sizeof hash, err, errlen) == -1)
		return -1;
	rc = admin_user_change(c, addr, hash_set, hash, err, errlen);
	explicit_bzero(hash, sizeof hash);
	if (rc == 0)
		log_info("admin action=user-password user=%s by=%s", log_q(addr), log_q(actor));
	return rc;
}

int admin_user_list(const struct conf *c, struct admin_user **out, size_t *n,
    char *err, size_t errlen)
{
	struct users u;
	struct admin_user *v;

	*out = NULL;
	*n = 0;
	if (users_load(c->users_file, &u, err, errlen) == -1)
		return -1;
	v = xreallocarray(NULL, u.n ? u.n : 1, sizeof *v);
	for (size_t i = 0; i < u.n; i++) {
		(void)str_copy(v[i].address, sizeof v[i].address, u.v[i].address);
		v[i].options = xstrdup(u.v[i].options ? u.v[i].options : "");
		(void)admin_user_usage(c, &u.v[i], &v[i].use);
	}
	*out = v;
	*n = u.n;
	users_free(&u);
	return 0;
}

void admin_user_list_free(struct admin_user *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].options);
	free(v);
}
