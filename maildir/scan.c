/*
 * scan.c: the POP3 view of a Maildir (docs/PROTOCOL.md; RFC 1939 §5
 * STAT/LIST): new/ and cur/ read with one readdir pass each, sizes from W=
 * in the names without a stat(2) per file, oldest first; opening, deleting.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildir.h"

struct entry {
	struct maildir_msg m;
	unsigned long long sec;
	unsigned long usec;
};

/*
 * W= of a file some other MDA delivered: the same count the writer makes
 * (docs/PROTOCOL.md, files), so that LIST equals what RETR sends. -1 when it
 * cannot be read.
 */
static int crlf_size_of(int dirfd, const char *name, size_t *out)
{
	char buf[65536];
	size_t size = 0, total = 0;
	int fd, last_cr = 0, last_lf = 0;

	struct stat st;

	/* O_NONBLOCK: a FIFO dropped into new/ must not hang the session. */
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		errno = EISDIR;	/* not a message: skipped */
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;

			(void)close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' && !last_cr)
				size++;
			last_cr = buf[i] == '\r';
		}
		size += (size_t)n;
		total += (size_t)n;
		last_lf = buf[n - 1] == '\n';
	}
	(void)close(fd);
	if (total > 0 && !last_lf)
		size += 2;
	*out = size;
	return 0;
}

/* One directory, one readdir pass; appends to *v. */
static int scan_dir(const char *maildir, const char *sub, int in_cur,
    struct entry **v, size_t *n, size_t *cap)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (str_format(path, sizeof path, "%s/%s", maildir, sub) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	d = opendir(path);
	if (d == NULL)
		return -1;
	for (;;) {
		struct entry *e;
		size_t uid_len, crlf;

		errno = 0;
		de = readdir(d);
		if (de == NULL)
			break;
#ifdef DT_DIR
		if (de->d_type == DT_DIR)
			continue;
#endif
		if (maildir_name_parse(de->d_name, &uid_len, NULL, &crlf) != 0)
			continue;
		if (crlf == (size_t)-1 && crlf_size_of(dirfd(d), de->d_name, &crlf) != 0) {
			if (errno == ENOENT || errno == EISDIR || errno == ELOOP)
				continue;	/* gone meanwhile, or not a message */
			goto fail;
		}
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*v = xreallocarray(*v, *cap, sizeof **v);
		}
		e = &(*v)[(*n)++];
		memset(e, 0, sizeof *e);
		e->m.name = xstrdup(de->d_name);
		e->m.in_cur = (unsigned char)in_cur;
		e->m.size = crlf;
		e->m.uid_len = uid_len;
		(void)maildir_name_time(de->d_name, &e->sec, &e->usec);
	}
	if (errno != 0)
		goto fail;
	if (closedir(d) != 0)
		return -1;
	return 0;
fail:
	{
		int saved = errno;

		(void)closedir(d);
		errno = saved;
	}
	return -1;
}

/* Oldest first; the same unique part side by side, new/ before cur/. */
static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	size_t n = x->m.uid_len < y->m.uid_len ? x->m.uid_len : y->m.uid_len;
	int c;

	if (x->sec != y->sec)
		return x->sec < y->sec ? -1 : 1;
	if (x->usec != y->usec)
		return x->usec < y->usec ? -1 : 1;
	c = memcmp(x->m.name, y->m.name, n);
	if (c != 0)
		return c;
	if (x->m.uid_len != y->m.uid_len)
		return x->m.uid_len < y->m.uid_len ? -1 : 1;
	if (x->m.in_cur != y->m.in_cur)
		return x->m.in_cur ? 1 : -1;
	return strcmp(x->m.name, y->m.name);
}

static int same_uid(const struct maildir_msg *a, const struct maildir_msg *b)
{
	return a->uid_len == b->uid_len && memcmp(a->name, b->name, a->uid_len) == 0;
}

int maildir_scan(const char *maildir, struct maildir_list *out)
{
	struct entry *v = NULL;
	size_t n = 0, cap = 0, k = 0;

	out->v = NULL;
	out->n = 0;
	if (scan_dir(maildir, "new", 0, &v, &n, &cap) != 0 ||
	    scan_dir(maildir, "cur", 1, &v, &n, &cap) != 0) {
		int saved = errno;

		for (size_t i = 0; i < n; i++)
			free(v[i].m.name);
		free(v);
		errno = saved;
		return -1;
	}
	if (n > 1)
		qsort(v, n, sizeof *v, entry_cmp);
	out->v = xreallocarray(NULL, n ? n : 1, sizeof *out->v);
	for (size_t i = 0; i < n; i++) {
		/* Moved new/ -> cur/ by another reader while we looked: keep cur/. */
		if (k > 0 && same_uid(&out->v[k - 1], &v[i].m)) {
			free(out->v[k - 1].name);
			out->v[k - 1] = v[i].m;
			continue;
		}
		out->v[k++] = v[i].m;
	}
	out->n = k;
	free(v);
	return 0;
}

void maildir_list_free(struct maildir_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int msg_path(char *out, size_t outlen, const char *maildir,
    const struct maildir_msg *m)
{
	if (str_format(out, outlen, "%s/%s/%s", maildir,
	    m->in_cur ? "cur" : "new", m->name) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int maildir_msg_open(const char *maildir, const struct maildir_msg *m)
{
	char path[PATH_MAX];

	if (msg_path(path, sizeof path, maildir, m) != 0)
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

/* At QUIT (RFC 1939 §6): gone is gone, whoever removed it first. */
int maildir_msg_delete(const char *maildir, const struct maildir_msg *m)
{
	char path[PATH_MAX];

	if (msg_path(path, sizeof path, maildir, m) != 0)
		return -1;
	if (unlink(path) != 0 && errno != ENOENT)
		return -1;
	return 0;
}
