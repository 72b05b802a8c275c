#!/usr/bin/env python3
"""auth_policy.py: who may relay and who may send a password (ispmaild.conf(5)
and docs/PROTOCOL.md, relay policy). An outside client (127.0.0.2) on port 25
gets 550 for a remote recipient until it passes AUTH over STARTTLS, then 250
and the message is queued; submission says 530 5.7.0 at MAIL until AUTH
(trusted clients excepted). plaintext_auth = false: from outside, without TLS,
AUTH is not offered and gets 538 5.7.11, POP3 USER/PASS/AUTH get -ERR [AUTH]
(and work after STLS); a customer and a client on the server's own address may
use the clear. Then relay.plaintext_auth = true by SIGHUP: from outside in the
clear both work."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "secret"
REMOTE = "friend@remote.example"
BASE_EXT = ["PIPELINING", "SIZE 26214400", "8BITMIME", "ENHANCEDSTATUSCODES"]
AUTH_EXT = ["AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN"]
MSG = b"From: <demo@example.test>\r\nSubject: relayed\r\n\r\nrelay me\r\n"


def relay_outside(t, srv, ctx):
    s = S.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello()
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), H.MAIL_OK, "port 25 from outside: MAIL")
    t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), S.denied(REMOTE, True),
         "port 25 from outside before AUTH: 550 for a remote recipient")
    t.eq(s.cmd("RSET"), H.OK, "RSET")
    H.smtp_starttls(t, s, ctx, "port 25 from outside")
    s.hello()
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), H.MAIL_OK, "over TLS, before AUTH: MAIL")
    t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), S.denied(REMOTE, True),
         "over TLS, before AUTH: still 550")
    s.cmd("RSET")
    t.eq(s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.AUTH_OK, "AUTH PLAIN")
    out = s.transaction(USER, [REMOTE], MSG)
    t.eq(out[:3], [H.MAIL_OK, H.RCPT_OK, "354 End data with <CR><LF>.<CR><LF>"],
         "after AUTH: 250 for the remote recipient")
    m = re.match(r"250 2\.0\.0 Ok: queued as (\S+)$", out[3])
    t.ok(m, "after AUTH: queued", out[3])
    s.quit()
    if m:
        qid = m.group(1)
        env = os.path.join(srv.state_dir, "queue", "env", qid)
        t.ok(os.path.exists(env), "message in <state_dir>/queue/env/" + qid,
             repr(S.queue_files(srv)))
        if os.path.exists(env):
            e = S.envelope(srv, qid)
            t.eq([r[3].split()[0] for r in e["rcpt"]], [REMOTE], "queued for the remote recipient")
            t.eq(e.get("sender"), USER, "queued with the sender")
    t.ok(H.wait_log(srv, r"rcpt to=<%s> result=ok relay=auth$" % re.escape(REMOTE)),
         "log: rcpt result=ok relay=auth")
    t.eq(H.wait_log(srv, r"rcpt to=<%s> result=reject code=550 relay=denied$"
                    % re.escape(REMOTE), 2), 2,
         "log: rcpt result=reject code=550 relay=denied, in the clear and over TLS")


def submission(t, srv, ctx):
    s = S.Smtp(srv, "submission", T.OUTSIDER)
    s.hello()
    H.smtp_starttls(t, s, ctx, "submission from outside")
    s.hello()
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), H.AUTH_REQUIRED,
         "submission before AUTH: 530 5.7.0 at MAIL")
    t.eq(s.cmd("AUTH LOGIN " + H.b64(USER)), "334 UGFzc3dvcmQ6", "AUTH LOGIN")
    t.eq(s.cmd(H.b64(PASSWORD)), H.AUTH_OK, "AUTH LOGIN password")
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), H.MAIL_OK, "submission after AUTH: 250 at MAIL")
    t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), H.RCPT_OK, "submission after AUTH: remote RCPT")
    s.quit()

    s = S.Smtp(srv, "submission", T.CUSTOMER)
    s.hello()
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), H.AUTH_REQUIRED,
         "submission from a customer without AUTH: 530")
    s.quit()
    s = S.Smtp(srv, "submission", T.TRUSTED)
    s.hello()
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), H.MAIL_OK, "submission from trusted: 250")
    s.quit()


def plaintext_refused(t, srv, ctx):
    s = S.Smtp(srv, "smtp", T.OUTSIDER)
    t.eq(H.ehlo_keywords(s.hello()), BASE_EXT + ["STARTTLS"],
         "outside, in the clear: EHLO does not offer AUTH")
    t.eq(s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.AUTH_NEED_TLS,
         "outside, in the clear: AUTH PLAIN gets 538 5.7.11")
    t.eq(s.cmd("AUTH LOGIN"), H.AUTH_NEED_TLS,
         "outside, in the clear: AUTH LOGIN gets 538 5.7.11")
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), H.MAIL_OK, "MAIL")
    t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), S.denied(REMOTE, True), "so no relay")
    s.quit()
    t.ok(H.wait_log(srv, r"login result=refused reason=encryption-required service=smtp$"),
         "log: login result=refused reason=encryption-required")

    c = srv.connect("pop3", T.OUTSIDER)
    c.expect(r"\+OK")
    caps = H.pop_capa(c)
    t.ok("USER" not in caps and "SASL PLAIN LOGIN" not in caps and "STLS" in caps,
         "pop3 from outside in the clear: CAPA has STLS, no USER, no SASL", repr(caps))
    t.eq(c.command("USER " + USER), H.POP_PLAINTEXT, "pop3 USER from outside: -ERR [AUTH]")
    t.eq(c.command("PASS " + PASSWORD), H.POP_PLAINTEXT, "pop3 PASS from outside: -ERR [AUTH]")
    t.eq(c.command("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.POP_PLAINTEXT,
         "pop3 AUTH PLAIN from outside: -ERR [AUTH]")
    H.pop_stls(t, c, ctx, "pop3 from outside")
    t.eq(c.command("USER " + USER), H.POP_USER_OK, "USER after STLS")
    t.eq(c.command("PASS " + PASSWORD), H.POP_LOGIN_OK % 0, "PASS after STLS")
    t.eq(c.command("QUIT"), H.POP_BYE, "QUIT")
    c.close()

    # that POP3 login authorizes 127.0.0.2: submission needs no AUTH now
    s = S.Smtp(srv, "submission", T.OUTSIDER)
    s.hello()
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), H.MAIL_OK,
         "submission after a POP3 login from the same address: 250 at MAIL")
    t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), H.RCPT_OK, "and relays (POP-before-SMTP)")
    s.quit()


def plaintext_allowed(t, srv, what, smtp_port, pop_port, source, host="127.0.0.1"):
    """AUTH in the clear works (and is offered) for this client."""
    s = S.Smtp.__new__(S.Smtp)
    s.srv = srv
    s.c = T.Client(host, smtp_port, source)
    s.greeting = s.reply()
    t.eq(H.ehlo_keywords(s.hello()), BASE_EXT + ["STARTTLS"] + AUTH_EXT,
         what + ": EHLO offers AUTH in the clear")
    t.eq(s.cmd("AUTH PLAIN " + H.plain(USER, PASSWORD)), H.AUTH_OK,
         what + ": AUTH PLAIN in the clear")
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), H.MAIL_OK, what + ": MAIL")
    t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), H.RCPT_OK, what + ": relays")
    s.quit()
    c = T.Client(host, pop_port, source)
    c.expect(r"\+OK")
    caps = H.pop_capa(c)
    t.ok("USER" in caps and "SASL PLAIN LOGIN" in caps,
         what + ": POP3 CAPA offers USER and SASL", repr(caps))
    t.eq(c.command("USER " + USER), H.POP_USER_OK, what + ": POP3 USER in the clear")
    t.eq(c.command("PASS " + PASSWORD), H.POP_LOGIN_OK % 0, what + ": POP3 PASS")
    t.eq(c.command("QUIT"), H.POP_BYE, what + ": POP3 QUIT")
    c.close()


def main():
    t = T.Tap()
    try:
        srv = H.server(("smtp", "submission", "pop3"),
                       config={"relay.plaintext_auth": False},
                       extra={"smtp-own": {"service": "smtp", "address": T.OUTSIDER},
                              "pop3-own": {"service": "pop3", "address": T.OUTSIDER}})
    except T.SkipTest as e:
        T.skip_all(str(e))
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        ctx = H.client_context(srv)
        relay_outside(t, srv, ctx)
        submission(t, srv, ctx)
        plaintext_refused(t, srv, ctx)
        plaintext_allowed(t, srv, "customer 127.0.0.1", srv.ports["smtp"],
                          srv.ports["pop3"], T.CUSTOMER)
        plaintext_allowed(t, srv, "127.0.0.2 to the server's own 127.0.0.2",
                          srv.ports["smtp-own"], srv.ports["pop3-own"], T.OUTSIDER,
                          host=T.OUTSIDER)
        # the relay DB now authorizes 127.0.0.1 and 127.0.0.2: use another outsider
        srv.set("relay.plaintext_auth", True)
        srv.reload()
        t.eq(H.wait_log(srv, r"reload result=ok$"), 1, "SIGHUP: reload result=ok")
        plaintext_allowed(t, srv, "plaintext_auth = true, outside 127.0.0.4",
                          srv.ports["smtp"], srv.ports["pop3"], "127.0.0.4")
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
