#!/usr/bin/env python3
"""relay_flood.py: refused relay attempts cost the client its session
(issue 12). One client pipelining RCPTs to remote addresses got a 550
for each, 43,000 a second, and wrote ~80 MB of log in 15 s. Now each
refusal of the relay policy (550 relaying denied, 553 first check your
mail) counts as an error towards limits.error_limit (default 10, as for
syntax errors), the session ends with "421 4.7.0 HOST Error: too many
errors", and only the first 5 refusals of a session are logged one by
one; the rest go into one line at the session's end ("rcpt-refusals
count=N unlogged=M denied=M", the unlogged ones by counter). The counters
still count every one.

- 1000 relay RCPTs pipelined from outside: 10 x 550, then 421 and the
  close; the session's log has at most 15 lines, 5 of them refusals, and
  the summary says count=10 unlogged=5 denied=5;
- the same from a customer without a POP login: 10 x 553, then 421;
- with error_limit = 50: 50 refusals, still 5 log lines, count=50;
- metrics: rcpt_rejected_total{reason="denied"} and "first-pop" count
  every refusal, logged or not."""

import os
import re
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import harden_helpers as X  # noqa: E402

TOO_MANY = "421 4.7.0 %s Error: too many errors" % T.HOSTNAME
LOGGED = 5


def flood(srv, source, n=1000):
    """MAIL and n relay RCPTs in one write; (replies to the RCPTs up to the
    close, closed, the session id)."""
    s = H.Smtp(srv, "smtp", source)
    s.hello(True)
    s.cmd("MAIL FROM:<spam@remote.example>")
    port = s.local_port()
    batch = b"".join(b"RCPT TO:<victim%d@remote.example>\r\n" % i for i in range(n))
    try:
        s.send(batch)
    except OSError:
        pass        # closed before it read it all: what it answered is below
    replies = []
    while True:
        try:
            line = s.c.readline()
        except T.ProtocolError:
            break
        if line is None:
            break
        replies.append(line)
    closed = s.c.eof
    s.close()
    H.session_ended(srv, port)
    m = re.findall(r": \w+: (s=[0-9a-f]+) connect service=smtp client=\S+ port=%d\b" % port,
                   srv.log())
    return replies, closed, m[-1] if m else None


def session_lines(srv, sid):
    return [l for l in srv.log().splitlines() if " %s " % sid in l]


def check_flood(t, srv, source, code, reason, limit, what):
    replies, closed, sid = flood(srv, source)
    t.eq([r[:3] for r in replies], [code] * limit + ["421"],
         "%s: %d x %s, then 421" % (what, limit, code))
    t.eq(replies[-1:], [TOO_MANY], "%s: 421 4.7.0 too many errors" % what)
    t.ok(closed, "%s: then the close" % what)
    lines = session_lines(srv, sid)
    refusals = [l for l in lines if "rcpt to=" in l and "result=reject" in l]
    t.ok(len(lines) <= 15, "%s: the session logged %d lines (at most 15)" % (what, len(lines)),
         "\n".join(lines[:40]))
    t.eq(len(refusals), LOGGED, "%s: %d refusals logged one by one" % (what, LOGGED))
    summary = [l for l in lines if "rcpt-refusals" in l]
    want = "rcpt-refusals count=%d unlogged=%d %s=%d" % (limit, limit - LOGGED, reason,
                                                        limit - LOGGED)
    t.ok(len(summary) == 1 and summary[0].endswith(" " + want),
         "%s: one summary line %s" % (what, want), repr(summary))
    t.ok(any(re.search(r"close reason=too-many-errors count=%d" % limit, l) for l in lines),
         "%s: close reason=too-many-errors count=%d" % (what, limit))


def metric(srv, reason):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.ports["metrics"],
                                  timeout=10).read().decode()
    m = re.search(r'^ispmaild_rcpt_rejected_total\{reason="%s"\} (\d+)$' % reason, text, re.M)
    return int(m.group(1)) if m else None


def default_limit(t, fx):
    srv = fx.server(services=("smtp", "metrics"))
    srv.start()
    check_flood(t, srv, T.OUTSIDER, "550", "denied", 10, "outside, 1000 pipelined relay RCPTs")
    check_flood(t, srv, T.CUSTOMER, "553", "first-pop", 10, "customer without POP, 1000 pipelined RCPTs")
    t.eq((metric(srv, "denied"), metric(srv, "first-pop")), (10, 10),
         "metrics: every refusal counted, logged or not (denied 10, first-pop 10)")
    # A legitimate client is not touched: inbound mail from outside.
    srv.add_user("alice@example.test", "pw")
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    r = s.transaction("a@remote.example", ["alice@example.test"], b"Subject: x\r\n\r\nx\r\n")
    t.eq(r[-1][:3], "250", "inbound mail from outside still delivered")
    s.quit()


def higher_limit(t, fx):
    srv = fx.server(services=("smtp",), config={"limits.error_limit": 50})
    srv.start()
    check_flood(t, srv, T.OUTSIDER, "550", "denied", 50, "error_limit 50")


def main():
    fx = X.Frame()
    fx.part(default_limit)
    fx.part(higher_limit)
    return fx.done()


if __name__ == "__main__":
    sys.exit(main())
