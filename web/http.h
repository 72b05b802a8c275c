/*
 * http.h: HTTP/1.1 (RFC 9112) for the web and metrics services, on the
 * nodejs http-parser library: one request read from a struct stream with
 * hard limits, the form body decoded, and one response writer that always
 * sends the security headers. No other code reads or writes HTTP.
 */
#ifndef ISPMAILD_HTTP_H
#define ISPMAILD_HTTP_H

#include <stddef.h>

#include <http_parser.h>

#include "buf.h"

/* Request line and headers together; then 431. */
#define HTTP_HEAD_MAX 16384
/* A request body; then 413. */
#define HTTP_BODY_MAX 65536
/* Header fields in one request (Apache's LimitRequestFields); then 431. */
#define HTTP_FIELDS_MAX 100
/* A header name we could care about is shorter than this. */
#define HTTP_FIELD_MAX 32

/* The request as the handlers see it. Every buf is NUL-terminated. */
struct http_request {
	char method[16];	/* "GET", "POST", ... */
	struct buf target;	/* path and query as sent ("/a?b=c") */
	struct buf path;	/* the path of target, still %-encoded */
	struct buf query;	/* after '?', "" when none */
	struct buf cookie;	/* every Cookie header, joined with "; " */
	struct buf content_type, host, origin, referer;
	int has_length;		/* a Content-Length was sent */
	struct buf body;
	unsigned short major, minor;	/* HTTP version; 0.0 before the request line */
	int keep_alive;		/* the client allows another request after this one */
};

void http_request_init(struct http_request *r);
void http_request_free(struct http_request *r);

/*
 * The reader: http-parser and where its callbacks put things. Feed it
 * bytes with http_reader_feed until it says HTTP_DONE or refuses.
 */
struct http_reader {
	http_parser parser;
	struct http_request *req;
	size_t head;		/* bytes of request line and headers so far */
	int headers_done, done, started;
	int status;		/* a refusal decided in a callback (413, 431, ...) */
	char field[HTTP_FIELD_MAX];
	size_t flen;
	int field_long;		/* the name did not fit: not one we want */
	int in_value;		/* the last callback was a header value */
	int in_field;		/* the last callback was a header name */
	size_t nfields;		/* header fields so far */
	struct buf *value;	/* where this header's value goes; NULL: dropped */
};

enum { HTTP_MORE = 0, HTTP_DONE = 1 };

void http_reader_init(struct http_reader *rd, struct http_request *req);
/*
 * Parse n bytes at p; *used gets how many belong to this request (a
 * pipelined next request is left unread). HTTP_MORE, HTTP_DONE, or the
 * status to refuse the request with (400, 411, 413, 415, 431, 505).
 */
int http_reader_feed(struct http_reader *rd, const char *p, size_t n, size_t *used);
/* Has any byte of a request arrived (so a timeout deserves a 408)? */
int http_reader_started(const struct http_reader *rd);

struct stream;
/* What http_request_read returns besides a status code. */
enum {
	HTTP_READ_OK = 0,	/* a whole request in r */
	HTTP_READ_CLOSED = -1,	/* the client closed or went silent before a request */
	HTTP_READ_TIMEOUT = -2,	/* a request began but did not end in time: answer 408 */
	HTTP_READ_ERROR = -3,	/* the connection broke */
};
/*
 * Read one request from st into r (initialised by the caller). Returns
 * HTTP_READ_OK, another HTTP_READ_* value, or a status (>= 400) to answer
 * before closing. The caller sets the stream's timeouts.
 */
int http_request_read(struct stream *st, struct http_request *r);

/*
 * application/x-www-form-urlencoded (the WHATWG URL standard's parser):
 * the value of name in s (a body or a query), '+' as space and %XX
 * decoded, in out. 1 found, 0 absent, -1 malformed (a bad %-escape, a
 * decoded NUL or control byte other than CR, LF and tab), or longer than
 * max bytes decoded.
 */
int http_form_get(const char *s, size_t len, const char *name, struct buf *out, size_t max);
/* The value of cookie name in a Cookie header into out[outlen]: 1, 0 absent or too long. */
int http_cookie_get(const char *cookie, const char *name, char *out, size_t outlen);

/* The reason phrase of a status (http_status.h); NULL when not in the table. */
const char *http_status_reason(int status);

/* One response: what the handler decided; http_respond adds the rest. */
struct http_response {
	int status;
	const char *content_type;	/* NULL: no body */
	const char *location;		/* 303 target, or NULL */
	const char *set_cookie;		/* one Set-Cookie value, or NULL */
	const char *allow;		/* the Allow header of a 405 */
	const struct buf *body;
};

/*
 * Write the status line, the security headers (Content-Security-Policy,
 * X-Frame-Options, X-Content-Type-Options, Referrer-Policy, Cache-Control,
 * and Strict-Transport-Security when tls), the response's own headers and
 * body (none for HEAD), in the request's HTTP version (1.1 at most; 1.1
 * when unknown). close: say Connection: close. Buffered: the caller flushes.
 */
void http_respond(struct stream *st, const struct http_request *req,
    const struct http_response *resp, int tls, int close);
/* A short text/plain answer ("not found\n") with status. */
void http_respond_text(struct stream *st, const struct http_request *req, int status,
    const char *text, int tls, int close);

#endif
