/*
 * key.h: DKIM private keys on disk, <keys_dir>/<domain>/<selector>.key
 * (PEM, mode 0640): load, list, generate, and the DNS TXT record that
 * publishes the public half (RFC 6376 §3.6.1, RFC 8463 §4.2 for Ed25519).
 * RSA keys below 1024 bits are refused (RFC 8301 §3.2).
 */
#ifndef ISPMAILD_DKIM_KEY_H
#define ISPMAILD_DKIM_KEY_H

#include <stddef.h>

#include <openssl/evp.h>

#include "buf.h"

#define DKIM_RSA_MIN_BITS 1024
#define DKIM_RSA_MAX_BITS 8192
#define DKIM_RSA_DEFAULT_BITS 2048
/* A TXT character-string holds at most 255 bytes (RFC 1035 §3.3.14). */
#define DKIM_TXT_CHUNK 255

enum dkim_alg {
	DKIM_ALG_RSA,		/* listed and used first */
	DKIM_ALG_ED25519
};

struct dkim_key {
	char *domain;		/* lower-case */
	char *selector;
	char *path;
	enum dkim_alg alg;
	EVP_PKEY *pkey;
};

/* "rsa" or "ed25519": the k= of the DNS record and what `dkim list` shows. */
const char *dkim_alg_name(enum dkim_alg alg);

/* 0 when the key can sign (RSA of 1024 bits or more, or Ed25519); else -1, err. */
int dkim_key_check(EVP_PKEY *key, char *err, size_t errlen);

/* The first OpenSSL error as "what: reason" in err; clears the queue. */
void dkim_openssl_err(char *err, size_t errlen, const char *what);

/* Load <keys_dir>/<domain>/<selector>.key into k. 0, or -1 with err. */
int dkim_key_load(const char *keys_dir, const char *domain, const char *selector,
    struct dkim_key *k, char *err, size_t errlen);
void dkim_key_free(struct dkim_key *k);

/*
 * Every <selector>.key of the domain, loaded, RSA first, then Ed25519,
 * each by selector. No directory is no key (0, *n = 0). Returns -1 (err)
 * when the directory cannot be read, else the number of key files that
 * could not be loaded and were left out (err names the last of them).
 */
int dkim_key_list(const char *keys_dir, const char *domain, struct dkim_key **keys,
    size_t *n, char *err, size_t errlen);
void dkim_keys_free(struct dkim_key *keys, size_t n);

/*
 * Make a key (bits: RSA only, 0 = DKIM_RSA_DEFAULT_BITS) and write it as
 * <keys_dir>/<domain>/<selector>.key, mode 0640, through a temporary file,
 * fsync and rename (the directories are made, mode 0750, when missing).
 * An existing key is never replaced. k receives the new key. 0 or -1, err.
 */
int dkim_key_generate(const char *keys_dir, const char *domain, const char *selector,
    enum dkim_alg alg, unsigned bits, struct dkim_key *k, char *err, size_t errlen);

/*
 * The DNS record, one line without line end:
 * SELECTOR._domainkey.DOMAIN. IN TXT "v=DKIM1; k=rsa; p=..." with the
 * value cut into quoted strings of at most DKIM_TXT_CHUNK characters.
 * The bare value ("v=DKIM1; ...") goes to value when it is not NULL.
 */
int dkim_key_dns(const struct dkim_key *k, struct buf *out, struct buf *value,
    char *err, size_t errlen);

#endif
