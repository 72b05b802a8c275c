#!/usr/bin/env python3
"""quota_ctl.py: quotas as the administrator sets and sees them (SPEC 12):
`ispmailctl user quota ADDRESS SIZE|none` changes only quota= in the users
file (an option we do not know survives it, and `user passwd`); `user list`
shows the address first, then used/quota and the percentage; bad sizes and
unknown users are refused; `ispmaild -t` names the file and line of a bad
option value."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

A = "alice@example.test"
B = "bob@example.test"


def line_of(srv, address):
    with open(srv.users_file) as f:
        for l in f.read().splitlines():
            if l.startswith(address + ":"):
                return l
    return None


def main():
    t = T.Tap()
    srv = T.Server()
    try:
        srv.add_user(A, "pw")
        srv.add_user(B, "pw")
        with open(srv.users_file) as f:
            text = f.read()
        old = line_of(srv, A)
        with open(srv.users_file, "w") as f:
            f.write(text.replace(old, old + ":colour=blue"))
        srv.deliver(A, b"x" * 1023 + b"\n")
        srv.deliver(B, b"y" * 99 + b"\n")

        rc, out, err = srv.ctl_run("user", "quota", A, "10K")
        t.eq((rc, out, err), (0, "quota of %s set to 10K\n" % A, ""), "user quota sets it")
        t.ok(line_of(srv, A).endswith(":colour=blue,quota=10K"),
             "the other option is kept", line_of(srv, A))
        rc, out, err = srv.ctl_run("user", "passwd", A, stdin="new\n")
        t.ok(rc == 0 and line_of(srv, A).endswith(":colour=blue,quota=10K"),
             "user passwd keeps every option", line_of(srv, A))
        rc, out, err = srv.ctl_run("user", "list")
        t.eq((rc, out), (0, "%s 1.0K/10K (10%%)\n%s 100/none\n" % (A, B)),
             "user list: address, used/quota (percent)")
        t.ok(os.path.exists(os.path.join(srv.maildir(A), "maildirsize")),
             "maildirsize made for the user with a quota")
        st = os.stat(os.path.join(srv.maildir(A), "maildirsize"))
        t.eq((st.st_uid, st.st_gid), (srv.uid, srv.gid),
             "owned as the Maildir is, so the daemon can append")
        t.ok(not os.path.exists(os.path.join(srv.maildir(B), "maildirsize")),
             "none for the user without one")
        rc, out, err = srv.ctl_run("user", "list")
        first = [l.split()[0] for l in out.splitlines()]
        t.eq(first, [A, B], "the first column is still the address")

        warn = os.path.join(srv.maildir(A), ".quotawarn")
        with open(warn, "w") as f:
            f.write("2026-01-01 95\n")
        rc, out, err = srv.ctl_run("user", "quota", A, "1G")
        rc, out, err = srv.ctl_run("user", "list")
        t.ok(out.startswith("%s 1.0K/1.0G (0%%)\n" % A), "a new quota: counted again", out)
        t.ok(not os.path.exists(warn),
             "a new quota: the warnings' memory (.quotawarn) starts again")
        with open(warn, "w") as f:
            f.write("2026-01-01 95\n")

        for bad in ("10X", "-1", "", "0", "1,x=2"):
            rc, out, err = srv.ctl_run("user", "quota", A, bad)
            t.ok(rc == 1 and "bad size" in err, "refused: %r" % bad, err)
        rc, out, err = srv.ctl_run("user", "quota", "carol@example.test", "1M")
        t.ok(rc == 1 and "no such user" in err, "unknown user refused", err)
        rc, out, err = srv.ctl_run("user", "quota", A)
        t.ok(rc == 1 and "usage" in err, "missing size: usage", err)

        rc, out, err = srv.ctl_run("user", "quota", A, "none")
        t.eq((rc, out, err), (0, "quota of %s removed\n" % A, ""), "user quota none")
        t.ok(line_of(srv, A).endswith(":colour=blue"), "quota= gone, the rest kept",
             line_of(srv, A))
        t.ok(not os.path.exists(os.path.join(srv.maildir(A), "maildirsize")),
             "and its maildirsize")
        t.ok(not os.path.exists(warn), "and its .quotawarn")

        with open(srv.users_file, "a") as f:
            f.write("carol@example.test:%s:quota=lots\n" % line_of(srv, A).split(":")[1])
        srv.write_config()
        p = subprocess.run([srv.daemon, "-t", "-c", srv.conf_file], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode()
        t.ok(p.returncode != 0 and "users:3: bad value for option quota" in out,
             "ispmaild -t: file:line of a bad option", out)
    except (T.ProtocolError, OSError, T.HarnessError) as e:
        t.ok(False, "session", repr(e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
