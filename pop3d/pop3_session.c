/*
 * pop3_session.c: one POP3 session, AUTHORIZATION -> TRANSACTION -> UPDATE
 * (RFC 1939 §3), driven by a command table. Replies are collected and
 * flushed only when no pipelined input waits (RFC 2449 §6.6). A right
 * password records the client in the relay DB before "+OK" or "[IN-USE]"
 * (docs/PROTOCOL.md), and messages marked with DELE are removed only in UPDATE,
 * after QUIT.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "maildir.h"
#include "pop3.h"
#include "pop3_replies.h"
#include "state.h"
#include "sasl.h"
#include "stats.h"
#include "stream.h"
#include "users.h"

enum pop3_state {
	POP3_AUTHORIZATION = 1,
	POP3_TRANSACTION = 2,
};

struct pop3 {
	const struct session_ctx *ctx;
	const struct conf *conf;
	struct stream st;
	enum pop3_state state;
	int quit;			/* end the session after this reply */
	int bad_commands;
	long junk;			/* NOOP, STAT, LIST, UIDL so far */
	struct session_auth auth;	/* failed logins, the last pause */
	char login[POP3_LINE_MAX];	/* the name USER gave */
	char user[USERS_ADDRESS_MAX];	/* the logged-in address */
	int have_user;
	char maildir[PATH_MAX];
	unsigned long long quota;	/* the user's quota= in bytes; 0 none */
	int lock_fd;
	struct state *shared;		/* state.h, made at first use */
	char lock_token[STATE_TOKEN_MAX];	/* the mailbox lock across nodes */
	int shared_locked;
	time_t lock_renewed;
	struct maildir_list msgs;
	unsigned retrieved, deleted;
	unsigned long long bytes_sent;
};

struct pop3_command {
	const char *name;
	int states;			/* mask of enum pop3_state */
	void (*handler)(struct pop3 *p, char *arg);
};

static void reply(struct pop3 *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Queue one reply line; it is flushed with the rest of the batch. */
static void reply(struct pop3 *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&p->st.wbuf, fmt, ap);
	va_end(ap);
	stream_write(&p->st, "\r\n", 2);
}

static const char *state_name(enum pop3_state s)
{
	return s == POP3_AUTHORIZATION ? "authorization" : "transaction";
}

static void enter_state(struct pop3 *p, enum pop3_state to)
{
	log_debug("state from=%s to=%s", state_name(p->state), state_name(to));
	p->state = to;
}

/* A bad command counts towards the limit that ends a hostile session. */
static void bad_command(struct pop3 *p, const char *text)
{
	reply(p, "%s", text);
	if (++p->bad_commands >= p->conf->limits.error_limit) {
		reply(p, POP3_ERR_TOO_MANY_BAD);
		log_warn("close reason=too-many-bad-commands count=%d", p->bad_commands);
		stats_closed(STAT_CLOSE_ERRORS);
		p->quit = 1;
	}
}

/*
 * NOOP, STAT, LIST and UIDL fetch nothing, yet each resets the command
 * timeout: past limits.junk_command_limit of them in a session the client
 * only holds a process. RETR, TOP and DELE are not counted (and clear
 * nothing). 1 when the session ends here.
 */
static int junk_command(struct pop3 *p)
{
	if (++p->junk <= p->conf->limits.junk_command_limit)
		return 0;
	log_warn("close reason=junk-commands count=%ld", p->junk);
	stats_closed(STAT_CLOSE_JUNK);
	reply(p, POP3_ERR_TOO_MANY_JUNK);
	p->quit = 1;
	return 1;
}

/* Parse a message number of the current listing; NULL when invalid. */
static struct maildir_msg *msg_arg(struct pop3 *p, const char *arg, size_t *num)
{
	char *end;
	unsigned long n;

	if (arg == NULL || !isdigit((unsigned char)arg[0])) {
		reply(p, POP3_ERR_SYNTAX);
		return NULL;
	}
	errno = 0;
	n = strtoul(arg, &end, 10);
	if (errno || (*end != '\0' && *end != ' ') || n == 0 || n > p->msgs.n) {
		reply(p, POP3_ERR_NO_MSG);
		return NULL;
	}
	if (p->msgs.v[n - 1].deleted) {
		reply(p, POP3_ERR_DELETED);
		return NULL;
	}
	*num = n;
	return &p->msgs.v[n - 1];
}

/* The session's shared-state handle (state.h), made at first use; NULL: out of memory. */
static struct state *pop3_shared(struct pop3 *p)
{
	if (p->shared == NULL)
		p->shared = state_new(p->conf);
	return p->shared;
}

/*
 * Record the client as authorized to relay, unless its range must not be.
 * A failed write is logged and the login goes on (SPEC 14: POP3 keeps
 * serving mail when the shared state cannot be reached).
 */
static void relay_authorize(struct pop3 *p)
{
	const struct session_ctx *ctx = p->ctx;
	char key[NET_ADDR_MAX];
	struct state *st;

	if (net_list_match(&p->conf->relay.never_authorize, &ctx->client)) {
		log_info("relay-authorize client=%s result=skipped reason=never_authorize",
		    ctx->client_text);
		return;
	}
	net_relay_key(&ctx->client, p->conf->relay.ipv6_prefix, key, sizeof key);
	/* A handle of its own: the relay DB is not kept open for the session. */
	if ((st = state_new(p->conf)) == NULL) {
		log_error("relay-authorize key=%s result=error reason=\"out of memory\"", key);
		return;
	}
	if (state_auth_put(st, key, p->user, time(NULL)) != 0)
		log_error("relay-authorize key=%s result=error backend=%s reason=\"%s\"",
		    key, state_backend_name(st), state_strerror(st));
	else
		log_info("relay-authorize key=%s user=%s", key, log_q(p->user));
	state_free(st);
}

/*
 * The mailbox lock across nodes (state.h; with Redis), taken after this
 * node's flock: 1 go on, 0 another session holds it ([IN-USE]). Redis
 * unreachable: the flock alone, logged (SPEC 14: POP3 keeps serving).
 */
static int shared_lock_take(struct pop3 *p)
{
	int r;

	if (pop3_shared(p) == NULL)
		return 1;
	r = state_lock_take(p->shared, p->user, p->lock_token, sizeof p->lock_token);
	if (r < 0) {
		log_error("state backend=%s op=lock user=%s result=error reason=\"%s\"",
		    state_backend_name(p->shared), log_q(p->user), state_strerror(p->shared));
		return 1;
	}
	if (r == 1) {
		p->shared_locked = 1;
		p->lock_renewed = time(NULL);
	}
	return r;
}

/*
 * Before each command: keep the lock alive (at most once a second). 0,
 * or -1 when another session holds it now (ours expired): the session
 * must end without touching the mailbox.
 */
static int shared_lock_renew(struct pop3 *p)
{
	time_t now = time(NULL);
	int r;

	if (!p->shared_locked || now == p->lock_renewed)
		return 0;
	r = state_lock_renew(p->shared, p->user, p->lock_token);
	if (r < 0) {
		log_error("state backend=%s op=lock-renew user=%s result=error reason=\"%s\"",
		    state_backend_name(p->shared), log_q(p->user), state_strerror(p->shared));
		return 0;
	}
	p->lock_renewed = now;
	if (r == 0) {
		p->shared_locked = 0;
		log_warn("lock user=%s result=lost", log_q(p->user));
		return -1;
	}
	return 0;
}

/* Release the lock across nodes, only while it is still ours (state.h). */
static void shared_lock_release(struct pop3 *p)
{
	if (!p->shared_locked)
		return;
	p->shared_locked = 0;
	if (state_lock_release(p->shared, p->user, p->lock_token) < 0)
		log_error("state backend=%s op=unlock user=%s result=error reason=\"%s\"",
		    state_backend_name(p->shared), log_q(p->user), state_strerror(p->shared));
}

/*
 * The user's quota (users file, SPEC 12), read once at login: with one,
 * the messages QUIT removes are taken off maildirsize.
 */
static void login_quota(struct pop3 *p)
{
	struct user_options o;

	p->quota = 0;
	if (users_options(p->conf->users_file, p->user, &o) == 1 && o.has_quota)
		p->quota = o.quota;
}

/*
 * Disk bytes of a message about to be removed, as the Maildir++ count
 * has it (S= in the name, else its size); -1 when it is already gone
 * (someone else removed it, and counted that).
 */
static long long msg_disk_size(const struct pop3 *p, const struct maildir_msg *m)
{
	char path[PATH_MAX];
	struct stat st;
	size_t disk;

	if (str_format(path, sizeof path, "%s/%s/%s", p->maildir,
	    m->in_cur ? "cur" : "new", m->name) != 0 || lstat(path, &st) != 0)
		return -1;
	if (maildir_name_parse(m->name, NULL, &disk, NULL) == 0 && disk != (size_t)-1)
		return (long long)disk;
	return (long long)st.st_size;
}

/* One negative maildirsize line for what this QUIT removed. */
static void quota_release(struct pop3 *p, long long bytes, long long count)
{
	if (p->quota == 0 || count == 0)
		return;
	if (quota_update(p->maildir, p->quota, 0, -bytes, -count) != 0)
		log_error("quota user=%s result=error reason=\"maildirsize: %s\"",
		    log_q(p->user), strerror(errno));
}

/*
 * After a good password: authorize relaying, lock, scan, TRANSACTION. The
 * relay DB is written first: a right password is proof enough even when
 * the mailbox is then refused as [IN-USE] (a phone polling the mailbox the
 * desktop holds must not cost the desktop its right to send, docs/PROTOCOL.md).
 */
static void login_finish(struct pop3 *p, const char *method)
{
	size_t i;

	relay_authorize(p);
	if (maildir_path_for(p->conf->maildir_root, p->user, p->maildir,
	    sizeof p->maildir) != 0 || maildir_make(p->maildir, (uid_t)-1,
	    (gid_t)-1) != 0) {
		log_error("login user=%s result=error reason=\"maildir: %s\"",
		    log_q(p->user), strerror(errno));
		reply(p, POP3_ERR_MAILBOX);
		return;
	}
	p->lock_fd = maildir_lock(p->maildir);
	if (p->lock_fd < 0) {
		if (errno == EWOULDBLOCK || errno == EAGAIN) {
			log_info("login user=%s result=in-use", log_q(p->user));
			reply(p, POP3_ERR_IN_USE);
		} else {
			log_error("login user=%s result=error reason=\"lock: %s\"",
			    log_q(p->user), strerror(errno));
			reply(p, POP3_ERR_MAILBOX);
		}
		return;
	}
	if (shared_lock_take(p) == 0) {
		maildir_unlock(p->lock_fd);
		p->lock_fd = -1;
		log_info("login user=%s result=in-use where=other-node", log_q(p->user));
		reply(p, POP3_ERR_IN_USE);
		return;
	}
	if (maildir_scan(p->maildir, &p->msgs) != 0) {
		log_error("login user=%s result=error reason=\"scan: %s\"",
		    log_q(p->user), strerror(errno));
		shared_lock_release(p);
		maildir_unlock(p->lock_fd);
		p->lock_fd = -1;
		reply(p, POP3_ERR_MAILBOX);
		return;
	}
	for (i = 0; i < p->msgs.n; i++)
		p->msgs.v[i].deleted = 0;
	login_quota(p);
	log_info("login user=%s result=ok method=%s messages=%zu", log_q(p->user),
	    log_q(method), p->msgs.n);
	enter_state(p, POP3_TRANSACTION);
	reply(p, POP3_LOGIN_OK, p->msgs.n);
}

/* A refused login: the pause, then -ERR; the last one allowed ends it. */
static void login_failed(struct pop3 *p)
{
	session_auth_delay(p->auth.pause_ms);
	if (p->auth.failures >= p->conf->limits.auth_failures) {
		log_warn("close reason=auth-failures count=%d", p->auth.failures);
		reply(p, POP3_ERR_AUTH_CLOSE);
		p->quit = 1;
		return;
	}
	reply(p, POP3_ERR_AUTH_FAILED);
}

/* Check a login name and password; on success enter TRANSACTION. */
static void login(struct pop3 *p, const char *name, const char *password,
    const char *method)
{
	int r = session_password_check(p->ctx, name, password, method, p->user,
	    sizeof p->user, &p->auth);

	if (r == 1) {
		login_finish(p, method);
		return;
	}
	if (r < 0) {
		reply(p, POP3_ERR_MAILBOX);
		return;
	}
	login_failed(p);
}

static void cmd_user(struct pop3 *p, char *arg)
{
	if (!session_plaintext_ok(p->ctx, p->st.ssl != NULL)) {
		log_info("login result=refused reason=encryption-required service=%s",
		    conf_service_name(p->ctx->service));
		reply(p, POP3_ERR_PLAINTEXT);
		return;
	}
	if (arg == NULL) {
		bad_command(p, POP3_ERR_SYNTAX);
		return;
	}
	/* Every name gets the same answer: PASS tells nothing either. */
	str_copy(p->login, sizeof p->login, arg);
	p->have_user = 1;
	reply(p, POP3_USER_OK);
}

static void cmd_pass(struct pop3 *p, char *arg)
{
	if (!session_plaintext_ok(p->ctx, p->st.ssl != NULL)) {
		reply(p, POP3_ERR_PLAINTEXT);
		return;
	}
	if (!p->have_user) {
		reply(p, POP3_ERR_NO_USER);
		return;
	}
	p->have_user = 0;
	login(p, p->login, arg ? arg : "", "USER");
}

/*
 * STLS (RFC 2595 §4): input pipelined behind it is discarded unread, and
 * the capabilities are asked again over TLS.
 */
static void cmd_stls(struct pop3 *p, char *arg)
{
	int r;

	(void)arg;
	if (p->st.ssl != NULL) {
		bad_command(p, POP3_ERR_TLS_ACTIVE);
		return;
	}
	if (p->ctx->tls == NULL) {
		bad_command(p, POP3_ERR_NO_TLS);
		return;
	}
	reply(p, POP3_STLS);
	if (stream_input_pending(&p->st))
		log_warn("stls result=discarded reason=pipelined-input");
	stream_discard_input(&p->st);
	if (stream_flush(&p->st) != STREAM_OK) {
		p->quit = 1;
		return;
	}
	r = stream_start_tls(&p->st, p->ctx->tls);
	if (r != STREAM_OK) {
		log_info("stls result=fail reason=%s", r == STREAM_TIMEOUT ?
		    "timeout" : "handshake");
		p->quit = 1;
		return;
	}
	p->have_user = 0;
	log_info("stls result=ok version=%s cipher=%s",
	    stream_tls_version(&p->st), stream_tls_cipher(&p->st));
}

/*
 * One SASL continuation (RFC 5034 §4) into line[SASL_LINE_MAX]: longer than
 * a command line, so a full-size PLAIN response fits. Its length, or -1
 * after "*" or trouble.
 */
static int auth_read(void *session, const char *prompt, char *line)
{
	struct pop3 *p = session;
	size_t len;
	int r;

	stream_printf(&p->st, "+ %s\r\n", prompt);
	if (stream_flush(&p->st) != STREAM_OK) {
		p->quit = 1;
		return -1;
	}
	r = stream_read_line(&p->st, line, SASL_LINE_MAX, &len, NULL);
	if (r != STREAM_OK) {
		if (r == STREAM_TOOLONG)
			reply(p, POP3_ERR_TOOLONG);
		p->quit = 1;
		return -1;
	}
	if (strcmp(line, "*") == 0) {
		reply(p, POP3_ERR_AUTH_CANCEL);
		return -1;
	}
	return (int)len;
}

/*
 * AUTH PLAIN and LOGIN (RFC 5034); "AUTH" alone lists them. The responses
 * are decoded by sasl.c exactly as SMTP AUTH decodes them: bad base64 is a
 * bad command, a malformed message a failed login, both logged and counted
 * by session_auth_refused().
 */
static void cmd_auth(struct pop3 *p, char *arg)
{
	char line[SASL_LINE_MAX], user[SASL_FIELD_MAX], pass[SASL_FIELD_MAX];
	const char *method;
	char *initial = NULL;
	int r;

	if (arg == NULL) {
		reply(p, POP3_AUTH_LIST);
		reply(p, "PLAIN");
		reply(p, "LOGIN");
		reply(p, ".");
		return;
	}
	if (!session_plaintext_ok(p->ctx, p->st.ssl != NULL)) {
		log_info("login result=refused reason=encryption-required service=%s",
		    conf_service_name(p->ctx->service));
		reply(p, POP3_ERR_PLAINTEXT);
		return;
	}
	if ((initial = strchr(arg, ' ')) != NULL) {
		*initial++ = '\0';
		if (*initial == '\0')
			initial = NULL;		/* as SMTP: no initial response */
	}
	if (strcasecmp(arg, "PLAIN") == 0) {
		method = "PLAIN";
	} else if (strcasecmp(arg, "LOGIN") == 0) {
		method = "LOGIN";
	} else {
		bad_command(p, POP3_ERR_AUTH_MECH);
		return;
	}
	user[0] = pass[0] = '\0';
	r = sasl_credentials(method[0] == 'P', initial, auth_read, p, line, user,
	    pass);
	explicit_bzero(line, sizeof line);
	if (r == SASL_OK) {
		login(p, user, pass, method);
	} else if (r == SASL_BAD_BASE64) {
		session_auth_refused(p->ctx, method, r, &p->auth);
		bad_command(p, POP3_ERR_AUTH_BASE64);
	} else if (r == SASL_MALFORMED) {
		session_auth_refused(p->ctx, method, r, &p->auth);
		login_failed(p);
	}
	/* Refused half-way too: pass may hold a password. */
	explicit_bzero(pass, sizeof pass);
}

static void cmd_capa(struct pop3 *p, char *arg)
{
	(void)arg;
	reply(p, POP3_CAPA);
	reply(p, "TOP");
	reply(p, "UIDL");
	reply(p, "RESP-CODES");
	reply(p, "AUTH-RESP-CODE");
	reply(p, "PIPELINING");
	if (p->state == POP3_AUTHORIZATION &&
	    session_plaintext_ok(p->ctx, p->st.ssl != NULL)) {
		reply(p, "USER");
		reply(p, "SASL PLAIN LOGIN");
	}
	if (p->state == POP3_AUTHORIZATION && p->ctx->tls != NULL &&
	    p->st.ssl == NULL)
		reply(p, "STLS");
	reply(p, "IMPLEMENTATION ispmaild");
	reply(p, ".");
}

static void cmd_quit(struct pop3 *p, char *arg)
{
	long long disk, freed = 0, nfreed = 0;
	size_t i;
	int failed = 0;

	(void)arg;
	p->quit = 1;
	if (p->state != POP3_TRANSACTION) {
		reply(p, POP3_BYE);
		return;
	}
	/* UPDATE (RFC 1939 §6): only now are DELE marks acted upon. */
	for (i = 0; i < p->msgs.n; i++) {
		if (!p->msgs.v[i].deleted)
			continue;
		disk = p->quota ? msg_disk_size(p, &p->msgs.v[i]) : -1;
		if (maildir_msg_delete(p->maildir, &p->msgs.v[i]) != 0) {
			log_error("delete msg=%s result=error reason=\"%s\"",
			    log_q(p->msgs.v[i].name), strerror(errno));
			failed = 1;
		} else {
			p->deleted++;
			if (disk >= 0) {
				freed += disk;
				nfreed++;
			}
		}
	}
	quota_release(p, freed, nfreed);
	/* Release the lock before the reply, so the client may log in at once. */
	shared_lock_release(p);
	maildir_unlock(p->lock_fd);
	p->lock_fd = -1;
	log_info("logout user=%s retrieved=%u deleted=%u bytes=%llu", log_q(p->user),
	    p->retrieved, p->deleted, p->bytes_sent);
	reply(p, failed ? POP3_ERR_UPDATE : POP3_BYE);
}

static void cmd_noop(struct pop3 *p, char *arg)
{
	(void)arg;
	if (junk_command(p))
		return;
	reply(p, POP3_OK);
}

static void totals(const struct pop3 *p, size_t *count, unsigned long long *size)
{
	size_t i;

	*count = 0;
	*size = 0;
	for (i = 0; i < p->msgs.n; i++) {
		if (p->msgs.v[i].deleted)
			continue;
		(*count)++;
		*size += p->msgs.v[i].size;
	}
}

static void cmd_stat(struct pop3 *p, char *arg)
{
	size_t count;
	unsigned long long size;

	(void)arg;
	if (junk_command(p))
		return;
	totals(p, &count, &size);
	reply(p, POP3_STAT, count, size);
}

static void cmd_list(struct pop3 *p, char *arg)
{
	struct maildir_msg *m;
	size_t i, n, count;
	unsigned long long size;

	if (junk_command(p))
		return;
	if (arg != NULL) {
		if ((m = msg_arg(p, arg, &n)) != NULL)
			reply(p, POP3_LIST_ONE, n, m->size);
		return;
	}
	totals(p, &count, &size);
	reply(p, POP3_LIST_ALL, count, size);
	for (i = 0; i < p->msgs.n; i++)
		if (!p->msgs.v[i].deleted)
			reply(p, "%zu %zu", i + 1, p->msgs.v[i].size);
	reply(p, ".");
}

static void cmd_uidl(struct pop3 *p, char *arg)
{
	char uid[MAILDIR_UID_MAX + 1];
	struct maildir_msg *m;
	size_t i, n;

	if (junk_command(p))
		return;
	if (arg != NULL) {
		if ((m = msg_arg(p, arg, &n)) != NULL &&
		    maildir_msg_uidl(m, uid, sizeof uid) == 0)
			reply(p, POP3_UIDL_ONE, n, uid);
		return;
	}
	reply(p, POP3_UIDL_ALL);
	for (i = 0; i < p->msgs.n; i++) {
		m = &p->msgs.v[i];
		if (!m->deleted && maildir_msg_uidl(m, uid, sizeof uid) == 0)
			reply(p, "%zu %s", i + 1, uid);
	}
	reply(p, ".");
}

/*
 * Send a message in its wire form, in chunks, without holding it whole in
 * memory. The "+OK" goes out only once the file is open, so a vanished
 * message gets "-ERR" rather than a truncated body.
 */
static void send_message(struct pop3 *p, struct maildir_msg *m, long top)
{
	struct maildir_wire wire;
	char chunk[65536];
	ssize_t n;
	int fd = maildir_msg_open(p->maildir, m);

	if (fd < 0) {
		log_error("retr msg=%s result=error reason=\"%s\"", log_q(m->name),
		    strerror(errno));
		reply(p, POP3_ERR_READ);
		return;
	}
	if (top < 0)
		reply(p, POP3_RETR, m->size);
	else
		reply(p, POP3_TOP);
	maildir_wire_init(&wire, top);
	while (!wire.done && (n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* Mid-message: the only honest thing left is to hang up. */
			log_error("retr msg=%s result=error reason=\"%s\"",
			    log_q(m->name), strerror(errno));
			p->quit = 1;
			close(fd);
			return;
		}
		maildir_wire_encode(&wire, chunk, (size_t)n, &p->st.wbuf);
		if (stream_pending_output(&p->st) >= sizeof chunk) {
			p->bytes_sent += stream_pending_output(&p->st);
			if (stream_flush(&p->st) != STREAM_OK) {
				p->quit = 1;
				close(fd);
				return;
			}
		}
	}
	close(fd);
	maildir_wire_finish(&wire, &p->st.wbuf);
	stream_write(&p->st, ".\r\n", 3);
	p->bytes_sent += stream_pending_output(&p->st);
}

static void cmd_retr(struct pop3 *p, char *arg)
{
	struct maildir_msg *m;
	size_t n;

	if ((m = msg_arg(p, arg, &n)) == NULL)
		return;
	send_message(p, m, -1);
	p->retrieved++;
}

static void cmd_top(struct pop3 *p, char *arg)
{
	struct maildir_msg *m;
	char *lines, *end;
	unsigned long l;
	size_t n;

	lines = arg ? strchr(arg, ' ') : NULL;
	if (lines == NULL || !isdigit((unsigned char)lines[1])) {
		reply(p, POP3_ERR_SYNTAX);
		return;
	}
	*lines++ = '\0';
	errno = 0;
	l = strtoul(lines, &end, 10);
	if (errno || *end != '\0' || l > LONG_MAX) {
		reply(p, POP3_ERR_SYNTAX);
		return;
	}
	if ((m = msg_arg(p, arg, &n)) == NULL)
		return;
	send_message(p, m, (long)l);
}

static void cmd_dele(struct pop3 *p, char *arg)
{
	struct maildir_msg *m;
	size_t n;

	if ((m = msg_arg(p, arg, &n)) == NULL)
		return;
	m->deleted = 1;
	reply(p, POP3_DELE, n);
}

static void cmd_rset(struct pop3 *p, char *arg)
{
	size_t i;

	(void)arg;
	for (i = 0; i < p->msgs.n; i++)
		p->msgs.v[i].deleted = 0;
	reply(p, POP3_RSET, p->msgs.n);
}

#define AUTH POP3_AUTHORIZATION
#define TRANS POP3_TRANSACTION

static const struct pop3_command pop3_commands[] = {
	{ "USER", AUTH, cmd_user },
	{ "PASS", AUTH, cmd_pass },
	{ "AUTH", AUTH, cmd_auth },
	{ "STLS", AUTH, cmd_stls },
	{ "CAPA", AUTH | TRANS, cmd_capa },
	{ "QUIT", AUTH | TRANS, cmd_quit },
	{ "NOOP", TRANS, cmd_noop },
	{ "STAT", TRANS, cmd_stat },
	{ "LIST", TRANS, cmd_list },
	{ "UIDL", TRANS, cmd_uidl },
	{ "RETR", TRANS, cmd_retr },
	{ "TOP", TRANS, cmd_top },
	{ "DELE", TRANS, cmd_dele },
	{ "RSET", TRANS, cmd_rset },
};

/* Split "VERB arg" and run it through the table. */
static void dispatch(struct pop3 *p, char *line, size_t len)
{
	const struct pop3_command *c;
	char *arg;
	size_t i;

	if (memchr(line, '\0', len) != NULL) {
		bad_command(p, POP3_ERR_NUL);
		return;
	}
	arg = strchr(line, ' ');
	if (arg != NULL) {
		*arg++ = '\0';
		if (*arg == '\0')
			arg = NULL;
	}
	for (i = 0; i < sizeof pop3_commands / sizeof pop3_commands[0]; i++) {
		c = &pop3_commands[i];
		if (strcasecmp(line, c->name) != 0)
			continue;
		if (!(c->states & (int)p->state)) {
			bad_command(p, POP3_ERR_STATE);
			return;
		}
		c->handler(p, arg);
		return;
	}
	{
		char q[LOG_QUOTE_MAX];

		log_info("command unknown verb=%s", log_quote(line, strlen(line), q, sizeof q));
	}
	bad_command(p, POP3_ERR_UNKNOWN);
}

int pop3_session_run(const struct session_ctx *ctx)
{
	struct pop3 p;
	char line[POP3_LINE_MAX];
	size_t len;
	int r;

	memset(&p, 0, sizeof p);
	p.ctx = ctx;
	p.conf = ctx->conf;
	p.state = POP3_AUTHORIZATION;
	p.lock_fd = -1;
	stream_init(&p.st, ctx->fd, (int)p.conf->limits.command_timeout);
	stream_set_deadline(&p.st, p.conf->limits.session_timeout);
	if (ctx->service == SERVICE_POP3S) {
		/* Implicit TLS (RFC 8314 §3.3): the handshake comes first. */
		if (ctx->tls == NULL || stream_start_tls(&p.st, ctx->tls) != STREAM_OK) {
			log_info("close reason=tls-handshake-failed");
			log_info("disconnect");
			stream_free(&p.st);
			return 0;
		}
		log_info("tls version=%s cipher=%s", stream_tls_version(&p.st),
		    stream_tls_cipher(&p.st));
	}
	reply(&p, POP3_GREETING, p.conf->hostname);
	while (!p.quit) {
		/* RFC 2449 §6.6: answer a pipelined batch in one write. */
		if (!stream_input_pending(&p.st) && stream_flush(&p.st) != STREAM_OK)
			break;
		r = stream_read_line(&p.st, line, sizeof line, &len, NULL);
		if (r == STREAM_TOOLONG) {
			log_info("command result=too-long");
			bad_command(&p, POP3_ERR_TOOLONG);
			continue;
		}
		if (r == STREAM_TIMEOUT && stream_expired(&p.st)) {
			/* limits.session_timeout: however busy the client kept it. */
			log_info("close reason=session-timeout service=%s",
			    conf_service_name(ctx->service));
			stats_closed(STAT_CLOSE_SESSION_TIMEOUT);
			reply(&p, POP3_ERR_SESSION_TIMEOUT);
			break;
		}
		if (r == STREAM_TIMEOUT) {
			log_info("close reason=timeout");
			stats_closed(STAT_CLOSE_TIMEOUT);
			reply(&p, POP3_ERR_TIMEOUT);
			break;
		}
		if (r != STREAM_OK) {
			log_info("close reason=%s", r == STREAM_EOF ? "disconnect" : "error");
			break;
		}
		if (shared_lock_renew(&p) != 0) {
			/* Another session took the mailbox: leave it untouched. */
			reply(&p, POP3_ERR_IN_USE);
			break;
		}
		dispatch(&p, line, len);
		/* A PASS or AUTH line carries a password: gone before the next. */
		explicit_bzero(line, len);
	}
	(void)stream_flush(&p.st);
	if (p.lock_fd >= 0) {
		/* Dropped without QUIT: nothing is deleted (RFC 1939 §6). */
		log_info("logout user=%s retrieved=%u deleted=0 reason=no-quit",
		    log_q(p.user), p.retrieved);
		shared_lock_release(&p);
		maildir_unlock(p.lock_fd);
	}
	state_free(p.shared);
	maildir_list_free(&p.msgs);
	stream_free(&p.st);
	/* The last line of every session, as in SMTP. */
	log_info("disconnect");
	return 0;
}
