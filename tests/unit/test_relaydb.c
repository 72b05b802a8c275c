/*
 * test_relaydb.c: the relay table (docs/PROTOCOL.md, files): values and TTL
 * boundaries, the exact bytes on disk, damaged files, and many forked
 * processes at once, one of them killed with SIGKILL in the middle of its
 * work. Every child runs under alarm() so that a hang fails the test instead
 * of hanging it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <db.h>

#include "cutap.h"
#include "relaydb.h"

#define T0 1700000000

/* A fresh directory for one test under the suite's temporary directory. */
static const char *testdir(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", cutap_tmpdir(), name);
	if (mkdir(buf, 0700) == -1 && errno != EEXIST) {
		perror(buf);
		exit(99);
	}
	return buf;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Run a program, its stdout and stderr into out; the exit status or -1. */
static int run(char *const argv[], char *out, size_t outlen)
{
	int fd[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(fd) == -1)
		return -1;
	fflush(stdout);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		dup2(fd[1], 1);
		dup2(fd[1], 2);
		close(fd[0]);
		close(fd[1]);
		alarm(10);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd[1]);
	while ((n = read(fd[0], out + got, outlen - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fd[0]);
	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* The Debian db-util name, versioned or not. */
static const char *tool(const char *name)
{
	static char path[64];

	snprintf(path, sizeof path, "/usr/bin/db_%s", name);
	if (access(path, X_OK) == 0)
		return path;
	snprintf(path, sizeof path, "/usr/bin/db5.3_%s", name);
	return path;
}

/* db_verify on <dir>/relay.db: its exit status. */
static int verify(const char *dir)
{
	char file[512], out[4096];
	char *argv[] = { (char *)tool("verify"), "-q", file, NULL };
	int st;

	snprintf(file, sizeof file, "%s/relay.db", dir);
	st = run(argv, out, sizeof out);
	if (st != 0)
		printf("# db_verify %s: status %d: %s\n", file, st, out);
	return st;
}

/* Wait for a child; 0 when it exited 0, else a note and -1. */
static int reap(pid_t pid, const char *what)
{
	int st;

	if (waitpid(pid, &st, 0) == -1)
		return -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		printf("# %s (pid %d) killed by signal %d%s\n", what, (int)pid,
		    WTERMSIG(st), WTERMSIG(st) == SIGALRM ? " (watchdog: hung)" : "");
	else
		printf("# %s (pid %d) exited %d\n", what, (int)pid, WEXITSTATUS(st));
	return -1;
}

static struct relaydb *open_or_die(const char *dir)
{
	char err[512];
	struct relaydb *db = relaydb_open(dir, err, sizeof err);

	if (db == NULL)
		printf("# relaydb_open %s: %s\n", dir, err);
	return db;
}

static void test_open_creates_files(void)
{
	char dir[256], path[512], err[256];
	struct relaydb *db, *db2;
	struct stat st;

	testdir("open", dir, sizeof dir);
	db = open_or_die(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_recreated(db), 0);
	CU_ASSERT_STRING_EQUAL(relaydb_strerror(db), "");
	snprintf(path, sizeof path, "%s/relay.db", dir);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT(S_ISREG(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 077, 0);
	snprintf(path, sizeof path, "%s/relay.db.lock", dir);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 077, 0);
	/* One handle per process. */
	db2 = relaydb_open(dir, err, sizeof err);
	CU_ASSERT_PTR_NULL(db2);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already open"));
	relaydb_close(db);
	db = open_or_die(dir);
	CU_ASSERT_PTR_NOT_NULL(db);
	relaydb_close(db);
	relaydb_close(NULL);
	/* A state_dir that does not exist is an error, not a crash. */
	snprintf(path, sizeof path, "%s/nonexistent", dir);
	CU_ASSERT_PTR_NULL(relaydb_open(path, err, sizeof err));
	CU_ASSERT(err[0] != '\0');
}

static void test_authorize_lookup(void)
{
	char dir[256], user[300];
	struct relaydb *db;
	time_t when = 0;

	db = open_or_die(testdir("lookup", dir, sizeof dir));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.7", "alice@example.net", T0), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.7", &when, user, sizeof user), 1);
	CU_ASSERT_EQUAL(when, T0);
	CU_ASSERT_STRING_EQUAL(user, "alice@example.net");
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.7", NULL, NULL, 0), 1);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.8", &when, user, sizeof user), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.70", &when, user, sizeof user), 0);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "2001:db8:1:2::/64", "bob@example.net", T0 + 5), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "2001:db8:1:2::/64", &when, user, sizeof user), 1);
	CU_ASSERT_EQUAL(when, T0 + 5);
	CU_ASSERT_STRING_EQUAL(user, "bob@example.net");
	/* The user buffer must hold the user and its NUL. */
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.7", &when, user, 17), -1);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.7", &when, user, 18), 1);
	CU_ASSERT_STRING_EQUAL(user, "alice@example.net");
	relaydb_close(db);
}

static void test_ttl_boundaries(void)
{
	static const struct {
		long age, ttl;
		int want;
	} rows[] = {
		{ 0, 1800, 1 }, { 1, 1800, 1 }, { 1799, 1800, 1 },
		{ 1800, 1800, 0 }, { 1801, 1800, 0 }, { 100000, 1800, 0 },
		{ -60, 1800, 1 },	/* clock stepped back: still young */
		{ 0, 1, 1 }, { 1, 1, 0 }, { 0, 0, 0 }, { 0, -5, 0 },
	};
	char dir[256];
	struct relaydb *db;
	size_t i;

	db = open_or_die(testdir("ttl", dir, sizeof dir));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.7", "alice@example.net", T0), 0);
	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int got = relaydb_is_authorized(db, "192.0.2.7", T0 + rows[i].age, rows[i].ttl);

		if (got != rows[i].want)
			printf("# row %zu: age %ld ttl %ld: got %d want %d\n", i,
			    rows[i].age, rows[i].ttl, got, rows[i].want);
		CU_ASSERT_EQUAL(got, rows[i].want);
	}
	CU_ASSERT_EQUAL(relaydb_is_authorized(db, "192.0.2.8", T0, 1800), 0);
	relaydb_close(db);
}

static int count_one(const char *key, time_t when, const char *user, void *arg)
{
	(void)key;
	(void)when;
	(void)user;
	++*(int *)arg;
	return 0;
}

static void test_refresh(void)
{
	char dir[256], user[300];
	struct relaydb *db;
	time_t when;
	int n = 0;

	db = open_or_die(testdir("refresh", dir, sizeof dir));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.7", "alice@example.net", T0), 0);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.7", "bob@example.net", T0 + 1000), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.7", &when, user, sizeof user), 1);
	CU_ASSERT_EQUAL(when, T0 + 1000);
	CU_ASSERT_STRING_EQUAL(user, "bob@example.net");
	CU_ASSERT_EQUAL(relaydb_is_authorized(db, "192.0.2.7", T0 + 2799, 1800), 1);
	CU_ASSERT_EQUAL(relaydb_is_authorized(db, "192.0.2.7", T0 + 2800, 1800), 0);
	CU_ASSERT_EQUAL(relaydb_foreach(db, count_one, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	relaydb_close(db);
}

static void test_delete(void)
{
	char dir[256];
	struct relaydb *db;

	db = open_or_die(testdir("delete", dir, sizeof dir));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.7", "alice@example.net", T0), 0);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.9", "carol@example.net", T0), 0);
	CU_ASSERT_EQUAL(relaydb_delete(db, "192.0.2.7"), 1);
	CU_ASSERT_EQUAL(relaydb_delete(db, "192.0.2.7"), 0);
	CU_ASSERT_EQUAL(relaydb_delete(db, "198.51.100.1"), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.7", NULL, NULL, 0), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.9", NULL, NULL, 0), 1);
	relaydb_close(db);
}

static void test_expire(void)
{
	static const long ages[] = { 0, 100, 1799, 1800, 1801, 5000, -10 };
	char dir[256], key[64];
	struct relaydb *db;
	size_t i;
	int n = 0;

	db = open_or_die(testdir("expire", dir, sizeof dir));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	for (i = 0; i < sizeof ages / sizeof ages[0]; i++) {
		snprintf(key, sizeof key, "192.0.2.%zu", i);
		CU_ASSERT_EQUAL(relaydb_authorize(db, key, "u", T0 - ages[i]), 0);
	}
	CU_ASSERT_EQUAL(relaydb_expire(db, T0, 1800), 3);
	for (i = 0; i < sizeof ages / sizeof ages[0]; i++) {
		snprintf(key, sizeof key, "192.0.2.%zu", i);
		CU_ASSERT_EQUAL(relaydb_lookup(db, key, NULL, NULL, 0), ages[i] < 1800);
	}
	CU_ASSERT_EQUAL(relaydb_expire(db, T0, 1800), 0);
	/* More than one batch (256) of expired entries. */
	for (i = 0; i < 600; i++) {
		snprintf(key, sizeof key, "10.0.%zu.%zu", i / 256, i % 256);
		CU_ASSERT_EQUAL(relaydb_authorize(db, key, "old", T0 - 4000), 0);
	}
	CU_ASSERT_EQUAL(relaydb_expire(db, T0, 1800), 600);
	/* ttl 0: everything not from the future. */
	CU_ASSERT_EQUAL(relaydb_expire(db, T0, 0), 3);
	CU_ASSERT_EQUAL(relaydb_foreach(db, count_one, &n), 0);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.6", NULL, NULL, 0), 1);
	relaydb_close(db);
}

struct seen {
	struct relaydb *db;
	int n, nested_ok, stop_after;
	int match[5];
};

static const struct {
	const char *key, *user;
	long when;
} fe_rows[5] = {
	{ "192.0.2.1", "a@example.net", T0 + 1 },
	{ "192.0.2.2", "b@example.net", T0 + 2 },
	{ "2001:db8::/64", "c@example.net", T0 + 3 },
	{ "198.51.100.200", "", T0 + 4 },
	{ "203.0.113.9", "d e@example.net", T0 + 5 },
};

static int visit(const char *key, time_t when, const char *user, void *arg)
{
	struct seen *s = arg;
	size_t i;

	s->n++;
	for (i = 0; i < 5; i++)
		if (strcmp(key, fe_rows[i].key) == 0 && when == fe_rows[i].when &&
		    strcmp(user, fe_rows[i].user) == 0)
			s->match[i]++;
	/* No lock is held while we run: another call works. */
	if (relaydb_lookup(s->db, key, NULL, NULL, 0) == 1)
		s->nested_ok++;
	return s->stop_after != 0 && s->n >= s->stop_after;
}

static void test_foreach(void)
{
	char dir[256];
	struct relaydb *db;
	struct seen s;
	size_t i;

	db = open_or_die(testdir("foreach", dir, sizeof dir));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	for (i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(relaydb_authorize(db, fe_rows[i].key, fe_rows[i].user,
		    fe_rows[i].when), 0);
	memset(&s, 0, sizeof s);
	s.db = db;
	CU_ASSERT_EQUAL(relaydb_foreach(db, visit, &s), 0);
	CU_ASSERT_EQUAL(s.n, 5);
	CU_ASSERT_EQUAL(s.nested_ok, 5);
	for (i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(s.match[i], 1);
	memset(&s, 0, sizeof s);
	s.db = db;
	s.stop_after = 2;
	CU_ASSERT_EQUAL(relaydb_foreach(db, visit, &s), 0);
	CU_ASSERT_EQUAL(s.n, 2);
	relaydb_close(db);
}

static void test_invalid_input(void)
{
	static const char *bad_keys[] = {
		"", "192.0.2.7 ", " 192.0.2.7", "a b", "x\ty", "x\ny", "\x7f", "caf\xc3\xa9",
	};
	char dir[256], key[100], user[400], got[400];
	struct relaydb *db;
	size_t i;
	time_t when;

	db = open_or_die(testdir("invalid", dir, sizeof dir));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	for (i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
		CU_ASSERT_EQUAL(relaydb_authorize(db, bad_keys[i], "u", T0), -1);
		CU_ASSERT_EQUAL(relaydb_lookup(db, bad_keys[i], NULL, NULL, 0), -1);
		CU_ASSERT_EQUAL(relaydb_delete(db, bad_keys[i]), -1);
		CU_ASSERT(relaydb_strerror(db)[0] != '\0');
	}
	memset(key, 'k', sizeof key);
	key[RELAYDB_KEY_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(relaydb_authorize(db, key, "u", T0), -1);
	key[RELAYDB_KEY_MAX] = '\0';
	CU_ASSERT_EQUAL(relaydb_authorize(db, key, "u", T0), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, key, NULL, NULL, 0), 1);
	memset(user, 'u', sizeof user);
	user[RELAYDB_USER_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.7", user, T0), -1);
	user[RELAYDB_USER_MAX] = '\0';
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.7", user, T0), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.7", &when, got, sizeof got), 1);
	CU_ASSERT_EQUAL(strlen(got), RELAYDB_USER_MAX);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.8", "a\r\nb", T0), -1);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.8", "u", -1), -1);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.8", "", T0), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.8", &when, got, sizeof got), 1);
	CU_ASSERT_STRING_EQUAL(got, "");
	CU_ASSERT_EQUAL(when, T0);
	relaydb_close(db);
}

/* The stored bytes: key and value exactly, no NUL, a hash database. */
static void test_raw_bytes(void)
{
	static const char want[] = "1700000000 alice@example.net";
	char dir[256], path[512], out[8192];
	char *argv[] = { (char *)tool("dump"), "-p", path, NULL };
	struct relaydb *db;
	DB *raw;
	DBC *c;
	DBTYPE type;
	DBT k, v;
	int n = 0;

	db = open_or_die(testdir("raw", dir, sizeof dir));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.7", "alice@example.net", T0), 0);
	relaydb_close(db);

	snprintf(path, sizeof path, "%s/relay.db", dir);
	CU_ASSERT_EQUAL_FATAL(db_create(&raw, NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(raw->open(raw, NULL, path, NULL, DB_UNKNOWN, DB_RDONLY, 0), 0);
	CU_ASSERT_EQUAL(raw->get_type(raw, &type), 0);
	CU_ASSERT_EQUAL(type, DB_HASH);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = "192.0.2.7";
	k.size = 9;
	CU_ASSERT_EQUAL(raw->get(raw, NULL, &k, &v, 0), 0);
	CU_ASSERT_EQUAL(v.size, sizeof want - 1);
	CU_ASSERT(v.size == sizeof want - 1 && memcmp(v.data, want, v.size) == 0);
	k.size = 10;	/* with a NUL: not how it is stored */
	CU_ASSERT_EQUAL(raw->get(raw, NULL, &k, &v, 0), DB_NOTFOUND);
	CU_ASSERT_EQUAL_FATAL(raw->cursor(raw, NULL, &c, 0), 0);
	memset(&k, 0, sizeof k);
	while (c->get(c, &k, &v, DB_NEXT) == 0) {
		n++;
		CU_ASSERT_EQUAL(k.size, 9);
	}
	CU_ASSERT_EQUAL(n, 1);
	c->close(c);
	raw->close(raw, 0);

	CU_ASSERT_EQUAL(run(argv, out, sizeof out), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "type=hash\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "HEADER=END\n 192.0.2.7\n 1700000000 alice@example.net\nDATA=END\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "\\00"));
	CU_ASSERT_EQUAL(verify(dir), 0);
}

static void test_missing_file(void)
{
	char dir[256], path[512];
	struct relaydb *db;

	db = open_or_die(testdir("missing", dir, sizeof dir));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.7", "alice@example.net", T0), 0);
	relaydb_close(db);
	snprintf(path, sizeof path, "%s/relay.db", dir);
	CU_ASSERT_EQUAL(unlink(path), 0);
	db = open_or_die(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_recreated(db), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(relaydb_strerror(db), "relay.db was missing; recreated empty"));
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.7", NULL, NULL, 0), 0);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.8", "bob@example.net", T0), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.8", NULL, NULL, 0), 1);
	relaydb_close(db);
	CU_ASSERT_EQUAL(verify(dir), 0);
}

/* The name of the one relay.db.corrupt-* file in dir, or "". */
static void find_aside(const char *dir, char *name, size_t len, int *count)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	name[0] = '\0';
	*count = 0;
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "relay.db.corrupt-", 17) == 0) {
			snprintf(name, len, "%s/%s", dir, de->d_name);
			++*count;
		}
	closedir(d);
}

static void test_corrupt_file(void)
{
	char dir[256], path[512], aside[512], junk[8192];
	struct relaydb *db;
	struct stat st;
	int fd, count;

	db = open_or_die(testdir("corrupt", dir, sizeof dir));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.7", "alice@example.net", T0), 0);
	relaydb_close(db);
	snprintf(path, sizeof path, "%s/relay.db", dir);
	memset(junk, 'Z', sizeof junk);
	fd = open(path, O_WRONLY | O_TRUNC);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_EQUAL(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);

	db = open_or_die(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_recreated(db), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(relaydb_strerror(db), "relay.db.corrupt-"));
	printf("# note: %s\n", relaydb_strerror(db));
	find_aside(dir, aside, sizeof aside, &count);
	CU_ASSERT_EQUAL(count, 1);
	CU_ASSERT_EQUAL(stat(aside, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, (off_t)sizeof junk);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.7", NULL, NULL, 0), 0);
	CU_ASSERT_EQUAL(relaydb_authorize(db, "192.0.2.8", "bob@example.net", T0), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.8", NULL, NULL, 0), 1);
	relaydb_close(db);
	CU_ASSERT_EQUAL(verify(dir), 0);
	db = open_or_die(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_recreated(db), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.8", NULL, NULL, 0), 1);
	relaydb_close(db);
}

/* A handle does not cross fork(); the child opens its own. */
static void test_fork_handle(void)
{
	char dir[256], err[256];
	struct relaydb *db;
	pid_t pid;

	db = open_or_die(testdir("fork", dir, sizeof dir));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	fflush(stdout);
	pid = fork();
	CU_ASSERT_FATAL(pid != -1);
	if (pid == 0) {
		struct relaydb *own;

		alarm(10);
		if (relaydb_authorize(db, "192.0.2.1", "x", T0) != -1 ||
		    strstr(relaydb_strerror(db), "did not open") == NULL)
			_exit(2);
		relaydb_close(db);
		if ((own = relaydb_open(dir, err, sizeof err)) == NULL)
			_exit(3);
		if (relaydb_authorize(own, "192.0.2.2", "child", T0) != 0)
			_exit(4);
		relaydb_close(own);
		_exit(0);
	}
	CU_ASSERT_EQUAL(reap(pid, "fork child"), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.1", NULL, NULL, 0), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "192.0.2.2", NULL, NULL, 0), 1);
	relaydb_close(db);
}

#define WRITERS 20
#define PER_WRITER 200

/* A forked writer: its own handle, PER_WRITER entries; the exit status. */
static int writer(const char *dir, int w)
{
	char err[256], key[64], user[64];
	struct relaydb *db;
	int i;

	alarm(15);
	if ((db = relaydb_open(dir, err, sizeof err)) == NULL) {
		fprintf(stderr, "writer %d: %s\n", w, err);
		return 2;
	}
	for (i = 0; i < PER_WRITER; i++) {
		snprintf(key, sizeof key, "10.%d.%d.%d", w, i / 256, i % 256);
		snprintf(user, sizeof user, "w%d-%d@example.net", w, i);
		if (relaydb_authorize(db, key, user, T0 + i) != 0) {
			fprintf(stderr, "writer %d: %s\n", w, relaydb_strerror(db));
			return 3;
		}
	}
	relaydb_close(db);
	return 0;
}

struct tally {
	int total, good;
};

static int check_writer_entry(const char *key, time_t when, const char *user, void *arg)
{
	struct tally *t = arg;
	char want[64];
	int w, a, b, i;

	t->total++;
	if (sscanf(key, "10.%d.%d.%d", &w, &a, &b) != 3)
		return 0;
	i = a * 256 + b;
	snprintf(want, sizeof want, "w%d-%d@example.net", w, i);
	if (when == T0 + i && strcmp(user, want) == 0)
		t->good++;
	return 0;
}

static void test_many_writers(void)
{
	char dir[256];
	pid_t pids[WRITERS];
	struct relaydb *db;
	struct tally t = { 0, 0 };
	double t0, ms;
	int w, failed = 0;

	testdir("writers", dir, sizeof dir);
	fflush(stdout);
	t0 = now_ms();
	for (w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		CU_ASSERT_FATAL(pids[w] != -1);
		if (pids[w] == 0)
			_exit(writer(dir, w));
	}
	for (w = 0; w < WRITERS; w++)
		if (reap(pids[w], "writer") != 0)
			failed++;
	ms = now_ms() - t0;
	printf("# %d writes by %d processes (each opening its own handle): %.0f ms\n",
	    WRITERS * PER_WRITER, WRITERS, ms);
	CU_ASSERT_EQUAL(failed, 0);
	db = open_or_die(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_foreach(db, check_writer_entry, &t), 0);
	relaydb_close(db);
	CU_ASSERT_EQUAL(t.total, WRITERS * PER_WRITER);
	CU_ASSERT_EQUAL(t.good, WRITERS * PER_WRITER);
	CU_ASSERT_EQUAL(verify(dir), 0);
}

/*
 * The pid relaydb.c leaves in relay.db.lock while inside the library
 * (struct lockhdr there: 8 bytes magic, 8 bytes generation, 8 bytes pid).
 */
static long long busy_pid(const char *dir)
{
	char path[512];
	int64_t busy = 0;
	int fd;

	snprintf(path, sizeof path, "%s/relay.db.lock", dir);
	if ((fd = open(path, O_RDONLY)) == -1)
		return -1;
	if (pread(fd, &busy, sizeof busy, 16) != (ssize_t)sizeof busy)
		busy = -1;
	close(fd);
	return (long long)busy;
}

/*
 * Stop pid at moments until it is inside the library, holding the lock
 * (then the pid in relay.db.lock is its own); leave it stopped there.
 * 1 when caught.
 */
static int catch_inside(const char *dir, pid_t pid)
{
	int tries, st;

	for (tries = 0; tries < 500; tries++) {
		sleep_ms(tries % 3);
		if (kill(pid, SIGSTOP) == -1 || waitpid(pid, &st, WUNTRACED) != pid ||
		    !WIFSTOPPED(st)) {
			printf("# victim %d gone before it was caught\n", (int)pid);
			return 0;
		}
		if (busy_pid(dir) == (long long)pid)
			return 1;
		kill(pid, SIGCONT);
	}
	printf("# victim %d never caught inside the library\n", (int)pid);
	return 0;
}

/* Keep writing until killed. */
static void victim(const char *dir, int ready_fd)
{
	char err[256], key[64];
	struct relaydb *db;
	unsigned i;

	alarm(20);
	if ((db = relaydb_open(dir, err, sizeof err)) == NULL)
		_exit(2);
	if (ready_fd != -1 && write(ready_fd, "r", 1) != 1)
		_exit(3);
	for (i = 0;; i++) {
		snprintf(key, sizeof key, "198.51.100.%u", i % 256);
		(void)relaydb_authorize(db, key, "victim@example.net", T0 + i);
		(void)relaydb_is_authorized(db, key, T0 + i, 1800);
	}
}

/*
 * A process that had the handle open before the kills: when told, work for
 * run_ms (writes and reads, each checked) and exit 0, all within alarm.
 */
static void survivor(const char *dir, int id, int ready_fd, int go_fd, long run_ms)
{
	char err[256], key[64], user[300], c;
	struct relaydb *db;
	time_t when;
	double end;
	int i;

	alarm(15);
	if ((db = relaydb_open(dir, err, sizeof err)) == NULL) {
		fprintf(stderr, "survivor %d: %s\n", id, err);
		_exit(2);
	}
	if (write(ready_fd, "r", 1) != 1 || read(go_fd, &c, 1) != 1)
		_exit(3);
	end = now_ms() + (double)run_ms;
	for (i = 0; i == 0 || now_ms() < end || i < 20; i++) {
		snprintf(key, sizeof key, "172.16.%d.%d", id, i % 256);
		if (relaydb_authorize(db, key, "survivor", T0 + i) != 0 ||
		    relaydb_lookup(db, key, &when, user, sizeof user) != 1 ||
		    when != T0 + i || strcmp(user, "survivor") != 0 ||
		    relaydb_is_authorized(db, key, T0 + i + 1, 1800) != 1) {
			fprintf(stderr, "survivor %d op %d: %s\n", id, i, relaydb_strerror(db));
			_exit(4);
		}
	}
	relaydb_close(db);
	_exit(0);
}

/* A process started after a kill: open, write, read back, close. */
static void checker(const char *dir, int n)
{
	char err[256], key[64];
	struct relaydb *db;

	alarm(5);
	if ((db = relaydb_open(dir, err, sizeof err)) == NULL) {
		fprintf(stderr, "checker: %s\n", err);
		_exit(2);
	}
	snprintf(key, sizeof key, "203.0.113.%d", n);
	if (relaydb_authorize(db, key, "checker", T0 + n) != 0 ||
	    relaydb_is_authorized(db, key, T0 + n, 1800) != 1) {
		fprintf(stderr, "checker: %s\n", relaydb_strerror(db));
		_exit(3);
	}
	relaydb_close(db);
	_exit(0);
}

static int count_prefix(const char *key, time_t when, const char *user, void *arg)
{
	int *n = arg;

	(void)when;
	(void)user;
	if (strncmp(key, "203.0.113.", 10) == 0)
		n[0]++;
	else if (strncmp(key, "172.16.", 7) == 0)
		n[1]++;
	else if (strncmp(key, "198.51.100.", 11) == 0)
		n[2]++;
	return 0;
}

#define SURVIVORS 3
#define IDLERS 2
#define KILLS 12

/*
 * A writer killed with SIGKILL (most often inside the library, holding
 * Berkeley DB mutexes and locks) must not block anyone: processes that
 * were busy at the time, processes that had the handle open and idle, and
 * processes started afterwards all finish within their alarm.
 */
static void test_killed_writer(void)
{
	char dir[256], c;
	int ready[2], go[2], go2[2], vready[2], n[3] = { 0, 0, 0 };
	pid_t busy[SURVIVORS], idle[IDLERS], pid;
	struct relaydb *db;
	double t0, worst = 0, ms;
	int i, inside = 0, bad = 0;

	testdir("killed", dir, sizeof dir);
	db = open_or_die(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	relaydb_close(db);
	CU_ASSERT_FATAL(pipe(ready) == 0 && pipe(go) == 0 && pipe(go2) == 0);
	fflush(stdout);
	for (i = 0; i < SURVIVORS + IDLERS; i++) {
		pid = fork();
		CU_ASSERT_FATAL(pid != -1);
		if (pid == 0) {
			if (i < SURVIVORS)
				survivor(dir, i, ready[1], go[0], 700);
			else
				survivor(dir, i, ready[1], go2[0], 0);
		}
		if (i < SURVIVORS)
			busy[i] = pid;
		else
			idle[i - SURVIVORS] = pid;
	}
	for (i = 0; i < SURVIVORS + IDLERS; i++)
		CU_ASSERT_FATAL(read(ready[0], &c, 1) == 1);
	/* Start the busy ones, then kill writers while they work. */
	for (i = 0; i < SURVIVORS; i++)
		CU_ASSERT(write(go[1], "g", 1) == 1);
	for (i = 0; i < KILLS; i++) {
		CU_ASSERT_FATAL(pipe(vready) == 0);
		pid = fork();
		CU_ASSERT_FATAL(pid != -1);
		if (pid == 0) {
			close(vready[0]);
			victim(dir, vready[1]);
		}
		close(vready[1]);
		/*
		 * Mode 0: kill it at some moment while it writes. Mode 1: stop
		 * it until it is caught inside the library (its pid in the
		 * lock file), then kill it. Mode 2: the same, but from the
		 * start, so it may die inside its open (and recovery).
		 */
		if (i % 3 != 2)
			CU_ASSERT(read(vready[0], &c, 1) == 1);
		if (i % 3 == 0)
			sleep_ms(1 + (i * 7) % 13);
		else
			inside += catch_inside(dir, pid);
		kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		close(vready[0]);
		t0 = now_ms();
		fflush(stdout);
		pid = fork();
		CU_ASSERT_FATAL(pid != -1);
		if (pid == 0)
			checker(dir, i);
		if (reap(pid, "checker") != 0)
			bad++;
		ms = now_ms() - t0;
		if (ms > worst)
			worst = ms;
	}
	for (i = 0; i < IDLERS; i++)
		CU_ASSERT(write(go2[1], "g", 1) == 1);
	for (i = 0; i < SURVIVORS; i++)
		if (reap(busy[i], "busy survivor") != 0)
			bad++;
	for (i = 0; i < IDLERS; i++)
		if (reap(idle[i], "idle survivor") != 0)
			bad++;
	printf("# writer caught and killed inside the library in %d of %d runs; "
	    "slowest checker after a kill: %.1f ms\n", inside, KILLS, worst);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(inside, KILLS * 2 / 3);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	close(go2[0]);
	close(go2[1]);

	db = open_or_die(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_foreach(db, count_prefix, n), 0);
	relaydb_close(db);
	CU_ASSERT_EQUAL(n[0], KILLS);
	CU_ASSERT(n[1] >= (SURVIVORS + IDLERS) * 20);
	CU_ASSERT(n[2] >= 1);
	CU_ASSERT_EQUAL(verify(dir), 0);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("relaydb", NULL, NULL);
	CU_add_test(s, "open creates relay.db and its lock file, mode 0600", test_open_creates_files);
	CU_add_test(s, "authorize then lookup", test_authorize_lookup);
	CU_add_test(s, "is_authorized at the TTL boundaries", test_ttl_boundaries);
	CU_add_test(s, "a refresh replaces time and user", test_refresh);
	CU_add_test(s, "delete", test_delete);
	CU_add_test(s, "expire counts and removes exactly the old ones", test_expire);
	CU_add_test(s, "foreach visits every entry, stops early", test_foreach);
	CU_add_test(s, "bad keys, users and times are refused", test_invalid_input);
	CU_add_test(s, "stored bytes: plain key and value, no NUL (DB API, db_dump -p)", test_raw_bytes);
	CU_add_test(s, "a deleted relay.db is recreated", test_missing_file);
	CU_add_test(s, "a corrupt relay.db is moved aside and recreated", test_corrupt_file);
	CU_add_test(s, "a handle does not cross fork", test_fork_handle);
	CU_add_test(s, "20 forked writers x 200 entries", test_many_writers);
	CU_add_test(s, "a writer killed with SIGKILL blocks no one", test_killed_writer);
	return cutap_run();
}
