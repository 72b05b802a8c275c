/*
 * milter.c: one filter connection's state machine over the milter protocol
 * version 6 (packets in milter_wire.c), the chain of filters, and the
 * header edits applied to a stored message. Behaviour follows Postfix's
 * milter8 where the protocol descriptions are silent: accept/reject at
 * connect or HELO holds for the session, elsewhere for the message; a
 * reject at RCPT refuses that recipient only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "milter.h"
#include "milter_wire.h"
#include "sys.h"

/* What we implement, so what we offer (SPEC 11: the rest is negotiated away). */
#define OUR_ACTIONS (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | \
	SMFIF_SETSYMLIST)
#define OUR_STEPS (SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | \
	SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOHDRS | SMFIP_NOEOH | \
	SMFIP_NR_HDR | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_SKIP | \
	SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT | \
	SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | SMFIP_NR_BODY)

/*
 * Packets the filter does not answer wait in m->out and go with the next
 * one it does answer (or at QUIT): one write per round trip. Past this
 * much they go at once, so a long body is not held in memory.
 */
#define MILTER_BATCH_MAX 65536

enum mstate {
	M_DEAD,		/* error: every call says MILTER_ERROR */
	M_CONN_DONE,	/* accepted the session: nothing more is sent */
	M_CONN_REFUSED,	/* refused the session: sticky verdict */
	M_READY,	/* connected, no transaction */
	M_TXN,		/* MAIL sent, message in progress */
	M_MSG_DONE,	/* message decided (accept or final): sticky verdict */
};

struct milter {
	const struct milter_conf *conf;
	int fd;
	enum mstate state;
	struct milter_verdict sticky;	/* M_DEAD, M_CONN_REFUSED, M_MSG_DONE */
	unsigned actions, steps;
	char *symlist[SMFIM_COUNT];	/* NULL: send every macro */
	char skip_cmd;			/* after SMFIR_SKIP: drop these */
	struct buf out;
	struct milter_dec dec;
	struct buf body;		/* body bytes (CRLF) not yet sent */
	int body_cr;			/* the last body byte given was CR */
	/* Macro values. */
	char *j, *underscore, *daemon_name, *client_addr, *client_name;
	char *queue_id, *auth_authen, *mail_addr, *rcpt_addr;
};

/* ---- verdicts ---- */

static void verdict_init(struct milter_verdict *v, const struct milter *m)
{
	memset(v, 0, sizeof *v);
	v->action = MILTER_CONTINUE;
	v->filter = m != NULL && m->conf->name != NULL ? m->conf->name : "";
}

/*
 * The connection is of no more use: close it, remember why. Every later
 * call gets the same MILTER_ERROR; logged here, once.
 */
static void fail(struct milter *m, struct milter_verdict *v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct milter *m, struct milter_verdict *v, const char *fmt, ...)
{
	va_list ap;

	verdict_init(&m->sticky, m);
	m->sticky.action = MILTER_ERROR;
	va_start(ap, fmt);
	vsnprintf(m->sticky.why, sizeof m->sticky.why, fmt, ap);
	va_end(ap);
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	m->state = M_DEAD;
	log_warn("milter=%s error=%s", log_q(m->conf->name),
	    log_qtext(m->sticky.why));
	*v = m->sticky;
}

/* ---- I/O with deadlines ---- */

static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd pfd;
	long long left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static long long deadline_of(const struct milter *m)
{
	return now_ms() + 1000LL * (m->conf->timeout > 0 ? m->conf->timeout : 1);
}

/* Send what is queued in m->out. 0, or -1 after fail(). */
static int flush_out(struct milter *m, struct milter_verdict *v)
{
	long long deadline = deadline_of(m);
	size_t off = 0;

	while (off < m->out.len) {
		ssize_t w = send(m->fd, m->out.s + off, m->out.len - off,
		    MSG_NOSIGNAL);

		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    wait_fd(m->fd, POLLOUT, deadline) == 0)
			continue;
		buf_reset(&m->out);
		fail(m, v, "write: %s", strerror(errno == EAGAIN ? ETIMEDOUT : errno));
		return -1;
	}
	buf_reset(&m->out);
	return 0;
}

/* The next reply, waiting up to the timeout. 0, or -1 after fail(). */
static int read_reply(struct milter *m, struct milter_reply *r,
    struct milter_verdict *v)
{
	long long deadline = deadline_of(m);
	char err[128];
	char tmp[8192];

	for (;;) {
		int s = milter_dec_next(&m->dec, r, err, sizeof err);
		ssize_t n;

		if (s > 0)
			return 0;
		if (s < 0) {
			fail(m, v, "protocol: %s", err);
			return -1;
		}
		if (wait_fd(m->fd, POLLIN, deadline) < 0) {
			fail(m, v, "%s", errno == ETIMEDOUT ?
			    "timeout waiting for a reply" : strerror(errno));
			return -1;
		}
		n = read(m->fd, tmp, sizeof tmp);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			fail(m, v, "%s", n == 0 ? "connection closed by the filter" :
			    strerror(errno));
			return -1;
		}
		milter_dec_feed(&m->dec, tmp, (size_t)n);
	}
}

/* ---- connecting ---- */

/* "unix:/path", "[v6]:port" or "host:port" into a socket address. */
static int parse_address(const char *a, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen)
{
	struct addrinfo hints, *res;
	char host[256];
	const char *colon;
	int rc;

	if (strncmp(a, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;

		memset(un, 0, sizeof *un);
		un->sun_family = AF_UNIX;
		if (a[5] == '\0' || str_copy(un->sun_path, sizeof un->sun_path,
		    a + 5) < 0) {
			seterr(err, errlen, "bad unix socket path");
			return -1;
		}
		*len = sizeof *un;
		return 0;
	}
	if (a[0] == '[') {
		const char *e = strchr(a, ']');

		if (e == NULL || e[1] != ':' || (size_t)(e - a - 1) >= sizeof host) {
			seterr(err, errlen, "bad address");
			return -1;
		}
		memcpy(host, a + 1, (size_t)(e - a - 1));
		host[e - a - 1] = '\0';
		colon = e + 1;
	} else {
		colon = strrchr(a, ':');
		if (colon == NULL || (size_t)(colon - a) >= sizeof host) {
			seterr(err, errlen, "bad address (host:port or unix:/path)");
			return -1;
		}
		memcpy(host, a, (size_t)(colon - a));
		host[colon - a] = '\0';
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0) {
		seterr(err, errlen, "%s", gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * Each write is a whole batch followed by a wait for the filter's answer:
 * Nagle's algorithm would hold its last segment until the filter's
 * delayed ACK (40 ms on Linux) when the one before is not yet acknowledged.
 */
static void nodelay(int fd, int family)
{
	int on = 1;

	if (family == AF_INET || family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

/* A non-blocking socket connected within the timeout, or -1 (err). */
static int connect_to(const struct milter *m, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, soerr = 0;
	socklen_t sl = sizeof soerr;

	if (parse_address(m->conf->address, &ss, &len, err, errlen) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		seterr(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		if (errno != EINPROGRESS) {
			seterr(err, errlen, "connect: %s", strerror(errno));
			close(fd);
			return -1;
		}
		if (wait_fd(fd, POLLOUT, deadline_of(m)) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
		    soerr != 0) {
			seterr(err, errlen, "connect: %s",
			    strerror(soerr != 0 ? soerr : errno));
			close(fd);
			return -1;
		}
	}
	nodelay(fd, ss.ss_family);
	return fd;
}

/* Negotiate (SMFIC_OPTNEG). 0, or -1 after fail(). */
static int negotiate(struct milter *m, struct milter_verdict *v)
{
	struct milter_reply r;
	int i;

	milter_enc_optneg(&m->out, SMFI_PROT_VERSION, OUR_ACTIONS, OUR_STEPS);
	if (flush_out(m, v) < 0 || read_reply(m, &r, v) < 0)
		return -1;
	if (r.type != MR_OPTNEG) {
		fail(m, v, "negotiation: the filter replied %s",
		    milter_reply_name(r.type));
		return -1;
	}
	if (r.version < 2 || r.version > SMFI_PROT_VERSION) {
		fail(m, v, "negotiation: protocol version %u", (unsigned)r.version);
		return -1;
	}
	/* What the filter asked for and we did not offer is masked off. */
	m->actions = r.actions & OUR_ACTIONS;
	m->steps = r.protocol & OUR_STEPS;
	if (m->actions & SMFIF_SETSYMLIST)
		for (i = 0; i < SMFIM_COUNT; i++)
			if (r.symlist[i][0] != '\0')
				m->symlist[i] = xstrdup(r.symlist[i]);
	log_debug("milter=%s version=%u actions=0x%x steps=0x%x asked=0x%x/0x%x",
	    log_q(m->conf->name), (unsigned)r.version, m->actions, m->steps,
	    (unsigned)r.actions, (unsigned)r.protocol);
	return 0;
}

/* ---- macros ---- */

static int stage_of(char cmd)
{
	switch (cmd) {
	case SMFIC_CONNECT: return SMFIM_CONNECT;
	case SMFIC_HELO: return SMFIM_HELO;
	case SMFIC_MAIL: return SMFIM_ENVFROM;
	case SMFIC_RCPT: return SMFIM_ENVRCPT;
	case SMFIC_DATA: return SMFIM_DATA;
	case SMFIC_EOH: return SMFIM_EOH;
	case SMFIC_BODYEOB: return SMFIM_EOM;
	default: return -1;
	}
}

/* "{mail_addr}" and "mail_addr" are the same macro in a SETSYMLIST list. */
static int symlist_has(const char *list, const char *name)
{
	size_t nl;
	const char *p = list;

	if (name[0] == '{')
		name++;
	nl = strcspn(name, "}");
	while (*p != '\0') {
		size_t n;

		p += strspn(p, " ,\t");
		n = strcspn(p, " ,\t");
		if (n > 0) {
			const char *w = p;
			size_t wn = n;

			if (w[0] == '{' && w[wn - 1] == '}') {
				w++;
				wn -= 2;
			}
			if (wn == nl && strncmp(w, name, nl) == 0)
				return 1;
		}
		p += n;
	}
	return 0;
}

/* Queue the SMFIC_MACRO packet for cmd, if it has any macro to send. */
static void queue_macros(struct milter *m, char cmd)
{
	const char *all[10][2];
	const char *pairs[20];
	size_t n = 0, k = 0, i;
	int stage = stage_of(cmd);

	/* An unknown queue id is left out rather than sent empty. */
	const char *qid = m->queue_id != NULL && m->queue_id[0] != '\0' ?
	    m->queue_id : NULL;

#define MAC(nm, val) do { if ((val) != NULL) { all[n][0] = (nm); \
	all[n][1] = (val); n++; } } while (0)
	switch (cmd) {
	case SMFIC_CONNECT:
		MAC("j", m->j);
		MAC("_", m->underscore);
		MAC("{daemon_name}", m->daemon_name);
		MAC("{client_addr}", m->client_addr);
		MAC("{client_name}", m->client_name);
		break;
	case SMFIC_MAIL:
		MAC("i", qid);
		MAC("{auth_authen}", m->auth_authen);
		MAC("{mail_addr}", m->mail_addr);
		break;
	case SMFIC_RCPT:
		MAC("{rcpt_addr}", m->rcpt_addr);
		break;
	case SMFIC_DATA:
	case SMFIC_EOH:
	case SMFIC_BODYEOB:
		MAC("i", qid);
		break;
	default:
		break;
	}
#undef MAC
	for (i = 0; i < n; i++) {
		if (stage >= 0 && m->symlist[stage] != NULL &&
		    !symlist_has(m->symlist[stage], all[i][0]))
			continue;
		pairs[2 * k] = all[i][0];
		pairs[2 * k + 1] = all[i][1];
		k++;
	}
	if (k > 0)
		milter_enc_macro(&m->out, cmd, pairs, k);
}

/* ---- events ---- */

/* The "do not send" and "no reply" steps of each command. */
static void steps_of(char cmd, unsigned *no, unsigned *nr)
{
	*no = *nr = 0;
	switch (cmd) {
	case SMFIC_CONNECT: *no = SMFIP_NOCONNECT; *nr = SMFIP_NR_CONN; break;
	case SMFIC_HELO: *no = SMFIP_NOHELO; *nr = SMFIP_NR_HELO; break;
	case SMFIC_MAIL: *no = SMFIP_NOMAIL; *nr = SMFIP_NR_MAIL; break;
	case SMFIC_RCPT: *no = SMFIP_NORCPT; *nr = SMFIP_NR_RCPT; break;
	case SMFIC_DATA: *no = SMFIP_NODATA; *nr = SMFIP_NR_DATA; break;
	case SMFIC_HEADER: *no = SMFIP_NOHDRS; *nr = SMFIP_NR_HDR; break;
	case SMFIC_EOH: *no = SMFIP_NOEOH; *nr = SMFIP_NR_EOH; break;
	case SMFIC_BODY: *no = SMFIP_NOBODY; *nr = SMFIP_NR_BODY; break;
	default: break;
	}
}

/* Sendmail's replies are format strings: "%%" is a percent sign. */
static void copy_reply(char *dst, size_t dstlen, const char *src)
{
	size_t o = 0;

	for (; *src != '\0' && o + 1 < dstlen; src++) {
		if (*src == '%' && src[1] == '%')
			src++;
		else if (*src == '%')
			continue;
		dst[o++] = *src;
	}
	dst[o] = '\0';
}

/* A header edit from the filter, checked and kept. 0, or -1 after fail(). */
static int take_edit(struct milter *m, const struct milter_reply *r,
    struct milter_edits *edits, struct milter_verdict *v)
{
	struct milter_edit *e;
	unsigned need = r->type == MR_CHGHEADER ? SMFIF_CHGHDRS : SMFIF_ADDHDRS;
	char *p, *q;

	if (!(m->actions & need)) {
		fail(m, v, "%s without the action negotiated",
		    milter_reply_name(r->type));
		return -1;
	}
	if (!milter_header_ok(r->name, r->value)) {
		fail(m, v, "%s: malformed header", milter_reply_name(r->type));
		return -1;
	}
	edits->v = xreallocarray(edits->v, edits->n + 1, sizeof *edits->v);
	e = &edits->v[edits->n++];
	e->op = r->type == MR_ADDHEADER ? MILTER_EDIT_ADD :
	    r->type == MR_INSHEADER ? MILTER_EDIT_INSERT : MILTER_EDIT_CHANGE;
	/* Sendmail compatibility: change index 0 is the first field. */
	e->index = r->type == MR_CHGHEADER && r->index == 0 ? 1 : r->index;
	e->name = xstrdup(r->name);
	e->value = xstrdup(r->value);
	for (p = q = e->value; *p != '\0'; p++)
		if (!(*p == '\r' && p[1] == '\n'))
			*q++ = *p;
	*q = '\0';
	return 0;
}

/*
 * Replies to cmd until a decision: progress waits on, quarantine and
 * header edits (end of message only) are collected. 0 with v set, or -1
 * after fail().
 */
static int await_decision(struct milter *m, char cmd, struct milter_verdict *v,
    struct milter_edits *edits)
{
	struct milter_reply r;

	for (;;) {
		if (read_reply(m, &r, v) < 0)
			return -1;
		switch (r.type) {
		case MR_PROGRESS:
			continue;
		case MR_QUARANTINE:
			if (!(m->actions & SMFIF_QUARANTINE)) {
				fail(m, v, "quarantine without the action negotiated");
				return -1;
			}
			if (!v->quarantine)
				str_copy(v->quarantine_reason,
				    sizeof v->quarantine_reason, r.text);
			v->quarantine = 1;
			continue;
		case MR_ADDHEADER:
		case MR_INSHEADER:
		case MR_CHGHEADER:
			if (cmd != SMFIC_BODYEOB || edits == NULL) {
				fail(m, v, "%s before the end of the message",
				    milter_reply_name(r.type));
				return -1;
			}
			if (take_edit(m, &r, edits, v) < 0)
				return -1;
			continue;
		case MR_CONTINUE:
			v->action = MILTER_CONTINUE;
			return 0;
		case MR_ACCEPT:
			v->action = MILTER_ACCEPT;
			return 0;
		case MR_REJECT:
			v->action = MILTER_REJECT;
			return 0;
		case MR_TEMPFAIL:
		case MR_SHUTDOWN:
		case MR_CONN_FAIL:
			v->action = MILTER_TEMPFAIL;
			return 0;
		case MR_DISCARD:
			v->action = MILTER_DISCARD;
			return 0;
		case MR_SKIP:
			m->skip_cmd = cmd;
			v->action = MILTER_CONTINUE;
			return 0;
		case MR_REPLYCODE:
			if (!milter_replycode_ok(r.text)) {
				fail(m, v, "malformed reply code");
				return -1;
			}
			v->action = MILTER_REPLY;
			copy_reply(v->reply, sizeof v->reply, r.text);
			return 0;
		default:
			/* Recipient, sender and body changes: never granted. */
			fail(m, v, "%s, not negotiated", milter_reply_name(r.type));
			return -1;
		}
	}
}

/*
 * Say goodbye on a connection the session no longer needs: best effort,
 * never waiting (the filter learns the same from the close).
 */
static void quit(struct milter *m)
{
	if (m->fd < 0)
		return;
	/* What is still batched goes first, in the same write. */
	milter_enc_simple(&m->out, SMFIC_QUIT);
	(void)send(m->fd, m->out.s, m->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	buf_reset(&m->out);
	close(m->fd);
	m->fd = -1;
}

/*
 * What a decision at cmd means for the connection: at connect or HELO
 * it holds for the session, elsewhere for the message (but a reject at
 * RCPT only refuses the recipient).
 */
static void settle(struct milter *m, char cmd, struct milter_verdict *v)
{
	int conn = cmd == SMFIC_CONNECT || cmd == SMFIC_HELO;

	switch (v->action) {
	case MILTER_CONTINUE:
		return;
	case MILTER_ACCEPT:
		if (conn) {
			m->state = M_CONN_DONE;
			quit(m);
		} else {
			m->state = M_MSG_DONE;
			m->sticky = *v;
		}
		if (!conn)
			m->sticky.action = MILTER_CONTINUE;
		return;
	case MILTER_DISCARD:
		if (conn) {
			/* Not defined for a connection (Postfix ignores it). */
			log_warn("milter=%s discard at connect or HELO ignored",
			    log_q(m->conf->name));
			v->action = MILTER_CONTINUE;
			return;
		}
		break;
	default:
		if (cmd == SMFIC_RCPT)
			return;
		break;
	}
	if (conn) {
		m->state = M_CONN_REFUSED;
		m->sticky = *v;
		quit(m);
	} else {
		m->state = M_MSG_DONE;
		m->sticky = *v;
	}
}

/*
 * Send cmd (already encoded in pkt, its macros first) unless the filter
 * asked not to have it, and wait for the decision unless it asked not to
 * reply. What needs no reply is batched (MILTER_BATCH_MAX).
 */
static void event(struct milter *m, char cmd, const struct buf *pkt,
    struct milter_verdict *v, struct milter_edits *edits)
{
	unsigned no, nr;

	verdict_init(v, m);
	switch (m->state) {
	case M_DEAD:
	case M_CONN_REFUSED:
	case M_MSG_DONE:
		*v = m->sticky;
		return;
	case M_CONN_DONE:
		return;
	default:
		break;
	}
	if (m->skip_cmd != 0 && m->skip_cmd != cmd)
		m->skip_cmd = 0;
	if (m->skip_cmd == cmd)
		return;
	steps_of(cmd, &no, &nr);
	if (m->steps & no)
		return;
	queue_macros(m, cmd);
	buf_append(&m->out, pkt->s, pkt->len);
	if ((m->steps & nr) && m->out.len < MILTER_BATCH_MAX)
		return;
	if (flush_out(m, v) < 0 || (m->steps & nr))
		return;
	if (await_decision(m, cmd, v, edits) < 0)
		return;
	settle(m, cmd, v);
}

/* ---- the API, one filter ---- */

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = dup_or_null(s);
}

struct milter *milter_open(const struct milter_conf *conf,
    const struct milter_conn *conn, struct milter_verdict *v)
{
	struct milter *m = xcalloc(1, sizeof *m);
	struct buf pkt = BUF_INIT;
	const char *addr = conn->client_addr != NULL ? conn->client_addr : "";
	int known = conn->client_name != NULL && conn->client_name[0] != '\0';
	char family;
	char err[256];

	m->conf = conf;
	m->fd = -1;
	m->state = M_READY;
	buf_init(&m->out);
	buf_init(&m->body);
	milter_dec_init(&m->dec);
	m->j = dup_or_null(conn->hostname);
	m->daemon_name = dup_or_null(conn->daemon_name);
	m->client_addr = xstrdup(addr);
	m->client_name = xstrdup(known ? conn->client_name : "unknown");
	buf_printf(&pkt, "%s [%s]", m->client_name, addr);
	m->underscore = buf_steal(&pkt);
	m->queue_id = xstrdup("");

	verdict_init(v, m);
	if ((m->fd = connect_to(m, err, sizeof err)) < 0) {
		fail(m, v, "%s: %s", conf->address, err);
		return m;
	}
	if (negotiate(m, v) < 0)
		return m;
	switch (conn->client_family) {
	case AF_INET: family = SMFIA_INET; break;
	case AF_INET6: family = SMFIA_INET6; break;
	case AF_UNIX: family = SMFIA_UNIX; break;
	default: family = SMFIA_UNKNOWN; break;
	}
	/* An unknown name goes as "[addr]", as Sendmail and Postfix send it. */
	if (known)
		buf_appends(&pkt, conn->client_name);
	else
		buf_printf(&pkt, "[%s]", addr);
	{
		char *host = buf_steal(&pkt);

		milter_enc_connect(&pkt, host, family,
		    family == SMFIA_UNIX ? 0 : conn->client_port, addr);
		free(host);
	}
	event(m, SMFIC_CONNECT, &pkt, v, NULL);
	buf_free(&pkt);
	return m;
}

void milter_helo(struct milter *m, const char *helo, struct milter_verdict *v)
{
	struct buf pkt = BUF_INIT;

	milter_enc_helo(&pkt, helo);
	event(m, SMFIC_HELO, &pkt, v, NULL);
	buf_free(&pkt);
}

void milter_set_queue_id(struct milter *m, const char *id)
{
	set_str(&m->queue_id, id != NULL ? id : "");
}

void milter_mail(struct milter *m, const char *sender, const char *const *args,
    const char *auth_authen, struct milter_verdict *v)
{
	struct buf pkt = BUF_INIT;

	milter_abort(m);
	if (m->state == M_READY)
		m->state = M_TXN;
	set_str(&m->queue_id, "");
	set_str(&m->mail_addr, sender);
	set_str(&m->auth_authen, auth_authen != NULL && auth_authen[0] != '\0' ?
	    auth_authen : NULL);
	milter_enc_envelope(&pkt, SMFIC_MAIL, sender, args);
	event(m, SMFIC_MAIL, &pkt, v, NULL);
	buf_free(&pkt);
}

void milter_rcpt(struct milter *m, const char *rcpt, const char *const *args,
    struct milter_verdict *v)
{
	struct buf pkt = BUF_INIT;

	set_str(&m->rcpt_addr, rcpt);
	milter_enc_envelope(&pkt, SMFIC_RCPT, rcpt, args);
	event(m, SMFIC_RCPT, &pkt, v, NULL);
	buf_free(&pkt);
}

void milter_data(struct milter *m, struct milter_verdict *v)
{
	struct buf pkt = BUF_INIT;

	milter_enc_simple(&pkt, SMFIC_DATA);
	event(m, SMFIC_DATA, &pkt, v, NULL);
	buf_free(&pkt);
}

void milter_header(struct milter *m, const char *name, const char *value,
    struct milter_verdict *v)
{
	struct buf pkt = BUF_INIT;

	milter_enc_header(&pkt, name, value[0] == ' ' ? value + 1 : value);
	event(m, SMFIC_HEADER, &pkt, v, NULL);
	buf_free(&pkt);
}

void milter_eoh(struct milter *m, struct milter_verdict *v)
{
	struct buf pkt = BUF_INIT;

	milter_enc_simple(&pkt, SMFIC_EOH);
	event(m, SMFIC_EOH, &pkt, v, NULL);
	buf_free(&pkt);
}

/* One SMFIC_BODY packet of the first n bytes of m->body. */
static void send_chunk(struct milter *m, size_t n, struct milter_verdict *v)
{
	struct buf pkt = BUF_INIT;

	milter_enc_body(&pkt, m->body.s, n);
	buf_consume(&m->body, n);
	event(m, SMFIC_BODY, &pkt, v, NULL);
	buf_free(&pkt);
}

void milter_body(struct milter *m, const void *p, size_t n,
    struct milter_verdict *v)
{
	const char *s = p;
	size_t i;

	verdict_init(v, m);
	for (i = 0; i < n; i++) {
		if (s[i] == '\n' && !m->body_cr)
			buf_appendc(&m->body, '\r');
		buf_appendc(&m->body, s[i]);
		m->body_cr = s[i] == '\r';
		if (m->body.len >= MILTER_CHUNK_SIZE) {
			send_chunk(m, MILTER_CHUNK_SIZE, v);
			if (v->action != MILTER_CONTINUE)
				return;
		}
	}
}

void milter_eom(struct milter *m, struct milter_verdict *v,
    struct milter_edits *edits)
{
	struct buf pkt = BUF_INIT;

	verdict_init(v, m);
	if (m->body.len > 0)
		send_chunk(m, m->body.len, v);
	buf_reset(&m->body);
	m->body_cr = 0;
	if (m->state == M_MSG_DONE) {
		/* Decided before the end: the filter hears ABORT, not EOM. */
		*v = m->sticky;
		milter_abort(m);
		return;
	}
	if (v->action != MILTER_CONTINUE)
		return;
	milter_enc_simple(&pkt, SMFIC_BODYEOB);
	event(m, SMFIC_BODYEOB, &pkt, v, edits);
	buf_free(&pkt);
	/* The message is over: the next MAIL starts afresh. */
	if (m->state == M_TXN || m->state == M_MSG_DONE)
		m->state = M_READY;
}

void milter_abort(struct milter *m)
{
	struct milter_verdict ignored;

	buf_reset(&m->body);
	m->body_cr = 0;
	m->skip_cmd = 0;
	if (m->state != M_TXN && m->state != M_MSG_DONE)
		return;
	m->state = M_READY;
	/* No reply to an abort: it goes with the next batch. */
	milter_enc_simple(&m->out, SMFIC_ABORT);
	if (m->out.len >= MILTER_BATCH_MAX)
		(void)flush_out(m, &ignored);
}

void milter_close(struct milter *m)
{
	int i;

	if (m == NULL)
		return;
	quit(m);
	buf_free(&m->out);
	buf_free(&m->body);
	milter_dec_free(&m->dec);
	for (i = 0; i < SMFIM_COUNT; i++)
		free(m->symlist[i]);
	free(m->j);
	free(m->underscore);
	free(m->daemon_name);
	free(m->client_addr);
	free(m->client_name);
	free(m->queue_id);
	free(m->auth_authen);
	free(m->mail_addr);
	free(m->rcpt_addr);
	free(m);
}

unsigned milter_protocol(const struct milter *m)
{
	return m->steps;
}

unsigned milter_actions(const struct milter *m)
{
	return m->actions;
}

/* ---- header fields of a stored message ---- */

/* One field: where it starts, its length with the final LF. */
struct field {
	const char *p;
	size_t len;
	char *own;		/* a field made here, freed after */
};

/*
 * Split the header of msg into fields (a field runs on over lines that
 * start with a space or tab). Returns the offset where the header ends
 * (at its empty line, or len).
 */
static size_t split_fields(const char *msg, size_t len, struct field **fv,
    size_t *fn)
{
	size_t i = 0;

	*fv = NULL;
	*fn = 0;
	while (i < len && msg[i] != '\n' && !(msg[i] == '\r' && i + 1 < len &&
	    msg[i + 1] == '\n')) {
		size_t start = i;

		do {
			const char *nl = memchr(msg + i, '\n', len - i);

			i = nl != NULL ? (size_t)(nl - msg) + 1 : len;
		} while (i < len && (msg[i] == ' ' || msg[i] == '\t'));
		*fv = xreallocarray(*fv, *fn + 1, sizeof **fv);
		(*fv)[*fn].p = msg + start;
		(*fv)[*fn].len = i - start;
		(*fv)[*fn].own = NULL;
		(*fn)++;
	}
	return i;
}

/* Is field f named name (case-insensitive, spaces before the colon ok)? */
static int field_is(const struct field *f, const char *name)
{
	size_t n = strlen(name), k;

	if (f->len < n + 1 || strncasecmp(f->p, name, n) != 0)
		return 0;
	for (k = n; k < f->len && (f->p[k] == ' ' || f->p[k] == '\t'); k++)
		;
	return k < f->len && f->p[k] == ':';
}

static char *make_field(const char *name, const char *value)
{
	struct buf b = BUF_INIT;

	buf_appends(&b, name);
	buf_appendc(&b, ':');
	if (value[0] != '\0') {
		buf_appendc(&b, ' ');
		buf_appends(&b, value);
	}
	buf_appendc(&b, '\n');
	return buf_steal(&b);
}

static void field_insert(struct field **fv, size_t *fn, size_t at, char *own)
{
	*fv = xreallocarray(*fv, *fn + 1, sizeof **fv);
	memmove(*fv + at + 1, *fv + at, (*fn - at) * sizeof **fv);
	(*fv)[at].p = own;
	(*fv)[at].len = strlen(own);
	(*fv)[at].own = own;
	(*fn)++;
}

static void apply_one(const struct milter_edit *e, struct field **fv, size_t *fn)
{
	size_t i, seen = 0;

	if (e->op == MILTER_EDIT_ADD) {
		field_insert(fv, fn, *fn, make_field(e->name, e->value));
		return;
	}
	if (e->op == MILTER_EDIT_INSERT) {
		field_insert(fv, fn, e->index < *fn ? e->index : *fn,
		    make_field(e->name, e->value));
		return;
	}
	for (i = 0; i < *fn; i++) {
		if (!field_is(&(*fv)[i], e->name) || ++seen != e->index)
			continue;
		free((*fv)[i].own);
		if (e->value[0] == '\0') {
			memmove(*fv + i, *fv + i + 1, (*fn - i - 1) * sizeof **fv);
			(*fn)--;
		} else {
			(*fv)[i].own = make_field(e->name, e->value);
			(*fv)[i].p = (*fv)[i].own;
			(*fv)[i].len = strlen((*fv)[i].own);
		}
		return;
	}
	if (e->value[0] != '\0')
		field_insert(fv, fn, *fn, make_field(e->name, e->value));
}

void milter_edits_apply(const struct milter_edits *e, const char *msg,
    size_t len, struct buf *out)
{
	struct field *fv;
	size_t fn, i;
	size_t end = split_fields(msg, len, &fv, &fn);

	for (i = 0; e != NULL && i < e->n; i++)
		apply_one(&e->v[i], &fv, &fn);
	for (i = 0; i < fn; i++) {
		buf_append(out, fv[i].p, fv[i].len);
		/* A last field without its LF gets one before what follows. */
		if (fv[i].len > 0 && fv[i].p[fv[i].len - 1] != '\n' &&
		    (i + 1 < fn || end < len))
			buf_appendc(out, '\n');
		free(fv[i].own);
	}
	free(fv);
	buf_append(out, msg + end, len - end);
}

void milter_edits_free(struct milter_edits *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		free(e->v[i].name);
		free(e->v[i].value);
	}
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

/* ---- the chain ---- */

struct milter_chain {
	const struct milter_conf *confs;
	struct milter **m;	/* NULL: left out for the session */
	size_t n;
};

enum chain_stage { CH_HELO, CH_MAIL, CH_RCPT, CH_DATA, CH_HEADER, CH_EOH,
	CH_BODY, CH_EOM };

struct chain_args {
	enum chain_stage stage;
	const char *s1, *s2;
	const char *const *args;
	const void *p;
	size_t n;
	struct milter_edits *edits;
};

static void one(struct milter *m, const struct chain_args *a,
    struct milter_verdict *v)
{
	switch (a->stage) {
	case CH_HELO: milter_helo(m, a->s1, v); break;
	case CH_MAIL: milter_mail(m, a->s1, a->args, a->s2, v); break;
	case CH_RCPT: milter_rcpt(m, a->s1, a->args, v); break;
	case CH_DATA: milter_data(m, v); break;
	case CH_HEADER: milter_header(m, a->s1, a->s2, v); break;
	case CH_EOH: milter_eoh(m, v); break;
	case CH_BODY: milter_body(m, a->p, a->n, v); break;
	case CH_EOM: milter_eom(m, v, a->edits); break;
	}
}

/*
 * One filter's verdict into the chain's: 1 when the chain stops here.
 * An error becomes the filter's on_error.
 */
static int chain_merge(struct milter_chain *c, size_t i,
    struct milter_verdict *fv, struct milter_verdict *v)
{
	if (fv->quarantine && !v->quarantine) {
		v->quarantine = 1;
		memcpy(v->quarantine_reason, fv->quarantine_reason,
		    sizeof v->quarantine_reason);
	}
	switch (fv->action) {
	case MILTER_CONTINUE:
	case MILTER_ACCEPT:
		return 0;
	case MILTER_ERROR:
		if (c->confs[i].on_error == MILTER_ON_ERROR_ACCEPT) {
			milter_close(c->m[i]);
			c->m[i] = NULL;
			return 0;
		}
		v->action = MILTER_TEMPFAIL;
		memcpy(v->why, fv->why, sizeof v->why);
		v->filter = fv->filter;
		return 1;
	default:
		v->action = fv->action;
		memcpy(v->reply, fv->reply, sizeof v->reply);
		v->filter = fv->filter;
		return 1;
	}
}

static void chain_run(struct milter_chain *c, const struct chain_args *a,
    struct milter_verdict *v)
{
	struct milter_verdict fv;
	size_t i;

	verdict_init(v, NULL);
	for (i = 0; i < c->n; i++) {
		if (c->m[i] == NULL)
			continue;
		one(c->m[i], a, &fv);
		if (chain_merge(c, i, &fv, v))
			return;
	}
}

struct milter_chain *milter_chain_open(const struct milter_conf *confs,
    size_t n, const struct milter_conn *conn, struct milter_verdict *v)
{
	struct milter_chain *c = xcalloc(1, sizeof *c);
	struct milter_verdict fv;
	size_t i;

	c->confs = confs;
	c->n = n;
	c->m = xcalloc(n > 0 ? n : 1, sizeof *c->m);
	verdict_init(v, NULL);
	for (i = 0; i < n; i++) {
		c->m[i] = milter_open(&confs[i], conn, &fv);
		if (chain_merge(c, i, &fv, v))
			break;
	}
	return c;
}

void milter_chain_helo(struct milter_chain *c, const char *helo,
    struct milter_verdict *v)
{
	struct chain_args a = { CH_HELO, helo, NULL, NULL, NULL, 0, NULL };

	chain_run(c, &a, v);
}

void milter_chain_mail(struct milter_chain *c, const char *sender,
    const char *const *args, const char *auth_authen, struct milter_verdict *v)
{
	struct chain_args a = { CH_MAIL, sender, auth_authen, args, NULL, 0, NULL };

	chain_run(c, &a, v);
}

void milter_chain_set_queue_id(struct milter_chain *c, const char *id)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->m[i] != NULL)
			milter_set_queue_id(c->m[i], id);
}

void milter_chain_rcpt(struct milter_chain *c, const char *rcpt,
    const char *const *args, struct milter_verdict *v)
{
	struct chain_args a = { CH_RCPT, rcpt, NULL, args, NULL, 0, NULL };

	chain_run(c, &a, v);
}

void milter_chain_data(struct milter_chain *c, struct milter_verdict *v)
{
	struct chain_args a = { CH_DATA, NULL, NULL, NULL, NULL, 0, NULL };

	chain_run(c, &a, v);
}

void milter_chain_headers(struct milter_chain *c, const char *hdr, size_t len,
    struct milter_verdict *v)
{
	struct chain_args a = { CH_HEADER, NULL, NULL, NULL, NULL, 0, NULL };
	struct field *fv;
	size_t fn, i;

	split_fields(hdr, len, &fv, &fn);
	verdict_init(v, NULL);
	for (i = 0; i < fn && v->action == MILTER_CONTINUE; i++) {
		const char *colon = memchr(fv[i].p, ':', fv[i].len);
		size_t nl, vl;
		char *name, *value;

		if (colon == NULL)
			continue;	/* not a field: nothing to show */
		for (nl = (size_t)(colon - fv[i].p); nl > 0 &&
		    (fv[i].p[nl - 1] == ' ' || fv[i].p[nl - 1] == '\t'); nl--)
			;
		vl = fv[i].len - (size_t)(colon + 1 - fv[i].p);
		if (vl > 0 && colon[vl] == '\n')
			vl--;
		name = xstrndup(fv[i].p, nl);
		value = xstrndup(colon + 1, vl);
		a.s1 = name;
		a.s2 = value;
		chain_run(c, &a, v);
		free(name);
		free(value);
	}
	free(fv);
	if (v->action == MILTER_CONTINUE) {
		a.stage = CH_EOH;
		chain_run(c, &a, v);
	}
}

void milter_chain_body(struct milter_chain *c, const void *p, size_t n,
    struct milter_verdict *v)
{
	struct chain_args a = { CH_BODY, NULL, NULL, NULL, p, n, NULL };

	chain_run(c, &a, v);
}

void milter_chain_eom(struct milter_chain *c, struct milter_verdict *v,
    struct milter_edits *edits)
{
	struct chain_args a = { CH_EOM, NULL, NULL, NULL, NULL, 0, edits };

	chain_run(c, &a, v);
}

void milter_chain_abort(struct milter_chain *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->m[i] != NULL)
			milter_abort(c->m[i]);
}

void milter_chain_close(struct milter_chain *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		milter_close(c->m[i]);
	free(c->m);
	free(c);
}
