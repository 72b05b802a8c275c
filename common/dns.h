/*
 * dns.h: where to deliver a domain's mail (RFC 5321 §5.1, RFC 7505), for the
 * outbound queue. A thin wrapper over libresolv's thread-safe res_n*
 * interface, pointed at dns.nameserver when one is configured.
 */
#ifndef ISPMAILD_DNS_H
#define ISPMAILD_DNS_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Caps, so a hostile zone cannot make us try forever: at most DNS_MAX_MX
 * MX hosts (the most preferred), DNS_MAX_HOST_ADDRS addresses of each and
 * DNS_MAX_TARGETS addresses in all.
 */
#define DNS_MAX_MX 10
#define DNS_MAX_HOST_ADDRS 5
#define DNS_MAX_TARGETS 20

/* One address to try: the host it came from, its MX preference, the port. */
struct dns_target {
	char host[256];		/* the MX name, the domain (implicit MX) or the literal */
	int pref;		/* MX preference; 0 for implicit MX, hosts, literals */
	struct sockaddr_storage addr;	/* port already set */
	socklen_t addrlen;
};

enum dns_status {
	DNS_OK,		/* n >= 1 targets, in the order to try them */
	DNS_NULL_MX,	/* RFC 7505 null MX: the domain takes no mail, bounce now */
	DNS_PERM,	/* NXDOMAIN, no MX and no address, a bad literal: bounce */
	DNS_TEMP,	/* SERVFAIL, timeout, or no MX host had an address: retry */
};

struct dns_resolver;

/*
 * A resolver using nameserver, "addr", "addr:port" or "[addr]:port" (see
 * conf_nameserver_parse), with a short timeout (2 s, 2 tries); "" or NULL
 * means the system resolver (/etc/resolv.conf). NULL and a line in err on
 * a bad nameserver or when res_ninit fails. One per process or thread.
 */
struct dns_resolver *dns_resolver_new(const char *nameserver, char *err, size_t errlen);
void dns_resolver_free(struct dns_resolver *r);

/*
 * The delivery targets of a mail domain, port in every address: MX hosts
 * by preference (equal preferences in random order), each host's A then
 * AAAA addresses; no MX: the domain's own addresses (implicit MX); an
 * address literal "[192.0.2.1]" or "[IPv6:2001:db8::1]": that address, no
 * DNS. CNAMEs are followed by the resolver. MX hosts without an address
 * are skipped; when none has one the result is DNS_TEMP, as in Postfix (a
 * broken zone is often fixed soon; max_age bounces it in the end).
 * Fills out[0..*n) and returns DNS_OK, or returns another status with *n
 * = 0 and a line for the log and the DSN in err.
 */
enum dns_status dns_mx_targets(struct dns_resolver *r, const char *domain, int port,
    struct dns_target out[DNS_MAX_TARGETS], size_t *n, char *err, size_t errlen);

/*
 * The addresses of one host, A then AAAA, no MX lookup: the smarthost in
 * its "[host]" form (conf_smarthost_parse gives mx = 0). An IP address,
 * bare or as an address literal, is used as is. A smarthost "host" with
 * mx = 1 goes through dns_mx_targets instead. Same results as above.
 */
enum dns_status dns_host_targets(struct dns_resolver *r, const char *host, int port,
    struct dns_target out[DNS_MAX_TARGETS], size_t *n, char *err, size_t errlen);

/*
 * The IPv4 addresses (A records) of name, at most max of them, for a
 * DNSBL query: DNS_OK with *n >= 1; DNS_PERM for NXDOMAIN or no A record;
 * DNS_TEMP for a timeout, SERVFAIL or a bad reply. A line in err for the
 * log otherwise ("" with DNS_OK). The resolver's timeouts apply.
 */
struct in_addr;
enum dns_status dns_lookup_a(struct dns_resolver *r, const char *name, struct in_addr *out,
    size_t max, size_t *n, char *err, size_t errlen);

/*
 * The first TXT record of name, its strings joined and cut to outlen - 1
 * bytes (a DNSBL's reason; client text: quote it before logging). Same
 * statuses as dns_lookup_a.
 */
enum dns_status dns_lookup_txt(struct dns_resolver *r, const char *name, char *out,
    size_t outlen, char *err, size_t errlen);

/*
 * A name made of dot-separated labels of letters, digits, '-' and '_' (at
 * most 63 bytes each, 253 in all): safe as a file name and in a DKIM tag,
 * as a DKIM domain or selector must be.
 */
int dns_name_ok(const char *name);

#endif
