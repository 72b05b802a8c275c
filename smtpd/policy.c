/*
 * policy.c: who may send what to whom (docs/PROTOCOL.md, relay policy,
 * POP-before-SMTP), decided at MAIL and RCPT without touching a socket or a
 * file. The replies are smtp_replies.h's (RFC 4954 §6 for 530).
 */
#include "config.h"

#include <string.h>

#include "policy.h"

/* A mailbox goes into a reply only if it cannot break the line. */
static int mailbox_printable(const char *m)
{
	size_t n = 0;

	if (m == NULL || *m == '\0')
		return 0;
	for (; m[n] != '\0'; n++)
		if ((unsigned char)m[n] < 0x20 || (unsigned char)m[n] > 0x7e ||
		    n >= SMTP_PATH_MAX)
			return 0;
	return 1;
}

/* The decision: reply r (arg fills its %s), logged as reason. */
static void decide(struct smtp_decision *out, const struct smtp_reply *r,
    const char *arg, const char *reason)
{
	out->reply = r;
	out->arg = arg;
	out->accept = r->code == 250;
	out->reason = reason;
}

/*
 * What the client can show besides its class, strongest first: SMTP AUTH
 * names a user, a trusted network is fixed, a POP login is borrowed.
 */
static const char *authority(enum client_class cls, enum auth_source auth)
{
	if (auth == AUTH_SOURCE_SMTP)
		return "auth";
	if (cls == CLIENT_TRUSTED)
		return "trusted";
	if (auth == AUTH_SOURCE_POP)
		return "pop-before-smtp";
	return NULL;
}

int smtp_policy_mail(enum service service, enum client_class cls,
    enum auth_source auth, int esmtp, struct smtp_decision *out)
{
	const char *who = authority(cls, auth);

	(void)esmtp;		/* the reply's form is the session's */
	memset(out, 0, sizeof *out);
	if (who == NULL && service != SERVICE_SMTP)
		decide(out, &SMTP_AUTH_REQUIRED, NULL, "auth-required");
	else
		decide(out, &SMTP_MAIL_OK, NULL, who ? who : "anonymous");
	return out->accept;
}

int smtp_policy_decide(enum service service, enum client_class cls,
    enum auth_source auth, enum smtp_rcpt_kind kind, int esmtp,
    const char *mailbox, struct smtp_decision *out)
{
	const char *who = authority(cls, auth);

	memset(out, 0, sizeof *out);
	if (kind != SMTP_RCPT_LOCAL && kind != SMTP_RCPT_REMOTE) {
		decide(out, &SMTP_BAD_RECIPIENT, NULL, "invalid");
	} else if (who == NULL && service != SERVICE_SMTP) {
		decide(out, &SMTP_AUTH_REQUIRED, NULL, "auth-required");
	} else if (who != NULL) {
		if (kind == SMTP_RCPT_LOCAL) {
			decide(out, &SMTP_RCPT_OK, NULL, "local");
		} else {
			decide(out, &SMTP_RCPT_OK, NULL,
			    auth == AUTH_SOURCE_SMTP ? "relay=auth" :
			    cls == CLIENT_TRUSTED ? "relay=trusted" :
			    "relay=pop-before-smtp");
			out->relay = 1;
		}
	} else if (cls == CLIENT_CUSTOMER) {
		decide(out, esmtp ? &SMTP_FIRST_POP : &SMTP_FIRST_POP_HELO,
		    NULL, "relay=first-pop");
	} else if (kind == SMTP_RCPT_LOCAL) {
		decide(out, &SMTP_RCPT_OK, NULL, "local");
	} else {
		decide(out, mailbox_printable(mailbox) ? &SMTP_RELAY_DENIED :
		    &SMTP_RELAY_DENIED_NOBOX, mailbox, "relay=denied");
	}
	return out->accept;
}

int smtp_policy_path_error(int err, int is_rcpt, int esmtp,
    struct smtp_decision *out)
{
	const struct smtp_reply *r;

	(void)esmtp;
	memset(out, 0, sizeof *out);
	switch (err) {
	case SMTP_PATH_ELONG:
		r = is_rcpt ? &SMTP_RCPT_TOO_LONG : &SMTP_SENDER_TOO_LONG;
		break;
	case SMTP_PATH_ELOCAL:
		r = is_rcpt ? &SMTP_RCPT_LOCAL_LONG : &SMTP_SENDER_LOCAL_LONG;
		break;
	case SMTP_PATH_EDOMAIN:
		r = is_rcpt ? &SMTP_RCPT_DOMAIN_LONG : &SMTP_SENDER_DOMAIN_LONG;
		break;
	case SMTP_PATH_EPARAM:
		r = &SMTP_BAD_PARAMS;
		break;
	case SMTP_PATH_E8BIT:
		r = &SMTP_NON_ASCII;
		break;
	default:		/* ESYNTAX, ENULL, anything else */
		r = is_rcpt ? &SMTP_BAD_RECIPIENT : &SMTP_BAD_SENDER;
		break;
	}
	decide(out, r, NULL, "syntax");
	return 0;
}
