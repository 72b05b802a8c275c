/*
 * session.c: decisions about a session's client that POP3 and SMTP share.
 */
#include "config.h"

#include "session.h"

int session_plaintext_ok(const struct session_ctx *ctx, int tls_active)
{
	if (tls_active || ctx->conf->relay.plaintext_auth)
		return 1;
	if (ctx->class == CLIENT_CUSTOMER || ctx->class == CLIENT_TRUSTED)
		return 1;
	return net_addr_equal(&ctx->client, &ctx->local);
}
