#!/usr/bin/env python3
"""smtp_relay_tricks.py: every old trick that smuggles a remote recipient past
a local domain (docs/PROTOCOL.md, relay policy: '%' hack, bang path, quoted
'@', source route, double '@', address literals, subdomains...) ends, from
outside (127.0.0.2), as a 550 "relaying prohibited" or a 501 syntax error, and
nothing enters the queue, even when the same transaction carries a good local
recipient. From a customer without POP the same paths get the 553. The local
spellings (any case, one trailing dot, a route in front, a quoted plain local
part) reach the real user. From a trusted network the tricks are what they are,
remote addresses: queued as written (route dropped)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

USER, PASSWORD = "a@example.test", "secret"
BAD_SYNTAX = "501 5.1.3 Bad recipient address syntax"


def relay(mailbox):
    return H.denied(mailbox, True)


# (what the client writes inside RCPT TO:<...>, the reply after EHLO)
TRICKS = [
    ("a%remote.example@example.test", relay("a%remote.example@example.test")),
    ("a%remote.example%example.test@example.test",
     relay("a%remote.example%example.test@example.test")),
    ("A%REMOTE.EXAMPLE@EXAMPLE.TEST", relay("A%REMOTE.EXAMPLE@EXAMPLE.TEST")),
    ("remote.example!a@example.test", relay("remote.example!a@example.test")),
    ("remote.example!a%example.test@example.test",
     relay("remote.example!a%example.test@example.test")),
    ('"a@remote.example"@example.test', relay('"a@remote.example"@example.test')),
    ('"a%remote.example"@example.test', relay('"a%remote.example"@example.test')),
    ('"remote.example!a"@example.test', relay('"remote.example!a"@example.test')),
    ('"a\\@remote.example"@example.test', relay('"a\\@remote.example"@example.test')),
    ("@example.test:a@remote.example", relay("a@remote.example")),
    ("@example.test,@example.org:a@remote.example", relay("a@remote.example")),
    ("a@remote.example@example.test", BAD_SYNTAX),
    ("a@example.test@remote.example", BAD_SYNTAX),
    ("a\\@remote.example@example.test", BAD_SYNTAX),
    ("a@[127.0.0.1]", relay("a@[127.0.0.1]")),
    ("a@[IPv6:::1]", relay("a@[IPv6:::1]")),
    ("a@127.0.0.1", relay("a@127.0.0.1")),
    ("a@sub.example.test", relay("a@sub.example.test")),
    ("a@example.test.remote.example", relay("a@example.test.remote.example")),
    ("a@remote.example.", relay("a@remote.example.")),
    ("a@mail.example.test", relay("a@mail.example.test")),
    ("a@localhost", relay("a@localhost")),
    ("a@example.test..", BAD_SYNTAX),
    ("a@example.test%remote.example", BAD_SYNTAX),
    ("a@.example.test", BAD_SYNTAX),
    ("a%remote.example", BAD_SYNTAX),
    ("remote.example!a", BAD_SYNTAX),
    ("a@exa mple.test", BAD_SYNTAX),
    ("<a@remote.example>", BAD_SYNTAX),
    ("@example.test:", BAD_SYNTAX),
]

# Local spellings: accepted for the real user a@example.test.
LOCAL = ["a@EXAMPLE.TEST.", "A@Example.Test", '"a"@example.test',
         "@remote.example:a@example.test", "a@example.test."]


def outside(t, srv):
    # One session per trick: a run of syntax errors would end a session
    # (limits.error_limit), which is not what is tested here.
    for path, want in TRICKS:
        s = H.Smtp(srv, "smtp", T.OUTSIDER)
        s.hello(True)
        s.cmd("MAIL FROM:<x@remote.example>")
        t.eq(s.cmd("RCPT TO:<%s>" % path), want, "outside: RCPT TO:<%s>" % path)
        t.eq(s.cmd("DATA"), "554 5.5.1 Error: no valid recipients",
             "outside: <%s>: DATA finds no recipient" % path)
        s.quit()
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    s.cmd("MAIL FROM:<x@remote.example>")
    t.eq(s.cmd("RCPT TO:a@remote.example"), BAD_SYNTAX, "outside: RCPT TO: without <>")
    s.quit()
    t.ok(H.queue_empty(srv), "outside: queue empty after the tricks", repr(H.queue_files(srv)))

    # A good local recipient among the tricks: only it gets the message.
    had = set(srv.files(USER)["new"])
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    s.cmd("MAIL FROM:<x@remote.example>")
    relayed = [p for p, w in TRICKS if w != BAD_SYNTAX]
    for path in relayed[:len(relayed) // 2]:
        s.cmd("RCPT TO:<%s>" % path)
    t.eq(s.cmd("RCPT TO:<a@EXAMPLE.TEST.>"), "250 2.1.5 Ok", "outside: RCPT a@EXAMPLE.TEST.")
    for path in relayed[len(relayed) // 2:]:
        s.cmd("RCPT TO:<%s>" % path)
    go, final = s.data(b"Subject: tricks\r\n\r\nbody\r\n")
    t.ok(final and final.startswith("250 2.0.0 Ok: queued as "), "outside: 250 for the local part",
         repr((go, final)))
    s.quit()
    t.ok(H.queue_empty(srv), "outside: the queue stays empty", repr(H.queue_files(srv)))
    new = set(srv.files(USER)["new"]) - had
    t.eq(len(new), 1, "outside: the local user got it once")
    if new:
        data = dict(H.maildir_messages(srv, USER))[new.pop()]
        t.ok(b"\n\tfor <a@EXAMPLE.TEST.>;" in data, "Received: for <rcpt as written>",
             repr(data[:300]))


def local_spellings(t, srv):
    had = set(srv.files(USER)["new"])
    for path in LOCAL:
        s = H.Smtp(srv, "smtp", T.OUTSIDER)
        s.hello(True)
        s.cmd("MAIL FROM:<x@remote.example>")
        r = s.cmd("RCPT TO:<%s>" % path)
        t.eq(r, "250 2.1.5 Ok", "outside: local spelling <%s> accepted" % path)
        if r.startswith("250"):
            go, final = s.data(b"Subject: spelling\r\n\r\n" + path.encode() + b"\r\n")
            t.ok(final and final.startswith("250 "), "outside: <%s> delivered" % path,
                 repr(final))
        s.quit()
    new = set(srv.files(USER)["new"]) - had
    t.eq(len(new), len(LOCAL), "every local spelling landed in a@example.test's Maildir")
    t.ok(H.queue_empty(srv), "local spellings: queue empty", repr(H.queue_files(srv)))
    # The unknown user is an unknown user in any spelling.
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    s.cmd("MAIL FROM:<x@remote.example>")
    t.eq(s.cmd("RCPT TO:<nobody@example.test>"), H.user_unknown("nobody@example.test"),
         "unknown local user: 550 5.1.1")
    t.eq(s.cmd("RCPT TO:<NoBody@EXAMPLE.test.>"), H.user_unknown("NoBody@EXAMPLE.test."),
         "unknown local user, odd spelling: 550 5.1.1 quoting it as written")
    t.eq(s.cmd('RCPT TO:<"no body"@example.test>'), H.user_unknown('"no body"@example.test'),
         "a local part that cannot be a mailbox: 550 5.1.1")
    s.quit()


def customer(t, srv):
    s = H.Smtp(srv, "smtp", T.CUSTOMER)
    s.hello(False)
    s.cmd("MAIL FROM:<a@example.test>")
    for path, want in TRICKS:
        if want == BAD_SYNTAX:
            continue
        t.eq(s.cmd("RCPT TO:<%s>" % path), H.FIRST_POP_HELO,
             "customer without POP, HELO: <%s> gets the 553" % path)
    t.eq(s.cmd("RCPT TO:<a@remote.example@example.test>"),
         "501 Bad recipient address syntax", "customer, HELO: syntax error without enhanced code")
    s.quit()
    t.ok(H.queue_empty(srv), "customer: queue empty", repr(H.queue_files(srv)))


def trusted(t, srv):
    s = H.Smtp(srv, "smtp", T.TRUSTED)
    s.hello(True)
    s.cmd("MAIL FROM:<webmail@example.test>")
    want = []
    for path in ("a%remote.example@example.test", '"a@remote.example"@example.test',
                 "@example.test:b@remote.example", "c@[127.0.0.1]"):
        t.eq(s.cmd("RCPT TO:<%s>" % path), "250 2.1.5 Ok", "trusted: <%s> relayed" % path)
        want.append(path.split(":", 1)[1] if path.startswith("@") else path)
    go, final = s.data(b"Subject: trusted\r\n\r\nx\r\n")
    t.ok(final and final.startswith("250 2.0.0 Ok: queued as "), "trusted: queued", repr(final))
    s.quit()
    q = H.queue_files(srv)
    t.eq(len(q["env"]), 1, "trusted: one envelope")
    if q["env"]:
        env = H.envelope(srv, q["env"][0])
        t.eq([r[3] for r in env["rcpt"]], want,
             "trusted: the envelope keeps the addresses as written, routes dropped")


def main():
    t = T.Tap()
    tarpit = H.Tarpit()
    # Every refused relay recipient is a client error (limits.error_limit,
    # 10 by default, see relay_flood.py); here a session tries ~20 of them.
    srv = T.Server(services=("smtp",), config={"relay.smarthost": tarpit.smarthost(),
                                               "limits.error_limit": 100})
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        outside(t, srv)
        local_spellings(t, srv)
        customer(t, srv)
        trusted(t, srv)
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "session ran to the end", "%s: %s" % (type(e).__name__, e))
    code = srv.finish(t)
    tarpit.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
