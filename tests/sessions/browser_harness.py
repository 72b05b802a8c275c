#!/usr/bin/env python3
"""browser_harness.py: the browser test harness works (issue 17), before
any page of ours uses it. A tiny HTTPS site served from Python on
127.0.0.1 (a certificate of the test CA that Chromium does not know, a
Content-Security-Policy that forbids every script, as our pages will send)
has a form; real headless Chromium (Debian's, through tests/browser/drive.mjs
and tests/lib/browser.py) fills it in, submits it, follows the redirect,
shows the answer and keeps the cookie with its flags. The values posted
arrive exactly (UTF-8 and HTML specials included), the screenshots are PNGs
of the viewport's width, the form's is not blank and a blank page's is,
a page answered 404 is seen as such, and a failing step is reported as
failed and ends the script. Skips only when chromium, node
or playwright-core is not installed (./quickstart check installs them)."""

import html
import http.server
import os
import ssl
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

import browser as B  # noqa: E402
import tls_helpers as TL  # noqa: E402

NAME = "Zo\u00eb <b>&amp; \"O'Brien\""
PASSWORD = "p\u00e4ss w\u00f6rd+=&%"
CSP = "default-src 'self'; script-src 'none'; style-src 'self'; frame-ancestors 'none'"
COOKIE = "harness=c0ffee; Path=/; Secure; HttpOnly; SameSite=Strict"

FORM = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Harness form</title></head>
<body><h1>Harness form</h1>
<form method="post" action="/submit">
<p><label>Name <input name="name" id="name"></label></p>
<p><label>Password <input type="password" name="password" id="password"></label></p>
<p><label><input type="checkbox" name="vacation" value="on" id="vacation"> On holiday</label></p>
<p><select name="size" id="size"><option value="1M">1M</option><option value="10M">10M</option></select></p>
<input type="hidden" name="csrf" value="token-123">
<p><button type="submit" id="go">Save</button></p>
</form></body></html>
"""


class Site(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr):
        super().__init__(addr, Handler)
        self.posts = []         # (path, content type, {field: [values]}, client address)
        self.clients = set()
        self.agents = set()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def page(self, code, body, headers=()):
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def seen(self):
        self.server.clients.add(self.client_address[0])
        self.server.agents.add(self.headers.get("User-Agent", ""))

    def do_GET(self):
        self.seen()
        if self.path == "/":
            self.page(200, FORM)
        elif self.path == "/done":
            last = self.server.posts[-1][2] if self.server.posts else {}
            self.page(200, "<!DOCTYPE html><title>Saved</title><h1>Saved</h1>"
                      "<p id=\"got\">received name=%s</p>"
                      % html.escape(last.get("name", [""])[0]))
        elif self.path == "/blank":
            self.page(200, "<!DOCTYPE html><title>Blank</title><body></body>")
        else:
            self.page(404, "<!DOCTYPE html><title>Not found</title><p>Not found</p>")

    def do_POST(self):
        self.seen()
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8")
        fields = urllib.parse.parse_qs(body, keep_blank_values=True)
        self.server.posts.append((self.path, self.headers.get("Content-Type", ""), fields,
                                  self.client_address[0]))
        # Post/Redirect/Get, as the web pages will.
        self.send_response(303)
        self.send_header("Location", "/done")
        self.send_header("Set-Cookie", COOKIE)
        self.send_header("Content-Length", "0")
        self.end_headers()


def serve(workdir):
    pki = TL.Pki(workdir)
    cert, key = pki.issue(os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    site = Site(("127.0.0.1", 0))
    site.socket = ctx.wrap_socket(site.socket, server_side=True)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    return site


def main():
    reason = B.missing()
    if reason:
        T.skip_all(reason)
    t = T.Tap()
    srv = T.Server()        # only for its temporary directory, never started
    site = None
    started = time.monotonic()
    try:
        site = serve(srv.dir)
        base = "https://127.0.0.1:%d" % site.server_address[1]
        form_png = os.path.join(srv.dir, "form.png")
        done_png = os.path.join(srv.dir, "done.png")
        blank_png = os.path.join(srv.dir, "blank.png")
        br = B.Browser(srv.dir)
        run = br.run([
            {"goto": base + "/nowhere", "status": 404},
            {"goto": base + "/blank"},
            {"screenshot": blank_png, "full_page": False},
            {"goto": base + "/"},
            {"expect_title": "Harness form"},
            {"fill": "#name", "value": NAME},
            {"fill": "#password", "value": PASSWORD},
            {"check": "#vacation"},
            {"select": "#size", "value": "10M"},
            {"screenshot": form_png},
            {"click": "#go", "wait_url": "/done"},
            {"expect_url": "/done"},
            {"expect_text": "received name=" + NAME, "selector": "#got"},
            {"expect_cookie": "harness", "httpOnly": True, "secure": True,
             "sameSite": "Strict", "as": "cookie"},
            {"text": "h1", "as": "heading"},
            {"screenshot": done_png},
        ], tap=t)
        t.ok(run.ok, "Chromium ran every step (%.1f s)" % run.seconds,
             None if run.ok else run.failure())
        t.eq(len(site.posts), 1, "one POST arrived")
        if site.posts:
            path, ctype, fields, client = site.posts[0]
            t.eq((path, ctype), ("/submit", "application/x-www-form-urlencoded"),
                 "posted to the form's action, urlencoded")
            t.eq(fields, {"name": [NAME], "password": [PASSWORD], "vacation": ["on"],
                          "size": ["10M"], "csrf": ["token-123"]},
                 "the values typed, checked, chosen and the hidden token arrived exactly")
        t.eq(site.clients, {"127.0.0.1"}, "the browser came from 127.0.0.1 only")
        t.ok(any("HeadlessChrome" in a for a in site.agents),
             "a real headless Chromium asked", repr(site.agents))
        cookie = run.value("cookie") or {}
        t.eq(cookie.get("value"), "c0ffee", "the cookie's value is read back")
        t.eq(run.value("heading"), "Saved", "an element's text is read back")
        for path, what in ((form_png, "form"), (done_png, "answer"), (blank_png, "blank")):
            try:
                w, h, rows = B.png_rows(path)
                t.ok(w == 1024 and h >= 100, "%s screenshot: a PNG 1024 wide (%dx%d)"
                     % (what, w, h))
            except (OSError, ValueError) as e:
                t.ok(False, "%s screenshot: a PNG 1024 wide" % what, str(e))
        for path, what, blank in ((form_png, "form", False), (done_png, "answer", False),
                                  (blank_png, "blank page", True)):
            try:
                n = B.png_distinct_rows(path)
                t.ok(B.png_blank(path) == blank, "the %s screenshot is %s (%d distinct rows)"
                     % (what, "blank" if blank else "not blank", n))
            except (OSError, ValueError) as e:
                t.ok(False, "the %s screenshot is read" % what, str(e))

        if os.environ.get("ISPMAILD_DOCS_IMAGES") != "1":
            t.eq(B.docs_image(form_png, "harness-form.png"), None,
                 "an ordinary run copies no screenshot into docs/images")

        # A step that fails is reported, and stops the script.
        bad = br.run([
            {"goto": base + "/"},
            {"expect_text": "no such text", "selector": "h1", "timeout_ms": 1000},
            {"screenshot": os.path.join(srv.dir, "never.png")},
        ], tap=t)
        t.ok(not bad.ok and bad.rc == 1, "a failing step fails the run", bad.failure())
        t.eq([(s["n"], s["ok"]) for s in bad.steps], [(1, True), (2, False)],
             "the driver stopped at the failing step")
        t.ok("Harness form" in (bad.steps[-1]["error"] or ""),
             "its reason shows what the page had", bad.failure())
        t.ok(not os.path.exists(os.path.join(srv.dir, "never.png")),
             "nothing after it ran")
        t.diag("browser_harness: %.1f s in all" % (time.monotonic() - started))
    except T.SkipTest as e:
        T.skip_all(str(e))
    except T.HarnessError as e:
        T.bail_out(str(e))
    finally:
        if site is not None:
            site.shutdown()
            site.server_close()
        srv.cleanup()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
