/*
 * master.c: the master process (ARCHITECTURE.md). It binds every listener,
 * drops privileges when started as root, then only accepts, checks the
 * connection limits and hands each connection to a session process: an
 * idle one when there is one, else a new fork. A session process speaks
 * one protocol to one client at a time, and serves limits.max_use clients
 * in turn before it exits (as Postfix's max_use): the fork, the exit and
 * the page faults between them are most of a short session's cost.
 *
 * Handoff: each session process has a SOCK_SEQPACKET socketpair with the
 * master, which sends it the client's socket (SCM_RIGHTS) and what the
 * master knows of it. After a session the process writes its pid into one
 * pipe shared by all ("done": idle again) and waits for the next socket;
 * the master retires it by closing its end (idle for limits.max_idle, a
 * reload, a stop), and it exits at EOF. Signals reach the loop through a
 * self-pipe: SIGCHLD reaps, SIGHUP reloads, SIGTERM stops gracefully.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "aliases.h"
#include "buf.h"
#include "keyring.h"
#include "log.h"
#include "master.h"
#include "pop3.h"
#include "recipient.h"
#include "runner.h"
#include "session.h"
#include "smtp.h"
#include "stats.h"
#include "tls.h"
#include "web.h"
#include "users.h"
#include "sys.h"

/* ispmaild(8): sessions get this long to finish after SIGTERM. */
#define MASTER_STOP_GRACE_MS 10000
/* session_close: how long, and how much, a closing session drains. */
#define SESSION_LINGER_MS 1000
#define SESSION_LINGER_MAX (1024 * 1024)

struct listener {
	int fd;
	enum service service;
	struct ssl_ctx_st *tls;		/* NULL when the service offers no TLS */
	char address[NET_ADDR_MAX];
	int port;
};

/* A session process. */
struct child {
	pid_t pid;
	int sock;		/* the master's end of the handoff; -1: retired */
	int busy;		/* serving a session now */
	long long idle_since;	/* now_ms() when it last became idle */
	enum service service;	/* of the session it serves */
	struct cidr client;
	int trusted;
};

/* What goes with a client's socket to a session process. */
struct handoff {
	size_t listener;	/* index in M.ls: the service and its TLS context */
	struct session_ctx ctx;	/* conf, tls and fd are set again on arrival */
};

static struct {
	struct conf *conf;
	struct dkim_keyring dkim;	/* loaded at start and at each reload */
	struct srs_secret srs;		/* loaded (made) once at start, before the drop */
	const char *conf_path;
	struct listener *ls;
	size_t nls;
	struct child *kids;		/* every session process, busy or idle */
	size_t nkids, capkids;
	size_t nbusy;			/* of which serving a session */
	int sigpipe[2];
	int donepipe[2];		/* session processes -> master: pid when idle */
	char pidfile[PATH_MAX];
	struct pollfd *pfds;		/* sigpipe, donepipe, then each listener */
	pid_t runner;			/* the queue runner, 0 when not running */
	struct stat tls_files[2];	/* certificate and key when last loaded */
	time_t runner_started;
	volatile sig_atomic_t got_term, got_hup;
} M;

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig == SIGTERM || sig == SIGINT)
		M.got_term = 1;
	else if (sig == SIGHUP)
		M.got_hup = 1;
	(void)write(M.sigpipe[1], &c, 1);
	errno = saved;
}

static void set_cloexec_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl != -1)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Bind one listener; errors are fatal: a daemon without its ports is useless. */
static void listener_open(struct listener *l, const struct listen_conf *lc)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int one = 1;

	memset(&ss, 0, sizeof ss);
	if (strchr(lc->address, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)lc->port);
		if (inet_pton(AF_INET6, lc->address, &s6->sin6_addr) != 1)
			log_fatal("listen address=%s reason=\"not an IPv6 address\"", lc->address);
		sslen = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)lc->port);
		if (inet_pton(AF_INET, lc->address, &s4->sin_addr) != 1)
			log_fatal("listen address=%s reason=\"not an IPv4 address\"", lc->address);
		sslen = sizeof *s4;
	}
	l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->fd < 0)
		log_fatal("listen socket: %s", strerror(errno));
	(void)setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(l->fd, (struct sockaddr *)&ss, sslen) != 0)
		log_fatal("listen service=%s address=%s port=%d reason=\"bind: %s\"",
		    conf_service_name(lc->service), lc->address, lc->port,
		    strerror(errno));
	if (listen(l->fd, 128) != 0)
		log_fatal("listen service=%s reason=\"listen: %s\"",
		    conf_service_name(lc->service), strerror(errno));
	l->service = lc->service;
	str_copy(l->address, sizeof l->address, lc->address);
	l->port = lc->port;
	log_info("listen service=%s address=%s port=%d",
	    conf_service_name(l->service), l->address, l->port);
}

/* mkdir -p for the state directory, owned by the daemon's user. */
static int make_dirs(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	char tmp[PATH_MAX];
	size_t i;
	int fd, r, saved;

	if (str_copy(tmp, sizeof tmp, path) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (i = 1; tmp[i]; i++) {
		if (tmp[i] != '/')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		tmp[i] = '/';
	}
	if (mkdir(tmp, mode) != 0) {
		if (errno != EEXIST)
			return -1;
		return 0;
	}
	if (uid == (uid_t)-1)
		return 0;
	/* Chowned through a descriptor: a link swapped in is not followed. */
	if ((fd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	r = fchown(fd, uid, gid);
	saved = errno;
	(void)close(fd);
	errno = saved;
	return r;
}

/* Root start: bind first (done), then become user/group for good. */
/*
 * The SRS secret, read once by the master before it drops privileges (so
 * a file only root may read works) and made when missing (srs.h: 32
 * random bytes, mode 0600, owned by whoever started the daemon). Session
 * processes and the queue runner inherit it; a reload keeps it (a new
 * secret would refuse the bounces of mail already forwarded).
 */
static void srs_load(const struct conf *c)
{
	char err[512];
	struct stat st;
	int existed = stat(c->srs.secret_file, &st) == 0;

	if (srs_secret_load(c->srs.secret_file, 1, &M.srs, err, sizeof err) != 0)
		log_fatal("srs file=%s reason=\"%s\"", c->srs.secret_file, log_qtext(err));
	if (!existed)
		log_info("srs file=%s result=created", c->srs.secret_file);
}

static void drop_privileges(const struct conf *c)
{
	struct passwd *pw;
	struct group *gr;

	if (geteuid() != 0) {
		if (make_dirs(c->state_dir, 0750, (uid_t)-1, (gid_t)-1) != 0)
			log_fatal("state_dir=%s reason=\"%s\"", c->state_dir, strerror(errno));
		return;
	}
	if ((pw = getpwnam(c->user)) == NULL)
		log_fatal("user=%s reason=\"no such user\"", c->user);
	if ((gr = getgrnam(c->group)) == NULL)
		log_fatal("group=%s reason=\"no such group\"", c->group);
	if (make_dirs(c->state_dir, 0750, pw->pw_uid, gr->gr_gid) != 0)
		log_fatal("state_dir=%s reason=\"%s\"", c->state_dir, strerror(errno));
	if (setgroups(1, &gr->gr_gid) != 0 || setgid(gr->gr_gid) != 0 ||
	    setuid(pw->pw_uid) != 0)
		log_fatal("privileges user=%s reason=\"%s\"", c->user, strerror(errno));
	if (setuid(0) == 0)
		log_fatal("privileges reason=\"could regain root after the drop\"");
	log_info("privileges user=%s group=%s", c->user, c->group);
}

static void pidfile_write(const struct conf *c)
{
	char tmp[PATH_MAX + 8];
	FILE *f;
	int fd;

	if (str_format(M.pidfile, sizeof M.pidfile, "%s/ispmaild.pid", c->state_dir) != 0 ||
	    str_format(tmp, sizeof tmp, "%s.tmp", M.pidfile) != 0)
		log_fatal("pidfile reason=\"path too long\"");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL)
		log_fatal("pidfile=%s reason=\"%s\"", tmp, strerror(errno));
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0 || rename(tmp, M.pidfile) != 0)
		log_fatal("pidfile=%s reason=\"%s\"", M.pidfile, strerror(errno));
}

/* The sessions gauge of the shared statistics, by service. */
static void sessions_publish(void)
{
	uint32_t n[SERVICE_COUNT] = { 0 };
	size_t i;

	for (i = 0; i < M.nkids; i++)
		if (M.kids[i].busy)
			n[M.kids[i].service]++;
	for (i = 0; i < SERVICE_COUNT; i++)
		stats_sessions_set((enum service)i, n[i]);
}

static size_t count_per_ip(const struct cidr *client)
{
	size_t i, n = 0;

	for (i = 0; i < M.nkids; i++)
		if (M.kids[i].busy && net_addr_equal(&M.kids[i].client, client))
			n++;
	return n;
}

/*
 * Over a limit: one line in the protocol's words, then close
 * (ispmaild.conf(5)).
 */
static void refuse(int fd, enum service svc, const char *client, const char *why)
{
	char line[512];
	int n = 0;

	switch (svc) {
	case SERVICE_SMTP:
	case SERVICE_SUBMISSION:
		n = snprintf(line, sizeof line,
		    "421 4.7.0 %s Too many connections, try again later\r\n",
		    M.conf->hostname);
		break;
	case SERVICE_POP3:
		n = snprintf(line, sizeof line,
		    "-ERR [SYS/TEMP] Too many connections, try again later.\r\n");
		break;
	default:
		break;	/* implicit TLS: nothing readable can be said in clear */
	}
	if (n > 0 && (size_t)n < sizeof line)
		(void)send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	stats_count(STAT_REFUSED, svc);
	log_warn("reject service=%s client=%s reason=%s",
	    conf_service_name(svc), client, why);
	close(fd);
}

static void session_id(char *out, size_t outlen)
{
	unsigned char r[4];

	if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
		unsigned v = (unsigned)getpid() ^ (unsigned)time(NULL);

		memcpy(r, &v, sizeof r);
	}
	snprintf(out, outlen, "s=%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
}

/*
 * In a new process (a session process or the runner): close what belongs
 * to the master, above all its ends of the other processes' handoffs, or
 * they would never see EOF when the master retires them.
 */
static void child_detach(int keep_sock)
{
	struct sigaction sa;
	size_t i;

	/* The master's handler writes to a pipe this process no longer has. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	close(M.sigpipe[0]);
	close(M.sigpipe[1]);
	close(M.donepipe[0]);
	for (i = 0; i < M.nls; i++)
		close(M.ls[i].fd);
	for (i = 0; i < M.nkids; i++)
		if (M.kids[i].sock != -1 && M.kids[i].sock != keep_sock)
			close(M.kids[i].sock);
}

/* The master's memory in a child, given back before exit (for valgrind). */
static void child_free(void)
{
	size_t i;

	for (i = 0; i < M.nls; i++)
		tls_ctx_free(M.ls[i].tls);
	free(M.ls);
	free(M.kids);
	free(M.pfds);
	dkim_keyring_free(&M.dkim);
	conf_free(M.conf);
	free(M.conf);
}

/*
 * The end of a session. When the client's next commands sit unread (the
 * server ended the session: junk, errors, the time limit), close(2) would
 * answer them with a reset, and a reset makes the client's kernel drop
 * the last reply it has not read yet: the 421 or -ERR saying why. So
 * half-close, and drain what comes for a moment (bounded: a second, 1 MiB)
 * before closing, as Apache's lingering close does.
 */
static void session_close(int fd)
{
	char sink[8192];
	long long end;
	size_t drained = 0;
	int pending = 0;

	if (ioctl(fd, FIONREAD, &pending) != 0 || pending <= 0 ||
	    shutdown(fd, SHUT_WR) != 0) {
		close(fd);
		return;
	}
	end = now_ms() + SESSION_LINGER_MS;
	while (drained < SESSION_LINGER_MAX) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = end - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if ((n = read(fd, sink, sizeof sink)) <= 0)
			break;
		drained += (size_t)n;
	}
	close(fd);
}

/* One client, one protocol; returns the session's exit code. */
static int session_serve(struct session_ctx *ctx)
{
	int code = 0, one = 1;

	/* Replies are batched by the stream already: Nagle only adds delay. */
	(void)setsockopt(ctx->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	session_id(ctx->id, sizeof ctx->id);
	log_set_id(ctx->id);
	log_info("connect service=%s client=%s port=%d class=%s",
	    conf_service_name(ctx->service), ctx->client_text, ctx->client_port,
	    net_client_class_name(ctx->class));
	switch (ctx->service) {
	case SERVICE_POP3:
	case SERVICE_POP3S:
		code = pop3_session_run(ctx);
		break;
	case SERVICE_SMTP:
	case SERVICE_SUBMISSION:
	case SERVICE_SMTPS:
		code = smtp_session_run(ctx);
		break;
	case SERVICE_METRICS:
		code = metrics_session_run(ctx);
		break;
	case SERVICE_WEB:
		code = web_session_run(ctx);
		break;
	default:
		break;
	}
	session_close(ctx->fd);
	log_set_id(NULL);
	/* Nothing of this client may reach the next one's error messages. */
	ERR_clear_error();
	return code;
}

/* One handoff message: what the master knows, and room for the socket. */
struct handoff_msg {
	struct handoff h;
	struct iovec iov;
	struct msghdr msg;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
};

static void handoff_msg_init(struct handoff_msg *m)
{
	memset(m, 0, sizeof *m);
	m->iov.iov_base = &m->h;
	m->iov.iov_len = sizeof m->h;
	m->msg.msg_iov = &m->iov;
	m->msg.msg_iovlen = 1;
	m->msg.msg_control = m->cm.buf;
	m->msg.msg_controllen = sizeof m->cm.buf;
}

/*
 * Wait for the next client from the master: 0 with *ctx filled in, -1 when
 * the master retired this process (EOF) or anything is amiss.
 */
static int handoff_recv(int sock, struct session_ctx *ctx)
{
	struct handoff_msg m;
	struct cmsghdr *c;
	ssize_t n;
	int fd = -1;

	handoff_msg_init(&m);
	do
		n = recvmsg(sock, &m.msg, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	for (c = CMSG_FIRSTHDR(&m.msg); n > 0 && c != NULL; c = CMSG_NXTHDR(&m.msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(c), sizeof fd);
	if (n != (ssize_t)sizeof m.h || fd == -1 || (m.msg.msg_flags & MSG_CTRUNC) ||
	    m.h.listener >= M.nls) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	*ctx = m.h.ctx;
	ctx->conf = M.conf;
	ctx->tls = M.ls[m.h.listener].tls;
	ctx->dkim = &M.dkim;
	ctx->srs = &M.srs;
	ctx->fd = fd;
	return 0;
}

/*
 * A session process: the first client came with the fork, the next ones
 * through the handoff, up to limits.max_use. A session that ended in an
 * error ends the process too: the next client gets a fresh one.
 */
static void worker_run(struct session_ctx *first, int sock) __attribute__((noreturn));
static void worker_run(struct session_ctx *first, int sock)
{
	struct session_ctx ctx = *first;
	pid_t me = getpid();
	long uses;
	int code;

	child_detach(sock);
	for (uses = 1;; uses++) {
		code = session_serve(&ctx);
		/*
		 * Give back what the session freed (a RETR's buffers, a
		 * mailbox listing): an idle process should cost what a fresh
		 * one does, not the most its clients ever needed.
		 */
		(void)malloc_trim(0);
		if (code != 0 || uses >= M.conf->limits.max_use ||
		    write(M.donepipe[1], &me, sizeof me) != (ssize_t)sizeof me ||
		    handoff_recv(sock, &ctx) != 0)
			break;
	}
	close(sock);
	close(M.donepipe[1]);
	child_free();
	exit(code);
}

/* The queue runner: one long-lived child, restarted when it dies. */
static void runner_start(void)
{
	pid_t pid, master = getpid();
	size_t i;

	if (M.runner != 0 || time(NULL) - M.runner_started < 1)
		return;		/* running, or died just now: not in a tight loop */
	M.runner_started = time(NULL);
	pid = fork();
	if (pid < 0) {
		log_error("queue fork reason=\"%s\"", strerror(errno));
		return;
	}
	if (pid == 0) {
		int code;

		/*
		 * A runner that outlived a killed master would go on with the
		 * old configuration, beside the next daemon's runner.
		 */
		if (runner_follow_parent(master) != 0)
			_exit(0);
		child_detach(-1);
		close(M.donepipe[1]);
		for (i = 0; i < M.nls; i++) {
			tls_ctx_free(M.ls[i].tls);
			M.ls[i].tls = NULL;
		}
		code = runner_run(M.conf, &M.srs);
		child_free();
		exit(code);
	}
	M.runner = pid;
}

/* Retire a session process: at EOF on its handoff it exits. */
static void worker_retire(struct child *k)
{
	if (k->sock != -1)
		close(k->sock);
	k->sock = -1;
}

/* The idle session process that was busy last (its pages are warm). */
static struct child *worker_idle(void)
{
	struct child *best = NULL;
	size_t i;

	for (i = 0; i < M.nkids; i++)
		if (!M.kids[i].busy && M.kids[i].sock != -1 &&
		    (best == NULL || M.kids[i].idle_since > best->idle_since))
			best = &M.kids[i];
	return best;
}

/* Hand a client to an idle session process; -1 if it cannot take it. */
static int handoff_send(struct child *k, size_t listener, const struct session_ctx *ctx)
{
	struct handoff_msg m;
	struct cmsghdr *c;
	ssize_t n;

	handoff_msg_init(&m);
	m.h.listener = listener;
	m.h.ctx = *ctx;
	c = CMSG_FIRSTHDR(&m.msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &ctx->fd, sizeof(int));
	do
		n = sendmsg(k->sock, &m.msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	return n == (ssize_t)sizeof m.h ? 0 : -1;
}

/* A new session process for this client; NULL when fork fails. */
static struct child *worker_fork(size_t listener, struct session_ctx *ctx)
{
	struct child *k;
	int sv[2];
	pid_t pid;

	if (M.nkids == M.capkids) {
		M.capkids = M.capkids ? M.capkids * 2 : 64;
		M.kids = xreallocarray(M.kids, M.capkids, sizeof *M.kids);
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		log_error("socketpair reason=\"%s\"", strerror(errno));
		return NULL;
	}
	pid = fork();
	if (pid < 0) {
		log_error("fork reason=\"%s\"", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	if (pid == 0) {
		close(sv[0]);
		ctx->tls = M.ls[listener].tls;
		ctx->dkim = &M.dkim;
		ctx->srs = &M.srs;
		worker_run(ctx, sv[1]);		/* does not return */
	}
	close(sv[1]);
	k = &M.kids[M.nkids++];
	memset(k, 0, sizeof *k);
	k->pid = pid;
	k->sock = sv[0];
	return k;
}

static void accept_one(struct listener *l)
{
	struct sockaddr_storage peer, local;
	socklen_t plen = sizeof peer, llen = sizeof local;
	struct session_ctx ctx;
	struct child *k;
	size_t li = (size_t)(l - M.ls);
	int fd;

	fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			log_error("accept service=%s reason=\"%s\"",
			    conf_service_name(l->service), strerror(errno));
		return;
	}
	memset(&ctx, 0, sizeof ctx);
	ctx.conf = M.conf;
	ctx.service = l->service;
	ctx.fd = fd;
	ctx.tls = l->tls;
	ctx.dkim = &M.dkim;
	ctx.srs = &M.srs;
	if (net_addr_from_sockaddr((struct sockaddr *)&peer, plen, &ctx.client) != 0 ||
	    getsockname(fd, (struct sockaddr *)&local, &llen) != 0 ||
	    net_addr_from_sockaddr((struct sockaddr *)&local, llen, &ctx.local) != 0) {
		close(fd);
		return;
	}
	net_addr_text(&ctx.client, ctx.client_text, sizeof ctx.client_text);
	ctx.client_port = ntohs(peer.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&peer)->sin6_port :
	    ((struct sockaddr_in *)&peer)->sin_port);
	ctx.class = net_client_class(&M.conf->relay.trusted_networks,
	    &M.conf->relay.customer_networks, &ctx.client);
	if ((long)M.nbusy >= M.conf->limits.max_connections) {
		refuse(fd, l->service, ctx.client_text, "max_connections");
		return;
	}
	if (ctx.class != CLIENT_TRUSTED &&
	    (long)count_per_ip(&ctx.client) >= M.conf->limits.max_per_ip) {
		refuse(fd, l->service, ctx.client_text, "max_per_ip");
		return;
	}
	/* An idle process that died a moment ago refuses: try the next. */
	while ((k = worker_idle()) != NULL && handoff_send(k, li, &ctx) != 0)
		worker_retire(k);
	if (k == NULL && (k = worker_fork(li, &ctx)) == NULL) {
		refuse(fd, l->service, ctx.client_text, "fork-failed");
		return;
	}
	close(fd);
	k->busy = 1;
	k->service = l->service;
	k->client = ctx.client;
	k->trusted = ctx.class == CLIENT_TRUSTED;
	M.nbusy++;
	stats_count(STAT_CONNECTIONS, l->service);
	sessions_publish();
}

/* Session processes that finished a session and wait for the next. */
static void workers_done(void)
{
	pid_t pids[64];
	ssize_t n;
	size_t i, j;
	long long now = now_ms();

	while ((n = read(M.donepipe[0], pids, sizeof pids)) > 0) {
		for (i = 0; i < (size_t)n / sizeof pids[0]; i++)
			for (j = 0; j < M.nkids; j++) {
				if (M.kids[j].pid != pids[i] || !M.kids[j].busy)
					continue;
				M.kids[j].busy = 0;
				M.kids[j].idle_since = now;
				M.nbusy--;
				break;
			}
	}
	sessions_publish();
}

/*
 * Retire the processes idle for limits.max_idle; returns the milliseconds
 * until the next one is due (-1: none idle), for poll's timeout.
 */
static int workers_expire(void)
{
	long long now = now_ms(), next = -1, due;
	size_t i;

	for (i = 0; i < M.nkids; i++) {
		if (M.kids[i].busy || M.kids[i].sock == -1)
			continue;
		due = M.kids[i].idle_since + M.conf->limits.max_idle * 1000LL;
		if (due <= now) {
			/* Logged with its idle time: tests assert on it, not a clock. */
			log_info("retire pid=%ld reason=max-idle idle_ms=%lld max_idle=%ld",
			    (long)M.kids[i].pid, now - M.kids[i].idle_since,
			    (long)M.conf->limits.max_idle);
			worker_retire(&M.kids[i]);
		} else if (next == -1 || due - now < next)
			next = due - now;
	}
	return (int)next;
}

static void reap(void)
{
	pid_t pid;
	int status;
	size_t i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == M.runner) {
			M.runner = 0;
			if (!M.got_term && WIFSIGNALED(status))
				log_warn("queue runner pid=%ld signal=%d; restarting",
				    (long)pid, WTERMSIG(status));
			else if (!M.got_term && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
				log_warn("queue runner pid=%ld exit=%d; restarting",
				    (long)pid, WEXITSTATUS(status));
			continue;
		}
		for (i = 0; i < M.nkids; i++) {
			if (M.kids[i].pid != pid)
				continue;
			if (WIFSIGNALED(status))
				log_warn("child pid=%ld service=%s signal=%d",
				    (long)pid, conf_service_name(M.kids[i].service),
				    WTERMSIG(status));
			else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
				log_warn("child pid=%ld service=%s exit=%d",
				    (long)pid, conf_service_name(M.kids[i].service),
				    WEXITSTATUS(status));
			if (M.kids[i].busy)
				M.nbusy--;
			worker_retire(&M.kids[i]);
			M.kids[i] = M.kids[--M.nkids];
			break;
		}
	}
	sessions_publish();
}

/*
 * One TLS context per listener (its min_version/ciphers may differ).
 * All or nothing: a bad certificate leaves every listener as it was.
 */
static int tls_contexts_build(const struct conf *c, struct ssl_ctx_st **out)
{
	char err[512];
	size_t i;

	for (i = 0; i < M.nls; i++) {
		out[i] = NULL;
		if (!c->tls.enabled || M.ls[i].service == SERVICE_METRICS)
			continue;
		out[i] = tls_server_ctx(&c->tls, i < c->nlisten ? &c->listen[i] : NULL,
		    err, sizeof err);
		if (out[i] == NULL) {
			log_error("tls service=%s reason=\"%s\"",
			    conf_service_name(M.ls[i].service), err);
			while (i-- > 0)
				tls_ctx_free(out[i]);
			return -1;
		}
	}
	return 0;
}

/* The identity of the certificate and key files, to see a renewal. */
static void tls_files_stat(const struct conf *c, struct stat st[2])
{
	memset(st, 0, 2 * sizeof *st);
	if (!c->tls.enabled || stat(c->tls.certificate, &st[0]) != 0 ||
	    stat(c->tls.private_key, &st[1]) != 0)
		memset(st, 0, 2 * sizeof *st);
}

static int str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ino != 0;
}

/*
 * Would the TLS contexts come out the same (the same settings, and the
 * certificate and key files not replaced or rewritten)? Rebuilding them
 * anyway costs every later session process: the freed old contexts leave
 * holes in the master's heap that a child's first mallocs copy page by
 * page (measured: +32 KiB per SMTP session and +120 KiB per POP3 session
 * after each reload).
 */
static int tls_unchanged(const struct conf *a, const struct conf *b)
{
	struct stat st[2];
	size_t i;

	if (a->tls.enabled != b->tls.enabled)
		return 0;
	if (!a->tls.enabled)
		return 1;
	if (!str_same(a->tls.certificate, b->tls.certificate) ||
	    !str_same(a->tls.private_key, b->tls.private_key) ||
	    !str_same(a->tls.min_version, b->tls.min_version) ||
	    !str_same(a->tls.ciphers, b->tls.ciphers))
		return 0;
	for (i = 0; i < a->nlisten; i++)
		if (!str_same(a->listen[i].min_version, b->listen[i].min_version) ||
		    !str_same(a->listen[i].ciphers, b->listen[i].ciphers))
			return 0;
	tls_files_stat(b, st);
	return stat_same(&st[0], &M.tls_files[0]) && stat_same(&st[1], &M.tls_files[1]);
}

static int listen_changed(const struct conf *a, const struct conf *b)
{
	size_t i;

	if (a->nlisten != b->nlisten)
		return 1;
	for (i = 0; i < a->nlisten; i++)
		if (a->listen[i].service != b->listen[i].service ||
		    a->listen[i].port != b->listen[i].port ||
		    strcmp(a->listen[i].address, b->listen[i].address) != 0)
			return 1;
	return 0;
}

/* SIGHUP: new connections see the new file; a bad file changes nothing. */
static void reload(void)
{
	struct conf *next = xcalloc(1, sizeof *next);
	struct dkim_keyring ring;
	char err[1024];

	if (conf_load(M.conf_path, next, err, sizeof err) != 0) {
		log_error("reload result=refused reason=\"%s\"", err);
		free(next);
		return;
	}
	if (listen_changed(M.conf, next)) {
		/* Sockets are bound as root, once: that needs a restart. */
		log_error("reload result=refused reason=\"listen changed: restart to apply\"");
		conf_free(next);
		free(next);
		return;
	} else if (!tls_unchanged(M.conf, next)) {
		struct ssl_ctx_st **fresh = xcalloc(M.nls ? M.nls : 1, sizeof *fresh);
		struct stat st[2];

		tls_files_stat(next, st);	/* before the build, as at start */
		if (tls_contexts_build(next, fresh) != 0) {
			log_error("reload result=refused reason=tls");
			free(fresh);
			conf_free(next);
			free(next);
			return;
		}
		for (size_t i = 0; i < M.nls; i++) {
			tls_ctx_free(M.ls[i].tls);
			M.ls[i].tls = fresh[i];
		}
		free(fresh);
		memcpy(M.tls_files, st, sizeof st);
		log_info("reload tls=reloaded");
	}
	if (dkim_keyring_load(next->dkim.keys_dir, &ring, err, sizeof err) != 0) {
		log_error("reload result=refused reason=\"dkim: %s\"", err);
		conf_free(next);
		free(next);
		return;
	}
	dkim_keyring_free(&M.dkim);
	M.dkim = ring;
	log_info("reload dkim_keys=%zu", M.dkim.n);
	conf_free(M.conf);
	free(M.conf);
	M.conf = next;
	log_set_level(M.conf->log_level);
	/*
	 * The old file and TLS contexts leave free pages in the middle of the
	 * heap; handed back, they are no longer shared pages that every
	 * session process would copy on its first malloc there (+120 KiB per
	 * session measured after one reload).
	 */
	(void)malloc_trim(0);
	/* Processes forked before hold the old file: each ends after its session. */
	for (size_t i = 0; i < M.nkids; i++)
		worker_retire(&M.kids[i]);
	if (M.runner != 0) {
		kill(M.runner, SIGTERM);	/* restarted with the new file */
		M.runner_started = 0;
	}
	log_info("reload result=ok");
}

static void drain_sigpipe(void)
{
	char junk[64];

	while (read(M.sigpipe[0], junk, sizeof junk) > 0)
		;
}

/* SIGTERM: no new connections; sessions get MASTER_STOP_GRACE_MS. */
static void stop(void)
{
	long long deadline = now_ms() + MASTER_STOP_GRACE_MS;
	struct pollfd pfd = { M.sigpipe[0], POLLIN, 0 };
	size_t i;

	for (i = 0; i < M.nls; i++)
		close(M.ls[i].fd);
	if (M.runner != 0)
		kill(M.runner, SIGTERM);
	/* Idle processes exit at once, busy ones after their session. */
	for (i = 0; i < M.nkids; i++)
		worker_retire(&M.kids[i]);
	log_info("stopping sessions=%zu", M.nbusy);
	reap();
	while ((M.nkids > 0 || M.runner != 0) && now_ms() < deadline) {
		long long left = deadline - now_ms();

		(void)poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
		drain_sigpipe();
		workers_done();
		reap();
	}
	for (i = 0; i < M.nkids; i++) {
		log_warn("child pid=%ld killed reason=stop-timeout", (long)M.kids[i].pid);
		kill(M.kids[i].pid, SIGKILL);
	}
	if (M.runner != 0)
		kill(M.runner, SIGKILL);
	while ((M.nkids > 0 || M.runner != 0) && waitpid(-1, NULL, 0) > 0)
		reap();
	M.nkids = 0;
	if (M.pidfile[0])
		unlink(M.pidfile);
	log_info("stopped");
}

void master_hold_signals(int hold)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

int master_run(const struct master_options *opt, struct conf *conf)
{
	struct sigaction sa;
	struct pollfd *pfds;
	size_t i;

	M.conf = xcalloc(1, sizeof *M.conf);
	*M.conf = *conf;
	memset(conf, 0, sizeof *conf);
	M.conf_path = xstrdup(M.conf->path);

	/*
	 * Signals first: a SIGHUP or SIGTERM that arrives once the ports
	 * listen (a reload right after a start) must not find the default
	 * action, which would end the daemon.
	 */
	if (pipe(M.sigpipe) != 0)
		log_fatal("pipe reason=\"%s\"", strerror(errno));
	set_cloexec_nonblock(M.sigpipe[0]);
	set_cloexec_nonblock(M.sigpipe[1]);
	if (pipe(M.donepipe) != 0)
		log_fatal("pipe reason=\"%s\"", strerror(errno));
	/* The master reads without blocking; writers block (never for long). */
	set_cloexec_nonblock(M.donepipe[0]);
	(void)fcntl(M.donepipe[1], F_SETFD, FD_CLOEXEC);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* main() held these until now; one that came meanwhile runs here. */
	master_hold_signals(0);

	M.nls = M.conf->nlisten;
	M.ls = xcalloc(M.nls, sizeof *M.ls);
	for (i = 0; i < M.nls; i++)
		listener_open(&M.ls[i], &M.conf->listen[i]);
	{
		/* Read the key while still root, then drop (ispmaild(8)). */
		struct ssl_ctx_st **ctxs = xcalloc(M.nls ? M.nls : 1, sizeof *ctxs);

		/* Before the build: a file replaced meanwhile is seen at reload. */
		tls_files_stat(M.conf, M.tls_files);
		if (tls_contexts_build(M.conf, ctxs) != 0)
			log_fatal("tls reason=\"cannot load the certificate or key\"");
		for (i = 0; i < M.nls; i++)
			M.ls[i].tls = ctxs[i];
		free(ctxs);
	}
	srs_load(M.conf);
	drop_privileges(M.conf);
	{
		/* As the daemon's user, as a reload will: keys it cannot read fail now. */
		char err[1024];

		if (dkim_keyring_load(M.conf->dkim.keys_dir, &M.dkim, err, sizeof err) != 0)
			log_fatal("dkim reason=\"%s\"", err);
		if (M.dkim.n > 0)
			log_info("dkim keys=%zu", M.dkim.n);
	}
	/* A mapping that cannot be backed on disk would SIGBUS a session later. */
	if (stats_create(M.conf->state_dir) != 0)
		log_fatal("stats file=%s/stats reason=\"%s\"", M.conf->state_dir,
		    strerror(errno));
	if (!opt->foreground && daemon(0, 0) != 0)
		log_fatal("daemon reason=\"%s\"", strerror(errno));
	pidfile_write(M.conf);

	log_info("started version=%s pid=%ld", PACKAGE_VERSION, (long)getpid());
	pfds = M.pfds = xcalloc(M.nls + 2, sizeof *pfds);
	while (!M.got_term) {
		int timeout;

		runner_start();
		pfds[0].fd = M.sigpipe[0];
		pfds[0].events = POLLIN;
		pfds[1].fd = M.donepipe[0];
		pfds[1].events = POLLIN;
		for (i = 0; i < M.nls; i++) {
			pfds[i + 2].fd = M.ls[i].fd;
			pfds[i + 2].events = POLLIN;
		}
		/* Timeouts: the next idle process to retire, a runner to retry. */
		timeout = workers_expire();
		if (M.runner == 0 && (timeout == -1 || timeout > 1000))
			timeout = 1000;
		if (poll(pfds, M.nls + 2, timeout) < 0 && errno != EINTR)
			log_fatal("poll reason=\"%s\"", strerror(errno));
		if (pfds[0].revents & POLLIN)
			drain_sigpipe();
		if (pfds[1].revents & POLLIN)
			workers_done();
		reap();
		if (M.got_hup) {
			M.got_hup = 0;
			reload();
		}
		if (M.got_term)
			break;
		for (i = 0; i < M.nls; i++)
			if (pfds[i + 2].revents & POLLIN)
				accept_one(&M.ls[i]);
	}
	free(pfds);
	M.pfds = NULL;
	stop();
	close(M.donepipe[0]);
	close(M.donepipe[1]);
	for (i = 0; i < M.nls; i++)
		tls_ctx_free(M.ls[i].tls);
	free((char *)M.conf_path);
	free(M.ls);
	free(M.kids);
	dkim_keyring_free(&M.dkim);
	conf_free(M.conf);
	free(M.conf);
	return 0;
}

static int check_readable(const char *what, const char *path, char *err, size_t errlen)
{
	if (access(path, R_OK) != 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return 1;
	}
	return 0;
}

/*
 * A file holding secrets (password hashes, a private key) that others may
 * read: worth a warning, not a refusal (the start still works). One check
 * for every such file, one line on stderr each.
 */
static void check_private(const char *what, const char *path, const char *holds)
{
	struct stat sb;

	if (stat(path, &sb) == 0 && (sb.st_mode & S_IROTH))
		fprintf(stderr, "ispmaild: warning: %s %s is readable by others "
		    "(mode %04o): it holds %s; chmod o-r it\n", what, path,
		    (unsigned)(sb.st_mode & 07777), holds);
}

/* A directory that exists and is writable, or can be made under a parent. */
static int check_dir(const char *what, const char *path, char *err, size_t errlen)
{
	struct stat sb;
	char parent[PATH_MAX];
	char *slash;

	if (stat(path, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode)) {
			snprintf(err, errlen, "%s %s: not a directory", what, path);
			return 1;
		}
		return 0;
	}
	str_copy(parent, sizeof parent, path);
	slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent)
		*slash = '\0';
	if (stat(parent, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s %s: neither it nor its parent exists", what, path);
		return 1;
	}
	return 0;
}

/*
 * The web pages save a customer's change by rewriting the users file
 * through a temporary file in its directory, as the daemon's user: only a
 * warning when that directory does not let it (ispmailctl still works).
 */
static void check_web_users_dir(const struct conf *c)
{
	char dir[PATH_MAX], *slash;
	size_t i;

	for (i = 0; i < c->nlisten && c->listen[i].service != SERVICE_WEB; i++)
		;
	if (i == c->nlisten || str_copy(dir, sizeof dir, c->users_file) != 0)
		return;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		return;
	slash[slash == dir ? 1 : 0] = '\0';
	if (access(dir, W_OK | X_OK) != 0)
		fprintf(stderr, "ispmaild: warning: users_file directory %s is not writable "
		    "by %s: the web pages cannot save customers' changes\n", dir, c->user);
}

/*
 * Started as root, the daemon runs as user/group: check what that user
 * must be able to do, in a child that has become it. A key it cannot read
 * only warns: the start reads it as root, a reload would fail.
 */
static int check_as_user(const struct conf *c, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(pfd) != 0)
		return 0;
	if ((pid = fork()) < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return 0;
	}
	if (pid == 0) {
		char msg[512] = "";

		close(pfd[0]);
		if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
			snprintf(msg, sizeof msg, "cannot become %s: %s", c->user, strerror(errno));
		else if (access(c->state_dir, W_OK | X_OK) != 0 && errno != ENOENT)
			snprintf(msg, sizeof msg, "state_dir %s: not writable by %s: %s",
			    c->state_dir, c->user, strerror(errno));
		else if (access(c->users_file, R_OK) != 0)
			snprintf(msg, sizeof msg, "users_file %s: not readable by %s: %s",
			    c->users_file, c->user, strerror(errno));
		else if (c->tls.enabled && access(c->tls.private_key, R_OK) != 0)
			fprintf(stderr, "ispmaild: warning: tls.private_key %s is not readable "
			    "by %s: SIGHUP cannot reload the certificate\n",
			    c->tls.private_key, c->user);
		if (msg[0] == '\0')
			check_web_users_dir(c);
		n = write(pfd[1], msg, strlen(msg));
		_exit(n < 0);
	}
	close(pfd[1]);
	n = read(pfd[0], err, errlen - 1);
	close(pfd[0]);
	waitpid(pid, &status, 0);
	if (n > 0) {
		err[n] = '\0';
		return 1;
	}
	return 0;
}

int master_check(const struct conf *c, char *err, size_t errlen)
{
	struct users users;
	struct aliases aliases;

	if (c->tls.enabled) {
		size_t i;

		if (check_readable("tls.certificate", c->tls.certificate, err, errlen) ||
		    check_readable("tls.private_key", c->tls.private_key, err, errlen))
			return 1;
		check_private("tls.private_key", c->tls.private_key, "the TLS private key");
		for (i = 0; i < c->nlisten; i++) {
			struct ssl_ctx_st *ctx = tls_server_ctx(&c->tls, &c->listen[i],
			    err, errlen);

			if (ctx == NULL)
				return 1;
			tls_ctx_free(ctx);
		}
	}
	if (users_load(c->users_file, &users, err, errlen) != 0)
		return 1;
	users_free(&users);
	{
		struct dkim_keyring ring;
		char why[900];

		if (dkim_keyring_load(c->dkim.keys_dir, &ring, why, sizeof why) != 0) {
			snprintf(err, errlen, "dkim: %s", why);
			return 1;
		}
		dkim_keyring_free(&ring);
	}
	{
		/* The SRS secret when there is one (the first start makes it). */
		struct srs_secret sec;
		struct stat st;
		char why[600];

		if (stat(c->srs.secret_file, &st) == 0 &&
		    srs_secret_load(c->srs.secret_file, 0, &sec, why, sizeof why) != 0) {
			snprintf(err, errlen, "srs: %s", why);
			return 1;
		}
		explicit_bzero(&sec, sizeof sec);
	}
	check_private("users_file", c->users_file, "password hashes");
	{
		char pm[512];

		if (rcpt_postmaster_address(c, pm, sizeof pm) != 0)
			fprintf(stderr, "ispmaild: warning: postmaster@ and abuse@ have nowhere "
			    "to go: set postmaster, or add a user in %s\n",
			    c->ndomains > 0 ? c->domains[0] : "the first domain");
	}
	if (aliases_load(c->aliases_file, &aliases, err, errlen) != 0)
		return 1;
	aliases_free(&aliases);
	if (check_dir("state_dir", c->state_dir, err, errlen) ||
	    check_dir("maildir_root", c->maildir_root, err, errlen))
		return 1;
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam(c->user);
		struct group *gr = getgrnam(c->group);

		if (pw == NULL) {
			snprintf(err, errlen, "user %s: no such user", c->user);
			return 1;
		}
		if (gr == NULL) {
			snprintf(err, errlen, "group %s: no such group", c->group);
			return 1;
		}
		return check_as_user(c, pw->pw_uid, gr->gr_gid, err, errlen);
	}
	return 0;
}
