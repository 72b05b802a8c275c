/*
 * fuzz_session.h: running a real POP3 or SMTP session in-process on a
 * fuzz input (fuzz_pop3_command.c, fuzz_smtp_command.c). The input is the
 * client's side of the conversation, sent whole and followed by EOF; the
 * server's replies are drained by a thread and handed back for checks.
 */
#ifndef ISPMAILD_FUZZ_SESSION_H
#define ISPMAILD_FUZZ_SESSION_H

#include <stddef.h>

#include "buf.h"
#include "session.h"

/* The password every user of the test users file has. */
#define FUZZ_PASSWORD "fuzzpass"

struct fuzz_env {
	struct conf conf;
	char dir[512];		/* the scratch directory */
	char state_dir[600];
	char maildir_root[600];
	struct ssl_ctx_st *tls;	/* the server context STARTTLS/STLS offer */
};

/*
 * First call: write a configuration (1 s timeouts, scratch state, Maildir
 * root, users and aliases files) and conf_load it; later calls return the
 * same environment.
 */
struct fuzz_env *fuzz_env_get(void);

/*
 * A session context for a client address, class and service; with tls,
 * STARTTLS/STLS is offered (a self-signed P-256 certificate).
 */
void fuzz_ctx_init(struct session_ctx *ctx, const struct fuzz_env *env,
    enum service service, const char *client, enum client_class class,
    int client_is_local, int tls);

/*
 * The line that starts TLS, when present, must be the last plain text
 * sent (a TLS alert may follow). Returns the length of the plain text.
 */
size_t fuzz_check_tls_last(const struct buf *out, const char *line, const char *proto);

/*
 * Send input (at most FUZZ_SESSION_INPUT_MAX bytes of it) then EOF to a
 * session run by run(ctx) on the other end of a socketpair; out gets all
 * it wrote (up to FUZZ_SESSION_OUTPUT_MAX bytes; *total counts the rest
 * too). Checks that the session leaves no descriptor open.
 */
#define FUZZ_SESSION_INPUT_MAX 65536
#define FUZZ_SESSION_OUTPUT_MAX (4 * 1024 * 1024)
int fuzz_session_run(struct session_ctx *ctx, int (*run)(const struct session_ctx *),
    const void *input, size_t size, struct buf *out, size_t *total);

/* Every LF is part of a CRLF, and non-empty output ends in CRLF. */
void fuzz_check_crlf(const struct buf *out, const char *proto);

#endif
