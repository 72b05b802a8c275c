/*
 * tls.c: server contexts. No compression (CRIME), no renegotiation, no
 * session cache (children share no memory), but session tickets: their key
 * is made once in the master and inherited, so resumption works across
 * the forked children. The client's cipher preference is honoured (it
 * knows whether it has AES hardware).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls.h"

int tls_version_parse(const char *name)
{
	if (strcmp(name, "TLSv1") == 0 || strcmp(name, "TLSv1.0") == 0)
		return TLS1_VERSION;
	if (strcmp(name, "TLSv1.1") == 0)
		return TLS1_1_VERSION;
	if (strcmp(name, "TLSv1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(name, "TLSv1.3") == 0)
		return TLS1_3_VERSION;
	return -1;
}

/* The first OpenSSL error, for a one-line reason. */
static void ssl_reason(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_error_string_n(e, buf, sizeof buf);
	snprintf(err, errlen, "%s%s%s: %s", what, path ? " " : "", path ? path : "",
	    e ? buf : "unknown error");
	ERR_clear_error();
}

struct ssl_ctx_st *tls_server_ctx(const struct tls_conf *t,
    const struct listen_conf *lc, char *err, size_t errlen)
{
	const char *minv = t->min_version ? t->min_version : "TLSv1.2";
	const char *ciphers = t->ciphers;
	SSL_CTX *ctx;
	int v;

	if (lc != NULL && lc->min_version != NULL)
		minv = lc->min_version;
	if (lc != NULL && lc->ciphers != NULL)
		ciphers = lc->ciphers;
	if ((v = tls_version_parse(minv)) < 0) {
		snprintf(err, errlen, "tls min_version %s: unknown", minv);
		return NULL;
	}
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		ssl_reason(err, errlen, "SSL_CTX_new", NULL);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (ciphers != NULL && SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		ssl_reason(err, errlen, "tls ciphers", ciphers);
		goto fail;
	}
	if (SSL_CTX_set_min_proto_version(ctx, v) != 1) {
		ssl_reason(err, errlen, "tls min_version", minv);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, t->certificate) != 1) {
		ssl_reason(err, errlen, "tls certificate", t->certificate);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, t->private_key, SSL_FILETYPE_PEM) != 1) {
		ssl_reason(err, errlen, "tls private_key", t->private_key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_reason(err, errlen, "tls private_key does not match", t->certificate);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void tls_ctx_free(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}
