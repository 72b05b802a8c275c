#!/usr/bin/env python3
"""auth_pause.py: the failed-login pause of an address is not reset by a
login of somebody else (ispmaild.conf(5), docs/SECURITY.md "Authentication brute
force"). The pause grows by the address's failures (200 ms doubling to
3 s); a successful login forgets only that user's failures from that
address. Otherwise a guesser who owns one account could interleave its own
good login with its guesses and keep every guess at the first step.

Asserted on what the server decided, the `pause_ms=N` of each failed-login
log line, not on how long the client waited. POP3 and SMTP share the
record: the good login goes by POP3, the guesses by SMTP AUTH.
"""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402

GUESSER = "127.0.0.7"       # an address of its own, outside
X, X_PASS = "victim@example.test", "x-Pa55word"
Y, Y_PASS = "guesser@example.test", "y-Pa55word"
Z = "nobody@example.test"   # no such user
WRONG = "not-it"


def smtp_auth(srv, user, password):
    """One SMTP session from GUESSER: AUTH PLAIN; the reply."""
    s = S.Smtp(srv, "smtp", GUESSER)
    s.hello()
    r = s.cmd("AUTH PLAIN " + H.plain(user, password))
    s.quit()
    return r


def pop_login(srv, user, password):
    c = srv.connect("pop3", GUESSER)
    c.expect(r"\+OK")
    c.command("USER " + user)
    r = c.command("PASS " + password)
    c.command("QUIT")
    c.close()
    return r


def pauses(srv):
    """[(user, pause_ms)] of GUESSER's failed logins, in log order."""
    rx = re.compile(r" login user=(\S+) result=fail .*client=%s .*pause_ms=(\d+)$"
                    % re.escape(GUESSER))
    return [(m.group(1), int(m.group(2))) for m in map(rx.search, srv.log().splitlines())
            if m]


def fail(t, srv, user, want_ms, what):
    n = len(pauses(srv))
    t.eq(smtp_auth(srv, user, WRONG), H.AUTH_FAILED, what + ": 535")
    H.wait_log(srv, r"client=%s .*pause_ms=" % re.escape(GUESSER), n + 1)
    got = pauses(srv)[n:]
    t.eq(got, [(user, want_ms)], what + ": the server's pause is %d ms" % want_ms)


def main():
    t = T.Tap()
    srv = T.Server(services=("pop3", "smtp"),
                   config={"relay.plaintext_auth": True, "limits.auth_failures": 10})
    srv.add_user(X, X_PASS)
    srv.add_user(Y, Y_PASS)
    srv.start()
    try:
        fail(t, srv, X, 200, "1st guess at X")
        fail(t, srv, X, 400, "2nd guess at X")
        fail(t, srv, X, 800, "3rd guess at X")
        t.eq(pop_login(srv, Y, Y_PASS), H.POP_LOGIN_OK % 0,
             "the guesser logs in to its own account Y by POP3")
        fail(t, srv, X, 1600, "4th guess at X after Y's good login: no reset to 200")
        fail(t, srv, X, 3000, "5th guess at X: the ceiling")
        t.eq(smtp_auth(srv, X, X_PASS), H.AUTH_OK, "X itself logs in from there")
        fail(t, srv, Z, 200, "after X's good login X's failures are forgotten")
        t.eq(smtp_auth(srv, X, X_PASS), H.AUTH_OK, "X logs in again")
        fail(t, srv, X, 400, "but not the failures of another name (Z's one remains)")
    except (T.ProtocolError, T.HarnessError, OSError) as e:
        t.ok(False, "session ran to the end", str(e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
