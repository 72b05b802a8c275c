/*
 * test_ratelimit.c: the outbound sending limits below the session: the
 * two-bucket sliding-window arithmetic of common/ratelimit.c, and the
 * counters in the relay DB environment (relaydb_rate_take and kin): exact
 * counts at the limit, nothing counted when refused, the first refusal of
 * a window marked once, and no increment lost between processes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cutap.h"
#include "ratelimit.h"
#include "relaydb.h"

/* Windows of 100 s starting at 1000. */
#define W 100
#define T0 1000LL

static void test_roll_and_estimate(void)
{
	struct rate_counter c;

	rate_init(&c, T0 + 37, W);
	CU_ASSERT_EQUAL(c.start, T0);
	CU_ASSERT_EQUAL(c.noted, -1);
	CU_ASSERT_EQUAL(rate_estimate(&c, T0 + 37, W), 0);
	c.cur = 10;
	rate_roll(&c, T0 + 99, W);
	CU_ASSERT_EQUAL(c.start, T0);
	CU_ASSERT_EQUAL(rate_estimate(&c, T0 + 99, W), 10);
	/* next window: the previous count weighs by what is left of it */
	rate_roll(&c, T0 + 100, W);
	CU_ASSERT_EQUAL(c.start, T0 + 100);
	CU_ASSERT_EQUAL(c.cur, 0);
	CU_ASSERT_EQUAL(c.prev, 10);
	CU_ASSERT_EQUAL(rate_estimate(&c, T0 + 100, W), 10);
	CU_ASSERT_EQUAL(rate_estimate(&c, T0 + 150, W), 5);
	/* rounded up: 10 * 99/100 = 9.9 -> 10; 10 * 1/100 -> 1 */
	CU_ASSERT_EQUAL(rate_estimate(&c, T0 + 101, W), 10);
	CU_ASSERT_EQUAL(rate_estimate(&c, T0 + 199, W), 1);
	c.cur = 3;
	CU_ASSERT_EQUAL(rate_estimate(&c, T0 + 150, W), 8);
	/* a window later still: the old count is gone */
	rate_roll(&c, T0 + 200, W);
	CU_ASSERT_EQUAL(c.prev, 3);
	rate_roll(&c, T0 + 450, W);
	CU_ASSERT_EQUAL(c.start, T0 + 400);
	CU_ASSERT_EQUAL(c.cur, 0);
	CU_ASSERT_EQUAL(c.prev, 0);
	/* a clock that went back changes nothing */
	c.cur = 4;
	rate_roll(&c, T0 + 10, W);
	CU_ASSERT_EQUAL(c.start, T0 + 400);
	CU_ASSERT_EQUAL(c.cur, 4);
}

static void test_allows_at_the_limit(void)
{
	struct rate_counter c;

	rate_init(&c, T0, W);
	c.cur = 4;
	CU_ASSERT_EQUAL(rate_allows(&c, T0, W, 5), 1);	/* the 5th */
	c.cur = 5;
	CU_ASSERT_EQUAL(rate_allows(&c, T0, W, 5), 0);	/* the 6th */
	CU_ASSERT_EQUAL(rate_allows(&c, T0, W, 0), 1);	/* 0: no limit */
	/* just after a window turned, the whole previous count still holds */
	rate_roll(&c, T0 + W, W);
	CU_ASSERT_EQUAL(rate_allows(&c, T0 + W, W, 5), 0);
	CU_ASSERT_EQUAL(rate_allows(&c, T0 + W + 1, W, 5), 0);
	CU_ASSERT_EQUAL(rate_allows(&c, T0 + W + 20, W, 5), 1);	/* 5*80/100 = 4 */
	CU_ASSERT_EQUAL(rate_idle(&c, T0 + W + 20, W), 0);
	CU_ASSERT_EQUAL(rate_idle(&c, T0 + 2 * W, W), 1);
}

static void test_text(void)
{
	struct rate_counter c = { 1700000000LL, 12, 345, -1 }, d;
	char buf[RATE_VALUE_MAX + 1], key[64];

	CU_ASSERT_EQUAL(rate_format(buf, sizeof buf, &c), 0);
	CU_ASSERT_STRING_EQUAL(buf, "1700000000 12 345 -1");
	CU_ASSERT_EQUAL(rate_parse(buf, strlen(buf), &d), 0);
	CU_ASSERT_EQUAL(d.start, c.start);
	CU_ASSERT_EQUAL(d.cur, 12);
	CU_ASSERT_EQUAL(d.prev, 345);
	CU_ASSERT_EQUAL(d.noted, -1);
	CU_ASSERT_EQUAL(rate_parse("1 2 3", 5, &d), -1);
	CU_ASSERT_EQUAL(rate_parse("1 2 3 4 5", 9, &d), -1);
	CU_ASSERT_EQUAL(rate_parse("1 -2 3 4", 8, &d), -1);
	CU_ASSERT_EQUAL(rate_parse("1 2 3 4x", 8, &d), -1);
	CU_ASSERT_EQUAL(rate_parse("", 0, &d), -1);
	CU_ASSERT_EQUAL(rate_key(key, sizeof key, "user", "Alice@Example.TEST"), 0);
	CU_ASSERT_STRING_EQUAL(key, "user:alice@example.test");
	CU_ASSERT_EQUAL(rate_key(key, sizeof key, "addr", "2001:db8:1:2::/64"), 0);
	CU_ASSERT_STRING_EQUAL(key, "addr:2001:db8:1:2::/64");
	CU_ASSERT_EQUAL(rate_key(key, sizeof key, "user", "a b@x"), -1);
	CU_ASSERT_EQUAL(rate_key(key, sizeof key, "user", ""), -1);
	CU_ASSERT_EQUAL(rate_key(key, 8, "user", "abcdef"), -1);
}

static struct relaydb *open_db(const char *name)
{
	char dir[512], err[512];
	struct relaydb *db;

	(void)snprintf(dir, sizeof dir, "%s/%s", cutap_tmpdir(), name);
	CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
	db = relaydb_open(dir, err, sizeof err);
	if (db == NULL)
		printf("# relaydb_open: %s\n", err);
	return db;
}

/* One recipient against a user (limit ulimit) and an address (alimit). */
static int take(struct relaydb *db, long ulimit, long alimit, time_t now,
    struct relaydb_rate v[2])
{
	memset(v, 0, 2 * sizeof *v);
	v[0].key = "user:a@local.test";
	v[0].limit = ulimit;
	v[1].key = "addr:192.0.2.7";
	v[1].limit = alimit;
	return relaydb_rate_take(db, v, 2, now, W);
}

struct seen {
	long user, addr;
	int n;
};

static int seen_one(const char *key, const struct rate_counter *c, void *arg)
{
	struct seen *s = arg;

	s->n++;
	if (strcmp(key, "user:a@local.test") == 0)
		s->user = c->cur;
	else if (strcmp(key, "addr:192.0.2.7") == 0)
		s->addr = c->cur;
	return 0;
}

static void test_db_take(void)
{
	struct relaydb *db = open_db("take");
	struct relaydb_rate v[2];
	struct seen s = { 0, 0, 0 };
	int i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	/* limit 3: three pass, the 4th and 5th do not, counting nothing */
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(take(db, 3, 10, T0 + i, v), 1);
		CU_ASSERT_EQUAL(v[0].count, i);
	}
	CU_ASSERT_EQUAL(take(db, 3, 10, T0 + 5, v), 0);
	CU_ASSERT_EQUAL(v[0].over, 1);
	CU_ASSERT_EQUAL(v[0].first, 1);
	CU_ASSERT_EQUAL(v[1].over, 0);
	CU_ASSERT_EQUAL(v[1].first, 0);
	CU_ASSERT_EQUAL(take(db, 3, 10, T0 + 6, v), 0);
	CU_ASSERT_EQUAL(v[0].over, 1);
	CU_ASSERT_EQUAL(v[0].first, 0);	/* logged once a window */
	CU_ASSERT_EQUAL(relaydb_rate_foreach(db, seen_one, &s), 0);
	CU_ASSERT_EQUAL(s.n, 2);
	CU_ASSERT_EQUAL(s.user, 3);
	CU_ASSERT_EQUAL(s.addr, 3);	/* the refused ones not counted here either */
	/* a limit of 0 is off and counts nothing */
	CU_ASSERT_EQUAL(take(db, 0, 10, T0 + 7, v), 1);
	/* two windows on, all clear again; a new crossing is logged again */
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(take(db, 3, 10, T0 + 2 * W + i, v), 1);
	CU_ASSERT_EQUAL(take(db, 3, 10, T0 + 2 * W + 5, v), 0);
	CU_ASSERT_EQUAL(v[0].first, 1);
	/* reset lifts it at once */
	CU_ASSERT_EQUAL(relaydb_rate_reset(db, "user:a@local.test"), 1);
	CU_ASSERT_EQUAL(relaydb_rate_reset(db, "user:a@local.test"), 0);
	CU_ASSERT_EQUAL(take(db, 3, 10, T0 + 2 * W + 6, v), 1);
	/* expire drops what counts nothing any more */
	CU_ASSERT_EQUAL(relaydb_rate_expire(db, T0 + 2 * W + 7, W), 0);
	CU_ASSERT_EQUAL(relaydb_rate_expire(db, T0 + 5 * W, W), 2);
	s.n = 0;
	CU_ASSERT_EQUAL(relaydb_rate_foreach(db, seen_one, &s), 0);
	CU_ASSERT_EQUAL(s.n, 0);
	CU_ASSERT_EQUAL(relaydb_rate_reset(db, "bad key"), -1);
	relaydb_close(db);
}

#define PROCS 6
#define EACH 50

/* Processes counting into one counter at once lose no increment. */
static void test_db_concurrent(void)
{
	struct relaydb *db = open_db("conc");
	struct relaydb_rate v[2];
	struct seen s = { 0, 0, 0 };
	char dir[512];
	pid_t pids[PROCS];
	int p, failed = 0, st;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	relaydb_close(db);
	(void)snprintf(dir, sizeof dir, "%s/conc", cutap_tmpdir());
	fflush(stdout);
	for (p = 0; p < PROCS; p++) {
		pids[p] = fork();
		CU_ASSERT_FATAL(pids[p] != -1);
		if (pids[p] == 0) {
			char err[512];
			struct relaydb *d = relaydb_open(dir, err, sizeof err);
			int i, bad = 0;

			alarm(60);
			if (d == NULL)
				_exit(2);
			for (i = 0; i < EACH; i++)
				if (take(d, 1000000, 1000000, T0, v) != 1)
					bad++;
			relaydb_close(d);
			_exit(bad ? 1 : 0);
		}
	}
	for (p = 0; p < PROCS; p++)
		if (waitpid(pids[p], &st, 0) == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	CU_ASSERT_EQUAL(failed, 0);
	db = relaydb_open(dir, dir, sizeof dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_rate_foreach(db, seen_one, &s), 0);
	CU_ASSERT_EQUAL(s.user, PROCS * EACH);
	CU_ASSERT_EQUAL(s.addr, PROCS * EACH);
	relaydb_close(db);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("ratelimit", NULL, NULL);
	CU_add_test(s, "roll and estimate", test_roll_and_estimate);
	CU_add_test(s, "allows up to the limit", test_allows_at_the_limit);
	CU_add_test(s, "text form and keys", test_text);
	CU_add_test(s, "rate.db: take, refuse, first crossing, reset, expire", test_db_take);
	CU_add_test(s, "rate.db: no increment lost between processes", test_db_concurrent);
	return cutap_run();
}
