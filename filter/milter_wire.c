/*
 * milter_wire.c: milter protocol version 6 packets (draft-adams-milter-
 * protocol, milter-protocol.txt): the MTA's commands encoded, the
 * filter's replies decoded from a byte stream fed in pieces of any size.
 */
#include "config.h"

#include <string.h>

#include "milter_wire.h"
#include "sys.h"

/* ---- encoders ---- */

static void put32(struct buf *out, uint32_t v)
{
	unsigned char b[4];

	b[0] = (unsigned char)(v >> 24);
	b[1] = (unsigned char)(v >> 16);
	b[2] = (unsigned char)(v >> 8);
	b[3] = (unsigned char)v;
	buf_append(out, b, 4);
}

static void puts0(struct buf *out, const char *s)
{
	buf_append(out, s, strlen(s) + 1);
}

/*
 * Start a packet: a length placeholder and the command byte. Returns the
 * offset of the length, which end_packet fills in once the data is there.
 */
static size_t begin_packet(struct buf *out, char cmd)
{
	size_t at = out->len;

	put32(out, 0);
	buf_appendc(out, cmd);
	return at;
}

static void end_packet(struct buf *out, size_t at)
{
	size_t n = out->len - at - 4;
	unsigned char *p = (unsigned char *)out->s + at;

	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
}

void milter_enc_optneg(struct buf *out, uint32_t version, uint32_t actions,
    uint32_t protocol)
{
	size_t at = begin_packet(out, SMFIC_OPTNEG);

	put32(out, version);
	put32(out, actions);
	put32(out, protocol);
	end_packet(out, at);
}

void milter_enc_macro(struct buf *out, char cmd, const char *const *pairs,
    size_t n)
{
	size_t at = begin_packet(out, SMFIC_MACRO);
	size_t i;

	buf_appendc(out, cmd);
	for (i = 0; i < 2 * n; i++)
		puts0(out, pairs[i]);
	end_packet(out, at);
}

void milter_enc_connect(struct buf *out, const char *hostname, char family,
    unsigned port, const char *addr)
{
	size_t at = begin_packet(out, SMFIC_CONNECT);

	puts0(out, hostname);
	buf_appendc(out, family);
	if (family != SMFIA_UNKNOWN) {
		buf_appendc(out, (char)((port >> 8) & 0xff));
		buf_appendc(out, (char)(port & 0xff));
		puts0(out, addr);
	}
	end_packet(out, at);
}

void milter_enc_helo(struct buf *out, const char *helo)
{
	size_t at = begin_packet(out, SMFIC_HELO);

	puts0(out, helo);
	end_packet(out, at);
}

void milter_enc_envelope(struct buf *out, char cmd, const char *addr,
    const char *const *args)
{
	size_t at = begin_packet(out, cmd);

	buf_appendc(out, '<');
	buf_appends(out, addr);
	buf_append(out, ">", 2);
	for (; args != NULL && *args != NULL; args++)
		puts0(out, *args);
	end_packet(out, at);
}

void milter_enc_header(struct buf *out, const char *name, const char *value)
{
	size_t at = begin_packet(out, SMFIC_HEADER);

	puts0(out, name);
	puts0(out, value);
	end_packet(out, at);
}

void milter_enc_body(struct buf *out, const void *p, size_t n)
{
	size_t at = begin_packet(out, SMFIC_BODY);

	buf_append(out, p, n);
	end_packet(out, at);
}

void milter_enc_unknown(struct buf *out, const char *command)
{
	size_t at = begin_packet(out, SMFIC_UNKNOWN);

	puts0(out, command);
	end_packet(out, at);
}

void milter_enc_simple(struct buf *out, char cmd)
{
	end_packet(out, begin_packet(out, cmd));
}

/* ---- decoder ---- */

void milter_dec_init(struct milter_dec *d)
{
	buf_init(&d->in);
	buf_init(&d->pkt);
}

void milter_dec_free(struct milter_dec *d)
{
	buf_free(&d->in);
	buf_free(&d->pkt);
}

void milter_dec_feed(struct milter_dec *d, const void *p, size_t n)
{
	buf_append(&d->in, p, n);
}

size_t milter_dec_pending(const struct milter_dec *d)
{
	return d->in.len;
}

/* A cursor over one packet's data. */
struct cur {
	const char *p;
	size_t left;
	int bad;
};

static uint32_t get32(struct cur *c)
{
	const unsigned char *u = (const unsigned char *)c->p;
	uint32_t v;

	if (c->left < 4) {
		c->bad = 1;
		return 0;
	}
	v = (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
	    (uint32_t)u[2] << 8 | u[3];
	c->p += 4;
	c->left -= 4;
	return v;
}

/* A NUL-terminated string that must end inside the packet. */
static const char *gets0(struct cur *c)
{
	const char *s = c->p;
	const char *nul = c->left > 0 ? memchr(c->p, '\0', c->left) : NULL;

	if (nul == NULL) {
		c->bad = 1;
		return "";
	}
	c->left -= (size_t)(nul - s) + 1;
	c->p = nul + 1;
	return s;
}

/* An optional last string: "" when the packet has ended. */
static const char *gets0_opt(struct cur *c)
{
	return c->left == 0 ? "" : gets0(c);
}

static const struct {
	char cmd;
	enum milter_reply_type type;
	const char *name;
} replies[] = {
	{ SMFIR_ACCEPT, MR_ACCEPT, "accept" },
	{ SMFIR_CONTINUE, MR_CONTINUE, "continue" },
	{ SMFIR_REJECT, MR_REJECT, "reject" },
	{ SMFIR_TEMPFAIL, MR_TEMPFAIL, "tempfail" },
	{ SMFIR_DISCARD, MR_DISCARD, "discard" },
	{ SMFIR_REPLYCODE, MR_REPLYCODE, "replycode" },
	{ SMFIR_QUARANTINE, MR_QUARANTINE, "quarantine" },
	{ SMFIR_ADDHEADER, MR_ADDHEADER, "addheader" },
	{ SMFIR_INSHEADER, MR_INSHEADER, "insheader" },
	{ SMFIR_CHGHEADER, MR_CHGHEADER, "chgheader" },
	{ SMFIR_PROGRESS, MR_PROGRESS, "progress" },
	{ SMFIR_SKIP, MR_SKIP, "skip" },
	{ SMFIC_OPTNEG, MR_OPTNEG, "optneg" },
	{ SMFIR_ADDRCPT, MR_ADDRCPT, "addrcpt" },
	{ SMFIR_ADDRCPT_PAR, MR_ADDRCPT_PAR, "addrcpt_par" },
	{ SMFIR_DELRCPT, MR_DELRCPT, "delrcpt" },
	{ SMFIR_CHGFROM, MR_CHGFROM, "chgfrom" },
	{ SMFIR_REPLBODY, MR_REPLBODY, "replbody" },
	{ SMFIR_SHUTDOWN, MR_SHUTDOWN, "shutdown" },
	{ SMFIR_CONN_FAIL, MR_CONN_FAIL, "conn_fail" },
};

const char *milter_reply_name(enum milter_reply_type t)
{
	size_t i;

	for (i = 0; i < sizeof replies / sizeof replies[0]; i++)
		if (replies[i].type == t)
			return replies[i].name;
	return "unknown";
}

/* The negotiation reply: three words, then optional SETSYMLIST lists. */
static void parse_optneg(struct cur *c, struct milter_reply *r)
{
	r->version = get32(c);
	r->actions = get32(c);
	r->protocol = get32(c);
	while (!c->bad && c->left > 0) {
		uint32_t stage = get32(c);
		const char *list = gets0(c);

		if (stage < SMFIM_COUNT)
			r->symlist[stage] = list;
		/* An unknown stage is skipped, as Postfix does. */
	}
}

/* Fill r from the packet's data per its type; 0, or -1 when malformed. */
static int parse_data(struct cur *c, struct milter_reply *r)
{
	switch (r->type) {
	case MR_REPLYCODE:
	case MR_QUARANTINE:
	case MR_ADDRCPT:
	case MR_DELRCPT:
		r->text = gets0(c);
		break;
	case MR_ADDRCPT_PAR:
	case MR_CHGFROM:
		r->text = gets0(c);
		r->args = gets0_opt(c);
		break;
	case MR_ADDHEADER:
		r->name = gets0(c);
		r->value = gets0(c);
		break;
	case MR_INSHEADER:
	case MR_CHGHEADER:
		r->index = get32(c);
		r->name = gets0(c);
		r->value = gets0(c);
		break;
	case MR_REPLBODY:
		r->data = c->p;
		r->len = c->left;
		c->p += c->left;
		c->left = 0;
		break;
	case MR_OPTNEG:
		parse_optneg(c, r);
		break;
	default:
		break;	/* no data */
	}
	return c->bad || c->left != 0 ? -1 : 0;
}

int milter_dec_next(struct milter_dec *d, struct milter_reply *r, char *err,
    size_t errlen)
{
	const unsigned char *u = (const unsigned char *)d->in.s;
	uint32_t len;
	size_t i;
	struct cur c;
	int s;

	if (d->in.len < 4)
		return 0;
	len = (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
	    (uint32_t)u[2] << 8 | u[3];
	if (len == 0) {
		seterr(err, errlen, "packet of length 0");
		return -1;
	}
	if (len > MILTER_MAX_PACKET) {
		seterr(err, errlen, "packet of %lu bytes (most %d)",
		    (unsigned long)len, MILTER_MAX_PACKET);
		return -1;
	}
	if (d->in.len - 4 < len)
		return 0;
	memset(r, 0, sizeof *r);
	r->cmd = (char)u[4];
	r->text = r->name = r->value = r->args = r->data = "";
	for (i = 0; i < SMFIM_COUNT; i++)
		r->symlist[i] = "";
	for (i = 0; i < sizeof replies / sizeof replies[0]; i++)
		if (replies[i].cmd == r->cmd)
			break;
	if (i == sizeof replies / sizeof replies[0]) {
		seterr(err, errlen, "unknown reply 0x%02x", (unsigned char)r->cmd);
		return -1;
	}
	r->type = replies[i].type;
	/* The data, NUL-ended, in a buffer of its own: r points into it. */
	buf_reset(&d->pkt);
	buf_append(&d->pkt, d->in.s + 5, len - 1);
	buf_consume(&d->in, 4 + (size_t)len);
	c.p = d->pkt.s != NULL ? d->pkt.s : "";
	c.left = len - 1;
	c.bad = 0;
	s = parse_data(&c, r);
	if (s < 0) {
		seterr(err, errlen, "malformed %s reply (%lu bytes of data)",
		    replies[i].name, (unsigned long)(len - 1));
		return -1;
	}
	return 1;
}

/* ---- checks on what a filter sends ---- */

int milter_header_ok(const char *name, const char *value)
{
	const unsigned char *p;
	size_t n = 0;

	for (p = (const unsigned char *)name; *p != '\0'; p++, n++)
		if (*p < 33 || *p > 126 || *p == ':')
			return 0;
	if (n == 0 || n > 998)
		return 0;
	for (p = (const unsigned char *)value; *p != '\0'; p++) {
		if (*p == '\r' && p[1] == '\n')
			p++;
		else if (*p == '\r')
			return 0;
		if (*p == '\n' && p[1] != ' ' && p[1] != '\t')
			return 0;
	}
	return 1;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* One reply line: 4xx/5xx, ' ' or '-', an optional x.y.z of that class. */
static int reply_line_ok(const char *s, size_t n, char cls)
{
	size_t i;

	if (n < 4 || s[0] != cls || !is_digit(s[1]) || !is_digit(s[2]) ||
	    (s[3] != ' ' && s[3] != '-'))
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 32 && s[i] != '\t')
			return 0;
	/* An enhanced code present must be of the reply's class (RFC 3463). */
	if (n > 5 && is_digit(s[4]) && s[5] == '.' && s[4] != cls)
		return 0;
	return 1;
}

int milter_replycode_ok(const char *text)
{
	char cls = text[0];
	const char *p = text;

	if (cls != '4' && cls != '5')
		return 0;
	for (;;) {
		const char *e = strstr(p, "\r\n");
		size_t n = e != NULL ? (size_t)(e - p) : strlen(p);

		if (!reply_line_ok(p, n, cls))
			return 0;
		if (e == NULL)
			return 1;
		p = e + 2;
	}
}
