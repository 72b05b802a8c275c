/*
 * web_session_tool.c: a web session's stored expiry, read or set through
 * the daemon's own code (web/websession.c), for tests/sessions/web_http.py:
 *
 *   web_session_tool CONF ID get           prints "expires <unix seconds>"
 *   web_session_tool CONF ID set SECONDS   sets the expiry as given
 *
 * Run as root it becomes the owner of state_dir first, as the daemon is.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "conf.h"
#include "log.h"
#include "relaydb.h"
#include "websession.h"

int main(int argc, char **argv)
{
	time_t when;
	struct relaydb *db;
	struct conf c;
	struct stat st;
	char err[1024];
	int r;

	if (argc < 4) {
		fprintf(stderr, "usage: web_session_tool CONF ID get|set [SECONDS]\n");
		return 2;
	}
	log_open("web_session_tool", 1);
	if (conf_load(argv[1], &c, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (geteuid() == 0 && (stat(c.state_dir, &st) != 0 || setgid(st.st_gid) != 0 ||
	    setuid(st.st_uid) != 0)) {
		perror(c.state_dir);
		return 1;
	}
	if ((db = relaydb_open(c.state_dir, err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (strcmp(argv[3], "set") == 0 && argc == 5)
		r = websession_expiry(db, argv[2], (time_t)strtoll(argv[4], NULL, 10), &when);
	else
		r = websession_expiry(db, argv[2], -1, &when);
	if (r == 1)
		printf("expires %lld\n", (long long)when);
	else
		fprintf(stderr, "web_session_tool: %s\n", r == 0 ? "no such session" :
		    relaydb_strerror(db));
	relaydb_close(db);
	conf_free(&c);
	return r == 1 ? 0 : 1;
}
