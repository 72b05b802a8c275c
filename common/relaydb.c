/*
 * relaydb.c: the POP-before-SMTP relay table (docs/PROTOCOL.md, files): a
 * Berkeley DB 5.3 hash, <state_dir>/relay.db, in a transactional environment
 * in state_dir that every forked session opens for itself.
 *
 * Crash safety. Berkeley DB keeps its mutexes and lock tables in shared
 * memory. A process killed (SIGKILL) inside the library can leave a mutex or
 * a lock held for good, and the others then sleep inside the library where
 * no lock timeout reaches them: DB_ENV->failchk can detect the dead process
 * but cannot wake them (tried: with failchk, DB_REGISTER and 1 s lock
 * timeouts, most writers that were open when a writer was killed hung).
 * So every call into the library is made holding an fcntl(2) lock on byte 0
 * of relay.db.lock, which the kernel drops when its holder dies, and with
 * the holder's pid written in that file ("busy") until it is done. The next
 * process to take the lock and find a pid there knows its holder died
 * inside the library, and runs recovery (DB_RECOVER): that panics and
 * replaces the shared regions, replays the log, and bumps a generation
 * number in relay.db.lock, so that every process still holding the old
 * environment discards it and joins the new one on its next call. Nobody
 * ever waits on a dead process except in fcntl(2), and every wait is
 * bounded (RELAYDB_WAIT_SECONDS).
 *
 * Each process holds a read lock on byte 1 while its handle is open. The
 * first process to open the environment when nobody holds byte 1 (daemon
 * start, after a crash or a reboot) runs recovery too; the last one to
 * close it takes a checkpoint, so relay.db on its own is complete (db_dump
 * -p shows it). Between those, DB_ENV->failchk (with set_isalive and
 * set_thread_count) releases what processes that died outside the library
 * left in the environment (thread slots, handle locks, file registrations).
 *
 * Durability: each change is one transaction committed with
 * DB_TXN_WRITE_NOSYNC: written to the log file before the call returns, so
 * a crashed process loses nothing; a power loss may lose the last logins,
 * which costs a customer one more POP3 check. Checkpoints every 256 KB of
 * log and DB_LOG_AUTO_REMOVE keep the log small.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <db.h>

#include "buf.h"
#include "ratelimit.h"
#include "relaydb.h"
#include "sys.h"

#define RELAYDB_FILE "relay.db"
#define RELAYDB_LOCKFILE "relay.db.lock"
#define RELAYDB_MAGIC "RELAYDB1"

/* "<19 digits> <user>" */
#define RELAYDB_VALUE_MAX (20 + 1 + RELAYDB_USER_MAX)

/* Byte ranges locked in relay.db.lock. */
#define LOCK_OP 0		/* write lock around every library call */
#define LOCK_PRESENCE 1		/* read lock while a handle is open */

/* Environment tuning. */
#define RELAYDB_THREADS 1024		/* thread slots: live processes */
#define RELAYDB_LOCK_TIMEOUT 1000000	/* microseconds */
#define RELAYDB_LOG_FILE_MAX (1024 * 1024)
#define RELAYDB_CHECKPOINT_KB 256
#define RELAYDB_RETRIES 3
#define RELAYDB_EXPIRE_BATCH 256	/* deletions per transaction */

/* The start of relay.db.lock (host byte order: one machine uses it). */
struct lockhdr {
	char magic[8];
	uint64_t gen;		/* bumped by every recovery */
	int64_t busy;		/* pid inside the library, 0 when none */
};

struct relaydb {
	DB_ENV *env;
	DB *db;
	DB *rate;		/* rate.db: the outbound counters (see below) */
	int lockfd;
	pid_t pid;		/* the process that opened the handle */
	uint64_t gen;		/* the generation env belongs to */
	uint64_t hdr_gen;	/* the generation in relay.db.lock now */
	int recreated;
	char *dir;
	char err[512];
	char bdbmsg[256];	/* the library's last error message */
};

/* One copied-out entry (foreach, expire). */
struct entry {
	char *key;
	size_t klen;
	char *val;		/* NULL when not a proper value */
	size_t vlen;
};

struct entries {
	struct entry *v;
	size_t n;
	size_t cap;
};

/* The process that holds the one open handle, if any. */
static pid_t relaydb_owner;

/* A library error, with the library's own message when it gave one. */
static void relaydb_dberr(struct relaydb *r, const char *what, int ret)
{
	if (r->bdbmsg[0] != '\0')
		seterr(r->err, sizeof r->err, "%s: %s (%s)", what, db_strerror(ret), r->bdbmsg);
	else
		seterr(r->err, sizeof r->err, "%s: %s", what, db_strerror(ret));
}

/* The library reports details here instead of on stderr. */
static void relaydb_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	struct relaydb *r = env->app_private;

	(void)pfx;
	if (r != NULL)
		(void)str_copy(r->bdbmsg, sizeof r->bdbmsg, msg);
}

/* failchk's informational messages would go to stdout: drop them. */
static void relaydb_msgcall(const DB_ENV *env, const char *msg)
{
	(void)env;
	(void)msg;
}

/* For failchk: is the process that used a thread slot still running? */
static int relaydb_isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	(void)env;
	(void)tid;
	(void)flags;
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* ---- relay.db.lock ---- */

/* One non-blocking fcntl lock request on one byte. */
static int lock_byte(int fd, int cmd, short type, off_t at)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = at;
	fl.l_len = 1;
	return fcntl(fd, cmd, &fl);
}

/* Seconds since an arbitrary start, for the wait bound. */
static double now_mono(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Take the operation lock. Polled rather than F_SETLKW so that the wait is
 * bounded without touching the caller's signals: a holder that is alive
 * but stuck costs an error, not a hung session.
 */
static int relaydb_lock_op(struct relaydb *r)
{
	double deadline = now_mono() + RELAYDB_WAIT_SECONDS;
	long pause_ns = 50000;
	struct timespec ts;

	for (;;) {
		if (lock_byte(r->lockfd, F_SETLK, F_WRLCK, LOCK_OP) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
			seterr(r->err, sizeof r->err, "lock %s/%s: %s", r->dir,
			    RELAYDB_LOCKFILE, strerror(errno));
			return -1;
		}
		if (now_mono() > deadline) {
			seterr(r->err, sizeof r->err, "relay DB busy: another process has held "
			    "%s/%s for %d seconds", r->dir, RELAYDB_LOCKFILE,
			    RELAYDB_WAIT_SECONDS);
			return -1;
		}
		ts.tv_sec = 0;
		ts.tv_nsec = pause_ns;
		(void)nanosleep(&ts, NULL);
		if (pause_ns < 5000000)
			pause_ns *= 2;
	}
}

static void relaydb_unlock_op(struct relaydb *r)
{
	(void)lock_byte(r->lockfd, F_SETLK, F_UNLCK, LOCK_OP);
}

/* Does a process other than this one have the environment open? */
static int relaydb_others_present(struct relaydb *r)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = LOCK_PRESENCE;
	fl.l_len = 1;
	if (fcntl(r->lockfd, F_GETLK, &fl) == -1)
		return 0;	/* unknown: recovering is the safe answer */
	return fl.l_type != F_UNLCK;
}

/* Read the header; 0 with h->magic zeroed when the file is new or junk. */
static int relaydb_hdr_read(struct relaydb *r, struct lockhdr *h)
{
	ssize_t n = pread(r->lockfd, h, sizeof *h, 0);

	if (n == -1) {
		seterr(r->err, sizeof r->err, "read %s/%s: %s", r->dir, RELAYDB_LOCKFILE,
		    strerror(errno));
		return -1;
	}
	if ((size_t)n != sizeof *h || memcmp(h->magic, RELAYDB_MAGIC, 8) != 0) {
		memset(h, 0, sizeof *h);
		/* A file with someone else's bytes in it: trust nothing. */
		if (n != 0)
			h->busy = -1;
	}
	return 0;
}

static int relaydb_hdr_write(struct relaydb *r, uint64_t gen, int64_t busy)
{
	struct lockhdr h;

	memset(&h, 0, sizeof h);
	memcpy(h.magic, RELAYDB_MAGIC, 8);
	h.gen = gen;
	h.busy = busy;
	if (pwrite(r->lockfd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
		seterr(r->err, sizeof r->err, "write %s/%s: %s", r->dir, RELAYDB_LOCKFILE,
		    errno ? strerror(errno) : "short write");
		return -1;
	}
	return 0;
}

/* ---- the environment ---- */

#define ENV_FLAGS (DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL | DB_INIT_TXN)

/* Create, configure and open an environment handle with extra flags. */
static int relaydb_env_open(struct relaydb *r, u_int32_t extra)
{
	DB_ENV *env;
	int ret;

	if ((ret = db_env_create(&env, 0)) != 0) {
		relaydb_dberr(r, "db_env_create", ret);
		return ret;
	}
	env->app_private = r;
	env->set_errcall(env, relaydb_errcall);
	env->set_msgcall(env, relaydb_msgcall);
	if ((ret = env->set_isalive(env, relaydb_isalive)) != 0 ||
	    (ret = env->set_thread_count(env, RELAYDB_THREADS)) != 0 ||
	    (ret = env->set_flags(env, DB_TXN_WRITE_NOSYNC, 1)) != 0 ||
	    (ret = env->set_lg_max(env, RELAYDB_LOG_FILE_MAX)) != 0 ||
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0 ||
	    (ret = env->set_timeout(env, RELAYDB_LOCK_TIMEOUT,
	    DB_SET_LOCK_TIMEOUT)) != 0 ||
	    (ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
	    (ret = env->open(env, r->dir, ENV_FLAGS | extra, 0600)) != 0) {
		relaydb_dberr(r, "open environment", ret);
		(void)env->close(env, 0);
		return ret;
	}
	r->env = env;
	return 0;
}

/*
 * Let go of the handles. stale: the environment was (or is about to be)
 * recovered by someone, or a process died inside it: mark it panicked
 * first, so that closing touches none of its possibly held mutexes (the
 * library only releases file handles then; a little memory leaks).
 */
static void relaydb_detach(struct relaydb *r, int stale)
{
	/*
	 * A panicked handle's close does not free it. Remember the last few
	 * (leak checkers then see them as reachable rather than lost). Each
	 * stale detach loses one handle's memory, only after a process died
	 * inside the library; a session process ends after limits.max_use
	 * sessions, which bounds what it can gather.
	 */
	static DB_ENV *graveyard[16];
	static size_t buried;

	if (r->env == NULL)
		return;
	if (stale) {
		graveyard[buried++ % (sizeof graveyard / sizeof graveyard[0])] = r->env;
		(void)r->env->set_flags(r->env, DB_PANIC_ENVIRONMENT, 1);
	}
	if (r->db != NULL)
		(void)r->db->close(r->db, DB_NOSYNC);
	r->db = NULL;
	if (r->rate != NULL)
		(void)r->rate->close(r->rate, DB_NOSYNC);
	r->rate = NULL;
	(void)r->env->close(r->env, 0);
	r->env = NULL;
}

/* Unlink the environment's log files (only when starting it afresh). */
static void relaydb_remove_logs(struct relaydb *r)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(r->dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "log.", 4) != 0 ||
		    strlen(de->d_name) != 14 ||
		    strspn(de->d_name + 4, "0123456789") != 10)
			continue;
		if (str_format(path, sizeof path, "%s/%s", r->dir, de->d_name) == 0)
			(void)unlink(path);
	}
	(void)closedir(d);
}

/*
 * Recovery failed (a damaged log or region), or relay.db was replaced: throw
 * the environment away (panicking it for anyone still in it) and start an
 * empty one around whatever relay.db holds. Our own handle, if any, is
 * healthy and closed normally.
 */
static int relaydb_env_reset(struct relaydb *r)
{
	DB_ENV *env;

	relaydb_detach(r, 0);
	if (db_env_create(&env, 0) == 0) {
		env->app_private = r;
		env->set_errcall(env, relaydb_errcall);
		env->set_msgcall(env, relaydb_msgcall);
		(void)env->remove(env, r->dir, DB_FORCE);
	}
	relaydb_remove_logs(r);
	return relaydb_env_open(r, DB_CREATE);
}

/* Open relay.db in the environment. */
static int relaydb_db_open(struct relaydb *r)
{
	DB *db;
	int ret;

	if ((ret = db_create(&db, r->env, 0)) != 0) {
		relaydb_dberr(r, "db_create", ret);
		return ret;
	}
	ret = db->open(db, NULL, RELAYDB_FILE, NULL, DB_HASH,
	    DB_CREATE | DB_AUTO_COMMIT, 0600);
	if (ret != 0) {
		relaydb_dberr(r, "open " RELAYDB_FILE, ret);
		(void)db->close(db, 0);
		return ret;
	}
	r->db = db;
	return 0;
}

/* Does this error from DB->open mean the file is not a sound database? */
static int relaydb_is_corrupt(int ret)
{
	return ret == EINVAL || ret == DB_VERIFY_BAD || ret == DB_PAGE_NOTFOUND ||
	    ret == DB_CHKSUM_FAIL || ret == DB_OLD_VERSION;
}

/* Move a bad relay.db out of the way under a name no one else uses. */
static int relaydb_move_aside(struct relaydb *r, char *to, size_t tolen)
{
	char from[PATH_MAX];
	struct stat st;
	long long t = (long long)time(NULL);
	int i;

	if (str_format(from, sizeof from, "%s/%s", r->dir, RELAYDB_FILE) == -1)
		return -1;
	for (i = 0; i < 100; i++) {
		if ((i == 0 ? str_format(to, tolen, "%s.corrupt-%lld", from, t) :
		    str_format(to, tolen, "%s.corrupt-%lld-%d", from, t, i)) == -1)
			return -1;
		if (lstat(to, &st) == -1 && errno == ENOENT)
			break;
	}
	if (rename(from, to) == -1) {
		seterr(r->err, sizeof r->err, "rename %s to %s: %s", from, to, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * After the log was thrown away relay.db may be half-written: verify it
 * (-1 when it exists and fails).
 */
static int relaydb_verify(struct relaydb *r)
{
	char path[PATH_MAX];
	DB *v;
	int ret;

	if (str_format(path, sizeof path, "%s/%s", r->dir, RELAYDB_FILE) == -1 ||
	    access(path, F_OK) == -1)
		return 0;
	if ((ret = db_create(&v, r->env, 0)) != 0)
		return 0;
	/* DB->verify discards the handle itself. */
	if ((ret = v->verify(v, RELAYDB_FILE, NULL, NULL, 0)) != 0) {
		relaydb_dberr(r, "verify " RELAYDB_FILE, ret);
		return -1;
	}
	return 0;
}

/* Is relay.db absent (and not merely unreadable)? */
static int relaydb_file_missing(const struct relaydb *r)
{
	char path[PATH_MAX];

	return str_format(path, sizeof path, "%s/%s", r->dir, RELAYDB_FILE) == 0 &&
	    access(path, F_OK) == -1 && errno == ENOENT;
}

static int relaydb_rate_open(struct relaydb *r);

/*
 * (Re)join the environment, holding the operation lock with our pid marked
 * busy. h is the header as we found it. Recovery when asked to, when a
 * process died inside the library, or when nobody else has the environment
 * open; otherwise join it and let failchk clean up after processes that
 * died outside the library.
 */
static int relaydb_attach(struct relaydb *r, const struct lockhdr *h, int force)
{
	char aside[PATH_MAX];
	int recover, reset = 0, missing, ret;

	recover = force || h->busy != 0 || h->magic[0] == '\0' ||
	    !relaydb_others_present(r);
	relaydb_detach(r, recover || h->gen != r->gen);
	r->hdr_gen = h->gen;
	if (!recover) {
		ret = relaydb_env_open(r, 0);
		if (ret == 0 && (ret = r->env->failchk(r->env, 0)) != 0) {
			relaydb_dberr(r, "failchk", ret);
			relaydb_detach(r, 1);
		}
		recover = ret != 0;
	}
	if (recover) {
		if (relaydb_env_open(r, DB_CREATE | DB_RECOVER) != 0) {
			if (relaydb_env_reset(r) != 0)
				return -1;
			reset = 1;
		}
		r->hdr_gen++;
		if (relaydb_hdr_write(r, r->hdr_gen, (int64_t)r->pid) != 0)
			return -1;
	}
	/*
	 * The lock file's header exists only once a relay.db was made: a
	 * relay.db gone now (and not restored by recovery) was removed.
	 */
	missing = h->magic[0] != '\0' && relaydb_file_missing(r);
	if (reset && relaydb_verify(r) != 0)
		ret = DB_VERIFY_BAD;
	else
		ret = relaydb_db_open(r);
	if (ret == 0 && missing) {
		r->recreated = 1;
		seterr(r->err, sizeof r->err, "%s/%s was missing; recreated empty", r->dir,
		    RELAYDB_FILE);
	}
	if (ret != 0 && relaydb_is_corrupt(ret)) {
		char why[sizeof r->err];

		(void)str_copy(why, sizeof why, r->err);
		if (relaydb_move_aside(r, aside, sizeof aside) != 0)
			return -1;
		/* Its history in the log must not be replayed into the new one. */
		if (relaydb_env_reset(r) != 0)
			return -1;
		r->hdr_gen++;
		if (relaydb_hdr_write(r, r->hdr_gen, (int64_t)r->pid) != 0 ||
		    relaydb_db_open(r) != 0)
			return -1;
		r->recreated = 1;
		seterr(r->err, sizeof r->err, "%s/%s could not be opened (%s); moved to %s "
		    "and recreated empty", r->dir, RELAYDB_FILE, why, aside);
	} else if (ret != 0)
		return -1;
	if (relaydb_rate_open(r) != 0)
		return -1;
	r->gen = r->hdr_gen;
	return 0;
}

/*
 * Begin a call into the library: take the operation lock, mark ourselves
 * busy, and make sure our handles belong to the current, healthy
 * environment. On failure the lock is released again.
 */
static int relaydb_enter(struct relaydb *r)
{
	struct lockhdr h;

	if (r->pid != getpid()) {
		seterr(r->err, sizeof r->err, "relay DB handle used by a process that "
		    "did not open it");
		return -1;
	}
	r->bdbmsg[0] = '\0';
	if (relaydb_lock_op(r) != 0)
		return -1;
	if (relaydb_hdr_read(r, &h) != 0 ||
	    relaydb_hdr_write(r, h.gen, (int64_t)r->pid) != 0) {
		relaydb_unlock_op(r);
		return -1;
	}
	r->hdr_gen = h.gen;
	if (r->env == NULL || h.busy != 0 || h.gen != r->gen ||
	    h.magic[0] == '\0') {
		if (relaydb_attach(r, &h, 0) != 0) {
			/*
			 * An environment we did open is sound: close it. The
			 * busy mark stays, so the next process recovers
			 * rather than trusting a half-done recovery.
			 */
			relaydb_detach(r, 0);
			(void)relaydb_hdr_write(r, r->hdr_gen, (int64_t)r->pid);
			relaydb_unlock_op(r);
			return -1;
		}
	}
	return 0;
}

/* End a call: clear the busy mark, then let the next process in. */
static void relaydb_leave(struct relaydb *r)
{
	(void)relaydb_hdr_write(r, r->hdr_gen, 0);
	relaydb_unlock_op(r);
}

typedef int (*relaydb_op)(struct relaydb *r, void *arg);

/*
 * Run one operation (returning a Berkeley DB error code) inside
 * enter/leave: retried after a lock conflict (only possible with outside
 * tools in the environment) and, once recovered, after a panic.
 */
static int relaydb_run(struct relaydb *r, const char *what, relaydb_op fn, void *arg)
{
	struct lockhdr h;
	int ret, tries;

	if (relaydb_enter(r) != 0)
		return -1;
	for (tries = 0;; tries++) {
		ret = fn(r, arg);
		if (ret == 0 || tries >= RELAYDB_RETRIES)
			break;
		if (ret == DB_RUNRECOVERY) {
			memset(&h, 0, sizeof h);
			memcpy(h.magic, RELAYDB_MAGIC, 8);
			h.gen = r->hdr_gen;
			if (relaydb_attach(r, &h, 1) != 0) {
				/* r->err says why; busy stays, as in enter. */
				relaydb_detach(r, 0);
				relaydb_unlock_op(r);
				return -1;
			}
		} else if (ret != DB_LOCK_DEADLOCK && ret != DB_LOCK_NOTGRANTED)
			break;
	}
	if (ret != 0)
		relaydb_dberr(r, what, ret);
	relaydb_leave(r);
	return ret == 0 ? 0 : -1;
}

/* ---- keys and values ---- */

static int relaydb_check_key(struct relaydb *r, const char *key)
{
	size_t i, n = key ? strlen(key) : 0;

	if (n == 0 || n > RELAYDB_KEY_MAX) {
		seterr(r->err, sizeof r->err, "relay key must be 1 to %d bytes", RELAYDB_KEY_MAX);
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] >= 0x7f) {
			seterr(r->err, sizeof r->err, "relay key has a space or control byte");
			return -1;
		}
	return 0;
}

static int relaydb_check_user(struct relaydb *r, const char *user)
{
	size_t i, n = strlen(user);

	if (n > RELAYDB_USER_MAX) {
		seterr(r->err, sizeof r->err, "user longer than %d bytes", RELAYDB_USER_MAX);
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f) {
			seterr(r->err, sizeof r->err, "user has a control byte");
			return -1;
		}
	return 0;
}

/* "<digits>[ <user>]" -> when, user (not terminated) and its length. */
static int relaydb_parse(const char *v, size_t len, time_t *when,
    const char **user, size_t *userlen)
{
	long long t = 0;
	size_t i;

	if (len > RELAYDB_VALUE_MAX)
		return -1;
	for (i = 0; i < len && v[i] >= '0' && v[i] <= '9'; i++) {
		if (t > (LLONG_MAX - (v[i] - '0')) / 10)
			return -1;
		t = t * 10 + (v[i] - '0');
	}
	if (i == 0 || i > 19)
		return -1;
	if (i == len) {
		*user = v + i;
		*userlen = 0;
	} else if (v[i] == ' ') {
		*user = v + i + 1;
		*userlen = len - i - 1;
		if (*userlen > RELAYDB_USER_MAX || memchr(*user, '\0', *userlen))
			return -1;
	} else
		return -1;
	*when = (time_t)t;
	return 0;
}

/* Is a stored value expired (or not a value at all)? */
static int relaydb_expired(const char *v, size_t len, time_t now, long ttl)
{
	const char *user;
	size_t userlen;
	time_t when;

	if (v == NULL || relaydb_parse(v, len, &when, &user, &userlen) != 0)
		return 1;
	return (long long)now - (long long)when >= (long long)ttl;
}

static void entries_free(struct entries *e)
{
	size_t i;

	for (i = 0; i < e->n; i++) {
		free(e->v[i].key);
		free(e->v[i].val);
	}
	free(e->v);
	e->v = NULL;
	e->n = e->cap = 0;
}

/* ---- operations (called between enter and leave) ---- */

struct put_arg {
	const char *key;
	char val[RELAYDB_VALUE_MAX + 1];
};

/* Write one entry in its own transaction. */
static int op_put(struct relaydb *r, void *p)
{
	struct put_arg *a = p;
	DB_TXN *txn;
	DBT k, v;
	int ret;

	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)a->key;
	k.size = (u_int32_t)strlen(a->key);
	v.data = a->val;
	v.size = (u_int32_t)strlen(a->val);
	if ((ret = r->env->txn_begin(r->env, NULL, &txn, 0)) != 0)
		return ret;
	if ((ret = r->db->put(r->db, txn, &k, &v, 0)) != 0) {
		(void)txn->abort(txn);
		return ret;
	}
	if ((ret = txn->commit(txn, 0)) != 0)
		return ret;
	(void)r->env->txn_checkpoint(r->env, RELAYDB_CHECKPOINT_KB, 0, 0);
	return 0;
}

struct get_arg {
	const char *key;
	int found;		/* 1, 0, or -1 for a value too long */
	char val[RELAYDB_VALUE_MAX + 1];
	size_t len;
};

/* Copy one value out. */
static int op_get(struct relaydb *r, void *p)
{
	struct get_arg *a = p;
	DBT k, v;
	int ret;

	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)a->key;
	k.size = (u_int32_t)strlen(a->key);
	v.data = a->val;
	v.ulen = RELAYDB_VALUE_MAX;
	v.flags = DB_DBT_USERMEM;
	ret = r->db->get(r->db, NULL, &k, &v, 0);
	a->found = 0;
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret == DB_BUFFER_SMALL) {
		a->found = -1;
		return 0;
	}
	if (ret != 0)
		return ret;
	a->found = 1;
	a->len = v.size;
	a->val[a->len] = '\0';
	return 0;
}

struct del_arg {
	const char *key;
	int found;
};

/* Delete one key of db in a transaction of its own; *found says if it was there. */
static int txn_del(struct relaydb *r, DB *db, const char *key, int *found)
{
	DB_TXN *txn;
	DBT k;
	int ret;

	memset(&k, 0, sizeof k);
	k.data = (void *)key;
	k.size = (u_int32_t)strlen(key);
	if ((ret = r->env->txn_begin(r->env, NULL, &txn, 0)) != 0)
		return ret;
	ret = db->del(db, txn, &k, 0);
	if (ret != 0 && ret != DB_NOTFOUND) {
		(void)txn->abort(txn);
		return ret;
	}
	*found = ret == 0;
	return txn->commit(txn, 0);
}

static int op_del(struct relaydb *r, void *p)
{
	struct del_arg *a = p;
	int ret = txn_del(r, r->db, a->key, &a->found);

	if (ret != 0)
		return ret;
	(void)r->env->txn_checkpoint(r->env, RELAYDB_CHECKPOINT_KB, 0, 0);
	return 0;
}

struct scan_arg {
	struct entries e;
	int expired_only;
	time_t now;
	long ttl;
};

/* Copy every entry (or every expired key) out with one cursor pass. */
static int op_scan(struct relaydb *r, void *p)
{
	struct scan_arg *a = p;
	DB_TXN *txn;
	DBC *c;
	DBT k, v;
	int ret, t_ret;

	entries_free(&a->e);
	if ((ret = r->env->txn_begin(r->env, NULL, &txn, DB_READ_COMMITTED)) != 0)
		return ret;
	if ((ret = r->db->cursor(r->db, txn, &c, 0)) != 0) {
		(void)txn->abort(txn);
		return ret;
	}
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	while ((ret = c->get(c, &k, &v, DB_NEXT)) == 0) {
		struct entry *en;
		int bad = v.size > RELAYDB_VALUE_MAX ||
		    memchr(v.data, '\0', v.size) != NULL;

		if (a->expired_only && !relaydb_expired(bad ? NULL : v.data,
		    v.size, a->now, a->ttl))
			continue;
		if (a->e.n == a->e.cap) {
			a->e.cap = a->e.cap ? a->e.cap * 2 : 64;
			a->e.v = xreallocarray(a->e.v, a->e.cap, sizeof *a->e.v);
		}
		en = &a->e.v[a->e.n++];
		en->key = xstrndup(k.data, k.size);
		en->klen = k.size;
		en->val = bad ? NULL : xstrndup(v.data, v.size);
		en->vlen = v.size;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	if ((t_ret = c->close(c)) != 0 && ret == 0)
		ret = t_ret;
	if (ret != 0)
		(void)txn->abort(txn);
	else
		ret = txn->commit(txn, 0);
	return ret;
}

struct expire_arg {
	struct entry *v;	/* keys found expired by the scan */
	size_t n;
	time_t now;
	long ttl;
	long removed;
};

/* Delete a batch of keys that are still expired, in one transaction. */
static int op_expire(struct relaydb *r, void *p)
{
	struct expire_arg *a = p;
	char buf[RELAYDB_VALUE_MAX + 1];
	DB_TXN *txn;
	DBT k, v;
	size_t i;
	long removed = 0;
	int ret = 0;

	if ((ret = r->env->txn_begin(r->env, NULL, &txn, 0)) != 0)
		return ret;
	for (i = 0; i < a->n; i++) {
		memset(&k, 0, sizeof k);
		memset(&v, 0, sizeof v);
		k.data = a->v[i].key;
		k.size = (u_int32_t)a->v[i].klen;
		v.data = buf;
		v.ulen = RELAYDB_VALUE_MAX;
		v.flags = DB_DBT_USERMEM;
		ret = r->db->get(r->db, txn, &k, &v, DB_RMW);
		if (ret == DB_NOTFOUND) {
			ret = 0;
			continue;
		}
		if (ret != 0 && ret != DB_BUFFER_SMALL)
			break;
		if (ret == 0 && (memchr(buf, '\0', v.size) != NULL ||
		    !relaydb_expired(buf, v.size, a->now, a->ttl)))
			continue;
		if ((ret = r->db->del(r->db, txn, &k, 0)) != 0)
			break;
		removed++;
	}
	if (ret != 0) {
		(void)txn->abort(txn);
		return ret;
	}
	if ((ret = txn->commit(txn, 0)) != 0)
		return ret;
	a->removed += removed;
	(void)r->env->txn_checkpoint(r->env, RELAYDB_CHECKPOINT_KB, 0, 0);
	return 0;
}

/* ---- the public functions ---- */

struct relaydb *relaydb_open(const char *state_dir, char *err, size_t errlen)
{
	struct relaydb *r;
	char path[PATH_MAX];

	if (relaydb_owner == getpid()) {
		(void)str_copy(err, errlen, "relay DB already open in this process");
		return NULL;
	}
	if (str_format(path, sizeof path, "%s/%s", state_dir, RELAYDB_LOCKFILE) == -1) {
		(void)str_copy(err, errlen, "state_dir path too long");
		return NULL;
	}
	r = xcalloc(1, sizeof *r);
	r->dir = xstrdup(state_dir);
	r->pid = getpid();
	r->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (r->lockfd == -1) {
		seterr(r->err, sizeof r->err, "open %s: %s", path, strerror(errno));
		goto fail;
	}
	if (relaydb_enter(r) != 0)
		goto fail;
	if (lock_byte(r->lockfd, F_SETLK, F_RDLCK, LOCK_PRESENCE) == -1) {
		seterr(r->err, sizeof r->err, "lock %s: %s", path, strerror(errno));
		relaydb_detach(r, 0);
		relaydb_leave(r);
		goto fail;
	}
	relaydb_leave(r);
	relaydb_owner = r->pid;
	if (!r->recreated)
		r->err[0] = '\0';
	return r;
fail:
	(void)str_copy(err, errlen, r->err);
	if (r->lockfd != -1)
		(void)close(r->lockfd);
	free(r->dir);
	free(r);
	return NULL;
}

/*
 * Close under the operation lock. The last process out takes a checkpoint
 * so that relay.db alone holds everything. A handle whose environment is
 * stale or shared with a process that died inside it is discarded without
 * touching the environment, and the busy mark is left for the next
 * process to act on.
 */
void relaydb_close(struct relaydb *r)
{
	struct lockhdr h;
	int stale;

	if (r == NULL)
		return;
	if (r->pid == getpid()) {
		if (r->env != NULL && relaydb_lock_op(r) == 0) {
			if (relaydb_hdr_read(r, &h) == 0 &&
			    relaydb_hdr_write(r, h.gen, (int64_t)r->pid) == 0) {
				stale = h.busy != 0 || h.gen != r->gen ||
				    h.magic[0] == '\0';
				if (!stale && !relaydb_others_present(r))
					(void)r->env->txn_checkpoint(r->env,
					    0, 0, DB_FORCE);
				relaydb_detach(r, stale);
				(void)relaydb_hdr_write(r, h.gen, h.busy);
			}
			relaydb_unlock_op(r);
		}
		/*
		 * Without the lock in time the library's handles are left
		 * as they are: exit releases them, failchk the rest.
		 */
		if (relaydb_owner == r->pid)
			relaydb_owner = 0;
	}
	/* Another process's handle: the library's parts are not ours to close. */
	(void)close(r->lockfd);
	free(r->dir);
	free(r);
}

int relaydb_authorize(struct relaydb *r, const char *key, const char *user, time_t now)
{
	struct put_arg a;

	if (user == NULL)
		user = "";
	if (relaydb_check_key(r, key) != 0 || relaydb_check_user(r, user) != 0)
		return -1;
	if (now < 0) {
		seterr(r->err, sizeof r->err, "negative time");
		return -1;
	}
	a.key = key;
	if (str_format(a.val, sizeof a.val, "%lld %s", (long long)now, user) == -1) {
		seterr(r->err, sizeof r->err, "value too long");
		return -1;
	}
	return relaydb_run(r, "authorize", op_put, &a);
}

int relaydb_lookup(struct relaydb *r, const char *key, time_t *when,
    char *user, size_t userlen)
{
	struct get_arg a;
	const char *u;
	size_t ulen;
	time_t t;

	if (relaydb_check_key(r, key) != 0)
		return -1;
	a.key = key;
	if (relaydb_run(r, "lookup", op_get, &a) != 0)
		return -1;
	if (a.found == 0)
		return 0;
	if (a.found < 0 || relaydb_parse(a.val, a.len, &t, &u, &ulen) != 0) {
		seterr(r->err, sizeof r->err, "malformed relay entry for %s", key);
		return -1;
	}
	if (user != NULL) {
		if (ulen >= userlen) {
			seterr(r->err, sizeof r->err, "user buffer too small");
			return -1;
		}
		memcpy(user, u, ulen);
		user[ulen] = '\0';
	}
	if (when != NULL)
		*when = t;
	return 1;
}

int relaydb_is_authorized(struct relaydb *r, const char *key, time_t now, long ttl)
{
	time_t when;
	int found;

	if ((found = relaydb_lookup(r, key, &when, NULL, 0)) != 1)
		return found;
	return (long long)now - (long long)when < (long long)ttl;
}

int relaydb_delete(struct relaydb *r, const char *key)
{
	struct del_arg a;

	if (relaydb_check_key(r, key) != 0)
		return -1;
	a.key = key;
	a.found = 0;
	if (relaydb_run(r, "delete", op_del, &a) != 0)
		return -1;
	return a.found;
}

long relaydb_expire(struct relaydb *r, time_t now, long ttl)
{
	struct scan_arg s;
	struct expire_arg a;
	size_t i;

	memset(&s, 0, sizeof s);
	s.expired_only = 1;
	s.now = now;
	s.ttl = ttl;
	if (relaydb_run(r, "expire", op_scan, &s) != 0) {
		entries_free(&s.e);
		return -1;
	}
	memset(&a, 0, sizeof a);
	a.now = now;
	a.ttl = ttl;
	/* One short transaction per batch, letting others in between. */
	for (i = 0; i < s.e.n; i += a.n) {
		a.v = s.e.v + i;
		a.n = s.e.n - i < RELAYDB_EXPIRE_BATCH ? s.e.n - i : RELAYDB_EXPIRE_BATCH;
		if (relaydb_run(r, "expire", op_expire, &a) != 0) {
			entries_free(&s.e);
			return -1;
		}
	}
	entries_free(&s.e);
	return a.removed;
}

int relaydb_foreach(struct relaydb *r, relaydb_visit_fn fn, void *arg)
{
	struct scan_arg s;
	const char *u;
	char user[RELAYDB_USER_MAX + 1];
	size_t i, ulen;
	time_t when;

	memset(&s, 0, sizeof s);
	if (relaydb_run(r, "foreach", op_scan, &s) != 0) {
		entries_free(&s.e);
		return -1;
	}
	for (i = 0; i < s.e.n; i++) {
		if (s.e.v[i].val == NULL ||
		    relaydb_parse(s.e.v[i].val, s.e.v[i].vlen, &when, &u, &ulen) != 0)
			continue;
		memcpy(user, u, ulen);
		user[ulen] = '\0';
		if (fn(s.e.v[i].key, when, user, arg) != 0)
			break;
	}
	entries_free(&s.e);
	return 0;
}

const char *relaydb_strerror(const struct relaydb *r)
{
	return r->err;
}

int relaydb_recreated(const struct relaydb *r)
{
	return r->recreated;
}

/*
 * ---- rate.db: the outbound counters (ratelimit.h) ----
 *
 * A second hash in the same environment, under the same operation lock, so
 * every session process counts into one table and no increment is lost:
 * each take reads, checks and writes all its counters in one transaction.
 * Key: "user:<name>" or "addr:<relay key>"; value: rate_format()'s text.
 * The counters are worth less than the relay table: a rate.db that cannot
 * be opened as a database is removed and started afresh.
 */
#define RATEDB_FILE "rate.db"

static int relaydb_rate_open(struct relaydb *r)
{
	char path[PATH_MAX];
	DB *db;
	int ret, tries;

	for (tries = 0; tries < 2; tries++) {
		if ((ret = db_create(&db, r->env, 0)) != 0) {
			relaydb_dberr(r, "db_create", ret);
			return -1;
		}
		ret = db->open(db, NULL, RATEDB_FILE, NULL, DB_HASH,
		    DB_CREATE | DB_AUTO_COMMIT, 0600);
		if (ret == 0) {
			r->rate = db;
			return 0;
		}
		relaydb_dberr(r, "open " RATEDB_FILE, ret);
		(void)db->close(db, 0);
		if (!relaydb_is_corrupt(ret) ||
		    str_format(path, sizeof path, "%s/%s", r->dir, RATEDB_FILE) != 0 ||
		    unlink(path) != 0)
			return -1;
	}
	return -1;
}

static int relaydb_rate_check_key(struct relaydb *r, const char *key)
{
	size_t i, n = key ? strlen(key) : 0;

	if (n == 0 || n > RELAYDB_RATE_KEY_MAX) {
		seterr(r->err, sizeof r->err, "rate key must be 1 to %d bytes",
		    RELAYDB_RATE_KEY_MAX);
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] >= 0x7f) {
			seterr(r->err, sizeof r->err, "rate key has a space or control byte");
			return -1;
		}
	return 0;
}

/* Read one counter inside txn (locked for writing); a new one when absent or bad. */
static int rate_get(struct relaydb *r, DB_TXN *txn, const char *key,
    struct rate_counter *c, time_t now, long window)
{
	char buf[RATE_VALUE_MAX + 1];
	DBT k, v;
	int ret;

	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)key;
	k.size = (u_int32_t)strlen(key);
	v.data = buf;
	v.ulen = RATE_VALUE_MAX;
	v.flags = DB_DBT_USERMEM;
	ret = r->rate->get(r->rate, txn, &k, &v, DB_RMW);
	if (ret != 0 && ret != DB_NOTFOUND && ret != DB_BUFFER_SMALL)
		return ret;
	if (ret != 0 || rate_parse(buf, v.size, c) != 0)
		rate_init(c, (long long)now, window);
	rate_roll(c, (long long)now, window);
	return 0;
}

static int rate_put(struct relaydb *r, DB_TXN *txn, const char *key,
    const struct rate_counter *c)
{
	char buf[RATE_VALUE_MAX + 1];
	DBT k, v;

	if (rate_format(buf, sizeof buf, c) != 0)
		return EINVAL;
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)key;
	k.size = (u_int32_t)strlen(key);
	v.data = buf;
	v.size = (u_int32_t)strlen(buf);
	return r->rate->put(r->rate, txn, &k, &v, 0);
}

struct rate_take_arg {
	struct relaydb_rate *v;
	size_t n;
	time_t now;
	long window;
	int taken;
};

/*
 * Check every counter against its limit; count one in each when all allow
 * it, else count nothing and mark the first refusal of a window in the
 * counters that refused. One transaction.
 */
static int op_rate_take(struct relaydb *r, void *p)
{
	struct rate_take_arg *a = p;
	struct rate_counter c[RELAYDB_RATE_KEYS];
	DB_TXN *txn;
	size_t i;
	int ret = 0, over = 0;

	if ((ret = r->env->txn_begin(r->env, NULL, &txn, 0)) != 0)
		return ret;
	for (i = 0; i < a->n && ret == 0; i++) {
		a->v[i].over = a->v[i].first = 0;
		a->v[i].count = 0;
		if (a->v[i].key == NULL || a->v[i].limit <= 0)
			continue;
		if ((ret = rate_get(r, txn, a->v[i].key, &c[i], a->now, a->window)) != 0)
			break;
		a->v[i].count = rate_estimate(&c[i], (long long)a->now, a->window);
		if (!rate_allows(&c[i], (long long)a->now, a->window, a->v[i].limit)) {
			a->v[i].over = 1;
			over = 1;
		}
	}
	for (i = 0; i < a->n && ret == 0; i++) {
		if (a->v[i].key == NULL || a->v[i].limit <= 0)
			continue;
		if (over) {
			if (!a->v[i].over || c[i].noted == c[i].start)
				continue;
			a->v[i].first = 1;
			c[i].noted = c[i].start;
		} else {
			c[i].cur++;
		}
		ret = rate_put(r, txn, a->v[i].key, &c[i]);
	}
	if (ret != 0) {
		(void)txn->abort(txn);
		return ret;
	}
	if ((ret = txn->commit(txn, 0)) != 0)
		return ret;
	a->taken = !over;
	(void)r->env->txn_checkpoint(r->env, RELAYDB_CHECKPOINT_KB, 0, 0);
	return 0;
}

int relaydb_rate_take(struct relaydb *r, struct relaydb_rate *v, size_t n,
    time_t now, long window)
{
	struct rate_take_arg a;
	size_t i;

	if (n > RELAYDB_RATE_KEYS || window < 1 || now < 0) {
		seterr(r->err, sizeof r->err, "bad rate request");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (v[i].key != NULL && relaydb_rate_check_key(r, v[i].key) != 0)
			return -1;
	a.v = v;
	a.n = n;
	a.now = now;
	a.window = window;
	a.taken = 0;
	if (relaydb_run(r, "rate", op_rate_take, &a) != 0)
		return -1;
	return a.taken;
}

struct rate_scan_arg {
	struct entries e;
	int prune;		/* delete idle counters instead of copying */
	time_t now;
	long window;
	long removed;
};

/* Copy every counter out, or delete the idle ones, in one cursor pass. */
static int op_rate_scan(struct relaydb *r, void *p)
{
	struct rate_scan_arg *a = p;
	struct rate_counter c;
	DB_TXN *txn;
	DBC *cur;
	DBT k, v;
	int ret, t_ret;
	long removed = 0;

	entries_free(&a->e);
	if ((ret = r->env->txn_begin(r->env, NULL, &txn, 0)) != 0)
		return ret;
	if ((ret = r->rate->cursor(r->rate, txn, &cur, 0)) != 0) {
		(void)txn->abort(txn);
		return ret;
	}
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	while ((ret = cur->get(cur, &k, &v, DB_NEXT | (a->prune ? DB_RMW : 0))) == 0) {
		int bad = rate_parse(v.data, v.size, &c) != 0;
		struct entry *en;

		if (a->prune) {
			if (bad || rate_idle(&c, (long long)a->now, a->window)) {
				if ((ret = cur->del(cur, 0)) != 0)
					break;
				removed++;
			}
			continue;
		}
		if (bad)
			continue;
		if (a->e.n == a->e.cap) {
			a->e.cap = a->e.cap ? a->e.cap * 2 : 64;
			a->e.v = xreallocarray(a->e.v, a->e.cap, sizeof *a->e.v);
		}
		en = &a->e.v[a->e.n++];
		en->key = xstrndup(k.data, k.size);
		en->klen = k.size;
		en->val = xstrndup(v.data, v.size);
		en->vlen = v.size;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	if ((t_ret = cur->close(cur)) != 0 && ret == 0)
		ret = t_ret;
	if (ret != 0) {
		(void)txn->abort(txn);
		return ret;
	}
	if ((ret = txn->commit(txn, 0)) != 0)
		return ret;
	a->removed = removed;
	return 0;
}

int relaydb_rate_foreach(struct relaydb *r, relaydb_rate_visit_fn fn, void *arg)
{
	struct rate_scan_arg s;
	struct rate_counter c;
	size_t i;

	memset(&s, 0, sizeof s);
	if (relaydb_run(r, "rate list", op_rate_scan, &s) != 0) {
		entries_free(&s.e);
		return -1;
	}
	for (i = 0; i < s.e.n; i++) {
		if (rate_parse(s.e.v[i].val, s.e.v[i].vlen, &c) != 0)
			continue;
		if (fn(s.e.v[i].key, &c, arg) != 0)
			break;
	}
	entries_free(&s.e);
	return 0;
}

long relaydb_rate_expire(struct relaydb *r, time_t now, long window)
{
	struct rate_scan_arg s;

	memset(&s, 0, sizeof s);
	s.prune = 1;
	s.now = now;
	s.window = window < 1 ? 1 : window;
	if (relaydb_run(r, "rate expire", op_rate_scan, &s) != 0)
		return -1;
	return s.removed;
}

struct rate_del_arg {
	const char *key;
	int found;
};

static int op_rate_del(struct relaydb *r, void *p)
{
	struct rate_del_arg *a = p;

	return txn_del(r, r->rate, a->key, &a->found);
}

int relaydb_rate_reset(struct relaydb *r, const char *key)
{
	struct rate_del_arg a;

	if (relaydb_rate_check_key(r, key) != 0)
		return -1;
	a.key = key;
	a.found = 0;
	if (relaydb_run(r, "rate reset", op_rate_del, &a) != 0)
		return -1;
	return a.found;
}

/* ---- other tables in the environment (relaydb.h) ---- */

struct relaydb_txn {
	DB *db;
	DB_TXN *txn;
	int ret;		/* the first library error inside fn */
};

/* A table beside relay.db: a plain "name.db", never relay.db itself. */
static int relaydb_table_ok(struct relaydb *r, const char *file)
{
	size_t n = strlen(file);

	if (n < 4 || n > 64 || strcmp(file + n - 3, ".db") != 0 ||
	    strcmp(file, RELAYDB_FILE) == 0 || strspn(file,
	    "abcdefghijklmnopqrstuvwxyz0123456789_-.") != n || file[0] == '.') {
		seterr(r->err, sizeof r->err, "bad table name \"%s\"", file);
		return -1;
	}
	return 0;
}

/* Open a table for one operation (its own auto-committed open). */
static int relaydb_table_open(struct relaydb *r, const char *file, DB **out)
{
	DB *db;
	int ret;

	*out = NULL;
	if ((ret = db_create(&db, r->env, 0)) != 0)
		return ret;
	ret = db->open(db, NULL, file, NULL, DB_HASH, DB_CREATE | DB_AUTO_COMMIT, 0600);
	if (ret != 0) {
		(void)db->close(db, 0);
		return ret;
	}
	*out = db;
	return 0;
}

struct table_arg {
	const char *file;
	relaydb_txn_fn fn;
	void *arg;
	int rc;
	size_t vmax;			/* scan */
	struct entries e;		/* scan */
};

/* fn in one transaction; its own failure aborts without a retry. */
static int op_table(struct relaydb *r, void *p)
{
	struct table_arg *a = p;
	struct relaydb_txn t;
	int ret;

	memset(&t, 0, sizeof t);
	if ((ret = relaydb_table_open(r, a->file, &t.db)) != 0)
		return ret;
	if ((ret = r->env->txn_begin(r->env, NULL, &t.txn, 0)) == 0) {
		a->rc = a->fn(&t, a->arg);
		if (t.ret != 0 || a->rc < 0) {
			(void)t.txn->abort(t.txn);
			ret = t.ret;
		} else if ((ret = t.txn->commit(t.txn, 0)) == 0)
			(void)r->env->txn_checkpoint(r->env, RELAYDB_CHECKPOINT_KB, 0, 0);
	}
	(void)t.db->close(t.db, DB_NOSYNC);
	return ret;
}

int relaydb_table_run(struct relaydb *r, const char *file, relaydb_txn_fn fn, void *arg)
{
	struct table_arg a;

	memset(&a, 0, sizeof a);
	r->err[0] = '\0';
	if (relaydb_table_ok(r, file) != 0)
		return -1;
	a.file = file;
	a.fn = fn;
	a.arg = arg;
	if (relaydb_run(r, file, op_table, &a) != 0)
		return -1;
	if (a.rc < 0 && r->err[0] == '\0')
		seterr(r->err, sizeof r->err, "%s: operation refused", file);
	return a.rc;
}

/* A key or value as the library wants it. */
static void relaydb_dbt(DBT *d, const void *data, size_t len)
{
	memset(d, 0, sizeof *d);
	d->data = (void *)data;
	d->size = (u_int32_t)len;
}

/* The library's answers mapped to 1/0/-1; its error kept for relaydb_run's retry. */
int relaydb_txn_get(struct relaydb_txn *t, const void *key, size_t klen,
    void *val, size_t vmax, size_t *vlen)
{
	DBT k, v;
	int ret;

	relaydb_dbt(&k, key, klen);
	relaydb_dbt(&v, val, 0);
	v.ulen = (u_int32_t)vmax;
	v.flags = DB_DBT_USERMEM;
	ret = t->db->get(t->db, t->txn, &k, &v, DB_RMW);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret == DB_BUFFER_SMALL) {
		*vlen = v.size;		/* over vmax: nothing copied */
		return 1;
	}
	if (ret != 0) {
		if (t->ret == 0)
			t->ret = ret;
		return -1;
	}
	*vlen = v.size;
	return 1;
}

int relaydb_txn_put(struct relaydb_txn *t, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	DBT k, v;
	int ret;

	relaydb_dbt(&k, key, klen);
	relaydb_dbt(&v, val, vlen);
	if ((ret = t->db->put(t->db, t->txn, &k, &v, 0)) != 0) {
		if (t->ret == 0)
			t->ret = ret;
		return -1;
	}
	return 0;
}

int relaydb_txn_del(struct relaydb_txn *t, const void *key, size_t klen)
{
	DBT k;
	int ret;

	relaydb_dbt(&k, key, klen);
	ret = t->db->del(t->db, t->txn, &k, 0);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0) {
		if (t->ret == 0)
			t->ret = ret;
		return -1;
	}
	return 1;
}

/* Copy every entry of a table out with one cursor pass. */
static int op_table_scan(struct relaydb *r, void *p)
{
	struct table_arg *a = p;
	DB *db;
	DBC *c;
	DBT k, v;
	int ret, t_ret;

	entries_free(&a->e);
	if ((ret = relaydb_table_open(r, a->file, &db)) != 0)
		return ret;
	if ((ret = db->cursor(db, NULL, &c, 0)) != 0) {
		(void)db->close(db, DB_NOSYNC);
		return ret;
	}
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	while ((ret = c->get(c, &k, &v, DB_NEXT)) == 0) {
		struct entry *en;

		if (v.size > a->vmax)
			continue;
		if (a->e.n == a->e.cap) {
			a->e.cap = a->e.cap ? a->e.cap * 2 : 64;
			a->e.v = xreallocarray(a->e.v, a->e.cap, sizeof *a->e.v);
		}
		en = &a->e.v[a->e.n++];
		en->key = xmalloc(k.size + 1);
		memcpy(en->key, k.data, k.size);
		en->key[k.size] = '\0';
		en->klen = k.size;
		en->val = xmalloc(v.size + 1);
		memcpy(en->val, v.data, v.size);
		en->val[v.size] = '\0';
		en->vlen = v.size;
	}
	if (ret == DB_NOTFOUND)
		ret = 0;
	if ((t_ret = c->close(c)) != 0 && ret == 0)
		ret = t_ret;
	(void)db->close(db, DB_NOSYNC);
	return ret;
}

int relaydb_table_foreach(struct relaydb *r, const char *file, size_t vmax,
    relaydb_table_visit_fn fn, void *arg)
{
	struct table_arg a;

	memset(&a, 0, sizeof a);
	if (relaydb_table_ok(r, file) != 0)
		return -1;
	a.file = file;
	a.vmax = vmax;
	if (relaydb_run(r, file, op_table_scan, &a) != 0) {
		entries_free(&a.e);
		return -1;
	}
	for (size_t i = 0; i < a.e.n; i++)
		if (fn(a.e.v[i].key, a.e.v[i].klen, a.e.v[i].val, a.e.v[i].vlen, arg) != 0)
			break;
	entries_free(&a.e);
	return 0;
}
