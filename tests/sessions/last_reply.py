#!/usr/bin/env python3
"""last_reply.py: the server's last reply reaches a client that is still
sending. When a session ends by the server's decision (too many junk
commands, the session time limit) while the client's next commands sit
unread in the server's socket, a plain close(2) answers them with a TCP
reset, and the reset makes the client's kernel throw away the reply it
had not read yet: the client sees "connection reset" instead of the 421
or -ERR that says why. The daemon shuts its side down and drains what is
pending first (a lingering close, as Apache and Postfix do), so the reply
arrives, then the end of the connection.

The client here sends far more than the server reads before deciding
(64 KiB of NOOPs at once), waits until the server has logged the close,
and only then reads: it must find the final reply and an orderly end."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import harden_helpers as X  # noqa: E402

USER, PASSWORD = "a@example.test", "secret"
LIMIT = 5
SMTP_421 = b"421 " + T.HOSTNAME.encode() + b" Error: too many junk commands"  # HELO: no enhanced codes
POP3_ERR = b"-ERR Too many commands without retrieval, closing."
BURST = 65536


def read_all(sock, ceiling=20):
    """Everything until the end of the connection; (bytes, how it ended)."""
    got = b""
    sock.settimeout(ceiling)
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return got, "reset"
        except socket.timeout:
            return got, "timeout"
        if not data:
            return got, "eof"
        got += data


def wait_log(srv, needle, before, ceiling=30):
    """Wait until the daemon's log holds needle more often than before."""
    end = time.monotonic() + ceiling
    while time.monotonic() < end:
        if srv.log().count(needle) > before:
            return True
        time.sleep(0.1)
    return False


def burst_then_read(t, fx, srv, service, greeting, login, final, what):
    needle = "close reason=junk-commands"
    before = srv.log().count(needle)
    c = srv.connect(service, T.OUTSIDER if service == "smtp" else T.CUSTOMER)
    c.expect(greeting)
    for cmd, want in login:
        c.command(cmd, want)
    line = b"NOOP\r\n"
    try:
        c.sock.sendall(line * (BURST // len(line)))
    except OSError:
        pass
    t.ok(wait_log(srv, needle, before), what + ": the server closed the session (logged)")
    got, end = read_all(c.sock)
    last = got.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1]
    t.eq(last, final, what + ": the final reply arrives after a burst the server never read")
    t.eq(end, "eof", what + ": an orderly end, not a reset")
    c.close()


def main():
    fx = X.Frame()
    t = fx.t
    srv = fx.server(services=("smtp", "pop3"), config={
        "limits": {"junk_command_limit": LIMIT}})
    srv.add_user(USER, PASSWORD)
    srv.start()
    fx.part(burst_then_read, srv, "smtp", r"^220 ", [("HELO client.example", r"^250 ")],
            SMTP_421, "SMTP")
    fx.part(burst_then_read, srv, "pop3", r"^\+OK", [("USER " + USER, r"^\+OK"),
                                                     ("PASS " + PASSWORD, r"^\+OK")],
            POP3_ERR, "POP3")
    return fx.done()


if __name__ == "__main__":
    sys.exit(main())
