/*
 * ispmailctl.c: the administrator's tool (ispmailctl(8)): users (the users file
 * and their Maildirs), the POP-before-SMTP relay table, the queue.
 * Exit 0 on success, 1 with a one-line reason on stderr.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "dkim_keys.h"
#include "greylist_admin.h"
#include "queue_admin.h"
#include "relay_admin.h"
#include "ratelimits.h"
#include "log.h"
#include "mailbox.h"
#include "maildir.h"
#include "net.h"
#include "queue.h"
#include "status.h"
#include "relaydb.h"
#include "user_forward.h"
#include "user_vacation.h"
#include "state.h"
#include "users.h"
#include "users_admin.h"
#include "vacation.h"

#define CTL_PASSWORD_MAX ADMIN_PASSWORD_MAX
/* Who made a change, in the log lines of admin/ ("by=ispmailctl"). */
#define CTL_ACTOR "ispmailctl"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The one way out on failure: "ispmailctl: reason" and exit status 1. */
static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("ispmailctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/*
 * Text from outside (command line, users file, queue envelopes, remote
 * replies) on the admin's terminal: quoted when it is not a plain token,
 * never a raw control byte (log_quote, as in the log).
 */
static const char *q(const char *s)
{
	return log_q(s);
}

/*
 * A remote reply from an envelope: the daemon stored it escaped already
 * (smtp_client_clean_text), so it prints as it is; a byte that is not
 * printable (an envelope edited by hand) prints as '?', in place.
 */
static const char *printable(char *s)
{
	char *p;

	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	return s;
}

/* ---- privileges ---- */

/* The configuration's user and group as ids; a missing one is an error. */
static int owner_lookup(const struct conf *c, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;
	struct group *gr;

	errno = 0;
	if ((pw = getpwnam(c->user)) == NULL) {
		fail("user %s (from %s) does not exist%s%s", c->user, c->path,
		    errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	errno = 0;
	if ((gr = getgrnam(c->group)) == NULL) {
		fail("group %s (from %s) does not exist%s%s", c->group, c->path,
		    errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = gr->gr_gid;
	return 0;
}

/*
 * As root, become the daemon's user before touching state_dir, so that
 * the relay DB environment and the queue stay owned by it. Not root: as is.
 */
static int privileges_drop(const struct conf *c)
{
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return 0;
	if (owner_lookup(c, &uid, &gid) == -1)
		return -1;
	if (initgroups(c->user, gid) == -1 || setgid(gid) == -1 || setuid(uid) == -1) {
		fail("cannot become %s:%s: %s", c->user, c->group, strerror(errno));
		return -1;
	}
	if (uid != 0 && setuid(0) != -1) {
		fail("could not drop root privileges");
		return -1;
	}
	return 0;
}

/* ---- users ---- */

/*
 * One line from stdin (CR/LF stripped), without echo on a terminal.
 * 0, or -1 after saying why (empty, too long, NUL byte).
 */
static int password_read(char *pw, size_t size)
{
	struct termios old, quiet;
	int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	size_t len = 0;
	int r;

	if (tty) {
		fputs("Password: ", stderr);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	r = users_read_line(stdin, pw, size, &len);
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (r == -1) {
		fail("cannot read the password: %s", strerror(errno));
		return -1;
	}
	if (r == -2) {
		fail("password longer than %zu bytes", size - 1);
		return -1;
	}
	if (r == 0 || len == 0) {
		fail("empty password (give it on stdin)");
		return -1;
	}
	if (strlen(pw) != len) {
		fail("password contains a NUL byte");
		return -1;
	}
	return 0;
}

/* ADDRESS as typed -> the stored form ("bob" means bob@<first domain>). */
static int address_arg(const struct conf *c, const char *arg, char *addr, size_t len)
{
	char err[512];

	if (admin_user_address(c, arg, addr, len, err, sizeof err) == -1) {
		fail("%s", err);
		return -1;
	}
	return 0;
}

/* The checks that need no password come before reading it (admin/users_admin.c does the rest). */
static int user_add(const struct conf *c, const char *arg)
{
	char addr[USERS_ADDRESS_MAX], maildir[PATH_MAX], pw[CTL_PASSWORD_MAX + 1], err[1024];
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	int r;

	if (address_arg(c, arg, addr, sizeof addr) == -1)
		return 1;
	if (admin_user_check(c, addr, maildir, sizeof maildir, err, sizeof err) == -1)
		return fail("%s", err);
	if (geteuid() == 0 && owner_lookup(c, &uid, &gid) == -1)
		return 1;
	if (password_read(pw, sizeof pw) == -1) {
		explicit_bzero(pw, sizeof pw);
		return 1;
	}
	r = admin_user_add(c, addr, pw, &admin_password_tool, uid, gid, CTL_ACTOR,
	    err, sizeof err);
	explicit_bzero(pw, sizeof pw);
	if (r == -1)
		return fail("%s", err);
	printf("user %s added, Maildir %s\n", addr, maildir);
	return 0;
}

static int user_passwd(const struct conf *c, const char *arg)
{
	char addr[USERS_ADDRESS_MAX], pw[CTL_PASSWORD_MAX + 1], err[1024];
	int r;

	if (address_arg(c, arg, addr, sizeof addr) == -1)
		return 1;
	if (password_read(pw, sizeof pw) == -1) {
		explicit_bzero(pw, sizeof pw);
		return 1;
	}
	r = admin_user_password_set(c, addr, pw, &admin_password_tool, CTL_ACTOR,
	    err, sizeof err);
	explicit_bzero(pw, sizeof pw);
	if (r == -1)
		return fail("%s", err);
	printf("password of %s changed\n", addr);
	return 0;
}

static int user_del(const struct conf *c, const char *arg)
{
	char addr[USERS_ADDRESS_MAX], maildir[PATH_MAX], err[1024];

	if (address_arg(c, arg, addr, sizeof addr) == -1)
		return 1;
	if (admin_user_delete(c, addr, CTL_ACTOR, err, sizeof err) == -1)
		return fail("%s", err);
	if (maildir_path_for(c->maildir_root, addr, maildir, sizeof maildir) == 0)
		printf("user %s deleted; its Maildir %s is left in place\n", addr, maildir);
	else
		printf("user %s deleted; its Maildir is left in place\n", addr);
	return 0;
}

/*
 * "ADDRESS USED/QUOTA (PCT%)", "ADDRESS USED/none", "-" for a Maildir not
 * read; then " forward=A,B keep=yes|no" for a user who forwards.
 */
static void user_list_one(const struct admin_user *e)
{
	const struct admin_usage *use = &e->use;
	struct user_options o;
	char used[32] = "-", quota[32] = "none";
	unsigned long long bytes = use->bytes > 0 ? (unsigned long long)use->bytes : 0;

	if (use->known)
		admin_size_format(bytes, used, sizeof used);
	if (use->has_quota)
		admin_size_format(use->quota, quota, sizeof quota);
	printf("%s %s/%s", q(e->address), used, quota);
	if (use->known && use->has_quota)
		printf(" (%llu%%)", bytes * 100 / use->quota);
	(void)users_options_parse(e->options, &o, NULL, 0);
	if (o.forward[0] != '\0') {
		for (char *p = o.forward; *p; p++)
			if (*p == ' ')
				*p = ',';
		printf(" forward=%s keep=%s", q(o.forward), o.keep ? "yes" : "no");
	}
	printf("\n");
}

static int user_list(const struct conf *c, const char *arg)
{
	struct admin_user *v;
	size_t n;
	char err[1024];

	(void)arg;
	if (admin_user_list(c, &v, &n, err, sizeof err) == -1)
		return fail("%s", err);
	for (size_t i = 0; i < n; i++)
		user_list_one(&v[i]);
	admin_user_list_free(v, n);
	return 0;
}

static int user_quota(const struct conf *c, int argc, char **argv)
{
	char addr[USERS_ADDRESS_MAX], err[512];

	if (argc != 2)
		return fail("usage: ispmailctl user quota ADDRESS SIZE|none");
	if (address_arg(c, argv[0], addr, sizeof addr) == -1)
		return 1;
	if (admin_user_quota_set(c, addr, argv[1], CTL_ACTOR, err, sizeof err) == -1)
		return fail("%s", err);
	if (strcmp(argv[1], "none") == 0)
		printf("quota of %s removed\n", addr);
	else
		printf("quota of %s set to %s\n", addr, argv[1]);
	return 0;
}

/*
 * user forward ADDRESS DEST...|none [--keep yes|no] (SPEC 12): the
 * operation is admin_user_forward_set, the web's too.
 */
static int user_forward(const struct conf *c, int argc, char **argv)
{
	char addr[USERS_ADDRESS_MAX], err[512];
	const char **dests;
	size_t ndest = 0;
	int keep = ADMIN_KEEP_UNCHANGED, rc = 1, none = 0;

	if (argc < 2 || argv[0][0] == '-')
		return fail("usage: ispmailctl user forward ADDRESS DEST...|none [--keep yes|no]");
	if (address_arg(c, argv[0], addr, sizeof addr) == -1)
		return 1;
	dests = xcalloc((size_t)argc, sizeof *dests);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--keep") == 0) {
			if (i + 1 >= argc || (strcmp(argv[i + 1], "yes") != 0 &&
			    strcmp(argv[i + 1], "no") != 0)) {
				fail("--keep needs yes or no");
				goto out;
			}
			keep = strcmp(argv[++i], "yes") == 0;
		} else if (argv[i][0] == '-') {
			fail("unknown option %s (use --keep)", q(argv[i]));
			goto out;
		} else if (strcmp(argv[i], "none") == 0) {
			none = 1;
		} else {
			dests[ndest++] = argv[i];
		}
	}
	if (none == (ndest > 0)) {
		fail("give destinations or none, not both");
		goto out;
	}
	if (admin_user_forward_set(c, addr, dests, ndest, keep, CTL_ACTOR, err,
	    sizeof err) != 0) {
		fail("%s", err);
		goto out;
	}
	if (none) {
		printf("forward of %s removed\n", addr);
	} else {
		printf("forward of %s set to", addr);
		for (size_t i = 0; i < ndest; i++)
			printf(" %s", q(dests[i]));
		printf("%s\n", keep == ADMIN_KEEP_UNCHANGED ? "" : keep ? " (keep=yes)" :
		    " (keep=no)");
	}
	rc = 0;
out:
	free(dests);
	return rc;
}

/* Read all of stdin, at most max bytes; 0, or -1 after saying why. */
static int stdin_read(struct buf *b, size_t max)
{
	char chunk[8192];
	ssize_t n;

	while ((n = read(STDIN_FILENO, chunk, sizeof chunk)) > 0) {
		buf_append(b, chunk, (size_t)n);
		if (b->len > max)
			return fail("the message on stdin is longer than %zu bytes", max);
	}
	if (n < 0)
		return fail("stdin: %s", strerror(errno));
	return 0;
}

static int user_vacation(const struct conf *c, int argc, char **argv)
{
	char addr[USERS_ADDRESS_MAX], err[512];
	struct buf msg = BUF_INIT;
	int on, rc;

	if (argc != 2 || (strcmp(argv[1], "on") != 0 && strcmp(argv[1], "off") != 0))
		return fail("usage: ispmailctl user vacation ADDRESS on|off "
		    "(on: the message from stdin)");
	if (address_arg(c, argv[0], addr, sizeof addr) == -1)
		return 1;
	on = strcmp(argv[1], "on") == 0;
	if (on && stdin_read(&msg, VACATION_MSG_MAX) != 0) {
		buf_free(&msg);
		return 1;
	}
	rc = admin_user_vacation_set(c, addr, on, msg.s ? msg.s : "", msg.len, CTL_ACTOR, err,
	    sizeof err);
	buf_free(&msg);
	if (rc != 0)
		return fail("%s", err);
	printf("vacation of %s %s\n", addr, on ? "on" : "off");
	return 0;
}

/* ---- the relay table ---- */

/* The shared state (state.h) of the configured backend, after the drop of root. */
static struct state *relay_state(const struct conf *c)
{
	struct state *st;

	if (privileges_drop(c) == -1)
		return NULL;
	if ((st = state_new(c)) == NULL)
		fail("out of memory");
	return st;
}

/* "address authorized-at expires-in user", authorized-at in ISO 8601 UTC. */
static int relay_list_one(const struct admin_relay *r, void *arg)
{
	char at[32];
	struct tm tm;

	(void)arg;
	if (gmtime_r(&r->authorized, &tm) == NULL ||
	    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)str_copy(at, sizeof at, "?");
	printf("%s %s %lld %s\n", q(r->key), at, r->expires_in, *r->user ? q(r->user) : "-");
	return 0;
}

static int relay_list(const struct conf *c, const char *arg)
{
	char err[1024];
	struct state *st;
	int r;

	(void)arg;
	if ((st = relay_state(c)) == NULL)
		return 1;
	r = admin_relay_list(st, c, time(NULL), relay_list_one, NULL, err, sizeof err);
	if (r == -1)
		fail("%s", err);
	state_free(st);
	return r == -1;
}

/* The address is checked before the DB is opened (and privileges dropped). */
static int relay_add(const struct conf *c, const char *arg)
{
	char key[NET_ADDR_MAX], err[1024];
	struct state *st;
	int r;

	if (admin_relay_key(c, arg, key, sizeof key, err, sizeof err) == -1)
		return fail("%s", err);
	if ((st = relay_state(c)) == NULL)
		return 1;
	r = admin_relay_add(st, c, key, time(NULL), CTL_ACTOR, err, sizeof err);
	if (r == -1)
		fail("%s", err);
	else
		printf("relay %s authorized for %ld seconds\n", key, c->relay.authorization_ttl);
	state_free(st);
	return r == -1;
}

static int relay_del(const struct conf *c, const char *arg)
{
	char key[NET_ADDR_MAX], err[1024];
	struct state *st;
	int r;

	if (admin_relay_key(c, arg, key, sizeof key, err, sizeof err) == -1)
		return fail("%s", err);
	if ((st = relay_state(c)) == NULL)
		return 1;
	r = admin_relay_delete(st, c, key, CTL_ACTOR, err, sizeof err);
	if (r == -1)
		fail("%s", err);
	else
		printf("relay %s deleted\n", key);
	state_free(st);
	return r == -1;
}

static int relay_expire(const struct conf *c, const char *arg)
{
	char err[1024];
	struct state *st;
	long n;
	int r;

	(void)arg;
	if ((st = relay_state(c)) == NULL)
		return 1;
	r = admin_relay_expire(st, c, time(NULL), CTL_ACTOR, &n, err, sizeof err);
	if (n != -1)
		printf("relay: %ld expired %s removed\n", n, n == 1 ? "entry" : "entries");
	if (r == -1)
		fail("%s", err);
	state_free(st);
	return r == -1;
}

/* ---- the outbound sending limits ---- */

/* "user|address NAME COUNT LIMIT", LIMIT "-" when that limit is off. */
static int ratelimit_list_one(const struct admin_rate *r, void *arg)
{
	(void)arg;
	if (r->limit > 0)
		printf("%s %s %ld %ld\n", r->kind, q(r->name), r->count, r->limit);
	else
		printf("%s %s %ld -\n", r->kind, q(r->name), r->count);
	return 0;
}

static int ratelimit_list(const struct conf *c, const char *arg)
{
	struct state *st;
	int r;

	(void)arg;
	if ((st = relay_state(c)) == NULL)
		return 1;
	r = admin_ratelimit_list(st, c, time(NULL), ratelimit_list_one, NULL);
	if (r == -1)
		fail("ratelimit list: %s", state_strerror(st));
	state_free(st);
	return r == -1;
}

static int ratelimit_reset(const struct conf *c, const char *arg)
{
	char err[512];
	struct state *st;
	int r;

	if ((st = relay_state(c)) == NULL)
		return 1;
	r = admin_ratelimit_reset(st, c, arg, err, sizeof err);
	if (r == -1)
		fail("ratelimit reset %s: %s", q(arg), err);
	else if (r == 0)
		fail("no rate counter for %s", q(arg));
	else
		printf("ratelimit %s reset\n", q(arg));
	state_free(st);
	return r != 1;
}

/* ---- the greylist table (in the relay DB's environment) ---- */

static int greylist_list_one(const struct greylist_entry *e, void *arg)
{
	struct buf b = BUF_INIT;

	(void)arg;
	buf_appends(&b, "");
	admin_greylist_line(e, &b);
	printf("%s\n", b.s);
	buf_free(&b);
	return 0;
}

/* greylist list: NET <SENDER> <RECIPIENT> FIRST LAST PASSES, a network's own as NET * *. */
static int greylist_list(const struct conf *c, const char *arg)
{
	struct state *st;
	int r;

	(void)arg;
	if ((st = relay_state(c)) == NULL)
		return 1;
	r = greylist_foreach_state(st, greylist_list_one, NULL);
	if (r == -1)
		fail("greylist list: %s", state_strerror(st));
	state_free(st);
	return r == -1;
}

/* greylist del ADDRESS [SENDER RECIPIENT] */
static int greylist_del(const struct conf *c, int argc, char **argv)
{
	char err[512];
	struct state *st;
	long n;

	if (argc != 1 && argc != 3)
		return fail("usage: ispmailctl greylist del ADDRESS [SENDER RECIPIENT]");
	if ((st = relay_state(c)) == NULL)
		return 1;
	n = admin_greylist_del(st, c, argv[0], argc == 3 ? argv[1] : NULL,
	    argc == 3 ? argv[2] : NULL, err, sizeof err);
	state_free(st);
	if (n < 0)
		return fail("greylist del: %s", err);
	if (n == 0)
		return fail("no greylist entry for %s%s", q(argv[0]),
		    argc == 3 ? " with that sender and recipient" : "");
	printf("greylist: %ld %s removed\n", n, n == 1 ? "entry" : "entries");
	return 0;
}

static int greylist_flush(const struct conf *c, const char *arg)
{
	char err[512];
	struct state *st;
	long n;

	(void)arg;
	if ((st = relay_state(c)) == NULL)
		return 1;
	n = admin_greylist_flush(st, err, sizeof err);
	state_free(st);
	if (n < 0)
		return fail("greylist flush: %s", err);
	printf("greylist: %ld %s removed\n", n, n == 1 ? "entry" : "entries");
	return 0;
}

static int greylist_expire(const struct conf *c, const char *arg)
{
	char err[512];
	struct state *st;
	long n;

	(void)arg;
	if ((st = relay_state(c)) == NULL)
		return 1;
	n = admin_greylist_expire(st, c, time(NULL), err, sizeof err);
	state_free(st);
	if (n < 0)
		return fail("greylist expire: %s", err);
	printf("greylist: %ld expired %s removed\n", n, n == 1 ? "entry" : "entries");
	return 0;
}

/* ---- the queue ---- */

struct queue_list_ctx {
	time_t now;
};

/*
 * One line per message: id, age in seconds, size, <sender>, the word
 * "held" for a quarantined message (queue release), then each
 * recipient as address=state (and the last remote reply, when there is one,
 * on an indented line below).
 */
static int queue_list_one(struct queue_env *env, void *arg)
{
	const struct queue_list_ctx *ctx = arg;
	size_t j;

	printf("%s %llds %zu %s%s", q(env->id), (long long)(ctx->now - env->arrival),
	    env->size, log_qaddr(env->sender), env->held ? " held" : "");
	for (j = 0; j < env->nrcpt; j++)
		printf(" %s=%s", q(env->rcpt[j].address),
		    admin_queue_state_name(env->rcpt[j].state));
	printf("\n");
	for (j = 0; j < env->nrcpt; j++)
		if (env->rcpt[j].last_reply[0])
			printf("    %s: %s\n", q(env->rcpt[j].address),
			    printable(env->rcpt[j].last_reply));
	return 0;
}

static int queue_list(const struct conf *c, const char *arg)
{
	struct queue_list_ctx ctx = { time(NULL) };
	char err[1024];
	long n;

	(void)arg;
	if (privileges_drop(c) == -1)
		return 1;
	if ((n = admin_queue_list(c, queue_list_one, &ctx, err, sizeof err)) == -1)
		return fail("%s", err);
	if (n == 0)
		printf("queue: empty\n");
	return 0;
}

static int queue_flush(const struct conf *c, const char *arg)
{
	char err[1024];
	size_t n;
	int runner;

	(void)arg;
	if (privileges_drop(c) == -1)
		return 1;
	if (admin_queue_flush(c, CTL_ACTOR, &runner, &n, err, sizeof err) == -1)
		return fail("%s", err);
	if (runner)
		printf("queue: flush requested\n");
	else
		printf("queue: no runner is listening; %zu %s due at its next start\n",
		    n, n == 1 ? "message" : "messages");
	return 0;
}

static int queue_del(const struct conf *c, const char *id)
{
	char err[1024];

	if (privileges_drop(c) == -1)
		return 1;
	if (admin_queue_delete(c, id, CTL_ACTOR, err, sizeof err) == -1)
		return fail("%s", err);
	printf("queue: %s removed\n", id);
	return 0;
}

/* A quarantined message goes on to its recipients. */
static int queue_release(const struct conf *c, const char *id)
{
	char err[1024];

	if (privileges_drop(c) == -1)
		return 1;
	if (admin_queue_release(c, id, CTL_ACTOR, err, sizeof err) == -1)
		return fail("%s", err);
	printf("queue: %s released\n", id);
	return 0;
}

/* ---- status and what to publish ---- */

static int status_show(const struct conf *c, const char *arg)
{
	struct status st;
	struct buf out = BUF_INIT;

	(void)arg;
	if (privileges_drop(c) == -1)
		return 1;
	status_collect(c, 1, &st);
	status_text(&st, &out);
	fputs(out.s, stdout);
	buf_free(&out);
	return 0;
}

/* The first listener of a service, or NULL. */
static const struct listen_conf *listener(const struct conf *c, enum service svc)
{
	size_t i;

	for (i = 0; i < c->nlisten; i++)
		if (c->listen[i].service == svc)
			return &c->listen[i];
	return NULL;
}

/* A domain as typed by the admin must be one of ours. */
static int local_domain_arg(const struct conf *c, const char *domain)
{
	if (!conf_is_local_domain(c, domain, strlen(domain)))
		return fail("%s is not one of the configured domains", q(domain));
	return 0;
}

/*
 * The records to publish (RFC 5321 MX, RFC 6186 and RFC 8314 SRV, SPF):
 * a service not offered gets the "." target that says so (RFC 6186 §3.4).
 */
/* The DKIM records of one domain, for dns DOMAIN; 1 when a key was bad. */
static int dns_dkim_show(const struct conf *c, const char *domain)
{
	struct dkim_key *keys;
	size_t n;
	char err[512];
	int r = dkim_key_list(c->dkim.keys_dir, domain, &keys, &n, err, sizeof err);

	if (r < 0) {
		fail("dkim keys of %s: %s", domain, err);
		return 1;
	}
	if (r > 0)
		fail("dkim keys of %s: %s", domain, err);
	for (size_t i = 0; i < n; i++) {
		struct buf record = BUF_INIT;

		if (dkim_key_dns(&keys[i], &record, NULL, err, sizeof err) != 0) {
			fail("%s: %s", keys[i].path, err);
			r = 1;
		} else {
			printf("%s\n", record.s);
		}
		buf_free(&record);
	}
	if (n == 0)
		printf("; no DKIM key: ispmailctl dkim keygen %s\n", domain);
	dkim_keys_free(keys, n);
	return r != 0;
}

static int dns_show(const struct conf *c, const char *domain)
{
	static const struct { const char *name; enum service svc; } srv[] = {
		{ "_submissions._tcp", SERVICE_SMTPS },
		{ "_submission._tcp", SERVICE_SUBMISSION },
		{ "_pop3s._tcp", SERVICE_POP3S },
		{ "_pop3._tcp", SERVICE_POP3 },
	};
	size_t i;
	int rc;

	if (local_domain_arg(c, domain) != 0)
		return 1;
	printf("; DNS records for %s, to publish in its zone\n", domain);
	printf("%s.\t3600\tIN\tMX\t10 %s.\n", domain, c->hostname);
	for (i = 0; i < sizeof srv / sizeof srv[0]; i++) {
		const struct listen_conf *l = listener(c, srv[i].svc);

		if (l != NULL)
			printf("%s.%s.\t3600\tIN\tSRV\t0 1 %d %s.\n", srv[i].name,
			    domain, l->port, c->hostname);
		else
			printf("%s.%s.\t3600\tIN\tSRV\t0 0 0 .\n", srv[i].name, domain);
	}
	printf("%s.\t3600\tIN\tTXT\t\"v=spf1 mx a:%s -all\"\n", domain, c->hostname);
	rc = dns_dkim_show(c, domain);
	printf("_dmarc.%s.\t3600\tIN\tTXT\t\"v=DMARC1; p=none; rua=mailto:postmaster@%s\"\n",
	    domain, domain);
	printf("; and a PTR record for the address of %s that names %s\n",
	    c->hostname, c->hostname);
	return rc;
}

/* Thunderbird's autoconfig (config-v1.1.xml) from the listeners. */
static int autoconfig_show(const struct conf *c, const char *domain)
{
	static const struct { enum service svc; const char *type, *socket; } in[] = {
		{ SERVICE_POP3S, "pop3", "SSL" },
		{ SERVICE_POP3, "pop3", "STARTTLS" },
	}, out[] = {
		{ SERVICE_SMTPS, "smtp", "SSL" },
		{ SERVICE_SUBMISSION, "smtp", "STARTTLS" },
	};
	size_t i;

	if (local_domain_arg(c, domain) != 0)
		return 1;
	printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<clientConfig version=\"1.1\">\n"
	    "  <emailProvider id=\"%s\">\n"
	    "    <domain>%s</domain>\n"
	    "    <displayName>%s mail</displayName>\n", domain, domain, domain);
	for (i = 0; i < sizeof in / sizeof in[0]; i++) {
		const struct listen_conf *l = listener(c, in[i].svc);

		if (l == NULL || (!c->tls.enabled && in[i].svc == SERVICE_POP3))
			continue;
		printf("    <incomingServer type=\"%s\">\n"
		    "      <hostname>%s</hostname>\n"
		    "      <port>%d</port>\n"
		    "      <socketType>%s</socketType>\n"
		    "      <authentication>password-cleartext</authentication>\n"
		    "      <username>%%EMAILADDRESS%%</username>\n"
		    "    </incomingServer>\n", in[i].type, c->hostname, l->port,
		    in[i].socket);
	}
	for (i = 0; i < sizeof out / sizeof out[0]; i++) {
		const struct listen_conf *l = listener(c, out[i].svc);

		if (l == NULL || !c->tls.enabled)
			continue;
		printf("    <outgoingServer type=\"%s\">\n"
		    "      <hostname>%s</hostname>\n"
		    "      <port>%d</port>\n"
		    "      <socketType>%s</socketType>\n"
		    "      <authentication>password-cleartext</authentication>\n"
		    "      <username>%%EMAILADDRESS%%</username>\n"
		    "    </outgoingServer>\n", out[i].type, c->hostname, l->port,
		    out[i].socket);
	}
	printf("  </emailProvider>\n</clientConfig>\n");
	return 0;
}

/* ---- DKIM keys ---- */

/* dkim keygen DOMAIN [--selector S] [--algorithm rsa|ed25519] */
static int dkim_keygen(const struct conf *c, int argc, char **argv)
{
	const char *selector = NULL;
	enum dkim_alg alg = DKIM_ALG_RSA;
	struct buf record = BUF_INIT;
	char err[512];
	uid_t uid;
	gid_t gid = (gid_t)-1;
	int i;

	if (argc < 1 || argv[0][0] == '-')
		return fail("usage: ispmailctl dkim keygen DOMAIN [--selector S] "
		    "[--algorithm rsa|ed25519]");
	for (i = 1; i < argc; i += 2) {
		if (i + 1 >= argc)
			return fail("option %s needs a value", q(argv[i]));
		if (strcmp(argv[i], "--selector") == 0)
			selector = argv[i + 1];
		else if (strcmp(argv[i], "--algorithm") == 0 && strcmp(argv[i + 1], "rsa") == 0)
			alg = DKIM_ALG_RSA;
		else if (strcmp(argv[i], "--algorithm") == 0 && strcmp(argv[i + 1], "ed25519") == 0)
			alg = DKIM_ALG_ED25519;
		else if (strcmp(argv[i], "--algorithm") == 0)
			return fail("algorithm \"%s\": use rsa or ed25519", q(argv[i + 1]));
		else
			return fail("unknown option %s (use --selector or --algorithm)", q(argv[i]));
	}
	if (geteuid() == 0 && owner_lookup(c, &uid, &gid) == -1)
		return 1;
	if (admin_dkim_keygen(c, argv[0], selector, alg, gid, &record, err, sizeof err) != 0)
		return fail("dkim keygen %s: %s", q(argv[0]), err);
	printf("%s\n", record.s);
	buf_free(&record);
	return 0;
}

static int dkim_list_one(const struct dkim_key *k, void *arg)
{
	(void)arg;
	printf("%s\t%s\t%s\t%s\n", k->domain, k->selector, dkim_alg_name(k->alg), k->path);
	return 0;
}

/* dkim list: domain, selector, algorithm, key file; a bad key fails the command. */
static int dkim_list(const struct conf *c, const char *arg)
{
	char err[512];
	int r;

	(void)arg;
	if ((r = admin_dkim_list(c, dkim_list_one, NULL, err, sizeof err)) < 0)
		return fail("dkim list: %s", err);
	if (r > 0)
		return fail("dkim list: %d key file%s could not be loaded; the last: %s", r,
		    r == 1 ? "" : "s", err);
	return 0;
}

/* ---- the command table ---- */

struct command {
	const char *noun;
	const char *verb;
	const char *operand;	/* NULL: none */
	int (*run)(const struct conf *c, const char *operand);
	const char *help;
	/* instead of run, for commands with options: the words after the verb */
	int (*run_args)(const struct conf *c, int argc, char **argv);
};

static const struct command commands[] = {
	{ "user", "add", "ADDRESS", user_add, "password from stdin; creates the Maildir", NULL },
	{ "user", "passwd", "ADDRESS", user_passwd, "password from stdin", NULL },
	{ "user", "del", "ADDRESS", user_del, "the Maildir is left in place", NULL },
	{ "user", "list", NULL, user_list,
	    "address, used/quota (percent), forward, one per line", NULL },
	{ "user", "quota", "ADDRESS SIZE|none", NULL, "set (K, M, G) or remove a quota",
	    user_quota },
	{ "user", "forward", "ADDRESS DEST...|none [--keep yes|no]", NULL,
	    "forward a user's mail (keep: a copy stays, default yes)", user_forward },
	{ "user", "vacation", "ADDRESS on|off", NULL,
	    "vacation reply; on: Subject: line, empty line, text from stdin", user_vacation },
	{ "relay", "list", NULL, relay_list, "address, authorized at, expires in, user", NULL },
	{ "relay", "add", "ADDRESS", relay_add, "authorize an IP address now", NULL },
	{ "relay", "del", "ADDRESS", relay_del, "withdraw an authorization", NULL },
	{ "relay", "expire", NULL, relay_expire, "remove expired entries", NULL },
	{ "ratelimit", "list", NULL, ratelimit_list, "sending counters: kind, name, count, limit", NULL },
	{ "ratelimit", "reset", "ADDRESS|USER", ratelimit_reset, "lift a sending limit now", NULL },
	{ "queue", "list", NULL, queue_list, "one message per line, queue id first", NULL },
	{ "queue", "flush", NULL, queue_flush, "retry every message now", NULL },
	{ "queue", "del", "ID", queue_del, "remove a message", NULL },
	{ "queue", "release", "ID", queue_release, "deliver a held (quarantined) message", NULL },
	{ "status", NULL, NULL, status_show, "daemon, sessions, queue, counters", NULL },
	{ "dkim", "keygen", "DOMAIN [--selector S] [--algorithm rsa|ed25519]", NULL,
	    "make a signing key, print its DNS record", dkim_keygen },
	{ "dkim", "list", NULL, dkim_list, "domain, selector, algorithm, key file", NULL },
	{ "greylist", "list", NULL, greylist_list,
	    "network, sender, recipient, first seen, last seen, passes", NULL },
	{ "greylist", "del", "ADDRESS [SENDER RECIPIENT]", NULL,
	    "remove one triple, or everything of a client", greylist_del },
	{ "greylist", "flush", NULL, greylist_flush, "remove every entry", NULL },
	{ "greylist", "expire", NULL, greylist_expire, "remove entries unseen for greylist.expire",
	    NULL },
	{ "dns", NULL, "DOMAIN", dns_show, "the MX, SRV, SPF, DKIM and DMARC records to publish", NULL },
	{ "autoconfig", NULL, "DOMAIN", autoconfig_show, "Thunderbird's config-v1.1.xml", NULL },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ispmailctl [-c FILE] COMMAND\n"
	    "       ispmailctl -V\n"
	    "FILE defaults to %s\n"
	    "commands:\n", SYSCONFDIR "/ispmaild.conf");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		const struct command *cmd = &commands[i];
		char words[96];

		(void)str_format(words, sizeof words, "%s%s%s%s%s", cmd->noun,
		    cmd->verb ? " " : "", cmd->verb ? cmd->verb : "",
		    cmd->operand ? " " : "", cmd->operand ? cmd->operand : "");
		if (strlen(words) > 20)
			fprintf(f, "  %s\n  %-20s %s\n", words, "", cmd->help);
		else
			fprintf(f, "  %-20s %s\n", words, cmd->help);
	}
}

/* "noun verb" commands, and single-word ones ("status", "dns DOMAIN"). */
static const struct command *command_find(const char *noun, const char *verb)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(commands[i].noun, noun) != 0)
			continue;
		if (commands[i].verb == NULL ||
		    (verb != NULL && strcmp(commands[i].verb, verb) == 0))
			return &commands[i];
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *path = SYSCONFDIR "/ispmaild.conf";
	const struct command *cmd;
	struct conf conf;
	char err[1024];
	int ch, rc, words;

	umask(027);
	log_open("ispmailctl", 0);
	opterr = 0;
	while ((ch = getopt(argc, argv, "+:c:hV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ispmailctl %s\n", PACKAGE_VERSION);
			return 0;
		case ':':
			return fail("option -%c needs an argument", optopt);
		default:
			return fail("unknown option -%c (ispmailctl -h lists the options)",
			    optopt > ' ' && optopt < 0x7f ? optopt : '?');
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return fail("usage: ispmailctl [-c FILE] NOUN [VERB] [ARG] "
		    "(ispmailctl -h lists them)");
	if ((cmd = command_find(argv[0], argc > 1 ? argv[1] : NULL)) == NULL) {
		fail("unknown command \"%s%s%s\" (ispmailctl -h lists them)", q(argv[0]),
		    argc > 1 ? " " : "", argc > 1 ? q(argv[1]) : "");
		return 1;
	}
	words = cmd->verb ? 2 : 1;
	if (cmd->run_args == NULL && argc - words != (cmd->operand ? 1 : 0))
		return fail("usage: ispmailctl [-c FILE] %s%s%s%s%s", cmd->noun,
		    cmd->verb ? " " : "", cmd->verb ? cmd->verb : "",
		    cmd->operand ? " " : "", cmd->operand ? cmd->operand : "");
	if (conf_load(path, &conf, err, sizeof err) == -1)
		return fail("%s", err);
	if (cmd->run_args != NULL)
		rc = cmd->run_args(&conf, argc - words, argv + words);
	else
		rc = cmd->run(&conf, cmd->operand ? argv[words] : NULL);
	conf_free(&conf);
	if (fflush(stdout) == EOF || ferror(stdout))
		return fail("stdout: %s", strerror(errno));
	return rc;
}
