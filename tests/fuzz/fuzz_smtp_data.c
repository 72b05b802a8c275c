/*
 * fuzz_smtp_data.c: libFuzzer target for the DATA reader (smtpd/data.c;
 * RFC 5321 §4.1.1.4, §4.5.2, §4.5.3.1.6). Byte 0 picks a split point,
 * byte 1 the size limit; the rest is the message as received. It is fed
 * whole, in two pieces and one byte at a time, and each way must give the
 * same bytes, flags, end and count as a plain reference model written
 * from the RFC: only <CRLF>.<CRLF> (or ".\r\n" first) ends the message,
 * a bare CR or LF never does (SMTP smuggling).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "data.h"
#include "fuzz_util.h"

struct result {
	struct buf out;
	size_t consumed;
	struct smtp_data d;
};

/* Feed in pieces ending at each offset of cuts[] (the last is n). */
static void feed(const char *in, size_t max, const size_t *cuts,
    size_t ncuts, struct result *r)
{
	size_t start = 0;

	buf_init(&r->out);
	r->consumed = 0;
	smtp_data_init(&r->d, max);
	for (size_t k = 0; k < ncuts; k++) {
		size_t len = cuts[k] - start, used;

		used = smtp_data_feed(&r->d, in + start, len, &r->out);
		FUZZ_CHECK(used <= len, "consumed %zu of %zu", used, len);
		if (r->d.done && used < len) {
			size_t before = r->out.len;

			/* As the session does: stop; what is left stays unread. */
			FUZZ_CHECK(smtp_data_feed(&r->d, in + start + used, len - used,
			    &r->out) == 0, "feeding after the end consumed bytes");
			FUZZ_CHECK(r->out.len == before, "feeding after the end wrote bytes");
		}
		r->consumed += used;
		if (r->d.done)
			break;
		FUZZ_CHECK(used == len, "stopped early (%zu of %zu) without an end", used, len);
		start = cuts[k];
	}
}

/* Where the first terminator ends, or 0 when there is none. */
static size_t terminator_end(const char *in, size_t n)
{
	const char *t;

	if (n >= 3 && memcmp(in, ".\r\n", 3) == 0)
		return 3;
	t = memmem(in, n, "\r\n.\r\n", 5);
	return t ? (size_t)(t - in) + 5 : 0;
}

/* The flags the RFC rules give for the bytes read. */
static int expected_errors(const char *in, size_t n, size_t max)
{
	size_t line = 0;
	int e = 0;

	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\0')
			e |= SMTP_DATA_NUL;
		if (++line > SMTP_DATA_LINE_MAX)
			e |= SMTP_DATA_LONG_LINE;
		if (in[i] == '\n') {
			if (i == 0 || in[i - 1] != '\r')
				e |= SMTP_DATA_BARE_LF;
			line = 0;
		}
		if (in[i] == '\r' && i + 1 < n && in[i + 1] != '\n')
			e |= SMTP_DATA_BARE_CR;
	}
	if (max && n > max + 3)
		e |= SMTP_DATA_TOO_BIG;
	return e;
}

/* Clean content: LF line ends, the stuffed dot of each line removed. */
static void expected_output(const char *in, size_t n, struct buf *out)
{
	int bol = 1;

	for (size_t i = 0; i < n; i++) {
		if (bol && in[i] == '.') {
			bol = 0;
			continue;
		}
		if (in[i] == '\r')
			continue;
		buf_appendc(out, in[i]);
		bol = in[i] == '\n';
	}
}

static void same(const struct result *a, const struct result *b, const char *how)
{
	FUZZ_CHECK(a->consumed == b->consumed, "%s: consumed %zu vs %zu", how,
	    a->consumed, b->consumed);
	FUZZ_CHECK(a->d.done == b->d.done, "%s: done differs", how);
	FUZZ_CHECK(a->d.errors == b->d.errors, "%s: errors 0x%x vs 0x%x", how,
	    (unsigned)a->d.errors, (unsigned)b->d.errors);
	FUZZ_CHECK(a->d.size == b->d.size, "%s: size %zu vs %zu", how, a->d.size, b->d.size);
	FUZZ_CHECK(a->out.len == b->out.len && (a->out.len == 0 ||
	    memcmp(a->out.s, b->out.s, a->out.len) == 0), "%s: output differs", how);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, two, bytes;
	struct buf ref = BUF_INIT;
	size_t n, max, split, end, cut1[1], cut2[2], *cutn;
	char *in;

	if (size < 2)
		return 0;
	n = size - 2;
	/* Byte 0: a split point, direct for small offsets, scaled for large. */
	split = data[0] & 0x80 ? (size_t)(data[0] & 0x7f) * (n + 1) / 128 :
	    (data[0] <= n ? data[0] : n);
	max = data[1] == 0 ? 0 : (size_t)data[1] * 16;
	in = malloc(n ? n : 1);		/* exact size: ASan sees overreads */
	if (in == NULL)
		return 0;
	memcpy(in, data + 2, n);

	cut1[0] = n;
	feed(in, max, cut1, 1, &whole);
	cut2[0] = split;
	cut2[1] = n;
	feed(in, max, cut2, 2, &two);
	cutn = malloc((n ? n : 1) * sizeof *cutn);
	for (size_t i = 0; i < n; i++)
		cutn[i] = i + 1;
	feed(in, max, cutn, n, &bytes);
	same(&whole, &two, "two pieces");
	same(&whole, &bytes, "byte at a time");

	/* Against the rules themselves. */
	end = terminator_end(in, n);
	FUZZ_CHECK(whole.d.done == (end != 0), "done=%d but terminator at %zu",
	    whole.d.done, end);
	FUZZ_CHECK(whole.consumed == (end ? end : n), "consumed %zu, terminator ends at %zu",
	    whole.consumed, end);
	FUZZ_CHECK(whole.d.size == whole.consumed - (end ? 3 : 0), "size %zu for %zu read",
	    whole.d.size, whole.consumed);
	FUZZ_CHECK(whole.d.errors == expected_errors(in, whole.consumed, max),
	    "errors 0x%x, expected 0x%x", (unsigned)whole.d.errors,
	    (unsigned)expected_errors(in, whole.consumed, max));
	FUZZ_CHECK(whole.out.len == 0 || memchr(whole.out.s, '\r', whole.out.len) == NULL,
	    "CR in the output");
	if (whole.d.errors == 0) {
		expected_output(in, end ? end - 3 : whole.consumed, &ref);
		FUZZ_CHECK(ref.len == whole.out.len && (ref.len == 0 ||
		    memcmp(ref.s, whole.out.s, ref.len) == 0),
		    "output differs from the reference (%zu vs %zu bytes)",
		    whole.out.len, ref.len);
	}

	buf_free(&ref);
	buf_free(&whole.out);
	buf_free(&two.out);
	buf_free(&bytes.out);
	free(cutn);
	free(in);
	return 0;
}
