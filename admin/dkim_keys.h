/*
 * dkim_keys.h: the DKIM key operations an administrator runs (ispmailctl
 * dkim, ispmailctl dns; later the web's admin page): make a key where the
 * daemon will find it, with the group that may read it, and list them all.
 */
#ifndef ISPMAILD_ADMIN_DKIM_KEYS_H
#define ISPMAILD_ADMIN_DKIM_KEYS_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "conf.h"
#include "key.h"

/*
 * Make a key for domain under dkim.keys_dir (selector NULL: dkim.selector)
 * and put its one-line DNS record in record. When group is not -1 the key
 * file and its directories get that group (the daemon's: mode 0640/0750
 * let it read them and nobody else). 0, or -1 with err.
 */
int admin_dkim_keygen(const struct conf *c, const char *domain, const char *selector,
    enum dkim_alg alg, gid_t group, struct buf *record, char *err, size_t errlen);

/*
 * Call each for every key under dkim.keys_dir, domain by domain in name
 * order, a domain's keys RSA first. A missing keys_dir has no keys.
 * Returns -1 (err) when keys_dir cannot be read, else the number of key
 * files that could not be loaded (err names the last), after calling each
 * for the good ones; a nonzero return from each stops the walk.
 */
int admin_dkim_list(const struct conf *c,
    int (*each)(const struct dkim_key *k, void *arg), void *arg, char *err, size_t errlen);

#endif
