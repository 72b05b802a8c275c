#!/usr/bin/env python3
"""bench/load.py: the load test of issue 6. N concurrent clients (200 by
default) for S seconds (60) against one ispmaild on loopback, each running
sessions back to back, a third each of:

  pop3   USER/PASS, STAT, LIST, UIDL, RETR of one message (its size checked
         against LIST), QUIT: every worker its own mailbox (no [IN-USE]);
  local  an outsider (127.0.0.2) delivers one message to a local user;
  relay  a trusted client (127.0.0.3) relays one message, through the
         queue, to a sink (tests/lib/sink.py) that is the smarthost.

Checked (TAP): no unexpected reply at all (every reply matched, no
timeout, no refusal); every message that got 250 is delivered exactly once
(counted in the Maildirs by its Subject token, and at the sink); the queue
drains; the master's descriptors (less one per idle session process) and RSS are
the same after as before
(RSS within a small tolerance); the daemon exits cleanly. Printed: sessions
and messages per second, p50/p99 latency of a session per kind.

Bounded: every read waits at most 30 s, a session does at most one
transaction, the clients stop at S seconds, the queue may take at most 60 s
more. Loopback only (the DNS server is a dead loopback port).

  bench/load.py [--clients 200] [--seconds 60] [--drain-max S] [--builddir DIR]
                [--keep]

tests/sessions/load_short.py runs it in make check (30 clients, 8 s).
Environment: top_builddir (ispmaild, ispmailctl) as for the tests.
"""

import argparse
import os
import re
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import harden_helpers as X  # noqa: E402
from sink import Sink, SCALE  # noqa: E402

PASSWORD = "load-secret"
SEED = 3                        # messages in each mailbox before the run
KINDS = ("pop3", "local", "relay")
MIN_OUTBOUND_RATE = 20           # messages/s the queue must drain at, loopback
# Bugs found by this test, reported, not fixed yet: their assertion is a
# TAP TODO until then. Remove an entry once the daemon is fixed.
KNOWN_BUGS = {}   # none open; an entry makes its check a TAP TODO
QUEUED = re.compile(r"250 2\.0\.0 Ok: queued as \S+$")
SUBJECT = re.compile(rb"\nSubject: load (\S+)\r?\n")


class Results:
    """What the clients saw; every list append is under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latency = {k: [] for k in KINDS}
        self.errors = []            # (kind, text)
        self.local = {}             # token -> recipient, for each 250
        self.relay = set()          # tokens relayed with 250
        self.users = 0

    def error(self, kind, text):
        with self.lock:
            self.errors.append((kind, text))


def expect(line, pattern, what):
    if line is None or not re.match(pattern, line):
        raise T.ProtocolError("%s: got %r, want /%s/" % (what, line, pattern))
    return line


def pop3_session(srv, user):
    c = srv.connect("pop3", T.CUSTOMER, timeout=30 * SCALE)
    try:
        expect(c.readline(), r"\+OK ", "greeting")
        expect(c.command("USER " + user), r"\+OK", "USER")
        expect(c.command("PASS " + PASSWORD), r"\+OK", "PASS")
        n = int(expect(c.command("STAT"), r"\+OK \d+ \d+$", "STAT").split()[1])
        expect(c.command("LIST"), r"\+OK", "LIST")
        sizes = [int(l.split()[1]) for l in c.read_multiline()]
        expect(c.command("UIDL"), r"\+OK", "UIDL")
        uidls = [l.split()[1] for l in c.read_multiline()]
        if len(sizes) != n or len(uidls) != n or len(set(uidls)) != n:
            raise T.ProtocolError("STAT %d, LIST %d, UIDL %d (%d unique)"
                                  % (n, len(sizes), len(uidls), len(set(uidls))))
        if n:
            expect(c.command("RETR 1"), r"\+OK", "RETR")
            raw = c.read_multiline_raw()
            # The wire form less the final ".\r\n" and the stuffed dots.
            body = raw[:-3].replace(b"\r\n..", b"\r\n.")
            if body.startswith(b".."):
                body = body[1:]
            if len(body) != sizes[0]:
                raise T.ProtocolError("RETR 1: %d octets, LIST said %d" % (len(body), sizes[0]))
        expect(c.command("QUIT"), r"\+OK", "QUIT")
    finally:
        c.close()


def smtp_session(srv, source, sender, rcpt, token):
    s = H.Smtp(srv, "smtp", source, timeout=30 * SCALE)
    try:
        expect(s.greeting[-1], r"220 ", "greeting")
        expect(s.hello(True)[-1], r"250 ", "EHLO")
        expect(s.cmd("MAIL FROM:<%s>" % sender), r"250 ", "MAIL")
        expect(s.cmd("RCPT TO:<%s>" % rcpt), r"250 ", "RCPT")
        body = (b"From: <%s>\r\nTo: <%s>\r\nSubject: load %s\r\n\r\n"
                % (sender.encode(), rcpt.encode(), token.encode()))
        body += b"line of the body\r\n" * 20 + b"..a stuffed dot\r\n"
        go, final = s.data(body)
        expect(go, r"354 ", "DATA")
        expect(final, QUEUED.pattern, "end of DATA")
        expect(s.cmd("QUIT"), r"221 ", "QUIT")
    finally:
        s.close()


def worker(i, srv, users, end, res):
    kind = KINDS[i % len(KINDS)]
    n = 0
    while time.time() < end:
        n += 1
        token = "w%d.%d" % (i, n)
        t0 = time.monotonic()
        if kind == "relay" and res.max_relay is not None:
            with res.lock:
                if len(res.relay) >= res.max_relay:
                    kind = "local"      # the same load, nothing more to drain
        try:
            if kind == "pop3":
                pop3_session(srv, users[i // len(KINDS) % len(users)])
            elif kind == "local":
                rcpt = users[(i + n) % len(users)]
                smtp_session(srv, T.OUTSIDER, "sender%d@remote.example" % i, rcpt, token)
                with res.lock:
                    res.local[token] = rcpt
            else:
                smtp_session(srv, T.TRUSTED, "webmail@example.test",
                             "r%d@remote.example" % i, token)
                with res.lock:
                    res.relay.add(token)
        except (T.ProtocolError, OSError) as e:
            res.error(kind, "%s: %s" % (type(e).__name__, e))
            time.sleep(0.2)         # a failing server is not hammered
            continue
        with res.lock:
            res.latency[kind].append(time.monotonic() - t0)


def make_users(srv, count):
    """count users with one password: one made by ispmailctl, the others its
    line copied (crypt is slow; the format is in docs/PROTOCOL.md, files)."""
    users = ["load%d@example.test" % i for i in range(count)]
    srv.add_user(users[0], PASSWORD)
    with open(srv.users_file) as f:
        line = [l for l in f.read().splitlines() if l.startswith(users[0] + ":")][0]
    rest = line.split(":", 1)[1]
    with open(srv.users_file, "a") as f:
        for u in users[1:]:
            f.write("%s:%s\n" % (u, rest))
    for u in users:
        X.fill_maildir(srv, u, SEED, lambda k, u=u: b"Subject: seed %d for %s\n\n%s\n"
                       % (k, u.encode(), b"x" * (100 * k)))
    return users


def local_checks(t, srv, res):
    """Each local message that got 250 is in its recipient's Maildir, once."""
    in_maildirs, where = {}, {}
    for path, data in X.all_maildir_files(srv):
        mt = SUBJECT.search(b"\n" + data)
        if mt:
            tok = mt.group(1).decode()
            in_maildirs[tok] = in_maildirs.get(tok, 0) + 1
            where[tok] = path
    bad = {k: in_maildirs.get(k, 0) for k in res.local if in_maildirs.get(k, 0) != 1}
    wrong = [k for k in res.local if k in where and srv.maildir(res.local[k]) not in where[k]]
    extra = sorted(set(in_maildirs) - set(res.local))
    t.ok(not bad and not wrong and not extra,
         "every local message in its recipient's Maildir exactly once (%d)" % len(res.local),
         "count != 1: %r\nwrong Maildir: %r\nnot accepted yet delivered: %r"
         % (dict(list(bad.items())[:20]), wrong[:20], extra[:20]))
    seeds = sum(1 for _, d in X.all_maildir_files(srv) if d.startswith(b"Subject: seed "))
    t.eq(seeds, SEED * res.users, "the seeded messages are all still there (no DELE)")


def queued_tokens(srv):
    out = set()
    for name in H.queue_files(srv)["new"]:
        try:
            mt = SUBJECT.search(b"\n" + H.queue_data(srv, name))
        except FileNotFoundError:
            continue            # delivered meanwhile
        out.add(mt.group(1).decode() if mt else "?")
    return out


def relay_checks(t, srv, sink, res):
    """Each relayed message that got 250 reached the sink once, or is
    still queued. The queue is read before the sink: a message leaves the
    queue only after the sink has it, so one in neither is lost."""
    queued = queued_tokens(srv)
    at_sink = {}
    for m in list(sink.messages):
        if m.delivered():
            mt = SUBJECT.search(m.data)
            tok = mt.group(1).decode() if mt else "?"
            at_sink[tok] = at_sink.get(tok, 0) + 1
    lost = sorted(res.relay - queued - set(at_sink))
    twice = {k: n for k, n in at_sink.items() if n > 1}
    extra = sorted((set(at_sink) | queued) - res.relay)
    t.ok(not lost and not twice and not extra,
         "every relayed message exactly once: %d at the sink, %d still queued, of %d"
         % (len(at_sink), len(queued - set(at_sink)), len(res.relay)),
         "lost: %r\nmore than once at the sink: %r\nnot accepted yet there: %r"
         % (lost[:20], dict(list(twice.items())[:20]), extra[:20]))


def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))]


def settle(srv, timeout):
    """Wait until no session is left (all children reaped)."""
    def idle():
        c = X.status_counters(srv)
        return all(v == 0 for (k, _), v in c.items() if k == "sessions")
    return H.wait_for(idle, timeout, 0.1)


# Seconds the queue may go without a delivery before the check calls it
# stuck: a sanitizer build on two cores at a load of 17 went up to 15 s
# between two deliveries; a stuck queue never moves again.
STALL_S = 60


def drain(srv, limit, stall):
    """Wait until the queue is empty: (True, "") then, else (False, why):
    it stopped shrinking for stall seconds, or limit seconds passed."""
    start = moved = time.time()
    last = None
    while True:
        n = len(H.queue_files(srv)["env"])
        now = time.time()
        if n == 0:
            return True, ""
        if last is None or n < last:
            last, moved = n, now
        if now - moved > stall:
            return False, "no message out for %.0fs" % (now - moved)
        if now - start > limit:
            return False, "still moving, but not empty after %.0fs" % (now - start)
        time.sleep(0.2)


def own_fds(srv):
    """The master's descriptors less one per idle session process (its end
    of the handoff socketpair): what a leak would grow. The queue runner is
    the one child without one."""
    workers = len(srv.children()) - 1
    return X.fd_count(srv.proc.pid) - max(workers, 0)


def run(clients, seconds, keep=False, drain_max=None, t=None, max_relay=None):
    """The whole load test; returns the exit status. drain_max: seconds
    the queue may take to drain at most (default: what MIN_OUTBOUND_RATE
    allows, at least 10). t: a Tap to add to. max_relay: after that many
    relayed messages in all the relay clients deliver locally instead (the
    queue's drain afterwards takes as long as the outbound rate says, not
    as long as the intake allowed)."""
    t = t or T.Tap()
    sink = Sink()
    srv = T.Server(services=("pop3", "smtp"), config={
        "limits.max_connections": clients * 3 + 50,
        "limits.max_per_ip": clients * 3 + 50,
        "limits.command_timeout": 60, "limits.data_timeout": 60,
        "relay.smarthost": sink.smarthost(),
        "dns.nameserver": "127.0.0.1:9",
        "queue.retry_min": 1, "queue.retry_max": 2, "queue.max_age": 600})
    res = Results()
    res.max_relay = max_relay
    try:
        users = make_users(srv, max(1, (clients + len(KINDS) - 1) // len(KINDS)))
        res.users = len(users)
        srv.start()
        master = srv.proc.pid
        time.sleep(0.3)             # the queue runner has started
        fd0, mem0 = own_fds(srv), X.proc_status(master).get("VmRSS")
        t.diag("load: %d clients for %ds, %d mailboxes of %d messages; master pid %d: "
               "%d fds, VmRSS %d kB" % (clients, seconds, len(users), SEED, master, fd0, mem0))
        start = time.time()
        end = start + seconds
        threads = [threading.Thread(target=worker, args=(i, srv, users, end, res), daemon=True)
                   for i in range(clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(max(1.0, end + 70 * SCALE - time.time()))
        elapsed = time.time() - start
        stuck = sum(th.is_alive() for th in threads)
        t.eq(stuck, 0, "every client stopped in time")
        sessions = sum(len(v) for v in res.latency.values())
        messages = len(res.local) + len(res.relay)
        t.diag("load: %d sessions in %.1fs: %.1f sessions/s, %d messages accepted: %.1f "
               "messages/s" % (sessions, elapsed, sessions / elapsed, messages,
                               messages / elapsed))
        for k in KINDS:
            lat = res.latency[k]
            t.diag("load: %-5s %6d sessions, latency p50 %.3fs p99 %.3fs max %.3fs"
                   % (k, len(lat), pct(lat, 50), pct(lat, 99), max(lat) if lat else 0))
        t.ok(not res.errors, "zero unexpected replies (%d sessions)" % sessions,
             "%d unexpected:\n" % len(res.errors) +
             "\n".join("%s: %s" % e for e in res.errors[:20]))
        t.ok(all(res.latency[k] for k in KINDS), "every kind of session ran",
             repr({k: len(v) for k, v in res.latency.items()}))

        local_checks(t, srv, res)
        t.ok(settle(srv, 15 * SCALE), "every session ended and was reaped")
        fd1, mem1 = own_fds(srv), X.proc_status(master).get("VmRSS")
        t.diag("load: master after: %d fds (before %d), VmRSS %d kB (before %d kB)"
               % (fd1, fd0, mem1, mem0))
        t.eq(fd1, fd0, "the master's descriptors: as many after as before")
        why = X.instrumented(srv)
        if why:
            t.skip("the master's RSS is flat", why)
        else:
            t.ok(mem1 - mem0 <= max(256, mem0 // 10),
                 "the master's RSS is flat (grew %d kB; tolerance max(256 kB, 10%%))"
                 % (mem1 - mem0), "before %d kB, after %d kB" % (mem0, mem1))

        stopped = time.time()
        left0 = len(H.queue_files(srv)["env"])
        # In make check (drain_max given) this is about nothing being lost,
        # not speed: the queue must keep moving (a message out every
        # STALL_S at least) until it is empty. A total time would be a
        # constant tuned on a quiet machine: on two loaded cores a
        # sanitizer build's workers (a fork, a leak check at each exit)
        # sent 0.5 messages/s, a thirtieth of the plain build's rate, with
        # gaps up to 15 s. drain_max is only a guard against a queue that
        # trickles for ever. The benchmark run checks the rate.
        if drain_max is not None:
            limit, stall = drain_max, STALL_S
        else:
            limit = max(10.0, len(res.relay) / MIN_OUTBOUND_RATE)
            stall = limit
        drained, why = drain(srv, limit * SCALE, stall * SCALE)
        took = time.time() - stopped
        left = len(H.queue_files(srv)["env"])
        t.diag("load: queue: %d relayed, %d queued when the clients stopped, %d left %.1fs "
               "later (%.1f messages/s outbound meanwhile)"
               % (len(res.relay), left0, left, took, (left0 - left) / max(took, 0.1)))
        X.check(t, drained, "the queue drains (a message out every %.0fs at least, "
                "until empty)" % (stall * SCALE), KNOWN_BUGS.get("queue-drain"),
                "%d messages still queued: %s" % (left, why))
        time.sleep(1.0)             # a duplicate would come now
        relay_checks(t, srv, sink, res)
        t.ok(srv.running(), "the daemon is running")
    except T.SkipTest as e:
        srv.cleanup()
        sink.close()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "the load test ran to the end", "%s: %s" % (type(e).__name__, e))
    if sink.errors:
        t.ok(False, "the sink handled every connection", "\n".join(sink.errors[:20]))
    if keep:
        os.environ["KEEP_TMP"] = "1"
    code = srv.finish(t)
    sink.close()
    return code


def main(argv=None):
    p = argparse.ArgumentParser(description="ispmaild load test (loopback only)")
    p.add_argument("--clients", type=int, default=200, help="concurrent clients (200)")
    p.add_argument("--seconds", type=float, default=60, help="how long they run (60)")
    p.add_argument("--builddir", help="where ispmaild and ispmailctl are "
                   "(default: $top_builddir, else the source tree)")
    p.add_argument("--drain-max", type=float, help="seconds the queue may take to drain "
                   "after the clients stop (default: at %d messages/s, at least 10)"
                   % MIN_OUTBOUND_RATE)
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = p.parse_args(argv)
    if a.builddir:
        os.environ["top_builddir"] = os.path.abspath(a.builddir)
    if a.clients < len(KINDS) or a.seconds <= 0:
        p.error("at least %d clients and a positive time" % len(KINDS))
    return run(a.clients, a.seconds, a.keep, a.drain_max)


if __name__ == "__main__":
    sys.exit(main())
