/*
 * lock.c: one POP3 session per mailbox (docs/PROTOCOL.md, RFC 1939 §8 on
 * exclusive access): a non-blocking flock(2) on <maildir>/.ispmaild.lock. The
 * kernel drops it when the session closes the file or dies, so no stale
 * locks.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "maildir.h"

/*
 * flock rather than fcntl: an fcntl lock vanishes when the process closes
 * any descriptor of the file, an flock belongs to this open file only.
 */
int maildir_lock(const char *maildir)
{
	char path[PATH_MAX];
	int fd;

	if (str_format(path, sizeof path, "%s/.ispmaild.lock", maildir) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int saved = errno;

		if (saved == EINTR)
			continue;
		(void)close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* The file stays: unlinking a lock file races with the next locker. */
void maildir_unlock(int fd)
{
	if (fd >= 0)
		(void)close(fd);
}
