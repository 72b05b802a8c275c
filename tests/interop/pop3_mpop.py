#!/usr/bin/env python3
"""pop3_mpop.py: mpop (Debian's POP3 client) fetches three messages over plain
POP3 with USER/PASS, delivers them into a local Maildir and deletes them on the
server. The delivered bytes must equal what was stored, and a second run must
find nothing (docs/PROTOCOL.md: exact RETR bytes, DELE at QUIT)."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

USER, PASSWORD = "demo@example.test", "secret"

MESSAGES = [
    b"From: alice@example.org\nTo: demo@example.test\nSubject: one\n\nHello.\n",
    b"From: bob@example.org\nSubject: dots\n\n.\n..\n.leading\nFrom the start\nend\n",
    b"From: carol@example.org\nSubject: 8bit\n\n"
    + b"".join(b"l%04d caf\xc3\xa9 \xff.\n" % i for i in range(2000)),
]


def run_mpop(rc, home):
    env = dict(os.environ, HOME=home, TMPDIR=home)
    return subprocess.run(["mpop", "-C", rc, "test"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=120)


def main():
    if not shutil.which("mpop"):
        T.skip_all("mpop not installed")
    t = T.Tap()
    srv = T.Server(services=("pop3",))
    home = tempfile.mkdtemp(prefix="ispmaild-mpop-")
    try:
        srv.add_user(USER, PASSWORD)
        for m in MESSAGES:
            srv.deliver(USER, m)
        srv.start()
        inbox = os.path.join(home, "inbox")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(inbox, sub))
        rc = os.path.join(home, "mpoprc")
        with open(rc, "w") as f:
            f.write("defaults\n"
                    "account test\n"
                    "host 127.0.0.1\n"
                    "port %d\n"
                    "tls off\n"
                    "auth user\n"
                    "user %s\n"
                    "passwordeval echo %s\n"
                    "keep off\n"
                    "received_header off\n"
                    "uidls_file %s/uidls\n"
                    "delivery maildir %s\n"
                    % (srv.ports["pop3"], USER, PASSWORD, home, inbox))
        os.chmod(rc, 0o600)

        p = run_mpop(rc, home)
        out = p.stdout.decode("utf-8", "replace")
        t.ok(p.returncode == 0, "mpop exits 0", out)
        got = []
        for sub in ("new", "cur"):
            for name in sorted(os.listdir(os.path.join(inbox, sub))):
                with open(os.path.join(inbox, sub, name), "rb") as f:
                    got.append(f.read())
        t.eq(len(got), 3, "three messages delivered")
        for i, m in enumerate(MESSAGES):
            t.ok(m in got,   # mpop stores LF line ends, as it received them
                 "message %d delivered byte for byte" % (i + 1),
                 "want %r...\ngot starts: %r" % (m[:80], [g[:80] for g in got]))
        left = srv.files(USER)
        t.eq(left["new"] + left["cur"], [], "server Maildir emptied")
        rows = srv.relay_rows()
        t.ok(rows.get(T.CUSTOMER, "").endswith(" " + USER),
             "relay.db row for 127.0.0.1", repr(rows))

        p = run_mpop(rc, home)
        out = p.stdout.decode("utf-8", "replace")
        t.ok(p.returncode == 0, "second mpop run exits 0", out)
        t.eq(len(os.listdir(os.path.join(inbox, "new"))) +
             len(os.listdir(os.path.join(inbox, "cur"))), 3,
             "second run fetches nothing")
        t.ok(srv.running(), "daemon still running")
    except T.SkipTest as e:
        srv.cleanup()
        shutil.rmtree(home, ignore_errors=True)
        T.skip_all(str(e))
    except (T.HarnessError, OSError, subprocess.SubprocessError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    status = srv.finish(t)
    if not os.environ.get("KEEP_TMP"):
        shutil.rmtree(home, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
