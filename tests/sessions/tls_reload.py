#!/usr/bin/env python3
"""tls_reload.py: SIGHUP rebuilds the TLS contexts (ispmaild(8), issue 4). A
new certificate and key put in place of the old files and a HUP to the master
(its pid from <state_dir>/ispmaild.pid): new connections, STARTTLS and implicit
alike, present the new certificate (fingerprints compared with `openssl x509
-fingerprint`); a session opened before goes on. A broken certificate file,
then a certificate that does not match the key: the reload is refused and
logged, and connections still get the previous certificate; once the files are
good again a HUP takes them."""

import os
import re
import signal
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "secret"
BROKEN = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"


def replace(srv, path, data):
    """Write data to path the way an administrator's tool would: a new file
    renamed over the old one, readable by the daemon's user."""
    tmp = path + ".new"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    srv._chown(tmp)
    os.rename(tmp, path)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def served(srv):
    return {"smtp STARTTLS": H.served_fingerprint(srv.ports["smtp"], "smtp"),
            "pop3s": H.served_fingerprint(srv.ports["pop3s"])}


def hup(srv):
    with open(srv.pid_file) as f:
        pid = int(f.read().split()[0])
    os.kill(pid, signal.SIGHUP)
    return pid


def check_served(t, srv, fp, what):
    for name, got in served(srv).items():
        t.eq(got, fp, "%s: %s presents the %s certificate" % (what, name, what))


def main():
    t = T.Tap()
    try:
        srv = H.server(("smtp", "pop3s"))
    except T.SkipTest as e:
        T.skip_all(str(e))
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        ctx = H.client_context(srv)
        fp0 = H.fingerprint_file(srv.cert_file)
        check_served(t, srv, fp0, "first")

        # a session opened before the reload
        old = srv.connect("pop3s", T.OUTSIDER)
        old.starttls(ctx, "localhost")
        old.expect(r"\+OK")

        # a new certificate and key from the same CA
        d = os.path.join(srv.dir, "next")
        os.mkdir(d)
        cert1, key1 = srv.pki.issue(os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"))
        fp1 = H.fingerprint_file(cert1)
        t.ok(fp1 != fp0, "the new certificate differs from the first")
        replace(srv, srv.key_file, read(key1))
        replace(srv, srv.cert_file, read(cert1))
        pid = hup(srv)
        t.eq(pid, srv.proc.pid, "ispmaild.pid holds the master's pid")
        t.eq(H.wait_log(srv, r"reload result=ok$"), 1, "log: reload result=ok")
        check_served(t, srv, fp1, "new")
        s = S.Smtp(srv, "smtp", T.OUTSIDER)
        s.hello()
        H.smtp_starttls(t, s, ctx, "after the reload, a verifying client")
        t.eq(s.c.sock.getpeercert(True) and
             H.fingerprint_pem(ssl.DER_cert_to_PEM_cert(s.c.sock.getpeercert(True)).encode()),
             fp1, "the verifying client got the new certificate")
        s.quit()
        t.eq(old.command("USER " + USER), H.POP_USER_OK,
             "the session opened before the reload goes on")
        t.eq(old.command("PASS " + PASSWORD), H.POP_LOGIN_OK % 0, "and logs in")
        old.command("QUIT")
        old.close()

        # a broken certificate file: refused, the new one stays
        replace(srv, srv.cert_file, BROKEN)
        hup(srv)
        t.eq(H.wait_log(srv, r"reload result=refused reason=tls$"), 1,
             "broken certificate: log says reload result=refused reason=tls")
        t.ok(H.log_count(srv, r"error: .*tls service=\w+ reason=\"tls certificate "
                         + re.escape(srv.cert_file)), "log names the certificate file")
        check_served(t, srv, fp1, "previous")
        t.ok(srv.running(), "daemon still running")

        # a good certificate that does not match the key: refused too
        cert2, key2 = srv.pki.issue(os.path.join(d, "cert2.pem"), os.path.join(d, "key2.pem"))
        fp2 = H.fingerprint_file(cert2)
        replace(srv, srv.cert_file, read(cert2))
        hup(srv)
        t.eq(H.wait_log(srv, r"reload result=refused reason=tls$", 2), 2,
             "certificate and key that do not match: reload refused")
        t.ok(H.log_count(srv, r"tls service=\w+ reason=\"tls private_key"),
             "log says the key does not fit")
        check_served(t, srv, fp1, "previous")

        # the matching key arrives: the next HUP takes both
        replace(srv, srv.key_file, read(key2))
        hup(srv)
        t.eq(H.wait_log(srv, r"reload result=ok$", 2), 2, "fixed files: reload result=ok")
        check_served(t, srv, fp2, "third")
        t.eq(H.log_count(srv, r"reload tls=reloaded$"), 2,
             "the contexts were rebuilt for the two changes of files")

        # nothing changed: the contexts are kept (rebuilding costs memory)
        hup(srv)
        t.eq(H.wait_log(srv, r"reload result=ok$", 3), 3, "unchanged files: reload result=ok")
        t.eq(H.log_count(srv, r"reload tls=reloaded$"), 2,
             "unchanged files and settings: the TLS contexts are kept")
        check_served(t, srv, fp2, "kept")
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
