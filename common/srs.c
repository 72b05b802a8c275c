/*
 * srs.c: the Sender Rewriting Scheme (see srs.h for the layout), as pure
 * functions of the secret, the address and the clock; and the secret file.
 * Address forms are RFC 5321 §4.1.2 (dot-atom local parts only) and the
 * size limits §4.5.3.1.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "srs.h"
#include "sys.h"

#define SRS_PREFIX_LEN 5	/* "SRS0=" or "SRS1=" */
#define SRS_DAY 86400
#define SRS_CYCLE 1024		/* two base32 characters of days */

static const char base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char base64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* RFC 5321 atext, ASCII only: the characters a dot-atom is made of. */
static int is_atext(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* A dot-atom: what can stand unquoted before the '@' of an SRS address. */
static int local_ok(const char *p, size_t n)
{
	if (n == 0 || p[0] == '.' || p[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '.' ? p[i + 1] == '.' : !is_atext(p[i]))
			return 0;
	}
	return 1;
}

/*
 * A host name: letters, digits, '-', '_' and single dots. No address
 * literal: "[192.0.2.1]" cannot stand in a dot-atom local part, and no
 * '=' so that the fields of an SRS address split one way only.
 */
static int domain_ok(const char *p, size_t n)
{
	if (n == 0 || p[0] == '.' || p[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = lower(p[i]);

		if (c == '.' ? p[i + 1] == '.' :
		    !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/*
 * "SRS0=" or "SRS1=" in any case: 0 or 1, -1 when neither. seps are the
 * separators taken after "SRS0": we make '=' only; libsrs2 also '+', '-'.
 */
static int srs_kind(const char *local, size_t n, const char *seps)
{
	if (n < SRS_PREFIX_LEN || lower(local[0]) != 's' ||
	    lower(local[1]) != 'r' || lower(local[2]) != 's' ||
	    (local[3] != '0' && local[3] != '1') || local[4] == '\0' ||
	    strchr(seps, local[4]) == NULL)
		return -1;
	return local[3] - '0';
}

/*
 * The hash field: the first SRS_HASH_LEN base64 characters of
 * HMAC-SHA256(secret, the lower-cased message). The message is at most an
 * SRS local part, so a fixed buffer holds its lower-cased copy.
 */
static int hash_make(const unsigned char *secret, size_t secretlen,
    const char *msg, size_t msglen, char hash[SRS_HASH_LEN + 1])
{
	unsigned char lc[SRS_LOCAL_MAX];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (msglen > sizeof lc || secretlen > INT_MAX)
		return -1;
	for (size_t i = 0; i < msglen; i++)
		lc[i] = (unsigned char)lower(msg[i]);
	if (HMAC(EVP_sha256(), secret, (int)secretlen, lc, msglen, md,
	    &mdlen) == NULL || mdlen < 3)
		return -1;
	/* Four base64 characters are the first three bytes, 6 bits each. */
	hash[0] = base64[md[0] >> 2];
	hash[1] = base64[((md[0] & 0x03) << 4) | (md[1] >> 4)];
	hash[2] = base64[((md[1] & 0x0f) << 2) | (md[2] >> 6)];
	hash[3] = base64[md[2] & 0x3f];
	hash[SRS_HASH_LEN] = '\0';
	return 0;
}

/* Today's day number in the 1024-day cycle of the timestamp. */
static unsigned day_of(time_t now)
{
	return now < 0 ? 0 : (unsigned)((now / SRS_DAY) % SRS_CYCLE);
}

/* The value of one timestamp character, any case; -1 if not base32. */
static int base32_value(char c)
{
	const char *p = c != '\0' ? strchr(base32, c >= 'a' && c <= 'z' ?
	    c - 'a' + 'A' : c) : NULL;

	return p != NULL ? (int)(p - base32) : -1;
}

/*
 * Put the SRS local part into out: msg is it without the hash field
 * ("SRS0=TT=domain=local" or "SRS1=host=rest"); the hash goes after the
 * prefix, then "@" srs_domain.
 */
static enum srs_result srs_build(const unsigned char *secret,
    size_t secretlen, const char *msg, const char *srs_domain,
    char *out, size_t outlen)
{
	char hash[SRS_HASH_LEN + 1];
	size_t msglen = strlen(msg);

	if (msglen + SRS_HASH_LEN + 1 > SRS_LOCAL_MAX)
		return SRS_TOO_LONG;
	if (hash_make(secret, secretlen, msg, msglen, hash) == -1)
		return SRS_MALFORMED;
	if (msglen + SRS_HASH_LEN + 2 + strlen(srs_domain) > SRS_ADDRESS_MAX ||
	    str_format(out, outlen, "%.*s%s=%s@%s", SRS_PREFIX_LEN, msg, hash,
	    msg + SRS_PREFIX_LEN, srs_domain) == -1)
		return SRS_TOO_LONG;
	return SRS_OK;
}

/*
 * The message to hash for a sender that is already SRS (libsrs2's rule):
 * SRS0 at host gives "SRS1=host=" and what followed "SRS0"; SRS1 keeps the
 * first forwarder's host and what followed it, and drops the old hash.
 */
static enum srs_result srs1_message(int kind, const char *local,
    size_t llen, const char *host, size_t hlen, char *msg, size_t msglen)
{
	const char *rest = local + SRS_PREFIX_LEN - 1;	/* from the '=' */
	const char *end = local + llen;

	if (kind == 1) {
		const char *sep = memchr(local + SRS_PREFIX_LEN, '=',
		    llen - SRS_PREFIX_LEN);

		host = sep != NULL ? sep + 1 : end;
		sep = memchr(host, '=', (size_t)(end - host));
		if (sep == NULL)
			return SRS_MALFORMED;
		hlen = (size_t)(sep - host);
		rest = sep + 1;
	}
	if (!domain_ok(host, hlen) || rest == end)
		return SRS_MALFORMED;
	if (str_format(msg, msglen, "SRS1=%.*s=%.*s", (int)hlen, host,
	    (int)(end - rest), rest) == -1)
		return SRS_TOO_LONG;
	return SRS_OK;
}

enum srs_result srs_forward(const unsigned char *secret, size_t secretlen,
    const char *srs_domain, const char *sender, time_t now,
    char *out, size_t outlen)
{
	char msg[SRS_LOCAL_MAX + 1];
	const char *at = strrchr(sender, '@');
	size_t llen, hlen;
	enum srs_result r;
	int kind;

	if (outlen == 0)
		return SRS_TOO_LONG;
	out[0] = '\0';
	if (sender[0] == '\0' || strcmp(sender, "<>") == 0)
		return SRS_OK;		/* a bounce stays a bounce */
	if (at == NULL || !domain_ok(srs_domain, strlen(srs_domain)))
		return SRS_MALFORMED;
	llen = (size_t)(at - sender);
	hlen = strlen(at + 1);
	if (!local_ok(sender, llen) || !domain_ok(at + 1, hlen))
		return SRS_MALFORMED;
	if (strcasecmp(at + 1, srs_domain) == 0) {
		if (str_copy(out, outlen, sender) == 0)
			return SRS_OK;	/* SPF passes for it as it is */
		out[0] = '\0';
		return SRS_TOO_LONG;
	}
	kind = srs_kind(sender, llen, "=+-");
	if (kind >= 0) {
		r = srs1_message(kind, sender, llen, at + 1, hlen, msg,
		    sizeof msg);
	} else {
		unsigned day = day_of(now);

		r = str_format(msg, sizeof msg, "SRS0=%c%c=%s=%.*s",
		    base32[day >> 5], base32[day & 31], at + 1, (int)llen,
		    sender) == 0 ? SRS_OK : SRS_TOO_LONG;
	}
	if (r == SRS_OK)
		r = srs_build(secret, secretlen, msg, srs_domain, out, outlen);
	if (r != SRS_OK)
		out[0] = '\0';
	return r;
}

/* Is the hash field of an SRS local part the one the secret gives? */
static enum srs_result hash_check(const unsigned char *secret,
    size_t secretlen, const char *local, size_t llen)
{
	char msg[SRS_LOCAL_MAX];
	char want[SRS_HASH_LEN + 1], got[SRS_HASH_LEN];
	const char *hash = local + SRS_PREFIX_LEN;
	size_t msglen = llen - SRS_HASH_LEN - 1;

	memcpy(msg, local, SRS_PREFIX_LEN);
	memcpy(msg + SRS_PREFIX_LEN, hash + SRS_HASH_LEN + 1,
	    msglen - SRS_PREFIX_LEN);
	if (hash_make(secret, secretlen, msg, msglen, want) == -1)
		return SRS_MALFORMED;
	/* Any case, as libsrs2: the address may come back case-folded. */
	for (size_t i = 0; i < SRS_HASH_LEN; i++) {
		got[i] = lower(hash[i]);
		want[i] = lower(want[i]);
	}
	return CRYPTO_memcmp(got, want, SRS_HASH_LEN) == 0 ? SRS_OK :
	    SRS_BAD_HASH;
}

/* Made at most SRS_MAX_AGE_DAYS days ago, or tomorrow (clock skew). */
static enum srs_result stamp_check(const char *tt, time_t now)
{
	int hi = base32_value(tt[0]), lo = base32_value(tt[1]);
	unsigned then, age;

	if (hi < 0 || lo < 0)
		return SRS_MALFORMED;
	then = (unsigned)(hi << 5 | lo);
	age = (day_of(now) + SRS_CYCLE - then) % SRS_CYCLE;
	return age <= SRS_MAX_AGE_DAYS || age == SRS_CYCLE - 1 ? SRS_OK :
	    SRS_EXPIRED;
}

/* The fields after the hash, split at '=': n of them, the last the rest. */
static int fields_split(const char *p, const char *end, const char **f,
    size_t *flen, int n)
{
	for (int i = 0; i < n; i++) {
		const char *sep = i < n - 1 ? memchr(p, '=',
		    (size_t)(end - p)) : end;

		if (sep == NULL || sep == p)
			return -1;
		f[i] = p;
		flen[i] = (size_t)(sep - p);
		p = sep < end ? sep + 1 : end;
	}
	return 0;
}

enum srs_result srs_reverse(const unsigned char *secret, size_t secretlen,
    const char *address, time_t now, char *out, size_t outlen)
{
	const char *at = strrchr(address, '@');
	size_t llen = at != NULL ? (size_t)(at - address) : strlen(address);
	const char *end = address + llen;
	const char *hashend, *f[3];
	size_t flen[3];
	enum srs_result r;
	int kind = srs_kind(address, llen, "=");

	if (outlen > 0)
		out[0] = '\0';
	if (kind < 0)
		return SRS_NOT_SRS;
	hashend = address + SRS_PREFIX_LEN + SRS_HASH_LEN;
	if (llen > SRS_LOCAL_MAX || llen < SRS_PREFIX_LEN + SRS_HASH_LEN + 1 ||
	    *hashend != '=' || memchr(address + SRS_PREFIX_LEN, '=',
	    SRS_HASH_LEN) != NULL ||
	    fields_split(hashend + 1, end, f, flen, kind == 0 ? 3 : 2) == -1)
		return SRS_MALFORMED;
	if (kind == 0 ? flen[0] != 2 || base32_value(f[0][0]) < 0 ||
	    base32_value(f[0][1]) < 0 || !domain_ok(f[1], flen[1]) ||
	    !local_ok(f[2], flen[2]) :
	    !domain_ok(f[0], flen[0]) || !local_ok(f[1], flen[1]))
		return SRS_MALFORMED;
	r = hash_check(secret, secretlen, address, llen);
	if (r == SRS_OK && kind == 0)
		r = stamp_check(f[0], now);
	if (r != SRS_OK)
		return r;
	if (kind == 0 ? str_format(out, outlen, "%.*s@%.*s", (int)flen[2],
	    f[2], (int)flen[1], f[1]) : str_format(out, outlen,
	    "SRS0%.*s@%.*s", (int)flen[1], f[1], (int)flen[0], f[0])) {
		if (outlen > 0)
			out[0] = '\0';
		return SRS_TOO_LONG;
	}
	return SRS_OK;
}

const char *srs_result_name(enum srs_result r)
{
	switch (r) {
	case SRS_OK: return "ok";
	case SRS_NOT_SRS: return "not_srs";
	case SRS_BAD_HASH: return "bad_hash";
	case SRS_EXPIRED: return "expired";
	case SRS_MALFORMED: return "malformed";
	case SRS_TOO_LONG: return "too_long";
	}
	return "unknown";
}

/*
 * Read the secret from an open file, refusing one that others may read:
 * with the secret anyone can make bounce addresses we deliver anywhere.
 */
static int secret_read_fd(int fd, const char *path, struct srs_secret *s,
    char *err, size_t errlen)
{
	unsigned char buf[SRS_SECRET_MAX + 1];
	struct stat st;
	size_t n = 0;

	if (fstat(fd, &st) == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		seterr(err, errlen, "%s: group or others may use it (mode "
		    "%04o): it holds the SRS secret; chmod 0600 it", path,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	/* One byte more than the most we take, to see a file too long. */
	for (;;) {
		ssize_t got = read(fd, buf + n, sizeof buf - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			seterr(err, errlen, "%s: %s", path, strerror(errno));
			OPENSSL_cleanse(buf, sizeof buf);
			return -1;
		}
		if (got == 0 || (n += (size_t)got) == sizeof buf)
			break;
	}
	if (n < SRS_SECRET_MIN || n > SRS_SECRET_MAX) {
		seterr(err, errlen, "%s: the SRS secret must have %d to %d "
		    "bytes", path, SRS_SECRET_MIN, SRS_SECRET_MAX);
		OPENSSL_cleanse(buf, sizeof buf);
		return -1;
	}
	memcpy(s->key, buf, n);
	OPENSSL_cleanse(buf, sizeof buf);
	s->len = n;
	return 0;
}

/* getrandom(2) until n bytes: it blocks only before the pool is ready. */
static int random_fill(unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/*
 * Write a new secret to a temporary file beside path and link it into
 * place: link(2), not rename(2), so that a secret another start made in
 * the meantime is kept (and read) rather than replaced.
 */
static int secret_create(const char *path, struct srs_secret *s,
    char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	int fd, e;

	if (str_format(tmp, sizeof tmp, "%s.tmpXXXXXX", path) == -1) {
		seterr(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd == -1) {
		seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (random_fill(s->key, SRS_SECRET_LEN) == -1) {
		seterr(err, errlen, "getrandom: %s", strerror(errno));
		goto fail;
	}
	if (fchmod(fd, 0600) == -1 ||
	    write_all(fd, s->key, SRS_SECRET_LEN) == -1 || fsync(fd) == -1) {
		seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	e = close(fd);
	fd = -1;
	if (e == -1 || link(tmp, path) == -1) {
		e = errno;
		(void)unlink(tmp);
		OPENSSL_cleanse(s->key, sizeof s->key);
		if (e == EEXIST)
			return srs_secret_load(path, 0, s, err, errlen);
		seterr(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	if (unlink(tmp) == -1 || fsync_dir_of(path) == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	s->len = SRS_SECRET_LEN;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp);
	OPENSSL_cleanse(s->key, sizeof s->key);
	return -1;
}

int srs_secret_load(const char *path, int create_if_missing,
    struct srs_secret *secret, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r;

	secret->len = 0;
	if (fd == -1 && errno == ENOENT && create_if_missing)
		return secret_create(path, secret, err, errlen);
	if (fd == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	r = secret_read_fd(fd, path, secret, err, errlen);
	close(fd);
	return r;
}
