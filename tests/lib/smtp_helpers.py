"""smtp_helpers: what the SMTP session and interop tests share, on top of
ispmaild_test: an SMTP client that reads whole (multi-line) replies, a POP3
login that authorizes an address for relaying (docs/PROTOCOL.md, relay policy),
and readers for the Maildirs and the queue (<state_dir>/queue/{env,new,tmp},
queue/queue.h).

Python 3 standard library only.
"""

import os
import re
import signal
import socket
import time

import ispmaild_test as T

# "Received: from HELO ([IP])\n\tby HOST (ispmaild) with PROTO id ID
#  [\n\tfor <RCPT>]; DATE\n" (RFC 5321 4.4, RFC 5322 3.3 date)
DATE_RE = rb"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"
FIRST_POP_EHLO = ("553 5.7.1 To send mail, first check your mail with a valid "
                  "POP account; this prevents unauthorized SPAM relaying.")
FIRST_POP_HELO = ("553 To send mail, first check your mail with a valid POP "
                  "account; this prevents unauthorized SPAM relaying. (#5.7.1)")


def denied(mailbox, esmtp):
    """The relay policy's 550 for a remote recipient from outside."""
    return "550 %srelaying to <%s> prohibited by administrator" % (
        "5.7.1 " if esmtp else "", mailbox)


def user_unknown(mailbox):
    return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % mailbox


class Smtp:
    """One SMTP connection. reply() returns the lines of one reply (text
    without CRLF); cmd() sends a line and returns its reply."""

    def __init__(self, srv, service="smtp", source=T.OUTSIDER, timeout=None):
        self.srv = srv
        self.c = srv.connect(service, source, timeout)
        self.greeting = self.reply()

    def local_port(self):
        return self.c.sock.getsockname()[1]

    def reply(self, timeout=None):
        lines = []
        while True:
            line = self.c.readline(timeout)
            if line is None:
                raise T.ProtocolError("connection closed (reply so far %r)" % lines)
            lines.append(line)
            if not re.match(r"\d{3}-", line):
                return lines

    def last(self, timeout=None):
        """The last line of the next reply (the whole reply when one line)."""
        return self.reply(timeout)[-1]

    def cmd(self, line, timeout=None):
        """Send a command; the last line of its reply."""
        self.c.sendline(line)
        return self.last(timeout)

    def send(self, data):
        self.c.send(data)

    def hello(self, esmtp=True, name="client.example"):
        self.c.sendline(("EHLO " if esmtp else "HELO ") + name)
        return self.reply()

    def data(self, body):
        """DATA, then body (bytes with CRLF line ends, dot-stuffed, without
        the terminator) and "\\r\\n.\\r\\n" or ".\\r\\n"; (354 line, final)."""
        go = self.cmd("DATA")
        if not go.startswith("354"):
            return go, None
        if body and not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.c.send(body + b".\r\n")
        return go, self.last()

    def transaction(self, sender, rcpts, body):
        """MAIL, RCPTs, DATA; the list of every reply line's last line."""
        out = [self.cmd("MAIL FROM:<%s>" % sender)]
        out += [self.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        go, final = self.data(body)
        out += [go] + ([final] if final is not None else [])
        return out

    def quit(self):
        try:
            r = self.cmd("QUIT")
        except (T.ProtocolError, OSError):
            r = None
        self.c.close()
        return r

    def close(self):
        self.c.close()


def pop_login(srv, user, password, source=T.CUSTOMER):
    """A POP3 USER/PASS/QUIT from source: the relay DB then authorizes it."""
    c = srv.connect("pop3", source)
    try:
        c.expect(r"\+OK")
        c.command("USER " + user, r"\+OK")
        c.command("PASS " + password, r"\+OK")
        c.command("QUIT", r"\+OK")
    finally:
        c.close()


def to_wire(data):
    """A message with LF line ends as a client sends it in DATA: CRLF, a
    leading "." doubled (RFC 5321 4.5.2), without the terminator."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)


# --- what is on disk ---

def maildir_messages(srv, address):
    """[(name, bytes)] of the files in address's Maildir new/, oldest name first."""
    md = srv.maildir(address)
    out = []
    for name in srv.files(address)["new"]:
        with open(os.path.join(md, "new", name), "rb") as f:
            out.append((name, f.read()))
    return out


def maildir_inodes(srv, address):
    md = srv.maildir(address)
    return [os.stat(os.path.join(md, "new", n)).st_ino for n in srv.files(address)["new"]]


def queue_files(srv):
    """{"env": [...], "new": [...], "tmp": [...]} under <state_dir>/queue."""
    out = {}
    for sub in ("env", "new", "tmp"):
        try:
            out[sub] = sorted(n for n in os.listdir(os.path.join(srv.state_dir, "queue", sub))
                              if not n.startswith("."))
        except FileNotFoundError:
            out[sub] = []
    return out


def queue_empty(srv):
    q = queue_files(srv)
    return not q["env"] and not q["new"] and not q["tmp"]


def envelope(srv, qid):
    """A queued envelope parsed (queue/queue.h): {"arrival", "sender",
    "data", "client", "rcpt": [(state, tries, next, address)], "replies":
    [last reply per recipient]}; also "text", the raw file."""
    with open(os.path.join(srv.state_dir, "queue", "env", qid), "rb") as f:
        text = f.read().decode("latin-1")
    env = {"text": text, "rcpt": [], "replies": []}
    for line in text.split("\n")[1:]:
        key, _, rest = line.partition(" ")
        if key == "rcpt":
            head, _, reply = rest.partition("\t")
            env["rcpt"].append(tuple(head.split(" ", 3)))
            env["replies"].append(reply)
        elif key:
            env[key] = rest
    return env


def queue_data(srv, name):
    with open(os.path.join(srv.state_dir, "queue", "new", name), "rb") as f:
        return f.read()


def split_trace(data, local=True):
    """(Return-Path line, Received header with its folds, the rest) of a
    delivered message; Return-Path is None when local is False."""
    rp = None
    if local:
        rp, _, data = data.partition(b"\n")
    m = re.match(rb"(Received: [^\n]*\n(?:\t[^\n]*\n)*)", data)
    if not m:
        return rp, None, data
    return rp, m.group(1), data[m.end():]


def received_re(helo, ip, proto, rcpt=None, qid=r"[\w.-]+"):
    """The Received header we write, as a bytes regex; group "id"."""
    r = (rb"Received: from " + re.escape(helo.encode()) + rb" \(\[" + re.escape(ip.encode())
         + rb"\]\)\n\tby " + re.escape(T.HOSTNAME.encode()) + rb" \(ispmaild\) with "
         + proto.encode() + rb" id (?P<id>" + qid.encode() + rb")")
    if rcpt:
        r += rb"\n\tfor <" + re.escape(rcpt.encode()) + rb">"
    return r + rb"; " + DATE_RE + rb"\n\Z"


# --- the session child ---

def session_pid(srv, port, timeout=5.0):
    """The pid of the child serving the connection from local port port,
    read from its "connect ... port=N" log line: the last one, as an
    earlier connection may have had the same port."""
    deadline = time.time() + timeout * T.PATIENCE
    pat = re.compile(r"ispmaild\[(\d+)\]: \w+: .*\bconnect service=\w+ client=\S+ port=%d\b" % port)
    while time.time() < deadline:
        found = pat.findall(srv.log())
        if found:
            return int(found[-1])
        time.sleep(0.05)
    return None


def session_ended(srv, port, timeout=10.0):
    """Wait until the session of the connection from local port port has
    logged its last line ("disconnect"): its process may live on to serve
    the next client (limits.max_use), so its pid says nothing."""
    pat = re.compile(r": \w+: (s=[0-9a-f]+) connect service=\w+ client=\S+ port=%d\b" % port)
    deadline = time.time() + timeout * T.PATIENCE
    while time.time() < deadline:
        log = srv.log()
        ids = pat.findall(log)     # the last: a port may have been used before
        if ids and re.search(r": \w+: %s disconnect\b" % ids[-1], log):
            return True
        time.sleep(0.05)
    return False


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False


def kill_session(pid, timeout=5.0):
    """SIGKILL a session child and wait until it is gone (or a zombie). A
    process in an fsync on a busy disk dies only when the fsync returns:
    the wait stretches by T.PATIENCE like every wait for an event."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + timeout * T.PATIENCE
    while time.time() < deadline and pid_alive(pid):
        time.sleep(0.02)
    return not pid_alive(pid)


PAUSE_RE = re.compile(r"\blogin user=.* result=fail .*\bclient=(\S+) .*"
                      r"\bfailures=(\d+) pause_ms=(\d+)$", re.M)


def log_mark(srv):
    """Where the daemon's log ends now: pass it as since= below."""
    return len(srv.log())


def auth_pauses(srv, client=None, since=0):
    """The pauses after failed logins that the daemon decided, from its
    failed-login lines (common/session.c) after log offset since:
    [(failures, milliseconds)], of one client address when given. The line
    is written before the pause, so before the failure's reply."""
    return [(int(f), int(ms)) for c, f, ms in PAUSE_RE.findall(srv.log()[since:])
            if client is None or c == client]


def retirements(srv, pid=None):
    """Idle session processes the master retired for limits.max_idle
    (daemon/master.c logs each): [(pid, idle_ms, max_idle seconds)]."""
    got = [(int(p), int(ms), int(mx)) for p, ms, mx in re.findall(
        r"\bretire pid=(\d+) reason=max-idle idle_ms=(\d+) max_idle=(\d+)$", srv.log(), re.M)]
    return [r for r in got if pid is None or r[0] == pid]


def wait_for(cond, timeout=5.0, step=0.05):
    """Poll cond() until it is true or timeout (times T.PATIENCE) passes;
    its last value. For events that must come, never to time a duration."""
    deadline = time.time() + timeout * T.PATIENCE
    while True:
        v = cond()
        if v or time.time() >= deadline:
            return v
        time.sleep(step)


class Tarpit:
    """A smarthost that never speaks: a listening socket nobody accepts on
    (the kernel completes the handshakes), so the queue runner's worker
    waits its command_timeout for a greeting. Meanwhile a queued message
    stays as the session wrote it, and the test can look at it. Use
    config={"relay.smarthost": tarpit.smarthost()}; without it the runner
    bounces mail for the test's made-up domains at once (NXDOMAIN)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def smarthost(self):
        return "[127.0.0.1]:%d" % self.port

    def close(self):
        self.sock.close()
