#!/usr/bin/env python3
"""ctl_greylist.py: ispmailctl greylist list, del, expire and flush
(ispmailctl(8)) over a greylist table seeded through the greylisting code
itself (tests/tools/greylist_seed: one RCPT decision for an outside
client, at a given time)."""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def seed(srv, client, sender, rcpt, now):
    """One decision, as the daemon's user (the table must stay its own)."""
    def drop():
        if srv.root:
            os.setgid(srv.gid)
            os.setuid(srv.uid)
    tool = os.path.join(T.top_builddir(), "tests", "tools", "greylist_seed")
    p = subprocess.run([tool, srv.conf_file, client, sender, rcpt, str(int(now))],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                       preexec_fn=drop)
    if p.returncode != 0:
        raise T.HarnessError("greylist_seed: exit %d: %s" % (p.returncode, p.stderr.decode()))
    return p.stdout.decode().strip()


def listing(srv, tap):
    rc, out, err = srv.ctl_run("greylist", "list")
    tap.eq(rc, 0, "greylist list: exit 0 (%s)" % err.strip())
    return sorted(out.splitlines())


def main():
    tap = T.Tap()
    srv = T.Server(services=("smtp",))
    srv.set("greylist", {"enabled": True, "delay": 300, "expire": 3024000, "auto_allow": 5})
    dom = T.DOMAINS[0]
    u, v = "u@" + dom, "v@" + dom
    now = time.time()
    try:
        rc, out, err = srv.ctl_run("greylist", "list")
        tap.ok(rc == 0 and out == "", "an empty table lists nothing",
               "rc=%d out=%r err=%r" % (rc, out, err))
        tap.eq(seed(srv, "198.51.100.7", "a@x.example", u, now - 400), "defer new 300",
               "first attempt of a triple: deferred for the delay")
        tap.eq(seed(srv, "198.51.100.8", "a@x.example", u, now - 200), "defer early 100",
               "a retry from the same /24 before the delay: deferred again")
        tap.eq(seed(srv, "198.51.100.7", "A@X.example", u.upper(), now), "pass passed 1 1",
               "after the delay (any case): passes, counted for the network")
        tap.eq(seed(srv, "198.51.100.9", "", v, now), "defer new 300",
               "the null sender is a sender")
        tap.eq(seed(srv, "2001:db8:1:2::5", "b@y.example", u, now - 4000000), "defer new 300",
               "an IPv6 client, seen long ago")

        lines = listing(srv, tap)
        tap.ok(len(lines) == 4, "four entries: three triples and one network's passes",
               "\n".join(lines))
        want = [
            r"198\.51\.100\.0/24 \* \* %s %s 1" % (ISO, ISO),
            r"198\.51\.100\.0/24 <> <v@%s> %s %s 0" % (re.escape(dom), ISO, ISO),
            r"198\.51\.100\.0/24 <a@x\.example> <u@%s> %s %s 1" % (re.escape(dom), ISO, ISO),
            r"2001:db8:1:2::/64 <b@y\.example> <u@%s> %s %s 0" % (re.escape(dom), ISO, ISO),
        ]
        for pat in want:
            tap.ok(any(re.fullmatch(pat, l) for l in lines), "list has a line like %s" % pat,
                   "\n".join(lines))

        rc, out, err = srv.ctl_run("greylist", "expire")
        tap.ok(rc == 0 and out.strip() == "greylist: 1 expired entry removed",
               "expire removes the entry unseen for greylist.expire", "rc=%d %r %r" % (rc, out, err))
        tap.ok(not any(l.startswith("2001:") for l in listing(srv, tap)), "and it is gone")

        rc, out, err = srv.ctl_run("greylist", "del", "198.51.100.200", "<a@x.example>", u.upper())
        tap.ok(rc == 0 and out.strip() == "greylist: 1 entry removed",
               "del ADDRESS SENDER RECIPIENT: the triple of the address's /24",
               "rc=%d %r %r" % (rc, out, err))
        rc, out, err = srv.ctl_run("greylist", "del", "198.51.100.200", "a@x.example", u)
        tap.ok(rc == 1 and "no greylist entry" in err, "del again: exit 1, says there is none",
               "rc=%d %r %r" % (rc, out, err))
        rc, out, err = srv.ctl_run("greylist", "del", "198.51.100.0/24")
        tap.ok(rc == 0 and out.strip() == "greylist: 2 entries removed",
               "del NETWORK: the rest of the client (a triple, the network's passes)",
               "rc=%d %r %r" % (rc, out, err))
        for args, what in ((["nonsense"], "not an IP address"),
                           (["198.51.100.0/25"], "not an IP address"),
                           (["198.51.100.1", "a@x.example"], "usage")):
            rc, out, err = srv.ctl_run("greylist", "del", *args)
            tap.ok(rc == 1 and what in err and out == "",
                   "del %s: exit 1, says %r" % (" ".join(args), what), "rc=%d %r" % (rc, err))

        for i in range(3):
            seed(srv, "203.0.113.%d" % (i * 100), "s%d@z.example" % i, u, now)
        rc, out, err = srv.ctl_run("greylist", "flush")
        tap.ok(rc == 0 and out.strip() == "greylist: 3 entries removed",
               "flush removes every entry", "rc=%d %r %r" % (rc, out, err))
        tap.eq(listing(srv, tap), [], "the table is empty")

        rc, out, err = srv.ctl_run("relay", "list")
        tap.ok(rc == 0, "the relay table beside it still works", err)
        p = subprocess.run([srv.ctl, "-h"], stdout=subprocess.PIPE, timeout=60)
        for verb in ("list", "del", "flush", "expire"):
            tap.ok(("greylist %s" % verb) in p.stdout.decode(), "ispmailctl -h lists greylist %s" % verb)
    finally:
        srv.cleanup()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
