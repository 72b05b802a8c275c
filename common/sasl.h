/*
 * sasl.h: what SMTP AUTH (RFC 4954) and POP3 AUTH (RFC 5034) share:
 * base64 (RFC 4648 §4, strict) and the PLAIN mechanism's message
 * (RFC 4616: authzid NUL authcid NUL passwd).
 */
#ifndef ISPMAILD_SASL_H
#define ISPMAILD_SASL_H

#include <stddef.h>

/* Longest credential we take (RFC 4616 allows 255 octets each). */
#define SASL_FIELD_MAX 256
/* The longest PLAIN message: authzid, authcid, passwd and two NULs (767). */
#define SASL_PLAIN_MAX (3 * (SASL_FIELD_MAX - 1) + 2)
/*
 * The longest AUTH response line either protocol reads, CRLF included: the
 * base64 of the longest PLAIN message (1024 characters) and CRLF. RFC 4954
 * §4 and RFC 5034 §4 let a response line be longer than a command line.
 */
#define SASL_LINE_MAX (((SASL_PLAIN_MAX + 2) / 3) * 4 + 2)

/* What became of a client's response; both protocols answer by it. */
enum sasl_result {
	SASL_OK = 0,
	SASL_BAD_BASE64 = -1,	/* not strict base64: the protocol's 501 / -ERR */
	SASL_MALFORMED = -2,	/* decodes, but is no credential: a failed login */
	SASL_ENDED = 1,		/* cancelled ("*") or the connection failed */
};

/* Decode; -1 on a bad character, bad padding or when out is too small. */
int sasl_base64_decode(const char *in, size_t inlen, unsigned char *out,
    size_t outlen, size_t *decoded);
/* Encode into out (NUL-terminated); -1 when out is too small. */
int sasl_base64_encode(const unsigned char *in, size_t inlen, char *out, size_t outlen);

/*
 * Split a decoded PLAIN message. authzid may be empty (or equal to
 * authcid); anything else, NULs out of place or overlong fields is -1.
 */
int sasl_plain_parse(const unsigned char *msg, size_t len,
    char *authcid, size_t authcidlen, char *passwd, size_t passwdlen);

/*
 * One response of a LOGIN exchange (a user name or a password): "=" is
 * empty, anything else strict base64, decoded into out and NUL-terminated.
 * SASL_MALFORMED when it holds a NUL or more than outlen - 1 octets.
 */
int sasl_decode_response(const char *text, size_t len, char *out, size_t outlen);

/*
 * A whole PLAIN response, base64 as the client sent it ("=" is empty, and
 * malformed): authcid and passwd, NUL-terminated. SASL_OK, SASL_BAD_BASE64
 * or SASL_MALFORMED (sasl_plain_parse refused it, or longer than
 * SASL_PLAIN_MAX). The decoded copy is wiped before returning; on failure
 * authcid and passwd are empty strings.
 */
int sasl_plain_response(const char *text, size_t len, char *authcid,
    size_t authcidlen, char *passwd, size_t passwdlen);

/*
 * The protocol's side of an exchange: send prompt (base64; "" for PLAIN's
 * empty challenge) as a continuation ("334 " / "+ "), read the answer into
 * line[SASL_LINE_MAX] and return its length; -1 when the exchange ended
 * ("*", a line too long, a lost connection), already answered.
 */
typedef int sasl_read_fn(void *session, const char *prompt, char *line);

/*
 * The name and password of an AUTH PLAIN (plain != 0) or LOGIN exchange,
 * the one routine POP3 and SMTP share: initial is the initial response or
 * NULL, read asks for the rest, line (SASL_LINE_MAX) is its buffer, user
 * and pass hold SASL_FIELD_MAX each. A sasl_result; SASL_ENDED when read
 * returned -1. The caller wipes line and pass.
 */
int sasl_credentials(int plain, const char *initial, sasl_read_fn *read,
    void *session, char *line, char *user, char *pass);

/* "bad-base64" or "malformed": the reason= of the failed-login log line. */
const char *sasl_result_name(int result);

#endif
