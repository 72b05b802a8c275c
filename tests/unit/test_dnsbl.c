/*
 * test_dnsbl.c: DNS blocklists (filter/dnsbl.h): query names, what an
 * answer means, exemptions, and lookups against a real DNS server (a
 * dnsmasq on a free loopback port serving bl.test, as test_dns.c does)
 * and against one that never answers.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cutap.h"
#include "dnsbl.h"

static const char *dnsmasq_path;
static pid_t dnsmasq_pid = -1;
static char ns4[64];

/*
 * bl.test: 192.0.2.99 listed (127.0.0.2, with a reason), 192.0.2.98 the
 * "you query through a public resolver" code, 2001:db8::1 listed
 * (127.0.0.4), 192.0.2.97 answered outside 127/8; nothing else.
 */
static const char *const zone[] = {
	"--local=/test/",
	"--host-record=ready.test,127.0.0.1",
	"--host-record=99.2.0.192.bl.test,127.0.0.2",
	"--txt-record=99.2.0.192.bl.test,listed for testing",
	"--host-record=98.2.0.192.bl.test,127.255.255.254",
	"--host-record=97.2.0.192.bl.test,192.0.2.1",
	"--host-record=1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test,127.0.0.4",
	"--host-record=99.2.0.192.two.test,127.0.0.3",
};

/* A free UDP and TCP port on 127.0.0.1. */
static int free_port(void)
{
	for (int tries = 0; tries < 50; tries++) {
		struct sockaddr_in s4 = { .sin_family = AF_INET };
		socklen_t len = sizeof s4;
		int u = socket(AF_INET, SOCK_DGRAM, 0), t, ok;

		s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (u < 0 || bind(u, (struct sockaddr *)&s4, sizeof s4) < 0 ||
		    getsockname(u, (struct sockaddr *)&s4, &len) < 0)
			return -1;
		t = socket(AF_INET, SOCK_STREAM, 0);
		ok = t >= 0 && bind(t, (struct sockaddr *)&s4, sizeof s4) == 0;
		close(u);
		if (t >= 0)
			close(t);
		if (ok)
			return ntohs(s4.sin_port);
	}
	return -1;
}

static void dnsmasq_stop(void)
{
	if (dnsmasq_pid > 0) {
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, NULL, 0);
		dnsmasq_pid = -1;
	}
}

static int dnsmasq_start(void)
{
	static const char *const paths[] = { "/usr/sbin/dnsmasq", "/usr/local/sbin/dnsmasq",
	    "/sbin/dnsmasq", NULL };
	char portarg[32], log[512], err[256];
	const char *argv[64];
	size_t argc = 0, n;
	struct in_addr a[4];
	struct dns_resolver *r;
	int fd, port;

	for (size_t i = 0; paths[i] != NULL && dnsmasq_path == NULL; i++)
		if (access(paths[i], X_OK) == 0)
			dnsmasq_path = paths[i];
	if (dnsmasq_path == NULL)
		return 0;
	if ((port = free_port()) < 0)
		return -1;
	str_format(portarg, sizeof portarg, "--port=%d", port);
	str_format(ns4, sizeof ns4, "127.0.0.1:%d", port);
	str_format(log, sizeof log, "%s/dnsmasq.log", cutap_tmpdir());
	argv[argc++] = dnsmasq_path;
	argv[argc++] = "--no-daemon";
	argv[argc++] = portarg;
	argv[argc++] = "--listen-address=127.0.0.1";
	argv[argc++] = "--bind-interfaces";
	argv[argc++] = "--no-resolv";
	argv[argc++] = "--no-hosts";
	argv[argc++] = "--conf-file=/dev/null";
	argv[argc++] = "--pid-file";
	if (geteuid() == 0)
		argv[argc++] = "--user=root";
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
		if (dns_lookup_a(r, "ready.test", a, 4, &n, err, sizeof err) == DNS_OK) {
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

#define NEED_DNSMASQ() do { \
	if (dnsmasq_path == NULL) { \
		printf("# SKIP %s: dnsmasq not installed\n", __func__); \
		CU_PASS("skipped"); \
		return; \
	} \
} while (0)

/* A configuration with local domains and zones, built by hand. */
static char *domains[] = { "example.net", "example.org" };
static char *zones2[] = { "bl.test", "two.test" };

static void conf_fake(struct conf *c, char **z, size_t nz)
{
	memset(c, 0, sizeof *c);
	c->domains = domains;
	c->ndomains = 2;
	c->dnsbl.zones = z;
	c->dnsbl.nzones = nz;
}

static void test_query_names(void)
{
	static const struct {
		const char *addr, *zone, *want;
	} c[] = {
		{ "192.0.2.99", "zen.example", "99.2.0.192.zen.example" },
		{ "10.0.0.1", "bl.test", "1.0.0.10.bl.test" },
		{ "::ffff:198.51.100.7", "bl.test", "7.100.51.198.bl.test" },
		{ "2001:db8::1", "bl.test",
		    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test" },
		{ "2001:DB8:abcd::ff00", "z",
		    "0.0.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.b.d.0.1.0.0.2.z" },
	};
	char out[300];

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		CU_ASSERT_EQUAL(dnsbl_query_name(c[i].addr, c[i].zone, out, sizeof out), 0);
		CU_ASSERT_STRING_EQUAL(out, c[i].want);
	}
	CU_ASSERT_EQUAL(dnsbl_query_name("192.0.2.300", "bl.test", out, sizeof out), -1);
	CU_ASSERT_EQUAL(dnsbl_query_name("example.com", "bl.test", out, sizeof out), -1);
	CU_ASSERT_EQUAL(dnsbl_query_name("192.0.2.1", "", out, sizeof out), -1);
	CU_ASSERT_EQUAL(dnsbl_query_name("192.0.2.1", "bl.test", out, 8), -1);
	{
		char longzone[260];

		memset(longzone, 'a', 250);
		longzone[250] = '\0';
		CU_ASSERT_EQUAL(dnsbl_query_name("192.0.2.1", longzone, out, sizeof out), -1);
	}
}

static void test_classify(void)
{
	struct in_addr a[3];
	size_t which;

	memset(a, 0, sizeof a);
	CU_ASSERT_EQUAL(dnsbl_classify(a, 0, &which), DNSBL_NOT_LISTED);
	inet_pton(AF_INET, "127.0.0.2", &a[0]);
	CU_ASSERT_EQUAL(dnsbl_classify(a, 1, &which), DNSBL_LISTED);
	/* Spamhaus's "public resolver" and "over quota" codes: errors. */
	for (int last = 0; last < 256; last += 1) {
		char t[32];

		str_format(t, sizeof t, "127.255.255.%d", last);
		inet_pton(AF_INET, t, &a[0]);
		CU_ASSERT_EQUAL(dnsbl_classify(a, 1, &which), DNSBL_ERROR_ANSWER);
	}
	inet_pton(AF_INET, "127.255.254.255", &a[0]);
	CU_ASSERT_EQUAL(dnsbl_classify(a, 1, &which), DNSBL_LISTED);
	inet_pton(AF_INET, "192.0.2.1", &a[0]);
	CU_ASSERT_EQUAL(dnsbl_classify(a, 1, &which), DNSBL_ERROR_ANSWER);
	/* A real code beside an error code lists. */
	inet_pton(AF_INET, "127.255.255.254", &a[0]);
	inet_pton(AF_INET, "127.0.0.10", &a[1]);
	CU_ASSERT_EQUAL(dnsbl_classify(a, 2, &which), DNSBL_LISTED);
	CU_ASSERT_EQUAL(which, 1);
}

static void test_exemptions(void)
{
	struct conf c;

	conf_fake(&c, NULL, 0);
	CU_ASSERT_TRUE(dnsbl_rcpt_exempt(&c, "postmaster@example.net"));
	CU_ASSERT_TRUE(dnsbl_rcpt_exempt(&c, "PostMaster@Example.ORG"));
	CU_ASSERT_TRUE(dnsbl_rcpt_exempt(&c, "abuse@example.net"));
	CU_ASSERT_TRUE(dnsbl_rcpt_exempt(&c, "abuse@example.net."));
	CU_ASSERT_TRUE(dnsbl_rcpt_exempt(&c, "postmaster"));
	CU_ASSERT_TRUE(dnsbl_rcpt_exempt(&c, "POSTMASTER"));
	CU_ASSERT_FALSE(dnsbl_rcpt_exempt(&c, "postmaster@remote.example"));
	CU_ASSERT_FALSE(dnsbl_rcpt_exempt(&c, "postmaster@sub.example.net"));
	CU_ASSERT_FALSE(dnsbl_rcpt_exempt(&c, "user@example.net"));
	CU_ASSERT_FALSE(dnsbl_rcpt_exempt(&c, "postmasters@example.net"));
	CU_ASSERT_FALSE(dnsbl_rcpt_exempt(&c, "abus@example.net"));
	CU_ASSERT_FALSE(dnsbl_rcpt_exempt(&c, "abuse"));
	CU_ASSERT_TRUE(dnsbl_client_checked(CLIENT_OUTSIDE, 0));
	CU_ASSERT_FALSE(dnsbl_client_checked(CLIENT_OUTSIDE, 1));
	CU_ASSERT_FALSE(dnsbl_client_checked(CLIENT_CUSTOMER, 0));
	CU_ASSERT_FALSE(dnsbl_client_checked(CLIENT_TRUSTED, 0));
}

static void test_zone_answers(void)
{
	struct dnsbl_answer a;
	struct dns_resolver *r;
	char err[256];

	NEED_DNSMASQ();
	r = dns_resolver_new(ns4, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(dnsbl_check_zone(r, "192.0.2.99", "bl.test", 1, &a), DNSBL_LISTED);
	CU_ASSERT_STRING_EQUAL(a.answer, "127.0.0.2");
	if (strcmp(a.reason, "listed for testing") != 0)
		printf("# reason: \"%s\"\n", a.reason);
	CU_ASSERT_STRING_EQUAL(a.reason, "listed for testing");
	CU_ASSERT_STRING_EQUAL(a.zone, "bl.test");
	CU_ASSERT_EQUAL(dnsbl_check_zone(r, "192.0.2.1", "bl.test", 1, &a), DNSBL_NOT_LISTED);
	CU_ASSERT_STRING_EQUAL(a.answer, "");
	CU_ASSERT_EQUAL(dnsbl_check_zone(r, "192.0.2.98", "bl.test", 1, &a), DNSBL_ERROR_ANSWER);
	CU_ASSERT_STRING_EQUAL(a.answer, "127.255.255.254");
	CU_ASSERT_PTR_NOT_NULL(strstr(a.err, "not a listing"));
	CU_ASSERT_EQUAL(dnsbl_check_zone(r, "192.0.2.97", "bl.test", 0, &a), DNSBL_ERROR_ANSWER);
	CU_ASSERT_EQUAL(dnsbl_check_zone(r, "2001:db8::1", "bl.test", 0, &a), DNSBL_LISTED);
	CU_ASSERT_STRING_EQUAL(a.answer, "127.0.0.4");
	CU_ASSERT_STRING_EQUAL(a.reason, "");
	CU_ASSERT_EQUAL(dnsbl_check_zone(r, "2001:db8::2", "bl.test", 0, &a), DNSBL_NOT_LISTED);
	CU_ASSERT_EQUAL(dnsbl_check_zone(r, "nonsense", "bl.test", 0, &a), DNSBL_BAD_INPUT);
	dns_resolver_free(r);
}

/* The RCPT check: exemptions first, zones in order, one lookup per session. */
static void test_rcpt_check(void)
{
	struct dnsbl_cache cache;
	struct dnsbl_answer a;
	struct dns_resolver *r;
	struct conf c;
	char err[256];

	NEED_DNSMASQ();
	r = dns_resolver_new(ns4, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	conf_fake(&c, zones2, 2);
	memset(&cache, 0, sizeof cache);
	CU_ASSERT_EQUAL(dnsbl_rcpt_check(r, &c, &cache, CLIENT_OUTSIDE, 0, "192.0.2.99",
	    "user@example.net", &a), DNSBL_BLOCK);
	CU_ASSERT_STRING_EQUAL(a.zone, "bl.test");
	CU_ASSERT_TRUE(cache.done);
	/* The same session asks no more (the cache answers, even for another zone's data). */
	cache.ans.result = DNSBL_NOT_LISTED;
	CU_ASSERT_EQUAL(dnsbl_rcpt_check(r, &c, &cache, CLIENT_OUTSIDE, 0, "192.0.2.99",
	    "user@example.net", &a), DNSBL_PASS);
	memset(&cache, 0, sizeof cache);
	CU_ASSERT_EQUAL(dnsbl_rcpt_check(r, &c, &cache, CLIENT_OUTSIDE, 0, "192.0.2.99",
	    "postmaster@example.net", &a), DNSBL_PASS);
	CU_ASSERT_FALSE(cache.done);
	CU_ASSERT_EQUAL(dnsbl_rcpt_check(r, &c, &cache, CLIENT_OUTSIDE, 0, "192.0.2.99",
	    "abuse@example.org", &a), DNSBL_PASS);
	CU_ASSERT_EQUAL(dnsbl_rcpt_check(r, &c, &cache, CLIENT_CUSTOMER, 0, "192.0.2.99",
	    "user@example.net", &a), DNSBL_PASS);
	CU_ASSERT_EQUAL(dnsbl_rcpt_check(r, &c, &cache, CLIENT_TRUSTED, 0, "192.0.2.99",
	    "user@example.net", &a), DNSBL_PASS);
	CU_ASSERT_EQUAL(dnsbl_rcpt_check(r, &c, &cache, CLIENT_OUTSIDE, 1, "192.0.2.99",
	    "user@remote.example", &a), DNSBL_PASS);
	CU_ASSERT_FALSE(cache.done);
	/* The error answer of the first zone is no listing; the second zone lists. */
	CU_ASSERT_EQUAL(dnsbl_rcpt_check(r, &c, &cache, CLIENT_OUTSIDE, 0, "192.0.2.98",
	    "user@example.net", &a), DNSBL_PASS);
	CU_ASSERT_EQUAL(a.result, DNSBL_NOT_LISTED);
	memset(&cache, 0, sizeof cache);
	{
		char *z[] = { "none.test", "two.test" };

		conf_fake(&c, z, 2);
		CU_ASSERT_EQUAL(dnsbl_rcpt_check(r, &c, &cache, CLIENT_OUTSIDE, 0,
		    "192.0.2.99", "user@example.net", &a), DNSBL_BLOCK);
		CU_ASSERT_STRING_EQUAL(a.zone, "two.test");
		CU_ASSERT_STRING_EQUAL(a.answer, "127.0.0.3");
	}
	/* No zones: nothing asked. */
	memset(&cache, 0, sizeof cache);
	conf_fake(&c, NULL, 0);
	CU_ASSERT_EQUAL(dnsbl_rcpt_check(r, &c, &cache, CLIENT_OUTSIDE, 0, "192.0.2.99",
	    "user@example.net", &a), DNSBL_PASS);
	CU_ASSERT_FALSE(cache.done);
	dns_resolver_free(r);
}

/* A zone that does not answer: NO_ANSWER, and the RCPT check lets the mail in. */
static void test_silent_zone(void)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	socklen_t len = sizeof s4;
	struct dnsbl_cache cache;
	struct dnsbl_answer a;
	struct dns_resolver *r;
	struct conf c;
	char ns[64], err[256];
	char *z[] = { "bl.test" };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&s4, sizeof s4) == 0 &&
	    getsockname(fd, (struct sockaddr *)&s4, &len) == 0);
	str_format(ns, sizeof ns, "127.0.0.1:%d", ntohs(s4.sin_port));
	r = dns_resolver_new(ns, err, sizeof err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(dnsbl_check_zone(r, "192.0.2.99", "bl.test", 1, &a), DNSBL_NO_ANSWER);
	CU_ASSERT_PTR_NOT_NULL(strstr(a.err, "timed out"));
	conf_fake(&c, z, 1);
	memset(&cache, 0, sizeof cache);
	CU_ASSERT_EQUAL(dnsbl_rcpt_check(r, &c, &cache, CLIENT_OUTSIDE, 0, "192.0.2.99",
	    "user@example.net", &a), DNSBL_PASS);
	CU_ASSERT_EQUAL(a.result, DNSBL_NO_ANSWER);
	dns_resolver_free(r);
	close(fd);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("dnsbl", NULL, NULL);
	CU_add_test(s, "query names: IPv4 octets, IPv6 nibbles, mapped", test_query_names);
	CU_add_test(s, "answers: 127.0.0.0/8 lists, 127.255.255.0/24 is an error", test_classify);
	CU_add_test(s, "exemptions: clients, postmaster@ and abuse@", test_exemptions);
	CU_add_test(s, "a zone that never answers", test_silent_zone);
	s = CU_add_suite("dnsbl against dnsmasq", suite_init, suite_clean);
	CU_add_test(s, "listed, not listed, error answer, IPv6", test_zone_answers);
	CU_add_test(s, "the RCPT check", test_rcpt_check);
	return cutap_run();
}
