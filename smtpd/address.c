/*
 * address.c: parse the path of MAIL FROM: and RCPT TO: (RFC 5321 §4.1.2,
 * limits of §4.5.3.1) and decide whether a recipient is local, in the
 * face of the old relay tricks ('%' hack, bang paths, source routes).
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "conf.h"

/* RFC 5321 §4.1.2 atext (RFC 5322 §3.2.3). */
static int is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int is_letdig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Where the grammar stopped: a non-ASCII byte deserves its own reply.
 * (The scanners below leave *i at the byte they stopped on.)
 */
static int fail_at(const char *s, size_t len, size_t i)
{
	if (i < len && (unsigned char)s[i] >= 0x80)
		return SMTP_PATH_E8BIT;
	return SMTP_PATH_ESYNTAX;
}

/*
 * Domain = sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str] (RFC
 * 5321 §4.1.2). With trailing_dot, one final '.' is admitted
 * (docs/PROTOCOL.md, relay policy: "user@local." is local) and reported in
 * *dotted. The longest label goes to *maxlabel. Advances *i past the domain;
 * -1 when there is none.
 */
static int scan_domain(const char *s, size_t len, size_t *i, int trailing_dot,
    int *dotted, size_t *maxlabel)
{
	size_t j = *i;

	*dotted = 0;
	*maxlabel = 0;
	for (;;) {
		size_t label = j;

		if (j >= len || !is_letdig((unsigned char)s[j]))
			goto bad;
		while (j < len && (is_letdig((unsigned char)s[j]) || s[j] == '-'))
			j++;
		if (s[j - 1] == '-')
			goto bad;
		if (j - label > *maxlabel)
			*maxlabel = j - label;
		if (j >= len || s[j] != '.')
			break;
		j++;
		if (j < len && is_letdig((unsigned char)s[j]))
			continue;
		if (!trailing_dot)
			goto bad;
		*dotted = 1;
		break;
	}
	*i = j;
	return 0;
bad:
	*i = j;
	return -1;
}

/*
 * address-literal = "[" ( IPv4-address-literal / IPv6-address-literal ) "]"
 * (RFC 5321 §4.1.3). General-address-literal tags name nothing we could
 * deliver to, so they are a syntax error. *i is at '['.
 */
static int scan_literal(const char *s, size_t len, size_t *i)
{
	char ip[INET6_ADDRSTRLEN + 1];
	unsigned char bin[16];
	size_t j = *i + 1, start = j, n;
	int family = AF_INET;

	while (j < len && s[j] != ']') {
		unsigned char c = (unsigned char)s[j];

		/* dcontent = %d33-90 / %d94-126 */
		if (c < 33 || c > 126 || c == '[' || c == '\\') {
			*i = j;
			return -1;
		}
		j++;
	}
	if (j >= len)
		return -1;
	if (j - start > 5 && strncasecmp(s + start, "IPv6:", 5) == 0) {
		family = AF_INET6;
		start += 5;
	}
	n = j - start;
	if (n == 0 || n >= sizeof ip)
		return -1;
	memcpy(ip, s + start, n);
	ip[n] = '\0';
	if (inet_pton(family, ip, bin) != 1)
		return -1;
	*i = j + 1;
	return 0;
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE; *i is at the DQUOTE. */
static int scan_quoted(const char *s, size_t len, size_t *i)
{
	size_t j = *i + 1;

	while (j < len && s[j] != '"') {
		unsigned char c = (unsigned char)s[j];

		if (c == '\\') {
			/* quoted-pairSMTP = %d92 %d32-126 */
			if (j + 1 >= len || (unsigned char)s[j + 1] < 32 ||
			    (unsigned char)s[j + 1] > 126) {
				*i = j + 1;
				return -1;
			}
			j += 2;
			continue;
		}
		/* qtextSMTP = %d32-33 / %d35-91 / %d93-126 */
		if (c < 32 || c > 126) {
			*i = j;
			return -1;
		}
		j++;
	}
	/* An empty "" names nobody; refuse it rather than carry it along. */
	if (j >= len || j == *i + 1)
		return -1;
	*i = j + 1;
	return 0;
}

/* Dot-string = Atom *("." Atom). */
static int scan_dot_string(const char *s, size_t len, size_t *i)
{
	size_t j = *i;

	for (;;) {
		size_t atom = j;

		while (j < len && is_atext((unsigned char)s[j]))
			j++;
		if (j == atom) {
			*i = j;
			return -1;
		}
		if (j >= len || s[j] != '.')
			break;
		j++;
	}
	*i = j;
	return 0;
}

/*
 * esmtp-param = esmtp-keyword ["=" esmtp-value] (RFC 5321 §4.1.2):
 * keyword (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), value 1*(%d33-60 /
 * %d62-126). Spaces between parameters (one or more) are skipped.
 */
int smtp_param_next(const char **p, const char *end, struct smtp_param *out)
{
	const char *s = *p;

	memset(out, 0, sizeof *out);
	while (s < end && *s == ' ')
		s++;
	if (s >= end) {
		*p = s;
		return 0;
	}
	out->keyword = s;
	if (!is_letdig((unsigned char)*s))
		return -1;
	while (s < end && (is_letdig((unsigned char)*s) || *s == '-'))
		s++;
	out->keylen = (size_t)(s - out->keyword);
	if (s < end && *s == '=') {
		s++;
		out->value = s;
		while (s < end && (unsigned char)*s >= 33 &&
		    (unsigned char)*s <= 126 && *s != '=')
			s++;
		out->valuelen = (size_t)(s - out->value);
		if (out->valuelen == 0)
			return -1;
	}
	if (s < end && *s != ' ')
		return -1;
	while (s < end && *s == ' ')
		s++;
	*p = s;
	return 1;
}

/* Check the whole parameter list once, so the caller may trust it. */
static int check_params(const char *s, const char *end)
{
	struct smtp_param prm;
	int r;

	while ((r = smtp_param_next(&s, end, &prm)) == 1)
		;
	return r;
}

/* Copy n bytes, lower-cased or not; dst holds at least n + 1. */
static void copy_bytes(char *dst, const char *src, size_t n, int fold)
{
	for (size_t k = 0; k < n; k++)
		dst[k] = fold ? lower(src[k]) : src[k];
	dst[n] = '\0';
}

/* The parser proper; smtp_parse_path_arg() cleans up after a failure. */
static int path_parse(const char *arg, size_t len, int allow_null,
    struct smtp_path *out, const char **params)
{
	size_t i = 0, open, local_start, local_end, dom_start, dom_end;
	size_t maxlabel = 0, route_end = 0, k;
	int dotted = 0;

	/* Outlook Express: "MAIL FROM: <x>". */
	while (i < len && arg[i] == ' ')
		i++;
	if (i >= len || arg[i] != '<')
		return fail_at(arg, len, i);
	open = i++;

	if (i < len && arg[i] == '>') {
		if (!allow_null)
			return SMTP_PATH_ENULL;
		out->is_null = 1;
		i++;
		goto parameters;
	}

	/* A-d-l = At-domain *( "," At-domain ), then ':' (RFC 5321 §4.1.2). */
	if (i < len && arg[i] == '@') {
		for (;;) {
			int d;

			i++;
			if (scan_domain(arg, len, &i, 0, &d, &maxlabel) < 0)
				return fail_at(arg, len, i);
			if (maxlabel > SMTP_LABEL_MAX)
				return SMTP_PATH_EDOMAIN;
			out->route_hops++;
			if (i < len && arg[i] == ',' && i + 1 < len && arg[i + 1] == '@') {
				i++;
				continue;
			}
			if (i < len && arg[i] == ':')
				break;
			return fail_at(arg, len, i);
		}
		out->had_route = 1;
		route_end = i++;
	}

	local_start = i;
	if (i < len && arg[i] == '"') {
		if (scan_quoted(arg, len, &i) < 0)
			return fail_at(arg, len, i);
		out->is_quoted = 1;
	} else if (scan_dot_string(arg, len, &i) < 0) {
		return fail_at(arg, len, i);
	}
	local_end = i;

	/* RFC 5321 §4.1.1.3: "<Postmaster>" (any case) without a domain. */
	if (!allow_null && !out->had_route && !out->is_quoted &&
	    i < len && arg[i] == '>' && local_end - local_start == 10 &&
	    strncasecmp(arg + local_start, "postmaster", 10) == 0) {
		out->is_postmaster = 1;
		dom_start = dom_end = i;
	} else {
		if (i >= len || arg[i] != '@')
			return fail_at(arg, len, i);
		dom_start = ++i;
		if (i < len && arg[i] == '[') {
			if (scan_literal(arg, len, &i) < 0)
				return fail_at(arg, len, i);
			out->is_literal = 1;
		} else if (scan_domain(arg, len, &i, 1, &dotted, &maxlabel) < 0) {
			return fail_at(arg, len, i);
		}
		dom_end = i;
	}
	if (i >= len || arg[i] != '>')
		return fail_at(arg, len, i);
	i++;

	/* RFC 5321 §4.5.3.1: the limits, the widest first. */
	if (i - open > SMTP_PATH_MAX)
		return SMTP_PATH_ELONG;
	if (local_end - local_start > SMTP_LOCAL_MAX)
		return SMTP_PATH_ELOCAL;
	if (dom_end - dom_start - (size_t)dotted > SMTP_DOMAIN_MAX ||
	    maxlabel > SMTP_LABEL_MAX)
		return SMTP_PATH_EDOMAIN;

	copy_bytes(out->mailbox, arg + local_start, i - 1 - local_start, 0);
	copy_bytes(out->local, arg + local_start, local_end - local_start, 0);
	copy_bytes(out->domain, arg + dom_start, dom_end - dom_start - (size_t)dotted, 1);
	if (out->had_route)
		copy_bytes(out->route, arg + open + 1, route_end - open - 1, 0);
	for (k = 0; out->local[k] != '\0'; k++)
		if (out->local[k] == '%' || out->local[k] == '!' || out->local[k] == '@')
			out->is_routed = 1;

parameters:
	if (i - open > SMTP_PATH_MAX)
		return SMTP_PATH_ELONG;
	if (i < len && arg[i] != ' ')
		return fail_at(arg, len, i);
	while (i < len && arg[i] == ' ')
		i++;
	if (check_params(arg + i, arg + len) < 0)
		return SMTP_PATH_EPARAM;
	*params = arg + i;
	return SMTP_PATH_OK;
}

int smtp_parse_path_arg(const char *arg, size_t len, int allow_null,
    struct smtp_path *out, const char **params)
{
	const char *prm = arg + len;
	int rc;

	memset(out, 0, sizeof *out);
	rc = path_parse(arg, len, allow_null, out, &prm);
	if (rc != SMTP_PATH_OK) {
		/* Nothing half-parsed is left for a careless caller. */
		memset(out, 0, sizeof *out);
		prm = arg + len;
	}
	if (params != NULL)
		*params = prm;
	return rc;
}

enum smtp_rcpt_kind smtp_classify_rcpt(const struct smtp_path *p,
    char *const *domains, size_t n)
{
	if (p->is_null)
		return SMTP_RCPT_INVALID;
	if (p->is_postmaster)
		return n > 0 && domains[0] != NULL && domains[0][0] != '\0' ?
		    SMTP_RCPT_LOCAL : SMTP_RCPT_INVALID;
	if (p->domain[0] == '\0' || p->local[0] == '\0')
		return SMTP_RCPT_INVALID;
	if (p->is_literal || !domain_in_list(domains, n, p->domain, strlen(p->domain)))
		return SMTP_RCPT_REMOTE;
	/* Checked on the text itself, not on is_routed, so that a path
	 * built by hand cannot get past: '%', '!' and '@', quoted or not. */
	if (strpbrk(p->local, "%!@") != NULL)
		return SMTP_RCPT_REMOTE;
	return SMTP_RCPT_LOCAL;
}

const char *smtp_rcpt_kind_name(enum smtp_rcpt_kind k)
{
	switch (k) {
	case SMTP_RCPT_LOCAL:
		return "local";
	case SMTP_RCPT_REMOTE:
		return "remote";
	case SMTP_RCPT_INVALID:
		break;
	}
	return "invalid";
}

/*
 * Unquote and lower-case a local part into out (at least SMTP_LOCAL_MAX
 * + 1 bytes); -1 when the result could not be a mailbox name, which keeps
 * '/', "..", spaces and quotes away from Maildir paths.
 */
static int local_canonical(const struct smtp_path *p, char *out)
{
	const char *s = p->local;
	size_t n = 0, k;

	if (p->is_quoted) {
		size_t len = strlen(s);

		if (len < 2)
			return -1;
		for (k = 1; k + 1 < len; k++) {
			if (s[k] == '\\')
				k++;
			out[n++] = lower(s[k]);
		}
	} else {
		for (k = 0; s[k] != '\0'; k++)
			out[n++] = lower(s[k]);
	}
	out[n] = '\0';
	if (n == 0 || out[0] == '.' || out[n - 1] == '.' || strstr(out, "..") != NULL)
		return -1;
	for (k = 0; k < n; k++)
		if ((!is_atext((unsigned char)out[k]) && out[k] != '.') || out[k] == '/')
			return -1;
	return 0;
}

int smtp_path_local_address(const struct smtp_path *p, char *const *domains,
    size_t n, char *out, size_t outlen)
{
	char local[SMTP_LOCAL_MAX + 1];
	const char *domain;
	size_t ll, dl;

	if (outlen > 0)
		out[0] = '\0';
	if (smtp_classify_rcpt(p, domains, n) != SMTP_RCPT_LOCAL)
		return -1;
	if (p->is_postmaster) {
		memcpy(local, "postmaster", sizeof "postmaster");
		domain = domains[0];
	} else {
		if (local_canonical(p, local) < 0)
			return -1;
		domain = p->domain;
	}
	ll = strlen(local);
	dl = strlen(domain);
	if (dl > 0 && domain[dl - 1] == '.')
		dl--;
	if (ll + 1 + dl + 1 > outlen)
		return -1;
	copy_bytes(out, local, ll, 0);
	out[ll] = '@';
	copy_bytes(out + ll + 1, domain, dl, 1);
	return 0;
}
