/*
 * fuzz_vacation.c: libFuzzer target for what a vacation reply reads from a
 * stranger's message (local/vacation.c): the header section walk, the
 * RFC 5322 address lists of To:/Cc:, the decision (RFC 3834 §2) and the
 * reply composed from that header section and from the input taken as a
 * .vacation.msg text. Invariants: addresses are bounded, lower case and
 * hold an '@'; the decision is one of the verdicts and does not depend on
 * anything after the header section; the reply has LF line ends only, no
 * NUL, no header line over 998 octets, exactly one of each field we write,
 * and the user's text as its body.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "fuzz_util.h"
#include "vacation.h"

static const char *const addrs[] = { "bob@example.test", "info@example.test" };

static void check_addrs(const char *p, size_t n)
{
	struct vacation_addrs a = { NULL, 0 };

	vacation_addrs_parse(p, n, &a);
	for (size_t i = 0; i < a.n; i++) {
		size_t len = strlen(a.v[i]);

		FUZZ_CHECK(len > 0 && len <= VACATION_ADDR_MAX, "address of %zu bytes", len);
		FUZZ_CHECK(strchr(a.v[i], '@') != NULL, "address without @: %s", a.v[i]);
		for (const char *c = a.v[i]; *c; c++)
			FUZZ_CHECK(!(*c >= 'A' && *c <= 'Z'), "not lower case: %s", a.v[i]);
	}
	vacation_addrs_free(&a);
}

/* The header section of the reply: every line bounded; each field once. */
static void check_reply(const struct buf *out)
{
	static const char *const once[] = { "From: ", "To: ", "Subject: ", "Date: ",
	    "Message-ID: ", "Auto-Submitted: ", "MIME-Version: ", "Content-Type: " };
	const char *p = out->s, *end = out->s + out->len;
	int seen[sizeof once / sizeof once[0]] = { 0 };

	FUZZ_CHECK(out->len > 0 && out->s[out->len - 1] == '\n', "reply not ending in LF");
	FUZZ_CHECK(memchr(out->s, '\r', out->len) == NULL, "CR in the reply");
	FUZZ_CHECK(memchr(out->s, '\0', out->len) == NULL, "NUL in the reply");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)(nl - p);

		if (n == 0)
			break;	/* the end of the header section */
		FUZZ_CHECK(n <= 998, "header line of %zu octets", n);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK((unsigned char)p[i] >= 0x20 || p[i] == '\t',
			    "control byte 0x%02x in a header line", (unsigned char)p[i]);
		for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
			if (strncmp(p, once[i], strlen(once[i])) == 0)
				seen[i]++;
		p = nl + 1;
	}
	FUZZ_CHECK(p < end, "no end of the header section");
	for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
		FUZZ_CHECK(seen[i] == 1, "%s%d times", once[i], seen[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exact-size copies, so ASan sees any read past the end. */
	char *h = size ? malloc(size) : NULL, *more;
	struct buf hs = BUF_INIT, out = BUF_INIT;
	enum vacation_verdict v, w;
	struct conf c;

	if (size && h == NULL)
		return 0;
	if (size)
		memcpy(h, data, size);
	check_addrs(h ? h : "", size);
	v = vacation_decide("alice@remote.example", addrs, 2, h ? h : "", size);
	FUZZ_CHECK(v >= VACATION_REPLY && v <= VACATION_NOT_ADDRESSED, "verdict %d", (int)v);
	FUZZ_CHECK(strcmp(vacation_verdict_name(v), "unknown") != 0, "verdict without a name");

	/* Only the header section counts: the same verdict on a copy of just it. */
	vacation_header_copy(h ? h : "", size, &hs);
	FUZZ_CHECK(hs.len <= size && hs.len <= VACATION_HEADER_MAX, "header copy of %zu", hs.len);
	more = hs.len ? malloc(hs.len) : NULL;
	if (hs.len && more != NULL) {
		memcpy(more, hs.s, hs.len);
		if (size <= VACATION_HEADER_MAX) {
			w = vacation_decide("alice@remote.example", addrs, 2, more, hs.len);
			FUZZ_CHECK(w == v, "verdict %d on the header section, %d on all", (int)w, (int)v);
		}
	}
	free(more);

	memset(&c, 0, sizeof c);
	c.hostname = "mx.example.test";
	vacation_compose(&c, "bob@example.test", "alice@remote.example", "Subject: x\n\nAway.\n",
	    19, h ? h : "", size, 1700000000, "1.M2P3Q4", &out);
	check_reply(&out);
	FUZZ_CHECK(out.len > 8 && memcmp(out.s + out.len - 8, "\n\nAway.\n", 8) == 0,
	    "the body is not the user's");
	buf_reset(&out);
	vacation_compose(&c, "bob@example.test", "alice@remote.example", h ? h : "", size,
	    "Subject: hi\n\n", 13, 1700000000, "1.M2P3Q4", &out);
	check_reply(&out);
	buf_free(&out);
	buf_free(&hs);
	free(h);
	return 0;
}
