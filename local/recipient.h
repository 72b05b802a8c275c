/*
 * recipient.h: where a local recipient's mail goes (docs/PROTOCOL.md, files):
 * an exact alias first, then a real user, then the domain's catch-all; alias
 * destinations are followed (bounded) and may be remote, in which case they
 * go through the queue. A user's forward= (SPEC 12) is followed the same
 * way, its Maildir kept when keep=yes.
 */
#ifndef ISPMAILD_RECIPIENT_H
#define ISPMAILD_RECIPIENT_H

#include <stddef.h>
#include <time.h>

#include "aliases.h"
#include "buf.h"
#include "conf.h"
#include "srs.h"

/* Aliases pointing at aliases are followed this deep, no deeper. */
#define RECIPIENT_DEPTH_MAX 8
/*
 * rcpt_set.via: bit k for forwarders[k] (the first RCPT_FORWARDERS_MAX of
 * them), RCPT_VIA_OTHER for anything else that named the address.
 */
#define RCPT_FORWARDERS_MAX 63
#define RCPT_VIA_OTHER (1ULL << RCPT_FORWARDERS_MAX)

struct rcpt_set {
	char **local;		/* mailbox addresses, lower case, unique */
	size_t nlocal;
	char **remote;		/* remote addresses, unique */
	size_t nremote;
	/*
	 * Per remote address: 1 when an alias, forward or catch-all of a
	 * local address sent it there (it leaves with forward_sender, SRS),
	 * 0 for the client's own relayed recipients. Set by resolution.
	 */
	unsigned char *forwarded;
	char *forward_sender;	/* NULL until rcpt_forward_prepare */
	int forward_nobounce;	/* forwarded for an unauthorized outside client */
	/*
	 * Users whose forward= was followed (lower case, unique), and per
	 * remote address who sent it there (RCPT_VIA_OTHER and bits, above):
	 * the Delivered-To: of the forwarded copy, and after DATA what a
	 * forwarding loop drops (rcpt_forward_loops).
	 */
	char **forwarders;
	size_t nforwarders;
	unsigned long long *via;
	/*
	 * Mailboxes at their quota that an alias, a catch-all or the
	 * postmaster fallback led to (rcpt_queue_full): not in local, their
	 * copy waits in the queue (with the client's sender) for room.
	 */
	char **full;
	size_t nfull;
};

/*
 * Add where address (a lower-case local address) delivers to set.
 * 1 when it names at least one destination, 0 when nobody is there
 * (the 550 5.1.1 case), -1 when the users file cannot be read.
 */
int rcpt_resolve_local(const struct conf *c, const struct aliases *al,
    const char *address, struct rcpt_set *set);
/* Add a remote address (deduplicated), one the client named itself. */
void rcpt_add_remote(struct rcpt_set *set, const char *address);
void rcpt_set_free(struct rcpt_set *set);
/*
 * Add the remote original sender of one of our SRS addresses (the reverse
 * path): we forward it, so it is marked as an alias's destination is.
 */
void rcpt_add_reverse(struct rcpt_set *set, const char *address);
/* How many of set's remote addresses are forwarded ones. */
size_t rcpt_nforwarded(const struct rcpt_set *set);

/*
 * After DATA (SPEC 12, forwarding loops): head is the message's own header
 * section (or its start; LF line ends). A forwarding user that a
 * Delivered-To: field already names does not forward it again: its
 * forwarded remote addresses that nobody else named are dropped and it is
 * kept in its Maildir (added to local, even with keep=no), logged. How
 * many users were stopped so.
 */
size_t rcpt_forward_loops(struct rcpt_set *set, const char *head, size_t len);
/*
 * "Delivered-To: <user>\n" appended to out for each forwarding user that
 * sent one of set's forwarded remote addresses (the forwarded copy's
 * trace, RFC 9228; what rcpt_forward_loops looks for when it comes back).
 */
void rcpt_delivered_to(const struct rcpt_set *set, struct buf *out);

/* The domain of our SRS addresses: srs.domain, or the hostname. */
const char *rcpt_srs_domain(const struct conf *c);

/*
 * Once set has forwarded recipients: the envelope sender they leave with,
 * sender rewritten with SRS (srs_forward; the null sender stays null; the
 * original when secret is NULL or it cannot be rewritten, logged), and
 * whether a failure of theirs may bounce: never when outside is set (the
 * client is an unauthorized outside one, so the sender may be forged and
 * a bounce would be backscatter). A no-op after the first call.
 */
void rcpt_forward_prepare(struct rcpt_set *set, const struct conf *c,
    const struct srs_secret *secret, const char *sender, int outside, time_t now);

enum rcpt_srs {
	RCPT_SRS_NONE = 0,	/* not one of our SRS addresses: resolve as usual */
	RCPT_SRS_VALID,		/* orig holds the original sender */
	RCPT_SRS_INVALID	/* forged, expired or malformed: 550 5.1.1 */
};

/*
 * The reverse path (SPEC: a bounce to a valid SRS address goes to the
 * original sender): address (local@domain) is ours when its domain is
 * rcpt_srs_domain and its local part starts SRS0= or SRS1= (any case).
 * Pure: reads nothing but its arguments and the clock given. why gets
 * srs_reverse's result. NONE when secret is NULL.
 */
enum rcpt_srs rcpt_srs_reverse(const struct conf *c, const struct srs_secret *secret,
    const char *address, time_t now, char *orig, size_t origlen, enum srs_result *why);

/*
 * The one quota test (SPEC 12): the mailbox of address, a user with a
 * quota, is at or over it (maildir/quota.c, quota_over: soft by one
 * message). 0 for no quota, no such user, or a usage that cannot be
 * read: the disk, not the count, is what must not overflow.
 */
int rcpt_mailbox_full(const struct conf *c, const char *address);
/*
 * Move set->local[from..] that are full to set->full, except own (the
 * address the client named, already judged: a full one got 452 at RCPT
 * instead). Each move is logged ("quota user=... result=queued"). How
 * many moved.
 */
size_t rcpt_queue_full(const struct conf *c, struct rcpt_set *set, size_t from,
    const char *own);

/*
 * Where postmaster@ and abuse@ of the local domains go when nothing else
 * takes them: the postmaster key, else the first user of the first
 * domain. 0 with the address in out, -1 when there is none.
 */
int rcpt_postmaster_address(const struct conf *c, char *out, size_t outlen);

#endif
