#!/usr/bin/env python3
"""tls_swaks.py: swaks over TLS with SMTP AUTH from outside (127.0.0.2):
--tls --auth LOGIN on port 25 relays to a remote recipient (queued);
--tls --auth PLAIN on submission delivers locally, the Received line saying
ESMTPSA and the TLS version and cipher swaks negotiated; --tlsc (implicit
TLS) on smtps; a wrong password gets 535 5.7.8 and swaks's auth failure
exit; without --tls the server offers no AUTH to an outsider. swaks does
not verify the certificate (its default)."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "swaks pass"
REMOTE = "friend@remote.example"
DATA = b"From: <demo@example.test>\nSubject: swaks over tls\n\n.leading dot\nbody\ndone"
STORED = DATA + b"\n"      # swaks adds the last line's CRLF
EHLO_TLS = ["250-" + T.HOSTNAME, "250-PIPELINING", "250-SIZE 26214400", "250-8BITMIME",
            "250-ENHANCEDSTATUSCODES", "250-AUTH PLAIN LOGIN", "250 AUTH=PLAIN LOGIN"]
SWAKS_AUTH_FAILED = 28     # swaks's exit code for an authentication failure


def swaks(srv, service, *args):
    cmd = ["swaks", "--server", "127.0.0.1", "--port", str(srv.ports[service]),
           "--local-interface", T.OUTSIDER, "--helo", "swaks.example",
           "--from", USER, "--timeout", "10"] + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return p.returncode, p.stdout.decode("latin-1")


def tls_replies(out):
    """Server lines received over TLS ("<~  " ok, "<~* " error)."""
    return [l[4:] for l in out.splitlines() if l.startswith(("<~  ", "<~* "))]


def tls_cipher(out):
    m = re.search(r"^=== TLS started with cipher (TLSv[\d.]+):(\S+):\d+$", out, re.M)
    return (m.group(1), m.group(2)) if m else (None, None)


def auth(mech):
    return ["--auth", mech, "--auth-user", USER, "--auth-password", PASSWORD]


def main():
    if not shutil.which("swaks"):
        T.skip_all("swaks not installed")
    t = T.Tap()
    try:
        srv = H.server(("smtp", "submission", "smtps"))
    except T.SkipTest as e:
        T.skip_all(str(e))
    work = tempfile.mkdtemp(prefix="ispmaild-swaks-tls-")
    data_file = os.path.join(work, "data.eml")
    with open(data_file, "wb") as f:
        f.write(DATA)
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()

        # port 25, STARTTLS, AUTH LOGIN, relay
        rc, out = swaks(srv, "smtp", "--tls", *auth("LOGIN"), "--to", REMOTE)
        t.ok(rc == 0, "smtp --tls --auth LOGIN: swaks exits 0", out)
        t.ok("<-  " + H.TLS_READY in out.splitlines(), "STARTTLS answered in the clear", out)
        v, c = tls_cipher(out)
        t.ok(v in ("TLSv1.2", "TLSv1.3"), "TLS started: %s %s" % (v, c), out)
        r = [re.sub(r"queued as \S+$", "queued as ID", x) for x in tls_replies(out)]
        t.eq(r, EHLO_TLS + ["334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", H.AUTH_OK, H.MAIL_OK,
                            H.RCPT_OK, "354 End data with <CR><LF>.<CR><LF>",
                            "250 2.0.0 Ok: queued as ID", H.BYE],
             "smtp --auth LOGIN: every reply over TLS")
        m = re.search(r"^<~  250 2\.0\.0 Ok: queued as (\S+)$", out, re.M)
        t.ok(m and os.path.exists(os.path.join(srv.state_dir, "queue", "env", m.group(1))),
             "the relayed message is in the queue", repr(S.queue_files(srv)))

        # submission, STARTTLS, AUTH PLAIN, local delivery
        rc, out = swaks(srv, "submission", "--tls", *auth("PLAIN"), "--to", USER,
                        "--data", data_file)
        t.ok(rc == 0, "submission --tls --auth PLAIN: swaks exits 0", out)
        t.ok("<~  " + H.AUTH_OK in out.splitlines(), "AUTH PLAIN: 235 over TLS", out)
        v, c = tls_cipher(out)
        msgs = S.maildir_messages(srv, USER)
        t.eq(len(msgs), 1, "delivered once")
        if msgs and v:
            rp, rec, rest = S.split_trace(msgs[0][1])
            t.ok(rec and re.match(H.received_tls_re("swaks.example", T.OUTSIDER, "ESMTPSA",
                                                    v, c, USER), rec),
                 "Received: with ESMTPSA (version=%s cipher=%s)" % (v, c), repr(rec))
            t.eq(rest, STORED, "delivered bytes")

        # smtps, implicit TLS
        rc, out = swaks(srv, "smtps", "--tlsc", *auth("PLAIN"), "--to", USER)
        t.ok(rc == 0, "smtps --tlsc --auth PLAIN: swaks exits 0", out)
        r = tls_replies(out)
        t.eq(r[:1], ["220 %s ESMTP ispmaild" % T.HOSTNAME], "smtps: greeting over TLS")
        t.ok(H.AUTH_OK in r and "STARTTLS" not in " ".join(r), "smtps: 235, no STARTTLS", out)
        t.eq(len(S.maildir_messages(srv, USER)), 2, "smtps message delivered")

        # a wrong password
        rc, out = swaks(srv, "smtp", "--tls", "--auth", "PLAIN", "--auth-user", USER,
                        "--auth-password", "wrong", "--to", REMOTE)
        t.eq(rc, SWAKS_AUTH_FAILED, "wrong password: swaks's auth failure exit")
        t.ok("<~* " + H.AUTH_FAILED in out.splitlines(), "wrong password: 535 5.7.8", out)

        # no TLS: no AUTH for an outsider
        rc, out = swaks(srv, "smtp", *auth("LOGIN"), "--to", REMOTE)
        t.ok(rc != 0 and "AUTH" not in "".join(l for l in out.splitlines()
                                               if l.startswith(("<-", " ->"))),
             "without --tls: no AUTH offered or sent, swaks fails", out)
    except T.SkipTest as e:
        srv.cleanup()
        shutil.rmtree(work, ignore_errors=True)
        T.skip_all(str(e))
    except (T.HarnessError, OSError, subprocess.SubprocessError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    status = srv.finish(t)
    if not os.environ.get("KEEP_TMP"):
        shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
