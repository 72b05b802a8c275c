#!/usr/bin/python3
"""milter_filter.py: a scripted mail filter on Debian's python3-milter
(libmilter underneath), the real peer of tests/interop/milter_wire.py.

    milter_filter.py SOCKET ACTION LOG

SOCKET is libmilter's: "inet:PORT@127.0.0.1" or "unix:/path". ACTION is
"WHAT" or "WHAT:STAGE", STAGE one of connect helo mail rcpt data header
eoh body eom (default eom); at rcpt only <b@example.test> meets the
action:

    continue            every callback continues (the default)
    accept:STAGE        accept
    reject:STAGE        reject
    tempfail:STAGE      tempfail
    discard:STAGE       discard
    replycode:STAGE     setreply 554 5.7.1 (a '%' in the text), then reject
    quarantine          quarantine "held by the scripted filter" at eom
    addheader           add X-Milter: added (folded over two lines)
    insheader           insert X-Top: inserted at index 0 and index 2
    chgheader           change the second Subject:
    delheader           delete X-Folded:
    progress            three progress replies, then continue, at eom
    hang:STAGE          sleep 60 s in that callback
    close:STAGE         end the process (the connection drops) there
    skip                SKIP at the first body chunk
    noreply             no reply for headers (NR_HDR), no DATA, no EOH
    symlist             SETSYMLIST: {mail_addr} at MAIL, i at EOM only
    chgfrom             change the sender at eom (not negotiated by us)

Each callback appends one JSON line to LOG: the stage, its arguments, the
macros it sees, and what was negotiated."""

import json
import os
import sys
import time

import Milter

SOCKET, ACTION, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
WHAT, _, STAGE = ACTION.partition(":")
STAGE = STAGE or "eom"
MACROS = ["j", "_", "i", "{client_addr}", "{client_name}", "{daemon_name}",
          "{auth_authen}", "{mail_addr}", "{rcpt_addr}"]
RESULT = {"reject": Milter.REJECT, "tempfail": Milter.TEMPFAIL,
          "discard": Milter.DISCARD, "accept": Milter.ACCEPT}


def record(**kw):
    with open(LOG, "a") as f:
        f.write(json.dumps(kw) + "\n")


class Scripted(Milter.Base):
    def __init__(self):
        super().__init__()
        self.body_bytes = b""
        self.chunks = 0

    def negotiate(self, opts):
        offered = list(opts)
        if WHAT == "symlist":
            # Base.setsymlist hands the C module bytes where it wants str
            # (python3-milter 1.0.5): call the context directly.
            self._ctx.setsymlist(Milter.M_ENVFROM, "{mail_addr}")
            self._ctx.setsymlist(Milter.M_EOM, "i")
            self._ctx.setsymlist(Milter.M_CONNECT, "j")
        rc = Milter.Base.negotiate(self, opts)
        record(stage="negotiate", offered=offered, actions=opts[0], protocol=opts[1])
        return rc

    def macros(self):
        seen = {}
        for m in MACROS:
            v = self.getsymval(m)
            if v is not None:
                seen[m] = v
        return seen

    def decide(self, stage, **kw):
        record(stage=stage, macros=self.macros(), **kw)
        if stage != STAGE:
            return Milter.CONTINUE
        # At RCPT, only the second recipient meets the action.
        if stage == "rcpt" and kw.get("to") != "<b@example.test>":
            return Milter.CONTINUE
        if WHAT == "hang":
            time.sleep(60)
        if WHAT == "close":
            os._exit(0)
        if WHAT == "replycode":
            self.setreply("554", "5.7.1", "Rejected by the scripted filter, 100%%")
            return Milter.REJECT
        if WHAT in RESULT:
            return RESULT[WHAT]
        return Milter.CONTINUE

    def connect(self, hostname, family, hostaddr):
        return self.decide("connect", hostname=hostname, family=int(family),
                           hostaddr=list(hostaddr) if isinstance(hostaddr, tuple)
                           else hostaddr)

    def hello(self, heloname):
        return self.decide("helo", helo=heloname)

    def envfrom(self, f, *args):
        return self.decide("mail", sender=f, args=list(args))

    def envrcpt(self, to, *args):
        return self.decide("rcpt", to=to, args=list(args))

    def data(self):
        return self.decide("data")

    def header(self, name, value):
        return self.decide("header", name=name, value=value)

    def eoh(self):
        return self.decide("eoh")

    def body(self, chunk):
        self.chunks += 1
        self.body_bytes += chunk
        if WHAT == "skip":
            record(stage="body", size=len(chunk))
            return Milter.SKIP
        return self.decide("body", size=len(chunk))

    def eom(self):
        record(stage="eom_body", chunks=self.chunks, body=self.body_bytes.decode("latin-1"))
        self.body_bytes = b""
        self.chunks = 0
        if WHAT == "quarantine":
            self.quarantine("held by the scripted filter")
        elif WHAT == "addheader":
            self.addheader("X-Milter", "added\n\tsecond line")
        elif WHAT == "insheader":
            self.addheader("X-Top", "inserted", 0)
            self.addheader("X-Third", "inserted", 2)
        elif WHAT == "chgheader":
            self.chgheader("Subject", 2, "changed second")
        elif WHAT == "delheader":
            self.chgheader("X-Folded", 1, "")
        elif WHAT == "progress":
            for _ in range(3):
                self.progress()
                time.sleep(0.2)
        elif WHAT == "chgfrom":
            try:
                self.chgfrom("<other@example.net>")
            except Exception as e:  # the MTA did not offer it
                record(stage="chgfrom_refused", error=str(e))
        return self.decide("eom")

    def abort(self):
        record(stage="abort")
        return Milter.CONTINUE

    def close(self):
        record(stage="close")
        return Milter.CONTINUE


class NoReply(Scripted):
    """No reply for headers, no DATA, no EOH: what libmilter negotiates
    for callbacks marked so."""

    @Milter.noreply
    def header(self, name, value):
        record(stage="header", name=name, value=value)
        return Milter.CONTINUE

    @Milter.nocallback
    def data(self):
        return Milter.CONTINUE

    @Milter.nocallback
    def eoh(self):
        return Milter.CONTINUE


def main():
    Milter.factory = NoReply if WHAT == "noreply" else Scripted
    record(stage="start", pid=os.getpid())
    Milter.runmilter("scripted", SOCKET, timeout=120)


if __name__ == "__main__":
    main()
