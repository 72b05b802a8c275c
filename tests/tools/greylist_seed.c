/*
 * greylist_seed.c: one greylisting decision from the command line, as the
 * session will take it at RCPT for an outside, unauthorized client, for
 * the tests that seed the table (tests/sessions/ctl_greylist.py):
 *
 *   greylist_seed CONF CLIENT SENDER RECIPIENT NOW
 *       prints "defer REASON WAIT" or "pass REASON PASSES CLIENT_PASSES"
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "conf.h"
#include "greylist.h"
#include "log.h"
#include "relaydb.h"

int main(int argc, char **argv)
{
	struct greylist_result res;
	struct relaydb *db;
	struct conf c;
	char err[1024];

	if (argc != 6) {
		fprintf(stderr, "usage: greylist_seed CONF CLIENT SENDER RECIPIENT NOW\n");
		return 2;
	}
	log_open("greylist_seed", 1);
	if (conf_load(argv[1], &c, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if ((db = relaydb_open(c.state_dir, err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		conf_free(&c);
		return 1;
	}
	greylist_rcpt_check(db, &c, CLIENT_OUTSIDE, 0, argv[2], argv[3], argv[4],
	    (time_t)strtoll(argv[5], NULL, 10), &res);
	if (res.verdict == GREYLIST_DEFER)
		printf("defer %s %ld\n", res.reason, res.wait);
	else
		printf("pass %s %ld %ld\n", res.reason, res.passes, res.client_passes);
	relaydb_close(db);
	conf_free(&c);
	return 0;
}
