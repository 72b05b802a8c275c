/*
 * fuzz_session.c: the harness the two session targets share. One process
 * runs thousands of sessions, so it must be fast and leave nothing behind:
 *
 *  - in-process, on a socketpair: the input is written first and the
 *    client's end shut down for writing, so the session never waits to
 *    read; a thread drains the server's replies as they come, so it never
 *    waits to write either, whatever the input makes it say (a fork per
 *    input would lose libFuzzer's coverage and cost ~1 ms);
 *  - the 200 ms..3 s pause after a failed login (session_auth_delay) and
 *    crypt(3) (yescrypt: slow by design) are linked away with
 *    -Wl,--wrap: users_authenticate still scans the real users file, then
 *    compares the password with FUZZ_PASSWORD;
 *  - the relay DB is made unavailable (see fuzz_env_get);
 *  - STARTTLS/STLS can be offered: the handshake then meets the rest of
 *    the input (or EOF) and fails at once;
 *  - scratch state lives in fuzz_tmpdir() (run.sh points TMPDIR at tmpfs),
 *    with 1 s timeouts; every run must close every descriptor it opened.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "buf.h"
#include "conf.h"
#include "fuzz_session.h"
#include "fuzz_util.h"
#include "tls.h"
#include "users.h"

/* ---- what -Wl,--wrap replaces ---- */

void __wrap_session_auth_delay(long pause_ms);
int __wrap_users_authenticate(const char *path, const char *address, const char *password);
int __wrap_users_check_hash(const char *hash, const char *password);

/* No pause: the delay is policy, not parsing, and would cap us at 5 exec/s. */
void __wrap_session_auth_delay(long pause_ms)
{
	(void)pause_ms;
}

/* The real lookup, a plain compare instead of yescrypt. */
int __wrap_users_authenticate(const char *path, const char *address, const char *password)
{
	char hash[USERS_HASH_MAX];
	int r = users_lookup(path, address, hash, sizeof hash);

	if (r <= 0)
		return r;
	return strcmp(password, FUZZ_PASSWORD) == 0;
}

/* Only the dummy check of a malformed login name comes here. */
int __wrap_users_check_hash(const char *hash, const char *password)
{
	(void)hash;
	(void)password;
	return 0;
}

/* ---- the environment ---- */

static struct fuzz_env env;

static void make_dir(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "fuzz: mkdir %s: %s\n", path, strerror(errno));
		abort();
	}
}

/* A throwaway self-signed certificate for the STARTTLS/STLS paths. */
static void make_cert(const char *cert_path, const char *key_path)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;

	if (key == NULL || x == NULL)
		abort();
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"mx.example.net", -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (X509_sign(x, key, EVP_sha256()) == 0)
		abort();
	if ((f = fopen(cert_path, "we")) == NULL || PEM_write_X509(f, x) != 1 || fclose(f) != 0)
		abort();
	if ((f = fopen(key_path, "we")) == NULL ||
	    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1 || fclose(f) != 0)
		abort();
	X509_free(x);
	EVP_PKEY_free(key);
}

struct fuzz_env *fuzz_env_get(void)
{
	static int ready;
	char path[700], err[1024];
	struct buf b = BUF_INIT;
	const char *hash = users_dummy_hash();	/* valid form; never checked */

	if (ready)
		return &env;
	signal(SIGPIPE, SIG_IGN);
	fuzz_quiet_logs();
	(void)str_copy(env.dir, sizeof env.dir, fuzz_tmpdir());
	if (str_format(env.state_dir, sizeof env.state_dir, "%s/state", env.dir) != 0 ||
	    str_format(env.maildir_root, sizeof env.maildir_root, "%s/mail", env.dir) != 0)
		abort();
	make_dir(env.state_dir);
	make_dir(env.maildir_root);
	/*
	 * The relay DB is not opened: a directory where its lock file goes
	 * makes relaydb_open() fail at once, and the sessions take their
	 * "relay DB unavailable" paths (not authorized, logged). Opening the
	 * Berkeley DB environment costs ~1.5 ms a session, and nothing in it
	 * depends on the input; relaydb has its own unit and fault tests.
	 */
	if (str_format(path, sizeof path, "%s/relay.db.lock", env.state_dir) != 0)
		abort();
	make_dir(path);

	buf_printf(&b, "# the fuzzers' users\nalice@example.net:%s\nbob@example.net:%s\n"
	    "carol@example.org:%s:quota=1\n", hash, hash, hash);
	fuzz_path(path, sizeof path, "users");
	fuzz_write_file(path, b.s, b.len);
	{
		char key[700];

		fuzz_path(path, sizeof path, "cert.pem");
		fuzz_path(key, sizeof key, "key.pem");
		make_cert(path, key);
	}
	buf_reset(&b);
	buf_printf(&b, "sales@example.net: alice@example.net, bob@example.net\n"
	    "ext@example.net: someone@remote.example alice@example.net\n"
	    "@example.org: bob@example.net\n");
	fuzz_path(path, sizeof path, "aliases");
	fuzz_write_file(path, b.s, b.len);
	buf_reset(&b);
	/* Relative paths are taken from the file's directory. */
	buf_printf(&b,
	    "hostname = \"mx.example.net\";\n"
	    "state_dir = \"state\";\nmaildir_root = \"mail\";\n"
	    "users_file = \"users\";\naliases_file = \"aliases\";\n"
	    "domains = [ \"example.net\", \"example.org\" ];\n"
	    "listen = ( { service = \"smtp\"; address = \"127.0.0.1\"; port = 2525; },\n"
	    "  { service = \"pop3\"; address = \"127.0.0.1\"; port = 1110; } );\n"
	    "relay = { customer_networks = [ \"192.0.2.0/24\", \"2001:db8:c::/48\" ];\n"
	    "  trusted_networks = [ \"127.0.0.1/32\" ];\n"
	    "  never_authorize = [ \"192.0.2.128/25\" ]; };\n"
	    "limits = { command_timeout = 1; data_timeout = 1; auth_failures = 3;\n"
	    "  max_recipients = 20; message_size = 65536; };\n"
	    "tls = { certificate = \"cert.pem\"; private_key = \"key.pem\"; };\n");
	fuzz_path(path, sizeof path, "ispmaild.conf");
	fuzz_write_file(path, b.s, b.len);
	buf_free(&b);
	if (conf_load(path, &env.conf, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz: test configuration refused: %s\n", err);
		abort();
	}
	env.tls = tls_server_ctx(&env.conf.tls, NULL, err, sizeof err);
	if (env.tls == NULL) {
		fprintf(stderr, "fuzz: TLS context: %s\n", err);
		abort();
	}
	ready = 1;
	return &env;
}

void fuzz_ctx_init(struct session_ctx *ctx, const struct fuzz_env *e,
    enum service service, const char *client, enum client_class class,
    int client_is_local, int tls)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->conf = &e->conf;
	ctx->service = service;
	ctx->fd = -1;
	if (net_addr_parse(client, &ctx->client) != 0)
		abort();
	(void)str_copy(ctx->client_text, sizeof ctx->client_text, client);
	ctx->client_port = 40000;
	if (net_addr_parse(client_is_local ? client : "198.51.100.25", &ctx->local) != 0)
		abort();
	ctx->class = class;
	(void)str_copy(ctx->id, sizeof ctx->id, "fuzz");
	ctx->tls = tls ? e->tls : NULL;
}

/* ---- the drain thread ---- */

static pthread_mutex_t drain_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t drain_cv = PTHREAD_COND_INITIALIZER;
static int drain_fd = -1;	/* set by the runner, reset by the drainer */
static int drain_busy;
static struct buf drain_out = BUF_INIT;
static size_t drain_total;

static void *drain_main(void *arg)
{
	char chunk[16384];

	(void)arg;
	for (;;) {
		int fd;

		pthread_mutex_lock(&drain_mu);
		while (drain_fd < 0)
			pthread_cond_wait(&drain_cv, &drain_mu);
		fd = drain_fd;
		pthread_mutex_unlock(&drain_mu);
		for (;;) {
			ssize_t n = read(fd, chunk, sizeof chunk);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (drain_out.len + (size_t)n <= FUZZ_SESSION_OUTPUT_MAX)
				buf_append(&drain_out, chunk, (size_t)n);
			drain_total += (size_t)n;
		}
		pthread_mutex_lock(&drain_mu);
		drain_fd = -1;
		drain_busy = 0;
		pthread_cond_broadcast(&drain_cv);
		pthread_mutex_unlock(&drain_mu);
	}
	return NULL;
}

static void drain_start(void)
{
	static int started;
	pthread_t t;

	if (started)
		return;
	if (pthread_create(&t, NULL, drain_main, NULL) != 0)
		abort();
	(void)pthread_detach(t);
	started = 1;
}

/* Open descriptors of this process (threads share them). */
static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	(void)closedir(d);
	return n - 1;	/* the directory's own */
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "fuzz: write to the session: %s\n", strerror(errno));
			abort();
		}
		p += w;
		n -= (size_t)w;
	}
}

int fuzz_session_run(struct session_ctx *ctx, int (*run)(const struct session_ctx *),
    const void *input, size_t size, struct buf *out, size_t *total)
{
	int sv[2], fds_before, fds_after, rc;

	drain_start();
	if (size > FUZZ_SESSION_INPUT_MAX)
		size = FUZZ_SESSION_INPUT_MAX;
	fds_before = fd_count();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	/* 64 KB fits in an AF_UNIX socket's buffer: nobody reads it yet. */
	write_all(sv[0], input, size);
	if (shutdown(sv[0], SHUT_WR) != 0)
		abort();

	pthread_mutex_lock(&drain_mu);
	buf_reset(&drain_out);
	drain_total = 0;
	drain_busy = 1;
	drain_fd = sv[0];
	pthread_cond_broadcast(&drain_cv);
	pthread_mutex_unlock(&drain_mu);

	ctx->fd = sv[1];
	rc = run(ctx);
	if (close(sv[1]) != 0)	/* the drainer sees EOF */
		abort();
	ctx->fd = -1;

	pthread_mutex_lock(&drain_mu);
	while (drain_busy)
		pthread_cond_wait(&drain_cv, &drain_mu);
	pthread_mutex_unlock(&drain_mu);
	if (close(sv[0]) != 0)
		abort();

	buf_reset(out);
	if (drain_out.len > 0)
		buf_append(out, drain_out.s, drain_out.len);
	*total = drain_total;
	fds_after = fd_count();
	FUZZ_CHECK(fds_after == fds_before, "the session leaked %d descriptor(s)",
	    fds_after - fds_before);
	return rc;
}

void fuzz_check_crlf(const struct buf *out, const char *proto)
{
	for (size_t i = 0; i < out->len; i++)
		if (out->s[i] == '\n')
			FUZZ_CHECK(i > 0 && out->s[i - 1] == '\r', "%s: bare LF in a reply at %zu",
			    proto, i);
	FUZZ_CHECK(out->len == 0 || (out->len >= 2 && out->s[out->len - 1] == '\n'),
	    "%s: the output does not end with a whole line", proto);
}

size_t fuzz_check_tls_last(const struct buf *out, const char *line, const char *proto)
{
	size_t n = strlen(line), end;

	for (size_t i = 0; i + n <= out->len; i++) {
		if ((i > 0 && out->s[i - 1] != '\n') || memcmp(out->s + i, line, n) != 0)
			continue;
		end = i + n + 2;
		/* Only TLS records (an alert) may follow, never a plain reply. */
		FUZZ_CHECK(end == out->len || (end < out->len && out->s[end] == 0x15),
		    "%s: %zu bytes sent in the clear after \"%s\" (pipelined commands ran)",
		    proto, out->len - end, line);
		return end;
	}
	return out->len;
}
