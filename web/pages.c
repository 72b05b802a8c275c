/*
 * pages.c: the customer's pages (SPEC 13): the login form, the account
 * page (quota usage, whether this address may send now, the forms), and
 * the handlers of the forms. Every change goes through a function that
 * ispmailctl uses too; each is logged with who made it.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mailbox.h"
#include "users_admin.h"
#include "users.h"
#include "webd.h"

/* What a page says after a redirect: ?msg=CODE, only codes of this table. */
static const struct web_message {
	const char *code;
	const char *kind;	/* "ok" or "error" */
	const char *text;
} web_messages[] = {
	{ "login-failed", "error", "Wrong address or password." },
	{ "logged-out", "ok", "You have logged out." },
	{ "expired", "error", "Your session has ended. Please log in again." },
	{ "failed", "error", "The server could not do that just now. Nothing was changed; "
	  "please try again later." },
	{ "password-changed", "ok", "Your password has been changed. Use the new one in your "
	  "mail program too." },
	{ "password-wrong", "error", "The current password is not right. Nothing was changed." },
	{ "password-short", "error", "The new password is too short. Nothing was changed." },
	{ "password-mismatch", "error", "The two new passwords differ. Nothing was changed." },
	{ "password-bad", "error", "The new password cannot contain line breaks or control "
	  "characters. Nothing was changed." },
	{ "forward-saved", "ok", "Forwarding saved." },
	{ "forward-off", "ok", "Forwarding is off." },
	{ "forward-bad", "error", "Those are not addresses we can forward to (one or more "
	  "addresses like name@example.net, separated by spaces or commas). Nothing was "
	  "changed." },
	{ "vacation-on", "ok", "Your vacation reply is on." },
	{ "vacation-off", "ok", "Your vacation reply is off." },
	/* The administrators' pages (admin_pages.c). */
	{ "user-added", "ok", "The user has been added." },
	{ "user-deleted", "ok", "The user has been deleted (the Maildir stays on disk)." },
	{ "user-password-set", "ok", "The password has been set." },
	{ "user-quota-set", "ok", "The quota has been set." },
	{ "user-forward-set", "ok", "The forwarding has been set." },
	{ "user-vacation-set", "ok", "The vacation reply has been set." },
	{ "relay-added", "ok", "The address may send now." },
	{ "relay-deleted", "ok", "The address's authorization has been withdrawn." },
	{ "queue-flushed", "ok", "Every queued message will be retried now." },
	{ "queue-deleted", "ok", "The message has been deleted from the queue." },
	{ "queue-released", "ok", "The message has been released and will be delivered." },
	{ "vacation-bad", "error", "The vacation reply needs a message, and a subject on one "
	  "line. Nothing was changed." },
};

static const struct web_message *message_find(const char *code)
{
	if (code == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof web_messages / sizeof web_messages[0]; i++)
		if (strcmp(web_messages[i].code, code) == 0)
			return &web_messages[i];
	return NULL;
}

void web_page(struct web *w, int status, const char *title, const struct html *content,
    const char *msg)
{
	const struct web_message *m = message_find(msg);

	web_page_text(w, status, title, content, m ? m->kind : NULL, m ? m->text : NULL);
}

void web_page_text(struct web *w, int status, const char *title, const struct html *content,
    const char *kind, const char *text)
{
	struct html nav = HTML_INIT, notice = HTML_INIT, page = HTML_INIT, admin = HTML_INIT;

	if (w->logged_in) {
		const struct html_var v[] = { HTML_TEXT("address", w->sess.address),
			HTML_TEXT("csrf", w->sess.csrf), HTML_FRAG("admin", &admin) };

		/* The administrators' link; nobody else sees it. */
		if (web_is_admin(w))
			html_render("nav_admin.html", NULL, 0, &admin);
		html_render("nav.html", v, sizeof v / sizeof v[0], &nav);
	}
	if (kind != NULL && text != NULL) {
		const struct html_var v[] = { HTML_TEXT("kind", kind), HTML_TEXT("text", text) };

		html_render("notice.html", v, sizeof v / sizeof v[0], &notice);
	}
	{
		const struct html_var v[] = { HTML_TEXT("title", title),
			HTML_TEXT("hostname", w->conf->hostname), HTML_FRAG("nav", &nav),
			HTML_TEXT("main_class", w->wide ? "wide" : ""),
			HTML_FRAG("notice", &notice), HTML_FRAG("content", content) };

		html_render("layout.html", v, sizeof v / sizeof v[0], &page);
	}
	w->status = status;
	w->content_type = "text/html; charset=utf-8";
	buf_reset(&w->body);
	buf_append(&w->body, page.b.s, page.b.len);
	html_free(&nav);
	html_free(&notice);
	html_free(&page);
	html_free(&admin);
}

void web_login_page(struct web *w, const char *msg)
{
	struct html content = HTML_INIT;
	const struct html_var v[] = { HTML_TEXT("address", "") };

	html_render("login.html", v, sizeof v / sizeof v[0], &content);
	web_page(w, 200, "Log in", &content, msg);
	html_free(&content);
}

/* Quota usage: a bar against the quota, or the size alone. */
static void usage_render(struct web *w, const struct user_options *o, struct html *out)
{
	char opts[64] = "", used[32], quota[32], count[32], ub[32], qb[32], pct[16];
	char low[32], high[32];
	struct user u = { .address = w->sess.address, .options = opts };
	struct admin_usage a;

	if (o->has_quota)
		(void)str_format(opts, sizeof opts, "quota=%llu", o->quota);
	(void)admin_user_usage(w->conf, &u, &a);
	if (!a.known) {
		html_render("usage_unknown.html", NULL, 0, out);
		return;
	}
	admin_size_format((unsigned long long)a.bytes, used, sizeof used);
	(void)str_format(count, sizeof count, "%lld message%s", a.count,
	    a.count == 1 ? "" : "s");
	if (!a.has_quota) {
		const struct html_var v[] = { HTML_TEXT("used", used), HTML_TEXT("count", count) };

		html_render("usage_none.html", v, sizeof v / sizeof v[0], out);
		return;
	}
	admin_size_format(a.quota, quota, sizeof quota);
	(void)str_format(ub, sizeof ub, "%lld", a.bytes);
	(void)str_format(qb, sizeof qb, "%llu", a.quota);
	(void)str_format(low, sizeof low, "%llu", a.quota / 10 * 8);
	(void)str_format(high, sizeof high, "%llu", a.quota / 20 * 19);
	(void)str_format(pct, sizeof pct, "%llu",
	    (unsigned long long)a.bytes * 100 / (a.quota ? a.quota : 1));
	{
		const struct html_var v[] = { HTML_TEXT("used", used), HTML_TEXT("quota", quota),
			HTML_TEXT("count", count), HTML_TEXT("used_bytes", ub),
			HTML_TEXT("quota_bytes", qb), HTML_TEXT("low", low), HTML_TEXT("high", high),
			HTML_TEXT("percent", pct) };

		html_render("usage_quota.html", v, sizeof v / sizeof v[0], out);
	}
}

/*
 * "Can I send?": the same question the SMTP side asks at RCPT for this
 * address (trusted network, else the relay table's entry for the
 * address cut to relay.ipv6_prefix, younger than authorization_ttl).
 */
static void send_render(struct web *w, struct html *out)
{
	const struct conf *c = w->conf;
	char key[NET_ADDR_MAX], until[32], minutes[16];
	struct state *st;
	time_t end, now = time(NULL);
	struct tm tm;

	(void)str_format(minutes, sizeof minutes, "%ld", c->relay.authorization_ttl / 60);
	if (w->ctx->class == CLIENT_TRUSTED) {
		const struct html_var v[] = { HTML_TEXT("client", w->ctx->client_text) };

		html_render("send_trusted.html", v, 1, out);
		return;
	}
	if (net_list_match(&c->relay.never_authorize, &w->ctx->client)) {
		const struct html_var v[] = { HTML_TEXT("client", w->ctx->client_text) };

		html_render("send_never.html", v, 1, out);
		return;
	}
	net_relay_key(&w->ctx->client, c->relay.ipv6_prefix, key, sizeof key);
	if ((st = web_state(w)) != NULL && state_auth_get(st, key, now, NULL, 0, &end) == 1) {
		/* Not who checked: behind one NAT that may be another customer. */
		const struct html_var v[] = { HTML_TEXT("client", w->ctx->client_text),
			HTML_TEXT("until", until) };

		if (localtime_r(&end, &tm) == NULL || strftime(until, sizeof until, "%H:%M", &tm) == 0)
			str_copy(until, sizeof until, "?");
		html_render("send_yes.html", v, sizeof v / sizeof v[0], out);
		return;
	}
	{
		const struct html_var v[] = { HTML_TEXT("client", w->ctx->client_text),
			HTML_TEXT("ttl_minutes", minutes) };

		html_render("send_no.html", v, sizeof v / sizeof v[0], out);
	}
}

void web_account_page(struct web *w, const char *msg)
{
	struct html content = HTML_INIT, usage = HTML_INIT, send = HTML_INIT;
	struct buf subject = BUF_INIT, text = BUF_INIT;
	struct user_options o;
	char min[8];

	switch (users_options(w->conf->users_file, w->sess.address, &o)) {
	case 1:
		break;
	case 0:
		/* The user was deleted since the login: the session goes too. */
		if (web_db(w) != NULL)
			(void)websession_delete(w->db, w->sess.id);
		w->logged_in = 0;
		web_logout_cookie(w);
		web_login_page(w, "expired");
		return;
	default:
		web_error(w, 503, "Try again later", "Your account cannot be read just now.");
		return;
	}
	usage_render(w, &o, &usage);
	send_render(w, &send);
	web_vacation_get(w->conf, w->sess.address, &subject, &text);
	(void)str_format(min, sizeof min, "%d", WEB_PASSWORD_MIN);
	{
		const struct html_var v[] = {
			HTML_FRAG("usage", &usage), HTML_FRAG("send", &send),
			HTML_TEXT("csrf", w->sess.csrf), HTML_TEXT("min_password", min),
			HTML_TEXT("forward", o.forward),
			HTML_TEXT("keep_checked", o.keep ? " checked" : ""),
			HTML_TEXT("vacation_on", o.vacation ? " checked" : ""),
			HTML_TEXT("vacation_off", o.vacation ? "" : " checked"),
			HTML_TEXT("subject", subject.s ? subject.s : ""),
			HTML_TEXT("text", text.s ? text.s : ""),
		};

		html_render("account.html", v, sizeof v / sizeof v[0], &content);
	}
	web_page(w, 200, "Your account", &content, msg);
	html_free(&content);
	html_free(&usage);
	html_free(&send);
	buf_free(&subject);
	buf_free(&text);
}

/* The change is made: one log line with what and by whom, then the page. */
static void changed(struct web *w, const char *what, const char *msg)
{
	char path[96];

	log_info("web change user=%s what=%s by=%s client=%s", log_q(w->sess.address), what,
	    log_q(w->sess.address), w->ctx->client_text);
	(void)str_format(path, sizeof path, "/?msg=%s", msg);
	web_redirect(w, path);
}

static void failed(struct web *w, const char *what, const char *err)
{
	log_error("web change user=%s what=%s result=error reason=\"%s\"",
	    log_q(w->sess.address), what, err);
	web_redirect(w, "/?msg=failed");
}

/* What the form asked for was refused (a bad value): said on the page, logged. */
static void refused(struct web *w, const char *what, const char *err, const char *path)
{
	log_info("web change user=%s what=%s result=refused reason=\"%s\"",
	    log_q(w->sess.address), what, log_qtext(err));
	web_redirect(w, path);
}

/* Printable: no control byte (a password goes into crypt(3) and a file). */
static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* POST /password: old, new, new2. The old one is checked like a login. */
void web_post_password(struct web *w)
{
	struct buf old = BUF_INIT, new = BUF_INIT, new2 = BUF_INIT;
	char user[USERS_ADDRESS_MAX], err[512];
	int r;

	if (web_field(w, "old", &old, WEB_PASSWORD_MAX) != 1 ||
	    web_field(w, "new", &new, WEB_PASSWORD_MAX) != 1 ||
	    web_field(w, "new2", &new2, WEB_PASSWORD_MAX) != 1)
		web_redirect(w, "/?msg=password-bad");
	else if (strcmp(new.s, new2.s) != 0)
		web_redirect(w, "/?msg=password-mismatch");
	else if (!printable(new.s))
		web_redirect(w, "/?msg=password-bad");
	else if (new.len < WEB_PASSWORD_MIN)
		web_redirect(w, "/?msg=password-short");
	else if ((r = session_password_check(w->ctx, w->sess.address, old.s, "form", user,
	    sizeof user, &w->auth)) != 1) {
		if (r == 0) {
			log_info("web change user=%s what=password by=%s result=fail "
			    "reason=old-password", log_q(w->sess.address), log_q(w->sess.address));
			session_auth_delay(w->auth.pause_ms);
		}
		web_redirect(w, r == 0 ? "/?msg=password-wrong" : "/?msg=failed");
	} else if (admin_user_password_set(w->conf, w->sess.address, new.s, &admin_password_web,
	    w->sess.address, err, sizeof err) != 0) {
		failed(w, "password", err);
	} else {
		/* Whoever else is logged in as this user (a thief?) is out. */
		if (web_db(w) == NULL ||
		    websession_end_others(w->db, w->sess.address, w->sess.id) < 0)
			log_error("web session user=%s result=error reason=\"cannot end the "
			    "other sessions\"", log_q(w->sess.address));
		changed(w, "password", "password-changed");
	}
	explicit_bzero(old.s ? old.s : (char *)"", old.len);
	explicit_bzero(new.s ? new.s : (char *)"", new.len);
	explicit_bzero(new2.s ? new2.s : (char *)"", new2.len);
	buf_free(&old);
	buf_free(&new);
	buf_free(&new2);
}

int web_forward_list(const char *in, struct buf *out)
{
	const char *sep = " ,;\t\r\n";
	int n = 0;

	buf_reset(out);
	for (const char *p = in + strspn(in, sep); *p; p += strspn(p, sep)) {
		size_t len = strcspn(p, sep);
		char one[USERS_ADDRESS_MAX];

		if (len >= sizeof one)
			return -1;
		memcpy(one, p, len);
		one[len] = '\0';
		if (!users_address_valid(one))
			return -1;
		buf_printf(out, "%s%s", n++ ? " " : "", one);
		p += len;
	}
	buf_appends(out, "");
	return n;
}

/* POST /forward: addresses (empty: off), keep=yes when the box is ticked. */
void web_post_forward(struct web *w)
{
	struct buf in = BUF_INIT, list = BUF_INIT, keep = BUF_INIT;
	char err[512];
	int n, r;

	if (web_field(w, "addresses", &in, WEB_FORWARD_MAX) < 0 ||
	    (n = web_forward_list(in.s ? in.s : "", &list)) < 0 ||
	    web_field(w, "keep", &keep, 8) < 0)
		web_redirect(w, "/?msg=forward-bad");
	else if ((r = web_forward_set(w->conf, w->sess.address, n > 0 ? list.s : NULL,
	    keep.s != NULL && strcmp(keep.s, "yes") == 0, w->sess.address, err,
	    sizeof err)) == WEB_REFUSED)
		refused(w, "forward", err, "/?msg=forward-bad");
	else if (r != 0)
		failed(w, "forward", err);
	else
		changed(w, "forward", n > 0 ? "forward-saved" : "forward-off");
	buf_free(&in);
	buf_free(&list);
	buf_free(&keep);
}

/* POST /vacation: vacation=on|off, subject (one line), text. */
void web_post_vacation(struct web *w)
{
	struct buf onoff = BUF_INIT, subject = BUF_INIT, text = BUF_INIT;
	char err[512];
	int on, r;

	if (web_field(w, "vacation", &onoff, 8) != 1 ||
	    (strcmp(onoff.s, "on") != 0 && strcmp(onoff.s, "off") != 0) ||
	    web_field(w, "subject", &subject, WEB_SUBJECT_MAX) < 0 ||
	    web_field(w, "text", &text, WEB_TEXT_MAX) < 0) {
		web_redirect(w, "/?msg=vacation-bad");
		goto out;
	}
	on = strcmp(onoff.s, "on") == 0;
	if (!printable(subject.s ? subject.s : "") ||
	    (on && (text.s == NULL || text.s[strspn(text.s, " \t\r\n")] == '\0'))) {
		web_redirect(w, "/?msg=vacation-bad");
		goto out;
	}
	r = web_vacation_set(w->conf, w->sess.address, on, subject.s ? subject.s : "",
	    text.s ? text.s : "", w->sess.address, err, sizeof err);
	if (r == WEB_REFUSED)
		refused(w, "vacation", err, "/?msg=vacation-bad");
	else if (r != 0)
		failed(w, "vacation", err);
	else
		changed(w, "vacation", on ? "vacation-on" : "vacation-off");
out:
	buf_free(&onoff);
	buf_free(&subject);
	buf_free(&text);
}
