#!/usr/bin/env python3
"""smtp_command_table.py: every SMTP command in every state of the session
(smtpd/smtp_session.c's command table: allowed states and flags), each in a
session of its own, answered and logged exactly as recorded in
smtp_command_table.json: the reply (every line of it) and the session's log
lines (the session id and the TLS parameters taken out). The table was
recorded from the hand-written checks the command table replaced (issue 13),
so it pins the order of the checks too: DATA with an argument before HELO
is a syntax error, AUTH after AUTH inside a transaction is "already
authenticated", STARTTLS with an argument under TLS is a syntax error.

Run with --record to print a new table (after a deliberate change only)."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "pa55-w0rd!"
TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smtp_command_table.json")

# state name -> (over STARTTLS, lines sent to reach it)
STATES = [
    ("start", False, []),
    ("helo", False, ["HELO c.example"]),
    ("ehlo", False, ["EHLO c.example"]),
    ("helo-mail", False, ["HELO c.example", "MAIL FROM:<x@remote.example>"]),
    ("ehlo-mail", False, ["EHLO c.example", "MAIL FROM:<x@remote.example>"]),
    ("ehlo-rcpt", False, ["EHLO c.example", "MAIL FROM:<x@remote.example>",
                          "RCPT TO:<demo@example.test>"]),
    ("tls-start", True, []),
    ("tls-ehlo", True, ["EHLO c.example"]),
    ("tls-helo", True, ["HELO c.example"]),
    ("tls-auth", True, ["EHLO c.example", "AUTH PLAIN " + H.plain(USER, PASSWORD)]),
    ("tls-mail", True, ["EHLO c.example", "MAIL FROM:<x@remote.example>"]),
    ("tls-auth-mail", True, ["EHLO c.example", "AUTH PLAIN " + H.plain(USER, PASSWORD),
                             "MAIL FROM:<x@remote.example>"]),
    ("tls-auth-rcpt", True, ["EHLO c.example", "AUTH PLAIN " + H.plain(USER, PASSWORD),
                             "MAIL FROM:<x@remote.example>", "RCPT TO:<y@remote.example>"]),
]

PROBES = [
    "HELO h.example", "HELO", "EHLO h.example", "EHLO",
    "MAIL FROM:<y@remote.example>", "MAIL", "MAIL FROM:<bad",
    "RCPT TO:<demo@example.test>", "RCPT", "RCPT TO:<z@remote.example>",
    "DATA", "DATA x", "RSET", "RSET x", "NOOP", "NOOP x", "QUIT",
    "STARTTLS", "STARTTLS x", "AUTH", "AUTH FOO",
    "AUTH PLAIN " + H.plain(USER, PASSWORD), "AUTH LOGIN", "VRFY", "VRFY x",
    "HELP", "EXPN x", "TURN", "ETRN x", "BOGUS", "mail from:<y@remote.example>",
]

LOG_RE = re.compile(r"^.*? s=(\w+) (.*)$")


def normalise(line):
    line = re.sub(r"version=\S+ cipher=\S+", "version=V cipher=C", line)
    line = re.sub(r"pause_ms=\d+", "pause_ms=N", line)
    return line


def run_one(srv, ctx, tls, setup, probe):
    s = S.Smtp(srv, "smtp", T.OUTSIDER)
    if tls:
        s.hello()
        if s.cmd("STARTTLS") != H.TLS_READY:
            raise T.ProtocolError("no STARTTLS")
        s.c.starttls(ctx, "localhost")
    for line in setup:
        s.c.sendline(line)
        s.reply()
    s.c.sendline(probe)
    try:
        got = s.reply()
    except T.ProtocolError as e:
        got = ["(closed) %s" % e]
    if got[-1].startswith("334 "):   # a SASL prompt: cancel it
        s.c.sendline("*")
        got += s.reply()
    if got[-1].startswith("354 "):   # DATA: nothing sent, the session just ends
        pass
    elif got[-1].startswith("220 ") and probe.upper().startswith("STARTTLS"):
        pass
    else:
        try:
            s.c.sendline("QUIT")
            s.reply()
        except (T.ProtocolError, OSError):
            pass
    s.close()
    return got


def session_lines(log, before):
    """The log lines of the sessions that started after offset before."""
    out = []
    for line in log[before:].splitlines():
        m = LOG_RE.match(line)
        if m and m.group(2).split(" ")[0] != "connect":
            out.append(normalise(m.group(2)))
    return out


def record(srv, ctx):
    table = {}
    for name, tls, setup in STATES:
        for probe in PROBES:
            before = len(srv.log())
            ndisc = srv.log().count(" disconnect ")
            got = run_one(srv, ctx, tls, setup, probe)
            S.wait_for(lambda: srv.log().count(" disconnect ") > ndisc, 10)
            table["%s | %s" % (name, probe)] = {"reply": got,
                                                 "log": session_lines(srv.log(), before)}
    return table


def main():
    t = T.Tap()
    try:
        srv = H.server(("smtp",))
    except T.SkipTest as e:
        T.skip_all(str(e))
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        ctx = H.client_context(srv)
        got = record(srv, ctx)
        if "--record" in sys.argv:
            json.dump(got, sys.stdout, indent=1, sort_keys=True)
            print()
            srv.cleanup()
            return 0
        with open(TABLE) as f:
            want = json.load(f)
        for key in sorted(want):
            t.eq(got.get(key), want[key], key)
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
