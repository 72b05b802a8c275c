#!/usr/bin/env python3
"""web_http.py: the web service (issue 17, SPEC 13) over raw HTTPS with
Python's http.client against a real daemon: the security headers on every
answer, the session cookie's attributes, login ok and failed (with the
mail services' pause, counted by client address across services), the
session's server-side expiry, CSRF refusals that change nothing, a
password change proven by POP3, forwarding and vacation as stored in the
users file, the "can I send?" answer against the relay table, the request
size limits (413, 431) after which the daemon goes on, 404, keep-alive,
path traversal in every encoding (400 or 404, never a file), malformed
requests (unknown method, header without a colon, too many header
fields, a chunked or length-less POST: 4xx, each followed by a served
connection), and the metrics endpoint, which shares the HTTP code,
unchanged.

Every assertion is on what the server answered, stored or logged; no
duration is measured."""

import http.client
import os
import re
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

USER, PASSWORD = "alice@example.test", "secret-one"
OTHER, OTHER_PASSWORD = "bob@example.test", "secret-bob"
NEW_PASSWORD = "a-new-pass-2"
TTL = 60
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
FORM = "application/x-www-form-urlencoded"


class Web:
    """One keep-alive HTTPS connection to the web listener from a source address."""

    def __init__(self, srv, source=T.CUSTOMER):
        self.srv = srv
        ctx = ssl.create_default_context(cafile=srv.cert)
        ctx.check_hostname = False
        self.conn = http.client.HTTPSConnection("127.0.0.1", srv.ports["web"], context=ctx,
                                                timeout=30 * T.PATIENCE,
                                                source_address=(source, 0))
        self.host = "127.0.0.1:%d" % srv.ports["web"]

    def request(self, method, path, fields=None, cookie=None, headers=None):
        from urllib.parse import urlencode
        h = dict(headers or {})
        body = None
        if fields is not None:
            body = urlencode(fields)
            h["Content-Type"] = FORM
        if cookie:
            h["Cookie"] = "ispmaild_session=" + cookie
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read().decode("utf-8", "replace")
        return r, data

    def close(self):
        self.conn.close()


def security_ok(t, r, what):
    missing = ["%s: %r" % (k, r.getheader(k)) for k, v in SECURITY.items()
               if r.getheader(k) != v]
    hsts = r.getheader("Strict-Transport-Security") or ""
    if not hsts.startswith("max-age="):
        missing.append("Strict-Transport-Security: %r" % hsts)
    t.ok(not missing, "%s: every security header" % what, "\n".join(missing))


def login(w, address, password, headers=None):
    r, _ = w.request("POST", "/login", {"address": address, "password": password},
                     headers=headers)
    cookie = r.getheader("Set-Cookie") or ""
    m = re.match(r"ispmaild_session=([0-9a-f]{64});", cookie)
    return r, cookie, (m.group(1) if m else None)


def csrf_of(page):
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    return m.group(1) if m else None


def pop3_login(srv, user, password):
    c = srv.connect("pop3", T.CUSTOMER)
    c.expect(r"\+OK")
    c.command("USER " + user, r"\+OK")
    reply = c.command("PASS " + password)
    c.command("QUIT")
    c.close()
    return reply.startswith("+OK")


def session_tool(srv, sid, *args):
    tool = os.path.join(T.top_builddir(), "tests", "tools", "web_session_tool")
    p = subprocess.run([tool, srv.conf_file, sid] + list(args), capture_output=True,
                       text=True, timeout=60)
    m = re.match(r"expires (\d+)", p.stdout)
    return int(m.group(1)) if m else None


def users_line(srv, address):
    with open(srv.users_file) as f:
        for line in f:
            if line.startswith(address + ":"):
                return line.rstrip("\n")
    return None


def pages_and_headers(t, srv):
    mark = len(srv.log())
    w = Web(srv)
    r, body = w.request("GET", "/")
    t.eq(r.status, 200, "GET / without a session: 200")
    t.ok('action="/login"' in body and 'name="password"' in body,
         "GET /: the login form", body[:300])
    t.ok("<script" not in body and "style=" not in body,
         "GET /: no script and no inline style in the page")
    security_ok(t, r, "GET /")
    r, css = w.request("GET", "/style.css")
    t.eq((r.status, r.getheader("Content-Type")), (200, "text/css; charset=utf-8"),
         "GET /style.css: 200 text/css")
    security_ok(t, r, "GET /style.css")
    r, _ = w.request("GET", "/no/such/page")
    t.eq(r.status, 404, "an unknown path: 404")
    security_ok(t, r, "404")
    r, _ = w.request("GET", "/../../etc/passwd")
    t.eq(r.status, 404, "a path with ../: 404")
    r, _ = w.request("GET", "/metrics")
    t.eq(r.status, 404, "GET /metrics on the web listener: 404 (the metrics service has it)")
    r, _ = w.request("DELETE", "/")
    t.eq(r.status, 405, "DELETE /: 405")
    security_ok(t, r, "405")
    r, _ = w.request("GET", "/login")
    t.eq(r.status, 405, "GET /login: 405 (POST only)")
    # All of the above on one connection: keep-alive works.
    t.ok(H.wait_for(lambda: srv.log()[mark:].count("web request method=") >= 7, 10),
         "seven requests answered")
    t.eq(srv.log()[mark:].count("connect service=web"), 1, "all on one kept-alive connection")
    w.close()


def login_cookie_and_pause(t, srv):
    w = Web(srv)
    mark = len(srv.log())
    for i in range(3):
        r, cookie, sid = login(w, USER, "wrong-%d" % i)
        t.eq((r.status, r.getheader("Location"), sid), (303, "/?msg=login-failed", None),
             "wrong password %d: 303 back to the login form, no session" % (i + 1))
    security_ok(t, r, "a failed login")
    log = srv.log()[mark:]
    pauses = re.findall(r"login user=<?%s>? result=fail method=form service=web "
                        r"client=127\.0\.0\.1 failures=(\d+) pause_ms=(\d+)" % re.escape(USER), log)
    t.eq(pauses, [("1", "200"), ("2", "400"), ("3", "800")],
         "log: the web's failed logins pause 200, 400, 800 ms as POP3 and SMTP do")
    t.eq(len(re.findall(r"web login user=<?%s>? client=127\.0\.0\.1 result=fail"
                        % re.escape(USER), log)), 3, "log: web login ... result=fail, three times")
    # The same address's next failure in POP3 is its fourth.
    mark = len(srv.log())
    t.ok(not pop3_login(srv, USER, "wrong-pop"), "POP3 with a wrong password: refused")
    t.ok(re.search(r"login user=<?%s>? result=fail method=\S+ service=pop3 client=127\.0\.0\.1 "
                   r"failures=4 pause_ms=1600" % re.escape(USER), srv.log()[mark:]),
         "log: POP3's next failure from that address counts 4, pause 1600 ms (shared)",
         srv.log()[mark:])
    # A cross-site login post.
    r, cookie, sid = login(w, USER, PASSWORD, headers={"Origin": "https://evil.example"})
    t.eq((r.status, sid), (403, None), "a login posted from another site (Origin): 403")
    r, cookie, sid = login(w, USER, PASSWORD,
                           headers={"Referer": "https://evil.example/login"})
    t.eq((r.status, sid), (403, None), "a login posted from another site (Referer): 403")
    # The good one.
    mark = len(srv.log())
    r, cookie, sid = login(w, USER, PASSWORD, headers={"Origin": "https://" + w.host})
    t.eq((r.status, r.getheader("Location")), (303, "/"), "good login: 303 to /")
    t.ok(sid is not None, "good login: a 64-hex-digit session id", cookie)
    attrs = [a.strip() for a in cookie.split(";")[1:]]
    t.eq(sorted(attrs), sorted(["Path=/", "HttpOnly", "Secure", "SameSite=Strict"]),
         "the cookie: Path=/; HttpOnly; Secure; SameSite=Strict")
    t.ok(re.search(r"web login user=<?%s>? client=127\.0\.0\.1 result=ok" % re.escape(USER),
                   srv.log()[mark:]), "log: web login ... result=ok")
    r, page = w.request("GET", "/", cookie=sid)
    t.ok(r.status == 200 and USER in page and csrf_of(page),
         "GET / with the cookie: the account page with a CSRF token", page[:400])
    security_ok(t, r, "the account page")
    w.close()
    return sid, csrf_of(page)


def csrf_refusals(t, srv, sid, token):
    w = Web(srv)
    before = users_line(srv, USER)
    fields = {"old": PASSWORD, "new": NEW_PASSWORD, "new2": NEW_PASSWORD}
    r, _ = w.request("POST", "/password", fields, cookie=sid)
    t.eq(r.status, 403, "POST /password without a csrf field: 403")
    security_ok(t, r, "403")
    r, _ = w.request("POST", "/password", dict(fields, csrf="0" * 64), cookie=sid)
    t.eq(r.status, 403, "POST /password with a wrong csrf: 403")
    r, _ = w.request("POST", "/forward", {"addresses": "x@remote.example", "keep": "yes",
                                          "csrf": token[:-1]}, cookie=sid)
    t.eq(r.status, 403, "POST /forward with a truncated csrf: 403")
    r, _ = w.request("POST", "/password", dict(fields, csrf=token), cookie=sid,
                     headers={"Origin": "https://evil.example"})
    t.eq(r.status, 403, "POST /password with the right token but from another Origin: 403")
    t.eq(users_line(srv, USER), before, "after the refusals the users file is unchanged")
    t.ok(pop3_login(srv, USER, PASSWORD), "POP3: the old password still works")
    t.ok(re.search(r"web refused user=<?%s>? client=127\.0\.0\.1 path=/password reason=csrf"
                   % re.escape(USER), srv.log()), "log: web refused ... reason=csrf")
    # No session at all: nothing changes either.
    r, _ = w.request("POST", "/password", dict(fields, csrf=token))
    t.eq((r.status, r.getheader("Location")), (303, "/"),
         "POST /password without a session: back to the login page")
    t.eq(users_line(srv, USER), before, "still unchanged")
    w.close()


def password_change(t, srv, sid, token):
    # A second session of the same user (another browser; a thief's).
    w2 = Web(srv, source=T.OUTSIDER)
    r, cookie, other = login(w2, "alice", PASSWORD)
    t.ok(other is not None, "a bare local part logs in (as in POP3): alice")
    w2.close()
    w = Web(srv)
    before = users_line(srv, USER)
    r, _ = w.request("POST", "/password", {"old": PASSWORD, "new": "short", "new2": "short",
                                           "csrf": token}, cookie=sid)
    t.eq(r.getheader("Location"), "/?msg=password-short", "a 5-character password: refused")
    r, _ = w.request("POST", "/password", {"old": PASSWORD, "new": NEW_PASSWORD,
                                           "new2": NEW_PASSWORD + "x", "csrf": token}, cookie=sid)
    t.eq(r.getheader("Location"), "/?msg=password-mismatch", "two different new ones: refused")
    r, _ = w.request("POST", "/password", {"old": "not-it", "new": NEW_PASSWORD,
                                           "new2": NEW_PASSWORD, "csrf": token}, cookie=sid)
    t.eq(r.getheader("Location"), "/?msg=password-wrong", "a wrong old password: refused")
    t.eq(users_line(srv, USER), before, "the refused changes left the users file alone")
    mark = len(srv.log())
    r, _ = w.request("POST", "/password", {"old": PASSWORD, "new": NEW_PASSWORD,
                                           "new2": NEW_PASSWORD, "csrf": token}, cookie=sid)
    t.eq((r.status, r.getheader("Location")), (303, "/?msg=password-changed"),
         "the password change: 303 to /?msg=password-changed")
    t.ok(re.search(r"web change user=<?%s>? what=password by=<?%s>?"
                   % (re.escape(USER), re.escape(USER)), srv.log()[mark:]),
         "log: web change user=... what=password by=...")
    r, page = w.request("GET", "/?msg=password-changed", cookie=sid)
    t.ok("Your password has been changed" in page, "the page says so")
    t.eq(session_tool(srv, other, "get"), None,
         "the change ended the user's other session")
    t.ok(session_tool(srv, sid, "get") is not None, "and kept the one it was made in")
    t.ok(pop3_login(srv, USER, NEW_PASSWORD), "POP3 accepts the new password")
    t.ok(not pop3_login(srv, USER, PASSWORD), "POP3 refuses the old one")
    w.close()


def admin_logged(srv, mark, action, user):
    """The admin/ function's own line: the web and ispmailctl share one code path."""
    return re.search(r"admin action=%s user=<?%s>?(?: \S+)* by=<?%s>?$"
                     % (action, re.escape(user), re.escape(user)), srv.log()[mark:], re.M)


def forward_and_vacation(t, srv, sid, token):
    w = Web(srv)
    mark = len(srv.log())
    r, _ = w.request("POST", "/forward", {"addresses": "x@remote.example,\r\ny@remote.example",
                                          "csrf": token}, cookie=sid)
    t.eq(r.getheader("Location"), "/?msg=forward-saved", "POST /forward: saved")
    t.ok(admin_logged(srv, mark, "user-forward", USER),
         "log: admin action=user-forward user=alice by=alice (admin_user_forward_set)")
    t.ok(users_line(srv, USER).endswith("forward=x@remote.example y@remote.example,keep=no"),
         "users file: forward=x@remote.example y@remote.example,keep=no",
         users_line(srv, USER))
    r, _ = w.request("POST", "/forward", {"addresses": "not an address", "csrf": token},
                     cookie=sid)
    t.eq(r.getheader("Location"), "/?msg=forward-bad", "POST /forward with junk: refused")
    before = users_line(srv, USER)
    r, _ = w.request("POST", "/forward", {"addresses": "nosuch@example.test", "csrf": token},
                     cookie=sid)
    t.eq(r.getheader("Location"), "/?msg=forward-bad",
         "POST /forward to a local address that is nobody: refused, as ispmailctl refuses it")
    t.eq(users_line(srv, USER), before, "and nothing changed")
    mark = len(srv.log())
    r, _ = w.request("POST", "/vacation", {"vacation": "on", "subject": "Away <until> Monday",
                                           "text": "Back on Monday.\r\nAlice", "csrf": token},
                     cookie=sid)
    t.eq(r.getheader("Location"), "/?msg=vacation-on", "POST /vacation on: saved")
    t.ok(admin_logged(srv, mark, "user-vacation", USER),
         "log: admin action=user-vacation user=alice by=alice (admin_user_vacation_set)")
    t.ok("vacation=yes" in users_line(srv, USER), "users file: vacation=yes")
    with open(os.path.join(srv.maildir(USER), ".vacation.msg")) as f:
        msg = f.read()
    t.eq(msg, "Subject: Away <until> Monday\n\nBack on Monday.\nAlice\n",
         "the Maildir's .vacation.msg holds the subject and the text")
    r, page = w.request("GET", "/", cookie=sid)
    t.ok("Away &lt;until&gt; Monday" in page and "<until>" not in page,
         "the page shows the subject, escaped")
    t.ok("x@remote.example y@remote.example" in page, "the page shows the forward")
    r, _ = w.request("POST", "/vacation", {"vacation": "off", "csrf": token}, cookie=sid)
    t.eq(r.getheader("Location"), "/?msg=vacation-off", "POST /vacation off")
    t.ok("vacation=no" in users_line(srv, USER), "users file: vacation=no")
    r, _ = w.request("POST", "/forward", {"addresses": "", "csrf": token}, cookie=sid)
    t.eq(r.getheader("Location"), "/?msg=forward-off", "POST /forward empty: off")
    t.ok("forward=" not in users_line(srv, USER), "users file: no forward= any more",
         users_line(srv, USER))
    w.close()


def can_i_send(t, srv, sid):
    w = Web(srv)
    r, page = w.request("GET", "/", cookie=sid)
    rows = srv.relay_rows()
    if "127.0.0.1" in rows:
        when = int(rows["127.0.0.1"].split()[0])
        until = time.strftime("%H:%M", time.localtime(when + 1800))
        t.ok("may send mail through this server until %s" % until in page,
             "after a POP3 login: 'may send ... until %s' (the relay table's time + ttl)" % until,
             re.findall(r'<p class="(?:yes|no)">.*', page))
    else:
        t.ok(False, "the relay table has 127.0.0.1 after POP3 logins", rows)
    w.close()
    # An address with no relay entry: what to do instead.
    w = Web(srv, source=T.OUTSIDER)
    r, cookie, sid2 = login(w, OTHER, OTHER_PASSWORD)
    r, page = w.request("GET", "/", cookie=sid2)
    t.ok("Check your mail first (POP3)" in page and "port 587 or 465" in page,
         "from an address with no relay entry: check mail first, or 587/465",
         re.findall(r'<p class="(?:yes|no)">.*', page))
    t.ok('<meter id="quota"' in page, "bob has a quota: a bar (meter)")
    w.close()
    return sid2


def deleted_user(t, srv, sid):
    rc, out, err = srv.ctl_run("user", "del", OTHER)
    t.eq(rc, 0, "ispmailctl user del bob (who has a web session)")
    w = Web(srv, source=T.OUTSIDER)
    r, page = w.request("GET", "/", cookie=sid)
    t.ok('action="/login"' in page and "Max-Age=0" in (r.getheader("Set-Cookie") or ""),
         "a deleted user's session ends: the login page, the cookie cleared")
    t.eq(session_tool(srv, sid, "get"), None, "and it is gone from the table")
    w.close()


def expiry(t, srv, sid, token):
    w = Web(srv)
    now = int(time.time())
    t.ok(session_tool(srv, sid, "set", str(now + 5)) == now + 5, "the tool ages the session")
    r, page = w.request("GET", "/", cookie=sid)
    got = session_tool(srv, sid, "get")
    t.ok(r.status == 200 and got is not None and got >= now + TTL,
         "a request renews the session to now + session_ttl", "expires %s now %d" % (got, now))
    session_tool(srv, sid, "set", str(now - 1))
    r, page = w.request("GET", "/", cookie=sid)
    t.ok('action="/login"' in page and "Your session has ended" in page,
         "an expired session: the login page says so", page[:300])
    t.ok("Max-Age=0" in (r.getheader("Set-Cookie") or ""), "and the cookie is cleared")
    t.eq(session_tool(srv, sid, "get"), None, "the expired session is gone from the table")
    r, _ = w.request("POST", "/vacation", {"vacation": "on", "subject": "x", "text": "y",
                                           "csrf": token}, cookie=sid)
    t.eq(r.getheader("Location"), "/?msg=expired", "a form posted with it: nothing done")
    t.ok("vacation=yes" not in users_line(srv, USER), "vacation still off")
    w.close()


def logout(t, srv):
    w = Web(srv)
    r, cookie, sid = login(w, USER, NEW_PASSWORD)
    r, page = w.request("GET", "/", cookie=sid)
    token = csrf_of(page)
    r, _ = w.request("POST", "/logout", {"csrf": token}, cookie=sid)
    t.eq((r.status, r.getheader("Location")), (303, "/?msg=logged-out"), "POST /logout: 303")
    t.ok("Max-Age=0" in (r.getheader("Set-Cookie") or ""), "logout clears the cookie")
    r, page = w.request("GET", "/", cookie=sid)
    t.ok('action="/login"' in page, "the old cookie opens nothing after logout")
    w.close()


def limits(t, srv):
    w = Web(srv)
    # Refused on the announced length: no body byte need be sent.
    w.conn.putrequest("POST", "/login")
    w.conn.putheader("Content-Type", FORM)
    w.conn.putheader("Content-Length", str(70 * 1024))
    w.conn.endheaders()
    r = w.conn.getresponse()
    r.read()
    t.eq(r.status, 413, "a 70 KiB form (Content-Length): 413")
    security_ok(t, r, "413")
    w.close()
    w = Web(srv)
    w.conn.request("GET", "/", headers={"X-Filler": "y" * (20 * 1024)})
    r = w.conn.getresponse()
    r.read()
    t.eq(r.status, 431, "20 KiB of headers: 431")
    w.close()
    w = Web(srv)
    w.conn.request("POST", "/login", body="{}", headers={"Content-Type": "application/json"})
    r = w.conn.getresponse()
    r.read()
    t.eq(r.status, 415, "a JSON body: 415")
    w.close()
    w = Web(srv)
    r, _ = w.request("GET", "/")
    t.eq(r.status, 200, "the daemon goes on after them")
    w.close()


def raw(srv, data, source=T.CUSTOMER):
    """Send these bytes over TLS to the web listener; (status or None, the
    whole answer as text) once the server closes or answers in full."""
    import socket
    ctx = ssl.create_default_context(cafile=srv.cert)
    ctx.check_hostname = False
    sock = socket.create_connection(("127.0.0.1", srv.ports["web"]), timeout=30 * T.PATIENCE,
                                    source_address=(source, 0))
    out = b""
    try:
        with ctx.wrap_socket(sock) as s:
            try:
                s.sendall(data)
            except OSError:
                pass        # refused early, while we were still sending
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    out += chunk
                    head, sep, body = out.partition(b"\r\n\r\n")
                    m = re.search(rb"(?im)^Content-Length: (\d+)\r$", head)
                    if sep and m and len(body) >= int(m.group(1)):
                        break
            except OSError:
                pass
    finally:
        sock.close()
    text = out.decode("utf-8", "replace")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", text)
    return (int(m.group(1)) if m else None), text


# Paths that would reach a file if anything joined them to a folder.
TRAVERSALS = [
    "/../etc/passwd",
    "/../../../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "/static/../../etc/passwd",
    "/static/style.css/../../../etc/passwd",
    "/%252e%252e/%252e%252e/etc/passwd",
    "/%25252e%25252e/etc/passwd",
    "/..%c0%af..%c0%afetc/passwd",
    "/style.css%00",
    "/style.css%00.html",
    "/..%00/etc/passwd",
    "/..\\..\\..\\etc\\passwd",
    "/%5c..%5c..%5cetc%5cpasswd",
    "/.%2e/.%2e/etc/passwd",
    "//etc/passwd",
    "/./style.css/../../etc/passwd",
    "/templates/layout.html",
    "/static/style.css",
    "/web/templates/account.html",
]


def traversal(t, srv):
    """Path traversal in every form: 400 or 404, never a file's content."""
    leaked, wrong = [], []
    for path in TRAVERSALS:
        for method in ("GET", "HEAD"):
            status, text = raw(srv, ("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                     % (method, path)).encode())
            if status not in (400, 404):
                wrong.append("%s %s: %s" % (method, path, status))
            if "root:" in text or "{{" in text or "nobody:" in text:
                leaked.append("%s %s" % (method, path))
    t.ok(not wrong, "path traversal in %d forms (../, %%2e%%2e, double-encoded, %%00, "
         "backslashes, /static/../..): 400 or 404" % len(TRAVERSALS), "\n".join(wrong))
    t.ok(not leaked, "and never a file's content (no passwd line, no template)",
         "\n".join(leaked))
    # A NUL byte itself in the request line.
    status, text = raw(srv, b"GET /style.css\x00/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")
    t.ok(status == 400 and "root:" not in text, "a raw NUL in the path: 400", text[:200])


def malformed(t, srv):
    """Malformed requests: a 4xx each, and the daemon serves the next connection."""
    many = "".join("X-F%d: v\r\n" % i for i in range(5000))
    few_but_many = "".join("a%d:\r\n" % i for i in range(300))
    cases = [
        ("a method that does not exist", "FOO / HTTP/1.1\r\nHost: x\r\n\r\n", (400, 405, 501)),
        ("a method in lower case", "get / HTTP/1.1\r\nHost: x\r\n\r\n", (400, 405, 501)),
        ("a header line without a colon",
         "GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", (400,)),
        ("a header name with a space", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
         (400,)),
        ("a request line without a version", "GET /\r\nHost: x\r\n\r\n", (400, 505)),
        ("HTTP/2.0 in the request line", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", (400, 505)),
        ("5000 header fields (beyond 16 KiB)", "GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n",
         (431,)),
        ("300 tiny header fields (within 16 KiB)",
         "GET / HTTP/1.1\r\nHost: x\r\n" + few_but_many + "\r\n", (431,)),
        ("a chunked body on POST",
         "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
         "Transfer-Encoding: chunked\r\n\r\n1b\r\naddress=alice&password=xxxx\r\n0\r\n\r\n"
         % FORM, (400, 411)),
        ("Transfer-Encoding and Content-Length together",
         "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 5\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % FORM, (400, 411)),
        ("a POST without Content-Length",
         "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nConnection: close\r\n\r\n"
         % FORM, (411,)),
        ("two Content-Length headers that differ",
         "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 3\r\n"
         "Content-Length: 4\r\n\r\nabcd" % FORM, (400,)),
        ("a negative Content-Length",
         "POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", (400,)),
        ("a bare LF in the middle of a header value",
         "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", (400,)),
    ]
    for what, data, want in cases:
        mark = len(srv.log())
        status, text = raw(srv, data.encode())
        t.ok(status in want, "%s: %s" % (what, " or ".join(map(str, want))),
             "got %s: %s" % (status, text[:200]))
        after, _ = raw(srv, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        t.eq(after, 200, "  then the next connection is served")
    log = srv.log()
    t.ok(re.search(r"web request status=411 reason=bad-request", log),
         "log: web request status=411 reason=bad-request")


def metrics_unchanged(t, srv):
    conn = http.client.HTTPConnection("127.0.0.1", srv.ports["metrics"], timeout=30)
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    text = r.read().decode()
    t.ok(r.status == 200 and re.search(r"^ispmaild_up 1$", text, re.M),
         "GET /metrics on the metrics listener: 200, ispmaild_up 1")
    t.ok(re.search(r'^ispmaild_logins_total\{service="web"\} [1-9]', text, re.M),
         "metrics count the web's logins", text[:200])
    conn.close()


def check_users_dir(t, srv):
    """ispmaild -t warns when the web cannot rewrite the users file."""
    if not srv.root:
        t.skip("ispmaild -t: users_file directory warning", "needs root (a user to drop to)")
        return
    run = lambda: subprocess.run([srv.daemon, "-t", "-c", srv.conf_file],
                                 capture_output=True, text=True, timeout=60)
    p = run()
    t.ok(p.returncode == 0 and "users_file directory" not in p.stderr,
         "ispmaild -t: no warning when the daemon's user can write the users file's directory",
         p.stderr)
    d = os.path.join(srv.dir, "root-owned")
    os.mkdir(d, 0o755)
    users = os.path.join(d, "users")
    with open(srv.users_file) as src, open(users, "w") as dst:
        dst.write(src.read())
    os.chmod(users, 0o644)
    srv.set("users_file", users)
    p = run()
    srv.set("users_file", srv.users_file)
    t.ok(p.returncode == 0 and "warning: users_file directory %s is not writable by nobody" % d
         in p.stderr, "ispmaild -t: a warning when it cannot (the web could not save)", p.stderr)


def main():
    t = T.Tap()
    srv = T.Server(services=("pop3", "web", "metrics"), tls=True,
                   config={"web.session_ttl": TTL, "limits.max_per_ip": 50})
    srv.add_user(USER, PASSWORD)
    srv.add_user(OTHER, OTHER_PASSWORD)
    rc, out, err = srv.ctl_run("user", "quota", OTHER, "10M")
    if rc != 0:
        raise T.HarnessError("user quota: %s" % err)
    srv.start()
    pages_and_headers(t, srv)
    sid, token = login_cookie_and_pause(t, srv)
    csrf_refusals(t, srv, sid, token)
    password_change(t, srv, sid, token)
    forward_and_vacation(t, srv, sid, token)
    bob = can_i_send(t, srv, sid)
    deleted_user(t, srv, bob)
    expiry(t, srv, sid, token)
    logout(t, srv)
    limits(t, srv)
    traversal(t, srv)
    malformed(t, srv)
    metrics_unchanged(t, srv)
    check_users_dir(t, srv)
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
