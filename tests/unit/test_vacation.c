/*
 * test_vacation.c: vacation replies (local/vacation.h). Every rule that
 * stops a reply (RFC 3834 §2), To:/Cc: address lists in their awkward
 * forms (display names, quoted strings, comments, groups, folding, case),
 * the 7-day memory over a real vacation.db with the clock as a parameter,
 * and the reply's header fields.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "conf.h"
#include "cutap.h"
#include "maildir.h"
#include "relaydb.h"
#include "user_vacation.h"
#include "users.h"
#include "vacation.h"

#define T0 1700000000
#define USER "bob@example.test"

static const char *const BOB[] = { USER };

/* The verdict for a header section, sender alice@remote.example, user bob. */
static enum vacation_verdict decide_h(const char *header)
{
	return vacation_decide("alice@remote.example", BOB, 1, header, strlen(header));
}

static void test_reply(void)
{
	CU_ASSERT_EQUAL(decide_h("From: alice@remote.example\nTo: bob@example.test\n"
	    "Subject: hi\n\nbody\n"), VACATION_REPLY);
	CU_ASSERT_EQUAL(decide_h("To: Bob@Example.TEST\n\n"), VACATION_REPLY);
	CU_ASSERT_EQUAL(decide_h("Cc: bob@example.test\n\n"), VACATION_REPLY);
	/* CRLF line ends, as a header section may have them. */
	CU_ASSERT_EQUAL(decide_h("Subject: x\r\nTo: bob@example.test\r\n\r\n"), VACATION_REPLY);
}

static void test_senders(void)
{
	const char *h = "To: bob@example.test\n\n";
	size_t n = strlen(h);

	CU_ASSERT_EQUAL(vacation_decide("", BOB, 1, h, n), VACATION_NULL_SENDER);
	CU_ASSERT_EQUAL(vacation_decide("MAILER-DAEMON@remote.example", BOB, 1, h, n),
	    VACATION_SYSTEM_SENDER);
	CU_ASSERT_EQUAL(vacation_decide("mailer-daemon", BOB, 1, h, n), VACATION_SYSTEM_SENDER);
	CU_ASSERT_EQUAL(vacation_decide("owner-list@lists.example", BOB, 1, h, n),
	    VACATION_SYSTEM_SENDER);
	CU_ASSERT_EQUAL(vacation_decide("list-Request@lists.example", BOB, 1, h, n),
	    VACATION_SYSTEM_SENDER);
	CU_ASSERT_EQUAL(vacation_decide("LISTSERV@lists.example", BOB, 1, h, n),
	    VACATION_SYSTEM_SENDER);
	CU_ASSERT_EQUAL(vacation_decide("majordomo@lists.example", BOB, 1, h, n),
	    VACATION_SYSTEM_SENDER);
	CU_ASSERT_EQUAL(vacation_decide("BOB@example.test", BOB, 1, h, n), VACATION_SELF);
	/* Near misses are people. */
	CU_ASSERT_EQUAL(vacation_decide("owner@remote.example", BOB, 1, h, n), VACATION_REPLY);
	CU_ASSERT_EQUAL(vacation_decide("requester@remote.example", BOB, 1, h, n),
	    VACATION_REPLY);
	CU_ASSERT_EQUAL(vacation_decide("mailer-daemonic@remote.example", BOB, 1, h, n),
	    VACATION_REPLY);
}

static void test_auto_submitted(void)
{
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nAuto-Submitted: auto-replied\n\n"),
	    VACATION_AUTO_SUBMITTED);
	CU_ASSERT_EQUAL(decide_h("Auto-Submitted: auto-generated; owner-email=x@y\n"
	    "To: bob@example.test\n\n"), VACATION_AUTO_SUBMITTED);
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nAUTO-SUBMITTED:\n  auto-notified\n\n"),
	    VACATION_AUTO_SUBMITTED);
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nAuto-Submitted: whatever\n\n"),
	    VACATION_AUTO_SUBMITTED);
	/* "no" is a person's mail, in any case and with a comment. */
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nAuto-Submitted: No (a person)\n\n"),
	    VACATION_REPLY);
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nAuto-Submitted: (typed) no\n\n"),
	    VACATION_REPLY);
}

static void test_precedence(void)
{
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nPrecedence: bulk\n\n"),
	    VACATION_PRECEDENCE);
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nPrecedence: LIST\n\n"),
	    VACATION_PRECEDENCE);
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nprecedence:junk\n\n"),
	    VACATION_PRECEDENCE);
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nPrecedence: first-class\n\n"),
	    VACATION_REPLY);
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nPrecedence: bulky\n\n"),
	    VACATION_REPLY);
}

static void test_lists(void)
{
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nList-Id: <users.lists.example>\n\n"),
	    VACATION_LIST);
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nList-Unsubscribe: <mailto:u@l.example>\n\n"),
	    VACATION_LIST);
	CU_ASSERT_EQUAL(decide_h("list-post: <mailto:p@l.example>\nTo: bob@example.test\n\n"),
	    VACATION_LIST);
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nX-Auto-Response-Suppress: DR, OOF\n\n"),
	    VACATION_SUPPRESSED);
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nX-Auto-Response-Suppress: All\n\n"),
	    VACATION_SUPPRESSED);
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\nX-Auto-Response-Suppress: DR, RN\n\n"),
	    VACATION_REPLY);
	/* A field of the same name in the body is not a header. */
	CU_ASSERT_EQUAL(decide_h("To: bob@example.test\n\nList-Id: <x>\nPrecedence: bulk\n"),
	    VACATION_REPLY);
}

static void test_addressed(void)
{
	static const char *const alias[] = { USER, "info@example.test" };

	/* Only in Bcc (the envelope): not named in To: or Cc:. */
	CU_ASSERT_EQUAL(decide_h("To: carol@example.test\nCc: dave@remote.example\n\n"),
	    VACATION_NOT_ADDRESSED);
	CU_ASSERT_EQUAL(decide_h("Subject: no To at all\n\n"), VACATION_NOT_ADDRESSED);
	CU_ASSERT_EQUAL(decide_h("To: undisclosed-recipients:;\n\n"), VACATION_NOT_ADDRESSED);
	/* Other fields naming the user do not count. */
	CU_ASSERT_EQUAL(decide_h("Reply-To: bob@example.test\nBcc: bob@example.test\n"
	    "From: bob@example.test\n\n"), VACATION_NOT_ADDRESSED);
	/* A To: in the body is not one. */
	CU_ASSERT_EQUAL(decide_h("Subject: x\n\nTo: bob@example.test\n"), VACATION_NOT_ADDRESSED);
	/* An alias that delivered to the user counts (the RCPT address). */
	CU_ASSERT_EQUAL(vacation_decide("a@remote.example", alias, 2,
	    "To: Info <INFO@example.test>\n\n", 30), VACATION_REPLY);
	CU_ASSERT_EQUAL(vacation_decide("a@remote.example", alias, 1,
	    "To: Info <INFO@example.test>\n\n", 30), VACATION_NOT_ADDRESSED);
}

static void test_address_forms(void)
{
	static const char *const yes[] = {
		"To: \"Bob Smith\" <bob@example.test>\n\n",
		"To: \"Smith, Bob\" <bob@example.test>, carol@example.test\n\n",
		"To: carol@example.test, \"Smith, Bob\" <bob@example.test>\n\n",
		"To: bob@example.test (Bob (the) Smith)\n\n",
		"To: (comment, with comma) bob@example.test\n\n",
		"To: Bob Smith <bob@example.test> (office)\n\n",
		"To: carol@example.test,\n bob@example.test\n\n",
		"To: carol@example.test,\r\n\tBob\r\n <bob@example.test>\r\n\r\n",
		"To: team: carol@example.test, bob@example.test;, dave@remote.example\n\n",
		"To: \"bob\"@example.test\n\n",
		"To: <@relay.example,@other.example:bob@example.test>\n\n",
		"To: bob @ example.test\n\n",
		"To: carol@example.test\nTo: bob@example.test\n\n",
		"To: =?utf-8?q?B=C3=B6b?= <bob@example.test>\n\n",
		"To: \"Quote \\\" and <x@y.example>\" <bob@example.test>\n\n",
		"Cc: a@b.example, c@d.example, BOB@EXAMPLE.TEST\n\n",
	};
	static const char *const no[] = {
		"To: \"bob@example.test\" <carol@example.test>\n\n",
		"To: xbob@example.test\n\n",
		"To: bob@example.test.evil\n\n",
		"To: bob@example\n\n",
		"To: carol@example.test (bob@example.test)\n\n",
		"To: Bob <carol@example.test>\n\n",
		"To: bob@example.test: carol@example.test;\n\n",
	};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (decide_h(yes[i]) != VACATION_REPLY)
			printf("# should reply: %s", yes[i]);
		CU_ASSERT_EQUAL(decide_h(yes[i]), VACATION_REPLY);
	}
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		if (decide_h(no[i]) != VACATION_NOT_ADDRESSED)
			printf("# should not reply: %s", no[i]);
		CU_ASSERT_EQUAL(decide_h(no[i]), VACATION_NOT_ADDRESSED);
	}
}

static void test_addrs_parse(void)
{
	struct vacation_addrs a = { NULL, 0 };
	const char *v = " \"Doe, J.\" <J.Doe@X.example>, g: a@b.example, (c) c@d.example ;,"
	    "\n\tlast@e.example (end)";

	vacation_addrs_parse(v, strlen(v), &a);
	CU_ASSERT_EQUAL_FATAL(a.n, 4);
	CU_ASSERT_STRING_EQUAL(a.v[0], "j.doe@x.example");
	CU_ASSERT_STRING_EQUAL(a.v[1], "a@b.example");
	CU_ASSERT_STRING_EQUAL(a.v[2], "c@d.example");
	CU_ASSERT_STRING_EQUAL(a.v[3], "last@e.example");
	vacation_addrs_free(&a);
	/* A NUL or a control byte makes no address (it would cut one short). */
	vacation_addrs_parse("bo\0b@e.example, x\x1fy@e.example, ok@e.example", 43, &a);
	CU_ASSERT_EQUAL_FATAL(a.n, 1);
	CU_ASSERT_STRING_EQUAL(a.v[0], "ok@e.example");
	vacation_addrs_free(&a);
	/* Unterminated quotes and comments end the value, never run past it. */
	vacation_addrs_parse("\"open <a@b.example>", 19, &a);
	vacation_addrs_parse("(open a@b.example", 17, &a);
	CU_ASSERT_EQUAL(a.n, 0);
	vacation_addrs_free(&a);
}

static void test_header_value(void)
{
	const char *h = "Subject: one\n  two\r\nX: y\nsubject: later\n\nSubject: body\n";
	struct buf b = BUF_INIT;

	CU_ASSERT_EQUAL(vacation_header_value(h, strlen(h), "SUBJECT", &b), 1);
	CU_ASSERT_STRING_EQUAL(b.s, "one  two");
	CU_ASSERT_EQUAL(vacation_header_value(h, strlen(h), "Message-ID", &b), 0);
	buf_reset(&b);
	vacation_header_copy(h, strlen(h), &b);
	CU_ASSERT_EQUAL(b.len, strlen("Subject: one\n  two\r\nX: y\nsubject: later\n"));
	buf_free(&b);
}

static struct relaydb *db_open(const char *name)
{
	char dir[512], err[512];
	struct relaydb *db;

	snprintf(dir, sizeof dir, "%s/%s", cutap_tmpdir(), name);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return NULL;
	db = relaydb_open(dir, err, sizeof err);
	if (db == NULL)
		printf("# relaydb_open: %s\n", err);
	return db;
}

static void test_memory(void)
{
	struct relaydb *db = db_open("memory");
	const char *a = "alice@remote.example";
	const long W = VACATION_WINDOW;
	char tag[17], tag2[17];

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	vacation_msg_tag("Subject: away\n\nAway.\n", 21, tag);
	vacation_msg_tag("Subject: away\n\nAway!\n", 21, tag2);
	CU_ASSERT_EQUAL(strlen(tag), 16);
	CU_ASSERT_STRING_NOT_EQUAL(tag, tag2);
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, a, tag, T0, W), 1);
	/* A second message within seven days: no reply. */
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, a, tag, T0 + 1, W), 0);
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, "ALICE@Remote.Example", tag,
	    T0 + W - 1, W), 0);
	/* After them: a reply again, and the window starts anew. */
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, a, tag, T0 + W, W), 1);
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, a, tag, T0 + W + 60, W), 0);
	/* Per user and per sender. */
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, "carol@remote.example", tag, T0 + 2, W), 1);
	CU_ASSERT_EQUAL(vacation_memory_claim(db, "dave@example.test", a, tag, T0 + 2, W), 1);
	/* A reply that could not be sent is forgotten. */
	CU_ASSERT_EQUAL(vacation_memory_forget(db, USER, a), 0);
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, a, tag, T0 + W + 61, W), 1);
	/* A clock set back past the entry: not a reason to stay silent for ever. */
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, a, tag, T0 - 10, W), 1);
	/* A new message: everyone hears it, once. */
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, a, tag2, T0 - 9, W), 1);
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, a, tag2, T0 - 8, W), 0);
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, "carol@remote.example", tag2, T0 + 3, W),
	    1);
	relaydb_close(db);
}

/* relay expire's part: entries past the window go, recent ones stay. */
static void test_memory_expire(void)
{
	struct relaydb *db = db_open("expire");
	const long W = VACATION_WINDOW;

	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, "old@remote.example", "t", T0, W), 1);
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, "new@remote.example", "t", T0 + W, W), 1);
	CU_ASSERT_EQUAL(vacation_memory_claim(db, "x@example.test", "a@b.example", "t", T0 + 5,
	    W), 1);
	CU_ASSERT_EQUAL(vacation_memory_expire(db, T0 + W + 5, W), 2);
	CU_ASSERT_EQUAL(vacation_memory_expire(db, T0 + W + 5, W), 0);
	/* Gone: a reply is due again; kept: not yet. */
	CU_ASSERT_EQUAL(vacation_memory_claim(db, USER, "new@remote.example", "t", T0 + W + 6,
	    W), 0);
	CU_ASSERT_EQUAL(vacation_memory_claim(db, "x@example.test", "a@b.example", "t",
	    T0 + W + 6, W), 1);
	relaydb_close(db);
}

static int has_line(const struct buf *b, const char *line)
{
	size_t n = strlen(line);
	const char *p = b->s;

	while (p != NULL && p < b->s + b->len) {
		if (strncmp(p, line, n) == 0 && p[n] == '\n')
			return 1;
		p = memchr(p, '\n', (size_t)(b->s + b->len - p));
		p = p ? p + 1 : NULL;
	}
	printf("# missing line: %s\n", line);
	return 0;
}

static void test_compose(void)
{
	struct conf c;
	struct buf out = BUF_INIT;
	const char *orig = "From: Alice <alice@remote.example>\nTo: bob@example.test\n"
	    "Subject: Lunch\n  on Friday?\nMessage-ID: <m1@remote.example>\n"
	    "References: <m0@remote.example>\n\nbody\n";
	const char *msg = "Subject: Away until Monday\r\n\r\nI am away.\r\nBack soon.";
	const char *sep;

	memset(&c, 0, sizeof c);
	c.hostname = "mx.example.test";
	vacation_compose(&c, USER, "alice@remote.example", msg, strlen(msg), orig,
	    strlen(orig), T0, "1700000000.M1P2Q3", &out);
	buf_appendc(&out, '\0');
	out.len--;
	CU_ASSERT(has_line(&out, "From: <bob@example.test>"));
	CU_ASSERT(has_line(&out, "To: <alice@remote.example>"));
	CU_ASSERT(has_line(&out, "Subject: Away until Monday"));
	CU_ASSERT(has_line(&out, "Auto-Submitted: auto-replied"));
	CU_ASSERT(has_line(&out, "In-Reply-To: <m1@remote.example>"));
	CU_ASSERT(has_line(&out, "References: <m0@remote.example> <m1@remote.example>"));
	CU_ASSERT(has_line(&out, "Message-ID: <1700000000.M1P2Q3.vacation@mx.example.test>"));
	CU_ASSERT(has_line(&out, "MIME-Version: 1.0"));
	CU_ASSERT(has_line(&out, "Content-Type: text/plain; charset=utf-8"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out.s, "\nDate: "));
	sep = strstr(out.s, "\n\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(sep);
	CU_ASSERT_STRING_EQUAL(sep + 2, "I am away.\nBack soon.\n");
	CU_ASSERT_PTR_NULL(strchr(out.s, '\r'));

	/* No Subject: in the file: "Auto: " and the original's, unfolded. */
	buf_reset(&out);
	vacation_compose(&c, USER, "alice@remote.example", "\nJust a body\n", 13, orig,
	    strlen(orig), T0, "x", &out);
	buf_appendc(&out, '\0');
	CU_ASSERT(has_line(&out, "Subject: Auto: Lunch  on Friday?"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out.s, "\n\nJust a body\n"));

	/* No header lines at all: the whole file is the body; no Message-ID, no threading. */
	buf_reset(&out);
	vacation_compose(&c, USER, "alice@remote.example", "Away.\n", 6, "To: x\n\n", 7, T0,
	    "x", &out);
	buf_appendc(&out, '\0');
	CU_ASSERT(has_line(&out, "Subject: Automated reply"));
	CU_ASSERT_PTR_NULL(strstr(out.s, "In-Reply-To"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out.s, "\n\nAway.\n"));

	/* A UTF-8 subject goes out as RFC 2047 encoded-words. */
	buf_reset(&out);
	msg = "Subject: Abwesend bis M\xc3\xa4rz\n\nText\n";
	vacation_compose(&c, USER, "alice@remote.example", msg, strlen(msg), orig,
	    strlen(orig), T0, "x", &out);
	buf_appendc(&out, '\0');
	CU_ASSERT(has_line(&out, "Subject: =?utf-8?B?QWJ3ZXNlbmQgYmlzIE3DpHJ6?="));
	buf_free(&out);
}

/* The operation ispmailctl and the web share: set, get, what is refused. */
static void test_admin(void)
{
	char root[PATH_MAX], users[PATH_MAX], md[PATH_MAX], err[512];
	const char *ok = "Subject: Away\r\n\r\nBack on Monday.\r\n";
	struct users u = { NULL, 0, NULL };
	struct buf msg = BUF_INIT;
	struct conf c;
	int on = -1;

	snprintf(root, sizeof root, "%s/mail", cutap_tmpdir());
	snprintf(users, sizeof users, "%s/users", cutap_tmpdir());
	memset(&c, 0, sizeof c);
	c.maildir_root = root;
	c.users_file = users;
	users_add(&u, USER, "$y$x", "quota=1M,color=blue");
	CU_ASSERT_EQUAL_FATAL(users_save(users, &u, err, sizeof err), 0);
	users_free(&u);
	CU_ASSERT_EQUAL_FATAL(maildir_path_for(root, USER, md, sizeof md), 0);
	CU_ASSERT_EQUAL_FATAL(maildir_make(md, (uid_t)-1, (gid_t)-1), 0);

	CU_ASSERT_EQUAL(admin_user_vacation_get(&c, USER, &on, &msg, err, sizeof err), 0);
	CU_ASSERT_EQUAL(on, 0);
	CU_ASSERT_EQUAL(msg.len, 0);
	CU_ASSERT_EQUAL(admin_user_vacation_set(&c, USER, 1, ok, strlen(ok), "test", err,
	    sizeof err), 0);
	CU_ASSERT_EQUAL(admin_user_vacation_get(&c, USER, &on, &msg, err, sizeof err), 0);
	CU_ASSERT_EQUAL(on, 1);
	buf_appendc(&msg, '\0');
	CU_ASSERT_STRING_EQUAL(msg.s, "Subject: Away\n\nBack on Monday.\n");
	CU_ASSERT_EQUAL(users_load(users, &u, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(u.v[0].options, "quota=1M,color=blue,vacation=yes");
	users_free(&u);
	CU_ASSERT_EQUAL(admin_user_vacation_set(&c, USER, 0, NULL, 0, "test", err,
	    sizeof err), 0);
	buf_reset(&msg);
	CU_ASSERT_EQUAL(admin_user_vacation_get(&c, USER, &on, &msg, err, sizeof err), 0);
	CU_ASSERT_EQUAL(on, 0);
	CU_ASSERT_EQUAL(msg.len, strlen("Subject: Away\n\nBack on Monday.\n"));

	/* Refused, and nothing changed. */
	CU_ASSERT_EQUAL(admin_user_vacation_set(&c, "eve@example.test", 1, ok, strlen(ok), "test",
	    err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no such user"));
	CU_ASSERT_EQUAL(admin_user_vacation_get(&c, "eve@example.test", &on, &msg, err,
	    sizeof err), -1);
	CU_ASSERT_EQUAL(admin_user_vacation_set(&c, USER, 1, "Subject: x\nFrom: y\n\nz\n", 22,
	    "test", err, sizeof err), -1);
	CU_ASSERT_EQUAL(admin_user_vacation_set(&c, USER, 1, "Subject: x\nbody\n", 16, "test", err,
	    sizeof err), -1);
	CU_ASSERT_EQUAL(admin_user_vacation_set(&c, USER, 1, "Subject: x\n\n\n", 13, "test", err,
	    sizeof err), -1);
	CU_ASSERT_EQUAL(admin_user_vacation_set(&c, USER, 1, "a\0b\n", 4, "test", err,
	    sizeof err), -1);
	CU_ASSERT_EQUAL(admin_user_vacation_set(&c, USER, 1, "a\rb\n", 4, "test", err,
	    sizeof err), -1);
	CU_ASSERT_EQUAL(admin_user_vacation_set(&c, USER, 1, "\xe4\n", 2, "test", err,
	    sizeof err), -1);
	CU_ASSERT_EQUAL(admin_user_vacation_set(&c, USER, 1, "\xc3\xa4\n", 3, "test", err,
	    sizeof err), 0);
	buf_reset(&msg);
	CU_ASSERT_EQUAL(admin_user_vacation_get(&c, USER, &on, &msg, err, sizeof err), 0);
	CU_ASSERT(on == 1 && msg.len == 4 && memcmp(msg.s, "\n\xc3\xa4\n", 4) == 0);
	buf_free(&msg);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("vacation", NULL, NULL);
	CU_add_test(s, "a person's mail to the user: reply", test_reply);
	CU_add_test(s, "senders: null, MAILER-DAEMON, owner-, -request, self", test_senders);
	CU_add_test(s, "Auto-Submitted other than no", test_auto_submitted);
	CU_add_test(s, "Precedence bulk, list, junk", test_precedence);
	CU_add_test(s, "List-Id and RFC 2369 fields, X-Auto-Response-Suppress", test_lists);
	CU_add_test(s, "not in To:/Cc: (Bcc), an alias counts", test_addressed);
	CU_add_test(s, "To:/Cc: forms: names, quotes, comments, groups, folding",
	    test_address_forms);
	CU_add_test(s, "address-list parsing", test_addrs_parse);
	CU_add_test(s, "header values: unfolded, any case, header section only",
	    test_header_value);
	CU_add_test(s, "the 7-day memory (fake clock)", test_memory);
	CU_add_test(s, "the memory's expiry", test_memory_expire);
	CU_add_test(s, "the reply's fields", test_compose);
	CU_add_test(s, "admin: set on/off, get, what is refused", test_admin);
	return cutap_run();
}
