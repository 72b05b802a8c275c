/*
 * dkim_sign.c: the dkim/ library from the command line, for the tests that
 * check it against other implementations (tests/interop/dkim_verify.py).
 *
 *   dkim_sign keygen KEYS_DIR DOMAIN SELECTOR rsa|ed25519 [BITS]
 *       make a key, print its DNS record line
 *   dkim_sign dns KEYS_DIR DOMAIN
 *       the DNS record of each key of the domain, one a line, in order
 *   dkim_sign sign KEYS_DIR DOMAIN TIMESTAMP < stored-message > signed
 *       one DKIM-Signature per key of the domain (the first key's on top),
 *       then the message as it came (stored form, LF line ends)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "canon.h"
#include "key.h"
#include "sign.h"

static int usage(void)
{
	fprintf(stderr, "usage: dkim_sign keygen DIR DOMAIN SELECTOR rsa|ed25519 [BITS]\n"
	    "       dkim_sign dns DIR DOMAIN\n"
	    "       dkim_sign sign DIR DOMAIN TIMESTAMP < message > signed\n");
	return 2;
}

static int keygen(char **argv, int argc)
{
	struct dkim_key k;
	struct buf rec = BUF_INIT;
	char err[512];
	enum dkim_alg alg;

	if (strcmp(argv[5], "rsa") == 0)
		alg = DKIM_ALG_RSA;
	else if (strcmp(argv[5], "ed25519") == 0)
		alg = DKIM_ALG_ED25519;
	else
		return usage();
	if (dkim_key_generate(argv[2], argv[3], argv[4], alg,
	    argc > 6 ? (unsigned)strtoul(argv[6], NULL, 10) : 0, &k, err, sizeof err) != 0 ||
	    dkim_key_dns(&k, &rec, NULL, err, sizeof err) != 0) {
		fprintf(stderr, "dkim_sign: %s\n", err);
		return 1;
	}
	printf("%s\n", rec.s);
	buf_free(&rec);
	dkim_key_free(&k);
	return 0;
}

/* The domain's keys; an unloadable key file is an error here. */
static int keys_get(const char *dir, const char *domain, struct dkim_key **keys, size_t *n)
{
	char err[512];
	int rc = dkim_key_list(dir, domain, keys, n, err, sizeof err);

	if (rc != 0) {
		fprintf(stderr, "dkim_sign: %s\n", err);
		dkim_keys_free(*keys, *n);
		return -1;
	}
	return 0;
}

static int dns(char **argv)
{
	struct dkim_key *keys;
	size_t n;
	char err[512];

	if (keys_get(argv[2], argv[3], &keys, &n) != 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		struct buf rec = BUF_INIT;

		if (dkim_key_dns(&keys[i], &rec, NULL, err, sizeof err) != 0) {
			fprintf(stderr, "dkim_sign: %s\n", err);
			return 1;
		}
		printf("%s\t%s\t%s\n", keys[i].selector, dkim_alg_name(keys[i].alg), rec.s);
		buf_free(&rec);
	}
	dkim_keys_free(keys, n);
	return 0;
}

static void read_all(struct buf *b)
{
	char chunk[8192];
	ssize_t r;

	while ((r = read(0, chunk, sizeof chunk)) > 0)
		buf_append(b, chunk, (size_t)r);
	if (b->s == NULL)
		buf_appends(b, "");
}

/* Where the body starts: after the first empty line (LF or CRLF). */
static size_t body_offset(const struct buf *m)
{
	size_t i = 0;

	while (i < m->len) {
		const char *nl;

		if (m->s[i] == '\n')
			return i + 1;
		if (m->s[i] == '\r' && i + 1 < m->len && m->s[i + 1] == '\n')
			return i + 2;
		nl = memchr(m->s + i, '\n', m->len - i);
		if (nl == NULL)
			break;
		i = (size_t)(nl - m->s) + 1;
	}
	return m->len;
}

static int sign(char **argv)
{
	struct buf msg = BUF_INIT, out = BUF_INIT;
	unsigned char bh[DKIM_HASH_LEN];
	struct dkim_body body;
	struct dkim_key *keys;
	size_t n, boff;
	char err[512];
	int rc = 0;

	if (keys_get(argv[2], argv[3], &keys, &n) != 0)
		return 1;
	read_all(&msg);
	boff = body_offset(&msg);
	/* The body in small odd chunks: boundaries must not matter. */
	if (dkim_body_init(&body, DKIM_CANON_RELAXED, err, sizeof err) != 0)
		goto fail;
	for (size_t i = boff; i < msg.len; i += 7)
		dkim_body_update(&body, msg.s + i, msg.len - i < 7 ? msg.len - i : 7);
	if (dkim_body_final(&body, bh, err, sizeof err) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct dkim_sign_req r = {
			.headers = msg.s, .headers_len = boff, .body_hash = bh,
			.domain = keys[i].domain, .selector = keys[i].selector,
			.key = keys[i].pkey, .timestamp = strtoll(argv[4], NULL, 10),
		};

		if (dkim_sign_field(&r, &out, err, sizeof err) != 0)
			goto fail;
	}
	buf_append(&out, msg.s, msg.len);
	if (fwrite(out.s, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		snprintf(err, sizeof err, "write failed");
		goto fail;
	}
	goto done;
fail:
	fprintf(stderr, "dkim_sign: %s\n", err);
	rc = 1;
done:
	dkim_keys_free(keys, n);
	buf_free(&msg);
	buf_free(&out);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && strcmp(argv[1], "keygen") == 0)
		return keygen(argv, argc);
	if (argc == 4 && strcmp(argv[1], "dns") == 0)
		return dns(argv);
	if (argc == 5 && strcmp(argv[1], "sign") == 0)
		return sign(argv);
	return usage();
}
