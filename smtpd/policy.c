/*
 * policy.c: who may send what to whom (docs/PROTOCOL.md, relay policy,
 * POP-before-SMTP), decided at MAIL and RCPT without touching a socket or a
 * file: each returns a verdict, which the session answers with its reply.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "policy.h"

/* The decision: verdict v, logged as reason. */
static int decide(struct smtp_decision *out, enum smtp_verdict v,
    const char *reason)
{
	out->verdict = v;
	out->accept = v == SMTP_VERDICT_SENDER_OK || v == SMTP_VERDICT_LOCAL ||
	    v == SMTP_VERDICT_RELAY;
	out->relay = v == SMTP_VERDICT_RELAY;
	out->reason = reason;
	return out->accept;
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
    enum auth_source auth, struct smtp_decision *out)
{
	const char *who = authority(cls, auth);

	if (who == NULL && service != SERVICE_SMTP)
		return decide(out, SMTP_VERDICT_AUTH_REQUIRED, "auth-required");
	return decide(out, SMTP_VERDICT_SENDER_OK, who ? who : "anonymous");
}

int smtp_policy_decide(enum service service, enum client_class cls,
    enum auth_source auth, enum smtp_rcpt_kind kind,
    struct smtp_decision *out)
{
	const char *who = authority(cls, auth);

	if (kind != SMTP_RCPT_LOCAL && kind != SMTP_RCPT_REMOTE)
		return decide(out, SMTP_VERDICT_BAD_PATH, "invalid");
	if (who == NULL && service != SERVICE_SMTP)
		return decide(out, SMTP_VERDICT_AUTH_REQUIRED, "auth-required");
	if (who != NULL) {
		if (kind == SMTP_RCPT_LOCAL)
			return decide(out, SMTP_VERDICT_LOCAL, "local");
		return decide(out, SMTP_VERDICT_RELAY,
		    auth == AUTH_SOURCE_SMTP ? "relay=auth" :
		    cls == CLIENT_TRUSTED ? "relay=trusted" :
		    "relay=pop-before-smtp");
	}
	if (cls == CLIENT_CUSTOMER)
		return decide(out, SMTP_VERDICT_FIRST_POP, "relay=first-pop");
	if (kind == SMTP_RCPT_LOCAL)
		return decide(out, SMTP_VERDICT_LOCAL, "local");
	return decide(out, SMTP_VERDICT_DENIED, "relay=denied");
}

int smtp_policy_path_error(int err, struct smtp_decision *out)
{
	static const struct {
		int err;
		enum smtp_verdict v;
	} map[] = {
		{ SMTP_PATH_ELONG, SMTP_VERDICT_PATH_LONG },
		{ SMTP_PATH_ELOCAL, SMTP_VERDICT_LOCAL_LONG },
		{ SMTP_PATH_EDOMAIN, SMTP_VERDICT_DOMAIN_LONG },
		{ SMTP_PATH_EPARAM, SMTP_VERDICT_BAD_PARAM },
		{ SMTP_PATH_E8BIT, SMTP_VERDICT_NON_ASCII },
	};
	size_t i;

	for (i = 0; i < sizeof map / sizeof map[0]; i++)
		if (map[i].err == err)
			return decide(out, map[i].v, "syntax");
	/* ESYNTAX, ENULL, anything else */
	return decide(out, SMTP_VERDICT_BAD_PATH, "syntax");
}

int smtp_policy_sender(const struct smtp_sender_facts *f, struct smtp_decision *out)
{
	const char *sender = f->sender ? f->sender : "";

	if (*sender == '\0')
		return decide(out, SMTP_VERDICT_SENDER_OK, "sender");
	if (f->login_match && f->auth != AUTH_SOURCE_NONE && f->user != NULL &&
	    *f->user != '\0' && strcasecmp(f->user, sender) != 0)
		return decide(out, SMTP_VERDICT_NOT_OWNER, "sender=not-owner");
	if (f->local_from_outside && f->cls == CLIENT_OUTSIDE &&
	    f->auth == AUTH_SOURCE_NONE && f->sender_local)
		return decide(out, SMTP_VERDICT_LOCAL_SENDER, "sender=local");
	return decide(out, SMTP_VERDICT_SENDER_OK, "sender");
}

int smtp_policy_rate(int over_user, int over_address, struct smtp_decision *out)
{
	if (over_user)
		return decide(out, SMTP_VERDICT_RATE_LIMITED, "ratelimit=user");
	if (over_address)
		return decide(out, SMTP_VERDICT_RATE_LIMITED, "ratelimit=address");
	return decide(out, SMTP_VERDICT_RELAY, "relay");
}
