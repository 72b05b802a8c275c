#!/usr/bin/env python3
"""pop3_stls.py: POP3 over TLS (RFC 2595 STLS, RFC 8314 implicit TLS on pop3s),
from an outside address (127.0.0.2) where plaintext_auth = false refuses a
password in the clear (ispmaild.conf(5)): CAPA offers STLS only before TLS;
after STLS the login works and authorizes the address for relaying; input
pipelined behind STLS is never executed (docs/PROTOCOL.md); STLS is refused
inside TLS and after login."""

import os
import select
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

USER, PASSWORD = "demo@example.test", "secret"
MSG = b"Subject: over tls\n\n.dot\nbody\n"


def capa(c):
    c.command("CAPA", r"\+OK")
    return c.read_multiline()


def login(t, c, what):
    t.ok(c.command("USER " + USER, r"").startswith("+OK"), what + ": USER")
    r = c.command("PASS " + PASSWORD)
    t.ok(r and r.startswith("+OK"), what + ": PASS", repr(r))


def main():
    t = T.Tap()
    try:
        srv = T.Server(services=("pop3", "pop3s"), tls=True)
    except T.SkipTest as e:
        T.skip_all(str(e))
    try:
        srv.add_user(USER, PASSWORD)
        srv.deliver(USER, MSG)
        srv.start()
        ctx = srv.tls_context()

        # STLS from outside
        c = srv.connect("pop3", T.OUTSIDER)
        c.expect(r"\+OK")
        caps = capa(c)
        t.ok("STLS" in caps, "CAPA before TLS lists STLS", repr(caps))
        r = c.command("USER " + USER)
        if r.startswith("+OK"):
            r = c.command("PASS " + PASSWORD)
        t.ok(r.startswith("-ERR [AUTH]"), "password in the clear from outside refused", r)
        r = c.command("STLS")
        if not t.ok(r.startswith("+OK"), "STLS", r):
            raise T.ProtocolError("no STLS, the rest needs it")
        c.starttls(ctx)
        t.ok(c.tls_version() in ("TLSv1.2", "TLSv1.3"), "TLS 1.2 or newer",
             c.tls_version())
        caps = capa(c)
        t.ok("STLS" not in caps, "CAPA inside TLS does not list STLS", repr(caps))
        t.ok("USER" in caps, "CAPA inside TLS lists USER", repr(caps))
        t.ok(c.command("STLS").startswith("-ERR"), "STLS inside TLS: -ERR")
        login(t, c, "inside TLS")
        t.ok(c.command("STAT").startswith("+OK 1 %d" % len(T.crlf(MSG))), "STAT")
        c.sendline("RETR 1")
        c.expect(r"\+OK")
        t.eq(c.read_multiline_raw(), T.pop3_wire(MSG), "RETR over TLS")
        t.ok(c.command("QUIT").startswith("+OK"), "QUIT")
        c.close()
        rows = srv.relay_rows()
        t.ok(rows.get(T.OUTSIDER, "").endswith(" " + USER),
             "relay.db row for 127.0.0.2 after a login over TLS", repr(rows))

        # STLS after login: only in the AUTHORIZATION state (RFC 2595 4)
        c = srv.connect("pop3", T.CUSTOMER)
        c.expect(r"\+OK")
        login(t, c, "plain from a customer")
        t.ok(c.command("STLS").startswith("-ERR"), "STLS after login: -ERR")
        c.command("QUIT")
        c.close()

        # Commands pipelined behind STLS are discarded, never executed
        c = srv.connect("pop3", T.OUTSIDER)
        c.expect(r"\+OK")
        c.send(b"STLS\r\nUSER " + USER.encode() + b"\r\nPASS " + PASSWORD.encode()
               + b"\r\nDELE 1\r\nQUIT\r\n")
        r = c.readline()
        t.ok(r is not None and r.startswith("+OK"), "STLS with more input behind it", repr(r))
        extra = None
        time.sleep(0.5)
        r, _, _ = select.select([c.sock], [], [], 0)
        if c.buf or r:
            try:
                extra = c.buf + c.sock.recv(4096, socket.MSG_PEEK)
            except OSError:
                extra = c.buf
            extra = extra or None     # b"": the server closed, which is fine
        if extra is None:
            try:
                c.starttls(ctx)
                try:
                    extra = c.readline(timeout=2)
                except T.ProtocolError:
                    extra = None      # silence: nothing was executed
            except (ssl.SSLError, OSError):
                pass                  # closing the connection is fine too
        t.ok(extra is None, "nothing answered from the pipelined input", repr(extra))
        c.close()
        t.eq(len(srv.files(USER)["new"] + srv.files(USER)["cur"]), 1,
             "the pipelined DELE was not executed")

        # pop3s: TLS from the first byte, no STLS offered
        c = srv.connect("pop3s", T.OUTSIDER, tls=True)
        t.ok(c.readline().startswith("+OK"), "pop3s greeting over TLS")
        caps = capa(c)
        t.ok("STLS" not in caps, "pop3s CAPA does not list STLS", repr(caps))
        login(t, c, "pop3s from outside")
        t.ok(c.command("QUIT").startswith("+OK"), "pop3s QUIT")
        c.close()
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError, AttributeError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
