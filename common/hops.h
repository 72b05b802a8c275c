/*
 * hops.h: counting Received: header fields, the loop detector of RFC 5321
 * §6.3.
 */
#ifndef ISPMAILD_HOPS_H
#define ISPMAILD_HOPS_H

#include <stddef.h>

/*
 * Received: lines beyond which a message is taken to be looping (RFC 5321
 * §6.3), ours included: DATA refuses it with 554 5.4.6 before any 250,
 * and the queue runner gives up on one that got in some other way.
 */
#define SMTP_HOPS_MAX 30

/* Counts Received: header fields in message text with LF line ends. */
struct smtp_hops {
	int hops;		/* Received: fields so far */
	int done;		/* the empty line that ends the header was seen */
	int at_bol;		/* private */
	size_t matched;		/* private: bytes of "received:" matched */
};

void smtp_hops_init(struct smtp_hops *h);
/*
 * Feed the next bytes of the message (LF line ends, as stored). A field
 * counts when "Received:" in any case starts a line of the header;
 * folded lines, X-Received: and the body do not. Cheap once done.
 */
void smtp_hops_feed(struct smtp_hops *h, const char *p, size_t n);

#endif
