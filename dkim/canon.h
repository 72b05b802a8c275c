/*
 * canon.h: DKIM canonicalization (RFC 6376 §3.4). Messages are stored with
 * LF line ends and leave as the maildir wire encoder writes them (LF ->
 * CRLF, an existing CRLF kept, a bare CR is content, a last line without
 * its end gets one): everything here canonicalizes that wire form while
 * reading the stored bytes. No l= (body length) support.
 */
#ifndef ISPMAILD_DKIM_CANON_H
#define ISPMAILD_DKIM_CANON_H

#include <stddef.h>

#include <openssl/evp.h>

#include "buf.h"

enum dkim_canon {
	DKIM_CANON_SIMPLE,
	DKIM_CANON_RELAXED
};

#define DKIM_HASH_LEN 32	/* SHA-256, the only hash (RFC 8301 §3.1) */

/*
 * Relaxed header canonicalization (§3.4.2) of one whole field as stored
 * ("Name: value" with its continuation lines, the last line end optional):
 * appends "name:value" to out, lower-case name, unfolded, WSP runs made
 * one SP, no WSP around the colon or at the end, and NO CRLF (the caller
 * adds it, but for the DKIM-Signature field itself, §3.7).
 */
void dkim_canon_header(const char *field, size_t len, struct buf *out);

/*
 * The body hash (§3.4.3, §3.4.4, §3.7 bh=) as a stream: feed the stored
 * body in chunks of any size; chunk boundaries never change the result.
 * Set tee to a buffer to also get the canonical bytes (tests).
 */
struct dkim_body {
	EVP_MD_CTX *md;
	enum dkim_canon canon;
	struct buf *tee;
	int in_line;		/* a line with content is open */
	int wsp;		/* relaxed: a WSP run is pending */
	int pending_cr;		/* a CR: line end if LF follows, else content */
	int any;		/* something was hashed */
	size_t empty_lines;	/* empty lines held back: trailing ones vanish */
	size_t outlen;
	unsigned char out[4096];
};

/* 0, or -1 with err (OpenSSL could not set up SHA-256). */
int dkim_body_init(struct dkim_body *b, enum dkim_canon canon, char *err, size_t errlen);
void dkim_body_update(struct dkim_body *b, const void *p, size_t n);
/* The hash into hash[DKIM_HASH_LEN]; frees the state. 0 or -1 with err. */
int dkim_body_final(struct dkim_body *b, unsigned char *hash, char *err, size_t errlen);
/* Free a state that will not be finished (safe after final too). */
void dkim_body_free(struct dkim_body *b);

#endif
