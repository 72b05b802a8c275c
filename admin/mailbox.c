/*
 * mailbox.c: mailbox usage and quotas for ispmailctl (SPEC 12): the usage
 * comes from the Maildir++ maildirsize file that delivery and POP3 keep
 * (maildir/quota.c), the quota from the users file's quota= option.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "maildir.h"
#include "mailbox.h"
#include "sys.h"

int admin_user_usage(const struct conf *c, const struct user *u, struct admin_usage *out)
{
	char maildir[PATH_MAX];
	struct user_options o;
	struct quota_usage q;
	int r;

	memset(out, 0, sizeof *out);
	(void)users_options_parse(u->options, &o, NULL, 0);
	out->has_quota = o.has_quota;
	out->quota = o.quota;
	if (maildir_path_for(c->maildir_root, u->address, maildir, sizeof maildir) != 0)
		return 0;
	if (o.has_quota)
		r = quota_get(maildir, o.quota, 0, &q);
	else
		r = quota_scan(maildir, &q);
	if (r == 0) {
		out->known = 1;
		out->bytes = q.bytes;
		out->count = q.count;
	}
	return 0;
}

int admin_user_change(const struct conf *c, const char *address, admin_user_change_fn fn,
    void *arg, char *err, size_t errlen)
{
	struct users u;
	struct user *e = NULL;
	int lock, rc = -1;

	if ((lock = users_lock(c->users_file, err, errlen)) == -1)
		return -1;
	if (users_load(c->users_file, &u, err, errlen) == -1)
		goto out_unlock;
	for (size_t i = 0; i < u.n; i++)
		if (strcmp(u.v[i].address, address) == 0)
			e = &u.v[i];
	if (e == NULL)
		seterr(err, errlen, "no such user %s", address);
	else if (fn(&u, e, arg, err, errlen) == 0)
		rc = users_save(c->users_file, &u, err, errlen);
	users_free(&u);
out_unlock:
	users_unlock(lock);
	return rc;
}

static int quota_option_set(const struct users *all, struct user *e, void *arg, char *err,
    size_t errlen)
{
	(void)all;
	const char *value = arg;

	if (users_option_set(e, "quota", value) == 0)
		return 0;
	seterr(err, errlen, "bad size \"%s\" (bytes, or with K, M or G; or none)", value);
	return -1;
}

int admin_user_quota_set(const struct conf *c, const char *address, const char *size,
    const char *actor, char *err, size_t errlen)
{
	char maildir[PATH_MAX], path[PATH_MAX];
	unsigned long long n;
	int none = strcmp(size, "none") == 0;

	if (!none && (users_size_parse(size, &n) != 0 || n == 0)) {
		seterr(err, errlen, "bad size \"%s\" (bytes, or with K, M or G; or none)", size);
		return -1;
	}
	if (admin_user_change(c, address, quota_option_set, none ? NULL : (void *)size,
	    err, errlen) != 0)
		return -1;
	log_info("admin action=user-quota user=%s quota=%s by=%s", log_q(address), log_q(size),
	    log_q(actor));
	if (maildir_path_for(c->maildir_root, address, maildir, sizeof maildir) != 0)
		return 0;
	if (none && str_format(path, sizeof path, "%s/maildirsize", maildir) == 0 &&
	    unlink(path) != 0 && errno != ENOENT) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* A new size (or none): the warnings already sent were about the old one. */
	if (str_format(path, sizeof path, "%s/%s", maildir, QUOTA_WARN_FILE) == 0 &&
	    unlink(path) != 0 && errno != ENOENT) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

void admin_size_format(unsigned long long n, char *out, size_t outlen)
{
	static const char units[] = "KMGT";
	double v = (double)n;
	int u = -1;

	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		(void)str_format(out, outlen, "%llu", n);
	else
		(void)str_format(out, outlen, "%.*f%c", v < 10 ? 1 : 0, v, units[u]);
}
