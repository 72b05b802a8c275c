/*
 * test_aliases.c: the aliases file (docs/PROTOCOL.md, files): exact aliases,
 * several destinations, catch-alls, comments, case, errors naming path:line.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aliases.h"
#include "buf.h"
#include "cutap.h"
#include "users.h"

static char *tpath(const char *name)
{
	static char p[512];

	if (str_format(p, sizeof p, "%s/%s", cutap_tmpdir(), name) == -1)
		abort();
	return p;
}

static void write_file(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_FATAL(fwrite(s, 1, n, f) == n);
	CU_ASSERT_FATAL(fclose(f) == 0);
}

/* Is al's destination list exactly want (NULL-terminated)? */
static int dests_are(const struct alias *al, const char *const *want)
{
	size_t n = 0;

	if (al == NULL)
		return 0;
	for (; want[n] != NULL; n++)
		if (n >= al->ndest || strcmp(al->dest[n], want[n]) != 0)
			return 0;
	return n == al->ndest;
}

static const char good[] =
    "# aliases of example.net\n"
    "\n"
    "postmaster@example.net: alice@example.net\n"
    "Sales@Example.NET:   alice@example.net, Bob@Remote.Example\n"
    "  info@example.net :bob@example.net,carol@example.net  dave@example.org\t\r\n"
    "   # indented comment\n"
    "dup@example.net: a@example.net, A@EXAMPLE.NET a@example.net\n"
    "@example.org: postmaster@example.net\n"
    "@Example.COM:\tcatch@example.net";	/* no final newline */

static void test_good(void)
{
	static const char *const postmaster[] = { "alice@example.net", NULL };
	static const char *const sales[] = { "alice@example.net", "Bob@remote.example", NULL };
	static const char *const info[] = { "bob@example.net", "carol@example.net",
		"dave@example.org", NULL };
	static const char *const dup[] = { "a@example.net", "A@example.net", NULL };
	static const char *const org[] = { "postmaster@example.net", NULL };
	static const char *const com[] = { "catch@example.net", NULL };
	const char *p = tpath("aliases.good");
	struct aliases a;
	const struct alias *al;
	char err[256] = "";

	write_file(p, good, sizeof good - 1);
	CU_ASSERT_EQUAL_FATAL(aliases_load(p, &a, err, sizeof err), 0);
	CU_ASSERT_EQUAL(a.n, 6);

	CU_ASSERT(dests_are(aliases_find(&a, "postmaster@example.net"), postmaster));
	al = aliases_find(&a, "sales@example.net");
	CU_ASSERT(dests_are(al, sales));
	CU_ASSERT_PTR_NOT_NULL_FATAL(al);
	CU_ASSERT_STRING_EQUAL(al->name, "sales@example.net");
	CU_ASSERT_EQUAL(al->line, 4);
	CU_ASSERT(dests_are(aliases_find(&a, "INFO@example.NET"), info));
	CU_ASSERT(dests_are(aliases_find(&a, "info@example.net."), info));
	CU_ASSERT(dests_are(aliases_find(&a, "dup@example.net"), dup));
	CU_ASSERT_PTR_NULL(aliases_find(&a, "alice@example.net"));
	CU_ASSERT_PTR_NULL(aliases_find(&a, "sales@example.org"));
	CU_ASSERT_PTR_NULL(aliases_find(&a, "sales"));
	CU_ASSERT_PTR_NULL(aliases_find(&a, ""));

	/* catch-alls are found only by domain, exact domains only */
	CU_ASSERT(dests_are(aliases_catchall(&a, "example.org"), org));
	CU_ASSERT(dests_are(aliases_catchall(&a, "EXAMPLE.ORG."), org));
	CU_ASSERT(dests_are(aliases_catchall(&a, "example.com"), com));
	CU_ASSERT_PTR_NULL(aliases_catchall(&a, "example.net"));
	CU_ASSERT_PTR_NULL(aliases_catchall(&a, "sub.example.org"));
	CU_ASSERT_PTR_NULL(aliases_catchall(&a, "org"));
	CU_ASSERT_PTR_NULL(aliases_find(&a, "anyone@example.org"));

	/* sorted by name */
	for (size_t i = 1; i < a.n; i++)
		CU_ASSERT(strcmp(a.v[i - 1].name, a.v[i].name) < 0);
	aliases_free(&a);
	CU_ASSERT_EQUAL(a.n, 0);
	CU_ASSERT_PTR_NULL(a.v);
	/* lookups in an empty table */
	CU_ASSERT_PTR_NULL(aliases_find(&a, "sales@example.net"));
	CU_ASSERT_PTR_NULL(aliases_catchall(&a, "example.org"));
}

static void test_unset_and_missing(void)
{
	struct aliases a;
	char err[256] = "", want[600];
	const char *p;

	a.n = 99;
	CU_ASSERT_EQUAL(aliases_load(NULL, &a, err, sizeof err), 0);
	CU_ASSERT_EQUAL(a.n, 0);
	CU_ASSERT_PTR_NULL(aliases_find(&a, "x@example.net"));
	aliases_free(&a);

	p = tpath("aliases.missing");
	errno = 0;
	CU_ASSERT_EQUAL(aliases_load(p, &a, err, sizeof err), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
	str_format(want, sizeof want, "%s: No such file or directory", p);
	CU_ASSERT_STRING_EQUAL(err, want);

	/* an empty file is an empty table */
	p = tpath("aliases.empty");
	write_file(p, "", 0);
	CU_ASSERT_EQUAL(aliases_load(p, &a, err, sizeof err), 0);
	CU_ASSERT_EQUAL(a.n, 0);
	aliases_free(&a);
}

static void test_errors(void)
{
	static const struct { const char *text; const char *want; } t[] = {
		{ "a@example.net b@example.net\n",
		  ":1: expected \"alias@domain: destination, ...\"" },
		{ "# c\n\na@example.net:\n", ":3: no destination" },
		{ "a@example.net: , ,\t\n", ":1: no destination" },
		{ "a@example.net: b@example.net\nsales: b@example.net\n", ":2: invalid alias name" },
		{ "a b@example.net: b@example.net\n", ":1: invalid alias name" },
		{ "@: b@example.net\n", ":1: invalid alias name" },
		{ "@example..net: b@example.net\n", ":1: invalid alias name" },
		{ "@@example.net: b@example.net\n", ":1: invalid alias name" },
		{ "a%remote@example.net: b@example.net\n", ":1: invalid alias name" },
		{ "a@example.net: bob\n", ":1: invalid destination address" },
		{ "a@example.net: b@example.net, @example.org\n", ":1: invalid destination address" },
		{ "a@example.net: b@example.net; c@example.net\n", ":1: invalid destination address" },
		{ "a@example.net: |/bin/sh\n", ":1: invalid destination address" },
		{ "a@example.net: b@example.net # comment\n", ":1: invalid destination address" },
		{ "#\na@example.net: b@example.net\n#\nA@Example.Net: c@example.net\n",
		  ":4: duplicate alias a@example.net (first on line 2)" },
		{ "@example.org: a@example.net\n@EXAMPLE.org: b@example.net\n",
		  ":2: duplicate alias @example.org (first on line 1)" },
	};
	const char *p = tpath("aliases.bad");
	char err[256], want[600];
	struct aliases a;
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		write_file(p, t[i].text, strlen(t[i].text));
		err[0] = '\0';
		CU_ASSERT_EQUAL(aliases_load(p, &a, err, sizeof err), -1);
		CU_ASSERT_EQUAL(a.n, 0);
		CU_ASSERT_PTR_NULL(a.v);
		str_format(want, sizeof want, "%s%s", p, t[i].want);
		if (strcmp(err, want) != 0)
			fprintf(stderr, "# case %zu: got \"%s\"\n", i, err);
		CU_ASSERT_STRING_EQUAL(err, want);
	}

	write_file(p, "a@example.net: b@exa\0mple.net\n", 30);
	CU_ASSERT_EQUAL(aliases_load(p, &a, err, sizeof err), -1);
	str_format(want, sizeof want, "%s:1: NUL byte in line", p);
	CU_ASSERT_STRING_EQUAL(err, want);

	/* an overlong line on line 2 */
	buf_appends(&b, "a@example.net: b@example.net\nc@example.net: ");
	while (b.len < USERS_LINE_MAX + 100)
		buf_appends(&b, "d@example.net, ");
	buf_appends(&b, "\n");
	write_file(p, b.s, b.len);
	buf_free(&b);
	CU_ASSERT_EQUAL(aliases_load(p, &a, err, sizeof err), -1);
	str_format(want, sizeof want, "%s:2: line longer than %d bytes", p, USERS_LINE_MAX);
	CU_ASSERT_STRING_EQUAL(err, want);
}

/* An ISP's thousands: every one found by binary search. */
static void test_many(void)
{
	const char *p = tpath("aliases.many");
	struct buf b = BUF_INIT;
	struct aliases a;
	char name[64], dest[64], err[256];
	const struct alias *al;
	int ok = 1;

	for (int i = 3000; i > 0; i--)
		buf_printf(&b, "list%d@d%d.example: u%d@example.net\n", i, i % 7, i);
	write_file(p, b.s, b.len);
	buf_free(&b);
	CU_ASSERT_EQUAL_FATAL(aliases_load(p, &a, err, sizeof err), 0);
	CU_ASSERT_EQUAL(a.n, 3000);
	for (int i = 1; i <= 3000 && ok; i++) {
		str_format(name, sizeof name, "LIST%d@d%d.example", i, i % 7);
		str_format(dest, sizeof dest, "u%d@example.net", i);
		al = aliases_find(&a, name);
		ok = al != NULL && al->ndest == 1 && strcmp(al->dest[0], dest) == 0 &&
		    al->line == (size_t)(3001 - i);
	}
	CU_ASSERT(ok);
	CU_ASSERT_PTR_NULL(aliases_find(&a, "list3001@d5.example"));
	aliases_free(&a);
}

int main(void)
{
	static const struct { const char *name; CU_TestFunc fn; } tests[] = {
		{ "exact, several destinations, catch-all, case", test_good },
		{ "unset file, missing file, empty file", test_unset_and_missing },
		{ "errors name path:line", test_errors },
		{ "thousands of aliases", test_many },
	};
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("aliases", NULL, NULL);
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
		CU_add_test(s, tests[i].name, tests[i].fn);
	return cutap_run();
}
