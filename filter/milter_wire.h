/*
 * milter_wire.h: the milter protocol (version 6) as bytes, nothing else:
 * encoders for every MTA->filter command into a struct buf, and an
 * incremental decoder for filter->MTA replies with a typed result for each.
 * No sockets, no clocks: filter/milter.c drives it. The constants are the
 * protocol's own (Sendmail's mfdef.h names, for grepping); the layouts
 * follow draft-adams-milter-protocol and milter-protocol.txt.
 *
 * A packet is a 4-byte big-endian length (of what follows), one command
 * byte, then the command's data; strings are NUL-terminated.
 */
#ifndef ISPMAILD_MILTER_WIRE_H
#define ISPMAILD_MILTER_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SMFI_PROT_VERSION	6
#define MILTER_CHUNK_SIZE	65535	/* most body bytes in one SMFIC_BODY */
/* The largest reply we read (its length field); more is a broken filter. */
#define MILTER_MAX_PACKET	(1024 * 1024)

/* MTA -> filter commands. */
#define SMFIC_ABORT	'A'
#define SMFIC_BODY	'B'
#define SMFIC_CONNECT	'C'
#define SMFIC_MACRO	'D'
#define SMFIC_BODYEOB	'E'
#define SMFIC_HELO	'H'
#define SMFIC_QUIT_NC	'K'
#define SMFIC_HEADER	'L'
#define SMFIC_MAIL	'M'
#define SMFIC_EOH	'N'
#define SMFIC_OPTNEG	'O'
#define SMFIC_QUIT	'Q'
#define SMFIC_RCPT	'R'
#define SMFIC_DATA	'T'
#define SMFIC_UNKNOWN	'U'

/* Filter -> MTA replies. */
#define SMFIR_ADDRCPT	'+'
#define SMFIR_DELRCPT	'-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_SHUTDOWN	'4'
#define SMFIR_ACCEPT	'a'
#define SMFIR_REPLBODY	'b'
#define SMFIR_CONTINUE	'c'
#define SMFIR_DISCARD	'd'
#define SMFIR_CHGFROM	'e'
#define SMFIR_CONN_FAIL	'f'
#define SMFIR_ADDHEADER	'h'
#define SMFIR_INSHEADER	'i'
#define SMFIR_CHGHEADER	'm'
#define SMFIR_PROGRESS	'p'
#define SMFIR_QUARANTINE 'q'
#define SMFIR_REJECT	'r'
#define SMFIR_SKIP	's'
#define SMFIR_TEMPFAIL	't'
#define SMFIR_REPLYCODE	'y'

/* Actions (what the filter may do to the message). */
#define SMFIF_ADDHDRS	 0x00000001u
#define SMFIF_CHGBODY	 0x00000002u
#define SMFIF_ADDRCPT	 0x00000004u
#define SMFIF_DELRCPT	 0x00000008u
#define SMFIF_CHGHDRS	 0x00000010u
#define SMFIF_QUARANTINE 0x00000020u
#define SMFIF_CHGFROM	 0x00000040u
#define SMFIF_ADDRCPT_PAR 0x00000080u
#define SMFIF_SETSYMLIST 0x00000100u

/* Protocol steps (what the MTA need not send, need not wait for). */
#define SMFIP_NOCONNECT	0x00000001u
#define SMFIP_NOHELO	0x00000002u
#define SMFIP_NOMAIL	0x00000004u
#define SMFIP_NORCPT	0x00000008u
#define SMFIP_NOBODY	0x00000010u
#define SMFIP_NOHDRS	0x00000020u
#define SMFIP_NOEOH	0x00000040u
#define SMFIP_NR_HDR	0x00000080u
#define SMFIP_NOUNKNOWN	0x00000100u
#define SMFIP_NODATA	0x00000200u
#define SMFIP_SKIP	0x00000400u
#define SMFIP_RCPT_REJ	0x00000800u
#define SMFIP_NR_CONN	0x00001000u
#define SMFIP_NR_HELO	0x00002000u
#define SMFIP_NR_MAIL	0x00004000u
#define SMFIP_NR_RCPT	0x00008000u
#define SMFIP_NR_DATA	0x00010000u
#define SMFIP_NR_UNKN	0x00020000u
#define SMFIP_NR_EOH	0x00040000u
#define SMFIP_NR_BODY	0x00080000u
#define SMFIP_HDR_LEADSPC 0x00100000u

/* Macro stages of the SETSYMLIST lists in the negotiation reply. */
enum milter_stage {
	SMFIM_CONNECT = 0, SMFIM_HELO, SMFIM_ENVFROM, SMFIM_ENVRCPT,
	SMFIM_DATA, SMFIM_EOM, SMFIM_EOH, SMFIM_COUNT
};

/* Address families in SMFIC_CONNECT. */
#define SMFIA_UNKNOWN	'U'
#define SMFIA_UNIX	'L'
#define SMFIA_INET	'4'
#define SMFIA_INET6	'6'

/* ---- encoders: each appends one whole packet to out ---- */

void milter_enc_optneg(struct buf *out, uint32_t version, uint32_t actions,
    uint32_t protocol);
/*
 * SMFIC_MACRO for the command cmd: pairs[0..2n) are name, value, name,
 * value... Names are sent as given ("j", "{client_addr}").
 */
void milter_enc_macro(struct buf *out, char cmd, const char *const *pairs,
    size_t n);
/* family SMFIA_*; port and addr are sent unless family is SMFIA_UNKNOWN. */
void milter_enc_connect(struct buf *out, const char *hostname, char family,
    unsigned port, const char *addr);
void milter_enc_helo(struct buf *out, const char *helo);
/* SMFIC_MAIL or SMFIC_RCPT: "<addr>", then each ESMTP argument (NULL-ended). */
void milter_enc_envelope(struct buf *out, char cmd, const char *addr,
    const char *const *args);
void milter_enc_header(struct buf *out, const char *name, const char *value);
void milter_enc_body(struct buf *out, const void *p, size_t n);
void milter_enc_unknown(struct buf *out, const char *command);
/* A command without data: DATA, EOH, BODYEOB, ABORT, QUIT, QUIT_NC. */
void milter_enc_simple(struct buf *out, char cmd);

/* ---- decoder ---- */

enum milter_reply_type {
	MR_ACCEPT, MR_CONTINUE, MR_REJECT, MR_TEMPFAIL, MR_DISCARD,
	MR_REPLYCODE, MR_QUARANTINE, MR_ADDHEADER, MR_INSHEADER,
	MR_CHGHEADER, MR_PROGRESS, MR_SKIP, MR_OPTNEG, MR_ADDRCPT,
	MR_ADDRCPT_PAR, MR_DELRCPT, MR_CHGFROM, MR_REPLBODY, MR_SHUTDOWN,
	MR_CONN_FAIL
};

/*
 * One decoded reply. Strings point into the decoder's packet buffer and
 * live until the next milter_dec_next call. text: the replycode's
 * "5xx x.y.z text", the quarantine reason, or the recipient / sender of
 * ADDRCPT, DELRCPT, CHGFROM. name/value: of a header edit; args: ESMTP
 * arguments of ADDRCPT_PAR / CHGFROM ("" when absent). data/len: the
 * REPLBODY chunk. The optneg fields are filled for MR_OPTNEG only, with
 * symlist[stage] the SETSYMLIST macro list ("" when none was sent).
 */
struct milter_reply {
	enum milter_reply_type type;
	char cmd;			/* the reply's command byte */
	uint32_t index;			/* INSHEADER / CHGHEADER */
	const char *text;
	const char *name;
	const char *value;
	const char *args;
	const char *data;
	size_t len;
	uint32_t version, actions, protocol;
	const char *symlist[SMFIM_COUNT];
};

struct milter_dec {
	struct buf in;			/* bytes fed, not yet decoded */
	struct buf pkt;			/* the current packet's data, NUL-ended */
};

void milter_dec_init(struct milter_dec *d);
void milter_dec_free(struct milter_dec *d);
/* Hand the decoder n more bytes as read from the socket. */
void milter_dec_feed(struct milter_dec *d, const void *p, size_t n);
/*
 * The next complete reply: 1 with *r filled, 0 when more bytes are
 * needed, -1 for a packet that is malformed or over MILTER_MAX_PACKET
 * (err says why; the stream cannot be resynchronised after that).
 */
int milter_dec_next(struct milter_dec *d, struct milter_reply *r, char *err,
    size_t errlen);
/* Bytes fed but not yet returned as a reply (0 at a packet boundary). */
size_t milter_dec_pending(const struct milter_dec *d);

/* "accept", "replycode"... for logs. */
const char *milter_reply_name(enum milter_reply_type t);

/*
 * Is this a header a filter may add? name: RFC 5322 field name (printable
 * ASCII but ':', at most 998 bytes); value: no CR or LF except a line
 * break ("\n" or "\r\n") followed by a space or tab (a folded line), no
 * NUL (it is a C string). 1 or 0.
 */
int milter_header_ok(const char *name, const char *value);

/*
 * Is text a reply a filter may set: "4xx" or "5xx", a space or '-', then
 * the text; an enhanced code that starts it ("5.7.1") must be of the same
 * class (libmilter lets a filter leave it out). Lines after the first
 * (CRLF-separated) keep the same form; no other control characters. 1 or 0.
 */
int milter_replycode_ok(const char *text);

#endif
