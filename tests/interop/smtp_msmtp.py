#!/usr/bin/env python3
"""smtp_msmtp.py: msmtp (Debian's sendmail-like SMTP client) with a config file
of its own (host, port, no TLS, no auth, from, domain, source_ip) sends through
ispmaild: from outside to two local users the delivered bytes are the message
it read (LF line ends, a leading dot kept as written, 8-bit kept); a remote
recipient from outside fails with the relay policy's 550 (docs/PROTOCOL.md) in
msmtp's error; from a customer the 553 5.7.1, until the customer checks its
mail over POP3, after which the same msmtp run relays into the queue."""

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

USERS = ["demo@example.test", "two@example.org"]
# With Date: and Message-ID: present, msmtp adds no header of its own.
MESSAGE = (b"Date: Sat, 28 Nov 2026 06:00:00 +0000\nMessage-ID: <msmtp-1@remote.example>\n"
           b"From: Sender <sender@remote.example>\nTo: demo@example.test\n"
           b"Subject: msmtp \xe9\n\n.leading dot\n..two dots\n.\nna\xefve \xff\nlast line\n")


def write_conf(path, port, source, sender):
    with open(path, "w") as f:
        f.write("defaults\nlogfile -\n\naccount test\nhost 127.0.0.1\nport %d\n"
                "tls off\nauth off\nfrom %s\ndomain msmtp.example\nsource_ip %s\n"
                "timeout 10\n\naccount default : test\n" % (port, sender, source))
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def msmtp(conf, home, rcpts, message=MESSAGE):
    env = dict(os.environ, HOME=home)
    p = subprocess.run(["msmtp", "-C", conf, "-a", "test", "--"] + rcpts, input=message,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=60)
    return p.returncode, p.stdout.decode("latin-1")


def main():
    if not shutil.which("msmtp"):
        T.skip_all("msmtp not installed")
    t = T.Tap()
    tarpit = H.Tarpit()
    srv = T.Server(services=("smtp", "pop3"), config={"relay.smarthost": tarpit.smarthost()})
    home = tempfile.mkdtemp(prefix="ispmaild-msmtp-")
    outside = os.path.join(home, "outside.conf")
    customer = os.path.join(home, "customer.conf")
    try:
        for u in USERS:
            srv.add_user(u, "pw")
        srv.start()
        write_conf(outside, srv.ports["smtp"], T.OUTSIDER, "sender@remote.example")
        write_conf(customer, srv.ports["smtp"], T.CUSTOMER, "demo@example.test")

        had = dict((u, set(srv.files(u)["new"])) for u in USERS)
        rc, out = msmtp(outside, home, USERS)
        t.eq(rc, 0, "outside, two local users: msmtp exits 0")
        for u in USERS:
            new = [d for n, d in H.maildir_messages(srv, u) if n not in had[u]]
            t.eq(len(new), 1, "%s got one message" % u)
            if new:
                rp, rec, rest = H.split_trace(new[0])
                t.eq(rp, b"Return-Path: <sender@remote.example>", "%s: Return-Path" % u)
                t.ok(rec and re.match(H.received_re("msmtp.example", T.OUTSIDER, "ESMTP"), rec),
                     "%s: Received from msmtp.example ([127.0.0.2]) with ESMTP" % u, repr(rec))
                t.eq(rest, MESSAGE, "%s: the bytes msmtp read, byte for byte" % u)

        rc, out = msmtp(outside, home, ["user@remote.example"])
        t.ok(rc != 0, "outside, remote recipient: msmtp fails", "exit %d" % rc)
        t.ok(H.denied("user@remote.example", True) in out,
             "msmtp reports 550 5.7.1 relaying to <x> prohibited", out)

        rc, out = msmtp(customer, home, ["user@remote.example"])
        t.ok(rc != 0, "customer without POP: msmtp fails", "exit %d" % rc)
        t.ok(H.FIRST_POP_EHLO in out, "msmtp reports the 553 5.7.1", out)
        t.ok(H.queue_empty(srv), "nothing queued", repr(H.queue_files(srv)))

        H.pop_login(srv, USERS[0], "pw", T.CUSTOMER)
        rc, out = msmtp(customer, home, ["user@remote.example", USERS[1]])
        t.eq(rc, 0, "customer after POP: msmtp exits 0")
        q = H.queue_files(srv)
        t.eq(len(q["env"]), 1, "customer after POP: relayed into the queue")
        if q["env"]:
            env = H.envelope(srv, q["env"][0])
            t.eq(env.get("sender"), "demo@example.test", "queued: sender from msmtp's 'from'")
            t.eq([r[3] for r in env["rcpt"]], ["user@remote.example"],
                 "queued: only the remote recipient")
            rp, rec, rest = H.split_trace(H.queue_data(srv, env["data"]), local=False)
            t.eq(rest, MESSAGE, "queued: the bytes msmtp read")
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError, subprocess.SubprocessError) as e:
        t.ok(False, "ran to the end", "%s: %s" % (type(e).__name__, e))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    code = srv.finish(t)
    tarpit.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
