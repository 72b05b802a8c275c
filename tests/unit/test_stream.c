/*
 * test_stream.c: the session stream over a real socketpair: line limits,
 * CRLF and LF, NUL bytes, timeouts (also a slow-drip client), pipelining
 * detection, discarding input after STARTTLS, byte-at-a-time input,
 * flushing of batched replies, and the session's deadline.
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cutap.h"
#include "stream.h"

static int sv[2];
static struct stream st;

static int setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void open_pair(int timeout)
{
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	stream_init(&st, sv[0], timeout);
}

static void close_pair(void)
{
	stream_free(&st);
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
}

static void put(const char *s, size_t n)
{
	CU_ASSERT_EQUAL(write(sv[1], s, n), (ssize_t)n);
}

static void test_crlf_and_lf(void)
{
	char line[64];
	size_t len;
	int crlf;

	open_pair(2);
	put("USER bob\r\nPASS x\n\r\n", 19);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, &crlf), STREAM_OK);
	CU_ASSERT_STRING_EQUAL(line, "USER bob");
	CU_ASSERT_EQUAL(len, 8);
	CU_ASSERT_EQUAL(crlf, 1);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, &crlf), STREAM_OK);
	CU_ASSERT_STRING_EQUAL(line, "PASS x");
	CU_ASSERT_EQUAL(crlf, 0);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, &crlf), STREAM_OK);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_EQUAL(crlf, 1);
	close_pair();
}

/* max counts the CRLF: a line of max bytes fits, max+1 does not. */
static void test_limit(void)
{
	char line[16], in[64];
	size_t len;

	open_pair(2);
	memset(in, 'a', sizeof in);
	memcpy(in + 14, "\r\n", 2);		/* 16 bytes with CRLF */
	put(in, 16);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_OK);
	CU_ASSERT_EQUAL(len, 14);
	memset(in, 'b', sizeof in);
	memcpy(in + 15, "\r\n", 2);		/* 17 bytes */
	put(in, 17);
	put("NEXT\r\n", 6);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_TOOLONG);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_OK);
	CU_ASSERT_STRING_EQUAL(line, "NEXT");
	close_pair();
}

/* A line far longer than the read buffer is skipped whole. */
static void test_huge_line(void)
{
	char line[512];
	size_t len, total = 0;
	char *big = malloc(100000);
	pid_t pid;

	open_pair(2);
	memset(big, 'z', 100000);
	pid = fork();
	if (pid == 0) {
		while (total < 100000) {
			ssize_t n = write(sv[1], big + total, 100000 - total);
			if (n <= 0)
				_exit(1);
			total += (size_t)n;
		}
		if (write(sv[1], "\r\nQUIT\r\n", 8) != 8)
			_exit(1);
		_exit(0);
	}
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_TOOLONG);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_OK);
	CU_ASSERT_STRING_EQUAL(line, "QUIT");
	waitpid(pid, NULL, 0);
	free(big);
	close_pair();
}

static void test_nul_kept(void)
{
	char line[64];
	size_t len;

	open_pair(2);
	put("US\0ER\r\n", 7);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_OK);
	CU_ASSERT_EQUAL(len, 5);
	CU_ASSERT_EQUAL(memcmp(line, "US\0ER", 5), 0);
	close_pair();
}

static void test_timeout(void)
{
	char line[64];
	size_t len;
	time_t t0 = time(NULL);

	open_pair(1);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_TIMEOUT);
	CU_ASSERT(time(NULL) - t0 <= 3);
	close_pair();
}

/* One byte every 300 ms never completes a line within a 1 s deadline. */
static void test_slow_drip(void)
{
	char line[64];
	size_t len;
	pid_t pid;

	open_pair(1);
	pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 10; i++) {
			if (write(sv[1], "x", 1) != 1)
				_exit(0);
			usleep(300000);
		}
		_exit(0);
	}
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_TIMEOUT);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close_pair();
}

/*
 * limits.session_timeout: whole lines every 300 ms each beat the 10 s
 * read timeout, but not the 1 s deadline of the session.
 */
static void test_deadline_caps_reads(void)
{
	char line[64];
	size_t len;
	int r, lines = 0;
	pid_t pid;
	time_t t0 = time(NULL);

	open_pair(10);
	stream_set_deadline(&st, 1);
	CU_ASSERT_EQUAL(stream_expired(&st), 0);
	pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 30; i++) {
			if (write(sv[1], "NOOP\r\n", 6) != 6)
				_exit(0);
			usleep(300000);
		}
		_exit(0);
	}
	while ((r = stream_read_line(&st, line, sizeof line, &len, NULL)) == STREAM_OK)
		lines++;
	CU_ASSERT_EQUAL(r, STREAM_TIMEOUT);
	CU_ASSERT_EQUAL(stream_expired(&st), 1);
	CU_ASSERT(lines >= 1 && lines <= 8);
	CU_ASSERT(time(NULL) - t0 <= 4);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close_pair();
}

/* Past the deadline input waiting in the socket is left unread. */
static void test_deadline_stops_input(void)
{
	struct timespec ts = { 1, 100000000 };
	char line[64];
	size_t len;
	const char *p;

	open_pair(10);
	stream_set_deadline(&st, 1);
	put("NOOP\r\n", 6);
	while (nanosleep(&ts, &ts) != 0)
		;
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_TIMEOUT);
	CU_ASSERT_EQUAL(stream_peek(&st, &p), STREAM_TIMEOUT);
	CU_ASSERT_EQUAL(stream_expired(&st), 1);
	close_pair();
	/* 0 is no deadline at all. */
	open_pair(1);
	stream_set_deadline(&st, 0);
	put("NOOP\r\n", 6);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_OK);
	CU_ASSERT_EQUAL(stream_expired(&st), 0);
	close_pair();
}

static void test_eof(void)
{
	char line[64];
	size_t len;

	open_pair(2);
	put("PARTIAL", 7);
	close(sv[1]);
	sv[1] = -1;
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_EOF);
	close_pair();
}

static void test_pipelining_and_discard(void)
{
	char line[64];
	size_t len;

	open_pair(2);
	put("A\r\nB\r\n", 6);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_OK);
	CU_ASSERT_EQUAL(stream_input_pending(&st), 1);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_OK);
	CU_ASSERT_STRING_EQUAL(line, "B");
	CU_ASSERT_EQUAL(stream_input_pending(&st), 0);
	put("STARTTLS\r\nRSET\r\n", 16);
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_OK);
	CU_ASSERT_STRING_EQUAL(line, "STARTTLS");
	CU_ASSERT_EQUAL(stream_input_pending(&st), 1);
	stream_discard_input(&st);
	CU_ASSERT_EQUAL(stream_input_pending(&st), 0);
	close_pair();
}

/* Input split into single bytes gives the same lines as one write. */
static void test_byte_at_a_time(void)
{
	const char *in = "HELO x\r\nMAIL FROM:<a@b>\r\n";
	char line[64];
	size_t len, i;
	pid_t pid;

	open_pair(2);
	pid = fork();
	if (pid == 0) {
		for (i = 0; in[i]; i++) {
			if (write(sv[1], in + i, 1) != 1)
				_exit(1);
			usleep(1000);
		}
		_exit(0);
	}
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_OK);
	CU_ASSERT_STRING_EQUAL(line, "HELO x");
	CU_ASSERT_EQUAL(stream_read_line(&st, line, sizeof line, &len, NULL), STREAM_OK);
	CU_ASSERT_STRING_EQUAL(line, "MAIL FROM:<a@b>");
	waitpid(pid, NULL, 0);
	close_pair();
}

static void test_write_flush(void)
{
	char out[64];
	ssize_t n;

	open_pair(2);
	stream_puts(&st, "+OK one\r\n");
	stream_printf(&st, "+OK %d\r\n", 2);
	CU_ASSERT_EQUAL(stream_pending_output(&st), 16);
	CU_ASSERT_EQUAL(stream_flush(&st), STREAM_OK);
	CU_ASSERT_EQUAL(stream_pending_output(&st), 0);
	n = read(sv[1], out, sizeof out);
	CU_ASSERT_EQUAL(n, 16);
	CU_ASSERT_EQUAL(memcmp(out, "+OK one\r\n+OK 2\r\n", 16), 0);
	CU_ASSERT_EQUAL(st.bytes_out, 16);
	close_pair();
}

static void test_peek_consume(void)
{
	const char *p;
	ssize_t n;

	open_pair(2);
	put("DATA\r\n.\r\n", 9);
	n = stream_peek(&st, &p);
	CU_ASSERT_EQUAL(n, 9);
	CU_ASSERT_EQUAL(memcmp(p, "DATA", 4), 0);
	stream_consume(&st, 6);
	n = stream_peek(&st, &p);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(p[0], '.');
	stream_consume(&st, 3);
	CU_ASSERT_EQUAL(stream_input_pending(&st), 0);
	close_pair();
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("stream", setup, NULL);
	CU_add_test(s, "CRLF and bare LF lines", test_crlf_and_lf);
	CU_add_test(s, "limit counts the CRLF", test_limit);
	CU_add_test(s, "100 KB line skipped whole", test_huge_line);
	CU_add_test(s, "NUL bytes are kept and counted", test_nul_kept);
	CU_add_test(s, "idle client times out", test_timeout);
	CU_add_test(s, "slow drip times out", test_slow_drip);
	CU_add_test(s, "session deadline caps the read timeout", test_deadline_caps_reads);
	CU_add_test(s, "nothing read past the session deadline", test_deadline_stops_input);
	CU_add_test(s, "partial line then EOF", test_eof);
	CU_add_test(s, "pipelining detected, input discarded", test_pipelining_and_discard);
	CU_add_test(s, "byte at a time", test_byte_at_a_time);
	CU_add_test(s, "replies batched and flushed", test_write_flush);
	CU_add_test(s, "peek and consume", test_peek_consume);
	return cutap_run();
}
