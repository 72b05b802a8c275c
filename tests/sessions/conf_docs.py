#!/usr/bin/env python3
"""conf_docs.py: ispmaild.conf(5) documents every key the daemon knows,
and the daemon knows every key the page documents. The daemon's keys come
from its configuration tables through `ispmaild -d`; the page's from its
`.It Cm key` items, each named by the block it is in: a section
introduced by "The group .Cm relay" holds relay's keys, an item of type
`group` (tls) or `list of groups` (listen) holds the keys of the lists
after it in its section."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import ispmaild_test as T  # noqa: E402


def daemon_keys():
    p = subprocess.run([os.path.join(T.top_builddir(), "ispmaild"), "-d"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise T.HarnessError("ispmaild -d: exit %d: %s" % (p.returncode, p.stderr.decode()))
    keys = []
    for line in p.stdout.decode().splitlines():
        m = re.match(r"(\S+) =( |$)", line)
        if not m:
            raise T.HarnessError("ispmaild -d: not a key line: %r" % line)
        keys.append(m.group(1))
    return keys


def page_keys(text):
    """({key: line number}, {group names}) of the page: "relay.smarthost",
    "listen[].port", "tls.min_version" and the top-level "hostname"."""
    keys, groups = {}, set()
    prefix = ""
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        if line.startswith(".Sh "):
            prefix = ""
            continue
        m = re.match(r"\.Cm ([a-z_][a-z0-9_]*)\b", line)
        if m and n >= 2 and lines[n - 2].strip() == "The group":
            groups.add(m.group(1))
            prefix = m.group(1) + "."
            continue
        if not line.startswith(".It "):
            continue
        names = re.findall(r"\bCm\s+([a-z_][a-z0-9_]*)", line)
        kind = re.search(r"\bPq\s+Em\s+(.*)$", line)
        kind = kind.group(1).strip() if kind else ""
        for name in names:
            if kind == "group":
                groups.add(name)
                prefix = name + "."
            else:
                keys.setdefault(prefix + name, n)
                if kind == "list of groups":
                    prefix = name + "[]."
    return keys, groups


def main():
    t = T.Tap()
    with open(os.path.join(T.top_srcdir(), "docs", "ispmaild.conf.5"), encoding="utf-8") as f:
        text = f.read()
    have = daemon_keys()
    documented, groups = page_keys(text)
    t.ok(len(have) >= 40 and "limits.max_per_ip" in have and "listen[].port" in have,
         "ispmaild -d lists the keys (%d)" % len(have), "\n".join(have))
    t.ok(len(documented) >= 40 and "relay.smarthost" in documented
         and "tls.min_version" in documented and "listen[].service" in documented,
         "ispmaild.conf(5) items read as keys (%d)" % len(documented),
         "\n".join(sorted(documented)))
    for key in have:
        t.ok(key in documented, "ispmaild.conf(5) documents %s" % key)
    for key, line in sorted(documented.items(), key=lambda kv: kv[1]):
        t.ok(key in have, "ispmaild.conf(5):%d documents %s, a key ispmaild knows"
             % (line, key))
    blocks = sorted({k.split(".")[0] for k in have if "." in k and "[]" not in k})
    for block in blocks:
        t.ok(block in groups, "ispmaild.conf(5) names the %s group" % block)
    for group in sorted(groups):
        t.ok(group in blocks, "ispmaild.conf(5)'s group %s is a block ispmaild knows" % group)
    return t.done()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except T.SkipTest as e:
        T.skip_all(str(e))
    except T.HarnessError as e:
        T.bail_out(str(e))
