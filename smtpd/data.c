/*
 * data.c: the DATA state machine (see data.h). States are named for what
 * the reader has just seen; only BOL, reached through a real CRLF (or the
 * start of the message), can begin the terminator.
 */
#include "config.h"

#include "data.h"

enum {
	D_BOL,		/* at the start of a line, after CRLF */
	D_TEXT,		/* inside a line */
	D_CR,		/* CR seen, LF expected */
	D_DOT,		/* "." at BOL */
	D_DOTCR,	/* ".\r" at BOL: one LF from the end */
};

void smtp_data_init(struct smtp_data *d, size_t max_size)
{
	d->state = D_BOL;
	d->line_len = 0;
	d->size = 0;
	d->max_size = max_size;
	d->errors = 0;
	d->done = 0;
}

static void emit(struct smtp_data *d, struct buf *out, char c)
{
	if (d->errors == 0)
		buf_appendc(out, c);
}

/* A bare LF ends nothing: no BOL after it, so no terminator either. */
static void bare_lf(struct smtp_data *d)
{
	d->errors |= SMTP_DATA_BARE_LF;
	d->state = D_TEXT;
	d->line_len = 0;
}

/* A CR followed by c, not LF: flagged; c may itself start a CR LF. */
static void bare_cr(struct smtp_data *d, struct buf *out, char c)
{
	d->errors |= SMTP_DATA_BARE_CR;
	if (c == '\r') {
		d->state = D_CR;
	} else {
		emit(d, out, c);
		d->state = D_TEXT;
	}
}

size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t n, struct buf *out)
{
	size_t i;
	int was_done = d->done;

	for (i = 0; i < n && !d->done; i++) {
		char c = in[i];

		d->size++;
		if (d->max_size && d->size > d->max_size + 3)	/* ".\r\n" */
			d->errors |= SMTP_DATA_TOO_BIG;
		if (c == '\0')
			d->errors |= SMTP_DATA_NUL;
		if (++d->line_len > SMTP_DATA_LINE_MAX)
			d->errors |= SMTP_DATA_LONG_LINE;
		switch (d->state) {
		case D_BOL:
			if (c == '.') {
				d->state = D_DOT;
				break;
			}
			/* FALLTHROUGH */
		case D_TEXT:
			if (c == '\r') {
				d->state = D_CR;
			} else if (c == '\n') {
				bare_lf(d);
			} else {
				emit(d, out, c);
				d->state = D_TEXT;
			}
			break;
		case D_CR:
			if (c == '\n') {
				emit(d, out, '\n');
				d->state = D_BOL;
				d->line_len = 0;
			} else {
				bare_cr(d, out, c);
			}
			break;
		case D_DOT:
			if (c == '\r') {
				d->state = D_DOTCR;
			} else if (c == '\n') {
				bare_lf(d);
			} else {
				/* RFC 5321 §4.5.2: the first dot is removed. */
				emit(d, out, c);
				d->state = D_TEXT;
			}
			break;
		case D_DOTCR:
			if (c == '\n') {
				d->done = 1;
			} else {
				/* ".\r" then something: the CR was bare. */
				bare_cr(d, out, c);
			}
			break;
		}
	}
	if (d->done && !was_done)
		d->size -= 3;	/* the terminator is not part of the message */
	return i;
}
