/*
 * wire.c: a stored message as POP3 sends it (RFC 1939 §3 multi-line
 * responses: CRLF line ends, byte-stuffing of a leading "."; §7 TOP).
 * A byte-level state machine, so chunk boundaries never change the output.
 */
#include "config.h"

#include "maildir.h"

void maildir_wire_init(struct maildir_wire *st, long top_lines)
{
	st->top_lines = top_lines;
	st->body_lines = 0;
	st->at_bol = 1;
	st->in_body = 0;
	st->line_empty = 1;
	st->pending_cr = 0;
	st->done = 0;
}

/*
 * A line starts: for TOP, decide whether it is sent at all. Headers always
 * are; a body line only while fewer than top_lines were sent.
 */
static int line_start(struct maildir_wire *st)
{
	st->at_bol = 0;
	if (st->in_body && st->top_lines >= 0) {
		if (st->body_lines >= st->top_lines) {
			st->done = 1;
			return -1;
		}
		st->body_lines++;
	}
	return 0;
}

/*
 * A CR is sent at once; it stays "pending" only to know whether it ends
 * the line (CRLF, which keeps an empty line empty) or is content.
 */
void maildir_wire_encode(struct maildir_wire *st, const char *in, size_t n, struct buf *out)
{
	buf_reserve(out, n + n / 8 + 2);
	for (size_t i = 0; i < n && !st->done; i++) {
		char c = in[i];
		int first = st->at_bol;

		/* Mid-line content up to the next CR or LF: copied as it is. */
		if (!first && !st->pending_cr && c != '\r' && c != '\n') {
			size_t j = i + 1;

			while (j < n && in[j] != '\r' && in[j] != '\n')
				j++;
			buf_append(out, in + i, j - i);
			st->line_empty = 0;
			i = j - 1;
			continue;
		}
		if (first && line_start(st) != 0)
			break;
		if (c == '\n') {
			if (!st->pending_cr)
				buf_appendc(out, '\r');
			buf_appendc(out, '\n');
			/* §7: the empty line ends the headers. */
			if (!st->in_body && st->line_empty)
				st->in_body = 1;
			st->at_bol = 1;
			st->line_empty = 1;
			st->pending_cr = 0;
			continue;
		}
		if (st->pending_cr)
			st->line_empty = 0;	/* that CR was content */
		st->pending_cr = c == '\r';
		if (c != '\r')
			st->line_empty = 0;
		/* §3: a line starting with "." gets one more. */
		if (first && c == '.')
			buf_appendc(out, '.');
		buf_appendc(out, c);
	}
}

void maildir_wire_finish(struct maildir_wire *st, struct buf *out)
{
	if (!st->done && !st->at_bol) {
		buf_appendc(out, '\r');
		buf_appendc(out, '\n');
	}
	st->at_bol = 1;
	st->line_empty = 1;
	st->pending_cr = 0;
	st->done = 1;
}
