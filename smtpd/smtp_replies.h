/*
 * smtp_replies.h: every SMTP reply of the session in one place, the relay
 * policy's too. Each is "code", "enhanced code" (RFC 3463, sent only after
 * EHLO: RFC 2034) and text; smtp_reply() (smtp_session.c) is the one
 * formatter. docs/PROTOCOL.md quotes each (tests/sessions/docs_replies.py).
 */
#ifndef ISPMAILD_SMTP_REPLIES_H
#define ISPMAILD_SMTP_REPLIES_H

struct smtp_reply {
	int code;
	const char *enhanced;	/* NULL: none even after EHLO */
	const char *text;	/* may hold one %s, filled by the caller */
};

#define R(name, code, enh, text) \
	static const struct smtp_reply name = { code, enh, text }

R(SMTP_GREETING,       220, NULL,    "%s ESMTP ispmaild");
R(SMTP_BYE,            221, "2.0.0", "Bye");
R(SMTP_OK,             250, "2.0.0", "Ok");
R(SMTP_MAIL_OK,        250, "2.1.0", "Ok");
R(SMTP_QUEUED,         250, "2.0.0", "Ok: queued as %s");
R(SMTP_VRFY,           252, "2.0.0", "Send some mail, I'll try my best");
R(SMTP_HELP,           214, "2.0.0", "See RFC 5321; commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
R(SMTP_DATA_GO,        354, NULL,    "End data with <CR><LF>.<CR><LF>");
R(SMTP_TIMEOUT,        421, "4.4.2", "%s Error: timeout exceeded");
R(SMTP_SESSION_TIMEOUT, 421, "4.4.2", "%s Error: session timeout exceeded");
R(SMTP_TOO_MANY_ERR,   421, "4.7.0", "%s Error: too many errors");
R(SMTP_TOO_MANY_JUNK,  421, "4.7.0", "%s Error: too many junk commands");
R(SMTP_TLS_READY,      220, "2.0.0", "Ready to start TLS");
R(SMTP_TLS_ALREADY,    503, "5.5.1", "Error: TLS already active");
R(SMTP_AUTH_OK,        235, "2.7.0", "Authentication successful");
R(SMTP_AUTH_FAILED,    535, "5.7.8", "Error: authentication failed");
R(SMTP_AUTH_CANCELLED, 501, "5.7.0", "Authentication cancelled");
R(SMTP_AUTH_BASE64,    501, "5.5.2", "Error: invalid base64 data");
R(SMTP_AUTH_SYNTAX,    501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
R(SMTP_AUTH_MECH,      504, "5.5.4", "Unrecognized authentication type");
R(SMTP_AUTH_ALREADY,   503, "5.5.1", "Error: already authenticated");
R(SMTP_AUTH_IN_MAIL,   503, "5.5.1", "Error: MAIL transaction in progress");
R(SMTP_AUTH_NEED_TLS,  538, "5.7.11", "Encryption required for requested authentication mechanism");
R(SMTP_LOCAL_ERROR,    451, "4.3.0", "Error: local error in processing, try again later");
/* The shared state (relay.backend, Redis) could not say whether the client may relay. */
R(SMTP_STATE_TEMPFAIL, 451, "4.3.0", "Temporary lookup failure, try again later");
R(SMTP_NO_STORAGE,     452, "4.3.1", "Insufficient system storage");
R(SMTP_TOO_MANY_RCPT,  452, "4.5.3", "Error: too many recipients");
R(SMTP_UNKNOWN,        500, "5.5.2", "Error: command not recognized");
R(SMTP_LINE_TOO_LONG,  500, "5.5.2", "Error: line too long");
R(SMTP_BAD_CHAR,       500, "5.5.2", "Error: bad character in command");
R(SMTP_SYNTAX_HELO,    501, "5.5.4", "Syntax: HELO hostname");
R(SMTP_SYNTAX_EHLO,    501, "5.5.4", "Syntax: EHLO hostname");
R(SMTP_SYNTAX_MAIL,    501, "5.5.4", "Syntax: MAIL FROM:<address>");
R(SMTP_SYNTAX_RCPT,    501, "5.5.4", "Syntax: RCPT TO:<address>");
R(SMTP_SYNTAX_VRFY,    501, "5.5.4", "Syntax: VRFY address");
R(SMTP_SYNTAX_NOARGS,  501, "5.5.4", "Syntax error, no parameters allowed");
R(SMTP_BAD_BODY,       501, "5.5.4", "Bad BODY parameter");
R(SMTP_BAD_SIZE,       501, "5.5.4", "Bad SIZE parameter");
R(SMTP_NOT_IMPL,       502, "5.5.1", "Error: command not implemented");
R(SMTP_NEED_HELO,      503, "5.5.1", "Error: send HELO/EHLO first");
R(SMTP_NESTED_MAIL,    503, "5.5.1", "Error: nested MAIL command");
R(SMTP_NEED_MAIL,      503, "5.5.1", "Error: need MAIL command");
R(SMTP_NEED_RCPT,      554, "5.5.1", "Error: no valid recipients");
R(SMTP_UNKNOWN_PARAM,  555, "5.5.4", "Unsupported option: %s");
R(SMTP_USER_UNKNOWN,   550, "5.1.1", "<%s>: Recipient address rejected: User unknown");
R(SMTP_SRS_INVALID,    550, "5.1.1", "<%s>: Recipient address rejected: invalid SRS address");
R(SMTP_SIZE_EXCEEDED,  552, "5.3.4", "Error: message size exceeds fixed limit");
R(SMTP_BARE_LF,        550, "5.5.2", "Error: bare <LF> or <CR> received, message refused");
R(SMTP_LONG_LINE,      550, "5.5.2", "Error: message line longer than 1000 octets");
R(SMTP_NUL_IN_DATA,    550, "5.6.0", "Error: message contains NUL characters");
R(SMTP_TOO_MANY_HOPS,  554, "5.4.6", "Too many hops");

/*
 * The relay policy's replies (policy.h: the verdicts; docs/PROTOCOL.md,
 * relay policy). A bad path is X.1.7 at MAIL and X.1.3 at RCPT; the 553
 * after HELO ends in the enhanced code the client cannot otherwise see.
 */
R(SMTP_RCPT_OK,        250, "2.1.5", "Ok");
R(SMTP_AUTH_REQUIRED,  530, "5.7.0", "Authentication required");
R(SMTP_FIRST_POP,      553, "5.7.1", "To send mail, first check your mail with a valid POP account; this prevents unauthorized SPAM relaying.");
R(SMTP_FIRST_POP_HELO, 553, NULL, "To send mail, first check your mail with a valid POP account; this prevents unauthorized SPAM relaying. (#5.7.1)");
R(SMTP_RELAY_DENIED,   550, "5.7.1", "relaying to <%s> prohibited by administrator");
R(SMTP_RELAY_DENIED_NOBOX, 550, "5.7.1", "relaying prohibited by administrator");
R(SMTP_BAD_SENDER,     501, "5.1.7", "Bad sender address syntax");
R(SMTP_BAD_RECIPIENT,  501, "5.1.3", "Bad recipient address syntax");
R(SMTP_SENDER_TOO_LONG, 501, "5.1.7", "Path too long");
R(SMTP_RCPT_TOO_LONG,  501, "5.1.3", "Path too long");
R(SMTP_SENDER_LOCAL_LONG, 501, "5.1.7", "Local part too long");
R(SMTP_RCPT_LOCAL_LONG, 501, "5.1.3", "Local part too long");
R(SMTP_SENDER_DOMAIN_LONG, 501, "5.1.7", "Domain name too long");
R(SMTP_RCPT_DOMAIN_LONG, 501, "5.1.3", "Domain name too long");
R(SMTP_BAD_PARAMS,     501, "5.5.4", "Syntax error in parameters");
R(SMTP_NON_ASCII,      553, "5.6.7", "Non-ASCII address not permitted");

/* The sender checks and the outbound limits (relay and limits blocks). */
R(SMTP_SENDER_NOT_OWNED, 553, "5.7.1", "Sender address rejected: not owned by user %s");
R(SMTP_SENDER_NOT_LOGGED_IN, 550, "5.7.1", "Sender address rejected: not logged in");
R(SMTP_RATE_LIMITED,   451, "4.7.1", "Sending rate limit exceeded, try again later");
/* A local mailbox at its Maildir++ quota (users file quota=). */
R(SMTP_MAILBOX_FULL,   452, "4.2.2", "Mailbox full");

/*
 * Inbound filters at RCPT (filter/dnsbl.h, filter/greylist.h). The DNSBL
 * reply holds two %s: the client's address, then the zone.
 */
R(SMTP_DNSBL_BLOCKED,  554, "5.7.1", "Service unavailable; client [%s] blocked using %s");
R(SMTP_GREYLISTED,     450, "4.7.1", "Greylisted, try again later");

/*
 * The mail filters' refusals (milters), when the filter gave no reply of
 * its own. At connect: 554 to the greeting and every later command but
 * QUIT, or 421 and the end of the session.
 */
R(SMTP_MILTER_CONNECT_REJECT, 554, "5.7.1", "%s Service unavailable");
R(SMTP_MILTER_CONNECT_TEMPFAIL, 421, "4.7.1", "%s Service unavailable, try again later");
R(SMTP_MILTER_REJECT,  550, "5.7.1", "Command rejected by filter");
R(SMTP_MILTER_RCPT_REJECT, 550, "5.7.1", "Recipient rejected by filter");
R(SMTP_MILTER_MESSAGE_REJECT, 550, "5.7.1", "Message rejected by filter");
R(SMTP_MILTER_TEMPFAIL, 451, "4.7.1", "Service temporarily unavailable, try again later");

#undef R

#endif
