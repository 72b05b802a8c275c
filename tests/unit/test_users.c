/*
 * test_users.c: the users file (docs/PROTOCOL.md, files): parsing with line
 * numbers, lookup, crypt(3) hashes ($y$, $6$, fixed known hashes),
 * authentication of unknown users, atomic rewrite, login names
 * (docs/PROTOCOL.md, relay policy).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "cutap.h"
#include "users.h"

/* "secret", made once with libxcrypt and kept as test vectors. */
#define HASH_Y_SECRET "$y$j9T$xBYpeS1T1kcVqDT8OnrBJ1$VdJ.hoPhEfkjdF04aGzTOFwbg8E0TkjNw.x7uw2JqpB"
#define HASH_6_SECRET "$6$abc$IdWKNKTJEb8LxY7CGg8YBXlvtfZzFw7Mp/r6niK9YB2mdvgY..TKjv1T..8RadRt2qvUHYRLr/TsVArtr91iR1"
#define HASH_1_SECRET "$1$abc$iCQ2D3nhptRYi27fDYv2s1"

static char *tpath(const char *name)
{
	static char p[4][512];
	static unsigned k;
	char *out = p[k++ % 4];

	if (str_format(out, sizeof p[0], "%s/%s", cutap_tmpdir(), name) == -1)
		abort();
	return out;
}

static void write_file(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(fwrite(s, 1, n, f) == n);
	CU_ASSERT_FATAL(fclose(f) == 0);
}

static void write_str(const char *path, const char *s)
{
	write_file(path, s, strlen(s));
}

static char *read_all(const char *path)
{
	struct buf b = BUF_INIT;
	char chunk[512];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return buf_steal(&b);
}

/* ---- address syntax ---- */

static void test_address_valid(void)
{
	static const struct { const char *a; int ok; } t[] = {
		{ "bob@example.net", 1 },
		{ "Bob.Smith@Example.NET", 1 },
		{ "a+tag@mail-1.example.net", 1 },
		{ "o'neil@example.net", 1 },
		{ "x@localhost", 1 },
		{ "", 0 },
		{ "bob", 0 },
		{ "@example.net", 0 },
		{ "bob@", 0 },
		{ "bob@@example.net", 0 },
		{ "a@b@example.net", 0 },
		{ "bob smith@example.net", 0 },
		{ ".bob@example.net", 0 },
		{ "bob.@example.net", 0 },
		{ "b..b@example.net", 0 },
		{ "../x@example.net", 0 },
		{ "a/b@example.net", 0 },
		{ "a%remote@example.net", 0 },
		{ "remote!a@example.net", 0 },
		{ "\"a\"@example.net", 0 },
		{ "a:b@example.net", 0 },
		{ "bob@example.net.", 0 },
		{ "bob@.example.net", 0 },
		{ "bob@example..net", 0 },
		{ "bob@-example.net", 0 },
		{ "bob@example-.net", 0 },
		{ "bob@exa_mple.net", 0 },
		{ "bob@[192.0.2.1]", 0 },
		{ "b\tb@example.net", 0 },
		{ "b\x80@example.net", 0 },
	};
	char longlocal[80], longaddr[300];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int got = users_address_valid(t[i].a);

		if (got != t[i].ok)
			fprintf(stderr, "# address_valid(\"%s\") = %d\n", t[i].a, got);
		CU_ASSERT_EQUAL(got, t[i].ok);
	}
	memset(longlocal, 'a', 65);
	memcpy(longlocal + 65, "@x.net", 7);
	CU_ASSERT_EQUAL(users_address_valid(longlocal), 0);
	longlocal[64] = '\0';
	longlocal[1] = '@';
	/* "a@aaaa...": a 62-letter label is fine */
	CU_ASSERT_EQUAL(users_address_valid(longlocal), 1);
	memset(longaddr, 'a', sizeof longaddr - 1);
	longaddr[sizeof longaddr - 1] = '\0';
	for (size_t i = 2; i < sizeof longaddr - 1; i += 40)
		longaddr[i] = '.';
	longaddr[1] = '@';
	CU_ASSERT_EQUAL(users_address_valid(longaddr), 0);	/* > 255 */
}

/* ---- login names (docs/PROTOCOL.md, relay policy) ---- */

static void test_login_address(void)
{
	static char *domains[] = { "example.net", "example.org" };
	struct conf c;
	static const struct { const char *login; const char *want; } t[] = {
		{ "bob", "bob@example.net" },
		{ "BOB", "bob@example.net" },
		{ "Bob@Example.ORG", "bob@example.org" },
		{ "bob@example.org.", "bob@example.org" },
		{ "bob@remote.example", "bob@remote.example" },
		{ "", NULL },
		{ "bob smith", NULL },
		{ " bob", NULL },
		{ "bob\r", NULL },
		{ "bob\x01", NULL },
		{ "bob\x7f", NULL },
		{ "b\xc3\xa9@example.net", NULL },
		{ "a@b@example.net", NULL },
		{ "bob@", NULL },
		{ "bob@.", NULL },
		{ "@example.net", NULL },
		{ "../../etc", NULL },
		{ "a/b", NULL },
	};
	char out[USERS_ADDRESS_MAX], big[400];

	memset(&c, 0, sizeof c);
	c.domains = domains;
	c.ndomains = 2;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int r = users_login_address(&c, t[i].login, out, sizeof out);

		if (t[i].want == NULL) {
			CU_ASSERT_EQUAL(r, -1);
			CU_ASSERT_STRING_EQUAL(out, "");
		} else {
			CU_ASSERT_EQUAL(r, 0);
			CU_ASSERT_STRING_EQUAL(out, t[i].want);
		}
	}
	/* overlong */
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CU_ASSERT_EQUAL(users_login_address(&c, big, out, sizeof out), -1);
	/* too small an output buffer */
	CU_ASSERT_EQUAL(users_login_address(&c, "bob", out, 8), -1);
	/* no local domain: a bare name means nothing */
	c.ndomains = 0;
	CU_ASSERT_EQUAL(users_login_address(&c, "bob", out, sizeof out), -1);
	CU_ASSERT_EQUAL(users_login_address(&c, "bob@example.net", out, sizeof out), 0);
	CU_ASSERT_STRING_EQUAL(out, "bob@example.net");
}

/* ---- the line reader ---- */

static void test_read_line(void)
{
	const char *p = tpath("lines");
	char line[8];
	size_t len;
	FILE *f;

	write_file(p, "abc\r\n\n0123456789\nxy\0z\nlast", 26);
	f = fopen(p, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(users_read_line(f, line, sizeof line, &len), 1);
	CU_ASSERT_STRING_EQUAL(line, "abc");
	CU_ASSERT_EQUAL(len, 3);
	CU_ASSERT_EQUAL(users_read_line(f, line, sizeof line, &len), 1);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_EQUAL(users_read_line(f, line, sizeof line, &len), -2);
	CU_ASSERT_EQUAL(users_read_line(f, line, sizeof line, &len), 1);
	CU_ASSERT_EQUAL(len, 4);
	CU_ASSERT_EQUAL(strlen(line), 2);	/* the NUL shows */
	CU_ASSERT_EQUAL(users_read_line(f, line, sizeof line, &len), 1);
	CU_ASSERT_STRING_EQUAL(line, "last");
	CU_ASSERT_EQUAL(users_read_line(f, line, sizeof line, &len), 0);
	fclose(f);
}

/* ---- load ---- */

static void test_load_good(void)
{
	const char *p = tpath("users.good");
	struct users u;
	char err[256] = "";
	const struct user *e;

	write_str(p,
	    "# the users of example.net\n"
	    "\n"
	    "Bob@Example.NET:" HASH_Y_SECRET "\n"
	    "alice@example.net:" HASH_6_SECRET ":quota=10M:x\r\n"
	    "   # indented comment\n"
	    "carol@example.org:" HASH_1_SECRET "\n"
	    "# trailer\n"
	    "\t\n"
	    "dave@example.org:" HASH_Y_SECRET);	/* no final newline */
	CU_ASSERT_EQUAL_FATAL(users_load(p, &u, err, sizeof err), 0);
	CU_ASSERT_EQUAL_FATAL(u.n, 4);
	CU_ASSERT_STRING_EQUAL(u.v[0].address, "bob@example.net");
	CU_ASSERT_STRING_EQUAL(u.v[0].hash, HASH_Y_SECRET);
	CU_ASSERT_STRING_EQUAL(u.v[0].options, "");
	CU_ASSERT_STRING_EQUAL(u.v[0].comments, "# the users of example.net\n\n");
	CU_ASSERT_STRING_EQUAL(u.v[1].address, "alice@example.net");
	CU_ASSERT_STRING_EQUAL(u.v[1].hash, HASH_6_SECRET);
	CU_ASSERT_STRING_EQUAL(u.v[1].options, "quota=10M:x");
	CU_ASSERT_PTR_NULL(u.v[1].comments);
	CU_ASSERT_STRING_EQUAL(u.v[2].comments, "   # indented comment\n");
	CU_ASSERT_STRING_EQUAL(u.v[3].comments, "# trailer\n\t\n");
	CU_ASSERT_PTR_NULL(u.trailer);
	e = users_find(&u, "BOB@example.net");
	CU_ASSERT_PTR_EQUAL(e, &u.v[0]);
	CU_ASSERT_PTR_NULL(users_find(&u, "bob@example.org"));
	CU_ASSERT_PTR_NULL(users_find(&u, "bob"));
	users_free(&u);
	CU_ASSERT_EQUAL(u.n, 0);
	CU_ASSERT_PTR_NULL(u.v);

	write_str(p, "");
	CU_ASSERT_EQUAL(users_load(p, &u, err, sizeof err), 0);
	CU_ASSERT_EQUAL(u.n, 0);
	users_free(&u);
}

static void test_load_bad(void)
{
	static const struct { const char *text; const char *want; } t[] = {
		{ "# ok\nbob@example.net\n", ":2: expected address:hash[:options]" },
		{ "bob@example.net:" HASH_Y_SECRET "\n\nbob smith@example.net:" HASH_Y_SECRET "\n",
		  ":3: invalid address" },
		{ "bob:" HASH_Y_SECRET "\n", ":1: invalid address" },
		{ " bob@example.net:" HASH_Y_SECRET "\n", ":1: invalid address" },
		{ "bob@example.net:\n", ":1: invalid password hash" },
		{ "bob@example.net:*\n", ":1: invalid password hash" },
		{ "bob@example.net:!" HASH_Y_SECRET "\n", ":1: invalid password hash" },
		{ "bob@example.net:$y$ab cd\n", ":1: invalid password hash" },
		{ "bob@example.net:" HASH_Y_SECRET ":a\x01" "b\n", ":1: invalid options" },
		{ "#\n#\nbob@example.net:" HASH_Y_SECRET "\nBOB@example.net:" HASH_6_SECRET "\n",
		  ":4: duplicate address bob@example.net (first on line 3)" },
	};
	const char *p = tpath("users.bad");
	char err[256], want[512], big[USERS_LINE_MAX + 64];
	struct users u;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		write_str(p, t[i].text);
		err[0] = '\0';
		CU_ASSERT_EQUAL(users_load(p, &u, err, sizeof err), -1);
		CU_ASSERT_EQUAL(u.n, 0);
		CU_ASSERT_PTR_NULL(u.v);
		str_format(want, sizeof want, "%s%s", p, t[i].want);
		if (strcmp(err, want) != 0)
			fprintf(stderr, "# case %zu: got \"%s\"\n", i, err);
		CU_ASSERT_STRING_EQUAL(err, want);
	}

	/* a NUL byte */
	write_file(p, "#\nbob@exa\0mple.net:x\n", 21);
	CU_ASSERT_EQUAL(users_load(p, &u, err, sizeof err), -1);
	str_format(want, sizeof want, "%s:2: NUL byte in line", p);
	CU_ASSERT_STRING_EQUAL(err, want);

	/* a line of exactly USERS_LINE_MAX bytes is read; one more is refused */
	memset(big, '#', sizeof big);
	memcpy(big, "#\n", 2);
	big[2 + USERS_LINE_MAX] = '\n';
	write_file(p, big, 2 + USERS_LINE_MAX + 1);
	CU_ASSERT_EQUAL(users_load(p, &u, err, sizeof err), 0);
	users_free(&u);
	big[2 + USERS_LINE_MAX] = '#';
	big[2 + USERS_LINE_MAX + 1] = '\n';
	write_file(p, big, 2 + USERS_LINE_MAX + 2);
	CU_ASSERT_EQUAL(users_load(p, &u, err, sizeof err), -1);
	str_format(want, sizeof want, "%s:2: line longer than %d bytes", p, USERS_LINE_MAX);
	CU_ASSERT_STRING_EQUAL(err, want);

	/* a missing file, errno kept */
	p = tpath("users.missing");
	errno = 0;
	CU_ASSERT_EQUAL(users_load(p, &u, err, sizeof err), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
	str_format(want, sizeof want, "%s: No such file or directory", p);
	CU_ASSERT_STRING_EQUAL(err, want);
}

/* ---- lookup ---- */

/* The tricky lines of a users file; filler lines go after them. */
static void lookup_file(const char *p, size_t filler, const char *bob_hash)
{
	char big[USERS_LINE_MAX + 64];
	struct buf b = BUF_INIT;
	size_t i;

	buf_appends(&b, "# comment\nthis line is malformed\n");
	/* an overlong line that starts like carol's is skipped, not matched */
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "carol@example.net:", 18);
	buf_appends(&b, big);
	buf_appends(&b, "\n");
	buf_printf(&b,
	    "bob@example.net.evil:" HASH_6_SECRET "\n"
	    "bob@example.net:%s:opt\n"
	    "Alice@Example.NET:" HASH_6_SECRET "\r\n"
	    "dave@example.net:not a hash\n"
	    "carol@example.net:" HASH_1_SECRET "\n", bob_hash);
	for (i = 0; i < filler; i++)
		buf_printf(&b, "user%zu@example.org:" HASH_6_SECRET "\n", i);
	/* a later line for bob loses to the first; no final newline */
	buf_appends(&b, "BOB@example.net:" HASH_1_SECRET "\nlast@example.org:" HASH_1_SECRET);
	write_file(p, b.s, b.len);
	buf_free(&b);
}

static void check_lookups(const char *p, const char *bob_hash)
{
	char hash[USERS_HASH_MAX], small[10];

	CU_ASSERT_EQUAL(users_lookup(p, "bob@example.net", hash, sizeof hash), 1);
	CU_ASSERT_STRING_EQUAL(hash, bob_hash);
	CU_ASSERT_EQUAL(users_lookup(p, "ALICE@example.net", hash, sizeof hash), 1);
	CU_ASSERT_STRING_EQUAL(hash, HASH_6_SECRET);
	CU_ASSERT_EQUAL(users_lookup(p, "carol@example.net", hash, sizeof hash), 1);
	CU_ASSERT_STRING_EQUAL(hash, HASH_1_SECRET);
	CU_ASSERT_EQUAL(users_lookup(p, "dave@example.net", hash, sizeof hash), 0);
	CU_ASSERT_EQUAL(users_lookup(p, "bob@example", hash, sizeof hash), 0);
	CU_ASSERT_EQUAL(users_lookup(p, "bob", hash, sizeof hash), 0);
	CU_ASSERT_EQUAL(users_lookup(p, "", hash, sizeof hash), 0);
	CU_ASSERT_EQUAL(users_lookup(p, "# comment", hash, sizeof hash), 0);
	CU_ASSERT_EQUAL(users_lookup(p, "bob@example.net:" HASH_Y_SECRET, hash, sizeof hash), 0);
	CU_ASSERT_EQUAL(users_lookup(p, "bob@example.net", small, sizeof small), -1);
	CU_ASSERT_EQUAL(users_lookup(p, "last@example.org", hash, sizeof hash), 1);
	CU_ASSERT_STRING_EQUAL(hash, HASH_1_SECRET);
	CU_ASSERT_EQUAL(users_lookup(tpath("nope"), "bob@example.net", hash, sizeof hash), -1);
}

static void test_lookup(void)
{
	const char *p = tpath("users.lookup");

	lookup_file(p, 0, HASH_Y_SECRET);
	check_lookups(p, HASH_Y_SECRET);
}

/*
 * The last answer is remembered while stat(2) finds the file unchanged,
 * and only for a file that had settled (unchanged for 2 s) when read: a
 * file rewritten in place with the same size and even the same mtime,
 * or replaced by rename, is read again.
 */
static void test_lookup_memo(void)
{
	char p[512], q[512], hash[USERS_HASH_MAX];
	unsigned long long m2, m3;
	struct user_options o;
	struct timespec ts[2];
	struct stat st;
	int fd;

	(void)str_copy(p, sizeof p, tpath("users.memo"));
	(void)str_copy(q, sizeof q, tpath("users.memo.new"));
	CU_ASSERT_FATAL(users_size_parse("2M", &m2) == 0 && users_size_parse("3M", &m3) == 0);
	write_str(p, "amy@example.org:" HASH_6_SECRET ":quota=1M\n");
	/* fresh: never remembered, each change seen at once */
	CU_ASSERT_EQUAL(users_lookup(p, "amy@example.org", hash, sizeof hash), 1);
	write_str(p, "amy@example.org:" HASH_6_SECRET ":quota=2M\n");
	CU_ASSERT_EQUAL(users_options(p, "amy@example.org", &o), 1);
	CU_ASSERT_EQUAL(o.quota, m2);
	sleep(3);
	CU_ASSERT_EQUAL(users_options(p, "AMY@example.org", &o), 1);
	CU_ASSERT_EQUAL(o.quota, m2);
	CU_ASSERT_EQUAL(users_lookup(p, "amy@example.org", hash, sizeof hash), 1);
	CU_ASSERT_STRING_EQUAL(hash, HASH_6_SECRET);
	CU_ASSERT_EQUAL(users_lookup(p, "bob@example.org", hash, sizeof hash), 0);
	CU_ASSERT_EQUAL(users_lookup(p, "bob@example.org", hash, sizeof hash), 0);
	CU_ASSERT_EQUAL(users_options(p, "amy@example.org", &o), 1);
	CU_ASSERT_EQUAL(o.quota, m2);
	/* in place, the same size, the mtime put back: the ctime tells */
	CU_ASSERT_FATAL(stat(p, &st) == 0);
	fd = open(p, O_WRONLY);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(pwrite(fd, "3", 1, strlen("amy@example.org:" HASH_6_SECRET ":quota=")) == 1);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	CU_ASSERT(futimens(fd, ts) == 0);
	CU_ASSERT(close(fd) == 0);
	CU_ASSERT_EQUAL(users_options(p, "amy@example.org", &o), 1);
	CU_ASSERT_EQUAL(o.quota, m3);
	/* replaced by rename */
	write_str(q, "bob@example.org:" HASH_6_SECRET "\n");
	CU_ASSERT_FATAL(rename(q, p) == 0);
	CU_ASSERT_EQUAL(users_options(p, "amy@example.org", &o), 0);
	CU_ASSERT_EQUAL(users_lookup(p, "bob@example.org", hash, sizeof hash), 1);
}

/*
 * Over 64 KiB the session process keeps an index: the same answers, and
 * a replaced or rewritten file is read again.
 */
static void test_lookup_index(void)
{
	char p[512], q[512], hash[USERS_HASH_MAX], addr[64];
	struct timespec ts[2];
	struct stat st;
	size_t i, n = 2000;
	int ok = 1;

	/* copies: tpath's buffers are reused by check_lookups */
	(void)str_copy(p, sizeof p, tpath("users.index"));
	(void)str_copy(q, sizeof q, tpath("users.index.new"));
	lookup_file(p, n, HASH_Y_SECRET);
	CU_ASSERT_FATAL(stat(p, &st) == 0 && st.st_size > 65536);
	check_lookups(p, HASH_Y_SECRET);
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof addr, "User%zu@Example.org", i);
		if (users_lookup(p, addr, hash, sizeof hash) != 1 ||
		    strcmp(hash, HASH_6_SECRET) != 0)
			ok = 0;
	}
	CU_ASSERT(ok);
	CU_ASSERT_EQUAL(users_lookup(p, "user2000@example.org", hash, sizeof hash), 0);

	/* replaced by rename, as ispmailctl does: the new hash */
	lookup_file(q, n, HASH_6_SECRET);
	CU_ASSERT_FATAL(rename(q, p) == 0);
	check_lookups(p, HASH_6_SECRET);

	/*
	 * Rewritten in place, the same size, an mtime of its own, with bob's
	 * line (another hash) moved in front of "bob@example.net.evil:". An
	 * index kept from before would read the .evil line at bob's old
	 * offset and fall through to the later BOB line ($1$), and find bob's
	 * line at .evil's; a fresh one finds both.
	 */
	lookup_file(q, n, HASH_6_SECRET);
	CU_ASSERT_FATAL(stat(p, &st) == 0);
	{
		static const char evil[] = "bob@example.net.evil:" HASH_6_SECRET "\n";
		static const char bob[] = "bob@example.net:" HASH_6_SECRET ":opt\n";
		char *data = read_all(q);
		size_t len = strlen(data);
		char *e = strstr(data, evil), *o = strstr(data, bob);
		struct buf nb = BUF_INIT;
		int fd = open(p, O_WRONLY);

		CU_ASSERT_FATAL(e != NULL && o == e + strlen(evil) && fd >= 0);
		buf_append(&nb, data, (size_t)(e - data));
		buf_appends(&nb, bob);
		nb.s[nb.len - strlen(bob) + strlen("bob@example.net:$6$ab")] = 'd';
		buf_appends(&nb, evil);
		buf_appends(&nb, o + strlen(bob));
		CU_ASSERT_FATAL(nb.len == len);
		CU_ASSERT(pwrite(fd, nb.s, nb.len, 0) == (ssize_t)nb.len);
		ts[0] = st.st_atim;
		ts[1] = st.st_mtim;
		ts[1].tv_sec += 5;
		CU_ASSERT(futimens(fd, ts) == 0);
		close(fd);
		free(data);
		buf_free(&nb);
	}
	CU_ASSERT_EQUAL(users_lookup(p, "bob@example.net", hash, sizeof hash), 1);
	CU_ASSERT_EQUAL(strncmp(hash, "$6$abd$", 7), 0);
	CU_ASSERT_EQUAL(users_lookup(p, "bob@example.net.evil", hash, sizeof hash), 1);
	CU_ASSERT_STRING_EQUAL(hash, HASH_6_SECRET);
	unlink(q);
}

/* ---- hashes ---- */

static void test_hash_known(void)
{
	CU_ASSERT_EQUAL(users_check_hash(HASH_Y_SECRET, "secret"), 1);
	CU_ASSERT_EQUAL(users_check_hash(HASH_6_SECRET, "secret"), 1);
	CU_ASSERT_EQUAL(users_check_hash(HASH_1_SECRET, "secret"), 1);
	CU_ASSERT_EQUAL(users_check_hash(HASH_Y_SECRET, "Secret"), 0);
	CU_ASSERT_EQUAL(users_check_hash(HASH_6_SECRET, "secret "), 0);
	CU_ASSERT_EQUAL(users_check_hash(HASH_1_SECRET, ""), 0);
	/* the setting alone, a damaged hash, nothing at all */
	CU_ASSERT_EQUAL(users_check_hash("$y$j9T$xBYpeS1T1kcVqDT8OnrBJ1", "secret"), 0);
	CU_ASSERT_EQUAL(users_check_hash("$6$abc$", "secret"), 0);
	CU_ASSERT_EQUAL(users_check_hash(
	    "$y$j9T$xBYpeS1T1kcVqDT8OnrBJ1$VdJ.hoPhEfkjdF04aGzTOFwbg8E0TkjNw.x7uw2JqpC",
	    "secret"), 0);
	CU_ASSERT_EQUAL(users_check_hash("", ""), 0);
	CU_ASSERT_EQUAL(users_check_hash("*", "secret"), 0);
	CU_ASSERT_EQUAL(users_check_hash("!", ""), 0);
}

static void test_hash_make(void)
{
	char h1[USERS_HASH_MAX], h2[USERS_HASH_MAX], tiny[20];

	CU_ASSERT_EQUAL_FATAL(users_make_hash("pässwörd 1", NULL, h1, sizeof h1), 0);
	CU_ASSERT_EQUAL(strncmp(h1, "$y$", 3), 0);
	CU_ASSERT_EQUAL(users_check_hash(h1, "pässwörd 1"), 1);
	CU_ASSERT_EQUAL(users_check_hash(h1, "pässwörd 2"), 0);
	CU_ASSERT_EQUAL(users_make_hash("pässwörd 1", "$y$", h2, sizeof h2), 0);
	CU_ASSERT_STRING_NOT_EQUAL(h1, h2);	/* a fresh salt each time */
	CU_ASSERT_EQUAL(users_check_hash(h2, "pässwörd 1"), 1);

	CU_ASSERT_EQUAL_FATAL(users_make_hash("secret", "$6$", h1, sizeof h1), 0);
	CU_ASSERT_EQUAL(strncmp(h1, "$6$", 3), 0);
	CU_ASSERT_EQUAL(users_check_hash(h1, "secret"), 1);
	CU_ASSERT_EQUAL(users_check_hash(h1, "secreT"), 0);

	CU_ASSERT_EQUAL(users_make_hash("secret", "$nonsense$", h1, sizeof h1), -1);
	CU_ASSERT_EQUAL(users_make_hash("secret", NULL, tiny, sizeof tiny), -1);
}

/* The dummy hash must cost what a default hash costs: same kind, same params. */
static void test_dummy_hash(void)
{
	char h[USERS_HASH_MAX];
	const char *d = users_dummy_hash();
	const char *p;
	size_t n;

	CU_ASSERT_EQUAL_FATAL(users_make_hash("x", NULL, h, sizeof h), 0);
	/* "$y$j9T$": up to and including the third '$' */
	p = strchr(h + 1, '$');
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	p = strchr(p + 1, '$');
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	n = (size_t)(p - h) + 1;
	CU_ASSERT_EQUAL(strncmp(d, h, n), 0);
	CU_ASSERT_EQUAL(strlen(d), strlen(h));
	CU_ASSERT_EQUAL(users_check_hash(d, ""), 0);
	CU_ASSERT_EQUAL(users_check_hash(d, "x"), 0);
}

static double elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void test_authenticate(void)
{
	const char *p = tpath("users.auth");
	struct timespec t0, t1, t2;
	double unknown, wrong;

	write_str(p,
	    "bob@example.net:" HASH_Y_SECRET "\n"
	    "alice@example.net:" HASH_6_SECRET "\n");
	CU_ASSERT_EQUAL(users_authenticate(p, "bob@example.net", "secret"), 1);
	CU_ASSERT_EQUAL(users_authenticate(p, "BOB@Example.net", "secret"), 1);
	CU_ASSERT_EQUAL(users_authenticate(p, "alice@example.net", "secret"), 1);
	CU_ASSERT_EQUAL(users_authenticate(p, "alice@example.net", "wrong"), 0);
	CU_ASSERT_EQUAL(users_authenticate(p, "bob@example.net", ""), 0);
	CU_ASSERT_EQUAL(users_authenticate(p, "mallory@example.net", "secret"), 0);
	CU_ASSERT_EQUAL(users_authenticate(p, "", ""), 0);
	CU_ASSERT_EQUAL(users_authenticate(tpath("nope"), "bob@example.net", "secret"), -1);

	/* An unknown user costs a yescrypt run too (loose bound: no flakiness). */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(users_authenticate(p, "bob@example.net", "wrong"), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CU_ASSERT_EQUAL(users_authenticate(p, "nobody@example.net", "wrong"), 0);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	wrong = elapsed(&t0, &t1);
	unknown = elapsed(&t1, &t2);
	if (unknown < wrong / 4)
		fprintf(stderr, "# unknown %.4fs, wrong password %.4fs\n", unknown, wrong);
	CU_ASSERT(unknown >= wrong / 4);
}

/* ---- save ---- */

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void test_save(void)
{
	char dir[512], p[600], err[256];
	struct users u;
	struct stat st;
	char *text;

	str_format(dir, sizeof dir, "%s/save", cutap_tmpdir());
	CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
	str_format(p, sizeof p, "%s/users", dir);
	write_str(p,
	    "# head\n"
	    "bob@example.net:" HASH_Y_SECRET "\n"
	    "# alice's\n"
	    "alice@example.net:" HASH_6_SECRET ":quota=1\r\n"
	    "carol@example.net:" HASH_1_SECRET "\n"
	    "# tail\n");
	CU_ASSERT_FATAL(chmod(p, 0604) == 0);
	CU_ASSERT_EQUAL_FATAL(users_load(p, &u, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(u.trailer, "# tail\n");

	CU_ASSERT_EQUAL(users_remove(&u, "ALICE@example.net"), 1);
	CU_ASSERT_EQUAL(users_remove(&u, "alice@example.net"), 0);
	users_add(&u, "Dave@Example.net", HASH_6_SECRET, NULL);
	CU_ASSERT_EQUAL_FATAL(users_save(p, &u, err, sizeof err), 0);
	users_free(&u);

	text = read_all(p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_STRING_EQUAL(text,
	    "# head\n"
	    "bob@example.net:" HASH_Y_SECRET "\n"
	    "carol@example.net:" HASH_1_SECRET "\n"
	    "dave@example.net:" HASH_6_SECRET "\n"
	    "# tail\n");
	free(text);
	CU_ASSERT_EQUAL(stat(p, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0604);
	CU_ASSERT_EQUAL(count_entries(dir), 1);	/* no temp file left */

	/* it reads back, and lookups see the new file */
	CU_ASSERT_EQUAL(users_authenticate(p, "dave@example.net", "secret"), 1);
	CU_ASSERT_EQUAL(users_authenticate(p, "alice@example.net", "secret"), 0);

	/* a malformed entry or a duplicate is refused, the old file stays */
	CU_ASSERT_EQUAL_FATAL(users_load(p, &u, err, sizeof err), 0);
	users_add(&u, "bad address@example.net", HASH_6_SECRET, NULL);
	CU_ASSERT_EQUAL(users_save(p, &u, err, sizeof err), -1);
	users_free(&u);
	CU_ASSERT_EQUAL_FATAL(users_load(p, &u, err, sizeof err), 0);
	users_add(&u, "BOB@example.net", HASH_6_SECRET, NULL);
	CU_ASSERT_EQUAL(users_save(p, &u, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "refusing to write duplicate address bob@example.net");
	users_free(&u);
	CU_ASSERT_EQUAL_FATAL(users_load(p, &u, err, sizeof err), 0);
	users_add(&u, "eve@example.net", "has:colon", NULL);
	CU_ASSERT_EQUAL(users_save(p, &u, err, sizeof err), -1);
	users_free(&u);
	CU_ASSERT_EQUAL_FATAL(users_load(p, &u, err, sizeof err), 0);
	free(u.trailer);
	u.trailer = xstrdup("# fine\nnot a comment\n");
	CU_ASSERT_EQUAL(users_save(p, &u, err, sizeof err), -1);
	users_free(&u);
	CU_ASSERT_EQUAL_FATAL(users_load(p, &u, err, sizeof err), 0);
	CU_ASSERT_EQUAL(u.n, 3);
	users_free(&u);
	CU_ASSERT_EQUAL(count_entries(dir), 1);

	/* a new file: mode 0640, an empty table writes an empty file */
	str_format(p, sizeof p, "%s/fresh", dir);
	memset(&u, 0, sizeof u);
	CU_ASSERT_EQUAL(users_save(p, &u, err, sizeof err), 0);
	CU_ASSERT_EQUAL(stat(p, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
	CU_ASSERT_EQUAL(st.st_size, 0);
	users_add(&u, "bob@example.net", HASH_Y_SECRET, "x=1");
	CU_ASSERT_EQUAL(users_save(p, &u, err, sizeof err), 0);
	users_free(&u);
	text = read_all(p);
	CU_ASSERT_STRING_EQUAL(text, "bob@example.net:" HASH_Y_SECRET ":x=1\n");
	free(text);

	/* a directory that does not exist */
	str_format(p, sizeof p, "%s/nodir/users", dir);
	CU_ASSERT_EQUAL(users_save(p, &u, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "mkstemp: No such file or directory"));
}

static void test_lock(void)
{
	const char *p = tpath("users.locked");
	char lock[600], err[256];
	int fd, fd2;

	fd = users_lock(p, err, sizeof err);
	CU_ASSERT_FATAL(fd >= 0);
	str_format(lock, sizeof lock, "%s.lock", p);
	fd2 = open(lock, O_RDWR);
	CU_ASSERT_FATAL(fd2 >= 0);
	CU_ASSERT_EQUAL(flock(fd2, LOCK_EX | LOCK_NB), -1);
	CU_ASSERT_EQUAL(errno, EWOULDBLOCK);
	users_unlock(fd);
	CU_ASSERT_EQUAL(flock(fd2, LOCK_EX | LOCK_NB), 0);
	close(fd2);
	CU_ASSERT_EQUAL(users_lock(tpath("nodir/users"), err, sizeof err), -1);
}

static void test_options_parse(void)
{
	struct user_options o;
	char err[256] = "";
	unsigned long long v;

	CU_ASSERT_EQUAL(users_options_parse(NULL, &o, err, sizeof err), 0);
	CU_ASSERT_EQUAL(o.has_quota, 0);
	CU_ASSERT_EQUAL(o.keep, 1);
	CU_ASSERT_EQUAL(o.vacation, 0);
	CU_ASSERT_STRING_EQUAL(o.forward, "");
	CU_ASSERT_EQUAL(users_options_parse("quota=10M,forward=a@x.net b@y.org,keep=no,vacation=yes,"
	    "colour=blue,flag", &o, err, sizeof err), 0);
	CU_ASSERT_EQUAL(o.has_quota, 1);
	CU_ASSERT_EQUAL(o.quota, 10ULL << 20);
	CU_ASSERT_STRING_EQUAL(o.forward, "a@x.net b@y.org");
	CU_ASSERT_EQUAL(o.keep, 0);
	CU_ASSERT_EQUAL(o.vacation, 1);
	CU_ASSERT_EQUAL(users_options_parse("quota=1234", &o, err, sizeof err), 0);
	CU_ASSERT_EQUAL(o.quota, 1234);
	CU_ASSERT_EQUAL(users_options_parse("quota=2g", &o, err, sizeof err), 0);
	CU_ASSERT_EQUAL(o.quota, 2ULL << 30);
	CU_ASSERT_EQUAL(users_options_parse("quota=5K", &o, err, sizeof err), 0);
	CU_ASSERT_EQUAL(o.quota, 5120);
	CU_ASSERT_EQUAL(users_options_parse("quota=none", &o, err, sizeof err), 0);
	CU_ASSERT_EQUAL(o.has_quota, 0);
	CU_ASSERT_EQUAL(users_options_parse("quota=0", &o, err, sizeof err), 0);
	CU_ASSERT_EQUAL(o.has_quota, 0);
	/* a field after another ':' is not options */
	CU_ASSERT_EQUAL(users_options_parse("quota=10M:x=bad", &o, err, sizeof err), 0);
	CU_ASSERT_EQUAL(o.quota, 10ULL << 20);
	static const char *bad[] = {
		"quota=", "quota=10X", "quota=-1", "quota=1MB", "quota=99999999999999999999",
		"quota=5000000000G", "keep=maybe", "vacation=1", "forward=", "forward=not-an-address",
		"forward=a@x.net b@", "keep=yes,quota=ten",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(users_options_parse(bad[i], &o, err, sizeof err), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad value for option"));
	}
	CU_ASSERT_EQUAL(users_size_parse("1k", &v), 0);
	CU_ASSERT_EQUAL(v, 1024);
	CU_ASSERT_EQUAL(users_size_parse("k", &v), -1);
}

static void test_options_load_lookup(void)
{
	const char *p = tpath("users.opts");
	struct user_options o;
	struct users u;
	char err[256] = "";

	write_str(p,
	    "bob@example.net:" HASH_Y_SECRET "\n"
	    "alice@example.net:" HASH_6_SECRET ":colour=blue,quota=1M,x:later\n");
	CU_ASSERT_EQUAL(users_options(p, "ALICE@example.net", &o), 1);
	CU_ASSERT_EQUAL(o.has_quota, 1);
	CU_ASSERT_EQUAL(o.quota, 1ULL << 20);
	CU_ASSERT_EQUAL(users_options(p, "bob@example.net", &o), 1);
	CU_ASSERT_EQUAL(o.has_quota, 0);
	CU_ASSERT_EQUAL(users_options(p, "carol@example.net", &o), 0);
	CU_ASSERT_EQUAL(users_options(tpath("nothere"), "bob@example.net", &o), -1);

	/* a bad value: file:line for ispmaild -t, the session still finds the user */
	write_str(p,
	    "bob@example.net:" HASH_Y_SECRET "\n"
	    "alice@example.net:" HASH_6_SECRET ":quota=lots\n");
	CU_ASSERT_EQUAL(users_load(p, &u, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "users.opts:2: bad value for option quota"));
	CU_ASSERT_EQUAL(users_options(p, "alice@example.net", &o), 1);
	CU_ASSERT_EQUAL(o.has_quota, 0);
	CU_ASSERT_EQUAL(users_authenticate(p, "alice@example.net", "secret"), 1);
}

/* users_option_set changes one key and keeps every other byte. */
static void test_option_set(void)
{
	static const struct { const char *before, *key, *value, *after; } t[] = {
		{ "", "quota", "10M", "quota=10M" },
		{ "colour=blue", "quota", "1G", "colour=blue,quota=1G" },
		{ "quota=1M,colour=blue", "quota", "2M", "quota=2M,colour=blue" },
		{ "a,quota=1M,b=2", "quota", NULL, "a,b=2" },
		{ "a,quota=1M", "quota", NULL, "a" },
		{ "quota=1M", "quota", NULL, "" },
		{ "quota=1M,x", "quota", NULL, "x" },
		{ "x:later", "quota", "5K", "x,quota=5K:later" },
		{ "keep=no:quota=1", "quota", "7", "keep=no,quota=7:quota=1" },
		{ "myquota=1", "quota", "3", "myquota=1,quota=3" },
		{ "b=1", "quota", NULL, "b=1" },
	};
	struct user e = { 0 };

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		e.options = xstrdup(t[i].before);
		CU_ASSERT_EQUAL(users_option_set(&e, t[i].key, t[i].value), 0);
		CU_ASSERT_STRING_EQUAL(e.options, t[i].after);
		free(e.options);
	}
	e.options = xstrdup("colour=blue");
	CU_ASSERT_EQUAL(users_option_set(&e, "quota", "much"), -1);
	CU_ASSERT_EQUAL(users_option_set(&e, "quota", "1,x=2"), -1);
	CU_ASSERT_STRING_EQUAL(e.options, "colour=blue");
	free(e.options);
}

/* An option we do not know survives a load, a change and a save. */
static void test_options_survive_save(void)
{
	const char *p = tpath("users.keep");
	struct users u;
	char err[256] = "", *text;

	write_str(p, "alice@example.net:" HASH_6_SECRET ":colour=blue,quota=1M,future:f4\n");
	CU_ASSERT_EQUAL_FATAL(users_load(p, &u, err, sizeof err), 0);
	free(u.v[0].hash);
	u.v[0].hash = xstrdup(HASH_Y_SECRET);	/* as user passwd does */
	CU_ASSERT_EQUAL(users_save(p, &u, err, sizeof err), 0);
	users_free(&u);
	text = read_all(p);
	CU_ASSERT_STRING_EQUAL(text, "alice@example.net:" HASH_Y_SECRET ":colour=blue,quota=1M,future:f4\n");
	free(text);
}

int main(void)
{
	static const struct { const char *name; CU_TestFunc fn; } tests[] = {
		{ "address syntax", test_address_valid },
		{ "login names", test_login_address },
		{ "line reader", test_read_line },
		{ "load: good file", test_load_good },
		{ "load: bad lines name path:line", test_load_bad },
		{ "lookup", test_lookup },
		{ "lookup through the index (over 64 KiB)", test_lookup_index },
		{ "lookup memo: settled files only, changes seen", test_lookup_memo },
		{ "known hashes ($y$, $6$, $1$)", test_hash_known },
		{ "made hashes ($y$, $6$)", test_hash_make },
		{ "dummy hash matches the default", test_dummy_hash },
		{ "authenticate: wrong password, unknown user", test_authenticate },
		{ "save: atomic rewrite", test_save },
		{ "lock", test_lock },
		{ "options: parse and bad values", test_options_parse },
		{ "options: load (file:line) and lookup", test_options_load_lookup },
		{ "options: set one, keep the rest", test_option_set },
		{ "options: unknown ones survive a save", test_options_survive_save },
	};
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("users", NULL, NULL);
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
		CU_add_test(s, tests[i].name, tests[i].fn);
	return cutap_run();
}
