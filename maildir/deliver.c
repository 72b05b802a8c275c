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
#include <sys/uio.h>
#include <unistd.h>

#include "maildir.h"
#include "sys.h"

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
static int name_make(char *out, size_t outlen, const char *base, size_t disk,
    size_t crlf)
{
	if (str_format(out, outlen, "%s,S=%zu,W=%zu", base, disk, crlf) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * openat(2) of a directory that refuses a symbolic link: O_NOFOLLOW alone
 * says ENOTDIR or ELOOP depending on O_DIRECTORY, so a link is told apart
 * and always reported as ELOOP.
 */
static int dir_open_at(int dirfd, const char *name)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && (errno == ENOTDIR || errno == ELOOP) &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		errno = ELOOP;
	return fd;
}

/*
 * mkdirat(2) name, then own it through a descriptor opened without following
 * links: chown(2) by path would follow a link swapped in after the mkdir
 * (the race of a root `ispmailctl user add`). Only a directory this process
 * owns is handed over: one swapped in by someone else is not ours to chown.
 * The new directory's fd, 0 in *made when it was there already, or -1.
 */
static int dir_make_at(int dirfd, const char *name, uid_t uid, gid_t gid, int *made)
{
	struct stat st;
	int fd;

	*made = 0;
	if (mkdirat(dirfd, name, 0700) == 0)
		*made = 1;
	else if (errno != EEXIST)
		return -1;
	if ((fd = dir_open_at(dirfd, name)) < 0)
		return -1;
	if (*made && (uid != (uid_t)-1 || gid != (gid_t)-1)) {
		if (fstat(fd, &st) != 0 ||
		    (st.st_uid == geteuid() && fchown(fd, uid, gid) != 0)) {
			int saved = errno;

			(void)close(fd);
			errno = saved;
			return -1;
		}
	}
	return fd;
}

int maildir_dir_walk(int dirfd, const char *rel, int create, uid_t uid,
    gid_t gid, char *bad, size_t badlen)
{
	char part[NAME_MAX + 1];
	const char *p = rel;
	int fd = -1, at = dirfd;

	if (badlen > 0)
		bad[0] = '\0';
	for (;;) {
		size_t n;
		int next, made;

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, "/");
		if (n > NAME_MAX || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			errno = n > NAME_MAX ? ENAMETOOLONG : EINVAL;
			goto fail;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		if (create)
			next = dir_make_at(at, part, uid, gid, &made);
		else
			next = dir_open_at(at, part);
		if (next < 0) {
			if (badlen > 0)
				(void)str_format(bad, badlen, "%.*s", (int)(p - rel + n), rel);
			goto fail;
		}
		if (fd >= 0)
			(void)close(fd);
		fd = at = next;
		p += n;
	}
	if (fd < 0)
		fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	return fd;
fail:
	if (fd >= 0) {
		int saved = errno;

		(void)close(fd);
		errno = saved;
	}
	return -1;
}

/*
 * Split "<root>/<a>/<b>" into the root (the admin's: followed as
 * configured) and "<a>/<b>" (walked without following links). Fewer
 * components: root is ".".
 */
static int path_split(const char *path, size_t keep, char *root, size_t rootlen,
    const char **rel)
{
	size_t cut = strlen(path), end;

	while (cut > 0 && path[cut - 1] == '/')
		cut--;
	for (size_t k = 0; k < keep && cut > 0; k++) {
		if (k > 0)
			while (cut > 0 && path[cut - 1] == '/')
				cut--;
		while (cut > 0 && path[cut - 1] != '/')
			cut--;
	}
	*rel = path + cut;
	end = cut;
	while (end > 0 && path[end - 1] == '/')
		end--;
	if (cut == 0)
		return str_copy(root, rootlen, ".") == 0 ? 0 : -1;
	if (end == 0)
		return str_copy(root, rootlen, "/") == 0 ? 0 : -1;
	if (end >= rootlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(root, path, end);
	root[end] = '\0';
	return 0;
}

/*
 * The directory sub of a Maildir (or the queue: a Maildir too), opened
 * without following a link at the Maildir's own name or at sub: delivery
 * writes through these descriptors only.
 */
static int sub_open(const char *maildir, const char *sub)
{
	char parent[PATH_MAX], rel[PATH_MAX];
	const char *base;
	int pfd, fd, saved;

	if (path_split(maildir, 1, parent, sizeof parent, &base) != 0 ||
	    str_format(rel, sizeof rel, "%s/%s", base, sub) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	fd = maildir_dir_walk(pfd, rel, 0, (uid_t)-1, (gid_t)-1, NULL, 0);
	saved = errno;
	(void)close(pfd);
	errno = saved;
	return fd;
}

/* The link into new/ is durable only once the directory is (fsync(2) man page). */
static int dir_sync(int dirfd)
{
	return fsync(dirfd);
}

/* Close once (the writer's fds are closed on several paths), keeping errno. */
static void fd_close(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		(void)close(*fd);
		errno = saved;
		*fd = -1;
	}
}

/* An LF without CR before it counts 2 in W=: the wire encoder adds the CR. */
void maildir_count_add(struct maildir_count *c, const void *p, size_t n)
{
	const char *s = p;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' && !c->last_cr)
			c->crlf++;
		c->last_cr = s[i] == '\r';
	}
	c->disk += n;
	c->crlf += n;
	c->last_lf = s[n - 1] == '\n';
}

/* tmp/ and new/ of maildir, by descriptor; the writer ready for a name. */
static int writer_dirs(struct maildir_writer *w, const char *maildir)
{
	memset(w, 0, sizeof *w);
	w->fd = w->tmpfd = w->newfd = -1;
	if (str_copy(w->maildir, sizeof w->maildir, maildir) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((w->tmpfd = sub_open(maildir, "tmp")) < 0 ||
	    (w->newfd = sub_open(maildir, "new")) < 0) {
		fd_close(&w->tmpfd);
		fd_close(&w->newfd);
		return -1;
	}
	return 0;
}

/* O_EXCL: never write into a file another delivery owns. */
static int writer_create(struct maildir_writer *w)
{
	w->fd = openat(w->tmpfd, w->base, O_CREAT | O_EXCL | O_WRONLY |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	return w->fd >= 0 ? 0 : -1;
}

static void writer_unopen(struct maildir_writer *w)
{
	fd_close(&w->tmpfd);
	fd_close(&w->newfd);
	w->base[0] = '\0';
}

int maildir_writer_open(struct maildir_writer *w, const char *maildir)
{
	if (writer_dirs(w, maildir) != 0)
		return -1;
	for (int i = 0; i < NAME_TRIES; i++) {
		if (maildir_unique_name(w->base, sizeof w->base) != 0)
			break;
		if (writer_create(w) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	writer_unopen(w);
	return -1;
}

int maildir_writer_open_as(struct maildir_writer *w, const char *maildir,
    const char *base)
{
	if (base[0] == '\0' || strchr(base, '/') != NULL ||
	    strlen(base) >= sizeof w->base) {
		errno = EINVAL;
		return -1;
	}
	if (writer_dirs(w, maildir) != 0)
		return -1;
	(void)str_copy(w->base, sizeof w->base, base);
	if (writer_create(w) == 0)
		return 0;
	writer_unopen(w);
	return -1;
}

/* The writer's own sizes, kept in its fields, as a maildir_count. */
static void writer_count(struct maildir_writer *w, const void *p, size_t n)
{
	struct maildir_count c = { w->disk, w->crlf, w->last_cr, w->last_lf };

	maildir_count_add(&c, p, n);
	w->disk = c.disk;
	w->crlf = c.crlf;
	w->last_cr = c.last_cr;
	w->last_lf = c.last_lf;
}

/* Count as we go, so that commit can name the sizes without a second pass. */
int maildir_writer_write(struct maildir_writer *w, const void *p, size_t n)
{
	if (w->fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (n == 0)
		return 0;
	writer_count(w, p, n);
	return write_all(w->fd, p, n);
}

/* One system call for a header block and a body held in memory. */
int maildir_writer_writev(struct maildir_writer *w, const struct iovec *iov, int iovcnt)
{
	size_t total = 0, done;
	ssize_t r;
	int i;

	if (w->fd < 0) {
		errno = EBADF;
		return -1;
	}
	for (i = 0; i < iovcnt; i++) {
		writer_count(w, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	do
		r = writev(w->fd, iov, iovcnt);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	/* A short write (a disk filling up): the rest piece by piece. */
	done = (size_t)r;
	for (i = 0; i < iovcnt && done < total; i++) {
		size_t len = iov[i].iov_len;

		if (done >= len) {
			done -= len;
			total -= len;
			continue;
		}
		if (write_all(w->fd, (const char *)iov[i].iov_base + done, len - done) != 0)
			return -1;
		total -= len;
		done = 0;
	}
	return 0;
}

/* Where the kernel cannot copy between these files: through a buffer. */
static int copy_plain(int in, off_t off, int out, size_t len)
{
	char buf[65536];

	while (len > 0) {
		ssize_t n = pread(in, buf, len < sizeof buf ? len : sizeof buf, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;	/* the spool is shorter than it said */
			return -1;
		}
		if (write_all(out, buf, (size_t)n) != 0)
			return -1;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int maildir_writer_append_file(struct maildir_writer *w, int fd, off_t off,
    size_t len, const struct maildir_count *from)
{
	loff_t in = off;
	size_t left = len;

	if (w->fd < 0) {
		errno = EBADF;
		return -1;
	}
	while (left > 0) {
		ssize_t n = copy_file_range(fd, &in, w->fd, NULL, left, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
		    errno == EOPNOTSUPP)) {
			if (copy_plain(fd, in, w->fd, left) != 0)
				return -1;
			break;
		}
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		left -= (size_t)n;
	}
	w->disk += from->disk;
	w->crlf += from->crlf;
	if (from->disk > 0) {
		w->last_cr = from->last_cr;
		w->last_lf = from->last_lf;
	}
	return 0;
}

/* Close (if open) and remove tmp/, keeping the errno of the first failure. */
static void writer_discard(struct maildir_writer *w)
{
	fd_close(&w->fd);
	if (w->base[0] != '\0' && w->final[0] == '\0' && w->tmpfd >= 0) {
		int saved = errno;

		(void)unlinkat(w->tmpfd, w->base, 0);
		errno = saved;
	}
	fd_close(&w->tmpfd);
	fd_close(&w->newfd);
	w->base[0] = '\0';
}

/*
 * linkat(2) (srcdir, src) to a fresh unique name in the directory newfd,
 * retrying on a (freak) name clash. name gets the new name, base (when not
 * NULL) its unique part.
 */
static int link_fresh(int srcdir, const char *src, int newfd, size_t disk,
    size_t crlf, char *base, size_t baselen, char *name, size_t namelen)
{
	char unique[MAILDIR_NAME_MAX];

	for (int i = 0; i < NAME_TRIES; i++) {
		if (maildir_unique_name(unique, sizeof unique) != 0 ||
		    name_make(name, namelen, unique, disk, crlf) != 0)
			return -1;
		if (linkat(srcdir, src, newfd, name, 0) == 0) {
			if (base != NULL && str_copy(base, baselen, unique) != 0)
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
 * the name in new/ exists, and new/ is on disk before we say yes. Every
 * step goes through the descriptors of tmp/ and new/ opened at
 * maildir_writer_open: a link swapped in since is never followed.
 */
int maildir_writer_commit(struct maildir_writer *w)
{
	char name[MAILDIR_NAME_MAX + 64];
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
	if (r != 0 || name_make(name, sizeof name, w->base, w->disk, w->crlf) != 0)
		goto fail;
	if (linkat(w->tmpfd, w->base, w->newfd, name, 0) != 0) {
		char tmpname[MAILDIR_NAME_MAX];

		if (errno != EEXIST || str_copy(tmpname, sizeof tmpname, w->base) != 0)
			goto fail;
		/* Only a reused pid in the same microsecond gets here. */
		if (link_fresh(w->tmpfd, tmpname, w->newfd, w->disk, w->crlf,
		    w->base, sizeof w->base, name, sizeof name) != 0) {
			(void)str_copy(w->base, sizeof w->base, tmpname);
			goto fail;
		}
		(void)unlinkat(w->tmpfd, tmpname, 0);
	}
	/* Past the link the message is there; a stale tmp/ name is harmless. */
	(void)unlinkat(w->tmpfd, w->base, 0);
	if (dir_sync(w->newfd) != 0 ||
	    path_make(w->final, sizeof w->final, w->maildir, "new", name) != 0) {
		/* Not durable: take it back, so that a retry does not duplicate. */
		int saved = errno;

		(void)unlinkat(w->newfd, name, 0);
		w->final[0] = '\0';
		w->base[0] = '\0';
		errno = saved;
		goto fail;
	}
	fd_close(&w->tmpfd);
	fd_close(&w->newfd);
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
	char name[MAILDIR_NAME_MAX + 64];
	int newfd, r;

	if (w->final[0] == '\0') {
		errno = EINVAL;
		return -1;
	}
	if ((newfd = sub_open(maildir, "new")) < 0)
		return -1;
	r = link_fresh(AT_FDCWD, w->final, newfd, w->disk, w->crlf, NULL, 0,
	    name, sizeof name);
	if (r != 0) {
		fd_close(&newfd);
		if (errno == ENAMETOOLONG)
			return -1;
		return writer_copy(w, maildir);
	}
	if (dir_sync(newfd) != 0) {
		int saved = errno;

		(void)unlinkat(newfd, name, 0);
		fd_close(&newfd);
		errno = saved;
		return -1;
	}
	return close(newfd);
}

/*
 * mkdir -p for the root part of a Maildir path: the admin's, so links in
 * it are followed as configured; a component made here is still chowned
 * through a descriptor, never by path. The root's fd, or -1.
 */
static int root_open(const char *root, uid_t uid, gid_t gid)
{
	char p[PATH_MAX];
	size_t len;
	int fd;

	if ((fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0 || errno != ENOENT)
		return fd;
	if (str_copy(p, sizeof p, root) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	len = strlen(p);
	for (size_t i = 1; i <= len; i++) {
		int made, d;

		if (i < len && (p[i] != '/' || p[i - 1] == '/'))
			continue;
		p[i] = '\0';
		d = dir_make_at(AT_FDCWD, p, uid, gid, &made);
		if (d < 0 && errno == ELOOP)
			d = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d < 0)
			return -1;
		(void)close(d);
		if (i < len)
			p[i] = '/';
	}
	return open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int maildir_make_at(const char *root, const char *rel, uid_t uid, gid_t gid,
    char *bad, size_t badlen)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	int rootfd, fd, saved;

	if (badlen > 0)
		bad[0] = '\0';
	if (rel[strspn(rel, "/")] == '\0') {
		errno = ENOENT;
		return -1;
	}
	if ((rootfd = root_open(root, uid, gid)) < 0)
		return -1;
	fd = maildir_dir_walk(rootfd, rel, 1, uid, gid, bad, badlen);
	saved = errno;
	(void)close(rootfd);
	errno = saved;
	if (fd < 0)
		return -1;
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		int sub = maildir_dir_walk(fd, subs[i], 1, uid, gid, NULL, 0);

		if (sub < 0) {
			saved = errno;
			if (badlen > 0)
				(void)str_format(bad, badlen, "%s/%s", rel, subs[i]);
			(void)close(fd);
			errno = saved;
			return -1;
		}
		(void)close(sub);
	}
	return close(fd);
}

int maildir_make(const char *path, uid_t uid, gid_t gid)
{
	char root[PATH_MAX];
	const char *rel;

	if (path[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (path_split(path, 2, root, sizeof root, &rel) != 0)
		return -1;
	return maildir_make_at(root, rel, uid, gid, NULL, 0);
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
