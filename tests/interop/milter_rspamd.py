#!/usr/bin/env python3
"""milter_rspamd.py: Debian's rspamd as a mail filter (ispmaild.conf(5)
milters; docs/ADMIN.md, "Filters"), a real daemon and a private rspamd:

- the GTUBE test string is rejected with rspamd's own reply, nothing
  stored, the refusal logged and counted;
- a clean message is delivered with the headers rspamd's milter_headers
  module adds (X-Spamd-Result, X-Rspamd-*, Authentication-Results).

rspamd runs from a private configuration in a temporary folder: only the
proxy worker (milter = yes, self_scan) on a free loopback port, its pid
file, log and databases in that folder, as nobody/nogroup when root; its
DNS points at 127.0.0.1:9 and the modules that fetch maps over HTTP or
query the network are off, so nothing leaves the machine. No system
service is touched. Skipped when rspamd is not installed or does not
come up."""

import os
import pwd
import grp
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

RSPAMD = shutil.which("rspamd") or "/usr/bin/rspamd"
CONFDIR = "/etc/rspamd"
A = "a@example.test"
SENDER = "sender@example.net"
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
CLEAN = (b"From: Sender <sender@example.net>\n"
         b"To: a@example.test\n"
         b"Subject: lunch on Friday\n"
         b"Message-ID: <clean.1@example.net>\n"
         b"Date: Sat, 05 Dec 2026 12:00:00 +0000\n"
         b"\n"
         b"Shall we meet at noon at the usual place?\n")
SPAM = (b"From: Sender <sender@example.net>\n"
        b"To: a@example.test\n"
        b"Subject: test\n"
        b"Message-ID: <gtube.1@example.net>\n"
        b"Date: Sat, 05 Dec 2026 12:00:00 +0000\n"
        b"\n"
        b"This is the GTUBE test string:\n" + GTUBE.encode() + b"\n")

# Modules that would fetch maps over HTTP(S) or ask the network; DNS goes
# to 127.0.0.1:9 anyway.
OFF = ("rbl", "whitelist", "phishing", "multimap", "mime_types", "rspamd_update",
       "fuzzy_check", "url_redirector", "asn", "emails", "dcc", "razor", "pyzor",
       "neural", "greylist", "ratelimit", "replies", "reputation", "elastic",
       "clickhouse", "metadata_exporter", "external_services", "antivirus",
       "p0f", "dkim_signing", "arc", "history_redis", "bayes_expiry",
       "maillist", "spamassassin", "mx_check", "once_received", "hfilter", "mid")

CONF = """\
.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}
logging {
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "info";
}
worker "rspamd_proxy" {
    bind_socket = "127.0.0.1:%(port)d";
    milter = yes;
    timeout = 120s;
    count = %(count)d;
    upstream "local" {
        default = yes;
        self_scan = yes;
    }
}
"""

OPTIONS = """\
dns {
    nameserver = ["127.0.0.1:9"];
    timeout = 1s;
    retransmits = 1;
}
"""

HEADERS = """\
use = ["x-spamd-result", "x-rspamd-server", "x-rspamd-queue-id",
       "x-spamd-bar", "authentication-results"];
skip_local = false;
skip_authenticated = false;
"""


class Rspamd:
    """A private rspamd: proxy worker in milter mode on a free port."""

    def __init__(self, count=1):
        """count: proxy worker processes (bench/milter.py may ask for more)."""
        self.dir = tempfile.mkdtemp(prefix="rspamd-")
        os.chmod(self.dir, 0o755)
        self.port = T.free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.proc = None
        for d in ("local.d", "db", "run", "log"):
            os.makedirs(os.path.join(self.dir, d))
        self._write("rspamd.conf", CONF % {"port": self.port, "count": count})
        self._write("local.d/options.inc", OPTIONS)
        self._write("local.d/milter_headers.conf", HEADERS)
        for m in OFF:
            self._write("local.d/%s.conf" % m, "enabled = false;\n")
        self.log = os.path.join(self.dir, "log", "rspamd.log")
        cmd = [RSPAMD, "-f", "-c", os.path.join(self.dir, "rspamd.conf")]
        for k, v in (("CONFDIR", CONFDIR), ("LOCAL_CONFDIR", self.dir),
                     ("DBDIR", os.path.join(self.dir, "db")),
                     ("RUNDIR", os.path.join(self.dir, "run")),
                     ("LOGDIR", os.path.join(self.dir, "log"))):
            cmd.append("--var=%s=%s" % (k, v))
        if os.geteuid() == 0:
            uid = pwd.getpwnam("nobody").pw_uid
            gid = T.Server._nobody_group()
            for base, dirs, files in os.walk(self.dir):
                os.chown(base, uid, gid)
                for f in files:
                    os.chown(os.path.join(base, f), uid, gid)
            cmd += ["-u", "nobody", "-g", grp.getgrgid(gid).gr_name]
        self.err = open(os.path.join(self.dir, "stderr"), "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.err,
                                     stderr=self.err, start_new_session=True)

    def _write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def wait_up(self, timeout):
        """True once the proxy worker accepts connections."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.2)
        return False

    def tail(self):
        out = ""
        for name in (self.log, os.path.join(self.dir, "stderr")):
            try:
                with open(name, errors="replace") as f:
                    out += f.read()[-3000:]
            except OSError:
                pass
        return out

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self.err.close()
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


def part_rspamd(t, fx, rs):
    srv = fx.server(services=("smtp",), config={"milters": T.Raw(
        '( { name = "rspamd"; address = "%s"; timeout = 60; on_error = "tempfail"; } )'
        % rs.address)})
    srv.add_user(A, "secret")
    srv.start(timeout=30 * T.PATIENCE)

    r = send(srv, SPAM)
    t.diag("GTUBE: %r" % r[-1])
    t.ok(re.match(r"5\d\d ", r[-1]) and "gtube" in r[-1].lower(),
         "GTUBE: refused with rspamd's reply", (r, rs.tail()))
    t.eq(stored(srv, A), [], "GTUBE: nothing stored")
    H.wait_for(lambda: "stage=eom result=reject" in srv.log(), 10 * T.PATIENCE)
    t.ok(re.search(r"milter name=rspamd stage=eom result=reject code=5\d\d", srv.log()),
         "GTUBE: the refusal logged", srv.log()[-2000:])
    t.ok(X.status_counters(srv).get(("rejected", "milter"), 0) >= 1,
         "GTUBE: counted as rejected milter", X.status_counters(srv))

    r = send(srv, CLEAN)
    t.diag("clean: %r" % r[-1])
    t.ok(r[-1].startswith("250 2.0.0 Ok: queued as "), "clean: 250", (r, rs.tail()))
    got = stored(srv, A)
    t.eq(len(got), 1, "clean: stored once")
    msg = got[0] if got else b""
    head, _, body = msg.partition(b"\n\n")
    added = [ln.decode(errors="replace") for ln in head.split(b"\n")
             if re.match(rb"(X-Spamd-Result|X-Rspamd-[A-Za-z-]+|X-Spamd-Bar|"
                         rb"Authentication-Results):", ln, re.I)]
    for ln in added:
        t.diag("added: " + ln)
    t.ok(any(ln.lower().startswith("x-spamd-result:") for ln in added),
         "clean: X-Spamd-Result added by rspamd", msg.decode(errors="replace"))
    t.ok(any(ln.lower().startswith("x-rspamd-") for ln in added),
         "clean: X-Rspamd-* added by rspamd", msg.decode(errors="replace"))
    t.ok(b"Subject: lunch on Friday\n" in head and
         body == b"Shall we meet at noon at the usual place?\n",
         "clean: the message itself unchanged", msg.decode(errors="replace"))
    try:
        with open(rs.log, errors="replace") as f:
            fetched = [ln for ln in f if re.search(r"https?://", ln)]
    except OSError as e:
        fetched = [str(e)]
    t.eq(fetched, [], "rspamd loaded no map over HTTP (nothing downloaded)")


def main():
    if not os.access(RSPAMD, os.X_OK) or not os.path.exists(
            os.path.join(CONFDIR, "common.conf")):
        T.skip_all("rspamd not installed (apt-get install rspamd)")
    fx = X.Frame()
    rs = fx.add(Rspamd())
    t0 = time.time()
    if not rs.wait_up(60 * T.PATIENCE):
        sys.stderr.write(rs.tail())
        fx.t.skip("rspamd", "rspamd did not come up within %ds" % (60 * T.PATIENCE))
        return fx.done()
    fx.t.diag("rspamd up in %.1fs" % (time.time() - t0))
    fx.part(part_rspamd, rs)
    return fx.done()


if __name__ == "__main__":
    sys.exit(main())
