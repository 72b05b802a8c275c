#!/usr/bin/env python3
"""forward_ctl.py: `ispmailctl user forward ADDRESS DEST...|none [--keep
yes|no]` (SPEC 12): it changes only forward= and keep= in the users file (an
option we do not know survives it, and `user passwd`); `user list` shows the
forward; `none` removes both; a bad destination (not an address, or a local
one that nobody has), an unknown user and bad usage are refused with a
clear error; `ispmaild -t` accepts what it wrote; and the daemon acts on
it: a keep=no forward to a local user delivers there only."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

A = "alice@example.test"
B = "bob@example.test"


def line_of(srv, address):
    with open(srv.users_file) as f:
        for l in f.read().splitlines():
            if l.startswith(address + ":"):
                return l
    return None


def options(srv, address):
    parts = line_of(srv, address).split(":")
    return parts[2] if len(parts) > 2 else ""


def main():
    t = T.Tap()
    srv = T.Server(services=("smtp",))
    try:
        srv.add_user(A, "pw")
        srv.add_user(B, "pw")
        with open(srv.aliases_file, "w") as f:
            f.write("sales@example.test: %s\n" % B)
        with open(srv.users_file) as f:
            text = f.read()
        old = line_of(srv, A)
        with open(srv.users_file, "w") as f:
            f.write(text.replace(old, old + ":colour=blue"))

        rc, out, err = srv.ctl_run("user", "forward", A, "far@remote.test", B)
        t.eq((rc, out, err), (0, "forward of %s set to far@remote.test %s\n" % (A, B), ""),
             "user forward sets it")
        t.eq(options(srv, A), "colour=blue,forward=far@remote.test " + B,
             "forward= added, the unknown option kept")
        rc, out, err = srv.ctl_run("user", "forward", A, "far@remote.test", "--keep", "no")
        t.eq((rc, out), (0, "forward of %s set to far@remote.test (keep=no)\n" % A),
             "user forward --keep no")
        t.eq(options(srv, A), "colour=blue,forward=far@remote.test,keep=no",
             "forward= replaced in place, keep=no added")
        rc, out, err = srv.ctl_run("user", "passwd", A, stdin="new\n")
        t.eq((rc, options(srv, A)), (0, "colour=blue,forward=far@remote.test,keep=no"),
             "user passwd keeps every option")
        rc, out, err = srv.ctl_run("user", "list")
        lines = out.splitlines()
        t.ok(rc == 0 and lines[0].startswith(A + " ") and
             lines[0].endswith(" forward=far@remote.test keep=no") and
             lines[1].startswith(B + " ") and "forward" not in lines[1],
             "user list: the forward and keep of the user who forwards", out)
        rc, out, err = srv.ctl_run("user", "forward", A, "--keep", "yes", "Sales@Example.Test",
                                   "x@remote.test")
        t.eq((rc, options(srv, A)),
             (0, "colour=blue,forward=Sales@Example.Test x@remote.test,keep=yes"),
             "--keep before the destinations; an alias is a good local destination")
        rc, out, err = srv.ctl_run("user", "list")
        t.ok(" forward=Sales@Example.Test,x@remote.test keep=yes" in out,
             "user list: destinations joined by commas", out)

        for args, want in (
                (["not-an-address"], 'bad destination "not-an-address": not a mail address'),
                (["a@b.test,c@d.test"], 'bad destination "a@b.test,c@d.test"'),
                (["x@remote.test", "evil@host:x"], 'bad destination "evil@host:x"'),
                (["nobody@example.test"],
                 "bad destination nobody@example.test: no such local user or alias"),
                (["none", "x@remote.test"], "give destinations or none, not both"),
                (["none", "--keep", "no"], "--keep needs destinations"),
                (["x@remote.test", "--keep", "maybe"], "--keep needs yes or no"),
                (["x@remote.test", "--copy"], "unknown option"),
                ([], "usage: ispmailctl user forward")):
            before = options(srv, A)
            rc, out, err = srv.ctl_run("user", "forward", A, *args)
            t.ok(rc == 1 and want in err and out == "" and options(srv, A) == before,
                 "refused, nothing changed: %r" % " ".join(args), err)
        rc, out, err = srv.ctl_run("user", "forward", "carol@example.test", "x@remote.test")
        t.ok(rc == 1 and "no such user carol@example.test" in err, "unknown user refused", err)

        rc, out, err = srv.ctl_run("user", "forward", A, "none")
        t.eq((rc, out, err), (0, "forward of %s removed\n" % A, ""), "user forward none")
        t.eq(options(srv, A), "colour=blue", "forward= and keep= gone, the rest kept")

        # What it writes, the daemon reads: ispmaild -t, then a delivery.
        rc, out, err = srv.ctl_run("user", "forward", A, B, "--keep", "no")
        srv.write_config()
        p = subprocess.run([srv.daemon, "-t", "-c", srv.conf_file], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        t.ok(p.returncode == 0, "ispmaild -t accepts the users file", p.stdout.decode())
        srv.start()
        s = H.Smtp(srv, "smtp", T.OUTSIDER)
        s.hello(True)
        r = s.transaction("x@outside.test", [A], b"Subject: via ctl\r\n\r\nhi\r\n")
        s.quit()
        t.ok(r[-1].startswith("250"), "a message to the forwarding user: accepted", repr(r))
        t.ok(H.wait_for(lambda: len(srv.files(B)["new"]) == 1, 5),
             "delivered to the destination", repr(srv.files(B)))
        t.eq(srv.files(A)["new"], [], "keep=no: nothing in the user's own Maildir")
    except (T.ProtocolError, OSError, T.HarnessError) as e:
        t.ok(False, "session", repr(e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
