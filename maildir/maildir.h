/*
 * maildir.h: Maildir storage (docs/PROTOCOL.md, files). Delivery the Maildir
 * way (write in tmp/, fsync, link into new/, fsync the directory), unique
 * names carrying S= (bytes on disk) and W= (bytes with CRLF line ends),
 * scanning new/ and cur/ without a stat() per file, POP3's view of a message
 * (CRLF lines, dot-stuffing, TOP), and the per-mailbox lock of a POP3
 * session.
 *
 * Messages are stored with LF line ends, as every Maildir reader expects;
 * the wire encoder turns them into CRLF for POP3.
 */
#ifndef ISPMAILD_MAILDIR_H
#define ISPMAILD_MAILDIR_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "buf.h"

#define MAILDIR_NAME_MAX 256
/* RFC 1939 §7: a unique-id is 1 to 70 octets in 0x21..0x7e. */
#define MAILDIR_UID_MAX 70

struct maildir_msg {
	char *name;		/* file name in new/ or cur/ */
	unsigned char in_cur;
	unsigned char deleted;	/* marked by POP3 DELE, acted on at QUIT */
	size_t size;		/* W=: octets as CRLF text, what LIST reports */
	size_t uid_len;		/* name[0..uid_len) is the stable unique part */
};

struct maildir_list {
	struct maildir_msg *v;
	size_t n;
};

/*
 * <root>/<domain>/<localpart> for an address "localpart@domain", ASCII
 * lower-cased. Refuses (-1, EINVAL) anything that could escape the root or
 * confuse a Maildir reader: an empty part, a second '@', '/', a leading or
 * trailing '.', "..", bytes <= 0x20 or >= 0x7f; -1 with ENAMETOOLONG when
 * the result does not fit in out.
 */
int maildir_path_for(const char *root, const char *address, char *out, size_t outlen);

/*
 * No symbolic link below maildir_root is ever followed (docs/SECURITY.md):
 * a mail user who plants one must not make root (ispmailctl) or the daemon
 * create, chown or write anything where it points.
 *
 * maildir_dir_walk: walk rel ("a/b/c") down from the directory dirfd one
 * component at a time, each opened O_DIRECTORY|O_NOFOLLOW. With create, a
 * missing component is made with mkdirat(2) (0700) and, when uid or gid is
 * not -1 and the new directory is this process's own, chowned with
 * fchown(2) on a descriptor opened without following links (never chown by
 * path: a folder swapped for a link after the mkdir is not followed). The
 * last directory's fd (a dup of dirfd when rel is empty), or -1 with errno:
 * ELOOP when a component is a symbolic link, EINVAL for "." or "..". bad
 * (when badlen > 0) gets rel up to the component that failed.
 */
int maildir_dir_walk(int dirfd, const char *rel, int create, uid_t uid,
    gid_t gid, char *bad, size_t badlen);

/*
 * Make the Maildir root/rel and its tmp/ new/ cur/ (mode 0700). root is the
 * admin's (maildir_root): links in it are followed and missing parts made;
 * rel ("<domain>/<localpart>") and the three folders are walked with
 * maildir_dir_walk, never through a link (ELOOP, bad names the part).
 * Directories made are chowned to uid/gid unless both are -1; existing ones
 * are left as they are.
 */
int maildir_make_at(const char *root, const char *rel, uid_t uid, gid_t gid,
    char *bad, size_t badlen);

/*
 * maildir_make_at for a path made by maildir_path_for: its last two
 * components ("<domain>/<localpart>") are rel, the rest the root.
 */
int maildir_make(const char *path, uid_t uid, gid_t gid);

/*
 * A name unique across processes and hosts: "<sec>.M<usec>P<pid>Q<n>.<host>",
 * the host with '/' ',' ':' written as \057 \054 \072 and cut so that the
 * whole name is at most MAILDIR_UID_MAX octets (it is the UIDL).
 */
int maildir_unique_name(char *out, size_t outlen);

/*
 * Parse a file name: uid_len gets the length of the unique part (up to ':'
 * or the first ','); disk and crlf get S= and W= (or (size_t)-1 when absent
 * or malformed). 0, or -1 when the name is not a message name: empty, a dot
 * file, a control byte or '/', or not starting with "<digits>." (every
 * Maildir writer starts with the time). Any pointer may be NULL.
 */
int maildir_name_parse(const char *name, size_t *uid_len, size_t *disk, size_t *crlf);
/* The delivery time in a name: "<sec>." and, Courier/Dovecot style, ".M<usec>". */
int maildir_name_time(const char *name, unsigned long long *sec, unsigned long *usec);

/* --- delivery --- */

struct maildir_writer {
	int fd;
	int tmpfd, newfd;		/* tmp/ and new/, opened without following links */
	char maildir[PATH_MAX];
	char base[MAILDIR_NAME_MAX];	/* unique part */
	char final[PATH_MAX];		/* path in new/ after commit */
	size_t disk;			/* bytes written */
	size_t crlf;			/* bytes as CRLF text (W=) */
	int last_cr;			/* previous byte written was CR */
	int last_lf;			/* previous byte written was LF */
};

/*
 * The sizes of bytes as they pass: S= (disk) and W= (crlf, before the 2
 * that commit adds for a last line without LF), continued across calls.
 * What maildir_writer_write counts; a body spooled elsewhere is counted
 * with it as it arrives, so that copying it in needs no second look.
 */
struct maildir_count {
	size_t disk;
	size_t crlf;
	int last_cr;
	int last_lf;
};

void maildir_count_add(struct maildir_count *c, const void *p, size_t n);

/*
 * All calls return 0, or -1 with errno kept from the failing system call
 * (ENOSPC and EDQUOT are worth telling apart: 452 4.3.1).
 *
 * W= is the size of the message as POP3 sends it before dot-stuffing:
 * every LF not preceded by CR counts 2, and a non-empty message that does
 * not end in LF counts 2 more (the wire encoder finishes its last line).
 */

/*
 * Create tmp/<unique> in maildir for writing. maildir's own name, tmp/ and
 * new/ are opened without following a link (ELOOP); every later step goes
 * through those descriptors.
 */
int maildir_writer_open(struct maildir_writer *w, const char *maildir);
/*
 * maildir_writer_open with the unique name given (the queue names its
 * data files by its own ids): EEXIST when tmp/<base> is taken, EINVAL for
 * a name with '/' or an empty one or one too long.
 */
int maildir_writer_open_as(struct maildir_writer *w, const char *maildir,
    const char *base);
/* Append bytes (LF line ends expected; CRLF is stored as given). */
int maildir_writer_write(struct maildir_writer *w, const void *p, size_t n);
/* Append several pieces with writev(2), counted as maildir_writer_write does. */
int maildir_writer_writev(struct maildir_writer *w, const struct iovec *iov, int iovcnt);
/*
 * Append len bytes of the file fd from offset off, copied in the kernel
 * (copy_file_range(2); a read/write loop where it cannot), without
 * looking at them: from holds their counts, made by maildir_count_add
 * from the last_cr state of the bytes before them (from->disk == len).
 */
int maildir_writer_append_file(struct maildir_writer *w, int fd, off_t off,
    size_t len, const struct maildir_count *from);
/*
 * fsync and close the file, link it into new/<base>,S=<disk>,W=<crlf>,
 * remove the tmp name, fsync new/. After 0 the message is durable and
 * w->final names it. After -1 nothing is left in tmp/ or new/.
 */
int maildir_writer_commit(struct maildir_writer *w);
/* Remove the tmp file of an unfinished delivery; a no-op after commit. */
void maildir_writer_abort(struct maildir_writer *w);
/*
 * Deliver the committed message of w into another Maildir too: a hard link
 * under a fresh unique name with the same S=/W= (a copy through a new
 * writer when linking fails: EXDEV, EMLINK, EPERM...), then fsync new/.
 * EINVAL when w was not committed.
 */
int maildir_writer_link(const struct maildir_writer *w, const char *maildir);
/* Convenience: one whole message in one call. */
int maildir_deliver(const char *maildir, const void *p, size_t n);

/* --- reading (POP3) --- */

/*
 * The messages in new/ and cur/, oldest first (seconds, microseconds, then
 * name). Sizes come from W= in the name; a name without W= (another MDA)
 * costs one read of the file. A message seen in both new/ and cur/ (moved
 * by someone else during the scan) is listed once. -1 with errno when a
 * directory cannot be read (ENOENT: no Maildir there).
 */
int maildir_scan(const char *maildir, struct maildir_list *out);
void maildir_list_free(struct maildir_list *l);
/* open(2) the message read-only (O_NOFOLLOW): fd or -1. */
int maildir_msg_open(const char *maildir, const struct maildir_msg *m);
/* unlink(2); a message already gone (ENOENT) counts as deleted. */
int maildir_msg_delete(const char *maildir, const struct maildir_msg *m);
/*
 * The UIDL of a message (RFC 1939 §7): the unique part of its name when it
 * is 1..70 octets in 0x21..0x7e (always so for our own names), otherwise
 * (another MDA's name) a 16-digit hex hash of it, equally stable.
 */
int maildir_msg_uidl(const struct maildir_msg *m, char *out, size_t outlen);

/*
 * The POP3 wire form of a message (RFC 1939 §3): LF -> CRLF (an existing
 * CRLF kept, a CR not followed by LF sent as is), a "." starting a line
 * doubled, and for TOP (§7) the headers, the blank line and at most
 * top_lines body lines. A byte-level state machine: any split of the input
 * into chunks gives the same output. The terminating ".\r\n" is the
 * caller's. Without TOP the output is W= octets plus one per stuffed dot.
 */
struct maildir_wire {
	long top_lines;		/* -1: whole message */
	long body_lines;	/* body lines sent so far */
	int at_bol;		/* next byte starts a line */
	int in_body;		/* past the empty line ending the headers */
	int line_empty;		/* current line has no content yet */
	int pending_cr;		/* a CR seen, waiting for what follows */
	int done;		/* TOP limit reached: ignore the rest */
};

void maildir_wire_init(struct maildir_wire *st, long top_lines);
/* Encode in[0..n) onto out (appends). */
void maildir_wire_encode(struct maildir_wire *st, const char *in, size_t n, struct buf *out);
/* End of file: finish a last line without LF with CRLF. */
void maildir_wire_finish(struct maildir_wire *st, struct buf *out);

/* --- the POP3 lock --- */

/*
 * Take the mailbox lock without waiting: an exclusive flock(2) on
 * <maildir>/.ispmaild.lock. fd, or -1 (errno EWOULDBLOCK: in use). Held
 * until maildir_unlock() or the death of the process.
 */
int maildir_lock(const char *maildir);
void maildir_unlock(int fd);

/* --- Maildir++ quota (quota.c) --- */
/*
 * A Maildir's maildirsize file: the limits on its first line (0: none)
 * and the sum of its "<bytes> <count>" lines. The limits a caller passes
 * are the user's (users file quota=); a file naming others is counted
 * again. No function here writes a maildirsize for a mailbox without a
 * quota (both limits 0).
 */
struct quota_usage {
	long long bytes, count;
	unsigned long long limit_bytes, limit_count;
};
/* Parse a whole file's text; -1 when corrupt (then recalculate). */
int quota_parse(const char *text, size_t len, struct quota_usage *u);
/*
 * At or over a limit (0: none). The limit is soft by one message: a
 * mailbox under it takes the next message whatever its size.
 */
int quota_over(const struct quota_usage *u, unsigned long long limit_bytes,
    unsigned long long limit_count);
/*
 * The usage, from maildirsize, or counted again (quota_recalc) when it is
 * missing, corrupt, too large to read, names other limits, or when
 * Courier's staleness rule says so (over 5120 bytes, or over quota, and
 * untouched for 15 minutes). 0, or -1 with errno.
 */
int quota_get(const char *maildir, unsigned long long limit_bytes,
    unsigned long long limit_count, struct quota_usage *u);
/* Room for one more message: 1 yes, 0 full, -1 error (errno). */
int quota_room(const char *maildir, unsigned long long limit_bytes,
    unsigned long long limit_count);
/*
 * Record a change made (a delivery: +size +1, after its fsync; a delete:
 * -size -1, after the unlink): one line appended in one O_APPEND write,
 * or the file counted again when quota_get would. 0 or -1 (errno).
 */
int quota_update(const char *maildir, unsigned long long limit_bytes,
    unsigned long long limit_count, long long bytes, long long count);
/*
 * quota_update, and then the usage with the change (what quota_get would
 * give next) in *after: read through the descriptor that appended, when
 * it can be. 0, 1 (recorded, but *after unknown: quota_get failed), or
 * -1 (errno: not recorded).
 */
int quota_update_get(const char *maildir, unsigned long long limit_bytes,
    unsigned long long limit_count, long long bytes, long long count,
    struct quota_usage *after);
/*
 * Count new/ and cur/ of the Maildir and of its folders (S= from the
 * names) and replace maildirsize (tmp/ then rename). EINVAL without limits.
 */
int quota_recalc(const char *maildir, unsigned long long limit_bytes,
    unsigned long long limit_count, struct quota_usage *u);
/* The same count without writing anything (a mailbox without a quota). */
int quota_scan(const char *maildir, struct quota_usage *u);

/*
 * The 80 % and 95 % warnings (SPEC 12, docs/ADMIN.md "My mailbox is
 * full"): at most one per level per day per mailbox. The memory is one
 * line in the Maildir's QUOTA_WARN_FILE, "YYYY-MM-DD LEVEL" (the day and
 * the highest level warned that day): read without a scan, kept across
 * restarts, and a mailbox without a quota never has one.
 */
#define QUOTA_WARN_FILE ".quotawarn"
#define QUOTA_WARN_DAY_MAX 11	/* "YYYY-MM-DD" and its NUL */
/* The highest warning level the usage has reached: 95, 80, or 0. */
int quota_warn_level(const struct quota_usage *u, unsigned long long limit_bytes,
    unsigned long long limit_count);
/*
 * Whether a warning at level is due today, given the memory file's text
 * (may be empty or garbage: then it is due): not when the memory names
 * today with a level at or above it. 1 due, 0 not.
 */
int quota_warn_due(const char *memory, size_t len, const char *today, int level);
/*
 * Open and lock (flock, exclusive: two deliveries crossing at once give
 * one warning) the memory of maildir, and decide with quota_warn_due.
 * 1 due, with *fd holding the lock for quota_warn_end; 0 not due; -1
 * error (errno). Nothing is left locked unless 1.
 */
int quota_warn_begin(const char *maildir, const char *today, int level, int *fd);
/*
 * After quota_warn_begin's 1: when sent, remember today and level; then
 * release the lock. 0, or -1 (errno) when the memory could not be
 * written (the next delivery may warn again).
 */
int quota_warn_end(int fd, int sent, const char *today, int level);
/* "300 bytes", "80 KB", "8.1 MB", "2 GB": 1024-based, as the users file reads them. */
void quota_size_words(unsigned long long n, char *out, size_t outlen);

#endif
