/*
 * smtpd.h: the SMTP session's state, shared by the files that serve it:
 * smtp_session.c (the command table and its handlers), and the files that
 * take parts of the dialogue (AUTH, DATA). Not for use outside smtpd/.
 */
#ifndef ISPMAILD_SMTPD_H
#define ISPMAILD_SMTPD_H

#include "address.h"
#include "aliases.h"
#include "buf.h"
#include "conf.h"
#include "dnsbl.h"
#include "policy.h"
#include "recipient.h"
#include "relaydb.h"
#include "state.h"
#include "session.h"
#include "smtp_replies.h"
#include "stats.h"
#include "stream.h"

enum smtp_state {
	SMTP_STATE_START,	/* greeted, no HELO/EHLO yet */
	SMTP_STATE_READY,	/* HELO/EHLO done, no transaction */
	SMTP_STATE_MAIL,	/* MAIL accepted */
	SMTP_STATE_RCPT,	/* at least one RCPT accepted */
};

struct milter_chain;
struct milter_conf;

struct smtp {
	const struct session_ctx *ctx;
	const struct conf *conf;
	struct stream st;
	enum smtp_state state;
	int esmtp;			/* EHLO, not HELO */
	char helo[256];			/* sanitised, for Received: */
	int quit;
	int errors;
	long junk;			/* NOOP and kin since the last message */
	long refusals;			/* RCPTs the relay policy refused */
	long unlogged[STAT_REJECT_KINDS];	/* of them, not logged one by one */
	enum auth_source smtp_auth;	/* AUTH_SOURCE_SMTP once AUTH passed */
	char auth_user[256];
	struct session_auth auth;	/* failed logins, the last pause */
	struct state *shared;		/* shared state (state.h), made at first use */
	struct dns_resolver *resolver;	/* for the DNSBL zones, made on first use */
	int resolver_failed;
	struct dnsbl_cache dnsbl;	/* the zones' answer for this client */
	int db_failed;			/* the relay DB failed to open: logged once */
	int state_failed;		/* an authorization lookup failed (451, not 553) */
	struct aliases aliases;
	int aliases_loaded;
	/* the transaction */
	struct smtp_path sender;
	char first_rcpt[SMTP_PATH_MAX + 1];
	struct rcpt_set rcpts;
	long naccepted;
	char **rcpt_paths;		/* the accepted RCPT mailboxes (vacation: an alias counts) */
	size_t nrcpt_paths;
	unsigned messages;
	/* the mail filters (milters.c) */
	struct milter_chain *milters;	/* NULL: none for this service */
	struct milter_conf *milter_confs;
	int milter_txn;			/* a transaction the filters know of */
	int milter_discard;		/* a filter said discard before the end */
	int milter_denied;		/* refused at connect: 554 to all but QUIT */
};

/* One state change, one log line (OpenSMTPD's enter_state habit). */
void smtp_enter_state(struct smtp *s, enum smtp_state to);
/* Queue a reply; the enhanced code only after EHLO; arg fills one "%s". */
void smtp_reply(struct smtp *s, const struct smtp_reply *r, const char *arg);
/* The same line without its CRLF, appended to b (esmtp: after EHLO). */
/* The same with a second argument for a text with two "%s". */
void smtp_reply_format2(struct buf *b, const struct smtp_reply *r, int esmtp,
    const char *arg, const char *arg2);
void smtp_reply2(struct smtp *s, const struct smtp_reply *r, const char *arg,
    const char *arg2);
void smtp_reply_format(struct buf *b, const struct smtp_reply *r, int esmtp,
    const char *arg);
/* The reply to a relay policy verdict at MAIL or RCPT (mailbox: the 550's). */
const struct smtp_reply *smtp_verdict_reply(enum smtp_verdict v, int at_rcpt,
    int esmtp, const char *mailbox);
/* Count a client error; limits.error_limit of them end the session. */
void smtp_count_error(struct smtp *s);
void smtp_client_error(struct smtp *s, const struct smtp_reply *r, const char *arg);
/* A command refused for its form or its place: logged, counted, a client error. */
void smtp_refuse(struct smtp *s, const char *verb, const char *reason,
    const struct smtp_reply *r, const char *arg);
/* A command that moves nothing on; 1 when there were too many (session ends). */
int smtp_junk_command(struct smtp *s);
/* A read or write ran out of time: say so and end the session. */
void smtp_timed_out(struct smtp *s);
/* Forget the transaction (sender, recipients); back to READY. */
void smtp_transaction_reset(struct smtp *s);
/* The name of a state, for logs. */
const char *smtp_state_name(enum smtp_state st);

/* auth.c: AUTH PLAIN and LOGIN, its state checked by the command table. */
void smtp_auth_command(struct smtp *s, char *arg);
/* Does EHLO offer AUTH (not yet authenticated, a password may travel)? */
int smtp_auth_offered(const struct smtp *s);
/* Forget what AUTH proved (STARTTLS starts the session over). */
void smtp_auth_forget(struct smtp *s);

/*
 * intake.c: the DATA path once DATA is allowed (cmd_data checked the
 * state): 354, the message, its header block, every copy stored, the reply.
 */
void intake_data(struct smtp *s);

/*
 * inbound.c: the RCPT checks of mail coming in from outside (DNSBL, then
 * greylisting): 0 to go on, -1 when the recipient was refused (replied,
 * logged, counted). auth is what the session already knows.
 */
struct smtp_path;
int smtp_inbound_check(struct smtp *s, const struct smtp_path *path, enum auth_source auth);
/* The session's relay DB handle, opened on first use (NULL when it failed, logged). */
struct relaydb *smtp_relaydb(struct smtp *s);
/* Its shared state (state.h) for the greylist; NULL when BDB failed to open (logged). */
struct state *smtp_state(struct smtp *s);

/* Trusted, or authorized by SMTP AUTH or a recent POP3 login. */
int smtp_client_authorized(struct smtp *s);

struct deliver_body;
/*
 * signing.c: put the DKIM signatures of the message's From: domain on top
 * of the header block when the client is authorized or trusted. The
 * number of signatures (0: none due, or signing failed and was logged).
 */
int smtp_sign(struct smtp *s, struct buf *header, const struct deliver_body *body);

/*
 * milters.c: the mail filters of the session's service, one connection
 * each for the whole session (ispmaild.conf(5) milters). Each stage
 * returns 0 to go on, or -1 when the filters refused: the reply (the
 * filter's own, or smtp_replies.h's), the log line and the counter are
 * done. A refusal at connect sets quit (4xx: 421) or milter_denied (5xx).
 */
enum smtp_milter_stage {
	SMTP_MILTER_CONNECT, SMTP_MILTER_HELO, SMTP_MILTER_MAIL, SMTP_MILTER_RCPT,
	SMTP_MILTER_DATA, SMTP_MILTER_EOM,
};
int smtp_milters_connect(struct smtp *s);
int smtp_milters_helo(struct smtp *s, const char *helo);
/* After the sender is accepted; params: MAIL's ESMTP parameters or NULL. */
int smtp_milters_mail(struct smtp *s, const char *params);
/* A refusal refuses this recipient only. */
int smtp_milters_rcpt(struct smtp *s, const char *mailbox);
/* At DATA, once the message has its id (the i macro), before 354. */
int smtp_milters_data(struct smtp *s, const char *id);
/* What the end of the message decided (smtp_milters_message). */
enum smtp_milter_result {
	SMTP_MILTER_STORE = 0,	/* store it, header edits made to body */
	SMTP_MILTER_REFUSED,	/* the reply is sent; nothing stored */
	SMTP_MILTER_DISCARDED,	/* 250 as if stored; nothing stored */
	SMTP_MILTER_QUARANTINE,	/* as STORE, but held in the queue (deliver_hold) */
};
/*
 * The message's header section (the start of body->mem), its body, the
 * end of message; on STORE the filters' header edits are made to
 * body->mem (its sizes counted again). id: the message's, for the log.
 */
int smtp_milters_message(struct smtp *s, struct deliver_body *body, const char *id);
/* RSET, a new HELO, a refused or failed message: the filters forget it. */
void smtp_milters_abort(struct smtp *s);
/* The session's end. */
void smtp_milters_close(struct smtp *s);

#endif
