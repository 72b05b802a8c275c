#!/usr/bin/env python3
"""tls_mpop.py: mpop (GnuTLS, GNU SASL) over TLS from outside addresses,
trusting only the test CA (tls_trust_file): pop3 with STLS (tls_starttls
on) and USER/PASS, pop3s (tls_starttls off) with AUTH PLAIN, pop3s with
AUTH LOGIN. Each run fetches the messages byte for byte, deletes them on
the server and writes the relay DB for its address. In the clear from
outside the password is refused (-ERR [AUTH], plaintext_auth = false) and
nothing is fetched; a client trusting another CA refuses the certificate."""

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import tls_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "mpop-pass"
MESSAGES = [
    b"From: alice@example.org\nSubject: one\n\nHello over TLS.\n",
    b"From: bob@example.org\nSubject: dots\n\n.\n..\n.leading\nend \xe9\n",
]


def write_conf(path, home, inbox, port, tls, starttls, mech, trust, source):
    with open(path, "w") as f:
        f.write("defaults\naccount test\nhost 127.0.0.1\nport %d\n"
                "tls %s\ntls_starttls %s\ntls_trust_file %s\n"
                "auth %s\nuser %s\npassword %s\nsource_ip %s\ntimeout 10\n"
                "keep off\nreceived_header off\nuidls_file %s/uidls\n"
                "delivery maildir %s\n"
                % (port, "on" if tls else "off", "on" if starttls else "off", trust,
                   mech, USER, PASSWORD, source, home, inbox))
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def mpop(conf, home):
    env = dict(os.environ, HOME=home, TMPDIR=home)
    p = subprocess.run(["mpop", "-C", conf, "test"], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def fetched(inbox):
    got = []
    for sub in ("new", "cur"):
        for name in sorted(os.listdir(os.path.join(inbox, sub))):
            with open(os.path.join(inbox, sub, name), "rb") as f:
                got.append(f.read())
    return got


def main():
    if not shutil.which("mpop"):
        T.skip_all("mpop not installed")
    t = T.Tap()
    try:
        srv = H.server(("pop3", "pop3s"))
    except T.SkipTest as e:
        T.skip_all(str(e))
    home = tempfile.mkdtemp(prefix="ispmaild-mpop-tls-")
    conf = os.path.join(home, "mpoprc")
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        p = srv.ports
        rows = [
            # what, port, tls, starttls, auth, source
            ("pop3 in the clear from outside", p["pop3"], False, False, "user", T.OUTSIDER),
            ("pop3 STLS + USER/PASS", p["pop3"], True, True, "user", T.OUTSIDER),
            ("pop3s + AUTH PLAIN", p["pop3s"], True, False, "plain", "127.0.0.4"),
            ("pop3s + AUTH LOGIN", p["pop3s"], True, False, "login", "127.0.0.5"),
        ]
        for n, (what, port, tls, starttls, mech, source) in enumerate(rows):
            inbox = os.path.join(home, "inbox%d" % n)
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(inbox, sub))
            for m in MESSAGES:
                srv.deliver(USER, m)
            write_conf(conf, home, inbox, port, tls, starttls, mech, srv.ca, source)
            rc, out = mpop(conf, home)
            if not tls:
                t.ok(rc != 0 and "Plaintext authentication disallowed" in out,
                     what + ": mpop fails with the server's -ERR [AUTH]", out)
                t.eq(fetched(inbox), [], what + ": nothing fetched")
                t.ok(source not in srv.relay_rows(), what + ": no relay.db row")
                # leave the messages: the next row fetches four
                continue
            t.ok(rc == 0, what + ": mpop exits 0", out)
            got = fetched(inbox)
            want = MESSAGES * (2 if n == 1 else 1)
            t.eq(sorted(got), sorted(want), what + ": messages fetched byte for byte")
            left = srv.files(USER)
            t.eq(left["new"] + left["cur"], [], what + ": server Maildir emptied")
            r = srv.relay_rows().get(source, "")
            t.ok(r.endswith(" " + USER), what + ": relay.db row for " + source, r)
        log = srv.log()
        t.ok(re.search(r"stls result=ok version=TLSv1\.[23] cipher=\S+$", log, re.M),
             "log: STLS with TLS 1.2 or 1.3")
        for method in ("USER", "PLAIN", "LOGIN"):
            t.ok(re.search(r"login user=demo@example\.test result=ok method=%s " % method, log),
                 "log: login result=ok method=" + method)

        # a client that trusts another CA
        other = os.path.join(home, "other")
        os.mkdir(other)
        inbox = os.path.join(home, "inbox-other")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(inbox, sub))
        srv.deliver(USER, MESSAGES[0])
        write_conf(conf, home, inbox, p["pop3s"], True, False, "plain", H.Pki(other).ca,
                   "127.0.0.6")
        rc, out = mpop(conf, home)
        t.ok(rc != 0 and re.search(r"TLS|certificate", out),
             "another CA: mpop refuses the certificate", out)
        t.eq(fetched(inbox), [], "another CA: nothing fetched")
        t.ok("127.0.0.6" not in srv.relay_rows(), "another CA: no login")
    except T.SkipTest as e:
        srv.cleanup()
        shutil.rmtree(home, ignore_errors=True)
        T.skip_all(str(e))
    except (T.HarnessError, OSError, subprocess.SubprocessError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    if not os.environ.get("KEEP_TMP"):
        shutil.rmtree(home, ignore_errors=True)
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
