/*
 * test_srs.c: the Sender Rewriting Scheme (common/srs.c): addresses made
 * and read back, the ways one goes bad (forged, expired, malformed, too
 * long), the clock (21 days, a day of skew, the 1024-day wrap), SRS1 for
 * an address that is already SRS, and the secret file. srs_check.py
 * recomputes the hashes independently, in Python.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cutap.h"
#include "srs.h"

#define DAY 86400
/* 2023-11-14: day 19675, 219 in the cycle: "G3" (6 * 32 + 27). */
#define NOW ((time_t)1700000000)

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
static const unsigned char other[] = "0123456789abcdef0123456789abcdeX";
#define SECRET secret, 32
#define OTHER other, 32
#define FWD "fwd.example.org"

static char out[SRS_ADDRESS_MAX + 1];
static char back[SRS_ADDRESS_MAX + 1];

/* forward, then reverse at a later time: the result of the reverse. */
static enum srs_result round_trip(const char *sender, time_t made,
    time_t read)
{
	CU_ASSERT_EQUAL_FATAL(srs_forward(SECRET, FWD, sender, made, out,
	    sizeof out), SRS_OK);
	return srs_reverse(SECRET, out, read, back, sizeof back);
}

/* An address with every letter in one case, as a remote MTA may do. */
static void case_fold(char *dst, const char *src, int upper)
{
	size_t i;

	for (i = 0; src[i] != '\0'; i++) {
		char c = src[i];

		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!upper && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		dst[i] = c;
	}
	dst[i] = '\0';
}

static void test_layout(void)
{
	CU_ASSERT_EQUAL(srs_forward(SECRET, FWD, "alice@example.net", NOW,
	    out, sizeof out), SRS_OK);
	CU_ASSERT_EQUAL(strlen(out), strlen("SRS0=HHHH=G3=example.net=alice@"
	    FWD));
	CU_ASSERT_NSTRING_EQUAL(out, "SRS0=", 5);
	CU_ASSERT_STRING_EQUAL(out + 9, "=G3=example.net=alice@" FWD);
	CU_ASSERT_PTR_NULL(strchr("=@", out[5]));
}

static void test_round_trip(void)
{
	CU_ASSERT_EQUAL(round_trip("alice@example.net", NOW, NOW), SRS_OK);
	CU_ASSERT_STRING_EQUAL(back, "alice@example.net");
	CU_ASSERT_EQUAL(round_trip("John.Smith+tag@Mail.Example.NET", NOW,
	    NOW + DAY), SRS_OK);
	CU_ASSERT_STRING_EQUAL(back, "John.Smith+tag@Mail.Example.NET");
	/* The domain after '@' is the caller's business. */
	memcpy(strrchr(out, '@'), "@x.y", 5);
	CU_ASSERT_EQUAL(srs_reverse(SECRET, out, NOW, back, sizeof back),
	    SRS_OK);
	CU_ASSERT_EQUAL(round_trip("a=b@example.net", NOW, NOW), SRS_OK);
	CU_ASSERT_STRING_EQUAL(back, "a=b@example.net");
}

static void test_case_folded(void)
{
	char folded[sizeof out];

	CU_ASSERT_EQUAL(round_trip("Alice@Example.Net", NOW, NOW), SRS_OK);
	case_fold(folded, out, 0);
	CU_ASSERT_EQUAL(srs_reverse(SECRET, folded, NOW, back, sizeof back),
	    SRS_OK);
	CU_ASSERT_STRING_EQUAL(back, "alice@example.net");
	case_fold(folded, out, 1);
	CU_ASSERT_EQUAL(srs_reverse(SECRET, folded, NOW, back, sizeof back),
	    SRS_OK);
	CU_ASSERT_STRING_EQUAL(back, "ALICE@EXAMPLE.NET");
}

static void test_forged(void)
{
	char forged[sizeof out];
	char *tt;

	CU_ASSERT_EQUAL(round_trip("alice@example.net", NOW, NOW), SRS_OK);
	/* Another secret. */
	CU_ASSERT_EQUAL(srs_reverse(OTHER, out, NOW, back, sizeof back),
	    SRS_BAD_HASH);
	CU_ASSERT_STRING_EQUAL(back, "");
	/* One hash character changed (not just its case). */
	memcpy(forged, out, sizeof out);
	forged[5] = forged[5] == '7' ? '8' : '7';
	CU_ASSERT_EQUAL(srs_reverse(SECRET, forged, NOW, back, sizeof back),
	    SRS_BAD_HASH);
	/* Another domain, local part or day under the old hash. */
	(void)srs_forward(SECRET, FWD, "alice@example.net", NOW, out,
	    sizeof out);
	memcpy(forged, out, sizeof out);
	memcpy(strstr(forged, "example.net"), "example.com", 11);
	CU_ASSERT_EQUAL(srs_reverse(SECRET, forged, NOW, back, sizeof back),
	    SRS_BAD_HASH);
	memcpy(forged, out, sizeof out);
	memcpy(strstr(forged, "alice"), "alicf", 5);
	CU_ASSERT_EQUAL(srs_reverse(SECRET, forged, NOW, back, sizeof back),
	    SRS_BAD_HASH);
	memcpy(forged, out, sizeof out);
	tt = forged + 10;
	tt[1] = tt[1] == 'A' ? 'B' : 'A';
	CU_ASSERT_EQUAL(srs_reverse(SECRET, forged, NOW, back, sizeof back),
	    SRS_BAD_HASH);
	/* A character moved across the '=' (libsrs2 would take this). */
	memcpy(forged, out, sizeof out);
	memcpy(strstr(forged, "example.net=alice"), "example.ne=talice", 17);
	CU_ASSERT_EQUAL(srs_reverse(SECRET, forged, NOW, back, sizeof back),
	    SRS_BAD_HASH);
	/* A forged one that is also old says bad hash, not expired. */
	CU_ASSERT_EQUAL(srs_reverse(OTHER, out, NOW + 100 * DAY, back,
	    sizeof back), SRS_BAD_HASH);
}

static void test_expired(void)
{
	CU_ASSERT_EQUAL(round_trip("alice@example.net", NOW, NOW + 21 * DAY),
	    SRS_OK);
	CU_ASSERT_EQUAL(round_trip("alice@example.net", NOW,
	    NOW - NOW % DAY + 22 * DAY - 1), SRS_OK);	/* the last second */
	CU_ASSERT_EQUAL(round_trip("alice@example.net", NOW, NOW + 22 * DAY),
	    SRS_EXPIRED);
	CU_ASSERT_STRING_EQUAL(back, "");
	CU_ASSERT_EQUAL(round_trip("alice@example.net", NOW, NOW + 500 * DAY),
	    SRS_EXPIRED);
	/* A whole cycle later the stamp reads as new: the known SRS limit. */
	CU_ASSERT_EQUAL(round_trip("alice@example.net", NOW, NOW + 1024 * DAY),
	    SRS_OK);
}

/* Made by a host whose clock is a day ahead: taken; two days: not. */
static void test_skew(void)
{
	CU_ASSERT_EQUAL(round_trip("alice@example.net", NOW + DAY, NOW),
	    SRS_OK);
	CU_ASSERT_EQUAL(round_trip("alice@example.net", NOW + 2 * DAY, NOW),
	    SRS_EXPIRED);
}

/* Across the wrap of the 1024-day counter: made on day 1020 or 1023. */
static void test_wrap(void)
{
	time_t d1020 = (time_t)(19456 + 1020) * DAY + 3600;	/* 19456 = 19 * 1024 */
	time_t d1023 = d1020 + 3 * DAY;

	CU_ASSERT_EQUAL(srs_forward(SECRET, FWD, "a@example.net", d1023, out,
	    sizeof out), SRS_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "=77=")); /* 1023: 31, 31 */
	CU_ASSERT_EQUAL(round_trip("a@example.net", d1020, d1020 + 10 * DAY),
	    SRS_OK);
	CU_ASSERT_EQUAL(round_trip("a@example.net", d1020, d1020 + 21 * DAY),
	    SRS_OK);
	CU_ASSERT_EQUAL(round_trip("a@example.net", d1020, d1020 + 22 * DAY),
	    SRS_EXPIRED);
	CU_ASSERT_EQUAL(round_trip("a@example.net", d1023, d1023 + DAY),
	    SRS_OK);			/* day 0 reads day 1023 as yesterday */
	CU_ASSERT_EQUAL(round_trip("a@example.net", d1023 + DAY, d1023),
	    SRS_OK);			/* made on day 0, read on day 1023 */
}

static void test_null_sender(void)
{
	memcpy(out, "junk", 5);
	CU_ASSERT_EQUAL(srs_forward(SECRET, FWD, "", NOW, out, sizeof out),
	    SRS_OK);
	CU_ASSERT_STRING_EQUAL(out, "");
	memcpy(out, "junk", 5);
	CU_ASSERT_EQUAL(srs_forward(SECRET, FWD, "<>", NOW, out, sizeof out),
	    SRS_OK);
	CU_ASSERT_STRING_EQUAL(out, "");
}

/* A sender in the SRS domain passes SPF as it is: not rewritten. */
static void test_own_domain(void)
{
	CU_ASSERT_EQUAL(srs_forward(SECRET, FWD, "bob@FWD.Example.org", NOW,
	    out, sizeof out), SRS_OK);
	CU_ASSERT_STRING_EQUAL(out, "bob@FWD.Example.org");
	CU_ASSERT_EQUAL(srs_reverse(SECRET, "bob@" FWD, NOW, back,
	    sizeof back), SRS_NOT_SRS);
}

/*
 * alice -> first forwarder (secret OTHER, first.example) -> us (SRS1):
 * our bounce address goes back to the first forwarder's SRS0 address,
 * which its own secret reads back to alice.
 */
static void test_already_srs(void)
{
	char first[sizeof out], again[sizeof out], want[sizeof out];

	CU_ASSERT_EQUAL_FATAL(srs_forward(OTHER, "first.example",
	    "alice@example.net", NOW, first, sizeof first), SRS_OK);
	CU_ASSERT_EQUAL_FATAL(srs_forward(SECRET, FWD, first, NOW + DAY, out,
	    sizeof out), SRS_OK);
	/* SRS1=GGGG=first.example= and what followed "SRS0" in first. */
	snprintf(want, sizeof want, "=first.example=%.*s@" FWD,
	    (int)(strchr(first, '@') - first - 4), first + 4);
	CU_ASSERT_NSTRING_EQUAL(out, "SRS1=", 5);
	CU_ASSERT_STRING_EQUAL(out + 9, want);
	CU_ASSERT_EQUAL(srs_reverse(SECRET, out, NOW + 30 * DAY, back,
	    sizeof back), SRS_OK);	/* SRS1 has no timestamp */
	CU_ASSERT_STRING_EQUAL(back, first);
	CU_ASSERT_EQUAL(srs_reverse(OTHER, back, NOW + DAY, again,
	    sizeof again), SRS_OK);
	CU_ASSERT_STRING_EQUAL(again, "alice@example.net");
	/* A forged SRS1 is refused like a forged SRS0. */
	CU_ASSERT_EQUAL(srs_reverse(OTHER, out, NOW, back, sizeof back),
	    SRS_BAD_HASH);

	/* SRS1 from a second forwarder: we keep the first host, new hash. */
	CU_ASSERT_EQUAL_FATAL(srs_forward(OTHER, "second.example", first, NOW,
	    again, sizeof again), SRS_OK);
	CU_ASSERT_EQUAL_FATAL(srs_forward(SECRET, FWD, again, NOW, out,
	    sizeof out), SRS_OK);
	CU_ASSERT_NSTRING_EQUAL(out, "SRS1=", 5);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "=first.example=="));
	CU_ASSERT_PTR_NULL(strstr(out, "second.example"));
	CU_ASSERT_EQUAL(srs_reverse(SECRET, out, NOW, back, sizeof back),
	    SRS_OK);
	CU_ASSERT_STRING_EQUAL(back, first);

	/* libsrs2's other separators after SRS0 count as SRS too. */
	CU_ASSERT_EQUAL(srs_forward(SECRET, FWD, "SRS0+xyzw=AB=d.example=u@"
	    "first.example", NOW, out, sizeof out), SRS_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "=first.example=+xyzw=AB="));
	CU_ASSERT_EQUAL(srs_reverse(SECRET, out, NOW, back, sizeof back),
	    SRS_OK);
	CU_ASSERT_STRING_EQUAL(back, "SRS0+xyzw=AB=d.example=u@first.example");
}

/*
 * The local part of the result may not pass 64 octets (RFC 5321
 * §4.5.3.1.1): "SRS0=HHHH=TT=" (13) + "example.net" (11) + "=" + local,
 * so 39 octets of local part fit and 40 do not.
 */
static void test_too_long(void)
{
	char sender[128];
	char small[16];

	memset(sender, 'x', 39);
	memcpy(sender + 39, "@example.net", 13);
	CU_ASSERT_EQUAL(srs_forward(SECRET, FWD, sender, NOW, out,
	    sizeof out), SRS_OK);
	CU_ASSERT_EQUAL(strchr(out, '@') - out, 64);
	CU_ASSERT_EQUAL(srs_reverse(SECRET, out, NOW, back, sizeof back),
	    SRS_OK);
	CU_ASSERT_STRING_EQUAL(back, sender);

	memset(sender, 'x', 40);
	memcpy(sender + 40, "@example.net", 13);
	memcpy(out, "junk", 5);
	CU_ASSERT_EQUAL(srs_forward(SECRET, FWD, sender, NOW, out,
	    sizeof out), SRS_TOO_LONG);
	CU_ASSERT_STRING_EQUAL(out, "");
	memset(sender, 'x', 100);
	memcpy(sender + 100, "@example.net", 13);
	CU_ASSERT_EQUAL(srs_forward(SECRET, FWD, sender, NOW, out,
	    sizeof out), SRS_TOO_LONG);
	/* Too small a buffer is the same answer, and out stays a string. */
	CU_ASSERT_EQUAL(srs_forward(SECRET, FWD, "a@example.net", NOW, small,
	    sizeof small), SRS_TOO_LONG);
	CU_ASSERT_STRING_EQUAL(small, "");
	CU_ASSERT_EQUAL(srs_forward(SECRET, "example.net", "a@Example.NET",
	    NOW, small, 4), SRS_TOO_LONG);
	CU_ASSERT_STRING_EQUAL(small, "");
	CU_ASSERT_EQUAL(round_trip("a@example.net", NOW, NOW), SRS_OK);
	CU_ASSERT_EQUAL(srs_reverse(SECRET, out, NOW, small, 13),
	    SRS_TOO_LONG);		/* "a@example.net" and its NUL: 14 */
	CU_ASSERT_STRING_EQUAL(small, "");
}

static void test_forward_malformed(void)
{
	static const char *bad[] = {
		"alice", "@example.net", "alice@", "\"a b\"@example.net",
		"a@[192.0.2.1]", ".a@example.net", "a.@example.net",
		"a..b@example.net", "a b@example.net", "a@exa mple.net",
		"a@example..net", "a@example.net.", "a@b@example.net",
		"a\xc3\xa9@example.net", "a@ex=ample.net",
		"SRS1=hash@first.example", "SRS1=hash=first.example@x.example",
		"SRS1=hash=[1.2.3.4]=rest@x.example", NULL
	};

	for (int i = 0; bad[i] != NULL; i++) {
		memcpy(out, "junk", 5);
		if (srs_forward(SECRET, FWD, bad[i], NOW, out, sizeof out) !=
		    SRS_MALFORMED)
			CU_FAIL(bad[i]);
		CU_ASSERT_STRING_EQUAL(out, "");
	}
	CU_ASSERT_EQUAL(srs_forward(SECRET, "", "a@example.net", NOW, out,
	    sizeof out), SRS_MALFORMED);
	CU_ASSERT_EQUAL(srs_forward(SECRET, "[192.0.2.1]", "a@example.net",
	    NOW, out, sizeof out), SRS_MALFORMED);
}

static void test_reverse_malformed(void)
{
	static const char *not_srs[] = {
		"alice@example.net", "", "@", "SRS@x", "SRS2=abcd=AB=d=u@x",
		"SRS0+abcd=AB=d=u@x", "SRS0", "xSRS0=abcd=AB=d=u@x", NULL
	};
	static const char *bad[] = {
		"SRS0=@x", "SRS0=abc@x", "SRS0=abcd@x", "SRS0=abcd=@x",
		"SRS0=abcd=AB@x", "SRS0=abcd=AB=example.net@x",
		"SRS0=abcd=AB=example.net=@x", "SRS0=abcd=AB==alice@x",
		"SRS0=abc=AB=example.net=alice@x",
		"SRS0=abcde=AB=example.net=alice@x",
		"SRS0=abcd=ABC=example.net=alice@x",
		"SRS0=abcd=A=example.net=alice@x",
		"SRS0=abcd=A1=example.net=alice@x",
		"SRS0=abcd=AB=exa mple.net=alice@x",
		"SRS0=abcd=AB=example.net=al..ice@x",
		"SRS0=ab=d=AB=example.net=alice@x",
		"SRS1=abcd@x", "SRS1=abcd=host@x", "SRS1=abcd=host=@x",
		"SRS1=abcd==rest@x",
		"SRS0=abcd=AB=example.net=aliceaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaa@x",
		NULL
	};

	for (int i = 0; not_srs[i] != NULL; i++) {
		if (srs_reverse(SECRET, not_srs[i], NOW, back, sizeof back) !=
		    SRS_NOT_SRS)
			CU_FAIL(not_srs[i]);
	}
	for (int i = 0; bad[i] != NULL; i++) {
		memcpy(back, "junk", 5);
		if (srs_reverse(SECRET, bad[i], NOW, back, sizeof back) !=
		    SRS_MALFORMED)
			CU_FAIL(bad[i]);
		CU_ASSERT_STRING_EQUAL(back, "");
	}
	CU_ASSERT_STRING_EQUAL(srs_result_name(SRS_BAD_HASH), "bad_hash");
	CU_ASSERT_STRING_EQUAL(srs_result_name(SRS_EXPIRED), "expired");
}

static int files_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void write_file(const char *path, const char *data, size_t n,
    mode_t mode)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(fwrite(data, 1, n, f), n);
	CU_ASSERT_EQUAL(fclose(f), 0);
	CU_ASSERT_EQUAL(chmod(path, mode), 0);
}

static void test_secret_create(void)
{
	char dir[512], path[600], err[300];
	struct srs_secret s1, s2;
	struct stat st;
	mode_t old;

	snprintf(dir, sizeof dir, "%s/secret", cutap_tmpdir());
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	snprintf(path, sizeof path, "%s/srs.secret", dir);

	/* Missing and not to be made: an error that names the file. */
	err[0] = '\0';
	CU_ASSERT_EQUAL(srs_secret_load(path, 0, &s1, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));

	old = umask(0);			/* the mode is 0600 whatever the umask */
	CU_ASSERT_EQUAL(srs_secret_load(path, 1, &s1, err, sizeof err), 0);
	umask(old);
	CU_ASSERT_EQUAL(s1.len, SRS_SECRET_LEN);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0600);
	CU_ASSERT_EQUAL(st.st_size, SRS_SECRET_LEN);
	CU_ASSERT_EQUAL(files_in(dir), 1);	/* no temporary file left */

	/* The second start reads the same secret, and does not make one. */
	CU_ASSERT_EQUAL(srs_secret_load(path, 1, &s2, err, sizeof err), 0);
	CU_ASSERT_EQUAL(s2.len, s1.len);
	CU_ASSERT_EQUAL(memcmp(s1.key, s2.key, s1.len), 0);
	CU_ASSERT_EQUAL(srs_secret_load(path, 0, &s2, err, sizeof err), 0);
	CU_ASSERT_EQUAL(memcmp(s1.key, s2.key, s1.len), 0);

	/* Two secrets made in two places differ (32 random bytes each). */
	snprintf(path, sizeof path, "%s/other.secret", dir);
	CU_ASSERT_EQUAL(srs_secret_load(path, 1, &s2, err, sizeof err), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(s1.key, s2.key, s1.len), 0);
}

static void test_secret_refused(void)
{
	char dir[512], path[600], err[300], big[SRS_SECRET_MAX + 1];
	struct srs_secret s;

	snprintf(dir, sizeof dir, "%s/refused", cutap_tmpdir());
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	snprintf(path, sizeof path, "%s/srs.secret", dir);

	/* Group or others may read it: refused, and not replaced. */
	write_file(path, "a secret of some length", 23, 0640);
	CU_ASSERT_EQUAL(srs_secret_load(path, 1, &s, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "mode 0640"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "chmod 0600"));
	CU_ASSERT_EQUAL(chmod(path, 0604), 0);
	CU_ASSERT_EQUAL(srs_secret_load(path, 1, &s, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "mode 0604"));
	CU_ASSERT_EQUAL(chmod(path, 0400), 0);
	CU_ASSERT_EQUAL(srs_secret_load(path, 1, &s, err, sizeof err), 0);
	CU_ASSERT_EQUAL(s.len, 23);
	CU_ASSERT_EQUAL(memcmp(s.key, "a secret of some length", 23), 0);

	/* Too short, too long, not a file. */
	write_file(path, "short", 5, 0600);
	CU_ASSERT_EQUAL(srs_secret_load(path, 1, &s, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "bytes"));
	memset(big, 'k', sizeof big);
	write_file(path, big, SRS_SECRET_MAX, 0600);
	CU_ASSERT_EQUAL(srs_secret_load(path, 1, &s, err, sizeof err), 0);
	CU_ASSERT_EQUAL(s.len, SRS_SECRET_MAX);
	write_file(path, big, sizeof big, 0600);
	CU_ASSERT_EQUAL(srs_secret_load(path, 1, &s, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "bytes"));
	CU_ASSERT_EQUAL(srs_secret_load(dir, 1, &s, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));

	/* A folder that is not there: the error, no file. */
	snprintf(path, sizeof path, "%s/missing/srs.secret", dir);
	CU_ASSERT_EQUAL(srs_secret_load(path, 1, &s, err, sizeof err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "missing"));
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	s = CU_add_suite("srs", NULL, NULL);
	CU_add_test(s, "SRS0 layout: hash, day, domain, local part", test_layout);
	CU_add_test(s, "forward and back", test_round_trip);
	CU_add_test(s, "a case-folded address still reads back", test_case_folded);
	CU_add_test(s, "forged: another secret, hash, domain, local part, day", test_forged);
	CU_add_test(s, "expired after 21 days", test_expired);
	CU_add_test(s, "a day of clock skew", test_skew);
	CU_add_test(s, "the 1024-day counter wraps", test_wrap);
	CU_add_test(s, "the null sender is never rewritten", test_null_sender);
	CU_add_test(s, "a sender in the SRS domain is kept", test_own_domain);
	CU_add_test(s, "an SRS sender becomes SRS1", test_already_srs);
	CU_add_test(s, "over 64 octets of local part: too long", test_too_long);
	CU_add_test(s, "forward: malformed senders", test_forward_malformed);
	CU_add_test(s, "reverse: not SRS, malformed", test_reverse_malformed);
	CU_add_test(s, "secret file made once, 32 bytes, mode 0600", test_secret_create);
	CU_add_test(s, "secret file refused: mode, size, type", test_secret_refused);
	return cutap_run();
}
