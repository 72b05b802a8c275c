#!/usr/bin/env python3
"""auth_pop3.py: POP3 AUTH PLAIN and LOGIN (RFC 5034) as raw dialogues:
"AUTH" alone lists the mechanisms, CAPA says "SASL PLAIN LOGIN" (and STLS
before TLS), initial response and continuation, "*" cancels, bad base64, an
unknown mechanism, "=" for an empty response; auth_failures = 3: the third
failure says so and closes. Every successful login by AUTH writes the client's
address and the user into the relay DB (docs/PROTOCOL.md): db_dump -p and
ispmailctl relay list show it, and SMTP then relays for that address."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "Pop-Pa55"
WRONG = "wrong-one"
MSG = b"Subject: hi\n\nhello\n"
CAPA_CLEAR = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS",
              "IMPLEMENTATION ispmaild"]
CAPA_TLS = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER",
            "SASL PLAIN LOGIN", "IMPLEMENTATION ispmaild"]
LOGGED_IN = H.POP_LOGIN_OK % 1


def pop3s(srv, ctx, source=T.OUTSIDER):
    c = srv.connect("pop3s", source)
    c.starttls(ctx, "localhost")
    c.expect(r"\+OK %s ispmaild ready\.$" % re.escape(T.HOSTNAME))
    return c


def stls(srv, ctx, source=T.OUTSIDER):
    c = srv.connect("pop3", source)
    c.expect(r"\+OK")
    if c.command("STLS") != H.POP_STLS:
        raise T.ProtocolError("no STLS")
    c.starttls(ctx, "localhost")
    return c


def capabilities(t, srv, ctx):
    c = srv.connect("pop3", T.OUTSIDER)
    c.expect(r"\+OK")
    t.eq(H.pop_capa(c), CAPA_CLEAR, "CAPA from outside in the clear: STLS, no USER/SASL")
    H.pop_stls(t, c, ctx, "pop3")
    t.eq(H.pop_capa(c), CAPA_TLS, "CAPA after STLS: USER and SASL PLAIN LOGIN, no STLS")
    t.eq(c.command("STLS"), H.POP_TLS_ACTIVE, "STLS again")
    c.sendline("AUTH")
    t.eq(c.readline(), H.POP_AUTH_LIST, "AUTH alone")
    t.eq(c.read_multiline(), ["PLAIN", "LOGIN"], "AUTH alone lists PLAIN and LOGIN")
    t.eq(c.command("QUIT"), H.POP_BYE, "QUIT")
    c.close()
    c = pop3s(srv, ctx)
    t.eq(H.pop_capa(c), CAPA_TLS, "CAPA on pop3s")
    c.command("QUIT")
    c.close()


def logins(t, srv, ctx):
    rows = [
        ("AUTH PLAIN with initial response",
         [("AUTH PLAIN " + H.plain(USER, PASSWORD), LOGGED_IN)]),
        ("AUTH PLAIN with continuation",
         [("AUTH PLAIN", "+ "), (H.plain(USER, PASSWORD), LOGGED_IN)]),
        ("AUTH PLAIN, authzid = user, bare local part",
         [("auth plain " + H.plain("demo", PASSWORD, "demo"), LOGGED_IN)]),
        ("AUTH LOGIN with continuation",
         [("AUTH LOGIN", "+ VXNlcm5hbWU6"), (H.b64(USER), "+ UGFzc3dvcmQ6"),
          (H.b64(PASSWORD), LOGGED_IN)]),
        ("AUTH LOGIN with initial response",
         [("AUTH LOGIN " + H.b64(USER), "+ UGFzc3dvcmQ6"), (H.b64(PASSWORD), LOGGED_IN)]),
    ]
    for what, steps in rows:
        c = pop3s(srv, ctx)
        got = [c.command(line) for line, _ in steps]
        t.eq(got, [w for _, w in steps], "pop3s: " + what)
        t.eq(c.command("STAT"), "+OK 1 %d" % len(T.crlf(MSG)), what + ": STAT")
        t.eq(c.command("AUTH PLAIN " + H.plain(USER, PASSWORD)),
             "-ERR Command not valid in this state.", what + ": AUTH after login")
        t.eq(c.command("QUIT"), H.POP_BYE, what + ": QUIT")
        c.close()


def refusals(t, srv, ctx):
    rows = [
        ("* cancels PLAIN", [("AUTH PLAIN", "+ "), ("*", H.POP_AUTH_CANCEL)]),
        ("* cancels LOGIN at the user name",
         [("AUTH LOGIN", "+ VXNlcm5hbWU6"), ("*", H.POP_AUTH_CANCEL)]),
        ("* cancels LOGIN at the password",
         [("AUTH LOGIN " + H.b64(USER), "+ UGFzc3dvcmQ6"), ("*", H.POP_AUTH_CANCEL)]),
        ("bad base64 initial response", [("AUTH PLAIN ***", H.POP_AUTH_BASE64)]),
        ("bad base64 continuation",
         [("AUTH PLAIN", "+ "), ("ZGVt=bw==", H.POP_AUTH_BASE64)]),
        ("bad base64 LOGIN user name",
         [("AUTH LOGIN", "+ VXNlcm5hbWU6"), ("ZGVtbw", H.POP_AUTH_BASE64)]),
        ("unknown mechanism", [("AUTH CRAM-MD5", H.POP_AUTH_MECH)]),
    ]
    c = pop3s(srv, ctx)
    for what, steps in rows:
        got = [c.command(line) for line, _ in steps]
        t.eq(got, [w for _, w in steps], what)
    t.eq(c.command("AUTH PLAIN " + H.plain(USER, PASSWORD)), LOGGED_IN,
         "after cancels and errors AUTH PLAIN still logs in")
    c.command("QUIT")
    c.close()


def failures(t, srv, ctx):
    c = pop3s(srv, ctx)
    t.eq(c.command("AUTH PLAIN " + H.plain(USER, WRONG)), H.POP_AUTH_FAILED,
         "wrong password by AUTH PLAIN")
    t.eq(c.command("AUTH PLAIN ="), H.POP_AUTH_FAILED, "empty PLAIN response \"=\"")
    c.command("AUTH LOGIN " + H.b64("nobody@example.test"))
    t.eq(c.command(H.b64(WRONG)), H.POP_AUTH_CLOSE,
         "third failure (unknown user by LOGIN): -ERR [AUTH] ... closing.")
    t.eq(c.wait_close(timeout=5), b"", "then the connection closes")
    c.close()


def relay_db(t, srv, ctx):
    rows = srv.relay_rows()
    t.ok(T.OUTSIDER in rows, "relay.db has 127.0.0.2 after AUTH logins on pop3s", repr(rows))
    rc, out, err = srv.ctl_run("relay", "del", T.OUTSIDER)
    t.eq((rc, srv.relay_rows().get(T.OUTSIDER)), (0, None),
         "ispmailctl relay del 127.0.0.2")

    # AUTH PLAIN over STLS from 127.0.0.2
    before = int(time.time())
    c = stls(srv, ctx, T.OUTSIDER)
    t.eq(c.command("AUTH PLAIN " + H.plain(USER, PASSWORD)), LOGGED_IN,
         "AUTH PLAIN after STLS from 127.0.0.2")
    c.command("QUIT")
    c.close()
    # AUTH LOGIN on pop3s from 127.0.0.4
    c = pop3s(srv, ctx, "127.0.0.4")
    c.command("AUTH LOGIN " + H.b64(USER))
    t.eq(c.command(H.b64(PASSWORD)), LOGGED_IN, "AUTH LOGIN on pop3s from 127.0.0.4")
    c.command("QUIT")
    c.close()
    rows = srv.relay_rows()
    for ip in (T.OUTSIDER, "127.0.0.4"):
        v = rows.get(ip, "")
        m = re.match(r"(\d+) (\S+)$", v)
        t.ok(m and m.group(2) == USER and int(m.group(1)) >= before,
             "db_dump -p: %s -> \"<unix seconds> %s\"" % (ip, USER), repr(rows))
    listed = srv.relay_list()
    for ip in (T.OUTSIDER, "127.0.0.4"):
        row = listed.get(ip)
        t.ok(row is not None and row[2] == USER and
             re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row[0]),
             "ispmailctl relay list: %s with %s" % (ip, USER), repr(listed))

    s = S.Smtp(srv, "smtp", "127.0.0.4")
    s.hello()
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), H.MAIL_OK, "SMTP from 127.0.0.4: MAIL")
    t.eq(s.cmd("RCPT TO:<x@remote.example>"), H.RCPT_OK,
         "SMTP from 127.0.0.4 relays after its POP3 AUTH (POP-before-SMTP)")
    s.quit()


def main():
    t = T.Tap()
    try:
        srv = H.server(("pop3", "pop3s", "smtp"), config={"limits.auth_failures": 3})
    except T.SkipTest as e:
        T.skip_all(str(e))
    try:
        srv.add_user(USER, PASSWORD)
        srv.deliver(USER, MSG)
        srv.start()
        ctx = H.client_context(srv)
        capabilities(t, srv, ctx)
        logins(t, srv, ctx)
        refusals(t, srv, ctx)
        failures(t, srv, ctx)
        relay_db(t, srv, ctx)
        log = srv.log()
        t.ok(re.search(r"login user=demo@example\.test result=ok method=PLAIN messages=1$",
                       log, re.M), "log: login result=ok method=PLAIN")
        t.ok(re.search(r"login user=demo@example\.test result=ok method=LOGIN messages=1$",
                       log, re.M), "log: login result=ok method=LOGIN")
        t.ok(H.wait_log(srv, r"close reason=auth-failures count=3$"),
             "log: close reason=auth-failures count=3")
        secrets = (PASSWORD, WRONG, H.b64(PASSWORD), H.b64(WRONG),
                   H.plain(USER, PASSWORD), H.plain(USER, WRONG))
        t.eq([x for x in secrets if x in log], [],
             "log never holds a password, plain or base64 (AUTH PLAIN blobs too)")
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
