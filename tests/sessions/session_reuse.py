#!/usr/bin/env python3
"""session_reuse.py: session processes serve limits.max_use clients in turn
(a fork per connection was most of a short session's cost, issue 7).

Checked: one process serves consecutive sessions and exits after max_use;
its descriptors do not grow from session to session (POP3 with RETR and
DELE, SMTP with a delivery); nothing of one client reaches the next (SMTP
AUTH, the relay decision); concurrent sessions get separate processes that
are reused afterwards; a killed idle process costs no client anything; a
reload retires idle processes and the next client sees the new file;
max_idle retires an idle process (its log line says after how long); max_use = 1 forks per connection."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import harden_helpers as X  # noqa: E402

# A password no library has among its own words: "secret" is one of
# OpenSSL's (the KDF parameter name), so the memory scan below could find
# the library's string rather than the client's password (it did, once, in
# a full parallel check; ten reruns, five beside a CPU hog, found nothing).
USER, PASSWORD = "demo@example.test", "Zq7-reuse-pw-41c9"
REMOTE = "friend@remote.example"
PLAIN = "AUTH PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AFpxNy1yZXVzZS1wdy00MWM5"  # USER / PASSWORD
SLOW = 8 if os.environ.get("ISPMAILD_WRAPPER") else 1
IDLE = 6 if SLOW > 1 else 2      # limits.max_idle for its part, in seconds


def memory_holds(pid, needles):
    """Which of needles (bytes) are in the writable memory of process pid
    (read through /proc/PID/mem: root, or the same user)."""
    found = set()
    with open("/proc/%d/maps" % pid) as m:
        regions = [l.split() for l in m]
    with open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for r in regions:
            if "rw" not in r[1]:
                continue
            a, b = (int(x, 16) for x in r[0].split("-"))
            if b - a > (1 << 30):
                continue    # a sanitizer's shadow memory, not the heap
            keep = b""      # the tail of the last chunk: a needle may straddle
            while a < b:
                try:
                    mem.seek(a)
                    chunk = mem.read(min(1 << 20, b - a))
                except (OSError, ValueError, OverflowError):
                    break
                if not chunk:
                    break
                data = keep + chunk
                found.update(n for n in needles if n in data)
                keep = data[-64:]
                a += len(chunk)
    return sorted(found)


def reload(srv):
    """SIGHUP, and wait until the master has acted on it."""
    n = srv.log().count("reload result=ok")
    srv.reload()
    S.wait_for(lambda: srv.log().count("reload result=ok") > n, 10 * SLOW)


def all_idle(srv):
    """Every session has ended and its process told the master so."""
    def idle():
        c = X.status_counters(srv)
        return all(v == 0 for (k, _), v in c.items() if k == "sessions")
    return S.wait_for(idle, 10 * SLOW, 0.05)


def finish(srv, s):
    """QUIT, then wait until the process is idle again; its pid."""
    port = s.local_port()
    s.quit()
    S.session_ended(srv, port, 10 * SLOW)
    all_idle(srv)
    return S.session_pid(srv, port)


def finish_all(srv, sessions):
    """QUIT each (all at once: one alone would keep the others busy), wait
    until every process is idle again; their pids."""
    ports = [s.local_port() for s in sessions]
    for s in sessions:
        s.quit()
    for port in ports:
        S.session_ended(srv, port, 10 * SLOW)
    all_idle(srv)
    return [S.session_pid(srv, port) for port in ports]


def smtp_hello(srv, service="smtp", source=T.OUTSIDER):
    s = S.Smtp(srv, service, source)
    s.hello()
    return s


def pop3_retr_dele(srv):
    """USER/PASS, RETR 1, DELE 1, QUIT; the session's pid."""
    c = srv.connect("pop3", T.CUSTOMER)
    port = c.sock.getsockname()[1]
    c.expect(r"\+OK")
    c.command("USER " + USER, r"\+OK")
    c.command("PASS " + PASSWORD, r"\+OK")
    c.command("RETR 1", r"\+OK")
    c.read_multiline()
    c.command("DELE 1", r"\+OK")
    c.command("QUIT", r"\+OK")
    c.close()
    S.session_ended(srv, port, 10 * SLOW)
    all_idle(srv)
    return S.session_pid(srv, port)


def deliver(srv, n):
    s = S.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello()
    r = s.transaction("x@remote.example", [USER], b"Subject: %d\r\n\r\nhi\r\n" % n)
    return r[-1], finish(srv, s)


def reuse_and_max_use(t, srv):
    pids = [finish(srv, smtp_hello(srv)) for _ in range(6)]
    t.ok(None not in pids, "every session's pid is in the log", repr(pids))
    t.eq(len(set(pids[:4])), 1, "max_use = 4: one process serves sessions 1 to 4")
    t.ok(pids[4] != pids[0] and pids[4] == pids[5],
         "session 5 gets a new process, session 6 reuses it", repr(pids))
    t.ok(S.wait_for(lambda: not S.pid_alive(pids[0]), 20 * SLOW),
         "the process exits after its 4th session")


def descriptors(t, srv):
    """A fresh process (reload), then sessions of every kind in it."""
    reload(srv)
    all_idle(srv)
    reply, pid = deliver(srv, 1)
    t.ok(reply.startswith("250"), "a delivery in the fresh process", reply)
    fds = X.fd_count(pid)
    reply2, pid2 = deliver(srv, 2)
    pid3 = pop3_retr_dele(srv)
    t.eq([pid2, pid3], [pid, pid], "SMTP and POP3 sessions in the same process")
    t.eq(X.fd_count(pid), fds, "its descriptors: as many after three sessions as after one")
    t.eq(len(os.listdir(os.path.join(srv.maildir(USER), "new"))) +
         len(os.listdir(os.path.join(srv.maildir(USER), "cur"))), 1,
         "two delivered, one deleted by POP3: one message left")


def isolation(t, srv):
    """AUTH in one session; the next client of the same process has none."""
    reload(srv)
    all_idle(srv)
    s = smtp_hello(srv, "submission", T.CUSTOMER)
    t.eq(s.cmd(PLAIN), "235 2.7.0 Authentication successful", "session 1: AUTH PLAIN")
    t.ok(s.cmd("MAIL FROM:<%s>" % USER).startswith("250"), "session 1: MAIL")
    t.ok(s.cmd("RCPT TO:<%s>" % REMOTE).startswith("250"), "session 1: relay allowed")
    p1 = finish(srv, s)
    # Under valgrind /proc/PID/mem is valgrind's own memory as well.
    if os.geteuid() == 0 and p1 is not None and SLOW == 1:
        secret = [PASSWORD.encode(), PLAIN.split()[-1].encode()]
        t.eq(memory_holds(p1, secret), [],
             "the idle process's memory holds neither the password nor the AUTH line")
    else:
        t.skip("the idle process's memory holds no password",
               "needs root, and no valgrind")
    s = smtp_hello(srv, "submission", T.OUTSIDER)
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), "530 5.7.0 Authentication required",
         "session 2 from outside, same process: 530, no AUTH carried over")
    p2 = finish(srv, s)
    s = smtp_hello(srv, "smtp", T.OUTSIDER)
    s.cmd("MAIL FROM:<%s>" % USER)
    t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), S.denied(REMOTE, True),
         "session 3 from outside on port 25: relaying denied")
    p3 = finish(srv, s)
    t.ok(p1 == p2 == p3, "the three sessions shared one process", repr((p1, p2, p3)))


def concurrency(t, srv):
    reload(srv)
    all_idle(srv)
    pa, pb = finish_all(srv, [smtp_hello(srv), smtp_hello(srv)])
    t.ok(None not in (pa, pb) and pa != pb, "two sessions at once: two processes",
         repr((pa, pb)))
    pc, pd = finish_all(srv, [smtp_hello(srv), smtp_hello(srv)])
    t.eq(sorted([pc, pd]), sorted([pa, pb]), "the next two reuse both")
    return pc


def killed_idle(t, srv, pid):
    os.kill(pid, 9)
    S.wait_for(lambda: not S.pid_alive(pid), 20 * SLOW)
    s = S.Smtp(srv, "smtp", T.OUTSIDER)
    t.ok(s.greeting[-1].startswith("220 "), "after an idle process was killed: 220",
         repr(s.greeting))
    p = finish(srv, s)
    t.ok(p is not None and p != pid, "served by another process", repr((p, pid)))


def reload_and_idle(t, srv):
    pid = finish(srv, smtp_hello(srv))
    srv.set("hostname", "renamed.example.test")
    srv.set("limits.max_idle", IDLE)
    reload(srv)
    t.ok(S.wait_for(lambda: not S.pid_alive(pid), 20 * SLOW),
         "a reload retires the idle process")
    s = S.Smtp(srv, "smtp", T.OUTSIDER)
    t.ok(s.greeting[-1].startswith("220 renamed.example.test "),
         "the next client sees the new file", repr(s.greeting))
    # max_idle: the master logs each retirement with the idle time it saw
    # ("retire ... idle_ms="): that is what is asserted, not the test's
    # clock, which a loaded machine may stop for a while. From the
    # client's side only a floor holds: the process cannot be gone before
    # max_idle has passed since the QUIT.
    port = s.local_port()
    quit_at = time.monotonic()
    s.quit()
    S.session_ended(srv, port, 10 * SLOW)
    all_idle(srv)
    pid = S.session_pid(srv, port)
    gone = pid is not None and S.wait_for(lambda: not S.pid_alive(pid), IDLE + 30 * SLOW)
    took = time.monotonic() - quit_at
    retired = S.retirements(srv, pid) if pid is not None else []
    t.ok(gone and len(retired) == 1, "max_idle = %d: the idle process is retired and exits"
         % IDLE, "pid %r, gone %r, retirements %r" % (pid, gone, retired))
    idle_ms = retired[0][1] if retired else None
    t.ok(idle_ms is not None and IDLE * 1000 <= idle_ms and retired[0][2] == IDLE,
         "log: retired only once idle for max_idle (idle_ms >= %d)" % (IDLE * 1000),
         repr(retired))
    # A timer that fires late by seconds on a loaded machine passes; one
    # that waits for some other event (the next client, a reload) does not.
    t.ok(idle_ms is not None and idle_ms <= IDLE * 1000 + 5000 * SLOW,
         "log: and not much later (idle_ms <= %d)" % (IDLE * 1000 + 5000 * SLOW),
         repr(retired))
    t.ok(gone and took >= IDLE - 0.01,
         "the process outlived max_idle after the QUIT (%.1f s >= %d s)" % (took, IDLE))
    srv.set("limits.max_use", 1)
    reload(srv)
    time.sleep(0.2)
    p1 = finish(srv, smtp_hello(srv))
    p2 = finish(srv, smtp_hello(srv))
    t.ok(None not in (p1, p2) and p1 != p2, "max_use = 1: a new process per connection",
         repr((p1, p2)))


def main():
    t = T.Tap()
    srv = T.Server(services=("smtp", "submission", "pop3"),
                   config={"limits.max_use": 4, "relay.smarthost": "[127.0.0.1]:9"})
    srv.add_user(USER, PASSWORD)
    srv.start()
    try:
        reuse_and_max_use(t, srv)
        descriptors(t, srv)
        isolation(t, srv)
        pid = concurrency(t, srv)
        killed_idle(t, srv, pid)
        reload_and_idle(t, srv)
    except (T.ProtocolError, OSError) as e:
        t.ok(False, "no protocol error", repr(e))
    sys.exit(srv.finish(t))


if __name__ == "__main__":
    main()
