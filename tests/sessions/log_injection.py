#!/usr/bin/env python3
"""log_injection.py: text from clients and remote servers cannot plant
key=value fields in the log or control bytes on the admin's terminal
(docs/SECURITY.md "Log and terminal injection").

Quoted local parts with a space and '=' in MAIL FROM and RCPT TO (local,
relayed, refused), HELO names, POP3 user names, and a remote server's
reply with ESC, '"' and "key=value" in it go through the daemon; then
every log line must parse as key=value (bare words, key=token or
key="..." with \\" \\\\ \\xNN escapes), no key may be a planted one, and no
control byte may be in the log. `ispmailctl queue list` of a message
whose sender and last reply hold ESC bytes prints no raw ESC."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import outbound_helpers as O  # noqa: E402
from sink import Sink  # noqa: E402

ESC = "\x1b"
BOB = "bob@remote.test"
NASTY_REPLY = '451 4.3.0 ' + ESC + '[31mred planted_reply=1 "q" back\\slash'
LINE_RE = re.compile(r"^\S+ ispmaild\[\d+\]: (debug|info|warning|error|fatal): (.*)$")
TOKEN_RE = re.compile(r'\s*(?:([^\s="\\]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)|([^\s="\\]+))(?=\s|$)')


def parse(rest):
    """The keys of a log line's key=value part; None when it does not parse."""
    keys, pos = [], 0
    while pos < len(rest):
        m = TOKEN_RE.match(rest, pos)
        if not m or m.end() == pos:
            return None
        if m.group(1):
            keys.append(m.group(1))
        pos = m.end()
    return keys


def smtp_session(srv, source, helo, lines):
    """EHLO helo, then each line; the replies (protocol errors end it)."""
    s = H.Smtp(srv, "smtp", source)
    out = []
    try:
        out.append(s.cmd("EHLO " + helo))
        for ln in lines:
            out.append(s.cmd(ln))
        s.quit()
    except (T.ProtocolError, OSError) as e:
        out.append("error: %s" % e)
        s.close()
    return out


def pop_user(srv, name):
    c = srv.connect("pop3", T.CUSTOMER)
    try:
        c.expect(r"\+OK")
        c.sendline("USER " + name)
        c.readline()
        c.sendline("PASS wrong")
        c.readline()
        c.sendline("QUIT")
    except (T.ProtocolError, OSError):
        pass
    finally:
        c.close()


def main(t, fx):
    sink = fx.add(Sink())
    sink.script_rcpt(BOB, [NASTY_REPLY] * 50)
    srv = fx.server({"relay.smarthost": sink.smarthost(),
                     "queue.retry_min": 300, "queue.retry_max": 600})
    srv.start()

    # Relayed (trusted client): a quoted sender and recipient.
    qid = O.relay(srv, '"x planted_from=1"@example.com',
                  [BOB, '"y planted_rcpt=1"@remote.test'],
                  H.to_wire(O.message("planted")), helo="helo.example")
    # Refused and local (outsider): HELO names, unknown local user, relay denied.
    for helo in ("evil planted_helo=1", '"quoted" x=1', "a\\b"):
        smtp_session(srv, T.OUTSIDER, helo, [
            'MAIL FROM:<"z planted_mail=1"@example.com>',
            'RCPT TO:<"w planted_local=1"@example.test>',
            'RCPT TO:<"v planted_relay=1"@far.example>',
            'RCPT TO:<"u\\"planted_quote=1"@far.example>',
        ])
    # POP3 user names.
    for name in ("u planted_user=1@example.test", '"q planted_user2=1"@example.test',
                 "x\x01planted_user3=1@example.test"):
        pop_user(srv, name)

    st = O.wait_envelope(srv, qid, lambda s: s.get(BOB) == ("pending", 1), 15)
    t.eq(st.get(BOB), ("pending", 1), "the remote 451 with ESC is the last reply")

    # ispmailctl queue list: ESC in the reply (from the remote) and in the
    # sender (an envelope written by hand, as a broken or hostile tool could).
    env = os.path.join(srv.state_dir, "queue", "env", qid)
    with open(env, "rb") as f:
        text = f.read()
    text = re.sub(rb"(?m)^sender .*$", b"sender esc\x1b[2Jcleared@example.com", text)
    with open(env, "wb") as f:
        f.write(text)
    rc, out, err = srv.ctl_run("queue", "list")
    t.eq(rc, 0, "queue list exits 0")
    t.ok(qid in out, "queue list shows the message", out)
    t.ok(ESC not in out and ESC not in err, "queue list prints no raw ESC", repr(out))
    t.ok("\\x1b[31mred" in out, "the reply's ESC is written \\x1b", repr(out))
    t.ok("\\x1b[2Jcleared" in out, "the sender's ESC is written \\x1b", repr(out))
    want = '    %s: 451 4.3.0 \\x1b[31mred planted_reply=1 \\"q\\" back\\\\slash' % BOB
    t.ok(want in out.splitlines(), "the reply line: ESC, \" and \\ escaped, no more",
         "want %r in %r" % (want, out))

    srv.stop()
    log = srv.log()
    bad_bytes = [l for l in log.splitlines() if re.search(r"[\x00-\x1f\x7f]", l)]
    t.eq(bad_bytes, [], "no control byte in the log")
    planted, unparsed, n = [], [], 0
    for line in log.splitlines():
        m = LINE_RE.match(line)
        if not m:
            continue
        n += 1
        keys = parse(m.group(2))
        if keys is None:
            unparsed.append(line)
            # What a naive reader (split on blanks) would take for keys.
            keys = [w.split("=", 1)[0] for w in m.group(2).split() if "=" in w]
        if any("planted" in k for k in keys):
            planted.append(line)
    t.ok(n > 20, "the log has lines to check (%d)" % n)
    t.eq(unparsed, [], "every log line parses as key=value")
    t.eq(planted, [], "no planted key in any log line")
    for what, pat in (("the quoted sender", r'from="<\\"x planted_from=1\\"@example\.com>"'),
                      ("the quoted recipient", r'to="<\\"y planted_rcpt=1\\"@remote\.test>"'),
                      ("the remote reply", r'reply="451 4\.3\.0 \\x1b\[31mred planted_reply=1 '
                                           r'\\"q\\" back\\\\slash"')):
        t.ok(re.search(pat, log), "logged, quoted: " + what)
    t.ok(re.search(r"from=<a@b\.example>|from=<user@example\.test>|rcpt to=<bob@remote\.test> result=ok",
                   log), "plain addresses are logged as before")


if __name__ == "__main__":
    sys.exit(O.run(main))
