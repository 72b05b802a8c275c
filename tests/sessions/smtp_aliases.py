#!/usr/bin/env python3
"""smtp_aliases.py: local recipients through the aliases file
(docs/PROTOCOL.md, files): an alias with several destinations delivers one file
hard-linked into each Maildir (same inode, same bytes, 250 after all of them);
a real user wins over the domain's catch-all, which takes everything else in
its domain; a recipient named twice (directly and through an alias) gets one
copy; an alias with a remote destination sends that part through the queue,
even from outside; an alias that leads nowhere (or in a circle) is an unknown
user, and the daemon goes on."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

USERS = ["alice@example.test", "bob@example.test", "carol@example.org",
         "postmaster@example.org"]
ALIASES = """# aliases for smtp_aliases.py
team@example.test:   alice@example.test, bob@example.test, carol@example.org
Sales@Example.Test:  alice@example.test far@remote.example
ghost@example.test:  nobody@example.test
loop1@example.test:  loop2@example.test
loop2@example.test:  loop1@example.test
nested@example.test: team@example.test
@example.org:        postmaster@example.org
"""


def counts(srv):
    return dict((u, len(srv.files(u)["new"])) for u in USERS)


def send(srv, rcpts, body, source=T.OUTSIDER):
    s = H.Smtp(srv, "smtp", source)
    s.hello(True)
    r = s.transaction("sender@remote.example", rcpts, body)
    s.quit()
    return r


def delta(before, after):
    return dict((u, after[u] - before[u]) for u in USERS if after[u] != before[u])


def newest(srv, address, had):
    return [(n, d) for n, d in H.maildir_messages(srv, address) if n not in had]


def main():
    t = T.Tap()
    tarpit = H.Tarpit()
    srv = T.Server(services=("smtp",), config={"relay.smarthost": tarpit.smarthost()})
    try:
        for u in USERS:
            srv.add_user(u, "pw")
        with open(srv.aliases_file, "w") as f:
            f.write(ALIASES)
        srv.start()

        # 1. one alias, three Maildirs, one inode
        c0 = counts(srv)
        had = dict((u, set(srv.files(u)["new"])) for u in USERS)
        body = b"Subject: to the team\r\n\r\n..dot\r\nline\r\n"
        r = send(srv, ["team@example.test"], body)
        t.eq(r[:3], ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"],
             "team@: MAIL, RCPT, DATA")
        t.ok(r[-1].startswith("250 2.0.0 Ok: queued as "), "team@: 250", repr(r))
        t.eq(delta(c0, counts(srv)), {"alice@example.test": 1, "bob@example.test": 1,
                                      "carol@example.org": 1}, "team@: one copy in each Maildir")
        files = [newest(srv, u, had[u]) for u in USERS[:3]]
        paths = [os.path.join(srv.maildir(u), "new", f[0][0]) for u, f in zip(USERS, files) if f]
        inodes = set(os.stat(p).st_ino for p in paths)
        t.eq(len(inodes), 1, "team@: the three files are one inode (hard links)")
        t.ok(paths and os.stat(paths[0]).st_nlink == 3, "team@: link count 3",
             paths and os.stat(paths[0]).st_nlink)
        datas = set(f[0][1] for f in files if f)
        t.eq(len(datas), 1, "team@: same bytes everywhere")
        if datas:
            data = datas.pop()
            rp, rec, rest = H.split_trace(data)
            t.eq(rp, b"Return-Path: <sender@remote.example>", "team@: Return-Path")
            t.ok(rec and re.match(H.received_re("client.example", T.OUTSIDER, "ESMTP",
                                                "team@example.test"), rec),
                 "team@: Received ... for <team@example.test>", repr(rec))
            t.eq(rest, b"Subject: to the team\n\n.dot\nline\n", "team@: body")
        names = [f[0][0] for f in files if f]
        t.eq(len(set(n.split(",")[0] for n in names)), len(names),
             "team@: each Maildir has its own unique name")
        t.ok(H.queue_empty(srv), "team@: nothing queued", repr(H.queue_files(srv)))

        # 2. a real user wins over the catch-all
        c0 = counts(srv)
        r = send(srv, ["carol@example.org"], b"Subject: carol\r\n\r\nx\r\n")
        t.ok(r[-1].startswith("250 "), "carol@example.org: 250", repr(r))
        t.eq(delta(c0, counts(srv)), {"carol@example.org": 1},
             "real user carol gets it, the catch-all does not")

        # 3. the catch-all takes every other name in its domain, any spelling
        for rcpt in ("whoever@example.org", "Someone.Else@EXAMPLE.ORG."):
            c0 = counts(srv)
            r = send(srv, [rcpt], b"Subject: catch-all\r\n\r\nx\r\n")
            t.ok(r[1] == "250 2.1.5 Ok" and r[-1].startswith("250 "),
                 "%s: accepted" % rcpt, repr(r))
            t.eq(delta(c0, counts(srv)), {"postmaster@example.org": 1},
                 "%s: delivered to the catch-all's destination" % rcpt)

        # 4. no catch-all in example.test: unknown users are refused
        s = H.Smtp(srv, "smtp", T.OUTSIDER)
        s.hello(True)
        s.cmd("MAIL FROM:<sender@remote.example>")
        t.eq(s.cmd("RCPT TO:<nobody@example.test>"), H.user_unknown("nobody@example.test"),
             "nobody@example.test: 550 5.1.1 User unknown")
        t.eq(s.cmd("RCPT TO:<ghost@example.test>"), H.user_unknown("ghost@example.test"),
             "an alias to nobody: 550 5.1.1")
        t.eq(s.cmd("RCPT TO:<loop1@example.test>"), H.user_unknown("loop1@example.test"),
             "an alias loop: 550 5.1.1, no hang")
        t.eq(s.cmd("NOOP"), "250 2.0.0 Ok", "the session goes on after the loop")
        s.quit()

        # 5. named twice: one copy; an alias of an alias is followed
        c0 = counts(srv)
        r = send(srv, ["alice@example.test", "nested@example.test", "team@example.test"],
                 b"Subject: twice\r\n\r\nx\r\n")
        t.ok(r[-1].startswith("250 "), "alice + nested + team: 250", repr(r))
        t.eq(delta(c0, counts(srv)), {"alice@example.test": 1, "bob@example.test": 1,
                                      "carol@example.org": 1},
             "named three ways: one copy each")

        # 6. an alias with a remote destination, from outside: local part
        #    delivered, remote part queued (docs/PROTOCOL.md, files)
        c0 = counts(srv)
        had = set(srv.files("alice@example.test")["new"])
        r = send(srv, ["sales@example.test"], b"Subject: sales\r\n\r\nx\r\n")
        m = re.match(r"250 2\.0\.0 Ok: queued as (\S+)$", r[-1])
        t.ok(m, "sales@ (case folded alias): 250", repr(r))
        t.eq(delta(c0, counts(srv)), {"alice@example.test": 1}, "sales@: alice's copy")
        q = H.queue_files(srv)
        t.eq(len(q["env"]), 1, "sales@: one envelope queued for the remote destination")
        if q["env"]:
            env = H.envelope(srv, q["env"][0])
            t.eq(m and m.group(1), q["env"][0], "sales@: the 250 names the queue id")
            t.eq([x[3] for x in env["rcpt"]], ["far@remote.example"],
                 "sales@: the envelope holds only the remote destination")
            # ispmaild.conf(5), SRS: a forward to another domain leaves
            # with the sender rewritten (SRS0, the srs domain is the hostname).
            t.ok(re.match(r"SRS0=[^=]{4}=[A-Z2-7]{2}=remote\.example=sender@%s$"
                          % re.escape(T.HOSTNAME), env.get("sender") or ""),
                 "sales@: envelope sender rewritten with SRS", env.get("sender"))
            data = H.queue_data(srv, env["data"])
            t.ok(not data.startswith(b"Return-Path:"), "sales@: queued copy has no Return-Path",
                 repr(data[:80]))
            local = newest(srv, "alice@example.test", had)
            if local:
                t.eq(b"Return-Path: <sender@remote.example>\n" + data, local[0][1],
                     "sales@: queued copy = local copy less its Return-Path")
        t.ok(os.path.isdir(srv.maildir("alice@example.test")), "alice's Maildir exists")
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError) as e:
        t.ok(False, "session ran to the end", "%s: %s" % (type(e).__name__, e))
    code = srv.finish(t)
    tarpit.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
