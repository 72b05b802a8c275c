/*
 * admin_pages.c: the administrators' pages (SPEC 13), for the addresses
 * of web.admins: the counters of ispmailctl status, the users, the relay
 * table and the queue. Every change calls the admin/ function ispmailctl
 * calls, with the administrator's address as the actor, so each is
 * logged there as "admin action=... by=ADDRESS". A change that worked
 * answers 303 to its page with a message code; one that was refused
 * shows the page again with the reason (400), and changes nothing.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "mailbox.h"
#include "queue_admin.h"
#include "relay_admin.h"
#include "status.h"
#include "sys.h"
#include "users.h"
#include "users_admin.h"
#include "webd.h"

/* A page shown again after a refusal: status, the ?msg= code or an error text. */
typedef void (*admin_page_fn)(struct web *w, int status, const char *msg, const char *error);

int web_is_admin(const struct web *w)
{
	if (!w->logged_in)
		return 0;
	for (size_t i = 0; i < w->conf->web.nadmins; i++)
		if (strcasecmp(w->conf->web.admins[i], w->sess.address) == 0)
			return 1;
	return 0;
}

static const char *str(const struct buf *b)
{
	return b->s != NULL ? b->s : "";
}

/* A form field into out ("" when absent). 0, or -1 when malformed or longer than max. */
static int form(const struct web *w, const char *name, struct buf *out, size_t max)
{
	buf_reset(out);
	return web_field(w, name, out, max) < 0 ? -1 : 0;
}

/* "2026-12-05 23:10", local time as the rest of the pages show it. */
static void when_format(time_t t, char *out, size_t len)
{
	struct tm tm;

	if (t == 0 || localtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%d %H:%M", &tm) == 0)
		str_copy(out, len, "-");
}

/* The page in the layout, wide, with its notice: a code of the table or an error text. */
static void admin_show(struct web *w, int status, const char *title, const struct html *content,
    const char *msg, const char *error)
{
	char text[600];

	w->wide = 1;
	if (error != NULL) {
		(void)str_format(text, sizeof text, "Not done: %s", error);
		web_page_text(w, status, title, content, "error", text);
	} else {
		web_page(w, status, title, content, msg);
	}
}

/* The ?msg= of a page after a redirect. */
static const char *query_msg(const struct web *w, struct buf *tmp)
{
	const char *q = w->req->query.s;

	return http_form_get(q, strlen(q), "msg", tmp, 64) == 1 ? tmp->s : NULL;
}

/* A change made: back to its page with the message code. */
static void admin_done(struct web *w, const char *page, const char *code)
{
	char path[128];

	(void)str_format(path, sizeof path, "%s?msg=%s", page, code);
	web_redirect(w, path);
}

/* A change refused: logged once here (admin/ logs only what it did), the page again. */
static void admin_refused(struct web *w, admin_page_fn page, const char *what, const char *err)
{
	log_info("web admin user=%s what=%s client=%s result=refused reason=\"%s\"",
	    log_q(w->sess.address), what, w->ctx->client_text, log_qtext(err));
	page(w, 400, NULL, err);
}

/* ---- status ---- */

/*
 * One line of ispmailctl status as a row: "queue: 3 messages" ->
 * queue | 3 messages; "  received  pop3=1 smtp=2" -> received | pop3=1 ...
 */
static void status_row(const char *p, size_t n, struct html *rows)
{
	char line[1024], *key, *value, *colon, *eq;

	if (n >= sizeof line)
		n = sizeof line - 1;
	memcpy(line, p, n);
	line[n] = '\0';
	key = line + strspn(line, " ");
	colon = strchr(key, ':');
	eq = strchr(key, '=');
	if (colon != NULL && (eq == NULL || colon < eq)) {
		*colon = '\0';
		value = colon + 1;
	} else {
		/* The words before the first name=value are the key ("logins ok"). */
		char *end = eq != NULL ? eq : key + strlen(key);

		while (end > key && end[-1] != ' ')
			end--;
		while (end > key && end[-1] == ' ')
			end--;
		value = end + strspn(end, " ");
		*end = '\0';
	}
	value += strspn(value, " ");
	{
		const struct html_var v[] = { HTML_TEXT("key", key), HTML_TEXT("value", value) };

		html_render("admin_status_row.html", v, sizeof v / sizeof v[0], rows);
	}
}

static int count_one(const struct admin_relay *r, void *arg)
{
	(void)r;
	(*(long *)arg)++;
	return 0;
}

/* The relay table's entries, -1 when it cannot be read. */
static long relay_count(struct web *w)
{
	struct state *db = web_state(w);
	char err[256];
	long n = 0;

	if (db == NULL || admin_relay_list(db, w->conf, time(NULL), count_one, &n, err,
	    sizeof err) != 0)
		return -1;
	return n;
}

static void status_page(struct web *w, int status, const char *msg, const char *error)
{
	struct html content = HTML_INIT, rows = HTML_INIT, menu = HTML_INIT;
	struct buf text = BUF_INIT;
	struct status st;
	char now[32];

	/* The relay table through this connection's handle: a second one would not open. */
	status_collect(w->conf, 0, &st);
	st.relay_entries = relay_count(w);
	status_text(&st, &text);
	for (const char *p = str(&text); *p != '\0';) {
		size_t n = strcspn(p, "\n");

		if (n > 0)
			status_row(p, n, &rows);
		p += n + (p[n] == '\n');
	}
	when_format(st.now, now, sizeof now);
	html_render("admin_menu.html", NULL, 0, &menu);
	{
		const struct html_var v[] = { HTML_FRAG("menu", &menu), HTML_TEXT("now", now),
			HTML_FRAG("rows", &rows) };

		html_render("admin_status.html", v, sizeof v / sizeof v[0], &content);
	}
	admin_show(w, status, "Server status", &content, msg, error);
	html_free(&content);
	html_free(&rows);
	html_free(&menu);
	buf_free(&text);
}

void web_admin_status(struct web *w)
{
	struct buf tmp = BUF_INIT;

	status_page(w, 200, query_msg(w, &tmp), NULL);
	buf_free(&tmp);
}

/* ---- users ---- */

/* One user's row: usage, quota, forward, vacation. */
static void user_row(const struct admin_user *u, struct html *rows)
{
	struct user_options o;
	struct buf fwd = BUF_INIT;
	char err[256], used[64], size[32], quota[32];

	if (users_options_parse(u->options, &o, err, sizeof err) != 0)
		memset(&o, 0, sizeof o);
	if (u->use.known) {
		admin_size_format((unsigned long long)u->use.bytes, size, sizeof size);
		(void)str_format(used, sizeof used, "%s (%lld message%s)", size, u->use.count,
		    u->use.count == 1 ? "" : "s");
	} else {
		str_copy(used, sizeof used, "?");
	}
	if (u->use.has_quota)
		admin_size_format(u->use.quota, quota, sizeof quota);
	else
		str_copy(quota, sizeof quota, "none");
	buf_appends(&fwd, o.forward);
	if (o.forward[0] != '\0')
		buf_appends(&fwd, o.keep ? " (a copy kept)" : "");
	{
		const struct html_var v[] = { HTML_TEXT("address", u->address),
			HTML_TEXT("used", used), HTML_TEXT("quota", quota),
			HTML_TEXT("forward", str(&fwd)),
			HTML_TEXT("vacation", o.vacation ? "on" : "off") };

		html_render("admin_user_row.html", v, sizeof v / sizeof v[0], rows);
	}
	buf_free(&fwd);
}

static void users_page(struct web *w, int status, const char *msg, const char *error)
{
	struct html content = HTML_INIT, rows = HTML_INIT, menu = HTML_INIT;
	struct admin_user *v = NULL;
	size_t n = 0;
	char err[512], count[24], min[8];

	if (admin_user_list(w->conf, &v, &n, err, sizeof err) != 0) {
		log_error("web admin user=%s what=users result=error reason=\"%s\"",
		    log_q(w->sess.address), log_qtext(err));
		web_error(w, 503, "Try again later", "The users file cannot be read just now.");
		return;
	}
	for (size_t i = 0; i < n; i++)
		user_row(&v[i], &rows);
	admin_user_list_free(v, n);
	(void)str_format(count, sizeof count, "%zu", n);
	(void)str_format(min, sizeof min, "%d", WEB_PASSWORD_MIN);
	html_render("admin_menu.html", NULL, 0, &menu);
	{
		const struct html_var vars[] = { HTML_FRAG("menu", &menu),
			HTML_TEXT("count", count), HTML_FRAG("rows", &rows),
			HTML_TEXT("csrf", w->sess.csrf), HTML_TEXT("min_password", min) };

		html_render("admin_users.html", vars, sizeof vars / sizeof vars[0], &content);
	}
	admin_show(w, status, "Users", &content, msg, error);
	html_free(&content);
	html_free(&rows);
	html_free(&menu);
}

void web_admin_users(struct web *w)
{
	struct buf tmp = BUF_INIT;

	users_page(w, 200, query_msg(w, &tmp), NULL);
	buf_free(&tmp);
}

/*
 * The form's address field as stored ("Bob" -> "bob@<first domain>"),
 * for the operations that take the stored form. 0, or -1 with err.
 */
static int form_address(const struct web *w, char *addr, size_t len, char *err, size_t errlen)
{
	struct buf in = BUF_INIT;
	int rc;

	if (form(w, "address", &in, USERS_ADDRESS_MAX) != 0 || str(&in)[0] == '\0') {
		seterr(err, errlen, "an address is needed");
		rc = -1;
	} else {
		rc = admin_user_address(w->conf, str(&in), addr, len, err, errlen);
	}
	buf_free(&in);
	return rc;
}

/* POST /admin/users/add: address, password. */
void web_admin_user_add(struct web *w)
{
	struct buf addr = BUF_INIT, pw = BUF_INIT;
	char err[1024];

	if (form(w, "address", &addr, USERS_ADDRESS_MAX) != 0 ||
	    form(w, "password", &pw, WEB_PASSWORD_MAX) != 0)
		admin_refused(w, users_page, "user-add", "the form is malformed or too long");
	else if (admin_user_add(w->conf, str(&addr), str(&pw), &admin_password_web,
	    (uid_t)-1, (gid_t)-1, w->sess.address, err, sizeof err) != 0)
		admin_refused(w, users_page, "user-add", err);
	else
		admin_done(w, "/admin/users", "user-added");
	explicit_bzero(pw.s ? pw.s : (char *)"", pw.len);
	buf_free(&addr);
	buf_free(&pw);
}

/* POST /admin/users/delete: address, and confirm, the same address again. */
void web_admin_user_delete(struct web *w)
{
	struct buf confirm = BUF_INIT;
	char addr[USERS_ADDRESS_MAX], again[USERS_ADDRESS_MAX], err[1024];

	if (form_address(w, addr, sizeof addr, err, sizeof err) != 0)
		admin_refused(w, users_page, "user-delete", err);
	else if (form(w, "confirm", &confirm, USERS_ADDRESS_MAX) != 0 ||
	    admin_user_address(w->conf, str(&confirm), again, sizeof again, err,
	    sizeof err) != 0 || strcmp(addr, again) != 0)
		admin_refused(w, users_page, "user-delete",
		    "the confirmation is not the same address");
	else if (admin_user_delete(w->conf, addr, w->sess.address, err, sizeof err) != 0)
		admin_refused(w, users_page, "user-delete", err);
	else
		admin_done(w, "/admin/users", "user-deleted");
	buf_free(&confirm);
}

/* POST /admin/users/password: address, password. */
void web_admin_user_password(struct web *w)
{
	struct buf addr = BUF_INIT, pw = BUF_INIT;
	char err[1024];

	if (form(w, "address", &addr, USERS_ADDRESS_MAX) != 0 ||
	    form(w, "password", &pw, WEB_PASSWORD_MAX) != 0)
		admin_refused(w, users_page, "user-password", "the form is malformed or too long");
	else if (admin_user_password_set(w->conf, str(&addr), str(&pw), &admin_password_web,
	    w->sess.address, err, sizeof err) != 0)
		admin_refused(w, users_page, "user-password", err);
	else
		admin_done(w, "/admin/users", "user-password-set");
	explicit_bzero(pw.s ? pw.s : (char *)"", pw.len);
	buf_free(&addr);
	buf_free(&pw);
}

/* POST /admin/users/quota: address, size ("10M", "none"). */
void web_admin_user_quota(struct web *w)
{
	struct buf size = BUF_INIT;
	char addr[USERS_ADDRESS_MAX], err[1024];

	if (form_address(w, addr, sizeof addr, err, sizeof err) != 0)
		admin_refused(w, users_page, "user-quota", err);
	else if (form(w, "size", &size, 32) != 0)
		admin_refused(w, users_page, "user-quota", "the size is too long");
	else if (admin_user_quota_set(w->conf, addr, str(&size), w->sess.address, err,
	    sizeof err) != 0)
		admin_refused(w, users_page, "user-quota", err);
	else
		admin_done(w, "/admin/users", "user-quota-set");
	buf_free(&size);
}

/* POST /admin/users/forward: address, addresses (empty: none), keep=yes. */
void web_admin_user_forward(struct web *w)
{
	struct buf in = BUF_INIT, list = BUF_INIT, keep = BUF_INIT;
	char addr[USERS_ADDRESS_MAX], err[1024];
	int n = -1;

	if (form_address(w, addr, sizeof addr, err, sizeof err) != 0)
		admin_refused(w, users_page, "user-forward", err);
	else if (form(w, "addresses", &in, WEB_FORWARD_MAX) != 0 ||
	    form(w, "keep", &keep, 8) != 0 || (n = web_forward_list(str(&in), &list)) < 0)
		admin_refused(w, users_page, "user-forward",
		    "the destinations are not mail addresses (local@domain, separated by "
		    "spaces or commas)");
	else if (web_forward_set(w->conf, addr, n > 0 ? str(&list) : NULL,
	    strcmp(str(&keep), "yes") == 0, w->sess.address, err, sizeof err) != 0)
		admin_refused(w, users_page, "user-forward", err);
	else
		admin_done(w, "/admin/users", "user-forward-set");
	buf_free(&in);
	buf_free(&list);
	buf_free(&keep);
}

/* POST /admin/users/vacation: address, vacation=on|off, subject, text. */
void web_admin_user_vacation(struct web *w)
{
	struct buf onoff = BUF_INIT, subject = BUF_INIT, text = BUF_INIT;
	char addr[USERS_ADDRESS_MAX], err[1024];
	int on;

	if (form_address(w, addr, sizeof addr, err, sizeof err) != 0) {
		admin_refused(w, users_page, "user-vacation", err);
	} else if (form(w, "vacation", &onoff, 8) != 0 ||
	    (strcmp(str(&onoff), "on") != 0 && strcmp(str(&onoff), "off") != 0) ||
	    form(w, "subject", &subject, WEB_SUBJECT_MAX) != 0 ||
	    form(w, "text", &text, WEB_TEXT_MAX) != 0) {
		admin_refused(w, users_page, "user-vacation",
		    "choose on or off; the subject and message must not be too long");
	} else if ((on = strcmp(str(&onoff), "on") == 0) &&
	    str(&text)[strspn(str(&text), " \t\r\n")] == '\0') {
		admin_refused(w, users_page, "user-vacation", "a vacation reply needs a message");
	} else if (web_vacation_set(w->conf, addr, on, str(&subject), str(&text),
	    w->sess.address, err, sizeof err) != 0) {
		admin_refused(w, users_page, "user-vacation", err);
	} else {
		admin_done(w, "/admin/users", "user-vacation-set");
	}
	buf_free(&onoff);
	buf_free(&subject);
	buf_free(&text);
}

/* ---- the relay table ---- */

struct rows_arg {
	const struct web *w;
	struct html *rows;
	size_t n;
};

static int relay_row(const struct admin_relay *r, void *arg)
{
	struct rows_arg *a = arg;
	char when[32], left[32];
	const struct html_var v[] = { HTML_TEXT("key", r->key), HTML_TEXT("authorized", when),
		HTML_TEXT("expires", left), HTML_TEXT("user", r->user),
		HTML_TEXT("csrf", a->w->sess.csrf) };

	when_format(r->authorized, when, sizeof when);
	if (r->expires_in <= 0)
		str_copy(left, sizeof left, "expired");
	else
		(void)str_format(left, sizeof left, "%lld min", (r->expires_in + 59) / 60);
	html_render("admin_relay_row.html", v, sizeof v / sizeof v[0], a->rows);
	a->n++;
	return 0;
}

static void relay_page(struct web *w, int status, const char *msg, const char *error)
{
	struct html content = HTML_INIT, rows = HTML_INIT, menu = HTML_INIT;
	struct rows_arg a = { w, &rows, 0 };
	struct state *db = web_state(w);
	char err[512], count[24], minutes[24];

	if (db == NULL || admin_relay_list(db, w->conf, time(NULL), relay_row, &a, err,
	    sizeof err) != 0) {
		log_error("web admin user=%s what=relay result=error reason=\"%s\"",
		    log_q(w->sess.address), db == NULL ? "relay table" : log_qtext(err));
		web_error(w, 503, "Try again later", "The relay table cannot be read just now.");
		html_free(&rows);
		return;
	}
	(void)str_format(count, sizeof count, "%zu", a.n);
	(void)str_format(minutes, sizeof minutes, "%ld", w->conf->relay.authorization_ttl / 60);
	html_render("admin_menu.html", NULL, 0, &menu);
	{
		const struct html_var v[] = { HTML_FRAG("menu", &menu), HTML_TEXT("count", count),
			HTML_TEXT("ttl_minutes", minutes), HTML_FRAG("rows", &rows),
			HTML_TEXT("csrf", w->sess.csrf) };

		html_render("admin_relay.html", v, sizeof v / sizeof v[0], &content);
	}
	admin_show(w, status, "Relay table", &content, msg, error);
	html_free(&content);
	html_free(&rows);
	html_free(&menu);
}

void web_admin_relay(struct web *w)
{
	struct buf tmp = BUF_INIT;

	relay_page(w, 200, query_msg(w, &tmp), NULL);
	buf_free(&tmp);
}

/* POST /admin/relay/add and /admin/relay/delete: address. */
static void relay_change(struct web *w, int add)
{
	struct buf addr = BUF_INIT;
	struct state *db;
	const char *what = add ? "relay-add" : "relay-delete";
	char err[1024];
	int r;

	if (form(w, "address", &addr, 128) != 0 || str(&addr)[0] == '\0') {
		admin_refused(w, relay_page, what, "an IP address is needed");
	} else if ((db = web_state(w)) == NULL) {
		admin_refused(w, relay_page, what, "the relay table cannot be opened");
	} else {
		r = add ? admin_relay_add(db, w->conf, str(&addr), time(NULL), w->sess.address,
		    err, sizeof err) : admin_relay_delete(db, w->conf, str(&addr),
		    w->sess.address, err, sizeof err);
		if (r != 0)
			admin_refused(w, relay_page, what, err);
		else
			admin_done(w, "/admin/relay", add ? "relay-added" : "relay-deleted");
	}
	buf_free(&addr);
}

void web_admin_relay_add(struct web *w)
{
	relay_change(w, 1);
}

void web_admin_relay_delete(struct web *w)
{
	relay_change(w, 0);
}

/* ---- the queue ---- */

static int queue_row(struct queue_env *env, void *arg)
{
	struct rows_arg *a = arg;
	struct html release = HTML_INIT, held = HTML_INIT;
	struct buf rcpts = BUF_INIT;
	char when[32];

	when_format(env->arrival, when, sizeof when);
	for (size_t i = 0; i < env->nrcpt; i++)
		buf_printf(&rcpts, "%s%s (%s, %d tr%s)", i > 0 ? "; " : "", env->rcpt[i].address,
		    admin_queue_state_name(env->rcpt[i].state), env->rcpt[i].tries,
		    env->rcpt[i].tries == 1 ? "y" : "ies");
	if (env->held) {
		const struct html_var v[] = { HTML_TEXT("id", env->id),
			HTML_TEXT("csrf", a->w->sess.csrf) };

		html_render("admin_queue_release.html", v, sizeof v / sizeof v[0], &release);
		html_render("admin_queue_held.html", NULL, 0, &held);
	}
	{
		const struct html_var v[] = { HTML_TEXT("id", env->id), HTML_TEXT("arrival", when),
			HTML_TEXT("sender", env->sender[0] ? env->sender : "<>"),
			HTML_TEXT("recipients", str(&rcpts)), HTML_FRAG("held", &held),
			HTML_FRAG("release", &release), HTML_TEXT("csrf", a->w->sess.csrf) };

		html_render("admin_queue_row.html", v, sizeof v / sizeof v[0], a->rows);
	}
	a->n++;
	html_free(&release);
	html_free(&held);
	buf_free(&rcpts);
	return 0;
}

static void queue_page(struct web *w, int status, const char *msg, const char *error)
{
	struct html content = HTML_INIT, rows = HTML_INIT, menu = HTML_INIT;
	struct rows_arg a = { w, &rows, 0 };
	char err[512], count[24];

	if (admin_queue_list(w->conf, queue_row, &a, err, sizeof err) < 0) {
		log_error("web admin user=%s what=queue result=error reason=\"%s\"",
		    log_q(w->sess.address), log_qtext(err));
		web_error(w, 503, "Try again later", "The queue cannot be read just now.");
		html_free(&rows);
		return;
	}
	(void)str_format(count, sizeof count, "%zu", a.n);
	html_render("admin_menu.html", NULL, 0, &menu);
	{
		const struct html_var v[] = { HTML_FRAG("menu", &menu), HTML_TEXT("count", count),
			HTML_FRAG("rows", &rows), HTML_TEXT("csrf", w->sess.csrf) };

		html_render("admin_queue.html", v, sizeof v / sizeof v[0], &content);
	}
	admin_show(w, status, "Queue", &content, msg, error);
	html_free(&content);
	html_free(&rows);
	html_free(&menu);
}

void web_admin_queue(struct web *w)
{
	struct buf tmp = BUF_INIT;

	queue_page(w, 200, query_msg(w, &tmp), NULL);
	buf_free(&tmp);
}

void web_admin_queue_flush(struct web *w)
{
	char err[1024];
	size_t due;
	int runner;

	if (admin_queue_flush(w->conf, w->sess.address, &runner, &due, err, sizeof err) != 0)
		admin_refused(w, queue_page, "queue-flush", err);
	else
		admin_done(w, "/admin/queue", "queue-flushed");
}

/* POST /admin/queue/delete and /admin/queue/release: id. */
static void queue_change(struct web *w, int release)
{
	struct buf id = BUF_INIT;
	const char *what = release ? "queue-release" : "queue-delete";
	char err[1024];
	int r;

	if (form(w, "id", &id, QUEUE_ID_MAX) != 0 || str(&id)[0] == '\0') {
		admin_refused(w, queue_page, what, "a message id is needed");
	} else {
		r = release ? admin_queue_release(w->conf, str(&id), w->sess.address, err,
		    sizeof err) : admin_queue_delete(w->conf, str(&id), w->sess.address, err,
		    sizeof err);
		if (r != 0)
			admin_refused(w, queue_page, what, err);
		else
			admin_done(w, "/admin/queue", release ? "queue-released" : "queue-deleted");
	}
	buf_free(&id);
}

void web_admin_queue_delete(struct web *w)
{
	queue_change(w, 0);
}

void web_admin_queue_release(struct web *w)
{
	queue_change(w, 1);
}
