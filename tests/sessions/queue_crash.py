#!/usr/bin/env python3
"""queue_crash.py: a SIGKILL anywhere in the outbound path loses nothing (issue
5, docs/PROTOCOL.md, the queue; at worst a recipient gets a message twice):

- the delivery worker is killed while the sink holds the final dot
  unanswered: the envelope is untouched, the runner starts a new worker
  at once, and every recipient is delivered (the unanswered copy may
  count twice), with the same bytes;
- the queue runner itself is killed while its worker waits for the sink:
  the master logs it and starts a new runner, the message arrives (maybe
  twice), the queue ends empty, and new mail still wakes the new runner.

The sink stalls before its reply to the dot (as a slow or hung server
would); the processes are found through /proc: the runner is the
master's child that logged "queue runner started", workers its children."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402


def kill_worker(t, fx, srv, sink):
    rcpts = ["k1@remote.test", "k2@remote.test"]
    original = O.message("kill the worker", b"line\n.dot\n")
    qid = O.relay(srv, O.SENDER, rcpts, H.to_wire(original))
    held = sink.wait_stalling(8)
    t.ok(held is not None, "worker: the sink holds the message after the dot")
    runner = O.runner_pid(srv)
    workers = O.worker_pids(srv, runner)
    t.eq(len(workers), 1, "worker: one worker process is delivering")
    t.eq(O.envelope_states(srv, qid), {r: ("pending", 0) for r in rcpts},
         "worker: the envelope says pending, no try yet, while it waits")
    if not workers:
        return
    t.ok(O.kill9(workers[0]), "worker: SIGKILLed")
    got = sink.wait_messages(1, timeout=8)
    t.ok(held.reply is not None and not held.reply_sent,
         "worker: the held copy was never acknowledged", repr(held))
    t.eq(sorted(r for m in got for r in m.rcpts), rcpts,
         "worker: every recipient delivered after the kill")
    for m in got:
        O.check_relayed(t, m, original, O.SENDER, rcpts, "worker: redelivered", qid=qid)
    t.eq(held.data, got[0].data if got else None,
         "worker: the retry sent the same bytes as the killed attempt")
    t.ok(O.wait_gone(srv, qid, 5), "worker: the message left the queue")
    H.wait_for(lambda: not O.worker_pids(srv, runner), O.scaled(3))
    t.eq(O.worker_pids(srv, runner), [], "worker: no worker left")
    t.eq(O.runner_pid(srv), runner, "worker: the runner itself lived on")


def kill_runner(t, fx, srv, sink):
    rcpt = "r1@remote.test"
    original = O.message("kill the runner", b"runner\n")
    n = len(sink.delivered())
    qid = O.relay(srv, O.SENDER, [rcpt], H.to_wire(original))
    held = sink.wait_stalling(8)
    t.ok(held is not None, "runner: the sink holds the message after the dot")
    runner = O.runner_pid(srv)
    orphans = O.worker_pids(srv, runner)
    fx.orphans += orphans
    t.eq(len(orphans), 1, "runner: its worker is delivering")
    t.ok(O.kill9(runner), "runner: SIGKILLed")
    t.ok(O.wait_log(srv, r"queue runner pid=%d signal=9; restarting" % runner, 5),
         "runner: the master logs the death")
    new = O.runner_pid(srv, 5)
    t.ok(new is not None and new != runner, "runner: a new runner started (pid %s)" % new)
    got = sink.wait_messages(n + 1, timeout=10)[n:]
    t.ok(rcpt in [r for m in got for r in m.rcpts], "runner: the message arrived",
         repr(got))
    for m in got[:1]:
        O.check_relayed(t, m, original, O.SENDER, [rcpt], "runner: delivered", qid=qid)
    t.ok(O.wait_gone(srv, qid, 10), "runner: the message left the queue",
         repr(H.queue_files(srv)))
    # The orphaned worker ends with its runner (PR_SET_PDEATHSIG).
    H.wait_for(lambda: not any(H.pid_alive(p) for p in orphans), O.scaled(10))
    time.sleep(0.3)
    t.ok(not O.queued(srv, qid), "runner: still gone after the old worker finished",
         repr(H.queue_files(srv)))
    t.ok(len([m for m in sink.delivered() if rcpt in m.rcpts]) in (1, 2),
         "runner: delivered once or twice, never more")

    # The new runner is awake: new mail goes at once.
    n = len(sink.delivered())
    original = O.message("after the restart", b"still works\n")
    t0 = time.time()
    qid = O.relay(srv, O.SENDER, ["r2@remote.test"], H.to_wire(original))
    got = sink.wait_messages(n + 1, timeout=8)[n:]
    t.eq([m.rcpts for m in got], [["r2@remote.test"]], "runner: new mail after the restart")
    # Without the wakeup the runner would only see it at its next scan, a
    # minute away (nothing else is due): 20 s tells the two apart and
    # leaves room for a loaded machine.
    took = time.time() - t0
    t.ok(took < O.scaled(20), "runner: delivered at once, woken by the new mail (%.1f s)" % took)
    t.ok(O.wait_queue_empty(srv, 5), "the queue is empty at the end", repr(H.queue_files(srv)))


def main(t, fx):
    # Stall the first and the third DATA: the worker kill, the runner kill.
    sink = fx.add(Sink(stall=[30, 0, 3]))
    srv = fx.server({"relay.smarthost": sink.smarthost(), "limits.data_timeout": 20})
    srv.start()
    kill_worker(t, fx, srv, sink)
    kill_runner(t, fx, srv, sink)
    t.ok(not [l for l in srv.log().splitlines() if re.search(r"result=bounced", l)],
         "nothing was bounced")
    t.eq(O.bounces(srv), [], "no DSN")


if __name__ == "__main__":
    sys.exit(O.run(main))
