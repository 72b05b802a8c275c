/*
 * maildir.h: Maildir storage (SPEC §5). Delivery the Maildir way (write in
 * tmp/, fsync, link into new/, fsync the directory), unique names carrying
 * S= (bytes on disk) and W= (bytes with CRLF line ends), scanning new/ and
 * cur/ without a stat() per file, POP3's view of a message (CRLF lines,
 * dot-stuffing, TOP), and the per-mailbox lock of a POP3 session.
 *
 * Messages are stored with LF line ends, as every Maildir reader expects;
 * the wire encoder turns them into CRLF for POP3.
 */
#ifndef ISPMAILD_MAILDIR_H
#define ISPMAILD_MAILDIR_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

#define MAILDIR_NAME_MAX 256

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
 * <root>/<domain>/<localpart> for a lower-case address, refusing anything
 * that could escape the root ("/", "..", leading ".", control bytes).
 */
int maildir_path_for(const char *root, const char *address, char *out, size_t outlen);

/* mkdir -p path, then tmp/ new/ cur/ (mode 0700); chown to uid/gid unless -1. */
int maildir_make(const char *path, uid_t uid, gid_t gid);

/* A name unique across processes and hosts: "<sec>.M<usec>P<pid>Q<n>.<host>". */
int maildir_unique_name(char *out, size_t outlen);

/*
 * Parse a file name: uid_len gets the length of the unique part (up to ':'
 * or the first ','); disk and crlf get S= and W= (or (size_t)-1 when absent).
 * 0, or -1 when the name is not a message name (dot files, empty).
 */
int maildir_name_parse(const char *name, size_t *uid_len, size_t *disk, size_t *crlf);

/* --- delivery --- */

struct maildir_writer {
	int fd;
	char maildir[PATH_MAX];
	char base[MAILDIR_NAME_MAX];	/* unique part */
	char final[PATH_MAX];		/* path in new/ after commit */
	size_t disk;			/* bytes written */
	size_t crlf;			/* bytes as CRLF text */
	int last_cr;			/* previous byte written was CR */
};

/* Create tmp/<unique> in maildir for writing. */
int maildir_writer_open(struct maildir_writer *w, const char *maildir);
/* Append bytes (LF line ends expected; CRLF is stored as given). */
int maildir_writer_write(struct maildir_writer *w, const void *p, size_t n);
/*
 * fsync and close the file, link it into new/<base>,S=<disk>,W=<crlf>,
 * remove the tmp name, fsync new/. After 0 the message is durable.
 */
int maildir_writer_commit(struct maildir_writer *w);
/* Remove the tmp file of an unfinished delivery. */
void maildir_writer_abort(struct maildir_writer *w);
/*
 * Deliver the committed message of w into another Maildir too: a hard link
 * under a fresh unique name (a copy when linking fails, EXDEV), fsync new/.
 */
int maildir_writer_link(const struct maildir_writer *w, const char *maildir);
/* Convenience: one whole message in one call. */
int maildir_deliver(const char *maildir, const void *p, size_t n);

/* --- reading (POP3) --- */

/* The messages in new/ and cur/, oldest first. */
int maildir_scan(const char *maildir, struct maildir_list *out);
void maildir_list_free(struct maildir_list *l);
/* open(2) the message read-only. */
int maildir_msg_open(const char *maildir, const struct maildir_msg *m);
int maildir_msg_delete(const char *maildir, const struct maildir_msg *m);
/* Move new/ -> cur/ with ":2,S" (a message a POP3 client has seen). */
int maildir_msg_seen(const char *maildir, struct maildir_msg *m);

/*
 * The POP3 wire form of a message (RFC 1939 §3): LF -> CRLF (an existing
 * CRLF kept), a leading "." doubled, and for TOP the headers, the blank line
 * and at most top_lines body lines.
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
/* Encode in[0..n) onto out. */
void maildir_wire_encode(struct maildir_wire *st, const char *in, size_t n, struct buf *out);
/* End of file: finish a last line without LF with CRLF. */
void maildir_wire_finish(struct maildir_wire *st, struct buf *out);

/* --- the POP3 lock --- */

/* Take the mailbox lock without waiting: fd, or -1 (errno EWOULDBLOCK: in use). */
int maildir_lock(const char *maildir);
void maildir_unlock(int fd);

#endif
