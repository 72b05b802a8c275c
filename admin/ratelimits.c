/*
 * ratelimits.c: ispmailctl ratelimit list|reset (admin/ratelimits.h). The
 * counting itself is in the session (smtpd) and common/ratelimit.c.
 */
#include "config.h"

#include <string.h>

#include "buf.h"
#include "net.h"
#include "ratelimit.h"
#include "ratelimits.h"

struct list_ctx {
	const struct conf *c;
	time_t now;
	int (*each)(const struct admin_rate *r, void *arg);
	void *arg;
};

/* One stored counter as the admin sees it; idle ones are skipped. */
static int list_one(const char *key, const struct rate_counter *rc, void *arg)
{
	const struct list_ctx *x = arg;
	const struct limits_conf *l = &x->c->limits;
	struct rate_counter now = *rc;
	struct admin_rate r;

	rate_roll(&now, (long long)x->now, l->outbound_window);
	r.count = rate_estimate(&now, (long long)x->now, l->outbound_window);
	if (r.count == 0)
		return 0;
	if (strncmp(key, "user:", 5) == 0) {
		r.kind = "user";
		r.name = key + 5;
		r.limit = l->outbound_per_user_hour;
	} else if (strncmp(key, "addr:", 5) == 0) {
		r.kind = "address";
		r.name = key + 5;
		r.limit = l->outbound_per_ip_hour;
	} else {
		return 0;
	}
	return x->each(&r, x->arg);
}

int admin_ratelimit_list(struct state *st, const struct conf *c, time_t now,
    int (*each)(const struct admin_rate *r, void *arg), void *arg)
{
	struct list_ctx x = { c, now, each, arg };

	return state_rate_foreach(st, list_one, &x);
}

int admin_ratelimit_reset(struct state *st, const struct conf *c, const char *who,
    char *err, size_t errlen)
{
	char name[NET_ADDR_MAX], key[RELAYDB_RATE_KEY_MAX + 1];
	int is_addr = net_relay_key_parse(who, c->relay.ipv6_prefix, name,
	    sizeof name) == 0;
	int r;

	if (rate_key(key, sizeof key, is_addr ? "addr" : "user", is_addr ? name : who) != 0) {
		(void)str_copy(err, errlen, "not an IP address or a user's address");
		return -1;
	}
	if (!is_addr && strchr(who, '@') == NULL) {
		(void)str_copy(err, errlen, "not an IP address or a user's address");
		return -1;
	}
	if ((r = state_rate_reset(st, key)) < 0)
		(void)str_copy(err, errlen, state_strerror(st));
	return r;
}
