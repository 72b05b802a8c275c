"""dnsfix: a real DNS server for the outbound tests: dnsmasq (Debian's
dnsmasq-base) started on a free loopback port, authoritative for a small
made-up zone whose mail exchangers are 127.0.x.y. Point the daemon at it
with dns.nameserver = dns.nameserver() ("127.0.0.1:PORT").

The flags are those tests/unit/test_dns.c uses: --no-daemon in the
foreground, --no-resolv/--no-hosts/--conf-file=/dev/null so nothing of the
host leaks in, --local=/test/ so names nobody defined are NXDOMAIN at once,
and --user=root when root (no need for a "nobody" that can read the zone).

    dns = Dnsmasq(mx={"two.test": [(10, "mx1.two.test"), (20, "mx2.two.test")]},
                  a={"mx1.two.test": "127.0.5.10", "mx2.two.test": "127.0.5.11"},
                  null_mx=["void.test"])

Python 3 standard library only.
"""

import os
import random
import shutil
import socket
import struct
import subprocess
import tempfile
import time

PATHS = ("/usr/sbin/dnsmasq", "/usr/local/sbin/dnsmasq", "/sbin/dnsmasq")


def dnsmasq_path():
    for p in PATHS:
        if os.access(p, os.X_OK):
            return p
    return shutil.which("dnsmasq")


def _free_udp_tcp_port():
    """A port free on 127.0.0.1 for both UDP and TCP (dnsmasq binds both)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise OSError("no free UDP+TCP port on 127.0.0.1")


def query(port, name, qtype=1, timeout=0.5):
    """One DNS question over UDP to 127.0.0.1:port; (rcode, answer count),
    or None on timeout. qtype 1 = A, 15 = MX."""
    qid = random.randint(0, 65535)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode("ascii")
    q += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ("127.0.0.1", port))
        while True:
            data, _ = s.recvfrom(4096)
            if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                flags, _, ancount = struct.unpack(">HHH", data[2:8])
                return flags & 0xF, ancount
    except (socket.timeout, ConnectionRefusedError):
        return None
    finally:
        s.close()


class Dnsmasq:
    """dnsmasq serving mx {domain: [(pref, host)]}, a {host: "addr" or
    [addrs]}, null_mx [domain] (RFC 7505: MX 0 "."), cname {alias: target},
    txt {name: value} (one string; dnsmasq would split a value at commas)."""

    def __init__(self, mx=None, a=None, null_mx=(), cname=None, txt=None):
        path = dnsmasq_path()
        if path is None:
            raise FileNotFoundError("dnsmasq not installed")
        self.dir = tempfile.mkdtemp(prefix="ispmaild-dns-")
        self.log_file = os.path.join(self.dir, "dnsmasq.log")
        self.port = _free_udp_tcp_port()
        args = [path, "--no-daemon", "--port=%d" % self.port,
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--pid-file", "--local=/test/", "--log-queries",
                "--host-record=ready.dnsfix.test,127.0.0.1"]
        if os.geteuid() == 0:
            args.append("--user=root")
        for domain, hosts in (mx or {}).items():
            for pref, host in hosts:
                args.append("--mx-host=%s,%s,%d" % (domain, host, pref))
        for host, addrs in (a or {}).items():
            if isinstance(addrs, str):
                addrs = [addrs]
            args.append("--host-record=%s,%s" % (host, ",".join(addrs)))
        for domain in null_mx:
            args.append("--dns-rr=%s,15,000000" % domain)   # pref 0, root name
        for alias, target in (cname or {}).items():
            args.append("--cname=%s,%s" % (alias, target))
        for name, value in (txt or {}).items():
            if "," in value:
                raise ValueError("a TXT value with a comma: dnsmasq would split it")
            args.append("--txt-record=%s,%s" % (name, value))
        self.args = args
        self._log = open(self.log_file, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            r = query(self.port, "ready.dnsfix.test")
            if r is not None and r[0] == 0 and r[1] >= 1:
                return
            time.sleep(0.05)
        log = self.log()
        self.stop()
        raise OSError("dnsmasq did not answer on 127.0.0.1:%d: %s" % (self.port, log))

    def nameserver(self):
        return "127.0.0.1:%d" % self.port

    def log(self):
        try:
            with open(self.log_file, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
