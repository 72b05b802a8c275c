#!/usr/bin/env python3
"""auth_smtp.py: SMTP AUTH PLAIN and LOGIN (RFC 4954, RFC 4616,
draft-murchison-sasl-login) as raw dialogues over STARTTLS: initial
response and continuation, "=" for an empty response, "*" to cancel,
bad base64, unknown mechanisms, AUTH out of order, authzid, a bare local
part; auth_failures = 3: the third 535 ends the session; each failure
waits longer than the one before (200 ms doubling: the daemon's
failed-login log lines' pause_ms, the client's waits no shorter), unknown users and
wrong passwords alike, and the count follows the address into its next
session until that user's success (other addresses unaffected); the log names the
user and the address, never the password (ispmaild.conf(5) and docs/PROTOCOL.md, logs)."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "pa55-w0rd!"
WRONG = "not-the-pa55word"
FAILER, OTHER = "127.0.0.5", "127.0.0.6"     # outside addresses of their own
USERNAME_PROMPT = "334 VXNlcm5hbWU6"    # "Username:"
PASSWORD_PROMPT = "334 UGFzc3dvcmQ6"    # "Password:"


def session(srv, ctx, source=T.OUTSIDER):
    """A session from outside, over STARTTLS, after EHLO."""
    s = S.Smtp(srv, "smtp", source)
    s.hello()
    if s.cmd("STARTTLS") != H.TLS_READY:
        raise T.ProtocolError("no STARTTLS")
    s.c.starttls(ctx, "localhost")
    s.hello()
    return s


def good(t, srv, ctx):
    # (description, [(line sent, reply expected)])
    rows = [
        ("PLAIN with initial response",
         [("AUTH PLAIN " + H.plain(USER, PASSWORD), H.AUTH_OK)]),
        ("PLAIN with continuation",
         [("AUTH PLAIN", "334 "), (H.plain(USER, PASSWORD), H.AUTH_OK)]),
        ("plain in lower case, authzid equal to the user",
         [("auth plain " + H.plain(USER, PASSWORD, USER), H.AUTH_OK)]),
        ("PLAIN with a bare local part (first domain)",
         [("AUTH PLAIN " + H.plain("demo", PASSWORD), H.AUTH_OK)]),
        ("LOGIN with continuation",
         [("AUTH LOGIN", USERNAME_PROMPT), (H.b64(USER), PASSWORD_PROMPT),
          (H.b64(PASSWORD), H.AUTH_OK)]),
        ("LOGIN with initial response",
         [("AUTH LOGIN " + H.b64(USER), PASSWORD_PROMPT), (H.b64(PASSWORD), H.AUTH_OK)]),
    ]
    for what, steps in rows:
        s = session(srv, ctx)
        got = [s.cmd(line) for line, _ in steps]
        t.eq(got, [want for _, want in steps], what)
        if got[-1] == H.AUTH_OK:
            t.eq(s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.AUTH_ALREADY,
                 what + ": AUTH again refused")
            t.ok(not [x for x in H.ehlo_keywords(s.hello()) if x.startswith("AUTH")],
                 what + ": EHLO no longer offers AUTH")
            t.eq(s.cmd("MAIL FROM:<%s>" % USER), H.MAIL_OK, what + ": MAIL")
            t.eq(s.cmd("RCPT TO:<someone@remote.example>"), H.RCPT_OK,
                 what + ": relays to a remote recipient")
        s.quit()


def refused(t, srv, ctx):
    rows = [
        ("* cancels PLAIN",
         [("AUTH PLAIN", "334 "), ("*", H.AUTH_CANCELLED)]),
        ("* cancels LOGIN at the user name",
         [("AUTH LOGIN", USERNAME_PROMPT), ("*", H.AUTH_CANCELLED)]),
        ("* cancels LOGIN at the password",
         [("AUTH LOGIN " + H.b64(USER), PASSWORD_PROMPT), ("*", H.AUTH_CANCELLED)]),
        ("bad base64 initial response",
         [("AUTH PLAIN !!notbase64!!", H.AUTH_BASE64)]),
        ("bad base64 continuation",
         [("AUTH PLAIN", "334 "), ("AGRlbW8=AA", H.AUTH_BASE64)]),
        ("bad base64 LOGIN password",
         [("AUTH LOGIN " + H.b64(USER), PASSWORD_PROMPT), ("c2Vj*cmV0", H.AUTH_BASE64)]),
        ("unknown mechanism", [("AUTH CRAM-MD5", H.AUTH_MECH)]),
        ("AUTH without a mechanism", [("AUTH", H.AUTH_SYNTAX)]),
    ]
    s = session(srv, ctx)
    for what, steps in rows:
        got = [s.cmd(line) for line, _ in steps]
        t.eq(got, [want for _, want in steps], what)
    t.eq(s.cmd("NOOP"), H.OK, "the session goes on after cancels and errors")
    t.eq(s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.AUTH_OK,
         "AUTH still works afterwards (none of them counted as a failure)")
    s.quit()

    s = session(srv, ctx)
    t.eq(s.cmd("MAIL FROM:<a@example.org>"), H.MAIL_OK, "MAIL")
    t.eq(s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.AUTH_IN_MAIL,
         "AUTH inside a transaction")
    s.quit()

    s = S.Smtp(srv, "smtp", T.CUSTOMER)
    t.eq(s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.NEED_HELO_PLAIN,
         "AUTH before EHLO")
    s.hello(esmtp=False)
    t.eq(s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.NEED_HELO_PLAIN,
         "AUTH after HELO (an ESMTP extension: EHLO needed)")
    s.quit()


def failures(t, srv, ctx):
    # authzid other than the user, empty "=": failures, not errors
    n0 = H.log_count(srv, r"login .*result=fail")
    s = session(srv, ctx)
    r1, d1 = H.elapsed(lambda: s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD,
                                                             "other@example.test")))
    t.eq(r1, H.AUTH_FAILED, "PLAIN with a foreign authzid fails")
    r2, d2 = H.elapsed(lambda: s.cmd("AUTH PLAIN ="))
    t.eq(r2, H.AUTH_FAILED, "PLAIN with the empty response \"=\" fails")
    t.eq(s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.AUTH_OK,
         "two failures, then the right password")
    s.quit()
    t.ok(H.log_count(srv, r"login .*result=fail .*client=127\.0\.0\.2") >= n0 + 2,
         "log: a malformed PLAIN message is logged as a failed login with the address")

    # three wrong passwords: the third 535 and the close (from an address
    # of its own: the daemon also counts failures per address). What the
    # daemon decided is the pause_ms of its failed-login log line; the client's wait is
    # only checked to be at least that long (a loaded machine adds to it,
    # never takes from it).
    mark = S.log_mark(srv)
    s = session(srv, ctx, FAILER)
    times = []
    for i, (user, mech) in enumerate([(USER, "PLAIN"), ("nobody@example.test", "PLAIN"),
                                      (USER, "LOGIN")]):
        if mech == "PLAIN":
            r, d = H.elapsed(lambda: s.cmd("AUTH PLAIN " + H.plain(user, WRONG)))
        else:
            s.cmd("AUTH LOGIN " + H.b64(user))
            r, d = H.elapsed(lambda: s.cmd(H.b64(WRONG)))
        times.append(d)
        t.eq(r, H.AUTH_FAILED, "failure %d (%s, %s)" % (i + 1, mech,
             "unknown user" if user != USER else "wrong password"))
    rest = s.c.wait_close(timeout=5)
    t.eq(rest, b"", "after the third 535 the server closes, saying nothing more")
    s.close()
    pauses = S.auth_pauses(srv, FAILER, mark)
    t.eq(pauses, [(1, 200), (2, 400), (3, 800)],
         "log: the pauses double from 200 ms, an unknown user counting as a wrong password")
    t.ok(len(pauses) == 3 and all(d >= ms / 1000.0 - 0.01 for d, (_, ms) in zip(times, pauses)),
         "each 535 came no sooner than its logged pause", "%r, %r" % (times, pauses))
    t.ok(H.wait_log(srv, r"close reason=auth-failures count=3$"),
         "log: close reason=auth-failures count=3")

    # the address's record outlives the session; other addresses start afresh
    mark = S.log_mark(srv)
    s = session(srv, ctx, FAILER)
    r, d = H.elapsed(lambda: s.cmd("AUTH PLAIN " + H.plain(USER, WRONG)))
    t.eq(r, H.AUTH_FAILED, "a new session from the same address: 535")
    t.eq(S.auth_pauses(srv, FAILER, mark), [(4, 1600)],
         "log: its first failure pauses as the address's fourth, 1600 ms")
    t.ok(d >= 1.59, "... and the 535 came no sooner", "%.3fs" % d)
    other = session(srv, ctx, OTHER)
    r, d2 = H.elapsed(lambda: other.cmd("AUTH PLAIN " + H.plain(USER, WRONG)))
    t.eq(r, H.AUTH_FAILED, "another address meanwhile: 535")
    t.eq(S.auth_pauses(srv, OTHER, mark), [(1, 200)], "log: another address pauses 200 ms")
    t.ok(d2 >= 0.19, "... and its 535 came no sooner", "%.3fs" % d2)
    other.quit()
    t.eq(s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.AUTH_OK,
         "the right password from the slowed address")
    s.quit()
    # The success forgets the user's own failures from there, not the
    # unknown user's one (auth_pause.py walks this through).
    mark = S.log_mark(srv)
    s = session(srv, ctx, FAILER)
    r = s.cmd("AUTH PLAIN " + H.plain(USER, WRONG))
    t.ok(r == H.AUTH_FAILED and S.auth_pauses(srv, FAILER, mark) == [(2, 400)],
         "after the user's success only the other name's failure is left: log: 400 ms",
         "%r %r" % (r, S.auth_pauses(srv, FAILER, mark)))
    s.quit()


def logs(t, srv):
    log = srv.log()
    t.ok(re.search(r"login user=demo@example\.test result=fail method=PLAIN "
                   r"service=smtp client=127\.0\.0\.5 failures=\d+ pause_ms=\d+$", log, re.M),
         "log: failed login with user, method, client address and the pause")
    t.ok(re.search(r"login user=nobody@example\.test result=fail method=PLAIN "
                   r"service=smtp client=127\.0\.0\.5 failures=\d+ pause_ms=\d+$", log, re.M),
         "log: unknown user logged as a failure, like a wrong password")
    t.ok(re.search(r"login user=demo@example\.test result=ok method=LOGIN "
                   r"service=smtp client=127\.0\.0\.2$", log, re.M),
         "log: LOGIN success")
    for secret in (PASSWORD, WRONG, H.b64(PASSWORD), H.b64(WRONG),
                   H.plain(USER, PASSWORD), H.plain(USER, WRONG)):
        t.ok(secret not in log, "log never holds the password (%s...)" % secret[:6])


def main():
    t = T.Tap()
    try:
        srv = H.server(("smtp",), config={"limits.auth_failures": 3})
    except T.SkipTest as e:
        T.skip_all(str(e))
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        ctx = H.client_context(srv)
        good(t, srv, ctx)
        refused(t, srv, ctx)
        failures(t, srv, ctx)
        logs(t, srv)
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
