/*
 * vacation.c: vacation replies (vacation.h). RFC 3834 §2 (when not to
 * reply: the null sender, Auto-Submitted, lists, not addressed to the
 * user), §3 (the reply: Auto-Submitted: auto-replied, In-Reply-To,
 * References, the null envelope sender), and the 7-day memory per sender
 * of Dovecot's vacation extension, in vacation.db beside the relay table.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "canon.h"
#include "deliver.h"
#include "keyring.h"
#include "log.h"
#include "maildir.h"
#include "queue.h"
#include "recipient.h"
#include "sasl.h"
#include "sys.h"
#include "users.h"
#include "vacation.h"

const char *vacation_verdict_name(enum vacation_verdict v)
{
	static const char *const names[] = {
		[VACATION_REPLY] = "reply",
		[VACATION_NULL_SENDER] = "null-sender",
		[VACATION_SYSTEM_SENDER] = "system-sender",
		[VACATION_SELF] = "self",
		[VACATION_AUTO_SUBMITTED] = "auto-submitted",
		[VACATION_PRECEDENCE] = "precedence",
		[VACATION_LIST] = "list",
		[VACATION_SUPPRESSED] = "suppressed",
		[VACATION_NOT_ADDRESSED] = "not-addressed",
	};

	if ((size_t)v >= sizeof names / sizeof names[0] || names[v] == NULL)
		return "unknown";
	return names[v];
}

/* ---- the header section ---- */

struct field {
	const char *name, *value;
	size_t nlen, vlen;	/* value: as folded, without the last line end */
};

/* An empty line at p: the end of the header section. */
static int empty_line(const char *h, size_t len, size_t p)
{
	return h[p] == '\n' || (h[p] == '\r' && p + 1 < len && h[p + 1] == '\n');
}

/*
 * The next field from *pos (a line and its continuation lines); lines
 * without a colon are skipped. 0 at the empty line or the end.
 */
static int field_next(const char *h, size_t len, size_t *pos, struct field *f)
{
	size_t p = *pos;

	while (p < len && !empty_line(h, len, p)) {
		size_t start = p, colon = 0, end;
		int have_colon = 0;

		/* The logical line: up to an LF not followed by SP or HTAB. */
		while (p < len) {
			if (!have_colon && h[p] == ':' ) {
				have_colon = 1;
				colon = p;
			}
			if (h[p] == '\n' && (p + 1 >= len || (h[p + 1] != ' ' && h[p + 1] != '\t')))
				break;
			p++;
		}
		end = p;
		if (p < len)
			p++;	/* the LF */
		if (!have_colon || colon == start)
			continue;
		f->name = h + start;
		f->nlen = colon - start;
		while (f->nlen > 0 && (f->name[f->nlen - 1] == ' ' || f->name[f->nlen - 1] == '\t'))
			f->nlen--;	/* obs-optional: "Subject :" */
		f->value = h + colon + 1;
		f->vlen = end - colon - 1;
		if (f->vlen > 0 && f->value[f->vlen - 1] == '\r')
			f->vlen--;
		*pos = p;
		return 1;
	}
	*pos = p;
	return 0;
}

/* Is f named name (any case)? */
static int field_is(const struct field *f, const char *name)
{
	size_t n = strlen(name);

	return f->nlen == n && strncasecmp(f->name, name, n) == 0;
}

/* A value unfolded (CR, LF dropped) and trimmed of white space, into out. */
static void value_unfold(const char *v, size_t n, struct buf *out)
{
	size_t i, start = out->len;

	for (i = 0; i < n; i++) {
		if (v[i] == '\r' || v[i] == '\n')
			continue;
		if ((v[i] == ' ' || v[i] == '\t') && out->len == start)
			continue;
		buf_appendc(out, v[i] == '\t' ? ' ' : v[i]);
	}
	while (out->len > start && out->s[out->len - 1] == ' ')
		out->len--;
	buf_appendc(out, '\0');
	out->len--;
}

int vacation_header_value(const char *header, size_t len, const char *name, struct buf *out)
{
	struct field f;
	size_t pos = 0;

	buf_reset(out);
	while (field_next(header, len, &pos, &f))
		if (field_is(&f, name)) {
			value_unfold(f.value, f.vlen, out);
			return 1;
		}
	return 0;
}

void vacation_header_copy(const char *msg, size_t len, struct buf *out)
{
	struct field f;
	size_t pos = 0;

	if (len > VACATION_HEADER_MAX)
		len = VACATION_HEADER_MAX;
	while (field_next(msg, len, &pos, &f))
		;
	buf_append(out, msg, pos);
}

/*
 * The first token of a structured value (Auto-Submitted, Precedence),
 * comments and white space skipped, up to white space, ';', ',' or '('.
 */
static size_t first_token(const char *v, size_t n, const char **tok)
{
	size_t i = 0, start;
	int depth = 0;

	while (i < n) {
		if (v[i] == '(')
			depth++;
		else if (v[i] == ')' && depth > 0)
			depth--;
		else if (v[i] == '\\' && depth > 0)
			i++;
		else if (depth == 0 && !isspace((unsigned char)v[i]))
			break;
		i++;
	}
	start = i;
	while (i < n && !isspace((unsigned char)v[i]) && v[i] != ';' && v[i] != ',' &&
	    v[i] != '(')
		i++;
	*tok = v + start;
	return i - start;
}

/* Is the token tok[0..n) the word (any case)? */
static int token_is(const char *tok, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(tok, word, n) == 0;
}

/* X-Auto-Response-Suppress (Microsoft): a list naming OOF or All. */
static int suppresses_oof(const char *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *tok;
		size_t t;

		while (i < n && (v[i] == ',' || isspace((unsigned char)v[i])))
			i++;
		t = first_token(v + i, n - i, &tok);
		if (token_is(tok, t, "oof") || token_is(tok, t, "all"))
			return 1;
		i = (size_t)(tok - v) + t;
		while (i < n && v[i] != ',')
			i++;
	}
	return 0;
}

/* RFC 2369 and RFC 2919: any of them says the message came through a list. */
static int is_list_field(const struct field *f)
{
	static const char *const names[] = {
		"List-Id", "List-Help", "List-Unsubscribe", "List-Subscribe",
		"List-Post", "List-Owner", "List-Archive",
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (field_is(f, names[i]))
			return 1;
	return 0;
}

/* ---- address lists (RFC 5322 §3.4) ---- */

struct addr_state {
	struct buf bare;	/* an addr-spec outside angle brackets */
	struct buf angle;	/* the addr-spec inside them */
	int in_angle, have_angle;
};

/* A byte below 0x20 (NUL included) or DEL: no address holds one. */
static int has_control(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 1;
	return 0;
}

/*
 * The end of one mailbox: keep its address (the angle one when there was
 * one), unless it is too long, has no '@' or holds a control byte (a NUL
 * would cut it short into something else).
 */
static void addr_emit(struct addr_state *s, struct vacation_addrs *out)
{
	struct buf *b = s->have_angle ? &s->angle : &s->bare;

	if (b->len > 0 && b->len <= VACATION_ADDR_MAX && memchr(b->s, '@', b->len) != NULL &&
	    !has_control(b->s, b->len)) {
		char *a = xstrndup(b->s, b->len);

		for (char *p = a; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		out->v = xreallocarray(out->v, out->n + 1, sizeof *out->v);
		out->v[out->n++] = a;
	}
	buf_reset(&s->bare);
	buf_reset(&s->angle);
	s->in_angle = s->have_angle = 0;
}

/* Skip a comment at v[i] == '(' (nested, with quoted pairs); the index after it. */
static size_t skip_comment(const char *v, size_t n, size_t i)
{
	int depth = 0;

	for (; i < n; i++) {
		if (v[i] == '\\')
			i++;
		else if (v[i] == '(')
			depth++;
		else if (v[i] == ')' && --depth == 0)
			return i + 1;
	}
	return n;
}

/*
 * A quoted string at v[i] == '"': its content, quoted pairs undone,
 * appended to b (a quoted local part "john"@x is john@x); the index after it.
 */
static size_t take_quoted(const char *v, size_t n, size_t i, struct buf *b)
{
	size_t before = b->len;

	for (i++; i < n && v[i] != '"'; i++) {
		if (v[i] == '\\' && i + 1 < n)
			i++;
		if (v[i] != '\r' && v[i] != '\n')
			buf_appendc(b, v[i]);
	}
	if (i < n)
		return i + 1;
	b->len = before;	/* unterminated: nothing of it is an address */
	return n;
}

void vacation_addrs_parse(const char *v, size_t n, struct vacation_addrs *out)
{
	struct addr_state s = { BUF_INIT, BUF_INIT, 0, 0 };
	size_t i = 0;

	while (i < n) {
		char ch = v[i];
		struct buf *b = s.in_angle ? &s.angle : &s.bare;

		if (ch == '(') {
			i = skip_comment(v, n, i);
			continue;
		}
		if (ch == '"') {
			i = take_quoted(v, n, i, b);
			continue;
		}
		i++;
		if (isspace((unsigned char)ch))
			continue;
		if (ch == '<') {
			buf_reset(&s.angle);
			s.in_angle = s.have_angle = 1;
		} else if (ch == '>') {
			s.in_angle = 0;
		} else if (s.in_angle && ch == ':') {
			buf_reset(&s.angle);	/* obs-route "@a,@b:" before the address */
		} else if (s.in_angle) {
			if (ch != ',')
				buf_appendc(&s.angle, ch);
		} else if (ch == ',' || ch == ';') {
			addr_emit(&s, out);	/* the end of a mailbox, or of a group */
		} else if (ch == ':') {
			buf_reset(&s.bare);	/* "group:": the name is no address */
		} else {
			buf_appendc(&s.bare, ch);
		}
	}
	addr_emit(&s, out);
	buf_free(&s.bare);
	buf_free(&s.angle);
}

void vacation_addrs_free(struct vacation_addrs *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

/* ---- the decision ---- */

/* Senders that are software, never a person (RFC 3834 §2; Dovecot's list). */
static int system_sender(const char *sender)
{
	static const char *const names[] = { "mailer-daemon", "listserv", "majordomo" };
	const char *at = strrchr(sender, '@');
	size_t n = at != NULL ? (size_t)(at - sender) : strlen(sender);
	static const char req[] = "-request";

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (token_is(sender, n, names[i]))
			return 1;
	if (n >= 6 && strncasecmp(sender, "owner-", 6) == 0)
		return 1;
	return n >= sizeof req - 1 &&
	    strncasecmp(sender + n - (sizeof req - 1), req, sizeof req - 1) == 0;
}

static int is_one_of(const char *a, const char *const *addrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(a, addrs[i]) == 0)
			return 1;
	return 0;
}

/* The header's own verdict: automatic or list mail, or nobody named the user. */
static enum vacation_verdict header_verdict(const char *const *addrs, size_t naddrs,
    const char *header, size_t len)
{
	struct vacation_addrs to = { NULL, 0 };
	enum vacation_verdict v = VACATION_NOT_ADDRESSED;
	struct field f;
	size_t pos = 0;

	while (field_next(header, len, &pos, &f)) {
		const char *tok;
		size_t t = first_token(f.value, f.vlen, &tok);

		if (field_is(&f, "Auto-Submitted") && !token_is(tok, t, "no"))
			v = VACATION_AUTO_SUBMITTED;
		else if (field_is(&f, "Precedence") && (token_is(tok, t, "bulk") ||
		    token_is(tok, t, "list") || token_is(tok, t, "junk")))
			v = VACATION_PRECEDENCE;
		else if (is_list_field(&f))
			v = VACATION_LIST;
		else if (field_is(&f, "X-Auto-Response-Suppress") && suppresses_oof(f.value, f.vlen))
			v = VACATION_SUPPRESSED;
		else if (field_is(&f, "To") || field_is(&f, "Cc"))
			vacation_addrs_parse(f.value, f.vlen, &to);
		if (v != VACATION_NOT_ADDRESSED)
			break;
	}
	if (v == VACATION_NOT_ADDRESSED)
		for (size_t i = 0; i < to.n; i++)
			if (is_one_of(to.v[i], addrs, naddrs))
				v = VACATION_REPLY;
	vacation_addrs_free(&to);
	return v;
}

enum vacation_verdict vacation_decide(const char *sender, const char *const *addrs,
    size_t naddrs, const char *header, size_t len)
{
	if (sender[0] == '\0')
		return VACATION_NULL_SENDER;
	if (system_sender(sender))
		return VACATION_SYSTEM_SENDER;
	if (is_one_of(sender, addrs, naddrs))
		return VACATION_SELF;
	return header_verdict(addrs, naddrs, header, len);
}

/* ---- the memory ---- */

struct memory_op {
	struct buf key;		/* "user\0sender", lower case */
	long long now;
	long window;
	const char *tag;
};

/* The key of (user, sender): both lower case, a NUL between them. */
static void memory_key(struct memory_op *m, const char *user, const char *sender)
{
	const char *parts[2] = { user, sender };

	buf_init(&m->key);
	for (int k = 0; k < 2; k++) {
		for (const char *p = parts[k]; *p; p++)
			buf_appendc(&m->key, (char)tolower((unsigned char)*p));
		if (k == 0)
			buf_appendc(&m->key, '\0');
	}
}

void vacation_msg_tag(const char *msg, size_t len, char out[17])
{
	unsigned long long h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)msg[i];
		h *= 1099511628211ULL;
	}
	(void)str_format(out, 17, "%016llx", h);
}

/* "<seconds> <tag>": is it a reply with m's tag within m's window? */
static int memory_recent(const struct memory_op *m, const char *val)
{
	char *end;
	long long last = strtoll(val, &end, 10);

	if (end == val || *end != ' ' || strcmp(end + 1, m->tag) != 0)
		return 0;
	/* A time ahead of the clock (it was set back) counts as none. */
	return last <= m->now && m->now - last < m->window;
}

/* In one transaction: read the entry, and write now and the tag unless it is recent. */
static int memory_claim_run(struct relaydb_txn *t, void *p)
{
	struct memory_op *m = p;
	char val[64];
	size_t vlen = 0;
	int r = relaydb_txn_get(t, m->key.s, m->key.len, val, sizeof val - 1, &vlen);

	if (r < 0)
		return -1;
	if (r == 1 && vlen < sizeof val) {
		val[vlen] = '\0';
		if (memory_recent(m, val))
			return 0;
	}
	if (str_format(val, sizeof val, "%lld %s", m->now, m->tag) != 0)
		return -1;
	return relaydb_txn_put(t, m->key.s, m->key.len, val, strlen(val)) == 0 ? 1 : -1;
}

int vacation_memory_claim(struct relaydb *db, const char *user, const char *sender,
    const char *tag, time_t now, long window)
{
	struct memory_op m = { .now = (long long)now, .window = window, .tag = tag };
	int r;

	memory_key(&m, user, sender);
	r = relaydb_table_run(db, VACATION_DB_FILE, memory_claim_run, &m);
	buf_free(&m.key);
	return r;
}

/* In one transaction: delete the entry. */
static int memory_forget_run(struct relaydb_txn *t, void *p)
{
	struct memory_op *m = p;

	return relaydb_txn_del(t, m->key.s, m->key.len) < 0 ? -1 : 0;
}

int vacation_memory_forget(struct relaydb *db, const char *user, const char *sender)
{
	struct memory_op m = { 0 };
	int r;

	memory_key(&m, user, sender);
	r = relaydb_table_run(db, VACATION_DB_FILE, memory_forget_run, &m);
	buf_free(&m.key);
	return r < 0 ? -1 : 0;
}

/* The keys to expire, collected by a walk, deleted in batches after it. */
struct memory_expiry {
	long long now;
	long window;
	char **keys;
	size_t *lens, n, cap, at, batch;
};

/* Is a stored value past the window at now (or not a value of ours)? */
static int memory_expired(const struct memory_expiry *e, const char *val, size_t vlen)
{
	char buf[64], *end;
	long long last;

	if (vlen == 0 || vlen >= sizeof buf)
		return 1;
	memcpy(buf, val, vlen);
	buf[vlen] = '\0';
	last = strtoll(buf, &end, 10);
	return end == buf || *end != ' ' || e->now - last >= e->window;
}

static int memory_collect(const char *key, size_t klen, const char *val, size_t vlen,
    void *p)
{
	struct memory_expiry *e = p;

	if (!memory_expired(e, val, vlen))
		return 0;
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 64;
		e->keys = xreallocarray(e->keys, e->cap, sizeof *e->keys);
		e->lens = xreallocarray(e->lens, e->cap, sizeof *e->lens);
	}
	e->keys[e->n] = xmalloc(klen);
	memcpy(e->keys[e->n], key, klen);
	e->lens[e->n++] = klen;
	return 0;
}

/* One batch, each entry read again: one refreshed since the walk stays. */
static int memory_expire_run(struct relaydb_txn *t, void *p)
{
	struct memory_expiry *e = p;
	int removed = 0;

	for (size_t i = e->at; i < e->at + e->batch; i++) {
		char val[64];
		size_t vlen = 0;
		int r = relaydb_txn_get(t, e->keys[i], e->lens[i], val, sizeof val, &vlen);

		if (r < 0)
			return -1;
		if (r == 0 || (vlen <= sizeof val && !memory_expired(e, val, vlen)))
			continue;
		if ((r = relaydb_txn_del(t, e->keys[i], e->lens[i])) < 0)
			return -1;
		removed += r;
	}
	return removed;
}

long vacation_memory_expire(struct relaydb *db, time_t now, long window)
{
	struct memory_expiry e = { .now = (long long)now, .window = window };
	long removed = 0;
	int rc = 0;

	/* Values of any length: a junk one must be removable too. */
	if (relaydb_table_foreach(db, VACATION_DB_FILE, 65536, memory_collect, &e) != 0)
		rc = -1;
	for (e.at = 0; rc == 0 && e.at < e.n; e.at += e.batch) {
		int r;

		e.batch = e.n - e.at < 256 ? e.n - e.at : 256;
		if ((r = relaydb_table_run(db, VACATION_DB_FILE, memory_expire_run, &e)) < 0)
			rc = -1;
		else
			removed += r;
	}
	for (size_t i = 0; i < e.n; i++)
		free(e.keys[i]);
	free(e.keys);
	free(e.lens);
	return rc < 0 ? -1 : removed;
}

/* ---- the reply ---- */

/* Text from elsewhere on one header line: control bytes become spaces. */
static void append_line(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_appendc(out, (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i]);
}

/* The length of s[0..n) cut to at most max bytes, never inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/*
 * Subject: as it is when ASCII, else RFC 2047 encoded-words ("B", UTF-8),
 * whole characters in each, one a line, every line under 76 characters
 * (RFC 2047 §2): 39 bytes make 52 of base64, 64 with "=?utf-8?B?" and "?=".
 */
static void append_subject(struct buf *out, const char *s, size_t n)
{
	size_t i;

	buf_appends(out, "Subject: ");
	for (i = 0; i < n && (unsigned char)s[i] < 0x80; i++)
		;
	if (i == n) {
		append_line(out, s, n);
		buf_appendc(out, '\n');
		return;
	}
	for (i = 0; i < n;) {
		char b64[80];
		size_t k = utf8_cut(s + i, n - i, 39);

		if (k == 0)
			k = 1;
		if (sasl_base64_encode((const unsigned char *)s + i, k, b64, sizeof b64) < 0)
			break;
		buf_printf(out, "%s=?utf-8?B?%s?=", i ? "\n " : "", b64);
		i += k;
	}
	buf_appendc(out, '\n');
}

/* The first <msg-id> of a value, when it is one of plain printable bytes. */
static int msg_id(const char *v, char *out, size_t outlen)
{
	const char *lt = strchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	size_t n;

	if (lt == NULL || gt == NULL || (n = (size_t)(gt - lt) + 1) >= outlen || n > 250)
		return -1;
	for (const char *p = lt; p <= gt; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return -1;
	memcpy(out, lt, n);
	out[n] = '\0';
	return 0;
}

/* In-Reply-To and References (RFC 5322 §3.6.4) from the original's fields. */
static void append_threading(struct buf *out, const char *header, size_t hlen)
{
	struct buf v = BUF_INIT;
	char id[256];
	int refs_ok = 1;

	if (!vacation_header_value(header, hlen, "Message-ID", &v) ||
	    msg_id(v.s, id, sizeof id) != 0) {
		buf_free(&v);
		return;
	}
	buf_printf(out, "In-Reply-To: %s\nReferences: ", id);
	if (vacation_header_value(header, hlen, "References", &v) && v.len > 0 && v.len < 700) {
		for (size_t i = 0; i < v.len; i++)
			if ((unsigned char)v.s[i] < 0x20 || (unsigned char)v.s[i] >= 0x7f)
				refs_ok = 0;
		if (refs_ok)
			buf_printf(out, "%s ", v.s);
	}
	buf_printf(out, "%s\n", id);
	buf_free(&v);
}

/* RFC 5322 §3.3 date for Date:. */
static void rfc5322_date(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	localtime_r(&t, &tm);
	if (strftime(out, outlen, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		out[0] = '\0';
}

/*
 * Where the .vacation.msg text's body starts: after its header lines and
 * the empty line; 0 (all of it is the body) when its first line is
 * neither a field ("Name:") nor empty.
 */
static size_t msg_body_start(const char *msg, size_t len)
{
	struct field f;
	size_t pos = 0;

	while (pos < len && msg[pos] > 0x20 && msg[pos] < 0x7f && msg[pos] != ':')
		pos++;
	if (pos > 0 && (pos >= len || msg[pos] != ':'))
		return 0;
	pos = 0;
	while (field_next(msg, len, &pos, &f))
		;
	if (pos < len && msg[pos] == '\r')
		pos++;
	return pos < len ? pos + 1 : len;
}

void vacation_compose(const struct conf *c, const char *user, const char *to,
    const char *msg, size_t msglen, const char *header, size_t hlen, time_t now,
    const char *id, struct buf *out)
{
	struct buf subject = BUF_INIT;
	size_t body = msg_body_start(msg, msglen);
	char date[64];

	rfc5322_date(now, date, sizeof date);
	buf_appends(out, "From: <");
	append_line(out, user, strlen(user));
	buf_appends(out, ">\nTo: <");
	append_line(out, to, strlen(to));
	buf_appends(out, ">\n");
	if (body == 0 || !vacation_header_value(msg, body, "Subject", &subject) ||
	    subject.len == 0) {
		buf_reset(&subject);
		if (vacation_header_value(header, hlen, "Subject", &subject) && subject.len > 0) {
			struct buf s = BUF_INIT;

			buf_appends(&s, "Auto: ");
			buf_append(&s, subject.s, subject.len);
			buf_free(&subject);
			subject = s;
		} else {
			buf_appends(&subject, "Automated reply");
		}
	}
	append_subject(out, subject.s, utf8_cut(subject.s, subject.len, 400));
	buf_printf(out, "Date: %s\nMessage-ID: <%s.vacation@%s>\n", date, id, c->hostname);
	append_threading(out, header, hlen);
	buf_appends(out,
	    "Auto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n"
	    "\n");
	/* LF line ends only, no NUL (ispmailctl refuses both; a file written by hand may not). */
	for (size_t i = body; i < msglen; i++)
		if (msg[i] != '\r' && msg[i] != '\0')
			buf_appendc(out, msg[i]);
	if (out->s[out->len - 1] != '\n')
		buf_appendc(out, '\n');
	buf_free(&subject);
}

/* ---- sending ---- */

/* The user's .vacation.msg, at most VACATION_MSG_MAX bytes. 0, or -1 with errno. */
static int msg_read(const struct conf *c, const char *user, struct buf *out)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char chunk[8192];
	ssize_t n;
	int fd;

	if (maildir_path_for(c->maildir_root, user, dir, sizeof dir) != 0 ||
	    str_format(path, sizeof path, "%s/%s", dir, VACATION_MSG_FILE) != 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	while (out->len <= VACATION_MSG_MAX && (n = read(fd, chunk, sizeof chunk)) > 0)
		buf_append(out, chunk, (size_t)n);
	(void)close(fd);
	if (out->len > VACATION_MSG_MAX) {
		errno = EFBIG;
		return -1;
	}
	return 0;
}

/*
 * The DKIM signatures for the reply when its From: domain has keys, as
 * the intake signs an authorized client's mail (smtpd/signing.c).
 */
static void reply_sign(const struct dkim_keyring *ring, const struct buf *msg,
    time_t now, struct buf *sig)
{
	const char *sep = memmem(msg->s, msg->len, "\n\n", 2);
	unsigned char hash[DKIM_HASH_LEN];
	struct dkim_body b;
	char domain[256], err[512];
	size_t hend, nkeys;
	int n;

	if (ring == NULL || ring->n == 0 || sep == NULL)
		return;
	hend = (size_t)(sep - msg->s) + 1;
	if (dkim_from_domain(msg->s, hend, domain, sizeof domain) != 0 ||
	    dkim_keyring_find(ring, domain, &nkeys) == NULL)
		return;
	if (dkim_body_init(&b, DKIM_CANON_RELAXED, err, sizeof err) == 0) {
		dkim_body_update(&b, msg->s + hend + 1, msg->len - hend - 1);
		if (dkim_body_final(&b, hash, err, sizeof err) == 0 &&
		    (n = dkim_keyring_sign(ring, msg->s, hend, hash, (long long)now, sig, err,
		    sizeof err)) >= 0) {
			log_info("dkim result=signed domain=%s signatures=%d", domain, n);
			return;
		}
	}
	buf_reset(sig);
	log_error("dkim result=error domain=%s reason=\"%s\"", domain, log_qtext(err));
}

/*
 * Where the reply goes: a local sender's mailbox (resolved like any
 * recipient), else the queue. 1 with set filled, 0 nobody, -1 error.
 */
static int reply_rcpts(const struct vacation_delivery *v, const char *to,
    struct rcpt_set *set)
{
	const char *at = strrchr(to, '@');
	char lower[VACATION_ADDR_MAX + 1];

	if (at == NULL || !conf_is_local_domain(v->conf, at + 1, strlen(at + 1))) {
		rcpt_add_remote(set, to);
		return 1;
	}
	if (v->aliases == NULL || str_copy(lower, sizeof lower, to) != 0)
		return 0;
	for (char *p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return rcpt_resolve_local(v->conf, v->aliases, lower, set);
}

/* Deliver the reply from the null sender to set; qid gets its id. 0, or -1 with errno. */
static int reply_send(const struct vacation_delivery *v, const struct rcpt_set *set,
    const struct buf *msg, char *qid, size_t qidlen)
{
	struct buf sig = BUF_INIT;
	struct deliver_result res;
	struct delivery d;
	int r = -1;

	qid[0] = '\0';
	reply_sign(v->dkim, msg, v->now, &sig);
	if (deliver_open(&d, v->conf, set, "", "127.0.0.1 vacation") == 0) {
		if (deliver_body_write(&d, msg->s, msg->len) != 0) {
			deliver_abort(&d);
		} else {
			(void)deliver_commit(&d, &sig, &res);
			if (res.stage == DELIVER_OK) {
				r = 0;
				(void)str_copy(qid, qidlen, res.qid[0] ? res.qid : d.id);
			} else {
				errno = res.error;
			}
		}
	}
	buf_free(&sig);
	return r;
}

/* An RCPT address that delivered to user: the user's own, or an alias of it. */
static int rcpt_is_users(const struct vacation_delivery *v, const char *rcpt,
    const char *user)
{
	char lower[VACATION_ADDR_MAX + 1];
	struct rcpt_set set = { 0 };
	const char *at;
	size_t n;
	int found = 0;

	if (str_copy(lower, sizeof lower, rcpt) != 0)
		return 0;
	for (char *p = lower; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	n = strlen(lower);
	if (n > 0 && lower[n - 1] == '.')
		lower[n - 1] = '\0';
	if (strcmp(lower, user) == 0)
		return 1;
	at = strrchr(lower, '@');
	if (v->aliases == NULL || at == NULL ||
	    !conf_is_local_domain(v->conf, at + 1, strlen(at + 1)))
		return 0;
	if (rcpt_resolve_local(v->conf, v->aliases, lower, &set) > 0)
		for (size_t i = 0; i < set.nlocal; i++)
			found |= strcmp(set.local[i], user) == 0;
	rcpt_set_free(&set);
	return found;
}

/* Is a reply due (the memory claimed)? 1 yes, 0 no, -1 error; logged but for 1. */
static int reply_due(struct relaydb *db, const char *user, const char *sender,
    const char *tag, time_t now)
{
	int r = vacation_memory_claim(db, user, sender, tag, now, VACATION_WINDOW);

	if (r < 0)
		log_error("vacation user=%s result=error reason=\"%s\"", log_q(user),
		    log_qtext(relaydb_strerror(db)));
	else if (r == 0)
		log_info("vacation user=%s to=%s result=skipped reason=replied-before",
		    log_q(user), log_qaddr(sender));
	return r;
}

/*
 * Where it goes, whether it is due, then compose and send one reply.
 * 1 sent, 0 not, -1 error (each logged).
 */
static int reply_one(const struct vacation_delivery *v, struct relaydb *db,
    const char *user)
{
	struct buf text = BUF_INIT, reply = BUF_INIT;
	struct rcpt_set set = { 0 };
	char id[QUEUE_ID_MAX], qid[QUEUE_ID_MAX], tag[17];
	int r;

	if (msg_read(v->conf, user, &text) != 0) {
		log_warn("vacation user=%s result=skipped reason=\"%s: %s\"", log_q(user),
		    VACATION_MSG_FILE, strerror(errno));
		buf_free(&text);
		return 0;
	}
	if ((r = reply_rcpts(v, v->sender, &set)) <= 0) {
		if (r == 0)
			log_info("vacation user=%s to=%s result=skipped reason=unknown-sender",
			    log_q(user), log_qaddr(v->sender));
		else
			log_error("vacation user=%s result=error reason=\"users file: %s\"",
			    log_q(user), strerror(errno));
		goto out;
	}
	vacation_msg_tag(text.s ? text.s : "", text.len, tag);
	if ((r = reply_due(db, user, v->sender, tag, v->now)) <= 0)
		goto out;
	(void)queue_id_new(id, sizeof id);
	vacation_compose(v->conf, user, v->sender, text.s ? text.s : "", text.len, v->header,
	    v->hlen, v->now, id, &reply);
	if (reply_send(v, &set, &reply, qid, sizeof qid) != 0) {
		log_error("vacation user=%s to=%s result=error reason=\"%s\"", log_q(user),
		    log_qaddr(v->sender), strerror(errno));
		(void)vacation_memory_forget(db, user, v->sender);
		r = -1;
	} else {
		log_info("vacation user=%s to=%s result=sent id=%s", log_q(user),
		    log_qaddr(v->sender), qid);
	}
out:
	rcpt_set_free(&set);
	buf_free(&text);
	buf_free(&reply);
	return r;
}

/* One user with vacation=yes: decide, then reply_one. */
static int vacation_one(const struct vacation_delivery *v, const char *user)
{
	const char **addrs = xcalloc(v->nrcpts + 1, sizeof *addrs);
	enum vacation_verdict verdict;
	struct relaydb *db;
	size_t n = 0;
	int r = 0;

	addrs[n++] = user;
	for (size_t i = 0; i < v->nrcpts; i++)
		if (rcpt_is_users(v, v->rcpts[i], user))
			addrs[n++] = v->rcpts[i];
	verdict = vacation_decide(v->sender, addrs, n, v->header, v->hlen);
	if (verdict != VACATION_REPLY)
		log_info("vacation user=%s to=%s result=skipped reason=%s", log_q(user),
		    log_qaddr(v->sender), vacation_verdict_name(verdict));
	else if ((db = v->db_open ? v->db_open(v->db_arg) : NULL) == NULL)
		log_error("vacation user=%s result=error reason=\"no relay DB\"", log_q(user));
	else
		r = reply_one(v, db, user);
	free(addrs);
	return r;
}

/*
 * Has user a .vacation.msg? One lstat(2): users who never had a vacation
 * cost no scan of the users file (users_options) per delivery.
 */
static int msg_exists(const struct conf *c, const char *user)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;

	return maildir_path_for(c->maildir_root, user, dir, sizeof dir) == 0 &&
	    str_format(path, sizeof path, "%s/%s", dir, VACATION_MSG_FILE) == 0 &&
	    lstat(path, &st) == 0;
}

int vacation_after_delivery(const struct vacation_delivery *v, char *const *users,
    size_t nusers)
{
	struct user_options o;
	int sent = 0, failed = 0;

	for (size_t i = 0; i < nusers; i++) {
		int r;

		if (!msg_exists(v->conf, users[i]) ||
		    users_options(v->conf->users_file, users[i], &o) != 1 || !o.vacation)
			continue;
		if ((r = vacation_one(v, users[i])) < 0)
			failed = 1;
		else
			sent += r;
	}
	return failed ? -1 : sent;
}
