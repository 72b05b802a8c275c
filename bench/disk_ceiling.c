/*
 * disk_ceiling.c: what this disk allows for durable small-file delivery, the
 * ceiling that SMTP intake is compared with (issue 7). N processes each
 * create a file in <dir>/<box>/tmp, write it, fsync it, rename it into
 * <box>/new and fsync new/: the least work a Maildir delivery that keeps
 * its promise (docs/PROTOCOL.md) can do. Prints files per second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "disk_ceiling: %s: %s\n", what, strerror(errno));
	exit(2);
}

static double now_mono(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime");
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void path_make(char *out, size_t len, const char *dir, int box,
    const char *sub, const char *name)
{
	int n = snprintf(out, len, "%s/box%d/%s%s%s", dir, box, sub,
	    name ? "/" : "", name ? name : "");

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		die(dir);
	}
}

/* One process: count deliveries into random boxes. */
static void worker(const char *dir, int idx, long count, int boxes, size_t size, int go_fd)
{
	char *data = malloc(size ? size : 1);
	char tmp[4096], fin[4096], nd[4096], name[64], c;
	unsigned seed = (unsigned)getpid() ^ (unsigned)(idx * 7919);
	long i;

	if (data == NULL)
		die("malloc");
	memset(data, 'x', size);
	if (read(go_fd, &c, 1) < 0)
		die("read");
	for (i = 0; i < count; i++) {
		int box = (int)(rand_r(&seed) % (unsigned)boxes), fd, dfd;
		size_t off = 0;

		snprintf(name, sizeof name, "%d.%d.%ld", (int)getpid(), idx, i);
		path_make(tmp, sizeof tmp, dir, box, "tmp", name);
		path_make(fin, sizeof fin, dir, box, "new", name);
		path_make(nd, sizeof nd, dir, box, "new", NULL);
		fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0)
			die(tmp);
		while (off < size) {
			ssize_t w = write(fd, data + off, size - off);

			if (w <= 0)
				die("write");
			off += (size_t)w;
		}
		if (fsync(fd) != 0 || close(fd) != 0)
			die("fsync");
		if (rename(tmp, fin) != 0)
			die("rename");
		dfd = open(nd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) != 0 || close(dfd) != 0)
			die("fsync dir");
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *dir;
	int procs = 20, boxes = 50, i, go[2], bad = 0;
	long total = 2000;
	size_t size = 4096;
	double t0, el;

	if (argc < 2 || argc > 6) {
		fprintf(stderr, "usage: disk_ceiling DIR [procs=20] [files=2000] "
		    "[bytes=4096] [boxes=50]\n");
		return 2;
	}
	dir = argv[1];
	if (argc > 2) procs = atoi(argv[2]);
	if (argc > 3) total = atol(argv[3]);
	if (argc > 4) size = (size_t)atol(argv[4]);
	if (argc > 5) boxes = atoi(argv[5]);
	if (procs < 1 || procs > 1000 || total < procs || boxes < 1 || boxes > 100000)
		return fprintf(stderr, "disk_ceiling: bad arguments\n"), 2;
	for (i = 0; i < boxes; i++) {
		char p[4096];

		path_make(p, sizeof p, dir, i, "", NULL);
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			die(p);
		path_make(p, sizeof p, dir, i, "tmp", NULL);
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			die(p);
		path_make(p, sizeof p, dir, i, "new", NULL);
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			die(p);
	}
	sync();
	if (pipe(go) != 0)
		die("pipe");
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			close(go[1]);
			worker(dir, i, total / procs + (i < total % procs), boxes, size, go[0]);
		}
	}
	close(go[0]);
	usleep(20000);
	t0 = now_mono();
	close(go[1]);
	for (;;) {
		int st;
		pid_t pid = wait(&st);

		if (pid < 0) {
			if (errno == ECHILD)
				break;
			die("wait");
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad++;
	}
	el = now_mono() - t0;
	printf("result mode=ceiling procs=%d files=%ld bytes=%zu elapsed=%.3f rate=%.1f errors=%d\n",
	    procs, total, size, el, total / el, bad);
	return bad ? 1 : 0;
}
