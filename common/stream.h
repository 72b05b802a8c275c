/*
 * stream.h: the one I/O abstraction of a session. Buffered, bounded line
 * reads with a deadline, writes collected until a flush (one flush per
 * batch of pipelined replies), plain or TLS underneath, and the ability to
 * throw away input that was pipelined behind STARTTLS/STLS (RFC 3207 §4.2:
 * the 2011 command-injection class). No session touches read(2), SSL_read or
 * the socket itself.
 */
#ifndef ISPMAILD_STREAM_H
#define ISPMAILD_STREAM_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

#define STREAM_RBUF 16384

enum stream_status {
	STREAM_OK = 0,
	STREAM_EOF = -1,	/* the peer closed */
	STREAM_TIMEOUT = -2,	/* nothing arrived within the timeout */
	STREAM_ERROR = -3,	/* read/write/TLS error */
	STREAM_TOOLONG = -4,	/* line longer than the limit (it was skipped) */
};

struct ssl_st;
struct ssl_ctx_st;

struct stream {
	int fd;
	struct ssl_st *ssl;	/* non-NULL once TLS is up */
	int timeout_ms;		/* per read or write wait */
	long long deadline;	/* monotonic ms the session ends; 0: none */
	char rbuf[STREAM_RBUF];
	size_t rpos, rlen;
	struct buf wbuf;
	unsigned long long bytes_in, bytes_out;
};

void stream_init(struct stream *s, int fd, int timeout_sec);
/* Frees buffers and TLS state; does not close fd. */
void stream_free(struct stream *s);
void stream_set_timeout(struct stream *s, int timeout_sec);
/*
 * The whole session must end within total_sec from now (0: no limit): every
 * later wait, read or write, is cut short at that point and ends in
 * STREAM_TIMEOUT, and no more input is read once it has passed.
 */
void stream_set_deadline(struct stream *s, long total_sec);
/* Has the session's deadline passed (so a STREAM_TIMEOUT was that one)? */
int stream_expired(const struct stream *s);

/*
 * Read one line ending in LF (a preceding CR is removed too) into line,
 * NUL-terminated. max is the protocol's limit counting the CRLF (512 for
 * SMTP, 255 for POP3); line must hold max bytes. *len gets its length
 * (which may include NUL bytes). *crlf, when not NULL, tells whether it ended
 * in CRLF. On STREAM_TOOLONG the rest of the overlong line has been read and
 * discarded (or, if it never ends, STREAM_TIMEOUT/EOF follows).
 */
int stream_read_line(struct stream *s, char *line, size_t max, size_t *len, int *crlf);

/*
 * Raw access for byte-level state machines (the DATA reader): make sure at
 * least one byte is buffered, and point *p at the buffered bytes. Returns
 * the count (> 0) or a negative enum stream_status. Consume with
 * stream_consume().
 */
ssize_t stream_peek(struct stream *s, const char **p);
void stream_consume(struct stream *s, size_t n);

/* Is input already buffered (so replies can wait: RFC 2920 pipelining)? */
int stream_input_pending(const struct stream *s);
/* Drop buffered, unread input (after STARTTLS/STLS). */
void stream_discard_input(struct stream *s);

void stream_write(struct stream *s, const void *p, size_t n);
void stream_puts(struct stream *s, const char *str);
void stream_printf(struct stream *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Write everything buffered; STREAM_OK or a negative status. */
int stream_flush(struct stream *s);
/* Bytes waiting to be flushed. */
size_t stream_pending_output(const struct stream *s);

/* Server-side TLS handshake over the same fd (STARTTLS or implicit). */
int stream_start_tls(struct stream *s, struct ssl_ctx_st *ctx);
/* Client-side handshake (the outbound queue's opportunistic STARTTLS). */
int stream_start_tls_client(struct stream *s, struct ssl_ctx_st *ctx, const char *sni);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" or NULL when plain. */
const char *stream_tls_version(const struct stream *s);
const char *stream_tls_cipher(const struct stream *s);

#endif
