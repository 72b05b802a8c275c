#!/usr/bin/env python3
"""log_level.py: the state-by-state debug lines are off by default (each is
a syslog write on a busy server), on with log_level = "debug", and a SIGHUP
switches them; "warning" drops the per-session info lines as well."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402


def one_session(srv):
    """One SMTP session; returns the log lines it wrote."""
    before = len(srv.log().splitlines())
    c = srv.connect("smtp", source=T.OUTSIDER)
    c.expect(r"220 ")
    c.command("HELO client.example", r"250 ")
    c.command("MAIL FROM:<a@remote.example>", r"250 ")
    c.command("QUIT", r"221 ")
    c.close()
    deadline = time.time() + 10 * T.PATIENCE
    while time.time() < deadline:
        lines = srv.log().splitlines()[before:]
        if any("disconnect " in l for l in lines):
            return lines
        time.sleep(0.05)
    return srv.log().splitlines()[before:]


def wait(cond, timeout=10):
    deadline = time.time() + timeout * T.PATIENCE
    while not cond() and time.time() < deadline:
        time.sleep(0.05)


def levels(lines):
    return {l.split(": ")[1] for l in lines if l.count(": ") >= 2}


def session_lines(lines):
    """The lines of sessions (they carry s=ID): the queue runner, a child of
    its own that may log at any moment, is not what log_level's session
    lines are about (a runner line once fell in the window on a busy run)."""
    return [l for l in lines if " s=" in l]


def main():
    tap = T.Tap()
    srv = T.Server(services=("smtp",))
    srv.start()

    lines = one_session(srv)
    tap.ok(any("mail from=<a@remote.example> result=ok" in l for l in lines),
           "default: the MAIL decision is logged (info)", "\n".join(lines))
    tap.eq(sorted(l for l in levels(lines) if l == "debug"), [],
           "default: no debug lines")

    srv.set("log_level", "debug")
    n = srv.log().count("reload result=ok")
    srv.reload()
    # The master has acted on the SIGHUP once it logs so (a fixed sleep is
    # not enough on a loaded machine).
    wait(lambda: srv.log().count("reload result=ok") > n)
    lines = one_session(srv)
    tap.ok(any("debug: " in l and "state from=ready to=mail" in l for l in lines),
           "log_level = debug after SIGHUP: state lines", "\n".join(lines))

    srv.set("log_level", "warning")
    srv.reload()
    # At "warning" the reload itself is not logged: it has been acted on
    # once the idle session process of the session above is retired (the
    # queue runner is then the master's only child).
    wait(lambda: len(srv.children()) == 1)
    # At "warning" nothing of a clean session is logged: wait on the reply
    # instead of on a log line.
    before = len(srv.log().splitlines())
    c = srv.connect("smtp", source=T.OUTSIDER)
    c.expect(r"220 ")
    c.command("HELO client.example", r"250 ")
    c.command("QUIT", r"221 ")
    c.close()
    time.sleep(0.5)
    lines = srv.log().splitlines()[before:]
    tap.ok(not levels(session_lines(lines)) & {"debug", "info"},
           "log_level = warning: no info or debug lines from the session",
           "\n".join(lines))

    srv.set("log_level", "loud")
    mark = len(srv.log().splitlines())
    srv.reload()
    refused = False
    deadline = time.time() + 10 * T.PATIENCE
    while time.time() < deadline and not refused:
        refused = any("reload result=refused" in l and "log_level: unknown level" in l
                      for l in srv.log().splitlines()[mark:])
        time.sleep(0.05)
    tap.ok(refused, "an unknown level refuses the reload, naming the key")
    mark = len(srv.log().splitlines())
    c = srv.connect("smtp", source=T.OUTSIDER)
    c.expect(r"220 ")
    c.command("QUIT", r"221 ")
    c.close()
    time.sleep(0.5)
    tap.eq(sorted(levels(session_lines(srv.log().splitlines()[mark:])) & {"debug", "info"}), [],
           "after the refused reload the old level (warning) stays")
    sys.exit(srv.finish(tap))


if __name__ == "__main__":
    main()
