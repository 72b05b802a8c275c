/*
 * master.h: the master process: listeners, privilege drop, accept and
 * fork, limits, reaping, reload and graceful stop (ispmaild(8)).
 */
#ifndef ISPMAILD_MASTER_H
#define ISPMAILD_MASTER_H

#include "conf.h"

struct master_options {
	const char *conf_path;
	int foreground;
};

/*
 * Hold (1) or release (0) SIGHUP, SIGTERM and SIGINT: main holds them from
 * before the configuration is read until master_run has its handlers.
 */
void master_hold_signals(int hold);

/* Run until SIGTERM; returns the process exit code. Takes over *conf. */
int master_run(const struct master_options *opt, struct conf *conf);

/* The -t checks beyond conf_load: files readable, state_dir usable. */
int master_check(const struct conf *conf, char *err, size_t errlen);

struct session_ctx;
/* The metrics service's one HTTP exchange (metrics.c). */
int metrics_session_run(const struct session_ctx *ctx);

#endif
