/*
 * quota_warn.c: the 80 % and 95 % quota warnings (see quota_warn.h). The
 * decision is maildir/quota.c's (quota_warn_level, the .quotawarn memory
 * under its lock); this file writes the message and delivers it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "quota_warn.h"

static void warning_date(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	localtime_r(&t, &tm);
	if (strftime(out, outlen, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		out[0] = '\0';
}

/*
 * From: the postmaster of the user's own domain. Every local domain takes
 * postmaster@ (recipient.c, role_address), so a reply reaches whoever
 * answers for it, and no customer's address (the postmaster fallback is
 * the first user) is ever shown to another.
 */
void deliver_quota_warning_text(const struct quota_warning *w, struct buf *out)
{
	const char *at = strrchr(w->to, '@');
	char used[32], quota[32], date[64];
	unsigned long long pct = 0;

	quota_size_words(w->bytes > 0 ? (unsigned long long)w->bytes : 0, used, sizeof used);
	quota_size_words(w->quota, quota, sizeof quota);
	warning_date(w->now, date, sizeof date);
	if (w->quota > 0 && w->bytes > 0)
		pct = (unsigned long long)((long double)w->bytes * 100 / (long double)w->quota);
	buf_printf(out,
	    "Return-Path: <>\n"
	    "From: Postmaster <postmaster@%s>\n"
	    "To: <%s>\n"
	    "Subject: Your mailbox is %d%% full\n"
	    "Date: %s\n"
	    "Message-ID: <%lld.%ld.quota%d@%s>\n"
	    "Auto-Submitted: auto-generated\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=us-ascii\n"
	    "Content-Transfer-Encoding: 7bit\n"
	    "\n",
	    at != NULL ? at + 1 : w->hostname, w->to, w->level, date,
	    (long long)w->now, (long)getpid(), w->level, w->hostname);
	buf_printf(out,
	    "Your mailbox %s is %llu%% full.\n"
	    "It holds %s of the %s it may hold.\n"
	    "\n"
	    "When it is full, new mail for you is not delivered: senders are\n"
	    "told to try again later, and mail that still finds no room after\n"
	    "some days goes back to its sender.\n"
	    "\n"
	    "To make room, delete mail you no longer need (and empty the Trash\n"
	    "folder of your mail program), or let your mail program download\n"
	    "your mail and remove it from the server. If you need more room,\n"
	    "ask your provider for a bigger mailbox.\n"
	    "\n"
	    "You get this warning at most once a day.\n"
	    "\n"
	    "-- \n"
	    "Postmaster\n",
	    w->to, pct, used, quota);
}

/* Today as the memory file names it: the server's local date. */
static void today(time_t now, char *out, size_t outlen)
{
	struct tm tm;

	localtime_r(&now, &tm);
	if (strftime(out, outlen, "%Y-%m-%d", &tm) == 0)
		out[0] = '\0';
}

/* Write the warning into the Maildir and count it; 0 or -1 (errno). */
static int warning_store(const struct quota_warning *w, const char *maildir)
{
	struct buf msg = BUF_INIT;
	int r;

	deliver_quota_warning_text(w, &msg);
	r = maildir_deliver(maildir, msg.s, msg.len);
	/* Counted like any message (a recount would find it anyway). */
	if (r == 0 && quota_update(maildir, w->quota, 0, (long long)msg.len, 1) != 0)
		log_warn("quota user=%s result=error reason=\"%s\"", log_q(w->to),
		    strerror(errno));
	buf_free(&msg);
	return r;
}

void deliver_quota_warning(const struct conf *c, const char *address,
    const char *maildir, unsigned long long quota, const struct quota_usage *u)
{
	struct quota_warning w;
	char day[QUOTA_WARN_DAY_MAX];
	int fd, r, sent;

	if (quota == 0)
		return;
	memset(&w, 0, sizeof w);
	if ((w.level = quota_warn_level(u, quota, 0)) == 0)
		return;		/* the common case: arithmetic, nothing more */
	w.to = address;
	w.hostname = c->hostname;
	w.bytes = u->bytes;
	w.quota = quota;
	w.now = time(NULL);
	today(w.now, day, sizeof day);
	r = quota_warn_begin(maildir, day, w.level, &fd);
	if (r == 0)
		return;		/* warned at this level today already */
	if (r < 0) {
		log_warn("quota user=%s level=%d result=error reason=\"%s: %s\"",
		    log_q(address), w.level, QUOTA_WARN_FILE, strerror(errno));
		return;
	}
	sent = warning_store(&w, maildir) == 0;
	if (!sent)
		log_warn("quota user=%s level=%d result=error reason=\"%s\"", log_q(address),
		    w.level, strerror(errno));
	if (quota_warn_end(fd, sent, day, w.level) != 0)
		log_warn("quota user=%s level=%d result=error reason=\"%s: %s\"",
		    log_q(address), w.level, QUOTA_WARN_FILE, strerror(errno));
	if (sent)
		log_info("quota user=%s level=%d result=warned", log_q(address), w.level);
}
