#!/usr/bin/env python3
"""smtp_protocol.py: the SMTP command layer against the real daemon
(RFC 5321 4.1, 4.3.2, 4.5.3.1; RFC 2034; RFC 2920; docs/PROTOCOL.md): the
greeting; 503 for commands out of order and 554 5.5.1 for DATA without a
valid recipient; 501 for syntax, 500 for unknown commands; enhanced status
codes only after EHLO; pipelined commands answered in order; a command line
over 512 octets gets "500 5.5.2 Error: line too long" and the close; a NUL
byte, too many errors, an idle client (421 4.4.2 ... timeout exceeded,
also inside DATA); Outlook Express's "MAIL FROM: <x>"; RSET, NOOP, VRFY,
HELP, QUIT; the null sender."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

USER = "demo@example.test"
HOST = T.HOSTNAME
TIMEOUT = 2
QUEUED = r"250 2\.0\.0 Ok: queued as \S+$"


def closed(s, timeout=5):
    """True when the server closes the connection (after what it sent)."""
    try:
        rest = s.c.wait_close(timeout)
    except T.ProtocolError:
        return False, None
    return True, rest


def order(t, srv):
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    t.eq(s.greeting, ["220 %s ESMTP ispmaild" % HOST], "greeting")
    t.eq(s.cmd("MAIL FROM:<a@remote.example>"), "503 Error: send HELO/EHLO first",
         "MAIL before HELO: 503")
    t.eq(s.cmd("RCPT TO:<%s>" % USER), "503 Error: send HELO/EHLO first", "RCPT before HELO: 503")
    t.eq(s.cmd("DATA"), "503 Error: send HELO/EHLO first", "DATA before HELO: 503")
    t.eq(s.cmd("NOOP"), "250 Ok", "NOOP before HELO: 250, no enhanced code")
    t.eq(s.cmd("HELO"), "501 Syntax: HELO hostname", "HELO without a name: 501")
    t.eq(s.cmd("EHLO"), "501 Syntax: EHLO hostname", "EHLO without a name: 501")
    t.eq(s.hello(False), ["250 %s" % HOST], "HELO: one line, our name")
    t.eq(s.cmd("RCPT TO:<%s>" % USER), "503 Error: need MAIL command", "RCPT before MAIL: 503")
    t.eq(s.cmd("DATA"), "503 Error: need MAIL command", "DATA before MAIL: 503")
    t.eq(s.cmd("MAIL FROM:<a@remote.example>"), "250 Ok", "MAIL after HELO: 250 Ok")
    t.eq(s.cmd("MAIL FROM:<a@remote.example>"), "503 Error: nested MAIL command",
         "a second MAIL: 503")
    t.eq(s.cmd("DATA"), "554 Error: no valid recipients", "DATA before any RCPT: 554")
    s.quit()
    # A new session: 9 errors so far, the 10th would end this one.
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(False)
    s.cmd("MAIL FROM:<a@remote.example>")
    t.eq(s.cmd("RCPT TO:<nobody@example.test>"),
         "550 <nobody@example.test>: Recipient address rejected: User unknown",
         "unknown user after HELO: 550 without the enhanced code")
    t.eq(s.cmd("DATA"), "554 Error: no valid recipients", "DATA after only a refused RCPT: 554")
    t.eq(s.cmd("RSET"), "250 Ok", "RSET")
    t.eq(s.cmd("RCPT TO:<%s>" % USER), "503 Error: need MAIL command", "RSET ended the transaction")
    s.cmd("MAIL FROM:<a@remote.example>")
    t.eq(s.cmd("RCPT TO:<%s>" % USER), "250 Ok", "RCPT after HELO: 250 Ok")
    ext = s.hello(True)
    t.ok(ext[0] == "250-%s" % HOST and ext[-1].startswith("250 "),
         "EHLO: multi-line 250, our name first", repr(ext))
    for e in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"):
        t.ok(any(l[4:] == e for l in ext), "EHLO lists " + e, repr(ext))
    t.ok(any(re.match(r"250[- ]SIZE \d+$", l) for l in ext), "EHLO lists SIZE n", repr(ext))
    t.eq(s.cmd("RCPT TO:<%s>" % USER), "503 5.5.1 Error: need MAIL command",
         "EHLO reset the transaction (RFC 5321 4.1.4)")
    t.eq(s.cmd("QUIT"), "221 2.0.0 Bye", "QUIT: 221")
    ok, rest = closed(s)
    t.ok(ok, "closed after QUIT", repr(rest))


def syntax(t, srv):
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    for cmd, want in (
            ("MAIL", "501 5.5.4 Syntax: MAIL FROM:<address>"),
            ("MAIL TO:<a@remote.example>", "501 5.5.4 Syntax: MAIL FROM:<address>"),
            ("MAIL FROM:", "501 5.1.7 Bad sender address syntax"),
            ("MAIL FROM:a@remote.example", "501 5.1.7 Bad sender address syntax"),
            ("MAIL FROM:<a@@remote.example>", "501 5.1.7 Bad sender address syntax"),
            ("MAIL FROM:<a@remote.example> SIZE", "501 5.5.4 Bad SIZE parameter"),
            ("MAIL FROM:<a@remote.example> =x", "501 5.5.4 Syntax error in parameters")):
        t.eq(s.cmd(cmd), want, "%r: %s" % (cmd, want[:3]))
    s.quit()
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    s.cmd("MAIL FROM:<a@remote.example>")
    for cmd, want in (
            ("RCPT", "501 5.5.4 Syntax: RCPT TO:<address>"),
            ("RCPT FROM:<%s>" % USER, "501 5.5.4 Syntax: RCPT TO:<address>"),
            ("RCPT TO:<>", "501 5.1.3 Bad recipient address syntax"),
            ("RCPT TO:<demo@example.test", "501 5.1.3 Bad recipient address syntax"),
            ("RSET now", "501 5.5.4 Syntax error, no parameters allowed"),
            ("DATA now", "501 5.5.4 Syntax error, no parameters allowed")):
        t.eq(s.cmd(cmd), want, "%r: %s" % (cmd, want[:3]))
    s.quit()
    # A new session: the errors above count towards limits.error_limit.
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    t.eq(s.cmd("FOO"), "500 5.5.2 Error: command not recognized", "unknown command: 500")
    t.eq(s.cmd(""), "500 5.5.2 Error: command not recognized", "empty line: 500")
    t.eq(s.cmd("EXPN staff"), "502 5.5.1 Error: command not implemented", "EXPN: 502")
    t.eq(s.cmd("VRFY demo"), "252 2.0.0 Send some mail, I'll try my best", "VRFY: 252")
    t.ok(s.cmd("HELP").startswith("214 "), "HELP: 214")
    t.eq(s.cmd("noop"), "250 2.0.0 Ok", "commands in any case")
    t.eq(s.cmd("mail from:<a@remote.example>"), "250 2.1.0 Ok", "mail from: in lower case")
    # Outlook Express: a space after the colon.
    s.cmd("RSET")
    t.eq(s.cmd("MAIL FROM: <a@remote.example>"), "250 2.1.0 Ok", "MAIL FROM: <x> (space)")
    t.eq(s.cmd("RCPT TO: <%s>" % USER), "250 2.1.5 Ok", "RCPT TO: <x> (space)")
    s.cmd("RSET")
    t.eq(s.cmd("NO\x00OP"), "500 5.5.2 Error: bad character in command", "NUL in a command: 500")
    t.eq(s.cmd("NOOP"), "250 2.0.0 Ok", "the session goes on after the NUL")
    s.quit()

    # Enhanced codes follow the last greeting: HELO takes them away again.
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    t.eq(s.cmd("NOOP"), "250 2.0.0 Ok", "after EHLO: 250 2.0.0")
    s.hello(False)
    t.eq(s.cmd("NOOP"), "250 Ok", "after HELO again: plain 250")
    t.eq(s.cmd("FOO"), "500 Error: command not recognized", "after HELO: plain 500")
    s.quit()


def errors_limit(t, srv):
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    got = [s.cmd("BOGUS%d" % i) for i in range(9)]
    t.eq(got, ["500 5.5.2 Error: command not recognized"] * 9, "nine unknown commands: 500 each")
    s.c.sendline("BOGUS10")
    t.eq(s.reply(), ["500 5.5.2 Error: command not recognized"], "the tenth: 500")
    t.eq(s.reply(), ["421 4.7.0 %s Error: too many errors" % HOST], "... then 421 4.7.0")
    ok, rest = closed(s)
    t.ok(ok and rest == b"", "... and the close", repr(rest))

    # Bad paths are syntax errors too: they must not go on for ever.
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    s.cmd("MAIL FROM:<a@remote.example>")
    s.c.send(b"".join(b"RCPT TO:<a@@b%d>\r\n" % i for i in range(12)))
    got = []
    try:
        while len(got) < 13:
            got.append(s.c.readline(3))
            if got[-1] is None:
                break
    except T.ProtocolError:
        pass
    t.ok("421 4.7.0 %s Error: too many errors" % HOST in got,
         "twelve bad RCPT paths end the session with 421 (limits.error_limit)", repr(got))
    s.close()


def pipelining(t, srv):
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    n = len(srv.files(USER)["new"])
    s.send(b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<demo@example.test>\r\n"
           b"RCPT TO:<nobody@example.test>\r\nRCPT TO:<x@remote.example>\r\n"
           b"RCPT TO:<Demo@Example.Test>\r\nDATA\r\n")
    got = [s.last() for _ in range(6)]
    t.eq(got, ["250 2.1.0 Ok", "250 2.1.5 Ok", H.user_unknown("nobody@example.test"),
               H.denied("x@remote.example", True), "250 2.1.5 Ok",
               "354 End data with <CR><LF>.<CR><LF>"],
         "a pipelined MAIL/RCPT*4/DATA: every reply, in order")
    s.send(b"Subject: piped\r\n\r\nbody\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
    got = [s.last() for _ in range(4)]
    t.ok(re.match(QUEUED, got[0]) and got[1:] == ["250 2.0.0 Ok", "250 2.0.0 Ok",
                                                  "221 2.0.0 Bye"],
         "message, RSET, NOOP, QUIT in one write: answered in order", repr(got))
    t.eq(len(srv.files(USER)["new"]), n + 1, "pipelined: one message (the user named twice)")
    s.close()

    # Pipelined commands behind a refused DATA are read as commands.
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    s.send(b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n"
           b"NOOP\r\n")
    got = [s.last() for _ in range(4)]
    t.eq(got, ["250 2.1.0 Ok", H.user_unknown("nobody@example.test"),
               "554 5.5.1 Error: no valid recipients", "250 2.0.0 Ok"],
         "pipelined DATA without a recipient: 554, the next command still runs")
    s.quit()


def long_lines(t, srv):
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    # 512 octets with the CRLF is the limit (RFC 5321 4.5.3.1.4).
    line = "NOOP " + "x" * (512 - 2 - 5)
    t.eq(s.cmd(line), "250 2.0.0 Ok", "a 512-octet command line is fine")
    s.c.sendline("NOOP " + "x" * (512 - 2 - 5 + 1))
    t.eq(s.c.readline(), "500 5.5.2 Error: line too long", "a 513-octet line: 500 5.5.2")
    ok, rest = closed(s)
    t.ok(ok and rest == b"", "... and the close", repr(rest))

    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    s.c.send(b"MAIL FROM:<" + b"a" * 5000 + b"@remote.example>\r\n")
    t.eq(s.c.readline(), "500 5.5.2 Error: line too long", "a 5 KB line: 500 5.5.2")
    ok, rest = closed(s)
    t.ok(ok, "... and the close", repr(rest))

    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.c.send(b"X" * 600 + b"\r\n")
    t.eq(s.c.readline(), "500 Error: line too long", "before EHLO: 500 without enhanced code")
    closed(s)
    s.close()


def timeouts(t, srv):
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    start = time.time()
    line = s.c.readline(3 * TIMEOUT + 5)
    took = time.time() - start
    t.eq(line, "421 4.4.2 %s Error: timeout exceeded" % HOST, "idle client: 421 4.4.2")
    # A timer never fires early: the floor is exact. A loaded machine may
    # wake the daemon late: the ceiling only tells command_timeout from a
    # longer timer (or none), and the log says why the session ended.
    t.ok(TIMEOUT - 0.05 <= took <= 3 * TIMEOUT + 2,
         "after command_timeout seconds (%d s <= t <= %d s)" % (TIMEOUT, 3 * TIMEOUT + 2),
         "%.1fs" % took)
    t.ok(H.wait_for(lambda: "close reason=timeout state=" in srv.log(), 5),
         "log: close reason=timeout")
    ok, rest = closed(s)
    t.ok(ok and rest == b"", "... and the close", repr(rest))

    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    t.eq(s.c.readline(3 * TIMEOUT + 5), "421 %s Error: timeout exceeded" % HOST,
         "idle before HELO: 421 without enhanced code")
    closed(s)
    s.close()

    # Silence in the middle of DATA: data_timeout, 421, nothing delivered.
    n = len(srv.files(USER)["new"])
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    s.cmd("MAIL FROM:<a@remote.example>")
    s.cmd("RCPT TO:<%s>" % USER)
    t.eq(s.cmd("DATA"), "354 End data with <CR><LF>.<CR><LF>", "DATA: 354")
    s.send(b"Subject: half\r\n\r\nhalf a mess")
    t.eq(s.c.readline(3 * TIMEOUT + 5), "421 4.4.2 %s Error: timeout exceeded" % HOST,
         "silence inside DATA: 421 4.4.2")
    ok, rest = closed(s)
    t.ok(ok, "... and the close", repr(rest))
    t.eq(len(srv.files(USER)["new"]), n, "the half message is not delivered")
    t.eq(srv.files(USER)["tmp"], [], "and not left in tmp/")


def null_sender(t, srv):
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    had = set(srv.files(USER)["new"])
    r = s.transaction("", [USER], b"Subject: bounce\r\n\r\nx\r\n")
    t.eq(r[:3], ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"],
         "MAIL FROM:<> (null sender) accepted")
    t.ok(re.match(QUEUED, r[-1]), "null sender: 250")
    new = [d for n, d in H.maildir_messages(srv, USER) if n not in had]
    t.ok(len(new) == 1 and new[0].startswith(b"Return-Path: <>\n"), "Return-Path: <>",
         repr(new[:1]))
    s.quit()


def main():
    t = T.Tap()
    srv = T.Server(services=("smtp",), config={"limits.command_timeout": TIMEOUT,
                                               "limits.data_timeout": TIMEOUT})
    try:
        srv.add_user(USER, "pw")
        srv.start()
        order(t, srv)
        syntax(t, srv)
        errors_limit(t, srv)
        pipelining(t, srv)
        long_lines(t, srv)
        null_sender(t, srv)
        timeouts(t, srv)
        t.ok(srv.running(), "the daemon is still running")
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "session ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
