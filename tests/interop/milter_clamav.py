#!/usr/bin/env python3
"""milter_clamav.py: Debian's clamav-milter and clamd as a mail filter
(ispmaild.conf(5) milters; docs/ADMIN.md, "Filters"), a real daemon:

- a message with the EICAR test file attached (base64 MIME part) is
  rejected: 550 5.7.1 (clamav-milter gives no text of its own), nothing
  stored, the refusal logged; with RejectMsg "Virus found: %v" the reply
  is clamav-milter's, with the signature's name;
- a clean message is delivered, with the X-Virus-Scanned and
  X-Virus-Status headers clamav-milter adds (AddHeader Replace).

clamd loads a signature database the test writes itself (one .hdb line:
the MD5 and size of the EICAR file): nothing is downloaded, no freshclam.
clamd and clamav-milter run from private configurations in a temporary
folder (clamd's socket, pid files and logs there, the filter on a free
loopback port), as nobody/nogroup when root. No system service is
touched. Skipped when the packages are missing or a daemon does not come
up."""

import grp
import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import harden_helpers as X  # noqa: E402

CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"
MILTER = shutil.which("clamav-milter") or "/usr/sbin/clamav-milter"
A = "a@example.test"
SENDER = "sender@example.net"
SIGNAME = "Ispmaild.Test.EICAR"
# The EICAR test file, put together here so that this source file itself
# is not what a scanner finds.
EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!" +
         "$H+H*").encode()


def mime(attachment, name):
    """A message with a text part and attachment as a base64 MIME part."""
    import base64
    b64 = base64.encodebytes(attachment)
    return (b"From: Sender <sender@example.net>\n"
            b"To: a@example.test\n"
            b"Subject: the file you asked for\n"
            b"Message-ID: <" + name.encode() + b".1@example.net>\n"
            b"MIME-Version: 1.0\n"
            b"Content-Type: multipart/mixed; boundary=\"b1\"\n"
            b"\n"
            b"--b1\n"
            b"Content-Type: text/plain\n"
            b"\n"
            b"Here it is.\n"
            b"--b1\n"
            b"Content-Type: application/octet-stream; name=\"" + name.encode() + b"\"\n"
            b"Content-Disposition: attachment; filename=\"" + name.encode() + b"\"\n"
            b"Content-Transfer-Encoding: base64\n"
            b"\n" + b64 +
            b"--b1--\n")


INFECTED = mime(EICAR, "eicar.com")
CLEAN = mime(b"Just a harmless text file.\n", "notes.txt")


class Clam:
    """A private clamd and clamav-milter."""

    def __init__(self, reject_msg=None):
        self.dir = tempfile.mkdtemp(prefix="clamav-")
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.errs = []
        self.port = T.free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.sock = os.path.join(self.dir, "clamd.sock")
        db = os.path.join(self.dir, "db")
        tmp = os.path.join(self.dir, "tmp")
        os.makedirs(db)
        os.makedirs(tmp)
        self._write("db/ispmaild-test.hdb", "%s:%d:%s\n" % (
            hashlib.md5(EICAR).hexdigest(), len(EICAR), SIGNAME))
        self.root = os.geteuid() == 0
        user = ""
        if self.root:
            uid = pwd.getpwnam("nobody").pw_uid
            gid = T.Server._nobody_group()
            user = "User nobody\n"
        self._write("clamd.conf",
                    "LocalSocket %s\nLocalSocketMode 666\nFixStaleSocket yes\n"
                    "PidFile %s/clamd.pid\nDatabaseDirectory %s\nTemporaryDirectory %s\n"
                    "Foreground yes\nLogFile %s/clamd.log\nLogTime yes\nLogVerbose yes\n"
                    "ScanMail yes\nBytecode no\n%s"
                    % (self.sock, self.dir, db, tmp, self.dir, user))
        self._write("clamav-milter.conf",
                    "MilterSocket inet:%d@127.0.0.1\nClamdSocket unix:%s\n"
                    "PidFile %s/clamav-milter.pid\nForeground yes\nTemporaryDirectory %s\n"
                    "OnClean Accept\nOnInfected Reject\nOnFail Defer\nAddHeader Replace\n"
                    "LogFile %s/clamav-milter.log\nLogTime yes\nLogVerbose yes\n"
                    "LogInfected Full\nLogClean Basic\nReadTimeout 120\n%s%s"
                    % (self.port, self.sock, self.dir, tmp, self.dir, user,
                       "RejectMsg %s\n" % reject_msg if reject_msg else ""))
        if self.root:
            for base, dirs, files in os.walk(self.dir):
                os.chown(base, uid, gid)
                for f in files:
                    os.chown(os.path.join(base, f), uid, gid)

    def _write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def _start(self, cmd, name):
        err = open(os.path.join(self.dir, name + ".stderr"), "ab")
        self.errs.append(err)
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                             start_new_session=True)
        self.procs.append(p)
        return p

    @staticmethod
    def _wait(proc, connect, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                return False
            try:
                connect()
                return True
            except OSError:
                time.sleep(0.2)
        return False

    def start(self, timeout):
        """clamd, then the milter; "" when both are up, else the reason."""
        p = self._start([CLAMD, "-c", os.path.join(self.dir, "clamd.conf")], "clamd")

        def clamd_ping():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect(self.sock)
                s.sendall(b"zPING\0")
                if not s.recv(16).startswith(b"PONG"):
                    raise OSError("no PONG")
            finally:
                s.close()
        if not self._wait(p, clamd_ping, timeout):
            return "clamd did not come up within %ds" % timeout
        p = self._start([MILTER, "-c", os.path.join(self.dir, "clamav-milter.conf")],
                        "clamav-milter")
        if not self._wait(p, lambda: socket.create_connection(
                ("127.0.0.1", self.port), timeout=1).close(), timeout):
            return "clamav-milter did not come up within %ds" % timeout
        return ""

    def tail(self):
        out = ""
        for name in ("clamd.log", "clamd.stderr", "clamav-milter.log",
                     "clamav-milter.stderr"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    out += "--- %s\n%s" % (name, f.read()[-2000:])
            except OSError:
                pass
        return out

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(30)
        for e in self.errs:
            e.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def stored(srv, address):
    return [data for _, data in H.maildir_messages(srv, address)]


def send(srv, message):
    """One session, one message: [greeting, EHLO, MAIL, RCPT, DATA...]."""
    s = H.Smtp(srv, "smtp", T.OUTSIDER, timeout=120)
    out = [s.greeting[-1]]
    try:
        out.append(s.hello(True)[-1])
        out += s.transaction(SENDER, [A], H.to_wire(message))
    except T.ProtocolError as e:
        out.append("closed: %s" % e)
    s.quit()
    return out


def server(fx, cl):
    srv = fx.server(services=("smtp",), config={"milters": T.Raw(
        '( { name = "clamav"; address = "%s"; timeout = 60; on_error = "tempfail"; } )'
        % cl.address)})
    srv.add_user(A, "secret")
    srv.start(timeout=30 * T.PATIENCE)
    return srv


def part_clamav(t, fx, cl):
    srv = server(fx, cl)
    r = send(srv, INFECTED)
    t.diag("EICAR: %r" % r[-1])
    t.eq(r[-1], "550 5.7.1 Message rejected by filter",
         "EICAR: refused; clamav-milter gives no text of its own (our 550)")
    t.eq(stored(srv, A), [], "EICAR: nothing stored")
    H.wait_for(lambda: "stage=eom result=reject" in srv.log(), 10 * T.PATIENCE)
    t.ok(re.search(r"milter name=clamav stage=eom result=reject code=5\d\d", srv.log()),
         "EICAR: the refusal logged", srv.log()[-2000:])
    t.ok(SIGNAME in cl.tail(), "EICAR: clamav-milter logged our signature's name",
         cl.tail())

    r = send(srv, CLEAN)
    t.diag("clean: %r" % r[-1])
    t.ok(r[-1].startswith("250 2.0.0 Ok: queued as "), "clean: 250", (r, cl.tail()))
    got = stored(srv, A)
    t.eq(len(got), 1, "clean: stored once")
    msg = got[0] if got else b""
    head, _, body = msg.partition(b"\n\n")
    added = [ln.decode(errors="replace") for ln in head.split(b"\n")
             if re.match(rb"X-Virus-", ln, re.I)]
    for ln in added:
        t.diag("added: " + ln)
    t.ok(any(ln.startswith("X-Virus-Scanned: clamav-milter ") for ln in added),
         "clean: X-Virus-Scanned added by clamav-milter", msg.decode(errors="replace"))
    t.ok(any(ln == "X-Virus-Status: Clean" for ln in added),
         "clean: X-Virus-Status: Clean", msg.decode(errors="replace"))
    _, _, want_body = CLEAN.partition(b"\n\n")
    t.eq(body, want_body, "clean: the body unchanged")


def part_reject_msg(t, fx, cl):
    srv = server(fx, cl)
    r = send(srv, INFECTED)
    t.diag("EICAR, RejectMsg: %r" % r[-1])
    t.eq(r[-1], "550 5.7.1 Virus found: %s.UNOFFICIAL" % SIGNAME,
         "EICAR, RejectMsg: clamav-milter's reply with the virus name")
    t.eq(stored(srv, A), [], "EICAR, RejectMsg: nothing stored")


def main():
    for prog in (CLAMD, MILTER):
        if not os.access(prog, os.X_OK):
            T.skip_all("%s not installed (apt-get install clamav-daemon clamav-milter)"
                       % prog)
    fx = X.Frame()
    cl = fx.add(Clam())
    t0 = time.time()
    why = cl.start(60 * T.PATIENCE)
    if why:
        sys.stderr.write(cl.tail())
        fx.t.skip("clamav", why)
        return fx.done()
    fx.t.diag("clamd and clamav-milter up in %.1fs" % (time.time() - t0))
    fx.part(part_clamav, cl)
    cl2 = fx.add(Clam(reject_msg="Virus found: %v"))
    why = cl2.start(60 * T.PATIENCE)
    if why:
        sys.stderr.write(cl2.tail())
        fx.t.skip("clamav RejectMsg", why)
    else:
        fx.part(part_reject_msg, cl2)
    return fx.done()


if __name__ == "__main__":
    sys.exit(main())
