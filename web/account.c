/*
 * account.c: the web's forwarding and vacation changes, as small wrappers
 * around the operations ispmailctl uses (admin/user_forward.c,
 * admin/user_vacation.c): the form's fields turned into their arguments,
 * their refusals told apart from a server that failed.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sys.h"
#include "user_forward.h"
#include "user_vacation.h"
#include "users.h"
#include "webd.h"

/* The most destinations one form may give. */
#define WEB_FORWARD_DESTS 32

/* "a@b c@d" (forward_list's form) -> pointers into copy; the count, -1 when too many. */
static int dests_split(char *copy, const char **dests, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *p = strtok_r(copy, " ", &save); p != NULL; p = strtok_r(NULL, " ", &save)) {
		if (n == max)
			return -1;
		dests[n++] = p;
	}
	return (int)n;
}

int web_forward_set(const struct conf *c, const char *address, const char *dests, int keep,
    const char *actor, char *err, size_t errlen)
{
	const char *v[WEB_FORWARD_DESTS];
	char *copy = xstrdup(dests ? dests : "");
	int n = dests_split(copy, v, WEB_FORWARD_DESTS), rc;

	if (n < 0) {
		seterr(err, errlen, "bad destination: more than %d", WEB_FORWARD_DESTS);
		free(copy);
		return WEB_REFUSED;
	}
	rc = admin_user_forward_set(c, address, v, (size_t)n,
	    n > 0 ? keep : ADMIN_KEEP_UNCHANGED, actor, err, errlen);
	free(copy);
	if (rc != 0)
		return strncmp(err, "bad destination", 15) == 0 ? WEB_REFUSED : -1;
	return 0;
}

int web_vacation_set(const struct conf *c, const char *address, int on, const char *subject,
    const char *text, const char *actor, char *err, size_t errlen)
{
	struct buf msg = BUF_INIT;
	int rc;

	if (on) {
		buf_printf(&msg, "Subject: %s\n\n", subject[0] ? subject : "Away");
		buf_appends(&msg, text);
		if (admin_vacation_check(msg.s, msg.len, err, errlen) != 0) {
			buf_free(&msg);
			return WEB_REFUSED;
		}
	}
	rc = admin_user_vacation_set(c, address, on, msg.s ? msg.s : "", msg.len, actor, err,
	    errlen);
	buf_free(&msg);
	return rc;
}

void web_vacation_get(const struct conf *c, const char *address, struct buf *subject,
    struct buf *text)
{
	struct buf msg = BUF_INIT;
	char err[256];
	const char *p, *end;
	int on;

	buf_reset(subject);
	buf_reset(text);
	buf_appends(subject, "");
	buf_appends(text, "");
	if (admin_user_vacation_get(c, address, &on, &msg, err, sizeof err) != 0 || msg.len == 0) {
		buf_free(&msg);
		return;
	}
	buf_appendc(&msg, '\0');
	/* Stored with LF line ends: header lines, an empty line, the body. */
	for (p = msg.s; *p != '\0' && *p != '\n'; p = end + (*end == '\n')) {
		end = p + strcspn(p, "\n");
		if (strncasecmp(p, "Subject:", 8) == 0) {
			const char *s = p + 8 + strspn(p + 8, " \t");

			buf_reset(subject);
			buf_append(subject, s, (size_t)(end - s));
			buf_appends(subject, "");
		}
	}
	if (*p == '\n')
		buf_appends(text, p + 1);
	buf_free(&msg);
}
