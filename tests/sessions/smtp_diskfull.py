#!/usr/bin/env python3
"""smtp_diskfull.py: a full disk (docs/PROTOCOL.md, bad input): with the Maildirs on a small
tmpfs filled to the last block, a message gets "452 4.3.1 Insufficient
system storage" after its terminator (nothing left in tmp/ or new/), the
message accepted before is intact, the session goes on, and once there
is room again mail is accepted. Needs root (mount); skipped otherwise.

Then the path that logs the error before it chooses 452 or 451 by errno
(the queue copy of a message for a local and a remote recipient, with the
queue on a full tmpfs), run by a daemon whose every log line fails to be
written (its stderr a pipe nobody reads: EPIPE): the logger must keep
errno, so the answer is still 452 4.3.1, not 451."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
from diskfull import fill, mount_tmpfs  # noqa: E402

USER = "demo@example.test"
QUEUED = r"250 2\.0\.0 Ok: queued as \S+$"


def main():
    if os.geteuid() != 0:
        T.skip_all("mounting a tmpfs needs root")
    t = T.Tap()
    srv = T.Server(services=("smtp",))
    ok, why = mount_tmpfs(srv.maildir_root, srv.uid, srv.gid)
    if not ok:
        srv.cleanup()
        T.skip_all("cannot mount a tmpfs: " + why.strip())
    try:
        srv.add_user(USER, "pw")
        srv.start()
        s = H.Smtp(srv, "smtp", T.OUTSIDER)
        s.hello(True)
        first = b"Subject: before\r\n\r\naccepted before the disk filled up\r\n"
        r = s.transaction("a@remote.example", [USER], first)
        t.ok(re.match(QUEUED, r[-1]), "a message while there is room: 250", repr(r))
        before = H.maildir_messages(srv, USER)
        t.eq(len(before), 1, "it is in new/")

        filler = fill(srv.maildir_root)
        body = b"Subject: too much\r\n\r\n" + (b"0123456789abcdef" * 4 + b"\r\n") * 1000
        r = s.transaction("a@remote.example", [USER], body)
        t.eq(r[-1], "452 4.3.1 Insufficient system storage", "disk full: 452 4.3.1")
        t.eq(H.maildir_messages(srv, USER), before, "disk full: new/ holds only the first, intact")
        t.eq(srv.files(USER)["tmp"], [], "disk full: nothing left in tmp/")
        t.eq(s.cmd("NOOP"), "250 2.0.0 Ok", "the session goes on")

        os.unlink(filler)
        r = s.transaction("a@remote.example", [USER], b"Subject: after\r\n\r\nroom again\r\n")
        t.ok(re.match(QUEUED, r[-1]), "room again: 250", repr(r))
        t.eq(len(srv.files(USER)["new"]), 2, "room again: delivered")
        s.quit()
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "ran to the end", "%s: %s" % (type(e).__name__, e))
    finally:
        # Never leave the mount behind, whatever happened above.
        srv.stop()
        um = subprocess.run(["umount", srv.maildir_root], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    t.ok(um.returncode == 0, "tmpfs unmounted", um.stdout)
    srv.finish(t, plan=False)
    return queue_full(t)


def queue_full(t):
    srv = T.Server(services=("smtp",))
    queue = os.path.join(srv.state_dir, "queue")
    os.makedirs(queue)
    ok, why = mount_tmpfs(queue, srv.uid, srv.gid)
    if not ok:
        srv.cleanup()
        t.skip("queue on a full tmpfs", "cannot mount a tmpfs: " + why.strip())
        return t.done()
    r_end, w_end = os.pipe()
    try:
        srv.add_user(USER, "pw")
        srv.daemon_stderr = w_end
        srv.start()
        os.close(w_end)
        w_end = None
        # Nobody reads the daemon's stderr from now on: each line is EPIPE.
        os.close(r_end)
        r_end = None
        s = H.Smtp(srv, "smtp", T.TRUSTED)
        s.hello(True)
        filler = fill(queue)
        body = b"Subject: local and remote\r\n\r\nthe queue is full\r\n"
        r = s.transaction("demo@example.test", [USER, "friend@remote.example"], body)
        t.eq(r[-1], "452 4.3.1 Insufficient system storage",
             "queue full, every log line failing: still 452 4.3.1 (errno kept)")
        t.eq(s.cmd("NOOP"), "250 2.0.0 Ok", "the session goes on")
        os.unlink(filler)
        s.quit()
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "queue full: ran to the end", "%s: %s" % (type(e).__name__, e))
    finally:
        for fd in (r_end, w_end):
            if fd is not None:
                os.close(fd)
        srv.stop()
        um = subprocess.run(["umount", queue], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    t.ok(um.returncode == 0, "queue tmpfs unmounted", um.stdout)
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
