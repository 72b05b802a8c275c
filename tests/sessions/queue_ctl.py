#!/usr/bin/env python3
"""queue_ctl.py: `ispmailctl queue list | flush | del ID` against a running
daemon (ispmailctl(8)), with queue.retry_min = 300 so that nothing deferred
comes back by itself during the test:

- list: one line per message, oldest first, the queue id first, then the
  age, the size on disk, <sender> and each recipient=state, the last
  remote reply indented below; "queue: empty" when empty;
- flush: a deferred message goes now (the runner is woken through its
  FIFO and makes every pending recipient due), and is delivered;
- del ID: the message is gone (envelope and data), the sink never sees
  it, not even after a flush; a second del and a bad id fail with exit 1;
- with the daemon stopped, flush says no runner listens and makes the
  messages due; the queue survives the restart and the restarted runner
  delivers them at once."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402

LATER = "451 4.3.0 try later"


def data_size(srv, qid):
    for n in H.queue_files(srv)["new"]:
        if n.startswith(qid + "."):
            return int(re.search(r",S=(\d+)", n).group(1))
    return None


def deferred(t, srv, qid, rcpts, what):
    st = O.wait_envelope(srv, qid, lambda s: all(s.get(r) == ("pending", 1) for r in rcpts), 8)
    t.eq(st, {r: ("pending", 1) for r in rcpts}, what + ": deferred after one attempt")


def main(t, fx):
    sink = fx.add(Sink(rcpt={"flush@remote.test": [LATER],
                             "del@remote.test": [LATER] * 5,
                             "a@remote.test": [LATER], "b@other.test": [LATER],
                             "c@remote.test": [LATER]}))
    srv = fx.server({"relay.smarthost": sink.smarthost(), "queue.retry_min": 300,
                     "queue.retry_max": 600})
    srv.start()
    rc, out, err = srv.ctl_run("queue", "list")
    t.eq((rc, out), (0, "queue: empty\n"), "list: an empty queue")

    # Two messages: list shows both, oldest first.
    q1 = O.relay(srv, O.SENDER, ["flush@remote.test"], H.to_wire(O.message("flush me")))
    deferred(t, srv, q1, ["flush@remote.test"], "first")
    time.sleep(1.1)     # a second apart: the ids sort by time
    q2 = O.relay(srv, "", ["a@remote.test", "b@other.test"],
                 H.to_wire(O.message("two rcpts", sender="")))
    deferred(t, srv, q2, ["a@remote.test", "b@other.test"], "second")
    rc, out, err = srv.ctl_run("queue", "list")
    t.eq(rc, 0, "list exits 0")
    lines = out.splitlines()
    t.ok(len(lines) == 5, "list: two message lines and three reply lines", out)
    t.ok(re.match(r"%s \d+s %d <%s> flush@remote\.test=pending$"
                  % (re.escape(q1), data_size(srv, q1), re.escape(O.SENDER)), lines[0]),
         "list: first line: id, age, size, <sender>, recipient=state", repr(lines[:1]))
    t.eq(lines[1:2], ["    flush@remote.test: " + LATER], "list: the last reply below it")
    t.ok(len(lines) > 2 and re.match(r"%s \d+s %d <> a@remote\.test=pending b@other\.test=pending$"
                                     % (re.escape(q2), data_size(srv, q2)), lines[2]),
         "list: second message (null sender, two recipients) after the first",
         repr(lines[2:3]))
    t.eq(lines[3:], ["    a@remote.test: " + LATER, "    b@other.test: " + LATER],
         "list: a reply line for each recipient")
    ids, _ = O.queue_list(srv)
    t.eq(ids, [q1, q2], "list: oldest first")

    # del.
    q3 = O.relay(srv, O.SENDER, ["del@remote.test"], H.to_wire(O.message("delete me")))
    deferred(t, srv, q3, ["del@remote.test"], "third")
    rc, out, err = srv.ctl_run("queue", "del", q3)
    t.eq((rc, out), (0, "queue: %s removed\n" % q3), "del ID: exit 0 and says so")
    t.ok(not O.queued(srv, q3), "del ID: envelope and data are gone", repr(H.queue_files(srv)))
    rc, out, err = srv.ctl_run("queue", "del", q3)
    t.eq((rc, out, err), (1, "", "ispmailctl: queue del: %s: no such message\n" % q3),
         "del ID again: exit 1, no such message")
    rc, out, err = srv.ctl_run("queue", "del", "../env")
    t.ok(rc == 1 and "not a queue id" in err, "del ../env: exit 1, not a queue id", err)
    ids, _ = O.queue_list(srv)
    t.eq(ids, [q1, q2], "list: the deleted one is not listed")

    # flush.
    n = len(sink.delivered())
    rc, out, err = srv.ctl_run("queue", "flush")
    t.eq((rc, out), (0, "queue: flush requested\n"), "flush: exit 0, flush requested")
    got = sink.wait_messages(n + 3, timeout=8)[n:]
    t.eq(sorted(r for m in got for r in m.rcpts),
         ["a@remote.test", "b@other.test", "flush@remote.test"],
         "flush: every deferred recipient is delivered now")
    t.ok(O.wait_queue_empty(srv, 5), "flush: the queue is empty")
    t.ok(O.log_lines(srv, r"queue flush messages=2"), "flush: logged with the count")
    t.eq(sink.rcpt_tries("del@remote.test"), 1, "del: the deleted message never came back")

    # flush without a daemon, then a restart.
    q4 = O.relay(srv, O.SENDER, ["c@remote.test"], H.to_wire(O.message("across restart")))
    deferred(t, srv, q4, ["c@remote.test"], "fourth")
    code = srv.stop()
    t.eq(code, 0, "the daemon stops with a message deferred")
    rc, out, err = srv.ctl_run("queue", "flush")
    t.eq((rc, out), (0, "queue: no runner is listening; 1 message due at its next start\n"),
         "flush without a runner: says so")
    t.eq(O.envelope_states(srv, q4), {"c@remote.test": ("pending", 1)},
         "the message is still queued")
    env = O.envelope_rcpts(srv, q4)
    t.eq([r["next"] for r in env], [0], "flush without a runner: the recipient is due now")
    n = len(sink.delivered())
    srv.start()
    got = sink.wait_messages(n + 1, timeout=8)[n:]
    t.eq([m.rcpts for m in got], [["c@remote.test"]], "after the restart it is delivered")
    t.ok(O.wait_queue_empty(srv, 5), "the queue is empty at the end")


if __name__ == "__main__":
    sys.exit(O.run(main))
