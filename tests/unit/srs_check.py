#!/usr/bin/env python3
"""srs_check.py: the SRS addresses of common/srs.c recomputed from the
documented scheme (docs/SECURITY.md, "Sender rewriting") with Python's own
hmac, hashlib and base64, independent of our C: one fixed vector, then
random senders, secrets and days, forward and back, through srs_tool.

  SRS0=HHHH=TT=domain=local@srs-domain
  TT   = B32[day >> 5] B32[day & 31], day = unix time // 86400 % 1024
  HHHH = base64(HMAC-SHA256(secret, lower("SRS0=TT=domain=local")))[:4]
  an SRS0 or SRS1 sender becomes SRS1=HHHH=host=rest, hashed the same way
"""

import base64
import hashlib
import hmac
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
DAY = 86400
TOOL = os.path.join(T.top_builddir(), "tests", "unit", "srs_tool")


def srs_hash(secret, msg):
    digest = hmac.new(secret, msg.lower().encode(), hashlib.sha256).digest()
    return base64.b64encode(digest)[:4].decode()


def stamp(now):
    day = now // DAY % 1024
    return B32[day >> 5] + B32[day & 31]


def forward(secret, srs_domain, sender, now):
    """(result name, address) as the scheme says, or None when the C may
    refuse for a reason this model does not cover."""
    local, domain = sender.rsplit("@", 1)
    if domain.lower() == srs_domain.lower():
        return "ok", sender
    head = local[:5].upper()
    if head[:4] == "SRS0" and local[4:5] in ("=", "+", "-"):
        msg = "SRS1=%s=%s" % (domain, local[4:])
    elif head == "SRS1=":
        _, host, rest = local[5:].split("=", 2)
        msg = "SRS1=%s=%s" % (host, rest)
    else:
        msg = "SRS0=%s=%s=%s" % (stamp(now), domain, local)
    local = msg[:5] + srs_hash(secret, msg) + "=" + msg[5:]
    if len(local) > 64:
        return "too_long", "-"
    return "ok", local + "@" + srs_domain


def age_ok(made, now):
    age = (now // DAY - made // DAY) % 1024
    return age <= 21 or age == 1023


def tool(*args):
    p = subprocess.run([TOOL] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        T.bail_out("srs_tool %r: %s" % (args, p.stderr.decode()))
    name, addr = p.stdout.decode().rstrip("\n").split(" ", 1)
    return name, addr


def rand_local(rng):
    atoms = ["".join(rng.choice(ATEXT) for _ in range(rng.randint(1, 12)))
             for _ in range(rng.randint(1, 3))]
    return ".".join(atoms)


def rand_domain(rng):
    labels = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
                      for _ in range(rng.randint(1, 10))) for _ in range(rng.randint(1, 3))]
    return ".".join(labels)


def main():
    if not os.path.exists(TOOL):
        T.skip_all("no %s (make check builds it)" % TOOL)
    t = T.Tap()
    secret = b"0123456789abcdef0123456789abcdef"
    hx = secret.hex()

    # The fixed vector, also written out here so that a change shows.
    want = "SRS0=iLBz=G3=example.net=alice@fwd.example.org"
    t.eq(forward(secret, "fwd.example.org", "alice@example.net", 1700000000), ("ok", want),
         "the Python model gives the known vector")
    t.eq(tool("forward", hx, "fwd.example.org", "alice@example.net", 1700000000), ("ok", want),
         "srs_forward gives the known vector")
    t.eq(tool("reverse", hx, want.lower(), 1700000000), ("ok", "alice@example.net"),
         "srs_reverse reads it back case-folded")

    rng = random.Random(int(os.environ.get("SRS_SEED", "14")))
    fwd_bad, rev_bad, total = [], [], 0
    for i in range(150):
        key = bytes(rng.randrange(256) for _ in range(rng.choice((16, 32, 33, 64, 200))))
        now = rng.randrange(0, 4000000000)
        srs_domain = rand_domain(rng)
        sender = "%s@%s" % (rand_local(rng), rand_domain(rng))
        if i % 5 == 0:   # an address that is already SRS (made by "someone")
            sender = forward(b"another secret..", rand_domain(rng), sender, now)[1]
            if i % 10 == 0 and sender != "-":   # and again: SRS1
                sender = forward(b"a third secret..", rand_domain(rng), sender, now)[1]
            if sender == "-":
                continue
        total += 1
        want = forward(key, srs_domain, sender, now)
        got = tool("forward", key.hex(), srs_domain, sender, now)
        if got != want:
            fwd_bad.append((sender, srs_domain, now, got, want))
            continue
        if want[0] != "ok" or want[1] == sender:
            continue
        later = now + rng.randrange(-2 * DAY, 30 * DAY)
        is_srs1 = want[1].upper().startswith("SRS1=")
        expect = "ok" if is_srs1 or age_ok(now, later) else "expired"
        addr = want[1] if rng.random() < 0.5 else want[1].swapcase()
        got = tool("reverse", key.hex(), addr, later)
        local, domain = addr.rsplit("@", 1)
        if is_srs1:
            _, _, host, rest = local.split("=", 3)
            back = "SRS0%s@%s" % (rest, host)
        else:
            _, _, _, host, user = local.split("=", 4)
            back = "%s@%s" % (user, host)
        if got != (expect, back if expect == "ok" else "-"):
            rev_bad.append((addr, now, later, got, expect))
    t.ok(total > 100, "%d random senders tried" % total)
    t.eq(fwd_bad[:3], [], "srs_forward agrees with the Python model on every one")
    t.eq(rev_bad[:3], [], "srs_reverse reads each back (any case) or says expired as the model does")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
