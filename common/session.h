/*
 * session.h: what the master hands a forked child about its one client:
 * the configuration, the socket, both ends' addresses and the client's
 * class. The POP3 and SMTP sessions both start from this.
 */
#ifndef ISPMAILD_SESSION_H
#define ISPMAILD_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "net.h"

struct ssl_ctx_st;
struct dkim_keyring;
struct srs_secret;

struct session_ctx {
	const struct conf *conf;
	enum service service;
	int fd;
	struct cidr client;		/* canonical (mapped IPv4 as IPv4) */
	char client_text[NET_ADDR_MAX];
	int client_port;
	struct cidr local;		/* the address the client connected to */
	enum client_class class;
	char id[16];			/* session id, also in every log line */
	struct ssl_ctx_st *tls;		/* NULL when the service offers no TLS */
	const struct dkim_keyring *dkim;	/* the master's signing keys */
	const struct srs_secret *srs;	/* the master's SRS secret (srs.h) */
};

/*
 * A password in the clear is fine over TLS, from the customer and trusted
 * networks, from a client on the server's own address, or everywhere with
 * plaintext_auth (ispmaild.conf(5)).
 */
int session_plaintext_ok(const struct session_ctx *ctx, int tls_active);

/*
 * A session's record of failed logins: how many, and the pause the server
 * decided for the last one (the caller sleeps it with session_auth_delay
 * before it answers).
 */
struct session_auth {
	int failures;		/* this session's failed logins */
	int counted;		/* the count the last pause was chosen by */
	long pause_ms;		/* the last pause */
};

/*
 * Check a login name and password (any mechanism, POP3 or SMTP): the name
 * becomes the address it stands for (a bare local part is in the first
 * domain), written to user. 1 ok, 0 refused, -1 the users file failed.
 * Logs the attempt (never the password); a refusal counts in auth and
 * decides its pause, which the log line carries as pause_ms.
 */
int session_password_check(const struct session_ctx *ctx, const char *login,
    const char *password, const char *method, char *user, size_t userlen,
    struct session_auth *auth);

/*
 * An AUTH response that never reached a password check (SASL_BAD_BASE64 or
 * SASL_MALFORMED, sasl.h): one log line and one failed login in the
 * statistics, the same for POP3 and SMTP. A malformed one also counts in
 * auth and gets a pause, as a wrong password would; bad base64 gets none
 * (pause_ms=0): the protocol answers it as a syntax error.
 */
void session_auth_refused(const struct session_ctx *ctx, const char *method,
    int sasl_result, struct session_auth *auth);

/*
 * The failed-login count that the nodes share (SPEC 14: relay.backend
 * "redis"; state.h, state_authfail_add). common/ cannot reach state/, so
 * a program that links it sets this once at start
 * (state_authfail_install); unset, the node's own count (stats.h) is all.
 * The node's own count is kept either way, and used when the shared one
 * cannot be read: a login is never refused because Redis is down.
 *
 * failed: one more failure of the name hashed name_hash
 * (stats_auth_name_hash) from key (a relay key): the address's failures
 * within window seconds on every node, this one included (> 0); 0 when
 * the backend shares none (Berkeley DB); -1 with err filled.
 * succeeded: forget that name's failures from key; 0, or -1 with err.
 */
struct session_authfail {
	long (*failed)(const struct conf *c, const char *key, uint32_t name_hash,
	    long window, char *err, size_t errlen);
	int (*succeeded)(const struct conf *c, const char *key, uint32_t name_hash,
	    char *err, size_t errlen);
};
void session_authfail_set(const struct session_authfail *hook);

/*
 * Sleep the pause decided for a failed login: 200 ms doubling to 3 s, by
 * the session's own count or the client address's recent one, whichever is
 * larger (a guesser that reconnects gains nothing).
 */
void session_auth_delay(long pause_ms);

#endif
