#!/usr/bin/env python3
"""quota_dovecot.py: Maildir++ quotas shared with Dovecot, for real (SPEC 12).

Debian's Dovecot (dovecot-core), a private instance (its own config, base
and state directories, no listener; never /etc/dovecot or the system's
service) with `quota = maildir:User quota` over the Maildir of a user to
whom `ispmailctl user quota` gave 10M. Our library (tests/tools/quota_tool,
as delivery calls it) delivers and writes maildirsize; `doveadm quota get`
reads that usage without counting again (the file is left as it was).
Then Dovecot delivers (`doveadm save`) and expunges (`doveadm expunge`),
appending its own lines, and our parse of the file agrees with a fresh
count; a POP3 DELE and QUIT through ispmaild appends our negative line and
Dovecot agrees; `ispmailctl user list` shows the same usage. Message sizes
are multiples of 1024, so doveadm's kilobytes are exact too. Skipped when
Dovecot is not installed or cannot be started."""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

A = "alice@example.test"
LIMIT = 10 * 1024 * 1024


def tool():
    path = os.path.join(T.top_builddir(), "tests", "tools", "quota_tool")
    if not os.access(path, os.X_OK):
        raise T.HarnessError("%s not built (make check builds it)" % path)
    return path


class Dovecot:
    """A private Dovecot: config, base_dir, state_dir and log in one tmp dir."""

    def __init__(self, mail_root, uid, gid):
        self.dir = tempfile.mkdtemp(prefix="quota-dovecot-")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log = os.path.join(self.dir, "dovecot.log")
        user = pwd.getpwuid(uid).pw_name
        for d in ("run", "state"):
            os.mkdir(os.path.join(self.dir, d), 0o755)
        with open(self.conf, "w") as f:
            f.write("""# quota_dovecot.py: a private instance, no listener
base_dir = {d}/run
state_dir = {d}/state
log_path = {log}
protocols =
listen = 127.0.0.1
ssl = no
first_valid_uid = 1
default_internal_user = {user}
default_login_user = {user}
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/%d/%n
}}
mail_location = maildir:{root}/%d/%n
mail_plugins = quota
plugin {{
  quota = maildir:User quota
  quota_rule = *:storage={limit}B
}}
""".format(d=self.dir, log=self.log, user=user, uid=uid, gid=gid, root=mail_root,
                limit=LIMIT))
        self.started = False

    def start(self):
        # The daemon keeps what it inherits: a file, never a pipe to wait on.
        out = os.path.join(self.dir, "start.out")
        with open(out, "wb") as f:
            p = subprocess.run(["dovecot", "-c", self.conf], stdout=f, stderr=f,
                               stdin=subprocess.DEVNULL, timeout=60)
        if p.returncode != 0:
            with open(out, errors="replace") as f:
                raise T.SkipTest("dovecot does not start: %s" % f.read().strip()[-300:])
        self.started = True
        for _ in range(100):
            if os.path.exists(os.path.join(self.dir, "run", "auth-userdb")):
                return
            time.sleep(0.1)
        raise T.SkipTest("dovecot started but its auth-userdb socket never came")

    def doveadm(self, *args, stdin=b""):
        p = subprocess.run(["doveadm", "-c", self.conf] + list(args), input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if p.returncode != 0:
            raise T.HarnessError("doveadm %s: exit %d: %s" % (" ".join(args), p.returncode,
                                 p.stderr.decode("utf-8", "replace")))
        return p.stdout.decode("utf-8", "replace")

    def quota(self, user):
        """(STORAGE in kilobytes, MESSAGE) as doveadm quota get reports them."""
        out = self.doveadm("-f", "tab", "quota", "get", "-u", user)
        got = {}
        for line in out.splitlines()[1:]:
            f = line.split("\t")
            got[f[1]] = int(f[2])
        return got.get("STORAGE"), got.get("MESSAGE")

    def stop(self):
        if self.started:
            subprocess.run(["doveadm", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
            self.started = False

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def message(subject, size):
    head = b"From: d@example.test\nSubject: %s\n\n" % subject.encode()
    return head + b"y" * (size - len(head) - 1) + b"\n"


def main():
    if shutil.which("dovecot") is None or shutil.which("doveadm") is None:
        T.skip_all("dovecot not installed (apt-get install dovecot-core)")
    t = T.Tap()
    srv = T.Server()
    dc = None
    uid = srv.uid if srv.uid != -1 else os.getuid()
    gid = srv.gid if srv.gid != -1 else os.getgid()

    def as_mail_user():
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

    def ours(*args):
        p = subprocess.run([tool()] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, preexec_fn=as_mail_user)
        return p.stdout.decode().strip()

    try:
        srv.add_user(A, "pw")
        rc, out, err = srv.ctl_run("user", "quota", A, "10M")
        if rc != 0:
            raise T.HarnessError("user quota: %s" % err)
        md = srv.maildir(A)
        ms = os.path.join(md, "maildirsize")
        srv.start()

        for size in (2048, 2048, 1024):
            t.eq(ours("deliver", md, str(LIMIT), str(size)), "delivered",
                 "ours: a %d-byte message delivered" % size)
        t.eq(ours("parse", md), "5120 3", "ours: maildirsize says 5120 bytes, 3 messages")
        with open(ms) as f:
            before = f.read()

        dc = Dovecot(srv.maildir_root, uid, gid)
        dc.start()
        t.eq(dc.quota(A), (5, 3), "doveadm quota get reads our usage: 5 KB, 3 messages")
        with open(ms) as f:
            t.eq(f.read(), before, "Dovecot read our maildirsize as it was (no recount)")

        dc.doveadm("save", "-u", A, stdin=message("dovecot 3072", 3072))
        t.eq(ours("parse", md), "8192 4", "after Dovecot delivers: our parse says 8192, 4")
        t.eq(ours("scan", md), "8192 4", "which is what a fresh count says")
        t.eq(ours("get", md, str(LIMIT)), "8192 4", "and what delivery's check reads")

        dc.doveadm("expunge", "-u", A, "mailbox", "INBOX", "header", "Subject", "ours 1024")
        t.eq(ours("parse", md), "7168 3", "after Dovecot expunges 1024 bytes: 7168, 3")
        t.eq(ours("scan", md), "7168 3", "a fresh count agrees")
        with open(ms) as f:
            t.ok("-1024 -1\n" in f.read(), "Dovecot appended a negative line", before)

        c = srv.connect("pop3")
        c.expect(r"\+OK")
        c.command("USER " + A, r"\+OK")
        c.command("PASS pw", r"\+OK")
        c.command("STAT", r"\+OK 3 ")
        c.command("DELE 1", r"\+OK")
        c.command("QUIT", r"\+OK")
        c.close()
        t.eq(ours("parse", md), "5120 2", "POP3 DELE+QUIT of a 2048-byte message: 5120, 2")
        t.eq(dc.quota(A), (5, 2), "doveadm quota get agrees with our negative line")
        t.eq(ours("scan", md), "5120 2", "and so does a fresh count")

        t.eq(ours("deliver", md, str(LIMIT), "1024"), "delivered", "ours again after Dovecot")
        t.eq(dc.quota(A), (6, 3), "doveadm quota get: 6 KB, 3 messages")
        rc, out, err = srv.ctl_run("user", "list")
        t.eq(out, "%s 6.0K/10M (0%%)\n" % A, "ispmailctl user list: the same usage")
    except T.SkipTest as e:
        srv.cleanup()
        if dc:
            dc.cleanup()
            dc = None
        T.skip_all(str(e))
    except (T.ProtocolError, OSError, T.HarnessError, subprocess.SubprocessError) as e:
        t.ok(False, "quota with Dovecot", repr(e))
    finally:
        if dc:
            if t.failed:
                try:
                    with open(dc.log) as f:
                        t.diag("dovecot log:\n" + f.read()[-3000:])
                except OSError:
                    pass
            dc.cleanup()
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
