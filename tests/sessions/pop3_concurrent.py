#!/usr/bin/env python3
"""pop3_concurrent.py: many POP3 sessions at once (docs/PROTOCOL.md): eight
users fetch and delete in parallel from two addresses, every byte exact,
nothing lost, the relay DB written by concurrent logins stays readable and
right; and of six simultaneous logins to one mailbox exactly one wins, the
others get "-ERR [IN-USE]". Bounded: 8 x 4 sessions, then 6."""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

USERS = ["u%d@example.test" % i for i in range(8)]
ROUNDS = 4


def message(user, n):
    return (b"From: x@example.org\nSubject: %s %d\n\n" % (user.encode(), n)
            + b"".join(b".line %d of %s\n" % (i, user.encode()) for i in range(n * 50)))


def worker(srv, user, source, results):
    """ROUNDS sessions: list, retrieve all, delete the first, quit."""
    errors = []
    try:
        for r in range(ROUNDS):
            c = srv.connect("pop3", source)
            c.expect(r"\+OK")
            c.command("USER " + user, r"\+OK")
            for attempt in range(50):      # our own previous QUIT may race
                reply = c.command("PASS pw-" + user)
                if reply.startswith("+OK"):
                    break
                if "[IN-USE]" not in reply:
                    raise T.ProtocolError("PASS: %r" % reply)
                c.command("USER " + user, r"\+OK")
            c.sendline("LIST")
            c.expect(r"\+OK")
            sizes = [int(l.split()[1]) for l in c.read_multiline()]
            for i, size in enumerate(sizes):
                c.sendline("RETR %d" % (i + 1))
                c.expect(r"\+OK")
                data = c.read_multiline_raw()
                body = b"\r\n".join(l[1:] if l.startswith(b".") else l
                                    for l in data[:-3].split(b"\r\n"))
                if len(body) != size:
                    errors.append("round %d msg %d: %d octets, LIST said %d"
                                  % (r, i + 1, len(body), size))
                n = int(body.split(b"\r\n")[1].split()[-1])
                if data != T.pop3_wire(message(user, n)):
                    errors.append("round %d msg %d: bytes differ" % (r, i + 1))
            c.command("DELE 1", r"\+OK")
            c.command("QUIT", r"\+OK")
            c.close()
    except (T.ProtocolError, OSError, ValueError, IndexError) as e:
        errors.append("%s: %s" % (type(e).__name__, e))
    results[user] = errors


def main():
    t = T.Tap()
    srv = T.Server(config={"limits.max_per_ip": 20})
    try:
        for u in USERS:
            srv.add_user(u, "pw-" + u)
            for n in range(1, 6):
                srv.deliver(u, message(u, n))
        srv.start()
        results = {}
        threads = [threading.Thread(target=worker, args=(
            srv, u, T.CUSTOMER if i % 2 == 0 else T.TRUSTED, results))
            for i, u in enumerate(USERS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        for u in USERS:
            t.eq(results.get(u), [], "%s: %d sessions, every byte exact" % (u, ROUNDS))
            left = srv.files(u)
            t.eq(len(left["new"]) + len(left["cur"]), 5 - ROUNDS,
                 "%s: exactly %d message(s) deleted" % (u, ROUNDS))
        rows = srv.relay_rows()
        t.ok(rows.get(T.CUSTOMER, " ").split()[-1] in USERS[0::2],
             "relay.db row for 127.0.0.1 names one of its users", repr(rows))
        t.ok(rows.get(T.TRUSTED, " ").split()[-1] in USERS[1::2],
             "relay.db row for 127.0.0.3 names one of its users", repr(rows))
        t.eq(sorted(rows), [T.CUSTOMER, T.TRUSTED], "no other rows")

        # Six logins to one mailbox at the same moment: one wins.
        clients = []
        for i in range(6):
            c = srv.connect("pop3")
            c.expect(r"\+OK")
            c.command("USER " + USERS[0], r"\+OK")
            clients.append(c)
        for c in clients:
            c.send(b"PASS pw-" + USERS[0].encode() + b"\r\n")
        replies = [c.readline() for c in clients]
        t.eq(sum(1 for r in replies if r.startswith("+OK")), 1,
             "one of six simultaneous logins wins")
        t.ok(all(r.startswith("+OK") or r.startswith("-ERR [IN-USE]") for r in replies),
             "the others get -ERR [IN-USE]", repr(replies))
        for c in clients:
            c.command("QUIT")
            c.close()
        t.ok(srv.running(), "daemon still running")
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
