/*
 * test_state.c: the shared-state interface (state/state.h) below the
 * sessions: the Berkeley DB backend through it (put, get at the TTL's
 * edges, del, foreach, expire), and the pure parts of the Redis backend
 * (key names, the stored value, redis.address) plus its failure when no
 * Redis answers. Redis itself is exercised by tests/sessions/redis_relay.py.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cutap.h"
#include "state_int.h"

static int count_one(const struct state_auth_entry *e, void *arg)
{
	int *n = arg;

	if (strcmp(e->key, "192.0.2.7") == 0 && strcmp(e->user, "ann@example.test") == 0 &&
	    e->when == 1000 && e->left == 100)
		n[0]++;
	n[1]++;
	return 0;
}

static void test_bdb(void)
{
	char dir[] = "/tmp/test_state.XXXXXX", user[64], cmd[64];
	struct conf c;
	struct state *st;
	time_t exp = 0;
	int n[2] = { 0, 0 };

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	memset(&c, 0, sizeof c);
	c.state_dir = dir;
	c.relay.authorization_ttl = 300;
	c.limits.outbound_window = 3600;
	st = state_new(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_STRING_EQUAL(state_backend_name(st), "bdb");
	CU_ASSERT_EQUAL(state_auth_get(st, "192.0.2.7", 1000, NULL, 0, NULL), 0);
	CU_ASSERT_EQUAL(state_auth_put(st, "192.0.2.7", "ann@example.test", 1000), 0);
	CU_ASSERT_EQUAL(state_auth_get(st, "192.0.2.7", 1299, user, sizeof user, &exp), 1);
	CU_ASSERT_STRING_EQUAL(user, "ann@example.test");
	CU_ASSERT_EQUAL(exp, 1300);
	CU_ASSERT_EQUAL(state_auth_get(st, "192.0.2.7", 1300, NULL, 0, NULL), 0);
	CU_ASSERT_EQUAL(state_auth_foreach(st, 1200, count_one, n), 0);
	CU_ASSERT_EQUAL(n[0], 1);
	CU_ASSERT_EQUAL(n[1], 1);
	CU_ASSERT_EQUAL(state_auth_put(st, "bad key", "x", 1000), -1);
	CU_ASSERT_EQUAL(state_auth_expire(st, 1299), 0);
	CU_ASSERT_EQUAL(state_auth_expire(st, 1300), 1);
	CU_ASSERT_EQUAL(state_auth_put(st, "192.0.2.8", "", 1000), 0);
	CU_ASSERT_EQUAL(state_auth_del(st, "192.0.2.8"), 1);
	CU_ASSERT_EQUAL(state_auth_del(st, "192.0.2.8"), 0);
	CU_ASSERT_PTR_NOT_NULL(state_relaydb(st));
	state_free(st);
	(void)snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_redis_key(void)
{
	char k[STATE_REDIS_KEY_MAX], small[12];
	char longkey[STATE_KEY_MAX + 2];

	CU_ASSERT_EQUAL(state_redis_key(k, sizeof k, "ispmaild:", "auth", "192.0.2.7"), 0);
	CU_ASSERT_STRING_EQUAL(k, "ispmaild:auth:192.0.2.7");
	CU_ASSERT_EQUAL(state_redis_key(k, sizeof k, "", "auth", "2001:db8:1:2::/64"), 0);
	CU_ASSERT_STRING_EQUAL(k, "auth:2001:db8:1:2::/64");
	CU_ASSERT_EQUAL(state_redis_key(k, sizeof k, "p:", "auth", ""), -1);
	CU_ASSERT_EQUAL(state_redis_key(k, sizeof k, "p:", "auth", "a b"), -1);
	CU_ASSERT_EQUAL(state_redis_key(k, sizeof k, "p:", "auth", "a\r\nDEL x"), -1);
	memset(longkey, 'a', sizeof longkey - 1);
	longkey[sizeof longkey - 1] = '\0';
	CU_ASSERT_EQUAL(state_redis_key(k, sizeof k, "p:", "auth", longkey), -1);
	longkey[STATE_KEY_MAX] = '\0';
	CU_ASSERT_EQUAL(state_redis_key(k, sizeof k, "p:", "auth", longkey), 0);
	CU_ASSERT_EQUAL(state_redis_key(small, sizeof small, "ispmaild:", "auth", "192.0.2.7"), -1);
}

static void test_redis_value(void)
{
	char user[16];
	time_t when = 0;

	CU_ASSERT_EQUAL(state_redis_value_parse("1700000000 ann@x.test", 21, &when, user,
	    sizeof user), 0);
	CU_ASSERT_EQUAL(when, 1700000000);
	CU_ASSERT_STRING_EQUAL(user, "ann@x.test");
	CU_ASSERT_EQUAL(state_redis_value_parse("42", 2, &when, user, sizeof user), 0);
	CU_ASSERT_EQUAL(when, 42);
	CU_ASSERT_STRING_EQUAL(user, "");
	CU_ASSERT_EQUAL(state_redis_value_parse("42 ", 3, &when, NULL, 0), 0);
	CU_ASSERT_EQUAL(state_redis_value_parse("", 0, &when, user, sizeof user), -1);
	CU_ASSERT_EQUAL(state_redis_value_parse("x42", 3, &when, user, sizeof user), -1);
	CU_ASSERT_EQUAL(state_redis_value_parse("42x", 3, &when, user, sizeof user), -1);
	CU_ASSERT_EQUAL(state_redis_value_parse("12345678901234567890 a", 22, &when, user,
	    sizeof user), -1);
	CU_ASSERT_EQUAL(state_redis_value_parse("1 a\0b", 5, &when, user, sizeof user), -1);
	CU_ASSERT_EQUAL(state_redis_value_parse("1 0123456789abcdef", 18, &when, user,
	    sizeof user), -1);
}

static void test_redis_address(void)
{
	char host[128];
	int port = 0;

	CU_ASSERT_EQUAL(state_redis_address("127.0.0.1:6379", host, sizeof host, &port), 0);
	CU_ASSERT_STRING_EQUAL(host, "127.0.0.1");
	CU_ASSERT_EQUAL(port, 6379);
	CU_ASSERT_EQUAL(state_redis_address("[::1]:6380", host, sizeof host, &port), 0);
	CU_ASSERT_STRING_EQUAL(host, "::1");
	CU_ASSERT_EQUAL(port, 6380);
	CU_ASSERT_EQUAL(state_redis_address("/run/redis/redis.sock", host, sizeof host, &port), 1);
	CU_ASSERT_STRING_EQUAL(host, "/run/redis/redis.sock");
	CU_ASSERT_EQUAL(state_redis_address("redis.example:6379", host, sizeof host, &port), -1);
}

/* No Redis there: every call fails (-1, a reason), none hangs or crashes. */
static void test_redis_unreachable(void)
{
	struct conf c;
	struct state *st;

	memset(&c, 0, sizeof c);
	c.relay.backend = RELAY_BACKEND_REDIS;
	c.relay.authorization_ttl = 300;
	c.redis.address = "127.0.0.1:1";
	c.redis.password_file = "";
	c.redis.prefix = "ispmaild:";
	c.redis.timeout_ms = 500;
	st = state_new(&c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st);
	CU_ASSERT_STRING_EQUAL(state_backend_name(st), "redis");
	CU_ASSERT_EQUAL(state_auth_put(st, "192.0.2.7", "ann", 1000), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(state_strerror(st), "127.0.0.1:1"));
	CU_ASSERT_EQUAL(state_auth_get(st, "192.0.2.7", 1000, NULL, 0, NULL), -1);
	CU_ASSERT_EQUAL(state_auth_del(st, "192.0.2.7"), -1);
	CU_ASSERT_EQUAL(state_auth_expire(st, 1000), 0);
	CU_ASSERT_EQUAL(state_auth_get(st, "bad key", 1000, NULL, 0, NULL), -1);
	CU_ASSERT_STRING_EQUAL(state_strerror(st), "bad relay key");
	state_free(st);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("state", NULL, NULL);
	CU_add_test(s, "bdb backend through state.h", test_bdb);
	CU_add_test(s, "redis: key names", test_redis_key);
	CU_add_test(s, "redis: the stored value", test_redis_value);
	CU_add_test(s, "redis: redis.address", test_redis_address);
	CU_add_test(s, "redis: no Redis there", test_redis_unreachable);
	return cutap_run();
}
