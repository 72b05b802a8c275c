/*
 * keyring.c: see keyring.h.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "canon.h"
#include "dns.h"
#include "keyring.h"
#include "sign.h"
#include "sys.h"

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int dkim_key_domains(const char *keys_dir, char ***names, size_t *n, char *err,
    size_t errlen)
{
	struct dirent *e;
	size_t cap = 0;
	DIR *d;

	*names = NULL;
	*n = 0;
	if ((d = opendir(keys_dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		seterr(err, errlen, "%s: %s", keys_dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!dns_name_ok(e->d_name))
			continue;	/* ".", "..", temporary files */
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*names = xreallocarray(*names, cap, sizeof **names);
		}
		(*names)[(*n)++] = xstrdup(e->d_name);
	}
	(void)closedir(d);
	if (*n > 1)
		qsort(*names, *n, sizeof **names, name_cmp);
	return 0;
}

void dkim_keyring_free(struct dkim_keyring *ring)
{
	dkim_keys_free(ring->keys, ring->n);
	ring->keys = NULL;
	ring->n = 0;
}

int dkim_keyring_load(const char *keys_dir, struct dkim_keyring *ring, char *err,
    size_t errlen)
{
	char **names;
	size_t n, i;
	int rc = 0;

	ring->keys = NULL;
	ring->n = 0;
	if (dkim_key_domains(keys_dir, &names, &n, err, errlen) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct dkim_key *keys = NULL;
		size_t nk = 0;

		if (rc == 0 && dkim_key_list(keys_dir, names[i], &keys, &nk, err, errlen) != 0)
			rc = -1;	/* err names the file (or the directory) */
		if (rc == 0 && nk > 0) {
			ring->keys = xreallocarray(ring->keys, ring->n + nk, sizeof *ring->keys);
			memcpy(ring->keys + ring->n, keys, nk * sizeof *keys);
			ring->n += nk;
			free(keys);
		} else {
			dkim_keys_free(keys, nk);
		}
		free(names[i]);
	}
	free(names);
	if (rc != 0)
		dkim_keyring_free(ring);
	return rc;
}

const struct dkim_key *dkim_keyring_find(const struct dkim_keyring *ring,
    const char *domain, size_t *n)
{
	size_t i, j;

	*n = 0;
	for (i = 0; i < ring->n; i++)
		if (strcasecmp(ring->keys[i].domain, domain) == 0)
			break;
	for (j = i; j < ring->n && strcasecmp(ring->keys[j].domain, domain) == 0; j++)
		;
	*n = j - i;
	return *n > 0 ? &ring->keys[i] : NULL;
}

/* Skip a (possibly nested) comment starting at p[0] == '('. */
static size_t skip_comment(const char *p, size_t i, size_t end)
{
	int depth = 0;

	for (; i < end; i++) {
		if (p[i] == '\\' && i + 1 < end)
			i++;
		else if (p[i] == '(')
			depth++;
		else if (p[i] == ')' && --depth == 0)
			return i + 1;
	}
	return end;
}

/*
 * The domain of the first mailbox in a From: value: the addr-spec inside
 * <...> if there is one, else the first bare addr-spec; quoted strings and
 * comments never count.
 */
static int mailbox_domain(const char *v, size_t len, char *out, size_t outlen)
{
	size_t i = 0, at = (size_t)-1, start = 0, end;
	int quoted = 0;

	/* An angle address wins: find '<' outside quotes and comments. */
	for (i = 0; i < len; i++) {
		if (quoted) {
			if (v[i] == '\\' && i + 1 < len)
				i++;
			else if (v[i] == '"')
				quoted = 0;
		} else if (v[i] == '"') {
			quoted = 1;
		} else if (v[i] == '(') {
			i = skip_comment(v, i, len) - 1;
		} else if (v[i] == '<') {
			start = i + 1;
			break;
		} else if (v[i] == ',') {
			break;		/* the first mailbox ends here */
		}
	}
	if (i >= len || v[i] != '<')
		start = 0;
	end = start;
	quoted = 0;
	for (i = start; i < len; i++) {
		char c = v[i];

		if (quoted) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '"')
				quoted = 0;
			continue;
		}
		/* After the '@', a comment ends the domain too: "a@b.test(A)". */
		if (at != (size_t)-1 && (c == '>' || c == ',' || c == ' ' || c == '\t' ||
		    c == '\r' || c == '\n' || c == '(' || c == ')' || c == ';'))
			break;
		if (c == '"')
			quoted = 1;
		else if (c == '(')
			i = skip_comment(v, i, len) - 1;
		else if (c == '@')
			at = i;
	}
	end = i;
	if (at == (size_t)-1 || end <= at + 1 || end - at - 1 >= outlen)
		return -1;
	for (i = at + 1; i < end; i++)
		out[i - at - 1] = (char)tolower((unsigned char)v[i]);
	out[end - at - 1] = '\0';
	if (end - at - 1 > 0 && out[end - at - 2] == '.')
		out[end - at - 2] = '\0';
	return dns_name_ok(out) ? 0 : -1;
}

int dkim_from_domain(const char *h, size_t len, char *out, size_t outlen)
{
	size_t i = 0;

	while (i < len) {
		size_t eol = i, vend;

		/* One whole field: its line and the folded ones after it. */
		while (eol < len && h[eol] != '\n')
			eol++;
		if (eol == i || (eol == i + 1 && h[i] == '\r'))
			return -1;	/* the empty line: no From: */
		vend = eol;
		while (vend + 1 < len && (h[vend + 1] == ' ' || h[vend + 1] == '\t')) {
			vend++;
			while (vend < len && h[vend] != '\n')
				vend++;
		}
		if (vend - i > 5 && strncasecmp(h + i, "from", 4) == 0) {
			size_t c = i + 4;

			while (c < vend && (h[c] == ' ' || h[c] == '\t'))
				c++;
			if (c < vend && h[c] == ':')
				return mailbox_domain(h + c + 1, vend - c - 1, out, outlen);
		}
		i = vend + 1;
	}
	return -1;
}

int dkim_keyring_sign(const struct dkim_keyring *ring, const char *headers, size_t len,
    const unsigned char *body_hash, long long now, struct buf *out, char *err,
    size_t errlen)
{
	char domain[256];
	const struct dkim_key *k;
	size_t n, i;

	if (ring == NULL || ring->n == 0 ||
	    dkim_from_domain(headers, len, domain, sizeof domain) != 0)
		return 0;
	if ((k = dkim_keyring_find(ring, domain, &n)) == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		struct dkim_sign_req r = {
			.headers = headers, .headers_len = len, .body_hash = body_hash,
			.domain = k[i].domain, .selector = k[i].selector, .key = k[i].pkey,
			.timestamp = now,
		};

		if (dkim_sign_field(&r, out, err, errlen) != 0)
			return -1;
	}
	return (int)n;
}
