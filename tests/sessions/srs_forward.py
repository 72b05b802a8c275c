#!/usr/bin/env python3
"""srs_forward.py: sender rewriting for forwarded mail, its reverse path,
and no backscatter (ispmaild.conf(5), SRS; docs/ADMIN.md, "Forwarding and
SRS"; docs/SECURITY.md). A real daemon on loopback, the sink as the
smarthost:

- the secret file is made at the first start: 32 bytes, mode 0600;
- an alias to a remote address: the sink gets MAIL FROM an SRS0 address
  whose hash and day stamp this test recomputes with Python's hmac;
- the sink refuses the forward (550): for an outside client's (forged)
  sender no DSN goes anywhere, "bounce ... result=suppressed
  reason=forwarded-from-outside" is logged and `ispmailctl status`
  counts dsn_suppressed; for a customer's sender the DSN comes back to the
  original sender's Maildir through the SRS address;
- a bounce to a valid SRS address from an outside client (null sender) is
  delivered to the original local sender, or relayed to a remote one; an
  outsider's message with a sender to such an address, refused by the
  remote side, bounces nowhere;
- a forged hash, an expired stamp and a malformed SRS address get
  550 5.1.1 "invalid SRS address";
- one message with a forwarded and a directly relayed recipient: two
  envelopes, one with the client's sender and one with the SRS sender."""

import base64
import hashlib
import hmac
import os
import re
import stat
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
DAY = 86400
REFUSED = "550 5.1.1 <refuse@remote.test>: no such user"
FORGED = "victim@forged.test"
ALIASES = """# aliases for srs_forward.py
fwd@example.test:     far@remote.test
fwdbad@example.test:  refuse@remote.test
"""


def srs_hash(secret, msg):
    digest = hmac.new(secret, msg.lower().encode(), hashlib.sha256).digest()
    return base64.b64encode(digest)[:4].decode()


def stamp(now):
    day = int(now) // DAY % 1024
    return B32[day >> 5] + B32[day & 31]


def srs0(secret, sender, now, domain=T.HOSTNAME):
    """The SRS0 address of sender as docs/SECURITY.md describes it."""
    local, dom = sender.rsplit("@", 1)
    msg = "SRS0=%s=%s=%s" % (stamp(now), dom, local)
    return "SRS0=%s=%s@%s" % (srs_hash(secret, msg), msg[5:], domain)


def srs_valid(secret, address, now):
    """(original sender, None) when address is a good SRS0 address of ours,
    else (None, why)."""
    m = re.match(r"SRS0=([^=]{4})=([A-Z2-7]{2})=([^=]+)=(.+)@(.+)$", address)
    if not m:
        return None, "not SRS0: %r" % address
    h, tt, dom, local, srsdom = m.groups()
    if srsdom.lower() != T.HOSTNAME:
        return None, "SRS domain %r" % srsdom
    if not hmac.compare_digest(h, srs_hash(secret, "SRS0=%s=%s=%s" % (tt, dom, local))):
        return None, "hash %r" % h
    if tt != stamp(now) and tt != stamp(now - DAY):
        return None, "stamp %r" % tt
    return "%s@%s" % (local, dom), None


def session(srv, source, sender, rcpts, body=None, subject="srs", login=None):
    """MAIL, RCPTs and (when every RCPT was accepted) DATA; the replies.
    login: (user, password) for AUTH PLAIN first."""
    s = H.Smtp(srv, "smtp", source)
    try:
        s.hello(True)
        out = []
        if login:
            tok = base64.b64encode(b"\0" + login[0].encode() + b"\0" + login[1].encode())
            out.append(s.cmd("AUTH PLAIN " + tok.decode()))
            if not out[-1].startswith("235"):
                return out
        out.append(s.cmd("MAIL FROM:<%s>" % sender))
        out += [s.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        if all(r[:3] in ("235", "250") for r in out):
            data = body or H.to_wire(O.message(subject, sender=sender or "x@y.test"))
            out.append(s.data(data)[1])
        return out
    finally:
        s.quit()


def queued_id(reply):
    m = re.match(O.QUEUED_RE, reply or "")
    return m.group(1) if m else None


def status_counter(srv, name):
    rc, out, err = srv.ctl_run("status")
    m = re.search(r"\b%s=(\d+)" % re.escape(name), out)
    return int(m.group(1)) if m else None


def main(t, fx):
    sink = fx.add(Sink(rcpt={"refuse@remote.test": [REFUSED] * 20}))
    srv = fx.server({"relay.smarthost": sink.smarthost()})
    with open(srv.aliases_file, "w") as f:
        f.write(ALIASES)
    secret_file = srv.tree["srs"]["secret_file"]
    t.ok(not os.path.exists(secret_file), "no secret file before the first start")
    srv.start()

    # The secret: made at the first start, 32 bytes, mode 0600.
    st = os.stat(secret_file)
    t.eq((st.st_size, stat.S_IMODE(st.st_mode)), (32, 0o600),
         "the secret file is made at first start: 32 bytes, mode 0600")
    t.ok(O.log_lines(srv, r"srs file=%s result=created" % re.escape(secret_file)),
         "its making is logged")
    with open(secret_file, "rb") as f:
        secret = f.read()

    # 1. An alias to a remote address: the sink sees the SRS0 sender.
    now = time.time()
    r = session(srv, T.OUTSIDER, FORGED, ["fwd@example.test"], subject="forwarded")
    qid = queued_id(r[-1])
    t.ok(qid, "outside client to a forwarding alias: queued", repr(r))
    got = sink.wait_messages(1, timeout=O.scaled(10))
    msg = [m for m in got if m.rcpts == ["far@remote.test"]]
    t.eq(len(msg), 1, "the forward reached the sink")
    srs_sender = msg[0].sender if msg else ""
    orig, why = srs_valid(secret, srs_sender, now)
    t.ok(orig == FORGED, "the forward's sender is SRS0 of the original, hash and stamp "
         "recomputed in Python", "%s: %s" % (srs_sender, why))
    t.ok(O.wait_gone(srv, qid, 10), "the forward left the queue")

    # 2. The sink refuses the forward; the sender is an outsider's (forged):
    #    no DSN anywhere, the suppression logged and counted.
    before_sink = len(sink.messages)
    before_mail = all_mail(srv)
    r = session(srv, T.OUTSIDER, FORGED, ["fwdbad@example.test"], subject="backscatter")
    qid = queued_id(r[-1])
    t.ok(qid, "outside client, forged sender, forward refused later: queued", repr(r))
    t.ok(O.wait_gone(srv, qid, 10), "the refused forward left the queue")
    t.ok(O.wait_log(srv, r"bounce id=%s result=suppressed reason=forwarded-from-outside"
                    % re.escape(qid), 5),
         "no DSN: 'bounce ... result=suppressed reason=forwarded-from-outside' logged")
    time.sleep(0.5 * O.SCALE)
    later = [m for m in sink.messages[before_sink:] if m.sender == ""]
    t.eq(later, [], "no DSN reached the sink (none to the forged address)")
    t.eq(all_mail(srv), before_mail, "no DSN in any Maildir")
    t.eq(status_counter(srv, "dsn_suppressed"), 1, "ispmailctl status: dsn_suppressed=1")

    # 3. The same refusal for a customer's (authorized) sender: the DSN goes
    #    back through the SRS address to the original sender's Maildir.
    had = len(O.bounces(srv))
    r = session(srv, T.CUSTOMER, O.SENDER, ["fwdbad@example.test"], subject="customer",
                login=(O.SENDER, O.PASSWORD))
    qid = queued_id(r[-1])
    t.ok(qid, "customer to the same alias: queued", repr(r))
    t.ok(O.wait_gone(srv, qid, 10), "the refused forward left the queue")
    dsns = O.wait_bounces(srv, had + 1, timeout=10)
    t.eq(len(dsns), had + 1, "the DSN reached the original sender's Maildir")
    if len(dsns) > had:
        O.check_dsn(t, dsns[-1][1], ["refuse@remote.test"], "customer's forward",
                    status={"refuse@remote.test": "5.1.1"},
                    reply={"refuse@remote.test": REFUSED}, subject="customer")
    t.eq(status_counter(srv, "dsn_suppressed"), 1, "not counted as suppressed")

    # 4. The reverse path: a bounce to a valid SRS address from an outside
    #    client, null sender, to a local original sender: her Maildir.
    had = O.maildir_count(srv, O.SENDER)
    addr = srs0(secret, O.SENDER, time.time())
    r = session(srv, T.OUTSIDER, "", [addr], body=b"Subject: bounce\r\n\r\nreturned\r\n")
    t.ok(r[-1].startswith("250 "), "bounce to a valid SRS address: accepted", repr(r))
    t.ok(H.wait_for(lambda: O.maildir_count(srv, O.SENDER) == had + 1, O.scaled(5)),
         "delivered to the original sender's Maildir")
    new = [d for n, d in H.maildir_messages(srv, O.SENDER) if b"returned" in d]
    t.ok(new and new[-1].startswith(b"Return-Path: <>\n"), "with the null sender",
         new[-1][:60] if new else None)
    t.ok(O.log_lines(srv, r"rcpt to=\"?<%s>\"? result=ok reason=srs orig=\"?<%s>"
                     % (re.escape(addr), re.escape(O.SENDER))), "the reverse is logged")

    #    ... and to a remote original (the SRS sender of step 1): relayed.
    n = len(sink.messages)
    r = session(srv, T.OUTSIDER, "", [srs_sender], body=b"Subject: bounce\r\n\r\nback\r\n")
    t.ok(r[-1].startswith("250 "), "bounce to the forward's SRS address: accepted", repr(r))
    got = sink.wait_messages(n + 1, timeout=O.scaled(10))
    back = [m for m in got[n:] if m.rcpts == [FORGED]]
    t.eq([(m.sender, m.rcpts) for m in back], [("", [FORGED])],
         "relayed to the remote original sender with the null sender")

    #    ... and from an outsider with a (forged) sender, refused later by
    #    the remote original's side: no DSN to that sender either.
    n = len(sink.messages)
    addr = srs0(secret, "refuse@remote.test", time.time())
    r = session(srv, T.OUTSIDER, "victim2@forged.test", [addr], subject="reverse")
    qid = queued_id(r[-1])
    t.ok(qid, "outsider with a sender to a valid SRS address: queued", repr(r))
    t.ok(O.wait_gone(srv, qid, 10), "refused by the original's side: left the queue")
    t.ok(O.wait_log(srv, r"bounce id=%s result=suppressed reason=forwarded-from-outside"
                    % re.escape(qid), 5), "the reverse path's relay bounces nowhere either")
    time.sleep(0.5 * O.SCALE)
    t.eq([m for m in sink.messages[n:] if m.sender == ""], [],
         "no DSN to the outsider's sender")
    t.eq(status_counter(srv, "dsn_suppressed"), 2, "ispmailctl status: dsn_suppressed=2")

    # 5. Forged hash, expired stamp, malformed: 550 5.1.1.
    good = srs0(secret, O.SENDER, time.time())
    h = good.split("=")[1]
    forged = good.replace("=" + h + "=", "=" + ("AAAA" if h != "AAAA" else "BBBB") + "=", 1)
    old = srs0(secret, O.SENDER, time.time() - 30 * DAY)
    for what, a in (("forged hash", forged), ("expired stamp (30 days)", old),
                    ("malformed", "SRS0=abcd@%s" % T.HOSTNAME),
                    ("made with another secret", srs0(b"x" * 32, O.SENDER, time.time()))):
        s = H.Smtp(srv, "smtp", T.OUTSIDER)
        s.hello(True)
        s.cmd("MAIL FROM:<>")
        t.eq(s.cmd("RCPT TO:<%s>" % a),
             "550 5.1.1 <%s>: Recipient address rejected: invalid SRS address" % a,
             "%s: 550 5.1.1 invalid SRS address" % what)
        s.quit()
    t.ok(O.log_lines(srv, r"rcpt to=\"?<%s>\"? result=reject code=550 reason=srs-bad_hash"
                     % re.escape(forged)), "the forged one is logged as srs-bad_hash")
    t.ok(O.log_lines(srv, r"rcpt to=\"?<%s>\"? result=reject code=550 reason=srs-expired"
                     % re.escape(old)), "the expired one is logged as srs-expired")

    # 6. One message, a forwarded and a directly relayed recipient (from a
    #    client allowed to relay): two envelopes, two senders.
    n = len(sink.messages)
    now = time.time()
    r = session(srv, T.TRUSTED, O.SENDER, ["fwd@example.test", "direct@remote.test"],
                subject="mixed")
    qid = queued_id(r[-1])
    t.ok(qid, "mixed: queued", repr(r))
    ids = [m.group(1) for m in
           (re.search(r"queued id=(\S+) from=", line)
            for line in O.log_lines(srv, r"queued id=\S+ from=<%s>|queued id=\S+ from=<SRS0="
                                    % re.escape(O.SENDER)))
           if m]
    t.ok(qid in ids and len(ids) >= 2, "mixed: two 'queued' log lines", repr(ids))
    got = sink.wait_messages(n + 2, timeout=O.scaled(10))
    mixed = dict((tuple(m.rcpts), m) for m in got[n:])
    direct = mixed.get(("direct@remote.test",))
    fwd = mixed.get(("far@remote.test",))
    t.eq(direct and direct.sender, O.SENDER, "mixed: the direct recipient gets the "
         "client's sender")
    t.ok(srs_valid(secret, fwd.sender if fwd else "", now)[0] == O.SENDER,
         "mixed: the forwarded recipient gets the SRS0 sender", fwd and fwd.sender)
    t.eq(direct and direct.data, fwd and fwd.data, "mixed: the same message to both")
    t.ok(O.wait_queue_empty(srv, 10), "the queue is empty at the end", repr(H.queue_files(srv)))


def all_mail(srv):
    out = []
    for base, dirs, files in os.walk(srv.maildir_root):
        out += [os.path.join(base, f) for f in files]
    return sorted(out)


if __name__ == "__main__":
    sys.exit(O.run(main))
