#!/usr/bin/env python3
"""load_short.py: bench/load.py, short, for make check: 30 concurrent
mixed sessions (POP3 retrievals, local deliveries, relays to a sink) for
8 seconds; zero unexpected replies, every accepted message delivered
exactly once, the master's descriptors and memory flat. Under
$ISPMAILD_WRAPPER (valgrind) 6 clients for 6 seconds: there it looks for
memory errors under concurrency, not for figures."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import load  # noqa: E402

if __name__ == "__main__":
    if os.environ.get("ISPMAILD_WRAPPER"):
        sys.exit(load.run(6, 6, drain_max=90))
    sys.exit(load.run(30, 8, drain_max=90))
