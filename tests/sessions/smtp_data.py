#!/usr/bin/env python3
"""smtp_data.py: the DATA phase against the real daemon (RFC 5321 4.1.1.4,
4.5.2, docs/PROTOCOL.md): only <CRLF>.<CRLF> ends a message; a bare LF or CR
gets "550 5.5.2" after the terminator and nothing is delivered; the SMTP
smuggling payloads never produce a second message (the commands hidden in
the body are never run); message_size gives 552 (at MAIL for SIZE=, after
the terminator otherwise); max_recipients gives 452 on the one too many;
8-bit bytes are kept byte for byte; dots are unstuffed; a 1001-octet line
and a NUL are refused; after each refusal the session goes on."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

USER = "demo@example.test"
OTHERS = ["two@example.test", "three@example.test"]
LIMIT = 4096
BARE = "550 5.5.2 Error: bare <LF> or <CR> received, message refused"
TOO_BIG = "552 5.3.4 Error: message size exceeds fixed limit"
GO = "354 End data with <CR><LF>.<CR><LF>"
QUEUED = r"250 2\.0\.0 Ok: queued as \S+$"

SMUGGLED = (b"MAIL FROM:<evil@remote.example>\r\nRCPT TO:<demo@example.test>\r\n"
            b"DATA\r\nSubject: smuggled\r\n\r\nevil\r\n")
PAYLOADS = [
    ("LF.CRLF", b"\n.\r\n"),
    ("CR.CRLF", b"\r.\r\n"),
    ("LF.LF", b"\n.\n"),
    ("CRLF.LF", b"\r\n.\n"),
    ("CRLF.CR", b"\r\n.\r"),
    ("LF.CR", b"\n.\r"),
    ("CR.CR", b"\r.\r"),
    ("CR.LF", b"\r.\n"),
    ("CRLF.CRCRLF", b"\r\n.\r\r\n"),
]


def session(srv, source=T.OUTSIDER):
    s = H.Smtp(srv, "smtp", source)
    s.hello(True)
    return s


def begin(s, rcpts=(USER,)):
    s.cmd("MAIL FROM:<sender@remote.example>")
    for r in rcpts:
        s.cmd("RCPT TO:<%s>" % r)
    return s.cmd("DATA")


def count(srv, who=USER):
    return len(srv.files(who)["new"])


def newest(srv, had, who=USER):
    return [d for n, d in H.maildir_messages(srv, who) if n not in had]


def body_of(data):
    return H.split_trace(data)[2]


def refused_and_goes_on(t, srv, s, what):
    """After a refused message: no transaction is left, a new one works."""
    t.eq(s.cmd("RCPT TO:<%s>" % USER), "503 5.5.1 Error: need MAIL command",
         what + ": the transaction was reset")
    n = count(srv)
    t.eq(begin(s), GO, what + ": a new transaction starts")
    s.send(b"Subject: after\r\n\r\nfine\r\n.\r\n")
    t.ok(re.match(QUEUED, s.last()), what + ": and is delivered")
    t.eq(count(srv), n + 1, what + ": one message for the new transaction")


def bare_line_ends(t, srv):
    for name, body in (("bare LF", b"Subject: x\r\n\r\nline one\nline two\r\n"),
                       ("bare CR", b"Subject: x\r\n\r\nline one\rline two\r\n"),
                       ("bare LF in a header", b"Subject: x\nX-Y: z\r\n\r\nbody\r\n"),
                       ("CR CR LF", b"Subject: x\r\n\r\nbody\r\r\n")):
        s = session(srv)
        n = count(srv)
        t.eq(begin(s), GO, name + ": 354")
        s.send(body + b".\r\n")
        t.eq(s.last(), BARE, name + ": 550 5.5.2 after the terminator")
        t.eq(count(srv), n, name + ": nothing delivered")
        refused_and_goes_on(t, srv, s, name)
        s.quit()
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(False)
    begin(s)
    s.send(b"a\nb\r\n.\r\n")
    t.eq(s.last(), "550 Error: bare <LF> or <CR> received, message refused",
         "bare LF after HELO: 550 without the enhanced code")
    s.quit()


def smuggling(t, srv):
    for name, p in PAYLOADS:
        s = session(srv)
        n, had = count(srv), set(srv.files(USER)["new"])
        t.eq(begin(s), GO, "smuggling %s: 354" % name)
        # Everything up to the real <CRLF>.<CRLF> is one (refused) message;
        # the QUIT behind it is the next command.
        s.send(b"Subject: first\r\n\r\nhello" + p + SMUGGLED + b".\r\nQUIT\r\n")
        replies = [s.last(), s.last()]
        t.eq(replies, [BARE, "221 2.0.0 Bye"],
             "smuggling %s: one 550 5.5.2, the hidden MAIL/RCPT/DATA never run" % name)
        try:
            s.c.wait_close(5)
        except T.ProtocolError:
            pass
        s.close()
        t.eq(count(srv), n, "smuggling %s: nothing delivered" % name)
        t.ok(not any(b"smuggled" in d for d in newest(srv, had)),
             "smuggling %s: no second message" % name)
    t.ok(H.queue_empty(srv), "smuggling: nothing queued", repr(H.queue_files(srv)))

    # The control: a real <CRLF>.<CRLF> does end the message, and the
    # pipelined transaction behind it is a second, legitimate one.
    s = session(srv)
    n = count(srv)
    begin(s)
    s.send(b"Subject: first\r\n\r\nhello\r\n.\r\n" + SMUGGLED + b".\r\nQUIT\r\n")
    got = [s.last() for _ in range(5)]
    t.ok(re.match(QUEUED, got[0]) and got[1:4] == ["250 2.1.0 Ok", "250 2.1.5 Ok", GO]
         and re.match(QUEUED, got[4]), "control: CRLF.CRLF ends, the next MAIL is a command",
         repr(got))
    t.eq(s.last(), "221 2.0.0 Bye", "control: QUIT")
    s.close()
    t.eq(count(srv), n + 2, "control: two messages")


def size_limit(t, srv):
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    ext = s.hello(True)
    t.ok("250-SIZE %d" % LIMIT in ext or "250 SIZE %d" % LIMIT in ext,
         "EHLO advertises SIZE %d" % LIMIT, repr(ext))
    t.eq(s.cmd("MAIL FROM:<a@remote.example> SIZE=%d" % (LIMIT + 1)), TOO_BIG,
         "MAIL SIZE=limit+1: 552 at once")
    t.eq(s.cmd("MAIL FROM:<a@remote.example> SIZE=%d" % LIMIT), "250 2.1.0 Ok",
         "MAIL SIZE=limit: 250")
    s.cmd("RSET")
    t.eq(s.cmd("MAIL FROM:<a@remote.example> SIZE=abc"), "501 5.5.4 Bad SIZE parameter",
         "MAIL SIZE=abc: 501")
    t.eq(s.cmd("MAIL FROM:<a@remote.example> BODY=8BITMIME"), "250 2.1.0 Ok",
         "MAIL BODY=8BITMIME: 250")
    s.cmd("RSET")
    t.eq(s.cmd("MAIL FROM:<a@remote.example> BODY=BINARYMIME"), "501 5.5.4 Bad BODY parameter",
         "MAIL BODY=BINARYMIME: 501")
    t.eq(s.cmd("MAIL FROM:<a@remote.example> FOO=1"), "555 5.5.4 Unsupported option: FOO",
         "MAIL with an unknown parameter: 555")

    # As received: lines of 64 octets with CRLF, the terminator apart.
    line = b"x" * 62 + b"\r\n"
    exact = line * (LIMIT // 64)
    n, had = count(srv), set(srv.files(USER)["new"])
    t.eq(begin(s), GO, "message of exactly message_size: 354")
    s.send(exact + b".\r\n")
    t.ok(re.match(QUEUED, s.last()), "message of exactly message_size octets: 250")
    got = newest(srv, had)
    t.ok(len(got) == 1 and body_of(got[0]) == exact.replace(b"\r\n", b"\n"),
         "exact-size message stored whole")

    n = count(srv)
    t.eq(begin(s), GO, "message one octet over: 354")
    s.send(b"y" + exact + b".\r\n")
    t.eq(s.last(), TOO_BIG, "message one octet over message_size: 552 after the terminator")
    t.eq(count(srv), n, "over the limit: nothing delivered")
    t.eq(begin(s), GO, "message far over: 354")
    s.send(exact * 8 + b".\r\n")
    t.eq(s.last(), TOO_BIG, "message far over: 552, read to its end")
    t.eq(count(srv), n, "far over: nothing delivered")
    t.eq(s.cmd("NOOP"), "250 2.0.0 Ok", "the session goes on after 552")
    s.quit()


def recipients_limit(t, srv):
    s = session(srv)
    s.cmd("MAIL FROM:<sender@remote.example>")
    t.eq(s.cmd("RCPT TO:<%s>" % USER), "250 2.1.5 Ok", "max_recipients=2: first")
    t.eq(s.cmd("RCPT TO:<%s>" % OTHERS[0]), "250 2.1.5 Ok", "max_recipients=2: second")
    t.eq(s.cmd("RCPT TO:<%s>" % OTHERS[1]), "452 4.5.3 Error: too many recipients",
         "max_recipients=2: the third gets 452")
    t.eq(s.cmd("RCPT TO:<x@remote.example>"), "452 4.5.3 Error: too many recipients",
         "max_recipients=2: and so does a fourth")
    c = [count(srv, u) for u in [USER] + OTHERS]
    go, final = s.data(b"Subject: two of three\r\n\r\nx\r\n")
    t.ok(final and re.match(QUEUED, final), "the two accepted get the message", repr(final))
    t.eq([count(srv, u) - x for u, x in zip([USER] + OTHERS, c)], [1, 1, 0],
         "delivered to the first two only")
    s.quit()


def eight_bit_and_dots(t, srv):
    s = session(srv)
    raw = bytes(b for b in range(1, 256) if b not in (10, 13))
    body = (b"Subject: 8bit \xe9\xff\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + raw + b"\r\n" + raw[::-1] + b"\r\n" + b"caf\xc3\xa9 na\xefve\r\n")
    had = set(srv.files(USER)["new"])
    begin(s)
    s.send(body + b".\r\n")
    t.ok(re.match(QUEUED, s.last()), "8-bit body: 250")
    got = newest(srv, had)
    t.ok(len(got) == 1 and body_of(got[0]) == body.replace(b"\r\n", b"\n"),
         "8-bit body kept byte for byte", repr(got[0][-300:]) if got else "nothing")

    wire = b"Subject: dots\r\n\r\n..\r\n...\r\n..x\r\n.. y\r\nx.\r\n.\t\r\n\r\n"
    want = b"Subject: dots\n\n.\n..\n.x\n. y\nx.\n\t\n\n"
    had = set(srv.files(USER)["new"])
    begin(s)
    s.send(wire + b".\r\n")
    t.ok(re.match(QUEUED, s.last()), "dot-stuffed body: 250")
    got = newest(srv, had)
    t.ok(len(got) == 1 and body_of(got[0]) == want, "dot-stuffing undone",
         repr(got[0][-120:]) if got else "nothing")

    had = set(srv.files(USER)["new"])
    begin(s)
    s.send(b".\r\n")
    t.ok(re.match(QUEUED, s.last()), "empty message: 250")
    got = newest(srv, had)
    t.ok(len(got) == 1 and body_of(got[0]) == b"", "empty message: only our trace headers",
         repr(got))
    s.quit()


def lines_and_nul(t, srv):
    s = session(srv)
    n = count(srv)
    begin(s)
    s.send(b"Subject: long\r\n\r\n" + b"a" * 998 + b"\r\n.\r\n")
    t.ok(re.match(QUEUED, s.last()), "a 1000-octet line (CRLF included): 250")
    t.eq(count(srv), n + 1, "1000-octet line delivered")
    begin(s)
    s.send(b"Subject: long\r\n\r\n" + b"a" * 999 + b"\r\n.\r\n")
    t.eq(s.last(), "550 5.5.2 Error: message line longer than 1000 octets",
         "a 1001-octet line: 550 5.5.2")
    t.eq(count(srv), n + 1, "1001-octet line: nothing delivered")
    begin(s)
    s.send(b"Subject: nul\r\n\r\na\x00b\r\n.\r\n")
    t.eq(s.last(), "550 5.6.0 Error: message contains NUL characters", "NUL in the body: 550")
    t.eq(count(srv), n + 1, "NUL: nothing delivered")
    refused_and_goes_on(t, srv, s, "after NUL")
    s.quit()


def main():
    t = T.Tap()
    srv = T.Server(services=("smtp",), config={"limits.message_size": LIMIT,
                                               "limits.max_recipients": 2})
    try:
        for u in [USER] + OTHERS:
            srv.add_user(u, "pw")
        srv.start()
        bare_line_ends(t, srv)
        smuggling(t, srv)
        size_limit(t, srv)
        recipients_limit(t, srv)
        eight_bit_and_dots(t, srv)
        lines_and_nul(t, srv)
        t.ok(H.queue_empty(srv), "nothing ever queued", repr(H.queue_files(srv)))
        for u in [USER] + OTHERS:
            t.eq(srv.files(u)["tmp"], [], "%s: tmp/ is empty" % u)
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "session ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
