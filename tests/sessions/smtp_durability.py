#!/usr/bin/env python3
"""smtp_durability.py: what a session leaves on disk when it dies
(docs/PROTOCOL.md): a client that disconnects in the middle of DATA, and a
session child killed with SIGKILL in the middle of DATA, leave nothing in any
new/ and nothing in the queue (a stray file in tmp/ is allowed after SIGKILL,
never a partial message where a reader looks). A message that got 250 is in
every recipient's Maildir and in the queue at the moment the 250 arrives, and
stays there when the session is killed right after it. The daemon goes on
serving after each death."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

USERS = ["demo@example.test", "two@example.test", "three@example.org"]
REMOTE = "far@remote.example"
QUEUED = r"250 2\.0\.0 Ok: queued as (\S+)$"
BIG = b"".join(b"line %06d of a message that is cut short\r\n" % i for i in range(3000))


def snapshot(srv):
    """Every file a reader could see: each Maildir's new/ and cur/, and the
    queue's env/ and new/."""
    out = {}
    for u in USERS:
        f = srv.files(u)
        out[u] = sorted(f["new"] + f["cur"])
    q = H.queue_files(srv)
    out["queue"] = (q["env"], q["new"])
    return out


def tmp_files(srv):
    """Files in the Maildirs' and the queue's tmp/, less an envelope the
    queue runner is saving again at this moment (ID.env beside env/ID:
    its retry of a queued message, not a session's leftover)."""
    q = H.queue_files(srv)
    return [x for u in USERS for x in srv.files(u)["tmp"]] + \
        [x for x in q["tmp"] if not (x.endswith(".env") and x[:-4] in q["env"])]


def start_data(srv, source, rcpts):
    s = H.Smtp(srv, "smtp", source)
    s.hello(True)
    s.cmd("MAIL FROM:<sender@remote.example>")
    for r in rcpts:
        s.cmd("RCPT TO:<%s>" % r)
    go = s.cmd("DATA")
    return s, go


def log_has(srv, pattern):
    return re.search(pattern, srv.log()) is not None


def disconnect_in_data(t, srv):
    for source, rcpts, what in ((T.OUTSIDER, USERS, "local recipients"),
                                (T.TRUSTED, USERS + [REMOTE], "local and remote")):
        before = snapshot(srv)
        s, go = start_data(srv, source, rcpts)
        t.eq(go, "354 End data with <CR><LF>.<CR><LF>", "disconnect, %s: 354" % what)
        port = s.local_port()
        s.send(b"Subject: cut\r\n\r\n" + BIG)
        s.close()
        t.ok(H.session_ended(srv, port), "disconnect, %s: the session ends" % what)
        t.eq(snapshot(srv), before, "disconnect, %s: nothing new in new/ or the queue" % what)
        t.eq(tmp_files(srv), [], "disconnect, %s: tmp/ cleaned up too" % what)
    t.ok(log_has(srv, r"data result=abort reason=disconnect"), "log: data result=abort")


def kill_in_data(t, srv):
    for source, rcpts, what in ((T.OUTSIDER, USERS, "local recipients"),
                                (T.TRUSTED, [REMOTE], "remote recipient"),
                                (T.TRUSTED, USERS + [REMOTE], "local and remote")):
        before = snapshot(srv)
        s, go = start_data(srv, source, rcpts)
        t.eq(go, "354 End data with <CR><LF>.<CR><LF>", "SIGKILL, %s: 354" % what)
        pid = H.session_pid(srv, s.local_port())
        t.ok(pid, "SIGKILL, %s: found the session's pid in the log" % what)
        s.send(b"Subject: killed\r\n\r\n" + BIG)
        # Let the child write some of it, then kill it mid-message.
        H.wait_for(lambda: tmp_files(srv), 3)
        time.sleep(0.2)
        if pid:
            t.ok(H.kill_session(pid), "SIGKILL, %s: the child is dead" % what)
        s.close()
        t.eq(snapshot(srv), before, "SIGKILL, %s: no partial message in new/ or the queue" % what)
    t.ok(srv.running(), "the master survives killed sessions")
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    r = s.transaction("sender@remote.example", [USERS[0]], b"Subject: after\r\n\r\nok\r\n")
    t.ok(re.match(QUEUED, r[-1]), "a new session works after the kills", repr(r))
    s.quit()


def accepted_is_everywhere(t, srv):
    before = snapshot(srv)
    s, go = start_data(srv, T.TRUSTED, USERS + [REMOTE])
    pid = H.session_pid(srv, s.local_port())
    body = b"Subject: durable\r\n\r\n" + BIG[:BIG.index(b"\r\n", 20000) + 2]
    s.send(body + b".\r\n")
    final = s.last()
    # Look at the disk before anything else can happen: kill the session.
    if pid:
        H.kill_session(pid)
    m = re.match(QUEUED, final)
    t.ok(m, "four recipients: 250", final)
    after = snapshot(srv)
    for u in USERS:
        new = sorted(set(after[u]) - set(before[u]))
        t.eq(len(new), 1, "250 means it is in %s's Maildir" % u)
        if new:
            data = open(os.path.join(srv.maildir(u), "new", new[0]), "rb").read()
            t.ok(data.endswith(body.replace(b"\r\n", b"\n")), "%s: the whole message" % u)
    env = sorted(set(after["queue"][0]) - set(before["queue"][0]))
    dat = sorted(set(after["queue"][1]) - set(before["queue"][1]))
    t.ok(len(env) == 1 and len(dat) == 1, "250 means envelope and data are in the queue",
         repr(after["queue"]))
    if m and env:
        t.eq(env[0], m.group(1), "the 250 names the queued id")
        e = H.envelope(srv, env[0])
        t.eq([r[3] for r in e["rcpt"]], [REMOTE], "the envelope names the remote recipient")
        t.eq(dat, [e.get("data")], "and its data file")

    # A client that goes away right after the terminator: all or nothing.
    before = snapshot(srv)
    tmp_before = tmp_files(srv)
    s, go = start_data(srv, T.OUTSIDER, USERS)
    port = s.local_port()
    s.send(b"Subject: no wait\r\n\r\nbye\r\n.\r\n")
    s.close()
    # The session's last log line, not its process's exit: the process
    # lives on for the next client (limits.max_use).
    H.session_ended(srv, port, 10)
    after = snapshot(srv)
    got = [len(set(after[u]) - set(before[u])) for u in USERS]
    t.ok(got in ([1, 1, 1], [0, 0, 0]), "client gone after the terminator: all or nothing",
         repr(got))
    t.eq(tmp_files(srv), tmp_before, "... and leaves nothing in tmp/")


def main():
    t = T.Tap()
    tarpit = H.Tarpit()
    srv = T.Server(services=("smtp",), config={"relay.smarthost": tarpit.smarthost()})
    try:
        for u in USERS:
            srv.add_user(u, "pw")
        srv.start()
        disconnect_in_data(t, srv)
        kill_in_data(t, srv)
        accepted_is_everywhere(t, srv)
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
