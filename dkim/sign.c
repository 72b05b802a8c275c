/*
 * sign.c: the DKIM-Signature field, RFC 6376 §3.5 (tags), §3.7 (what is
 * hashed), §5.4 (which fields: From oversigned, repeated fields bottom-up,
 * §5.4.2), §3.4.2 relaxed header canonicalization; rsa-sha256 (RFC 8301)
 * and ed25519-sha256 (RFC 8463 §3: Ed25519 over the SHA-256 hash).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rsa.h>

#include "canon.h"
#include "dns.h"
#include "key.h"
#include "sasl.h"
#include "sign.h"
#include "sys.h"

/* RFC 6376 §5.4.1's list as SPEC chooses it; From first, oversigned. */
static const char *const signed_fields[] = {
	"from", "date", "subject", "to", "cc", "message-id", "reply-to",
	"mime-version", "content-type", "in-reply-to", "references",
};

struct field {
	const char *p;		/* the whole field, continuation lines and all */
	size_t len;
	size_t namelen;		/* 0 when the first line has no colon */
};

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* The index after the line that starts at i (after its LF, or len). */
static size_t line_after(const char *h, size_t len, size_t i)
{
	const char *nl = memchr(h + i, '\n', len - i);

	return nl ? (size_t)(nl - h) + 1 : len;
}

/* The field name's length: up to the colon on the first line, WSP trimmed. */
static size_t field_namelen(const char *p, size_t len)
{
	size_t first = line_after(p, len, 0);
	const char *colon = memchr(p, ':', first);
	size_t n;

	if (colon == NULL)
		return 0;
	n = (size_t)(colon - p);
	while (n > 0 && is_wsp(p[n - 1]))
		n--;
	return n;
}

/*
 * The header block's fields, in order, up to the empty line (LF or CRLF)
 * that ends it. A continuation line with no field above it is skipped.
 */
static size_t fields_parse(const char *h, size_t len, struct field **out)
{
	struct field *f = NULL;
	size_t n = 0, i = 0;

	while (i < len && h[i] != '\n' && !(h[i] == '\r' && i + 1 < len && h[i + 1] == '\n')) {
		size_t start = i;

		if (is_wsp(h[i])) {
			i = line_after(h, len, i);
			continue;
		}
		do
			i = line_after(h, len, i);
		while (i < len && is_wsp(h[i]));
		f = xreallocarray(f, n + 1, sizeof *f);
		f[n].p = h + start;
		f[n].len = i - start;
		f[n].namelen = field_namelen(h + start, i - start);
		n++;
	}
	*out = f;
	return n;
}

static int field_is(const struct field *f, const char *name, size_t nlen)
{
	return f->namelen == nlen && strncasecmp(f->p, name, nlen) == 0;
}

static size_t fields_count(const struct field *f, size_t n, const char *name)
{
	size_t c = 0, nlen = strlen(name);

	for (size_t i = 0; i < n; i++)
		c += field_is(&f[i], name, nlen);
	return c;
}

void dkim_sign_select(const char *headers, size_t len, struct buf *hlist)
{
	struct field *f;
	size_t n = fields_parse(headers, len, &f);
	int first = 1;

	for (size_t i = 0; i < sizeof signed_fields / sizeof signed_fields[0]; i++) {
		const char *name = signed_fields[i];
		size_t c = fields_count(f, n, name);

		if (c > DKIM_MAX_SAME_FIELD)
			c = DKIM_MAX_SAME_FIELD;
		if (i == 0)
			c++;		/* From oversigned: nobody can add one */
		for (; c > 0; c--) {
			buf_printf(hlist, "%s%s", first ? "" : ":", name);
			first = 0;
		}
	}
	if (hlist->s == NULL)
		buf_appends(hlist, "");
	free(f);
}

/* The next name of an h= value from *pos, WSP and line ends trimmed. */
static int hlist_next(const char *h, size_t *pos, const char **name, size_t *nlen)
{
	size_t i = *pos, end;

	if (h[i] == '\0')
		return 0;
	end = i + strcspn(h + i, ":");
	*pos = h[end] == ':' ? end + 1 : end;
	while (i < end && (is_wsp(h[i]) || h[i] == '\r' || h[i] == '\n'))
		i++;
	while (end > i && (is_wsp(h[end - 1]) || h[end - 1] == '\r' || h[end - 1] == '\n'))
		end--;
	*name = h + i;
	*nlen = end - i;
	return 1;
}

/* How often the name at position upto was already used in the list. */
static size_t hlist_used(const char *hlist, size_t upto, const char *name, size_t nlen)
{
	size_t pos = 0, used = 0, l;
	const char *p;

	while (pos < upto && hlist_next(hlist, &pos, &p, &l))
		if (pos <= upto && l == nlen && strncasecmp(p, name, nlen) == 0)
			used++;
	return used;
}

/* §5.4.2: the k-th use of a name takes the k-th field from the bottom. */
static const struct field *field_pick(const struct field *f, size_t n,
    const char *name, size_t nlen, size_t k)
{
	for (size_t i = n; i > 0; i--)
		if (field_is(&f[i - 1], name, nlen) && k-- == 0)
			return &f[i - 1];
	return NULL;
}

/* §3.7: the hash of the selected fields and the signature field. */
static void headers_hash(EVP_MD_CTX *md, const char *headers, size_t len,
    const char *hlist, const char *sigfield, size_t siglen)
{
	struct buf c = BUF_INIT;
	struct field *f;
	size_t n = fields_parse(headers, len, &f), pos = 0, nlen, start;
	const char *name;

	for (start = pos; hlist_next(hlist, &pos, &name, &nlen); start = pos) {
		const struct field *pick;

		if (nlen == 0)
			continue;
		pick = field_pick(f, n, name, nlen, hlist_used(hlist, start, name, nlen));
		if (pick == NULL)
			continue;	/* a name with no field left: the null string */
		buf_reset(&c);
		dkim_canon_header(pick->p, pick->len, &c);
		buf_append(&c, "\r\n", 2);
		(void)EVP_DigestUpdate(md, c.s, c.len);
	}
	buf_reset(&c);
	dkim_canon_header(sigfield, siglen, &c);
	(void)EVP_DigestUpdate(md, c.s, c.len);
	buf_free(&c);
	free(f);
}

/* RSA: PKCS#1 v1.5 over the DigestInfo of the hash (what rsa-sha256 is). */
static int sign_rsa(EVP_PKEY *key, const unsigned char *hash, unsigned char *sig,
    size_t *siglen)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
	int ok = c != NULL && EVP_PKEY_sign_init(c) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
	    EVP_PKEY_sign(c, sig, siglen, hash, DKIM_HASH_LEN) == 1;

	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

/* RFC 8463 §3: PureEdDSA (no digest of its own) over the 32-byte hash. */
static int sign_ed25519(EVP_PKEY *key, const unsigned char *hash, unsigned char *sig,
    size_t *siglen)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int ok = m != NULL && EVP_DigestSignInit(m, NULL, NULL, NULL, key) == 1 &&
	    EVP_DigestSign(m, sig, siglen, hash, DKIM_HASH_LEN) == 1;

	EVP_MD_CTX_free(m);
	return ok ? 0 : -1;
}

int dkim_sign_b(EVP_PKEY *key, const char *headers, size_t len, const char *hlist,
    const char *sigfield, size_t siglen, struct buf *b64, char *err, size_t errlen)
{
	unsigned char hash[DKIM_HASH_LEN], sig[1024];
	size_t slen = sizeof sig;
	unsigned int hlen = 0;
	EVP_MD_CTX *md;
	char *text;
	int rc;

	if (dkim_key_check(key, err, errlen) != 0)
		return -1;
	if ((size_t)EVP_PKEY_size(key) > sizeof sig) {
		seterr(err, errlen, "key too large (%d bits)", EVP_PKEY_bits(key));
		return -1;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		dkim_openssl_err(err, errlen, "SHA-256");
		return -1;
	}
	headers_hash(md, headers, len, hlist, sigfield, siglen);
	rc = EVP_DigestFinal_ex(md, hash, &hlen);
	EVP_MD_CTX_free(md);
	if (rc != 1 || hlen != DKIM_HASH_LEN) {
		dkim_openssl_err(err, errlen, "SHA-256");
		return -1;
	}
	if (EVP_PKEY_base_id(key) == EVP_PKEY_RSA)
		rc = sign_rsa(key, hash, sig, &slen);
	else
		rc = sign_ed25519(key, hash, sig, &slen);
	if (rc != 0) {
		dkim_openssl_err(err, errlen, "signing");
		return -1;
	}
	text = xmalloc(slen / 3 * 4 + 5);
	(void)sasl_base64_encode(sig, slen, text, slen / 3 * 4 + 5);
	buf_appends(b64, text);
	free(text);
	return 0;
}

/* Folding (§3.5 allows FWS between tags): one writer that knows its column. */
struct fold {
	struct buf *out;
	size_t col;
};

/* Append a piece, folding first when it would pass the column limit. */
static void fold_put(struct fold *w, const char *sep, const char *s, size_t n)
{
	size_t sl = strlen(sep);

	if (w->col + sl + n > DKIM_FOLD_COLUMNS && w->col > 1) {
		buf_appends(w->out, "\n ");	/* the fold's SP stands for sep */
		w->col = 1;
	} else {
		buf_appends(w->out, sep);
		w->col += sl;
	}
	buf_append(w->out, s, n);
	w->col += n;
}

/* h=, folded after a colon when it must be (FWS is allowed there). */
static void fold_hlist(struct fold *w, const char *hlist)
{
	const char *p = hlist;
	int first = 1;

	while (*p != '\0') {
		size_t n = strcspn(p, ":");
		struct buf piece = BUF_INIT;

		buf_printf(&piece, "%s%.*s%s", first ? "h=" : "", (int)n, p,
		    p[n] == ':' ? ":" : ";");
		fold_put(w, first ? " " : "", piece.s, piece.len);
		buf_free(&piece);
		p += n + (p[n] == ':');
		first = 0;
	}
}

/* b=: what fits on the line, then whole continuation lines. */
static void fold_b(struct fold *w, const char *b64)
{
	size_t left = strlen(b64);

	while (left > 0) {
		size_t room = DKIM_FOLD_COLUMNS > w->col ? DKIM_FOLD_COLUMNS - w->col : 0;

		if (room == 0) {
			buf_appends(w->out, "\n ");
			w->col = 1;
			continue;
		}
		if (room > left)
			room = left;
		buf_append(w->out, b64, room);
		w->col += room;
		b64 += room;
		left -= room;
	}
}

/* The field up to and including "b=", as it will be stored. */
static void field_start(const struct dkim_sign_req *r, const char *alg,
    const char *hlist, struct fold *w)
{
	char bh[DKIM_HASH_LEN / 3 * 4 + 8];
	struct buf tag = BUF_INIT;

	(void)sasl_base64_encode(r->body_hash, DKIM_HASH_LEN, bh, sizeof bh);
	buf_appends(w->out, "DKIM-Signature:");
	w->col = strlen("DKIM-Signature:");
	fold_put(w, " ", "v=1;", 4);
	buf_printf(&tag, "a=%s;", alg);
	fold_put(w, " ", tag.s, tag.len);
	fold_put(w, " ", "c=relaxed/relaxed;", 18);
	buf_reset(&tag);
	buf_printf(&tag, "d=%s;", r->domain);
	fold_put(w, " ", tag.s, tag.len);
	buf_reset(&tag);
	buf_printf(&tag, "s=%s;", r->selector);
	fold_put(w, " ", tag.s, tag.len);
	buf_reset(&tag);
	buf_printf(&tag, "t=%lld;", r->timestamp);
	fold_put(w, " ", tag.s, tag.len);
	fold_hlist(w, hlist);
	buf_reset(&tag);
	buf_printf(&tag, "bh=%s;", bh);
	fold_put(w, " ", tag.s, tag.len);
	/* b= starts a line of its own unless a good part of it fits. */
	if (w->col + 12 > DKIM_FOLD_COLUMNS) {
		buf_appends(w->out, "\n");
		w->col = 0;
	}
	fold_put(w, " ", "b=", 2);
	buf_free(&tag);
}

int dkim_sign_field(const struct dkim_sign_req *r, struct buf *out, char *err, size_t errlen)
{
	struct buf field = BUF_INIT, hlist = BUF_INIT, b64 = BUF_INIT;
	struct fold w = { &field, 0 };
	const char *alg;
	int rc = -1;

	if (!dns_name_ok(r->domain) || !dns_name_ok(r->selector)) {
		seterr(err, errlen, "bad domain or selector");
		return -1;
	}
	if (dkim_key_check(r->key, err, errlen) != 0)
		return -1;
	alg = EVP_PKEY_base_id(r->key) == EVP_PKEY_RSA ? "rsa-sha256" : "ed25519-sha256";
	dkim_sign_select(r->headers, r->headers_len, &hlist);
	field_start(r, alg, hlist.s, &w);
	if (dkim_sign_b(r->key, r->headers, r->headers_len, hlist.s, field.s, field.len,
	    &b64, err, errlen) == 0) {
		fold_b(&w, b64.s);
		buf_appendc(&field, '\n');
		buf_append(out, field.s, field.len);
		rc = 0;
	}
	buf_free(&field);
	buf_free(&hlist);
	buf_free(&b64);
	return rc;
}
