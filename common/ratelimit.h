/*
 * ratelimit.h: the arithmetic of the outbound sending limits (docs:
 * ispmaild.conf(5), limits; docs/ADMIN.md, sending limits), without a file
 * or a clock: a two-bucket sliding window. Time is cut into windows of
 * `window` seconds aligned on multiples of it; a counter keeps the count of
 * the current window and of the one before. The count "over the last
 * window seconds" at time now is the current count plus the previous
 * count weighted by the part of the previous window still inside the last
 * window seconds, rounded up (so the estimate never undercounts a steady
 * sender by a recipient). The relay DB keeps one counter per user and per
 * client address (relaydb_rate_take()).
 */
#ifndef ISPMAILD_RATELIMIT_H
#define ISPMAILD_RATELIMIT_H

#include <stddef.h>

/* Longest stored value: "<start> <cur> <prev> <noted>". */
#define RATE_VALUE_MAX 80

struct rate_counter {
	long long start;	/* start of the current window, unix seconds */
	long cur;		/* counted in the current window */
	long prev;		/* counted in the window just before it */
	long long noted;	/* the window a crossing was logged in; -1 none */
};

/* An empty counter for the window that holds now. */
void rate_init(struct rate_counter *c, long long now, long window);
/*
 * Move c on to the window that holds now: the current count becomes the
 * previous one when now is in the next window, both are forgotten when now
 * is later still. A clock that went back leaves c as it is.
 */
void rate_roll(struct rate_counter *c, long long now, long window);
/* The count over the last window seconds at now (c rolled to now). */
long rate_estimate(const struct rate_counter *c, long long now, long window);
/* Would one more stay within limit (0: no limit)? 1 or 0. */
int rate_allows(const struct rate_counter *c, long long now, long window, long limit);
/* Does c count nothing any more at now (rolled or not)? 1 or 0. */
int rate_idle(const struct rate_counter *c, long long now, long window);

/*
 * The counter's key: kind ("user" or "addr") ':' name, lower-cased. 0, or
 * -1 when it does not fit or name is empty or has a byte outside
 * 0x21..0x7e (such a name is not counted).
 */
int rate_key(char *out, size_t outlen, const char *kind, const char *name);

/* "<start> <cur> <prev> <noted>" to and from text; 0 or -1. */
int rate_format(char *out, size_t outlen, const struct rate_counter *c);
int rate_parse(const char *v, size_t len, struct rate_counter *c);

#endif
