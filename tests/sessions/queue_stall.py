#!/usr/bin/env python3
"""queue_stall.py: one remote server must not stall all outbound mail
(docs/PROTOCOL.md, outbound; docs/SECURITY.md "Outbound deadlines").

Real DNS (a dnsmasq of the test's own) sends three domains to servers on
127.0.x.y:25:

- endless.test: a server that greets with "220-" continuation lines and
  never ends the reply (a line every 10 ms);
- trickle.test: greets, then answers EHLO with "250-" lines one byte at
  a time, never ending the reply;
- good.test: a normal sink.

Three messages to endless.test and two to trickle.test are queued first,
then three to good.test. The good ones must arrive (the sink's bytes are
checked), the bad ones be deferred with their reason logged and a retry
time written in the envelope, and no bad domain ever had more than half
the runner's workers (connections open at once to its server).

Then slow.test, a sink that holds its reply to the final dot: with
queue.delivery_timeout = 8 the attempt ends at that deadline (not after
limits.data_timeout, 600 s here) and the message is deferred, logged.

MX delivery goes to port 25, so this needs root (skipped otherwise)."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
import dnsfix  # noqa: E402
from sink import Sink, Hostile, can_bind, free_loopback  # noqa: E402

WORKERS = 4     # queue/runner.h RUNNER_WORKERS_MAX


def deferred_ok(t, srv, qid, rcpt, reason, what):
    """The envelope keeps rcpt pending with a retry time; the deferral and
    its reason are logged."""
    # The envelope is saved after the log line: wait for it.
    O.wait_envelope(srv, qid, lambda st: st.get(rcpt, ("", 0))[1] >= 1, 10)
    rows = [r for r in O.envelope_rcpts(srv, qid) if r["address"] == rcpt]
    r = rows[0] if rows else {}
    t.ok(r.get("state") == "pending" and r.get("tries", 0) >= 1 and r.get("next", 0) > 0,
         what + ": pending in the queue with a retry time", repr(r))
    t.ok(re.search(reason, r.get("reply", "")), what + ": the envelope has the reason",
         repr(r.get("reply")))
    t.ok(O.log_lines(srv, r"delivery id=%s to=<%s> result=deferred tries=\d+ reply=\"[^\"]*%s"
                     % (re.escape(qid), re.escape(rcpt), reason)),
         what + ": the deferral and its reason are logged")


def main(t, fx):
    if dnsfix.dnsmasq_path() is None:
        raise T.SkipTest("dnsmasq not installed (Debian: dnsmasq-base)")
    if not can_bind(25):
        raise T.SkipTest("MX delivery goes to port 25; binding it needs root")
    endless = fx.add(free_loopback(25, lambda ad: Hostile(ad, 25, "endless", 0.01)))
    trickle = fx.add(free_loopback(25, lambda ad: Hostile(ad, 25, "trickle", 0.2)))
    good = fx.add(free_loopback(25, lambda ad: Sink(ad, 25, name="good.test")))
    slow = fx.add(free_loopback(25, lambda ad: Sink(ad, 25, name="slow.test",
                                                    stall=[120, 120, 120])))
    mx, a = {}, {}
    for d, s in (("endless.test", endless), ("trickle.test", trickle),
                 ("good.test", good), ("slow.test", slow)):
        mx[d] = [(10, "mx." + d)]
        a["mx." + d] = s.address
    dns = fx.add(dnsfix.Dnsmasq(mx=mx, a=a))
    # Retries far away: each bad message is tried once in this test.
    # The harness's command_timeout (5 s) bounds a reply; the slow part
    # needs a data_timeout longer than its delivery_timeout.
    srv = fx.server({"limits.data_timeout": 600, "queue.retry_min": 300,
                     "queue.retry_max": 600}, nameserver=dns.nameserver())
    srv.start()

    bad = []
    for i in range(3):
        rc = "e%d@endless.test" % i
        bad.append((O.relay(srv, O.SENDER, [rc], H.to_wire(O.message("endless %d" % i, to=rc))),
                    rc, "endless"))
    for i in range(2):
        rc = "t%d@trickle.test" % i
        bad.append((O.relay(srv, O.SENDER, [rc], H.to_wire(O.message("trickle %d" % i, to=rc))),
                    rc, "trickle"))
    goods = []
    for i in range(3):
        rc = "g%d@good.test" % i
        original = O.message("good %d" % i, b"good body %d\n" % i, to=rc)
        goods.append((O.relay(srv, O.SENDER, [rc], H.to_wire(original)), rc, original))

    got = good.wait_messages(3, timeout=60)
    t.eq(len(got), 3, "the good domain's three messages were delivered past the stalled ones")
    by_rcpt = {m.rcpts[0].lower(): m for m in got if m.rcpts}
    for qid, rc, original in goods:
        m = by_rcpt.get(rc)
        t.ok(m is not None, "the good sink received the message to " + rc)
        if m:
            O.check_relayed(t, m, original, O.SENDER, [rc], "good " + rc, qid=qid)

    H.wait_for(lambda: all(O.log_lines(srv, r"delivery id=%s to=<%s> result=deferred"
                                       % (re.escape(q), re.escape(r))) for q, r, _ in bad),
               O.scaled(30), 0.2)
    for qid, rc, kind in bad:
        reason = (r"sent more than \d+ reply lines" if kind == "endless"
                  else r"timed out")
        deferred_ok(t, srv, qid, rc, reason, "%s %s" % (kind, rc))
    t.ok(1 <= endless.max_open() <= WORKERS // 2,
         "endless.test never had more than half the workers (%d connections at once)"
         % endless.max_open())
    t.ok(1 <= trickle.max_open() <= WORKERS // 2,
         "trickle.test never had more than half the workers (%d connections at once)"
         % trickle.max_open())

    # The absolute deadline: every reply in time but the one after the dot.
    srv.set("queue.delivery_timeout", int(O.scaled(8)))
    t.ok(O.reload(srv), "SIGHUP: the runner restarts with queue.delivery_timeout = 8")
    rc = "s@slow.test"
    qid = O.relay(srv, O.SENDER, [rc], H.to_wire(O.message("slow", to=rc)))
    t.ok(O.wait_log(srv, r"delivery id=%s to=<%s> result=deferred" % (re.escape(qid), re.escape(rc)),
                    timeout=60),
         "slow.test: the attempt ended (deferred) while the sink still held its reply")
    deferred_ok(t, srv, qid, rc, r"delivery deadline", "slow.test")
    m = slow.messages[0] if slow.messages else None
    t.ok(m is not None and not m.reply_sent,
         "slow.test: the client left before the sink's reply to the dot", repr(m))


if __name__ == "__main__":
    sys.exit(O.run(main))
