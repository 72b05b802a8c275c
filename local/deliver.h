/*
 * deliver.h: the one delivery of a message to its recipients (issue 13),
 * used by the SMTP DATA path (smtpd/intake.c) and by the queue's bounces
 * (queue/bounce.c). Each copy is written once: the local Maildirs (the
 * first written, the others hard links of it) and, for remote recipients
 * and the full mailboxes an alias led to (recipient.h, rcpt_set.full),
 * the queue (its data file written directly, its envelope). Every file
 * and directory is fsynced before deliver_commit returns 0
 * (docs/PROTOCOL.md: 250 only then).
 *
 * The header block is set last: the body is taken first (deliver_body_write,
 * in memory up to DELIVER_MEMORY_MAX, the rest spooled once to a scratch
 * file in the first copy's tmp/), the header block given at
 * deliver_commit, and each copy written as header + body in one pass
 * (writev, then copy_file_range(2) of the spool). docs/PERFORMANCE.md,
 * "Storing a message", has the measurements behind it.
 */
#ifndef ISPMAILD_DELIVER_H
#define ISPMAILD_DELIVER_H

#include <stddef.h>

#include "buf.h"
#include "conf.h"
#include "maildir.h"
#include "queue.h"
#include "recipient.h"

/* The part of a body held in memory; the rest goes to the spool file. */
#define DELIVER_MEMORY_MAX (1024 * 1024)

/* The body of a message as it arrives (LF line ends, as stored). */
struct deliver_body {
	struct buf mem;			/* the first DELIVER_MEMORY_MAX bytes */
	struct maildir_count mem_count;	/* their sizes (S=, W=) */
	int spool;			/* -1, or an unlinked file with the rest */
	struct maildir_count spool_count;	/* the rest's sizes, continued */
};

/* Where a delivery stopped (deliver_result.stage). */
enum deliver_stage {
	DELIVER_OK = 0,
	DELIVER_FAIL_FIRST,	/* the first copy: nothing was stored */
	DELIVER_FAIL_LOCAL,	/* set->local[nlocal_done]; the ones before it have theirs */
	DELIVER_FAIL_QUEUE,	/* the queue copy; every local copy is stored */
};

/*
 * Per recipient: set->local[0..nlocal_done) have their copy; with
 * DELIVER_OK the remote ones are in the queue as qid (and qid_forward:
 * forwarded recipients leave with another sender, so when the client's
 * own remote recipients are there too they have an envelope of their own). A failure stops the
 * delivery (the client retries the whole message: a duplicate, never a
 * loss), error keeps its errno (ENOSPC, EDQUOT: 452 4.3.1).
 */
struct deliver_result {
	enum deliver_stage stage;
	int error;
	size_t nlocal_done;
	char qid[QUEUE_ID_MAX];		/* "" when nothing was queued */
	char qid_forward[QUEUE_ID_MAX];	/* the forwarded recipients' own envelope, or "" */
	size_t size;			/* S= of the first copy */
	size_t queue_size;		/* S= of the queue's data file */
};

/* One message on its way to the recipients of set. */
struct delivery {
	const struct conf *conf;
	const struct rcpt_set *set;
	const char *sender;		/* "" for <>: Return-Path: <sender> on local copies */
	const char *client;		/* "ip helo", the envelope's client record */
	char id[QUEUE_ID_MAX];		/* the message's id: its first copy's */
	struct maildir_writer first;	/* the first local copy, or the queue's */
	int first_open;
	int first_is_queue;
	int held;			/* deliver_hold: everything to the queue, held */
	struct deliver_body body;
};

/*
 * Before the body: open the first copy, the first local recipient's
 * Maildir (made when missing), or the queue's when every recipient is
 * remote. d->id is then the message's id: that Maildir file's unique part
 * without its host, or the queue id. 0, or -1 with errno (nothing left).
 */
int deliver_open(struct delivery *d, const struct conf *c, const struct rcpt_set *set,
    const char *sender, const char *client);
/*
 * A filter quarantined the message (docs/ADMIN.md, "Filters"): store it
 * only in the queue, for every recipient, local ones too, with the held
 * mark; the runner leaves it until ispmailctl queue release. Before
 * deliver_commit.
 */
void deliver_hold(struct delivery *d);
/* Take n more bytes of the body. -1 with errno when the spool cannot. */
int deliver_body_write(struct delivery *d, const void *p, size_t n);
/*
 * Put mem in place of the body's memory part (a filter edited the
 * message's header section, which is at its start) and count its sizes
 * again; mem is taken and left empty. The spool, if any, follows as before.
 */
void deliver_body_replace_mem(struct deliver_body *b, struct buf *mem);
/* S= of the body so far. */
size_t deliver_body_size(const struct delivery *d);
/*
 * Store the message, header (LF line ends, may be empty) then the body,
 * in every local Maildir and the queue; fills res (see deliver_result).
 * 0 when every copy is stored and fsynced, -1 with errno otherwise. The
 * delivery is finished either way: no deliver_abort after it.
 */
int deliver_commit(struct delivery *d, const struct buf *header,
    struct deliver_result *res);
/* Give up a delivery that was opened: nothing is left in tmp/ or new/. */
void deliver_abort(struct delivery *d);

#endif
