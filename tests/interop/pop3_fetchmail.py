#!/usr/bin/env python3
"""pop3_fetchmail.py: fetchmail fetches three messages over plain POP3 with
USER/PASS and hands each to an MDA that writes it to a file; with "nokeep"
the server's Maildir must then be empty. fetchmail prepends its own
Received: header; the rest must be the stored bytes."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

USER, PASSWORD = "demo@example.test", "secret"

MESSAGES = [
    b"From: alice@example.org\nTo: demo@example.test\nSubject: one\n\nHello.\n",
    b"From: bob@example.org\nSubject: dots\n\n.\n..\n.leading\nend\n",
    b"From: carol@example.org\nSubject: 8bit\n\n"
    + b"".join(b"l%04d caf\xc3\xa9 \xff.\n" % i for i in range(2000)),
]


def strip_received(data):
    """The message without the Received: header (and its continuation
    lines) that fetchmail puts on top."""
    return re.sub(rb"\AReceived:[^\n]*\n(?:[ \t][^\n]*\n)*", b"", data)


def run_fetchmail(rc, home):
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    return subprocess.run(["fetchmail", "-f", rc, "--nosyslog", "-v",
                           "--idfile", os.path.join(home, "fetchids"),
                           "--pidfile", os.path.join(home, "fetchmail.pid")],
                          env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=120)


def main():
    if not shutil.which("fetchmail"):
        T.skip_all("fetchmail not installed")
    t = T.Tap()
    srv = T.Server(services=("pop3",))
    home = tempfile.mkdtemp(prefix="ispmaild-fetchmail-")
    try:
        srv.add_user(USER, PASSWORD)
        for m in MESSAGES:
            srv.deliver(USER, m)
        srv.start()
        out_dir = os.path.join(home, "out")
        os.mkdir(out_dir)
        rc = os.path.join(home, "fetchmailrc")
        with open(rc, "w") as f:
            f.write('set no bouncemail\n'
                    'poll 127.0.0.1 protocol pop3 port %d auth password\n'
                    '  user "%s" there with password "%s" is "%s" here\n'
                    '  fetchall nokeep no rewrite no mimedecode sslproto ""\n'
                    '  mda "/bin/sh -c \'cat > %s/msg.$$\'"\n'
                    % (srv.ports["pop3"], USER, PASSWORD,
                       os.environ.get("USER", "root"), out_dir))
        os.chmod(rc, 0o600)   # fetchmail refuses an rc file others can read

        p = run_fetchmail(rc, home)
        out = p.stdout.decode("utf-8", "replace")
        t.ok(p.returncode == 0, "fetchmail exits 0", out)
        got = []
        for name in sorted(os.listdir(out_dir)):
            with open(os.path.join(out_dir, name), "rb") as f:
                got.append(strip_received(f.read()))
        t.eq(len(got), 3, "three messages handed to the MDA")
        for i, m in enumerate(MESSAGES):
            t.ok(m in got, "message %d delivered byte for byte" % (i + 1),
                 "want %r...\ngot starts: %r" % (m[:80], [g[:80] for g in got]))
        left = srv.files(USER)
        t.eq(left["new"] + left["cur"], [], "server Maildir emptied")
        rows = srv.relay_rows()
        t.ok(rows.get(T.CUSTOMER, "").endswith(" " + USER),
             "relay.db row for 127.0.0.1", repr(rows))

        p = run_fetchmail(rc, home)
        out = p.stdout.decode("utf-8", "replace")
        # fetchmail exits 1 when there was no mail
        t.ok(p.returncode == 1, "second run: no mail (exit 1)", out)
        t.eq(len(os.listdir(out_dir)), 3, "second run delivers nothing")
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
