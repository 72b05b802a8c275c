/*
 * milter.h: the MTA side of the milter protocol, version 6 (SPEC 11): one
 * connection per filter per SMTP session, kept across its messages, and a
 * chain of filters called in order. The session calls one function per
 * SMTP stage and gets a verdict back; at the end of the message, also the
 * header edits to apply (milter_edits_apply). Nothing here replies to the
 * SMTP client or logs client data unquoted: the session owns its replies.
 *
 * What we offer the filter: actions ADDHDRS, CHGHDRS, QUARANTINE and
 * SETSYMLIST (nothing else is implemented, so nothing else is granted);
 * every "do not send" and "no reply" step and SKIP. docs/PROTOCOL.md.
 */
#ifndef ISPMAILD_MILTER_H
#define ISPMAILD_MILTER_H

#include <stddef.h>

#include "buf.h"

enum milter_on_error {
	MILTER_ON_ERROR_TEMPFAIL = 0,
	MILTER_ON_ERROR_ACCEPT,
};

/* One filter as configured (the lead fills it from the milters list). */
struct milter_conf {
	const char *name;	/* for logs */
	const char *address;	/* "127.0.0.1:11332", "[::1]:11332", "unix:/path" */
	int timeout;		/* seconds: to connect, and for each reply */
	enum milter_on_error on_error;
};

/* The SMTP connection, for SMFIC_CONNECT and the connect macros. */
struct milter_conn {
	const char *hostname;		/* j: our host name */
	const char *daemon_name;	/* {daemon_name}: the listener's service */
	const char *client_addr;	/* "192.0.2.7", "2001:db8::1"; "" unknown */
	unsigned client_port;
	int client_family;		/* AF_INET, AF_INET6, AF_UNIX or 0 */
	const char *client_name;	/* verified reverse name; NULL/"" unknown */
};

enum milter_action {
	MILTER_CONTINUE = 0,	/* go on (also: this filter accepted) */
	MILTER_ACCEPT,		/* accept without further filtering */
	MILTER_REJECT,		/* the session's own 5xx */
	MILTER_TEMPFAIL,	/* the session's own 4xx */
	MILTER_DISCARD,		/* accept, then drop the message */
	MILTER_REPLY,		/* reply with .reply, the filter's text */
	MILTER_ERROR,		/* filter dead, late or broken: on_error */
};

#define MILTER_REPLY_MAX 1024
#define MILTER_REASON_MAX 256

struct milter_verdict {
	enum milter_action action;
	/* MILTER_REPLY: "550 5.7.1 text" (lines joined by CRLF, "%%" -> "%"). */
	char reply[MILTER_REPLY_MAX];
	/* A filter asked for quarantine: hold the message (SPEC 11). */
	int quarantine;
	char quarantine_reason[MILTER_REASON_MAX];
	/* MILTER_ERROR: why, for the log. */
	char why[MILTER_REASON_MAX];
	/* The filter that decided (its conf name), "" when none. */
	const char *filter;
};

/* A header edit from SMFIR_ADDHEADER, INSHEADER or CHGHEADER. */
enum milter_edit_op {
	MILTER_EDIT_ADD,	/* at the end of the header */
	MILTER_EDIT_INSERT,	/* before field number index (0: at the top) */
	MILTER_EDIT_CHANGE,	/* the index-th (1-based) field of that name;
				   an empty value deletes it */
};

struct milter_edit {
	enum milter_edit_op op;
	unsigned index;
	char *name;
	char *value;		/* as the filter sent it, CRLF made LF */
};

struct milter_edits {
	struct milter_edit *v;
	size_t n;
};

void milter_edits_free(struct milter_edits *e);

/*
 * Apply edits, in order, to a stored message (LF line ends; the header
 * ends at the first empty line or at the end): out gets the edited header
 * and the rest unchanged. A new field is "Name: value\n" (one space after
 * the colon, as the filter did not ask for HDR_LEADSPC). Changing a field
 * that is not there adds it; deleting one that is not there does nothing;
 * inserting past the end appends. Fields are counted as they are after
 * the edits before.
 */
void milter_edits_apply(const struct milter_edits *e, const char *msg,
    size_t len, struct buf *out);

/* ---- one filter ---- */

struct milter;

/*
 * Connect (conf->timeout), negotiate and send SMFIC_CONNECT. Always
 * returns a handle; a filter that cannot be reached gives v MILTER_ERROR
 * and stays in error (every later call says so again).
 */
struct milter *milter_open(const struct milter_conf *conf,
    const struct milter_conn *conn, struct milter_verdict *v);
void milter_helo(struct milter *m, const char *helo, struct milter_verdict *v);
/* A new transaction (a message in progress is aborted first). sender
   without brackets, "" for <>; args: ESMTP arguments, NULL-ended or NULL;
   auth_authen: the SASL login or "" ({auth_authen}). */
void milter_mail(struct milter *m, const char *sender, const char *const *args,
    const char *auth_authen, struct milter_verdict *v);
/* The queue id for the i macro, once it is known: after milter_mail
   (which forgets the last message's), before the stages that send it. */
void milter_set_queue_id(struct milter *m, const char *id);
/* A reject here refuses this recipient only. */
void milter_rcpt(struct milter *m, const char *rcpt, const char *const *args,
    struct milter_verdict *v);
void milter_data(struct milter *m, struct milter_verdict *v);
/* value: what follows the colon as stored (folded lines joined by LF);
   its first space is dropped, as Sendmail does. */
void milter_header(struct milter *m, const char *name, const char *value,
    struct milter_verdict *v);
void milter_eoh(struct milter *m, struct milter_verdict *v);
/* Body bytes as stored (LF): sent as CRLF in packets of <= 65535 bytes. */
void milter_body(struct milter *m, const void *p, size_t n,
    struct milter_verdict *v);
/* End of message: the final verdict, and the header edits (appended to
   edits) that the session applies when the message is taken. */
void milter_eom(struct milter *m, struct milter_verdict *v,
    struct milter_edits *edits);
/* RSET or the end of a transaction that did not reach milter_eom. */
void milter_abort(struct milter *m);
/* QUIT, close, free. NULL is fine. */
void milter_close(struct milter *m);

/* The protocol steps and actions negotiated (for tests and logs). */
unsigned milter_protocol(const struct milter *m);
unsigned milter_actions(const struct milter *m);

/*
 * ---- several filters, in order ----
 * Each stage goes to each filter in order. A filter that accepted is left
 * out for the rest of the message (of the session, when it accepted at
 * connect or HELO); reject, tempfail, discard or a reply ends the stage
 * with that verdict and the filters after it are not asked. A filter in
 * error is handled by its on_error: "accept" leaves it out for the rest
 * of the session, "tempfail" ends the stage with MILTER_TEMPFAIL (why and
 * filter set). Quarantine requests add up; edits are kept in filter order.
 */
struct milter_chain;

struct milter_chain *milter_chain_open(const struct milter_conf *confs,
    size_t n, const struct milter_conn *conn, struct milter_verdict *v);
void milter_chain_helo(struct milter_chain *c, const char *helo,
    struct milter_verdict *v);
void milter_chain_mail(struct milter_chain *c, const char *sender,
    const char *const *args, const char *auth_authen, struct milter_verdict *v);
void milter_chain_set_queue_id(struct milter_chain *c, const char *id);
void milter_chain_rcpt(struct milter_chain *c, const char *rcpt,
    const char *const *args, struct milter_verdict *v);
void milter_chain_data(struct milter_chain *c, struct milter_verdict *v);
/* The stored header block (LF, up to the empty line): each field as
   milter_header, then milter_eoh. */
void milter_chain_headers(struct milter_chain *c, const char *hdr, size_t len,
    struct milter_verdict *v);
void milter_chain_body(struct milter_chain *c, const void *p, size_t n,
    struct milter_verdict *v);
void milter_chain_eom(struct milter_chain *c, struct milter_verdict *v,
    struct milter_edits *edits);
void milter_chain_abort(struct milter_chain *c);
void milter_chain_close(struct milter_chain *c);

#endif
