/*
 * test_http.c: the HTTP request reader (web/http.c on http-parser), each
 * case fed whole and one byte at a time; its limits (431, 413), bad
 * requests, pipelining; the form and cookie decoding; the response
 * writer's security headers.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "buf.h"
#include "cutap.h"
#include "http.h"
#include "stream.h"

/* Feed s whole (step 0) or step bytes at a time; the result and the bytes used. */
static int feed(const char *s, size_t len, size_t step, struct http_request *r, size_t *total)
{
	struct http_reader rd;
	size_t at = 0, used;
	int res = HTTP_MORE;

	http_reader_init(&rd, r);
	while (at < len && res == HTTP_MORE) {
		size_t n = step == 0 || step > len - at ? len - at : step;

		res = http_reader_feed(&rd, s + at, n, &used);
		at += used;
		if (res == HTTP_MORE && used != n)
			return -99;
	}
	*total = at;
	return res;
}

/* The same request, whole and byte by byte, must give the same result. */
static int both(const char *s, struct http_request *r, size_t *total)
{
	struct http_request one;
	size_t t1;
	int a, b;

	http_request_init(&one);
	a = feed(s, strlen(s), 1, &one, &t1);
	http_request_init(r);
	b = feed(s, strlen(s), 0, r, total);
	CU_ASSERT_EQUAL(a, b);
	if (a == HTTP_DONE && b == HTTP_DONE) {
		CU_ASSERT_EQUAL(t1, *total);
		CU_ASSERT_STRING_EQUAL(one.target.s, r->target.s);
		CU_ASSERT_STRING_EQUAL(one.cookie.s, r->cookie.s);
		CU_ASSERT_STRING_EQUAL(one.body.s, r->body.s);
		CU_ASSERT_STRING_EQUAL(one.host.s, r->host.s);
	}
	http_request_free(&one);
	return b;
}

static void test_get(void)
{
	const char *s = "GET /account?msg=saved HTTP/1.1\r\nHost: mail.example\r\n"
	    "User-Agent: x\r\nCookie: a=1\r\ncookie: ispmaild_session=abc\r\n\r\n";
	struct http_request r;
	size_t used;

	CU_ASSERT_EQUAL(both(s, &r, &used), HTTP_DONE);
	CU_ASSERT_EQUAL(used, strlen(s));
	CU_ASSERT_STRING_EQUAL(r.method, "GET");
	CU_ASSERT_STRING_EQUAL(r.path.s, "/account");
	CU_ASSERT_STRING_EQUAL(r.query.s, "msg=saved");
	CU_ASSERT_STRING_EQUAL(r.host.s, "mail.example");
	CU_ASSERT_STRING_EQUAL(r.cookie.s, "a=1; ispmaild_session=abc");
	CU_ASSERT_EQUAL(r.keep_alive, 1);
	CU_ASSERT_EQUAL(r.major, 1);
	CU_ASSERT_EQUAL(r.minor, 1);
	http_request_free(&r);
}

static void test_post_form(void)
{
	const char *s = "POST /login HTTP/1.1\r\nHost: h\r\n"
	    "Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n"
	    "Content-Length: 37\r\nConnection: close\r\n\r\n"
	    "address=a%40example.test&password=x+y";
	struct http_request r;
	struct buf v = BUF_INIT;
	size_t used;

	CU_ASSERT_EQUAL(both(s, &r, &used), HTTP_DONE);
	CU_ASSERT_EQUAL(r.body.len, 37);
	CU_ASSERT_EQUAL(r.keep_alive, 0);
	CU_ASSERT_EQUAL(http_form_get(r.body.s, r.body.len, "address", &v, 100), 1);
	CU_ASSERT_STRING_EQUAL(v.s, "a@example.test");
	CU_ASSERT_EQUAL(http_form_get(r.body.s, r.body.len, "password", &v, 100), 1);
	CU_ASSERT_STRING_EQUAL(v.s, "x y");
	CU_ASSERT_EQUAL(http_form_get(r.body.s, r.body.len, "csrf", &v, 100), 0);
	buf_free(&v);
	http_request_free(&r);
}

/*
 * A POST must say its length: no chunked body (411, before any of it is
 * read), none without Content-Length; Content-Length: 0 is fine.
 */
static void test_post_length(void)
{
	const char *chunked = "POST /x HTTP/1.1\r\nHost: h\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n3\r\na=b\r\n0\r\n\r\n";
	const char *none = "POST /x HTTP/1.1\r\nHost: h\r\n\r\n";
	const char *zero = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
	struct http_request r;
	size_t used;

	CU_ASSERT_EQUAL(both(chunked, &r, &used), 411);
	http_request_free(&r);
	CU_ASSERT_EQUAL(both(none, &r, &used), 411);
	http_request_free(&r);
	CU_ASSERT_EQUAL(both(zero, &r, &used), HTTP_DONE);
	CU_ASSERT_STRING_EQUAL(r.body.s, "");
	http_request_free(&r);
}

/* HTTP_FIELDS_MAX header fields pass; one more is 431, however short. */
static void test_field_count(void)
{
	struct buf b = BUF_INIT;
	struct http_request r;
	size_t used;

	buf_appends(&b, "GET / HTTP/1.1\r\n");
	for (int i = 1; i < HTTP_FIELDS_MAX; i++)
		buf_printf(&b, "a%d:\r\n", i);
	buf_appends(&b, "Host: h\r\n\r\n");
	CU_ASSERT_EQUAL(both(b.s, &r, &used), HTTP_DONE);
	http_request_free(&r);
	buf_reset(&b);
	buf_appends(&b, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < HTTP_FIELDS_MAX; i++)
		buf_printf(&b, "a%d:\r\n", i);
	buf_appends(&b, "Host: h\r\n\r\n");
	CU_ASSERT_EQUAL(both(b.s, &r, &used), 431);
	http_request_free(&r);
	buf_free(&b);
}

static void test_pipelined(void)
{
	const char *one = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
	char two[256];
	struct http_request r;
	size_t used;

	snprintf(two, sizeof two, "%sGET /b HTTP/1.1\r\nHost: h\r\n\r\n", one);
	http_request_init(&r);
	CU_ASSERT_EQUAL(feed(two, strlen(two), 0, &r, &used), HTTP_DONE);
	CU_ASSERT_EQUAL(used, strlen(one));
	CU_ASSERT_STRING_EQUAL(r.path.s, "/a");
	http_request_free(&r);
	http_request_init(&r);
	CU_ASSERT_EQUAL(feed(two + used, strlen(two + used), 0, &r, &used), HTTP_DONE);
	CU_ASSERT_STRING_EQUAL(r.path.s, "/b");
	http_request_free(&r);
}

/* Request line plus headers over HTTP_HEAD_MAX: 431, whole or byte by byte. */
static void test_head_too_large(void)
{
	struct buf b = BUF_INIT;
	struct http_request r;
	size_t used;

	buf_appends(&b, "GET / HTTP/1.1\r\nHost: h\r\n");
	while (b.len <= HTTP_HEAD_MAX)
		buf_appends(&b, "X-Filler: 0123456789012345678901234567890123456789\r\n");
	buf_appends(&b, "\r\n");
	CU_ASSERT_EQUAL(both(b.s, &r, &used), 431);
	http_request_free(&r);
	/* A long URL alone is the head too. */
	buf_reset(&b);
	buf_appends(&b, "GET /");
	while (b.len <= HTTP_HEAD_MAX)
		buf_appends(&b, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	buf_appends(&b, " HTTP/1.1\r\n\r\n");
	CU_ASSERT_EQUAL(both(b.s, &r, &used), 431);
	http_request_free(&r);
	buf_free(&b);
}

static void test_body_too_large(void)
{
	char s[256];
	struct buf b = BUF_INIT;
	struct http_request r;
	size_t used;

	/* Refused on the announced length, before any body byte. */
	snprintf(s, sizeof s, "POST /x HTTP/1.1\r\nHost: h\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: %d\r\n\r\n", HTTP_BODY_MAX + 1);
	CU_ASSERT_EQUAL(both(s, &r, &used), 413);
	http_request_free(&r);
	/* Exactly the bound is fine. */
	buf_reset(&b);
	buf_printf(&b, "POST /x HTTP/1.1\r\nHost: h\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: %d\r\n\r\n", HTTP_BODY_MAX);
	for (int i = 0; i < HTTP_BODY_MAX; i++)
		buf_appendc(&b, 'a');
	CU_ASSERT_EQUAL(both(b.s, &r, &used), HTTP_DONE);
	CU_ASSERT_EQUAL(r.body.len, HTTP_BODY_MAX);
	http_request_free(&r);
	buf_free(&b);
}

static void test_bad_requests(void)
{
	static const struct {
		const char *req;
		int want;
	} cases[] = {
		{ "GARBAGE\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400 },
		{ "GET / HTTP/9.1\r\n\r\n", 505 },
		{ "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505 },
		{ "GET http://evil/ HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 400 },
		{ "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
		  "Content-Length: 3\r\n\r\na=b", 415 },
		{ "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
		  "Content-Length: 3\r\n\r\na\0b", 400 },
		{ "GET /\0 HTTP/1.1\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", 400 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nBad(Name): v\r\n\r\n", 400 },
	};
	static const size_t lens[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 19, 0, 0 };

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_request r;
		size_t used, len = lens[i] ? lens[i] : strlen(cases[i].req);
		int whole, bytes;

		http_request_init(&r);
		whole = feed(cases[i].req, len, 0, &r, &used);
		http_request_free(&r);
		http_request_init(&r);
		bytes = feed(cases[i].req, len, 1, &r, &used);
		http_request_free(&r);
		if (whole != cases[i].want || bytes != cases[i].want)
			fprintf(stderr, "case %zu: whole %d bytes %d want %d\n", i, whole,
			    bytes, cases[i].want);
		CU_ASSERT_EQUAL(whole, cases[i].want);
		CU_ASSERT_EQUAL(bytes, cases[i].want);
	}
}

static void test_form_decoding(void)
{
	struct buf v = BUF_INIT;
	const char *s;

	s = "a=1&b=%3Cscript%3E&c=&d&e=%e2%82%ac&f=a%2Bb%26c%3Dd&g=line%0D%0Atwo";
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "a", &v, 10), 1);
	CU_ASSERT_STRING_EQUAL(v.s, "1");
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "b", &v, 10), 1);
	CU_ASSERT_STRING_EQUAL(v.s, "<script>");
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "c", &v, 10), 1);
	CU_ASSERT_STRING_EQUAL(v.s, "");
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "d", &v, 10), 1);
	CU_ASSERT_STRING_EQUAL(v.s, "");
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "e", &v, 10), 1);
	CU_ASSERT_STRING_EQUAL(v.s, "\xe2\x82\xac");
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "f", &v, 10), 1);
	CU_ASSERT_STRING_EQUAL(v.s, "a+b&c=d");
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "g", &v, 10), 1);
	CU_ASSERT_STRING_EQUAL(v.s, "line\r\ntwo");
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "zz", &v, 10), 0);
	/* Bounded, and the bad escapes. */
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "b", &v, 7), -1);
	s = "x=%4";
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "x", &v, 10), -1);
	s = "x=%zz";
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "x", &v, 10), -1);
	s = "x=a%00b";
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "x", &v, 10), -1);
	s = "x=%1b[31m";
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "x", &v, 10), -1);
	/* The first of two is the one. */
	s = "x=1&x=2";
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "x", &v, 10), 1);
	CU_ASSERT_STRING_EQUAL(v.s, "1");
	/* An encoded name. */
	s = "new%32=abc";
	CU_ASSERT_EQUAL(http_form_get(s, strlen(s), "new2", &v, 10), 1);
	CU_ASSERT_STRING_EQUAL(v.s, "abc");
	buf_free(&v);
}

static void test_cookie(void)
{
	char v[70];

	CU_ASSERT_EQUAL(http_cookie_get("a=1; ispmaild_session=abc; b=2",
	    "ispmaild_session", v, sizeof v), 1);
	CU_ASSERT_STRING_EQUAL(v, "abc");
	CU_ASSERT_EQUAL(http_cookie_get("xispmaild_session=abc", "ispmaild_session", v,
	    sizeof v), 0);
	CU_ASSERT_EQUAL(http_cookie_get("ispmaild_session=abcd", "ispmaild_session", v, 4), 0);
	CU_ASSERT_EQUAL(http_cookie_get("", "ispmaild_session", v, sizeof v), 0);
}

/* The writer's output, through a socketpair. */
static void response_text(int tls, const struct http_request *req, int status, char *out,
    size_t outlen)
{
	int sv[2];
	struct stream st;
	ssize_t n;

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	stream_init(&st, sv[0], 5);
	http_respond_text(&st, req, status, "hello\n", tls, 1);
	CU_ASSERT_EQUAL(stream_flush(&st), STREAM_OK);
	stream_free(&st);
	close(sv[0]);
	n = read(sv[1], out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
	close(sv[1]);
}

static void test_respond_headers(void)
{
	char out[4096];
	struct http_request r;

	http_request_init(&r);
	r.major = 1;
	r.minor = 1;
	str_copy(r.method, sizeof r.method, "GET");
	response_text(1, &r, 404, out, sizeof out);
	CU_ASSERT(strncmp(out, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	CU_ASSERT(strstr(out, "\r\nContent-Security-Policy: default-src 'none'; style-src 'self'; "
	    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n") != NULL);
	CU_ASSERT(strstr(out, "\r\nX-Frame-Options: DENY\r\n") != NULL);
	CU_ASSERT(strstr(out, "\r\nX-Content-Type-Options: nosniff\r\n") != NULL);
	CU_ASSERT(strstr(out, "\r\nReferrer-Policy: same-origin\r\n") != NULL);
	CU_ASSERT(strstr(out, "\r\nCache-Control: no-store\r\n") != NULL);
	CU_ASSERT(strstr(out, "\r\nStrict-Transport-Security: max-age=") != NULL);
	CU_ASSERT(strstr(out, "\r\nContent-Length: 6\r\n") != NULL);
	CU_ASSERT(strstr(out, "\r\n\r\nhello\n") != NULL);
	/* HTTP/1.0 gets 1.0, plain gets no HSTS, HEAD no body. */
	r.minor = 0;
	str_copy(r.method, sizeof r.method, "HEAD");
	response_text(0, &r, 408, out, sizeof out);
	CU_ASSERT(strncmp(out, "HTTP/1.0 408 Request Timeout\r\n", 30) == 0);
	CU_ASSERT(strstr(out, "Strict-Transport-Security") == NULL);
	CU_ASSERT(strstr(out, "hello") == NULL);
	/* A status missing from the table is a 500. */
	response_text(0, NULL, 299, out, sizeof out);
	CU_ASSERT(strncmp(out, "HTTP/1.1 500 Internal Server Error\r\n", 36) == 0);
	http_request_free(&r);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("http", NULL, NULL);
	CU_add_test(s, "GET with headers, whole and byte by byte", test_get);
	CU_add_test(s, "POST form body", test_post_form);
	CU_add_test(s, "POST: Content-Length required, no chunked body (411)", test_post_length);
	CU_add_test(s, "more than HTTP_FIELDS_MAX header fields: 431", test_field_count);
	CU_add_test(s, "pipelined requests are read one at a time", test_pipelined);
	CU_add_test(s, "request line and headers over 16 KiB: 431", test_head_too_large);
	CU_add_test(s, "body over 64 KiB: 413", test_body_too_large);
	CU_add_test(s, "bad requests: 400, 415, 505", test_bad_requests);
	CU_add_test(s, "form decoding", test_form_decoding);
	CU_add_test(s, "Cookie header", test_cookie);
	CU_add_test(s, "response: status line and security headers", test_respond_headers);
	return cutap_run();
}
