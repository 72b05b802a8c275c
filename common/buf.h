/*
 * buf.h: one length-counted, binary-safe, growable buffer, and allocators
 * that abort on out-of-memory (a session child cannot do anything useful
 * without memory, and a half-handled NULL is worse than a clean exit).
 */
#ifndef ISPMAILD_BUF_H
#define ISPMAILD_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *s;	/* always NUL-terminated when cap > 0 */
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* Array growth with the multiplication checked (the stralloc lesson). */
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Make room for n more bytes; aborts on overflow or out-of-memory. */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_appends(struct buf *b, const char *s);
void buf_appendc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Remove the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Hand the string over to the caller; b is left empty. */
char *buf_steal(struct buf *b);

/*
 * strlcpy-style copy into a fixed array: always terminates, returns -1 when
 * the source did not fit (and the destination holds a truncated copy).
 */
int str_copy(char *dst, size_t dstlen, const char *src);
/* snprintf whose truncation is an error: 0 on success, -1 when truncated. */
int str_format(char *dst, size_t dstlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
