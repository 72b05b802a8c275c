/*
 * milters.c: the session's side of the mail filters (ispmaild.conf(5)
 * milters, docs/PROTOCOL.md "The filter path"): one chain of connections
 * per SMTP session (filter/milter.h), opened at connect and kept across
 * the session's messages, asked at each stage; a refusal becomes the
 * filter's own reply or ours (smtp_replies.h), one log line and the
 * "milter" reject counter. At the end of a message the filters' header
 * edits are made to the stored header section before anything is
 * written, so 250 still means fsynced.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "deliver.h"
#include "log.h"
#include "milter.h"
#include "smtpd.h"
#include "smtp_replies.h"
#include "stats.h"
#include "stream.h"

/* The body goes to the filters in pieces of this size (spool: pread). */
#define MILTER_BODY_CHUNK 65536
/* ESMTP parameters of MAIL passed on, at most. */
#define MILTER_ARGS_MAX 16

/* The names of the stages, for the log. */
static const char *const stage_names[] = {
	[SMTP_MILTER_CONNECT] = "connect", [SMTP_MILTER_HELO] = "helo",
	[SMTP_MILTER_MAIL] = "mail", [SMTP_MILTER_RCPT] = "rcpt",
	[SMTP_MILTER_DATA] = "data", [SMTP_MILTER_EOM] = "eom",
};

/* The filters of this service, as filter/milter.h takes them. */
static size_t milters_confs(const struct conf *c, enum service svc,
    struct milter_conf **out)
{
	size_t i, n = 0;

	*out = NULL;
	if (c->nmilters == 0)
		return 0;
	*out = xcalloc(c->nmilters, sizeof **out);
	for (i = 0; i < c->nmilters; i++) {
		const struct milter_entry_conf *e = &c->milters[i];

		if (!conf_milter_serves(e, svc))
			continue;
		(*out)[n].name = e->name;
		(*out)[n].address = e->address;
		(*out)[n].timeout = e->timeout;
		(*out)[n].on_error = e->on_error == CONF_MILTER_ACCEPT ?
		    MILTER_ON_ERROR_ACCEPT : MILTER_ON_ERROR_TEMPFAIL;
		n++;
	}
	if (n == 0) {
		free(*out);
		*out = NULL;
	}
	return n;
}

/* Is the verdict a refusal, and of which class (4 or 5)? 0: go on. */
static int verdict_class(const struct milter_verdict *v)
{
	switch (v->action) {
	case MILTER_REJECT:
		return 5;
	case MILTER_TEMPFAIL:
	case MILTER_ERROR:
		return 4;
	case MILTER_REPLY:
		return v->reply[0] == '4' ? 4 : 5;
	default:
		return 0;
	}
}

/*
 * One log line for a refusal, the counter, and the reply: the filter's
 * own text, or def5 / def4 (arg fills their %s).
 */
static void milters_refuse(struct smtp *s, enum smtp_milter_stage stage,
    const struct milter_verdict *v, const struct smtp_reply *def5,
    const struct smtp_reply *def4, const char *arg)
{
	int cls = verdict_class(v);
	const struct smtp_reply *r = cls == 4 ? def4 : def5;
	const char *result = cls == 4 ? "tempfail" : "reject";
	int code = r->code;

	/* At connect a 4xx is always our 421: the session ends with it. */
	int own = v->action == MILTER_REPLY && !(stage == SMTP_MILTER_CONNECT && cls == 4);

	if (own)
		code = atoi(v->reply);
	log_info("milter name=%s stage=%s result=%s code=%d reason=%s",
	    log_q(v->filter != NULL && v->filter[0] ? v->filter : "-"),
	    stage_names[stage], result, code,
	    log_q(v->action == MILTER_REPLY ? v->reply : v->why[0] ? v->why :
	    v->action == MILTER_REJECT ? "reject" : "tempfail"));
	stats_reject(STAT_REJECT_MILTER);
	if (own)
		stream_printf(&s->st, "%s\r\n", v->reply);
	else
		smtp_reply(s, r, arg);
}

/* A discard before the end of the message: the message is to be dropped. */
static void milters_note_discard(struct smtp *s, enum smtp_milter_stage stage,
    const struct milter_verdict *v)
{
	if (v->action != MILTER_DISCARD)
		return;
	if (stage >= SMTP_MILTER_MAIL)
		s->milter_discard = 1;
	log_info("milter name=%s stage=%s result=discard",
	    log_q(v->filter != NULL && v->filter[0] ? v->filter : "-"),
	    stage_names[stage]);
}

int smtp_milters_connect(struct smtp *s)
{
	struct milter_conn conn;
	struct milter_verdict v;
	size_t n = milters_confs(s->conf, s->ctx->service, &s->milter_confs);

	if (n == 0)
		return 0;
	memset(&conn, 0, sizeof conn);
	conn.hostname = s->conf->hostname;
	conn.daemon_name = conf_service_name(s->ctx->service);
	conn.client_addr = s->ctx->client_text;
	conn.client_port = (unsigned)s->ctx->client_port;
	conn.client_family = s->ctx->client.family;
	conn.client_name = "";
	s->milters = milter_chain_open(s->milter_confs, n, &conn, &v);
	milters_note_discard(s, SMTP_MILTER_CONNECT, &v);
	if (verdict_class(&v) == 4) {
		/* A 4xx at connect ends the session: 421, as Postfix does. */
		milters_refuse(s, SMTP_MILTER_CONNECT, &v, &SMTP_MILTER_CONNECT_REJECT,
		    &SMTP_MILTER_CONNECT_TEMPFAIL, s->conf->hostname);
		s->quit = 1;
		return -1;
	}
	if (verdict_class(&v) == 5) {
		/* 554 now and to every command but QUIT (RFC 5321 §3.1). */
		milters_refuse(s, SMTP_MILTER_CONNECT, &v, &SMTP_MILTER_CONNECT_REJECT,
		    &SMTP_MILTER_CONNECT_TEMPFAIL, s->conf->hostname);
		s->milter_denied = 1;
		return -1;
	}
	return 0;
}

int smtp_milters_helo(struct smtp *s, const char *helo)
{
	struct milter_verdict v;

	if (s->milters == NULL)
		return 0;
	milter_chain_helo(s->milters, helo, &v);
	milters_note_discard(s, SMTP_MILTER_HELO, &v);
	if (verdict_class(&v) == 0)
		return 0;
	milters_refuse(s, SMTP_MILTER_HELO, &v, &SMTP_MILTER_REJECT, &SMTP_MILTER_TEMPFAIL,
	    NULL);
	return -1;
}

/* Split "SIZE=10 BODY=8BITMIME" (copied into tmp) into a NULL-ended list. */
static void split_args(const char *params, char *tmp, size_t tmplen,
    const char *args[MILTER_ARGS_MAX + 1])
{
	size_t n = 0;
	char *p, *save = NULL;

	args[0] = NULL;
	if (params == NULL || str_copy(tmp, tmplen, params) < 0)
		return;
	for (p = strtok_r(tmp, " ", &save); p != NULL && n < MILTER_ARGS_MAX;
	    p = strtok_r(NULL, " ", &save))
		args[n++] = p;
	args[n] = NULL;
}

int smtp_milters_mail(struct smtp *s, const char *params)
{
	struct milter_verdict v;
	const char *args[MILTER_ARGS_MAX + 1];
	char tmp[1024];

	if (s->milters == NULL)
		return 0;
	s->milter_discard = 0;
	split_args(params, tmp, sizeof tmp, args);
	milter_chain_mail(s->milters, s->sender.mailbox, args,
	    s->smtp_auth == AUTH_SOURCE_SMTP ? s->auth_user : "", &v);
	s->milter_txn = 1;
	milters_note_discard(s, SMTP_MILTER_MAIL, &v);
	if (verdict_class(&v) == 0)
		return 0;
	milters_refuse(s, SMTP_MILTER_MAIL, &v, &SMTP_MILTER_REJECT, &SMTP_MILTER_TEMPFAIL,
	    NULL);
	milter_chain_abort(s->milters);
	s->milter_txn = 0;
	return -1;
}

int smtp_milters_rcpt(struct smtp *s, const char *mailbox)
{
	struct milter_verdict v;

	if (s->milters == NULL)
		return 0;
	milter_chain_rcpt(s->milters, mailbox, NULL, &v);
	milters_note_discard(s, SMTP_MILTER_RCPT, &v);
	if (verdict_class(&v) == 0)
		return 0;
	milters_refuse(s, SMTP_MILTER_RCPT, &v, &SMTP_MILTER_RCPT_REJECT,
	    &SMTP_MILTER_TEMPFAIL, NULL);
	return -1;
}

int smtp_milters_data(struct smtp *s, const char *id)
{
	struct milter_verdict v;

	if (s->milters == NULL)
		return 0;
	milter_chain_set_queue_id(s->milters, id);
	milter_chain_data(s->milters, &v);
	milters_note_discard(s, SMTP_MILTER_DATA, &v);
	if (verdict_class(&v) == 0)
		return 0;
	milters_refuse(s, SMTP_MILTER_DATA, &v, &SMTP_MILTER_MESSAGE_REJECT,
	    &SMTP_MILTER_TEMPFAIL, NULL);
	return -1;
}

/*
 * The length of the header section at the start of the memory part: up
 * to and with the LF before the empty line; all of it when there is no
 * empty line there.
 */
static size_t header_length(const struct buf *mem)
{
	const char *p;

	if (mem->len == 0 || mem->s[0] == '\n')
		return 0;
	p = memmem(mem->s, mem->len, "\n\n", 2);
	return p != NULL ? (size_t)(p - mem->s) + 1 : mem->len;
}

/* The body after the header section: the memory part's rest, then the spool. */
static int send_body(struct smtp *s, const struct deliver_body *body, size_t hlen,
    struct milter_verdict *v)
{
	size_t off = hlen < body->mem.len ? hlen + 1 : body->mem.len;
	char *chunk;
	off_t pos = 0;

	for (; off < body->mem.len; off += MILTER_BODY_CHUNK) {
		size_t n = body->mem.len - off;

		milter_chain_body(s->milters, body->mem.s + off,
		    n > MILTER_BODY_CHUNK ? MILTER_BODY_CHUNK : n, v);
		if (v->action != MILTER_CONTINUE && v->action != MILTER_ACCEPT)
			return 0;
	}
	if (body->spool < 0)
		return 0;
	chunk = xmalloc(MILTER_BODY_CHUNK);
	for (;;) {
		ssize_t n = pread(body->spool, chunk, MILTER_BODY_CHUNK, pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("milter result=error reason=\"spool: %s\"", strerror(errno));
			free(chunk);
			return -1;
		}
		if (n == 0)
			break;
		pos += n;
		milter_chain_body(s->milters, chunk, (size_t)n, v);
		if (v->action != MILTER_CONTINUE && v->action != MILTER_ACCEPT)
			break;
	}
	free(chunk);
	return 0;
}

/* Apply the filters' header edits to the header section in memory. */
static void apply_edits(struct deliver_body *body, const struct milter_edits *edits)
{
	struct buf out = BUF_INIT;

	if (edits->n == 0)
		return;
	milter_edits_apply(edits, body->mem.s != NULL ? body->mem.s : "", body->mem.len,
	    &out);
	deliver_body_replace_mem(body, &out);
	buf_free(&out);
}

int smtp_milters_message(struct smtp *s, struct deliver_body *body, const char *id)
{
	struct milter_verdict v;
	struct milter_edits edits = { NULL, 0 };
	size_t hlen;

	if (s->milters == NULL)
		return SMTP_MILTER_STORE;
	hlen = header_length(&body->mem);
	milter_chain_headers(s->milters, body->mem.s != NULL ? body->mem.s : "", hlen, &v);
	if (v.action == MILTER_CONTINUE || v.action == MILTER_ACCEPT) {
		if (send_body(s, body, hlen, &v) != 0) {
			smtp_reply(s, &SMTP_LOCAL_ERROR, NULL);
			return SMTP_MILTER_REFUSED;
		}
	}
	if (v.action == MILTER_CONTINUE || v.action == MILTER_ACCEPT)
		milter_chain_eom(s->milters, &v, &edits);
	s->milter_txn = 0;
	if (verdict_class(&v) != 0) {
		milters_refuse(s, SMTP_MILTER_EOM, &v, &SMTP_MILTER_MESSAGE_REJECT,
		    &SMTP_MILTER_TEMPFAIL, NULL);
		milter_chain_abort(s->milters);
		milter_edits_free(&edits);
		return SMTP_MILTER_REFUSED;
	}
	if (v.action == MILTER_DISCARD || s->milter_discard) {
		log_info("milter name=%s stage=eom result=discard id=%s",
		    log_q(v.filter != NULL && v.filter[0] ? v.filter : "-"), id);
		milter_edits_free(&edits);
		return SMTP_MILTER_DISCARDED;
	}
	/* Quarantine: stored, edits made, but held in the queue (intake.c). */
	if (v.quarantine)
		log_warn("milter stage=eom result=quarantine reason=%s id=%s action=hold",
		    log_q(v.quarantine_reason), id);
	apply_edits(body, &edits);
	milter_edits_free(&edits);
	return v.quarantine ? SMTP_MILTER_QUARANTINE : SMTP_MILTER_STORE;
}

void smtp_milters_abort(struct smtp *s)
{
	if (s->milters == NULL || !s->milter_txn)
		return;
	milter_chain_abort(s->milters);
	s->milter_txn = 0;
	s->milter_discard = 0;
}

void smtp_milters_close(struct smtp *s)
{
	milter_chain_close(s->milters);
	s->milters = NULL;
	free(s->milter_confs);
	s->milter_confs = NULL;
}
