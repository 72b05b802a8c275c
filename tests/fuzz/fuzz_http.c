/*
 * fuzz_http.c: libFuzzer target for the web and metrics services' request
 * reader (web/http.c on http-parser) and the form decoding, the first
 * code a browser's (or anyone's) bytes reach. Byte 0 picks how the rest is
 * cut into reads (1 to 256 bytes, or whole); the verdict must not depend
 * on it. A whole request must respect the limits; every form value
 * decoded from its body or query must be bounded and free of control
 * bytes other than CR, LF and tab.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "http.h"

static int feed(const char *s, size_t n, size_t step, struct http_request *r, size_t *total)
{
	struct http_reader rd;
	size_t at = 0, used;
	int res = HTTP_MORE;

	http_reader_init(&rd, r);
	while (at < n && res == HTTP_MORE) {
		size_t k = step == 0 || step > n - at ? n - at : step;

		res = http_reader_feed(&rd, s + at, k, &used);
		FUZZ_CHECK(used <= k, "used %zu of %zu", used, k);
		at += used;
		if (res == HTTP_MORE && used != k)
			return -99;
	}
	*total = at;
	return res;
}

static void form_check(const char *s, size_t len)
{
	static const char *names[] = { "address", "password", "csrf", "msg", "a", "" };
	struct buf v = BUF_INIT;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		int r = http_form_get(s, len, names[i], &v, 64);

		if (r != 1)
			continue;
		FUZZ_CHECK(v.len <= 64, "a value of %zu bytes", v.len);
		for (size_t j = 0; j < v.len; j++) {
			unsigned char c = (unsigned char)v.s[j];

			FUZZ_CHECK(c >= 0x20 || c == '\r' || c == '\n' || c == '\t',
			    "control byte 0x%02x decoded", c);
			FUZZ_CHECK(c != 0x7f, "DEL decoded");
		}
	}
	buf_free(&v);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct http_request a, b;
	size_t ta = 0, tb = 0, step;
	int ra, rb;

	if (size < 1)
		return 0;
	step = data[0];
	http_request_init(&a);
	http_request_init(&b);
	ra = feed((const char *)data + 1, size - 1, 0, &a, &ta);
	rb = feed((const char *)data + 1, size - 1, step, &b, &tb);
	FUZZ_CHECK(ra == rb, "whole: %d, in reads of %zu: %d", ra, step, rb);
	if (ra == HTTP_DONE && rb == HTTP_DONE) {
		FUZZ_CHECK(ta == tb, "used %zu whole, %zu in pieces", ta, tb);
		FUZZ_CHECK(strcmp(a.target.s, b.target.s) == 0, "targets differ");
		FUZZ_CHECK(a.body.len == b.body.len, "bodies differ");
		FUZZ_CHECK(a.body.len <= HTTP_BODY_MAX, "a body of %zu bytes", a.body.len);
		FUZZ_CHECK(a.target.s[0] == '/', "a target not starting with /");
		form_check(a.body.s, a.body.len);
		form_check(a.query.s, a.query.len);
	}
	http_request_free(&a);
	http_request_free(&b);
	return 0;
}
