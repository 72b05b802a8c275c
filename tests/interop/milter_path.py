#!/usr/bin/env python3
"""milter_path.py: run a session test again with a mail filter in the path
(issue 15), for the wrappers relay_audit_milter.py and smtp_data_milter.py.

    milter_path.py TEST

Runs tests/sessions/TEST with ISPMAILD_TEST_MILTER=accept, under which
every server of tests/lib/ispmaild_test.py gets one scripted filter
(tests/interop/milter_filter.py "continue": it continues at every stage
and so sees every message whole) in its milters list. The test's own TAP
lines pass through unchanged; one more test point follows: the filter
logged connections and whole messages (its connect and eom callbacks), so
the test really ran with the filter in the path. Skips when
python3-milter is missing."""

import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM_PYTHON = "/usr/bin/python3"


def milter_available():
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import Milter"],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def filter_counts(log):
    """(connections, messages) the filters logged."""
    stages = []
    with open(log) as f:
        for line in f:
            if line.strip():
                stages.append(json.loads(line).get("stage"))
    return stages.count("connect"), stages.count("eom")


def run(test):
    """Run the test with the switch on; its plan moves past our extra line."""
    fd, log = tempfile.mkstemp(prefix="milter-path-", suffix=".log")
    os.close(fd)
    env = dict(os.environ, ISPMAILD_TEST_MILTER="accept",
               ISPMAILD_TEST_MILTER_LOG=log)
    path = os.path.join(HERE, "..", "sessions", test)
    p = subprocess.run([sys.executable, path], env=env, stdout=subprocess.PIPE)
    out = p.stdout.decode("utf-8", "replace").splitlines()
    plan = [l for l in out if re.match(r"1\.\.\d+", l)]
    if len(plan) == 1 and re.match(r"1\.\.0\b", plan[0]):
        print("\n".join(out))          # skipped as a whole: pass it on
        os.unlink(log)
        return p.returncode
    n = int(re.match(r"1\.\.(\d+)", plan[0]).group(1)) if len(plan) == 1 else \
        len([l for l in out if re.match(r"(not )?ok \d+", l)])
    for line in out:
        if line not in plan:
            print(line)
    connects, messages = filter_counts(log)
    ok = connects > 0 and messages > 0
    print("%s %d - the filter was in the path: %d connections, %d messages"
          % ("ok" if ok else "not ok", n + 1, connects, messages))
    print("1..%d" % (n + 1))
    sys.stdout.flush()
    if os.environ.get("KEEP_TMP"):
        sys.stderr.write("KEEP_TMP: kept %s\n" % log)
    else:
        os.unlink(log)
    return p.returncode or (0 if ok else 1)


def main(test):
    if not milter_available():
        print("1..0 # SKIP python3-milter not installed (apt-get install python3-milter)")
        return 0
    return run(test)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
