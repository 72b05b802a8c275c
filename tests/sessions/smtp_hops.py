#!/usr/bin/env python3
"""smtp_hops.py: a looping message is refused in DATA, never bounced
(issue 12). The queue gives up on a message with more than 30 Received:
lines ("554 5.4.6 Too many hops: mail loop") and bounces it, so one sent
with 30 of its own to a forward got 250 and then a bounce carrying the
sender's headers to whoever it names: backscatter. Now the DATA reader
counts them, ours included, and answers "554 5.4.6 Too many hops" after
the message instead of 250:

- to a local user, to an alias of a remote address, to a catch-all that
  forwards: 554 5.4.6, nothing queued, nothing delivered, no bounce to
  the (local) sender, a "data result=reject code=554 reason=too-many-hops
  hops=31" log line, counted with the refused contents;
- 29 of them (30 with ours, the limit) still go through; "X-Received:",
  folded lines and "Received:" in the body are not hops; the header name
  is matched in any case."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import harden_helpers as X  # noqa: E402

SENDER = "victim@example.test"      # a bounce would land in this Maildir
LOCAL = "alice@example.test"
ALIASES = """fwd@example.test: far@remote.example
@example.org: far@remote.example
"""
HOPS_554 = "554 5.4.6 Too many hops"


def message(n, case="Received"):
    hdr = b"".join(b"%s: from hop%d.example by relay%d.example; Sat, 5 Dec 2026 10:00:00 +0000\r\n"
                   % (case.encode(), i, i) for i in range(n))
    return hdr + b"Subject: loop\r\n\r\nbody\r\n"


def send(srv, rcpt, body):
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    r = s.transaction(SENDER, [rcpt], body)
    s.quit()
    return r


def main():
    fx = X.Frame()
    t = fx.t
    srv = fx.server(services=("smtp",))
    for u in (SENDER, LOCAL):
        srv.add_user(u, "pw")
    with open(srv.aliases_file, "w") as f:
        f.write(ALIASES)
    srv.start()
    for rcpt, what in ((LOCAL, "a local user"), ("fwd@example.test", "an alias of a remote address"),
                       ("anyone@example.org", "a forwarding catch-all")):
        r = send(srv, rcpt, message(30))
        t.eq(r, ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>", HOPS_554],
             "30 Received: lines (31 with ours) to %s: 554 5.4.6 after the message" % what)
    r = send(srv, LOCAL, message(30, "rEcEiVeD"))
    t.eq(r[-1], HOPS_554, "the header name in any case counts")
    t.ok(H.queue_empty(srv), "nothing in the queue", repr(H.queue_files(srv)))
    t.eq(len(srv.files(LOCAL)["new"]), 0, "nothing delivered to the local user")
    log = srv.log()
    t.eq(re.findall(r"queued id=", log), [], "log: nothing was ever queued")
    rejects = re.findall(r"data result=reject code=554 reason=too-many-hops hops=(\d+)", log)
    t.eq(rejects, ["31"] * 4, "log: 4 x data result=reject code=554 reason=too-many-hops hops=31")

    # Below the limit and things that are not hops.
    r = send(srv, LOCAL, message(29))
    t.eq(r[-1][:3], "250", "29 Received: lines (30 with ours) are delivered")
    folded = message(29) .replace(b"Subject:", b"X-Received: x\r\n\tReceived: folded\r\nSubject:")
    folded += b"Received: in the body\r\n" * 5
    r = send(srv, LOCAL, folded)
    t.eq(r[-1][:3], "250", "X-Received:, a folded line and body lines are not hops")
    t.eq(len(srv.files(LOCAL)["new"]), 2, "both delivered")
    t.ok(not H.wait_for(lambda: srv.files(SENDER)["new"], 3),
         "no bounce reached the sender", repr(srv.files(SENDER)))
    t.eq(re.findall(r"bounce id=", srv.log()), [], "log: no bounce")
    t.eq(X.status_counters(srv).get(("rejected", "data")), 4,
         "ispmailctl status: the 4 counted as refused contents (data)")
    return fx.done()


if __name__ == "__main__":
    sys.exit(main())
