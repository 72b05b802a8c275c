#!/usr/bin/env python3
"""redis_authfail.py: the failed-login pause counts across nodes (issue 18;
ispmaild.conf(5) "More than one machine"; docs/SECURITY.md "Authentication
brute force"). Two nodes with relay.backend = "redis", one private
redis-server, one users file.

- three wrong passwords for X from one address on node A (200, 400,
  800 ms), the fourth on node B is paused as the fourth on A would be
  (1600 ms), the fifth, back on A, 3000; the record is the hash
  <prefix>authfail:<client> in Redis, one field per name (a hash of it,
  never the name), with a TTL of at most the 15 minutes of the window;
- a good login of another account Y on B does not reset X's count on A;
  a good login of X on B forgets X's failures on A too (the next failure
  from there, for a name never tried, is at 200 again);
- Redis stopped: a failed login is paused by the node's own count and the
  node logs why (op=authfail ... count=local); a good login still works;
  Redis started again: the shared count is used again, nothing logged.

Asserted on the pause_ms=N of each failed-login log line (what the
server decided), never on how long the client waited. The same pauses
with Berkeley DB are tests/sessions/auth_pause.py, unchanged."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402
import harden_helpers as X  # noqa: E402
import redis_fixture as R  # noqa: E402

GUESSER = "127.0.0.7"
XU, X_PASS = "victim@example.test", "x-Pa55word"
YU, Y_PASS = "guesser@example.test", "y-Pa55word"
ZU = "nobody@example.test"      # no such user
WRONG = "not-it"
KEY = "ispmaild:authfail:" + GUESSER


def nodes(fx, redis):
    """Node A and node B: one Redis, one maildir_root and users file."""
    conf = {"relay.plaintext_auth": True, "limits.auth_failures": 10}
    conf.update(redis.conf())
    a = fx.server(services=("smtp", "pop3"), config=conf)
    b = fx.server(services=("smtp", "pop3"), config=conf)
    b.maildir_root = a.maildir_root
    b.users_file = a.users_file
    b.set("maildir_root", a.maildir_root)
    b.set("users_file", a.users_file)
    a.add_user(XU, X_PASS)
    a.add_user(YU, Y_PASS)
    a.start()
    b.start()
    return a, b


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


def fail(t, srv, name, user, want_ms, what):
    n = len(pauses(srv))
    t.eq(smtp_auth(srv, user, WRONG), H.AUTH_FAILED, what + ": 535")
    H.wait_log(srv, r"client=%s .*pause_ms=" % re.escape(GUESSER), n + 1)
    got = pauses(srv)[n:]
    t.eq(got, [(user, want_ms)], "%s on node %s: the server's pause is %d ms"
         % (what, name, want_ms))


def across_nodes(t, fx):
    redis = fx.add(R.Redis())
    a, b = nodes(fx, redis)
    fail(t, a, "A", XU, 200, "1st guess at X")
    fail(t, a, "A", XU, 400, "2nd guess at X")
    fail(t, a, "A", XU, 800, "3rd guess at X")
    fail(t, b, "B", XU, 1600, "4th guess at X, on the other node: as the 4th on A")
    t.eq(redis.keys("*authfail:*"), [KEY], "the record in Redis: " + KEY)
    fields = redis.cmd("HGETALL", KEY)
    t.ok(len(fields) == 2 and re.match(rb"^[0-9a-f]{8}$", fields[0]) and fields[1] == b"4",
         "one field, a hash of the name (not the name), 4 failures", repr(fields))
    ttl = redis.cmd("TTL", KEY)
    t.ok(800 <= ttl <= 900, "its TTL is the 15-minute window", "TTL %r" % ttl)
    fail(t, a, "A", XU, 3000, "5th guess at X, back on A: the ceiling")
    t.eq(pop_login(b, YU, Y_PASS), H.POP_LOGIN_OK % 0, "the guesser logs in to Y on B")
    fail(t, a, "A", XU, 3000, "6th guess at X after Y's good login: no reset")
    t.eq(smtp_auth(b, XU, X_PASS), H.AUTH_OK, "X itself logs in on B")
    fail(t, a, "A", ZU, 200, "X's failures are forgotten on A too")
    # Redis away: the node's own count, logged; logins still work.
    redis.stop()
    mark = len(b.log())
    fail(t, b, "B", ZU, 200, "Redis down: B's own count (Z never failed on B)")
    fail(t, b, "B", ZU, 400, "and it grows")
    log = b.log()[mark:]
    t.ok(re.search(r"state backend=redis op=authfail key=127\.0\.0\.7 result=error "
                   r"reason=\"[^\"]+\" count=local", log),
         "B logs the failed count and that it used its own", log)
    t.eq(smtp_auth(b, XU, X_PASS), H.AUTH_OK, "Redis down: a good login still works")
    t.ok(re.search(r"op=authfail-forget key=127\.0\.0\.7 result=error", b.log()[mark:]),
         "the forgotten failures that Redis could not take are logged")
    redis.start()
    mark = len(a.log())
    fail(t, a, "A", ZU, 200, "Redis back (empty): the shared count again")
    fail(t, b, "B", ZU, 400, "on both nodes")
    t.ok("op=authfail" not in a.log()[mark:], "nothing logged once Redis is back")
    t.ok(a.running() and b.running(), "both nodes still run")


def main():
    fx = X.Frame()
    fx.part(across_nodes)
    return fx.done()


if __name__ == "__main__":
    sys.exit(main())
