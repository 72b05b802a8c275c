/*
 * data.h: the SMTP DATA reader (RFC 5321 §4.1.1.4, §4.5.2), a byte-level
 * state machine in the manner of qmail's: only <CRLF>.<CRLF> ends the
 * message; a bare LF or a bare CR anywhere is flagged and never starts a
 * line that could end it (SMTP smuggling, 2023); dots are unstuffed; lines
 * over 1000 octets with their CRLF, NUL bytes and messages over the size
 * limit are flagged while the rest is read and thrown away. Content comes
 * out with LF line ends, as Maildir stores it.
 */
#ifndef ISPMAILD_DATA_H
#define ISPMAILD_DATA_H

#include <stddef.h>

#include "buf.h"
#include "hops.h"

/* RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets with CRLF. */
#define SMTP_DATA_LINE_MAX 1000

enum smtp_data_error {
	SMTP_DATA_BARE_LF = 1 << 0,
	SMTP_DATA_BARE_CR = 1 << 1,
	SMTP_DATA_LONG_LINE = 1 << 2,
	SMTP_DATA_NUL = 1 << 3,
	SMTP_DATA_TOO_BIG = 1 << 4,
};

struct smtp_data {
	int state;		/* private */
	size_t line_len;	/* octets of the current line so far */
	size_t size;		/* octets of the message as received */
	size_t max_size;	/* 0: no limit */
	int errors;		/* enum smtp_data_error bits */
	int done;		/* the terminator has been read */
};

void smtp_data_init(struct smtp_data *d, size_t max_size);

/*
 * Feed received bytes; content goes to out (nothing more once an error is
 * flagged). Returns how many bytes were consumed: it stops right after the
 * terminator, so that commands pipelined behind the message stay unread.
 */
size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t n, struct buf *out);

#endif
