/*
 * greylist_admin.h: the greylist operations an administrator runs
 * (ispmailctl greylist; later the web's admin page): list the table, remove
 * a triple or a client, remove everything or what expired.
 */
#ifndef ISPMAILD_ADMIN_GREYLIST_H
#define ISPMAILD_ADMIN_GREYLIST_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "conf.h"
#include "greylist.h"
#include "state.h"

/*
 * ADDRESS as an administrator types it ("192.0.2.7", "192.0.2.0/24",
 * "2001:db8:1:2::5") -> the network greylisting keys it by (the /24, the
 * ipv6_prefix). 0, or -1 when it is not an address or such a network.
 */
int admin_greylist_net(const struct conf *c, const char *text, char *net, size_t len);

/*
 * One entry as ispmailctl greylist list prints it:
 * "NET <SENDER> <RECIPIENT> FIRST LAST PASSES" (times in ISO 8601 UTC); a
 * client network's own entry (the passes auto_allow counts) has "*" for
 * sender and recipient. Appended to out, no newline.
 */
void admin_greylist_line(const struct greylist_entry *e, struct buf *out);

/*
 * del: with sender and rcpt (both or neither) the one triple of ADDRESS's
 * network, else everything of that network. The count removed, or -1 with
 * err.
 */
long admin_greylist_del(struct state *st, const struct conf *c, const char *addr,
    const char *sender, const char *rcpt, char *err, size_t errlen);
/* flush: everything. expire: entries unseen for greylist.expire at now. */
long admin_greylist_flush(struct state *st, char *err, size_t errlen);
long admin_greylist_expire(struct state *st, const struct conf *c, time_t now,
    char *err, size_t errlen);

#endif
