#!/usr/bin/env python3
"""junk_commands.py: limits.junk_command_limit (issue 12; Postfix's
smtpd_junk_command_limit). Each command resets the command timeout, so a
client sending NOOP every few seconds would hold a session process for
ever. With the limit set to 5:

- SMTP: NOOP, RSET, HELP, VRFY and a HELO/EHLO after the first are junk;
  5 are answered, the 6th gets "421 4.7.0 HOST Error: too many junk
  commands" and the close; a delivered message starts the count again
  (Postfix does the same), MAIL and RCPT are not junk;
- POP3: NOOP, STAT, LIST and UIDL are junk, RETR, TOP and DELE are not
  (and start nothing again): the 6th junk command gets "-ERR Too many
  commands without retrieval, closing." and the close;
- each such close is logged ("close reason=junk-commands count=6") and
  counted (sessions_closed_total{reason="junk"}, `ispmailctl status`)."""

import os
import re
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import harden_helpers as X  # noqa: E402

USER, PASSWORD = "a@example.test", "secret"
LIMIT = 5
SMTP_421 = "421 4.7.0 %s Error: too many junk commands" % T.HOSTNAME
POP3_ERR = "-ERR Too many commands without retrieval, closing."


def closed_after(t, c, what):
    try:
        c.sendline("NOOP")
    except OSError:
        pass
    rest, closed = X.drain_close(c, 5)
    t.ok(closed and rest == b"", what + ": then the close, nothing more answered",
         repr(rest))


def smtp_part(t, srv):
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    got = [s.cmd("NOOP"), s.cmd("RSET"), s.cmd("HELP")[:3], s.cmd("VRFY a"),
           s.hello(True)[-1]]
    t.eq([g[:3] for g in got], ["250", "250", "214", "252", "250"],
         "SMTP: NOOP, RSET, HELP, VRFY, EHLO again: 5 junk commands answered")
    t.eq(s.cmd("NOOP"), SMTP_421, "SMTP: the 6th junk command gets 421 4.7.0 too many junk")
    closed_after(t, s.c, "SMTP")
    s.close()

    # Pipelined: the whole batch at once, answered up to the limit.
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    s.send(b"NOOP\r\n" * 20)
    lines = [s.c.readline() for _ in range(LIMIT + 1)]
    t.eq(lines, ["250 2.0.0 Ok"] * LIMIT + [SMTP_421],
         "SMTP: 20 pipelined NOOPs: 5 answered, then 421")
    closed_after(t, s.c, "SMTP pipelined")
    s.close()

    # MAIL and RCPT are not junk; a delivered message starts the count again.
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    got = [s.cmd("NOOP") for _ in range(LIMIT - 1)]
    got += s.transaction("x@remote.example", [USER], b"Subject: one\r\n\r\nhi\r\n")
    got += [s.cmd("NOOP") for _ in range(LIMIT)]
    got += [s.cmd("MAIL FROM:<x@remote.example>"), s.cmd("RSET")]
    t.eq([g[:3] for g in got], ["250"] * (LIMIT - 1) + ["250", "250", "354", "250"]
         + ["250"] * LIMIT + ["250", SMTP_421[:3]],
         "SMTP: 4 NOOPs, a message, 5 NOOPs are fine; RSET is then the 6th since the message")
    closed_after(t, s.c, "SMTP after a message")
    s.close()


def pop3_part(t, srv):
    c = srv.connect("pop3", T.CUSTOMER)
    c.expect(r"\+OK")
    c.command("USER " + USER, r"\+OK")
    c.command("PASS " + PASSWORD, r"\+OK")
    got = [c.command("NOOP"), c.command("STAT")]
    got.append(c.command("RETR 1"))
    c.read_multiline()
    got.append(c.command("LIST"))
    c.read_multiline()
    got.append(c.command("TOP 1 0"))
    c.read_multiline()
    got.append(c.command("UIDL"))
    c.read_multiline()
    got += [c.command("DELE 1"), c.command("LIST 2")]
    t.eq([g[:3] for g in got], ["+OK"] * 8,
         "POP3: NOOP STAT RETR LIST TOP UIDL DELE LIST n: all answered (5 junk)")
    t.eq(c.command("NOOP"), POP3_ERR, "POP3: the 6th junk command gets -ERR, though RETR came between")
    closed_after(t, c, "POP3")
    c.close()


def main():
    fx = X.Frame()
    t = fx.t
    srv = fx.server(services=("pop3", "smtp", "metrics"), config={
        "limits.junk_command_limit": LIMIT})
    srv.add_user(USER, PASSWORD)
    for i in range(3):
        srv.deliver(USER, b"Subject: m%d\n\nbody %d\n" % (i, i))
    srv.start()
    smtp_part(t, srv)
    pop3_part(t, srv)
    t.ok(H.wait_for(lambda: srv.log().count(" disconnect") >= 4, 10), "every session ended")
    log = srv.log()
    closes = re.findall(r"warning: s=\w+ close reason=junk-commands count=(\d+)", log)
    t.eq(closes, [str(LIMIT + 1)] * 4, "log: 4 x close reason=junk-commands count=6")
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.ports["metrics"],
                                  timeout=10).read().decode()
    m = re.search(r'^ispmaild_sessions_closed_total\{reason="junk"\} (\d+)$', text, re.M)
    t.eq(m and int(m.group(1)), 4, "metrics: sessions_closed_total{reason=junk} 4")
    t.eq(X.status_counters(srv).get(("closed", "junk")), 4, "ispmailctl status: closed junk=4")
    return fx.done()


if __name__ == "__main__":
    sys.exit(main())
