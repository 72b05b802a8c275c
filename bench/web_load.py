#!/usr/bin/env python3
"""bench/web_load.py: the web pages under load (issue 17). N concurrent
clients (20 by default) for S seconds (20) against one ispmaild on
loopback, each on its own kept-alive HTTPS connection, alternating the
login page (GET / without a session) and the account page (GET / with a
session: quota usage, the relay table lookup, the users file). Printed:
requests per second, and p50/p99 latency per page. Every answer must be a
200; anything else fails the run.

  bench/web_load.py [--clients 20] [--seconds 20]

Environment: top_builddir as for the tests. The client is Python (one
process, threads): on a small machine it shares the cores with the daemon,
so the figures are a floor for the server, not a ceiling.
"""

import argparse
import http.client
import os
import re
import ssl
import sys
import threading
import time
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import ispmaild_test as T  # noqa: E402


def connection(srv):
    ctx = ssl.create_default_context(cafile=srv.cert)
    ctx.check_hostname = False
    return http.client.HTTPSConnection("127.0.0.1", srv.ports["web"], context=ctx, timeout=30)


def login(srv, user):
    c = connection(srv)
    c.request("POST", "/login", body=urlencode({"address": user, "password": "secret-pw"}),
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    c.close()
    m = re.match(r"ispmaild_session=([0-9a-f]{64});", r.getheader("Set-Cookie") or "")
    if not m:
        raise T.HarnessError("login of %s failed: %d" % (user, r.status))
    return m.group(1)


def worker(srv, sid, until, lat, errors):
    c = connection(srv)
    n = 0
    while time.time() < until:
        page = "account" if n % 2 else "login"
        headers = {"Cookie": "ispmaild_session=" + sid} if page == "account" else {}
        t0 = time.perf_counter()
        try:
            c.request("GET", "/", headers=headers)
            r = c.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException) as e:
            errors.append("%s: %s" % (page, e))
            c.close()
            c = connection(srv)
            continue
        lat[page].append(time.perf_counter() - t0)
        if r.status != 200 or (page == "account" and b"Can I send?" not in body):
            errors.append("%s: %d" % (page, r.status))
        n += 1
    c.close()


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] * 1000 if v else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20)
    a = ap.parse_args()
    srv = T.Server(services=("pop3", "web"), tls=True, config={
        "limits.max_per_ip": a.clients + 10, "limits.max_connections": a.clients + 20})
    users = ["u%d@example.test" % i for i in range(a.clients)]
    for u in users:
        srv.add_user(u, "secret-pw")
        srv.deliver(u, b"Subject: hello\n\nhello\n")
    srv.start()
    try:
        sids = [login(srv, u) for u in users]
        lat = [{"login": [], "account": []} for _ in users]
        errors = []
        start = time.time()
        until = start + a.seconds
        threads = [threading.Thread(target=worker, args=(srv, sids[i], until, lat[i], errors))
                   for i in range(a.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.time() - start
        allv = {k: [x for l in lat for x in l[k]] for k in ("login", "account")}
        n = sum(len(v) for v in allv.values())
        print("clients %d seconds %.1f requests %d (%.0f/s) errors %d"
              % (a.clients, took, n, n / took, len(errors)))
        for k, v in allv.items():
            print("  %-8s n=%d p50 %.1f ms p99 %.1f ms" % (k, len(v), pct(v, 50), pct(v, 99)))
        for e in errors[:10]:
            print("  error:", e)
        return 1 if errors else 0
    finally:
        srv.cleanup()


if __name__ == "__main__":
    sys.exit(main())
