/*
 * session.c: decisions about a session's client that POP3 and SMTP share.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "session.h"
#include "stats.h"
#include "users.h"

int session_plaintext_ok(const struct session_ctx *ctx, int tls_active)
{
	if (tls_active || ctx->conf->relay.plaintext_auth)
		return 1;
	if (ctx->class == CLIENT_CUSTOMER || ctx->class == CLIENT_TRUSTED)
		return 1;
	return net_addr_equal(&ctx->client, &ctx->local);
}

/*
 * Count a login in the shared statistics; a failure also counts against
 * the client's address, which makes the next pause longer.
 */
static void session_login_counted(const struct session_ctx *ctx, int ok)
{
	char key[NET_ADDR_MAX];

	net_relay_key(&ctx->client, ctx->conf->relay.ipv6_prefix, key, sizeof key);
	stats_count(ok ? STAT_LOGIN_OK : STAT_LOGIN_FAILED, ctx->service);
	if (ok)
		stats_auth_succeeded(key);
}

int session_password_check(const struct session_ctx *ctx, const char *login,
    const char *password, const char *method, char *user, size_t userlen)
{
	char q[LOG_QUOTE_MAX];
	int r;

	if (users_login_address(ctx->conf, login, user, userlen) != 0) {
		/* Still spend the time of a check: do not tell names apart. */
		(void)users_check_hash(users_dummy_hash(), password);
		str_copy(user, userlen, "-");
		log_info("login user=%s result=fail method=%s service=%s reason=bad-name",
		    log_quote(login, strlen(login), q, sizeof q), method,
		    conf_service_name(ctx->service));
		session_login_counted(ctx, 0);
		return 0;
	}
	r = users_authenticate(ctx->conf->users_file, user, password);
	if (r >= 0)
		session_login_counted(ctx, r == 1);
	if (r < 0) {
		log_error("login user=%s result=error reason=\"users file: %s\"",
		    user, strerror(errno));
		return -1;
	}
	log_info("login user=%s result=%s method=%s service=%s client=%s", user,
	    r == 1 ? "ok" : "fail", method, conf_service_name(ctx->service),
	    ctx->client_text);
	return r;
}

void session_auth_delay(const struct session_ctx *ctx, int failures)
{
	char key[NET_ADDR_MAX];
	long ms = 200;
	struct timespec ts;
	uint32_t by_address;
	int n;

	/* The longer of this session's and this address's recent record. */
	net_relay_key(&ctx->client, ctx->conf->relay.ipv6_prefix, key, sizeof key);
	by_address = stats_auth_failed(key, time(NULL));
	if (by_address > (uint32_t)failures)
		failures = by_address > 64 ? 64 : (int)by_address;

	n = failures;
	while (--n > 0 && ms < 3000)
		ms *= 2;
	if (ms > 3000)
		ms = 3000;
	/* The decision, logged: tests read it instead of timing the reply. */
	log_info("login pause client=%s failures=%d pause_ms=%ld",
	    ctx->client_text, failures, ms);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
