/*
 * account.c: the web's forwarding and vacation changes, as small wrappers.
 *
 * TODO(issue 16 merge): admin_user_forward_set (admin/user_forward.c) and
 * admin_user_vacation_set (admin/user_vacation.c), which ispmailctl user
 * forward|vacation use, are being written on other branches. Once they
 * are merged, web_forward_set and web_vacation_set call them and the
 * bodies below go. Until then they change the same things through the
 * one users-file editor (admin_user_change): the forward=, keep= and
 * vacation= options (docs/PROTOCOL.md), and the Maildir's .vacation.msg
 * (SPEC 12: "Subject:" header, blank line, body).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mailbox.h"
#include "maildir.h"
#include "sys.h"
#include "webd.h"

#define VACATION_FILE ".vacation.msg"

struct forward_arg {
	const char *dests;
	int keep;
};

static int forward_options(struct user *u, void *arg, char *err, size_t errlen)
{
	const struct forward_arg *a = arg;

	if (users_option_set(u, "forward", a->dests) != 0 ||
	    users_option_set(u, "keep", a->dests == NULL ? NULL : a->keep ? "yes" : "no") != 0) {
		seterr(err, errlen, "bad forward \"%s\"", a->dests ? a->dests : "");
		return -1;
	}
	return 0;
}

int web_forward_set(const struct conf *c, const char *address, const char *dests, int keep,
    char *err, size_t errlen)
{
	struct forward_arg a = { dests, keep };

	return admin_user_change(c, address, forward_options, &a, err, errlen);
}

static int vacation_option(struct user *u, void *arg, char *err, size_t errlen)
{
	if (users_option_set(u, "vacation", *(const int *)arg ? "yes" : "no") != 0) {
		seterr(err, errlen, "cannot set vacation");
		return -1;
	}
	return 0;
}

/* The message file, written whole: temp file, fsync, rename, fsync of the directory. */
static int vacation_write(const char *maildir, const char *subject, const char *text,
    char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct buf b = BUF_INIT;
	int fd, rc = -1;

	buf_printf(&b, "Subject: %s\n\n", subject);
	for (const char *p = text; *p; p++)
		if (*p != '\r')
			buf_appendc(&b, *p);
	if (b.len > 0 && b.s[b.len - 1] != '\n')
		buf_appendc(&b, '\n');
	if (str_format(path, sizeof path, "%s/%s", maildir, VACATION_FILE) != 0 ||
	    str_format(tmp, sizeof tmp, "%s/%s.tmp", maildir, VACATION_FILE) != 0) {
		seterr(err, errlen, "%s: path too long", maildir);
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, b.s, b.len) != 0 || fsync(fd) != 0) {
		seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		goto out;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0 || fsync_dir(maildir) != 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

int web_vacation_set(const struct conf *c, const char *address, int on, const char *subject,
    const char *text, char *err, size_t errlen)
{
	char maildir[PATH_MAX];

	if (on) {
		if (maildir_path_for(c->maildir_root, address, maildir, sizeof maildir) != 0) {
			seterr(err, errlen, "no Maildir path for %s", address);
			return -1;
		}
		if (vacation_write(maildir, subject[0] ? subject : "Away", text, err, errlen) != 0)
			return -1;
	}
	return admin_user_change(c, address, vacation_option, &on, err, errlen);
}

void web_vacation_get(const struct conf *c, const char *address, struct buf *subject,
    struct buf *text)
{
	char maildir[PATH_MAX], path[PATH_MAX], line[1024];
	FILE *f;
	int head = 1;

	buf_reset(subject);
	buf_reset(text);
	buf_appends(subject, "");
	buf_appends(text, "");
	if (maildir_path_for(c->maildir_root, address, maildir, sizeof maildir) != 0 ||
	    str_format(path, sizeof path, "%s/%s", maildir, VACATION_FILE) != 0 ||
	    (f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL && text->len < WEB_TEXT_MAX) {
		if (head && line[0] == '\n') {
			head = 0;
		} else if (head) {
			if (strncasecmp(line, "Subject:", 8) == 0) {
				buf_reset(subject);
				buf_append(subject, line + 8 + strspn(line + 8, " "),
				    strcspn(line + 8 + strspn(line + 8, " "), "\r\n"));
			}
		} else {
			buf_appends(text, line);
		}
	}
	fclose(f);
}
