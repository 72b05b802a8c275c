/*
 * runner.c: the queue runner and its workers (docs/PROTOCOL.md, the queue). The
 * runner only schedules: it scans queue/env, forks a worker per due
 * message and sleeps until the next retry or a wakeup. A worker delivers
 * one message, domain by domain, records each recipient's fate in the
 * envelope (atomically), bounces what failed, and removes the message
 * once nothing is pending. A worker killed at any point leaves the
 * envelope as it was: at worst a recipient gets the message twice.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "bounce.h"
#include "client.h"
#include "deliver.h"
#include "hops.h"
#include "dns.h"
#include "log.h"
#include "queue.h"
#include "runner.h"
#include "stats.h"

static volatile sig_atomic_t runner_stop;
/* <state_dir>/runner.pid, locked while this runner lives; -1 in workers. */
static int runner_lock_fd = -1;
/* The wakeup FIFO, written by on_child so that poll() returns at once. */
static int runner_wake_fd = -1;
/* The master's SRS secret (runner_run's argument), for the workers' bounces. */
static const struct srs_secret *runner_srs;

static void on_term(int sig)
{
	(void)sig;
	runner_stop = 1;
}

/*
 * Count Received: header lines; a mail loop shows up as too many. DATA
 * refuses such a message already; this catches one that came in some
 * other way (an older version's queue).
 */
static int count_hops(int fd)
{
	char chunk[8192];
	struct smtp_hops h;
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) != 0)
		return 0;
	smtp_hops_init(&h);
	while (!h.done && (n = read(fd, chunk, sizeof chunk)) > 0)
		smtp_hops_feed(&h, chunk, (size_t)n);
	return h.hops;
}

static const char *domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at ? at + 1 : "";
}

/* Where mail for domain goes: its MX hosts, or the smarthost. */
static enum dns_status destination(const struct conf *c, struct dns_resolver *res,
    const char *domain, struct dns_target *t, size_t *nt, char *err, size_t errlen)
{
	char host[256];
	int port, mx;

	if (c->relay.smarthost[0] != '\0' &&
	    conf_smarthost_parse(c->relay.smarthost, host, sizeof host, &port, &mx) == 0)
		return mx ? dns_mx_targets(res, host, port, t, nt, err, errlen) :
		    dns_host_targets(res, host, port, t, nt, err, errlen);
	return dns_mx_targets(res, domain, 25, t, nt, err, errlen);
}

/* RFC 1870 counts CRLF line ends: the W= of the data file, else S=. */
static size_t wire_size(const struct queue_env *env)
{
	const char *w = strstr(env->data, ",W=");

	return w ? (size_t)strtoull(w + 3, NULL, 10) : env->size;
}

/* Record a recipient's fate; deferrals get the next attempt time. */
static void record(const struct conf *c, struct queue_rcpt *q,
    enum smtp_client_fate fate, const char *reply, time_t now)
{
	free(q->last_reply);
	q->last_reply = xstrdup(reply);
	q->tries++;
	if (fate == SMTP_CLIENT_DELIVERED) {
		q->state = QUEUE_RCPT_DELIVERED;
		stats_queue(STAT_QUEUE_SENT);
	} else if (fate == SMTP_CLIENT_FAILED) {
		q->state = QUEUE_RCPT_FAILED;
		stats_queue(STAT_QUEUE_BOUNCED);
	} else {
		stats_queue(STAT_QUEUE_DEFERRED);
		/*
		 * now is the attempt's start in whole seconds, rounded down:
		 * one more, or an attempt at 100.9 s with retry_min 2 would
		 * come back at 102.0 s, 1.1 s later.
		 */
		q->next_attempt = now + 1 + queue_retry_delay(q->tries,
		    c->queue.retry_min, c->queue.retry_max);
	}
}

/* One domain's due recipients of one message, to its destination. */
static void deliver_domain(const struct conf *c, struct queue_env *env,
    const char *domain, int datafd, struct dns_resolver *res, SSL_CTX *tls,
    time_t now)
{
	struct dns_target t[DNS_MAX_TARGETS];
	struct smtp_client_target ct[DNS_MAX_TARGETS];
	struct smtp_client_rcpt *r;
	struct smtp_client_params p;
	size_t *idx, nr = 0, nt = 0, i;
	char err[512] = "";
	enum dns_status st;
	const char *result;

	r = xcalloc(env->nrcpt, sizeof *r);
	idx = xcalloc(env->nrcpt, sizeof *idx);
	for (i = 0; i < env->nrcpt; i++) {
		struct queue_rcpt *q = &env->rcpt[i];

		if (q->state != QUEUE_RCPT_PENDING || q->next_attempt > now ||
		    strcasecmp(domain_of(q->address), domain) != 0)
			continue;
		r[nr].address = q->address;
		r[nr].fate = SMTP_CLIENT_DEFERRED;
		idx[nr++] = i;
	}
	st = destination(c, res, domain, t, &nt, err, sizeof err);
	if (st == DNS_OK) {
		for (i = 0; i < nt; i++) {
			str_copy(ct[i].host, sizeof ct[i].host, t[i].host);
			ct[i].addr = t[i].addr;
			ct[i].addrlen = t[i].addrlen;
		}
		memset(&p, 0, sizeof p);
		p.helo = c->hostname;
		p.timeout = (int)c->limits.command_timeout;
		p.data_timeout = (int)c->limits.data_timeout;
		p.deadline = (int)c->queue.delivery_timeout;
		p.tls = tls;
		p.id = env->id;
		smtp_client_send(&p, ct, nt, env->sender, r, nr, datafd,
		    wire_size(env));
	} else {
		enum smtp_client_fate fate = st == DNS_TEMP ? SMTP_CLIENT_DEFERRED :
		    SMTP_CLIENT_FAILED;
		char reply[600];

		if (st == DNS_NULL_MX)
			snprintf(reply, sizeof reply, "556 5.1.10 Domain %s does not accept mail (null MX)", domain);
		else if (st == DNS_PERM)
			snprintf(reply, sizeof reply, "550 5.1.2 Domain %s not found: %s", domain, err);
		else
			snprintf(reply, sizeof reply, "451 4.4.3 Domain %s: %s", domain, err);
		for (i = 0; i < nr; i++) {
			r[i].fate = fate;
			str_copy(r[i].reply, sizeof r[i].reply, reply);
		}
	}
	for (i = 0; i < nr; i++) {
		record(c, &env->rcpt[idx[i]], r[i].fate, r[i].reply, now);
		result = r[i].fate == SMTP_CLIENT_DELIVERED ? "sent" :
		    r[i].fate == SMTP_CLIENT_FAILED ? "bounced" : "deferred";
		log_info("delivery id=%s to=%s result=%s tries=%d reply=\"%s\"",
		    env->id, log_qaddr(r[i].address), result, env->rcpt[idx[i]].tries,
		    r[i].reply);
	}
	free(r);
	free(idx);
}

/* A due recipient in one of our domains: one a released quarantine held. */
static int rcpt_is_local(const struct conf *c, const struct queue_rcpt *q, time_t now)
{
	const char *d = domain_of(q->address);

	return q->state == QUEUE_RCPT_PENDING && q->next_attempt <= now &&
	    conf_is_local_domain(c, d, strlen(d));
}

/*
 * The reply a local recipient's copy keeps while its mailbox is full;
 * at queue.max_age the DSN says 5.2.2 and quotes it (bounce_status).
 */
#define RUNNER_MAILBOX_FULL "452 4.2.2 Mailbox full: the mailbox is over its quota"

/*
 * The local recipients of a released message (deliver_hold kept them in
 * the queue), or of a copy an alias sent to a full mailbox (recipient.h,
 * rcpt_queue_full), to their Maildirs through the one delivery function:
 * the data file is the header block and body as stored, Return-Path
 * added as for any local copy. A mailbox still full (the one quota test,
 * rcpt_mailbox_full) is deferred with RUNNER_MAILBOX_FULL. A failure
 * defers them all (the copies already stored may be stored again at the
 * retry: a duplicate, never a loss).
 */
static void deliver_local(const struct conf *c, struct queue_env *env, int datafd,
    time_t now)
{
	struct rcpt_set set = { 0 };
	struct delivery d;
	struct deliver_result res;
	struct buf none = BUF_INIT;
	char buf[65536];
	size_t i, k;
	off_t off = 0;
	ssize_t n;
	char why[300];
	int r = -1;

	set.local = xcalloc(env->nrcpt, sizeof *set.local);
	for (i = 0; i < env->nrcpt; i++) {
		struct queue_rcpt *q = &env->rcpt[i];

		if (!rcpt_is_local(c, q, now))
			continue;
		if (rcpt_mailbox_full(c, q->address)) {
			/* record() moves its next attempt on: not due below. */
			record(c, q, SMTP_CLIENT_DEFERRED, RUNNER_MAILBOX_FULL, now);
			log_info("delivery id=%s to=%s result=deferred tries=%d reason=quota",
			    env->id, log_qaddr(q->address), q->tries);
			continue;
		}
		set.local[set.nlocal++] = q->address;
	}
	if (set.nlocal == 0) {
		free(set.local);
		return;
	}
	if (deliver_open(&d, c, &set, env->sender, env->client) == 0) {
		while ((n = pread(datafd, buf, sizeof buf, off)) > 0 &&
		    deliver_body_write(&d, buf, (size_t)n) == 0)
			off += n;
		if (n != 0)
			deliver_abort(&d);
		else
			r = deliver_commit(&d, &none, &res);
	}
	snprintf(why, sizeof why, "451 4.3.0 local delivery failed: %s", strerror(errno));
	for (i = 0, k = 0; i < env->nrcpt; i++) {
		struct queue_rcpt *q = &env->rcpt[i];

		if (!rcpt_is_local(c, q, now))
			continue;
		record(c, q, r == 0 ? SMTP_CLIENT_DELIVERED : SMTP_CLIENT_DEFERRED,
		    r == 0 ? "delivered to the mailbox" : why, now);
		log_info("delivery id=%s to=%s result=%s tries=%d", env->id,
		    log_qaddr(set.local[k++]), r == 0 ? "delivered" : "deferred", q->tries);
	}
	free(set.local);
}

static void fail_pending(struct queue_env *env, const char *reply)
{
	size_t i;

	for (i = 0; i < env->nrcpt; i++) {
		struct queue_rcpt *q = &env->rcpt[i];

		if (q->state != QUEUE_RCPT_PENDING)
			continue;
		q->state = QUEUE_RCPT_FAILED;
		stats_queue(STAT_QUEUE_BOUNCED);
		if (q->last_reply[0] == '\0' || strcmp(reply, "expired") != 0) {
			free(q->last_reply);
			q->last_reply = xstrdup(reply);
		} else {
			char *r = xmalloc(strlen(q->last_reply) + 64);

			snprintf(r, strlen(q->last_reply) + 64,
			    "delivery time expired; last reply: %s", q->last_reply);
			free(q->last_reply);
			q->last_reply = r;
		}
		log_info("delivery id=%s to=%s result=bounced reply=\"%s\"",
		    env->id, log_qaddr(q->address), q->last_reply);
	}
}

int runner_deliver(const struct conf *c, const char *id)
{
	struct queue_env env;
	struct dns_resolver *res;
	SSL_CTX *tls;
	char path[PATH_MAX], err[256];
	time_t now = time(NULL);
	size_t i, j, pending = 0, failed = 0;
	int fd;

	if (queue_env_load(c->state_dir, id, &env) != 0) {
		log_error("queue id=%s result=error reason=\"envelope: %s\"", id, strerror(errno));
		return -1;
	}
	if (str_format(path, sizeof path, "%s/queue/new/%s", c->state_dir, env.data) != 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		log_error("queue id=%s result=error reason=\"data file: %s\"", id, strerror(errno));
		queue_env_free(&env);
		return -1;
	}
	/*
	 * One worker per message, even across a runner restart: a worker of
	 * a killed runner holds this lock until its SIGTERM has ended it.
	 */
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_info("queue id=%s result=busy reason=\"another worker has it\"", id);
		close(fd);
		queue_env_free(&env);
		return 0;
	}
	/* The envelope may have changed while we waited for nothing: reload. */
	queue_env_free(&env);
	if (queue_env_load(c->state_dir, id, &env) != 0) {
		close(fd);
		return 0;	/* delivered and removed meanwhile */
	}
	if (env.held) {
		log_info("queue id=%s result=held", id);	/* quarantined meanwhile */
	} else if (now - env.arrival >= c->queue.max_age) {
		fail_pending(&env, "expired");
	} else if (count_hops(fd) > SMTP_HOPS_MAX) {
		fail_pending(&env, "554 5.4.6 Too many hops: mail loop");
	} else if ((res = dns_resolver_new(c->dns_nameserver, err, sizeof err)) == NULL) {
		log_error("queue id=%s result=error reason=\"resolver: %s\"", id, log_qtext(err));
	} else {
		deliver_local(c, &env, fd, now);
		tls = smtp_client_tls_ctx();
		for (i = 0; i < env.nrcpt; i++) {
			const char *d = domain_of(env.rcpt[i].address);
			int seen = 0;

			if (env.rcpt[i].state != QUEUE_RCPT_PENDING ||
			    env.rcpt[i].next_attempt > now)
				continue;
			for (j = 0; j < i && !seen; j++)
				seen = env.rcpt[j].state == QUEUE_RCPT_PENDING &&
				    env.rcpt[j].next_attempt <= now &&
				    strcasecmp(domain_of(env.rcpt[j].address), d) == 0;
			if (!seen)
				deliver_domain(c, &env, d, fd, res, tls, now);
		}
		SSL_CTX_free(tls);
		dns_resolver_free(res);
	}
	for (i = 0; i < env.nrcpt; i++) {
		pending += env.rcpt[i].state == QUEUE_RCPT_PENDING;
		failed += env.rcpt[i].state == QUEUE_RCPT_FAILED;
	}
	if (pending > 0) {
		if (queue_env_save(c->state_dir, &env) != 0)
			log_error("queue id=%s result=error reason=\"save: %s\"", id, strerror(errno));
	} else {
		/* Bounce first: a crash in between re-bounces, never loses. */
		if (queue_env_save(c->state_dir, &env) != 0 ||
		    (failed > 0 && bounce_send(c, &env, fd, runner_srs) != 0)) {
			log_error("queue id=%s result=error reason=\"bounce: %s\"", id, strerror(errno));
		} else {
			queue_remove(c->state_dir, id);
			log_info("queue id=%s result=removed failed=%zu", id, failed);
		}
	}
	close(fd);
	queue_env_free(&env);
	return 0;
}

/* A worker finished: wake the loop to reap it and start the next one. */
static void on_child(int sig)
{
	int saved = errno;

	(void)sig;
	if (runner_wake_fd >= 0)
		(void)write(runner_wake_fd, "c", 1);
	errno = saved;
}

struct worker {
	pid_t pid;
	char id[QUEUE_ID_MAX];
	char **domains;		/* the destinations it is delivering to */
	size_t ndomains;
};

static struct worker workers[RUNNER_WORKERS_MAX];
static size_t nworkers;

static int busy(const char *id)
{
	size_t i;

	for (i = 0; i < nworkers; i++)
		if (strcmp(workers[i].id, id) == 0)
			return 1;
	return 0;
}

static void domains_free(char **domains, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(domains[i]);
	free(domains);
}

/* Returns how many workers finished. */
static int reap_workers(void)
{
	pid_t pid;
	size_t i;
	int n = 0;

	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		n++;
		if (WIFSIGNALED(status))
			log_warn("worker pid=%ld signal=%d", (long)pid, WTERMSIG(status));
		for (i = 0; i < nworkers; i++)
			if (workers[i].pid == pid) {
				domains_free(workers[i].domains, workers[i].ndomains);
				workers[i] = workers[--nworkers];
				break;
			}
	}
	return n;
}

/* 'f': every pending recipient is due now. */
static void flush_all(const struct conf *c)
{
	char **ids;
	size_t n, i, j;

	if (queue_ids(c->state_dir, &ids, &n) != 0)
		return;
	for (i = 0; i < n; i++) {
		struct queue_env env;
		int changed = 0;

		if (busy(ids[i]) || queue_env_load(c->state_dir, ids[i], &env) != 0)
			continue;
		for (j = 0; j < env.nrcpt; j++)
			if (env.rcpt[j].state == QUEUE_RCPT_PENDING &&
			    env.rcpt[j].next_attempt != 0) {
				env.rcpt[j].next_attempt = 0;
				changed = 1;
			}
		if (changed)
			(void)queue_env_save(c->state_dir, &env);
		queue_env_free(&env);
	}
	queue_ids_free(ids, n);
	log_info("flush messages=%zu", n);
}

/* The distinct domains of env's recipients due at now, for the worker. */
static void due_domains(const struct queue_env *env, time_t now, char ***out, size_t *n)
{
	size_t i, j;

	*out = xcalloc(env->nrcpt + 1, sizeof **out);
	*n = 0;
	for (i = 0; i < env->nrcpt; i++) {
		const char *d = domain_of(env->rcpt[i].address);
		int seen = 0;

		if (env->rcpt[i].state != QUEUE_RCPT_PENDING || env->rcpt[i].next_attempt > now)
			continue;
		for (j = 0; j < *n && !seen; j++)
			seen = strcasecmp((*out)[j], d) == 0;
		if (!seen)
			(*out)[(*n)++] = xstrdup(d);
	}
}

/*
 * A domain of the message that already has RUNNER_PER_DESTINATION
 * workers, or NULL when the message may start now.
 */
static const char *destination_busy(const struct conf *c, char **domains, size_t n)
{
	size_t i, w, k, count;

	if (c->relay.smarthost[0] != '\0')
		return NULL;
	for (i = 0; i < n; i++) {
		count = 0;
		for (w = 0; w < nworkers; w++)
			for (k = 0; k < workers[w].ndomains; k++)
				if (strcasecmp(workers[w].domains[k], domains[i]) == 0) {
					count++;
					break;
				}
		if (count >= RUNNER_PER_DESTINATION)
			return domains[i];
	}
	return NULL;
}

/* Start workers for due messages; returns seconds until the next is due. */
static long schedule(const struct conf *c)
{
	time_t now = time(NULL), next = now + 60;
	pid_t runner_pid = getpid();
	char **ids;
	size_t n, i, j;

	if (queue_ids(c->state_dir, &ids, &n) != 0)
		return 60;
	for (i = 0; i < n; i++) {
		struct queue_env env;
		time_t due = now;	/* nothing pending: a worker finishes it */
		int any = 0;
		pid_t pid;
		char **domains;
		size_t ndomains;
		const char *full;

		if (busy(ids[i]) || queue_env_load(c->state_dir, ids[i], &env) != 0)
			continue;
		/* Held (quarantined): neither delivered nor expired until released. */
		if (env.held) {
			queue_env_free(&env);
			continue;
		}
		for (j = 0; j < env.nrcpt; j++) {
			if (env.rcpt[j].state != QUEUE_RCPT_PENDING)
				continue;
			if (!any || env.rcpt[j].next_attempt < due)
				due = env.rcpt[j].next_attempt;
			any = 1;
		}
		if (env.arrival + c->queue.max_age < due)
			due = env.arrival + c->queue.max_age;
		if (due > now) {
			queue_env_free(&env);
			if (due < next)
				next = due;
			continue;
		}
		if (nworkers == RUNNER_WORKERS_MAX) {
			queue_env_free(&env);
			next = now + 1;
			continue;
		}
		due_domains(&env, now, &domains, &ndomains);
		queue_env_free(&env);
		if ((full = destination_busy(c, domains, ndomains)) != NULL) {
			log_debug("queue id=%s result=waiting reason=\"destination busy\" domain=%s",
			    ids[i], full);
			domains_free(domains, ndomains);
			next = now + 1;
			continue;
		}
		pid = fork();
		if (pid < 0) {
			log_error("queue fork reason=\"%s\"", strerror(errno));
			domains_free(domains, ndomains);
			next = now + 5;
			break;
		}
		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGCHLD, SIG_DFL);
			/* A worker ends with its runner, and never holds its lock. */
			if (runner_follow_parent(runner_pid) != 0)
				_exit(0);
			close(runner_lock_fd);
			runner_lock_fd = -1;
			runner_wake_fd = -1;
			log_set_id(NULL);
			domains_free(domains, ndomains);
			runner_deliver(c, ids[i]);
			queue_ids_free(ids, n);
			exit(0);
		}
		workers[nworkers].pid = pid;
		workers[nworkers].domains = domains;
		workers[nworkers].ndomains = ndomains;
		str_copy(workers[nworkers].id, sizeof workers[nworkers].id, ids[i]);
		nworkers++;
	}
	queue_ids_free(ids, n);
	return next > now ? (long)(next - now) : 1;
}

int runner_follow_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
		log_warn("prctl reason=\"%s\"", strerror(errno));
	/* The parent may have died before the request: then no signal comes. */
	return getppid() == parent ? 0 : -1;
}

/* The pid a runner wrote into runner.pid; 0 when there is none. */
static pid_t lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 1 && pid <= INT_MAX ? (pid_t)pid : 0;
}

/*
 * Stop the stale runner that holds runner.pid locked (one whose master was
 * killed by an older version, or before PR_SET_PDEATHSIG took effect):
 * SIGTERM, SIGKILL after 10 s. Returns 0 once we hold the lock.
 */
static int lock_take_over(int fd)
{
	pid_t pid = lock_holder(fd);
	int i;

	if (pid == 0 || pid == getpid() || pid == getppid()) {
		log_error("stale runner pid=%ld result=error reason=\"runner.pid is locked, no pid to stop\"",
		    (long)pid);
		return -1;
	}
	if (kill(pid, SIGTERM) != 0) {
		log_error("stale runner pid=%ld result=error reason=\"%s\"", (long)pid,
		    strerror(errno));
		return -1;
	}
	log_warn("stale runner pid=%ld result=stopping signal=%d", (long)pid, SIGTERM);
	for (i = 1; !runner_stop; i++) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			log_warn("stale runner pid=%ld result=stopped", (long)pid);
			return 0;
		}
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		if (i == 100) {
			log_warn("stale runner pid=%ld result=stopping signal=%d", (long)pid, SIGKILL);
			(void)kill(pid, SIGKILL);
		} else if (i == 150) {
			errno = EWOULDBLOCK;
			break;
		}
		nanosleep(&ts, NULL);
	}
	log_error("stale runner pid=%ld result=error reason=\"%s\"", (long)pid,
	    runner_stop ? "stopped meanwhile" : strerror(errno));
	return -1;
}

/*
 * Take <state_dir>/runner.pid: locked for this runner's life with its pid
 * in it, so that the next daemon can find and stop a runner that outlived
 * its master. Returns the fd, or -1 (logged).
 */
static int runner_lock(const struct conf *c)
{
	char path[PATH_MAX], pid[32];
	int fd, n;

	if (str_format(path, sizeof path, "%s/runner.pid", c->state_dir) != 0) {
		log_error("queue lock reason=\"path too long\"");
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		log_error("queue lock=%s reason=\"%s\"", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0 &&
	    (errno != EWOULDBLOCK || lock_take_over(fd) != 0)) {
		close(fd);
		return -1;
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("queue lock=%s reason=\"%s\"", path, strerror(errno));
	return fd;
}

int runner_run(const struct conf *c, const struct srs_secret *srs)
{
	char path[PATH_MAX], buf[64];
	struct sigaction sa;
	struct pollfd pfd;
	int fifo, flush = 0;
	time_t next_scan = 0;
	pid_t master = getppid();
	size_t i;

	runner_srs = srs;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	log_set_id("queue");
	if (queue_dirs_make(c->state_dir) != 0 ||
	    str_format(path, sizeof path, "%s/queue/wakeup", c->state_dir) != 0) {
		log_error("queue result=error reason=\"%s\"", strerror(errno));
		return 1;
	}
	if (mkfifo(path, 0600) != 0 && errno != EEXIST) {
		log_error("queue fifo=%s reason=\"%s\"", path, strerror(errno));
		return 1;
	}
	/* O_RDWR: the FIFO never reads EOF when the last writer leaves. */
	if ((fifo = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		log_error("queue fifo=%s reason=\"%s\"", path, strerror(errno));
		return 1;
	}
	if ((runner_lock_fd = runner_lock(c)) < 0) {
		close(fifo);
		return 1;
	}
	runner_wake_fd = fifo;
	sa.sa_handler = on_child;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	log_info("runner started");
	while (!runner_stop) {
		if (reap_workers() > 0)
			next_scan = 0;
		if (flush) {
			flush_all(c);
			flush = 0;
			next_scan = 0;
		}
		/* The queue is read only when something may be due. */
		if (time(NULL) >= next_scan)
			next_scan = time(NULL) + schedule(c);
		pfd.fd = fifo;
		pfd.events = POLLIN;
		/* Wake every second to reap workers and see SIGTERM. */
		if (poll(&pfd, 1, 1000) > 0) {
			ssize_t n;

			while ((n = read(fifo, buf, sizeof buf)) > 0)
				if (memchr(buf, 'f', (size_t)n) != NULL)
					flush = 1;
			next_scan = 0;
		}
	}
	for (i = 0; i < nworkers; i++)
		kill(workers[i].pid, SIGTERM);
	while (nworkers > 0 && waitpid(-1, NULL, 0) > 0)
		reap_workers();
	close(fifo);
	close(runner_lock_fd);
	runner_lock_fd = -1;
	/* PR_SET_PDEATHSIG's SIGTERM: say so, the admin may wonder. */
	if (getppid() != master)
		log_info("runner stopped reason=master-gone");
	else
		log_info("runner stopped");
	return 0;
}
