/*
 * fuzz_pop3_command.c: libFuzzer target for the POP3 session
 * (pop3d/pop3_session.c; RFC 1939, RFC 2449, RFC 5034): its command
 * parser and every handler, in AUTHORIZATION and TRANSACTION, over a real
 * session on a socketpair (fuzz_session.c). Byte 0 picks the client: bit
 * 0 an outsider (no password in the clear) rather than a customer, bit 1
 * STLS offered; the rest is what the client sends, then EOF. alice@example.net
 * (password "fuzzpass") has a Maildir of awkward messages, put back as it
 * was after every run so that each input sees the same mailbox.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fuzz_session.h"
#include "fuzz_util.h"
#include "maildir.h"
#include "pop3.h"
#include "pop3_replies.h"

struct seed_msg {
	const char *dir;	/* "new" or "cur" */
	const char *base;	/* name without ,S=,W= (NULL: name as is) */
	const char *name;
	const char *text;
};

static const struct seed_msg seed_msgs[] = {
	{ "new", "1700000000.M100P1Q1.fuzz", NULL,
	  "Subject: one\n\nHello\n.dot line\n..two dots\n.\nlast\n" },
	{ "new", "1700000001.M200P1Q2.fuzz", NULL,
	  "Subject: two\r\nX: y\r\n\r\nCRLF body\r\n.\r\nafter a lone dot\r\n" },
	{ "new", "1700000002.M300P1Q3.fuzz", NULL,
	  "Subject: three\n\nno newline at the end, a CR\r" },
	{ "new", "1700000003.M400P1Q4.fuzz", NULL, "\n" },
	{ "new", NULL, "1600000000.foreign.example", "From: x\n\nforeign MDA, no sizes\n" },
	{ "cur", "1600000001.M5P5Q5.old", ":2,S", "Subject: seen\n\n1\n2\n3\n4\n5\n6\n7\n8\n" },
	{ "new", NULL, "notamessage", "junk\n" },
	{ "new", NULL, ".hidden", "junk\n" },
};
#define NSEEDS (sizeof seed_msgs / sizeof seed_msgs[0])

static char seed_path[NSEEDS][1024];
static char alice[1024];

static size_t w_size(const char *s, size_t n)
{
	size_t w = n;

	for (size_t i = 0; i < n; i++)
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			w++;
	return n > 0 && s[n - 1] != '\n' ? w + 2 : w;
}

/* Has a message of the mailbox gone (or moved)? */
static int mailbox_changed(void)
{
	for (size_t i = 0; i < NSEEDS; i++)
		if (access(seed_path[i], F_OK) != 0)
			return 1;
	return 0;
}

/* Put the mailbox back exactly as it was (DELE + QUIT removes messages). */
static void mailbox_restore(int force)
{
	size_t i;

	if (!force && !mailbox_changed())
		return;
	for (i = 0; i < 3; i++) {
		static const char *const sub[] = { "new", "cur", "tmp" };
		char d[1100];

		(void)str_format(d, sizeof d, "%s/%s", alice, sub[i]);
		fuzz_rm_tree(d, 0);
	}
	for (i = 0; i < NSEEDS; i++)
		fuzz_write_file(seed_path[i], seed_msgs[i].text, strlen(seed_msgs[i].text));
}

static void mailbox_setup(const struct fuzz_env *e)
{
	char name[600];

	if (maildir_path_for(e->maildir_root, "alice@example.net", alice, sizeof alice) != 0 ||
	    maildir_make(alice, (uid_t)-1, (gid_t)-1) != 0)
		abort();
	for (size_t i = 0; i < NSEEDS; i++) {
		const struct seed_msg *m = &seed_msgs[i];
		size_t n = strlen(m->text);

		if (m->base != NULL)
			(void)str_format(name, sizeof name, "%s,S=%zu,W=%zu%s", m->base, n,
			    w_size(m->text, n), m->name ? m->name : "");
		else
			(void)str_copy(name, sizeof name, m->name);
		if (str_format(seed_path[i], sizeof seed_path[i], "%s/%s/%s", alice,
		    m->dir, name) != 0)
			abort();
	}
	mailbox_restore(1);
}

/* Is line one of the reply lines in out? */
static int contains_line(const struct buf *out, const char *line)
{
	size_t n = strlen(line);

	for (size_t i = 0; i + n + 2 <= out->len; i++)
		if ((i == 0 || out->s[i - 1] == '\n') && memcmp(out->s + i, line, n) == 0 &&
		    out->s[i + n] == '\r')
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_env *e;
	static struct buf out = BUF_INIT;
	struct session_ctx ctx;
	size_t total;

	if (e == NULL) {
		e = fuzz_env_get();
		mailbox_setup(e);
	}
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_ctx_init(&ctx, e, SERVICE_POP3, "203.0.113.5", CLIENT_OUTSIDE, 0,
		    data[0] & 2);
	else
		fuzz_ctx_init(&ctx, e, SERVICE_POP3, "192.0.2.10", CLIENT_CUSTOMER, 0,
		    data[0] & 2);
	FUZZ_CHECK(fuzz_session_run(&ctx, pop3_session_run, data + 1, size - 1, &out,
	    &total) == 0, "pop3_session_run did not return 0");
	FUZZ_CHECK(out.len >= 4 && memcmp(out.s, "+OK ", 4) == 0, "no greeting");
	/* RFC 2595 §4: nothing pipelined behind STLS is answered in the clear. */
	out.len = fuzz_check_tls_last(&out, POP3_STLS, "POP3");
	fuzz_check_crlf(&out, "POP3");
	/* RFC 1939 §6: messages go only in UPDATE, after QUIT. */
	if (mailbox_changed())
		FUZZ_CHECK(contains_line(&out, POP3_BYE) || contains_line(&out, POP3_ERR_UPDATE),
		    "messages removed without QUIT");
	mailbox_restore(0);
	return 0;
}
