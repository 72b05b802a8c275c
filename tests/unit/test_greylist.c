/*
 * test_greylist.c: greylisting (filter/greylist.h) over a real greylist.db
 * in a relay DB environment, with a fake clock: first attempt, early retry,
 * pass, expiry, auto-allow, /24 and IPv6 prefix grouping, removal, and two
 * processes counting passes at once.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cutap.h"
#include "greylist.h"

#define T0 1700000000

static const struct greylist_conf G = { 1, 300, 100000, 3 };

static const char *testdir(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", cutap_tmpdir(), name);
	if (mkdir(buf, 0700) == -1 && errno != EEXIST) {
		perror(buf);
		exit(99);
	}
	return buf;
}

static struct relaydb *db_open(const char *name)
{
	char dir[512], err[512];
	struct relaydb *db = relaydb_open(testdir(name, dir, sizeof dir), err, sizeof err);

	if (db == NULL)
		printf("# relaydb_open: %s\n", err);
	return db;
}

/* One decision; "defer new 300", "pass passed 1 1", ... */
static const char *check(struct relaydb *db, const struct greylist_conf *g, const char *net,
    const char *from, const char *to, time_t now)
{
	static char out[128];
	struct greylist_result r;
	char err[512];

	greylist_check(db, g, net, from, to, now, &r, err, sizeof err);
	if (r.verdict == GREYLIST_DEFER)
		snprintf(out, sizeof out, "defer %s %ld", r.reason, r.wait);
	else
		snprintf(out, sizeof out, "pass %s %ld %ld", r.reason, r.passes, r.client_passes);
	if (err[0])
		printf("# greylist_check: %s\n", err);
	return out;
}

static void test_networks(void)
{
	char net[64];

	CU_ASSERT_EQUAL(greylist_client_net("192.0.2.77", 64, net, sizeof net), 0);
	CU_ASSERT_STRING_EQUAL(net, "192.0.2.0/24");
	CU_ASSERT_EQUAL(greylist_client_net("2001:db8:1:2:aaaa::5", 64, net, sizeof net), 0);
	CU_ASSERT_STRING_EQUAL(net, "2001:db8:1:2::/64");
	CU_ASSERT_EQUAL(greylist_client_net("2001:db8:1:2ff::5", 56, net, sizeof net), 0);
	CU_ASSERT_STRING_EQUAL(net, "2001:db8:1:200::/56");
	CU_ASSERT_EQUAL(greylist_client_net("2001:db8::1", 128, net, sizeof net), 0);
	CU_ASSERT_STRING_EQUAL(net, "2001:db8::1/128");
	/* A dual-stack listener's view of an IPv4 client: its /24, not ::ffff:0:0/64. */
	CU_ASSERT_EQUAL(greylist_client_net("::ffff:192.0.2.7", 64, net, sizeof net), 0);
	CU_ASSERT_STRING_EQUAL(net, "192.0.2.0/24");
	CU_ASSERT_EQUAL(greylist_client_net("nonsense", 64, net, sizeof net), -1);
	CU_ASSERT_EQUAL(greylist_client_net("192.0.2.0/24", 64, net, sizeof net), -1);
}

static void test_sender_key(void)
{
	static const struct {
		const char *in, *want;
	} c[] = {
		{ "Alice@Example.NET", "alice@example.net" },
		{ "", "" },
		{ "alice+list@example.net", "alice@example.net" },
		{ "prvs=1234abcd=alice@example.net", "alice@example.net" },
		{ "msprvs1=17abcde=bounces@example.net", "bounces@example.net" },
		{ "bounce-123-4567@lists.example", "bounce-#-#@lists.example" },
		{ "user2024@example.net", "user2024@example.net" },
		{ "42@example.net", "#@example.net" },
		{ "postmaster", "postmaster" },
	};
	char out[257];

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		CU_ASSERT_EQUAL(greylist_sender_key(c[i].in, out, sizeof out), 0);
		if (strcmp(out, c[i].want) != 0)
			printf("# %s -> %s, want %s\n", c[i].in, out, c[i].want);
		CU_ASSERT_STRING_EQUAL(out, c[i].want);
	}
}

static void test_semantics(void)
{
	struct relaydb *db = db_open("semantics");
	const char *n = "192.0.2.0/24";

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_STRING_EQUAL(check(db, &G, n, "a@x.example", "u@example.net", T0), "defer new 300");
	CU_ASSERT_STRING_EQUAL(check(db, &G, n, "a@x.example", "u@example.net", T0 + 100),
	    "defer early 200");
	CU_ASSERT_STRING_EQUAL(check(db, &G, n, "a@x.example", "u@example.net", T0 + 299),
	    "defer early 1");
	CU_ASSERT_STRING_EQUAL(check(db, &G, n, "A@X.example", "U@example.NET", T0 + 300),
	    "pass passed 1 1");
	CU_ASSERT_STRING_EQUAL(check(db, &G, n, "a@x.example", "u@example.net", T0 + 5000),
	    "pass passed 2 2");
	/* Another recipient is another triple. */
	CU_ASSERT_STRING_EQUAL(check(db, &G, n, "a@x.example", "v@example.net", T0 + 5000),
	    "defer new 300");
	/* Unseen for expire seconds: forgotten, new again. */
	CU_ASSERT_STRING_EQUAL(check(db, &G, n, "a@x.example", "v@example.net",
	    T0 + 5000 + G.expire), "defer new 300");
	/* Another /24 is another client. */
	CU_ASSERT_STRING_EQUAL(check(db, &G, "192.0.3.0/24", "a@x.example", "u@example.net",
	    T0 + 6000), "defer new 300");
	relaydb_close(db);
}

static void test_auto_allow(void)
{
	struct relaydb *db = db_open("auto");
	const char *n = "2001:db8:1:2::/64";
	char to[64];

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	for (int i = 0; i < 3; i++) {
		snprintf(to, sizeof to, "u%d@example.net", i);
		CU_ASSERT_STRING_EQUAL(check(db, &G, n, "a@x.example", to, T0), "defer new 300");
	}
	CU_ASSERT_STRING_EQUAL(check(db, &G, n, "a@x.example", "u0@example.net", T0 + 400),
	    "pass passed 1 1");
	CU_ASSERT_STRING_EQUAL(check(db, &G, n, "a@x.example", "u1@example.net", T0 + 400),
	    "pass passed 1 2");
	CU_ASSERT_STRING_EQUAL(check(db, &G, n, "a@x.example", "u2@example.net", T0 + 400),
	    "pass passed 1 3");
	/* Three passes: a new triple of the network is not greylisted. */
	CU_ASSERT_STRING_EQUAL(check(db, &G, n, "b@y.example", "new@example.net", T0 + 500),
	    "pass auto-allowed 0 4");
	/* auto_allow = 0: never. */
	{
		struct greylist_conf g = G;

		g.auto_allow = 0;
		CU_ASSERT_STRING_EQUAL(check(db, &g, n, "c@y.example", "new@example.net",
		    T0 + 500), "defer new 300");
	}
	/* The network's passes expire too. */
	CU_ASSERT_STRING_EQUAL(check(db, &G, n, "d@y.example", "new@example.net",
	    T0 + 500 + G.expire), "defer new 300");
	relaydb_close(db);
}

static int count_one(const struct greylist_entry *e, void *arg)
{
	long *n = arg;

	(void)e;
	(*n)++;
	return 0;
}

static long count(struct relaydb *db)
{
	long n = 0;

	CU_ASSERT_EQUAL(greylist_foreach(db, count_one, &n), 0);
	return n;
}

static void test_remove(void)
{
	struct relaydb *db = db_open("remove");

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	check(db, &G, "192.0.2.0/24", "a@x.example", "u@example.net", T0);
	check(db, &G, "192.0.2.0/24", "a@x.example", "u@example.net", T0 + 300);
	check(db, &G, "192.0.2.0/24", "", "v@example.net", T0);
	check(db, &G, "198.51.100.0/24", "b@x.example", "u@example.net", T0 + 1000);
	CU_ASSERT_EQUAL(count(db), 4);	/* three triples, one network */
	/* One triple, as the admin types it (case, +ext). */
	CU_ASSERT_EQUAL(greylist_remove(db, "192.0.2.0/24", "", "V@example.net", 0, 0), 1);
	CU_ASSERT_EQUAL(greylist_remove(db, "192.0.2.0/24", "", "v@example.net", 0, 0), 0);
	/* Expired at T0 + 300 + 100000: the network's entries, not the later one. */
	CU_ASSERT_EQUAL(greylist_remove(db, NULL, NULL, NULL, T0 + 300 + G.expire, G.expire), 2);
	CU_ASSERT_EQUAL(count(db), 1);
	check(db, &G, "192.0.2.0/24", "a@x.example", "u@example.net", T0 + 2000);
	/* Everything of one client. */
	CU_ASSERT_EQUAL(greylist_remove(db, "198.51.100.0/24", NULL, NULL, 0, 0), 1);
	CU_ASSERT_EQUAL(count(db), 1);
	/* Everything. */
	CU_ASSERT_EQUAL(greylist_remove(db, NULL, NULL, NULL, 0, 0), 1);
	CU_ASSERT_EQUAL(count(db), 0);
	relaydb_close(db);
}

static int put_junk(struct relaydb_txn *t, void *arg)
{
	static const char key[] = "192.0.2.0/24\0a@x.example\0u@example.net";
	char val[300];

	(void)arg;
	memset(val, '9', sizeof val);
	return relaydb_txn_put(t, key, sizeof key - 1, val, sizeof val);
}

/* A value that is not one (too long, junk): a new entry, and flush removes it. */
static void test_junk_value(void)
{
	struct relaydb *db = db_open("junk");

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(relaydb_table_run(db, GREYLIST_FILE, put_junk, NULL), 0);
	CU_ASSERT_STRING_EQUAL(check(db, &G, "192.0.2.0/24", "a@x.example", "u@example.net", T0),
	    "defer new 300");
	CU_ASSERT_EQUAL(relaydb_table_run(db, GREYLIST_FILE, put_junk, NULL), 0);
	CU_ASSERT_EQUAL(greylist_remove(db, NULL, NULL, NULL, 0, 0), 1);
	CU_ASSERT_EQUAL(count(db), 0);
	/* Only a plain name beside relay.db, never relay.db itself. */
	CU_ASSERT_EQUAL(relaydb_table_run(db, "relay.db", put_junk, NULL), -1);
	CU_ASSERT_EQUAL(relaydb_table_run(db, "../x.db", put_junk, NULL), -1);
	CU_ASSERT_EQUAL(relaydb_table_run(db, "x.txt", put_junk, NULL), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(relaydb_strerror(db), "bad table name"));
	relaydb_close(db);
}

/* The RCPT check: only outside, unauthorized clients, only when enabled. */
static void test_rcpt_check(void)
{
	struct relaydb *db = db_open("rcpt");
	struct greylist_result r;
	struct conf c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	memset(&c, 0, sizeof c);
	c.greylist = G;
	c.relay.ipv6_prefix = 64;
	CU_ASSERT_EQUAL(greylist_rcpt_check(db, &c, CLIENT_CUSTOMER, 0, "192.0.2.7", "a@x",
	    "u@example.net", T0, &r), GREYLIST_PASS);
	CU_ASSERT_STRING_EQUAL(r.reason, "exempt");
	CU_ASSERT_EQUAL(greylist_rcpt_check(db, &c, CLIENT_TRUSTED, 0, "192.0.2.7", "a@x",
	    "u@example.net", T0, &r), GREYLIST_PASS);
	CU_ASSERT_EQUAL(greylist_rcpt_check(db, &c, CLIENT_OUTSIDE, 1, "192.0.2.7", "a@x",
	    "u@example.net", T0, &r), GREYLIST_PASS);
	CU_ASSERT_STRING_EQUAL(r.reason, "exempt");
	CU_ASSERT_EQUAL(greylist_rcpt_check(db, &c, CLIENT_OUTSIDE, 0, "192.0.2.7", "a@x",
	    "u@example.net", T0, &r), GREYLIST_DEFER);
	/* Another host of the same /24 retries: it passes. */
	CU_ASSERT_EQUAL(greylist_rcpt_check(db, &c, CLIENT_OUTSIDE, 0, "192.0.2.8", "a@x",
	    "u@example.net", T0 + 300, &r), GREYLIST_PASS);
	CU_ASSERT_STRING_EQUAL(r.reason, "passed");
	c.greylist.enabled = 0;
	CU_ASSERT_EQUAL(greylist_rcpt_check(db, &c, CLIENT_OUTSIDE, 0, "192.0.2.7", "b@x",
	    "u@example.net", T0, &r), GREYLIST_PASS);
	CU_ASSERT_STRING_EQUAL(r.reason, "disabled");
	relaydb_close(db);
	/* No relay DB: the mail goes on. */
	c.greylist.enabled = 1;
	CU_ASSERT_EQUAL(greylist_rcpt_check(NULL, &c, CLIENT_OUTSIDE, 0, "192.0.2.7", "b@x",
	    "u@example.net", T0, &r), GREYLIST_PASS);
	CU_ASSERT_STRING_EQUAL(r.reason, "error");
}

static int net_passes(const struct greylist_entry *e, void *arg)
{
	if (e->sender == NULL)
		*(long *)arg = e->passes;
	return 0;
}

/* Two processes passing at once: every pass counted. */
static void test_two_processes(void)
{
	enum { N = 200 };
	char dir[512];
	struct relaydb *db;
	pid_t pid[2];
	long passes = -1;
	int st;

	testdir("fork", dir, sizeof dir);
	fflush(stdout);
	for (int p = 0; p < 2; p++) {
		if ((pid[p] = fork()) == 0) {
			struct greylist_conf g = G;
			char err[512], to[64];
			struct relaydb *d = relaydb_open(dir, err, sizeof err);
			int bad = d == NULL;

			g.auto_allow = 0;
			for (int i = 0; i < N && !bad; i++) {
				struct greylist_result r;

				snprintf(to, sizeof to, "p%d@example.net", p);
				greylist_check(d, &g, "192.0.2.0/24", "a@x.example", to,
				    T0 + (i == 0 ? 0 : 300 + i), &r, err, sizeof err);
				bad |= err[0] != '\0' ||
				    r.verdict != (i == 0 ? GREYLIST_DEFER : GREYLIST_PASS);
			}
			relaydb_close(d);
			_exit(bad);
		}
		CU_ASSERT_FATAL(pid[p] > 0);
	}
	for (int p = 0; p < 2; p++) {
		CU_ASSERT_EQUAL(waitpid(pid[p], &st, 0), pid[p]);
		CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	{
		char err[512];

		db = relaydb_open(dir, err, sizeof err);
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(greylist_foreach(db, net_passes, &passes), 0);
	CU_ASSERT_EQUAL(passes, 2 * (N - 1));
	relaydb_close(db);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("greylist", NULL, NULL);
	CU_add_test(s, "client networks: IPv4 /24, IPv6 ipv6_prefix", test_networks);
	CU_add_test(s, "sender keys: case, +ext, BATV, numbers", test_sender_key);
	CU_add_test(s, "new, early, passed, expired (fake clock)", test_semantics);
	CU_add_test(s, "auto_allow by network", test_auto_allow);
	CU_add_test(s, "remove: a triple, a client, expired, all", test_remove);
	CU_add_test(s, "the RCPT check: exemptions, enabled", test_rcpt_check);
	CU_add_test(s, "a junk value: replaced, and removable", test_junk_value);
	CU_add_test(s, "two processes: no pass lost", test_two_processes);
	return cutap_run();
}
