/*
 * log.h: one line per event, key=value, to syslog facility mail or to stderr
 * (docs/PROTOCOL.md, logs). Every line carries the session or queue id set
 * with log_set_id(). Client data goes through log_quote() so that a hostile
 * client cannot forge log lines or flood them.
 */
#ifndef ISPMAILD_LOG_H
#define ISPMAILD_LOG_H

#include <stddef.h>
#include <syslog.h>

void log_open(const char *ident, int to_stderr);
/* Lines less severe than prio (a syslog priority) are not written. */
void log_set_level(int prio);
/* "s=4f2a9c01" on every following line; NULL clears it. */
void log_set_id(const char *id);

/* Keeps errno, so a caller may log first and then decide by errno. */
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
/* Configuration or environment errors: log and exit(1). */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Copy at most 200 bytes of s into out as a printable token: bytes outside
 * 0x21..0x7e (and '"', '\\', '=') become \xNN, a longer input ends in "...".
 * out should hold LOG_QUOTE_MAX bytes.
 */
#define LOG_QUOTE_MAX 820
const char *log_quote(const char *s, size_t len, char *out, size_t outlen);

#endif
