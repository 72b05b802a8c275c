/*
 * test_maildir.c: the Maildir library (docs/PROTOCOL.md: files, POP3 sizes,
 * kill -9): name parsing, unique names under concurrency, S=/W=, scan, the
 * POP3 wire form fed whole and one byte at a time, paths, delete, the lock.
 */
#include "config.h"

#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cutap.h"
#include "maildir.h"

/* An assertion whose message names the table row that failed. */
#define CHECK_ROW(cond, row) do { \
	char msg_[160]; \
	snprintf(msg_, sizeof msg_, "row %d: %s", (int)(row), #cond); \
	CU_assertImplementation((cond) ? CU_TRUE : CU_FALSE, __LINE__, msg_, \
	    __FILE__, "", CU_FALSE); \
} while (0)

static unsigned serial;

/* snprintf for test paths: truncation would test the wrong file, so stop. */
static void fmt(char *out, size_t outlen, const char *f, ...)
	__attribute__((format(printf, 3, 4)));
static void fmt(char *out, size_t outlen, const char *f, ...)
{
	va_list ap;
	int r;

	va_start(ap, f);
	r = vsnprintf(out, outlen, f, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= outlen) {
		fprintf(stderr, "test path too long\n");
		exit(99);
	}
}

/* A fresh, empty Maildir under the suite's temp dir. */
static const char *new_maildir(char *out, size_t outlen)
{
	fmt(out, outlen, "%s/md%u/example.org/user", cutap_tmpdir(), ++serial);
	if (maildir_make(out, (uid_t)-1, (gid_t)-1) != 0) {
		perror(out);
		exit(99);
	}
	return out;
}

/* Entries of maildir/sub, dot files excluded; the first name into first. */
static int count_dir(const char *maildir, const char *sub, char *first, size_t firstlen)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	fmt(path, sizeof path, "%s/%s", maildir, sub);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n++ == 0 && first != NULL)
			snprintf(first, firstlen, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

static void put_file(const char *maildir, const char *sub, const char *name,
    const char *content)
{
	char path[PATH_MAX];
	FILE *f;

	fmt(path, sizeof path, "%s/%s/%s", maildir, sub, name);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(content, f);
	CU_ASSERT_FATAL(fclose(f) == 0);
}

/* Read a whole small file into b. */
static int slurp(int fd, struct buf *b)
{
	char tmp[4096];
	ssize_t n;

	while ((n = read(fd, tmp, sizeof tmp)) > 0)
		buf_append(b, tmp, (size_t)n);
	return n < 0 ? -1 : 0;
}

/* ---- names ---- */

static void test_name_parse(void)
{
	static const struct {
		const char *name;
		int ret;
		size_t uid, s, w;
	} rows[] = {
		{ "1700000000.M123456P42Q1.mx.example,S=10,W=12", 0, 34, 10, 12 },
		{ "1700000000.M123456P42Q1.mx.example,S=10,W=12:2,S", 0, 34, 10, 12 },
		{ "1700000000.M123456P42Q1.mx.example,S=10,W=12:2,RS", 0, 34, 10, 12 },
		{ "1700000000.M123456P42Q1.mx.example", 0, 34, (size_t)-1, (size_t)-1 },
		{ "1700000000.M123456P42Q1.mx.example:2,", 0, 34, (size_t)-1, (size_t)-1 },
		{ "1700000000.M123456P42Q1.mx.example:2,S=5", 0, 34, (size_t)-1, (size_t)-1 },
		{ "1.M1P1.h,W=5", 0, 8, (size_t)-1, 5 },
		{ "1.M1P1.h,W=7,S=5", 0, 8, 5, 7 },
		{ "1.M1P1.h,S=0,W=0", 0, 8, 0, 0 },
		{ "1.M1P1.h,S=abc,W=", 0, 8, (size_t)-1, (size_t)-1 },
		{ "1.M1P1.h,S=12x,W=-3", 0, 8, (size_t)-1, (size_t)-1 },
		{ "1.M1P1.h,S=99999999999999999999", 0, 8, (size_t)-1, (size_t)-1 },
		{ "1.M1P1.h,XYZ,W=9", 0, 8, (size_t)-1, 9 },
		{ "1.M1P1.h,,W=9", 0, 8, (size_t)-1, 9 },
		{ "1234567890.12345.host", 0, 21, (size_t)-1, (size_t)-1 },
		{ "1234567890.V801I1M2.host:2,S", 0, 24, (size_t)-1, (size_t)-1 },
		{ "", -1, 0, 0, 0 },
		{ ".", -1, 0, 0, 0 },
		{ "..", -1, 0, 0, 0 },
		{ ".hidden", -1, 0, 0, 0 },
		{ ".ispmaild.lock", -1, 0, 0, 0 },
		{ ".1700000000.M1P1.h", -1, 0, 0, 0 },
		{ "foo", -1, 0, 0, 0 },
		{ "1234", -1, 0, 0, 0 },
		{ "abc.def", -1, 0, 0, 0 },
		{ "12a.x", -1, 0, 0, 0 },
		{ "12\n3.x", -1, 0, 0, 0 },
		{ "123.x\ty", -1, 0, 0, 0 },
		{ "123.x\x7f", -1, 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		size_t uid = 777, s = 777, w = 777;
		int r = maildir_name_parse(rows[i].name, &uid, &s, &w);

		CHECK_ROW(r == rows[i].ret, i);
		if (r != 0 || rows[i].ret != 0)
			continue;
		CHECK_ROW(uid == rows[i].uid, i);
		CHECK_ROW(s == rows[i].s, i);
		CHECK_ROW(w == rows[i].w, i);
	}
	/* NULL outputs are allowed. */
	CU_ASSERT_EQUAL(maildir_name_parse("1.M1P1.h,S=1,W=2", NULL, NULL, NULL), 0);
}

static void test_name_time(void)
{
	static const struct {
		const char *name;
		int ret;
		unsigned long long sec;
		unsigned long usec;
	} rows[] = {
		{ "1700000000.M123456P42Q1.h", 0, 1700000000ULL, 123456 },
		{ "1700000000.M5P42Q1.h", 0, 1700000000ULL, 5 },
		{ "1234567890.12345.host", 0, 1234567890ULL, 0 },
		{ "7.M.h", 0, 7, 0 },
		{ "x.M1.h", -1, 0, 0 },
		{ "17", -1, 0, 0 },
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		unsigned long long sec = 1;
		unsigned long usec = 1;
		int r = maildir_name_time(rows[i].name, &sec, &usec);

		CHECK_ROW(r == rows[i].ret, i);
		if (r == 0) {
			CHECK_ROW(sec == rows[i].sec, i);
			CHECK_ROW(usec == rows[i].usec, i);
		}
	}
}

static void test_unique_name(void)
{
	char a[MAILDIR_NAME_MAX], b[MAILDIR_NAME_MAX], pid[32], small[8];
	size_t uid, s, w;

	CU_ASSERT_EQUAL_FATAL(maildir_unique_name(a, sizeof a), 0);
	CU_ASSERT_EQUAL_FATAL(maildir_unique_name(b, sizeof b), 0);
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
	/* "<sec>.M<usec>P<pid>Q<n>.<host>" */
	fmt(pid, sizeof pid, "P%ldQ", (long)getpid());
	CU_ASSERT_PTR_NOT_NULL(strstr(a, pid));
	CU_ASSERT_PTR_NOT_NULL(strstr(a, ".M"));
	CU_ASSERT(strlen(a) >= 1 && strlen(a) <= MAILDIR_UID_MAX);
	for (const char *p = a; *p; p++)
		CU_ASSERT(*p >= 0x21 && *p <= 0x7e && *p != '/' && *p != ':' && *p != ',');
	/* The whole name is the unique part: no S=, no info. */
	CU_ASSERT_EQUAL(maildir_name_parse(a, &uid, &s, &w), 0);
	CU_ASSERT_EQUAL(uid, strlen(a));
	CU_ASSERT_EQUAL(s, (size_t)-1);
	CU_ASSERT_EQUAL(maildir_unique_name(small, sizeof small), -1);
	CU_ASSERT_EQUAL(errno, ENAMETOOLONG);
}

/*
 * The host part escapes '/' ':' ',' (Maildir spec, and our UIDL ends at ',')
 * and is cut to keep the UIDL within 70 octets. Needs a private UTS
 * namespace to set a host name: skipped where that is not allowed.
 */
static void test_unique_host(void)
{
	static const struct {
		const char *host, *suffix;
	} rows[] = {
		{ "mx.example", ".mx.example" },
		{ "a/b:c,d.example", ".a\\057b\\072c\\054d.example" },
		{ "x123456789x123456789x123456789x123456789x123456789x123456789",
		  NULL },
		{ "////////////////////////////////////////", NULL },
	};
	int p[2], status;
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (unshare(CLONE_NEWUTS) != 0)
			_exit(77);
		for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
			char name[MAILDIR_NAME_MAX];

			if (sethostname(rows[i].host, strlen(rows[i].host)) != 0 ||
			    maildir_unique_name(name, sizeof name) != 0)
				_exit(2);
			if (write(p[1], name, strlen(name) + 1) < 0)
				_exit(3);
		}
		_exit(0);
	}
	close(p[1]);
	{
		char got[4096];
		size_t len = 0;
		ssize_t n;

		while ((n = read(p[0], got + len, sizeof got - 1 - len)) > 0)
			len += (size_t)n;
		close(p[0]);
		got[len] = '\0';
		CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
			CU_PASS("no UTS namespace: skipped");
			return;
		}
		CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		for (size_t i = 0, off = 0; i < sizeof rows / sizeof rows[0] && off < len; i++) {
			const char *name = got + off;
			size_t nl = strlen(name), uid;

			off += nl + 1;
			CHECK_ROW(nl <= MAILDIR_UID_MAX, i);
			CHECK_ROW(maildir_name_parse(name, &uid, NULL, NULL) == 0, i);
			CHECK_ROW(uid == nl, i);
			CHECK_ROW(strpbrk(name, "/:,") == NULL, i);
			if (rows[i].suffix != NULL) {
				size_t sl = strlen(rows[i].suffix);

				CHECK_ROW(nl > sl && strcmp(name + nl - sl, rows[i].suffix) == 0, i);
			} else {
				/* Cut to exactly 70, or short of it by less than one escape. */
				CHECK_ROW(nl + 4 > MAILDIR_UID_MAX, i);
				CHECK_ROW(name[nl - 1] != '\\', i);
			}
		}
	}
}

static void test_uidl(void)
{
	char longname[200], out[MAILDIR_UID_MAX + 1];
	struct maildir_msg m = { 0 };

	m.name = (char *)"1700000000.M1P2Q3.h,S=1,W=2:2,S";
	m.uid_len = 17;
	CU_ASSERT_EQUAL(maildir_msg_uidl(&m, out, sizeof out), 0);
	CU_ASSERT_STRING_EQUAL(out, "1700000000.M1P2Q3");
	CU_ASSERT_EQUAL(maildir_msg_uidl(&m, out, 10), -1);

	/* Another MDA's name longer than RFC 1939 allows: a stable hash. */
	memset(longname, 'x', 100);
	memcpy(longname, "1700000000.", 11);
	longname[100] = '\0';
	m.name = longname;
	m.uid_len = 100;
	CU_ASSERT_EQUAL(maildir_msg_uidl(&m, out, sizeof out), 0);
	CU_ASSERT_EQUAL(strlen(out), 16);
	CU_ASSERT_EQUAL(strspn(out, "0123456789abcdef"), 16);
	{
		char again[MAILDIR_UID_MAX + 1];

		CU_ASSERT_EQUAL(maildir_msg_uidl(&m, again, sizeof again), 0);
		CU_ASSERT_STRING_EQUAL(out, again);
	}
	/* A byte outside 0x21..0x7e also gets the hash. */
	m.name = (char *)"1700000000.a b";
	m.uid_len = 14;
	CU_ASSERT_EQUAL(maildir_msg_uidl(&m, out, sizeof out), 0);
	CU_ASSERT_EQUAL(strlen(out), 16);
}

/* ---- paths ---- */

static void test_path_for(void)
{
	static const struct {
		const char *root, *addr, *want;	/* want NULL: refused */
	} rows[] = {
		{ "/var/mail", "user@example.com", "/var/mail/example.com/user" },
		{ "/var/mail/", "user@example.com", "/var/mail/example.com/user" },
		{ "/var/mail", "User.Name@Example.COM", "/var/mail/example.com/user.name" },
		{ "/var/mail", "a+b-c_d@ex-ample.org", "/var/mail/ex-ample.org/a+b-c_d" },
		{ "/var/mail", "", NULL },
		{ "/var/mail", "user", NULL },
		{ "/var/mail", "@", NULL },
		{ "/var/mail", "user@", NULL },
		{ "/var/mail", "@example.com", NULL },
		{ "/var/mail", "us/er@example.com", NULL },
		{ "/var/mail", "user@exa/mple.com", NULL },
		{ "/var/mail", "user@/etc", NULL },
		{ "/var/mail", ".user@example.com", NULL },
		{ "/var/mail", "user@.example.com", NULL },
		{ "/var/mail", "..@example.com", NULL },
		{ "/var/mail", "user@..", NULL },
		{ "/var/mail", "../../etc/passwd@example.com", NULL },
		{ "/var/mail", "u..ser@example.com", NULL },
		{ "/var/mail", "user@example..com", NULL },
		{ "/var/mail", "user.@example.com", NULL },
		{ "/var/mail", "user@example.com.", NULL },
		{ "/var/mail", "a@b@example.com", NULL },
		{ "/var/mail", "us\ter@example.com", NULL },
		{ "/var/mail", "us er@example.com", NULL },
		{ "/var/mail", "user@exa\nmple.com", NULL },
		{ "/var/mail", "us\x7f" "er@example.com", NULL },
		{ "/var/mail", "us\xc3\xa9r@example.com", NULL },
		{ "/var/mail", "user@ex\x80.com", NULL },
		{ "", "user@example.com", NULL },
	};

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char out[PATH_MAX];
		int r = maildir_path_for(rows[i].root, rows[i].addr, out, sizeof out);

		if (rows[i].want == NULL) {
			CHECK_ROW(r == -1, i);
			CHECK_ROW(errno == EINVAL, i);
			CHECK_ROW(out[0] == '\0', i);
		} else {
			CHECK_ROW(r == 0, i);
			CHECK_ROW(strcmp(out, rows[i].want) == 0, i);
		}
	}
}

static void test_path_for_overlong(void)
{
	char out[27], big[PATH_MAX + 10];

	/* "/var/mail/example.com/user" is 26 bytes: fits exactly, one less does not. */
	CU_ASSERT_EQUAL(maildir_path_for("/var/mail", "user@example.com", out, sizeof out), 0);
	CU_ASSERT_STRING_EQUAL(out, "/var/mail/example.com/user");
	CU_ASSERT_EQUAL(maildir_path_for("/var/mail", "user@example.com", out, 26), -1);
	CU_ASSERT_EQUAL(errno, ENAMETOOLONG);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	big[100] = '@';
	CU_ASSERT_EQUAL(maildir_path_for("/r", big, out, sizeof out), -1);
}

/* ---- creating ---- */

static void test_make(void)
{
	static const char *const subs[] = { "", "/tmp", "/new", "/cur" };
	char md[PATH_MAX], path[PATH_MAX], file[PATH_MAX];
	struct stat st;
	mode_t old = umask(022);

	fmt(md, sizeof md, "%s/make/dom.example/u", cutap_tmpdir());
	CU_ASSERT_EQUAL_FATAL(maildir_make(md, (uid_t)-1, (gid_t)-1), 0);
	for (size_t i = 0; i < 4; i++) {
		fmt(path, sizeof path, "%s%s", md, subs[i]);
		CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
		CHECK_ROW(S_ISDIR(st.st_mode), i);
		CHECK_ROW((st.st_mode & 07777) == 0700, i);
	}
	/* Again: existing directories are fine. */
	CU_ASSERT_EQUAL(maildir_make(md, (uid_t)-1, (gid_t)-1), 0);
	/* A missing subdirectory is made again. */
	fmt(path, sizeof path, "%s/cur", md);
	CU_ASSERT_EQUAL_FATAL(rmdir(path), 0);
	CU_ASSERT_EQUAL(maildir_make(md, (uid_t)-1, (gid_t)-1), 0);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	/* A file in the way. */
	fmt(file, sizeof file, "%s/make/afile", cutap_tmpdir());
	put_file(cutap_tmpdir(), "make", "afile", "x");
	fmt(path, sizeof path, "%s/sub", file);
	CU_ASSERT_EQUAL(maildir_make(path, (uid_t)-1, (gid_t)-1), -1);
	CU_ASSERT_EQUAL(errno, ENOTDIR);
	CU_ASSERT_EQUAL(maildir_make("", (uid_t)-1, (gid_t)-1), -1);
	umask(old);
}

/* Every directory made gets the owner; ones that existed keep theirs. */
static void test_make_chown(void)
{
	char base[PATH_MAX], md[PATH_MAX], path[PATH_MAX];
	uid_t uid = geteuid() == 0 ? 4242 : geteuid();
	gid_t gid = geteuid() == 0 ? 4343 : getegid();
	struct stat st;

	fmt(base, sizeof base, "%s/chown", cutap_tmpdir());
	CU_ASSERT_EQUAL_FATAL(mkdir(base, 0755), 0);
	fmt(md, sizeof md, "%s/dom/u", base);
	CU_ASSERT_EQUAL_FATAL(maildir_make(md, uid, gid), 0);
	CU_ASSERT_EQUAL(stat(base, &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, geteuid());
	fmt(path, sizeof path, "%s/dom", base);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, uid);
	CU_ASSERT_EQUAL(st.st_gid, gid);
	fmt(path, sizeof path, "%s/new", md);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, uid);
	CU_ASSERT_EQUAL(st.st_gid, gid);
	CU_ASSERT_EQUAL((st.st_mode & 07777), 0700);
}

/* Walking down by descriptor: made, found, refused at a link, bad names. */
static void test_dir_walk(void)
{
	char base[PATH_MAX], path[PATH_MAX], target[PATH_MAX], bad[PATH_MAX];
	uid_t uid = geteuid() == 0 ? 4242 : (uid_t)-1;
	gid_t gid = geteuid() == 0 ? 4343 : (gid_t)-1;
	struct stat st;
	DIR *d;
	int root, fd, n = 0;

	fmt(base, sizeof base, "%s/walk", cutap_tmpdir());
	fmt(target, sizeof target, "%s/walk-target", cutap_tmpdir());
	CU_ASSERT_EQUAL_FATAL(mkdir(base, 0755), 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(target, 0755), 0);
	root = open(base, O_RDONLY | O_DIRECTORY);
	CU_ASSERT_FATAL(root >= 0);

	/* Made component by component, each chowned (as root) through its fd. */
	fd = maildir_dir_walk(root, "a/b//c/", 1, uid, gid, bad, sizeof bad);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(fstat(fd, &st), 0);
	CU_ASSERT(S_ISDIR(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0700);
	if (uid != (uid_t)-1) {
		CU_ASSERT_EQUAL(st.st_uid, uid);
		CU_ASSERT_EQUAL(st.st_gid, gid);
	}
	CU_ASSERT_EQUAL(close(fd), 0);
	/* Found: opened, an existing directory keeps its owner. */
	CU_ASSERT_EQUAL(chown(base, geteuid(), getegid()), 0);
	fd = maildir_dir_walk(root, "a/b", 0, (uid_t)-1, (gid_t)-1, bad, sizeof bad);
	CU_ASSERT(fd >= 0);
	CU_ASSERT_EQUAL(close(fd), 0);
	/* Empty rel: the start itself. */
	fd = maildir_dir_walk(root, "", 0, (uid_t)-1, (gid_t)-1, bad, sizeof bad);
	CU_ASSERT(fd >= 0 && fd != root);
	CU_ASSERT_EQUAL(close(fd), 0);

	/* A link in the middle, at the end, to a file: refused, named, nothing made. */
	fmt(path, sizeof path, "%s/a/link", base);
	CU_ASSERT_EQUAL_FATAL(symlink(target, path), 0);
	errno = 0;
	CU_ASSERT_EQUAL(maildir_dir_walk(root, "a/link/x", 1, uid, gid, bad, sizeof bad), -1);
	CU_ASSERT_EQUAL(errno, ELOOP);
	CU_ASSERT_STRING_EQUAL(bad, "a/link");
	CU_ASSERT_EQUAL(maildir_dir_walk(root, "a/link", 0, uid, gid, bad, sizeof bad), -1);
	CU_ASSERT_EQUAL(errno, ELOOP);
	fmt(path, sizeof path, "%s/a/flink", base);
	CU_ASSERT_EQUAL_FATAL(symlink("/etc/passwd", path), 0);
	CU_ASSERT_EQUAL(maildir_dir_walk(root, "a/flink", 1, uid, gid, bad, sizeof bad), -1);
	CU_ASSERT_EQUAL(errno, ELOOP);
	CU_ASSERT_EQUAL(lstat("/etc/passwd", &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, 0);
	d = opendir(target);
	CU_ASSERT_FATAL(d != NULL);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	CU_ASSERT_EQUAL(n, 2);	/* . and .. only */
	CU_ASSERT_EQUAL(stat(target, &st), 0);
	CU_ASSERT_EQUAL(st.st_uid, geteuid());

	/* Missing without create; names that climb. */
	CU_ASSERT_EQUAL(maildir_dir_walk(root, "a/none", 0, uid, gid, bad, sizeof bad), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
	CU_ASSERT_STRING_EQUAL(bad, "a/none");
	CU_ASSERT_EQUAL(maildir_dir_walk(root, "a/../..", 1, uid, gid, bad, sizeof bad), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(maildir_dir_walk(root, "./a", 1, uid, gid, NULL, 0), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(close(root), 0);

	/* maildir_make refuses the same links; the root's own are followed. */
	fmt(path, sizeof path, "%s/a/link/u", base);
	CU_ASSERT_EQUAL(maildir_make(path, uid, gid), -1);
	CU_ASSERT_EQUAL(errno, ELOOP);
	fmt(path, sizeof path, "%s/a/b/link", base);
	CU_ASSERT_EQUAL_FATAL(symlink(target, path), 0);
	fmt(path, sizeof path, "%s/a/b/link/dom/u", base);
	CU_ASSERT_EQUAL(maildir_make(path, (uid_t)-1, (gid_t)-1), 0);
	CU_ASSERT_EQUAL(maildir_make_at(base, "a/link", uid, gid, bad, sizeof bad), -1);
	CU_ASSERT_EQUAL(errno, ELOOP);
	CU_ASSERT_STRING_EQUAL(bad, "a/link");
}

/* A Maildir whose new/ or tmp/ is a link: no delivery through it. */
static void test_writer_link_dirs(void)
{
	char md[PATH_MAX], md2[PATH_MAX], path[PATH_MAX], target[PATH_MAX];
	struct maildir_writer w;
	DIR *d;
	int n = 0;

	new_maildir(md, sizeof md);
	new_maildir(md2, sizeof md2);
	fmt(target, sizeof target, "%s/writer-target", cutap_tmpdir());
	CU_ASSERT_EQUAL_FATAL(mkdir(target, 0700), 0);
	fmt(path, sizeof path, "%s/new", md);
	CU_ASSERT_EQUAL_FATAL(rmdir(path), 0);
	CU_ASSERT_EQUAL_FATAL(symlink(target, path), 0);
	errno = 0;
	CU_ASSERT_EQUAL(maildir_writer_open(&w, md), -1);
	CU_ASSERT_EQUAL(errno, ELOOP);
	CU_ASSERT_EQUAL(maildir_deliver(md, "x\n", 2), -1);
	CU_ASSERT_EQUAL(errno, ELOOP);
	/* Linking a second recipient's copy into it: refused too. */
	CU_ASSERT_EQUAL_FATAL(maildir_writer_open(&w, md2), 0);
	CU_ASSERT_EQUAL(maildir_writer_write(&w, "x\n", 2), 0);
	CU_ASSERT_EQUAL_FATAL(maildir_writer_commit(&w), 0);
	CU_ASSERT_EQUAL(maildir_writer_link(&w, md), -1);
	CU_ASSERT_EQUAL(errno, ELOOP);
	/* The Maildir itself a link. */
	fmt(path, sizeof path, "%s-link", md);
	CU_ASSERT_EQUAL_FATAL(symlink(md2, path), 0);
	CU_ASSERT_EQUAL(maildir_deliver(path, "x\n", 2), -1);
	CU_ASSERT_EQUAL(errno, ELOOP);
	d = opendir(target);
	CU_ASSERT_FATAL(d != NULL);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	CU_ASSERT_EQUAL(n, 2);
}

/* ---- delivery ---- */

/* The reference counts, straight from docs/PROTOCOL.md, files. */
static size_t crlf_count(const char *p, size_t n)
{
	size_t w = n;

	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			w++;
	if (n > 0 && p[n - 1] != '\n')
		w += 2;
	return w;
}

static size_t stuffed_dots(const char *p, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (p[i] == '.' && (i == 0 || p[i - 1] == '\n'))
			k++;
	return k;
}

static void wire_whole(const char *p, size_t n, long top, struct buf *out)
{
	struct maildir_wire st;

	maildir_wire_init(&st, top);
	maildir_wire_encode(&st, p, n, out);
	maildir_wire_finish(&st, out);
}

static const char *const tricky[] = {
	"",
	"a\n",
	"Subject: x\n\nbody\n",
	".\n",
	"..\n",
	".leading\n..two\n...three\nmid.dle\n.\n",
	"crlf\r\nmixed\nlines\r\n\r\n.dot\r\n",
	"no final newline",
	"ends in dot\n.",
	"lone\rcr\n\rstart\n",
	"cr at end\r",
	"\n\n\n",
	"\r\n",
	".\r\n.\r\n",
	"x\r\r\n",
};

/* S= is the file size, W= the CRLF size, and RETR sends W= + stuffed dots. */
static void test_sizes(void)
{
	char md[PATH_MAX];

	new_maildir(md, sizeof md);
	for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
		struct maildir_writer w;
		size_t n = strlen(tricky[i]), uid, s, wsz;
		struct buf wire = BUF_INIT, disk = BUF_INIT;
		struct stat st;
		const char *base;
		int fd;

		CHECK_ROW(maildir_writer_open(&w, md) == 0, i);
		/* In two pieces, splitting a CRLF when there is one. */
		CHECK_ROW(maildir_writer_write(&w, tricky[i], n / 2) == 0, i);
		CHECK_ROW(maildir_writer_write(&w, tricky[i] + n / 2, n - n / 2) == 0, i);
		CHECK_ROW(maildir_writer_commit(&w) == 0, i);
		base = strrchr(w.final, '/') + 1;
		CHECK_ROW(strncmp(base, w.base, strlen(w.base)) == 0, i);
		CHECK_ROW(maildir_name_parse(base, &uid, &s, &wsz) == 0, i);
		CHECK_ROW(uid == strlen(w.base), i);
		CHECK_ROW(stat(w.final, &st) == 0, i);
		CHECK_ROW((size_t)st.st_size == n, i);
		CHECK_ROW(s == n, i);
		CHECK_ROW(wsz == crlf_count(tricky[i], n), i);
		CHECK_ROW(w.disk == s && w.crlf == wsz, i);
		CHECK_ROW((st.st_mode & 0777) == 0600, i);
		/* The stored bytes are the bytes given. */
		fd = open(w.final, O_RDONLY);
		CHECK_ROW(fd >= 0 && slurp(fd, &disk) == 0, i);
		close(fd);
		CHECK_ROW(disk.len == n && memcmp(disk.s ? disk.s : "", tricky[i], n) == 0, i);
		/* The wire form, before ".\r\n": W= plus one octet per stuffed dot. */
		wire_whole(tricky[i], n, -1, &wire);
		CHECK_ROW(wire.len == wsz + stuffed_dots(tricky[i], n), i);
		buf_free(&wire);
		buf_free(&disk);
	}
	CU_ASSERT_EQUAL(count_dir(md, "new", NULL, 0), (int)(sizeof tricky / sizeof tricky[0]));
	CU_ASSERT_EQUAL(count_dir(md, "tmp", NULL, 0), 0);
}

static void test_deliver_scan(void)
{
	char md[PATH_MAX];
	struct maildir_list l;
	static const char *const msgs[] = { "one\n", "two\nlines\n", "three\r\n.x\n" };

	new_maildir(md, sizeof md);
	for (size_t i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(maildir_deliver(md, msgs[i], strlen(msgs[i])), 0);
		usleep(2000);	/* distinct timestamps: the order is checkable */
	}
	CU_ASSERT_EQUAL_FATAL(maildir_scan(md, &l), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 3);
	for (size_t i = 0; i < 3; i++) {
		struct buf b = BUF_INIT;
		int fd;

		CHECK_ROW(l.v[i].size == crlf_count(msgs[i], strlen(msgs[i])), i);
		CHECK_ROW(l.v[i].in_cur == 0 && l.v[i].deleted == 0, i);
		CHECK_ROW(l.v[i].uid_len == strcspn(l.v[i].name, ","), i);
		fd = maildir_msg_open(md, &l.v[i]);
		CHECK_ROW(fd >= 0, i);
		CHECK_ROW(slurp(fd, &b) == 0, i);
		close(fd);
		/* Oldest first: the order of delivery. */
		CHECK_ROW(b.len == strlen(msgs[i]) && memcmp(b.s, msgs[i], b.len) == 0, i);
		buf_free(&b);
	}
	maildir_list_free(&l);
	CU_ASSERT_EQUAL(l.n, 0);
	CU_ASSERT_PTR_NULL(l.v);
}

/* Names from other MDAs, junk, dot files, a directory; both new/ and cur/. */
static void test_scan_foreign(void)
{
	static const struct {
		const char *name;
		size_t size;
	} want[] = {
		{ "1000000000.M5P1.h,S=3,W=99", 99 },		/* W= believed, not read */
		{ "1000000000.M7P1.h:2,S", 10 },		/* read: "ab\nc\r\nd\n" -> 8+2 */
		{ "1000000000.M10P1.h:2,", 0 },			/* empty file */
		{ "1000000001.12345.qmailhost", 9 },		/* "x\ny\nz": 5+2, +2 for no final LF */
		{ "2000000000.M1P1.h,S=1,W=2:2,RS", 2 },
	};
	char md[PATH_MAX], path[PATH_MAX];
	struct maildir_list l;

	new_maildir(md, sizeof md);
	put_file(md, "new", "1000000000.M5P1.h,S=3,W=99", "abc");
	put_file(md, "cur", "2000000000.M1P1.h,S=1,W=2:2,RS", "a");
	put_file(md, "cur", "1000000000.M7P1.h:2,S", "ab\nc\r\nd\n");
	put_file(md, "new", "1000000001.12345.qmailhost", "x\ny\nz");
	put_file(md, "cur", "1000000000.M10P1.h:2,", "");
	put_file(md, "new", ".dotfile", "x");
	put_file(md, "new", "README", "x");
	put_file(md, "cur", "junk.name", "x");
	fmt(path, sizeof path, "%s/new/1000000000.M1P1.dir", md);
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);
	fmt(path, sizeof path, "%s/new/1000000000.M2P1.fifo", md);
	CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0600), 0);

	CU_ASSERT_EQUAL_FATAL(maildir_scan(md, &l), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, sizeof want / sizeof want[0]);
	for (size_t i = 0; i < l.n; i++) {
		CHECK_ROW(strcmp(l.v[i].name, want[i].name) == 0, i);
		CHECK_ROW(l.v[i].size == want[i].size, i);
		CHECK_ROW(l.v[i].in_cur == (strchr(want[i].name, ':') != NULL), i);
	}
	maildir_list_free(&l);

	CU_ASSERT_EQUAL(maildir_scan("/nonexistent/maildir", &l), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
	CU_ASSERT_EQUAL(l.n, 0);
}

/* One message moved new/ -> cur/ by someone else mid-scan shows up once. */
static void test_scan_dedup(void)
{
	char md[PATH_MAX];
	struct maildir_list l;

	new_maildir(md, sizeof md);
	put_file(md, "new", "1000000000.M5P1.h,S=1,W=3", "a");
	put_file(md, "cur", "1000000000.M5P1.h,S=1,W=3:2,S", "a");
	put_file(md, "new", "1000000000.M5P1.h2,S=1,W=3", "a");
	CU_ASSERT_EQUAL_FATAL(maildir_scan(md, &l), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 2);
	CU_ASSERT_STRING_EQUAL(l.v[0].name, "1000000000.M5P1.h,S=1,W=3:2,S");
	CU_ASSERT_EQUAL(l.v[0].in_cur, 1);
	CU_ASSERT_STRING_EQUAL(l.v[1].name, "1000000000.M5P1.h2,S=1,W=3");
	maildir_list_free(&l);
}

static void test_delete(void)
{
	char md[PATH_MAX], uidl[MAILDIR_UID_MAX + 1], uidl2[MAILDIR_UID_MAX + 1];
	struct maildir_list l, l2;
	int fd;

	new_maildir(md, sizeof md);
	CU_ASSERT_EQUAL_FATAL(maildir_deliver(md, "hello\n", 6), 0);
	CU_ASSERT_EQUAL_FATAL(maildir_scan(md, &l), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 1);
	CU_ASSERT_EQUAL(maildir_msg_uidl(&l.v[0], uidl, sizeof uidl), 0);
	fd = maildir_msg_open(md, &l.v[0]);
	CU_ASSERT(fd >= 0);
	if (fd >= 0)
		close(fd);

	/* A later session sees the same UIDL and size. */
	CU_ASSERT_EQUAL_FATAL(maildir_scan(md, &l2), 0);
	CU_ASSERT_EQUAL_FATAL(l2.n, 1);
	CU_ASSERT_EQUAL(maildir_msg_uidl(&l2.v[0], uidl2, sizeof uidl2), 0);
	CU_ASSERT_STRING_EQUAL(uidl, uidl2);
	CU_ASSERT_EQUAL(l2.v[0].size, 7);

	CU_ASSERT_EQUAL(maildir_msg_delete(md, &l.v[0]), 0);
	CU_ASSERT_EQUAL(count_dir(md, "new", NULL, 0), 0);
	/* Already gone (another session, or twice): still success. */
	CU_ASSERT_EQUAL(maildir_msg_delete(md, &l2.v[0]), 0);
	CU_ASSERT_EQUAL(maildir_msg_open(md, &l.v[0]), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
	maildir_list_free(&l);
	maildir_list_free(&l2);
}

static void test_abort(void)
{
	char md[PATH_MAX], tmpname[MAILDIR_NAME_MAX];
	struct maildir_writer w;

	new_maildir(md, sizeof md);
	CU_ASSERT_EQUAL_FATAL(maildir_writer_open(&w, md), 0);
	CU_ASSERT_EQUAL(maildir_writer_write(&w, "partial\n", 8), 0);
	CU_ASSERT_EQUAL(count_dir(md, "tmp", tmpname, sizeof tmpname), 1);
	CU_ASSERT_STRING_EQUAL(tmpname, w.base);
	maildir_writer_abort(&w);
	CU_ASSERT_EQUAL(count_dir(md, "tmp", NULL, 0), 0);
	CU_ASSERT_EQUAL(count_dir(md, "new", NULL, 0), 0);
	maildir_writer_abort(&w);	/* twice is harmless */
	CU_ASSERT_EQUAL(maildir_writer_write(&w, "x", 1), -1);
	CU_ASSERT_EQUAL(errno, EBADF);
	CU_ASSERT_EQUAL(maildir_writer_commit(&w), -1);

	/* Abort after commit leaves the message alone. */
	CU_ASSERT_EQUAL_FATAL(maildir_writer_open(&w, md), 0);
	CU_ASSERT_EQUAL(maildir_writer_write(&w, "kept\n", 5), 0);
	CU_ASSERT_EQUAL(maildir_writer_commit(&w), 0);
	maildir_writer_abort(&w);
	CU_ASSERT_EQUAL(count_dir(md, "new", NULL, 0), 1);
	CU_ASSERT_EQUAL(count_dir(md, "tmp", NULL, 0), 0);
	CU_ASSERT_EQUAL(maildir_writer_commit(&w), -1);

	/* No Maildir there. */
	CU_ASSERT_EQUAL(maildir_writer_open(&w, "/nonexistent/md"), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
}

/*
 * A write failure keeps its errno and leaves nothing behind. RLIMIT_FSIZE
 * stands in for a full disk: EFBIG where ENOSPC would be.
 */
static void test_write_error(void)
{
	char md[PATH_MAX];
	int status;
	pid_t pid;

	new_maildir(md, sizeof md);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 100, 100 };
		static char big[1000];

		memset(big, 'x', sizeof big);
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(2);
		if (maildir_deliver(md, big, sizeof big) != -1)
			_exit(3);
		_exit(errno == EFBIG ? 0 : 4);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
	CU_ASSERT_EQUAL(count_dir(md, "tmp", NULL, 0), 0);
	CU_ASSERT_EQUAL(count_dir(md, "new", NULL, 0), 0);
}

/*
 * docs/PROTOCOL.md, bad input: kill -9 before commit never leaves anything in
 * new/.
 */
static void test_killed_delivery(void)
{
	char md[PATH_MAX], c;
	int p[2], status;
	pid_t pid;

	new_maildir(md, sizeof md);
	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct maildir_writer w;

		close(p[0]);
		if (maildir_writer_open(&w, md) != 0 ||
		    maildir_writer_write(&w, "Subject: half\n\nhalf a mess", 26) != 0)
			_exit(1);
		(void)write(p[1], "r", 1);
		for (;;)
			pause();
	}
	close(p[1]);
	CU_ASSERT_EQUAL(read(p[0], &c, 1), 1);
	close(p[0]);
	CU_ASSERT_EQUAL(kill(pid, SIGKILL), 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CU_ASSERT_EQUAL(count_dir(md, "new", NULL, 0), 0);
	CU_ASSERT_EQUAL(count_dir(md, "cur", NULL, 0), 0);
	CU_ASSERT_EQUAL(count_dir(md, "tmp", NULL, 0), 1);	/* the stale part */
}

/* 8 processes x 200 deliveries into one Maildir: 1600 distinct names. */
static void test_concurrent(void)
{
	enum { PROCS = 8, EACH = 200 };
	char md[PATH_MAX];
	struct maildir_list l;
	pid_t pids[PROCS];

	new_maildir(md, sizeof md);
	for (int i = 0; i < PROCS; i++) {
		pids[i] = fork();
		CU_ASSERT_FATAL(pids[i] >= 0);
		if (pids[i] == 0) {
			char msg[64];

			for (int k = 0; k < EACH; k++) {
				int n = snprintf(msg, sizeof msg, "From: %d\n\n%d\n", i, k);

				if (maildir_deliver(md, msg, (size_t)n) != 0)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int i = 0; i < PROCS; i++) {
		int status;

		CHECK_ROW(waitpid(pids[i], &status, 0) == pids[i], i);
		CHECK_ROW(WIFEXITED(status) && WEXITSTATUS(status) == 0, i);
	}
	CU_ASSERT_EQUAL(count_dir(md, "new", NULL, 0), PROCS * EACH);
	CU_ASSERT_EQUAL(count_dir(md, "tmp", NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(maildir_scan(md, &l), 0);
	CU_ASSERT_EQUAL(l.n, PROCS * EACH);
	/* Sorted, and no two share a unique part (the UIDL). */
	for (size_t i = 1; i < l.n; i++) {
		const struct maildir_msg *a = &l.v[i - 1], *b = &l.v[i];

		CU_ASSERT(!(a->uid_len == b->uid_len &&
		    memcmp(a->name, b->name, a->uid_len) == 0));
	}
	maildir_list_free(&l);
}

/* One message, two recipients: one inode, two names, same S=/W=. */
static void test_link(void)
{
	char a[PATH_MAX], b[PATH_MAX], first[MAILDIR_NAME_MAX], path[PATH_MAX];
	struct maildir_writer w;
	struct stat sa, sb;
	size_t uid, s, wsz;

	new_maildir(a, sizeof a);
	new_maildir(b, sizeof b);
	CU_ASSERT_EQUAL_FATAL(maildir_writer_open(&w, a), 0);
	CU_ASSERT_EQUAL(maildir_writer_link(&w, b), -1);	/* not committed */
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_EQUAL(maildir_writer_write(&w, "To: two\n\n.hi\n", 13), 0);
	CU_ASSERT_EQUAL_FATAL(maildir_writer_commit(&w), 0);
	CU_ASSERT_EQUAL_FATAL(maildir_writer_link(&w, b), 0);
	CU_ASSERT_EQUAL_FATAL(count_dir(b, "new", first, sizeof first), 1);
	CU_ASSERT_EQUAL(maildir_name_parse(first, &uid, &s, &wsz), 0);
	CU_ASSERT_EQUAL(s, 13);
	CU_ASSERT_EQUAL(wsz, 16);
	CU_ASSERT(strncmp(first, w.base, strlen(w.base)) != 0);	/* a fresh name */
	fmt(path, sizeof path, "%s/new/%s", b, first);
	CU_ASSERT_EQUAL(stat(w.final, &sa), 0);
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sa.st_ino, sb.st_ino);
	CU_ASSERT_EQUAL(sa.st_dev, sb.st_dev);
	CU_ASSERT_EQUAL(sb.st_nlink, 2);
	CU_ASSERT_EQUAL(count_dir(b, "tmp", NULL, 0), 0);
	/* Into a Maildir that is not there. */
	CU_ASSERT_EQUAL(maildir_writer_link(&w, "/nonexistent/md"), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
}

/* Across file systems link(2) says EXDEV: the message is copied instead. */
static void test_link_copy(void)
{
	char a[PATH_MAX], shm[] = "/dev/shm/ispmaild-unit.XXXXXX", b[PATH_MAX];
	char first[MAILDIR_NAME_MAX], path[PATH_MAX];
	struct maildir_writer w;
	struct stat sa, sb, sd;
	struct buf got = BUF_INIT;
	size_t uid, s, wsz;
	int fd;

	new_maildir(a, sizeof a);
	if (mkdtemp(shm) == NULL || stat(shm, &sd) != 0 || stat(a, &sa) != 0 ||
	    sd.st_dev == sa.st_dev) {
		if (shm[sizeof shm - 2] != 'X')
			rmdir(shm);
		CU_PASS("no second file system: copy path not reachable");
		return;
	}
	snprintf(b, sizeof b, "%s/u", shm);
	CU_ASSERT_EQUAL_FATAL(maildir_make(b, (uid_t)-1, (gid_t)-1), 0);
	CU_ASSERT_EQUAL_FATAL(maildir_writer_open(&w, a), 0);
	CU_ASSERT_EQUAL(maildir_writer_write(&w, "copy\nme", 7), 0);
	CU_ASSERT_EQUAL_FATAL(maildir_writer_commit(&w), 0);
	CU_ASSERT_EQUAL(maildir_writer_link(&w, b), 0);
	CU_ASSERT_EQUAL_FATAL(count_dir(b, "new", first, sizeof first), 1);
	CU_ASSERT_EQUAL(count_dir(b, "tmp", NULL, 0), 0);
	CU_ASSERT_EQUAL(maildir_name_parse(first, &uid, &s, &wsz), 0);
	CU_ASSERT_EQUAL(s, 7);
	CU_ASSERT_EQUAL(wsz, 10);
	fmt(path, sizeof path, "%s/new/%s", b, first);
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT_NOT_EQUAL(sb.st_dev, sa.st_dev);
	fd = open(path, O_RDONLY);
	CU_ASSERT(fd >= 0 && slurp(fd, &got) == 0);
	close(fd);
	CU_ASSERT(got.len == 7 && memcmp(got.s, "copy\nme", 7) == 0);
	buf_free(&got);
	/* Our own cleanup: cutap only removes its own temp dir. */
	unlink(path);
	fmt(path, sizeof path, "%s/tmp", b); rmdir(path);
	fmt(path, sizeof path, "%s/new", b); rmdir(path);
	fmt(path, sizeof path, "%s/cur", b); rmdir(path);
	rmdir(b);
	rmdir(shm);
}

/* ---- the wire form ---- */

static const struct {
	const char *in;
	long top;
	const char *out;
} wire_rows[] = {
	{ "", -1, "" },
	{ "a\n", -1, "a\r\n" },
	{ "a\r\nb\n", -1, "a\r\nb\r\n" },
	{ ".x\n", -1, "..x\r\n" },
	{ "..\n", -1, "...\r\n" },
	{ ".\n", -1, "..\r\n" },
	{ "a\n.\nb", -1, "a\r\n..\r\nb\r\n" },
	{ "x.\n.y.\n", -1, "x.\r\n..y.\r\n" },
	{ "no newline", -1, "no newline\r\n" },
	{ ".", -1, "..\r\n" },
	{ "a\rb\n", -1, "a\rb\r\n" },
	{ "a\r", -1, "a\r\r\n" },
	{ "\r.\n", -1, "\r.\r\n" },
	{ "\r\n.\r\n", -1, "\r\n..\r\n" },
	{ "a\r\r\n", -1, "a\r\r\n" },
	{ "\n\n", -1, "\r\n\r\n" },
	{ "H: v\n", 0, "H: v\r\n" },
	{ "H: v", 0, "H: v\r\n" },
	{ "H: 1\nH2: 2\n\nl1\nl2\nl3\n", 0, "H: 1\r\nH2: 2\r\n\r\n" },
	{ "H: 1\nH2: 2\n\nl1\nl2\nl3\n", 1, "H: 1\r\nH2: 2\r\n\r\nl1\r\n" },
	{ "H: 1\nH2: 2\n\nl1\nl2\nl3\n", 3, "H: 1\r\nH2: 2\r\n\r\nl1\r\nl2\r\nl3\r\n" },
	{ "H: 1\nH2: 2\n\nl1\nl2\nl3\n", 5, "H: 1\r\nH2: 2\r\n\r\nl1\r\nl2\r\nl3\r\n" },
	{ "H: 1\nH2: 2\n\nl1\nl2\nl3\n", -1, "H: 1\r\nH2: 2\r\n\r\nl1\r\nl2\r\nl3\r\n" },
	{ "H: 1\r\n\r\nb1\r\nb2\r\n", 1, "H: 1\r\n\r\nb1\r\n" },
	{ "H: 1\r\n\r\nb1\r\nb2\r\n", 0, "H: 1\r\n\r\n" },
	{ "H: 1\n\n.dot\nb2\n", 1, "H: 1\r\n\r\n..dot\r\n" },
	{ "H: 1\n\n.dot\n.b2\n.b3\n", 2, "H: 1\r\n\r\n..dot\r\n..b2\r\n" },
	{ "H: 1\n\nlast", 1, "H: 1\r\n\r\nlast\r\n" },
	{ "H: 1\n\nlast", 5, "H: 1\r\n\r\nlast\r\n" },
	{ "H: 1\n\nlast", 0, "H: 1\r\n\r\n" },
	{ "H: 1\n\n", 0, "H: 1\r\n\r\n" },
	{ "H: 1\n\n", 5, "H: 1\r\n\r\n" },
	{ "H: 1\n\n\n\nx\n", 2, "H: 1\r\n\r\n\r\n\r\n" },
	{ "\nbody\n", 0, "\r\n" },
	{ "\nbody\nmore\n", 1, "\r\nbody\r\n" },
	/* A CR that is content keeps the line from being the blank one. */
	{ "H: a\n\r\r\nh2\n\nb\n", 0, "H: a\r\n\r\r\nh2\r\n\r\n" },
	{ "H: a\n\rX\n\nb\nc\n", 1, "H: a\r\n\rX\r\n\r\nb\r\n" },
	{ "", 0, "" },
	{ "", 3, "" },
};

/* Feed in pieces of step bytes (0: all at once). */
static void wire_steps(const char *in, size_t n, long top, size_t step, struct buf *out)
{
	struct maildir_wire st;

	maildir_wire_init(&st, top);
	if (step == 0) {
		maildir_wire_encode(&st, in, n, out);
	} else {
		for (size_t i = 0; i < n; i += step)
			maildir_wire_encode(&st, in + i, n - i < step ? n - i : step, out);
	}
	maildir_wire_finish(&st, out);
}

static void test_wire(void)
{
	static const size_t steps[] = { 0, 1, 2, 3, 7 };

	for (size_t i = 0; i < sizeof wire_rows / sizeof wire_rows[0]; i++) {
		const char *in = wire_rows[i].in, *want = wire_rows[i].out;

		for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
			struct buf out = BUF_INIT;

			wire_steps(in, strlen(in), wire_rows[i].top, steps[k], &out);
			CHECK_ROW(out.len == strlen(want), i * 10 + k);
			CHECK_ROW(memcmp(out.s ? out.s : "", want, strlen(want)) == 0, i * 10 + k);
			buf_free(&out);
		}
		/* The whole message's bytes match the size LIST gives. */
		if (wire_rows[i].top < 0) {
			struct buf out = BUF_INIT;
			size_t n = strlen(in);

			wire_whole(in, n, -1, &out);
			CHECK_ROW(out.len == crlf_count(in, n) + stuffed_dots(in, n), i);
			buf_free(&out);
		}
	}
}

/* The output goes on the end of what the buffer holds. */
static void test_wire_appends(void)
{
	struct buf out = BUF_INIT;

	buf_appends(&out, "+OK\r\n");
	wire_whole(".a\nb", 4, -1, &out);
	CU_ASSERT_EQUAL(out.len, 5 + 8);
	CU_ASSERT(memcmp(out.s, "+OK\r\n..a\r\nb\r\n", 13) == 0);
	buf_free(&out);
}

/* Every split point of a tricky message gives the same bytes. */
static void test_wire_splits(void)
{
	static const char msg[] = "H: x\r\n.h\n\r\n.\r\n..\nlone\rcr\r\r\n.\rend\r";
	size_t n = sizeof msg - 1;
	struct buf whole = BUF_INIT;

	for (long top = -1; top <= 4; top++) {
		buf_reset(&whole);
		wire_whole(msg, n, top, &whole);
		for (size_t cut = 0; cut <= n; cut++) {
			struct maildir_wire st;
			struct buf out = BUF_INIT;

			maildir_wire_init(&st, top);
			maildir_wire_encode(&st, msg, cut, &out);
			maildir_wire_encode(&st, msg + cut, n - cut, &out);
			maildir_wire_finish(&st, &out);
			CHECK_ROW(out.len == whole.len &&
			    memcmp(out.s, whole.s, whole.len) == 0, (int)(top * 100 + (long)cut));
			buf_free(&out);
		}
	}
	buf_free(&whole);
}

/* ---- the lock ---- */

static void test_lock(void)
{
	char md[PATH_MAX], path[PATH_MAX], c;
	int go[2], ready[2], status, fd;
	struct stat st;
	pid_t pid;

	new_maildir(md, sizeof md);
	fd = maildir_lock(md);
	CU_ASSERT_FATAL(fd >= 0);
	fmt(path, sizeof path, "%s/.ispmaild.lock", md);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
	CU_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* Unlocked: free again for us. */
	maildir_unlock(fd);
	fd = maildir_lock(md);
	CU_ASSERT_FATAL(fd >= 0);
	maildir_unlock(fd);

	CU_ASSERT_EQUAL_FATAL(pipe(go), 0);
	CU_ASSERT_EQUAL_FATAL(pipe(ready), 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		int lfd = maildir_lock(md);

		close(go[1]);
		close(ready[0]);
		(void)write(ready[1], lfd >= 0 ? "y" : "n", 1);
		(void)read(go[0], &c, 1);	/* hold it until told */
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	CU_ASSERT_EQUAL(read(ready[0], &c, 1), 1);
	CU_ASSERT_EQUAL(c, 'y');
	errno = 0;
	CU_ASSERT_EQUAL(maildir_lock(md), -1);
	CU_ASSERT_EQUAL(errno, EWOULDBLOCK);
	close(go[1]);	/* the child reads EOF and exits: the kernel drops the lock */
	close(ready[0]);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fd = maildir_lock(md);
	CU_ASSERT(fd >= 0);
	maildir_unlock(fd);

	/* The lock file is a dot file: a scan does not see it. */
	{
		struct maildir_list l;

		CU_ASSERT_EQUAL(maildir_scan(md, &l), 0);
		CU_ASSERT_EQUAL(l.n, 0);
		maildir_list_free(&l);
	}
	CU_ASSERT_EQUAL(maildir_lock("/nonexistent/md"), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
	maildir_unlock(-1);
}

int main(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{ "name parse table", test_name_parse },
		{ "name time table", test_name_time },
		{ "unique name form", test_unique_name },
		{ "unique name host part", test_unique_host },
		{ "uidl legal or hashed", test_uidl },
		{ "path_for table", test_path_for },
		{ "path_for overlong", test_path_for_overlong },
		{ "make dirs and modes", test_make },
		{ "make chowns what it made", test_make_chown },
		{ "dir walk by descriptor, links refused", test_dir_walk },
		{ "no delivery through a linked new/", test_writer_link_dirs },
		{ "S= and W= on tricky content", test_sizes },
		{ "deliver then scan", test_deliver_scan },
		{ "scan foreign names and junk", test_scan_foreign },
		{ "scan lists a moved message once", test_scan_dedup },
		{ "delete keeps UIDL, twice is ok", test_delete },
		{ "abort leaves nothing", test_abort },
		{ "write error keeps errno, leaves nothing", test_write_error },
		{ "kill -9 before commit", test_killed_delivery },
		{ "8 processes x 200 deliveries", test_concurrent },
		{ "link into a second Maildir", test_link },
		{ "link across file systems copies", test_link_copy },
		{ "wire table whole and in pieces", test_wire },
		{ "wire appends", test_wire_appends },
		{ "wire every split point", test_wire_splits },
		{ "lock", test_lock },
	};
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("maildir", NULL, NULL);
	if (s == NULL)
		return 99;
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
		if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
			return 99;
	return cutap_run();
}
