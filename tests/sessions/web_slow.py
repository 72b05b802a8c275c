#!/usr/bin/env python3
"""web_slow.py: a slow HTTP client is cut off like a slow SMTP client, and
never holds up the mail services (issue 17 "Performance"; ispmaild.conf(5)
limits.command_timeout; docs/ADMIN.md section 17), against a real daemon
with SMTP, POP3 and the web:
- ten web clients from 127.0.0.2 that send half a request and stop: while
  they hang, SMTP (a message taken, 250) and POP3 (a login, STAT) from
  127.0.0.1 are answered, and the ten are still open afterwards (they were
  really hanging); each answer is asserted, not how long it took;
- with limits.command_timeout = 3 (reloaded), a client that sends half a
  request and stops gets 408 and is closed, logged
  "close reason=timeout service=web";
- a client that drips one header byte a second (each read well within the
  timeout) is cut off too: the whole request must arrive within
  command_timeout (at most 30 s), as a whole SMTP command line must; it is
  cut long before it runs out of bytes to drip (20)."""

import os
import select
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402

USER, PASSWORD = "alice@example.test", "alice-secret-1"
HALF = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"
DRIP = 20


def web_client(srv, source=T.OUTSIDER):
    """A TLS connection to the web listener, handshake done."""
    ctx = ssl.create_default_context(cafile=srv.cert)
    ctx.check_hostname = False
    sock = socket.create_connection(("127.0.0.1", srv.ports["web"]), timeout=30 * T.PATIENCE,
                                    source_address=(source, 0))
    return ctx.wrap_socket(sock)


def closed_or_answered(s):
    """Without waiting: has the server answered or closed this connection?
    (Not select(): TLS 1.3 session tickets make the socket readable.)"""
    s.setblocking(False)
    try:
        data = s.recv(1)
        if data:
            s.unread = getattr(s, "unread", b"") + data
        return True
    except ssl.SSLWantReadError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)
        s.settimeout(30 * T.PATIENCE)


def read_all(s):
    """Everything the server sends until it closes (or the socket's timeout)."""
    out = getattr(s, "unread", b"")
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    return out.decode("utf-8", "replace")


def mail_goes_on(t, srv, slow):
    s = H.Smtp(srv, "smtp", T.TRUSTED)
    try:
        t.ok(s.greeting[-1].startswith("220"), "while 10 web clients hang: SMTP greets 220",
             s.greeting)
        t.ok(s.hello()[-1].startswith("250"), "SMTP EHLO 250")
        out = s.transaction("someone@remote.test", [USER],
                            b"Subject: while the web waits\r\n\r\nHello.\r\n")
        t.ok(out[-1].startswith("250"), "and a message is taken (250)", out)
    finally:
        s.quit()
    c = srv.connect("pop3", T.CUSTOMER)
    c.expect(r"\+OK")
    c.command("USER " + USER, r"\+OK")
    t.ok(c.command("PASS " + PASSWORD).startswith("+OK"), "POP3 login +OK")
    t.ok(c.command("STAT").startswith("+OK 1 "), "POP3 STAT: the message just taken")
    c.command("QUIT")
    c.close()
    still = sum(1 for x in slow if not closed_or_answered(x))
    t.eq(still, 10, "the 10 web clients are still hanging (not answered, not closed)")


def half_request(t, srv):
    mark = len(srv.log())
    s = web_client(srv)
    s.sendall(HALF)
    text = read_all(s)
    s.close()
    t.ok(text.startswith("HTTP/1.1 408 "), "half a request, then silence: 408", text[:100])
    t.ok(O.wait_log(srv, r"close reason=timeout service=web", count=1 + srv.log().count(
        "close reason=timeout service=web", 0, mark)),
         "log: close reason=timeout service=web")


def dripping(t, srv):
    s = web_client(srv)
    s.sendall(HALF + b"\r\nX-Drip: ")
    sent = 0
    while sent < DRIP and not closed_or_answered(s):
        try:
            s.sendall(b"d")
        except OSError:
            break
        sent += 1
        time.sleep(1)
    text = read_all(s) if closed_or_answered(s) else ""
    s.close()
    t.ok(text.startswith("HTTP/1.1 408 "),
         "a client dripping a header byte a second is cut off with 408 before it "
         "has dripped %d (it dripped %d)" % (DRIP, sent), text[:100])


def main(t, fx):
    srv = T.Server(services=("smtp", "pop3", "web"), tls=True)
    fx.srv = srv
    srv.add_user(USER, PASSWORD)
    srv.start()
    slow = []
    try:
        for _ in range(10):
            s = web_client(srv)
            s.sendall(HALF)
            slow.append(s)
        mail_goes_on(t, srv, slow)
    finally:
        for s in slow:
            s.close()
    srv.set("limits.command_timeout", 3)
    srv.reload()
    t.ok(O.wait_log(srv, r"reload result=ok$"), "reload with limits.command_timeout = 3")
    half_request(t, srv)
    dripping(t, srv)


if __name__ == "__main__":
    sys.exit(O.run(main))
