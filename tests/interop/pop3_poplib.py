#!/usr/bin/env python3
"""pop3_poplib.py: Python's poplib, a strict RFC 1939 client, against
ispmaild: CAPA, USER/PASS, STAT, LIST, UIDL, RETR and TOP of three messages
(one with lines starting with ".", one with 8-bit bytes and 120 KB), DELE,
QUIT. The bytes must equal the Maildir files with CRLF line ends, and the
login must leave a relay.db row (docs/PROTOCOL.md)."""

import os
import poplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

USER, PASSWORD = "demo@example.test", "s3cret pass"

MESSAGES = [
    b"From: alice@example.org\nTo: demo@example.test\nSubject: plain\n\nHello.\n",
    b"From: bob@example.org\nSubject: dots\n\n.\n..\n.leading\n...\nend\n",
    b"From: carol@example.org\nSubject: 8bit caf\xc3\xa9\nContent-Type: text/plain; "
    b"charset=latin1\nContent-Transfer-Encoding: 8bit\n\n"
    + b"".join(b"line %05d na\xefve \xff\xfe\x80 .%d\n" % (i, i) for i in range(4000)),
]


def main():
    t = T.Tap()
    srv = T.Server(services=("pop3",))
    try:
        srv.add_user(USER, PASSWORD)
        paths = [srv.deliver(USER, m) for m in MESSAGES]
        srv.start()
        wire = [T.crlf(m) for m in MESSAGES]

        p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=T.READ_TIMEOUT)
        t.ok(p.getwelcome().startswith(b"+OK"), "greeting", p.getwelcome())
        caps = p.capa()
        for c in ("TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING"):
            t.ok(c in caps, "CAPA lists " + c, repr(caps))
        t.ok(p.user(USER).startswith(b"+OK"), "USER")
        t.ok(p.pass_(PASSWORD).startswith(b"+OK"), "PASS")
        rows = srv.relay_rows()
        t.ok(rows.get(T.CUSTOMER, "").endswith(" " + USER),
             "relay.db row for 127.0.0.1 after login", repr(rows))

        t.eq(p.stat(), (3, sum(len(w) for w in wire)), "STAT: count and CRLF octets")
        resp, listing, _ = p.list()
        t.eq(listing, [b"%d %d" % (i + 1, len(w)) for i, w in enumerate(wire)],
             "LIST sizes are the CRLF sizes")
        t.eq(p.list(2), b"+OK 2 %d" % len(wire[1]), "LIST 2")
        resp, uids, _ = p.uidl()
        t.ok(len(uids) == 3 and len(set(u.split()[1] for u in uids)) == 3,
             "UIDL: three distinct ids", repr(uids))
        for i, w in enumerate(wire):
            resp, lines, octets = p.retr(i + 1)
            got = b"".join(l + b"\r\n" for l in lines)
            t.ok(got == w, "RETR %d: bytes equal the file with CRLF" % (i + 1),
                 "first difference at %d" % next(
                     (k for k in range(min(len(got), len(w))) if got[k] != w[k]),
                     min(len(got), len(w))))
            t.eq(octets, len(w), "RETR %d: octets as listed" % (i + 1))
        resp, lines, _ = p.top(2, 2)
        t.eq(b"".join(l + b"\r\n" for l in lines),
             b"From: bob@example.org\r\nSubject: dots\r\n\r\n.\r\n..\r\n", "TOP 2 2")
        t.ok(p.dele(1).startswith(b"+OK"), "DELE 1")
        t.ok(p.dele(3).startswith(b"+OK"), "DELE 3")
        t.ok(p.quit().startswith(b"+OK"), "QUIT")
        t.eq([os.path.exists(x) or os.path.exists(x.replace("/new/", "/cur/"))
              for x in paths], [False, True, False],
             "messages 1 and 3 gone, 2 kept")
        left = srv.files(USER)
        t.eq(len(left["new"]) + len(left["cur"]), 1, "one file left in the Maildir")

        # A new session sees message 2 as number 1, with its old unique id.
        p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=T.READ_TIMEOUT)
        p.user(USER)
        p.pass_(PASSWORD)
        t.eq(p.uidl(1).split()[2], uids[1].split()[1], "UIDL is stable across sessions")
        t.eq(b"".join(l + b"\r\n" for l in p.retr(1)[1]), wire[1], "RETR after deletes")
        p.quit()

        try:
            p = poplib.POP3("127.0.0.1", srv.ports["pop3"], timeout=T.READ_TIMEOUT)
            p.user(USER)
            p.pass_("wrong")
            t.ok(False, "wrong password refused")
        except poplib.error_proto as e:
            t.ok(str(e).startswith("b'-ERR [AUTH]"), "wrong password: -ERR [AUTH]", str(e))
        p.close()
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, OSError, poplib.error_proto) as e:
        t.ok(False, "session ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
