#!/usr/bin/env python3
"""install_layout.py: `make install DESTDIR=...` from the build directory
(issue 8, ispmaild(8) and README.md): the programs in sbindir, the man pages in
man8/man5, the example configuration beside ispmaild.conf and never over it,
the systemd unit with the configured directories filled in (and clean under
`systemd-analyze verify`), the sysusers and tmpfiles snippets (applied in a
scratch root when we are root), the installed example accepted by `ispmaild -t`
once its paths point at a temporary directory, and `make uninstall` taking all
of it away again."""

import grp
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

DIRS = ("prefix", "sbindir", "sysconfdir", "localstatedir", "mandir",
        "systemdsystemunitdir", "sysusersdir", "tmpfilesdir")
SENTINEL = "# the administrator's own configuration: make install keeps out\n"


def make_env():
    """The environment for a make of our own: not the jobserver or flags of
    the `make check` that runs us."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GNUMAKEFLAGS"):
        env.pop(k, None)
    return env


def make(builddir, *args):
    p = subprocess.run(["make", "-C", builddir, "--no-print-directory"] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=make_env(), timeout=600)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def install_dirs(builddir, tmp):
    """The installation directories as the Makefile expands them."""
    mk = os.path.join(tmp, "print-dirs.mk")
    with open(mk, "w") as f:
        f.write("ispmaild-print-dirs:\n")
        for d in DIRS:
            f.write("\t@echo '%s=$(%s)'\n" % (d, d))
    rc, out = make(builddir, "-s", "-f", "Makefile", "-f", mk, "ispmaild-print-dirs")
    if rc != 0:
        raise T.HarnessError("cannot read the install directories: %s" % out)
    dirs = {}
    for line in out.splitlines():
        k, sep, v = line.partition("=")
        if sep and k in DIRS:
            dirs[k] = v
    missing = [d for d in DIRS if not dirs.get(d)]
    if missing:
        raise T.HarnessError("Makefile does not define %s" % ", ".join(missing))
    return dirs


def files_under(root):
    out = set()
    for base, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(base, f), root))
    return out


def under(dest, path):
    return os.path.join(dest, path.lstrip("/"))


def unit_values(text):
    """{key: [values]} of the [Service]/[Unit]/[Install] lines."""
    vals = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[" or "=" not in line:
            continue
        k, v = line.split("=", 1)
        vals.setdefault(k.strip(), []).append(v.strip())
    return vals


def check_unit(t, dest, dirs, unit_path, mandir):
    with open(unit_path) as f:
        text = f.read()
    t.ok("@" not in re.sub(r"@system-service", "", text),
         "unit: no @placeholder@ left", text)
    v = unit_values(text)
    conf = dirs["sysconfdir"] + "/ispmaild.conf"
    daemon = dirs["sbindir"] + "/ispmaild"
    t.eq(v.get("ExecStart"), ["%s -f -c %s" % (daemon, conf)],
         "unit: ExecStart runs ispmaild -f with the installed configuration")
    t.eq(v.get("ExecStartPre"), ["%s -t -c %s" % (daemon, conf)],
         "unit: ExecStartPre checks the configuration with -t")
    t.ok("/bin/kill -HUP $MAINPID" in v.get("ExecReload", []),
         "unit: ExecReload sends SIGHUP", v.get("ExecReload"))
    t.eq(v.get("Type"), ["simple"], "unit: Type=simple (ispmaild -f is the master)")
    rw = " ".join(v.get("ReadWritePaths", [])).split()
    t.eq(sorted(rw), sorted([dirs["localstatedir"] + "/lib/ispmaild", "/var/mail/ispmaild"]),
         "unit: ReadWritePaths= is the state directory and the Maildir root")
    for key, want in (("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                      ("PrivateTmp", "yes"), ("ProtectHome", "yes"),
                      ("KillMode", "mixed")):
        t.eq(v.get(key), [want], "unit: %s=%s" % (key, want))
    t.eq(sorted(" ".join(v.get("CapabilityBoundingSet", [])).split()),
         ["CAP_NET_BIND_SERVICE", "CAP_SETGID", "CAP_SETUID"],
         "unit: only the capabilities of the root phase")
    t.eq(sorted(" ".join(v.get("RestrictAddressFamilies", [])).split()),
         ["AF_INET", "AF_INET6", "AF_UNIX"], "unit: RestrictAddressFamilies")

    analyze = shutil.which("systemd-analyze")
    if not analyze:
        t.skip("unit: systemd-analyze verify is clean", "systemd-analyze not installed")
        return
    # verify wants the programs and the man pages where the unit names them:
    # point the unit into DESTDIR, and man at the installed pages.
    prefix_re = re.compile(r"(?<![\w/])(%s|%s)(?=/)" % (re.escape(dirs["sbindir"]),
                                                       re.escape(dirs["sysconfdir"])))
    copy = os.path.join(os.path.dirname(dest), "ispmaild.service")
    with open(copy, "w") as f:
        f.write(prefix_re.sub(lambda m: under(dest, m.group(1)), text))
    env = dict(os.environ, MANPATH=mandir, SYSTEMD_LOG_COLOR="0")
    p = subprocess.run([analyze, "verify", copy], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=env, timeout=120)
    out = p.stdout.decode("utf-8", "replace").strip()
    if p.returncode != 0 and "ispmaild" not in out:
        # Nothing about our unit: the tool itself cannot work in this place.
        t.skip("unit: systemd-analyze verify is clean", "cannot run here: " + out)
        return
    t.ok(p.returncode == 0 and out == "", "unit: systemd-analyze verify is clean",
         "exit %d: %s" % (p.returncode, out))


def check_snippets(t, dest, dirs):
    """The sysusers/tmpfiles snippets: content, then applied in a scratch
    root (root only: they chown)."""
    su = under(dest, dirs["sysusersdir"] + "/ispmaild.conf")
    tf = under(dest, dirs["tmpfilesdir"] + "/ispmaild.conf")
    with open(su) as f:
        t.ok(re.search(r"^u\s+vmail\s", f.read(), re.M) is not None,
             "sysusers: creates the vmail user")
    with open(tf) as f:
        text = f.read()
    t.ok("@" not in text, "tmpfiles: no @placeholder@ left", text)
    paths = [line.split()[1] for line in text.splitlines()
             if line.strip() and not line.startswith("#")]
    t.eq(sorted(paths), sorted([dirs["localstatedir"] + "/lib/ispmaild",
                                "/var/mail/ispmaild", dirs["sysconfdir"] + "/ispmaild"]),
         "tmpfiles: the state directory, the Maildir root and the users file's directory")

    sysusers, tmpfiles = shutil.which("systemd-sysusers"), shutil.which("systemd-tmpfiles")
    what = "sysusers and tmpfiles applied in a scratch root"
    if not (sysusers and tmpfiles):
        t.skip(what, "systemd-sysusers/systemd-tmpfiles not installed")
        return
    if os.geteuid() != 0:
        t.skip(what, "needs root (chown)")
        return
    root = os.path.join(os.path.dirname(dest), "root")
    os.makedirs(os.path.join(root, "etc"))
    p1 = subprocess.run([sysusers, "--root=" + root, su], stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, timeout=60)
    p2 = subprocess.run([tmpfiles, "--create", "--root=" + root, tf],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    t.ok(p1.returncode == 0 and p2.returncode == 0, what,
         (p1.stdout + p2.stdout).decode("utf-8", "replace"))
    uid = None
    with open(os.path.join(root, "etc", "passwd")) as f:
        for line in f:
            if line.startswith("vmail:"):
                uid = int(line.split(":")[2])
    t.ok(uid is not None, "sysusers: vmail is in the scratch root's passwd")
    for d, owner in ((dirs["localstatedir"] + "/lib/ispmaild", uid),
                     ("/var/mail/ispmaild", uid), (dirs["sysconfdir"] + "/ispmaild", 0)):
        try:
            st = os.stat(under(root, d))
            got = (stat.S_ISDIR(st.st_mode), st.st_uid, oct(st.st_mode & 0o7777))
        except OSError as e:
            got = str(e)
        t.eq(got, (True, owner, "0o750"), "tmpfiles: %s made, owner and mode 0750" % d)


def rewrite(text, key, value):
    """Set `key = "...";` (commented or not) to value; exactly one line."""
    pat = re.compile(r'^(\s*)(?:#\s*)?(%s\s*=\s*)"[^"]*"' % re.escape(key), re.M)
    new, n = pat.subn(lambda m: '%s%s"%s"' % (m.group(1), m.group(2), value), text)
    if n != 1:
        raise T.HarnessError("the example has %d lines for %s, not 1" % (n, key))
    return new


def check_example(t, dest, dirs):
    path = under(dest, dirs["sysconfdir"] + "/ispmaild.conf.example")
    with open(path) as f:
        text = f.read()
    for key, want in (("state_dir", dirs["localstatedir"] + "/lib/ispmaild"),
                      ("users_file", dirs["sysconfdir"] + "/ispmaild/users"),
                      ("maildir_root", "/var/mail/ispmaild")):
        m = re.search(r'^%s\s*=\s*"([^"]*)"' % key, text, re.M)
        t.eq(m.group(1) if m else None, want,
             "example: %s names the installed directories" % key)

    if not shutil.which("openssl"):
        t.skip("installed example passes ispmaild -t", "openssl not installed")
        return
    tmp = tempfile.mkdtemp(prefix="ispmaild-example-")
    try:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-days", "2", "-subj", "/CN=mail.example.net",
                        "-keyout", key, "-out", cert], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        open(os.path.join(tmp, "users"), "w").close()
        me = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        for k, v in (("state_dir", os.path.join(tmp, "state")),
                     ("maildir_root", os.path.join(tmp, "mail")),
                     ("users_file", os.path.join(tmp, "users")),
                     ("certificate", cert), ("private_key", key),
                     ("user", me), ("group", group)):
            text = rewrite(text, k, v)
        conf = os.path.join(tmp, "ispmaild.conf")
        with open(conf, "w") as f:
            f.write(text)
        daemon = under(dest, dirs["sbindir"] + "/ispmaild")
        p = subprocess.run([daemon, "-t", "-c", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        t.ok(p.returncode == 0 and "configuration ok" in out,
             "installed example passes the installed ispmaild -t", "exit %d: %s"
             % (p.returncode, out))
        p = subprocess.run([under(dest, dirs["sbindir"] + "/ispmailctl"), "-c", conf,
                            "user", "list"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        t.eq((p.returncode, p.stdout), (0, b""),
             "installed ispmailctl reads the installed example")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    t = T.Tap()
    builddir = T.top_builddir()
    if not os.path.exists(os.path.join(builddir, "Makefile")):
        T.skip_all("no Makefile in %s" % builddir)
    if not shutil.which("make"):
        T.skip_all("make not installed")
    top = tempfile.mkdtemp(prefix="ispmaild-install-")
    try:
        dirs = install_dirs(builddir, top)
        dest = os.path.join(top, "dest")
        conf_dir = under(dest, dirs["sysconfdir"])
        os.makedirs(conf_dir)
        sentinel = os.path.join(conf_dir, "ispmaild.conf")
        with open(sentinel, "w") as f:
            f.write(SENTINEL)

        rc, out = make(builddir, "install", "DESTDIR=" + dest)
        if not t.eq(rc, 0, "make install DESTDIR=... succeeds"):
            t.diag(out[-3000:])
            return t.done()

        man = dirs["mandir"]
        expect = {
            dirs["sbindir"] + "/ispmaild": 0o755,
            dirs["sbindir"] + "/ispmailctl": 0o755,
            man + "/man8/ispmaild.8": 0o644,
            man + "/man8/ispmailctl.8": 0o644,
            man + "/man5/ispmaild.conf.5": 0o644,
            dirs["sysconfdir"] + "/ispmaild.conf.example": 0o644,
        }
        for d, name in (("systemdsystemunitdir", "ispmaild.service"),
                        ("sysusersdir", "ispmaild.conf"), ("tmpfilesdir", "ispmaild.conf")):
            if dirs[d] != "no":
                expect[dirs[d] + "/" + name] = 0o644
        for path, mode in sorted(expect.items()):
            try:
                st = os.stat(under(dest, path))
                got = (stat.S_ISREG(st.st_mode), oct(st.st_mode & 0o777))
            except OSError as e:
                got = str(e)
            t.eq(got, (True, oct(mode)), "installed %s, mode %o" % (path, mode))
        want = {p.lstrip("/") for p in expect} | {os.path.relpath(sentinel, dest)}
        t.eq(sorted(files_under(dest) - want), [], "nothing else is installed")
        with open(sentinel) as f:
            t.eq(f.read(), SENTINEL, "an existing ispmaild.conf is left alone")

        srcdir = T.top_srcdir()
        for page, sect in (("ispmaild.8", 8), ("ispmailctl.8", 8), ("ispmaild.conf.5", 5)):
            with open(os.path.join(srcdir, "docs", page), "rb") as a, \
                    open(under(dest, "%s/man%d/%s" % (man, sect, page)), "rb") as b:
                t.ok(a.read() == b.read(), "man page %s installed as written" % page)

        p = subprocess.run([under(dest, dirs["sbindir"] + "/ispmaild"), "-V"],
                           stdout=subprocess.PIPE, timeout=30)
        t.ok(p.returncode == 0 and p.stdout.startswith(b"ispmaild "),
             "installed ispmaild -V runs", repr(p.stdout))

        if dirs["systemdsystemunitdir"] != "no":
            check_unit(t, dest, dirs, under(dest, dirs["systemdsystemunitdir"] +
                                            "/ispmaild.service"), under(dest, man))
        if dirs["sysusersdir"] != "no" and dirs["tmpfilesdir"] != "no":
            check_snippets(t, dest, dirs)
        check_example(t, dest, dirs)

        rc, out = make(builddir, "uninstall", "DESTDIR=" + dest)
        t.eq(rc, 0, "make uninstall DESTDIR=... succeeds")
        t.eq(sorted(files_under(dest)), [os.path.relpath(sentinel, dest)],
             "make uninstall removes everything it installed, and only that")
    finally:
        if os.environ.get("KEEP_TMP"):
            t.diag("kept " + top)
        else:
            shutil.rmtree(top, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except T.SkipTest as e:
        T.skip_all(str(e))
    except T.HarnessError as e:
        T.bail_out(str(e))
