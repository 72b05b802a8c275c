#!/usr/bin/env python3
"""tls_python.py: Python's smtplib and poplib over TLS, verifying the test
CA's certificate (for the address 127.0.0.1: the IP SAN). smtplib from
outside (127.0.0.2): starttls, then login with AUTH PLAIN and AUTH LOGIN
(auth_plain/auth_login, with and without initial response), relays and
delivers with a Received line saying ESMTPSA and the TLS version; a wrong
password is SMTPAuthenticationError 535; SMTP_SSL on smtps. poplib from
outside: USER refused in the clear, stls, then USER/PASS, STAT, RETR;
POP3_SSL on pop3s; both logins write the relay DB."""

import os
import poplib
import re
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "py-secret"
REMOTE = "friend@remote.example"
STORED = (b"From: <demo@example.test>\nTo: <demo@example.test>\nSubject: smtplib\n\n"
          b"line 1\n.dot line\n")
MSG = STORED.replace(b"\n", b"\r\n")    # smtplib dot-stuffs it itself


def smtp(srv, service, source=T.OUTSIDER):
    return smtplib.SMTP("127.0.0.1", srv.ports[service], local_hostname="py.example",
                        source_address=(source, 0), timeout=T.READ_TIMEOUT)


def last_received(srv):
    """(Received header, rest) of the one message delivered since last time."""
    msgs = srv.inbox.new()
    if len(msgs) != 1:
        return None, None
    rp, rec, rest = S.split_trace(msgs[0][1])
    return rec, rest


def smtplib_starttls(t, srv, ctx):
    cases = [
        ("smtp", "PLAIN", True), ("smtp", "LOGIN", True),
        ("submission", "PLAIN", False), ("submission", "LOGIN", False),
    ]
    for n, (service, mech, initial) in enumerate(cases, 1):
        what = "smtplib %s starttls + AUTH %s%s" % (
            service, mech, "" if initial else " (no initial response)")
        s = smtp(srv, service)
        s.ehlo()
        t.ok(s.has_extn("starttls") and not s.has_extn("auth"),
             what + ": before TLS STARTTLS, no AUTH", repr(s.esmtp_features))
        t.eq(s.starttls(context=ctx), (220, b"2.0.0 Ready to start TLS"), what + ": starttls")
        s.ehlo()
        # smtplib joins "AUTH PLAIN LOGIN" and "AUTH=PLAIN LOGIN" into one
        t.eq(sorted(set(s.esmtp_features.get("auth", "").split())), ["LOGIN", "PLAIN"],
             what + ": AUTH PLAIN LOGIN offered over TLS")
        s.user, s.password = USER, PASSWORD
        obj = s.auth_plain if mech == "PLAIN" else s.auth_login
        t.eq(s.auth(mech, obj, initial_response_ok=initial),
             (235, b"2.7.0 Authentication successful"), what)
        version, cipher = s.sock.version(), s.sock.cipher()[0]
        t.eq(s.sendmail(USER, [USER, REMOTE], MSG), {}, what + ": sendmail, local and remote")
        s.quit()
        rec, rest = last_received(srv)
        rx = H.received_tls_re("py.example", T.OUTSIDER, "ESMTPSA", version, cipher)
        t.ok(rec is not None and re.match(rx, rec),
             what + ": Received with ESMTPSA (version=%s cipher=%s)" % (version, cipher),
             repr(rec))
        t.eq(rest, STORED, what + ": delivered bytes")
        t.eq(len(S.queue_files(srv)["env"]) >= n, True, what + ": remote copy queued")

    s = smtp(srv, "smtp")
    s.starttls(context=ctx)
    try:
        s.login(USER, "wrong")
        r = None
    except smtplib.SMTPAuthenticationError as e:
        r = (e.smtp_code, e.smtp_error)
    t.eq(r, (535, b"5.7.8 Error: authentication failed"),
         "smtplib login with a wrong password: SMTPAuthenticationError 535")
    s.close()

    s = smtp(srv, "smtp")
    s.starttls(context=ctx)
    t.eq(s.login(USER, PASSWORD), (235, b"2.7.0 Authentication successful"),
         "smtplib login() picks a mechanism that works")
    s.quit()


def smtplib_ssl(t, srv, ctx):
    s = smtplib.SMTP_SSL("127.0.0.1", srv.ports["smtps"], local_hostname="py.example",
                         source_address=(T.OUTSIDER, 0), context=ctx,
                         timeout=T.READ_TIMEOUT)
    s.ehlo()
    t.ok(s.has_extn("auth") and not s.has_extn("starttls"),
         "SMTP_SSL: AUTH offered, STARTTLS not", repr(s.esmtp_features))
    t.eq(s.mail(USER), (530, b"5.7.0 Authentication required"),
         "SMTP_SSL from outside before login: 530 at MAIL")
    t.eq(s.login(USER, PASSWORD), (235, b"2.7.0 Authentication successful"), "SMTP_SSL login")
    version, cipher = s.sock.version(), s.sock.cipher()[0]
    t.eq(s.sendmail(USER, [USER], MSG), {}, "SMTP_SSL sendmail")
    s.quit()
    rec, rest = last_received(srv)
    rx = H.received_tls_re("py.example", T.OUTSIDER, "ESMTPSA", version, cipher, USER)
    t.ok(rec is not None and re.match(rx, rec), "SMTP_SSL: Received with ESMTPSA", repr(rec))
    t.eq(rest, STORED, "SMTP_SSL: delivered bytes")


def poplib_tls(t, srv, ctx):
    srv.deliver(USER, b"Subject: for poplib\n\n.starts with a dot\nend\n")
    want = [b"Subject: for poplib", b"", b".starts with a dot", b"end"]
    p = H.POP3From("127.0.0.1", srv.ports["pop3"], T.OUTSIDER)
    try:
        p.user(USER)
        r = None
    except poplib.error_proto as e:
        r = e.args[0]
    t.eq(r, H.POP_PLAINTEXT.encode(), "poplib USER from outside in the clear: -ERR [AUTH]")
    t.eq(p.stls(context=ctx), H.POP_STLS.encode(), "poplib stls()")
    t.eq(p.user(USER), H.POP_USER_OK.encode(), "poplib user() over TLS")
    t.ok(p.pass_(PASSWORD).startswith(b"+OK Logged in, "), "poplib pass_() over TLS")
    count, size = p.stat()
    resp, lines, octets = p.retr(count)
    t.eq(lines, want, "poplib retr() over TLS, dot-unstuffed")
    t.eq(p.quit(), H.POP_BYE.encode(), "poplib quit()")

    p = H.POP3SSLFrom("127.0.0.1", srv.ports["pop3s"], "127.0.0.4", ctx)
    t.eq(p.getwelcome(), ("+OK %s ispmaild ready." % T.HOSTNAME).encode(), "POP3_SSL greeting")
    t.ok("STLS" not in p.capa(), "POP3_SSL: CAPA without STLS")
    t.eq(p.user(USER), H.POP_USER_OK.encode(), "POP3_SSL user()")
    t.ok(p.pass_(PASSWORD).startswith(b"+OK Logged in, "), "POP3_SSL pass_()")
    resp, lines, octets = p.retr(p.stat()[0])
    t.eq(lines, want, "POP3_SSL retr()")
    t.eq(p.quit(), H.POP_BYE.encode(), "POP3_SSL quit()")
    rows = srv.relay_rows()
    for ip in (T.OUTSIDER, "127.0.0.4"):
        t.ok(rows.get(ip, "").endswith(" " + USER), "relay.db row for %s" % ip, repr(rows))


def main():
    t = T.Tap()
    try:
        srv = H.server(("smtp", "submission", "smtps", "pop3", "pop3s"))
    except T.SkipTest as e:
        T.skip_all(str(e))
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        srv.inbox = H.Inbox(srv, USER)
        ctx = H.client_context(srv)
        smtplib_starttls(t, srv, ctx)
        smtplib_ssl(t, srv, ctx)
        poplib_tls(t, srv, ctx)
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError, smtplib.SMTPException,
            poplib.error_proto) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
