/*
 * signing.c: the DKIM signature on the way in (docs/ADMIN.md,
 * "Deliverability"). A message from an authorized or trusted client whose
 * From: domain has a key is signed before any copy is stored, on the bytes
 * that are stored, so the signature holds in the local Maildirs and after
 * the queue alike. Outsiders' mail is never signed. A failure to sign is
 * logged and the message goes on unsigned: refusing a customer's mail
 * because of our key would help nobody.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "canon.h"
#include "deliver.h"
#include "keyring.h"
#include "log.h"
#include "smtpd.h"

/* Where the message's own header section ends in the memory part (after its last LF). */
static int header_end(const struct deliver_body *body, size_t *end)
{
	const char *p = body->mem.s;
	size_t n = body->mem.len;

	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < n && p[i + 1] == '\n') {
			*end = i + 1;
			return 0;
		}
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n') {
			*end = i + 1;
			return 0;
		}
	}
	if (n > 0 && body->spool < 0) {
		*end = n;	/* headers only, no body */
		return 0;
	}
	return -1;		/* a header section of a megabyte: not ours to sign */
}

/* The relaxed body hash of everything after the header section. */
static int body_hash(const struct deliver_body *body, size_t hend, unsigned char *hash,
    char *err, size_t errlen)
{
	struct dkim_body b;
	size_t at = hend;
	char chunk[65536];
	off_t off = 0;

	if (dkim_body_init(&b, DKIM_CANON_RELAXED, err, errlen) != 0)
		return -1;
	/* The empty line that ends the header section is not the body's. */
	if (at < body->mem.len && body->mem.s[at] == '\n')
		at++;
	else if (at + 1 < body->mem.len && body->mem.s[at] == '\r' && body->mem.s[at + 1] == '\n')
		at += 2;
	dkim_body_update(&b, body->mem.s + at, body->mem.len - at);
	while (body->spool >= 0 && (size_t)off < body->spool_count.disk) {
		ssize_t r = pread(body->spool, chunk, sizeof chunk, off);

		if (r <= 0) {
			snprintf(err, errlen, "spool: %s", r < 0 ? strerror(errno) : "short");
			dkim_body_free(&b);
			return -1;
		}
		dkim_body_update(&b, chunk, (size_t)r);
		off += r;
	}
	return dkim_body_final(&b, hash, err, errlen);
}

int smtp_sign(struct smtp *s, struct buf *header, const struct deliver_body *body)
{
	const struct dkim_keyring *ring = s->ctx->dkim;
	unsigned char hash[DKIM_HASH_LEN];
	struct buf sig = BUF_INIT;
	char domain[256], err[512];
	size_t hend, nkeys;
	int n;

	if (ring == NULL || ring->n == 0 || header_end(body, &hend) != 0)
		return 0;
	if (dkim_from_domain(body->mem.s, hend, domain, sizeof domain) != 0 ||
	    dkim_keyring_find(ring, domain, &nkeys) == NULL)
		return 0;
	if (!smtp_client_authorized(s))
		return 0;	/* an outsider's mail is never signed */
	if (body_hash(body, hend, hash, err, sizeof err) != 0 ||
	    (n = dkim_keyring_sign(ring, body->mem.s, hend, hash, (long long)time(NULL), &sig,
	    err, sizeof err)) < 0) {
		log_error("dkim result=error domain=%s reason=\"%s\"", domain, err);
		buf_free(&sig);
		return 0;
	}
	/* On top of the header block: above our Received:, as a signer adds it. */
	buf_append(&sig, header->s, header->len);
	buf_free(header);
	*header = sig;
	log_info("dkim result=signed domain=%s signatures=%d", domain, n);
	return n;
}
