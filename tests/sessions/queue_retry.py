#!/usr/bin/env python3
"""queue_retry.py: temporary failures are retried (docs/PROTOCOL.md, the queue:
retry_min doubling to retry_max; RFC 5321 4.5.4.1), per recipient:

- 451 then 250: after the first attempt the recipient is pending in the
  envelope (tries 1, the 451 as last reply) and in `queue list`; no DATA
  was sent; at least retry_min later it is delivered, once, and the queue
  is empty;
- one message, three recipients of one domain: 250, 550 and 451-then-250.
  Each gets its own fate: the first delivered in the first transaction
  and never again, the second bounced (a DSN naming only it, with the
  remote reply), the third delivered by the retry; the 550 one is not
  asked again;
- the same with the recipients in three domains (three transactions)."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402

LATER = "451 4.3.0 try later"
NOUSER = "550 5.1.1 <no@remote.test>: no such user"


def retry_once(t, srv, sink):
    rcpt = "bob@remote.test"
    sink.script_rcpt(rcpt, [LATER, "250 2.1.5 ok now"])
    original = O.message("retry me", b"second time lucky\n")
    t0 = time.time()
    qid = O.relay(srv, O.SENDER, [rcpt], H.to_wire(original))
    st = O.wait_envelope(srv, qid, lambda s: s.get(rcpt) == ("pending", 1), 10)
    t.eq(st.get(rcpt), ("pending", 1), "451: the recipient is pending after one try")
    env = O.envelope_rcpts(srv, qid) if st else None
    if env:
        r = env[0]
        t.eq((r["address"], r["reply"]), (rcpt, LATER), "451: the envelope keeps the reply")
        t.ok(r["next"] >= int(t0) + 2, "451: the next attempt is retry_min (2 s) later",
             "next %d, sent at %d" % (r["next"], t0))
        ids, rows = O.queue_list(srv)
        t.eq(ids, [qid], "451: queue list shows the message, id first")
        row = rows.get(qid, {})
        t.eq(row.get("rcpts"), {rcpt: "pending"}, "451: queue list: recipient pending")
        t.eq(row.get("replies"), {rcpt: LATER}, "451: queue list: the last reply")
        t.eq(row.get("sender"), "<%s>" % O.SENDER, "451: queue list: the sender")
    got = sink.wait_messages(1, timeout=10)
    t1 = time.time()
    t.eq(len(got), 1, "451 then 250: delivered by the retry")
    if got:
        O.check_relayed(t, got[0], original, O.SENDER, [rcpt], "retry", qid=qid)
        first = [c for c, _ in sink.connections[0].commands]
        t.ok("DATA" not in first and first[-1] == "QUIT",
             "the first attempt sent no DATA (no recipient accepted), then QUIT",
             repr(first))
        t.ok(t1 - t0 >= 1.5, "the retry came after retry_min (%.1f s)" % (t1 - t0))
    t.eq(sink.rcpt_tries(rcpt), 2, "451 then 250: two RCPTs in all")
    t.ok(O.wait_queue_empty(srv), "451 then 250: the queue is empty")
    t.ok(O.log_lines(srv, r"delivery id=%s to=<%s> result=deferred tries=1 reply=\"%s\""
                     % (re.escape(qid), re.escape(rcpt), re.escape(LATER))),
         "the deferral is logged")
    t.ok(O.log_lines(srv, r"delivery id=%s to=<%s> result=sent tries=2"
                     % (re.escape(qid), re.escape(rcpt))), "the delivery is logged")


def mixed(t, srv, sink, domains, label):
    ok, no, later = ["%s@%s" % (u, d) for u, d in zip(("ok", "no", "later"), domains)]
    nouser = NOUSER.replace("no@remote.test", no)
    sink.script_rcpt(ok, ["250 2.1.5 fine"])
    sink.script_rcpt(no, [nouser, "250 2.1.5 asked twice?"])
    sink.script_rcpt(later, ["452 4.2.2 mailbox busy", "250 2.1.5 fine now"])
    start = len(sink.messages)
    before = len(O.bounces(srv))
    original = O.message("mixed " + label, b"three fates\n")
    qid = O.relay(srv, O.SENDER, [ok, no, later], H.to_wire(original))
    st = O.wait_envelope(srv, qid, lambda s: s.get(ok, ("",))[0] == "delivered", 10)
    t.eq(st, {ok: ("delivered", 1), no: ("failed", 1), later: ("pending", 1)},
         label + ": after the first attempt: delivered, failed, pending")
    got = sink.wait_messages(start + 2, timeout=8)[start:]
    t.eq(len(got), 2, label + ": two transactions carried the message")
    t.eq([m.rcpts for m in got], [[ok], [later]],
         label + ": the first to the 250 one, the retry to the 451 one only")
    for m in got:
        O.check_relayed(t, m, original, O.SENDER, m.rcpts, "%s: to %s" % (label, m.rcpts[0]),
                        qid=qid)
    t.eq(sink.rcpt_tries(ok), 1, label + ": the delivered one was not sent again")
    t.eq(sink.rcpt_tries(no), 1, label + ": the failed one was not asked again")
    t.eq(sink.rcpt_tries(later), 2, label + ": the deferred one was asked twice")
    t.ok(O.wait_gone(srv, qid, 8), label + ": the message left the queue",
         repr(H.queue_files(srv)))
    dsns = O.wait_bounces(srv, before + 1, timeout=3)
    t.eq(len(dsns), before + 1, label + ": one DSN")
    if len(dsns) > before:
        O.check_dsn(t, dsns[before][1], [no], label, status={no: "5.1.1"},
                    reply={no: nouser}, subject="mixed " + label, others=(ok, later))
    time.sleep(0.3)
    t.eq(len(O.bounces(srv)), before + 1, label + ": and no second DSN")


def main(t, fx):
    sink = fx.add(Sink())
    srv = fx.server({"relay.smarthost": sink.smarthost(),
                     "queue.retry_min": 2, "queue.retry_max": 4})
    srv.start()
    retry_once(t, srv, sink)
    mixed(t, srv, sink, ("remote.test",) * 3, "one domain")
    mixed(t, srv, sink, ("a.test", "b.test", "c.test"), "three domains")


if __name__ == "__main__":
    sys.exit(O.run(main))
