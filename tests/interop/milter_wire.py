#!/usr/bin/env python3
"""milter_wire.py: filter/milter.c against a real libmilter filter.

tests/interop/milter_filter.py is a filter written with Debian's
python3-milter (libmilter underneath), told by its command line what to
do; tests/tools/milter_client drives filter/milter.c through one SMTP
session of two messages (connect, HELO, MAIL, two RCPTs, DATA, header,
body of more than 65535 bytes, end of message) and prints each verdict,
the header edits and the edited header. For each action (accept, reject,
tempfail, discard and a reply code at each stage, quarantine, add, insert,
change and delete header, progress, skip, no-reply steps, a SETSYMLIST,
a sender change we never offered, a filter that hangs or goes away), this
asserts what the client printed and what the filter logged that it saw:
the negotiation, the macros of each stage, the connect data, the body in
CRLF form in chunks of at most 65535 bytes, one connection for the whole
session. Over TCP on a free loopback port and over a unix socket; a
filter that is not running gives the error verdict at once.

python3-milter installs for Debian's /usr/bin/python3: the filter runs
under that one, whatever python3 runs this test."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import ispmaild_test as T  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
FILTER = os.path.join(HERE, "milter_filter.py")
BODY = 70000          # more than one 65535-byte chunk
OFFERED_ACTIONS = 0x131       # ADDHDRS CHGHDRS QUARANTINE SETSYMLIST
OFFERED_STEPS = 0x000FF7FF    # every NO* and NR* step, and SKIP

HEADER = ("From: Sender <sender@example.net>\n"
          "To: a@example.test, b@example.test\n"
          "Subject: milter test\n"
          "X-Folded: first\n\tsecond\n"
          "Subject: second subject\n")


def expected_body(k):
    """The body the client sends for message k, as the filter must see it."""
    b = "Hello.\r\nA line with CRLF above, LF here.\n"
    b += "".join("\n" if i % 80 == 79 else chr(ord("a") + i % 26) for i in range(BODY))
    b += "message %d ends\n" % k
    return b.replace("\r\n", "\n").replace("\n", "\r\n")


def client_tool():
    path = os.path.join(T.top_builddir(), "tests", "tools", "milter_client")
    if not os.access(path, os.X_OK):
        raise T.HarnessError("%s not built (make check builds it)" % path)
    return path


class Filter:
    """One scripted filter process on a TCP port or a unix socket."""

    def __init__(self, tmp, action, unix=False, name="f"):
        self.log = os.path.join(tmp, "%s-%s.log" % (name, action.replace(":", "-")))
        if os.path.exists(self.log):
            os.unlink(self.log)
        if unix:
            self.path = os.path.join(tmp, "%s.sock" % name)
            self.address = "unix:" + self.path
            spec = "unix:" + self.path
        else:
            self.port = T.free_port()
            self.address = "127.0.0.1:%d" % self.port
            spec = "inet:%d@127.0.0.1" % self.port
        self.unix = unix
        self.err = open(os.path.join(tmp, "%s.err" % name), "ab")
        self.proc = subprocess.Popen([SYSTEM_PYTHON, FILTER, spec, action, self.log],
                                     stdin=subprocess.DEVNULL, stdout=self.err,
                                     stderr=self.err)
        self._wait()

    def _wait(self):
        """Until the filter listens (a bare connection it drops is harmless)."""
        deadline = time.time() + 10 * T.PATIENCE
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise T.HarnessError("milter_filter.py exited %d" % self.proc.returncode)
            try:
                if self.unix:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(self.path)
                else:
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
                s.close()
                return
            except OSError:
                time.sleep(0.05)
        raise T.HarnessError("milter_filter.py did not listen")

    def records(self):
        try:
            with open(self.log) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []

    def stages(self):
        return [r["stage"] for r in self.records()]

    def wait_for(self, stage):
        """Until the filter logged stage (its callbacks run after the
        client is gone), or a generous deadline."""
        deadline = time.time() + 10 * T.PATIENCE
        while time.time() < deadline and stage not in self.stages():
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        self.err.close()


# Runs of milter_client that exited badly or printed a sanitizer report.
BAD_RUNS = []
# Its log lines (stderr), all runs.
LOG_LINES = []


def run(addresses, *opts, timeout=60):
    """milter_client's output lines, and how long it took (s)."""
    t0 = time.time()
    p = subprocess.run([client_tool(), *opts, *addresses], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    out = p.stdout.decode("utf-8", "replace").splitlines()
    err = p.stderr.decode("utf-8", "replace")
    LOG_LINES.extend(err.splitlines())
    if p.returncode != 0 or "Sanitizer" in err or "runtime error" in err:
        BAD_RUNS.append((opts, addresses, p.returncode, err[-2000:]))
    return out, time.time() - t0


def verdicts(out):
    """The verdict lines, without the edits and headers."""
    return [line for line in out if line.split(" ", 1)[0] in
            ("open", "helo", "mail", "rcpt", "data", "headers", "body", "eom")]


ALL_CONTINUE = ["open continue", "helo continue"] + [
    "mail continue", "rcpt continue", "rcpt continue", "data continue",
    "headers continue", "body continue", "eom continue"] * 2


def one(t, tmp, action, *opts, unix=False, wait=None):
    f = Filter(tmp, action, unix=unix)
    try:
        out, took = run([f.address], "-b", str(BODY), *opts)
        if wait:
            f.wait_for(wait)
    finally:
        f.stop()
    return out, f, took


def check_continue(t, tmp, unix):
    how = "unix socket" if unix else "TCP"
    out, f, _ = one(t, tmp, "continue", unix=unix, wait="close")
    t.eq(verdicts(out), ALL_CONTINUE, "%s: every stage continues, two messages" % how)
    recs = f.records()
    stages = [r["stage"] for r in recs]
    t.eq(stages.count("negotiate"), 1, "%s: one connection, one negotiation for the "
         "session" % how)
    neg = [r for r in recs if r["stage"] == "negotiate"][0]
    t.eq(neg["offered"][0], OFFERED_ACTIONS, "%s: we offer ADDHDRS, CHGHDRS, QUARANTINE, "
         "SETSYMLIST" % how)
    t.eq(neg["offered"][1], OFFERED_STEPS, "%s: we offer every NO/NR step and SKIP" % how)
    t.eq(stages, ["start", "negotiate", "connect", "helo"] +
         ["mail", "rcpt", "rcpt", "data"] + ["header"] * 5 +
         ["eoh", "body", "body", "eom_body", "eom"] +
         ["mail", "rcpt", "rcpt", "data"] + ["header"] * 5 +
         ["eoh", "body", "body", "eom_body", "eom", "close"],
         "%s: the filter saw every stage, in order" % how)
    conn = recs[2]
    t.eq((conn["hostname"], conn["hostaddr"]), ("client.example.net", ["192.0.2.7", 40000]),
         "%s: connect: client name, address and port" % how)
    t.eq(conn["macros"], {"j": "mx.example.test", "_": "client.example.net [192.0.2.7]",
                          "{client_addr}": "192.0.2.7",
                          "{client_name}": "client.example.net",
                          "{daemon_name}": "smtp"}, "%s: connect macros" % how)
    t.eq(recs[3]["helo"], "client.example.net", "%s: HELO name" % how)
    mails = [r for r in recs if r["stage"] == "mail"]
    t.eq((mails[0]["sender"], mails[0]["args"]),
         ("<sender@example.net>", ["SIZE=1000", "BODY=8BITMIME"]),
         "%s: MAIL with its ESMTP arguments" % how)
    t.eq((mails[0]["macros"].get("{mail_addr}"), mails[0]["macros"].get("{auth_authen}"),
          mails[0]["macros"].get("i")), ("sender@example.net", "alice", None),
         "%s: MAIL macros: {mail_addr}, {auth_authen}, no i yet" % how)
    t.eq(mails[1]["macros"].get("{auth_authen}"), None,
         "%s: no {auth_authen} for an unauthenticated message" % how)
    rcpts = [r for r in recs if r["stage"] == "rcpt"]
    t.eq([(r["to"], r["macros"].get("{rcpt_addr}")) for r in rcpts[:2]],
         [("<a@example.test>", "a@example.test"), ("<b@example.test>", "b@example.test")],
         "%s: RCPT and {rcpt_addr}" % how)
    eoms = [r for r in recs if r["stage"] == "eom"]
    datas = [r for r in recs if r["stage"] == "data"]
    t.eq([r["macros"].get("i") for r in datas + eoms], ["QID1", "QID2", "QID1", "QID2"],
         "%s: i at DATA and at end of message, per message" % how)
    hdrs = [(r["name"], r["value"]) for r in recs if r["stage"] == "header"][:5]
    t.eq(hdrs, [("From", "Sender <sender@example.net>"),
                ("To", "a@example.test, b@example.test"),
                ("Subject", "milter test"), ("X-Folded", "first\n\tsecond"),
                ("Subject", "second subject")],
         "%s: headers, one leading space dropped, folded lines joined by LF" % how)
    bodies = [r for r in recs if r["stage"] == "body"]
    t.ok(all(r["size"] <= 65535 for r in bodies) and bodies[0]["size"] == 65535,
         "%s: body chunks of at most 65535 bytes" % how, repr([r["size"] for r in bodies]))
    eb = [r for r in recs if r["stage"] == "eom_body"]
    t.ok(eb[0]["body"] == expected_body(1) and eb[1]["body"] == expected_body(2),
         "%s: the body arrives whole, LF made CRLF" % how)


def check_stage_verdicts(t, tmp):
    # What the client prints for a filter deciding at each stage.
    R = "reject filter=f1"
    cases = [
        ("reject:connect", ["open " + R]),
        ("reject:helo", ["open continue", "helo " + R]),
        ("reject:mail", ["open continue", "helo continue", "mail " + R, "mail " + R]),
        ("reject:rcpt", ["open continue", "helo continue"] +
         ["mail continue", "rcpt continue", "rcpt " + R, "data continue",
          "headers continue", "body continue", "eom continue"] * 2),
        ("reject:data", ["open continue", "helo continue"] +
         ["mail continue", "rcpt continue", "rcpt continue", "data " + R] * 2),
        ("reject:header", ["open continue", "helo continue"] +
         ["mail continue", "rcpt continue", "rcpt continue", "data continue",
          "headers " + R] * 2),
        ("reject:eoh", ["open continue", "helo continue"] +
         ["mail continue", "rcpt continue", "rcpt continue", "data continue",
          "headers " + R] * 2),
        ("reject:body", ["open continue", "helo continue"] +
         ["mail continue", "rcpt continue", "rcpt continue", "data continue",
          "headers continue", "body " + R, "eom " + R] * 2),
        ("reject:eom", ["open continue", "helo continue"] +
         ["mail continue", "rcpt continue", "rcpt continue", "data continue",
          "headers continue", "body continue", "eom " + R] * 2),
        ("tempfail:connect", ["open tempfail filter=f1"]),
        ("tempfail:rcpt", ["open continue", "helo continue", "mail continue",
                           "rcpt continue", "rcpt tempfail filter=f1"] * 1 +
         ["mail continue", "rcpt continue", "rcpt tempfail filter=f1"]),
        ("tempfail:eom", ["open continue", "helo continue"] +
         ["mail continue", "rcpt continue", "rcpt continue", "data continue",
          "headers continue", "body continue", "eom tempfail filter=f1"] * 2),
        ("discard:data", ["open continue", "helo continue"] +
         ["mail continue", "rcpt continue", "rcpt continue", "data discard filter=f1"] * 2),
        ("discard:eom", ["open continue", "helo continue"] +
         ["mail continue", "rcpt continue", "rcpt continue", "data continue",
          "headers continue", "body continue", "eom discard filter=f1"] * 2),
    ]
    for action, want in cases:
        out, f, _ = one(t, tmp, action)
        t.eq(verdicts(out), want, "%s: the verdicts" % action)
        stages = f.stages()
        if action.endswith(":data") or action.endswith(":header") or \
                action.endswith(":body"):
            # (libmilter does not call the abort callback for a message
            # its filter already decided.)
            t.ok("eom_body" not in stages and stages.count("mail") == 2,
                 "%s: no end of message sent, the next message starts afresh" % action,
                 repr(stages))
        if action in ("reject:connect", "tempfail:connect"):
            t.ok("helo" not in stages, "%s: nothing sent after the refusal" % action,
                 repr(stages))
    # Accept: this filter is done with the message (or the session).
    out, f, _ = one(t, tmp, "accept:connect")
    t.eq(verdicts(out), ALL_CONTINUE, "accept:connect: the session goes on")
    t.ok(f.stages()[-1] == "connect" or f.stages()[-2:] == ["connect", "close"],
         "accept:connect: the filter hears nothing more", repr(f.stages()))
    out, f, _ = one(t, tmp, "accept:mail")
    t.eq(verdicts(out), ALL_CONTINUE, "accept:mail: both messages go on")
    stages = f.stages()
    t.ok(stages.count("mail") == 2 and "rcpt" not in stages and "eom" not in stages,
         "accept:mail: the filter sees each MAIL, nothing more of the message",
         repr(stages))


def check_replies(t, tmp):
    text = "reply=554 5.7.1 Rejected by the scripted filter, 100%"
    out, _, _ = one(t, tmp, "replycode:mail")
    t.eq(verdicts(out)[2], "mail reply filter=f1 " + text,
         "replycode at MAIL: the filter's text, '%%' made '%'")
    out, _, _ = one(t, tmp, "replycode:eom")
    t.eq(verdicts(out)[8], "eom reply filter=f1 " + text, "replycode at end of message")
    out, _, _ = one(t, tmp, "quarantine")
    t.eq(verdicts(out)[8], "eom continue quarantine=held by the scripted filter",
         "quarantine: the message goes on, held, with the reason")
    out, f, _ = one(t, tmp, "progress")
    t.eq(verdicts(out), ALL_CONTINUE, "progress replies: the client waits on")


def header_of(out):
    """The first edited header the client printed."""
    i = out.index("message:")
    j = next(k for k in range(i + 1, len(out)) if out[k].startswith("body_bytes"))
    return "\n".join(out[i + 1:j]) + "\n"


def check_edits(t, tmp):
    cases = [
        ("addheader", ["edit add 0 X-Milter added\\n\\tsecond line"],
         HEADER + "X-Milter: added\n\tsecond line\n"),
        ("insheader", ["edit insert 0 X-Top inserted", "edit insert 2 X-Third inserted"],
         "X-Top: inserted\nFrom: Sender <sender@example.net>\nX-Third: inserted\n" +
         HEADER.split("\n", 1)[1]),
        ("chgheader", ["edit change 2 Subject changed second"],
         HEADER.replace("Subject: second subject", "Subject: changed second")),
        ("delheader", ["edit change 1 X-Folded "],
         HEADER.replace("X-Folded: first\n\tsecond\n", "")),
    ]
    for action, edits, header in cases:
        out, _, _ = one(t, tmp, action)
        t.eq([line for line in out if line.startswith("edit ")][:len(edits)], edits,
             "%s: the edits as the filter sent them" % action)
        t.eq(header_of(out), header, "%s: the header after the edits" % action)
    out, f, _ = one(t, tmp, "chgfrom")
    refused = [r for r in f.records() if r["stage"] == "chgfrom_refused"]
    t.ok(len(refused) == 2 and verdicts(out) == ALL_CONTINUE,
         "a sender change is negotiated away: libmilter refuses it to the filter",
         repr(refused))


def check_steps(t, tmp):
    out, f, _ = one(t, tmp, "skip")
    bodies = [r for r in f.records() if r["stage"] == "body"]
    t.ok(verdicts(out) == ALL_CONTINUE and len(bodies) == 2,
         "SKIP at the first body chunk: no more chunks of that message",
         repr([r["size"] for r in bodies]))
    out, f, _ = one(t, tmp, "noreply")
    recs = f.records()
    neg = [r for r in recs if r["stage"] == "negotiate"][0]
    stages = [r["stage"] for r in recs]
    t.ok(neg["protocol"] & 0x80 and neg["protocol"] & 0x200 and neg["protocol"] & 0x40,
         "the filter asked for NR_HDR, NODATA, NOEOH", hex(neg["protocol"]))
    t.ok(verdicts(out) == ALL_CONTINUE and stages.count("header") == 10 and
         "data" not in stages and "eoh" not in stages,
         "no DATA, no EOH sent; headers sent without waiting for replies", repr(stages))
    out, f, _ = one(t, tmp, "symlist")
    recs = f.records()
    conn = [r for r in recs if r["stage"] == "connect"][0]
    mail = [r for r in recs if r["stage"] == "mail"][0]
    t.eq(conn["macros"], {"j": "mx.example.test"}, "SETSYMLIST: only j at connect")
    t.ok("{auth_authen}" not in mail["macros"] and
         mail["macros"].get("{mail_addr}") == "sender@example.net",
         "SETSYMLIST: only {mail_addr} at MAIL", repr(mail["macros"]))


def check_failures(t, tmp):
    out, _, took = one(t, tmp, "hang:eom", "-t", "2")
    v = verdicts(out)
    t.ok(len(v) == 10 and v[8].startswith("eom tempfail filter=f1 why=timeout"),
         "a filter that hangs: tempfail (on_error) after the timeout", repr(v))
    t.ok(v[9].startswith("mail tempfail filter=f1 why=timeout"),
         "... and the session's next message too (the filter is gone)", repr(v))
    t.ok(took < 60, "... and the client did not wait for the filter (%.1f s)" % took)
    out, _, _ = one(t, tmp, "hang:eom", "-t", "2", "-a")
    t.eq(verdicts(out), ALL_CONTINUE, "a filter that hangs, on_error accept: the message "
         "goes on, the filter is left out")
    out, _, _ = one(t, tmp, "hang:connect", "-t", "2")
    t.ok(verdicts(out)[0].startswith("open tempfail filter=f1 why=timeout"),
         "a filter that hangs at connect: tempfail", repr(out[:1]))
    out, _, _ = one(t, tmp, "close:body")
    v = verdicts(out)
    t.ok(len(v) >= 8 and v[7].startswith("body tempfail filter=f1 why=connection closed"),
         "a filter that goes away mid-message: tempfail", repr(v))
    out, _, _ = one(t, tmp, "close:rcpt", "-a")
    t.eq(verdicts(out), ALL_CONTINUE, "a filter that goes away, on_error accept: continue")
    # Nobody listening: the error at once, TCP and unix.
    port = T.free_port()
    out, took = run(["127.0.0.1:%d" % port], "-t", "30")
    t.ok(out[:1] and out[0].startswith("open tempfail filter=f1 why=127.0.0.1:%d: connect:"
                                       % port) and out[-1] == "end",
         "no filter on the port: tempfail", repr(out))
    t.ok(took < 10 * T.PATIENCE, "... at once, not after the 30 s timeout (%.2f s)" % took)
    out, _ = run(["unix:" + os.path.join(tmp, "nobody.sock")], "-t", "30")
    t.ok(out[:1] and out[0].startswith("open tempfail filter=f1 why=unix:"),
         "no filter on the unix socket: tempfail", repr(out[:1]))
    out, _ = run(["127.0.0.1:%d" % port], "-a")
    t.eq(verdicts(out), ALL_CONTINUE, "no filter, on_error accept: the session goes on")


def check_chain(t, tmp):
    f1 = Filter(tmp, "addheader", name="c1")
    f2 = Filter(tmp, "chgheader", unix=True, name="c2")
    try:
        out, _ = run([f1.address, f2.address])
    finally:
        f1.stop()
        f2.stop()
    t.eq([line for line in out if line.startswith("edit ")][:2],
         ["edit add 0 X-Milter added\\n\\tsecond line", "edit change 2 Subject changed second"],
         "two filters: the edits of both, in filter order")
    f1 = Filter(tmp, "reject:data", name="c3")
    f2 = Filter(tmp, "continue", unix=True, name="c4")
    try:
        out, _ = run([f1.address, f2.address])
    finally:
        f1.stop()
        f2.stop()
    t.eq(verdicts(out)[5], "data reject filter=f1", "two filters: the first one's reject")
    t.ok("data" not in f2.stages() and "mail" in f2.stages(),
         "two filters: the second is not asked once the first rejected", repr(f2.stages()))


def main():
    t = T.Tap()
    if not os.access(SYSTEM_PYTHON, os.X_OK) or subprocess.run(
            [SYSTEM_PYTHON, "-c", "import Milter"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode != 0:
        raise T.SkipTest("python3-milter not installed (apt-get install python3-milter)")
    tmp = tempfile.mkdtemp(prefix="ispmaild-milter-")
    try:
        check_continue(t, tmp, unix=False)
        check_continue(t, tmp, unix=True)
        check_stage_verdicts(t, tmp)
        check_replies(t, tmp)
        check_edits(t, tmp)
        check_steps(t, tmp)
        check_failures(t, tmp)
        check_chain(t, tmp)
        t.ok(not BAD_RUNS, "milter_client exited 0 every time, no sanitizer report",
             repr(BAD_RUNS))
        t.ok(any("milter=f1 error=timeout waiting for a reply" in line
                 for line in LOG_LINES), "the timeout is logged, key=value",
             "\n".join(LOG_LINES[-20:]))
    finally:
        if os.environ.get("KEEP_TMP"):
            t.diag("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except T.SkipTest as e:
        T.skip_all(str(e))
    except T.HarnessError as e:
        T.bail_out(str(e))
