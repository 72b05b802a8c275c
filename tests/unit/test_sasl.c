/*
 * test_sasl.c: strict base64 (RFC 4648 §10 vectors and refusals) and the
 * PLAIN message of RFC 4616.
 */
#include "config.h"

#include <string.h>

#include "cutap.h"
#include "sasl.h"

static const struct { const char *plain, *b64; } vectors[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};

static void test_vectors(void)
{
	unsigned char out[64];
	char enc[64];
	size_t i, n;

	for (i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		CU_ASSERT_EQUAL(sasl_base64_decode(vectors[i].b64, strlen(vectors[i].b64),
		    out, sizeof out, &n), 0);
		CU_ASSERT_EQUAL(n, strlen(vectors[i].plain));
		CU_ASSERT_EQUAL(memcmp(out, vectors[i].plain, n), 0);
		CU_ASSERT_EQUAL(sasl_base64_encode((const unsigned char *)vectors[i].plain,
		    strlen(vectors[i].plain), enc, sizeof enc), 0);
		CU_ASSERT_STRING_EQUAL(enc, vectors[i].b64);
	}
}

static void test_refusals(void)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z===", "Zg==Zg==", "Zm9v!", "Zm 9v", "Zm9\n", "=Zm9",
		"Zm=v", "****",
	};
	unsigned char out[64];
	size_t i, n;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CU_ASSERT_EQUAL(sasl_base64_decode(bad[i], strlen(bad[i]), out,
		    sizeof out, &n), -1);
	/* Output buffer bounds: "Zm9vYmFy" needs 6 bytes. */
	CU_ASSERT_EQUAL(sasl_base64_decode("Zm9vYmFy", 8, out, 5, &n), -1);
	CU_ASSERT_EQUAL(sasl_base64_decode("Zm9vYmFy", 8, out, 6, &n), 0);
	CU_ASSERT_EQUAL(sasl_base64_decode("Zm9vYg==", 8, out, 4, &n), 0);
	CU_ASSERT_EQUAL(sasl_base64_decode("Zm9vYg==", 8, out, 3, &n), -1);
	CU_ASSERT_EQUAL(sasl_base64_encode((const unsigned char *)"foo", 3, (char *)out, 4), -1);
}

static void test_plain(void)
{
	char user[SASL_FIELD_MAX], pass[SASL_FIELD_MAX];
	unsigned char big[600];

	CU_ASSERT_EQUAL(sasl_plain_parse((const unsigned char *)"\0bob\0secret", 11,
	    user, sizeof user, pass, sizeof pass), 0);
	CU_ASSERT_STRING_EQUAL(user, "bob");
	CU_ASSERT_STRING_EQUAL(pass, "secret");
	CU_ASSERT_EQUAL(sasl_plain_parse((const unsigned char *)"bob\0bob\0pw", 10,
	    user, sizeof user, pass, sizeof pass), 0);
	CU_ASSERT_STRING_EQUAL(pass, "pw");
	/* Acting for somebody else is refused. */
	CU_ASSERT_EQUAL(sasl_plain_parse((const unsigned char *)"eve\0bob\0pw", 10,
	    user, sizeof user, pass, sizeof pass), -1);
	CU_ASSERT_EQUAL(sasl_plain_parse((const unsigned char *)"\0\0pw", 4,
	    user, sizeof user, pass, sizeof pass), -1);
	CU_ASSERT_EQUAL(sasl_plain_parse((const unsigned char *)"\0bob", 4,
	    user, sizeof user, pass, sizeof pass), -1);
	CU_ASSERT_EQUAL(sasl_plain_parse((const unsigned char *)"\0bob\0p\0w", 8,
	    user, sizeof user, pass, sizeof pass), -1);
	/* An empty password parses (and then fails the check). */
	CU_ASSERT_EQUAL(sasl_plain_parse((const unsigned char *)"\0bob\0", 5,
	    user, sizeof user, pass, sizeof pass), 0);
	CU_ASSERT_STRING_EQUAL(pass, "");
	memset(big, 'a', sizeof big);
	big[0] = '\0';
	big[4] = '\0';
	CU_ASSERT_EQUAL(sasl_plain_parse(big, sizeof big, user, sizeof user,
	    pass, sizeof pass), -1);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("sasl", NULL, NULL);
	CU_add_test(s, "base64 RFC 4648 vectors", test_vectors);
	CU_add_test(s, "base64 refusals and bounds", test_refusals);
	CU_add_test(s, "PLAIN message", test_plain);
	return cutap_run();
}
