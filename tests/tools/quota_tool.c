/*
 * quota_tool.c: the Maildir++ quota library (maildir/quota.c) from the
 * command line, as delivery and POP3 call it, for the interop test that
 * shares a Maildir with Dovecot (tests/interop/quota_dovecot.py):
 *
 *   quota_tool deliver MAILDIR LIMIT SIZE   room check, a SIZE-byte message
 *                                           ("Subject: ours SIZE"), +SIZE +1;
 *                                           prints "delivered" or "full"
 *   quota_tool get MAILDIR LIMIT            quota_get: "BYTES COUNT"
 *   quota_tool parse MAILDIR                maildirsize as it is: "BYTES COUNT"
 *   quota_tool scan MAILDIR                 a fresh count: "BYTES COUNT"
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "maildir.h"

static int deliver(const char *maildir, unsigned long long limit, size_t size)
{
	struct buf b = BUF_INIT;
	int room = quota_room(maildir, limit, 0);

	if (room != 1) {
		printf(room == 0 ? "full\n" : "error %s\n", strerror(errno));
		return room == 0 ? 0 : 1;
	}
	buf_printf(&b, "From: t@example.test\nSubject: ours %zu\n\n", size);
	while (b.len + 1 < size)
		buf_appendc(&b, 'x');
	buf_appendc(&b, '\n');
	if (b.len != size || maildir_deliver(maildir, b.s, b.len) != 0 ||
	    quota_update(maildir, limit, 0, (long long)size, 1) != 0) {
		printf("error %s\n", strerror(errno));
		buf_free(&b);
		return 1;
	}
	buf_free(&b);
	printf("delivered\n");
	return 0;
}

static int parse(const char *maildir)
{
	char path[4096], text[65536];
	struct quota_usage u;
	size_t n;
	FILE *f;

	if (str_format(path, sizeof path, "%s/maildirsize", maildir) != 0 ||
	    (f = fopen(path, "r")) == NULL)
		return 1;
	n = fread(text, 1, sizeof text, f);
	fclose(f);
	if (quota_parse(text, n, &u) != 0) {
		printf("corrupt\n");
		return 1;
	}
	printf("%lld %lld\n", u.bytes, u.count);
	return 0;
}

int main(int argc, char **argv)
{
	struct quota_usage u;

	if (argc == 5 && strcmp(argv[1], "deliver") == 0)
		return deliver(argv[2], strtoull(argv[3], NULL, 10),
		    (size_t)strtoul(argv[4], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "get") == 0) {
		if (quota_get(argv[2], strtoull(argv[3], NULL, 10), 0, &u) != 0)
			return 1;
		printf("%lld %lld\n", u.bytes, u.count);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "parse") == 0)
		return parse(argv[2]);
	if (argc == 3 && strcmp(argv[1], "scan") == 0) {
		if (quota_scan(argv[2], &u) != 0)
			return 1;
		printf("%lld %lld\n", u.bytes, u.count);
		return 0;
	}
	fprintf(stderr, "usage: quota_tool deliver|get|parse|scan MAILDIR [LIMIT [SIZE]]\n");
	return 2;
}
