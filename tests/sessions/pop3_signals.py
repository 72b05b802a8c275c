#!/usr/bin/env python3
"""pop3_signals.py: the daemon's life around POP3 sessions (ispmaild(8) and
docs/PROTOCOL.md, bad input): the pid file; SIGHUP reloads (new connections see
the new file, a bad file is refused and logged and the old one stays); a
session killed with -9 leaves its mailbox unlocked and unchanged and the master
running; SIGTERM stops accepting, lets an open session finish, and ends
everything within 10 seconds even when a session does not."""

import os
import re
import signal
import threading
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

USER, PASSWORD = "demo@example.test", "secret"


def login(srv, source=T.CUSTOMER):
    """A logged-in client, or the first refusal as a string."""
    c = srv.connect("pop3", source)
    r = c.readline()
    if not r or not r.startswith("+OK"):
        return "greeting: %r" % r
    for cmd in ("USER " + USER, "PASS " + PASSWORD):
        r = c.command(cmd)
        if not r or not r.startswith("+OK"):
            c.close()
            return "%s: %r" % (cmd.split()[0], r)
    return c


def until(cond, seconds):
    """Poll cond() until it is true or seconds pass; its last value."""
    deadline = time.time() + seconds
    while True:
        v = cond()
        if v or time.time() > deadline:
            return v
        time.sleep(0.1)


def gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def reload_part(t):
    srv = T.Server(config={"limits.command_timeout": 30})
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        t.eq(srv.pid(), srv.proc.pid, "pid file holds the master's pid")
        r = login(srv, T.OUTSIDER)
        t.ok(isinstance(r, str) and "[AUTH]" in r,
             "before reload: outsider's plaintext login refused", repr(r))
        if not isinstance(r, str):
            r.close()

        srv.set("relay.plaintext_auth", True)
        srv.reload()

        def outsider_ok():
            c = login(srv, T.OUTSIDER)
            if isinstance(c, str):
                return False
            c.command("QUIT")
            c.close()
            return True
        t.ok(until(outsider_ok, 30), "after SIGHUP: the new setting applies")

        before = len(srv.log())
        srv.set("limits.max_per_ip", T.Raw('"many"'))
        srv.reload()
        until(lambda: "reload result=refused" in srv.log()[before:], 30)
        new = srv.log()[before:]
        t.ok(srv.running(), "a bad file on SIGHUP does not stop the daemon")
        t.ok("ispmaild.conf" in new or "max_per_ip" in new,
             "the bad file is logged, naming file or key", new)
        t.ok(outsider_ok(), "the old configuration stays in force")
        srv.set("limits.max_per_ip", None)
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "reload part ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t, plan=False)


def kill_part(t):
    srv = T.Server(config={"limits.command_timeout": 30})
    try:
        srv.add_user(USER, PASSWORD)
        srv.deliver(USER, b"Subject: one\n\nfirst\n")
        srv.deliver(USER, b"Subject: two\n\nsecond\n")
        srv.start()
        c = login(srv)
        t.ok(not isinstance(c, str), "login", repr(c))
        t.ok(c.command("DELE 1").startswith("+OK"), "DELE 1")
        pid = srv.session_pid(c)
        t.ok(pid and pid != srv.proc.pid, "the session's own process found", repr(pid))
        os.kill(pid, signal.SIGKILL)
        try:
            c.wait_close(30)
            t.ok(True, "client sees the connection close")
        except T.ProtocolError as e:
            t.ok(False, "client sees the connection close", str(e))
        c.close()
        t.ok(until(lambda: gone(pid), 30), "the killed child is reaped")
        t.ok(srv.running(), "the master goes on")
        c = until(lambda: (lambda x: x if not isinstance(x, str) else None)(login(srv)), 30)
        t.ok(c is not None, "the mailbox lock died with the session")
        if c is not None:
            r = c.command("STAT")
            t.ok(r.startswith("+OK 2 "), "the killed session's DELE was not applied", r)
            c.command("QUIT")
            c.close()
        t.eq(len(srv.files(USER)["new"] + srv.files(USER)["cur"]), 2, "both files remain")
    except (T.HarnessError, T.ProtocolError, OSError, TypeError) as e:
        t.ok(False, "kill part ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t, plan=False)


def _stamp(log, text):
    """Seconds (the daemon's clock) of the first log line holding text."""
    import datetime
    for line in log.splitlines():
        if text in line:
            try:
                return datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ") \
                    .timestamp()
            except (ValueError, IndexError):
                return None
    return None


def term_part(t):
    srv = T.Server(config={"limits.command_timeout": 60})
    try:
        srv.add_user(USER, PASSWORD)
        srv.deliver(USER, b"Subject: one\n\nfirst\n")
        srv.start()
        c = login(srv)
        t.ok(not isinstance(c, str), "login before SIGTERM", repr(c))
        srv.proc.send_signal(signal.SIGTERM)
        # The master has acted on it once it logs "stopping" (a fixed
        # sleep is not enough on a loaded machine).
        until(lambda: "stopping sessions=" in srv.log(), 30)
        greeted = None
        try:
            n = srv.connect("pop3")
            greeted = n.readline(timeout=2)
            n.close()
        except (OSError, T.ProtocolError):
            pass
        t.ok(not (greeted or "").startswith("+OK"),
             "after SIGTERM no new session is accepted", repr(greeted))
        r = c.command("STAT")
        t.ok(r is not None and r.startswith("+OK 1 "), "the open session goes on", repr(r))
        c.sendline("DELE 1")
        c.readline()
        r = c.command("QUIT")
        t.ok(r is not None and r.startswith("+OK"), "and can QUIT, deleting", repr(r))
        c.close()
        t.eq(srv.files(USER)["new"] + srv.files(USER)["cur"], [], "its DELE was applied")
        start = time.time()
        try:
            code = srv.proc.wait(30)
        except Exception:
            code = None
        t.ok(code == 0, "the daemon exits 0 once the last session ended",
             "exit %s after %.1fs" % (code, time.time() - start))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "term part ran to the end", "%s: %s" % (type(e).__name__, e))
    srv.finish(t, plan=False)

    srv = T.Server(config={"limits.command_timeout": 60})
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        c = login(srv)
        pid = srv.session_pid(c)
        kids = srv.children()
        start = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            code = srv.proc.wait(40)
        except Exception:
            code = None
        took = time.time() - start
        # What the master decided, by its own clock: from "stopping" to
        # "stopped" no longer than the 10 s grace (a second for its poll,
        # one for the kill). The test's clock only guards against a hang:
        # a sanitizer's leak check at each exit is slow on a loaded machine.
        log = srv.log()
        stamps = [_stamp(log, "stopping sessions="), _stamp(log, "stopped")]
        gap = stamps[1] - stamps[0] if None not in stamps else None
        t.ok(code is not None and gap is not None and gap <= 12.0,
             "an idle session does not hold SIGTERM past 10 s (log: stopping to stopped)",
             "exit %s after %.1fs, log gap %r" % (code, took, gap))
        t.ok(re.search(r"child pid=%d killed reason=stop-timeout" % pid, log),
             "log: the master killed it at the end of the grace")
        try:
            c.wait_close(30)
            t.ok(True, "the idle session is closed")
        except T.ProtocolError as e:
            t.ok(False, "the idle session is closed", str(e))
        c.close()
        t.ok(pid and all(until(lambda: gone(k), 30) for k in kids + [pid]),
             "no child left behind", "session %s, children %s" % (pid, kids))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "second term part ran to the end", "%s: %s" % (type(e).__name__, e))
    srv.finish(t, plan=False)


def startup_part(t):
    """A reload right after a start: the ports listen before the TLS
    contexts are built, and a SIGHUP then must not meet the default action
    (which ends the process)."""
    srv = T.Server(services=("pop3", "pop3s"), tls=True)
    sent = []

    def hup_when_listening():
        # Not srv.start()'s own wait, which also wants the pid file.
        deadline = time.time() + 15
        while time.time() < deadline and not sent:
            proc = srv.proc
            if proc is not None and T._listening(srv.ports["pop3s"]):
                proc.send_signal(signal.SIGHUP)
                sent.append(time.time())
            time.sleep(0.0005)
    th = threading.Thread(target=hup_when_listening)
    th.start()
    try:
        srv.start()
        th.join()
        t.ok(sent, "SIGHUP sent as soon as the ports listened")
        t.ok(until(lambda: "reload result=ok" in srv.log(), 10),
             "SIGHUP as soon as the ports listen: reloaded")
        t.ok(srv.running(), "and still running")
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "startup part ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t, plan=False)


def main():
    t = T.Tap()
    startup_part(t)
    reload_part(t)
    kill_part(t)
    term_part(t)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
