/*
 * queue_admin.c: the queue for administrators (admin/queue_admin.h), over
 * queue/queue.c's files. The runner skips held messages, so no worker
 * rewrites an envelope while a release does.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "queue.h"
#include "queue_admin.h"
#include "sys.h"

const char *admin_queue_state_name(enum queue_rcpt_state s)
{
	static const char *const names[] = { "pending", "delivered", "failed" };

	if ((unsigned)s >= sizeof names / sizeof names[0])
		return "unknown";
	return names[s];
}

long admin_queue_list(const struct conf *c, int (*each)(struct queue_env *env, void *arg),
    void *arg, char *err, size_t errlen)
{
	char **ids;
	size_t n, i;
	int stop = 0;

	if (queue_ids(c->state_dir, &ids, &n) != 0) {
		seterr(err, errlen, "%s/queue: %s", c->state_dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n && !stop; i++) {
		struct queue_env env;

		if (queue_env_load(c->state_dir, ids[i], &env) != 0)
			continue;	/* removed meanwhile, or not ours */
		stop = each(&env, arg);
		queue_env_free(&env);
	}
	queue_ids_free(ids, n);
	return (long)n;
}

/* No runner: every pending recipient of every message due now. */
static int queue_make_due(const struct conf *c, size_t *due, char *err, size_t errlen)
{
	char **ids;
	size_t n, i, j;

	if (queue_ids(c->state_dir, &ids, &n) != 0) {
		seterr(err, errlen, "%s/queue: %s", c->state_dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct queue_env env;

		if (queue_env_load(c->state_dir, ids[i], &env) != 0)
			continue;
		for (j = 0; j < env.nrcpt; j++)
			if (env.rcpt[j].state == QUEUE_RCPT_PENDING)
				env.rcpt[j].next_attempt = 0;
		(void)queue_env_save(c->state_dir, &env);
		queue_env_free(&env);
	}
	queue_ids_free(ids, n);
	*due = n;
	return 0;
}

int admin_queue_flush(const struct conf *c, const char *actor, int *runner, size_t *due,
    char *err, size_t errlen)
{
	*due = 0;
	*runner = queue_wakeup(c->state_dir, 'f') == 0;
	if (!*runner && queue_make_due(c, due, err, errlen) == -1)
		return -1;
	log_info("admin action=queue-flush runner=%s by=%s", *runner ? "asked" : "none",
	    log_q(actor));
	return 0;
}

int admin_queue_delete(const struct conf *c, const char *id, const char *actor,
    char *err, size_t errlen)
{
	int r;

	if (!queue_id_valid(id)) {
		seterr(err, errlen, "queue del: %s: not a queue id", id);
		return -1;
	}
	r = queue_remove(c->state_dir, id);
	if (r < 0)
		seterr(err, errlen, "queue del: %s: %s", id, strerror(errno));
	else if (r == 0)
		seterr(err, errlen, "queue del: %s: no such message", id);
	if (r != 1)
		return -1;
	log_info("admin action=queue-delete id=%s by=%s", id, log_q(actor));
	return 0;
}

/* The held mark off, arrival now: 1 done, 0 no such message, -2 not held, -1 (errno). */
static int queue_unhold(const struct conf *c, const char *id)
{
	struct queue_env env;
	int r;

	if (queue_env_load(c->state_dir, id, &env) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!env.held) {
		queue_env_free(&env);
		return -2;
	}
	env.held = 0;
	/* The time it waited held is not counted against queue.max_age. */
	env.arrival = time(NULL);
	r = queue_env_save(c->state_dir, &env);
	queue_env_free(&env);
	return r == 0 ? 1 : -1;
}

int admin_queue_release(const struct conf *c, const char *id, const char *actor,
    char *err, size_t errlen)
{
	int r;

	if (!queue_id_valid(id)) {
		seterr(err, errlen, "queue release: %s: not a queue id", id);
		return -1;
	}
	r = queue_unhold(c, id);
	if (r == 0)
		seterr(err, errlen, "queue release: %s: no such message", id);
	else if (r == -2)
		seterr(err, errlen, "queue release: %s: not held", id);
	else if (r == -1)
		seterr(err, errlen, "queue release: %s: %s", id, strerror(errno));
	if (r != 1)
		return -1;
	(void)queue_wakeup(c->state_dir, 'n');
	log_info("admin action=queue-release id=%s by=%s", id, log_q(actor));
	return 0;
}
