/*
 * policy.h: the relay policy (docs/PROTOCOL.md, relay policy) as pure
 * functions of the service, the client's class, how it is authorized and the
 * recipient's kind, each returning a verdict (the session picks the reply).
 */
#ifndef ISPMAILD_POLICY_H
#define ISPMAILD_POLICY_H

#include "address.h"
#include "conf.h"	/* enum service */
#include "net.h"	/* enum client_class */

/* Why a client may relay, beyond its class. */
enum auth_source {
	AUTH_SOURCE_NONE = 0,
	AUTH_SOURCE_POP,	/* relay DB entry younger than authorization_ttl */
	AUTH_SOURCE_SMTP,	/* SMTP AUTH succeeded in this session */
};

/*
 * What the policy decided; the session answers each verdict with one reply
 * of smtp_replies.h (smtp_verdict_reply(), smtp_session.c), by where it
 * was asked (MAIL or RCPT) and how the client greeted (HELO or EHLO).
 */
enum smtp_verdict {
	SMTP_VERDICT_SENDER_OK,		/* MAIL: accepted, judged at RCPT */
	SMTP_VERDICT_LOCAL,		/* RCPT: accepted, a local recipient */
	SMTP_VERDICT_RELAY,		/* RCPT: accepted for a remote one */
	SMTP_VERDICT_FIRST_POP,		/* 553: customer, not authorized */
	SMTP_VERDICT_DENIED,		/* 550: outside, not authorized */
	SMTP_VERDICT_AUTH_REQUIRED,	/* 530: submission/smtps, no authority */
	SMTP_VERDICT_BAD_PATH,		/* 501: address syntax (or no kind) */
	SMTP_VERDICT_PATH_LONG,		/* 501: path over SMTP_PATH_MAX */
	SMTP_VERDICT_LOCAL_LONG,	/* 501: local part over 64 */
	SMTP_VERDICT_DOMAIN_LONG,	/* 501: domain over 255 */
	SMTP_VERDICT_BAD_PARAM,		/* 501: parameter syntax */
	SMTP_VERDICT_NON_ASCII,		/* 553: 8-bit address (RFC 6531) */
	SMTP_VERDICT_NOT_OWNER,		/* 553: MAIL as someone else's address */
	SMTP_VERDICT_LOCAL_SENDER,	/* 550: outside client, local sender */
	SMTP_VERDICT_RATE_LIMITED,	/* 451: RCPT over an outbound limit */
	SMTP_VERDICTS
};

struct smtp_decision {
	enum smtp_verdict verdict;
	int accept;		/* 1: SENDER_OK, LOCAL or RELAY */
	int relay;		/* 1: RELAY: queue it */
	const char *reason;	/* static, for the log line (see below) */
};

/*
 * MAIL FROM (docs/PROTOCOL.md, relay policy): on submission and smtps (any
 * service but smtp) a client neither trusted nor authorized gets
 * AUTH_REQUIRED (RFC 4954 §6); everything else is SENDER_OK here and
 * judged at RCPT. Reasons: "trusted", "auth", "pop-before-smtp",
 * "anonymous" (port 25, nothing to show), "auth-required". Fills *out;
 * returns out->accept.
 */
int smtp_policy_mail(enum service service, enum client_class cls,
    enum auth_source auth, struct smtp_decision *out);

/*
 * RCPT TO (docs/PROTOCOL.md, relay policy), on port 25:
 *   trusted or authorized:    local: LOCAL ("local"), remote: RELAY
 *                             ("relay=auth", "relay=trusted",
 *                             "relay=pop-before-smtp", in that order of
 *                             precedence);
 *   customer, not authorized: FIRST_POP ("relay=first-pop");
 *   outside, not authorized:  local: LOCAL ("local", inbound mail),
 *                             remote: DENIED ("relay=denied").
 * On any other service an unauthorized, untrusted client gets the
 * AUTH_REQUIRED of smtp_policy_mail() again ("auth-required"), in case
 * MAIL let it by. An INVALID kind is BAD_PATH ("invalid"). Fills *out;
 * returns out->accept.
 */
int smtp_policy_decide(enum service service, enum client_class cls,
    enum auth_source auth, enum smtp_rcpt_kind kind,
    struct smtp_decision *out);

/*
 * The verdict on a path that smtp_parse_path_arg() refused (err < 0):
 *   ESYNTAX, ENULL  BAD_PATH
 *   ELONG           PATH_LONG (RFC 5321 §4.5.3.1.10)
 *   ELOCAL          LOCAL_LONG
 *   EDOMAIN         DOMAIN_LONG
 *   EPARAM          BAD_PARAM
 *   E8BIT           NON_ASCII
 * Reason "syntax". Fills *out (never accepted); returns 0.
 */
int smtp_policy_path_error(int err, struct smtp_decision *out);

/* What the sender checks (relay block) look at, all known at MAIL. */
struct smtp_sender_facts {
	int login_match;	/* relay.sender_login_match */
	int local_from_outside;	/* relay.local_sender_from_outside */
	enum client_class cls;
	enum auth_source auth;
	const char *user;	/* the authorized user, NULL when none or not
				   a mailbox (a relay add entry's "admin") */
	const char *sender;	/* the envelope sender, "" for <> */
	int sender_local;	/* the sender is in a local domain */
};

/*
 * The sender checks at MAIL (docs: ispmaild.conf(5), relay), both off by
 * default; the null sender <> always passes:
 *   login_match, an authorized user (SMTP AUTH or POP-before-SMTP with a
 *     user) sending as any address but its own (compared without regard
 *     to case): NOT_OWNER ("sender=not-owner");
 *   local_from_outside, an outside client that is not authorized sending
 *     as an address in a local domain: LOCAL_SENDER ("sender=local");
 * else SENDER_OK ("sender"). Fills *out; returns out->accept.
 */
int smtp_policy_sender(const struct smtp_sender_facts *f, struct smtp_decision *out);

/*
 * A relayed RCPT against the outbound limits (relaydb_rate_take's answer):
 * over_user or over_address, RATE_LIMITED ("ratelimit=user",
 * "ratelimit=address", the user's first); else RELAY ("relay"). Trusted
 * clients are exempt: the caller does not count them. Fills *out; returns
 * out->accept.
 */
int smtp_policy_rate(int over_user, int over_address, struct smtp_decision *out);

#endif
