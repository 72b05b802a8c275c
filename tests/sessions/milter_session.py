#!/usr/bin/env python3
"""milter_session.py: the mail filters in the SMTP session (ispmaild.conf(5)
milters; docs/PROTOCOL.md, "Filters in the SMTP session"), a real daemon
and the scripted python3-milter filter of tests/interop/milter_filter.py:

- continue: the message is stored byte for byte; the filter saw the
  message's own header fields (not our Received:), the body, the i macro;
- reject at connect (554, and 554 to later commands but QUIT), HELO, MAIL,
  RCPT (that recipient only: the other one gets the message), EOM (550
  5.7.1, nothing on disk); tempfail at connect (421, closed) and at EOM
  (451 4.7.1); discard (250, nothing on disk); a reply code with an
  enhanced code (the filter's text);
- add, insert, change and delete header: the exact header stored;
- a filter that hangs: timeout, then on_error tempfail (451) or accept
  (stored); one that closes mid-message; one not running (421 at connect
  with tempfail, stored with accept);
- two filters in order: the first's edits and the second's both, the
  second not asked after the first rejects;
- one connection per session across two messages;
- a message past the 1 MiB memory part: the whole body to the filter, the
  edit in the header, S= and W= right;
- the log line for each refusal and the "milter" reject counter;
- a service the filter does not list is not filtered.

python3-milter installs for Debian's /usr/bin/python3: the filter runs
under that one, whatever python3 runs this test."""

import os
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import harden_helpers as X  # noqa: E402
import milter_wire as MW  # noqa: E402

A = "a@example.test"
B = "b@example.test"          # the scripted filter's RCPT action meets only this one
SENDER = "sender@example.net"
PW = "secret"
MESSAGE = (b"From: Sender <sender@example.net>\n"
           b"To: a@example.test, b@example.test\n"
           b"Subject: milter test\n"
           b"X-Folded: first\n\tsecond\n"
           b"Subject: second subject\n"
           b"\n"
           b"Hello.\n"
           b".A line with a leading dot.\n"
           b"The end.\n")
HEADER, _, BODY = MESSAGE.partition(b"\n\n")
HEADER += b"\n"


class Tmp:
    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="milter-session-")
        os.chmod(self.path, 0o755)

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


class Filters:
    """The filter processes of a part, stopped at its end."""

    def __init__(self, fx, tmp):
        self.tmp = tmp
        self.all = []
        fx.add(self)

    def start(self, action, name="f", unix=False):
        f = MW.Filter(self.tmp, action, unix=unix, name=name)
        self.all.append(f)
        return f

    def close(self):
        for f in self.all:
            f.stop()


def milters_conf(entries):
    """( { name = ...; address = ...; ... }, ... ) as libconfig text."""
    out = []
    for e in entries:
        out.append("{ " + " ".join("%s = %s;" % (k, T._conf_value(v))
                                   for k, v in e.items()) + " }")
    return T.Raw("( " + ", ".join(out) + " )")


def server(fx, entries, services=("smtp",)):
    srv = fx.server(services=services, config={"milters": milters_conf(entries)})
    srv.add_user(A, PW)
    srv.add_user(B, PW)
    srv.start(timeout=30 * T.PATIENCE)
    return srv


def one(name, f, **kw):
    e = {"name": name, "address": f if isinstance(f, str) else f.address}
    e.update(kw)
    return e


def stored(srv, address):
    """The messages in address's Maildir, without Return-Path and Received:."""
    out = []
    for _, data in H.maildir_messages(srv, address):
        _, received, rest = H.split_trace(data)
        out.append(rest)
    return out


def send(srv, rcpts=(A,), message=MESSAGE, esmtp=True, timeout=None):
    """One session, one message: [greeting, EHLO, MAIL, RCPT..., DATA...]."""
    s = H.Smtp(srv, "smtp", T.OUTSIDER, timeout=timeout)
    out = [s.greeting[-1]]
    try:
        out.append(s.hello(esmtp)[-1])
        out += s.transaction(SENDER, list(rcpts), H.to_wire(message))
    except T.ProtocolError as e:
        out.append("closed: %s" % e)
    s.quit()
    return out


def log_has(srv, pattern):
    return re.search(pattern, srv.log()) is not None


def wait_log(srv, pattern, timeout=None):
    return H.wait_for(lambda: log_has(srv, pattern), timeout or 10 * T.PATIENCE)


def part_continue(t, fx):
    tmp = fx.add(Tmp()).path
    fl = Filters(fx, tmp)
    f = fl.start("continue")
    srv = server(fx, [one("scripted", f)])
    r = send(srv, (A, B))
    t.ok(r[-1].startswith("250 2.0.0 Ok: queued as "), "continue: 250", r)
    t.eq(stored(srv, A), [MESSAGE], "continue: the message stored byte for byte")
    f.wait_for("eom")
    recs = f.records()
    heads = [(x["name"], x["value"]) for x in recs if x["stage"] == "header"]
    t.eq(heads, [("From", "Sender <sender@example.net>"),
                 ("To", "a@example.test, b@example.test"),
                 ("Subject", "milter test"), ("X-Folded", "first\n\tsecond"),
                 ("Subject", "second subject")],
         "continue: the filter saw the message's own header fields, not our Received:")
    body = [x["body"] for x in recs if x["stage"] == "eom_body"]
    t.eq(body, [BODY.replace(b"\n", b"\r\n").decode()],
         "continue: the filter saw the body (CRLF)")
    conn = [x for x in recs if x["stage"] == "connect"]
    t.ok(conn and conn[0]["macros"].get("{client_addr}") == T.OUTSIDER
         and conn[0]["macros"].get("{daemon_name}") == "smtp"
         and conn[0]["macros"].get("j") == T.HOSTNAME,
         "continue: connect macros (client_addr, daemon_name, j)", conn)
    eom = [x for x in recs if x["stage"] == "eom"]
    t.ok(eom and eom[0]["macros"].get("i") and
         eom[0]["macros"]["i"] in H.maildir_messages(srv, A)[0][0],
         "continue: the i macro is the message's id", (eom, H.maildir_messages(srv, A)))
    rcpts = [x["to"] for x in recs if x["stage"] == "rcpt"]
    t.eq(rcpts, ["<%s>" % A, "<%s>" % B], "continue: both recipients to the filter")


def part_stage_rejects(t, fx):
    tmp = fx.add(Tmp()).path
    fl = Filters(fx, tmp)
    fs = {st: fl.start("reject:" + st, name=st) for st in
          ("connect", "helo", "mail", "rcpt", "data", "eom")}
    results, logs, counters, nstored = {}, {}, {}, {}
    for st in ("connect", "helo", "mail", "rcpt", "data", "eom"):
        srv = server(fx, [one(st, fs[st])])
        s = H.Smtp(srv, "smtp", T.OUTSIDER)
        got = [s.greeting[-1]]
        try:
            got.append(s.hello(True)[-1])
            got.append(s.cmd("MAIL FROM:<%s>" % SENDER))
            got.append(s.cmd("RCPT TO:<%s>" % A))
            got.append(s.cmd("RCPT TO:<%s>" % B))
            go, final = s.data(H.to_wire(MESSAGE))
            got += [go, final]
        except T.ProtocolError as e:
            got.append("closed: %s" % e)
        got.append(s.quit())
        results[st] = got
        wait_log(srv, r"disconnect messages=")
        logs[st] = srv.log()
        counters[st] = X.status_counters(srv).get(("rejected", "milter"), 0)
        nstored[st] = (len(stored(srv, A)), len(stored(srv, B)))
        srv.stop()
    host = T.HOSTNAME
    t.eq(results["connect"][:3], ["554 %s Service unavailable" % host,
                                  "554 %s Service unavailable" % host,
                                  "554 %s Service unavailable" % host],
         "reject at connect: 554 greeting, then 554 to EHLO and MAIL")
    t.eq(results["connect"][-1], "221 Bye", "reject at connect: QUIT still 221")
    t.eq(results["helo"][1], "550 Command rejected by filter",
         "reject at HELO: 550 (no enhanced code before EHLO succeeded)")
    t.eq(results["helo"][2], "503 Error: send HELO/EHLO first",
         "reject at HELO: the client is not greeted")
    t.eq(results["mail"][2], "550 5.7.1 Command rejected by filter", "reject at MAIL: 550 5.7.1")
    t.eq(results["rcpt"][3:5], ["250 2.1.5 Ok", "550 5.7.1 Recipient rejected by filter"],
         "reject at RCPT: that recipient only")
    t.ok(results["rcpt"][6].startswith("250 2.0.0 Ok: queued as "),
         "reject at RCPT: the message goes to the other one", results["rcpt"])
    t.eq(results["data"][5], "550 5.7.1 Message rejected by filter", "reject at DATA: 550 5.7.1")
    t.eq(results["eom"][6], "550 5.7.1 Message rejected by filter", "reject at EOM: 550 5.7.1")
    t.eq(nstored, {"connect": (0, 0), "helo": (0, 0), "mail": (0, 0), "rcpt": (1, 0),
                   "data": (0, 0), "eom": (0, 0)},
         "only the RCPT case stored a message, for a@ only")
    for st in ("connect", "helo", "mail", "rcpt", "data", "eom"):
        t.ok(re.search(r"milter name=%s stage=%s result=reject code=5\d\d reason=" % (st, st),
                       logs[st]), "reject at %s: logged" % st)
    t.eq(counters, {"connect": 6, "helo": 1, "mail": 1, "rcpt": 1, "data": 1, "eom": 1},
         "ispmailctl status: rejected milter counts each refusal")


def part_verdicts(t, fx):
    tmp = fx.add(Tmp()).path
    fl = Filters(fx, tmp)
    cases = [("tempfail:eom", "451 4.7.1 Service temporarily unavailable, try again later"),
             ("replycode:eom", "554 5.7.1 Rejected by the scripted filter, 100%"),
             ("tempfail:rcpt", None), ("discard:eom", "250"), ("discard:rcpt", "250"),
             ("tempfail:connect", "421"), ("quarantine", "quarantine")]
    for action, want in cases:
        f = fl.start(action, name=action.replace(":", "-"))
        srv = server(fx, [one("v", f)])
        r = send(srv, (A, B) if action.endswith("rcpt") else (A,))
        if action == "tempfail:connect":
            t.eq(r[0], "421 %s Service unavailable, try again later" % T.HOSTNAME,
                 "tempfail at connect: 421 greeting")
            t.ok(r[1].startswith("closed"), "tempfail at connect: the session ends", r)
        elif action == "tempfail:rcpt":
            t.eq(r[4], "451 4.7.1 Service temporarily unavailable, try again later",
                 "tempfail at RCPT: 451 4.7.1 for that recipient")
            t.ok(r[-1].startswith("250 "), "tempfail at RCPT: the other one gets it", r)
        elif want == "quarantine":
            t.ok(r[-1].startswith("250 "), "quarantine: 250", r)
            t.eq(stored(srv, A), [], "quarantine: held in the queue (milter_quarantine.py)")
            t.ok(log_has(srv, r"milter stage=eom result=quarantine "
                         r"reason=\"held by the scripted filter\" id=\S+ action=hold"),
                 "quarantine: logged",
                 [x for x in srv.log().splitlines() if "milter" in x])
        elif want == "250":
            t.ok(r[-1].startswith("250 2.0.0 Ok: queued as "), "%s: 250" % action, r)
            t.eq(stored(srv, A) + stored(srv, B), [], "%s: nothing stored" % action)
            t.ok(wait_log(srv, r"message id=\S+ from=<%s> result=discard" % re.escape(SENDER)),
                 "%s: the discard logged" % action)
        else:
            t.eq(r[-1], want, "%s: %s" % (action, want))
            t.eq(stored(srv, A), [], "%s: nothing stored" % action)
        if action.startswith("tempfail"):
            t.ok(log_has(srv, r"milter name=v stage=\w+ result=tempfail code=4\d\d"),
                 "%s: logged" % action)
        srv.stop()


def hdr_case(t, fx, tmp, fl, action, want_header):
    f = fl.start(action, name=action)
    srv = server(fx, [one("h", f)])
    r = send(srv)
    t.ok(r[-1].startswith("250 "), "%s: 250" % action, r)
    t.eq(stored(srv, A), [want_header + b"\n" + BODY], "%s: the header stored" % action)
    srv.stop()


def part_headers(t, fx):
    tmp = fx.add(Tmp()).path
    fl = Filters(fx, tmp)
    lines = HEADER.decode().splitlines(True)
    # From, To, Subject, X-Folded (2 lines), Subject
    hdr_case(t, fx, tmp, fl, "addheader",
             HEADER + b"X-Milter: added\n\tsecond line\n")
    hdr_case(t, fx, tmp, fl, "insheader",
             ("X-Top: inserted\n" + lines[0] + "X-Third: inserted\n" + "".join(lines[1:]))
             .encode())
    hdr_case(t, fx, tmp, fl, "chgheader",
             HEADER.replace(b"Subject: second subject", b"Subject: changed second"))
    hdr_case(t, fx, tmp, fl, "delheader", HEADER.replace(b"X-Folded: first\n\tsecond\n", b""))


def part_large(t, fx):
    """Past the 1 MiB memory part the body is spooled: the filter still
    sees all of it, the edit lands in the header, the sizes in the file
    name are the stored file's."""
    tmp = fx.add(Tmp()).path
    fl = Filters(fx, tmp)
    f = fl.start("addheader", name="large")
    srv = server(fx, [one("large", f)])
    line = b"0123456789" * 7 + b"\n"
    body = line * (1600 * 1024 // len(line))
    r = send(srv, message=HEADER + b"\n" + body, timeout=120)
    t.ok(r[-1].startswith("250 "), "1.6 MB message: 250", r[-3:])
    msgs = H.maildir_messages(srv, A)
    t.eq(len(msgs), 1, "1.6 MB message: stored once")
    if msgs:
        name, data = msgs[0]
        _, _, rest = H.split_trace(data)
        t.ok(rest == HEADER + b"X-Milter: added\n\tsecond line\n\n" + body,
             "1.6 MB message: the added header, then the body byte for byte")
        size = re.search(r",S=(\d+)", name)
        wsize = re.search(r",W=(\d+)", name)
        t.ok(size and int(size.group(1)) == len(data),
             "1.6 MB message: S= is the file's size", (name, len(data)))
        t.ok(wsize and int(wsize.group(1)) == len(data) + data.count(b"\n"),
             "1.6 MB message: W= is its CRLF size", (name, len(data) + data.count(b"\n")))
    f.wait_for("eom_body")
    seen = [x["body"] for x in f.records() if x["stage"] == "eom_body"]
    t.ok(seen and seen[0].encode("latin-1") == body.replace(b"\n", b"\r\n"),
         "1.6 MB message: the filter saw the whole body",
         [len(x) for x in seen])


def part_failures(t, fx):
    tmp = fx.add(Tmp()).path
    fl = Filters(fx, tmp)
    # A filter that hangs at EOM: timeout, then on_error.
    for on_error in ("tempfail", "accept"):
        f = fl.start("hang:eom", name="hang-" + on_error)
        srv = server(fx, [one("hang", f, timeout=2, on_error=on_error)])
        r = send(srv, timeout=60)
        if on_error == "tempfail":
            t.eq(r[-1], "451 4.7.1 Service temporarily unavailable, try again later",
                 "hang, on_error tempfail: 451 4.7.1")
            t.eq(stored(srv, A), [], "hang, on_error tempfail: nothing stored")
        else:
            t.ok(r[-1].startswith("250 "), "hang, on_error accept: 250", r)
            t.eq(stored(srv, A), [MESSAGE], "hang, on_error accept: stored")
        t.ok(log_has(srv, r"milter=hang error="), "hang: the filter's error logged once")
        srv.stop()
    # A filter that goes away mid-message (at the body).
    f = fl.start("close:body", name="close")
    srv = server(fx, [one("close", f)])
    r = send(srv)
    t.eq(r[-1], "451 4.7.1 Service temporarily unavailable, try again later",
         "a filter that closes mid-message: 451 4.7.1")
    t.eq(stored(srv, A), [], "a filter that closes mid-message: nothing stored")
    srv.stop()
    # A filter that is not running.
    dead = "127.0.0.1:%d" % T.free_port()
    srv = server(fx, [one("dead", dead)])
    r = send(srv)
    t.eq(r[0], "421 %s Service unavailable, try again later" % T.HOSTNAME,
         "a filter not running, on_error tempfail: 421 at connect")
    srv.stop()
    srv = server(fx, [one("dead", dead, on_error="accept")])
    r = send(srv)
    t.ok(r[-1].startswith("250 "), "a filter not running, on_error accept: 250", r)
    t.eq(stored(srv, A), [MESSAGE], "a filter not running, on_error accept: stored")
    srv.stop()


def part_chain(t, fx):
    tmp = fx.add(Tmp()).path
    fl = Filters(fx, tmp)
    f1 = fl.start("addheader", name="first")
    f2 = fl.start("chgheader", name="second", unix=True)
    os.chmod(f2.path, 0o777)
    srv = server(fx, [one("first", f1), one("second", f2)])
    r = send(srv)
    t.ok(r[-1].startswith("250 "), "two filters: 250", r)
    t.eq(stored(srv, A), [HEADER.replace(b"Subject: second subject", b"Subject: changed second")
                          + b"X-Milter: added\n\tsecond line\n\n" + BODY],
         "two filters (TCP and unix socket): both edits, in order")
    srv.stop()
    f3 = fl.start("reject:mail", name="third")
    f4 = fl.start("continue", name="fourth")
    srv = server(fx, [one("third", f3), one("fourth", f4)])
    r = send(srv)
    t.eq(r[2], "550 5.7.1 Command rejected by filter", "two filters: the first rejects MAIL")
    f3.wait_for("mail")
    time.sleep(0.5)
    t.ok("mail" not in f4.stages(), "two filters: the second is not asked after the reject",
         f4.stages())
    srv.stop()


def part_session(t, fx):
    import base64
    tmp = fx.add(Tmp()).path
    fl = Filters(fx, tmp)
    f = fl.start("continue")
    srv = server(fx, [one("one", f, services=["smtp"])], services=("smtp", "submission"))
    # Submission is not in the filter's services.
    s = H.Smtp(srv, "submission", T.CUSTOMER)
    s.hello(True)
    auth = s.cmd("AUTH PLAIN " + base64.b64encode(("\0%s\0%s" % (A, PW)).encode()).decode())
    got = s.transaction(A, [B], H.to_wire(MESSAGE))
    s.quit()
    t.ok(auth.startswith("235") and got[-1].startswith("250 "),
         "a service not listed: 250", [auth] + got)
    time.sleep(0.5)
    t.eq([x for x in f.stages() if x == "connect"], [],
         "a service not listed: the filter never connected")
    # Port 25: one connection for two messages.
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    got = s.transaction(SENDER, [A], H.to_wire(MESSAGE))
    got += [s.cmd("RSET")]
    got += [s.cmd("MAIL FROM:<%s>" % SENDER), s.cmd("RSET")]
    got += s.transaction(SENDER, [A], H.to_wire(MESSAGE))
    s.quit()
    t.ok(got[3].startswith("250 ") and got[-1].startswith("250 "),
         "two messages in one session, 250 each", got)
    f.wait_for("close")
    st = f.stages()
    t.eq(st.count("negotiate"), 1, "one connection for the session (one negotiation)")
    t.eq(st.count("connect"), 1, "one connect for the session")
    t.eq(st.count("eom"), 2, "two messages through it")
    t.ok("abort" in st, "RSET in a transaction sent an abort", st)
    t.eq(len(stored(srv, A)), 2, "two messages stored")


def main():
    if not os.access(MW.SYSTEM_PYTHON, os.X_OK):
        T.skip_all("no %s" % MW.SYSTEM_PYTHON)
    import subprocess
    if subprocess.run([MW.SYSTEM_PYTHON, "-c", "import Milter"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        T.skip_all("python3-milter not installed (apt-get install python3-milter)")
    fx = X.Frame()
    fx.part(part_continue)
    fx.part(part_stage_rejects)
    fx.part(part_verdicts)
    fx.part(part_headers)
    fx.part(part_large)
    fx.part(part_failures)
    fx.part(part_chain)
    fx.part(part_session)
    return fx.done()


if __name__ == "__main__":
    sys.exit(main())
