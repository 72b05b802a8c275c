/*
 * queue.c: the queue's files (see queue.h). Every write is the Maildir
 * way: temporary name, fsync, rename or link, fsync of the directory, so a
 * message that got 250 survives a crash, and a half-written one is never
 * seen by the runner.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "buf.h"
#include "queue.h"
#include "sys.h"

static int qpath(char *out, size_t outlen, const char *state_dir,
    const char *sub, const char *name)
{
	if (name == NULL)
		return str_format(out, outlen, "%s/queue/%s", state_dir, sub);
	return str_format(out, outlen, "%s/queue/%s/%s", state_dir, sub, name);
}

/*
 * queue/ and its folders, walked from state_dir by descriptor: a symbolic
 * link anywhere below state_dir is refused (ELOOP), never followed.
 */
int queue_dirs_make(const char *state_dir)
{
	static const char *const subs[] = { "queue/tmp", "queue/new", "queue/env" };
	int sfd, fd;
	size_t i;

	if ((sfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	for (i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		fd = maildir_dir_walk(sfd, subs[i], 1, (uid_t)-1, (gid_t)-1, NULL, 0);
		if (fd < 0) {
			int saved = errno;

			(void)close(sfd);
			errno = saved;
			return -1;
		}
		(void)close(fd);
	}
	return close(sfd);
}

/*
 * The queue's own ids, as Postfix makes its queue ids: the time to the
 * microsecond, the pid and a per-process counter, unique on this host
 * (the queue is never shared between hosts). The same shape as a Maildir
 * name's unique part, so ids sort by time (queue_ids) and old ones stay
 * valid.
 */
int queue_id_new(char *id, size_t idlen)
{
	static unsigned long counter;
	struct timeval tv;

	if (gettimeofday(&tv, NULL) != 0)
		return -1;
	counter++;
	if (str_format(id, idlen, "%lld.M%ldP%ldQ%lu", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(), counter) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * The data file's unique part: "<id>.<host>", the host cut to the
 * characters of a queue id, so the name reads like a Maildir file's and
 * "<id>." finds it (remove_data_of).
 */
static void data_base(const char *id, char *out, size_t outlen)
{
	char host[256];
	size_t o;

	if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
		(void)str_copy(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	(void)str_format(out, outlen, "%s.", id);
	o = strlen(out);
	for (const char *p = host; *p != '\0' && o + 1 < outlen && o < MAILDIR_UID_MAX; p++)
		if (isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_')
			out[o++] = *p;
	out[o] = '\0';
}

int queue_data_open_id(struct maildir_writer *w, const char *state_dir, const char *id)
{
	char p[PATH_MAX], base[MAILDIR_NAME_MAX];

	if (!queue_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (queue_dirs_make(state_dir) != 0)
		return -1;
	if (str_format(p, sizeof p, "%s/queue", state_dir) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	data_base(id, base, sizeof base);
	return maildir_writer_open_as(w, p, base);
}

int queue_data_open(struct maildir_writer *w, const char *state_dir)
{
	char id[QUEUE_ID_MAX];

	if (queue_id_new(id, sizeof id) != 0)
		return -1;
	return queue_data_open_id(w, state_dir, id);
}

int queue_id_valid(const char *id)
{
	size_t i;

	if (id[0] == '\0' || id[0] == '.' || strlen(id) >= QUEUE_ID_MAX)
		return 0;
	for (i = 0; id[i]; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '.' &&
		    id[i] != '_' && id[i] != '-')
			return 0;
	return 1;
}

/* The id: the unique name without its host part ("<sec>.M<usec>P<pid>Q<n>"). */
void queue_id_from_base(const char *base, char *id, size_t idlen)
{
	const char *dot = strchr(base, '.');
	size_t n;

	dot = dot ? strchr(dot + 1, '.') : NULL;
	n = dot ? (size_t)(dot - base) : strlen(base);
	if (n >= idlen)
		n = idlen - 1;
	memcpy(id, base, n);
	id[n] = '\0';
}

/* One line of text without CR/LF: client data must not add records. */
static void put_field(struct buf *b, const char *s)
{
	for (; *s; s++)
		buf_appendc(b, (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s);
}

int queue_env_save(const char *state_dir, const struct queue_env *env)
{
	struct buf b = BUF_INIT;
	char tmp[PATH_MAX], final[PATH_MAX], dir[PATH_MAX];
	size_t i, off = 0;
	int fd, r = -1;

	if (!queue_id_valid(env->id) ||
	    str_format(tmp, sizeof tmp, "%s/queue/tmp/%s.env", state_dir, env->id) != 0 ||
	    qpath(final, sizeof final, state_dir, "env", env->id) != 0 ||
	    qpath(dir, sizeof dir, state_dir, "env", NULL) != 0) {
		errno = EINVAL;
		return -1;
	}
	buf_printf(&b, "ispmaild-queue 1\narrival %lld\nsender ", (long long)env->arrival);
	put_field(&b, env->sender);
	buf_appends(&b, "\ndata ");
	put_field(&b, env->data);
	buf_appends(&b, "\nclient ");
	put_field(&b, env->client ? env->client : "");
	buf_appendc(&b, '\n');
	if (env->nobounce)
		buf_appends(&b, "nobounce forwarded-from-outside\n");
	if (env->held)
		buf_appends(&b, "held quarantine\n");
	for (i = 0; i < env->nrcpt; i++) {
		const struct queue_rcpt *q = &env->rcpt[i];
		static const char *const names[] = { "pending", "delivered", "failed" };

		buf_printf(&b, "rcpt %s %d %lld ", names[q->state], q->tries,
		    (long long)q->next_attempt);
		/* A quoted local part may hold spaces, never a tab. */
		put_field(&b, q->address);
		buf_appendc(&b, '\t');
		put_field(&b, q->last_reply ? q->last_reply : "");
		buf_appendc(&b, '\n');
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		goto out;
	while (off < b.len) {
		ssize_t n = write(fd, b.s + off, b.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			unlink(tmp);
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, final) != 0) {
		int saved = errno;

		unlink(tmp);
		errno = saved;
		goto out;
	}
	r = fsync_dir(dir);
out:
	buf_free(&b);
	return r;
}

int queue_commit(const char *state_dir, const struct maildir_writer *w,
    struct queue_env *env)
{
	const char *name = strrchr(w->final, '/');

	queue_id_from_base(w->base, env->id, sizeof env->id);
	free(env->data);
	env->data = xstrdup(name ? name + 1 : w->final);
	env->size = w->disk;
	return queue_env_save(state_dir, env);
}

void queue_env_add_rcpt(struct queue_env *env, const char *address)
{
	struct queue_rcpt *q;

	env->rcpt = xreallocarray(env->rcpt, env->nrcpt + 1, sizeof *env->rcpt);
	q = &env->rcpt[env->nrcpt++];
	memset(q, 0, sizeof *q);
	q->address = xstrdup(address);
	q->last_reply = xstrdup("");
}

void queue_env_free(struct queue_env *env)
{
	size_t i;

	for (i = 0; i < env->nrcpt; i++) {
		free(env->rcpt[i].address);
		free(env->rcpt[i].last_reply);
	}
	free(env->rcpt);
	free(env->sender);
	free(env->data);
	free(env->client);
	memset(env, 0, sizeof *env);
}

static int parse_rcpt(struct queue_env *env, char *s)
{
	static const char *const names[] = { "pending", "delivered", "failed" };
	char *state = strtok(s, " ");
	char *tries = strtok(NULL, " ");
	char *next = strtok(NULL, " ");
	char *addr = strtok(NULL, "\t");
	char *last = strtok(NULL, "");
	struct queue_rcpt *q;
	size_t i;

	if (state == NULL || tries == NULL || next == NULL || addr == NULL)
		return -1;
	queue_env_add_rcpt(env, addr);
	q = &env->rcpt[env->nrcpt - 1];
	q->state = QUEUE_RCPT_PENDING;
	for (i = 0; i < 3; i++)
		if (strcmp(state, names[i]) == 0)
			q->state = (enum queue_rcpt_state)i;
	q->tries = atoi(tries);
	q->next_attempt = (time_t)strtoll(next, NULL, 10);
	if (last != NULL) {
		free(q->last_reply);
		q->last_reply = xstrdup(last);
	}
	return 0;
}

int queue_env_load(const char *state_dir, const char *id, struct queue_env *env)
{
	char path[PATH_MAX], line[4096];
	const char *sz;
	FILE *f;
	int r = 0;

	memset(env, 0, sizeof *env);
	if (!queue_id_valid(id) || qpath(path, sizeof path, state_dir, "env", id) != 0) {
		errno = EINVAL;
		return -1;
	}
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	str_copy(env->id, sizeof env->id, id);
	if (fgets(line, sizeof line, f) == NULL ||
	    strcmp(line, "ispmaild-queue 1\n") != 0)
		r = -1;
	while (r == 0 && fgets(line, sizeof line, f) != NULL) {
		char *nl = strchr(line, '\n');

		if (nl == NULL) {
			r = -1;
			break;
		}
		*nl = '\0';
		if (strncmp(line, "arrival ", 8) == 0)
			env->arrival = (time_t)strtoll(line + 8, NULL, 10);
		else if (strncmp(line, "sender ", 7) == 0)
			env->sender = xstrdup(line + 7);
		else if (strncmp(line, "data ", 5) == 0)
			env->data = xstrdup(line + 5);
		else if (strncmp(line, "client ", 7) == 0)
			env->client = xstrdup(line + 7);
		else if (strncmp(line, "nobounce ", 9) == 0)
			env->nobounce = 1;
		else if (strncmp(line, "held ", 5) == 0)
			env->held = 1;
		else if (strncmp(line, "rcpt ", 5) == 0)
			r = parse_rcpt(env, line + 5);
	}
	fclose(f);
	if (r == 0 && (env->sender == NULL || env->data == NULL))
		r = -1;
	if (r != 0) {
		queue_env_free(env);
		errno = EINVAL;
		return -1;
	}
	if (env->client == NULL)
		env->client = xstrdup("");
	sz = strstr(env->data, ",S=");
	env->size = sz ? (size_t)strtoull(sz + 3, NULL, 10) : 0;
	return 0;
}

/* "<sec>.M<usec>P..." as two numbers; junk sorts as zero. */
static void id_time(const char *id, long long *sec, long long *usec)
{
	const char *m = strstr(id, ".M");

	*sec = strtoll(id, NULL, 10);
	*usec = m ? strtoll(m + 2, NULL, 10) : 0;
}

static int cmp_ids(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	long long sx, ux, sy, uy;

	id_time(x, &sx, &ux);
	id_time(y, &sy, &uy);
	if (sx != sy)
		return sx < sy ? -1 : 1;
	if (ux != uy)
		return ux < uy ? -1 : 1;
	return strcmp(x, y);
}

int queue_ids(const char *state_dir, char ***ids, size_t *n)
{
	char path[PATH_MAX];
	struct dirent *de;
	size_t cap = 0;
	DIR *d;

	*ids = NULL;
	*n = 0;
	if (qpath(path, sizeof path, state_dir, "env", NULL) != 0)
		return -1;
	if ((d = opendir(path)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_valid(de->d_name))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 32;
			*ids = xreallocarray(*ids, cap, sizeof **ids);
		}
		(*ids)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 1)
		qsort(*ids, *n, sizeof **ids, cmp_ids);
	return 0;
}

void queue_ids_free(char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* Remove data files named for id ("<id>.<host>,S=...") from queue/new. */
static void remove_data_of(const char *state_dir, const char *id)
{
	char dir[PATH_MAX], path[PATH_MAX];
	size_t idlen = strlen(id);
	struct dirent *de;
	DIR *d;

	if (qpath(dir, sizeof dir, state_dir, "new", NULL) != 0 ||
	    (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, id, idlen) == 0 && de->d_name[idlen] == '.' &&
		    str_format(path, sizeof path, "%s/%s", dir, de->d_name) == 0)
			(void)unlink(path);
	closedir(d);
}

int queue_remove(const char *state_dir, const char *id)
{
	struct queue_env env;
	char path[PATH_MAX], dir[PATH_MAX];
	int loaded;

	if (!queue_id_valid(id) || qpath(path, sizeof path, state_dir, "env", id) != 0)
		return 0;
	/* A damaged envelope is removed too; its data is found by name. */
	loaded = queue_env_load(state_dir, id, &env) == 0;
	if (unlink(path) != 0) {
		if (loaded)
			queue_env_free(&env);
		return errno == ENOENT ? 0 : -1;
	}
	if (qpath(dir, sizeof dir, state_dir, "env", NULL) == 0)
		(void)fsync_dir(dir);
	if (loaded && qpath(path, sizeof path, state_dir, "new", env.data) == 0)
		(void)unlink(path);
	else if (!loaded)
		remove_data_of(state_dir, id);
	if (loaded)
		queue_env_free(&env);
	return 1;
}

int queue_wakeup(const char *state_dir, char what)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (qpath(path, sizeof path, state_dir, "wakeup", NULL) != 0)
		return -1;
	fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;	/* ENXIO: no runner reading; it scans on start */
	n = write(fd, &what, 1);
	close(fd);
	return n == 1 ? 0 : -1;
}

long queue_retry_delay(int tries, long retry_min, long retry_max)
{
	long d = retry_min;

	while (--tries > 0 && d < retry_max)
		d = d > retry_max / 2 ? retry_max : d * 2;
	return d < retry_max ? d : retry_max;
}
