/*
 * stats.h: counters every process can bump and anyone can read: a small
 * file <state_dir>/stats mapped shared by the master before it forks, so
 * each child inherits the mapping; ispmailctl status and the metrics
 * service map it read-only. Increments are atomic; nothing blocks.
 *
 * It also remembers recent failed logins per client address, so that a
 * password guesser is slowed down across sessions, not only within one.
 */
#ifndef ISPMAILD_STATS_H
#define ISPMAILD_STATS_H

#include <stdint.h>
#include <time.h>

#include "conf.h"

enum stats_counter {
	STAT_CONNECTIONS,		/* per service */
	STAT_REFUSED,			/* per service: over a connection limit */
	STAT_LOGIN_OK,			/* per service */
	STAT_LOGIN_FAILED,		/* per service */
	STAT_MSG_DELIVERED,		/* per service: messages into Maildirs */
	STAT_MSG_QUEUED,		/* per service: messages queued for relay */
	STAT_COUNTER_KINDS
};

enum stats_reject {
	STAT_REJECT_FIRST_POP,		/* 553 first check your mail */
	STAT_REJECT_DENIED,		/* 550 relaying prohibited */
	STAT_REJECT_AUTH_REQUIRED,	/* 530 */
	STAT_REJECT_UNKNOWN_USER,	/* 550 5.1.1 */
	STAT_REJECT_SYNTAX,		/* 501 and friends: bad form, out of sequence */
	STAT_REJECT_LIMIT,		/* 452/552: too many, too big */
	STAT_REJECT_DATA,		/* bare LF/CR, NUL, long lines */
	STAT_REJECT_RATELIMIT,		/* 451 sending rate limit exceeded */
	STAT_REJECT_SENDER,		/* 553/550 sender checks (relay block) */
	STAT_REJECT_DNSBL,		/* 554 client listed in a DNSBL zone */
	STAT_REJECT_GREYLIST,		/* 450 greylisted */
	STAT_REJECT_MILTER,		/* a filter's reject or tempfail (milters) */
	STAT_REJECT_QUOTA,		/* 452 4.2.2 mailbox full */
	STAT_REJECT_KINDS
};

enum stats_queue {
	STAT_QUEUE_SENT,
	STAT_QUEUE_DEFERRED,
	STAT_QUEUE_BOUNCED,		/* recipients given up on */
	STAT_QUEUE_DSN,			/* bounce messages sent */
	STAT_QUEUE_SUPPRESSED,		/* bounces not sent: forwarded for an outside client */
	STAT_QUEUE_KINDS
};

/* Sessions the server ended because a limit was reached. */
enum stats_close {
	STAT_CLOSE_TIMEOUT,		/* command_timeout, data_timeout */
	STAT_CLOSE_ERRORS,		/* too many errors or bad commands */
	STAT_CLOSE_JUNK,		/* junk_command_limit */
	STAT_CLOSE_SESSION_TIMEOUT,	/* session_timeout */
	STAT_CLOSE_KINDS
};

#define STATS_AUTH_SLOTS 256
#define STATS_AUTH_WINDOW 900		/* failures are forgotten after 15 min */

struct stats_auth_slot {
	char key[64];			/* "<client address> <hash of the name>" */
	uint32_t failures;
	int64_t last;
};

struct stats_shm {
	uint32_t magic;
	uint32_t version;
	int64_t started;		/* master start, unix seconds */
	int32_t master_pid;
	uint32_t sessions[SERVICE_COUNT];	/* now, kept by the master */
	uint64_t counter[STAT_COUNTER_KINDS][SERVICE_COUNT];
	uint64_t reject[STAT_REJECT_KINDS];
	uint64_t queue[STAT_QUEUE_KINDS];
	uint64_t closed[STAT_CLOSE_KINDS];
	struct stats_auth_slot auth[STATS_AUTH_SLOTS];
};

/* The master: create (or reset) and map the file. 0 or -1 (errno). */
int stats_create(const char *state_dir);
/* Readers: map an existing file read-only; NULL with errno. */
const struct stats_shm *stats_open_readonly(const char *state_dir);
void stats_close_readonly(const struct stats_shm *s);

void stats_count(enum stats_counter what, enum service svc);
void stats_reject(enum stats_reject why);
void stats_queue(enum stats_queue what);
void stats_closed(enum stats_close why);
void stats_sessions_set(enum service svc, uint32_t n);

/*
 * A failed login of user (the name tried) from the address addr (relay DB
 * key form): returns how many failures that address has had in the last
 * 15 minutes, all names together, this one included. A success of user
 * from addr forgets that user's failures there, and only those: a guesser
 * who logs in to an account of its own does not reset its pause.
 */
uint32_t stats_auth_failed(const char *addr, const char *user, time_t now);
void stats_auth_succeeded(const char *addr, const char *user);
/*
 * What the table keeps of a name tried (never the name itself: it may be
 * a mistyped password); the shared count (session.h) keeps the same.
 */
uint32_t stats_auth_name_hash(const char *user);

const char *stats_reject_name(enum stats_reject why);
const char *stats_queue_name(enum stats_queue what);
const char *stats_close_name(enum stats_close why);

#endif
