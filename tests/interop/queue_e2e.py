#!/usr/bin/env python3
"""queue_e2e.py: the customer's day, end to end, with Debian's real
clients (docs/PROTOCOL.md: POP-before-SMTP, the queue): a customer at
127.0.0.1 first tries to send with msmtp and gets 553 "first check your
mail"; checks mail with mpop (the message in the Maildir arrives); then
sends with msmtp (plain SMTP, no AUTH) to a remote recipient. The sink
behind relay.smarthost receives the message with the customer's envelope,
our Received line on top (from msmtp's EHLO name and [127.0.0.1]) and
msmtp's bytes below it, and the queue is empty."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402

USER = "demo@example.test"
FRIEND = "friend@remote.test"
INBOX_MSG = b"From: bob@example.org\nTo: demo@example.test\nSubject: hi\n\nCheck this.\n"
# Every header msmtp would add when missing is there, so it sends these bytes.
OUT_MSG = (b"From: Demo <demo@example.test>\n"
           b"To: <friend@remote.test>\n"
           b"Subject: sent with msmtp\n"
           b"Date: Sat, 01 Jun 2024 12:00:00 +0000\n"
           b"Message-ID: <e2e.1@example.test>\n"
           b"\n"
           b"Hello from the customer.\n"
           b".a line with a leading dot\n"
           b".\n"
           b"caf\xc3\xa9\n")


def write_rc(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def msmtp(home, rc):
    env = dict(os.environ, HOME=home, TMPDIR=home)
    return subprocess.run(["msmtp", "-C", rc, "-a", "test", FRIEND], input=OUT_MSG,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=60)


def main(t, fx):
    for tool in ("mpop", "msmtp"):
        if not shutil.which(tool):
            raise T.SkipTest("%s not installed" % tool)
    home = tempfile.mkdtemp(prefix="ispmaild-e2e-")
    fx.add(_Rmtree(home))
    sink = fx.add(Sink())
    srv = fx.server({"relay.smarthost": sink.smarthost()}, users=(USER,))
    srv.deliver(USER, INBOX_MSG)
    srv.start()

    inbox = os.path.join(home, "inbox")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(inbox, sub))
    mpoprc = os.path.join(home, "mpoprc")
    write_rc(mpoprc, "account test\nhost 127.0.0.1\nport %d\ntls off\nauth user\n"
             "user %s\npasswordeval echo %s\nkeep off\nreceived_header off\n"
             "uidls_file %s/uidls\ndelivery maildir %s\n"
             % (srv.ports["pop3"], USER, O.PASSWORD, home, inbox))
    msmtprc = os.path.join(home, "msmtprc")
    write_rc(msmtprc, "account test\nhost 127.0.0.1\nport %d\ntls off\nauth off\n"
             "from %s\ndomain customer.example\nlogfile %s/msmtp.log\n"
             % (srv.ports["smtp"], USER, home))

    p = msmtp(home, msmtprc)
    out = p.stdout.decode("utf-8", "replace")
    t.ok(p.returncode != 0 and "553" in out and "first check your mail" in out,
         "msmtp before POP: refused with 553 first check your mail", out)

    env = dict(os.environ, HOME=home, TMPDIR=home)
    p = subprocess.run(["mpop", "-C", mpoprc, "test"], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    t.ok(p.returncode == 0, "mpop exits 0", p.stdout.decode("utf-8", "replace"))
    got = []
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(inbox, sub)):
            with open(os.path.join(inbox, sub, name), "rb") as f:
                got.append(f.read())
    t.eq(got, [INBOX_MSG], "mpop fetched the message")

    p = msmtp(home, msmtprc)
    t.ok(p.returncode == 0, "msmtp after POP: exit 0", p.stdout.decode("utf-8", "replace"))
    msgs = sink.wait_messages(1, timeout=10)
    t.eq(len(msgs), 1, "the sink received the message")
    if msgs:
        m = msgs[0]
        O.check_relayed(t, m, OUT_MSG, USER, [FRIEND], "msmtp", helo="customer.example",
                        ip=T.CUSTOMER)
        mt = re.match(O.RECEIVED_RE, m.data)
        t.ok(mt is not None and mt.group("proto") == b"ESMTP" and
             mt.group("for") == FRIEND.encode(),
             "Received: with ESMTP, for <%s>" % FRIEND, repr(m.data[:300]))
    t.ok(O.wait_queue_empty(srv, 5), "the queue is empty")
    t.eq(O.bounces(srv, USER), [], "no bounce")


class _Rmtree:
    def __init__(self, path):
        self.path = path

    def close(self):
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(self.path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(O.run(main))
