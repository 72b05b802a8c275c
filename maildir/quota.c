/*
 * quota.c: Maildir++ quotas (Courier's README.maildirquota, Dovecot's
 * "maildir" quota backend). The Maildir's "maildirsize" file holds the
 * limit on its first line ("<bytes>S[,<count>C]") and then one "<bytes>
 * <count>" line per change, negative after a delete; the usage is their
 * sum. Writers append one line in one O_APPEND write, which is what lets
 * several of them (our delivery, POP3, Dovecot) share the file without a
 * lock. When the file is missing, unreadable, names another limit, or has
 * grown past 5120 bytes and is over 15 minutes old, the usage is counted
 * again from the message names (S=) and the file replaced by rename.
 * The memory of the 80 % and 95 % warnings (.quotawarn) is kept here too.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "sys.h"

/* Courier's rule: a file that large and that old is summed up again. */
#define QUOTA_STALE_SIZE 5120
#define QUOTA_STALE_SECS (15 * 60)
/* More than this is never read: it is recalculated instead. */
#define QUOTA_READ_MAX 65536

/* Digits with an optional '-', leading blanks skipped; 0 or -1. */
static int parse_num(const char **p, const char *end, long long *out)
{
	const char *s = *p;
	int neg = 0;
	long long v = 0;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s < end && *s == '-') {
		neg = 1;
		s++;
	}
	if (s == end || *s < '0' || *s > '9')
		return -1;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = neg ? -v : v;
	*p = s;
	return 0;
}

/* The first line: "NNNS", "NNNC", "NNNS,NNNC" (either order), or empty. */
static int parse_header(const char *s, const char *end, struct quota_usage *u)
{
	long long v;

	u->limit_bytes = u->limit_count = 0;
	while (s < end) {
		if (parse_num(&s, end, &v) == -1 || v < 0 || s == end)
			return -1;
		if (*s == 'S')
			u->limit_bytes = (unsigned long long)v;
		else if (*s == 'C')
			u->limit_count = (unsigned long long)v;
		else
			return -1;
		if (++s < end && *s++ != ',')
			return -1;
	}
	return 0;
}

/* The "<bytes> <count>" lines from p to end (at a line's start), added to u. */
static int parse_lines(const char *p, const char *end, struct quota_usage *u)
{
	const char *nl;
	long long b, c;

	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (parse_num(&p, nl, &b) == -1 || parse_num(&p, nl, &c) == -1)
			return -1;
		while (p < nl && (*p == ' ' || *p == '\t'))
			p++;
		if (p != nl)
			return -1;
		/* Sums that would overflow are as corrupt as bad syntax. */
		if ((b > 0 && u->bytes > INT64_MAX - b) || (b < 0 && u->bytes < INT64_MIN - b) ||
		    (c > 0 && u->count > INT64_MAX - c) || (c < 0 && u->count < INT64_MIN - c))
			return -1;
		u->bytes += b;
		u->count += c;
	}
	return 0;
}

int quota_parse(const char *text, size_t len, struct quota_usage *u)
{
	const char *nl;

	memset(u, 0, sizeof *u);
	if (len == 0 || text[len - 1] != '\n')
		return -1;	/* no header, or a line cut short */
	nl = memchr(text, '\n', len);
	if (parse_header(text, nl, u) == -1)
		return -1;
	return parse_lines(nl + 1, text + len, u);
}

/*
 * The last maildirsize this process parsed, as text, with its sum. The
 * file only grows between recounts (one line per change), and a busy
 * mailbox's is read at each RCPT and again after each delivery (the
 * warning check), up to QUOTA_READ_MAX bytes: when the text read starts
 * with the remembered one, only the lines after it are parsed. The
 * comparison is of the bytes themselves, so a file rewritten in any way
 * (a recount, another server) is parsed whole: the sum is always the
 * one quota_parse would give.
 */
static struct {
	char path[PATH_MAX];
	char *text;		/* QUOTA_READ_MAX bytes once allocated */
	size_t len;
	struct quota_usage u;
} quota_memo;

/* quota_parse of the maildirsize of maildir, from the memo where it can. */
static int parse_memo(const char *path, const char *text, size_t len,
    struct quota_usage *u)
{
	if (quota_memo.len > 0 && len >= quota_memo.len &&
	    strcmp(quota_memo.path, path) == 0 &&
	    memcmp(quota_memo.text, text, quota_memo.len) == 0) {
		*u = quota_memo.u;
		if (text[len - 1] != '\n' ||
		    parse_lines(text + quota_memo.len, text + len, u) != 0)
			return -1;
	} else if (quota_parse(text, len, u) != 0) {
		return -1;
	}
	if (str_copy(quota_memo.path, sizeof quota_memo.path, path) != 0) {
		quota_memo.len = 0;
		return 0;
	}
	if (quota_memo.text == NULL)
		quota_memo.text = xmalloc(QUOTA_READ_MAX);
	memcpy(quota_memo.text, text, len);
	quota_memo.len = len;
	quota_memo.u = *u;
	return 0;
}

int quota_over(const struct quota_usage *u, unsigned long long limit_bytes,
    unsigned long long limit_count)
{
	if (limit_bytes > 0 && u->bytes >= 0 && (unsigned long long)u->bytes >= limit_bytes)
		return 1;
	if (limit_count > 0 && u->count >= 0 && (unsigned long long)u->count >= limit_count)
		return 1;
	return 0;
}

static int path_in(char *out, size_t outlen, const char *maildir, const char *name)
{
	if (str_format(out, outlen, "%s/%s", maildir, name) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Sum one cur/ or new/: S= from the name, an fstatat where it is missing. */
static int sum_dir(int dirfd, const char *name, struct quota_usage *u)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *d;
	struct stat st;
	size_t disk;
	DIR *dir;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if ((dir = fdopendir(fd)) == NULL) {
		(void)close(fd);
		return -1;
	}
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		if (maildir_name_parse(d->d_name, NULL, &disk, NULL) != 0 || disk == (size_t)-1) {
			if (fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
			    !S_ISREG(st.st_mode))
				continue;	/* gone meanwhile, or not a message */
			disk = (size_t)st.st_size;
		}
		u->bytes += (long long)disk;
		u->count++;
	}
	(void)closedir(dir);
	return 0;
}

/* The INBOX and every Maildir++ folder (".Name"), as Dovecot counts them. */
static int sum_maildir(int mfd, struct quota_usage *u)
{
	struct dirent *d;
	DIR *dir;
	int fd, sub, rc = 0;

	if (sum_dir(mfd, "cur", u) == -1 || sum_dir(mfd, "new", u) == -1)
		return -1;
	if ((fd = dup(mfd)) < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			(void)close(fd);
		return -1;
	}
	rewinddir(dir);
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] != '.' || strcmp(d->d_name, ".") == 0 ||
		    strcmp(d->d_name, "..") == 0)
			continue;
		sub = openat(mfd, d->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;	/* a dot file, or not ours to follow */
		if (sum_dir(sub, "cur", u) == -1 || sum_dir(sub, "new", u) == -1)
			rc = -1;
		(void)close(sub);
	}
	(void)closedir(dir);
	return rc;
}

/* new/ and cur/ change their mtime when a message comes or goes. */
static void dirs_stamp(int mfd, struct timespec t[2])
{
	struct stat st;

	memset(t, 0, 2 * sizeof *t);
	if (fstatat(mfd, "new", &st, AT_SYMLINK_NOFOLLOW) == 0)
		t[0] = st.st_mtim;
	if (fstatat(mfd, "cur", &st, AT_SYMLINK_NOFOLLOW) == 0)
		t[1] = st.st_mtim;
}

static int stamps_equal(const struct timespec a[2], const struct timespec b[2])
{
	for (int i = 0; i < 2; i++)
		if (a[i].tv_sec != b[i].tv_sec || a[i].tv_nsec != b[i].tv_nsec)
			return 0;
	return 1;
}

int quota_scan(const char *maildir, struct quota_usage *u)
{
	int mfd = open(maildir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc;

	memset(u, 0, sizeof *u);
	if (mfd < 0)
		return -1;
	rc = sum_maildir(mfd, u);
	(void)close(mfd);
	return rc;
}

/* "<bytes>S" or "<bytes>S,<count>C": what we write on the first line. */
static void header_format(char *out, size_t outlen, unsigned long long lb,
    unsigned long long lc)
{
	if (lc > 0)
		(void)str_format(out, outlen, "%lluS,%lluC", lb, lc);
	else
		(void)str_format(out, outlen, "%lluS", lb);
}

/*
 * Write the file anew: tmp/<unique>, owned as the Maildir is (so that
 * the daemon, running as the mail user, can append to what root made),
 * then rename. A message that came or went while we counted makes us
 * count again; one that comes between the count and the rename makes us
 * remove the file, so the next reader counts (Courier's rule).
 */
int quota_recalc(const char *maildir, unsigned long long lb, unsigned long long lc,
    struct quota_usage *u)
{
	char name[MAILDIR_NAME_MAX + 16], uniq[MAILDIR_NAME_MAX], text[128];
	struct timespec before[2], after[2];
	struct stat dst_st;
	int mfd, tfd = -1, fd = -1, tries = 0, e;
	size_t n;

	if (lb == 0 && lc == 0) {
		errno = EINVAL;	/* no quota: no maildirsize at all */
		return -1;
	}
	if ((mfd = open(maildir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	do {
		memset(u, 0, sizeof *u);
		dirs_stamp(mfd, before);
		if (sum_maildir(mfd, u) == -1)
			goto fail;
		dirs_stamp(mfd, after);
	} while (!stamps_equal(before, after) && ++tries < 3);
	u->limit_bytes = lb;
	u->limit_count = lc;
	header_format(text, sizeof text, lb, lc);
	n = strlen(text);
	(void)str_format(text + n, sizeof text - n, "\n%lld %lld\n", u->bytes, u->count);
	if (maildir_unique_name(uniq, sizeof uniq) != 0 ||
	    str_format(name, sizeof name, "%s.maildirsize", uniq) != 0)
		goto fail;
	/* Through descriptors, never a link: root (ispmailctl) may be counting. */
	if ((tfd = openat(mfd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		goto fail;
	fd = openat(tfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	if (geteuid() == 0 && (fstat(mfd, &dst_st) != 0 ||
	    fchown(fd, dst_st.st_uid, dst_st.st_gid) != 0))
		goto fail_unlink;
	if (write_all(fd, text, strlen(text)) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail_unlink;
	}
	fd = -1;
	if (renameat(tfd, name, mfd, "maildirsize") != 0)
		goto fail_unlink;
	dirs_stamp(mfd, before);
	if (!stamps_equal(before, after))
		(void)unlinkat(mfd, "maildirsize", 0);
	(void)close(tfd);
	(void)close(mfd);
	return 0;
fail_unlink:
	e = errno;
	if (fd >= 0)
		(void)close(fd);
	(void)unlinkat(tfd, name, 0);
	errno = e;
fail:
	e = errno;
	if (tfd >= 0)
		(void)close(tfd);
	(void)close(mfd);
	errno = e;
	return -1;
}

/* Courier's staleness: large and old, or over quota and old. */
static int file_stale(const struct stat *st, const struct quota_usage *u)
{
	time_t now = time(NULL);

	if (now - st->st_mtime <= QUOTA_STALE_SECS)
		return 0;
	return st->st_size > QUOTA_STALE_SIZE || quota_over(u, u->limit_bytes, u->limit_count);
}

int quota_get(const char *maildir, unsigned long long lb, unsigned long long lc,
    struct quota_usage *u)
{
	char path[PATH_MAX], *text;
	struct stat st;
	ssize_t got;
	size_t have = 0;
	int fd;

	if (path_in(path, sizeof path, maildir, "maildirsize") != 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errno == ENOENT ? quota_recalc(maildir, lb, lc, u) : -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size >= QUOTA_READ_MAX) {
		(void)close(fd);
		return quota_recalc(maildir, lb, lc, u);
	}
	text = xmalloc(QUOTA_READ_MAX);
	while (have < QUOTA_READ_MAX && (got = read(fd, text + have, QUOTA_READ_MAX - have)) > 0)
		have += (size_t)got;
	(void)close(fd);
	if (have >= QUOTA_READ_MAX || have == 0 || parse_memo(path, text, have, u) != 0 ||
	    u->limit_bytes != lb || u->limit_count != lc || u->bytes < 0 || u->count < 0 ||
	    file_stale(&st, u)) {
		free(text);
		return quota_recalc(maildir, lb, lc, u);
	}
	free(text);
	return 0;
}

int quota_room(const char *maildir, unsigned long long lb, unsigned long long lc)
{
	struct quota_usage u;

	if (lb == 0 && lc == 0)
		return 1;
	if (quota_get(maildir, lb, lc, &u) != 0)
		return -1;
	return !quota_over(&u, lb, lc);
}

/*
 * The first line only, for the append path: the limit it names must be
 * ours, or the whole file is recalculated instead of appended to.
 */
static int header_matches(int fd, unsigned long long lb, unsigned long long lc)
{
	char head[128];
	struct quota_usage u;
	ssize_t got = pread(fd, head, sizeof head - 1, 0);
	char *nl;

	if (got <= 0 || (nl = memchr(head, '\n', (size_t)got)) == NULL)
		return 0;
	if (parse_header(head, nl, &u) != 0)
		return 0;
	return u.limit_bytes == lb && u.limit_count == lc;
}

/*
 * The usage after our line, read through the descriptor that appended it
 * (no second open): what quota_get would find, or 1 when quota_get must
 * decide (cut, corrupt, negative: a recount).
 */
static int usage_after(int fd, const char *path, unsigned long long lb,
    unsigned long long lc, struct quota_usage *u)
{
	char *text = xmalloc(QUOTA_READ_MAX);
	size_t have = 0;
	ssize_t got;
	int r = 1;

	while (have < QUOTA_READ_MAX &&
	    (got = pread(fd, text + have, QUOTA_READ_MAX - have, (off_t)have)) > 0)
		have += (size_t)got;
	if (have > 0 && have < QUOTA_READ_MAX && parse_memo(path, text, have, u) == 0 &&
	    u->limit_bytes == lb && u->limit_count == lc && u->bytes >= 0 && u->count >= 0)
		r = 0;
	free(text);
	return r;
}

/*
 * quota_update_get's answer once the change is recorded (r 0) or not (-1):
 * with after, the usage as quota_get reads it (1 when it cannot).
 */
static int usage_again(int r, const char *maildir, unsigned long long lb,
    unsigned long long lc, struct quota_usage *after)
{
	if (r != 0 || after == NULL || maildir == NULL)
		return r;
	return quota_get(maildir, lb, lc, after) == 0 ? 0 : 1;
}

int quota_update(const char *maildir, unsigned long long lb, unsigned long long lc,
    long long bytes, long long count)
{
	return quota_update_get(maildir, lb, lc, bytes, count, NULL) < 0 ? -1 : 0;
}

int quota_update_get(const char *maildir, unsigned long long lb, unsigned long long lc,
    long long bytes, long long count, struct quota_usage *after)
{
	char path[PATH_MAX], line[64];
	struct quota_usage u;
	struct stat st;
	int fd, n, r;

	if (lb == 0 && lc == 0)
		return after != NULL ? 1 : 0;
	if (path_in(path, sizeof path, maildir, "maildirsize") != 0)
		return -1;
	if ((fd = open(path, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		/* Missing: the count includes the change already made. */
		r = errno == ENOENT ? quota_recalc(maildir, lb, lc, &u) : -1;
		return usage_again(r, maildir, lb, lc, after);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !header_matches(fd, lb, lc) ||
	    st.st_size >= QUOTA_READ_MAX || (st.st_size > QUOTA_STALE_SIZE &&
	    time(NULL) - st.st_mtime > QUOTA_STALE_SECS)) {
		(void)close(fd);
		r = quota_recalc(maildir, lb, lc, &u);
		return usage_again(r, maildir, lb, lc, after);
	}
	n = snprintf(line, sizeof line, "%lld %lld\n", bytes, count);
	/* One write(2) with O_APPEND: concurrent lines never interleave. */
	if (n <= 0 || write(fd, line, (size_t)n) != n) {
		int e = errno;

		(void)close(fd);
		errno = e;
		return -1;
	}
	if (after != NULL && usage_after(fd, path, lb, lc, after) != 0) {
		(void)close(fd);
		return usage_again(0, maildir, lb, lc, after);
	}
	r = close(fd);
	return usage_again(r, NULL, lb, lc, NULL);
}

/* usage >= pct % of limit, exact in integers below 2^64 / 100. */
static int at_percent(long long usage, unsigned long long limit, unsigned pct)
{
	unsigned long long u;

	if (limit == 0 || usage <= 0)
		return 0;
	u = (unsigned long long)usage;
	if (u >= limit)
		return 1;
	if (u > ULLONG_MAX / 100 || limit > ULLONG_MAX / 100)
		return (long double)u * 100 >= (long double)limit * pct;
	return u * 100 >= limit * pct;
}

int quota_warn_level(const struct quota_usage *u, unsigned long long lb,
    unsigned long long lc)
{
	static const unsigned levels[] = { 95, 80 };

	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
		if (at_percent(u->bytes, lb, levels[i]) || at_percent(u->count, lc, levels[i]))
			return (int)levels[i];
	return 0;
}

int quota_warn_due(const char *memory, size_t len, const char *today, int level)
{
	size_t dl = strlen(today);
	const char *p = memory + dl, *end = memory + len;
	long long was;

	if (level <= 0)
		return 0;
	if (len <= dl || memcmp(memory, today, dl) != 0 || *p != ' ')
		return 1;	/* another day, or nothing to go by */
	if (parse_num(&p, end, &was) != 0)
		return 1;
	return was < level;
}

int quota_warn_begin(const char *maildir, const char *today, int level, int *fd)
{
	char path[PATH_MAX], text[64];
	struct stat st;
	ssize_t n;
	int e;

	*fd = -1;
	if (path_in(path, sizeof path, maildir, QUOTA_WARN_FILE) != 0)
		return -1;
	*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*fd < 0)
		return -1;
	if (flock(*fd, LOCK_EX) != 0 || fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto fail;
	/* Owned as the Maildir is, like maildirsize, when root made it. */
	if (geteuid() == 0 && st.st_uid == 0 && stat(maildir, &st) == 0 &&
	    fchown(*fd, st.st_uid, st.st_gid) != 0)
		goto fail;
	if ((n = pread(*fd, text, sizeof text, 0)) < 0)
		goto fail;
	if (quota_warn_due(text, (size_t)n, today, level))
		return 1;
	(void)close(*fd);
	*fd = -1;
	return 0;
fail:
	e = errno;
	(void)close(*fd);
	*fd = -1;
	errno = e;
	return -1;
}

int quota_warn_end(int fd, int sent, const char *today, int level)
{
	char line[QUOTA_WARN_DAY_MAX + 16];
	int n, r = 0, e = 0;

	if (sent) {
		n = snprintf(line, sizeof line, "%s %d\n", today, level);
		if (n <= 0 || (size_t)n >= sizeof line || ftruncate(fd, 0) != 0 ||
		    pwrite(fd, line, (size_t)n, 0) != n) {
			e = errno ? errno : EIO;
			r = -1;
		}
	}
	if (close(fd) != 0 && r == 0) {
		e = errno;
		r = -1;
	}
	errno = e;
	return r;
}

void quota_size_words(unsigned long long n, char *out, size_t outlen)
{
	static const char *const units[] = { "KB", "MB", "GB", "TB" };
	unsigned long long unit = 1024, tenths;
	size_t i = 0;

	if (n < 1024) {
		(void)str_format(out, outlen, "%llu bytes", n);
		return;
	}
	while (i + 1 < sizeof units / sizeof units[0] && n / 1024 >= unit) {
		unit *= 1024;
		i++;
	}
	/* Rounded down: a usage is never said to be more than it is. */
	tenths = n / unit * 10 + n % unit * 10 / unit;
	if (tenths % 10 == 0 || tenths >= 100)
		(void)str_format(out, outlen, "%llu %s", tenths / 10, units[i]);
	else
		(void)str_format(out, outlen, "%llu.%llu %s", tenths / 10, tenths % 10, units[i]);
}
