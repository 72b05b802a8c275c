/*
 * fuzz_util.c: helpers shared by the libFuzzer targets (fuzz_util.h).
 * Nothing here is clever: a target's invariants must fail loudly, and its
 * scratch files must neither leak nor outlive the process.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fuzz_util.h"
#include "log.h"

static char fuzz_dir[512];

void fuzz_fail(const char *file, int line, const char *what, const char *fmt, ...)
{
	char msg[2048];
	int n;
	va_list ap;

	/* fd 2 itself: fuzz_quiet_logs() may have pointed stderr elsewhere. */
	n = snprintf(msg, sizeof msg, "\n*** fuzz invariant broken at %s:%d: %s\n*** ",
	    file, line, what);
	if (n < 0 || (size_t)n >= sizeof msg)
		n = 0;
	va_start(ap, fmt);
	(void)vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	va_end(ap);
	(void)str_copy(msg + strlen(msg), sizeof msg - strlen(msg), "\n");
	(void)!write(2, msg, strlen(msg));
	abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

void fuzz_rm_tree(const char *dir, int self)
{
	char path[1024];

	if (self) {
		(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return;
	}
	/* Keep dir: remove what is in it, entry by entry. */
	{
		DIR *d = opendir(dir);
		struct dirent *e;

		if (d == NULL)
			return;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			if (str_format(path, sizeof path, "%s/%s", dir, e->d_name) == 0)
				(void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		}
		(void)closedir(d);
	}
}

static void fuzz_tmpdir_remove(void)
{
	if (fuzz_dir[0] != '\0')
		fuzz_rm_tree(fuzz_dir, 1);
}

const char *fuzz_tmpdir(void)
{
	const char *base;

	if (fuzz_dir[0] != '\0')
		return fuzz_dir;
	base = getenv("TMPDIR");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if (str_format(fuzz_dir, sizeof fuzz_dir, "%s/ispmaild-fuzz.XXXXXX", base) != 0 ||
	    mkdtemp(fuzz_dir) == NULL) {
		fprintf(stderr, "fuzz: cannot make a directory under %s: %s\n", base,
		    strerror(errno));
		abort();
	}
	atexit(fuzz_tmpdir_remove);
	return fuzz_dir;
}

void fuzz_path(char *out, size_t outlen, const char *name)
{
	if (str_format(out, outlen, "%s/%s", fuzz_tmpdir(), name) != 0)
		abort();
}

void fuzz_write_file(const char *path, const void *data, size_t size)
{
	const char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		fprintf(stderr, "fuzz: open %s: %s\n", path, strerror(errno));
		abort();
	}
	while (size > 0) {
		ssize_t w = write(fd, p, size);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "fuzz: write %s: %s\n", path, strerror(errno));
			abort();
		}
		p += w;
		size -= (size_t)w;
	}
	if (close(fd) != 0)
		abort();
}

void fuzz_quiet_logs(void)
{
	static int done;
	FILE *null;

	if (done++)
		return;
	/* log.c writes with fprintf(stderr): give it a FILE that goes nowhere. */
	log_open("ispmaild-fuzz", 1);
	if (getenv("FUZZ_VERBOSE") != NULL)
		return;
	null = fopen("/dev/null", "we");
	if (null != NULL)
		stderr = null;
}

int fuzz_allow_known(void)
{
	static int allow = -1;

	if (allow < 0)
		allow = getenv("FUZZ_ALLOW_KNOWN") != NULL;
	return allow;
}

int fuzz_printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

const char *fuzz_show(const void *p, size_t n, char *out, size_t outlen)
{
	const unsigned char *s = p;
	size_t o = 0;

	if (outlen == 0)
		return out;
	for (size_t i = 0; i < n && o + 5 < outlen; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') {
			out[o++] = (char)s[i];
		} else {
			(void)snprintf(out + o, outlen - o, "\\x%02x", s[i]);
			o += 4;
		}
	}
	out[o] = '\0';
	return out;
}
