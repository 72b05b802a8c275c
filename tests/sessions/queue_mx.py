#!/usr/bin/env python3
"""queue_mx.py: delivery to the recipient domain's mail exchangers found in
real DNS (docs/PROTOCOL.md, the queue, RFC 5321 5.1, RFC 7505), with a dnsmasq
of the test's own as dns.nameserver and sinks on 127.0.x.y:

- two MX records: the sink on the preferred one gets the message, the other
  nothing;
- the preferred MX refuses connections (its address:25 bound, not
  listening): the second MX gets it, and the refusal is logged;
- no MX, only an A record: the domain's own address (implicit MX);
- a null MX ("MX 0 ."): no connection at all, a DSN to the local sender at
  once, Status 5.1.10, Action failed, the queue emptied;
- a domain that does not exist: a DSN with 5.1.2;
- relay.smarthost "relay.test:PORT" (an MX lookup of the smarthost's
  name): its preferred MX refuses, the second takes it, on PORT.

MX delivery is always to port 25: those parts need root (to bind 25 on a
loopback address of their own, so parallel tests do not collide); as
another user they are skipped and the rest runs."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
import dnsfix  # noqa: E402
from sink import Sink, Refuser, can_bind, free_loopback  # noqa: E402


def main(t, fx):
    if dnsfix.dnsmasq_path() is None:
        raise T.SkipTest("dnsmasq not installed (Debian: dnsmasq-base)")
    root25 = can_bind(25)
    mx, a = {}, {}
    if root25:
        best = fx.add(free_loopback(25, lambda ad: Sink(ad, 25, name="best.test")))
        second = fx.add(free_loopback(25, lambda ad: Sink(ad, 25, name="second.test")))
        dead = fx.add(free_loopback(25, lambda ad: Refuser(ad, 25)))
        backup = fx.add(free_loopback(25, lambda ad: Sink(ad, 25, name="backup.test")))
        plain = fx.add(free_loopback(25, lambda ad: Sink(ad, 25, name="plain.test")))
        mx["two.test"] = [(20, "mx2.two.test"), (10, "mx1.two.test")]
        a["mx1.two.test"] = best.address
        a["mx2.two.test"] = second.address
        mx["fallback.test"] = [(10, "dead.fallback.test"), (20, "live.fallback.test")]
        a["dead.fallback.test"] = dead.address
        a["live.fallback.test"] = backup.address
        a["implicit.test"] = plain.address
    # The smarthost form "host:port" looks up host's MX: any port will do.
    r_dead = fx.add(free_loopback(0, lambda ad: Refuser(ad, 0)))
    r_live = fx.add(free_loopback(0, lambda ad: Sink(ad, r_dead.port, name="r2.relay.test")))
    mx["relay.test"] = [(10, "r1.relay.test"), (20, "r2.relay.test")]
    a["r1.relay.test"] = r_dead.address
    a["r2.relay.test"] = r_live.address
    dns = fx.add(dnsfix.Dnsmasq(mx=mx, a=a, null_mx=["void.test"]))
    srv = fx.server(nameserver=dns.nameserver())
    srv.start()

    if not root25:
        for what in ("two MX: the preferred one", "fallback to the second MX",
                     "implicit MX"):
            t.skip(what, "MX delivery goes to port 25; binding it needs root")
    else:
        sent = {}
        for domain, rcpt in (("two.test", "bob@two.test"),
                             ("fallback.test", "carol@fallback.test"),
                             ("implicit.test", "dave@implicit.test")):
            original = O.message("to " + domain, b"via MX\n.dot\n")
            sent[domain] = (O.relay(srv, O.SENDER, [rcpt], H.to_wire(original)),
                            original, rcpt)

        qid, original, rcpt = sent["two.test"]
        got = best.wait_messages(1)
        t.eq(len(got), 1, "two MX: the sink on the preferred MX received it")
        if got:
            O.check_relayed(t, got[0], original, O.SENDER, [rcpt], "two MX", qid=qid)
        t.eq(len(second.connections), 0, "two MX: the second MX saw no connection")

        qid, original, rcpt = sent["fallback.test"]
        got = backup.wait_messages(1)
        t.eq(len(got), 1, "fallback: the second MX received it")
        if got:
            O.check_relayed(t, got[0], original, O.SENDER, [rcpt], "fallback", qid=qid)
        t.ok(O.log_lines(srv, r"id=%s relay=dead\.fallback\.test\[%s\]:25 "
                         r"result=unreachable reason=\"Connection refused\""
                         % (re.escape(qid), re.escape(dead.address))),
             "fallback: the refused connection to the first MX is logged")

        qid, original, rcpt = sent["implicit.test"]
        got = plain.wait_messages(1)
        t.eq(len(got), 1, "implicit MX: the domain's A record received it")
        if got:
            O.check_relayed(t, got[0], original, O.SENDER, [rcpt], "implicit MX", qid=qid)
        t.ok(O.wait_queue_empty(srv), "the queue is empty after the MX deliveries",
             repr(H.queue_files(srv)))

    # Null MX and NXDOMAIN: bounced at the first attempt.
    before = len(O.bounces(srv))
    void = O.message("to the void", b"nobody takes this\n")
    qv = O.relay(srv, O.SENDER, ["erin@void.test"], H.to_wire(void))
    got = O.wait_bounces(srv, before + 1)
    nx = O.message("to nowhere", b"no such domain\n")
    qn = O.relay(srv, O.SENDER, ["frank@nx.test"], H.to_wire(nx))
    got = O.wait_bounces(srv, before + 2)
    t.eq(len(got), before + 2, "a DSN each for the null MX and the unknown domain")
    dsns = {}
    for _, data in got[before:]:
        d = O.Dsn(data)
        for r in d.recipients:
            dsns[r.get("Final-Recipient")] = data
    data = dsns.get("rfc822; erin@void.test")
    t.ok(data is not None, "null MX: the DSN names erin@void.test")
    if data:
        d = O.check_dsn(t, data, ["erin@void.test"], "null MX",
                        status={"erin@void.test": "5.1.10"},
                        reply={"erin@void.test": "556 5.1.10"},
                        subject="to the void")
        t.ok("null MX" in d.recipient("erin@void.test").get("Diagnostic-Code", ""),
             "null MX: the diagnostic says null MX")
        t.eq(d.per_message.get("X-Ispmaild-Queue-ID"), qv, "null MX: the DSN names the queue id")
    data = dsns.get("rfc822; frank@nx.test")
    t.ok(data is not None, "NXDOMAIN: the DSN names frank@nx.test")
    if data:
        O.check_dsn(t, data, ["frank@nx.test"], "NXDOMAIN",
                    status={"frank@nx.test": "5.1.2"},
                    reply={"frank@nx.test": "550 5.1.2 Domain nx.test not found"},
                    subject="to nowhere")
    t.ok(O.wait_queue_empty(srv), "the bounced messages left the queue")
    t.ok(O.log_lines(srv, r"delivery id=%s to=<erin@void\.test> result=bounced tries=1 "
                     r"reply=\"556 5\.1\.10 " % re.escape(qv)),
         "null MX: the bounce is logged")
    t.ok(O.log_lines(srv, r"bounce id=%s to=%s result=delivered"
                     % (re.escape(qn), re.escape(O.SENDER))),
         "NXDOMAIN: the DSN's delivery is logged")
    if root25:
        t.eq([len(s.connections) for s in (best, second, backup, plain)], [1, 0, 1, 1],
             "no sink was contacted for the null MX or the unknown domain")

    # relay.smarthost "host:port": the smarthost's own MX records, on port.
    srv.set("relay.smarthost", "relay.test:%d" % r_dead.port)
    t.ok(O.reload(srv), "SIGHUP: the runner restarts with the smarthost")
    original = O.message("via smarthost MX", b"smart\n")
    qid = O.relay(srv, O.SENDER, ["gina@elsewhere.test"], H.to_wire(original))
    got = r_live.wait_messages(1)
    t.eq(len(got), 1, "smarthost host:port: its second MX (the first refuses) got it")
    if got:
        O.check_relayed(t, got[0], original, O.SENDER, ["gina@elsewhere.test"],
                        "smarthost MX", qid=qid)
    t.ok(O.log_lines(srv, r"id=%s relay=r1\.relay\.test\[%s\]:%d result=unreachable"
                     % (re.escape(qid), re.escape(r_dead.address), r_dead.port)),
         "smarthost MX: the preferred MX was tried first, on the smarthost's port")
    t.ok(O.wait_queue_empty(srv), "the queue is empty at the end")


if __name__ == "__main__":
    sys.exit(O.run(main))
