#!/usr/bin/env python3
"""tls_smtp.py: SMTP over TLS. STARTTLS (RFC 3207) on smtp and submission:
offered before TLS only, no arguments, refused inside TLS, the session
starts over afterwards (EHLO again, a transaction begun before it is
forgotten: RFC 3207 4.2); implicit TLS on smtps (RFC 8314): TLS from the
first byte, no STARTTLS offered, a plaintext client gets no greeting. The
Received line says ESMTPS (ESMTPSA after AUTH) and the TLS version and
cipher the client saw (docs/PROTOCOL.md, RFC 3848); the log records them."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "secret"
GREETING = "220 %s ESMTP ispmaild" % T.HOSTNAME
BASE_EXT = ["PIPELINING", "SIZE 26214400", "8BITMIME", "ENHANCEDSTATUSCODES"]
AUTH_EXT = ["AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN"]
MSG = b"From: <demo@example.test>\r\nSubject: over tls\r\n\r\nhello\r\n..dot\r\n"
STORED = b"From: <demo@example.test>\nSubject: over tls\n\nhello\n.dot\n"


def check_delivery(t, srv, what, proto, version, cipher, helo, ip, sender=USER):
    msgs = srv.inbox.new()
    if not t.eq(len(msgs), 1, what + ": delivered once"):
        return
    rp, rec, rest = S.split_trace(msgs[0][1])
    t.eq(rp, b"Return-Path: <%s>" % sender.encode(), what + ": Return-Path")
    rx = H.received_tls_re(helo, ip, proto, version, cipher, USER)
    t.ok(rec is not None and re.match(rx, rec), what + ": Received with " + proto
         + " and (version=" + version + " cipher=" + cipher + ")", repr(rec))
    t.eq(rest, STORED, what + ": message bytes")


def starttls_smtp(t, srv, ctx):
    s = S.Smtp(srv, "smtp", T.OUTSIDER)
    t.eq(s.greeting, [GREETING], "smtp: greeting in the clear")
    r = s.hello()
    t.eq(H.ehlo_keywords(r), BASE_EXT + ["STARTTLS"],
         "smtp from outside before TLS: STARTTLS offered, AUTH not")
    t.eq(s.cmd("STARTTLS now"), "501 5.5.4 Syntax error, no parameters allowed",
         "STARTTLS with an argument")
    # a transaction begun in the clear is forgotten by STARTTLS
    t.eq(s.cmd("MAIL FROM:<early@example.org>"), H.MAIL_OK, "MAIL before STARTTLS")
    H.smtp_starttls(t, s, ctx, "smtp")
    version, cipher = H.tls_params(s.c)
    t.eq(version, "TLSv1.3", "smtp: TLS 1.3 with a modern client")
    t.eq(s.cmd("RCPT TO:<%s>" % USER), H.NEED_HELO_PLAIN,
         "after STARTTLS the session starts over: EHLO first (no enhanced code yet)")
    r = s.hello(name="tls.example")
    t.eq(r[0], "250-" + T.HOSTNAME, "EHLO over TLS")
    t.eq(H.ehlo_keywords(r), BASE_EXT + AUTH_EXT,
         "EHLO over TLS: AUTH offered, STARTTLS not")
    t.eq(s.cmd("RCPT TO:<%s>" % USER), "503 5.5.1 Error: need MAIL command",
         "the MAIL sent before STARTTLS is gone")
    t.eq(s.cmd("STARTTLS"), H.TLS_ALREADY, "STARTTLS inside TLS")
    out = s.transaction("sender@example.org", [USER], MSG)
    t.eq(out[:3], [H.MAIL_OK, H.RCPT_OK, "354 End data with <CR><LF>.<CR><LF>"],
         "MAIL, RCPT, DATA over TLS")
    t.ok(re.match(r"250 2\.0\.0 Ok: queued as \S+$", out[3]), "250 after DATA", out[3])
    t.eq(s.quit(), H.BYE, "QUIT")
    check_delivery(t, srv, "smtp STARTTLS", "ESMTPS", version, cipher,
                   "tls.example", T.OUTSIDER, "sender@example.org")
    t.ok(H.wait_log(srv, r"starttls result=ok version=%s cipher=%s$"
                    % (re.escape(version), re.escape(cipher))),
         "log: starttls result=ok with version and cipher")


def starttls_after_helo(t, srv, ctx):
    s = S.Smtp(srv, "smtp", T.OUTSIDER)
    t.eq(s.hello(esmtp=False), ["250 " + T.HOSTNAME], "HELO")
    H.smtp_starttls(t, s, ctx, "STARTTLS after HELO", esmtp=False)
    t.eq(s.hello(esmtp=False), ["250 " + T.HOSTNAME], "HELO again over TLS")
    t.eq(s.cmd("NOOP"), "250 Ok", "NOOP over TLS after HELO")
    t.eq(s.quit(), "221 Bye", "QUIT after HELO")


def starttls_submission(t, srv, ctx):
    s = S.Smtp(srv, "submission", T.CUSTOMER)
    t.eq(s.greeting, [GREETING], "submission: greeting in the clear")
    t.eq(H.ehlo_keywords(s.hello()), BASE_EXT + ["STARTTLS"] + AUTH_EXT,
         "submission from a customer: STARTTLS and AUTH offered")
    H.smtp_starttls(t, s, ctx, "submission")
    t.eq(H.ehlo_keywords(s.hello()), BASE_EXT + AUTH_EXT,
         "submission EHLO over TLS")
    t.eq(s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.AUTH_OK, "AUTH PLAIN over TLS")
    version, cipher = H.tls_params(s.c)
    out = s.transaction("demo@example.test", [USER], MSG)
    t.ok(out[-1].startswith("250 2.0.0 Ok: queued as "), "submission: DATA accepted", repr(out))
    s.quit()
    check_delivery(t, srv, "submission STARTTLS + AUTH", "ESMTPSA", version, cipher,
                   "client.example", T.CUSTOMER)


def auth_then_starttls(t, srv, ctx):
    """RFC 3207 4.2: after STARTTLS the server MUST discard what it learnt
    from the client before TLS; an AUTH in the clear is such knowledge."""
    s = S.Smtp(srv, "submission", T.CUSTOMER)
    s.hello()
    t.eq(s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.AUTH_OK,
         "customer: AUTH in the clear before STARTTLS")
    H.smtp_starttls(t, s, ctx, "STARTTLS after AUTH")
    ext = H.ehlo_keywords(s.hello())
    t.ok(ext == BASE_EXT + AUTH_EXT, "after STARTTLS, AUTH is offered again", repr(ext))
    r = s.cmd("MAIL FROM:<%s>" % USER)
    t.ok(r == H.AUTH_REQUIRED, "after STARTTLS the AUTH before it no longer counts",
         repr(r))
    s.quit()


def implicit_smtps(t, srv, ctx):
    s = S.Smtp.__new__(S.Smtp)
    s.srv = srv
    s.c = srv.connect("smtps", T.OUTSIDER)
    s.c.starttls(ctx, "localhost")
    s.greeting = s.reply()
    t.eq(s.greeting, [GREETING], "smtps: greeting over TLS")
    version, cipher = H.tls_params(s.c)
    t.eq(H.ehlo_keywords(s.hello()), BASE_EXT + AUTH_EXT,
         "smtps EHLO: AUTH offered, STARTTLS not")
    t.eq(s.cmd("STARTTLS"), H.TLS_ALREADY, "STARTTLS on smtps")
    t.eq(s.cmd("AUTH LOGIN " + H.b64(USER)), "334 UGFzc3dvcmQ6", "smtps AUTH LOGIN")
    t.eq(s.cmd(H.b64(PASSWORD)), H.AUTH_OK, "smtps AUTH LOGIN password")
    out = s.transaction("demo@example.test", [USER], MSG)
    t.ok(out[-1].startswith("250 2.0.0 Ok: queued as "), "smtps: DATA accepted", repr(out))
    s.quit()
    check_delivery(t, srv, "smtps + AUTH", "ESMTPSA", version, cipher,
                   "client.example", T.OUTSIDER)
    t.ok(H.wait_log(srv, r"tls version=%s cipher=%s$" % (re.escape(version),
                                                        re.escape(cipher))),
         "log: smtps session's tls version and cipher")

    # a client that speaks in the clear on smtps gets no greeting, only a close
    c = srv.connect("smtps", T.OUTSIDER)
    c.send(b"EHLO plain.example\r\n")
    data = c.wait_close()
    t.ok(not data.startswith(b"220") and b"ESMTP" not in data,
         "smtps: no plaintext greeting to a plaintext client", repr(data))
    c.close()
    t.ok(H.wait_log(srv, r"close reason=tls-handshake-failed"),
         "log: close reason=tls-handshake-failed")


def main():
    t = T.Tap()
    try:
        srv = H.server(("smtp", "submission", "smtps"))
    except T.SkipTest as e:
        T.skip_all(str(e))
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        srv.inbox = H.Inbox(srv, USER)
        ctx = H.client_context(srv)
        starttls_smtp(t, srv, ctx)
        starttls_after_helo(t, srv, ctx)
        starttls_submission(t, srv, ctx)
        auth_then_starttls(t, srv, ctx)
        implicit_smtps(t, srv, ctx)
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
