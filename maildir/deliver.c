/*
 * deliver.c: Maildir delivery the qmail way (docs/PROTOCOL.md): write
 * tmp/<name>, fsync, close, link(2) into new/ (which never overwrites),
 * unlink tmp/, fsync new/. A process killed before the link leaves at most a
 * file in tmp/.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildir.h"

/* Tries at a fresh name when one is taken; a clash needs a reused pid. */
#define NAME_TRIES 5

static int path_make(char *out, size_t outlen, const char *maildir,
    const char *sub, const char *name)
{
	if (str_format(out, outlen, "%s/%s/%s", maildir, sub, name) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* The name in new/: the unique part plus the sizes a reader needs. */
static int final_make(char *out, size_t outlen, const char *maildir,
    const char *base, size_t disk, size_t crlf)
{
	if (str_format(out, outlen, "%s/new/%s,S=%zu,W=%zu", maildir, base,
	    disk, crlf) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* The link into new/ is durable only once the directory is (fsync(2) man page). */
static int dir_sync(const char *maildir, const char *sub)
{
	char path[PATH_MAX];
	int fd, r, saved;

	if (path_make(path, sizeof path, maildir, sub, ".") != 0)
		return -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	saved = errno;
	if (close(fd) != 0 && r == 0)
		return -1;
	errno = saved;
	return r;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, p, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* O_EXCL: never write into a file another delivery owns. */
int maildir_writer_open(struct maildir_writer *w, const char *maildir)
{
	char tmp[PATH_MAX];

	memset(w, 0, sizeof *w);
	w->fd = -1;
	if (str_copy(w->maildir, sizeof w->maildir, maildir) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (int i = 0; i < NAME_TRIES; i++) {
		if (maildir_unique_name(w->base, sizeof w->base) != 0 ||
		    path_make(tmp, sizeof tmp, maildir, "tmp", w->base) != 0)
			break;
		w->fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (w->fd >= 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	w->base[0] = '\0';
	return -1;
}

/* Count as we go, so that commit can name the sizes without a second pass. */
int maildir_writer_write(struct maildir_writer *w, const void *p, size_t n)
{
	const char *s = p;

	if (w->fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' && !w->last_cr)
			w->crlf++;
		w->last_cr = s[i] == '\r';
	}
	w->disk += n;
	w->crlf += n;
	w->last_lf = s[n - 1] == '\n';
	return write_all(w->fd, s, n);
}

/* Close (if open) and remove tmp/, keeping the errno of the first failure. */
static void writer_discard(struct maildir_writer *w)
{
	char tmp[PATH_MAX];
	int saved = errno;

	if (w->fd >= 0) {
		(void)close(w->fd);
		w->fd = -1;
	}
	if (w->base[0] != '\0' && w->final[0] == '\0' &&
	    path_make(tmp, sizeof tmp, w->maildir, "tmp", w->base) == 0)
		(void)unlink(tmp);
	w->base[0] = '\0';
	errno = saved;
}

/*
 * link(2) src to a fresh unique name in maildir's new/, retrying on a
 * (freak) name clash. out gets the path, base (when not NULL) the unique part.
 */
static int link_fresh(const char *src, const char *maildir, size_t disk,
    size_t crlf, char *base, size_t baselen, char *out, size_t outlen)
{
	char name[MAILDIR_NAME_MAX];

	for (int i = 0; i < NAME_TRIES; i++) {
		if (maildir_unique_name(name, sizeof name) != 0 ||
		    final_make(out, outlen, maildir, name, disk, crlf) != 0)
			return -1;
		if (link(src, out) == 0) {
			if (base != NULL && str_copy(base, baselen, name) != 0)
				return -1;	/* cannot happen: same size */
			return 0;
		}
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/*
 * The order is what makes a Maildir crash-safe: the data is on disk before
 * the name in new/ exists, and new/ is on disk before we say yes.
 */
int maildir_writer_commit(struct maildir_writer *w)
{
	char tmp[PATH_MAX], final[PATH_MAX];
	int r;

	if (w->fd < 0 || w->final[0] != '\0') {
		errno = EBADF;
		return -1;
	}
	if (w->disk > 0 && !w->last_lf)
		w->crlf += 2;	/* the CRLF the wire encoder ends the last line with */
	if (fsync(w->fd) != 0)
		goto fail;
	r = close(w->fd);
	w->fd = -1;
	if (r != 0)
		goto fail;
	if (path_make(tmp, sizeof tmp, w->maildir, "tmp", w->base) != 0 ||
	    final_make(final, sizeof final, w->maildir, w->base, w->disk, w->crlf) != 0)
		goto fail;
	if (link(tmp, final) != 0) {
		if (errno != EEXIST)
			goto fail;
		/* Only a reused pid in the same microsecond gets here. */
		if (link_fresh(tmp, w->maildir, w->disk, w->crlf, w->base,
		    sizeof w->base, final, sizeof final) != 0)
			goto fail;
	}
	/* Past the link the message is there; a stale tmp/ name is harmless. */
	(void)unlink(tmp);
	if (dir_sync(w->maildir, "new") != 0) {
		int saved = errno;

		/* Not durable: take it back, so that a retry does not duplicate. */
		(void)unlink(final);
		w->base[0] = '\0';
		errno = saved;
		return -1;
	}
	if (str_copy(w->final, sizeof w->final, final) != 0) {
		errno = ENAMETOOLONG;	/* cannot happen: same size */
		return -1;
	}
	return 0;
fail:
	writer_discard(w);
	return -1;
}

void maildir_writer_abort(struct maildir_writer *w)
{
	writer_discard(w);
}

/* When no hard link can be made (another file system): a plain copy. */
static int writer_copy(const struct maildir_writer *w, const char *maildir)
{
	struct maildir_writer c;
	char buf[65536];
	int in;

	in = open(w->final, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return -1;
	if (maildir_writer_open(&c, maildir) != 0)
		goto fail_in;
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		if (maildir_writer_write(&c, buf, (size_t)n) != 0)
			goto fail;
	}
	(void)close(in);
	return maildir_writer_commit(&c);
fail:
	maildir_writer_abort(&c);
fail_in:
	{
		int saved = errno;

		(void)close(in);
		errno = saved;
	}
	return -1;
}

/* One message, many recipients: one file, many names (qmail-local style). */
int maildir_writer_link(const struct maildir_writer *w, const char *maildir)
{
	char final[PATH_MAX];

	if (w->final[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	if (link_fresh(w->final, maildir, w->disk, w->crlf, NULL, 0,
	    final, sizeof final) != 0) {
		if (errno == ENAMETOOLONG)
			return -1;
		return writer_copy(w, maildir);
	}
	if (dir_sync(maildir, "new") != 0) {
		int saved = errno;

		(void)unlink(final);
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * mkdir(2) that tells whether it made the directory (1) or found it (0).
 * stat(2) first: mkdir of an existing directory in a parent we may not
 * write to can fail with EACCES rather than EEXIST.
 */
static int dir_make(const char *path, uid_t uid, gid_t gid)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		if (errno != ENOENT)
			return -1;
		if (mkdir(path, 0700) == 0) {
			if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
			    chown(path, uid, gid) != 0)
				return -1;
			return 1;
		}
		/* Made by someone else in the meantime: fine. */
		if (errno != EEXIST || stat(path, &st) != 0)
			return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/*
 * Created as root by ispmailctl, a Maildir must still belong to the mail
 * user: every directory made here is chowned, the ones found are not touched.
 */
int maildir_make(const char *path, uid_t uid, gid_t gid)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char p[PATH_MAX];
	size_t len;

	if (str_copy(p, sizeof p, path) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	len = strlen(p);
	if (len == 0) {
		errno = ENOENT;
		return -1;
	}
	for (size_t i = 1; i < len; i++) {
		if (p[i] != '/' || p[i - 1] == '/')
			continue;
		p[i] = '\0';
		if (dir_make(p, uid, gid) < 0)
			return -1;
		p[i] = '/';
	}
	if (dir_make(p, uid, gid) < 0)
		return -1;
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		char sub[PATH_MAX];

		if (path_make(sub, sizeof sub, path, subs[i], "") != 0)
			return -1;
		sub[strlen(sub) - 1] = '\0';	/* drop the trailing '/' */
		if (dir_make(sub, uid, gid) < 0)
			return -1;
	}
	return 0;
}

int maildir_deliver(const char *maildir, const void *p, size_t n)
{
	struct maildir_writer w;

	if (maildir_writer_open(&w, maildir) != 0)
		return -1;
	if (maildir_writer_write(&w, p, n) != 0) {
		maildir_writer_abort(&w);
		return -1;
	}
	return maildir_writer_commit(&w);
}
