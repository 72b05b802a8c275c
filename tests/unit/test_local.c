/*
 * test_local.c: the one delivery function (local/deliver.h): one and
 * several local recipients, local and remote together, remote only, a
 * Maildir that cannot be made (a file where it should be), a header block
 * set after a body spooled past DELIVER_MEMORY_MAX, an abort. Every check
 * is on the exact bytes and names on disk: the Maildir files (Return-Path,
 * then the header block, then the body; S= and W= in the name), the queue's
 * data file (no Return-Path) and its envelope (docs/PROTOCOL.md).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "cutap.h"
#include "deliver.h"
#include "maildir.h"
#include "queue.h"
#include "recipient.h"
#include "srs.h"
#include "users.h"

static char root[PATH_MAX / 4], state[PATH_MAX / 4];
static unsigned seq;
static struct conf conf;

/* A fresh maildir_root and state_dir for each test. */
static void fresh(void)
{
	seq++;
	snprintf(root, sizeof root, "%s/mail%u", cutap_tmpdir(), seq);
	snprintf(state, sizeof state, "%s/state%u", cutap_tmpdir(), seq);
	if (mkdir(root, 0700) != 0 || mkdir(state, 0700) != 0)
		CU_FAIL("mkdir");
	memset(&conf, 0, sizeof conf);
	conf.maildir_root = root;
	conf.state_dir = state;
	conf.hostname = "mx.example.test";
}

static void add_local(struct rcpt_set *set, const char *address)
{
	set->local = xreallocarray(set->local, set->nlocal + 1, sizeof *set->local);
	set->local[set->nlocal++] = xstrdup(address);
}

/* The file names in dir (dot files aside), sorted; their number. */
static size_t names(const char *dir, char out[][MAILDIR_NAME_MAX + 64], size_t max)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && n < max)
			snprintf(out[n++], MAILDIR_NAME_MAX + 64, "%s", de->d_name);
	closedir(d);
	return n;
}

static int slurp(const char *path, struct buf *b)
{
	char chunk[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	buf_reset(b);
	if (fd < 0)
		return -1;
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		buf_append(b, chunk, (size_t)n);
	close(fd);
	return n < 0 ? -1 : 0;
}

/* W= the long way: an LF without CR counts 2, a last line without LF 2 more. */
static size_t crlf_size(const char *p, size_t n)
{
	size_t w = n;

	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			w++;
	if (n > 0 && p[n - 1] != '\n')
		w += 2;
	return w;
}

/*
 * The one message in <maildir>/new: its bytes equal want, its name starts
 * with prefix (when not NULL) and carries S= and W= of those bytes.
 */
static void check_maildir(const char *address, const struct buf *want, const char *prefix,
    ino_t *ino)
{
	char dir[PATH_MAX], path[PATH_MAX * 2], sizes[96];
	char found[4][MAILDIR_NAME_MAX + 64];
	struct buf got = BUF_INIT;
	struct stat st;
	size_t n;

	CU_ASSERT_EQUAL_FATAL(maildir_path_for(root, address, dir, sizeof dir), 0);
	snprintf(path, sizeof path, "%s/tmp", dir);
	CU_ASSERT_EQUAL(names(path, found, 4), 0);
	snprintf(path, sizeof path, "%s/new", dir);
	n = names(path, found, 4);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	if (prefix != NULL) {
		CU_ASSERT_EQUAL(strncmp(found[0], prefix, strlen(prefix)), 0);
		CU_ASSERT_EQUAL(found[0][strlen(prefix)], '.');
	}
	snprintf(sizes, sizeof sizes, ",S=%zu,W=%zu", want->len, crlf_size(want->s, want->len));
	CU_ASSERT_PTR_NOT_NULL(strstr(found[0], sizes));
	snprintf(path, sizeof path, "%s/new/%s", dir, found[0]);
	CU_ASSERT_EQUAL_FATAL(slurp(path, &got), 0);
	CU_ASSERT_EQUAL(got.len, want->len);
	CU_ASSERT(got.len == want->len && memcmp(got.s, want->s, got.len) == 0);
	if (ino != NULL && stat(path, &st) == 0)
		*ino = st.st_ino;
	buf_free(&got);
}

/* The queue holds exactly one message, id qid, with these bytes and envelope. */
static void check_queue(const char *qid, const struct buf *want, const char *sender,
    const char *client, const char *const *rcpts, size_t nrcpt)
{
	char dir[PATH_MAX], path[PATH_MAX * 2], found[4][MAILDIR_NAME_MAX + 64];
	struct buf got = BUF_INIT, env = BUF_INIT;
	struct queue_env e;
	size_t i;

	snprintf(dir, sizeof dir, "%s/queue/new", state);
	CU_ASSERT_EQUAL_FATAL(names(dir, found, 4), 1);
	CU_ASSERT_EQUAL(strncmp(found[0], qid, strlen(qid)), 0);
	CU_ASSERT_EQUAL(found[0][strlen(qid)], '.');
	snprintf(path, sizeof path, "%s/%s", dir, found[0]);
	CU_ASSERT_EQUAL_FATAL(slurp(path, &got), 0);
	CU_ASSERT(got.len == want->len && memcmp(got.s, want->s, got.len) == 0);
	snprintf(dir, sizeof dir, "%s/queue/tmp", state);
	CU_ASSERT_EQUAL(names(dir, found + 1, 3), 0);

	/* The envelope, to the byte, as docs/PROTOCOL.md has it. */
	CU_ASSERT_EQUAL_FATAL(queue_env_load(state, qid, &e), 0);
	buf_printf(&env, "ispmaild-queue 1\narrival %lld\nsender %s\ndata %s\nclient %s\n",
	    (long long)e.arrival, sender, found[0], client);
	for (i = 0; i < nrcpt; i++)
		buf_printf(&env, "rcpt pending 0 0 %s\t\n", rcpts[i]);
	snprintf(path, sizeof path, "%s/queue/env/%s", state, qid);
	CU_ASSERT_EQUAL(slurp(path, &got), 0);
	CU_ASSERT(got.len == env.len && memcmp(got.s, env.s, got.len) == 0);
	CU_ASSERT_EQUAL(e.size, want->len);
	queue_env_free(&e);
	buf_free(&got);
	buf_free(&env);
}

static int queue_count(void)
{
	char dir[PATH_MAX], found[4][MAILDIR_NAME_MAX + 64];

	snprintf(dir, sizeof dir, "%s/queue/env", state);
	return (int)names(dir, found, 4);
}

static const char BODY[] = "From: <a@example.test>\nSubject: hello\n\nline one\n.dot\n";
static const char HEADER[] = "Received: from client ([192.0.2.7])\n\tby mx (ispmaild) with ESMTP id X; date\n";

/* want = [Return-Path] + header + body */
static void expected(struct buf *want, const char *sender, const char *header,
    const char *body, size_t bodylen)
{
	buf_reset(want);
	if (sender != NULL)
		buf_printf(want, "Return-Path: <%s>\n", sender);
	buf_appends(want, header);
	buf_append(want, body, bodylen);
}

static void test_one_local(void)
{
	struct rcpt_set set = { 0 };
	struct delivery d;
	struct deliver_result res;
	struct buf header = BUF_INIT, want = BUF_INIT;

	fresh();
	add_local(&set, "alice@example.test");
	CU_ASSERT_EQUAL_FATAL(deliver_open(&d, &conf, &set, "s@remote.example",
	    "192.0.2.7 helo"), 0);
	CU_ASSERT(queue_id_valid(d.id));
	CU_ASSERT_EQUAL(deliver_body_write(&d, BODY, sizeof BODY - 1), 0);
	CU_ASSERT_EQUAL(deliver_body_size(&d), sizeof BODY - 1);
	buf_appends(&header, HEADER);
	CU_ASSERT_EQUAL(deliver_commit(&d, &header, &res), 0);
	CU_ASSERT_EQUAL(res.stage, DELIVER_OK);
	CU_ASSERT_EQUAL(res.nlocal_done, 1);
	CU_ASSERT_STRING_EQUAL(res.qid, "");
	expected(&want, "s@remote.example", HEADER, BODY, sizeof BODY - 1);
	CU_ASSERT_EQUAL(res.size, want.len);
	/* The message's id is its Maildir file's unique part. */
	check_maildir("alice@example.test", &want, d.id, NULL);
	CU_ASSERT_EQUAL(queue_count(), 0);
	buf_free(&header);
	buf_free(&want);
	rcpt_set_free(&set);
}

static void test_several_local(void)
{
	static const char *const who[] = { "alice@example.test", "bob@example.test",
		"carol@example.org" };
	struct rcpt_set set = { 0 };
	struct delivery d;
	struct deliver_result res;
	struct buf header = BUF_INIT, want = BUF_INIT;
	ino_t ino[3] = { 0, 0, 0 };

	fresh();
	for (size_t i = 0; i < 3; i++)
		add_local(&set, who[i]);
	CU_ASSERT_EQUAL_FATAL(deliver_open(&d, &conf, &set, "", "local bounce"), 0);
	CU_ASSERT_EQUAL(deliver_body_write(&d, BODY, sizeof BODY - 1), 0);
	buf_appends(&header, HEADER);
	CU_ASSERT_EQUAL(deliver_commit(&d, &header, &res), 0);
	CU_ASSERT_EQUAL(res.nlocal_done, 3);
	/* The null sender: Return-Path: <>. */
	expected(&want, "", HEADER, BODY, sizeof BODY - 1);
	for (size_t i = 0; i < 3; i++)
		check_maildir(who[i], &want, i == 0 ? d.id : NULL, &ino[i]);
	/* Written once: the others are links of the first. */
	CU_ASSERT(ino[0] != 0 && ino[0] == ino[1] && ino[1] == ino[2]);
	buf_free(&header);
	buf_free(&want);
	rcpt_set_free(&set);
}

static void test_local_and_remote(void)
{
	static const char *const far[] = { "x@remote.example", "y@other.example" };
	struct rcpt_set set = { 0 };
	struct delivery d;
	struct deliver_result res;
	struct buf header = BUF_INIT, want = BUF_INIT;

	fresh();
	add_local(&set, "alice@example.test");
	rcpt_add_remote(&set, far[0]);
	rcpt_add_remote(&set, far[1]);
	CU_ASSERT_EQUAL_FATAL(deliver_open(&d, &conf, &set, "s@example.test",
	    "192.0.2.7 helo.example"), 0);
	CU_ASSERT_EQUAL(deliver_body_write(&d, BODY, 10), 0);
	CU_ASSERT_EQUAL(deliver_body_write(&d, BODY + 10, sizeof BODY - 11), 0);
	buf_appends(&header, HEADER);
	CU_ASSERT_EQUAL(deliver_commit(&d, &header, &res), 0);
	CU_ASSERT_EQUAL(res.stage, DELIVER_OK);
	CU_ASSERT_EQUAL(res.nlocal_done, 1);
	/* The queue's id is its own, not the Maildir file's. */
	CU_ASSERT(queue_id_valid(res.qid));
	CU_ASSERT_STRING_NOT_EQUAL(res.qid, d.id);
	expected(&want, "s@example.test", HEADER, BODY, sizeof BODY - 1);
	check_maildir("alice@example.test", &want, d.id, NULL);
	expected(&want, NULL, HEADER, BODY, sizeof BODY - 1);
	CU_ASSERT_EQUAL(res.queue_size, want.len);
	check_queue(res.qid, &want, "s@example.test", "192.0.2.7 helo.example", far, 2);
	buf_free(&header);
	buf_free(&want);
	rcpt_set_free(&set);
}

static void test_remote_only(void)
{
	static const char *const far[] = { "x@remote.example" };
	struct rcpt_set set = { 0 };
	struct delivery d;
	struct deliver_result res;
	struct buf header = BUF_INIT, want = BUF_INIT;

	fresh();
	rcpt_add_remote(&set, far[0]);
	CU_ASSERT_EQUAL_FATAL(deliver_open(&d, &conf, &set, "", "local bounce"), 0);
	CU_ASSERT_EQUAL(deliver_body_write(&d, BODY, sizeof BODY - 1), 0);
	CU_ASSERT_EQUAL(deliver_commit(&d, &header, &res), 0);
	/* Queue only: the message's id is the queue id (the Received: line names it). */
	CU_ASSERT_STRING_EQUAL(res.qid, d.id);
	expected(&want, NULL, "", BODY, sizeof BODY - 1);
	CU_ASSERT_EQUAL(res.size, want.len);
	check_queue(res.qid, &want, "", "local bounce", far, 1);
	buf_free(&want);
	rcpt_set_free(&set);
}

/* A file where a Maildir should be: the ones before it keep their copy. */
static void test_failing_maildir(void)
{
	struct rcpt_set set = { 0 };
	struct delivery d;
	struct deliver_result res;
	struct buf header = BUF_INIT, want = BUF_INIT;
	char path[PATH_MAX * 2], dom[PATH_MAX];
	int fd;

	fresh();
	add_local(&set, "alice@example.test");
	add_local(&set, "bob@example.test");
	add_local(&set, "carol@example.test");
	rcpt_add_remote(&set, "x@remote.example");
	snprintf(dom, sizeof dom, "%s/example.test", root);
	CU_ASSERT_EQUAL_FATAL(mkdir(dom, 0700), 0);
	snprintf(path, sizeof path, "%s/bob", dom);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);

	CU_ASSERT_EQUAL_FATAL(deliver_open(&d, &conf, &set, "s@example.test", "c"), 0);
	CU_ASSERT_EQUAL(deliver_body_write(&d, BODY, sizeof BODY - 1), 0);
	buf_appends(&header, HEADER);
	errno = 0;
	CU_ASSERT_EQUAL(deliver_commit(&d, &header, &res), -1);
	CU_ASSERT_EQUAL(res.stage, DELIVER_FAIL_LOCAL);
	CU_ASSERT_EQUAL(res.nlocal_done, 1);
	CU_ASSERT_EQUAL(res.error, ENOTDIR);
	CU_ASSERT_EQUAL(errno, ENOTDIR);
	CU_ASSERT_STRING_EQUAL(res.qid, "");
	expected(&want, "s@example.test", HEADER, BODY, sizeof BODY - 1);
	check_maildir("alice@example.test", &want, d.id, NULL);
	CU_ASSERT_EQUAL(queue_count(), 0);

	/* The same file as the first recipient: refused before any body. */
	rcpt_set_free(&set);
	add_local(&set, "bob@example.test");
	errno = 0;
	CU_ASSERT_EQUAL(deliver_open(&d, &conf, &set, "s@example.test", "c"), -1);
	CU_ASSERT_EQUAL(errno, ENOTDIR);
	buf_free(&header);
	buf_free(&want);
	rcpt_set_free(&set);
}

/*
 * A body past DELIVER_MEMORY_MAX (spooled), the header block made only
 * after all of it was taken; a CR at the end of the part in memory and its
 * LF at the start of the spool must still count as one CRLF in W=.
 */
static void test_header_after_spooled_body(void)
{
	static const char *const far[] = { "x@remote.example" };
	struct rcpt_set set = { 0 };
	struct delivery d;
	struct deliver_result res;
	struct buf body = BUF_INIT, header = BUF_INIT, want = BUF_INIT;
	char dir[PATH_MAX], found[4][MAILDIR_NAME_MAX + 64];
	size_t off;

	fresh();
	add_local(&set, "alice@example.test");
	add_local(&set, "bob@example.test");
	rcpt_add_remote(&set, far[0]);
	buf_appends(&body, "Subject: big\n\n");
	while (body.len < DELIVER_MEMORY_MAX - 1)
		buf_appends(&body, "0123456789 a line of a big message, LF ended\n");
	body.len = DELIVER_MEMORY_MAX - 1;
	buf_appendc(&body, '\r');		/* the last byte held in memory */
	buf_appends(&body, "\nthe spool starts here\r\n");
	for (int i = 0; i < 20000; i++)
		buf_appends(&body, "and goes on for a while\n");
	buf_appends(&body, "no LF at the end");

	CU_ASSERT_EQUAL_FATAL(deliver_open(&d, &conf, &set, "s@example.test", "c"), 0);
	for (off = 0; off < body.len; off += 65536) {
		size_t n = body.len - off < 65536 ? body.len - off : 65536;

		CU_ASSERT_EQUAL_FATAL(deliver_body_write(&d, body.s + off, n), 0);
	}
	CU_ASSERT(d.body.spool >= 0);
	CU_ASSERT_EQUAL(deliver_body_size(&d), body.len);
	/* The spool is nameless: nothing in tmp/ but the first copy. */
	CU_ASSERT_EQUAL_FATAL(maildir_path_for(root, "alice@example.test", dir, sizeof dir), 0);
	strncat(dir, "/tmp", sizeof dir - strlen(dir) - 1);
	CU_ASSERT_EQUAL(names(dir, found, 4), 1);

	/* Only now the header block. */
	buf_printf(&header, "Received: decided after %zu bytes\n", deliver_body_size(&d));
	buf_appends(&header, "X-Signature: v=1; b=abc\n");
	CU_ASSERT_EQUAL(deliver_commit(&d, &header, &res), 0);
	CU_ASSERT_EQUAL(res.stage, DELIVER_OK);
	expected(&want, "s@example.test", header.s, body.s, 0);
	buf_append(&want, body.s, body.len);
	check_maildir("alice@example.test", &want, d.id, NULL);
	check_maildir("bob@example.test", &want, NULL, NULL);
	buf_reset(&want);
	buf_append(&want, header.s, header.len);
	buf_append(&want, body.s, body.len);
	check_queue(res.qid, &want, "s@example.test", "c", far, 1);
	buf_free(&body);
	buf_free(&header);
	buf_free(&want);
	rcpt_set_free(&set);
}

/* Given up after part of the body (a refused or broken DATA): no trace. */
static void test_abort(void)
{
	struct rcpt_set set = { 0 };
	struct delivery d;
	char dir[PATH_MAX], sub[PATH_MAX + 8], found[4][MAILDIR_NAME_MAX + 64];
	struct buf big = BUF_INIT;

	fresh();
	add_local(&set, "alice@example.test");
	CU_ASSERT_EQUAL_FATAL(deliver_open(&d, &conf, &set, "s@example.test", "c"), 0);
	while (big.len < DELIVER_MEMORY_MAX + 4096)
		buf_appends(&big, "a line that is spooled in the end\n");
	CU_ASSERT_EQUAL(deliver_body_write(&d, big.s, big.len), 0);
	deliver_abort(&d);
	CU_ASSERT_EQUAL_FATAL(maildir_path_for(root, "alice@example.test", dir, sizeof dir), 0);
	snprintf(sub, sizeof sub, "%s/tmp", dir);
	CU_ASSERT_EQUAL(names(sub, found, 4), 0);
	snprintf(sub, sizeof sub, "%s/new", dir);
	CU_ASSERT_EQUAL(names(sub, found, 4), 0);
	buf_free(&big);
	rcpt_set_free(&set);
}

/* A fixed secret for the SRS tests. */
static void test_secret(struct srs_secret *sec)
{
	memset(sec, 0, sizeof *sec);
	memset(sec->key, 0x5a, SRS_SECRET_LEN);
	sec->len = SRS_SECRET_LEN;
}

/*
 * The reverse step at RCPT (rcpt_srs_reverse): ours only in the SRS
 * domain (the hostname, or srs.domain), with an SRS0=/SRS1= local part;
 * a good one gives the original sender, a changed hash or an old stamp
 * is INVALID, anything else NONE; nothing without a secret.
 */
static void test_srs_reverse(void)
{
	struct srs_secret sec;
	char addr[SRS_ADDRESS_MAX + 1], orig[SRS_ADDRESS_MAX + 1], bad[SRS_ADDRESS_MAX + 1];
	enum srs_result why;
	time_t now = 1764900000;

	fresh();
	test_secret(&sec);
	CU_ASSERT_STRING_EQUAL(rcpt_srs_domain(&conf), "mx.example.test");
	CU_ASSERT_EQUAL_FATAL(srs_forward(sec.key, sec.len, "mx.example.test",
	    "bob@far.example", now, addr, sizeof addr), SRS_OK);
	CU_ASSERT_EQUAL(rcpt_srs_reverse(&conf, &sec, addr, now, orig, sizeof orig, &why),
	    RCPT_SRS_VALID);
	CU_ASSERT_STRING_EQUAL(orig, "bob@far.example");
	CU_ASSERT_EQUAL(rcpt_srs_reverse(&conf, NULL, addr, now, orig, sizeof orig, &why),
	    RCPT_SRS_NONE);
	CU_ASSERT_EQUAL(rcpt_srs_reverse(&conf, &sec, addr, now + 30 * 86400, orig,
	    sizeof orig, &why), RCPT_SRS_INVALID);
	CU_ASSERT_EQUAL(why, SRS_EXPIRED);
	CU_ASSERT_STRING_EQUAL(orig, "");
	snprintf(bad, sizeof bad, "%s", addr);
	bad[5] = bad[5] == 'A' ? 'B' : 'A';
	CU_ASSERT_EQUAL(rcpt_srs_reverse(&conf, &sec, bad, now, orig, sizeof orig, &why),
	    RCPT_SRS_INVALID);
	CU_ASSERT_EQUAL(why, SRS_BAD_HASH);
	CU_ASSERT_EQUAL(rcpt_srs_reverse(&conf, &sec, "alice@mx.example.test", now, orig,
	    sizeof orig, &why), RCPT_SRS_NONE);
	/* The same local part at another domain is not ours. */
	snprintf(bad, sizeof bad, "%.*s@other.example", (int)(strrchr(addr, '@') - addr), addr);
	CU_ASSERT_EQUAL(rcpt_srs_reverse(&conf, &sec, bad, now, orig, sizeof orig, &why),
	    RCPT_SRS_NONE);
	/* srs.domain, when set, is the SRS domain; the hostname is not. */
	conf.srs.domain = "srs.example.test";
	CU_ASSERT_EQUAL(rcpt_srs_reverse(&conf, &sec, addr, now, orig, sizeof orig, &why),
	    RCPT_SRS_NONE);
	conf.srs.domain = NULL;
}

/*
 * Resolution marks what an alias forwards; a direct recipient wins over
 * the same address forwarded. rcpt_forward_prepare rewrites the sender
 * and keeps the outside client's no-bounce; deliver writes two envelopes,
 * each with its sender, the forwarded one marked nobounce.
 */
static void test_forward_two_envelopes(void)
{
	static char *domains[] = { "example.test" };
	struct srs_secret sec;
	struct rcpt_set set = { 0 };
	struct aliases al;
	struct delivery d;
	struct deliver_result res;
	struct queue_env a, f;
	struct buf header = BUF_INIT;
	char path[PATH_MAX], err[256], orig[SRS_ADDRESS_MAX + 1];
	enum srs_result why;
	FILE *fp;

	fresh();
	test_secret(&sec);
	conf.domains = domains;
	conf.ndomains = 1;
	snprintf(path, sizeof path, "%s/users", state);
	fp = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	fclose(fp);
	conf.users_file = xstrdup(path);
	snprintf(path, sizeof path, "%s/aliases", state);
	fp = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	fprintf(fp, "fwd@example.test: far@remote.example, both@remote.example\n");
	fclose(fp);
	CU_ASSERT_EQUAL_FATAL(aliases_load(path, &al, err, sizeof err), 0);
	rcpt_add_remote(&set, "both@remote.example");
	CU_ASSERT_EQUAL(rcpt_resolve_local(&conf, &al, "fwd@example.test", &set), 1);
	rcpt_add_remote(&set, "direct@remote.example");
	CU_ASSERT_EQUAL_FATAL(set.nremote, 3);
	CU_ASSERT_EQUAL(rcpt_nforwarded(&set), 1);
	CU_ASSERT_EQUAL(set.forwarded[1], 1);
	rcpt_forward_prepare(&set, &conf, &sec, "victim@forged.example", 1, time(NULL));
	CU_ASSERT_PTR_NOT_NULL_FATAL(set.forward_sender);
	CU_ASSERT_EQUAL(set.forward_nobounce, 1);
	CU_ASSERT_EQUAL(rcpt_srs_reverse(&conf, &sec, set.forward_sender, time(NULL), orig,
	    sizeof orig, &why), RCPT_SRS_VALID);
	CU_ASSERT_STRING_EQUAL(orig, "victim@forged.example");

	CU_ASSERT_EQUAL_FATAL(deliver_open(&d, &conf, &set, "victim@forged.example",
	    "192.0.2.7 h"), 0);
	CU_ASSERT_EQUAL(deliver_body_write(&d, BODY, sizeof BODY - 1), 0);
	CU_ASSERT_EQUAL(deliver_commit(&d, &header, &res), 0);
	CU_ASSERT(queue_id_valid(res.qid) && queue_id_valid(res.qid_forward));
	CU_ASSERT_EQUAL_FATAL(queue_env_load(state, res.qid, &a), 0);
	CU_ASSERT_EQUAL_FATAL(queue_env_load(state, res.qid_forward, &f), 0);
	CU_ASSERT_STRING_EQUAL(a.sender, "victim@forged.example");
	CU_ASSERT_EQUAL(a.nobounce, 0);
	CU_ASSERT_EQUAL(a.nrcpt, 2);
	CU_ASSERT_STRING_EQUAL(f.sender, set.forward_sender);
	CU_ASSERT_EQUAL(f.nobounce, 1);
	CU_ASSERT_EQUAL_FATAL(f.nrcpt, 1);
	CU_ASSERT_STRING_EQUAL(f.rcpt[0].address, "far@remote.example");
	CU_ASSERT_EQUAL(f.size, a.size);
	/* Each its own data file: the workers lock the data file. */
	CU_ASSERT_STRING_NOT_EQUAL(f.data, a.data);
	{
		char pa[PATH_MAX], pf[PATH_MAX];
		struct stat sa, sf;
		struct buf ba = BUF_INIT, bf = BUF_INIT;

		snprintf(pa, sizeof pa, "%s/queue/new/%s", state, a.data);
		snprintf(pf, sizeof pf, "%s/queue/new/%s", state, f.data);
		CU_ASSERT_EQUAL_FATAL(stat(pa, &sa), 0);
		CU_ASSERT_EQUAL_FATAL(stat(pf, &sf), 0);
		CU_ASSERT(sa.st_ino != sf.st_ino);
		CU_ASSERT_EQUAL(slurp(pa, &ba), 0);
		CU_ASSERT_EQUAL(slurp(pf, &bf), 0);
		CU_ASSERT(ba.len == bf.len && memcmp(ba.s, bf.s, ba.len) == 0);
		buf_free(&ba);
		buf_free(&bf);
	}
	queue_env_free(&a);
	queue_env_free(&f);
	aliases_free(&al);
	rcpt_set_free(&set);
	free(conf.users_file);
	conf.users_file = NULL;
	conf.domains = NULL;
	conf.ndomains = 0;
}

/* Users for the forwarding tests (SPEC 12); one "address:options" per entry. */
static const char *const FWD_USERS[] = {
	"a@example.test:forward=b@example.test,keep=no",	/* a <-> b: a loop */
	"b@example.test:forward=a@example.test,keep=no",
	"c@example.test:forward=far@remote.example d@example.test",	/* keep=yes */
	"d@example.test:",
	"e@example.test:keep=no,forward=FAR2@Remote.Example",
	"f@example.test:forward=nobody@example.test,keep=no",	/* reaches nobody */
	"g@example.test:forward=g@example.test x@remote.example,keep=no",	/* itself */
	"p@example.test:forward=q@example.test,keep=no",	/* p -> q -> r -> p */
	"q@example.test:forward=r@example.test,keep=no",
	"r@example.test:forward=p@example.test,keep=no",
	"h@example.test:forward=D@Example.Test,keep=no",	/* local, any case */
};

static struct aliases fwd_al;

/* A users file (and an empty aliases file) with FWD_USERS in conf. */
static void fwd_setup(void)
{
	static char *domains[] = { "example.test" };
	char path[PATH_MAX], err[256];
	FILE *fp;

	fresh();
	conf.domains = domains;
	conf.ndomains = 1;
	snprintf(path, sizeof path, "%s/users", state);
	fp = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	for (size_t i = 0; i < sizeof FWD_USERS / sizeof FWD_USERS[0]; i++) {
		const char *colon = strchr(FWD_USERS[i], ':');

		fprintf(fp, "%.*s:%s:%s\n", (int)(colon - FWD_USERS[i]), FWD_USERS[i],
		    users_dummy_hash(), colon + 1);
	}
	fclose(fp);
	conf.users_file = xstrdup(path);
	snprintf(path, sizeof path, "%s/aliases", state);
	fp = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	fclose(fp);
	CU_ASSERT_EQUAL_FATAL(aliases_load(path, &fwd_al, err, sizeof err), 0);
}

static void fwd_teardown(void)
{
	aliases_free(&fwd_al);
	free(conf.users_file);
	conf.users_file = NULL;
	conf.domains = NULL;
	conf.ndomains = 0;
}

/* set's local (or remote) addresses joined with spaces, in order. */
static const char *joined(char **v, size_t n)
{
	static char out[1024];
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && o < sizeof out; i++)
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%s", i ? " " : "", v[i]);
	return out;
}

/* Resolve one address into a fresh set; its local and remote lists. */
static void fwd_check(const char *address, const char *local, const char *remote,
    size_t nforwarded)
{
	struct rcpt_set set = { 0 };

	CU_ASSERT_EQUAL(rcpt_resolve_local(&conf, &fwd_al, address, &set), 1);
	CU_ASSERT_STRING_EQUAL(joined(set.local, set.nlocal), local);
	CU_ASSERT_STRING_EQUAL(joined(set.remote, set.nremote), remote);
	CU_ASSERT_EQUAL(rcpt_nforwarded(&set), nforwarded);
	rcpt_set_free(&set);
}

/*
 * forward= and keep= in resolution: keep=yes keeps the user's Maildir
 * beside the destinations, keep=no does not; a remote destination is a
 * forwarded remote (SRS), a local one resolved again; a loop between two
 * or three users ends with exactly one copy, at the user that came back;
 * a forward that reaches nobody, or to itself, keeps the mail.
 */
static void test_forward_resolve(void)
{
	fwd_setup();
	fwd_check("c@example.test", "c@example.test d@example.test", "far@remote.example", 1);
	fwd_check("e@example.test", "", "FAR2@remote.example", 1);
	fwd_check("a@example.test", "a@example.test", "", 0);
	fwd_check("b@example.test", "b@example.test", "", 0);
	fwd_check("p@example.test", "p@example.test", "", 0);
	fwd_check("q@example.test", "q@example.test", "", 0);
	fwd_check("f@example.test", "f@example.test", "", 0);
	fwd_check("g@example.test", "g@example.test", "x@remote.example", 1);
	fwd_check("h@example.test", "d@example.test", "", 0);
	fwd_check("d@example.test", "d@example.test", "", 0);
	fwd_teardown();
}

/*
 * After DATA: a Delivered-To: naming a forwarding user stops its forward
 * (its remotes that nobody else named are dropped) and keeps the mail in
 * its Maildir even with keep=no; another user's forward and the client's
 * own recipient stay. rcpt_delivered_to names the forwarding users.
 */
static void test_forward_loops(void)
{
	static const char head[] = "Received: from x\nDELIVERED-TO:  <E@example.test> \n"
	    "Subject: s\n\nDelivered-To: c@example.test\n";
	struct rcpt_set set = { 0 };
	struct buf dt = BUF_INIT;

	fwd_setup();
	CU_ASSERT_EQUAL(rcpt_resolve_local(&conf, &fwd_al, "e@example.test", &set), 1);
	CU_ASSERT_EQUAL(rcpt_resolve_local(&conf, &fwd_al, "c@example.test", &set), 1);
	CU_ASSERT_EQUAL(rcpt_resolve_local(&conf, &fwd_al, "g@example.test", &set), 1);
	rcpt_add_remote(&set, "x@remote.example");	/* the client's own too */
	rcpt_delivered_to(&set, &dt);
	CU_ASSERT_STRING_EQUAL(dt.s, "Delivered-To: e@example.test\n"
	    "Delivered-To: c@example.test\n");
	buf_reset(&dt);
	/* Nothing named: nothing changes. */
	CU_ASSERT_EQUAL(rcpt_forward_loops(&set, "Subject: s\n\n", 12), 0);
	CU_ASSERT_EQUAL(set.nremote, 3);
	/* c only in the body: not a field. e and g named. */
	CU_ASSERT_EQUAL(rcpt_forward_loops(&set, head, sizeof head - 1), 1);
	CU_ASSERT_STRING_EQUAL(joined(set.local, set.nlocal),
	    "c@example.test d@example.test g@example.test e@example.test");
	CU_ASSERT_STRING_EQUAL(joined(set.remote, set.nremote),
	    "far@remote.example x@remote.example");
	CU_ASSERT_EQUAL(rcpt_nforwarded(&set), 1);
	rcpt_delivered_to(&set, &dt);
	CU_ASSERT_STRING_EQUAL(dt.s, "Delivered-To: c@example.test\n");
	buf_free(&dt);
	rcpt_set_free(&set);
	fwd_teardown();
}

/*
 * The forwarded copy in the queue carries Delivered-To: above the header
 * block; when a loop keeps the mail of a keep=no user whose every
 * recipient was remote, the first copy opened in the queue becomes its
 * Maildir's, and the queue gets nothing.
 */
static void test_forward_delivery(void)
{
	static const char looped[] = "Delivered-To: e@example.test\nSubject: again\n\nbody\n";
	struct rcpt_set set = { 0 };
	struct delivery d;
	struct deliver_result res;
	struct buf header = BUF_INIT, want = BUF_INIT;
	const char *far = "FAR2@remote.example";

	fwd_setup();
	buf_appends(&header, HEADER);
	CU_ASSERT_EQUAL(rcpt_resolve_local(&conf, &fwd_al, "e@example.test", &set), 1);
	CU_ASSERT_EQUAL_FATAL(deliver_open(&d, &conf, &set, "s@remote.example", "192.0.2.7 h"), 0);
	CU_ASSERT_EQUAL(deliver_body_write(&d, BODY, sizeof BODY - 1), 0);
	CU_ASSERT_EQUAL(deliver_commit(&d, &header, &res), 0);
	buf_reset(&want);
	buf_appends(&want, "Delivered-To: e@example.test\n");
	buf_appends(&want, HEADER);
	buf_append(&want, BODY, sizeof BODY - 1);
	check_queue(res.qid, &want, "s@remote.example", "192.0.2.7 h", &far, 1);
	rcpt_set_free(&set);
	fwd_teardown();

	fwd_setup();
	CU_ASSERT_EQUAL(rcpt_resolve_local(&conf, &fwd_al, "e@example.test", &set), 1);
	CU_ASSERT_EQUAL_FATAL(deliver_open(&d, &conf, &set, "s@remote.example", "192.0.2.7 h"), 0);
	CU_ASSERT_EQUAL(deliver_body_write(&d, looped, sizeof looped - 1), 0);
	CU_ASSERT_EQUAL(rcpt_forward_loops(&set, d.body.mem.s, d.body.mem.len), 1);
	CU_ASSERT_EQUAL(deliver_commit(&d, &header, &res), 0);
	CU_ASSERT_EQUAL(res.nlocal_done, 1);
	CU_ASSERT_STRING_EQUAL(res.qid, "");
	expected(&want, "s@remote.example", HEADER, looped, sizeof looped - 1);
	check_maildir("e@example.test", &want, NULL, NULL);
	CU_ASSERT_EQUAL(queue_count(), 0);
	rcpt_set_free(&set);
	fwd_teardown();

	/* With the client's own remote recipient too: only the forwarded copy names e. */
	fwd_setup();
	CU_ASSERT_EQUAL(rcpt_resolve_local(&conf, &fwd_al, "e@example.test", &set), 1);
	rcpt_add_remote(&set, "direct@remote.example");
	CU_ASSERT_EQUAL_FATAL(deliver_open(&d, &conf, &set, "s@remote.example", "192.0.2.7 h"), 0);
	CU_ASSERT_EQUAL(deliver_body_write(&d, BODY, sizeof BODY - 1), 0);
	CU_ASSERT_EQUAL(deliver_commit(&d, &header, &res), 0);
	CU_ASSERT(queue_id_valid(res.qid) && queue_id_valid(res.qid_forward));
	{
		struct queue_env a, f;
		struct buf got = BUF_INIT;
		char path[PATH_MAX * 2];

		CU_ASSERT_EQUAL_FATAL(queue_env_load(state, res.qid, &a), 0);
		CU_ASSERT_EQUAL_FATAL(queue_env_load(state, res.qid_forward, &f), 0);
		snprintf(path, sizeof path, "%s/queue/new/%s", state, a.data);
		CU_ASSERT_EQUAL(slurp(path, &got), 0);
		expected(&want, NULL, HEADER, BODY, sizeof BODY - 1);
		CU_ASSERT(got.len == want.len && memcmp(got.s, want.s, got.len) == 0);
		snprintf(path, sizeof path, "%s/queue/new/%s", state, f.data);
		CU_ASSERT_EQUAL(slurp(path, &got), 0);
		buf_reset(&want);
		buf_appends(&want, "Delivered-To: e@example.test\n");
		buf_appends(&want, HEADER);
		buf_append(&want, BODY, sizeof BODY - 1);
		CU_ASSERT(got.len == want.len && memcmp(got.s, want.s, got.len) == 0);
		CU_ASSERT_EQUAL_FATAL(f.nrcpt, 1);
		CU_ASSERT_STRING_EQUAL(f.rcpt[0].address, "FAR2@remote.example");
		queue_env_free(&a);
		queue_env_free(&f);
		buf_free(&got);
	}
	buf_free(&header);
	buf_free(&want);
	rcpt_set_free(&set);
	fwd_teardown();
}

/*
 * A full mailbox an alias leads to (issue 16): rcpt_queue_full moves it
 * out of the local list (not the address the client named, nor a
 * mailbox with room, nor one without a quota), once; the delivery then
 * stores the alias's other copy and queues the full one, with the
 * client's sender.
 */
static void test_queue_full(void)
{
	static char *domains[] = { "example.test" };
	struct rcpt_set set = { 0 };
	struct aliases al;
	struct delivery d;
	struct deliver_result res;
	struct queue_env e;
	struct buf header = BUF_INIT;
	char path[PATH_MAX], err[256], big[2000];
	FILE *fp;

	fresh();
	conf.domains = domains;
	conf.ndomains = 1;
	snprintf(path, sizeof path, "%s/users", state);
	fp = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	fprintf(fp, "full@example.test:$6$s$h:quota=1K\nroom@example.test:$6$s$h:quota=1M\n"
	    "free@example.test:$6$s$h\n");
	fclose(fp);
	conf.users_file = xstrdup(path);
	snprintf(path, sizeof path, "%s/aliases", state);
	fp = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	fprintf(fp, "team@example.test: full@example.test, room@example.test, free@example.test\n");
	fclose(fp);
	CU_ASSERT_EQUAL_FATAL(aliases_load(path, &al, err, sizeof err), 0);
	memset(big, 'x', sizeof big);
	CU_ASSERT_EQUAL_FATAL(maildir_path_for(root, "full@example.test", path, sizeof path), 0);
	CU_ASSERT_EQUAL_FATAL(maildir_make(path, (uid_t)-1, (gid_t)-1), 0);
	CU_ASSERT_EQUAL_FATAL(maildir_deliver(path, big, sizeof big), 0);

	CU_ASSERT_EQUAL(rcpt_mailbox_full(&conf, "full@example.test"), 1);
	CU_ASSERT_EQUAL(rcpt_mailbox_full(&conf, "room@example.test"), 0);
	CU_ASSERT_EQUAL(rcpt_mailbox_full(&conf, "free@example.test"), 0);
	CU_ASSERT_EQUAL(rcpt_mailbox_full(&conf, "nobody@example.test"), 0);
	/* The address the client named is judged at RCPT (452), not here. */
	add_local(&set, "full@example.test");
	CU_ASSERT_EQUAL(rcpt_queue_full(&conf, &set, 0, "full@example.test"), 0);
	rcpt_set_free(&set);

	CU_ASSERT_EQUAL(rcpt_resolve_local(&conf, &al, "team@example.test", &set), 1);
	CU_ASSERT_EQUAL_FATAL(set.nlocal, 3);
	CU_ASSERT_EQUAL(rcpt_queue_full(&conf, &set, 0, "team@example.test"), 1);
	CU_ASSERT_EQUAL_FATAL(set.nlocal, 2);
	CU_ASSERT_STRING_EQUAL(set.local[0], "room@example.test");
	CU_ASSERT_STRING_EQUAL(set.local[1], "free@example.test");
	CU_ASSERT_EQUAL_FATAL(set.nfull, 1);
	CU_ASSERT_STRING_EQUAL(set.full[0], "full@example.test");
	/* Led to again by a later RCPT: still one queued copy. */
	add_local(&set, "full@example.test");
	CU_ASSERT_EQUAL(rcpt_queue_full(&conf, &set, 2, NULL), 1);
	CU_ASSERT_EQUAL(set.nlocal, 2);
	CU_ASSERT_EQUAL(set.nfull, 1);

	CU_ASSERT_EQUAL_FATAL(deliver_open(&d, &conf, &set, "alice@example.test",
	    "192.0.2.7 h"), 0);
	CU_ASSERT_EQUAL(deliver_body_write(&d, BODY, sizeof BODY - 1), 0);
	CU_ASSERT_EQUAL(deliver_commit(&d, &header, &res), 0);
	CU_ASSERT_EQUAL(res.nlocal_done, 2);
	CU_ASSERT_FATAL(queue_id_valid(res.qid));
	CU_ASSERT_EQUAL(res.qid_forward[0], '\0');
	CU_ASSERT_EQUAL_FATAL(queue_env_load(state, res.qid, &e), 0);
	CU_ASSERT_STRING_EQUAL(e.sender, "alice@example.test");
	CU_ASSERT_EQUAL_FATAL(e.nrcpt, 1);
	CU_ASSERT_STRING_EQUAL(e.rcpt[0].address, "full@example.test");
	CU_ASSERT_EQUAL(e.held, 0);
	queue_env_free(&e);
	aliases_free(&al);
	rcpt_set_free(&set);
	free(conf.users_file);
	conf.users_file = NULL;
	conf.domains = NULL;
	conf.ndomains = 0;
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("local", NULL, NULL);
	CU_add_test(s, "deliver: one local recipient", test_one_local);
	CU_add_test(s, "deliver: several local recipients, one file", test_several_local);
	CU_add_test(s, "deliver: local and remote, the queue's own id", test_local_and_remote);
	CU_add_test(s, "deliver: remote only, the id is the queue id", test_remote_only);
	CU_add_test(s, "deliver: a file where a Maildir should be", test_failing_maildir);
	CU_add_test(s, "deliver: header block set after a spooled body",
	    test_header_after_spooled_body);
	CU_add_test(s, "deliver: abort leaves nothing", test_abort);
	CU_add_test(s, "rcpt_srs_reverse: ours, valid, invalid, none", test_srs_reverse);
	CU_add_test(s, "forwarded recipients: SRS sender, nobounce, two envelopes",
	    test_forward_two_envelopes);
	CU_add_test(s, "forward=: keep yes and no, local and remote, loops", test_forward_resolve);
	CU_add_test(s, "forward=: Delivered-To: stops a loop after DATA", test_forward_loops);
	CU_add_test(s, "forward=: the forwarded copy, a loop kept locally", test_forward_delivery);
	CU_add_test(s, "a full mailbox through an alias: queued (rcpt_queue_full)",
	    test_queue_full);
	return cutap_run();
}
