/*
 * bounce.h: delivery status notifications (RFC 3464, RFC 3462
 * multipart/report) for recipients the queue gave up on, from
 * MAILER-DAEMON@<hostname> to the envelope sender, with the null sender
 * so that a bounce can never bounce (RFC 5321 §4.5.5).
 */
#ifndef ISPMAILD_BOUNCE_H
#define ISPMAILD_BOUNCE_H

#include "buf.h"
#include "conf.h"
#include "queue.h"
#include "srs.h"

/*
 * Write the DSN for env's failed recipients into out (LF line ends), with
 * the original message's headers read from datafd.
 */
void bounce_build(const struct conf *c, const struct queue_env *env,
    int datafd, struct buf *out);

/*
 * Build and send the DSN: into the sender's Maildir when the sender is
 * local, through the queue otherwise; to the original sender when the
 * sender is one of our SRS addresses (with srs, the secret; NULL: none).
 * Nothing for the null sender, nor for a message marked nobounce
 * (forwarded for an unauthorized outside client: logged and counted).
 * 0 sent (or nothing to send), -1 error (logged).
 */
int bounce_send(const struct conf *c, const struct queue_env *env, int datafd,
    const struct srs_secret *srs);

/*
 * RFC 3463 status from a reply: its enhanced code, or 5.0.0 / 4.0.0; for
 * the runner's "delivery time expired; last reply: ..." 4.4.7, or 5.2.2
 * when that last reply was "452 4.2.2" (a mailbox that stayed full).
 */
void bounce_status(const char *reply, char *out, size_t outlen);

#endif
