/*
 * test_milter.c: the milter packets (filter/milter_wire.c): every MTA
 * command encoded byte for byte, every filter reply decoded from a stream
 * fed whole and one byte at a time, malformed and oversized packets
 * refused; and the header edits of filter/milter.c applied to a stored
 * message; and what filter/milter.c puts on the wire for a filter that
 * asked for no replies (an in-process filter, the client in a child):
 * the no-reply packets of a message batched into one write with the end
 * of message, no macros for a step the filter asked not to get,
 * TCP_NODELAY on a TCP connection, nothing pending lost at QUIT.
 * tests/interop/milter_wire.py runs the same code against a real
 * libmilter filter.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cutap.h"
#include "milter.h"
#include "milter_wire.h"

/* ---- encoders ---- */

static void expect(struct buf *b, const char *want, size_t n)
{
	CU_ASSERT_EQUAL(b->len, n);
	CU_ASSERT(b->len == n && memcmp(b->s, want, n) == 0);
	if (b->len != n || memcmp(b->s, want, n) != 0) {
		size_t i;

		fprintf(stderr, "# got ");
		for (i = 0; i < b->len; i++)
			fprintf(stderr, "%02x", (unsigned char)b->s[i]);
		fprintf(stderr, "\n# want ");
		for (i = 0; i < n; i++)
			fprintf(stderr, "%02x", (unsigned char)want[i]);
		fprintf(stderr, "\n");
	}
	buf_reset(b);
}
#define EXPECT(b, lit) expect((b), (lit), sizeof(lit) - 1)

static void test_enc_optneg(void)
{
	struct buf b = BUF_INIT;

	milter_enc_optneg(&b, 6, 0x131, 0x000FF7FF);
	EXPECT(&b, "\0\0\0\x0d" "O" "\0\0\0\x06" "\0\0\x01\x31" "\0\x0f\xf7\xff");
	buf_free(&b);
}

static void test_enc_macro(void)
{
	struct buf b = BUF_INIT;
	const char *pairs[] = { "j", "mx.example.test", "{client_addr}", "192.0.2.7" };

	milter_enc_macro(&b, SMFIC_CONNECT, pairs, 2);
	EXPECT(&b, "\0\0\0\x2c" "D" "C" "j\0mx.example.test\0{client_addr}\0" "192.0.2.7\0");
	milter_enc_macro(&b, SMFIC_BODYEOB, pairs, 0);
	EXPECT(&b, "\0\0\0\x02" "DE");
	buf_free(&b);
}

static void test_enc_connect(void)
{
	struct buf b = BUF_INIT;

	milter_enc_connect(&b, "client.example.net", SMFIA_INET, 25000, "192.0.2.7");
	EXPECT(&b, "\0\0\0\x21" "C" "client.example.net\0" "4" "\x61\xa8" "192.0.2.7\0");
	milter_enc_connect(&b, "[2001:db8::1]", SMFIA_INET6, 1, "2001:db8::1");
	EXPECT(&b, "\0\0\0\x1e" "C" "[2001:db8::1]\0" "6" "\0\x01" "2001:db8::1\0");
	milter_enc_connect(&b, "localhost", SMFIA_UNIX, 0, "/run/s");
	EXPECT(&b, "\0\0\0\x15" "C" "localhost\0" "L" "\0\0" "/run/s\0");
	milter_enc_connect(&b, "x", SMFIA_UNKNOWN, 99, "ignored");
	EXPECT(&b, "\0\0\0\x04" "C" "x\0" "U");
	buf_free(&b);
}

static void test_enc_envelope(void)
{
	struct buf b = BUF_INIT;
	const char *args[] = { "SIZE=100", "BODY=8BITMIME", NULL };

	milter_enc_helo(&b, "client.example.net");
	EXPECT(&b, "\0\0\0\x14" "H" "client.example.net\0");
	milter_enc_envelope(&b, SMFIC_MAIL, "a@example.net", args);
	EXPECT(&b, "\0\0\0\x28" "M" "<a@example.net>\0SIZE=100\0BODY=8BITMIME\0");
	milter_enc_envelope(&b, SMFIC_MAIL, "", NULL);
	EXPECT(&b, "\0\0\0\x04" "M" "<>\0");
	milter_enc_envelope(&b, SMFIC_RCPT, "b@example.test", NULL);
	EXPECT(&b, "\0\0\0\x12" "R" "<b@example.test>\0");
	buf_free(&b);
}

static void test_enc_content(void)
{
	struct buf b = BUF_INIT;

	milter_enc_header(&b, "Subject", "hello\n\tworld");
	EXPECT(&b, "\0\0\0\x16" "L" "Subject\0hello\n\tworld\0");
	milter_enc_body(&b, "line\r\n\0x", 8);
	EXPECT(&b, "\0\0\0\x09" "B" "line\r\n\0x");
	milter_enc_body(&b, "", 0);
	EXPECT(&b, "\0\0\0\x01" "B");
	milter_enc_unknown(&b, "XYZZY");
	EXPECT(&b, "\0\0\0\x07" "U" "XYZZY\0");
	milter_enc_simple(&b, SMFIC_DATA);
	EXPECT(&b, "\0\0\0\x01" "T");
	milter_enc_simple(&b, SMFIC_EOH);
	EXPECT(&b, "\0\0\0\x01" "N");
	milter_enc_simple(&b, SMFIC_BODYEOB);
	EXPECT(&b, "\0\0\0\x01" "E");
	milter_enc_simple(&b, SMFIC_ABORT);
	EXPECT(&b, "\0\0\0\x01" "A");
	milter_enc_simple(&b, SMFIC_QUIT);
	EXPECT(&b, "\0\0\0\x01" "Q");
	milter_enc_simple(&b, SMFIC_QUIT_NC);
	EXPECT(&b, "\0\0\0\x01" "K");
	buf_free(&b);
}

/* A body chunk of the most bytes a packet may carry. */
static void test_enc_big_body(void)
{
	struct buf b = BUF_INIT;
	static char chunk[MILTER_CHUNK_SIZE];

	memset(chunk, 'x', sizeof chunk);
	milter_enc_body(&b, chunk, sizeof chunk);
	CU_ASSERT_EQUAL(b.len, 5 + MILTER_CHUNK_SIZE);
	CU_ASSERT(memcmp(b.s, "\0\x01\0\0" "B", 5) == 0);
	buf_free(&b);
}

/* ---- decoder ---- */

/* Every reply, in one stream. */
static const char stream[] =
	"\0\0\0\x01" "a"
	"\0\0\0\x01" "c"
	"\0\0\0\x01" "r"
	"\0\0\0\x01" "t"
	"\0\0\0\x01" "d"
	"\0\0\0\x01" "p"
	"\0\0\0\x01" "s"
	"\0\0\0\x1a" "y" "554 5.7.1 go away\r\n554 x\0"
	"\0\0\0\x0c" "q" "held: spam\0"
	"\0\0\0\x0f" "h" "X-Spam\0yes\n\tx\0"
	"\0\0\0\x0d" "i" "\0\0\0\x02" "X-Top\0v\0"
	"\0\0\0\x0e" "m" "\0\0\0\x01" "Subject\0\0"
	"\0\0\0\x09" "+" "<a@b.c>\0"
	"\0\0\0\x09" "-" "<a@b.c>\0"
	"\0\0\0\x0f" "2" "<a@b.c>\0A=B C\0"
	"\0\0\0\x04" "e" "<>\0"
	"\0\0\0\x0d" "e" "<a@b.c>\0X=1\0"
	"\0\0\0\x05" "b" "ab\0c"
	"\0\0\0\x01" "4"
	"\0\0\0\x01" "f"
	"\0\0\0\x0d" "O" "\0\0\0\x06" "\0\0\x01\xff" "\0\x1f\xff\xff"
	"\0\0\0\x2b" "O" "\0\0\0\x06" "\0\0\x01\x00" "\0\0\0\0"
	    "\0\0\0\x02" "{mail_addr} i\0" "\0\0\0\x05" "i\0" "\0\0\0\x63" "z\0";

static void check_stream(struct milter_reply *r, int k)
{
	switch (k) {
	case 0: CU_ASSERT_EQUAL(r->type, MR_ACCEPT); break;
	case 1: CU_ASSERT_EQUAL(r->type, MR_CONTINUE); break;
	case 2: CU_ASSERT_EQUAL(r->type, MR_REJECT); break;
	case 3: CU_ASSERT_EQUAL(r->type, MR_TEMPFAIL); break;
	case 4: CU_ASSERT_EQUAL(r->type, MR_DISCARD); break;
	case 5: CU_ASSERT_EQUAL(r->type, MR_PROGRESS); break;
	case 6: CU_ASSERT_EQUAL(r->type, MR_SKIP); break;
	case 7:
		CU_ASSERT_EQUAL(r->type, MR_REPLYCODE);
		CU_ASSERT_STRING_EQUAL(r->text, "554 5.7.1 go away\r\n554 x");
		break;
	case 8:
		CU_ASSERT_EQUAL(r->type, MR_QUARANTINE);
		CU_ASSERT_STRING_EQUAL(r->text, "held: spam");
		break;
	case 9:
		CU_ASSERT_EQUAL(r->type, MR_ADDHEADER);
		CU_ASSERT_STRING_EQUAL(r->name, "X-Spam");
		CU_ASSERT_STRING_EQUAL(r->value, "yes\n\tx");
		break;
	case 10:
		CU_ASSERT_EQUAL(r->type, MR_INSHEADER);
		CU_ASSERT_EQUAL(r->index, 2);
		CU_ASSERT_STRING_EQUAL(r->name, "X-Top");
		CU_ASSERT_STRING_EQUAL(r->value, "v");
		break;
	case 11:
		CU_ASSERT_EQUAL(r->type, MR_CHGHEADER);
		CU_ASSERT_EQUAL(r->index, 1);
		CU_ASSERT_STRING_EQUAL(r->name, "Subject");
		CU_ASSERT_STRING_EQUAL(r->value, "");
		break;
	case 12:
		CU_ASSERT_EQUAL(r->type, MR_ADDRCPT);
		CU_ASSERT_STRING_EQUAL(r->text, "<a@b.c>");
		break;
	case 13:
		CU_ASSERT_EQUAL(r->type, MR_DELRCPT);
		CU_ASSERT_STRING_EQUAL(r->text, "<a@b.c>");
		break;
	case 14:
		CU_ASSERT_EQUAL(r->type, MR_ADDRCPT_PAR);
		CU_ASSERT_STRING_EQUAL(r->text, "<a@b.c>");
		CU_ASSERT_STRING_EQUAL(r->args, "A=B C");
		break;
	case 15:
		CU_ASSERT_EQUAL(r->type, MR_CHGFROM);
		CU_ASSERT_STRING_EQUAL(r->text, "<>");
		CU_ASSERT_STRING_EQUAL(r->args, "");
		break;
	case 16:
		CU_ASSERT_EQUAL(r->type, MR_CHGFROM);
		CU_ASSERT_STRING_EQUAL(r->args, "X=1");
		break;
	case 17:
		CU_ASSERT_EQUAL(r->type, MR_REPLBODY);
		CU_ASSERT_EQUAL(r->len, 4);
		CU_ASSERT(memcmp(r->data, "ab\0c", 4) == 0);
		break;
	case 18: CU_ASSERT_EQUAL(r->type, MR_SHUTDOWN); break;
	case 19: CU_ASSERT_EQUAL(r->type, MR_CONN_FAIL); break;
	case 20:
		CU_ASSERT_EQUAL(r->type, MR_OPTNEG);
		CU_ASSERT_EQUAL(r->version, 6);
		CU_ASSERT_EQUAL(r->actions, 0x1ff);
		CU_ASSERT_EQUAL(r->protocol, 0x1fffff);
		CU_ASSERT_STRING_EQUAL(r->symlist[SMFIM_ENVFROM], "");
		break;
	case 21:
		CU_ASSERT_EQUAL(r->type, MR_OPTNEG);
		CU_ASSERT_EQUAL(r->actions, 0x100);
		CU_ASSERT_STRING_EQUAL(r->symlist[SMFIM_ENVFROM], "{mail_addr} i");
		CU_ASSERT_STRING_EQUAL(r->symlist[SMFIM_EOM], "i");
		CU_ASSERT_STRING_EQUAL(r->symlist[SMFIM_CONNECT], "");
		break;
	default:
		CU_FAIL("more replies than sent");
	}
}

#define NREPLIES 22

/* Feed the stream in pieces of step bytes (0: whole); count the replies. */
static void decode_in_steps(size_t step)
{
	struct milter_dec d;
	struct milter_reply r;
	size_t off = 0, total = sizeof stream - 1;
	int k = 0, s;
	char err[128];

	milter_dec_init(&d);
	while (off < total) {
		size_t n = step == 0 || total - off < step ? total - off : step;

		milter_dec_feed(&d, stream + off, n);
		off += n;
		while ((s = milter_dec_next(&d, &r, err, sizeof err)) == 1)
			check_stream(&r, k++);
		CU_ASSERT_EQUAL(s, 0);
		if (s < 0)
			fprintf(stderr, "# reply %d: %s\n", k, err);
	}
	CU_ASSERT_EQUAL(k, NREPLIES);
	CU_ASSERT_EQUAL(milter_dec_pending(&d), 0);
	milter_dec_free(&d);
}

static void test_dec_whole(void)
{
	decode_in_steps(0);
}

static void test_dec_bytewise(void)
{
	decode_in_steps(1);
	decode_in_steps(3);
}

/* A packet that must be refused, fed whole. */
static void refused(const char *p, size_t n, const char *why)
{
	struct milter_dec d;
	struct milter_reply r;
	char err[128] = "";

	milter_dec_init(&d);
	milter_dec_feed(&d, p, n);
	CU_ASSERT_EQUAL(milter_dec_next(&d, &r, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, why));
	if (strstr(err, why) == NULL)
		fprintf(stderr, "# got \"%s\", wanted \"%s\"\n", err, why);
	milter_dec_free(&d);
}
#define REFUSED(lit, why) refused((lit), sizeof(lit) - 1, (why))

static void test_dec_malformed(void)
{
	REFUSED("\0\0\0\0", "length 0");
	REFUSED("\0\x10\0\x01" "a", "bytes (most");
	REFUSED("\xff\xff\xff\xff", "bytes (most");
	REFUSED("\0\0\0\x01" "Z", "unknown reply");
	REFUSED("\0\0\0\x02" "ax", "malformed accept");
	REFUSED("\0\0\0\x02" "cx", "malformed continue");
	REFUSED("\0\0\0\x04" "y550", "malformed replycode");
	REFUSED("\0\0\0\x01" "y", "malformed replycode");
	REFUSED("\0\0\0\x05" "q" "ab\0x", "malformed quarantine");
	REFUSED("\0\0\0\x04" "hX\0v", "malformed addheader");
	REFUSED("\0\0\0\x03" "hX\0", "malformed addheader");
	REFUSED("\0\0\0\x04" "i\0\0\0", "malformed insheader");
	REFUSED("\0\0\0\x07" "m\0\0\0\x01X\0", "malformed chgheader");
	REFUSED("\0\0\0\x09" "O\0\0\0\x06\0\0\0\0", "malformed optneg");
	REFUSED("\0\0\0\x0f" "O\0\0\0\x06\0\0\0\0\0\0\0\0\0\0", "malformed optneg");
	REFUSED("\0\0\0\x12" "O\0\0\0\x06\0\0\0\0\0\0\0\0\0\0\0\x01x", "malformed optneg");
	REFUSED("\0\0\0\x02" "+" "x", "malformed addrcpt");
}

/* An oversized length is refused from its first four bytes on. */
static void test_dec_oversized_early(void)
{
	struct milter_dec d;
	struct milter_reply r;
	char err[128];

	milter_dec_init(&d);
	milter_dec_feed(&d, "\0\x10", 2);
	CU_ASSERT_EQUAL(milter_dec_next(&d, &r, err, sizeof err), 0);
	milter_dec_feed(&d, "\0\x01", 2);
	CU_ASSERT_EQUAL(milter_dec_next(&d, &r, err, sizeof err), -1);
	milter_dec_free(&d);
	/* The largest allowed is waited for, not refused. */
	milter_dec_init(&d);
	milter_dec_feed(&d, "\0\x10\0\0" "b", 5);
	CU_ASSERT_EQUAL(milter_dec_next(&d, &r, err, sizeof err), 0);
	CU_ASSERT_EQUAL(milter_dec_pending(&d), 5);
	milter_dec_free(&d);
}

static void test_header_ok(void)
{
	CU_ASSERT(milter_header_ok("X-Spam", "yes"));
	CU_ASSERT(milter_header_ok("X-Spam", ""));
	CU_ASSERT(milter_header_ok("X-Spam", "a\n\tb"));
	CU_ASSERT(milter_header_ok("X-Spam", "a\r\n b"));
	CU_ASSERT(!milter_header_ok("", "x"));
	CU_ASSERT(!milter_header_ok("X Spam", "x"));
	CU_ASSERT(!milter_header_ok("X:Spam", "x"));
	CU_ASSERT(!milter_header_ok("X-\x80", "x"));
	CU_ASSERT(!milter_header_ok("X", "a\nb"));
	CU_ASSERT(!milter_header_ok("X", "a\n"));
	CU_ASSERT(!milter_header_ok("X", "a\rb"));
	CU_ASSERT(!milter_header_ok("X", "a\r\n"));
	CU_ASSERT(!milter_header_ok("X", "a\n\nBcc: x"));
}

static void test_replycode_ok(void)
{
	CU_ASSERT(milter_replycode_ok("554 5.7.1 rejected"));
	CU_ASSERT(milter_replycode_ok("451 4.7.1 later"));
	CU_ASSERT(milter_replycode_ok("550 no enhanced code"));
	CU_ASSERT(milter_replycode_ok("550-5.7.1 one\r\n550 5.7.1 two"));
	CU_ASSERT(!milter_replycode_ok("250 2.0.0 ok"));
	CU_ASSERT(!milter_replycode_ok("554 4.7.1 class differs"));
	CU_ASSERT(!milter_replycode_ok("55 short"));
	CU_ASSERT(!milter_replycode_ok("5540 x"));
	CU_ASSERT(!milter_replycode_ok("554 a\nb"));
	CU_ASSERT(!milter_replycode_ok("554 5.7.1 a\r\n451 4.7.1 b"));
	CU_ASSERT(!milter_replycode_ok(""));
}

/* ---- header edits ---- */

static const char msg[] =
	"Received: from a\n\tby b\n"
	"Subject: one\n"
	"To: x@example.test\n"
	"subject: two\n"
	"\n"
	"Subject: in the body\n";

static void edit(struct milter_edits *e, enum milter_edit_op op, unsigned index,
    const char *name, const char *value)
{
	e->v = xreallocarray(e->v, e->n + 1, sizeof *e->v);
	e->v[e->n].op = op;
	e->v[e->n].index = index;
	e->v[e->n].name = xstrdup(name);
	e->v[e->n].value = xstrdup(value);
	e->n++;
}

static void applied(struct milter_edits *e, const char *in, const char *want)
{
	struct buf out = BUF_INIT;

	milter_edits_apply(e, in, strlen(in), &out);
	CU_ASSERT_EQUAL(out.len, strlen(want));
	CU_ASSERT(out.len == strlen(want) && memcmp(out.s, want, out.len) == 0);
	if (out.len != strlen(want) || memcmp(out.s, want, out.len) != 0)
		fprintf(stderr, "# got:\n%.*s# want:\n%s", (int)out.len,
		    out.s != NULL ? out.s : "", want);
	buf_free(&out);
	milter_edits_free(e);
}

static void test_edit_none(void)
{
	struct milter_edits e = { NULL, 0 };

	applied(&e, msg, msg);
}

static void test_edit_add(void)
{
	struct milter_edits e = { NULL, 0 };

	edit(&e, MILTER_EDIT_ADD, 0, "X-Spam", "yes");
	edit(&e, MILTER_EDIT_ADD, 0, "X-Report", "a\n\tb");
	applied(&e, msg, "Received: from a\n\tby b\nSubject: one\nTo: x@example.test\n"
	    "subject: two\nX-Spam: yes\nX-Report: a\n\tb\n\nSubject: in the body\n");
}

static void test_edit_insert(void)
{
	struct milter_edits e = { NULL, 0 };

	edit(&e, MILTER_EDIT_INSERT, 0, "X-Top", "1");
	edit(&e, MILTER_EDIT_INSERT, 2, "X-Mid", "2");
	edit(&e, MILTER_EDIT_INSERT, 99, "X-End", "3");
	applied(&e, msg, "X-Top: 1\nReceived: from a\n\tby b\nX-Mid: 2\nSubject: one\n"
	    "To: x@example.test\nsubject: two\nX-End: 3\n\nSubject: in the body\n");
}

static void test_edit_change(void)
{
	struct milter_edits e = { NULL, 0 };

	edit(&e, MILTER_EDIT_CHANGE, 2, "SUBJECT", "second");
	edit(&e, MILTER_EDIT_CHANGE, 1, "Received", "folded\n away");
	applied(&e, msg, "Received: folded\n away\nSubject: one\nTo: x@example.test\n"
	    "SUBJECT: second\n\nSubject: in the body\n");
}

static void test_edit_delete(void)
{
	struct milter_edits e = { NULL, 0 };

	edit(&e, MILTER_EDIT_CHANGE, 1, "Subject", "");
	edit(&e, MILTER_EDIT_CHANGE, 1, "Subject", "");	/* the second, now first */
	edit(&e, MILTER_EDIT_CHANGE, 1, "Subject", "");	/* none left: nothing */
	edit(&e, MILTER_EDIT_CHANGE, 1, "Received", "");
	applied(&e, msg, "To: x@example.test\n\nSubject: in the body\n");
}

static void test_edit_change_missing(void)
{
	struct milter_edits e = { NULL, 0 };

	edit(&e, MILTER_EDIT_CHANGE, 3, "Subject", "third");
	edit(&e, MILTER_EDIT_CHANGE, 1, "X-None", "new");
	applied(&e, msg, "Received: from a\n\tby b\nSubject: one\nTo: x@example.test\n"
	    "subject: two\nSubject: third\nX-None: new\n\nSubject: in the body\n");
}

static void test_edit_shapes(void)
{
	struct milter_edits e = { NULL, 0 };

	/* No empty line, no body. */
	edit(&e, MILTER_EDIT_ADD, 0, "X-A", "1");
	applied(&e, "Subject: s\n", "Subject: s\nX-A: 1\n");
	/* No final LF on the last field. */
	edit(&e, MILTER_EDIT_ADD, 0, "X-A", "1");
	applied(&e, "Subject: s", "Subject: s\nX-A: 1\n");
	/* Empty header: the message starts with its empty line. */
	edit(&e, MILTER_EDIT_ADD, 0, "X-A", "1");
	applied(&e, "\nbody\n", "X-A: 1\n\nbody\n");
	/* Empty message. */
	edit(&e, MILTER_EDIT_INSERT, 0, "X-A", "");
	applied(&e, "", "X-A:\n");
	/* Spaces before the colon still name the field. */
	edit(&e, MILTER_EDIT_CHANGE, 1, "Subject", "new");
	applied(&e, "Subject  : old\n\nb\n", "Subject: new\n\nb\n");
	/* A longer name is another field. */
	edit(&e, MILTER_EDIT_CHANGE, 1, "Subj", "");
	applied(&e, "Subject: old\n\nb\n", "Subject: old\n\nb\n");
}

/* ---- the wire, against an in-process filter ---- */

/* Every step but the end of message without a reply: rspamd's choice. */
#define NR_ALL (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT | \
	SMFIP_NR_DATA | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY)

/* n bytes from fd, waiting at most 20 s in all: 0, or -1. */
static int read_full(int fd, void *p, size_t n)
{
	char *c = p;
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t r;

		if (poll(&pfd, 1, 20000) <= 0)
			return -1;
		r = read(fd, c + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* One packet's command and first data byte ("D" + the macro stage, "M"):
   appended to seen; the command, or -1 at the end of the stream. */
static int read_packet(int fd, char *seen, size_t cap)
{
	unsigned char len[4];
	char data[70000];
	size_t n, k = strlen(seen);

	if (read_full(fd, len, 4) < 0)
		return -1;
	n = (size_t)len[0] << 24 | (size_t)len[1] << 16 | (size_t)len[2] << 8 | len[3];
	if (n == 0 || n > sizeof data || read_full(fd, data, n) < 0)
		return -1;
	if (k + 4 < cap) {
		seen[k++] = data[0];
		if (data[0] == SMFIC_MACRO && n > 1)
			seen[k++] = data[1];
		seen[k++] = ' ';
		seen[k] = '\0';
	}
	return (unsigned char)data[0];
}

static void put32(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* The filter's side of the negotiation: version 6, no actions, steps. */
static int reply_optneg(int fd, unsigned steps)
{
	unsigned char p[17];

	put32(p, 13);
	p[4] = 'O';
	put32(p + 5, 6);
	put32(p + 9, 0);
	put32(p + 13, steps);
	return write(fd, p, sizeof p) == (ssize_t)sizeof p ? 0 : -1;
}

/* Does this process hold a TCP socket to port with TCP_NODELAY on? 1, 0,
   or -1 when it holds none. */
static int nodelay_to(unsigned port)
{
	int fd;

	for (fd = 3; fd < 1024; fd++) {
		struct sockaddr_in sin;
		socklen_t sl = sizeof sin;
		int on = 0;
		socklen_t ol = sizeof on;

		if (getpeername(fd, (struct sockaddr *)&sin, &sl) < 0 ||
		    sin.sin_family != AF_INET || ntohs(sin.sin_port) != port)
			continue;
		if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &ol) < 0)
			return 0;
		return on != 0;
	}
	return -1;
}

/*
 * The MTA side, in the child: one message through milter.c, stopping
 * before the end of message until the parent says go (the byte on go),
 * after telling it (the byte on at); then a MAIL that the filter need not
 * answer, and QUIT. Exit 0, or the number of the step that went wrong.
 */
static void client_child(const char *address, unsigned port, int at, int go)
{
	struct milter_conf conf = { "t", address, 20, MILTER_ON_ERROR_TEMPFAIL };
	struct milter_conn conn = { "mx.example.test", "smtp", "192.0.2.7", 4321,
		AF_INET, "" };
	struct milter_verdict v;
	struct milter_edits e = { NULL, 0 };
	struct milter *m;
	char c = 'x';

	m = milter_open(&conf, &conn, &v);
	if (v.action != MILTER_CONTINUE)
		_exit(10);
	if (port != 0 && nodelay_to(port) != 1)
		_exit(11);
	milter_helo(m, "client.example.net", &v);
	milter_mail(m, "s@example.net", NULL, "", &v);
	milter_rcpt(m, "a@example.test", NULL, &v);
	milter_set_queue_id(m, "Q1");
	milter_data(m, &v);
	milter_header(m, "Subject", " hi", &v);
	milter_eoh(m, &v);
	milter_body(m, "body\n", 5, &v);
	if (v.action != MILTER_CONTINUE)
		_exit(12);
	if (write(at, &c, 1) != 1 || read(go, &c, 1) != 1)
		_exit(13);
	milter_eom(m, &v, &e);
	if (v.action != MILTER_CONTINUE)
		_exit(14);
	milter_mail(m, "s2@example.net", NULL, "", &v);
	milter_close(m);
	_exit(0);
}

struct wire {
	int tcp;		/* over TCP (else a unix socket) */
	unsigned steps;		/* what the filter asks for */
	int pending_at_eom;	/* bytes readable before the end of message */
	char message[512];	/* the packets up to the end of message */
	char after[256];	/* the packets after it */
	int status;		/* the child's exit status */
};

/* Run the child against a filter here that asks for w->steps. */
static void wire_run(struct wire *w)
{
	char path[300], address[320];
	int lfd, cfd = -1, at[2], go[2], st = 0;
	unsigned port = 0;
	pid_t pid;
	char c;

	memset(w->message, 0, sizeof w->message);
	memset(w->after, 0, sizeof w->after);
	w->pending_at_eom = -1;
	w->status = -1;
	if (w->tcp) {
		struct sockaddr_in sin;
		socklen_t sl = sizeof sin;

		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		lfd = socket(AF_INET, SOCK_STREAM, 0);
		CU_ASSERT_FATAL(lfd >= 0 && bind(lfd, (struct sockaddr *)&sin, sizeof sin) == 0);
		CU_ASSERT_FATAL(getsockname(lfd, (struct sockaddr *)&sin, &sl) == 0);
		port = ntohs(sin.sin_port);
		snprintf(address, sizeof address, "127.0.0.1:%u", port);
	} else {
		struct sockaddr_un un;

		memset(&un, 0, sizeof un);
		un.sun_family = AF_UNIX;
		snprintf(path, sizeof path, "%s/f.sock", cutap_tmpdir());
		unlink(path);
		CU_ASSERT_FATAL(strlen(path) < sizeof un.sun_path);
		memcpy(un.sun_path, path, strlen(path) + 1);
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		CU_ASSERT_FATAL(lfd >= 0 && bind(lfd, (struct sockaddr *)&un, sizeof un) == 0);
		snprintf(address, sizeof address, "unix:%s", path);
	}
	CU_ASSERT_FATAL(listen(lfd, 4) == 0);
	CU_ASSERT_FATAL(pipe(at) == 0 && pipe(go) == 0);
	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		close(lfd);
		client_child(address, port, at[1], go[0]);
	}
	close(at[1]);
	close(go[0]);
	{
		struct pollfd pfd = { lfd, POLLIN, 0 };

		if (poll(&pfd, 1, 20000) == 1)
			cfd = accept(lfd, NULL, NULL);
	}
	CU_ASSERT(cfd >= 0);
	if (cfd >= 0 && read_packet(cfd, w->message, sizeof w->message) == SMFIC_OPTNEG &&
	    reply_optneg(cfd, w->steps) == 0 && read_full(at[0], &c, 1) == 0) {
		struct pollfd pfd = { cfd, POLLIN, 0 };
		int k;

		/* The child is at the end of message: what has it sent? */
		w->pending_at_eom = poll(&pfd, 1, 0) > 0;
		w->message[0] = '\0';
		if (write(go[1], "g", 1) == 1) {
			while ((k = read_packet(cfd, w->message, sizeof w->message)) > 0 &&
			    k != SMFIC_BODYEOB)
				;
			if (k == SMFIC_BODYEOB &&
			    write(cfd, "\0\0\0\001c", 5) == 5)
				while (read_packet(cfd, w->after, sizeof w->after) > 0)
					;
		}
	}
	close(go[1]);
	close(at[0]);
	if (waitpid(pid, &st, 0) == pid && WIFEXITED(st))
		w->status = WEXITSTATUS(st);
	if (cfd >= 0)
		close(cfd);
	close(lfd);
}

/*
 * A filter that answers only the end of message hears of the message in
 * one write, when its answer is wanted: not a packet (and a wait on the
 * other side's delayed ACK) per step.
 */
static void test_wire_no_reply_batched(void)
{
	struct wire w = { .tcp = 0, .steps = NR_ALL };

	wire_run(&w);
	CU_ASSERT_EQUAL(w.status, 0);
	CU_ASSERT_EQUAL(w.pending_at_eom, 0);
	CU_ASSERT_STRING_EQUAL(w.message,
	    "DC C H DM M DR R DT T L DN N B DE E ");
	/* The MAIL after it still reaches the filter, before the QUIT. */
	CU_ASSERT_STRING_EQUAL(w.after, "DM M Q ");
	if (w.pending_at_eom != 0 || strcmp(w.message,
	    "DC C H DM M DR R DT T L DN N B DE E ") != 0)
		fprintf(stderr, "# pending %d, message: %s, after: %s\n",
		    w.pending_at_eom, w.message, w.after);
}

/* A step the filter asked not to get: neither it nor its macros. */
static void test_wire_no_macros_for_skipped(void)
{
	struct wire w = { .tcp = 0, .steps = NR_ALL | SMFIP_NOCONNECT |
	    SMFIP_NOMAIL | SMFIP_NORCPT | SMFIP_NODATA };

	wire_run(&w);
	CU_ASSERT_EQUAL(w.status, 0);
	CU_ASSERT_STRING_EQUAL(w.message, "H L DN N B DE E ");
	CU_ASSERT_STRING_EQUAL(w.after, "Q ");
	if (strcmp(w.message, "H L DN N B DE E ") != 0)
		fprintf(stderr, "# message: %s, after: %s\n", w.message, w.after);
}

/* Over TCP: TCP_NODELAY on (checked in the child, exit 11 if not). */
static void test_wire_tcp_nodelay(void)
{
	struct wire w = { .tcp = 1, .steps = NR_ALL };

	wire_run(&w);
	CU_ASSERT_EQUAL(w.status, 0);
	CU_ASSERT_STRING_EQUAL(w.message,
	    "DC C H DM M DR R DT T L DN N B DE E ");
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("milter", NULL, NULL);
	CU_add_test(s, "encode SMFIC_OPTNEG", test_enc_optneg);
	CU_add_test(s, "encode SMFIC_MACRO", test_enc_macro);
	CU_add_test(s, "encode SMFIC_CONNECT: inet, inet6, unix, unknown", test_enc_connect);
	CU_add_test(s, "encode HELO, MAIL and RCPT with ESMTP args", test_enc_envelope);
	CU_add_test(s, "encode HEADER, BODY, UNKNOWN and the commands without data",
	    test_enc_content);
	CU_add_test(s, "encode a 65535-byte BODY", test_enc_big_body);
	CU_add_test(s, "decode every reply, fed whole", test_dec_whole);
	CU_add_test(s, "decode every reply, fed byte by byte", test_dec_bytewise);
	CU_add_test(s, "malformed replies refused", test_dec_malformed);
	CU_add_test(s, "over 1 MiB refused from the length on", test_dec_oversized_early);
	CU_add_test(s, "header names and values a filter may add", test_header_ok);
	CU_add_test(s, "reply codes a filter may set", test_replycode_ok);
	CU_add_test(s, "no edits: the message as it was", test_edit_none);
	CU_add_test(s, "add header at the end", test_edit_add);
	CU_add_test(s, "insert header at an index", test_edit_insert);
	CU_add_test(s, "change the nth field of a name", test_edit_change);
	CU_add_test(s, "delete: change with an empty value", test_edit_delete);
	CU_add_test(s, "change a field that is not there adds it", test_edit_change_missing);
	CU_add_test(s, "edits on odd message shapes", test_edit_shapes);
	CU_add_test(s, "no-reply steps batched with the end of message",
	    test_wire_no_reply_batched);
	CU_add_test(s, "no macros for a step the filter does not get",
	    test_wire_no_macros_for_skipped);
	CU_add_test(s, "TCP_NODELAY on a TCP filter connection", test_wire_tcp_nodelay);
	return cutap_run();
}
