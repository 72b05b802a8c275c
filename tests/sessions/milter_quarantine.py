#!/usr/bin/env python3
"""milter_quarantine.py: a filter's quarantine at the end of the message
(docs/ADMIN.md, "Filters"; SPEC section 11), a real daemon and the scripted
python3-milter filter of tests/interop/milter_filter.py:

- 250 as usual, nothing in the Maildir: the message is held in the queue
  for every recipient, the local one too ("held quarantine" in the
  envelope), and `ispmailctl queue list` says "held";
- the runner leaves it: after two flushes it is still there, untouched;
- `queue release ID` delivers it: the local recipient's copy is
  Return-Path then the queue's bytes exactly, the remote one reaches the sink;
- `queue del ID` of a held message removes it, no bounce."""

import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402
import harden_helpers as X  # noqa: E402
import outbound_helpers as O  # noqa: E402
import milter_wire as MW  # noqa: E402
from sink import Sink  # noqa: E402

LOCAL = "a@example.test"
REMOTE = "bob@remote.test"


class Tmp:
    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="milter-quarantine-")
        os.chmod(self.path, 0o755)

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


class Stopped:
    """A filter process stopped at the end of its part."""

    def __init__(self, f):
        self.f = f

    def close(self):
        self.f.stop()


def filt(fx, tmp):
    f = MW.Filter(tmp, "quarantine", name="q")
    fx.add(Stopped(f))
    return f


def server(fx, f, sink):
    entry = "( { name = \"q\"; address = \"%s\"; } )" % f.address
    srv = fx.server(services=("smtp",), config={"milters": T.Raw(entry), "relay.smarthost": sink.smarthost()})
    srv.add_user(LOCAL, "secret")
    srv.add_user(O.SENDER, "secret")
    srv.start(timeout=30 * T.PATIENCE)
    return srv


def data_of(srv, qid):
    names = [n for n in H.queue_files(srv)["new"] if n.startswith(qid + ".")]
    return H.queue_data(srv, names[0]) if len(names) == 1 else None


def flush_twice(t, srv):
    for n in (1, 2):
        rc, out, _ = srv.ctl_run("queue", "flush")
        t.eq(rc, 0, "flush %d: exit 0" % n)
        t.ok(H.wait_for(lambda: len(O.log_lines(srv, r"queue flush messages=")) >= n,
                        10 * T.PATIENCE), "flush %d: the runner made its pass" % n)


def part_release(t, fx):
    tmp = fx.add(Tmp()).path
    f = filt(fx, tmp)
    sink = fx.add(Sink())
    srv = server(fx, f, sink)
    msg = O.message("held one", to=REMOTE)
    qid = O.relay(srv, O.SENDER, [LOCAL, REMOTE], H.to_wire(msg))
    t.ok(O.log_lines(srv, r"milter stage=eom result=quarantine "
                     r"reason=\"held by the scripted filter\" id=\S+ action=hold"),
         "quarantine: logged with action=hold")
    t.ok(O.log_lines(srv, r"quarantine id=\S+ queue=%s result=held" % re.escape(qid)),
         "held: logged with the queue id")
    t.ok(O.log_lines(srv, r"queued id=%s from=<%s> rcpts=2 " % (re.escape(qid),
                                                                 re.escape(O.SENDER))),
         "held: queued for both recipients")
    t.eq(H.maildir_messages(srv, LOCAL), [], "held: nothing in the Maildir")
    env = H.envelope(srv, qid)
    t.ok("\nheld quarantine\n" in env["text"], "held: the envelope's held line", env["text"])
    t.eq(sorted(r[3] for r in env["rcpt"]), sorted([LOCAL, REMOTE]),
         "held: every recipient in the queue, the local one too")
    stored = data_of(srv, qid)
    t.ok(stored is not None and stored.endswith(msg), "held: the data file", stored)
    rc, out, _ = srv.ctl_run("queue", "list")
    t.ok(rc == 0 and re.match(r"%s \d+s \d+ <%s> held %s=pending %s=pending$"
                              % (re.escape(qid), re.escape(O.SENDER), re.escape(LOCAL),
                                 re.escape(REMOTE)), out.splitlines()[0]),
         "list: the word held after the sender", out)
    flush_twice(t, srv)
    t.ok(O.queued(srv, qid), "the runner leaves a held message")
    t.eq(H.maildir_messages(srv, LOCAL), [], "still nothing in the Maildir")
    t.eq(sink.delivered(), [], "nothing sent")
    t.eq(H.envelope(srv, qid)["text"], env["text"], "the envelope is untouched")

    rc, out, err = srv.ctl_run("queue", "release", qid)
    t.eq((rc, out), (0, "queue: %s released\n" % qid), "release: exit 0, says so")
    got = sink.wait_messages(1, timeout=8)
    t.eq([m.rcpts for m in got], [[REMOTE]], "release: the remote recipient reaches the sink")
    t.ok(H.wait_for(lambda: H.maildir_messages(srv, LOCAL), 10 * T.PATIENCE),
         "release: the local copy arrives")
    mine = H.maildir_messages(srv, LOCAL)
    t.eq([d for _, d in mine], [b"Return-Path: <%s>\n" % O.SENDER.encode() + stored],
         "release: the local copy is Return-Path and the bytes held")
    t.ok(O.wait_gone(srv, qid), "release: the message leaves the queue")
    rc, out, err = srv.ctl_run("queue", "release", qid)
    t.ok(rc == 1 and "no such message" in err, "release again: no such message", err)


def part_del(t, fx):
    tmp = fx.add(Tmp()).path
    f = filt(fx, tmp)
    sink = fx.add(Sink())
    srv = server(fx, f, sink)
    qid = O.relay(srv, O.SENDER, [LOCAL, REMOTE], H.to_wire(O.message("held, deleted")))
    rc, out, _ = srv.ctl_run("queue", "del", qid)
    t.eq((rc, out), (0, "queue: %s removed\n" % qid), "del of a held one: removed")
    t.ok(not O.queued(srv, qid), "del: envelope and data gone")
    flush_twice(t, srv)
    t.eq(H.maildir_messages(srv, LOCAL) + H.maildir_messages(srv, O.SENDER), [],
         "del: nothing delivered, no bounce")
    t.eq(sink.delivered(), [], "del: nothing sent")


def main():
    if not os.access(MW.SYSTEM_PYTHON, os.X_OK):
        T.skip_all("no %s" % MW.SYSTEM_PYTHON)
    import subprocess
    if subprocess.run([MW.SYSTEM_PYTHON, "-c", "import Milter"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        T.skip_all("python3-milter not installed (apt-get install python3-milter)")
    fx = X.Frame()
    fx.part(part_release)
    fx.part(part_del)
    return fx.done()


if __name__ == "__main__":
    sys.exit(main())
