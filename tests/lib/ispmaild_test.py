"""ispmaild_test: the harness that session and interop tests share.

A Server is a whole daemon in a temporary directory: its configuration
(ispmaild.conf(5)), users made with the real ispmailctl, messages dropped into
Maildirs, `ispmaild -f` started (under $ISPMAILD_WRAPPER, e.g. valgrind, when
set) and stopped with SIGTERM. A Client is one TCP connection, bound to a
chosen source address (127.0.0.1 is a customer, 127.0.0.2 an outsider,
127.0.0.3 trusted). Tap prints the Test Anything Protocol that automake's
tap-driver reads.

Python 3 standard library only. Environment: top_builddir, top_srcdir,
ISPMAILD_WRAPPER, KEEP_TMP (keep the temporary directory), TEST_TIMEOUT
(seconds a read waits; default 10), TEST_PATIENCE (see PATIENCE).
"""

import atexit
import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HOSTNAME = "mail.example.test"
DOMAINS = ["example.test", "example.org"]
CUSTOMER = "127.0.0.1"      # in customer_networks
OUTSIDER = "127.0.0.2"      # in no network
TRUSTED = "127.0.0.3"       # in trusted_networks
READ_TIMEOUT = float(os.environ.get("TEST_TIMEOUT", "10"))
# Under valgrind every daemon process runs many times slower.
if os.environ.get("ISPMAILD_WRAPPER"):
    READ_TIMEOUT *= 4
# How much longer than on a quiet machine a wait for an event (a log line,
# a file, a process gone) may take before the test gives up: waits only,
# never a bound that an assertion on a duration uses. On two cores loaded
# by other work (make check-stress) one sanitizer process may take seconds
# to start or exit. TEST_PATIENCE overrides it.
PATIENCE = float(os.environ.get("TEST_PATIENCE") or 3)


class HarnessError(Exception):
    """The test environment is broken (not a failed assertion)."""


class SkipTest(Exception):
    """A tool the test needs is missing."""


def top_srcdir():
    d = os.environ.get("top_srcdir")
    if d:
        return os.path.abspath(d)
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def top_builddir():
    return os.path.abspath(os.environ.get("top_builddir") or top_srcdir())


def crlf(data):
    """Bytes with every bare LF turned into CRLF: a message as POP3 sees it."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def pop3_wire(data, top=None):
    """A message as RETR (or TOP n) sends it after the +OK line: CRLF line
    ends, a line starting with "." doubled, then ".\\r\\n" (RFC 1939 3)."""
    text = crlf(data)
    lines = text.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if top is not None:
        try:
            blank = lines.index(b"")
        except ValueError:
            blank = len(lines) - 1
        lines = lines[:blank + 1 + top]
    out = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                   for l in lines)
    return out + b".\r\n"


def free_port(address="127.0.0.1"):
    """A TCP port nobody listens on right now (bind port 0, close)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((address, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _listening(port):
    """Is some socket listening on TCP port (read from /proc, so the probe
    itself makes no connection the daemon would count)? None: cannot tell."""
    try:
        with open("/proc/net/tcp") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return None
    want = ":%04X" % port
    for row in rows:
        cols = row.split()
        if len(cols) > 3 and cols[1].endswith(want) and cols[3] == "0A":
            return True
    return False


class Raw(str):
    """A configuration value written as is (libconfig text, not quoted)."""


def _conf_value(v):
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(v, (list, tuple)):
        return "[ " + ", ".join(_conf_value(x) for x in v) + " ]"
    raise HarnessError("cannot write config value %r" % (v,))


def _conf_render(tree, indent=""):
    out = []
    for key, v in tree.items():
        if isinstance(v, dict):
            out.append("%s%s = {\n%s%s};\n" % (indent, key,
                       _conf_render(v, indent + "  "), indent))
        elif key == "listen":
            entries = []
            for e in v:
                entries.append("  { " + " ".join("%s = %s;" % (k, _conf_value(x))
                                                 for k, x in e.items()) + " }")
            out.append("%slisten = (\n%s\n%s);\n" % (indent, ",\n".join(entries), indent))
        else:
            out.append("%s%s = %s;\n" % (indent, key, _conf_value(v)))
    return "".join(out)


class Server:
    """One ispmaild in its own temporary directory.

    services: names of listen entries (ispmaild.conf(5)), each on 127.0.0.1 and
    a free port (self.ports[name]). config: {"limits.max_per_ip": 2, ...}; a
    dotted key sets a value (None removes it), Raw("...") is written verbatim.
    """

    def __init__(self, services=("pop3",), config=None, tls=False):
        self.builddir = top_builddir()
        self.daemon = os.path.join(self.builddir, "ispmaild")
        self.ctl = os.path.join(self.builddir, "ispmailctl")
        self.root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="ispmaild-test-")
        self.state_dir = os.path.join(self.dir, "state")
        self.maildir_root = os.path.join(self.dir, "mail")
        self.users_file = os.path.join(self.dir, "users")
        self.aliases_file = os.path.join(self.dir, "aliases")
        self.conf_file = os.path.join(self.dir, "ispmaild.conf")
        self.log_file = os.path.join(self.dir, "ispmaild.log")
        self.pid_file = os.path.join(self.state_dir, "ispmaild.pid")
        self.proc = None
        self.exit_code = None
        self._logf = None
        # A file descriptor for the daemon's stdout and stderr instead of
        # the log file (a test of what happens when logging fails).
        self.daemon_stderr = None
        self._seq = 0
        self._last_stamp = 0
        self.uid = self.gid = -1
        if self.root:
            # ispmaild(8): started as root the daemon drops to user/group, so
            # everything it touches must belong to them.
            self.uid = pwd.getpwnam("nobody").pw_uid
            self.gid = self._nobody_group()
        os.makedirs(self.state_dir)
        os.makedirs(self.maildir_root)
        for f in (self.users_file, self.aliases_file):
            open(f, "w").close()
        self.ports = {s: free_port() for s in services}
        self.tree = {
            "hostname": HOSTNAME,
            "state_dir": self.state_dir,
            "maildir_root": self.maildir_root,
            "users_file": self.users_file,
            "aliases_file": self.aliases_file,
            "domains": list(DOMAINS),
            "listen": [{"service": s, "address": "127.0.0.1", "port": p}
                       for s, p in self.ports.items()],
            "relay": {"customer_networks": [CUSTOMER + "/32"],
                      "trusted_networks": [TRUSTED + "/32"]},
            # A session idles while the test works on another one, and on
            # a loaded machine (or under valgrind) one login alone may take
            # seconds: the timeouts must outlast that. Tests of the
            # timeouts set their own.
            "limits": {"command_timeout": 60 if os.environ.get("ISPMAILD_WRAPPER") else 30,
                       "data_timeout": 60 if os.environ.get("ISPMAILD_WRAPPER") else 30},
            # Never the system resolver: tests talk to loopback only.
            "dns": {"nameserver": "127.0.0.1:9"},
            # The SRS secret is made at first start: in the test's folder.
            "srs": {"secret_file": os.path.join(self.dir, "srs.key")},
        }
        if self.root:
            self.tree["user"] = pwd.getpwuid(self.uid).pw_name
            self.tree["group"] = grp.getgrgid(self.gid).gr_name
        if tls:
            self._make_cert()
        self.milter = None
        if os.environ.get("ISPMAILD_TEST_MILTER") and \
                set(services) & {"smtp", "submission", "smtps"}:
            self._start_milter(os.environ["ISPMAILD_TEST_MILTER"])
        for k, v in (config or {}).items():
            self.set(k, v)
        self._chown_tree()

    def _start_milter(self, mode):
        """ISPMAILD_TEST_MILTER=accept: one scripted filter that continues
        at every stage (tests/interop/milter_filter.py "continue", so it still
        sees the whole message) in the path of every SMTP service (issue 15).
        It logs to $ISPMAILD_TEST_MILTER_LOG (else a file in self.dir), so a
        wrapper test can prove the filter was there."""
        if mode != "accept":
            raise HarnessError("ISPMAILD_TEST_MILTER=%s: only accept is known" % mode)
        log = os.environ.get("ISPMAILD_TEST_MILTER_LOG") or \
            os.path.join(self.dir, "milter.log")
        script = os.path.join(top_srcdir(), "tests", "interop", "milter_filter.py")
        for attempt in range(3):
            port = free_port()
            proc = subprocess.Popen(["/usr/bin/python3", script,
                                     "inet:%d@127.0.0.1" % port, "continue", log],
                                    stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            deadline = time.time() + 10 * PATIENCE
            while time.time() < deadline and proc.poll() is None \
                    and not _listening(port):
                time.sleep(0.05)
            if proc.poll() is None and _listening(port):
                self.milter = proc
                # A test that dies before cleanup() leaves no filter behind.
                atexit.register(lambda: proc.poll() is None and proc.kill())
                self.tree["milters"] = Raw('( { name = "audit"; address = '
                                           '"127.0.0.1:%d"; } )' % port)
                return
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        raise HarnessError("ISPMAILD_TEST_MILTER: milter_filter.py did not listen")

    def _stop_milter(self):
        if self.milter is not None:
            if self.milter.poll() is None:
                self.milter.kill()
            self.milter.wait(30)
            self.milter = None

    @staticmethod
    def _nobody_group():
        for name in ("nogroup", "nobody"):
            try:
                return grp.getgrnam(name).gr_gid
            except KeyError:
                pass
        return pwd.getpwnam("nobody").pw_gid

    def _chown(self, path):
        if self.root:
            os.chown(path, self.uid, self.gid)

    def _chown_tree(self):
        """As root: hand the whole temporary tree to the daemon's user."""
        if not self.root:
            return
        for base, dirs, files in os.walk(self.dir):
            self._chown(base)
            for f in files:
                self._chown(os.path.join(base, f))

    def _make_cert(self):
        if not shutil.which("openssl"):
            raise SkipTest("openssl not installed")
        cert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-days", "2", "-subj", "/CN=" + HOSTNAME,
                        "-keyout", key, "-out", cert],
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.cert = cert
        self.tree["tls"] = {"certificate": cert, "private_key": key}

    # --- configuration ---

    def set(self, key, value):
        """Set (value None: remove) a dotted configuration key, then rewrite
        the file; a running daemon sees it after reload()."""
        node = self.tree
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
        self.write_config()

    def write_config(self):
        with open(self.conf_file, "w") as f:
            f.write("# written by tests/lib/ispmaild_test.py\n")
            f.write(_conf_render(self.tree))
        self._chown(self.conf_file)

    def config_text(self):
        with open(self.conf_file) as f:
            return f.read()

    # --- users and mail ---

    def ctl_run(self, *args, stdin=""):
        """Run ispmailctl -c conf ARGS; returns (exit code, stdout, stderr)."""
        self.write_config()
        p = subprocess.run([self.ctl, "-c", self.conf_file] + list(args),
                           input=stdin.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        return p.returncode, p.stdout.decode("utf-8", "replace"), \
            p.stderr.decode("utf-8", "replace")

    def add_user(self, address, password):
        rc, out, err = self.ctl_run("user", "add", address, stdin=password + "\n")
        if rc != 0:
            raise HarnessError("ispmailctl user add %s: exit %d: %s%s"
                               % (address, rc, out, err))

    def maildir(self, address):
        local, domain = address.lower().rsplit("@", 1)
        return os.path.join(self.maildir_root, domain, local)

    def deliver(self, address, data, where=None):
        """Drop data (bytes, stored as given: LF line ends expected) into the
        address's Maildir the Maildir way; returns the file's path. where:
        "new/NAME" or "cur/NAME:2,S" to choose the file name as another MDA
        or client would have left it (default: new/ with a name of our own)."""
        md = self.maildir(address)
        domain_dir = os.path.dirname(md)
        for p in (domain_dir, md, os.path.join(md, "tmp"),
                  os.path.join(md, "new"), os.path.join(md, "cur")):
            if not os.path.isdir(p):
                os.mkdir(p, 0o700)
                self._chown(p)
        stamp = max(int(time.time() * 1e6), self._last_stamp + 1)
        self._last_stamp = stamp
        self._seq += 1
        base = "%d.M%06dP%dQ%d.test" % (stamp // 1000000, stamp % 1000000,
                                         os.getpid(), self._seq)
        name = "%s,S=%d,W=%d" % (base, len(data), len(crlf(data)))
        sub = "new"
        if where:
            sub, name = where.split("/", 1)
        tmp = os.path.join(md, "tmp", base)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self._chown(tmp)
        final = os.path.join(md, sub, name)
        os.link(tmp, final)
        os.unlink(tmp)
        return final

    def files(self, address):
        """{"new": [...], "cur": [...], "tmp": [...]}: the Maildir's file names."""
        md = self.maildir(address)
        out = {}
        for sub in ("new", "cur", "tmp"):
            try:
                out[sub] = sorted(n for n in os.listdir(os.path.join(md, sub))
                                  if not n.startswith("."))
            except FileNotFoundError:
                out[sub] = []
        return out

    # --- the relay DB ---

    def relay_rows(self):
        """{address: "unix-seconds user"} from `db_dump -p relay.db`
        (docs/PROTOCOL.md, files
        promises the plain text there); from `ispmailctl relay list` when
        db-util is not installed."""
        db = os.path.join(self.state_dir, "relay.db")
        if not shutil.which("db_dump"):
            import datetime
            rows = {}
            for addr, (iso, _, user) in self.relay_list().items():
                when = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
                rows[addr] = "%d %s" % (when.timestamp(), user)
            return rows
        if not os.path.exists(db):
            return {}
        p = subprocess.run(["db_dump", "-p", db], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        if p.returncode != 0:
            raise HarnessError("db_dump -p %s: %s" % (db, p.stderr.decode()))
        return _parse_db_dump(p.stdout)

    def relay_list(self):
        """{address: (iso-time, expires-in, user)} from `ispmailctl relay list`."""
        rc, out, err = self.ctl_run("relay", "list")
        if rc != 0:
            raise HarnessError("ispmailctl relay list: exit %d: %s" % (rc, err))
        rows = {}
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 4:
                rows[f[0]] = (f[1], f[2], f[3])
        return rows

    # --- the daemon ---

    def start(self, timeout=None):
        """Start `ispmaild -f -c conf`; return once the pid file exists and
        every listener accepts. Raises HarnessError (with the log) otherwise.
        When a port was taken meanwhile (tests run in parallel), new ports
        are picked and the start is tried again: read self.ports after it."""
        for attempt in range(3):
            mark = len(self.log())
            try:
                return self._start(timeout)
            except HarnessError:
                if attempt == 2 or not re.search(r"(?i)in use", self.log()[mark:]):
                    raise
            self.ports = {s: free_port() for s in self.ports}
            for e in self.tree["listen"]:
                e["port"] = self.ports[e["service"]]

    def _start(self, timeout):
        if timeout is None:
            timeout = 60 if os.environ.get("ISPMAILD_WRAPPER") else 15
        if os.path.exists(self.pid_file):
            os.unlink(self.pid_file)
        self.write_config()
        # ispmailctl (as root) rewrites these by rename; docs/PROTOCOL.md,
        # files gives it the Maildirs to chown, not the users file: give the
        # daemon read access.
        for f in (self.users_file, self.aliases_file):
            if os.path.exists(f):
                self._chown(f)
        cmd = shlex.split(os.environ.get("ISPMAILD_WRAPPER", "")) + \
            [self.daemon, "-f", "-c", self.conf_file]
        self._logf = open(self.log_file, "ab")
        out = self._logf if self.daemon_stderr is None else self.daemon_stderr
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=out)
        deadline = time.time() + timeout
        pending = set(self.ports.values())
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.exit_code = self.proc.returncode
                self.proc = None
                self._logf.close()
                self._logf = None
                raise HarnessError("ispmaild exited with %d at start:\n%s"
                                   % (self.exit_code, self.log()))
            for port in list(pending):
                up = _listening(port)
                if up is None:
                    up = self._probe(port)
                if up:
                    pending.discard(port)
            if not pending and os.path.exists(self.pid_file):
                return
            time.sleep(0.05)
        self.stop()
        raise HarnessError("ispmaild not ready in %ds (ports %s, pid file %s):\n%s"
                           % (timeout, sorted(pending),
                              os.path.exists(self.pid_file), self.log()))

    @staticmethod
    def _probe(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        with open(self.pid_file) as f:
            return int(f.read().split()[0])

    def reload(self):
        self.write_config()
        self.proc.send_signal(signal.SIGHUP)

    def session_pid(self, client):
        """The pid of the daemon process that holds client's connection (found
        through /proc: the socket's inode, then whose fd it is); None if none."""
        local = client.sock.getsockname()
        peer = client.sock.getpeername()
        want_local = ":%04X" % peer[1]          # the server side of it
        want_remote = ":%04X" % local[1]
        inode = None
        try:
            with open("/proc/net/tcp") as f:
                for row in f.read().splitlines()[1:]:
                    c = row.split()
                    if c[1].endswith(want_local) and c[2].endswith(want_remote):
                        inode = c[9]
        except OSError:
            return None
        if not inode:
            return None
        target = "socket:[%s]" % inode
        for pid in filter(str.isdigit, os.listdir("/proc")):
            if int(pid) == os.getpid():
                continue
            try:
                for fd in os.listdir("/proc/%s/fd" % pid):
                    if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == target:
                        return int(pid)
            except OSError:
                continue
        return None

    def children(self):
        """Pids whose parent is the daemon's master process."""
        if self.proc is None:
            return []
        out = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                out.append(int(pid))
        return out

    def stop(self, timeout=15):
        """SIGTERM, wait up to timeout seconds (then SIGKILL). Returns the
        exit code (negative: killed by that signal; None: never started)."""
        if self.proc is None:
            return self.exit_code
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._note("# harness: no exit %ds after SIGTERM, killed\n" % timeout)
        self.exit_code = self.proc.returncode
        self.proc = None
        if self._logf:
            self._logf.close()
            self._logf = None
        return self.exit_code

    def _note(self, text):
        with open(self.log_file, "a") as f:
            f.write(text)

    def log(self):
        """Everything the daemon wrote to stderr so far."""
        try:
            with open(self.log_file, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wrapper_errors(self):
        """Lines a valgrind wrapper wrote ("==pid== ..."; with -q, errors
        only), less the noise of a privilege drop (vgdb pipes in /tmp that
        the child can no longer unlink; --vgdb=no avoids them)."""
        return [l for l in self.log().splitlines()
                if re.match(r"==\d+== ", l)
                and not re.match(r"==\d+== (could not unlink .*vgdb|\s*$)", l)]

    def finish(self, tap, plan=True):
        """The end of every test: stop the daemon, assert a clean exit (and
        a quiet wrapper), show the log when anything failed, clean up, and
        print the plan (plan=False: more servers follow in this test).
        Returns the exit status for sys.exit."""
        failed = tap.failed
        code = self.stop()
        if code is not None:
            tap.ok(code == 0, "daemon exits 0 after SIGTERM", "exit code %s" % code)
            # ASan/UBSan (./configure --enable-sanitizers) report on stderr,
            # which is this log; a crash shows as a child killed by a signal.
            bad = [l for l in self.log().splitlines()
                   if "Sanitizer" in l or "runtime error:" in l
                   or re.search(r"signal=(4|6|7|8|11)\b", l)]
            tap.ok(not bad, "no sanitizer report or crashed child in the log",
                   "\n".join(bad[:40]))
            if os.environ.get("ISPMAILD_WRAPPER"):
                errs = self.wrapper_errors()
                tap.ok(not errs, "no errors reported by $ISPMAILD_WRAPPER",
                       "\n".join(errs[:80]))
        if tap.failed > (0 if plan else failed):
            tap.diag("daemon log (last 60 lines):\n" +
                     "\n".join(self.log().splitlines()[-60:]))
        self.cleanup()
        return tap.done() if plan else (1 if tap.failed else 0)

    def cleanup(self):
        self.stop()
        self._stop_milter()
        if os.environ.get("KEEP_TMP"):
            sys.stderr.write("KEEP_TMP: kept %s\n" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # --- clients ---

    def connect(self, service="pop3", source=CUSTOMER, timeout=None, tls=False):
        """A Client; tls=True starts TLS at once (pop3s, smtps)."""
        c = Client("127.0.0.1", self.ports[service], source, timeout)
        if tls:
            c.starttls(self.tls_context())
        return c

    def tls_context(self):
        """A client context that trusts exactly our self-signed certificate."""
        import ssl
        ctx = ssl.create_default_context(cafile=self.cert)
        return ctx


def _parse_db_dump(out):
    """Key/value pairs of `db_dump -p` output (printable form, \\xx escapes)."""
    def unescape(s):
        return re.sub(r"\\([0-9a-fA-F]{2}|\\)",
                      lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1), 16)),
                      s)
    lines = out.decode("latin-1").splitlines()
    try:
        start = lines.index("HEADER=END") + 1
    except ValueError:
        return {}
    data = []
    for line in lines[start:]:
        if line == "DATA=END":
            break
        data.append(unescape(line[1:]))
    return dict(zip(data[0::2], data[1::2]))


class ProtocolError(Exception):
    """A reply other than the one expected, a timeout, or an early close."""


class Client:
    """One TCP connection, speaking lines with CRLF."""

    def __init__(self, host, port, source=None, timeout=None):
        self.timeout = READ_TIMEOUT if timeout is None else timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source:
            self.sock.bind((source, 0))
        self.sock.settimeout(self.timeout)
        self.sock.connect((host, port))
        self.buf = b""
        self.eof = False

    def send(self, data):
        """Raw bytes in one write (pipelining: several lines at once)."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def sendline(self, line):
        self.send((line.encode("latin-1") if isinstance(line, str) else line) + b"\r\n")

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise ProtocolError("timeout after %gs (buffered %r)" % (timeout, self.buf))
        except OSError:
            chunk = b""     # reset, or a TLS alert/close: the peer is gone
        if not chunk:
            self.eof = True
        self.buf += chunk

    def readline_raw(self, timeout=None):
        """The next line with its line end, b"" at EOF (a last partial line
        is returned as it is)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.time() + timeout
        while b"\n" not in self.buf and not self.eof:
            self._fill(max(0.01, deadline - time.time()))
        i = self.buf.find(b"\n")
        n = i + 1 if i >= 0 else len(self.buf)
        line, self.buf = self.buf[:n], self.buf[n:]
        return line

    def readline(self, timeout=None):
        """The next line as text without CRLF; None at EOF."""
        raw = self.readline_raw(timeout)
        if not raw:
            return None
        return raw.decode("latin-1").rstrip("\r\n")

    def read_multiline_raw(self, timeout=None):
        """Bytes up to and including the terminating ".\\r\\n" (RFC 1939)."""
        out = b""
        while True:
            line = self.readline_raw(timeout)
            if not line:
                raise ProtocolError("connection closed inside a multi-line reply: %r" % out)
            out += line
            if line == b".\r\n":
                return out

    def read_multiline(self, timeout=None):
        """Lines of a multi-line reply, dot-unstuffed, without the final "."."""
        raw = self.read_multiline_raw(timeout)
        lines = raw[:-3].decode("latin-1").split("\r\n")[:-1]
        return [l[1:] if l.startswith(".") else l for l in lines]

    def expect(self, pattern, timeout=None):
        """Read a line; it must match the regex pattern (re.match). Returns
        the match object, raises ProtocolError otherwise."""
        line = self.readline(timeout)
        m = re.match(pattern, line) if line is not None else None
        if not m:
            raise ProtocolError("expected /%s/, got %r" % (pattern, line))
        return m

    def command(self, line, pattern=None, timeout=None):
        """Send one command; return its reply line (checked against pattern)."""
        self.sendline(line)
        if pattern is None:
            return self.readline(timeout)
        return self.expect(pattern, timeout).string

    def wait_close(self, timeout=None):
        """Wait for EOF; returns the bytes that came before it. Raises
        ProtocolError when the server keeps the connection open."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.time() + timeout
        while not self.eof:
            left = deadline - time.time()
            if left <= 0:
                raise ProtocolError("still open after %gs (got %r)" % (timeout, self.buf))
            self._fill(left)
        data, self.buf = self.buf, b""
        return data

    def starttls(self, context, hostname=HOSTNAME):
        """TLS handshake on this connection (after "+OK" to STLS). Bytes the
        server sent before it would be a pipelining bug: ProtocolError."""
        if self.buf:
            raise ProtocolError("data before the TLS handshake: %r" % self.buf)
        self.sock.settimeout(self.timeout)
        self.sock = context.wrap_socket(self.sock, server_hostname=hostname)

    def tls_version(self):
        return self.sock.version() if hasattr(self.sock, "version") else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Tap:
    """TAP output: ok() per assertion, done() prints the plan."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, details=None):
        self.n += 1
        desc = desc.replace("#", "\\#").replace("\n", " ")
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, desc))
        if not cond:
            self.failed += 1
            if details:
                self.diag(details)
        sys.stdout.flush()
        return bool(cond)

    def eq(self, got, want, desc):
        return self.ok(got == want, desc, "got:  %r\nwant: %r" % (got, want))

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            print("# " + line)
        sys.stdout.flush()

    def skip(self, desc, reason):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, desc, reason))

    def done(self):
        print("1..%d" % self.n)
        sys.stdout.flush()
        return 1 if self.failed else 0


def skip_all(reason):
    print("1..0 # SKIP %s" % reason)
    sys.stdout.flush()
    sys.exit(0)


def bail_out(reason):
    print("Bail out! %s" % reason.replace("\n", " "))
    sys.stdout.flush()
    sys.exit(1)
