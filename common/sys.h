/*
 * sys.h: the few system helpers every module needs, in one copy: a write
 * that finishes, an fsync of a directory (the rename is only durable once
 * the directory entry is on disk), the monotonic clock in milliseconds,
 * and best-effort error text for the err/errlen convention.
 */
#ifndef ISPMAILD_SYS_H
#define ISPMAILD_SYS_H

#include <stddef.h>

/* write(2) until all n bytes are out; EINTR is retried. 0 or -1 (errno). */
int write_all(int fd, const void *p, size_t n);
/* fsync(2) the directory dir. 0 or -1 (errno). */
int fsync_dir(const char *dir);
/* fsync(2) the directory that holds path ("." when it has no slash). */
int fsync_dir_of(const char *path);
/* Milliseconds on the monotonic clock: for timeouts and pauses only. */
long long now_ms(void);
/* Format into err (may be NULL); a truncated reason is still a reason. */
void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
