#!/usr/bin/env python3
"""relay_audit.py: the open-relay audit (issue 6, docs/PROTOCOL.md, relay
policy). Classic relay-test forms (percent hack, bang paths, source routes,
quoted local parts, address literals of the server itself, IPv6 literals, case
and trailing-dot variants, empty and bogus HELO, null sender, a sender in a
local domain, the recipient as sender, unqualified and broken addresses, a
255-octet domain), each in RCPT and, where it makes sense, in MAIL, from an
outside address (127.0.0.2) on port 25 and from a customer (127.0.0.1) that has
not checked its mail. Every transaction is carried through DATA when the server
lets it, with a Subject naming its row: none may end in the queue; an accepted
recipient must be a local one, and its message in that user's Maildir, once.
Sessions run six at a time.

The table of form -> reply is printed as TAP comments (docs/SECURITY.md
cites it). smtp_relay_tricks.py checks the exact 550/501 texts of the
RCPT tricks; this test is the broad sweep: the decision per form and
source, and the queue."""

import concurrent.futures
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import harden_helpers as X  # noqa: E402

USER, PASSWORD = "user@example.test", "secret"
POSTMASTER = "postmaster@example.test"
REMOTE = "victim@remote.example"
WORKERS = 6                     # sessions at a time
LONG_DOMAIN = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 55, "example"])  # 255 octets
assert len(LONG_DOMAIN) == 255

# (what, the address inside MAIL FROM:<> or RCPT TO:<>, its kind for an
# outsider: "remote" (must get 550), "local" (250, delivered here),
# "syntax" (501); for a customer without POP every recipient gets 553).
RCPT_FORMS = [
    ("percent hack", "user%remote.example@example.test", "remote"),
    ("percent hack, two hops", "user%remote.example%example.test@example.test", "remote"),
    ("percent hack, upper case", "USER%REMOTE.EXAMPLE@EXAMPLE.TEST", "remote"),
    ("percent hack via [own IP]", "user%remote.example@[127.0.0.1]", "remote"),
    ("percent after the domain", "user@example.test%remote.example", "syntax"),
    ("percent, unqualified", "user%remote.example", "syntax"),
    ("bang path", "remote.example!user@example.test", "remote"),
    ("bang path, two hops", "relay.example!remote.example!user@example.test", "remote"),
    ("bang path + percent", "remote.example!user%example.test@example.test", "remote"),
    ("bang path, unqualified", "remote.example!user", "syntax"),
    ("source route", "@example.test:user@remote.example", "remote"),
    ("source route, two hops", "@example.test,@mail.example.test:user@remote.example", "remote"),
    ("source route via [own IP]", "@[127.0.0.1]:user@remote.example", "syntax"),
    ("source route to a local user", "@remote.example:user@example.test", "local"),
    ("quoted @", '"user@remote.example"@example.test', "remote"),
    ("quoted %", '"user%remote.example"@example.test', "remote"),
    ("quoted !", '"remote.example!user"@example.test', "remote"),
    ("quoted, unqualified", '"user@remote.example"', "syntax"),
    ("quoted plain local part", '"user"@example.test', "local"),
    ("escaped @", "user\\@remote.example@example.test", "syntax"),
    ("two @", "user@remote.example@example.test", "syntax"),
    ("own IP literal [127.0.0.1]", "user@[127.0.0.1]", "remote"),
    ("own IP, bare", "user@127.0.0.1", "remote"),
    ("IPv6 literal [IPv6:::1]", "user@[IPv6:::1]", "remote"),
    ("IPv4-mapped IPv6 literal", "user@[IPv6:::ffff:127.0.0.1]", "remote"),
    ("other IP literal", "user@[192.0.2.1]", "remote"),
    ("own host name", "user@mail.example.test", "remote"),
    ("localhost", "user@localhost", "remote"),
    ("subdomain of a local domain", "user@sub.example.test", "remote"),
    ("local domain as a prefix", "user@example.test.remote.example", "remote"),
    ("remote, upper case", "USER@REMOTE.EXAMPLE", "remote"),
    ("remote, trailing dot", "user@remote.example.", "remote"),
    ("local, trailing dot", "user@example.test.", "local"),
    ("local, odd case", "USER@Example.TEST", "local"),
    ("local, two trailing dots", "user@example.test..", "syntax"),
    ("unqualified <user>", "user", "syntax"),
    ("<@>", "@", "syntax"),
    ("<user@>", "user@", "syntax"),
    ("<@remote.example>", "@remote.example", "syntax"),
    ("240-octet remote domain", "user@" + LONG_DOMAIN[15:], "remote"),
    ("255-octet domain (path > 256)", "user@" + LONG_DOMAIN, "syntax"),
    ("unqualified <postmaster> (RFC 5321 4.5.1)", "postmaster", "local"),
    ("domain literal of a name", "user@[example.test]", "syntax"),
    ("decimal IP literal", "user@[2130706433]", "syntax"),
    ("null recipient <>", "", "syntax"),
]

# Sender forms, each with the remote recipient REMOTE: (what, address,
# the reply kind to MAIL: "ok" or "syntax").
MAIL_FORMS = [
    ("null sender <>", "", "ok"),
    ("sender in a local domain", POSTMASTER, "ok"),
    ("sender is a local user", USER, "ok"),
    ("sender is the recipient", REMOTE, "ok"),
    ("sender at [own IP]", "user@[127.0.0.1]", "ok"),
    ("sender at [IPv6:::1]", "user@[IPv6:::1]", "ok"),
    ("sender at own host name", "user@mail.example.test", "ok"),
    ("sender, local with trailing dot", "user@example.test.", "ok"),
    ("sender, percent hack", "user%remote.example@example.test", "ok"),
    ("sender, bang path", "remote.example!user@example.test", "ok"),
    ("sender, source route", "@example.test:user@remote.example", "ok"),
    ("sender, quoted @", '"user@remote.example"@example.test', "ok"),
    ("sender, 240-octet domain", "user@" + LONG_DOMAIN[15:], "ok"),
    ("sender, 255-octet domain (path > 256)", "user@" + LONG_DOMAIN, "syntax"),
    ("sender, unqualified <user>", "user", "syntax"),
    ("sender <@>", "@", "syntax"),
    ("sender <user@>", "user@", "syntax"),
    ("sender, two @", "user@remote.example@example.test", "syntax"),
]

# HELO forms, then MAIL FROM:<x@remote.example> RCPT TO:<REMOTE>.
# (what, the greeting command or None for none, whether it is accepted)
HELO_FORMS = [
    ("no HELO at all", None, False),
    ("empty HELO", "HELO", False),
    ("empty EHLO", "EHLO", False),
    ("HELO with our domain", "HELO example.test", True),
    ("EHLO with our host name", "EHLO mail.example.test", True),
    ("HELO [own IP]", "HELO [127.0.0.1]", True),
    ("HELO localhost", "HELO localhost", True),
    ("EHLO bogus name", "EHLO !!bogus..name!!", True),
]


def want_rcpt(kind, source):
    """The reply class expected at RCPT."""
    if kind == "syntax":
        return "501"
    if source == T.CUSTOMER:
        return "553"            # the relay policy: every recipient, until POP
    return "550" if kind == "remote" else "250"


class Row:
    """One transaction of the table: where the form goes (RCPT, MAIL,
    HELO), what it is, from which source, the commands, the reply code
    expected per step (a "data" step means a local delivery, into the
    Maildir of local), and then what came back."""

    def __init__(self, where, what, source, helo, sender, rcpt, want, local=None):
        self.where, self.what, self.source = where, what, source
        self.helo, self.sender, self.rcpt = helo, sender, rcpt
        self.want, self.local = want, local
        self.n = 0
        self.got = {}
        self.error = None

    def who(self):
        return "outsider" if self.source == T.OUTSIDER else "customer"

    def name(self):
        return "%s, %s %s" % (self.who(), self.where, self.what)

    def token(self):
        return "audit-%d" % self.n


def transaction(srv, row):
    """One session: greeting command, MAIL, RCPT, and DATA when RCPT was
    accepted (the message's Subject names the row)."""
    try:
        s = H.Smtp(srv, "smtp", row.source)
        try:
            if row.helo is not None:
                row.got["helo"] = s.cmd(row.helo)
            row.got["mail"] = s.cmd("MAIL FROM:<%s>" % row.sender)
            row.got["rcpt"] = s.cmd("RCPT TO:<%s>" % row.rcpt)
            if row.got["rcpt"].startswith("250"):
                go, final = s.data(b"Subject: relay %s\r\n\r\naudit\r\n" % row.token().encode())
                row.got["data"] = final or go
            s.quit()
        finally:
            s.close()
    except (T.ProtocolError, OSError) as e:
        row.error = "%s: %s" % (type(e).__name__, e)


def rows_for(source):
    rows = []
    for what, addr, kind in RCPT_FORMS:
        rc = want_rcpt(kind, source)
        want = {"mail": "250", "rcpt": rc}
        local = None
        if rc == "250":
            want["data"] = "250"
            local = POSTMASTER if addr.lower().startswith("postmaster") else USER
        rows.append(Row("RCPT", what, source, "EHLO client.example", "x@remote.example",
                        addr, want, local))
    for what, addr, kind in MAIL_FORMS:
        if kind == "syntax":
            want = {"mail": "501", "rcpt": "503"}
        else:
            want = {"mail": "250", "rcpt": want_rcpt("remote", source)}
        rows.append(Row("MAIL", what, source, "EHLO client.example", addr, REMOTE, want))
    for what, helo, accepted in HELO_FORMS:
        want = {"mail": "250", "rcpt": want_rcpt("remote", source)}
        if helo is not None:
            want["helo"] = "250" if accepted else "501"
        if not accepted:
            want["mail"] = "503"
            want["rcpt"] = "503"
        rows.append(Row("HELO", what, source, helo, "x@remote.example", REMOTE, want))
    return rows


def tokens_in(items):
    """{token: [where]} of the audit messages in [(where, bytes)]."""
    out = {}
    for where, data in items:
        m = re.search(rb"\nSubject: relay (audit-\d+)\r?\n", b"\n" + data)
        if m:
            out.setdefault(m.group(1).decode(), []).append(where)
    return out


def check(t, srv, rows):
    in_maildirs = tokens_in(X.all_maildir_files(srv))
    q = H.queue_files(srv)
    in_queue = tokens_in([(n, H.queue_data(srv, n)) for n in q["new"]])
    for r in rows:
        codes = {k: v[:3] for k, v in r.got.items()}
        ok = r.error is None and all(codes.get(k) == v for k, v in r.want.items()) and \
            ("data" in r.got) == ("data" in r.want)
        t.ok(ok, "%s: %s" % (r.name(), " ".join(
            "%s=%s" % (k, codes.get(k)) for k in ("helo", "mail", "rcpt", "data") if k in r.want)),
            "got %r%s, want %r" % (r.got, " (%s)" % r.error if r.error else "", r.want))
        where = in_maildirs.get(r.token(), [])
        if r.local:
            md = srv.maildir(r.local) + os.sep
            t.ok(len(where) == 1 and where[0].startswith(md) and r.token() not in in_queue,
                 "%s: delivered once into %s's Maildir, not queued" % (r.name(), r.local),
                 "Maildirs: %r, queue: %r" % (where, in_queue.get(r.token())))
        else:
            t.ok(not where and r.token() not in in_queue,
                 "%s: neither delivered nor queued" % r.name(),
                 "Maildirs: %r, queue: %r" % (where, in_queue.get(r.token())))
    t.ok(not q["env"] and not q["new"] and not q["tmp"],
         "after the whole table the queue is empty", repr(q))


def table(t, rows):
    t.diag("open-relay audit: form -> reply (outsider 127.0.0.2 / customer 127.0.0.1 "
           "without POP, port 25)")
    for r in rows:
        shown = {"RCPT": "RCPT TO:<%s>" % r.rcpt, "MAIL": "MAIL FROM:<%s>" % r.sender,
                 "HELO": r.helo or "(no HELO)"}[r.where]
        if len(shown) > 90:
            shown = shown[:60] + "..." + shown[-20:]
        got = r.got
        last = got.get("data") or got.get("rcpt") or got.get("mail") or r.error or "?"
        if r.where == "MAIL" and not got.get("mail", "").startswith("250"):
            last = got.get("mail", "?")
        if r.where == "HELO" and r.helo and not got.get("helo", "").startswith("250"):
            last = got.get("helo", "?") + " / RCPT: " + got.get("rcpt", "?")
        if len(last) > 120:
            last = last[:60] + "..." + last[-40:]
        t.diag("%-8s | %-4s | %-36s | %s | %s" % (r.who(), r.where, r.what, shown, last))


def main():
    t = T.Tap()
    tarpit = H.Tarpit()         # were anything queued, it would stay there
    srv = T.Server(services=("smtp",), config={"relay.smarthost": tarpit.smarthost(),
                                               "limits.max_per_ip": 50})
    try:
        srv.add_user(USER, PASSWORD)
        srv.add_user(POSTMASTER, PASSWORD)
        srv.start()
        rows = rows_for(T.OUTSIDER) + rows_for(T.CUSTOMER)
        for i, r in enumerate(rows, 1):
            r.n = i
        # Sessions side by side (each one its own transaction): the
        # Subject of each message says which row it came from.
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as ex:
            list(ex.map(lambda r: transaction(srv, r), rows))
        check(t, srv, rows)
        # Tried means the server answered the RCPT, not that it was listed.
        tried = {r.name() for r in rows if r.error is None and "rcpt" in r.got}
        t.ok(len(tried) >= 30, "at least 30 forms answered at RCPT (%d of %d transactions)"
             % (len(tried), len(rows)))
        t.eq([r.name() for r in rows if r.source == T.CUSTOMER and "data" in r.got], [],
             "nothing from the customer without POP reached DATA")
        table(t, rows)
        t.diag("%d transactions, %d local deliveries, %d queued"
               % (len(rows), sum(1 for r in rows if r.got.get("data", "").startswith("250")),
                  len(H.queue_files(srv)["env"])))
    except T.SkipTest as e:
        srv.cleanup()
        tarpit.close()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "the audit ran to the end", "%s: %s" % (type(e).__name__, e))
    code = srv.finish(t)
    tarpit.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
