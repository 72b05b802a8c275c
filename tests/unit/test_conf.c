/*
 * test_conf.c: the configuration of ispmaild.conf(5): the minimal and the full
 * example load with every value checked, and every kind of mistake is
 * one exact line naming file, line and key. Files live in cutap_tmpdir().
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "cutap.h"
#include "buf.h"
#include "conf.h"
#include "net.h"

/* Write text to <tmpdir>/name; the full path goes to path. */
static void conf_write(const char *name, const char *text, char *path, size_t pathlen)
{
	FILE *fp;

	snprintf(path, pathlen, "%s/%s", cutap_tmpdir(), name);
	fp = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	CU_ASSERT_EQUAL(fputs(text, fp) >= 0, 1);
	CU_ASSERT_EQUAL_FATAL(fclose(fp), 0);
}

static int is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

static void check_net(const struct netlist *l, size_t i, const char *text)
{
	char got[NET_ADDR_MAX];

	CU_ASSERT_FATAL(i < l->n);
	net_cidr_text(&l->v[i], got, sizeof got);
	CU_ASSERT_STRING_EQUAL(got, text);
}

static void check_listen(const struct conf *c, size_t i, enum service s,
    const char *address, int port, const char *min_version, const char *ciphers)
{
	const struct listen_conf *l;

	CU_ASSERT_FATAL(i < c->nlisten);
	l = &c->listen[i];
	CU_ASSERT_EQUAL(l->service, s);
	CU_ASSERT_STRING_EQUAL(l->address, address);
	CU_ASSERT_EQUAL(l->port, port);
	if (min_version == NULL) {
		CU_ASSERT_PTR_NULL(l->min_version);
	} else {
		CU_ASSERT_STRING_EQUAL(l->min_version, min_version);
	}
	if (ciphers == NULL) {
		CU_ASSERT_PTR_NULL(l->ciphers);
	} else {
		CU_ASSERT_STRING_EQUAL(l->ciphers, ciphers);
	}
}

/* Everything not named in the minimal file has its documented default. */
static void check_defaults_except_core(const struct conf *c)
{
	CU_ASSERT_PTR_NULL(c->aliases_file);
	CU_ASSERT_EQUAL(c->log_level, LOG_INFO);
	CU_ASSERT_STRING_EQUAL(c->user, "vmail");
	CU_ASSERT_STRING_EQUAL(c->group, "vmail");
	CU_ASSERT_EQUAL(c->tls.enabled, 0);
	CU_ASSERT_PTR_NULL(c->tls.certificate);
	CU_ASSERT_PTR_NULL(c->tls.private_key);
	CU_ASSERT_STRING_EQUAL(c->tls.min_version, "TLSv1.2");
	CU_ASSERT_PTR_NULL(c->tls.ciphers);
	CU_ASSERT_EQUAL(c->relay.customer_networks.n, 0);
	CU_ASSERT_EQUAL(c->relay.trusted_networks.n, 2);
	check_net(&c->relay.trusted_networks, 0, "127.0.0.1/32");
	check_net(&c->relay.trusted_networks, 1, "::1/128");
	CU_ASSERT_EQUAL(c->relay.authorization_ttl, 1800);
	CU_ASSERT_EQUAL(c->relay.ipv6_prefix, 64);
	CU_ASSERT_EQUAL(c->relay.never_authorize.n, 0);
	CU_ASSERT_EQUAL(c->relay.plaintext_auth, 0);
	CU_ASSERT_STRING_EQUAL(c->relay.smarthost, "");
	CU_ASSERT_EQUAL(c->relay.sender_login_match, 0);
	CU_ASSERT_EQUAL(c->relay.local_sender_from_outside, 0);
	CU_ASSERT_STRING_EQUAL(c->dns_nameserver, "");
	CU_ASSERT_EQUAL(c->limits.max_connections, 200);
	CU_ASSERT_EQUAL(c->limits.max_per_ip, 10);
	CU_ASSERT_EQUAL(c->limits.message_size, 26214400);
	CU_ASSERT_EQUAL(c->limits.max_recipients, 100);
	CU_ASSERT_EQUAL(c->limits.command_timeout, 600);
	CU_ASSERT_EQUAL(c->limits.data_timeout, 600);
	CU_ASSERT_EQUAL(c->limits.auth_failures, 3);
	CU_ASSERT_EQUAL(c->limits.max_use, 100);
	CU_ASSERT_EQUAL(c->limits.max_idle, 60);
	CU_ASSERT_EQUAL(c->limits.junk_command_limit, 100);
	CU_ASSERT_EQUAL(c->limits.session_timeout, 3600);
	CU_ASSERT_EQUAL(c->limits.error_limit, 10);
	CU_ASSERT_EQUAL(c->limits.outbound_per_user_hour, 500);
	CU_ASSERT_EQUAL(c->limits.outbound_per_ip_hour, 1000);
	CU_ASSERT_EQUAL(c->limits.outbound_window, 3600);
	CU_ASSERT_EQUAL(c->queue.retry_min, 300);
	CU_ASSERT_EQUAL(c->queue.retry_max, 3600);
	CU_ASSERT_EQUAL(c->queue.max_age, 432000);
	CU_ASSERT_EQUAL(c->queue.delivery_timeout, 1200);
	CU_ASSERT_EQUAL(c->dnsbl.nzones, 0);
	CU_ASSERT_EQUAL(c->greylist.enabled, 0);
	CU_ASSERT_EQUAL(c->greylist.delay, 300);
	CU_ASSERT_EQUAL(c->greylist.expire, 3024000);
	CU_ASSERT_EQUAL(c->greylist.auto_allow, 5);
	CU_ASSERT_STRING_EQUAL(c->postmaster, "");
}

/* ---- the two examples of ispmaild.conf(5) ---- */

static const char minimal_conf[] =
	"hostname     = \"mail.example.net\";\n"
	"state_dir    = \"/var/lib/ispmaild\";\n"
	"maildir_root = \"/var/mail/ispmaild\";\n"
	"users_file   = \"/etc/ispmaild/users\";\n"
	"domains      = [ \"example.net\" ];\n"
	"listen = (\n"
	"  { service = \"smtp\"; address = \"0.0.0.0\"; port = 25; },\n"
	"  { service = \"pop3\"; address = \"0.0.0.0\"; port = 110; }\n"
	");\n";

static void test_minimal(void)
{
	struct conf c;
	char path[512], err[512] = "";

	conf_write("minimal.conf", minimal_conf, path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_STRING_EQUAL(c.path, path);
	CU_ASSERT_STRING_EQUAL(c.hostname, "mail.example.net");
	CU_ASSERT_STRING_EQUAL(c.state_dir, "/var/lib/ispmaild");
	CU_ASSERT_STRING_EQUAL(c.maildir_root, "/var/mail/ispmaild");
	CU_ASSERT_STRING_EQUAL(c.users_file, "/etc/ispmaild/users");
	CU_ASSERT_EQUAL_FATAL(c.ndomains, 1);
	CU_ASSERT_STRING_EQUAL(c.domains[0], "example.net");
	CU_ASSERT_EQUAL_FATAL(c.nlisten, 2);
	check_listen(&c, 0, SERVICE_SMTP, "0.0.0.0", 25, NULL, NULL);
	check_listen(&c, 1, SERVICE_POP3, "0.0.0.0", 110, NULL, NULL);
	check_defaults_except_core(&c);
	conf_free(&c);
	CU_ASSERT(is_zero(&c, sizeof c));
	conf_free(&c);	/* a zeroed struct frees again harmlessly */
}

/* ispmaild.conf(5) verbatim, plus the legacy listener its comment describes. */
static const char full_conf[] =
	"hostname     = \"mail.example.net\";          # EHLO name, Received lines, greeting\n"
	"state_dir    = \"/var/lib/ispmaild\";         # relay DB, queue, pid file\n"
	"maildir_root = \"/var/mail/ispmaild\";        # <maildir_root>/<domain>/<localpart>/ is a Maildir\n"
	"users_file   = \"/etc/ispmaild/users\";       # written by ispmailctl, see 5\n"
	"aliases_file = \"/etc/ispmaild/aliases\";     # optional, see 5\n"
	"domains      = [ \"example.net\" ];           # local domains\n"
	"user = \"vmail\"; group = \"vmail\";            # privileges after binding (root start only; these\n"
	"                                            # are the defaults, and a missing user is an error)\n"
	"\n"
	"listen = (                                  # any subset; address may be IPv4 or IPv6\n"
	"  { service = \"smtp\";       address = \"0.0.0.0\"; port = 25;  },   # STARTTLS offered when tls is set\n"
	"  { service = \"submission\"; address = \"0.0.0.0\"; port = 587; },   # STARTTLS; relay needs authorization\n"
	"  { service = \"smtps\";      address = \"0.0.0.0\"; port = 465; },   # implicit TLS (RFC 8314)\n"
	"  { service = \"pop3\";       address = \"0.0.0.0\"; port = 110; },   # STLS offered when tls is set\n"
	"  { service = \"pop3s\";      address = \"0.0.0.0\"; port = 995; },   # implicit TLS\n"
	"  { service = \"pop3s\"; port = 996; min_version = \"TLSv1\";\n"
	"                ciphers = \"DEFAULT:@SECLEVEL=0\"; }\n"
	");\n"
	"\n"
	"tls = { certificate = \"/etc/ispmaild/cert.pem\"; private_key = \"/etc/ispmaild/key.pem\";\n"
	"        min_version = \"TLSv1.2\"; };         # optional block; without it no TLS is offered\n"
	"\n"
	"relay = {\n"
	"  customer_networks  = [ \"192.0.2.0/24\" ];  # the ISP's own dial-up/DSL pools\n"
	"  trusted_networks   = [ \"127.0.0.1/32\" ];  # may always relay (webmail, monitoring)\n"
	"  authorization_ttl  = 1800;                # seconds an IP stays authorized after a POP3 login\n"
	"  ipv6_prefix        = 64;                  # IPv6 clients are authorized by this prefix\n"
	"  never_authorize    = [ \"100.64.0.0/10\" ]; # shared NAT/proxy ranges a POP3 login must not open\n"
	"  plaintext_auth     = false;\n"
	"  smarthost          = \"\";                  # e.g. \"[127.0.0.1]:2626\": send all outbound mail there\n"
	"};\n"
	"\n"
	"dns = { nameserver = \"\"; };                 # e.g. \"127.0.0.1:5353\"; empty = system resolver\n"
	"\n"
	"limits = {\n"
	"  max_connections = 200; max_per_ip = 10;\n"
	"  message_size = 26214400;                  # SIZE advertised, 552 above it\n"
	"  max_recipients = 100;                     # 452 above it\n"
	"  command_timeout = 600; data_timeout = 600;\n"
	"  auth_failures = 3;\n"
	"};\n"
	"\n"
	"queue = { retry_min = 300; retry_max = 3600; max_age = 432000; };  # seconds\n";

static void test_full(void)
{
	struct conf c;
	char path[512], err[512] = "";

	conf_write("full.conf", full_conf, path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	if (err[0] != '\0')
		printf("# %s\n", err);
	CU_ASSERT_STRING_EQUAL(c.path, path);
	CU_ASSERT_STRING_EQUAL(c.hostname, "mail.example.net");
	CU_ASSERT_STRING_EQUAL(c.state_dir, "/var/lib/ispmaild");
	CU_ASSERT_STRING_EQUAL(c.maildir_root, "/var/mail/ispmaild");
	CU_ASSERT_STRING_EQUAL(c.users_file, "/etc/ispmaild/users");
	CU_ASSERT_STRING_EQUAL(c.aliases_file, "/etc/ispmaild/aliases");
	CU_ASSERT_EQUAL_FATAL(c.ndomains, 1);
	CU_ASSERT_STRING_EQUAL(c.domains[0], "example.net");
	CU_ASSERT_STRING_EQUAL(c.user, "vmail");
	CU_ASSERT_STRING_EQUAL(c.group, "vmail");
	CU_ASSERT_EQUAL_FATAL(c.nlisten, 6);
	check_listen(&c, 0, SERVICE_SMTP, "0.0.0.0", 25, NULL, NULL);
	check_listen(&c, 1, SERVICE_SUBMISSION, "0.0.0.0", 587, NULL, NULL);
	check_listen(&c, 2, SERVICE_SMTPS, "0.0.0.0", 465, NULL, NULL);
	check_listen(&c, 3, SERVICE_POP3, "0.0.0.0", 110, NULL, NULL);
	check_listen(&c, 4, SERVICE_POP3S, "0.0.0.0", 995, NULL, NULL);
	check_listen(&c, 5, SERVICE_POP3S, "0.0.0.0", 996, "TLSv1", "DEFAULT:@SECLEVEL=0");
	CU_ASSERT_EQUAL(c.tls.enabled, 1);
	CU_ASSERT_STRING_EQUAL(c.tls.certificate, "/etc/ispmaild/cert.pem");
	CU_ASSERT_STRING_EQUAL(c.tls.private_key, "/etc/ispmaild/key.pem");
	CU_ASSERT_STRING_EQUAL(c.tls.min_version, "TLSv1.2");
	CU_ASSERT_PTR_NULL(c.tls.ciphers);
	CU_ASSERT_EQUAL(c.relay.customer_networks.n, 1);
	check_net(&c.relay.customer_networks, 0, "192.0.2.0/24");
	CU_ASSERT_EQUAL(c.relay.trusted_networks.n, 1);	/* replaces the default */
	check_net(&c.relay.trusted_networks, 0, "127.0.0.1/32");
	CU_ASSERT_EQUAL(c.relay.authorization_ttl, 1800);
	CU_ASSERT_EQUAL(c.relay.ipv6_prefix, 64);
	CU_ASSERT_EQUAL(c.relay.never_authorize.n, 1);
	check_net(&c.relay.never_authorize, 0, "100.64.0.0/10");
	CU_ASSERT_EQUAL(c.relay.plaintext_auth, 0);
	CU_ASSERT_STRING_EQUAL(c.relay.smarthost, "");
	CU_ASSERT_STRING_EQUAL(c.dns_nameserver, "");
	CU_ASSERT_EQUAL(c.limits.max_connections, 200);
	CU_ASSERT_EQUAL(c.limits.max_per_ip, 10);
	CU_ASSERT_EQUAL(c.limits.message_size, 26214400);
	CU_ASSERT_EQUAL(c.limits.max_recipients, 100);
	CU_ASSERT_EQUAL(c.limits.command_timeout, 600);
	CU_ASSERT_EQUAL(c.limits.data_timeout, 600);
	CU_ASSERT_EQUAL(c.limits.auth_failures, 3);
	CU_ASSERT_EQUAL(c.queue.retry_min, 300);
	CU_ASSERT_EQUAL(c.queue.retry_max, 3600);
	CU_ASSERT_EQUAL(c.queue.max_age, 432000);
	conf_free(&c);
	CU_ASSERT(is_zero(&c, sizeof c));
}

/* Every value off its default, so a default that wins over the file shows. */
static void test_non_defaults(void)
{
	static const char text[] =
		"hostname = \"Mail.Example.NET.\";\n"
		"domains = ( \"Example.NET.\", \"b.example\" );\n"
		"user = \"mail\"; group = \"mailgrp\";\n"
		"listen = ( { service = \"smtp\"; address = \"::ffff:127.0.0.1\"; port = 2525; },\n"
		"  { service = \"metrics\"; address = \"::1\"; port = 9100; },\n"
		"  { service = \"smtp\"; address = \"::\"; port = 2525; },\n"
		"  { service = \"submission\"; address = \"127.0.0.2\"; port = 2525; } );\n"
		"tls = { certificate = \"/c.pem\"; private_key = \"/k.pem\"; min_version = \"TLSv1.3\";\n"
		"  ciphers = \"HIGH\"; };\n"
		"relay = { customer_networks = [ \"10.0.0.0/8\", \"2001:db8::/32\" ];\n"
		"  trusted_networks = [];\n"
		"  authorization_ttl = 0; ipv6_prefix = 56;\n"
		"  never_authorize = ( \"100.64.0.0/10\", \"::ffff:192.0.2.0/120\" );\n"
		"  plaintext_auth = true; smarthost = \"[127.0.0.1]:2626\";\n"
		"  sender_login_match = true; local_sender_from_outside = true; };\n"
		"dns = { nameserver = \"[::1]:5353\"; };\n"
		"limits = { max_connections = 1; max_per_ip = 2; message_size = 52428800L;\n"
		"  max_recipients = 4; command_timeout = 5; data_timeout = 6; auth_failures = 7;\n"
		"  max_use = 1; max_idle = 2; junk_command_limit = 3;\n"
		"  session_timeout = 0; error_limit = 20;\n"
		"  outbound_per_user_hour = 0; outbound_per_ip_hour = 7; outbound_window = 2; };\n"
		"queue = { retry_min = 10; retry_max = 10; max_age = 11; delivery_timeout = 12; };\n"
		"log_level = \"debug\";\n";
	struct conf c;
	char path[512], err[512] = "";

	conf_write("nondefault.conf", text, path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(c.hostname, "Mail.Example.NET");
	CU_ASSERT_EQUAL_FATAL(c.ndomains, 2);
	CU_ASSERT_STRING_EQUAL(c.domains[0], "example.net");
	CU_ASSERT_STRING_EQUAL(c.domains[1], "b.example");
	CU_ASSERT_STRING_EQUAL(c.user, "mail");
	CU_ASSERT_STRING_EQUAL(c.group, "mailgrp");
	CU_ASSERT_EQUAL_FATAL(c.nlisten, 4);
	check_listen(&c, 0, SERVICE_SMTP, "127.0.0.1", 2525, NULL, NULL);
	check_listen(&c, 1, SERVICE_METRICS, "::1", 9100, NULL, NULL);
	check_listen(&c, 2, SERVICE_SMTP, "::", 2525, NULL, NULL);
	check_listen(&c, 3, SERVICE_SUBMISSION, "127.0.0.2", 2525, NULL, NULL);
	CU_ASSERT_EQUAL(c.tls.enabled, 1);
	CU_ASSERT_STRING_EQUAL(c.tls.min_version, "TLSv1.3");
	CU_ASSERT_STRING_EQUAL(c.tls.ciphers, "HIGH");
	CU_ASSERT_EQUAL(c.relay.customer_networks.n, 2);
	check_net(&c.relay.customer_networks, 0, "10.0.0.0/8");
	check_net(&c.relay.customer_networks, 1, "2001:db8::/32");
	CU_ASSERT_EQUAL(c.relay.trusted_networks.n, 0);
	CU_ASSERT_EQUAL(c.relay.authorization_ttl, 0);
	CU_ASSERT_EQUAL(c.relay.ipv6_prefix, 56);
	CU_ASSERT_EQUAL(c.relay.never_authorize.n, 2);
	check_net(&c.relay.never_authorize, 1, "192.0.2.0/24");
	CU_ASSERT_EQUAL(c.relay.plaintext_auth, 1);
	CU_ASSERT_STRING_EQUAL(c.relay.smarthost, "[127.0.0.1]:2626");
	CU_ASSERT_STRING_EQUAL(c.dns_nameserver, "[::1]:5353");
	CU_ASSERT_EQUAL(c.limits.max_connections, 1);
	CU_ASSERT_EQUAL(c.limits.max_per_ip, 2);
	CU_ASSERT_EQUAL(c.limits.message_size, 52428800);
	CU_ASSERT_EQUAL(c.limits.max_recipients, 4);
	CU_ASSERT_EQUAL(c.limits.command_timeout, 5);
	CU_ASSERT_EQUAL(c.limits.data_timeout, 6);
	CU_ASSERT_EQUAL(c.limits.auth_failures, 7);
	CU_ASSERT_EQUAL(c.limits.max_use, 1);
	CU_ASSERT_EQUAL(c.limits.max_idle, 2);
	CU_ASSERT_EQUAL(c.limits.junk_command_limit, 3);
	CU_ASSERT_EQUAL(c.limits.session_timeout, 0);
	CU_ASSERT_EQUAL(c.limits.error_limit, 20);
	CU_ASSERT_EQUAL(c.limits.outbound_per_user_hour, 0);
	CU_ASSERT_EQUAL(c.limits.outbound_per_ip_hour, 7);
	CU_ASSERT_EQUAL(c.limits.outbound_window, 2);
	CU_ASSERT_EQUAL(c.relay.sender_login_match, 1);
	CU_ASSERT_EQUAL(c.relay.local_sender_from_outside, 1);
	CU_ASSERT_EQUAL(c.queue.retry_min, 10);
	CU_ASSERT_EQUAL(c.queue.retry_max, 10);
	CU_ASSERT_EQUAL(c.queue.max_age, 11);
	CU_ASSERT_EQUAL(c.queue.delivery_timeout, 12);
	CU_ASSERT_EQUAL(c.log_level, LOG_DEBUG);
	conf_free(&c);
}

/* Nothing but a host name: every default, domains = [hostname]. */
static void test_absent_defaults(void)
{
	struct conf c;
	char path[512], err[512] = "";

	conf_write("bare.conf", "hostname = \"Mail.Example.NET.\";\n", path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(c.hostname, "Mail.Example.NET");
	CU_ASSERT_STRING_EQUAL(c.state_dir, LOCALSTATEDIR "/lib/ispmaild");
	CU_ASSERT_STRING_EQUAL(c.maildir_root, "/var/mail/ispmaild");
	CU_ASSERT_STRING_EQUAL(c.users_file, SYSCONFDIR "/ispmaild/users");
	CU_ASSERT_EQUAL_FATAL(c.ndomains, 1);
	CU_ASSERT_STRING_EQUAL(c.domains[0], "mail.example.net");
	CU_ASSERT_EQUAL_FATAL(c.nlisten, 3);
	check_listen(&c, 0, SERVICE_SMTP, "0.0.0.0", 25, NULL, NULL);
	check_listen(&c, 1, SERVICE_SUBMISSION, "0.0.0.0", 587, NULL, NULL);
	check_listen(&c, 2, SERVICE_POP3, "0.0.0.0", 110, NULL, NULL);
	check_defaults_except_core(&c);
	conf_free(&c);

	/* With a tls block the implicit-TLS ports join the default listeners. */
	conf_write("baretls.conf", "hostname = \"mx.example\";\n"
	    "tls = { certificate = \"/c.pem\"; private_key = \"/k.pem\"; };\n",
	    path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	CU_ASSERT_EQUAL_FATAL(c.nlisten, 5);
	check_listen(&c, 0, SERVICE_SMTP, "0.0.0.0", 25, NULL, NULL);
	check_listen(&c, 1, SERVICE_SUBMISSION, "0.0.0.0", 587, NULL, NULL);
	check_listen(&c, 2, SERVICE_SMTPS, "0.0.0.0", 465, NULL, NULL);
	check_listen(&c, 3, SERVICE_POP3, "0.0.0.0", 110, NULL, NULL);
	check_listen(&c, 4, SERVICE_POP3S, "0.0.0.0", 995, NULL, NULL);
	CU_ASSERT_EQUAL(c.tls.enabled, 1);
	CU_ASSERT_STRING_EQUAL(c.tls.min_version, "TLSv1.2");
	conf_free(&c);
}

/* An empty file: the host name is the machine's. */
static void test_gethostname_default(void)
{
	struct conf c;
	char path[512], err[512] = "", name[256];
	size_t len;

	CU_ASSERT_EQUAL_FATAL(gethostname(name, sizeof name), 0);
	name[sizeof name - 1] = '\0';
	len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		name[--len] = '\0';
	conf_write("empty.conf", "# nothing\n", path, sizeof path);
	if (strchr(name, '_') != NULL || len == 0) {
		/* Not a valid host name: the error says so and where it came from. */
		CU_ASSERT_EQUAL(conf_load(path, &c, err, sizeof err), -1);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "hostname: bad host name"));
		return;
	}
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(c.hostname, name);
	CU_ASSERT_EQUAL_FATAL(c.ndomains, 1);
	CU_ASSERT_EQUAL(strcasecmp(c.domains[0], name), 0);
	conf_free(&c);
}

/* ---- relative paths ---- */

static void test_relative_paths(void)
{
	static const char text[] =
		"hostname = \"mail.example.net\";\n"
		"state_dir = \"state\";\n"
		"maildir_root = \"./mail\";\n"
		"users_file = \"../users\";\n"
		"aliases_file = \"etc/aliases\";\n"
		"tls = { certificate = \"cert.pem\"; private_key = \"/abs/key.pem\"; };\n";
	struct conf c;
	char path[512], err[512] = "", want[700], cwd[PATH_MAX];
	const char *dir = cutap_tmpdir();

	conf_write("rel.conf", text, path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	snprintf(want, sizeof want, "%s/state", dir);
	CU_ASSERT_STRING_EQUAL(c.state_dir, want);
	snprintf(want, sizeof want, "%s/mail", dir);
	CU_ASSERT_STRING_EQUAL(c.maildir_root, want);
	snprintf(want, sizeof want, "%s/../users", dir);
	CU_ASSERT_STRING_EQUAL(c.users_file, want);
	snprintf(want, sizeof want, "%s/etc/aliases", dir);
	CU_ASSERT_STRING_EQUAL(c.aliases_file, want);
	snprintf(want, sizeof want, "%s/cert.pem", dir);
	CU_ASSERT_STRING_EQUAL(c.tls.certificate, want);
	CU_ASSERT_STRING_EQUAL(c.tls.private_key, "/abs/key.pem");
	conf_free(&c);

	/* The file itself named relatively: still absolute results. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
	CU_ASSERT_EQUAL_FATAL(chdir(dir), 0);
	CU_ASSERT_EQUAL(conf_load("./rel.conf", &c, err, sizeof err), 0);
	CU_ASSERT_EQUAL(chdir(cwd), 0);
	CU_ASSERT_STRING_EQUAL(c.path, path);
	snprintf(want, sizeof want, "%s/state", dir);
	CU_ASSERT_STRING_EQUAL(c.state_dir, want);
	conf_free(&c);
}

/* An @include'd file is found next to the main file; its errors name it. */
static void test_include(void)
{
	struct conf c;
	char path[512], inc[512], err[512] = "", want[1100];

	conf_write("inc-ok.conf", "limits = { max_per_ip = 4; };\n", inc, sizeof inc);
	conf_write("main-inc.conf", "hostname = \"mail.example.net\";\n@include \"inc-ok.conf\"\n",
	    path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	CU_ASSERT_EQUAL(c.limits.max_per_ip, 4);
	conf_free(&c);

	conf_write("inc-bad.conf", "# first\nlimits = { max_per_iq = 4; };\n", inc, sizeof inc);
	conf_write("main-inc2.conf", "hostname = \"mail.example.net\";\n@include \"inc-bad.conf\"\n",
	    path, sizeof path);
	CU_ASSERT_EQUAL(conf_load(path, &c, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:2: limits.max_per_iq: unknown key", inc);
	CU_ASSERT_STRING_EQUAL(err, want);
	if (strcmp(err, want) != 0)
		printf("# got:  %s\n# want: %s\n", err, want);
}

/* ---- errors ---- */

struct err_case {
	const char *name;
	const char *text;
	int line;		/* 0: the message has no line */
	const char *msg;	/* what follows "file:line: " */
};

#define H "hostname = \"mail.example.net\";\n"
#define L1 "listen = ( { service = \"smtp\"; port = 25; } );\n"
#define TLS "tls = { certificate = \"/c.pem\"; private_key = \"/k.pem\"; };\n"

static const struct err_case err_cases[] = {
	/* Unknown keys at every level. */
	{ "unknown top-level key", H "hostnme = \"x\";\n", 2, "hostnme: unknown key" },
	{ "unknown log level", H "log_level = \"loud\";\n", 2,
	  "log_level: unknown level \"loud\": use debug, info, warning or error" },
	{ "log level not a string", H "log_level = 7;\n", 2, "log_level: expected a string" },
	{ "unknown limits key", H "limits = {\n  max_per_iq = 3;\n};\n", 3,
	  "limits.max_per_iq: unknown key" },
	{ "unknown relay key", H "relay = { trusted_network = [ ]; };\n", 2,
	  "relay.trusted_network: unknown key" },
	{ "unknown tls key", H "tls = { certificate = \"/c\"; private_key = \"/k\";\n  cert = \"x\"; };\n",
	  3, "tls.cert: unknown key" },
	{ "unknown dns key", H "dns = { resolver = \"\"; };\n", 2, "dns.resolver: unknown key" },
	{ "unknown queue key", H "queue = { retry = 5; };\n", 2, "queue.retry: unknown key" },
	{ "unknown listen key", H "listen = (\n  { service = \"smtp\"; port = 25; },\n"
	  "  { service = \"pop3\"; port = 110;\n    prot = 1; }\n);\n", 5,
	  "listen[1].prot: unknown key" },
	/* Wrong types. */
	{ "string for int (line 12)", H "#2\n#3\n#4\n#5\n#6\n#7\n#8\n#9\n#10\nlimits = {\n"
	  "  max_per_ip = \"10\";\n};\n", 12, "limits.max_per_ip: expected an integer" },
	{ "float for int", H "queue = { retry_min = 1.5; };\n", 2,
	  "queue.retry_min: expected an integer" },
	{ "int for string", "hostname = 5;\n", 1, "hostname: expected a string" },
	{ "int for path", H "state_dir = 0;\n", 2, "state_dir: expected a string" },
	{ "int for bool", H "relay = { plaintext_auth = 1; };\n", 2,
	  "relay.plaintext_auth: expected true or false" },
	{ "string for bool", H "relay = { plaintext_auth = \"yes\"; };\n", 2,
	  "relay.plaintext_auth: expected true or false" },
	{ "int for group", H "limits = 5;\n", 2, "limits: expected a group { ... }" },
	{ "list for group", H "tls = ( \"a\" );\n", 2, "tls: expected a group { ... }" },
	{ "string for list", H "domains = \"example.net\";\n", 2, "domains: expected a list [ ... ]" },
	{ "int in domain list", H "domains = ( \"a.example\",\n  5 );\n", 3,
	  "domains: element 2 is not a string" },
	{ "string for network list", H "relay = { customer_networks = \"192.0.2.0/24\"; };\n", 2,
	  "relay.customer_networks: expected a list [ ... ]" },
	{ "string for listen", H "listen = \"smtp\";\n", 2, "listen: expected a list ( { ... }, ... )" },
	{ "string in listen", H "listen = ( \"smtp\" );\n", 2,
	  "listen[0]: expected a group { service = ...; port = ...; }" },
	{ "string port", H "listen = ( { service = \"smtp\"; port = \"25\"; } );\n", 2,
	  "listen[0].port: expected an integer" },
	/* Networks. */
	{ "bad network", H "relay = {\n  customer_networks = [ \"192.0.2.0/24\",\n    \"1.2.3\" ];\n};\n", 4,
	  "relay.customer_networks: bad network \"1.2.3\": not an IPv4 or IPv6 address" },
	{ "network host bits", H "relay = { trusted_networks = [ \"192.0.2.1/24\" ]; };\n", 2,
	  "relay.trusted_networks: bad network \"192.0.2.1/24\": host bits set beyond the prefix"
	  " (did you mean 192.0.2.0/24?)" },
	{ "network prefix", H "relay = { never_authorize = [ \"::1/129\" ]; };\n", 2,
	  "relay.never_authorize: bad network \"::1/129\": prefix length is not a number from 0 to 128" },
	{ "network control chars", H "relay = { never_authorize = [ \"a\\nb\" ]; };\n", 2,
	  "relay.never_authorize: bad network \"a?b\": not an IPv4 or IPv6 address" },
	/* Listeners. */
	{ "bad service", H "listen = ( { service = \"imap\"; port = 143; } );\n", 2,
	  "listen[0].service: unknown service \"imap\": use smtp, submission, smtps, pop3, pop3s, metrics or web" },
	{ "port 0", H "listen = ( { service = \"smtp\"; port = 0; } );\n", 2,
	  "listen[0].port: must be from 1 to 65535, not 0" },
	{ "port 65536", H "listen = ( { service = \"smtp\"; port = 65536; } );\n", 2,
	  "listen[0].port: must be from 1 to 65535, not 65536" },
	{ "missing port", H "listen = ( { service = \"smtp\"; } );\n", 2, "listen[0].port: missing" },
	{ "missing service", H "listen = ( { port = 25; } );\n", 2, "listen[0].service: missing" },
	{ "bad address", H "listen = ( { service = \"smtp\"; address = \"localhost\"; port = 25; } );\n", 2,
	  "listen[0].address: bad address \"localhost\": not an IPv4 or IPv6 address" },
	{ "duplicate listener", H "listen = (\n  { service = \"smtp\"; address = \"127.0.0.1\"; port = 25; },\n"
	  "  { service = \"pop3\"; address = \"::ffff:127.0.0.1\"; port = 25; }\n);\n", 4,
	  "listen[1]: 127.0.0.1 port 25 clashes with listen[0] (127.0.0.1 port 25, line 3)" },
	{ "wildcard clash", H "listen = (\n  { service = \"smtp\"; port = 25; },\n"
	  "  { service = \"smtp\"; address = \"192.0.2.1\"; port = 25; }\n);\n", 4,
	  "listen[1]: 192.0.2.1 port 25 clashes with listen[0] (0.0.0.0 port 25, line 3)" },
	{ "empty listen", H "listen = ( );\n", 2, "listen: empty list; name at least one listener" },
	{ "smtps without tls", H "listen = ( { service = \"smtps\"; port = 465; } );\n", 2,
	  "listen[0].service: smtps needs the tls block" },
	{ "pop3s without tls", H "listen = ( { service = \"smtp\"; port = 25; },\n"
	  "  { service = \"pop3s\"; port = 995; } );\n", 3,
	  "listen[1].service: pop3s needs the tls block" },
	{ "listener min_version without tls", H "listen = ( { service = \"pop3\"; port = 110;\n"
	  "  min_version = \"TLSv1\"; } );\n", 3, "listen[0].min_version: needs the tls block" },
	{ "listener ciphers without tls", H "listen = ( { service = \"pop3\"; port = 110;\n"
	  "  ciphers = \"HIGH\"; } );\n", 3, "listen[0].ciphers: needs the tls block" },
	{ "listener bad min_version", H TLS "listen = ( { service = \"pop3s\"; port = 995;\n"
	  "  min_version = \"SSLv3\"; } );\n", 4,
	  "listen[0].min_version: unknown TLS version \"SSLv3\": use TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3" },
	/* TLS block. */
	{ "tls without certificate", H "tls = {\n  private_key = \"/k.pem\"; };\n", 2,
	  "tls.certificate: missing; the tls block needs it" },
	{ "tls without key", H "tls = { certificate = \"/c.pem\"; };\n", 2,
	  "tls.private_key: missing; the tls block needs it" },
	{ "tls bad min_version", H "tls = { certificate = \"/c\"; private_key = \"/k\"; min_version = \"TLSv1.4\"; };\n",
	  2, "tls.min_version: unknown TLS version \"TLSv1.4\": use TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3" },
	{ "tls empty ciphers", H "tls = { certificate = \"/c\"; private_key = \"/k\"; ciphers = \"\"; };\n",
	  2, "tls.ciphers: must not be empty" },
	/* Domains and names. */
	{ "empty domains", H "domains = [ ];\n", 2, "domains: empty list; name at least one local domain" },
	{ "duplicate domain", H "domains = [ \"Example.NET\",\n  \"example.net.\" ];\n", 3,
	  "domains: duplicate domain \"example.net.\"" },
	{ "bad domain space", H "domains = [ \"exa mple.net\" ];\n", 2, "domains: bad domain \"exa mple.net\"" },
	{ "bad domain empty label", H "domains = [ \"a..example\" ];\n", 2, "domains: bad domain \"a..example\"" },
	{ "bad domain two dots", H "domains = [ \"example.net..\" ];\n", 2,
	  "domains: bad domain \"example.net..\"" },
	{ "bad domain hyphen", H "domains = [ \"-a.example\" ];\n", 2, "domains: bad domain \"-a.example\"" },
	{ "bad domain empty", H "domains = [ \"\" ];\n", 2, "domains: bad domain \"\"" },
	{ "bad hostname", "hostname = \"mail example\";\n", 1, "hostname: bad host name \"mail example\"" },
	{ "empty hostname", "hostname = \"\";\n", 1, "hostname: must not be empty" },
	{ "empty state_dir", H "state_dir = \"\";\n", 2, "state_dir: must not be empty" },
	{ "empty user", H "user = \"\";\n", 2, "user: must not be empty" },
	/* Ranges. */
	{ "max_per_ip 0", H "limits = { max_per_ip = 0; };\n", 2,
	  "limits.max_per_ip: must be from 1 to 2147483647, not 0" },
	{ "message_size huge", H "limits = { message_size = 99999999999; };\n", 2,
	  "limits.message_size: must be from 1 to 2147483647, not 99999999999" },
	{ "message_size wraps in libconfig", H "limits = { message_size = 4294967396; };\n", 2,
	  "limits.message_size: must be from 1 to 2147483647, not 4294967396" },
	{ "wrap beside another key", H "limits = { max_connections = 200; max_per_ip = 4294967306; };\n", 2,
	  "limits.max_per_ip: must be from 1 to 2147483647, not 4294967306" },
	{ "negative wrap", H "relay = { authorization_ttl = -2147483649; };\n", 2,
	  "relay.authorization_ttl: must be from 0 to 2147483647, not -2147483649" },
	{ "hex wrap", H "limits = { max_per_ip = 0x100000005; };\n", 2,
	  "limits.max_per_ip: must be from 1 to 2147483647, not 0x100000005" },
	{ "int64 too large", H "limits = { message_size = 99999999999L; };\n", 2,
	  "limits.message_size: must be from 1 to 2147483647, not 99999999999" },
	{ "negative timeout", H "limits = { command_timeout = -1; };\n", 2,
	  "limits.command_timeout: must be from 1 to 86400, not -1" },
	{ "auth_failures 0", H "limits = { auth_failures = 0; };\n", 2,
	  "limits.auth_failures: must be from 1 to 2147483647, not 0" },
	{ "max_use 0", H "limits = { max_use = 0; };\n", 2,
	  "limits.max_use: must be from 1 to 2147483647, not 0" },
	{ "junk_command_limit 0", H "limits = { junk_command_limit = 0; };\n", 2,
	  "limits.junk_command_limit: must be from 1 to 2147483647, not 0" },
	{ "negative session_timeout", H "limits = { session_timeout = -1; };\n", 2,
	  "limits.session_timeout: must be from 0 to 86400, not -1" },
	{ "session_timeout above a day", H "limits = { session_timeout = 86401; };\n", 2,
	  "limits.session_timeout: must be from 0 to 86400, not 86401" },
	{ "outbound_window 0", H "limits = { outbound_window = 0; };\n", 2,
	  "limits.outbound_window: must be from 1 to 86400, not 0" },
	{ "outbound_per_user_hour -1", H "limits = { outbound_per_user_hour = -1; };\n", 2,
	  "limits.outbound_per_user_hour: must be from 0 to 2147483647, not -1" },
	{ "error_limit 0", H "limits = { error_limit = 0; };\n", 2,
	  "limits.error_limit: must be from 1 to 2147483647, not 0" },
	{ "max_connections 0", H "limits = { max_connections = 0; };\n", 2,
	  "limits.max_connections: must be from 1 to 2147483647, not 0" },
	{ "ipv6_prefix 0", H "relay = { ipv6_prefix = 0; };\n", 2,
	  "relay.ipv6_prefix: must be from 1 to 128, not 0" },
	{ "ipv6_prefix 129", H "relay = { ipv6_prefix = 129; };\n", 2,
	  "relay.ipv6_prefix: must be from 1 to 128, not 129" },
	{ "negative ttl", H "relay = { authorization_ttl = -1; };\n", 2,
	  "relay.authorization_ttl: must be from 0 to 2147483647, not -1" },
	{ "retry_max below retry_min", H "queue = { retry_min = 600;\n  retry_max = 300; };\n", 3,
	  "queue.retry_max: 300 is below queue.retry_min (600)" },
	{ "retry_min above default max", H "queue = {\n  retry_min = 7200; };\n", 3,
	  "queue.retry_min: 7200 is above queue.retry_max (3600)" },
	{ "max_age 0", H "queue = { max_age = 0; };\n", 2, "queue.max_age: must be from 1 to 2147483647, not 0" },
	{ "delivery_timeout 4", H "queue = { delivery_timeout = 4; };\n", 2,
	  "queue.delivery_timeout: must be from 5 to 86400, not 4" },
	{ "delivery_timeout a day and more", H "queue = { delivery_timeout = 86401; };\n", 2,
	  "queue.delivery_timeout: must be from 5 to 86400, not 86401" },
	/* Host and port syntax. */
	{ "smarthost port 0", H "relay = { smarthost = \"[127.0.0.1]:0\"; };\n", 2,
	  "relay.smarthost: bad smarthost \"[127.0.0.1]:0\": use \"[host]:port\", \"host:port\", \"[host]\" or \"host\"" },
	{ "smarthost bracket", H "relay = { smarthost = \"[127.0.0.1\"; };\n", 2,
	  "relay.smarthost: bad smarthost \"[127.0.0.1\": use \"[host]:port\", \"host:port\", \"[host]\" or \"host\"" },
	{ "nameserver name", H "dns = { nameserver = \"ns.example.net\"; };\n", 2,
	  "dns.nameserver: bad nameserver \"ns.example.net\": use an IP address, \"addr:port\" or \"[addr]:port\"" },
	{ "nameserver port", H "dns = { nameserver = \"127.0.0.1:99999\"; };\n", 2,
	  "dns.nameserver: bad nameserver \"127.0.0.1:99999\": use an IP address, \"addr:port\" or \"[addr]:port\"" },
	{ "dkim selector path", H "dkim = { selector = \"../x\"; };\n", 2,
	  "dkim.selector: bad selector \"../x\": use letters, digits, '-' and '_', in dot-separated labels" },
	{ "dnsbl zone", H "dnsbl = { zones = [ \"bad zone\" ]; };\n", 2,
	  "dnsbl.zones: bad zone \"bad zone\"" },
	{ "dnsbl zone twice", H "dnsbl = { zones = [ \"a.example\", \"A.example.\" ]; };\n", 2,
	  "dnsbl.zones: duplicate zone \"A.example.\"" },
	{ "greylist delay 0", H "greylist = { delay = 0; };\n", 2,
	  "greylist.delay: must be from 1 to 86400, not 0" },
	{ "greylist expire 60", H "greylist = { expire = 60; };\n", 2,
	  "greylist.expire: must be from 3600 to 2147483647, not 60" },
	{ "greylist enabled 1", H "greylist = { enabled = 1; };\n", 2,
	  "greylist.enabled: expected true or false" },
	{ "postmaster no domain", H "postmaster = \"noc\";\n", 2,
	  "postmaster: bad address \"noc\": write it as user@domain" },
	{ "postmaster two @", H "postmaster = \"a@b@example.net\";\n", 2,
	  "postmaster: bad address \"a@b@example.net\": write it as user@domain" },
	/* Filters (milters). */
	{ "milter without address", H "milters = ( { name = \"a\"; } );\n", 2,
	  "milters[0].address: missing" },
	{ "milter without name", H "milters = ( { address = \"127.0.0.1:1\"; } );\n", 2,
	  "milters[0].name: missing" },
	{ "milter bad address", H "milters = ( { name = \"a\"; address = \"127.0.0.1\"; } );\n", 2,
	  "milters[0].address: bad address \"127.0.0.1\": use \"host:port\", \"[v6]:port\" or \"unix:/path\"" },
	{ "milter bare v6", H "milters = ( { name = \"a\"; address = \"::1:11332\"; } );\n", 2,
	  "milters[0].address: bad address \"::1:11332\": use \"host:port\", \"[v6]:port\" or \"unix:/path\"" },
	{ "milter relative unix", H "milters = ( { name = \"a\"; address = \"unix:m.sock\"; } );\n", 2,
	  "milters[0].address: bad address \"unix:m.sock\": use \"host:port\", \"[v6]:port\" or \"unix:/path\"" },
	{ "milter on_error", H "milters = ( { name = \"a\"; address = \"127.0.0.1:1\"; on_error = \"reject\"; } );\n",
	  2, "milters[0].on_error: unknown on_error \"reject\": use tempfail or accept" },
	{ "milter timeout 0", H "milters = ( { name = \"a\"; address = \"127.0.0.1:1\"; timeout = 0; } );\n",
	  2, "milters[0].timeout: must be from 1 to 3600, not 0" },
	{ "milter pop3", H "milters = ( { name = \"a\"; address = \"127.0.0.1:1\"; services = [ \"pop3\" ]; } );\n",
	  2, "milters[0].services: bad service (smtp, submission or smtps) \"pop3\"" },
	{ "milter no services", H "milters = ( { name = \"a\"; address = \"127.0.0.1:1\"; services = [ ]; } );\n",
	  2, "milters[0].services: empty list; name at least one service" },
	{ "milter duplicate name", H "milters = ( { name = \"a\"; address = \"127.0.0.1:1\"; },\n"
	  "  { name = \"a\"; address = \"127.0.0.1:2\"; } );\n", 3, "milters[1]: duplicate name \"a\"" },
	{ "milter unknown key", H "milters = ( { name = \"a\"; address = \"127.0.0.1:1\"; port = 1; } );\n",
	  2, "milters[0].port: unknown key" },
	{ "milters a group", H "milters = { name = \"a\"; };\n", 2,
	  "milters: expected a list ( { ... }, ... )" },
	{ "srs domain", H "srs = { domain = \"srs example\"; };\n", 2,
	  "srs.domain: bad domain \"srs example\": a domain name, or \"\" for the hostname" },
	{ "web without tls", H "listen = ( { service = \"web\"; port = 8443; } );\n", 2,
	  "listen[0].service: web needs the tls block" },
	{ "web admin", H "web = { admins = [ \"nobody\" ]; };\n", 2,
	  "web.admins: bad address \"nobody\"" },
	{ "web ttl", H "web = { session_ttl = 5; };\n", 2,
	  "web.session_ttl: must be from 60 to 604800, not 5" },
	{ "relay backend", H "relay = { backend = \"mysql\"; };\n", 2,
	  "relay.backend: unknown backend \"mysql\": use bdb or redis" },
	{ "redis address", H "redis = { address = \"redis.example:6379\"; };\n", 2,
	  "redis.address: bad address \"redis.example:6379\": use \"127.0.0.1:6379\", \"[::1]:6379\" or a unix socket path" },
	{ "redis v6 unbracketed", H "redis = { address = \"::1:6379\"; };\n", 2,
	  "redis.address: bad address \"::1:6379\": use \"127.0.0.1:6379\", \"[::1]:6379\" or a unix socket path" },
	{ "redis prefix", H "redis = { prefix = \"a b\"; };\n", 2, "redis.prefix: bad prefix \"a b\": printable characters, no spaces, at most 64" },
	/* libconfig's own errors name file and line. */
	{ "syntax error", H "state_dir = ;\n", 2, "syntax error" },
	{ "missing comma", H "listen = ( { service = \"smtp\"; port = 25; }\n"
	  "  { service = \"pop3\"; port = 110; } );\n", 3, "syntax error" },
	{ "unterminated group", H "limits = { max_per_ip = 3;\n", 3, "syntax error" },
	{ "duplicate key", H "hostname = \"b.example\";\n", 2, "duplicate setting name" },
};

static void test_errors(void)
{
	for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		const struct err_case *t = &err_cases[i];
		struct conf c;
		char name[64], path[512], err[512] = "", want[1100];
		int r;

		snprintf(name, sizeof name, "err-%zu.conf", i);
		conf_write(name, t->text, path, sizeof path);
		memset(&c, 0xa5, sizeof c);
		r = conf_load(path, &c, err, sizeof err);
		snprintf(want, sizeof want, "%s:%d: %s", path, t->line, t->msg);
		CU_ASSERT_EQUAL(r, -1);
		CU_ASSERT_STRING_EQUAL(err, want);
		CU_ASSERT(is_zero(&c, sizeof c));
		if (r != -1 || strcmp(err, want) != 0)
			printf("# %s\n#   got:  %s\n#   want: %s\n", t->name, err, want);
	}
}

/* Files that cannot be read: named with the system's reason, no line. */
static void test_file_errors(void)
{
	struct conf c;
	char path[512], err[512] = "", want[700];

	snprintf(path, sizeof path, "%s/does-not-exist.conf", cutap_tmpdir());
	memset(&c, 0xa5, sizeof c);
	CU_ASSERT_EQUAL(conf_load(path, &c, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: No such file or directory", path);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT(is_zero(&c, sizeof c));

	CU_ASSERT_EQUAL(conf_load(cutap_tmpdir(), &c, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s: Is a directory", cutap_tmpdir());
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT(is_zero(&c, sizeof c));

	if (geteuid() != 0) {
		conf_write("unreadable.conf", H, path, sizeof path);
		CU_ASSERT_EQUAL(chmod(path, 0), 0);
		CU_ASSERT_EQUAL(conf_load(path, &c, err, sizeof err), -1);
		snprintf(want, sizeof want, "%s: Permission denied", path);
		CU_ASSERT_STRING_EQUAL(err, want);
	}

	CU_ASSERT_EQUAL(conf_load("", &c, err, sizeof err), -1);
	CU_ASSERT_NOT_EQUAL(err[0], '\0');
	/* A tiny or absent error buffer does not stop the error. */
	snprintf(path, sizeof path, "%s/does-not-exist.conf", cutap_tmpdir());
	CU_ASSERT_EQUAL(conf_load(path, &c, err, 4), -1);
	CU_ASSERT_EQUAL(strlen(err), 3);
	CU_ASSERT_EQUAL(conf_load(path, &c, NULL, 0), -1);
}

/* ---- lookups ---- */

static void test_is_local_domain(void)
{
	static const struct {
		const char *domain;
		int local;
	} cases[] = {
		{ "example.net", 1 },
		{ "EXAMPLE.net.", 1 },
		{ "Example.Net", 1 },
		{ "b.example", 1 },
		{ "b.example.", 1 },
		{ "example.net..", 0 },
		{ "sub.example.net", 0 },
		{ "xample.net", 0 },
		{ "example.ne", 0 },
		{ "example.netx", 0 },
		{ "net", 0 },
		{ ".", 0 },
		{ "", 0 },
	};
	struct conf c;
	char path[512], err[512] = "";

	conf_write("local.conf", H "domains = [ \"Example.NET.\", \"b.example\" ];\n", path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int r = conf_is_local_domain(&c, cases[i].domain, strlen(cases[i].domain));

		CU_ASSERT_EQUAL(r, cases[i].local);
		if (r != cases[i].local)
			printf("# \"%s\": %d\n", cases[i].domain, r);
	}
	/* len bounds the domain: no NUL needed, the rest is ignored. */
	CU_ASSERT_EQUAL(conf_is_local_domain(&c, "example.net>", 11), 1);
	CU_ASSERT_EQUAL(conf_is_local_domain(&c, "example.net.>", 12), 1);
	CU_ASSERT_EQUAL(conf_is_local_domain(&c, "b.example.net", 9), 1);
	CU_ASSERT_EQUAL(conf_is_local_domain(&c, "example.net", 10), 0);
	CU_ASSERT_EQUAL(conf_is_local_domain(NULL, "example.net", 11), 0);
	conf_free(&c);
	CU_ASSERT_EQUAL(conf_is_local_domain(&c, "example.net", 11), 0);
}

static void test_service_names(void)
{
	static const char *const names[SERVICE_COUNT] = {
		"smtp", "submission", "smtps", "pop3", "pop3s", "metrics", "web"
	};

	for (int i = 0; i < SERVICE_COUNT; i++) {
		CU_ASSERT_STRING_EQUAL(conf_service_name((enum service)i), names[i]);
		CU_ASSERT_EQUAL(conf_service_parse(names[i]), i);
	}
	CU_ASSERT_EQUAL(conf_service_parse("SMTP"), -1);
	CU_ASSERT_EQUAL(conf_service_parse("imap"), -1);
	CU_ASSERT_EQUAL(conf_service_parse(""), -1);
	CU_ASSERT_EQUAL(conf_service_parse(NULL), -1);
	CU_ASSERT_STRING_EQUAL(conf_service_name(SERVICE_COUNT), "unknown");
	CU_ASSERT_EQUAL(conf_log_level_parse("warning"), LOG_WARNING);
	CU_ASSERT_EQUAL(conf_log_level_parse("error"), LOG_ERR);
	CU_ASSERT_EQUAL(conf_log_level_parse("Info"), -1);
}

static void test_smarthost_parse(void)
{
	static const struct {
		const char *in;
		int ok;
		const char *host;
		int port, mx;
	} cases[] = {
		{ "[127.0.0.1]:2626", 1, "127.0.0.1", 2626, 0 },
		{ "[127.0.0.1]", 1, "127.0.0.1", 25, 0 },
		{ "[::1]:2626", 1, "::1", 2626, 0 },
		{ "[relay.example.net]", 1, "relay.example.net", 25, 0 },
		{ "relay.example.net:587", 1, "relay.example.net", 587, 1 },
		{ "relay.example.net", 1, "relay.example.net", 25, 1 },
		{ "127.0.0.1:26", 1, "127.0.0.1", 26, 0 },	/* an address has no MX */
		{ "127.0.0.1", 1, "127.0.0.1", 25, 0 },
		{ "", 0, NULL, 0, 0 },
		{ "[]", 0, NULL, 0, 0 },
		{ "[127.0.0.1", 0, NULL, 0, 0 },
		{ "[127.0.0.1]x", 0, NULL, 0, 0 },
		{ "[127.0.0.1]:", 0, NULL, 0, 0 },
		{ "host:0", 0, NULL, 0, 0 },
		{ "host:65536", 0, NULL, 0, 0 },
		{ "host:-1", 0, NULL, 0, 0 },
		{ "host:25x", 0, NULL, 0, 0 },
		{ "::1", 0, NULL, 0, 0 },
		{ "bad host:25", 0, NULL, 0, 0 },
		{ "[bad host]:25", 0, NULL, 0, 0 },
		{ ":25", 0, NULL, 0, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char host[256] = "";
		int port = -1, mx = -1;
		int r = conf_smarthost_parse(cases[i].in, host, sizeof host, &port, &mx);

		if (!cases[i].ok) {
			CU_ASSERT_EQUAL(r, -1);
			if (r != -1)
				printf("# smarthost \"%s\" accepted\n", cases[i].in);
			continue;
		}
		CU_ASSERT_EQUAL(r, 0);
		CU_ASSERT_STRING_EQUAL(host, cases[i].host);
		CU_ASSERT_EQUAL(port, cases[i].port);
		CU_ASSERT_EQUAL(mx, cases[i].mx);
	}
}

static void test_nameserver_parse(void)
{
	static const struct {
		const char *in;
		int ok;
		const char *addr;
		int port;
	} cases[] = {
		{ "127.0.0.1", 1, "127.0.0.1", 53 },
		{ "127.0.0.1:5353", 1, "127.0.0.1", 5353 },
		{ "[127.0.0.1]:5353", 1, "127.0.0.1", 5353 },
		{ "::1", 1, "::1", 53 },
		{ "[::1]:5353", 1, "::1", 5353 },
		{ "[2001:DB8::1]", 1, "2001:db8::1", 53 },
		{ "::ffff:127.0.0.1", 1, "127.0.0.1", 53 },
		{ "", 0, NULL, 0 },
		{ "ns.example.net", 0, NULL, 0 },
		{ "ns.example.net:53", 0, NULL, 0 },
		{ "127.0.0.1:0", 0, NULL, 0 },
		{ "127.0.0.1:", 0, NULL, 0 },
		{ "[::1]5353", 0, NULL, 0 },
		{ "1.2.3:53", 0, NULL, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char addr[NET_ADDR_MAX] = "";
		int port = -1;
		int r = conf_nameserver_parse(cases[i].in, addr, sizeof addr, &port);

		if (!cases[i].ok) {
			CU_ASSERT_EQUAL(r, -1);
			if (r != -1)
				printf("# nameserver \"%s\" accepted\n", cases[i].in);
			continue;
		}
		CU_ASSERT_EQUAL(r, 0);
		CU_ASSERT_STRING_EQUAL(addr, cases[i].addr);
		CU_ASSERT_EQUAL(port, cases[i].port);
	}
}

/* Loading twice into the same struct after a free: nothing stale survives. */
static void test_reload(void)
{
	struct conf c;
	char p1[512], p2[512], err[512] = "";

	conf_write("reload1.conf", full_conf, p1, sizeof p1);
	conf_write("reload2.conf", minimal_conf, p2, sizeof p2);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL_FATAL(conf_load(p1, &c, err, sizeof err), 0);
		CU_ASSERT_EQUAL(c.nlisten, 6);
		conf_free(&c);
		CU_ASSERT_EQUAL_FATAL(conf_load(p2, &c, err, sizeof err), 0);
		CU_ASSERT_EQUAL(c.nlisten, 2);
		CU_ASSERT_EQUAL(c.tls.enabled, 0);
		conf_free(&c);
	}
}

/* ---- ispmaild -n and -d ---- */

/* The hostname line -n prints, unless this machine has that very name. */
static const char *host_line(void)
{
	char name[256] = "";

	(void)gethostname(name, sizeof name - 1);
	return strcmp(name, "mail.example.net") == 0 ? "" : "hostname = \"mail.example.net\"\n";
}

/*
 * Every type prints as libconfig writes it (strings quoted with \", \\, \t
 * and \xNN; lists in [ ]; listen in ( { ... } )), and only what differs
 * from its default: top level first, then each block in table order.
 */
static void test_print_changed(void)
{
	static const char text[] =
		"queue = { delivery_timeout = 5; retry_min = 300; };\n"
		"hostname = \"mail.example.net\";\n"
		"users_file = \"/etc/u\";\n"
		"aliases_file = \"/etc/a\";\n"
		"user = \"v\\\"x\\\\y\\tz\";\n"
		"group = \"g\\x01\";\n"
		"log_level = \"warning\";\n"
		"domains = [ \"MAIL.example.net.\" ];\n"
		"listen = ( { service = \"pop3s\"; address = \"::1\"; port = 995;\n"
		"  min_version = \"TLSv1\"; ciphers = \"DEFAULT:@SECLEVEL=0\"; } );\n"
		"tls = { certificate = \"/c.pem\"; private_key = \"/k.pem\";\n"
		"  min_version = \"TLSv1.3\"; ciphers = \"HIGH\"; };\n"
		"relay = { never_authorize = [ \"100.64.0.0/10\", \"2001:db8::/32\" ];\n"
		"  ipv6_prefix = 56; authorization_ttl = 0; plaintext_auth = false; };\n"
		"dns = { nameserver = \"[::1]:5353\"; };\n";
	static const char want[] =
		"users_file = \"/etc/u\"\n"
		"aliases_file = \"/etc/a\"\n"
		"user = \"v\\\"x\\\\y\\tz\"\n"
		"group = \"g\\x01\"\n"
		"listen = ( { service = \"pop3s\"; address = \"::1\"; port = 995; "
		"min_version = \"TLSv1\"; ciphers = \"DEFAULT:@SECLEVEL=0\"; } )\n"
		"log_level = \"warning\"\n"
		"tls.certificate = \"/c.pem\"\n"
		"tls.private_key = \"/k.pem\"\n"
		"tls.min_version = \"TLSv1.3\"\n"
		"tls.ciphers = \"HIGH\"\n"
		"relay.authorization_ttl = 0\n"
		"relay.ipv6_prefix = 56\n"
		"relay.never_authorize = [ \"100.64.0.0/10\", \"2001:db8::/32\" ]\n"
		"dns.nameserver = \"[::1]:5353\"\n"
		"queue.delivery_timeout = 5\n";
	struct buf out = BUF_INIT, exp = BUF_INIT;
	struct conf c;
	char path[512], err[512] = "";

	conf_write("print.conf", text, path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	buf_appends(&exp, host_line());
	buf_appends(&exp, want);
	conf_print_changed(&c, &out);
	CU_ASSERT_STRING_EQUAL(out.s, exp.s);
	if (out.s == NULL || strcmp(out.s, exp.s) != 0)
		printf("# got:\n%s# want:\n%s", out.s != NULL ? out.s : "", exp.s);
	conf_free(&c);
	buf_free(&out);
	buf_free(&exp);
}

/* A file of nothing but the host name: one line, or none. */
static void test_print_changed_none(void)
{
	struct buf out = BUF_INIT;
	struct conf c;
	char path[512], err[512] = "";

	conf_write("print-none.conf", "hostname = \"mail.example.net\";\n", path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	conf_print_changed(&c, &out);
	CU_ASSERT_STRING_EQUAL(out.len > 0 ? out.s : "", host_line());
	conf_free(&c);
	buf_free(&out);
}

/* The DNSBL, greylisting and postmaster keys, set. */
static void test_filter_keys(void)
{
	struct conf c;
	char path[512], err[512];

	conf_write("filter.conf", H
	    "dnsbl = { zones = [ \"Zen.Example.\", \"key.zen.dq.spamhaus.net\" ]; };\n"
	    "greylist = { enabled = true; delay = 60; expire = 7200; auto_allow = 0; };\n"
	    "postmaster = \"noc@example.net\";\n", path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	CU_ASSERT_EQUAL_FATAL(c.dnsbl.nzones, 2);
	CU_ASSERT_STRING_EQUAL(c.dnsbl.zones[0], "zen.example");
	CU_ASSERT_STRING_EQUAL(c.dnsbl.zones[1], "key.zen.dq.spamhaus.net");
	CU_ASSERT_EQUAL(c.greylist.enabled, 1);
	CU_ASSERT_EQUAL(c.greylist.delay, 60);
	CU_ASSERT_EQUAL(c.greylist.expire, 7200);
	CU_ASSERT_EQUAL(c.greylist.auto_allow, 0);
	CU_ASSERT_STRING_EQUAL(c.postmaster, "noc@example.net");
	conf_free(&c);
}

/* Every key once, with its default; "key =" for none. */
/* milters: the list in order, each entry's defaults, the services it serves. */
static void test_milters(void)
{
	struct conf c;
	char path[512], err[512] = "";

	conf_write("milters.conf", "hostname = \"mail.example.net\";\n"
	    "milters = ( { name = \"rspamd\"; address = \"127.0.0.1:11332\"; },\n"
	    "  { name = \"clamav\"; address = \"unix:/run/clamav/clamav-milter.ctl\";\n"
	    "    timeout = 5; on_error = \"accept\"; services = [ \"smtp\" ]; },\n"
	    "  { name = \"v6\"; address = \"[::1]:8891\"; },\n"
	    "  { name = \"named\"; address = \"filter.example.net:8891\"; } );\n",
	    path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	CU_ASSERT_EQUAL_FATAL(c.nmilters, 4);
	CU_ASSERT_STRING_EQUAL(c.milters[0].name, "rspamd");
	CU_ASSERT_STRING_EQUAL(c.milters[0].address, "127.0.0.1:11332");
	CU_ASSERT_EQUAL(c.milters[0].timeout, 30);
	CU_ASSERT_EQUAL(c.milters[0].on_error, CONF_MILTER_TEMPFAIL);
	CU_ASSERT_EQUAL(c.milters[0].nservices, 3);
	CU_ASSERT(conf_milter_serves(&c.milters[0], SERVICE_SMTP));
	CU_ASSERT(conf_milter_serves(&c.milters[0], SERVICE_SUBMISSION));
	CU_ASSERT(conf_milter_serves(&c.milters[0], SERVICE_SMTPS));
	CU_ASSERT(!conf_milter_serves(&c.milters[0], SERVICE_POP3));
	CU_ASSERT_STRING_EQUAL(c.milters[1].address, "unix:/run/clamav/clamav-milter.ctl");
	CU_ASSERT_EQUAL(c.milters[1].timeout, 5);
	CU_ASSERT_EQUAL(c.milters[1].on_error, CONF_MILTER_ACCEPT);
	CU_ASSERT(conf_milter_serves(&c.milters[1], SERVICE_SMTP));
	CU_ASSERT(!conf_milter_serves(&c.milters[1], SERVICE_SUBMISSION));
	CU_ASSERT_STRING_EQUAL(c.milters[2].address, "[::1]:8891");
	conf_free(&c);

	/* None by default; an empty list is none too. */
	conf_write("milters0.conf", "hostname = \"mail.example.net\";\nmilters = ( );\n",
	    path, sizeof path);
	CU_ASSERT_EQUAL_FATAL(conf_load(path, &c, err, sizeof err), 0);
	CU_ASSERT_EQUAL(c.nmilters, 0);
	conf_free(&c);
}

static void test_print_defaults(void)
{
	static const char *const lines[] = {
		"aliases_file =\n", "user = \"vmail\"\n", "log_level = \"info\"\n",
		"listen[].service =\n", "listen[].address = \"0.0.0.0\"\n", "listen[].port =\n",
		"tls.min_version = \"TLSv1.2\"\n", "tls.ciphers =\n",
		"relay.trusted_networks = [ \"127.0.0.1/32\", \"::1/128\" ]\n",
		"relay.ipv6_prefix = 64\n", "relay.plaintext_auth = false\n",
		"relay.smarthost = \"\"\n", "dns.nameserver = \"\"\n",
		"limits.message_size = 26214400\n", "limits.error_limit = 10\n",
		"limits.outbound_per_user_hour = 500\n", "limits.outbound_window = 3600\n",
		"relay.sender_login_match = false\n",
		"queue.retry_min = 300\n", "queue.delivery_timeout = 1200\n",
		"dkim.selector = \"s2026\"\n", "dnsbl.zones = [ ]\n",
		"greylist.enabled = false\n", "greylist.delay = 300\n",
		"greylist.expire = 3024000\n", "greylist.auto_allow = 5\n",
		"postmaster = \"\"\n",
		"dkim.selector = \"s2026\"\n",
		"milters = ( )\n", "milters[].name =\n", "milters[].timeout = 30\n",
		"milters[].on_error = \"tempfail\"\n",
		"milters[].services = [ \"smtp\", \"submission\", \"smtps\" ]\n",
		"srs.secret_file = \"" SYSCONFDIR "/ispmaild/srs.secret\"\n", "srs.domain = \"\"\n",
		"relay.backend = \"bdb\"\n", "web.admins = [ ]\n", "web.session_ttl = 1800\n",
		"redis.address = \"127.0.0.1:6379\"\n", "redis.password_file = \"\"\n",
		"redis.prefix = \"ispmaild:\"\n", "redis.timeout_ms = 500\n",
	};
	struct buf out = BUF_INIT;
	size_t n = 0;

	conf_print_defaults(&out);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out.s);
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		const char *at = strstr(out.s, lines[i]);

		CU_ASSERT(at != NULL && (at == out.s || at[-1] == '\n'));
		if (at == NULL)
			printf("# missing: %s", lines[i]);
	}
	for (const char *p = out.s; *p != '\0'; p++)
		n += *p == '\n';
	/*
	 * 12 top-level keys, 5 of a listen entry, 5 of a milters entry, tls 4,
	 * relay 10, dns 1, limits 15, queue 4, dkim 2, dnsbl 1, greylist 4, srs 2,
	 * web 2, redis 4.
	 */
	CU_ASSERT_EQUAL(n, 71);
	buf_free(&out);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("conf", NULL, NULL);
	CU_add_test(s, "minimal example", test_minimal);
	CU_add_test(s, "full example", test_full);
	CU_add_test(s, "non-default values", test_non_defaults);
	CU_add_test(s, "dnsbl, greylist and postmaster keys", test_filter_keys);
	CU_add_test(s, "absent keys take defaults", test_absent_defaults);
	CU_add_test(s, "gethostname default", test_gethostname_default);
	CU_add_test(s, "relative paths", test_relative_paths);
	CU_add_test(s, "include", test_include);
	CU_add_test(s, "error messages", test_errors);
	CU_add_test(s, "file errors", test_file_errors);
	CU_add_test(s, "is local domain", test_is_local_domain);
	CU_add_test(s, "service names", test_service_names);
	CU_add_test(s, "smarthost parse", test_smarthost_parse);
	CU_add_test(s, "nameserver parse", test_nameserver_parse);
	CU_add_test(s, "reload", test_reload);
	CU_add_test(s, "print changed", test_print_changed);
	CU_add_test(s, "print changed: none", test_print_changed_none);
	CU_add_test(s, "milters", test_milters);
	CU_add_test(s, "print defaults", test_print_defaults);
	return cutap_run();
}
