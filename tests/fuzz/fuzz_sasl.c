/*
 * fuzz_sasl.c: libFuzzer target for SASL's base64 (RFC 4648 §4) and the
 * PLAIN message (RFC 4616) in common/sasl.c, the first thing a password
 * guesser's bytes reach. Bytes 0-1 give the output room (buffers are
 * allocated to that exact size, so ASan sees a write past it); the rest is
 * a client's base64 line. Decoded bytes must encode back to themselves, and
 * a parsed PLAIN message must rebuild exactly from its fields.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "sasl.h"

/* Encode then decode: the identity, with exactly the room it needs. */
static void round_trip(const unsigned char *bin, size_t n)
{
	size_t need = (n + 2) / 3 * 4 + 1, back = 0;
	char *text = malloc(need);
	unsigned char *again = malloc(n);

	if (text == NULL || again == NULL)
		abort();
	FUZZ_CHECK(sasl_base64_encode(bin, n, text, need) == 0, "encode with exact room failed");
	FUZZ_CHECK(strlen(text) == need - 1, "encoded %zu chars, expected %zu",
	    strlen(text), need - 1);
	FUZZ_CHECK(sasl_base64_encode(bin, n, text, need - 1) == -1,
	    "encode into one byte too few succeeded");
	FUZZ_CHECK(sasl_base64_decode(text, need - 1, again, n, &back) == 0,
	    "own encoding does not decode");
	FUZZ_CHECK(back == n && (n == 0 || memcmp(again, bin, n) == 0),
	    "encode/decode is not the identity");
	free(text);
	free(again);
}

static void plain(const unsigned char *msg, size_t n)
{
	char *user = malloc(SASL_FIELD_MAX), *pass = malloc(SASL_FIELD_MAX);
	size_t ul, pl, zl;

	if (user == NULL || pass == NULL)
		abort();
	if (sasl_plain_parse(msg, n, user, SASL_FIELD_MAX, pass, SASL_FIELD_MAX) == 0) {
		ul = strnlen(user, SASL_FIELD_MAX);
		pl = strnlen(pass, SASL_FIELD_MAX);
		FUZZ_CHECK(ul > 0 && ul < SASL_FIELD_MAX, "authcid of %zu octets", ul);
		FUZZ_CHECK(pl < SASL_FIELD_MAX, "password not terminated");
		/* authzid NUL authcid NUL passwd, with authzid "" or authcid. */
		FUZZ_CHECK(n == ul + pl + 2 || n == 2 * ul + pl + 2,
		    "fields of %zu+%zu octets from a %zu-octet message", ul, pl, n);
		zl = n - ul - pl - 2;
		FUZZ_CHECK(zl == 0 || memcmp(msg, user, ul) == 0, "authzid is someone else");
		FUZZ_CHECK(msg[zl] == '\0' && memcmp(msg + zl + 1, user, ul) == 0 &&
		    msg[zl + 1 + ul] == '\0' && memcmp(msg + zl + ul + 2, pass, pl) == 0,
		    "fields do not rebuild the message");
	}
	free(user);
	free(pass);
	/* Tight buffers, allocated to the size claimed: refused or fitted. */
	user = malloc(8);
	pass = malloc(3);
	if (user == NULL || pass == NULL)
		abort();
	(void)sasl_plain_parse(msg, n, user, 8, pass, 3);
	(void)sasl_plain_parse(msg, n, pass, 1, user, 1);
	free(user);
	free(pass);
}

/*
 * What POP3 and SMTP AUTH both call on a client's line: one of three
 * results, fields terminated, and nothing written past a tight buffer.
 */
static void responses(const char *in, size_t n, size_t outlen)
{
	char *user = malloc(SASL_FIELD_MAX), *pass = malloc(SASL_FIELD_MAX);
	char *out = malloc(outlen);
	int r;

	if (user == NULL || pass == NULL || (outlen && out == NULL))
		abort();
	r = sasl_plain_response(in, n, user, SASL_FIELD_MAX, pass, SASL_FIELD_MAX);
	FUZZ_CHECK(r == SASL_OK || r == SASL_BAD_BASE64 || r == SASL_MALFORMED,
	    "plain response returned %d", r);
	FUZZ_CHECK(strnlen(user, SASL_FIELD_MAX) < SASL_FIELD_MAX &&
	    strnlen(pass, SASL_FIELD_MAX) < SASL_FIELD_MAX, "field not terminated");
	FUZZ_CHECK(r == SASL_OK || (user[0] == '\0' && pass[0] == '\0'),
	    "fields left filled after a refusal");
	r = sasl_decode_response(in, n, out, outlen);
	FUZZ_CHECK(r == SASL_OK || r == SASL_BAD_BASE64 || r == SASL_MALFORMED,
	    "decode response returned %d", r);
	FUZZ_CHECK(r != SASL_OK || strnlen(out, outlen) < outlen,
	    "response not terminated");
	free(user);
	free(pass);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t outlen, n, got = 0, pads;
	unsigned char *out;
	char *in;
	int r;

	if (size < 2)
		return 0;
	outlen = ((size_t)data[0] << 8 | data[1]) % 4096;
	n = size - 2;
	in = malloc(n);
	out = malloc(outlen);		/* malloc(0) too: any write is caught */
	if ((n && in == NULL) || (outlen && out == NULL))
		abort();
	memcpy(in, data + 2, n);

	r = sasl_base64_decode(in, n, out, outlen, &got);
	FUZZ_CHECK(r == 0 || r == -1, "decode returned %d", r);
	if (r == 0) {
		FUZZ_CHECK(n % 4 == 0, "decoded a length of %zu", n);
		pads = n == 0 ? 0 : (in[n - 1] == '=') + (in[n - 2] == '=');
		FUZZ_CHECK(got == n / 4 * 3 - pads, "decoded %zu octets from %zu chars",
		    got, n);
		FUZZ_CHECK(got <= outlen, "decoded %zu into %zu", got, outlen);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(in[i] != '=' || i >= n - 2, "padding inside the text");
		round_trip(out, got);
		plain(out, got);
	}
	/* The raw bytes as a PLAIN message too (reachable after a decode). */
	plain((const unsigned char *)in, n);
	round_trip((const unsigned char *)in, n);
	responses(in, n, outlen);

	free(in);
	free(out);
	return 0;
}
