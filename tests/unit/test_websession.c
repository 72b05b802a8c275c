/*
 * test_websession.c: the web's sessions (web/websession.c) in a relay DB
 * environment of their own: create, find and renew, expiry, the CSRF
 * token, delete, the sweep of expired ones, ending a user's other
 * sessions, and ids that are not ours.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cutap.h"
#include "relaydb.h"
#include "websession.h"

static struct relaydb *db_open(const char *name)
{
	char dir[512], err[256];
	struct relaydb *db;

	snprintf(dir, sizeof dir, "%s/%s", cutap_tmpdir(), name);
	(void)mkdir(dir, 0700);
	db = relaydb_open(dir, err, sizeof err);
	if (db == NULL)
		printf("# relaydb_open %s: %s\n", dir, err);
	return db;
}

static void test_create_get(void)
{
	struct relaydb *db = db_open("one");
	struct websession s, g;
	time_t when;

	CU_ASSERT_FATAL(db != NULL);
	CU_ASSERT_EQUAL(websession_create(db, "alice@example.net", 1000, 60, &s), 0);
	CU_ASSERT_EQUAL(strlen(s.id), 64);
	CU_ASSERT_EQUAL(strlen(s.csrf), 64);
	CU_ASSERT(strcmp(s.id, s.csrf) != 0);
	CU_ASSERT_EQUAL(s.expires, 1060);
	/* Found and renewed to now + ttl. */
	CU_ASSERT_EQUAL(websession_get(db, s.id, 1030, 60, &g), 1);
	CU_ASSERT_STRING_EQUAL(g.address, "alice@example.net");
	CU_ASSERT_STRING_EQUAL(g.csrf, s.csrf);
	CU_ASSERT_STRING_EQUAL(g.id, s.id);
	CU_ASSERT_EQUAL(websession_expiry(db, s.id, -1, &when), 1);
	CU_ASSERT_EQUAL(when, 1090);
	/* At its expiry it is gone, and stays gone. */
	CU_ASSERT_EQUAL(websession_get(db, s.id, 1090, 60, &g), 0);
	CU_ASSERT_EQUAL(websession_expiry(db, s.id, -1, &when), 0);
	relaydb_close(db);
}

static void test_foreign_ids(void)
{
	struct relaydb *db = db_open("two");
	struct websession s, g;
	char upper[WEBSESSION_HEX];

	CU_ASSERT_FATAL(db != NULL);
	CU_ASSERT_EQUAL(websession_create(db, "a@example.net", 1000, 60, &s), 0);
	CU_ASSERT_EQUAL(websession_get(db, "", 1000, 60, &g), 0);
	CU_ASSERT_EQUAL(websession_get(db, "abc", 1000, 60, &g), 0);
	CU_ASSERT_EQUAL(websession_get(db, s.csrf, 1000, 60, &g), 0);	/* the token opens nothing */
	for (size_t i = 0; i < sizeof upper; i++)
		upper[i] = (char)(s.id[i] >= 'a' && s.id[i] <= 'f' ? s.id[i] - 32 : s.id[i]);
	CU_ASSERT_EQUAL(websession_get(db, upper, 1000, 60, &g), 0);
	CU_ASSERT_EQUAL(websession_delete(db, s.csrf), 0);
	CU_ASSERT_EQUAL(websession_delete(db, s.id), 1);
	CU_ASSERT_EQUAL(websession_get(db, s.id, 1000, 60, &g), 0);
	relaydb_close(db);
}

static void test_sweep_and_others(void)
{
	struct relaydb *db = db_open("three");
	struct websession a1, a2, a3, b, g;

	CU_ASSERT_FATAL(db != NULL);
	CU_ASSERT_EQUAL(websession_create(db, "a@example.net", 1000, 60, &a1), 0);
	CU_ASSERT_EQUAL(websession_create(db, "a@example.net", 1000, 600, &a2), 0);
	CU_ASSERT_EQUAL(websession_create(db, "a@example.net", 1000, 600, &a3), 0);
	CU_ASSERT_EQUAL(websession_create(db, "b@example.net", 1000, 600, &b), 0);
	CU_ASSERT_EQUAL(websession_expire(db, 1100), 1);	/* a1 */
	CU_ASSERT_EQUAL(websession_end_others(db, "a@example.net", a2.id), 1);	/* a3 */
	CU_ASSERT_EQUAL(websession_get(db, a2.id, 1100, 600, &g), 1);
	CU_ASSERT_EQUAL(websession_get(db, a3.id, 1100, 600, &g), 0);
	CU_ASSERT_EQUAL(websession_get(db, b.id, 1100, 600, &g), 1);
	relaydb_close(db);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("websession", NULL, NULL);
	CU_add_test(s, "create, find, renew, expire", test_create_get);
	CU_add_test(s, "ids that are not a session's", test_foreign_ids);
	CU_add_test(s, "the sweep, and ending a user's other sessions", test_sweep_and_others);
	return cutap_run();
}
