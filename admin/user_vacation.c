/*
 * user_vacation.c: turning a user's vacation reply on and off (SPEC 12):
 * the message checked and written to <Maildir>/.vacation.msg the way a
 * Maildir file is written (temporary name, fsync, rename, fsync of the
 * directory), then vacation= in the users file under its lock.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mailbox.h"
#include "maildir.h"
#include "sys.h"
#include "user_vacation.h"
#include "users.h"
#include "vacation.h"

/* RFC 5322 §2.1.1: at most 998 characters a line. */
#define VACATION_LINE_MAX 998

/* Is the line at p a header field "Name:" (printable name, no space)? */
static int is_field(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] > 0x20 && p[i] < 0x7f && p[i] != ':')
		i++;
	return i > 0 && i < n && p[i] == ':';
}

/* UTF-8 (RFC 3629): lead bytes and their continuations; 0 or -1. */
static int utf8_check(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = p[i] < 0x80 ? 0 : p[i] >= 0xc2 && p[i] <= 0xdf ? 1 :
		    p[i] >= 0xe0 && p[i] <= 0xef ? 2 : p[i] >= 0xf0 && p[i] <= 0xf4 ? 3 : 9;

		if (k == 9 || (k > 0 && i + k >= n))
			return -1;
		for (size_t j = 1; j <= k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return -1;
		i += k + 1;
	}
	return 0;
}

/*
 * One line of the message, LF added: its checks (NUL, bare CR, length),
 * and in the header part, that it is Subject: or its continuation.
 */
static int line_take(const char *p, size_t n, int in_header, size_t lineno, struct buf *out,
    char *err, size_t errlen)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (memchr(p, '\0', n) != NULL || memchr(p, '\r', n) != NULL) {
		seterr(err, errlen, "line %zu: a NUL or a bare CR", lineno);
		return -1;
	}
	if (n > VACATION_LINE_MAX) {
		seterr(err, errlen, "line %zu: longer than %d bytes", lineno, VACATION_LINE_MAX);
		return -1;
	}
	if (in_header && p[0] != ' ' && p[0] != '\t' &&
	    (n < 8 || strncasecmp(p, "Subject:", 8) != 0)) {
		seterr(err, errlen, "line %zu: only Subject: may come before the empty line "
		    "(start with an empty line for a message without one)", lineno);
		return -1;
	}
	buf_append(out, p, n);
	buf_appendc(out, '\n');
	return 0;
}

/*
 * The message as stored: LF line ends, an empty header part added in
 * front of text whose first line is no header field. 0, or -1 with err.
 */
static int msg_normalize(const char *msg, size_t len, struct buf *out, char *err,
    size_t errlen)
{
	/* Header lines first, or an empty line first (an empty header part). */
	int in_header = is_field(msg, len) || (len > 0 && msg[0] == '\n') ||
	    (len > 1 && msg[0] == '\r' && msg[1] == '\n');
	size_t at = 0, lineno = 0, body_bytes = 0;

	if (utf8_check((const unsigned char *)msg, len) != 0) {
		seterr(err, errlen, "the message is not UTF-8");
		return -1;
	}
	if (!in_header)
		buf_appendc(out, '\n');
	while (at < len) {
		const char *nl = memchr(msg + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (msg + at)) : len - at;

		lineno++;
		if (in_header && (n == 0 || (n == 1 && msg[at] == '\r'))) {
			in_header = 0;
			buf_appendc(out, '\n');
		} else if (line_take(msg + at, n, in_header, lineno, out, err, errlen) != 0) {
			return -1;
		} else if (!in_header) {
			body_bytes += n;
		}
		at += n + (nl != NULL);
	}
	if (body_bytes == 0 || in_header) {
		seterr(err, errlen, "the message has no body (an empty line, then the text)");
		return -1;
	}
	if (out->len > VACATION_MSG_MAX) {
		seterr(err, errlen, "the message is longer than %d bytes", VACATION_MSG_MAX);
		return -1;
	}
	return 0;
}

/* Write <maildir>/.vacation.msg: temporary file, fsync, owner, rename, fsync dir. */
static int msg_write(const char *maildir, const struct buf *text, char *err, size_t errlen)
{
	char tmp[64];
	struct stat st;
	int dfd, fd = -1, rc = -1;

	if ((dfd = open(maildir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		seterr(err, errlen, "%s: %s%s", maildir, strerror(errno), errno == ENOENT ?
		    " (made by ispmailctl user add, or at the first delivery)" : "");
		return -1;
	}
	(void)str_format(tmp, sizeof tmp, "%s.tmp.%ld", VACATION_MSG_FILE, (long)getpid());
	(void)unlinkat(dfd, tmp, 0);
	if (fstat(dfd, &st) != 0 ||
	    (fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600)) < 0 || write_all(fd, text->s, text->len) != 0 || fsync(fd) != 0 ||
	    (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) != 0)) {
		seterr(err, errlen, "%s/%s: %s", maildir, tmp, strerror(errno));
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0 || renameat(dfd, tmp, dfd, VACATION_MSG_FILE) != 0 || fsync(dfd) != 0) {
		seterr(err, errlen, "%s/%s: %s", maildir, VACATION_MSG_FILE, strerror(errno));
		rc = -1;
	}
out:
	if (fd >= 0)
		(void)close(fd);
	if (rc != 0)
		(void)unlinkat(dfd, tmp, 0);
	(void)close(dfd);
	return rc;
}

int admin_vacation_check(const char *msg, size_t len, char *err, size_t errlen)
{
	struct buf text = BUF_INIT;
	int rc = msg_normalize(msg, len, &text, err, errlen);

	buf_free(&text);
	return rc;
}

struct vacation_arg {
	const struct conf *c;
	int on;
	const struct buf *text;	/* the message, normalized, when on */
};

/* admin_user_change's step: the message written first (on), then vacation=. */
static int vacation_change(const struct users *all, struct user *e, void *arg, char *err,
    size_t errlen)
{
	const struct vacation_arg *a = arg;
	char maildir[PATH_MAX];

	(void)all;
	if (a->on && maildir_path_for(a->c->maildir_root, e->address, maildir,
	    sizeof maildir) != 0) {
		seterr(err, errlen, "no Maildir path for %s: %s", e->address, strerror(errno));
		return -1;
	}
	if (a->on && msg_write(maildir, a->text, err, errlen) != 0)
		return -1;
	if (users_option_set(e, "vacation", a->on ? "yes" : "no") != 0) {
		seterr(err, errlen, "cannot set vacation= for %s", e->address);
		return -1;
	}
	return 0;
}

int admin_user_vacation_set(const struct conf *c, const char *address, int on,
    const char *msg, size_t len, const char *actor, char *err, size_t errlen)
{
	struct buf text = BUF_INIT;
	struct vacation_arg a = { c, on, &text };
	int rc;

	if (on && msg_normalize(msg, len, &text, err, errlen) != 0) {
		buf_free(&text);
		return -1;
	}
	rc = admin_user_change(c, address, vacation_change, &a, err, errlen);
	buf_free(&text);
	if (rc == 0)
		log_info("admin action=user-vacation user=%s state=%s by=%s", log_q(address),
		    on ? "on" : "off", log_q(actor));
	return rc;
}

int admin_user_vacation_get(const struct conf *c, const char *address, int *on,
    struct buf *msg, char *err, size_t errlen)
{
	char maildir[PATH_MAX], path[PATH_MAX], chunk[8192];
	struct user_options o;
	ssize_t n;
	int fd, r = users_options(c->users_file, address, &o);

	if (r != 1) {
		seterr(err, errlen, r == 0 ? "no such user %s" : "%s: %s",
		    r == 0 ? address : c->users_file, strerror(errno));
		return -1;
	}
	*on = o.vacation;
	if (maildir_path_for(c->maildir_root, address, maildir, sizeof maildir) != 0 ||
	    str_format(path, sizeof path, "%s/%s", maildir, VACATION_MSG_FILE) != 0)
		return 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (msg->len <= VACATION_MSG_MAX && (n = read(fd, chunk, sizeof chunk)) > 0)
		buf_append(msg, chunk, (size_t)n);
	(void)close(fd);
	return 0;
}
