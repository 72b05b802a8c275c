#!/usr/bin/env python3
"""queue_reply_text.py: a remote server's reply text is data, never line
structure (docs/SECURITY.md "Remote reply text"). A reply with bare CRs,
a NUL and an escape sequence must not reach the log, the queue or a DSN
as such: control bytes are written as \\xHH, and the DSN carries no bare
CR or LF on the wire (the 2023 SMTP smuggling form <CR>.<CR> included).

Through relay.smarthost, a sink that answers
- RCPT bad@remote.test with "550 5.1.1 bad<CR>.<CR>MAIL FROM:<x>": the
  message from a remote sender bounces, and the DSN is queued to that
  sender; the sink first defers the DSN (451), so its queued file can be
  read, then takes it after `ispmailctl queue flush`;
- RCPT wait@remote.test with "451 4.3.0 later<CR>.<CR>RSET<NUL><ESC>[31m":
  the message stays queued; its envelope is read."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402

FAR = "zed@far.test"
BAD = "550 5.1.1 bad\r.\rMAIL FROM:<x>"
BAD_CLEAN = r"550 5.1.1 bad\x0d.\x0dMAIL FROM:<x>"
WAIT = "451 4.3.0 later\r.\rRSET\x00\x1b[31m"
WAIT_CLEAN = r"451 4.3.0 later\x0d.\x0dRSET\x00\x1b[31m"


def crlf_only(data):
    """Every CR is followed by LF and every LF preceded by CR."""
    return re.search(rb"\r(?!\n)|(?<!\r)\n", data) is None


def main(t, fx):
    sink = fx.add(Sink(rcpt={"bad@remote.test": [BAD], "wait@remote.test": [WAIT],
                             FAR: ["451 4.3.0 not yet"]}))
    srv = fx.server({"relay.smarthost": sink.smarthost(), "queue.retry_min": 300,
                     "queue.retry_max": 600})
    srv.start()

    qa = O.relay(srv, FAR, ["bad@remote.test"],
                 H.to_wire(O.message("smuggle", b"body\n", sender=FAR, to="bad@remote.test")))
    qb = O.relay(srv, O.SENDER, ["wait@remote.test"],
                 H.to_wire(O.message("wait", b"body\n", to="wait@remote.test")))

    t.ok(O.wait_log(srv, r"delivery id=%s to=<bad@remote\.test> result=bounced" % re.escape(qa)),
         "the 550 with bare CRs bounces the message")
    t.ok(O.wait_log(srv, r"delivery id=%s to=<wait@remote\.test> result=deferred" % re.escape(qb)),
         "the 451 with control bytes defers the other")
    t.ok(O.wait_log(srv, r"delivery id=\S+ to=<%s> result=deferred" % re.escape(FAR)),
         "the DSN to the remote sender is queued and deferred once")
    log = srv.log()
    t.ok(all(re.fullmatch(r"[\x20-\x7e]*", l) for l in log.split("\n")),
         "no control byte in any log line",
         repr([l for l in log.split("\n") if not re.fullmatch(r"[\x20-\x7e]*", l)][:3]))
    t.ok(O.log_lines(srv, r"delivery id=%s to=<bad@remote\.test> result=bounced tries=1 reply=\"%s\""
                     % (re.escape(qa), re.escape(BAD_CLEAN))),
         "the log shows the 550 with its CRs as \\x0d")

    # The envelope is saved after the log line: wait for it.
    O.wait_envelope(srv, qb, lambda st: st.get("wait@remote.test", ("", 0))[1] >= 1, 10)
    rows = O.envelope_rcpts(srv, qb)
    t.eq([r["reply"] for r in rows], [WAIT_CLEAN],
         "the deferred message's envelope holds the reply escaped")
    with open(os.path.join(srv.state_dir, "queue", "env", qb), "rb") as f:
        env = f.read()
    t.ok(not re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", env),
         "no control byte but LF in the envelope file", repr(env))

    # The DSN, queued: its data file has LF line ends only, no CR at all.
    dsn_files = []
    for name in H.queue_files(srv)["new"]:
        if name.startswith(qb + "."):
            continue
        with open(os.path.join(srv.state_dir, "queue", "new", name), "rb") as f:
            dsn_files.append(f.read())
    t.eq(len(dsn_files), 1, "the DSN is the other file in queue/new")
    if dsn_files:
        d = dsn_files[0]
        t.ok(b"\r" not in d and b"\0" not in d, "no CR or NUL in the queued DSN",
             repr(d[:2000]))
        t.ok(BAD_CLEAN.encode() in d, "the queued DSN quotes the reply escaped")

    # Delivered: CRLF only on the wire, no <CR>.<CR>, no command smuggled.
    # The flush skips a message whose worker is still running: wait for
    # the workers to end (the DSN's envelope is saved before that).
    H.wait_for(lambda: not O.worker_pids(srv), O.scaled(10), 0.05)
    rc, out, err = srv.ctl_run("queue", "flush")
    t.ok(rc == 0, "ispmailctl queue flush", out + err)
    got = H.wait_for(lambda: [m for m in sink.delivered() if m.sender == ""],
                     O.scaled(15), 0.1) or []
    t.eq(len(got), 1, "the sink received the DSN")
    if got:
        m = got[0]
        t.ok(crlf_only(m.raw), "the DSN on the wire has no bare CR or LF",
             repr(m.raw[:3000]))
        t.ok(b"\r.\r" not in m.raw and b"\n.\r" not in m.raw.replace(b"\r\n.\r\n", b""),
             "no <CR>.<CR> or early end of data in the DSN's bytes")
        dsn = O.Dsn(m.data.replace(b"\r\n", b"\n"))
        r = dsn.recipient("bad@remote.test") or {}
        t.eq(r.get("Diagnostic-Code"), "smtp; " + BAD_CLEAN,
             "the Diagnostic-Code quotes the reply escaped")
        t.ok(("<bad@remote.test>: " + BAD_CLEAN) in dsn.text, "so does the human part",
             dsn.text)
    mails = [c for conn in sink.connections for c, _ in conn.commands
             if c.upper().startswith("MAIL FROM:<X>")]
    t.eq(mails, [], "no MAIL FROM:<x> ever reached the sink")


if __name__ == "__main__":
    sys.exit(O.run(main))
