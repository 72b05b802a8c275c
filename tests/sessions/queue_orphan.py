#!/usr/bin/env python3
"""queue_orphan.py: no queue runner outlives its master (docs/SECURITY.md
"Orphaned queue runner").

- The master is killed with SIGKILL while a worker of the runner waits
  for the sink's reply to the dot: the runner and the worker are gone
  soon after (they would otherwise go on with the old configuration and
  survive the next daemon), and the runner logs why it stopped.
- A stale runner from an earlier daemon, simulated by a process of the
  daemon's user that holds the lock on <state_dir>/runner.pid with its pid
  in it: the next daemon's runner stops it (SIGTERM), logs that, takes
  the lock and delivers the message the killed daemon left in the queue.
"""

import os
import fcntl
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402


def stale_runner(path, uid, gid):
    """Fork a process of the daemon's user that takes the lock on path
    and writes its pid, as a runner of an earlier daemon would have done;
    returns its pid once it holds the lock."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            if os.getuid() == 0:
                os.setgid(gid)
                os.setuid(uid)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.write(fd, b"%d\n" % os.getpid())
            os.write(w, b"locked\n")
            time.sleep(600)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        line = f.readline()
    return pid if line == b"locked\n" else None


def wait_status(pid, timeout):
    """The wait status of our child pid, or None if it lives on."""
    end = time.time() + timeout
    while time.time() < end:
        p, status = os.waitpid(pid, os.WNOHANG)
        if p == pid:
            return status
        time.sleep(0.05)
    return None


def main(t, fx):
    sink = fx.add(Sink(stall=[60]))
    srv = fx.server({"relay.smarthost": sink.smarthost(), "limits.data_timeout": 120})
    srv.start()

    # 1. kill -9 of the master: its runner and the runner's worker follow.
    original = O.message("left behind", b"queued when the master died\n")
    qid = O.relay(srv, O.SENDER, ["bob@remote.test"], H.to_wire(original))
    t.ok(sink.wait_stalling(10) is not None, "a worker waits for the sink's reply to the dot")
    master = srv.proc.pid
    runner = O.runner_pid(srv)
    workers = O.worker_pids(srv, runner) if runner else []
    t.ok(runner is not None and len(workers) == 1,
         "the runner (%s) and its worker (%s) found" % (runner, workers))
    fx.orphans += [p for p in [runner] + workers if p]
    t.ok(O.kill9(master), "the master is SIGKILLed")
    srv.stop()
    srv.exit_code = None        # killed on purpose; the next start is checked
    gone = H.wait_for(lambda: not any(H.pid_alive(p) for p in [runner] + workers if p),
                      O.scaled(10), 0.05)
    t.ok(gone, "the runner and its worker are gone after the master's death",
         "alive: %r" % [p for p in [runner] + workers if p and H.pid_alive(p)])
    t.ok(O.log_lines(srv, r"ispmaild\[%d\]: info: queue runner stopped reason=master-gone" % (runner or 0)),
         "the runner logs that it stopped because its master is gone")
    t.ok(O.queued(srv, qid), "the message is still queued (nothing lost)")

    # 2. A stale runner holding the lock is stopped by the next daemon.
    lock = os.path.join(srv.state_dir, "runner.pid")

    stale = stale_runner(lock, srv.uid, srv.gid)
    t.ok(stale is not None, "a stale runner holds runner.pid")
    if stale is None:
        return
    fx.orphans.append(stale)
    srv.start()
    t.ok(O.wait_log(srv, r"queue stale runner pid=%d result=stopped" % stale),
         "the new daemon's runner stopped the stale runner, logged")
    status = wait_status(stale, O.scaled(10))
    t.ok(status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM,
         "the stale runner ended by SIGTERM", "wait status %r" % status)
    new = O.runner_pid(srv)
    t.ok(new is not None and new != runner, "a new runner runs (pid %s)" % new)
    with open(lock) as f:
        t.eq(f.read().strip(), str(new), "runner.pid holds the new runner's pid")
    got = H.wait_for(lambda: [m for m in sink.delivered() if "bob@remote.test" in m.rcpts],
                     O.scaled(15), 0.1)
    t.ok(got, "the message the killed daemon left is delivered by the new runner")
    t.ok(O.wait_gone(srv, qid), "and leaves the queue")


if __name__ == "__main__":
    sys.exit(O.run(main))
