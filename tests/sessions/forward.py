#!/usr/bin/env python3
"""forward.py: forwarding per user (SPEC 12; docs/ADMIN.md, "Forwarding"),
a real daemon on loopback with the sink as the smarthost. The users file's
options are written here as an administrator would (ispmailctl user
forward is forward_ctl.py's):

- keep=yes to a remote and a local address: the user's Maildir and the
  local one get the bytes (Return-Path, our Received:, the message), the
  sink gets the copy with an SRS0 sender and Delivered-To: naming the user
  on top, and no Delivered-To: in any local copy;
- keep=no to a remote address: the sink only, the user's Maildir stays
  empty; keep=no to a local address: that Maildir only;
- a loop between two local users (keep=no both), and one of three: the
  message is delivered exactly once, at the user it started from, and
  "forward user=... result=kept reason=loop" is logged;
- a message that already carries Delivered-To: naming the forwarding user
  (keep=no) is not forwarded again: it is kept in the user's Maildir and
  "forward user=... result=kept reason=delivered-to" is logged; the same
  user's other mail is still forwarded."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402

SENDER = "someone@outside.test"
OPTIONS = {
    "kya@example.test": "forward=far@remote.test bob@example.test",
    "kno@example.test": "keep=no,forward=far2@remote.test",
    "lna@example.test": "forward=bob@example.test,keep=no",
    "loop1@example.test": "forward=loop2@example.test,keep=no",
    "loop2@example.test": "forward=loop1@example.test,keep=no",
    "tri1@example.test": "forward=tri2@example.test,keep=no",
    "tri2@example.test": "forward=tri3@example.test,keep=no",
    "tri3@example.test": "forward=tri1@example.test,keep=no",
    "dt@example.test": "forward=far3@remote.test,keep=no",
    "bob@example.test": "",
}


def set_options(srv):
    """Each user's options as its third field, the rest of the line kept."""
    with open(srv.users_file) as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        addr = line.split(":", 1)[0]
        if OPTIONS.get(addr):
            line = ":".join(line.split(":")[:2] + [OPTIONS[addr]])
        out.append(line)
    with open(srv.users_file, "w") as f:
        f.write("\n".join(out) + "\n")


def send(srv, rcpt, subject, extra=b""):
    """One message from an outside client; (final reply, the message as sent)."""
    msg = (extra + b"From: <%s>\nTo: <%s>\nSubject: %s\nMessage-ID: <%s@outside.test>\n\n"
           b"Hello %s.\n" % (SENDER.encode(), rcpt.encode(), subject.encode(),
                             subject.replace(" ", ".").encode(), subject.encode()))
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    try:
        s.hello(True)
        r = [s.cmd("MAIL FROM:<%s>" % SENDER), s.cmd("RCPT TO:<%s>" % rcpt)]
        if all(x.startswith("250") for x in r):
            r.append(s.data(H.to_wire(msg))[1])
        return r[-1], msg
    finally:
        s.quit()


def local_copies(srv, address, subject):
    """The files in address's Maildir whose Subject is subject."""
    if not os.path.isdir(srv.maildir(address)):
        return []
    return [d for n, d in H.maildir_messages(srv, address)
            if b"\nSubject: %s\n" % subject.encode() in d]


def check_local(t, srv, address, subject, msg, what):
    got = local_copies(srv, address, subject)
    t.eq(len(got), 1, what + ": one copy in %s's Maildir" % address)
    if got:
        d = got[0]
        ok = d.startswith(b"Return-Path: <%s>\nReceived: from " % SENDER.encode())
        t.ok(ok and d.endswith(msg) and b"Delivered-To:" not in d[:len(d) - len(msg)],
             what + ": Return-Path, our Received:, then the message byte for byte "
             "(no Delivered-To: on a local copy)", d[:400])


def at_sink(sink, rcpt, subject):
    return [m for m in sink.messages if m.rcpts == [rcpt] and
            b"\r\nSubject: %s\r\n" % subject.encode() in m.data]


def check_remote(t, sink, rcpt, user, subject, msg, what):
    H.wait_for(lambda: at_sink(sink, rcpt, subject), O.scaled(10))
    ms = at_sink(sink, rcpt, subject)
    t.eq(len(ms), 1, what + ": one copy at the sink for " + rcpt)
    if not ms:
        return
    m = ms[0]
    t.ok(re.match(r"SRS0=[^=]{4}=[A-Z2-7]{2}=outside\.test=someone@%s$"
                  % re.escape(T.HOSTNAME), m.sender),
         what + ": the sender is SRS0 of the original", m.sender)
    top = b"Delivered-To: %s\r\n" % user.encode()
    t.ok(m.data.startswith(top + b"Received: from "), what + ": Delivered-To: " + user +
         " on top, then our Received:", m.data[:200])
    t.ok(m.data.endswith(T.crlf(msg)), what + ": the message follows byte for byte")


def main(t, fx):
    sink = fx.add(Sink())
    users = tuple(OPTIONS) + (O.SENDER,)
    srv = fx.server({"relay.smarthost": sink.smarthost()}, users=users)
    set_options(srv)
    srv.start()

    # 1. keep=yes to a remote and a local address.
    r, msg = send(srv, "kya@example.test", "keep yes")
    t.ok(r.startswith("250 "), "keep=yes: accepted", r)
    check_local(t, srv, "kya@example.test", "keep yes", msg, "keep=yes")
    check_local(t, srv, "bob@example.test", "keep yes", msg, "keep=yes, local destination")
    check_remote(t, sink, "far@remote.test", "kya@example.test", "keep yes", msg,
                 "keep=yes, remote destination")

    # 2. keep=no to a remote address; keep=no to a local one.
    r, msg = send(srv, "kno@example.test", "keep no")
    t.ok(r.startswith("250 "), "keep=no: accepted", r)
    check_remote(t, sink, "far2@remote.test", "kno@example.test", "keep no", msg,
                 "keep=no, remote destination")
    t.eq(local_copies(srv, "kno@example.test", "keep no"), [],
         "keep=no: nothing in the user's own Maildir")
    r, msg = send(srv, "lna@example.test", "keep no local")
    t.ok(r.startswith("250 "), "keep=no to a local address: accepted", r)
    check_local(t, srv, "bob@example.test", "keep no local", msg, "keep=no, local destination")
    t.eq(local_copies(srv, "lna@example.test", "keep no local"), [],
         "keep=no, local destination: nothing in the user's own Maildir")

    # 3. Loops between local users: delivered once, at the user it started from.
    for first, others, what in (("loop1@example.test", ["loop2@example.test"], "two users"),
                                ("tri1@example.test", ["tri2@example.test",
                                                       "tri3@example.test"], "three users")):
        subject = "loop " + first.split("@")[0]
        r, msg = send(srv, first, subject)
        t.ok(r.startswith("250 "), "loop of %s: accepted" % what, r)
        check_local(t, srv, first, subject, msg, "loop of %s" % what)
        t.eq([len(local_copies(srv, o, subject)) for o in others], [0] * len(others),
             "loop of %s: no other copy" % what)
        t.ok(O.wait_log(srv, r"forward user=%s result=kept reason=loop" % re.escape(first), 5),
             "loop of %s: 'forward user=%s result=kept reason=loop' logged" % (what, first))

    # 4. Delivered-To: already naming the user: kept (even with keep=no), logged.
    r, msg = send(srv, "dt@example.test", "already here",
                  extra=b"Delivered-To: dt@example.test\n")
    t.ok(r.startswith("250 "), "Delivered-To: loop: accepted", r)
    check_local(t, srv, "dt@example.test", "already here", msg, "Delivered-To: loop")
    t.ok(O.wait_log(srv, r"forward user=dt@example\.test result=kept reason=delivered-to", 5),
         "'forward user=dt@example.test result=kept reason=delivered-to' logged")
    t.ok(O.log_lines(srv, r"forward to=far3@remote\.test result=dropped reason=delivered-to"),
         "the dropped destination is logged")
    #    ... another user's Delivered-To does not stop it.
    r, msg = send(srv, "dt@example.test", "first time",
                  extra=b"Delivered-To: someone-else@example.test\n")
    check_remote(t, sink, "far3@remote.test", "dt@example.test", "first time", msg,
                 "Delivered-To: of someone else: forwarded")
    t.ok(O.wait_queue_empty(srv, 10), "the queue is empty at the end", repr(H.queue_files(srv)))
    t.eq(at_sink(sink, "far3@remote.test", "already here"), [],
         "the looping message never reached the sink")


if __name__ == "__main__":
    sys.exit(O.run(main))
