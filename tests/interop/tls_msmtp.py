#!/usr/bin/env python3
"""tls_msmtp.py: msmtp (GnuTLS, GNU SASL) over TLS from outside
(127.0.0.2), trusting only the test CA (tls_trust_file): submission with
STARTTLS (tls_starttls on) and AUTH PLAIN, smtps with implicit TLS
(tls_starttls off) and AUTH LOGIN, port 25 with STARTTLS relaying a remote
recipient into the queue. The delivered bytes are the message msmtp read,
after a Received line saying ESMTPSA and the version and cipher the server
logged for that session. A client that trusts another CA refuses the
certificate and sends nothing; a wrong password fails with 535."""

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "msmtp-pass"
REMOTE = "friend@remote.example"
# With Date: and Message-ID: present, msmtp adds no header of its own.
MESSAGE = (b"Date: Sat, 28 Nov 2026 06:00:00 +0000\nMessage-ID: <msmtp-tls@example.test>\n"
           b"From: Demo <demo@example.test>\nTo: demo@example.test\n"
           b"Subject: msmtp over TLS \xe9\n\n.leading dot\n..two dots\nlast line\n")


def write_conf(path, port, starttls, mech, trust, password=PASSWORD):
    with open(path, "w") as f:
        f.write("defaults\nlogfile -\n\naccount test\nhost 127.0.0.1\nport %d\n"
                "tls on\ntls_starttls %s\ntls_trust_file %s\n"
                "auth %s\nuser %s\npassword %s\n"
                "from %s\ndomain msmtp.example\nsource_ip %s\ntimeout 10\n"
                % (port, "on" if starttls else "off", trust, mech, USER, password,
                   USER, T.OUTSIDER))
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def msmtp(conf, home, rcpts):
    env = dict(os.environ, HOME=home)
    p = subprocess.run(["msmtp", "-C", conf, "-a", "test", "--"] + rcpts, input=MESSAGE,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=60)
    return p.returncode, p.stdout.decode("latin-1")


def server_tls(srv, n):
    """(version, cipher) of the n-th (1-based) TLS session the log shows."""
    rows = re.findall(r" (?:starttls result=ok|tls) version=(\S+) cipher=(\S+)$",
                      srv.log(), re.M)
    return rows[n - 1] if len(rows) >= n else (None, None)


def check_delivered(t, srv, inbox, what, n):
    msgs = inbox.new()
    if not t.eq(len(msgs), 1, what + ": delivered once"):
        return
    version, cipher = server_tls(srv, n)
    t.ok(version in ("TLSv1.3", "TLSv1.2"), what + ": TLS 1.3 or 1.2 (%s)" % version)
    rp, rec, rest = S.split_trace(msgs[0][1])
    t.eq(rp, b"Return-Path: <%s>" % USER.encode(), what + ": Return-Path")
    t.ok(rec and version and re.match(H.received_tls_re("msmtp.example", T.OUTSIDER,
                                                        "ESMTPSA", version, cipher, USER), rec),
         what + ": Received with ESMTPSA (version=%s cipher=%s)" % (version, cipher), repr(rec))
    t.eq(rest, MESSAGE, what + ": the bytes msmtp read, byte for byte")


def main():
    if not shutil.which("msmtp"):
        T.skip_all("msmtp not installed")
    t = T.Tap()
    try:
        srv = H.server(("smtp", "submission", "smtps"))
    except T.SkipTest as e:
        T.skip_all(str(e))
    home = tempfile.mkdtemp(prefix="ispmaild-msmtp-tls-")
    conf = os.path.join(home, "msmtprc")
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        inbox = H.Inbox(srv, USER)
        p = srv.ports

        write_conf(conf, p["submission"], True, "plain", srv.ca)
        rc, out = msmtp(conf, home, [USER])
        t.ok(rc == 0, "submission, STARTTLS, AUTH PLAIN: msmtp exits 0", out)
        check_delivered(t, srv, inbox, "submission STARTTLS", 1)

        write_conf(conf, p["smtps"], False, "login", srv.ca)
        rc, out = msmtp(conf, home, [USER])
        t.ok(rc == 0, "smtps, implicit TLS, AUTH LOGIN: msmtp exits 0", out)
        check_delivered(t, srv, inbox, "smtps", 2)

        write_conf(conf, p["smtp"], True, "login", srv.ca)
        rc, out = msmtp(conf, home, [REMOTE])
        t.ok(rc == 0, "port 25, STARTTLS, AUTH LOGIN, remote recipient: msmtp exits 0", out)
        q = S.queue_files(srv)
        t.eq(len(q["env"]), 1, "relayed into the queue")
        if q["env"]:
            env = S.envelope(srv, q["env"][0])
            t.eq([r[3].split()[0] for r in env["rcpt"]], [REMOTE],
                 "queued for the remote recipient")

        # a client that trusts another CA
        other = os.path.join(home, "other")
        os.mkdir(other)
        other_ca = H.Pki(other).ca
        write_conf(conf, p["submission"], True, "plain", other_ca)
        rc, out = msmtp(conf, home, [USER])
        t.ok(rc != 0 and re.search(r"TLS|certificate", out),
             "another CA: msmtp refuses the certificate", out)
        t.eq(len(S.maildir_messages(srv, USER)), 2, "another CA: nothing delivered")
        t.ok(H.log_count(srv, r"login user=") == 3, "another CA: no password sent",
             srv.log())

        write_conf(conf, p["submission"], True, "plain", srv.ca, "wrong")
        rc, out = msmtp(conf, home, [USER])
        t.ok(rc != 0 and H.AUTH_FAILED[4:] in out,
             "wrong password: msmtp fails with 535 5.7.8", out)
        t.eq(len(S.maildir_messages(srv, USER)), 2, "wrong password: nothing delivered")
    except T.SkipTest as e:
        srv.cleanup()
        shutil.rmtree(home, ignore_errors=True)
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError, subprocess.SubprocessError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    if not os.environ.get("KEEP_TMP"):
        shutil.rmtree(home, ignore_errors=True)
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
