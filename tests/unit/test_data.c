/*
 * test_data.c: the SMTP DATA state machine (smtpd/data.h, RFC 5321
 * §4.1.1.4, §4.5.2, §4.5.3.1.6). Each case is fed whole, one byte at a
 * time, and in two pieces at every split point; every way must give the
 * same output bytes, error bits, done flag, consumed count and size.
 * The smuggling payloads of 2023 must never end the message.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cutap.h"
#include "data.h"

/* A string literal and its length, NULs included. */
#define L(s) s, sizeof(s) - 1

struct data_case {
	const char *name;
	const char *in;
	size_t inlen;
	size_t max_size;
	const char *out;
	size_t outlen;
	int errors;
	int done;
	size_t consumed;
	size_t size;
};

/* An assertion that names the case and the way it was fed. */
static int check(int cond, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int check(int cond, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	CU_assertImplementation(cond ? CU_TRUE : CU_FALSE, (unsigned)line, msg,
	    __FILE__, "", CU_FALSE);
	return cond;
}

#define CHECK(cond, ...) check((cond), __LINE__, __VA_ARGS__)

/* Printable form of some bytes for a failure message. */
static const char *show(const char *p, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			snprintf(out + o, outlen - o, "\\x%02x", c);
			o += 4;
		}
	}
	out[o] = '\0';
	return out;
}

/*
 * Feed in[0..n) in pieces of at most step bytes (0: all at once), or, with
 * split > 0, in[0..split) then the rest. Stops once done, as the session
 * does. Returns the total consumed.
 */
static size_t feed(struct smtp_data *d, const char *in, size_t n, size_t step,
    size_t split, struct buf *out, const char *how, const char *name)
{
	size_t off = 0;

	while (off < n && !d->done) {
		size_t piece = n - off, got;

		if (split > 0)
			piece = off < split ? split - off : n - off;
		else if (step > 0 && piece > step)
			piece = step;
		got = smtp_data_feed(d, in + off, piece, out);
		if (!CHECK(got <= piece, "%s %s: consumed %zu of %zu", name, how, got, piece))
			break;
		if (got < piece && !CHECK(d->done, "%s %s: stopped short (%zu of %zu) "
		    "but not done", name, how, got, piece))
			break;
		off += got;
	}
	return off;
}

/* Run one case the three ways; report only the first mismatch of each. */
static void run_case(const struct data_case *c)
{
	char how[64], a[256], b[256];

	for (size_t mode = 0; mode < c->inlen + 2; mode++) {
		struct smtp_data d;
		struct buf out = BUF_INIT;
		size_t consumed, step = 0, split = 0;

		/* mode 0: whole; 1: byte by byte; 2..: split at mode - 1 */
		if (mode == 0) {
			snprintf(how, sizeof how, "whole");
		} else if (mode == 1) {
			step = 1;
			snprintf(how, sizeof how, "byte by byte");
		} else {
			split = mode - 1;
			snprintf(how, sizeof how, "split at %zu", split);
		}
		smtp_data_init(&d, c->max_size);
		consumed = feed(&d, c->in, c->inlen, step, split, &out, how, c->name);
		if (!CHECK(out.len == c->outlen && (out.len == 0 ||
		    memcmp(out.s, c->out, out.len) == 0),
		    "%s %s: output \"%s\", want \"%s\"", c->name, how,
		    show(out.s, out.len, a, sizeof a), show(c->out, c->outlen, b, sizeof b)) ||
		    !CHECK(d.errors == c->errors, "%s %s: errors 0x%x, want 0x%x",
		    c->name, how, (unsigned)d.errors, (unsigned)c->errors) ||
		    !CHECK(d.done == c->done, "%s %s: done %d, want %d", c->name, how,
		    d.done, c->done) ||
		    !CHECK(consumed == c->consumed, "%s %s: consumed %zu, want %zu",
		    c->name, how, consumed, c->consumed) ||
		    !CHECK(d.size == c->size, "%s %s: size %zu, want %zu", c->name,
		    how, d.size, c->size)) {
			buf_free(&out);
			return;
		}
		buf_free(&out);
	}
}

static void run_table(const struct data_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_case(&t[i]);
}

#define NO_LIMIT 0

/* Well-formed messages: content with LF line ends, dots unstuffed. */
static const struct data_case good_cases[] = {
	{ "empty message", L(".\r\n"), NO_LIMIT, L(""), 0, 1, 3, 0 },
	{ "one empty line", L("\r\n.\r\n"), NO_LIMIT, L("\n"), 0, 1, 5, 2 },
	{ "normal", L("Subject: hi\r\n\r\nbody line\r\n.\r\n"), NO_LIMIT,
	  L("Subject: hi\n\nbody line\n"), 0, 1, 29, 26 },
	{ "dot-stuffed", L("..x\r\n.x\r\n...\r\n..\r\n.\r\n"), NO_LIMIT,
	  L(".x\nx\n..\n.\n"), 0, 1, 21, 18 },
	{ "dot not at line start", L("a.\r\nb .\r\n .\r\n.\r\n"), NO_LIMIT,
	  L("a.\nb .\n .\n"), 0, 1, 16, 13 },
	{ "dot then space", L(". \r\n.\r\n"), NO_LIMIT, L(" \n"), 0, 1, 7, 4 },
	{ "8-bit bytes kept", L("\xc3\xa9t\xe9\xff\x80\x01\x7f\r\n.\r\n"), NO_LIMIT,
	  L("\xc3\xa9t\xe9\xff\x80\x01\x7f\n"), 0, 1, 13, 10 },
	{ "tab and form feed kept", L("a\tb\fc\r\n.\r\n"), NO_LIMIT,
	  L("a\tb\fc\n"), 0, 1, 10, 7 },
	{ "bytes after the terminator stay unread",
	  L("a\r\n.\r\nQUIT\r\n"), NO_LIMIT, L("a\n"), 0, 1, 6, 3 },
	{ "pipelined MAIL after the terminator stays unread",
	  L("x\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n.\r\n"), NO_LIMIT,
	  L("x\n"), 0, 1, 6, 3 },
	{ "empty message with a command behind it", L(".\r\nRSET\r\n"), NO_LIMIT,
	  L(""), 0, 1, 3, 0 },
};

/*
 * SMTP smuggling: only <CRLF>.<CRLF> ends the message. Every other
 * "end" is flagged and read on as text; nothing after the first bad byte
 * is emitted. The command-looking text behind it is consumed, never left
 * to be run as commands.
 */
static const struct data_case smuggling_cases[] = {
	{ "LF.CRLF then MAIL", L("a\n.\r\nMAIL FROM:<evil@x>\r\n"), NO_LIMIT,
	  L("a"), SMTP_DATA_BARE_LF, 0, 25, 25 },
	{ "LF.CRLF then a whole second message",
	  L("a\n.\r\nMAIL FROM:<e@x>\r\nRCPT TO:<v@y>\r\nDATA\r\nevil\r\n.\r\nQUIT\r\n"),
	  NO_LIMIT, L("a"), SMTP_DATA_BARE_LF, 1, 52, 49 },
	{ "CR.CRLF", L("a\r.\r\n"), NO_LIMIT, L("a"), SMTP_DATA_BARE_CR, 0, 5, 5 },
	{ "CR.CRLF then MAIL", L("a\r.\r\nMAIL FROM:<e@x>\r\n.\r\n"), NO_LIMIT,
	  L("a"), SMTP_DATA_BARE_CR, 1, 25, 22 },
	{ "LF.LF", L("a\n.\n"), NO_LIMIT, L("a"), SMTP_DATA_BARE_LF, 0, 4, 4 },
	{ "LF.LF then MAIL", L("a\n.\nMAIL FROM:<e@x>\n"), NO_LIMIT, L("a"),
	  SMTP_DATA_BARE_LF, 0, 20, 20 },
	{ ".LF at the start", L(".\n"), NO_LIMIT, L(""), SMTP_DATA_BARE_LF, 0, 2, 2 },
	{ ".LF after CRLF", L("a\r\n.\nQUIT\r\n"), NO_LIMIT, L("a\n"),
	  SMTP_DATA_BARE_LF, 0, 11, 11 },
	{ "CRLF.CR then a letter", L("\r\n.\rX"), NO_LIMIT, L("\n"),
	  SMTP_DATA_BARE_CR, 0, 5, 5 },
	{ "CRLF.CR CRLF", L("a\r\n.\r\r\n"), NO_LIMIT, L("a\n"),
	  SMTP_DATA_BARE_CR, 0, 7, 7 },
	{ "CRLF.CR CRLF then the real end", L("a\r\n.\r\r\n.\r\n"), NO_LIMIT,
	  L("a\n"), SMTP_DATA_BARE_CR, 1, 10, 7 },
	{ "LF CRLF.CRLF ends, flagged", L("a\n\r\n.\r\n"), NO_LIMIT, L("a"),
	  SMTP_DATA_BARE_LF, 1, 7, 4 },
	{ "CR CRLF.CRLF ends, flagged", L("a\r\r\n.\r\n"), NO_LIMIT, L("a"),
	  SMTP_DATA_BARE_CR, 1, 7, 4 },
	{ "CR LF split by text", L("a\rb\r\n.\r\n"), NO_LIMIT, L("a"),
	  SMTP_DATA_BARE_CR, 1, 8, 5 },
	{ "bare LF alone", L("\n.\r\n"), NO_LIMIT, L(""), SMTP_DATA_BARE_LF, 0, 4, 4 },
	{ "bare CR at the end of the input", L("abc\r"), NO_LIMIT, L("abc"), 0, 0, 4, 4 },
	{ "LF then CR", L("a\n\r.\r\n"), NO_LIMIT, L("a"),
	  SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR, 0, 6, 6 },
	{ "NUL", L("a\0b\r\n.\r\n"), NO_LIMIT, L("a"), SMTP_DATA_NUL, 1, 8, 5 },
	{ "NUL at BOL", L("\0\r\n.\r\n"), NO_LIMIT, L(""), SMTP_DATA_NUL, 1, 6, 3 },
};

/* Size limit: max_size octets of message (as received), the ".\r\n" apart. */
static const struct data_case size_cases[] = {
	{ "exactly max_size", L("12345678\r\n.\r\n"), 10, L("12345678\n"), 0, 1, 13, 10 },
	{ "max_size + 1", L("123456789\r\n.\r\n"), 10, L("123456789\n"),
	  SMTP_DATA_TOO_BIG, 1, 14, 11 },
	{ "far over max_size, read to the end", L("123456789012345\r\nabc\r\n.\r\nQUIT\r\n"),
	  10, L("1234567890123"), SMTP_DATA_TOO_BIG, 1, 25, 22 },
	{ "empty message, max_size 1", L(".\r\n"), 1, L(""), 0, 1, 3, 0 },
	{ "under the limit, unterminated", L("1234567"), 10, L("1234567"), 0, 0, 7, 7 },
};

static void test_good(void)
{
	run_table(good_cases, sizeof good_cases / sizeof good_cases[0]);
}

static void test_smuggling(void)
{
	run_table(smuggling_cases, sizeof smuggling_cases / sizeof smuggling_cases[0]);
}

static void test_size(void)
{
	run_table(size_cases, sizeof size_cases / sizeof size_cases[0]);
}

/*
 * A line of n octets with its CRLF ("x" * (n - 2) CRLF), optionally
 * after a stuffed dot, then the terminator.
 */
static size_t long_line(char *buf, size_t n, int dot)
{
	size_t o = 0;

	if (dot)
		buf[o++] = '.';
	while (o < n - 2)
		buf[o++] = 'x';
	memcpy(buf + o, "\r\n.\r\n", 5);
	return o + 5;
}

/* RFC 5321 §4.5.3.1.6: 1000 octets with the CRLF are fine, 1001 are not. */
static void test_line_length(void)
{
	static char in[2100], want[2100];
	struct data_case c;
	size_t len;

	/* 998 + CRLF = 1000: accepted whole. */
	len = long_line(in, 1000, 0);
	memset(want, 'x', 998);
	want[998] = '\n';
	c = (struct data_case){ "1000-octet line", in, len, NO_LIMIT, want, 999,
	    0, 1, len, len - 3 };
	run_case(&c);

	/* 999 + CRLF = 1001: flagged at its LF, read to the end. */
	len = long_line(in, 1001, 0);
	memset(want, 'x', 999);
	c = (struct data_case){ "1001-octet line", in, len, NO_LIMIT, want, 999,
	    SMTP_DATA_LONG_LINE, 1, len, len - 3 };
	run_case(&c);

	/* The same 1000 on the wire with a stuffed dot: still fine. */
	len = long_line(in, 1000, 1);
	memset(want, 'x', 997);
	want[997] = '\n';
	c = (struct data_case){ "1000-octet dot-stuffed line", in, len, NO_LIMIT,
	    want, 998, 0, 1, len, len - 3 };
	run_case(&c);

	/* The count starts again on each line: two 1000-octet lines. */
	memset(in, 'y', 998);
	memcpy(in + 998, "\r\n", 2);
	len = 1000 + long_line(in + 1000, 1000, 0);
	memset(want, 'y', 998);
	want[998] = '\n';
	memset(want + 999, 'x', 998);
	want[1997] = '\n';
	c = (struct data_case){ "two 1000-octet lines", in, len, NO_LIMIT,
	    want, 1998, 0, 1, len, len - 3 };
	run_case(&c);
}

/* A long message without any line end: flagged, and nothing emitted past 1000. */
static void test_no_line_end(void)
{
	static char in[5000];
	struct smtp_data d;
	struct buf out = BUF_INIT;
	size_t got;

	memset(in, 'z', sizeof in);
	smtp_data_init(&d, NO_LIMIT);
	got = smtp_data_feed(&d, in, sizeof in, &out);
	CU_ASSERT_EQUAL(got, sizeof in);
	CU_ASSERT_EQUAL(d.errors, SMTP_DATA_LONG_LINE);
	CU_ASSERT_EQUAL(d.done, 0);
	CU_ASSERT_EQUAL(out.len, 1000);
	CU_ASSERT_EQUAL(d.size, sizeof in);
	/* The terminator still ends it, so the session can answer. */
	got = smtp_data_feed(&d, "\r\n.\r\n", 5, &out);
	CU_ASSERT_EQUAL(got, 5);
	CU_ASSERT_EQUAL(d.done, 1);
	CU_ASSERT_EQUAL(d.errors, SMTP_DATA_LONG_LINE);
	CU_ASSERT_EQUAL(d.size, sizeof in + 2);
	buf_free(&out);
}

/* Several errors at once keep every bit; TOO_BIG does not hide the rest. */
static void test_error_bits_accumulate(void)
{
	static const char in[] = "a\nb\rc\0d 1234567890\r\n.\r\n";
	struct smtp_data d;
	struct buf out = BUF_INIT;

	smtp_data_init(&d, 5);
	CU_ASSERT_EQUAL(smtp_data_feed(&d, in, sizeof in - 1, &out), sizeof in - 1);
	CU_ASSERT_EQUAL(d.errors, SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR |
	    SMTP_DATA_NUL | SMTP_DATA_TOO_BIG);
	CU_ASSERT_EQUAL(d.done, 1);
	CU_ASSERT_EQUAL(out.len, 1);
	buf_free(&out);
}

/* smtp_data_init forgets everything of a previous message. */
static void test_reinit(void)
{
	struct smtp_data d;
	struct buf out = BUF_INIT;

	smtp_data_init(&d, 4);
	(void)smtp_data_feed(&d, L("a\nbbbbbbbb\r\n.\r\n"), &out);
	CU_ASSERT_EQUAL(d.done, 1);
	CU_ASSERT_NOT_EQUAL(d.errors, 0);
	buf_reset(&out);
	smtp_data_init(&d, 0);
	CU_ASSERT_EQUAL(smtp_data_feed(&d, L("ok\r\n.\r\n"), &out), 7);
	CU_ASSERT_EQUAL(d.errors, 0);
	CU_ASSERT_EQUAL(d.done, 1);
	CU_ASSERT_EQUAL(d.size, 4);
	CU_ASSERT_EQUAL(out.len, 3);
	CU_ASSERT_NSTRING_EQUAL(out.s, "ok\n", 3);
	buf_free(&out);
}

/*
 * Once done, feeding more consumes nothing and changes nothing: the size
 * of the message that was read must not move.
 */
static void test_feed_after_done(void)
{
	struct smtp_data d;
	struct buf out = BUF_INIT;

	smtp_data_init(&d, 0);
	CU_ASSERT_EQUAL(smtp_data_feed(&d, L("abc\r\n.\r\nQUIT\r\n"), &out), 8);
	CU_ASSERT_EQUAL(d.size, 5);
	CU_ASSERT_EQUAL(smtp_data_feed(&d, L("QUIT\r\n"), &out), 0);
	CU_ASSERT_EQUAL(smtp_data_feed(&d, "", 0, &out), 0);
	CU_ASSERT_EQUAL(d.done, 1);
	CU_ASSERT_EQUAL(d.errors, 0);
	CU_ASSERT_EQUAL(d.size, 5);
	CU_ASSERT_EQUAL(out.len, 4);
	buf_free(&out);
}

/* Nothing fed, nothing changed. */
static void test_feed_nothing(void)
{
	struct smtp_data d;
	struct buf out = BUF_INIT;

	smtp_data_init(&d, 0);
	CU_ASSERT_EQUAL(smtp_data_feed(&d, "", 0, &out), 0);
	CU_ASSERT_EQUAL(d.done, 0);
	CU_ASSERT_EQUAL(d.size, 0);
	CU_ASSERT_EQUAL(d.errors, 0);
	CU_ASSERT_EQUAL(out.len, 0);
	buf_free(&out);
}

/* A big message in 64 KB reads: the size counts every octet. */
static void test_big_message(void)
{
	static char chunk[65536];
	struct smtp_data d;
	struct buf out = BUF_INIT;
	size_t total = 0, i;

	/* Lines of 80 octets: 78 'm' and CRLF. */
	for (i = 0; i < sizeof chunk; i++)
		chunk[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : 'm';
	smtp_data_init(&d, 0);
	for (i = 0; i < 16; i++) {
		/* 65536 is not a multiple of 80: restart the pattern each time
		 * only at a line boundary; feed whole lines. */
		size_t n = sizeof chunk - sizeof chunk % 80;

		CU_ASSERT_EQUAL(smtp_data_feed(&d, chunk, n, &out), n);
		total += n;
		buf_reset(&out);
	}
	CU_ASSERT_EQUAL(smtp_data_feed(&d, L(".\r\n"), &out), 3);
	CU_ASSERT_EQUAL(d.done, 1);
	CU_ASSERT_EQUAL(d.errors, 0);
	CU_ASSERT_EQUAL(d.size, total);
	buf_free(&out);
}

/* Received: fields of the header, counted fed whole and split anywhere. */
static void test_hops(void)
{
	static const struct {
		const char *in;
		int hops, done;
	} cases[] = {
		{ "Received: a\nReceived: b\n\nReceived: body\n", 2, 1 },
		{ "RECEIVED: a\nreceived:b\nSubject: x\n\n", 2, 1 },
		{ "X-Received: a\n\tReceived: folded\n Received: x\n\n", 0, 1 },
		{ "Received : space\nReceive: short\nRReceived: x\n\n", 0, 1 },
		{ "Subject: x\nReceived: after\n", 1, 0 },
		{ "\nReceived: body only\n", 0, 1 },
		{ "", 0, 0 },
	};

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		size_t n = strlen(cases[k].in);

		for (size_t split = 0; split <= n; split++) {
			struct smtp_hops h;

			smtp_hops_init(&h);
			smtp_hops_feed(&h, cases[k].in, split);
			smtp_hops_feed(&h, cases[k].in + split, n - split);
			if (!CHECK(h.hops == cases[k].hops && h.done == cases[k].done,
			    "hops case %zu split at %zu: hops %d done %d, want %d %d",
			    k, split, h.hops, h.done, cases[k].hops, cases[k].done))
				break;
		}
	}
	CU_ASSERT_EQUAL(SMTP_HOPS_MAX, 30);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("data", NULL, NULL);
	CU_add_test(s, "well-formed messages (whole, bytewise, every split)", test_good);
	CU_add_test(s, "smuggling payloads never end the message", test_smuggling);
	CU_add_test(s, "message_size limit", test_size);
	CU_add_test(s, "1000-octet lines ok, 1001 flagged", test_line_length);
	CU_add_test(s, "no line end at all", test_no_line_end);
	CU_add_test(s, "error bits accumulate", test_error_bits_accumulate);
	CU_add_test(s, "init resets the machine", test_reinit);
	CU_add_test(s, "feeding after done changes nothing", test_feed_after_done);
	CU_add_test(s, "feeding nothing changes nothing", test_feed_nothing);
	CU_add_test(s, "a 1 MB message in 64 KB reads", test_big_message);
	CU_add_test(s, "Received: fields counted in the header only", test_hops);
	return cutap_run();
}
