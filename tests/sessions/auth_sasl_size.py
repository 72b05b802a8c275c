#!/usr/bin/env python3
"""auth_sasl_size.py: SMTP AUTH and POP3 AUTH take the same PLAIN messages
and refuse the same ones, with the same log line and the same counter
(RFC 4616: authzid, authcid and passwd up to 255 octets each, so a PLAIN
message is up to 767 octets and its base64 up to 1024 characters).

- A 602-octet message (authzid = authcid = a 255-octet address, a 90-octet
  password) and a full-size 767-octet one (255-octet password) log in on
  both, sent as the response to the empty challenge ("334 " / "+ "): RFC
  4954 4 and RFC 5034 4 let an AUTH response line be longer than a command.
- As an initial response on the AUTH line the same message would make the
  command longer than the protocol allows (512 octets SMTP, 255 POP3): a
  client must not send it so (same RFC sections); both refuse it as too long
  and nobody is logged in.
- A malformed message (good base64, no second NUL; or an authzid that is
  not the user) is a failed login on both, initial response and
  continuation alike: 535 / -ERR [AUTH], the line
  `login user=- result=fail method=PLAIN service=S client=A reason=malformed
  pause_ms=200` and one more "logins failed" for the service.
- Bad base64 is refused with the protocol's base64 error on both, logged as
  `... reason=bad-base64 pause_ms=0` and counted the same way.
"""

import base64
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as H  # noqa: E402

# A 255-octet address: 64-octet local part, a 190-octet domain.
LONG_DOMAIN = "a" * 63 + "." + "b" * 63 + "." + "c" * 62
LONG1 = "x" * 64 + "@" + LONG_DOMAIN
LONG2 = "y" * 64 + "@" + LONG_DOMAIN
PASS1 = "p" * 90                      # 255 + 255 + 90 + 2 = 602
PASS2 = "q" * 255                     # 255 + 255 + 255 + 2 = 767
CUSTOMER = T.CUSTOMER
# Each refusal from an address of its own, so that the failed-login pause
# (which grows per address) stays at its first step: the test stays short.
SOURCES = ["127.0.0.%d" % i for i in range(20, 60)]


def b64(raw):
    return base64.b64encode(raw).decode()


MSG602 = b64(LONG1.encode() + b"\0" + LONG1.encode() + b"\0" + PASS1.encode())
MSG767 = b64(LONG2.encode() + b"\0" + LONG2.encode() + b"\0" + PASS2.encode())
# Short enough for a POP3 command line as initial response.
MALFORMED = [
    ("no second NUL", b64(b"\0demo@example.test")),
    ("authzid is somebody else", b64(b"eve\0demo@example.test\0secret")),
]
BAD_B64 = "ZGVt=bw=="


def counters(srv):
    """{"ok": {service: n}, "failed": {service: n}} from ispmailctl status."""
    rc, out, err = srv.ctl_run("status")
    got = {}
    for key, name in (("ok", "logins ok"), ("failed", "logins failed")):
        m = re.search(r"^\s*%s\b(.*)$" % name, out, re.M)
        if not m:
            raise T.HarnessError("no %r in ispmailctl status:\n%s%s" % (name, out, err))
        got[key] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}
    return got


def smtp_session(srv, source):
    s = S.Smtp(srv, "smtp", source)
    s.hello()
    return s


def pop_session(srv, source):
    c = srv.connect("pop3", source)
    c.expect(r"\+OK")
    return c


def smtp_try(srv, steps, source=CUSTOMER):
    """Send steps (lines); the replies (None after a close)."""
    s = smtp_session(srv, source)
    got = []
    for line in steps:
        try:
            got.append(s.cmd(line))
        except T.ProtocolError:
            got.append(None)
            break
    s.close()
    return got


def pop_try(srv, steps, source=CUSTOMER):
    c = pop_session(srv, source)
    got = [c.command(line) for line in steps]
    c.close()
    return got


def sizes(t, srv):
    for what, msg, user in (("602-octet PLAIN", MSG602, LONG1),
                            ("767-octet (full-size) PLAIN", MSG767, LONG2)):
        t.eq(smtp_try(srv, ["AUTH PLAIN", msg]), ["334 ", H.AUTH_OK],
             "SMTP: %s as a continuation line (%d base64 characters) logs in"
             % (what, len(msg)))
        t.eq(pop_try(srv, ["AUTH PLAIN", msg]), ["+ ", H.POP_LOGIN_OK % 0],
             "POP3: %s as a continuation line (%d base64 characters) logs in"
             % (what, len(msg)))
    mark = len(srv.log())
    got = smtp_try(srv, ["AUTH PLAIN " + MSG602])
    t.eq(got, ["500 5.5.2 Error: line too long"],
         "SMTP: the 602-octet message as initial response: too long a command")
    got = pop_try(srv, ["AUTH PLAIN " + MSG602, "STAT"])
    t.eq(got, ["-ERR Line too long.", "-ERR Command not valid in this state."],
         "POP3: the 602-octet message as initial response: too long a command, "
         "not logged in")
    t.ok(" result=ok" not in srv.log()[mark:],
         "nobody logged in by an overlong AUTH line", srv.log()[mark:])


def refusals(t, srv):
    before = counters(srv)
    mark = len(srv.log())
    n = 0
    src = iter(SOURCES)
    for what, msg in MALFORMED:
        t.eq(smtp_try(srv, ["AUTH PLAIN " + msg], next(src)), [H.AUTH_FAILED],
             "SMTP: malformed (%s), initial response: 535" % what)
        t.eq(smtp_try(srv, ["AUTH PLAIN", msg], next(src)), ["334 ", H.AUTH_FAILED],
             "SMTP: malformed (%s), continuation: 535" % what)
        t.eq(pop_try(srv, ["AUTH PLAIN " + msg], next(src)), [H.POP_AUTH_FAILED],
             "POP3: malformed (%s), initial response: -ERR [AUTH]" % what)
        t.eq(pop_try(srv, ["AUTH PLAIN", msg], next(src)), ["+ ", H.POP_AUTH_FAILED],
             "POP3: malformed (%s), continuation: -ERR [AUTH]" % what)
        n += 2
    t.eq(smtp_try(srv, ["AUTH PLAIN " + BAD_B64]), [H.AUTH_BASE64],
         "SMTP: bad base64, initial response")
    t.eq(smtp_try(srv, ["AUTH PLAIN", BAD_B64]), ["334 ", H.AUTH_BASE64],
         "SMTP: bad base64, continuation")
    t.eq(pop_try(srv, ["AUTH PLAIN " + BAD_B64]), [H.POP_AUTH_BASE64],
         "POP3: bad base64, initial response")
    t.eq(pop_try(srv, ["AUTH PLAIN", BAD_B64]), ["+ ", H.POP_AUTH_BASE64],
         "POP3: bad base64, continuation")
    after = counters(srv)
    for svc in ("smtp", "pop3"):
        t.eq(after["failed"].get(svc, 0) - before["failed"].get(svc, 0), n + 2,
             "logins failed %s: +%d (%d malformed, 2 bad base64)" % (svc, n + 2, n))
        t.eq(after["ok"].get(svc, 0) - before["ok"].get(svc, 0), 0,
             "logins ok %s: unchanged" % svc)
    log = srv.log()[mark:]
    for svc in ("smtp", "pop3"):
        for reason, count, pause in (("malformed", n, "200"), ("bad-base64", 2, "0")):
            want = (r" s=\w+ login user=- result=fail method=PLAIN service=%s "
                    r"client=127\.0\.0\.\d+ reason=%s (?:failures=\d+ )?pause_ms=%s$" % (svc, reason, pause))
            hits = [l for l in log.splitlines() if re.search(want, l)]
            t.eq(len(hits), count, "%s: %d lines 'login user=- result=fail "
                 "method=PLAIN service=%s client=... reason=%s pause_ms=%s'"
                 % (svc, count, svc, reason, pause))
    t.ok("bad-name" not in log, "a malformed PLAIN is not a bad name", log)


def main():
    t = T.Tap()
    srv = T.Server(services=("pop3", "smtp"),
                   config={"domains": T.DOMAINS + [LONG_DOMAIN],
                           "limits.auth_failures": 10,
                           "relay.plaintext_auth": True})
    srv.add_user(LONG1, PASS1)
    srv.add_user(LONG2, PASS2)
    srv.start()
    try:
        sizes(t, srv)
        refusals(t, srv)
    except (T.ProtocolError, T.HarnessError, OSError) as e:
        t.ok(False, "session ran to the end", str(e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
