/*
 * intake.c: the DATA path (RFC 5321 §4.1.1.4), in the order a message goes
 * through it: open the first copy and say 354; receive the body
 * (intake_receive: the DATA reader, the hop count, size and line errors);
 * decide the header block (intake_headers: our trace headers, then the
 * filters and the signature, which may only be decided once the whole body
 * is known); store every copy through the one delivery function
 * (intake_store, local/deliver.c); reply (intake_reply). The body is held
 * in memory and spooled past DELIVER_MEMORY_MAX, so the header block can
 * be set last and each copy is still written once (docs/PERFORMANCE.md,
 * "Storing a message"). 250 comes only after every copy is fsynced, file
 * and directory (docs/PROTOCOL.md).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "data.h"
#include "deliver.h"
#include "hops.h"
#include "log.h"
#include "policy.h"
#include "smtp.h"
#include "smtpd.h"
#include "smtp_replies.h"
#include "stats.h"
#include "stream.h"
#include "sys.h"
#include "vacation.h"

/* One message on its way in. */
struct intake {
	struct delivery dv;
	struct smtp_data d;
	struct smtp_hops hops;
	struct buf header;		/* the header block set before storing */
	struct deliver_result res;
	time_t arrival;			/* when DATA began: the Received: date */
	int werr;			/* errno of a failed spool write, or 0 */
	char client[600];		/* "ip helo", the queue envelope's */
	char held_id[QUEUE_ID_MAX];	/* quarantined: the id it had (Received:), or "" */
	struct buf orig_header;		/* the message's own header section (vacation) */
};

/* RFC 5322 date for Received:. */
static void rfc5322_date(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	localtime_r(&t, &tm);
	if (strftime(out, outlen, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		out[0] = '\0';
}

/*
 * Our Received: line (RFC 5321 §4.4). Return-Path goes on local copies
 * only and is local/deliver.c's.
 */
static void trace_headers(struct smtp *s, struct intake *in)
{
	static const char *const protos[2][2][2] = {
		/* [esmtp][tls][auth] RFC 3848 */
		{ { "SMTP", "SMTP" }, { "SMTP", "SMTP" } },
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
	};
	struct buf *b = &in->header;
	char date[64];
	const char *proto = protos[s->esmtp][s->st.ssl != NULL]
	    [s->smtp_auth == AUTH_SOURCE_SMTP];

	rfc5322_date(in->arrival, date, sizeof date);
	buf_printf(b, "Received: from %s ([%s])\n\tby %s (ispmaild) with %s id %s",
	    s->helo[0] ? s->helo : "unknown", s->ctx->client_text,
	    s->conf->hostname, proto, in->dv.id);
	if (s->st.ssl != NULL)
		buf_printf(b, "\n\t(version=%s cipher=%s)", stream_tls_version(&s->st),
		    stream_tls_cipher(&s->st));
	if (s->naccepted == 1)
		buf_printf(b, "\n\tfor <%s>", s->first_rcpt);
	buf_printf(b, "; %s\n", date);
}

/* 452 4.3.1 for a full disk or quota, 451 for anything else. */
static const struct smtp_reply *storage_reply(int e)
{
	return e == ENOSPC || e == EDQUOT ? &SMTP_NO_STORAGE : &SMTP_LOCAL_ERROR;
}

/*
 * Open the first copy before saying 354: a Maildir or a queue that cannot
 * take the message is a 4xx to DATA, not after the whole message. 0 when
 * the client may send.
 */
static int intake_open(struct smtp *s, struct intake *in)
{
	in->arrival = time(NULL);
	snprintf(in->client, sizeof in->client, "%s %s", s->ctx->client_text,
	    s->helo[0] ? s->helo : "unknown");
	if (deliver_open(&in->dv, s->conf, &s->rcpts, s->sender.mailbox, in->client) != 0) {
		int e = errno;

		log_error("data result=error reason=\"open: %s\"", strerror(e));
		smtp_reply(s, storage_reply(e), NULL);
		smtp_transaction_reset(s);
		return -1;
	}
	if (smtp_milters_data(s, in->dv.id) != 0) {
		deliver_abort(&in->dv);
		smtp_transaction_reset(s);
		return -1;
	}
	smtp_reply(s, &SMTP_DATA_GO, NULL);
	if (stream_flush(&s->st) != STREAM_OK) {
		deliver_abort(&in->dv);
		s->quit = 1;
		return -1;
	}
	return 0;
}

/*
 * Read the message to its terminator, handing it to the delivery as it
 * comes. The whole of it must arrive within data_timeout plus a second per
 * SMTP_DATA_MIN_RATE bytes: a client dripping a byte now and then is cut
 * off instead of holding a process for ever, however it ends its lines.
 */
static int data_read(struct smtp *s, struct intake *in)
{
	struct smtp_data *d = &in->d;
	struct buf out = BUF_INIT;
	long long start = now_ms(), left;
	unsigned long long got = 0;
	const char *p;
	ssize_t n;
	size_t used;
	int r = STREAM_OK;

	smtp_data_init(d, (size_t)s->conf->limits.message_size);
	while (!d->done) {
		size_t before;

		left = start + s->conf->limits.data_timeout * 1000LL +
		    (long long)(got * 1000 / SMTP_DATA_MIN_RATE) - now_ms();
		if (left <= 0) {
			r = STREAM_TIMEOUT;
			break;
		}
		/* Wait no longer than what is left (whole seconds, rounded up). */
		left = (left + 999) / 1000;
		stream_set_timeout(&s->st, left > INT_MAX / 1000 ? INT_MAX / 1000 : (int)left);
		n = stream_peek(&s->st, &p);
		if (n < 0) {
			r = (int)n;
			break;
		}
		before = out.len;
		used = smtp_data_feed(d, p, (size_t)n, &out);
		if (out.len > before)	/* out.s is NULL until the first byte */
			smtp_hops_feed(&in->hops, out.s + before, out.len - before);
		got += used;
		stream_consume(&s->st, used);
		if (d->errors == 0 && in->werr == 0 && (out.len >= 65536 || d->done)) {
			if (deliver_body_write(&in->dv, out.s, out.len) != 0)
				in->werr = errno ? errno : EIO;
			buf_reset(&out);
		} else if (d->errors || in->werr) {
			buf_reset(&out);
		}
	}
	buf_free(&out);
	stream_set_timeout(&s->st, (int)s->conf->limits.command_timeout);
	return r;
}

static const struct smtp_reply *data_error_reply(int errors)
{
	if (errors & SMTP_DATA_TOO_BIG)
		return &SMTP_SIZE_EXCEEDED;
	if (errors & (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR))
		return &SMTP_BARE_LF;
	if (errors & SMTP_DATA_NUL)
		return &SMTP_NUL_IN_DATA;
	return &SMTP_LONG_LINE;
}

/*
 * Receive the body and judge what the reader saw: a broken connection or
 * a timeout ends the session, a malformed or oversized message or a mail
 * loop is refused (after the whole of it was read). 0 when the message
 * goes on to its headers.
 */
static int intake_receive(struct smtp *s, struct intake *in)
{
	int r;

	smtp_hops_init(&in->hops);
	r = data_read(s, in);
	if (r != STREAM_OK) {
		deliver_abort(&in->dv);
		log_info("data result=abort reason=%s", r != STREAM_TIMEOUT ?
		    "disconnect" : stream_expired(&s->st) ? "session-timeout" : "timeout");
		if (r == STREAM_TIMEOUT)
			smtp_timed_out(s);
		s->quit = 1;
		return -1;
	}
	if (in->d.errors) {
		const struct smtp_reply *e = data_error_reply(in->d.errors);

		deliver_abort(&in->dv);
		log_info("data result=reject code=%d errors=0x%x size=%zu", e->code,
		    (unsigned)in->d.errors, in->d.size);
		stats_reject(in->d.errors & SMTP_DATA_TOO_BIG ? STAT_REJECT_LIMIT :
		    STAT_REJECT_DATA);
		smtp_reply(s, e, NULL);
		smtp_transaction_reset(s);
		return -1;
	}
	if (in->hops.hops + 1 > SMTP_HOPS_MAX) {
		/* A loop: refused now, or the queue would bounce it to anyone. */
		deliver_abort(&in->dv);
		log_info("data result=reject code=%d reason=too-many-hops hops=%d",
		    SMTP_TOO_MANY_HOPS.code, in->hops.hops + 1);
		stats_reject(STAT_REJECT_DATA);
		smtp_reply(s, &SMTP_TOO_MANY_HOPS, NULL);
		smtp_transaction_reset(s);
		return -1;
	}
	return 0;
}

/*
 * The milters' end of message, then the DKIM signature. Here the whole
 * body is known (the message's own header section is its start: body->mem,
 * then body->spool past DELIVER_MEMORY_MAX) and nothing is stored yet, so
 * the filters' header edits are made to the message's own header section
 * (milters.c), and the signature, on top of the header block (signing.c),
 * covers the filtered headers. An enum smtp_milter_result: STORE to go on.
 */
static int intake_filters_and_signature(struct smtp *s, struct buf *header,
    struct deliver_body *body, const char *id)
{
	int r = smtp_milters_message(s, body, id);

	if (r != SMTP_MILTER_STORE && r != SMTP_MILTER_QUARANTINE)
		return r;
	(void)smtp_sign(s, header, body);
	return r;
}

/*
 * The header block, decided after the body: our trace headers, then what
 * the filters and the signature add. 0 when the message is to be stored.
 */
static int intake_headers(struct smtp *s, struct intake *in)
{
	int r;

	trace_headers(s, in);
	r = intake_filters_and_signature(s, &in->header, &in->dv.body, in->dv.id);
	if (r == SMTP_MILTER_STORE)
		return 0;
	/* Quarantine: every recipient's copy waits in the queue, held. */
	if (r == SMTP_MILTER_QUARANTINE) {
		str_copy(in->held_id, sizeof in->held_id, in->dv.id);
		deliver_hold(&in->dv);
		return 0;
	}
	deliver_abort(&in->dv);
	if (r == SMTP_MILTER_DISCARDED) {
		/* 250 as if stored (the client must not retry), nothing kept. */
		s->messages++;
		s->junk = 0;
		log_info("message id=%s from=%s result=discard", in->dv.id,
		    log_qaddr(s->sender.mailbox));
		smtp_reply(s, &SMTP_QUEUED, in->dv.id);
	}
	smtp_transaction_reset(s);
	return -1;
}

/*
 * Forwarding loops (SPEC 12): a forwarding user that the message's own
 * Delivered-To: fields already name keeps it instead of forwarding it
 * again (local/recipient.c, rcpt_forward_loops). Only now is the header
 * section known: it is the start of the body.
 */
static void intake_forward_loops(struct smtp *s, struct intake *in)
{
	if (s->rcpts.nforwarders > 0)
		(void)rcpt_forward_loops(&s->rcpts, in->dv.body.mem.s, in->dv.body.mem.len);
}

/* The copies stored before a failure, and the failure, as the log had them. */
static void store_log(struct smtp *s, const struct intake *in)
{
	const struct deliver_result *res = &in->res;
	size_t i;

	for (i = 0; i < res->nlocal_done; i++)
		log_info("deliver to=%s result=ok", log_q(s->rcpts.local[i]));
	switch (res->stage) {
	case DELIVER_OK:
		if (in->held_id[0] != '\0')
			log_info("quarantine id=%s queue=%s result=held", in->held_id, res->qid);
		if (res->qid[0] != '\0')
			log_info("queued id=%s from=%s rcpts=%zu size=%zu", res->qid,
			    log_qaddr(s->sender.mailbox), s->rcpts.nremote -
			    (res->qid_forward[0] ? rcpt_nforwarded(&s->rcpts) : 0) +
			    (in->held_id[0] ? s->rcpts.nlocal : 0) + s->rcpts.nfull,
			    res->queue_size);
		if (res->qid_forward[0] != '\0')
			log_info("queued id=%s from=%s rcpts=%zu size=%zu", res->qid_forward,
			    log_qaddr(s->rcpts.forward_sender), rcpt_nforwarded(&s->rcpts),
			    res->queue_size);
		break;
	case DELIVER_FAIL_FIRST:
		log_error("data result=error reason=\"%s\"", strerror(res->error));
		break;
	case DELIVER_FAIL_LOCAL:
		log_error("deliver to=%s result=error reason=\"%s\"",
		    log_q(s->rcpts.local[res->nlocal_done]), strerror(res->error));
		break;
	case DELIVER_FAIL_QUEUE:
		log_error("queue result=error reason=\"%s\"", strerror(res->error));
		break;
	}
}

/*
 * Store every copy through the one delivery function. A failure after
 * some copies exist still gets a 4xx: the client's retry may duplicate,
 * never lose. 0 when every copy is stored.
 */
static int intake_store(struct smtp *s, struct intake *in)
{
	if (in->werr != 0) {
		deliver_abort(&in->dv);
		log_error("data result=error reason=\"%s\"", strerror(in->werr));
		smtp_reply(s, storage_reply(in->werr), NULL);
		smtp_transaction_reset(s);
		return -1;
	}
	intake_forward_loops(s, in);
	if (s->rcpts.nlocal > 0 && in->held_id[0] == '\0')
		vacation_header_copy(in->dv.body.mem.s, in->dv.body.mem.len, &in->orig_header);
	(void)deliver_commit(&in->dv, &in->header, &in->res);
	store_log(s, in);
	if (in->res.stage != DELIVER_OK) {
		smtp_reply(s, storage_reply(in->res.error), NULL);
		smtp_transaction_reset(s);
		return -1;
	}
	return 0;
}

/* The session's relay DB, opened only when a vacation reply is due. */
static struct relaydb *intake_relaydb(void *s)
{
	return smtp_relaydb(s);
}

/*
 * Vacation replies (local/vacation.c) for the local copies just stored;
 * whatever happens there is logged there and never changes the 250.
 */
static void intake_vacation(struct smtp *s, struct intake *in)
{
	struct vacation_delivery v = {
		.conf = s->conf, .db_open = intake_relaydb, .db_arg = s,
		.aliases = s->aliases_loaded ? &s->aliases : NULL, .dkim = s->ctx->dkim,
		.sender = s->sender.mailbox, .rcpts = (const char *const *)s->rcpt_paths,
		.nrcpts = s->nrcpt_paths, .header = in->orig_header.s,
		.hlen = in->orig_header.len, .now = time(NULL),
	};

	if (in->orig_header.len > 0)
		(void)vacation_after_delivery(&v, s->rcpts.local, in->res.nlocal_done);
}

/* 250 naming the queue id when there are remote recipients, else the message's. */
static void intake_reply(struct smtp *s, struct intake *in)
{
	const char *qid = in->res.qid;

	s->messages++;
	s->junk = 0;
	if (s->rcpts.nlocal > 0 && in->held_id[0] == '\0')
		stats_count(STAT_MSG_DELIVERED, s->ctx->service);
	/* nfull: full mailboxes an alias led to wait in the queue (recipient.h). */
	if (s->rcpts.nremote > 0 || s->rcpts.nfull > 0 || in->held_id[0] != '\0')
		stats_count(STAT_MSG_QUEUED, s->ctx->service);
	log_info("message id=%s from=%s size=%zu local=%zu remote=%zu%s%s", in->dv.id,
	    log_qaddr(s->sender.mailbox), in->res.size, s->rcpts.nlocal,
	    s->rcpts.nremote, qid[0] ? " queue=" : "", qid);
	smtp_reply(s, &SMTP_QUEUED, qid[0] ? qid : in->dv.id);
	smtp_transaction_reset(s);
}

void intake_data(struct smtp *s)
{
	struct intake in;

	memset(&in, 0, sizeof in);
	if (intake_open(s, &in) != 0)
		return;
	if (intake_receive(s, &in) != 0 || intake_headers(s, &in) != 0 ||
	    intake_store(s, &in) != 0) {
		buf_free(&in.header);
		buf_free(&in.orig_header);
		return;
	}
	intake_vacation(s, &in);
	intake_reply(s, &in);
	buf_free(&in.header);
	buf_free(&in.orig_header);
}
