/*
 * status.c: the numbers behind ispmailctl status and GET /metrics. Both
 * print the same snapshot, so what an admin reads and what the monitoring
 * graphs can never disagree.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "queue.h"
#include "state.h"
#include "status.h"

void status_collect(const struct conf *c, int with_relay, struct status *st)
{
	const struct stats_shm *shm;
	char **ids;
	size_t n, i;

	memset(st, 0, sizeof *st);
	st->now = time(NULL);
	st->relay_entries = -1;
	if ((shm = stats_open_readonly(c->state_dir)) != NULL) {
		st->stats = *shm;
		st->have_stats = 1;
		stats_close_readonly(shm);
		st->running = st->stats.master_pid > 0 &&
		    (kill(st->stats.master_pid, 0) == 0 || errno == EPERM);
	}
	if (queue_ids(c->state_dir, &ids, &n) == 0) {
		for (i = 0; i < n; i++) {
			struct queue_env env;

			if (queue_env_load(c->state_dir, ids[i], &env) != 0)
				continue;
			st->queue_messages++;
			if (st->queue_oldest == 0 || env.arrival < st->queue_oldest)
				st->queue_oldest = env.arrival;
			queue_env_free(&env);
		}
		queue_ids_free(ids, n);
	}
	if (with_relay) {
		struct state *sh = state_new(c);

		if (sh != NULL) {
			st->state_backend = state_backend_name(sh);
			if ((st->relay_entries = state_auth_count(sh)) < 0)
				(void)str_copy(st->state_error, sizeof st->state_error,
				    state_strerror(sh));
		}
		state_free(sh);
	}
}

static const char *const counter_names[STAT_COUNTER_KINDS] = {
	"connections", "refused", "logins ok", "logins failed",
	"delivered", "queued",
};

void status_text(const struct status *st, struct buf *out)
{
	const struct stats_shm *s = &st->stats;
	int svc, k;

	if (!st->have_stats) {
		buf_appends(out, "daemon: no statistics (not started yet?)\n");
	} else {
		buf_printf(out, "daemon: %s pid %d, up %llds\n",
		    st->running ? "running" : "not running", (int)s->master_pid,
		    st->running ? (long long)(st->now - s->started) : 0LL);
		buf_appends(out, "sessions now:");
		for (svc = 0; svc < SERVICE_COUNT; svc++)
			buf_printf(out, " %s=%u", conf_service_name((enum service)svc),
			    s->sessions[svc]);
		buf_appendc(out, '\n');
	}
	buf_printf(out, "queue: %zu messages", st->queue_messages);
	if (st->queue_oldest)
		buf_printf(out, ", oldest %llds", (long long)(st->now - st->queue_oldest));
	buf_appendc(out, '\n');
	if (st->state_backend != NULL && strcmp(st->state_backend, "redis") == 0)
		buf_printf(out, "shared state: redis, %s%s\n",
		    st->relay_entries >= 0 ? "reachable" : "unreachable: ",
		    st->relay_entries >= 0 ? "" : st->state_error);
	if (st->relay_entries >= 0)
		buf_printf(out, "relay table: %ld entries\n", st->relay_entries);
	if (!st->have_stats)
		return;
	buf_appends(out, "since start:\n");
	for (k = 0; k < STAT_COUNTER_KINDS; k++) {
		buf_printf(out, "  %-14s", counter_names[k]);
		for (svc = 0; svc < SERVICE_COUNT; svc++)
			buf_printf(out, " %s=%llu", conf_service_name((enum service)svc),
			    (unsigned long long)s->counter[k][svc]);
		buf_appendc(out, '\n');
	}
	buf_appends(out, "  rejected      ");
	for (k = 0; k < STAT_REJECT_KINDS; k++)
		buf_printf(out, " %s=%llu", stats_reject_name((enum stats_reject)k),
		    (unsigned long long)s->reject[k]);
	buf_appends(out, "\n  outbound      ");
	for (k = 0; k < STAT_QUEUE_KINDS; k++)
		buf_printf(out, " %s=%llu", stats_queue_name((enum stats_queue)k),
		    (unsigned long long)s->queue[k]);
	buf_appends(out, "\n  closed        ");
	for (k = 0; k < STAT_CLOSE_KINDS; k++)
		buf_printf(out, " %s=%llu", stats_close_name((enum stats_close)k),
		    (unsigned long long)s->closed[k]);
	buf_appendc(out, '\n');
}

static void metric_head(struct buf *out, const char *name, const char *type,
    const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void status_prometheus(const struct status *st, struct buf *out)
{
	static const char *const names[STAT_COUNTER_KINDS] = {
		"ispmaild_connections_total", "ispmaild_connections_refused_total",
		"ispmaild_logins_total", "ispmaild_logins_failed_total",
		"ispmaild_messages_delivered_total", "ispmaild_messages_queued_total",
	};
	static const char *const helps[STAT_COUNTER_KINDS] = {
		"Connections accepted, by service.",
		"Connections refused over max_connections or max_per_ip.",
		"Successful logins (POP3 and SMTP AUTH), by service.",
		"Failed logins, by service.",
		"Messages written into local Maildirs, by service.",
		"Messages queued for relay, by service.",
	};
	const struct stats_shm *s = &st->stats;
	int svc, k;

	metric_head(out, "ispmaild_up", "gauge", "1 when the master process is running.");
	buf_printf(out, "ispmaild_up %d\n", st->running);
	if (st->have_stats) {
		metric_head(out, "ispmaild_start_time_seconds", "gauge",
		    "Start time of the master, unix seconds.");
		buf_printf(out, "ispmaild_start_time_seconds %lld\n", (long long)s->started);
		metric_head(out, "ispmaild_sessions", "gauge", "Sessions open now, by service.");
		for (svc = 0; svc < SERVICE_COUNT; svc++)
			buf_printf(out, "ispmaild_sessions{service=\"%s\"} %u\n",
			    conf_service_name((enum service)svc), s->sessions[svc]);
		for (k = 0; k < STAT_COUNTER_KINDS; k++) {
			metric_head(out, names[k], "counter", helps[k]);
			for (svc = 0; svc < SERVICE_COUNT; svc++)
				buf_printf(out, "%s{service=\"%s\"} %llu\n", names[k],
				    conf_service_name((enum service)svc),
				    (unsigned long long)s->counter[k][svc]);
		}
		metric_head(out, "ispmaild_rcpt_rejected_total", "counter",
		    "Refused MAIL, RCPT and DATA, by reason.");
		for (k = 0; k < STAT_REJECT_KINDS; k++)
			buf_printf(out, "ispmaild_rcpt_rejected_total{reason=\"%s\"} %llu\n",
			    stats_reject_name((enum stats_reject)k),
			    (unsigned long long)s->reject[k]);
		metric_head(out, "ispmaild_outbound_total", "counter",
		    "Outbound delivery results per recipient, and bounces sent or suppressed.");
		for (k = 0; k < STAT_QUEUE_KINDS; k++)
			buf_printf(out, "ispmaild_outbound_total{result=\"%s\"} %llu\n",
			    stats_queue_name((enum stats_queue)k),
			    (unsigned long long)s->queue[k]);
		metric_head(out, "ispmaild_sessions_closed_total", "counter",
		    "Sessions the server ended at a limit, by reason.");
		for (k = 0; k < STAT_CLOSE_KINDS; k++)
			buf_printf(out, "ispmaild_sessions_closed_total{reason=\"%s\"} %llu\n",
			    stats_close_name((enum stats_close)k),
			    (unsigned long long)s->closed[k]);
	}
	metric_head(out, "ispmaild_queue_messages", "gauge", "Messages in the outbound queue.");
	buf_printf(out, "ispmaild_queue_messages %zu\n", st->queue_messages);
	metric_head(out, "ispmaild_queue_oldest_seconds", "gauge",
	    "Age of the oldest queued message (0 when empty).");
	buf_printf(out, "ispmaild_queue_oldest_seconds %lld\n",
	    st->queue_oldest ? (long long)(st->now - st->queue_oldest) : 0LL);
	if (st->relay_entries >= 0) {
		metric_head(out, "ispmaild_relay_entries", "gauge",
		    "Addresses in the POP-before-SMTP table.");
		buf_printf(out, "ispmaild_relay_entries %ld\n", st->relay_entries);
	}
	if (st->state_backend != NULL) {
		metric_head(out, "ispmaild_state_up", "gauge",
		    "1 when the shared state (relay.backend) answered.");
		buf_printf(out, "ispmaild_state_up{backend=\"%s\"} %d\n", st->state_backend,
		    st->relay_entries >= 0);
	}
}
