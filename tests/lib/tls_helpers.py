"""tls_helpers: what the TLS and authentication tests share, on top of
ispmaild_test and smtp_helpers: a test CA and a server certificate made
with `openssl req` (CN localhost, SAN localhost, 127.0.0.1 and the test
hostname), a Server with the tls block and a harmless resolver, client
contexts, certificate fingerprints, `openssl s_client` runs, SASL
encodings, STARTTLS/STLS on the harness's connections, and poplib/smtplib
clients bound to a chosen source address (127.0.0.1 customer, 127.0.0.2
outsider).

Python 3 standard library only; needs the openssl command.
"""

import base64
import os
import poplib
import random
import re
import shutil
import socket
import ssl
import subprocess
import time

import ispmaild_test as T
import smtp_helpers as S

OPENSSL = "openssl"
# Never the system resolver: the queue runner would look up the test's
# made-up domains on the network. Port 9 (discard) answers nothing.
DNS_NOWHERE = "127.0.0.1:9"

# SMTP replies of smtpd/smtp_replies.h, as they look after EHLO.
TLS_READY = "220 2.0.0 Ready to start TLS"
TLS_READY_HELO = "220 Ready to start TLS"
TLS_ALREADY = "503 5.5.1 Error: TLS already active"
NEED_HELO = "503 5.5.1 Error: send HELO/EHLO first"
NEED_HELO_PLAIN = "503 Error: send HELO/EHLO first"
AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_FAILED = "535 5.7.8 Error: authentication failed"
AUTH_CANCELLED = "501 5.7.0 Authentication cancelled"
AUTH_BASE64 = "501 5.5.2 Error: invalid base64 data"
AUTH_SYNTAX = "501 5.5.4 Syntax: AUTH mechanism [initial-response]"
AUTH_MECH = "504 5.5.4 Unrecognized authentication type"
AUTH_ALREADY = "503 5.5.1 Error: already authenticated"
AUTH_IN_MAIL = "503 5.5.1 Error: MAIL transaction in progress"
AUTH_NEED_TLS = "538 5.7.11 Encryption required for requested authentication mechanism"
AUTH_REQUIRED = "530 5.7.0 Authentication required"
MAIL_OK = "250 2.1.0 Ok"
RCPT_OK = "250 2.1.5 Ok"
OK = "250 2.0.0 Ok"
BYE = "221 2.0.0 Bye"

# POP3 replies of pop3d/pop3_replies.h.
POP_STLS = "+OK Begin TLS negotiation now."
POP_TLS_ACTIVE = "-ERR TLS is already active."
POP_USER_OK = "+OK Send your password."
POP_LOGIN_OK = "+OK Logged in, %d messages."
POP_AUTH_LIST = "+OK SASL mechanisms follow"
POP_AUTH_MECH = "-ERR [AUTH] Unsupported authentication mechanism."
POP_AUTH_CANCEL = "-ERR Authentication cancelled."
POP_AUTH_BASE64 = "-ERR Invalid base64 data in continued response."
POP_AUTH_FAILED = "-ERR [AUTH] Authentication failed."
POP_AUTH_CLOSE = "-ERR [AUTH] Authentication failed, closing."
POP_PLAINTEXT = ("-ERR [AUTH] Plaintext authentication disallowed on "
                 "non-secure (SSL/TLS) connections.")
POP_BYE = "+OK Logging out."

PIPELINE_DISCARDED = "result=discarded reason=pipelined-input"


def need_openssl():
    if not shutil.which(OPENSSL):
        raise T.SkipTest("openssl not installed")


def _run(args, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60, **kw)


def _openssl(*args):
    p = _run([OPENSSL] + list(args))
    if p.returncode != 0:
        raise T.HarnessError("openssl %s: %s" % (" ".join(args),
                                                 p.stderr.decode(errors="replace")))
    return p.stdout


class Pki:
    """A test CA in directory d (ca.pem, ca-key.pem) that signs server
    certificates: issue("cert.pem", "key.pem") writes a new key and a
    certificate with CN localhost and SAN DNS:localhost, IP:127.0.0.1,
    DNS:<test hostname>."""

    def __init__(self, d):
        need_openssl()
        self.dir = d
        self.ca = os.path.join(d, "ca.pem")
        self.ca_key = os.path.join(d, "ca-key.pem")
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", "/O=ispmaild tests/CN=ispmaild test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-keyout", self.ca_key, "-out", self.ca)

    def issue(self, cert, key, cn="localhost"):
        csr = os.path.join(self.dir, "req.csr")
        ext = os.path.join(self.dir, "req.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:%s\n" % T.HOSTNAME)
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes",
                 "-subj", "/CN=" + cn, "-keyout", key, "-out", csr)
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                 "-set_serial", str(random.randrange(1, 2 ** 62)), "-days", "2",
                 "-extfile", ext, "-out", cert)
        os.unlink(csr)
        os.unlink(ext)
        return cert, key


def server(services, config=None, extra=None):
    """A T.Server with the tls block (a CA-signed certificate, srv.ca the CA
    file, srv.cert_file/srv.key_file), dns.nameserver pointing nowhere, and
    config applied after that. extra: {name: {listen keys}} adds listeners
    (a legacy one with its own min_version/ciphers, or one on another
    address), reachable as srv.ports[name]."""
    srv = T.Server(services=services)
    try:
        srv.pki = Pki(srv.dir)
        srv.cert_file = os.path.join(srv.dir, "cert.pem")
        srv.key_file = os.path.join(srv.dir, "key.pem")
        srv.pki.issue(srv.cert_file, srv.key_file)
        srv.ca = srv.pki.ca
        srv.cert = srv.ca          # the harness's tls_context() trusts this file
        srv.tree["tls"] = {"certificate": srv.cert_file, "private_key": srv.key_file}
        srv.tree["dns"] = {"nameserver": DNS_NOWHERE}
        for name, entry in (extra or {}).items():
            address = entry.get("address", "127.0.0.1")
            port = T.free_port(address)
            while port in srv.ports.values():   # nothing is bound yet
                port = T.free_port(address)
            srv.ports[name] = port
            e = {"service": entry["service"], "address": address, "port": port}
            e.update({k: v for k, v in entry.items()
                      if k not in ("service", "address")})
            srv.tree["listen"].append(e)
        for k, v in (config or {}).items():
            srv.set(k, v)
        srv.write_config()
        srv._chown_tree()
    except BaseException:
        srv.cleanup()
        raise
    return srv


def client_context(srv, minimum=None):
    """A client context that trusts only the test CA (hostname checked)."""
    ctx = ssl.create_default_context(cafile=srv.ca)
    if minimum is not None:
        ctx.minimum_version = minimum
    return ctx


def fingerprint_file(path):
    """"AA:BB:..." of a PEM certificate file, by `openssl x509 -fingerprint`."""
    out = _openssl("x509", "-noout", "-fingerprint", "-sha256", "-in", path)
    return out.decode().strip().split("=", 1)[1]


def fingerprint_pem(pem):
    p = _run([OPENSSL, "x509", "-noout", "-fingerprint", "-sha256"], input=pem)
    if p.returncode != 0:
        return None
    return p.stdout.decode().strip().split("=", 1)[1]


def s_client(port, args=(), stdin=b"", timeout=20):
    """`openssl s_client -connect 127.0.0.1:PORT ARGS` with stdin as input
    (-ign_eof: it waits for the server to close). (exit code, stdout,
    stderr) as text."""
    need_openssl()
    cmd = [OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port] + list(args)
    try:
        p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b"").decode("latin-1"), \
            (e.stderr or b"").decode("latin-1") + "\n(timeout)"
    return p.returncode, p.stdout.decode("latin-1"), p.stderr.decode("latin-1")


def served_fingerprint(port, starttls=None):
    """The sha256 fingerprint of the certificate the listener on port
    presents (s_client, then openssl x509); None when no handshake."""
    args = ["-showcerts"]
    if starttls:
        args += ["-starttls", starttls]
    rc, out, err = s_client(port, args, b"")
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
                  out, re.S)
    if not m:
        return None
    return fingerprint_pem(m.group(0).encode())


def b64(text):
    if isinstance(text, str):
        text = text.encode()
    return base64.b64encode(text).decode()


def plain(user, password, authzid=""):
    """An RFC 4616 PLAIN message, base64."""
    return b64("%s\0%s\0%s" % (authzid, user, password))


def wait_log(srv, pattern, count=1, timeout=5.0):
    """Wait until the daemon log has count lines matching the regex;
    returns the number found."""
    S.wait_for(lambda: log_count(srv, pattern) >= count, timeout)
    return log_count(srv, pattern)


def log_count(srv, pattern):
    rx = re.compile(pattern)
    return len([l for l in srv.log().splitlines() if rx.search(l)])


# --- STARTTLS / STLS on the harness's connections ---

def smtp_starttls(t, s, ctx, what, hostname="localhost", esmtp=True):
    """STARTTLS on a smtp_helpers.Smtp; asserts the 220 and the handshake."""
    r = s.cmd("STARTTLS")
    t.eq(r, TLS_READY if esmtp else TLS_READY_HELO, what + ": STARTTLS")
    if not r.startswith("220"):
        raise T.ProtocolError("no STARTTLS: %r" % r)
    s.c.starttls(ctx, hostname)
    v = s.c.tls_version()
    t.ok(v in ("TLSv1.2", "TLSv1.3"), what + ": TLS 1.2 or newer", repr(v))


def pop_stls(t, c, ctx, what, hostname="localhost"):
    r = c.command("STLS")
    t.eq(r, POP_STLS, what + ": STLS")
    if r != POP_STLS:
        raise T.ProtocolError("no STLS: %r" % r)
    c.starttls(ctx, hostname)


def ehlo_keywords(lines):
    """["PIPELINING", "SIZE 26214400", ...] of a 250 EHLO reply."""
    return [l[4:] for l in lines[1:]]


def pop_capa(c):
    c.command("CAPA", r"\+OK")
    return c.read_multiline()


# --- stdlib clients from a chosen source address ---

class POP3From(poplib.POP3):
    """poplib.POP3 from a given source address."""

    def __init__(self, host, port, source, timeout=None):
        self._source = source
        super().__init__(host, port, timeout=timeout or T.READ_TIMEOUT)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))


class POP3SSLFrom(poplib.POP3_SSL):
    def __init__(self, host, port, source, context, timeout=None):
        self._source = source
        super().__init__(host, port, timeout=timeout or T.READ_TIMEOUT,
                         context=context)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))
        return self.context.wrap_socket(sock, server_hostname=self.host)


def elapsed(fn):
    """(fn(), seconds it took)."""
    t0 = time.monotonic()
    v = fn()
    return v, time.monotonic() - t0


def received_tls_re(helo, ip, proto, version, cipher, rcpt=None):
    """Our Received header for a message that came over TLS, as a bytes
    regex (smtpd/smtp_session.c trace_headers; RFC 3848 protocol names)."""
    r = (rb"Received: from " + re.escape(helo.encode()) + rb" \(\[" + re.escape(ip.encode())
         + rb"\]\)\n\tby " + re.escape(T.HOSTNAME.encode()) + rb" \(ispmaild\) with "
         + re.escape(proto.encode()) + rb" id (?P<id>[\w.-]+)\n\t\(version="
         + re.escape(version.encode()) + rb" cipher=" + re.escape(cipher.encode()) + rb"\)")
    if rcpt:
        r += rb"\n\tfor <" + re.escape(rcpt.encode()) + rb">"
    return r + rb"; " + S.DATE_RE + rb"\n\Z"


def tls_params(client):
    """(version, cipher name) of a harness Client's TLS connection."""
    return client.sock.version(), client.sock.cipher()[0]


def todo(t, cond, desc, reason, details=None):
    """A TAP TODO assertion (automake counts it XFAIL, or XPASS once the
    daemon is fixed): a known daemon bug that must not break the suite."""
    t.n += 1
    print("%s %d - %s # TODO %s" % ("ok" if cond else "not ok", t.n,
                                    desc.replace("#", "\\#"), reason))
    if not cond and details:
        t.diag(details)
    return bool(cond)


class Inbox:
    """The messages that arrive in address's Maildir new/ from now on
    (Maildir names do not sort by time, so remember what was there)."""

    def __init__(self, srv, address):
        self.srv, self.address = srv, address
        self.seen = set(srv.files(address)["new"])

    def new(self):
        """[(name, bytes)] that arrived since the last call."""
        out = [(n, d) for n, d in S.maildir_messages(self.srv, self.address)
               if n not in self.seen]
        self.seen.update(n for n, _ in out)
        return out
