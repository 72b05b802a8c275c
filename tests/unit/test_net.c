/*
 * test_net.c: CIDR parsing, matching, the client class and the relay key
 * text, walked as tables (docs/PROTOCOL.md).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cutap.h"
#include "net.h"

/* ---- parsing ---- */

struct parse_case {
	const char *in;
	int ok;
	int family;
	const char *text;	/* net_cidr_text of the result, or a substring of err */
};

static const struct parse_case parse_cases[] = {
	{ "192.0.2.0/24", 1, AF_INET, "192.0.2.0/24" },
	{ "192.0.2.7", 1, AF_INET, "192.0.2.7/32" },
	{ "192.0.2.7/32", 1, AF_INET, "192.0.2.7/32" },
	{ "0.0.0.0/0", 1, AF_INET, "0.0.0.0/0" },
	{ "10.0.0.0/8", 1, AF_INET, "10.0.0.0/8" },
	{ "100.64.0.0/10", 1, AF_INET, "100.64.0.0/10" },
	{ "192.0.2.6/31", 1, AF_INET, "192.0.2.6/31" },
	{ "192.0.2.128/25", 1, AF_INET, "192.0.2.128/25" },
	{ "255.255.255.255/32", 1, AF_INET, "255.255.255.255/32" },
	{ "128.0.0.0/1", 1, AF_INET, "128.0.0.0/1" },
	{ "192.0.2.0/024", 1, AF_INET, "192.0.2.0/24" },
	{ "2001:db8::/32", 1, AF_INET6, "2001:db8::/32" },
	{ "2001:DB8::/32", 1, AF_INET6, "2001:db8::/32" },
	{ "2001:db8::1", 1, AF_INET6, "2001:db8::1/128" },
	{ "2001:db8::1/128", 1, AF_INET6, "2001:db8::1/128" },
	{ "::/0", 1, AF_INET6, "::/0" },
	{ "::1/128", 1, AF_INET6, "::1/128" },
	{ "::1", 1, AF_INET6, "::1/128" },
	{ "2001:db8:8000::/33", 1, AF_INET6, "2001:db8:8000::/33" },
	{ "2001:db8::/127", 1, AF_INET6, "2001:db8::/127" },
	{ "2001:db8::2/127", 1, AF_INET6, "2001:db8::2/127" },
	{ "2001:db8:1:2::/64", 1, AF_INET6, "2001:db8:1:2::/64" },
	{ "fe80::/10", 1, AF_INET6, "fe80::/10" },
	/* IPv4-mapped: the IPv4 network it stands for. */
	{ "::ffff:192.0.2.7", 1, AF_INET, "192.0.2.7/32" },
	{ "::FFFF:192.0.2.7", 1, AF_INET, "192.0.2.7/32" },
	{ "::ffff:192.0.2.0/120", 1, AF_INET, "192.0.2.0/24" },
	{ "::ffff:0.0.0.0/96", 1, AF_INET, "0.0.0.0/0" },
	{ "::ffff:c000:207", 1, AF_INET, "192.0.2.7/32" },
	/* Shorter than the mapping prefix: spans real IPv6 too, stays IPv6. */
	{ "::/80", 1, AF_INET6, "::/80" },
	/* Garbage. */
	{ "", 0, 0, "empty" },
	{ "1.2.3", 0, 0, "not an IPv4 or IPv6 address" },
	{ "300.1.1.1", 0, 0, "not an IPv4 or IPv6 address" },
	{ "1.2.3.4.5", 0, 0, "not an IPv4 or IPv6 address" },
	{ "01.2.3.4", 0, 0, "not an IPv4 or IPv6 address" },
	{ "1.2.3.4/33", 0, 0, "from 0 to 32" },
	{ "::1/129", 0, 0, "from 0 to 128" },
	{ "1.2.3.4/-1", 0, 0, "from 0 to 32" },
	{ "1.2.3.4/+8", 0, 0, "from 0 to 32" },
	{ "1.2.3.4/", 0, 0, "from 0 to 32" },
	{ "1.2.3.4/1000", 0, 0, "from 0 to 32" },
	{ "1.2.3.4/0x8", 0, 0, "from 0 to 32" },
	{ "1.2.3.4/ 8", 0, 0, "from 0 to 32" },
	{ "1.2.3.4/24/8", 0, 0, "from 0 to 32" },
	{ "1.2.3.0/24 ", 0, 0, "from 0 to 32" },
	{ "1.2.3.4x", 0, 0, "not an IPv4 or IPv6 address" },
	{ " 1.2.3.4", 0, 0, "not an IPv4 or IPv6 address" },
	{ "1.2.3.4 ", 0, 0, "not an IPv4 or IPv6 address" },
	{ "a/b", 0, 0, "not an IPv4 or IPv6 address" },
	{ "/24", 0, 0, "not an IPv4 or IPv6 address" },
	{ "example.net", 0, 0, "not an IPv4 or IPv6 address" },
	{ "2001:db8::1::2", 0, 0, "not an IPv4 or IPv6 address" },
	{ "fe80::1%eth0", 0, 0, "not an IPv4 or IPv6 address" },
	{ "[::1]", 0, 0, "not an IPv4 or IPv6 address" },
	{ "1111111111111111111111111111111111111111111111111111111111111111111", 0, 0,
	  "not an IPv4 or IPv6 address" },
	/* Host bits beyond the prefix, with the network probably meant. */
	{ "192.0.2.1/24", 0, 0, "host bits set beyond the prefix (did you mean 192.0.2.0/24?)" },
	{ "192.0.2.7/31", 0, 0, "did you mean 192.0.2.6/31?" },
	{ "1.0.0.0/0", 0, 0, "did you mean 0.0.0.0/0?" },
	{ "2001:db8::1/64", 0, 0, "did you mean 2001:db8::/64?" },
	{ "2001:db8::1/127", 0, 0, "did you mean 2001:db8::/127?" },
	{ "2001:db8:c000::/33", 0, 0, "did you mean 2001:db8:8000::/33?" },
	{ "::ffff:192.0.2.1/120", 0, 0, "did you mean 192.0.2.0/24?" },
};

static void test_cidr_parse_table(void)
{
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *t = &parse_cases[i];
		struct cidr c;
		char err[160] = "", text[NET_ADDR_MAX];
		int r;

		memset(&c, 0xa5, sizeof c);
		r = net_cidr_parse(t->in, &c, err, sizeof err);
		if (t->ok) {
			CU_ASSERT_EQUAL(r, 0);
			CU_ASSERT_EQUAL(c.family, t->family);
			net_cidr_text(&c, text, sizeof text);
			CU_ASSERT_STRING_EQUAL(text, t->text);
			if (r != 0 || strcmp(text, t->text) != 0)
				printf("# case \"%s\": r=%d text=%s err=%s\n", t->in, r, text, err);
		} else {
			CU_ASSERT_EQUAL(r, -1);
			CU_ASSERT_PTR_NOT_NULL(strstr(err, t->text));
			/* A failed parse leaves nothing half-filled behind. */
			CU_ASSERT_EQUAL(c.family, 0);
			CU_ASSERT_EQUAL(c.prefix, 0);
			if (r != -1 || strstr(err, t->text) == NULL)
				printf("# case \"%s\": r=%d err=%s\n", t->in, r, err);
		}
	}
}

/* The IPv4 bytes sit in addr[0..3]; everything after the prefix is zero. */
static void test_cidr_parse_layout(void)
{
	struct cidr c;
	static const unsigned char v4[16] = { 192, 0, 2, 0 };
	static const unsigned char v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0x80 };

	CU_ASSERT_EQUAL(net_cidr_parse("192.0.2.0/24", &c, NULL, 0), 0);
	CU_ASSERT_EQUAL(c.prefix, 24);
	CU_ASSERT_EQUAL(memcmp(c.addr, v4, 16), 0);
	CU_ASSERT_EQUAL(net_cidr_parse("::ffff:192.0.2.0/120", &c, NULL, 0), 0);
	CU_ASSERT_EQUAL(c.family, AF_INET);
	CU_ASSERT_EQUAL(c.prefix, 24);
	CU_ASSERT_EQUAL(memcmp(c.addr, v4, 16), 0);
	CU_ASSERT_EQUAL(net_cidr_parse("2001:db8:8000::/33", &c, NULL, 0), 0);
	CU_ASSERT_EQUAL(c.prefix, 33);
	CU_ASSERT_EQUAL(memcmp(c.addr, v6, 16), 0);
	/* NULL input and a tiny error buffer are survivable. */
	CU_ASSERT_EQUAL(net_cidr_parse(NULL, &c, NULL, 0), -1);
	{
		char small[5];

		CU_ASSERT_EQUAL(net_cidr_parse("x", &c, small, sizeof small), -1);
		CU_ASSERT_STRING_EQUAL(small, "not ");
	}
}

struct addr_case {
	const char *in;
	int ok;
	int family;
	const char *text;
};

static const struct addr_case addr_cases[] = {
	{ "192.0.2.7", 1, AF_INET, "192.0.2.7" },
	{ "::ffff:192.0.2.7", 1, AF_INET, "192.0.2.7" },
	{ "2001:db8::1", 1, AF_INET6, "2001:db8::1" },
	{ "2001:0db8:0000:0000:0000:0000:0000:0001", 1, AF_INET6, "2001:db8::1" },
	{ "::", 1, AF_INET6, "::" },
	{ "::ffff:0:0", 1, AF_INET, "0.0.0.0" },
	/* Not mapped: IPv4-compatible (deprecated) and NAT64 stay IPv6. */
	{ "::192.0.2.7", 1, AF_INET6, "::192.0.2.7" },
	{ "64:ff9b::192.0.2.7", 1, AF_INET6, "64:ff9b::c000:207" },
	{ "192.0.2.0/24", 0, 0, "" },
	{ "", 0, 0, "" },
	{ "1.2.3", 0, 0, "" },
	{ "localhost", 0, 0, "" },
};

static void test_addr_parse_table(void)
{
	for (size_t i = 0; i < sizeof addr_cases / sizeof addr_cases[0]; i++) {
		const struct addr_case *t = &addr_cases[i];
		struct cidr c;
		char text[NET_ADDR_MAX];
		int r = net_addr_parse(t->in, &c);

		if (!t->ok) {
			CU_ASSERT_EQUAL(r, -1);
			continue;
		}
		CU_ASSERT_EQUAL(r, 0);
		CU_ASSERT_EQUAL(c.family, t->family);
		CU_ASSERT_EQUAL(c.prefix, t->family == AF_INET ? 32u : 128u);
		net_addr_text(&c, text, sizeof text);
		CU_ASSERT_STRING_EQUAL(text, t->text);
	}
	CU_ASSERT_EQUAL(net_addr_parse(NULL, &(struct cidr){ 0 }), -1);
}

static void test_addr_from_sockaddr(void)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr sa;
	struct cidr c;
	char text[NET_ADDR_MAX];

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(25);
	CU_ASSERT_EQUAL(inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr), 1);
	CU_ASSERT_EQUAL(net_addr_from_sockaddr((struct sockaddr *)&sin, sizeof sin, &c), 0);
	CU_ASSERT_EQUAL(c.family, AF_INET);
	CU_ASSERT_EQUAL(c.prefix, 32);
	net_addr_text(&c, text, sizeof text);
	CU_ASSERT_STRING_EQUAL(text, "192.0.2.7");

	memset(&sin6, 0, sizeof sin6);
	sin6.sin6_family = AF_INET6;
	CU_ASSERT_EQUAL(inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6.sin6_addr), 1);
	CU_ASSERT_EQUAL(net_addr_from_sockaddr((struct sockaddr *)&sin6, sizeof sin6, &c), 0);
	CU_ASSERT_EQUAL(c.family, AF_INET);
	CU_ASSERT_EQUAL(c.prefix, 32);
	net_addr_text(&c, text, sizeof text);
	CU_ASSERT_STRING_EQUAL(text, "192.0.2.7");
	net_relay_key(&c, 64, text, sizeof text);
	CU_ASSERT_STRING_EQUAL(text, "192.0.2.7");

	CU_ASSERT_EQUAL(inet_pton(AF_INET6, "2001:db8:1:2:3:4:5:6", &sin6.sin6_addr), 1);
	CU_ASSERT_EQUAL(net_addr_from_sockaddr((struct sockaddr *)&sin6, sizeof sin6, &c), 0);
	CU_ASSERT_EQUAL(c.family, AF_INET6);
	CU_ASSERT_EQUAL(c.prefix, 128);
	net_addr_text(&c, text, sizeof text);
	CU_ASSERT_STRING_EQUAL(text, "2001:db8:1:2:3:4:5:6");

	/* Short lengths and foreign families are refused. */
	CU_ASSERT_EQUAL(net_addr_from_sockaddr((struct sockaddr *)&sin6, sizeof sin, &c), -1);
	CU_ASSERT_EQUAL(net_addr_from_sockaddr((struct sockaddr *)&sin, 2, &c), -1);
	memset(&sa, 0, sizeof sa);
	sa.sa_family = AF_UNIX;
	errno = 0;
	CU_ASSERT_EQUAL(net_addr_from_sockaddr(&sa, sizeof sa, &c), -1);
	CU_ASSERT_EQUAL(errno, EAFNOSUPPORT);
	CU_ASSERT_EQUAL(net_addr_from_sockaddr(NULL, 0, &c), -1);
}

/* ---- matching ---- */

struct match_case {
	const char *net;
	const char *addr;
	int match;
};

static const struct match_case match_cases[] = {
	{ "192.0.2.0/24", "192.0.2.0", 1 },
	{ "192.0.2.0/24", "192.0.2.255", 1 },
	{ "192.0.2.0/24", "192.0.3.0", 0 },
	{ "192.0.2.0/24", "192.0.1.255", 0 },
	{ "192.0.2.0/24", "::ffff:192.0.2.9", 1 },
	{ "::ffff:192.0.2.0/120", "192.0.2.9", 1 },
	{ "192.0.2.7", "192.0.2.7", 1 },
	{ "192.0.2.7/32", "192.0.2.6", 0 },
	{ "192.0.2.6/31", "192.0.2.6", 1 },
	{ "192.0.2.6/31", "192.0.2.7", 1 },
	{ "192.0.2.6/31", "192.0.2.8", 0 },
	{ "192.0.2.6/31", "192.0.2.5", 0 },
	{ "0.0.0.0/0", "255.255.255.255", 1 },
	{ "0.0.0.0/0", "0.0.0.0", 1 },
	{ "0.0.0.0/0", "::1", 0 },
	{ "128.0.0.0/1", "127.255.255.255", 0 },
	{ "128.0.0.0/1", "128.0.0.0", 1 },
	{ "100.64.0.0/10", "100.127.255.255", 1 },
	{ "100.64.0.0/10", "100.128.0.0", 0 },
	{ "::/0", "2001:db8::1", 1 },
	{ "::/0", "192.0.2.7", 0 },
	{ "::/0", "::ffff:192.0.2.7", 0 },
	{ "::1/128", "::1", 1 },
	{ "::1/128", "::2", 0 },
	{ "::1/128", "127.0.0.1", 0 },
	{ "127.0.0.1/32", "::1", 0 },
	{ "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 1 },
	{ "2001:db8::/32", "2001:db9::", 0 },
	{ "2001:db8::/33", "2001:db8:7fff::1", 1 },
	{ "2001:db8::/33", "2001:db8:8000::1", 0 },
	{ "2001:db8:8000::/33", "2001:db8:8000::1", 1 },
	{ "2001:db8::/127", "2001:db8::1", 1 },
	{ "2001:db8::/127", "2001:db8::2", 0 },
	{ "2001:db8:1:2::/64", "2001:db8:1:2:ffff::1", 1 },
	{ "2001:db8:1:2::/64", "2001:db8:1:3::1", 0 },
};

static void test_match_table(void)
{
	for (size_t i = 0; i < sizeof match_cases / sizeof match_cases[0]; i++) {
		const struct match_case *t = &match_cases[i];
		struct cidr net, addr;

		CU_ASSERT_EQUAL_FATAL(net_cidr_parse(t->net, &net, NULL, 0), 0);
		CU_ASSERT_EQUAL_FATAL(net_addr_parse(t->addr, &addr), 0);
		CU_ASSERT_EQUAL(net_cidr_match(&net, &addr), t->match);
		if (net_cidr_match(&net, &addr) != t->match)
			printf("# %s in %s: expected %d\n", t->addr, t->net, t->match);
	}
}

/* Fill a netlist from texts (test helper; the real lists come from conf). */
static void list_make(struct netlist *l, struct cidr *store, const char *const *nets, size_t n)
{
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL_FATAL(net_cidr_parse(nets[i], &store[i], NULL, 0), 0);
	l->v = store;
	l->n = n;
}

static void test_list_match(void)
{
	static const char *const nets[] = { "10.0.0.0/8", "2001:db8::/32", "192.0.2.7" };
	struct cidr store[3], a;
	struct netlist l, empty = { NULL, 0 };

	list_make(&l, store, nets, 3);
	CU_ASSERT_EQUAL(net_addr_parse("10.1.2.3", &a), 0);
	CU_ASSERT_EQUAL(net_list_match(&l, &a), 1);
	CU_ASSERT_EQUAL(net_list_match(&empty, &a), 0);
	CU_ASSERT_EQUAL(net_list_match(NULL, &a), 0);
	CU_ASSERT_EQUAL(net_addr_parse("2001:db8::5", &a), 0);
	CU_ASSERT_EQUAL(net_list_match(&l, &a), 1);
	CU_ASSERT_EQUAL(net_addr_parse("::ffff:192.0.2.7", &a), 0);
	CU_ASSERT_EQUAL(net_list_match(&l, &a), 1);
	CU_ASSERT_EQUAL(net_addr_parse("192.0.2.8", &a), 0);
	CU_ASSERT_EQUAL(net_list_match(&l, &a), 0);
}

static void test_list_free(void)
{
	struct netlist l;

	l.v = malloc(3 * sizeof *l.v);
	l.n = 3;
	net_list_free(&l);
	CU_ASSERT_PTR_NULL(l.v);
	CU_ASSERT_EQUAL(l.n, 0);
	net_list_free(&l);	/* twice is harmless */
	CU_ASSERT_PTR_NULL(l.v);
}

/* ---- client class (docs/PROTOCOL.md, relay policy: trusted wins) ---- */

struct class_case {
	const char *addr;
	enum client_class class;
	const char *name;
};

static const struct class_case class_cases[] = {
	{ "127.0.0.1", CLIENT_TRUSTED, "trusted" },
	{ "::1", CLIENT_TRUSTED, "trusted" },
	{ "::ffff:127.0.0.1", CLIENT_TRUSTED, "trusted" },
	{ "192.0.2.10", CLIENT_TRUSTED, "trusted" },	/* in both: trusted wins */
	{ "192.0.2.11", CLIENT_CUSTOMER, "customer" },
	{ "192.0.2.255", CLIENT_CUSTOMER, "customer" },
	{ "::ffff:192.0.2.11", CLIENT_CUSTOMER, "customer" },
	{ "2001:db8:1::9", CLIENT_CUSTOMER, "customer" },
	{ "2001:db8:1:2::1", CLIENT_TRUSTED, "trusted" },	/* in both: trusted wins */
	{ "192.0.3.1", CLIENT_OUTSIDE, "outside" },
	{ "2001:db8:2::1", CLIENT_OUTSIDE, "outside" },
	{ "127.0.0.2", CLIENT_OUTSIDE, "outside" },
	{ "::2", CLIENT_OUTSIDE, "outside" },
};

static void test_client_class_table(void)
{
	static const char *const trusted_nets[] = {
		"127.0.0.1/32", "::1/128", "192.0.2.10", "2001:db8:1:2::/64"
	};
	static const char *const customer_nets[] = {
		"192.0.2.0/24", "2001:db8:1::/48"
	};
	struct cidr ts[4], cs[2], a;
	struct netlist trusted, customer;

	list_make(&trusted, ts, trusted_nets, 4);
	list_make(&customer, cs, customer_nets, 2);
	for (size_t i = 0; i < sizeof class_cases / sizeof class_cases[0]; i++) {
		const struct class_case *t = &class_cases[i];
		enum client_class c;

		CU_ASSERT_EQUAL_FATAL(net_addr_parse(t->addr, &a), 0);
		c = net_client_class(&trusted, &customer, &a);
		CU_ASSERT_EQUAL(c, t->class);
		CU_ASSERT_STRING_EQUAL(net_client_class_name(c), t->name);
		if (c != t->class)
			printf("# %s: class %d, expected %d\n", t->addr, c, t->class);
	}
	/* No lists at all: everybody is outside. */
	CU_ASSERT_EQUAL(net_addr_parse("127.0.0.1", &a), 0);
	CU_ASSERT_EQUAL(net_client_class(NULL, NULL, &a), CLIENT_OUTSIDE);
	CU_ASSERT_STRING_EQUAL(net_client_class_name(CLIENT_TRUSTED), "trusted");
	CU_ASSERT_STRING_EQUAL(net_client_class_name(CLIENT_CUSTOMER), "customer");
	CU_ASSERT_STRING_EQUAL(net_client_class_name(CLIENT_OUTSIDE), "outside");
}

/* ---- relay keys (docs/PROTOCOL.md, files) ---- */

struct key_case {
	const char *addr;
	unsigned prefix;
	const char *key;
};

static const struct key_case key_cases[] = {
	{ "192.0.2.7", 64, "192.0.2.7" },
	{ "::ffff:192.0.2.7", 64, "192.0.2.7" },
	{ "192.0.2.7", 128, "192.0.2.7" },
	{ "2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64" },
	{ "2001:db8:1:2::", 64, "2001:db8:1:2::/64" },
	{ "2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48" },
	{ "2001:db8:1:2:3:4:5:6", 56, "2001:db8:1::/56" },
	{ "2001:db8:1:2ff:3:4:5:6", 56, "2001:db8:1:200::/56" },
	{ "2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128" },
	{ "2001:db8:1:2:3:4:5:6", 127, "2001:db8:1:2:3:4:5:6/127" },
	{ "2001:db8:1:2:3:4:5:7", 127, "2001:db8:1:2:3:4:5:6/127" },
	{ "2001:db8:1:2:3:4:5:6", 1, "::/1" },
	{ "::1", 64, "::/64" },
};

static void test_relay_key_table(void)
{
	for (size_t i = 0; i < sizeof key_cases / sizeof key_cases[0]; i++) {
		const struct key_case *t = &key_cases[i];
		struct cidr a;
		char key[NET_ADDR_MAX];

		CU_ASSERT_EQUAL_FATAL(net_addr_parse(t->addr, &a), 0);
		net_relay_key(&a, t->prefix, key, sizeof key);
		CU_ASSERT_STRING_EQUAL(key, t->key);
		if (strcmp(key, t->key) != 0)
			printf("# %s/%u: %s, expected %s\n", t->addr, t->prefix, key, t->key);
	}
}

static void test_relay_key_small_buffer(void)
{
	struct cidr a;
	char key[8];

	CU_ASSERT_EQUAL(net_addr_parse("2001:db8:1:2::1", &a), 0);
	memset(key, 'x', sizeof key);
	net_relay_key(&a, 64, key, sizeof key);
	CU_ASSERT_STRING_EQUAL(key, "");
	CU_ASSERT_EQUAL(net_addr_parse("192.0.2.117", &a), 0);
	net_addr_text(&a, key, sizeof key);
	CU_ASSERT_STRING_EQUAL(key, "");
	CU_ASSERT_EQUAL(net_relay_key_parse("2001:db8::1", 64, key, sizeof key), -1);
}

struct keyparse_case {
	const char *in;
	unsigned prefix;
	const char *key;	/* NULL: refused */
};

static const struct keyparse_case keyparse_cases[] = {
	{ "192.0.2.7", 64, "192.0.2.7" },
	{ "192.0.2.7/32", 64, "192.0.2.7" },
	{ "::ffff:192.0.2.7", 64, "192.0.2.7" },
	{ "::ffff:192.0.2.7/128", 64, "192.0.2.7" },
	{ "2001:db8:1:2::5", 64, "2001:db8:1:2::/64" },
	{ "2001:DB8:1:2:0:0:0:5", 64, "2001:db8:1:2::/64" },
	{ "2001:db8:1:2::/64", 64, "2001:db8:1:2::/64" },
	{ "2001:db8:1:2::/80", 64, "2001:db8:1:2::/64" },
	{ "2001:db8:1:2::5/128", 64, "2001:db8:1:2::/64" },
	{ "2001:db8:1::/48", 48, "2001:db8:1::/48" },
	{ "2001:db8:1:2::5", 128, "2001:db8:1:2::5/128" },
	{ "192.0.2.0/24", 64, NULL },		/* a network is not one client */
	{ "2001:db8:1::/48", 64, NULL },	/* wider than one key */
	{ "2001:db8:1:2::5/64", 64, NULL },	/* host bits: a typo */
	{ "192.0.2.7/33", 64, NULL },
	{ "1.2.3", 64, NULL },
	{ "", 64, NULL },
	{ "bob@example.net", 64, NULL },
	{ "192.0.2.7 ", 64, NULL },
};

static void test_relay_key_parse_table(void)
{
	for (size_t i = 0; i < sizeof keyparse_cases / sizeof keyparse_cases[0]; i++) {
		const struct keyparse_case *t = &keyparse_cases[i];
		char key[NET_ADDR_MAX];
		int r;

		memset(key, 'x', sizeof key);
		r = net_relay_key_parse(t->in, t->prefix, key, sizeof key);
		if (t->key == NULL) {
			CU_ASSERT_EQUAL(r, -1);
			CU_ASSERT_STRING_EQUAL(key, "");
			if (r != -1)
				printf("# \"%s\" accepted as %s\n", t->in, key);
		} else {
			CU_ASSERT_EQUAL(r, 0);
			CU_ASSERT_STRING_EQUAL(key, t->key);
			if (r != 0 || strcmp(key, t->key) != 0)
				printf("# \"%s\": r=%d key=%s expected %s\n", t->in, r, key, t->key);
		}
	}
}

/* A client's key and the administrator's spelling of it agree. */
static void test_relay_key_roundtrip(void)
{
	static const char *const addrs[] = {
		"192.0.2.7", "::ffff:198.51.100.1", "2001:db8:1:2:aaaa::1", "::1"
	};

	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		struct cidr a;
		char k1[NET_ADDR_MAX], k2[NET_ADDR_MAX], k3[NET_ADDR_MAX];

		CU_ASSERT_EQUAL_FATAL(net_addr_parse(addrs[i], &a), 0);
		net_relay_key(&a, 64, k1, sizeof k1);
		CU_ASSERT_EQUAL(net_relay_key_parse(addrs[i], 64, k2, sizeof k2), 0);
		CU_ASSERT_EQUAL(net_relay_key_parse(k1, 64, k3, sizeof k3), 0);
		CU_ASSERT_STRING_EQUAL(k1, k2);
		CU_ASSERT_STRING_EQUAL(k1, k3);
	}
}

static void test_addr_equal(void)
{
	struct cidr a, b;

	CU_ASSERT_EQUAL(net_addr_parse("127.0.0.1", &a), 0);
	CU_ASSERT_EQUAL(net_addr_parse("::ffff:127.0.0.1", &b), 0);
	CU_ASSERT_EQUAL(net_addr_equal(&a, &b), 1);
	CU_ASSERT_EQUAL(net_addr_parse("127.0.0.2", &b), 0);
	CU_ASSERT_EQUAL(net_addr_equal(&a, &b), 0);
	CU_ASSERT_EQUAL(net_addr_parse("::1", &a), 0);
	CU_ASSERT_EQUAL(net_addr_parse("0:0::1", &b), 0);
	CU_ASSERT_EQUAL(net_addr_equal(&a, &b), 1);
	/* Same bytes, different family: not equal. */
	CU_ASSERT_EQUAL(net_addr_parse("::", &a), 0);
	CU_ASSERT_EQUAL(net_addr_parse("0.0.0.0", &b), 0);
	CU_ASSERT_EQUAL(net_addr_equal(&a, &b), 0);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("net", NULL, NULL);
	CU_add_test(s, "cidr parse table", test_cidr_parse_table);
	CU_add_test(s, "cidr parse layout", test_cidr_parse_layout);
	CU_add_test(s, "addr parse table", test_addr_parse_table);
	CU_add_test(s, "addr from sockaddr", test_addr_from_sockaddr);
	CU_add_test(s, "match table", test_match_table);
	CU_add_test(s, "list match", test_list_match);
	CU_add_test(s, "list free", test_list_free);
	CU_add_test(s, "client class table", test_client_class_table);
	CU_add_test(s, "relay key table", test_relay_key_table);
	CU_add_test(s, "relay key small buffer", test_relay_key_small_buffer);
	CU_add_test(s, "relay key parse table", test_relay_key_parse_table);
	CU_add_test(s, "relay key roundtrip", test_relay_key_roundtrip);
	CU_add_test(s, "addr equal", test_addr_equal);
	return cutap_run();
}
