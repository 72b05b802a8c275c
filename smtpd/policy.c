/*
 * policy.c: who may send what to whom (docs/PROTOCOL.md, relay policy,
 * POP-before-SMTP), decided at MAIL and RCPT without touching a socket or a
 * file, and the only home of the reply texts those decisions send (RFC 2034
 * enhanced codes after EHLO only; RFC 4954 §6 for 530).
 */
#include "config.h"

#include <string.h>

#include "buf.h"
#include "policy.h"

enum reply_id {
	REPLY_MAIL_OK,
	REPLY_RCPT_OK,
	REPLY_FIRST_POP,
	REPLY_DENIED,
	REPLY_DENIED_NOBOX,
	REPLY_AUTH_REQUIRED,
	REPLY_BAD_PATH,
	REPLY_PATH_LONG,
	REPLY_LOCAL_LONG,
	REPLY_DOMAIN_LONG,
	REPLY_BAD_PARAM,
	REPLY_NON_ASCII,
};

/*
 * Every reply, as "code enhanced text" after EHLO and "code text suffix"
 * after HELO. A reply with a mailbox (after != NULL) reads text, the
 * mailbox, after. enhanced_mail, when set, replaces enhanced at MAIL.
 * The 553 and 550 texts are docs/PROTOCOL.md's, byte for byte.
 */
static const struct reply {
	int code;
	const char *enhanced;
	const char *enhanced_mail;
	const char *text;
	const char *after;
	const char *helo_suffix;
} replies[] = {
	[REPLY_MAIL_OK] = { 250, "2.1.0", NULL, "Ok", NULL, NULL },
	[REPLY_RCPT_OK] = { 250, "2.1.5", NULL, "Ok", NULL, NULL },
	[REPLY_FIRST_POP] = { 553, "5.7.1", NULL,
	    "To send mail, first check your mail with a valid POP account; "
	    "this prevents unauthorized SPAM relaying.", NULL, " (#5.7.1)" },
	[REPLY_DENIED] = { 550, "5.7.1", NULL, "relaying to <",
	    "> prohibited by administrator", NULL },
	[REPLY_DENIED_NOBOX] = { 550, "5.7.1", NULL,
	    "relaying prohibited by administrator", NULL, NULL },
	[REPLY_AUTH_REQUIRED] = { 530, "5.7.0", NULL,
	    "Authentication required", NULL, NULL },
	[REPLY_BAD_PATH] = { 501, "5.1.3", "5.1.7", NULL, NULL, NULL },
	[REPLY_PATH_LONG] = { 501, "5.1.3", "5.1.7", "Path too long", NULL, NULL },
	[REPLY_LOCAL_LONG] = { 501, "5.1.3", "5.1.7", "Local part too long", NULL, NULL },
	[REPLY_DOMAIN_LONG] = { 501, "5.1.3", "5.1.7", "Domain name too long", NULL, NULL },
	[REPLY_BAD_PARAM] = { 501, "5.5.4", NULL, "Syntax error in parameters", NULL, NULL },
	[REPLY_NON_ASCII] = { 553, "5.6.7", NULL, "Non-ASCII address not permitted", NULL, NULL },
};

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

/* Build reply id into out; at_mail picks the sender's enhanced code. */
static void reply_set(struct smtp_decision *out, enum reply_id id, int esmtp,
    int at_mail, const char *mailbox, const char *reason)
{
	const struct reply *r = &replies[id];
	const char *enh = at_mail && r->enhanced_mail ? r->enhanced_mail : r->enhanced;
	const char *text = r->text;

	if (id == REPLY_DENIED && !mailbox_printable(mailbox)) {
		reply_set(out, REPLY_DENIED_NOBOX, esmtp, at_mail, NULL, reason);
		return;
	}
	if (text == NULL)
		text = at_mail ? "Bad sender address syntax" :
		    "Bad recipient address syntax";
	out->code = r->code;
	out->accept = r->code == 250;
	out->reason = reason;
	/* Bounded by construction (the mailbox is at most SMTP_PATH_MAX). */
	if (str_format(out->text, sizeof out->text, "%d %s%s%s%s%s%s", r->code,
	    esmtp ? enh : "", esmtp ? " " : "", text,
	    r->after ? mailbox : "", r->after ? r->after : "",
	    !esmtp && r->helo_suffix ? r->helo_suffix : "") < 0 &&
	    id != REPLY_DENIED_NOBOX)
		reply_set(out, REPLY_DENIED_NOBOX, esmtp, at_mail, NULL, reason);
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

	memset(out, 0, sizeof *out);
	if (who == NULL && service != SERVICE_SMTP)
		reply_set(out, REPLY_AUTH_REQUIRED, esmtp, 1, NULL, "auth-required");
	else
		reply_set(out, REPLY_MAIL_OK, esmtp, 1, NULL, who ? who : "anonymous");
	return out->accept;
}

int smtp_policy_decide(enum service service, enum client_class cls,
    enum auth_source auth, enum smtp_rcpt_kind kind, int esmtp,
    const char *mailbox, struct smtp_decision *out)
{
	const char *who = authority(cls, auth);

	memset(out, 0, sizeof *out);
	if (kind != SMTP_RCPT_LOCAL && kind != SMTP_RCPT_REMOTE) {
		reply_set(out, REPLY_BAD_PATH, esmtp, 0, NULL, "invalid");
	} else if (who == NULL && service != SERVICE_SMTP) {
		reply_set(out, REPLY_AUTH_REQUIRED, esmtp, 0, NULL, "auth-required");
	} else if (who != NULL) {
		if (kind == SMTP_RCPT_LOCAL) {
			reply_set(out, REPLY_RCPT_OK, esmtp, 0, NULL, "local");
		} else {
			reply_set(out, REPLY_RCPT_OK, esmtp, 0, NULL,
			    auth == AUTH_SOURCE_SMTP ? "relay=auth" :
			    cls == CLIENT_TRUSTED ? "relay=trusted" :
			    "relay=pop-before-smtp");
			out->relay = 1;
		}
	} else if (cls == CLIENT_CUSTOMER) {
		reply_set(out, REPLY_FIRST_POP, esmtp, 0, NULL, "relay=first-pop");
	} else if (kind == SMTP_RCPT_LOCAL) {
		reply_set(out, REPLY_RCPT_OK, esmtp, 0, NULL, "local");
	} else {
		reply_set(out, REPLY_DENIED, esmtp, 0, mailbox, "relay=denied");
	}
	return out->accept;
}

int smtp_policy_path_error(int err, int is_rcpt, int esmtp,
    struct smtp_decision *out)
{
	enum reply_id id;

	memset(out, 0, sizeof *out);
	switch (err) {
	case SMTP_PATH_ELONG:
		id = REPLY_PATH_LONG;
		break;
	case SMTP_PATH_ELOCAL:
		id = REPLY_LOCAL_LONG;
		break;
	case SMTP_PATH_EDOMAIN:
		id = REPLY_DOMAIN_LONG;
		break;
	case SMTP_PATH_EPARAM:
		id = REPLY_BAD_PARAM;
		break;
	case SMTP_PATH_E8BIT:
		id = REPLY_NON_ASCII;
		break;
	default:		/* ESYNTAX, ENULL, anything else */
		id = REPLY_BAD_PATH;
		break;
	}
	reply_set(out, id, esmtp, !is_rcpt, NULL, "syntax");
	return 0;
}
