/*
 * test_buf.c: the growable buffer and the bounded string helpers.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cutap.h"

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
	return cutap_run();
}
