/*
 * net.c: IPv4/IPv6 addresses and CIDR networks, the client's class
 * (docs/PROTOCOL.md, relay policy) and the text an address has in logs and in
 * the relay DB (docs/PROTOCOL.md, files). An IPv4-mapped IPv6 address (RFC
 * 4291 §2.5.5.2) is the IPv4 client it stands for, everywhere: in matching,
 * in text and as a key.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "net.h"

/* Longest address part we hand to inet_pton (an IPv6 address with an IPv4 tail). */
#define NET_TEXT_MAX 64

static const unsigned char v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* Bits in an address of the family: the largest prefix. */
static unsigned net_family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

/* Clear every bit after the first prefix bits of a 16-byte address. */
static void net_mask(unsigned char addr[16], unsigned prefix)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned bit = i * 8;

		if (bit >= prefix)
			addr[i] = 0;
		else if (prefix - bit < 8)
			addr[i] &= (unsigned char)(0xff << (8 - (prefix - bit)));
	}
}

/*
 * Turn ::ffff:a.b.c.d into a.b.c.d. A mapped network keeps its meaning
 * when its prefix covers the 96 mapping bits; a shorter one also spans
 * real IPv6 space and stays IPv6.
 */
static void net_unmap(struct cidr *c)
{
	if (c->family != AF_INET6 || c->prefix < 96 ||
	    memcmp(c->addr, v4mapped_prefix, sizeof v4mapped_prefix) != 0)
		return;
	memmove(c->addr, c->addr + 12, 4);
	memset(c->addr + 4, 0, 12);
	c->family = AF_INET;
	c->prefix -= 96;
}

/* A bare literal into *out as a host route; -1 when it is neither family. */
static int net_literal_parse(const char *text, struct cidr *out)
{
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, text, out->addr) == 1) {
		out->family = AF_INET;
		out->prefix = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, text, out->addr) == 1) {
		out->family = AF_INET6;
		out->prefix = 128;
		return 0;
	}
	memset(out, 0, sizeof *out);
	return -1;
}

/* The reason for a refusal, when the caller wants one. */
static void net_err(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		(void)str_copy(err, errlen, msg);
}

/*
 * A prefix length is one to three decimal digits and nothing else: no
 * sign, no space, no "0x" (strtoul would take all of these).
 */
static int net_prefix_parse(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 3)
			return -1;
		v = v * 10 + (unsigned)(s[n] - '0');
	}
	if (n == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

int net_cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen)
{
	char addr[NET_TEXT_MAX];
	const char *slash;
	size_t alen;
	struct cidr c;
	unsigned char masked[16];

	memset(out, 0, sizeof *out);
	if (text == NULL || *text == '\0') {
		net_err(err, errlen, "empty network");
		return -1;
	}
	slash = strchr(text, '/');
	alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof addr) {
		net_err(err, errlen, "not an IPv4 or IPv6 address");
		return -1;
	}
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	if (net_literal_parse(addr, &c) < 0) {
		net_err(err, errlen, "not an IPv4 or IPv6 address");
		return -1;
	}
	if (slash != NULL) {
		unsigned max = net_family_bits(c.family);

		if (net_prefix_parse(slash + 1, max, &c.prefix) < 0) {
			net_err(err, errlen, max == 32 ?
			    "prefix length is not a number from 0 to 32" :
			    "prefix length is not a number from 0 to 128");
			return -1;
		}
	}
	memcpy(masked, c.addr, sizeof masked);
	net_mask(masked, c.prefix);
	if (memcmp(masked, c.addr, sizeof masked) != 0) {
		/* "192.0.2.1/24": say which network was probably meant. */
		char hint[NET_TEXT_MAX], msg[160];

		memcpy(c.addr, masked, sizeof masked);
		net_unmap(&c);
		net_cidr_text(&c, hint, sizeof hint);
		if (str_format(msg, sizeof msg,
		    "host bits set beyond the prefix (did you mean %s?)", hint) < 0)
			(void)str_copy(msg, sizeof msg, "host bits set beyond the prefix");
		net_err(err, errlen, msg);
		return -1;
	}
	net_unmap(&c);
	*out = c;
	return 0;
}

int net_addr_parse(const char *text, struct cidr *out)
{
	if (text == NULL || net_literal_parse(text, out) < 0)
		return -1;
	net_unmap(out);
	return 0;
}

int net_addr_from_sockaddr(const struct sockaddr *sa, socklen_t salen, struct cidr *out)
{
	memset(out, 0, sizeof *out);
	if (sa == NULL)
		goto bad;
	if (sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		out->family = AF_INET;
		memcpy(out->addr, &sin->sin_addr, 4);
		out->prefix = 32;
		return 0;
	}
	if (sa->sa_family == AF_INET6 && salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		out->family = AF_INET6;
		memcpy(out->addr, &sin6->sin6_addr, 16);
		out->prefix = 128;
		net_unmap(out);
		return 0;
	}
bad:
	errno = EAFNOSUPPORT;
	return -1;
}

/* Mask the address to the network's prefix and compare: no partial-byte tricks. */
int net_cidr_match(const struct cidr *net, const struct cidr *addr)
{
	unsigned char a[16];

	if (net->family != addr->family)
		return 0;
	memcpy(a, addr->addr, sizeof a);
	net_mask(a, net->prefix);
	return memcmp(a, net->addr, sizeof a) == 0;
}

int net_list_match(const struct netlist *list, const struct cidr *addr)
{
	if (list == NULL)
		return 0;
	for (size_t i = 0; i < list->n; i++)
		if (net_cidr_match(&list->v[i], addr))
			return 1;
	return 0;
}

void net_list_free(struct netlist *list)
{
	free(list->v);
	list->v = NULL;
	list->n = 0;
}

enum client_class net_client_class(const struct netlist *trusted,
    const struct netlist *customer, const struct cidr *addr)
{
	if (net_list_match(trusted, addr))
		return CLIENT_TRUSTED;
	if (net_list_match(customer, addr))
		return CLIENT_CUSTOMER;
	return CLIENT_OUTSIDE;
}

const char *net_client_class_name(enum client_class c)
{
	switch (c) {
	case CLIENT_TRUSTED:
		return "trusted";
	case CLIENT_CUSTOMER:
		return "customer";
	case CLIENT_OUTSIDE:
		return "outside";
	}
	return "outside";
}

/* inet_ntop into out; an empty string when it does not fit. */
static int net_ntop(int family, const unsigned char *addr, char *out, size_t outlen)
{
	char tmp[INET6_ADDRSTRLEN];

	if (outlen == 0)
		return -1;
	if (inet_ntop(family, addr, tmp, sizeof tmp) == NULL ||
	    str_copy(out, outlen, tmp) < 0) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

void net_addr_text(const struct cidr *addr, char *out, size_t outlen)
{
	(void)net_ntop(addr->family, addr->addr, out, outlen);
}

void net_cidr_text(const struct cidr *net, char *out, size_t outlen)
{
	char a[INET6_ADDRSTRLEN];

	if (outlen == 0)
		return;
	if (net_ntop(net->family, net->addr, a, sizeof a) < 0 ||
	    str_format(out, outlen, "%s/%u", a, net->prefix) < 0)
		out[0] = '\0';
}

/*
 * IPv6 clients get a whole prefix each (SLAAC and privacy addresses change
 * the low 64 bits), so a POP3 login authorizes the prefix (docs/PROTOCOL.md,
 * files).
 */
void net_relay_key(const struct cidr *addr, unsigned ipv6_prefix, char *out, size_t outlen)
{
	struct cidr net;

	if (addr->family == AF_INET) {
		net_addr_text(addr, out, outlen);
		return;
	}
	net = *addr;
	net.prefix = ipv6_prefix > 128 ? 128 : ipv6_prefix;
	net_mask(net.addr, net.prefix);
	net_cidr_text(&net, out, outlen);
}

int net_relay_key_parse(const char *text, unsigned ipv6_prefix, char *out, size_t outlen)
{
	struct cidr c;

	if (outlen > 0)
		out[0] = '\0';
	if (net_cidr_parse(text, &c, NULL, 0) < 0)
		return -1;
	if (ipv6_prefix > 128)
		ipv6_prefix = 128;
	/*
	 * An IPv4 key is one host. An IPv6 key is one ipv6_prefix network:
	 * anything inside it names it, anything wider would name several.
	 */
	if (c.family == AF_INET && c.prefix != 32)
		return -1;
	if (c.family == AF_INET6 && c.prefix < ipv6_prefix)
		return -1;
	net_relay_key(&c, ipv6_prefix, out, outlen);
	return out[0] != '\0' ? 0 : -1;
}

int net_addr_equal(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family &&
	    memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}
