/*
 * bounce.c: the DSN (RFC 3464) and its delivery. The human part says what
 * happened in plain words; the machine part has one block per failed
 * recipient with the remote server's reply; the third part carries the
 * original headers only (RFC 3462 text/rfc822-headers), not the body.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "aliases.h"
#include "bounce.h"
#include "deliver.h"
#include "log.h"
#include "maildir.h"
#include "recipient.h"
#include "stats.h"

/* Headers of the original message: up to the empty line, at most 64 KB. */
static void original_headers(int datafd, struct buf *out)
{
	char chunk[8192];
	size_t before = out->len, limit = 65536;
	int at_bol = 1;
	ssize_t n, i;

	if (lseek(datafd, 0, SEEK_SET) != 0)
		return;
	while (out->len - before < limit && (n = read(datafd, chunk, sizeof chunk)) > 0) {
		for (i = 0; i < n; i++) {
			if (chunk[i] == '\n' && at_bol)
				return;
			at_bol = chunk[i] == '\n';
			/* LF is the only line end here; a CR or NUL would go out bare. */
			buf_appendc(out, chunk[i] == '\r' || chunk[i] == '\0' ? ' ' : chunk[i]);
			if (out->len - before >= limit)
				break;
		}
	}
	if (out->len > before && out->s[out->len - 1] != '\n')
		buf_appendc(out, '\n');
}

/*
 * Append text that came from elsewhere (a remote reply, an address) on one
 * line: bytes outside printable ASCII become \xhh, so a bare CR or LF can
 * never reach the DSN (nor <CR>.<CR>, the 2023 smuggling form).
 */
static void append_text(struct buf *out, const char *text)
{
	const unsigned char *p;

	for (p = (const unsigned char *)text; *p != '\0'; p++) {
		if (*p >= 0x20 && *p <= 0x7e)
			buf_appendc(out, (char)*p);
		else
			buf_printf(out, "\\x%02x", *p);
	}
}

void bounce_status(const char *reply, char *out, size_t outlen)
{
	const char *p = reply;
	static const char expired[] = "delivery time expired";

	/*
	 * runner.c's "delivery time expired; last reply: ...": RFC 3463 X.4.7,
	 * unless the last reply was a full mailbox (4.2.2, a local mailbox an
	 * alias led to): it stayed full, the persistent X.2.2, 5.2.2.
	 */
	if (strncmp(reply, expired, sizeof expired - 1) == 0) {
		const char *last = strstr(reply, "; last reply: ");

		if (last != NULL && strncmp(last + 14, "452 4.2.2 ", 10) == 0)
			snprintf(out, outlen, "5.2.2");
		else
			snprintf(out, outlen, "4.4.7");
		return;
	}
	/* "550 5.1.1 text": the second token when it looks like x.y.z. */
	while (*p && *p != ' ')
		p++;
	while (*p == ' ')
		p++;
	if ((p[0] == '4' || p[0] == '5') && p[1] == '.' && isdigit((unsigned char)p[2])) {
		/* Digits and dots only: it becomes a DSN field of its own. */
		size_t n = strspn(p, "0123456789.");

		if (n < outlen && (p[n] == ' ' || p[n] == '\0')) {
			memcpy(out, p, n);
			out[n] = '\0';
			return;
		}
	}
	snprintf(out, outlen, "%s", reply[0] == '4' ? "4.0.0" : "5.0.0");
}

static void rfc5322_date(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	localtime_r(&t, &tm);
	if (strftime(out, outlen, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		out[0] = '\0';
}

void bounce_build(const struct conf *c, const struct queue_env *env,
    int datafd, struct buf *out)
{
	char date[64], arrival[64], status[32], boundary[96];
	time_t now = time(NULL);
	size_t i;

	rfc5322_date(now, date, sizeof date);
	rfc5322_date(env->arrival, arrival, sizeof arrival);
	snprintf(boundary, sizeof boundary, "%s/%lld/%s", env->id, (long long)now,
	    c->hostname);
	buf_printf(out, "From: MAILER-DAEMON@%s (Mail Delivery System)\nTo: <",
	    c->hostname);
	append_text(out, env->sender);
	buf_printf(out,
	    ">\n"
	    "Subject: Undelivered Mail Returned to Sender\n"
	    "Date: %s\n"
	    "Message-ID: <%s.bounce@%s>\n"
	    "Auto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\n"
	    "\tboundary=\"%s\"\n"
	    "\n"
	    "This is a MIME-encapsulated message.\n"
	    "\n"
	    "--%s\n"
	    "Content-Description: Notification\n"
	    "Content-Type: text/plain; charset=us-ascii\n"
	    "\n"
	    "This is the mail system at host %s.\n"
	    "\n"
	    "I'm sorry to have to inform you that your message could not\n"
	    "be delivered to one or more recipients. The mail system's\n"
	    "replies are below.\n"
	    "\n",
	    date, env->id, c->hostname, boundary, boundary, c->hostname);
	for (i = 0; i < env->nrcpt; i++) {
		if (env->rcpt[i].state != QUEUE_RCPT_FAILED)
			continue;
		buf_appendc(out, '<');
		append_text(out, env->rcpt[i].address);
		buf_appends(out, ">: ");
		append_text(out, env->rcpt[i].last_reply);
		buf_appends(out, "\n\n");
	}
	buf_printf(out,
	    "--%s\n"
	    "Content-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n"
	    "\n"
	    "Reporting-MTA: dns; %s\n"
	    "X-Ispmaild-Queue-ID: %s\n"
	    "Arrival-Date: %s\n",
	    boundary, c->hostname, env->id, arrival);
	for (i = 0; i < env->nrcpt; i++) {
		const struct queue_rcpt *q = &env->rcpt[i];

		if (q->state != QUEUE_RCPT_FAILED)
			continue;
		bounce_status(q->last_reply, status, sizeof status);
		buf_appends(out, "\nFinal-Recipient: rfc822; ");
		append_text(out, q->address);
		buf_printf(out, "\nAction: failed\nStatus: %s\nDiagnostic-Code: smtp; ",
		    status[0] == '4' ? "5.4.7" : status);
		append_text(out, q->last_reply);
		buf_appendc(out, '\n');
	}
	buf_printf(out,
	    "\n"
	    "--%s\n"
	    "Content-Description: Undelivered Message Headers\n"
	    "Content-Type: text/rfc822-headers\n"
	    "\n", boundary);
	original_headers(datafd, out);
	buf_printf(out, "\n--%s--\n", boundary);
}

/*
 * Deliver the DSN through the one delivery function (local/deliver.c),
 * as the SMTP side delivers a message: Return-Path: <> on the local
 * copies, the queue's copy as it is, from the null sender.
 */
static int deliver_set(const struct conf *c, const struct rcpt_set *set,
    const struct buf *msg, const char *id)
{
	struct delivery d;
	struct deliver_result res;
	struct buf none = BUF_INIT;
	size_t i;

	if (deliver_open(&d, c, set, "", "local bounce") != 0)
		return -1;
	if (deliver_body_write(&d, msg->s, msg->len) != 0) {
		deliver_abort(&d);
		return -1;
	}
	(void)deliver_commit(&d, &none, &res);
	for (i = 0; i < res.nlocal_done; i++)
		log_info("bounce id=%s to=%s result=delivered", id, log_q(set->local[i]));
	if (res.stage != DELIVER_OK) {
		errno = res.error;
		return -1;
	}
	if (res.qid[0] != '\0')
		log_info("bounce id=%s queued=%s rcpts=%zu", id, res.qid, set->nremote);
	return 0;
}

/*
 * Where the DSN goes: the sender, or for one of our SRS addresses the
 * original sender (a forged or expired one gets none). 1 to, 0 none.
 */
static int bounce_to(const struct conf *c, const struct queue_env *env,
    const struct srs_secret *srs, char *to, size_t tolen)
{
	enum srs_result why;

	switch (rcpt_srs_reverse(c, srs, env->sender, time(NULL), to, tolen, &why)) {
	case RCPT_SRS_VALID:
		return 1;
	case RCPT_SRS_INVALID:
		log_warn("bounce id=%s to=%s result=dropped reason=srs-%s", env->id,
		    log_q(env->sender), srs_result_name(why));
		return 0;
	case RCPT_SRS_NONE:
		break;
	}
	return str_copy(to, tolen, env->sender) == 0;
}

int bounce_send(const struct conf *c, const struct queue_env *env, int datafd,
    const struct srs_secret *srs)
{
	struct rcpt_set set = { 0 };
	struct aliases al;
	struct buf msg = BUF_INIT;
	char err[512], to[512];
	const char *at;
	int r = 0;

	if (env->sender[0] == '\0') {
		log_info("bounce id=%s result=dropped reason=null-sender", env->id);
		return 0;
	}
	/* Backscatter: the sender of mail an outsider had us forward may be forged. */
	if (env->nobounce) {
		log_info("bounce id=%s result=suppressed reason=forwarded-from-outside",
		    env->id);
		stats_queue(STAT_QUEUE_SUPPRESSED);
		return 0;
	}
	if (!bounce_to(c, env, srs, to, sizeof to))
		return 0;
	at = strrchr(to, '@');
	if (at != NULL && conf_is_local_domain(c, at + 1, strlen(at + 1))) {
		char lower[512];
		size_t i;

		for (i = 0; to[i] && i < sizeof lower - 1; i++)
			lower[i] = (char)tolower((unsigned char)to[i]);
		lower[i] = '\0';
		if (aliases_load(c->aliases_file, &al, err, sizeof err) != 0) {
			log_error("bounce id=%s result=error reason=\"%s\"", env->id, log_qtext(err));
			return -1;
		}
		r = rcpt_resolve_local(c, &al, lower, &set);
		aliases_free(&al);
		if (r <= 0) {
			log_warn("bounce id=%s to=%s result=dropped reason=unknown-sender",
			    env->id, log_q(to));
			rcpt_set_free(&set);
			return r < 0 ? -1 : 0;
		}
	} else {
		rcpt_add_remote(&set, to);
	}
	{
		/* The DSN is addressed To: the original sender, not the SRS one. */
		struct queue_env addressed = *env;

		addressed.sender = to;
		bounce_build(c, &addressed, datafd, &msg);
	}
	r = deliver_set(c, &set, &msg, env->id);
	if (r == 0)
		stats_queue(STAT_QUEUE_DSN);
	if (r != 0)
		log_error("bounce id=%s result=error reason=\"%s\"", env->id, strerror(errno));
	buf_free(&msg);
	rcpt_set_free(&set);
	return r;
}
