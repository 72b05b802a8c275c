/*
 * relay_admin.c: the relay table for administrators (admin/relay_admin.h),
 * over the shared state (state/state.h: Berkeley DB or Redis). Keys come from net_relay_key_parse, so an address
 * an administrator types names the same entry a POP3 login made.
 */
#include "config.h"

#include "log.h"
#include "net.h"
#include "relay_admin.h"
#include "sys.h"
#include "vacation.h"

int admin_relay_key(const struct conf *c, const char *typed, char *key, size_t len,
    char *err, size_t errlen)
{
	if (net_relay_key_parse(typed, c->relay.ipv6_prefix, key, len) == -1) {
		seterr(err, errlen, "not an IP address (or an IPv6 /%u network): %s",
		    c->relay.ipv6_prefix, log_q(typed));
		return -1;
	}
	return 0;
}

struct list_ctx {
	int (*each)(const struct admin_relay *r, void *arg);
	void *arg;
};

/* One stored entry -> what an administrator reads: time left, not the stamp alone. */
static int list_one(const struct state_auth_entry *e, void *arg)
{
	const struct list_ctx *ctx = arg;
	struct admin_relay r;

	r.key = e->key;
	r.authorized = e->when;
	r.expires_in = e->left > 0 ? e->left : 0;
	r.user = e->user != NULL ? e->user : "";
	return ctx->each(&r, ctx->arg);
}

int admin_relay_list(struct state *st, const struct conf *c, time_t now,
    int (*each)(const struct admin_relay *r, void *arg), void *arg, char *err, size_t errlen)
{
	struct list_ctx ctx = { each, arg };

	(void)c;
	if (state_auth_foreach(st, now, list_one, &ctx) == -1) {
		seterr(err, errlen, "relay list: %s", state_strerror(st));
		return -1;
	}
	return 0;
}

int admin_relay_add(struct state *st, const struct conf *c, const char *address,
    time_t now, const char *actor, char *err, size_t errlen)
{
	char key[NET_ADDR_MAX];

	if (admin_relay_key(c, address, key, sizeof key, err, errlen) == -1)
		return -1;
	if (state_auth_put(st, key, ADMIN_RELAY_USER, now) == -1) {
		seterr(err, errlen, "relay add %s: %s", key, state_strerror(st));
		return -1;
	}
	log_info("admin action=relay-add address=%s by=%s", key, log_q(actor));
	return 0;
}

int admin_relay_delete(struct state *st, const struct conf *c, const char *address,
    const char *actor, char *err, size_t errlen)
{
	char key[NET_ADDR_MAX];
	int r;

	if (admin_relay_key(c, address, key, sizeof key, err, errlen) == -1)
		return -1;
	r = state_auth_del(st, key);
	if (r == -1)
		seterr(err, errlen, "relay del %s: %s", key, state_strerror(st));
	else if (r == 0)
		seterr(err, errlen, "no relay entry for %s", key);
	if (r != 1)
		return -1;
	log_info("admin action=relay-delete address=%s by=%s", key, log_q(actor));
	return 0;
}

int admin_relay_expire(struct state *st, const struct conf *c, time_t now,
    const char *actor, long *removed, char *err, size_t errlen)
{
	struct relaydb *db;

	(void)c;
	*removed = state_auth_expire(st, now);
	if (*removed == -1) {
		seterr(err, errlen, "relay expire: %s", state_strerror(st));
		return -1;
	}
	log_info("admin action=relay-expire removed=%ld by=%s", *removed, log_q(actor));
	/* The sending counters that count nothing any more go too. */
	if (state_rate_expire(st, now) == -1) {
		seterr(err, errlen, "relay expire: rate counters: %s", state_strerror(st));
		return -1;
	}
	/* And who got a vacation reply more than its window ago (kept per node). */
	if ((db = state_relaydb(st)) == NULL ||
	    vacation_memory_expire(db, now, VACATION_WINDOW) == -1) {
		seterr(err, errlen, "relay expire: vacation memory: %s",
		    db != NULL ? relaydb_strerror(db) : state_strerror(st));
		return -1;
	}
	return 0;
}
