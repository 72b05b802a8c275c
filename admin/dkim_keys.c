/*
 * dkim_keys.c: see dkim_keys.h. The key files themselves are dkim/key.c's;
 * this adds what only an administrator's tool knows: the configuration's
 * directory and selector, and the daemon's group.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dkim_keys.h"
#include "keyring.h"
#include "sys.h"

/* The daemon reads the key as a member of group; nobody else may. */
static int group_give(const char *path, gid_t group, char *err, size_t errlen)
{
	if (chown(path, (uid_t)-1, group) != 0) {
		seterr(err, errlen, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int admin_dkim_keygen(const struct conf *c, const char *domain, const char *selector,
    enum dkim_alg alg, gid_t group, struct buf *record, char *err, size_t errlen)
{
	struct dkim_key k;
	char *slash;
	int rc = -1;

	if (selector == NULL)
		selector = c->dkim.selector;
	if (dkim_key_generate(c->dkim.keys_dir, domain, selector, alg, 0, &k, err, errlen) != 0)
		return -1;
	if (group != (gid_t)-1) {
		if (group_give(k.path, group, err, errlen) != 0)
			goto out;
		slash = strrchr(k.path, '/');
		*slash = '\0';		/* <keys_dir>/<domain> */
		rc = group_give(k.path, group, err, errlen);
		*slash = '/';
		if (rc != 0 || group_give(c->dkim.keys_dir, group, err, errlen) != 0) {
			rc = -1;
			goto out;
		}
	}
	rc = dkim_key_dns(&k, record, NULL, err, errlen);
out:
	dkim_key_free(&k);
	return rc;
}

int admin_dkim_list(const struct conf *c,
    int (*each)(const struct dkim_key *k, void *arg), void *arg, char *err, size_t errlen)
{
	char **names;
	size_t n;
	int failed = 0, stop = 0;

	if (dkim_key_domains(c->dkim.keys_dir, &names, &n, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct dkim_key *keys;
		size_t nk;
		int r = stop ? 0 : dkim_key_list(c->dkim.keys_dir, names[i], &keys, &nk,
		    err, errlen);

		if (!stop && r < 0)
			failed++;	/* not a directory, or unreadable */
		else if (!stop) {
			failed += r;
			for (size_t j = 0; j < nk && !stop; j++)
				stop = each(&keys[j], arg) != 0;
			dkim_keys_free(keys, nk);
		}
		free(names[i]);
	}
	free(names);
	return failed;
}
