/*
 * conf.c: read the libconfig file of ispmaild.conf(5) once, check every key,
 * type and range, fill in the defaults, and hand back a plain struct conf.
 * Anything written wrong is an error naming file, line and key; nothing is
 * silently replaced by a default.
 *
 * Every key is one row of a table, one table per block, as Postfix keeps
 * its parameters in mail_params tables: the name, the type, the field it
 * fills (offsetof), its default and bounds. The type reads, defaults,
 * prints and frees the value, so the allowed keys, the defaults, the
 * parsing, ispmaild -n / -d and conf_free all walk the same rows. What
 * spans keys (a tls block needs both files, retry_max >= retry_min, two
 * listeners on one port) is code, run when its block has been read.
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
#include "dns.h"
#include "net.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

/* A day: longer timeouts are a typo, and seconds * 1000 must fit an int. */
#define CONF_TIMEOUT_MAX 86400
#define CONF_KEY_MAX 128	/* "listen[12].min_version" and the like */
#define CONF_VALUE_SHOW 80	/* how much of a bad value an error quotes */

/* What a conf_load call carries around: where we are and the first error. */
struct ctx {
	const char *file;	/* as the caller named it, for messages */
	char *dir;		/* absolute directory of the file */
	char *err;
	size_t errlen;
	struct conf *c;
	/*
	 * The settings a derived default follows (domains: the hostname;
	 * listen: whether there is a tls block): c itself while loading,
	 * the loaded file's when ispmaild -n builds the defaults to compare.
	 */
	const struct conf *ref;
	int lenient;		/* building defaults: go on past an error */
};

struct conf_row;

/* A kind of value: how to read, default, print and free it. */
struct conf_type {
	/* s is present; key is "block.name" for messages. */
	int (*parse)(struct ctx *x, const struct conf_row *r, config_setting_t *s,
	    const char *key, void *base);
	/* The key is absent. */
	int (*dflt)(struct ctx *x, const struct conf_row *r, const char *key, void *base);
	/* The value as libconfig would write it; nothing when unset. */
	void (*print)(struct buf *b, const struct conf_row *r, const void *base);
	void (*free)(const struct conf_row *r, void *base);	/* NULL: nothing to free */
};

#define CONF_REQUIRED	1u	/* no default: absent is "missing" */
#define CONF_EMPTY_OK	2u	/* strings: "" is a value */

/* One key of a block. */
struct conf_row {
	const char *name;
	const struct conf_type *type;
	size_t off;			/* the field, from the block's base */
	size_t off_n;			/* lists: the count beside it */
	unsigned flags;
	long long num, min, max;	/* numbers, booleans, enums: default, bounds */
	const char *str;		/* strings, paths, choices: default (NULL: unset) */
	const char *const *list;	/* networks: default, NULL-terminated */
	const void *arg;		/* what the type needs: names, a check, a block */
};

/* A block's keys and the check that spans them, run once they are read. */
struct conf_block {
	const struct conf_row *rows;
	size_t n;
	int (*check)(struct ctx *x, const config_setting_t *g, const char *prefix, void *base);
	size_t size;		/* an entry of a list of groups: its struct's size */
};

/* Named values: a string in the file, an int (enum) or the name (choice) in the struct. */
struct conf_enum {
	const char *const *names;
	const int *values;		/* NULL: the index */
	size_t n;
	const char *what;		/* "unknown level" */
};

/* A string with a syntax of its own, checked when not empty. */
struct conf_check {
	int (*valid)(const char *v);	/* 0 when good */
	const char *what;		/* "bad smarthost" */
	const char *hint;
};

/* A list of strings, each normalised; duplicates are an error. */
struct conf_strlist {
	char *(*normalise)(const char *v);	/* malloc'd, NULL when bad */
	const char *what;			/* "domain": "bad domain ..." */
	const char *empty;			/* non-NULL: [ ] is an error, with this hint */
};

/* The field a row names, in the struct its block fills (offsetof arithmetic in one place). */
static void *conf_field(void *base, size_t off)
{
	return (char *)base + off;
}

static const void *conf_cfield(const void *base, size_t off)
{
	return (const char *)base + off;
}

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

/* ---- printing ---- */

/* A string as libconfig reads it back: quoted, with \" \\ and \xNN escapes. */
static void conf_print_quoted(struct buf *b, const char *s)
{
	buf_appendc(b, '"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			buf_printf(b, "\\%c", ch);
		else if (ch == '\n')
			buf_appends(b, "\\n");
		else if (ch == '\t')
			buf_appends(b, "\\t");
		else if (ch < 0x20 || ch == 0x7f)
			buf_printf(b, "\\x%02x", ch);
		else
			buf_appendc(b, (char)ch);
	}
	buf_appendc(b, '"');
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

/* ---- reading one setting ---- */

/* The setting's string; "" only with empty_ok. */
static int conf_get_string(struct ctx *x, const config_setting_t *s, const char *key,
    int empty_ok, const char **out)
{
	*out = NULL;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return conf_fail(x, s, key, "expected a string");
	*out = config_setting_get_string(s);
	if (!empty_ok && **out == '\0')
		return conf_fail(x, s, key, "must not be empty");
	return 0;
}

/* An integer (int or int64 in the file) in the row's min..max. */
static int conf_get_int(struct ctx *x, const struct conf_row *r, const config_setting_t *s,
    const char *key, long long *out)
{
	char lit[64];
	long long v;

	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return conf_fail(x, s, key, "expected an integer");
	if (config_setting_type(s) == CONFIG_TYPE_INT &&
	    conf_int_overflow(x, s, r->name, lit, sizeof lit))
		return conf_fail(x, s, key, "must be from %lld to %lld, not %s",
		    r->min, r->max, lit);
	v = config_setting_get_int64(s);
	if (v < r->min || v > r->max)
		return conf_fail(x, s, key, "must be from %lld to %lld, not %lld",
		    r->min, r->max, v);
	*out = v;
	return 0;
}

/* [ "a", "b" ] or ( "a", "b" ): strings only. */
static int conf_get_list(struct ctx *x, const config_setting_t *s, const char *key)
{
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return conf_fail(x, s, key, "expected a list [ ... ]");
	for (int i = 0; i < config_setting_length(s); i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return conf_fail(x, e, key, "element %d is not a string", i + 1);
	}
	return 0;
}

/* ---- the types ---- */

/* Strings, paths and choices share a char * field. */
static void conf_string_free(const struct conf_row *r, void *base)
{
	char **p = conf_field(base, r->off);

	free(*p);
	*p = NULL;
}

static int conf_string_default(struct ctx *x, const struct conf_row *r, const char *key,
    void *base)
{
	(void)x;
	(void)key;
	conf_string_free(r, base);
	if (r->str != NULL)
		*(char **)conf_field(base, r->off) = xstrdup(r->str);
	return 0;
}

static void conf_string_print(struct buf *b, const struct conf_row *r, const void *base)
{
	const char *v = *(char *const *)conf_cfield(base, r->off);

	if (v != NULL)
		conf_print_quoted(b, v);
}

/* A string; a conf_check in arg judges a non-empty one. */
static int conf_string_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	const struct conf_check *chk = r->arg;
	const char *v;

	if (conf_get_string(x, s, key, (r->flags & CONF_EMPTY_OK) != 0, &v) < 0)
		return -1;
	if (chk != NULL && *v != '\0' && chk->valid(v) < 0)
		return conf_fail_value(x, s, key, chk->what, v, chk->hint);
	conf_string_free(r, base);
	*(char **)conf_field(base, r->off) = xstrdup(v);
	return 0;
}

static const struct conf_type conf_type_string = {
	conf_string_parse, conf_string_default, conf_string_print, conf_string_free
};

/* A path: non-empty; a relative one is made absolute against the file's directory. */
static int conf_path_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	const char *v;

	if (conf_get_string(x, s, key, 0, &v) < 0)
		return -1;
	conf_string_free(r, base);
	*(char **)conf_field(base, r->off) = v[0] == '/' ? xstrdup(v) :
	    conf_path_join(x->dir, v);
	return 0;
}

static const struct conf_type conf_type_path = {
	conf_path_parse, conf_string_default, conf_string_print, conf_string_free
};

/* true or false, nothing else (not 1, not "yes"), into an int. */
static int conf_bool_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return conf_fail(x, s, key, "expected true or false");
	*(int *)conf_field(base, r->off) = config_setting_get_bool(s) ? 1 : 0;
	return 0;
}

static int conf_bool_default(struct ctx *x, const struct conf_row *r, const char *key,
    void *base)
{
	(void)x;
	(void)key;
	*(int *)conf_field(base, r->off) = r->num != 0;
	return 0;
}

static void conf_bool_print(struct buf *b, const struct conf_row *r, const void *base)
{
	buf_appends(b, *(const int *)conf_cfield(base, r->off) ? "true" : "false");
}

static const struct conf_type conf_type_bool = {
	conf_bool_parse, conf_bool_default, conf_bool_print, NULL
};

/*
 * Integers in min..max into a long, an unsigned or an int field: one type
 * each, as the field's C type decides how it is stored and printed.
 */
static const struct conf_type conf_type_long, conf_type_uint, conf_type_int;

static void conf_num_set(const struct conf_row *r, void *base, long long v)
{
	void *p = conf_field(base, r->off);

	if (r->type == &conf_type_int)
		*(int *)p = (int)v;
	else if (r->type == &conf_type_uint)
		*(unsigned *)p = (unsigned)v;
	else
		*(long *)p = (long)v;
}

static int conf_num_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	long long v = 0;

	if (conf_get_int(x, r, s, key, &v) < 0)
		return -1;
	conf_num_set(r, base, v);
	return 0;
}

static int conf_num_default(struct ctx *x, const struct conf_row *r, const char *key,
    void *base)
{
	(void)x;
	(void)key;
	conf_num_set(r, base, r->num);
	return 0;
}

static void conf_num_print(struct buf *b, const struct conf_row *r, const void *base)
{
	const void *p = conf_cfield(base, r->off);

	if (r->type == &conf_type_int)
		buf_printf(b, "%d", *(const int *)p);
	else if (r->type == &conf_type_uint)
		buf_printf(b, "%u", *(const unsigned *)p);
	else
		buf_printf(b, "%ld", *(const long *)p);
}

static const struct conf_type conf_type_long = {
	conf_num_parse, conf_num_default, conf_num_print, NULL
};
static const struct conf_type conf_type_uint = {
	conf_num_parse, conf_num_default, conf_num_print, NULL
};
static const struct conf_type conf_type_int = {
	conf_num_parse, conf_num_default, conf_num_print, NULL
};

/* ---- named values ---- */

/* The index of v among e's names; -1 when it is none of them. */
static int conf_enum_find(const struct conf_enum *e, const char *v)
{
	for (size_t i = 0; i < e->n; i++)
		if (v != NULL && strcmp(v, e->names[i]) == 0)
			return (int)i;
	return -1;
}

static int conf_enum_value(const struct conf_enum *e, int i)
{
	return e->values != NULL ? e->values[i] : i;
}

/*
 * The setting's string must be one of e's names: "unknown level \"loud\":
 * use debug, info, warning or error" otherwise. The index, or -1.
 */
static int conf_enum_get(struct ctx *x, const struct conf_enum *e, const config_setting_t *s,
    const char *key, const char **out)
{
	struct buf hint = BUF_INIT;
	int i;

	if (conf_get_string(x, s, key, 0, out) < 0)
		return -1;
	if ((i = conf_enum_find(e, *out)) >= 0)
		return i;
	buf_appends(&hint, "use ");
	for (size_t j = 0; j < e->n; j++)
		buf_printf(&hint, "%s%s", j == 0 ? "" : j + 1 == e->n ? " or " : ", ",
		    e->names[j]);
	conf_fail_value(x, s, key, e->what, *out, hint.s);
	buf_free(&hint);
	return -1;
}

/* An enum: the value of the name into an int field. */
static int conf_enum_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	const char *v;
	int i = conf_enum_get(x, r->arg, s, key, &v);

	if (i < 0)
		return -1;
	*(int *)conf_field(base, r->off) = conf_enum_value(r->arg, i);
	return 0;
}

static int conf_enum_default(struct ctx *x, const struct conf_row *r, const char *key,
    void *base)
{
	(void)x;
	(void)key;
	*(int *)conf_field(base, r->off) = (int)r->num;
	return 0;
}

static void conf_enum_print(struct buf *b, const struct conf_row *r, const void *base)
{
	const struct conf_enum *e = r->arg;
	int v = *(const int *)conf_cfield(base, r->off);

	for (size_t i = 0; i < e->n; i++) {
		if (conf_enum_value(e, (int)i) == v) {
			conf_print_quoted(b, e->names[i]);
			return;
		}
	}
	buf_printf(b, "%d", v);
}

static const struct conf_type conf_type_enum = {
	conf_enum_parse, conf_enum_default, conf_enum_print, NULL
};

/* A choice: one of the names, kept as a string (what OpenSSL is handed). */
static int conf_choice_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	const char *v;

	if (conf_enum_get(x, r->arg, s, key, &v) < 0)
		return -1;
	conf_string_free(r, base);
	*(char **)conf_field(base, r->off) = xstrdup(v);
	return 0;
}

static const struct conf_type conf_type_choice = {
	conf_choice_parse, conf_string_default, conf_string_print, conf_string_free
};

/* ---- lists ---- */

/* Networks in CIDR notation into a struct netlist. */
static int conf_nets_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	struct netlist *dst = conf_field(base, r->off);
	struct netlist l = { NULL, 0 };
	int n;

	if (conf_get_list(x, s, key) < 0)
		return -1;
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

static void conf_nets_free(const struct conf_row *r, void *base)
{
	net_list_free(conf_field(base, r->off));
}

static int conf_nets_default(struct ctx *x, const struct conf_row *r, const char *key,
    void *base)
{
	struct netlist *dst = conf_field(base, r->off);
	size_t n = 0;

	(void)x;
	(void)key;
	conf_nets_free(r, base);
	while (r->list != NULL && r->list[n] != NULL)
		n++;
	if (n == 0)
		return 0;
	dst->v = xcalloc(n, sizeof *dst->v);
	for (size_t i = 0; i < n; i++)
		if (net_cidr_parse(r->list[i], &dst->v[dst->n], NULL, 0) == 0)
			dst->n++;
	return 0;
}

static void conf_nets_print(struct buf *b, const struct conf_row *r, const void *base)
{
	const struct netlist *l = conf_cfield(base, r->off);
	char text[NET_ADDR_MAX];

	buf_appends(b, "[");
	for (size_t i = 0; i < l->n; i++) {
		net_cidr_text(&l->v[i], text, sizeof text);
		buf_appends(b, i == 0 ? " " : ", ");
		conf_print_quoted(b, text);
	}
	buf_appends(b, " ]");
}

static const struct conf_type conf_type_nets = {
	conf_nets_parse, conf_nets_default, conf_nets_print, conf_nets_free
};

/* A list of strings (char ** at off, its count at off_n), by a conf_strlist. */
static void conf_strlist_free(const struct conf_row *r, void *base)
{
	char ***v = conf_field(base, r->off);
	size_t *n = conf_field(base, r->off_n);

	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

/* "bad domain \"x\"", "duplicate domain \"x\"". */
static int conf_strlist_fail(struct ctx *x, const config_setting_t *e, const char *key,
    const char *how, const struct conf_strlist *rule, const char *text)
{
	char what[64];

	(void)str_format(what, sizeof what, "%s %s", how, rule->what);
	return conf_fail_value(x, e, key, what, text, NULL);
}

static int conf_strlist_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	const struct conf_strlist *rule = r->arg;
	char ***v = conf_field(base, r->off);
	size_t *nv = conf_field(base, r->off_n);
	int n;

	if (conf_get_list(x, s, key) < 0)
		return -1;
	n = config_setting_length(s);
	if (n == 0 && rule->empty != NULL)
		return conf_fail(x, s, key, "empty list; %s", rule->empty);
	conf_strlist_free(r, base);
	*v = xcalloc(n > 0 ? (size_t)n : 1, sizeof **v);
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *text = config_setting_get_string(e);
		char *d = rule->normalise != NULL ? rule->normalise(text) : xstrdup(text);

		if (d == NULL)
			return conf_strlist_fail(x, e, key, "bad", rule, text);
		for (size_t j = 0; j < *nv; j++) {
			if (strcmp((*v)[j], d) == 0) {
				free(d);
				return conf_strlist_fail(x, e, key, "duplicate", rule, text);
			}
		}
		(*v)[(*nv)++] = d;
	}
	return 0;
}

static void conf_strlist_print(struct buf *b, const struct conf_row *r, const void *base)
{
	char *const *v = *(char **const *)conf_cfield(base, r->off);
	size_t n = *(const size_t *)conf_cfield(base, r->off_n);

	buf_appends(b, "[");
	for (size_t i = 0; i < n; i++) {
		buf_appends(b, i == 0 ? " " : ", ");
		conf_print_quoted(b, v[i]);
	}
	buf_appends(b, " ]");
}
/* ---- groups ---- */

static int conf_block_read(struct ctx *x, const struct conf_block *b,
    const config_setting_t *g, const char *prefix, void *base);
static void conf_block_free(const struct conf_block *b, void *base);

/* A nested block { ... } (arg), its struct at off from the parent's base. */
static int conf_group_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	if (!config_setting_is_group(s))
		return conf_fail(x, s, key, "expected a group { ... }");
	return conf_block_read(x, r->arg, s, key, conf_field(base, r->off));
}

static int conf_group_default(struct ctx *x, const struct conf_row *r, const char *key,
    void *base)
{
	return conf_block_read(x, r->arg, NULL, key, conf_field(base, r->off));
}

static void conf_group_free(const struct conf_row *r, void *base)
{
	conf_block_free(r->arg, conf_field(base, r->off));
}

static const struct conf_type conf_type_group = {
	conf_group_parse, conf_group_default, NULL, conf_group_free
};

/* ---- keys with a rule of their own ---- */

/* The EHLO name; it lands in greetings and Received lines, so it must be clean. */
static int conf_hostname_set(struct ctx *x, const struct conf_row *r, const config_setting_t *s,
    const char *key, const char *v, void *base)
{
	size_t len = strlen(v);

	if (len > 0 && v[len - 1] == '.')
		len--;
	if (!conf_hostname_valid(v, len))
		return conf_fail_value(x, s, key, "bad host name", v,
		    s != NULL ? NULL : "from gethostname(); set hostname");
	conf_string_free(r, base);
	*(char **)conf_field(base, r->off) = xstrndup(v, len);
	return 0;
}

static int conf_hostname_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	const char *v;

	if (conf_get_string(x, s, key, 0, &v) < 0)
		return -1;
	return conf_hostname_set(x, r, s, key, v, base);
}

/* Unset: the machine's name, which must be a clean host name too. */
static int conf_hostname_default(struct ctx *x, const struct conf_row *r, const char *key,
    void *base)
{
	char name[256];

	if (gethostname(name, sizeof name) < 0)
		return conf_fail(x, NULL, key, "not set, and gethostname() failed: %s",
		    strerror(errno));
	name[sizeof name - 1] = '\0';
	return conf_hostname_set(x, r, NULL, key, name, base);
}

static const struct conf_type conf_type_hostname = {
	conf_hostname_parse, conf_hostname_default, conf_string_print, conf_string_free
};

/* The local domains, normalised once so that lookups compare plain strings. */
static const struct conf_strlist conf_domains_rule = {
	conf_domain_normalise, "domain", "name at least one local domain"
};

/* Unset: the host name (a valid domain already: conf_hostname_set checked it). */
static int conf_domains_default(struct ctx *x, const struct conf_row *r, const char *key,
    void *base)
{
	char ***v = conf_field(base, r->off);
	size_t *n = conf_field(base, r->off_n);

	(void)key;
	conf_strlist_free(r, base);
	if (x->ref->hostname == NULL)
		return 0;	/* building defaults without a host name */
	*v = xcalloc(1, sizeof **v);
	(*v)[0] = conf_domain_normalise(x->ref->hostname);
	*n = 1;
	return 0;
}

static const struct conf_type conf_type_domains = {
	conf_strlist_parse, conf_domains_default, conf_strlist_print, conf_strlist_free
};

/* A list with no default: [ ] unless the file names some. */
static int conf_strlist_default(struct ctx *x, const struct conf_row *r, const char *key,
    void *base)
{
	(void)x;
	(void)key;
	conf_strlist_free(r, base);
	return 0;
}

static const struct conf_type conf_type_strlist = {
	conf_strlist_parse, conf_strlist_default, conf_strlist_print, conf_strlist_free
};

static int conf_smarthost_valid(const char *v)
{
	char host[256];
	int port, mx;

	return conf_smarthost_parse(v, host, sizeof host, &port, &mx);
}

static const struct conf_check conf_smarthost_check = {
	conf_smarthost_valid, "bad smarthost",
	"use \"[host]:port\", \"host:port\", \"[host]\" or \"host\""
};

static int conf_nameserver_valid(const char *v)
{
	char addr[NET_ADDR_MAX];
	int port;

	return conf_nameserver_parse(v, addr, sizeof addr, &port);
}

static const struct conf_check conf_nameserver_check = {
	conf_nameserver_valid, "bad nameserver",
	"use an IP address, \"addr:port\" or \"[addr]:port\""
};

/* ---- shared state and the web ---- */

/* An address (postmaster, web.admins): one mailbox, local@domain, nothing a header could trip on. */
static int conf_address_valid(const char *v)
{
	const char *at = strrchr(v, '@');

	if (at == NULL || at == v || at[1] == '\0' || strchr(v, '@') != at ||
	    strlen(v) > 254)
		return -1;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("<>()[],;:\\\"", *p) != NULL)
			return -1;
	return conf_hostname_valid(at + 1, strlen(at + 1)) ? 0 : -1;
}


static const char *const relay_backend_names[] = { "bdb", "redis" };
static const struct conf_enum conf_relay_backends = {
	relay_backend_names, NULL, 2, "unknown backend"
};

/* Redis: "host:port", "[v6]:port" (an address, not a name) or a unix socket path. */
static int conf_redis_address_valid(const char *v)
{
	char addr[NET_ADDR_MAX];
	int port;

	if (v[0] == '/')
		return strlen(v) < 108 ? 0 : -1;	/* sun_path */
	if (strrchr(v, ':') == NULL || (v[0] != '[' && strchr(v, ':') != strrchr(v, ':')))
		return -1;
	return conf_nameserver_parse(v, addr, sizeof addr, &port);
}

static const struct conf_check conf_redis_address_check = {
	conf_redis_address_valid, "bad address",
	"use \"127.0.0.1:6379\", \"[::1]:6379\" or a unix socket path"
};

/* Every key Redis holds starts with the prefix: no spaces, nothing a client would quote. */
static int conf_redis_prefix_valid(const char *v)
{
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return -1;
	return strlen(v) <= 64 ? 0 : -1;
}

static const struct conf_check conf_redis_prefix_check = {
	conf_redis_prefix_valid, "bad prefix", "printable characters, no spaces, at most 64"
};

/* An administrator's address: local@domain, kept in lower case. */
static char *conf_admin_normalise(const char *v)
{
	char *d;

	if (conf_address_valid(v) != 0)
		return NULL;
	d = xstrdup(v);
	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

static const struct conf_strlist conf_admins_rule = {
	conf_admin_normalise, "address", NULL
};

/* ---- listeners ---- */

static const char *const service_names[SERVICE_COUNT] = {
	[SERVICE_SMTP] = "smtp",
	[SERVICE_SUBMISSION] = "submission",
	[SERVICE_SMTPS] = "smtps",
	[SERVICE_POP3] = "pop3",
	[SERVICE_POP3S] = "pop3s",
	[SERVICE_METRICS] = "metrics",
	[SERVICE_WEB] = "web",
};

static const struct conf_enum conf_services = {
	service_names, NULL, SERVICE_COUNT, "unknown service"
};

/* The enum type stores an int; so must enum service. */
_Static_assert(sizeof(enum service) == sizeof(int), "enum service is an int");

/*
 * The service; an implicit-TLS one without the tls block would fail only at
 * the first client, so it fails here.
 */
static int conf_service_row_parse(struct ctx *x, const struct conf_row *r,
    config_setting_t *s, const char *key, void *base)
{
	int svc;

	if (conf_enum_parse(x, r, s, key, base) < 0)
		return -1;
	svc = *(const int *)conf_cfield(base, r->off);
	if ((svc == SERVICE_SMTPS || svc == SERVICE_POP3S || svc == SERVICE_WEB) &&
	    !x->c->tls.enabled)
		return conf_fail(x, s, key, "%s needs the tls block", service_names[svc]);
	return 0;
}

static const struct conf_type conf_type_service = {
	conf_service_row_parse, conf_enum_default, conf_enum_print, NULL
};

/* An address, not a name, kept as its canonical text. */
static int conf_address_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	char text[NET_ADDR_MAX];
	struct cidr a;
	const char *v;

	if (conf_get_string(x, s, key, 0, &v) < 0)
		return -1;
	if (net_addr_parse(v, &a) < 0)
		return conf_fail_value(x, s, key, "bad address", v,
		    "not an IPv4 or IPv6 address");
	net_addr_text(&a, text, sizeof text);
	conf_string_free(r, base);
	*(char **)conf_field(base, r->off) = xstrdup(text);
	return 0;
}

/* Unset: all IPv4 addresses; metrics, being nobody else's business, loopback. */
static int conf_address_default(struct ctx *x, const struct conf_row *r, const char *key,
    void *base)
{
	const struct listen_conf *l = base;

	(void)x;
	(void)key;
	conf_string_free(r, base);
	*(char **)conf_field(base, r->off) =
	    xstrdup(l->service == SERVICE_METRICS ? "127.0.0.1" : "0.0.0.0");
	return 0;
}

static const struct conf_type conf_type_address = {
	conf_address_parse, conf_address_default, conf_string_print, conf_string_free
};

/* Two listeners that bind(2) would refuse: same port, same or wildcard address. */
static int conf_listen_clash(const struct listen_conf *a, const struct listen_conf *b)
{
	static const unsigned char zero[16];
	struct cidr aa, ba;

	if (a->port != b->port || net_addr_parse(a->address, &aa) < 0 ||
	    net_addr_parse(b->address, &ba) < 0 || aa.family != ba.family)
		return 0;
	return net_addr_equal(&aa, &ba) ||
	    memcmp(aa.addr, zero, sizeof zero) == 0 ||
	    memcmp(ba.addr, zero, sizeof zero) == 0;
}

/*
 * A list of groups (arg: the entry's block) into an array at off with its
 * count at off_n. Two that bind(2) would refuse are refused here, with
 * both lines named.
 */
static int conf_listen_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	struct listen_conf **lp = conf_field(base, r->off);
	size_t *np = conf_field(base, r->off_n);
	int n;

	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return conf_fail(x, s, key, "expected a list ( { ... }, ... )");
	n = config_setting_length(s);
	if (n == 0)
		return conf_fail(x, s, key, "empty list; name at least one listener");
	*lp = xcalloc((size_t)n, sizeof **lp);
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct listen_conf *l = &(*lp)[i];
		char prefix[CONF_KEY_MAX];

		(void)str_format(prefix, sizeof prefix, "%s[%d]", key, i);
		(*np)++;
		if (!config_setting_is_group(e))
			return conf_fail(x, e, prefix,
			    "expected a group { service = ...; port = ...; }");
		if (conf_block_read(x, r->arg, e, prefix, l) < 0)
			return -1;
		for (int j = 0; j < i; j++) {
			const struct listen_conf *o = &(*lp)[j];

			if (conf_listen_clash(l, o))
				return conf_fail(x, e, prefix,
				    "%s port %d clashes with %s[%d] (%s port %d, line %u)",
				    l->address, l->port, key, j, o->address, o->port,
				    (unsigned)config_setting_source_line(
				    config_setting_get_elem(s, (unsigned)j)));
		}
	}
	return 0;
}

static void conf_listen_free(const struct conf_row *r, void *base)
{
	struct listen_conf **lp = conf_field(base, r->off);
	size_t *np = conf_field(base, r->off_n);

	for (size_t i = 0; *lp != NULL && i < *np; i++)
		conf_block_free(r->arg, &(*lp)[i]);
	free(*lp);
	*lp = NULL;
	*np = 0;
}

/* Unset: the classic ports on all IPv4 addresses, the TLS ones with a tls block. */
static int conf_listen_default(struct ctx *x, const struct conf_row *r, const char *key,
    void *base)
{
	static const struct {
		enum service service;
		int port, tls;
	} classic[] = {
		{ SERVICE_SMTP, 25, 0 }, { SERVICE_SUBMISSION, 587, 0 },
		{ SERVICE_SMTPS, 465, 1 }, { SERVICE_POP3, 110, 0 },
		{ SERVICE_POP3S, 995, 1 },
	};
	struct listen_conf **lp = conf_field(base, r->off);
	size_t *np = conf_field(base, r->off_n);

	(void)key;
	conf_listen_free(r, base);
	*lp = xcalloc(sizeof classic / sizeof classic[0], sizeof **lp);
	for (size_t i = 0; i < sizeof classic / sizeof classic[0]; i++) {
		struct listen_conf *l = &(*lp)[*np];

		if (classic[i].tls && !x->ref->tls.enabled)
			continue;
		l->service = classic[i].service;
		l->address = xstrdup("0.0.0.0");
		l->port = classic[i].port;
		(*np)++;
	}
	return 0;
}

/* ( { service = "smtp"; address = "0.0.0.0"; port = 25; }, ... ): what is set. */
static void conf_listen_print(struct buf *b, const struct conf_row *r, const void *base)
{
	const struct conf_block *eb = r->arg;
	const struct listen_conf *l = *(struct listen_conf *const *)conf_cfield(base, r->off);
	size_t n = *(const size_t *)conf_cfield(base, r->off_n);
	struct buf v = BUF_INIT;

	buf_appends(b, "(");
	for (size_t i = 0; i < n; i++) {
		buf_appends(b, i == 0 ? " {" : ", {");
		for (size_t k = 0; k < eb->n; k++) {
			buf_reset(&v);
			eb->rows[k].type->print(&v, &eb->rows[k], &l[i]);
			if (v.len > 0)
				buf_printf(b, " %s = %s;", eb->rows[k].name, v.s);
		}
		buf_appends(b, " }");
	}
	buf_appends(b, " )");
	buf_free(&v);
}

static const struct conf_type conf_type_listen = {
	conf_listen_parse, conf_listen_default, conf_listen_print, conf_listen_free
};

/* A TLS override without the tls block would fail only at the first client. */
static int conf_listen_check(struct ctx *x, const config_setting_t *e, const char *prefix,
    void *base)
{
	const struct listen_conf *l = base;
	const char *which = l->min_version != NULL ? "min_version" : "ciphers";
	char key[CONF_KEY_MAX];

	if (x->c->tls.enabled || (l->min_version == NULL && l->ciphers == NULL))
		return 0;
	return conf_fail(x, config_setting_get_member(e, which),
	    conf_key(key, sizeof key, prefix, which), "needs the tls block");
}
/* ---- filters (milters) ---- */

/* "host:port", "[v6]:port" or "unix:/absolute/path", as filter/milter.c connects. */
static int conf_milter_address_valid(const char *v)
{
	char host[256];
	struct cidr a;
	int port, bracketed;

	if (strncmp(v, "unix:", 5) == 0)
		return v[5] == '/' && strlen(v + 5) < 108 ? 0 : -1;
	if (conf_hostport_split(v, host, sizeof host, 0, &port, &bracketed) < 0 || port == 0)
		return -1;
	if (bracketed)
		return net_addr_parse(host, &a) == 0 && strchr(host, ':') != NULL ? 0 : -1;
	if (strchr(host, ':') != NULL)
		return -1;
	return net_addr_parse(host, &a) == 0 || conf_hostname_valid(host, strlen(host)) ? 0 : -1;
}

static const struct conf_check conf_milter_address_check = {
	conf_milter_address_valid, "bad address",
	"use \"host:port\", \"[v6]:port\" or \"unix:/path\""
};

/* Only the SMTP services are filtered. */
static char *conf_milter_service_normalise(const char *v)
{
	if (v == NULL || (strcmp(v, "smtp") != 0 && strcmp(v, "submission") != 0 &&
	    strcmp(v, "smtps") != 0))
		return NULL;
	return xstrdup(v);
}

static const struct conf_strlist conf_milter_services_rule = {
	conf_milter_service_normalise, "service (smtp, submission or smtps)",
	"name at least one service"
};

/* Unset: every SMTP service. */
static int conf_milter_services_default(struct ctx *x, const struct conf_row *r,
    const char *key, void *base)
{
	static const char *const all[] = { "smtp", "submission", "smtps" };
	char ***v = conf_field(base, r->off);
	size_t *n = conf_field(base, r->off_n);

	(void)x;
	(void)key;
	conf_strlist_free(r, base);
	*v = xcalloc(3, sizeof **v);
	for (size_t i = 0; i < 3; i++)
		(*v)[(*n)++] = xstrdup(all[i]);
	return 0;
}

static const struct conf_type conf_type_milter_services = {
	conf_strlist_parse, conf_milter_services_default, conf_strlist_print, conf_strlist_free
};

/* The element i of a list of groups (block eb) at base. */
static void *conf_entry(const struct conf_block *eb, void *v, size_t i)
{
	return (char *)v + i * eb->size;
}

static void conf_entries_free(const struct conf_row *r, void *base)
{
	void **vp = conf_field(base, r->off);
	size_t *np = conf_field(base, r->off_n);

	for (size_t i = 0; *vp != NULL && i < *np; i++)
		conf_block_free(r->arg, conf_entry(r->arg, *vp, i));
	free(*vp);
	*vp = NULL;
	*np = 0;
}

/* Unset: no entries. */
static int conf_entries_default(struct ctx *x, const struct conf_row *r, const char *key,
    void *base)
{
	(void)x;
	(void)key;
	conf_entries_free(r, base);
	return 0;
}

/*
 * A list of groups whose entries have a name (the first row), each once:
 * ( { name = "a"; ... }, ... ) into an array of the block's entries.
 */
static int conf_entries_parse(struct ctx *x, const struct conf_row *r, config_setting_t *s,
    const char *key, void *base)
{
	const struct conf_block *eb = r->arg;
	void **vp = conf_field(base, r->off);
	size_t *np = conf_field(base, r->off_n);
	int n;

	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return conf_fail(x, s, key, "expected a list ( { ... }, ... )");
	conf_entries_free(r, base);
	n = config_setting_length(s);
	*vp = xcalloc(n > 0 ? (size_t)n : 1, eb->size);
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		void *el = conf_entry(eb, *vp, (size_t)i);
		const char *name;
		char prefix[CONF_KEY_MAX];

		(void)str_format(prefix, sizeof prefix, "%s[%d]", key, i);
		(*np)++;
		if (!config_setting_is_group(e))
			return conf_fail(x, e, prefix, "expected a group { name = ...; ... }");
		if (conf_block_read(x, eb, e, prefix, el) < 0)
			return -1;
		name = *(char *const *)conf_cfield(el, eb->rows[0].off);
		for (int j = 0; j < i; j++)
			if (strcmp(name, *(char *const *)conf_cfield(conf_entry(eb, *vp,
			    (size_t)j), eb->rows[0].off)) == 0)
				return conf_fail_value(x, config_setting_get_member(e,
				    eb->rows[0].name), prefix, "duplicate name", name, NULL);
	}
	return 0;
}

/* ( { name = "a"; ... }, ... ): what is set, "( )" for none. */
static void conf_entries_print(struct buf *b, const struct conf_row *r, const void *base)
{
	const struct conf_block *eb = r->arg;
	const void *v = *(const void *const *)conf_cfield(base, r->off);
	size_t n = *(const size_t *)conf_cfield(base, r->off_n);
	struct buf t = BUF_INIT;

	buf_appends(b, "(");
	for (size_t i = 0; i < n; i++) {
		const void *el = (const char *)v + i * eb->size;

		buf_appends(b, i == 0 ? " {" : ", {");
		for (size_t k = 0; k < eb->n; k++) {
			buf_reset(&t);
			eb->rows[k].type->print(&t, &eb->rows[k], el);
			if (t.len > 0)
				buf_printf(b, " %s = %s;", eb->rows[k].name, t.s);
		}
		buf_appends(b, " }");
	}
	buf_appends(b, " )");
	buf_free(&t);
}

static const struct conf_type conf_type_entries = {
	conf_entries_parse, conf_entries_default, conf_entries_print, conf_entries_free
};

int conf_milter_serves(const struct milter_entry_conf *m, enum service svc)
{
	for (size_t i = 0; i < m->nservices; i++)
		if (strcmp(m->services[i], conf_service_name(svc)) == 0)
			return 1;
	return 0;
}

/* ---- block checks ---- */

/* The tls block is optional; present means TLS is offered, so it must be complete. */
static int conf_tls_check(struct ctx *x, const config_setting_t *g, const char *prefix,
    void *base)
{
	struct tls_conf *t = base;

	(void)prefix;
	if (g == NULL)
		return 0;	/* no TLS offered anywhere */
	if (t->certificate == NULL)
		return conf_fail(x, g, "tls.certificate", "missing; the tls block needs it");
	if (t->private_key == NULL)
		return conf_fail(x, g, "tls.private_key", "missing; the tls block needs it");
	t->enabled = 1;
	return 0;
}

/* The retry schedule doubles from retry_min to retry_max. */
static int conf_queue_check(struct ctx *x, const config_setting_t *g, const char *prefix,
    void *base)
{
	const struct queue_conf *q = base;
	config_setting_t *s;

	(void)prefix;
	if (q->retry_max >= q->retry_min)
		return 0;
	/* Blame the key that is written; one of them is. */
	s = config_setting_get_member(g, "retry_max");
	if (s != NULL)
		return conf_fail(x, s, "queue.retry_max",
		    "%ld is below queue.retry_min (%ld)", q->retry_max, q->retry_min);
	return conf_fail(x, config_setting_get_member(g, "retry_min"), "queue.retry_min",
	    "%ld is above queue.retry_max (%ld)", q->retry_min, q->retry_max);
}

/* ---- the tables: one row per key ---- */

#define CONF_ROW(n, T, f, ty, ...) \
	{ .name = (n), .type = &(ty), .off = offsetof(T, f), __VA_ARGS__ }
#define CONF_BOOL(T, f, d) \
	CONF_ROW(#f, T, f, conf_type_bool, .num = (d))
#define CONF_LONG(T, f, d, lo, hi) \
	CONF_ROW(#f, T, f, conf_type_long, .num = (d), .min = (lo), .max = (hi))
#define CONF_UINT(T, f, d, lo, hi) \
	CONF_ROW(#f, T, f, conf_type_uint, .num = (d), .min = (lo), .max = (hi))
#define CONF_STRING(T, f, d) \
	CONF_ROW(#f, T, f, conf_type_string, .str = (d))
#define CONF_PATH(T, f, d) \
	CONF_ROW(#f, T, f, conf_type_path, .str = (d))
#define CONF_CHOICE(T, f, d, names) \
	CONF_ROW(#f, T, f, conf_type_choice, .str = (d), .arg = &(names))
#define CONF_NETS(T, f, d) \
	CONF_ROW(#f, T, f, conf_type_nets, .list = (d))
#define CONF_GROUP(n, T, f, block) \
	CONF_ROW(n, T, f, conf_type_group, .arg = &(block))
#define CONF_BLOCK(rows, check) { rows, sizeof rows / sizeof rows[0], check, 0 }
#define CONF_ENTRY(rows, check, T) { rows, sizeof rows / sizeof rows[0], check, sizeof(T) }

static const char *const tls_version_names[] = { "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3" };
static const struct conf_enum conf_tls_versions = {
	tls_version_names, NULL, 4, "unknown TLS version"
};

static const char *const log_level_names[] = { "debug", "info", "warning", "error" };
static const int log_level_values[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
static const struct conf_enum conf_log_levels = {
	log_level_names, log_level_values, 4, "unknown level"
};

static const char *const trusted_default[] = { "127.0.0.1/32", "::1/128", NULL };

/* One { service; address; port; ... } of listen. */
static const struct conf_row conf_listen_rows[] = {
	CONF_ROW("service", struct listen_conf, service, conf_type_service,
	    .flags = CONF_REQUIRED, .arg = &conf_services),
	CONF_ROW("address", struct listen_conf, address, conf_type_address, .str = NULL),
	CONF_ROW("port", struct listen_conf, port, conf_type_int,
	    .flags = CONF_REQUIRED, .min = 1, .max = 65535),
	CONF_CHOICE(struct listen_conf, min_version, NULL, conf_tls_versions),
	CONF_STRING(struct listen_conf, ciphers, NULL),
};
static const struct conf_block conf_listen_entry = CONF_BLOCK(conf_listen_rows, conf_listen_check);

static const char *const on_error_names[] = { "tempfail", "accept" };
static const struct conf_enum conf_on_error = {
	on_error_names, NULL, 2, "unknown on_error"
};

/* One { name; address; timeout; on_error; services; } of milters. */
static const struct conf_row conf_milter_rows[] = {
	CONF_ROW("name", struct milter_entry_conf, name, conf_type_string,
	    .flags = CONF_REQUIRED),
	CONF_ROW("address", struct milter_entry_conf, address, conf_type_string,
	    .flags = CONF_REQUIRED, .arg = &conf_milter_address_check),
	CONF_ROW("timeout", struct milter_entry_conf, timeout, conf_type_int,
	    .num = 30, .min = 1, .max = 3600),
	CONF_ROW("on_error", struct milter_entry_conf, on_error, conf_type_enum,
	    .num = CONF_MILTER_TEMPFAIL, .arg = &conf_on_error),
	CONF_ROW("services", struct milter_entry_conf, services, conf_type_milter_services,
	    .off_n = offsetof(struct milter_entry_conf, nservices),
	    .arg = &conf_milter_services_rule),
};
static const struct conf_block conf_milter_entry = CONF_ENTRY(conf_milter_rows, NULL,
    struct milter_entry_conf);

static const struct conf_row conf_tls_rows[] = {
	CONF_PATH(struct tls_conf, certificate, NULL),
	CONF_PATH(struct tls_conf, private_key, NULL),
	CONF_CHOICE(struct tls_conf, min_version, "TLSv1.2", conf_tls_versions),
	CONF_STRING(struct tls_conf, ciphers, NULL),
};
static const struct conf_block conf_tls = CONF_BLOCK(conf_tls_rows, conf_tls_check);

/* Who may relay, how long a POP3 login counts (docs/PROTOCOL.md, relay policy). */
static const struct conf_row conf_relay_rows[] = {
	CONF_NETS(struct relay_conf, customer_networks, NULL),
	CONF_NETS(struct relay_conf, trusted_networks, trusted_default),
	CONF_LONG(struct relay_conf, authorization_ttl, 1800, 0, INT_MAX),
	CONF_UINT(struct relay_conf, ipv6_prefix, 64, 1, 128),
	CONF_NETS(struct relay_conf, never_authorize, NULL),
	CONF_BOOL(struct relay_conf, plaintext_auth, 0),
	CONF_ROW("smarthost", struct relay_conf, smarthost, conf_type_string,
	    .str = "", .flags = CONF_EMPTY_OK, .arg = &conf_smarthost_check),
	CONF_BOOL(struct relay_conf, sender_login_match, 0),
	CONF_BOOL(struct relay_conf, local_sender_from_outside, 0),
	CONF_ROW("backend", struct relay_conf, backend, conf_type_enum,
	    .num = RELAY_BACKEND_BDB, .arg = &conf_relay_backends),
};
static const struct conf_block conf_relay = CONF_BLOCK(conf_relay_rows, NULL);

/* An optional resolver to use instead of the system's; its field is in struct conf. */
static const struct conf_row conf_dns_rows[] = {
	CONF_ROW("nameserver", struct conf, dns_nameserver, conf_type_string,
	    .str = "", .flags = CONF_EMPTY_OK, .arg = &conf_nameserver_check),
};
static const struct conf_block conf_dns = CONF_BLOCK(conf_dns_rows, NULL);

/*
 * Every limit is at least 1, or it would lock everyone out; only
 * session_timeout and the two outbound limits may be 0, which turns them
 * off.
 */
static const struct conf_row conf_limits_rows[] = {
	CONF_LONG(struct limits_conf, max_connections, 200, 1, INT_MAX),
	CONF_LONG(struct limits_conf, max_per_ip, 10, 1, INT_MAX),
	CONF_LONG(struct limits_conf, message_size, 26214400, 1, INT_MAX),
	CONF_LONG(struct limits_conf, max_recipients, 100, 1, INT_MAX),
	CONF_LONG(struct limits_conf, command_timeout, 600, 1, CONF_TIMEOUT_MAX),
	CONF_LONG(struct limits_conf, data_timeout, 600, 1, CONF_TIMEOUT_MAX),
	CONF_LONG(struct limits_conf, auth_failures, 3, 1, INT_MAX),
	CONF_LONG(struct limits_conf, max_use, 100, 1, INT_MAX),
	CONF_LONG(struct limits_conf, max_idle, 60, 1, CONF_TIMEOUT_MAX),
	CONF_LONG(struct limits_conf, junk_command_limit, 100, 1, INT_MAX),
	CONF_LONG(struct limits_conf, session_timeout, 3600, 0, CONF_TIMEOUT_MAX),
	CONF_LONG(struct limits_conf, error_limit, 10, 1, INT_MAX),
	CONF_LONG(struct limits_conf, outbound_per_user_hour, 500, 0, INT_MAX),
	CONF_LONG(struct limits_conf, outbound_per_ip_hour, 1000, 0, INT_MAX),
	CONF_LONG(struct limits_conf, outbound_window, 3600, 1, CONF_TIMEOUT_MAX),
};
static const struct conf_block conf_limits = CONF_BLOCK(conf_limits_rows, NULL);

static const struct conf_row conf_queue_rows[] = {
	CONF_LONG(struct queue_conf, retry_min, 300, 1, INT_MAX),
	CONF_LONG(struct queue_conf, retry_max, 3600, 1, INT_MAX),
	CONF_LONG(struct queue_conf, max_age, 432000, 1, INT_MAX),
	CONF_LONG(struct queue_conf, delivery_timeout, 1200, 5, CONF_TIMEOUT_MAX),
};
static const struct conf_block conf_queue = CONF_BLOCK(conf_queue_rows, conf_queue_check);

static int conf_selector_valid(const char *v)
{
	return dns_name_ok(v) ? 0 : -1;
}

static const struct conf_check conf_selector_check = {
	conf_selector_valid, "bad selector",
	"use letters, digits, '-' and '_', in dot-separated labels"
};

/* Where the DKIM keys are; the keys themselves are loaded by the daemon. */
static const struct conf_row conf_dkim_rows[] = {
	CONF_PATH(struct dkim_conf, keys_dir, SYSCONFDIR "/ispmaild/dkim"),
	CONF_ROW("selector", struct dkim_conf, selector, conf_type_string,
	    .str = "s2026", .arg = &conf_selector_check),
};
static const struct conf_block conf_dkim = CONF_BLOCK(conf_dkim_rows, NULL);

/* DNSBL zones are names like domains: lower case, one trailing dot dropped. */
static const struct conf_strlist conf_zones_rule = {
	conf_domain_normalise, "zone", NULL
};

static const struct conf_row conf_dnsbl_rows[] = {
	CONF_ROW("zones", struct dnsbl_conf, zones, conf_type_strlist,
	    .off_n = offsetof(struct dnsbl_conf, nzones), .arg = &conf_zones_rule),
};
static const struct conf_block conf_dnsbl = CONF_BLOCK(conf_dnsbl_rows, NULL);

/* A delay of 0 would accept every first attempt; an expiry below it nothing. */
static const struct conf_row conf_greylist_rows[] = {
	CONF_BOOL(struct greylist_conf, enabled, 0),
	CONF_LONG(struct greylist_conf, delay, 300, 1, 86400),
	CONF_LONG(struct greylist_conf, expire, 3024000, 3600, INT_MAX),
	CONF_LONG(struct greylist_conf, auto_allow, 5, 0, INT_MAX),
};
static const struct conf_block conf_greylist = CONF_BLOCK(conf_greylist_rows, NULL);


static const struct conf_check conf_postmaster_check = {
	conf_address_valid, "bad address", "write it as user@domain"
};
static const struct conf_check conf_srs_domain_check = {
	conf_selector_valid, "bad domain", "a domain name, or \"\" for the hostname"
};

/* The SRS secret's file and the domain of the addresses (srs.h). */
static const struct conf_row conf_srs_rows[] = {
	CONF_PATH(struct srs_conf, secret_file, SYSCONFDIR "/ispmaild/srs.secret"),
	CONF_ROW("domain", struct srs_conf, domain, conf_type_string,
	    .str = "", .flags = CONF_EMPTY_OK, .arg = &conf_srs_domain_check),
};
static const struct conf_block conf_srs = CONF_BLOCK(conf_srs_rows, NULL);

/* The web service's administrators and how long an idle session lives. */
static const struct conf_row conf_web_rows[] = {
	CONF_ROW("admins", struct web_conf, admins, conf_type_strlist,
	    .off_n = offsetof(struct web_conf, nadmins), .arg = &conf_admins_rule),
	CONF_LONG(struct web_conf, session_ttl, 1800, 60, 86400 * 7),
};
static const struct conf_block conf_web = CONF_BLOCK(conf_web_rows, NULL);

/* Redis, read whatever the backend (ispmailctl may point at it). */
static const struct conf_row conf_redis_rows[] = {
	CONF_ROW("address", struct redis_conf, address, conf_type_string,
	    .str = "127.0.0.1:6379", .arg = &conf_redis_address_check),
	CONF_ROW("password_file", struct redis_conf, password_file, conf_type_string,
	    .str = "", .flags = CONF_EMPTY_OK),
	CONF_ROW("prefix", struct redis_conf, prefix, conf_type_string,
	    .str = "ispmaild:", .flags = CONF_EMPTY_OK, .arg = &conf_redis_prefix_check),
	CONF_LONG(struct redis_conf, timeout_ms, 500, 10, 60000),
};
static const struct conf_block conf_redis = CONF_BLOCK(conf_redis_rows, NULL);

/*
 * The top level, in the order the keys are read: domains follow hostname
 * (their default), listen follows tls (smtps and pop3s need it).
 */
static const struct conf_row conf_root_rows[] = {
	CONF_ROW("hostname", struct conf, hostname, conf_type_hostname, .str = NULL),
	CONF_PATH(struct conf, state_dir, LOCALSTATEDIR "/lib/ispmaild"),
	CONF_PATH(struct conf, maildir_root, "/var/mail/ispmaild"),
	CONF_PATH(struct conf, users_file, SYSCONFDIR "/ispmaild/users"),
	CONF_PATH(struct conf, aliases_file, NULL),
	CONF_STRING(struct conf, user, "vmail"),
	CONF_STRING(struct conf, group, "vmail"),
	CONF_GROUP("tls", struct conf, tls, conf_tls),
	CONF_GROUP("relay", struct conf, relay, conf_relay),
	{ .name = "dns", .type = &conf_type_group, .off = 0, .arg = &conf_dns },
	CONF_GROUP("limits", struct conf, limits, conf_limits),
	CONF_GROUP("queue", struct conf, queue, conf_queue),
	CONF_GROUP("dkim", struct conf, dkim, conf_dkim),
	CONF_GROUP("dnsbl", struct conf, dnsbl, conf_dnsbl),
	CONF_GROUP("greylist", struct conf, greylist, conf_greylist),
	CONF_GROUP("srs", struct conf, srs, conf_srs),
	CONF_GROUP("web", struct conf, web, conf_web),
	CONF_GROUP("redis", struct conf, redis, conf_redis),
	CONF_ROW("domains", struct conf, domains, conf_type_domains,
	    .off_n = offsetof(struct conf, ndomains), .arg = &conf_domains_rule),
	CONF_ROW("listen", struct conf, listen, conf_type_listen,
	    .off_n = offsetof(struct conf, nlisten), .arg = &conf_listen_entry),
	CONF_ROW("milters", struct conf, milters, conf_type_entries,
	    .off_n = offsetof(struct conf, nmilters), .arg = &conf_milter_entry),
	CONF_ROW("log_level", struct conf, log_level, conf_type_enum,
	    .num = LOG_INFO, .arg = &conf_log_levels),
	CONF_ROW("postmaster", struct conf, postmaster, conf_type_string,
	    .str = "", .flags = CONF_EMPTY_OK, .arg = &conf_postmaster_check),
};
static const struct conf_block conf_root = CONF_BLOCK(conf_root_rows, NULL);

/* ---- walking the tables ---- */

static const struct conf_row *conf_row_find(const struct conf_block *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->rows[i].name, name) == 0)
			return &b->rows[i];
	return NULL;
}

/*
 * Every member of g must be a row of b; the first one that is not is the
 * error (a misspelt key silently ignored is a default the admin did not ask for).
 */
static int conf_check_keys(struct ctx *x, const config_setting_t *g, const char *prefix,
    const struct conf_block *b)
{
	char key[CONF_KEY_MAX];

	if (g == NULL)
		return 0;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);

		if (name != NULL && conf_row_find(b, name) == NULL)
			return conf_fail(x, m, conf_key(key, sizeof key, prefix, name),
			    "unknown key");
	}
	return 0;
}

/*
 * Read block b from group g (NULL: absent) into base, row by row in table
 * order, then its check; the first error wins (building defaults: none does).
 */
static int conf_block_read(struct ctx *x, const struct conf_block *b,
    const config_setting_t *g, const char *prefix, void *base)
{
	char key[CONF_KEY_MAX];

	if (conf_check_keys(x, g, prefix, b) < 0)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		const struct conf_row *r = &b->rows[i];
		config_setting_t *s = g != NULL ? config_setting_get_member(g, r->name) : NULL;
		int rc;

		conf_key(key, sizeof key, prefix, r->name);
		if (s != NULL)
			rc = r->type->parse(x, r, s, key, base);
		else if ((r->flags & CONF_REQUIRED) && !x->lenient)
			rc = conf_fail(x, g, key, "missing");
		else
			rc = r->type->dflt(x, r, key, base);
		if (rc < 0 && !x->lenient)
			return -1;
	}
	if (b->check != NULL && b->check(x, g, prefix, base) < 0 && !x->lenient)
		return -1;
	return 0;
}

static void conf_block_free(const struct conf_block *b, void *base)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->rows[i].type->free != NULL)
			b->rows[i].type->free(&b->rows[i], base);
}

/*
 * Block b's defaults into base, as the table and the derived rules give
 * them: c is the conf being built, ref what derived defaults follow. Never
 * fails; a default that cannot be had (gethostname) stays unset.
 */
static void conf_block_defaults(const struct conf_block *b, void *base, struct conf *c,
    const struct conf *ref)
{
	struct ctx x;
	char err[256];

	memset(&x, 0, sizeof x);
	x.file = "(defaults)";
	x.err = err;
	x.errlen = sizeof err;
	x.c = c;
	x.ref = ref;
	x.lenient = 1;
	(void)conf_block_read(&x, b, NULL, "", base);
}

/* "key = value", or "key =" when there is no value. */
static void conf_print_line(struct buf *out, const char *key, const struct buf *v)
{
	buf_printf(out, "%s =%s%s\n", key, v->len > 0 ? " " : "", v->len > 0 ? v->s : "");
}

/*
 * One line per key of block b: those whose value differs from dbase's
 * (ispmaild -n), or every key (dbase NULL, ispmaild -d: a required key
 * without a value, a list of groups followed by its groups' keys as
 * "listen[].port"). The block's own keys first, in table order, then its
 * groups, each in turn.
 */
static void conf_block_print(struct buf *out, const struct conf_block *b, const char *prefix,
    const void *base, const void *dbase)
{
	struct buf v = BUF_INIT, dv = BUF_INIT;
	char key[CONF_KEY_MAX];

	for (size_t i = 0; i < b->n; i++) {
		const struct conf_row *r = &b->rows[i];

		if (r->type == &conf_type_group)
			continue;
		conf_key(key, sizeof key, prefix, r->name);
		buf_reset(&v);
		buf_reset(&dv);
		if (dbase != NULL || !(r->flags & CONF_REQUIRED))
			r->type->print(&v, r, base);
		if (dbase != NULL)
			r->type->print(&dv, r, dbase);
		if (dbase != NULL && strcmp(v.len > 0 ? v.s : "", dv.len > 0 ? dv.s : "") == 0)
			continue;
		conf_print_line(out, key, &v);
		if (dbase == NULL && r->type == &conf_type_listen) {
			struct listen_conf e;
			struct conf none;

			memset(&e, 0, sizeof e);
			memset(&none, 0, sizeof none);
			conf_block_defaults(r->arg, &e, &none, &none);
			(void)str_format(key, sizeof key, "%s%s[]", prefix, r->name);
			conf_block_print(out, r->arg, key, &e, NULL);
			conf_block_free(r->arg, &e);
		} else if (dbase == NULL && r->type == &conf_type_entries) {
			const struct conf_block *eb = r->arg;
			void *e = xcalloc(1, eb->size);
			struct conf none;

			memset(&none, 0, sizeof none);
			conf_block_defaults(eb, e, &none, &none);
			(void)str_format(key, sizeof key, "%s%s[]", prefix, r->name);
			conf_block_print(out, eb, key, e, NULL);
			conf_block_free(eb, e);
			free(e);
		}
	}
	buf_free(&v);
	buf_free(&dv);
	for (size_t i = 0; i < b->n; i++) {
		const struct conf_row *r = &b->rows[i];

		if (r->type != &conf_type_group)
			continue;
		conf_key(key, sizeof key, prefix, r->name);
		conf_block_print(out, r->arg, key, conf_cfield(base, r->off),
		    dbase != NULL ? conf_cfield(dbase, r->off) : NULL);
	}
}

void conf_print_changed(const struct conf *c, struct buf *out)
{
	struct conf d;

	memset(&d, 0, sizeof d);
	conf_block_defaults(&conf_root, &d, &d, c);
	conf_block_print(out, &conf_root, "", c, &d);
	conf_free(&d);
}

void conf_print_defaults(struct buf *out)
{
	struct conf d;

	memset(&d, 0, sizeof d);
	conf_block_defaults(&conf_root, &d, &d, &d);
	conf_block_print(out, &conf_root, "", &d, NULL);
	conf_free(&d);
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

/* Parse the file and walk the tables, block by block; the first error wins. */
static int conf_read(struct ctx *x, config_t *cfg)
{
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
	return conf_block_read(x, &conf_root, config_root_setting(cfg), "", x->c);
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
	x.ref = out;
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
	conf_block_free(&conf_root, c);
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
	return conf_enum_find(&conf_services, name);
}

int conf_log_level_parse(const char *name)
{
	int i = conf_enum_find(&conf_log_levels, name);

	return i < 0 ? -1 : conf_enum_value(&conf_log_levels, i);
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
