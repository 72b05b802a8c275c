/*
 * http.c: one HTTP/1.1 request (RFC 9112) read through http-parser with
 * hard limits (HTTP_HEAD_MAX, HTTP_BODY_MAX), the urlencoded form and
 * Cookie decoding (WHATWG URL "application/x-www-form-urlencoded", RFC
 * 6265 section 5.4), and the one response writer with the security
 * headers every answer carries.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "http_status.h"
#include "stream.h"

void http_request_init(struct http_request *r)
{
	memset(r, 0, sizeof *r);
	buf_init(&r->target);
	buf_init(&r->path);
	buf_init(&r->query);
	buf_init(&r->cookie);
	buf_init(&r->content_type);
	buf_init(&r->host);
	buf_init(&r->origin);
	buf_init(&r->referer);
	buf_init(&r->body);
	/* Every buf reads as "" even when nothing was appended. */
	buf_appends(&r->target, "");
	buf_appends(&r->path, "");
	buf_appends(&r->query, "");
	buf_appends(&r->cookie, "");
	buf_appends(&r->content_type, "");
	buf_appends(&r->host, "");
	buf_appends(&r->origin, "");
	buf_appends(&r->referer, "");
	buf_appends(&r->body, "");
}

void http_request_free(struct http_request *r)
{
	buf_free(&r->target);
	buf_free(&r->path);
	buf_free(&r->query);
	buf_free(&r->cookie);
	buf_free(&r->content_type);
	buf_free(&r->host);
	buf_free(&r->origin);
	buf_free(&r->referer);
	buf_free(&r->body);
}

static struct http_reader *reader_of(http_parser *p)
{
	return p->data;
}

static int on_message_begin(http_parser *p)
{
	reader_of(p)->started = 1;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_reader *rd = reader_of(p);

	rd->started = 1;
	buf_append(&rd->req->target, at, len);
	return 0;
}

/* The header whose value we keep, by its name; NULL: not one we use. */
static struct buf *header_slot(struct http_reader *rd)
{
	static const struct {
		const char *name;
		size_t off;
	} wanted[] = {
		{ "cookie", offsetof(struct http_request, cookie) },
		{ "content-type", offsetof(struct http_request, content_type) },
		{ "host", offsetof(struct http_request, host) },
		{ "origin", offsetof(struct http_request, origin) },
		{ "referer", offsetof(struct http_request, referer) },
	};

	if (rd->field_long)
		return NULL;
	for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
		if (strlen(wanted[i].name) == rd->flen &&
		    strncasecmp(wanted[i].name, rd->field, rd->flen) == 0)
			return (struct buf *)((char *)rd->req + wanted[i].off);
	return NULL;
}

/* A field name is a token (RFC 9110 section 5.6.2): no space, no separator. */
static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Header names: counted (HTTP_FIELDS_MAX, then 431) and checked (400). */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_reader *rd = reader_of(p);

	if (rd->in_value || !rd->in_field) {
		rd->in_value = 0;
		rd->in_field = 1;
		rd->flen = 0;
		rd->field_long = 0;
		if (++rd->nfields > HTTP_FIELDS_MAX) {
			rd->status = 431;
			return -1;
		}
	}
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)at[i])) {
			rd->status = 400;
			return -1;
		}
	if (rd->flen + len >= sizeof rd->field) {
		rd->field_long = 1;
		return 0;
	}
	memcpy(rd->field + rd->flen, at, len);
	rd->flen += len;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_reader *rd = reader_of(p);

	if (!rd->in_value) {
		rd->in_value = 1;
		rd->in_field = 0;
		rd->value = header_slot(rd);
		/* A second Cookie header continues the first (RFC 6265 5.4). */
		if (rd->value == &rd->req->cookie && rd->req->cookie.len > 0)
			buf_appends(rd->value, "; ");
		else if (rd->value != NULL)
			buf_reset(rd->value);
	}
	if (rd->value != NULL)
		buf_append(rd->value, at, len);
	return 0;
}

/* Split the target into path and query once the request line is in. */
static void target_split(struct http_request *r)
{
	const char *q = memchr(r->target.s, '?', r->target.len);
	size_t plen = q ? (size_t)(q - r->target.s) : r->target.len;

	buf_reset(&r->path);
	buf_append(&r->path, r->target.s, plen);
	buf_reset(&r->query);
	if (q != NULL)
		buf_append(&r->query, q + 1, r->target.len - plen - 1);
}

/* A body must be a form, and at most HTTP_BODY_MAX long. */
static int on_headers_complete(http_parser *p)
{
	struct http_reader *rd = reader_of(p);
	struct http_request *r = rd->req;

	rd->headers_done = 1;
	r->major = p->http_major;
	r->minor = p->http_minor;
	str_copy(r->method, sizeof r->method, http_method_str((enum http_method)p->method));
	target_split(r);
	r->has_length = (p->flags & F_CONTENTLENGTH) != 0;
	/*
	 * A form comes with its length, as every browser sends it: no
	 * chunked body (nothing here needs one, and a body whose end two
	 * parsers could see differently is how requests are smuggled).
	 */
	if (p->method == HTTP_POST && (!r->has_length || (p->flags & F_CHUNKED))) {
		rd->status = 411;
		return -1;
	}
	if (r->has_length && p->content_length > HTTP_BODY_MAX) {
		rd->status = 413;
		return -1;
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_reader *rd = reader_of(p);

	if (rd->req->body.len + len > HTTP_BODY_MAX) {
		rd->status = 413;
		return -1;
	}
	buf_append(&rd->req->body, at, len);
	return 0;
}

/* Stop right after this request: a pipelined one stays unread. */
static int on_message_complete(http_parser *p)
{
	struct http_reader *rd = reader_of(p);

	rd->done = 1;
	rd->req->keep_alive = http_should_keep_alive(p);
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings reader_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void http_reader_init(struct http_reader *rd, struct http_request *req)
{
	memset(rd, 0, sizeof *rd);
	http_parser_init(&rd->parser, HTTP_REQUEST);
	rd->parser.data = rd;
	rd->req = req;
	/* The library's own bound on the head, as ours (it counts exactly). */
	http_parser_set_max_header_size(HTTP_HEAD_MAX);
}

int http_reader_started(const struct http_reader *rd)
{
	return rd->started;
}

/* A parse error as the status to answer. */
static int reader_error(struct http_reader *rd)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&rd->parser);

	if (rd->status != 0)
		return rd->status;
	if (e == HPE_HEADER_OVERFLOW)
		return 431;
	if (e == HPE_INVALID_VERSION)
		return 505;
	return 400;
}

/* What a finished request still has to pass: a form body, HTTP/1.x. */
static int request_check(const struct http_request *r)
{
	const char *ct = r->content_type.s;
	size_t n = strcspn(ct, "; \t");

	if (r->major != 1)
		return 505;
	if (r->body.len > 0 &&
	    !(n == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", n) == 0))
		return 415;
	if (strchr(r->body.s, '\0') != r->body.s + r->body.len)
		return 400;
	if (r->target.len == 0 || r->target.s[0] != '/')
		return 400;
	return 0;
}

int http_reader_feed(struct http_reader *rd, const char *p, size_t n, size_t *used)
{
	size_t k;

	*used = 0;
	if (n == 0)
		return HTTP_MORE;
	k = http_parser_execute(&rd->parser, &reader_settings, p, n);
	*used = k;
	if (!rd->headers_done) {
		rd->head += k;
		if (rd->head > HTTP_HEAD_MAX)
			return 431;
	}
	if (rd->done) {
		int st;

		http_parser_pause(&rd->parser, 0);
		if (rd->parser.upgrade)
			return 400;	/* no Upgrade, no CONNECT */
		st = request_check(rd->req);
		return st != 0 ? st : HTTP_DONE;
	}
	if (HTTP_PARSER_ERRNO(&rd->parser) != HPE_OK)
		return reader_error(rd);
	if (k != n)
		return 400;
	return HTTP_MORE;
}

int http_request_read(struct stream *st, struct http_request *r)
{
	struct http_reader rd;
	const char *p;
	ssize_t n;
	size_t used;
	int res;

	http_reader_init(&rd, r);
	for (;;) {
		n = stream_peek(st, &p);
		if (n == STREAM_TIMEOUT && rd.started) {
			/* The 408 goes out in the version of the request line, if any. */
			r->major = rd.parser.http_major;
			r->minor = rd.parser.http_minor;
			return HTTP_READ_TIMEOUT;
		}
		if (n == STREAM_TIMEOUT)
			return HTTP_READ_CLOSED;
		if (n == STREAM_EOF && !rd.started)
			return HTTP_READ_CLOSED;
		if (n == STREAM_EOF)
			return 400;	/* a request cut short */
		if (n < 0)
			return HTTP_READ_ERROR;
		res = http_reader_feed(&rd, p, (size_t)n, &used);
		stream_consume(st, used);
		if (res == HTTP_DONE)
			return HTTP_READ_OK;
		if (res != HTTP_MORE)
			return res;
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode one urlencoded name or value into out; -1 when malformed. */
static int form_decode(const char *s, size_t len, struct buf *out, size_t max)
{
	buf_reset(out);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int h, l;

			if (i + 2 >= len || (h = hexval(s[i + 1])) < 0 ||
			    (l = hexval(s[i + 2])) < 0)
				return -1;
			c = (unsigned char)(h * 16 + l);
			i += 2;
		}
		if ((c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c == 0x7f)
			return -1;
		if (out->len >= max)
			return -1;
		buf_appendc(out, (char)c);
	}
	return 0;
}

int http_form_get(const char *s, size_t len, const char *name, struct buf *out, size_t max)
{
	struct buf key = BUF_INIT;
	size_t at = 0;
	int found = 0;

	buf_reset(out);
	buf_appends(out, "");
	while (at < len && !found) {
		const char *pair = s + at, *amp = memchr(pair, '&', len - at);
		size_t plen = amp ? (size_t)(amp - pair) : len - at;
		const char *eq = memchr(pair, '=', plen);
		size_t klen = eq ? (size_t)(eq - pair) : plen;

		at += plen + 1;
		if (plen == 0)
			continue;
		if (form_decode(pair, klen, &key, 256) != 0 || strcmp(key.s ? key.s : "", name) != 0)
			continue;
		found = 1;
		if (form_decode(eq ? eq + 1 : pair + plen, eq ? plen - klen - 1 : 0, out, max) != 0)
			found = -1;
		buf_appends(out, "");
	}
	buf_free(&key);
	return found;
}

int http_cookie_get(const char *cookie, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = cookie;

	while (*p) {
		size_t n;

		p += strspn(p, " \t;");
		n = strcspn(p, ";");
		if (n > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t vlen = n - nlen - 1;

			while (vlen > 0 && (p[nlen + 1 + vlen - 1] == ' ' ||
			    p[nlen + 1 + vlen - 1] == '\t'))
				vlen--;
			if (vlen >= outlen)
				return 0;
			memcpy(out, p + nlen + 1, vlen);
			out[vlen] = '\0';
			return 1;
		}
		p += n;
	}
	return 0;
}

const char *http_status_reason(int status)
{
#define HTTP_STATUS_CASE(code, text) case code: return text;
	switch (status) {
	HTTP_STATUS_TABLE(HTTP_STATUS_CASE)
	default:
		return NULL;
	}
#undef HTTP_STATUS_CASE
}

/*
 * No inline script or style anywhere, nothing framed, no Referer leaving
 * the site (same-origin: a browser then still sends our own Origin with
 * a form, which web_session.c checks; no-referrer would make it "null"),
 * nothing cached: every answer, pages and errors alike.
 */
static const char http_security_headers[] =
	"Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self'; "
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"
	"X-Frame-Options: DENY\r\n"
	"X-Content-Type-Options: nosniff\r\n"
	"Referrer-Policy: same-origin\r\n"
	"Cache-Control: no-store\r\n";

void http_respond(struct stream *st, const struct http_request *req,
    const struct http_response *resp, int tls, int close)
{
	const char *reason = http_status_reason(resp->status);
	int status = resp->status, minor = 1;
	size_t len = resp->body ? resp->body->len : 0;

	if (reason == NULL) {
		status = 500;
		reason = http_status_reason(status);
	}
	if (req != NULL && req->major == 1 && req->minor == 0)
		minor = 0;
	stream_printf(st, "HTTP/1.%d %d %s\r\n", minor, status, reason);
	stream_puts(st, http_security_headers);
	if (tls)
		stream_puts(st, "Strict-Transport-Security: max-age=31536000\r\n");
	if (resp->location != NULL)
		stream_printf(st, "Location: %s\r\n", resp->location);
	if (resp->set_cookie != NULL)
		stream_printf(st, "Set-Cookie: %s\r\n", resp->set_cookie);
	if (resp->allow != NULL)
		stream_printf(st, "Allow: %s\r\n", resp->allow);
	if (resp->content_type != NULL)
		stream_printf(st, "Content-Type: %s\r\n", resp->content_type);
	stream_printf(st, "Content-Length: %zu\r\n", len);
	if (close)
		stream_puts(st, "Connection: close\r\n");
	stream_puts(st, "\r\n");
	if (len > 0 && !(req != NULL && strcmp(req->method, "HEAD") == 0))
		stream_write(st, resp->body->s, len);
}

void http_respond_text(struct stream *st, const struct http_request *req, int status,
    const char *text, int tls, int close)
{
	struct buf body = BUF_INIT;
	struct http_response resp = { .status = status,
		.content_type = "text/plain; charset=utf-8", .body = &body };

	buf_appends(&body, text);
	if (status == 405)
		resp.allow = "GET, HEAD, POST";
	http_respond(st, req, &resp, tls, close);
	buf_free(&body);
}
