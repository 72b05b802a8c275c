#!/usr/bin/env python3
"""tls_injection.py: commands pipelined behind STARTTLS (RFC 3207 4.2) or STLS
(RFC 2595 4) in the same write are thrown away, never executed over the TLS
session (the 2011 plaintext command injection, CVE-2011-0411 and kin;
docs/PROTOCOL.md). After the handshake the first thing read in reply to a real
command sent over TLS is that command's reply; the injected command left no
trace (its side effects neither), and the log says "result=discarded
reason=pipelined-input"."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "secret"


def silent(c, timeout=0.5):
    """Nothing more from the server within timeout (over TLS)?"""
    try:
        line = c.readline(timeout=timeout)
    except T.ProtocolError:
        return True, None
    return False, line


def smtp_rset(t, srv, ctx):
    s = S.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello()
    s.send(b"STARTTLS\r\nRSET\r\n")
    t.eq(s.last(), H.TLS_READY, "smtp: STARTTLS with RSET behind it in one write")
    t.eq(s.c.buf, b"", "smtp: nothing else in the clear before the handshake")
    s.c.starttls(ctx, "localhost")
    r = s.hello(name="after.example")
    t.eq(r[0], "250-" + T.HOSTNAME,
         "smtp: first reply over TLS is EHLO's, not the injected RSET's 250 Ok")
    t.eq(r[-1], "250 AUTH=PLAIN LOGIN", "smtp: EHLO reply complete")
    t.eq(s.cmd("NOOP"), H.OK, "smtp: NOOP answered once")
    quiet, extra = silent(s.c)
    t.ok(quiet, "smtp: no stray reply left over", repr(extra))
    t.eq(s.quit(), H.BYE, "smtp: QUIT")


def smtp_mail(t, srv, ctx):
    """A side effect: the injected MAIL must not open a transaction."""
    s = S.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello()
    s.send(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
    t.eq(s.last(), H.TLS_READY, "smtp: STARTTLS with MAIL behind it")
    s.c.starttls(ctx, "localhost")
    r = s.hello(name="after.example")
    t.eq(r[0], "250-" + T.HOSTNAME, "smtp: EHLO answered first")
    t.eq(s.cmd("RCPT TO:<%s>" % USER), "503 5.5.1 Error: need MAIL command",
         "smtp: the injected MAIL was never executed")
    t.eq(s.quit(), H.BYE, "smtp: QUIT")


def pop3_capa(t, srv, ctx):
    c = srv.connect("pop3", T.OUTSIDER)
    c.expect(r"\+OK")
    c.send(b"STLS\r\nCAPA\r\n")
    t.eq(c.readline(), H.POP_STLS, "pop3: STLS with CAPA behind it in one write")
    t.eq(c.buf, b"", "pop3: nothing else in the clear before the handshake")
    c.starttls(ctx, "localhost")
    c.sendline("QUIT")
    t.eq(c.readline(), H.POP_BYE,
         "pop3: first reply over TLS is QUIT's, not the injected CAPA's")
    rest = c.wait_close()
    t.eq(rest, b"", "pop3: nothing after +OK Logging out.")
    c.close()


def pop3_login(t, srv, ctx):
    """The injected USER/PASS must not log in: PASS over TLS finds no USER."""
    c = srv.connect("pop3", T.OUTSIDER)
    c.expect(r"\+OK")
    c.send(("STLS\r\nUSER %s\r\n" % USER).encode())
    t.eq(c.readline(), H.POP_STLS, "pop3: STLS with USER behind it")
    c.starttls(ctx, "localhost")
    t.eq(c.command("PASS " + PASSWORD), "-ERR No username given, use USER first.",
         "pop3: the injected USER was never executed")
    t.eq(c.command("QUIT"), H.POP_BYE, "pop3: QUIT")
    c.close()


def clean_controls(t, srv, ctx):
    """STARTTLS/STLS without anything behind them log no discard."""
    s = S.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello()
    t.eq(s.cmd("STARTTLS"), H.TLS_READY, "smtp: STARTTLS alone")
    s.c.starttls(ctx, "localhost")
    s.hello()
    s.quit()
    c = srv.connect("pop3", T.OUTSIDER)
    c.expect(r"\+OK")
    t.eq(c.command("STLS"), H.POP_STLS, "pop3: STLS alone")
    c.starttls(ctx, "localhost")
    t.eq(c.command("QUIT"), H.POP_BYE, "pop3: QUIT after STLS alone")
    c.close()


def main():
    t = T.Tap()
    try:
        srv = H.server(("smtp", "pop3"))
    except T.SkipTest as e:
        T.skip_all(str(e))
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        ctx = H.client_context(srv)
        smtp_rset(t, srv, ctx)
        smtp_mail(t, srv, ctx)
        pop3_capa(t, srv, ctx)
        pop3_login(t, srv, ctx)
        t.eq(H.wait_log(srv, r"starttls " + H.PIPELINE_DISCARDED + "$", 2), 2,
             "log: starttls result=discarded reason=pipelined-input, twice")
        t.eq(H.wait_log(srv, r"stls " + H.PIPELINE_DISCARDED + "$", 2), 2,
             "log: stls result=discarded reason=pipelined-input, twice")
        clean_controls(t, srv, ctx)
        H.wait_log(srv, r"stls result=ok", 3)
        t.eq(H.log_count(srv, H.PIPELINE_DISCARDED), 4,
             "log: no discard logged without pipelined input")
        t.eq(H.log_count(srv, r"login user=\S+ result=ok"), 0, "log: no login happened")
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
