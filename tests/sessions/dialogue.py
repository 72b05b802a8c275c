#!/usr/bin/env python3
"""dialogue.py FILE.dlg: run a scripted session against a fresh ispmaild.

A .dlg file is both a test and a transcript of the protocol. Blank lines and
lines starting with "#" are ignored. Each S-line and @check/@expect line is
one TAP assertion; the last one checks that the daemon exits 0 on SIGTERM.

Setup (anywhere before the first session line; the daemon starts there):
  @service pop3 smtp        listeners to open (default: pop3)
  @config limits.max_per_ip = 2    a setting, value in libconfig syntax
  @tls                      a self-signed certificate and a tls block
Any time:
  @user ADDR PASSWORD       ispmailctl user add
  @message ADDR NAME TEXT   drop a message into ADDR's Maildir new/; TEXT is
                            inline with escapes, "< FILE" (beside the .dlg),
                            or "<<END" followed by lines up to "END"
  @message-as ADDR NAME new/FILE TEXT   the same under a file name of one's
                            own (cur/x:2,S; a name without S= and W=)
Sessions (the first C/S line opens connection "main" if none is open):
  @source 127.0.0.2         source address of later connections
  @connect NAME [source=A] [service=S]   open another connection, use it
  @use NAME  |  @close  |  @reconnect    switch / close / close and reopen
  C: text     send text + CRLF        C- text   send text, no CRLF
              escapes: \\r \\n \\t \\\\ \\xHH, \\{300*A} repeats; several
              commands in one write (pipelining): C: STAT\\r\\nNOOP
  S: text     the next line is exactly text (same escapes; "S:" = empty line)
  S~ regex    the next line matches regex (re.match); named groups become
              variables: S~ 1 (?P<uid1>\\S+)$  ...later...  S: 1 ${uid1}
  S= NAME [top N]   the next multi-line block is message NAME as RETR (TOP N)
              sends it: CRLF line ends, dot-stuffed, ending in "."
  S& regex    some line of the next multi-line block matches (consecutive
              S& lines share one block: CAPA)
  @expect-close [SECONDS] [REGEX]   the server closes (lines matching REGEX
                            may come first, e.g. a goodbye)
  @sleep SECONDS            (only where time passing is the point: a TTL)
  @wait-sessions N [SECONDS]   wait until `ispmailctl status` counts N
                            sessions open, every service together (the
                            master has seen the others end: their slots
                            and locks are free); never a fixed @sleep for
                            that, which a loaded machine outlasts
Checks:
  @check-relay ADDRESS USER|none   relay.db (db_dump -p) row for ADDRESS
  @check-files ADDR [new=N] [cur=N] [total=N]   files in the Maildir
  @check-log REGEX                 the daemon's log has a matching line
  @check-nolog REGEX               ... and has none (passwords, PROTOCOL.md)
Variables: ${NAME.size} (message NAME's octets as CRLF text), captures.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import harden_helpers as X  # noqa: E402

SETUP = ("service", "config", "tls")


def unescape(s):
    """Bytes of s (UTF-8) with the escapes of C: and S: lines applied."""
    def rep(m):
        e = m.group(1)
        if e.startswith(b"{"):
            n, text = e[1:-1].split(b"*", 1)
            return text * int(n)
        if e.startswith(b"x"):
            return bytes([int(e[1:], 16)])
        return {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"\\": b"\\"}[e]
    return re.sub(rb"\\(x[0-9a-fA-F]{2}|\{\d+\*[^}]*\}|[rnt\\])", rep, s.encode("utf-8"))


def parse(path):
    """[(lineno, kind, arg)] where kind is C:, C-, S:, S~, S=, S& or @name."""
    steps, lines = [], open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        no, line = i + 1, lines[i]
        i += 1
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("@"):
            name, _, arg = line[1:].partition(" ")
            nf = {"message": 3, "message-as": 4}.get(name, 0)
            if nf and len(arg.split(None, nf - 1)) == nf \
                    and arg.split(None, nf - 1)[-1].startswith("<<"):
                tag, body = arg.split(None, nf - 1)[-1][2:].strip(), []
                while i < len(lines) and lines[i] != tag:
                    body.append(lines[i])
                    i += 1
                if i == len(lines):
                    raise SyntaxError("%s:%d: no %s line" % (path, no, tag))
                i += 1
                arg = tuple(arg.split(None, nf - 1)[:-1]) + ("\n".join(body) + "\n",)
            steps.append((no, "@" + name, arg))
        elif line[:2] in ("C:", "C-", "S:", "S~", "S=", "S&"):
            steps.append((no, line[:2], line[3:] if line[2:3] == " " else line[2:]))
        else:
            raise SyntaxError("%s:%d: cannot parse %r" % (path, no, line))
    return steps


class Dialogue:
    def __init__(self, path):
        self.path, self.name = path, os.path.basename(path)
        self.steps = parse(path)
        self.tap = T.Tap()
        self.vars, self.messages, self.conns = {}, {}, {}
        self.cur, self.source, self.block = None, T.CUSTOMER, None
        services, config, tls = ["pop3"], {}, False
        for no, kind, arg in self.steps:
            if kind == "@service":
                services = arg.split()
            elif kind == "@config":
                key, _, value = arg.partition("=")
                config[key.strip()] = T.Raw(value.strip().rstrip(";"))
            elif kind == "@tls":
                tls = True
        self.server = T.Server(services=services, config=config, tls=tls)

    def sub(self, text, regex=False):
        def rep(m):
            if m.group(1) not in self.vars:
                raise KeyError("no variable ${%s}" % m.group(1))
            v = str(self.vars[m.group(1)])
            return re.escape(v) if regex else v
        return re.sub(r"\$\{([\w.@-]+)\}", rep, text)

    def conn(self):
        if self.cur is None:
            self.connect("main", self.source, "pop3" if "pop3" in self.server.ports
                         else next(iter(self.server.ports)))
        return self.conns[self.cur]

    def connect(self, name, source, service):
        if not self.server.running():
            self.server.start()
        self.conns[name] = self.server.connect(service, source)
        self.conns[name].service = service
        self.cur = name

    def line(self, where):
        c = self.conn()
        if getattr(c, "dead", None):
            raise T.ProtocolError("connection unusable: " + c.dead)
        try:
            got = c.readline()
        except T.ProtocolError as e:
            c.dead = str(e)
            raise
        if got is None:
            c.dead = "closed by the server"
            raise T.ProtocolError("connection closed by the server")
        return got

    def multiline(self):
        c = self.conn()
        if getattr(c, "dead", None):
            raise T.ProtocolError("connection unusable: " + c.dead)
        try:
            return c.read_multiline_raw()
        except T.ProtocolError as e:
            c.dead = str(e)
            raise

    def sessions_open(self):
        """Sessions open now, all services, from `ispmailctl status`."""
        return sum(v for (k, _), v in X.status_counters(self.server).items()
                   if k == "sessions")

    def where(self, no, kind, arg):
        text = arg.strip() if isinstance(arg, str) else " ".join(arg[:2]) + " <<"
        return "%s:%d %s %s" % (self.name, no, kind, text)

    def step(self, no, kind, arg):
        where = self.where(no, kind, arg)
        ok = self.tap.ok
        if kind in ("C:", "C-"):
            data = unescape(self.sub(arg)) + (b"\r\n" if kind == "C:" else b"")
            self.conn().send(data)
        elif kind == "S:":
            want = unescape(self.sub(arg))
            got = self.line(where).encode("latin-1")
            ok(got == want, where, "want: %r\ngot:  %r" % (want, got))
        elif kind == "S~":
            got = self.line(where)
            m = re.match(self.sub(arg, regex=True), got)
            if m:
                self.vars.update(m.groupdict())
            ok(m, where, "want /%s/\ngot:  %r" % (arg, got))
        elif kind == "S=":
            f = arg.split()
            top = int(f[2]) if len(f) == 3 and f[1] == "top" else None
            want = T.pop3_wire(self.messages[f[0]], top)
            got = self.multiline()
            ok(got == want, where, "want: %r\ngot:  %r" % (want, got))
        elif kind == "S&":
            if self.block is None:
                self.block = self.multiline().decode("latin-1").split("\r\n")[:-2]
            ok(any(re.match(arg, l) for l in self.block), where,
               "lines: %r" % self.block)
        elif kind == "@user":
            addr, password = arg.split(None, 1)
            self.server.add_user(addr, password)
        elif kind in ("@message", "@message-as"):
            nf = 3 if kind == "@message" else 4
            f = arg.split(None, nf - 1) if isinstance(arg, str) else list(arg)
            f += [""] * (nf - len(f))       # no TEXT: an empty message
            addr, name, text = f[0], f[1], f[-1]
            if text.startswith("<") and not text.startswith("<<"):
                with open(os.path.join(os.path.dirname(self.path), text[1:].strip()), "rb") as f:
                    data = f.read()
            else:
                data = unescape(text) if isinstance(arg, str) else text.encode("utf-8")
            self.messages[name] = data
            self.vars[name + ".size"] = len(T.crlf(data))
            self.server.deliver(addr, data, f[2] if nf == 4 else None)
        elif kind == "@source":
            self.source = arg.strip()
        elif kind == "@connect":
            f = arg.split()
            opts = dict(x.split("=", 1) for x in f[1:])
            self.connect(f[0], opts.get("source", self.source),
                         opts.get("service", "pop3"))
        elif kind == "@use":
            self.cur = arg.strip()
        elif kind in ("@close", "@reconnect"):
            c = self.conn()
            c.close()
            if kind == "@reconnect":
                self.connect(self.cur, self.source, c.service)
            else:
                del self.conns[self.cur]
                self.cur = None
        elif kind == "@expect-close":
            f = arg.split(None, 1)
            timeout = float(f[0]) if f else T.READ_TIMEOUT
            allow = f[1] if len(f) > 1 else None
            try:
                data = self.conn().wait_close(timeout).decode("latin-1")
                extra = [l for l in data.split("\r\n") if l and
                         not (allow and re.match(allow, l))]
                ok(not extra, where, "unexpected before close: %r" % extra)
            except T.ProtocolError as e:
                ok(False, where, str(e))
            self.conn().close()
            del self.conns[self.cur]
            self.cur = None
        elif kind == "@sleep":
            time.sleep(float(arg))
        elif kind == "@wait-sessions":
            f = arg.split()
            want = int(f[0])
            timeout = float(f[1]) if len(f) > 1 else 3 * T.READ_TIMEOUT
            deadline = time.time() + timeout
            while True:
                now = self.sessions_open()
                if now == want or time.time() >= deadline:
                    break
                time.sleep(0.05)
            ok(now == want, where, "%r sessions open after %gs" % (now, timeout))
        elif kind == "@check-relay":
            addr, user = arg.split()
            rows = self.server.relay_rows()
            if user == "none":
                ok(addr not in rows, where, "rows: %r" % rows)
            else:
                v = rows.get(addr, "").split()
                fresh = len(v) == 2 and v[0].isdigit() and abs(int(v[0]) - time.time()) < 300
                ok(fresh and v[1] == user, where, "rows: %r" % rows)
        elif kind == "@check-files":
            f = arg.split()
            files = self.server.files(f[0])
            n = {"new": len(files["new"]), "cur": len(files["cur"])}
            n["total"] = n["new"] + n["cur"]
            want = dict((k, int(v)) for k, v in (x.split("=") for x in f[1:]))
            ok(all(n[k] == v for k, v in want.items()), where, "files: %r" % files)
        elif kind in ("@check-log", "@check-nolog"):
            hits = [l for l in self.server.log().splitlines() if re.search(arg, l)]
            if kind == "@check-log":
                ok(hits, where, "log:\n" + self.server.log()[-3000:])
            else:
                ok(not hits, where, "\n".join(hits[:20]))
        elif kind[1:] not in SETUP:
            raise SyntaxError("%s:%d: unknown directive %s" % (self.name, no, kind))
        if kind != "S&":
            self.block = None

    def run(self):
        started = False
        try:
            for no, kind, arg in self.steps:
                if kind[1:] in SETUP and started:
                    raise SyntaxError("%s:%d: %s after the session began" % (self.name, no, kind))
                started = started or kind[0] in "CS" or kind in (
                    "@connect", "@check-relay", "@check-log", "@check-nolog",
                    "@wait-sessions")
                try:
                    self.step(no, kind, arg)
                except (T.ProtocolError, ConnectionError) as e:
                    self.tap.ok(False, self.where(no, kind, arg), str(e))
                except T.SkipTest as e:
                    self.tap.skip(self.where(no, kind, arg), str(e))
            for c in self.conns.values():
                c.close()
        except (T.HarnessError, SyntaxError, KeyError, OSError) as e:
            self.tap.diag(self.server.log()[-3000:])
            self.server.cleanup()
            T.bail_out("%s: %s" % (self.name, e))
        return self.server.finish(self.tap)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: dialogue.py FILE.dlg")
    try:
        d = Dialogue(sys.argv[1])
    except T.SkipTest as e:
        T.skip_all(str(e))
    sys.exit(d.run())
