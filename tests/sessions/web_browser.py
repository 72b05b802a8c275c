#!/usr/bin/env python3
"""web_browser.py: the web pages (issue 17, SPEC 13) in a real browser:
Debian's headless Chromium (tests/lib/browser.py) against a real daemon,
no JavaScript in the pages.
- a customer logs in, sees the quota bar and "can I send?" (after a POP3
  login from the same address: yes, until a time), changes the password
  (POP3 then takes the new one), turns on a vacation reply (stored in the
  users file and the Maildir), and logs out;
- an administrator adds a user through the form (who then logs in over
  POP3; logged by=<the administrator>);
- screenshots of the login page, the account page and the admin users
  page, not blank; copied to docs/images/ only with ISPMAILD_DOCS_IMAGES=1.
Assertions are on what the page showed and what the server stored or
logged, never on how long anything took. Skips only when chromium, node or
playwright-core is not installed (./quickstart check installs them)."""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import ispmaild_test as T  # noqa: E402
import browser as B  # noqa: E402
from web_http import pop3_login, users_line  # noqa: E402

USER, PASSWORD = "alice@example.test", "alice-secret-1"
NEW_PASSWORD = "alice-secret-2"
ADMIN, ADMIN_PASSWORD = "postmaster@example.test", "admin-secret-1"
ADDED, ADDED_PASSWORD = "dave@example.test", "dave-secret-1"


def login_steps(base, address, password):
    return [
        {"goto": base + "/"},
        {"fill": "#address", "value": address},
        {"fill": "#password", "value": password},
        {"click": "main form button[type=submit]", "as": "log in as " + address},
        {"expect_text": address, "selector": "header"},
    ]


def customer(t, srv, br, base, shots):
    # A POP3 login from 127.0.0.1, where the browser comes from: may send.
    t.ok(pop3_login(srv, USER, PASSWORD), "POP3 login first (the relay table learns 127.0.0.1)")
    steps = [{"goto": base + "/"},
             {"expect_text": "Log in", "selector": "h2"},
             {"screenshot": shots["login"], "full_page": False}]
    steps += login_steps(base, USER, PASSWORD)
    steps += [
        {"expect_cookie": "ispmaild_session", "httpOnly": True, "secure": True,
         "sameSite": "Strict", "as": "cookie"},
        {"expect_text": "Your mailbox", "selector": "#usage"},
        {"attribute": "meter#quota", "name": "max", "as": "quota bar"},
        {"expect_text": "may send mail through this server until", "selector": "#send"},
        {"expect_no_text": "Administration", "selector": "header"},
        {"screenshot": shots["account"], "full_page": True},
        {"fill": "#old", "value": PASSWORD},
        {"fill": "#new", "value": NEW_PASSWORD},
        {"fill": "#new2", "value": NEW_PASSWORD},
        {"click": "#password button", "wait_url": "msg=password-changed",
         "as": "change the password"},
        {"expect_text": "Your password has been changed"},
        {"check": "input[name=vacation][value=on]"},
        {"fill": "#subject", "value": "Away <until> Monday"},
        {"fill": "#text", "value": "Back on Monday.\nAlice"},
        {"click": "#vacation button", "wait_url": "msg=vacation-on", "as": "vacation on"},
        {"expect_text": "Your vacation reply is on."},
        {"click": "form.logout button", "wait_url": "msg=logged-out", "as": "log out"},
        {"expect_text": "You have logged out."},
        {"expect_text": "Log in", "selector": "h2"},
    ]
    run = br.run(steps, tap=t)
    t.ok(run.ok, "the customer's steps in Chromium", None if run.ok else run.failure())
    t.eq(run.value("quota bar"), str(10 * 1024 * 1024), "the quota bar's maximum is the quota")
    t.ok(pop3_login(srv, USER, NEW_PASSWORD), "POP3 takes the password set in the browser")
    t.ok(not pop3_login(srv, USER, PASSWORD), "and refuses the old one")
    t.ok("vacation=yes" in (users_line(srv, USER) or ""), "users file: vacation=yes")
    try:
        with open(os.path.join(srv.maildir(USER), ".vacation.msg")) as f:
            msg = f.read()
    except OSError as e:
        msg = str(e)
    t.eq(msg, "Subject: Away <until> Monday\n\nBack on Monday.\nAlice\n",
         "the vacation message as typed, stored")
    log = srv.log()
    t.ok(re.search(r"admin action=user-password user=%s by=%s" % (re.escape(USER),
                                                                    re.escape(USER)), log),
         "log: the password change by the customer")
    t.ok(re.search(r"web logout user=%s" % re.escape(USER), log), "log: web logout")


def admin(t, srv, br, base, shots):
    mark = len(srv.log())
    steps = login_steps(base, ADMIN, ADMIN_PASSWORD) + [
        {"click": "header a[href='/admin']", "wait_url": "/admin", "as": "the admin link"},
        {"expect_text": "Server status", "selector": "h2"},
        {"click": "nav.admin a[href='/admin/users']", "wait_url": "/admin/users",
         "as": "the users page"},
        {"fill": "#add-address", "value": "dave"},
        {"fill": "#add-password", "value": ADDED_PASSWORD},
        {"click": "#user-add button", "wait_url": "msg=user-added", "as": "add a user"},
        {"expect_text": "The user has been added."},
        {"expect_text": ADDED, "selector": "#users"},
        {"screenshot": shots["admin"], "full_page": False},
    ]
    run = br.run(steps, tap=t)
    t.ok(run.ok, "the administrator's steps in Chromium", None if run.ok else run.failure())
    t.ok(users_line(srv, ADDED) is not None, "the users file has the new user")
    t.ok(pop3_login(srv, ADDED, ADDED_PASSWORD), "who logs in over POP3")
    t.ok(re.search(r"admin action=user-add user=%s by=%s" % (re.escape(ADDED), re.escape(ADMIN)),
                   srv.log()[mark:]), "log: admin action=user-add ... by=postmaster")


def screenshots(t, shots):
    for name, path in sorted(shots.items()):
        try:
            w, h, _ = B.png_rows(path)
            t.ok(w == 1024 and not B.png_blank(path),
                 "%s screenshot: a PNG 1024 wide (%dx%d), not blank" % (name, w, h))
        except (OSError, ValueError) as e:
            t.ok(False, "%s screenshot: a PNG" % name, str(e))
            continue
        copied = B.docs_image(path, "web-%s.png" % name)
        if copied:
            t.diag("copied to %s" % copied)


def main():
    reason = B.missing()
    if reason:
        T.skip_all(reason)
    t = T.Tap()
    srv = T.Server(services=("pop3", "web"), tls=True,
                   config={"web.admins": [ADMIN], "limits.max_per_ip": 50})
    srv.add_user(USER, PASSWORD)
    srv.add_user(ADMIN, ADMIN_PASSWORD)
    rc, _, err = srv.ctl_run("user", "quota", USER, "10M")
    if rc != 0:
        raise T.HarnessError("user quota: %s" % err)
    srv.deliver(USER, b"Subject: hello\n\n" + b"x" * 300000 + b"\n")
    srv.start()
    base = "https://127.0.0.1:%d" % srv.ports["web"]
    shots = {n: os.path.join(srv.dir, "%s.png" % n) for n in ("login", "account", "admin")}
    try:
        br = B.Browser(srv.dir, timeout_ms=int(20000 * T.PATIENCE / 3))
    except T.SkipTest as e:
        T.skip_all(str(e))
    customer(t, srv, br, base, shots)
    admin(t, srv, br, base, shots)
    screenshots(t, shots)
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
