/*
 * sign.h: the DKIM-Signature header field (RFC 6376 §3.5, §5), rsa-sha256
 * or ed25519-sha256 (RFC 8463), relaxed/relaxed. Pure functions over the
 * stored header block (LF line ends) and the body hash from canon.h.
 */
#ifndef ISPMAILD_DKIM_SIGN_H
#define ISPMAILD_DKIM_SIGN_H

#include <stddef.h>

#include <openssl/evp.h>

#include "buf.h"

/* Occurrences of one field name signed at most (a From oversigned: one more). */
#define DKIM_MAX_SAME_FIELD 32
/* The longest line of the field we write, line end not counted (a d= or
 * s= longer than a line is never cut: it only gets a line of its own). */
#define DKIM_FOLD_COLUMNS 78

struct dkim_sign_req {
	const char *headers;	/* the header block as stored; the empty line */
	size_t headers_len;	/*   that ends it and anything after are ignored */
	const unsigned char *body_hash;	/* DKIM_HASH_LEN bytes, relaxed body */
	const char *domain;	/* d= */
	const char *selector;	/* s= */
	EVP_PKEY *key;		/* RSA (>= 1024 bits) or Ed25519 */
	long long timestamp;	/* t= */
};

/*
 * Append the whole field, "DKIM-Signature: v=1; ...; b=...\n", folded at
 * DKIM_FOLD_COLUMNS, ready to go on top of the stored header block.
 * h= lists From once more than it occurs, then Date, Subject, To, Cc,
 * Message-ID, Reply-To, MIME-Version, Content-Type, In-Reply-To and
 * References as often as each occurs. 0, or -1 with err (out unchanged).
 */
int dkim_sign_field(const struct dkim_sign_req *r, struct buf *out, char *err, size_t errlen);

/* The h= value dkim_sign_field uses for these headers ("from:from:to"). */
void dkim_sign_select(const char *headers, size_t len, struct buf *hlist);

/*
 * The b= value, base64: the key's signature over the SHA-256 of the fields
 * that hlist names (names split at ':', WSP around them ignored; repeated
 * names taken bottom-up, §5.4.2; a name with no field left adds nothing),
 * each relaxed and ending in CRLF, then sigfield relaxed without CRLF
 * (§3.7). sigfield is the whole DKIM-Signature field as it will be
 * stored, ending in "b=". RSA: PKCS#1 v1.5; Ed25519: PureEdDSA over the
 * 32-byte hash (RFC 8463 §3). Appends to b64; 0, or -1 with err.
 */
int dkim_sign_b(EVP_PKEY *key, const char *headers, size_t len, const char *hlist,
    const char *sigfield, size_t siglen, struct buf *b64, char *err, size_t errlen);

#endif
