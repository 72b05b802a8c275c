/*
 * websession.c: the web's sessions in websession.db (see websession.h),
 * every change in one transaction of relaydb_table_run.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/sha.h>

#include "buf.h"
#include "websession.h"

#define VALUE_MAX (32 + WEBSESSION_HEX + USERS_ADDRESS_MAX)

int websession_random_hex(char out[WEBSESSION_HEX])
{
	unsigned char r[32];
	size_t got = 0;

	while (got < sizeof r) {
		ssize_t n = getrandom(r + got, sizeof r - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof r; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* Only what websession_random_hex makes is looked up. */
static int id_valid(const char *id)
{
	size_t n = strspn(id, "0123456789abcdef");

	return n == WEBSESSION_HEX - 1 && id[n] == '\0';
}

static void id_key(const char *id, unsigned char key[SHA256_DIGEST_LENGTH])
{
	SHA256((const unsigned char *)id, strlen(id), key);
}

static int value_parse(const char *v, size_t len, struct websession *s)
{
	char text[VALUE_MAX + 1];
	long long exp;
	int used = 0;

	if (len > VALUE_MAX)
		return -1;
	memcpy(text, v, len);
	text[len] = '\0';
	if (sscanf(text, "%lld %64s %n", &exp, s->csrf, &used) != 2 || used == 0 ||
	    strlen(s->csrf) != WEBSESSION_HEX - 1 ||
	    str_copy(s->address, sizeof s->address, text + used) != 0 || s->address[0] == '\0')
		return -1;
	s->expires = (time_t)exp;
	return 0;
}

static int value_put(struct relaydb_txn *t, const unsigned char *key, const struct websession *s)
{
	char v[VALUE_MAX + 1];
	int n = snprintf(v, sizeof v, "%lld %s %s", (long long)s->expires, s->csrf, s->address);

	if (n < 0 || (size_t)n >= sizeof v)
		return -1;
	return relaydb_txn_put(t, key, SHA256_DIGEST_LENGTH, v, (size_t)n);
}

struct op {
	struct websession *s;
	unsigned char key[SHA256_DIGEST_LENGTH];
	time_t now;
	long ttl;
	int set_only;		/* websession_set_expiry: expires as given */
	time_t expires;
};

static int create_txn(struct relaydb_txn *t, void *arg)
{
	struct op *op = arg;

	return value_put(t, op->key, op->s) == 0 ? 0 : -1;
}

int websession_create(struct relaydb *db, const char *address, time_t now, long ttl,
    struct websession *out)
{
	struct op op = { .s = out };

	memset(out, 0, sizeof *out);
	if (websession_random_hex(out->id) != 0 || websession_random_hex(out->csrf) != 0 ||
	    str_copy(out->address, sizeof out->address, address) != 0)
		return -1;
	out->expires = now + ttl;
	id_key(out->id, op.key);
	return relaydb_table_run(db, WEBSESSION_FILE, create_txn, &op) < 0 ? -1 : 0;
}

/* Read the session; renew (or, for the tests, set) its expiry; drop it when stale. */
static int get_txn(struct relaydb_txn *t, void *arg)
{
	struct op *op = arg;
	char v[VALUE_MAX];
	size_t vlen;
	int r = relaydb_txn_get(t, op->key, sizeof op->key, v, sizeof v, &vlen);

	if (r != 1)
		return r;
	if (vlen > sizeof v || value_parse(v, vlen, op->s) != 0 ||
	    (!op->set_only && op->s->expires <= op->now)) {
		(void)relaydb_txn_del(t, op->key, sizeof op->key);
		return 0;
	}
	if (op->set_only && op->expires < 0)
		return 1;	/* read only */
	op->s->expires = op->set_only ? op->expires : op->now + op->ttl;
	return value_put(t, op->key, op->s) == 0 ? 1 : -1;
}

int websession_get(struct relaydb *db, const char *id, time_t now, long ttl,
    struct websession *out)
{
	struct op op = { .s = out, .now = now, .ttl = ttl };
	int r;

	memset(out, 0, sizeof *out);
	if (!id_valid(id))
		return 0;
	id_key(id, op.key);
	r = relaydb_table_run(db, WEBSESSION_FILE, get_txn, &op);
	if (r == 1)
		str_copy(out->id, sizeof out->id, id);
	return r;
}

int websession_expiry(struct relaydb *db, const char *id, time_t set, time_t *got)
{
	struct websession s;
	struct op op = { .s = &s, .set_only = 1, .expires = set };
	int r;

	if (!id_valid(id))
		return 0;
	id_key(id, op.key);
	r = relaydb_table_run(db, WEBSESSION_FILE, get_txn, &op);
	if (r == 1 && got != NULL)
		*got = s.expires;
	return r;
}

static int delete_txn(struct relaydb_txn *t, void *arg)
{
	struct op *op = arg;

	return relaydb_txn_del(t, op->key, sizeof op->key);
}

int websession_delete(struct relaydb *db, const char *id)
{
	struct op op = { 0 };

	if (!id_valid(id))
		return 0;
	id_key(id, op.key);
	return relaydb_table_run(db, WEBSESSION_FILE, delete_txn, &op);
}

/*
 * The keys of the sessions to go, collected by the walk, deleted after
 * it: the expired ones, or (address set) that user's but one.
 */
struct stale {
	time_t now;
	const char *address;
	unsigned char keep[SHA256_DIGEST_LENGTH];
	unsigned char (*keys)[SHA256_DIGEST_LENGTH];
	size_t n;
};

static int stale_visit(const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
	struct stale *st = arg;
	struct websession s;
	int ok;

	if (klen != SHA256_DIGEST_LENGTH)
		return 0;
	ok = value_parse(val, vlen, &s) == 0;
	if (st->address == NULL && ok && s.expires > st->now)
		return 0;
	if (st->address != NULL && (!ok || strcmp(s.address, st->address) != 0 ||
	    memcmp(key, st->keep, sizeof st->keep) == 0))
		return 0;
	st->keys = xreallocarray(st->keys, st->n + 1, sizeof *st->keys);
	memcpy(st->keys[st->n++], key, SHA256_DIGEST_LENGTH);
	return 0;
}

static long stale_delete(struct relaydb *db, struct stale *st)
{
	long gone = 0;

	if (relaydb_table_foreach(db, WEBSESSION_FILE, VALUE_MAX, stale_visit, st) != 0) {
		free(st->keys);
		return -1;
	}
	for (size_t i = 0; i < st->n; i++) {
		struct op op = { 0 };

		memcpy(op.key, st->keys[i], sizeof op.key);
		if (relaydb_table_run(db, WEBSESSION_FILE, delete_txn, &op) == 1)
			gone++;
	}
	free(st->keys);
	return gone;
}

long websession_end_others(struct relaydb *db, const char *address, const char *keep_id)
{
	struct stale st = { .address = address };

	id_key(keep_id, st.keep);
	return stale_delete(db, &st);
}

long websession_expire(struct relaydb *db, time_t now)
{
	struct stale st = { .now = now };

	return stale_delete(db, &st);
}
