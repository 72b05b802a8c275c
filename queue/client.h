/*
 * client.h: the outbound SMTP client (RFC 5321 §3, §4.5.3.2) used by the
 * queue runner: one message, one destination, the targets tried in order
 * until one gives a verdict. EHLO with HELO fallback, opportunistic
 * STARTTLS (RFC 3207; no certificate check, as RFC 7435 allows), SIZE,
 * PIPELINING of MAIL and RCPT when offered.
 */
#ifndef ISPMAILD_CLIENT_H
#define ISPMAILD_CLIENT_H

#include <stddef.h>
#include <sys/socket.h>

struct ssl_ctx_st;

struct smtp_client_target {
	char host[256];			/* for the log and the SNI */
	struct sockaddr_storage addr;	/* port included */
	socklen_t addrlen;
};

enum smtp_client_fate {
	SMTP_CLIENT_DEFERRED = 0,	/* try again later */
	SMTP_CLIENT_DELIVERED,
	SMTP_CLIENT_FAILED,		/* permanent: bounce */
};

struct smtp_client_rcpt {
	const char *address;
	enum smtp_client_fate fate;
	char reply[512];		/* the server's reply, or ours */
};

struct smtp_client_params {
	const char *helo;		/* our hostname */
	int timeout;			/* seconds per reply */
	int data_timeout;		/* seconds for the reply after "." */
	int deadline;			/* seconds for the whole attempt, all targets */
	struct ssl_ctx_st *tls;		/* client context, NULL: no STARTTLS */
	const char *id;			/* queue id, for the log */
};

/*
 * A reply longer than this many lines or bytes (all lines together) ends
 * the connection: a server that never finishes its reply ("220-" forever)
 * must not hold a queue worker.
 */
#define SMTP_CLIENT_REPLY_LINES 100
#define SMTP_CLIENT_REPLY_BYTES 16384

/*
 * Send the message in datafd (LF line ends, size bytes on disk) from sender
 * to the recipients, trying each target in turn. Every recipient's fate
 * and reply are filled in; a target that cannot be reached or answers 4xx
 * before MAIL is skipped for the next one. Each reply must be complete
 * within timeout (data_timeout after the dot), and the whole attempt
 * within deadline; past it the pending recipients are deferred. Returns
 * the number of targets tried.
 */
size_t smtp_client_send(const struct smtp_client_params *p,
    const struct smtp_client_target *t, size_t nt, const char *sender,
    struct smtp_client_rcpt *r, size_t nr, int datafd, size_t size);

/*
 * Copy remote text (a reply line of len bytes, NULs included) into out as
 * printable ASCII, escaped as the log escapes a quoted value (log_escape):
 * every byte outside 0x20-0x7e (CR, LF, NUL, ESC, 8-bit) becomes \xhh, and
 * '"' and '\' get a backslash. The result goes into the log, the envelope,
 * ispmailctl's output and a DSN as it is, never escaped twice. Truncated to
 * fit outlen, never inside an escape.
 */
void smtp_client_clean_text(const char *in, size_t len, char *out, size_t outlen);

/* A client TLS context for opportunistic STARTTLS; NULL on failure. */
struct ssl_ctx_st *smtp_client_tls_ctx(void);

#endif
