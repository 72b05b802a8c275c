/*
 * loadgen.c: the load generator of the side-by-side benchmark (bench/compare,
 * issue 7). Several forked processes run SMTP (RFC 5321) or POP3 (RFC 1939)
 * sessions, plain or over implicit TLS (RFC 8314), against any server, and
 * the parent prints one "result" line: rate, latency percentiles, errors and
 * the generator's own CPU share, so that it is seen not to be the bottleneck.
 *
 * Standalone on purpose (libc + OpenSSL only): it measures other servers too.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define LG_MAX_PROCS 256
#define LG_MAX_USERS 100000
#define LG_LINE_MAX 4096
#define LG_IOBUF 65536
#define LG_IO_TIMEOUT 30	/* seconds a read or write may wait */

enum lg_mode {
	MODE_SMTP,		/* N sessions x M messages */
	MODE_CONN,		/* connect, EHLO, QUIT */
	MODE_POP3,		/* USER/PASS/STAT/UIDL/RETR all/QUIT */
	MODE_POP3_UIDL,		/* USER/PASS/UIDL/QUIT (the big mailbox) */
	MODE_IDLE_SMTP,		/* hold sessions open after EHLO */
	MODE_IDLE_POP3,		/* hold sessions open after PASS */
};

static struct {
	enum lg_mode mode;
	const char *host;
	int port;
	int tls;
	int procs;
	long sessions;		/* total, spread over the processes */
	int messages;		/* per SMTP session */
	size_t size;		/* bytes per message, CRLF counted */
	const char *users_path;
	const char *password;
	const char *maildir_root;	/* wait for the files in new/ */
	int deadline;		/* seconds the whole run may take */
	int hold;		/* idle modes: seconds to hold at most */
	int quiet;
} opt = {
	.mode = MODE_SMTP, .host = "127.0.0.1", .port = 25, .procs = 1,
	.sessions = 1, .messages = 1, .size = 4096, .password = "secret",
	.deadline = 300, .hold = 60,
};

static char **users;
static size_t nusers;
static pid_t workers[LG_MAX_PROCS];	/* killed when the deadline passes */
static int nworkers;
static SSL_CTX *ssl_ctx;

/* One client connection: a socket, maybe TLS, and a read buffer. */
struct conn {
	int fd;
	SSL *ssl;
	char buf[LG_IOBUF];
	size_t start, end;
};

/* What a worker sends back to the parent through its pipe. */
struct lg_report {
	long ops;		/* sessions (or messages for MODE_SMTP) done */
	long errors;
	long bytes;		/* payload bytes read (RETR, UIDL) */
	long nlat;		/* latencies that follow, in microseconds */
	double finish;		/* CLOCK_MONOTONIC seconds at the end */
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static double now_mono(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime: %s", strerror(errno));
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Errors of one connection are counted, not fatal: say why once in a while. */
static void warn_conn(const char *what)
{
	static int shown;

	if (!opt.quiet && shown++ < 3)
		fprintf(stderr, "loadgen[%d]: %s\n", (int)getpid(), what);
}

/* The address list: "address" or "address:anything" per line. */
static void users_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[LG_LINE_MAX];
	size_t cap = 0;

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		size_t len = strcspn(line, ":\r\n");

		if (len == 0 || line[0] == '#')
			continue;
		line[len] = '\0';
		if (nusers == cap) {
			cap = cap ? cap * 2 : 64;
			if (cap > LG_MAX_USERS)
				die("%s: too many users", path);
			users = realloc(users, cap * sizeof *users);
			if (users == NULL)
				die("out of memory");
		}
		users[nusers] = strdup(line);
		if (users[nusers] == NULL)
			die("out of memory");
		nusers++;
	}
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
	if (nusers == 0)
		die("%s: no users", path);
}

static int conn_open(struct conn *c)
{
	struct sockaddr_in sin;
	struct timeval tv = { .tv_sec = LG_IO_TIMEOUT };
	int one = 1;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET, opt.host, &sin.sin_addr) != 1)
		die("bad IPv4 address %s", opt.host);
	c->start = c->end = 0;
	c->ssl = NULL;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0) {
		warn_conn("socket failed");
		return -1;
	}
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
	    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
		die("setsockopt: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		warn_conn(strerror(errno));
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	if (opt.tls) {
		c->ssl = SSL_new(ssl_ctx);
		if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
		    SSL_connect(c->ssl) != 1) {
			warn_conn("TLS handshake failed");
			if (c->ssl != NULL)
				SSL_free(c->ssl);
			c->ssl = NULL;
			close(c->fd);
			c->fd = -1;
			return -1;
		}
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		(void)close(c->fd);
	c->fd = -1;
}

static int conn_write(struct conn *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n;

		if (c->ssl != NULL) {
			int r = SSL_write(c->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);

			n = r > 0 ? r : -1;
		} else {
			n = write(c->fd, data, len);
			if (n < 0 && errno == EINTR)
				continue;
		}
		if (n <= 0) {
			warn_conn("write failed");
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int conn_fill(struct conn *c)
{
	ssize_t n;

	if (c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end == sizeof c->buf)
		return -1;
	for (;;) {
		if (c->ssl != NULL) {
			int r = SSL_read(c->ssl, c->buf + c->end, (int)(sizeof c->buf - c->end));

			n = r > 0 ? r : -1;
		} else {
			n = read(c->fd, c->buf + c->end, sizeof c->buf - c->end);
			if (n < 0 && errno == EINTR)
				continue;
		}
		break;
	}
	if (n <= 0) {
		warn_conn(n == 0 ? "connection closed by server" : "read failed");
		return -1;
	}
	c->end += (size_t)n;
	return 0;
}

/* One line without its CRLF into line[size]; its length, or -1. */
static int conn_line(struct conn *c, char *line, size_t size)
{
	for (;;) {
		char *lf = memchr(c->buf + c->start, '\n', c->end - c->start);

		if (lf != NULL) {
			size_t len = (size_t)(lf - (c->buf + c->start));
			size_t copy = len;

			if (copy > 0 && c->buf[c->start + copy - 1] == '\r')
				copy--;
			if (copy >= size)
				copy = size - 1;
			memcpy(line, c->buf + c->start, copy);
			line[copy] = '\0';
			c->start += len + 1;
			return (int)copy;
		}
		if (conn_fill(c) != 0)
			return -1;
	}
}

/* An SMTP reply, multi-line or not (RFC 5321 4.2.1): its code, or -1. */
static int smtp_reply(struct conn *c)
{
	char line[LG_LINE_MAX];

	for (;;) {
		int len = conn_line(c, line, sizeof line);

		if (len < 4)
			return -1;
		if (line[3] != '-')
			return atoi(line);
	}
}

static int smtp_cmd(struct conn *c, const char *cmd, int want)
{
	int code;

	if (conn_write(c, cmd, strlen(cmd)) != 0)
		return -1;
	code = smtp_reply(c);
	if (code != want) {
		if (code > 0 && !opt.quiet) {
			char msg[128];

			snprintf(msg, sizeof msg, "unexpected %d after %.40s", code, cmd);
			warn_conn(msg);
		}
		return -1;
	}
	return 0;
}

/* "+OK" status line: 0, or -1 for -ERR and errors. */
static int pop_status(struct conn *c)
{
	char line[LG_LINE_MAX];
	int len = conn_line(c, line, sizeof line);

	if (len < 3 || strncmp(line, "+OK", 3) != 0) {
		if (len >= 0)
			warn_conn(line);
		return -1;
	}
	return 0;
}

static int pop_cmd(struct conn *c, const char *cmd)
{
	if (conn_write(c, cmd, strlen(cmd)) != 0)
		return -1;
	return pop_status(c);
}

/* The body of a multi-line reply up to ".CRLF": bytes read, or -1. */
static long pop_multiline(struct conn *c)
{
	long bytes = 0;

	for (;;) {
		char *p = c->buf + c->start, *end = c->buf + c->end, *lf;

		/* Whole lines in the buffer, scanned without copying. */
		while ((lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			size_t len = (size_t)(lf - p) + 1;

			if (len == 3 && p[0] == '.' && p[1] == '\r') {
				c->start = (size_t)(lf + 1 - c->buf);
				return bytes;
			}
			bytes += (long)len;
			p = lf + 1;
		}
		c->start = (size_t)(p - c->buf);
		if (c->end - c->start == sizeof c->buf)
			return -1;
		if (conn_fill(c) != 0)
			return -1;
	}
}

/*
 * A message of exactly opt.size bytes with CRLF line ends: headers, then
 * 70-column lines of filler, no line starting with '.'. The Message-ID
 * field is patched per message at *id_off (16 hex digits).
 */
static char *message_build(const char *to, size_t *id_off, size_t *len)
{
	char head[1024];
	char *msg;
	int n;
	size_t pos;

	n = snprintf(head, sizeof head,
	    "From: bench <bench@sender.test>\r\n"
	    "To: <%s>\r\n"
	    "Subject: bench message\r\n"
	    "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
	    "Message-ID: <0000000000000000@sender.test>\r\n"
	    "\r\n", to);
	if (n < 0 || (size_t)n >= sizeof head)
		die("header too long");
	if (opt.size < (size_t)n + 2)
		die("message size %zu below the headers (%d)", opt.size, n);
	msg = malloc(opt.size + 8);
	if (msg == NULL)
		die("out of memory");
	memcpy(msg, head, (size_t)n);
	*id_off = (size_t)(strstr(head, "Message-ID: <") - head) + 13;
	pos = (size_t)n;
	while (pos < opt.size) {
		size_t room = opt.size - pos, line = room > 72 ? 72 : room, i;

		if (room - line == 1)	/* never leave a 1-byte remainder */
			line--;
		for (i = 0; i + 2 < line; i++)
			msg[pos + i] = (char)('a' + (pos + i) % 26);
		if (line >= 2) {
			msg[pos + line - 2] = '\r';
			msg[pos + line - 1] = '\n';
		} else {
			msg[pos] = '\n';	/* cannot happen: room >= 2 */
		}
		pos += line;
	}
	memcpy(msg + pos, ".\r\n", 3);
	*len = pos + 3;
	return msg;
}

static void message_stamp(char *msg, size_t id_off, unsigned long long id)
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 15; i >= 0; i--) {
		msg[id_off + (size_t)i] = hex[id & 15];
		id >>= 4;
	}
}

static void lat_add(double **lat, long *n, long *cap, double us)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		*lat = realloc(*lat, (size_t)*cap * sizeof **lat);
		if (*lat == NULL)
			die("out of memory");
	}
	(*lat)[(*n)++] = us;
}

/* SMTP: a session of opt.messages messages to random local users. */
static int run_smtp_session(struct conn *c, unsigned *seed, unsigned long long *msgno,
    struct lg_report *rep, double **lat, long *nlat, long *cap)
{
	char cmd[LG_LINE_MAX];
	int m;

	if (conn_open(c) != 0)
		return -1;
	if (smtp_reply(c) != 220 || smtp_cmd(c, "EHLO bench.test\r\n", 250) != 0)
		goto fail;
	for (m = 0; m < opt.messages; m++) {
		const char *to = users[rand_r(seed) % nusers];
		size_t id_off, len;
		char *msg = message_build(to, &id_off, &len);
		double t0 = now_mono();

		message_stamp(msg, id_off, ((unsigned long long)getpid() << 32) | (*msgno)++);
		snprintf(cmd, sizeof cmd, "RCPT TO:<%s>\r\n", to);
		if (smtp_cmd(c, "MAIL FROM:<bench@sender.test>\r\n", 250) != 0 ||
		    smtp_cmd(c, cmd, 250) != 0 ||
		    smtp_cmd(c, "DATA\r\n", 354) != 0 ||
		    conn_write(c, msg, len) != 0 || smtp_reply(c) != 250) {
			free(msg);
			goto fail;
		}
		free(msg);
		lat_add(lat, nlat, cap, (now_mono() - t0) * 1e6);
		rep->ops++;
	}
	if (smtp_cmd(c, "QUIT\r\n", 221) != 0)
		goto fail;
	conn_close(c);
	return 0;
fail:
	conn_close(c);
	return -1;
}

static int run_conn_session(struct conn *c)
{
	if (conn_open(c) != 0)
		return -1;
	if (smtp_reply(c) != 220 || smtp_cmd(c, "EHLO bench.test\r\n", 250) != 0 ||
	    smtp_cmd(c, "QUIT\r\n", 221) != 0) {
		conn_close(c);
		return -1;
	}
	conn_close(c);
	return 0;
}

static int pop_login(struct conn *c, const char *user)
{
	char cmd[LG_LINE_MAX];

	if (pop_status(c) != 0)
		return -1;
	snprintf(cmd, sizeof cmd, "USER %s\r\n", user);
	if (pop_cmd(c, cmd) != 0)
		return -1;
	snprintf(cmd, sizeof cmd, "PASS %s\r\n", opt.password);
	return pop_cmd(c, cmd);
}

/* POP3: login, STAT, UIDL, RETR of every message, QUIT (or UIDL only). */
static int run_pop3_session(struct conn *c, const char *user, struct lg_report *rep)
{
	char line[LG_LINE_MAX];
	long count = 0, i, n;

	if (conn_open(c) != 0)
		return -1;
	if (pop_login(c, user) != 0)
		goto fail;
	if (opt.mode == MODE_POP3) {
		if (conn_write(c, "STAT\r\n", 6) != 0 || conn_line(c, line, sizeof line) < 0 ||
		    sscanf(line, "+OK %ld", &count) != 1)
			goto fail;
	}
	if (pop_cmd(c, "UIDL\r\n") != 0 || (n = pop_multiline(c)) < 0)
		goto fail;
	rep->bytes += n;
	for (i = 1; i <= count; i++) {
		char cmd[64];

		snprintf(cmd, sizeof cmd, "RETR %ld\r\n", i);
		if (pop_cmd(c, cmd) != 0 || (n = pop_multiline(c)) < 0)
			goto fail;
		rep->bytes += n;
	}
	if (pop_cmd(c, "QUIT\r\n") != 0)
		goto fail;
	conn_close(c);
	return 0;
fail:
	conn_close(c);
	return -1;
}

/* One worker process: its share of the sessions, then a report. */
static void worker(int idx, int go_fd, int out_fd)
{
	struct conn *c = malloc(sizeof *c);
	struct lg_report rep = { 0 };
	double *lat = NULL;
	long nlat = 0, cap = 0, s, mine;
	unsigned seed = (unsigned)(getpid() * 2654435761u) ^ (unsigned)idx;
	unsigned long long msgno = 0;
	char dummy;
	size_t *myusers = NULL, nmy = 0, u;

	if (c == NULL)
		die("out of memory");
	mine = opt.sessions / opt.procs + (idx < opt.sessions % opt.procs ? 1 : 0);
	/* POP3: disjoint mailboxes per process, so no session meets IN-USE. */
	myusers = calloc(nusers, sizeof *myusers);
	if (myusers == NULL)
		die("out of memory");
	for (u = 0; u < nusers; u++)
		if (nusers < (size_t)opt.procs || u % (size_t)opt.procs == (size_t)idx)
			myusers[nmy++] = u;
	if (nmy == 0)
		myusers[nmy++] = (size_t)idx % nusers;
	if (read(go_fd, &dummy, 1) < 0)	/* EOF when the parent says go */
		die("read: %s", strerror(errno));
	for (s = 0; s < mine; s++) {
		double t0 = now_mono();
		int r;

		switch (opt.mode) {
		case MODE_SMTP:
			r = run_smtp_session(c, &seed, &msgno, &rep, &lat, &nlat, &cap);
			break;
		case MODE_CONN:
			r = run_conn_session(c);
			if (r == 0)
				rep.ops++;
			break;
		default:
			r = run_pop3_session(c, users[myusers[(size_t)s % nmy]], &rep);
			if (r == 0)
				rep.ops++;
			break;
		}
		if (r != 0)
			rep.errors++;
		else if (opt.mode != MODE_SMTP)
			lat_add(&lat, &nlat, &cap, (now_mono() - t0) * 1e6);
	}
	rep.finish = now_mono();
	rep.nlat = nlat;
	if (write(out_fd, &rep, sizeof rep) != (ssize_t)sizeof rep)
		die("report: %s", strerror(errno));
	if (nlat > 0) {
		const char *p = (const char *)lat;
		size_t left = (size_t)nlat * sizeof *lat;

		while (left > 0) {
			ssize_t w = write(out_fd, p, left);

			if (w <= 0)
				die("report: %s", strerror(errno));
			p += w;
			left -= (size_t)w;
		}
	}
	_exit(0);
}

/* Files in <root>/<domain>/<local>/new of every user in the list. */
static long count_new(const char *root)
{
	long total = 0;
	size_t u;

	for (u = 0; u < nusers; u++) {
		char path[4096];
		const char *at = strrchr(users[u], '@');
		DIR *d;
		struct dirent *e;
		int n;

		if (at == NULL)
			continue;
		n = snprintf(path, sizeof path, "%s/%s/%.*s/new", root, at + 1,
		    (int)(at - users[u]), users[u]);
		if (n < 0 || (size_t)n >= sizeof path)
			continue;
		d = opendir(path);
		if (d == NULL)
			continue;
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				total++;
		closedir(d);
	}
	return total;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, long n, double p)
{
	long i;

	if (n == 0)
		return 0;
	i = (long)(p * (double)(n - 1) + 0.5);
	return v[i];
}

static double cpu_seconds(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru) != 0)
		die("getrusage: %s", strerror(errno));
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static const char *mode_name(void)
{
	static const char *const names[] = {
		[MODE_SMTP] = "smtp", [MODE_CONN] = "conn", [MODE_POP3] = "pop3",
		[MODE_POP3_UIDL] = "pop3-uidl", [MODE_IDLE_SMTP] = "idle-smtp",
		[MODE_IDLE_POP3] = "idle-pop3",
	};
	return names[opt.mode];
}

/*
 * Idle sessions for the memory figure: open them all from this process,
 * bring each to the state wanted, say "ready N" on stdout, then hold them
 * until stdin closes (or opt.hold seconds), QUIT and exit.
 */
static int run_idle(void)
{
	struct conn *cs = calloc((size_t)opt.sessions, sizeof *cs);
	long i, ok = 0;
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	char junk[256];

	if (cs == NULL)
		die("out of memory");
	for (i = 0; i < opt.sessions; i++) {
		struct conn *c = &cs[i];
		int r;

		if (conn_open(c) != 0)
			continue;
		if (opt.mode == MODE_IDLE_SMTP)
			r = smtp_reply(c) == 220 && smtp_cmd(c, "EHLO bench.test\r\n", 250) == 0 ? 0 : -1;
		else
			r = pop_login(c, users[(size_t)i % nusers]);
		if (r != 0) {
			conn_close(c);
			continue;
		}
		ok++;
	}
	printf("ready %ld\n", ok);
	fflush(stdout);
	alarm((unsigned)opt.hold);
	while (poll(&pfd, 1, -1) > 0 || errno == EINTR) {
		ssize_t n = read(0, junk, sizeof junk);

		if (n <= 0)
			break;
	}
	for (i = 0; i < opt.sessions; i++) {
		if (cs[i].fd < 0)
			continue;
		if (opt.mode == MODE_IDLE_SMTP)
			(void)smtp_cmd(&cs[i], "QUIT\r\n", 221);
		else
			(void)pop_cmd(&cs[i], "QUIT\r\n");
		conn_close(&cs[i]);
	}
	return ok == opt.sessions ? 0 : 1;
}

static void usage(void)
{
	fputs("usage: loadgen -M smtp|conn|pop3|pop3-uidl|idle-smtp|idle-pop3\n"
	    "  [-H host] [-p port] [-T] [-c procs] [-n sessions] [-m msgs/session]\n"
	    "  [-s bytes] [-u users-file] [-P password] [-W maildir-root]\n"
	    "  [-t deadline-seconds] [-h hold-seconds] [-q]\n"
	    "-W: after the last reply, wait until the files are in new/ (SMTP)\n", stderr);
	exit(2);
}

static void on_alarm(int sig)
{
	static const char msg[] = "loadgen: deadline reached\n";

	int i;

	(void)sig;
	for (i = 0; i < nworkers; i++)
		if (workers[i] > 0)
			(void)kill(workers[i], SIGKILL);
	(void)write(2, msg, sizeof msg - 1);
	_exit(3);
}

int main(int argc, char **argv)
{
	int ch, i, go[2];
	int outs[LG_MAX_PROCS];
	pid_t pids[LG_MAX_PROCS];
	double t_start, t_end = 0, *all = NULL, cpu;
	long nall = 0, ops = 0, errors = 0, bytes = 0, base = 0, target = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int waited = 0;

	while ((ch = getopt(argc, argv, "M:H:p:Tc:n:m:s:u:P:W:t:h:q")) != -1) {
		switch (ch) {
		case 'M':
			if (strcmp(optarg, "smtp") == 0) opt.mode = MODE_SMTP;
			else if (strcmp(optarg, "conn") == 0) opt.mode = MODE_CONN;
			else if (strcmp(optarg, "pop3") == 0) opt.mode = MODE_POP3;
			else if (strcmp(optarg, "pop3-uidl") == 0) opt.mode = MODE_POP3_UIDL;
			else if (strcmp(optarg, "idle-smtp") == 0) opt.mode = MODE_IDLE_SMTP;
			else if (strcmp(optarg, "idle-pop3") == 0) opt.mode = MODE_IDLE_POP3;
			else usage();
			break;
		case 'H': opt.host = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 'T': opt.tls = 1; break;
		case 'c': opt.procs = atoi(optarg); break;
		case 'n': opt.sessions = atol(optarg); break;
		case 'm': opt.messages = atoi(optarg); break;
		case 's': opt.size = (size_t)atol(optarg); break;
		case 'u': opt.users_path = optarg; break;
		case 'P': opt.password = optarg; break;
		case 'W': opt.maildir_root = optarg; break;
		case 't': opt.deadline = atoi(optarg); break;
		case 'h': opt.hold = atoi(optarg); break;
		case 'q': opt.quiet = 1; break;
		default: usage();
		}
	}
	if (optind != argc || opt.port <= 0 || opt.port > 65535 || opt.procs < 1 ||
	    opt.procs > LG_MAX_PROCS || opt.sessions < 1 || opt.messages < 1 ||
	    opt.size > 64 * 1024 * 1024 || opt.deadline < 1)
		usage();
	if (opt.users_path == NULL) {
		if (opt.mode != MODE_CONN && opt.mode != MODE_IDLE_SMTP)
			die("-u users-file is needed");
		users = calloc(1, sizeof *users);
		users[0] = strdup("nobody@localhost");
		nusers = 1;
	} else {
		users_read(opt.users_path);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm((unsigned)opt.deadline);
	if (opt.tls) {
		ssl_ctx = SSL_CTX_new(TLS_client_method());
		if (ssl_ctx == NULL)
			die("SSL_CTX_new failed");
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
		/* Every connection a full handshake, as a new client makes. */
		SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	}
	if (opt.mode == MODE_IDLE_SMTP || opt.mode == MODE_IDLE_POP3)
		return run_idle();

	if (opt.maildir_root != NULL) {
		base = count_new(opt.maildir_root);
		target = base + opt.sessions * opt.messages;
	}
	if (pipe(go) != 0)
		die("pipe: %s", strerror(errno));
	for (i = 0; i < opt.procs; i++) {
		int out[2];

		if (pipe(out) != 0)
			die("pipe: %s", strerror(errno));
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			nworkers = 0;
			alarm((unsigned)opt.deadline);	/* not inherited */
			close(go[1]);
			close(out[0]);
			worker(i, go[0], out[1]);
		}
		workers[nworkers++] = pids[i];
		close(out[1]);
		outs[i] = out[0];
	}
	close(go[0]);
	usleep(20000);		/* let the workers reach their read() */
	t_start = now_mono();
	close(go[1]);
	for (i = 0; i < opt.procs; i++) {
		struct lg_report rep;
		ssize_t n = read(outs[i], &rep, sizeof rep);

		if (n != (ssize_t)sizeof rep) {
			fprintf(stderr, "loadgen: worker %d gave no report\n", i);
			errors += opt.sessions / opt.procs;
			close(outs[i]);
			continue;
		}
		ops += rep.ops;
		errors += rep.errors;
		bytes += rep.bytes;
		if (rep.finish > t_end)
			t_end = rep.finish;
		if (rep.nlat > 0) {
			size_t want = (size_t)rep.nlat * sizeof *all, got = 0;

			all = realloc(all, (size_t)(nall + rep.nlat) * sizeof *all);
			if (all == NULL)
				die("out of memory");
			while (got < want) {
				ssize_t r = read(outs[i], (char *)(all + nall) + got, want - got);

				if (r <= 0)
					die("short latency report");
				got += (size_t)r;
			}
			nall += rep.nlat;
		}
		close(outs[i]);
	}
	for (i = 0; i < opt.procs; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			errors++;
	}
	if (opt.maildir_root != NULL && errors == 0) {
		/*
		 * Asynchronous delivery (Postfix): the run ends at the last file.
		 * Not after a refused message: that file would never come.
		 */
		long have;

		while ((have = count_new(opt.maildir_root)) < target) {
			if (now_mono() - t_start > opt.deadline - 1) {
				fprintf(stderr, "loadgen: %ld of %ld files in new/\n",
				    have - base, target - base);
				errors += target - have;
				break;
			}
			usleep(2000);
			waited = 1;
		}
		if (waited)
			t_end = now_mono();
	}
	if (t_end <= t_start)
		t_end = now_mono();
	cpu = cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN);
	qsort(all, (size_t)nall, sizeof *all, cmp_double);
	{
		double el = t_end - t_start;
		printf("result mode=%s tls=%d procs=%d ops=%ld errors=%ld elapsed=%.3f "
		    "rate=%.1f p50_ms=%.3f p90_ms=%.3f max_ms=%.3f bytes=%ld "
		    "cpu_s=%.3f cpu_share=%.1f%%\n",
		    mode_name(), opt.tls, opt.procs, ops, errors, el,
		    el > 0 ? ops / el : 0.0, pct(all, nall, 0.5) / 1e3,
		    pct(all, nall, 0.9) / 1e3, nall ? all[nall - 1] / 1e3 : 0.0, bytes,
		    cpu, el > 0 ? 100.0 * cpu / (el * (double)(ncpu > 0 ? ncpu : 1)) : 0.0);
	}
	return errors == 0 ? 0 : 1;
}
