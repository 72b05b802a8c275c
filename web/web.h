/*
 * web.h: the web service (SPEC 13, ispmaild.conf(5) "Web"): customers'
 * self-service pages over HTTPS, served by the master's session processes
 * like the mail services. daemon/ calls web_session_run; the rest of web/
 * is its own.
 */
#ifndef ISPMAILD_WEB_H
#define ISPMAILD_WEB_H

struct session_ctx;

/* One HTTPS connection: the handshake, then requests until it closes. */
int web_session_run(const struct session_ctx *ctx);

#endif
