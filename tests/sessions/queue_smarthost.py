#!/usr/bin/env python3
"""queue_smarthost.py: relayed mail leaves through relay.smarthost
"[127.0.0.1]:PORT" (ispmaild.conf(5) and docs/PROTOCOL.md, the queue; no MX
lookup, so dns.nameserver is a dead loopback port). At the sink: one
transaction per recipient domain, the exact envelope (MAIL FROM, each RCPT,
SIZE= the message's size), our Received line on top and nothing else added, the
body byte for byte with CRLF line ends and the dot-stuffing undone (".", "..",
".x" lines, 8-bit bytes, a 998-octet line); the RCPTs pipelined behind MAIL
(RFC 2920); QUIT at the end; the queue emptied (env/, new/, tmp/, `queue
list`); then, after a SIGHUP that points the smarthost at a sink offering
STARTTLS, the message goes encrypted (opportunistic, self-signed certificate),
and a sink that refuses EHLO gets HELO (RFC 5321 3.2)."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402

RCPTS = ["bob@remote.test", "Carol@Other.Test", "dave@remote.test"]
BODY = (b"First line.\n"
        b".\n"
        b"..\n"
        b".leading dot\n"
        b"...three\n"
        b"From the start of a line\n"
        b"caf\xc3\xa9 \xff 8-bit\n"
        + b"x" * 998 + b"\n"
        b"\n"
        b"last line, then an empty one\n"
        b"\n")


def main(t, fx):
    sink = fx.add(Sink())
    srv = fx.server({"relay.smarthost": sink.smarthost()})
    srv.start()

    # 1. three recipients in two domains: a transaction per domain.
    original = O.message("dots and bytes", BODY)
    qid = O.relay(srv, O.SENDER, RCPTS, H.to_wire(original))
    got = sink.wait_messages(2)
    t.eq(len(got), 2, "the sink received two messages, one per recipient domain")
    by_domain = {m.rcpts[0].rsplit("@", 1)[1].lower(): m for m in got if m.rcpts}
    t.eq(sorted(by_domain), ["other.test", "remote.test"], "one for each domain")
    for domain, rcpts in (("remote.test", [RCPTS[0], RCPTS[2]]),
                          ("other.test", [RCPTS[1]])):
        m = by_domain.get(domain)
        if m is None:
            continue
        what = "to " + domain
        O.check_relayed(t, m, original, O.SENDER, rcpts, what, qid=qid)
        t.eq(m.helo, "EHLO " + T.HOSTNAME, what + ": EHLO with our hostname")
        size = [p for p in m.params if p.upper().startswith("SIZE=")]
        t.eq(len(size), 1, what + ": MAIL carries SIZE= (RFC 1870)")
        if size:
            n = int(size[0][5:])
            disk = len(m.data.replace(b"\r\n", b"\n"))
            t.ok(disk <= n <= len(m.data),
                 what + ": SIZE= is the message size (got %d; %d octets, %d with CRLF)"
                 % (n, disk, len(m.data)))
        t.ok(b"Return-Path:" not in m.data, what + ": no Return-Path in relayed mail")
        t.eq(len(re.findall(rb"(?m)^Received: ", m.data)), 1,
             what + ": exactly one Received line")
        t.ok(b"\r\n.\r\n..\r\n.leading dot\r\n...three\r\n" in m.data,
             what + ": dot lines arrive intact after unstuffing")
        t.ok(b"\r\n..\r\n...\r\n..leading dot\r\n....three\r\n" in m.raw,
             what + ": and were dot-stuffed on the wire")
        conn = sink.connections[m.conn - 1]
        H.wait_for(lambda: conn.closed, O.scaled(3))     # QUIT comes after our 250
        cmds = [c for c, _ in conn.commands]
        t.eq([c.split(":")[0] for c in cmds if c[:4] in ("MAIL", "RCPT", "DATA")],
             ["MAIL FROM"] + ["RCPT TO"] * len(rcpts) + ["DATA"],
             what + ": one MAIL, a RCPT each, one DATA")
        piped = [p for c, p in conn.commands if c.startswith(("MAIL", "RCPT"))]
        t.eq(piped, [False] + [True] * len(rcpts),
             what + ": the RCPTs came in the write of MAIL (PIPELINING)")
        t.eq(cmds[-1], "QUIT", what + ": the session ends with QUIT")
    t.ok(O.wait_queue_empty(srv), "queue/env, new and tmp are empty after delivery",
         repr(H.queue_files(srv)))
    ids, _ = O.queue_list(srv)
    t.eq(ids, [], "queue list shows nothing")
    t.ok(O.wait_log(srv, r"delivery id=%s to=<bob@remote\.test> result=sent tries=1"
                    % re.escape(qid)), "the delivery is logged with the queue id")
    t.ok(O.log_lines(srv, r"queue id=%s result=removed failed=0" % re.escape(qid)),
         "the removal is logged")
    t.eq(O.bounces(srv), [], "no bounce")

    # 2. STARTTLS offered: the message goes encrypted.
    cert = O.make_cert(srv.dir)
    tls = fx.add(Sink(tls=cert))
    srv.set("relay.smarthost", tls.smarthost())
    t.ok(O.reload(srv), "SIGHUP restarts the runner with the new smarthost")
    original = O.message("over tls", b"secret\n")
    O.relay(srv, O.SENDER, ["erin@remote.test"], H.to_wire(original))
    got = tls.wait_messages(1)
    t.eq(len(got), 1, "the TLS sink received it")
    if got:
        t.ok(got[0].tls, "over TLS (opportunistic STARTTLS)")
        O.check_relayed(t, got[0], original, O.SENDER, ["erin@remote.test"], "tls")
        cmds = [c for c, _ in tls.connections[got[0].conn - 1].commands]
        t.eq(cmds[:3], ["EHLO " + T.HOSTNAME, "STARTTLS", "EHLO " + T.HOSTNAME],
             "EHLO, STARTTLS, EHLO again")
    t.ok(O.log_lines(srv, r"relay=\S+ tls=TLSv1\.[23] cipher="), "TLS is logged")
    t.ok(O.wait_queue_empty(srv), "queue empty after the TLS delivery")
    t.eq(len(sink.messages), 2, "the old smarthost got nothing more")

    # 3. EHLO refused: HELO, and no ESMTP parameters.
    old = fx.add(Sink(ehlo=["502 5.5.2 EHLO not here"] * 3))
    srv.set("relay.smarthost", old.smarthost())
    O.reload(srv)
    original = O.message("helo only", b"old school\n")
    O.relay(srv, O.SENDER, ["frank@remote.test"], H.to_wire(original))
    got = old.wait_messages(1)
    t.eq(len(got), 1, "the HELO-only sink received it")
    if got:
        t.eq(got[0].helo, "HELO " + T.HOSTNAME, "HELO after EHLO was refused")
        t.eq(got[0].params, [], "no MAIL parameters after HELO")
        O.check_relayed(t, got[0], original, O.SENDER, ["frank@remote.test"], "helo")
    t.ok(O.wait_queue_empty(srv), "queue empty at the end")


if __name__ == "__main__":
    sys.exit(O.run(main))
