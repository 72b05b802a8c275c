/*
 * fuzz_users.c: libFuzzer target for the users file (common/users.c,
 * docs/PROTOCOL.md, files): the input is written to one scratch file, then
 * read the two ways the server reads it: users_load (ispmailctl, ispmaild -t)
 * and the session's users_lookup. The two must agree on every user; what
 * loads must save and load back the same (ispmailctl's edit cycle); login
 * names taken from the lines must map to valid addresses or be refused.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz_util.h"
#include "users.h"

static int streq_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == NULL || *a == '\0') && (b == NULL || *b == '\0');
	return strcmp(a, b) == 0;
}

/* Entries as users_load returns them. */
static void check_loaded(const struct users *u)
{
	for (size_t i = 0; i < u->n; i++) {
		const struct user *e = &u->v[i];

		FUZZ_CHECK(users_address_valid(e->address), "loaded invalid address %s", e->address);
		for (const char *p = e->address; *p; p++)
			FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'), "address not lower case: %s", e->address);
		FUZZ_CHECK(e->hash != NULL && e->hash[0] != '\0' &&
		    strlen(e->hash) < USERS_HASH_MAX && strchr(e->hash, ':') == NULL,
		    "bad hash for %s", e->address);
		FUZZ_CHECK(users_find(u, e->address) == e, "users_find misses %s (duplicate?)",
		    e->address);
	}
}

/* The session's path must find what ispmailctl's path found. */
static void check_lookup(const char *path, const struct users *u)
{
	char hash[USERS_HASH_MAX], upper[USERS_ADDRESS_MAX];

	for (size_t i = 0; i < u->n; i++) {
		const struct user *e = &u->v[i];
		size_t k;

		/* Every user is costly (one scan each): the first 16 and the last. */
		if (i >= 16 && i + 1 != u->n)
			continue;
		FUZZ_CHECK(users_lookup(path, e->address, hash, sizeof hash) == 1,
		    "users_lookup misses %s", e->address);
		FUZZ_CHECK(strcmp(hash, e->hash) == 0, "users_lookup: other hash for %s",
		    e->address);
		for (k = 0; e->address[k] && k + 1 < sizeof upper; k++)
			upper[k] = e->address[k] >= 'a' && e->address[k] <= 'z' ?
			    (char)(e->address[k] - 'a' + 'A') : e->address[k];
		upper[k] = '\0';
		FUZZ_CHECK(users_lookup(path, upper, hash, sizeof hash) == 1,
		    "users_lookup is case sensitive for %s", upper);
	}
}

static int has_cr_comment(const struct users *u)
{
	for (size_t i = 0; i < u->n; i++)
		if (u->v[i].comments && strchr(u->v[i].comments, '\r'))
			return 1;
	return u->trailer && strchr(u->trailer, '\r');
}

/* ispmailctl's cycle: load, save, load gives the same entries. */
static void check_save(const struct users *u)
{
	char path[1024], err[512];
	struct users again;

	fuzz_path(path, sizeof path, "users.saved");
	if (users_save(path, u, err, sizeof err) != 0) {
		/* Known: a CR inside a comment loads but does not save. */
		if (fuzz_allow_known() && has_cr_comment(u))
			return;
		FUZZ_CHECK(0, "a loaded file does not save: %s", err);
	}
	FUZZ_CHECK(users_load(path, &again, err, sizeof err) == 0,
	    "a saved file does not load: %s", err);
	FUZZ_CHECK(again.n == u->n, "%zu users saved, %zu loaded back", u->n, again.n);
	for (size_t i = 0; i < u->n; i++) {
		FUZZ_CHECK(strcmp(again.v[i].address, u->v[i].address) == 0 &&
		    strcmp(again.v[i].hash, u->v[i].hash) == 0 &&
		    streq_null(again.v[i].options, u->v[i].options),
		    "entry %zu changed in a save/load cycle", i + 1);
		FUZZ_CHECK(streq_null(again.v[i].comments, u->v[i].comments),
		    "comments above entry %zu changed in a save/load cycle", i + 1);
	}
	FUZZ_CHECK(streq_null(again.trailer, u->trailer), "trailer changed in a save/load cycle");
	users_free(&again);
}

/* What precedes the first ':' of each line, as a login name and a lookup key. */
static void check_names(const char *path, const uint8_t *data, size_t size)
{
	static char dom[] = "example.net";
	static char *doms[] = { dom };
	struct conf c;
	char name[USERS_ADDRESS_MAX + 8], out[USERS_ADDRESS_MAX], hash[USERS_HASH_MAX];
	size_t start = 0, lines = 0;

	memset(&c, 0, sizeof c);
	c.domains = doms;
	c.ndomains = 1;
	while (start < size && lines++ < 8) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t end = nl ? (size_t)(nl - data) : size, n = 0;

		while (start + n < end && data[start + n] != ':' && n + 1 < sizeof name)
			n++;
		memcpy(name, data + start, n);
		name[n] = '\0';
		if (users_login_address(&c, name, out, sizeof out) == 0) {
			FUZZ_CHECK(users_address_valid(out), "login %s gave invalid %s", name, out);
			for (const char *p = out; *p; p++)
				FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'), "login address not lower case");
		} else {
			FUZZ_CHECK(out[0] == '\0', "refused login left output");
		}
		(void)users_lookup(path, name, hash, sizeof hash);
		(void)users_lookup(path, name, hash, 4);	/* short: -1, not overflow */
		start = end + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[1024];
	char err[512];
	struct users u;

	if (path[0] == '\0')
		fuzz_path(path, sizeof path, "users");
	fuzz_write_file(path, data, size);
	if (users_load(path, &u, err, sizeof err) == 0) {
		check_loaded(&u);
		check_lookup(path, &u);
		check_save(&u);
		users_free(&u);
	} else {
		FUZZ_CHECK(u.n == 0 && u.v == NULL && u.trailer == NULL,
		    "failed load left entries");
		FUZZ_CHECK(err[0] != '\0', "failed load without a reason");
	}
	check_names(path, data, size);
	return 0;
}
