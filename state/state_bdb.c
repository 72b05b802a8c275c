/*
 * state_bdb.c: the shared state in the Berkeley DB files of state_dir
 * (common/relaydb.c), the backend of one machine: nothing is shared
 * beyond the processes of this node.
 */
#include "config.h"

#include "log.h"
#include "state_int.h"

/*
 * The relay DB, opened at first use and kept for the handle's life; a
 * failed open is not retried by the same handle (one error per session).
 */
struct relaydb *state_relaydb(struct state *st)
{
	char err[sizeof st->err];

	if (st->db != NULL)
		return st->db;
	if (st->db_failed)
		return NULL;	/* st->err still says why */
	st->db = relaydb_open(st->c->state_dir, err, sizeof err);
	if (st->db == NULL) {
		st->db_failed = 1;
		state_fail(st, "%s", err);
		return NULL;
	}
	if (relaydb_recreated(st->db))
		log_warn("relaydb result=recreated reason=\"%s\"", relaydb_strerror(st->db));
	return st->db;
}

/* The relay DB's last error as the handle's; -1. */
static int bdb_fail(struct state *st)
{
	return state_fail(st, "%s", relaydb_strerror(st->db));
}

int state_bdb_auth_put(struct state *st, const char *key, const char *user, time_t now)
{
	if (state_relaydb(st) == NULL)
		return -1;
	if (relaydb_authorize(st->db, key, user, now) != 0)
		return bdb_fail(st);
	return 0;
}

int state_bdb_auth_get(struct state *st, const char *key, time_t now, char *user,
    size_t userlen, time_t *expires)
{
	time_t when;
	int r;

	if (state_relaydb(st) == NULL)
		return -1;
	r = relaydb_lookup(st->db, key, &when, user, userlen);
	if (r < 0)
		return bdb_fail(st);
	if (r == 0 || (long long)now - (long long)when >= (long long)st->c->relay.authorization_ttl)
		return 0;
	if (expires != NULL)
		*expires = when + st->c->relay.authorization_ttl;
	return 1;
}

int state_bdb_auth_del(struct state *st, const char *key)
{
	int r;

	if (state_relaydb(st) == NULL)
		return -1;
	if ((r = relaydb_delete(st->db, key)) < 0)
		return bdb_fail(st);
	return r;
}

long state_bdb_auth_expire(struct state *st, time_t now)
{
	long n;

	if (state_relaydb(st) == NULL)
		return -1;
	if ((n = relaydb_expire(st->db, now, st->c->relay.authorization_ttl)) < 0)
		return bdb_fail(st);
	return n;
}

struct bdb_visit {
	time_t now;
	long ttl;
	int (*fn)(const struct state_auth_entry *e, void *arg);
	void *arg;
};

static int bdb_visit_one(const char *key, time_t when, const char *user, void *arg)
{
	const struct bdb_visit *v = arg;
	struct state_auth_entry e;
	long long left = (long long)when + v->ttl - (long long)v->now;

	e.key = key;
	e.user = user != NULL ? user : "";
	e.when = when;
	e.left = left > 0 ? (long)left : 0;
	return v->fn(&e, v->arg);
}

int state_bdb_auth_foreach(struct state *st, time_t now,
    int (*fn)(const struct state_auth_entry *e, void *arg), void *arg)
{
	struct bdb_visit v = { now, st->c->relay.authorization_ttl, fn, arg };

	if (state_relaydb(st) == NULL)
		return -1;
	if (relaydb_foreach(st->db, bdb_visit_one, &v) != 0)
		return bdb_fail(st);
	return 0;
}

int state_bdb_rate_take(struct state *st, struct relaydb_rate *v, size_t n, time_t now)
{
	int r;

	if (state_relaydb(st) == NULL)
		return -1;
	r = relaydb_rate_take(st->db, v, n, now, st->c->limits.outbound_window);
	if (r < 0)
		return bdb_fail(st);
	return r;
}

long state_bdb_rate_expire(struct state *st, time_t now)
{
	long n;

	if (state_relaydb(st) == NULL)
		return -1;
	if ((n = relaydb_rate_expire(st->db, now, st->c->limits.outbound_window)) < 0)
		return bdb_fail(st);
	return n;
}

int state_bdb_rate_foreach(struct state *st, relaydb_rate_visit_fn fn, void *arg)
{
	if (state_relaydb(st) == NULL)
		return -1;
	if (relaydb_rate_foreach(st->db, fn, arg) != 0)
		return bdb_fail(st);
	return 0;
}

int state_bdb_rate_reset(struct state *st, const char *key)
{
	int r;

	if (state_relaydb(st) == NULL)
		return -1;
	if ((r = relaydb_rate_reset(st->db, key)) < 0)
		return bdb_fail(st);
	return r;
}

struct bdb_table_call {
	int (*fn)(struct state_txn *t, void *arg);
	void *arg;
};

/* relaydb's transaction as the state's. */
static int bdb_table_adapter(struct relaydb_txn *rt, void *p)
{
	struct bdb_table_call *c = p;
	struct state_txn t = { rt, NULL };

	return c->fn(&t, c->arg);
}

int state_bdb_table_run(struct state *st, const char *table,
    int (*fn)(struct state_txn *t, void *arg), void *arg)
{
	struct bdb_table_call c = { fn, arg };
	int r;

	if (state_relaydb(st) == NULL)
		return -1;
	if ((r = relaydb_table_run(st->db, table, bdb_table_adapter, &c)) < 0)
		return bdb_fail(st);
	return r;
}

int state_bdb_table_foreach(struct state *st, const char *table, size_t vmax,
    int (*fn)(const char *key, size_t klen, const char *val, size_t vlen, void *arg),
    void *arg)
{
	if (state_relaydb(st) == NULL)
		return -1;
	if (relaydb_table_foreach(st->db, table, vmax, fn, arg) != 0)
		return bdb_fail(st);
	return 0;
}
