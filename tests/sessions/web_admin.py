#!/usr/bin/env python3
"""web_admin.py: the administrators' pages (issue 17, SPEC 13) over HTTPS
with http.client against a real daemon:
- a customer who is not in web.admins gets 403 on every /admin path, GET
  and POST (with a good CSRF token), sees no admin link, and changes nothing;
  without a session the pages show the login form and the forms do nothing;
- an administrator sees the counters of ispmailctl status; adds a user
  (who then logs in over POP3), sets a quota (the users file shows it), a
  password (POP3 takes the new one), forwarding and a vacation reply, and
  deletes the user (only with the confirmation); refusals show the reason
  and change nothing;
- adds and withdraws a relay entry (ispmailctl relay list agrees);
- lists, releases and deletes messages a filter held, and flushes the
  queue (ispmailctl queue list agrees);
- a form without its CSRF token: 403, nothing changed;
- every change is logged by the admin/ function, by=<the administrator>.

Every assertion is on what the server answered, stored or logged."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
sys.path.insert(0, HERE)
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
import milter_wire as MW  # noqa: E402
from sink import Sink  # noqa: E402
from web_http import Web, login, csrf_of, pop3_login, users_line  # noqa: E402

ADMIN, ADMIN_PASSWORD = "postmaster@example.test", "admin-secret-1"
USER, PASSWORD = O.SENDER, "alice-secret"   # alice@example.test
NEW = "carol@example.test"
REMOTE = "bob@remote.test"

ADMIN_GETS = ["/admin", "/admin/users", "/admin/relay", "/admin/queue"]
ADMIN_POSTS = ["/admin/users/add", "/admin/users/delete", "/admin/users/password",
               "/admin/users/quota", "/admin/users/forward", "/admin/users/vacation",
               "/admin/relay/add", "/admin/relay/delete", "/admin/queue/flush",
               "/admin/queue/delete", "/admin/queue/release"]


def logged(srv, mark, pattern):
    return re.search(pattern, srv.log()[mark:], re.M)


def by_admin(action, rest):
    """The admin/ function's own line for a change made on the pages."""
    return r"admin action=%s %s.*by=%s$" % (action, rest, re.escape(ADMIN))


class Session:
    """A logged-in browser: one connection, the cookie and the page's CSRF token."""

    def __init__(self, srv, address, password):
        self.w = Web(srv)
        r, _, self.sid = login(self.w, address, password)
        if self.sid is None:
            raise T.HarnessError("login of %s failed: %s" % (address, r.status))
        r, page = self.w.request("GET", "/", cookie=self.sid)
        self.front = page
        self.csrf = csrf_of(page)

    def get(self, path):
        return self.w.request("GET", path, cookie=self.sid)

    def post(self, path, fields, csrf=True):
        if csrf:
            fields = dict(fields, csrf=self.csrf)
        return self.w.request("POST", path, fields, cookie=self.sid)

    def close(self):
        self.w.close()


def not_admin(t, srv):
    s = Session(srv, USER, PASSWORD)
    t.ok('href="/admin"' not in s.front, "a customer's page has no admin link")
    before = open(srv.users_file).read()
    relay = set(srv.relay_list())
    mark = len(srv.log())
    got = [(p, s.get(p)[0].status) for p in ADMIN_GETS]
    t.eq([g for g in got if g[1] != 403], [], "a customer: 403 on every admin page (GET)")
    got = [(p, s.post(p, {"address": "mallory@example.test", "password": "long-enough-1",
                          "confirm": USER, "size": "1K", "id": "x"})[0].status)
           for p in ADMIN_POSTS]
    t.eq([g for g in got if g[1] != 403], [],
         "a customer: 403 on every admin form (POST with a good CSRF token)")
    t.eq(open(srv.users_file).read(), before, "a customer's admin posts changed no user")
    t.eq(set(srv.relay_list()), relay, "nor the relay table")
    t.eq(len(re.findall(r"web refused user=%s client=\S+ path=/admin\S* reason=not-admin"
                        % re.escape(USER), srv.log()[mark:])),
         len(ADMIN_GETS) + len(ADMIN_POSTS), "each refusal logged: reason=not-admin")
    t.ok(not logged(srv, mark, r"admin action="), "and no admin action")
    s.close()
    # No session at all.
    w = Web(srv)
    r, page = w.request("GET", "/admin/users")
    t.ok(r.status == 200 and 'action="/login"' in page and "Users" not in page,
         "no session: /admin/users shows the login form, not the users")
    r, _ = w.request("POST", "/admin/users/add", {"address": "mallory", "password": "x" * 12})
    t.eq((r.status, r.getheader("Location")), (303, "/"), "no session: a form does nothing")
    t.eq(open(srv.users_file).read(), before, "users file unchanged")
    w.close()


def status_page(t, a):
    r, page = a.get("/admin")
    t.eq(r.status, 200, "an administrator: GET /admin 200")
    t.ok('href="/admin"' in a.front, "an administrator's account page links to /admin")
    t.ok(re.search(r"<th scope=\"row\">queue</th><td>0 messages</td>", page) and
         re.search(r"<th scope=\"row\">relay table</th><td>\d+ entries</td>", page) and
         re.search(r"<th scope=\"row\">logins ok</th><td>[^<]*web=\d", page),
         "/admin: the counters of ispmailctl status as a table", page[-1500:])


def users(t, srv, a):
    mark = len(srv.log())
    r, _ = a.post("/admin/users/add", {"address": "Carol", "password": "carol-pass-1"})
    t.eq((r.status, r.getheader("Location")), (303, "/admin/users?msg=user-added"),
         "add a user: 303 with a message code")
    t.ok(logged(srv, mark, by_admin("user-add", "user=%s" % re.escape(NEW))),
         "log: admin action=user-add user=carol by=postmaster")
    t.ok(pop3_login(srv, NEW, "carol-pass-1"), "the new user logs in over POP3")
    r, page = a.get("/admin/users?msg=user-added")
    t.ok("The user has been added." in page and "<td>%s</td>" % NEW in page,
         "the users page says so and lists the user")
    r, page = a.post("/admin/users/add", {"address": NEW, "password": "carol-pass-2"})
    t.ok(r.status == 400 and "Not done:" in page and "exists" in page,
         "adding the same user again: 400, the reason on the page", page[-800:])
    t.ok(pop3_login(srv, NEW, "carol-pass-1"), "and the password is unchanged")

    mark = len(srv.log())
    r, _ = a.post("/admin/users/quota", {"address": NEW, "size": "5M"})
    t.eq(r.getheader("Location"), "/admin/users?msg=user-quota-set", "set a quota: 303")
    t.ok(users_line(srv, NEW).endswith(":quota=5M"), "users file: quota=5M",
         users_line(srv, NEW))
    t.ok(logged(srv, mark, by_admin("user-quota", "user=%s quota=5M" % re.escape(NEW))),
         "log: admin action=user-quota ... by=postmaster")
    r, page = a.post("/admin/users/quota", {"address": NEW, "size": "lots"})
    t.ok(r.status == 400 and "bad size" in page, "a bad size: 400, bad size")
    t.ok(users_line(srv, NEW).endswith(":quota=5M"), "quota unchanged")

    mark = len(srv.log())
    r, _ = a.post("/admin/users/password", {"address": NEW, "password": "carol-pass-3"})
    t.eq(r.getheader("Location"), "/admin/users?msg=user-password-set", "set a password: 303")
    t.ok(pop3_login(srv, NEW, "carol-pass-3") and not pop3_login(srv, NEW, "carol-pass-1"),
         "POP3 takes the new password, not the old one")
    t.ok(logged(srv, mark, by_admin("user-password", "user=%s" % re.escape(NEW))),
         "log: admin action=user-password ... by=postmaster")

    mark = len(srv.log())
    r, _ = a.post("/admin/users/forward", {"address": NEW, "addresses": "x@remote.example",
                                           "keep": "yes"})
    t.eq(r.getheader("Location"), "/admin/users?msg=user-forward-set", "set forwarding: 303")
    t.ok(users_line(srv, NEW).endswith("forward=x@remote.example,keep=yes"),
         "users file: forward=x@remote.example,keep=yes", users_line(srv, NEW))
    t.ok(logged(srv, mark, by_admin("user-forward", "user=%s" % re.escape(NEW))),
         "log: admin action=user-forward ... by=postmaster")
    r, _ = a.post("/admin/users/vacation", {"address": NEW, "vacation": "on",
                                            "subject": "Away", "text": "Back soon."})
    t.eq(r.getheader("Location"), "/admin/users?msg=user-vacation-set", "vacation on: 303")
    t.ok("vacation=yes" in users_line(srv, NEW), "users file: vacation=yes")
    t.ok(logged(srv, mark, by_admin("user-vacation", "user=%s state=on" % re.escape(NEW))),
         "log: admin action=user-vacation ... state=on by=postmaster")
    r, page = a.get("/admin/users")
    t.ok(re.search(r"<td>%s</td><td>[^<]*</td><td>5\.0M</td><td>x@remote\.example "
                   r"\(a copy kept\)</td><td>on</td>" % re.escape(NEW), page),
         "the users page shows quota, forward and vacation", page[-2500:])

    before = users_line(srv, NEW)
    r, page = a.post("/admin/users/delete", {"address": NEW, "confirm": USER})
    t.ok(r.status == 400 and "confirmation" in page,
         "delete with another address as confirmation: 400")
    t.eq(users_line(srv, NEW), before, "the user is still there")
    mark = len(srv.log())
    r, _ = a.post("/admin/users/delete", {"address": NEW, "confirm": "carol"})
    t.eq(r.getheader("Location"), "/admin/users?msg=user-deleted", "delete with confirmation")
    t.eq(users_line(srv, NEW), None, "gone from the users file")
    t.ok(not pop3_login(srv, NEW, "carol-pass-3"), "POP3 refuses the deleted user")
    t.ok(logged(srv, mark, by_admin("user-delete", "user=%s" % re.escape(NEW))),
         "log: admin action=user-delete ... by=postmaster")


def relay(t, srv, a):
    mark = len(srv.log())
    r, _ = a.post("/admin/relay/add", {"address": "192.0.2.7"})
    t.eq(r.getheader("Location"), "/admin/relay?msg=relay-added", "relay add: 303")
    t.ok("192.0.2.7" in srv.relay_list(), "ispmailctl relay list has 192.0.2.7",
         srv.relay_list())
    t.ok(logged(srv, mark, by_admin("relay-add", "address=192\\.0\\.2\\.7")),
         "log: admin action=relay-add address=192.0.2.7 by=postmaster")
    r, page = a.get("/admin/relay")
    t.ok(re.search(r"<td>192\.0\.2\.7</td><td>[^<]+</td><td>\d+ min</td><td>admin</td>", page),
         "the relay page lists it, with the time left and user admin", page[-1500:])
    r, page = a.post("/admin/relay/add", {"address": "not-an-ip"})
    t.ok(r.status == 400 and "not an IP address" in page, "a bad address: 400")
    r, _ = a.post("/admin/relay/delete", {"address": "192.0.2.7"})
    t.eq(r.getheader("Location"), "/admin/relay?msg=relay-deleted", "relay delete: 303")
    t.ok("192.0.2.7" not in srv.relay_list(), "ispmailctl relay list: gone")
    t.ok(logged(srv, mark, by_admin("relay-delete", "address=192\\.0\\.2\\.7")),
         "log: admin action=relay-delete ... by=postmaster")


def csrf_missing(t, srv, a):
    before = open(srv.users_file).read()
    relay = set(srv.relay_list())
    r, _ = a.post("/admin/users/add", {"address": "dave", "password": "dave-pass-1"},
                  csrf=False)
    t.eq(r.status, 403, "add a user without the CSRF token: 403")
    r, _ = a.post("/admin/users/add", {"address": "dave", "password": "dave-pass-1",
                                       "csrf": "0" * 64}, csrf=False)
    t.eq(r.status, 403, "with a wrong token: 403")
    r, _ = a.post("/admin/relay/add", {"address": "192.0.2.9"}, csrf=False)
    t.eq(r.status, 403, "relay add without the token: 403")
    t.eq(open(srv.users_file).read(), before, "nothing changed in the users file")
    t.eq(set(srv.relay_list()), relay, "nor in the relay table")


def queue_list(srv):
    rc, out, _ = srv.ctl_run("queue", "list")
    return out


def queue(t, srv, a, sink):
    held = [O.relay(srv, O.SENDER, [REMOTE], H.to_wire(O.message("held %d" % i)))
            for i in (1, 2)]
    t.ok(all(re.search(r"^%s .* held " % re.escape(q), queue_list(srv), re.M) for q in held),
         "two messages held by the filter (ispmailctl queue list)", queue_list(srv))
    r, page = a.get("/admin/queue")
    t.ok(r.status == 200 and all(q in page for q in held) and
         page.count('action="/admin/queue/release"') == 2 and "Outbound queue (2)" in page,
         "the queue page lists both, each with a Release button", page[-2000:])
    mark = len(srv.log())
    r, _ = a.post("/admin/queue/release", {"id": held[0]})
    t.eq(r.getheader("Location"), "/admin/queue?msg=queue-released", "release: 303")
    t.ok(logged(srv, mark, by_admin("queue-release", "id=%s" % re.escape(held[0]))),
         "log: admin action=queue-release ... by=postmaster")
    got = sink.wait_messages(1, timeout=8)
    t.eq([m.rcpts for m in got], [[REMOTE]], "the released message is delivered")
    t.ok(O.wait_gone(srv, held[0]), "and leaves the queue")
    r, _ = a.post("/admin/queue/delete", {"id": held[1]})
    t.eq(r.getheader("Location"), "/admin/queue?msg=queue-deleted", "delete: 303")
    t.ok(held[1] not in queue_list(srv), "ispmailctl queue list: the deleted one is gone",
         queue_list(srv))
    t.ok(logged(srv, mark, by_admin("queue-delete", "id=%s" % re.escape(held[1]))),
         "log: admin action=queue-delete ... by=postmaster")
    r, page = a.post("/admin/queue/delete", {"id": held[1]})
    t.ok(r.status == 400 and "no such message" in page, "delete again: 400, no such message")
    r, _ = a.post("/admin/queue/flush", {})
    t.eq(r.getheader("Location"), "/admin/queue?msg=queue-flushed", "flush: 303")
    t.ok(logged(srv, mark, by_admin("queue-flush", "runner=\\S+")),
         "log: admin action=queue-flush ... by=postmaster")
    r, page = a.get("/admin/queue")
    t.ok("Outbound queue (0)" in page, "the queue page: empty")


def milter_available():
    if not os.access(MW.SYSTEM_PYTHON, os.X_OK):
        return False
    return subprocess.run([MW.SYSTEM_PYTHON, "-c", "import Milter"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def main():
    t = T.Tap()
    if not milter_available():
        # quickstart installs python3-milter: its absence is a broken setup.
        T.bail_out("python3-milter is needed (quickstart installs it)")
    tmp = tempfile.mkdtemp(prefix="web-admin-")
    os.chmod(tmp, 0o755)
    f = MW.Filter(tmp, "quarantine", name="q")
    sink = Sink()
    srv = T.Server(services=("pop3", "smtp", "web"), tls=True, config={
        "web.admins": [ADMIN], "limits.max_per_ip": 50,
        "milters": T.Raw("( { name = \"q\"; address = \"%s\"; } )" % f.address),
        "relay.smarthost": sink.smarthost()})
    try:
        srv.add_user(ADMIN, ADMIN_PASSWORD)
        srv.add_user(USER, PASSWORD)
        srv.start(timeout=30 * T.PATIENCE)
        not_admin(t, srv)
        a = Session(srv, ADMIN, ADMIN_PASSWORD)
        status_page(t, a)
        users(t, srv, a)
        relay(t, srv, a)
        csrf_missing(t, srv, a)
        queue(t, srv, a, sink)
        a.close()
        return srv.finish(t)
    finally:
        f.stop()
        sink.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
