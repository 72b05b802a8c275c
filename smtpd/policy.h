/*
 * policy.h: the relay policy (docs/PROTOCOL.md, relay policy) as pure
 * functions of the service, the client's class, how it is authorized and the
 * recipient's kind, each decision naming its reply in smtp_replies.h.
 */
#ifndef ISPMAILD_POLICY_H
#define ISPMAILD_POLICY_H

#include "address.h"
#include "conf.h"	/* enum service */
#include "net.h"	/* enum client_class */
#include "smtp_replies.h"

/* Why a client may relay, beyond its class. */
enum auth_source {
	AUTH_SOURCE_NONE = 0,
	AUTH_SOURCE_POP,	/* relay DB entry younger than authorization_ttl */
	AUTH_SOURCE_SMTP,	/* SMTP AUTH succeeded in this session */
};

/*
 * A decision: the reply (smtp_replies.h; arg fills its %s, after HELO
 * without the enhanced code), and the reason for the log line.
 */
struct smtp_decision {
	int accept;		/* 1: the reply is 250 */
	int relay;		/* 1: accepted for a remote recipient: queue it */
	const struct smtp_reply *reply;
	const char *arg;	/* the mailbox in the 550, else NULL */
	const char *reason;	/* static, for the log line (see below) */
};

/*
 * MAIL FROM (docs/PROTOCOL.md, relay policy): on submission and smtps (any
 * service but smtp) a client neither trusted nor authorized gets "530 5.7.0
 * Authentication required" (RFC 4954 §6); everything else is accepted here
 * and judged at RCPT. esmtp: the client said EHLO (enhanced codes, RFC 2034)
 * rather than HELO. Reasons: "trusted", "auth", "pop-before-smtp",
 * "anonymous" (port 25, nothing to show), "auth-required". Fills *out;
 * returns out->accept.
 */
int smtp_policy_mail(enum service service, enum client_class cls,
    enum auth_source auth, int esmtp, struct smtp_decision *out);

/*
 * RCPT TO (docs/PROTOCOL.md, relay policy), on port 25:
 *   trusted or authorized:    local: 250 "local", remote: 250 + relay
 *                             ("relay=auth", "relay=trusted",
 *                             "relay=pop-before-smtp", in that order of
 *                             precedence);
 *   customer, not authorized: 553 "first check your mail" ("relay=first-pop");
 *   outside, not authorized:  local: 250 "local" (inbound mail),
 *                             remote: 550 "relaying to <x> prohibited"
 *                             ("relay=denied").
 * On any other service an unauthorized, untrusted client gets the 530 of
 * smtp_policy_mail() again ("auth-required"), in case MAIL let it by.
 * An INVALID kind gets "501 5.1.3 Bad recipient address syntax"
 * ("invalid"). mailbox is the recipient as the client wrote it, without a
 * source route (struct smtp_path's mailbox); it appears in the 550 only,
 * and is left out of it when it holds anything but printable ASCII.
 * Fills *out; returns out->accept.
 */
int smtp_policy_decide(enum service service, enum client_class cls,
    enum auth_source auth, enum smtp_rcpt_kind kind, int esmtp,
    const char *mailbox, struct smtp_decision *out);

/*
 * The reply to a path that smtp_parse_path_arg() refused (err < 0),
 * for MAIL (is_rcpt 0: enhanced codes X.1.7) or RCPT (X.1.3):
 *   ESYNTAX, ENULL  501 5.1.7 Bad sender address syntax /
 *                   501 5.1.3 Bad recipient address syntax
 *   ELONG           501 5.1.x Path too long (RFC 5321 §4.5.3.1.10)
 *   ELOCAL          501 5.1.x Local part too long
 *   EDOMAIN         501 5.1.x Domain name too long
 *   EPARAM          501 5.5.4 Syntax error in parameters
 *   E8BIT           553 5.6.7 Non-ASCII address not permitted (RFC 6531)
 * Reason "syntax". Fills *out (never accepted); returns 0.
 */
int smtp_policy_path_error(int err, int is_rcpt, int esmtp,
    struct smtp_decision *out);

#endif
