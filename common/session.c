/*
 * session.c: decisions about a session's client that POP3 and SMTP share.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "sasl.h"
#include "session.h"
#include "stats.h"
#include "users.h"

/* The shared failure count (session_authfail_set); NULL: the node's own. */
static const struct session_authfail *authfail_hook;

void session_authfail_set(const struct session_authfail *hook)
{
	authfail_hook = hook;
}

int session_plaintext_ok(const struct session_ctx *ctx, int tls_active)
{
	if (tls_active || ctx->conf->relay.plaintext_auth)
		return 1;
	if (ctx->class == CLIENT_CUSTOMER || ctx->class == CLIENT_TRUSTED)
		return 1;
	return net_addr_equal(&ctx->client, &ctx->local);
}

/* relay.backend's name, for the log. */
static const char *backend_name(const struct conf *c)
{
	return c->relay.backend == RELAY_BACKEND_REDIS ? "redis" : "bdb";
}

/*
 * The address's recent failures: the count the nodes share when there is
 * one (session_authfail), else this node's own (local). A shared count
 * that cannot be read is logged and the local one serves.
 */
static uint32_t session_auth_count(const struct session_ctx *ctx, const char *key,
    const char *who, uint32_t local)
{
	char err[256];
	long shared;

	if (authfail_hook == NULL)
		return local;
	shared = authfail_hook->failed(ctx->conf, key, stats_auth_name_hash(who),
	    STATS_AUTH_WINDOW, err, sizeof err);
	if (shared > 0)
		return shared > UINT32_MAX ? UINT32_MAX : (uint32_t)shared;
	if (shared < 0)
		log_error("state backend=%s op=authfail key=%s result=error reason=\"%s\" "
		    "count=local", backend_name(ctx->conf), key, err);
	return local;
}

/*
 * Count a failed login of who (the name tried) from the client's address
 * and decide its pause: 200 ms doubling to 3 s, by the larger of the
 * session's count and the address's recent one (on every node, when
 * they share one).
 */
static void session_auth_failed(const struct session_ctx *ctx, const char *who,
    struct session_auth *auth)
{
	char key[NET_ADDR_MAX];
	uint32_t by_address;
	int n;
	long ms = 200;

	stats_count(STAT_LOGIN_FAILED, ctx->service);
	n = ++auth->failures;
	net_relay_key(&ctx->client, ctx->conf->relay.ipv6_prefix, key, sizeof key);
	by_address = stats_auth_failed(key, who, time(NULL));
	by_address = session_auth_count(ctx, key, who, by_address);
	if (by_address > (uint32_t)n)
		n = by_address > 64 ? 64 : (int)by_address;
	auth->counted = n;
	while (--n > 0 && ms < 3000)
		ms *= 2;
	auth->pause_ms = ms > 3000 ? 3000 : ms;
}

/*
 * Count a good login; it forgets that user's failures from the address
 * only (on every node, when they share a count).
 */
static void session_auth_succeeded(const struct session_ctx *ctx, const char *user)
{
	char key[NET_ADDR_MAX], err[256];

	stats_count(STAT_LOGIN_OK, ctx->service);
	net_relay_key(&ctx->client, ctx->conf->relay.ipv6_prefix, key, sizeof key);
	stats_auth_succeeded(key, user);
	if (authfail_hook != NULL &&
	    authfail_hook->succeeded(ctx->conf, key, stats_auth_name_hash(user), err,
	    sizeof err) != 0)
		log_error("state backend=%s op=authfail-forget key=%s result=error "
		    "reason=\"%s\"", backend_name(ctx->conf), key, err);
}

int session_password_check(const struct session_ctx *ctx, const char *login,
    const char *password, const char *method, char *user, size_t userlen,
    struct session_auth *auth)
{
	char q[LOG_QUOTE_MAX];
	int r;

	if (users_login_address(ctx->conf, login, user, userlen) != 0) {
		/* Still spend the time of a check: do not tell names apart. */
		(void)users_check_hash(users_dummy_hash(), password);
		session_auth_failed(ctx, login, auth);
		str_copy(user, userlen, "-");
		log_info("login user=%s result=fail method=%s service=%s client=%s "
		    "reason=bad-name failures=%d pause_ms=%ld",
		    log_quote(login, strlen(login), q, sizeof q), log_q(method),
		    conf_service_name(ctx->service), ctx->client_text, auth->counted,
		    auth->pause_ms);
		return 0;
	}
	r = users_authenticate(ctx->conf->users_file, user, password);
	if (r < 0) {
		log_error("login user=%s result=error reason=\"users file: %s\"",
		    log_q(user), strerror(errno));
		return -1;
	}
	if (r == 1) {
		session_auth_succeeded(ctx, user);
		log_info("login user=%s result=ok method=%s service=%s client=%s",
		    log_q(user), log_q(method), conf_service_name(ctx->service), ctx->client_text);
		return 1;
	}
	session_auth_failed(ctx, user, auth);
	log_info("login user=%s result=fail method=%s service=%s client=%s "
	    "failures=%d pause_ms=%ld", log_q(user), log_q(method),
	    conf_service_name(ctx->service), ctx->client_text, auth->counted,
	    auth->pause_ms);
	return 0;
}

void session_auth_refused(const struct session_ctx *ctx, const char *method,
    int sasl_result, struct session_auth *auth)
{
	if (sasl_result == SASL_MALFORMED) {
		session_auth_failed(ctx, "-", auth);
	} else {
		stats_count(STAT_LOGIN_FAILED, ctx->service);
		auth->pause_ms = 0;
	}
	if (sasl_result == SASL_MALFORMED)
		log_info("login user=- result=fail method=%s service=%s client=%s "
		    "reason=%s failures=%d pause_ms=%ld", method,
		    conf_service_name(ctx->service), ctx->client_text,
		    sasl_result_name(sasl_result), auth->counted, auth->pause_ms);
	else
		log_info("login user=- result=fail method=%s service=%s client=%s "
		    "reason=%s pause_ms=0", method, conf_service_name(ctx->service),
		    ctx->client_text, sasl_result_name(sasl_result));
}

void session_auth_delay(long pause_ms)
{
	struct timespec ts;

	ts.tv_sec = pause_ms / 1000;
	ts.tv_nsec = (pause_ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
