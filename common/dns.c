/*
 * dns.c: the delivery targets of a mail domain: MX by preference with equal
 * preferences shuffled and implicit MX (RFC 5321 §5.1), null MX (RFC 7505),
 * address literals (RFC 5321 §4.1.3). libresolv's res_nquery on our own state.
 */
#include "config.h"

#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "dns.h"

struct dns_resolver {
	struct __res_state res;
	uint64_t rng;			/* xorshift state for the MX shuffle */
	char why[512];			/* the last failed query, for err */
	unsigned char answer[65536];	/* the largest DNS message */
};

/* How one query ended. */
enum dns_q { Q_OK, Q_NODATA, Q_NXDOMAIN, Q_TEMP };

struct dns_mx {
	char host[256];
	int pref;
	uint64_t key;		/* random: orders equal preferences */
};

/* Not for secrets: spreads load over equal-preference MX hosts. */
static uint64_t dns_random(struct dns_resolver *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng;
}

#ifdef __GLIBC__
/* Drop the servers res_ninit read, IPv6 ones included (malloc'd by glibc). */
static void dns_forget_servers(struct __res_state *res)
{
	for (int i = 0; i < res->nscount && i < MAXNS; i++) {
		free(res->_u._ext.nsaddrs[i]);
		res->_u._ext.nsaddrs[i] = NULL;
	}
	res->nscount = 0;
}
#endif

/*
 * Our own res_state, so dns.nameserver can replace the system's servers
 * without touching the process-wide _res.
 */
struct dns_resolver *dns_resolver_new(const char *nameserver, char *err, size_t errlen)
{
	struct dns_resolver *r = xcalloc(1, sizeof *r);
	char addr[64];
	int port;
	struct in_addr a4;
	struct in6_addr a6;

	if (res_ninit(&r->res) < 0) {
		str_format(err, errlen, "res_ninit failed");
		free(r);
		return NULL;
	}
	r->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uintptr_t)r;
	if (r->rng == 0)
		r->rng = 0x9e3779b97f4a7c15ULL;
	if (nameserver == NULL || *nameserver == '\0')
		return r;
	if (conf_nameserver_parse(nameserver, addr, sizeof addr, &port) < 0) {
		str_format(err, errlen, "bad nameserver \"%s\"", nameserver);
		goto fail;
	}
#ifdef __GLIBC__
	dns_forget_servers(&r->res);
	if (inet_pton(AF_INET, addr, &a4) == 1) {
		struct sockaddr_in *sin = &r->res.nsaddr_list[0];

		memset(sin, 0, sizeof *sin);
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr = a4;
	} else if (inet_pton(AF_INET6, addr, &a6) == 1) {
		/* glibc keeps IPv6 servers beside nsaddr_list, freed by res_nclose. */
		struct sockaddr_in6 *sin6 = xcalloc(1, sizeof *sin6);

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sin6->sin6_addr = a6;
		r->res.nsaddr_list[0].sin_family = 0;
		r->res._u._ext.nsaddrs[0] = sin6;
	} else {
		str_format(err, errlen, "bad nameserver \"%s\"", nameserver);
		goto fail;
	}
	r->res.nscount = 1;
	r->res.retrans = 2;
	r->res.retry = 2;
#ifdef RES_NORELOAD
	r->res.options |= RES_NORELOAD;	/* no reload from /etc/resolv.conf */
#endif
	return r;
#else
	(void)a4;
	(void)a6;
	str_format(err, errlen, "dns.nameserver needs glibc's resolver");
#endif
fail:
	res_nclose(&r->res);
	free(r);
	return NULL;
}

void dns_resolver_free(struct dns_resolver *r)
{
	if (r == NULL)
		return;
	res_nclose(&r->res);
	free(r);
}

/* Ask for name/type; the answer is in r->answer, its length in *len. */
static enum dns_q dns_query(struct dns_resolver *r, const char *name, ns_type type, int *len)
{
	int h;

	errno = 0;
	*len = res_nquery(&r->res, name, ns_c_in, type, r->answer, sizeof r->answer);
	if (*len >= 0) {
		if (*len > (int)sizeof r->answer)
			*len = (int)sizeof r->answer;
		return Q_OK;
	}
	h = r->res.res_h_errno;
	(void)str_format(r->why, sizeof r->why, "%s type=%s: %s", name,
	    type == ns_t_mx ? "MX" : type == ns_t_a ? "A" : type == ns_t_txt ? "TXT" : "AAAA",
	    h == HOST_NOT_FOUND ? "no such domain" : h == NO_DATA ? "no records" :
	    errno == ETIMEDOUT ? "timed out" : errno == ECONNREFUSED ?
	    "connection refused" : h == TRY_AGAIN ? "server failure" : "refused or bad reply");
	/* RFC 5321 §5.1: only an authoritative "no" is permanent. */
	return h == HOST_NOT_FOUND ? Q_NXDOMAIN : h == NO_DATA ? Q_NODATA : Q_TEMP;
}

/* One target: the address with the port, and where it came from. */
static void dns_target_set(struct dns_target *t, const char *host, int pref, int family,
    const void *addr, int port)
{
	memset(t, 0, sizeof *t);
	(void)str_copy(t->host, sizeof t->host, host);
	t->pref = pref;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&t->addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, addr, 4);
		t->addrlen = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t->addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, addr, 16);
		t->addrlen = sizeof *sin6;
	}
}

/*
 * "[192.0.2.1]", "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3) and, with bare,
 * a plain address: 1 with the target set, 0 for a name, -1 for a bad literal.
 */
static int dns_literal(const char *text, int bare, int port, struct dns_target *t)
{
	char in[64];
	size_t len = strlen(text);
	unsigned char a[16];

	if (text[0] != '[') {
		if (!bare)
			return 0;
		if (inet_pton(AF_INET, text, a) == 1)
			dns_target_set(t, text, 0, AF_INET, a, port);
		else if (inet_pton(AF_INET6, text, a) == 1)
			dns_target_set(t, text, 0, AF_INET6, a, port);
		else
			return 0;
		return 1;
	}
	if (len < 3 || text[len - 1] != ']' || len - 2 >= sizeof in)
		return -1;
	memcpy(in, text + 1, len - 2);
	in[len - 2] = '\0';
	if (strncasecmp(in, "IPv6:", 5) == 0 && inet_pton(AF_INET6, in + 5, a) == 1)
		dns_target_set(t, text, 0, AF_INET6, a, port);
	else if (inet_pton(AF_INET, in, a) == 1)
		dns_target_set(t, text, 0, AF_INET, a, port);
	else
		return -1;
	return 1;
}

/*
 * Append host's A then AAAA addresses (at most DNS_MAX_HOST_ADDRS) to
 * out[*n..). Q_OK when any was added, else how the lookups failed.
 */
static enum dns_q dns_addrs(struct dns_resolver *r, const char *host, int pref, int port,
    struct dns_target *out, size_t *n)
{
	static const ns_type types[] = { ns_t_a, ns_t_aaaa };
	size_t added = 0;
	int temp = 0, nx = 0, len;

	for (size_t i = 0; i < 2 && *n < DNS_MAX_TARGETS; i++) {
		enum dns_q q = dns_query(r, host, types[i], &len);
		size_t want = types[i] == ns_t_a ? 4 : 16;
		ns_msg msg;
		ns_rr rr;

		temp |= q == Q_TEMP;
		nx += q == Q_NXDOMAIN;
		if (q != Q_OK || ns_initparse(r->answer, len, &msg) < 0)
			continue;
		for (int k = 0; k < ns_msg_count(msg, ns_s_an); k++) {
			if (*n >= DNS_MAX_TARGETS || added >= DNS_MAX_HOST_ADDRS ||
			    ns_parserr(&msg, ns_s_an, k, &rr) < 0)
				break;
			if (ns_rr_type(rr) != types[i] || ns_rr_class(rr) != ns_c_in ||
			    ns_rr_rdlen(rr) != want)
				continue;	/* the CNAMEs on the way */
			dns_target_set(&out[(*n)++], host, pref,
			    want == 4 ? AF_INET : AF_INET6, ns_rr_rdata(rr), port);
			added++;
		}
	}
	if (added > 0)
		return Q_OK;
	return temp ? Q_TEMP : nx == 2 ? Q_NXDOMAIN : Q_NODATA;
}

/*
 * The MX records of the answer, best first and at most DNS_MAX_MX, kept
 * by insertion. *total counts every MX record, *null_mx a "." among them.
 */
static size_t dns_mx_parse(struct dns_resolver *r, int len, struct dns_mx *mx,
    int *total, int *null_mx)
{
	char name[NS_MAXDNAME];
	size_t nmx = 0;
	ns_msg msg;
	ns_rr rr;

	if (ns_initparse(r->answer, len, &msg) < 0)
		return 0;
	for (int k = 0; k < ns_msg_count(msg, ns_s_an); k++) {
		struct dns_mx m;
		size_t i;

		if (ns_parserr(&msg, ns_s_an, k, &rr) < 0)
			break;
		if (ns_rr_type(rr) != ns_t_mx || ns_rr_class(rr) != ns_c_in ||
		    ns_rr_rdlen(rr) < 3 || ns_name_uncompress(ns_msg_base(msg),
		    ns_msg_end(msg), ns_rr_rdata(rr) + 2, name, sizeof name) < 0)
			continue;
		(*total)++;
		m.pref = ns_get16(ns_rr_rdata(rr));
		if (strcmp(name, ".") == 0 || name[0] == '\0') {
			*null_mx |= m.pref == 0;
			continue;	/* RFC 7505 §3: nothing to connect to */
		}
		if (str_copy(m.host, sizeof m.host, name) < 0)
			continue;
		m.key = dns_random(r);
		for (i = nmx; i > 0 && (mx[i - 1].pref > m.pref ||
		    (mx[i - 1].pref == m.pref && mx[i - 1].key > m.key)); i--)
			if (i < DNS_MAX_MX)
				mx[i] = mx[i - 1];
		if (i < DNS_MAX_MX) {
			mx[i] = m;
			if (nmx < DNS_MAX_MX)
				nmx++;
		}
	}
	return nmx;
}

/* The outcome of a name's own addresses: a smarthost or an implicit MX. */
static enum dns_status dns_addr_result(struct dns_resolver *r, const char *name, int port,
    struct dns_target *out, size_t *n, char *err, size_t errlen)
{
	switch (dns_addrs(r, name, 0, port, out, n)) {
	case Q_OK:
		return DNS_OK;
	case Q_TEMP:
		str_format(err, errlen, "%s: address lookup failed: %s", name, r->why);
		return DNS_TEMP;
	case Q_NXDOMAIN:
		str_format(err, errlen, "%s: no such domain", name);
		return DNS_PERM;
	default:
		str_format(err, errlen, "%s: no MX or address records", name);
		return DNS_PERM;
	}
}

/* A literal or a name resolvers accept (RFC 1035 §2.3.4: 253 octets). */
static int dns_start(const char *name, int bare, int port, struct dns_target *out,
    size_t *n, enum dns_status *st, char *err, size_t errlen)
{
	size_t len = strlen(name);
	int lit = dns_literal(name, bare, port, &out[0]);

	*n = 0;
	err[0] = '\0';
	if (lit == 0 && len > 0 && len <= 254 && strcmp(name, ".") != 0)
		return 0;
	*st = lit > 0 ? DNS_OK : DNS_PERM;
	*n = lit > 0;
	if (lit < 0)
		str_format(err, errlen, "%s: bad address literal", name);
	else if (lit == 0)
		str_format(err, errlen, "\"%s\": bad domain name", name);
	return 1;
}

enum dns_status dns_mx_targets(struct dns_resolver *r, const char *domain, int port,
    struct dns_target out[DNS_MAX_TARGETS], size_t *n, char *err, size_t errlen)
{
	struct dns_mx mx[DNS_MAX_MX];
	size_t nmx = 0;
	int len, total = 0, null_mx = 0;
	enum dns_status st;
	enum dns_q q;

	if (dns_start(domain, 0, port, out, n, &st, err, errlen))
		return st;
	q = dns_query(r, domain, ns_t_mx, &len);
	if (q == Q_NXDOMAIN) {
		str_format(err, errlen, "%s: no such domain", domain);
		return DNS_PERM;
	}
	if (q == Q_TEMP) {
		str_format(err, errlen, "%s: MX lookup failed: %s", domain, r->why);
		return DNS_TEMP;
	}
	if (q == Q_OK)
		nmx = dns_mx_parse(r, len, mx, &total, &null_mx);
	if (null_mx && total == 1) {
		str_format(err, errlen, "%s: null MX, the domain accepts no mail (RFC 7505)",
		    domain);
		return DNS_NULL_MX;
	}
	if (total == 0)
		return dns_addr_result(r, domain, port, out, n, err, errlen);
	for (size_t i = 0; i < nmx && *n < DNS_MAX_TARGETS; i++)
		(void)dns_addrs(r, mx[i].host, mx[i].pref, port, out, n);
	if (*n > 0)
		return DNS_OK;
	str_format(err, errlen, "%s: no MX host has an address (%s)", domain,
	    nmx > 0 ? r->why : "no usable MX record");
	return DNS_TEMP;
}

enum dns_status dns_host_targets(struct dns_resolver *r, const char *host, int port,
    struct dns_target out[DNS_MAX_TARGETS], size_t *n, char *err, size_t errlen)
{
	enum dns_status st;

	if (dns_start(host, 1, port, out, n, &st, err, errlen))
		return st;
	return dns_addr_result(r, host, port, out, n, err, errlen);
}

int dns_name_ok(const char *name)
{
	size_t n = strlen(name), label = 0;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (c == '.') {
			if (label == 0)
				return 0;	/* leading dot, "..": never a path */
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

/* The end of a lookup that found nothing: NXDOMAIN and no records are DNS_PERM. */
static enum dns_status dns_lookup_fail(struct dns_resolver *r, enum dns_q q, char *err,
    size_t errlen)
{
	(void)str_copy(err, errlen, r->why);
	return q == Q_TEMP ? DNS_TEMP : DNS_PERM;
}

enum dns_status dns_lookup_a(struct dns_resolver *r, const char *name, struct in_addr *out,
    size_t max, size_t *n, char *err, size_t errlen)
{
	enum dns_q q;
	ns_msg msg;
	ns_rr rr;
	int len;

	*n = 0;
	err[0] = '\0';
	if (strlen(name) > 253) {
		str_format(err, errlen, "name too long");
		return DNS_PERM;
	}
	if ((q = dns_query(r, name, ns_t_a, &len)) != Q_OK)
		return dns_lookup_fail(r, q, err, errlen);
	if (ns_initparse(r->answer, len, &msg) < 0) {
		str_format(err, errlen, "%s type=A: bad reply", name);
		return DNS_TEMP;
	}
	for (int k = 0; k < ns_msg_count(msg, ns_s_an) && *n < max; k++) {
		if (ns_parserr(&msg, ns_s_an, k, &rr) < 0)
			break;
		if (ns_rr_type(rr) != ns_t_a || ns_rr_class(rr) != ns_c_in ||
		    ns_rr_rdlen(rr) != 4)
			continue;	/* CNAMEs on the way */
		memcpy(&out[(*n)++], ns_rr_rdata(rr), 4);
	}
	if (*n > 0)
		return DNS_OK;
	str_format(err, errlen, "%s type=A: no records", name);
	return DNS_PERM;
}

enum dns_status dns_lookup_txt(struct dns_resolver *r, const char *name, char *out,
    size_t outlen, char *err, size_t errlen)
{
	enum dns_q q;
	ns_msg msg;
	ns_rr rr;
	int len;

	out[0] = '\0';
	err[0] = '\0';
	if (strlen(name) > 253) {
		str_format(err, errlen, "name too long");
		return DNS_PERM;
	}
	if ((q = dns_query(r, name, ns_t_txt, &len)) != Q_OK)
		return dns_lookup_fail(r, q, err, errlen);
	if (ns_initparse(r->answer, len, &msg) < 0) {
		str_format(err, errlen, "%s type=TXT: bad reply", name);
		return DNS_TEMP;
	}
	for (int k = 0; k < ns_msg_count(msg, ns_s_an); k++) {
		const unsigned char *p, *end;
		struct buf b = BUF_INIT;

		if (ns_parserr(&msg, ns_s_an, k, &rr) < 0)
			break;
		if (ns_rr_type(rr) != ns_t_txt || ns_rr_class(rr) != ns_c_in)
			continue;
		/* <character-string>s: a length octet, then that many octets. */
		p = ns_rr_rdata(rr);
		end = p + ns_rr_rdlen(rr);
		buf_appends(&b, "");
		while (p < end && (size_t)(end - p - 1) >= *p) {
			buf_append(&b, (const char *)p + 1, *p);
			p += 1 + *p;
		}
		(void)str_copy(out, outlen, b.s);	/* cut, as the caller asked */
		buf_free(&b);
		return DNS_OK;
	}
	str_format(err, errlen, "%s type=TXT: no records", name);
	return DNS_PERM;
}
