#!/usr/bin/env python3
"""dkim_e2e.py: DKIM signing in the running daemon (SPEC §10, docs/ADMIN.md,
"Deliverability"), checked by two other implementations. A daemon with an
RSA key and an Ed25519 key for example.test, both made with the real
`ispmailctl dkim keygen`, takes customers' messages:

- through POP-before-SMTP on port 25 (a POP3 login from 127.0.0.1 first),
  through SMTP AUTH on 587 (STARTTLS) and on 465 (smtps), and from a
  trusted client (127.0.0.3);
- an 8-bit body (BODY=8BITMIME), long header lines folded by the client,
  leading dots, a 997-octet line starting with a dot, a body that ends
  with its one CRLF, one that ends with empty lines, a body of 1.5 MB
  (past the part held in memory), headers and no body, a display name
  with quotes, '@' and '<';

each to a remote recipient (relayed by our queue to a sink SMTP server on
loopback) and to a local one. Both copies must carry two DKIM-Signature
fields on top (RSA first) and verify with python3-dkim (dkimpy, its dnsfunc
answering with the records ispmailctl printed) and with
opendkim-testmsg (in its own namespaces with a dnsmasq, as dkim_verify.py
does): the sink's copy as it arrived, the Maildir copy without its
Return-Path line, LF turned to CRLF as POP3 would send it (and POP3 RETR
must serve exactly those bytes). A changed body
or Subject must fail with both (so the verifiers really check).

Not signed: an outsider's inbound mail (127.0.0.2 to a local user), and a
From: domain without a key (example.org). The log says `dkim
result=signed domain=example.test signatures=2` for each signed message. A
garbage .key file added, a reload is refused naming that file while
signing goes on with the old keys; `ispmaild -t` fails naming it. Key
rotation as docs/ADMIN.md tells it: a second RSA selector added and
reloaded signs beside the old one; the old key moved away, it no longer
signs.

python3-dkim installs for Debian's /usr/bin/python3: when the python3 that
runs this test cannot import dkim, the test runs itself again with that
one."""

import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import ispmaild_test as T  # noqa: E402
import outbound_helpers as O  # noqa: E402
import smtp_helpers as S  # noqa: E402
import tls_helpers as TH  # noqa: E402
import dkim_verify as V  # noqa: E402
from sink import Sink  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
DOMAIN = "example.test"
RSA_SEL, ED_SEL = "rsa2026", "ed2026"
USER, PASSWORD = "demo@example.test", "dkim-secret"
LOCAL = "bob@example.test"
REMOTE = "friend@remote.test"
AUTH_CLIENT = "127.0.0.4"   # in no network: only SMTP AUTH authorizes it
DATE = b"Date: Sat, 05 Dec 2026 12:00:00 +0000\r\n"
SIGNED_LOG = "dkim result=signed domain=%s signatures=2" % DOMAIN


def headers(mid, subject, sender=b"Demo <demo@example.test>"):
    return (b"From: " + sender + b"\r\nTo: Friend <friend@remote.test>\r\n"
            b"Cc: Bob <bob@example.test>\r\nSubject: " + subject + b"\r\n" + DATE +
            b"Message-ID: <" + mid + b"@example.test>\r\n")


def long_headers(mid):
    to = b"To: " + b",\r\n ".join(b"Person %d <p%d@remote.test>" % (i, i)
                                  for i in range(12)) + b",\r\n Friend <friend@remote.test>\r\n"
    subj = (b"Subject: a subject that goes on for a good while, longer than any line\r\n"
            b"\tshould be, folded with a tab,   and with   runs of   spaces  \r\n"
            b"   and a third line\r\n")
    refs = b"References: " + b"\r\n\t".join(b"<%d.%s@example.test>" % (i, b"x" * 40)
                                          for i in range(8)) + b"\r\n"
    return (b"From: Demo <demo@example.test>\r\n" + to + b"Cc: <bob@example.test>\r\n" + subj +
            DATE + refs + b"Message-ID: <" + mid + b"@example.test>\r\n")


# label -> (how it is sent, the message as the client sends it: CRLF,
# not dot-stuffed: smtplib does that)
CASES = [
    ("POP-before-SMTP on port 25", "pop",
     headers(b"pop", b"after a POP3 login") + b"\r\nHello from the customer.\r\n"),
    ("8-bit body and Subject", "pop8",
     headers(b"eight", b"caf\xc3\xa9 \xe2\x82\xac") +
     b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: 8bit\r\n\r\n"
     b"Caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e\r\n\xe2\x82\xac 5\r\nLatin-1: \xe9\r\n"),
    ("long header lines folded by the client", "pop",
     long_headers(b"long") + b"\r\nBody under long headers.\r\n"),
    ("leading dots, a long line, ends with its one CRLF", "pop",
     headers(b"dots", b"dots") + b"\r\n.\r\n..two\r\n.three\r\n" + b"y" * 990 +
     b"\r\nlast line\r\n"),
    # The longest such line ispmaild takes: 998 octets on the wire with
    # the stuffed dot (the DATA reader counts it; RFC 5321 4.5.3.1.6 would not).
    ("a 997-octet line that starts with a dot (998 dot-stuffed)", "pop",
     headers(b"dot997", b"dot997") + b"\r\n." + b"z" * 996 + b"\r\nafter it\r\n"),
    ("whitespace and trailing empty lines", "pop",
     headers(b"ws", b"  spaced \t out  ") + b"\r\n  leading\r\n\ta \t b  \r\n"
     b"trailing \t\r\n\r\n \r\n\t\r\n\r\n\r\n"),
    ("a body past the memory part (spooled, 1.5 MB)", "pop",
     headers(b"big", b"big") + b"\r\n" +
     b"".join(b"line %07d of a long message, with  two  spaces\r\n" % i for i in range(32000))),
    ("headers only, no empty line", "pop", headers(b"hdronly", b"no body")),
    ("a display name with quotes, '@' and '<'", "pop",
     headers(b"quoted", b"display name",
             sender=b'"Demo <demo@example.org>" (not @example.org) <demo@example.test>') +
     b"\r\nThe domain is the angle address's.\r\n"),
    ("SMTP AUTH on 587 (STARTTLS)", "submission",
     headers(b"sub", b"submission") + b"\r\nSent on 587.\r\n"),
    ("SMTP AUTH on 465 (smtps)", "smtps",
     headers(b"smtps", b"smtps") + b"\r\nSent on 465.\r\n"),
    ("a trusted client", "trusted",
     headers(b"trusted", b"from a trusted network") + b"\r\nFrom 127.0.0.3.\r\n"),
]


def mid_of(data):
    m = re.search(rb"(?im)^Message-ID: <([^>]*)>", data)
    return m.group(1) if m else None


def send(srv, ctx, how, msg, rcpts=(REMOTE, LOCAL), sender=USER):
    """One message the way `how` says; smtplib's refused dict."""
    opts = ["BODY=8BITMIME"] if how == "pop8" else []
    if how in ("pop", "pop8"):
        S.pop_login(srv, USER, PASSWORD, T.CUSTOMER)
        s = smtplib.SMTP("127.0.0.1", srv.ports["smtp"], local_hostname="customer.example",
                         source_address=(T.CUSTOMER, 0), timeout=T.READ_TIMEOUT)
    elif how == "trusted":
        s = smtplib.SMTP("127.0.0.1", srv.ports["smtp"], local_hostname="trusted.example",
                         source_address=(T.TRUSTED, 0), timeout=T.READ_TIMEOUT)
    elif how == "outsider":
        s = smtplib.SMTP("127.0.0.1", srv.ports["smtp"], local_hostname="outside.example",
                         source_address=(T.OUTSIDER, 0), timeout=T.READ_TIMEOUT)
    elif how == "submission":
        s = smtplib.SMTP("127.0.0.1", srv.ports["submission"], local_hostname="mua.example",
                         source_address=(AUTH_CLIENT, 0), timeout=T.READ_TIMEOUT)
        s.starttls(context=ctx)
        s.login(USER, PASSWORD)
    elif how == "smtps":
        s = smtplib.SMTP_SSL("127.0.0.1", srv.ports["smtps"], local_hostname="mua.example",
                             source_address=(AUTH_CLIENT, 0), context=ctx,
                             timeout=T.READ_TIMEOUT)
        s.login(USER, PASSWORD)
    else:
        raise T.HarnessError("no way to send %r" % how)
    try:
        return s.sendmail(sender, list(rcpts), msg, mail_options=opts)
    finally:
        s.quit()


def maildir_copy(srv, address, mid):
    """The stored copy with this Message-ID: (Return-Path line, the rest)."""
    for name, data in S.maildir_messages(srv, address):
        if mid_of(data) == mid:
            rp, _, rest = data.partition(b"\n")
            return rp, rest
    return None, None


def sink_copy(sink, mid, timeout=15.0):
    def probe():
        return [m for m in sink.messages if m.delivered() and mid_of(m.data) == mid]
    got = S.wait_for(probe, O.scaled(timeout), 0.1)
    return got[0].data if got else None


def parse_records(out):
    """{name: value} and {name: [quoted strings]} from ispmailctl's lines."""
    recs, strings = {}, {}
    for line in out.splitlines():
        m = re.match(r"(\S+)\.\s+IN\s+TXT\s+(.*)$", line)
        if m and "._domainkey." in m.group(1):
            parts = re.findall(r'"([^"]*)"', m.group(2))
            recs[m.group(1)] = "".join(parts)
            strings[m.group(1)] = parts
    return recs, strings


def sig_fields(data):
    fields, _ = V.split_sigs(data)
    return fields


def pop3_retr_all(srv, user):
    """{Message-ID: bytes} of every message as POP3 RETR serves it (CRLF,
    dot-stuffing undone, without the Return-Path line)."""
    c = srv.connect("pop3", T.CUSTOMER)
    out = {}
    try:
        c.expect(r"\+OK")
        c.command("USER " + user, r"\+OK")
        c.command("PASS " + PASSWORD, r"\+OK")
        n = int(c.command("STAT", r"\+OK").split()[1])
        for i in range(1, n + 1):
            c.command("RETR %d" % i, r"\+OK")
            raw = c.read_multiline_raw()[:-3]
            data = re.sub(rb"(?m)^\.\.", b".", raw)
            if data.startswith(b"Return-Path:"):
                data = data.partition(b"\r\n")[2]
            out[mid_of(data)] = data
        c.command("QUIT", r"\+OK")
    finally:
        c.close()
    return out


def check_shape(t, data, label, trace_first):
    """Two fields on top, RSA then Ed25519, d= and s= ours, then Received."""
    fields, rest = V.split_sigs(data)
    tags = [(re.search(rb"a=([\w-]+);", f).group(1), re.search(rb"d=([\w.-]+);", f).group(1),
             re.search(rb"s=([\w.-]+);", f).group(1)) for f in fields]
    t.eq(tags, [(b"rsa-sha256", DOMAIN.encode(), RSA_SEL.encode()),
                (b"ed25519-sha256", DOMAIN.encode(), ED_SEL.encode())],
         "%s: two DKIM-Signature fields on top, RSA first" % label)
    t.ok(rest.startswith(trace_first), "%s: our Received: right below them" % label,
         repr(rest[:120]))


def verify_all(t, dkim, recs, strings, signed, tmp):
    if dkim is None:
        t.skip("dkimpy verification", "python3-dkim not installed (apt-get install "
               "python3-dkim)")
    else:
        V.dkimpy_check(t, dkim, recs, signed)
    why = V.opendkim_why_not()
    if why:
        t.skip("opendkim-testmsg verification", why)
    else:
        V.opendkim_check(t, strings, signed, tmp)


def keygen(t, srv):
    lines = []
    for sel, alg in ((RSA_SEL, "rsa"), (ED_SEL, "ed25519")):
        rc, out, err = srv.ctl_run("dkim", "keygen", DOMAIN, "--selector", sel,
                                   "--algorithm", alg)
        t.ok(rc == 0, "ispmailctl dkim keygen %s --selector %s --algorithm %s" %
             (DOMAIN, sel, alg), err)
        lines.append(out)
    rc, out, err = srv.ctl_run("dns", DOMAIN)
    t.ok(rc == 0, "ispmailctl dns %s" % DOMAIN, err)
    recs, strings = parse_records("".join(lines))
    recs2, _ = parse_records(out)
    t.eq(recs2, recs, "ispmailctl dns prints the records keygen printed")
    return recs, strings


def check_unsigned(t, srv, sink, ctx):
    """An outsider's inbound mail and a From: domain without a key."""
    msg = headers(b"outsider", b"from outside") + b"\r\nInbound.\r\n"
    mark = S.log_mark(srv)
    t.eq(send(srv, ctx, "outsider", msg, rcpts=(LOCAL,), sender="someone@outside.example"), {},
         "an outsider's message to a local user is accepted")
    rp, data = maildir_copy(srv, LOCAL, b"outsider@example.test")
    t.ok(data is not None and not sig_fields(data) and b"DKIM-Signature" not in data,
         "an outsider's inbound mail (From: our domain) is not signed",
         repr((data or b"")[:300]))
    t.ok("dkim result=" not in srv.log()[mark:], "and no dkim log line for it")

    msg = headers(b"nokey", b"no key", sender=b"Carol <carol@example.org>") + b"\r\nx\r\n"
    mark = S.log_mark(srv)
    t.eq(send(srv, ctx, "pop", msg, sender="carol@example.org"), {},
         "a customer's message From: a domain without a key is accepted")
    rp, data = maildir_copy(srv, LOCAL, b"nokey@example.test")
    t.ok(data is not None and b"DKIM-Signature" not in data,
         "From: a domain without a key: the local copy is not signed")
    data = sink_copy(sink, b"nokey@example.test")
    t.ok(data is not None and b"DKIM-Signature" not in data,
         "From: a domain without a key: the relayed copy is not signed",
         repr((data or b"")[:200]))
    t.ok("dkim result=" not in srv.log()[mark:], "and no dkim log line for it")


def check_reload(t, srv, sink, ctx, dkim, recs, keys, tmp):
    bad = os.path.join(keys, DOMAIN, "zz-broken.key")
    with open(bad, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nnot a key at all\n-----END PRIVATE KEY-----\n")
    os.chmod(bad, 0o640)
    srv._chown(bad)
    mark = S.log_mark(srv)
    srv.reload()
    pat = r'reload result=refused reason="dkim: [^"]*zz-broken\.key'
    got = S.wait_for(lambda: re.search(pat, srv.log()[mark:]), 10)
    t.ok(got, "a garbage key file: the reload is refused, naming the file",
         srv.log()[mark:])
    msg = headers(b"after-reload", b"after a refused reload") + b"\r\nStill signed.\r\n"
    t.eq(send(srv, ctx, "pop", msg), {}, "a message after the refused reload")
    data = sink_copy(sink, b"after-reload@example.test")
    t.ok(data is not None and len(sig_fields(data)) == 2,
         "after the refused reload it is still signed with both old keys")
    if data is not None and dkim is not None:
        def dnsfunc(name, timeout=5):
            return recs.get(name.decode().rstrip("."), "").encode()
        d = dkim.DKIM(data)
        t.ok(d.verify(idx=0, dnsfunc=dnsfunc) is True and d.verify(idx=1, dnsfunc=dnsfunc)
             is True, "dkimpy verifies both signatures made after the refused reload")
    p = subprocess.run([srv.daemon, "-t", "-c", srv.conf_file], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode("utf-8", "replace")
    t.ok(p.returncode != 0 and "zz-broken.key" in out,
         "ispmaild -t with the garbage key: fails, naming the file", "exit %d: %s" %
         (p.returncode, out))


def check_rotation(t, srv, sink, ctx, dkim, recs, keys):
    """docs/ADMIN.md's key rotation: a new selector beside the old one,
    reload, both sign; the old key moved away, reload, only the new one."""
    os.unlink(os.path.join(keys, DOMAIN, "zz-broken.key"))
    rc, out, err = srv.ctl_run("dkim", "keygen", DOMAIN, "--selector", "rsa2027")
    t.ok(rc == 0, "keygen a new RSA key under selector rsa2027", err)
    new, _ = parse_records(out)
    recs = dict(recs, **new)

    def dnsfunc(name, timeout=5):
        return recs.get(name.decode().rstrip("."), "").encode()

    for n, want in ((3, [RSA_SEL, "rsa2027", ED_SEL]), (2, ["rsa2027", ED_SEL])):
        if n == 2:
            os.rename(os.path.join(keys, DOMAIN, RSA_SEL + ".key"),
                      os.path.join(srv.dir, RSA_SEL + ".key.retired"))
        mark = S.log_mark(srv)
        srv.reload()
        t.ok(S.wait_for(lambda: re.search(r"reload dkim_keys=%d$" % n, srv.log()[mark:], re.M), 10),
             "reload with %d keys: accepted" % n, srv.log()[mark:])
        mid = b"rotate%d" % n
        msg = headers(mid, b"rotation") + b"\r\nRotating.\r\n"
        t.eq(send(srv, ctx, "pop", msg), {}, "rotation, %d keys: sent" % n)
        data = sink_copy(sink, mid + b"@example.test")
        sels = [re.search(rb"s=([\w.-]+);", f).group(1).decode() for f in sig_fields(data or b"")]
        t.eq(sels, want, "rotation, %d keys: signed by %s, RSA first" % (n, ", ".join(want)))
        if dkim is not None and data is not None:
            d = dkim.DKIM(data)
            t.ok(all(d.verify(idx=i, dnsfunc=dnsfunc) is True for i in range(len(sels))),
                 "rotation, %d keys: dkimpy verifies every signature" % n)
        t.ok(("dkim result=signed domain=%s signatures=%d" % (DOMAIN, n)) in srv.log()[mark:],
             "rotation: the log counts %d signatures" % n)


def main(t, fx):
    dkim = V.import_dkimpy()
    tmp = tempfile.mkdtemp(prefix="ispmaild-dkime2e-")
    fx.add(_Rmtree(tmp))
    sink = fx.add(Sink())
    srv = TH.server(("smtp", "submission", "smtps", "pop3"), config={
        "relay.smarthost": sink.smarthost(), "dns.nameserver": O.DEAD_NS,
        "queue.retry_min": 1, "queue.retry_max": 2, "queue.max_age": 600})
    fx.srv = srv
    keys = os.path.join(srv.dir, "dkim")
    srv.set("dkim.keys_dir", keys)
    srv.set("dkim.selector", RSA_SEL)
    for u in (USER, LOCAL):
        srv.add_user(u, PASSWORD)
    recs, strings = keygen(t, srv)
    srv.start()
    t.ok(re.search(r"dkim keys=2\b", srv.log()), "the daemon loaded the two keys at start",
         srv.log())
    ctx = TH.client_context(srv)

    check_unsigned(t, srv, sink, ctx)

    signed = []
    mark = S.log_mark(srv)
    for label, how, msg in CASES:
        try:
            refused = send(srv, ctx, how, msg)
        except smtplib.SMTPException as e:
            refused = "%s: %s" % (type(e).__name__, e)
        t.eq(refused, {}, "%s: accepted for a remote and a local recipient" % label)
        mid = mid_of(msg)
        data = sink_copy(sink, mid)
        t.ok(data is not None, "%s: the sink received it through our queue" % label)
        if data is not None:
            check_shape(t, data, label + " (sink)", b"Received: from ")
            signed.append((label + ", as the sink received it", data))
        rp, stored = maildir_copy(srv, LOCAL, mid)
        t.ok(rp is not None and rp.startswith(b"Return-Path: <%s>" % USER.encode()),
             "%s: the local copy starts with our Return-Path" % label, repr(rp))
        if stored is not None:
            w = T.crlf(stored)
            check_shape(t, w, label + " (Maildir)", b"Received: from ")
            signed.append((label + ", from the Maildir", w))
    served = pop3_retr_all(srv, LOCAL)
    maildir = [w for label, w in signed if label.endswith("from the Maildir")]
    t.ok(maildir and all(served.get(mid_of(w)) == w for w in maildir),
         "POP3 RETR serves each signed local copy exactly as verified here (CRLF form)")
    t.eq(len(re.findall(re.escape(SIGNED_LOG) + r"$", srv.log()[mark:], re.M)), len(CASES),
         "one log line `%s` per signed message" % SIGNED_LOG)

    verify_all(t, dkim, recs, strings, signed, tmp)
    check_reload(t, srv, sink, ctx, dkim, recs, keys, tmp)
    check_rotation(t, srv, sink, ctx, dkim, recs, keys)
    t.ok(O.wait_queue_empty(srv, 10), "the queue is empty")


class _Rmtree:
    def __init__(self, path):
        self.path = path

    def close(self):
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(self.path, ignore_errors=True)


def reexec_with_system_python():
    """python3-dkim is for Debian's python3; run there when this one lacks it."""
    if V.import_dkimpy() is not None or os.environ.get("DKIM_E2E_REEXEC"):
        return
    if not os.access(SYSTEM_PYTHON, os.X_OK) or \
            os.path.realpath(SYSTEM_PYTHON) == os.path.realpath(sys.executable):
        return
    if subprocess.run([SYSTEM_PYTHON, "-c", "import dkim"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        return
    os.environ["DKIM_E2E_REEXEC"] = "1"
    sys.stdout.flush()
    os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])


if __name__ == "__main__":
    reexec_with_system_python()
    sys.exit(O.run(main))
