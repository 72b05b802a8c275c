/*
 * fuzz_smtp_path.c: libFuzzer target for the MAIL FROM:/RCPT TO: argument
 * parser and the relay-trick classifier (smtpd/address.c; RFC 5321 §4.1.2,
 * §4.1.1.3, §4.5.3.1). The input is the text after the colon, parsed both
 * as MAIL (null path allowed) and as RCPT; nothing that names another
 * destination may ever come out LOCAL, and a LOCAL key must be safe to use
 * as a Maildir name. Every accepted path then goes through the relay
 * policy (smtpd/policy.c) for every service, client class and authority:
 * nobody unauthenticated from outside relays, and each reply is one clean
 * line.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "buf.h"
#include "fuzz_util.h"
#include "maildir.h"
#include "policy.h"
#include "smtpd.h"

static char d1[] = "example.net", d2[] = "example.org", d3[] = "xn--bcher-kva.example";
static char *const domains[] = { d1, d2, d3 };
#define NDOMAINS (sizeof domains / sizeof domains[0])

/* Strings of struct smtp_path: terminated inside their arrays, printable. */
static void check_strings(const struct smtp_path *p)
{
	const struct { const char *name, *s; size_t size; } f[] = {
		{ "mailbox", p->mailbox, sizeof p->mailbox },
		{ "local", p->local, sizeof p->local },
		{ "domain", p->domain, sizeof p->domain },
		{ "route", p->route, sizeof p->route },
	};
	char show[1200];

	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		size_t n = strnlen(f[i].s, f[i].size);

		FUZZ_CHECK(n < f[i].size, "%s not terminated", f[i].name);
		FUZZ_CHECK(fuzz_printable(f[i].s, n), "%s not printable: \"%s\"",
		    f[i].name, fuzz_show(f[i].s, n, show, sizeof show));
	}
	FUZZ_CHECK(strlen(p->local) <= SMTP_LOCAL_MAX, "local part over the limit");
	FUZZ_CHECK(strlen(p->mailbox) <= SMTP_PATH_MAX, "mailbox over the limit");
	for (const char *c = p->domain; *c; c++)
		FUZZ_CHECK(!(*c >= 'A' && *c <= 'Z'), "domain not lower case: %s", p->domain);
}

/* Every parameter the parser accepted must walk cleanly to the end. */
static void check_params(const char *arg, size_t len, const char *params)
{
	const char *end = arg + len, *p = params;
	struct smtp_param prm;
	int r, count = 0;

	FUZZ_CHECK(params >= arg && params <= end, "params outside the argument");
	while ((r = smtp_param_next(&p, end, &prm)) == 1) {
		FUZZ_CHECK(prm.keylen > 0, "empty keyword");
		FUZZ_CHECK(prm.keyword >= params && prm.keyword + prm.keylen <= end,
		    "keyword outside the text");
		FUZZ_CHECK(prm.value == NULL || (prm.valuelen > 0 &&
		    prm.value >= params && prm.value + prm.valuelen <= end),
		    "value outside the text");
		FUZZ_CHECK(fuzz_printable(prm.keyword, prm.keylen), "keyword not printable");
		FUZZ_CHECK(prm.value == NULL || fuzz_printable(prm.value, prm.valuelen),
		    "value not printable");
		FUZZ_CHECK(++count <= (int)len, "parameter walk does not advance");
	}
	FUZZ_CHECK(r == 0, "validated parameters fail to walk (%d)", r);
	FUZZ_CHECK(p == end, "parameter walk stops early");
}

/* A LOCAL recipient: its lookup key must be a plain mailbox name of ours. */
static void check_local(const struct smtp_path *p)
{
	char key[SMTP_PATH_MAX + 1], path[4096], show[1200];
	const char *at;
	size_t i;
	int ours = 0;

	FUZZ_CHECK(!p->is_literal, "an address literal is LOCAL: %s", p->mailbox);
	FUZZ_CHECK(p->is_null == 0, "<> is LOCAL");
	FUZZ_CHECK(strpbrk(p->local, "%!@") == NULL,
	    "routing characters in a LOCAL local part: %s", p->mailbox);
	if (smtp_path_local_address(p, domains, NDOMAINS, key, sizeof key) != 0)
		return;
	FUZZ_CHECK(fuzz_printable(key, strlen(key)), "key not printable: %s",
	    fuzz_show(key, strlen(key), show, sizeof show));
	FUZZ_CHECK(strpbrk(key, "/%!\" \\") == NULL, "unsafe byte in key %s (from %s)",
	    key, p->mailbox);
	FUZZ_CHECK(strstr(key, "..") == NULL, "\"..\" in key %s", key);
	at = strchr(key, '@');
	FUZZ_CHECK(at != NULL && at != key && strchr(at + 1, '@') == NULL,
	    "key %s is not local@domain", key);
	FUZZ_CHECK(key[0] != '.' && at[-1] != '.', "dot at an end of the local part: %s", key);
	for (i = 0; i < NDOMAINS; i++)
		ours |= strcmp(at + 1, domains[i]) == 0;
	FUZZ_CHECK(ours, "key %s (from %s) is not in one of our domains", key, p->mailbox);
	for (i = 0; key[i]; i++)
		FUZZ_CHECK(!(key[i] >= 'A' && key[i] <= 'Z'), "key not lower case: %s", key);
	/* The key becomes <root>/<domain>/<local>: that must stay below root. */
	FUZZ_CHECK(maildir_path_for("/fuzz-root", key, path, sizeof path) == 0,
	    "LOCAL key %s has no Maildir path", key);
	FUZZ_CHECK(strncmp(path, "/fuzz-root/", 11) == 0 && strstr(path, "/.") == NULL,
	    "Maildir path %s escapes", path);
}

/*
 * A decision's reply line, as the session maps and formats it (at RCPT or
 * MAIL, after EHLO or HELO, mailbox in the 550): printable, bounded.
 */
static void check_decision(const struct smtp_decision *d, int at_rcpt,
    int esmtp, const char *mailbox)
{
	const struct smtp_reply *r;
	struct buf b = BUF_INIT;

	FUZZ_CHECK(d->verdict < SMTP_VERDICTS, "verdict %d", (int)d->verdict);
	r = smtp_verdict_reply(d->verdict, at_rcpt, esmtp, mailbox);
	smtp_reply_format(&b, r, esmtp, mailbox);
	FUZZ_CHECK(b.len >= 4 && b.len + 2 <= 512, "reply of %zu octets", b.len);
	FUZZ_CHECK(b.s[0] >= '2' && b.s[0] <= '5' && b.s[3] == ' ',
	    "malformed reply \"%.*s\"", (int)b.len, b.s);
	FUZZ_CHECK(fuzz_printable(b.s, b.len), "unprintable reply \"%.*s\"",
	    (int)b.len, b.s);
	FUZZ_CHECK(d->accept == (r->code == 250), "accept %d with %d",
	    d->accept, r->code);
	FUZZ_CHECK(d->reason != NULL, "decision without a reason");
	buf_free(&b);
}

/*
 * The relay policy (docs/PROTOCOL.md) for this recipient, every way a client
 * can come.
 */
static void check_policy(const struct smtp_path *p, enum smtp_rcpt_kind kind)
{
	struct smtp_decision d;

	for (int svc = 0; svc < SERVICE_COUNT; svc++) {
		if (svc == SERVICE_POP3 || svc == SERVICE_POP3S || svc == SERVICE_METRICS ||
		    svc == SERVICE_WEB)
			continue;
		for (int cls = CLIENT_OUTSIDE; cls <= CLIENT_TRUSTED; cls++) {
			for (int auth = AUTH_SOURCE_NONE; auth <= AUTH_SOURCE_SMTP; auth++) {
				for (int esmtp = 0; esmtp < 2; esmtp++) {
					smtp_policy_decide((enum service)svc, (enum client_class)cls,
					    (enum auth_source)auth, kind, &d);
					check_decision(&d, 1, esmtp, p->mailbox);
					if (kind == SMTP_RCPT_INVALID)
						FUZZ_CHECK(!d.accept, "an invalid recipient accepted");
					if (kind == SMTP_RCPT_REMOTE && cls == CLIENT_OUTSIDE &&
					    auth == AUTH_SOURCE_NONE)
						FUZZ_CHECK(!d.accept, "OPEN RELAY for <%s>", p->mailbox);
					if (kind == SMTP_RCPT_REMOTE && auth == AUTH_SOURCE_NONE &&
					    cls != CLIENT_TRUSTED)
						FUZZ_CHECK(!d.accept, "relay without authority for <%s>",
						    p->mailbox);
					FUZZ_CHECK(d.relay == (d.accept && kind == SMTP_RCPT_REMOTE),
					    "relay flag %d for kind %d", d.relay, (int)kind);
				}
			}
		}
	}
}

static void one(const char *arg, size_t len, int allow_null)
{
	struct smtp_path p, zero;
	const char *params = NULL;
	enum smtp_rcpt_kind kind;
	int r;

	memset(&zero, 0, sizeof zero);
	r = smtp_parse_path_arg(arg, len, allow_null, &p, &params);
	FUZZ_CHECK(r <= 0 && r >= SMTP_PATH_E8BIT, "unknown result %d", r);
	if (r != SMTP_PATH_OK) {
		struct smtp_decision d;

		smtp_policy_path_error(r, &d);
		check_decision(&d, !allow_null, 1, NULL);
		FUZZ_CHECK(!d.accept, "a bad path accepted");
		FUZZ_CHECK(memcmp(&p, &zero, sizeof p) == 0, "failed parse left data");
		FUZZ_CHECK(params == arg + len, "failed parse: params not at the end");
		FUZZ_CHECK(smtp_classify_rcpt(&p, domains, NDOMAINS) == SMTP_RCPT_INVALID,
		    "a zeroed path classifies");
		return;
	}
	FUZZ_CHECK(memchr(arg, '\0', len) == NULL, "NUL byte in an accepted argument");
	check_strings(&p);
	check_params(arg, len, params);
	FUZZ_CHECK(!p.is_null || allow_null, "<> accepted for RCPT");
	FUZZ_CHECK(!p.is_postmaster || !allow_null, "bare <Postmaster> accepted for MAIL");
	FUZZ_CHECK(p.is_null || p.is_postmaster || (p.local[0] && p.domain[0]),
	    "a path without local part or domain");
	FUZZ_CHECK(!p.had_route || p.route_hops > 0, "route without hops");
	kind = smtp_classify_rcpt(&p, domains, NDOMAINS);
	FUZZ_CHECK(kind == SMTP_RCPT_INVALID || kind == SMTP_RCPT_LOCAL ||
	    kind == SMTP_RCPT_REMOTE, "unknown kind %d", (int)kind);
	FUZZ_CHECK(strcmp(smtp_rcpt_kind_name(kind), "") != 0, "kind without name");
	if (p.is_routed)
		FUZZ_CHECK(kind != SMTP_RCPT_LOCAL, "routed local part is LOCAL: %s", p.mailbox);
	if (kind == SMTP_RCPT_LOCAL) {
		check_local(&p);
	} else {
		char key[SMTP_PATH_MAX + 1];

		FUZZ_CHECK(smtp_path_local_address(&p, domains, NDOMAINS, key,
		    sizeof key) == -1, "non-LOCAL path has a local key");
	}
	check_policy(&p, kind);
	/* With no local domains at all, nothing is local but <Postmaster>. */
	kind = smtp_classify_rcpt(&p, domains, 0);
	FUZZ_CHECK(kind != SMTP_RCPT_LOCAL, "LOCAL with no local domains: %s", p.mailbox);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so ASan sees any read past len. */
	char *arg = size ? malloc(size) : NULL;

	if (size && arg == NULL)
		return 0;
	if (size)
		memcpy(arg, data, size);
	one(arg ? arg : "", size, 1);
	one(arg ? arg : "", size, 0);
	free(arg);
	return 0;
}
