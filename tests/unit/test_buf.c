/*
 * test_buf.c: the growable buffer and the bounded string helpers, and the
 * escaping of outside text for log lines and ispmailctl (log_quote).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cutap.h"
#include "log.h"

static void test_append_grows(void)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < 10000; i++)
		buf_appendc(&b, (char)('a' + i % 26));
	CU_ASSERT_EQUAL(b.len, 10000);
	CU_ASSERT(b.cap > b.len);
	CU_ASSERT_EQUAL(b.s[b.len], '\0');
	CU_ASSERT_EQUAL(b.s[26], 'a');
	CU_ASSERT_EQUAL(b.s[9999], (char)('a' + 9999 % 26));
	buf_free(&b);
	CU_ASSERT_PTR_NULL(b.s);
	CU_ASSERT_EQUAL(b.len, 0);
}

static void test_binary_safe(void)
{
	struct buf b = BUF_INIT;

	buf_append(&b, "a\0b", 3);
	CU_ASSERT_EQUAL(b.len, 3);
	CU_ASSERT_EQUAL(memcmp(b.s, "a\0b", 3), 0);
	buf_free(&b);
}

static void test_printf(void)
{
	struct buf b = BUF_INIT;
	char big[3000];

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	buf_printf(&b, "%d-%s", 42, "ok");
	CU_ASSERT_STRING_EQUAL(b.s, "42-ok");
	buf_printf(&b, "|%s|", big);
	CU_ASSERT_EQUAL(b.len, 5 + 2 + 2999);
	CU_ASSERT_EQUAL(b.s[b.len - 1], '|');
	buf_free(&b);
}

static void test_consume_reset_steal(void)
{
	struct buf b = BUF_INIT;
	char *s;

	buf_appends(&b, "hello world");
	buf_consume(&b, 6);
	CU_ASSERT_STRING_EQUAL(b.s, "world");
	CU_ASSERT_EQUAL(b.len, 5);
	buf_consume(&b, 100);
	CU_ASSERT_EQUAL(b.len, 0);
	CU_ASSERT_STRING_EQUAL(b.s, "");
	buf_appends(&b, "kept");
	s = buf_steal(&b);
	CU_ASSERT_STRING_EQUAL(s, "kept");
	CU_ASSERT_PTR_NULL(b.s);
	free(s);
	s = buf_steal(&b);
	CU_ASSERT_STRING_EQUAL(s, "");
	free(s);
}

static void test_str_copy(void)
{
	char small[4];

	CU_ASSERT_EQUAL(str_copy(small, sizeof small, "abc"), 0);
	CU_ASSERT_STRING_EQUAL(small, "abc");
	CU_ASSERT_EQUAL(str_copy(small, sizeof small, "abcd"), -1);
	CU_ASSERT_STRING_EQUAL(small, "abc");
	CU_ASSERT_EQUAL(str_copy(small, 0, "x"), -1);
}

static void test_str_format(void)
{
	char small[6];

	CU_ASSERT_EQUAL(str_format(small, sizeof small, "%d", 12345), 0);
	CU_ASSERT_STRING_EQUAL(small, "12345");
	CU_ASSERT_EQUAL(str_format(small, sizeof small, "%d", 123456), -1);
}

static void test_xstrndup(void)
{
	char *s = xstrndup("abcdef", 3);

	CU_ASSERT_STRING_EQUAL(s, "abc");
	free(s);
}

/* A plain token is left alone; anything else is one quoted, escaped value. */
static void test_log_quote(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *quoted;	/* log_quote */
		const char *escaped;	/* log_escape */
	} rows[] = {
		{ "bob@example.net", 15, "bob@example.net", "bob@example.net" },
		{ "<a@b>", 5, "<a@b>", "<a@b>" },
		{ "", 0, "", "" },
		{ "x y=z", 5, "\"x y=z\"", "x y=z" },
		{ "\"x y\"@b", 7, "\"\\\"x y\\\"@b\"", "\\\"x y\\\"@b" },
		{ "a\\b", 3, "\"a\\\\b\"", "a\\\\b" },
		{ "a=b", 3, "\"a=b\"", "a=b" },
		{ "\x1b[31m", 5, "\"\\x1b[31m\"", "\\x1b[31m" },
		{ "a\r\nk=v", 6, "\"a\\x0d\\x0ak=v\"", "a\\x0d\\x0ak=v" },
		{ "nul\0x", 5, "\"nul\\x00x\"", "nul\\x00x" },
		{ "\x7f\xff", 2, "\"\\x7f\\xff\"", "\\x7f\\xff" },
	};
	char out[LOG_QUOTE_MAX], small[16], big[2000];

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		CU_ASSERT_STRING_EQUAL(log_quote(rows[i].in, rows[i].len, out, sizeof out),
		    rows[i].quoted);
		CU_ASSERT_STRING_EQUAL(log_escape(rows[i].in, rows[i].len, out, sizeof out),
		    rows[i].escaped);
	}
	/* Bounded: cut with "...", the quotes still closed, never overflowing. */
	memset(big, '\x01', sizeof big);
	log_quote(big, sizeof big, out, sizeof out);
	CU_ASSERT(strlen(out) < sizeof out);
	CU_ASSERT_EQUAL(out[0], '"');
	CU_ASSERT_STRING_EQUAL(out + strlen(out) - 4, "...\"");
	log_quote("a b c d e f g h i j", 19, small, sizeof small);
	CU_ASSERT(strlen(small) < sizeof small);
	CU_ASSERT_STRING_EQUAL(small + strlen(small) - 4, "...\"");
	memset(big, 'a', sizeof big);
	big[sizeof big - 1] = '\0';
	CU_ASSERT_EQUAL(strlen(log_q(big)), LOG_QUOTE_MAX - 2);	/* a...a... */
	/* The ring: four values of one line stay apart. */
	{
		const char *a = log_q("a b"), *b = log_qaddr("x y"), *c = log_qtext("\"");
		const char *d = log_q("d");

		CU_ASSERT_STRING_EQUAL(a, "\"a b\"");
		CU_ASSERT_STRING_EQUAL(b, "\"<x y>\"");
		CU_ASSERT_STRING_EQUAL(c, "\\\"");
		CU_ASSERT_STRING_EQUAL(d, "d");
		CU_ASSERT_STRING_EQUAL(log_qaddr("a@b"), "<a@b>");
		CU_ASSERT_STRING_EQUAL(log_q(NULL), "");
	}
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("buf", NULL, NULL);
	CU_add_test(s, "append grows and terminates", test_append_grows);
	CU_add_test(s, "binary safe", test_binary_safe);
	CU_add_test(s, "printf grows", test_printf);
	CU_add_test(s, "consume, reset, steal", test_consume_reset_steal);
	CU_add_test(s, "str_copy truncation is an error", test_str_copy);
	CU_add_test(s, "str_format truncation is an error", test_str_format);
	CU_add_test(s, "xstrndup", test_xstrndup);
	CU_add_test(s, "log_quote: tokens kept, the rest quoted", test_log_quote);
	return cutap_run();
}
