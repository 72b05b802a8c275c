/*
 * conf.c: read the libconfig file of ispmaild.conf(5) once, check every key,
 * type and range, fill in the defaults, and hand back a plain struct conf.
 * Anything written wrong is an error naming file, line and key; nothing is
 * silently replaced by a default.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <libconfig.h>

#include "buf.h"
#include "conf.h"

/* A day: longer timeouts are a typo, and seconds * 1000 must fit an int. */
#define CONF_TIMEOUT_MAX 86400
#include "net.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

#define CONF_KEY_MAX 128	/* "listen[12].min_version" and the like */
#define CONF_VALUE_SHOW 80	/* how much of a bad value an error quotes */

static const char *const service_names[SERVICE_COUNT] = {
	[SERVICE_SMTP] = "smtp",
	[SERVICE_SUBMISSION] = "submission",
	[SERVICE_SMTPS] = "smtps",
	[SERVICE_POP3] = "pop3",
	[SERVICE_POP3S] = "pop3s",
	[SERVICE_METRICS] = "metrics",
};

static const char *const tls_versions[] = {
	"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", NULL
};

/* What a conf_load call carries around: where we are and the first error. */
struct ctx {
	const char *file;	/* as the caller named it, for messages */
	char *dir;		/* absolute directory of the file */
	char *err;
	size_t errlen;
	struct conf *c;
};

/* ---- errors ---- */

/*
 * Copy s for an error message: at most CONF_VALUE_SHOW bytes, control
 * characters as '?', so that one error stays one line.
 */
static void conf_show(struct buf *b, const char *s)
{
	size_t i;

	buf_appendc(b, '"');
	for (i = 0; s[i] != '\0' && i < CONF_VALUE_SHOW; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf_appendc(b, ch < 0x20 || ch == 0x7f ? '?' : (char)ch);
	}
	if (s[i] != '\0')
		buf_appends(b, "...");
	buf_appendc(b, '"');
}

/*
 * The file a setting came from. libconfig records an @include by the name
 * written in it, which it opened relative to the include directory (the
 * main file's directory), so say that.
 */
static void conf_source_file(const struct ctx *x, const config_setting_t *s, struct buf *b)
{
	const char *file = s != NULL ? config_setting_source_file(s) : NULL;

	if (file == NULL || strcmp(file, x->file) == 0)
		buf_appends(b, x->file);
	else if (file[0] == '/')
		buf_appends(b, file);
	else
		buf_printf(b, "%s/%s", x->dir, file);
}

/*
 * "file:line: key: message". The file and line come from the setting, so
 * a key in an @include'd file names that file. Always returns -1.
 */
static int conf_fail(struct ctx *x, const config_setting_t *s, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int conf_fail(struct ctx *x, const config_setting_t *s, const char *key,
    const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	conf_source_file(x, s, &b);
	if (s != NULL && config_setting_source_line(s) > 0)
		buf_printf(&b, ":%u", (unsigned)config_setting_source_line(s));
	buf_appends(&b, ": ");
	if (key != NULL && *key != '\0')
		buf_printf(&b, "%s: ", key);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (x->errlen > 0)
		(void)str_copy(x->err, x->errlen, b.s);
	buf_free(&b);
	return -1;
}

/* Same, with a quoted value in the middle: key: what "value"[: why]. */
static int conf_fail_value(struct ctx *x, const config_setting_t *s, const char *key,
    const char *what, const char *value, const char *why)
{
	struct buf b = BUF_INIT;
	int r;

	buf_printf(&b, "%s ", what);
	conf_show(&b, value);
	if (why != NULL)
		buf_printf(&b, ": %s", why);
	r = conf_fail(x, s, key, "%s", b.s);
	buf_free(&b);
	return r;
}

/* "limits" + "max_per_ip" -> "limits.max_per_ip"; "" + "hostname" -> "hostname". */
static const char *conf_key(char *out, size_t outlen, const char *prefix, const char *name)
{
	if (*prefix == '\0')
		(void)str_copy(out, outlen, name);
	else
		(void)str_format(out, outlen, "%s.%s", prefix, name);
	return out;
}

/* ---- generic getters ---- */

/*
 * Every member of g must be one of names; the first one that is not is the
 * error (a misspelt key silently ignored is a default the admin did not ask for).
 */
static int conf_check_keys(struct ctx *x, const config_setting_t *g,
    const char *prefix, const char *const *names)
{
	char key[CONF_KEY_MAX];

	if (g == NULL)
		return 0;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		size_t j;

		if (name == NULL)
			continue;
		for (j = 0; names[j] != NULL; j++)
			if (strcmp(names[j], name) == 0)
				break;
		if (names[j] == NULL)
			return conf_fail(x, m, conf_key(key, sizeof key, prefix, name),
			    "unknown key");
	}
	return 0;
}

/* A nested group: NULL when absent, an error when it is not { ... }. */
static int conf_group(struct ctx *x, const config_setting_t *parent, const char *name,
    config_setting_t **out)
{
	config_setting_t *g = config_setting_get_member(parent, name);

	*out = NULL;
	if (g == NULL)
		return 0;
	if (!config_setting_is_group(g))
		return conf_fail(x, g, name, "expected a group { ... }");
	*out = g;
	return 0;
}

/* The member's string, or NULL when absent; empty strings only with allow_empty. */
static int conf_string(struct ctx *x, const config_setting_t *g, const char *prefix,
    const char *name, int allow_empty, config_setting_t **sp, const char **out)
{
	char key[CONF_KEY_MAX];
	config_setting_t *s = g != NULL ? config_setting_get_member(g, name) : NULL;

	*out = NULL;
	if (sp != NULL)
		*sp = s;
	if (s == NULL)
		return 0;
	conf_key(key, sizeof key, prefix, name);
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return conf_fail(x, s, key, "expected a string");
	*out = config_setting_get_string(s);
	if (!allow_empty && **out == '\0')
		return conf_fail(x, s, key, "must not be empty");
	return 0;
}

/* Replace *dst with a copy of the member's string when it is present. */
static int conf_string_set(struct ctx *x, const config_setting_t *g, const char *prefix,
    const char *name, int allow_empty, char **dst)
{
	const char *v;

	if (conf_string(x, g, prefix, name, allow_empty, NULL, &v) < 0)
		return -1;
	if (v != NULL) {
		free(*dst);
		*dst = xstrdup(v);
	}
	return 0;
}

/* Is c part of a libconfig setting name? */
static int conf_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*';
}

/*
 * libconfig 1.5 keeps an integer literal without an L suffix in an int and
 * silently wraps what does not fit: "message_size = 4294967396;" reads as
 * 100. Read the literals written for name on the setting's line again and
 * hand back the first one that does not fit an int, so that a wrapped value
 * is an error and never used. 0 when all fit (or the line cannot be read).
 */
static int conf_int_overflow(const struct ctx *x, const config_setting_t *s,
    const char *name, char *lit, size_t litlen)
{
	struct buf path = BUF_INIT;
	FILE *fp;
	char *line = NULL;
	size_t cap = 0, nlen = strlen(name);
	unsigned want = config_setting_source_line(s), n = 0;
	int found = 0;

	conf_source_file(x, s, &path);
	fp = fopen(path.s, "r");
	buf_free(&path);
	if (fp == NULL)
		return 0;
	while (n < want && getline(&line, &cap, fp) >= 0)
		n++;
	(void)fclose(fp);	/* read-only */
	for (const char *p = n == want && line != NULL ? line : "";
	    !found && (p = strstr(p, name)) != NULL; p += nlen) {
		const char *v = p + nlen, *digits;
		long long val;
		char *end;
		int base = 10;

		if ((p > line && conf_name_char(p[-1])) || conf_name_char(*v))
			continue;
		v += strspn(v, " \t");
		if (*v != '=' && *v != ':')
			continue;
		v += 1 + strspn(v + 1, " \t");
		digits = v + (*v == '-' || *v == '+');
		if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
			base = 16;
		errno = 0;
		val = strtoll(v, &end, base);
		if (end == v || *end == 'L' || *end == 'l')
			continue;
		if (errno == ERANGE || val < INT_MIN || val > INT_MAX) {
			(void)str_format(lit, litlen, "%.*s", (int)(end - v), v);
			found = 1;
		}
	}
	free(line);
	return found;
}

/* An integer in min..max (int or int64 in the file); *dst untouched when absent. */
static int conf_long(struct ctx *x, const config_setting_t *g, const char *prefix,
    const char *name, long long min, long long max, long *dst)
{
	char key[CONF_KEY_MAX], lit[64];
	config_setting_t *s = g != NULL ? config_setting_get_member(g, name) : NULL;
	long long v;

	if (s == NULL)
		return 0;
	conf_key(key, sizeof key, prefix, name);
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return conf_fail(x, s, key, "expected an integer");
	if (config_setting_type(s) == CONFIG_TYPE_INT &&
	    conf_int_overflow(x, s, name, lit, sizeof lit))
		return conf_fail(x, s, key, "must be from %lld to %lld, not %s", min, max, lit);
	v = config_setting_get_int64(s);
	if (v < min || v > max)
		return conf_fail(x, s, key, "must be from %lld to %lld, not %lld", min, max, v);
	*dst = (long)v;
	return 0;
}

/* true or false, nothing else (not 1, not "yes"). */
static int conf_bool(struct ctx *x, const config_setting_t *g, const char *prefix,
    const char *name, int *dst)
{
	char key[CONF_KEY_MAX];
	config_setting_t *s = g != NULL ? config_setting_get_member(g, name) : NULL;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return conf_fail(x, s, conf_key(key, sizeof key, prefix, name),
		    "expected true or false");
	*dst = config_setting_get_bool(s) ? 1 : 0;
	return 0;
}

/* [ "a", "b" ] or ( "a", "b" ); NULL when absent. */
static int conf_list(struct ctx *x, const config_setting_t *g, const char *prefix,
    const char *name, config_setting_t **out)
{
	char key[CONF_KEY_MAX];
	config_setting_t *s = g != NULL ? config_setting_get_member(g, name) : NULL;

	*out = NULL;
	if (s == NULL)
		return 0;
	conf_key(key, sizeof key, prefix, name);
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return conf_fail(x, s, key, "expected a list [ ... ]");
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return conf_fail(x, e, key, "element %d is not a string", i + 1);
	}
	*out = s;
	return 0;
}

/* ---- paths ---- */

/* dir + "/" + rel, without a leading "./" in rel. */
static char *conf_path_join(const char *dir, const char *rel)
{
	struct buf b = BUF_INIT;

	while (rel[0] == '.' && rel[1] == '/') {
		rel += 2;
		while (*rel == '/')
			rel++;
	}
	if (strcmp(rel, ".") == 0)
		rel = "";
	buf_appends(&b, dir);
	if (*rel != '\0') {
		if (b.len == 0 || b.s[b.len - 1] != '/')
			buf_appendc(&b, '/');
		buf_appends(&b, rel);
	}
	return buf_steal(&b);
}

/*
 * The absolute directory of the configuration file: relative paths in it
 * mean "next to this file", whatever the daemon's working directory is
 * later (it changes to / when it detaches).
 */
static char *conf_file_dir(const char *path, char **abs_out)
{
	char *abs, *slash, *dir;

	if (path[0] == '/') {
		abs = xstrdup(path);
	} else {
		char *cwd = getcwd(NULL, 0);

		if (cwd == NULL)
			return NULL;
		abs = conf_path_join(cwd, path);
		free(cwd);
	}
	slash = strrchr(abs, '/');
	dir = slash == abs ? xstrdup("/") : xstrndup(abs, (size_t)(slash - abs));
	*abs_out = abs;
	return dir;
}

/* A path key: non-empty; a relative one is made absolute against the file's directory. */
static int conf_path(struct ctx *x, const config_setting_t *g, const char *prefix,
    const char *name, char **dst)
{
	const char *v;

	if (conf_string(x, g, prefix, name, 0, NULL, &v) < 0)
		return -1;
	if (v == NULL)
		return 0;
	free(*dst);
	*dst = v[0] == '/' ? xstrdup(v) : conf_path_join(x->dir, v);
	return 0;
}

/* ---- domains and host names ---- */

/*
 * Letters, digits and '-' in dot-separated labels of 1..63 octets, no
 * label starting or ending with '-', at most 253 octets: the RFC 1123
 * host name. No trailing dot here; callers strip one.
 */
static int conf_hostname_valid(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-'))
			return 0;
		if (ch == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[len - 1] != '-';
}

/* Lower case, one trailing dot removed; NULL when it is not a host name. */
static char *conf_domain_normalise(const char *s)
{
	size_t len = strlen(s);
	char *d;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (!conf_hostname_valid(s, len))
		return NULL;
	d = xstrndup(s, len);
	for (size_t i = 0; i < len; i++)
		if (d[i] >= 'A' && d[i] <= 'Z')
			d[i] = (char)(d[i] - 'A' + 'a');
	return d;
}

/* The EHLO name; it lands in greetings and Received lines, so it must be clean. */
static int conf_hostname(struct ctx *x, const config_setting_t *root)
{
	config_setting_t *s;
	const char *v;
	char name[256];
	size_t len;

	if (conf_string(x, root, "", "hostname", 0, &s, &v) < 0)
		return -1;
	if (v == NULL) {
		if (gethostname(name, sizeof name) < 0)
			return conf_fail(x, NULL, "hostname",
			    "not set, and gethostname() failed: %s", strerror(errno));
		name[sizeof name - 1] = '\0';
		v = name;
	}
	len = strlen(v);
	if (len > 0 && v[len - 1] == '.')
		len--;
	if (!conf_hostname_valid(v, len))
		return conf_fail_value(x, s, "hostname", "bad host name", v,
		    s != NULL ? NULL : "from gethostname(); set hostname");
	x->c->hostname = xstrndup(v, len);
	return 0;
}

/* The local domains, normalised once so that lookups compare plain strings. */
static int conf_domains(struct ctx *x, const config_setting_t *root)
{
	struct conf *c = x->c;
	config_setting_t *s;
	int n;

	if (conf_list(x, root, "", "domains", &s) < 0)
		return -1;
	if (s == NULL) {
		/* The host name is a valid domain already: conf_hostname checked it. */
		c->domains = xcalloc(1, sizeof *c->domains);
		c->domains[0] = conf_domain_normalise(c->hostname);
		c->ndomains = 1;
		return 0;
	}
	n = config_setting_length(s);
	if (n == 0)
		return conf_fail(x, s, "domains", "empty list; name at least one local domain");
	c->domains = xcalloc((size_t)n, sizeof *c->domains);
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		char *d = conf_domain_normalise(v);

		if (d == NULL)
			return conf_fail_value(x, e, "domains", "bad domain", v, NULL);
		for (size_t j = 0; j < c->ndomains; j++) {
			if (strcmp(c->domains[j], d) == 0) {
				free(d);
				return conf_fail_value(x, e, "domains", "duplicate domain", v, NULL);
			}
		}
		c->domains[c->ndomains++] = d;
	}
	return 0;
}

/* ---- host:port syntax ---- */

/* 1..65535 in plain decimal digits. */
static int conf_port_parse(const char *s, int *port)
{
	long v = 0;
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		if (s[n] < '0' || s[n] > '9' || n >= 5)
			return -1;
		v = v * 10 + (s[n] - '0');
	}
	if (n == 0 || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/*
 * Split "[host]:port", "host:port", "[host]" or "host" into host, port
 * (or def_port) and whether it was bracketed. No validation of host.
 */
static int conf_hostport_split(const char *text, char *host, size_t hostlen,
    int def_port, int *port, int *bracketed)
{
	const char *end, *colon;
	size_t hlen;

	*port = def_port;
	*bracketed = text[0] == '[';
	if (*bracketed) {
		end = strchr(text, ']');
		if (end == NULL)
			return -1;
		hlen = (size_t)(end - text - 1);
		text++;
		colon = end[1] == '\0' ? NULL : end + 1;
		if (colon != NULL && *colon != ':')
			return -1;
	} else {
		colon = strchr(text, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			/* Two colons: a bare IPv6 address, which has no port. */
			colon = NULL;
		}
		hlen = colon != NULL ? (size_t)(colon - text) : strlen(text);
	}
	if (hlen == 0 || hlen >= hostlen)
		return -1;
	if (colon != NULL && conf_port_parse(colon + 1, port) < 0)
		return -1;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	return 0;
}

int conf_smarthost_parse(const char *text, char *host, size_t hostlen, int *port, int *mx)
{
	char h[256];
	int bracketed;
	struct cidr a;

	if (text == NULL || conf_hostport_split(text, h, sizeof h, 25, port, &bracketed) < 0)
		return -1;
	if (bracketed) {
		/* [name] or [address]: connect to exactly that, no MX lookup. */
		if (net_addr_parse(h, &a) < 0 && !conf_hostname_valid(h, strlen(h)))
			return -1;
	} else {
		if (strchr(h, ':') != NULL || !conf_hostname_valid(h, strlen(h)))
			return -1;
	}
	if (mx != NULL)
		*mx = !bracketed && net_addr_parse(h, &a) < 0;
	return str_copy(host, hostlen, h);
}

int conf_nameserver_parse(const char *text, char *addr, size_t addrlen, int *port)
{
	char h[NET_ADDR_MAX];
	int bracketed;
	struct cidr a;

	if (text == NULL || conf_hostport_split(text, h, sizeof h, 53, port, &bracketed) < 0)
		return -1;
	if (net_addr_parse(h, &a) < 0)
		return -1;
	net_addr_text(&a, addr, addrlen);
	return addr[0] != '\0' ? 0 : -1;
}

/* ---- sections ---- */

/* min_version: one of the names OpenSSL's protocol setting knows. */
static int conf_tls_version(struct ctx *x, const config_setting_t *g, const char *prefix,
    char **dst)
{
	char key[CONF_KEY_MAX];
	config_setting_t *s;
	const char *v;

	if (conf_string(x, g, prefix, "min_version", 0, &s, &v) < 0)
		return -1;
	if (v == NULL)
		return 0;
	for (size_t i = 0; tls_versions[i] != NULL; i++) {
		if (strcmp(v, tls_versions[i]) == 0) {
			free(*dst);
			*dst = xstrdup(v);
			return 0;
		}
	}
	return conf_fail_value(x, s, conf_key(key, sizeof key, prefix, "min_version"),
	    "unknown TLS version", v, "use TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3");
}

/* The optional tls block; present means TLS is offered, so it must be complete. */
static int conf_tls(struct ctx *x, const config_setting_t *root)
{
	static const char *const keys[] = {
		"certificate", "private_key", "min_version", "ciphers", NULL
	};
	struct tls_conf *t = &x->c->tls;
	config_setting_t *g;

	t->min_version = xstrdup("TLSv1.2");
	if (conf_group(x, root, "tls", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;	/* no TLS offered anywhere */
	if (conf_check_keys(x, g, "tls", keys) < 0 ||
	    conf_path(x, g, "tls", "certificate", &t->certificate) < 0 ||
	    conf_path(x, g, "tls", "private_key", &t->private_key) < 0 ||
	    conf_tls_version(x, g, "tls", &t->min_version) < 0 ||
	    conf_string_set(x, g, "tls", "ciphers", 0, &t->ciphers) < 0)
		return -1;
	if (t->certificate == NULL)
		return conf_fail(x, g, "tls.certificate", "missing; the tls block needs it");
	if (t->private_key == NULL)
		return conf_fail(x, g, "tls.private_key", "missing; the tls block needs it");
	t->enabled = 1;
	return 0;
}

/* A list of networks replacing *dst when present. */
static int conf_netlist(struct ctx *x, const config_setting_t *g, const char *name,
    struct netlist *dst)
{
	char key[CONF_KEY_MAX];
	config_setting_t *s;
	struct netlist l = { NULL, 0 };
	int n;

	if (conf_list(x, g, "relay", name, &s) < 0)
		return -1;
	if (s == NULL)
		return 0;
	conf_key(key, sizeof key, "relay", name);
	n = config_setting_length(s);
	l.v = xcalloc(n > 0 ? (size_t)n : 1, sizeof *l.v);
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		char why[160];

		if (net_cidr_parse(v, &l.v[l.n], why, sizeof why) < 0) {
			net_list_free(&l);
			return conf_fail_value(x, e, key, "bad network", v, why);
		}
		l.n++;
	}
	net_list_free(dst);
	*dst = l;
	return 0;
}

/*
 * The relay block: who may relay, how long a POP3 login counts
 * (docs/PROTOCOL.md, relay policy).
 */
static int conf_relay(struct ctx *x, const config_setting_t *root)
{
	static const char *const keys[] = {
		"customer_networks", "trusted_networks", "authorization_ttl",
		"ipv6_prefix", "never_authorize", "plaintext_auth", "smarthost", NULL
	};
	static const char *const trusted_default[] = { "127.0.0.1/32", "::1/128" };
	struct relay_conf *r = &x->c->relay;
	config_setting_t *g, *s;
	const char *v;
	long prefix = 64;
	char host[256];
	int port, mx;

	r->authorization_ttl = 1800;
	r->ipv6_prefix = 64;
	r->trusted_networks.v = xcalloc(2, sizeof *r->trusted_networks.v);
	for (size_t i = 0; i < 2; i++)
		if (net_cidr_parse(trusted_default[i], &r->trusted_networks.v[i], NULL, 0) == 0)
			r->trusted_networks.n++;
	r->smarthost = xstrdup("");
	if (conf_group(x, root, "relay", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(x, g, "relay", keys) < 0 ||
	    conf_netlist(x, g, "customer_networks", &r->customer_networks) < 0 ||
	    conf_netlist(x, g, "trusted_networks", &r->trusted_networks) < 0 ||
	    conf_long(x, g, "relay", "authorization_ttl", 0, INT_MAX, &r->authorization_ttl) < 0 ||
	    conf_long(x, g, "relay", "ipv6_prefix", 1, 128, &prefix) < 0 ||
	    conf_netlist(x, g, "never_authorize", &r->never_authorize) < 0 ||
	    conf_bool(x, g, "relay", "plaintext_auth", &r->plaintext_auth) < 0 ||
	    conf_string(x, g, "relay", "smarthost", 1, &s, &v) < 0)
		return -1;
	r->ipv6_prefix = (unsigned)prefix;
	if (v != NULL && *v != '\0') {
		if (conf_smarthost_parse(v, host, sizeof host, &port, &mx) < 0)
			return conf_fail_value(x, s, "relay.smarthost", "bad smarthost", v,
			    "use \"[host]:port\", \"host:port\", \"[host]\" or \"host\"");
		free(r->smarthost);
		r->smarthost = xstrdup(v);
	}
	return 0;
}

/* The dns block: an optional resolver to use instead of the system's. */
static int conf_dns(struct ctx *x, const config_setting_t *root)
{
	static const char *const keys[] = { "nameserver", NULL };
	config_setting_t *g, *s;
	const char *v;
	char addr[NET_ADDR_MAX];
	int port;

	x->c->dns_nameserver = xstrdup("");
	if (conf_group(x, root, "dns", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (conf_check_keys(x, g, "dns", keys) < 0 ||
	    conf_string(x, g, "dns", "nameserver", 1, &s, &v) < 0)
		return -1;
	if (v != NULL && *v != '\0') {
		if (conf_nameserver_parse(v, addr, sizeof addr, &port) < 0)
			return conf_fail_value(x, s, "dns.nameserver", "bad nameserver", v,
			    "use an IP address, \"addr:port\" or \"[addr]:port\"");
		free(x->c->dns_nameserver);
		x->c->dns_nameserver = xstrdup(v);
	}
	return 0;
}

/*
 * The limits block: every limit is at least 1, or it would lock everyone
 * out; only session_timeout may be 0, which turns it off.
 */
static int conf_limits(struct ctx *x, const config_setting_t *root)
{
	static const char *const keys[] = {
		"max_connections", "max_per_ip", "message_size", "max_recipients",
		"command_timeout", "data_timeout", "auth_failures", "max_use",
		"max_idle", "junk_command_limit", "session_timeout", "error_limit",
		NULL
	};
	struct limits_conf *l = &x->c->limits;
	config_setting_t *g;

	l->max_connections = 200;
	l->max_per_ip = 10;
	l->message_size = 26214400;
	l->max_recipients = 100;
	l->command_timeout = 600;
	l->data_timeout = 600;
	l->auth_failures = 3;
	l->max_use = 100;
	l->max_idle = 60;
	l->junk_command_limit = 100;
	l->session_timeout = 3600;
	l->error_limit = 10;
	if (conf_group(x, root, "limits", &g) < 0)
		return -1;
	if (conf_check_keys(x, g, "limits", keys) < 0 ||
	    conf_long(x, g, "limits", "max_connections", 1, INT_MAX, &l->max_connections) < 0 ||
	    conf_long(x, g, "limits", "max_per_ip", 1, INT_MAX, &l->max_per_ip) < 0 ||
	    conf_long(x, g, "limits", "message_size", 1, INT_MAX, &l->message_size) < 0 ||
	    conf_long(x, g, "limits", "max_recipients", 1, INT_MAX, &l->max_recipients) < 0 ||
	    conf_long(x, g, "limits", "command_timeout", 1, CONF_TIMEOUT_MAX, &l->command_timeout) < 0 ||
	    conf_long(x, g, "limits", "data_timeout", 1, CONF_TIMEOUT_MAX, &l->data_timeout) < 0 ||
	    conf_long(x, g, "limits", "auth_failures", 1, INT_MAX, &l->auth_failures) < 0 ||
	    conf_long(x, g, "limits", "max_use", 1, INT_MAX, &l->max_use) < 0 ||
	    conf_long(x, g, "limits", "max_idle", 1, CONF_TIMEOUT_MAX, &l->max_idle) < 0 ||
	    conf_long(x, g, "limits", "junk_command_limit", 1, INT_MAX,
	    &l->junk_command_limit) < 0 ||
	    conf_long(x, g, "limits", "session_timeout", 0, CONF_TIMEOUT_MAX,
	    &l->session_timeout) < 0 ||
	    conf_long(x, g, "limits", "error_limit", 1, INT_MAX, &l->error_limit) < 0)
		return -1;
	return 0;
}

/* The queue block: the retry schedule doubles from retry_min to retry_max. */
static int conf_queue(struct ctx *x, const config_setting_t *root)
{
	static const char *const keys[] = { "retry_min", "retry_max", "max_age",
		"delivery_timeout", NULL };
	struct queue_conf *q = &x->c->queue;
	config_setting_t *g, *s;

	q->retry_min = 300;
	q->retry_max = 3600;
	q->max_age = 432000;
	q->delivery_timeout = 1200;
	if (conf_group(x, root, "queue", &g) < 0)
		return -1;
	if (conf_check_keys(x, g, "queue", keys) < 0 ||
	    conf_long(x, g, "queue", "retry_min", 1, INT_MAX, &q->retry_min) < 0 ||
	    conf_long(x, g, "queue", "retry_max", 1, INT_MAX, &q->retry_max) < 0 ||
	    conf_long(x, g, "queue", "max_age", 1, INT_MAX, &q->max_age) < 0 ||
	    conf_long(x, g, "queue", "delivery_timeout", 5, CONF_TIMEOUT_MAX,
	    &q->delivery_timeout) < 0)
		return -1;
	if (q->retry_max < q->retry_min) {
		/* Blame the key that is written; one of them is. */
		s = config_setting_get_member(g, "retry_max");
		if (s != NULL)
			return conf_fail(x, s, "queue.retry_max",
			    "%ld is below queue.retry_min (%ld)", q->retry_max, q->retry_min);
		return conf_fail(x, config_setting_get_member(g, "retry_min"), "queue.retry_min",
		    "%ld is above queue.retry_max (%ld)", q->retry_min, q->retry_max);
	}
	return 0;
}

/* ---- listeners ---- */

/* Two listeners that bind(2) would refuse: same port, same or wildcard address. */
static int conf_listen_clash(const struct listen_conf *a, const struct cidr *aa,
    const struct listen_conf *b, const struct cidr *ba)
{
	static const unsigned char zero[16];

	if (a->port != b->port || aa->family != ba->family)
		return 0;
	return net_addr_equal(aa, ba) ||
	    memcmp(aa->addr, zero, sizeof zero) == 0 ||
	    memcmp(ba->addr, zero, sizeof zero) == 0;
}

/*
 * One { service; address; port; ... } of listen. An implicit-TLS service
 * or a TLS override without the tls block would fail only at the first
 * client, so it fails here.
 */
static int conf_listen_entry(struct ctx *x, config_setting_t *e, const char *prefix,
    struct listen_conf *l, struct cidr *addr)
{
	static const char *const keys[] = {
		"service", "address", "port", "min_version", "ciphers", NULL
	};
	char key[CONF_KEY_MAX], text[NET_ADDR_MAX];
	config_setting_t *s;
	const char *v;
	long port = 0;
	int svc;

	if (!config_setting_is_group(e))
		return conf_fail(x, e, prefix,
		    "expected a group { service = ...; port = ...; }");
	if (conf_check_keys(x, e, prefix, keys) < 0)
		return -1;

	conf_key(key, sizeof key, prefix, "service");
	if (conf_string(x, e, prefix, "service", 0, &s, &v) < 0)
		return -1;
	if (v == NULL)
		return conf_fail(x, e, key, "missing");
	if ((svc = conf_service_parse(v)) < 0)
		return conf_fail_value(x, s, key, "unknown service", v,
		    "use smtp, submission, smtps, pop3, pop3s or metrics");
	l->service = (enum service)svc;
	if ((svc == SERVICE_SMTPS || svc == SERVICE_POP3S) && !x->c->tls.enabled)
		return conf_fail(x, s, key, "%s needs the tls block", v);

	if (conf_string(x, e, prefix, "address", 0, &s, &v) < 0)
		return -1;
	if (v == NULL)	/* counters are nobody else's business: loopback */
		v = svc == SERVICE_METRICS ? "127.0.0.1" : "0.0.0.0";
	if (net_addr_parse(v, addr) < 0)
		return conf_fail_value(x, s, conf_key(key, sizeof key, prefix, "address"),
		    "bad address", v, "not an IPv4 or IPv6 address");
	net_addr_text(addr, text, sizeof text);
	l->address = xstrdup(text);

	if (config_setting_get_member(e, "port") == NULL)
		return conf_fail(x, e, conf_key(key, sizeof key, prefix, "port"), "missing");
	if (conf_long(x, e, prefix, "port", 1, 65535, &port) < 0)
		return -1;
	l->port = (int)port;

	if (conf_tls_version(x, e, prefix, &l->min_version) < 0 ||
	    conf_string_set(x, e, prefix, "ciphers", 0, &l->ciphers) < 0)
		return -1;
	if (!x->c->tls.enabled && (l->min_version != NULL || l->ciphers != NULL))
		return conf_fail(x, config_setting_get_member(e, l->min_version != NULL ?
		    "min_version" : "ciphers"), conf_key(key, sizeof key, prefix,
		    l->min_version != NULL ? "min_version" : "ciphers"),
		    "needs the tls block");
	return 0;
}

/* A default listener on all IPv4 addresses. */
static void conf_listen_add(struct conf *c, enum service s, int port)
{
	struct listen_conf *l = &c->listen[c->nlisten++];

	l->service = s;
	l->address = xstrdup("0.0.0.0");
	l->port = port;
}

/*
 * The listeners; absent means the classic ports (ispmaild.conf(5)). Two that
 * bind(2) would refuse are refused here, with both lines named.
 */
static int conf_listen(struct ctx *x, const config_setting_t *root)
{
	struct conf *c = x->c;
	config_setting_t *s = config_setting_get_member(root, "listen");
	struct cidr *addrs;
	int n;

	if (s == NULL) {
		c->listen = xcalloc(5, sizeof *c->listen);
		conf_listen_add(c, SERVICE_SMTP, 25);
		conf_listen_add(c, SERVICE_SUBMISSION, 587);
		if (c->tls.enabled)
			conf_listen_add(c, SERVICE_SMTPS, 465);
		conf_listen_add(c, SERVICE_POP3, 110);
		if (c->tls.enabled)
			conf_listen_add(c, SERVICE_POP3S, 995);
		return 0;
	}
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return conf_fail(x, s, "listen", "expected a list ( { ... }, ... )");
	n = config_setting_length(s);
	if (n == 0)
		return conf_fail(x, s, "listen", "empty list; name at least one listener");
	c->listen = xcalloc((size_t)n, sizeof *c->listen);
	addrs = xcalloc((size_t)n, sizeof *addrs);
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		char prefix[CONF_KEY_MAX];

		(void)str_format(prefix, sizeof prefix, "listen[%d]", i);
		c->nlisten++;
		if (conf_listen_entry(x, e, prefix, &c->listen[i], &addrs[i]) < 0)
			goto fail;
		for (int j = 0; j < i; j++) {
			if (conf_listen_clash(&c->listen[i], &addrs[i], &c->listen[j], &addrs[j])) {
				conf_fail(x, e, prefix,
				    "%s port %d clashes with listen[%d] (%s port %d, line %u)",
				    c->listen[i].address, c->listen[i].port, j,
				    c->listen[j].address, c->listen[j].port,
				    (unsigned)config_setting_source_line(
				    config_setting_get_elem(s, (unsigned)j)));
				goto fail;
			}
		}
	}
	free(addrs);
	return 0;
fail:
	free(addrs);
	return -1;
}

/* ---- the whole file ---- */

/* A missing or unreadable file, named with the system's reason. */
static int conf_open_check(struct ctx *x, const char *path)
{
	struct stat st;
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return conf_fail(x, NULL, NULL, "%s", strerror(errno));
	if (fstat(fileno(fp), &st) < 0) {
		int e = errno;

		(void)fclose(fp);
		return conf_fail(x, NULL, NULL, "%s", strerror(e));
	}
	(void)fclose(fp);	/* read-only: nothing to lose */
	if (S_ISDIR(st.st_mode))
		return conf_fail(x, NULL, NULL, "%s", strerror(EISDIR));
	return 0;
}

int conf_log_level_parse(const char *name)
{
	static const struct {
		const char *name;
		int prio;
	} levels[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO },
		{ "warning", LOG_WARNING }, { "error", LOG_ERR },
	};
	size_t i;

	for (i = 0; i < sizeof levels / sizeof levels[0]; i++)
		if (strcmp(name, levels[i].name) == 0)
			return levels[i].prio;
	return -1;
}

/*
 * "log_level": the state-by-state debug lines cost a syslog write each and
 * help only when chasing a client's dialogue, so "info" is the default.
 */
static int conf_log_level(struct ctx *x, const config_setting_t *root)
{
	config_setting_t *s;
	const char *v;

	x->c->log_level = LOG_INFO;
	if (conf_string(x, root, "", "log_level", 0, &s, &v) < 0)
		return -1;
	if (v != NULL && (x->c->log_level = conf_log_level_parse(v)) < 0)
		return conf_fail_value(x, s, "log_level", "unknown level", v,
		    "use debug, info, warning or error");
	return 0;
}

/* Parse the file and walk it, section by section; the first error wins. */
static int conf_read(struct ctx *x, config_t *cfg)
{
	static const char *const keys[] = {
		"hostname", "state_dir", "maildir_root", "users_file", "aliases_file",
		"domains", "user", "group", "listen", "tls", "relay", "dns", "limits",
		"queue", "log_level", NULL
	};
	struct conf *c = x->c;
	config_setting_t *root;

	if (conf_open_check(x, x->file) < 0)
		return -1;
	config_set_include_dir(cfg, x->dir);
	if (config_read_file(cfg, x->file) != CONFIG_TRUE) {
		const char *file = config_error_file(cfg);

		if (config_error_type(cfg) == CONFIG_ERR_FILE_IO && file == NULL)
			return conf_fail(x, NULL, NULL, "cannot read: %s",
			    config_error_text(cfg));
		str_format(x->err, x->errlen, "%s:%d: %s", file != NULL ? file : x->file,
		    config_error_line(cfg), config_error_text(cfg));
		return -1;
	}
	root = config_root_setting(cfg);

	c->state_dir = xstrdup(LOCALSTATEDIR "/lib/ispmaild");
	c->maildir_root = xstrdup("/var/mail/ispmaild");
	c->users_file = xstrdup(SYSCONFDIR "/ispmaild/users");
	c->user = xstrdup("vmail");
	c->group = xstrdup("vmail");
	if (conf_check_keys(x, root, "", keys) < 0 ||
	    conf_hostname(x, root) < 0 ||
	    conf_path(x, root, "", "state_dir", &c->state_dir) < 0 ||
	    conf_path(x, root, "", "maildir_root", &c->maildir_root) < 0 ||
	    conf_path(x, root, "", "users_file", &c->users_file) < 0 ||
	    conf_path(x, root, "", "aliases_file", &c->aliases_file) < 0 ||
	    conf_string_set(x, root, "", "user", 0, &c->user) < 0 ||
	    conf_string_set(x, root, "", "group", 0, &c->group) < 0 ||
	    conf_tls(x, root) < 0 ||
	    conf_relay(x, root) < 0 ||
	    conf_dns(x, root) < 0 ||
	    conf_limits(x, root) < 0 ||
	    conf_queue(x, root) < 0 ||
	    conf_domains(x, root) < 0 ||
	    conf_listen(x, root) < 0 ||
	    conf_log_level(x, root) < 0)
		return -1;
	return 0;
}

int conf_load(const char *path, struct conf *out, char *err, size_t errlen)
{
	struct ctx x;
	config_t cfg;
	char *abs = NULL;
	char dummy[1];
	int r;

	memset(out, 0, sizeof *out);
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = '\0';
	memset(&x, 0, sizeof x);
	x.file = path;
	x.err = err;
	x.errlen = errlen;
	x.c = out;
	if (path == NULL || *path == '\0') {
		str_copy(err, errlen, "no configuration file named");
		return -1;
	}
	x.dir = conf_file_dir(path, &abs);
	if (x.dir == NULL)
		return conf_fail(&x, NULL, NULL, "cannot find the current directory: %s",
		    strerror(errno));
	out->path = abs;

	config_init(&cfg);
	r = conf_read(&x, &cfg);
	config_destroy(&cfg);
	free(x.dir);
	if (r < 0) {
		if (err[0] == '\0')
			conf_fail(&x, NULL, NULL, "invalid configuration");
		conf_free(out);
	}
	return r;
}

void conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->hostname);
	free(c->state_dir);
	free(c->maildir_root);
	free(c->users_file);
	free(c->aliases_file);
	for (size_t i = 0; i < c->ndomains; i++)
		free(c->domains[i]);
	free(c->domains);
	free(c->user);
	free(c->group);
	for (size_t i = 0; i < c->nlisten; i++) {
		free(c->listen[i].address);
		free(c->listen[i].min_version);
		free(c->listen[i].ciphers);
	}
	free(c->listen);
	free(c->tls.certificate);
	free(c->tls.private_key);
	free(c->tls.min_version);
	free(c->tls.ciphers);
	net_list_free(&c->relay.customer_networks);
	net_list_free(&c->relay.trusted_networks);
	net_list_free(&c->relay.never_authorize);
	free(c->relay.smarthost);
	free(c->dns_nameserver);
	memset(c, 0, sizeof *c);
}

const char *conf_service_name(enum service s)
{
	if ((int)s < 0 || s >= SERVICE_COUNT)
		return "unknown";
	return service_names[s];
}

int conf_service_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < SERVICE_COUNT; i++)
		if (strcmp(name, service_names[i]) == 0)
			return i;
	return -1;
}

/*
 * Domains compare without regard to case and one trailing dot on either
 * side (docs/PROTOCOL.md, relay policy); the one copy of that rule.
 */
int domain_in_list(char *const *domains, size_t n, const char *domain, size_t len)
{
	if (domain == NULL)
		return 0;
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t dl;

		if (domains[i] == NULL)
			continue;
		dl = strlen(domains[i]);
		if (dl > 0 && domains[i][dl - 1] == '.')
			dl--;
		if (dl == len && strncasecmp(domains[i], domain, len) == 0)
			return 1;
	}
	return 0;
}

int conf_is_local_domain(const struct conf *c, const char *domain, size_t len)
{
	return c != NULL && domain_in_list(c->domains, c->ndomains, domain, len);
}
