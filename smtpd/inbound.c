/*
 * inbound.c: what mail from outside meets at RCPT before it is accepted
 * for a local recipient (docs/PROTOCOL.md, "DNSBL" and "Greylisting"):
 * the client's address in the DNSBL zones, then the greylist. Only an
 * outside client that is not authorized is checked; postmaster@ and
 * abuse@ are never refused by a DNSBL. Each check that cannot be made (a
 * zone that does not answer, the database) lets the mail in and is
 * logged: these defences must never lose mail.
 */
#include "config.h"

#include <time.h>

#include "address.h"
#include "dns.h"
#include "dnsbl.h"
#include "greylist.h"
#include "log.h"
#include "smtp.h"
#include "smtpd.h"

/* Refused: counted, logged like the relay refusals, no client error. */
static int refuse(struct smtp *s, const struct smtp_path *path, enum stats_reject why,
    const char *reason)
{
	stats_reject(why);
	if (++s->refusals <= SMTP_REFUSALS_LOGGED)
		log_info("rcpt to=%s result=reject code=%d reason=%s",
		    log_qaddr(path->mailbox), why == STAT_REJECT_DNSBL ?
		    SMTP_DNSBL_BLOCKED.code : SMTP_GREYLISTED.code, reason);
	else
		s->unlogged[why]++;
	return -1;
}

int smtp_inbound_check(struct smtp *s, const struct smtp_path *path, enum auth_source auth)
{
	const struct conf *c = s->conf;
	struct dnsbl_answer ans;
	struct greylist_result g;
	int authorized;

	if (s->ctx->class != CLIENT_OUTSIDE ||
	    (c->dnsbl.nzones == 0 && !c->greylist.enabled))
		return 0;
	/* A roaming customer may come from outside: ask only now. */
	authorized = auth != AUTH_SOURCE_NONE || smtp_client_authorized(s);
	if (c->dnsbl.nzones > 0) {
		if (s->resolver == NULL && !s->resolver_failed) {
			char err[256];

			s->resolver = dns_resolver_new(c->dns_nameserver, err, sizeof err);
			if (s->resolver == NULL) {
				s->resolver_failed = 1;
				log_error("dnsbl result=error reason=\"%s\"", err);
			}
		}
		if (s->resolver != NULL && dnsbl_rcpt_check(s->resolver, c, &s->dnsbl,
		    s->ctx->class, authorized, s->ctx->client_text, path->mailbox,
		    &ans) == DNSBL_BLOCK) {
			smtp_reply2(s, &SMTP_DNSBL_BLOCKED, s->ctx->client_text, ans.zone);
			return refuse(s, path, STAT_REJECT_DNSBL, "dnsbl");
		}
	}
	if (c->greylist.enabled && greylist_rcpt_check_state(smtp_state(s), c, s->ctx->class,
	    authorized, s->ctx->client_text, s->sender.mailbox, path->mailbox, time(NULL),
	    &g) == GREYLIST_DEFER) {
		smtp_reply(s, &SMTP_GREYLISTED, NULL);
		return refuse(s, path, STAT_REJECT_GREYLIST, "greylist");
	}
	return 0;
}
