/*
 * ratelimit.c: the two-bucket sliding-window counter of ratelimit.h. Pure
 * arithmetic on a struct; the relay DB stores it as text.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include "ratelimit.h"
#include "buf.h"

/* The start of the window that holds t (t >= 0). */
static long long window_of(long long t, long window)
{
	return t - t % window;
}

void rate_init(struct rate_counter *c, long long now, long window)
{
	c->start = window_of(now < 0 ? 0 : now, window);
	c->cur = 0;
	c->prev = 0;
	c->noted = -1;
}

void rate_roll(struct rate_counter *c, long long now, long window)
{
	long long w;

	if (now < 0)
		return;
	w = window_of(now, window);
	if (w <= c->start)
		return;
	if (w == c->start + window) {
		c->prev = c->cur;
	} else {
		c->prev = 0;
	}
	c->cur = 0;
	c->start = w;
}

long rate_estimate(const struct rate_counter *c, long long now, long window)
{
	long long elapsed = now - c->start, left, part;

	if (elapsed < 0)
		elapsed = 0;
	if (elapsed >= window)
		return c->cur;
	left = window - elapsed;
	/* prev * left / window, rounded up */
	part = ((long long)c->prev * left + window - 1) / window;
	return (long)(c->cur + part);
}

int rate_allows(const struct rate_counter *c, long long now, long window, long limit)
{
	return limit <= 0 || rate_estimate(c, now, window) < limit;
}

int rate_idle(const struct rate_counter *c, long long now, long window)
{
	struct rate_counter r = *c;

	rate_roll(&r, now, window);
	return rate_estimate(&r, now, window) == 0;
}

int rate_format(char *out, size_t outlen, const struct rate_counter *c)
{
	return str_format(out, outlen, "%lld %ld %ld %lld", c->start, c->cur,
	    c->prev, c->noted);
}

int rate_parse(const char *v, size_t len, struct rate_counter *c)
{
	char buf[RATE_VALUE_MAX + 1], tail;
	long long start, noted;
	long cur, prev;

	if (len == 0 || len > RATE_VALUE_MAX || memchr(v, '\0', len) != NULL)
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (sscanf(buf, "%lld %ld %ld %lld%c", &start, &cur, &prev, &noted, &tail) != 4 ||
	    start < 0 || cur < 0 || prev < 0 || noted < -1)
		return -1;
	c->start = start;
	c->cur = cur;
	c->prev = prev;
	c->noted = noted;
	return 0;
}

int rate_key(char *out, size_t outlen, const char *kind, const char *name)
{
	size_t i, k = strlen(kind), n = name ? strlen(name) : 0;

	if (n == 0 || k + 1 + n >= outlen)
		return -1;
	memcpy(out, kind, k);
	out[k] = ':';
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch <= 0x20 || ch >= 0x7f)
			return -1;
		out[k + 1 + i] = (char)tolower(ch);
	}
	out[k + 1 + n] = '\0';
	return 0;
}
