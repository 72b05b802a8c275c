/*
 * greylist.c: greylisting (greylist.h) over the shared state's tables
 * (state.h): greylist.db in the relay DB's environment, or Redis. A
 * decision is one transaction (state_table_run) that reads the network's
 * entry and the triple's, and writes them back.
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dnsbl.h"
#include "greylist.h"
#include "log.h"

/* "<first> <last> <passes>": three numbers of at most 19 digits. */
#define GL_VALUE_MAX 64
#define GL_KEY_MAX (GREYLIST_NET_MAX + 2 * GREYLIST_ADDR_MAX + 2)
#define GL_BATCH 256

struct gl_value {
	long long first, last;
	long passes;
};

int greylist_client_net(const char *addr, unsigned ipv6_prefix, char *out, size_t outlen)
{
	struct cidr c;
	unsigned bits;

	if (net_addr_parse(addr, &c) < 0 || (c.family == AF_INET && c.prefix != 32) ||
	    (c.family == AF_INET6 && c.prefix != 128))
		return -1;
	bits = c.family == AF_INET ? 24 : ipv6_prefix;
	if (bits == 0 || bits > c.prefix)
		return -1;
	for (unsigned i = bits; i < c.prefix; i++)
		c.addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	c.prefix = bits;
	net_cidr_text(&c, out, outlen);
	return out[0] != '\0' ? 0 : -1;
}

/* Drop a BATV tag: "prvs=TAG=local" and "msprvs1=TAG=local" -> "local". */
static const char *gl_strip_batv(const char *s, const char *at)
{
	static const char *const tags[] = { "prvs=", "msprvs1=" };

	for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
		size_t n = strlen(tags[i]);
		const char *eq;

		if (strncasecmp(s, tags[i], n) != 0)
			continue;
		eq = memchr(s + n, '=', (size_t)(at - s - n));
		if (eq != NULL && eq + 1 < at)
			return eq + 1;
	}
	return s;
}

int greylist_sender_key(const char *sender, char *out, size_t outlen)
{
	const char *at = strrchr(sender, '@'), *p, *end;
	struct buf b = BUF_INIT;
	int rc;

	if (at == NULL)
		at = sender + strlen(sender);
	p = gl_strip_batv(sender, at);
	end = memchr(p, '+', (size_t)(at - p));
	if (end == NULL || end == p)
		end = at;
	buf_appends(&b, "");
	while (p < end) {
		/* A number standing alone: between non-alphanumerics. */
		if (isdigit((unsigned char)*p) && (p == sender || !isalnum((unsigned char)p[-1]))) {
			const char *q = p;

			while (q < end && isdigit((unsigned char)*q))
				q++;
			if (q == end || !isalnum((unsigned char)*q)) {
				buf_appends(&b, "#");
				p = q;
				continue;
			}
		}
		buf_append(&b, p, 1);
		p++;
	}
	buf_appends(&b, at);
	for (size_t i = 0; i < b.len; i++)
		b.s[i] = (char)tolower((unsigned char)b.s[i]);
	rc = str_copy(out, outlen, b.s);
	buf_free(&b);
	return rc;
}

/* "a b c" -> the value; -1 when it is not one. */
static int gl_parse(const char *v, size_t len, struct gl_value *out)
{
	char tmp[GL_VALUE_MAX + 1], *e1, *e2, *e3;

	if (len == 0 || len > GL_VALUE_MAX)
		return -1;
	memcpy(tmp, v, len);
	tmp[len] = '\0';
	if (strspn(tmp, "0123456789 ") != len)
		return -1;
	out->first = strtoll(tmp, &e1, 10);
	if (*e1 != ' ')
		return -1;
	out->last = strtoll(e1 + 1, &e2, 10);
	if (*e2 != ' ')
		return -1;
	out->passes = strtol(e2 + 1, &e3, 10);
	return *e3 == '\0' && e2 + 1 != e3 ? 0 : -1;
}

/* Read one entry: 1 with *v, 0 absent or not a value, -1 failed. */
static int gl_get(struct state_txn *t, const char *key, size_t klen, struct gl_value *v)
{
	char buf[GL_VALUE_MAX];
	size_t len = 0;
	int r = state_txn_get(t, key, klen, buf, sizeof buf, &len);

	if (r <= 0)
		return r;
	return len <= sizeof buf && gl_parse(buf, len, v) == 0 ? 1 : 0;
}

/* Write one entry back, as text (db_dump shows it as it is). */
static int gl_put(struct state_txn *t, const char *key, size_t klen, const struct gl_value *v)
{
	char buf[GL_VALUE_MAX + 1];

	if (str_format(buf, sizeof buf, "%lld %lld %ld", v->first, v->last, v->passes) != 0)
		return -1;
	return state_txn_put(t, key, klen, buf, strlen(buf));
}

struct gl_check {
	const struct greylist_conf *g;
	const char *net;
	char key[GL_KEY_MAX];
	size_t klen;
	long long now;
	struct greylist_result *out;
};

/* An entry unseen for expire seconds is gone (removed lazily: overwritten). */
static int gl_live(const struct gl_value *v, const struct gl_check *a)
{
	return a->now - v->last < (long long)a->g->expire;
}

/* Count a pass for the network: a new entry starts at one. */
static int gl_count_net(struct state_txn *t, struct gl_check *a, int have,
    struct gl_value *n)
{
	if (!have || !gl_live(n, a)) {
		n->first = a->now;
		n->passes = 0;
	}
	n->last = a->now;
	n->passes++;
	a->out->client_passes = n->passes;
	return gl_put(t, a->net, strlen(a->net), n);
}

/* The decision, in one transaction (greylist.h: greylist_check). */
static int gl_decide(struct state_txn *t, void *p)
{
	struct gl_check *a = p;
	struct greylist_result *o = a->out;
	struct gl_value n, v;
	int have_n, have_v;
	long long age;

	if ((have_n = gl_get(t, a->net, strlen(a->net), &n)) < 0 ||
	    (have_v = gl_get(t, a->key, a->klen, &v)) < 0)
		return -1;
	o->client_passes = have_n && gl_live(&n, a) ? n.passes : 0;
	if (a->g->auto_allow > 0 && o->client_passes >= a->g->auto_allow) {
		o->verdict = GREYLIST_PASS;
		o->reason = "auto-allowed";
		return gl_count_net(t, a, have_n, &n);
	}
	if (!have_v || !gl_live(&v, a)) {
		v.first = v.last = a->now;
		v.passes = 0;
		o->verdict = GREYLIST_DEFER;
		o->reason = "new";
		o->wait = a->g->delay;
		return gl_put(t, a->key, a->klen, &v);
	}
	age = a->now - v.first;
	v.last = a->now;
	if (age < (long long)a->g->delay) {
		o->verdict = GREYLIST_DEFER;
		o->reason = "early";
		o->wait = (long)((long long)a->g->delay - age);
		o->passes = v.passes;
		return gl_put(t, a->key, a->klen, &v);
	}
	v.passes++;
	o->passes = v.passes;
	o->verdict = GREYLIST_PASS;
	o->reason = "passed";
	if (gl_put(t, a->key, a->klen, &v) != 0)
		return -1;
	return gl_count_net(t, a, have_n, &n);
}

/* "<net>\0<sender>\0<rcpt>", addresses in lower case; its length or -1. */
static long gl_triple_key(const char *net, const char *sender, const char *rcpt,
    char *key, size_t keylen)
{
	char s[GREYLIST_ADDR_MAX + 1];
	size_t ln = strlen(net), ls, lr = strlen(rcpt);

	if (greylist_sender_key(sender, s, sizeof s) != 0 || ln == 0 ||
	    ln > GREYLIST_NET_MAX || lr == 0 || lr > GREYLIST_ADDR_MAX)
		return -1;
	ls = strlen(s);
	if (ln + ls + lr + 2 > keylen)
		return -1;
	memcpy(key, net, ln + 1);
	memcpy(key + ln + 1, s, ls + 1);
	for (size_t i = 0; i < lr; i++)
		key[ln + ls + 2 + i] = (char)tolower((unsigned char)rcpt[i]);
	return (long)(ln + ls + 2 + lr);
}

enum greylist_verdict greylist_check_state(struct state *st, const struct greylist_conf *g,
    const char *net, const char *sender, const char *rcpt, time_t now,
    struct greylist_result *out, char *err, size_t errlen)
{
	struct gl_check a;
	long klen;

	memset(out, 0, sizeof *out);
	memset(&a, 0, sizeof a);
	err[0] = '\0';
	out->verdict = GREYLIST_PASS;
	out->reason = "error";
	if ((klen = gl_triple_key(net, sender, rcpt, a.key, sizeof a.key)) < 0) {
		(void)str_copy(err, errlen, "address or network too long");
		return GREYLIST_PASS;
	}
	a.g = g;
	a.net = net;
	a.klen = (size_t)klen;
	a.now = (long long)now;
	a.out = out;
	if (state_table_run(st, GREYLIST_FILE, g->expire, gl_decide, &a) < 0) {
		(void)str_copy(err, errlen, state_strerror(st));
		memset(out, 0, sizeof *out);
		out->verdict = GREYLIST_PASS;
		out->reason = "error";
	}
	return out->verdict;
}

enum greylist_verdict greylist_check(struct relaydb *db, const struct greylist_conf *g,
    const char *net, const char *sender, const char *rcpt, time_t now,
    struct greylist_result *out, char *err, size_t errlen)
{
	struct state *st = state_wrap_relaydb(db);
	enum greylist_verdict v;

	if (st == NULL) {
		memset(out, 0, sizeof *out);
		out->verdict = GREYLIST_PASS;
		out->reason = "error";
		(void)str_copy(err, errlen, "out of memory");
		return GREYLIST_PASS;
	}
	v = greylist_check_state(st, g, net, sender, rcpt, now, out, err, errlen);
	state_free(st);
	return v;
}

enum greylist_verdict greylist_rcpt_check(struct relaydb *db, const struct conf *c,
    enum client_class cls, int authorized, const char *addr, const char *sender,
    const char *rcpt, time_t now, struct greylist_result *out)
{
	struct state *st = db != NULL ? state_wrap_relaydb(db) : NULL;
	enum greylist_verdict v;

	v = greylist_rcpt_check_state(st, c, cls, authorized, addr, sender, rcpt, now, out);
	state_free(st);
	return v;
}

enum greylist_verdict greylist_rcpt_check_state(struct state *st, const struct conf *c,
    enum client_class cls, int authorized, const char *addr, const char *sender,
    const char *rcpt, time_t now, struct greylist_result *out)
{
	char net[GREYLIST_NET_MAX], err[512];

	memset(out, 0, sizeof *out);
	out->verdict = GREYLIST_PASS;
	if (!c->greylist.enabled) {
		out->reason = "disabled";
		return GREYLIST_PASS;
	}
	/* postmaster@ and abuse@ must be reachable at once (RFC 5321 §4.5.1, RFC 2142). */
	if (cls != CLIENT_OUTSIDE || authorized || dnsbl_rcpt_exempt(c, rcpt)) {
		out->reason = "exempt";
		return GREYLIST_PASS;
	}
	if (st == NULL || greylist_client_net(addr, c->relay.ipv6_prefix, net, sizeof net) != 0) {
		out->reason = "error";
		log_warn("greylist client=%s result=error error=%s", addr,
		    st == NULL ? "no relay DB" : "not an IP address");
		return GREYLIST_PASS;
	}
	greylist_check_state(st, &c->greylist, net, sender, rcpt, now, out, err, sizeof err);
	if (out->verdict == GREYLIST_DEFER)
		log_info("greylist client=%s net=%s from=%s to=%s result=%s wait=%ld", addr, net,
		    log_qaddr(sender), log_qaddr(rcpt), out->reason, out->wait);
	else if (strcmp(out->reason, "error") == 0)
		log_warn("greylist client=%s from=%s to=%s result=error error=%s", addr,
		    log_qaddr(sender), log_qaddr(rcpt), log_qtext(err));
	else
		log_debug("greylist client=%s net=%s result=%s passes=%ld client_passes=%ld",
		    addr, net, out->reason, out->passes, out->client_passes);
	return out->verdict;
}

/* ---- listing and removing ---- */

/* Split a stored key: net alone, or net\0sender\0rcpt. 0 or -1. */
static int gl_split(const char *key, size_t klen, struct greylist_entry *e)
{
	const char *z1 = memchr(key, '\0', klen), *z2;

	e->net = key;
	e->sender = e->rcpt = NULL;
	if (z1 == NULL)
		return 0;
	z2 = memchr(z1 + 1, '\0', klen - (size_t)(z1 + 1 - key));
	if (z2 == NULL || memchr(z2 + 1, '\0', klen - (size_t)(z2 + 1 - key)) != NULL)
		return -1;
	e->sender = z1 + 1;
	e->rcpt = z2 + 1;
	return 0;
}

struct gl_walk {
	int (*fn)(const struct greylist_entry *e, void *arg);
	void *arg;
};

/* One stored entry as the caller sees it; junk is skipped, not shown. */
static int gl_visit(const char *key, size_t klen, const char *val, size_t vlen, void *p)
{
	struct gl_walk *w = p;
	struct greylist_entry e;
	struct gl_value v;

	if (gl_split(key, klen, &e) != 0 || gl_parse(val, vlen, &v) != 0)
		return 0;
	e.first = (time_t)v.first;
	e.last = (time_t)v.last;
	e.passes = v.passes;
	return w->fn(&e, w->arg);
}

int greylist_foreach_state(struct state *st,
    int (*fn)(const struct greylist_entry *e, void *arg), void *arg)
{
	struct gl_walk w = { fn, arg };

	return state_table_foreach(st, GREYLIST_FILE, GL_VALUE_MAX, gl_visit, &w);
}

int greylist_foreach(struct relaydb *db, int (*fn)(const struct greylist_entry *e, void *arg),
    void *arg)
{
	struct state *st = state_wrap_relaydb(db);
	int r = st != NULL ? greylist_foreach_state(st, fn, arg) : -1;

	state_free(st);
	return r;
}

/* The keys to remove, gathered by a walk, deleted in batches. */
struct gl_doomed {
	const char *net, *sender, *rcpt;
	long long expired_at;
	long expire;
	char **keys;
	size_t *lens;
	size_t n, cap, at, batch;
	long removed;
};

/* Is an entry expired at a->expired_at (always when not asked)? */
static int gl_doomed_expired(const struct gl_doomed *a, const char *val, size_t vlen)
{
	struct gl_value v;

	if (a->expired_at <= 0)
		return 1;
	return gl_parse(val, vlen, &v) != 0 || v.last + a->expire <= a->expired_at;
}

/* Note a key to remove; the deletion comes after the walk, in batches. */
static int gl_collect(const char *key, size_t klen, const char *val, size_t vlen, void *p)
{
	struct gl_doomed *a = p;
	struct greylist_entry e;

	if (gl_split(key, klen, &e) == 0) {
		if (a->net != NULL && strcmp(e.net, a->net) != 0)
			return 0;
		if (a->sender != NULL && (e.sender == NULL || strcmp(e.sender, a->sender) != 0 ||
		    strcmp(e.rcpt, a->rcpt) != 0))
			return 0;
	}
	if (!gl_doomed_expired(a, val, vlen))
		return 0;
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->keys = xreallocarray(a->keys, a->cap, sizeof *a->keys);
		a->lens = xreallocarray(a->lens, a->cap, sizeof *a->lens);
	}
	a->keys[a->n] = xmalloc(klen);
	memcpy(a->keys[a->n], key, klen);
	a->lens[a->n++] = klen;
	return 0;
}

/* Delete one batch; an entry refreshed since the walk stays (expiry). */
static int gl_delete_batch(struct state_txn *t, void *p)
{
	struct gl_doomed *a = p;
	long removed = 0;

	for (size_t i = a->at; i < a->at + a->batch; i++) {
		char buf[GL_VALUE_MAX];
		size_t len = 0;
		int r = state_txn_get(t, a->keys[i], a->lens[i], buf, sizeof buf, &len);

		if (r < 0)
			return -1;
		if (r == 0 || (len <= sizeof buf && !gl_doomed_expired(a, buf, len)))
			continue;
		if ((r = state_txn_del(t, a->keys[i], a->lens[i])) < 0)
			return -1;
		removed += r;
	}
	return (int)removed;
}

long greylist_remove(struct relaydb *db, const char *net, const char *sender,
    const char *rcpt, time_t expired_at, long expire)
{
	struct state *st = state_wrap_relaydb(db);
	long r = st != NULL ? greylist_remove_state(st, net, sender, rcpt, expired_at, expire) : -1;

	state_free(st);
	return r;
}

long greylist_remove_state(struct state *st, const char *net, const char *sender,
    const char *rcpt, time_t expired_at, long expire)
{
	struct gl_doomed a;
	char skey[GREYLIST_ADDR_MAX + 1], rkey[GREYLIST_ADDR_MAX + 1];
	long rc = 0;

	memset(&a, 0, sizeof a);
	a.net = net;
	if (sender != NULL && rcpt != NULL) {
		if (greylist_sender_key(sender, skey, sizeof skey) != 0 ||
		    str_copy(rkey, sizeof rkey, rcpt) != 0)
			return 0;
		for (char *p = rkey; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		a.sender = skey;
		a.rcpt = rkey;
	}
	a.expired_at = (long long)expired_at;
	a.expire = expire;
	/* Every value, junk included: a removal must be able to clear it. */
	if (state_table_foreach(st, GREYLIST_FILE, 65536, gl_collect, &a) != 0)
		rc = -1;
	for (a.at = 0; rc == 0 && a.at < a.n; a.at += a.batch) {
		int r;

		a.batch = a.n - a.at < GL_BATCH ? a.n - a.at : GL_BATCH;
		if ((r = state_table_run(st, GREYLIST_FILE, expire, gl_delete_batch, &a)) < 0)
			rc = -1;
		else
			a.removed += r;
	}
	for (size_t i = 0; i < a.n; i++)
		free(a.keys[i]);
	free(a.keys);
	free(a.lens);
	return rc < 0 ? -1 : a.removed;
}
