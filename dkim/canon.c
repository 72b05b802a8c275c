/*
 * canon.c: DKIM canonicalization, RFC 6376 §3.4: relaxed header fields
 * (§3.4.2), simple and relaxed bodies (§3.4.3, §3.4.4) hashed with SHA-256
 * as a byte-level state machine over the stored (LF) form of the message,
 * read as the CRLF wire form it leaves in.
 */
#include "config.h"

#include <string.h>

#include "canon.h"
#include "sys.h"

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* A line end as stored: LF, or the CR of a CRLF (unfolding drops both). */
static int is_line_end(const char *p, size_t i, size_t len)
{
	return p[i] == '\n' || (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n');
}

/* The name: lower-case, WSP before the colon dropped (§3.4.2). */
static void header_name(const char *field, size_t n, struct buf *out)
{
	while (n > 0 && (is_wsp(field[n - 1]) || field[n - 1] == '\r' || field[n - 1] == '\n'))
		n--;
	for (size_t i = 0; i < n; i++) {
		char c = field[i];

		buf_appendc(out, c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c);
	}
}

/*
 * §3.4.2: unfold, turn each WSP run into one SP, drop WSP after the colon
 * and at the end. A bare CR is not a line end on the wire, so it stays.
 */
void dkim_canon_header(const char *field, size_t len, struct buf *out)
{
	const char *colon = memchr(field, ':', len);
	size_t i = colon ? (size_t)(colon - field) + 1 : len;
	int wsp = 0, started = 0;

	header_name(field, colon ? (size_t)(colon - field) : len, out);
	buf_appendc(out, ':');
	for (; i < len; i++) {
		char c = field[i];

		if (is_line_end(field, i, len))
			continue;
		if (is_wsp(c)) {
			wsp = 1;
			continue;
		}
		if (wsp && started)
			buf_appendc(out, ' ');
		wsp = 0;
		started = 1;
		buf_appendc(out, c);
	}
}

int dkim_body_init(struct dkim_body *b, enum dkim_canon canon, char *err, size_t errlen)
{
	memset(b, 0, sizeof *b);
	b->canon = canon;
	b->md = EVP_MD_CTX_new();
	if (b->md == NULL || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
		seterr(err, errlen, "SHA-256 unavailable");
		dkim_body_free(b);
		return -1;
	}
	return 0;
}

/* Hash what collected in out (and copy it to the tee). */
static void body_flush(struct dkim_body *b)
{
	if (b->outlen == 0)
		return;
	(void)EVP_DigestUpdate(b->md, b->out, b->outlen);
	if (b->tee != NULL)
		buf_append(b->tee, b->out, b->outlen);
	b->outlen = 0;
	b->any = 1;
}

static void body_put(struct dkim_body *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (b->outlen == sizeof b->out)
			body_flush(b);
		b->out[b->outlen++] = (unsigned char)p[i];
	}
}

/*
 * A content byte: the empty lines held back were not trailing after all,
 * and a WSP run inside the line becomes one SP (relaxed).
 */
static void body_content(struct dkim_body *b, char c)
{
	if (!b->in_line) {
		for (; b->empty_lines > 0; b->empty_lines--)
			body_put(b, "\r\n", 2);
		b->in_line = 1;
	}
	if (b->wsp) {
		body_put(b, " ", 1);
		b->wsp = 0;
	}
	body_put(b, &c, 1);
}

/* A line ends: relaxed drops its trailing WSP; an empty line waits. */
static void body_line_end(struct dkim_body *b)
{
	b->wsp = 0;
	if (b->in_line) {
		body_put(b, "\r\n", 2);
		b->in_line = 0;
	} else {
		b->empty_lines++;
	}
}

void dkim_body_update(struct dkim_body *b, const void *data, size_t n)
{
	const char *p = data;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (b->pending_cr) {
			b->pending_cr = 0;
			if (c == '\n') {
				body_line_end(b);
				continue;
			}
			body_content(b, '\r');
		}
		if (c == '\r')
			b->pending_cr = 1;
		else if (c == '\n')
			body_line_end(b);
		else if (b->canon == DKIM_CANON_RELAXED && is_wsp(c))
			b->wsp = 1;
		else
			body_content(b, c);
	}
}

/*
 * The end: a last line without its end gets one (so does the wire form);
 * trailing empty lines are gone; an empty body is CRLF for simple
 * (§3.4.3) and nothing at all for relaxed (§3.4.4).
 */
int dkim_body_final(struct dkim_body *b, unsigned char *hash, char *err, size_t errlen)
{
	unsigned int n = 0;
	int rc = 0;

	if (b->pending_cr) {
		b->pending_cr = 0;
		body_content(b, '\r');
	}
	b->wsp = 0;
	if (b->in_line)
		body_line_end(b);
	if (b->canon == DKIM_CANON_SIMPLE && !b->any && b->outlen == 0)
		body_put(b, "\r\n", 2);
	body_flush(b);
	if (EVP_DigestFinal_ex(b->md, hash, &n) != 1 || n != DKIM_HASH_LEN) {
		seterr(err, errlen, "SHA-256 failed");
		rc = -1;
	}
	dkim_body_free(b);
	return rc;
}

void dkim_body_free(struct dkim_body *b)
{
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}
