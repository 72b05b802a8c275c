"""harden_helpers: what the hardening tests (issue 6: tests/sessions/
limits.py, faults.py, relay_audit.py, load_short.py and bench/load.py)
share on top of ispmaild_test and smtp_helpers: a frame that runs a test
in parts, each part with a daemon of its own; TAP TODO lines for known
daemon bugs; what /proc says about a process (memory, descriptors, bytes
read); a fast way to fill a Maildir; the counters of `ispmailctl status`.

Python 3 standard library only.
"""

import os
import re
import sys
import time
import traceback

import ispmaild_test as T
import smtp_helpers as H


# --- TAP ---

def todo(tap, cond, desc, reason, details=None):
    """An assertion that a known daemon bug makes fail: "not ok ... # TODO
    reason" (automake counts it XFAIL, not a failure). Once the bug is
    fixed it prints "ok ... # TODO" (XPASS, a failure): time to make it an
    ordinary assertion."""
    tap.n += 1
    desc = desc.replace("#", "\\#").replace("\n", " ")
    print("%s %d - %s # TODO %s" % ("ok" if cond else "not ok", tap.n, desc, reason))
    if not cond and details:
        tap.diag(details)
    sys.stdout.flush()
    return bool(cond)


def check(tap, cond, desc, bug=None, details=None):
    """tap.ok, or todo() when bug (a short reason) names a known bug."""
    if bug:
        return todo(tap, cond, desc, bug, details)
    return tap.ok(cond, desc, details)


class Frame:
    """A test in parts: part(t, fx) runs each with its own daemons
    (fx.server(...)); an exception ends that part as one failed assertion,
    not the whole test. At the end every daemon is finished (clean exit,
    no crashed child), the plan is printed, temporary files go."""

    def __init__(self):
        self.t = T.Tap()
        self.servers = []
        self.items = []

    def server(self, *args, **kw):
        srv = T.Server(*args, **kw)
        self.servers.append(srv)
        return srv

    def add(self, obj):
        self.items.append(obj)
        return obj

    def part(self, body, *args):
        t = self.t
        mine = len(self.servers)
        try:
            body(t, self, *args)
        except T.SkipTest as e:
            t.skip(body.__name__, str(e))
        except (T.HarnessError, T.ProtocolError, OSError) as e:
            t.ok(False, "%s ran to the end" % body.__name__,
                 "%s: %s" % (type(e).__name__, e))
        except Exception:       # a bug in the test: the other parts still run
            t.ok(False, "%s ran to the end" % body.__name__, traceback.format_exc())
        # Finish this part's daemons now: fewer processes, and the log
        # shown next to the failure.
        for srv in self.servers[mine:]:
            srv.finish(t, plan=False)
        del self.servers[mine:]

    def done(self):
        for srv in self.servers:
            srv.finish(self.t, plan=False)
        for obj in reversed(self.items):
            try:
                obj.close()
            except Exception as e:  # cleanup must go on
                sys.stderr.write("cleanup of %r: %s\n" % (obj, e))
        return self.t.done()


# --- /proc ---

def proc_status(pid):
    """{"VmRSS": kB, "VmHWM": kB, ...} (the kB fields of /proc/PID/status);
    {} when the process is gone."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                m = re.match(r"\s*(\d+) kB", v)
                if m:
                    out[k] = int(m.group(1))
    except OSError:
        pass
    return out


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def bytes_read(pid):
    """rchar of /proc/PID/io: bytes the process got from read(2) and kin."""
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def session_child(srv, client, timeout=5.0):
    """The pid of the session child that holds client's connection."""
    return H.wait_for(lambda: srv.session_pid(client), timeout, 0.02)


def instrumented(srv):
    """Why absolute memory figures mean nothing here (a sanitizer build,
    a $ISPMAILD_WRAPPER such as valgrind), or None."""
    if os.environ.get("ISPMAILD_WRAPPER"):
        return "running under $ISPMAILD_WRAPPER"
    try:
        with open("/proc/%d/maps" % srv.proc.pid) as f:
            if re.search(r"lib(a|ub|t|l)san", f.read()):
                return "a sanitizer build"
    except (OSError, AttributeError):
        pass
    try:
        with open(srv.daemon, "rb") as f:
            if b"__asan_init" in f.read():
                return "a sanitizer build"
    except OSError:
        pass
    return None


# --- Maildirs ---

_fill_seq = [0]


def fill_maildir(srv, address, n, body=None):
    """Put n messages straight into address's Maildir new/ (no fsync: the
    daemon is not looking yet, and a test may need thousands). body(i)
    gives message i's bytes (LF line ends). Returns {name: bytes}."""
    md = srv.maildir(address)
    for p in (os.path.dirname(md), md, os.path.join(md, "tmp"),
              os.path.join(md, "new"), os.path.join(md, "cur")):
        if not os.path.isdir(p):
            os.mkdir(p, 0o700)
            srv._chown(p)
    out = {}
    for i in range(n):
        data = body(i) if body else (b"Subject: fill %d\n\nmessage %d\n" % (i, i))
        _fill_seq[0] += 1
        name = "%d.M%06dP%dQ%d.fill,S=%d,W=%d" % (
            int(time.time()), _fill_seq[0] % 1000000, os.getpid(), _fill_seq[0],
            len(data), len(T.crlf(data)))
        path = os.path.join(md, "new", name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        srv._chown(path)
        out[name] = data
    return out


def uidl_of(name):
    """The unique part of a Maildir file name (the daemon's UIDL): the name
    without its ",S=...,W=..." and ":2,flags" tails."""
    return re.split(r"[,:]", name, 1)[0]


def maildir_files(srv, address):
    """{unique part (the UIDL): (sub/name, bytes)} of new/ and cur/."""
    md = srv.maildir(address)
    out = {}
    for sub in ("new", "cur"):
        for name in srv.files(address)[sub]:
            try:
                with open(os.path.join(md, sub, name), "rb") as f:
                    out[uidl_of(name)] = (sub + "/" + name, f.read())
            except FileNotFoundError:
                pass
    return out


def all_maildir_files(srv):
    """[(path, bytes)] of every message under maildir_root (new/ and cur/)."""
    out = []
    for base, dirs, files in os.walk(srv.maildir_root):
        if os.path.basename(base) not in ("new", "cur"):
            continue
        for name in files:
            p = os.path.join(base, name)
            try:
                with open(p, "rb") as f:
                    out.append((p, f.read()))
            except FileNotFoundError:
                pass
    return out


# --- ispmailctl status ---

def status_counters(srv):
    """{("refused", "smtp"): 1, ...} from the "since start" block of
    `ispmailctl status`, plus ("sessions", service) from "sessions now"."""
    rc, out, err = srv.ctl_run("status")
    if rc != 0:
        raise T.HarnessError("ispmailctl status: exit %d: %s%s" % (rc, out, err))
    got = {}
    for line in out.splitlines():
        m = re.match(r"\s*(sessions now|[a-z][a-z ]*?)\s*:?\s+((?:[\w-]+=\d+\s*)+)$", line)
        if not m:
            continue
        name = "sessions" if m.group(1) == "sessions now" else m.group(1).strip()
        for k, v in re.findall(r"([\w-]+)=(\d+)", m.group(2)):
            got[(name, k)] = int(v)
    return got


# --- clients ---

def timed(fn, *args):
    """(seconds fn took, its value)."""
    t0 = time.monotonic()
    v = fn(*args)
    return time.monotonic() - t0, v


def drain_close(client, timeout):
    """Everything the server sends until it closes; (bytes, closed)."""
    try:
        return client.wait_close(timeout), True
    except T.ProtocolError:
        data, client.buf = client.buf, b""
        return data, False


def drip(client, data, interval, limit):
    """Send data one byte every interval seconds (from its start again when
    used up) until the server closes the connection or limit seconds pass.
    Returns (seconds from the first byte to the close, or None when still
    open at limit; the bytes the server sent; the bytes we sent)."""
    import select
    sock = client.sock
    got, client.buf = client.buf, b""
    t0 = time.monotonic()
    next_send = t0
    sent = 0
    while True:
        now = time.monotonic()
        if now - t0 >= limit:
            return None, got, sent
        if now >= next_send:
            try:
                sock.send(data[sent % len(data):sent % len(data) + 1])
            except OSError:
                pass            # closed: the read below says so
            sent += 1
            next_send += interval
        wait = max(0.0, min(next_send, t0 + limit) - time.monotonic())
        r, _, _ = select.select([sock], [], [], wait)
        if r:
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                return time.monotonic() - t0, got, sent
            got += chunk
