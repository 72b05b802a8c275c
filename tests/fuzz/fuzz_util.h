/*
 * fuzz_util.h: what the libFuzzer targets share: the entry point's
 * prototype, a loud invariant check, one scratch directory per process,
 * quiet project logs, and one reusable file for parsers that read files.
 */
#ifndef ISPMAILD_FUZZ_UTIL_H
#define ISPMAILD_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant broken: say which, then abort() so libFuzzer keeps the input. */
void fuzz_fail(const char *file, int line, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), noreturn));

#define FUZZ_CHECK(cond, ...) do { \
	if (!(cond)) \
		fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
} while (0)

/*
 * A private directory under $TMPDIR (or /tmp), made on first use and
 * removed with everything in it when the process exits normally.
 */
const char *fuzz_tmpdir(void);

/* "<tmpdir>/<name>" into out; aborts when it does not fit. */
void fuzz_path(char *out, size_t outlen, const char *name);

/* Replace the file's contents with data (no fsync: it is scratch). */
void fuzz_write_file(const char *path, const void *data, size_t size);

/*
 * Send the project's log lines (log.h) nowhere, unless FUZZ_VERBOSE is
 * set in the environment; sanitizer and libFuzzer output is untouched.
 */
void fuzz_quiet_logs(void);

/* Remove everything below dir, dir itself too when self is nonzero. */
void fuzz_rm_tree(const char *dir, int self);

/*
 * Nonzero when FUZZ_ALLOW_KNOWN is set in the environment: the checks of
 * findings already reported (and not yet fixed) then let the input pass,
 * so that a long run can look for new ones. run.sh never sets it.
 */
int fuzz_allow_known(void);

/* Is every byte printable US-ASCII (0x20..0x7e)? */
int fuzz_printable(const char *s, size_t n);

/* "ab\x00c" -> "ab\\x00c" for messages; always terminated. */
const char *fuzz_show(const void *p, size_t n, char *out, size_t outlen);

#endif
