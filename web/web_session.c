/*
 * web_session.c: the web service's connection (SPEC 13): implicit TLS,
 * then HTTP/1.1 requests (web/http.c) with keep-alive for a bounded
 * number of them, each within its own deadline; the routes, the login
 * with the mail services' failure pause, the session cookie and the CSRF
 * check of every changing form.
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "log.h"
#include "stats.h"
#include "sys.h"
#include "users.h"
#include "web.h"
#include "webd.h"

/* Requests one connection may carry, then it is closed. */
#define WEB_KEEPALIVE_MAX 100
/*
 * Seconds a whole request may take, and one read or write within it, at
 * most: limits.command_timeout lowers both (web_request_seconds).
 */
#define WEB_REQUEST_SECONDS 30
#define WEB_READ_SECONDS 15
/* What a refused request may still send before the close (web_drain). */
#define WEB_DRAIN_SECONDS 2
#define WEB_DRAIN_MAX (1024 * 1024)

#define WEB_COOKIE "ispmaild_session"

struct relaydb *web_db(struct web *w)
{
	char err[256];

	if (w->db == NULL) {
		w->db = relaydb_open(w->conf->state_dir, err, sizeof err);
		if (w->db == NULL)
			log_error("relaydb result=error reason=\"%s\"", err);
		else if (relaydb_recreated(w->db))
			log_warn("relaydb result=recreated reason=\"%s\"", relaydb_strerror(w->db));
	}
	return w->db;
}

struct state *web_state(struct web *w)
{
	struct relaydb *db;

	if (w->shared != NULL)
		return w->shared;
	if (w->conf->relay.backend == RELAY_BACKEND_REDIS) {
		w->shared = state_new(w->conf);
	} else if ((db = web_db(w)) != NULL && (w->shared = state_new(w->conf)) != NULL) {
		state_borrow_relaydb(w->shared, db);
	}
	return w->shared;
}

int web_field(const struct web *w, const char *name, struct buf *out, size_t max)
{
	return http_form_get(w->req->body.s, w->req->body.len, name, out, max);
}

static void response_reset(struct web *w)
{
	w->status = 0;
	buf_reset(&w->body);
	w->content_type = NULL;
	w->location[0] = '\0';
	w->cookie[0] = '\0';
	w->wide = 0;
}

void web_redirect(struct web *w, const char *path)
{
	w->status = 303;
	if (str_copy(w->location, sizeof w->location, path) != 0)
		str_copy(w->location, sizeof w->location, "/");
}

void web_error(struct web *w, int status, const char *heading, const char *text)
{
	struct html content = HTML_INIT;
	const struct html_var v[] = { HTML_TEXT("heading", heading), HTML_TEXT("text", text) };

	html_render("error.html", v, sizeof v / sizeof v[0], &content);
	web_page(w, status, heading, &content, NULL);
	html_free(&content);
}

/* The cookie that holds the session, or the one that ends it. */
static void cookie_set(struct web *w, const char *id)
{
	if (id != NULL)
		(void)str_format(w->cookie, sizeof w->cookie,
		    "%s=%s; Path=/; HttpOnly; Secure; SameSite=Strict", WEB_COOKIE, id);
	else
		(void)str_format(w->cookie, sizeof w->cookie,
		    "%s=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict", WEB_COOKIE);
}

void web_logout_cookie(struct web *w)
{
	cookie_set(w, NULL);
}

/*
 * The request's session, if its cookie names a live one (renewed then). A
 * cookie that names none is cleared. 1, 0, or -1 when the table failed.
 */
static int session_find(struct web *w, int *stale)
{
	char id[WEBSESSION_HEX + 1];
	struct relaydb *db;
	int r;

	*stale = 0;
	w->logged_in = 0;
	if (!http_cookie_get(w->req->cookie.s, WEB_COOKIE, id, sizeof id) || id[0] == '\0')
		return 0;
	if ((db = web_db(w)) == NULL)
		return -1;
	r = websession_get(db, id, time(NULL), w->conf->web.session_ttl, &w->sess);
	if (r < 0) {
		log_error("web session result=error reason=\"%s\"", relaydb_strerror(db));
		return -1;
	}
	if (r == 0) {
		*stale = 1;
		cookie_set(w, NULL);
		return 0;
	}
	w->logged_in = 1;
	return 1;
}

/*
 * A POST from our own pages: Origin, else Referer, when the browser sent
 * one, names this site (https://<Host>). Without either we rely on the
 * CSRF token and SameSite.
 */
static int same_origin(const struct web *w)
{
	const struct http_request *r = w->req;
	char site[300];

	if (str_format(site, sizeof site, "https://%s", r->host.s) != 0 || r->host.len == 0)
		return r->origin.len == 0 && r->referer.len == 0;
	if (r->origin.len > 0)
		return strcmp(r->origin.s, site) == 0;
	if (r->referer.len > 0) {
		size_t n = strlen(site);

		return strncmp(r->referer.s, site, n) == 0 && r->referer.s[n] == '/';
	}
	return 1;
}

/* The form's csrf field is this session's token (compared in constant time). */
static int csrf_ok(const struct web *w)
{
	struct buf token = BUF_INIT;
	int ok;

	ok = web_field(w, "csrf", &token, WEBSESSION_HEX) == 1 &&
	    token.len == strlen(w->sess.csrf) &&
	    CRYPTO_memcmp(token.s, w->sess.csrf, token.len) == 0;
	buf_free(&token);
	return ok;
}

/* POST /login: the password checked as POP3 and SMTP AUTH check it. */
static void post_login(struct web *w)
{
	struct buf login = BUF_INIT, password = BUF_INIT;
	char user[USERS_ADDRESS_MAX], q[LOG_QUOTE_MAX];
	struct websession s;
	struct relaydb *db;
	int r;

	if (web_field(w, "address", &login, USERS_ADDRESS_MAX) != 1 ||
	    web_field(w, "password", &password, WEB_PASSWORD_MAX) != 1 ||
	    login.len == 0 || password.len == 0) {
		web_redirect(w, "/?msg=login-failed");
		goto out;
	}
	r = session_password_check(w->ctx, login.s, password.s, "form", user, sizeof user,
	    &w->auth);
	if (r != 1) {
		log_info("web login user=%s client=%s result=fail",
		    r == 0 && strcmp(user, "-") != 0 ? log_q(user) :
		    log_quote(login.s, login.len, q, sizeof q), w->ctx->client_text);
		if (r == 0)
			session_auth_delay(w->auth.pause_ms);
		web_redirect(w, r == 0 ? "/?msg=login-failed" : "/?msg=failed");
		goto out;
	}
	if ((db = web_db(w)) == NULL ||
	    websession_create(db, user, time(NULL), w->conf->web.session_ttl, &s) != 0) {
		log_error("web login user=%s client=%s result=error reason=\"%s\"", log_q(user),
		    w->ctx->client_text, db ? relaydb_strerror(db) : "relay DB");
		web_redirect(w, "/?msg=failed");
		goto out;
	}
	/* Now and then, not at every request: the sessions nobody ended. */
	(void)websession_expire(db, time(NULL));
	log_info("web login user=%s client=%s result=ok", log_q(user), w->ctx->client_text);
	cookie_set(w, s.id);
	web_redirect(w, "/");
out:
	explicit_bzero(password.s ? password.s : (char *)"", password.len);
	buf_free(&login);
	buf_free(&password);
}

static void post_logout(struct web *w)
{
	struct relaydb *db = web_db(w);

	if (db == NULL || websession_delete(db, w->sess.id) < 0) {
		web_redirect(w, "/?msg=failed");
		return;
	}
	log_info("web logout user=%s client=%s", log_q(w->sess.address), w->ctx->client_text);
	cookie_set(w, NULL);
	web_redirect(w, "/?msg=logged-out");
}

/* The ?msg= of a page after a redirect (only codes of the table are shown). */
static const char *query_msg(const struct web *w, struct buf *tmp)
{
	const char *q = w->req->query.s;

	if (http_form_get(q, strlen(q), "msg", tmp, 64) == 1)
		return tmp->s;
	return NULL;
}

/* The static files: only the style sheet. */
static void get_style(struct web *w)
{
	const struct web_file *f = web_file_find("style.css");

	w->status = 200;
	w->content_type = "text/css; charset=utf-8";
	buf_append(&w->body, f->text, f->len);
}

/* ROUTE_ADMIN: for the addresses of web.admins only (web/admin_pages.c). */
enum { ROUTE_GET = 1, ROUTE_POST = 2, ROUTE_SESSION = 4, ROUTE_ADMIN = 8 };

struct route {
	const char *path;
	int flags;
	void (*get)(struct web *w);
	void (*post)(struct web *w);
};

static void get_root(struct web *w)
{
	struct buf tmp = BUF_INIT;
	const char *msg = query_msg(w, &tmp);

	if (w->logged_in)
		web_account_page(w, msg);
	else
		web_login_page(w, msg);
	buf_free(&tmp);
}

static const struct route routes[] = {
	{ "/", ROUTE_GET, get_root, NULL },
	{ "/style.css", ROUTE_GET, get_style, NULL },
	{ "/login", ROUTE_POST, NULL, post_login },
	{ "/logout", ROUTE_POST | ROUTE_SESSION, NULL, post_logout },
	{ "/password", ROUTE_POST | ROUTE_SESSION, NULL, web_post_password },
	{ "/forward", ROUTE_POST | ROUTE_SESSION, NULL, web_post_forward },
	{ "/vacation", ROUTE_POST | ROUTE_SESSION, NULL, web_post_vacation },
#define ADMIN_GET(path, fn) { path, ROUTE_GET | ROUTE_SESSION | ROUTE_ADMIN, fn, NULL }
#define ADMIN_POST(path, fn) { path, ROUTE_POST | ROUTE_SESSION | ROUTE_ADMIN, NULL, fn }
	ADMIN_GET("/admin", web_admin_status),
	ADMIN_GET("/admin/users", web_admin_users),
	ADMIN_GET("/admin/relay", web_admin_relay),
	ADMIN_GET("/admin/queue", web_admin_queue),
	ADMIN_POST("/admin/users/add", web_admin_user_add),
	ADMIN_POST("/admin/users/delete", web_admin_user_delete),
	ADMIN_POST("/admin/users/password", web_admin_user_password),
	ADMIN_POST("/admin/users/quota", web_admin_user_quota),
	ADMIN_POST("/admin/users/forward", web_admin_user_forward),
	ADMIN_POST("/admin/users/vacation", web_admin_user_vacation),
	ADMIN_POST("/admin/relay/add", web_admin_relay_add),
	ADMIN_POST("/admin/relay/delete", web_admin_relay_delete),
	ADMIN_POST("/admin/queue/flush", web_admin_queue_flush),
	ADMIN_POST("/admin/queue/delete", web_admin_queue_delete),
	ADMIN_POST("/admin/queue/release", web_admin_queue_release),
};

static void route_post(struct web *w, const struct route *rt, int stale)
{
	if (!same_origin(w)) {
		log_info("web refused client=%s path=%s reason=cross-site", w->ctx->client_text,
		    log_q(w->req->path.s));
		web_error(w, 403, "Forbidden", "This form was sent from another site.");
		return;
	}
	if ((rt->flags & ROUTE_SESSION) && !w->logged_in) {
		web_redirect(w, stale ? "/?msg=expired" : "/");
		return;
	}
	if ((rt->flags & ROUTE_SESSION) && !csrf_ok(w)) {
		log_info("web refused user=%s client=%s path=%s reason=csrf",
		    log_q(w->sess.address), w->ctx->client_text, log_q(w->req->path.s));
		web_error(w, 403, "Forbidden",
		    "This form is out of date or was not sent from this site. Nothing was changed.");
		return;
	}
	rt->post(w);
}

/* Decide the response to one whole request. */
static void web_dispatch(struct web *w)
{
	const struct http_request *r = w->req;
	const struct route *rt = NULL;
	int stale, get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
	int post = strcmp(r->method, "POST") == 0;

	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (strcmp(routes[i].path, r->path.s) == 0)
			rt = &routes[i];
	if (rt == NULL) {
		web_error(w, 404, "Not found", "There is no such page here.");
		return;
	}
	if (!((get && (rt->flags & ROUTE_GET)) || (post && (rt->flags & ROUTE_POST)))) {
		web_error(w, 405, "Method not allowed", "This page cannot be used that way.");
		return;
	}
	if (rt == &routes[1]) {		/* the style sheet needs no session */
		get_style(w);
		return;
	}
	if (session_find(w, &stale) < 0) {
		web_error(w, 503, "Try again later", "The server cannot read its sessions just now.");
		return;
	}
	if ((rt->flags & ROUTE_ADMIN) && w->logged_in && !web_is_admin(w)) {
		log_info("web refused user=%s client=%s path=%s reason=not-admin",
		    log_q(w->sess.address), w->ctx->client_text, log_q(r->path.s));
		web_error(w, 403, "Forbidden", "These pages are for the administrators.");
		return;
	}
	if (get) {
		if (stale && !w->logged_in)
			web_login_page(w, "expired");
		else if ((rt->flags & ROUTE_SESSION) && !w->logged_in)
			web_login_page(w, NULL);
		else
			rt->get(w);
		return;
	}
	route_post(w, rt, stale);
}

static void web_send(struct web *w, int close)
{
	struct http_response resp = {
		.status = w->status,
		.content_type = w->content_type,
		.location = w->location[0] ? w->location : NULL,
		.set_cookie = w->cookie[0] ? w->cookie : NULL,
		.allow = w->status == 405 ? "GET, HEAD, POST" : NULL,
		.body = &w->body,
	};

	http_respond(&w->st, w->req, &resp, 1, close);
}

/*
 * After refusing a request that was still arriving (413, 431): read and
 * drop what the client goes on sending, for a short while, so that
 * closing with unread input (a TCP reset) does not destroy the answer
 * before the client has read it.
 */
static void web_drain(struct web *w)
{
	const char *p;
	size_t total = 0;
	ssize_t n;

	stream_set_timeout(&w->st, WEB_DRAIN_SECONDS);
	stream_set_deadline(&w->st, WEB_DRAIN_SECONDS);
	while (total < WEB_DRAIN_MAX && (n = stream_peek(&w->st, &p)) > 0) {
		stream_consume(&w->st, (size_t)n);
		total += (size_t)n;
	}
}

/*
 * The time a whole request (or the TLS handshake) may take: 30 s, or
 * limits.command_timeout when that is shorter, as a whole SMTP command
 * line must arrive within it: a client dripping a byte a second is cut
 * off then, not held for as long as it likes.
 */
static long web_request_seconds(const struct conf *c)
{
	return c->limits.command_timeout < WEB_REQUEST_SECONDS ?
	    c->limits.command_timeout : WEB_REQUEST_SECONDS;
}

/* One request of the connection: 1 to go on, 0 to close. */
static int web_request(struct web *w, long long session_end, int n)
{
	struct http_request req;
	long long now = now_ms();
	long left = web_request_seconds(w->conf);
	int r, go_on = 0;

	if (session_end > 0 && (session_end - now) / 1000 < left)
		left = (long)((session_end - now) / 1000);
	if (left <= 0)
		left = 1;
	stream_set_deadline(&w->st, left);
	http_request_init(&req);
	w->req = &req;
	response_reset(w);
	r = http_request_read(&w->st, &req);
	if (r == HTTP_READ_OK) {
		web_dispatch(w);
		go_on = req.keep_alive && n + 1 < WEB_KEEPALIVE_MAX;
		web_send(w, !go_on);
		log_info("web request method=%s path=%s status=%d", req.method,
		    log_q(req.path.s), w->status);
	} else if (r == HTTP_READ_TIMEOUT) {
		int whole = session_end > 0 && now_ms() >= session_end;

		log_info("close reason=%s service=web", whole ? "session-timeout" : "timeout");
		stats_closed(whole ? STAT_CLOSE_SESSION_TIMEOUT : STAT_CLOSE_TIMEOUT);
		http_respond_text(&w->st, &req, 408, "request timeout\n", 1, 1);
	} else if (r >= 400) {
		log_info("web request status=%d reason=bad-request", r);
		http_respond_text(&w->st, &req, r, http_status_reason(r), 1, 1);
		if (stream_flush(&w->st) == STREAM_OK)
			web_drain(w);
	}
	w->req = NULL;
	if (stream_flush(&w->st) != STREAM_OK)
		go_on = 0;
	http_request_free(&req);
	return go_on;
}

int web_session_run(const struct session_ctx *ctx)
{
	struct web w;
	long long session_end = 0;
	long rd = ctx->conf->limits.command_timeout;

	memset(&w, 0, sizeof w);
	w.ctx = ctx;
	w.conf = ctx->conf;
	buf_init(&w.body);
	stream_init(&w.st, ctx->fd, (int)(rd < WEB_READ_SECONDS ? rd : WEB_READ_SECONDS));
	if (ctx->conf->limits.session_timeout > 0)
		session_end = now_ms() + ctx->conf->limits.session_timeout * 1000LL;
	stream_set_deadline(&w.st, web_request_seconds(w.conf));
	/* Implicit TLS (RFC 8314 section 3.3 in spirit): the handshake first. */
	if (ctx->tls == NULL || stream_start_tls(&w.st, ctx->tls) != STREAM_OK) {
		log_info("close reason=tls-handshake-failed");
	} else {
		log_info("tls version=%s cipher=%s", stream_tls_version(&w.st),
		    stream_tls_cipher(&w.st));
		for (int n = 0; web_request(&w, session_end, n); n++)
			;
	}
	log_info("disconnect");
	state_free(w.shared);
	relaydb_close(w.db);
	buf_free(&w.body);
	stream_free(&w.st);
	return 0;
}
