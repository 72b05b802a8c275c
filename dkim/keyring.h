/*
 * keyring.h: every DKIM key under keys_dir, loaded once (at start and at
 * each reload, by the master, so that session processes inherit them), and
 * the signing of one message with the keys of its From: domain.
 */
#ifndef ISPMAILD_DKIM_KEYRING_H
#define ISPMAILD_DKIM_KEYRING_H

#include <stddef.h>

#include "buf.h"
#include "key.h"

struct dkim_keyring {
	struct dkim_key *keys;	/* by domain, a domain's RSA keys first */
	size_t n;
};

/*
 * The sub-directories of keys_dir that may be domains (dns_name_ok),
 * sorted; a missing keys_dir has none. 0, or -1 with err. Free each name
 * and the array.
 */
int dkim_key_domains(const char *keys_dir, char ***names, size_t *n, char *err,
    size_t errlen);

/*
 * Load every <keys_dir>/<domain>/<selector>.key. One that cannot be
 * loaded is a configuration error: -1, err naming the file, ring empty.
 */
int dkim_keyring_load(const char *keys_dir, struct dkim_keyring *ring, char *err,
    size_t errlen);
void dkim_keyring_free(struct dkim_keyring *ring);

/* The keys of one domain (any case; no trailing dot): first and count. */
const struct dkim_key *dkim_keyring_find(const struct dkim_keyring *ring,
    const char *domain, size_t *n);

/*
 * The domain of the first mailbox of the first From: field of a header
 * section (LF or CRLF line ends; folded lines; comments and display names
 * skipped), lower-cased into out. 0, or -1 when there is none or it does
 * not fit.
 */
int dkim_from_domain(const char *headers, size_t len, char *out, size_t outlen);

/*
 * Sign: the DKIM-Signature fields for every key of the From: domain of
 * headers (the message's own header section), RSA first, appended to out.
 * body_hash is the relaxed body hash (canon.h). Returns the number of
 * signatures made (0: no key for that domain, or no From:), or -1 with err.
 */
int dkim_keyring_sign(const struct dkim_keyring *ring, const char *headers, size_t len,
    const unsigned char *body_hash, long long now, struct buf *out, char *err,
    size_t errlen);

#endif
