/*
 * greylist.h: greylisting at RCPT (docs/PROTOCOL.md, greylisting). A
 * (client network, sender, recipient) triple seen for the first time is
 * deferred; a retry after greylist.delay seconds passes and counts for its
 * client network; a network with greylist.auto_allow passes is let by at
 * once; an entry unseen for greylist.expire seconds is forgotten.
 *
 * The table is greylist.db, a Berkeley DB hash in the relay DB's
 * environment in state_dir (common/relaydb.h, relaydb_table_run), so the
 * caller passes the process's one relaydb handle. Every update is one
 * transaction under the relay DB's lock: two sessions never lose a pass.
 * Time is a parameter everywhere (tests use a fake clock).
 *
 * Keys: a triple is "<net>\0<sender>\0<recipient>" (the addresses in lower
 * case, the sender normalised: greylist_sender_key), a client network
 * alone is "<net>". Values: "<first seen> <last seen> <passes>", unix
 * seconds; for a network, its first and last pass.
 */
#ifndef ISPMAILD_GREYLIST_H
#define ISPMAILD_GREYLIST_H

#include <stddef.h>
#include <time.h>

#include "conf.h"
#include "net.h"
#include "relaydb.h"
#include "state.h"

#define GREYLIST_FILE "greylist.db"
/* A triple's text parts: a network, two paths of at most 256 bytes. */
#define GREYLIST_NET_MAX NET_ADDR_MAX
#define GREYLIST_ADDR_MAX 256

/* What the session does with the recipient. */
enum greylist_verdict {
	GREYLIST_PASS = 0,	/* go on */
	GREYLIST_DEFER,		/* 450 SMTP_GREYLISTED */
};

struct greylist_result {
	enum greylist_verdict verdict;
	const char *reason;	/* static, for the log: "new", "early", "passed",
				 * "auto-allowed", "exempt", "disabled", "error" */
	long wait;		/* DEFER: seconds until a retry passes */
	long passes;		/* the triple's passes after this attempt */
	long client_passes;	/* the network's */
};

/*
 * The network a client address is greylisted by: IPv4 its /24
 * ("192.0.2.0/24"), IPv6 its ipv6_prefix ("2001:db8:1:2::/64"). 0 or -1.
 */
int greylist_client_net(const char *addr, unsigned ipv6_prefix, char *out, size_t outlen);

/*
 * A sender as greylisting compares it: lower case; "" for <>; the BATV tag
 * (prvs=TAG=local, msprvs1=TAG=local) and a "+extension" of the local part
 * dropped; each number standing alone in the local part as "#", so VERP
 * and per-message return paths of one list make one triple (postgrey's
 * rules). 0 or -1 when out is too small.
 */
int greylist_sender_key(const char *sender, char *out, size_t outlen);

/*
 * The decision for one triple at now (conf's greylist block):
 *   the network has auto_allow passes (auto_allow > 0): PASS, "auto-allowed";
 *   no entry, or one unseen for expire seconds: DEFER, "new" (recorded);
 *   seen, now - first < delay: DEFER, "early";
 *   seen, now - first >= delay: PASS, "passed", the triple's and the
 *   network's passes counted.
 * A database failure is PASS, "error" (greylisting must not lose mail),
 * with err filled for the caller's log line.
 */
enum greylist_verdict greylist_check(struct relaydb *db, const struct greylist_conf *g,
    const char *net, const char *sender, const char *rcpt, time_t now,
    struct greylist_result *out, char *err, size_t errlen);

/*
 * The RCPT check: only for an outside client that is not authorized, and
 * only with greylist.enabled ("exempt", "disabled": PASS); then
 * greylist_check on the client's network. Logs one line for a deferral
 * or a failure ("greylist client=... from=<...> to=<...> result=...").
 */
enum greylist_verdict greylist_rcpt_check(struct relaydb *db, const struct conf *c,
    enum client_class cls, int authorized, const char *addr, const char *sender,
    const char *rcpt, time_t now, struct greylist_result *out);

/*
 * The same four on the shared state (state.h; relay.backend): BDB's
 * greylist.db, or Redis, where each entry lives greylist.expire seconds
 * after its last write. The relaydb forms above are these on a relay DB
 * the caller holds.
 */
enum greylist_verdict greylist_check_state(struct state *st, const struct greylist_conf *g,
    const char *net, const char *sender, const char *rcpt, time_t now,
    struct greylist_result *out, char *err, size_t errlen);
enum greylist_verdict greylist_rcpt_check_state(struct state *st, const struct conf *c,
    enum client_class cls, int authorized, const char *addr, const char *sender,
    const char *rcpt, time_t now, struct greylist_result *out);

/* One entry, for listing. sender and rcpt are NULL for a network's entry. */
struct greylist_entry {
	const char *net;
	const char *sender;	/* "" for <> */
	const char *rcpt;
	time_t first, last;
	long passes;
};

/* Call fn for each entry (copied out first); fn's non-zero stops. 0 or -1. */
int greylist_foreach(struct relaydb *db, int (*fn)(const struct greylist_entry *e, void *arg),
    void *arg);

/*
 * Remove entries: with sender and rcpt, that one triple; without
 * (NULL), every triple of net and net's own entry; net NULL: everything.
 * expired_at > 0: only entries with last + expire <= expired_at (expire
 * > 0). The number removed, or -1 (relaydb_strerror).
 */
long greylist_remove(struct relaydb *db, const char *net, const char *sender,
    const char *rcpt, time_t expired_at, long expire);
int greylist_foreach_state(struct state *st,
    int (*fn)(const struct greylist_entry *e, void *arg), void *arg);
long greylist_remove_state(struct state *st, const char *net, const char *sender,
    const char *rcpt, time_t expired_at, long expire);

#endif
