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

/*
 * A remote address; a direct one wins over the same address forwarded.
 * via: who named it (rcpt_set.via), added to what named it before.
 */
static void add_remote_via(struct rcpt_set *set, const char *address, int forwarded,
    unsigned long long via)
{
	size_t i;

	for (i = 0; i < set->nremote; i++)
		if (strcasecmp(set->remote[i], address) == 0) {
			if (!forwarded)
				set->forwarded[i] = 0;
			set->via[i] |= via;
			return;
		}
	list_add(&set->remote, &set->nremote, address);
	set->forwarded = xrealloc(set->forwarded, set->nremote);
	set->forwarded[set->nremote - 1] = (unsigned char)(forwarded != 0);
	set->via = xreallocarray(set->via, set->nremote, sizeof *set->via);
	set->via[set->nremote - 1] = via;
}

static void add_remote(struct rcpt_set *set, const char *address, int forwarded)
{
	add_remote_via(set, address, forwarded, RCPT_VIA_OTHER);
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
	for (i = 0; i < set->nforwarders; i++)
		free(set->forwarders[i]);
	free(set->forwarded);
	free(set->forward_sender);
	free(set->forwarders);
	free(set->via);
	memset(set, 0, sizeof *set);
}

/*
 * The users whose forward= is being followed, outermost first (at most
 * one per level of depth): a forward back to one of them is a loop.
 */
struct rcpt_chain {
	const char *user[RECIPIENT_DEPTH_MAX + 1];
	size_t n;
};

static int resolve(const struct conf *c, const struct aliases *al,
    const char *address, struct rcpt_set *set, int depth, struct rcpt_chain *ch);

/* An alias's destinations: local ones resolved again, remote ones queued. */
static int expand(const struct conf *c, const struct aliases *al,
    const struct alias *a, struct rcpt_set *set, int depth, struct rcpt_chain *ch)
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
		r = resolve(c, al, d, set, depth + 1, ch);
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
    const char *address, struct rcpt_set *set, int depth, struct rcpt_chain *ch)
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
	return resolve(c, al, target, set, depth + 1, ch);
}

/* Whether address is on the chain of forwarding users. */
static int chain_has(const struct rcpt_chain *ch, const char *address)
{
	for (size_t i = 0; i < ch->n; i++)
		if (strcasecmp(ch->user[i], address) == 0)
			return 1;
	return 0;
}

/* user's bit in set->via: its place in forwarders, or OTHER past the first 63. */
static unsigned long long forwarder_bit(struct rcpt_set *set, const char *user)
{
	list_add(&set->forwarders, &set->nforwarders, user);
	for (size_t i = 0; i < set->nforwarders && i < RCPT_FORWARDERS_MAX; i++)
		if (strcasecmp(set->forwarders[i], user) == 0)
			return 1ULL << i;
	return RCPT_VIA_OTHER;
}

static void ascii_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/*
 * One destination of user's forward=: a remote one leaves through the
 * queue as an alias's does (forwarded: SRS, rcpt_forward_prepare), marked
 * as user's; a local one is resolved again (the user is on the chain),
 * the user itself is its own Maildir. 1, 0 nobody there, -1.
 */
static int forward_one(const struct conf *c, const struct aliases *al, const char *user,
    const char *dest, struct rcpt_set *set, int depth, struct rcpt_chain *ch)
{
	char d[USERS_ADDRESS_MAX];
	char *at;
	int r;

	if (str_copy(d, sizeof d, dest) != 0 || !users_address_valid(d) ||
	    (at = strrchr(d, '@')) == NULL) {
		log_warn("forward user=%s dest=%s reason=\"invalid address\"", log_q(user),
		    log_q(dest));
		return 0;
	}
	ascii_lower(at);
	if (!conf_is_local_domain(c, at + 1, strlen(at + 1))) {
		add_remote_via(set, d, 1, forwarder_bit(set, user));
		return 1;
	}
	ascii_lower(d);		/* local addresses are kept in lower case */
	if (strcasecmp(d, user) == 0) {
		list_add(&set->local, &set->nlocal, user);
		return 1;
	}
	r = resolve(c, al, d, set, depth + 1, ch);
	if (r == 0)
		log_warn("forward user=%s dest=%s reason=\"no such user\"", log_q(user), log_q(d));
	return r;
}

/* forward= ("a@b c@d"), each destination in turn with user on the chain. */
static int forward_expand(const struct conf *c, const struct aliases *al,
    const char *user, const char *list, struct rcpt_set *set, int depth,
    struct rcpt_chain *ch)
{
	char one[USERS_ADDRESS_MAX + 1];
	int found = 0, r = 0;
	size_t n;

	ch->user[ch->n++] = user;
	for (const char *p = list; *p && r >= 0; p += n) {
		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n == 0)
			break;
		if (n >= sizeof one) {
			log_warn("forward user=%s reason=\"destination too long\"", log_q(user));
			continue;
		}
		memcpy(one, p, n);
		one[n] = '\0';
		r = forward_one(c, al, user, one, set, depth, ch);
		found |= r > 0;
	}
	ch->n--;
	return r < 0 ? -1 : found;
}

/*
 * A real user (SPEC 12): its Maildir, and with forward= each destination
 * too (keep=no: only those). A user already on the chain being resolved
 * is a forwarding loop (a forwards to b, b to a): it gets the message
 * here instead of passing it on again, so the loop ends with one copy,
 * logged. A forward that reaches nobody keeps the message here: it is
 * never lost.
 */
static int user_resolve(const struct conf *c, const struct aliases *al,
    const char *address, const struct user_options *o, struct rcpt_set *set,
    int depth, struct rcpt_chain *ch)
{
	int r;

	if (o->forward[0] == '\0' || chain_has(ch, address) ||
	    ch->n >= sizeof ch->user / sizeof ch->user[0]) {
		if (o->forward[0] != '\0')
			log_info("forward user=%s result=kept reason=loop", log_q(address));
		list_add(&set->local, &set->nlocal, address);
		return 1;
	}
	if (o->keep)
		list_add(&set->local, &set->nlocal, address);
	r = forward_expand(c, al, address, o->forward, set, depth, ch);
	if (r < 0)
		return -1;
	if (r == 0 && !o->keep) {
		log_warn("forward user=%s result=kept reason=\"no destination\"", log_q(address));
		list_add(&set->local, &set->nlocal, address);
	}
	return 1;
}

static int resolve(const struct conf *c, const struct aliases *al,
    const char *address, struct rcpt_set *set, int depth, struct rcpt_chain *ch)
{
	const struct alias *a;
	const char *at;
	struct user_options o;
	int r;

	if (depth > RECIPIENT_DEPTH_MAX) {
		log_warn("alias name=%s reason=\"nested too deep\"", log_q(address));
		return 0;
	}
	if ((a = aliases_find(al, address)) != NULL)
		return expand(c, al, a, set, depth, ch);
	r = users_options(c->users_file, address, &o);
	if (r < 0)
		return -1;
	if (r == 1)
		return user_resolve(c, al, address, &o, set, depth, ch);
	at = strrchr(address, '@');
	if (at != NULL && (a = aliases_catchall(al, at + 1)) != NULL)
		return expand(c, al, a, set, depth, ch);
	return role_address(c, al, address, set, depth, ch);
}

int rcpt_resolve_local(const struct conf *c, const struct aliases *al,
    const char *address, struct rcpt_set *set)
{
	struct rcpt_chain ch = { .n = 0 };

	return resolve(c, al, address, set, 0, &ch);
}

/* The users that sent one of set's forwarded remote addresses (via bits). */
static unsigned long long forwarders_used(const struct rcpt_set *set)
{
	unsigned long long used = 0;

	for (size_t i = 0; i < set->nremote; i++)
		if (set->forwarded[i])
			used |= set->via[i];
	return used & ~RCPT_VIA_OTHER;
}

void rcpt_delivered_to(const struct rcpt_set *set, struct buf *out)
{
	unsigned long long used = forwarders_used(set);

	for (size_t k = 0; k < set->nforwarders && k < RCPT_FORWARDERS_MAX; k++)
		if (used & (1ULL << k))
			buf_printf(out, "Delivered-To: %s\n", set->forwarders[k]);
}

/* A field's value (v to eol) is user, as "user" or "<user>", any case. */
static int value_is(const char *v, const char *eol, const char *user)
{
	size_t n = strlen(user);

	while (v < eol && (*v == ' ' || *v == '\t'))
		v++;
	while (eol > v && (eol[-1] == ' ' || eol[-1] == '\t' || eol[-1] == '\r'))
		eol--;
	if (eol - v >= 2 && *v == '<' && eol[-1] == '>') {
		v++;
		eol--;
	}
	return (size_t)(eol - v) == n && strncasecmp(v, user, n) == 0;
}

/* Whether the header section head (to its blank line) has Delivered-To: user. */
static int delivered_to_names(const char *head, size_t len, const char *user)
{
	static const char field[] = "Delivered-To:";
	const char *p = head, *end = head + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;

		if (eol == p)
			break;		/* the blank line: the body follows */
		if ((size_t)(eol - p) > sizeof field - 1 &&
		    strncasecmp(p, field, sizeof field - 1) == 0 &&
		    value_is(p + sizeof field - 1, eol, user))
			return 1;
		p = nl != NULL ? nl + 1 : end;
	}
	return 0;
}

size_t rcpt_forward_loops(struct rcpt_set *set, const char *head, size_t len)
{
	unsigned long long used = forwarders_used(set), looped = 0;
	size_t i, keep = 0, n = 0;

	for (size_t k = 0; k < set->nforwarders && k < RCPT_FORWARDERS_MAX; k++) {
		if (!(used & (1ULL << k)) || head == NULL ||
		    !delivered_to_names(head, len, set->forwarders[k]))
			continue;
		looped |= 1ULL << k;
		list_add(&set->local, &set->nlocal, set->forwarders[k]);
		log_info("forward user=%s result=kept reason=delivered-to",
		    log_q(set->forwarders[k]));
		n++;
	}
	if (looped == 0)
		return 0;
	/* Drop what only the stopped users sent; the rest keeps its order. */
	for (i = 0; i < set->nremote; i++) {
		if (set->forwarded[i] && (set->via[i] & ~looped) == 0) {
			log_info("forward to=%s result=dropped reason=delivered-to",
			    log_q(set->remote[i]));
			free(set->remote[i]);
			continue;
		}
		set->remote[keep] = set->remote[i];
		set->forwarded[keep] = set->forwarded[i];
		set->via[keep++] = set->via[i];
	}
	set->nremote = keep;
	return n;
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
