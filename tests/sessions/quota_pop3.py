#!/usr/bin/env python3
"""quota_pop3.py: POP3 and the Maildir++ quota (SPEC 12). For a user with
quota= in the users file, the messages QUIT removes are taken off
maildirsize in one negative line, after the unlink; DELE then RSET, or DELE
and a dropped connection, change nothing; a DELE then QUIT frees room in a
full mailbox; a user without a quota never gets a maildirsize."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

QUOTA = "alice@example.test"
PLAIN = "bob@example.test"


def message(n):
    return b"From: x@example.org\nSubject: m\n\n" + b"x" * (n - 33) + b"\n"


def set_option(srv, address, option):
    """Append an option to the user's line, as ispmailctl user quota will."""
    with open(srv.users_file) as f:
        lines = f.read().splitlines()
    lines = [l + ":" + option if l.startswith(address + ":") else l for l in lines]
    with open(srv.users_file, "w") as f:
        f.write("\n".join(lines) + "\n")


def usage(srv, address):
    """(limits line, bytes, count) of maildirsize, or None when absent."""
    path = os.path.join(srv.maildir(address), "maildirsize")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        lines = f.read().splitlines()
    b = sum(int(l.split()[0]) for l in lines[1:])
    c = sum(int(l.split()[1]) for l in lines[1:])
    return lines[0], b, c


def login(srv, address):
    c = srv.connect("pop3")
    c.expect(r"\+OK")
    c.command("USER " + address, r"\+OK")
    c.command("PASS pw", r"\+OK")
    return c


def main():
    t = T.Tap()
    srv = T.Server()
    try:
        for u in (QUOTA, PLAIN):
            srv.add_user(u, "pw")
        set_option(srv, QUOTA, "quota=1000")
        for n in (400, 300, 300):
            srv.deliver(QUOTA, message(n))
            srv.deliver(PLAIN, message(n))
        ms = os.path.join(srv.maildir(QUOTA), "maildirsize")
        with open(ms, "w") as f:
            f.write("1000S\n1000 3\n")      # as our delivery leaves it: full
        srv._chown(ms)
        srv.start()

        c = login(srv, QUOTA)
        c.command("DELE 1", r"\+OK")
        c.command("RSET", r"\+OK")
        c.command("QUIT", r"\+OK")
        c.close()
        t.eq(usage(srv, QUOTA), ("1000S", 1000, 3), "DELE then RSET then QUIT: nothing freed")

        c = login(srv, QUOTA)
        c.command("DELE 1", r"\+OK")
        c.close()                           # dropped without QUIT
        for _ in range(100):
            if "reason=no-quit" in srv.log():
                break
            time.sleep(0.05)
        t.eq(usage(srv, QUOTA), ("1000S", 1000, 3), "DELE without QUIT: nothing freed")

        c = login(srv, QUOTA)
        c.command("DELE 1", r"\+OK")
        c.command("DELE 3", r"\+OK")
        c.command("QUIT", r"\+OK")
        c.close()
        with open(ms) as f:
            text = f.read()
        t.eq(text, "1000S\n1000 3\n-700 -2\n", "DELE, DELE, QUIT: one negative line")
        t.eq(usage(srv, QUOTA), ("1000S", 300, 1), "room freed: 300 of 1000 bytes used")
        t.eq(len(srv.files(QUOTA)["new"]) + len(srv.files(QUOTA)["cur"]), 1,
             "one message left")

        c = login(srv, PLAIN)
        c.command("DELE 1", r"\+OK")
        c.command("QUIT", r"\+OK")
        c.close()
        t.eq(usage(srv, PLAIN), None, "no quota: no maildirsize written")

        # maildirsize missing at QUIT: counted from what is left
        os.unlink(ms)
        c = login(srv, QUOTA)
        c.command("DELE 1", r"\+OK")
        c.command("QUIT", r"\+OK")
        c.close()
        t.eq(usage(srv, QUOTA), ("1000S", 0, 0), "missing maildirsize: counted again")
    except (T.ProtocolError, OSError, T.HarnessError) as e:
        t.ok(False, "session", repr(e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
