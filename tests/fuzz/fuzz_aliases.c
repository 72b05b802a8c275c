/*
 * fuzz_aliases.c: libFuzzer target for the aliases file (common/aliases.c,
 * docs/PROTOCOL.md, files): the input is written to one scratch file and
 * loaded; a loaded table must be sorted without duplicates, hold only valid
 * names and destinations, and find each alias by its name in any case, with
 * one trailing dot, as the SMTP session asks for it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "aliases.h"
#include "buf.h"
#include "fuzz_util.h"
#include "users.h"

static void upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

static void check_alias(const struct aliases *a, const struct alias *al)
{
	char probe[USERS_ADDRESS_MAX + 2];

	FUZZ_CHECK(al->name != NULL && al->ndest >= 1 && al->dest != NULL,
	    "alias without name or destinations");
	for (const char *p = al->name; *p; p++)
		FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'), "name not lower case: %s", al->name);
	if (al->name[0] == '@') {
		FUZZ_CHECK(str_format(probe, sizeof probe, "x%s", al->name) == 0 &&
		    users_address_valid(probe), "invalid catch-all %s", al->name);
		FUZZ_CHECK(aliases_catchall(a, al->name + 1) == al, "catch-all %s not found",
		    al->name);
		FUZZ_CHECK(str_format(probe, sizeof probe, "%s.", al->name + 1) != 0 ||
		    aliases_catchall(a, probe) == al, "catch-all %s. not found", al->name);
	} else {
		FUZZ_CHECK(users_address_valid(al->name), "invalid alias name %s", al->name);
		FUZZ_CHECK(aliases_find(a, al->name) == al, "alias %s not found", al->name);
		(void)str_copy(probe, sizeof probe, al->name);
		upper(probe);
		FUZZ_CHECK(aliases_find(a, probe) == al, "alias %s not found", probe);
		FUZZ_CHECK(str_format(probe, sizeof probe, "%s.", al->name) != 0 ||
		    aliases_find(a, probe) == al, "alias %s. not found", al->name);
		/* An exact alias is never mistaken for a catch-all. */
		FUZZ_CHECK(aliases_catchall(a, al->name) == NULL ||
		    aliases_catchall(a, al->name)->name[0] == '@', "catch-all lookup found an alias");
	}
	for (size_t i = 0; i < al->ndest; i++) {
		const char *at;

		FUZZ_CHECK(users_address_valid(al->dest[i]), "invalid destination %s of %s",
		    al->dest[i], al->name);
		at = strchr(al->dest[i], '@');
		for (const char *p = at; *p; p++)
			FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'), "destination domain not lower case");
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(al->dest[i], al->dest[j]) != 0,
			    "duplicate destination %s in %s", al->dest[i], al->name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[1024];
	char err[512];
	struct aliases a;

	if (path[0] == '\0')
		fuzz_path(path, sizeof path, "aliases");
	fuzz_write_file(path, data, size);
	if (aliases_load(path, &a, err, sizeof err) != 0) {
		FUZZ_CHECK(a.n == 0 && a.v == NULL, "failed load left entries");
		FUZZ_CHECK(err[0] != '\0', "failed load without a reason");
		return 0;
	}
	for (size_t i = 0; i < a.n; i++) {
		FUZZ_CHECK(a.v[i].line >= 1, "alias without a line number");
		if (i > 0)
			FUZZ_CHECK(strcmp(a.v[i - 1].name, a.v[i].name) < 0,
			    "table not sorted or duplicate: %s, %s", a.v[i - 1].name, a.v[i].name);
		check_alias(&a, &a.v[i]);
	}
	/* Lookups of whatever the lines start with: found or not, never a crash. */
	{
		char key[USERS_ADDRESS_MAX * 2];
		size_t n = size < sizeof key - 1 ? size : sizeof key - 1;

		memcpy(key, data, n);
		key[n] = '\0';
		(void)aliases_find(&a, key);
		(void)aliases_catchall(&a, key);
	}
	aliases_free(&a);
	FUZZ_CHECK(aliases_load(NULL, &a, err, sizeof err) == 0 && a.n == 0,
	    "no aliases file is not an empty table");
	return 0;
}
