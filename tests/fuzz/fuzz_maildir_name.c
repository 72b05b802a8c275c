/*
 * fuzz_maildir_name.c: libFuzzer target for Maildir file names
 * (maildir/name.c; docs/PROTOCOL.md, files, RFC 1939 §7 unique-id):
 * maildir_name_parse, maildir_name_time and maildir_msg_uidl on names another
 * MDA, or anyone with write access to new/, might leave. A UIDL must always
 * be 1..70 octets of 0x21..0x7e, and the same name must always give the same
 * one.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "maildir.h"

/* RFC 1939 §7: unique-id = 1*70 (0x21..0x7e). */
static void check_uidl(const char *uid, size_t outlen)
{
	size_t n = strnlen(uid, outlen);

	FUZZ_CHECK(n < outlen, "UIDL not terminated");
	FUZZ_CHECK(n >= 1 && n <= MAILDIR_UID_MAX, "UIDL of %zu octets", n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)uid[i] >= 0x21 && (unsigned char)uid[i] <= 0x7e,
		    "UIDL byte 0x%02x", (unsigned char)uid[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = malloc(size + 1);	/* exact size: ASan sees overreads */
	char uid[MAILDIR_UID_MAX + 1], again[MAILDIR_UID_MAX + 1], tiny[8];
	struct maildir_msg m;
	unsigned long long sec = 0;
	unsigned long usec = 0;
	size_t uid_len = 0, disk = 0, crlf = 0, len;
	int r, t;

	if (name == NULL)
		abort();
	memcpy(name, data, size);
	name[size] = '\0';
	len = strlen(name);

	t = maildir_name_time(name, &sec, &usec);
	FUZZ_CHECK(t == 0 || t == -1, "maildir_name_time returned %d", t);
	if (t == 0) {
		FUZZ_CHECK(usec < 1000000000UL, "usec %lu from more than 9 digits", usec);
		FUZZ_CHECK(sec == strtoull(name, NULL, 10), "seconds %llu misread", sec);
	}
	FUZZ_CHECK(maildir_name_time(name, NULL, NULL) == t, "NULL outputs change the answer");

	r = maildir_name_parse(name, &uid_len, &disk, &crlf);
	FUZZ_CHECK(r == 0 || r == -1, "maildir_name_parse returned %d", r);
	FUZZ_CHECK(maildir_name_parse(name, NULL, NULL, NULL) == r,
	    "NULL outputs change the answer");
	if (r == 0) {
		FUZZ_CHECK(t == 0, "a message name without a time");
		FUZZ_CHECK(len > 0 && name[0] != '.' && len < MAILDIR_NAME_MAX,
		    "accepted name of %zu octets", len);
		FUZZ_CHECK(strchr(name, '/') == NULL, "accepted a name with '/'");
		FUZZ_CHECK(uid_len >= 1 && uid_len <= len, "uid_len %zu of %zu", uid_len, len);
		FUZZ_CHECK(strcspn(name, ",:") == uid_len, "uid_len does not stop at , or :");

		memset(&m, 0, sizeof m);
		m.name = name;
		m.uid_len = uid_len;
		FUZZ_CHECK(maildir_msg_uidl(&m, uid, sizeof uid) == 0, "no UIDL for %s", name);
		check_uidl(uid, sizeof uid);
		FUZZ_CHECK(maildir_msg_uidl(&m, again, sizeof again) == 0 &&
		    strcmp(uid, again) == 0, "UIDL not stable");
		/* A short buffer is an error, never an overflow. */
		(void)maildir_msg_uidl(&m, tiny, sizeof tiny);
	}

	/* The UIDL of any unique part (the scan trusts uid_len to fit). */
	memset(&m, 0, sizeof m);
	m.name = name;
	m.uid_len = len;
	FUZZ_CHECK(maildir_msg_uidl(&m, uid, sizeof uid) == 0, "no UIDL for raw name");
	check_uidl(uid, sizeof uid);
	free(name);
	return 0;
}
