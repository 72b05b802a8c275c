#!/usr/bin/env python3
"""quota_alias.py: mail for a full mailbox reached through an alias, a
catch-all or the postmaster fallback (SPEC 12, docs/ADMIN.md, "My
mailbox is full"). The user's own address still gets 452 4.2.2 at RCPT;
an alias gets 250, the full mailbox's copy waits in the queue (other
destinations of the alias get theirs at once) and the runner retries it
with "452 4.2.2 Mailbox full"; once the user has made room and the queue
is flushed, it is delivered. After queue.max_age it comes back to the
sender as a DSN with Status 5.2.2 and the words "Mailbox full"."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402

FULL = "full@example.test"
ROOM = "room@example.test"
ALIASES = """team@example.test: full@example.test, room@example.test
solo@example.test: full@example.test
@example.org: full@example.test
"""


def subjects(srv, address):
    out = []
    for _, d in H.maildir_messages(srv, address):
        m = re.search(rb"^Subject: (.*)$", d, re.M)
        out.append(m.group(1).decode() if m else "")
    return out


def fill(srv):
    """Put the full mailbox over its 4 KB (a file dropped in, maildirsize
    counted again at the next look)."""
    srv.deliver(FULL, b"Subject: filler\n\n" + b"z" * 5000 + b"\n")
    try:
        os.unlink(os.path.join(srv.maildir(FULL), "maildirsize"))
    except FileNotFoundError:
        pass


def queued_for_full(srv):
    ids, rows = O.queue_list(srv)
    return [i for i in ids if FULL in rows[i]["rcpts"]]


def main(t, fx):
    srv = fx.server({"postmaster": FULL})
    srv.add_user(FULL, O.PASSWORD)
    srv.add_user(ROOM, O.PASSWORD)
    rc, out, err = srv.ctl_run("user", "quota", FULL, "4K")
    t.eq(rc, 0, "ispmailctl user quota sets 4K (%s)" % err.strip())
    with open(srv.aliases_file, "w") as f:
        f.write(ALIASES)
    fill(srv)
    srv.start()

    c = H.Smtp(srv, "smtp", T.TRUSTED)
    c.hello()
    r = c.transaction(O.SENDER, [FULL], b"Subject: direct\r\n\r\nx\r\n")
    c.quit()
    t.eq(r[1], "452 4.2.2 Mailbox full", "the user's own address: 452 4.2.2 at RCPT")

    q_team = O.relay(srv, O.SENDER, ["team@example.test"],
                     H.to_wire(O.message("to the team", to="team@example.test")))
    t.ok(True, "an alias with a full mailbox among its destinations: 250 (queued as %s)"
         % q_team)
    t.eq(subjects(srv, ROOM), ["to the team"], "the alias's other mailbox has its copy at once")
    t.eq(subjects(srv, FULL), ["filler"], "the full mailbox does not")
    t.ok(O.log_lines(srv, r"quota user=full@example\.test result=queued"),
         "logged: quota user=full@example.test result=queued")
    q_solo = O.relay(srv, O.SENDER, ["solo@example.test"],
                     H.to_wire(O.message("to solo", to="solo@example.test")))
    q_other = O.relay(srv, O.SENDER, ["anyone@example.org", "postmaster@example.test"],
                      H.to_wire(O.message("catch-all and postmaster", to="anyone@example.org")))
    ids = queued_for_full(srv)
    t.eq(sorted(ids), sorted([q_team, q_solo, q_other]),
         "ispmailctl queue list: the three copies for the full mailbox are queued")
    _, rows = O.queue_list(srv)
    t.eq(list(rows.get(q_other, {}).get("rcpts", {}).keys()), [FULL],
         "the catch-all and the postmaster fallback: one copy for the one mailbox")

    # The runner tries them and finds the mailbox still full.
    t.ok(O.wait_log(srv, r"delivery id=%s to=<full@example\.test> result=deferred .*"
                    r"reason=quota" % re.escape(q_solo), 15),
         "the runner defers the copy: result=deferred reason=quota")
    reps = [r["reply"] for r in O.envelope_rcpts(srv, q_solo)]
    t.ok(reps and reps[0].startswith("452 4.2.2 Mailbox full"),
         "its last reply: 452 4.2.2 Mailbox full", reps)
    t.eq(subjects(srv, FULL), ["filler"], "nothing was delivered to the full mailbox")
    t.eq(O.bounces(srv), [], "nothing bounced")

    # The user makes room (POP3 DELE, QUIT); a flush delivers the copies.
    c = srv.connect("pop3", T.CUSTOMER)
    c.expect(r"\+OK")
    for line in ("USER " + FULL, "PASS " + O.PASSWORD, "DELE 1", "QUIT"):
        c.command(line, r"\+OK")
    c.close()
    rc, out, err = srv.ctl_run("queue", "flush")
    t.eq(rc, 0, "ispmailctl queue flush")
    t.ok(O.wait_queue_empty(srv), "the queue empties")
    t.eq(sorted(subjects(srv, FULL)), sorted(["to the team", "to solo",
                                              "catch-all and postmaster"]),
         "with room again, every queued copy is in the mailbox, once")
    t.eq(subjects(srv, ROOM), ["to the team"], "the other mailbox still has its one copy")
    t.eq(O.bounces(srv), [], "no bounce")

    # Full again, and queue.max_age 3 s: the copy bounces with 5.2.2.
    fill(srv)
    srv.set("queue.max_age", 3)
    srv.reload()
    t.ok(O.wait_log(srv, r"info: queue runner started", 15, count=2), "reloaded: a new runner")
    q_late = O.relay(srv, O.SENDER, ["solo@example.test"],
                     H.to_wire(O.message("never room", to="solo@example.test")))
    t.ok(O.wait_gone(srv, q_late, 20), "after queue.max_age the copy leaves the queue")
    dsns = [d for _, d in O.wait_bounces(srv, 1, timeout=10)
            if b"X-Ispmaild-Queue-ID: " + q_late.encode() in d]
    t.eq(len(dsns), 1, "one DSN in the sender's Maildir")
    if dsns:
        O.check_dsn(t, dsns[0], [FULL], "expired for a full mailbox",
                    status={FULL: "5.2.2"}, reply={FULL: "Mailbox full"},
                    subject="never room")
    t.ok("never room" not in subjects(srv, FULL), "the full mailbox never got it",
         subjects(srv, FULL))

if __name__ == "__main__":
    sys.exit(O.run(main))
