/*
 * fuzz_pop3_wire.c: libFuzzer target for the POP3 wire encoder
 * (maildir/wire.c; RFC 1939 §3 byte-stuffing and CRLF, §7 TOP). Byte 0
 * chooses RETR or TOP n, byte 1 a split point; the rest is a stored
 * message. Whole, split and byte-at-a-time encodings must be identical;
 * every LF goes out as CRLF (a CR alone is content and is sent as is); no
 * line may start with a single "." (that would end the response early);
 * RETR sends exactly W= plus one octet per stuffed dot; TOP sends a prefix
 * of RETR with at most n body lines.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz_util.h"
#include "maildir.h"

static void encode(const char *in, long top, const size_t *cuts,
    size_t ncuts, struct buf *out)
{
	struct maildir_wire st;
	size_t start = 0;

	buf_init(out);
	maildir_wire_init(&st, top);
	for (size_t k = 0; k < ncuts; k++) {
		maildir_wire_encode(&st, in + start, cuts[k] - start, out);
		start = cuts[k];
	}
	maildir_wire_finish(&st, out);
	FUZZ_CHECK(st.done, "not done after finish");
}

static int same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->s, b->s, a->len) == 0);
}

/* W= as maildir_writer counts it: LF alone is 2, an unfinished line +2. */
static size_t w_size(const char *in, size_t n)
{
	size_t w = n;

	for (size_t i = 0; i < n; i++)
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			w++;
	if (n > 0 && in[n - 1] != '\n')
		w += 2;
	return w;
}

/* Lines of the stored message that start with '.'. */
static size_t dot_lines(const char *in, size_t n)
{
	size_t dots = 0;

	for (size_t i = 0; i < n; i++)
		if (in[i] == '.' && (i == 0 || in[i - 1] == '\n'))
			dots++;
	return dots;
}

/* The shape every multi-line POP3 response body must have. */
static void check_shape(const struct buf *o, const char *how)
{
	const char *s = o->s;

	if (o->len == 0)
		return;
	FUZZ_CHECK(o->len >= 2 && s[o->len - 2] == '\r' && s[o->len - 1] == '\n',
	    "%s: output does not end in CRLF", how);
	for (size_t i = 0; i < o->len; i++) {
		if (s[i] == '\n')
			FUZZ_CHECK(i > 0 && s[i - 1] == '\r', "%s: bare LF at %zu", how, i);
		/* A line (after CRLF) starting with "." must start with "..". */
		if (s[i] == '.' && (i == 0 || s[i - 1] == '\n'))
			FUZZ_CHECK(i + 1 < o->len && s[i + 1] == '.',
			    "%s: unstuffed dot at %zu", how, i);
	}
}

/* Body lines: lines after the first empty one (lines end at each LF). */
static size_t body_lines(const struct buf *o)
{
	size_t lines = 0, start = 0;
	int body = 0;

	for (size_t i = 0; i < o->len; i++) {
		if (o->s[i] != '\n')
			continue;
		if (body)
			lines++;
		else if (i - start == 1)	/* just "\r\n" */
			body = 1;
		start = i + 1;
	}
	return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole, two, bytes, full;
	size_t n, split, cut1[1], cut2[2], *cutn;
	long top;
	char *in;

	if (size < 2)
		return 0;
	n = size - 2;
	top = data[0] & 0x80 ? (long)(data[0] & 0x3f) : -1;
	split = data[1] & 0x80 ? (size_t)(data[1] & 0x7f) * (n + 1) / 128 :
	    (data[1] <= n ? data[1] : n);
	in = malloc(n ? n : 1);
	cutn = malloc((n ? n : 1) * sizeof *cutn);
	if (in == NULL || cutn == NULL)
		abort();
	memcpy(in, data + 2, n);
	for (size_t i = 0; i < n; i++)
		cutn[i] = i + 1;
	cut1[0] = n;
	cut2[0] = split;
	cut2[1] = n;

	encode(in, top, cut1, 1, &whole);
	encode(in, top, cut2, 2, &two);
	encode(in, top, cutn, n, &bytes);
	FUZZ_CHECK(same(&whole, &two), "split at %zu changes the output", split);
	FUZZ_CHECK(same(&whole, &bytes), "byte-at-a-time changes the output");
	check_shape(&whole, top < 0 ? "RETR" : "TOP");

	if (top < 0) {
		FUZZ_CHECK(whole.len == w_size(in, n) + dot_lines(in, n),
		    "RETR sent %zu octets, W=%zu plus %zu stuffed dots", whole.len,
		    w_size(in, n), dot_lines(in, n));
	} else {
		size_t got;

		encode(in, -1, cut1, 1, &full);
		FUZZ_CHECK(whole.len <= full.len && (whole.len == 0 ||
		    memcmp(whole.s, full.s, whole.len) == 0), "TOP %ld is not a prefix of RETR", top);
		got = body_lines(&whole);
		FUZZ_CHECK(got <= (size_t)top, "TOP %ld sent %zu body lines", top, got);
		FUZZ_CHECK(body_lines(&full) < (size_t)top || got == (size_t)top,
		    "TOP %ld sent %zu of %zu body lines", top, got, body_lines(&full));
		buf_free(&full);
	}

	buf_free(&whole);
	buf_free(&two);
	buf_free(&bytes);
	free(cutn);
	free(in);
	return 0;
}
