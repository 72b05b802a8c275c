#!/usr/bin/env python3
"""inbound_checks.py: DNSBL and greylisting at RCPT (docs/PROTOCOL.md),
against a real DNS server (dnsmasq) serving a small block list:
127.0.0.2 listed, 127.0.0.4 answered with 127.255.255.254 (the zone
refusing us: not a listing), everything else not listed. Only outside,
unauthorized clients are checked; postmaster@ gets through a listing;
greylisting defers the first attempt and an early retry, passes a retry
after the delay. Each refusal is logged with its reason and counted."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import dnsfix  # noqa: E402

USER = "alice@example.test"
BLOCKED = "554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test"
GREY = "450 4.7.1 Greylisted, try again later"
DELAY = 2


def rcpt(srv, source, rcpt_to, sender="someone@remote.example"):
    c = H.Smtp(srv, "smtp", source)
    c.hello()
    c.cmd("MAIL FROM:<%s>" % sender)
    r = c.cmd("RCPT TO:<%s>" % rcpt_to)
    c.quit()
    return r


def status_count(srv, what):
    rc, out, err = srv.ctl_run("status")
    m = re.search(r"\b%s[ =:]+(\d+)" % re.escape(what), out)
    return int(m.group(1)) if m else None


def main():
    tap = T.Tap()
    if dnsfix.dnsmasq_path() is None:
        T.skip_all("dnsmasq not installed (Debian: dnsmasq-base)")
    dns = dnsfix.Dnsmasq(a={"2.0.0.127.bl.test": "127.0.0.2",
                            "4.0.0.127.bl.test": "127.255.255.254"})
    srv = T.Server(services=("smtp", "pop3"))
    try:
        srv.set("dns.nameserver", dns.nameserver())
        srv.set("dnsbl.zones", ["bl.test"])
        srv.set("greylist.enabled", True)
        srv.set("greylist.delay", DELAY)
        srv.write_config()
        srv.add_user(USER, "Pw-alice-9")
        with open(srv.aliases_file, "w") as f:
            f.write("postmaster@example.test: %s\n" % USER)
        srv.start()

        # DNSBL
        tap.eq(rcpt(srv, "127.0.0.2", USER), BLOCKED,
               "a listed outside client gets 554 5.7.1 naming its address and the zone")
        tap.ok(rcpt(srv, "127.0.0.2", "postmaster@example.test").startswith("250"),
               "postmaster@ of a local domain still gets through the listing",
               rcpt(srv, "127.0.0.2", "postmaster@example.test"))
        tap.ok(rcpt(srv, T.TRUSTED, USER).startswith("250"),
               "a trusted client is never looked up")
        r = rcpt(srv, "127.0.0.4", USER)
        tap.eq(r, GREY, "an error answer (127.255.255.254) is no listing: the mail goes on "
               "(to the greylist)")
        log = srv.log()
        tap.ok(re.search(r"dnsbl client=127\.0\.0\.2 zone=bl\.test answer=127\.0\.0\.2", log),
               "the listing is logged with client, zone and answer")
        tap.ok(re.search(r"rcpt to=<%s> result=reject code=554 reason=dnsbl" % re.escape(USER),
                         log), "the refused RCPT is logged with reason=dnsbl")
        tap.ok(re.search(r"dnsbl .*127\.0\.0\.4.*error", log),
               "the error answer is logged as such")

        # Greylisting, from an unlisted outside client.
        first = rcpt(srv, "127.0.0.5", USER, "bob@remote.example")
        tap.eq(first, GREY, "first attempt of a triple: 450 4.7.1 Greylisted")
        tap.eq(rcpt(srv, "127.0.0.5", USER, "bob@remote.example"), GREY,
               "an early retry: 450 again")
        tap.ok(re.search(r"rcpt to=<%s> result=reject code=450 reason=greylist" %
                         re.escape(USER), srv.log()), "logged with reason=greylist")
        time.sleep(DELAY + 1)
        tap.ok(rcpt(srv, "127.0.0.5", USER, "bob@remote.example").startswith("250"),
               "a retry after the delay is accepted")
        tap.ok(rcpt(srv, "127.0.0.6", USER, "bob@remote.example").startswith("250"),
               "another address of the same /24 counts as the same client")
        tap.eq(rcpt(srv, "127.0.0.5", USER, "carol@remote.example"), GREY,
               "a new sender is a new triple")
        tap.ok(rcpt(srv, T.TRUSTED, USER, "new@remote.example").startswith("250"),
               "trusted clients are never greylisted")
        H.pop_login(srv, USER, "Pw-alice-9", source=T.CUSTOMER)
        tap.ok(rcpt(srv, T.CUSTOMER, USER, "new@remote.example").startswith("250"),
               "nor a customer who checked its mail")
        r = rcpt(srv, "127.0.0.5", "abuse@example.test", "dave@remote.example")
        tap.ok(r.startswith("250"),
               "abuse@ of a local domain (no alias: the postmaster) is never greylisted", r)
        rc, out, err = srv.ctl_run("greylist", "list")
        tap.ok(rc == 0 and "bob@remote.example" in out and "carol@remote.example" in out,
               "ispmailctl greylist list shows the triples", out)
        rc, out, err = srv.ctl_run("status")
        tap.ok(re.search(r"dnsbl\D+[1-9]", out) and re.search(r"greylist\D+[1-9]", out),
               "ispmailctl status counts dnsbl and greylist refusals", out)
    finally:
        srv.stop()
        tap.ok(not srv.wrapper_errors(), "no sanitizer report or crashed child in the log")
        srv.cleanup()
        dns.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
