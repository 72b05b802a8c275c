/*
 * vacation.h: vacation replies (RFC 3834; docs/ADMIN.md, "Vacation
 * replies"). After a message is stored in the Maildir of a user with
 * vacation=yes, the user's .vacation.msg goes back to the envelope sender
 * from the null sender, at most once per sender per VACATION_WINDOW, and
 * never to mail that is itself automatic, from a list, or not addressed to
 * the user in To: or Cc:.
 *
 * Three parts, each usable alone: the decision (pure: the sender, the
 * user's addresses, the message's header section), the memory
 * (vacation.db in the relay DB's environment in state_dir), and the reply
 * (composed from the .vacation.msg file, delivered through local/deliver.c:
 * the queue for a remote sender, with the runner's retries).
 */
#ifndef ISPMAILD_VACATION_H
#define ISPMAILD_VACATION_H

#include <stddef.h>
#include <time.h>

#include "aliases.h"
#include "buf.h"
#include "conf.h"
#include "relaydb.h"

struct dkim_keyring;

/* One reply per sender per week (RFC 3834 §2: "a period of several days"). */
#define VACATION_WINDOW (7 * 24 * 3600L)
/* The memory: a table in the relay DB's environment (relaydb_table_run). */
#define VACATION_DB_FILE "vacation.db"
/* The user's message, in the Maildir's top directory, as ispmailctl writes it. */
#define VACATION_MSG_FILE ".vacation.msg"
/* The longest .vacation.msg taken, and the most of a header section read. */
#define VACATION_MSG_MAX 65536
#define VACATION_HEADER_MAX 65536
/* An address kept from To:/Cc: (longer ones are dropped: they match nobody). */
#define VACATION_ADDR_MAX 320

enum vacation_verdict {
	VACATION_REPLY = 0,
	VACATION_NULL_SENDER,		/* MAIL FROM:<> (RFC 3834 §2) */
	VACATION_SYSTEM_SENDER,		/* MAILER-DAEMON, owner-*, *-request, ... */
	VACATION_SELF,			/* the sender is the user */
	VACATION_AUTO_SUBMITTED,	/* Auto-Submitted: other than "no" */
	VACATION_PRECEDENCE,		/* Precedence: bulk, list or junk */
	VACATION_LIST,			/* List-Id: or another RFC 2369 field */
	VACATION_SUPPRESSED,		/* X-Auto-Response-Suppress: OOF or All */
	VACATION_NOT_ADDRESSED,		/* none of the user's addresses in To:/Cc: */
};

/* The reason= of the log line: "null-sender", "list", ... */
const char *vacation_verdict_name(enum vacation_verdict v);

/*
 * Whether to reply (RFC 3834 §2, §3.1; the checks of Dovecot's vacation):
 * sender is the envelope sender ("" for <>), addrs the user's addresses
 * (the mailbox's, and the RCPT addresses that delivered to it: an alias),
 * header the message's header section (LF or CRLF line ends; anything
 * after its empty line is ignored). Pure.
 */
enum vacation_verdict vacation_decide(const char *sender, const char *const *addrs,
    size_t naddrs, const char *header, size_t len);

/* Addresses of an address-list field (To:, Cc:), lower case. */
struct vacation_addrs {
	char **v;
	size_t n;
};

/*
 * Append the addr-specs of an RFC 5322 address-list (a field's value, as
 * folded in the message) to out: display names, quoted strings, comments,
 * groups, source routes and folding handled; a mailbox without '@' or
 * longer than VACATION_ADDR_MAX dropped.
 */
void vacation_addrs_parse(const char *value, size_t len, struct vacation_addrs *out);
void vacation_addrs_free(struct vacation_addrs *a);

/*
 * The value of the first field named name (any case) in header, unfolded
 * (CR and LF dropped) and trimmed, into out (reset first). 1 found, 0 not.
 */
int vacation_header_value(const char *header, size_t len, const char *name, struct buf *out);

/* Copy the header section at the start of a message (at most VACATION_HEADER_MAX). */
void vacation_header_copy(const char *msg, size_t len, struct buf *out);

/*
 * The memory, one entry per (user, sender): the time of the last reply
 * and the tag of the message it carried (vacation_msg_tag). Claim: 1 when
 * no reply with this tag went to sender within window before now (the
 * entry then says now and tag: a second process sees it), 0 when one did,
 * -1 on error (relaydb_strerror). A new message (another tag) starts a
 * new window for everyone, as Dovecot's :handle does. Forget: drop the
 * entry again (the reply could not be sent); 0 or -1.
 */
int vacation_memory_claim(struct relaydb *db, const char *user, const char *sender,
    const char *tag, time_t now, long window);
int vacation_memory_forget(struct relaydb *db, const char *user, const char *sender);
/*
 * Remove the entries whose reply is window or more before now (they stop
 * no reply any more), and unreadable ones; ispmailctl relay expire. The
 * count removed, or -1.
 */
long vacation_memory_expire(struct relaydb *db, time_t now, long window);
/* A short tag of a .vacation.msg text (16 hex digits of FNV-1a 64) into out[17]. */
void vacation_msg_tag(const char *msg, size_t len, char out[17]);

/*
 * The reply (RFC 3834 §3): From: the user, To: the sender, Subject: the
 * .vacation.msg text's own (msg: its bytes) or "Auto: " and the original
 * subject, In-Reply-To:/References: the original Message-ID,
 * Auto-Submitted: auto-replied, Date: now, Message-ID: <id@hostname>,
 * text/plain UTF-8, the body from msg. LF line ends, into out.
 */
void vacation_compose(const struct conf *c, const char *user, const char *to,
    const char *msg, size_t msglen, const char *header, size_t hlen, time_t now,
    const char *id, struct buf *out);

/* One delivered message, as vacation_after_delivery needs it. */
struct vacation_delivery {
	const struct conf *conf;
	/* the session's relay DB handle, opened only when a reply is due; NULL: none */
	struct relaydb *(*db_open)(void *arg);
	void *db_arg;
	const struct aliases *aliases;	/* to tell which RCPT addresses are a user's */
	const struct dkim_keyring *dkim;	/* sign like the intake does; NULL: unsigned */
	const char *sender;		/* envelope sender, "" for <> */
	const char *const *rcpts;	/* the RCPT addresses, as given */
	size_t nrcpts;
	const char *header;		/* the message's own header section */
	size_t hlen;
	time_t now;
};

/*
 * After the message is stored for users[0..nusers): for each with a
 * .vacation.msg (one lstat, so a delivery to anyone else costs no users
 * file lookup) and vacation=yes, decide, remember and send the reply (queued, or into a
 * local sender's Maildir). Everything is logged here, one line per such
 * user; the number of replies sent, or -1 when one failed (the delivery
 * stands either way).
 */
int vacation_after_delivery(const struct vacation_delivery *v, char *const *users,
    size_t nusers);

#endif
