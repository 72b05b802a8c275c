/*
 * pop3.h: the POP3 session (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS,
 * RFC 5034 AUTH). One forked child runs one session and exits.
 */
#ifndef ISPMAILD_POP3_H
#define ISPMAILD_POP3_H

#include "session.h"

/* RFC 2449 §4: a command line is at most 255 octets with its CRLF. */
#define POP3_LINE_MAX 255
/* Bad or unknown commands tolerated before the session is closed. */

/* Run the session on ctx->fd to the end; returns the child's exit code. */
int pop3_session_run(const struct session_ctx *ctx);

#endif
