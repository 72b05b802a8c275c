#!/usr/bin/env python3
"""ctl_dkim.py: ispmailctl dkim keygen, dkim list and the DKIM and DMARC
lines of ispmailctl dns (ispmailctl(8)). The printed record must carry the
key's own public half (checked against openssl's, not ours), the key file
must be readable by the daemon's group only, and a key in use is never
replaced."""

import base64
import grp
import os
import re
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402


def record_value(line):
    """The TXT value of one record line: its quoted strings joined."""
    return "".join(re.findall(r'"([^"]*)"', line))


def openssl_public(path, raw_ed25519):
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout
    if raw_ed25519:
        der = der[-32:]     # RFC 8463 §4.2: the raw 32-byte key
    return base64.b64encode(der).decode()


def main():
    tap = T.Tap()
    srv = T.Server(services=("smtp",))
    keys = os.path.join(srv.dir, "dkim")
    srv.set("dkim.keys_dir", keys)
    srv.set("dkim.selector", "s2026")
    srv.write_config()
    domain = T.DOMAINS[0]
    try:
        rc, out, err = srv.ctl_run("dkim", "keygen", domain.upper())
        tap.eq(rc, 0, "dkim keygen DOMAIN: exit 0 (%s)" % err.strip())
        line = out.strip()
        tap.ok(line.startswith("s2026._domainkey.%s. IN TXT \"v=DKIM1; k=rsa; p=" % domain),
               "the record names the configured selector, the lower-case domain, k=rsa",
               line[:120])
        tap.ok(all(len(s) <= 255 for s in re.findall(r'"([^"]*)"', line)) and line.count('"') >= 4,
               "a 2048-bit key's value is split into quoted strings of at most 255 characters")
        path = os.path.join(keys, domain, "s2026.key")
        st = os.stat(path)
        tap.eq(stat.S_IMODE(st.st_mode), 0o640, "the key file is mode 0640")
        if srv.root:
            tap.eq(st.st_gid, srv.gid, "as root, the key file has the daemon's group")
            tap.eq(os.stat(os.path.join(keys, domain)).st_gid, srv.gid,
                   "and so has the domain's directory")
        else:
            tap.skip("the key file has the daemon's group", "not root")
            tap.skip("and so has the domain's directory", "not root")
        p = re.search(r"p=([A-Za-z0-9+/=]+)", record_value(line))
        tap.eq(p.group(1) if p else None, openssl_public(path, False),
               "p= is the key's public half, as openssl derives it")

        rc, out, err = srv.ctl_run("dkim", "keygen", domain, "--selector", "ed1",
                                   "--algorithm", "ed25519")
        tap.eq(rc, 0, "dkim keygen --selector ed1 --algorithm ed25519: exit 0 (%s)" % err.strip())
        ed = out.strip()
        tap.ok(ed.startswith('ed1._domainkey.%s. IN TXT "v=DKIM1; k=ed25519; p=' % domain),
               "the Ed25519 record says k=ed25519", ed)
        p = re.search(r"p=([A-Za-z0-9+/=]+)", record_value(ed))
        tap.eq(p.group(1) if p else None,
               openssl_public(os.path.join(keys, domain, "ed1.key"), True),
               "its p= is the raw 32-byte public key (RFC 8463)")

        before = open(path, "rb").read()
        rc, out, err = srv.ctl_run("dkim", "keygen", domain)
        tap.ok(rc != 0 and "never replaced" in err, "a second keygen for the same selector fails",
               "rc=%d err=%r" % (rc, err))
        tap.eq(open(path, "rb").read(), before, "and leaves the key in use as it was")

        for args, what in ((["--algorithm", "dsa"], "algorithm \"dsa\": use rsa or ed25519"),
                           (["--selector", "../x"], "bad domain or selector"),
                           (["--selector"], "option --selector needs a value"),
                           (["--bits", "1024"], "unknown option --bits")):
            rc, out, err = srv.ctl_run("dkim", "keygen", domain, *args)
            tap.ok(rc == 1 and what in err and out == "",
                   "keygen %s: exit 1, says %r" % (" ".join(args), what), "rc=%d err=%r" % (rc, err))

        other = T.DOMAINS[1] if len(T.DOMAINS) > 1 else "other.test"
        rc, out, err = srv.ctl_run("dkim", "keygen", other, "--selector", "a1")
        tap.eq(rc, 0, "a key for a second domain")
        rc, out, err = srv.ctl_run("dkim", "list")
        tap.eq(rc, 0, "dkim list: exit 0 (%s)" % err.strip())
        rows = [l.split("\t") for l in out.splitlines()]
        want = [[d, s, a, os.path.join(keys, d, s + ".key")] for d, s, a in
                sorted([(domain, "s2026", "rsa"), (domain, "ed1", "ed25519"), (other, "a1", "rsa")],
                       key=lambda r: (r[0], r[2] != "rsa", r[1]))]
        tap.eq(rows, want, "dkim list: domain, selector, algorithm, file; by domain, RSA first")

        rc, out, err = srv.ctl_run("dns", domain)
        tap.eq(rc, 0, "dns DOMAIN: exit 0")
        lines = out.splitlines()
        tap.ok(line in lines and ed in lines, "dns DOMAIN prints both DKIM records as keygen did")
        tap.ok(lines.index(line) < lines.index(ed) if line in lines and ed in lines else False,
               "RSA before Ed25519")
        tap.ok(any(l.startswith("_dmarc.%s.\t" % domain) and '"v=DMARC1; p=none;' in l
                   for l in lines), "and a DMARC record with p=none", out)

        bad = os.path.join(keys, domain, "broken.key")
        with open(bad, "w") as f:
            f.write("not a key\n")
        rc, out, err = srv.ctl_run("dkim", "list")
        tap.ok(rc == 1 and "broken.key" in err and len(out.splitlines()) == 3,
               "a key file that does not load: listed keys still shown, exit 1 naming the file",
               "rc=%d out=%r err=%r" % (rc, out, err))

        rc, out, err = srv.ctl_run("dns", "nowhere.invalid")
        tap.ok(rc == 1 and out == "", "dns for a domain that is not local: exit 1, nothing printed")
    finally:
        srv.cleanup()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
