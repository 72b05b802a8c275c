#!/usr/bin/env python3
"""metrics.py: the shared counters are exact after 100 parallel sessions
(issue 8): 60 POP3 logins, 20 failed ones, 20 SMTP deliveries, all at once;
then GET /metrics (Prometheus text, checked by promtool when installed)
and `ispmailctl status` must say the same numbers; a wrong path is 404."""

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

GOOD, BAD, MAILS = 60, 20, 20
if os.environ.get("ISPMAILD_WRAPPER"):
    # Under valgrind every process is 20x slower: fewer, same arithmetic.
    GOOD, BAD, MAILS = 12, 4, 4


def pop3_login(srv, user, password, errors):
    try:
        c = srv.connect("pop3", timeout=30)
        c.expect(r"\+OK")
        c.command("USER " + user, r"\+OK")
        reply = c.command("PASS " + password, timeout=30)
        want = "+OK" if password == "secret" else "-ERR"
        if not reply.startswith(want):
            errors.append("PASS %s: %r" % (password, reply))
        c.command("QUIT", r"\+OK")
        c.close()
    except (T.ProtocolError, OSError) as e:
        errors.append("pop3: %s" % e)


def smtp_send(srv, n, errors):
    try:
        c = srv.connect("smtp", source=T.OUTSIDER, timeout=30)
        c.expect(r"220 ")
        c.command("HELO client%d.example" % n, r"250 ")
        c.command("MAIL FROM:<x%d@remote.example>" % n, r"250 ")
        c.command("RCPT TO:<alice@example.test>", r"250 ")
        c.command("DATA", r"354 ")
        c.send(b"Subject: %d\r\n\r\nhello\r\n.\r\n" % n)
        c.expect(r"250 ")
        c.command("QUIT", r"221 ")
        c.close()
    except (T.ProtocolError, OSError) as e:
        errors.append("smtp: %s" % e)


def metric(text, name, labels=""):
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else None


def main():
    tap = T.Tap()
    srv = T.Server(services=("pop3", "smtp", "metrics"), config={
        "limits.max_per_ip": 200, "limits.max_connections": 300})
    srv.add_user("alice@example.test", "secret")
    for i in range(GOOD):
        srv.add_user("u%d@example.test" % i, "secret")
    srv.start()
    errors = []
    # One mailbox per good login: a second session would get [IN-USE].
    threads = [threading.Thread(target=pop3_login,
                                args=(srv, "u%d@example.test" % i, "secret", errors))
               for i in range(GOOD)]
    threads += [threading.Thread(target=pop3_login,
                                 args=(srv, "alice@example.test", "wrong", errors))
                for _ in range(BAD)]
    threads += [threading.Thread(target=smtp_send, args=(srv, i, errors))
                for i in range(MAILS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    tap.ok(not errors, "%d parallel sessions all got the replies they expected"
           % (GOOD + BAD + MAILS),
           "\n".join(errors[:20]))

    url = "http://127.0.0.1:%d/metrics" % srv.ports["metrics"]
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    tap.eq(metric(text, "ispmaild_up"), 1.0, "ispmaild_up 1")
    tap.eq(metric(text, "ispmaild_connections_total", '{service="pop3"}'),
           float(GOOD + BAD), "connections_total pop3 = %d" % (GOOD + BAD))
    tap.eq(metric(text, "ispmaild_connections_total", '{service="smtp"}'),
           float(MAILS), "connections_total smtp = %d" % MAILS)
    tap.eq(metric(text, "ispmaild_logins_total", '{service="pop3"}'),
           float(GOOD), "logins_total pop3 = %d" % GOOD)
    tap.eq(metric(text, "ispmaild_logins_failed_total", '{service="pop3"}'),
           float(BAD), "logins_failed_total pop3 = %d" % BAD)
    tap.eq(metric(text, "ispmaild_messages_delivered_total", '{service="smtp"}'),
           float(MAILS), "messages_delivered_total smtp = %d" % MAILS)
    for _ in range(int(50 * T.PATIENCE)):  # the master counts a session until it reaps it
        if metric(text, "ispmaild_sessions", '{service="pop3"}') == 0.0:
            break
        time.sleep(0.2)
        text = urllib.request.urlopen(url, timeout=10).read().decode()
    tap.eq(metric(text, "ispmaild_sessions", '{service="pop3"}'), 0.0,
           "no POP3 session open now")
    tap.eq(metric(text, "ispmaild_relay_entries"), 1.0,
           "one relay table entry (127.0.0.1)")
    tap.eq(len(srv.files("alice@example.test")["new"]), MAILS,
           "%d messages in the Maildir" % MAILS)
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True)
        tap.ok(p.returncode == 0, "promtool check metrics is clean",
               (p.stdout + p.stderr).decode())
    else:
        tap.skip("promtool check metrics", "promtool not installed")
    try:
        urllib.request.urlopen(url.replace("/metrics", "/nothing"), timeout=10)
        tap.ok(False, "a wrong path is 404")
    except urllib.error.HTTPError as e:
        tap.eq(e.code, 404, "a wrong path is 404")

    rc, status, err = srv.ctl_run("status")
    tap.eq(rc, 0, "ispmailctl status exits 0")
    tap.ok(re.search(r"^daemon: running pid \d+", status, re.M),
           "status: daemon running", status)
    tap.ok(re.search(r"logins ok .* pop3=%d " % GOOD, status),
           "status: logins ok pop3=%d" % GOOD, status)
    tap.ok(re.search(r"logins failed .* pop3=%d " % BAD, status),
           "status: logins failed pop3=%d" % BAD, status)
    tap.ok("relay table: 1 entries" in status, "status: relay table size", status)
    return srv.finish(tap)


if __name__ == "__main__":
    sys.exit(main())
