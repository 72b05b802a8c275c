#!/usr/bin/env python3
"""web_browser_mail.py: the web pages (issue 17, SPEC 13) end to end with
the mail: Debian's headless Chromium (tests/lib/browser.py) against a
real daemon with SMTP, POP3 and the web, and a sink as the smarthost.
- "can I send?" for the browser's address (127.0.0.1) matches
  `ispmailctl relay list`: before any POP3 login the page says no (and the
  table has no row); after a POP3 login from that address it says yes
  until the table's authorized-at + authorization_ttl, as HH:MM local;
- the customer sets a forward (to a second local user, copy kept) and a
  vacation reply through the forms (element screenshots of both, checked
  not blank); then a message from an outside sender over SMTP is stored
  in the customer's Maildir, forwarded to the second user's Maildir, and
  answered: the vacation reply reaches the sink, addressed to the sender,
  from the null sender, with the subject typed in the browser.
Assertions are on what the pages showed and what the server stored,
logged or sent; no duration is measured. Skips only when chromium, node or
playwright-core is not installed (./quickstart check installs them)."""

import datetime
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import ispmaild_test as T  # noqa: E402
import browser as B  # noqa: E402
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402
from web_http import pop3_login, users_line  # noqa: E402

USER, PASSWORD = "alice@example.test", "alice-secret-1"
SECOND = "bob@example.test"
SENDER = "carol@remote.test"
TTL = 1200      # not the default (1800): the page must use the configured one
SUBJECT = "Away until Monday"
TEXT = "I am away and read no mail until Monday.\nAlice"


def login_steps(base):
    return [
        {"goto": base + "/"},
        {"fill": "#address", "value": USER},
        {"fill": "#password", "value": PASSWORD},
        {"click": "main form button[type=submit]", "as": "log in as " + USER},
        {"expect_text": USER, "selector": "header"},
    ]


def send_text(run):
    return (run.value("the 'can I send?' text") or "").replace("\n", " ")


def relay_row(srv, address):
    """The row of `ispmailctl relay list` for address: (iso, left, user), or None."""
    return srv.relay_list().get(address)


def forms(t, srv, br, base, shots):
    t.eq(relay_row(srv, T.CUSTOMER), None,
         "before any POP3 login `ispmailctl relay list` has no row for 127.0.0.1")
    steps = login_steps(base) + [
        {"expect_text": "Can I send", "selector": "main"},
        {"text": "#send", "as": "the 'can I send?' text"},
        {"fill": "#addresses", "value": SECOND},
        {"check": "#forward input[name=keep]"},
        {"click": "#forward button", "wait_url": "msg=forward-saved", "as": "save the forward"},
        {"expect_text": "Forwarding saved."},
        {"screenshot": shots["forward"], "selector": "#forward", "as": "forward screenshot"},
        {"check": "input[name=vacation][value=on]"},
        {"fill": "#subject", "value": SUBJECT},
        {"fill": "#text", "value": TEXT},
        {"click": "#vacation button", "wait_url": "msg=vacation-on", "as": "vacation on"},
        {"expect_text": "Your vacation reply is on."},
        {"screenshot": shots["vacation"], "selector": "#vacation", "as": "vacation screenshot"},
    ]
    run = br.run(steps, tap=t)
    t.ok(run.ok, "the customer's forward and vacation in Chromium",
         None if run.ok else run.failure())
    text = send_text(run)
    t.ok("Not from this address (127.0.0.1)" in text and "Check your mail first" in text,
         "before a POP3 login the page says 127.0.0.1 may not send", text)
    line = users_line(srv, USER) or ""
    t.ok(re.search(r"(^|[:,])forward=%s(,|$)" % re.escape(SECOND), line) and
         "keep=no" not in line, "users file: forward=%s, the copy kept" % SECOND, line)
    t.ok("vacation=yes" in line, "users file: vacation=yes", line)


def screenshots(t, shots):
    for name, path in sorted(shots.items()):
        try:
            w, h, _ = B.png_rows(path)
            t.ok(w > 100 and h > 50 and not B.png_blank(path),
                 "%s form screenshot: a PNG (%dx%d), not blank" % (name, w, h))
        except (OSError, ValueError) as e:
            t.ok(False, "%s form screenshot: a PNG" % name, str(e))
            continue
        copied = B.docs_image(path, "web-%s.png" % name)
        if copied:
            t.diag("copied to %s" % copied)


def mail_through(t, srv, sink):
    mark = len(srv.log())
    msg = ("From: Carol <%s>\r\nTo: Alice <%s>\r\nSubject: Lunch on Friday\r\n"
           "Message-ID: <lunch.friday@remote.test>\r\n\r\nShall we?\r\n" % (SENDER, USER))
    c = H.Smtp(srv, "smtp", T.OUTSIDER)
    try:
        c.hello()
        out = c.transaction(SENDER, [USER], msg.encode())
    finally:
        c.quit()
    t.ok(out[-1].startswith("250"), "an outside sender's message to the customer: 250", out)
    mine = [d for _, d in H.maildir_messages(srv, USER) if b"Subject: Lunch on Friday" in d]
    t.eq(len(mine), 1, "stored in the customer's Maildir (keep=yes)")
    fwd = [d for _, d in H.maildir_messages(srv, SECOND) if b"Subject: Lunch on Friday" in d]
    t.eq(len(fwd), 1, "forwarded: the second user's Maildir has it")
    got = sink.wait_messages(1, timeout=O.scaled(20))
    replies = [m for m in got if m.rcpts == [SENDER]]
    t.eq(len(replies), 1, "the vacation reply reaches the sink, to the sender")
    if replies:
        m = replies[0]
        head = m.data.split(b"\r\n\r\n")[0].decode("utf-8", "replace")
        t.eq(m.sender, "", "from the null sender")
        t.ok(re.search(r"(?m)^Subject: %s\r?$" % re.escape(SUBJECT), head),
             "with the subject typed in the browser", head)
        t.ok(re.search(r"(?m)^In-Reply-To: <lunch\.friday@remote\.test>", head),
             "In-Reply-To: the original", head)
        t.ok(m.data.endswith(TEXT.replace("\n", "\r\n").encode() + b"\r\n"),
             "and the text typed in the browser", m.data[-200:])
    t.ok(re.search(r"vacation user=<?%s>? to=<?%s>? result=sent" % (re.escape(USER),
                                                                    re.escape(SENDER)),
                   srv.log()[mark:]), "log: vacation ... result=sent")


def can_send_after_pop3(t, srv, br, base):
    t.ok(pop3_login(srv, USER, PASSWORD), "a POP3 login from 127.0.0.1, the browser's address")
    row = relay_row(srv, T.CUSTOMER)
    t.ok(row is not None, "`ispmailctl relay list` now has 127.0.0.1", srv.relay_list())
    if row is None:
        return
    at = datetime.datetime.fromisoformat(row[0].replace("Z", "+00:00")).timestamp()
    until = time.strftime("%H:%M", time.localtime(at + TTL))
    t.diag("relay list: %s %s %s %s; until %s" % ((T.CUSTOMER,) + row + (until,)))
    run = br.run(login_steps(base) + [{"text": "#send", "as": "the 'can I send?' text"}], tap=t)
    t.ok(run.ok, "the account page again in Chromium", None if run.ok else run.failure())
    text = send_text(run)
    t.ok("127.0.0.1 may send mail through this server until %s," % until in text,
         "after it the page says yes until %s (relay list's time + authorization_ttl)" % until,
         text)


def main(t, fx):
    reason = B.missing()
    if reason:
        raise T.SkipTest(reason)
    sink = fx.add(Sink())
    srv = T.Server(services=("smtp", "pop3", "web"), tls=True,
                   config={"relay.smarthost": sink.smarthost(),
                           "relay.authorization_ttl": TTL,
                           "dns.nameserver": O.DEAD_NS, "queue.retry_min": 1,
                           "queue.retry_max": 2, "limits.max_per_ip": 50})
    fx.srv = srv
    srv.add_user(USER, PASSWORD)
    srv.add_user(SECOND, "bob-secret-1")
    srv.start()
    base = "https://127.0.0.1:%d" % srv.ports["web"]
    shots = {n: os.path.join(srv.dir, "%s.png" % n) for n in ("forward", "vacation")}
    br = B.Browser(srv.dir, timeout_ms=int(20000 * T.PATIENCE / 3))
    forms(t, srv, br, base, shots)
    screenshots(t, shots)
    mail_through(t, srv, sink)
    can_send_after_pop3(t, srv, br, base)


if __name__ == "__main__":
    sys.exit(O.run(main))
