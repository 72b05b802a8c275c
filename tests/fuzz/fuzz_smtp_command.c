/*
 * fuzz_smtp_command.c: libFuzzer target for the SMTP session
 * (smtpd/smtp_session.c; RFC 5321, 2920, 1870, 4954): its command parser,
 * every handler, the DATA reader and local and queued delivery, over a
 * real session on a socketpair (fuzz_session.c). Byte 0 picks the client
 * (bits 0-1) and whether STARTTLS is offered (bit 2):
 *   0  an outsider on port 25     1  a customer on port 25
 *   2  submission from the server's own address (AUTH in the clear)
 *   3  a trusted host
 * The rest is what the client sends, then EOF. After each run:
 *  - every reply line is "ddd " or "ddd-" and printable ASCII (no client
 *    byte can forge or split a reply); nothing follows "220 Ready to
 *    start TLS" (commands pipelined behind STARTTLS are dropped);
 *  - mail reached only the Maildirs of real users;
 *  - an outsider that did not pass AUTH relayed nothing: the only remote
 *    recipient it can queue is the one our alias ext@example.net names
 *    (open-relay audit, docs/PROTOCOL.md, relay policy);
 *  - every envelope the session queued loads back.
 * Deliveries and the queue are then emptied, so each input starts clean.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz_session.h"
#include "fuzz_util.h"
#include "queue.h"
#include "smtp.h"

/* Reply lines: 3 digits, ' ' or '-', printable text, CRLF. */
static void check_replies(const struct buf *out)
{
	size_t start = 0;
	char show[300];

	while (start < out->len) {
		const char *l = out->s + start;
		const char *nl = memchr(l, '\n', out->len - start);
		size_t n;

		FUZZ_CHECK(nl != NULL, "unterminated reply line");
		n = (size_t)(nl - l);
		FUZZ_CHECK(n >= 5 && l[n - 1] == '\r', "short reply line \"%s\"",
		    fuzz_show(l, n, show, sizeof show));
		n--;
		FUZZ_CHECK(l[0] >= '2' && l[0] <= '5' && l[1] >= '0' && l[1] <= '9' &&
		    l[2] >= '0' && l[2] <= '9' && (l[3] == ' ' || l[3] == '-'),
		    "malformed reply \"%s\"", fuzz_show(l, n, show, sizeof show));
		FUZZ_CHECK(fuzz_printable(l, n), "unprintable reply \"%s\"",
		    fuzz_show(l, n, show, sizeof show));
		FUZZ_CHECK(n <= 512, "reply line of %zu octets", n);
		start += (size_t)(nl - l) + 1;
	}
}

/* Did the session accept an AUTH ("235")? */
static int authenticated(const struct buf *out)
{
	for (size_t i = 0; i + 4 <= out->len; i++)
		if ((i == 0 || out->s[i - 1] == '\n') && memcmp(out->s + i, "235 ", 4) == 0)
			return 1;
	return 0;
}

/* Mail may only have gone to the Maildirs of the users file. */
static void check_maildirs(const struct fuzz_env *e)
{
	static const char *const ok[] = {
		"example.net/alice", "example.net/bob", "example.org/carol", NULL
	};
	char path[1200];
	DIR *top = opendir(e->maildir_root), *dom;
	struct dirent *d, *u;

	if (top == NULL)
		return;
	while ((d = readdir(top)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		(void)str_format(path, sizeof path, "%s/%s", e->maildir_root, d->d_name);
		dom = opendir(path);
		FUZZ_CHECK(dom != NULL, "%s in the Maildir root is not a directory", d->d_name);
		while ((u = readdir(dom)) != NULL) {
			char rel[600];
			int known = 0;

			if (strcmp(u->d_name, ".") == 0 || strcmp(u->d_name, "..") == 0)
				continue;
			(void)str_format(rel, sizeof rel, "%s/%s", d->d_name, u->d_name);
			for (size_t k = 0; ok[k]; k++)
				known |= strcmp(rel, ok[k]) == 0;
			FUZZ_CHECK(known, "a Maildir for nobody: %s", rel);
		}
		(void)closedir(dom);
	}
	(void)closedir(top);
}

/* The queue: envelopes load, and an unauthenticated outsider relayed nothing. */
static void check_queue(const struct fuzz_env *e, int outsider)
{
	struct queue_env env;
	char **ids = NULL;
	size_t n = 0;

	if (queue_ids(e->state_dir, &ids, &n) != 0) {
		FUZZ_CHECK(errno == ENOENT, "queue_ids failed: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(queue_id_valid(ids[i]), "invalid queue id %s", ids[i]);
		FUZZ_CHECK(queue_env_load(e->state_dir, ids[i], &env) == 0,
		    "queued envelope %s does not load", ids[i]);
		FUZZ_CHECK(env.nrcpt >= 1, "envelope %s without recipients", ids[i]);
		FUZZ_CHECK(fuzz_printable(env.sender, strlen(env.sender)),
		    "unprintable sender in %s", ids[i]);
		for (size_t r = 0; r < env.nrcpt; r++) {
			const char *a = env.rcpt[r].address;

			FUZZ_CHECK(fuzz_printable(a, strlen(a)) && strchr(a, '\t') == NULL,
			    "unprintable recipient in %s", ids[i]);
			FUZZ_CHECK(!outsider || strcmp(a, "someone@remote.example") == 0,
			    "OPEN RELAY: an outsider queued mail for <%s>", a);
		}
		queue_env_free(&env);
	}
	queue_ids_free(ids, n);
}

static void cleanup(const struct fuzz_env *e)
{
	char q[700];

	fuzz_rm_tree(e->maildir_root, 0);
	(void)str_format(q, sizeof q, "%s/queue", e->state_dir);
	fuzz_rm_tree(q, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_env *e;
	static struct buf out = BUF_INIT;
	struct session_ctx ctx;
	size_t total, plain;
	int outsider = 0, tls;

	if (e == NULL)
		e = fuzz_env_get();
	if (size < 1)
		return 0;
	tls = data[0] & 4;
	switch (data[0] & 3) {
	case 0:
		fuzz_ctx_init(&ctx, e, SERVICE_SMTP, "203.0.113.5", CLIENT_OUTSIDE, 0, tls);
		outsider = 1;
		break;
	case 1:
		fuzz_ctx_init(&ctx, e, SERVICE_SMTP, "192.0.2.10", CLIENT_CUSTOMER, 0, tls);
		break;
	case 2:
		fuzz_ctx_init(&ctx, e, SERVICE_SUBMISSION, "198.51.100.25", CLIENT_OUTSIDE,
		    1, tls);
		outsider = 1;	/* it must AUTH first, like anyone from outside */
		break;
	default:
		fuzz_ctx_init(&ctx, e, SERVICE_SMTP, "127.0.0.1", CLIENT_TRUSTED, 0, tls);
		break;
	}
	FUZZ_CHECK(fuzz_session_run(&ctx, smtp_session_run, data + 1, size - 1, &out,
	    &total) == 0, "smtp_session_run did not return 0");
	FUZZ_CHECK(out.len >= 4 && memcmp(out.s, "220 ", 4) == 0, "no greeting");
	/* RFC 3207 §4.2: nothing pipelined behind STARTTLS is answered. */
	plain = fuzz_check_tls_last(&out, "220 2.0.0 Ready to start TLS", "SMTP");
	if (plain == out.len)
		plain = fuzz_check_tls_last(&out, "220 Ready to start TLS", "SMTP");
	out.len = plain;
	fuzz_check_crlf(&out, "SMTP");
	check_replies(&out);
	check_maildirs(e);
	check_queue(e, outsider && !authenticated(&out));
	cleanup(e);
	return 0;
}
