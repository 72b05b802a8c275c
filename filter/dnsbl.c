/*
 * dnsbl.c: DNS blocklists (RFC 5782): the query name, the meaning of an
 * answer (127.255.255.0/24 is the zone refusing us, as Spamhaus answers
 * queries from public resolvers, never a listing), and the RCPT check
 * with its exemptions. Lookups go through common/dns.c's resolver, with
 * its timeouts and dns.nameserver.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "dnsbl.h"
#include "log.h"

#define DNSBL_MAX_A 8

/* An IPv4 address as 4 bytes, an IPv4-mapped IPv6 one too; 4, 16 or -1. */
static int dnsbl_addr_bytes(const char *addr, unsigned char out[16])
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (inet_pton(AF_INET, addr, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, addr, out) != 1)
		return -1;
	if (memcmp(out, mapped, sizeof mapped) == 0) {
		memmove(out, out + 12, 4);
		return 4;
	}
	return 16;
}

int dnsbl_query_name(const char *addr, const char *zone, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char a[16];
	struct buf b = BUF_INIT;
	int len = dnsbl_addr_bytes(addr, a), rc;

	if (len < 0 || zone == NULL || *zone == '\0')
		return -1;
	buf_appends(&b, "");
	if (len == 4) {
		buf_printf(&b, "%u.%u.%u.%u.", a[3], a[2], a[1], a[0]);
	} else {
		for (int i = 15; i >= 0; i--)
			buf_printf(&b, "%c.%c.", hex[a[i] & 0xf], hex[a[i] >> 4]);
	}
	buf_appends(&b, zone);
	rc = b.len <= 253 && str_copy(out, outlen, b.s) == 0 ? 0 : -1;
	buf_free(&b);
	return rc;
}

enum dnsbl_result dnsbl_classify(const struct in_addr *a, size_t n, size_t *which)
{
	*which = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = ntohl(a[i].s_addr);

		if ((v >> 24) == 127 && (v >> 8) != 0x7fffff) {
			*which = i;
			return DNSBL_LISTED;
		}
	}
	return n > 0 ? DNSBL_ERROR_ANSWER : DNSBL_NOT_LISTED;
}

enum dnsbl_result dnsbl_check_zone(struct dns_resolver *r, const char *addr,
    const char *zone, int want_reason, struct dnsbl_answer *out)
{
	struct in_addr a[DNSBL_MAX_A];
	char name[300], err[512];
	size_t n = 0, which;

	memset(out, 0, sizeof *out);
	(void)str_copy(out->zone, sizeof out->zone, zone);
	if (dnsbl_query_name(addr, zone, name, sizeof name) != 0) {
		(void)str_copy(out->err, sizeof out->err, "not an IP address, or the name is too long");
		return out->result = DNSBL_BAD_INPUT;
	}
	switch (dns_lookup_a(r, name, a, DNSBL_MAX_A, &n, out->err, sizeof out->err)) {
	case DNS_OK:
		break;
	case DNS_TEMP:
		return out->result = DNSBL_NO_ANSWER;
	default:
		out->err[0] = '\0';
		return out->result = DNSBL_NOT_LISTED;
	}
	out->result = dnsbl_classify(a, n, &which);
	(void)inet_ntop(AF_INET, &a[which], out->answer, sizeof out->answer);
	if (out->result == DNSBL_ERROR_ANSWER)
		(void)str_format(out->err, sizeof out->err, "%s: answer %s is an error code, "
		    "not a listing", name, out->answer);
	if (out->result == DNSBL_LISTED && want_reason &&
	    dns_lookup_txt(r, name, out->reason, sizeof out->reason, err, sizeof err) != DNS_OK)
		out->reason[0] = '\0';
	return out->result;
}

int dnsbl_rcpt_exempt(const struct conf *c, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');
	size_t local = at != NULL ? (size_t)(at - rcpt) : strlen(rcpt);

	if (at == NULL)
		return strcasecmp(rcpt, "postmaster") == 0;
	if (!((local == 10 && strncasecmp(rcpt, "postmaster", 10) == 0) ||
	    (local == 5 && strncasecmp(rcpt, "abuse", 5) == 0)))
		return 0;
	return domain_in_list(c->domains, c->ndomains, at + 1, strlen(at + 1));
}

int dnsbl_client_checked(enum client_class cls, int authorized)
{
	return cls == CLIENT_OUTSIDE && !authorized;
}

/* One line per zone that did not give a plain answer, and per listing. */
static void dnsbl_log(const char *addr, const struct dnsbl_answer *a)
{
	switch (a->result) {
	case DNSBL_LISTED:
		log_info("dnsbl client=%s zone=%s answer=%s reason=%s", addr, a->zone,
		    a->answer, a->reason[0] ? log_qtext(a->reason) : "-");
		break;
	case DNSBL_ERROR_ANSWER:
		log_warn("dnsbl client=%s zone=%s result=error-answer answer=%s "
		    "(the zone refuses our queries; not a listing)", addr, a->zone, a->answer);
		break;
	case DNSBL_NO_ANSWER:
		log_warn("dnsbl client=%s zone=%s result=no-answer error=%s", addr, a->zone,
		    log_qtext(a->err));
		break;
	case DNSBL_BAD_INPUT:
		log_warn("dnsbl client=%s zone=%s result=bad-input error=%s", addr, a->zone,
		    log_qtext(a->err));
		break;
	default:
		break;
	}
}

enum dnsbl_verdict dnsbl_rcpt_check(struct dns_resolver *r, const struct conf *c,
    struct dnsbl_cache *cache, enum client_class cls, int authorized, const char *addr,
    const char *rcpt, struct dnsbl_answer *ans)
{
	if (!dnsbl_client_checked(cls, authorized) || c->dnsbl.nzones == 0 || r == NULL ||
	    dnsbl_rcpt_exempt(c, rcpt)) {
		if (ans != NULL)
			memset(ans, 0, sizeof *ans);
		return DNSBL_PASS;
	}
	if (!cache->done) {
		for (size_t i = 0; i < c->dnsbl.nzones; i++) {
			dnsbl_check_zone(r, addr, c->dnsbl.zones[i], 1, &cache->ans);
			dnsbl_log(addr, &cache->ans);
			if (cache->ans.result == DNSBL_LISTED)
				break;
		}
		cache->done = 1;
	}
	if (ans != NULL)
		*ans = cache->ans;
	return cache->ans.result == DNSBL_LISTED ? DNSBL_BLOCK : DNSBL_PASS;
}
