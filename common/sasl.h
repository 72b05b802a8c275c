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

#endif
