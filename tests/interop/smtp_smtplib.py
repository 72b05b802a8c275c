#!/usr/bin/env python3
"""smtp_smtplib.py: Python's smtplib against ispmaild: sendmail() to
several recipients with one unknown user and one remote address from
outside returns exactly those two in its refused dict (550 5.1.1 and
550 5.7.1) and delivers to the others; every recipient refused raises
SMTPRecipientsRefused; HELO instead of EHLO gives the codes without the
enhanced part; the SIZE= that smtplib adds is checked at MAIL (552);
submission wants authentication (530); 8BITMIME bodies are kept byte for
byte; send_message() with an EmailMessage works."""

import email.message
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402
import smtp_helpers as H  # noqa: E402

USERS = ["demo@example.test", "two@example.test", "three@example.org"]
LIMIT = 100000
MESSAGE = (b"From: sender@remote.example\nSubject: smtplib \xe9\n\n.leading dot\n"
           b"line with 8-bit: \xc3\xa9\xff\n..\nend\n")


class Client(smtplib.SMTP):
    """smtplib bound to a chosen source address."""

    def __init__(self, srv, service="smtp", source=T.OUTSIDER):
        super().__init__(timeout=T.READ_TIMEOUT, source_address=(source, 0))
        self.connect("127.0.0.1", srv.ports[service])


def snapshot(srv):
    return dict((u, set(srv.files(u)["new"])) for u in USERS)


def new_since(srv, had, u):
    return [d for n, d in H.maildir_messages(srv, u) if n not in had[u]]


def main():
    t = T.Tap()
    # smtplib sends a bytes message as it is: it must have CRLF line ends
    # (a bare LF would rightly get 550 5.5.2).
    srv = T.Server(services=("smtp", "submission"), config={"limits.message_size": LIMIT})
    try:
        for u in USERS:
            srv.add_user(u, "pw")
        srv.start()

        had = snapshot(srv)
        c = Client(srv)
        code, msg = c.ehlo("smtplib.example")
        t.eq(code, 250, "EHLO 250")
        t.ok(c.has_extn("pipelining") and c.has_extn("8bitmime") and c.has_extn("size"),
             "smtplib sees PIPELINING, 8BITMIME, SIZE", repr(c.esmtp_features))
        t.eq(c.esmtp_features.get("size"), str(LIMIT), "SIZE is message_size")
        refused = c.sendmail("sender@remote.example",
                             [USERS[0], "nobody@example.test", USERS[1], "user@remote.example",
                              USERS[2]], T.crlf(MESSAGE), mail_options=["BODY=8BITMIME"])
        t.eq(refused, {
            "nobody@example.test": (550, b"5.1.1 <nobody@example.test>: Recipient address "
                                         b"rejected: User unknown"),
            "user@remote.example": (550, b"5.7.1 relaying to <user@remote.example> "
                                         b"prohibited by administrator")},
            "sendmail: the refused dict holds the unknown user and the remote address")
        c.quit()
        for u in USERS:
            new = new_since(srv, had, u)
            t.eq(len(new), 1, "%s got one message" % u)
            if new:
                rp, rec, rest = H.split_trace(new[0])
                t.eq(rest, MESSAGE, "%s: bytes as sent, 8-bit and dots intact" % u)
                t.ok(rec and re.match(H.received_re("smtplib.example", T.OUTSIDER, "ESMTP"),
                                      rec), "%s: Received line, no 'for' (three)" % u, repr(rec))
        t.ok(H.queue_empty(srv), "the remote recipient was not queued", repr(H.queue_files(srv)))

        # Every recipient refused: SMTPRecipientsRefused, nothing delivered.
        had = snapshot(srv)
        c = Client(srv)
        try:
            c.sendmail("sender@remote.example", ["nobody@example.test", "x@remote.example"],
                       T.crlf(MESSAGE))
            t.ok(False, "all refused: SMTPRecipientsRefused")
        except smtplib.SMTPRecipientsRefused as e:
            t.eq(sorted(e.recipients), ["nobody@example.test", "x@remote.example"],
                 "all refused: SMTPRecipientsRefused names both")
        c.quit()
        t.eq(snapshot(srv), had, "all refused: nothing delivered")

        # HELO: the same refusals without enhanced codes.
        c = Client(srv)
        c.helo("oldclient.example")
        refused = c.sendmail("sender@remote.example", [USERS[0], "user@remote.example"],
                             b"Subject: helo\r\n\r\nx\r\n")
        t.eq(refused, {"user@remote.example": (550, b"relaying to <user@remote.example> "
                                                    b"prohibited by administrator")},
             "after HELO: 550 without the enhanced code")
        c.quit()

        # A customer that has not checked its mail: the 553 for everyone.
        c = Client(srv, source=T.CUSTOMER)
        try:
            c.sendmail("demo@example.test", ["user@remote.example"], b"Subject: x\r\n\r\nx\r\n")
            t.ok(False, "customer: refused")
        except smtplib.SMTPRecipientsRefused as e:
            t.eq(e.recipients, {"user@remote.example": (553, H.FIRST_POP_EHLO[4:].encode())},
                 "customer without POP: 553 5.7.1 first check your mail")
        c.quit()

        # smtplib announces SIZE=; over the limit it is refused at MAIL.
        c = Client(srv)
        try:
            c.sendmail("sender@remote.example", [USERS[0]], b"x" * (LIMIT + 10) + b"\r\n")
            t.ok(False, "SIZE over the limit: SMTPSenderRefused")
        except smtplib.SMTPSenderRefused as e:
            t.eq((e.smtp_code, e.smtp_error),
                 (552, b"5.3.4 Error: message size exceeds fixed limit"),
                 "SIZE over message_size: 552 5.3.4 at MAIL")
        c.quit()

        # Submission without authorization: 530 at MAIL.
        c = Client(srv, "submission", T.OUTSIDER)
        try:
            c.sendmail("sender@remote.example", [USERS[0]], b"Subject: x\r\n\r\nx\r\n")
            t.ok(False, "submission: SMTPSenderRefused")
        except smtplib.SMTPSenderRefused as e:
            t.eq((e.smtp_code, e.smtp_error), (530, b"5.7.0 Authentication required"),
                 "submission from outside: 530 5.7.0")
        c.quit()

        # send_message with an EmailMessage, to a local user.
        had = snapshot(srv)
        m = email.message.EmailMessage()
        m["From"] = "sender@remote.example"
        m["To"] = USERS[2]
        m["Subject"] = "send_message"
        m.set_content("Hello from send_message.\n.dot line\n")
        c = Client(srv)
        t.eq(c.send_message(m), {}, "send_message: nobody refused")
        c.quit()
        new = new_since(srv, had, USERS[2])
        t.ok(len(new) == 1 and new[0].endswith(b"\n\nHello from send_message.\n.dot line\n"),
             "send_message: delivered with the body intact", repr(new))
    except T.SkipTest as e:
        srv.cleanup()
        T.skip_all(str(e))
    except (T.HarnessError, T.ProtocolError, OSError, smtplib.SMTPException) as e:
        t.ok(False, "ran to the end", "%s: %s" % (type(e).__name__, e))
    return srv.finish(t)


if __name__ == "__main__":
    sys.exit(main())
