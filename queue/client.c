/*
 * client.c: the outbound SMTP client (see client.h). Every reply is
 * logged with the queue id. Replies are read whole, multi-line ones too
 * (RFC 5321 §4.2.1); only the last line's text is kept. Every wait is
 * bounded three ways: the stage's timeout for the whole reply (not per
 * byte: a server trickling a byte a second gets no longer), a cap on a
 * reply's lines and bytes, and the attempt's deadline over everything.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "client.h"
#include "log.h"
#include "maildir.h"
#include "stream.h"
#include "sys.h"

struct conn {
	struct stream st;
	const struct smtp_client_params *p;
	const struct smtp_client_target *t;
	char where[300];		/* "host[addr]:port" */
	int pipelining, size, starttls, esmtp;
	int code;			/* last reply code, 0 if none */
	char text[512];			/* last reply line */
	int reply_timeout;		/* seconds for the next whole reply */
	long long deadline;		/* the attempt's end, monotonic ms */
};

void smtp_client_clean_text(const char *in, size_t len, char *out, size_t outlen)
{
	/* The log's own escaping: the stored text is then printed as it is. */
	(void)log_escape(in, len, out, outlen);
}

/* The attempt's deadline, from its length in seconds (0: none). */
static long long deadline_from(int seconds)
{
	return seconds > 0 ? now_ms() + (long long)seconds * 1000 : LLONG_MAX / 2;
}

/*
 * Why the connection ended, for the log and the envelope: a failed read
 * or write (a stream status), told apart from the attempt's deadline.
 * Returns 0, the "no reply" code.
 */
static int conn_failed(struct conn *c, int r)
{
	if (r == STREAM_TIMEOUT && now_ms() >= c->deadline)
		snprintf(c->text, sizeof c->text,
		    "delivery deadline (%d s) reached talking to %s",
		    c->p->deadline, c->where);
	else
		snprintf(c->text, sizeof c->text, "connection to %s %s", c->where,
		    r == STREAM_TIMEOUT ? "timed out" : r == STREAM_TOOLONG ?
		    "sent an overlong line" : "was lost");
	c->code = 0;
	return 0;
}

/*
 * Let the stream wait until `until` (monotonic ms) at most, and never past
 * the attempt's deadline. Returns STREAM_OK, or STREAM_TIMEOUT when that
 * time has already come.
 */
static int conn_arm(struct conn *c, long long until)
{
	long long left;

	if (until > c->deadline)
		until = c->deadline;
	left = until - now_ms();
	if (left <= 0)
		return STREAM_TIMEOUT;
	c->st.timeout_ms = left > INT_MAX ? INT_MAX : (int)left;
	return STREAM_OK;
}

/* Send what is buffered within the command timeout; 0, or -1 (text set). */
static int conn_flush(struct conn *c)
{
	int r = conn_arm(c, now_ms() + (long long)c->p->timeout * 1000);

	if (r == STREAM_OK)
		r = stream_flush(&c->st);
	if (r != STREAM_OK) {
		conn_failed(c, r);
		return -1;
	}
	return 0;
}

static void target_text(const struct smtp_client_target *t, char *out, size_t outlen)
{
	char a[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (t->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&t->addr;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
		port = ntohs(s6->sin6_port);
	} else if (t->addr.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&t->addr;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
		port = ntohs(s4->sin_port);
	}
	snprintf(out, outlen, "%s[%s]:%d", t->host, a, port);
}

/* Non-blocking connect bounded by the timeout (ms, > 0). */
static int connect_to(const struct smtp_client_target *t, int timeout)
{
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int fd, err = 0;

	fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, timeout) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
		close(fd);
		errno = err ? err : ETIMEDOUT;
		return -1;
	}
	return fd;
}

/*
 * Read one whole reply within reply_timeout, at most
 * SMTP_CLIENT_REPLY_LINES lines of SMTP_CLIENT_REPLY_BYTES in all. Returns
 * its code (>= 200), or 0 when the connection failed (text says why).
 * EHLO keywords are noted on the way.
 */
static int read_reply(struct conn *c, int ehlo)
{
	char line[1024];
	long long until = now_ms() + (long long)c->reply_timeout * 1000;
	size_t len, lines = 0, bytes = 0;
	int r, code = 0;

	for (;;) {
		r = conn_arm(c, until);
		if (r == STREAM_OK)
			r = stream_read_line(&c->st, line, sizeof line, &len, NULL);
		if (r != STREAM_OK)
			return conn_failed(c, r);
		bytes += len + 2;
		if (++lines > SMTP_CLIENT_REPLY_LINES || bytes > SMTP_CLIENT_REPLY_BYTES) {
			if (lines > SMTP_CLIENT_REPLY_LINES)
				snprintf(c->text, sizeof c->text, "%s sent more than %d reply lines",
				    c->where, SMTP_CLIENT_REPLY_LINES);
			else
				snprintf(c->text, sizeof c->text, "%s sent a reply of more than %d bytes",
				    c->where, SMTP_CLIENT_REPLY_BYTES);
			c->code = 0;
			return 0;
		}
		if (len < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' ||
		    (len > 3 && line[3] != ' ' && line[3] != '-')) {
			snprintf(c->text, sizeof c->text, "%s sent a malformed reply", c->where);
			c->code = 0;
			return 0;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (ehlo && len > 4) {
			const char *kw = line + 4;

			if (strcasecmp(kw, "PIPELINING") == 0)
				c->pipelining = 1;
			else if (strcasecmp(kw, "STARTTLS") == 0)
				c->starttls = 1;
			else if (strncasecmp(kw, "SIZE", 4) == 0 && (kw[4] == '\0' || kw[4] == ' '))
				c->size = 1;
		}
		if (len == 3 || line[3] == ' ')
			break;
	}
	c->code = code;
	/* The remote text goes to the log, the envelope and DSNs: no CR in it. */
	smtp_client_clean_text(line, len, c->text, sizeof c->text);
	log_info("id=%s relay=%s reply=\"%s\"", c->p->id, log_q(c->where), c->text);
	return code;
}

static int command(struct conn *c, int ehlo, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int command(struct conn *c, int ehlo, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&c->st.wbuf, fmt, ap);
	va_end(ap);
	stream_write(&c->st, "\r\n", 2);
	if (conn_flush(c) != 0)
		return 0;
	return read_reply(c, ehlo);
}

/* EHLO, or HELO when EHLO is refused (RFC 5321 §3.2). */
static int hello(struct conn *c)
{
	int code;

	c->pipelining = c->size = c->starttls = 0;
	code = command(c, 1, "EHLO %s", c->p->helo);
	if (code == 250) {
		c->esmtp = 1;
		return 250;
	}
	if (code >= 500) {
		c->esmtp = 0;
		return command(c, 0, "HELO %s", c->p->helo);
	}
	return code;
}

/* Stream the message: LF -> CRLF, leading dots doubled, then ".". */
static int send_body(struct conn *c, int datafd)
{
	struct maildir_wire wire;
	char chunk[65536];
	ssize_t n;

	if (lseek(datafd, 0, SEEK_SET) != 0)
		return -1;
	maildir_wire_init(&wire, -1);
	while ((n = read(datafd, chunk, sizeof chunk)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		maildir_wire_encode(&wire, chunk, (size_t)n, &c->st.wbuf);
		if (stream_pending_output(&c->st) >= sizeof chunk && conn_flush(c) != 0)
			return -1;
	}
	maildir_wire_finish(&wire, &c->st.wbuf);
	stream_write(&c->st, ".\r\n", 3);
	return conn_flush(c);
}

static void set_all(struct smtp_client_rcpt *r, size_t nr, int only_pending,
    enum smtp_client_fate fate, const char *reply)
{
	size_t i;

	for (i = 0; i < nr; i++) {
		if (only_pending && r[i].fate != SMTP_CLIENT_DEFERRED)
			continue;
		r[i].fate = fate;
		str_copy(r[i].reply, sizeof r[i].reply, reply);
	}
}

static enum smtp_client_fate fate_of(int code)
{
	if (code >= 200 && code < 300)
		return SMTP_CLIENT_DELIVERED;
	if (code >= 500)
		return SMTP_CLIENT_FAILED;
	return SMTP_CLIENT_DEFERRED;
}

/*
 * The transaction with a connected, greeted server. Returns 1 when the
 * server gave a verdict on the message, 0 when the connection was lost
 * before one (the next target may be tried).
 */
static int transaction(struct conn *c, const char *sender,
    struct smtp_client_rcpt *r, size_t nr, int datafd, size_t size)
{
	char sizeparam[48] = "";
	unsigned char *accepted = xcalloc(nr, 1);
	size_t i, naccepted = 0;
	int code, verdict = 0;

	if (c->size)
		snprintf(sizeparam, sizeof sizeparam, " SIZE=%zu", size);
	buf_printf(&c->st.wbuf, "MAIL FROM:<%s>%s\r\n", sender, sizeparam);
	/* RFC 2920: MAIL and every RCPT in one write when we may. */
	for (i = 0; c->pipelining && i < nr; i++)
		if (r[i].fate == SMTP_CLIENT_DEFERRED)
			buf_printf(&c->st.wbuf, "RCPT TO:<%s>\r\n", r[i].address);
	if (conn_flush(c) != 0 || (code = read_reply(c, 0)) == 0)
		goto out;
	if (code != 250) {
		set_all(r, nr, 1, code >= 500 ? SMTP_CLIENT_FAILED :
		    SMTP_CLIENT_DEFERRED, c->text);
		verdict = 1;
		goto out;
	}
	for (i = 0; i < nr; i++) {
		if (r[i].fate != SMTP_CLIENT_DEFERRED)
			continue;
		if (!c->pipelining) {
			buf_printf(&c->st.wbuf, "RCPT TO:<%s>\r\n", r[i].address);
			if (conn_flush(c) != 0)
				goto out;
		}
		if ((code = read_reply(c, 0)) == 0)
			goto out;
		if (code == 250 || code == 251) {
			accepted[i] = 1;
			naccepted++;
		} else {
			r[i].fate = code >= 500 ? SMTP_CLIENT_FAILED : SMTP_CLIENT_DEFERRED;
			str_copy(r[i].reply, sizeof r[i].reply, c->text);
		}
	}
	verdict = 1;
	if (naccepted == 0)
		goto out;
	verdict = 0;
	if ((code = command(c, 0, "DATA")) == 0)
		goto out;
	verdict = 1;
	if (code != 354) {
		for (i = 0; i < nr; i++) {
			if (!accepted[i])
				continue;
			r[i].fate = code >= 500 ? SMTP_CLIENT_FAILED : SMTP_CLIENT_DEFERRED;
			str_copy(r[i].reply, sizeof r[i].reply, c->text);
		}
		goto out;
	}
	if (send_body(c, datafd) != 0) {
		if (c->code != 0)	/* a local read error, not the server */
			snprintf(c->text, sizeof c->text, "reading the queued message: %s",
			    strerror(errno));
		c->code = 0;
		verdict = 0;
		goto out;
	}
	c->reply_timeout = c->p->data_timeout;
	code = read_reply(c, 0);
	c->reply_timeout = c->p->timeout;
	/*
	 * Lost after the dot: the server may have the message. Deferring may
	 * deliver it twice; giving up could lose it. Twice is the lesser harm.
	 */
	for (i = 0; i < nr; i++) {
		if (!accepted[i])
			continue;
		r[i].fate = code == 0 ? SMTP_CLIENT_DEFERRED : fate_of(code);
		str_copy(r[i].reply, sizeof r[i].reply, c->text);
	}
out:
	free(accepted);
	return verdict;
}

static void conn_close(struct conn *c, int quit)
{
	if (quit) {
		stream_puts(&c->st, "QUIT\r\n");
		if (conn_flush(c) == 0)
			(void)read_reply(c, 0);
	}
	stream_free(&c->st);
	close(c->st.fd);
}

size_t smtp_client_send(const struct smtp_client_params *p,
    const struct smtp_client_target *t, size_t nt, const char *sender,
    struct smtp_client_rcpt *r, size_t nr, int datafd, size_t size)
{
	char last[512] = "no mail exchanger could be reached";
	long long deadline = deadline_from(p->deadline), left;
	struct conn c;
	size_t i, tried = 0;

	for (i = 0; i < nt; i++) {
		int no_tls = 0, fd;

again:
		memset(&c, 0, sizeof c);
		c.p = p;
		c.t = &t[i];
		c.deadline = deadline;
		c.reply_timeout = p->timeout;
		target_text(&t[i], c.where, sizeof c.where);
		if ((left = deadline - now_ms()) <= 0) {
			snprintf(last, sizeof last, "delivery deadline (%d s) reached before %s",
			    p->deadline, c.where);
			break;
		}
		if (left > (long long)p->timeout * 1000)
			left = (long long)p->timeout * 1000;
		tried++;
		if ((fd = connect_to(&t[i], (int)left)) < 0) {
			snprintf(last, sizeof last, "connect to %s: %s", c.where,
			    strerror(errno));
			log_info("id=%s relay=%s result=unreachable reason=\"%s\"",
			    p->id, log_q(c.where), strerror(errno));
			continue;
		}
		stream_init(&c.st, fd, p->timeout);
		if (read_reply(&c, 0) != 220 || hello(&c) != 250) {
			str_copy(last, sizeof last, c.text);
			conn_close(&c, c.code != 0);
			continue;
		}
		if (c.starttls && p->tls != NULL && !no_tls) {
			int code = command(&c, 0, "STARTTLS");

			if (code == 220) {
				if (conn_arm(&c, now_ms() + (long long)p->timeout * 1000) != STREAM_OK ||
				    stream_start_tls_client(&c.st, p->tls, t[i].host) != STREAM_OK) {
					/* Opportunistic: try once more in the clear. */
					log_info("id=%s relay=%s tls=failed", p->id, log_q(c.where));
					conn_close(&c, 0);
					no_tls = 1;
					goto again;
				}
				log_info("id=%s relay=%s tls=%s cipher=%s", p->id, log_q(c.where),
				    stream_tls_version(&c.st), stream_tls_cipher(&c.st));
				if (hello(&c) != 250) {
					str_copy(last, sizeof last, c.text);
					conn_close(&c, c.code != 0);
					continue;
				}
			} else if (code == 0) {
				str_copy(last, sizeof last, c.text);
				conn_close(&c, 0);
				continue;
			}
		}
		if (transaction(&c, sender, r, nr, datafd, size)) {
			conn_close(&c, 1);
			return tried;
		}
		str_copy(last, sizeof last, c.text);
		conn_close(&c, 0);
	}
	set_all(r, nr, 1, SMTP_CLIENT_DEFERRED, last);
	return tried;
}

struct ssl_ctx_st *smtp_client_tls_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	/* Opportunistic (RFC 7435): encrypt, but do not insist on a name. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
	return ctx;
}
