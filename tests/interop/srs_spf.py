#!/usr/bin/env python3
"""srs_spf.py: a forward passes the receiving side's SPF check because of
SRS (docs/ADMIN.md, "Forwarding and SRS"), checked by another
implementation: Debian's python3-spf (pyspf), asking a dnsmasq of the
test's own on a loopback port.

The zone: the SRS domain (the daemon's hostname) publishes what
docs/ADMIN.md advises, `v=spf1 a mx -all`, its A record the loopback
address the queue connects from; the original sender's domain publishes
`v=spf1 ip4:192.0.2.1 -all`, so that a plain forward would fail SPF.

An outside client sends to a local alias that forwards to a remote address
at the sink (the smarthost). From what the sink saw (the envelope sender,
the address the daemon connected from, the EHLO name), spf.check2 must say
'pass' for the SRS0 sender, and 'fail' for the original sender from the
same address (the check is really checking).

pyspf resolves through dnspython (or pydns when dnspython is missing): its
default resolver is pointed at the dnsmasq directly, no namespaces needed.
python3-spf installs for Debian's /usr/bin/python3: when the python3 that
runs this test cannot import spf, the test runs itself again with that
one; when neither can, it is skipped."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import outbound_helpers as O  # noqa: E402
import smtp_helpers as H  # noqa: E402
import dnsfix  # noqa: E402
from sink import Sink  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
SENDER = "someone@origin.test"
ALIASES = """# aliases for srs_spf.py
fwd@example.test:     far@remote.test
"""


def import_spf():
    try:
        import spf
        return spf
    except ImportError:
        return None


def point_spf_at(spf, port):
    """Make pyspf ask 127.0.0.1:port, through whichever DNS module it uses."""
    if spf.DNSLookup is getattr(spf, "DNSLookup_dnspython", None):
        import dns.resolver
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = ["127.0.0.1"]
        r.port = port
        dns.resolver.default_resolver = r
        return "dnspython"
    import DNS
    DNS.defaults["server"] = ["127.0.0.1"]
    DNS.defaults["port"] = port
    return "pydns"


def main(t, fx):
    spf = import_spf()
    if spf is None:
        raise T.SkipTest("python3-spf not installed (apt-get install python3-spf)")
    sink = fx.add(Sink())
    if dnsfix.dnsmasq_path() is None:
        raise T.SkipTest("dnsmasq not installed (apt-get install dnsmasq-base)")
    zone = fx.add(dnsfix.Dnsmasq(txt={T.HOSTNAME: "v=spf1 a mx -all",
                               "origin.test": "v=spf1 ip4:192.0.2.1 -all"},
                          a={T.HOSTNAME: sink.address}))
    t.diag("pyspf resolves with %s" % point_spf_at(spf, zone.port))
    srv = fx.server({"relay.smarthost": sink.smarthost()})
    with open(srv.aliases_file, "w") as f:
        f.write(ALIASES)
    srv.start()

    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    try:
        s.hello(True)
        r = [s.cmd("MAIL FROM:<%s>" % SENDER), s.cmd("RCPT TO:<fwd@example.test>")]
        if all(x.startswith("250") for x in r):
            r.append(s.data(H.to_wire(O.message("spf", sender=SENDER, to="fwd@example.test")))[1])
    finally:
        s.quit()
    t.ok(r[-1].startswith("250 2.0.0 Ok: queued"), "outside client to a forwarding alias: "
         "queued", repr(r))
    got = [m for m in sink.wait_messages(1, timeout=O.scaled(10)) if m.rcpts == ["far@remote.test"]]
    t.eq(len(got), 1, "the forward reached the sink")
    if not got:
        return
    m = got[0]
    peer = sink.connections[m.conn - 1].peer[0]
    helo = m.helo.split(" ", 1)[1] if m.helo and " " in m.helo else ""
    t.ok(m.sender.startswith("SRS0=") and m.sender.lower().endswith("@" + T.HOSTNAME),
         "the forward's sender is an SRS0 address at the SRS domain", m.sender)
    t.eq(peer, sink.address, "the daemon connected from the address the SRS domain's A "
         "record names")

    res = spf.check2(i=peer, s=m.sender, h=helo)
    t.ok(res[0] == "pass", "pyspf: the SRS0 sender from %s passes SPF (%s)" % (peer, T.HOSTNAME),
         repr(res))
    res = spf.check2(i=peer, s=SENDER, h=helo)
    t.ok(res[0] == "fail", "pyspf: the original sender from the same address fails SPF "
         "(what a plain forward would get)", repr(res))
    t.ok("query[TXT] %s from" % T.HOSTNAME in zone.log(),
         "pyspf asked the test's dnsmasq", zone.log()[-2000:])
    t.ok(O.wait_queue_empty(srv, 10), "the queue is empty at the end", repr(H.queue_files(srv)))


def reexec_with_system_python():
    """python3-spf is for Debian's python3; run there when this one lacks it."""
    if import_spf() is not None or os.environ.get("SRS_SPF_REEXEC"):
        return
    if not os.access(SYSTEM_PYTHON, os.X_OK) or \
            os.path.realpath(SYSTEM_PYTHON) == os.path.realpath(sys.executable):
        return
    if subprocess.run([SYSTEM_PYTHON, "-c", "import spf"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        return
    os.environ["SRS_SPF_REEXEC"] = "1"
    sys.stdout.flush()
    os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])


if __name__ == "__main__":
    reexec_with_system_python()
    sys.exit(O.run(main))
