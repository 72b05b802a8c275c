#!/usr/bin/env python3
"""install_man.py: the man pages (issue 8). Each is clean under
`mandoc -T lint` and quiet under `groff -ww` (what man(1) uses on Debian);
ispmaild.conf(5) documents every key of the example configuration with its
default, the relay replies of docs/PROTOCOL.md byte for byte and the legacy TLS
listener; ispmailctl(8) every command the built tool knows, and the ones
issue 8 adds; ispmaild(8) every option and signal. The log lines
ispmaild(8) shows to explain a 553 and a 550 are the lines a real daemon
writes, ids and addresses aside."""

import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402

PAGES = ("ispmaild.8", "ispmailctl.8", "ispmaild.conf.5")
# docs/PROTOCOL.md, relay policy, byte for byte.
RELAY_REPLIES = (
    "553 5.7.1 To send mail, first check your mail with a valid POP account; "
    "this prevents unauthorized SPAM relaying.",
    "553 To send mail, first check your mail with a valid POP account; "
    "this prevents unauthorized SPAM relaying. (#5.7.1)",
    "550 5.7.1 relaying to <user@remote.example> prohibited by administrator",
    "550 relaying to <user@remote.example> prohibited by administrator",
)
# Commands issue 8 adds to ispmailctl beside user, relay and queue.
ISSUE8_COMMANDS = ("dns", "autoconfig", "status")
# mandoc messages that say more about this machine than about the page.
LINT_NOISE = re.compile(r"outdated mandoc\.db|referenced manual not found")


def page_path(name):
    return os.path.join(T.top_srcdir(), "docs", name)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def lint(t, mandoc):
    for name in PAGES:
        p = subprocess.run([mandoc, "-T", "lint", "-W", "warning", page_path(name)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = [l for l in p.stdout.decode("utf-8", "replace").splitlines()
               if not LINT_NOISE.search(l)]
        t.ok(p.returncode == 0 and not out, "%s: mandoc -T lint -W warning is clean" % name,
             "exit %d\n%s" % (p.returncode, "\n".join(out)))
        # Style too, but for what depends on the installed manual database.
        p = subprocess.run([mandoc, "-T", "lint", "-W", "style", page_path(name)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = [l for l in p.stdout.decode("utf-8", "replace").splitlines()
               if not LINT_NOISE.search(l)]
        t.eq(out, [], "%s: no mandoc style messages" % name)
        p = subprocess.run([mandoc, "-T", "utf8", page_path(name)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        shown = re.sub(rb".\x08", b"", p.stdout)     # no overstrike bold
        t.ok(p.returncode == 0 and b"\nNAME\n" in shown and b"\nDESCRIPTION\n" in shown,
             "%s: renders" % name, shown[:400])


def groff_check(t, groff):
    """man(1) on Debian renders with groff: its warnings too, but for the
    long literal reply lines that cannot be broken by design."""
    for name in PAGES:
        p = subprocess.run([groff, "-mandoc", "-ww", "-z", "-Tutf8", page_path(name)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = [l for l in p.stdout.decode("utf-8", "replace").splitlines()
               if "can't break line" not in l]
        t.ok(p.returncode == 0 and not out, "%s: groff -mandoc -ww is quiet" % name,
             "\n".join(out))


def it_entries(text):
    """{word: block} for each `.It Cm word ...` item: the words the item
    names (`.It Cm user , Cm group`) and its text up to the next item."""
    out = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith(".It "):
            continue
        words = []
        for m in re.finditer(r"\bCm((?:\s+[a-z_][\w.]*)+)", line):
            # "Cm user add Ar address": the words up to the next macro.
            words.append(" ".join(m.group(1).split()))
        if not words:
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith((".It ", ".El")):
            j += 1
        block = "\n".join(lines[i:j])
        out[" ".join(words)] = block
        for w in words:
            out.setdefault(w, block)
            out.setdefault(w.split()[0], block)
    return out


def example_keys(text):
    """[(key, value text or None, is_group)] of etc/ispmaild.conf.example,
    the commented-out keys included ("# aliases_file = ..."). The values in
    a listen entry ("{ service = ...; port = 25; }") are examples, not
    defaults: None."""
    keys = []
    for line in text.splitlines():
        s = line.strip().lstrip("#").strip()
        if not re.match(r"(\{\s*)?[a-z_]+\s*=", s):
            continue
        entry = s.startswith("{")
        for m in re.finditer(r"\b([a-z_]+)\s*=\s*([^;]*)", s):
            v = m.group(2).strip()
            group = v.startswith(("{", "("))
            keys.append((m.group(1), None if entry or group else v, group))
    return keys


def conf_page(t):
    text = read(page_path("ispmaild.conf.5"))
    entries = it_entries(text)
    example = read(os.path.join(T.top_srcdir(), "etc", "ispmaild.conf.example"))
    seen = set()
    for key, value, group in example_keys(example):
        if key in seen:
            continue
        seen.add(key)
        if group:
            t.ok(re.search(r"\bCm %s\b" % key, text) is not None,
                 "ispmaild.conf(5) names the %s group" % key)
            continue
        block = entries.get(key)
        if not t.ok(block is not None, "ispmaild.conf(5) documents %s" % key):
            continue
        # A number or boolean in the example is the default: the page says so.
        if value is not None and re.fullmatch(r"\d+|true|false", value):
            t.ok(re.search(r"Default:\s*(\.Li\s+)?%s\b" % value, block) is not None,
                 "ispmaild.conf(5): %s defaults to %s" % (key, value), block)
    for reply in RELAY_REPLIES:
        t.ok(("\n" + reply + "\n") in text, "ispmaild.conf(5) quotes %r" % reply[:40])
    t.ok(re.search(r'service = "pop3s";.*\n\s*min_version = "TLSv1"; '
                   r'ciphers = "DEFAULT:@SECLEVEL=0";', text) is not None,
         "ispmaild.conf(5) shows the legacy TLS listener")
    t.ok(".Ss The relay policy" in text and "553 \\(dqfirst check your mail\\(dq" in text
         and "550 \\(dqrelaying prohibited\\(dq" in text,
         "ispmaild.conf(5) has the relay policy table")


def conf_examples(t):
    """Every configuration shown in ispmaild.conf(5) passes ispmaild -t, its
    paths pointed at a temporary directory (and a tls block added to a
    listen list that needs one)."""
    text = read(page_path("ispmaild.conf.5"))
    blocks = [b.replace("\\(dq", '"') for b in
              re.findall(r"^\.Bd -literal[^\n]*\n(.*?)^\.Ed", text, re.M | re.S)]
    blocks = [b for b in blocks if re.match(r"[a-z_]+\s*=", b)]
    t.ok(len(blocks) >= 4, "ispmaild.conf(5) shows whole configurations", repr(blocks))
    if not shutil.which("openssl"):
        t.skip("ispmaild.conf(5) examples pass ispmaild -t", "openssl not installed")
        return
    tmp = tempfile.mkdtemp(prefix="ispmaild-man-")
    try:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-days", "2", "-subj", "/CN=mail.example.net", "-keyout", key,
                        "-out", cert], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
        open(os.path.join(tmp, "users"), "w").close()
        local = {"state_dir": os.path.join(tmp, "state"),
                 "maildir_root": os.path.join(tmp, "mail"),
                 "users_file": os.path.join(tmp, "users"),
                 "user": pwd.getpwuid(os.geteuid()).pw_name,
                 "group": grp.getgrgid(os.getegid()).gr_name}
        for i, conf in enumerate(blocks):
            first = conf.splitlines()[0]
            for k, v in local.items():
                pat = re.compile(r'^(\s*%s\s*=\s*)"[^"]*"' % k, re.M)
                conf, n = pat.subn(lambda m: '%s"%s"' % (m.group(1), v), conf)
                if n == 0:
                    conf += '%s = "%s";\n' % (k, v)
            conf = re.sub(r'"/etc/ispmaild/fullchain\.pem"', '"%s"' % cert, conf)
            conf = re.sub(r'"/etc/ispmaild/privkey\.pem"', '"%s"' % key, conf)
            if not re.search(r"^tls\s*=", conf, re.M):
                conf += 'tls = { certificate = "%s"; private_key = "%s"; };\n' % (cert, key)
            path = os.path.join(tmp, "example%d.conf" % i)
            with open(path, "w") as f:
                f.write(conf)
            p = subprocess.run([os.path.join(T.top_builddir(), "ispmaild"), "-t", "-c", path],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            out = p.stdout.decode("utf-8", "replace")
            t.ok(p.returncode == 0, "ispmaild.conf(5) example %r... passes ispmaild -t"
                 % first[:30], out + "\n" + conf)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ctl_page(t):
    text = read(page_path("ispmailctl.8"))
    entries = it_entries(text)
    ctl = os.path.join(T.top_builddir(), "ispmailctl")
    p = subprocess.run([ctl, "-h"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    usage = p.stdout.decode("utf-8", "replace")
    commands = re.findall(r"^  ([a-z]+ [a-z]+)\b", usage, re.M)
    t.ok(p.returncode == 0 and len(commands) >= 11, "ispmailctl -h lists its commands",
         usage)
    for cmd in commands + list(ISSUE8_COMMANDS):
        t.ok(cmd in entries, "ispmailctl(8) documents %s" % cmd)
    for opt in ("c", "h", "V"):
        t.ok((".It Fl %s" % opt) in text, "ispmailctl(8) documents -%s" % opt)
    t.ok(".Sh EXIT STATUS" in text and "exits 0 on success, and 1" in text,
         "ispmailctl(8) gives the exit status")


def daemon_page(t):
    text = read(page_path("ispmaild.8"))
    daemon = os.path.join(T.top_builddir(), "ispmaild")
    p = subprocess.run([daemon, "-?"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    usage = p.stdout.decode("utf-8", "replace")
    opts = re.findall(r"\[-([A-Za-z])\b", usage)
    t.ok(sorted(opts) == ["V", "c", "f", "t"], "ispmaild's usage names -c -f -t -V", usage)
    for opt in opts:
        t.ok((".It Fl %s" % opt) in text, "ispmaild(8) documents -%s" % opt)
    for sig in ("SIGHUP", "SIGTERM"):
        t.ok((".It Dv %s" % sig) in text, "ispmaild(8) documents %s" % sig)


def normal(line):
    """A log line without what differs between runs: ids, addresses, ports."""
    line = re.sub(r"^.*?\b(s=[0-9a-f]{8} )", r"\1", line)
    line = re.sub(r"\bs=[0-9a-f]{8}\b", "s=ID", line)
    line = re.sub(r"\b(to|from)=<[^>]*>", r"\1=<A>", line)
    line = re.sub(r"\b(key|client|user)=\S+", r"\1=X", line)
    line = re.sub(r"\bport=\d+", "port=N", line)
    return line.strip()


def log_examples(t):
    """The s=... lines of ispmaild(8)'s 553/550 walk-through, against a
    daemon doing the same things."""
    text = read(page_path("ispmaild.8"))
    start = text.index(".Ss Reading a 553 or a 550")
    end = text.index(".Sh FILES", start)
    wanted = [normal(l) for l in text[start:end].splitlines() if l.startswith("s=")]
    t.ok(len(wanted) >= 8, "ispmaild(8) shows the log lines of a 553 and a 550",
         "\n".join(wanted))
    srv = T.Server(services=("smtp", "pop3"))
    try:
        srv.add_user("bob@example.test", "secret")
        srv.start()
        s = S.Smtp(srv, source=T.CUSTOMER)          # 553: not logged in yet
        s.hello(esmtp=False)
        s.cmd("MAIL FROM: <bob@example.test>")
        t.eq(s.cmd("RCPT TO: <u@remote.example>"), S.FIRST_POP_HELO,
             "customer before a POP3 login: 553 after HELO")
        s.cmd("QUIT")
        s = S.Smtp(srv, source=T.OUTSIDER)          # 550: a stranger relays
        s.hello()
        s.cmd("MAIL FROM: <bob@example.test>")
        t.eq(s.cmd("RCPT TO: <u@remote.example>"), S.denied("u@remote.example", True),
             "outsider to a remote domain: 550")
        s.cmd("QUIT")
        c = srv.connect("pop3", T.CUSTOMER)         # POP-before-SMTP
        c.readline()
        c.command("USER bob@example.test")
        t.ok(c.command("PASS secret").startswith("+OK"), "customer logs in over POP3")
        c.command("QUIT")
        c.close()
        s = S.Smtp(srv, source=T.CUSTOMER)
        s.hello()
        s.cmd("MAIL FROM: <bob@example.test>")
        t.ok(s.cmd("RCPT TO: <u@remote.example>").startswith("250"),
             "customer after a POP3 login: relay accepted")
        s.cmd("QUIT")
        got = set()
        for _ in range(50):
            got = {normal(l) for l in srv.log().splitlines() if " s=" in l}
            if all(w in got for w in wanted):
                break
            time.sleep(0.1)
        for w in wanted:
            t.ok(w in got, "the daemon logs: %s" % w, "its lines:\n" + "\n".join(sorted(got)))
    finally:
        srv.finish(t, plan=False)


def main():
    t = T.Tap()
    mandoc = shutil.which("mandoc")
    if mandoc:
        lint(t, mandoc)
    else:
        t.skip("man pages: mandoc -T lint", "mandoc not installed (apt-get install mandoc)")
    groff = shutil.which("groff")
    if groff:
        groff_check(t, groff)
    else:
        t.skip("man pages: groff -ww", "groff not installed")
    conf_page(t)
    conf_examples(t)
    ctl_page(t)
    daemon_page(t)
    log_examples(t)
    return t.done()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except T.SkipTest as e:
        T.skip_all(str(e))
    except T.HarnessError as e:
        T.bail_out(str(e))
