/*
 * queue_admin.h: the outbound queue as an administrator manages it
 * (ispmailctl queue, docs/ispmailctl.8; the web's admin pages call the
 * same functions): list, flush, delete, and release a message a filter
 * quarantined (the envelope's held mark). Each change is one log line
 * "admin action=queue-... by=ACTOR". err holds the whole reason, as
 * ispmailctl prints it; nothing here prints.
 */
#ifndef ISPMAILD_QUEUE_ADMIN_H
#define ISPMAILD_QUEUE_ADMIN_H

#include <stddef.h>

#include "conf.h"
#include "queue.h"

/* "pending", "delivered", "failed". */
const char *admin_queue_state_name(enum queue_rcpt_state s);

/*
 * Call each with every message's envelope, oldest first (a nonzero
 * return stops the walk); each may change the copy it is given, which is
 * freed after. A message removed meanwhile is skipped. The number of
 * messages queued when the walk began, or -1 with err.
 */
long admin_queue_list(const struct conf *c, int (*each)(struct queue_env *env, void *arg),
    void *arg, char *err, size_t errlen);

/*
 * Retry every message now: the runner is asked through its FIFO (it
 * rewrites the envelopes itself, knowing which are being delivered), and
 * *runner is 1; with no runner listening nothing races with us, so every
 * pending recipient is made due here, *runner is 0 and *due counts the
 * messages. 0, or -1 with err.
 */
int admin_queue_flush(const struct conf *c, const char *actor, int *runner, size_t *due,
    char *err, size_t errlen);

/* Remove message id (envelope, then data). 0, or -1 with err (no such message). */
int admin_queue_delete(const struct conf *c, const char *id, const char *actor,
    char *err, size_t errlen);

/*
 * Remove the held mark of message id and wake the runner. Its arrival
 * becomes now: queue.max_age counts from the release. 0, or -1 with err
 * (no such message, not held, the envelope's error).
 */
int admin_queue_release(const struct conf *c, const char *id, const char *actor,
    char *err, size_t errlen);

#endif
