#!/usr/bin/env python3
"""maildir_symlink.py: no symbolic link below maildir_root is ever followed
(docs/SECURITY.md). (a) a link the mail user planted at a user's Maildir
path or at a domain folder: `ispmailctl user add` (as root) exits 1 with a
one-line reason and creates or chowns nothing where it points; (b) a racer
that keeps swapping the new folder for a link to a root-owned file while
root runs `user add` 30 times never gets that file chowned; (c) local
delivery into a Maildir whose new/ is a link: a temporary failure, logged,
nothing written through the link. (a) and (b) need root; (c) runs always."""

import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

RACES = 30


def owner(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def planted(t, srv):
    """(a): a link at the Maildir path, then one at the domain folder."""
    target = os.path.join(srv.dir, "target")
    os.mkdir(target, 0o755)     # root's: the chown would be visible
    domain_dir = os.path.join(srv.maildir_root, "example.test")
    os.mkdir(domain_dir, 0o700)
    srv._chown(domain_dir)
    link = os.path.join(domain_dir, "mallory")
    os.symlink(target, link)
    os.lchown(link, srv.uid, srv.gid)
    rc, out, err = srv.ctl_run("user", "add", "mallory@example.test", stdin="pw\n")
    t.eq(rc, 1, "a link at the Maildir path: user add exits 1")
    t.ok(re.match(r"ispmailctl: .*symbolic link.*\n\Z", err) and "\n" not in err[:-1],
         "it says why, in one line", repr(err))
    t.eq(sorted(os.listdir(target)), [], "nothing created where the link points")
    t.eq(owner(target), (0, 0), "the link's target is not chowned")
    rc, out, err = srv.ctl_run("user", "list")
    t.ok("mallory@example.test" not in out, "and no such user", out)

    # The domain folder itself a link.
    os.symlink(target, os.path.join(srv.maildir_root, "example.org"))
    rc, out, err = srv.ctl_run("user", "add", "bob@example.org", stdin="pw\n")
    t.eq(rc, 1, "a link at the domain folder: user add exits 1")
    t.ok(re.match(r"ispmailctl: .*symbolic link.*\n\Z", err), "it says why", repr(err))
    t.eq(sorted(os.listdir(target)), [], "nothing created through the domain link")
    t.eq(owner(target), (0, 0), "the domain link's target is not chowned")


def racer(path, victim):
    """Swap path (a directory root just made) for a link to victim, forever."""
    moved = path + ".moved"
    while True:
        try:
            os.rename(path, moved)
            os.symlink(victim, path)
        except OSError:
            pass


def race(t, srv):
    """(b): the window between mkdir and chown."""
    victim = os.path.join(srv.dir, "victim")
    with open(victim, "w") as f:
        f.write("root's own file\n")
    os.chmod(victim, 0o600)
    srv.add_user("first@example.test", "pw")    # the domain folder exists
    won, refused = 0, 0
    for i in range(RACES):
        path = os.path.join(srv.maildir_root, "example.test", "race%d" % i)
        pid = os.fork()
        if pid == 0:
            try:
                racer(path, victim)
            finally:
                os._exit(0)
        try:
            rc, out, err = srv.ctl_run("user", "add", "race%d@example.test" % i, stdin="pw\n")
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        if rc != 0:
            refused += 1
        if owner(victim) != (0, 0):
            won += 1
            os.chown(victim, 0, 0)
    t.eq(won, 0, "%d races: the root-owned file never changed owner" % RACES)
    t.diag("user add refused %d of %d times (a link seen)" % (refused, RACES))


def delivery(t, srv):
    """(c): new/ a link: 4xx, a log line, nothing in the link's target."""
    user = "carol@example.test"
    srv.add_user(user, "pw")
    md = srv.maildir(user)
    elsewhere = os.path.join(srv.dir, "elsewhere")
    os.mkdir(elsewhere, 0o700)
    srv._chown(elsewhere)
    os.rmdir(os.path.join(md, "new"))
    os.symlink(elsewhere, os.path.join(md, "new"))
    srv.start()
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    r = s.transaction("a@remote.example", [user], b"Subject: x\r\n\r\nthrough a link?\r\n")
    t.ok(r[-1].startswith("4"), "new/ a link: a temporary failure", repr(r))
    t.eq(os.listdir(elsewhere), [], "nothing written through the link")
    t.eq(srv.files(user)["tmp"], [], "nothing left in tmp/")
    s.quit()

    # (d) below state_dir: the queue's new/ a link.
    qnew = os.path.join(srv.state_dir, "queue", "new")
    elsewhere2 = os.path.join(srv.dir, "elsewhere2")
    os.mkdir(elsewhere2, 0o700)
    srv._chown(elsewhere2)
    qdirs = H.wait_for(lambda: os.path.isdir(qnew))
    t.ok(qdirs, "the queue folders exist")
    os.rmdir(qnew)
    os.symlink(elsewhere2, qnew)
    s = H.Smtp(srv, "smtp", T.TRUSTED)
    s.hello(True)
    r = s.transaction("a@example.test", ["far@remote.example"], b"Subject: q\r\n\r\nqueued through a link?\r\n")
    t.ok(r[-1].startswith("4"), "queue/new a link: a temporary failure", repr(r))
    t.eq(os.listdir(elsewhere2), [], "nothing queued through the link")
    s.quit()
    srv.stop()
    bad = re.findall(r"result=error reason=\"[^\"]*symbolic link", srv.log())
    t.eq(len(bad), 2, "both refusals are logged")


def main():
    t = T.Tap()
    if os.geteuid() == 0:
        with T.Server(services=("smtp",)) as srv:
            planted(t, srv)
            srv.finish(t, plan=False)
        with T.Server(services=("smtp",)) as srv:
            race(t, srv)
            srv.finish(t, plan=False)
    else:
        t.skip("planted links and the chown race", "needs root")
    with T.Server(services=("smtp",)) as srv:
        delivery(t, srv)
        return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
