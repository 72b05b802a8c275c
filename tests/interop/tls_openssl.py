#!/usr/bin/env python3
"""tls_openssl.py: `openssl s_client` against every TLS service, verifying the
test CA's certificate for "localhost": -starttls smtp on smtp and submission,
-starttls pop3 on pop3, implicit TLS on smtps and pop3s, each with an exact
transcript over TLS. With the default min_version (TLSv1.2) a TLS 1.1 or 1.0
client is refused with a protocol_version alert; TLS 1.2 and 1.3 get in. A
legacy pair of listeners (min_version = "TLSv1", ciphers =
"DEFAULT:@SECLEVEL=0", ispmaild.conf(5), for Outlook Express on Windows XP)
lets the TLS 1.0 client in (also with XP's 3DES, where this openssl still has
it) while the modern listeners refuse the very same command."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import tls_helpers as H  # noqa: E402

USER, PASSWORD = "demo@example.test", "secret"
LEGACY = {"service": "pop3s", "min_version": "TLSv1", "ciphers": "DEFAULT:@SECLEVEL=0"}
OLD = ["-cipher", "DEFAULT:@SECLEVEL=0"]      # lets this client offer TLS 1.0/1.1
EHLO_TLS = ["250-" + T.HOSTNAME, "250-PIPELINING", "250-SIZE 26214400", "250-8BITMIME",
            "250-ENHANCEDSTATUSCODES", "250-AUTH PLAIN LOGIN", "250 AUTH=PLAIN LOGIN"]
CAPA_TLS = ["+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE",
            "PIPELINING", "USER", "SASL PLAIN LOGIN", "IMPLEMENTATION ispmaild", "."]
POP_GREETING = "+OK %s ispmaild ready." % T.HOSTNAME
POP_SESSION = b"USER %s\nPASS %s\nSTAT\nQUIT\n" % (USER.encode(), PASSWORD.encode())
POP_REPLIES = [POP_GREETING, H.POP_USER_OK, H.POP_LOGIN_OK % 0, "+OK 0 0", H.POP_BYE]


def verify_args(srv):
    return ["-CAfile", srv.ca, "-verify_return_error", "-verify_hostname", "localhost",
            "-crlf", "-ign_eof", "-brief"]


def lines(out):
    return out.replace("\r", "").splitlines()


def session(t, srv, what, port, extra, stdin, want, version="TLSv1.3"):
    rc, out, err = H.s_client(port, verify_args(srv) + extra, stdin)
    t.eq(lines(out), want, what + ": transcript over TLS")
    t.ok(rc == 0 and "Verification: OK" in err and "Verified peername: localhost" in err,
         what + ": exit 0, certificate verified for localhost", "rc %s\n%s" % (rc, err))
    t.ok(re.search(r"^Protocol version: %s$" % re.escape(version), err, re.M),
         what + ": " + version, err)
    return err


def refused(t, what, port, extra, srv):
    rc, out, err = H.s_client(port, verify_args(srv) + extra, b"QUIT\n")
    t.ok(rc not in (0, None) and "alert protocol version" in err
         and "CONNECTION ESTABLISHED" not in err,
         what + ": refused with a protocol_version alert", "rc %s\n%s%s" % (rc, out, err))
    t.ok("+OK" not in out and "220 " not in out.replace("220 2.0.0", ""),
         what + ": no greeting over TLS", out)


def legacy_supported():
    """Can this openssl offer TLS 1.0 at all? (None, or the reason not.)"""
    p = subprocess.run([H.OPENSSL, "ciphers", "-tls1", "-s", "DEFAULT:@SECLEVEL=0"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0 or not p.stdout.strip():
        return "the local openssl cannot do TLS 1.0: %s" % (
            p.stderr.decode(errors="replace").strip().splitlines() or ["no ciphers"])[0]
    return None


def has_3des():
    p = subprocess.run([H.OPENSSL, "ciphers", "-tls1", "-s", "DES-CBC3-SHA:@SECLEVEL=0"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode == 0 and b"DES-CBC3-SHA" in p.stdout


def main():
    t = T.Tap()
    try:
        H.need_openssl()
        srv = H.server(("smtp", "submission", "smtps", "pop3", "pop3s"),
                       extra={"pop3s-legacy": LEGACY,
                              "smtps-legacy": dict(LEGACY, service="smtps")})
    except T.SkipTest as e:
        T.skip_all(str(e))
    try:
        srv.add_user(USER, PASSWORD)
        srv.start()
        p = srv.ports
        ehlo = b"EHLO client.example\nQUIT\n"
        session(t, srv, "smtp -starttls smtp", p["smtp"], ["-starttls", "smtp"], ehlo,
                EHLO_TLS + [H.BYE])
        session(t, srv, "submission -starttls smtp", p["submission"],
                ["-starttls", "smtp"], ehlo, EHLO_TLS + [H.BYE])
        session(t, srv, "pop3 -starttls pop3", p["pop3"], ["-starttls", "pop3"],
                b"CAPA\nQUIT\n", CAPA_TLS + [H.POP_BYE])
        session(t, srv, "smtps implicit", p["smtps"], [], ehlo,
                ["220 %s ESMTP ispmaild" % T.HOSTNAME] + EHLO_TLS + [H.BYE])
        session(t, srv, "pop3s implicit", p["pop3s"], [], POP_SESSION, POP_REPLIES)
        session(t, srv, "pop3s -tls1_2", p["pop3s"], ["-tls1_2"], POP_SESSION,
                POP_REPLIES, "TLSv1.2")
        session(t, srv, "smtp -starttls smtp -tls1_2", p["smtp"],
                ["-starttls", "smtp", "-tls1_2"], ehlo, EHLO_TLS + [H.BYE], "TLSv1.2")

        # default min_version TLSv1.2
        n0 = H.log_count(srv, r"close reason=tls-handshake-failed$")
        refused(t, "pop3s -tls1_1", p["pop3s"], ["-tls1_1"] + OLD, srv)
        refused(t, "smtps -tls1_1", p["smtps"], ["-tls1_1"] + OLD, srv)
        refused(t, "smtp -starttls smtp -tls1_1", p["smtp"],
                ["-starttls", "smtp", "-tls1_1"] + OLD, srv)
        refused(t, "pop3 -starttls pop3 -tls1_1", p["pop3"],
                ["-starttls", "pop3", "-tls1_1"] + OLD, srv)
        t.eq(H.wait_log(srv, r"close reason=tls-handshake-failed$", n0 + 2), n0 + 2,
             "log: close reason=tls-handshake-failed for the implicit ones")
        t.ok(H.wait_log(srv, r"starttls result=fail reason=handshake$") and
             H.wait_log(srv, r"stls result=fail reason=handshake$"),
             "log: starttls/stls result=fail reason=handshake")

        # the legacy pair
        why = legacy_supported()
        if why:
            for row in ("pop3s-legacy accepts -tls1", "smtps-legacy accepts -tls1",
                        "pop3s refuses -tls1", "smtps refuses -tls1"):
                t.skip(row, why)
        else:
            session(t, srv, "pop3s-legacy -tls1", p["pop3s-legacy"], ["-tls1"] + OLD,
                    POP_SESSION, POP_REPLIES, "TLSv1")
            session(t, srv, "smtps-legacy -tls1", p["smtps-legacy"], ["-tls1"] + OLD, ehlo,
                    ["220 %s ESMTP ispmaild" % T.HOSTNAME] + EHLO_TLS + [H.BYE], "TLSv1")
            session(t, srv, "pop3s-legacy, a modern client", p["pop3s-legacy"], [],
                    POP_SESSION, POP_REPLIES, "TLSv1.3")
            refused(t, "modern pop3s, the same -tls1 client", p["pop3s"],
                    ["-tls1"] + OLD, srv)
            refused(t, "modern smtps, the same -tls1 client", p["smtps"],
                    ["-tls1"] + OLD, srv)
            t.ok(H.wait_log(srv, r"tls version=TLSv1 cipher=\S+$", 2),
                 "log: tls version=TLSv1 on the legacy listeners")
        if why or not has_3des():
            t.skip("pop3s-legacy accepts Windows XP's DES-CBC3-SHA",
                   why or "the local openssl has no DES-CBC3-SHA")
        else:
            err = session(t, srv, "pop3s-legacy -tls1 DES-CBC3-SHA", p["pop3s-legacy"],
                          ["-tls1", "-cipher", "DES-CBC3-SHA:@SECLEVEL=0"], POP_SESSION,
                          POP_REPLIES, "TLSv1")
            t.ok(re.search(r"^Ciphersuite: DES-CBC3-SHA$", err, re.M),
                 "pop3s-legacy: 3DES negotiated", err)

        # SIGHUP applies new versions: the legacy listener turns modern,
        # and tls.min_version = TLSv1.3 shuts TLS 1.2 out everywhere else
        for e in srv.tree["listen"]:
            if e["port"] == p["pop3s-legacy"]:
                e["min_version"] = "TLSv1.2"
        srv.set("tls.min_version", "TLSv1.3")
        srv.reload()
        t.eq(H.wait_log(srv, r"reload result=ok$"), 1, "SIGHUP with new min_version: reload ok")
        if why:
            t.skip("after reload pop3s-legacy refuses -tls1", why)
        else:
            refused(t, "after reload pop3s-legacy, -tls1", p["pop3s-legacy"],
                    ["-tls1"] + OLD, srv)
        session(t, srv, "after reload pop3s-legacy, -tls1_2", p["pop3s-legacy"],
                ["-tls1_2"], POP_SESSION, POP_REPLIES, "TLSv1.2")
        refused(t, "after reload pop3s (tls.min_version TLSv1.3), -tls1_2", p["pop3s"],
                ["-tls1_2"], srv)
        refused(t, "after reload smtp STARTTLS (tls.min_version TLSv1.3), -tls1_2", p["smtp"],
                ["-starttls", "smtp", "-tls1_2"], srv)
        session(t, srv, "after reload pop3s, TLS 1.3", p["pop3s"], [], POP_SESSION,
                POP_REPLIES, "TLSv1.3")
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError, subprocess.SubprocessError) as e:
        t.ok(False, "test ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
