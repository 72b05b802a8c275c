#!/usr/bin/env python3
"""refusal_counts.py: every refusal the SMTP side logs is counted (issue 12).

A mixed run of sessions, good and bad commands of every kind: MAIL with a
bad path, a SIZE over the limit, a bad parameter; RCPT with a bad path,
the null path, relaying denied (550), first-pop (553),
an unknown user, one too many recipients, RCPT without "TO:"; DATA with
a bare LF and DATA before RCPT; a NUL in a command; MAIL without AUTH on
submission (530); AUTH in the clear from outside and a malformed AUTH
PLAIN. Then:

- every 4xx/5xx reply the client got to MAIL, RCPT and DATA has its
  "result=reject" log line, or past the first 5 relay refusals of a
  session its share of the "rcpt-refusals" summary line (nothing refused
  silently);
- the log's refusals, grouped by their reason, are exactly the
  ispmaild_rcpt_rejected_total{reason=...} counters of GET /metrics and
  the "rejected" line of `ispmailctl status`;
- the failed logins the log shows are the logins_failed counters."""

import base64
import collections
import os
import re
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import harden_helpers as X  # noqa: E402

USER, PASSWORD = "alice@example.test", "secret"
REASONS = ("first-pop", "denied", "auth-required", "unknown-user", "syntax",
           "limit", "data")


def counter_of(verb, code, reason):
    """The counter a logged refusal belongs to (see common/stats.h)."""
    if reason in ("relay=first-pop", "first-pop"):
        return "first-pop"
    if reason in ("relay=denied", "denied"):
        return "denied"
    if reason in ("auth-required", "unknown-user"):
        return reason
    if reason in ("max_recipients", "size") or code == 552:
        return "limit"
    if verb == "data" and reason not in ("syntax", "sequence"):
        return "data"       # bare LF, NUL, long lines, too many hops
    return "syntax"


def log_refusals(log):
    """[(verb, code, counter)] of the SMTP refusal lines in the log."""
    out = []
    for line in log.splitlines():
        m = re.search(r": \w+: s=\w+ (mail|rcpt|data|command) .*\bresult=reject\b", line)
        if not m:
            continue
        code = re.search(r" code=(\d+)", line)
        reason = re.search(r" reason=(\S+)", line) or re.search(r" (relay=\S+)", line)
        verb = m.group(1)
        code = int(code.group(1)) if code else 0
        out.append((verb, code, counter_of(verb, code, reason.group(1) if reason else "")))
    # Past the first few, relay refusals are summed up at the session's end.
    for m in re.finditer(r" rcpt-refusals count=\d+ unlogged=\d+((?: [\w-]+=\d+)*)$", log, re.M):
        for name, n in re.findall(r" ([\w-]+)=(\d+)", m.group(1)):
            out += [("rcpt", 0, name)] * int(n)
    return out


def refused(replies):
    return [r for r in replies if r and r[0] in "45"]


def session_outside(srv):
    """Port 25 from 127.0.0.2: bad and good MAIL, RCPT and DATA."""
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    got = []
    got.append(s.cmd("MAIL FROM:<bad address"))                    # 501 syntax
    got.append(s.cmd("MAIL FROM:<s@remote.example> SIZE=99999999999"))  # 552
    got.append(s.cmd("MAIL FROM:<s@remote.example> FOO=bar"))       # 555
    got.append(s.cmd("MAIL TO:<s@remote.example>"))                 # 501
    got.append(s.cmd("DATA"))                                       # 503
    got.append(s.cmd("MAIL FROM:<s@remote.example>"))               # 250
    got.append(s.cmd("RCPT TO:<%s>" % USER))                        # 250
    got.append(s.cmd("RCPT TO:<bad syntax"))                        # 501 syntax
    got.append(s.cmd("RCPT TO:<>"))                                 # 501 syntax
    got.append(s.cmd("RCPT TO:<x@remote.example>"))                 # 550 denied
    got.append(s.cmd("RCPT TO:<nobody@example.test>"))              # 550 unknown
    got.append(s.cmd("RCPT TO:<bob@example.test>"))                # 250 (2 of 2)
    got.append(s.cmd("RCPT TO:<%s>" % USER))                        # 452 limit
    got.append(s.cmd("RCPT <%s>" % USER))                           # 501
    go = s.cmd("DATA")                                              # 354
    got.append(go)
    if go.startswith("354"):
        s.send(b"Subject: bare\nLF\r\n.\r\n")
        got.append(s.last())                                        # 550 data
    s.quit()
    # The 354 is no refusal and the 250s are none either.
    return got


def session_relay_probe(srv):
    """7 relay attempts: 5 logged one by one, 2 in the summary line."""
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    got = [s.cmd("MAIL FROM:<s@remote.example>")]
    got += [s.cmd("RCPT TO:<r%d@remote.example>" % i) for i in range(7)]
    s.quit()
    return got


def session_nul(srv):
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    s.send(b"NO\x00OP\r\n")
    r = s.last()
    s.quit()
    return r


def session_customer(srv):
    """127.0.0.1 without a POP login: 553 first-pop, then a good message."""
    s = H.Smtp(srv, "smtp", T.CUSTOMER)
    s.hello(False)
    got = [s.cmd("MAIL FROM:<%s>" % USER), s.cmd("RCPT TO:<x@remote.example>")]
    got += [s.cmd("RCPT TO:<x2@remote.example>")]
    s.quit()
    s = H.Smtp(srv, "smtp", T.OUTSIDER)
    s.hello(True)
    got += s.transaction("s@remote.example", [USER], b"Subject: ok\r\n\r\nok\r\n")
    s.quit()
    return got


def session_submission(srv):
    """Submission from outside: 530 at MAIL, AUTH refused in the clear."""
    s = H.Smtp(srv, "submission", T.OUTSIDER)
    s.hello(True)
    got = [s.cmd("MAIL FROM:<s@remote.example>")]                   # 530
    auth = [s.cmd("AUTH PLAIN " + base64.b64encode(b"\0a\0b").decode())]  # 538
    s.quit()
    # From the customer network plaintext is fine: a malformed PLAIN.
    s = H.Smtp(srv, "submission", T.CUSTOMER)
    s.hello(True)
    auth.append(s.cmd("AUTH PLAIN " + base64.b64encode(b"only-a-name").decode()))  # 535
    auth.append(s.cmd("AUTH PLAIN " + base64.b64encode(
        b"\0" + USER.encode() + b"\0wrong").decode()))              # 535
    s.quit()
    return got, auth


def metrics(srv):
    url = "http://127.0.0.1:%d/metrics" % srv.ports["metrics"]
    return urllib.request.urlopen(url, timeout=10).read().decode()


def main():
    fx = X.Frame()
    t = fx.t
    srv = fx.server(services=("smtp", "submission", "metrics"), config={
        "limits.max_recipients": 2, "limits.message_size": 100000})
    srv.add_user(USER, PASSWORD)
    srv.add_user("bob@example.test", PASSWORD)
    srv.start()
    replies = session_outside(srv)
    nul = session_nul(srv)
    replies += session_customer(srv)
    replies += session_relay_probe(srv)
    sub, auth = session_submission(srv)
    replies += sub
    t.eq(nul[:4], "500 ", "a NUL in a command: 500")
    t.eq([r[:3] for r in refused(replies)],
         ["501", "552", "555", "501", "503", "501", "501", "550", "550", "452",
          "501", "550", "553", "553"] + ["550"] * 7 + ["530"],
         "the client saw the refusals it provoked")
    t.eq([r[:3] for r in auth], ["538", "535", "535"], "AUTH refused three times")

    # Every session has logged its end before the counters are read.
    t.ok(H.wait_for(lambda: srv.log().count(" disconnect ") >= 7, 10),
         "every session ended")
    log = srv.log()
    logged = log_refusals(log)
    t.ok(len(logged) == len(refused(replies)) + 1,
         "every MAIL/RCPT/DATA refusal and the NUL one is in the log (its line or a summary)",
         "\n".join(l for l in log.splitlines() if "result=reject" in l))
    by_reason = collections.Counter(c for _, _, c in logged)
    want = {r: by_reason.get(r, 0) for r in REASONS}
    t.ok(all(want[r] > 0 for r in REASONS), "the run provoked every kind of refusal",
         repr(want))

    text = metrics(srv)
    got = {}
    for r in REASONS:
        m = re.search(r'^ispmaild_rcpt_rejected_total\{reason="%s"\} (\d+)$' % r, text, re.M)
        got[r] = int(m.group(1)) if m else None
    t.eq(got, want, "GET /metrics: rcpt_rejected_total by reason = the log's refusals")
    status = X.status_counters(srv)
    t.eq({r: status.get(("rejected", r)) for r in REASONS}, want,
         "ispmailctl status: rejected by reason = the log's refusals")

    fails = collections.Counter(
        m.group(1) for m in re.finditer(
            r"login (?:user=\S+ )?result=(?:fail|refused) (?:\S+ )*?service=(\w+)", log))
    for svc in ("smtp", "submission"):
        m = re.search(r'^ispmaild_logins_failed_total\{service="%s"\} (\d+)$' % svc,
                      text, re.M)
        t.eq(int(m.group(1)) if m else None, fails.get(svc, 0),
             "logins_failed_total{service=%s} = the log's failed logins" % svc)
    t.eq(fails.get("submission", 0), 3, "the log shows 3 refused logins on submission")
    return fx.done()


if __name__ == "__main__":
    sys.exit(main())
