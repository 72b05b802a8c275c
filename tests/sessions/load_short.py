#!/usr/bin/env python3
"""load_short.py: bench/load.py, short, for make check: 30 concurrent
mixed sessions (POP3 retrievals, local deliveries, relays to a sink) for
8 seconds; zero unexpected replies, every accepted message delivered
exactly once, the master's descriptors and memory flat, the queue keeps
moving until it is empty (no fixed total time: see bench/load.py); at
most 300 of the messages are relayed, the relay clients then deliver
locally. In a sanitizer build 15 clients for 6 seconds and at most 100
relayed messages: each queue worker there costs a fork and a leak check,
and on two loaded cores the queue sends under a message a second (550
relayed took more than 10 minutes). Under $ISPMAILD_WRAPPER (valgrind) 6 clients
for 6 seconds: there it looks for memory errors under concurrency, not for
figures."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import load  # noqa: E402
import ispmaild_test as T  # noqa: E402

# Seconds the queue may take to drain in all: only a guard against one
# that trickles for ever; the check is that it never stalls (load.STALL_S).
HANG_GUARD = 600


def sanitized():
    try:
        with open(os.path.join(T.top_builddir(), "ispmaild"), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


if __name__ == "__main__":
    if os.environ.get("ISPMAILD_WRAPPER"):
        sys.exit(load.run(6, 6, drain_max=HANG_GUARD))
    if sanitized():
        sys.exit(load.run(15, 6, drain_max=HANG_GUARD, max_relay=100))
    sys.exit(load.run(30, 8, drain_max=HANG_GUARD, max_relay=300))
