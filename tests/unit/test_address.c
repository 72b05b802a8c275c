/*
 * test_address.c: the MAIL/RCPT path parser and the local/remote question,
 * walked over a corpus of ordinary forms and old relay tricks (the '%'
 * hack, bang paths, source routes, quoted '@', literals, trailing dots).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cutap.h"
#include "address.h"
#include "buf.h"

static char *domains[] = { "example.net", "example.org" };
#define NDOMAINS (sizeof domains / sizeof domains[0])

#define L SMTP_RCPT_LOCAL
#define R SMTP_RCPT_REMOTE
#define I SMTP_RCPT_INVALID

/* An exact-size heap copy: the sanitizers see any read past n. */
static char *dup_exact(const char *s, size_t n)
{
	char *p = xmalloc(n ? n : 1);

	memcpy(p, s, n);
	return p;
}

struct row {
	const char *in;
	size_t len;		/* 0: strlen(in) */
	int mail;		/* allow_null: MAIL FROM */
	int rc;
	enum smtp_rcpt_kind kind;
	const char *mailbox;
	const char *domain;
	const char *canon;	/* NULL: smtp_path_local_address() refuses */
	const char *params;
};

static const struct row rows[] = {
	/* plain, and Outlook Express's space after the colon */
	{ "<user@example.net>", 0, 0, 0, L, "user@example.net", "example.net", "user@example.net", "" },
	{ " <user@example.net>", 0, 0, 0, L, "user@example.net", "example.net", "user@example.net", "" },
	{ "   <user@example.net>", 0, 1, 0, L, "user@example.net", "example.net", "user@example.net", "" },
	{ "<first.last+tag@example.net>", 0, 0, 0, L, "first.last+tag@example.net", "example.net", "first.last+tag@example.net", "" },
	/* case and one trailing dot */
	{ "<User@Example.NET>", 0, 0, 0, L, "User@Example.NET", "example.net", "user@example.net", "" },
	{ "<user@EXAMPLE.ORG>", 0, 0, 0, L, "user@EXAMPLE.ORG", "example.org", "user@example.org", "" },
	{ "<user@example.net.>", 0, 0, 0, L, "user@example.net.", "example.net", "user@example.net", "" },
	{ "<user@example.net..>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@.example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@example..net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@-example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@example-.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@exa_mple.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	/* other domains, lookalikes and subdomains */
	{ "<user@remote.example>", 0, 0, 0, R, "user@remote.example", "remote.example", NULL, "" },
	{ "<user@sub.example.net>", 0, 0, 0, R, "user@sub.example.net", "sub.example.net", NULL, "" },
	{ "<user@SUB.Example.Net.>", 0, 0, 0, R, "user@SUB.Example.Net.", "sub.example.net", NULL, "" },
	{ "<user@example.net.evil.example>", 0, 0, 0, R, "user@example.net.evil.example", "example.net.evil.example", NULL, "" },
	{ "<user@evil-example.net>", 0, 0, 0, R, "user@evil-example.net", "evil-example.net", NULL, "" },
	{ "<user@xample.net>", 0, 0, 0, R, "user@xample.net", "xample.net", NULL, "" },
	{ "<user@localhost>", 0, 0, 0, R, "user@localhost", "localhost", NULL, "" },
	/* relay tricks: quoted '@', percent hack, bang path */
	{ "<\"a@remote.example\"@example.net>", 0, 0, 0, R, "\"a@remote.example\"@example.net", "example.net", NULL, "" },
	{ "<\"a@remote.example\"@EXAMPLE.NET.>", 0, 0, 0, R, "\"a@remote.example\"@EXAMPLE.NET.", "example.net", NULL, "" },
	{ "<a%remote.example@example.net>", 0, 0, 0, R, "a%remote.example@example.net", "example.net", NULL, "" },
	{ "<a%remote.example%other.example@Example.Net>", 0, 0, 0, R, "a%remote.example%other.example@Example.Net", "example.net", NULL, "" },
	{ "<remote.example!a@example.net>", 0, 0, 0, R, "remote.example!a@example.net", "example.net", NULL, "" },
	{ "<\"a%b\"@example.net>", 0, 0, 0, R, "\"a%b\"@example.net", "example.net", NULL, "" },
	{ "<\"remote!a\"@example.net>", 0, 0, 0, R, "\"remote!a\"@example.net", "example.net", NULL, "" },
	{ "<\"a\\@remote.example\"@example.net>", 0, 0, 0, R, "\"a\\@remote.example\"@example.net", "example.net", NULL, "" },
	/* two '@' outside quotes: refused as bad syntax */
	{ "<a@remote.example@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<a@example.net@remote.example>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<a@@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	/* source routes: dropped, the mailbox after them counts */
	{ "<@example.net:a@remote.example>", 0, 0, 0, R, "a@remote.example", "remote.example", NULL, "" },
	{ "<@a.example,@b.example,@example.net:user@remote.example>", 0, 0, 0, R, "user@remote.example", "remote.example", NULL, "" },
	{ "<@remote.example:user@example.net>", 0, 0, 0, L, "user@example.net", "example.net", "user@example.net", "" },
	{ "<@example.net:\"a@remote.example\"@example.net>", 0, 0, 0, R, "\"a@remote.example\"@example.net", "example.net", NULL, "" },
	{ "<@example.net,user@remote.example>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<@example.net,:user@remote.example>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<@:user@remote.example>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<@example.net.:user@remote.example>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<@example.net:>", 0, 1, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	/* address literals: never local, not even our own address */
	{ "<user@[127.0.0.1]>", 0, 0, 0, R, "user@[127.0.0.1]", "[127.0.0.1]", NULL, "" },
	{ "<postmaster@[192.0.2.1]>", 0, 0, 0, R, "postmaster@[192.0.2.1]", "[192.0.2.1]", NULL, "" },
	{ "<user@[IPv6:2001:DB8::1]>", 0, 0, 0, R, "user@[IPv6:2001:DB8::1]", "[ipv6:2001:db8::1]", NULL, "" },
	{ "<user@[IPv6:::1]>", 0, 0, 0, R, "user@[IPv6:::1]", "[ipv6:::1]", NULL, "" },
	{ "<user@[IPv6:::ffff:127.0.0.1]>", 0, 0, 0, R, "user@[IPv6:::ffff:127.0.0.1]", "[ipv6:::ffff:127.0.0.1]", NULL, "" },
	{ "<user@[2001:db8::1]>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@[300.1.1.1]>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@[1.2.3]>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@[x-tag:something]>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@[127.0.0.1>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@[]>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	/* quoted local parts */
	{ "<\"a b\"@example.net>", 0, 0, 0, L, "\"a b\"@example.net", "example.net", NULL, "" },
	{ "<\"a\\\"b\"@example.net>", 0, 0, 0, L, "\"a\\\"b\"@example.net", "example.net", NULL, "" },
	{ "<\"John.Doe\"@Example.Net>", 0, 0, 0, L, "\"John.Doe\"@Example.Net", "example.net", "john.doe@example.net", "" },
	{ "<\"\\j\\o\\e\"@example.net>", 0, 0, 0, L, "\"\\j\\o\\e\"@example.net", "example.net", "joe@example.net", "" },
	{ "<\"../../etc\"@example.net>", 0, 0, 0, L, "\"../../etc\"@example.net", "example.net", NULL, "" },
	{ "<\"a..b\"@example.net>", 0, 0, 0, L, "\"a..b\"@example.net", "example.net", NULL, "" },
	{ "<\".a\"@example.net>", 0, 0, 0, L, "\".a\"@example.net", "example.net", NULL, "" },
	{ "<\"<a>\"@remote.example>", 0, 0, 0, R, "\"<a>\"@remote.example", "remote.example", NULL, "" },
	{ "<\"\"@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<\"abc@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<\"a\"b@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	/* dot-strings that are not, and odd but valid atext */
	{ "<a..b@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<.a@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<a.@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<a/b@example.net>", 0, 0, 0, L, "a/b@example.net", "example.net", NULL, "" },
	{ "<a\\b@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	/* broken brackets, spaces, empty parts */
	{ "<@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@example.net", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "user@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "user@example.net", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<<user@example.net>>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@example.net>>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "< user@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@example.net >", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user @example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@exa mple.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "\t<user@example.net>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "   ", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	/* 8-bit bytes and NUL (the parser reads len bytes, not a C string) */
	{ "<us\xc3\xa9r@example.net>", 0, 0, SMTP_PATH_E8BIT, I, "", "", NULL, NULL },
	{ "<user@ex\xe4mple.net>", 0, 0, SMTP_PATH_E8BIT, I, "", "", NULL, NULL },
	{ "<\"\xff\"@example.net>", 0, 0, SMTP_PATH_E8BIT, I, "", "", NULL, NULL },
	{ "<us\0er@example.net>", 19, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@example.net>\0", 19, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@example.net> SIZE=1\0", 26, 1, SMTP_PATH_EPARAM, I, "", "", NULL, NULL },
	{ "<user@example.net>", 17, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	/* the null path: MAIL yes, RCPT no */
	{ "<>", 0, 1, 0, I, "", "", NULL, "" },
	{ " <>", 0, 1, 0, I, "", "", NULL, "" },
	{ "<> SIZE=10", 0, 1, 0, I, "", "", NULL, "SIZE=10" },
	{ "<>", 0, 0, SMTP_PATH_ENULL, I, "", "", NULL, NULL },
	{ "<>x", 0, 1, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "< >", 0, 1, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	/* RFC 5321 §4.1.1.3 <Postmaster>: RCPT only */
	{ "<Postmaster>", 0, 0, 0, L, "Postmaster", "", "postmaster@example.net", "" },
	{ "<POSTMASTER>", 0, 0, 0, L, "POSTMASTER", "", "postmaster@example.net", "" },
	{ "<postmaster@Example.ORG>", 0, 0, 0, L, "postmaster@Example.ORG", "example.org", "postmaster@example.org", "" },
	{ "<Postmaster>", 0, 1, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<\"postmaster\">", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<@example.net:postmaster>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<postmasters>", 0, 0, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	/* ESMTP parameters after the path */
	{ "<user@example.net> SIZE=1000 BODY=8BITMIME", 0, 1, 0, L, "user@example.net", "example.net", "user@example.net", "SIZE=1000 BODY=8BITMIME" },
	{ " <user@remote.example>  SIZE=1000  BODY=8BITMIME ", 0, 1, 0, R, "user@remote.example", "remote.example", NULL, "SIZE=1000  BODY=8BITMIME " },
	{ "<user@example.net> AUTH=<>", 0, 1, 0, L, "user@example.net", "example.net", "user@example.net", "AUTH=<>" },
	{ "<user@example.net> ", 0, 0, 0, L, "user@example.net", "example.net", "user@example.net", "" },
	{ "<user@example.net> NOTIFY=SUCCESS,FAILURE", 0, 0, 0, L, "user@example.net", "example.net", "user@example.net", "NOTIFY=SUCCESS,FAILURE" },
	{ "<user@example.net>SIZE=1000", 0, 1, SMTP_PATH_ESYNTAX, I, "", "", NULL, NULL },
	{ "<user@example.net> SIZE=", 0, 1, SMTP_PATH_EPARAM, I, "", "", NULL, NULL },
	{ "<user@example.net> =1000", 0, 1, SMTP_PATH_EPARAM, I, "", "", NULL, NULL },
	{ "<user@example.net> SIZE=1=2", 0, 1, SMTP_PATH_EPARAM, I, "", "", NULL, NULL },
	{ "<user@example.net> -X", 0, 1, SMTP_PATH_EPARAM, I, "", "", NULL, NULL },
	{ "<user@example.net> SIZE=1\tBODY=7BIT", 0, 1, SMTP_PATH_EPARAM, I, "", "", NULL, NULL },
	{ "<user@example.net> X=\xe9", 0, 1, SMTP_PATH_EPARAM, I, "", "", NULL, NULL },
};

static void check_row(const struct row *t, size_t idx)
{
	struct smtp_path p;
	const char *params = NULL;
	size_t len = t->len ? t->len : strlen(t->in);
	char *copy = dup_exact(t->in, len);
	char canon[300];
	int rc, crc;

	rc = smtp_parse_path_arg(copy, len, t->mail, &p, &params);
	if (rc != t->rc)
		printf("# row %zu \"%s\": rc %d, expected %d\n", idx, t->in, rc, t->rc);
	CU_ASSERT_EQUAL(rc, t->rc);
	if (rc != t->rc) {
		free(copy);
		return;
	}
	CU_ASSERT_STRING_EQUAL(p.mailbox, t->mailbox);
	CU_ASSERT_STRING_EQUAL(p.domain, t->domain);
	if (rc == 0) {
		enum smtp_rcpt_kind k = smtp_classify_rcpt(&p, domains, NDOMAINS);

		if (k != t->kind)
			printf("# row %zu \"%s\": %s, expected %s\n", idx, t->in,
			    smtp_rcpt_kind_name(k), smtp_rcpt_kind_name(t->kind));
		CU_ASSERT_EQUAL(k, t->kind);
		CU_ASSERT_EQUAL((size_t)(copy + len - params), strlen(t->params));
		CU_ASSERT_EQUAL(memcmp(params, t->params, strlen(t->params)), 0);
		crc = smtp_path_local_address(&p, domains, NDOMAINS, canon, sizeof canon);
		if (t->canon == NULL) {
			CU_ASSERT_EQUAL(crc, -1);
			CU_ASSERT_STRING_EQUAL(canon, "");
		} else {
			CU_ASSERT_EQUAL(crc, 0);
			CU_ASSERT_STRING_EQUAL(canon, t->canon);
		}
	} else {
		/* Nothing half-parsed is left behind. */
		struct smtp_path zero;

		memset(&zero, 0, sizeof zero);
		CU_ASSERT_EQUAL(memcmp(&p, &zero, sizeof p), 0);
		CU_ASSERT_EQUAL(params, copy + len);
	}
	free(copy);
}

static void test_corpus(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		check_row(&rows[i], i);
}

/* Every prefix of every form: no read past the end, no accepted junk. */
static void test_prefixes(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		size_t len = rows[i].len ? rows[i].len : strlen(rows[i].in);

		for (size_t n = 0; n < len; n++) {
			struct smtp_path p;
			char *copy = dup_exact(rows[i].in, n);
			int rc;

			rc = smtp_parse_path_arg(copy, n, rows[i].mail, &p, NULL);
			CU_ASSERT(rc <= 0 && rc >= SMTP_PATH_E8BIT);
			/* A prefix is only valid when it ends after the '>'. */
			if (rc == 0)
				CU_ASSERT(memchr(copy, '>', n) != NULL);
			free(copy);
		}
	}
}

static void test_fields(void)
{
	struct smtp_path p;
	const char *in = "<@a.example,@b.example:\"x%y\"@Example.Net.>";

	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), 0);
	CU_ASSERT_STRING_EQUAL(p.route, "@a.example,@b.example");
	CU_ASSERT_EQUAL(p.had_route, 1);
	CU_ASSERT_EQUAL(p.route_hops, 2);
	CU_ASSERT_STRING_EQUAL(p.local, "\"x%y\"");
	CU_ASSERT_STRING_EQUAL(p.domain, "example.net");
	CU_ASSERT_STRING_EQUAL(p.mailbox, "\"x%y\"@Example.Net.");
	CU_ASSERT_EQUAL(p.is_quoted, 1);
	CU_ASSERT_EQUAL(p.is_routed, 1);
	CU_ASSERT_EQUAL(p.is_literal, 0);
	CU_ASSERT_EQUAL(p.is_postmaster, 0);
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, domains, NDOMAINS), SMTP_RCPT_REMOTE);

	in = "<user@[192.0.2.1]>";
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), 0);
	CU_ASSERT_EQUAL(p.is_literal, 1);
	CU_ASSERT_EQUAL(p.had_route, 0);
	CU_ASSERT_STRING_EQUAL(p.route, "");

	in = "<Postmaster>";
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), 0);
	CU_ASSERT_EQUAL(p.is_postmaster, 1);
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, domains, 0), SMTP_RCPT_INVALID);

	in = "<>";
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 1, &p, NULL), 0);
	CU_ASSERT_EQUAL(p.is_null, 1);
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, domains, NDOMAINS), SMTP_RCPT_INVALID);
}

static void fill(char *s, char c, size_t n)
{
	memset(s, c, n);
	s[n] = '\0';
}

/* RFC 5321 §4.5.3.1: 64 local, 63 per label, 256 per path, exactly. */
static void test_limits(void)
{
	struct smtp_path p;
	char local[80], label[80], in[600];

	fill(local, 'a', 64);
	CU_ASSERT_EQUAL(str_format(in, sizeof in, "<%s@example.net>", local), 0);
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), 0);
	CU_ASSERT_EQUAL(strlen(p.local), 64);
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, domains, NDOMAINS), SMTP_RCPT_LOCAL);

	fill(local, 'a', 65);
	CU_ASSERT_EQUAL(str_format(in, sizeof in, "<%s@example.net>", local), 0);
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), SMTP_PATH_ELOCAL);

	/* 62 quoted characters + 2 quotes = 64: fits; one more does not. */
	fill(local + 1, 'q', 62);
	local[0] = '"';
	local[63] = '"';
	local[64] = '\0';
	CU_ASSERT_EQUAL(str_format(in, sizeof in, "<%s@example.net>", local), 0);
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), 0);
	fill(local + 1, 'q', 63);
	local[64] = '"';
	local[65] = '\0';
	CU_ASSERT_EQUAL(str_format(in, sizeof in, "<%s@example.net>", local), 0);
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), SMTP_PATH_ELOCAL);

	fill(label, 'b', 63);
	CU_ASSERT_EQUAL(str_format(in, sizeof in, "<u@%s.example>", label), 0);
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), 0);
	fill(label, 'b', 64);
	CU_ASSERT_EQUAL(str_format(in, sizeof in, "<u@%s.example>", label), 0);
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), SMTP_PATH_EDOMAIN);
	CU_ASSERT_EQUAL(str_format(in, sizeof in, "<@%s.example:u@x.example>", label), 0);
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), SMTP_PATH_EDOMAIN);

	/* "<" + 64 + "@" + 63.63.61 + ">" = 256: the longest path. */
	fill(local, 'a', 64);
	fill(label, 'c', 63);
	CU_ASSERT_EQUAL(str_format(in, sizeof in, "<%s@%s.%s.%.61s>", local,
	    label, label, label), 0);
	CU_ASSERT_EQUAL(strlen(in), 256);
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), 0);
	CU_ASSERT_EQUAL(strlen(p.mailbox), 254);
	CU_ASSERT_EQUAL(strlen(p.domain), 189);
	/* The same with a trailing dot: the dot counts toward the path. */
	CU_ASSERT_EQUAL(str_format(in, sizeof in, "<%s@%s.%s.%.61s.>", local,
	    label, label, label), 0);
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), SMTP_PATH_ELONG);
	CU_ASSERT_EQUAL(str_format(in, sizeof in, "<%s@%s.%s.%.62s>", local,
	    label, label, label), 0);
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), SMTP_PATH_ELONG);
	/* A route makes the path long too, however short the mailbox. */
	CU_ASSERT_EQUAL(str_format(in, sizeof in, "<@%s,@%s,@%s,@%s:u@x.example>",
	    label, label, label, label), 0);
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), SMTP_PATH_ELONG);
	CU_ASSERT_STRING_EQUAL(p.mailbox, "");
}

static void test_params(void)
{
	const char *in = "<a@example.net> SIZE=1000  BODY=8BITMIME AUTH=<> SMTPUTF8";
	const char *params, *end = in + strlen(in);
	struct smtp_path p;
	struct smtp_param prm;

	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 1, &p, &params), 0);
	CU_ASSERT_EQUAL(smtp_param_next(&params, end, &prm), 1);
	CU_ASSERT_EQUAL(prm.keylen, 4);
	CU_ASSERT_EQUAL(memcmp(prm.keyword, "SIZE", 4), 0);
	CU_ASSERT_EQUAL(prm.valuelen, 4);
	CU_ASSERT_EQUAL(memcmp(prm.value, "1000", 4), 0);
	CU_ASSERT_EQUAL(smtp_param_next(&params, end, &prm), 1);
	CU_ASSERT_EQUAL(prm.keylen, 4);
	CU_ASSERT_EQUAL(memcmp(prm.keyword, "BODY", 4), 0);
	CU_ASSERT_EQUAL(prm.valuelen, 8);
	CU_ASSERT_EQUAL(memcmp(prm.value, "8BITMIME", 8), 0);
	CU_ASSERT_EQUAL(smtp_param_next(&params, end, &prm), 1);
	CU_ASSERT_EQUAL(memcmp(prm.keyword, "AUTH", 4), 0);
	CU_ASSERT_EQUAL(prm.valuelen, 2);
	CU_ASSERT_EQUAL(memcmp(prm.value, "<>", 2), 0);
	CU_ASSERT_EQUAL(smtp_param_next(&params, end, &prm), 1);
	CU_ASSERT_EQUAL(prm.keylen, 8);
	CU_ASSERT_PTR_NULL(prm.value);
	CU_ASSERT_EQUAL(prm.valuelen, 0);
	CU_ASSERT_EQUAL(smtp_param_next(&params, end, &prm), 0);
	CU_ASSERT_EQUAL(smtp_param_next(&params, end, &prm), 0);
	CU_ASSERT_EQUAL(params, end);

	in = "SIZE=\x01";
	params = in;
	CU_ASSERT_EQUAL(smtp_param_next(&params, in + strlen(in), &prm), -1);
}

/* Local domains as an administrator might write them. */
static void test_domain_forms(void)
{
	char *odd[] = { "Example.NET.", "" };
	struct smtp_path p;
	char out[64];
	const char *in = "<User@example.net>";

	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), 0);
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, odd, 2), SMTP_RCPT_LOCAL);
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, odd + 1, 1), SMTP_RCPT_REMOTE);
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, odd, 0), SMTP_RCPT_REMOTE);
	CU_ASSERT_EQUAL(smtp_path_local_address(&p, odd, 2, out, sizeof out), 0);
	CU_ASSERT_STRING_EQUAL(out, "user@example.net");

	in = "<postmaster>";
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), 0);
	CU_ASSERT_EQUAL(smtp_path_local_address(&p, odd, 2, out, sizeof out), 0);
	CU_ASSERT_STRING_EQUAL(out, "postmaster@example.net");
	CU_ASSERT_EQUAL(smtp_path_local_address(&p, odd + 1, 1, out, sizeof out), -1);

	/* Bounded output: "user@example.net" needs 17 bytes. */
	in = "<user@example.net>";
	CU_ASSERT_EQUAL(smtp_parse_path_arg(in, strlen(in), 0, &p, NULL), 0);
	CU_ASSERT_EQUAL(smtp_path_local_address(&p, domains, NDOMAINS, out, 17), 0);
	CU_ASSERT_EQUAL(smtp_path_local_address(&p, domains, NDOMAINS, out, 16), -1);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(smtp_path_local_address(&p, domains, NDOMAINS, out, 0), -1);
}

/* A path built by hand, not by the parser, gets the same answer. */
static void test_hand_built(void)
{
	struct smtp_path p;

	memset(&p, 0, sizeof p);
	str_copy(p.local, sizeof p.local, "a%remote.example");
	str_copy(p.domain, sizeof p.domain, "example.net");
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, domains, NDOMAINS), SMTP_RCPT_REMOTE);
	str_copy(p.local, sizeof p.local, "a");
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, domains, NDOMAINS), SMTP_RCPT_LOCAL);
	p.is_literal = 1;
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, domains, NDOMAINS), SMTP_RCPT_REMOTE);
	p.is_literal = 0;
	str_copy(p.domain, sizeof p.domain, "EXAMPLE.net.");
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, domains, NDOMAINS), SMTP_RCPT_LOCAL);
	str_copy(p.domain, sizeof p.domain, "example.net..");
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, domains, NDOMAINS), SMTP_RCPT_REMOTE);
	p.domain[0] = '\0';
	CU_ASSERT_EQUAL(smtp_classify_rcpt(&p, domains, NDOMAINS), SMTP_RCPT_INVALID);
	CU_ASSERT_STRING_EQUAL(smtp_rcpt_kind_name(SMTP_RCPT_LOCAL), "local");
	CU_ASSERT_STRING_EQUAL(smtp_rcpt_kind_name(SMTP_RCPT_REMOTE), "remote");
	CU_ASSERT_STRING_EQUAL(smtp_rcpt_kind_name(SMTP_RCPT_INVALID), "invalid");
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("address", NULL, NULL);
	CU_add_test(s, "corpus of forms and relay tricks", test_corpus);
	CU_add_test(s, "every prefix of every form", test_prefixes);
	CU_add_test(s, "route, quoting and literal fields", test_fields);
	CU_add_test(s, "RFC 5321 size limits", test_limits);
	CU_add_test(s, "ESMTP parameters", test_params);
	CU_add_test(s, "local domain forms and bounded output", test_domain_forms);
	CU_add_test(s, "hand-built paths", test_hand_built);
	return cutap_run();
}
