#!/usr/bin/env python3
"""smtp_swaks.py: swaks, the SMTP test tool, against ispmaild: HELO (--protocol
SMTP) and EHLO, with and without --pipeline, from a customer (127.0.0.1: the
two 553 forms of docs/PROTOCOL.md, relay policy), from outside (127.0.0.2: 550
for a remote recipient, delivery for local ones) and from a trusted network
(127.0.0.3: relayed into the queue). swaks's transcript must show the exact
replies, and the delivered bytes must be what it sent, less the dot-stuffing,
with LF line ends."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

USERS = ["demo@example.test", "two@example.org"]
# swaks sends the file with CRLF line ends, dot-stuffed, and adds the
# CRLF that ends the last line itself.
DATA = (b"From: swaks@remote.example\nSubject: swaks \xe9\n\n.leading dot\n..two\n"
        b"8-bit: caf\xc3\xa9 \xff\ndone")


def swaks(srv, source, *args):
    cmd = ["swaks", "--server", "127.0.0.1", "--port", str(srv.ports["smtp"]),
           "--local-interface", source, "--helo", "swaks.example",
           "--from", "sender@remote.example", "--timeout", "10"] + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return p.returncode, p.stdout.decode("latin-1")


def received(out):
    """The server's lines in swaks's transcript ("<-  " ok, "<** " error)."""
    return [l[4:] for l in out.splitlines() if l.startswith(("<-  ", "<** "))]


def main():
    if not shutil.which("swaks"):
        T.skip_all("swaks not installed")
    t = T.Tap()
    tarpit = H.Tarpit()
    srv = T.Server(services=("smtp",), config={"relay.smarthost": tarpit.smarthost()})
    work = tempfile.mkdtemp(prefix="ispmaild-swaks-")
    data_file = os.path.join(work, "data.eml")
    with open(data_file, "wb") as f:
        f.write(DATA)
    want_body = DATA + b"\n"
    try:
        for u in USERS:
            srv.add_user(u, "pw")
        srv.start()

        # Customer without POP: the 553, both forms.
        rc, out = swaks(srv, T.CUSTOMER, "--protocol", "SMTP", "--to", "user@remote.example")
        t.ok("<** " + H.FIRST_POP_HELO in out.splitlines(), "customer, HELO: 553 (#5.7.1)", out)
        t.ok(rc != 0, "customer, HELO: swaks fails", "exit %d" % rc)
        rc, out = swaks(srv, T.CUSTOMER, "--to", "demo@example.test")
        t.ok("<** " + H.FIRST_POP_EHLO in out.splitlines(),
             "customer, EHLO, local recipient: 553 5.7.1", out)

        # Outside: 550 for remote, in both forms.
        rc, out = swaks(srv, T.OUTSIDER, "--protocol", "SMTP", "--to", "user@remote.example")
        t.ok(" -> HELO swaks.example" in out.splitlines(), "--protocol SMTP speaks HELO", out)
        t.ok("<** " + H.denied("user@remote.example", False) in out.splitlines(),
             "outside, HELO: 550 relaying to <x> prohibited", out)
        rc, out = swaks(srv, T.OUTSIDER, "--to", "user@remote.example")
        t.ok("<** " + H.denied("user@remote.example", True) in out.splitlines(),
             "outside, EHLO: 550 5.7.1 relaying to <x> prohibited", out)
        t.ok(H.queue_empty(srv), "nothing queued so far", repr(H.queue_files(srv)))

        # Outside to a local user, HELO then EHLO, plain then pipelined.
        for how, extra in (("HELO", ["--protocol", "SMTP"]), ("EHLO", []),
                           ("EHLO --pipeline", ["--pipeline"])):
            had = dict((u, set(srv.files(u)["new"])) for u in USERS)
            rc, out = swaks(srv, T.OUTSIDER, "--to", ",".join(USERS),
                            "--data", "@" + data_file, *extra)
            t.eq(rc, 0, "outside, %s, two local users: swaks exits 0" % how)
            lines = received(out)
            t.ok(lines and re.match(r"250 (2\.0\.0 )?Ok: queued as \S+$", lines[-2]),
                 "outside, %s: 250 queued" % how, out)
            if "pipeline" in how:
                cmds = [l for l in out.splitlines() if l.startswith(" -> ")]
                i = cmds.index(" -> DATA") if " -> DATA" in cmds else -1
                first_reply = out.find("<-  250 2.1.0")
                t.ok(i > 0 and out.find(" -> DATA") < first_reply,
                     "--pipeline: MAIL, RCPT, RCPT and DATA sent before the first reply", out)
            for u in USERS:
                new = [d for n, d in H.maildir_messages(srv, u) if n not in had[u]]
                t.eq(len(new), 1, "outside, %s: %s got it" % (how, u))
                if new:
                    rp, rec, rest = H.split_trace(new[0])
                    t.eq(rest, want_body, "outside, %s: %s: the bytes swaks sent" % (how, u))
                    t.ok(rec and re.match(H.received_re(
                        "swaks.example", T.OUTSIDER, "SMTP" if how == "HELO" else "ESMTP"), rec),
                        "outside, %s: Received line" % how, repr(rec))

        # Trusted: relayed into the queue, pipelined.
        rc, out = swaks(srv, T.TRUSTED, "--to", "user@remote.example", "--pipeline",
                        "--data", "@" + data_file)
        t.eq(rc, 0, "trusted, remote recipient: swaks exits 0")
        lines = received(out)
        m = re.match(r"250 2\.0\.0 Ok: queued as (\S+)$", lines[-2] if len(lines) > 1 else "")
        t.ok(m, "trusted: 250 queued", out)
        q = H.queue_files(srv)
        t.eq(q["env"], [m.group(1)] if m else [], "trusted: the queue holds that id")
        if q["env"]:
            env = H.envelope(srv, q["env"][0])
            t.eq([r[3] for r in env["rcpt"]], ["user@remote.example"], "trusted: envelope")
            rp, rec, rest = H.split_trace(H.queue_data(srv, env["data"]), local=False)
            t.eq(rest, want_body, "trusted: queued bytes")
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError, subprocess.SubprocessError) as e:
        t.ok(False, "ran to the end", "%s: %s" % (type(e).__name__, e))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    code = srv.finish(t)
    tarpit.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
