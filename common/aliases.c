/*
 * aliases.c: the aliases file (docs/PROTOCOL.md, files): "alias@domain:
 * dest[, dest...]" and the catch-all "@domain: dest", loaded into an array
 * sorted by name so that a lookup is a binary search even for an ISP's
 * thousands.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aliases.h"
#include "buf.h"
#include "users.h"
#include "sys.h"

#define ALIASES_SEP " \t,"

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* "@domain": checked as the address "x@domain" would be. */
static int catchall_valid(const char *name)
{
	char probe[USERS_ADDRESS_MAX];

	return name[0] == '@' && str_format(probe, sizeof probe, "x%s", name) == 0 &&
	    users_address_valid(probe);
}

static void alias_clear(struct alias *al)
{
	for (size_t i = 0; i < al->ndest; i++)
		free(al->dest[i]);
	free(al->dest);
	free(al->name);
}

void aliases_free(struct aliases *a)
{
	for (size_t i = 0; i < a->n; i++)
		alias_clear(&a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

/*
 * One "name: dest..." line into *al (lower-cased, validated, duplicate
 * destinations dropped). NULL, or why the line is malformed.
 */
static const char *parse_line(char *line, struct alias *al)
{
	char *name, *end, *colon, *tok, *save = NULL;

	memset(al, 0, sizeof *al);
	colon = strchr(line, ':');
	if (colon == NULL)
		return "expected \"alias@domain: destination, ...\"";
	*colon = '\0';
	name = line + strspn(line, " \t");
	end = name + strlen(name);
	while (end > name && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	lower(name);
	if (name[0] == '@' ? !catchall_valid(name) : !users_address_valid(name))
		return "invalid alias name";
	for (tok = strtok_r(colon + 1, ALIASES_SEP, &save); tok != NULL;
	    tok = strtok_r(NULL, ALIASES_SEP, &save)) {
		char *at = strchr(tok, '@');
		int dup = 0;

		if (!users_address_valid(tok)) {
			alias_clear(al);
			memset(al, 0, sizeof *al);
			return "invalid destination address";
		}
		lower(at);
		for (size_t i = 0; i < al->ndest && !dup; i++)
			dup = strcmp(al->dest[i], tok) == 0;
		if (dup)
			continue;
		al->dest = xreallocarray(al->dest, al->ndest + 1, sizeof *al->dest);
		al->dest[al->ndest++] = xstrdup(tok);
	}
	if (al->ndest == 0) {
		alias_clear(al);
		memset(al, 0, sizeof *al);
		return "no destination";
	}
	al->name = xstrdup(name);
	return NULL;
}

static int alias_cmp(const void *a, const void *b)
{
	const struct alias *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

int aliases_load(const char *path, struct aliases *out, char *err, size_t errlen)
{
	char line[USERS_LINE_MAX + 1];
	size_t len, lineno = 0;
	struct alias al;
	const char *why, *p;
	FILE *f;
	int r, e;

	out->v = NULL;
	out->n = 0;
	if (path == NULL)
		return 0;
	if ((f = users_file_open(path, err, errlen)) == NULL)
		return -1;
	while ((r = users_file_next(f, path, line, sizeof line, &len, &lineno,
	    err, errlen)) != 0) {
		if (r < 0)
			goto fail;
		if (strlen(line) != len) {
			seterr(err, errlen, "%s:%zu: NUL byte in line", path, lineno);
			goto fail;
		}
		p = line + strspn(line, " \t");
		if (*p == '\0' || *p == '#')
			continue;
		if ((why = parse_line(line, &al)) != NULL) {
			seterr(err, errlen, "%s:%zu: %s", path, lineno, why);
			goto fail;
		}
		al.line = lineno;
		out->v = xreallocarray(out->v, out->n + 1, sizeof *out->v);
		out->v[out->n++] = al;
	}
	(void)fclose(f);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof *out->v, alias_cmp);
	for (size_t i = 1; i < out->n; i++) {
		if (strcmp(out->v[i - 1].name, out->v[i].name) == 0) {
			seterr(err, errlen, "%s:%zu: duplicate alias %s (first on line %zu)",
			    path, out->v[i].line, out->v[i].name, out->v[i - 1].line);
			aliases_free(out);
			return -1;
		}
	}
	return 0;

fail:
	e = errno;
	aliases_free(out);
	(void)fclose(f);
	errno = e;
	return -1;
}

static int name_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct alias *)elem)->name);
}

/* Binary search for prefix + text, lower-cased, one trailing dot dropped. */
static const struct alias *lookup(const struct aliases *a, const char *prefix,
    const char *text)
{
	char key[USERS_ADDRESS_MAX];
	size_t n;

	if (a == NULL || a->n == 0 ||
	    str_format(key, sizeof key, "%s%s", prefix, text) == -1)
		return NULL;
	n = strlen(key);
	if (n > 1 && key[n - 1] == '.')
		key[n - 1] = '\0';
	lower(key);
	return bsearch(key, a->v, a->n, sizeof *a->v, name_cmp);
}

const struct alias *aliases_find(const struct aliases *a, const char *address)
{
	return lookup(a, "", address);
}

const struct alias *aliases_catchall(const struct aliases *a, const char *domain)
{
	return lookup(a, "@", domain);
}
