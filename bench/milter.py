#!/usr/bin/python3
"""bench/milter.py: the one mail filter of a bench/compare --milter run,
shared by ispmaild (milters) and Postfix (smtpd_milters).

    bench/milter.py accept|rspamd DIR [WORKERS]

accept: the scripted python3-milter filter of the interop tests
(tests/interop/milter_filter.py) with the action "continue": every
callback of every stage answers continue, so each message goes through
the whole milter conversation and is accepted.
rspamd: a private rspamd, the proxy worker in milter mode, from the
configuration tests/interop/milter_rspamd.py writes (nothing leaves the
machine; no system service is touched), with WORKERS proxy worker
processes (its `count`; default 1, the interop test's).

Prints "ready PORT" once the filter accepts connections on
127.0.0.1:PORT, then runs until SIGTERM or SIGINT, and stops the filter.
Exits 1 (with the filter's log on stderr) when it does not come up."""

import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTEROP = os.path.join(HERE, "..", "tests", "interop")
sys.path.insert(0, INTEROP)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))


# A TCP port nobody listens on now.
def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# Why: both servers must meet a filter that answers, not one still starting.
def wait_up(proc, port, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


class Scripted:
    """The scripted accept-all filter (continue at every stage)."""

    def __init__(self, folder):
        self.port = free_port()
        self.err = open(os.path.join(folder, "filter.stderr"), "ab")
        # Its per-callback JSON log (filter.log) shows that both servers
        # went through it (one "eom" line per message).
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(INTEROP, "milter_filter.py"),
             "inet:%d@127.0.0.1" % self.port, "continue",
             os.path.join(folder, "filter.log")],
            stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err,
            start_new_session=True)
        self.errname = self.err.name

    def wait_up(self, timeout):
        return wait_up(self.proc, self.port, timeout)

    def tail(self):
        with open(self.errname, errors="replace") as f:
            return f.read()[-3000:]

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(20)
        self.err.close()


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ("accept", "rspamd") or \
            (len(sys.argv) == 4 and not sys.argv[3].isdigit()):
        sys.stderr.write("usage: bench/milter.py accept|rspamd DIR [WORKERS]\n")
        return 2
    kind, folder = sys.argv[1], sys.argv[2]
    workers = int(sys.argv[3]) if len(sys.argv) == 4 else 1
    os.makedirs(folder, exist_ok=True)
    if kind == "rspamd":
        import milter_rspamd  # the interop test's private rspamd
        flt = milter_rspamd.Rspamd(count=max(1, workers))
    else:
        flt = Scripted(folder)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        if not flt.wait_up(120):
            sys.stderr.write(flt.tail())
            return 1
        print("ready %d" % flt.port, flush=True)
        while not stop:
            time.sleep(0.5)
        return 0
    finally:
        flt.close()


if __name__ == "__main__":
    sys.exit(main())
