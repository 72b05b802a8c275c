#!/usr/bin/env python3
"""stats_diskfull.py: the shared stats file in state_dir is a mapping; a
page of it that is not on disk yet cannot be touched on a full disk
without SIGBUS. So it is allocated whole at the start: with state_dir on
a full tmpfs the start fails cleanly (exit 1, a logged reason, no signal),
and once started, a disk that fills up later does not kill a session on a
failed login (which writes the failed-login table). Needs root (mount);
skipped otherwise."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
from diskfull import fill, mount_tmpfs, umount  # noqa: E402

USER = "demo@example.test"


def failed_login(srv, source):
    """USER/PASS with a wrong password; the reply to PASS (None: closed)."""
    c = srv.connect("pop3", source, timeout=30)
    try:
        c.expect(r"\+OK")
        c.command("USER " + USER, r"\+OK")
        c.sendline("PASS wrong")
        return c.readline()
    except (T.ProtocolError, OSError):
        return None
    finally:
        c.close()


def main():
    if os.geteuid() != 0:
        T.skip_all("mounting a tmpfs needs root")
    t = T.Tap()
    srv = T.Server(services=("pop3",))
    ok, why = mount_tmpfs(srv.state_dir, srv.uid, srv.gid)
    if not ok:
        srv.cleanup()
        T.skip_all("cannot mount a tmpfs: " + why.strip())
    try:
        srv.add_user(USER, "pw")
        # A full state_dir at the start.
        filler = fill(srv.state_dir)
        try:
            srv.start()
            started = True
        except T.HarnessError:
            started = False
        t.ok(not started, "state_dir full: the daemon does not start")
        t.eq(srv.exit_code, 1, "it exits 1 (not killed by a signal)")
        t.ok(re.search(r'fatal: stats file=%s/stats reason="[^"]*No space left on device"'
                       % re.escape(srv.state_dir), srv.log()),
             "the reason is logged", srv.log()[-1500:])

        # Room at the start, a full disk later: a failed login lives.
        os.unlink(filler)
        srv.start()
        filler = fill(srv.state_dir)
        # Two clients: their failed-login slots lie on pages 0 and 4.
        for source in (T.CUSTOMER, T.TRUSTED):
            r = failed_login(srv, source)
            t.ok(r is not None and r.startswith("-ERR"),
                 "disk full: a failed login from %s gets -ERR" % source, repr(r))
        srv.stop()
        t.ok(not re.search(r"signal=7\b", srv.log()), "no child killed by SIGBUS",
             srv.log()[-1500:])
        os.unlink(filler)
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "ran to the end", "%s: %s" % (type(e).__name__, e))
    finally:
        srv.stop()
        ok, why = umount(srv.state_dir)
    t.ok(ok, "tmpfs unmounted", why)
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
