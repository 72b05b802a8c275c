/*
 * srs.h: the Sender Rewriting Scheme, so that mail an alias or a forward
 * sends on to another domain passes the receiver's SPF check (RFC 7208
 * checks the envelope sender's domain, which is not ours), and a bounce
 * to the rewritten address finds its way back to the original sender.
 *
 * The layout is Shevek's (libsrs2, Mail::SRS, postsrsd), with HMAC-SHA256
 * in place of HMAC-SHA1:
 *
 *   alice@example.net  ->  SRS0=HHHH=TT=example.net=alice@SRS-DOMAIN
 *
 *   TT    the day (seconds since the epoch / 86400) modulo 1024, as two
 *         base32 characters (A-Z 2-7), high five bits first;
 *   HHHH  the first SRS_HASH_LEN characters of the standard base64 of
 *         HMAC-SHA256(secret, lower-case("SRS0=TT=example.net=alice")),
 *         that is the SRS local part with the hash field left out.
 *
 * The '=' between the fields goes into the hash, so a forger cannot move
 * characters from the domain to the local part (libsrs2 hashes the fields
 * run together). Everything hashed is lower-cased and the hash and the
 * timestamp are compared without regard to case, as libsrs2 does: a
 * remote MTA may hand the address back case-folded. What that gives a
 * forger is the same address in another case, nothing more.
 *
 * An address that is already SRS0 or SRS1 at another domain becomes SRS1
 * (libsrs2's rule), so the address does not grow with each forwarder:
 *
 *   SRS0=HHHH=TT=example.net=alice@fwd.example    (from the first forwarder)
 *     -> SRS1=GGGG=fwd.example==HHHH=TT=example.net=alice@SRS-DOMAIN
 *   SRS1=XXXX=fwd.example==...@other.example      (from a later one)
 *     -> SRS1=GGGG=fwd.example==...@SRS-DOMAIN
 *
 * with GGGG the hash of lower-case("SRS1=fwd.example==HHHH=..."). A bounce
 * to it goes back to SRS0=HHHH=...@fwd.example, whose timestamp the first
 * forwarder checks; an SRS1 address has none of its own.
 */
#ifndef ISPMAILD_SRS_H
#define ISPMAILD_SRS_H

#include <stddef.h>
#include <time.h>

/* Base64 characters of the HMAC kept in an address (postsrsd's default). */
#define SRS_HASH_LEN 4
/* An SRS0 address is good this many days after the day it was made. */
#define SRS_MAX_AGE_DAYS 21
/* The secret srs_secret_load makes, and the bounds of one it accepts. */
#define SRS_SECRET_LEN 32
#define SRS_SECRET_MIN 16
#define SRS_SECRET_MAX 256
/* RFC 5321 §4.5.3.1.1 and §4.5.3.1.3: a local part, a whole address. */
#define SRS_LOCAL_MAX 64
#define SRS_ADDRESS_MAX 254

enum srs_result {
	SRS_OK = 0,
	SRS_NOT_SRS,		/* reverse: the local part is not SRS0=/SRS1= */
	SRS_BAD_HASH,		/* reverse: forged, or made with another secret */
	SRS_EXPIRED,		/* reverse: older than SRS_MAX_AGE_DAYS */
	SRS_MALFORMED,		/* a field missing or of the wrong form */
	SRS_TOO_LONG		/* forward: over 64 octets of local part, or outlen */
};

struct srs_secret {
	unsigned char key[SRS_SECRET_MAX];
	size_t len;
};

/*
 * The envelope sender to use when mail from sender goes on to another
 * domain, in out (outlen bytes, SRS_ADDRESS_MAX + 1 is always enough).
 * sender is a bare address, local@domain, "" for the null sender.
 *
 * SRS_OK: out holds the sender to use. It is the sender unchanged when
 * there is nothing to rewrite: the null sender ("" or "<>": a bounce is
 * never rewritten, out is "") and a sender already in srs_domain (any
 * case). Otherwise an SRS0 address, or SRS1 for one that is already SRS.
 * SRS_MALFORMED: the sender or srs_domain cannot be rewritten (a quoted
 * or non-ASCII local part, an address literal, no '@'). SRS_TOO_LONG: the
 * result would have more than 64 octets of local part (or not fit out).
 * On either error out is "": send with the original sender and log it.
 * now is the wall clock (time(NULL)).
 */
enum srs_result srs_forward(const unsigned char *secret, size_t secretlen,
    const char *srs_domain, const char *sender, time_t now,
    char *out, size_t outlen);

/*
 * The original sender of an SRS address: SRS0=HHHH=TT=domain=local@any
 * gives local@domain when the hash matches (in constant time, any case)
 * and TT is at most SRS_MAX_AGE_DAYS days old (or one day ahead: a
 * clock a little fast elsewhere), the 1024-day cycle of TT wrapping.
 * SRS1=HHHH=host==rest@any gives SRS0=rest@host when the hash matches.
 * The domain after the '@' is not checked: the caller has decided that
 * the address is in its SRS domain. out is "" unless SRS_OK. A bounce to
 * an address that gives SRS_BAD_HASH or SRS_EXPIRED is refused (550
 * 5.1.1); SRS_NOT_SRS means "an ordinary address, look it up as usual".
 */
enum srs_result srs_reverse(const unsigned char *secret, size_t secretlen,
    const char *address, time_t now, char *out, size_t outlen);

/* A short token for a log line: "ok", "not_srs", "bad_hash", ... */
const char *srs_result_name(enum srs_result r);

/*
 * Read the secret from path: the file's bytes, SRS_SECRET_MIN to
 * SRS_SECRET_MAX of them, as they are (a file copied from another MX
 * host works the same). Refused, with the reason in err, when the file is
 * not a regular file or group or others may read or write it: whoever
 * knows the secret can make bounce addresses that we deliver to any
 * address in the world. When it is missing and create_if_missing is set,
 * make it: SRS_SECRET_LEN bytes from getrandom(2), mode 0600, written to
 * a temporary file in the same folder, fsynced, linked into place (a
 * start beside us that made it first wins, and both use its secret) and
 * the folder fsynced. 0, or -1 with err set.
 */
int srs_secret_load(const char *path, int create_if_missing,
    struct srs_secret *secret, char *err, size_t errlen);

#endif
