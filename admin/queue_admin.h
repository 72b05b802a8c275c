/*
 * queue_admin.h: ispmailctl queue release (docs/ispmailctl.8): a message
 * a filter quarantined (the envelope's held mark) goes on to its
 * recipients.
 */
#ifndef ISPMAILD_QUEUE_ADMIN_H
#define ISPMAILD_QUEUE_ADMIN_H

#include <stddef.h>

#include "conf.h"

/*
 * Remove the held mark of message id and wake the runner. Its arrival
 * becomes now: queue.max_age counts from the release. 1 released,
 * 0 no such message, -1 with err (not held, or the envelope's error).
 */
int admin_queue_release(const struct conf *c, const char *id, char *err, size_t errlen);

#endif
