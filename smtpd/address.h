/*
 * address.h: the argument of MAIL FROM: and RCPT TO: (RFC 5321 §4.1.2, §3.3,
 * §4.5.3.1), and the one question the relay policy asks of it: is this
 * recipient one of ours (docs/PROTOCOL.md, relay policy)? Pure functions: no
 * I/O, no configuration; the local domains are passed in.
 */
#ifndef ISPMAILD_ADDRESS_H
#define ISPMAILD_ADDRESS_H

#include <stddef.h>

/* RFC 5321 §4.5.3.1: the size limits we enforce. */
#define SMTP_LOCAL_MAX	64	/* local part, as written (quotes included) */
#define SMTP_DOMAIN_MAX	255	/* domain, trailing dot not counted */
#define SMTP_LABEL_MAX	63	/* one label of a domain (RFC 1035) */
#define SMTP_PATH_MAX	256	/* "<" [route ":"] mailbox ">" */

/*
 * Results of smtp_parse_path_arg(): 0, or one of these (negative).
 * smtp_policy_path_error() (policy.h) turns each into its reply.
 */
enum smtp_path_err {
	SMTP_PATH_OK = 0,
	SMTP_PATH_ESYNTAX = -1,	/* not RFC 5321 syntax (also NUL, "<<a>>", a@b@c) */
	SMTP_PATH_ENULL = -2,	/* "<>" where it is not allowed (RCPT) */
	SMTP_PATH_ELOCAL = -3,	/* local part over SMTP_LOCAL_MAX */
	SMTP_PATH_EDOMAIN = -4,	/* domain over SMTP_DOMAIN_MAX or a label over 63 */
	SMTP_PATH_ELONG = -5,	/* the path over SMTP_PATH_MAX */
	SMTP_PATH_EPARAM = -6,	/* bad ESMTP parameter syntax after the path */
	SMTP_PATH_E8BIT = -7,	/* non-ASCII byte in the path (no SMTPUTF8 here) */
};

/*
 * A parsed path. Every string is NUL-terminated and made of printable
 * US-ASCII only (the grammar admits nothing else), so it is safe to echo
 * in a reply or a log line.
 */
struct smtp_path {
	/* The mailbox as the client wrote it, without the source route:
	 * "user@Example.NET.", "\"a@remote\"@local", "Postmaster"; "" for <>. */
	char mailbox[SMTP_PATH_MAX + 1];
	/* The local part as written (quotes and backslashes kept). */
	char local[SMTP_LOCAL_MAX + 1];
	/* Lower case, one trailing dot removed; "[192.0.2.1]" or
	 * "[ipv6:2001:db8::1]" for an address literal; "" for <> and for
	 * the bare <Postmaster>. */
	char domain[SMTP_DOMAIN_MAX + 1];
	/* The source route as written, without its ':' ("@a,@b"), "" if none.
	 * RFC 5321 §4.1.1.3 and appendix C: accepted and ignored. */
	char route[SMTP_PATH_MAX + 1];
	int is_null;		/* "<>" (MAIL only) */
	int is_literal;		/* domain is an address literal */
	int is_quoted;		/* local part is a quoted string */
	int is_postmaster;	/* the bare "<Postmaster>" of RFC 5321 §4.1.1.3 */
	int had_route;		/* a source route was given (and dropped) */
	int route_hops;		/* how many "@domain" in it */
	int is_routed;		/* local part holds '%', '!' or '@': it names
				 * another destination (Postfix's "routed") */
};

/*
 * Parse what follows "MAIL FROM:" or "RCPT TO:" (the verb and its colon
 * already consumed by the caller): any number of spaces (Outlook Express
 * writes "MAIL FROM: <x>"), then '<' path '>', then nothing, spaces, or
 * " " ESMTP parameters (RFC 5321 §4.1.2 Mail-parameters). The brackets are
 * required; a bare address is a syntax error, as is a space inside them.
 *
 * arg need not be NUL-terminated: exactly len bytes are read, so a NUL
 * byte is an ordinary (invalid) byte. allow_null is nonzero for MAIL FROM
 * and zero for RCPT TO: it admits the null path "<>" (RFC 5321 §4.5.5),
 * and its absence admits the bare "<Postmaster>" (§4.1.1.3) instead.
 * One trailing dot on the domain is tolerated (and dropped in ->domain);
 * an empty quoted local part ("") is refused.
 *
 * On success fills *out and, when params is not NULL, points *params into
 * arg at the first parameter; the parameters run to arg + len and have
 * already been checked against the esmtp-param grammar (use
 * smtp_param_next() to walk them). Returns 0 or an enum smtp_path_err;
 * on failure *out is all zero and *params is arg + len.
 */
int smtp_parse_path_arg(const char *arg, size_t len, int allow_null,
    struct smtp_path *out, const char **params);

/*
 * One ESMTP parameter: "SIZE=1000" gives keyword "SIZE" (keylen 4) and
 * value "1000"; a parameter without '=' has value NULL, valuelen 0.
 * Pointers point into the parameter text.
 */
struct smtp_param {
	const char *keyword;
	size_t keylen;
	const char *value;
	size_t valuelen;
};

/*
 * Walk the parameters that smtp_parse_path_arg() returned: *p is advanced
 * past one parameter and its separating spaces. Returns 1 with *out set,
 * 0 at end, -1 on a syntax error (for text that was not validated).
 */
int smtp_param_next(const char **p, const char *end, struct smtp_param *out);

enum smtp_rcpt_kind {
	SMTP_RCPT_INVALID = 0,	/* no recipient at all: "<>", or <Postmaster> with no domain */
	SMTP_RCPT_LOCAL,	/* ours: deliver into a Maildir (or an alias) */
	SMTP_RCPT_REMOTE,	/* anybody else's: relaying */
};

/*
 * Is this recipient ours? LOCAL only when the domain is one of the n
 * domains (any case, one trailing dot on either side ignored; a subdomain
 * is not local) and the local part names no other destination: no '%',
 * '!' or '@' in it, quoted or escaped or not ("a%remote@local",
 * "remote!a@local", "\"a@remote\"@local" are REMOTE). An address literal
 * is never local, not even the server's own address. The source route is
 * ignored as RFC 5321 §4.1.1.3 asks: the mailbox after it is the
 * destination ("@local:a@remote" is REMOTE, "@remote:a@local" LOCAL).
 * The bare <Postmaster> is LOCAL (postmaster in the first domain).
 */
enum smtp_rcpt_kind smtp_classify_rcpt(const struct smtp_path *p,
    char *const *domains, size_t n);

const char *smtp_rcpt_kind_name(enum smtp_rcpt_kind k);

/*
 * The key a LOCAL recipient is looked up by in the users and aliases
 * files: "local@domain" in lower case, the quoted form unquoted
 * ("\"John.Doe\"@x" is john.doe@x), the bare <Postmaster> as
 * postmaster@<first domain>. Returns 0, or -1 when the path is not LOCAL,
 * when out is too small, or when the local part could not be a mailbox
 * name (a space, '/', '"' or '\\' in it, a leading or doubled dot...):
 * such a recipient cannot exist, and must never reach a file name.
 */
int smtp_path_local_address(const struct smtp_path *p, char *const *domains,
    size_t n, char *out, size_t outlen);

#endif
