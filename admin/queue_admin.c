/*
 * queue_admin.c: ispmailctl queue release (admin/queue_admin.h). The
 * runner skips held messages, so no worker rewrites this envelope while
 * we do.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "queue.h"
#include "queue_admin.h"
#include "buf.h"

int admin_queue_release(const struct conf *c, const char *id, char *err, size_t errlen)
{
	struct queue_env env;
	int r;

	if (!queue_id_valid(id)) {
		(void)str_copy(err, errlen, "not a queue id");
		return -1;
	}
	if (queue_env_load(c->state_dir, id, &env) != 0) {
		if (errno == ENOENT)
			return 0;
		(void)str_copy(err, errlen, strerror(errno));
		return -1;
	}
	if (!env.held) {
		queue_env_free(&env);
		(void)str_copy(err, errlen, "not held");
		return -1;
	}
	env.held = 0;
	/* The time it waited held is not counted against queue.max_age. */
	env.arrival = time(NULL);
	r = queue_env_save(c->state_dir, &env);
	if (r != 0)
		(void)str_copy(err, errlen, strerror(errno));
	queue_env_free(&env);
	if (r != 0)
		return -1;
	(void)queue_wakeup(c->state_dir, 'n');
	return 1;
}
