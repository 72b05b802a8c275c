/*
 * webd.h: what the files of web/ share (not for use outside web/): the
 * connection's state and the response being built.
 */
#ifndef ISPMAILD_WEBD_H
#define ISPMAILD_WEBD_H

#include "html.h"
#include "http.h"
#include "relaydb.h"
#include "state.h"
#include "session.h"
#include "stream.h"
#include "websession.h"

/* The shortest new password the pages accept. */
#define WEB_PASSWORD_MIN 8
/* Longest password, address list, vacation subject and text accepted. */
#define WEB_PASSWORD_MAX 1024
#define WEB_FORWARD_MAX 2048
#define WEB_SUBJECT_MAX 200
#define WEB_TEXT_MAX 8192

struct web {
	const struct session_ctx *ctx;
	const struct conf *conf;
	struct stream st;
	struct relaydb *db;		/* opened at first use, see web_db */
	struct state *shared;		/* relay.backend's state, see web_state */
	const struct http_request *req;
	struct websession sess;
	int logged_in;
	int wide;			/* the page has tables: a wider column */
	struct session_auth auth;	/* failed logins on this connection */
	/* The response being built. */
	int status;
	struct buf body;
	const char *content_type;
	char location[256];
	char cookie[192];
};

/* The relay DB environment (sessions, relay table); NULL when it cannot be opened. */
struct relaydb *web_db(struct web *w);
/*
 * The shared state of relay.backend (state.h) for the relay table: on the
 * Berkeley DB over web_db's handle, on Redis its own connection. NULL
 * when it cannot be had.
 */
struct state *web_state(struct web *w);

/* A page: content (a fragment) in the layout, with the notice of code msg (or NULL). */
void web_page(struct web *w, int status, const char *title, const struct html *content,
    const char *msg);
/* The same with a notice of this kind ("ok", "error") and text, or none (NULL). */
void web_page_text(struct web *w, int status, const char *title, const struct html *content,
    const char *kind, const char *text);
/* Clear the session cookie in the response. */
void web_logout_cookie(struct web *w);
/* 303 to path (our own, e.g. "/?msg=password-changed"). */
void web_redirect(struct web *w, const char *path);
/* An error page: status, a heading and a sentence. */
void web_error(struct web *w, int status, const char *heading, const char *text);

/* pages.c: the customer's pages and forms. */
void web_account_page(struct web *w, const char *msg);
void web_login_page(struct web *w, const char *msg);
void web_post_password(struct web *w);
void web_post_forward(struct web *w);
void web_post_vacation(struct web *w);
/*
 * "a@b, c@d\r\ne@f" (a form's list: spaces, commas, semicolons, line
 * breaks) -> "a@b c@d e@f" in out when each is an address we can store:
 * the count, or -1.
 */
int web_forward_list(const char *in, struct buf *out);

/*
 * admin_pages.c: the administrators' pages (SPEC 13), for the addresses
 * of web.admins only. web_is_admin: is the session's user one of them.
 */
int web_is_admin(const struct web *w);
void web_admin_status(struct web *w);
void web_admin_users(struct web *w);
void web_admin_relay(struct web *w);
void web_admin_queue(struct web *w);
void web_admin_user_add(struct web *w);
void web_admin_user_delete(struct web *w);
void web_admin_user_password(struct web *w);
void web_admin_user_quota(struct web *w);
void web_admin_user_forward(struct web *w);
void web_admin_user_vacation(struct web *w);
void web_admin_relay_add(struct web *w);
void web_admin_relay_delete(struct web *w);
void web_admin_queue_flush(struct web *w);
void web_admin_queue_delete(struct web *w);
void web_admin_queue_release(struct web *w);

/*
 * account.c: the forwarding and vacation changes, through the same
 * functions as ispmailctl (admin/), logged by them with actor. dests:
 * space-separated addresses, "" or NULL for none; the vacation message is
 * "Subject: " subject, an empty line, text. 0; WEB_REFUSED with err when
 * the form's values are what the function refused (the page says so);
 * -1 with err when the server failed.
 */
#define WEB_REFUSED (-2)
int web_forward_set(const struct conf *c, const char *address, const char *dests, int keep,
    const char *actor, char *err, size_t errlen);
int web_vacation_set(const struct conf *c, const char *address, int on, const char *subject,
    const char *text, const char *actor, char *err, size_t errlen);
/* The stored vacation message's subject and text ("" when none). */
void web_vacation_get(const struct conf *c, const char *address, struct buf *subject,
    struct buf *text);

/* A form field of the request's body: 1, 0 absent, -1 malformed or over max. */
int web_field(const struct web *w, const char *name, struct buf *out, size_t max);

#endif
