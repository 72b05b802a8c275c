#!/usr/bin/env python3
"""docs_replies.py: docs/PROTOCOL.md quotes every reply the server can
send, so the documentation cannot drift from the code unnoticed. Each
reply of smtpd/smtp_replies.h ("code enhanced text", the form after EHLO;
the relay policy's replies are there too, the 553's HELO form with its
suffix as a reply of its own) and of pop3d/pop3_replies.h must appear in
PROTOCOL.md, a printf conversion standing for any value the document shows
in its place."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

C_STRING = r'"(?:[^"\\]|\\.)*"'


def read(*parts):
    with open(os.path.join(T.top_srcdir(), *parts), encoding="utf-8") as f:
        return f.read()


def c_strings(text):
    """The value of adjacent C string literals ("a" "b" -> "ab"); no
    escapes beyond \\" and \\\\ occur in the reply tables."""
    return "".join(re.sub(r'\\(.)', r'\1', s[1:-1]) for s in re.findall(C_STRING, text))


def pattern(reply):
    """A regular expression for a reply with printf conversions: %s stands
    for one word of the document (a host name, an address, an id), %zu and
    %llu for a number."""
    out = []
    for piece in re.split(r"(%s|%zu|%llu)", reply):
        if piece == "%s":
            out.append(r"\S+")
        elif piece in ("%zu", "%llu"):
            out.append(r"\d+")
        else:
            out.append(re.escape(piece))
    return "".join(out)


def smtp_replies():
    """[(name, reply)] of smtp_replies.h, in the form sent after EHLO."""
    text = read("smtpd", "smtp_replies.h")
    out = []
    for m in re.finditer(r'^R\((\w+),\s*(\d+),\s*(NULL|%s),\s*(%s)\);' % (C_STRING, C_STRING),
                         text, re.M):
        name, code, enh, body = m.groups()
        enh = None if enh == "NULL" else c_strings(enh)
        out.append((name, "%s %s%s" % (code, enh + " " if enh else "", c_strings(body))))
    return out


def pop3_replies():
    text = read("pop3d", "pop3_replies.h")
    return [(m.group(1), c_strings(m.group(2))) for m in
            re.finditer(r"^#define\s+(POP3_\w+)\s+(%s)\s*$" % C_STRING, text, re.M)]


def main():
    t = T.Tap()
    doc = read("docs", "PROTOCOL.md")
    smtp, pop3 = smtp_replies(), pop3_replies()
    # A parser that stopped matching would check nothing: count first.
    t.ok(len(smtp) >= 60, "smtp_replies.h: %d replies read" % len(smtp))
    t.ok(len(pop3) >= 35, "pop3_replies.h: %d replies read" % len(pop3))
    for name, reply in smtp + pop3:
        t.ok(re.search(pattern(reply), doc) is not None,
             "PROTOCOL.md quotes %s: %s" % (name, reply),
             "not found in docs/PROTOCOL.md: %r" % reply)
    for reply in ("501 5.1.7 Bad sender address syntax",
                  "501 5.1.3 Bad recipient address syntax"):
        t.ok(reply in doc, "PROTOCOL.md quotes %s" % reply)
    return t.done()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except T.SkipTest as e:
        T.skip_all(str(e))
    except T.HarnessError as e:
        T.bail_out(str(e))
