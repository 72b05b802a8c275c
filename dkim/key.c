/*
 * key.c: DKIM keys on disk and in DNS: PEM private keys under keys_dir
 * (RSA per RFC 8301 §3.2: at least 1024 bits; Ed25519 per RFC 8463), and
 * the TXT record of RFC 6376 §3.6.1 (RSA: p= is the SubjectPublicKeyInfo;
 * Ed25519, RFC 8463 §4.2: p= is the raw 32-byte public key).
 */
#include "config.h"

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "dns.h"
#include "key.h"
#include "sasl.h"
#include "sys.h"

#define KEY_SUFFIX ".key"

const char *dkim_alg_name(enum dkim_alg alg)
{
	return alg == DKIM_ALG_RSA ? "rsa" : "ed25519";
}

void dkim_openssl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_error_string_n(e, buf, sizeof buf);
	seterr(err, errlen, "%s: %s", what, e ? buf : "unknown error");
	ERR_clear_error();
}

int dkim_key_check(EVP_PKEY *key, char *err, size_t errlen)
{
	int id = key ? EVP_PKEY_base_id(key) : EVP_PKEY_NONE;

	if (id == EVP_PKEY_ED25519)
		return 0;
	if (id != EVP_PKEY_RSA) {
		seterr(err, errlen, "not an RSA or Ed25519 key");
		return -1;
	}
	if (EVP_PKEY_bits(key) < DKIM_RSA_MIN_BITS) {
		seterr(err, errlen, "RSA key of %d bits: at least %d (RFC 8301)",
		    EVP_PKEY_bits(key), DKIM_RSA_MIN_BITS);
		return -1;
	}
	if (EVP_PKEY_bits(key) > DKIM_RSA_MAX_BITS) {
		seterr(err, errlen, "RSA key of %d bits: at most %d",
		    EVP_PKEY_bits(key), DKIM_RSA_MAX_BITS);
		return -1;
	}
	return 0;
}

static char *lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

/* Read one PEM private key from a regular file. */
static EVP_PKEY *pem_read(const char *path, char *err, size_t errlen)
{
	struct stat st;
	EVP_PKEY *pkey;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		fclose(f);
		return NULL;
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pkey == NULL) {
		char why[200];

		dkim_openssl_err(why, sizeof why, "no PEM private key");
		seterr(err, errlen, "%s: %s", path, why);
	}
	return pkey;
}

int dkim_key_load(const char *keys_dir, const char *domain, const char *selector,
    struct dkim_key *k, char *err, size_t errlen)
{
	struct buf path = BUF_INIT;
	char why[200];

	memset(k, 0, sizeof *k);
	if (!dns_name_ok(domain) || !dns_name_ok(selector)) {
		seterr(err, errlen, "bad domain or selector");
		return -1;
	}
	k->domain = lower_dup(domain);
	k->selector = xstrdup(selector);
	buf_printf(&path, "%s/%s/%s%s", keys_dir, k->domain, selector, KEY_SUFFIX);
	k->path = buf_steal(&path);
	k->pkey = pem_read(k->path, err, errlen);
	if (k->pkey == NULL) {
		dkim_key_free(k);
		return -1;
	}
	if (dkim_key_check(k->pkey, why, sizeof why) != 0) {
		seterr(err, errlen, "%s: %s", k->path, why);
		dkim_key_free(k);
		return -1;
	}
	k->alg = EVP_PKEY_base_id(k->pkey) == EVP_PKEY_RSA ? DKIM_ALG_RSA : DKIM_ALG_ED25519;
	return 0;
}

void dkim_key_free(struct dkim_key *k)
{
	EVP_PKEY_free(k->pkey);
	free(k->domain);
	free(k->selector);
	free(k->path);
	memset(k, 0, sizeof *k);
}

/* RSA before Ed25519 (receivers that know only RSA see it first), then selector. */
static int key_order(const void *a, const void *b)
{
	const struct dkim_key *x = a, *y = b;

	if (x->alg != y->alg)
		return x->alg == DKIM_ALG_RSA ? -1 : 1;
	return strcmp(x->selector, y->selector);
}

/* The selector of a directory entry "<selector>.key", or NULL. */
static char *entry_selector(const char *name)
{
	size_t n = strlen(name), sl = strlen(KEY_SUFFIX);
	char *sel;

	if (n <= sl || strcmp(name + n - sl, KEY_SUFFIX) != 0)
		return NULL;
	sel = xstrndup(name, n - sl);
	if (!dns_name_ok(sel)) {
		free(sel);
		return NULL;
	}
	return sel;
}

int dkim_key_list(const char *keys_dir, const char *domain, struct dkim_key **keys,
    size_t *n, char *err, size_t errlen)
{
	struct buf dir = BUF_INIT;
	struct dirent *e;
	DIR *d;
	int failed = 0;

	*keys = NULL;
	*n = 0;
	if (!dns_name_ok(domain)) {
		seterr(err, errlen, "bad domain");
		return -1;
	}
	{
		char *low = lower_dup(domain);

		buf_printf(&dir, "%s/%s", keys_dir, low);
		free(low);
	}
	d = opendir(dir.s);
	if (d == NULL) {
		/* No folder, or a file of that name (notes, a backup): no keys. */
		int rc = errno == ENOENT || errno == ENOTDIR ? 0 : -1;

		if (rc != 0)
			seterr(err, errlen, "%s: %s", dir.s, strerror(errno));
		buf_free(&dir);
		return rc;
	}
	while ((e = readdir(d)) != NULL) {
		char *sel = entry_selector(e->d_name);
		struct dkim_key k;

		if (sel == NULL)
			continue;
		if (dkim_key_load(keys_dir, domain, sel, &k, err, errlen) == 0) {
			*keys = xreallocarray(*keys, *n + 1, sizeof **keys);
			(*keys)[(*n)++] = k;
		} else {
			failed++;
		}
		free(sel);
	}
	closedir(d);
	buf_free(&dir);
	if (*n > 1)
		qsort(*keys, *n, sizeof **keys, key_order);
	return failed;
}

void dkim_keys_free(struct dkim_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dkim_key_free(&keys[i]);
	free(keys);
}

/* A fresh key from OpenSSL's generator. */
static EVP_PKEY *key_make(enum dkim_alg alg, unsigned bits, char *err, size_t errlen)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(alg == DKIM_ALG_RSA ? EVP_PKEY_RSA :
	    EVP_PKEY_ED25519, NULL);
	EVP_PKEY *pkey = NULL;

	if (c == NULL || EVP_PKEY_keygen_init(c) != 1 ||
	    (alg == DKIM_ALG_RSA && EVP_PKEY_CTX_set_rsa_keygen_bits(c, (int)bits) != 1) ||
	    EVP_PKEY_keygen(c, &pkey) != 1) {
		dkim_openssl_err(err, errlen, "key generation");
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	EVP_PKEY_CTX_free(c);
	return pkey;
}

/* mkdir, 0750, and the parent's entry made durable; an existing one is fine. */
static int dir_make(const char *dir, char *err, size_t errlen)
{
	if (mkdir(dir, 0750) != 0) {
		if (errno == EEXIST)
			return 0;
		seterr(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (fsync_dir_of(dir) != 0) {
		seterr(err, errlen, "fsync directory of %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Write the PEM into tmp (0640 whatever the umask), fsync, rename, fsync the dir. */
static int pem_write(EVP_PKEY *pkey, const char *tmp, const char *path,
    char *err, size_t errlen)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data = NULL;
	long len = 0;
	int fd, rc = -1;

	if (mem == NULL || PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(mem, &data)) <= 0) {
		dkim_openssl_err(err, errlen, "PEM encoding");
		BIO_free(mem);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		seterr(err, errlen, "%s: %s", tmp, strerror(errno));
	} else if (fchmod(fd, 0640) != 0 || write_all(fd, data, (size_t)len) != 0 ||
	    fsync(fd) != 0) {
		seterr(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
	} else if (close(fd) != 0 || rename(tmp, path) != 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
	} else if (fsync_dir_of(path) != 0) {
		seterr(err, errlen, "fsync directory of %s: %s", path, strerror(errno));
	} else {
		rc = 0;
	}
	OPENSSL_cleanse(data, (size_t)len);
	BIO_free(mem);
	return rc;
}

int dkim_key_generate(const char *keys_dir, const char *domain, const char *selector,
    enum dkim_alg alg, unsigned bits, struct dkim_key *k, char *err, size_t errlen)
{
	struct buf dir = BUF_INIT, tmp = BUF_INIT;
	struct stat st;
	char *low;
	int rc = -1;

	memset(k, 0, sizeof *k);
	if (bits == 0)
		bits = DKIM_RSA_DEFAULT_BITS;
	if (!dns_name_ok(domain) || !dns_name_ok(selector)) {
		seterr(err, errlen, "bad domain or selector");
		return -1;
	}
	if (alg == DKIM_ALG_RSA && (bits < DKIM_RSA_MIN_BITS || bits > DKIM_RSA_MAX_BITS)) {
		seterr(err, errlen, "RSA key size %u: from %d to %d bits", bits,
		    DKIM_RSA_MIN_BITS, DKIM_RSA_MAX_BITS);
		return -1;
	}
	low = lower_dup(domain);
	buf_printf(&dir, "%s/%s", keys_dir, low);
	k->domain = low;
	k->selector = xstrdup(selector);
	k->alg = alg;
	{
		struct buf path = BUF_INIT;

		buf_printf(&path, "%s/%s%s", dir.s, selector, KEY_SUFFIX);
		k->path = buf_steal(&path);
	}
	buf_printf(&tmp, "%s/.%s%s.tmp.%ld", dir.s, selector, KEY_SUFFIX, (long)getpid());
	if (lstat(k->path, &st) == 0)
		seterr(err, errlen, "%s: exists; a key in use is never replaced", k->path);
	else if (errno != ENOENT)
		seterr(err, errlen, "%s: %s", k->path, strerror(errno));
	else if (dir_make(keys_dir, err, errlen) == 0 && dir_make(dir.s, err, errlen) == 0 &&
	    (k->pkey = key_make(alg, bits, err, errlen)) != NULL &&
	    pem_write(k->pkey, tmp.s, k->path, err, errlen) == 0)
		rc = 0;
	if (rc != 0)
		dkim_key_free(k);
	buf_free(&dir);
	buf_free(&tmp);
	return rc;
}

/* p=: the public key, base64. */
static int public_b64(const struct dkim_key *k, struct buf *out, char *err, size_t errlen)
{
	unsigned char raw[64], *der = NULL;
	const unsigned char *pub = raw;
	size_t len = sizeof raw;
	char *text;
	int n;

	if (k->alg == DKIM_ALG_RSA) {
		if ((n = i2d_PUBKEY(k->pkey, &der)) <= 0) {
			dkim_openssl_err(err, errlen, "public key");
			return -1;
		}
		pub = der;
		len = (size_t)n;
	} else if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &len) != 1) {
		dkim_openssl_err(err, errlen, "public key");
		return -1;
	}
	text = xmalloc(len / 3 * 4 + 5);
	(void)sasl_base64_encode(pub, len, text, len / 3 * 4 + 5);
	buf_appends(out, text);
	free(text);
	OPENSSL_free(der);
	return 0;
}

int dkim_key_dns(const struct dkim_key *k, struct buf *out, struct buf *value,
    char *err, size_t errlen)
{
	struct buf v = BUF_INIT;

	buf_printf(&v, "v=DKIM1; k=%s; p=", dkim_alg_name(k->alg));
	if (public_b64(k, &v, err, errlen) != 0) {
		buf_free(&v);
		return -1;
	}
	buf_printf(out, "%s._domainkey.%s. IN TXT", k->selector, k->domain);
	for (size_t i = 0; i < v.len; i += DKIM_TXT_CHUNK) {
		size_t n = v.len - i < DKIM_TXT_CHUNK ? v.len - i : DKIM_TXT_CHUNK;

		buf_printf(out, " \"%.*s\"", (int)n, v.s + i);
	}
	if (value != NULL)
		buf_append(value, v.s, v.len);
	buf_free(&v);
	return 0;
}
