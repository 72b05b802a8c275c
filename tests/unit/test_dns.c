/*
 * test_dns.c: MX resolution (common/dns.h) against a real DNS server: a
 * dnsmasq started here on a free loopback port, serving a small .test zone.
 * Literals and dead servers need no dnsmasq.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cutap.h"
#include "dns.h"

#define PORT 2525

static const char *dnsmasq_path;
static pid_t dnsmasq_pid = -1;
static int dnsmasq_port;
static int have_ipv6;
static char ns4[64];

/* The zone. MX hosts are 127.0.0.x; the .test names nobody defined are NXDOMAIN. */
static const char *const zone[] = {
	"--local=/test/",
	"--host-record=ready.test,127.0.0.1",
	"--mx-host=order.test,mx2.test,20", "--mx-host=order.test,mx1.test,10",
	"--host-record=mx1.test,127.0.0.11", "--host-record=mx2.test,127.0.0.12",
	"--mx-host=equal.test,eqa.test,10", "--mx-host=equal.test,eqb.test,10",
	"--host-record=eqa.test,127.0.0.21", "--host-record=eqb.test,127.0.0.22",
	"--mx-host=dual.test,both.test,10", "--host-record=both.test,127.0.0.31,2001:db8::31",
	"--host-record=implicit.test,127.0.0.41",
	"--dns-rr=nullmx.test,15,000000",		/* MX 0 "." (RFC 7505) */
	"--mx-host=noaddr.test,ghost.test,10",
	"--mx-host=partial.test,ghost.test,5", "--mx-host=partial.test,mx2.test,20",
	"--mx-host=cname.test,alias.test,10", "--cname=alias.test,real.test",
	"--host-record=real.test,127.0.0.51",
	"--host-record=fat.test,127.0.0.61", "--host-record=fat.test,127.0.0.62",
	"--host-record=fat.test,127.0.0.63", "--host-record=fat.test,127.0.0.64",
	"--host-record=fat.test,127.0.0.65", "--host-record=fat.test,127.0.0.66",
	"--host-record=fat.test,127.0.0.67",
	"--mx-host=big.test,fat.test,1", "--mx-host=big.test,fat.test,2",
	"--mx-host=big.test,fat.test,3", "--mx-host=big.test,fat.test,4",
	"--mx-host=big.test,fat.test,5", "--mx-host=big.test,fat.test,6",
};

/* "host pref addr:port" for each target, joined by ", ". */
static const char *show(const struct dns_target *t, size_t n)
{
	static char out[4096];
	struct buf b = BUF_INIT;

	buf_appends(&b, "");
	for (size_t i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN] = "?";
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&t[i].addr;
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&t[i].addr;
		int v6 = t[i].addr.ss_family == AF_INET6;

		if (v6 && t[i].addrlen == sizeof *s6)
			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
		else if (!v6 && t[i].addr.ss_family == AF_INET && t[i].addrlen == sizeof *s4)
			inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
		buf_printf(&b, "%s%s %d %s%s%s:%u", i ? ", " : "", t[i].host, t[i].pref,
		    v6 ? "[" : "", a, v6 ? "]" : "",
		    ntohs(v6 ? s6->sin6_port : s4->sin_port));
	}
	(void)str_copy(out, sizeof out, b.s);
	buf_free(&b);
	return out;
}

/* A free port on 127.0.0.1 (and ::1 when there is IPv6), UDP and TCP. */
static int free_port(void)
{
	for (int tries = 0; tries < 50; tries++) {
		struct sockaddr_in s4 = { .sin_family = AF_INET };
		struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
		socklen_t len = sizeof s4;
		int fd[4], ok = 1, port;

		s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd[0] = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd[0] < 0 || bind(fd[0], (struct sockaddr *)&s4, sizeof s4) < 0 ||
		    getsockname(fd[0], (struct sockaddr *)&s4, &len) < 0)
			return -1;
		port = ntohs(s4.sin_port);
		s6.sin6_port = s4.sin_port;
		fd[1] = socket(AF_INET, SOCK_STREAM, 0);
		ok &= fd[1] >= 0 && bind(fd[1], (struct sockaddr *)&s4, sizeof s4) == 0;
		fd[2] = fd[3] = -1;
		if (have_ipv6) {
			fd[2] = socket(AF_INET6, SOCK_DGRAM, 0);
			fd[3] = socket(AF_INET6, SOCK_STREAM, 0);
			ok &= fd[2] >= 0 && bind(fd[2], (struct sockaddr *)&s6, sizeof s6) == 0;
			ok &= fd[3] >= 0 && bind(fd[3], (struct sockaddr *)&s6, sizeof s6) == 0;
		}
		for (int i = 0; i < 4; i++)
			if (fd[i] >= 0)
				close(fd[i]);
		if (ok)
			return port;
	}
	return -1;
}

/* Can we bind ::1 at all? */
static int ipv6_loopback(void)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_DGRAM, 0), ok;

	ok = fd >= 0 && bind(fd, (struct sockaddr *)&s6, sizeof s6) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void dnsmasq_stop(void)
{
	if (dnsmasq_pid > 0) {
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, NULL, 0);
		dnsmasq_pid = -1;
	}
}

/* Start dnsmasq and wait until it answers: -1 (suite setup fails) if it won't. */
static int dnsmasq_start(void)
{
	static const char *const paths[] = { "/usr/sbin/dnsmasq", "/usr/local/sbin/dnsmasq",
	    "/sbin/dnsmasq", NULL };
	char portarg[32], listen[64], log[512], err[256];
	const char *argv[64];
	size_t argc = 0;
	struct dns_resolver *r;
	struct dns_target t[DNS_MAX_TARGETS];
	size_t n;
	int fd;

	for (size_t i = 0; paths[i] != NULL && dnsmasq_path == NULL; i++)
		if (access(paths[i], X_OK) == 0)
			dnsmasq_path = paths[i];
	if (dnsmasq_path == NULL)
		return 0;
	have_ipv6 = ipv6_loopback();
	if ((dnsmasq_port = free_port()) < 0)
		return -1;
	str_format(portarg, sizeof portarg, "--port=%d", dnsmasq_port);
	str_format(listen, sizeof listen, "--listen-address=127.0.0.1%s",
	    have_ipv6 ? ",::1" : "");
	str_format(ns4, sizeof ns4, "127.0.0.1:%d", dnsmasq_port);
	str_format(log, sizeof log, "%s/dnsmasq.log", cutap_tmpdir());
	argv[argc++] = dnsmasq_path;
	argv[argc++] = "--no-daemon";
	argv[argc++] = portarg;
	argv[argc++] = listen;
	argv[argc++] = "--bind-interfaces";
	argv[argc++] = "--no-resolv";
	argv[argc++] = "--no-hosts";
	argv[argc++] = "--conf-file=/dev/null";
	argv[argc++] = "--pid-file";
	if (geteuid() == 0)
		argv[argc++] = "--user=root";	/* no need for a "nobody" */
	for (size_t i = 0; i < sizeof zone / sizeof zone[0]; i++)
		argv[argc++] = zone[i];
	argv[argc] = NULL;

	fflush(stdout);
	if ((dnsmasq_pid = fork()) < 0)
		return -1;
	if (dnsmasq_pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execv(dnsmasq_path, (char *const *)argv);
		_exit(127);
	}
	if ((r = dns_resolver_new(ns4, err, sizeof err)) == NULL)
		return -1;
	for (int i = 0; i < 100; i++) {
		if (dns_host_targets(r, "ready.test", PORT, t, &n, err, sizeof err) == DNS_OK) {
			dns_resolver_free(r);
			return 0;
		}
		if (waitpid(dnsmasq_pid, NULL, WNOHANG) == dnsmasq_pid) {
			dnsmasq_pid = -1;
			break;
		}
		usleep(50000);
	}
	printf("# dnsmasq did not answer (%s); see its log: %s\n", err, log);
	dns_resolver_free(r);
	dnsmasq_stop();
	return -1;
}

static int suite_init(void)
{
	return dnsmasq_start();
}

static int suite_clean(void)
{
	dnsmasq_stop();
	return 0;
}

/* dnsmasq is installed here; elsewhere the server cases say so and pass. */
#define NEED_DNSMASQ() do { \
	if (dnsmasq_path == NULL) { \
		printf("# SKIP %s: dnsmasq not installed\n", __func__); \
		CU_PASS("skipped"); \
		return; \
	} \
} while (0)

struct dns_case {
	const char *name;
	int host;		/* dns_host_targets instead of dns_mx_targets */
	enum dns_status st;
	const char *want;	/* show() of the targets */
	const char *err;	/* a substring of err, or NULL for "" */
};

static void run_cases(struct dns_resolver *r, const struct dns_case *c, size_t nc)
{
	for (size_t i = 0; i < nc; i++) {
		struct dns_target t[DNS_MAX_TARGETS];
		char err[512] = "junk";
		size_t n = 99;
		enum dns_status st = c[i].host ?
		    dns_host_targets(r, c[i].name, PORT, t, &n, err, sizeof err) :
		    dns_mx_targets(r, c[i].name, PORT, t, &n, err, sizeof err);

		if (st != c[i].st || strcmp(show(t, n), c[i].want) != 0 ||
		    (c[i].err == NULL ? err[0] != '\0' : strstr(err, c[i].err) == NULL))
			printf("# %s %s: status %d, want %d; targets \"%s\", want \"%s\"; "
			    "err \"%s\"\n", c[i].host ? "host" : "mx", c[i].name, st,
			    c[i].st, show(t, n), c[i].want, err);
		CU_ASSERT_EQUAL(st, c[i].st);
		CU_ASSERT_STRING_EQUAL(show(t, n), c[i].want);
		if (c[i].err == NULL) {
			CU_ASSERT_STRING_EQUAL(err, "");
		} else {
			CU_ASSERT_PTR_NOT_NULL(strstr(err, c[i].err));
		}
	}
}

static const struct dns_case server_cases[] = {
	{ "order.test", 0, DNS_OK,
	  "mx1.test 10 127.0.0.11:2525, mx2.test 20 127.0.0.12:2525", NULL },
	{ "ORDER.test.", 0, DNS_OK,
	  "mx1.test 10 127.0.0.11:2525, mx2.test 20 127.0.0.12:2525", NULL },
	{ "dual.test", 0, DNS_OK,
	  "both.test 10 127.0.0.31:2525, both.test 10 [2001:db8::31]:2525", NULL },
	{ "implicit.test", 0, DNS_OK, "implicit.test 0 127.0.0.41:2525", NULL },
	{ "nullmx.test", 0, DNS_NULL_MX, "", "null MX" },
	{ "nosuch.test", 0, DNS_PERM, "", "nosuch.test: no such domain" },
	{ "noaddr.test", 0, DNS_TEMP, "", "no MX host has an address" },
	{ "partial.test", 0, DNS_OK, "mx2.test 20 127.0.0.12:2525", NULL },
	{ "cname.test", 0, DNS_OK, "alias.test 10 127.0.0.51:2525", NULL },
	{ "mx1.test", 1, DNS_OK, "mx1.test 0 127.0.0.11:2525", NULL },
	{ "both.test", 1, DNS_OK,
	  "both.test 0 127.0.0.31:2525, both.test 0 [2001:db8::31]:2525", NULL },
	{ "alias.test", 1, DNS_OK, "alias.test 0 127.0.0.51:2525", NULL },
	{ "order.test", 1, DNS_PERM, "", "no MX or address records" },
	{ "nosuch.test", 1, DNS_PERM, "", "no such domain" },
};

static void test_server_cases(void)
{
	struct dns_resolver *r;
	char err[256];

	NEED_DNSMASQ();
	r = dns_resolver_new(ns4, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	run_cases(r, server_cases, sizeof server_cases / sizeof server_cases[0]);
	dns_resolver_free(r);
}

/* Equal preferences come in both orders over 50 lookups, never one lost. */
static void test_shuffle(void)
{
	struct dns_target t[DNS_MAX_TARGETS];
	struct dns_resolver *r;
	char err[256];
	int seen_a = 0, seen_b = 0;
	size_t n;

	NEED_DNSMASQ();
	r = dns_resolver_new(ns4, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	for (int i = 0; i < 50; i++) {
		const char *s;

		CU_ASSERT_EQUAL(dns_mx_targets(r, "equal.test", PORT, t, &n, err, sizeof err), DNS_OK);
		s = show(t, n);
		if (strcmp(s, "eqa.test 10 127.0.0.21:2525, eqb.test 10 127.0.0.22:2525") == 0)
			seen_a++;
		else if (strcmp(s, "eqb.test 10 127.0.0.22:2525, eqa.test 10 127.0.0.21:2525") == 0)
			seen_b++;
		else
			CU_FAIL("equal.test: unexpected targets");
	}
	CU_ASSERT_EQUAL(seen_a + seen_b, 50);
	CU_ASSERT(seen_a > 0);
	CU_ASSERT(seen_b > 0);
	dns_resolver_free(r);
}

/*
 * A host with 7 addresses gives 5 distinct ones (dnsmasq rotates them);
 * a zone of 6 MX hosts like it gives 20 in all, in preference order.
 */
static void test_caps(void)
{
	struct dns_target t[DNS_MAX_TARGETS];
	struct dns_resolver *r;
	char err[256];
	unsigned seen = 0;
	size_t n;

	NEED_DNSMASQ();
	r = dns_resolver_new(ns4, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(dns_host_targets(r, "fat.test", PORT, t, &n, err, sizeof err), DNS_OK);
	CU_ASSERT_EQUAL_FATAL(n, DNS_MAX_HOST_ADDRS);
	for (size_t i = 0; i < n; i++) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&t[i].addr;
		uint32_t a = ntohl(s4->sin_addr.s_addr);

		CU_ASSERT_EQUAL(s4->sin_family, AF_INET);
		CU_ASSERT_EQUAL(ntohs(s4->sin_port), PORT);
		CU_ASSERT(a >= 0x7f00003d && a <= 0x7f000043);	/* 127.0.0.61-67 */
		if (a >= 0x7f00003d && a <= 0x7f000043)
			seen |= 1u << (a - 0x7f00003d);
	}
	CU_ASSERT_EQUAL(__builtin_popcount(seen), DNS_MAX_HOST_ADDRS);
	CU_ASSERT_EQUAL(dns_mx_targets(r, "big.test", PORT, t, &n, err, sizeof err), DNS_OK);
	CU_ASSERT_EQUAL_FATAL(n, DNS_MAX_TARGETS);
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_STRING_EQUAL(t[i].host, "fat.test");
		CU_ASSERT_EQUAL(t[i].pref, (int)(i / DNS_MAX_HOST_ADDRS) + 1);
	}
	dns_resolver_free(r);
}

/* dns.nameserver as an IPv6 address reaches the same server. */
static void test_ipv6_nameserver(void)
{
	static const struct dns_case c[] = {
		{ "order.test", 0, DNS_OK,
		  "mx1.test 10 127.0.0.11:2525, mx2.test 20 127.0.0.12:2525", NULL },
	};
	struct dns_resolver *r;
	char ns6[64], err[256];

	NEED_DNSMASQ();
	if (!have_ipv6) {
		printf("# SKIP %s: no ::1\n", __func__);
		CU_PASS("skipped");
		return;
	}
	str_format(ns6, sizeof ns6, "[::1]:%d", dnsmasq_port);
	r = dns_resolver_new(ns6, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	run_cases(r, c, 1);
	dns_resolver_free(r);
}

/* ---- no server needed ---- */

/* A UDP socket that never answers; the resolver must give up on it. */
static int silent_server(int *port)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	socklen_t len = sizeof s4;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&s4, sizeof s4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&s4, &len) < 0)
		return -1;
	*port = ntohs(s4.sin_port);
	return fd;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Literals never touch DNS: the resolver here points at a silent server. */
static void test_literals(void)
{
	static const struct dns_case c[] = {
		{ "[192.0.2.1]", 0, DNS_OK, "[192.0.2.1] 0 192.0.2.1:2525", NULL },
		{ "[IPv6:2001:db8::1]", 0, DNS_OK,
		  "[IPv6:2001:db8::1] 0 [2001:db8::1]:2525", NULL },
		{ "[ipv6:::1]", 0, DNS_OK, "[ipv6:::1] 0 [::1]:2525", NULL },
		{ "[2001:db8::1]", 0, DNS_PERM, "", "bad address literal" },
		{ "[IPv6:192.0.2.1]", 0, DNS_PERM, "", "bad address literal" },
		{ "[192.0.2.300]", 0, DNS_PERM, "", "bad address literal" },
		{ "[192.0.2.1", 0, DNS_PERM, "", "bad address literal" },
		{ "[]", 0, DNS_PERM, "", "bad address literal" },
		{ "[mx1.test]", 0, DNS_PERM, "", "bad address literal" },
		{ "", 0, DNS_PERM, "", "bad domain name" },
		{ ".", 0, DNS_PERM, "", "bad domain name" },
		{ "192.0.2.7", 1, DNS_OK, "192.0.2.7 0 192.0.2.7:2525", NULL },
		{ "2001:db8::7", 1, DNS_OK, "2001:db8::7 0 [2001:db8::7]:2525", NULL },
		{ "[192.0.2.7]", 1, DNS_OK, "[192.0.2.7] 0 192.0.2.7:2525", NULL },
		{ "", 1, DNS_PERM, "", "bad domain name" },
	};
	struct dns_resolver *r;
	char ns[64], err[256];
	int fd, port;
	double t0;

	fd = silent_server(&port);
	CU_ASSERT_FATAL(fd >= 0);
	str_format(ns, sizeof ns, "127.0.0.1:%d", port);
	r = dns_resolver_new(ns, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	t0 = now();
	run_cases(r, c, sizeof c / sizeof c[0]);
	CU_ASSERT(now() - t0 < 0.5);
	dns_resolver_free(r);
	close(fd);
}

/* A server that never answers: DNS_TEMP, after the short timeout only. */
static void test_silent_server(void)
{
	struct dns_target t[DNS_MAX_TARGETS];
	struct dns_resolver *r;
	char ns[64], err[256];
	int fd, port;
	size_t n;
	double t0, dt;

	fd = silent_server(&port);
	CU_ASSERT_FATAL(fd >= 0);
	str_format(ns, sizeof ns, "127.0.0.1:%d", port);
	r = dns_resolver_new(ns, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	t0 = now();
	CU_ASSERT_EQUAL(dns_mx_targets(r, "order.test", PORT, t, &n, err, sizeof err), DNS_TEMP);
	dt = now() - t0;
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "order.test: MX lookup failed"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "timed out"));
	CU_ASSERT(dt >= 1.0 && dt < 8.0);
	if (!(dt >= 1.0 && dt < 8.0))
		printf("# silent server: %.1f s\n", dt);
	dns_resolver_free(r);
	close(fd);
}

/* A port nobody listens on (ICMP unreachable): DNS_TEMP at once. */
static void test_closed_port(void)
{
	struct dns_target t[DNS_MAX_TARGETS];
	struct dns_resolver *r;
	char ns[64], err[256];
	int fd, port;
	size_t n;
	double t0;

	fd = silent_server(&port);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	str_format(ns, sizeof ns, "127.0.0.1:%d", port);
	r = dns_resolver_new(ns, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	t0 = now();
	CU_ASSERT_EQUAL(dns_host_targets(r, "mx1.test", PORT, t, &n, err, sizeof err), DNS_TEMP);
	CU_ASSERT(now() - t0 < 5.0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "mx1.test: address lookup failed"));
	dns_resolver_free(r);
}

/* dns.nameserver values: bad ones refused, "" the system resolver. */
static void test_resolver_new(void)
{
	static const struct { const char *ns; int ok; } c[] = {
		{ "", 1 }, { "127.0.0.1", 1 }, { "127.0.0.1:5353", 1 },
		{ "[::1]:5353", 1 }, { "::1", 1 },
		{ "nonsense", 0 }, { "127.0.0.1:0", 0 }, { "127.0.0.1:99999", 0 },
		{ "ns.example:53", 0 },
	};
	struct dns_resolver *r;
	char err[256];

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		err[0] = '\0';
		r = dns_resolver_new(c[i].ns, err, sizeof err);
		if ((r != NULL) != c[i].ok)
			printf("# dns_resolver_new(\"%s\"): %s\n", c[i].ns, r ? "accepted" : err);
		CU_ASSERT_EQUAL(r != NULL, c[i].ok);
		if (!c[i].ok) {
			CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad nameserver"));
		}
		dns_resolver_free(r);
	}
	CU_ASSERT_PTR_NOT_NULL(r = dns_resolver_new(NULL, err, sizeof err));
	dns_resolver_free(r);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("dns", NULL, NULL);
	CU_add_test(s, "nameserver values", test_resolver_new);
	CU_add_test(s, "address literals without DNS", test_literals);
	CU_add_test(s, "silent nameserver: DNS_TEMP after the timeout", test_silent_server);
	CU_add_test(s, "closed nameserver port: DNS_TEMP", test_closed_port);
	s = CU_add_suite("dns against dnsmasq", suite_init, suite_clean);
	CU_add_test(s, "MX order, implicit/null MX, NXDOMAIN, CNAME, hosts", test_server_cases);
	CU_add_test(s, "equal preferences shuffled", test_shuffle);
	CU_add_test(s, "caps: 5 addresses per host, 20 in all", test_caps);
	CU_add_test(s, "IPv6 nameserver", test_ipv6_nameserver);
	return cutap_run();
}
