/*
 * milter_client.c: filter/milter.c from the command line, for
 * tests/interop/milter_wire.py: one SMTP session's worth of milter calls
 * through the chain (connect, HELO, then for each message MAIL, two RCPTs,
 * DATA, the header, the body, end of message), printing each verdict and,
 * at the end of each message, the header edits and the edited message.
 *
 *   milter_client [-m MESSAGES] [-b BODY_BYTES] [-t TIMEOUT] [-a] ADDRESS...
 *       -a: on_error "accept" (default "tempfail") for every filter
 *
 * Output, one line each: "STAGE ACTION [filter=NAME] [reply=TEXT]
 * [quarantine=REASON] [why=TEXT]", "edit OP INDEX NAME VALUE", then
 * "message:" and the header as it would be stored, and "end". The log
 * lines of filter/milter.c go to stderr.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "milter.h"

static const char header[] =
	"From: Sender <sender@example.net>\n"
	"To: a@example.test, b@example.test\n"
	"Subject: milter test\n"
	"X-Folded: first\n\tsecond\n"
	"Subject: second subject\n";

static const char *action_name(enum milter_action a)
{
	static const char *names[] = { "continue", "accept", "reject",
		"tempfail", "discard", "reply", "error" };

	return names[a];
}

/* What a value looks like on one line of output. */
static void put_text(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\n')
			fputs("\\n", stdout);
		else if (*s == '\r')
			fputs("\\r", stdout);
		else if (*s == '\t')
			fputs("\\t", stdout);
		else
			putchar(*s);
	}
}

static void show(const char *stage, const struct milter_verdict *v)
{
	printf("%s %s", stage, action_name(v->action));
	if (v->filter != NULL && v->filter[0] != '\0' &&
	    v->action != MILTER_CONTINUE)
		printf(" filter=%s", v->filter);
	if (v->action == MILTER_REPLY) {
		fputs(" reply=", stdout);
		put_text(v->reply);
	}
	if (v->quarantine) {
		fputs(" quarantine=", stdout);
		put_text(v->quarantine_reason);
	}
	if (v->why[0] != '\0') {
		fputs(" why=", stdout);
		put_text(v->why);
	}
	putchar('\n');
	fflush(stdout);
}

/* A stage refused the message when it says anything but continue/accept. */
static int stops(const struct milter_verdict *v)
{
	return v->action != MILTER_CONTINUE && v->action != MILTER_ACCEPT;
}

static void message(struct milter_chain *c, int k, size_t body_bytes)
{
	static const char *mail_args[] = { "SIZE=1000", "BODY=8BITMIME", NULL };
	struct milter_verdict v;
	struct milter_edits edits = { NULL, 0 };
	struct buf msg = BUF_INIT, out = BUF_INIT;
	char id[32];
	size_t i, hlen;

	milter_chain_mail(c, "sender@example.net", mail_args, k == 1 ? "alice" : "",
	    &v);
	show("mail", &v);
	if (stops(&v))
		goto done;
	snprintf(id, sizeof id, "QID%d", k);
	milter_chain_set_queue_id(c, id);
	milter_chain_rcpt(c, "a@example.test", NULL, &v);
	show("rcpt", &v);
	milter_chain_rcpt(c, "b@example.test", NULL, &v);
	show("rcpt", &v);
	if (v.action == MILTER_TEMPFAIL || v.action == MILTER_ERROR)
		goto done;
	milter_chain_data(c, &v);
	show("data", &v);
	if (stops(&v))
		goto done;
	buf_appends(&msg, header);
	hlen = msg.len;
	buf_appends(&msg, "\nHello.\r\nA line with CRLF above, LF here.\n");
	for (i = 0; i < body_bytes; i++)
		buf_appendc(&msg, i % 80 == 79 ? '\n' : (char)('a' + i % 26));
	buf_printf(&msg, "message %d ends\n", k);
	milter_chain_headers(c, msg.s, hlen, &v);
	show("headers", &v);
	if (stops(&v))
		goto done;
	/* The body in two pieces, as a DATA reader would hand it over. */
	milter_chain_body(c, msg.s + hlen + 1, (msg.len - hlen - 1) / 2, &v);
	if (!stops(&v)) {
		size_t first = (msg.len - hlen - 1) / 2;

		milter_chain_body(c, msg.s + hlen + 1 + first,
		    msg.len - hlen - 1 - first, &v);
	}
	show("body", &v);
	milter_chain_eom(c, &v, &edits);
	show("eom", &v);
	for (i = 0; i < edits.n; i++) {
		static const char *ops[] = { "add", "insert", "change" };

		printf("edit %s %u %s ", ops[edits.v[i].op], edits.v[i].index,
		    edits.v[i].name);
		put_text(edits.v[i].value);
		putchar('\n');
	}
	if (!stops(&v)) {
		const char *end;

		milter_edits_apply(&edits, msg.s, msg.len, &out);
		end = strstr(out.s, "\n\n");
		/* The header as it would be stored; the body is the filter's to check. */
		printf("message:\n%.*s", end != NULL ? (int)(end - out.s) + 1 :
		    (int)out.len, out.s);
		printf("body_bytes %zu\n", msg.len - hlen - 1);
	}
done:
	milter_chain_abort(c);
	milter_edits_free(&edits);
	buf_free(&msg);
	buf_free(&out);
}

int main(int argc, char **argv)
{
	struct milter_conf *confs;
	struct milter_conn conn;
	struct milter_chain *c;
	struct milter_verdict v;
	int opt, messages = 2, timeout = 5, accept = 0, i, n;
	size_t body_bytes = 0;

	while ((opt = getopt(argc, argv, "m:b:t:a")) != -1) {
		switch (opt) {
		case 'm': messages = atoi(optarg); break;
		case 'b': body_bytes = (size_t)strtoul(optarg, NULL, 10); break;
		case 't': timeout = atoi(optarg); break;
		case 'a': accept = 1; break;
		default:
			fprintf(stderr, "usage: milter_client [-m N] [-b BYTES] "
			    "[-t SECONDS] [-a] ADDRESS...\n");
			return 2;
		}
	}
	/* filter/milter.c's log lines go to stderr, for the test to read. */
	log_open("milter_client", 1);
	n = argc - optind;
	if (n < 1)
		return 2;
	confs = xcalloc((size_t)n, sizeof *confs);
	for (i = 0; i < n; i++) {
		confs[i].address = argv[optind + i];
		confs[i].name = n == 1 ? "f1" : i == 0 ? "f1" : i == 1 ? "f2" : "fN";
		confs[i].timeout = timeout;
		confs[i].on_error = accept ? MILTER_ON_ERROR_ACCEPT :
		    MILTER_ON_ERROR_TEMPFAIL;
	}
	memset(&conn, 0, sizeof conn);
	conn.hostname = "mx.example.test";
	conn.daemon_name = "smtp";
	conn.client_addr = "192.0.2.7";
	conn.client_port = 40000;
	conn.client_family = AF_INET;
	conn.client_name = "client.example.net";

	c = milter_chain_open(confs, (size_t)n, &conn, &v);
	show("open", &v);
	if (!stops(&v)) {
		milter_chain_helo(c, "client.example.net", &v);
		show("helo", &v);
	}
	for (i = 1; i <= messages && !stops(&v); i++)
		message(c, i, body_bytes);
	milter_chain_close(c);
	free(confs);
	puts("end");
	return 0;
}
