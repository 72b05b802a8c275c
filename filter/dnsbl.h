/*
 * dnsbl.h: DNS blocklists (RFC 5782) at RCPT (docs/PROTOCOL.md, DNSBL). For
 * a client address and a zone: the query name (reversed octets or nibbles
 * + zone), the A lookup through common/dns.c's resolver, and what the
 * answer means. One call for the session, dnsbl_rcpt_check(), decides,
 * logs and caches per session; the session maps its verdict to a reply
 * (SMTP_DNSBL_BLOCKED: the client's address and the zone).
 */
#ifndef ISPMAILD_DNSBL_H
#define ISPMAILD_DNSBL_H

#include <stddef.h>
#include <netinet/in.h>

#include "conf.h"
#include "dns.h"
#include "net.h"

/* What one zone said about one address. */
enum dnsbl_result {
	DNSBL_NOT_LISTED = 0,	/* NXDOMAIN or no A record */
	DNSBL_LISTED,		/* an A record in 127.0.0.0/8 outside 127.255.255.0/24 */
	DNSBL_ERROR_ANSWER,	/* 127.255.255.0/24 (the zone refuses us) or outside 127/8 */
	DNSBL_NO_ANSWER,	/* timeout, SERVFAIL: the mail goes in, logged */
	DNSBL_BAD_INPUT,	/* not an IP address, or the name would be too long */
};

struct dnsbl_answer {
	enum dnsbl_result result;
	char zone[256];
	char answer[INET_ADDRSTRLEN];	/* the A record that decided, "" if none */
	char reason[256];		/* the zone's TXT record when listed, or "" */
	char err[512];			/* for the log: what failed */
};

/*
 * The query name of addr ("192.0.2.7" or an IPv6 address; an IPv4-mapped
 * one is its IPv4 address) in zone: "7.2.0.192.zen.example" or 32 nibbles,
 * lowest first. 0, or -1 for a bad address or a name over 253 bytes.
 */
int dnsbl_query_name(const char *addr, const char *zone, char *out, size_t outlen);

/*
 * The meaning of a zone's A records (pure): LISTED when any is in
 * 127.0.0.0/8 outside 127.255.255.0/24, else ERROR_ANSWER (n > 0) or
 * NOT_LISTED (n == 0). *which: the index of the address that decided.
 */
enum dnsbl_result dnsbl_classify(const struct in_addr *a, size_t n, size_t *which);

/* Ask one zone about addr; want_reason: fetch the TXT record of a listing. */
enum dnsbl_result dnsbl_check_zone(struct dns_resolver *r, const char *addr,
    const char *zone, int want_reason, struct dnsbl_answer *out);

/*
 * Is a recipient exempt from the DNSBL whatever the client (pure)?
 * postmaster@ and abuse@ (any case) of a local domain, and a bare
 * "postmaster" (RFC 5321 §4.1.1.3), so a listed sender can still reach
 * the people who can delist it. rcpt: the mailbox, "local@domain".
 */
int dnsbl_rcpt_exempt(const struct conf *c, const char *rcpt);

/*
 * Does this client get checked at all (pure)? Only an outside client that
 * is not authorized (SMTP AUTH or POP-before-SMTP): customers, trusted and
 * authorized clients never are.
 */
int dnsbl_client_checked(enum client_class cls, int authorized);

/* What the session does with the recipient. */
enum dnsbl_verdict {
	DNSBL_PASS = 0,		/* go on (not checked, not listed, or a zone failed) */
	DNSBL_BLOCK,		/* 554 SMTP_DNSBL_BLOCKED with addr and ans->zone */
};

/*
 * Per session: the zones are asked once per client, not per recipient.
 * Zero it when the session starts (or the client changes).
 */
struct dnsbl_cache {
	int done;
	struct dnsbl_answer ans;	/* the listing, or the last zone asked */
};

/*
 * The RCPT check (docs/PROTOCOL.md, DNSBL): exempt clients and recipients
 * pass without a lookup; otherwise each zone of dnsbl.zones in order
 * until one lists addr. A listing is logged once per session ("dnsbl
 * client=... zone=... answer=... reason=..."), so is each error answer
 * and each zone that did not answer (those let the mail in). ans (may be
 * NULL) gets the deciding answer. r may be NULL when there are no zones.
 */
enum dnsbl_verdict dnsbl_rcpt_check(struct dns_resolver *r, const struct conf *c,
    struct dnsbl_cache *cache, enum client_class cls, int authorized, const char *addr,
    const char *rcpt, struct dnsbl_answer *ans);

#endif
