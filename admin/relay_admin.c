/*
 * relay_admin.c: the relay table for administrators (admin/relay_admin.h),
 * over common/relaydb.c. Keys come from net_relay_key_parse, so an address
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
	time_t now;
	long ttl;
	int (*each)(const struct admin_relay *r, void *arg);
	void *arg;
};

/* One stored entry -> what an administrator reads: time left, not the stamp alone. */
static int list_one(const char *key, time_t when, const char *user, void *arg)
{
	const struct list_ctx *ctx = arg;
	struct admin_relay r;
	long long left = (long long)when + ctx->ttl - (long long)ctx->now;

	r.key = key;
	r.authorized = when;
	r.expires_in = left > 0 ? left : 0;
	r.user = user != NULL ? user : "";
	return ctx->each(&r, ctx->arg);
}

int admin_relay_list(struct relaydb *db, const struct conf *c, time_t now,
    int (*each)(const struct admin_relay *r, void *arg), void *arg, char *err, size_t errlen)
{
	struct list_ctx ctx = { now, c->relay.authorization_ttl, each, arg };

	if (relaydb_foreach(db, list_one, &ctx) == -1) {
		seterr(err, errlen, "relay list: %s", relaydb_strerror(db));
		return -1;
	}
	return 0;
}

int admin_relay_add(struct relaydb *db, const struct conf *c, const char *address,
    time_t now, const char *actor, char *err, size_t errlen)
{
	char key[NET_ADDR_MAX];

	if (admin_relay_key(c, address, key, sizeof key, err, errlen) == -1)
		return -1;
	if (relaydb_authorize(db, key, ADMIN_RELAY_USER, now) == -1) {
		seterr(err, errlen, "relay add %s: %s", key, relaydb_strerror(db));
		return -1;
	}
	log_info("admin action=relay-add address=%s by=%s", key, log_q(actor));
	return 0;
}

int admin_relay_delete(struct relaydb *db, const struct conf *c, const char *address,
    const char *actor, char *err, size_t errlen)
{
	char key[NET_ADDR_MAX];
	int r;

	if (admin_relay_key(c, address, key, sizeof key, err, errlen) == -1)
		return -1;
	r = relaydb_delete(db, key);
	if (r == -1)
		seterr(err, errlen, "relay del %s: %s", key, relaydb_strerror(db));
	else if (r == 0)
		seterr(err, errlen, "no relay entry for %s", key);
	if (r != 1)
		return -1;
	log_info("admin action=relay-delete address=%s by=%s", key, log_q(actor));
	return 0;
}

int admin_relay_expire(struct relaydb *db, const struct conf *c, time_t now,
    const char *actor, long *removed, char *err, size_t errlen)
{
	*removed = relaydb_expire(db, now, c->relay.authorization_ttl);
	if (*removed == -1) {
		seterr(err, errlen, "relay expire: %s", relaydb_strerror(db));
		return -1;
	}
	log_info("admin action=relay-expire removed=%ld by=%s", *removed, log_q(actor));
	/* The sending counters that count nothing any more go too. */
	if (relaydb_rate_expire(db, now, c->limits.outbound_window) == -1) {
		seterr(err, errlen, "relay expire: rate counters: %s", relaydb_strerror(db));
		return -1;
	}
	/* And who got a vacation reply more than its window ago. */
	if (vacation_memory_expire(db, now, VACATION_WINDOW) == -1) {
		seterr(err, errlen, "relay expire: vacation memory: %s", relaydb_strerror(db));
		return -1;
	}
	return 0;
}
