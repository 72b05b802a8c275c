#!/usr/bin/env python3
"""postmaster.py: postmaster@ and abuse@ of every local domain, and a bare
<postmaster>, are always deliverable (RFC 5321 4.5.1, RFC 2142): to the
address the postmaster key names, else to the first user of the first
domain; a user, alias or catch-all of that name still takes precedence."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

FIRST = "first@" + T.DOMAINS[0]
OTHER = "other@" + T.DOMAINS[1]


def deliver(srv, rcpt, tag):
    c = H.Smtp(srv, "smtp", T.OUTSIDER)
    c.hello()
    out = c.transaction("someone@remote.example", [rcpt],
                        b"Subject: " + tag.encode() + b"\r\n\r\nhello\r\n")
    c.quit()
    return out


def holds(srv, address, tag):
    """The message is stored by the time 250 came: no waiting needed."""
    new = os.path.join(srv.maildir(address), "new")
    for name in srv.files(address)["new"]:
        with open(os.path.join(new, name), "rb") as f:
            if ("Subject: " + tag).encode() in f.read():
                return True
    return False


def main():
    tap = T.Tap()
    srv = T.Server(services=("smtp",))
    try:
        srv.add_user(OTHER, "Pw-other-1")   # written first, but not in the first domain
        srv.add_user(FIRST, "Pw-first-1")
        srv.start()
        for rcpt, tag in (("postmaster", "bare"), ("postmaster@" + T.DOMAINS[0], "pm0"),
                          ("Postmaster@" + T.DOMAINS[1], "pm1"), ("abuse@" + T.DOMAINS[1], "ab1")):
            r = deliver(srv, rcpt, tag)
            tap.ok(r[1].startswith("250") and r[-1].startswith("250"),
                   "RCPT TO:<%s> from outside: accepted" % rcpt, r)
            tap.ok(holds(srv, FIRST, tag), "and delivered to the first user of the first domain")
        r = deliver(srv, "nobody@" + T.DOMAINS[0], "x")
        tap.ok(r[1].startswith("550 5.1.1"), "any other unknown name is still unknown", r)
        srv.stop()

        srv.set("postmaster", OTHER)
        srv.write_config()
        with open(srv.aliases_file, "w") as f:
            f.write("abuse@%s: %s\n" % (T.DOMAINS[0], FIRST))
        srv.start()
        r = deliver(srv, "postmaster@" + T.DOMAINS[0], "key")
        tap.ok(r[-1].startswith("250") and holds(srv, OTHER, "key"),
               "with postmaster set, postmaster@ goes to that address", r)
        r = deliver(srv, "abuse@" + T.DOMAINS[0], "alias")
        tap.ok(r[-1].startswith("250") and holds(srv, FIRST, "alias"),
               "an alias of that name takes precedence over the key", r)
    finally:
        srv.stop()
        tap.ok(not srv.wrapper_errors(), "no sanitizer report or crashed child in the log")
        srv.cleanup()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
