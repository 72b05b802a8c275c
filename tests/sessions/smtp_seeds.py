#!/usr/bin/env python3
"""smtp_seeds.py: the seed scenarios of the relay policy (docs/PROTOCOL.md) and
the ISP bulletin in seeds/, against the real daemon, asserting exact replies
and the bytes in the Maildir and the queue:

- a customer (127.0.0.1) that has not checked its mail gets the qmail-style
  553 "(#5.7.1)" after HELO (as Outlook Express speaks), the "553 5.7.1"
  form after EHLO, for a remote and for a local recipient alike, and
  nothing is stored;
- the same client relays after a POP3 login: 250, the message in
  <state_dir>/queue/env + queue/new, and the local copy in the Maildir;
- a stranger (127.0.0.2) gets "550 [5.7.1] relaying to <x> prohibited by
  administrator" and still delivers to a local user (Return-Path,
  Received, then the body with LF line ends, dot-unstuffed);
- a trusted network (127.0.0.3) relays without POP;
- the submission port wants authentication: 530 5.7.0 at MAIL.
The authorization lapse after authorization_ttl is smtp_seed_ttl.py.
"""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "secret"
REMOTE = "user@remote.example"
BODY = (b"From: demo@example.test\nTo: user@remote.example\nSubject: seed\n\n"
        b".leading dot\n..two dots\n.\nplain \xe9t\xe9 line\n")


def customer_without_pop(t, srv):
    for esmtp, want in ((False, H.FIRST_POP_HELO), (True, H.FIRST_POP_EHLO)):
        how = "customer, %s, no POP" % ("EHLO" if esmtp else "HELO")
        s = H.Smtp(srv, "smtp", T.CUSTOMER)
        t.eq(s.greeting, ["220 %s ESMTP ispmaild" % T.HOSTNAME], how + ": greeting")
        s.hello(esmtp)
        t.eq(s.cmd("MAIL FROM:<%s>" % USER), "250 2.1.0 Ok" if esmtp else "250 Ok",
             how + ": MAIL accepted (judged at RCPT)")
        t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), want, how + ": 553 for a remote recipient")
        t.eq(s.cmd("RCPT TO:<%s>" % USER), want, how + ": 553 for a local recipient")
        # Outlook Express sends "RCPT TO: <x>" with a space: the same 553.
        t.eq(s.cmd("RCPT TO: <%s>" % REMOTE), want, how + ": 553 with a space after TO:")
        t.eq(s.cmd("DATA"), "554 5.5.1 Error: no valid recipients" if esmtp
             else "554 Error: no valid recipients", how + ": DATA without recipients")
        t.eq(s.quit(), "221 2.0.0 Bye" if esmtp else "221 Bye", how + ": QUIT")
    t.ok(H.queue_empty(srv), "customer without POP: nothing queued", repr(H.queue_files(srv)))
    t.eq(srv.files(USER)["new"], [], "customer without POP: nothing delivered")


def submission_without_auth(t, srv):
    for source, who in ((T.OUTSIDER, "outside"), (T.CUSTOMER, "customer")):
        s = H.Smtp(srv, "submission", source)
        s.hello(True)
        t.eq(s.cmd("MAIL FROM:<%s>" % USER), "530 5.7.0 Authentication required",
             "submission, %s, EHLO: 530 at MAIL" % who)
        t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), "503 5.5.1 Error: need MAIL command",
             "submission, %s: no transaction after the 530" % who)
        s.hello(False)
        t.eq(s.cmd("MAIL FROM:<%s>" % USER), "530 Authentication required",
             "submission, %s, HELO: 530 without an enhanced code" % who)
        s.quit()
    s = H.Smtp(srv, "submission", T.TRUSTED)
    s.hello(True)
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), "250 2.1.0 Ok", "submission, trusted: MAIL accepted")
    t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), "250 2.1.5 Ok", "submission, trusted: RCPT accepted")
    s.cmd("RSET")
    s.quit()


def customer_after_pop(t, srv):
    before = H.queue_files(srv)
    had = set(srv.files(USER)["new"])
    H.pop_login(srv, USER, PASSWORD, T.CUSTOMER)
    s = H.Smtp(srv, "smtp", T.CUSTOMER)
    s.hello(False, "oe-client")
    t.eq(s.cmd("MAIL FROM: <%s>" % USER), "250 Ok", "after POP, HELO: MAIL FROM: <x>")
    t.eq(s.cmd("RCPT TO: <%s>" % REMOTE), "250 Ok", "after POP: remote recipient accepted")
    t.eq(s.cmd("RCPT TO: <%s>" % USER), "250 Ok", "after POP: local recipient accepted")
    go, final = s.data(H.to_wire(BODY))
    t.eq(go, "354 End data with <CR><LF>.<CR><LF>", "after POP: 354")
    m = re.match(r"250 Ok: queued as (\S+)$", final or "")
    t.ok(m, "after POP: 250 Ok: queued as ID", repr(final))
    s.quit()

    after = H.queue_files(srv)
    q = dict((k, sorted(set(after[k]) - set(before[k]))) for k in after)
    t.eq(len(q["env"]), 1, "after POP: one more envelope in queue/env")
    t.eq(len(q["new"]), 1, "after POP: one more data file in queue/new")
    t.eq(after["tmp"], [], "after POP: nothing left in queue/tmp")
    if not (m and len(q["env"]) == 1):
        return
    qid = m.group(1)
    t.eq(q["env"], [qid], "the 250 names the queue id")
    env = H.envelope(srv, qid)
    t.ok(env["text"].startswith("ispmaild-queue 1\n"), "envelope header", env["text"])
    t.eq(env.get("sender"), USER, "envelope sender")
    t.eq(env.get("client"), "127.0.0.1 oe-client", "envelope client: ip and HELO name")
    t.eq(env["rcpt"], [("pending", "0", "0", REMOTE)], "envelope: the remote recipient, pending")
    t.eq(q["new"], [env.get("data")], "envelope names the data file")
    data = H.queue_data(srv, q["new"][0])
    rp, rec, rest = H.split_trace(data, local=False)
    t.ok(rec and re.match(H.received_re("oe-client", T.CUSTOMER, "SMTP"), rec),
         "queued copy: our Received line, no Return-Path", repr(data[:300]))
    t.eq(rest, BODY, "queued copy: the body, LF line ends, dots unstuffed, 8-bit kept")
    t.ok(",S=%d," % len(data) in q["new"][0], "queued data file carries S=", q["new"][0])

    local = [x for x in H.maildir_messages(srv, USER) if x[0] not in had]
    t.eq(len(local), 1, "after POP: the local recipient got one copy")
    if local:
        rp, rec, rest = H.split_trace(local[0][1])
        t.eq(rp, b"Return-Path: <demo@example.test>", "local copy: Return-Path")
        t.ok(rec and re.match(H.received_re("oe-client", T.CUSTOMER, "SMTP"), rec),
             "local copy: Received line (two recipients: no 'for')", repr(rec))
        t.eq(rest, BODY, "local copy: the body")

    # EHLO after POP: the enhanced forms
    s = H.Smtp(srv, "smtp", T.CUSTOMER)
    s.hello(True)
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), "250 2.1.0 Ok", "after POP, EHLO: MAIL")
    t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), "250 2.1.5 Ok", "after POP, EHLO: RCPT remote")
    s.cmd("RSET")
    s.quit()

    # The submission port takes a POP login as authorization too
    # (docs/PROTOCOL.md, relay policy).
    s = H.Smtp(srv, "submission", T.CUSTOMER)
    s.hello(True)
    t.eq(s.cmd("MAIL FROM:<%s>" % USER), "250 2.1.0 Ok", "submission after POP: MAIL accepted")
    t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), "250 2.1.5 Ok", "submission after POP: RCPT accepted")
    s.cmd("RSET")
    s.quit()
    t.ok(re.search(r"rcpt to=<user@remote\.example> result=ok relay=pop-before-smtp", srv.log()),
         "log: relay=pop-before-smtp")


def outsider(t, srv):
    before = H.queue_files(srv)
    for esmtp in (True, False):
        s = H.Smtp(srv, "smtp", T.OUTSIDER)
        s.hello(esmtp)
        s.cmd("MAIL FROM:<stranger@remote.example>")
        t.eq(s.cmd("RCPT TO:<%s>" % REMOTE), H.denied(REMOTE, esmtp),
             "outside, %s: 550 relaying prohibited" % ("EHLO" if esmtp else "HELO"))
        t.eq(s.cmd("RCPT TO:<Other.User@Remote.Example>"),
             H.denied("Other.User@Remote.Example", esmtp),
             "outside: the 550 quotes the mailbox as written")
        s.cmd("RSET")
        s.quit()
    t.eq(H.queue_files(srv), before, "outside: nothing queued")
    t.ok(re.search(r"rcpt to=<user@remote\.example> result=reject code=550 relay=denied",
                     srv.log()), "log: relay=denied")

    # ... but mail for a local user is inbound mail: delivered.
    body = b"From: stranger@remote.example\nSubject: inbound\n\n.x\nline two\n\n"
    n0 = len(srv.files(USER)["new"])
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(False, "mx.remote.example")
    r = s.transaction("stranger@remote.example", [USER], H.to_wire(body))
    t.eq(r[:3], ["250 Ok", "250 Ok", "354 End data with <CR><LF>.<CR><LF>"],
         "outside, HELO: MAIL, RCPT local, DATA")
    m = re.match(r"250 Ok: queued as (\S+)$", r[3] if len(r) > 3 else "")
    t.ok(m, "outside: 250 after the message", repr(r))
    s.quit()
    msgs = H.maildir_messages(srv, USER)
    t.eq(len(msgs), n0 + 1, "outside: one new message in the Maildir")
    new = [x for x in msgs if m and x[0].startswith(m.group(1) + ".")] if m else []
    t.eq(len(new), 1, "the 250's id is the Maildir file's unique part")
    if new:
        name, data = new[0]
        rp, rec, rest = H.split_trace(data)
        t.eq(rp, b"Return-Path: <stranger@remote.example>", "delivered: Return-Path first")
        t.ok(rec and re.match(H.received_re("mx.remote.example", T.OUTSIDER, "SMTP",
                                              USER, re.escape(m.group(1))), rec),
             "delivered: Received from HELO ([ip]) by host with SMTP id, for <rcpt>", repr(rec))
        t.eq(rest, body, "delivered: the body with LF line ends, dot-unstuffed")
        t.ok(",S=%d,W=%d" % (len(data), len(T.crlf(data))) in name,
             "delivered: S= and W= in the name", name)
    t.eq(H.queue_files(srv), before, "inbound mail does not touch the queue")


def trusted(t, srv):
    before = set(H.queue_files(srv)["env"])
    s = H.Smtp(srv, "smtp", T.TRUSTED)
    s.hello(True, "webmail.example.test")
    r = s.transaction("webmail@example.test", [REMOTE, "second@elsewhere.example"],
                      H.to_wire(b"Subject: from webmail\n\nhi\n"))
    t.eq(r[:4], ["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok",
                 "354 End data with <CR><LF>.<CR><LF>"], "trusted: relays without POP")
    m = re.match(r"250 2\.0\.0 Ok: queued as (\S+)$", r[4] if len(r) > 4 else "")
    t.ok(m, "trusted: 250 2.0.0 queued", repr(r))
    s.quit()
    new = set(H.queue_files(srv)["env"]) - before
    t.eq(len(new), 1, "trusted: one envelope for two remote recipients")
    if new and m:
        qid = new.pop()
        t.eq(qid, m.group(1), "trusted: the 250 names the queue id")
        env = H.envelope(srv, qid)
        t.eq(env["rcpt"], [("pending", "0", "0", REMOTE),
                           ("pending", "0", "0", "second@elsewhere.example")],
             "trusted: both recipients in the envelope")
        data = H.queue_data(srv, env["data"])
        rp, rec, rest = H.split_trace(data, local=False)
        t.ok(rec and re.match(H.received_re("webmail.example.test", T.TRUSTED, "ESMTP"),
                                rec), "trusted: Received with ESMTP", repr(rec))
        t.eq(rest, b"Subject: from webmail\n\nhi\n", "trusted: queued body")
    t.ok(re.search(r"result=ok relay=trusted", srv.log()), "log: relay=trusted")


def main():
    t = T.Tap()
    tarpit = H.Tarpit()
    srv = T.Server(services=("smtp", "submission", "pop3"),
                   config={"relay.smarthost": tarpit.smarthost()})
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        customer_without_pop(t, srv)
        submission_without_auth(t, srv)
        outsider(t, srv)
        trusted(t, srv)
        customer_after_pop(t, srv)
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "session ran to the end", "%s: %s" % (type(e).__name__, e))
    code = srv.finish(t)
    tarpit.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
