/*
 * stream.c: the session stream. A non-blocking socket driven by poll(2)
 * with a deadline per line, so that a client dripping one byte at a time
 * is cut off at the timeout rather than kept forever. TLS (OpenSSL) sits
 * underneath the same calls once stream_start_tls() succeeds.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "stream.h"
#include "sys.h"

void stream_init(struct stream *s, int fd, int timeout_sec)
{
	int fl;

	memset(s, 0, sizeof *s);
	s->fd = fd;
	buf_init(&s->wbuf);
	stream_set_timeout(s, timeout_sec);
	fl = fcntl(fd, F_GETFL);
	if (fl != -1)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void stream_set_timeout(struct stream *s, int timeout_sec)
{
	/* Configured values go up to INT_MAX seconds: clamp, never overflow. */
	if (timeout_sec <= 0)
		s->timeout_ms = 1000;
	else if (timeout_sec > INT_MAX / 1000)
		s->timeout_ms = INT_MAX / 1000 * 1000;
	else
		s->timeout_ms = timeout_sec * 1000;
}

void stream_set_deadline(struct stream *s, long total_sec)
{
	s->deadline = total_sec > 0 ? now_ms() + total_sec * 1000LL : 0;
}

int stream_expired(const struct stream *s)
{
	return s->deadline != 0 && now_ms() >= s->deadline;
}

/* The end of one wait: the per-read timeout, capped by the session's end. */
static long long wait_until(const struct stream *s)
{
	long long d = now_ms() + s->timeout_ms;

	return s->deadline != 0 && s->deadline < d ? s->deadline : d;
}

void stream_free(struct stream *s)
{
	if (s->ssl != NULL) {
		SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	buf_free(&s->wbuf);
	/*
	 * A session process serves its next client with the same stack: no
	 * password line (PASS, AUTH) of this one may linger in it.
	 */
	explicit_bzero(s->rbuf, sizeof s->rbuf);
	s->rpos = s->rlen = 0;
}

/* Wait for the socket until the deadline; STREAM_OK or STREAM_TIMEOUT/ERROR. */
static int wait_fd(struct stream *s, short events, long long deadline)
{
	struct pollfd pfd;
	long long left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return STREAM_TIMEOUT;
		pfd.fd = s->fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return STREAM_OK;
		if (r < 0 && errno != EINTR)
			return STREAM_ERROR;
	}
}

/* One read into the free tail of rbuf; bytes read or a negative status. */
static ssize_t fill(struct stream *s, long long deadline)
{
	ssize_t n;

	/* Past the session's end even a client that never pauses stops here. */
	if (stream_expired(s))
		return STREAM_TIMEOUT;
	if (s->rpos == s->rlen)
		s->rpos = s->rlen = 0;
	if (s->rlen == sizeof s->rbuf) {
		if (s->rpos == 0)
			return STREAM_ERROR;	/* caller bug: buffer full */
		memmove(s->rbuf, s->rbuf + s->rpos, s->rlen - s->rpos);
		s->rlen -= s->rpos;
		s->rpos = 0;
	}
	for (;;) {
		size_t room = sizeof s->rbuf - s->rlen;

		if (s->ssl != NULL) {
			int r, e;

			ERR_clear_error();
			r = SSL_read(s->ssl, s->rbuf + s->rlen, (int)room);
			if (r > 0) {
				n = r;
				break;
			}
			e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_ZERO_RETURN)
				return STREAM_EOF;
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				int w = wait_fd(s, e == SSL_ERROR_WANT_READ ?
				    POLLIN : POLLOUT, deadline);
				if (w != STREAM_OK)
					return w;
				continue;
			}
			if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
				return STREAM_EOF;
			return STREAM_ERROR;
		}
		n = read(s->fd, s->rbuf + s->rlen, room);
		if (n > 0)
			break;
		if (n == 0)
			return STREAM_EOF;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = wait_fd(s, POLLIN, deadline);
			if (w != STREAM_OK)
				return w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET)
			return STREAM_EOF;
		return STREAM_ERROR;
	}
	s->rlen += (size_t)n;
	s->bytes_in += (unsigned long long)n;
	return n;
}

int stream_read_line(struct stream *s, char *line, size_t max, size_t *len, int *crlf)
{
	long long deadline = wait_until(s);
	size_t used = 0;
	int toolong = 0;

	for (;;) {
		char *start = s->rbuf + s->rpos;
		size_t avail = s->rlen - s->rpos;
		char *nl = memchr(start, '\n', avail);
		size_t take = nl ? (size_t)(nl - start) + 1 : avail;

		if (!toolong) {
			/* With its LF the line may use max bytes; without, max-1. */
			if (used + take > (nl ? max : max - 1)) {
				toolong = 1;
			} else {
				memcpy(line + used, start, take);
				used += take;
			}
		}
		s->rpos += take;
		if (nl != NULL)
			break;
		ssize_t r = fill(s, deadline);
		if (r < 0)
			return (int)r;
	}
	if (toolong) {
		*len = 0;
		line[0] = '\0';
		return STREAM_TOOLONG;
	}
	/* used includes the LF; strip it and a CR before it. */
	used--;
	if (crlf != NULL)
		*crlf = used > 0 && line[used - 1] == '\r';
	if (used > 0 && line[used - 1] == '\r')
		used--;
	line[used] = '\0';
	*len = used;
	return STREAM_OK;
}

ssize_t stream_peek(struct stream *s, const char **p)
{
	if (s->rpos == s->rlen) {
		ssize_t r = fill(s, wait_until(s));
		if (r < 0)
			return r;
	}
	*p = s->rbuf + s->rpos;
	return (ssize_t)(s->rlen - s->rpos);
}

void stream_consume(struct stream *s, size_t n)
{
	if (n > s->rlen - s->rpos)
		n = s->rlen - s->rpos;
	s->rpos += n;
}

int stream_input_pending(const struct stream *s)
{
	if (s->rpos < s->rlen)
		return 1;
	return s->ssl != NULL && SSL_pending(s->ssl) > 0;
}

void stream_discard_input(struct stream *s)
{
	s->rpos = s->rlen = 0;
}

void stream_write(struct stream *s, const void *p, size_t n)
{
	buf_append(&s->wbuf, p, n);
}

void stream_puts(struct stream *s, const char *str)
{
	buf_appends(&s->wbuf, str);
}

void stream_printf(struct stream *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&s->wbuf, fmt, ap);
	va_end(ap);
}

size_t stream_pending_output(const struct stream *s)
{
	return s->wbuf.len;
}

int stream_flush(struct stream *s)
{
	long long deadline = wait_until(s);
	size_t off = 0;
	int status = STREAM_OK;

	while (off < s->wbuf.len) {
		size_t left = s->wbuf.len - off;
		ssize_t n;

		if (s->ssl != NULL) {
			int r, e;

			ERR_clear_error();
			r = SSL_write(s->ssl, s->wbuf.s + off,
			    left > 1 << 30 ? 1 << 30 : (int)left);
			if (r > 0) {
				off += (size_t)r;
				continue;
			}
			e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				status = wait_fd(s, e == SSL_ERROR_WANT_READ ?
				    POLLIN : POLLOUT, deadline);
				if (status != STREAM_OK)
					break;
				continue;
			}
			status = STREAM_ERROR;
			break;
		}
		n = send(s->fd, s->wbuf.s + off, left, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			status = wait_fd(s, POLLOUT, deadline);
			if (status != STREAM_OK)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		status = (n < 0 && (errno == EPIPE || errno == ECONNRESET)) ?
		    STREAM_EOF : STREAM_ERROR;
		break;
	}
	s->bytes_out += off;
	buf_consume(&s->wbuf, off);
	if (status != STREAM_OK)
		buf_reset(&s->wbuf);
	return status;
}

/* The handshake of either side, driven by poll() until the deadline. */
static int handshake(struct stream *s, struct ssl_ctx_st *ctx, int client,
    const char *sni)
{
	long long deadline = wait_until(s);

	stream_discard_input(s);
	s->ssl = SSL_new(ctx);
	if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1) {
		SSL_free(s->ssl);
		s->ssl = NULL;
		return STREAM_ERROR;
	}
	if (client && sni != NULL)
		(void)SSL_set_tlsext_host_name(s->ssl, sni);
	for (;;) {
		int r, e, w;

		ERR_clear_error();
		r = client ? SSL_connect(s->ssl) : SSL_accept(s->ssl);
		if (r == 1)
			return STREAM_OK;
		e = SSL_get_error(s->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			SSL_free(s->ssl);
			s->ssl = NULL;
			return STREAM_ERROR;
		}
		w = wait_fd(s, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
		if (w != STREAM_OK) {
			SSL_free(s->ssl);
			s->ssl = NULL;
			return w;
		}
	}
}

int stream_start_tls(struct stream *s, struct ssl_ctx_st *ctx)
{
	return handshake(s, ctx, 0, NULL);
}

int stream_start_tls_client(struct stream *s, struct ssl_ctx_st *ctx, const char *sni)
{
	return handshake(s, ctx, 1, sni);
}

const char *stream_tls_version(const struct stream *s)
{
	return s->ssl ? SSL_get_version(s->ssl) : NULL;
}

const char *stream_tls_cipher(const struct stream *s)
{
	return s->ssl ? SSL_get_cipher_name(s->ssl) : NULL;
}
