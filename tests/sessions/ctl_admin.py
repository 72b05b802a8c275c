#!/usr/bin/env python3
"""ctl_admin.py: what ispmailctl prints for the operations it shares with
the web's administrator pages (admin/users_admin.c, relay_admin.c,
queue_admin.c): user add, passwd, del, list; relay add, list, del,
expire; queue list, flush, del, release with no daemon running. Every
line, and every refusal's `ispmailctl: REASON` with exit 1, as the tool
printed them before the operations moved to admin/ (compared then
against the old binary), so that the web's needs never change the tool."""

import os
import re
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402


def main():
    t = T.Tap()
    srv = T.Server()
    try:
        d = srv.dir

        def ctl(args, want_rc, want_out, want_err="", stdin=""):
            rc, out, err = srv.ctl_run(*args, stdin=stdin)
            out, err = out.replace(d, "DIR"), err.replace(d, "DIR")
            t.eq((rc, out, err), (want_rc, want_out, want_err),
                 "ispmailctl %s" % " ".join(args).encode("unicode_escape").decode())

        def refused(args, reason, stdin="pw\n"):
            ctl(args, 1, "", "ispmailctl: %s\n" % reason, stdin)

        # --- users ---
        os.unlink(srv.users_file)
        refused(["user", "list"], "DIR/users: No such file or directory")
        ctl(["user", "add", "alice@example.test"], 0,
            "user alice@example.test added, Maildir DIR/mail/example.test/alice\n",
            stdin="pw1\n")
        st = os.stat(srv.users_file)
        t.eq(stat.S_IMODE(st.st_mode), 0o640, "the first user add makes the users file 0640")
        t.ok(os.path.isdir(os.path.join(srv.maildir("alice@example.test"), "new")),
             "and the Maildir")
        refused(["user", "add", "Alice@Example.TEST."], "user alice@example.test already exists")
        ctl(["user", "add", "bob"], 0,
            "user bob@example.test added, Maildir DIR/mail/example.test/bob\n", stdin="pw\n")
        refused(["user", "add", "x@other.test"],
                "other.test is not a local domain (domains in DIR/ispmaild.conf)")
        # The address is checked before the password is read.
        refused(["user", "add", "x@other.test"],
                "other.test is not a local domain (domains in DIR/ispmaild.conf)", stdin="")
        refused(["user", "add", "bad address"], 'invalid address "bad address"')
        refused(["user", "add", "a@@b"], "invalid address a@@b")
        refused(["user", "add", "a\x01b"], 'invalid address "a\\x01b"')
        refused(["user", "add", "c@example.test"], "empty password (give it on stdin)", stdin="")
        refused(["user", "add", "c@example.test"], "empty password (give it on stdin)",
                stdin="\n")
        refused(["user", "add", "d@example.test"], "password longer than 511 bytes",
                stdin="x" * 512 + "\n")
        refused(["user", "add", "e@example.test"], "password contains a NUL byte",
                stdin="a\0b\n")
        ctl(["user", "passwd", "alice"], 0, "password of alice@example.test changed\n",
            stdin="pw2\n")
        refused(["user", "passwd", "nobody@example.test"], "no such user nobody@example.test")
        refused(["user", "passwd", "bad addr"], 'invalid address "bad addr"', stdin="")
        ctl(["user", "list"], 0, "alice@example.test 0/none\nbob@example.test 0/none\n")
        ctl(["user", "quota", "alice", "10M"], 0, "quota of alice@example.test set to 10M\n")
        ctl(["user", "list"], 0, "alice@example.test 0/10M (0%)\nbob@example.test 0/none\n")
        ctl(["user", "del", "bob"], 0, "user bob@example.test deleted; its Maildir "
            "DIR/mail/example.test/bob is left in place\n")
        t.ok(os.path.isdir(srv.maildir("bob@example.test")), "its Maildir is left in place")
        refused(["user", "del", "bob"], "no such user bob@example.test")
        ctl(["user", "list"], 0, "alice@example.test 0/10M (0%)\n")
        os.symlink("/tmp", os.path.join(srv.maildir_root, "example.org"))
        refused(["user", "add", "z@example.org"], "DIR/mail/example.org/z: refused: example.org "
                "in maildir_root is a symbolic link (nothing below maildir_root may be one)")
        ctl(["user", "list"], 0, "alice@example.test 0/10M (0%)\n")

        # --- the relay table ---
        ctl(["relay", "list"], 0, "")
        ctl(["relay", "add", "192.0.2.7"], 0, "relay 192.0.2.7 authorized for 1800 seconds\n")
        ctl(["relay", "add", "2001:db8:1:2::5"], 0,
            "relay 2001:db8:1:2::/64 authorized for 1800 seconds\n")
        refused(["relay", "add", "nonsense"], "not an IP address (or an IPv6 /64 network): nonsense")
        refused(["relay", "add", "10.0.0.0/8"],
                "not an IP address (or an IPv6 /64 network): 10.0.0.0/8")
        rc, out, err = srv.ctl_run("relay", "list")
        lines = sorted(out.splitlines())
        t.ok(rc == 0 and len(lines) == 2 and
             re.fullmatch(r"192\.0\.2\.7 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 1[78]\d\d admin", lines[0])
             and lines[1].startswith("2001:db8:1:2::/64 ") and lines[1].endswith(" admin"),
             "relay list: address, authorized at, seconds left, user admin", out + err)
        ctl(["relay", "del", "192.0.2.7"], 0, "relay 192.0.2.7 deleted\n")
        refused(["relay", "del", "192.0.2.7"], "no relay entry for 192.0.2.7")
        refused(["relay", "del", "junk\x1b"],
                'not an IP address (or an IPv6 /64 network): "junk\\x1b"')
        ctl(["relay", "expire"], 0, "relay: 0 expired entries removed\n")

        # --- the queue, no daemon ---
        ctl(["queue", "list"], 0, "queue: empty\n")
        ctl(["queue", "flush"], 0, "queue: no runner is listening; 0 messages due at its "
            "next start\n")
        refused(["queue", "del", "foo"], "queue del: foo: no such message")
        refused(["queue", "del", "../env"], "queue del: ../env: not a queue id")
        refused(["queue", "release", "1700000000.M1P1Q1"],
                "queue release: 1700000000.M1P1Q1: no such message")
        refused(["queue", "release", "../env"], "queue release: ../env: not a queue id")
    except T.SkipTest as e:
        T.skip_all(str(e))
    except T.HarnessError as e:
        T.bail_out(str(e))
    finally:
        srv.cleanup()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
