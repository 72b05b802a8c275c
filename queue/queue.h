/*
 * queue.h: the durable outbound queue under <state_dir>/queue
 * (docs/PROTOCOL.md).
 *
 *   queue/tmp/   files being written
 *   queue/new/   message data, "<id>.<host>,S=<size>,W=<size>", LF line ends
 *   queue/env/   one envelope per message, named by its queue id
 *
 * Queue ids are the queue's own (queue_id_new), never a Maildir file's.
 *
 * A message is committed when its envelope appears in env/ (written in
 * tmp/, fsynced, renamed, env/ fsynced); its data file is fsynced and
 * linked into new/ before that. The envelope is text, one record a line:
 *
 *   ispmaild-queue 1
 *   arrival 1732780000
 *   sender alice@example.net          (empty after "sender " for <>)
 *   data 1732780000.M1P2Q3.host,S=10,W=11
 *   client 192.0.2.7 helo.name
 *   nobounce forwarded-from-outside   (optional: no DSN when it fails)
 *   held quarantine                   (optional: a filter's quarantine; the
 *                                      runner leaves it until released)
 *   rcpt pending 0 0 bob@remote.example<TAB>
 *   rcpt <state> <tries> <next attempt> <address><TAB><last reply>
 *
 * (the address may hold spaces inside a quoted local part, never a tab;
 * CR, LF and TAB in any field are written as spaces).
 */
#ifndef ISPMAILD_QUEUE_H
#define ISPMAILD_QUEUE_H

#include <stddef.h>
#include <time.h>

#include "maildir.h"

#define QUEUE_ID_MAX 64

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0,
	QUEUE_RCPT_DELIVERED,
	QUEUE_RCPT_FAILED,
};

struct queue_rcpt {
	char *address;
	enum queue_rcpt_state state;
	int tries;
	time_t next_attempt;
	char *last_reply;	/* "" when none */
};

struct queue_env {
	char id[QUEUE_ID_MAX];
	time_t arrival;
	char *sender;		/* "" for the null sender */
	char *data;		/* file name in queue/new */
	char *client;		/* "ip helo", for the bounce and the log */
	int nobounce;		/* forwarded for an unauthorized outside client */
	int held;		/* quarantined: never delivered nor expired until released */
	struct queue_rcpt *rcpt;
	size_t nrcpt;
	size_t size;		/* bytes on disk of the data file (S=) */
};

/* Make queue/{tmp,new,env} under state_dir. */
int queue_dirs_make(const char *state_dir);

/*
 * A fresh queue id: "<sec>.M<usec>P<pid>Q<n>" (time, pid, counter), the
 * queue's own, safe as a file name (queue_id_valid).
 */
int queue_id_new(char *id, size_t idlen);

/*
 * Open a data file in queue/tmp named for a fresh queue id ("<id>.<host>");
 * use maildir_writer_write() on it; queue_commit() takes the id back from
 * the name.
 */
int queue_data_open(struct maildir_writer *w, const char *state_dir);
/* The same for an id already chosen (queue_id_new). */
int queue_data_open_id(struct maildir_writer *w, const char *state_dir, const char *id);

/*
 * Commit a message: the data file of w (already committed with
 * maildir_writer_commit() or linked) and the envelope. Fills env->id.
 * After 0 the message is durable.
 */
int queue_commit(const char *state_dir, const struct maildir_writer *w,
    struct queue_env *env);
int queue_env_load(const char *state_dir, const char *id, struct queue_env *env);
/* Rewrite an envelope atomically (the runner's per-recipient state). */
int queue_env_save(const char *state_dir, const struct queue_env *env);
void queue_env_free(struct queue_env *env);
void queue_env_add_rcpt(struct queue_env *env, const char *address);

/* Each queued message's id, oldest first; free with queue_ids_free. */
int queue_ids(const char *state_dir, char ***ids, size_t *n);
void queue_ids_free(char **ids, size_t n);
/* Remove a message (envelope first, then data). 1 removed, 0 no such id. */
int queue_remove(const char *state_dir, const char *id);

/* The id of a message from its unique name: "<sec>.M<usec>P<pid>Q<n>". */
void queue_id_from_base(const char *base, char *id, size_t idlen);

/*
 * Wake the queue runner through its FIFO (queue/wakeup): 'n' new mail,
 * 'f' flush (retry everything now). -1 when no runner listens.
 */
int queue_wakeup(const char *state_dir, char what);

/* The pause before attempt tries+1: retry_min doubling up to retry_max. */
long queue_retry_delay(int tries, long retry_min, long retry_max);

/* A queue id is letters, digits, '.', '_' and '-' only. */
int queue_id_valid(const char *id);

#endif
