/*
 * deliver.c: the one delivery of a message (see deliver.h). The order is
 * the one docs/PROTOCOL.md promises: the first local copy written, fsynced
 * and linked into new/, the other local recipients hard links of it, then
 * the queue's data file and its envelope; every directory fsynced on the
 * way. Nothing is read back from disk: each copy is the header block and
 * the body as they were received.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "deliver.h"
#include "log.h"
#include "maildir.h"
#include "quota_warn.h"
#include "sys.h"
#include "users.h"

/* The Maildir of a local recipient, made when missing (first delivery). */
static int local_maildir(const struct conf *c, const char *address, char *path,
    size_t pathlen)
{
	if (maildir_path_for(c->maildir_root, address, path, pathlen) != 0 ||
	    maildir_make(path, (uid_t)-1, (gid_t)-1) != 0)
		return -1;
	return 0;
}

/*
 * Maildir++: a user with a quota has the stored copy counted in its
 * maildirsize, after the copy's fsync (docs/PROTOCOL.md). A failure only
 * leaves the count to the next recalculation: the mail is stored. Then
 * the 80 % / 95 % warning, when this copy took the mailbox there: the
 * usage is read back through the descriptor that appended the line
 * (quota_update_get), and below 80 % nothing more is done.
 */
static void quota_count(const struct conf *c, const char *address, size_t size)
{
	struct user_options o;
	struct quota_usage u;
	char path[PATH_MAX];
	int r;

	if (users_options(c->users_file, address, &o) != 1 || !o.has_quota ||
	    maildir_path_for(c->maildir_root, address, path, sizeof path) != 0)
		return;
	r = quota_update_get(path, o.quota, 0, (long long)size, 1, &u);
	if (r < 0)
		log_warn("quota to=%s result=error reason=\"%s\"", log_q(address),
		    strerror(errno));
	else if (r == 0)
		deliver_quota_warning(c, address, path, o.quota, &u);
}

int deliver_open(struct delivery *d, const struct conf *c, const struct rcpt_set *set,
    const char *sender, const char *client)
{
	char path[PATH_MAX];
	int r;

	memset(d, 0, sizeof *d);
	d->conf = c;
	d->set = set;
	d->sender = sender;
	d->client = client;
	d->body.spool = -1;
	d->first.fd = d->first.tmpfd = d->first.newfd = -1;
	if (set->nlocal > 0) {
		r = local_maildir(c, set->local[0], path, sizeof path) == 0 &&
		    maildir_writer_open(&d->first, path) == 0 ? 0 : -1;
		if (r == 0)
			queue_id_from_base(d->first.base, d->id, sizeof d->id);
	} else {
		d->first_is_queue = 1;
		r = queue_id_new(d->id, sizeof d->id) == 0 &&
		    queue_data_open_id(&d->first, c->state_dir, d->id) == 0 ? 0 : -1;
	}
	if (r != 0)
		return -1;
	d->first_open = 1;
	return 0;
}

/*
 * The spool: an unnamed file in the first copy's tmp/ (O_TMPFILE; where
 * the file system has none, a name removed at once), so a session killed
 * in DATA leaves nothing behind, and copy_file_range(2) stays within one
 * file system.
 */
static int spool_open(struct delivery *d)
{
	char name[MAILDIR_NAME_MAX + 8];
	int fd;

	fd = openat(d->first.tmpfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		if (str_format(name, sizeof name, "%s.spool", d->first.base) != 0) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = openat(d->first.tmpfd, name, O_CREAT | O_EXCL | O_RDWR |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			(void)unlinkat(d->first.tmpfd, name, 0);
	}
	if (fd < 0)
		return -1;
	d->body.spool = fd;
	/* The spool's sizes go on from where the memory part left off. */
	d->body.spool_count.last_cr = d->body.mem_count.last_cr;
	d->body.spool_count.last_lf = d->body.mem_count.last_lf;
	return 0;
}

int deliver_body_write(struct delivery *d, const void *p, size_t n)
{
	struct deliver_body *b = &d->body;
	const char *s = p;
	size_t room = 0;

	if (b->spool < 0 && b->mem.len < DELIVER_MEMORY_MAX)
		room = DELIVER_MEMORY_MAX - b->mem.len;
	if (room > n)
		room = n;
	if (room > 0) {
		buf_append(&b->mem, s, room);
		maildir_count_add(&b->mem_count, s, room);
		s += room;
		n -= room;
	}
	if (n == 0)
		return 0;
	if (b->spool < 0 && spool_open(d) != 0)
		return -1;
	if (write_all(b->spool, s, n) != 0)
		return -1;
	maildir_count_add(&b->spool_count, s, n);
	return 0;
}

void deliver_body_replace_mem(struct deliver_body *b, struct buf *mem)
{
	buf_free(&b->mem);
	b->mem = *mem;
	memset(mem, 0, sizeof *mem);
	memset(&b->mem_count, 0, sizeof b->mem_count);
	if (b->mem.len > 0)
		maildir_count_add(&b->mem_count, b->mem.s, b->mem.len);
}

size_t deliver_body_size(const struct delivery *d)
{
	return d->body.mem_count.disk + d->body.spool_count.disk;
}

/* One copy: [Return-Path] + header block + body, in one pass. */
static int copy_write(struct delivery *d, struct maildir_writer *w,
    const struct buf *rp, const struct buf *header)
{
	struct iovec iov[3];
	int n = 0;

	if (rp != NULL && rp->len > 0) {
		iov[n].iov_base = rp->s;
		iov[n++].iov_len = rp->len;
	}
	if (header->len > 0) {
		iov[n].iov_base = header->s;
		iov[n++].iov_len = header->len;
	}
	if (d->body.mem.len > 0) {
		iov[n].iov_base = d->body.mem.s;
		iov[n++].iov_len = d->body.mem.len;
	}
	if (n > 0 && maildir_writer_writev(w, iov, n) != 0)
		return -1;
	if (d->body.spool >= 0 &&
	    maildir_writer_append_file(w, d->body.spool, 0, d->body.spool_count.disk,
	    &d->body.spool_count) != 0)
		return -1;
	return 0;
}

/* Write and commit the copy that w was opened for; w is finished after it. */
static int copy_store(struct delivery *d, struct maildir_writer *w,
    const struct buf *rp, const struct buf *header)
{
	if (copy_write(d, w, rp, header) != 0 || maildir_writer_commit(w) != 0) {
		int e = errno ? errno : EIO;

		maildir_writer_abort(w);
		errno = e;
		return -1;
	}
	return 0;
}

/*
 * An envelope for the remote recipients of set whose forwarded flag is
 * forwarded: the client's own ones leave with the client's sender, the
 * forwarded ones with the SRS sender and the no-bounce mark (recipient.h).
 */
static void envelope_fill(const struct delivery *d, int forwarded, struct queue_env *env)
{
	const struct rcpt_set *set = d->set;
	size_t i;

	memset(env, 0, sizeof *env);
	env->arrival = time(NULL);
	env->sender = xstrdup(forwarded && set->forward_sender ? set->forward_sender :
	    d->sender);
	env->nobounce = forwarded && set->forward_nobounce;
	env->client = xstrdup(d->client ? d->client : "");
	env->held = d->held;
	/* Held, the local recipients wait in the queue with the client's sender. */
	if (d->held && !forwarded)
		for (i = 0; i < set->nlocal; i++)
			queue_env_add_rcpt(env, set->local[i]);
	/* So do full mailboxes an alias led to (recipient.h), until there is room. */
	if (!forwarded)
		for (i = 0; i < set->nfull; i++)
			queue_env_add_rcpt(env, set->full[i]);
	for (i = 0; i < set->nremote; i++)
		if ((set->forwarded[i] != 0) == (forwarded != 0))
			queue_env_add_rcpt(env, set->remote[i]);
}

/*
 * Save the envelope of the queue copy in w (committed) for the remote
 * recipients whose forwarded flag is forwarded; qid gets its id. When it
 * cannot be saved the data file goes too: a data file without an
 * envelope is nobody's.
 */
static int envelope_save(struct delivery *d, const struct maildir_writer *w,
    int forwarded, char *qid, size_t qidlen)
{
	struct queue_env env;
	int r;

	envelope_fill(d, forwarded, &env);
	r = queue_commit(d->conf->state_dir, w, &env);
	if (r == 0) {
		str_copy(qid, qidlen, env.id);
	} else {
		int e = errno;

		(void)unlink(w->final);
		errno = e;
	}
	queue_env_free(&env);
	return r;
}

/*
 * The envelopes of the queue's copy (already committed in w): after they
 * are saved the message is in the queue. An envelope has one sender, so
 * a message with both forwarded and direct remote recipients is queued
 * twice, the forwarded ones with a data file of their own: the runner's
 * worker lock is an flock(2) on the data file, and one inode under two
 * envelopes would make their workers shut each other out. When the
 * second cannot be stored the first goes too: the client sends again.
 */
/* The queue's recipients with the client's sender (held local ones too). */
static size_t queue_ndirect(const struct delivery *d)
{
	return d->set->nremote - rcpt_nforwarded(d->set) + (d->held ? d->set->nlocal : 0) +
	    d->set->nfull;
}

/*
 * The header block of the queue's first copy: the forwarded recipients'
 * (fwd: with their Delivered-To:) when the copy is theirs alone.
 */
static const struct buf *queue_header(const struct delivery *d, const struct buf *header,
    const struct buf *fwd)
{
	return queue_ndirect(d) == 0 && rcpt_nforwarded(d->set) > 0 ? fwd : header;
}

/* fwd: the forwarded recipients' header block (queue_header). */
static int queue_envelope(struct delivery *d, const struct maildir_writer *w,
    const struct buf *fwd, struct deliver_result *res)
{
	struct maildir_writer fw;
	size_t nfwd = rcpt_nforwarded(d->set);
	size_t ndirect = queue_ndirect(d);
	int both = nfwd > 0 && ndirect > 0;

	if (envelope_save(d, w, both ? 0 : nfwd > 0, res->qid, sizeof res->qid) != 0)
		return -1;
	res->queue_size = w->disk;
	if (!both)
		return 0;
	if (queue_data_open(&fw, d->conf->state_dir) != 0 ||
	    copy_store(d, &fw, NULL, fwd) != 0 ||
	    envelope_save(d, &fw, 1, res->qid_forward, sizeof res->qid_forward) != 0) {
		int e = errno ? errno : EIO;

		(void)queue_remove(d->conf->state_dir, res->qid);
		res->qid[0] = '\0';
		errno = e;
		return -1;
	}
	return 0;
}

/* The remote recipients' copy, written directly (not read back from a Maildir). */
static int queue_store(struct delivery *d, const struct buf *header,
    const struct buf *fwd, struct deliver_result *res)
{
	struct maildir_writer qw;

	if (queue_data_open(&qw, d->conf->state_dir) != 0 ||
	    copy_store(d, &qw, NULL, queue_header(d, header, fwd)) != 0)
		return -1;
	return queue_envelope(d, &qw, fwd, res);
}

/* Record where the delivery stopped, keeping errno for the caller. */
static int failed(struct deliver_result *res, enum deliver_stage stage)
{
	res->stage = stage;
	res->error = errno ? errno : EIO;
	errno = res->error;
	return -1;
}

static void body_free(struct deliver_body *b)
{
	buf_free(&b->mem);
	if (b->spool >= 0) {
		(void)close(b->spool);
		b->spool = -1;
	}
}

void deliver_hold(struct delivery *d)
{
	d->held = 1;
}

/*
 * Held: the queue copy is the first and only one. A first copy opened in
 * a Maildir is given up (the body's spool is a file of its own and stays);
 * the queue's is opened with a fresh queue id, the message's id from then.
 */
static int hold_first(struct delivery *d)
{
	if (d->first_is_queue)
		return 0;
	maildir_writer_abort(&d->first);
	d->first_is_queue = 1;
	if (queue_id_new(d->id, sizeof d->id) != 0 ||
	    queue_data_open_id(&d->first, d->conf->state_dir, d->id) != 0)
		return -1;
	return 0;
}

/*
 * The recipients changed after deliver_open (smtpd/intake.c: a forwarding
 * loop kept its user here, recipient.h rcpt_forward_loops): a first copy
 * opened in the queue when every recipient was remote becomes the first
 * local recipient's. The message keeps its id (Received: names it); the
 * spool is a file of its own and stays.
 */
static int local_first(struct delivery *d)
{
	char path[PATH_MAX];

	if (!d->first_is_queue || d->held || d->set->nlocal == 0)
		return 0;
	maildir_writer_abort(&d->first);
	d->first_is_queue = 0;
	if (local_maildir(d->conf, d->set->local[0], path, sizeof path) != 0 ||
	    maildir_writer_open(&d->first, path) != 0)
		return -1;
	return 0;
}

/*
 * The forwarded copy's header block (SPEC 12): Delivered-To: for each
 * forwarding user, above the rest, so that the copy coming back is known
 * (rcpt_forward_loops); header itself when there is none.
 */
static const struct buf *forward_header(const struct delivery *d, const struct buf *header,
    struct buf *fh)
{
	if (rcpt_nforwarded(d->set) == 0)
		return header;
	rcpt_delivered_to(d->set, fh);
	if (fh->len == 0)
		return header;
	if (header->len > 0)
		buf_append(fh, header->s, header->len);
	return fh;
}

int deliver_commit(struct delivery *d, const struct buf *header,
    struct deliver_result *res)
{
	const struct rcpt_set *set = d->set;
	struct buf rp = BUF_INIT, fh = BUF_INIT;
	const struct buf *fwd;
	char path[PATH_MAX];
	size_t i;
	int r = -1;

	memset(res, 0, sizeof *res);
	if (!d->first_open) {
		errno = EBADF;
		return failed(res, DELIVER_FAIL_FIRST);
	}
	d->first_open = 0;
	if ((d->held && hold_first(d) != 0) || local_first(d) != 0) {
		failed(res, DELIVER_FAIL_FIRST);
		goto out;
	}
	fwd = forward_header(d, header, &fh);
	/* The one per-copy header today: the same for every local copy, so links. */
	if (set->nlocal > 0 && !d->held)
		buf_printf(&rp, "Return-Path: <%s>\n", d->sender);
	/*
	 * The Maildir++ maildirsize of each local recipient with a quota is
	 * brought up to date right after its copy is stored (quota_count).
	 * The quota is judged at RCPT, not here: a message that crosses it is
	 * still delivered. Per-copy headers beyond Return-Path (Delivered-To)
	 * would make copies differ: such a copy is written, not linked.
	 */
	if (copy_store(d, &d->first, d->first_is_queue ? NULL : &rp,
	    d->first_is_queue ? queue_header(d, header, fwd) : header) != 0) {
		failed(res, DELIVER_FAIL_FIRST);
		goto out;
	}
	res->size = d->first.disk;
	if (d->first_is_queue) {
		if (queue_envelope(d, &d->first, fwd, res) != 0) {
			failed(res, DELIVER_FAIL_QUEUE);
			goto out;
		}
	} else {
		res->nlocal_done = 1;
		quota_count(d->conf, set->local[0], d->first.disk);
		for (i = 1; i < set->nlocal; i++) {
			if (local_maildir(d->conf, set->local[i], path, sizeof path) != 0 ||
			    maildir_writer_link(&d->first, path) != 0) {
				failed(res, DELIVER_FAIL_LOCAL);
				goto out;
			}
			res->nlocal_done++;
			quota_count(d->conf, set->local[i], d->first.disk);
		}
		if ((set->nremote > 0 || set->nfull > 0) && queue_store(d, header, fwd, res) != 0) {
			failed(res, DELIVER_FAIL_QUEUE);
			goto out;
		}
	}
	if (res->qid[0] != '\0' && !d->held)
		(void)queue_wakeup(d->conf->state_dir, 'n');
	r = 0;
out:
	{
		int e = errno;

		buf_free(&rp);
		buf_free(&fh);
		body_free(&d->body);
		errno = e;
	}
	return r;
}

void deliver_abort(struct delivery *d)
{
	int e = errno;

	if (d->first_open) {
		maildir_writer_abort(&d->first);
		d->first_open = 0;
	}
	body_free(&d->body);
	errno = e;
}
