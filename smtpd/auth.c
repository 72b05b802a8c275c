/*
 * auth.c: SMTP AUTH PLAIN and LOGIN (RFC 4954, RFC 4616,
 * draft-murchison-sasl-login) as a small state machine: a mechanism is
 * chosen, a response is awaited for each 334 the exchange sends, and the
 * exchange ends done (235), failed (535, or 501 for bad base64) or
 * cancelled ("*", or the connection lost: already answered). The
 * responses are decoded by common/sasl.c's sasl_credentials(), the routine
 * POP3 AUTH uses too; the command table (smtp_session.c) has already
 * checked the state (after EHLO, once, outside a transaction).
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "log.h"
#include "sasl.h"
#include "smtpd.h"

/* Where an AUTH exchange is. */
enum auth_step {
	AUTH_STEP_CHOSEN,	/* the mechanism is named, nothing read yet */
	AUTH_STEP_WAITING,	/* a 334 is out, its response awaited */
	AUTH_STEP_DONE,		/* the credentials checked out */
	AUTH_STEP_FAILED,	/* refused: the reply is sent */
	AUTH_STEP_CANCELLED,	/* "*" or the connection ended: answered */
};

struct auth_exchange {
	struct smtp *s;
	const char *method;	/* "PLAIN" or "LOGIN", for the log */
	enum auth_step step;
};

/*
 * Does EHLO offer AUTH? Not once a login passed (RFC 4954 §4: one per
 * session), and only where a password may travel (ispmaild.conf(5),
 * plaintext_auth).
 */
int smtp_auth_offered(const struct smtp *s)
{
	return s->smtp_auth == AUTH_SOURCE_NONE &&
	    session_plaintext_ok(s->ctx, s->st.ssl != NULL);
}

/* STARTTLS: what AUTH proved in the clear is knowledge to discard too. */
void smtp_auth_forget(struct smtp *s)
{
	s->smtp_auth = AUTH_SOURCE_NONE;
	explicit_bzero(s->auth_user, sizeof s->auth_user);
}

/* A refused login: the pause, then 535; the last one allowed ends it. */
static void auth_failed(struct auth_exchange *ex)
{
	struct smtp *s = ex->s;

	ex->step = AUTH_STEP_FAILED;
	session_auth_delay(s->auth.pause_ms);
	smtp_reply(s, &SMTP_AUTH_FAILED, NULL);
	if (s->auth.failures >= s->conf->limits.auth_failures) {
		log_warn("close reason=auth-failures count=%d", s->auth.failures);
		s->quit = 1;
	}
}

/*
 * One SASL continuation line (RFC 4954 §4) into line[SASL_LINE_MAX]: longer
 * than a command line, so a full-size PLAIN response fits. Its length, or
 * -1 after "*" or trouble (the exchange is then cancelled, answered).
 */
static int auth_read(void *exchange, const char *prompt, char *line)
{
	struct auth_exchange *ex = exchange;
	struct smtp *s = ex->s;
	size_t len;
	int r;

	ex->step = AUTH_STEP_WAITING;
	stream_printf(&s->st, "334 %s\r\n", prompt);
	if (stream_flush(&s->st) != STREAM_OK) {
		ex->step = AUTH_STEP_CANCELLED;
		return -1;
	}
	r = stream_read_line(&s->st, line, SASL_LINE_MAX, &len, NULL);
	if (r != STREAM_OK) {
		if (r == STREAM_TOOLONG)
			smtp_reply(s, &SMTP_LINE_TOO_LONG, NULL);
		else if (r == STREAM_TIMEOUT)
			smtp_timed_out(s);
		s->quit = 1;
		ex->step = AUTH_STEP_CANCELLED;
		return -1;
	}
	if (strcmp(line, "*") == 0) {
		smtp_reply(s, &SMTP_AUTH_CANCELLED, NULL);
		ex->step = AUTH_STEP_CANCELLED;
		return -1;
	}
	return (int)len;
}

/*
 * The end of the exchange, by what sasl_credentials() made of the
 * responses: a password check (done, failed, or 451 when the users file
 * failed), or a refusal that never reached one, logged and counted by
 * session_auth_refused(): bad base64 is a 501, a malformed message a
 * failed login (535).
 */
static void auth_conclude(struct auth_exchange *ex, int r, const char *user,
    const char *pass)
{
	struct smtp *s = ex->s;
	int ok;

	switch (r) {
	case SASL_OK:
		ok = session_password_check(s->ctx, user, pass, ex->method,
		    s->auth_user, sizeof s->auth_user, &s->auth);
		if (ok == 1) {
			ex->step = AUTH_STEP_DONE;
			s->smtp_auth = AUTH_SOURCE_SMTP;
			smtp_reply(s, &SMTP_AUTH_OK, NULL);
		} else if (ok < 0) {
			ex->step = AUTH_STEP_FAILED;
			smtp_reply(s, &SMTP_LOCAL_ERROR, NULL);
		} else {
			auth_failed(ex);
		}
		break;
	case SASL_BAD_BASE64:
		ex->step = AUTH_STEP_FAILED;
		session_auth_refused(s->ctx, ex->method, r, &s->auth);
		smtp_client_error(s, &SMTP_AUTH_BASE64, NULL);
		break;
	case SASL_MALFORMED:
		session_auth_refused(s->ctx, ex->method, r, &s->auth);
		auth_failed(ex);
		break;
	default:		/* SASL_ENDED: auth_read() answered */
		ex->step = AUTH_STEP_CANCELLED;
		break;
	}
}

/*
 * Choose the mechanism of "AUTH mechanism [initial-response]": 538 where
 * no password may travel (logged and counted as a refused login), 501
 * without one, 504 for any but PLAIN and LOGIN. NULL when refused;
 * *initial is the initial response or NULL.
 */
static const char *auth_choose(struct smtp *s, char *arg, char **initial)
{
	if (!session_plaintext_ok(s->ctx, s->st.ssl != NULL)) {
		log_info("login result=refused reason=encryption-required service=%s",
		    conf_service_name(s->ctx->service));
		stats_count(STAT_LOGIN_FAILED, s->ctx->service);
		smtp_client_error(s, &SMTP_AUTH_NEED_TLS, NULL);
		return NULL;
	}
	if (arg == NULL) {
		smtp_client_error(s, &SMTP_AUTH_SYNTAX, NULL);
		return NULL;
	}
	if ((*initial = strchr(arg, ' ')) != NULL) {
		*(*initial)++ = '\0';
		while (**initial == ' ')
			(*initial)++;
		if (**initial == '\0')
			*initial = NULL;
	}
	if (strcasecmp(arg, "PLAIN") == 0)
		return "PLAIN";
	if (strcasecmp(arg, "LOGIN") == 0)
		return "LOGIN";
	smtp_client_error(s, &SMTP_AUTH_MECH, NULL);
	return NULL;
}

/*
 * AUTH: choose, exchange, conclude. line, user and pass live on this
 * stack frame only, and are wiped before it returns.
 */
void smtp_auth_command(struct smtp *s, char *arg)
{
	char line[SASL_LINE_MAX], user[SASL_FIELD_MAX], pass[SASL_FIELD_MAX];
	struct auth_exchange ex = { s, NULL, AUTH_STEP_CHOSEN };
	char *initial = NULL;
	int r;

	if ((ex.method = auth_choose(s, arg, &initial)) == NULL)
		return;
	user[0] = pass[0] = '\0';
	r = sasl_credentials(ex.method[0] == 'P', initial, auth_read, &ex, line,
	    user, pass);
	/* The session process serves other clients next: no password may stay. */
	explicit_bzero(line, sizeof line);
	auth_conclude(&ex, r, user, pass);
	explicit_bzero(pass, sizeof pass);
}
