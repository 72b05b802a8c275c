/*
 * recipient.c: resolving local recipients through the aliases and users
 * files. The order is docs/PROTOCOL.md's: exact alias, real user, catch-all.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "log.h"
#include "maildir.h"
#include "recipient.h"
#include "users.h"

static int list_has(char **v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(v[i], s) == 0)
			return 1;
	return 0;
}

static void list_add(char ***v, size_t *n, const char *s)
{
	if (list_has(*v, *n, s))
		return;
	*v = xreallocarray(*v, *n + 1, sizeof **v);
	(*v)[(*n)++] = xstrdup(s);
}

/* A remote address; a direct one wins over the same address forwarded. */
static void add_remote(struct rcpt_set *set, const char *address, int forwarded)
{
	size_t i;

	for (i = 0; i < set->nremote; i++)
		if (strcasecmp(set->remote[i], address) == 0) {
			if (!forwarded)
				set->forwarded[i] = 0;
			return;
		}
	list_add(&set->remote, &set->nremote, address);
	set->forwarded = xrealloc(set->forwarded, set->nremote);
	set->forwarded[set->nremote - 1] = (unsigned char)(forwarded != 0);
}

void rcpt_add_remote(struct rcpt_set *set, const char *address)
{
	add_remote(set, address, 0);
}

void rcpt_add_reverse(struct rcpt_set *set, const char *address)
{
	add_remote(set, address, 1);
}

size_t rcpt_nforwarded(const struct rcpt_set *set)
{
	size_t i, n = 0;

	for (i = 0; i < set->nremote; i++)
		n += set->forwarded[i] != 0;
	return n;
}

const char *rcpt_srs_domain(const struct conf *c)
{
	return c->srs.domain != NULL && c->srs.domain[0] != '\0' ? c->srs.domain :
	    c->hostname;
}

void rcpt_forward_prepare(struct rcpt_set *set, const struct conf *c,
    const struct srs_secret *secret, const char *sender, int outside, time_t now)
{
	char out[SRS_ADDRESS_MAX + 1];
	enum srs_result r;

	if (set->forward_sender != NULL || rcpt_nforwarded(set) == 0)
		return;
	set->forward_nobounce = outside;
	if (secret == NULL || sender[0] == '\0') {
		set->forward_sender = xstrdup(sender);
		return;
	}
	r = srs_forward(secret->key, secret->len, rcpt_srs_domain(c), sender, now,
	    out, sizeof out);
	if (r != SRS_OK) {
		log_warn("srs sender=%s result=%s reason=\"sent with the original sender\"",
		    log_qaddr(sender), srs_result_name(r));
		set->forward_sender = xstrdup(sender);
		return;
	}
	set->forward_sender = xstrdup(out);
}

/* "SRS0=" or "SRS1=" at the start of s, any case. */
static int srs_prefixed(const char *s)
{
	return strncasecmp(s, "SRS0=", 5) == 0 || strncasecmp(s, "SRS1=", 5) == 0;
}

enum rcpt_srs rcpt_srs_reverse(const struct conf *c, const struct srs_secret *secret,
    const char *address, time_t now, char *orig, size_t origlen, enum srs_result *why)
{
	const char *at = strrchr(address, '@');

	*why = SRS_NOT_SRS;
	if (origlen > 0)
		orig[0] = '\0';
	if (secret == NULL || at == NULL || !srs_prefixed(address) ||
	    strcasecmp(at + 1, rcpt_srs_domain(c)) != 0)
		return RCPT_SRS_NONE;
	*why = srs_reverse(secret->key, secret->len, address, now, orig, origlen);
	if (*why == SRS_OK)
		return RCPT_SRS_VALID;
	return *why == SRS_NOT_SRS ? RCPT_SRS_NONE : RCPT_SRS_INVALID;
}

void rcpt_set_free(struct rcpt_set *set)
{
	size_t i;

	for (i = 0; i < set->nlocal; i++)
		free(set->local[i]);
	for (i = 0; i < set->nremote; i++)
		free(set->remote[i]);
	for (i = 0; i < set->nfull; i++)
		free(set->full[i]);
	free(set->full);
	free(set->local);
	free(set->remote);
	free(set->forwarded);
	free(set->forward_sender);
	memset(set, 0, sizeof *set);
}

static int resolve(const struct conf *c, const struct aliases *al,
    const char *address, struct rcpt_set *set, int depth);

/* An alias's destinations: local ones resolved again, remote ones queued. */
static int expand(const struct conf *c, const struct aliases *al,
    const struct alias *a, struct rcpt_set *set, int depth)
{
	size_t i;
	int found = 0;

	for (i = 0; i < a->ndest; i++) {
		const char *d = a->dest[i];
		const char *at = strrchr(d, '@');
		int r;

		if (at == NULL || !conf_is_local_domain(c, at + 1, strlen(at + 1))) {
			add_remote(set, d, 1);
			found = 1;
			continue;
		}
		r = resolve(c, al, d, set, depth + 1);
		if (r < 0)
			return -1;
		if (r == 0)
			log_warn("alias name=%s dest=%s reason=\"no such user\"",
			    log_q(a->name), log_q(d));
		found |= r;
	}
	return found;
}

int rcpt_postmaster_address(const struct conf *c, char *out, size_t outlen)
{
	struct users u;
	char err[512];
	int rc = -1;

	if (c->postmaster != NULL && c->postmaster[0] != '\0')
		return str_copy(out, outlen, c->postmaster) == 0 ? 0 : -1;
	if (c->ndomains == 0 || users_load(c->users_file, &u, err, sizeof err) != 0)
		return -1;
	for (size_t i = 0; i < u.n && rc != 0; i++) {
		const char *at = strrchr(u.v[i].address, '@');

		if (at != NULL && strcasecmp(at + 1, c->domains[0]) == 0)
			rc = str_copy(out, outlen, u.v[i].address) == 0 ? 0 : -1;
	}
	users_free(&u);
	return rc;
}

/*
 * postmaster@ and abuse@ of every local domain are always deliverable (RFC
 * 5321 §4.5.1, RFC 2142): when no user, alias or catch-all takes them,
 * they go to the configured postmaster. 1, 0 (not such a name, or no
 * postmaster at all), -1.
 */
static int role_address(const struct conf *c, const struct aliases *al,
    const char *address, struct rcpt_set *set, int depth)
{
	const char *at = strrchr(address, '@');
	char target[512];
	size_t ll = at != NULL ? (size_t)(at - address) : 0;

	if (at == NULL || !((ll == 10 && strncasecmp(address, "postmaster", 10) == 0) ||
	    (ll == 5 && strncasecmp(address, "abuse", 5) == 0)))
		return 0;
	if (rcpt_postmaster_address(c, target, sizeof target) != 0) {
		log_warn("rcpt to=%s reason=\"no postmaster: set postmaster in the configuration\"",
		    log_q(address));
		return 0;
	}
	if (strcasecmp(target, address) == 0)
		return 0;	/* the postmaster itself is missing: no loop */
	at = strrchr(target, '@');
	if (at == NULL || !conf_is_local_domain(c, at + 1, strlen(at + 1))) {
		add_remote(set, target, 1);
		return 1;
	}
	return resolve(c, al, target, set, depth + 1);
}

static int resolve(const struct conf *c, const struct aliases *al,
    const char *address, struct rcpt_set *set, int depth)
{
	const struct alias *a;
	const char *at;
	char hash[USERS_HASH_MAX];
	int r;

	if (depth > RECIPIENT_DEPTH_MAX) {
		log_warn("alias name=%s reason=\"nested too deep\"", log_q(address));
		return 0;
	}
	if ((a = aliases_find(al, address)) != NULL)
		return expand(c, al, a, set, depth);
	r = users_lookup(c->users_file, address, hash, sizeof hash);
	if (r < 0)
		return -1;
	if (r == 1) {
		list_add(&set->local, &set->nlocal, address);
		return 1;
	}
	at = strrchr(address, '@');
	if (at != NULL && (a = aliases_catchall(al, at + 1)) != NULL)
		return expand(c, al, a, set, depth);
	return role_address(c, al, address, set, depth);
}

int rcpt_resolve_local(const struct conf *c, const struct aliases *al,
    const char *address, struct rcpt_set *set)
{
	return resolve(c, al, address, set, 0);
}

int rcpt_mailbox_full(const struct conf *c, const char *address)
{
	struct user_options o;
	char path[PATH_MAX];

	if (users_options(c->users_file, address, &o) != 1 || !o.has_quota ||
	    maildir_path_for(c->maildir_root, address, path, sizeof path) != 0)
		return 0;
	return quota_room(path, o.quota, 0) == 0;
}

/*
 * Mail an alias (catch-all, postmaster fallback) sends to a full mailbox
 * must neither bounce at once (the alias's other destinations took it:
 * the client got 250) nor fill the disk: its copy goes to the queue,
 * whose runner retries it until there is room or queue.max_age
 * (queue/runner.c).
 */
size_t rcpt_queue_full(const struct conf *c, struct rcpt_set *set, size_t from,
    const char *own)
{
	size_t i = from, moved = 0;

	while (i < set->nlocal) {
		char *a = set->local[i];

		if ((own != NULL && strcasecmp(a, own) == 0) || !rcpt_mailbox_full(c, a)) {
			i++;
			continue;
		}
		log_info("quota user=%s result=queued reason=mailbox-full", log_q(a));
		memmove(&set->local[i], &set->local[i + 1],
		    (set->nlocal - i - 1) * sizeof *set->local);
		set->nlocal--;
		if (list_has(set->full, set->nfull, a)) {
			free(a);
		} else {
			set->full = xreallocarray(set->full, set->nfull + 1, sizeof *set->full);
			set->full[set->nfull++] = a;
		}
		moved++;
	}
	return moved;
}
