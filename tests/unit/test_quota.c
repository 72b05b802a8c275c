/*
 * test_quota.c: Maildir++ quotas (maildir/quota.c): the maildirsize format
 * (Courier's rules: the limits line, negative lines after deletes, the
 * recalculation when missing, when the limit changed, when large and old,
 * when over quota and old), the soft limit (at quota refuses, one byte under
 * takes a message that crosses), corrupt and huge files, a mailbox without a
 * quota, and two writers racing; the 80 % and 95 % warnings (the level,
 * the once-a-day memory .quotawarn under its lock, sizes in words, the
 * message's text).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cutap.h"
#include "maildir.h"
#include "quota_warn.h"
#include "sys.h"

static char *mkbox(const char *name)
{
	static char p[4][512];
	static unsigned k;
	char *out = p[k++ % 4], sub[600];
	static const char *dirs[] = { "", "/tmp", "/new", "/cur" };

	if (str_format(out, sizeof p[0], "%s/%s", cutap_tmpdir(), name) == -1)
		abort();
	for (size_t i = 0; i < 4; i++) {
		str_format(sub, sizeof sub, "%s%s", out, dirs[i]);
		CU_ASSERT_FATAL(mkdir(sub, 0700) == 0 || errno == EEXIST);
	}
	return out;
}

static void put_file(const char *box, const char *name, const char *s)
{
	char p[700];
	FILE *f;

	str_format(p, sizeof p, "%s/%s", box, name);
	f = fopen(p, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(s, f);
	CU_ASSERT_FATAL(fclose(f) == 0);
}

static const char *get_path(const char *box, const char *name)
{
	static char p[700];

	str_format(p, sizeof p, "%s/%s", box, name);
	return p;
}

static char *get_file(const char *box, const char *name)
{
	struct buf b = BUF_INIT;
	char p[700], chunk[4096];
	size_t n;
	FILE *f;

	str_format(p, sizeof p, "%s/%s", box, name);
	if ((f = fopen(p, "r")) == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	buf_appendc(&b, '\0');
	return buf_steal(&b);
}

static int exists(const char *box, const char *name)
{
	char p[700];
	struct stat st;

	str_format(p, sizeof p, "%s/%s", box, name);
	return stat(p, &st) == 0;
}

static int unlink_in(const char *box, const char *name)
{
	char p[700];

	str_format(p, sizeof p, "%s/%s", box, name);
	return unlink(p);
}

/* Age a file by secs (mtime), as if nobody had touched it since. */
static void age(const char *box, const char *name, long secs)
{
	struct timespec t[2];
	char p[700];

	str_format(p, sizeof p, "%s/%s", box, name);
	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= secs;
	t[1] = t[0];
	CU_ASSERT_FATAL(utimensat(AT_FDCWD, p, t, 0) == 0);
}

/* A message of n bytes, delivered the way ours are (S= in the name). */
static void deliver(const char *box, size_t n)
{
	char *m = xmalloc(n + 1);

	memset(m, 'x', n);
	if (n > 0)
		m[n - 1] = '\n';
	CU_ASSERT_FATAL(maildir_deliver(box, m, n) == 0);
	free(m);
}

static void test_parse(void)
{
	struct quota_usage u;
	static const char good[] = "1000S,10C\n100 1\n  250   2\n-100 -1\n";
	static const char *bad[] = {
		"", "1000S", "1000X\n", "1000S;10C\n", "S\n", "-5S\n", "1000S\n12\n",
		"1000S\n12 1 3\n", "1000S\nabc 1\n", "1000S\n10 1\n20 1",
		"1000S\n9223372036854775807 1\n1 1\n", "1000S\n99999999999999999999 1\n",
		"1000S\n\n",
	};

	CU_ASSERT_EQUAL(quota_parse(good, strlen(good), &u), 0);
	CU_ASSERT_EQUAL(u.limit_bytes, 1000);
	CU_ASSERT_EQUAL(u.limit_count, 10);
	CU_ASSERT_EQUAL(u.bytes, 250);
	CU_ASSERT_EQUAL(u.count, 2);
	CU_ASSERT_EQUAL(quota_parse("5C\n", 3, &u), 0);
	CU_ASSERT_EQUAL(u.limit_bytes, 0);
	CU_ASSERT_EQUAL(u.limit_count, 5);
	CU_ASSERT_EQUAL(quota_parse("10C,77S\n", 8, &u), 0);
	CU_ASSERT_EQUAL(u.limit_bytes, 77);
	/* an empty limits line is a file without limits, still valid */
	CU_ASSERT_EQUAL(quota_parse("\n1 1\n", 5, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 1);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CU_ASSERT_EQUAL(quota_parse(bad[i], strlen(bad[i]), &u), -1);
}

/* At quota refuses; one byte under takes a message, even one that crosses. */
static void test_soft_limit(void)
{
	struct quota_usage u = { 0 };
	char *box = mkbox("soft");

	u.bytes = 1000;
	CU_ASSERT_EQUAL(quota_over(&u, 1000, 0), 1);
	u.bytes = 999;
	CU_ASSERT_EQUAL(quota_over(&u, 1000, 0), 0);
	u.bytes = 5000;
	CU_ASSERT_EQUAL(quota_over(&u, 0, 0), 0);
	u.count = 3;
	CU_ASSERT_EQUAL(quota_over(&u, 0, 3), 1);
	CU_ASSERT_EQUAL(quota_over(&u, 0, 4), 0);

	put_file(box, "maildirsize", "1000S\n999 3\n");
	CU_ASSERT_EQUAL(quota_room(box, 1000, 0), 1);	/* one byte under */
	deliver(box, 600);				/* crosses */
	CU_ASSERT_EQUAL(quota_update(box, 1000, 0, 600, 1), 0);
	CU_ASSERT_EQUAL(quota_get(box, 1000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 1599);
	CU_ASSERT_EQUAL(quota_room(box, 1000, 0), 0);	/* now over */
	put_file(box, "maildirsize", "1000S\n1000 3\n");
	CU_ASSERT_EQUAL(quota_room(box, 1000, 0), 0);	/* exactly at */
}

/* Missing: counted from S= (and a stat where a name has none), then kept. */
static void test_missing(void)
{
	struct quota_usage u;
	char *box = mkbox("missing"), *text;

	deliver(box, 100);
	deliver(box, 250);
	put_file(box, "cur/1700000000.other.host:2,S", "12345\n");	/* no S= */
	(void)mkbox("missing/.Sent");
	put_file(box, ".Sent/cur/1700000001.M1P1.host,S=40:2,S", "x\n");
	CU_ASSERT_FALSE(exists(box, "maildirsize"));
	CU_ASSERT_EQUAL(quota_get(box, 10000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 100 + 250 + 6 + 40);
	CU_ASSERT_EQUAL(u.count, 4);
	text = get_file(box, "maildirsize");
	CU_ASSERT_STRING_EQUAL(text, "10000S\n396 4\n");
	free(text);
	/* with a count limit too */
	CU_ASSERT_EQUAL(quota_get(box, 10000, 50, &u), 0);
	text = get_file(box, "maildirsize");
	CU_ASSERT_STRING_EQUAL(text, "10000S,50C\n396 4\n");
	free(text);
	/* a delivery with no file: the count already includes it */
	CU_ASSERT_EQUAL(unlink_in(box, "maildirsize"), 0);
	deliver(box, 4);
	CU_ASSERT_EQUAL(quota_update(box, 10000, 50, 4, 1), 0);
	text = get_file(box, "maildirsize");
	CU_ASSERT_STRING_EQUAL(text, "10000S,50C\n400 5\n");
	free(text);
	/* nothing left in tmp/ */
	CU_ASSERT_FALSE(exists(box, "tmp/x"));
}

/* Deliveries and deletes append lines, negative for a delete. */
static void test_append_negative(void)
{
	struct quota_usage u;
	char *box = mkbox("append"), *text;

	CU_ASSERT_EQUAL(quota_get(box, 1 << 20, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 0);
	CU_ASSERT_EQUAL(quota_update(box, 1 << 20, 0, 300, 1), 0);
	CU_ASSERT_EQUAL(quota_update(box, 1 << 20, 0, 200, 1), 0);
	CU_ASSERT_EQUAL(quota_update(box, 1 << 20, 0, -300, -1), 0);
	text = get_file(box, "maildirsize");
	CU_ASSERT_STRING_EQUAL(text, "1048576S\n0 0\n300 1\n200 1\n-300 -1\n");
	free(text);
	CU_ASSERT_EQUAL(quota_get(box, 1 << 20, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 200);
	CU_ASSERT_EQUAL(u.count, 1);
}

/* The limit changed (ispmailctl user quota): counted again. */
static void test_limit_changed(void)
{
	struct quota_usage u;
	char *box = mkbox("changed"), *text;

	deliver(box, 70);
	put_file(box, "maildirsize", "500S\n9999 9\n");	/* wrong on purpose */
	CU_ASSERT_EQUAL(quota_get(box, 500, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 9999);			/* same limit: trusted */
	CU_ASSERT_EQUAL(quota_get(box, 600, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 70);
	text = get_file(box, "maildirsize");
	CU_ASSERT_STRING_EQUAL(text, "600S\n70 1\n");
	free(text);
	/* the append path checks the limits line too */
	put_file(box, "maildirsize", "500S\n9999 9\n");
	CU_ASSERT_EQUAL(quota_update(box, 600, 0, 5, 1), 0);
	text = get_file(box, "maildirsize");
	CU_ASSERT_STRING_EQUAL(text, "600S\n70 1\n");
	free(text);
}

/* Over 5120 bytes and untouched for 15 minutes: counted again; either alone not. */
static void test_stale(void)
{
	struct buf b = BUF_INIT;
	struct quota_usage u;
	char *box = mkbox("stale");

	deliver(box, 10);
	buf_appends(&b, "100000S\n");
	while (b.len <= 5120)
		buf_appends(&b, "1 0\n");		/* wrong on purpose */
	buf_appendc(&b, '\0');
	put_file(box, "maildirsize", b.s);
	CU_ASSERT_EQUAL(quota_get(box, 100000, 0, &u), 0);
	CU_ASSERT_NOT_EQUAL(u.bytes, 10);		/* large, fresh: trusted */
	age(box, "maildirsize", 14 * 60);
	CU_ASSERT_EQUAL(quota_get(box, 100000, 0, &u), 0);
	CU_ASSERT_NOT_EQUAL(u.bytes, 10);		/* 14 minutes: still trusted */
	age(box, "maildirsize", 16 * 60);
	CU_ASSERT_EQUAL(quota_get(box, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 10);			/* large and old */

	put_file(box, "maildirsize", "100000S\n77 1\n");
	age(box, "maildirsize", 3600);
	CU_ASSERT_EQUAL(quota_get(box, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 77);			/* small and old: trusted */

	/* over quota and old (mail removed behind our back): counted again */
	put_file(box, "maildirsize", "100000S\n200000 1\n");
	CU_ASSERT_EQUAL(quota_room(box, 100000, 0), 0);
	age(box, "maildirsize", 16 * 60);
	CU_ASSERT_EQUAL(quota_room(box, 100000, 0), 1);

	/* the append path: large and old, counted again instead */
	put_file(box, "maildirsize", b.s);
	age(box, "maildirsize", 16 * 60);
	CU_ASSERT_EQUAL(quota_update(box, 100000, 0, 10, 1), 0);
	CU_ASSERT_EQUAL(quota_get(box, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 10);
	buf_free(&b);
}

/* Corrupt, negative or huge: counted again, never a crash. */
static void test_corrupt_huge(void)
{
	static const char *corrupt[] = {
		"garbage", "100000S\nxx yy\n", "100000S\n5 1\n7", "100000S\n-50 -1\n",
		"100000S\n9223372036854775807 1\n9223372036854775807 1\n",
		"\0\0\0\0",
	};
	struct quota_usage u;
	char *box = mkbox("corrupt"), p[700];
	int fd;

	deliver(box, 33);
	for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
		put_file(box, "maildirsize", corrupt[i]);
		CU_ASSERT_EQUAL(quota_get(box, 100000, 0, &u), 0);
		CU_ASSERT_EQUAL(u.bytes, 33);
		CU_ASSERT_EQUAL(u.count, 1);
	}
	/* 100 MB of lines (sparse): not read, counted again */
	str_format(p, sizeof p, "%s/maildirsize", box);
	fd = open(p, O_WRONLY | O_TRUNC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(write(fd, "100000S\n", 8) == 8);
	CU_ASSERT(ftruncate(fd, 100 << 20) == 0);
	close(fd);
	CU_ASSERT_EQUAL(quota_get(box, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 33);
	put_file(box, "maildirsize", "100000S\n");
	CU_ASSERT(truncate(p, 70000) == 0);
	CU_ASSERT_EQUAL(quota_update(box, 100000, 0, 1, 1), 0);
	CU_ASSERT_EQUAL(quota_get(box, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 33);
	/* a directory where the file should be: an error, not a crash */
	CU_ASSERT_EQUAL(unlink(p), 0);
	CU_ASSERT_EQUAL(mkdir(p, 0700), 0);
	CU_ASSERT_EQUAL(quota_get(box, 100000, 0, &u), -1);
	CU_ASSERT_EQUAL(rmdir(p), 0);
}

/* No quota: nothing is written, ever. */
static void test_no_quota(void)
{
	struct quota_usage u;
	char *box = mkbox("noquota");

	deliver(box, 20);
	CU_ASSERT_EQUAL(quota_room(box, 0, 0), 1);
	CU_ASSERT_EQUAL(quota_update(box, 0, 0, 20, 1), 0);
	CU_ASSERT_EQUAL(quota_recalc(box, 0, 0, &u), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT_FALSE(exists(box, "maildirsize"));
	CU_ASSERT_EQUAL(quota_scan(box, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 20);
	CU_ASSERT_EQUAL(u.count, 1);
	CU_ASSERT_FALSE(exists(box, "maildirsize"));
}

/* Two processes delivering into one mailbox: the sum is exact afterwards. */
static void test_race(void)
{
	enum { PER = 300 };
	struct quota_usage u;
	char *box = mkbox("race");
	pid_t pid[2];
	int st;

	CU_ASSERT_EQUAL(quota_get(box, 1ULL << 40, 0, &u), 0);
	for (int k = 0; k < 2; k++) {
		pid[k] = fork();
		CU_ASSERT_FATAL(pid[k] >= 0);
		if (pid[k] == 0) {
			int bad = 0;

			for (int i = 0; i < PER; i++) {
				deliver(box, (size_t)(k + 1) * 10);
				if (quota_update(box, 1ULL << 40, 0, (k + 1) * 10, 1) != 0 ||
				    quota_room(box, 1ULL << 40, 0) != 1)
					bad = 1;
			}
			_exit(bad);
		}
	}
	for (int k = 0; k < 2; k++) {
		CU_ASSERT_EQUAL(waitpid(pid[k], &st, 0), pid[k]);
		CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CU_ASSERT_EQUAL(quota_get(box, 1ULL << 40, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, PER * 10 + PER * 20);
	CU_ASSERT_EQUAL(u.count, 2 * PER);
	/* and the same as a fresh count */
	CU_ASSERT_EQUAL(quota_recalc(box, 1ULL << 40, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, PER * 30);
}

/* The levels: exactly at 80 % and 95 % count, one byte under does not. */
static void test_warn_level(void)
{
	struct quota_usage u = { 0 };

	u.bytes = 799;
	CU_ASSERT_EQUAL(quota_warn_level(&u, 1000, 0), 0);
	u.bytes = 800;
	CU_ASSERT_EQUAL(quota_warn_level(&u, 1000, 0), 80);
	u.bytes = 949;
	CU_ASSERT_EQUAL(quota_warn_level(&u, 1000, 0), 80);
	u.bytes = 950;
	CU_ASSERT_EQUAL(quota_warn_level(&u, 1000, 0), 95);
	u.bytes = 5000;		/* over the quota: still the top level */
	CU_ASSERT_EQUAL(quota_warn_level(&u, 1000, 0), 95);
	CU_ASSERT_EQUAL(quota_warn_level(&u, 0, 0), 0);	/* no quota: never */
	u.bytes = -5;		/* a count gone negative (deletes) */
	CU_ASSERT_EQUAL(quota_warn_level(&u, 1000, 0), 0);
	u.bytes = 0;
	u.count = 8;		/* the count limit judged alike */
	CU_ASSERT_EQUAL(quota_warn_level(&u, 1000, 10), 80);
	/* Huge values do not overflow into a wrong answer. */
	u.count = 0;
	u.bytes = 9000000000000000000LL;
	CU_ASSERT_EQUAL(quota_warn_level(&u, 10000000000000000000ULL, 0), 80);
	CU_ASSERT_EQUAL(quota_warn_level(&u, 18000000000000000000ULL, 0), 0);
}

/* The memory: due unless it names today at the level or above. */
static void test_warn_due(void)
{
	static const struct { const char *mem; int level, due; } cases[] = {
		{ "", 80, 1 },
		{ "2026-12-05 80\n", 80, 0 },
		{ "2026-12-05 80\n", 95, 1 },
		{ "2026-12-05 95\n", 80, 0 },
		{ "2026-12-04 95\n", 80, 1 },	/* yesterday */
		{ "2026-12-04 95\n", 95, 1 },
		{ "2026-12-05\n", 80, 1 },	/* no level */
		{ "2026-12-05 x\n", 80, 1 },
		{ "garbage", 95, 1 },
		{ "2026-12-055 95\n", 80, 1 },
		{ "2026-12-05 95\n", 0, 0 },	/* below 80 %: nothing */
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CU_ASSERT_EQUAL(quota_warn_due(cases[i].mem, strlen(cases[i].mem),
		    "2026-12-05", cases[i].level), cases[i].due);
}

/* begin/end: the file made on first use, remembered only when sent. */
static void test_warn_memory(void)
{
	char *box = mkbox("warnmem"), *text;
	int fd = -1;

	CU_ASSERT_FALSE(exists(box, QUOTA_WARN_FILE));
	CU_ASSERT_EQUAL(quota_warn_begin(box, "2026-12-05", 80, &fd), 1);
	CU_ASSERT(fd >= 0);
	CU_ASSERT_EQUAL(quota_warn_end(fd, 0, "2026-12-05", 80), 0);	/* not sent */
	CU_ASSERT_EQUAL(quota_warn_begin(box, "2026-12-05", 80, &fd), 1);
	CU_ASSERT_EQUAL(quota_warn_end(fd, 1, "2026-12-05", 80), 0);
	text = get_file(box, QUOTA_WARN_FILE);
	CU_ASSERT_STRING_EQUAL(text, "2026-12-05 80\n");
	free(text);
	CU_ASSERT_EQUAL(quota_warn_begin(box, "2026-12-05", 80, &fd), 0);
	CU_ASSERT_EQUAL(fd, -1);
	CU_ASSERT_EQUAL(quota_warn_begin(box, "2026-12-05", 95, &fd), 1);
	CU_ASSERT_EQUAL(quota_warn_end(fd, 1, "2026-12-05", 95), 0);
	CU_ASSERT_EQUAL(quota_warn_begin(box, "2026-12-06", 80, &fd), 1);
	CU_ASSERT_EQUAL(quota_warn_end(fd, 1, "2026-12-06", 80), 0);
	text = get_file(box, QUOTA_WARN_FILE);	/* shorter: truncated, not mixed */
	CU_ASSERT_STRING_EQUAL(text, "2026-12-06 80\n");
	free(text);
	/* The memory is not a Maildir++ folder: the count ignores it. */
	{
		struct quota_usage u;

		CU_ASSERT_EQUAL(quota_scan(box, &u), 0);
		CU_ASSERT_EQUAL(u.bytes, 0);
		CU_ASSERT_EQUAL(u.count, 0);
	}
}

/* Two processes crossing at once: one warning (the lock serialises). */
static void test_warn_race(void)
{
	char *box = mkbox("warnrace"), *text;
	int pipefd[2], due = 0;
	pid_t pid[2];

	CU_ASSERT_FATAL(pipe(pipefd) == 0);
	for (int k = 0; k < 2; k++) {
		pid[k] = fork();
		CU_ASSERT_FATAL(pid[k] >= 0);
		if (pid[k] == 0) {
			int fd, r = quota_warn_begin(box, "2026-12-05", 95, &fd);

			if (r == 1) {
				usleep(50000);	/* hold the lock a while */
				(void)quota_warn_end(fd, 1, "2026-12-05", 95);
			}
			(void)write(pipefd[1], r == 1 ? "1" : "0", 1);
			_exit(0);
		}
	}
	for (int k = 0; k < 2; k++) {
		char c;

		CU_ASSERT_EQUAL(read(pipefd[0], &c, 1), 1);
		due += c == '1';
		(void)waitpid(pid[k], NULL, 0);
	}
	close(pipefd[0]);
	close(pipefd[1]);
	CU_ASSERT_EQUAL(due, 1);
	text = get_file(box, QUOTA_WARN_FILE);
	CU_ASSERT_STRING_EQUAL(text, "2026-12-05 95\n");
	free(text);
}

static void test_size_words(void)
{
	static const struct { unsigned long long n; const char *want; } cases[] = {
		{ 0, "0 bytes" }, { 1023, "1023 bytes" }, { 1024, "1 KB" },
		{ 1536, "1.5 KB" }, { 10239, "9.9 KB" }, { 10240, "10 KB" },
		{ 102400, "100 KB" }, { 858993, "838 KB" }, { 1048575, "1023 KB" },
		{ 1048576, "1 MB" }, { 8493466, "8.1 MB" }, { 10485760, "10 MB" },
		{ 2147483648ULL, "2 GB" }, { 5ULL << 40, "5 TB" }, { 3ULL << 50, "3072 TB" },
	};
	char out[32];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		quota_size_words(cases[i].n, out, sizeof out);
		CU_ASSERT_STRING_EQUAL(out, cases[i].want);
	}
}

/* The warning as stored: the headers a client shows, the numbers in words. */
static void test_warning_text(void)
{
	struct quota_warning w = { 0 };
	struct buf b = BUF_INIT;

	w.to = "ann@example.net";
	w.hostname = "mail.example.net";
	w.level = 95;
	w.bytes = 10066330;	/* 96 % of 10 MB */
	w.quota = 10485760;
	w.now = 1796515200;
	deliver_quota_warning_text(&w, &b);
	buf_appendc(&b, '\0');
	CU_ASSERT(strncmp(b.s, "Return-Path: <>\nFrom: Postmaster <postmaster@example.net>\n"
	    "To: <ann@example.net>\nSubject: Your mailbox is 95% full\n", 114) == 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.s, "\nAuto-Submitted: auto-generated\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.s, "\nMessage-ID: <1796515200."));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.s, "@mail.example.net>\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.s, "\n\nYour mailbox ann@example.net is 96% full.\n"
	    "It holds 9.6 MB of the 10 MB it may hold.\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.s, "bigger mailbox"));
	CU_ASSERT_PTR_NULL(strchr(b.s, '\r'));
	buf_free(&b);
}

/*
 * What the check costs a delivery: quota_room + quota_update against a
 * plain loop of maildir_deliver (printed as a TAP comment, not asserted:
 * the machine is shared).
 */
/*
 * quota_get remembers the last text it parsed and parses only what was
 * appended after it: the sum must stay the whole file's whatever happens
 * to the file between two reads (appended, rewritten with the same
 * length, cut, turned corrupt, another mailbox's).
 */
static void test_parse_memo(void)
{
	struct quota_usage u;
	char *a = mkbox("memo-a"), *b = mkbox("memo-b");

	put_file(a, "maildirsize", "100000S\n10 1\n");
	put_file(b, "maildirsize", "100000S\n10 1\n");
	CU_ASSERT_EQUAL(quota_get(a, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 10);
	CU_ASSERT_EQUAL(quota_update(a, 100000, 0, 5, 1), 0);
	CU_ASSERT_EQUAL(quota_get(a, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 15);
	CU_ASSERT_EQUAL(u.count, 2);
	/* rewritten, the same length, another sum */
	put_file(a, "maildirsize", "100000S\n20 1\n5 1\n");
	CU_ASSERT_EQUAL(quota_get(a, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 25);
	/* cut to a prefix of what was read */
	put_file(a, "maildirsize", "100000S\n20 1\n");
	CU_ASSERT_EQUAL(quota_get(a, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 20);
	/* a corrupt tail after the remembered text: counted again (nothing in a) */
	put_file(a, "maildirsize", "100000S\n20 1\nxx 1\n");
	CU_ASSERT_EQUAL(quota_get(a, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 0);
	CU_ASSERT_EQUAL(u.count, 0);
	/* a line cut short after the remembered text: counted again too */
	put_file(a, "maildirsize", "100000S\n0 0\n");
	CU_ASSERT_EQUAL(quota_get(a, 100000, 0, &u), 0);
	put_file(a, "maildirsize", "100000S\n0 0\n7");
	CU_ASSERT_EQUAL(quota_get(a, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 0);
	/* the same text in another mailbox, then that one grows */
	CU_ASSERT_EQUAL(quota_get(b, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 10);
	CU_ASSERT_EQUAL(quota_update(b, 100000, 0, -4, 0), 0);
	CU_ASSERT_EQUAL(quota_get(b, 100000, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 6);
	CU_ASSERT_EQUAL(u.count, 1);
}

/* quota_update_get: the usage quota_get would give next, read back after the line. */
static void test_update_get(void)
{
	struct quota_usage u, g;
	char *box = mkbox("update-get");

	deliver(box, 40);
	put_file(box, "maildirsize", "100000S\n40 1\n");
	CU_ASSERT_EQUAL(quota_update_get(box, 100000, 0, 60, 1, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 100);
	CU_ASSERT_EQUAL(u.count, 2);
	CU_ASSERT_EQUAL(quota_get(box, 100000, 0, &g), 0);
	CU_ASSERT_EQUAL(g.bytes, 100);
	/* negative sum: counted again, as quota_get would (40 in the box) */
	put_file(box, "maildirsize", "100000S\n-500 0\n");
	CU_ASSERT_EQUAL(quota_update_get(box, 100000, 0, 10, 1, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 40);
	CU_ASSERT_EQUAL(u.count, 1);
	/* missing: the recount */
	CU_ASSERT_EQUAL(unlink(get_path(box, "maildirsize")), 0);
	CU_ASSERT_EQUAL(quota_update_get(box, 100000, 0, 40, 1, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 40);
	/* another limit: the recount */
	CU_ASSERT_EQUAL(quota_update_get(box, 200000, 0, 40, 1, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 40);
	CU_ASSERT_EQUAL(u.limit_bytes, 200000);
	/* no quota: nothing recorded, no usage */
	CU_ASSERT_EQUAL(quota_update_get(box, 0, 0, 40, 1, &u), 1);
}

static void test_cost(void)
{
	enum { N = 2000 };
	char *a = mkbox("cost-none"), *b = mkbox("cost-quota"), *c = mkbox("cost-small");
	struct quota_usage u;
	long long t0, t1, t2, t3, t4;

	CU_ASSERT_EQUAL(quota_get(c, 1ULL << 40, 0, &u), 0);
	t0 = now_ms();
	for (int i = 0; i < 200; i++) {
		(void)quota_room(c, 1ULL << 40, 0);
		(void)quota_update(c, 1ULL << 40, 0, 0, 0);
	}
	t4 = now_ms() - t0;
	CU_ASSERT_EQUAL(quota_get(b, 1ULL << 40, 0, &u), 0);
	t0 = now_ms();
	for (int i = 0; i < N; i++)
		deliver(a, 100);
	t1 = now_ms();
	for (int i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(quota_room(b, 1ULL << 40, 0), 1);
		deliver(b, 100);
		CU_ASSERT_EQUAL(quota_update(b, 1ULL << 40, 0, 100, 1), 0);
	}
	t2 = now_ms();
	for (int i = 0; i < N; i++) {
		(void)quota_room(b, 1ULL << 40, 0);
		(void)quota_update(b, 1ULL << 40, 0, 0, 0);
	}
	t3 = now_ms();
	printf("# %d deliveries: %lld ms without quota, %lld ms with check+append; "
	    "check+append alone %.1f us each with a maildirsize of under 200 lines, "
	    "%.1f us with %d lines\n", N, t1 - t0, t2 - t1, (double)t4 * 1000.0 / 200,
	    (double)(t3 - t2) * 1000.0 / N, 2 * N + 2);
	CU_ASSERT_EQUAL(quota_get(b, 1ULL << 40, 0, &u), 0);
	CU_ASSERT_EQUAL(u.bytes, 100 * N);
}

int main(void)
{
	static const struct { const char *name; CU_TestFunc fn; } tests[] = {
		{ "parse: limits line, lines, negatives, corrupt", test_parse },
		{ "soft limit: at, one byte under, crossing", test_soft_limit },
		{ "missing: counted from S= and folders", test_missing },
		{ "append: delivery and delete lines", test_append_negative },
		{ "limit changed: counted again", test_limit_changed },
		{ "stale: over 5120 bytes and 15 minutes, over quota and old", test_stale },
		{ "corrupt or huge: counted again", test_corrupt_huge },
		{ "no quota: no maildirsize", test_no_quota },
		{ "two writers racing: exact", test_race },
		{ "warning level: 80 %, 95 %, exact edges", test_warn_level },
		{ "warning memory: due unless today at that level", test_warn_due },
		{ "warning memory: the file, written when sent", test_warn_memory },
		{ "warning memory: two at once, one warning", test_warn_race },
		{ "sizes in words", test_size_words },
		{ "warning text", test_warning_text },
		{ "parse memo: appended, rewritten, cut, corrupt, another box", test_parse_memo },
		{ "update and usage after it", test_update_get },
		{ "cost per delivery", test_cost },
	};
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("quota", NULL, NULL);
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
		CU_add_test(s, tests[i].name, tests[i].fn);
	return cutap_run();
}
