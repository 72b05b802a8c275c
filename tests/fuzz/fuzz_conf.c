/*
 * fuzz_conf.c: libFuzzer target for the configuration loader (common/conf.c,
 * ispmaild.conf(5)): the input is written to one scratch file and given to
 * conf_load, which hands it to libconfig and validates the tree. A refused
 * file must leave a zeroed struct and one line of reason; an accepted one
 * must hold what the rest of the server relies on (absolute paths, lower-case
 * domains, sane limits, networks that print and parse back the same). The
 * first line also goes to the smarthost and nameserver parsers.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz_util.h"
#include "net.h"

const char *__lsan_default_suppressions(void);

/*
 * libconfig 1.5 (Debian) leaks a string token when a syntax error
 * discards it (hyperrealm/libconfig#142, fixed upstream in 1.7.3): not
 * ours, and one config load per start or SIGHUP.
 */
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\nleak:strbuf_append\n";
}

static int all_zero(const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		if (s[i] != 0)
			return 0;
	return 1;
}

/* Each network prints and parses back to itself. */
static void check_netlist(const struct netlist *l, const char *name)
{
	char text[NET_ADDR_MAX], err[256];
	struct cidr back;

	for (size_t i = 0; i < l->n; i++) {
		net_cidr_text(&l->v[i], text, sizeof text);
		FUZZ_CHECK(text[0] != '\0', "%s[%zu] does not print", name, i);
		FUZZ_CHECK(net_cidr_parse(text, &back, err, sizeof err) == 0,
		    "%s[%zu] %s does not parse back: %s", name, i, text, err);
		FUZZ_CHECK(back.family == l->v[i].family && back.prefix == l->v[i].prefix &&
		    memcmp(back.addr, l->v[i].addr, sizeof back.addr) == 0,
		    "%s[%zu] %s parses back different", name, i, text);
		FUZZ_CHECK(net_cidr_match(&l->v[i], &back), "%s[%zu] does not match itself",
		    name, i);
	}
}

static void check_conf(const struct conf *c)
{
	char dom[300];

	FUZZ_CHECK(c->path && c->path[0] == '/', "path not absolute");
	FUZZ_CHECK(c->hostname && c->hostname[0], "no hostname");
	FUZZ_CHECK(fuzz_printable(c->hostname, strlen(c->hostname)) &&
	    strchr(c->hostname, ' ') == NULL, "hostname not clean");
	FUZZ_CHECK(c->state_dir && c->state_dir[0] == '/', "state_dir %s not absolute",
	    c->state_dir ? c->state_dir : "(null)");
	FUZZ_CHECK(c->maildir_root && c->maildir_root[0] == '/', "maildir_root not absolute");
	FUZZ_CHECK(c->users_file && c->users_file[0] == '/', "users_file not absolute");
	FUZZ_CHECK(c->aliases_file == NULL || c->aliases_file[0] == '/',
	    "aliases_file not absolute");
	FUZZ_CHECK(c->ndomains >= 1 && c->domains != NULL, "no local domain");
	for (size_t i = 0; i < c->ndomains; i++) {
		const char *d = c->domains[i];
		size_t n = strlen(d);

		FUZZ_CHECK(n > 0 && d[n - 1] != '.', "domain %s empty or dotted", d);
		for (size_t k = 0; k < n; k++)
			FUZZ_CHECK(!(d[k] >= 'A' && d[k] <= 'Z') && d[k] != '/' && d[k] != '@' &&
			    (unsigned char)d[k] > 0x20 && (unsigned char)d[k] < 0x7f,
			    "domain %s not clean", d);
		FUZZ_CHECK(conf_is_local_domain(c, d, n), "domain %s not local", d);
		if (n + 2 <= sizeof dom) {
			memcpy(dom, d, n);
			dom[n] = '.';
			for (size_t k = 0; k < n; k++)
				if (dom[k] >= 'a' && dom[k] <= 'z')
					dom[k] = (char)(dom[k] - 'a' + 'A');
			FUZZ_CHECK(conf_is_local_domain(c, dom, n + 1), "%.*s not local", (int)n + 1, dom);
		}
	}
	FUZZ_CHECK(c->limits.max_connections > 0 && c->limits.max_per_ip > 0 &&
	    c->limits.message_size > 0 && c->limits.max_recipients > 0 &&
	    c->limits.command_timeout > 0 && c->limits.data_timeout > 0 &&
	    c->limits.auth_failures > 0, "a limit is not positive");
	/* stream_set_timeout() multiplies by 1000 in an int (reported). */
	FUZZ_CHECK(fuzz_allow_known() || (c->limits.command_timeout <= INT_MAX / 1000 &&
	    c->limits.data_timeout <= INT_MAX / 1000),
	    "a timeout of %ld/%ld s overflows milliseconds in an int",
	    c->limits.command_timeout, c->limits.data_timeout);
	FUZZ_CHECK(c->relay.ipv6_prefix <= 128, "ipv6_prefix %u", c->relay.ipv6_prefix);
	FUZZ_CHECK(c->relay.authorization_ttl >= 0, "negative authorization_ttl");
	FUZZ_CHECK(c->queue.retry_min > 0 && c->queue.retry_min <= c->queue.retry_max,
	    "retry_min %ld, retry_max %ld", c->queue.retry_min, c->queue.retry_max);
	for (size_t i = 0; i < c->nlisten; i++) {
		FUZZ_CHECK((int)c->listen[i].service >= 0 && c->listen[i].service < SERVICE_COUNT,
		    "listen[%zu] service %d", i, (int)c->listen[i].service);
		FUZZ_CHECK(c->listen[i].port > 0 && c->listen[i].port < 65536,
		    "listen[%zu] port %d", i, c->listen[i].port);
		FUZZ_CHECK(c->listen[i].address != NULL, "listen[%zu] without address", i);
	}
	FUZZ_CHECK(!c->tls.enabled || (c->tls.certificate && c->tls.private_key),
	    "tls enabled without certificate or key");
	check_netlist(&c->relay.customer_networks, "customer_networks");
	check_netlist(&c->relay.trusted_networks, "trusted_networks");
	check_netlist(&c->relay.never_authorize, "never_authorize");
	FUZZ_CHECK(c->relay.smarthost != NULL && c->dns_nameserver != NULL,
	    "smarthost or nameserver NULL");
	if (c->relay.smarthost[0]) {
		char host[256];
		int port, mx;

		FUZZ_CHECK(conf_smarthost_parse(c->relay.smarthost, host, sizeof host,
		    &port, &mx) == 0, "accepted smarthost %s does not parse", c->relay.smarthost);
	}
}

/* The value parsers on their own, with output buffers of exact size. */
static void check_values(const uint8_t *data, size_t size)
{
	char text[300];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n = nl ? (size_t)(nl - data) : size;
	char *host = malloc(256), *addr = malloc(NET_ADDR_MAX), *small = malloc(4);
	int port = 0, mx = 0;

	if (host == NULL || addr == NULL || small == NULL)
		abort();
	if (n >= sizeof text)
		n = sizeof text - 1;
	memcpy(text, data, n);
	text[n] = '\0';
	if (conf_smarthost_parse(text, host, 256, &port, &mx) == 0) {
		FUZZ_CHECK(port > 0 && port < 65536, "smarthost port %d from %s", port, text);
		FUZZ_CHECK(host[0] != '\0' && strchr(host, '[') == NULL,
		    "smarthost host \"%s\" from %s", host, text);
	}
	(void)conf_smarthost_parse(text, small, 4, &port, &mx);
	if (conf_nameserver_parse(text, addr, NET_ADDR_MAX, &port) == 0) {
		struct cidr a;

		FUZZ_CHECK(port > 0 && port < 65536, "nameserver port %d from %s", port, text);
		FUZZ_CHECK(net_addr_parse(addr, &a) == 0, "nameserver %s from %s is no address",
		    addr, text);
	}
	(void)conf_nameserver_parse(text, small, 4, &port);
	free(host);
	free(addr);
	free(small);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[1024];
	char err[1024];
	struct conf c;

	if (path[0] == '\0') {
		fuzz_quiet_logs();
		fuzz_path(path, sizeof path, "ispmaild.conf");
	}
	fuzz_write_file(path, data, size);
	if (conf_load(path, &c, err, sizeof err) == 0) {
		check_conf(&c);
		conf_free(&c);
		FUZZ_CHECK(all_zero(&c, sizeof c), "conf_free left data");
	} else {
		FUZZ_CHECK(all_zero(&c, sizeof c), "a refused configuration left data");
		FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL,
		    "refusal without a one-line reason: %s", err);
	}
	check_values(data, size);
	return 0;
}
