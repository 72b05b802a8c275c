/*
 * test_admin.c: the administrator's operations that ispmailctl and the web
 * share (admin/users_admin.c, relay_admin.c, queue_admin.c), on a users
 * file, Maildirs, a relay DB and a queue in a temporary directory: the
 * password rules of the tool and of the web, what each change leaves on
 * disk, the refusals (and that they change nothing), and the one log line
 * per change with the actor's name.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "cutap.h"
#include "log.h"
#include "maildir.h"
#include "queue.h"
#include "queue_admin.h"
#include "relay_admin.h"
#include "state.h"
#include "relaydb.h"
#include "users.h"
#include "user_forward.h"
#include "user_vacation.h"
#include "users_admin.h"

#define ACTOR "postmaster@example.test"

static struct conf conf;
static char dir[PATH_MAX / 8], logpath[PATH_MAX];
static unsigned seq;
static int saved_stderr = -1;

/* A fresh folder with a configuration naming it; the users file absent. */
static void fresh(void)
{
	char path[PATH_MAX], err[512] = "", text[4096];
	FILE *f;

	conf_free(&conf);
	seq++;
	snprintf(dir, sizeof dir, "%s/admin%u", cutap_tmpdir(), seq);
	CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
	snprintf(text, sizeof text,
	    "hostname = \"mail.example.test\";\n"
	    "state_dir = \"%s/state\";\n"
	    "maildir_root = \"%s/mail\";\n"
	    "users_file = \"%s/users\";\n"
	    "domains = [ \"example.test\", \"example.org\" ];\n"
	    "listen = ( { service = \"pop3\"; address = \"127.0.0.1\"; port = 110; } );\n",
	    dir, dir, dir);
	snprintf(path, sizeof path, "%s/ispmaild.conf", dir);
	CU_ASSERT_FATAL((f = fopen(path, "w")) != NULL);
	fputs(text, f);
	CU_ASSERT_FATAL(fclose(f) == 0);
	snprintf(text, sizeof text, "%s/state", dir);
	CU_ASSERT_FATAL(mkdir(text, 0700) == 0);
	snprintf(text, sizeof text, "%s/mail", dir);
	CU_ASSERT_FATAL(mkdir(text, 0700) == 0);
	if (conf_load(path, &conf, err, sizeof err) != 0) {
		fprintf(stderr, "# %s\n", err);
		CU_FAIL_FATAL("conf_load");
	}
}

/* The log (stderr) into a file while a test runs. */
static void log_capture(void)
{
	int fd;

	snprintf(logpath, sizeof logpath, "%s/log", dir);
	fflush(stderr);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	if (saved_stderr == -1)
		saved_stderr = dup(STDERR_FILENO);
	CU_ASSERT_FATAL(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	close(fd);
	log_open("test_admin", 1);
	log_set_level(LOG_DEBUG);
}

/* What was logged since log_capture (stderr back as it was). */
static char *log_release(void)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f;

	fflush(stderr);
	if (saved_stderr != -1)
		dup2(saved_stderr, STDERR_FILENO);
	log_set_level(LOG_WARNING);	/* the changes made to set up a test */
	f = fopen(logpath, "r");
	CU_ASSERT_FATAL(f != NULL);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	buf_appendc(&b, '\0');
	return buf_steal(&b);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static char *slurp(const char *path)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	buf_appendc(&b, '\0');
	return buf_steal(&b);
}

/* Is there a directory at dir/rel? */
static int is_dir(const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof p, "%s/%s", dir, rel);
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- passwords ---- */

static void test_password_rules(void)
{
	char err[256], big[1100];

	/* The tool: anything not empty (an admin may set what an account had). */
	CU_ASSERT_EQUAL(admin_password_check("pw", &admin_password_tool, err, sizeof err), 0);
	CU_ASSERT_EQUAL(admin_password_check("tab\there", &admin_password_tool, err, sizeof err), 0);
	CU_ASSERT_EQUAL(admin_password_check("", &admin_password_tool, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "empty password");
	/* The web: 8 characters, counted as characters, not bytes. */
	CU_ASSERT_EQUAL(admin_password_check("12345678", &admin_password_web, err, sizeof err), 0);
	CU_ASSERT_EQUAL(admin_password_check("1234567", &admin_password_web, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "password shorter than 8 characters");
	CU_ASSERT_EQUAL(admin_password_check("passw\xc3\xb6rt", &admin_password_web, err,
	    sizeof err), 0);
	/* 7 characters in 10 bytes */
	CU_ASSERT_EQUAL(admin_password_check("\xc3\xa4\xc3\xb6\xc3\xbcpwd", &admin_password_web,
	    err, sizeof err), -1);
	CU_ASSERT_EQUAL(admin_password_check("tab\there!", &admin_password_web, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "password contains a control character");
	CU_ASSERT_EQUAL(admin_password_check("del\x7fhere!", &admin_password_web, err, sizeof err), -1);
	/*
	 * Both: no longer than crypt(3) can hash (fewer than 512 bytes): a
	 * longer one is refused as too long, not by a failing hash.
	 */
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CU_ASSERT_EQUAL(admin_password_check(big, &admin_password_tool, err, sizeof err), -1);
	big[600] = '\0';
	CU_ASSERT_EQUAL(admin_password_check(big, &admin_password_tool, err, sizeof err), -1);
	CU_ASSERT_EQUAL(admin_password_check(big, &admin_password_web, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "password longer than 511 bytes");
	big[512] = '\0';
	CU_ASSERT_EQUAL(admin_password_check(big, &admin_password_web, err, sizeof err), -1);
	big[511] = '\0';
	CU_ASSERT_EQUAL(admin_password_check(big, &admin_password_web, err, sizeof err), 0);
}

/* The longest password accepted can be hashed and checked. */
static void test_password_longest(void)
{
	char err[1024], hash[USERS_HASH_MAX], pw[512];

	fresh();
	memset(pw, 'y', sizeof pw - 1);
	pw[sizeof pw - 1] = '\0';
	CU_ASSERT_EQUAL(admin_user_add(&conf, "long", pw, &admin_password_web, (uid_t)-1,
	    (gid_t)-1, ACTOR, err, sizeof err), 0);
	CU_ASSERT_EQUAL(users_lookup(conf.users_file, "long@example.test", hash, sizeof hash), 1);
	CU_ASSERT_EQUAL(users_check_hash(hash, pw), 1);
}

/* ---- users ---- */

static void test_user_add(void)
{
	char err[1024], hash[USERS_HASH_MAX], path[PATH_MAX], *log;
	struct stat st;

	fresh();
	log_capture();
	/* The first user makes the users file, 0640, and the Maildir. */
	CU_ASSERT_EQUAL(admin_user_add(&conf, "Alice@Example.TEST", "first-pw1",
	    &admin_password_web, (uid_t)-1, (gid_t)-1, ACTOR, err, sizeof err), 0);
	CU_ASSERT_EQUAL(stat(conf.users_file, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
	CU_ASSERT(is_dir("mail/example.test/alice/new"));
	CU_ASSERT(is_dir("mail/example.test/alice/cur"));
	CU_ASSERT(is_dir("mail/example.test/alice/tmp"));
	CU_ASSERT_EQUAL(users_lookup(conf.users_file, "alice@example.test", hash, sizeof hash), 1);
	CU_ASSERT_EQUAL(users_check_hash(hash, "first-pw1"), 1);
	CU_ASSERT_EQUAL(strncmp(hash, "$y$", 3), 0);
	/* A bare name is a user of the first domain; the tool's rules allow "pw". */
	CU_ASSERT_EQUAL(admin_user_add(&conf, "bob", "pw", &admin_password_tool,
	    (uid_t)-1, (gid_t)-1, "ispmailctl", err, sizeof err), 0);
	CU_ASSERT_EQUAL(users_lookup(conf.users_file, "bob@example.test", hash, sizeof hash), 1);

	/* Refusals change nothing. */
	CU_ASSERT_EQUAL(admin_user_add(&conf, "alice@example.test", "another-pw",
	    &admin_password_web, (uid_t)-1, (gid_t)-1, ACTOR, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "user alice@example.test already exists");
	CU_ASSERT_EQUAL(admin_user_add(&conf, "carol@example.test", "short",
	    &admin_password_web, (uid_t)-1, (gid_t)-1, ACTOR, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "password shorter than 8 characters");
	CU_ASSERT_FALSE(is_dir("mail/example.test/carol"));
	CU_ASSERT_EQUAL(admin_user_add(&conf, "dave@elsewhere.example", "long-enough",
	    &admin_password_web, (uid_t)-1, (gid_t)-1, ACTOR, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "elsewhere.example is not a local domain"));
	CU_ASSERT_EQUAL(admin_user_add(&conf, "bad address", "long-enough",
	    &admin_password_web, (uid_t)-1, (gid_t)-1, ACTOR, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "invalid address \"bad address\"");
	CU_ASSERT_EQUAL(users_lookup(conf.users_file, "carol@example.test", hash, sizeof hash), 0);

	/* A symbolic link below maildir_root: refused, no user without a Maildir. */
	snprintf(path, sizeof path, "%s/mail/example.org", dir);
	CU_ASSERT_EQUAL(symlink(cutap_tmpdir(), path), 0);
	CU_ASSERT_EQUAL(admin_user_add(&conf, "eve@example.org", "long-enough",
	    &admin_password_web, (uid_t)-1, (gid_t)-1, ACTOR, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "is a symbolic link"));
	CU_ASSERT_EQUAL(users_lookup(conf.users_file, "eve@example.org", hash, sizeof hash), 0);

	log = log_release();
	CU_ASSERT_EQUAL(count(log, "admin action="), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(log,
	    "admin action=user-add user=alice@example.test by=postmaster@example.test\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "admin action=user-add user=bob@example.test by=ispmailctl\n"));
	free(log);
}

static void test_user_check(void)
{
	char err[1024], md[PATH_MAX], want[PATH_MAX];

	fresh();
	snprintf(want, sizeof want, "%s/mail/example.org/x", dir);
	CU_ASSERT_EQUAL(admin_user_check(&conf, "X@Example.Org", md, sizeof md, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(md, want);
	CU_ASSERT_EQUAL(admin_user_check(&conf, "x@example.net", NULL, 0, err, sizeof err), -1);
	/* It touched nothing. */
	CU_ASSERT_FALSE(is_dir("mail/example.org"));
	CU_ASSERT_EQUAL(access(conf.users_file, F_OK), -1);
	CU_ASSERT_EQUAL(admin_user_address(&conf, "Bob@Example.TEST.", md, sizeof md, err,
	    sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(md, "bob@example.test");
	CU_ASSERT_EQUAL(admin_user_address(&conf, "a@@b", md, sizeof md, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "invalid address a@@b");
}

static void test_user_password(void)
{
	char err[1024], hash[USERS_HASH_MAX], *before, *after, *log;

	fresh();
	CU_ASSERT_FATAL(admin_user_add(&conf, "alice", "old-password", &admin_password_web,
	    (uid_t)-1, (gid_t)-1, ACTOR, err, sizeof err) == 0);
	CU_ASSERT_FATAL(admin_user_quota_set(&conf, "alice@example.test", "10M", ACTOR, err,
	    sizeof err) == 0);
	log_capture();
	CU_ASSERT_EQUAL(admin_user_password_set(&conf, "ALICE@example.test", "new-password",
	    &admin_password_web, ACTOR, err, sizeof err), 0);
	CU_ASSERT_EQUAL(users_lookup(conf.users_file, "alice@example.test", hash, sizeof hash), 1);
	CU_ASSERT_EQUAL(users_check_hash(hash, "new-password"), 1);
	CU_ASSERT_EQUAL(users_check_hash(hash, "old-password"), 0);
	/* The options stay. */
	before = slurp(conf.users_file);
	CU_ASSERT_PTR_NOT_NULL(strstr(before, ":quota=10M"));

	/* Refused: too short for the web, unknown user; the file unchanged. */
	CU_ASSERT_EQUAL(admin_user_password_set(&conf, "alice", "short", &admin_password_web,
	    ACTOR, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "password shorter than 8 characters");
	CU_ASSERT_EQUAL(admin_user_password_set(&conf, "nobody", "long-enough",
	    &admin_password_web, ACTOR, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "no such user nobody@example.test");
	after = slurp(conf.users_file);
	CU_ASSERT_STRING_EQUAL(before, after);
	free(before);
	free(after);

	log = log_release();
	CU_ASSERT_EQUAL(count(log, "admin action="), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(log,
	    "admin action=user-password user=alice@example.test by=postmaster@example.test\n"));
	/* The password itself is never logged. */
	CU_ASSERT_PTR_NULL(strstr(log, "new-password"));
	free(log);
}

static void test_user_delete(void)
{
	char err[1024], hash[USERS_HASH_MAX], *log;

	fresh();
	CU_ASSERT_FATAL(admin_user_add(&conf, "alice", "password-1", &admin_password_web,
	    (uid_t)-1, (gid_t)-1, ACTOR, err, sizeof err) == 0);
	CU_ASSERT_FATAL(admin_user_add(&conf, "bob", "password-2", &admin_password_web,
	    (uid_t)-1, (gid_t)-1, ACTOR, err, sizeof err) == 0);
	log_capture();
	CU_ASSERT_EQUAL(admin_user_delete(&conf, "alice", "Post Master", err, sizeof err), 0);
	CU_ASSERT_EQUAL(users_lookup(conf.users_file, "alice@example.test", hash, sizeof hash), 0);
	CU_ASSERT_EQUAL(users_lookup(conf.users_file, "bob@example.test", hash, sizeof hash), 1);
	/* The Maildir is left in place. */
	CU_ASSERT(is_dir("mail/example.test/alice/new"));
	CU_ASSERT_EQUAL(admin_user_delete(&conf, "alice", ACTOR, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "no such user alice@example.test");
	log = log_release();
	CU_ASSERT_EQUAL(count(log, "admin action="), 1);
	/* An actor that is not a plain token is quoted, as client text is. */
	CU_ASSERT_PTR_NOT_NULL(strstr(log,
	    "admin action=user-delete user=alice@example.test by=\"Post Master\"\n"));
	free(log);
}

/*
 * Quota, forward and vacation, as ispmailctl and the web set them: one
 * "admin action=user-... by=ACTOR" line each, none for a refusal.
 */
static void test_user_options_logged(void)
{
	static const char *const fwd[] = { "x@remote.example" };
	static const char *const nobody[] = { "nosuch@example.test" };
	static const char msg[] = "Subject: Away\n\nBack on Monday.\n";
	char err[1024], *log;

	fresh();
	CU_ASSERT_FATAL(admin_user_add(&conf, "alice", "password-1", &admin_password_web,
	    (uid_t)-1, (gid_t)-1, ACTOR, err, sizeof err) == 0);
	log_capture();
	CU_ASSERT_EQUAL(admin_user_quota_set(&conf, "alice@example.test", "10M", ACTOR, err,
	    sizeof err), 0);
	CU_ASSERT_EQUAL(admin_user_quota_set(&conf, "alice@example.test", "lots", ACTOR, err,
	    sizeof err), -1);
	CU_ASSERT_EQUAL(admin_user_forward_set(&conf, "alice@example.test", fwd, 1, 1, ACTOR,
	    err, sizeof err), 0);
	CU_ASSERT_EQUAL(admin_user_forward_set(&conf, "alice@example.test", nobody, 1, 1, ACTOR,
	    err, sizeof err), -1);
	CU_ASSERT_EQUAL(strncmp(err, "bad destination", 15), 0);
	CU_ASSERT_EQUAL(admin_vacation_check(msg, strlen(msg), err, sizeof err), 0);
	CU_ASSERT_EQUAL(admin_vacation_check("Subject: x\n\n", 13, err, sizeof err), -1);
	CU_ASSERT_EQUAL(admin_user_vacation_set(&conf, "alice@example.test", 1, msg, strlen(msg),
	    "Post Master", err, sizeof err), 0);
	log = log_release();
	CU_ASSERT_EQUAL(count(log, "admin action="), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(log,
	    "admin action=user-quota user=alice@example.test quota=10M by=postmaster@example.test\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log,
	    "admin action=user-forward user=alice@example.test by=postmaster@example.test\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log,
	    "admin action=user-vacation user=alice@example.test state=on by=\"Post Master\"\n"));
	free(log);
}

static void test_user_list(void)
{
	struct admin_user *v;
	size_t n;
	char err[1024], path[PATH_MAX];

	fresh();
	CU_ASSERT_EQUAL(admin_user_list(&conf, &v, &n, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "users"));
	CU_ASSERT_FATAL(admin_user_add(&conf, "zed", "password-1", &admin_password_web,
	    (uid_t)-1, (gid_t)-1, ACTOR, err, sizeof err) == 0);
	CU_ASSERT_FATAL(admin_user_add(&conf, "amy@example.org", "password-2",
	    &admin_password_web, (uid_t)-1, (gid_t)-1, ACTOR, err, sizeof err) == 0);
	CU_ASSERT_FATAL(admin_user_quota_set(&conf, "amy@example.org", "1M", ACTOR, err,
	    sizeof err) == 0);
	snprintf(path, sizeof path, "%s/mail/example.org/amy", dir);
	CU_ASSERT_FATAL(maildir_deliver(path, "Subject: x\n\nhello\n", 18) == 0);

	CU_ASSERT_EQUAL_FATAL(admin_user_list(&conf, &v, &n, err, sizeof err), 0);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	/* File order. */
	CU_ASSERT_STRING_EQUAL(v[0].address, "zed@example.test");
	CU_ASSERT_STRING_EQUAL(v[0].options, "");
	CU_ASSERT_EQUAL(v[0].use.known, 1);
	CU_ASSERT_EQUAL(v[0].use.has_quota, 0);
	CU_ASSERT_EQUAL(v[0].use.bytes, 0);
	CU_ASSERT_STRING_EQUAL(v[1].address, "amy@example.org");
	CU_ASSERT_STRING_EQUAL(v[1].options, "quota=1M");
	CU_ASSERT_EQUAL(v[1].use.known, 1);
	CU_ASSERT_EQUAL(v[1].use.has_quota, 1);
	CU_ASSERT_EQUAL(v[1].use.quota, 1024 * 1024);
	CU_ASSERT_EQUAL(v[1].use.count, 1);
	CU_ASSERT(v[1].use.bytes >= 18);
	admin_user_list_free(v, n);
}

/* ---- the relay table ---- */

static int relay_collect(const struct admin_relay *r, void *arg)
{
	struct buf *b = arg;
	char line[256];

	snprintf(line, sizeof line, "%s %lld %lld %s\n", r->key, (long long)r->authorized,
	    r->expires_in, r->user);
	buf_appends(b, line);
	return 0;
}

static void test_relay(void)
{
	char err[1024], key[NET_ADDR_MAX], *log;
	struct relaydb *db;
	struct state *st;
	struct buf b = BUF_INIT;
	time_t t0 = 1700000000;
	long removed;

	fresh();
	CU_ASSERT_EQUAL(conf.relay.authorization_ttl, 1800);
	CU_ASSERT_EQUAL(conf.relay.ipv6_prefix, 64);
	db = relaydb_open(conf.state_dir, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	st = state_new(&conf);	/* the Berkeley DB backend, over db */
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	state_borrow_relaydb(st, db);
	log_capture();
	CU_ASSERT_EQUAL(admin_relay_key(&conf, "2001:db8:1:2::5", key, sizeof key, err,
	    sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(key, "2001:db8:1:2::/64");
	CU_ASSERT_EQUAL(admin_relay_key(&conf, "10.0.0.0/8", key, sizeof key, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "not an IP address (or an IPv6 /64 network): 10.0.0.0/8");

	CU_ASSERT_EQUAL(admin_relay_add(st, &conf, "192.0.2.7", t0, ACTOR, err, sizeof err), 0);
	CU_ASSERT_EQUAL(admin_relay_add(st, &conf, "2001:db8:1:2::5", t0 - 1000, ACTOR, err,
	    sizeof err), 0);
	CU_ASSERT_EQUAL(admin_relay_add(st, &conf, "nonsense", t0, ACTOR, err, sizeof err), -1);
	CU_ASSERT_EQUAL(relaydb_is_authorized(db, "192.0.2.7", t0 + 10, 1800), 1);

	/* Listed at t0 + 100: the seconds left, never below 0. */
	CU_ASSERT_EQUAL(admin_relay_list(st, &conf, t0 + 100, relay_collect, &b, err,
	    sizeof err), 0);
	buf_appendc(&b, '\0');
	CU_ASSERT_PTR_NOT_NULL(strstr(b.s, "192.0.2.7 1700000000 1700 admin\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.s, "2001:db8:1:2::/64 1699999000 700 admin\n"));
	buf_reset(&b);
	CU_ASSERT_EQUAL(admin_relay_list(st, &conf, t0 + 5000, relay_collect, &b, err,
	    sizeof err), 0);
	buf_appendc(&b, '\0');
	CU_ASSERT_PTR_NOT_NULL(strstr(b.s, "192.0.2.7 1700000000 0 admin\n"));

	CU_ASSERT_EQUAL(admin_relay_delete(st, &conf, "192.0.2.7", ACTOR, err, sizeof err), 0);
	CU_ASSERT_EQUAL(relaydb_is_authorized(db, "192.0.2.7", t0 + 10, 1800), 0);
	CU_ASSERT_EQUAL(admin_relay_delete(st, &conf, "192.0.2.7", ACTOR, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "no relay entry for 192.0.2.7");

	/* At t0 + 900 the IPv6 entry (from t0 - 1000) has expired; the new one not. */
	CU_ASSERT_EQUAL(admin_relay_add(st, &conf, "198.51.100.1", t0, ACTOR, err, sizeof err), 0);
	CU_ASSERT_EQUAL(admin_relay_expire(st, &conf, t0 + 900, ACTOR, &removed, err,
	    sizeof err), 0);
	CU_ASSERT_EQUAL(removed, 1);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "2001:db8:1:2::/64", NULL, NULL, 0), 0);
	CU_ASSERT_EQUAL(relaydb_lookup(db, "198.51.100.1", NULL, NULL, 0), 1);
	state_free(st);
	relaydb_close(db);

	log = log_release();
	CU_ASSERT_EQUAL(count(log, "admin action="), 5);
	CU_ASSERT_PTR_NOT_NULL(strstr(log,
	    "admin action=relay-add address=192.0.2.7 by=postmaster@example.test\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log,
	    "admin action=relay-add address=2001:db8:1:2::/64 by=postmaster@example.test\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log,
	    "admin action=relay-delete address=192.0.2.7 by=postmaster@example.test\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log,
	    "admin action=relay-expire removed=1 by=postmaster@example.test\n"));
	free(log);
	buf_free(&b);
}

/* ---- the queue ---- */

/* One message from alice to the recipients, held or not; its id into id. */
static void enqueue(const char *const *rcpts, int held, char *id, size_t idlen)
{
	static const char body[] = "Subject: queued\n\nhello\n";
	struct maildir_writer w;
	struct queue_env env;

	memset(&env, 0, sizeof env);
	env.arrival = time(NULL) - 60;
	env.sender = xstrdup("alice@example.test");
	env.client = xstrdup("192.0.2.7 helo.example");
	env.held = held;
	for (; *rcpts; rcpts++)
		queue_env_add_rcpt(&env, *rcpts);
	CU_ASSERT_FATAL(queue_data_open(&w, conf.state_dir) == 0);
	CU_ASSERT_FATAL(maildir_writer_write(&w, body, strlen(body)) == 0);
	CU_ASSERT_FATAL(maildir_writer_commit(&w) == 0);
	CU_ASSERT_FATAL(queue_commit(conf.state_dir, &w, &env) == 0);
	snprintf(id, idlen, "%s", env.id);
	queue_env_free(&env);
}

static int queue_collect(struct queue_env *env, void *arg)
{
	struct buf *b = arg;
	char line[512];

	snprintf(line, sizeof line, "%s %s%s", env->id, env->sender, env->held ? " held" : "");
	buf_appends(b, line);
	for (size_t i = 0; i < env->nrcpt; i++) {
		snprintf(line, sizeof line, " %s=%s", env->rcpt[i].address,
		    admin_queue_state_name(env->rcpt[i].state));
		buf_appends(b, line);
	}
	buf_appendc(b, '\n');
	return 0;
}

static void test_queue(void)
{
	static const char *const one[] = { "bob@remote.example", NULL };
	static const char *const two[] = { "carol@remote.example", "dan@other.example", NULL };
	char a[QUEUE_ID_MAX], h[QUEUE_ID_MAX], err[1024], want[512], path[PATH_MAX], *log;
	struct buf b = BUF_INIT;
	struct queue_env env;
	size_t due;
	int runner, fifo;

	fresh();
	CU_ASSERT_FATAL(queue_dirs_make(conf.state_dir) == 0);
	CU_ASSERT_EQUAL(admin_queue_list(&conf, queue_collect, &b, err, sizeof err), 0);
	enqueue(one, 0, a, sizeof a);
	enqueue(two, 1, h, sizeof h);
	log_capture();

	CU_ASSERT_EQUAL(admin_queue_list(&conf, queue_collect, &b, err, sizeof err), 2);
	buf_appendc(&b, '\0');
	snprintf(want, sizeof want, "%s alice@example.test bob@remote.example=pending\n", a);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.s, want));
	snprintf(want, sizeof want, "%s alice@example.test held carol@remote.example=pending "
	    "dan@other.example=pending\n", h);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.s, want));

	/* No runner listening: every pending recipient made due here. */
	CU_ASSERT_FATAL(queue_env_load(conf.state_dir, a, &env) == 0);
	env.rcpt[0].next_attempt = time(NULL) + 3600;
	CU_ASSERT_FATAL(queue_env_save(conf.state_dir, &env) == 0);
	queue_env_free(&env);
	CU_ASSERT_EQUAL(admin_queue_flush(&conf, ACTOR, &runner, &due, err, sizeof err), 0);
	CU_ASSERT_EQUAL(runner, 0);
	CU_ASSERT_EQUAL(due, 2);
	CU_ASSERT_FATAL(queue_env_load(conf.state_dir, a, &env) == 0);
	CU_ASSERT_EQUAL(env.rcpt[0].next_attempt, 0);
	queue_env_free(&env);
	/* A runner listening (its FIFO open for reading): asked, 'f' written. */
	snprintf(path, sizeof path, "%s/queue/wakeup", conf.state_dir);
	CU_ASSERT_FATAL(mkfifo(path, 0600) == 0);
	fifo = open(path, O_RDONLY | O_NONBLOCK);
	CU_ASSERT_FATAL(fifo >= 0);
	CU_ASSERT_EQUAL(admin_queue_flush(&conf, ACTOR, &runner, &due, err, sizeof err), 0);
	CU_ASSERT_EQUAL(runner, 1);
	{
		char ch = 0;

		CU_ASSERT_EQUAL(read(fifo, &ch, 1), 1);
		CU_ASSERT_EQUAL(ch, 'f');
	}

	/* Release: only a held message; the runner is woken ('n'). */
	CU_ASSERT_EQUAL(admin_queue_release(&conf, a, ACTOR, err, sizeof err), -1);
	snprintf(want, sizeof want, "queue release: %s: not held", a);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_EQUAL(admin_queue_release(&conf, h, ACTOR, err, sizeof err), 0);
	CU_ASSERT_FATAL(queue_env_load(conf.state_dir, h, &env) == 0);
	CU_ASSERT_EQUAL(env.held, 0);
	CU_ASSERT(env.arrival >= time(NULL) - 5);
	queue_env_free(&env);
	{
		char ch = 0;

		CU_ASSERT_EQUAL(read(fifo, &ch, 1), 1);
		CU_ASSERT_EQUAL(ch, 'n');
	}
	close(fifo);
	CU_ASSERT_EQUAL(admin_queue_release(&conf, "../env", ACTOR, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "queue release: ../env: not a queue id");

	/* Delete: envelope and data gone; again: no such message. */
	CU_ASSERT_EQUAL(admin_queue_delete(&conf, a, ACTOR, err, sizeof err), 0);
	CU_ASSERT_EQUAL(queue_env_load(conf.state_dir, a, &env), -1);
	CU_ASSERT_EQUAL(admin_queue_delete(&conf, a, ACTOR, err, sizeof err), -1);
	snprintf(want, sizeof want, "queue del: %s: no such message", a);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_EQUAL(admin_queue_delete(&conf, "../env", ACTOR, err, sizeof err), -1);
	CU_ASSERT_STRING_EQUAL(err, "queue del: ../env: not a queue id");
	buf_reset(&b);
	CU_ASSERT_EQUAL(admin_queue_list(&conf, queue_collect, &b, err, sizeof err), 1);

	log = log_release();
	CU_ASSERT_EQUAL(count(log, "admin action="), 4);
	CU_ASSERT_PTR_NOT_NULL(strstr(log,
	    "admin action=queue-flush runner=none by=postmaster@example.test\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log,
	    "admin action=queue-flush runner=asked by=postmaster@example.test\n"));
	snprintf(want, sizeof want, "admin action=queue-release id=%s by=%s\n", h, ACTOR);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, want));
	snprintf(want, sizeof want, "admin action=queue-delete id=%s by=%s\n", a, ACTOR);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, want));
	free(log);
	buf_free(&b);
	CU_ASSERT_STRING_EQUAL(admin_queue_state_name(QUEUE_RCPT_FAILED), "failed");
}

int main(void)
{
	CU_pSuite s;
	int rc;

	log_open("test_admin", 1);
	log_set_level(LOG_WARNING);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("admin", NULL, NULL);
	CU_add_test(s, "password rules: the tool's and the web's", test_password_rules);
	CU_add_test(s, "the longest password accepted is hashed", test_password_longest);
	CU_add_test(s, "user add: file, Maildir, hash, refusals, log", test_user_add);
	CU_add_test(s, "user check and address: nothing touched", test_user_check);
	CU_add_test(s, "user password: hash, options kept, refusals", test_user_password);
	CU_add_test(s, "user delete: Maildir kept, log", test_user_delete);
	CU_add_test(s, "user list: order, options, usage and quota", test_user_list);
	CU_add_test(s, "user quota, forward, vacation: one log line each", test_user_options_logged);
	CU_add_test(s, "relay: key, add, list, delete, expire, log", test_relay);
	CU_add_test(s, "queue: list, flush, release, delete, log", test_queue);
	rc = cutap_run();
	conf_free(&conf);
	return rc;
}
