/*
 * test_policy.c: the relay policy of docs/PROTOCOL.md walked row by row
 * (service x client class x authorization x recipient kind x HELO/EHLO):
 * each verdict, and the reply the session maps it to (smtp_verdict_reply()
 * and smtp_reply_format(), smtp_session.c) compared to the byte with the
 * texts docs/PROTOCOL.md quotes.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cutap.h"
#include "policy.h"
#include "smtpd.h"

/* docs/PROTOCOL.md, relay policy, verbatim. */
#define FIRST_POP_EHLO "553 5.7.1 To send mail, first check your mail with a valid POP account; this prevents unauthorized SPAM relaying."
#define FIRST_POP_HELO "553 To send mail, first check your mail with a valid POP account; this prevents unauthorized SPAM relaying. (#5.7.1)"
#define DENIED_EHLO "550 5.7.1 relaying to <user@remote.example> prohibited by administrator"
#define DENIED_HELO "550 relaying to <user@remote.example> prohibited by administrator"
#define AUTH_EHLO "530 5.7.0 Authentication required"
#define AUTH_HELO "530 Authentication required"
#define RCPT_OK_EHLO "250 2.1.5 Ok"
#define RCPT_OK_HELO "250 Ok"
#define MAIL_OK_EHLO "250 2.1.0 Ok"
#define MAIL_OK_HELO "250 Ok"

/*
 * The reply line the session sends for verdict v at MAIL (at_rcpt 0) or
 * RCPT, after EHLO or HELO, mailbox in the 550; without CRLF.
 */
static const char *verdict_text(enum smtp_verdict v, int at_rcpt, int esmtp,
    const char *mailbox)
{
	static char line[600];
	struct buf b = BUF_INIT;

	smtp_reply_format(&b, smtp_verdict_reply(v, at_rcpt, esmtp, mailbox),
	    esmtp, mailbox);
	buf_appendc(&b, '\0');
	str_copy(line, sizeof line, b.s);
	buf_free(&b);
	return line;
}

/* The same for a decision; its code. */
#define TEXT(d, at_rcpt, esmtp, mailbox) verdict_text((d)->verdict, at_rcpt, esmtp, mailbox)
#define CODE(d, at_rcpt) (smtp_verdict_reply((d)->verdict, at_rcpt, 1, "x")->code)

enum outcome { OK, RELAY, FIRST_POP, DENIED, AUTH_REQ };

static const char *const outcome_name[] = { "OK", "RELAY", "FIRST_POP", "DENIED", "AUTH_REQ" };
static const enum smtp_verdict outcome_verdict[] = {
	[OK] = SMTP_VERDICT_LOCAL, [RELAY] = SMTP_VERDICT_RELAY,
	[FIRST_POP] = SMTP_VERDICT_FIRST_POP, [DENIED] = SMTP_VERDICT_DENIED,
	[AUTH_REQ] = SMTP_VERDICT_AUTH_REQUIRED,
};

/*
 * One row of the relay policy table per class x authorization x kind, with
 * what port 25 does and what submission/smtps do (where MAIL has already
 * refused the unauthorized, and RCPT refuses them again).
 */
static const struct row {
	enum client_class cls;
	enum auth_source auth;
	enum smtp_rcpt_kind kind;
	enum outcome smtp;
	const char *smtp_reason;
	enum outcome submit;
	const char *submit_reason;
} rows[] = {
	{ CLIENT_TRUSTED, AUTH_SOURCE_NONE, SMTP_RCPT_LOCAL, OK, "local", OK, "local" },
	{ CLIENT_TRUSTED, AUTH_SOURCE_NONE, SMTP_RCPT_REMOTE, RELAY, "relay=trusted", RELAY, "relay=trusted" },
	{ CLIENT_TRUSTED, AUTH_SOURCE_POP, SMTP_RCPT_LOCAL, OK, "local", OK, "local" },
	{ CLIENT_TRUSTED, AUTH_SOURCE_POP, SMTP_RCPT_REMOTE, RELAY, "relay=trusted", RELAY, "relay=trusted" },
	{ CLIENT_TRUSTED, AUTH_SOURCE_SMTP, SMTP_RCPT_LOCAL, OK, "local", OK, "local" },
	{ CLIENT_TRUSTED, AUTH_SOURCE_SMTP, SMTP_RCPT_REMOTE, RELAY, "relay=auth", RELAY, "relay=auth" },

	{ CLIENT_CUSTOMER, AUTH_SOURCE_NONE, SMTP_RCPT_LOCAL, FIRST_POP, "relay=first-pop", AUTH_REQ, "auth-required" },
	{ CLIENT_CUSTOMER, AUTH_SOURCE_NONE, SMTP_RCPT_REMOTE, FIRST_POP, "relay=first-pop", AUTH_REQ, "auth-required" },
	{ CLIENT_CUSTOMER, AUTH_SOURCE_POP, SMTP_RCPT_LOCAL, OK, "local", OK, "local" },
	{ CLIENT_CUSTOMER, AUTH_SOURCE_POP, SMTP_RCPT_REMOTE, RELAY, "relay=pop-before-smtp", RELAY, "relay=pop-before-smtp" },
	{ CLIENT_CUSTOMER, AUTH_SOURCE_SMTP, SMTP_RCPT_LOCAL, OK, "local", OK, "local" },
	{ CLIENT_CUSTOMER, AUTH_SOURCE_SMTP, SMTP_RCPT_REMOTE, RELAY, "relay=auth", RELAY, "relay=auth" },

	{ CLIENT_OUTSIDE, AUTH_SOURCE_NONE, SMTP_RCPT_LOCAL, OK, "local", AUTH_REQ, "auth-required" },
	{ CLIENT_OUTSIDE, AUTH_SOURCE_NONE, SMTP_RCPT_REMOTE, DENIED, "relay=denied", AUTH_REQ, "auth-required" },
	{ CLIENT_OUTSIDE, AUTH_SOURCE_POP, SMTP_RCPT_LOCAL, OK, "local", OK, "local" },
	{ CLIENT_OUTSIDE, AUTH_SOURCE_POP, SMTP_RCPT_REMOTE, RELAY, "relay=pop-before-smtp", RELAY, "relay=pop-before-smtp" },
	{ CLIENT_OUTSIDE, AUTH_SOURCE_SMTP, SMTP_RCPT_LOCAL, OK, "local", OK, "local" },
	{ CLIENT_OUTSIDE, AUTH_SOURCE_SMTP, SMTP_RCPT_REMOTE, RELAY, "relay=auth", RELAY, "relay=auth" },
};

static const enum service services[] = { SERVICE_SMTP, SERVICE_SUBMISSION, SERVICE_SMTPS };

static void expect(enum outcome o, int esmtp, int *code, int *accept,
    int *relay, const char **text)
{
	*code = 0;
	*text = "";
	switch (o) {
	case OK:
	case RELAY:
		*code = 250;
		*accept = 1;
		*relay = o == RELAY;
		*text = esmtp ? RCPT_OK_EHLO : RCPT_OK_HELO;
		return;
	case FIRST_POP:
		*code = 553;
		*text = esmtp ? FIRST_POP_EHLO : FIRST_POP_HELO;
		break;
	case DENIED:
		*code = 550;
		*text = esmtp ? DENIED_EHLO : DENIED_HELO;
		break;
	case AUTH_REQ:
		*code = 530;
		*text = esmtp ? AUTH_EHLO : AUTH_HELO;
		break;
	}
	*accept = 0;
	*relay = 0;
}

/* 18 rows x 3 services x HELO/EHLO = 108 decisions. */
static void test_rcpt_table(void)
{
	unsigned walked = 0;

	for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
	for (size_t s = 0; s < sizeof services / sizeof services[0]; s++)
	for (int esmtp = 0; esmtp <= 1; esmtp++) {
		const struct row *t = &rows[r];
		int port25 = services[s] == SERVICE_SMTP;
		enum outcome o = port25 ? t->smtp : t->submit;
		const char *reason = port25 ? t->smtp_reason : t->submit_reason;
		struct smtp_decision d;
		int code, accept, relay, ret;
		const char *text;

		expect(o, esmtp, &code, &accept, &relay, &text);
		memset(&d, 0x5a, sizeof d);
		ret = smtp_policy_decide(services[s], t->cls, t->auth, t->kind, &d);
		if (d.verdict != outcome_verdict[o] || CODE(&d, 1) != code ||
		    strcmp(TEXT(&d, 1, esmtp, "user@remote.example"), text) != 0 ||
		    d.relay != relay || strcmp(d.reason, reason) != 0)
			printf("# %s/%s/auth=%d/%s/%s: got %d \"%s\" relay=%d %s, "
			    "expected %s\n", conf_service_name(services[s]),
			    net_client_class_name(t->cls), (int)t->auth,
			    smtp_rcpt_kind_name(t->kind), esmtp ? "EHLO" : "HELO",
			    CODE(&d, 1), TEXT(&d, 1, esmtp, "user@remote.example"),
			    d.relay, d.reason, outcome_name[o]);
		CU_ASSERT_EQUAL(ret, accept);
		CU_ASSERT_EQUAL(d.verdict, outcome_verdict[o]);
		CU_ASSERT_EQUAL(d.accept, accept);
		CU_ASSERT_EQUAL(d.relay, relay);
		CU_ASSERT_EQUAL(CODE(&d, 1), code);
		CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, esmtp, "user@remote.example"), text);
		CU_ASSERT_STRING_EQUAL(d.reason, reason);
		walked++;
	}
	CU_ASSERT_EQUAL(walked, 108);
}

/* MAIL: 3 services x 3 classes x 3 authorizations x HELO/EHLO. */
static void test_mail_table(void)
{
	static const enum client_class classes[] = { CLIENT_TRUSTED, CLIENT_CUSTOMER, CLIENT_OUTSIDE };
	static const enum auth_source auths[] = { AUTH_SOURCE_NONE, AUTH_SOURCE_POP, AUTH_SOURCE_SMTP };
	unsigned walked = 0;

	for (size_t s = 0; s < 3; s++)
	for (size_t c = 0; c < 3; c++)
	for (size_t a = 0; a < 3; a++)
	for (int esmtp = 0; esmtp <= 1; esmtp++) {
		int refused = services[s] != SERVICE_SMTP &&
		    classes[c] != CLIENT_TRUSTED && auths[a] == AUTH_SOURCE_NONE;
		const char *reason = auths[a] == AUTH_SOURCE_SMTP ? "auth" :
		    classes[c] == CLIENT_TRUSTED ? "trusted" :
		    auths[a] == AUTH_SOURCE_POP ? "pop-before-smtp" :
		    refused ? "auth-required" : "anonymous";
		struct smtp_decision d;
		int ret;

		ret = smtp_policy_mail(services[s], classes[c], auths[a], &d);
		CU_ASSERT_EQUAL(ret, !refused);
		CU_ASSERT_EQUAL(d.verdict, refused ? SMTP_VERDICT_AUTH_REQUIRED :
		    SMTP_VERDICT_SENDER_OK);
		CU_ASSERT_EQUAL(d.accept, !refused);
		CU_ASSERT_EQUAL(d.relay, 0);
		CU_ASSERT_EQUAL(CODE(&d, 0), refused ? 530 : 250);
		CU_ASSERT_STRING_EQUAL(TEXT(&d, 0, esmtp, NULL), refused ?
		    (esmtp ? AUTH_EHLO : AUTH_HELO) :
		    (esmtp ? MAIL_OK_EHLO : MAIL_OK_HELO));
		CU_ASSERT_STRING_EQUAL(d.reason, reason);
		walked++;
	}
	CU_ASSERT_EQUAL(walked, 54);

	/* The rows that matter most, spelled out. */
	struct smtp_decision d;

	CU_ASSERT_EQUAL(smtp_policy_mail(SERVICE_SUBMISSION, CLIENT_CUSTOMER, AUTH_SOURCE_NONE, &d), 0);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 0, 1, NULL), "530 5.7.0 Authentication required");
	CU_ASSERT_EQUAL(smtp_policy_mail(SERVICE_SMTPS, CLIENT_OUTSIDE, AUTH_SOURCE_NONE, &d), 0);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 0, 0, NULL), "530 Authentication required");
	CU_ASSERT_EQUAL(smtp_policy_mail(SERVICE_SMTPS, CLIENT_OUTSIDE, AUTH_SOURCE_POP, &d), 1);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 0, 0, NULL), "250 Ok");
	CU_ASSERT_EQUAL(smtp_policy_mail(SERVICE_SMTP, CLIENT_OUTSIDE, AUTH_SOURCE_NONE, &d), 1);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 0, 1, NULL), "250 2.1.0 Ok");
}

/* The 550 names the mailbox as written, and only if it is harmless. */
static void test_denied_mailbox(void)
{
	struct smtp_decision d;
	char longbox[300];

	smtp_policy_decide(SERVICE_SMTP, CLIENT_OUTSIDE, AUTH_SOURCE_NONE,
	    SMTP_RCPT_REMOTE, &d);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, 1, "\"a@remote.example\"@Example.Net."), "550 5.7.1 relaying to <\"a@remote.example\"@Example.Net.> prohibited by administrator");
	smtp_policy_decide(SERVICE_SMTP, CLIENT_OUTSIDE, AUTH_SOURCE_NONE,
	    SMTP_RCPT_REMOTE, &d);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, 0, "a%remote.example@example.net"), "550 relaying to <a%remote.example@example.net> prohibited by administrator");

	smtp_policy_decide(SERVICE_SMTP, CLIENT_OUTSIDE, AUTH_SOURCE_NONE,
	    SMTP_RCPT_REMOTE, &d);
	CU_ASSERT_EQUAL(d.verdict, SMTP_VERDICT_DENIED);
	CU_ASSERT_EQUAL(CODE(&d, 1), 550);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, 1, "a@b\r\n250 Ok"), "550 5.7.1 relaying prohibited by administrator");
	CU_ASSERT_STRING_EQUAL(d.reason, "relay=denied");
	smtp_policy_decide(SERVICE_SMTP, CLIENT_OUTSIDE, AUTH_SOURCE_NONE,
	    SMTP_RCPT_REMOTE, &d);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, 0, NULL), "550 relaying prohibited by administrator");
	smtp_policy_decide(SERVICE_SMTP, CLIENT_OUTSIDE, AUTH_SOURCE_NONE,
	    SMTP_RCPT_REMOTE, &d);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, 0, ""), "550 relaying prohibited by administrator");
	smtp_policy_decide(SERVICE_SMTP, CLIENT_OUTSIDE, AUTH_SOURCE_NONE,
	    SMTP_RCPT_REMOTE, &d);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, 1, "caf\xc3\xa9@remote.example"), "550 5.7.1 relaying prohibited by administrator");

	memset(longbox, 'x', sizeof longbox - 1);
	longbox[sizeof longbox - 1] = '\0';
	smtp_policy_decide(SERVICE_SMTP, CLIENT_OUTSIDE, AUTH_SOURCE_NONE,
	    SMTP_RCPT_REMOTE, &d);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, 1, longbox), "550 5.7.1 relaying prohibited by administrator");
	longbox[SMTP_PATH_MAX - 2] = '\0';	/* the longest real mailbox */
	smtp_policy_decide(SERVICE_SMTP, CLIENT_OUTSIDE, AUTH_SOURCE_NONE,
	    SMTP_RCPT_REMOTE, &d);
	CU_ASSERT_EQUAL(strlen(TEXT(&d, 1, 1, longbox)), strlen(DENIED_EHLO) - strlen("user@remote.example") + 254);
	CU_ASSERT(strlen(TEXT(&d, 1, 1, longbox)) + 2 <= 512);
}

static void test_invalid_kind(void)
{
	struct smtp_decision d;

	CU_ASSERT_EQUAL(smtp_policy_decide(SERVICE_SMTP, CLIENT_TRUSTED,
	    AUTH_SOURCE_SMTP, SMTP_RCPT_INVALID, &d), 0);
	CU_ASSERT_EQUAL(d.verdict, SMTP_VERDICT_BAD_PATH);
	CU_ASSERT_EQUAL(CODE(&d, 1), 501);
	CU_ASSERT_EQUAL(d.relay, 0);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, 1, "Postmaster"), "501 5.1.3 Bad recipient address syntax");
	CU_ASSERT_STRING_EQUAL(d.reason, "invalid");
	smtp_policy_decide(SERVICE_SMTP, CLIENT_OUTSIDE, AUTH_SOURCE_NONE,
	    SMTP_RCPT_INVALID, &d);
	CU_ASSERT_EQUAL(d.verdict, SMTP_VERDICT_BAD_PATH);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, 0, ""), "501 Bad recipient address syntax");
}

/* Every parser error, at MAIL and at RCPT, after EHLO and after HELO. */
static void test_path_errors(void)
{
	static const struct {
		int err;
		enum smtp_verdict v;
		const char *mail, *rcpt, *helo;
	} t[] = {
		{ SMTP_PATH_ESYNTAX, SMTP_VERDICT_BAD_PATH, "501 5.1.7 Bad sender address syntax", "501 5.1.3 Bad recipient address syntax", "501 Bad recipient address syntax" },
		{ SMTP_PATH_ENULL, SMTP_VERDICT_BAD_PATH, "501 5.1.7 Bad sender address syntax", "501 5.1.3 Bad recipient address syntax", "501 Bad recipient address syntax" },
		{ SMTP_PATH_ELONG, SMTP_VERDICT_PATH_LONG, "501 5.1.7 Path too long", "501 5.1.3 Path too long", "501 Path too long" },
		{ SMTP_PATH_ELOCAL, SMTP_VERDICT_LOCAL_LONG, "501 5.1.7 Local part too long", "501 5.1.3 Local part too long", "501 Local part too long" },
		{ SMTP_PATH_EDOMAIN, SMTP_VERDICT_DOMAIN_LONG, "501 5.1.7 Domain name too long", "501 5.1.3 Domain name too long", "501 Domain name too long" },
		{ SMTP_PATH_EPARAM, SMTP_VERDICT_BAD_PARAM, "501 5.5.4 Syntax error in parameters", "501 5.5.4 Syntax error in parameters", "501 Syntax error in parameters" },
		{ SMTP_PATH_E8BIT, SMTP_VERDICT_NON_ASCII, "553 5.6.7 Non-ASCII address not permitted", "553 5.6.7 Non-ASCII address not permitted", "553 Non-ASCII address not permitted" },
	};
	struct smtp_decision d;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		CU_ASSERT_EQUAL(smtp_policy_path_error(t[i].err, &d), 0);
		CU_ASSERT_EQUAL(d.verdict, t[i].v);
		CU_ASSERT_STRING_EQUAL(TEXT(&d, 0, 1, NULL), t[i].mail);
		CU_ASSERT_EQUAL(d.accept, 0);
		CU_ASSERT_STRING_EQUAL(d.reason, "syntax");
		CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, 1, NULL), t[i].rcpt);
		CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, 0, NULL), t[i].helo);
		CU_ASSERT_EQUAL(CODE(&d, 1), t[i].helo[0] == '5' && t[i].helo[1] == '5' ? 553 : 501);
	}
	smtp_policy_path_error(SMTP_PATH_ESYNTAX, &d);
	CU_ASSERT_STRING_EQUAL(TEXT(&d, 0, 0, NULL), "501 Bad sender address syntax");
}

/* From the bytes after "RCPT TO:" to the reply line, as a session does it. */
static void test_end_to_end(void)
{
	static char *domains[] = { "example.net" };
	static const struct {
		const char *arg;
		enum client_class cls;
		enum auth_source auth;
		int esmtp;
		const char *reply;
		int relay;
	} t[] = {
		{ " <user@remote.example>", CLIENT_OUTSIDE, AUTH_SOURCE_NONE, 0, DENIED_HELO, 0 },
		{ "<user@remote.example>", CLIENT_OUTSIDE, AUTH_SOURCE_NONE, 1, DENIED_EHLO, 0 },
		{ " <user@remote.example>", CLIENT_CUSTOMER, AUTH_SOURCE_NONE, 0, FIRST_POP_HELO, 0 },
		{ " <user@remote.example>", CLIENT_CUSTOMER, AUTH_SOURCE_POP, 0, RCPT_OK_HELO, 1 },
		{ " <@example.net:user@remote.example>", CLIENT_OUTSIDE, AUTH_SOURCE_NONE, 0, DENIED_HELO, 0 },
		{ "<\"user@remote.example\"@example.net>", CLIENT_OUTSIDE, AUTH_SOURCE_NONE, 1,
		  "550 5.7.1 relaying to <\"user@remote.example\"@example.net> prohibited by administrator", 0 },
		{ "<user%remote.example@EXAMPLE.NET.>", CLIENT_OUTSIDE, AUTH_SOURCE_NONE, 1,
		  "550 5.7.1 relaying to <user%remote.example@EXAMPLE.NET.> prohibited by administrator", 0 },
		{ "<user@[127.0.0.1]>", CLIENT_OUTSIDE, AUTH_SOURCE_NONE, 1,
		  "550 5.7.1 relaying to <user@[127.0.0.1]> prohibited by administrator", 0 },
		{ "<user@sub.example.net>", CLIENT_OUTSIDE, AUTH_SOURCE_NONE, 0,
		  "550 relaying to <user@sub.example.net> prohibited by administrator", 0 },
		{ "<User@Example.Net.>", CLIENT_OUTSIDE, AUTH_SOURCE_NONE, 1, RCPT_OK_EHLO, 0 },
		{ "<Postmaster>", CLIENT_OUTSIDE, AUTH_SOURCE_NONE, 0, RCPT_OK_HELO, 0 },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct smtp_path p;
		struct smtp_decision d;
		enum smtp_rcpt_kind k;

		CU_ASSERT_EQUAL(smtp_parse_path_arg(t[i].arg, strlen(t[i].arg), 0, &p, NULL), 0);
		k = smtp_classify_rcpt(&p, domains, 1);
		smtp_policy_decide(SERVICE_SMTP, t[i].cls, t[i].auth, k, &d);
		if (strcmp(TEXT(&d, 1, t[i].esmtp, p.mailbox), t[i].reply) != 0)
			printf("# %s: \"%s\"\n", t[i].arg, TEXT(&d, 1, t[i].esmtp, p.mailbox));
		CU_ASSERT_STRING_EQUAL(TEXT(&d, 1, t[i].esmtp, p.mailbox), t[i].reply);
		CU_ASSERT_EQUAL(d.relay, t[i].relay);
	}
}

/*
 * Every verdict to its reply, at MAIL and RCPT, after EHLO and HELO: the
 * session's one mapping, byte for byte (docs/PROTOCOL.md).
 */
static void test_verdict_replies(void)
{
	static const struct {
		enum smtp_verdict v;
		const char *mail, *rcpt, *rcpt_helo;
	} t[] = {
		{ SMTP_VERDICT_SENDER_OK, MAIL_OK_EHLO, MAIL_OK_EHLO, MAIL_OK_HELO },
		{ SMTP_VERDICT_LOCAL, RCPT_OK_EHLO, RCPT_OK_EHLO, RCPT_OK_HELO },
		{ SMTP_VERDICT_RELAY, RCPT_OK_EHLO, RCPT_OK_EHLO, RCPT_OK_HELO },
		{ SMTP_VERDICT_FIRST_POP, FIRST_POP_EHLO, FIRST_POP_EHLO, FIRST_POP_HELO },
		{ SMTP_VERDICT_DENIED, DENIED_EHLO, DENIED_EHLO, DENIED_HELO },
		{ SMTP_VERDICT_AUTH_REQUIRED, AUTH_EHLO, AUTH_EHLO, AUTH_HELO },
		{ SMTP_VERDICT_BAD_PATH, "501 5.1.7 Bad sender address syntax",
		  "501 5.1.3 Bad recipient address syntax", "501 Bad recipient address syntax" },
		{ SMTP_VERDICT_PATH_LONG, "501 5.1.7 Path too long",
		  "501 5.1.3 Path too long", "501 Path too long" },
		{ SMTP_VERDICT_LOCAL_LONG, "501 5.1.7 Local part too long",
		  "501 5.1.3 Local part too long", "501 Local part too long" },
		{ SMTP_VERDICT_DOMAIN_LONG, "501 5.1.7 Domain name too long",
		  "501 5.1.3 Domain name too long", "501 Domain name too long" },
		{ SMTP_VERDICT_BAD_PARAM, "501 5.5.4 Syntax error in parameters",
		  "501 5.5.4 Syntax error in parameters", "501 Syntax error in parameters" },
		{ SMTP_VERDICT_NON_ASCII, "553 5.6.7 Non-ASCII address not permitted",
		  "553 5.6.7 Non-ASCII address not permitted", "553 Non-ASCII address not permitted" },
		{ SMTP_VERDICT_NOT_OWNER,
		  "553 5.7.1 Sender address rejected: not owned by user user@remote.example",
		  "553 5.7.1 Sender address rejected: not owned by user user@remote.example",
		  "553 Sender address rejected: not owned by user user@remote.example" },
		{ SMTP_VERDICT_LOCAL_SENDER, "550 5.7.1 Sender address rejected: not logged in",
		  "550 5.7.1 Sender address rejected: not logged in",
		  "550 Sender address rejected: not logged in" },
		{ SMTP_VERDICT_RATE_LIMITED, "451 4.7.1 Sending rate limit exceeded, try again later",
		  "451 4.7.1 Sending rate limit exceeded, try again later",
		  "451 Sending rate limit exceeded, try again later" },
	};
	const char *box = "user@remote.example";

	CU_ASSERT_EQUAL(sizeof t / sizeof t[0], SMTP_VERDICTS);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		CU_ASSERT_EQUAL(t[i].v, (enum smtp_verdict)i);
		CU_ASSERT_STRING_EQUAL(verdict_text(t[i].v, 0, 1, box), t[i].mail);
		CU_ASSERT_STRING_EQUAL(verdict_text(t[i].v, 1, 1, box), t[i].rcpt);
		CU_ASSERT_STRING_EQUAL(verdict_text(t[i].v, 1, 0, box), t[i].rcpt_helo);
	}
	/* The 550 without a mailbox fit for a reply line. */
	CU_ASSERT_STRING_EQUAL(verdict_text(SMTP_VERDICT_DENIED, 1, 1, "a@b\r\n250 Ok"),
	    "550 5.7.1 relaying prohibited by administrator");
	CU_ASSERT_STRING_EQUAL(verdict_text(SMTP_VERDICT_DENIED, 1, 0, NULL),
	    "550 relaying prohibited by administrator");
}

/* The sender checks: each rule, each exception, each switch off. */
static void test_sender_checks(void)
{
	static const struct {
		int match, outside;
		enum client_class cls;
		enum auth_source auth;
		const char *user, *sender;
		int local;
		enum smtp_verdict v;
		const char *reason;
	} t[] = {
		/* both off: everything passes */
		{ 0, 0, CLIENT_OUTSIDE, AUTH_SOURCE_NONE, NULL, "a@local.test", 1,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		{ 0, 0, CLIENT_CUSTOMER, AUTH_SOURCE_SMTP, "a@local.test", "b@x.example", 0,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		/* sender_login_match */
		{ 1, 0, CLIENT_CUSTOMER, AUTH_SOURCE_SMTP, "a@local.test", "b@x.example", 0,
		  SMTP_VERDICT_NOT_OWNER, "sender=not-owner" },
		{ 1, 0, CLIENT_OUTSIDE, AUTH_SOURCE_POP, "a@local.test", "b@local.test", 1,
		  SMTP_VERDICT_NOT_OWNER, "sender=not-owner" },
		{ 1, 0, CLIENT_CUSTOMER, AUTH_SOURCE_SMTP, "a@local.test", "A@Local.Test", 1,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		{ 1, 0, CLIENT_CUSTOMER, AUTH_SOURCE_SMTP, "a@local.test", "", 0,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		/* no user to match: not authorized, trusted, or a relay add entry */
		{ 1, 0, CLIENT_CUSTOMER, AUTH_SOURCE_NONE, NULL, "b@x.example", 0,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		{ 1, 0, CLIENT_TRUSTED, AUTH_SOURCE_NONE, NULL, "b@x.example", 0,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		{ 1, 0, CLIENT_CUSTOMER, AUTH_SOURCE_POP, "", "b@x.example", 0,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		/* local_sender_from_outside */
		{ 0, 1, CLIENT_OUTSIDE, AUTH_SOURCE_NONE, NULL, "a@local.test", 1,
		  SMTP_VERDICT_LOCAL_SENDER, "sender=local" },
		{ 0, 1, CLIENT_OUTSIDE, AUTH_SOURCE_NONE, NULL, "", 0,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		{ 0, 1, CLIENT_OUTSIDE, AUTH_SOURCE_NONE, NULL, "a@x.example", 0,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		{ 0, 1, CLIENT_OUTSIDE, AUTH_SOURCE_POP, "a@local.test", "a@local.test", 1,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		{ 0, 1, CLIENT_OUTSIDE, AUTH_SOURCE_SMTP, "a@local.test", "b@local.test", 1,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		{ 0, 1, CLIENT_CUSTOMER, AUTH_SOURCE_NONE, NULL, "a@local.test", 1,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		{ 0, 1, CLIENT_TRUSTED, AUTH_SOURCE_NONE, NULL, "a@local.test", 1,
		  SMTP_VERDICT_SENDER_OK, "sender" },
		/* both on: the owner rule first */
		{ 1, 1, CLIENT_OUTSIDE, AUTH_SOURCE_POP, "a@local.test", "b@local.test", 1,
		  SMTP_VERDICT_NOT_OWNER, "sender=not-owner" },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct smtp_sender_facts f = { t[i].match, t[i].outside, t[i].cls, t[i].auth,
		    t[i].user, t[i].sender, t[i].local };
		struct smtp_decision d;
		int ok = smtp_policy_sender(&f, &d);

		if (d.verdict != t[i].v)
			printf("# sender case %zu: verdict %d, want %d\n", i, d.verdict, t[i].v);
		CU_ASSERT_EQUAL(d.verdict, t[i].v);
		CU_ASSERT_EQUAL(ok, t[i].v == SMTP_VERDICT_SENDER_OK);
		CU_ASSERT_EQUAL(d.accept, ok);
		CU_ASSERT_EQUAL(d.relay, 0);
		CU_ASSERT_STRING_EQUAL(d.reason, t[i].reason);
	}
}

/* The outbound limits' verdict: the user's limit named first. */
static void test_rate_verdict(void)
{
	struct smtp_decision d;

	CU_ASSERT_EQUAL(smtp_policy_rate(0, 0, &d), 1);
	CU_ASSERT_EQUAL(d.verdict, SMTP_VERDICT_RELAY);
	CU_ASSERT_EQUAL(d.relay, 1);
	CU_ASSERT_EQUAL(smtp_policy_rate(1, 0, &d), 0);
	CU_ASSERT_EQUAL(d.verdict, SMTP_VERDICT_RATE_LIMITED);
	CU_ASSERT_STRING_EQUAL(d.reason, "ratelimit=user");
	CU_ASSERT_EQUAL(smtp_policy_rate(0, 1, &d), 0);
	CU_ASSERT_STRING_EQUAL(d.reason, "ratelimit=address");
	CU_ASSERT_EQUAL(smtp_policy_rate(1, 1, &d), 0);
	CU_ASSERT_STRING_EQUAL(d.reason, "ratelimit=user");
	CU_ASSERT_EQUAL(d.relay, 0);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("policy", NULL, NULL);
	CU_add_test(s, "RCPT: every service, class, authorization, kind, HELO/EHLO", test_rcpt_table);
	CU_add_test(s, "MAIL: 530 on submission and smtps", test_mail_table);
	CU_add_test(s, "550 names the mailbox safely", test_denied_mailbox);
	CU_add_test(s, "invalid recipient", test_invalid_kind);
	CU_add_test(s, "path error replies", test_path_errors);
	CU_add_test(s, "parse, classify, decide", test_end_to_end);
	CU_add_test(s, "every verdict's reply", test_verdict_replies);
	CU_add_test(s, "sender checks", test_sender_checks);
	CU_add_test(s, "outbound limit verdict", test_rate_verdict);
	return cutap_run();
}
