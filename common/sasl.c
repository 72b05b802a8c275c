/*
 * sasl.c: strict base64 and the PLAIN message. Strict, because a lenient
 * decoder is where SASL implementations have overflowed before.
 */
#include "config.h"

#include <string.h>

#include "sasl.h"

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int sasl_base64_decode(const char *in, size_t inlen, unsigned char *out,
    size_t outlen, size_t *decoded)
{
	size_t i, o = 0;

	if (inlen % 4 != 0)
		return -1;
	for (i = 0; i < inlen; i += 4) {
		int a = b64val((unsigned char)in[i]);
		int b = b64val((unsigned char)in[i + 1]);
		int c = in[i + 2] == '=' ? -2 : b64val((unsigned char)in[i + 2]);
		int d = in[i + 3] == '=' ? -2 : b64val((unsigned char)in[i + 3]);
		int last = i + 4 == inlen;

		if (a < 0 || b < 0 || c == -1 || d == -1)
			return -1;
		if ((c == -2 || d == -2) && !last)
			return -1;
		if (c == -2 && d != -2)
			return -1;
		if (o + 3 > outlen + (c == -2 ? 2 : d == -2 ? 1 : 0))
			return -1;
		out[o++] = (unsigned char)(a << 2 | b >> 4);
		if (c != -2)
			out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
		if (d != -2)
			out[o++] = (unsigned char)((c & 3) << 6 | d);
	}
	*decoded = o;
	return 0;
}

int sasl_base64_encode(const unsigned char *in, size_t inlen, char *out, size_t outlen)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	if (outlen < (inlen + 2) / 3 * 4 + 1)
		return -1;
	for (i = 0; i + 2 < inlen; i += 3) {
		out[o++] = tab[in[i] >> 2];
		out[o++] = tab[(in[i] & 3) << 4 | in[i + 1] >> 4];
		out[o++] = tab[(in[i + 1] & 15) << 2 | in[i + 2] >> 6];
		out[o++] = tab[in[i + 2] & 63];
	}
	if (i < inlen) {
		out[o++] = tab[in[i] >> 2];
		if (i + 1 < inlen) {
			out[o++] = tab[(in[i] & 3) << 4 | in[i + 1] >> 4];
			out[o++] = tab[(in[i + 1] & 15) << 2];
		} else {
			out[o++] = tab[(in[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = '\0';
	return 0;
}

static int copy_field(const unsigned char *p, size_t n, char *out, size_t outlen)
{
	if (n >= outlen || n >= SASL_FIELD_MAX)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int sasl_plain_parse(const unsigned char *msg, size_t len,
    char *authcid, size_t authcidlen, char *passwd, size_t passwdlen)
{
	const unsigned char *n1 = memchr(msg, '\0', len), *n2;
	size_t zlen, clen;

	if (n1 == NULL)
		return -1;
	zlen = (size_t)(n1 - msg);
	n2 = memchr(n1 + 1, '\0', len - zlen - 1);
	if (n2 == NULL)
		return -1;
	clen = (size_t)(n2 - n1 - 1);
	if (clen == 0 || memchr(n2 + 1, '\0', len - (size_t)(n2 + 1 - msg)) != NULL)
		return -1;
	/* We act for no one else: authzid empty or the same user. */
	if (zlen != 0 && (zlen != clen || memcmp(msg, n1 + 1, clen) != 0))
		return -1;
	if (copy_field(n1 + 1, clen, authcid, authcidlen) != 0 ||
	    copy_field(n2 + 1, len - (size_t)(n2 + 1 - msg), passwd, passwdlen) != 0)
		return -1;
	return 0;
}

/* The decoded form of the longest response line (SASL_LINE_MAX). */
#define SASL_DECODED_MAX ((SASL_LINE_MAX - 2) / 4 * 3)

/*
 * Decode into a scratch buffer big enough for any response line we read,
 * so that "too long" (malformed) is told apart from "not base64".
 */
static int decode_scratch(const char *text, size_t len, unsigned char *out,
    size_t outlen, size_t *n)
{
	size_t need;

	if (len == 1 && text[0] == '=') {
		*n = 0;
		return SASL_OK;
	}
	if (len % 4 != 0)
		return SASL_BAD_BASE64;
	need = len / 4 * 3 - (len > 0 && text[len - 1] == '=') -
	    (len > 1 && text[len - 2] == '=');
	if (need > outlen)
		return SASL_MALFORMED;
	/* Room enough by the check above: only bad base64 fails here. */
	return sasl_base64_decode(text, len, out, outlen, n) == 0 ?
	    SASL_OK : SASL_BAD_BASE64;
}

int sasl_decode_response(const char *text, size_t len, char *out, size_t outlen)
{
	unsigned char raw[SASL_DECODED_MAX];
	size_t n = 0;
	int r = decode_scratch(text, len, raw, sizeof raw, &n);

	if (r == SASL_OK && (n >= outlen || memchr(raw, '\0', n) != NULL))
		r = SASL_MALFORMED;
	if (r == SASL_OK) {
		memcpy(out, raw, n);
		out[n] = '\0';
	} else if (outlen > 0) {
		out[0] = '\0';
	}
	explicit_bzero(raw, sizeof raw);
	return r;
}

int sasl_plain_response(const char *text, size_t len, char *authcid,
    size_t authcidlen, char *passwd, size_t passwdlen)
{
	unsigned char raw[SASL_DECODED_MAX];
	size_t n = 0;
	int r = decode_scratch(text, len, raw, sizeof raw, &n);

	if (r == SASL_OK && (n > SASL_PLAIN_MAX || sasl_plain_parse(raw, n,
	    authcid, authcidlen, passwd, passwdlen) != 0))
		r = SASL_MALFORMED;
	if (r != SASL_OK) {
		if (authcidlen > 0)
			authcid[0] = '\0';
		if (passwdlen > 0)
			explicit_bzero(passwd, passwdlen);
	}
	explicit_bzero(raw, sizeof raw);
	return r;
}

int sasl_credentials(int plain, const char *initial, sasl_read_fn *read,
    void *session, char *line, char *user, char *pass)
{
	int n, r;

	if (plain) {
		if (initial != NULL)
			return sasl_plain_response(initial, strlen(initial), user,
			    SASL_FIELD_MAX, pass, SASL_FIELD_MAX);
		if ((n = read(session, "", line)) < 0)
			return SASL_ENDED;
		return sasl_plain_response(line, (size_t)n, user, SASL_FIELD_MAX,
		    pass, SASL_FIELD_MAX);
	}
	if (initial == NULL) {
		if ((n = read(session, "VXNlcm5hbWU6", line)) < 0)	/* "Username:" */
			return SASL_ENDED;
		initial = line;
	} else {
		n = (int)strlen(initial);
	}
	if ((r = sasl_decode_response(initial, (size_t)n, user, SASL_FIELD_MAX)) != SASL_OK)
		return r;
	if ((n = read(session, "UGFzc3dvcmQ6", line)) < 0)		/* "Password:" */
		return SASL_ENDED;
	return sasl_decode_response(line, (size_t)n, pass, SASL_FIELD_MAX);
}

const char *sasl_result_name(int result)
{
	return result == SASL_BAD_BASE64 ? "bad-base64" : "malformed";
}
