/*
 * test_log.c: the logger keeps errno. Callers log an error, then choose
 * their reply by errno (452 for ENOSPC/EDQUOT, 451 otherwise): a log line
 * that fails to be written (stderr a broken pipe, a full disk, closed; a
 * syslog socket that is not there) must not change that choice.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cutap.h"
#include "log.h"

static int saved_stderr = -1;

/* Point fd 2 at fd (or close it when fd < 0); undo with stderr_restore. */
static void stderr_redirect(int fd)
{
	saved_stderr = dup(2);
	CU_ASSERT_FATAL(saved_stderr >= 0);
	if (fd >= 0) {
		CU_ASSERT_FATAL(dup2(fd, 2) == 2);
	} else {
		close(2);
	}
}

static void stderr_restore(void)
{
	CU_ASSERT_FATAL(dup2(saved_stderr, 2) == 2);
	close(saved_stderr);
	saved_stderr = -1;
}

/* Log one line of each severity with errno set to want; errno stays want. */
static void assert_kept(int want)
{
	errno = want;
	log_info("test line=%d reason=\"%s\"", 1, strerror(errno));
	CU_ASSERT_EQUAL(errno, want);
	errno = want;
	log_error("test line=%d", 2);
	CU_ASSERT_EQUAL(errno, want);
	errno = want;
	log_debug("test line=%d", 3);
	CU_ASSERT_EQUAL(errno, want);
}

static void test_stderr_full(void)
{
	int fd = open("/dev/full", O_WRONLY);

	if (fd < 0)
		return;			/* no /dev/full here: nothing to say */
	log_open("test_log", 1);
	stderr_redirect(fd);
	close(fd);
	assert_kept(EDQUOT);		/* the write fails with ENOSPC */
	assert_kept(0);
	stderr_restore();
}

static void test_stderr_broken_pipe(void)
{
	int p[2];

	CU_ASSERT_FATAL(pipe(p) == 0);
	close(p[0]);
	log_open("test_log", 1);
	stderr_redirect(p[1]);
	close(p[1]);
	assert_kept(ENOSPC);		/* the write fails with EPIPE */
	assert_kept(EDQUOT);
	stderr_restore();
}

static void test_stderr_closed(void)
{
	log_open("test_log", 1);
	stderr_redirect(-1);
	assert_kept(ENOSPC);		/* the write fails with EBADF */
	stderr_restore();
}

/* syslog: /dev/log may be missing (containers) or refuse; errno stays. */
static void test_syslog(void)
{
	log_open("test_log", 0);
	assert_kept(ENOSPC);
	assert_kept(EIO);
	log_open("test_log", 1);
}

/* A line below the level is not written, and errno is not touched either. */
static void test_below_level(void)
{
	log_set_level(LOG_ERR);
	assert_kept(ENOSPC);
	log_set_level(LOG_DEBUG);
}

int main(void)
{
	CU_pSuite s;

	/* A broken pipe must give EPIPE here, not end the test. */
	signal(SIGPIPE, SIG_IGN);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("log", NULL, NULL);
	CU_add_test(s, "errno kept when stderr is full", test_stderr_full);
	CU_add_test(s, "errno kept when stderr is a broken pipe", test_stderr_broken_pipe);
	CU_add_test(s, "errno kept when stderr is closed", test_stderr_closed);
	CU_add_test(s, "errno kept through syslog", test_syslog);
	CU_add_test(s, "errno kept below the log level", test_below_level);
	return cutap_run();
}
