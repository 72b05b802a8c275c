"""diskfull: a small full file system for the tests (needs root): a tmpfs
mounted over a test's directory, filled to the last block, unmounted in a
finally. Used by tests/sessions/smtp_diskfull.py (the Maildirs) and
stats_diskfull.py (state_dir).

Python 3 standard library only.
"""

import os
import subprocess


def mount_tmpfs(path, uid, gid, size="512k"):
    """Mount a tmpfs of size over path (owned by uid:gid when uid >= 0);
    (ok, what mount said)."""
    opts = "size=%s,mode=0700" % size
    if uid >= 0:
        opts += ",uid=%d,gid=%d" % (uid, gid)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode == 0, p.stdout.decode("latin-1", "replace")


def umount(path):
    """(ok, what umount said)."""
    p = subprocess.run(["umount", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    return p.returncode == 0, p.stdout.decode("latin-1", "replace")


def fill(path):
    """Write a file until the file system is full; returns its path."""
    name = os.path.join(path, "filler")
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError:
        pass
    os.close(fd)
    return name
