/*
 * state_redis.c: the shared state in Redis (or Valkey), the backend of more
 * than one machine (SPEC 14; ispmaild.conf(5) "More than one machine"), over
 * hiredis. An authorization is one key, <prefix>auth:<relay key>, holding
 * "<unix seconds> <user>" (the relay DB's value) with the native TTL of
 * relay.authorization_ttl, so every node sees a POP3 login at once and
 * Redis forgets it by itself.
 *
 * One connection per process, opened at first use and kept across the
 * sessions the process serves; redis.timeout_ms bounds the connect and
 * each command; AUTH with the first line of redis.password_file. A
 * connection that failed is dropped and made again at the next call, so a
 * node recovers by itself when Redis returns. Not across fork: a child
 * that finds its parent's connection makes its own.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "buf.h"
#include "ratelimit.h"
#include "state_int.h"

/* The process's one connection, and what it was made for. */
static struct {
	redisContext *ctx;
	pid_t pid;
	char address[128];
	char password_file[512];
	int atexit_set;
	int watching, in_multi;	/* a WATCH or a MULTI is pending on it */
} conn;

#define REDIS_PASSWORD_MAX 512

/* "<prefix><kind>:<key>", key of at most max bytes 0x21..0x7e. */
static int redis_key(char *out, size_t outlen, const char *prefix, const char *kind,
    const char *key, size_t max)
{
	size_t i, n = strlen(key);

	if (n == 0 || n > max)
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
			return -1;
	return str_format(out, outlen, "%s%s:%s", prefix, kind, key) < 0 ? -1 : 0;
}

int state_redis_key(char *out, size_t outlen, const char *prefix, const char *kind,
    const char *key)
{
	return redis_key(out, outlen, prefix, kind, key, STATE_KEY_MAX);
}

int state_redis_value_parse(const char *v, size_t len, time_t *when, char *user,
    size_t userlen)
{
	long long t = 0;
	size_t i, ulen;

	for (i = 0; i < len && i < 18 && v[i] >= '0' && v[i] <= '9'; i++)	/* no overflow */
		t = t * 10 + (v[i] - '0');
	if (i == 0 || (i < len && v[i] != ' '))
		return -1;
	ulen = i < len ? len - i - 1 : 0;
	if (ulen > STATE_USER_MAX || (user != NULL && ulen >= userlen))
		return -1;
	if (ulen > 0 && memchr(v + i + 1, '\0', ulen) != NULL)
		return -1;
	if (user != NULL) {
		if (ulen > 0)
			memcpy(user, v + i + 1, ulen);
		user[ulen] = '\0';
	}
	*when = (time_t)t;
	return 0;
}

int state_redis_address(const char *address, char *host, size_t hostlen, int *port)
{
	if (address[0] == '/')
		return str_copy(host, hostlen, address) < 0 ? -1 : 1;
	return conf_nameserver_parse(address, host, hostlen, port) == 0 ? 0 : -1;
}

/* Drop the connection (made again at the next call). */
static void redis_drop(void)
{
	if (conn.ctx != NULL)
		redisFree(conn.ctx);
	conn.ctx = NULL;
	conn.watching = conn.in_multi = 0;
}

/* The first line of the password file, into pw. 0 or -1 with st->err. */
static int redis_password(struct state *st, char *pw, size_t pwlen)
{
	const char *path = st->c->redis.password_file;
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return state_fail(st, "password_file %s: %s", path, strerror(errno));
	if (fgets(pw, (int)pwlen, f) == NULL)
		pw[0] = '\0';
	fclose(f);
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (n == 0)
		return state_fail(st, "password_file %s: empty", path);
	return 0;
}

/* AUTH on a fresh connection, when a password file is set. 0 or -1. */
static int redis_auth(struct state *st)
{
	char pw[REDIS_PASSWORD_MAX];
	redisReply *r;
	int ret = 0;

	if (st->c->redis.password_file == NULL || st->c->redis.password_file[0] == '\0')
		return 0;
	if (redis_password(st, pw, sizeof pw) != 0)
		return -1;
	r = redisCommand(conn.ctx, "AUTH %s", pw);
	explicit_bzero(pw, sizeof pw);
	if (r == NULL)
		ret = state_fail(st, "AUTH: %s", conn.ctx->errstr);
	else if (r->type == REDIS_REPLY_ERROR)
		ret = state_fail(st, "AUTH refused: %s", r->str);
	if (r != NULL)
		freeReplyObject(r);
	return ret;
}

/*
 * Does the connection in hand belong to this process and this
 * configuration? A reload may point the node elsewhere.
 */
static int redis_conn_current(const struct state *st)
{
	const char *pf = st->c->redis.password_file ? st->c->redis.password_file : "";

	return conn.ctx != NULL && conn.pid == getpid() &&
	    strcmp(conn.address, st->c->redis.address) == 0 &&
	    strcmp(conn.password_file, pf) == 0;
}

/* The process's connection, made when there is none. NULL with st->err. */
static redisContext *redis_connect(struct state *st)
{
	const struct redis_conf *rc = &st->c->redis;
	struct timeval tv = { rc->timeout_ms / 1000, (rc->timeout_ms % 1000) * 1000 };
	struct sigaction sa;
	char host[128];
	int port = 0, kind;

	if (redis_conn_current(st))
		return conn.ctx;
	st->err[0] = '\0';
	if (conn.ctx != NULL && conn.pid != getpid())
		conn.ctx = NULL;	/* the parent's: left to it (its socket closes at our exit) */
	redis_drop();
	/* A Redis that closes the connection must not kill us with SIGPIPE. */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		(void)signal(SIGPIPE, SIG_IGN);
	kind = state_redis_address(rc->address, host, sizeof host, &port);
	if (kind < 0) {
		(void)state_fail(st, "bad redis.address %s", rc->address);
		return NULL;
	}
	conn.ctx = kind == 1 ? redisConnectUnixWithTimeout(host, tv) :
	    redisConnectWithTimeout(host, port, tv);
	if (conn.ctx == NULL) {
		(void)state_fail(st, "connect %s: out of memory", rc->address);
		return NULL;
	}
	if (conn.ctx->err) {
		(void)state_fail(st, "connect %s: %s", rc->address, conn.ctx->errstr);
		redis_drop();
		return NULL;
	}
	if (redisSetTimeout(conn.ctx, tv) != REDIS_OK || redis_auth(st) != 0) {
		if (st->err[0] == '\0')
			(void)state_fail(st, "connect %s: cannot set the timeout", rc->address);
		redis_drop();
		return NULL;
	}
	if (!conn.atexit_set && atexit(redis_drop) == 0)
		conn.atexit_set = 1;	/* a clean exit leaves nothing behind (valgrind) */
	conn.pid = getpid();
	(void)str_copy(conn.address, sizeof conn.address, rc->address);
	(void)str_copy(conn.password_file, sizeof conn.password_file,
	    rc->password_file ? rc->password_file : "");
	return conn.ctx;
}

/* Note what a command does to the connection's WATCH and MULTI state. */
static void redis_note_txn(const char *fmt)
{
	if (strncmp(fmt, "WATCH", 5) == 0)
		conn.watching = 1;
	else if (strncmp(fmt, "MULTI", 5) == 0)
		conn.in_multi = 1;
	else if (strncmp(fmt, "EXEC", 4) == 0 || strncmp(fmt, "UNWATCH", 7) == 0 ||
	    strncmp(fmt, "DISCARD", 7) == 0)
		conn.watching = conn.in_multi = 0;
}

/*
 * One command; its reply (the caller frees it), or NULL with st->err: an
 * error reply, or a connection that failed (dropped, made again next
 * time). A connection kept from before that fails at once (Redis
 * restarted, an idle connection closed) is made again and the command
 * sent once more, unless a WATCH or MULTI of this operation was on it
 * (then the operation fails: a new connection would not keep its watch).
 */
static redisReply *redis_run(struct state *st, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;
	int reused, tries;

	st->err[0] = '\0';
	for (tries = 0; tries < 2; tries++) {
		reused = redis_conn_current(st);
		if (redis_connect(st) == NULL)
			return NULL;
		va_start(ap, fmt);
		r = redisvCommand(conn.ctx, fmt, ap);
		va_end(ap);
		if (r != NULL)
			break;
		(void)state_fail(st, "%s: %s", st->c->redis.address,
		    conn.ctx->errstr[0] ? conn.ctx->errstr : "no reply");
		reused = reused && !conn.watching && !conn.in_multi;
		redis_drop();
		if (!reused)
			return NULL;
	}
	if (r == NULL)
		return NULL;
	redis_note_txn(fmt);
	if (r->type == REDIS_REPLY_ERROR) {
		(void)state_fail(st, "%s: %s", st->c->redis.address, r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* The reply to a pipelined command (redisAppendCommand), as redis_run. */
static redisReply *redis_next(struct state *st)
{
	void *p = NULL;
	redisReply *r;

	if (redisGetReply(conn.ctx, &p) != REDIS_OK || p == NULL) {
		(void)state_fail(st, "%s: %s", st->c->redis.address,
		    conn.ctx->errstr[0] ? conn.ctx->errstr : "no reply");
		redis_drop();
		return NULL;
	}
	r = p;
	if (r->type == REDIS_REPLY_ERROR) {
		(void)state_fail(st, "%s: %s", st->c->redis.address, r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* <prefix>auth:<key> into out; -1 (st->err) for a key that cannot be one. */
static int auth_key(struct state *st, const char *key, char *out, size_t outlen)
{
	if (state_redis_key(out, outlen, st->c->redis.prefix, "auth", key) != 0)
		return state_fail(st, "bad relay key");
	return 0;
}

int state_redis_auth_put(struct state *st, const char *key, const char *user, time_t now)
{
	char k[STATE_REDIS_KEY_MAX], v[32 + STATE_USER_MAX];
	long ttl = st->c->relay.authorization_ttl;
	redisReply *r;
	size_t i;

	if (auth_key(st, key, k, sizeof k) != 0)
		return -1;
	if (strlen(user) > STATE_USER_MAX)
		return state_fail(st, "user too long");
	for (i = 0; user[i]; i++)
		if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f)
			return state_fail(st, "user has a control byte");
	if (now < 0 || str_format(v, sizeof v, "%lld %s", (long long)now, user) < 0)
		return state_fail(st, "bad time");
	/* authorization_ttl = 0 authorizes nobody: nothing to keep. */
	r = ttl > 0 ? redis_run(st, "SET %s %s EX %ld", k, v, ttl) : redis_run(st, "DEL %s", k);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/* GET and PTTL of one key, in one round trip; 1 found, 0 absent, -1. */
static int auth_fetch(struct state *st, const char *k, char *user, size_t userlen,
    time_t *when, long long *pttl)
{
	redisReply *g = NULL, *t = NULL;
	int ret, tries, reused;

	/* Twice at most: a connection kept from before may have gone (redis_run). */
	for (tries = 0; tries < 2; tries++) {
		reused = redis_conn_current(st);
		if (redis_connect(st) == NULL)
			return -1;
		if (redisAppendCommand(conn.ctx, "GET %s", k) != REDIS_OK ||
		    redisAppendCommand(conn.ctx, "PTTL %s", k) != REDIS_OK) {
			redis_drop();
			return state_fail(st, "%s: out of memory", st->c->redis.address);
		}
		g = redis_next(st);
		t = g != NULL ? redis_next(st) : NULL;
		if (g != NULL && t != NULL)
			break;
		if (g != NULL)
			freeReplyObject(g);
		g = NULL;
		if (!reused || conn.ctx != NULL)
			return -1;	/* a fresh connection failed, or an error reply */
	}
	if (g == NULL || t == NULL)
		return -1;
	if (g->type == REDIS_REPLY_NIL || t->type != REDIS_REPLY_INTEGER || t->integer == -2)
		ret = 0;
	else if (g->type != REDIS_REPLY_STRING ||
	    state_redis_value_parse(g->str, g->len, when, user, userlen) != 0)
		ret = state_fail(st, "malformed relay entry %s", k);
	else {
		*pttl = t->integer;
		ret = 1;
	}
	freeReplyObject(g);
	freeReplyObject(t);
	return ret;
}

/*
 * The seconds left: the key's own TTL, and never beyond when + the
 * authorization_ttl configured now (a lowered TTL counts at once, as with
 * the relay DB). 0 when expired.
 */
static long auth_left(const struct state *st, time_t now, time_t when, long long pttl)
{
	long long left = (long long)when + st->c->relay.authorization_ttl - (long long)now;

	if (pttl >= 0 && (pttl + 999) / 1000 < left)
		left = (pttl + 999) / 1000;
	return left > 0 ? (long)left : 0;
}

int state_redis_auth_get(struct state *st, const char *key, time_t now, char *user,
    size_t userlen, time_t *expires)
{
	char k[STATE_REDIS_KEY_MAX], u[STATE_USER_MAX + 1];
	long long pttl = -1;
	time_t when = 0;
	long left;
	int r;

	if (auth_key(st, key, k, sizeof k) != 0)
		return -1;
	r = auth_fetch(st, k, u, sizeof u, &when, &pttl);
	if (r != 1)
		return r;
	if ((left = auth_left(st, now, when, pttl)) == 0)
		return 0;
	if (user != NULL && str_copy(user, userlen, u) < 0)
		return state_fail(st, "user buffer too small");
	if (expires != NULL)
		*expires = now + left;
	return 1;
}

int state_redis_auth_del(struct state *st, const char *key)
{
	char k[STATE_REDIS_KEY_MAX];
	redisReply *r;
	int found;

	if (auth_key(st, key, k, sizeof k) != 0)
		return -1;
	if ((r = redis_run(st, "DEL %s", k)) == NULL)
		return -1;
	found = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
	freeReplyObject(r);
	return found;
}

/* "<prefix><kind>:*" with the glob characters of the prefix escaped. */
static int key_pattern(const char *prefix, const char *kind, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *prefix; prefix++) {
		if (o + 3 >= outlen)
			return -1;
		if (strchr("*?[]\\", *prefix) != NULL)
			out[o++] = '\\';
		out[o++] = *prefix;
	}
	out[o] = '\0';
	return str_format(out + o, outlen - o, "%s:*", kind) < 0 ? -1 : 0;
}

/* Every key of the pattern (SCAN, never KEYS: Redis serves others meanwhile). */
static int scan_keys(struct state *st, const char *pattern, int bin, char ***keys, size_t *n)
{
	char cursor[32] = "0";
	redisReply *r;
	size_t i, cap = 0;

	*keys = NULL;
	*n = 0;
	do {
		if ((r = redis_run(st, "SCAN %s MATCH %s COUNT 1000", cursor, pattern)) == NULL)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY ||
		    str_copy(cursor, sizeof cursor, r->element[0]->str) < 0) {
			freeReplyObject(r);
			return state_fail(st, "SCAN: unexpected reply");
		}
		for (i = 0; i < r->element[1]->elements; i++) {
			redisReply *e = r->element[1]->element[i];
			char **nk;

			if (e->type != REDIS_REPLY_STRING)
				continue;
			if (*n == cap) {
				cap = cap ? cap * 2 : 64;
				if ((nk = realloc(*keys, cap * sizeof *nk)) == NULL) {
					freeReplyObject(r);
					return state_fail(st, "out of memory");
				}
				*keys = nk;
			}
			/* bin: the length first, for keys holding NULs */
			if (((*keys)[*n] = malloc(sizeof(size_t) + e->len + 1)) == NULL) {
				freeReplyObject(r);
				return state_fail(st, "out of memory");
			}
			if (bin) {
				memcpy((*keys)[*n], &e->len, sizeof(size_t));
				memcpy((*keys)[*n] + sizeof(size_t), e->str, e->len + 1);
			} else
				memcpy((*keys)[*n], e->str, e->len + 1);
			(*n)++;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

static int auth_scan(struct state *st, const char *pattern, char ***keys, size_t *n)
{
	return scan_keys(st, pattern, 0, keys, n);
}

/* As auth_scan, each key as its length (size_t) then its bytes. */
static int auth_scan_bin(struct state *st, const char *pattern, char ***keys, size_t *n)
{
	return scan_keys(st, pattern, 1, keys, n);
}

static void keys_free(char **keys, size_t n)
{
	while (n > 0)
		free(keys[--n]);
	free(keys);
}

long state_redis_auth_count(struct state *st)
{
	char pattern[2 * 64 + 16];
	char **keys;
	size_t n;
	int r;

	if (key_pattern(st->c->redis.prefix, "auth", pattern, sizeof pattern) != 0)
		return state_fail(st, "prefix too long");
	r = auth_scan(st, pattern, &keys, &n);
	keys_free(keys, n);
	return r == 0 ? (long)n : -1;
}

int state_redis_auth_foreach(struct state *st, time_t now,
    int (*fn)(const struct state_auth_entry *e, void *arg), void *arg)
{
	char pattern[2 * 64 + 16], u[STATE_USER_MAX + 1];
	size_t plen = strlen(st->c->redis.prefix) + strlen("auth:"), i, n;
	char **keys;
	int ret = 0;

	if (key_pattern(st->c->redis.prefix, "auth", pattern, sizeof pattern) != 0)
		return state_fail(st, "prefix too long");
	if (auth_scan(st, pattern, &keys, &n) != 0) {
		keys_free(keys, n);
		return -1;
	}
	for (i = 0; i < n && ret == 0; i++) {
		struct state_auth_entry e;
		long long pttl = -1;
		time_t when = 0;
		int r = auth_fetch(st, keys[i], u, sizeof u, &when, &pttl);

		if (r < 0 && conn.ctx == NULL) {
			ret = -1;	/* the connection failed: st->err says why */
			break;
		}
		if (r != 1 || strlen(keys[i]) <= plen)
			continue;	/* gone meanwhile, or not ours */
		e.key = keys[i] + plen;
		e.user = u;
		e.when = when;
		e.left = auth_left(st, now, when, pttl);
		ret = fn(&e, arg) != 0;
	}
	keys_free(keys, n);
	return ret < 0 ? -1 : 0;
}

/* ---- the POP3 mailbox lock ---- */

/* Lua run by Redis: act only while the key still holds our token. */
static const char lock_renew_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
static const char lock_release_script[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('del', KEYS[1]) else return 0 end";

/* <prefix>lock:<mailbox> into out. */
static int lock_key(struct state *st, const char *mailbox, char *out, size_t outlen)
{
	if (redis_key(out, outlen, st->c->redis.prefix, "lock", mailbox, STATE_USER_MAX) != 0)
		return state_fail(st, "bad mailbox name");
	return 0;
}

/* The lock's life in milliseconds: a command's wait and a margin. */
static long long lock_ttl_ms(const struct state *st)
{
	return ((long long)st->c->limits.command_timeout + STATE_LOCK_MARGIN) * 1000;
}

/*
 * A token nobody else holds: this node's name, the pid and 64 random
 * bits ("mail1.example.net:1234:9f3c..."), so an admin reading the key
 * sees who holds the mailbox.
 */
static int lock_token(struct state *st, char *token, size_t len)
{
	unsigned char r[8];
	FILE *f = fopen("/dev/urandom", "r");
	size_t got = f != NULL ? fread(r, 1, sizeof r, f) : 0;

	if (f != NULL)
		fclose(f);
	if (got != sizeof r)
		return state_fail(st, "/dev/urandom: %s", strerror(errno));
	if (str_format(token, len, "%s:%ld:%02x%02x%02x%02x%02x%02x%02x%02x",
	    st->c->hostname ? st->c->hostname : "-", (long)getpid(), r[0], r[1], r[2],
	    r[3], r[4], r[5], r[6], r[7]) < 0)
		return state_fail(st, "token buffer too small");
	return 0;
}

int state_redis_lock_take(struct state *st, const char *mailbox, char *token,
    size_t tokenlen)
{
	char k[STATE_REDIS_KEY_MAX + STATE_USER_MAX];
	redisReply *r;
	int taken;

	if (lock_key(st, mailbox, k, sizeof k) != 0 || lock_token(st, token, tokenlen) != 0)
		return -1;
	if ((r = redis_run(st, "SET %s %s NX PX %lld", k, token, lock_ttl_ms(st))) == NULL)
		return -1;
	taken = r->type == REDIS_REPLY_STATUS;	/* "OK"; nil when held */
	freeReplyObject(r);
	return taken;
}

/* Run one of the scripts on mailbox's key with our token; its integer. */
static int lock_script(struct state *st, const char *script, const char *mailbox,
    const char *token)
{
	char k[STATE_REDIS_KEY_MAX + STATE_USER_MAX];
	redisReply *r;
	int ours;

	if (lock_key(st, mailbox, k, sizeof k) != 0)
		return -1;
	r = redis_run(st, "EVAL %s 1 %s %s %lld", script, k, token, lock_ttl_ms(st));
	if (r == NULL)
		return -1;
	ours = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
	freeReplyObject(r);
	return ours;
}

int state_redis_lock_renew(struct state *st, const char *mailbox, const char *token)
{
	return lock_script(st, lock_renew_script, mailbox, token);
}

int state_redis_lock_release(struct state *st, const char *mailbox, const char *token)
{
	return lock_script(st, lock_release_script, mailbox, token);
}

/* ---- the failed-login counts ---- */

/* Lua run by Redis: count one more for the name, keep the record window s, sum. */
static const char authfail_add_script[] =
    "redis.call('hincrby', KEYS[1], ARGV[1], 1) "
    "redis.call('expire', KEYS[1], ARGV[2]) "
    "local n = 0 "
    "for _, v in ipairs(redis.call('hvals', KEYS[1])) do n = n + tonumber(v) end "
    "return n";

/* <prefix>authfail:<key> into out, and the name's field. */
static int authfail_key(struct state *st, const char *key, uint32_t name_hash, char *out,
    size_t outlen, char *field, size_t fieldlen)
{
	if (state_redis_key(out, outlen, st->c->redis.prefix, "authfail", key) != 0)
		return state_fail(st, "bad relay key");
	if (str_format(field, fieldlen, "%08x", (unsigned)name_hash) < 0)
		return state_fail(st, "field buffer too small");
	return 0;
}

long state_redis_authfail_add(struct state *st, const char *key, uint32_t name_hash,
    long window)
{
	char k[STATE_REDIS_KEY_MAX], f[16];
	redisReply *r;
	long n;

	if (authfail_key(st, key, name_hash, k, sizeof k, f, sizeof f) != 0)
		return -1;
	r = redis_run(st, "EVAL %s 1 %s %s %ld", authfail_add_script, k, f,
	    window > 0 ? window : 1);
	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
		freeReplyObject(r);
		return state_fail(st, "authfail: unexpected reply");
	}
	n = r->integer > 1000000 ? 1000000 : (long)r->integer;
	freeReplyObject(r);
	return n;
}

int state_redis_authfail_forget(struct state *st, const char *key, uint32_t name_hash)
{
	char k[STATE_REDIS_KEY_MAX], f[16];
	redisReply *r;

	if (authfail_key(st, key, name_hash, k, sizeof k, f, sizeof f) != 0)
		return -1;
	if ((r = redis_run(st, "HDEL %s %s", k, f)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/* ---- the outbound rate counters ---- */

#define RATE_TRIES 10

/* <prefix>rate:<key> into out (key as relaydb's rate keys: 0x21..0x7e). */
static int rate_rkey(struct state *st, const char *key, char *out, size_t outlen)
{
	if (redis_key(out, outlen, st->c->redis.prefix, "rate", key, RELAYDB_RATE_KEY_MAX) != 0)
		return state_fail(st, "bad rate key");
	return 0;
}

/* One counter's value, rolled to now; a new one when absent or bad. -1 on error. */
static int rate_fetch(struct state *st, const char *k, struct rate_counter *c, time_t now,
    long window)
{
	redisReply *r = redis_run(st, "GET %s", k);

	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_STRING || rate_parse(r->str, r->len, c) != 0)
		rate_init(c, (long long)now, window);
	freeReplyObject(r);
	rate_roll(c, (long long)now, window);
	return 0;
}

/* A command of one argument (or none) whose reply only matters for failing; 0 or -1. */
static int redis_simple(struct state *st, const char *fmt, const char *arg)
{
	redisReply *r = arg != NULL ? redis_run(st, fmt, arg) : redis_run(st, fmt);

	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/*
 * One attempt of relaydb's op_rate_take over Redis: WATCH the counters,
 * read and judge them (common/ratelimit.c), then write them in MULTI/EXEC.
 * 1 or 0 as rate_take, 2 when EXEC found a counter changed by another
 * process (try again), -1 on error (the connection dropped: no WATCH or
 * MULTI left behind).
 */
static int rate_try(struct state *st, struct relaydb_rate *v, size_t n, time_t now,
    long window, char (*k)[STATE_REDIS_KEY_MAX + RELAYDB_RATE_KEY_MAX])
{
	struct rate_counter c[RELAYDB_RATE_KEYS];
	char val[RATE_VALUE_MAX + 1];
	int first[RELAYDB_RATE_KEYS] = { 0 };
	redisReply *r;
	size_t i;
	int over = 0;

	for (i = 0; i < n; i++) {
		v[i].over = v[i].first = 0;
		v[i].count = 0;
		if (v[i].key == NULL || v[i].limit <= 0)
			continue;
		if (redis_simple(st, "WATCH %s", k[i]) != 0 ||
		    rate_fetch(st, k[i], &c[i], now, window) != 0)
			goto fail;
		v[i].count = rate_estimate(&c[i], (long long)now, window);
		if (!rate_allows(&c[i], (long long)now, window, v[i].limit))
			v[i].over = over = 1;
	}
	if (redis_simple(st, "MULTI", NULL) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if (v[i].key == NULL || v[i].limit <= 0)
			continue;
		if (over) {
			if (!v[i].over || c[i].noted == c[i].start)
				continue;
			c[i].noted = c[i].start;
			first[i] = 1;
		} else {
			c[i].cur++;
		}
		if (rate_format(val, sizeof val, &c[i]) != 0)
			goto fail;
		r = redis_run(st, "SET %s %s EX %ld", k[i], val, 2 * window);
		if (r == NULL)
			goto fail;
		freeReplyObject(r);
	}
	if ((r = redis_run(st, "EXEC")) == NULL)
		goto fail;
	if (r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return 2;	/* nil: a watched counter changed */
	}
	freeReplyObject(r);
	for (i = 0; i < n; i++)
		v[i].first = first[i];
	return !over;
fail:
	redis_drop();
	return -1;
}

int state_redis_rate_take(struct state *st, struct relaydb_rate *v, size_t n, time_t now)
{
	char k[RELAYDB_RATE_KEYS][STATE_REDIS_KEY_MAX + RELAYDB_RATE_KEY_MAX];
	long window = st->c->limits.outbound_window;
	int tries, r;
	size_t i;

	if (n > RELAYDB_RATE_KEYS || window < 1 || now < 0)
		return state_fail(st, "bad rate request");
	for (i = 0; i < n; i++)
		if (v[i].key != NULL && v[i].limit > 0 && rate_rkey(st, v[i].key, k[i],
		    sizeof k[i]) != 0)
			return -1;
	for (tries = 0; tries < RATE_TRIES; tries++)
		if ((r = rate_try(st, v, n, now, window, k)) != 2)
			return r;
	return state_fail(st, "rate counters: changed by others %d times in a row", RATE_TRIES);
}

int state_redis_rate_foreach(struct state *st, relaydb_rate_visit_fn fn, void *arg)
{
	char pattern[2 * 64 + 16];
	size_t plen = strlen(st->c->redis.prefix) + strlen("rate:"), i, n;
	char **keys;
	int ret = 0;

	if (key_pattern(st->c->redis.prefix, "rate", pattern, sizeof pattern) != 0)
		return state_fail(st, "prefix too long");
	if (auth_scan(st, pattern, &keys, &n) != 0) {
		keys_free(keys, n);
		return -1;
	}
	for (i = 0; i < n && ret == 0; i++) {
		struct rate_counter c;
		redisReply *r = redis_run(st, "GET %s", keys[i]);

		if (r == NULL) {
			ret = -1;
			break;
		}
		if (r->type == REDIS_REPLY_STRING && rate_parse(r->str, r->len, &c) == 0 &&
		    strlen(keys[i]) > plen)
			ret = fn(keys[i] + plen, &c, arg) != 0;
		freeReplyObject(r);
	}
	keys_free(keys, n);
	return ret < 0 ? -1 : 0;
}

int state_redis_rate_reset(struct state *st, const char *key)
{
	char k[STATE_REDIS_KEY_MAX + RELAYDB_RATE_KEY_MAX];
	redisReply *r;
	int found;

	if (rate_rkey(st, key, k, sizeof k) != 0)
		return -1;
	if ((r = redis_run(st, "DEL %s", k)) == NULL)
		return -1;
	found = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
	freeReplyObject(r);
	return found;
}

/* ---- tables of entries with a life (the greylist) ---- */

#define TABLE_TRIES 10

/* One write waiting for EXEC: a value, or a deletion (val NULL). */
struct table_write {
	char *key;
	size_t klen;
	char *val;
	size_t vlen;
};

struct state_redis_txn {
	struct state *st;
	char prefix[96];	/* "<prefix><table>:" */
	size_t plen;
	long ttl;
	struct table_write *w;
	size_t n, cap;
	int failed;
};

/* The full Redis key of a table key, malloc'd (binary). */
static char *table_key(const struct state_redis_txn *t, const void *key, size_t klen,
    size_t *len)
{
	char *k = malloc(t->plen + klen + 1);

	if (k == NULL)
		return NULL;
	memcpy(k, t->prefix, t->plen);
	memcpy(k + t->plen, key, klen);
	*len = t->plen + klen;
	return k;
}

/* The write pending for key in this transaction, or NULL. */
static struct table_write *table_pending(struct state_redis_txn *t, const void *key,
    size_t klen)
{
	size_t i = t->n;

	while (i-- > 0)
		if (t->w[i].klen == klen && memcmp(t->w[i].key, key, klen) == 0)
			return &t->w[i];
	return NULL;
}

static void table_writes_free(struct state_redis_txn *t)
{
	while (t->n > 0) {
		t->n--;
		free(t->w[t->n].key);
		free(t->w[t->n].val);
	}
	free(t->w);
	t->w = NULL;
	t->cap = 0;
}

/* "<prefix><table less .db>:" */
static int table_prefix(const struct state *st, const char *table, char *out, size_t len)
{
	size_t n = strlen(table);

	if (n > 3 && strcmp(table + n - 3, ".db") == 0)
		n -= 3;
	return str_format(out, len, "%s%.*s:", st->c->redis.prefix, (int)n, table);
}

int state_redis_txn_get(struct state_redis_txn *t, const void *key, size_t klen, void *val,
    size_t vmax, size_t *vlen)
{
	struct table_write *w = table_pending(t, key, klen);
	redisReply *r;
	size_t kl;
	char *k;
	int found;

	if (w != NULL) {
		if (w->val == NULL)
			return 0;
		*vlen = w->vlen;
		if (w->vlen <= vmax)
			memcpy(val, w->val, w->vlen);
		return 1;
	}
	if ((k = table_key(t, key, klen, &kl)) == NULL)
		return t->failed = state_fail(t->st, "out of memory");
	r = redis_run(t->st, "WATCH %b", k, kl);
	if (r != NULL) {
		freeReplyObject(r);
		r = redis_run(t->st, "GET %b", k, kl);
	}
	free(k);
	if (r == NULL)
		return t->failed = -1;
	found = r->type == REDIS_REPLY_STRING;
	if (found) {
		*vlen = r->len;
		if (r->len <= vmax)
			memcpy(val, r->str, r->len);
	}
	freeReplyObject(r);
	return found;
}

/* Note a write for EXEC (val NULL: a deletion). 0 or -1. */
static int table_note(struct state_redis_txn *t, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	struct table_write *w = table_pending(t, key, klen);

	if (w == NULL) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 16;
			struct table_write *nw = realloc(t->w, cap * sizeof *nw);

			if (nw == NULL)
				return t->failed = state_fail(t->st, "out of memory");
			t->w = nw;
			t->cap = cap;
		}
		w = &t->w[t->n];
		if ((w->key = malloc(klen + 1)) == NULL)
			return t->failed = state_fail(t->st, "out of memory");
		memcpy(w->key, key, klen);
		w->klen = klen;
		w->val = NULL;
		t->n++;
	}
	free(w->val);
	w->val = NULL;
	w->vlen = 0;
	if (val != NULL) {
		if ((w->val = malloc(vlen + 1)) == NULL)
			return t->failed = state_fail(t->st, "out of memory");
		memcpy(w->val, val, vlen);
		w->vlen = vlen;
	}
	return 0;
}

int state_redis_txn_put(struct state_redis_txn *t, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	return table_note(t, key, klen, val, vlen);
}

int state_redis_txn_del(struct state_redis_txn *t, const void *key, size_t klen)
{
	char buf[1];
	size_t vlen = 0;
	int r = state_redis_txn_get(t, key, klen, buf, 0, &vlen);

	if (r <= 0)
		return r;
	return table_note(t, key, klen, NULL, 0) == 0 ? 1 : -1;
}

/* MULTI, the writes, EXEC: 0, 1 when a watched key changed (again), -1. */
static int table_commit(struct state_redis_txn *t)
{
	redisReply *r;
	size_t i, kl;
	int ret = 0;

	if ((r = redis_run(t->st, "MULTI")) == NULL)
		return -1;
	freeReplyObject(r);
	for (i = 0; i < t->n && ret == 0; i++) {
		char *k = table_key(t, t->w[i].key, t->w[i].klen, &kl);

		if (k == NULL)
			return state_fail(t->st, "out of memory");
		if (t->w[i].val == NULL)
			r = redis_run(t->st, "DEL %b", k, kl);
		else if (t->ttl > 0)
			r = redis_run(t->st, "SET %b %b EX %ld", k, kl, t->w[i].val,
			    t->w[i].vlen, t->ttl);
		else
			r = redis_run(t->st, "SET %b %b", k, kl, t->w[i].val, t->w[i].vlen);
		free(k);
		if (r == NULL)
			return -1;
		freeReplyObject(r);
	}
	if ((r = redis_run(t->st, "EXEC")) == NULL)
		return -1;
	ret = r->type == REDIS_REPLY_ARRAY ? 0 : 1;
	freeReplyObject(r);
	return ret;
}

int state_redis_table_run(struct state *st, const char *table, long ttl,
    int (*fn)(struct state_txn *t, void *arg), void *arg)
{
	struct state_redis_txn rt;
	struct state_txn t = { NULL, &rt };
	int tries, v, c;

	memset(&rt, 0, sizeof rt);
	rt.st = st;
	rt.ttl = ttl;
	if (table_prefix(st, table, rt.prefix, sizeof rt.prefix) != 0)
		return state_fail(st, "table name too long");
	rt.plen = strlen(rt.prefix);
	for (tries = 0; tries < TABLE_TRIES; tries++) {
		rt.failed = 0;
		v = fn(&t, arg);
		if (rt.failed || v < 0) {
			table_writes_free(&rt);
			redis_drop();	/* no WATCH left behind */
			return v < 0 && !rt.failed ? state_fail(st, "aborted") : -1;
		}
		c = table_commit(&rt);
		table_writes_free(&rt);
		if (c < 0) {
			redis_drop();
			return -1;
		}
		if (c == 0)
			return v;
	}
	return state_fail(st, "%s: changed by others %d times in a row", table, TABLE_TRIES);
}

int state_redis_table_foreach(struct state *st, const char *table, size_t vmax,
    int (*fn)(const char *key, size_t klen, const char *val, size_t vlen, void *arg),
    void *arg)
{
	char prefix[96], pattern[2 * 96 + 8];
	size_t plen, i, n;
	char **keys;
	int ret = 0;

	if (table_prefix(st, table, prefix, sizeof prefix) != 0)
		return state_fail(st, "table name too long");
	plen = strlen(prefix);
	prefix[plen - 1] = '\0';	/* key_pattern adds the ':' */
	if (key_pattern(st->c->redis.prefix, prefix + strlen(st->c->redis.prefix), pattern,
	    sizeof pattern) != 0)
		return state_fail(st, "prefix too long");
	if (auth_scan_bin(st, pattern, &keys, &n) != 0) {
		keys_free(keys, n);
		return -1;
	}
	for (i = 0; i < n && ret == 0; i++) {
		size_t kl;
		redisReply *r;

		memcpy(&kl, keys[i], sizeof kl);
		r = redis_run(st, "GET %b", keys[i] + sizeof kl, kl);
		if (r == NULL) {
			ret = -1;
			break;
		}
		if (r->type == REDIS_REPLY_STRING && r->len <= vmax && kl > plen)
			ret = fn(keys[i] + sizeof kl + plen, kl - plen, r->str, r->len, arg) != 0;
		freeReplyObject(r);
	}
	keys_free(keys, n);
	return ret < 0 ? -1 : 0;
}
