/*
 * pop3_replies.h: every POP3 reply text in one place. Response codes in
 * brackets are RFC 2449 §8 / RFC 3206 ([IN-USE], [AUTH], [SYS/TEMP]).
 */
#ifndef ISPMAILD_POP3_REPLIES_H
#define ISPMAILD_POP3_REPLIES_H

#define POP3_GREETING		"+OK %s ispmaild ready."
#define POP3_OK			"+OK"
#define POP3_BYE		"+OK Logging out."
#define POP3_USER_OK		"+OK Send your password."
#define POP3_LOGIN_OK		"+OK Logged in, %zu messages."
#define POP3_CAPA		"+OK Capability list follows"
#define POP3_STAT		"+OK %zu %llu"
#define POP3_LIST_ALL		"+OK %zu messages (%llu octets)"
#define POP3_LIST_ONE		"+OK %zu %zu"
#define POP3_UIDL_ALL		"+OK Unique-ID listing follows"
#define POP3_UIDL_ONE		"+OK %zu %s"
#define POP3_RETR		"+OK %zu octets"
#define POP3_TOP		"+OK Top of message follows"
#define POP3_DELE		"+OK Message %zu deleted."
#define POP3_RSET		"+OK %zu messages, none marked deleted."

#define POP3_STLS		"+OK Begin TLS negotiation now."
#define POP3_AUTH_LIST		"+OK SASL mechanisms follow"
#define POP3_ERR_TLS_ACTIVE	"-ERR TLS is already active."
#define POP3_ERR_NO_TLS		"-ERR TLS is not available."
#define POP3_ERR_AUTH_MECH	"-ERR [AUTH] Unsupported authentication mechanism."
#define POP3_ERR_AUTH_CANCEL	"-ERR Authentication cancelled."
#define POP3_ERR_AUTH_BASE64	"-ERR Invalid base64 data in continued response."
#define POP3_ERR_UNKNOWN	"-ERR Unknown command."
#define POP3_ERR_STATE		"-ERR Command not valid in this state."
#define POP3_ERR_SYNTAX		"-ERR Invalid arguments."
#define POP3_ERR_TOOLONG	"-ERR Line too long."
#define POP3_ERR_NUL		"-ERR Invalid character in command."
#define POP3_ERR_TOO_MANY_BAD	"-ERR Too many invalid commands, closing."
#define POP3_ERR_TOO_MANY_JUNK	"-ERR Too many commands without retrieval, closing."
#define POP3_ERR_NO_USER	"-ERR No username given, use USER first."
#define POP3_ERR_AUTH_FAILED	"-ERR [AUTH] Authentication failed."
#define POP3_ERR_AUTH_CLOSE	"-ERR [AUTH] Authentication failed, closing."
#define POP3_ERR_PLAINTEXT	"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
#define POP3_ERR_IN_USE		"-ERR [IN-USE] Mailbox is locked by another POP3 session."
#define POP3_ERR_MAILBOX	"-ERR [SYS/TEMP] Cannot open the mailbox, try again later."
#define POP3_ERR_NO_MSG		"-ERR There is no such message."
#define POP3_ERR_DELETED	"-ERR Message is deleted."
#define POP3_ERR_READ		"-ERR [SYS/TEMP] Cannot read the message."
#define POP3_ERR_UPDATE		"-ERR [SYS/TEMP] Some deleted messages were not removed."
#define POP3_ERR_TIMEOUT	"-ERR Disconnected for inactivity."
#define POP3_ERR_SESSION_TIMEOUT "-ERR Session time limit reached, closing."

#endif
