/*
 * state_bench.c: what the shared state costs a session on each backend
 * (issue 18; docs/SCALING.md): one state_auth_put per POP3 login and one
 * state_auth_get per RCPT, through state.h exactly as the sessions call
 * it (a handle per session, the process's Redis connection kept), with
 * many entries present, on the Berkeley DB files and on Redis in the
 * same run.
 *
 *   state_bench STATE_DIR [REDIS_ADDRESS] [entries=10000] [rounds=2000]
 *
 * Build: make bench/state_bench (links the build's libraries).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state.h"

static double now_mono(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void key_of(long i, char *out, size_t len)
{
	snprintf(out, len, "10.%ld.%ld.%ld", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

/* Fill, then time puts and gets; one line of microseconds per call. */
static int bench(const struct conf *c, long entries, int rounds)
{
	struct state *st = state_new(c);
	char key[32];
	double t0, put, get, sess;
	long i;

	for (i = 0; i < entries; i++) {
		key_of(i, key, sizeof key);
		if (state_auth_put(st, key, "bench@example.test", time(NULL)) != 0) {
			fprintf(stderr, "state_bench: %s: %s\n", state_backend_name(st),
			    state_strerror(st));
			state_free(st);
			return -1;
		}
	}
	t0 = now_mono();
	for (i = 0; i < rounds; i++) {
		key_of((i * 7919) % entries, key, sizeof key);
		(void)state_auth_put(st, key, "bench@example.test", time(NULL));
	}
	put = (now_mono() - t0) * 1e6 / rounds;
	t0 = now_mono();
	for (i = 0; i < rounds; i++) {
		key_of((i * 104729) % entries, key, sizeof key);
		if (state_auth_get(st, key, time(NULL), NULL, 0, NULL) != 1) {
			fprintf(stderr, "state_bench: lookup %s: %s\n", key, state_strerror(st));
			break;
		}
	}
	get = (now_mono() - t0) * 1e6 / rounds;
	state_free(st);
	/* A session's first lookup: a new handle each time (BDB: the open). */
	t0 = now_mono();
	for (i = 0; i < rounds / 10 + 1; i++) {
		st = state_new(c);
		key_of(i % entries, key, sizeof key);
		(void)state_auth_get(st, key, time(NULL), NULL, 0, NULL);
		state_free(st);
	}
	sess = (now_mono() - t0) * 1e6 / (rounds / 10 + 1);
	printf("backend=%s entries=%ld us_per_login_write=%.1f us_per_rcpt_lookup=%.1f "
	    "us_per_session_first_lookup=%.1f\n", c->relay.backend == RELAY_BACKEND_REDIS ?
	    "redis" : "bdb", entries, put, get, sess);
	return 0;
}

int main(int argc, char **argv)
{
	struct conf c;
	long entries = 10000;
	int rounds = 2000, ret = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: state_bench STATE_DIR [REDIS_ADDRESS] [entries] [rounds]\n");
		return 2;
	}
	if (argc > 3)
		entries = atol(argv[3]);
	if (argc > 4)
		rounds = atoi(argv[4]);
	memset(&c, 0, sizeof c);
	c.state_dir = argv[1];
	c.relay.authorization_ttl = 1800;
	c.limits.outbound_window = 3600;
	c.redis.password_file = "";
	c.redis.prefix = "bench:";
	c.redis.timeout_ms = 500;
	ret |= bench(&c, entries, rounds);
	if (argc > 2 && argv[2][0] != '\0') {
		c.relay.backend = RELAY_BACKEND_REDIS;
		c.redis.address = argv[2];
		ret |= bench(&c, entries, rounds);
	}
	return ret ? 1 : 0;
}
