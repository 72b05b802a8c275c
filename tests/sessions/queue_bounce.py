#!/usr/bin/env python3
"""queue_bounce.py: permanent failures and expiry come back to the sender
as a DSN (docs/PROTOCOL.md, the queue, RFC 3464, RFC 5321 6.1-6.2):

- 550 at RCPT: a DSN in the local sender's Maildir (null Return-Path, from
  MAILER-DAEMON, multipart/report; report-type=delivery-status, the
  recipient's Final-Recipient, Action failed, Status 5.1.1, the remote
  reply in the Diagnostic-Code and the human part, the original headers),
  and the message leaves the queue;
- 554 after DATA: the same, with the reply to the final dot;
- queue.max_age (3 s) with a sink that always says 451: retried, then a
  DSN once the message is older than max_age (Status 4.x.x becomes
  5.4.7, the last 451 quoted);
- a remote sender: the DSN goes through the queue to the sink with
  MAIL FROM:<>;
- the null sender is never bounced: nothing new in any Maildir, nothing
  new at the sink, the queue emptied, "result=dropped reason=null-sender"
  logged; the same for a DSN that itself fails."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402

LATER = "451 4.3.0 try later"
HARD = "550 5.1.1 <hard@remote.test>: user unknown"
AFTER_DOT = "554 5.7.1 message content rejected"
FAR = "someone@far.test"


def all_mail(srv):
    """Every file in every Maildir under maildir_root."""
    out = []
    for base, dirs, files in os.walk(srv.maildir_root):
        out += [os.path.join(base, f) for f in files]
    return sorted(out)


def dsns_of(srv, qid):
    """The DSNs (bytes) in the sender's Maildir about queue id qid."""
    tag = b"X-Ispmaild-Queue-ID: " + qid.encode()
    return [d for _, d in O.bounces(srv) if tag in d]


def main(t, fx):
    sink = fx.add(Sink(rcpt={"slow@remote.test": [LATER] * 30,
                             "hard@remote.test": [HARD],
                             "nullfail@remote.test": ["550 5.1.1 no such user"],
                             "bad@remote.test": ["550 5.1.1 bad user"],
                             "worse@remote.test": ["550 5.1.1 worse user"],
                             "gone@far.test": ["550 5.1.1 the sender is gone too"]},
                       data=[AFTER_DOT]))
    srv = fx.server({"relay.smarthost": sink.smarthost(), "queue.retry_min": 1,
                     "queue.retry_max": 1, "queue.max_age": 3})
    srv.add_user("other@example.org", O.PASSWORD)
    srv.start()

    # max_age: start the clock first, the rest runs meanwhile.
    t0 = time.time()
    q_slow = O.relay(srv, O.SENDER, ["slow@remote.test"],
                     H.to_wire(O.message("too slow", b"never\n")))

    # 550 at RCPT.
    q_hard = O.relay(srv, O.SENDER, ["hard@remote.test"],
                     H.to_wire(O.message("hard fail", b"no one home\n")))
    t.ok(O.wait_gone(srv, q_hard, 5), "550: the message left the queue")
    # Each DSN is told by the queue id it names, not by its order: on a
    # loaded machine (or under valgrind) the max_age one may come first.
    dsns = H.wait_for(lambda: dsns_of(srv, q_hard), O.scaled(3), 0.1) or []
    t.eq(len(dsns), 1, "550: one DSN in the sender's Maildir")
    if dsns:
        d = O.check_dsn(t, dsns[0], ["hard@remote.test"], "550",
                        status={"hard@remote.test": "5.1.1"},
                        reply={"hard@remote.test": HARD}, subject="hard fail")
        t.eq(d.per_message.get("X-Ispmaild-Queue-ID"), q_hard, "550: the DSN names the queue id")
        t.ok(d.msg["Subject"] and "Undelivered" in d.msg["Subject"], "550: DSN Subject",
             d.msg["Subject"])
        t.eq(d.msg["Auto-Submitted"], "auto-replied", "550: Auto-Submitted: auto-replied")
    t.ok(O.log_lines(srv, r"delivery id=%s to=<hard@remote\.test> result=bounced tries=1"
                     % re.escape(q_hard)), "550: the bounce is logged")

    # 554 after the final dot (the first DATA at the sink).
    q_dot = O.relay(srv, "other@example.org", ["late@remote.test"],
                    H.to_wire(O.message("refused at the dot", b"content\n",
                                        sender="other@example.org")))
    t.ok(O.wait_gone(srv, q_dot, 5), "554 after DATA: the message left the queue")
    dsns = O.wait_bounces(srv, 1, address="other@example.org", timeout=3)
    t.eq(len(dsns), 1, "554 after DATA: a DSN for other@example.org")
    if dsns:
        O.check_dsn(t, dsns[0][1], ["late@remote.test"], "554 after DATA",
                    sender="other@example.org", status={"late@remote.test": "5.7.1"},
                    reply={"late@remote.test": AFTER_DOT}, subject="refused at the dot")

    # A remote sender: the DSN is queued and goes out with MAIL FROM:<>.
    n = len(sink.delivered())
    q_far = O.relay(srv, FAR, ["bad@remote.test"],
                    H.to_wire(O.message("from afar", b"far away\n", sender=FAR)))
    got = sink.wait_messages(n + 1, timeout=5)
    bounce = [m for m in got[n:] if m.sender == ""]
    t.eq(len(bounce), 1, "remote sender: the DSN reached the sink")
    if bounce:
        m = bounce[0]
        t.eq((m.sender, m.rcpts), ("", [FAR]), "remote sender: MAIL FROM:<>, RCPT TO the sender")
        d = O.Dsn(m.data.replace(b"\r\n", b"\n"))
        t.eq((d.content_type, d.report_type), ("multipart/report", "delivery-status"),
             "remote sender: a multipart/report")
        r = d.recipient("bad@remote.test") or {}
        t.eq((r.get("Action"), r.get("Status")), ("failed", "5.1.1"),
             "remote sender: Action and Status")
        t.eq(d.msg["To"], "<%s>" % FAR, "remote sender: To the sender")
    t.ok(O.wait_gone(srv, q_far, 5), "remote sender: the message left the queue")
    t.ok(O.log_lines(srv, r"bounce id=%s queued=\S+ rcpts=1" % re.escape(q_far)),
         "remote sender: the DSN was queued")

    # The null sender: never bounced.
    mail = all_mail(srv)
    n = len(sink.messages)
    q_null = O.relay(srv, "", ["nullfail@remote.test"],
                     H.to_wire(O.message("null sender", b"from nobody\n", sender="")))
    t.ok(O.wait_gone(srv, q_null, 5), "null sender: the message left the queue")
    t.ok(O.wait_log(srv, r"bounce id=%s result=dropped reason=null-sender"
                    % re.escape(q_null), 3), "null sender: result=dropped reason=null-sender")
    # A DSN that fails (to a remote sender that is gone): dropped as well.
    q_gone = O.relay(srv, "gone@far.test", ["worse@remote.test"],
                     H.to_wire(O.message("sender gone", b"x\n", sender="gone@far.test")))
    t.ok(O.wait_gone(srv, q_gone, 5), "failing DSN: the message left the queue")
    m = re.search(r"bounce id=%s queued=(\S+)" % re.escape(q_gone),
                  "\n".join(O.log_lines(srv, r"bounce id=%s queued=" % re.escape(q_gone))))
    t.ok(m is not None, "failing DSN: the DSN was queued")
    if m:
        t.ok(O.wait_gone(srv, m.group(1), 5), "failing DSN: it left the queue too")
        t.ok(O.wait_log(srv, r"bounce id=%s result=dropped reason=null-sender"
                        % re.escape(m.group(1)), 3),
             "failing DSN: a bounce of a bounce is dropped and logged")
    time.sleep(0.5)
    # Other DSNs (the max_age one, slower under valgrind) may land meanwhile:
    # what must not appear is anything about the null sender's message.
    new = [f for f in all_mail(srv) if f not in mail]
    about_null = [f for f in new if b"null sender" in open(f, "rb").read()]
    t.eq(about_null, [], "null sender: nothing about it in any Maildir")
    t.eq([x.sender for x in sink.messages[n:] if x.delivered()], [],
         "null sender: nothing delivered at the sink (the failing DSN was refused)")

    # max_age.
    dsns = O.wait_bounces(srv, 2, timeout=max(1, t0 + 12 - time.time()))
    t1 = time.time()
    t.eq(len(dsns), 2, "max_age: a second DSN in the sender's Maildir")
    # The DSN is written before the envelope is removed (a crash between
    # the two bounces twice rather than never): wait for the removal.
    t.ok(O.wait_gone(srv, q_slow, 5), "max_age: the message left the queue")
    # arrival is whole seconds: expired once time(NULL) - arrival >= 3.
    t.ok(t1 >= int(t0) + 3, "max_age: not before 3 s (%.1f s)" % (t1 - t0))
    tries = sink.rcpt_tries("slow@remote.test")
    # How many attempts fit in max_age depends on the machine: on a loaded
    # one (or under valgrind) a worker alone may take the whole 3 s. The
    # retry itself is queue_retry.py's subject; here: tried, and no more
    # often than retry_min allows.
    t.ok(1 <= tries <= 5, "max_age: tried before it expired, at most 5 times in 3 s "
         "(%d attempts)" % tries)
    mine = dsns_of(srv, q_slow)
    t.eq(len(mine), 1, "max_age: one DSN for it")
    if mine:
        O.check_dsn(t, mine[0], ["slow@remote.test"], "max_age",
                    status={"slow@remote.test": "5.4.7"},
                    reply={"slow@remote.test": LATER}, subject="too slow")
    t.ok(O.log_lines(srv, r"delivery id=%s to=<slow@remote\.test> result=bounced "
                     r"reply=\"delivery time expired; last reply: %s\""
                     % (re.escape(q_slow), re.escape(LATER))),
         "max_age: the expiry is logged with the last reply")
    t.ok(O.wait_queue_empty(srv, 3), "the queue is empty at the end", repr(H.queue_files(srv)))


if __name__ == "__main__":
    sys.exit(O.run(main))
