/*
 * relaydb_bench.c: what POP-before-SMTP costs a session (issue 7): the
 * relay DB (common/relaydb.c) opened and closed the way a session does,
 * alone (the first opener runs recovery, the last one out a checkpoint)
 * and while another process holds it open, then one write per POP3 login
 * and one lookup per RCPT, with many entries in the table.
 *
 *   relaydb_bench STATE_DIR [entries=100000] [rounds=200]
 *   relaydb_bench -h STATE_DIR     hold the DB open until stdin closes
 *
 * Links libcommon.a from the build (bench/compare builds it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "relaydb.h"

static double now_mono(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct relaydb *open_or_die(const char *dir)
{
	char err[256];
	struct relaydb *db = relaydb_open(dir, err, sizeof err);

	if (db == NULL) {
		fprintf(stderr, "relaydb_bench: open %s: %s\n", dir, err);
		exit(2);
	}
	return db;
}

static void key_of(long i, char *out, size_t len)
{
	snprintf(out, len, "10.%ld.%ld.%ld", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

/* Microseconds per open+close, rounds times. */
static double time_open_close(const char *dir, int rounds)
{
	double t0 = now_mono();
	int i;

	for (i = 0; i < rounds; i++)
		relaydb_close(open_or_die(dir));
	return (now_mono() - t0) * 1e6 / rounds;
}

/* A second process that keeps the DB open, as a long-lived holder would. */
static pid_t holder_start(const char *dir, int *wfd)
{
	int p[2], q[2];
	pid_t pid;
	char c;

	if (pipe(p) != 0 || pipe(q) != 0)
		exit(2);
	pid = fork();
	if (pid < 0)
		exit(2);
	if (pid == 0) {
		struct relaydb *db = open_or_die(dir);

		close(p[1]);
		close(q[0]);
		if (write(q[1], "r", 1) != 1)
			_exit(2);
		while (read(p[0], &c, 1) > 0)
			;
		relaydb_close(db);
		_exit(0);
	}
	close(p[0]);
	close(q[1]);
	if (read(q[0], &c, 1) != 1)
		exit(2);
	close(q[0]);
	*wfd = p[1];
	return pid;
}

int main(int argc, char **argv)
{
	const char *dir;
	long entries = 100000, i;
	int rounds = 200, wfd, st;
	struct relaydb *db;
	double t0, cold, warm, put, get, get_open;
	char key[64];
	pid_t h;

	if (argc == 3 && strcmp(argv[1], "-h") == 0) {
		char c;

		db = open_or_die(argv[2]);
		while (read(0, &c, 1) > 0)
			;
		relaydb_close(db);
		return 0;
	}
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: relaydb_bench STATE_DIR [entries] [rounds]\n"
		    "       relaydb_bench -h STATE_DIR\n");
		return 2;
	}
	dir = argv[1];
	if (argc > 2) entries = atol(argv[2]);
	if (argc > 3) rounds = atoi(argv[3]);
	if (entries < 1 || rounds < 1)
		return 2;

	db = open_or_die(dir);
	t0 = now_mono();
	for (i = 0; i < entries; i++) {
		key_of(i, key, sizeof key);
		if (relaydb_authorize(db, key, "user@pop.test", time(NULL)) != 0) {
			fprintf(stderr, "relaydb_bench: %s\n", relaydb_strerror(db));
			return 1;
		}
	}
	printf("fill entries=%ld us_per_put=%.1f\n", entries, (now_mono() - t0) * 1e6 / entries);
	relaydb_close(db);

	cold = time_open_close(dir, rounds);
	h = holder_start(dir, &wfd);
	warm = time_open_close(dir, rounds);

	db = open_or_die(dir);
	t0 = now_mono();
	for (i = 0; i < rounds; i++) {
		key_of((i * 7919) % entries, key, sizeof key);
		(void)relaydb_authorize(db, key, "user@pop.test", time(NULL));
	}
	put = (now_mono() - t0) * 1e6 / rounds;
	t0 = now_mono();
	for (i = 0; i < rounds; i++) {
		key_of((i * 104729) % entries, key, sizeof key);
		if (relaydb_is_authorized(db, key, time(NULL), 1800) < 0)
			return 1;
	}
	get = (now_mono() - t0) * 1e6 / rounds;
	relaydb_close(db);

	/* A session's whole use: open, one lookup, close (holder present). */
	t0 = now_mono();
	for (i = 0; i < rounds; i++) {
		db = open_or_die(dir);
		key_of((i * 104729) % entries, key, sizeof key);
		(void)relaydb_is_authorized(db, key, time(NULL), 1800);
		relaydb_close(db);
	}
	get_open = (now_mono() - t0) * 1e6 / rounds;
	close(wfd);
	(void)waitpid(h, &st, 0);

	printf("result entries=%ld open_close_alone_us=%.0f open_close_shared_us=%.0f "
	    "authorize_us=%.1f lookup_us=%.1f session_lookup_shared_us=%.0f\n",
	    entries, cold, warm, put, get, get_open);
	return 0;
}
