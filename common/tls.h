/*
 * tls.h: the OpenSSL server context (ispmaild.conf(5), TLS): certificate chain,
 * private key, minimum version and ciphers, with a listener's overrides so
 * a legacy pair for Outlook Express on Windows XP can sit beside the
 * modern ones. Built in the master before privileges drop and inherited by
 * every forked child.
 */
#ifndef ISPMAILD_TLS_H
#define ISPMAILD_TLS_H

#include <stddef.h>

#include "conf.h"

struct ssl_ctx_st;

/*
 * A server context for one listener: the tls block, with lc's min_version
 * and ciphers when set (lc may be NULL). NULL with a reason in err.
 */
struct ssl_ctx_st *tls_server_ctx(const struct tls_conf *t,
    const struct listen_conf *lc, char *err, size_t errlen);
void tls_ctx_free(struct ssl_ctx_st *ctx);

/* "TLSv1.2" -> TLS1_2_VERSION; -1 for an unknown name. */
int tls_version_parse(const char *name);

#endif
