/*
 * test_queue.c: the queue's files (queue/queue.h, docs/PROTOCOL.md):
 * directories, a message committed the Maildir way, envelopes that round-trip
 * every field (null sender, replies with spaces) and cannot be forged by a CR
 * or LF in client text, removal, id validation and oldest-first order.
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

#include "bounce.h"
#include "buf.h"
#include "client.h"
#include "conf.h"
#include "cutap.h"
#include "maildir.h"
#include "queue.h"

static char state[PATH_MAX];
static unsigned state_seq;

/* A fresh state_dir for each test. */
static const char *fresh_state(void)
{
	snprintf(state, sizeof state, "%s/state%u", cutap_tmpdir(), ++state_seq);
	if (mkdir(state, 0700) != 0)
		CU_FAIL("mkdir state");
	return state;
}

static int file_exists(const char *dir, const char *sub, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof p, "%s/queue/%s/%s", dir, sub, name);
	return stat(p, &st) == 0;
}

/* Files in queue/<sub>, dot files aside. */
static int count_files(const char *dir, const char *sub)
{
	char p[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof p, "%s/queue/%s", dir, sub);
	if ((d = opendir(p)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The whole file into b (NUL-terminated); 0 or -1. */
static int slurp(const char *dir, const char *sub, const char *name, struct buf *b)
{
	char p[PATH_MAX], chunk[4096];
	ssize_t n;
	int fd;

	snprintf(p, sizeof p, "%s/queue/%s/%s", dir, sub, name);
	if ((fd = open(p, O_RDONLY)) < 0)
		return -1;
	buf_reset(b);
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		buf_append(b, chunk, (size_t)n);
	close(fd);
	buf_appendc(b, '\0');
	b->len--;
	return n < 0 ? -1 : 0;
}

/* Commit a message with this body and envelope; fills env->id. */
static int enqueue(const char *dir, const char *body, struct queue_env *env,
    struct maildir_writer *w)
{
	if (queue_data_open(w, dir) != 0 ||
	    maildir_writer_write(w, body, strlen(body)) != 0 ||
	    maildir_writer_commit(w) != 0)
		return -1;
	return queue_commit(dir, w, env);
}

static void env_init(struct queue_env *env, time_t arrival, const char *sender,
    const char *client)
{
	memset(env, 0, sizeof *env);
	env->arrival = arrival;
	env->sender = xstrdup(sender);
	env->client = xstrdup(client);
}

static void test_dirs_make(void)
{
	const char *dir = fresh_state();
	static const char *const subs[] = { "", "/tmp", "/new", "/env" };
	char p[PATH_MAX];
	struct stat st;

	CU_ASSERT_EQUAL(queue_dirs_make(dir), 0);
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof p, "%s/queue%s", dir, subs[i]);
		CU_ASSERT_EQUAL_FATAL(stat(p, &st), 0);
		CU_ASSERT(S_ISDIR(st.st_mode));
		CU_ASSERT_EQUAL(st.st_mode & 07777, 0700);
	}
	/* Again: nothing to do, no error. */
	CU_ASSERT_EQUAL(queue_dirs_make(dir), 0);
	/* A state_dir that does not exist is an error, not a crash. */
	snprintf(p, sizeof p, "%s/missing/deeper", dir);
	errno = 0;
	CU_ASSERT_EQUAL(queue_dirs_make(p), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
}

static void test_id_from_base(void)
{
	static const struct {
		const char *base, *id;
	} t[] = {
		{ "1732780000.M123P45Q6.host", "1732780000.M123P45Q6" },
		{ "1732780000.M123P45Q6.mail.example.net", "1732780000.M123P45Q6" },
		{ "1732780000.M123P45Q6", "1732780000.M123P45Q6" },
		{ "17", "17" },
	};
	char id[QUEUE_ID_MAX], small[8];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		queue_id_from_base(t[i].base, id, sizeof id);
		CU_ASSERT_STRING_EQUAL(id, t[i].id);
	}
	/* Cut to fit, always terminated. */
	queue_id_from_base("1732780000.M123P45Q6.host", small, sizeof small);
	CU_ASSERT_STRING_EQUAL(small, "1732780");
}

static void test_id_valid(void)
{
	static const struct {
		const char *id;
		int ok;
	} t[] = {
		{ "1732780000.M123P45Q6", 1 },
		{ "abc-DEF_09.x", 1 },
		{ "a", 1 },
		{ "", 0 },
		{ ".", 0 },
		{ "..", 0 },
		{ ".x", 0 },
		{ "../x", 0 },
		{ "a/b", 0 },
		{ "/etc/passwd", 0 },
		{ "a b", 0 },
		{ "a\nb", 0 },
		{ "a\rb", 0 },
		{ "a:b", 0 },
		{ "a,S=1", 0 },
		{ "caf\xc3\xa9", 0 },
		{ "a\\b", 0 },
		{ "a*", 0 },
		/* QUEUE_ID_MAX - 1 = 63 characters fit, 64 do not. */
		{ "123456789012345678901234567890123456789012345678901234567890123", 1 },
		{ "1234567890123456789012345678901234567890123456789012345678901234", 0 },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (queue_id_valid(t[i].id) != t[i].ok) {
			char msg[200];

			snprintf(msg, sizeof msg, "queue_id_valid(\"%s\") != %d",
			    t[i].id, t[i].ok);
			CU_assertImplementation(CU_FALSE, __LINE__, msg, __FILE__, "", CU_FALSE);
		}
	}
}

/*
 * The whole life of a queued message: data in queue/new the Maildir way,
 * the envelope in env/ with exactly the documented text, its id listed,
 * every field loaded back.
 */
static void test_commit_and_load(void)
{
	const char *dir = fresh_state();
	static const char body[] = "Subject: queued\n\nline one\n.dot line\n";
	struct maildir_writer w;
	struct queue_env env, back;
	struct buf b = BUF_INIT, want = BUF_INIT;
	char **ids;
	size_t n;
	const char *slash;

	env_init(&env, 1732780000, "alice@example.net", "192.0.2.7 helo.example");
	queue_env_add_rcpt(&env, "bob@remote.example");
	queue_env_add_rcpt(&env, "carol@other.example");
	CU_ASSERT_EQUAL_FATAL(enqueue(dir, body, &env, &w), 0);

	/* The id is the unique name's "<sec>.M<usec>P<pid>Q<n>". */
	CU_ASSERT(queue_id_valid(env.id));
	CU_ASSERT_EQUAL(strncmp(w.base, env.id, strlen(env.id)), 0);
	CU_ASSERT_EQUAL(w.base[strlen(env.id)], '.');
	CU_ASSERT_PTR_NOT_NULL(strstr(env.id, ".M"));
	CU_ASSERT_PTR_NOT_NULL(strchr(env.id, 'P'));
	CU_ASSERT_PTR_NOT_NULL(strchr(env.id, 'Q'));
	slash = strrchr(w.final, '/');
	CU_ASSERT_PTR_NOT_NULL_FATAL(slash);
	CU_ASSERT_STRING_EQUAL(env.data, slash + 1);
	CU_ASSERT_EQUAL(env.size, sizeof body - 1);

	/* The data file: exact bytes, in new/, S= and W= in its name. */
	CU_ASSERT_EQUAL(slurp(dir, "new", env.data, &b), 0);
	CU_ASSERT_EQUAL(b.len, sizeof body - 1);
	CU_ASSERT_STRING_EQUAL(b.s, body);
	CU_ASSERT_PTR_NOT_NULL(strstr(env.data, ",S=36,W=40"));
	CU_ASSERT_EQUAL(count_files(dir, "tmp"), 0);
	CU_ASSERT_EQUAL(count_files(dir, "new"), 1);
	CU_ASSERT_EQUAL(count_files(dir, "env"), 1);

	/* The envelope, as queue.h documents it. */
	buf_printf(&want, "ispmaild-queue 1\narrival 1732780000\n"
	    "sender alice@example.net\ndata %s\nclient 192.0.2.7 helo.example\n"
	    "rcpt pending 0 0 bob@remote.example\t\n"
	    "rcpt pending 0 0 carol@other.example\t\n", env.data);
	CU_ASSERT_EQUAL(slurp(dir, "env", env.id, &b), 0);
	CU_ASSERT_STRING_EQUAL(b.s, want.s);

	CU_ASSERT_EQUAL(queue_ids(dir, &ids, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(ids[0], env.id);
	queue_ids_free(ids, n);

	CU_ASSERT_EQUAL_FATAL(queue_env_load(dir, env.id, &back), 0);
	CU_ASSERT_STRING_EQUAL(back.id, env.id);
	CU_ASSERT_EQUAL(back.arrival, 1732780000);
	CU_ASSERT_STRING_EQUAL(back.sender, "alice@example.net");
	CU_ASSERT_STRING_EQUAL(back.data, env.data);
	CU_ASSERT_STRING_EQUAL(back.client, "192.0.2.7 helo.example");
	CU_ASSERT_EQUAL(back.size, sizeof body - 1);
	CU_ASSERT_EQUAL_FATAL(back.nrcpt, 2);
	CU_ASSERT_STRING_EQUAL(back.rcpt[0].address, "bob@remote.example");
	CU_ASSERT_STRING_EQUAL(back.rcpt[1].address, "carol@other.example");
	for (size_t i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(back.rcpt[i].state, QUEUE_RCPT_PENDING);
		CU_ASSERT_EQUAL(back.rcpt[i].tries, 0);
		CU_ASSERT_EQUAL(back.rcpt[i].next_attempt, 0);
		CU_ASSERT_STRING_EQUAL(back.rcpt[i].last_reply, "");
	}
	queue_env_free(&back);
	queue_env_free(&env);
	buf_free(&b);
	buf_free(&want);
}

/* The null sender is "sender " with nothing after it, and comes back as "". */
static void test_null_sender(void)
{
	const char *dir = fresh_state();
	struct maildir_writer w;
	struct queue_env env, back;
	struct buf b = BUF_INIT;

	env_init(&env, 1700000000, "", "");
	queue_env_add_rcpt(&env, "bob@remote.example");
	CU_ASSERT_EQUAL_FATAL(enqueue(dir, "bounce\n", &env, &w), 0);
	CU_ASSERT_EQUAL(slurp(dir, "env", env.id, &b), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.s, "\nsender \n"));
	CU_ASSERT_EQUAL_FATAL(queue_env_load(dir, env.id, &back), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back.sender);
	CU_ASSERT_STRING_EQUAL(back.sender, "");
	CU_ASSERT_PTR_NOT_NULL_FATAL(back.client);
	CU_ASSERT_STRING_EQUAL(back.client, "");
	CU_ASSERT_EQUAL(back.nrcpt, 1);
	queue_env_free(&back);
	queue_env_free(&env);
	buf_free(&b);
}

/* The runner's bookkeeping: states, tries, times and replies with spaces. */
static void test_save_changed_state(void)
{
	const char *dir = fresh_state();
	static const char reply0[] = "250 2.0.0 Ok: queued as 4XyZ";
	static const char reply1[] = "550 5.1.1 <carol@other.example>: Recipient address rejected:  two  spaces";
	static const char reply2[] = "451 4.7.1 Try again later";
	struct maildir_writer w;
	struct queue_env env, back, again;
	char **ids;
	size_t n;

	env_init(&env, 1732780000, "alice@example.net", "192.0.2.7 helo");
	queue_env_add_rcpt(&env, "bob@remote.example");
	queue_env_add_rcpt(&env, "carol@other.example");
	queue_env_add_rcpt(&env, "dave@third.example");
	CU_ASSERT_EQUAL_FATAL(enqueue(dir, "x\n", &env, &w), 0);
	CU_ASSERT_EQUAL_FATAL(queue_env_load(dir, env.id, &back), 0);
	CU_ASSERT_EQUAL_FATAL(back.nrcpt, 3);

	back.rcpt[0].state = QUEUE_RCPT_DELIVERED;
	back.rcpt[0].tries = 1;
	back.rcpt[0].next_attempt = 0;
	free(back.rcpt[0].last_reply);
	back.rcpt[0].last_reply = xstrdup(reply0);
	back.rcpt[1].state = QUEUE_RCPT_FAILED;
	back.rcpt[1].tries = 2;
	back.rcpt[1].next_attempt = 1732780300;
	free(back.rcpt[1].last_reply);
	back.rcpt[1].last_reply = xstrdup(reply1);
	back.rcpt[2].tries = 7;
	back.rcpt[2].next_attempt = 1732783900;
	free(back.rcpt[2].last_reply);
	back.rcpt[2].last_reply = xstrdup(reply2);
	CU_ASSERT_EQUAL_FATAL(queue_env_save(dir, &back), 0);
	CU_ASSERT_EQUAL(count_files(dir, "tmp"), 0);
	CU_ASSERT_EQUAL(count_files(dir, "env"), 1);

	CU_ASSERT_EQUAL_FATAL(queue_env_load(dir, env.id, &again), 0);
	CU_ASSERT_STRING_EQUAL(again.sender, "alice@example.net");
	CU_ASSERT_STRING_EQUAL(again.data, env.data);
	CU_ASSERT_EQUAL(again.arrival, 1732780000);
	CU_ASSERT_EQUAL_FATAL(again.nrcpt, 3);
	CU_ASSERT_EQUAL(again.rcpt[0].state, QUEUE_RCPT_DELIVERED);
	CU_ASSERT_EQUAL(again.rcpt[0].tries, 1);
	CU_ASSERT_EQUAL(again.rcpt[0].next_attempt, 0);
	CU_ASSERT_STRING_EQUAL(again.rcpt[0].address, "bob@remote.example");
	CU_ASSERT_STRING_EQUAL(again.rcpt[0].last_reply, reply0);
	CU_ASSERT_EQUAL(again.rcpt[1].state, QUEUE_RCPT_FAILED);
	CU_ASSERT_EQUAL(again.rcpt[1].tries, 2);
	CU_ASSERT_EQUAL(again.rcpt[1].next_attempt, 1732780300);
	CU_ASSERT_STRING_EQUAL(again.rcpt[1].address, "carol@other.example");
	CU_ASSERT_STRING_EQUAL(again.rcpt[1].last_reply, reply1);
	CU_ASSERT_EQUAL(again.rcpt[2].state, QUEUE_RCPT_PENDING);
	CU_ASSERT_EQUAL(again.rcpt[2].tries, 7);
	CU_ASSERT_EQUAL(again.rcpt[2].next_attempt, 1732783900);
	CU_ASSERT_STRING_EQUAL(again.rcpt[2].last_reply, reply2);

	/* Saving keeps the id and the data file. */
	CU_ASSERT_EQUAL(queue_ids(dir, &ids, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(ids[0], env.id);
	queue_ids_free(ids, n);
	CU_ASSERT(file_exists(dir, "new", env.data));

	queue_env_free(&again);
	queue_env_free(&back);
	queue_env_free(&env);
}

/*
 * RFC 5321 §4.1.2: a quoted local part may hold a space
 * ("john doe"@remote.example); the envelope must give it back whole.
 */
static void test_address_with_space(void)
{
	const char *dir = fresh_state();
	struct maildir_writer w;
	struct queue_env env, back;

	env_init(&env, 1732780000, "\"a b\"@example.net", "192.0.2.7 helo");
	queue_env_add_rcpt(&env, "\"john doe\"@remote.example");
	CU_ASSERT_EQUAL_FATAL(enqueue(dir, "x\n", &env, &w), 0);
	CU_ASSERT_EQUAL_FATAL(queue_env_load(dir, env.id, &back), 0);
	CU_ASSERT_STRING_EQUAL(back.sender, "\"a b\"@example.net");
	CU_ASSERT_EQUAL_FATAL(back.nrcpt, 1);
	CU_ASSERT_STRING_EQUAL(back.rcpt[0].address, "\"john doe\"@remote.example");
	CU_ASSERT_STRING_EQUAL(back.rcpt[0].last_reply, "");
	queue_env_free(&back);
	queue_env_free(&env);
}

/* A CR or LF in any text field cannot add a record to the envelope. */
static void test_no_record_injection(void)
{
	const char *dir = fresh_state();
	struct maildir_writer w;
	struct queue_env env, back;
	struct buf b = BUF_INIT;
	size_t lines = 0;

	env_init(&env, 1732780000, "a@b\nrcpt pending 0 0 evil@sender.example",
	    "192.0.2.7 helo\r\nrcpt pending 0 0 evil@client.example");
	queue_env_add_rcpt(&env, "bob@remote.example\nrcpt pending 0 0 evil@rcpt.example");
	CU_ASSERT_EQUAL_FATAL(enqueue(dir, "x\n", &env, &w), 0);

	CU_ASSERT_EQUAL_FATAL(queue_env_load(dir, env.id, &back), 0);
	CU_ASSERT_EQUAL(back.nrcpt, 1);
	free(back.rcpt[0].last_reply);
	back.rcpt[0].last_reply = xstrdup("550 no\nrcpt pending 0 0 evil@reply.example\r\n");
	CU_ASSERT_EQUAL_FATAL(queue_env_save(dir, &back), 0);
	queue_env_free(&back);

	CU_ASSERT_EQUAL(slurp(dir, "env", env.id, &b), 0);
	for (size_t i = 0; i < b.len; i++)
		lines += b.s[i] == '\n';
	CU_ASSERT_EQUAL(lines, 6);	/* magic, arrival, sender, data, client, 1 rcpt */
	CU_ASSERT_PTR_NULL(strchr(b.s, '\r'));

	CU_ASSERT_EQUAL_FATAL(queue_env_load(dir, env.id, &back), 0);
	CU_ASSERT_EQUAL_FATAL(back.nrcpt, 1);
	/* The newline became a space: one odd address, no second record. */
	CU_ASSERT_STRING_EQUAL(back.rcpt[0].address,
	    "bob@remote.example rcpt pending 0 0 evil@rcpt.example");
	CU_ASSERT_PTR_NULL(strchr(back.sender, '\n'));
	CU_ASSERT_PTR_NULL(strchr(back.client, '\n'));
	CU_ASSERT_PTR_NULL(strchr(back.rcpt[0].last_reply, '\n'));
	CU_ASSERT_STRING_EQUAL(back.data, env.data);
	CU_ASSERT_EQUAL(back.arrival, 1732780000);
	queue_env_free(&back);
	queue_env_free(&env);
	buf_free(&b);
}

static void test_remove(void)
{
	const char *dir = fresh_state();
	struct maildir_writer w1, w2;
	struct queue_env e1, e2, back;
	char **ids;
	size_t n;
	char outside[PATH_MAX];
	int fd;

	env_init(&e1, 1732780000, "a@example.net", "");
	queue_env_add_rcpt(&e1, "b@remote.example");
	CU_ASSERT_EQUAL_FATAL(enqueue(dir, "one\n", &e1, &w1), 0);
	env_init(&e2, 1732780001, "a@example.net", "");
	queue_env_add_rcpt(&e2, "c@remote.example");
	CU_ASSERT_EQUAL_FATAL(enqueue(dir, "two\n", &e2, &w2), 0);
	CU_ASSERT_STRING_NOT_EQUAL(e1.id, e2.id);
	CU_ASSERT_EQUAL(count_files(dir, "new"), 2);

	CU_ASSERT_EQUAL(queue_remove(dir, e1.id), 1);
	CU_ASSERT(!file_exists(dir, "env", e1.id));
	CU_ASSERT(!file_exists(dir, "new", e1.data));
	/* The other message is untouched. */
	CU_ASSERT(file_exists(dir, "env", e2.id));
	CU_ASSERT(file_exists(dir, "new", e2.data));
	CU_ASSERT_EQUAL(queue_ids(dir, &ids, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(ids[0], e2.id);
	queue_ids_free(ids, n);

	/* Twice, unknown, invalid: 0, and nothing else goes. */
	CU_ASSERT_EQUAL(queue_remove(dir, e1.id), 0);
	CU_ASSERT_EQUAL(queue_remove(dir, "1.M1P1Q1"), 0);
	snprintf(outside, sizeof outside, "%s/x", dir);
	fd = open(outside, O_CREAT | O_WRONLY, 0600);
	CU_ASSERT(fd >= 0);
	if (fd >= 0)
		close(fd);
	CU_ASSERT_EQUAL(queue_remove(dir, "../x"), 0);
	CU_ASSERT_EQUAL(queue_remove(dir, "../../x"), 0);
	CU_ASSERT_EQUAL(queue_remove(dir, ""), 0);
	CU_ASSERT_EQUAL(access(outside, F_OK), 0);
	CU_ASSERT(file_exists(dir, "env", e2.id));

	CU_ASSERT_EQUAL(queue_remove(dir, e2.id), 1);
	CU_ASSERT_EQUAL(count_files(dir, "env"), 0);
	CU_ASSERT_EQUAL(count_files(dir, "new"), 0);
	CU_ASSERT_EQUAL(count_files(dir, "tmp"), 0);
	CU_ASSERT_EQUAL(queue_ids(dir, &ids, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	queue_ids_free(ids, n);

	/* An unknown id: the loader says ENOENT. */
	errno = 0;
	CU_ASSERT_EQUAL(queue_env_load(dir, e2.id, &back), -1);
	CU_ASSERT_EQUAL(errno, ENOENT);
	queue_env_free(&e1);
	queue_env_free(&e2);
}

/* Write a bare envelope under a chosen id (the runner's view of the queue). */
static void put_env(const char *dir, const char *id, time_t arrival)
{
	struct queue_env env;

	env_init(&env, arrival, "a@example.net", "");
	env.data = xstrdup("none");
	str_copy(env.id, sizeof env.id, id);
	queue_env_add_rcpt(&env, "b@remote.example");
	CU_ASSERT_EQUAL(queue_env_save(dir, &env), 0);
	queue_env_free(&env);
}

static void check_order(const char *dir, const char *const *want, size_t nwant)
{
	char **ids;
	size_t n;

	CU_ASSERT_EQUAL_FATAL(queue_ids(dir, &ids, &n), 0);
	CU_ASSERT_EQUAL(n, nwant);
	for (size_t i = 0; i < n && i < nwant; i++) {
		if (strcmp(ids[i], want[i]) != 0) {
			char msg[300];

			snprintf(msg, sizeof msg, "queue_ids[%zu] = %s, want %s", i,
			    ids[i], want[i]);
			CU_assertImplementation(CU_FALSE, __LINE__, msg, __FILE__, "", CU_FALSE);
		}
	}
	queue_ids_free(ids, n);
}

/* Oldest first by the seconds in the id, whatever their number of digits. */
static void test_ids_order_seconds(void)
{
	const char *dir = fresh_state();
	static const char *const want[] = {
		"999999999.M1P1Q1", "1699999999.M999999P9Q9", "1700000000.M1P1Q1",
		"1700000001.M0P1Q1", "1800000000.M0P1Q1",
	};
	char p[PATH_MAX];
	int fd;

	CU_ASSERT_EQUAL_FATAL(queue_dirs_make(dir), 0);
	put_env(dir, want[3], 1700000001);
	put_env(dir, want[0], 999999999);
	put_env(dir, want[4], 1800000000);
	put_env(dir, want[2], 1700000000);
	put_env(dir, want[1], 1699999999);
	/* Not ids: skipped. */
	snprintf(p, sizeof p, "%s/queue/env/.hidden", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	if (fd >= 0)
		close(fd);
	check_order(dir, want, 5);
}

/*
 * Within one second, by microseconds: the ids do not pad ".M<usec>", so
 * M5 (5 us) is older than M10 and M999999, whatever strcmp says.
 */
static void test_ids_order_usec(void)
{
	const char *dir = fresh_state();
	static const char *const want[] = {
		"1700000000.M5P1Q1", "1700000000.M10P1Q2", "1700000000.M999999P1Q3",
		"1700000001.M2P1Q1",
	};

	CU_ASSERT_EQUAL_FATAL(queue_dirs_make(dir), 0);
	put_env(dir, want[2], 1700000000);
	put_env(dir, want[3], 1700000001);
	put_env(dir, want[1], 1700000000);
	put_env(dir, want[0], 1700000000);
	check_order(dir, want, 4);
}

/* No queue yet: an empty list, not an error. */
static void test_ids_no_queue(void)
{
	const char *dir = fresh_state();
	char **ids = (char **)1;
	size_t n = 99;

	CU_ASSERT_EQUAL(queue_ids(dir, &ids, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	queue_ids_free(ids, n);
}

/* A damaged envelope is refused by the loader, and can still be removed. */
static void test_damaged_envelope(void)
{
	const char *dir = fresh_state();
	struct queue_env env;
	char p[PATH_MAX];
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(queue_dirs_make(dir), 0);
	snprintf(p, sizeof p, "%s/queue/env/1700000000.M1P1Q1", dir);
	f = fopen(p, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("not an envelope\n", f);
	fclose(f);
	errno = 0;
	CU_ASSERT_EQUAL(queue_env_load(dir, "1700000000.M1P1Q1", &env), -1);
	CU_ASSERT_EQUAL(errno, EINVAL);
	/* Missing sender: refused too. */
	f = fopen(p, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("ispmaild-queue 1\narrival 1\ndata x\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(queue_env_load(dir, "1700000000.M1P1Q1", &env), -1);
	/* ispmailctl queue del must be able to get rid of it. */
	CU_ASSERT_EQUAL(queue_remove(dir, "1700000000.M1P1Q1"), 1);
	CU_ASSERT_EQUAL(access(p, F_OK), -1);
}

/* An envelope with an unsafe id is never written. */
static void test_save_refuses_bad_id(void)
{
	const char *dir = fresh_state();
	struct queue_env env;

	CU_ASSERT_EQUAL_FATAL(queue_dirs_make(dir), 0);
	env_init(&env, 1, "a@b", "");
	env.data = xstrdup("x");
	str_copy(env.id, sizeof env.id, "../escape");
	CU_ASSERT_EQUAL(queue_env_save(dir, &env), -1);
	CU_ASSERT_EQUAL(count_files(dir, "env"), 0);
	CU_ASSERT_EQUAL(count_files(dir, "tmp"), 0);
	queue_env_free(&env);
}

/* A writer that is never committed leaves nothing behind once aborted. */
static void test_abort_leaves_nothing(void)
{
	const char *dir = fresh_state();
	struct maildir_writer w;

	CU_ASSERT_EQUAL_FATAL(queue_data_open(&w, dir), 0);
	CU_ASSERT_EQUAL(maildir_writer_write(&w, "partial", 7), 0);
	CU_ASSERT_EQUAL(count_files(dir, "tmp"), 1);
	maildir_writer_abort(&w);
	CU_ASSERT_EQUAL(count_files(dir, "tmp"), 0);
	CU_ASSERT_EQUAL(count_files(dir, "new"), 0);
	CU_ASSERT_EQUAL(count_files(dir, "env"), 0);
}

/* docs/PROTOCOL.md: from retry_min doubling to retry_max, never past it. */
static void test_retry_delay(void)
{
	static const struct { int tries; long min, max, want; } rows[] = {
		{ 1, 300, 3600, 300 }, { 2, 300, 3600, 600 }, { 3, 300, 3600, 1200 },
		{ 4, 300, 3600, 2400 }, { 5, 300, 3600, 3600 }, { 50, 300, 3600, 3600 },
		{ 0, 300, 3600, 300 }, { 1, 1, 1, 1 }, { 3, 7, 20, 20 },
		{ 2, 1000, 1500, 1500 }, { 64, 2, 2147483647L, 2147483647L },
	};
	size_t i;

	for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		long got = queue_retry_delay(rows[i].tries, rows[i].min, rows[i].max);

		if (got != rows[i].want)
			fprintf(stderr, "# tries=%d min=%ld max=%ld: %ld, want %ld\n",
			    rows[i].tries, rows[i].min, rows[i].max, got, rows[i].want);
		CU_ASSERT_EQUAL(got, rows[i].want);
	}
}

/* Remote text is escaped: no CR, LF, NUL or ESC survives, length bounded. */
static void test_clean_text(void)
{
	static const char in[] = "550 5.1.1 bad\r.\rMAIL FROM:<x>\n\0\x1b\xff";
	char out[64], small[20];

	smtp_client_clean_text(in, sizeof in - 1, out, sizeof out);
	CU_ASSERT_STRING_EQUAL(out, "550 5.1.1 bad\\x0d.\\x0dMAIL FROM:<x>\\x0a\\x00\\x1b\\xff");
	/* Truncated to fit, never inside an escape. */
	smtp_client_clean_text(in, sizeof in - 1, small, sizeof small);
	CU_ASSERT_STRING_EQUAL(small, "550 5.1.1 bad...");
	smtp_client_clean_text(in, sizeof in - 1, small, 1);
	CU_ASSERT_STRING_EQUAL(small, "");
}

/*
 * The DSN's Status from a recipient's last reply: its enhanced code; an
 * expiry 4.4.7, or 5.2.2 when the mailbox stayed full (issue 16).
 */
static void test_bounce_status(void)
{
	static const struct { const char *reply, *want; } cases[] = {
		{ "550 5.1.1 <a@b>: user unknown", "5.1.1" },
		{ "554 too bad", "5.0.0" },
		{ "451 try later", "4.0.0" },
		{ "delivery time expired; last reply: 451 4.3.0 later", "4.4.7" },
		{ "delivery time expired", "4.4.7" },
		{ "delivery time expired; last reply: 452 4.2.2 Mailbox full: the mailbox "
		  "is over its quota", "5.2.2" },
		{ "delivery time expired; last reply: 452 4.2.21 odd", "4.4.7" },
		{ "452 4.2.2 Mailbox full", "4.2.2" },
	};
	char out[32];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bounce_status(cases[i].reply, out, sizeof out);
		CU_ASSERT_STRING_EQUAL(out, cases[i].want);
	}
}

/*
 * The DSN writer never emits a bare CR (nor an LF inside a field), whatever
 * the stored reply, address or original headers hold.
 */
static void test_bounce_no_bare_cr(void)
{
	static const char headers[] = "Subject: a\rb\nX: \0y\n\nbody\r.\r\n";
	struct conf c;
	struct queue_env env;
	struct buf out = BUF_INIT;
	char path[PATH_MAX];
	size_t i;
	int fd;

	memset(&c, 0, sizeof c);
	c.hostname = "mx.example.test";
	memset(&env, 0, sizeof env);
	snprintf(env.id, sizeof env.id, "1.M1P1Q1");
	env.arrival = 1;
	env.sender = xstrdup("alice@example.test");
	queue_env_add_rcpt(&env, "bob@remote.test");
	env.rcpt[0].state = QUEUE_RCPT_FAILED;
	free(env.rcpt[0].last_reply);
	env.rcpt[0].last_reply = xstrdup("550 5.1.1\r.\rMAIL FROM:<x>\n.\n");
	snprintf(path, sizeof path, "%s/dsn-headers", cutap_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, headers, sizeof headers - 1), (ssize_t)(sizeof headers - 1));
	bounce_build(&c, &env, fd, &out);
	close(fd);
	for (i = 0; i < out.len; i++)
		if (out.s[i] == '\r' || out.s[i] == '\0')
			break;
	CU_ASSERT_EQUAL(i, out.len);
	buf_appendc(&out, '\0');
	CU_ASSERT_PTR_NOT_NULL(strstr(out.s,
	    "\nDiagnostic-Code: smtp; 550 5.1.1\\x0d.\\x0dMAIL FROM:<x>\\x0a.\\x0a\n"));
	/* "5.1.1<CR>..." is no status code: the reply's class stands in. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out.s, "\nStatus: 5.0.0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out.s, "\nSubject: a b\n"));
	buf_free(&out);
	queue_env_free(&env);
}

/*
 * The nobounce record (forwarded for an outside client) round-trips; an
 * envelope written before it existed loads with nobounce 0.
 */
static void test_nobounce(void)
{
	const char *dir = fresh_state();
	struct maildir_writer w;
	struct queue_env env, back;
	struct buf text = BUF_INIT;
	char p[PATH_MAX];
	FILE *f;

	env_init(&env, 1732780000, "SRS0=abcd=JY=forged.test=victim@mail.example", "192.0.2.7 h");
	env.nobounce = 1;
	queue_env_add_rcpt(&env, "far@remote.example");
	CU_ASSERT_EQUAL_FATAL(enqueue(dir, "Subject: x\n\nbody\n", &env, &w), 0);
	CU_ASSERT_EQUAL(slurp(dir, "env", env.id, &text), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(text.s, "\nnobounce forwarded-from-outside\n"));
	CU_ASSERT_EQUAL_FATAL(queue_env_load(dir, env.id, &back), 0);
	CU_ASSERT_EQUAL(back.nobounce, 1);
	queue_env_free(&back);
	/* An old envelope, exactly as the earlier versions wrote it. */
	snprintf(p, sizeof p, "%s/queue/env/%s", dir, env.id);
	f = fopen(p, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "ispmaild-queue 1\narrival 1732780000\nsender a@b.example\n"
	    "data %s\nclient 192.0.2.7 h\nrcpt pending 0 0 far@remote.example\t\n", env.data);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(queue_env_load(dir, env.id, &back), 0);
	CU_ASSERT_EQUAL(back.nobounce, 0);
	CU_ASSERT_EQUAL(back.nrcpt, 1);
	queue_env_free(&back);
	queue_env_free(&env);
	buf_free(&text);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("queue", NULL, NULL);
	CU_add_test(s, "queue_dirs_make", test_dirs_make);
	CU_add_test(s, "queue_id_from_base", test_id_from_base);
	CU_add_test(s, "queue_id_valid table", test_id_valid);
	CU_add_test(s, "commit, list, load every field", test_commit_and_load);
	CU_add_test(s, "null sender round-trips", test_null_sender);
	CU_add_test(s, "save a changed recipient state", test_save_changed_state);
	CU_add_test(s, "quoted address with a space round-trips", test_address_with_space);
	CU_add_test(s, "CR/LF in a field cannot inject a record", test_no_record_injection);
	CU_add_test(s, "queue_remove", test_remove);
	CU_add_test(s, "nobounce round-trips; an old envelope loads", test_nobounce);
	CU_add_test(s, "remote text escaped (smtp_client_clean_text)", test_clean_text);
	CU_add_test(s, "a DSN has no bare CR (bounce_build)", test_bounce_no_bare_cr);
	CU_add_test(s, "DSN status from the last reply (bounce_status)", test_bounce_status);
	CU_add_test(s, "queue_ids oldest first (seconds)", test_ids_order_seconds);
	CU_add_test(s, "queue_ids oldest first (microseconds)", test_ids_order_usec);
	CU_add_test(s, "queue_ids without a queue", test_ids_no_queue);
	CU_add_test(s, "damaged envelope", test_damaged_envelope);
	CU_add_test(s, "save refuses an unsafe id", test_save_refuses_bad_id);
	CU_add_test(s, "aborted data leaves nothing", test_abort_leaves_nothing);
	CU_add_test(s, "retry schedule doubles to retry_max", test_retry_delay);
	return cutap_run();
}
