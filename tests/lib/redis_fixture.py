"""redis_fixture: a private redis-server for one test (relay.backend =
"redis", ispmaild.conf(5) "More than one machine").

Redis(password=None) starts Debian's redis-server on 127.0.0.1 and a free
port, with nothing saved (--save '' --appendonly no) in its own temporary
folder, never the system's one; stop() and start() again keep the port (a
Redis that goes away and comes back); close() stops it and removes the
folder. cmd("GET", key) speaks RESP over a plain socket and returns the
reply (bytes, int, list, None; an error reply raises RedisError).
conf() is the ispmaild configuration that points at it.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import ispmaild_test as T


class RedisError(Exception):
    pass


def _encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RedisError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RedisError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest.decode("latin-1"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RedisError("bad reply %r" % line)


class Redis:
    def __init__(self, password=None):
        if not shutil.which("redis-server"):
            raise T.HarnessError("redis-server not installed (quickstart TEST_DEPS)")
        self.dir = tempfile.mkdtemp(prefix="ispmaild-redis-")
        self.password = password
        self.port = T.free_port()
        self.proc = None
        self.password_file = None
        if password is not None:
            self.password_file = os.path.join(self.dir, "redis.pass")
            with open(self.password_file, "w") as f:
                f.write(password + "\n")
            os.chmod(self.password_file, 0o644)
            os.chmod(self.dir, 0o755)
        self.start()

    def start(self):
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", self.dir,
               "--logfile", os.path.join(self.dir, "redis.log")]
        if self.password is not None:
            cmd += ["--requirepass", self.password]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10 * T.PATIENCE
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise T.HarnessError("redis-server exited with %d: %s"
                                     % (self.proc.returncode, self.log()))
            try:
                if self.cmd("PING") == b"PONG":
                    return
            except (OSError, RedisError):
                pass
            time.sleep(0.05)
        raise T.HarnessError("redis-server not ready: " + self.log())

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log")) as f:
                return f.read()
        except OSError:
            return ""

    def cmd(self, *args):
        """One command on a new connection (AUTH first when a password is set)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            r = _Reader(s)
            if self.password is not None:
                s.sendall(_encode(["AUTH", self.password]))
                r.reply()
            s.sendall(_encode(list(args)))
            return r.reply()

    def keys(self, pattern="*"):
        return sorted(k.decode() for k in self.cmd("KEYS", pattern))

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def conf(self, prefix=None):
        c = {"relay.backend": "redis", "redis.address": "127.0.0.1:%d" % self.port}
        if self.password_file is not None:
            c["redis.password_file"] = self.password_file
        if prefix is not None:
            c["redis.prefix"] = prefix
        return c

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
