/*
 * smtp.h: the SMTP session (RFC 5321, with PIPELINING RFC 2920, SIZE
 * RFC 1870, 8BITMIME RFC 6152, ENHANCEDSTATUSCODES RFC 2034/3463).
 * One forked child runs one session and exits.
 */
#ifndef ISPMAILD_SMTP_H
#define ISPMAILD_SMTP_H

#include "session.h"

/* RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with CRLF. */
#define SMTP_LINE_MAX 512
/*
 * Refusals by the relay policy logged one by one in a session; the rest
 * are summed up in one line at its end (a flood must not fill the disk).
 */
#define SMTP_REFUSALS_LOGGED 5
/*
 * DATA must keep moving: data_timeout, plus one second per this many bytes
 * received, for the whole message (Postfix's smtpd_min_data_rate), so a
 * client dripping a byte now and then is cut off whatever its line ends.
 */
#define SMTP_DATA_MIN_RATE 500

int smtp_session_run(const struct session_ctx *ctx);

#endif
