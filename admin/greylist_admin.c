/*
 * greylist_admin.c: ispmailctl greylist's operations over filter/greylist.h,
 * shared with the web's admin page to come.
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "greylist_admin.h"
#include "log.h"

int admin_greylist_net(const struct conf *c, const char *text, char *net, size_t len)
{
	char addr[GREYLIST_NET_MAX];
	const char *slash = strchr(text, '/');

	if (slash == NULL)
		return greylist_client_net(text, c->relay.ipv6_prefix, net, len);
	/* A network as listed: its address part must give back the same network. */
	if ((size_t)(slash - text) >= sizeof addr)
		return -1;
	memcpy(addr, text, (size_t)(slash - text));
	addr[slash - text] = '\0';
	if (greylist_client_net(addr, c->relay.ipv6_prefix, net, len) != 0)
		return -1;
	return strcmp(strchr(net, '/'), slash) == 0 ? 0 : -1;
}

/* ISO 8601 UTC, "?" when the time cannot be shown. */
static void admin_greylist_time(time_t t, char *out, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)str_copy(out, len, "?");
}

void admin_greylist_line(const struct greylist_entry *e, struct buf *out)
{
	char first[32], last[32];

	admin_greylist_time(e->first, first, sizeof first);
	admin_greylist_time(e->last, last, sizeof last);
	if (e->sender == NULL)
		buf_printf(out, "%s * * %s %s %ld", log_q(e->net), first, last, e->passes);
	else
		buf_printf(out, "%s %s %s %s %s %ld", log_q(e->net), log_qaddr(e->sender),
		    log_qaddr(e->rcpt), first, last, e->passes);
}

/* A path as typed, with or without its angle brackets. */
static const char *admin_greylist_path(const char *p, char *out, size_t len)
{
	size_t n = strlen(p);

	if (n >= 2 && p[0] == '<' && p[n - 1] == '>') {
		if (n - 2 >= len)
			return NULL;
		memcpy(out, p + 1, n - 2);
		out[n - 2] = '\0';
		return out;
	}
	return str_copy(out, len, p) == 0 ? out : NULL;
}

long admin_greylist_del(struct state *st, const struct conf *c, const char *addr,
    const char *sender, const char *rcpt, char *err, size_t errlen)
{
	char net[GREYLIST_NET_MAX], s[GREYLIST_ADDR_MAX + 1], r[GREYLIST_ADDR_MAX + 1];
	long n;

	if (admin_greylist_net(c, addr, net, sizeof net) != 0) {
		str_format(err, errlen, "not an IP address (or its greylisting network): %s",
		    log_q(addr));
		return -1;
	}
	if ((sender == NULL) != (rcpt == NULL)) {
		str_format(err, errlen, "give both sender and recipient, or neither");
		return -1;
	}
	if (sender != NULL && ((sender = admin_greylist_path(sender, s, sizeof s)) == NULL ||
	    (rcpt = admin_greylist_path(rcpt, r, sizeof r)) == NULL)) {
		str_format(err, errlen, "address too long");
		return -1;
	}
	if ((n = greylist_remove_state(st, net, sender, rcpt, 0, 0)) < 0)
		(void)str_copy(err, errlen, state_strerror(st));
	return n;
}

long admin_greylist_flush(struct state *st, char *err, size_t errlen)
{
	long n = greylist_remove_state(st, NULL, NULL, NULL, 0, 0);

	if (n < 0)
		(void)str_copy(err, errlen, state_strerror(st));
	return n;
}

long admin_greylist_expire(struct state *st, const struct conf *c, time_t now,
    char *err, size_t errlen)
{
	long n = greylist_remove_state(st, NULL, NULL, NULL, now, c->greylist.expire);

	if (n < 0)
		(void)str_copy(err, errlen, state_strerror(st));
	return n;
}
