#!/usr/bin/env python3
"""session_timeout.py: limits.session_timeout, the total time a session
may last (issue 12). Every per-read timeout restarts with each line, and
DATA allows a second more per 500 bytes received, so a client that keeps
moving never meets them. With session_timeout = 3 (command_timeout and
data_timeout 5):

- SMTP: a client sending DATA at 1000 bytes/s, in whole lines, is cut
  off with "421 4.4.2 HOST Error: session timeout exceeded", logged as
  "close reason=session-timeout", nothing delivered;
- POP3: a client sending RETR 1 twice a second (no junk command) gets
  "-ERR Session time limit reached, closing." and the close;
- metrics: a client sending one header line a second never ends its
  request; it gets "HTTP/1.0 408 Request Timeout" and the close;
- each is counted in sessions_closed_total{reason="session-timeout"}.
The test asserts what the server answered and logged; the only clock is
a generous ceiling (20 s) after which the client gives up."""

import os
import re
import select
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import harden_helpers as X  # noqa: E402

USER, PASSWORD = "a@example.test", "secret"
RCPT = "b@example.test"
WRAPPED = bool(os.environ.get("ISPMAILD_WRAPPER"))
# Under valgrind, or on loaded cores, a POP3 login alone takes seconds: the
# session must outlast the login with room for a RETR or two.
SESSION_TIMEOUT = 15 if WRAPPED else 6
CEILING = 80 if WRAPPED else 20
SMTP_421 = "421 4.4.2 %s Error: session timeout exceeded" % T.HOSTNAME
POP3_ERR = "-ERR Session time limit reached, closing."


def keep_sending(sock, chunk, interval, ceiling):
    """Send chunk every interval seconds until the server closes or ceiling
    seconds pass; (what the server sent, closed)."""
    got = b""
    end = time.monotonic() + ceiling
    nxt = time.monotonic()
    while time.monotonic() < end:
        if time.monotonic() >= nxt:
            try:
                sock.send(chunk)
            except OSError:
                pass
            nxt += interval
        r, _, _ = select.select([sock], [], [], max(0.0, min(nxt, end) - time.monotonic()))
        if r:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                return got, True
            got += data
    return got, False


def smtp_data_drip(t, srv):
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    s.cmd("MAIL FROM:<drip@remote.example>")
    s.cmd("RCPT TO:<%s>" % RCPT)
    go = s.cmd("DATA")
    t.ok(go.startswith("354"), "SMTP: DATA accepted", go)
    got, closed = keep_sending(s.c.sock, b"x" * 98 + b"\r\n", 0.1, CEILING)
    t.ok(closed, "SMTP: a DATA drip at 1000 bytes/s is cut off (not open after %ds)" % CEILING)
    t.eq(got.decode("latin-1"), SMTP_421 + "\r\n", "SMTP: 421 4.4.2 session timeout exceeded")
    s.close()
    t.eq(srv.files(RCPT), {"new": [], "cur": [], "tmp": []}, "SMTP: nothing delivered")


def pop3_retr_loop(t, srv):
    start = time.monotonic()
    c = srv.connect("pop3", T.CUSTOMER)
    c.expect(r"\+OK")
    c.command("USER " + USER, r"\+OK")
    c.command("PASS " + PASSWORD, r"\+OK")
    login = time.monotonic() - start
    got, closed = keep_sending(c.sock, b"RETR 1\r\n", 0.5, CEILING)
    t.ok(closed, "POP3: RETR twice a second is cut off (not open after %ds)" % CEILING)
    last = got.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1].decode("latin-1")
    t.eq(last, POP3_ERR, "POP3: the last line is -ERR Session time limit reached")
    # On busy cores the login alone may use up the session: then no RETR
    # had a chance, and that says nothing about the server.
    if login < SESSION_TIMEOUT - 2:
        t.ok(got.count(b"+OK") >= 1, "POP3: the RETRs before it were answered",
             repr(got[:200]))
    else:
        t.skip("POP3: the RETRs before it were answered",
               "the login took %.1f s of the %d s session" % (login, SESSION_TIMEOUT))
    c.close()


def metrics_slow_request(t, srv):
    c = srv.connect("metrics", T.CUSTOMER)
    c.send(b"GET /metrics HTTP/1.0\r\n")
    got, closed = keep_sending(c.sock, b"X-Slow: yes\r\n", 1.0, CEILING)
    t.ok(closed, "metrics: one header line a second is cut off (not open after %ds)" % CEILING)
    t.ok(got.startswith(b"HTTP/1.0 408 Request Timeout\r\n"),
         "metrics: HTTP/1.0 408 Request Timeout", repr(got[:200]))
    c.close()


def main():
    fx = X.Frame()
    t = fx.t
    srv = fx.server(services=("pop3", "smtp", "metrics"), config={
        "limits.session_timeout": SESSION_TIMEOUT})
    srv.add_user(USER, PASSWORD)
    srv.add_user(RCPT, PASSWORD)
    srv.deliver(USER, b"Subject: m\n\n" + b"line\n" * 10)
    srv.start()
    smtp_data_drip(t, srv)
    pop3_retr_loop(t, srv)
    metrics_slow_request(t, srv)
    t.ok(H.wait_for(lambda: srv.log().count(" disconnect") >= 2, 10), "the sessions ended")
    log = srv.log()
    t.ok(re.search(r"info: s=\w+ data result=abort reason=session-timeout", log),
         "log: SMTP data result=abort reason=session-timeout")
    closes = re.findall(r"info: s=\w+ close reason=session-timeout service=(\w+)", log)
    t.eq(sorted(closes), ["metrics", "pop3", "smtp"],
         "log: close reason=session-timeout for smtp, pop3 and metrics")
    # A quick request still works (a fresh connection, a fresh deadline).
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.ports["metrics"],
                                  timeout=10).read().decode()
    m = re.search(r'^ispmaild_sessions_closed_total\{reason="session-timeout"\} (\d+)$',
                  text, re.M)
    t.eq(m and int(m.group(1)), 3, "metrics: sessions_closed_total{reason=session-timeout} 3")
    return fx.done()


if __name__ == "__main__":
    sys.exit(main())
