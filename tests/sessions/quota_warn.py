#!/usr/bin/env python3
"""quota_warn.py: the 80 % and 95 % quota warnings (SPEC 12, docs/ADMIN.md,
"My mailbox is full"). A delivery that takes a mailbox with a quota to or
past 80 % (95 %) puts one warning in its Maildir, written there directly:
Return-Path <>, From the postmaster of the mailbox's domain, the Subject
"Your mailbox is 80% full" (95%), the usage and the quota in words and
what to do. At most one warning per level per day: the memory is the
Maildir's .quotawarn ("YYYY-MM-DD LEVEL"), so a second crossing the same
day gives none, while an older day in it (written by the test, instead of
waiting for midnight) gives one again. The warning counts in maildirsize
and is never refused. A mailbox without a quota gets no warning, no
maildirsize and no .quotawarn."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

USER = "warn@example.test"
FREE = "free@example.test"
QUOTA = 1024 * 1024         # "1M" in the users file
FROM = "From: Postmaster <postmaster@example.test>"


def body(n):
    """A message of about n bytes (72-byte lines)."""
    lines = max(1, n // 72)
    return b"Subject: filler\r\n\r\n" + (b"y" * 70 + b"\r\n") * lines


def send(srv, rcpt, n):
    c = H.Smtp(srv, "smtp", T.TRUSTED)
    c.hello()
    out = c.transaction("sender@remote.example", [rcpt], body(n))
    c.quit()
    return out


def usage(srv, address):
    """Bytes summed from maildirsize, or None when there is none."""
    path = os.path.join(srv.maildir(address), "maildirsize")
    if not os.path.exists(path):
        return None
    b = 0
    for line in open(path).read().splitlines()[1:]:
        b += int(line.split()[0])
    return b


def stored(srv, address):
    total = 0
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(srv.maildir(address), sub)):
            total += int(re.search(r",S=(\d+)", name).group(1))
    return total


def warnings(srv, address):
    """[(name, bytes)] of the warnings in the Maildir's new/."""
    return [(n, d) for n, d in H.maildir_messages(srv, address)
            if re.search(rb"^Subject: Your mailbox is \d+% full$", d, re.M)]


def header(data, name):
    m = re.search(rb"^" + name.encode() + rb": (.*)$", data.split(b"\n\n")[0], re.M)
    return m.group(1).decode() if m else None


def memory(srv, address):
    try:
        return open(os.path.join(srv.maildir(address), ".quotawarn")).read()
    except FileNotFoundError:
        return None


def main():
    tap = T.Tap()
    srv = T.Server(services=("smtp",))
    today = time.strftime("%Y-%m-%d")
    try:
        srv.add_user(USER, "Pw-warn-1")
        srv.add_user(FREE, "Pw-free-1")
        rc, out, err = srv.ctl_run("user", "quota", USER, "1M")
        tap.eq(rc, 0, "ispmailctl user quota sets 1M (%s)" % err.strip())
        srv.start()

        def step(n, want, what):
            # The new ones by name, not by position: names do not sort by time.
            before = set(name for name, _ in warnings(srv, USER))
            r = send(srv, USER, n)
            tap.ok(r[-1].startswith("250"), what + ": the message is taken", r)
            got = [w for w in warnings(srv, USER) if w[0] not in before]
            tap.eq(len(got), 1 if want else 0,
                   "%s (%d%% used): %s" % (what, 100 * (usage(srv, USER) or 0) // QUOTA,
                                           "one warning" if want else "no warning"))
            return got

        step(600000, None, "to about 57 %")
        w80 = step(290000, 80, "past 80 %")
        step(20000, None, "further, still under 95 %")
        w95 = step(120000, 95, "past 95 %")
        step(3000, None, "further, still over 95 %, the same day")

        for got, level in ((w80, 80), (w95, 95)):
            if not got:
                continue
            d = got[0][1]
            tap.ok(d.startswith(b"Return-Path: <>\n"), "%d %%: Return-Path: <> on top" % level,
                   d[:80])
            tap.eq(header(d, "Subject"), "Your mailbox is %d%% full" % level,
                   "%d %%: the Subject" % level)
            tap.ok(FROM.encode() + b"\n" in d, "%d %%: %s" % (level, FROM))
            tap.eq(header(d, "To"), "<%s>" % USER, "%d %%: To: the user" % level)
            tap.eq(header(d, "Auto-Submitted"), "auto-generated",
                   "%d %%: Auto-Submitted: auto-generated" % level)
            text = d.split(b"\n\n", 1)[1].decode()
            tap.ok(re.search(r"holds [\d.]+ KB of the 1 MB", text),
                   "%d %%: usage and quota in words" % level, text)
            tap.ok("delete" in text and "bigger mailbox" in text,
                   "%d %%: says what to do (delete mail, ask for a bigger mailbox)" % level)
            tap.ok(re.search(r"quota user=%s level=%d result=warned" % (re.escape(USER), level),
                             srv.log()), "%d %%: logged" % level)
        tap.eq(usage(srv, USER), stored(srv, USER),
               "maildirsize counts every stored file, the warnings too")
        tap.eq(memory(srv, USER), "%s 95\n" % today, ".quotawarn: today, level 95")

        # Down below 80 % (the first, largest message deleted, maildirsize counted
        # again), then past 80 % once more the same day: no warning.
        md = srv.maildir(USER)
        first = max(srv.files(USER)["new"],
                    key=lambda n: int(re.search(r",S=(\d+)", n).group(1)))
        os.unlink(os.path.join(md, "new", first))
        os.unlink(os.path.join(md, "maildirsize"))
        step(450000, None, "past 80 % a second time the same day")

        # The next day (an older date in the memory): warned again, at the
        # level the mailbox is at now.
        with open(os.path.join(md, ".quotawarn"), "w") as f:
            f.write("2000-01-01 95\n")
        got = step(3000, 80, "another day, over 80 %")
        if got:
            tap.eq(header(got[0][1], "Subject"), "Your mailbox is 80% full",
                   "another day: the 80 % warning")
        tap.eq(memory(srv, USER), "%s 80\n" % today, ".quotawarn: today, level 80")

        # Over quota: RCPT refuses, and no warning comes from a refusal.
        while usage(srv, USER) < QUOTA:
            send(srv, USER, 80000)
        n = len(warnings(srv, USER))
        r = send(srv, USER, 300)
        tap.eq(r[1], "452 4.2.2 Mailbox full", "at the quota: 452 at RCPT")
        tap.eq(len(warnings(srv, USER)), n, "and no warning for a refused message")

        for i in range(3):
            send(srv, FREE, 600000)
        tap.eq(len(H.maildir_messages(srv, FREE)), 3, "a mailbox without a quota takes 1.8 MB")
        tap.eq(warnings(srv, FREE), [], "and gets no warning")
        tap.eq(usage(srv, FREE), None, "no maildirsize")
        tap.eq(memory(srv, FREE), None, "no .quotawarn")
    finally:
        srv.stop()
        tap.ok(not srv.wrapper_errors(), "no sanitizer report or crashed child in the log")
        srv.cleanup()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
