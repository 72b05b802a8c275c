/*
 * name.c: Maildir file names (docs/PROTOCOL.md, files): unique names in the
 * Dovecot form
 * "<sec>.M<usec>P<pid>Q<n>.<host>,S=<disk>,W=<crlf>[:2,<flags>]", their
 * parsing, the UIDL they give (RFC 1939 §7) and the mailbox path of an
 * address.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "maildir.h"

/*
 * A part of an address may become a directory name only when it is plain
 * printable ASCII, without '/', not "." or ".." in disguise.
 */
static int path_part_ok(const char *p, size_t n)
{
	if (n == 0 || p[0] == '.' || p[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c <= 0x20 || c >= 0x7f || c == '/' || c == '@')
			return 0;
		if (c == '.' && i + 1 < n && p[i + 1] == '.')
			return 0;
	}
	return 1;
}

static void append_lower(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = src[i];

		dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
}

/* root/domain/local: the one place that turns client text into a path. */
int maildir_path_for(const char *root, const char *address, char *out, size_t outlen)
{
	const char *at = strrchr(address, '@');
	size_t rootlen = strlen(root), llen, dlen, need;

	if (outlen > 0)
		out[0] = '\0';
	if (at == NULL || rootlen == 0) {
		errno = EINVAL;
		return -1;
	}
	llen = (size_t)(at - address);
	dlen = strlen(at + 1);
	if (!path_part_ok(address, llen) || !path_part_ok(at + 1, dlen)) {
		errno = EINVAL;
		return -1;
	}
	while (rootlen > 1 && root[rootlen - 1] == '/')
		rootlen--;
	need = rootlen + 1 + dlen + 1 + llen + 1;
	if (need > outlen || need > PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, root, rootlen);
	out[rootlen] = '/';
	append_lower(out + rootlen + 1, at + 1, dlen);
	out[rootlen + 1 + dlen] = '/';
	append_lower(out + rootlen + 2 + dlen, address, llen);
	out[need - 1] = '\0';
	return 0;
}

/*
 * The host part, escaped as the Maildir spec asks for '/' and ':' (and ','
 * too, because our UIDL ends at the first ','), cut to fit room octets
 * without splitting an escape.
 */
static void host_escape(char *out, size_t room)
{
	char host[256];
	size_t o = 0;

	if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
		(void)str_copy(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	for (const char *p = host; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		char esc[5];
		size_t n = 1;

		if (c == '/' || c == ':' || c == ',' || c == '\\') {
			(void)str_format(esc, sizeof esc, "\\%03o", c);
			n = 4;
		} else if (c <= 0x20 || c >= 0x7f) {
			continue;	/* never seen in a host name; keep the UIDL legal */
		} else {
			esc[0] = (char)c;
		}
		if (o + n >= room)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
}

/*
 * Time, pid and a per-process counter make the name unique on this host;
 * the host name makes it unique across hosts sharing the storage.
 */
int maildir_unique_name(char *out, size_t outlen)
{
	static unsigned long counter;
	char host[MAILDIR_UID_MAX + 1];
	struct timeval tv;
	size_t len;

	if (gettimeofday(&tv, NULL) != 0)
		return -1;
	counter++;
	if (str_format(out, outlen, "%lld.M%ldP%ldQ%lu.", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(), counter) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	len = strlen(out);
	if (len >= MAILDIR_UID_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	host_escape(host, MAILDIR_UID_MAX + 1 - len);
	if (str_copy(out + len, outlen - len, host) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* A decimal number of at most 19 digits, the whole of p[0..n). */
static int parse_size(const char *p, size_t n, size_t *out)
{
	unsigned long long v = 0;

	if (n == 0 || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v > SIZE_MAX - 1)
		return -1;
	*out = (size_t)v;
	return 0;
}

/*
 * Read the name without trusting it: it may come from another MDA, or be
 * junk someone dropped into new/.
 */
int maildir_name_parse(const char *name, size_t *uid_len, size_t *disk, size_t *crlf)
{
	size_t len, uid, end, s = (size_t)-1, w = (size_t)-1;
	const char *colon;

	if (name[0] == '\0' || name[0] == '.' || maildir_name_time(name, NULL, NULL) != 0)
		return -1;
	len = strlen(name);
	if (len >= MAILDIR_NAME_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f || c == '/')
			return -1;
	}
	colon = strchr(name, ':');
	end = colon ? (size_t)(colon - name) : len;
	uid = strcspn(name, ",:");
	/* The fields between the unique part and the ':' info: ",S=..,W=..". */
	for (size_t i = uid; i < end;) {
		size_t f = i + 1, fe = f;

		while (fe < end && name[fe] != ',')
			fe++;
		if (fe - f >= 2 && name[f + 1] == '=') {
			size_t v;

			if (parse_size(name + f + 2, fe - f - 2, &v) == 0) {
				if (name[f] == 'S')
					s = v;
				else if (name[f] == 'W')
					w = v;
			}
		}
		i = fe;
	}
	if (uid_len)
		*uid_len = uid;
	if (disk)
		*disk = s;
	if (crlf)
		*crlf = w;
	return 0;
}

/* Seconds, then microseconds from the Courier/Dovecot ".M<usec>" field. */
int maildir_name_time(const char *name, unsigned long long *sec, unsigned long *usec)
{
	unsigned long long s = 0;
	unsigned long u = 0;
	size_t i = 0;

	while (name[i] >= '0' && name[i] <= '9') {
		if (i >= 19)
			return -1;
		s = s * 10 + (unsigned)(name[i] - '0');
		i++;
	}
	if (i == 0 || name[i] != '.')
		return -1;
	i++;
	if (name[i] == 'M') {
		size_t j = i + 1;

		while (name[j] >= '0' && name[j] <= '9' && j - i <= 9)
			u = u * 10 + (unsigned)(name[j++] - '0');
	}
	if (sec)
		*sec = s;
	if (usec)
		*usec = u;
	return 0;
}

/* FNV-1a: no cryptography needed, only a stable, well-spread id. */
static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* The unique part when it is a legal unique-id, else its hash. */
int maildir_msg_uidl(const struct maildir_msg *m, char *out, size_t outlen)
{
	size_t n = m->uid_len;
	int legal = n >= 1 && n <= MAILDIR_UID_MAX;

	for (size_t i = 0; legal && i < n; i++) {
		unsigned char c = (unsigned char)m->name[i];

		if (c < 0x21 || c > 0x7e)
			legal = 0;
	}
	if (legal) {
		if (n >= outlen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(out, m->name, n);
		out[n] = '\0';
		return 0;
	}
	if (str_format(out, outlen, "%016llx",
	    (unsigned long long)fnv1a(m->name, n)) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
