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

/* Encode a PLAIN message of three fields of the given lengths. */
static size_t plain_b64(size_t zlen, size_t clen, size_t plen, char *out, size_t outlen)
{
	unsigned char msg[1024];
	size_t n = 0;

	memset(msg + n, 'u', zlen);
	n += zlen;
	msg[n++] = '\0';
	memset(msg + n, 'u', clen);
	n += clen;
	msg[n++] = '\0';
	memset(msg + n, 'p', plen);
	n += plen;
	CU_ASSERT_EQUAL(sasl_base64_encode(msg, n, out, outlen), 0);
	return strlen(out);
}

/*
 * One routine for both protocols: a full-size PLAIN message (767 octets,
 * 1024 base64 characters) fits SASL_LINE_MAX and parses; one octet more
 * in a field is malformed, not bad base64; "=" is malformed; a bad
 * character is bad base64.
 */
static void test_plain_response(void)
{
	char b64[SASL_LINE_MAX + 8], user[SASL_FIELD_MAX], pass[SASL_FIELD_MAX];
	size_t n;

	CU_ASSERT_EQUAL(SASL_PLAIN_MAX, 767);
	CU_ASSERT_EQUAL(SASL_LINE_MAX, 1024 + 2);
	n = plain_b64(255, 255, 255, b64, sizeof b64);
	CU_ASSERT_EQUAL(n, 1024);
	CU_ASSERT_EQUAL(sasl_plain_response(b64, n, user, sizeof user, pass,
	    sizeof pass), SASL_OK);
	CU_ASSERT_EQUAL(strlen(user), 255);
	CU_ASSERT_EQUAL(strlen(pass), 255);
	n = plain_b64(255, 255, 90, b64, sizeof b64);		/* 602 octets */
	CU_ASSERT_EQUAL(sasl_plain_response(b64, n, user, sizeof user, pass,
	    sizeof pass), SASL_OK);
	CU_ASSERT_EQUAL(strlen(pass), 90);
	n = plain_b64(0, 255, 256, b64, sizeof b64);
	CU_ASSERT_EQUAL(sasl_plain_response(b64, n, user, sizeof user, pass,
	    sizeof pass), SASL_MALFORMED);
	CU_ASSERT_STRING_EQUAL(user, "");
	CU_ASSERT_STRING_EQUAL(pass, "");
	n = plain_b64(256, 256, 255, b64, sizeof b64);		/* 1036 characters */
	CU_ASSERT_EQUAL(sasl_plain_response(b64, n, user, sizeof user, pass,
	    sizeof pass), SASL_MALFORMED);
	CU_ASSERT_EQUAL(sasl_plain_response("=", 1, user, sizeof user, pass,
	    sizeof pass), SASL_MALFORMED);
	CU_ASSERT_EQUAL(sasl_plain_response("AGJvYgBwdw==", 12, user, sizeof user,
	    pass, sizeof pass), SASL_OK);			/* \0bob\0pw */
	CU_ASSERT_STRING_EQUAL(user, "bob");
	CU_ASSERT_STRING_EQUAL(pass, "pw");
	CU_ASSERT_EQUAL(sasl_plain_response("ZGVt=bw==", 9, user, sizeof user,
	    pass, sizeof pass), SASL_BAD_BASE64);
	CU_ASSERT_EQUAL(sasl_plain_response("AGJvYgBw!w==", 12, user, sizeof user,
	    pass, sizeof pass), SASL_BAD_BASE64);
	CU_ASSERT_STRING_EQUAL(sasl_result_name(SASL_BAD_BASE64), "bad-base64");
	CU_ASSERT_STRING_EQUAL(sasl_result_name(SASL_MALFORMED), "malformed");
}

/* LOGIN's responses: "=" empty, a NUL or an overlong one malformed. */
static void test_decode_response(void)
{
	char out[8];

	CU_ASSERT_EQUAL(sasl_decode_response("Ym9i", 4, out, sizeof out), SASL_OK);
	CU_ASSERT_STRING_EQUAL(out, "bob");
	CU_ASSERT_EQUAL(sasl_decode_response("=", 1, out, sizeof out), SASL_OK);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(sasl_decode_response("Ym9i!", 5, out, sizeof out), SASL_BAD_BASE64);
	CU_ASSERT_EQUAL(sasl_decode_response("Ym9i*A==", 8, out, sizeof out), SASL_BAD_BASE64);
	CU_ASSERT_EQUAL(sasl_decode_response("YgBi", 4, out, sizeof out), SASL_MALFORMED);
	/* 7 octets fit out[8]; 8 do not. */
	CU_ASSERT_EQUAL(sasl_decode_response("YWJjZGVmZw==", 12, out, sizeof out), SASL_OK);
	CU_ASSERT_EQUAL(sasl_decode_response("YWJjZGVmZ2g=", 12, out, sizeof out),
	    SASL_MALFORMED);
	CU_ASSERT_STRING_EQUAL(out, "");
}

/* A scripted client for sasl_credentials: the answers, then "ended". */
struct script {
	const char *answers[3];
	const char *prompts[3];
	int n;
};

static int script_read(void *session, const char *prompt, char *line)
{
	struct script *sc = session;
	const char *a;

	if (sc->n >= 3 || (a = sc->answers[sc->n]) == NULL)
		return -1;
	sc->prompts[sc->n++] = prompt;
	memcpy(line, a, strlen(a) + 1);		/* short test strings */
	return (int)strlen(a);
}

/* The exchange both protocols run: PLAIN and LOGIN, initial or not. */
static void test_credentials(void)
{
	char line[SASL_LINE_MAX], user[SASL_FIELD_MAX], pass[SASL_FIELD_MAX];
	struct script sc;

	memset(&sc, 0, sizeof sc);
	sc.answers[0] = "AGJvYgBwdw==";
	CU_ASSERT_EQUAL(sasl_credentials(1, NULL, script_read, &sc, line, user, pass), SASL_OK);
	CU_ASSERT_STRING_EQUAL(sc.prompts[0], "");
	CU_ASSERT_STRING_EQUAL(user, "bob");
	CU_ASSERT_STRING_EQUAL(pass, "pw");
	memset(&sc, 0, sizeof sc);
	CU_ASSERT_EQUAL(sasl_credentials(1, "AGJvYgBwdw==", script_read, &sc, line,
	    user, pass), SASL_OK);
	CU_ASSERT_EQUAL(sc.n, 0);
	CU_ASSERT_EQUAL(sasl_credentials(1, NULL, script_read, &sc, line, user, pass),
	    SASL_ENDED);
	memset(&sc, 0, sizeof sc);
	sc.answers[0] = "Ym9i";
	sc.answers[1] = "cHc=";
	CU_ASSERT_EQUAL(sasl_credentials(0, NULL, script_read, &sc, line, user, pass), SASL_OK);
	CU_ASSERT_STRING_EQUAL(sc.prompts[0], "VXNlcm5hbWU6");
	CU_ASSERT_STRING_EQUAL(sc.prompts[1], "UGFzc3dvcmQ6");
	CU_ASSERT_STRING_EQUAL(user, "bob");
	CU_ASSERT_STRING_EQUAL(pass, "pw");
	memset(&sc, 0, sizeof sc);
	sc.answers[0] = "cHc=";
	CU_ASSERT_EQUAL(sasl_credentials(0, "Ym9i", script_read, &sc, line, user, pass), SASL_OK);
	CU_ASSERT_STRING_EQUAL(sc.prompts[0], "UGFzc3dvcmQ6");
	/* A bad user name ends it before the password is asked for. */
	memset(&sc, 0, sizeof sc);
	CU_ASSERT_EQUAL(sasl_credentials(0, "Ym9", script_read, &sc, line, user, pass),
	    SASL_BAD_BASE64);
	CU_ASSERT_EQUAL(sc.n, 0);
	memset(&sc, 0, sizeof sc);
	sc.answers[0] = "Ym9i";
	CU_ASSERT_EQUAL(sasl_credentials(0, NULL, script_read, &sc, line, user, pass),
	    SASL_ENDED);
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
	CU_add_test(s, "PLAIN response, both protocols", test_plain_response);
	CU_add_test(s, "LOGIN response", test_decode_response);
	CU_add_test(s, "PLAIN and LOGIN exchanges", test_credentials);
	return cutap_run();
}
