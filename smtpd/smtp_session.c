/*
 * smtp_session.c: one SMTP session (RFC 5321 §4.1). A state machine with
 * a command table; replies are batched and flushed only when no pipelined
 * input waits (RFC 2920). Each command's allowed states and flags are in
 * the table and checked once, in dispatch. RCPT asks the relay policy
 * (policy.c, a verdict) and the relay DB; AUTH is auth.c's, DATA is
 * intake.c's (docs/ARCHITECTURE.md).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "aliases.h"
#include "buf.h"
#include "log.h"
#include "users.h"
#include "maildir.h"
#include "policy.h"
#include "ratelimit.h"
#include "recipient.h"
#include "relaydb.h"
#include "smtp.h"
#include "dns.h"
#include "smtpd.h"
#include "smtp_replies.h"
#include "stats.h"
#include "stream.h"

static const char *const state_names[] = { "start", "ready", "mail", "rcpt" };

const char *smtp_state_name(enum smtp_state st)
{
	return state_names[st];
}

/*
 * What a command needs besides its states (struct smtp_command), checked
 * by dispatch() in the order of this list, which is the order the replies
 * depend on (docs/PROTOCOL.md).
 */
enum smtp_command_flag {
	CMD_JUNK = 1 << 0,		/* moves nothing on: junk_command_limit */
	CMD_JUNK_AGAIN = 1 << 1,	/* junk once greeted (HELO/EHLO again) */
	CMD_NO_ARGS = 1 << 2,		/* takes no argument */
	CMD_ESMTP = 1 << 3,		/* after EHLO only, not HELO */
	CMD_ONCE_AUTH = 1 << 4,		/* not after a successful AUTH */
	CMD_BEFORE_TLS = 1 << 5,	/* never once TLS is active */
	CMD_TLS_OFFERED = 1 << 6,	/* only where the listener has TLS */
};

/* The states a command is allowed in: a mask of 1 << enum smtp_state. */
#define IN(st) (1u << (st))
#define ANY (IN(SMTP_STATE_START) | IN(SMTP_STATE_READY) | \
	IN(SMTP_STATE_MAIL) | IN(SMTP_STATE_RCPT))

/*
 * One row of the command table. verb: a refusal is logged and counted as
 * this command's (smtp_refuse(): "mail result=reject ... reason=sequence"),
 * else it is only a client error. busy: the reply in a state past the
 * allowed ones (a transaction under way); a state before them gets what
 * is missing (early_reply()).
 */
struct smtp_command {
	const char *name;
	unsigned states;
	unsigned flags;
	const char *verb;
	const struct smtp_reply *busy;
	void (*handler)(struct smtp *s, char *arg);
};

/* One state change, one log line (OpenSMTPD's enter_state habit). */
void smtp_enter_state(struct smtp *s, enum smtp_state to)
{
	if (s->state != to)
		log_debug("state from=%s to=%s", smtp_state_name(s->state), smtp_state_name(to));
	s->state = to;
}

/*
 * The one formatter of smtp_replies.h: "code enhanced text" after EHLO,
 * "code text" after HELO (RFC 2034), arg in place of the one "%s".
 */
void smtp_reply_format2(struct buf *b, const struct smtp_reply *r, int esmtp,
    const char *arg, const char *arg2)
{
	const char *t = r->text, *pct;
	const char *args[2] = { arg, arg2 };

	if (esmtp && r->enhanced != NULL)
		buf_printf(b, "%d %s ", r->code, r->enhanced);
	else
		buf_printf(b, "%d ", r->code);
	for (int i = 0; i < 2 && (pct = strstr(t, "%s")) != NULL; i++) {
		buf_append(b, t, (size_t)(pct - t));
		buf_appends(b, args[i] ? args[i] : "");
		t = pct + 2;
	}
	buf_appends(b, t);
}

void smtp_reply_format(struct buf *b, const struct smtp_reply *r, int esmtp,
    const char *arg)
{
	smtp_reply_format2(b, r, esmtp, arg, NULL);
}

/* Queue a reply; it is flushed with the rest of the batch. */
void smtp_reply(struct smtp *s, const struct smtp_reply *r, const char *arg)
{
	smtp_reply_format(&s->st.wbuf, r, s->esmtp, arg);
	stream_write(&s->st, "\r\n", 2);
}

void smtp_reply2(struct smtp *s, const struct smtp_reply *r, const char *arg,
    const char *arg2)
{
	smtp_reply_format2(&s->st.wbuf, r, s->esmtp, arg, arg2);
	stream_write(&s->st, "\r\n", 2);
}

/*
 * Count a client error; limits.error_limit of them end the session (a
 * scanner, a bot, a relay prober: refused relaying counts too).
 */
void smtp_count_error(struct smtp *s)
{
	if (++s->errors >= s->conf->limits.error_limit) {
		smtp_reply(s, &SMTP_TOO_MANY_ERR, s->conf->hostname);
		log_warn("close reason=too-many-errors count=%d", s->errors);
		stats_closed(STAT_CLOSE_ERRORS);
		s->quit = 1;
	}
}

void smtp_client_error(struct smtp *s, const struct smtp_reply *r, const char *arg)
{
	smtp_reply(s, r, arg);
	smtp_count_error(s);
}

/*
 * A MAIL, RCPT or DATA refused for its form ("syntax") or its place in
 * the dialogue ("sequence"): logged and counted like every other refusal,
 * so that the metrics and the log never disagree, and a client error.
 */
void smtp_refuse(struct smtp *s, const char *verb, const char *reason,
    const struct smtp_reply *r, const char *arg)
{
	log_info("%s result=reject code=%d reason=%s", verb, r->code, reason);
	stats_reject(STAT_REJECT_SYNTAX);
	smtp_client_error(s, r, arg);
}

/*
 * NOOP, RSET, HELP, VRFY and a repeated HELO/EHLO move nothing on, yet
 * each resets the command timeout: past limits.junk_command_limit of them
 * since the last message the client only holds a process (Postfix's
 * smtpd_junk_command_limit). 1 when the session ends here.
 */
int smtp_junk_command(struct smtp *s)
{
	if (++s->junk <= s->conf->limits.junk_command_limit)
		return 0;
	log_warn("close reason=junk-commands count=%ld", s->junk);
	stats_closed(STAT_CLOSE_JUNK);
	smtp_reply(s, &SMTP_TOO_MANY_JUNK, s->conf->hostname);
	s->quit = 1;
	return 1;
}

/*
 * A read or write ran out of time: the command timeout, or the session's
 * own (limits.session_timeout), which no activity postpones.
 */
void smtp_timed_out(struct smtp *s)
{
	if (stream_expired(&s->st)) {
		log_info("close reason=session-timeout service=%s state=%s",
		    conf_service_name(s->ctx->service), smtp_state_name(s->state));
		stats_closed(STAT_CLOSE_SESSION_TIMEOUT);
		smtp_reply(s, &SMTP_SESSION_TIMEOUT, s->conf->hostname);
	} else {
		log_info("close reason=timeout state=%s", smtp_state_name(s->state));
		stats_closed(STAT_CLOSE_TIMEOUT);
		smtp_reply(s, &SMTP_TIMEOUT, s->conf->hostname);
	}
	s->quit = 1;
}

void smtp_transaction_reset(struct smtp *s)
{
	smtp_milters_abort(s);
	memset(&s->sender, 0, sizeof s->sender);
	s->first_rcpt[0] = '\0';
	rcpt_set_free(&s->rcpts);
	s->naccepted = 0;
	while (s->nrcpt_paths > 0)
		free(s->rcpt_paths[--s->nrcpt_paths]);
	if (s->state > SMTP_STATE_READY)
		smtp_enter_state(s, SMTP_STATE_READY);
}

/* Keep only what is safe in a Received: line and a log. */
static void helo_store(struct smtp *s, const char *arg)
{
	size_t i, o = 0;

	for (i = 0; arg[i] && o < sizeof s->helo - 1; i++) {
		unsigned char c = (unsigned char)arg[i];

		if (isalnum(c) || strchr(".-_:[]", c))
			s->helo[o++] = (char)c;
		else if (c == ' ')
			break;
		else
			s->helo[o++] = '?';
	}
	s->helo[o] = '\0';
}

/* A filter refused HELO/EHLO: the client is not greeted, as before any. */
static void helo_refused(struct smtp *s)
{
	s->helo[0] = '\0';
	if (s->state != SMTP_STATE_START)
		smtp_enter_state(s, SMTP_STATE_START);
}

static void cmd_helo(struct smtp *s, char *arg)
{
	if (arg == NULL) {
		smtp_client_error(s, &SMTP_SYNTAX_HELO, NULL);
		return;
	}
	smtp_transaction_reset(s);
	s->esmtp = 0;
	helo_store(s, arg);
	if (smtp_milters_helo(s, arg) != 0) {
		helo_refused(s);
		return;
	}
	smtp_enter_state(s, SMTP_STATE_READY);
	stream_printf(&s->st, "250 %s\r\n", s->conf->hostname);
}

static void cmd_ehlo(struct smtp *s, char *arg)
{
	const char *ext[10];
	char size[40];
	size_t n = 0, i;

	if (arg == NULL) {
		smtp_client_error(s, &SMTP_SYNTAX_EHLO, NULL);
		return;
	}
	smtp_transaction_reset(s);
	s->esmtp = 0;
	helo_store(s, arg);
	if (smtp_milters_helo(s, arg) != 0) {
		helo_refused(s);
		return;
	}
	s->esmtp = 1;
	smtp_enter_state(s, SMTP_STATE_READY);
	snprintf(size, sizeof size, "SIZE %ld", s->conf->limits.message_size);
	ext[n++] = "PIPELINING";
	ext[n++] = size;
	ext[n++] = "8BITMIME";
	ext[n++] = "ENHANCEDSTATUSCODES";
	if (s->ctx->tls != NULL && s->st.ssl == NULL)
		ext[n++] = "STARTTLS";
	if (smtp_auth_offered(s)) {
		ext[n++] = "AUTH PLAIN LOGIN";
		ext[n++] = "AUTH=PLAIN LOGIN";	/* Outlook before 2003 */
	}
	stream_printf(&s->st, "250-%s\r\n", s->conf->hostname);
	for (i = 0; i < n; i++)
		stream_printf(&s->st, "250%c%s\r\n", i + 1 == n ? ' ' : '-', ext[i]);
}

/* The session's shared-state handle, made at first use (NULL: out of memory). */
static struct state *session_state(struct smtp *s)
{
	if (s->shared == NULL && (s->shared = state_new(s->conf)) == NULL)
		log_error("state result=error reason=\"out of memory\"");
	return s->shared;
}

/* The local relay DB (greylist), opened at first use; NULL when it failed (logged once). */
struct relaydb *smtp_relaydb(struct smtp *s)
{
	struct relaydb *db;

	if (session_state(s) == NULL)
		return NULL;
	db = state_relaydb(s->shared);
	if (db == NULL && !s->db_failed) {
		s->db_failed = 1;
		log_error("relaydb result=error reason=\"%s\"", state_strerror(s->shared));
	}
	return db;
}

/*
 * The session's shared state for the greylist (inbound.c): with BDB only
 * once the relay DB opened (its failure logged once); NULL otherwise.
 */
struct state *smtp_state(struct smtp *s)
{
	if (session_state(s) == NULL)
		return NULL;
	if (s->conf->relay.backend != RELAY_BACKEND_REDIS && smtp_relaydb(s) == NULL)
		return NULL;
	return s->shared;
}

/*
 * Is the client authorized by a recent POP3 login (docs/PROTOCOL.md, relay
 * policy)? A lookup that fails is remembered: the refusal it leads to is a
 * 451, never a 553 nor a relay (SPEC 14: fail closed, and temporarily).
 */
static enum auth_source pop_authorized(struct smtp *s)
{
	char key[NET_ADDR_MAX];
	int r;

	if (session_state(s) == NULL) {
		s->state_failed = 1;
		return AUTH_SOURCE_NONE;
	}
	net_relay_key(&s->ctx->client, s->conf->relay.ipv6_prefix, key, sizeof key);
	r = state_auth_get(s->shared, key, time(NULL), NULL, 0, NULL);
	if (r < 0) {
		s->state_failed = 1;
		log_error("state backend=%s op=lookup key=%s result=error reason=\"%s\"",
		    state_backend_name(s->shared), key, state_strerror(s->shared));
	}
	return r == 1 ? AUTH_SOURCE_POP : AUTH_SOURCE_NONE;
}

static enum auth_source auth_source(struct smtp *s)
{
	if (s->smtp_auth != AUTH_SOURCE_NONE)
		return s->smtp_auth;
	if (s->ctx->class == CLIENT_TRUSTED)
		return AUTH_SOURCE_NONE;
	return pop_authorized(s);
}

/*
 * A refusal for want of an authorization while the lookup of the POP3
 * logins failed (Redis unreachable): 451 4.3.0 instead, reason
 * "state-error" (SPEC 14: fail closed, never open, and only for now).
 * Returns the reply to send: reply, or the 451.
 */
static const struct smtp_reply *lookup_failed(struct smtp *s, struct smtp_decision *d,
    const struct smtp_reply *reply)
{
	if (d->accept || !s->state_failed)
		return reply;
	if (d->verdict != SMTP_VERDICT_FIRST_POP && d->verdict != SMTP_VERDICT_DENIED &&
	    d->verdict != SMTP_VERDICT_AUTH_REQUIRED)
		return reply;
	d->reason = "state-error";
	return &SMTP_STATE_TEMPFAIL;
}

int smtp_client_authorized(struct smtp *s)
{
	return s->ctx->class == CLIENT_TRUSTED || auth_source(s) != AUTH_SOURCE_NONE;
}

/*
 * The reply to each verdict of the relay policy (policy.h), at MAIL and at
 * RCPT, and the counter a refusal goes to: the one place the policy's
 * decisions become words.
 */
static const struct verdict_reply {
	const struct smtp_reply *mail;
	const struct smtp_reply *rcpt;
	enum stats_reject stat;		/* a refusal's counter; unused for 250 */
} verdict_replies[SMTP_VERDICTS] = {
	[SMTP_VERDICT_SENDER_OK] = { &SMTP_MAIL_OK, &SMTP_MAIL_OK, STAT_REJECT_SYNTAX },
	[SMTP_VERDICT_LOCAL] = { &SMTP_RCPT_OK, &SMTP_RCPT_OK, STAT_REJECT_SYNTAX },
	[SMTP_VERDICT_RELAY] = { &SMTP_RCPT_OK, &SMTP_RCPT_OK, STAT_REJECT_SYNTAX },
	[SMTP_VERDICT_FIRST_POP] = { &SMTP_FIRST_POP, &SMTP_FIRST_POP, STAT_REJECT_FIRST_POP },
	[SMTP_VERDICT_DENIED] = { &SMTP_RELAY_DENIED, &SMTP_RELAY_DENIED, STAT_REJECT_DENIED },
	[SMTP_VERDICT_AUTH_REQUIRED] = { &SMTP_AUTH_REQUIRED, &SMTP_AUTH_REQUIRED,
	    STAT_REJECT_AUTH_REQUIRED },
	[SMTP_VERDICT_BAD_PATH] = { &SMTP_BAD_SENDER, &SMTP_BAD_RECIPIENT, STAT_REJECT_SYNTAX },
	[SMTP_VERDICT_PATH_LONG] = { &SMTP_SENDER_TOO_LONG, &SMTP_RCPT_TOO_LONG,
	    STAT_REJECT_SYNTAX },
	[SMTP_VERDICT_LOCAL_LONG] = { &SMTP_SENDER_LOCAL_LONG, &SMTP_RCPT_LOCAL_LONG,
	    STAT_REJECT_SYNTAX },
	[SMTP_VERDICT_DOMAIN_LONG] = { &SMTP_SENDER_DOMAIN_LONG, &SMTP_RCPT_DOMAIN_LONG,
	    STAT_REJECT_SYNTAX },
	[SMTP_VERDICT_BAD_PARAM] = { &SMTP_BAD_PARAMS, &SMTP_BAD_PARAMS, STAT_REJECT_SYNTAX },
	[SMTP_VERDICT_NON_ASCII] = { &SMTP_NON_ASCII, &SMTP_NON_ASCII, STAT_REJECT_SYNTAX },
	[SMTP_VERDICT_NOT_OWNER] = { &SMTP_SENDER_NOT_OWNED, &SMTP_SENDER_NOT_OWNED,
	    STAT_REJECT_SENDER },
	[SMTP_VERDICT_LOCAL_SENDER] = { &SMTP_SENDER_NOT_LOGGED_IN, &SMTP_SENDER_NOT_LOGGED_IN,
	    STAT_REJECT_SENDER },
	[SMTP_VERDICT_RATE_LIMITED] = { &SMTP_RATE_LIMITED, &SMTP_RATE_LIMITED,
	    STAT_REJECT_RATELIMIT },
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

/*
 * The reply to verdict v at MAIL (at_rcpt 0) or RCPT; mailbox is what
 * the 550 names (as the client wrote it), and a 550 without it when it
 * holds anything but printable ASCII. After HELO the 553 carries its
 * enhanced code in its text (docs/PROTOCOL.md, relay policy).
 */
const struct smtp_reply *smtp_verdict_reply(enum smtp_verdict v, int at_rcpt,
    int esmtp, const char *mailbox)
{
	if (v == SMTP_VERDICT_DENIED && !mailbox_printable(mailbox))
		return &SMTP_RELAY_DENIED_NOBOX;
	if (v == SMTP_VERDICT_FIRST_POP && !esmtp)
		return &SMTP_FIRST_POP_HELO;
	return at_rcpt ? verdict_replies[v].rcpt : verdict_replies[v].mail;
}

/* "FROM:" / "TO:" prefix, case-insensitive; returns what follows. */
static char *after_prefix(char *arg, const char *prefix)
{
	size_t n = strlen(prefix);

	if (arg == NULL || strncasecmp(arg, prefix, n) != 0)
		return NULL;
	return arg + n;
}

/* MAIL's ESMTP parameters: SIZE (RFC 1870), BODY (RFC 6152), AUTH (4954). */
static int mail_params(struct smtp *s, const char *p, const char *end)
{
	struct smtp_param prm;
	char word[64];
	int r;

	while ((r = smtp_param_next(&p, end, &prm)) == 1) {
		if (prm.keylen == 4 && strncasecmp(prm.keyword, "SIZE", 4) == 0) {
			unsigned long long v = 0;
			size_t i;

			if (prm.value == NULL || prm.valuelen == 0 || prm.valuelen > 18) {
				smtp_refuse(s, "mail", "syntax", &SMTP_BAD_SIZE, NULL);
				return -1;
			}
			for (i = 0; i < prm.valuelen; i++) {
				if (!isdigit((unsigned char)prm.value[i])) {
					smtp_refuse(s, "mail", "syntax", &SMTP_BAD_SIZE, NULL);
					return -1;
				}
				v = v * 10 + (unsigned)(prm.value[i] - '0');
			}
			if (v > (unsigned long long)s->conf->limits.message_size) {
				log_info("mail result=reject code=%d reason=size size=%llu",
				    SMTP_SIZE_EXCEEDED.code, v);
				stats_reject(STAT_REJECT_LIMIT);
				smtp_reply(s, &SMTP_SIZE_EXCEEDED, NULL);
				return -1;
			}
		} else if (prm.keylen == 4 && strncasecmp(prm.keyword, "BODY", 4) == 0) {
			if (prm.value == NULL ||
			    !((prm.valuelen == 4 && strncasecmp(prm.value, "7BIT", 4) == 0) ||
			    (prm.valuelen == 8 && strncasecmp(prm.value, "8BITMIME", 8) == 0))) {
				smtp_refuse(s, "mail", "syntax", &SMTP_BAD_BODY, NULL);
				return -1;
			}
		} else if (prm.keylen == 4 && strncasecmp(prm.keyword, "AUTH", 4) == 0) {
			/* RFC 4954 §5: we may ignore it. */
		} else {
			size_t n = prm.keylen < sizeof word - 1 ? prm.keylen : sizeof word - 1;

			memcpy(word, prm.keyword, n);
			word[n] = '\0';
			smtp_refuse(s, "mail", "syntax", &SMTP_UNKNOWN_PARAM, word);
			return -1;
		}
	}
	if (r < 0) {
		smtp_refuse(s, "mail", "syntax", &SMTP_SYNTAX_MAIL, NULL);
		return -1;
	}
	return 0;
}

/*
 * The user an authorized client sends as: the SMTP AUTH name, or the user
 * the relay DB recorded with the POP3 login. Only a mailbox counts (a
 * `relay add` entry records "admin"); "" when there is none.
 */
static void authorized_user(struct smtp *s, enum auth_source auth, char *user,
    size_t len)
{
	char key[NET_ADDR_MAX];

	user[0] = '\0';
	if (auth == AUTH_SOURCE_SMTP)
		(void)str_copy(user, len, s->auth_user);
	else if (auth == AUTH_SOURCE_POP && session_state(s) != NULL) {
		net_relay_key(&s->ctx->client, s->conf->relay.ipv6_prefix, key, sizeof key);
		if (state_auth_get(s->shared, key, time(NULL), user, len, NULL) != 1)
			user[0] = '\0';
	}
	if (strchr(user, '@') == NULL)
		user[0] = '\0';
}

/*
 * The sender checks of the relay block (policy.c), when one is on: who the
 * client is authorized as is looked up here, at MAIL, even on port 25.
 */
static int mail_sender_check(struct smtp *s, struct smtp_decision *d, char *user,
    size_t userlen)
{
	struct smtp_sender_facts f;

	memset(&f, 0, sizeof f);
	user[0] = '\0';
	f.login_match = s->conf->relay.sender_login_match;
	f.local_from_outside = s->conf->relay.local_sender_from_outside;
	f.cls = s->ctx->class;
	f.sender = s->sender.mailbox;
	if ((f.login_match || f.local_from_outside) && s->sender.mailbox[0] != '\0') {
		f.auth = auth_source(s);
		authorized_user(s, f.auth, user, userlen);
		f.user = user;
		f.sender_local = smtp_classify_rcpt(&s->sender, s->conf->domains,
		    s->conf->ndomains) == SMTP_RCPT_LOCAL;
	}
	return smtp_policy_sender(&f, d);
}

static void cmd_mail(struct smtp *s, char *arg)
{
	char user[RELAYDB_USER_MAX + 1];
	struct smtp_decision d, sender_d;
	const struct smtp_reply *reply;
	const char *params = NULL;
	char *p;
	int r;

	if ((p = after_prefix(arg, "FROM:")) == NULL) {
		smtp_refuse(s, "mail", "syntax", &SMTP_SYNTAX_MAIL, NULL);
		return;
	}
	r = smtp_parse_path_arg(p, strlen(p), 1, &s->sender, &params);
	if (r != SMTP_PATH_OK) {
		smtp_policy_path_error(r, &d);
		reply = smtp_verdict_reply(d.verdict, 0, s->esmtp, NULL);
		log_info("mail result=reject code=%d reason=%s", reply->code, d.reason);
		stats_reject(verdict_replies[d.verdict].stat);
		smtp_reply(s, reply, NULL);
		smtp_count_error(s);
		return;
	}
	if (params != NULL && mail_params(s, params, p + strlen(p)) != 0)
		return;
	/*
	 * Port 25 accepts every MAIL and judges at RCPT: only submission and
	 * smtps need the relay DB here (for their 530).
	 */
	user[0] = '\0';
	s->state_failed = 0;
	if (smtp_policy_mail(s->ctx->service, s->ctx->class,
	    s->ctx->service == SERVICE_SMTP ? s->smtp_auth : auth_source(s), &d) &&
	    !mail_sender_check(s, &sender_d, user, sizeof user))
		d = sender_d;	/* a refusal; an accepted MAIL keeps its reason */
	reply = lookup_failed(s, &d, smtp_verdict_reply(d.verdict, 0, s->esmtp, NULL));
	if (!d.accept) {
		log_info("mail from=%s result=reject code=%d reason=%s%s%s",
		    log_qaddr(s->sender.mailbox), reply->code, d.reason,
		    user[0] ? " user=" : "", user[0] ? log_qaddr(user) : "");
		stats_reject(verdict_replies[d.verdict].stat);
		smtp_reply(s, reply, user);
		return;
	}
	if (smtp_milters_mail(s, params) != 0)
		return;
	log_info("mail from=%s result=ok reason=%s", log_qaddr(s->sender.mailbox), d.reason);
	smtp_enter_state(s, SMTP_STATE_MAIL);
	smtp_reply(s, reply, NULL);
}

/*
 * Mail a local address forwards to other domains leaves with an SRS
 * sender; it may bounce only when the client is not an unauthorized
 * outside one (backscatter: recipient.h, rcpt_forward_prepare).
 */
static void rcpt_forward(struct smtp *s)
{
	if (s->rcpts.forward_sender != NULL || rcpt_nforwarded(&s->rcpts) == 0)
		return;
	rcpt_forward_prepare(&s->rcpts, s->conf, s->ctx->srs, s->sender.mailbox,
	    s->ctx->class == CLIENT_OUTSIDE && !smtp_client_authorized(s), time(NULL));
}

/*
 * Look up and remember a local recipient; 0 when it was accepted. A
 * user's own mailbox at its quota gets 452 4.2.2 (SPEC 12; an alias is
 * judged by its own name only when it is a user too); a full mailbox an
 * alias, catch-all or the postmaster fallback leads to is accepted and
 * its copy queued until there is room (rcpt_queue_full). Both through
 * the one quota test, rcpt_mailbox_full (local/recipient.c).
 */
static int rcpt_local(struct smtp *s, const struct smtp_path *path)
{
	char address[SMTP_PATH_MAX + 1], err[512];
	size_t before = s->rcpts.nlocal;
	int r;

	if (!s->aliases_loaded) {
		if (aliases_load(s->conf->aliases_file, &s->aliases, err, sizeof err) != 0) {
			log_error("aliases result=error reason=\"%s\"", err);
			smtp_reply(s, &SMTP_LOCAL_ERROR, NULL);
			return -1;
		}
		s->aliases_loaded = 1;
	}
	if (smtp_path_local_address(path, s->conf->domains, s->conf->ndomains,
	    address, sizeof address) != 0) {
		r = 0;
	} else {
		if (rcpt_mailbox_full(s->conf, address)) {
			log_info("rcpt to=%s result=reject code=452 reason=quota",
			    log_qaddr(path->mailbox));
			stats_reject(STAT_REJECT_QUOTA);
			smtp_reply(s, &SMTP_MAILBOX_FULL, NULL);
			return -1;
		}
		r = rcpt_resolve_local(s->conf, &s->aliases, address, &s->rcpts);
		if (r > 0)
			(void)rcpt_queue_full(s->conf, &s->rcpts, before, address);
	}
	if (r < 0) {
		log_error("rcpt to=%s result=error reason=\"users file: %s\"",
		    log_qaddr(path->mailbox), strerror(errno));
		smtp_reply(s, &SMTP_LOCAL_ERROR, NULL);
		return -1;
	}
	if (r == 0) {
		log_info("rcpt to=%s result=reject code=550 reason=unknown-user",
		    log_qaddr(path->mailbox));
		stats_reject(STAT_REJECT_UNKNOWN_USER);
		smtp_client_error(s, &SMTP_USER_UNKNOWN, path->mailbox);
		return -1;
	}
	rcpt_forward(s);
	return 0;
}

/*
 * A recipient that is one of our SRS addresses (the reverse path, a
 * bounce coming back): a valid one stands for the original sender, local
 * or remote, whoever the client is; a forged or expired one is refused.
 * -1 refused (replied), 0 accepted (recipient added), 1 not SRS.
 */
static int rcpt_srs(struct smtp *s, const struct smtp_path *path)
{
	char orig[SRS_ADDRESS_MAX + 3];
	struct smtp_path op;
	enum srs_result why;

	switch (rcpt_srs_reverse(s->conf, s->ctx->srs, path->mailbox, time(NULL),
	    orig + 1, sizeof orig - 2, &why)) {
	case RCPT_SRS_NONE:
		return 1;
	case RCPT_SRS_INVALID:
		log_info("rcpt to=%s result=reject code=550 reason=srs-%s",
		    log_qaddr(path->mailbox), srs_result_name(why));
		stats_reject(STAT_REJECT_UNKNOWN_USER);
		smtp_client_error(s, &SMTP_SRS_INVALID, path->mailbox);
		return -1;
	case RCPT_SRS_VALID:
		break;
	}
	orig[0] = '<';
	(void)str_copy(orig + strlen(orig), 2, ">");
	if (smtp_parse_path_arg(orig, strlen(orig), 0, &op, NULL) != SMTP_PATH_OK) {
		log_info("rcpt to=%s result=reject code=550 reason=srs-malformed",
		    log_qaddr(path->mailbox));
		stats_reject(STAT_REJECT_UNKNOWN_USER);
		smtp_client_error(s, &SMTP_SRS_INVALID, path->mailbox);
		return -1;
	}
	if (smtp_classify_rcpt(&op, s->conf->domains, s->conf->ndomains) == SMTP_RCPT_LOCAL) {
		if (rcpt_local(s, &op) != 0)
			return -1;
	} else {
		rcpt_add_reverse(&s->rcpts, op.mailbox);
		rcpt_forward(s);
	}
	log_info("rcpt to=%s result=ok reason=srs orig=%s", log_qaddr(path->mailbox),
	    log_qaddr(op.mailbox));
	return 0;
}

/*
 * The relay refusals that were not logged one by one, in one line at the
 * session's end: how many in all, and the unlogged ones by the counter
 * they went to, so that the log still adds up to the metrics.
 */
static void refusals_summary(const struct smtp *s)
{
	char by[256] = "";
	size_t o = 0;
	int k;

	if (s->refusals <= SMTP_REFUSALS_LOGGED)
		return;
	for (k = 0; k < STAT_REJECT_KINDS; k++) {
		if (s->unlogged[k] == 0)
			continue;
		if (str_format(by + o, sizeof by - o, " %s=%ld",
		    stats_reject_name((enum stats_reject)k), s->unlogged[k]) < 0)
			break;
		o += strlen(by + o);
	}
	log_info("rcpt-refusals count=%ld unlogged=%ld%s", s->refusals,
	    s->refusals - SMTP_REFUSALS_LOGGED, by);
}

/*
 * One line when a limit is first crossed in its window (not for every
 * refused RCPT): which limit, for whom, and how far it had counted.
 */
static void rate_log(const char *limit, const char *user, const char *addr,
    const struct relaydb_rate *v, long window)
{
	log_warn("ratelimit limit=%s user=%s address=%s count=%ld max=%ld window=%ld",
	    limit, user[0] ? log_qaddr(user) : "-", addr, v->count, v->limit, window);
}

/*
 * Count a relayed recipient against the outbound limits (policy.h,
 * smtp_policy_rate): the authorized user and the client address, in the
 * relay DB's rate table. Trusted clients are exempt; a DB error lets the
 * recipient by (logged): the limits guard against abuse, they must not
 * stop mail. Fills *d with RELAY or RATE_LIMITED.
 */
static int rcpt_rate_check(struct smtp *s, enum auth_source auth,
    struct smtp_decision *d)
{
	const struct limits_conf *l = &s->conf->limits;
	char user[RELAYDB_USER_MAX + 1], addr[NET_ADDR_MAX];
	char ukey[RELAYDB_RATE_KEY_MAX + 1], akey[RELAYDB_RATE_KEY_MAX + 1];
	struct relaydb_rate v[2];
	int r;

	if (s->ctx->class == CLIENT_TRUSTED ||
	    (l->outbound_per_user_hour == 0 && l->outbound_per_ip_hour == 0) ||
	    session_state(s) == NULL)
		return 1;
	authorized_user(s, auth, user, sizeof user);
	net_relay_key(&s->ctx->client, s->conf->relay.ipv6_prefix, addr, sizeof addr);
	memset(v, 0, sizeof v);
	if (user[0] != '\0' && rate_key(ukey, sizeof ukey, "user", user) == 0) {
		v[0].key = ukey;
		v[0].limit = l->outbound_per_user_hour;
	}
	if (rate_key(akey, sizeof akey, "addr", addr) == 0) {
		v[1].key = akey;
		v[1].limit = l->outbound_per_ip_hour;
	}
	r = state_rate_take(s->shared, v, 2, time(NULL));
	if (r < 0) {
		log_error("ratelimit result=error reason=\"%s\"", state_strerror(s->shared));
		return 1;
	}
	if (v[0].first)
		rate_log("user", user, addr, &v[0], l->outbound_window);
	if (v[1].first)
		rate_log("address", user, addr, &v[1], l->outbound_window);
	return smtp_policy_rate(v[0].over, v[1].over, d);
}

/* Forget the recipients added after the first nlocal, nremote and nfull. */
static void rcpt_truncate(struct rcpt_set *set, size_t nlocal, size_t nremote,
    size_t nfull)
{
	while (set->nlocal > nlocal)
		free(set->local[--set->nlocal]);
	while (set->nremote > nremote)
		free(set->remote[--set->nremote]);
	while (set->nfull > nfull)
		free(set->full[--set->nfull]);
}

/* A recipient accepted (and logged): counted, and the reply. */
static void rcpt_accepted(struct smtp *s, const struct smtp_path *path,
    const struct smtp_reply *reply)
{
	if (s->naccepted++ == 0)
		str_copy(s->first_rcpt, sizeof s->first_rcpt, path->mailbox);
	s->rcpt_paths = xreallocarray(s->rcpt_paths, s->nrcpt_paths + 1, sizeof *s->rcpt_paths);
	s->rcpt_paths[s->nrcpt_paths++] = xstrdup(path->mailbox);
	smtp_enter_state(s, SMTP_STATE_RCPT);
	smtp_reply(s, reply, NULL);
}

static void cmd_rcpt(struct smtp *s, char *arg)
{
	struct smtp_decision d, rate;
	const struct smtp_reply *reply;
	struct smtp_path path;
	enum smtp_rcpt_kind kind;
	enum auth_source auth = AUTH_SOURCE_NONE;
	size_t nlocal, nremote, nfull;
	char *p;
	int r;

	if ((p = after_prefix(arg, "TO:")) == NULL) {
		smtp_refuse(s, "rcpt", "syntax", &SMTP_SYNTAX_RCPT, NULL);
		return;
	}
	r = smtp_parse_path_arg(p, strlen(p), 0, &path, NULL);
	if (r != SMTP_PATH_OK) {
		smtp_policy_path_error(r, &d);
		reply = smtp_verdict_reply(d.verdict, 1, s->esmtp, NULL);
		log_info("rcpt result=reject code=%d reason=%s", reply->code, d.reason);
		stats_reject(verdict_replies[d.verdict].stat);
		smtp_reply(s, reply, NULL);
		smtp_count_error(s);
		return;
	}
	if (s->naccepted >= s->conf->limits.max_recipients) {
		log_info("rcpt to=%s result=reject code=452 reason=max_recipients",
		    log_qaddr(path.mailbox));
		stats_reject(STAT_REJECT_LIMIT);
		smtp_reply(s, &SMTP_TOO_MANY_RCPT, NULL);
		return;
	}
	if ((r = rcpt_srs(s, &path)) <= 0) {
		if (r == 0)
			rcpt_accepted(s, &path, &SMTP_RCPT_OK);
		return;
	}
	kind = smtp_classify_rcpt(&path, s->conf->domains, s->conf->ndomains);
	s->state_failed = 0;
	if (kind == SMTP_RCPT_REMOTE || s->ctx->class == CLIENT_CUSTOMER ||
	    s->ctx->service != SERVICE_SMTP)
		auth = auth_source(s);
	smtp_policy_decide(s->ctx->service, s->ctx->class, auth, kind, &d);
	reply = lookup_failed(s, &d, smtp_verdict_reply(d.verdict, 1, s->esmtp, path.mailbox));
	if (!d.accept) {
		enum stats_reject why = verdict_replies[d.verdict].stat;

		stats_reject(why);
		/* Counted every time, logged the first few: see refusals_summary. */
		if (++s->refusals <= SMTP_REFUSALS_LOGGED)
			log_info("rcpt to=%s result=reject code=%d %s%s", log_qaddr(path.mailbox),
			    reply->code, strncmp(d.reason, "relay=", 6) ? "reason=" : "",
			    d.reason);
		else
			s->unlogged[why]++;
		smtp_reply(s, reply, path.mailbox);
		if (reply != &SMTP_STATE_TEMPFAIL)	/* ours, not the client's error */
			smtp_count_error(s);
		return;
	}
	if (d.relay && !rcpt_rate_check(s, auth, &rate)) {
		enum stats_reject why = verdict_replies[rate.verdict].stat;

		/* Logged like the relay refusals (the first few), no client error. */
		reply = smtp_verdict_reply(rate.verdict, 1, s->esmtp, NULL);
		stats_reject(why);
		if (++s->refusals <= SMTP_REFUSALS_LOGGED)
			log_info("rcpt to=%s result=reject code=%d %s", log_qaddr(path.mailbox),
			    reply->code, rate.reason);
		else
			s->unlogged[why]++;
		smtp_reply(s, reply, NULL);
		return;
	}
	if (kind == SMTP_RCPT_LOCAL && !d.relay && smtp_inbound_check(s, &path, auth) != 0)
		return;
	nlocal = s->rcpts.nlocal;
	nremote = s->rcpts.nremote;
	nfull = s->rcpts.nfull;
	if (kind == SMTP_RCPT_LOCAL) {
		if (rcpt_local(s, &path) != 0)
			return;
	} else {
		rcpt_add_remote(&s->rcpts, path.mailbox);
	}
	if (smtp_milters_rcpt(s, path.mailbox) != 0) {
		rcpt_truncate(&s->rcpts, nlocal, nremote, nfull);
		return;
	}
	log_info("rcpt to=%s result=ok %s%s", log_qaddr(path.mailbox),
	    strncmp(d.reason, "relay=", 6) ? "reason=" : "", d.reason);
	rcpt_accepted(s, &path, reply);
}

static void cmd_data(struct smtp *s, char *arg)
{
	(void)arg;	/* the table refused DATA with an argument */
	intake_data(s);
}

/*
 * STARTTLS (RFC 3207): anything the client pipelined behind it is thrown
 * away unread (§4.2, the 2011 injection class), and the session starts
 * over: the client must say EHLO again (§4.2).
 */
static void cmd_starttls(struct smtp *s, char *arg)
{
	int r;

	(void)arg;
	smtp_reply(s, &SMTP_TLS_READY, NULL);
	if (stream_input_pending(&s->st))
		log_warn("starttls result=discarded reason=pipelined-input");
	stream_discard_input(&s->st);
	if (stream_flush(&s->st) != STREAM_OK) {
		s->quit = 1;
		return;
	}
	r = stream_start_tls(&s->st, s->ctx->tls);
	if (r != STREAM_OK) {
		log_info("starttls result=fail reason=%s", r == STREAM_TIMEOUT ?
		    "timeout" : "handshake");
		s->quit = 1;
		return;
	}
	log_info("starttls result=ok version=%s cipher=%s",
	    stream_tls_version(&s->st), stream_tls_cipher(&s->st));
	smtp_transaction_reset(s);
	s->helo[0] = '\0';
	s->esmtp = 0;
	smtp_auth_forget(s);
	smtp_enter_state(s, SMTP_STATE_START);
}

static void cmd_rset(struct smtp *s, char *arg)
{
	(void)arg;
	smtp_transaction_reset(s);
	smtp_reply(s, &SMTP_OK, NULL);
}

static void cmd_noop(struct smtp *s, char *arg)
{
	(void)arg;
	smtp_reply(s, &SMTP_OK, NULL);
}

static void cmd_quit(struct smtp *s, char *arg)
{
	(void)arg;
	smtp_reply(s, &SMTP_BYE, NULL);
	s->quit = 1;
}

static void cmd_vrfy(struct smtp *s, char *arg)
{
	if (arg == NULL) {
		smtp_client_error(s, &SMTP_SYNTAX_VRFY, NULL);
		return;
	}
	smtp_reply(s, &SMTP_VRFY, NULL);
}

static void cmd_help(struct smtp *s, char *arg)
{
	(void)arg;
	smtp_reply(s, &SMTP_HELP, NULL);
}

static void cmd_not_implemented(struct smtp *s, char *arg)
{
	(void)arg;
	smtp_client_error(s, &SMTP_NOT_IMPL, NULL);
}

#define READY IN(SMTP_STATE_READY)
#define TRANSACTION (IN(SMTP_STATE_MAIL) | IN(SMTP_STATE_RCPT))

static const struct smtp_command smtp_commands[] = {
	{ "HELO", ANY, CMD_JUNK_AGAIN, NULL, NULL, cmd_helo },
	{ "EHLO", ANY, CMD_JUNK_AGAIN, NULL, NULL, cmd_ehlo },
	{ "MAIL", READY, 0, "mail", &SMTP_NESTED_MAIL, cmd_mail },
	{ "RCPT", TRANSACTION, 0, "rcpt", NULL, cmd_rcpt },
	{ "DATA", IN(SMTP_STATE_RCPT), CMD_NO_ARGS, "data", NULL, cmd_data },
	{ "RSET", ANY, CMD_JUNK | CMD_NO_ARGS, NULL, NULL, cmd_rset },
	{ "NOOP", ANY, CMD_JUNK, NULL, NULL, cmd_noop },
	{ "QUIT", ANY, 0, NULL, NULL, cmd_quit },
	{ "STARTTLS", ANY, CMD_NO_ARGS | CMD_BEFORE_TLS | CMD_TLS_OFFERED, NULL,
	    NULL, cmd_starttls },
	{ "AUTH", READY, CMD_ESMTP | CMD_ONCE_AUTH, NULL, &SMTP_AUTH_IN_MAIL,
	    smtp_auth_command },
	{ "VRFY", ANY, CMD_JUNK, NULL, NULL, cmd_vrfy },
	{ "HELP", ANY, CMD_JUNK, NULL, NULL, cmd_help },
	{ "EXPN", ANY, 0, NULL, NULL, cmd_not_implemented },
	{ "TURN", ANY, 0, NULL, NULL, cmd_not_implemented },
	{ "ETRN", ANY, 0, NULL, NULL, cmd_not_implemented },
};

/* A state before every allowed one: the reply names the step missing. */
static const struct smtp_reply *early_reply(enum smtp_state st)
{
	static const struct smtp_reply *const missing[] = {
		[SMTP_STATE_START] = &SMTP_NEED_HELO,
		[SMTP_STATE_READY] = &SMTP_NEED_MAIL,
		[SMTP_STATE_MAIL] = &SMTP_NEED_RCPT,
		[SMTP_STATE_RCPT] = &SMTP_NEED_RCPT,	/* unused: RCPT is last */
	};

	return missing[st];
}

/* A command refused by the table, as its handler would have refused it. */
static void command_refuse(struct smtp *s, const struct smtp_command *c,
    const char *reason, const struct smtp_reply *r)
{
	if (c->verb != NULL)
		smtp_refuse(s, c->verb, reason, r, NULL);
	else
		smtp_client_error(s, r, NULL);
}

/*
 * Is command c allowed here? If not, the refusal is sent. The order of
 * the checks is the order of the replies: junk first (it may end the
 * session), then the argument, a state too early, the flags of the
 * client's standing, a state too late (busy), and TLS.
 */
static int command_allowed(struct smtp *s, const struct smtp_command *c,
    const char *arg)
{
	unsigned here = IN(s->state);

	if ((c->flags & CMD_JUNK ||
	    (c->flags & CMD_JUNK_AGAIN && s->state != SMTP_STATE_START)) &&
	    smtp_junk_command(s))
		return 0;
	if (c->flags & CMD_NO_ARGS && arg != NULL) {
		command_refuse(s, c, "syntax", &SMTP_SYNTAX_NOARGS);
		return 0;
	}
	if (!(c->states & here) && (c->states & (here - 1)) == 0) {
		command_refuse(s, c, "sequence", early_reply(s->state));
		return 0;
	}
	if (c->flags & CMD_ESMTP && !s->esmtp) {
		command_refuse(s, c, "sequence", &SMTP_NEED_HELO);
		return 0;
	}
	if (c->flags & CMD_ONCE_AUTH && s->smtp_auth != AUTH_SOURCE_NONE) {
		command_refuse(s, c, "sequence", &SMTP_AUTH_ALREADY);
		return 0;
	}
	if (!(c->states & here)) {
		command_refuse(s, c, "sequence", c->busy != NULL ? c->busy :
		    early_reply(s->state));
		return 0;
	}
	if (c->flags & CMD_BEFORE_TLS && s->st.ssl != NULL) {
		command_refuse(s, c, "sequence", &SMTP_TLS_ALREADY);
		return 0;
	}
	if (c->flags & CMD_TLS_OFFERED && s->ctx->tls == NULL) {
		command_refuse(s, c, "sequence", &SMTP_UNKNOWN);
		return 0;
	}
	return 1;
}

/* Split "VERB arg", find the verb in the table, check its place, run it. */
static void dispatch(struct smtp *s, char *line, size_t len)
{
	char q[LOG_QUOTE_MAX];
	char *arg;
	size_t i;

	if (memchr(line, '\0', len) != NULL) {
		log_info("command result=reject reason=nul-byte");
		stats_reject(STAT_REJECT_SYNTAX);
		smtp_client_error(s, &SMTP_BAD_CHAR, NULL);
		return;
	}
	arg = strchr(line, ' ');
	if (arg != NULL) {
		*arg++ = '\0';
		while (*arg == ' ')
			arg++;
		if (*arg == '\0')
			arg = NULL;
	}
	if (s->milter_denied && strcasecmp(line, "QUIT") != 0) {
		/* A filter refused the connection: every command but QUIT. */
		log_info("command result=reject code=%d reason=milter-connect",
		    SMTP_MILTER_CONNECT_REJECT.code);
		stats_reject(STAT_REJECT_MILTER);
		smtp_client_error(s, &SMTP_MILTER_CONNECT_REJECT, s->conf->hostname);
		return;
	}
	for (i = 0; i < sizeof smtp_commands / sizeof smtp_commands[0]; i++) {
		const struct smtp_command *c = &smtp_commands[i];

		if (strcasecmp(line, c->name) == 0) {
			if (command_allowed(s, c, arg))
				c->handler(s, arg);
			return;
		}
	}
	log_info("command result=unknown verb=%s", log_quote(line, strlen(line), q, sizeof q));
	smtp_client_error(s, &SMTP_UNKNOWN, NULL);
}

int smtp_session_run(const struct session_ctx *ctx)
{
	struct smtp s;
	char line[SMTP_LINE_MAX];
	size_t len;
	int r;

	memset(&s, 0, sizeof s);
	s.ctx = ctx;
	s.conf = ctx->conf;
	s.state = SMTP_STATE_START;
	stream_init(&s.st, ctx->fd, (int)s.conf->limits.command_timeout);
	stream_set_deadline(&s.st, s.conf->limits.session_timeout);
	if (ctx->service == SERVICE_SMTPS) {
		/* RFC 8314 §3.3: implicit TLS, the handshake comes first. */
		if (ctx->tls == NULL || stream_start_tls(&s.st, ctx->tls) != STREAM_OK) {
			log_info("close reason=tls-handshake-failed");
			log_info("disconnect messages=0 errors=0");
			stream_free(&s.st);
			return 0;
		}
		log_info("tls version=%s cipher=%s", stream_tls_version(&s.st),
		    stream_tls_cipher(&s.st));
	}
	/* The filters see the connection first; a refusal is the greeting. */
	if (smtp_milters_connect(&s) == 0)
		smtp_reply(&s, &SMTP_GREETING, s.conf->hostname);
	while (!s.quit) {
		if (!stream_input_pending(&s.st) && stream_flush(&s.st) != STREAM_OK)
			break;
		r = stream_read_line(&s.st, line, sizeof line, &len, NULL);
		if (r == STREAM_TOOLONG) {
			log_info("close reason=line-too-long");
			smtp_reply(&s, &SMTP_LINE_TOO_LONG, NULL);
			break;
		}
		if (r == STREAM_TIMEOUT) {
			smtp_timed_out(&s);
			break;
		}
		if (r != STREAM_OK) {
			log_info("close reason=disconnect state=%s", smtp_state_name(s.state));
			break;
		}
		dispatch(&s, line, len);
		/* An AUTH PLAIN line carries a password: gone before the next. */
		explicit_bzero(line, len);
	}
	(void)stream_flush(&s.st);
	refusals_summary(&s);
	log_info("disconnect messages=%u errors=%d", s.messages, s.errors);
	smtp_transaction_reset(&s);
	free(s.rcpt_paths);
	smtp_milters_close(&s);
	state_free(s.shared);
	if (s.resolver != NULL)
		dns_resolver_free(s.resolver);
	if (s.aliases_loaded)
		aliases_free(&s.aliases);
	stream_free(&s.st);
	return 0;
}
