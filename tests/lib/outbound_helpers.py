"""outbound_helpers: what the queue tests (tests/sessions/queue_*.py and
tests/interop/queue_e2e.py) share on top of ispmaild_test and smtp_helpers:
a daemon set up for relaying, a way to hand it a message, readers for
`ispmailctl queue list`, the queue runner's processes, and the DSNs that
land in the sender's Maildir (RFC 3464).

The network rule: the daemon only ever talks to loopback. Every Server made
here has dns.nameserver set: to a dnsmasq of the test's own, or to a dead
loopback port (DEAD_NS) when DNS is not under test.

Python 3 standard library only.
"""

import email
import email.policy
import os
import re
import signal
import sys
import traceback

import ispmaild_test as T
import smtp_helpers as H
from sink import SCALE  # noqa: F401 (the tests use O.SCALE)

DEAD_NS = "127.0.0.1:9"             # nothing answers: DNS is never asked
SENDER = "alice@example.test"       # a local user: her bounces land locally
PASSWORD = "secret"
QUEUED_RE = r"250 2\.0\.0 Ok: queued as (\S+)$"
# Our Received line as the sink sees it (CRLF, folded), group "id".
RECEIVED_RE = (rb"Received: from (?P<helo>\S+) \(\[(?P<ip>[^\]]+)\]\)\r\n"
               rb"\tby " + re.escape(T.HOSTNAME.encode()) +
               rb" \(ispmaild\) with (?P<proto>E?SMTPS?A?) id (?P<id>[\w.-]+)"
               rb"(?:\r\n\tfor <(?P<for>[^>]*)>)?; " + H.DATE_RE + rb"\r\n")


def scaled(seconds):
    """A wait, stretched under valgrind ($ISPMAILD_WRAPPER) or by
    $TIMEOUT_SCALE."""
    return seconds * SCALE


def server(config=None, services=("smtp", "pop3"), users=(SENDER,), nameserver=DEAD_NS):
    """A Server (not started) for outbound tests: fast retries, a
    nameserver on loopback, the local sender's account made."""
    conf = {"dns.nameserver": nameserver,
            "queue.retry_min": 1, "queue.retry_max": 2, "queue.max_age": 600}
    conf.update(config or {})
    srv = T.Server(services=services, config=conf)
    for u in users:
        srv.add_user(u, PASSWORD)
    return srv


def relay(srv, sender, rcpts, wire, source=T.TRUSTED, esmtp=True, helo="client.example"):
    """One SMTP transaction from a client allowed to relay (trusted by
    default); wire is the DATA payload (CRLF, dot-stuffed). Returns the
    queue id from "250 ... queued as ID"; raises ProtocolError otherwise."""
    s = H.Smtp(srv, "smtp", source)
    try:
        s.hello(esmtp, helo)
        r = s.cmd("MAIL FROM:<%s>" % sender)
        if not r.startswith("250"):
            raise T.ProtocolError("MAIL FROM:<%s>: %s" % (sender, r))
        for rc in rcpts:
            r = s.cmd("RCPT TO:<%s>" % rc)
            if not r.startswith("250"):
                raise T.ProtocolError("RCPT TO:<%s>: %s" % (rc, r))
        go, final = s.data(wire)
        m = re.match(QUEUED_RE, final or "")
        if not m:
            raise T.ProtocolError("DATA: %s / %s" % (go, final))
        return m.group(1)
    finally:
        s.quit()


def message(subject, body=b"Hello.\n", sender=SENDER, to="bob@remote.test"):
    """A small message with LF line ends (as the queue stores it)."""
    return (b"From: <%s>\nTo: <%s>\nSubject: %s\nMessage-ID: <%s@client.example>\n\n"
            % (sender.encode(), to.encode(), subject.encode(),
               subject.replace(" ", ".").encode())) + body


def check_relayed(t, m, original, sender, rcpts, what, qid=None, helo="client.example",
                  ip=T.TRUSTED):
    """A Message at the sink: exact envelope, our Received line on top (and
    only it: no Return-Path), then the original bytes with CRLF."""
    t.eq(m.sender, sender, what + ": MAIL FROM at the sink")
    t.eq(sorted(a.lower() for a in m.rcpts), sorted(a.lower() for a in rcpts),
         what + ": RCPT TO at the sink")
    mt = re.match(RECEIVED_RE, m.data)
    ok = bool(mt) and mt.group("helo") == helo.encode() and mt.group("ip") == ip.encode()
    if ok and qid is not None:
        ok = mt.group("id").decode() == qid
    t.ok(ok, what + ": our Received line on top",
         "got %r" % m.data[:300])
    rest = m.data[mt.end():] if mt else m.data
    t.eq(rest, T.crlf(original), what + ": the message follows byte for byte (CRLF)")


# --- ispmailctl queue ---

def queue_list(srv):
    """(ids in order, {id: {"age", "size", "sender", "rcpts": {addr:
    state}, "replies": {addr: text}, "line"}}) from `ispmailctl queue list`;
    raises HarnessError when it fails."""
    rc, out, err = srv.ctl_run("queue", "list")
    if rc != 0:
        raise T.HarnessError("ispmailctl queue list: exit %d: %s%s" % (rc, out, err))
    ids, rows, cur = [], {}, None
    for line in out.splitlines():
        if line == "queue: empty":
            continue
        m = re.match(r"    (\S+): (.*)$", line)
        if m and cur is not None:
            cur["replies"][m.group(1)] = m.group(2)
            continue
        f = line.split(" ")
        if len(f) < 4:
            raise T.HarnessError("queue list: unexpected line %r" % line)
        cur = {"line": line, "age": f[1], "size": f[2], "sender": f[3],
               "rcpts": {}, "replies": {}}
        for x in f[4:]:
            a, _, st = x.rpartition("=")
            cur["rcpts"][a] = st
        ids.append(f[0])
        rows[f[0]] = cur
    return ids, rows


def wait_queue_empty(srv, timeout=15.0):
    return H.wait_for(lambda: H.queue_empty(srv), scaled(timeout), 0.1)


def envelope_rcpts(srv, qid):
    """The envelope's recipients (queue/queue.h), each {"state", "tries",
    "next", "address", "reply"}; [] when the message is gone. Read here,
    not through smtp_helpers, so both record forms parse: "... <address>
    <TAB><last reply>" and the older "... <address> <last reply>"."""
    try:
        with open(os.path.join(srv.state_dir, "queue", "env", qid), "rb") as f:
            text = f.read().decode("latin-1")
    except FileNotFoundError:
        return []
    out = []
    for line in text.split("\n"):
        if not line.startswith("rcpt "):
            continue
        head, tab, reply = line[5:].partition("\t")
        f = head.split(" ", 3) if tab else head.split(" ", 4)
        while len(f) < 5:
            f.append("")
        if tab:
            f[4] = reply
        out.append({"state": f[0], "tries": int(f[1] or 0), "next": int(f[2] or 0),
                    "address": f[3], "reply": f[4]})
    return out


def envelope_states(srv, qid):
    """{address: (state, tries)} from the envelope file; {} when gone."""
    return {r["address"]: (r["state"], r["tries"]) for r in envelope_rcpts(srv, qid)}


def wait_envelope(srv, qid, cond, timeout=15.0):
    """Wait until cond(envelope_states) holds; the last states seen."""
    last = {}

    def probe():
        nonlocal last
        last = envelope_states(srv, qid)
        return cond(last)
    H.wait_for(probe, scaled(timeout), 0.05)
    return last


def log_lines(srv, pattern):
    return [l for l in srv.log().splitlines() if re.search(pattern, l)]


def wait_log(srv, pattern, timeout=15.0, count=1):
    return H.wait_for(lambda: len(log_lines(srv, pattern)) >= count, scaled(timeout), 0.05)


# --- processes ---

def ppid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def children_of(pid):
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        if ppid_of(int(p)) == pid and H.pid_alive(int(p)):
            out.append(int(p))
    return sorted(out)


def runner_pid(srv, timeout=10.0):
    """The live queue runner: the newest "queue runner started" log line
    whose pid is still a child of the master."""
    master = srv.proc.pid if srv.proc else None

    def probe():
        for l in reversed(log_lines(srv, r"\]: info: queue runner started")):
            pid = int(re.search(r"ispmaild\[(\d+)\]", l).group(1))
            if ppid_of(pid) == master and H.pid_alive(pid):
                return pid
        return None
    return H.wait_for(probe, scaled(timeout), 0.05)


def worker_pids(srv, runner=None):
    runner = runner or runner_pid(srv)
    return children_of(runner) if runner else []


def kill9(pid, timeout=5.0):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    return H.wait_for(lambda: not H.pid_alive(pid), scaled(timeout), 0.02)


# --- bounces ---

def maildir_count(srv, address):
    f = srv.files(address)
    return len(f["new"]) + len(f["cur"])


def bounces(srv, address=SENDER):
    """[(name, bytes)] of the DSNs in address's Maildir new/."""
    return [(n, d) for n, d in H.maildir_messages(srv, address)
            if b"\nFrom: MAILER-DAEMON@" in b"\n" + d]


def wait_bounces(srv, n, address=SENDER, timeout=15.0):
    return H.wait_for(lambda: len(bounces(srv, address)) >= n and bounces(srv, address),
                      scaled(timeout), 0.1) or bounces(srv, address)


class Dsn:
    """A DSN parsed (RFC 3464): msg (the email.message), the Return-Path
    line, report_type, per-message fields and a list of per-recipient
    field dicts, the human text and the returned headers."""

    def __init__(self, data):
        self.raw = data
        first, _, rest = data.partition(b"\n")
        self.return_path = first.decode("latin-1") if first.startswith(b"Return-Path:") else None
        self.msg = email.message_from_bytes(rest if self.return_path else data,
                                            policy=email.policy.compat32)
        self.content_type = self.msg.get_content_type()
        self.report_type = self.msg.get_param("report-type")
        self.parts = self.msg.get_payload() if self.msg.is_multipart() else []
        self.types = [p.get_content_type() for p in self.parts]
        self.text = ""
        self.per_message = {}
        self.recipients = []
        self.headers = b""
        for p in self.parts:
            ct = p.get_content_type()
            if ct == "text/plain":
                self.text = p.get_payload()
            elif ct == "message/delivery-status":
                blocks = p.get_payload()
                if blocks:
                    self.per_message = dict(blocks[0].items())
                    self.recipients = [dict(b.items()) for b in blocks[1:]]
            elif ct == "text/rfc822-headers":
                self.headers = p.get_payload().encode("latin-1")

    def recipient(self, address):
        for r in self.recipients:
            if r.get("Final-Recipient", "").lower() == "rfc822; " + address.lower():
                return r
        return None


def check_dsn(t, data, failed, what, sender=SENDER, status=None, reply=None,
              subject=None, others=()):
    """Assert one DSN's shape: from MAILER-DAEMON with a null Return-Path,
    to the sender, multipart/report; report-type=delivery-status with the
    three parts; one per-recipient block, Action: failed, for each address
    in failed (status: {addr: "5.x.y"}, reply: {addr: text that must be in
    the Diagnostic-Code and the human part}); none for the others; the
    original Subject in the returned headers."""
    d = Dsn(data)
    t.eq(d.return_path, "Return-Path: <>", what + ": DSN has the null Return-Path")
    t.eq(d.msg["From"], "MAILER-DAEMON@%s (Mail Delivery System)" % T.HOSTNAME,
         what + ": DSN From MAILER-DAEMON")
    t.eq(d.msg["To"], "<%s>" % sender, what + ": DSN To the sender")
    t.eq((d.content_type, d.report_type), ("multipart/report", "delivery-status"),
         what + ": Content-Type multipart/report; report-type=delivery-status")
    t.eq(d.types, ["text/plain", "message/delivery-status", "text/rfc822-headers"],
         what + ": DSN parts")
    t.eq(d.per_message.get("Reporting-MTA"), "dns; " + T.HOSTNAME,
         what + ": Reporting-MTA")
    t.eq(sorted(r.get("Final-Recipient", "") for r in d.recipients),
         sorted("rfc822; " + a for a in failed),
         what + ": Final-Recipient lines name exactly the failed recipients")
    for a in failed:
        r = d.recipient(a) or {}
        t.eq(r.get("Action"), "failed", what + ": Action: failed for " + a)
        if status and a in status:
            t.eq(r.get("Status"), status[a], what + ": Status for " + a)
        if reply and a in reply:
            diag = r.get("Diagnostic-Code", "")
            t.ok(diag.startswith("smtp; ") and reply[a] in diag,
                 what + ": Diagnostic-Code carries the reply for " + a,
                 "Diagnostic-Code: %r, want %r" % (diag, reply[a]))
            t.ok(("<%s>: " % a) in d.text and reply[a] in d.text,
                 what + ": the human part names %s and the reply" % a, d.text)
    for a in others:
        t.ok(a not in d.text and d.recipient(a) is None,
             what + ": %s is not in the DSN" % a, d.raw.decode("latin-1"))
    if subject is not None:
        t.ok(b"\nSubject: " + subject.encode() + b"\n" in b"\n" + d.headers,
             what + ": the original headers come back", repr(d.headers))
    return d


# --- the test's frame ---

class Fixtures:
    """What a test started, stopped at the end whatever happened: srv (the
    daemon, finished with its TAP checks), items (sinks, dnsmasq; closed in
    reverse order), orphans (pids no longer our children's children, e.g.
    the workers of a killed runner: SIGKILLed if still alive)."""

    def __init__(self):
        self.srv = None
        self.items = []
        self.orphans = []

    def add(self, obj):
        self.items.append(obj)
        return obj

    def server(self, *args, **kw):
        self.srv = server(*args, **kw)
        return self.srv

    def close(self):
        for pid in self.orphans:
            if H.pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for obj in reversed(self.items):
            try:
                if hasattr(obj, "close"):
                    obj.close()
                else:
                    obj.stop()
            except Exception as e:      # cleanup must go on
                sys.stderr.write("cleanup of %r: %s\n" % (obj, e))
        self.items = []


def run(body):
    """Run body(t, fx) with TAP: SkipTest becomes a skip, a crash of the
    test a failed assertion; then the sinks' own errors, the daemon's clean
    exit (its log shown on any failure), the plan, and the cleanup."""
    t = T.Tap()
    fx = Fixtures()
    try:
        body(t, fx)
    except T.SkipTest as e:
        if fx.srv is not None:
            fx.srv.cleanup()
            fx.srv = None
        fx.close()
        if t.n == 0:
            T.skip_all(str(e))
        t.skip("the rest", str(e))
        return t.done()
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    except Exception:       # a bug in the test: still clean up
        t.ok(False, "test ran to the end", traceback.format_exc())
    for s in fx.items:
        if getattr(s, "errors", None):
            t.ok(False, "sink handled every connection", "\n".join(s.errors))
    if t.failed:
        for d in fx.items:
            if hasattr(d, "nameserver"):
                t.diag("dnsmasq log (last 20 lines):\n" +
                       "\n".join(d.log().splitlines()[-20:]))
    try:
        if fx.srv is not None:
            return fx.srv.finish(t)
        return t.done()
    finally:
        fx.close()


def make_cert(directory, cn="sink.test"):
    """A self-signed (certificate, key) pair for a STARTTLS sink."""
    import shutil
    import subprocess
    if not shutil.which("openssl"):
        raise T.SkipTest("openssl not installed")
    cert = os.path.join(directory, "sink-cert.pem")
    key = os.path.join(directory, "sink-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-days", "2", "-subj", "/CN=" + cn, "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60)
    return cert, key


def reload(srv, timeout=10.0):
    """SIGHUP; returns once a new queue runner has started with the file."""
    before = len(log_lines(srv, r"\]: info: queue runner started"))
    srv.reload()
    return wait_log(srv, r"\]: info: queue runner started", timeout, before + 1)


def queued(srv, qid):
    """Is the message still in the queue (its envelope or its data)?"""
    env = os.path.join(srv.state_dir, "queue", "env", qid)
    return os.path.exists(env) or any(n.startswith(qid + ".")
                                      for n in H.queue_files(srv)["new"])


def wait_gone(srv, qid, timeout=15.0):
    """Wait until the message left the queue (envelope and data file)."""
    return H.wait_for(lambda: not queued(srv, qid), scaled(timeout), 0.1)
