"""sink: an SMTP server of the tests' own that stands in for the rest of the
Internet when the queue runner delivers (RFC 5321, RFC 2920 PIPELINING,
RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3207 STARTTLS).

It listens on a loopback address in a thread of the test process, records
every connection, command and message, and answers as the test scripts it:

    sink = Sink(rcpt={"bob@remote.test": ["451 4.3.0 try later", "250 ok"]})
    ... the daemon delivers ...
    sink.wait_messages(1)
    m = sink.messages[0]   # a Message: sender, rcpts, data (CRLF, unstuffed)

A reply list is consumed one entry per use (per RCPT of that address, per
MAIL, per DATA): the first attempt gets the first entry, the retry the
second; when the list is used up the default (250) answers. Refuser holds
an address:port bound but not listening, so connections to it are refused.

Python 3 standard library only.
"""

import os
import random
import re
import select
import socket
import ssl
import threading
import time

DEFAULT_GREETING = "220 sink.test ESMTP test sink"
# Waits stretch when the daemon runs under valgrind ($ISPMAILD_WRAPPER).
SCALE = float(os.environ.get("TIMEOUT_SCALE") or (5 if os.environ.get("ISPMAILD_WRAPPER") else 1))
# The waits below are for events that must come: on a loaded machine they
# may take longer (ispmaild_test.PATIENCE, kept in step by hand: this file
# imports nothing of the harness).
PATIENCE = float(os.environ.get("TEST_PATIENCE") or 3)
MAX_LINE = 65536


class Message:
    """One transaction that reached the end of DATA."""

    def __init__(self, conn, helo, sender, params, rcpts, data, raw):
        self.conn = conn            # Connection number (1, 2, ...)
        self.helo = helo            # "EHLO name" or "HELO name" as sent
        self.sender = sender        # the MAIL FROM path without <>, "" for <>
        self.params = params        # MAIL parameters, e.g. ["SIZE=123"]
        self.rcpts = rcpts          # the recipients we answered 2xx, in order
        self.data = data            # the message, CRLF, dot-stuffing undone
        self.raw = raw              # the bytes as they came, up to ".\r\n"
        self.reply = None           # our reply to the final dot
        self.reply_sent = False     # False: the client was gone by then
        self.tls = False

    def delivered(self):
        """The client got our 2xx for it (the message is ours now)."""
        return self.reply_sent and self.reply.startswith("2")

    def __repr__(self):
        return "<Message conn=%d from=<%s> to=%r %d bytes reply=%r sent=%s>" % (
            self.conn, self.sender, self.rcpts, len(self.data), self.reply,
            self.reply_sent)


class Connection:
    """What the sink saw on one connection."""

    def __init__(self, number, peer):
        self.number = number
        self.peer = peer
        self.commands = []          # (line, pipelined): pipelined = more input
        self.tls = False            # was already waiting when it was read
        self.closed = False
        self.quit = False


class Sink:
    """A scripted SMTP server on (address, port); port 0 picks one.

    rcpt: {address: [reply, ...]} per RCPT of that address (lower case);
    mail: [reply, ...] per MAIL; data: [reply, ...] per end of DATA;
    stall: [seconds, ...] per end of DATA, to wait before replying (the
    wait ends early when the client goes away; then the message is kept
    with reply_sent False); greeting: [line, ...] per connection ("554 ..."
    refuses the session); ehlo: [reply, ...] per EHLO ("502 ..." makes the
    client fall back to HELO). tls: (certfile, keyfile) offers STARTTLS.
    """

    def __init__(self, address="127.0.0.1", port=0, rcpt=None, mail=None,
                 data=None, stall=None, greeting=None, ehlo=None, tls=None,
                 name="sink.test", size=10240000):
        self.address = address
        self.name = name
        self.size = size
        self._rcpt = {k.lower(): list(v) for k, v in (rcpt or {}).items()}
        self._mail = list(mail or [])
        self._data = list(data or [])
        self._stall = list(stall or [])
        self._greeting = list(greeting or [])
        self._ehlo = list(ehlo or [])
        self.tls_ctx = None
        if tls:
            self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_ctx.load_cert_chain(tls[0], tls[1])
        self.messages = []          # every Message, in the order DATA ended
        self.connections = []       # every Connection
        self.rcpt_log = []          # (conn, address, reply) for each RCPT
        self.errors = []            # exceptions in handler threads
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._threads = []
        self._socks = set()
        self._queued = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name="sink-accept", daemon=True)
        t.start()
        self._threads.append(t)

    # --- for the test ---

    def smarthost(self):
        """relay.smarthost for this sink, without MX lookup."""
        return "[%s]:%d" % (self.address, self.port)

    def script_rcpt(self, address, replies):
        with self._lock:
            self._rcpt[address.lower()] = list(replies)

    def wait_messages(self, n, timeout=15.0, delivered=True):
        """Wait until n messages (delivered=True: n acknowledged with 2xx)
        arrived; returns the list of them (maybe fewer after timeout)."""
        deadline = time.time() + timeout * SCALE * PATIENCE
        with self._cond:
            while True:
                got = [m for m in self.messages if m.delivered() or not delivered]
                left = deadline - time.time()
                if len(got) >= n or left <= 0:
                    return got
                self._cond.wait(min(left, 0.2))

    def wait_connections(self, n, timeout=15.0):
        deadline = time.time() + timeout * SCALE * PATIENCE
        with self._cond:
            while len(self.connections) < n and time.time() < deadline:
                self._cond.wait(0.1)
            return len(self.connections)

    def wait_stalling(self, timeout=15.0):
        """Wait until a DATA is being held by a stall; returns the Message
        (its reply not sent yet), or None."""
        deadline = time.time() + timeout * SCALE * PATIENCE
        with self._cond:
            while time.time() < deadline:
                for m in self.messages:
                    if m.reply is None:
                        return m
                self._cond.wait(0.1)
        return None

    def delivered(self):
        with self._lock:
            return [m for m in self.messages if m.delivered()]

    def rcpt_tries(self, address):
        """How many RCPT commands named address."""
        with self._lock:
            return sum(1 for _, a, _ in self.rcpt_log if a.lower() == address.lower())

    def close(self):
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the server ---

    def _next(self, lst, default):
        with self._lock:
            return lst.pop(0) if lst else default

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                s, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._cond:
                conn = Connection(len(self.connections) + 1, peer)
                self.connections.append(conn)
                self._socks.add(s)
                self._cond.notify_all()
            t = threading.Thread(target=self._serve, args=(s, conn),
                                 name="sink-conn-%d" % conn.number, daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, s, conn):
        io = _LineIO(s)
        try:
            self._session(io, conn)
        except (OSError, ssl.SSLError, _Gone):
            pass
        except Exception as e:      # a bug in the sink: let the test see it
            with self._lock:
                self.errors.append("%s: %s" % (type(e).__name__, e))
        finally:
            conn.closed = True
            io.close()
            with self._cond:
                self._socks.discard(s)
                self._cond.notify_all()

    def _session(self, io, conn):
        greeting = self._next(self._greeting, DEFAULT_GREETING)
        io.reply(greeting)
        if not greeting.startswith("2"):
            # RFC 5321 3.1: after 554 the client should QUIT; answer 503 else.
            while True:
                line = io.readline()
                if line.upper().startswith("QUIT"):
                    io.reply("221 2.0.0 bye")
                    return
                io.reply("503 5.5.1 no service here")
        helo = None
        sender = None
        params = []
        rcpts = []
        while not self._stop.is_set():
            pipelined = io.buffered()
            line = io.readline()
            conn.commands.append((line, pipelined))
            verb = line.split(" ", 1)[0].upper()
            arg = line[len(verb) + 1:] if " " in line else ""
            if verb == "EHLO":
                r = self._next(self._ehlo, None)
                if r is not None:
                    io.reply(r)
                    continue
                helo = line
                sender, params, rcpts = None, [], []
                ext = ["PIPELINING", "SIZE %d" % self.size, "8BITMIME"]
                if self.tls_ctx is not None and not io.tls:
                    ext.append("STARTTLS")
                lines = [self.name + " hello " + arg] + ext
                io.reply("\r\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", l)
                                     for i, l in enumerate(lines)))
            elif verb == "HELO":
                helo = line
                sender, params, rcpts = None, [], []
                io.reply("250 %s" % self.name)
            elif verb == "STARTTLS" and self.tls_ctx is not None and not io.tls:
                if io.buffered():
                    io.reply("554 5.5.1 input pipelined behind STARTTLS")
                    return
                io.reply("220 2.0.0 Ready to start TLS")
                io.start_tls(self.tls_ctx)
                conn.tls = True
                helo, sender, params, rcpts = None, None, [], []
            elif verb == "MAIL":
                m = re.match(r"(?i)FROM:\s*<([^>]*)>\s*(.*)$", arg)
                if helo is None:
                    io.reply("503 5.5.1 EHLO first")
                elif sender is not None:
                    io.reply("503 5.5.1 nested MAIL")
                elif not m:
                    io.reply("501 5.5.4 syntax: MAIL FROM:<address>")
                else:
                    r = self._next(self._mail, "250 2.1.0 Ok")
                    if r.startswith("2"):
                        sender, params, rcpts = m.group(1), m.group(2).split(), []
                    io.reply(r)
            elif verb == "RCPT":
                m = re.match(r"(?i)TO:\s*<([^>]*)>", arg)
                if sender is None:
                    io.reply("503 5.5.1 MAIL first")
                elif not m:
                    io.reply("501 5.5.4 syntax: RCPT TO:<address>")
                else:
                    addr = m.group(1)
                    with self._lock:
                        lst = self._rcpt.get(addr.lower())
                        r = lst.pop(0) if lst else "250 2.1.5 Ok"
                        self.rcpt_log.append((conn.number, addr, r))
                    if r.startswith("2"):
                        rcpts.append(addr)
                    io.reply(r)
            elif verb == "DATA":
                if sender is None:
                    io.reply("503 5.5.1 MAIL first")
                elif not rcpts:
                    io.reply("554 5.5.1 no valid recipients")
                else:
                    io.reply("354 End data with <CR><LF>.<CR><LF>")
                    self._message(io, conn, helo, sender, params, rcpts)
                    sender, params, rcpts = None, [], []
            elif verb == "RSET":
                sender, params, rcpts = None, [], []
                io.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                io.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                conn.quit = True
                io.reply("221 2.0.0 Bye")
                return
            else:
                io.reply("502 5.5.2 command not recognized")

    def _message(self, io, conn, helo, sender, params, rcpts):
        raw = b""
        data = b""
        while True:
            line = io.readline_raw()
            raw += line
            if line == b".\r\n":
                break
            data += line[1:] if line.startswith(b".") else line
        m = Message(conn.number, helo, sender, params, list(rcpts), data, raw)
        m.tls = io.tls
        with self._cond:
            self.messages.append(m)
            self._cond.notify_all()
        stall = self._next(self._stall, 0)
        if stall and not io.wait_gone(stall, self._stop):
            with self._cond:
                m.reply = "(client gone while we stalled)"
                self._cond.notify_all()
            raise _Gone()
        with self._lock:
            self._queued += 1
            n = self._queued
        r = self._next(self._data, "250 2.0.0 Ok: queued as SINK%d" % n)
        try:
            io.reply(r)
            sent = True
        except OSError:
            sent = False
        with self._cond:
            m.reply = r
            m.reply_sent = sent
            self._cond.notify_all()
        if not sent:
            raise _Gone()


class _Gone(Exception):
    pass


class _LineIO:
    """CRLF lines over a socket that may turn into TLS."""

    def __init__(self, s):
        self.s = s
        self.s.settimeout(60)
        self.buf = b""
        self.tls = False

    def buffered(self):
        return bool(self.buf)

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise _Gone()
        self.buf += chunk

    def readline_raw(self):
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise _Gone()
            self._fill()
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def readline(self):
        return self.readline_raw().decode("latin-1").rstrip("\r\n")

    def reply(self, text):
        self.s.sendall(text.encode("latin-1") + b"\r\n")

    def start_tls(self, ctx):
        self.s = ctx.wrap_socket(self.s, server_side=True)
        self.tls = True

    def wait_gone(self, seconds, stop):
        """Sleep up to seconds; False as soon as the peer closes (or stop)."""
        deadline = time.time() + seconds
        while time.time() < deadline and not stop.is_set():
            if self.tls:
                time.sleep(0.05)
                continue
            r, _, _ = select.select([self.s], [], [], 0.05)
            if r:
                try:
                    chunk = self.s.recv(65536, socket.MSG_PEEK)
                except OSError:
                    return False
                if not chunk:
                    return False
                time.sleep(0.05)    # it pipelined more: keep it buffered
        return not stop.is_set()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class Hostile:
    """A server that never finishes a reply, for the runner's deadlines.

    behaviour "endless": after connect, "220-" continuation lines, one every
    `pace` seconds, forever (the reply never ends). "trickle": a normal
    greeting, then to EHLO (and anything after) "250-" lines sent one byte
    every `pace` seconds, forever. Each connection's open and close times
    are kept (opened, closed: lists of (number, time)) so a test can see
    how many were open at once; received holds every byte the client sent.
    At each accept the earlier connections are probed for the client's
    close, so a close this process has not handled yet still counts as a
    close (max_open does not depend on how fast the sink's threads run).
    """

    def __init__(self, address="127.0.0.1", port=0, behaviour="endless", pace=0.01):
        self.address = address
        self.behaviour = behaviour
        self.pace = pace
        self.intervals = []         # [opened, closed or None] per connection
        self._open = []             # (socket, interval) not seen closed yet
        self._max_open = 0
        self.received = b""
        self.errors = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, name="hostile-accept", daemon=True)
        t.start()
        self._threads.append(t)

    def max_open(self):
        """The most connections the client had open at the same time (as
        counted at each accept)."""
        with self._lock:
            return self._max_open

    @staticmethod
    def _client_closed(s):
        """Has the client closed s (EOF or reset waiting), without reading?"""
        try:
            r, _, _ = select.select([s], [], [], 0)
            if not r:
                return False
            return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True

    def connections(self):
        with self._lock:
            return len(self.intervals)

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                s, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                iv = [time.time(), None]
                self.intervals.append(iv)
                self._open = [(o, oiv) for o, oiv in self._open
                              if oiv[1] is None and not self._client_closed(o)]
                self._open.append((s, iv))
                self._max_open = max(self._max_open, len(self._open))
            t = threading.Thread(target=self._serve, args=(s, iv), daemon=True)
            t.start()
            self._threads.append(t)

    def _gone(self, s):
        """Did the client close (or send something: keep it)?"""
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            return False
        chunk = s.recv(65536)
        if not chunk:
            return True
        with self._lock:
            self.received += chunk
        return False

    def _send_paced(self, s, data, bytewise):
        for piece in ([data[i:i + 1] for i in range(len(data))] if bytewise else [data]):
            if self._stop.is_set() or self._gone(s):
                return False
            s.sendall(piece)
            time.sleep(self.pace)
        return True

    def _serve(self, s, iv):
        try:
            s.settimeout(30)
            if self.behaviour == "endless":
                n = 0
                while self._send_paced(s, b"220-still greeting you, line %d\r\n" % n, False):
                    n += 1
            else:
                s.sendall(b"220 trickle.test ESMTP\r\n")
                while not self._stop.is_set() and not self.received:
                    if self._gone(s):
                        return
                    time.sleep(0.05)
                while self._send_paced(s, b"250-slowly\r\n", True):
                    pass
        except OSError:
            pass
        finally:
            with self._lock:
                iv[1] = time.time()
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        for t in self._threads:
            t.join(5)


class Refuser:
    """An address:port bound but not listening: connections get RST
    (ECONNREFUSED), and no other test can take the address meanwhile."""

    def __init__(self, address="127.0.0.1", port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((address, port))
        self.address = address
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def can_bind(port):
    """Can this process bind port on a loopback address (port 25: root)?"""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0 if port == 0 else port))
        finally:
            s.close()
        return True
    except PermissionError:
        return False
    except OSError:
        return True     # in use: permitted, just taken


def free_loopback(port, make, tries=200):
    """make(address) on a random 127.0.x.y whose port is free (port 25 for
    MX delivery: parallel tests each take their own addresses). Returns
    the object make built."""
    last = None
    for _ in range(tries):
        addr = "127.0.%d.%d" % (random.randint(1, 254), random.randint(2, 254))
        try:
            return make(addr)
        except OSError as e:
            last = e
    raise OSError("no free loopback address for port %d: %s" % (port, last))
