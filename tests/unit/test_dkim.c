/*
 * test_dkim.c: dkim/ (canon.h, sign.h, key.h). Canonicalization tables
 * (RFC 6376 §3.4.5's example and edge cases of the stored LF form), each
 * fed whole and one byte at a time; RFC 8463 Appendix A's Ed25519 and RSA
 * signatures reproduced byte for byte (tests/unit/data/rfc8463.eml, the
 * RFC's signed message; rfc8463_rsa.key, its RSA key); field selection;
 * keys on disk and their DNS records; the From: domain that picks the
 * keys, and the keyring the master loads.
 */
#include "config.h"

#include <sys/stat.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "buf.h"
#include "canon.h"
#include "cutap.h"
#include "dns.h"
#include "key.h"
#include "keyring.h"
#include "sasl.h"
#include "sign.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

/* ---- canonicalization ---- */

struct header_case {
	const char *in, *want;
};

static const struct header_case header_cases[] = {
	/* RFC 6376 §3.4.5, the two fields of the example */
	{ "A: X\n", "a:X" },
	{ "B : Y\t\n\tZ  \n", "b:Y Z" },
	{ "Subject:   hello   world  \n", "subject:hello world" },
	{ "SUBJECT:x", "subject:x" },				/* no line end */
	{ "X-Empty:\n", "x-empty:" },
	{ "X-Empty: \t \n", "x-empty:" },
	{ "To: a,\r\n b\r\n", "to:a, b" },			/* CRLF folding */
	{ "To: a,\n\tb,\n  c\n", "to:a, b, c" },
	{ "K:\ta\t\tb", "k:a b" },
	{ "Subject: caf\xc3\xa9 \xff\n", "subject:caf\xc3\xa9 \xff" },	/* 8-bit */
	{ "X: a\rb\n", "x:a\rb" },				/* bare CR: content */
	{ "From \t: x\n", "from:x" },
	{ "X: a\n \n b\n", "x:a b" },
	{ "Message-ID:<id@x>\n", "message-id:<id@x>" },
	{ "X: a:b : c\n", "x:a:b : c" },
};

static void test_header_table(void)
{
	for (size_t i = 0; i < sizeof header_cases / sizeof header_cases[0]; i++) {
		const struct header_case *c = &header_cases[i];
		struct buf out = BUF_INIT;

		dkim_canon_header(c->in, strlen(c->in), &out);
		if (out.len != strlen(c->want) || memcmp(out.s, c->want, out.len) != 0)
			printf("# header case %zu: got \"%.*s\"\n", i, (int)out.len, out.s);
		CU_ASSERT(out.len == strlen(c->want) && memcmp(out.s, c->want, out.len) == 0);
		buf_free(&out);
	}
}

struct body_case {
	enum dkim_canon canon;
	const char *in, *want;
};

#define S DKIM_CANON_SIMPLE
#define R DKIM_CANON_RELAXED
static const struct body_case body_cases[] = {
	/* RFC 6376 §3.4.5's body, as stored */
	{ S, " C \nD \t E\n\n\n", " C \r\nD \t E\r\n" },
	{ R, " C \nD \t E\n\n\n", " C\r\nD E\r\n" },
	/* empty bodies: §3.4.3 CRLF, §3.4.4 nothing */
	{ S, "", "\r\n" },
	{ R, "", "" },
	{ S, "\n\n\n", "\r\n" },
	{ R, "\n\n", "" },
	{ R, " \t \n", "" },
	{ S, " \t \n", " \t \r\n" },
	/* no final line end: the wire form gets one */
	{ S, "a", "a\r\n" },
	{ R, "a", "a\r\n" },
	{ R, "a  ", "a\r\n" },
	{ S, "a\n\nb", "a\r\n\r\nb\r\n" },
	/* trailing empty lines go, inner ones stay */
	{ S, "a\n\n\n", "a\r\n" },
	{ S, "a \n\nb\n\n", "a \r\n\r\nb\r\n" },
	{ R, "a\n \n\nb", "a\r\n\r\n\r\nb\r\n" },
	{ R, "a\n  \n\t\n", "a\r\n" },
	/* a CRLF as stored is one line end (the wire keeps it) */
	{ S, "a\r\n", "a\r\n" },
	{ S, "a\r\n\r\n", "a\r\n" },
	{ R, "a\r\n \r\n", "a\r\n" },
	{ R, "a\nb\r\n", "a\r\nb\r\n" },
	/* a bare CR is content, also at the very end */
	{ S, "a\r", "a\r\r\n" },
	{ S, "\r", "\r\r\n" },
	{ S, "a\rb\n", "a\rb\r\n" },
	{ R, "a\r \n", "a\r\r\n" },
	{ R, "a\r\r\n", "a\r\r\n" },
	{ R, "a \r\n", "a\r\n" },
	/* WSP runs, 8-bit */
	{ R, "x\t\ty  z\n", "x y z\r\n" },
	{ R, "  lead\n", " lead\r\n" },
	{ R, "caf\xc3\xa9  \n\xff\n", "caf\xc3\xa9\r\n\xff\r\n" },
	{ S, "caf\xc3\xa9  \n", "caf\xc3\xa9  \r\n" },
	/* a leading dot is not stuffed: DKIM sees the un-stuffed message */
	{ S, ".\n..x\n", ".\r\n..x\r\n" },
};
#undef S
#undef R

/* Canonical bytes and hash of a body fed in pieces of step bytes (0: whole). */
static int body_run(enum dkim_canon canon, const char *in, size_t len, size_t step,
    struct buf *out, unsigned char *hash)
{
	struct dkim_body b;
	char err[128];

	if (dkim_body_init(&b, canon, err, sizeof err) != 0)
		return -1;
	b.tee = out;
	if (step == 0)
		step = len ? len : 1;
	for (size_t i = 0; i < len; i += step)
		dkim_body_update(&b, in + i, len - i < step ? len - i : step);
	return dkim_body_final(&b, hash, err, sizeof err);
}

static void sha256(const void *p, size_t n, unsigned char *out)
{
	unsigned int len = 0;

	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

static void test_body_table(void)
{
	for (size_t i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++) {
		const struct body_case *c = &body_cases[i];
		unsigned char want_hash[DKIM_HASH_LEN];

		sha256(c->want, strlen(c->want), want_hash);
		for (size_t step = 0; step <= 3; step++) {
			struct buf out = BUF_INIT;
			unsigned char hash[DKIM_HASH_LEN];
			int ok;

			buf_appends(&out, "");
			CU_ASSERT_FATAL(body_run(c->canon, c->in, strlen(c->in), step, &out,
			    hash) == 0);
			ok = out.len == strlen(c->want) && memcmp(out.s, c->want, out.len) == 0 &&
			    memcmp(hash, want_hash, sizeof hash) == 0;
			if (!ok)
				printf("# body case %zu step %zu: got %zu bytes\n", i, step, out.len);
			CU_ASSERT(ok);
			buf_free(&out);
		}
	}
}

static void b64(const unsigned char *p, size_t n, char *out, size_t outlen)
{
	CU_ASSERT_FATAL(sasl_base64_encode(p, n, out, outlen) == 0);
}

/* The empty-body hashes every DKIM implementation knows by heart. */
static void test_body_empty_hashes(void)
{
	unsigned char h[DKIM_HASH_LEN];
	char t[64];

	CU_ASSERT_FATAL(body_run(DKIM_CANON_SIMPLE, "", 0, 0, NULL, h) == 0);
	b64(h, sizeof h, t, sizeof t);
	CU_ASSERT_STRING_EQUAL(t, "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
	CU_ASSERT_FATAL(body_run(DKIM_CANON_RELAXED, "", 0, 0, NULL, h) == 0);
	b64(h, sizeof h, t, sizeof t);
	CU_ASSERT_STRING_EQUAL(t, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

/* A long line in big chunks: the internal buffer's flushes change nothing. */
static void test_body_long(void)
{
	size_t n = 100000;
	char *in = xmalloc(n + 2), *want = xmalloc(n + 3);
	unsigned char h1[DKIM_HASH_LEN], h2[DKIM_HASH_LEN], hw[DKIM_HASH_LEN];

	for (size_t i = 0; i < n; i++)
		in[i] = want[i] = (char)('a' + i % 26);
	in[n] = '\n';
	memcpy(want + n, "\r\n", 2);
	sha256(want, n + 2, hw);
	CU_ASSERT(body_run(DKIM_CANON_RELAXED, in, n + 1, 0, NULL, h1) == 0);
	CU_ASSERT(body_run(DKIM_CANON_RELAXED, in, n + 1, 4093, NULL, h2) == 0);
	CU_ASSERT(memcmp(h1, hw, sizeof hw) == 0);
	CU_ASSERT(memcmp(h2, hw, sizeof hw) == 0);
	free(in);
	free(want);
}

/* ---- RFC 8463 Appendix A ---- */

static char *slurp(const char *name, size_t *len)
{
	const char *top = getenv("top_srcdir");
	char path[1024];
	struct buf b = BUF_INIT;
	char chunk[4096];
	size_t r;
	FILE *f;

	snprintf(path, sizeof path, "%s/tests/unit/data/%s", top && *top ? top : TOP_SRCDIR, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		printf("# cannot open %s\n", path);
		return NULL;
	}
	while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, r);
	fclose(f);
	*len = b.len;
	return buf_steal(&b);
}

/* The n-th DKIM-Signature field of the message, without its last LF. */
static char *sig_field(const char *msg, int nth)
{
	const char *p = msg;

	for (;;) {
		const char *end;

		p = strstr(p, "DKIM-Signature:");
		if (p == NULL)
			return NULL;
		for (end = p; (end = strchr(end, '\n')) != NULL && (end[1] == ' ' || end[1] == '\t');
		    end++)
			;
		if (nth-- == 0)
			return xstrndup(p, (size_t)(end - p));
		p = end;
	}
}

/* "tag=" value of a field, up to ';' or the end. */
static char *tag_value(const char *field, const char *tag)
{
	char pat[16];
	const char *p;

	snprintf(pat, sizeof pat, " %s=", tag);
	p = strstr(field, pat);
	if (p == NULL)
		return NULL;
	p += strlen(pat);
	return xstrndup(p, strcspn(p, ";"));
}

static char *strip_ws(char *s)
{
	char *d = s;

	for (char *p = s; *p; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			*d++ = *p;
	*d = '\0';
	return s;
}

/* RFC 8032 §7.1 test 1: RFC 8463 A.1's Ed25519 secret key. */
static EVP_PKEY *rfc_ed25519(void)
{
	unsigned char seed[64];
	size_t n = 0;

	CU_ASSERT_FATAL(sasl_base64_decode("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=", 44,
	    seed, sizeof seed, &n) == 0 && n == 32);
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
}

/* Write the RFC keys where dkim_key_load looks for them. */
static const char *rfc_keys_dir(void)
{
	static char dir[512];
	char path[600];
	size_t len;
	char *rsa = slurp("rfc8463_rsa.key", &len);
	EVP_PKEY *ed = rfc_ed25519();
	FILE *f;

	CU_ASSERT_FATAL(rsa != NULL && ed != NULL);
	snprintf(dir, sizeof dir, "%s/rfc8463", cutap_tmpdir());
	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/football.example.com", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/football.example.com/test.key", dir);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fwrite(rsa, 1, len, f);
	fclose(f);
	snprintf(path, sizeof path, "%s/football.example.com/brisbane.key", dir);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(PEM_write_PrivateKey(f, ed, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	EVP_PKEY_free(ed);
	free(rsa);
	return dir;
}

/* The relaxed body hash of the RFC's message: its bh=. */
static void test_rfc8463_body_hash(void)
{
	size_t len;
	char *msg = slurp("rfc8463.eml", &len), *body, t[64];
	unsigned char h[DKIM_HASH_LEN];

	CU_ASSERT_FATAL(msg != NULL);
	body = strstr(msg, "\n\n");
	CU_ASSERT_FATAL(body != NULL);
	body += 2;
	CU_ASSERT_FATAL(body_run(DKIM_CANON_RELAXED, body, len - (size_t)(body - msg), 1,
	    NULL, h) == 0);
	b64(h, sizeof h, t, sizeof t);
	CU_ASSERT_STRING_EQUAL(t, "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
	free(msg);
}

/*
 * Sign the RFC's message with the RFC's key and the RFC's signature field
 * (b= emptied): the b= value must come out as printed in the RFC.
 */
static void rfc8463_reproduce(int nth, EVP_PKEY *key)
{
	size_t len;
	char *msg = slurp("rfc8463.eml", &len), *field, *h, *want, *cut;
	struct buf got = BUF_INIT;
	char err[256] = "";

	CU_ASSERT_FATAL(msg != NULL && key != NULL);
	field = sig_field(msg, nth);
	CU_ASSERT_FATAL(field != NULL);
	h = tag_value(field, "h");
	want = tag_value(field, "b");
	CU_ASSERT_FATAL(h != NULL && want != NULL);
	strip_ws(want);
	cut = strstr(field, " b=");
	CU_ASSERT_FATAL(cut != NULL);
	cut[3] = '\0';		/* the field as signed: "...; b=" */
	CU_ASSERT(dkim_sign_b(key, msg, len, h, field, strlen(field), &got, err,
	    sizeof err) == 0);
	if (got.s == NULL || strcmp(got.s, want) != 0)
		printf("# got b=%s\n# want  %s\n# %s\n", got.s ? got.s : "(none)", want, err);
	CU_ASSERT(got.s != NULL && strcmp(got.s, want) == 0);
	buf_free(&got);
	free(field);
	free(h);
	free(want);
	free(msg);
}

static void test_rfc8463_ed25519(void)
{
	EVP_PKEY *ed = rfc_ed25519();

	rfc8463_reproduce(0, ed);
	EVP_PKEY_free(ed);
}

static void test_rfc8463_rsa(void)
{
	struct dkim_key k;
	char err[256];

	CU_ASSERT_FATAL(dkim_key_load(rfc_keys_dir(), "football.example.com", "test", &k,
	    err, sizeof err) == 0);
	CU_ASSERT(k.alg == DKIM_ALG_RSA);
	rfc8463_reproduce(1, k.pkey);
	dkim_key_free(&k);
}

/* A.2's records come out of the A.1 keys; the list is RSA first. */
static void test_rfc8463_records(void)
{
	static const char *const want[] = {
		"test._domainkey.football.example.com. IN TXT \"v=DKIM1; k=rsa; "
		"p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2j"
		"LQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvH"
		"O9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\"",
		"brisbane._domainkey.football.example.com. IN TXT "
		"\"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"",
	};
	struct dkim_key *keys;
	size_t n;
	char err[256];

	CU_ASSERT_FATAL(dkim_key_list(rfc_keys_dir(), "Football.Example.COM", &keys, &n, err,
	    sizeof err) == 0);
	CU_ASSERT_FATAL(n == 2);
	CU_ASSERT_STRING_EQUAL(keys[0].selector, "test");
	CU_ASSERT_STRING_EQUAL(keys[1].selector, "brisbane");
	for (size_t i = 0; i < n; i++) {
		struct buf rec = BUF_INIT;

		CU_ASSERT(dkim_key_dns(&keys[i], &rec, NULL, err, sizeof err) == 0);
		CU_ASSERT_STRING_EQUAL(rec.s, want[i]);
		buf_free(&rec);
	}
	dkim_keys_free(keys, n);
}

/* ---- which fields, bottom-up ---- */

struct select_case {
	const char *headers, *want;
};

static const struct select_case select_cases[] = {
	{ "From: a\nTo: b\nSubject: s\nReceived: x\nDate: d\n", "from:from:date:subject:to" },
	{ "To: a\nTo: b\nFrom: f\nCc: c\n", "from:from:to:to:cc" },
	{ "X: y\n", "from" },
	{ "", "from" },
	{ "FROM: x\nmessage-id: <y>\n", "from:from:message-id" },
	{ "From: a\n\nTo: b\n", "from:from" },				/* the body is not headers */
	{ "From: a\r\n\r\nTo: b\r\n", "from:from" },
	{ "Reply-To: r\nMIME-Version: 1.0\nContent-Type: text/plain\nIn-Reply-To: <i>\n"
	  "References: <i>\nFrom: f\n",
	  "from:from:reply-to:mime-version:content-type:in-reply-to:references" },
	{ "Subject: a\n b\nTo \t: x\nFrom:f\n", "from:from:subject:to" },
	{ "Fromage: x\nFrom: y\n", "from:from" },
};

static void test_select(void)
{
	for (size_t i = 0; i < sizeof select_cases / sizeof select_cases[0]; i++) {
		struct buf h = BUF_INIT;

		dkim_sign_select(select_cases[i].headers, strlen(select_cases[i].headers), &h);
		if (strcmp(h.s, select_cases[i].want) != 0)
			printf("# select case %zu: got %s\n", i, h.s);
		CU_ASSERT_STRING_EQUAL(h.s, select_cases[i].want);
		buf_free(&h);
	}
}

/* The signature an independent path makes over exactly these bytes. */
static void sign_bytes(EVP_PKEY *key, const char *data, struct buf *out)
{
	unsigned char hash[DKIM_HASH_LEN], sig[64];
	size_t slen = sizeof sig;
	char t[128];
	EVP_MD_CTX *m = EVP_MD_CTX_new();

	sha256(data, strlen(data), hash);
	CU_ASSERT_FATAL(EVP_DigestSignInit(m, NULL, NULL, NULL, key) == 1);
	CU_ASSERT_FATAL(EVP_DigestSign(m, sig, &slen, hash, sizeof hash) == 1);
	EVP_MD_CTX_free(m);
	b64(sig, slen, t, sizeof t);
	buf_appends(out, t);
}

struct pick_case {
	const char *headers, *hlist, *hashed;
};

/* §5.4.2: the first "to" takes the last To:, a name with none left adds nothing. */
static const struct pick_case pick_cases[] = {
	{ "To: first\nTo: second\n", "to", "to:second\r\n" },
	{ "To: first\nTo: second\n", "to:to", "to:second\r\nto:first\r\n" },
	{ "To: first\nTo: second\n", "to:to:to", "to:second\r\nto:first\r\n" },
	{ "From: a\nTo: b\n", "from:from:to", "from:a\r\nto:b\r\n" },
	{ "From: a\nTo: b\n", "from : to\n :  FROM", "from:a\r\nto:b\r\n" },
	{ "From: a\nX: b\n", "x:from", "x:b\r\nfrom:a\r\n" },
	{ "From: a\n\nTo: b\n", "from:to", "from:a\r\n" },
};

static void test_pick(void)
{
	EVP_PKEY *key = rfc_ed25519();
	const char *sigf = "DKIM-Signature: v=1; b=";

	for (size_t i = 0; i < sizeof pick_cases / sizeof pick_cases[0]; i++) {
		const struct pick_case *c = &pick_cases[i];
		struct buf got = BUF_INIT, want = BUF_INIT, data = BUF_INIT;
		char err[128];

		buf_printf(&data, "%sdkim-signature:v=1; b=", c->hashed);
		sign_bytes(key, data.s, &want);
		CU_ASSERT(dkim_sign_b(key, c->headers, strlen(c->headers), c->hlist, sigf,
		    strlen(sigf), &got, err, sizeof err) == 0);
		if (got.s == NULL || strcmp(got.s, want.s) != 0)
			printf("# pick case %zu differs\n", i);
		CU_ASSERT(got.s != NULL && strcmp(got.s, want.s) == 0);
		buf_free(&got);
		buf_free(&want);
		buf_free(&data);
	}
	EVP_PKEY_free(key);
}

/* ---- the whole field ---- */

static const char *const msg_headers =
	"Received: from x by y; Sat, 1 Jun 2024 12:00:00 +0000\n"
	"From: Demo <demo@example.test>\n"
	"To: a@remote.test,\n b@remote.test,\n\tc@remote.test\n"
	"Subject: a rather long subject line that goes on and on, well past the point\n"
	" where a folded line would be\n"
	"Date: Sat, 01 Jun 2024 12:00:00 +0000\n"
	"Message-ID: <1@example.test>\n"
	"\n";

/* Lines no longer than the limit, the tags in order, b= last, LF at the end. */
static void check_field(const char *f, const char *alg)
{
	const char *p = f;
	char want[256], *flat = xstrdup(f), *d = flat;

	for (const char *q = f; *q; q++)	/* unfold: a fold is "\n" before a SP */
		if (*q != '\n')
			*d++ = *q;
	*d = '\0';
	snprintf(want, sizeof want, "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed; "
	    "d=example.test; s=sel; t=1700000000; h=from:from:date:subject:to:message-id; "
	    "bh=RHI91NDg1Go8f6isolS2HCe2tXiflhd+gsgHAECfFTU=; b=", alg);
	CU_ASSERT(strncmp(flat, want, strlen(want)) == 0);
	free(flat);
	CU_ASSERT(f[strlen(f) - 1] == '\n');
	while (*p) {
		size_t n = strcspn(p, "\n");

		CU_ASSERT(n <= DKIM_FOLD_COLUMNS);
		p += n + (p[n] == '\n');
		if (*p)
			CU_ASSERT(*p == ' ');		/* continuation lines only */
	}
	p = strstr(f, " b=");
	CU_ASSERT(p != NULL && strchr(p, ';') == NULL);
}

/* The field's own b= is what dkim_sign_b computes over the field without it. */
static void check_b_over(const char *f, EVP_PKEY *key, const char *headers, const char *hlist)
{
	const char *b = strstr(f, " b=");
	char *head, *val;
	struct buf got = BUF_INIT;
	char err[128];

	CU_ASSERT_FATAL(b != NULL);
	head = xstrndup(f, (size_t)(b - f) + 3);
	val = strip_ws(xstrdup(b + 3));
	CU_ASSERT(dkim_sign_b(key, headers, strlen(headers), hlist, head, strlen(head), &got,
	    err, sizeof err) == 0);
	CU_ASSERT(got.s != NULL && strcmp(got.s, val) == 0);
	buf_free(&got);
	free(head);
	free(val);
}

static void check_b(const char *f, EVP_PKEY *key)
{
	check_b_over(f, key, msg_headers, "from:from:date:subject:to:message-id");
}

static int lines_fit(const char *f)
{
	for (const char *p = f; *p; ) {
		size_t n = strcspn(p, "\n");

		if (n > DKIM_FOLD_COLUMNS)
			return 0;
		p += n + (p[n] == '\n');
	}
	return 1;
}

static void sign_with(enum dkim_alg alg, const char *selector)
{
	struct dkim_key k;
	struct buf f = BUF_INIT;
	unsigned char bh[DKIM_HASH_LEN];
	char err[256], dir[512];
	struct dkim_sign_req r = {
		.headers = msg_headers, .headers_len = strlen(msg_headers), .body_hash = bh,
		.domain = "example.test", .selector = "sel", .timestamp = 1700000000,
	};

	snprintf(dir, sizeof dir, "%s/%s", cutap_tmpdir(), selector);
	CU_ASSERT_FATAL(body_run(DKIM_CANON_RELAXED, "hi\n", 3, 0, NULL, bh) == 0);
	CU_ASSERT_FATAL(dkim_key_generate(dir, "example.test", "sel", alg, 0, &k, err,
	    sizeof err) == 0);
	r.key = k.pkey;
	buf_appends(&f, "");
	CU_ASSERT_FATAL(dkim_sign_field(&r, &f, err, sizeof err) == 0);
	for (const char *p = f.s; *p; ) {
		size_t n = strcspn(p, "\n");

		printf("# %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
	check_field(f.s, alg == DKIM_ALG_RSA ? "rsa-sha256" : "ed25519-sha256");
	check_b(f.s, k.pkey);
	r.domain = "bad/domain";
	CU_ASSERT(dkim_sign_field(&r, &f, err, sizeof err) == -1);
	buf_free(&f);
	dkim_key_free(&k);
}

static void test_field_rsa(void)
{
	sign_with(DKIM_ALG_RSA, "field-rsa");
}

static void test_field_ed25519(void)
{
	sign_with(DKIM_ALG_ED25519, "field-ed");
}

/*
 * Forty To: fields: the bottom DKIM_MAX_SAME_FIELD are signed, and the
 * long h= folds after its colons within the column limit.
 */
static void test_field_many(void)
{
	struct buf h = BUF_INIT, f = BUF_INIT, want = BUF_INIT, got = BUF_INIT;
	unsigned char bh[DKIM_HASH_LEN] = { 0 };
	char err[256];
	EVP_PKEY *key = rfc_ed25519();
	struct dkim_sign_req r = {
		.body_hash = bh, .domain = "example.test", .selector = "sel", .key = key,
		.timestamp = 1,
	};
	const char *hv;

	buf_appends(&h, "From: f@example.test\n");
	for (int i = 0; i < 40; i++)
		buf_printf(&h, "To: r%d@remote.test\n", i);
	buf_appends(&want, "from:from");
	for (int i = 0; i < DKIM_MAX_SAME_FIELD; i++)
		buf_appends(&want, ":to");
	dkim_sign_select(h.s, h.len, &got);
	CU_ASSERT_STRING_EQUAL(got.s, want.s);
	r.headers = h.s;
	r.headers_len = h.len;
	CU_ASSERT_FATAL(dkim_sign_field(&r, &f, err, sizeof err) == 0);
	CU_ASSERT(lines_fit(f.s));
	hv = strstr(f.s, " h=");
	CU_ASSERT_FATAL(hv != NULL);
	CU_ASSERT(strchr(hv, '\n') < strchr(hv, ';'));	/* h= was folded */
	check_b_over(f.s, key, h.s, want.s);
	buf_free(&h);
	buf_free(&f);
	buf_free(&want);
	buf_free(&got);
	EVP_PKEY_free(key);
}

/* ---- keys ---- */

static int same_key(EVP_PKEY *a, EVP_PKEY *b)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	return EVP_PKEY_eq(a, b) == 1;
#else
	return EVP_PKEY_cmp(a, b) == 1;
#endif
}

static void test_keygen_file(void)
{
	char dir[512], path[700], err[256], line[64];
	struct dkim_key k, l;
	struct stat st;
	DIR *d;
	struct dirent *e;
	int others = 0;
	FILE *f;

	snprintf(dir, sizeof dir, "%s/keygen", cutap_tmpdir());
	mode_t old = umask(077);	/* 0640 whatever the umask */

	CU_ASSERT_FATAL(dkim_key_generate(dir, "Example.TEST", "s2026", DKIM_ALG_RSA, 0, &k, err,
	    sizeof err) == 0);
	umask(old);
	CU_ASSERT_STRING_EQUAL(k.domain, "example.test");
	snprintf(path, sizeof path, "%s/example.test/s2026.key", dir);
	CU_ASSERT_STRING_EQUAL(k.path, path);
	CU_ASSERT_FATAL(stat(path, &st) == 0);
	CU_ASSERT((st.st_mode & 07777) == 0640);
	CU_ASSERT(EVP_PKEY_bits(k.pkey) == 2048);
	f = fopen(path, "r");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(fgets(line, sizeof line, f) != NULL && strcmp(line,
	    "-----BEGIN PRIVATE KEY-----\n") == 0);
	fclose(f);
	/* nothing else in the directory: no temporary file left */
	snprintf(path, sizeof path, "%s/example.test", dir);
	d = opendir(path);
	CU_ASSERT_FATAL(d != NULL);
	while ((e = readdir(d)) != NULL)
		others += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    strcmp(e->d_name, "s2026.key");
	closedir(d);
	CU_ASSERT(others == 0);
	/* it loads back, and is never replaced */
	CU_ASSERT(dkim_key_load(dir, "example.test", "s2026", &l, err, sizeof err) == 0);
	CU_ASSERT(l.alg == DKIM_ALG_RSA && same_key(l.pkey, k.pkey));
	dkim_key_free(&l);
	CU_ASSERT(dkim_key_generate(dir, "example.test", "s2026", DKIM_ALG_ED25519, 0, &l, err,
	    sizeof err) == -1);
	CU_ASSERT(strstr(err, "exists") != NULL);
	dkim_key_free(&k);
}

static void test_keygen_refused(void)
{
	static const char *const bad[] = { "", "..", "../x", ".hidden", "a/b", "a..b", "a.",
	    "a b", "a;b" };
	char dir[512], err[256];
	struct dkim_key k;

	snprintf(dir, sizeof dir, "%s/refused", cutap_tmpdir());
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CU_ASSERT(dkim_key_generate(dir, bad[i], "s", DKIM_ALG_ED25519, 0, &k, err,
		    sizeof err) == -1);
		CU_ASSERT(dkim_key_generate(dir, "example.test", bad[i], DKIM_ALG_ED25519, 0, &k,
		    err, sizeof err) == -1);
		CU_ASSERT(dkim_key_load(dir, bad[i], "s", &k, err, sizeof err) == -1);
	}
	CU_ASSERT(dkim_key_generate(dir, "example.test", "s", DKIM_ALG_RSA, 512, &k, err,
	    sizeof err) == -1);
	CU_ASSERT(dns_name_ok("s2026._sub") && dns_name_ok("mail-1.example.test"));
}

/* Write a key OpenSSL made, as an admin might have. */
static void write_key(const char *dir, const char *sel, int type, int bits)
{
	char path[700];
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *pkey = NULL;
	FILE *f;

	CU_ASSERT_FATAL(c != NULL && EVP_PKEY_keygen_init(c) == 1);
	if (type == EVP_PKEY_RSA)
		CU_ASSERT_FATAL(EVP_PKEY_CTX_set_rsa_keygen_bits(c, bits) == 1);
	if (type == EVP_PKEY_EC)
		CU_ASSERT_FATAL(EVP_PKEY_CTX_set_ec_paramgen_curve_nid(c, NID_X9_62_prime256v1) == 1);
	CU_ASSERT_FATAL(EVP_PKEY_keygen(c, &pkey) == 1);
	snprintf(path, sizeof path, "%s/%s.key", dir, sel);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(c);
}

static void test_list(void)
{
	char dir[512], sub[600], err[256];
	struct dkim_key *keys, k;
	size_t n;
	FILE *f;

	snprintf(dir, sizeof dir, "%s/list", cutap_tmpdir());
	snprintf(sub, sizeof sub, "%s/example.test", dir);
	mkdir(dir, 0700);
	mkdir(sub, 0700);
	write_key(sub, "zed", EVP_PKEY_ED25519, 0);
	write_key(sub, "alpha", EVP_PKEY_ED25519, 0);
	write_key(sub, "m2", EVP_PKEY_RSA, 1024);
	write_key(sub, "b1", EVP_PKEY_RSA, 2048);
	write_key(sub, "small", EVP_PKEY_RSA, 512);
	write_key(sub, "ec", EVP_PKEY_EC, 0);
	snprintf(sub, sizeof sub, "%s/example.test/notes.txt", dir);
	f = fopen(sub, "w");
	fclose(f);
	snprintf(sub, sizeof sub, "%s/example.test/.s.key.tmp.1", dir);
	f = fopen(sub, "w");
	fclose(f);
	snprintf(sub, sizeof sub, "%s/example.test/junk.key", dir);
	f = fopen(sub, "w");
	fputs("not a key\n", f);
	fclose(f);

	/* small (512 bits), ec and junk are left out, and said so */
	CU_ASSERT(dkim_key_list(dir, "example.test", &keys, &n, err, sizeof err) == 3);
	CU_ASSERT_FATAL(n == 4);
	CU_ASSERT_STRING_EQUAL(keys[0].selector, "b1");
	CU_ASSERT_STRING_EQUAL(keys[1].selector, "m2");
	CU_ASSERT_STRING_EQUAL(keys[2].selector, "alpha");
	CU_ASSERT_STRING_EQUAL(keys[3].selector, "zed");
	CU_ASSERT(keys[0].alg == DKIM_ALG_RSA && keys[3].alg == DKIM_ALG_ED25519);
	dkim_keys_free(keys, n);

	CU_ASSERT(dkim_key_load(dir, "example.test", "small", &k, err, sizeof err) == -1);
	CU_ASSERT(strstr(err, "512 bits") != NULL && strstr(err, "RFC 8301") != NULL);
	CU_ASSERT(dkim_key_load(dir, "example.test", "ec", &k, err, sizeof err) == -1);
	CU_ASSERT(dkim_key_load(dir, "example.test", "nokey", &k, err, sizeof err) == -1);

	/* no directory for the domain: no key, no error */
	CU_ASSERT(dkim_key_list(dir, "other.test", &keys, &n, err, sizeof err) == 0);
	CU_ASSERT(n == 0 && keys == NULL);
}

/* A 2048-bit RSA record: quoted strings of at most 255 that join to the value. */
static void test_dns_split(void)
{
	char dir[512], err[256];
	struct dkim_key k;
	struct buf rec = BUF_INIT, val = BUF_INIT, joined = BUF_INIT;
	const char *prefix = "s1._domainkey.example.test. IN TXT \"";
	const char *p;
	int strings = 0;

	snprintf(dir, sizeof dir, "%s/dns", cutap_tmpdir());
	CU_ASSERT_FATAL(dkim_key_generate(dir, "example.test", "s1", DKIM_ALG_RSA, 2048, &k, err,
	    sizeof err) == 0);
	CU_ASSERT_FATAL(dkim_key_dns(&k, &rec, &val, err, sizeof err) == 0);
	CU_ASSERT(strncmp(rec.s, prefix, strlen(prefix)) == 0);
	CU_ASSERT(strncmp(val.s, "v=DKIM1; k=rsa; p=MIIBIjAN", 26) == 0);
	CU_ASSERT(strchr(rec.s, '\n') == NULL);
	buf_appends(&joined, "");
	for (p = strchr(rec.s, '"'); p != NULL; p = strchr(p, '"')) {
		const char *end = strchr(p + 1, '"');

		CU_ASSERT_FATAL(end != NULL);
		CU_ASSERT(end - p - 1 <= 255);
		if (strings == 0)
			CU_ASSERT(end - p - 1 == 255);
		buf_append(&joined, p + 1, (size_t)(end - p - 1));
		strings++;
		p = end + 1;
		if (*p)
			CU_ASSERT(*p == ' ');
	}
	CU_ASSERT(strings == 2);
	CU_ASSERT_STRING_EQUAL(joined.s, val.s);
	buf_free(&rec);
	buf_free(&val);
	buf_free(&joined);
	dkim_key_free(&k);
}

/* ---- the keyring and the From: domain ---- */

struct from_case {
	const char *in, *want;	/* want NULL: no domain */
};

static const struct from_case from_cases[] = {
	{ "From: demo@example.test\n", "example.test" },		/* bare addr-spec */
	{ "From: Demo <demo@example.test>\n", "example.test" },	/* angle address */
	{ "From: <demo@example.test>\n", "example.test" },
	{ "From: \"Demo <demo@example.org>\" <demo@example.test>\n", "example.test" },
	{ "From: \"a@b.org, <x@y.org>\" <demo@example.test>\n", "example.test" },
	{ "From: \"Demo \\\" <q@quoted.org>\" <demo@example.test>\n", "example.test" },
	{ "From: (Demo @ home <x@comment.org>) demo@example.test\n", "example.test" },
	{ "From: demo@example.test (Demo User)\n", "example.test" },
	{ "From: demo@example.test(Demo @ work)\n", "example.test" },
	{ "From: Demo (nested (x@n.org) c) <demo@example.test>\n", "example.test" },
	{ "From: \"x@y\"@example.test\n", "example.test" },		/* '@' in a quoted local part */
	{ "From: Demo\n <demo@example.test>\n", "example.test" },	/* folded */
	{ "From:\n demo@example.test\n", "example.test" },
	{ "FROM : demo@example.test\n", "example.test" },
	{ "from\t:demo@example.test\n", "example.test" },
	{ "From: a@one.test, b@two.test\n", "one.test" },		/* two mailboxes: the first */
	{ "From: A <a@one.test>, B <b@two.test>\n", "one.test" },
	{ "From: a@one.test, B <b@two.test>\n", "one.test" },
	{ "From: \"Doe, John\" <j@one.test>, k@two.test\n", "one.test" },
	{ "To: x@to.test\nSubject: s\n", NULL },			/* no From: */
	{ "", NULL },
	{ "To: x@to.test\n\nFrom: demo@example.test\n", NULL },	/* in the body */
	{ "To: x@to.test\r\n\r\nFrom: demo@example.test\r\n", NULL },
	{ "Fromage: f@cheese.test\nFrom: demo@example.test\n", "example.test" },
	{ "Resent-From: r@resent.test\nFrom: demo@example.test\n", "example.test" },
	{ "X: y\n From: f@cont.test\nFrom: demo@example.test\n", "example.test" },
	{ "From: demo@example.test.\n", "example.test" },		/* trailing dot */
	{ "From: <demo@example.test.>\n", "example.test" },
	{ "From: Demo <DEMO@Example.TEST>\n", "example.test" },	/* upper case */
	{ "From: demo@example.test\nFrom: other@two.test\n", "example.test" },
	{ "From: demo\n", NULL },					/* no domain */
	{ "From: demo@\n", NULL },
	{ "From: <demo@[192.0.2.1]>\n", NULL },			/* an address literal */
	{ "From: Undisclosed:;\n", NULL },
	{ "From: \"unterminated <demo@example.test>\n", NULL },
	{ "From: demo@example.test\r\nTo: x\r\n", "example.test" },	/* CRLF */
};

static void test_from_domain(void)
{
	for (size_t i = 0; i < sizeof from_cases / sizeof from_cases[0]; i++) {
		const struct from_case *c = &from_cases[i];
		char out[256] = "";
		int r = dkim_from_domain(c->in, strlen(c->in), out, sizeof out);

		if (c->want == NULL) {
			if (r != -1)
				fprintf(stderr, "case %zu %s: got %s\n", i, c->in, out);
			CU_ASSERT(r == -1);
		} else {
			if (r != 0 || strcmp(out, c->want) != 0)
				fprintf(stderr, "case %zu %s: r=%d got %s want %s\n", i, c->in, r, out,
				    c->want);
			CU_ASSERT(r == 0 && strcmp(out, c->want) == 0);
		}
	}
}

/* The header section as the signer gets it: its length ends the search. */
static void test_from_domain_bounds(void)
{
	const char *h = "To: x\nFrom: demo@example.test\n";
	char small[5], out[256];

	CU_ASSERT(dkim_from_domain(h, 6, out, sizeof out) == -1);
	CU_ASSERT(dkim_from_domain(h, strlen(h), small, sizeof small) == -1);
	CU_ASSERT(dkim_from_domain(h, strlen(h), out, sizeof out) == 0);
}

static void keyring_dir(const char *dir, const char *domain, const char *sel, int type)
{
	char sub[700];

	snprintf(sub, sizeof sub, "%s/%s", dir, domain);
	mkdir(dir, 0700);
	mkdir(sub, 0700);
	write_key(sub, sel, type, 1024);
}

static void test_keyring(void)
{
	struct dkim_keyring ring;
	const struct dkim_key *k;
	char dir[512], path[700], err[512];
	size_t n;
	FILE *f;

	snprintf(dir, sizeof dir, "%s/ring", cutap_tmpdir());
	keyring_dir(dir, "example.test", "ed1", EVP_PKEY_ED25519);
	keyring_dir(dir, "example.test", "rsa1", EVP_PKEY_RSA);
	keyring_dir(dir, "example.org", "s1", EVP_PKEY_RSA);
	CU_ASSERT_FATAL(dkim_keyring_load(dir, &ring, err, sizeof err) == 0);
	CU_ASSERT(ring.n == 3);
	k = dkim_keyring_find(&ring, "EXAMPLE.Test", &n);
	CU_ASSERT_FATAL(k != NULL && n == 2);
	CU_ASSERT_STRING_EQUAL(k[0].domain, "example.test");
	CU_ASSERT(k[0].alg == DKIM_ALG_RSA && k[1].alg == DKIM_ALG_ED25519);
	CU_ASSERT_STRING_EQUAL(k[0].selector, "rsa1");
	k = dkim_keyring_find(&ring, "example.org", &n);
	CU_ASSERT(k != NULL && n == 1 && strcmp(k->selector, "s1") == 0);
	CU_ASSERT(dkim_keyring_find(&ring, "example.net", &n) == NULL && n == 0);
	CU_ASSERT(dkim_keyring_find(&ring, "test", &n) == NULL && n == 0);
	dkim_keyring_free(&ring);
	CU_ASSERT(ring.n == 0 && ring.keys == NULL);

	/* A key that does not load fails the whole load, naming the file. */
	snprintf(path, sizeof path, "%s/example.org/broken.key", dir);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	err[0] = '\0';
	CU_ASSERT(dkim_keyring_load(dir, &ring, err, sizeof err) == -1);
	CU_ASSERT(strstr(err, "broken.key") != NULL);
	CU_ASSERT(ring.n == 0 && ring.keys == NULL);
	unlink(path);

	/* A file beside the domain folders (notes, a backup) is not a domain. */
	snprintf(path, sizeof path, "%s/notes.txt", dir);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("keys live in one folder per domain\n", f);
	fclose(f);
	CU_ASSERT(dkim_keyring_load(dir, &ring, err, sizeof err) == 0);
	CU_ASSERT(ring.n == 3);
	dkim_keyring_free(&ring);
	unlink(path);

	/* No keys_dir: an empty ring, no error. */
	snprintf(path, sizeof path, "%s/nowhere", dir);
	CU_ASSERT(dkim_keyring_load(path, &ring, err, sizeof err) == 0);
	CU_ASSERT(ring.n == 0 && ring.keys == NULL);
	CU_ASSERT(dkim_keyring_find(&ring, "example.test", &n) == NULL && n == 0);
	dkim_keyring_free(&ring);
}

/* Signing through the ring: one field per key of the From: domain, RSA first. */
static void test_keyring_sign(void)
{
	static const char hdr[] = "From: Demo <demo@Example.Test>\nTo: x@y.test\nSubject: s\n";
	unsigned char hash[DKIM_HASH_LEN] = { 0 };
	struct dkim_keyring ring;
	struct buf out = BUF_INIT;
	char dir[512], err[512];
	const char *second;

	snprintf(dir, sizeof dir, "%s/ring", cutap_tmpdir());
	CU_ASSERT_FATAL(dkim_keyring_load(dir, &ring, err, sizeof err) == 0);
	CU_ASSERT(dkim_keyring_sign(&ring, hdr, strlen(hdr), hash, 1700000000, &out, err,
	    sizeof err) == 2);
	CU_ASSERT_FATAL(out.s != NULL);
	CU_ASSERT(strncmp(out.s, "DKIM-Signature: v=1; a=rsa-sha256;", 34) == 0);
	second = strstr(out.s + 1, "\nDKIM-Signature: ");
	CU_ASSERT(second != NULL && strstr(second, "a=ed25519-sha256;") != NULL);
	CU_ASSERT(strstr(out.s, " d=example.test;") != NULL);
	buf_reset(&out);
	CU_ASSERT(dkim_keyring_sign(&ring, "From: a@example.net\n", 20, hash, 1, &out, err,
	    sizeof err) == 0);
	CU_ASSERT(dkim_keyring_sign(&ring, "To: a@example.test\n", 19, hash, 1, &out, err,
	    sizeof err) == 0);
	CU_ASSERT(out.len == 0);
	buf_free(&out);
	dkim_keyring_free(&ring);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("dkim canon", NULL, NULL);
	CU_add_test(s, "relaxed header table (RFC 6376 3.4.5 and edges)", test_header_table);
	CU_add_test(s, "body table, whole and byte by byte", test_body_table);
	CU_add_test(s, "empty body hashes", test_body_empty_hashes);
	CU_add_test(s, "a 100 kB line", test_body_long);
	s = CU_add_suite("dkim rfc8463", NULL, NULL);
	CU_add_test(s, "A.3 body hash", test_rfc8463_body_hash);
	CU_add_test(s, "A.3 ed25519-sha256 signature byte for byte", test_rfc8463_ed25519);
	CU_add_test(s, "A.3 rsa-sha256 signature byte for byte", test_rfc8463_rsa);
	CU_add_test(s, "A.2 DNS records from the A.1 keys", test_rfc8463_records);
	s = CU_add_suite("dkim sign", NULL, NULL);
	CU_add_test(s, "h= selection", test_select);
	CU_add_test(s, "repeated fields bottom-up (RFC 6376 5.4.2)", test_pick);
	CU_add_test(s, "rsa-sha256 field", test_field_rsa);
	CU_add_test(s, "ed25519-sha256 field", test_field_ed25519);
	CU_add_test(s, "forty To: fields, a long h=", test_field_many);
	s = CU_add_suite("dkim keys", NULL, NULL);
	CU_add_test(s, "keygen writes 0640 PEM, never replaces", test_keygen_file);
	CU_add_test(s, "bad names and sizes refused", test_keygen_refused);
	CU_add_test(s, "list: RSA first, bad files left out", test_list);
	CU_add_test(s, "DNS record split at 255", test_dns_split);
	s = CU_add_suite("dkim keyring", NULL, NULL);
	CU_add_test(s, "From: domain table", test_from_domain);
	CU_add_test(s, "From: domain bounded by the header length", test_from_domain_bounds);
	CU_add_test(s, "load, find by any case, a bad file, no keys_dir", test_keyring);
	CU_add_test(s, "sign with every key of the From: domain", test_keyring_sign);
	return cutap_run();
}
