/*
 * net.h: IPv4/IPv6 networks in CIDR notation, the client's class
 * (trusted / customer / outside) and the canonical text of a client
 * address, including the key it has in the relay DB (docs/PROTOCOL.md).
 */
#ifndef ISPMAILD_NET_H
#define ISPMAILD_NET_H

#include <stddef.h>
#include <sys/socket.h>

/* An address or network; IPv4 is kept as AF_INET with 4 significant bytes. */
struct cidr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];		/* network byte order, host bits zero */
	unsigned prefix;		/* 0..32 or 0..128 */
};

struct netlist {
	struct cidr *v;
	size_t n;
};

enum client_class {
	CLIENT_OUTSIDE = 0,
	CLIENT_CUSTOMER,
	CLIENT_TRUSTED,
};

/* Longest textual address we produce: an IPv6 address plus "/128". */
#define NET_ADDR_MAX 64

/*
 * Parse "192.0.2.0/24", "2001:db8::/32" or a bare address (a host route).
 * Host bits set beyond the prefix are an error: "192.0.2.1/24" is almost
 * always a typo for a network, and silently masking hides it.
 * "::ffff:192.0.2.0/120" is the IPv4 network 192.0.2.0/24.
 * Returns 0, or -1 with a reason in err (err may be NULL).
 */
int net_cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen);

/*
 * Client address from a sockaddr; IPv4-mapped IPv6 becomes plain IPv4.
 * -1 (errno EAFNOSUPPORT) for other families or a short salen.
 */
int net_addr_from_sockaddr(const struct sockaddr *sa, socklen_t salen, struct cidr *out);
/* Parse a bare address (no prefix), same canonicalisation. */
int net_addr_parse(const char *text, struct cidr *out);

/* Is addr inside net? Never across families (::/0 does not match IPv4). */
int net_cidr_match(const struct cidr *net, const struct cidr *addr);
int net_list_match(const struct netlist *list, const struct cidr *addr);
void net_list_free(struct netlist *list);

/* Trusted wins over customer (docs/PROTOCOL.md, relay policy). */
enum client_class net_client_class(const struct netlist *trusted,
    const struct netlist *customer, const struct cidr *addr);
const char *net_client_class_name(enum client_class c);

/* "192.0.2.7" or "2001:db8::1" (no prefix); "" when out is too small. */
void net_addr_text(const struct cidr *addr, char *out, size_t outlen);
/* "192.0.2.0/24" or "2001:db8::/32"; "" when out is too small. */
void net_cidr_text(const struct cidr *net, char *out, size_t outlen);
/*
 * The relay DB key of a client: IPv4 as "192.0.2.7", IPv6 as its
 * ipv6_prefix network, "2001:db8:1:2::/64" (docs/PROTOCOL.md, files).
 */
void net_relay_key(const struct cidr *addr, unsigned ipv6_prefix, char *out, size_t outlen);
/*
 * Canonical relay key from administrator input ("192.0.2.7",
 * "192.0.2.7/32", "2001:db8:1:2::5", "2001:db8:1:2::/64"); an IPv6 address
 * or network inside one ipv6_prefix network becomes that network. -1 when
 * it is not an address, or is a network wider than one key.
 */
int net_relay_key_parse(const char *text, unsigned ipv6_prefix, char *out, size_t outlen);

/* Same address (for "client on the server's own address"). */
int net_addr_equal(const struct cidr *a, const struct cidr *b);

#endif
