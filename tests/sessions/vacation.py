#!/usr/bin/env python3
"""vacation.py: vacation replies (SPEC 12, RFC 3834; docs/ADMIN.md,
"Vacation replies") with a real daemon and a sink SMTP server as the
smarthost. `ispmailctl user vacation ADDRESS on` takes the message from
stdin into the Maildir's .vacation.msg and sets vacation=yes; mail from an
outside sender then gets one reply per sender per window, from the null
sender (MAIL FROM:<> at the sink), with Auto-Submitted: auto-replied and
In-Reply-To/References naming the original, while the original is stored
as usual. No reply to the null sender, to Auto-Submitted, to Precedence
bulk, list or junk, to List-Id, to a user only in Bcc; an alias in To:
that delivered to the user counts. `off` stops the replies and keeps the
message; `on` again starts a new window for everyone."""

import email.header
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402

BOB = "bob@example.test"
AGAIN = "Wieder weg: Abwesend bis März, Grüße aus Köln — zurück am Montag, dem 7. März 2027"
VACATION = "Subject: Away until Monday\n\nI am away and read no mail until Monday.\n"


def mail(srv, sender, rcpts, headers, body=b"Hello Bob.\r\n", source=T.OUTSIDER):
    """One transaction (from an outside client by default); the final reply."""
    c = H.Smtp(srv, "smtp", source)
    try:
        c.hello()
        out = c.transaction(sender, rcpts, headers.encode() + b"\r\n" + body)
    finally:
        c.quit()
    return out[-1]


def headers(sender, to, subject, extra=""):
    mid = "<%s@remote.test>" % re.sub(r"\W", ".", subject)
    return ("From: <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n%s"
            % (sender, to, subject, mid, extra))


def vacation_lines(srv, since):
    return re.findall(r"vacation user=\S+ (?:to=(\S+) )?result=(\w+)(?: reason=(\S+))?(?: id=\S+)?",
                      srv.log()[since:])


def ctl_bytes(srv, data, *args):
    """ispmailctl with these bytes on stdin (ctl_run takes text only)."""
    srv.write_config()
    p = subprocess.run([srv.ctl, "-c", srv.conf_file] + list(args), input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stderr.decode("utf-8", "replace")


# dkimpy (python3-dkim, in quickstart's TEST_DEPS) installs for Debian's python3.
DKIMPY = "/usr/bin/python3"
VERIFY = ("import sys, dkim\n"
          "rec = sys.argv[1].encode()\n"
          "msg = sys.stdin.buffer.read()\n"
          "print(dkim.verify(msg, dnsfunc=lambda name, timeout=5: rec))\n")


def dkim_verify(data, record):
    """dkimpy's verdict on a message (CRLF) against the TXT record value."""
    p = subprocess.run([DKIMPY, "-c", VERIFY, record], input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    return p.stdout.decode("utf-8", "replace").strip()


def field(data, name):
    m = re.search(rb"(?mi)^" + name.encode() + rb": (.*)\r$", data.split(b"\r\n\r\n")[0])
    return m.group(1).decode() if m else None


def main(t, fx):
    sink = fx.add(Sink())
    srv = fx.server({"relay.smarthost": sink.smarthost()}, services=("smtp",),
                    users=(BOB, "alice@example.test"))
    with open(srv.aliases_file, "w") as f:
        f.write("info@example.test: bob@example.test\n")
    srv.set("dkim.keys_dir", os.path.join(srv.dir, "dkim"))
    rc, out, err = srv.ctl_run("dkim", "keygen", "example.test", "--selector", "vac1")
    t.eq(rc, 0, "a DKIM key for example.test (%s)" % err.strip())
    record = "".join(re.findall(r'"([^"]*)"', out))
    msg = os.path.join(srv.maildir(BOB), ".vacation.msg")
    for text, why, what in (("Note: I am away\n\nBack Monday.\n", "only Subject:",
                             "a header other than Subject:"),
                            ("Subject: away\n\n", "no body", "no body"),
                            ("Subject: away\n\nBack \xff\n", "not UTF-8", "not UTF-8"),
                            ("Subject: away\n\n" + "x" * 999 + "\n", "longer than 998",
                             "a line of 999 bytes")):
        rc, err = ctl_bytes(srv, text.encode("latin-1"), "user", "vacation", BOB, "on")
        t.ok(rc != 0 and why in err and not os.path.exists(msg),
             "on refuses %s, nothing written" % what, err)
    rc, out, err = srv.ctl_run("user", "vacation", BOB, "on", stdin="I am away.\r\n")
    t.ok(rc == 0 and open(msg).read() == "\nI am away.\n",
         "text without a header line is all body (an empty header part in front)", err)
    rc, out, err = srv.ctl_run("user", "vacation", BOB, "on", stdin=VACATION)
    t.eq(rc, 0, "ispmailctl user vacation ADDRESS on (%s%s)" % (out, err))
    t.ok(os.path.exists(msg) and open(msg).read() == VACATION,
         ".vacation.msg holds the message from stdin")
    if os.path.exists(msg):
        st, md = os.stat(msg), os.stat(srv.maildir(BOB))
        t.eq((st.st_uid, st.st_gid), (md.st_uid, md.st_gid), "owned like the Maildir")
    t.ok(re.search(r"(?m)^bob@example\.test:[^:]*:(.*,)?vacation=yes", open(srv.users_file).read()),
         "the users file says vacation=yes")
    rc, out, err = srv.ctl_run("user", "vacation", "nobody@example.test", "on", stdin=VACATION)
    t.ok(rc != 0 and "no such user" in err, "on for an unknown user fails", err)
    rc, out, err = srv.ctl_run("user", "vacation", BOB, "on", stdin="")
    t.ok(rc != 0, "on with nothing on stdin fails", err)
    rc, out, err = srv.ctl_run("user", "vacation", BOB, "maybe")
    t.ok(rc != 0, "a word other than on or off fails", err)
    srv.start()

    # 1. A person's mail to Bob: stored, and one reply from the null sender.
    mark = len(srv.log())
    r = mail(srv, "carol@remote.test", [BOB], headers("carol@remote.test", "Bob <" + BOB + ">",
                                                       "Lunch on Friday"))
    t.ok(r.startswith("250"), "the message is taken", r)
    t.eq(len(H.maildir_messages(srv, BOB)), 1, "the original is in Bob's Maildir")
    got = sink.wait_messages(1)
    t.eq(len(got), 1, "one reply reaches the sink")
    if got:
        m = got[0]
        t.eq(m.sender, "", "the reply's envelope sender is null: MAIL FROM:<>")
        t.eq(m.rcpts, ["carol@remote.test"], "to the original's envelope sender")
        t.eq(field(m.data, "Auto-Submitted"), "auto-replied", "Auto-Submitted: auto-replied")
        t.eq(field(m.data, "In-Reply-To"), "<Lunch.on.Friday@remote.test>",
             "In-Reply-To: the original's Message-ID")
        t.eq(field(m.data, "References"), "<Lunch.on.Friday@remote.test>",
             "References: the original's Message-ID")
        t.eq(field(m.data, "Subject"), "Away until Monday", "Subject: from .vacation.msg")
        t.eq(field(m.data, "From"), "<" + BOB + ">", "From: the user")
        t.eq(field(m.data, "To"), "<carol@remote.test>", "To: the sender")
        t.ok(field(m.data, "Message-ID") and field(m.data, "Date"), "a Date and Message-ID")
        t.ok(m.data.endswith(b"\r\n\r\nI am away and read no mail until Monday.\r\n"),
             "the body from .vacation.msg", m.data[-200:])
        t.ok(m.data.startswith(b"DKIM-Signature: ") and b"d=example.test;" in m.data and
             b"s=vac1;" in m.data, "DKIM-signed for the user's domain, on top", m.data[:300])
        t.eq(dkim_verify(m.data, record), "True", "and dkimpy verifies the signature")
        t.eq(dkim_verify(m.data.replace(b"until Monday", b"until Sunday"), record), "False",
             "(a changed body fails: the check is real)")
    t.eq(vacation_lines(srv, mark), [("<carol@remote.test>", "sent", "")], "logged: sent")

    # 2. Carol again within the window: no second reply.
    mark = len(srv.log())
    r = mail(srv, "Carol@Remote.Test", [BOB], headers("carol@remote.test", BOB, "Second"))
    t.ok(r.startswith("250"), "her second message is taken", r)
    t.eq(vacation_lines(srv, mark), [("<Carol@Remote.Test>", "skipped", "replied-before")],
         "no second reply to the same sender within the window")
    rc, out, err = srv.ctl_run("relay", "expire")
    t.eq(rc, 0, "ispmailctl relay expire, which also expires the vacation memory (%s)" % err)
    mark = len(srv.log())
    mail(srv, "carol@remote.test", [BOB], headers("carol@remote.test", BOB, "Still second"))
    t.eq([x[2] for x in vacation_lines(srv, mark)], ["replied-before"],
         "a reply within the window is still remembered after it")

    # 3. Mail that must get no reply; each logged with its reason.
    cases = [
        ("", BOB, "", "null-sender", "the null sender"),
        ("erin@remote.test", BOB, "Auto-Submitted: auto-generated\r\n", "auto-submitted",
         "Auto-Submitted: auto-generated"),
        ("f1@remote.test", BOB, "Precedence: bulk\r\n", "precedence", "Precedence: bulk"),
        ("f2@remote.test", BOB, "Precedence: list\r\n", "precedence", "Precedence: list"),
        ("f3@remote.test", BOB, "Precedence: junk\r\n", "precedence", "Precedence: junk"),
        ("g@remote.test", BOB, "List-Id: <users.lists.remote.test>\r\n", "list", "List-Id"),
        ("h@remote.test", "undisclosed-recipients:;", "", "not-addressed",
         "Bob only in Bcc"),
        ("MAILER-DAEMON@remote.test", BOB, "", "system-sender", "MAILER-DAEMON"),
    ]
    for sender, to, extra, reason, what in cases:
        mark = len(srv.log())
        r = mail(srv, sender, [BOB], headers(sender or "x@remote.test", to, what, extra))
        t.ok(r.startswith("250"), what + ": the message is taken", r)
        lines = vacation_lines(srv, mark)
        t.ok(len(lines) == 1 and lines[0][1:] == ("skipped", reason),
             what + ": no reply, reason=" + reason, lines)

    # 4. An alias in To: that delivered to Bob counts.
    mark = len(srv.log())
    r = mail(srv, "dave@remote.test", ["info@example.test"],
             headers("dave@remote.test", "Info <INFO@example.test>", "Question"))
    t.ok(r.startswith("250"), "mail to the alias is taken", r)
    t.eq([x[1] for x in vacation_lines(srv, mark)], ["sent"], "a reply to mail for the alias")
    got = sink.wait_messages(2)
    t.eq(sorted(m.rcpts[0] for m in got), ["carol@remote.test", "dave@remote.test"],
         "the sink has exactly the two replies")
    t.ok(O.wait_queue_empty(srv), "the queue is empty afterwards")
    t.eq(len(H.maildir_messages(srv, BOB)), 4 + len(cases),
         "every original is in Bob's Maildir")

    # 5. A local sender: the reply goes straight into her Maildir.
    mark = len(srv.log())
    r = mail(srv, "alice@example.test", [BOB], headers("alice@example.test", BOB, "Local"),
             source=T.TRUSTED)
    t.ok(r.startswith("250"), "mail from a local user is taken", r)
    t.eq([x[1] for x in vacation_lines(srv, mark)], ["sent"], "a reply to the local sender")
    box = H.maildir_messages(srv, "alice@example.test")
    t.eq(len(box), 1, "the reply is in her Maildir")
    if box:
        data = box[0][1]
        t.ok(data.startswith(b"Return-Path: <>\n"), "with Return-Path: <> (the null sender)",
             data[:200])
        t.ok(b"\nAuto-Submitted: auto-replied\n" in data and
             b"\nIn-Reply-To: <Local@remote.test>\n" in data, "and the reply's fields")
    mark = len(srv.log())
    r = mail(srv, "ghost@example.test", [BOB], headers("ghost@example.test", BOB, "Ghost"),
             source=T.TRUSTED)
    t.ok(r.startswith("250"), "mail from an unknown local sender is taken", r)
    t.eq(vacation_lines(srv, mark), [("<ghost@example.test>", "skipped", "unknown-sender")],
         "no reply to a local sender who does not exist")
    t.eq(len(sink.messages), 2, "nothing more went to the sink")

    # 6. off: no reply any more, the message kept; on again: a new window.
    rc, out, err = srv.ctl_run("user", "vacation", BOB, "off")
    t.eq(rc, 0, "ispmailctl user vacation ADDRESS off (%s)" % err)
    t.ok(re.search(r"(?m)^bob@example\.test:[^:]*:(.*,)?vacation=no", open(srv.users_file).read()),
         "the users file says vacation=no")
    t.ok(os.path.exists(msg), ".vacation.msg is kept")
    mark = len(srv.log())
    r = mail(srv, "ivan@remote.test", [BOB], headers("ivan@remote.test", BOB, "After"))
    t.ok(r.startswith("250"), "mail after off is taken", r)
    t.eq(vacation_lines(srv, mark), [], "and nothing is done about vacation")
    rc, out, err = srv.ctl_run("user", "vacation", BOB, "on",
                               stdin="Subject: " + AGAIN + "\r\n\r\nStill away.\r\n")
    t.eq(rc, 0, "on again with a new message (%s)" % err)
    mark = len(srv.log())
    r = mail(srv, "carol@remote.test", [BOB], headers("carol@remote.test", BOB, "Third"))
    t.eq(vacation_lines(srv, mark), [("<carol@remote.test>", "sent", "")],
         "a new vacation: Carol hears it again")
    got = sink.wait_messages(3)
    if len(got) == 3:
        head = got[2].data.split(b"\r\n\r\n")[0].decode("ascii", "replace")
        subj = re.search(r"(?m)^Subject: ([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head)
        t.ok(subj and subj.group(0).count("\r\n") >= 1 and
             all(len(x) <= 76 for x in subj.group(0).split("\r\n")),
             "a UTF-8 subject goes out in RFC 2047 words, no line over 76", head)
        if subj:
            words = email.header.decode_header(subj.group(1).replace("\r\n", ""))
            t.eq("".join(w.decode(c or "ascii") if isinstance(w, bytes) else w
                         for w, c in words), AGAIN, "and decodes to the new message's subject")
        t.ok(got[2].data.endswith(b"\r\n\r\nStill away.\r\n"), "its body, CRLF from stdin as LF")


if __name__ == "__main__":
    sys.exit(O.run(main))
