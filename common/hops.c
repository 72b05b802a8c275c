/*
 * hops.c: the Received: counter (see hops.h), shared by the DATA path and
 * the queue runner.
 */
#include "config.h"

#include <ctype.h>

#include "hops.h"

void smtp_hops_init(struct smtp_hops *h)
{
	h->hops = 0;
	h->done = 0;
	h->at_bol = 1;
	h->matched = 0;
}

void smtp_hops_feed(struct smtp_hops *h, const char *p, size_t n)
{
	static const char key[] = "received:";
	size_t i;

	for (i = 0; i < n && !h->done; i++) {
		char ch = (char)tolower((unsigned char)p[i]);

		if (ch == '\n') {
			if (h->at_bol)
				h->done = 1;	/* the empty line: the body follows */
			h->at_bol = 1;
			h->matched = 0;
			continue;
		}
		if (h->at_bol || h->matched > 0) {
			if (h->matched < sizeof key - 1 && ch == key[h->matched]) {
				if (++h->matched == sizeof key - 1)
					h->hops++;
			} else {
				h->matched = 0;
			}
		}
		h->at_bol = 0;
	}
}
