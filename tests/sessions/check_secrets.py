#!/usr/bin/env python3
"""check_secrets.py: `ispmaild -t` warns when a file holding secrets is
readable by others: the users file (password hashes) and the TLS private
key, one check for both. The warning goes to stderr, one line each; the
configuration is still ok (exit 0). Mode 0640 or 0600: no warning."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402


def check(srv):
    srv.write_config()
    p = subprocess.run([srv.daemon, "-t", "-c", srv.conf_file], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def warning(what, path, holds):
    return ("ispmaild: warning: %s %s is readable by others (mode %%04o): it holds %s; "
            "chmod o-r it\n" % (what, path, holds))


def main():
    t = T.Tap()
    try:
        srv = T.Server(services=("smtp",), tls=True)
    except T.SkipTest as e:
        srv = None
        t.skip("the TLS key", str(e))
    if srv is None:
        srv = T.Server(services=("smtp",))
    with srv:
        # A user in the first domain, or -t warns that postmaster@ has nowhere to go.
        srv.add_user("postmaster@" + T.DOMAINS[0], "Pw-post-1")
        key = srv.tree.get("tls", {}).get("private_key")
        users = warning("users_file", srv.users_file, "password hashes")
        os.chmod(srv.users_file, 0o640)
        if key:
            os.chmod(key, 0o600)
        rc, out, err = check(srv)
        t.eq((rc, err), (0, ""), "users file 0640, key 0600: no warning")
        t.ok("configuration ok" in out, "configuration ok", out)
        srv.set("postmaster", "nobody-here@" + T.DOMAINS[0])
        srv.write_config()
        rc, out, err = check(srv)
        t.eq((rc, err), (0, ""), "a postmaster key is taken as it is, user or not")
        srv.set("postmaster", None)
        srv.write_config()
        open(srv.users_file, "w").close()
        os.chmod(srv.users_file, 0o640)
        rc, out, err = check(srv)
        t.eq((rc, err), (0, "ispmaild: warning: postmaster@ and abuse@ have nowhere to go: "
                         "set postmaster, or add a user in %s\n" % T.DOMAINS[0]),
             "no postmaster key and no user in the first domain: -t warns, still ok")
        srv.add_user("postmaster@" + T.DOMAINS[0], "Pw-post-1")
        os.chmod(srv.users_file, 0o640)

        os.chmod(srv.users_file, 0o644)
        rc, out, err = check(srv)
        t.eq((rc, err), (0, users % 0o644), "users file 0644: one warning line, still ok")
        t.ok("configuration ok" in out, "configuration ok", out)
        os.chmod(srv.users_file, 0o604)
        rc, out, err = check(srv)
        t.eq(err, users % 0o604, "users file 0604: the warning names the mode")
        os.chmod(srv.users_file, 0o640)

        if key:
            os.chmod(key, 0o644)
            rc, out, err = check(srv)
            t.eq((rc, err), (0, warning("tls.private_key", key, "the TLS private key") % 0o644),
                 "TLS key 0644: the same warning, from the same check")
            os.chmod(key, 0o600)
        return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
