/*
 * intake_store.c: how to store an accepted message so that its header
 * block can be set last (DKIM signs the whole body; a milter edits headers
 * at end of message) and still keep the promise of docs/PROTOCOL.md (250
 * only after every copy is fsynced, file and directory). Issue 13. Three
 * schemes, each delivering count messages one after another (one SMTP
 * session's view) into r Maildirs under dir, the body arriving in 64 KiB
 * pieces as the DATA reader hands them over:
 *
 *   a  stream: trace headers, then the body, written into the first
 *      Maildir's tmp/ file as it comes; fsync, link into new/, fsync new/;
 *      a hard link and an fsync of new/ for each other recipient (today).
 *   b  spool: the body written to a scratch file in the first Maildir's
 *      tmp/ as it comes (never fsynced); at the end the final file is the
 *      header block (write) + the spool (copy_file_range), then as (a).
 *   c  memory: the body kept in memory up to a limit (then spooled as b);
 *      at the end the final file is header + body in one writev, then as a.
 *
 * Prints one line per scheme: messages/s, fsyncs per message, and the
 * CPU time of the process per message. Usage:
 *   intake_store DIR SIZE RCPTS COUNT [SCHEMES] [MEMLIMIT]
 * (SCHEMES e.g. "abc", MEMLIMIT in bytes for c, default 1 MiB). DIR must
 * be on the disk the Maildirs live on, not a tmpfs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536
#define BOXES_MAX 16

static long nfsync;

static void die(const char *what)
{
	fprintf(stderr, "intake_store: %s: %s\n", what, strerror(errno));
	exit(2);
}

static double now_mono(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime");
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		die("getrusage");
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void counted_fsync(int fd)
{
	nfsync++;
	if (fsync(fd) != 0)
		die("fsync");
}

static void write_full(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write");
		p += w;
		n -= (size_t)w;
	}
}

struct box {
	int tmpfd, newfd;
};

static struct box boxes[BOXES_MAX];

static int dir_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die(path);
	return fd;
}

static void boxes_make(const char *dir, int n)
{
	char p[4096];

	for (int i = 0; i < n; i++) {
		static const char *const subs[] = { "", "/tmp", "/new", "/cur" };

		for (int k = 0; k < 4; k++) {
			snprintf(p, sizeof p, "%s/box%d%s", dir, i, subs[k]);
			if (mkdir(p, 0700) != 0 && errno != EEXIST)
				die(p);
		}
		snprintf(p, sizeof p, "%s/box%d/tmp", dir, i);
		boxes[i].tmpfd = dir_open(p);
		snprintf(p, sizeof p, "%s/box%d/new", dir, i);
		boxes[i].newfd = dir_open(p);
	}
}

/* The Maildir commit and the links, the same for every scheme. */
static void commit_and_link(int fd, const char *name, int rcpts)
{
	char other[128];

	counted_fsync(fd);
	if (close(fd) != 0)
		die("close");
	if (linkat(boxes[0].tmpfd, name, boxes[0].newfd, name, 0) != 0)
		die("link");
	if (unlinkat(boxes[0].tmpfd, name, 0) != 0)
		die("unlink");
	counted_fsync(boxes[0].newfd);
	for (int r = 1; r < rcpts; r++) {
		snprintf(other, sizeof other, "%s.r%d", name, r);
		if (linkat(boxes[0].newfd, name, boxes[r].newfd, other, 0) != 0)
			die("link other");
		counted_fsync(boxes[r].newfd);
	}
}

static int tmp_create(const char *name)
{
	int fd = openat(boxes[0].tmpfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);

	if (fd < 0)
		die("create");
	return fd;
}

static const char header[] =
    "Return-Path: <sender@example.net>\n"
    "Received: from client.example ([192.0.2.7])\n"
    "\tby mail.example.test (ispmaild) with ESMTP id 1764311027.M123456P4711Q1\n"
    "\tfor <rcpt@example.test>; Sat, 28 Nov 2026 06:43:47 +0000\n";

/* a: everything into the final file as it arrives. */
static void scheme_stream(const char *name, const char *body, size_t size, int rcpts)
{
	int fd = tmp_create(name);

	write_full(fd, header, sizeof header - 1);
	for (size_t off = 0; off < size; off += CHUNK)
		write_full(fd, body + off, size - off < CHUNK ? size - off : CHUNK);
	commit_and_link(fd, name, rcpts);
}

/* The spool: the body as it arrives, in a scratch file beside the final one. */
static int spool_body(const char *spool, const char *body, size_t size)
{
	int sfd = openat(boxes[0].tmpfd, spool, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);

	if (sfd < 0)
		die("spool");
	for (size_t off = 0; off < size; off += CHUNK)
		write_full(sfd, body + off, size - off < CHUNK ? size - off : CHUNK);
	return sfd;
}

/* The header block, then the spool copied in the kernel. */
static void final_from_spool(const char *name, const char *spool, int sfd, size_t size,
    int rcpts)
{
	int fd = tmp_create(name);
	loff_t in = 0;

	write_full(fd, header, sizeof header - 1);
	while ((size_t)in < size) {
		ssize_t n = copy_file_range(sfd, &in, fd, NULL, size - (size_t)in, 0);

		if (n <= 0)
			die("copy_file_range");
	}
	(void)close(sfd);
	if (unlinkat(boxes[0].tmpfd, spool, 0) != 0)
		die("unlink spool");
	commit_and_link(fd, name, rcpts);
}

static void scheme_spool(const char *name, const char *body, size_t size, int rcpts)
{
	char spool[128];
	int sfd;

	snprintf(spool, sizeof spool, "%s.spool", name);
	sfd = spool_body(spool, body, size);
	final_from_spool(name, spool, sfd, size, rcpts);
}

/* c: the body in memory (grown as it arrives), one writev at the end. */
static void scheme_memory(const char *name, const char *body, size_t size, int rcpts,
    size_t memlimit)
{
	struct iovec iov[2];
	char *mem = NULL;
	size_t len = 0, cap = 0;
	int fd;

	if (size > memlimit) {
		scheme_spool(name, body, size, rcpts);
		return;
	}
	for (size_t off = 0; off < size; off += CHUNK) {
		size_t n = size - off < CHUNK ? size - off : CHUNK;

		if (len + n > cap) {
			cap = cap ? cap * 2 : CHUNK;
			while (cap < len + n)
				cap *= 2;
			if ((mem = realloc(mem, cap)) == NULL)
				die("realloc");
		}
		memcpy(mem + len, body + off, n);
		len += n;
	}
	fd = tmp_create(name);
	iov[0].iov_base = (void *)header;
	iov[0].iov_len = sizeof header - 1;
	iov[1].iov_base = mem;
	iov[1].iov_len = len;
	{
		size_t want = iov[0].iov_len + iov[1].iov_len;
		ssize_t w = writev(fd, iov, 2);

		if (w < 0 || (size_t)w != want) {
			/* A short writev: the rest plainly. */
			size_t done = w < 0 ? 0 : (size_t)w;

			if (w < 0 && errno != EINTR)
				die("writev");
			if (done < iov[0].iov_len) {
				write_full(fd, header + done, iov[0].iov_len - done);
				done = iov[0].iov_len;
			}
			write_full(fd, mem + (done - iov[0].iov_len), len - (done - iov[0].iov_len));
		}
	}
	free(mem);
	commit_and_link(fd, name, rcpts);
}

int main(int argc, char **argv)
{
	const char *dir, *schemes = "abc";
	size_t size, memlimit = 1 << 20;
	int rcpts;
	long count;
	char *body;

	if (argc < 5) {
		fprintf(stderr, "usage: intake_store DIR SIZE RCPTS COUNT [SCHEMES] [MEMLIMIT]\n");
		return 2;
	}
	dir = argv[1];
	size = (size_t)strtoul(argv[2], NULL, 10);
	rcpts = atoi(argv[3]);
	count = atol(argv[4]);
	if (argc > 5)
		schemes = argv[5];
	if (argc > 6)
		memlimit = (size_t)strtoul(argv[6], NULL, 10);
	if (rcpts < 1 || rcpts > BOXES_MAX || count < 1)
		return 2;
	if ((body = malloc(size ? size : 1)) == NULL)
		die("malloc");
	for (size_t i = 0; i < size; i++)
		body[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
	boxes_make(dir, rcpts);
	for (const char *s = schemes; *s; s++) {
		double t0, c0, t, c;
		long f0 = nfsync;

		t0 = now_mono();
		c0 = cpu_seconds();
		for (long i = 0; i < count; i++) {
			char name[64];

			snprintf(name, sizeof name, "%c.%ld.%ld", *s, (long)getpid(), i);
			if (*s == 'a')
				scheme_stream(name, body, size, rcpts);
			else if (*s == 'b')
				scheme_spool(name, body, size, rcpts);
			else
				scheme_memory(name, body, size, rcpts, memlimit);
		}
		t = now_mono() - t0;
		c = cpu_seconds() - c0;
		printf("scheme=%c size=%zu rcpts=%d count=%ld msg_per_s=%.1f "
		    "fsyncs_per_msg=%.1f cpu_us_per_msg=%.0f\n", *s, size, rcpts, count,
		    (double)count / t, (double)(nfsync - f0) / (double)count,
		    c * 1e6 / (double)count);
		fflush(stdout);
	}
	free(body);
	return 0;
}
