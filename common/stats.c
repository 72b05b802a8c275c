/*
 * stats.c: the shared counters (see stats.h). The file is fixed-size and
 * rewritten by every master start; a reader checks the magic and version.
 * The failed-login table is updated under an fcntl lock on the file, which
 * the kernel drops if its holder dies.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "stats.h"

#define STATS_MAGIC 0x69737073u		/* "ispsS" */
#define STATS_VERSION 6

static struct stats_shm *shm;
static int shm_fd = -1;

static int stats_path(const char *state_dir, char *out, size_t outlen)
{
	return str_format(out, outlen, "%s/stats", state_dir);
}

int stats_create(const char *state_dir)
{
	char path[PATH_MAX];
	void *p;
	int fd, r = 0, saved;

	if (stats_path(state_dir, path, sizeof path) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -1;
	/*
	 * Every block allocated now, not when a page is first touched: a
	 * sparse page written on a full disk is a SIGBUS in whichever process
	 * touches it (a session on a failed login). posix_fallocate returns
	 * the error number instead of setting errno.
	 */
	if (ftruncate(fd, 0) != 0 ||
	    (r = posix_fallocate(fd, 0, sizeof(struct stats_shm))) != 0) {
		if (r != 0)
			errno = r;
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	p = mmap(NULL, sizeof(struct stats_shm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return -1;
	}
	shm = p;
	shm_fd = fd;
	shm->magic = STATS_MAGIC;
	shm->version = STATS_VERSION;
	shm->started = (int64_t)time(NULL);
	shm->master_pid = (int32_t)getpid();
	return 0;
}

const struct stats_shm *stats_open_readonly(const char *state_dir)
{
	char path[PATH_MAX];
	struct stats_shm *p;
	int fd;

	if (stats_path(state_dir, path, sizeof path) != 0) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return NULL;
	p = mmap(NULL, sizeof *p, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	if (p->magic != STATS_MAGIC || p->version != STATS_VERSION) {
		munmap(p, sizeof *p);
		errno = EINVAL;
		return NULL;
	}
	return p;
}

void stats_close_readonly(const struct stats_shm *s)
{
	if (s != NULL)
		munmap((void *)s, sizeof *s);
}

void stats_count(enum stats_counter what, enum service svc)
{
	if (shm != NULL && svc < SERVICE_COUNT)
		__atomic_fetch_add(&shm->counter[what][svc], 1, __ATOMIC_RELAXED);
}

void stats_reject(enum stats_reject why)
{
	if (shm != NULL)
		__atomic_fetch_add(&shm->reject[why], 1, __ATOMIC_RELAXED);
}

void stats_queue(enum stats_queue what)
{
	if (shm != NULL)
		__atomic_fetch_add(&shm->queue[what], 1, __ATOMIC_RELAXED);
}

void stats_closed(enum stats_close why)
{
	if (shm != NULL && why < STAT_CLOSE_KINDS)
		__atomic_fetch_add(&shm->closed[why], 1, __ATOMIC_RELAXED);
}

void stats_sessions_set(enum service svc, uint32_t n)
{
	if (shm != NULL && svc < SERVICE_COUNT)
		__atomic_store_n(&shm->sessions[svc], n, __ATOMIC_RELAXED);
}

static int table_lock(int type)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = (short)type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1;
	while (fcntl(shm_fd, F_SETLKW, &fl) != 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static unsigned fnv1a(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

uint32_t stats_auth_name_hash(const char *user)
{
	return fnv1a(user);
}

/*
 * A slot belongs to one name tried from one address: "<address> <hash of
 * the name>". The name itself is not kept (it may be a mistyped password).
 */
static void slot_key(const char *addr, const char *user, char *out, size_t outlen)
{
	if (str_format(out, outlen, "%s %08x", addr, stats_auth_name_hash(user)) != 0)
		str_copy(out, outlen, addr);	/* cannot happen: NET_ADDR_MAX */
}

static int slot_is_address(const struct stats_auth_slot *s, const char *addr)
{
	size_t n = strlen(addr);

	return strncmp(s->key, addr, n) == 0 && s->key[n] == ' ';
}

uint32_t stats_auth_failed(const char *addr, const char *user, time_t now)
{
	struct stats_auth_slot *s;
	char key[sizeof s->key];
	uint32_t n = 0;
	unsigned i;

	if (shm == NULL || table_lock(F_WRLCK) != 0)
		return 1;
	slot_key(addr, user, key, sizeof key);
	s = &shm->auth[fnv1a(key) % STATS_AUTH_SLOTS];
	if (strcmp(s->key, key) != 0 || now - s->last > STATS_AUTH_WINDOW) {
		/* A new name or address takes the slot: the table forgets, never grows. */
		str_copy(s->key, sizeof s->key, key);
		s->failures = 0;
	}
	s->failures++;
	s->last = (int64_t)now;
	/* The address's record: every name it tried, recently. */
	for (i = 0; i < STATS_AUTH_SLOTS; i++) {
		s = &shm->auth[i];
		if (slot_is_address(s, addr) && now - s->last <= STATS_AUTH_WINDOW &&
		    n < UINT32_MAX - s->failures)
			n += s->failures;
	}
	(void)table_lock(F_UNLCK);
	return n;
}

void stats_auth_succeeded(const char *addr, const char *user)
{
	struct stats_auth_slot *s;
	char key[sizeof s->key];

	if (shm == NULL || table_lock(F_WRLCK) != 0)
		return;
	slot_key(addr, user, key, sizeof key);
	s = &shm->auth[fnv1a(key) % STATS_AUTH_SLOTS];
	if (strcmp(s->key, key) == 0) {
		s->key[0] = '\0';
		s->failures = 0;
	}
	(void)table_lock(F_UNLCK);
}

const char *stats_reject_name(enum stats_reject why)
{
	static const char *const names[STAT_REJECT_KINDS] = {
		"first-pop", "denied", "auth-required", "unknown-user", "syntax",
		"limit", "data", "ratelimit", "sender", "dnsbl", "greylist",
		"milter", "quota",
	};

	return why < STAT_REJECT_KINDS ? names[why] : "other";
}

const char *stats_queue_name(enum stats_queue what)
{
	static const char *const names[STAT_QUEUE_KINDS] = {
		"sent", "deferred", "bounced", "dsn", "dsn_suppressed",
	};

	return what < STAT_QUEUE_KINDS ? names[what] : "other";
}

const char *stats_close_name(enum stats_close why)
{
	static const char *const names[STAT_CLOSE_KINDS] = {
		"timeout", "errors", "junk", "session-timeout",
	};

	return why < STAT_CLOSE_KINDS ? names[why] : "other";
}
