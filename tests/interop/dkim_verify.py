#!/usr/bin/env python3
"""dkim_verify.py: what dkim/ signs, two other implementations verify
(RFC 6376, RFC 8463). tests/tools/dkim_sign makes an RSA and an Ed25519
key for example.test (dkim_key_generate) and prints their DNS records
(dkim_key_dns: the value cut into quoted strings of at most 255); it signs
messages as they are stored (LF line ends): 8-bit headers and body, long
folded header lines, no final newline, a CRLF at the very end once,
repeated headers (forty To: fields: a long h=, folded), trailing empty
lines, an empty body, leading dots. Each
message, in the wire form the queue sends (LF -> CRLF), must verify:

- with Debian's python3-dkim (dkimpy), its dnsfunc answering from the
  records dkim_sign printed;
- with opendkim-testmsg (opendkim-tools), one signature at a time. It
  asks the system resolver, so it runs in its own network and mount
  namespaces (unshare, as root) where /etc/resolv.conf names a dnsmasq
  on 127.0.0.1:53 that serves the records as printed (each quoted string
  one TXT character-string).

A changed body, a changed signed header or an added From: (From is
oversigned) must fail with both; an added unsigned header must not. The
RFC 8463 Appendix A message of the unit tests verifies with dkimpy too.

python3-dkim installs for Debian's /usr/bin/python3: when the python3 that
runs this test cannot import dkim, the test runs itself again with that
one."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import ispmaild_test as T  # noqa: E402
import dnsfix  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
DOMAIN = "example.test"
RSA_SEL = "s2026"
ED_SEL = "ed2026"
RFC_RECORDS = {
    "brisbane._domainkey.football.example.com":
        "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    "test._domainkey.football.example.com":
        "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08"
        "a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMK"
        "rM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB",
}

DATE = b"Date: Sat, 05 Dec 2026 12:00:00 +0000\n"
FROM = b"From: Demo <demo@example.test>\n"
TO = b"To: friend@remote.test\n"


def _long_headers():
    to = b"To: " + b",\n ".join(b"Person %d <p%d@remote.test>" % (i, i) for i in range(14)) + b"\n"
    subj = (b"Subject: a subject that goes on for a good while, longer than any line\n"
            b"\tshould be, folded with a tab,   and with   runs of   spaces  \n"
            b"   and a third line\n")
    refs = b"References: " + b"\n\t".join(b"<%d.%s@example.test>" % (i, b"x" * 40)
                                        for i in range(8)) + b"\n"
    return FROM + to + subj + DATE + refs + b"Message-ID: <long@example.test>\n"


# name, stored message
MESSAGES = [
    ("plain", FROM + TO + b"Subject: plain\n" + DATE + b"Message-ID: <p1@example.test>\n"
     b"\nHello.\n"),
    ("8-bit headers and body",
     b"From: Dem\xc3\xb6 <demo@example.test>\n" + TO + b"Subject: caf\xc3\xa9 \xe2\x82\xac\n" +
     DATE + b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
     b"Content-Transfer-Encoding: 8bit\n\n"
     b"Caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e\n\xe2\x82\xac 5\nA Latin-1 byte: \xe9\n"),
    ("long folded header lines", _long_headers() + b"\nBody under long headers.\n"),
    ("no final newline", FROM + TO + b"Subject: no final newline\n" + DATE +
     b"\nfirst line\nthe last line has no end"),
    ("a CRLF at the end once", FROM + TO + b"Subject: crlf once\n" + DATE +
     b"\nline one\nline two\r\n"),
    ("repeated To: and Cc:",
     b"Received: from a by b; Sat, 05 Dec 2026 12:00:00 +0000\n"
     b"Received: from c by d; Sat, 05 Dec 2026 11:59:00 +0000\n" + FROM +
     b"To: one@remote.test\nCc: c1@remote.test\nTo: two@remote.test\n"
     b"Cc: c2@remote.test\nSubject: repeated\n" + DATE +
     b"Comments: x\nComments: y\n\nBody.\n"),
    ("forty To: fields (a long, folded h=)", FROM + b"".join(
        b"To: r%d@remote.test\n" % i for i in range(40)) + b"Subject: many\n" + DATE +
     b"\nBody.\n"),
    ("repeated MIME-Version: and Content-Type:", FROM + TO + b"Subject: repeated MIME\n" + DATE +
     b"MIME-Version: 1.0\nContent-Type: text/plain\nMIME-Version: 1.0 (again)\n"
     b"Content-Type: text/plain;\n charset=us-ascii\n\nBody.\n"),
    ("whitespace and trailing empty lines", FROM + TO + b"Subject:   spaced \t out  \n" + DATE +
     b"\n  leading\n\ta \t b  \ntrailing \t\n\n \n\t\n\n\n"),
    ("empty body", FROM + TO + b"Subject: empty body\n" + DATE + b"\n"),
    ("headers only, no empty line", FROM + TO + b"Subject: no separator\n" + DATE),
    ("leading dots and a long line", FROM + TO + b"Subject: dots\n" + DATE +
     b"\n.\n..two\n.three\n" + b"y" * 3000 + b"\nend\n"),
]


# opendkim-testmsg checks header counts first (RFC 5322 §3.6: one To:,
# one Cc:) and refuses the message before it looks at a signature.
OPENDKIM_REFUSES = {
    "repeated To: and Cc:": "opendkim-testmsg refuses two To: (RFC 5322 3.6)",
    "forty To: fields (a long, folded h=)": "opendkim-testmsg refuses two To: (RFC 5322 3.6)",
}


def wire(data):
    """The form the queue sends (maildir wire encoder, dots aside): LF ->
    CRLF, an existing CRLF kept, a last line without its end gets one."""
    data = re.sub(rb"(?<!\r)\n", b"\r\n", data)
    if not data.endswith(b"\n"):
        data += b"\r\n"
    return data


def split_sigs(signed):
    """(list of DKIM-Signature fields, the rest) of a stored signed message."""
    fields = []
    rest = signed
    while rest.startswith(b"DKIM-Signature:"):
        m = re.match(rb"DKIM-Signature:[^\n]*\n(?:[ \t][^\n]*\n)*", rest)
        fields.append(m.group(0))
        rest = rest[m.end():]
    return fields, rest


def tool():
    path = os.path.join(T.top_builddir(), "tests", "tools", "dkim_sign")
    if not os.access(path, os.X_OK):
        raise T.HarnessError("%s not built (make check builds it)" % path)
    return path


def parse_records(out):
    """{name: value} from dkim_sign dns lines; also the raw strings."""
    recs, strings = {}, {}
    for line in out.splitlines():
        sel, alg, rec = line.split("\t")
        name = rec.split(" ", 1)[0].rstrip(".")
        parts = re.findall(r'"([^"]*)"', rec)
        recs[name] = "".join(parts)
        strings[name] = parts
    return recs, strings


def tampered(msg):
    """Variants that must fail, and one that must pass."""
    fields, rest = split_sigs(msg)
    head = b"".join(fields)
    sep = rest.find(b"\r\n\r\n")
    bad_body = (rest[:sep + 4] + b"X" + rest[sep + 4:]) if sep >= 0 else rest + b"\r\nX\r\n"
    subj = re.sub(rb"(?m)^Subject:", b"Subject: Re:", rest, count=1)
    return [("body changed", head + bad_body, False),
            ("Subject changed", head + subj, False),
            ("a From: added", head + b"From: evil@example.test\r\n" + rest, False),
            ("an unsigned header added", head + b"X-Added: yes\r\n" + rest, True)]


# ---- dkimpy ----

def dkimpy_check(t, dkim, recs, signed):
    def dnsfunc(name, timeout=5):
        return recs.get(name.decode().rstrip("."), "").encode()

    for label, msg in signed:
        w = wire(msg)
        d = dkim.DKIM(w)
        fields, _ = split_sigs(msg)
        algs = [re.search(rb"a=([a-z0-9-]+)", f).group(1).decode() for f in fields]
        t.eq(algs, ["rsa-sha256", "ed25519-sha256"], "%s: RSA signature first, then Ed25519"
             % label)
        for i, alg in enumerate(algs):
            try:
                ok = d.verify(idx=i, dnsfunc=dnsfunc)
            except Exception as e:  # dkimpy raises on what it cannot parse
                ok = "%s: %s" % (type(e).__name__, e)
            t.ok(ok is True, "dkimpy verifies %s: %s" % (alg, label), repr(ok) + "\n" +
                 w.decode("utf-8", "replace"))
        for what, variant, want in tampered(w):
            for i, alg in enumerate(algs):
                try:
                    ok = dkim.DKIM(variant).verify(idx=i, dnsfunc=dnsfunc)
                except Exception as e:
                    ok = "%s: %s" % (type(e).__name__, e)
                t.ok((ok is True) == want, "dkimpy %s %s: %s, %s" % (
                    "passes" if want else "fails", alg, label, what), repr(ok))


def dkimpy_rfc8463(t, dkim):
    with open(os.path.join(T.top_srcdir(), "tests", "unit", "data", "rfc8463.eml"), "rb") as f:
        w = wire(f.read())

    def dnsfunc(name, timeout=5):
        return RFC_RECORDS.get(name.decode().rstrip("."), "").encode()

    d = dkim.DKIM(w)
    t.ok(d.verify(idx=0, dnsfunc=dnsfunc) is True and d.verify(idx=1, dnsfunc=dnsfunc) is True,
         "dkimpy verifies both signatures of the RFC 8463 A.3 fixture")


# ---- opendkim-testmsg, in namespaces of its own ----

def inner(workdir):
    """Runs under unshare -mn as root: loopback up, /etc/resolv.conf ->
    127.0.0.1, dnsmasq on port 53 with the records, opendkim-testmsg on
    each file; the results go to results.json."""
    with open(os.path.join(workdir, "job.json")) as f:
        job = json.load(f)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    resolv = os.path.join(workdir, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions attempts:2 timeout:2\n")
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)
    args = [dnsfix.dnsmasq_path(), "--no-daemon", "--port=53", "--listen-address=127.0.0.1",
            "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
            "--pid-file", "--local=/test/", "--log-queries", "--user=root"]
    # One argument per record, each string one TXT character-string (on
    # the command line dnsmasq takes no quotes: the strings hold no comma).
    for name, parts in job["strings"].items():
        args.append("--txt-record=%s,%s" % (name, ",".join(parts)))
    log = open(os.path.join(workdir, "dnsmasq.log"), "wb")
    dns = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    results = {}
    try:
        first = next(iter(job["strings"]))
        deadline = time.time() + 10 * T.PATIENCE
        while time.time() < deadline:
            r = dnsfix.query(53, first, qtype=16)
            if r is not None and r[0] == 0 and r[1] >= 1:
                break
            time.sleep(0.05)
        for name in job["files"]:
            with open(os.path.join(workdir, name), "rb") as f:
                p = subprocess.run(["opendkim-testmsg"], stdin=f, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=60)
            results[name] = [p.returncode, p.stdout.decode("utf-8", "replace")]
    finally:
        dns.terminate()
        dns.wait(10)
        log.close()
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f)


def opendkim_why_not():
    if not shutil.which("opendkim-testmsg"):
        return "opendkim-testmsg not installed (apt-get install opendkim-tools)"
    if os.geteuid() != 0:
        return "needs root for its own network and mount namespaces"
    for tool_name in ("unshare", "ip"):
        if not shutil.which(tool_name):
            return "%s not installed" % tool_name
    if not os.path.isfile("/etc/resolv.conf"):
        return "no /etc/resolv.conf to bind-mount over"
    if dnsfix.dnsmasq_path() is None:
        return "dnsmasq not installed (apt-get install dnsmasq-base)"
    return None


def opendkim_check(t, strings, signed, tmp):
    files, cases = [], []
    for n, (label, msg) in enumerate(signed):
        if label in OPENDKIM_REFUSES:
            t.skip("opendkim-testmsg: %s" % label, OPENDKIM_REFUSES[label])
            continue
        fields, rest = split_sigs(msg)
        for field in fields:
            alg = re.search(rb"a=([a-z0-9-]+)", field).group(1).decode()
            w = wire(field + rest)
            variants = [("as signed", w, True)] + tampered(w)
            for k, (what, data, want) in enumerate(variants):
                name = "m%d-%s-%d.eml" % (n, alg, k)
                with open(os.path.join(tmp, name), "wb") as f:
                    f.write(data)
                files.append(name)
                cases.append((name, alg, label, what, want))
    if any("," in p for parts in strings.values() for p in parts):
        raise T.HarnessError("a TXT string with a comma: dnsmasq would split it")
    with open(os.path.join(tmp, "job.json"), "w") as f:
        json.dump({"strings": strings, "files": files}, f)
    p = subprocess.run(["unshare", "--mount", "--net", "--", sys.executable,
                        os.path.abspath(__file__), "--opendkim-inner", tmp],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    try:
        with open(os.path.join(tmp, "results.json")) as f:
            results = json.load(f)
    except OSError:
        t.ok(False, "opendkim-testmsg ran in its namespaces", p.stdout.decode("utf-8", "replace"))
        return
    for name, alg, label, what, want in cases:
        rc, out = results[name]
        if want:
            t.ok(rc == 0 and out == "", "opendkim-testmsg verifies %s: %s" % (alg, label),
                 "exit %d: %s" % (rc, out))
        else:
            # An added From: is refused before any signature is looked at
            # (its strict header check: RFC 5322 allows one From:).
            why = "Syntax error" if what == "a From: added" else "Bad signature"
            t.ok(rc != 0 and why in out, "opendkim-testmsg fails %s: %s, %s"
                 % (alg, label, what), "exit %d: %s" % (rc, out))


def import_dkimpy():
    try:
        import dkim
        return dkim
    except ImportError:
        return None


def main():
    t = T.Tap()
    dkim = import_dkimpy()
    tmp = tempfile.mkdtemp(prefix="ispmaild-dkim-")
    try:
        keys = os.path.join(tmp, "keys")
        for sel, alg in ((RSA_SEL, "rsa"), (ED_SEL, "ed25519")):
            p = subprocess.run([tool(), "keygen", keys, DOMAIN, sel, alg], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            t.ok(p.returncode == 0, "dkim_sign keygen %s %s" % (sel, alg), p.stdout.decode())
        p = subprocess.run([tool(), "dns", keys, DOMAIN], stdout=subprocess.PIPE, timeout=60,
                           check=True)
        recs, strings = parse_records(p.stdout.decode())
        t.ok(len(strings["%s._domainkey.%s" % (RSA_SEL, DOMAIN)]) == 2 and
             all(len(s) <= 255 for parts in strings.values() for s in parts),
             "the RSA 2048 record is two quoted strings of at most 255", repr(strings))
        now = str(int(time.time()))
        signed = []
        for label, msg in MESSAGES:
            p = subprocess.run([tool(), "sign", keys, DOMAIN, now], input=msg,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            fields, rest = split_sigs(p.stdout)
            t.ok(p.returncode == 0 and len(fields) == 2 and rest == msg,
                 "dkim_sign: two DKIM-Signature fields on top of %s" % label,
                 p.stderr.decode("utf-8", "replace"))
            t.ok(all(len(line) <= 78 for f in fields for line in f.split(b"\n")),
                 "%s: no signature line longer than 78" % label)
            signed.append((label, p.stdout))

        if dkim is None:
            t.skip("dkimpy verification", "python3-dkim not installed (apt-get install "
                   "python3-dkim)")
        else:
            dkimpy_rfc8463(t, dkim)
            dkimpy_check(t, dkim, recs, signed)
        why = opendkim_why_not()
        if why:
            t.skip("opendkim-testmsg verification", why)
        else:
            opendkim_check(t, strings, signed, tmp)
    finally:
        if os.environ.get("KEEP_TMP"):
            t.diag("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


def reexec_with_system_python():
    """python3-dkim is for Debian's python3; run there when this one lacks it."""
    if import_dkimpy() is not None or os.environ.get("DKIM_VERIFY_REEXEC"):
        return
    if not os.access(SYSTEM_PYTHON, os.X_OK) or \
            os.path.realpath(SYSTEM_PYTHON) == os.path.realpath(sys.executable):
        return
    if subprocess.run([SYSTEM_PYTHON, "-c", "import dkim"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        return
    os.environ["DKIM_VERIFY_REEXEC"] = "1"
    sys.stdout.flush()
    os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--opendkim-inner":
        inner(sys.argv[2])
        sys.exit(0)
    reexec_with_system_python()
    try:
        sys.exit(main())
    except T.SkipTest as e:
        T.skip_all(str(e))
    except T.HarnessError as e:
        T.bail_out(str(e))
