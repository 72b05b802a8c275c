/*
 * log.c: key=value lines to syslog (facility mail) or to stderr with -f
 * (docs/PROTOCOL.md, logs). The session or queue id set by log_set_id()
 * starts each line, so one grep follows a connection from accept to close.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

static int log_stderr;
static int log_level = LOG_DEBUG;
static char log_ident[32] = "ispmaild";
static char log_id[40];

void log_open(const char *ident, int to_stderr)
{
	str_copy(log_ident, sizeof log_ident, ident);
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_level(int prio)
{
	log_level = prio;
}

void log_set_id(const char *id)
{
	if (id == NULL)
		log_id[0] = '\0';
	else
		str_copy(log_id, sizeof log_id, id);
}

static const char *prio_name(int prio)
{
	switch (prio) {
	case LOG_DEBUG: return "debug";
	case LOG_INFO: return "info";
	case LOG_WARNING: return "warning";
	case LOG_ERR: return "error";
	default: return "fatal";
	}
}

static void log_vmsg(int prio, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void log_vmsg(int prio, const char *fmt, va_list ap)
{
	char line[2048];
	int n = 0;

	if (log_id[0])
		n = snprintf(line, sizeof line, "%s ", log_id);
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	/* Truncation is acceptable for a log line; it never overflows. */
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	if (log_stderr) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s[%ld]: %s: %s\n", stamp,
		    ts.tv_nsec / 1000000, log_ident, (long)getpid(),
		    prio_name(prio), line);
		fflush(stderr);
	} else {
		syslog(prio, "%s", line);
	}
}

/*
 * errno is kept: callers log an error and then choose their reply by it
 * (452 for a full disk, 451 otherwise), and a log line that cannot be
 * written (stderr a broken pipe or full, syslog away) must not change that.
 */
void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (prio > log_level)
		return;
	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

/* A byte that cannot stand bare in a key=value token. */
static int needs_quote(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || c == '"' || c == '=' || c == '\\';
}

/*
 * The one escaper behind log_quote and log_escape: '"' as \", '\' as
 * \\, bytes below 0x20 and from 0x7f as \xNN. quote: the result is a
 * value of its own, bare when it is a plain token, else in quotes; not
 * quote: text for inside quotes the format already has. What does not fit
 * in out ends in "...".
 */
static const char *escape_into(const char *s, size_t len, char *out,
    size_t outlen, int quote)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	int q = 0;

	if (outlen < 16) {
		if (outlen)
			out[0] = '\0';
		return out;
	}
	for (i = 0; quote && i < len && !q; i++)
		q = needs_quote((unsigned char)s[i]);
	if (q)
		out[o++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = (c < 0x20 || c >= 0x7f) ? 4 :
		    (c == '\\' || c == '"') ? 2 : 1;

		if (o + need + 5 > outlen)	/* room for ..." and NUL */
			break;
		if (need == 4) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			if (need == 2)
				out[o++] = '\\';
			out[o++] = (char)c;
		}
	}
	if (i < len) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	if (q)
		out[o++] = '"';
	out[o] = '\0';
	return out;
}

const char *log_quote(const char *s, size_t len, char *out, size_t outlen)
{
	return escape_into(s, len, out, outlen, 1);
}

const char *log_escape(const char *s, size_t len, char *out, size_t outlen)
{
	return escape_into(s, len, out, outlen, 0);
}

/* Four buffers in turn: enough for the values of one log line. */
static char *ring_next(void)
{
	static char ring[LOG_QUOTE_RING][LOG_QUOTE_MAX];
	static unsigned k;

	return ring[k++ % LOG_QUOTE_RING];
}

const char *log_q(const char *s)
{
	if (s == NULL)
		s = "";
	return log_quote(s, strlen(s), ring_next(), LOG_QUOTE_MAX);
}

const char *log_qtext(const char *s)
{
	if (s == NULL)
		s = "";
	return log_escape(s, strlen(s), ring_next(), LOG_QUOTE_MAX);
}

const char *log_qaddr(const char *addr)
{
	char tmp[LOG_QUOTE_MAX];
	int n = snprintf(tmp, sizeof tmp, "<%s>", addr != NULL ? addr : "");

	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof tmp)
		n = (int)sizeof tmp - 1;
	return log_quote(tmp, (size_t)n, ring_next(), LOG_QUOTE_MAX);
}
