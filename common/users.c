/*
 * users.c: the users file (docs/PROTOCOL.md, files): parse, look up one user
 * without loading the rest, check a password with crypt(3) in constant time,
 * and rewrite the file atomically for ispmailctl (temp file, fsync, rename).
 */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "users.h"
#include "sys.h"

/*
 * A yescrypt hash of a random password nobody knows, with the library's
 * default cost ("j9T"); test_users checks it still matches the default.
 */
static const char users_dummy[] =
    "$y$j9T$lkbyquEah/6SqayymYj2C0$2ci/l3AQeszO1ibYqK0Kxm2i6UYtqaLpONGebBlHIv5";

struct fields {
	char *address;
	char *hash;
	char *options;
};

/* ASCII only: the locale must not change what an address is. */
static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int ascii_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int ascii_caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int address_eq(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && ascii_caseeq(a, b, n);
}

/* RFC 5322 dot-atom, minus '/', '%' and '!' (a directory, no relay tricks). */
static int local_valid(const char *s, size_t n)
{
	if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (s[i + 1] == '.')
				return 0;
			continue;
		}
		if (!ascii_alnum(c) && (c == '\0' || strchr("#$&'*+-=?^_`{|}~", c) == NULL))
			return 0;
	}
	return 1;
}

/* Letters, digits and hyphens in dot-separated labels (RFC 1035 §2.3.1). */
static int domain_valid(const char *s, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!ascii_alnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
		if (label == 0 && s[i] == '-')
			return 0;
		label++;
	}
	return 1;
}

int users_address_valid(const char *address)
{
	const char *at = strchr(address, '@');
	size_t n = strlen(address);

	if (n >= USERS_ADDRESS_MAX || at == NULL || strchr(at + 1, '@') != NULL)
		return 0;
	return local_valid(address, (size_t)(at - address)) &&
	    domain_valid(at + 1, n - (size_t)(at - address) - 1);
}

/* Printable, no ':' (the field separator), and a form crypt(3) knows. */
static int hash_valid(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n >= USERS_HASH_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (h[i] <= ' ' || h[i] > '~' || h[i] == ':')
			return 0;
#ifdef CRYPT_SALT_INVALID
	if (crypt_checksalt(h) == CRYPT_SALT_INVALID)
		return 0;
#endif
	return 1;
}

static int options_valid(const char *o)
{
	for (; *o; o++)
		if ((*o < ' ' && *o != '\t') || *o > '~')
			return 0;
	return 1;
}

/* A '#' comment or a blank line (spaces and tabs only). */
static int is_comment(const char *line)
{
	line += strspn(line, " \t");
	return *line == '\0' || *line == '#';
}

int users_read_line(FILE *f, char *line, size_t size, size_t *len)
{
	size_t n = 0;
	int c, toolong = 0;

	while ((c = getc(f)) != EOF && c != '\n') {
		if (n + 1 < size)
			line[n++] = (char)c;
		else
			toolong = 1;
	}
	if (c == EOF) {
		if (ferror(f))
			return -1;
		if (n == 0 && !toolong)
			return 0;
	}
	if (toolong) {
		line[0] = '\0';
		*len = 0;
		return -2;
	}
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	*len = n;
	return 1;
}

/*
 * Split "address:hash[:options]" in place (the address lower-cased);
 * NULL, or why the line is malformed.
 */
static const char *parse_line(char *line, size_t len, struct fields *f)
{
	char *p;

	if (strlen(line) != len)
		return "NUL byte in line";
	p = strchr(line, ':');
	if (p == NULL)
		return "expected address:hash[:options]";
	*p++ = '\0';
	f->address = line;
	f->hash = p;
	p = strchr(p, ':');
	if (p != NULL)
		*p++ = '\0';
	else
		p = line + len;
	f->options = p;
	for (p = f->address; *p; p++)
		*p = (char)ascii_lower((unsigned char)*p);
	if (!users_address_valid(f->address))
		return "invalid address";
	if (!hash_valid(f->hash))
		return "invalid password hash";
	if (!options_valid(f->options))
		return "invalid options";
	return NULL;
}

struct addr_index {
	const char *address;
	size_t i;
};

static int addr_index_cmp(const void *a, const void *b)
{
	const struct addr_index *x = a, *y = b;
	int c = strcmp(x->address, y->address);

	if (c != 0)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Sort a copy of the addresses to find a duplicate in n log n (an ISP has
 * thousands). 1 with the two indexes in file order, 0 when none.
 */
static int find_duplicate(const struct users *u, size_t *first, size_t *second)
{
	struct addr_index *ix;
	int found = 0;

	if (u->n < 2)
		return 0;
	ix = xreallocarray(NULL, u->n, sizeof *ix);
	for (size_t i = 0; i < u->n; i++) {
		ix[i].address = u->v[i].address;
		ix[i].i = i;
	}
	qsort(ix, u->n, sizeof *ix, addr_index_cmp);
	for (size_t i = 1; i < u->n; i++) {
		if (strcmp(ix[i - 1].address, ix[i].address) == 0) {
			*first = ix[i - 1].i;
			*second = ix[i].i;
			found = 1;
			break;
		}
	}
	free(ix);
	return found;
}

FILE *users_file_open(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	int e;

	if (f == NULL) {
		e = errno;
		seterr(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
	}
	return f;
}

int users_file_next(FILE *f, const char *path, char *line, size_t size,
    size_t *len, size_t *lineno, char *err, size_t errlen)
{
	int r = users_read_line(f, line, size, len);

	if (r == 0)
		return 0;
	++*lineno;
	if (r == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (r == -2) {
		seterr(err, errlen, "%s:%zu: line longer than %d bytes", path,
		    *lineno, USERS_LINE_MAX);
		return -1;
	}
	return 1;
}

int users_load(const char *path, struct users *out, char *err, size_t errlen)
{
	char line[USERS_LINE_MAX + 1], why_opt[USERS_LINE_MAX + 64];
	struct buf pending = BUF_INIT;
	struct user_options opts;
	struct fields fl;
	size_t len, lineno = 0, *lines = NULL, a, b;
	const char *why;
	FILE *f;
	int r, e;

	memset(out, 0, sizeof *out);
	if ((f = users_file_open(path, err, errlen)) == NULL)
		return -1;
	while ((r = users_file_next(f, path, line, sizeof line, &len, &lineno,
	    err, errlen)) != 0) {
		if (r < 0)
			goto fail;
		if (strlen(line) == len && is_comment(line)) {
			/* users_save refuses a CR: do not keep what cannot be written. */
			for (size_t k = 0; k < len; k++)
				if (line[k] == '\r')
					line[k] = ' ';
			buf_append(&pending, line, len);
			buf_appendc(&pending, '\n');
			continue;
		}
		if ((why = parse_line(line, len, &fl)) != NULL) {
			seterr(err, errlen, "%s:%zu: %s", path, lineno, why);
			goto fail;
		}
		if (users_options_parse(fl.options, &opts, why_opt, sizeof why_opt) != 0) {
			seterr(err, errlen, "%s:%zu: %s", path, lineno, why_opt);
			goto fail;
		}
		users_add(out, fl.address, fl.hash, fl.options);
		if (pending.len > 0)
			out->v[out->n - 1].comments = buf_steal(&pending);
		lines = xreallocarray(lines, out->n, sizeof *lines);
		lines[out->n - 1] = lineno;
	}
	if (find_duplicate(out, &a, &b)) {
		seterr(err, errlen, "%s:%zu: duplicate address %s (first on line %zu)",
		    path, lines[b], out->v[b].address, lines[a]);
		goto fail;
	}
	if (pending.len > 0)
		out->trailer = buf_steal(&pending);
	free(lines);
	(void)fclose(f);
	return 0;

fail:
	e = errno;
	buf_free(&pending);
	free(lines);
	users_free(out);
	(void)fclose(f);
	errno = e;
	return -1;
}

static void user_clear(struct user *u)
{
	free(u->address);
	free(u->hash);
	free(u->options);
	free(u->comments);
}

void users_free(struct users *u)
{
	for (size_t i = 0; i < u->n; i++)
		user_clear(&u->v[i]);
	free(u->v);
	free(u->trailer);
	memset(u, 0, sizeof *u);
}

const struct user *users_find(const struct users *u, const char *address)
{
	for (size_t i = 0; i < u->n; i++)
		if (address_eq(u->v[i].address, address))
			return &u->v[i];
	return NULL;
}

void users_add(struct users *u, const char *address, const char *hash, const char *options)
{
	struct user *n;

	u->v = xreallocarray(u->v, u->n + 1, sizeof *u->v);
	n = &u->v[u->n++];
	n->address = xstrdup(address);
	for (char *p = n->address; *p; p++)
		*p = (char)ascii_lower((unsigned char)*p);
	n->hash = xstrdup(hash);
	n->options = xstrdup(options ? options : "");
	n->comments = NULL;
}

int users_remove(struct users *u, const char *address)
{
	for (size_t i = 0; i < u->n; i++) {
		if (!address_eq(u->v[i].address, address))
			continue;
		user_clear(&u->v[i]);
		memmove(&u->v[i], &u->v[i + 1], (u->n - i - 1) * sizeof *u->v);
		u->n--;
		return 1;
	}
	return 0;
}

/* Each line of a comments block must read back as a comment. */
static int comments_valid(const char *s)
{
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		char one[USERS_LINE_MAX + 1];

		if (n > USERS_LINE_MAX)
			return 0;
		memcpy(one, s, n);
		one[n] = '\0';
		if (!is_comment(one) || strchr(one, '\r') != NULL)
			return 0;
		s += n + (nl != NULL);
	}
	return 1;
}

static void append_comments(struct buf *b, const char *s)
{
	if (s == NULL || *s == '\0')
		return;
	buf_appends(b, s);
	if (s[strlen(s) - 1] != '\n')
		buf_appendc(b, '\n');
}

/* The file's text; -1 with a reason when an entry would not read back. */
static int users_format(const struct users *u, struct buf *b, char *err, size_t errlen)
{
	size_t x, y;

	for (size_t i = 0; i < u->n; i++) {
		const struct user *e = &u->v[i];
		const char *opt = e->options ? e->options : "";

		if (!users_address_valid(e->address) || !hash_valid(e->hash) ||
		    !options_valid(opt) || (e->comments && !comments_valid(e->comments))) {
			seterr(err, errlen, "refusing to write a malformed entry (%zu)", i + 1);
			return -1;
		}
		append_comments(b, e->comments);
		buf_printf(b, "%s:%s%s%s\n", e->address, e->hash, *opt ? ":" : "", opt);
	}
	if (u->trailer && !comments_valid(u->trailer)) {
		seterr(err, errlen, "refusing to write a malformed trailer");
		return -1;
	}
	append_comments(b, u->trailer);
	if (find_duplicate(u, &x, &y)) {
		seterr(err, errlen, "refusing to write duplicate address %s", u->v[y].address);
		return -1;
	}
	return 0;
}

int users_save(const char *path, const struct users *u, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	struct buf b = BUF_INIT;
	struct stat st;
	int fd = -1, have_old;
	const char *what;

	if (users_format(u, &b, err, errlen) == -1) {
		buf_free(&b);
		return -1;
	}
	if (str_format(tmp, sizeof tmp, "%s.XXXXXX", path) == -1) {
		seterr(err, errlen, "%s: path too long", path);
		buf_free(&b);
		return -1;
	}
	have_old = stat(path, &st) == 0;
	if (!have_old && errno != ENOENT) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		buf_free(&b);
		return -1;
	}
	what = "mkstemp";
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd == -1)
		goto fail;
	what = "fchown";
	if (have_old && geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) == -1)
		goto fail_unlink;
	what = "fchmod";
	if (fchmod(fd, have_old ? st.st_mode & 07777 : 0640) == -1)
		goto fail_unlink;
	what = "write";
	if (b.len > 0 && write_all(fd, b.s, b.len) == -1)
		goto fail_unlink;
	what = "fsync";
	if (fsync(fd) == -1)
		goto fail_unlink;
	what = "close";
	if (close(fd) == -1) {
		fd = -1;
		goto fail_unlink;
	}
	fd = -1;
	what = "rename";
	if (rename(tmp, path) == -1)
		goto fail_unlink;
	buf_free(&b);
	if (fsync_dir_of(path) == -1) {
		seterr(err, errlen, "%s: fsync of directory: %s", path, strerror(errno));
		return -1;
	}
	return 0;

fail_unlink:
	seterr(err, errlen, "%s: %s: %s", tmp, what, strerror(errno));
	if (fd != -1)
		(void)close(fd);
	(void)unlink(tmp);
	buf_free(&b);
	return -1;
fail:
	seterr(err, errlen, "%s: %s: %s", tmp, what, strerror(errno));
	buf_free(&b);
	return -1;
}

int users_lock(const char *path, char *err, size_t errlen)
{
	char lock[PATH_MAX];
	int fd;

	if (str_format(lock, sizeof lock, "%s.lock", path) == -1) {
		seterr(err, errlen, "%s: path too long", path);
		return -1;
	}
	/*
	 * ispmailctl (root) and the web pages (the daemon's user) both lock:
	 * the file is empty and readable by all, and flock needs no write
	 * access, so the daemon opens root's file read-only. One made 0600
	 * by an older version is opened up when root takes it.
	 */
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd == -1 && errno == EACCES)
		fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	else if (fd != -1 && geteuid() == 0)
		(void)fchmod(fd, 0644);
	if (fd == -1) {
		seterr(err, errlen, "%s: %s", lock, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) == -1) {
		if (errno == EINTR)
			continue;
		seterr(err, errlen, "%s: flock: %s", lock, strerror(errno));
		(void)close(fd);
		return -1;
	}
	return fd;
}

void users_unlock(int fd)
{
	if (fd >= 0)
		(void)close(fd);	/* releases the flock */
}

/*
 * The index of a large users file, kept by a session process. A session
 * process serves up to limits.max_use clients in turn, and the scan below
 * costs ~0.3 us a line: 2.75 ms a lookup in a 10,000-user file, for every
 * RCPT and login. Above USERS_INDEX_MIN bytes the process keeps the offset
 * of every valid line in an open-addressing table, for as long as the file
 * keeps its identity (device, inode, size, modification time; ispmailctl
 * replaces it by rename, an editor changes its mtime). A lookup is then an
 * open, an fstat, a pread per line whose address hashes the same, and a
 * close. Every valid line is in the table, duplicates too: linear probing
 * meets lines of one address in file order, so the first one wins, as in
 * the scan. Small files are scanned: their table would cost more memory
 * than the scan costs time.
 */
#define USERS_INDEX_MIN 65536

static struct {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	uint32_t *hash;		/* of the lower-case address, per slot */
	uint32_t *off;		/* line offset + 1; 0: an empty slot */
	size_t nslots;		/* a power of two, over twice the lines */
} users_idx;

/* FNV-1a of the address in lower case. */
static uint32_t address_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (uint32_t)ascii_lower((unsigned char)*s);
		h *= 16777619u;
	}
	return h;
}

static void users_index_free(void)
{
	free(users_idx.hash);
	free(users_idx.off);
	memset(&users_idx, 0, sizeof users_idx);
}

static int users_index_current(const struct stat *st)
{
	return users_idx.nslots != 0 && users_idx.dev == st->st_dev &&
	    users_idx.ino == st->st_ino && users_idx.size == st->st_size &&
	    users_idx.mtime.tv_sec == st->st_mtim.tv_sec &&
	    users_idx.mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Put one line in the table: its home slot, or the next free one. */
static void users_index_put(uint32_t h, uint32_t off)
{
	size_t mask = users_idx.nslots - 1, i;

	for (i = h & mask; users_idx.off[i] != 0; i = (i + 1) & mask)
		;
	users_idx.hash[i] = h;
	users_idx.off[i] = off + 1;
}

/* One pass over f (at its start), recording each valid line; 0 or -1. */
static int users_index_build(FILE *f, const struct stat *st)
{
	char line[USERS_LINE_MAX + 1];
	struct fields fl;
	uint32_t *h = NULL, *o = NULL;
	size_t n = 0, cap = 0, len, i;
	off_t at;
	int r;

	users_index_free();
	for (;;) {
		if ((at = ftello(f)) < 0)
			goto fail;
		if ((r = users_read_line(f, line, sizeof line, &len)) == 0)
			break;
		if (r == -1)
			goto fail;
		if (r == -2 || parse_line(line, len, &fl) != NULL)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			h = xreallocarray(h, cap, sizeof *h);
			o = xreallocarray(o, cap, sizeof *o);
		}
		h[n] = address_hash(fl.address);
		o[n++] = (uint32_t)at;
	}
	for (users_idx.nslots = 16; users_idx.nslots < 2 * n + 1;)
		users_idx.nslots *= 2;
	users_idx.hash = xcalloc(users_idx.nslots, sizeof *users_idx.hash);
	users_idx.off = xcalloc(users_idx.nslots, sizeof *users_idx.off);
	for (i = 0; i < n; i++)
		users_index_put(h[i], o[i]);
	free(h);
	free(o);
	users_idx.dev = st->st_dev;
	users_idx.ino = st->st_ino;
	users_idx.size = st->st_size;
	users_idx.mtime = st->st_mtim;
	return 0;
fail:
	free(h);
	free(o);
	users_index_free();
	return -1;
}

/* Copy what a lookup asked for out of a parsed line; 1, or -1 when it does not fit. */
static int entry_copy(const struct fields *fl, char *hash, size_t hashlen,
    char *opts, size_t optslen)
{
	if (hash != NULL && str_copy(hash, hashlen, fl->hash) != 0)
		return -1;
	if (opts != NULL && str_copy(opts, optslen, fl->options) != 0)
		return -1;
	return 1;
}

/* users_lookup through the table; fd is the file the table was made of. */
static int users_index_lookup(int fd, const char *address, char *hash, size_t hashlen,
    char *opts, size_t optslen)
{
	char line[USERS_LINE_MAX + 2];
	size_t mask = users_idx.nslots - 1, i, len;
	uint32_t h = address_hash(address);
	struct fields fl;
	ssize_t got;
	char *nl;

	for (i = h & mask; users_idx.off[i] != 0; i = (i + 1) & mask) {
		if (users_idx.hash[i] != h)
			continue;
		got = pread(fd, line, sizeof line - 1, (off_t)users_idx.off[i] - 1);
		if (got <= 0)
			return -1;
		line[got] = '\0';
		if ((nl = memchr(line, '\n', (size_t)got)) != NULL)
			*nl = '\0';
		len = nl != NULL ? (size_t)(nl - line) : (size_t)got;
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (parse_line(line, len, &fl) != NULL || !address_eq(fl.address, address))
			continue;
		return entry_copy(&fl, hash, hashlen, opts, optslen);
	}
	return 0;
}

static int lookup_file(const char *path, const char *address, char *hash, size_t hashlen,
    char *opts, size_t optslen, struct stat *stp, int *known);

/*
 * The last lookup of this process: the users file is read at RCPT twice
 * (the quota test, then the resolution) and once more after the delivery
 * (the quota count), and a session process sends the same users again
 * and again. The answer is kept with the file's identity (device, inode,
 * size, modification and change times) and used while a stat(2) finds
 * the same one. Only a file last changed USERS_MEMO_SETTLED seconds
 * before it was read is remembered: a change in the same tick as the one
 * before would leave the times as they were, but by then any change
 * gives the file new times.
 */
#define USERS_MEMO_SETTLED 2

static struct {
	char path[PATH_MAX];
	char address[USERS_ADDRESS_MAX + 1];
	struct stat st;
	int found;		/* 1 or 0; the fields below when 1 */
	char hash[USERS_HASH_MAX];
	char opts[USERS_LINE_MAX + 1];
} users_memo;

static int file_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The memo's answer for address in path when the file is still the one read; or -2. */
static int users_memo_get(const char *path, const char *address, char *hash,
    size_t hashlen, char *opts, size_t optslen)
{
	struct stat st;

	if (users_memo.path[0] == '\0' || strcmp(users_memo.path, path) != 0 ||
	    !address_eq(users_memo.address, address) || stat(path, &st) != 0 ||
	    !file_same(&st, &users_memo.st))
		return -2;
	if (users_memo.found == 0)
		return 0;
	if (hash != NULL && str_copy(hash, hashlen, users_memo.hash) != 0)
		return -1;
	if (opts != NULL && str_copy(opts, optslen, users_memo.opts) != 0)
		return -1;
	return 1;
}

/* Remember found (0 or 1) for address, read from the file st describes. */
static void users_memo_put(const char *path, const char *address, const struct stat *st,
    int found, const char *hash, const char *opts)
{
	time_t now = time(NULL);

	users_memo.path[0] = '\0';
	if (found < 0 || now - st->st_mtim.tv_sec < USERS_MEMO_SETTLED ||
	    now - st->st_ctim.tv_sec < USERS_MEMO_SETTLED)
		return;
	if (str_copy(users_memo.address, sizeof users_memo.address, address) != 0 ||
	    str_copy(users_memo.hash, sizeof users_memo.hash, found ? hash : "") != 0 ||
	    str_copy(users_memo.opts, sizeof users_memo.opts, found ? opts : "") != 0)
		return;
	users_memo.st = *st;
	users_memo.found = found;
	(void)str_copy(users_memo.path, sizeof users_memo.path, path);
}

/* users_lookup and users_options: the hash and/or the options field of one entry. */
static int lookup_entry(const char *path, const char *address, char *hash, size_t hashlen,
    char *opts, size_t optslen)
{
	char h[USERS_HASH_MAX], o[USERS_LINE_MAX + 1];
	struct stat st;
	int r = users_memo_get(path, address, hash, hashlen, opts, optslen), known = 0;

	if (r != -2)
		return r;
	h[0] = o[0] = '\0';
	r = lookup_file(path, address, h, sizeof h, o, sizeof o, &st, &known);
	if (known)
		users_memo_put(path, address, &st, r, h, o);
	if (r == 1 && ((hash != NULL && str_copy(hash, hashlen, h) != 0) ||
	    (opts != NULL && str_copy(opts, optslen, o) != 0)))
		return -1;
	return r;
}

/* The entry of address read from the file; *stp its fstat when *known. */
static int lookup_file(const char *path, const char *address, char *hash, size_t hashlen,
    char *opts, size_t optslen, struct stat *stp, int *known)
{
	char line[USERS_LINE_MAX + 1];
	size_t alen = strlen(address), len;
	struct fields fl;
	struct stat st;
	int r, found = 0;
	FILE *f;

	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	*known = fstat(fileno(f), &st) == 0;
	if (*known)
		*stp = st;
	if (*known && st.st_size >= USERS_INDEX_MIN &&
	    (uintmax_t)st.st_size < UINT32_MAX) {
		if (users_index_current(&st) || users_index_build(f, &st) == 0) {
			found = users_index_lookup(fileno(f), address, hash, hashlen,
			    opts, optslen);
			(void)fclose(f);
			return found;
		}
		rewind(f);
	}
	while ((r = users_read_line(f, line, sizeof line, &len)) != 0) {
		if (r == -1) {
			found = -1;
			break;
		}
		/* Cheap test first: only the matching line is parsed in full. */
		if (r == -2 || len <= alen || line[alen] != ':' ||
		    !ascii_caseeq(line, address, alen))
			continue;
		if (parse_line(line, len, &fl) != NULL || !address_eq(fl.address, address))
			continue;
		found = entry_copy(&fl, hash, hashlen, opts, optslen);
		break;
	}
	(void)fclose(f);
	return found;
}

int users_lookup(const char *path, const char *address, char *hash, size_t hashlen)
{
	return lookup_entry(path, address, hash, hashlen, NULL, 0);
}

int users_options(const char *path, const char *address, struct user_options *o)
{
	char opts[USERS_LINE_MAX + 1];
	int r = lookup_entry(path, address, NULL, 0, opts, sizeof opts);

	users_options_parse(NULL, o, NULL, 0);
	if (r != 1)
		return r;
	/* The file was checked by ispmaild -t; a bad value here means its default. */
	(void)users_options_parse(opts, o, NULL, 0);
	return 1;
}

int users_authenticate(const char *path, const char *address, const char *password)
{
	char hash[USERS_HASH_MAX];
	int r = users_lookup(path, address, hash, sizeof hash);

	if (r == -1)
		return -1;
	if (r == 0) {
		(void)users_check_hash(users_dummy, password);
		return 0;
	}
	return users_check_hash(hash, password);
}

const char *users_dummy_hash(void)
{
	return users_dummy;
}

/* Every byte is compared, whatever the first difference. */
static int ct_equal(const char *a, const char *b, size_t n)
{
	volatile unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return d == 0;
}

int users_check_hash(const char *hash, const char *password)
{
	struct crypt_data *cd = xcalloc(1, sizeof *cd);
	size_t n = strlen(hash);
	const char *r;
	int ok = 0;

	r = crypt_rn(password, hash, cd, (int)sizeof *cd);
	if (r != NULL && r[0] != '*' && n > 0 && strlen(r) == n)
		ok = ct_equal(r, hash, n);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok;
}

int users_make_hash(const char *password, const char *prefix, char *out, size_t outlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *r;
	int rc = -1;

	if (prefix == NULL)
		prefix = "$y$";
	if (crypt_gensalt_rn(prefix, 0, NULL, 0, setting, (int)sizeof setting) == NULL)
		return -1;
	cd = xcalloc(1, sizeof *cd);
	r = crypt_rn(password, setting, cd, (int)sizeof *cd);
	if (r != NULL && r[0] != '*' && hash_valid(r) && str_copy(out, outlen, r) == 0)
		rc = 0;
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return rc;
}

int users_login_address(const struct conf *c, const char *login, char *out, size_t outlen)
{
	char a[USERS_ADDRESS_MAX];
	size_t n = strlen(login), ats = 0, at = 0;

	if (outlen > 0)
		out[0] = '\0';
	if (n == 0 || n >= sizeof a)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)login[i];

		if (ch <= ' ' || ch >= 0x7f)
			return -1;
		if (ch == '@') {
			ats++;
			at = i;
		}
		a[i] = (char)ascii_lower(ch);
	}
	a[n] = '\0';
	if (ats > 1)
		return -1;
	if (ats == 0) {
		if (c == NULL || c->ndomains == 0 ||
		    str_format(out, outlen, "%s@%s", a, c->domains[0]) == -1)
			goto bad;
	} else {
		if (n > at + 1 && a[n - 1] == '.')
			a[n - 1] = '\0';
		if (str_copy(out, outlen, a) == -1)
			goto bad;
	}
	if (users_address_valid(out))
		return 0;
bad:
	if (outlen > 0)
		out[0] = '\0';
	return -1;
}

/*
 * Options (the third field): comma-separated "key=value". Only the text
 * up to a further ':' is the options field; anything after it is kept as
 * written, like an option we do not know.
 */
int users_size_parse(const char *s, unsigned long long *out)
{
	unsigned long long v = 0, mul = 1;
	size_t i = 0;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (ULLONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	switch (ascii_lower((unsigned char)s[i])) {
	case '\0': break;
	case 'k': mul = 1024ULL; i++; break;
	case 'm': mul = 1024ULL * 1024; i++; break;
	case 'g': mul = 1024ULL * 1024 * 1024; i++; break;
	default: return -1;
	}
	/* Past 2^62 it is not a size, and Maildir++ lines are signed 64-bit. */
	if (s[i] != '\0' || v > (1ULL << 62) / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int yes_no(const char *v, int *out)
{
	if (strcmp(v, "yes") == 0)
		*out = 1;
	else if (strcmp(v, "no") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* "a@b c@d": each one an address we could store; copied into out. */
static int forward_parse(const char *v, char *out, size_t outlen)
{
	char one[USERS_ADDRESS_MAX];
	size_t n, count = 0;

	for (const char *p = v; *p; p += n) {
		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n == 0)
			break;
		if (n >= sizeof one)
			return -1;
		memcpy(one, p, n);
		one[n] = '\0';
		if (!users_address_valid(one))
			return -1;
		count++;
	}
	if (count == 0)
		return -1;
	return str_copy(out, outlen, v);
}

/* One "key=value"; 0, 1 for a key we do not know, -1 for a bad value. */
static int option_one(const char *key, const char *v, struct user_options *o)
{
	unsigned long long q;

	if (strcmp(key, "quota") == 0) {
		if (strcmp(v, "none") == 0 || (users_size_parse(v, &q) == 0 && q == 0)) {
			o->has_quota = 0;
			return 0;
		}
		if (users_size_parse(v, &q) != 0)
			return -1;
		o->has_quota = 1;
		o->quota = q;
		return 0;
	}
	if (strcmp(key, "forward") == 0)
		return forward_parse(v, o->forward, sizeof o->forward);
	if (strcmp(key, "keep") == 0)
		return yes_no(v, &o->keep);
	if (strcmp(key, "vacation") == 0)
		return yes_no(v, &o->vacation);
	return 1;
}

int users_options_parse(const char *options, struct user_options *o, char *err, size_t errlen)
{
	char tok[USERS_LINE_MAX + 1];
	size_t end, n;
	int rc = 0;

	memset(o, 0, sizeof *o);
	o->keep = 1;
	if (options == NULL)
		return 0;
	end = strcspn(options, ":");
	for (size_t at = 0; at < end; at += n + 1) {
		char *eq;

		n = strcspn(options + at, ",:");
		if (n == 0 || n >= sizeof tok)
			continue;
		memcpy(tok, options + at, n);
		tok[n] = '\0';
		if ((eq = strchr(tok, '=')) == NULL)
			continue;	/* not key=value: kept, not ours */
		*eq = '\0';
		if (option_one(tok, eq + 1, o) == -1 && rc == 0) {
			seterr(err, errlen, "bad value for option %s: \"%s\"", tok, eq + 1);
			rc = -1;
		}
	}
	return rc;
}

/* Where key=... starts in opts (within the options field) and its length. */
static int option_find(const char *opts, const char *key, size_t *at, size_t *len)
{
	size_t end = strcspn(opts, ":"), klen = strlen(key), n;

	for (size_t i = 0; i < end; i += n + 1) {
		n = strcspn(opts + i, ",:");
		if (n > klen && strncmp(opts + i, key, klen) == 0 && opts[i + klen] == '=') {
			*at = i;
			*len = n;
			return 1;
		}
		if (i + n >= end)
			break;
	}
	return 0;
}

int users_option_set(struct user *u, const char *key, const char *value)
{
	const char *old = u->options ? u->options : "";
	struct buf b = BUF_INIT;
	struct user_options o;
	size_t at, len;

	if (value != NULL) {
		if (option_one(key, value, &o) == -1 || strpbrk(value, ",:") != NULL ||
		    !options_valid(value))
			return -1;
	}
	if (option_find(old, key, &at, &len)) {
		size_t tail = at + len;

		buf_append(&b, old, at);
		if (value != NULL)
			buf_printf(&b, "%s=%s", key, value);
		else if (old[tail] == ',')
			tail++;		/* drop the comma that followed */
		else if (b.len > 0 && b.s[b.len - 1] == ',')
			b.s[--b.len] = '\0';	/* it was last: drop the one before */
		buf_appends(&b, old + tail);
	} else if (value != NULL) {
		size_t end = strcspn(old, ":");

		buf_append(&b, old, end);
		buf_printf(&b, "%s%s=%s", end > 0 ? "," : "", key, value);
		buf_appends(&b, old + end);
	} else {
		buf_appends(&b, old);
	}
	free(u->options);
	u->options = b.len > 0 ? buf_steal(&b) : xstrdup("");
	buf_free(&b);
	return 0;
}
